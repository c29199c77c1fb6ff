"""TFRecord files of ``tf.train.Example`` without TensorFlow: a numpy + gzip reader and writer.

Record framing: ``uint64 length | uint32 masked_crc32c(length) | data | uint32 masked_crc32c(data)``
(little endian). ``data`` is a serialised ``Example``; we walk its protobuf wire format directly:
``Example.features (1) -> Features.feature (1, map entries: key (1), value (2)) -> Feature:
bytes_list (1) | float_list (2) | int64_list (3) -> value (1)``.

DeepMind's multi_object_datasets store every pixel as its own 1-byte entry of a ``bytes_list``
(``FixedLenFeature(shape, tf.string)`` + ``decode_raw``); on the wire each entry is
``0x0A 0x01 <byte>``, so such a list decodes with a stride-3 slice (``datasets.md`` section 1.2).
"""

from __future__ import annotations

import gzip
import os
import struct
from pathlib import Path
from typing import IO, Iterator

import numpy as np

from emorl_eval.errors import DataError

# ----------------------------------------------------------------------------- CRC32C (Castagnoli)


def _crc_table() -> np.ndarray:
    table = np.zeros(256, dtype=np.uint32)
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table[i] = c
    return table


_CRC_TABLE_NP = _crc_table()
_CRC_TABLE = _CRC_TABLE_NP.tolist()
_LANES = 1024


def _crc_bytes(crc: int, data: bytes) -> int:
    table = _CRC_TABLE
    for b in data:
        crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc


def _mat_apply(cols: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Apply the GF(2) 32x32 matrix with columns ``cols [32]`` to uint32 vectors ``v``."""
    out = np.zeros_like(v)
    for b in range(32):
        out ^= np.where((v >> np.uint32(b)) & np.uint32(1), cols[b], np.uint32(0))
    return out


def _zeros_operator(nbytes: int) -> np.ndarray:
    """Columns of the linear map 'append ``nbytes`` zero bytes' on the CRC register."""
    one = np.array([1 << b for b in range(32)], dtype=np.uint32)
    step = _CRC_TABLE_NP[one & np.uint32(0xFF)] ^ (one >> np.uint32(8))  # one zero byte
    result = one.copy()  # identity
    power = step
    while nbytes:
        if nbytes & 1:
            result = _mat_apply(power, result)
        nbytes >>= 1
        if nbytes:
            power = _mat_apply(power, power)
    return result


def _crc_register_vectorised(reg: int, data: bytes) -> int:
    """CRC register after ``data`` from ``reg``: the bytes are split into 1024 lanes processed
    side by side with numpy, and the lane CRCs combined with GF(2) shift operators (CRC is
    linear: crc(A + B) = shift_|B|(crc(A)) xor crc_0(B))."""
    n = len(data) // _LANES
    head = len(data) - n * _LANES
    reg = _crc_bytes(reg, data[:head])
    body = np.frombuffer(data, dtype=np.uint8, offset=head).reshape(_LANES, n)
    lanes = np.zeros(_LANES, dtype=np.uint32)
    table = _CRC_TABLE_NP
    for i in range(n):
        lanes = table[(lanes ^ body[:, i]) & np.uint32(0xFF)] ^ (lanes >> np.uint32(8))
    shift = _zeros_operator(n)
    while lanes.size > 1:  # pairwise: (a, b) -> shift_|b|(a) xor b, lane length doubles
        lanes = _mat_apply(shift, lanes[0::2]) ^ lanes[1::2]
        shift = _mat_apply(shift, shift)
    start = _mat_apply(shift, np.array([reg], dtype=np.uint32))[0]
    return int(start ^ lanes[0])


def crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli) of ``data``; uses the ``crc32c`` package when installed."""
    try:
        import crc32c as _fast  # type: ignore

        return _fast.crc32c(data)
    except ImportError:
        pass
    if len(data) < 64 * _LANES:
        return _crc_bytes(0xFFFFFFFF, data) ^ 0xFFFFFFFF
    return _crc_register_vectorised(0xFFFFFFFF, bytes(data)) ^ 0xFFFFFFFF


def masked_crc(data: bytes) -> int:
    """TFRecord's masked CRC-32C."""
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


# ----------------------------------------------------------------------------- protobuf wire format


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, pos
        shift += 7


def _fields(buf: bytes, start: int = 0, end: int | None = None) -> Iterator[tuple[int, int, int, int]]:
    """Yield ``(field_number, wire_type, value_or_start, end)``: for length-delimited fields
    ``buf[value_or_start:end]`` is the payload; for varints the value (end = -1)."""
    pos, end = start, len(buf) if end is None else end
    while pos < end:
        key, pos = _varint(buf, pos)
        field, wire = key >> 3, key & 7
        if wire == 2:
            n, pos = _varint(buf, pos)
            yield field, wire, pos, pos + n
            pos += n
        elif wire == 0:
            value, pos = _varint(buf, pos)
            yield field, wire, value, -1
        elif wire == 5:
            yield field, wire, pos, pos + 4
            pos += 4
        elif wire == 1:
            yield field, wire, pos, pos + 8
            pos += 8
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")


def _bytes_list(buf: bytes, start: int, end: int) -> list[bytes] | np.ndarray:
    """A BytesList: uint8 array when every entry is one byte (the DeepMind pixel layout), else
    a list of bytes."""
    payload = np.frombuffer(buf, dtype=np.uint8, count=end - start, offset=start)
    if payload.size % 3 == 0 and (payload[0::3] == 0x0A).all() and (payload[1::3] == 0x01).all():
        return payload[2::3].copy()
    return [bytes(buf[s:e]) for f, w, s, e in _fields(buf, start, end) if f == 1 and w == 2]


def _float_list(buf: bytes, start: int, end: int) -> np.ndarray:
    out: list[np.ndarray] = []
    for f, w, s, e in _fields(buf, start, end):
        if f == 1:  # packed (wire 2) or one float (wire 5)
            out.append(np.frombuffer(buf, dtype="<f4", count=(e - s) // 4, offset=s))
    return np.concatenate(out).astype(np.float32) if out else np.zeros(0, np.float32)


def _int64_list(buf: bytes, start: int, end: int) -> np.ndarray:
    values: list[int] = []
    for f, w, s, e in _fields(buf, start, end):
        if f != 1:
            continue
        if w == 0:
            values.append(s)
        else:
            pos = s
            while pos < e:
                v, pos = _varint(buf, pos)
                values.append(v)
    arr = np.array(values, dtype=np.uint64)
    return arr.astype(np.int64)  # two's complement for negative values


def parse_example(data: bytes) -> dict[str, np.ndarray | list[bytes]]:
    """Decode a serialised ``tf.train.Example`` into ``{name: values}``: uint8 arrays for 1-byte
    bytes lists, lists of bytes otherwise, float32 / int64 arrays for float / int64 lists."""
    out: dict[str, np.ndarray | list[bytes]] = {}
    for f, w, s, e in _fields(data):
        if f != 1 or w != 2:
            continue
        for f2, w2, s2, e2 in _fields(data, s, e):  # Features.feature map entries
            if f2 != 1 or w2 != 2:
                continue
            key, value = None, None
            for f3, w3, s3, e3 in _fields(data, s2, e2):
                if f3 == 1:
                    key = bytes(data[s3:e3]).decode()
                elif f3 == 2:
                    value = (s3, e3)
            if key is None or value is None:
                continue
            for kind, _, s4, e4 in _fields(data, *value):
                if kind == 1:
                    out[key] = _bytes_list(data, s4, e4)
                elif kind == 2:
                    out[key] = _float_list(data, s4, e4)
                elif kind == 3:
                    out[key] = _int64_list(data, s4, e4)
            out.setdefault(key, np.zeros(0, np.float32))
    return out


# ----------------------------------------------------------------------------- files


def _open(path: Path, compression: str | None) -> IO[bytes]:
    if compression is None:
        with open(path, "rb") as fh:
            magic = fh.read(2)
        compression = "gzip" if magic == b"\x1f\x8b" else ""
    return gzip.open(path, "rb") if compression == "gzip" else open(path, "rb")


def iter_records(path: str | os.PathLike, compression: str | None = None, check_crc: bool = False) -> Iterator[bytes]:
    """Yield the raw records of a TFRecord file (``compression``: ``"gzip"``, ``""`` or None to
    detect from the first bytes). Truncated or corrupt files raise :class:`DataError`."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file")
    try:
        with _open(path, compression) as fh:
            index = 0
            while True:
                header = fh.read(12)
                if not header:
                    return
                if len(header) < 12:
                    raise DataError(f"{path}: truncated TFRecord header at record {index}")
                (length,), (len_crc,) = struct.unpack("<Q", header[:8]), struct.unpack("<I", header[8:])
                if check_crc and masked_crc(header[:8]) != len_crc:
                    raise DataError(f"{path}: bad length checksum at record {index} (not a TFRecord file?)")
                if length > 1 << 31:
                    raise DataError(f"{path}: implausible record length {length} at record {index} (not a TFRecord file?)")
                data = fh.read(length)
                footer = fh.read(4)
                if len(data) < length or len(footer) < 4:
                    raise DataError(f"{path}: truncated record {index}")
                if check_crc and masked_crc(data) != struct.unpack("<I", footer)[0]:
                    raise DataError(f"{path}: bad data checksum at record {index}")
                yield data
                index += 1
    except (OSError, EOFError, gzip.BadGzipFile) as err:
        raise DataError(f"{path}: unreadable TFRecord file ({err})") from None


def read_examples(path: str | os.PathLike, compression: str | None = None, check_crc: bool = False) -> Iterator[dict]:
    """Yield decoded examples (see :func:`parse_example`) of a TFRecord file."""
    for i, record in enumerate(iter_records(path, compression, check_crc)):
        try:
            yield parse_example(record)
        except (ValueError, IndexError) as err:
            raise DataError(f"{path}: record {i} is not a tf.train.Example ({err})") from None


# ----------------------------------------------------------------------------- writing (tests, fixtures)


def _encode_varint(value: int) -> bytes:
    out = bytearray()
    value &= (1 << 64) - 1
    while True:
        b = value & 0x7F
        value >>= 7
        if value:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    return _encode_varint((number << 3) | 2) + _encode_varint(len(payload)) + payload


def encode_feature(value) -> bytes:
    """A ``Feature`` message: uint8 arrays become 1-byte bytes lists (the DeepMind layout),
    ``bytes``/lists of bytes bytes lists, float arrays float lists, other ints int64 lists."""
    if isinstance(value, (bytes, bytearray)):
        value = [bytes(value)]
    if isinstance(value, list) and all(isinstance(v, (bytes, bytearray)) for v in value):
        body = b"".join(_field(1, bytes(v)) for v in value)
        return _field(1, body)
    arr = np.asarray(value)
    if arr.dtype == np.uint8:
        flat = arr.ravel()
        payload = np.empty(flat.size * 3, dtype=np.uint8)
        payload[0::3], payload[1::3], payload[2::3] = 0x0A, 0x01, flat
        return _field(1, payload.tobytes())
    if np.issubdtype(arr.dtype, np.floating):
        return _field(2, _field(1, arr.astype("<f4").ravel().tobytes()))
    if np.issubdtype(arr.dtype, np.integer) or arr.dtype == bool:
        packed = b"".join(_encode_varint(int(v)) for v in arr.ravel())
        return _field(3, _field(1, packed))
    raise TypeError(f"cannot encode a feature of dtype {arr.dtype}")


def encode_example(features: dict) -> bytes:
    """Serialise ``{name: value}`` as a ``tf.train.Example`` (see :func:`encode_feature`)."""
    entries = b"".join(_field(1, _field(1, k.encode()) + _field(2, encode_feature(v)))
                       for k, v in features.items())
    return _field(1, entries)


def write_tfrecord(path: str | os.PathLike, examples, compression: str = "gzip") -> Path:
    """Write ``examples`` (an iterable of feature dicts) as a TFRecord file (gzip by default)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fh_ctx = gzip.open(path, "wb", compresslevel=6) if compression == "gzip" else open(path, "wb")
    with fh_ctx as fh:
        for features in examples:
            data = encode_example(features)
            header = struct.pack("<Q", len(data))
            fh.write(header + struct.pack("<I", masked_crc(header)) + data + struct.pack("<I", masked_crc(data)))
    return path
