"""E-mail: a message (EML) or a mailbox (mbox) of them, with the standard library's parser.

Every leaf part is decoded from its transfer encoding (base64, quoted-printable, uuencode) and scanned as a
member named after its attachment name; nested messages are walked like any multipart. Uuencoded blocks
written into a text body (`begin 644 name` ... `end`) are decoded too.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from bucketguard.scanning.blobs import Blob, Expansion, read_whole
from bucketguard.scanning.formats.encoded import uudecoded_blocks
from bucketguard.scanning.limits import ContainerProblem
from bucketguard.scanning.result import Reason

if TYPE_CHECKING:
    from email.message import Message

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
    from email.message import Message

    data = read_whole(blob, expansion.name, "mail")
    messages = [data]
    if data.startswith(b"From "):
        # Each message is at least a member: more than the budget holds are refused before each is sliced.
        expansion.budget.check_each(_MBOX_SEPARATOR.finditer(data), expansion.name)
        starts = [match.start() for match in _MBOX_SEPARATOR.finditer(data)]
        messages = [data[start:end] for start, end in zip(starts, [*starts[1:], len(data)], strict=True)]
    for number, raw in enumerate(messages, 1):
        prefix = f"<message {number}>/" if len(messages) > 1 else ""
        message = email.message_from_bytes(raw, policy=email.policy.compat32)
        for index, part in enumerate(message.walk()):
            encodings = part.get_all("content-transfer-encoding") or []
            attached = part.get_content_maintype() == "message" and part.is_multipart() and encodings
            inner = part.get_payload(0) if attached else None
            if isinstance(inner, Message):
                # RFC 2046 forbids encoding an attached message, but readers decode one that is: the
                # parser read its encoded text as a message's body, decoded here and opened as a mail.
                for value in encodings:
                    inner["Content-Transfer-Encoding"] = value
                for number, payload in enumerate(_decodings(inner), 1):
                    expansion.emit(f"{expansion.name}!{prefix}<message {index}.{number}>", payload)
            wrapped = _unreadable_wrapping(part)
            if wrapped is not None:
                where = f"{expansion.name}!{prefix}{part.get_filename() or f'<part {index}>'}"
                expansion.problem(where, ContainerProblem(wrapped[0], f"{where}: {wrapped[1]}"))
            if part.is_multipart():
                continue
            label = part.get_filename() or f"<part {index}>"
            for number, payload in enumerate(_decodings(part)):
                where = f"{expansion.name}!{prefix}{label}" + (f"!<decoding {number + 1}>" if number else "")
                expansion.emit(where, payload)
                for block_name, block in uudecoded_blocks(payload):
                    expansion.emit(f"{where}!{block_name}", block)


def _unreadable_wrapping(part: Message) -> tuple[Reason, str] | None:
    """A part whose content is encrypted (S/MIME enveloped data, PGP/MIME) or wrapped in a structure not
    decoded here (S/MIME opaque signed or compressed data): what it holds is not seen."""
    content_type = part.get_content_type()
    if content_type == "multipart/encrypted":
        return Reason.ENCRYPTED, f"encrypted mail ({part.get_param('protocol') or 'multipart/encrypted'})"
    if content_type not in ("application/pkcs7-mime", "application/x-pkcs7-mime"):
        return None
    kind = str(part.get_param("smime-type") or "").lower()
    if kind in ("enveloped-data", "authenveloped-data"):
        return Reason.ENCRYPTED, f"S/MIME {kind}: encrypted mail"
    if kind == "certs-only":
        return None
    return Reason.UNSUPPORTED, f"S/MIME {kind or 'content'} not decoded here"


def _decodings(part: Message) -> list[bytes]:
    """The part's body as the standard library decodes it, and as each transfer encoding its headers name
    when mail readers may read them otherwise: a repeated header (one reader takes the first, another the
    last) or a value with more after its token (`base64; x=1`), each distinct result once."""
    found: list[bytes] = []
    encodings = [str(value) for value in part.get_all("content-transfer-encoding") or []]
    for encoding in [None, *dict.fromkeys(value.split(";")[0].strip().lower() for value in encodings)]:
        if encoding is not None:
            del part["content-transfer-encoding"]
            part["Content-Transfer-Encoding"] = encoding
        payload = part.get_payload(decode=True)
        if isinstance(payload, bytes) and payload not in found:
            found.append(payload)
    return found
