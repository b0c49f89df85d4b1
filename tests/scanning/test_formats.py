"""Formats beyond archives, each from a real sample written by the tests: the payload is found inside (EICAR
behind an encoding or compression, so its raw bytes match nothing), a nested sample, a damaged one is
unscannable, a bomb stops at the limits, and formats recognised but not decoded are never clean."""

from __future__ import annotations

import base64
import email.message
import io
import shutil
import struct
import subprocess
import zlib
from collections.abc import Callable
from pathlib import Path

import cabarchive
import lz4.frame
import pytest
from backports import zstd

from bucketguard.demo import pranks
from bucketguard.scanning.limits import Limits
from bucketguard.scanning.result import Reason, ScanResult, Verdict
from tests.scanning.engine_support import EICAR, engine, gzip_of, seven_zip_of, zip_of
from tests.scanning.format_samples import (
    binhex,
    compound_file,
    deflate64_zip,
    iso_image,
    ole10native,
    onenote_section,
    pdf_with_attachment,
    pdf_with_stream,
    powerpoint_stream,
    rtf_with_package,
    szdd,
)

HIDDEN = gzip_of(EICAR)  # found only by decoding it
SIS_HEADER = b"\x00\x00\x00\x01\x12\x3a\x00\x10\x19\x04\x00\x10"  # EPOC installer UIDs


def _scan(tmp_path: Path, name: str, data: bytes, limits: Limits | None = None) -> ScanResult:
    (tmp_path / name).write_bytes(data)
    return engine(limits=limits).scan_file(tmp_path / name, name=name)


def _mail(attachment: bytes, *, encoding: str = "base64") -> bytes:
    message = email.message.EmailMessage()
    message["From"], message["To"], message["Subject"] = "camp@example.com", "parents@example.com", "photos"
    message.set_content("Photos from camp attached.\n")
    message.add_attachment(attachment, maintype="application", subtype="octet-stream", filename="photos.gz")
    if encoding == "quoted-printable":  # every byte escaped, soft line breaks every 72 characters
        part = message.get_payload()[1]
        del part["Content-Transfer-Encoding"]
        part["Content-Transfer-Encoding"] = "quoted-printable"
        escaped = "".join(f"={byte:02X}" for byte in attachment)
        part.set_payload("=\n".join(escaped[i : i + 72] for i in range(0, len(escaped), 72)))
    return message.as_bytes()


def _uuencoded(name: str, data: bytes) -> bytes:
    import binascii

    lines = [binascii.b2a_uu(data[i : i + 45]) for i in range(0, len(data), 45)]
    return b"begin 644 " + name.encode() + b"\n" + b"".join(lines) + b"`\nend\n"


def _mbox(*messages: bytes) -> bytes:
    return b"".join(b"From camp@example.com Thu Jul 31 13:51:21 2026\n" + m + b"\n" for m in messages)


def _cab(members: dict[str, bytes]) -> bytes:
    archive = cabarchive.CabArchive()
    for name, data in members.items():
        archive[name] = cabarchive.CabFile(data)
    return bytes(archive.save(compress=True))


def _iso_hiding(name: str, data: bytes, tree: str) -> bytes:
    """An image whose ISO 9660 tree lists a clean file and whose Joliet or UDF tree (what Windows shows) also
    lists `name`, data no ISO 9660 path reaches."""
    import pycdlib

    image = pycdlib.PyCdlib()
    image.new(**({"joliet": 3} if tree == "joliet" else {"udf": "2.60"}))
    image.add_fp(io.BytesIO(b"camp\n"), 5, "/README.TXT;1", **{f"{tree}_path": "/readme.txt"})
    image.add_fp(io.BytesIO(data), len(data), "/HIDDEN.BIN;1", **{f"{tree}_path": f"/{name}"})
    image.rm_hard_link(iso_path="/HIDDEN.BIN;1")
    out = io.BytesIO()
    image.write_fp(out)
    image.close()
    return out.getvalue()


def _with_section(pe: bytes, name: bytes) -> bytes:
    """The PE with one (empty) section called `name`, as UPX names its first one."""
    offset = int.from_bytes(pe[60:64], "little")
    optional_size = int.from_bytes(pe[offset + 20 : offset + 22], "little")
    table = offset + 24 + optional_size
    header = name.ljust(8, b"\x00") + struct.pack("<6I2HI", 0x1000, 0x1000, 0, 0, 0, 0, 0, 0, 0xE0000080)
    patched = bytearray(pe[:table].ljust(table, b"\x00") + header + bytes(64))
    patched[offset + 6 : offset + 8] = struct.pack("<H", 1)
    return bytes(patched)


FOUND: dict[str, Callable[[], bytes]] = {
    "mail.eml": lambda: _mail(HIDDEN),
    "quoted.eml": lambda: _mail(EICAR, encoding="quoted-printable"),
    "uu.eml": lambda: b"From: camp@example.com\nSubject: photos\n\n" + _uuencoded("photos.gz", HIDDEN),
    "box.mbox": lambda: _mbox(b"From: a@example.com\nSubject: hi\n\nhello\n", _mail(HIDDEN)),
    "nested.eml": lambda: _mail(_mail(HIDDEN)),
    "photos.uue": lambda: _uuencoded("photos.gz", HIDDEN),
    "photos.hqx": lambda: binhex("photos.gz", HIDDEN),
    "setup.ex_": lambda: szdd(HIDDEN),
    "page.html": lambda: (
        b'<!doctype html><a href="data:application/gzip;base64,' + base64.b64encode(HIDDEN) + b'">x</a>'
    ),
    "smuggle.html": lambda: (
        b"<html><script>var b='" + base64.b64encode(zip_of({"e.com": EICAR})) * 1 + b"';</script>"
    ),
    "hex.svg": lambda: (
        b'<svg xmlns="http://www.w3.org/2000/svg"><script>var h="'
        + zip_of({"e.com": EICAR}).hex().encode()
        + b'"</script></svg>'
    ),
    "report.doc": lambda: compound_file({"WordDocument": b"camp", "Payload": HIDDEN}),
    # a Word field (0x13 instruction 0x14 result 0x15) in 8-bit text, as Word stores a compressed piece
    "dde.doc": lambda: compound_file(
        {"WordDocument": b'\x13 DDEAUTO c:\\windows\\system32\\cmd.exe "/k calc.exe" \x141\x15'}
    ),
    "package.doc": lambda: compound_file({"\x01Ole10Native": ole10native("photos.gz", HIDDEN)}),
    "slides.ppt": lambda: compound_file(
        {
            "PowerPoint Document": powerpoint_stream(
                compound_file({"\x01Ole10Native": ole10native("p.gz", HIDDEN)})
            )
        }
    ),
    "letter.rtf": lambda: rtf_with_package("photos.gz", HIDDEN),
    "letter-in-zip.zip": lambda: zip_of(
        {"word/embeddings/oleObject1.bin": compound_file({"Payload": HIDDEN})}
    ),
    "drivers.cab": lambda: _cab({"photos.gz": HIDDEN, "readme.txt": b"camp\n"}),
    # two members of one name, the payload first (a writer keeps names unique: the second one is renamed)
    "same-name.cab": lambda: _cab({"photos.gz": HIDDEN, "photos.g~": b"camp\n"}).replace(
        b"photos.g~\x00", b"photos.gz\x00"
    ),
    "joliet-only.iso": lambda: _iso_hiding("photos.gz", HIDDEN, "joliet"),
    "udf-only.iso": lambda: _iso_hiding("photos.gz", HIDDEN, "udf"),
    "photos.zst": lambda: zstd.compress(zip_of({"e.com": EICAR})),
    "old.zip": lambda: deflate64_zip("photos.gz", HIDDEN),
    "installer.exe": lambda: pranks.pe_header() + seven_zip_of({"payload/e.com": EICAR}),
    "app.sis": lambda: SIS_HEADER + bytes(84) + zlib.compress(HIDDEN),
    "photos.lz4": lambda: lz4.frame.compress(zip_of({"e.com": EICAR})),
    "attachment.pdf": lambda: pdf_with_attachment("photos.gz", HIDDEN),
    "hex-flate.pdf": lambda: pdf_with_stream(
        zlib.compress(HIDDEN).hex().encode() + b">", "[/ASCIIHexDecode /FlateDecode]"
    ),
    "a85.pdf": lambda: pdf_with_stream(base64.a85encode(HIDDEN) + b"~>", "/A85"),
    "camp.iso": lambda: iso_image({"README.TXT": b"camp\n", "PHOTOS.GZ": HIDDEN}),
    "nested.iso": lambda: iso_image({"BACKUP.ZIP": zip_of({"photos.gz": HIDDEN})}),
    # OneNote keeps embedded files as they are, but not at a file's start: EICAR must start one
    "notes.one": lambda: onenote_section([b"camp notes\n", EICAR]),
    "photos.one": lambda: onenote_section([HIDDEN]),
}


@pytest.mark.parametrize("name", FOUND)
def test_payload_inside_each_format_is_found(tmp_path: Path, name: str) -> None:
    result = _scan(tmp_path, name, FOUND[name]())
    assert result.verdict is Verdict.MALICIOUS, result


CLEAN: dict[str, Callable[[], bytes]] = {
    "mail.eml": lambda: _mail(gzip_of(b"camp photos\n")),
    "page.html": lambda: (
        b"<!doctype html><p>Welcome to camp</p><img src='data:image/png;base64,"
        + base64.b64encode(pranks.clean_png())
        + b"'>"
    ),
    "report.doc": lambda: compound_file({"WordDocument": b"camp timetable"}),
    "page-field.doc": lambda: compound_file({"WordDocument": b"\x13 PAGE \x141\x15"}),
    "letter.rtf": lambda: rtf_with_package("notes.txt", b"camp notes\n"),
    "setup.ex_": lambda: szdd(b"camp setup\n"),
    "drivers.cab": lambda: _cab({"readme.txt": b"camp\n"}),
    "camp.iso": lambda: iso_image({"README.TXT": b"camp\n"}),
    "notes.one": lambda: onenote_section([b"camp notes\n", pranks.clean_png()]),
    "photos.lz4": lambda: lz4.frame.compress(b"camp photos\n" * 100),
    "timetable.pdf": lambda: pdf_with_attachment("timetable.txt", b"camp timetable\n"),
    # its zlib checksum ends in LF: the stream's last byte, not the end-of-line before `endstream`
    "checksum-lf.pdf": lambda: pdf_with_stream(_compressed_ending_in_eol(), "/FlateDecode"),
}


def _compressed_ending_in_eol() -> bytes:
    return next(c for i in range(1000) if (c := zlib.compress(b"camp timetable %d\n" % i))[-1:] in b"\r\n")


@pytest.mark.parametrize("name", CLEAN)
def test_clean_sample_of_each_format_is_clean(tmp_path: Path, name: str) -> None:
    result = _scan(tmp_path, name, CLEAN[name]())
    assert result.verdict is Verdict.CLEAN, result


DAMAGED: dict[str, Callable[[], bytes]] = {
    "cut.hqx": lambda: binhex("photos.gz", HIDDEN)[:60] + b":\n",
    "cut.ex_": lambda: szdd(b"camp setup\n", declared=4000),
    "cut.doc": lambda: compound_file({"Payload": b"camp"})[:700],
    "cut.cab": lambda: _cab({"readme.txt": b"camp\n" * 50})[:-20],
    "cut.zst": lambda: zstd.compress(b"camp " * 1000)[:-6],
    "cut.lz4": lambda: lz4.frame.compress(b"camp " * 1000)[:-6],
    "cut.pdf": lambda: pdf_with_stream(zlib.compress(b"camp " * 1000)[:-30], "/FlateDecode"),
    "cut.iso": lambda: iso_image({"README.TXT": b"camp\n"})[: 16 * 2048 + 900],
    "cut.one": lambda: onenote_section([b"camp notes\n" * 20])[:1200],
}


@pytest.mark.parametrize("name", DAMAGED)
def test_damaged_sample_is_unscannable(tmp_path: Path, name: str) -> None:
    result = _scan(tmp_path, name, DAMAGED[name]())
    assert result.verdict is Verdict.UNSCANNABLE, result


UNDECODED = {
    "a.rar": b"Rar!\x1a\x07\x01\x00" + bytes(64),
    "a.sis": SIS_HEADER + bytes(64),
}


@pytest.mark.parametrize("name", UNDECODED)
def test_formats_recognised_but_not_decoded_are_unsupported(tmp_path: Path, name: str) -> None:
    result = _scan(tmp_path, name, UNDECODED[name])
    assert (result.verdict, result.reason) == (Verdict.UNSCANNABLE, Reason.UNSUPPORTED), result


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("upx.exe", lambda: _with_section(pranks.pe_header(), b"UPX0")),
        ("autoit.exe", lambda: pranks.pe_header() + b"AU3!EA06" + bytes(64)),
        ("upx.elf", lambda: pranks.elf_header() + b"UPX!" + bytes(64)),
    ],
)
def test_packed_executables_and_installers_are_unscannable(
    tmp_path: Path, name: str, data: Callable[[], bytes]
) -> None:
    result = _scan(tmp_path, name, data())
    assert result.reason is Reason.PACKED, result
    assert result.verdict is not Verdict.CLEAN


def test_plain_executable_is_not_packed(tmp_path: Path) -> None:
    result = _scan(tmp_path, "tool.exe", pranks.pe_header())
    assert result.reason is not Reason.PACKED, result


@pytest.mark.parametrize(
    "build",
    [
        lambda data: zstd.compress(data),
        lambda data: lz4.frame.compress(data),
        lambda data: pdf_with_stream(zlib.compress(data), "/FlateDecode"),
        lambda data: szdd(data[:4000], declared=0xFFFFFFFF),
        lambda data: compound_file({"PowerPoint Document": powerpoint_stream(data)}),
    ],
    ids=["zstd", "lz4", "pdf", "szdd", "ppt-object"],
)
def test_bombs_stop_at_the_limits(tmp_path: Path, build: Callable[[bytes], bytes]) -> None:
    limits = Limits(max_ratio=10, ratio_floor_bytes=1 << 16, max_extracted_bytes=8 << 20)
    result = _scan(tmp_path, "bomb", build(bytes(4 << 20)), limits)
    assert result.verdict is Verdict.UNSCANNABLE, result
    assert result.reason in (Reason.RATIO_EXCEEDED, Reason.EXTRACTED_TOO_LARGE), result


def test_mail_part_names_the_attachment(tmp_path: Path) -> None:
    result = _scan(tmp_path, "m.eml", _mail(HIDDEN))
    assert [f.path for f in result.findings] == ["m.eml!photos.gz!photos"], result


def test_ppt_object_is_found_two_levels_down(tmp_path: Path) -> None:
    result = _scan(tmp_path, "s.ppt", FOUND["slides.ppt"]())
    assert result.findings[0].path.startswith("s.ppt!PowerPoint Document!<embedded object 1>!"), result


def test_encrypted_pdf_is_unscannable(tmp_path: Path) -> None:
    result = _scan(tmp_path, "secret.pdf", pdf_with_attachment("photos.gz", HIDDEN, password="camp"))
    assert (result.verdict, result.reason) == (Verdict.UNSCANNABLE, Reason.ENCRYPTED), result


@pytest.fixture(scope="module")
def smime_key(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("smime")
    key = ["-newkey", "rsa:2048", "-nodes", "-keyout", "key.pem", "-out", "cert.pem", "-days", "1"]
    subprocess.run(["openssl", "req", "-x509", *key, "-subj", "/CN=camp"], cwd=folder, check=True,
                   capture_output=True)  # fmt: skip
    return folder


def _smime(folder: Path, *how: str) -> bytes:
    """A mail openssl wraps in S/MIME (`how`: -encrypt, -sign ...) around a text part holding EICAR."""
    (folder / "inner.txt").write_bytes(b"Content-Type: text/plain\n\n" + EICAR + b"\n")
    subprocess.run(["openssl", "smime", "-in", "inner.txt", "-out", "mail.eml", "-subject", "photos", *how],
                   cwd=folder, check=True, capture_output=True)  # fmt: skip
    return (folder / "mail.eml").read_bytes()


@pytest.mark.skipif(
    shutil.which("openssl") is None, reason="openssl missing: apt-get install openssl (make test installs it)"
)
@pytest.mark.parametrize(
    ("how", "reason"),
    [
        (["-encrypt", "-aes256", "cert.pem"], Reason.ENCRYPTED),
        (["-sign", "-signer", "cert.pem", "-inkey", "key.pem", "-nodetach"], Reason.UNSUPPORTED),
    ],
    ids=["enveloped", "opaque-signed"],
)
def test_mail_whose_content_s_mime_wraps_is_never_clean(
    tmp_path: Path, smime_key: Path, how: list[str], reason: Reason
) -> None:
    """S/MIME's enveloped (encrypted) and opaque signed data hold the message in DER, out of the rules'
    sight: both were clean with EICAR inside."""
    result = _scan(tmp_path, "photos.eml", _smime(smime_key, *how))
    assert (result.verdict, result.reason) == (Verdict.UNSCANNABLE, reason), result


@pytest.mark.skipif(
    shutil.which("openssl") is None, reason="openssl missing: apt-get install openssl (make test installs it)"
)
def test_mail_signed_beside_its_readable_content_is_scanned(tmp_path: Path, smime_key: Path) -> None:
    signed = _smime(smime_key, "-sign", "-signer", "cert.pem", "-inkey", "key.pem")  # multipart/signed
    result = _scan(tmp_path, "photos.eml", signed)
    assert result.verdict is Verdict.MALICIOUS, result
