"""PDF: every stream decoded through its filter chain and scanned as a member (`doc.pdf!<object 12>`).

Streams are found by their `stream` ... `endstream` keywords rather than through the cross-reference table,
which attackers damage on purpose and readers repair: object streams and embedded files are streams like
any other. The objects an object stream holds (PDF 1.5's compressed objects: catalog, actions, scripts) are
judged with the rest of the document: the PDF's bytes outside its streams followed by every object stream's
contents are scanned as one more member (`doc.pdf!<objects>`), so a rule that needs the PDF header, or an
/OpenAction in the catalog and the /JavaScript it runs in an object stream, sees them together. FlateDecode is
inflated under the limits; ASCIIHex, ASCII85, LZW and RunLength are decoded with
pypdf's filters. Image codecs (DCT, JPX, JBIG2, CCITT) are left as they are: their bytes are the PDF's own.
An encrypted PDF's streams cannot be read: `encrypted`. A Flate or LZW step's PNG or TIFF predictor
(/DecodeParms /Predictor) is undone with pypdf's code, in memory, so what a rule reads is the stream's real
content (images excepted: their pixels are left as they are).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from bucketguard.scanning.blobs import DECODE_IN_MEMORY_MAX, Blob, Expansion, corrupt, read_whole
from bucketguard.scanning.formats.streams import inflate
from bucketguard.scanning.limits import ContainerProblem
from bucketguard.scanning.result import Reason

_STREAM = re.compile(rb"stream(?:\r\n|\n|\r)")
_FILTERS = re.compile(rb"/Filter\s*(?:\[([^\]]*)\]|(/[A-Za-z0-9]+))")
_NAME = re.compile(rb"/([A-Za-z0-9]+)")
_LENGTH = re.compile(rb"/Length\s+(\d+)(?!\s+\d+\s+R)")
_OBJECT = re.compile(rb"(\d+)\s+\d+\s+obj\b")
_IMAGE_CODECS = {b"DCTDecode", b"DCT", b"JPXDecode", b"JBIG2Decode", b"CCITTFaxDecode", b"CCF"}
_SMALL_DECODE_MAX = 4 << 20  # LZW and RunLength expand in memory: longer inputs are not decoded
_DECODE_PARMS = re.compile(rb"/DecodeParms\s*(?:\[((?:\s*(?:null|<<[^<>]*>>))*)\s*\]|(<<[^<>]*>>))")
_PARMS_ITEM = re.compile(rb"null|<<([^<>]*)>>")
_PARAMETER = re.compile(rb"/(Predictor|Columns|Colors|BitsPerComponent)\s+(\d{1,9})\b")
_IMAGE = re.compile(rb"/Subtype\s*/Image\b")
_OBJECT_STREAM = re.compile(rb"/Type\s*/ObjStm\b")
# A name may spell any character as #xx (`/Encr#79pt` is /Encrypt to every reader): dictionaries are read
# with their names' escapes undone, and the encryption key is looked for spelt either way.
_NAME_ESCAPE = re.compile(rb"#([0-9A-Fa-f]{2})")
_ENCRYPT = re.compile(
    rb"/"
    + b"".join(rb"(?:%c|#(?i:%02x))" % (char, char) for char in b"Encrypt")
    + rb"\s*(?:\d+\s+\d+\s+R|<<)"
)


def is_pdf(head: bytes) -> bool:
    return b"%PDF-" in head[:1024]


def _pypdf_filter(name: str) -> Callable[[bytes], bytes]:
    def decode(data: bytes) -> bytes:
        from pypdf import filters

        result: bytes = getattr(filters, name).decode(data)
        return result

    return decode


_DECODERS: dict[bytes, Callable[[bytes], bytes]] = {
    b"ASCIIHexDecode": _pypdf_filter("ASCIIHexDecode"),
    b"AHx": _pypdf_filter("ASCIIHexDecode"),
    b"ASCII85Decode": _pypdf_filter("ASCII85Decode"),
    b"A85": _pypdf_filter("ASCII85Decode"),
    b"LZWDecode": _pypdf_filter("LZWDecode"),
    b"LZW": _pypdf_filter("LZWDecode"),
    b"RunLengthDecode": _pypdf_filter("RunLengthDecode"),
    b"RL": _pypdf_filter("RunLengthDecode"),
}
_FLATE = {b"FlateDecode", b"Fl"}


def open_pdf(blob: Blob, expansion: Expansion) -> None:
    name = expansion.name
    data = read_whole(blob, name, "PDF")
    if _ENCRYPT.search(data):
        raise ContainerProblem(Reason.ENCRYPTED, f"{name}: encrypted PDF: its streams cannot be read")
    outside_streams: list[bytes] = []
    object_streams: list[bytes] = []
    outside_from = 0
    for match in _STREAM.finditer(data):
        start = match.end()
        dictionary_start = data.rfind(b"obj", 0, match.start())
        dictionary = data[dictionary_start : match.start()] if dictionary_start >= 0 else b""
        dictionary = _NAME_ESCAPE.sub(lambda escape: bytes([int(escape.group(1), 16)]), dictionary)
        if not dictionary.rstrip().endswith(b">>"):
            continue  # the word "stream" inside some other object
        number = _OBJECT.findall(data[max(dictionary_start - 24, 0) : dictionary_start + 3])
        where = f"{name}!<object {number[-1].decode() if number else start}>"
        length = _LENGTH.search(dictionary)
        end = start + int(length.group(1)) if length else -1
        if not (0 <= end <= len(data) and data[end : end + 40].lstrip().startswith(b"endstream")):
            end = data.find(b"endstream", start)
            end = len(data) if end < 0 else end
        filters = _filters(dictionary)
        parameters = [] if _IMAGE.search(dictionary) else _decode_parameters(dictionary, len(filters))
        holds_objects = _OBJECT_STREAM.search(dictionary) is not None
        decoded = _decode_stream(data[start:end], filters, parameters, where, expansion, holds_objects)
        if decoded is not None:
            object_streams.append(decoded)
        if start >= outside_from:  # not a stream keyword inside a stream's data
            # without the keyword: the view holds no stream to decode again
            outside_streams.append(data[outside_from : match.start()])
            outside_from = end
    if object_streams:
        objects = b"".join([*outside_streams, data[outside_from:], b"\n", b"\n".join(object_streams)])
        expansion.emit(f"{name}!<objects>", objects)


def _filters(dictionary: bytes) -> list[bytes]:
    found = _FILTERS.search(dictionary)
    if found is None:
        return []
    return [match.group(1) for match in _NAME.finditer(found.group(1) or found.group(2))]


def _decode_parameters(dictionary: bytes, filter_count: int) -> list[dict[str, int]]:
    """The /DecodeParms of each filter (one dictionary, or an array with one entry per filter)."""
    found = _DECODE_PARMS.search(dictionary)
    if found is None:
        return []
    items = [match.group(1) or b"" for match in _PARMS_ITEM.finditer(found.group(1) or found.group(2))]
    if found.group(2) is not None:
        items = items * filter_count
    return [{name.decode(): int(value) for name, value in _PARAMETER.findall(item)} for item in items]


def _unpredict(data: bytes, parameters: dict[str, int]) -> bytes:
    """Undo a PNG or TIFF predictor with pypdf, which does it only inside its Flate decoder: the bytes are
    handed to it as a stored (uncompressed) zlib stream. Its own limits on rows and columns apply."""
    import zlib

    from pypdf.filters import FlateDecode
    from pypdf.generic import DictionaryObject, NameObject, NumberObject

    decode_parms = DictionaryObject(
        {NameObject(f"/{name}"): NumberObject(value) for name, value in parameters.items()}
    )
    result: bytes = FlateDecode.decode(zlib.compress(data, 0), decode_parms)
    return result


def _decode_stream(
    raw: bytes,
    filters: list[bytes],
    parameters: list[dict[str, int]],
    where: str,
    expansion: Expansion,
    in_memory: bool = False,
) -> bytes | None:
    """Scan the stream's decoded bytes as a member; with `in_memory`, decode it whole and return them."""
    # No end-of-line is stripped: an encoded stream's last byte may be CR or LF (a zlib checksum often is),
    # and every decoder here stops at its own end marker, so the EOL before `endstream` does no harm.
    data = raw
    for position, kind in enumerate(filters):
        if kind in _IMAGE_CODECS:
            break
        predicted = position < len(parameters) and parameters[position].get("Predictor", 1) > 1
        if kind in _FLATE and position == len(filters) - 1 and not (predicted or in_memory):
            inflate(expansion, where, data)  # bounded: the last (usual) step inflates into the member
            return None
        try:
            if kind in _FLATE:
                whole = predicted or in_memory
                data = _inflate_small(data, DECODE_IN_MEMORY_MAX if whole else _SMALL_DECODE_MAX)
            elif kind in _DECODERS and len(data) <= _SMALL_DECODE_MAX:
                data = _DECODERS[kind](data)
            elif kind == b"Crypt":
                raise ContainerProblem(Reason.ENCRYPTED, f"{where}: encrypted stream")
            else:
                why = f"filter /{kind.decode('latin-1')} on {len(data)} bytes is not decoded here"
                raise ContainerProblem(Reason.UNSUPPORTED, f"{where}: {why}")
            if predicted and kind in (*_FLATE, b"LZWDecode", b"LZW"):
                data = _unpredict(data, parameters[position])
        except ContainerProblem as problem:
            expansion.problem(where, problem)
            return None
        except Exception as exc:
            expansion.problem(where, corrupt(where, "PDF stream", exc))
            return None
    if data:
        expansion.emit(where, data)
    return data if in_memory else None


def _inflate_small(data: bytes, limit: int) -> bytes:
    """A Flate step decoded in memory (before another filter or a predictor), no further than `limit`."""
    import zlib

    decoder = zlib.decompressobj()
    out = decoder.decompress(data, limit)
    if decoder.unconsumed_tail:
        raise ContainerProblem(Reason.RATIO_EXCEEDED, f"inflates past {limit} bytes in memory")
    return out
