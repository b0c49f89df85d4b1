"""Documents LibreOffice writes: clean ones scan clean in every format (never unscannable), and a macro it
writes into a document that runs it by itself and executes something is flagged. `make test` installs
LibreOffice (Debian's libreoffice-writer, -calc, -impress) when it can."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from bucketguard.scanning.result import Verdict
from tests.scanning.engine_support import engine
from tests.scanning.libreoffice import SOFFICE, basic_macro_fodt, convert, office_documents

pytestmark = pytest.mark.skipif(
    SOFFICE is None,
    reason="LibreOffice missing: apt-get install libreoffice-writer (make test installs it)",
)
OPEN_DOCUMENT_EVENT = (
    '<office:scripts><office:event-listeners><script:event-listener script:language="ooo:script" '
    'script:event-name="dom:load" xlink:href="vnd.sun.star.script:Standard.Module1.OpenCamp?'
    'language=Basic&amp;location=document" xlink:type="simple"/></office:event-listeners></office:scripts>'
)


@pytest.fixture(scope="module")
def documents(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return office_documents(tmp_path_factory.mktemp("libreoffice"))


def test_every_document_libreoffice_writes_is_clean(documents: list[Path]) -> None:
    assert {path.suffix for path in documents} == {
        ".docx", ".odt", ".doc", ".rtf", ".pdf", ".xlsx", ".ods", ".xls", ".pptx", ".odp", ".ppt",
    }  # fmt: skip
    verdicts = {path.name: engine().scan_file(path).verdict for path in documents}
    assert verdicts == dict.fromkeys(verdicts, Verdict.CLEAN)


MACROS = {
    "autorun": ("AutoOpen", 'Shell("cmd.exe /c start camp.exe")'),
    "unbound": ("OpenCamp", 'Shell("cmd.exe /c start camp.exe")'),
    "greeting": ("AutoOpen", 'MsgBox "Welcome to camp"'),
}


@pytest.fixture(scope="module")
def macro_documents(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Each macro saved into an .odt by LibreOffice (one run for all)."""
    folder = tmp_path_factory.mktemp("macros")
    for name, (sub, body) in MACROS.items():
        (folder / f"{name}.fodt").write_text(basic_macro_fodt(sub, body))
    converted = convert([folder / f"{name}.fodt" for name in MACROS], "odt", folder / "out")
    return dict(zip(MACROS, converted, strict=True))


def test_auto_run_macro_that_executes_is_flagged(macro_documents: dict[str, Path]) -> None:
    document = macro_documents["autorun"]
    result = engine().scan_file(document, name="camp.odt")
    assert result.verdict is Verdict.MALICIOUS, result
    assert {(f.rule, f.path) for f in result.findings} == {
        ("office_macro_autoexec_writes_or_executes", "camp.odt!<basic>")
    }


def test_macro_bound_to_the_open_event_is_flagged(macro_documents: dict[str, Path], tmp_path: Path) -> None:
    """LibreOffice binds a macro to "Open Document" with an event listener in content.xml."""
    written = macro_documents["unbound"]
    assert engine().scan_file(written).verdict is Verdict.CLEAN  # not bound to any event: it never runs alone
    bound = tmp_path / "bound.odt"
    with zipfile.ZipFile(written) as source, zipfile.ZipFile(bound, "w") as target:
        for info in source.infolist():
            data = source.read(info)
            if info.filename == "content.xml":
                data = data.replace(b"<office:body>", OPEN_DOCUMENT_EVENT.encode() + b"<office:body>", 1)
                data = data.replace(
                    b"<office:document-content ",
                    b'<office:document-content xmlns:xlink="http://www.w3.org/1999/xlink" ',
                    1,
                )
            target.writestr(info, data)
    result = engine().scan_file(bound)
    assert result.verdict is Verdict.MALICIOUS, result


def test_auto_run_macro_that_only_greets_is_clean(macro_documents: dict[str, Path]) -> None:
    document = macro_documents["greeting"]
    result = engine().scan_file(document)
    assert result.verdict is Verdict.CLEAN, result
