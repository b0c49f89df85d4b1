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
        // (the decoder's argument starts as a JavaScript expression does: not code quoted in a string,
        // such as a bookmarklet a page builds as 'javascript:void(eval(decodeURIComponent(%22...')
        $exec_decoded = /\b(eval|Function|setTimeout|setInterval)\s*\(\s*(window\.)?(atob|unescape|decodeURIComponent|decodeURI|String\.fromCharCode)\s*\(\s*[A-Za-z0-9_$'"`(\[]/
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

// Native executables carry HTML fragments in their data (brotli's dictionary holds "<iframe src=" and
// "display:none"): the web rules judge web assets, not the bytes of a compiled library.
private rule WebInject_Native_Executable
{
    condition:
        uint32(0) == 0x464C457F or uint16(0) == 0x5A4D or uint32(0) == 0xFEEDFACF or uint32(0) == 0xFEEDFACE
        or uint32(0) == 0xBEBAFECA
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
        #hidden_iframe > #gtm_iframe and not WebInject_Native_Executable
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
        description = "Card skimmer: script reads payment form fields and sends them to a remote host (fetch, XHR, jQuery.ajax, sendBeacon, image or script src, WebSocket)"
        severity = "critical"
        reference = "https://attack.mitre.org/techniques/T1056/003/"
        source = "yara"
        author = "bucketguard"

    strings:
        // what it wants: payment fields by name, id, class or autocomplete token, as a selector or a field
        // reference (after a quote, '#', '.', '[' or '='), or every input of a page whose address says checkout
        $card_number = /["'\[#.=]\s*(cc[_-]?num(ber)?|card[_-]?num(ber)?|cardnumber|credit[_-]?card(number)?|payment\[cc_number\])/ nocase
        $card_code = /["'\[#.=]\s*(cvv2?|cvc|csc|cc[_-]?csc|cc[_-]?cid|card[_-]?code|card[_-]?cvc|security[_-]?code)\b/ nocase
        $card_expiry = /["'\[#.=]\s*(exp(iry|iration)?[_-]?(date|month|year|mm|yy)|cc[_-]?exp)/ nocase
        $checkout_page1 = /(location|document\.URL)[^;\n]{0,60}(checkout|onepage|onestep|payment|billing)/
        $checkout_page2 = /(checkout|onepage|onestep)[^;\n]{0,60}(location|document\.URL)/
        // how it reads them
        $read_value = /\.value\b/
        $read_val = /\.val\s*\(\s*\)/
        $read_form = /new\s+FormData\s*\(/
        $read_inputs = /(querySelectorAll|getElementsByTagName)\s*\(\s*["'`](input|select|form|textarea)/
        $read_elements = /\.elements\b/
        // where it sends them: a literal remote URL handed straight to a channel ...
        $send_fetch = /fetch\s*\(\s*["'`](https?:)?\/\/[a-z0-9\-]+\./
        $send_xhr = /\.open\s*\(\s*["'](POST|GET|PUT)["']\s*,\s*["'`](https?:)?\/\/[a-z0-9\-]+\./
        $send_ajax = /(\$|jQuery)\.(ajax|post|get|getJSON)\s*\(\s*(\{\s*(url|type)\s*:\s*)?["'`](https?:)?\/\/[a-z0-9\-]+\./
        $send_beacon = /sendBeacon\s*\(\s*["'`](https?:)?\/\/[a-z0-9\-]+\./
        $send_src = /\.src\s*=\s*["'`](https?:)?\/\/[a-z0-9\-]+\.[^"'`]{0,200}["'`]?\s*\+/
        $send_socket = /new\s+WebSocket\s*\(\s*["'`]wss?:\/\//
        // ... or a remote URL kept in a variable or hidden (base64 or char codes of "http") next to a channel
        $remote_var = /=\s*["'`](https?|wss?):\/\/[a-z0-9\-]+\.[a-z0-9.\-]+\/[^"'`\s]{0,200}["'`]/
        $hidden_url = /(atob\s*\(\s*["'](aHR0c|d3Nz)|fromCharCode\s*\(\s*104\s*,\s*116\s*,\s*116\s*,\s*112|\\x68\\x74\\x74\\x70)/
        $channel = /(\bfetch\s*\(|\bXMLHttpRequest|\bsendBeacon\s*\(|\bnew\s+Image\s*\(|\bnew\s+WebSocket\s*\(|\.src\s*=\s*[\w$]+\s*\+|\.ajax\s*\(|\$\.post\s*\()/

    condition:
        (2 of ($card_*) or (any of ($checkout_page*) and $read_inputs))
        and any of ($read_*)
        and (any of ($send_*) or (($remote_var or $hidden_url) and $channel))
}
