"""Executables: PE (with pefile), ELF and Mach-O.

What an executable carries past its last section (its overlay: a self-extractor's archive, an installer's
data) is scanned as a member of its own, so a zip, 7z or compound file glued to a stub is opened. An
executable whose code is packed (UPX and the other common packers, recognised by their section names, by an
entry point in a section both writable and executable whose bytes look compressed, or by the packer's
marker) and an installer whose payload is not decoded here (NSIS, Inno Setup, InstallShield, AutoIt) are
`packed`: the rules cannot see the code that would run. NSIS installers are unpacked by the 7-Zip program
where it is installed.
"""

from __future__ import annotations

import math
import mmap
from collections import Counter
from typing import TYPE_CHECKING

from bucketguard.scanning.blobs import Blob, Expansion, corrupt
from bucketguard.scanning.formats import autoit, seven_zip_program, upx
from bucketguard.scanning.limits import ContainerProblem
from bucketguard.scanning.result import Reason

if TYPE_CHECKING:  # pefile is imported when an executable turns up (cold start)
    import pefile

ELF_MAGIC = b"\x7fELF"
MACHO_MAGICS = (b"\xfe\xed\xfa\xce", b"\xfe\xed\xfa\xcf", b"\xce\xfa\xed\xfe", b"\xcf\xfa\xed\xfe")

# Section names the common packers and protectors give their sections (lower case).
_PACKER_SECTIONS = {
    "upx0": "UPX", "upx1": "UPX", "upx2": "UPX", ".upx": "UPX",
    ".aspack": "ASPack", ".adata": "ASPack", "mew": "MEW", ".petite": "Petite", ".wwp32": "WWPack",
    "yc": "yC", ".yp": "yC", "kungbim": "PESpin", ".taz": "PESpin", ".upack": "Upack", ".packed": "RLPack",
    ".rlpack": "RLPack", ".mpress1": "MPRESS", ".mpress2": "MPRESS", ".nsp0": "NsPack", ".nsp1": "NsPack",
    "pec2": "PECompact", "pecompact2": "PECompact", ".themida": "Themida", ".vmp0": "VMProtect",
    ".vmp1": "VMProtect", ".enigma1": "Enigma", ".enigma2": "Enigma", "fsg!": "FSG", ".perplex": "Perplex",
}  # fmt: skip
_DOS_HEADER_SIZE = 0x40
_NSIS = "NSIS installer"
_UPX = "packed executable (UPX)"  # UPX alone: unpacked here when its header checks out
# Installers and compiled scripts whose payload is not decoded here, by a marker in their bytes.
_INSTALLER_MARKERS = (
    (b"\xef\xbe\xad\xdeNullsoftInst", _NSIS),
    (b"Inno Setup Setup Data", "Inno Setup installer"),
    (b"AU3!EA05", autoit.WHAT),
    (b"AU3!EA06", autoit.WHAT),
    (b"ISSetupStream", "InstallShield installer"),
    (b"InstallShield\x00", "InstallShield installer"),
)
_ENTROPY_SAMPLE = 1 << 20
_WRITABLE_CODE = 0x80000000 | 0x20000000  # IMAGE_SCN_MEM_WRITE | IMAGE_SCN_MEM_EXECUTE
_COMPRESSED_ENTROPY = 7.0  # bits per byte: compressed or encrypted code, not compiled code


def is_executable(head: bytes) -> bool:
    if head.startswith(b"MZ") and len(head) >= 64:
        pe = int.from_bytes(head[60:64], "little")
        return pe >= len(head) or head[pe : pe + 4] == b"PE\x00\x00"  # (a far header is checked by pefile)
    return head.startswith((ELF_MAGIC, *MACHO_MAGICS))


def open_executable(blob: Blob, expansion: Expansion) -> None:
    name = expansion.name
    installer = None
    with blob.local(expansion.work_dir) as view:  # pefile parses one buffer
        if view[:2] != b"MZ":
            why = "UPX" if view.find(b"UPX!", 0, 4096) >= 0 else None
        else:
            import pefile

            try:
                pe = pefile.PE(data=view, fast_load=True)
            except pefile.PEFormatError:
                return  # an MZ header without a PE: a DOS program or not an executable at all
            except Exception as exc:
                raise corrupt(name, "executable", exc) from None
            with pe:
                overlay = pe.get_overlay_data_start_offset()
                why = _packer(pe)
                if why == _UPX:
                    why = _unpack_upx(pe, view, expansion)
            if overlay is not None:
                expansion.unattributed(view, overlay, len(view))
            installer = None if why else _installer(view)
            if installer == autoit.WHAT:
                why, installer = autoit.extract(view, expansion), None
    if installer == _NSIS:  # the 7-Zip program unpacks it where installed (else `unsupported`)
        seven_zip_program.extract(blob, expansion, "Nsis")
    elif installer is not None:
        why = installer
    if why is not None:
        raise ContainerProblem(Reason.PACKED, f"{name}: {why}: what it runs is not unpacked here")


def _packer(pe: pefile.PE) -> str | None:
    labels = [section.Name.split(b"\x00", 1)[0] for section in pe.sections]
    packers = sorted(
        {_PACKER_SECTIONS[label] for raw in labels if (label := _label(raw)) in _PACKER_SECTIONS}
    )
    if pe.DOS_HEADER.e_lfanew < _DOS_HEADER_SIZE:  # Upack's PE header overlaps the DOS header
        packers.append("Upack")
    if any(byte < 0x20 or byte > 0x7E for raw in labels for byte in raw):
        packers.append("section names no linker writes")
    if packers:
        return f"packed executable ({', '.join(packers)})"
    entry = pe.OPTIONAL_HEADER.AddressOfEntryPoint
    for section in pe.sections:
        writable_code = section.Characteristics & _WRITABLE_CODE == _WRITABLE_CODE
        compressed = _entropy(section.get_data(length=_ENTROPY_SAMPLE)) > _COMPRESSED_ENTROPY
        if writable_code and section.contains_rva(entry) and compressed:
            return "packed executable (compressed code in a writable entry section)"
    return None


def _label(raw: bytes) -> str:
    return raw.decode("latin-1").strip().lower()


def _unpack_upx(pe: pefile.PE, view: bytes | mmap.mmap, expansion: Expansion) -> str | None:
    """Scan the image UPX packed (and the AutoIt script it may hold); say why not when it cannot."""
    header = upx.PackHeader.find(view, pe.OPTIONAL_HEADER.SizeOfHeaders)
    packed = next((section for section in pe.sections if section.SizeOfRawData), None)
    if header is None or packed is None:
        return f"{_UPX}: no UPX header"
    try:
        image = upx.unpack(view, header, packed.PointerToRawData)
    except upx.UnpackError as exc:
        return f"{_UPX}: {exc}"
    expansion.emit(f"{expansion.name}!<UPX-unpacked image>", image)
    return autoit.extract(image, expansion) if autoit.MARKER in image else None


def _installer(view: bytes | mmap.mmap) -> str | None:
    return next((what for marker, what in _INSTALLER_MARKERS if view.find(marker) >= 0), None)


def _entropy(data: bytes) -> float:
    if not data:
        return 0.0
    counts = Counter(data)
    return -sum(count / len(data) * math.log2(count / len(data)) for count in counts.values())
