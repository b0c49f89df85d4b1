/*
 * PDFs that run something: embedded JavaScript, an open action that runs a script, or a /Launch action
 * (start a program). PDF names may hide letters as #xx escapes (/J#61vaScript), so names are matched with
 * both spellings, and only where PDF syntax puts them (an action's /S, a name-tree key), not inside a link.
 * An ordinary /OpenAction to a page destination ([3 0 R /Fit]) is not a finding.
 */

private rule PDF_Document
{
    strings:
        $header = "%PDF-"

    condition:
        $header in (0..1024)
}

rule PDF_JavaScript
{
    meta:
        description = "PDF with embedded JavaScript (/JavaScript or /JS)"
        severity = "medium"
        reference = "https://www.adobe.com/devnet-docs/acrobatetk/tools/AppSec/javascript.html"
        source = "yara"
        author = "bucketguard"

    strings:
        // the name as PDF uses it: an action type (/S /JavaScript) or a name-tree key (/JavaScript 5 0 R),
        // not the same letters in a string (a link to ".../Web/JavaScript/Reference")
        $javascript = /\/(S|#53)\s*\/J(#61|a)(#76|v)(#61|a)(#53|S)(#63|c)(#72|r)(#69|i)(#70|p)(#74|t)|\/J(#61|a)(#76|v)(#61|a)(#53|S)(#63|c)(#72|r)(#69|i)(#70|p)(#74|t)\s*(<<|\d+\s+\d+\s+R)/
        $javascript_escaped = /\/(S|#53)\s*\/#4[aA](#61|a)(#76|v)(#61|a)(#53|S)(#63|c)(#72|r)(#69|i)(#70|p)(#74|t)|\/#4[aA](#61|a)(#76|v)(#61|a)(#53|S)(#63|c)(#72|r)(#69|i)(#70|p)(#74|t)\s*(<<|\d+\s+\d+\s+R)/
        $js = /\/J(#53|S)\s*(\(|<|\d+\s+\d+\s+R)/
        $js_escaped = /\/#4[aA](#53|S)\s*(\(|<|\d+\s+\d+\s+R)/

    condition:
        PDF_Document and any of ($javascript*, $js*)
}

rule PDF_OpenAction_Script
{
    meta:
        description = "PDF that runs JavaScript as soon as it is opened (/OpenAction or /AA with a script)"
        severity = "high"
        reference = "https://attack.mitre.org/techniques/T1204/002/"
        source = "yara"
        author = "bucketguard"

    strings:
        $open_action = /\/O(#70|p)(#65|e)(#6[eE]|n)(#41|A)(#63|c)(#74|t)(#69|i)(#6[fF]|o)(#6[eE]|n)/
        $open_action_escaped = /\/#4[fF](#70|p)(#65|e)(#6[eE]|n)(#41|A)(#63|c)(#74|t)(#69|i)(#6[fF]|o)(#6[eE]|n)/
        $additional_actions = /\/AA\s*<</
        // the name as PDF uses it: an action type (/S /JavaScript) or a name-tree key (/JavaScript 5 0 R),
        // not the same letters in a string (a link to ".../Web/JavaScript/Reference")
        $javascript = /\/(S|#53)\s*\/J(#61|a)(#76|v)(#61|a)(#53|S)(#63|c)(#72|r)(#69|i)(#70|p)(#74|t)|\/J(#61|a)(#76|v)(#61|a)(#53|S)(#63|c)(#72|r)(#69|i)(#70|p)(#74|t)\s*(<<|\d+\s+\d+\s+R)/
        $javascript_escaped = /\/(S|#53)\s*\/#4[aA](#61|a)(#76|v)(#61|a)(#53|S)(#63|c)(#72|r)(#69|i)(#70|p)(#74|t)|\/#4[aA](#61|a)(#76|v)(#61|a)(#53|S)(#63|c)(#72|r)(#69|i)(#70|p)(#74|t)\s*(<<|\d+\s+\d+\s+R)/
        $js = /\/J(#53|S)\s*(\(|<|\d+\s+\d+\s+R)/
        $js_escaped = /\/#4[aA](#53|S)\s*(\(|<|\d+\s+\d+\s+R)/

    condition:
        PDF_Document and any of ($open_action*, $additional_actions) and any of ($javascript*, $js*)
}

rule PDF_Launch_Action
{
    meta:
        description = "PDF with a /Launch action (asks the reader to start a program or open a file)"
        severity = "high"
        reference = "https://attack.mitre.org/techniques/T1204/002/"
        source = "yara"
        author = "bucketguard"

    strings:
        // an action's type (/S /Launch), not the same letters in a link (".../Launch/notes")
        $launch = /\/(S|#53)\s*\/L(#61|a)(#75|u)(#6[eE]|n)(#63|c)(#68|h)[\s\/<\[(>]/
        $launch_escaped = /\/(S|#53)\s*\/#4[cC](#61|a)(#75|u)(#6[eE]|n)(#63|c)(#68|h)[\s\/<\[(>]/

    condition:
        PDF_Document and any of ($launch*)
}
