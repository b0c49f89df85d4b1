"""UPX-packed Windows executables unpacked in pure Python: the NRV2B, NRV2D and NRV2E methods (UCL's
decoders, little-endian 32-bit bit buffers), checked against both Adler-32 checksums of UPX's header.

UPX writes its header (`UPX!`, method, both sizes and checksums) after the section table and the compressed
image at the start of its second section. What comes out is the image UPX compressed (sections, imports
and resources), scanned as a member of its own; the call targets UPX's filter rewrote in the code are left
as they are (the bytes a rule would match in code may differ from the original program's, strings do not).
A header that does not check out, another method (LZMA) or a second packer means the code stays `packed`.
"""

from __future__ import annotations

import mmap
import struct
import zlib
from dataclasses import dataclass

from bucketguard.scanning.blobs import DECODE_IN_MEMORY_MAX

MAGIC = b"UPX!"
_HEADER = struct.Struct(
    "<4s4B5I"
)  # magic, version, format, method, level, u_adler, c_adler, u_len, c_len, size
_METHODS = {2: "b", 5: "d", 8: "e"}  # NRV2B_LE32, NRV2D_LE32, NRV2E_LE32
_END = 0xFFFFFFFF


class UnpackError(ValueError):
    """The packed data does not decode to what UPX's header says."""


@dataclass(frozen=True)
class PackHeader:
    method: int
    unpacked_adler: int
    packed_adler: int
    unpacked_size: int
    packed_size: int

    @classmethod
    def find(cls, data: bytes | mmap.mmap, within: int) -> PackHeader | None:
        at = data.find(MAGIC, 0, within)
        if at < 0 or at + _HEADER.size > len(data):
            return None
        _, _, _, method, _, u_adler, c_adler, u_len, c_len, _ = _HEADER.unpack_from(data, at)
        return cls(method, u_adler, c_adler, u_len, c_len)


def unpack(data: bytes | mmap.mmap, header: PackHeader, start: int) -> bytes:
    """The image UPX compressed at `start` of `data`, verified by its checksums."""
    if header.method not in _METHODS:
        raise UnpackError(f"UPX method {header.method} is not decoded here")
    if header.unpacked_size > DECODE_IN_MEMORY_MAX:
        raise UnpackError(f"declares {header.unpacked_size} bytes unpacked")
    packed = data[start : start + header.packed_size]
    if len(packed) != header.packed_size or zlib.adler32(packed) != header.packed_adler:
        raise UnpackError("packed data does not match UPX's checksum")
    image = _decompress(packed, header.unpacked_size, _METHODS[header.method])
    if len(image) != header.unpacked_size or zlib.adler32(image) != header.unpacked_adler:
        raise UnpackError("unpacked image does not match UPX's checksum")
    return image


class _Bits:
    """UCL's LE32 bit reader: 32-bit little-endian words, most significant bit first."""

    def __init__(self, src: bytes) -> None:
        self.src = src
        self.position = 0
        self.word = 0
        self.left = 0

    def bit(self) -> int:
        if self.left == 0:
            if self.position + 4 > len(self.src):
                raise UnpackError("packed data ends early")
            self.word = int.from_bytes(self.src[self.position : self.position + 4], "little")
            self.position += 4
            self.left = 32
        self.left -= 1
        return (self.word >> self.left) & 1

    def byte(self) -> int:
        if self.position >= len(self.src):
            raise UnpackError("packed data ends early")
        self.position += 1
        return self.src[self.position - 1]

    def gamma(self, value: int, interleaved: bool) -> int:
        """UCL's variable-length numbers (NRV2D/E interleave one more bit per step)."""
        while True:
            value = value * 2 + self.bit()
            if value > _END:
                raise UnpackError("number out of range")
            if self.bit():
                return value
            if interleaved:
                value = (value - 1) * 2 + self.bit()


def _decompress(src: bytes, limit: int, method: str) -> bytes:
    bits, out, last_offset = _Bits(src), bytearray(), 1
    nrv2b = method == "b"
    while True:
        while bits.bit():
            out.append(bits.byte())
        offset = bits.gamma(1, interleaved=not nrv2b)
        length = 0
        if offset == 2:
            offset = last_offset
            length = 0 if nrv2b else bits.bit()
        else:
            offset = ((offset - 3) * 256 + bits.byte()) & _END
            if offset == _END:
                return bytes(out)
            if not nrv2b:
                length, offset = (offset ^ 1) & 1, offset >> 1
            last_offset = offset = offset + 1
        if method == "e":
            if length:
                length = 1 + bits.bit()
            elif bits.bit():
                length = 3 + bits.bit()
            else:
                length = bits.gamma(1, interleaved=False) + 3
            length += offset > 0x500
        else:
            length = length * 2 + bits.bit() if not nrv2b else bits.bit() * 2 + bits.bit()
            if length == 0:
                length = bits.gamma(1, interleaved=False) + 2
            length += offset > (0xD00 if nrv2b else 0x500)
        start = len(out) - offset
        if start < 0 or len(out) + length + 1 > limit:
            raise UnpackError("packed data points outside the image")
        for index in range(start, start + length + 1):  # may overlap what it writes
            out.append(out[index])
