"""Documents written by LibreOffice headless (Debian's libreoffice-writer, -calc, -impress), from small
sources kept here: what real office files look like, for the tests and the false-positive corpus."""

from __future__ import annotations

import atexit
import functools
import shutil
import subprocess
import tempfile
from pathlib import Path

SOFFICE = shutil.which("soffice")
TIMEOUT_SECONDS = 300

TIMETABLE_HTML = (
    "<html><body><h1>Camp timetable</h1><p>Cabin 4 meets at the lake at nine.</p>"
    "<table><tr><th>Day</th><th>Activity</th></tr><tr><td>Mon</td><td>Canoe</td></tr></table></body></html>"
)
ROSTER_CSV = "cabin,camper,activity\n4,Ana,canoe\n4,Ben,archery\n5,Chloe,climbing\n"
_NAMESPACES = (
    'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
    'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" '
    'xmlns:draw="urn:oasis:names:tc:opendocument:xmlns:drawing:1.0" '
    'xmlns:svg="urn:oasis:names:tc:opendocument:xmlns:svg-compatible:1.0" '
    'xmlns:script="urn:oasis:names:tc:opendocument:xmlns:script:1.0" '
    'xmlns:ooo="http://openoffice.org/2004/office" office:version="1.3"'
)
SLIDES_FODP = (
    f'<?xml version="1.0" encoding="UTF-8"?><office:document {_NAMESPACES} '
    'office:mimetype="application/vnd.oasis.opendocument.presentation"><office:body><office:presentation>'
    '<draw:page draw:name="Welcome"><draw:frame svg:x="2cm" svg:y="2cm" svg:width="20cm" svg:height="3cm">'
    "<draw:text-box><text:p>Welcome to camp</text:p></draw:text-box></draw:frame></draw:page>"
    "</office:presentation></office:body></office:document>"
)


def basic_macro_fodt(sub: str, body: str) -> str:
    """A flat text document carrying one StarBasic module (LibreOffice keeps it when saving as .odt)."""
    source = (
        f"Sub {sub}\n  {body}\nEnd Sub\n".replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")
    )
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><office:document {_NAMESPACES} '
        'office:mimetype="application/vnd.oasis.opendocument.text"><office:scripts>'
        '<office:script script:language="ooo:Basic"><ooo:libraries>'
        '<ooo:library-embedded ooo:name="Standard"><ooo:module ooo:name="Module1">'
        f"<ooo:source-code>{source}</ooo:source-code></ooo:module></ooo:library-embedded></ooo:libraries>"
        "</office:script></office:scripts><office:body><office:text><text:p>Camp timetable</text:p>"
        "</office:text></office:body></office:document>"
    )


@functools.cache
def _profile() -> Path:
    """A LibreOffice profile of this process's own (never the user's; one per process, as LibreOffice
    locks it), created on first use and kept for the next conversions: creating one costs seconds."""
    profile = Path(tempfile.mkdtemp(prefix="bucketguard-lo-profile-"))
    atexit.register(shutil.rmtree, profile, True)
    return profile


def convert(sources: list[Path], target: str, out: Path, *, infilter: str | None = None) -> list[Path]:
    """Each source converted to `target` (an extension: docx, pdf, ...) by LibreOffice, in one run."""
    if SOFFICE is None:
        raise RuntimeError("LibreOffice (soffice) is not installed")
    out.mkdir(parents=True, exist_ok=True)
    command = [SOFFICE, f"-env:UserInstallation=file://{_profile()}", "--headless", "--norestore"]
    command += [f"--infilter={infilter}"] if infilter else []
    command += ["--convert-to", target, "--outdir", str(out), *map(str, sources)]
    subprocess.run(command, check=True, capture_output=True, timeout=TIMEOUT_SECONDS)
    converted = [out / f"{source.stem}.{target}" for source in sources]
    missing = [path.name for path in converted if not path.is_file()]
    if missing:
        raise RuntimeError(f"LibreOffice wrote no {', '.join(missing)}")
    return converted


def office_documents(out: Path) -> list[Path]:
    """A text document, a spreadsheet and a presentation in every format LibreOffice writes for them."""
    sources = out / "sources"
    sources.mkdir(parents=True, exist_ok=True)
    (sources / "timetable.html").write_text(TIMETABLE_HTML)
    (sources / "roster.csv").write_text(ROSTER_CSV)
    (sources / "slides.fodp").write_text(SLIDES_FODP)
    documents = []
    for target in ("docx", "odt", "doc", "rtf", "pdf"):
        documents += convert([sources / "timetable.html"], target, out, infilter="HTML (StarWriter)")
    for target in ("xlsx", "ods", "xls"):
        documents += convert([sources / "roster.csv"], target, out)
    for target in ("pptx", "odp", "ppt"):
        documents += convert([sources / "slides.fodp"], target, out)
    return documents


# Debian's python3-uno serves the system interpreter: the script runs there, LibreOffice listening on a pipe.
UNO_PYTHON = "/usr/bin/python3"
_SAVE_WITH_PASSWORD = """
import subprocess, sys, time, uno
from com.sun.star.beans import PropertyValue
source, target, filter_name, password, profile, pipe = sys.argv[1:7]
office = subprocess.Popen(["soffice", "-env:UserInstallation=file://" + profile, "--headless", "--norestore",
                           "--accept=pipe,name=" + pipe + ";urp;"])
def prop(name, value):
    value_holder = PropertyValue()
    value_holder.Name, value_holder.Value = name, value
    return value_holder
try:
    local = uno.getComponentContext()
    resolver = local.ServiceManager.createInstanceWithContext("com.sun.star.bridge.UnoUrlResolver", local)
    for _ in range(600):
        try:
            context = resolver.resolve("uno:pipe,name=" + pipe + ";urp;StarOffice.ComponentContext")
            break
        except Exception:
            time.sleep(0.2)
    desktop = context.ServiceManager.createInstanceWithContext("com.sun.star.frame.Desktop", context)
    hidden = (prop("Hidden", True),)
    document = desktop.loadComponentFromURL(uno.systemPathToFileUrl(source), "_blank", 0, hidden)
    saving = (prop("FilterName", filter_name), prop("Password", password))
    document.storeToURL(uno.systemPathToFileUrl(target), saving)
    document.close(True)
    try:
        desktop.terminate()
    except Exception:
        pass
finally:
    try:
        office.wait(60)
    except subprocess.TimeoutExpired:
        office.kill()
"""


def uno_available() -> bool:
    return (
        SOFFICE is not None
        and subprocess.run([UNO_PYTHON, "-c", "import uno"], capture_output=True).returncode == 0
    )


def saved_with_password(source: Path, filter_name: str, target: Path, password: str) -> Path:
    """`source` saved by LibreOffice as `target` through `filter_name` (writer8: .odt), with a password."""
    pipe = f"bucketguard-{target.stem}-{id(target)}"
    arguments = [str(source), str(target), filter_name, password, str(_profile()), pipe]
    subprocess.run([UNO_PYTHON, "-c", _SAVE_WITH_PASSWORD, *arguments], check=True, capture_output=True,
                   timeout=TIMEOUT_SECONDS)  # fmt: skip
    if not target.is_file():
        raise RuntimeError(f"LibreOffice wrote no {target.name}")
    return target
