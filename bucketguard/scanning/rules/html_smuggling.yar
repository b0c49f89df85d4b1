/*
 * HTML smuggling: a page carries a binary (a zip, an executable) as an encoded string, rebuilds it in the
 * browser as a Blob and makes the browser "download" it, so the payload never crosses a proxy as a file.
 * Ordinary "export as CSV" code builds Blobs too, but from data it computes, not from a long embedded blob.
 */

rule HTML_Smuggling_Embedded_Blob_Download
{
    meta:
        description = "Page rebuilds an embedded binary as a Blob and triggers its download (HTML smuggling)"
        severity = "high"
        reference = "https://attack.mitre.org/techniques/T1027/006/"
        source = "yara"
        author = "bucketguard"

    strings:
        $blob = /new\s+Blob\s*\(/
        $url = "createObjectURL"
        $ms_save = "msSaveOrOpenBlob"
        $download1 = /\.download\s*=/
        $download2 = /setAttribute\s*\(\s*["']download["']/
        $click = /\.click\s*\(\s*\)/
        $decode1 = /\batob\s*\(/
        $decode2 = /charCodeAt\s*\(/
        $decode3 = /Uint8Array/
        // A long string literal that encodes an executable or an archive, by its first bytes:
        // MZ, PK\x03\x04, \x7fELF, OLE, 7z, Rar!, gzip, Mach-O, fat Mach-O (base64, then hex).
        $b64_literal = /["'](TVqQ|TVpQ|TVoA|UEsDB|f0VMR|0M8R4|N3q8ry|UmFyIR|H4sI|z\/rt\/|yv66vg)[A-Za-z0-9+\/]{500}/
        $hex_literal = /["'](4d5a|504b0304|7f454c46|d0cf11e0|377abcaf|52617221|1f8b08|cffaedfe|cafebabe)[0-9a-f]{1000}/ nocase

    condition:
        $blob and ($url or $ms_save) and (any of ($download*) or $ms_save) and ($click or $ms_save)
        and any of ($decode*) and ($b64_literal or $hex_literal)
}
