"""Microsoft cabinets (`.cab`, and the cabinets inside MSI packages) with cabarchive: stored and MSZIP
folders are extracted; LZX and Quantum are recognised and `unsupported`."""

from __future__ import annotations

from bucketguard.scanning.blobs import Blob, Expansion, corrupt, read_whole
from bucketguard.scanning.limits import ContainerProblem, ScanProblem
from bucketguard.scanning.result import Reason

MAGIC = b"MSCF\x00\x00\x00\x00"


def is_cab(head: bytes) -> bool:
    return head.startswith(MAGIC)


def open_cab(blob: Blob, expansion: Expansion) -> None:
    import cabarchive  # imported when a cabinet turns up: most scans never need it (cold start)

    name, budget = expansion.name, expansion.budget
    room = budget.limits.max_members - budget.members
    copies: dict[str, int] = {}

    class EveryMember(cabarchive.CabArchive):
        """cabarchive files members by name: a second member of one name would replace the first, unread.
        Each is held until the whole cabinet is parsed, so the member cap is checked as they come."""

        def __setitem__(self, key: str, val: cabarchive.CabFile) -> None:
            if len(self) >= room:
                budget.count_members(len(self) + 1, name)
            unique = key
            while unique in self:  # counted on from the last copy: 20,000 of one name took a minute
                copies[key] = copies.get(key, 1) + 1
                unique = f"{key}#{copies[key]}"
            super().__setitem__(unique, val)

    archive = EveryMember()
    try:
        archive.parse(read_whole(blob, name, "cabinet"))
    except ScanProblem:
        raise
    except cabarchive.NotSupportedError as exc:
        raise ContainerProblem(Reason.UNSUPPORTED, f"{name}: cabinet not decodable here: {exc}") from None
    except Exception as exc:
        raise corrupt(name, "cabinet", exc) from None
    for file_name, entry in archive.items():
        expansion.emit(f"{name}!{file_name}", entry.buf or b"")
