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

/*
 * The second line behind the engine's Office parsers: the source of a VBA module (as oletools extracts and
 * decompresses it), an Excel 4.0 macro sheet set to run on opening, and DDE fields. The mraptor logic: a
 * macro that runs by itself AND writes, downloads or executes something.
 */

rule Office_VBA_AutoExec_Source
{
    meta:
        description = "VBA source with a macro that runs by itself (AutoOpen, Document_Open, Workbook_Open...) and writes, downloads or executes (Shell, WScript.Shell, URLDownloadToFile, XMLHTTP, ADODB.Stream, WMI, PowerShell)"
        severity = "high"
        reference = "https://github.com/decalage2/oletools/wiki/mraptor"
        source = "yara"
        author = "bucketguard"

    strings:
        // a module's source starts with its attributes (MS-OVBA); documentation quoting macros does not.
        // Procedure names as the VBA editor writes them (case-insensitive matching costs 5x on scripts).
        $module = "Attribute VB_Name" ascii nocase
        $auto = /(AutoOpen|Auto_Open|AutoExec|AutoClose|Auto_Close|AutoNew|AutoExit|Document_Open|DocumentOpen|Document_Close|DocumentBeforeClose|Document_New|Workbook_Open|Workbook_Activate|Workbook_BeforeClose|Auto_Activate|App_DocumentOpen|InkPicture1_Painted|Frame1_Layout|MultiPage1_Layout)\s*\(\s*\)/
        $action1 = /\bShell\s*(\(|\s+["'\w])/ nocase
        $action2 = /CreateObject\s*\(\s*["'](WScript\.Shell|Shell\.Application|MSXML2\.(Server)?XMLHTTP|Microsoft\.XMLHTTP|WinHttp\.WinHttpRequest|ADODB\.Stream|Scripting\.FileSystemObject)/ nocase
        $action3 = /(URLDownloadToFile|ShellExecute|CreateProcess|WinExec)/
        $action4 = /GetObject\s*\(\s*["']winmgmts/ nocase
        $action5 = /\b(SaveToFile|\.Run\s|\.Exec\s*\(|Kill\s|Open\s+[^\n]{1,120}\s+For\s+(Output|Binary|Append))/ nocase
        $action_tool0 = "powershell" nocase
        $action_tool1 = "cmd.exe" nocase
        $action_tool2 = "cmd /c" nocase
        $action_tool3 = "mshta" nocase
        $action_tool4 = "certutil" nocase
        $action_tool5 = "bitsadmin" nocase
        $action_tool6 = "regsvr32" nocase
        $action_tool7 = "rundll32" nocase
        $action7 = /\bCallByName\s*\(/ nocase

    condition:
        // extracted source: inside a compound file or a zip the engine opens the container first
        $module in (0..64) and $auto and any of ($action*) and not OLE_Compound_File and uint32(0) != 0x04034B50
}

rule Office_XLM_Auto_Open
{
    meta:
        description = "Excel workbook whose Excel 4.0 macro sheet runs on opening (_xlnm.Auto_Open defined name) or an XLM sheet calling EXEC/CALL/REGISTER"
        severity = "high"
        reference = "https://attack.mitre.org/techniques/T1137/"
        source = "yara"
        author = "bucketguard"

    strings:
        $auto_open = /<definedName\s[^>]{0,200}name\s*=\s*"_xlnm\.Auto_(Open|Activate|Close)/ nocase
        $macrosheet = "<xm:macrosheet" ascii
        $macrosheet2 = "<macrosheet" ascii
        $xlm_call = /<f>[^<]{0,200}(EXEC|CALL|REGISTER|URLDownloadToFileA|SHELL)\(/

    condition:
        $auto_open or (any of ($macrosheet*) and $xlm_call)
}

rule Office_DDE_Field
{
    meta:
        description = "Word or RTF field that runs a program through DDE or DDEAUTO"
        severity = "high"
        reference = "https://attack.mitre.org/techniques/T1559/002/"
        source = "yara"
        author = "bucketguard"

    strings:
        $ooxml = /(<w:instrText[^>]{0,80}>|w:instr\s*=\s*")\s*"?\s*DDE(AUTO)?\s/ nocase
        $rtf = /\\fldinst[^A-Za-z]{0,20}(\\[a-z]+\d*\s?){0,6}\s*"?\s*DDE(AUTO)?\s/ nocase

    condition:
        $ooxml or $rtf
}
