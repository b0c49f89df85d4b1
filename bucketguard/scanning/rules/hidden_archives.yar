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
