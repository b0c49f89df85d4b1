/*
 * HTML smuggling: a page carries a binary (an executable, an archive, a disk image, a script) as an encoded
 * string, rebuilds it in the browser and makes the browser save or open it, so the payload never crosses a
 * proxy as a file. Ordinary pages build Blobs too ("export as CSV", a zip made with JSZip, a PDF fetched
 * from the server) and inline images as data: URIs, but not from a long embedded literal that encodes an
 * executable or archive, nor as a download of an executable, archive or disk image from a data: URI.
 */

rule HTML_Smuggling_Embedded_Blob_Download
{
    meta:
        description = "Page decodes an embedded executable, archive, disk image or script (base64, hex, reversed, chunked or XOR), wraps it in a Blob or File and saves or opens it (download link, msSaveOrOpenBlob, window.open, location)"
        severity = "high"
        reference = "https://attack.mitre.org/techniques/T1027/006/"
        source = "yara"
        author = "bucketguard"

    strings:
        $build1 = /new\s+(Blob|File)\s*\(/
        $build2 = "msSaveOrOpenBlob"
        $build3 = "msSaveBlob"
        $save1 = "createObjectURL"
        $save2 = "msSaveOrOpenBlob"
        $save3 = "msSaveBlob"
        $open1 = /\.click\s*\(\s*\)/
        $open2 = /dispatchEvent\s*\(\s*new\s+MouseEvent/
        $open3 = /window\.open\s*\(/
        $open4 = /(window\.|document\.)?location(\.href)?\s*=|location\.(assign|replace)\s*\(/
        $open5 = "msSaveOrOpenBlob"
        $open6 = "msSaveBlob"
        $decode1 = /\batob\s*\(/
        $decode2 = /charCodeAt\s*\(/
        $decode3 = /Uint8Array/
        $decode4 = /parseInt\s*\([^,)]{1,60},\s*16\s*\)/
        // An encoded executable or archive, by its first bytes: MZ, PK\x03\x04, \x7fELF, OLE, 7z, Rar!, gzip,
        // Mach-O, fat Mach-O, a Windows shortcut, an HTA or script page; as base64, hex, or reversed base64.
        $b64_literal = /["'`](TVqQ|TVpQ|TVoA|TVro|UEsDB|f0VMR|0M8R4|N3q8ry|UmFyIR|H4sI|z\/rt\/|yv66vg|TAAAAAEUAg|PGh0YTph|PEhUQTpB|PHNjcmlwd)[A-Za-z0-9+\/]{400}/
        $b64_chunked = /["'`](TVqQ|TVpQ|TVoA|TVro|UEsDB|f0VMR|0M8R4|N3q8ry|UmFyIR|H4sI|z\/rt\/|yv66vg|TAAAAAEUAg)[A-Za-z0-9+\/]{20,}["'`]\s*[,+]\s*["'`][A-Za-z0-9+\/=]{20,}["'`]\s*[,+]\s*["'`][A-Za-z0-9+\/=]{20,}["'`]/
        // reversed (then put right with split('').reverse()): the first bytes' base64 ends the literal
        $b64_reversed = /(QqVT|QpVT|AoVT|BDsEU|RMV0f|IyRmFU)["'`]/
        $reverse = /\.reverse\s*\(\s*\)/
        $hex_literal = /["'`](4d5a|504b0304|7f454c46|d0cf11e0|377abcaf|52617221|1f8b08|cffaedfe|cafebabe|4c0000000114)[0-9a-f]{800}/ nocase
        // A payload without a telling start, saved under an executable, archive, disk-image or script name or
        // type: XOR-decoded, or a disk image (its 32 KiB of leading zeros are a long run of "A" in base64).
        $xor_decode = /charCodeAt\s*\([^)]{0,20}\)\s*\^/
        $zeros_b64 = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
        $risky_name = /download["']?\s*[=,]\s*["'`][^"'`\s]{1,80}\.(exe|dll|scr|com|pif|cpl|msi|msix|appx|iso|img|vhd|vhdx|zip|rar|7z|cab|jar|js|jse|vbs|vbe|wsf|hta|lnk|bat|cmd|ps1|one|xll|docm|xlsm)["'`]/ nocase
        $risky_save = /(msSave(OrOpen)?Blob\s*\([^,()]{1,40},|File\s*\(\s*\[[^\]]{1,40}\]\s*,)\s*["'`][^"'`\s]{1,80}\.(exe|dll|scr|com|pif|cpl|msi|msix|appx|iso|img|vhd|vhdx|zip|rar|7z|cab|jar|js|jse|vbs|vbe|wsf|hta|lnk|bat|cmd|ps1|one|xll|docm|xlsm)["'`]/
        $risky_type = /application\/(x-msdownload|x-msdos-program|vnd\.microsoft\.portable-executable|x-iso9660-image|x-cd-image|x-raw-disk-image|zip|x-zip-compressed|x-rar-compressed|x-7z-compressed|hta|x-ms-shortcut)/ nocase

    condition:
        any of ($build*) and any of ($save*) and any of ($open*) and any of ($decode*)
        and (
            $b64_literal or $b64_chunked or ($b64_reversed and $reverse) or $hex_literal
            or (($xor_decode or $zeros_b64) and ($risky_name or $risky_save or $risky_type))
        )
}

rule HTML_Smuggling_Data_URI_Download
{
    meta:
        description = "Page saves an executable, archive, disk image or script from a data: URI (download attribute, a script setting href or location)"
        severity = "high"
        reference = "https://attack.mitre.org/techniques/T1027/006/"
        source = "yara"
        author = "bucketguard"

    strings:
        // a data: URI whose type (as browsers and tools write it: lower case) or first bytes (whatever the
        // type) say executable, archive, disk image, shortcut or script
        $risky_uri = /data:application\/(x-msdownload|x-msdos-program|vnd\.microsoft\.portable-executable|x-iso9660-image|x-cd-image|x-raw-disk-image|zip|x-zip-compressed|x-rar-compressed|x-7z-compressed|hta|x-ms-shortcut|javascript|x-javascript)[;,]/
        $magic_uri = /data:[a-zA-Z\-]{1,30}\/[a-zA-Z0-9.+\-]{1,60}(;[a-zA-Z0-9=\-]{1,40})?;base64,(TVqQ|TVpQ|TVoA|TVro|UEsDB|f0VMR|0M8R4|N3q8ry|UmFyIR|H4sI|TAAAAAEUAg)/
        $octet_uri = /data:application\/octet-stream[;,]/
        // how it is saved or opened
        $download_attribute = /\sdownload(\s*=\s*["'][^"'<>]{0,100}["'])?\s*\/?>/ nocase
        $download_named = /\sdownload\s*=\s*["'][^"'<>]{1,100}["']/ nocase
        $download_property = /\.download\s*=/
        $download_set = /setAttribute\s*\(\s*["']download["']/
        $navigate = /(window\.open\s*\(|location(\.href)?\s*=|location\.(assign|replace)\s*\()\s*["'`]?data:/
        $risky_name = /(download\s*=\s*|["']download["']\s*,\s*)["'`]?[^"'`\s>]{1,80}\.(exe|dll|scr|com|pif|cpl|msi|msix|appx|iso|img|vhd|vhdx|zip|rar|7z|cab|jar|js|jse|vbs|vbe|wsf|hta|lnk|bat|cmd|ps1|one|xll)["'`\s>]/ nocase

    condition:
        ($risky_uri or $magic_uri or ($octet_uri and $risky_name))
        and ($download_attribute or $download_named or $download_property or $download_set or $navigate)
}
