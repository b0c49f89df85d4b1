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
        // eval(atob(...)), new Function(unescape(...)), setTimeout(String.fromCharCode(...)), window.eval(...),
        // window["eval"](self.atob(...)), (0, eval)(atob(...)), eval?.(atob(...)), eval(atob`...`)
        // (the decoder's argument starts as a JavaScript expression does: not code quoted in a string,
        // such as a bookmarklet a page builds as 'javascript:void(eval(decodeURIComponent(%22...')
        $exec_decoded = /(\b(eval|Function|setTimeout|setInterval)|\[\s*["'](eval|Function|setTimeout|setInterval)["']\s*\])(\s*\))?\s*(\?\.)?\s*\(\s*((window|self|globalThis|top|this)\.)?(atob|unescape|decodeURIComponent|decodeURI|String\.fromCharCode)\s*(\(\s*[A-Za-z0-9_$'"`(\[]|`)/
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

rule WebInject_Hidden_Code_Name
{
    meta:
        description = "Script calls eval, Function, setTimeout or setInterval by a hidden name: spelled with escapes (\\u0065val, this[\"\\x65val\"]), built from string pieces (window['ev'+'al']) or decoded (self[atob(...)]), or the Function constructor reached through an array ([][\"filter\"][\"constructor\"])"
        severity = "high"
        reference = "https://attack.mitre.org/techniques/T1027/"
        source = "yara"
        author = "bucketguard"

    strings:
        // Each name as written (letters or their \x, \u, \u{} or octal escapes) and as plainly spelt, both
        // then called: more of the first than of the second means an escaped spelling.
        $eval_spelled = /(e|\\x65|\\u0065|\\u\{0*65\}|\\145)(v|\\x76|\\u0076|\\u\{0*76\}|\\166)(a|\\x61|\\u0061|\\u\{0*61\}|\\141)(l|\\x6[cC]|\\u006[cC]|\\u\{0*6[cC]\}|\\154)(["']\s*\])?\s*(\?\.)?\s*\(/
        $eval_plain = /eval(["']\s*\])?\s*(\?\.)?\s*\(/
        $function_spelled = /(F|\\x46|\\u0046|\\u\{0*46\}|\\106)(u|\\x75|\\u0075|\\u\{0*75\}|\\165)(n|\\x6[eE]|\\u006[eE]|\\u\{0*6[eE]\}|\\156)(c|\\x63|\\u0063|\\u\{0*63\}|\\143)(t|\\x74|\\u0074|\\u\{0*74\}|\\164)(i|\\x69|\\u0069|\\u\{0*69\}|\\151)(o|\\x6[fF]|\\u006[fF]|\\u\{0*6[fF]\}|\\157)(n|\\x6[eE]|\\u006[eE]|\\u\{0*6[eE]\}|\\156)(["']\s*\])?\s*(\?\.)?\s*\(/
        $function_plain = /Function(["']\s*\])?\s*(\?\.)?\s*\(/
        $timeout_spelled = /(s|\\x73|\\u0073|\\u\{0*73\}|\\163)(e|\\x65|\\u0065|\\u\{0*65\}|\\145)(t|\\x74|\\u0074|\\u\{0*74\}|\\164)(T|\\x54|\\u0054|\\u\{0*54\}|\\124)(i|\\x69|\\u0069|\\u\{0*69\}|\\151)(m|\\x6[dD]|\\u006[dD]|\\u\{0*6[dD]\}|\\155)(e|\\x65|\\u0065|\\u\{0*65\}|\\145)(o|\\x6[fF]|\\u006[fF]|\\u\{0*6[fF]\}|\\157)(u|\\x75|\\u0075|\\u\{0*75\}|\\165)(t|\\x74|\\u0074|\\u\{0*74\}|\\164)(["']\s*\])?\s*(\?\.)?\s*\(/
        $timeout_plain = /setTimeout(["']\s*\])?\s*(\?\.)?\s*\(/
        $interval_spelled = /(s|\\x73|\\u0073|\\u\{0*73\}|\\163)(e|\\x65|\\u0065|\\u\{0*65\}|\\145)(t|\\x74|\\u0074|\\u\{0*74\}|\\164)(I|\\x49|\\u0049|\\u\{0*49\}|\\111)(n|\\x6[eE]|\\u006[eE]|\\u\{0*6[eE]\}|\\156)(t|\\x74|\\u0074|\\u\{0*74\}|\\164)(e|\\x65|\\u0065|\\u\{0*65\}|\\145)(r|\\x72|\\u0072|\\u\{0*72\}|\\162)(v|\\x76|\\u0076|\\u\{0*76\}|\\166)(a|\\x61|\\u0061|\\u\{0*61\}|\\141)(l|\\x6[cC]|\\u006[cC]|\\u\{0*6[cC]\}|\\154)(["']\s*\])?\s*(\?\.)?\s*\(/
        $interval_plain = /setInterval(["']\s*\])?\s*(\?\.)?\s*\(/
        $exec_script_spelled = /(e|\\x65|\\u0065|\\u\{0*65\}|\\145)(x|\\x78|\\u0078|\\u\{0*78\}|\\170)(e|\\x65|\\u0065|\\u\{0*65\}|\\145)(c|\\x63|\\u0063|\\u\{0*63\}|\\143)(S|\\x53|\\u0053|\\u\{0*53\}|\\123)(c|\\x63|\\u0063|\\u\{0*63\}|\\143)(r|\\x72|\\u0072|\\u\{0*72\}|\\162)(i|\\x69|\\u0069|\\u\{0*69\}|\\151)(p|\\x70|\\u0070|\\u\{0*70\}|\\160)(t|\\x74|\\u0074|\\u\{0*74\}|\\164)(["']\s*\])?\s*(\?\.)?\s*\(/
        $exec_script_plain = /execScript(["']\s*\])?\s*(\?\.)?\s*\(/

        // a global's member named by string pieces joined, or by a decoder, then called
        $joined_name = /\b(window|self|this|top|parent|globalThis|frames)\s*\[\s*(["'][^"'\]\n]{0,30}["']\s*\+\s*)+["'][^"'\]\n]{0,30}["']\s*\]\s*(\?\.)?\s*\(/
        $decoded_name = /\b(window|self|this|top|parent|globalThis|frames)\s*\[\s*(atob|unescape|decodeURIComponent|String\.fromCharCode)\s*[\(`]/
        // the Function constructor through an array's method: [].filter.constructor("...")()
        $array_constructor = /\[\s*\]\s*(\.\s*\w+|\[\s*["']\w+["']\s*\])\s*(\.\s*constructor|\[\s*["']constructor["']\s*\])\s*\(/

    condition:
        not WebInject_Native_Executable and (
            #eval_spelled > #eval_plain or #function_spelled > #function_plain
            or #timeout_spelled > #timeout_plain or #interval_spelled > #interval_plain
            or #exec_script_spelled > #exec_script_plain
            or $joined_name or $decoded_name or $array_constructor
        )
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
