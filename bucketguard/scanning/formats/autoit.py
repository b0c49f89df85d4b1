"""AutoIt-compiled scripts (EA05 and EA06, AutoIt 3): the script and every file it installs (`FileInstall`)
decrypted and decompressed with autoit-ripper, each scanned as a member of its own.

autoit-ripper stops quietly at the first record it cannot read, so nothing proves every record was read:
an AutoIt executable stays `packed` whatever it carries (a payload found in it still makes it malicious).
Its decompressor holds a record's bits as text, eight times its size, so only so many bytes are decoded.
"""

from __future__ import annotations

import mmap

from bucketguard.scanning.blobs import Expansion, corrupt
from bucketguard.scanning.limits import ScanProblem

# autoit-ripper's EA05_MAGIC (imported on use: cold start): sixteen bytes of key, then "AU3!"; "EA05" or
# "EA06" follows
MARKER = b"\xa3HK\xbe\x98lJ\xa9\x99LS\n\x86\xd6H}AU3!"
DECODED_MAX = 8 << 20
WHAT = "AutoIt compiled script"


def extract(view: bytes | mmap.mmap, expansion: Expansion) -> str:
    """Scan the script and files after the first marker in `view`; say why the executable stays packed."""
    from autoit_ripper.autoit_unpack import parse_au3_header
    from autoit_ripper.utils import ByteStream, EA05Decryptor, EA06Decryptor

    at = view.find(MARKER)
    start = at + len(MARKER)
    stream = ByteStream(bytes(view[start : start + DECODED_MAX]))
    version = stream.get_bytes(4)
    if at < 0 or version not in (b"EA05", b"EA06"):
        return f"{WHAT} in an unknown version"
    checksum = sum(stream.get_bytes(16))
    decryptor = EA05Decryptor() if version == b"EA05" else EA06Decryptor()
    records = parse_au3_header(stream, checksum if version == b"EA05" else 0, decryptor)
    number = 0
    try:
        for number, (name, content) in enumerate(records, 1):
            expansion.emit(f"{expansion.name}!<AutoIt record {number}: {name}>", content)
    except ScanProblem:
        raise
    except Exception as exc:  # a parser fed untrusted bytes
        expansion.problem(expansion.name, corrupt(expansion.name, "AutoIt script", exc))
    return f"{WHAT} ({number} records extracted; the extractor cannot tell whether it read them all)"
