/*
 * Web shells: server-side pages that run whatever a request tells them to. A page that merely handles
 * request parameters is not a shell: each rule needs request input flowing into code or command execution,
 * or code rebuilt at run time from an encoded or scattered form (the obfuscations shells hide behind:
 * concatenated or char-coded function names called through a variable, assert, preg_replace /e,
 * create_function, callbacks, backticks, str_rot13/gzinflate/base64 chains, reflection, class loading).
 */

rule Webshell_PHP_Request_Exec
{
    meta:
        description = "PHP web shell: request input run as code or a command (eval/assert/system..., a variable or callback function, backticks, preg_replace /e, create_function, include)"
        severity = "critical"
        reference = "https://attack.mitre.org/techniques/T1505/003/"
        source = "yara"
        author = "bucketguard"

    strings:
        $php = "<?" ascii
        // request input: the superglobals, and the same through ${"_GET"}, $GLOBALS['_GET'], headers, php://input
        // system($_GET['c']), eval(base64_decode($_POST['x'])), @assert(stripslashes($_REQUEST[..]))
        $exec_input = /\b(eval|assert|system|passthru|shell_exec|exec|popen|proc_open|pcntl_exec|create_function)\s*\(\s*@?\s*((base64_decode|gzinflate|gzuncompress|gzdecode|str_rot13|strrev|stripslashes|urldecode|rawurldecode|hex2bin|trim)\s*\(\s*)*(\$_(GET|POST|REQUEST|COOKIE|SERVER|FILES)\b|\$\{\s*["']_(GET|POST|REQUEST|COOKIE)["']\s*\}|\$GLOBALS\s*\[\s*["']_(GET|POST|REQUEST|COOKIE)|getallheaders\s*\(|file_get_contents\s*\(\s*["']php:\/\/input)/ nocase
        // include $_GET['p'] runs a remote or uploaded file ($_SERVER paths are how pages include their own files)
        $include_input = /\b(include|include_once|require|require_once)\s*\(?\s*@?\s*(\$_(GET|POST|REQUEST|COOKIE)\b|\$\{\s*["']_(GET|POST|REQUEST|COOKIE))/
        $create_function_input = /create_function\s*\(\s*["'][^"']{0,40}["']\s*,\s*@?\s*((base64_decode|gzinflate|str_rot13|stripslashes|urldecode|hex2bin)\s*\(\s*)*\$_(GET|POST|REQUEST|COOKIE)/
        // a function named by a variable, called with request input: $f = "sys"."tem"; $f($_GET['c'])
        $variable_call = /\$[\w\x7f-\xff]+(\s*\[[^\]]{1,40}\])?\s*\(\s*@?\s*(\$_(GET|POST|REQUEST|COOKIE)\b|\$\{\s*["']_(GET|POST|REQUEST|COOKIE)|\$GLOBALS\s*\[\s*["']_(GET|POST|REQUEST|COOKIE))/
        // the function name itself from the request: $_GET['f']($_GET['a']), ${"_POST"}["f"](...)
        $request_call = /(\$_(GET|POST|REQUEST|COOKIE)|\$\{\s*["']_(GET|POST|REQUEST|COOKIE)["']\s*\})\s*\[[^\]]{1,40}\]\s*\(/
        // callbacks: array_map("assert", $_POST), call_user_func($_GET['f'], ...), usort($a, $_POST['f'])
        $callback_sink = /\b(call_user_func(_array)?|array_map|array_filter|array_walk|usort|uasort|uksort|register_shutdown_function|register_tick_function|forward_static_call|iterator_apply)\s*\(\s*["'](assert|system|passthru|shell_exec|exec|popen|create_function)["']/
        $callback_input = /\b(call_user_func(_array)?|array_map|register_shutdown_function|forward_static_call)\s*\(\s*@?\s*\$_(GET|POST|REQUEST|COOKIE)/
        // backticks run a shell command: `$_GET['c']` or `$cmd` in a page that reads the request
        $backtick_input = /`[^`\n]{0,80}\$_(GET|POST|REQUEST|COOKIE|SERVER)/
        $backtick_var = /=\s*`\s*\$[\w]+\s*`/
        // preg_replace with the /e modifier evaluates its replacement
        $preg_e = /preg_replace\s*\(\s*["'][^"'\n]{1,120}[\/#|~!%@}][imsxuADSUXJ]{0,6}e[imsxuADSUXJ]{0,6}["']\s*,/
        $request = /(\$_(GET|POST|REQUEST|COOKIE)\b|\$\{\s*["']_(GET|POST|REQUEST|COOKIE)|\$GLOBALS\s*\[\s*["']_(GET|POST|REQUEST|COOKIE)|php:\/\/input)/

    condition:
        $php and (
            any of ($exec_input, $include_input, $create_function_input, $variable_call, $request_call)
            or $callback_sink or $callback_input
            or $backtick_input
            or (($backtick_var or $preg_e) and $request)
        )
}

rule Webshell_PHP_Encoded_Payload
{
    meta:
        description = "PHP page running code rebuilt at run time: eval of a str_rot13/gzinflate/base64 chain, a function name built from chr() codes or reversed strings, preg_replace /e; well-known shell names"
        severity = "high"
        reference = "https://attack.mitre.org/techniques/T1027/"
        source = "yara"
        author = "bucketguard"

    strings:
        $php = "<?" ascii
        $eval_decode = /\b(eval|assert|create_function)\s*\(\s*@?\s*(["'][^"']{0,20}["']\s*,\s*)?(\$\w+\s*\(\s*)?(gzinflate|gzuncompress|gzdecode|str_rot13|base64_decode|strrev|hex2bin|convert_uudecode)\s*\(/ nocase
        // $x = gzinflate(base64_decode("...")) or a decoder over a long literal, then eval($x)
        $decoded_var = /=\s*@?(gzinflate|gzuncompress|gzdecode|str_rot13|base64_decode|strrev|hex2bin|convert_uudecode)\s*\(\s*@?((gzinflate|gzuncompress|gzdecode|str_rot13|base64_decode|strrev|hex2bin)\s*\(|["'][A-Za-z0-9+\/=]{100})/
        $eval_var = /\b(eval|assert)\s*\(\s*@?\s*\$\w+\s*\)/ nocase
        // a function name spelled in char codes of letters (packing binary data uses other codes), or
        // written backwards
        $chr_word = /(chr\s*\(\s*(9[7-9]|1[01][0-9]|12[0-2])\s*\)\s*\.\s*){4}/ nocase
        $reversed_name = /strrev\s*\(\s*["'](tressa|metsys|lave|cexe_llehs|urhtssap|noitcnuf_etaerc)["']/
        $preg_e_decode = /preg_replace\s*\(\s*["'][^"'\n]{1,120}[\/#|~!%@}][imsxuADSUXJ]{0,6}e[imsxuADSUXJ]{0,6}["']\s*,\s*["']?[^,]{0,40}(base64_decode|gzinflate|str_rot13|eval)/
        $shell_name1 = "FilesMan" ascii
        $shell_name2 = "c99shell" nocase
        $shell_name3 = "r57shell" nocase
        $shell_name4 = "b374k" nocase
        $shell_name5 = "WSO " ascii fullword

    condition:
        $php and (
            $eval_decode or ($decoded_var and $eval_var) or $chr_word or $reversed_name
            or $preg_e_decode or 2 of ($shell_name*)
        )
}

rule Webshell_JSP_Command_Exec
{
    meta:
        description = "JSP web shell: request input run as a command or script (Runtime.exec, ProcessBuilder, reflection, ScriptEngine), or class bytes loaded from a request"
        severity = "critical"
        reference = "https://attack.mitre.org/techniques/T1505/003/"
        source = "yara"
        author = "bucketguard"

    strings:
        $jsp1 = "<%" ascii
        $jsp2 = "<jsp:" ascii
        $exec_param = /Runtime\.getRuntime\s*\(\s*\)\s*\.exec\s*\(\s*request\.getParameter\s*\(/
        $exec = /Runtime\.getRuntime\s*\(\s*\)\s*\.exec\s*\(/
        $builder = /new\s+ProcessBuilder\s*\(/
        // reflection hides the class and method names: forName("java.lang.Run"+"time"), getMethod("exec")
        $reflect_class = /forName\s*\(\s*"java\.lang\.(Runtime|ProcessBuilder|ProcessImpl)"/
        $reflect_method = /\.get(Declared)?Method\s*\(\s*"(exec|start|getRuntime)"/
        $invoke = /\.invoke\s*\(/
        // a script engine evaluating request input
        $script_engine = /getEngineByName\s*\(/
        $engine_eval = /\.eval\s*\(\s*request\.get(Parameter|Header|Reader)\s*\(/
        $param = /request\.get(Parameter|Header|ParameterValues)\s*\(/
        $define_class = "defineClass" ascii
        $reader = /request\.get(Reader|InputStream|Parameter)\s*\(/
        $decode = /(Base64|BASE64Decoder|decodeBuffer|Cipher\.getInstance)/

    condition:
        any of ($jsp*) and (
            $exec_param or (($exec or $builder) and $param)
            or (($reflect_class or $reflect_method) and $invoke and $param)
            or ($script_engine and $engine_eval)
            or ($define_class and $reader and $decode)
        )
}

rule Webshell_ASPX_Command_Exec
{
    meta:
        description = "ASP/ASPX web shell: request input run as a process, evaluated (China Chopper style), run by WScript.Shell, or loaded as an assembly"
        severity = "critical"
        reference = "https://attack.mitre.org/techniques/T1505/003/"
        source = "yara"
        author = "bucketguard"

    strings:
        $asp = "<%" ascii
        // China Chopper: <%@ Page Language="Jscript"%><%eval(Request.Item["x"],"unsafe");%>
        $eval_request = /\beval\s*\(\s*Request(\.Item|\.Form|\.QueryString)?\s*[\[(]/ nocase
        $eval_unsafe = /\beval\s*\([^;]{1,200},\s*["']unsafe["']\s*\)/ nocase
        // Classic ASP: execute request("x") / eval request("x") (not JavaScript's executeRequest(...))
        $execute_request = /\b(execute|executeglobal|eval)(\s+|\s*\(\s*)request(\.form|\.querystring)?\s*\(/ nocase
        $process = /(Process\.Start\s*\(|new\s+ProcessStartInfo\s*\(|\.StartInfo\.FileName)/
        $wscript = /CreateObject\s*\(\s*["']WScript\.Shell["']\s*\)/ nocase
        // .NET memory shells: Assembly.Load of bytes from the request (often base64 or AES wrapped)
        $assembly_load = /Assembly\.Load\s*\(/
        $request_bytes = /(Request\.BinaryRead|Request\.InputStream|Convert\.FromBase64String\s*\(\s*Request)/
        $request = /Request(\.Form|\.QueryString|\.Params|\.Item|\.Headers)?\s*[\[(]/ nocase

    condition:
        $asp and (
            $eval_request or $eval_unsafe or $execute_request
            or (($process or $wscript) and $request)
            or ($assembly_load and $request_bytes)
        )
}
