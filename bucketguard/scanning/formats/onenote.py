"""OneNote sections (`.one`): every embedded file (a FileDataStoreObject of MS-ONESTORE 2.6.13: a GUID, the
data's length, the data, a closing GUID) is scanned as a member (`notes.one!<embedded file 1>`). OneNote
stores them as they are, so the section's own bytes hold them, but not at the start of a file, where rules,
decoders and the hash list look for what a file is: the 2023 wave of `.one` attachments carried `.hta`,
`.cmd` and executables this way."""

from __future__ import annotations

import uuid

from bucketguard.scanning.blobs import CHUNK, Blob, BlobWriter, Expansion
from bucketguard.scanning.result import Reason

_SECTION = uuid.UUID("7B5C52E4-D88C-4DA7-AEB1-5378D02996D3").bytes_le  # the file header's guidFileType
_STORE_HEADER = uuid.UUID("BDE316E7-2665-4511-A4C4-8D4D0B7A9EAC").bytes_le
_STORE_FOOTER = uuid.UUID("71FBA722-0F79-4A0B-BB13-899256426B24").bytes_le
_DATA_OFFSET = 16 + 8 + 4 + 8  # guidHeader, cbLength, unused, reserved


def is_onenote(head: bytes) -> bool:
    return head.startswith(_SECTION)


def open_onenote(blob: Blob, expansion: Expansion) -> None:
    name = expansion.name
    with blob.mapped() as view:
        number, position = 0, view.find(_STORE_HEADER)
        while position >= 0:
            number += 1
            where = f"{name}!<embedded file {number}>"
            expansion.budget.count_members(1, where)
            start = position + _DATA_OFFSET
            end = start + int.from_bytes(view[position + 16 : position + 24], "little")
            footer = start + -(-(end - start) // 8) * 8
            if end > len(view) or view[footer : footer + 16] != _STORE_FOOTER:
                expansion.visitor.problem(
                    where, Reason.CORRUPT, f"{where}: embedded file runs past its end or has no footer"
                )
                end = min(end, len(view))

            def fill(writer: BlobWriter, start: int = start, end: int = end) -> None:
                for at in range(start, end, CHUNK):
                    writer.write(view[at : min(at + CHUNK, end)])

            member = expansion.expand(where, fill)
            if member is not None:
                expansion.visit(where, member)
            position = view.find(_STORE_HEADER, max(end, position + 1))
