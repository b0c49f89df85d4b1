"""Rule feeds: kinds recognised from content, archives read under caps, and the HTTP client against a
loopback server (ETag and 304, 500 retried, truncated body, wrong sha256, redirects, size cap, timeouts,
TLS verification with a self-signed certificate)."""

from __future__ import annotations

import datetime
import hashlib
import http.server
import io
import ipaddress
import logging
import ssl
import tarfile
import threading
import urllib.parse
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from bucketguard.demo import pranks
from bucketguard.scanning.feeds import (
    ArchiveLimits,
    FeedError,
    FeedSource,
    HttpClient,
    fetch,
    parse_feed,
    recognise,
    shown,
)

RULE = """
rule Feed_Test_String
{
    meta:
        description = "a harmless test string served by a feed"
    strings:
        $s = "bucketguard-feed-test-7f3a"
    condition:
        $s
}
"""
EICAR_SHA256 = hashlib.sha256(pranks.eicar()).hexdigest()
BAZAAR_CSV = f"""################################################################
# MalwareBazaar full malware samples dump (CSV)                #
# Terms Of Use: https://bazaar.abuse.ch/faq/#tos               #
################################################################
#
# "first_seen_utc","sha256_hash","md5_hash","sha1_hash","reporter","file_name","file_type_guess","mime_type","signature","clamav","vtpercent","imphash","ssdeep","tlsh"
"2026-11-30 08:00:01", "{EICAR_SHA256}", "44d88612fea8a8f36de82e1278abb02f", "3395856ce81f2b7382dee72602f798b642f14140", "camp", "eicar.com", "com", "text/plain", "EICAR", "n/a", "n/a", "n/a", "n/a", "n/a"
"""  # noqa: E501 - the export's real header line


def zip_of(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def tar_gz_of(members: dict[str, bytes], *, symlink: str | None = None) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
        if symlink:
            link = tarfile.TarInfo(symlink)
            link.type = tarfile.SYMTYPE
            link.linkname = "/etc/passwd"
            archive.addfile(link)
    return buffer.getvalue()


RULES_ZIP = zip_of({"rules/test.yar": RULE.encode(), "rules/README.md": b"# rules", "LICENSE": b"DRL 1.1"})


# --- recognising kinds from content ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (RULES_ZIP, "yara-zip"),
        (tar_gz_of({"signature-base/yara/test.yara": RULE.encode()}), "yara-zip"),
        (RULE.encode(), "yara-file"),
        (f"# blocklist\n{EICAR_SHA256}  eicar\n".encode(), "hash-list"),
        (BAZAAR_CSV.encode(), "malwarebazaar-csv"),
        (zip_of({"full.csv": BAZAAR_CSV.encode()}), "malwarebazaar-csv"),
    ],
)
def test_kind_is_recognised_from_content_not_name(data: bytes, kind: str) -> None:
    assert recognise(data) == kind


def test_unknown_content_is_refused() -> None:
    with pytest.raises(FeedError, match="not a YARA rule file"):
        recognise(b"<html>Not found</html>")
    with pytest.raises(FeedError, match=r"no \.yar/\.yara files"):
        recognise(zip_of({"a.txt": b"hello", "b.txt": b"world"}))


def test_yara_zip_gives_only_rule_files_and_tar_links_are_not_followed() -> None:
    content = parse_feed(RULES_ZIP, None, "rules.zip")
    assert content.rule_files == (("rules/test.yar", RULE),)
    tarred = parse_feed(tar_gz_of({"a/x.yar": RULE.encode()}, symlink="a/evil.yar"), None, "x.tar.gz")
    assert [name for name, _ in tarred.rule_files] == ["a/x.yar"]


def test_malwarebazaar_csv_gives_labelled_hashes_zipped_or_not() -> None:
    for data in (BAZAAR_CSV.encode(), zip_of({"full.csv": BAZAAR_CSV.encode()})):
        content = parse_feed(data, None, "https://bazaar.abuse.ch/export/csv/full/")
        assert content.hashes.lookup(EICAR_SHA256) == "MalwareBazaar: EICAR"
        assert content.rule_files == ()


def test_forced_kind_that_does_not_fit_the_content_fails_naming_the_line() -> None:
    with pytest.raises(FeedError, match=r"feed\.txt:2: expected a SHA-256"):
        parse_feed(RULE.encode(), "hash-list", "feed.txt")


def test_archive_caps_hold_against_a_bomb_and_too_many_members() -> None:
    with pytest.raises(FeedError, match="expands beyond the cap"):
        parse_feed(zip_of({"big.yar": b"/*" + b" " * 5_000_000 + b"*/"}), None, "bomb.zip",
                   limits=ArchiveLimits(max_expanded_bytes=1_000_000))  # fmt: skip
    many = zip_of({f"r{i}.yar": RULE.encode() for i in range(5)})
    with pytest.raises(FeedError, match="more than 4 members"):
        parse_feed(many, None, "many.zip", limits=ArchiveLimits(max_members=4))


def test_zip_member_cap_counts_the_central_directory_not_the_declared_count() -> None:
    rules = {"rules/x.yar": RULE.encode()}
    dirs = zip_of({**{f"d{i}/": b"" for i in range(5)}, **rules})
    with pytest.raises(FeedError, match="more than 5 members"):
        parse_feed(dirs, None, "dirs.zip", limits=ArchiveLimits(max_members=5))
    end = dirs.rindex(b"PK\x05\x06")
    declares_one = dirs[: end + 8] + (1).to_bytes(2, "little") * 2 + dirs[end + 12 :]
    assert len(zipfile.ZipFile(io.BytesIO(declares_one)).infolist()) == 6  # zipfile reads them all
    with pytest.raises(FeedError, match="more than 5 members"):
        parse_feed(declares_one, None, "lies.zip", limits=ArchiveLimits(max_members=5))
    zip64 = zip_of({**{f"e{i}": b"" for i in range(70_000)}, **rules})  # over 65,535: a zip64 end record
    assert b"PK\x06\x06" in zip64[-200:]
    with pytest.raises(FeedError, match="more than 50000 members"):
        parse_feed(zip64, None, "zip64.zip")


def tar_of(members: list[tarfile.TarInfo], mode: str, data: bytes = b"") -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=mode) as archive:
        for info in members:
            archive.addfile(info, io.BytesIO(data) if info.size else None)
        rules = tarfile.TarInfo("rules/x.yar")
        rules.size = len(RULE)
        archive.addfile(rules, io.BytesIO(RULE.encode()))
    return buffer.getvalue()


def _typed(name: str, kind: bytes, size: int = 0) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.size = kind, size
    return info


@pytest.mark.parametrize("mode", ["w:gz", "w:bz2", "w:xz", "w"])
def test_tar_caps_count_what_is_skipped(mode: str) -> None:
    # Directories were not counted: 200,000 of them in under 1 MB of tar.gz took a minute of CPU and
    # grew without bound; a member of a type tarfile skips expanded unchecked while being skipped.
    dirs = tar_of([_typed(f"d{i}", tarfile.DIRTYPE) for i in range(5)], mode)
    with pytest.raises(FeedError, match="more than 4 members"):
        parse_feed(dirs, None, "dirs.tgz", limits=ArchiveLimits(max_members=4))
    assert parse_feed(dirs, None, "dirs.tgz", limits=ArchiveLimits(max_members=6)).rule_files
    skipped = tar_of([_typed("odd", b"Z", 2_000_000)], mode, bytes(2_000_000))
    with pytest.raises(FeedError, match="expands beyond the cap"):
        parse_feed(skipped, None, "odd.tgz", limits=ArchiveLimits(max_expanded_bytes=1_000_000))
    assert parse_feed(skipped, None, "odd.tgz").rule_files == (("rules/x.yar", RULE),)
    with pytest.raises(FeedError, match="unreadable archive"):
        parse_feed(skipped[: len(skipped) // 2], "yara-zip", "cut.tgz")


def test_source_arguments_force_kinds_and_pins_are_checked() -> None:
    assert FeedSource.parse("hash-list=https://x.example/list").kind == "hash-list"
    assert FeedSource.parse("https://x.example/a=b.zip") == FeedSource("a_b.zip", "https://x.example/a=b.zip")
    assert FeedSource.parse("s3://team-rules/yara/").kind == "s3"
    with pytest.raises(FeedError, match="unknown kind"):
        FeedSource("x", "https://x.example", kind="clamav")
    with pytest.raises(FeedError, match="sha256 pins one download"):
        FeedSource("x", "s3://b/p", kind="s3", sha256="0" * 64)
    # urllib3 sends no Authorization from a URL's user part: such a feed failed with 401 at every run
    with pytest.raises(
        FeedError, match=r"^source r.zip \(https://x.example/r.zip\): a user or password"
    ) as e:
        FeedSource.parse("https://me:SECRET@x.example/r.zip")
    assert "SECRET" not in str(e.value)


def test_local_file_and_directory_sources(tmp_path: Path) -> None:
    (tmp_path / "dir" / "sub").mkdir(parents=True)
    (tmp_path / "dir" / "sub" / "t.yar").write_text(RULE)
    (tmp_path / "list.txt").write_text(EICAR_SHA256 + "\n")
    assert fetch(FeedSource.parse(str(tmp_path / "dir"))).content.rule_files == (("sub/t.yar", RULE),)  # type: ignore[union-attr]
    got = fetch(FeedSource.parse(str(tmp_path / "list.txt")))
    assert got.content is not None and EICAR_SHA256 in got.content.hashes
    assert got.state.sha256 == hashlib.sha256((EICAR_SHA256 + "\n").encode()).hexdigest()


def test_urls_in_messages_lose_query_and_credentials() -> None:
    assert (
        shown("https://user:pw@feeds.example:8443/x.zip?auth-key=SECRET")
        == "https://feeds.example:8443/x.zip"
    )


# --- the HTTP client against a loopback server --------------------------------------------------------------


FEED_KEY = "k3y-0f-the-camp-feed"


class FeedServer(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    hits: ClassVar[dict[str, int]] = {}
    release: ClassVar[threading.Event] = threading.Event()

    def do_GET(self) -> None:
        path = self.path.split("?")[0]
        FeedServer.hits[path] = FeedServer.hits.get(path, 0) + 1
        if path == "/rules.zip":
            if self.headers.get("If-None-Match") == '"v1"':
                self._reply(304, b"")
            else:
                self._reply(
                    200, RULES_ZIP, {"ETag": '"v1"', "Last-Modified": "Mon, 30 Nov 2026 08:00:00 GMT"}
                )
        elif path == "/keyed":  # a feed whose API key goes in the query string
            keyed = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query).get("key") == [FEED_KEY]
            self._reply(200 if keyed else 403, RULE.encode() if keyed else b"no key")
        elif path == "/always-304":
            self._reply(304, b"")
        elif path == "/bazaar.zip":
            self._reply(200, zip_of({"full.csv": BAZAAR_CSV.encode()}))
        elif path == "/flaky":
            status = 500 if FeedServer.hits[path] <= 2 else 200
            self._reply(status, RULE.encode() if status == 200 else b"oops")
        elif path == "/drop-once" and FeedServer.hits[path] == 1:
            self.close_connection = True  # no answer at all: the client retries
        elif path == "/drop-once":
            self._reply(200, RULE.encode())
        elif path == "/broken":
            self._reply(500, b"oops")
        elif path == "/truncated":
            self.send_response(200)
            self.send_header("Content-Length", str(len(RULES_ZIP)))
            self.end_headers()
            self.wfile.write(RULES_ZIP[:100])
            self.close_connection = True
        elif path == "/moved":
            self._reply(302, b"", {"Location": "/rules.zip"})
        elif path == "/redirect":  # to wherever ?to= says
            self._reply(302, b"", {"Location": urllib.parse.unquote(self.path.split("?to=", 1)[1])})
        elif path == "/loop":
            self._reply(302, b"", {"Location": "/loop"})
        elif path == "/downgrade":
            self._reply(302, b"", {"Location": "http://feeds.example.org/rules.zip"})
        elif path == "/huge-declared":
            self._reply(200, RULES_ZIP)
        elif path == "/huge-undeclared":  # no Content-Length: the body runs until the connection closes
            self.send_response(200)
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(RULES_ZIP)
            self.close_connection = True
        elif path == "/hang":
            FeedServer.release.wait(30)
        else:
            self._reply(404, b"")

    def _reply(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def _serve(context: ssl.SSLContext | None = None) -> Iterator[str]:
    FeedServer.hits = {}
    FeedServer.release = threading.Event()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FeedServer)
    server.daemon_threads = True
    if context is not None:
        server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    scheme = "https" if context else "http"
    yield f"{scheme}://127.0.0.1:{server.server_address[1]}"
    FeedServer.release.set()
    server.shutdown()
    server.server_close()


@pytest.fixture
def feeds() -> Iterator[str]:
    yield from _serve()


def client(**overrides: Any) -> HttpClient:
    settings: dict[str, Any] = {"timeout_seconds": 5.0, "retries": 3, "backoff_seconds": 0.0}
    return HttpClient(**{**settings, **overrides})


def test_etag_then_304_costs_one_request_and_reports_unchanged(feeds: str) -> None:
    source = FeedSource.parse(f"{feeds}/rules.zip")
    first = fetch(source, http=client())
    assert first.content is not None and first.content.kind == "yara-zip"
    assert first.state.etag == '"v1"' and first.state.last_modified == "Mon, 30 Nov 2026 08:00:00 GMT"
    second = fetch(source, http=client(), previous=first.state)
    assert second.unchanged and second.state == first.state
    assert FeedServer.hits["/rules.zip"] == 2


def test_a_304_to_an_unconditional_request_fails_rather_than_drop_the_feed(feeds: str) -> None:
    with pytest.raises(FeedError, match="304 Not Modified to an unconditional request"):
        fetch(FeedSource.parse(f"{feeds}/always-304"), http=client())


def test_zipped_bazaar_export_over_http(feeds: str) -> None:
    got = fetch(FeedSource.parse(f"{feeds}/bazaar.zip"), http=client())
    assert got.content is not None and got.content.kind == "malwarebazaar-csv"
    assert EICAR_SHA256 in got.content.hashes


def test_500_is_retried_then_succeeds_and_a_lasting_500_fails(feeds: str) -> None:
    got = fetch(FeedSource.parse(f"{feeds}/flaky"), http=client())
    assert got.content is not None and got.content.kind == "yara-file"
    assert FeedServer.hits["/flaky"] == 3
    with pytest.raises(FeedError, match="HTTP 500"):
        fetch(FeedSource.parse(f"{feeds}/broken"), http=client(retries=2))
    assert FeedServer.hits["/broken"] == 3


def test_retries_and_requests_are_logged_without_the_query(
    feeds: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    got = fetch(FeedSource.parse(f"{feeds}/drop-once?auth-key=SECRET"), http=client())
    assert got.content is not None and FeedServer.hits["/drop-once"] == 2
    retried = [r for r in caplog.records if r.name.startswith("urllib3") and r.levelno == logging.WARNING]
    assert retried and "/drop-once?" in retried[0].getMessage()
    assert "SECRET" not in caplog.text


def test_truncated_body_fails(feeds: str) -> None:
    with pytest.raises(FeedError, match="connection broken"):
        fetch(FeedSource.parse(f"{feeds}/truncated"), http=client(retries=0))


def test_wrong_pinned_sha256_fails_and_the_right_one_passes(feeds: str) -> None:
    url = f"{feeds}/rules.zip"
    with pytest.raises(FeedError, match="sha256 mismatch"):
        fetch(FeedSource("rules", url, sha256="0" * 64), http=client())
    pinned = FeedSource("rules", url, sha256=hashlib.sha256(RULES_ZIP).hexdigest())
    assert fetch(pinned, http=client()).content is not None


def test_redirects_are_followed_but_not_in_loops_nor_to_plain_http(feeds: str) -> None:
    got = fetch(FeedSource.parse(f"{feeds}/moved"), http=client())
    assert got.content is not None and got.content.kind == "yara-zip"
    with pytest.raises(FeedError, match="more than 5 redirects"):
        fetch(FeedSource.parse(f"{feeds}/loop"), http=client())
    with pytest.raises(FeedError, match="only https URLs"):
        fetch(FeedSource.parse(f"{feeds}/downgrade"), http=client())


def test_size_cap_holds_declared_or_not(feeds: str) -> None:
    small = client(max_bytes=len(RULES_ZIP) - 1)
    with pytest.raises(FeedError, match="over the feed size cap"):
        fetch(FeedSource.parse(f"{feeds}/huge-declared"), http=small)
    with pytest.raises(FeedError, match="more than the feed size cap"):
        fetch(FeedSource.parse(f"{feeds}/huge-undeclared"), http=small)


def test_a_feed_that_never_answers_times_out(feeds: str) -> None:
    with pytest.raises(FeedError, match="timed out"):
        fetch(FeedSource.parse(f"{feeds}/hang"), http=client(timeout_seconds=0.2, retries=0))


def test_plain_http_off_loopback_is_refused_before_any_request() -> None:
    with pytest.raises(FeedError, match="only https URLs"):
        fetch(FeedSource.parse("http://feeds.example.org/rules.zip"), http=client())


# --- TLS is verified ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


@pytest.fixture
def tls_feeds(certificate: tuple[Path, Path]) -> Iterator[str]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate)
    yield from _serve(context)


def test_tls_certificate_is_verified(tls_feeds: str, certificate: tuple[Path, Path]) -> None:
    source = FeedSource.parse(f"{tls_feeds}/rules.zip")
    with pytest.raises(FeedError, match="TLS verification failed"):
        fetch(source, http=client(retries=0))
    trusted = fetch(source, http=client(ca_certs=str(certificate[0])))
    assert trusted.content is not None and trusted.content.kind == "yara-zip"


def test_a_redirect_from_https_never_leads_to_plain_http_even_on_loopback(
    feeds: str, tls_feeds: str, certificate: tuple[Path, Path]
) -> None:
    # Plain http is allowed to loopback for a feed given so: a remote https feed redirecting to
    # http://127.0.0.1:... reached the update function's own local services (the Lambda runtime API).
    trusting = client(ca_certs=str(certificate[0]))
    with pytest.raises(
        FeedError, match=r"/redirect: redirected from https to http://127.0.0.1:\d+/rules.zip$"
    ):
        fetch(FeedSource.parse(f"{tls_feeds}/redirect?to={feeds}/rules.zip"), http=trusting)
    assert "/rules.zip" not in FeedServer.hits
    hop = fetch(FeedSource.parse(f"{tls_feeds}/redirect?to={tls_feeds}/rules.zip"), http=trusting)
    assert hop.content is not None and hop.content.kind == "yara-zip"
