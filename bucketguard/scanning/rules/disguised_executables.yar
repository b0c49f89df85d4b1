/*
 * Executables dressed as something harmless: PE, ELF or Mach-O content under a name whose extension says
 * image, document, text, media or web asset. The logical name (S3 key, or the path inside an archive)
 * reaches the rules as the external variable `extension` (lowercase, with its dot).
 * These rules are about type, not content: meta source = "type".
 */

private rule Harmless_Looking_Extension
{
    condition:
        extension matches /^\.(jpe?g|png|gif|bmp|webp|svg|ico|tiff?|heic|pdf|docx?|xlsx?|pptx?|odt|ods|odp|rtf|csv|txt|md|json|xml|ya?ml|log|js|mjs|css|html?|mp3|mp4|wav|avi|mov|mkv)$/
        // Windows drops a name's trailing dots and spaces: `badge.jpg.` is saved and shown as badge.jpg
        or filename matches /\.(jpe?g|png|gif|bmp|webp|svg|ico|tiff?|heic|pdf|docx?|xlsx?|pptx?|odt|ods|odp|rtf|csv|txt|md|json|xml|ya?ml|log|js|mjs|css|html?|mp3|mp4|wav|avi|mov|mkv)[. ]+$/i
        // a bidirectional override (U+202A-202E, U+2066-2069, in UTF-8) shows a name's end reversed:
        // "photo<U+202E>gpj.exe" is shown as photoexe.jpg
        or filename matches /\xe2\x80[\xaa-\xae]|\xe2\x81[\xa6-\xa9]/
}

rule Disguised_Executable_PE
{
    meta:
        description = "Windows executable (PE) under an image, document, text, media or web-asset name"
        severity = "high"
        reference = "https://attack.mitre.org/techniques/T1036/008/"
        source = "type"
        author = "bucketguard"

    condition:
        uint16(0) == 0x5A4D and filesize > 64 and uint32(0x3C) < filesize - 4
        and uint32(uint32(0x3C)) == 0x00004550 and Harmless_Looking_Extension
}

rule Disguised_Executable_ELF
{
    meta:
        description = "Linux/Unix executable (ELF) under an image, document, text, media or web-asset name"
        severity = "high"
        reference = "https://attack.mitre.org/techniques/T1036/008/"
        source = "type"
        author = "bucketguard"

    condition:
        uint32(0) == 0x464C457F and filesize > 52 and Harmless_Looking_Extension
}

rule Disguised_Executable_MachO
{
    meta:
        description = "macOS executable (Mach-O) under an image, document, text, media or web-asset name"
        severity = "high"
        reference = "https://attack.mitre.org/techniques/T1036/008/"
        source = "type"
        author = "bucketguard"

    condition:
        (
            uint32(0) == 0xFEEDFACE or uint32(0) == 0xFEEDFACF
            or uint32(0) == 0xCEFAEDFE or uint32(0) == 0xCFFAEDFE
            // A universal (fat) binary; Java class files share the magic but have a version >= 45 there.
            or (uint32be(0) == 0xCAFEBABE and uint32be(4) > 0 and uint32be(4) < 20)
        )
        and filesize > 28 and Harmless_Looking_Extension
}
