/*
 * ClamAV's harmless test executable (clam.exe in the Debian package clamav-testfiles): the one signature the
 * ClamAV test-file run uses. Every other file of that package carries this PE inside a container, an
 * encoding or a packer, so a scanner that reads them all finds it 44 times.
 */

rule ClamAV_Test_PE
{
    meta:
        description = "ClamAV's harmless test executable (clam.exe from clamav-testfiles)"
        severity = "high"
        reference = "https://packages.debian.org/bookworm/clamav-testfiles"
        source = "yara"
        author = "bucketguard"

    strings:
        $marker = "[CLAMAV]" ascii
        $api = "CLAMessageBoxA" ascii

    condition:
        $marker and $api
}
