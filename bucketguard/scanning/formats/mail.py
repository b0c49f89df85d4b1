"""E-mail: a message (EML) or a mailbox (mbox) of them, with the standard library's parser.

Every leaf part is decoded from its transfer encoding (base64, quoted-printable, uuencode) and scanned as a
member named after its attachment name; nested messages are walked like any multipart. Uuencoded blocks
written into a text body (`begin 644 name` ... `end`) are decoded too.
"""

from __future__ import annotations

import re

from bucketguard.scanning.blobs import Blob, Expansion, read_whole
from bucketguard.scanning.formats.encoded import uudecoded_blocks

_FIELD = re.compile(
    rb"(?i)(received|return-path|from|to|cc|subject|date|message-id|mime-version|content-type|"
    rb"content-transfer-encoding|delivered-to|reply-to|x-[a-z0-9-]+):[ \t]"
)
FIRST_BYTES = bytes(sorted({*b"RrFfTtCcSsDdMmXx"}))  # `From ` and the header fields above
_MBOX_SEPARATOR = re.compile(rb"(?m)^From [^\r\n]*\r?\n")


def is_mail(head: bytes) -> bool:
    """An mbox `From ` line or a header field first, and at least two header fields in the first lines."""
    if not (head.startswith(b"From ") or _FIELD.match(head)):
        return False
    return sum(1 for line in head.splitlines()[:12] if _FIELD.match(line)) >= 2


def open_mail(blob: Blob, expansion: Expansion) -> None:
    # The email package is imported by a mail only, not by every scan's start-up (10 ms of CPU).
    import email
    import email.policy

    data = read_whole(blob, expansion.name, "mail")
    messages = [data]
    if data.startswith(b"From "):
        starts = [match.start() for match in _MBOX_SEPARATOR.finditer(data)]
        messages = [data[start:end] for start, end in zip(starts, [*starts[1:], len(data)], strict=True)]
    for number, raw in enumerate(messages, 1):
        prefix = f"<message {number}>/" if len(messages) > 1 else ""
        message = email.message_from_bytes(raw, policy=email.policy.compat32)
        for index, part in enumerate(message.walk()):
            if part.is_multipart():
                continue
            payload = part.get_payload(decode=True)
            if not isinstance(payload, bytes):
                continue
            label = part.get_filename() or f"<part {index}>"
            where = f"{expansion.name}!{prefix}{label}"
            expansion.emit(where, payload)
            for block_name, block in uudecoded_blocks(payload):
                expansion.emit(f"{where}!{block_name}", block)
