/*
 * Archives hidden in images: a 7z or RAR archive behind (or inside) a JPEG, PNG, GIF or WebP, which
 * 7-Zip and WinRAR find and open from the image itself (the "Rarjpeg"). The engine opens a zip glued to
 * the end of any file; these it does not, so their members are never scanned: the image is what it hides.
 * Images are recognised by their first bytes; within a file scanned in windows (past 31 MiB) only the first
 * window's archive is seen. A rule about type, not content: meta source = "type".
 */

rule Archive_Hidden_In_Image
{
    meta:
        description = "Image (JPEG, PNG, GIF, WebP) carrying a 7z or RAR archive that 7-Zip and WinRAR open from it; its members are not scanned"
        severity = "high"
        reference = "https://attack.mitre.org/techniques/T1027/003/"
        source = "type"
        author = "bucketguard"

    strings:
        $seven_zip = { 37 7A BC AF 27 1C 00 0? }  // signature, then major version 0
        $rar4 = { 52 61 72 21 1A 07 00 }
        $rar5 = { 52 61 72 21 1A 07 01 00 }

    condition:
        (
            uint16be(0) == 0xFFD8 or uint32be(0) == 0x89504E47 or uint32be(0) == 0x47494638
            or (uint32be(0) == 0x52494646 and uint32be(8) == 0x57454250)
        )
        and for any of them: (@ > 0)
}

rule Archive_Appended_To_PDF
{
    meta:
        description = "PDF followed by a 7z or RAR archive after its last %%EOF, which 7-Zip and WinRAR open from the PDF; its members are not scanned"
        severity = "high"
        reference = "https://attack.mitre.org/techniques/T1027/009/"
        source = "type"
        author = "bucketguard"

    strings:
        $eof = "%%EOF"
        $seven_zip = { 37 7A BC AF 27 1C 00 0? }
        $rar4 = { 52 61 72 21 1A 07 00 }
        $rar5 = { 52 61 72 21 1A 07 01 00 }

    condition:
        // a file attached inside the PDF lies before its last %%EOF (incremental updates add more of them)
        uint32be(0) == 0x25504446 and #eof > 0
        and for any of ($seven_zip, $rar4, $rar5): (@ > @eof[#eof])
}
