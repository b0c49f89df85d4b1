"""Content an attacker hides from the rules in a format the engine claims to read: once decoded, the same
rules find it (or the file is unscannable), never a silent `clean`."""

from __future__ import annotations

import base64
import codecs
import io
import shutil
import struct
import subprocess
from collections.abc import Callable
from pathlib import Path

import lz4.frame
import pypdf
import pytest

from bucketguard.demo import pranks
from bucketguard.scanning.result import Reason, ScanResult, Verdict
from tests.scanning.engine_support import EICAR, engine, jpeg, tar_of, zip_of
from tests.scanning.format_samples import pdf_with_object_stream

_PAGES = {
    2: b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
    3: b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >>",
}
_SCRIPT = b"<< /Type /Action /S /JavaScript /JS (app.alert\\('Pranked!'\\);) >>"


def _scan(tmp_path: Path, name: str, data: bytes) -> ScanResult:
    (tmp_path / name).write_bytes(data)
    return engine().scan_file(tmp_path / name, name=name)


def _rules(result: ScanResult) -> set[str]:
    return {finding.rule for finding in result.findings}


def test_a_pdf_script_run_on_opening_from_an_object_stream_is_found(tmp_path: Path) -> None:
    catalog = b"<< /Type /Catalog /Pages 2 0 R /OpenAction 4 0 R >>"
    pdf = pdf_with_object_stream({1: catalog, **_PAGES, 4: _SCRIPT})
    action = pypdf.PdfReader(io.BytesIO(pdf)).trailer["/Root"]["/OpenAction"].get_object()
    assert action["/S"] == "/JavaScript"  # a real reader runs it on opening

    result = _scan(tmp_path, "timetable.pdf", pdf)

    assert result.verdict is Verdict.MALICIOUS
    assert {"PDF_OpenAction_Script", "PDF_JavaScript"} <= _rules(result)


def test_an_open_action_in_the_plain_catalog_and_its_script_in_an_object_stream_are_judged_together(
    tmp_path: Path,
) -> None:
    catalog = b"<< /Type /Catalog /Pages 2 0 R /OpenAction 4 0 R >>"
    pdf = pdf_with_object_stream({**_PAGES, 4: _SCRIPT}, {1: catalog})
    assert pypdf.PdfReader(io.BytesIO(pdf)).trailer["/Root"]["/OpenAction"]["/S"] == "/JavaScript"

    result = _scan(tmp_path, "timetable.pdf", pdf)

    assert "PDF_OpenAction_Script" in _rules(result)
    assert any(finding.path == "timetable.pdf!<objects>" for finding in result.findings)


def test_a_pdf_with_object_streams_and_no_script_stays_clean(tmp_path: Path) -> None:
    catalog = b"<< /Type /Catalog /Pages 2 0 R /OpenAction [3 0 R /Fit] >>"
    result = _scan(tmp_path, "timetable.pdf", pdf_with_object_stream({1: catalog, **_PAGES}))
    assert result.verdict is Verdict.CLEAN, result


@pytest.mark.parametrize(
    "encoded",
    [
        lambda text: codecs.BOM_UTF16_LE + text.encode("utf-16-le"),
        lambda text: codecs.BOM_UTF16_BE + text.encode("utf-16-be"),
        lambda text: codecs.BOM_UTF32_LE + text.encode("utf-32-le"),
        lambda text: text.encode("utf-16-le"),  # a browser honours `Content-Type: ...; charset=utf-16le`
    ],
    ids=["utf-16le", "utf-16be", "utf-32le", "utf-16le-unmarked"],
)
def test_an_injected_script_in_utf_16_or_utf_32_is_found(
    tmp_path: Path, encoded: Callable[[str], bytes]
) -> None:
    result = _scan(tmp_path, "overlayBanner.js", encoded(pranks.injected_js().decode()))

    assert result.verdict is Verdict.MALICIOUS
    assert {finding.path for finding in result.findings} == {"overlayBanner.js!<utf-8>"}


def test_wide_text_without_a_script_and_binaries_with_zero_bytes_stay_clean(tmp_path: Path) -> None:
    letter = codecs.BOM_UTF16_LE + "Dear parents,\r\nthe camp starts on Monday. \u00e9t\u00e9\r\n".encode(
        "utf-16-le"
    )
    assert _scan(tmp_path, "letter.txt", letter).verdict is Verdict.CLEAN
    assert (
        _scan(tmp_path, "icon.ico", pranks.clean_png()[:8] + bytes(range(256)) * 4).verdict is Verdict.CLEAN
    )
    assert _scan(tmp_path, "table.bin", b"\x01\x00" * 400).verdict is Verdict.CLEAN


needs_dpkg_deb = pytest.mark.skipif(
    shutil.which("dpkg-deb") is None, reason="dpkg-deb missing (Debian's dpkg)"
)
needs_xz = pytest.mark.skipif(
    shutil.which("xz") is None, reason="xz-utils not installed (make test installs it)"
)


def _deb(tmp_path: Path, files: dict[str, bytes]) -> bytes:
    """A Debian package built by dpkg-deb: an ar archive holding control.tar.* and data.tar.* (compressed)."""
    root = tmp_path / "package"
    (root / "DEBIAN").mkdir(parents=True)
    (root / "DEBIAN" / "control").write_text(
        "Package: camp-timetable\nVersion: 1.0\nArchitecture: all\nMaintainer: Camp <camp@example.org>\n"
        "Description: the camp's timetable\n"
    )
    for path, data in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(data)
    subprocess.run(["dpkg-deb", "--root-owner-group", "--build", str(root), str(tmp_path / "camp.deb")],
                   check=True, capture_output=True)  # fmt: skip
    return (tmp_path / "camp.deb").read_bytes()


@needs_dpkg_deb
def test_a_debian_package_is_opened_to_its_files(tmp_path: Path) -> None:
    package = _deb(tmp_path, {"usr/share/camp/eicar.com": EICAR})
    assert package.startswith(b"!<arch>\n") and EICAR not in package  # its data.tar is compressed

    result = _scan(tmp_path, "timetable.deb", package)

    assert result.verdict is Verdict.MALICIOUS
    (finding,) = result.findings
    assert finding.path.startswith("timetable.deb!data.tar.")
    assert finding.path.endswith("!./usr/share/camp/eicar.com")
    clean = _deb(tmp_path / "clean", {"usr/share/camp/timetable.txt": b"Monday: canoeing\n"})
    assert _scan(tmp_path, "clean.deb", clean).verdict is Verdict.CLEAN
    assert _scan(tmp_path, "cut.deb", package[:-100]).verdict is Verdict.UNSCANNABLE


@needs_xz
def test_an_lzma_file_is_decoded(tmp_path: Path) -> None:
    def lzma_file(data: bytes) -> bytes:
        return subprocess.run(
            ["xz", "--format=lzma", "-c"], input=data, check=True, capture_output=True
        ).stdout

    packed = lzma_file(tar_of({"eicar.com": EICAR}))

    result = _scan(tmp_path, "camp.tar.lzma", packed)

    assert result.verdict is Verdict.MALICIOUS
    assert [finding.path for finding in result.findings] == ["camp.tar.lzma!camp.tar!eicar.com"]
    assert _scan(tmp_path, "notes.lzma", lzma_file(b"camp notes\n" * 100)).verdict is Verdict.CLEAN
    assert _scan(tmp_path, "cut.lzma", packed[: len(packed) // 2]).verdict is Verdict.UNSCANNABLE


@pytest.mark.parametrize(
    "attribute",
    [
        b"<img src=x onerror=\"&#101;&#118;&#97;&#108;(atob('YWxlcnQoMSk='))\">",
        b"<img src=x onerror='&#x65;val(atob(&#x27;YWxlcnQoMSk=&#x27;))'>",
        b'<a href="jav&#x09;ascript&colon;eval(atob(&apos;YWxlcnQoMSk=&apos;))">timetable</a>',
    ],
    ids=["decimal", "hex", "javascript-url"],
)
def test_a_script_attribute_written_with_character_references_is_found(
    tmp_path: Path, attribute: bytes
) -> None:
    page = b"<!doctype html><html><body><h1>Camp</h1>" + attribute + b"</body></html>"

    result = _scan(tmp_path, "index.html", page)

    assert result.verdict is Verdict.MALICIOUS
    assert {finding.path for finding in result.findings} == {"index.html!<scripts>"}


def test_a_page_whose_attributes_use_character_references_harmlessly_stays_clean(tmp_path: Path) -> None:
    page = (
        b'<!doctype html><html><body><a href="/t?day=1&amp;cabin=4">Monday</a>'
        b'<button onclick="show(&quot;menu&quot;)">Menu</button></body></html>'
    )
    assert _scan(tmp_path, "index.html", page).verdict is Verdict.CLEAN


def test_a_pdf_whose_names_hide_behind_escapes_is_read_as_its_reader_reads_it(tmp_path: Path) -> None:
    # PDF names may spell any character as #xx: `/Encr#79pt` is /Encrypt and `/Obj#53tm` is /ObjStm.
    writer = pypdf.PdfWriter()
    writer.add_blank_page(width=200, height=200)
    writer.add_attachment("eicar.com", EICAR)
    writer.encrypt(user_password="", owner_password="camp", algorithm="RC4-128")  # opens without asking
    out = io.BytesIO()
    writer.write(out)
    encrypted = out.getvalue().replace(b"/Encrypt", b"/Encr#79pt")
    reader = pypdf.PdfReader(io.BytesIO(encrypted))
    assert reader.is_encrypted and reader.attachments == {"eicar.com": [EICAR]}
    assert (_scan(tmp_path, "a.pdf", encrypted).reason, EICAR not in encrypted) == (Reason.ENCRYPTED, True)

    catalog = b"<< /Type /Catalog /Pages 2 0 R /OpenAction 4 0 R >>"
    objects = pdf_with_object_stream({1: catalog, **_PAGES, 4: _SCRIPT}).replace(b"/ObjStm", b"/Obj#53tm")
    assert pypdf.PdfReader(io.BytesIO(objects)).trailer["/Root"]["/OpenAction"]["/S"] == "/JavaScript"
    assert "PDF_OpenAction_Script" in _rules(_scan(tmp_path, "b.pdf", objects))


def _skippable_frame(data: bytes) -> bytes:
    """A zstd/lz4 skippable frame (user data the tools pass over) holding `data`."""
    return b"\x5a\x2a\x4d\x18" + struct.pack("<I", len(data)) + data


def test_zstd_and_lz4_files_starting_with_a_skippable_frame_are_decoded(tmp_path: Path) -> None:
    from backports import zstd

    archive = tar_of({"eicar.com": EICAR})
    padding = _skippable_frame(bytes(range(256)) * 4096)  # 1 MiB: far past the bytes a format is known by
    packed = padding + zstd.compress(archive)
    assert zstd.decompress(packed) == archive  # the library skips it too

    result = _scan(tmp_path, "site.tar.zst", packed)

    assert result.verdict is Verdict.MALICIOUS
    assert [finding.path for finding in result.findings] == ["site.tar.zst!site.tar!eicar.com"]
    framed = _scan(tmp_path, "site.tar.lz4", padding + lz4.frame.compress(archive))
    assert framed.verdict is Verdict.MALICIOUS, framed
    assert _scan(tmp_path, "cut.zst", padding[: len(padding) // 2]).verdict is Verdict.UNSCANNABLE


@pytest.mark.skipif(shutil.which("lz4") is None, reason="lz4 not installed (make test installs it)")
def test_the_lz4_program_reads_past_a_skippable_frame_as_the_scan_does(tmp_path: Path) -> None:
    archive = tar_of({"eicar.com": EICAR})
    framed = _skippable_frame(b"camp") + lz4.frame.compress(archive)
    assert (
        subprocess.run(["lz4", "-d", "-c"], input=framed, capture_output=True, check=True).stdout == archive
    )


def _mail(part_headers: bytes, body: bytes) -> bytes:
    return (
        b"From: camp@example.org\r\nTo: parents@example.org\r\nSubject: photos\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="XX"\r\n\r\n'
        b"--XX\r\nContent-Type: text/plain\r\n\r\nhello\r\n"
        b"--XX\r\nContent-Type: application/zip\r\n" + part_headers + b"\r\n\r\n" + body + b"\r\n--XX--\r\n"
    )


@pytest.mark.parametrize(
    "headers",
    [
        b"Content-Transfer-Encoding: 7bit\r\nContent-Transfer-Encoding: base64",  # readers that take the last
        b"Content-Transfer-Encoding: base64; camp=1",  # readers that take the token
    ],
    ids=["repeated", "decorated"],
)
def test_an_attachment_whose_transfer_encoding_readers_may_read_otherwise_is_decoded(
    tmp_path: Path, headers: bytes
) -> None:
    attachment = base64.encodebytes(zip_of({"eicar.com": EICAR}))
    result = _scan(tmp_path, "photos.eml", _mail(headers, attachment))
    assert result.verdict is Verdict.MALICIOUS

    photos = base64.encodebytes(zip_of({"photo.txt": b"camp photos\n"}))
    assert _scan(tmp_path, "clean.eml", _mail(headers, photos)).verdict is Verdict.CLEAN


def test_an_attached_message_in_base64_is_decoded_as_readers_decode_it(tmp_path: Path) -> None:
    attachment = base64.encodebytes(zip_of({"eicar.com": EICAR}))
    inner = _mail(b"Content-Transfer-Encoding: base64", attachment)
    outer = _mail(b"Content-Transfer-Encoding: base64", base64.encodebytes(inner)).replace(
        b"Content-Type: application/zip", b"Content-Type: message/rfc822"
    )
    assert _scan(tmp_path, "forwarded.eml", outer).verdict is Verdict.MALICIOUS


@pytest.mark.parametrize("offset", [600, 1_000])
def test_a_pdf_behind_other_bytes_in_its_first_kilobyte_is_read_as_a_pdf(tmp_path: Path, offset: int) -> None:
    """Readers take a PDF whose header is anywhere in its first 1,024 bytes; the engine looked at 512, so a
    PDF behind 600 bytes of a JPEG ran its script from an object stream and was clean."""
    catalog = b"<< /Type /Catalog /Pages 2 0 R /OpenAction 4 0 R >>"
    pdf = jpeg()[:offset].ljust(offset, b"\0") + pdf_with_object_stream({1: catalog, **_PAGES, 4: _SCRIPT})
    assert pypdf.PdfReader(io.BytesIO(pdf)).trailer["/Root"]["/OpenAction"]["/S"] == "/JavaScript"

    result = _scan(tmp_path, "timetable.jpg", pdf)

    assert {"PDF_OpenAction_Script", "PDF_JavaScript"} <= _rules(result), result
