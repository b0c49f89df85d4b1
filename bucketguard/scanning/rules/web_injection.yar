/*
 * Scripts injected into web assets. The seed incident: a bucket anyone could write to, whose .js files
 * (jquery, overlayBanner.js, ...) got code appended by strangers. Each rule needs the injected construct
 * itself (code executed from an encoded string, a hidden frame, a script pulled from a literal remote URL,
 * card fields sent away), not merely an API that ordinary libraries also call.
 */

rule WebInject_Obfuscated_Eval_Loader
{
    meta:
        description = "Script runs code decoded at run time: eval/Function/setTimeout over atob, unescape or String.fromCharCode"
        severity = "high"
        reference = "https://owasp.org/www-community/attacks/xss/"
        source = "yara"
        author = "bucketguard"

    strings:
        // eval(atob(...)), new Function(unescape(...)), setTimeout(String.fromCharCode(...)), window.eval(...)
        $exec_decoded = /\b(eval|Function|setTimeout|setInterval)\s*\(\s*(window\.)?(atob|unescape|decodeURIComponent|decodeURI|String\.fromCharCode)\s*\(/
        // A long run of character codes: how loaders hide "<script src=..." from text search.
        $charcode_chain = /String\.fromCharCode\s*\(\s*\d{1,3}\s*(,\s*\d{1,3}\s*){24}/
        $eval = /\beval\s*\(/
        $function = /\bnew\s+Function\s*\(/

    condition:
        $exec_decoded or ($charcode_chain and ($eval or $function))
}

rule WebInject_Executed_Encoded_Blob
{
    meta:
        description = "Script executes a long hex-escaped or base64 string"
        severity = "high"
        reference = "https://owasp.org/www-community/attacks/xss/"
        source = "yara"
        author = "bucketguard"

    strings:
        // eval("\x76\x61\x72...") or a long \x run anywhere in a file that also evaluates strings
        $hex_run = /(\\x[0-9a-fA-F]{2}){64}/
        $exec_literal = /\b(eval|Function|setTimeout|setInterval)\s*\(\s*["']/
        $exec_atob_literal = /\b(eval|Function)\s*\(\s*(window\.)?atob\s*\(\s*["'][A-Za-z0-9+\/]{160}/

    condition:
        $exec_atob_literal or ($hex_run and $exec_literal)
}

rule WebInject_Hidden_Iframe
{
    meta:
        description = "Hidden or zero-size iframe, the classic drive-by redirect planted in pages and scripts"
        severity = "high"
        reference = "https://owasp.org/www-community/attacks/Clickjacking"
        source = "yara"
        author = "bucketguard"

    strings:
        $hidden_iframe = /<iframe[^>]{0,300}(width\s*=\s*["']?[01]["'\s\/>]|height\s*=\s*["']?[01]["'\s\/>]|display\s*:\s*none|visibility\s*:\s*hidden)/ nocase
        // Google Tag Manager's <noscript> iframe is hidden on purpose on millions of legitimate pages.
        $gtm_iframe = /<iframe[^>]{0,40}googletagmanager\.com\/ns\.html[^>]{0,300}(width\s*=\s*["']?[01]["'\s\/>]|height\s*=\s*["']?[01]["'\s\/>]|display\s*:\s*none|visibility\s*:\s*hidden)/ nocase

    condition:
        #hidden_iframe > #gtm_iframe
}

rule WebInject_Remote_Script_Writer
{
    meta:
        description = "Script writes a <script> tag for a literal remote URL (document.write or createElement('script'))"
        severity = "medium"
        reference = "https://developer.mozilla.org/en-US/docs/Web/API/Document/write"
        source = "yara"
        author = "bucketguard"

    strings:
        $write_script = /document\.(write|writeln)\s*\(\s*["'][^"']{0,40}<script[^>]{0,80}src\s*=\s*\\?["']?(https?:)?\/\// nocase
        $create_script = /createElement\s*\(\s*["']script["']\s*\)[^\n]{0,200}\.src\s*=\s*["'](https?:)?\/\/[a-z0-9.\-]{3,}/ nocase
        $script_element = /createElement\s*\(\s*["']script["']\s*\)/ nocase
        $set_remote_src = /setAttribute\s*\(\s*["']src["']\s*,\s*["'](https?:)?\/\// nocase

    condition:
        $write_script or $create_script
        // setAttribute("src", "https://...") within 300 bytes after createElement("script")
        or for any i in (1..#set_remote_src): ($script_element in (@set_remote_src[i] - 300..@set_remote_src[i]))
}

rule WebInject_Card_Skimmer
{
    meta:
        description = "Card skimmer: reads payment form fields and sends them to a remote host"
        severity = "critical"
        reference = "https://en.wikipedia.org/wiki/Magecart"
        source = "yara"
        author = "bucketguard"

    strings:
        $card1 = /["'\[#.]\s*(cc[_-]?num(ber)?|card[_-]?num(ber)?|cardnumber|credit[_-]?card)/ nocase
        $card2 = /["'\[#.]\s*(cvv2?|cvc|card[_-]?code|security[_-]?code)\b/ nocase
        $card3 = /["'\[#.]\s*(exp(iry|iration)?[_-]?(date|month|year)|cc[_-]?exp)/ nocase
        $fields1 = /querySelectorAll\s*\(\s*["'](input|select|form)/
        $fields2 = /getElementsByTagName\s*\(\s*["'](input|select|form)["']/
        $fields3 = /\.value\b/
        $send1 = /navigator\.sendBeacon\s*\(\s*["']https?:\/\//
        $send2 = /new\s+Image\s*\(\s*\)[^;]{0,40};?[^;]{0,80}\.src\s*=\s*["']https?:\/\//
        $send3 = /\.open\s*\(\s*["']POST["']\s*,\s*["']https?:\/\//
        $send4 = /fetch\s*\(\s*["']https?:\/\/[^"']{1,200}["']\s*,\s*\{[^}]{0,80}method\s*:\s*["']POST["']/
        $send5 = /\.src\s*=\s*["']https?:\/\/[^"']{1,200}\?[^"']{0,40}["']\s*\+\s*(btoa|encodeURIComponent|escape|JSON\.stringify)\s*\(/
        $encode = /\b(btoa|JSON\.stringify|encodeURIComponent)\s*\(/

    condition:
        2 of ($card*) and any of ($fields*) and any of ($send*) and $encode
}
