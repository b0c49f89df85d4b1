/*
 * The EICAR anti-malware test file: 68 harmless ASCII bytes every scanner must flag, so anyone can
 * check that scanning, tagging and quarantine work end to end without handling real malware.
 * The string is written here with its backslash escaped, so this file is not itself an EICAR file.
 */

rule EICAR_Test_File
{
    meta:
        description = "EICAR anti-malware test file"
        severity = "high"
        reference = "https://www.eicar.org/download-anti-malware-testfile/"
        source = "yara"
        author = "bucketguard"

    strings:
        $eicar = "X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"

    condition:
        // The standard: the file starts with the string and may be followed by whitespace, 128 bytes at most.
        $eicar at 0 and filesize <= 128
}
