/*
 * Office documents with macros that run by themselves when the document is opened or closed.
 * OOXML files (.docm, .xlsm, .pptm) are zips: the engine opens them and scans the member
 * word/vbaProject.bin (an OLE compound file), which is what the first rule looks at. Legacy .doc/.xls
 * files are OLE files themselves, with the VBA project under a "Macros" or "_VBA_PROJECT_CUR" storage.
 * Directory names in OLE files are UTF-16; the procedure names also appear as ASCII in the p-code cache.
 */

private rule OLE_Compound_File
{
    condition:
        uint32(0) == 0xE011CFD0 and uint32(4) == 0xE11AB1A1
}

rule Office_OOXML_VBA_AutoExec
{
    meta:
        description = "OOXML VBA project (vbaProject.bin) with a macro that runs on open/close (AutoOpen, Document_Open, Workbook_Open...)"
        severity = "high"
        reference = "https://attack.mitre.org/techniques/T1137/"
        source = "yara"
        author = "bucketguard"

    strings:
        $vba_project = "_VBA_PROJECT" ascii wide
        $legacy_word = "Macros" wide
        $legacy_excel = "_VBA_PROJECT_CUR" ascii wide
        $auto1 = "AutoOpen" ascii wide nocase
        $auto2 = "Auto_Open" ascii wide nocase
        $auto3 = "AutoExec" ascii wide nocase
        $auto4 = "AutoClose" ascii wide nocase
        $auto5 = "Auto_Close" ascii wide nocase
        $auto6 = "Document_Open" ascii wide nocase
        $auto7 = "DocumentOpen" ascii wide nocase
        $auto8 = "Document_Close" ascii wide nocase
        $auto9 = "Document_New" ascii wide nocase
        $auto10 = "Workbook_Open" ascii wide nocase
        $auto11 = "Workbook_Activate" ascii wide nocase
        $auto12 = "Workbook_BeforeClose" ascii wide nocase

    condition:
        OLE_Compound_File and $vba_project and any of ($auto*) and not ($legacy_word or $legacy_excel)
}

rule Office_OLE_VBA_AutoExec
{
    meta:
        description = "Legacy Office document (.doc/.xls) with a VBA macro that runs on open/close"
        severity = "high"
        reference = "https://attack.mitre.org/techniques/T1137/"
        source = "yara"
        author = "bucketguard"

    strings:
        $vba_project = "_VBA_PROJECT" ascii wide
        $legacy_word = "Macros" wide
        $legacy_excel = "_VBA_PROJECT_CUR" ascii wide
        $vba_storage = "VBA" wide
        $auto1 = "AutoOpen" ascii wide nocase
        $auto2 = "Auto_Open" ascii wide nocase
        $auto3 = "AutoExec" ascii wide nocase
        $auto4 = "AutoClose" ascii wide nocase
        $auto5 = "Auto_Close" ascii wide nocase
        $auto6 = "Document_Open" ascii wide nocase
        $auto7 = "DocumentOpen" ascii wide nocase
        $auto8 = "Document_Close" ascii wide nocase
        $auto9 = "Document_New" ascii wide nocase
        $auto10 = "Workbook_Open" ascii wide nocase
        $auto11 = "Workbook_Activate" ascii wide nocase
        $auto12 = "Workbook_BeforeClose" ascii wide nocase

    condition:
        OLE_Compound_File and $vba_project and $vba_storage and ($legacy_word or $legacy_excel)
        and any of ($auto*)
}
