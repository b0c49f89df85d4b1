/*
 * Web shells: server-side pages that run whatever a request tells them to. A page that merely handles
 * request parameters is not a shell: each rule needs request input flowing into code or command execution
 * (or the well-known encoded-payload wrappers shells hide behind).
 */

rule Webshell_PHP_Request_Exec
{
    meta:
        description = "PHP web shell: request input passed to eval/assert/system/exec or similar"
        severity = "critical"
        reference = "https://attack.mitre.org/techniques/T1505/003/"
        source = "yara"
        author = "bucketguard"

    strings:
        $php = "<?" ascii
        // system($_GET['c']), eval(base64_decode($_POST['x'])), @assert(stripslashes($_REQUEST[..]))
        $exec_input = /\b(eval|assert|system|passthru|shell_exec|exec|popen|proc_open|pcntl_exec|create_function)\s*\(\s*@?\s*((base64_decode|gzinflate|gzuncompress|gzdecode|str_rot13|stripslashes|urldecode|rawurldecode|hex2bin)\s*\(\s*)*\$_(GET|POST|REQUEST|COOKIE|SERVER|FILES)\b/ nocase
        // `$_GET[...]` in backticks runs a shell command
        $backtick = /`\s*\$_(GET|POST|REQUEST|COOKIE)\s*\[/
        // preg_replace with the /e modifier evaluates its replacement
        $preg_e = /preg_replace\s*\(\s*["'][^"']{1,80}\/e[a-z]{0,4}["']\s*,\s*\$_(GET|POST|REQUEST|COOKIE)/ nocase
        // request input called as a function: $_GET['f']($_GET['a'])
        $dynamic_call = /\$_(GET|POST|REQUEST|COOKIE)\s*\[[^\]]{1,40}\]\s*\(\s*\$_(GET|POST|REQUEST|COOKIE)/

    condition:
        $php and any of ($exec_input, $backtick, $preg_e, $dynamic_call)
}

rule Webshell_PHP_Encoded_Payload
{
    meta:
        description = "PHP page evaluating an encoded payload: eval(gzinflate(base64_decode(...))) and kin"
        severity = "high"
        reference = "https://attack.mitre.org/techniques/T1505/003/"
        source = "yara"
        author = "bucketguard"

    strings:
        $php = "<?" ascii
        $eval_decode = /\b(eval|assert)\s*\(\s*@?\s*(gzinflate|gzuncompress|gzdecode|str_rot13|base64_decode|strrev|hex2bin)\s*\(/ nocase
        $shell_name1 = "FilesMan" ascii
        $shell_name2 = "c99shell" nocase
        $shell_name3 = "r57shell" nocase
        $shell_name4 = "b374k" nocase
        $shell_name5 = "WSO " ascii fullword

    condition:
        $php and ($eval_decode or 2 of ($shell_name*))
}

rule Webshell_JSP_Command_Exec
{
    meta:
        description = "JSP web shell: request parameter run as a command, or class bytes loaded from a request"
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
        $param = /request\.getParameter\s*\(/
        $define_class = "defineClass" ascii
        $reader = /request\.get(Reader|InputStream|Parameter)\s*\(/
        $decode = /(Base64|BASE64Decoder|decodeBuffer|Cipher\.getInstance)/

    condition:
        any of ($jsp*) and ($exec_param or (($exec or $builder) and $param) or ($define_class and $reader and $decode))
}

rule Webshell_ASPX_Command_Exec
{
    meta:
        description = "ASP/ASPX web shell: request input run as a process or evaluated (China Chopper style)"
        severity = "critical"
        reference = "https://attack.mitre.org/techniques/T1505/003/"
        source = "yara"
        author = "bucketguard"

    strings:
        $asp = "<%" ascii
        // China Chopper: <%@ Page Language="Jscript"%><%eval(Request.Item["x"],"unsafe");%>
        $eval_request = /\beval\s*\(\s*Request(\.Item|\.Form|\.QueryString)?\s*[\[(]/ nocase
        // Classic ASP: execute request("x") / eval request("x")
        $execute_request = /\b(execute|executeglobal|eval)\s*\(?\s*request\s*\(/ nocase
        $process = /(Process\.Start\s*\(|new\s+ProcessStartInfo\s*\(|\.StartInfo\.FileName)/
        $request = /Request(\.Form|\.QueryString|\.Params|\.Item)?\s*\[/
        $shell = /["'](cmd(\.exe)?|powershell(\.exe)?|\/bin\/sh)["']/ nocase

    condition:
        $asp and ($eval_request or $execute_request or ($process and $request and $shell))
}
