"""Our TF-free TFRecord reader against our writer, known CRC values and hand-made bytes."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest

from emorl_eval.data.tfrecord import (crc32c, encode_example, iter_records, masked_crc, parse_example,
                                      read_examples, write_tfrecord)
from emorl_eval.errors import DataError


def test_crc32c_known_vectors():
    # RFC 3720 / iSCSI check values
    assert crc32c(b"123456789") == 0xE3069283
    assert crc32c(bytes(32)) == 0x8A9136AA
    assert crc32c(bytes([0xFF] * 32)) == 0x62A8AB43


def test_hand_encoded_example():
    # Example{features{feature{key:"a" value{float_list{value:[1.0]}}}}} written byte by byte
    float_list = b"\x0a\x04" + struct.pack("<f", 1.0)          # FloatList.value packed
    feature = b"\x12" + bytes([len(float_list)]) + float_list    # Feature.float_list = 2
    entry = b"\x0a\x01a" + b"\x12" + bytes([len(feature)]) + feature
    features = b"\x0a" + bytes([len(entry)]) + entry
    example = b"\x0a" + bytes([len(features)]) + features
    assert example == encode_example({"a": np.array([1.0], np.float32)})
    out = parse_example(example)
    np.testing.assert_array_equal(out["a"], [1.0])


def test_round_trip_all_feature_kinds(tmp_path):
    rng = np.random.default_rng(0)
    examples = [{
        "image": rng.integers(0, 256, (35, 35, 3), dtype=np.uint8),
        "mask": (rng.integers(0, 2, (4, 35, 35, 1)) * 255).astype(np.uint8),
        "x": rng.normal(size=4).astype(np.float32),
        "ids": np.array([0, 5, -3, 2**40]),
        "names": [b"cube", b"sphere"],
    } for _ in range(3)]
    for compression in ("gzip", ""):
        path = write_tfrecord(tmp_path / f"f{compression}.tfrecords", examples, compression=compression)
        got = list(read_examples(path, check_crc=True))
        assert len(got) == 3
        for a, b in zip(got, examples):
            np.testing.assert_array_equal(a["image"], b["image"].ravel())
            np.testing.assert_array_equal(a["mask"], b["mask"].ravel())
            np.testing.assert_array_equal(a["x"], b["x"])
            np.testing.assert_array_equal(a["ids"], b["ids"])
            assert a["names"] == b["names"]


def test_zero_bytes_survive(tmp_path):
    # a known pitfall of other readers: NUL bytes dropped from 1-byte string lists
    img = np.zeros(12, np.uint8)
    img[5] = 7
    path = write_tfrecord(tmp_path / "z.tfrecords", [{"image": img}])
    np.testing.assert_array_equal(next(read_examples(path))["image"], img)


def test_framing_and_checksums(tmp_path):
    path = write_tfrecord(tmp_path / "p.tfrecords", [{"a": np.array([1.5], np.float32)}], compression="")
    raw = path.read_bytes()
    (length,) = struct.unpack("<Q", raw[:8])
    assert len(raw) == 8 + 4 + length + 4
    assert struct.unpack("<I", raw[8:12])[0] == masked_crc(raw[:8])
    assert struct.unpack("<I", raw[-4:])[0] == masked_crc(raw[12:12 + length])
    bad = bytearray(raw)
    bad[14] ^= 0xFF
    (tmp_path / "bad.tfrecords").write_bytes(bytes(bad))
    with pytest.raises(DataError, match="bad data checksum"):
        list(iter_records(tmp_path / "bad.tfrecords", check_crc=True))


def test_bad_files(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        list(iter_records(tmp_path / "none.tfrecords"))
    path = write_tfrecord(tmp_path / "t.tfrecords", [{"a": np.arange(100, dtype=np.uint8)}])
    data = gzip.decompress(path.read_bytes())
    (tmp_path / "cut.tfrecords").write_bytes(gzip.compress(data[:-10]))
    with pytest.raises(DataError, match="truncated record 0"):
        list(iter_records(tmp_path / "cut.tfrecords"))
    (tmp_path / "text.tfrecords").write_bytes(b"hello, this is not a tfrecord file at all" * 3)
    with pytest.raises(DataError, match="not a TFRecord file"):
        list(iter_records(tmp_path / "text.tfrecords"))


def test_vectorised_crc_equals_bytewise_loop():
    from emorl_eval.data.tfrecord import _crc_bytes, _crc_register_vectorised

    data = np.random.default_rng(1).integers(0, 256, 70_001, dtype=np.uint8).tobytes()
    assert _crc_register_vectorised(0xFFFFFFFF, data) == _crc_bytes(0xFFFFFFFF, data)
    assert _crc_register_vectorised(0x12345678, data[:5000]) == _crc_bytes(0x12345678, data[:5000])


def test_round_trip_property():
    from hypothesis import given, settings
    from hypothesis import strategies as st
    from hypothesis.extra.numpy import arrays

    names = st.text(alphabet="abcdefghij_", min_size=1, max_size=8)
    values = st.one_of(
        arrays(np.uint8, st.integers(0, 40)),
        arrays(np.float32, st.integers(0, 10), elements=st.floats(-1e6, 1e6, width=32)),
        st.lists(st.integers(-2**62, 2**62), max_size=10).map(lambda v: np.array(v, dtype=np.int64)),
        st.lists(st.binary(min_size=2, max_size=6), min_size=1, max_size=4),
    )

    @settings(max_examples=60, deadline=None)
    @given(st.dictionaries(names, values, max_size=4))
    def check(features):
        parsed = parse_example(encode_example(features))
        assert set(parsed) == set(features)
        for key, value in features.items():
            got = parsed[key]
            if isinstance(value, list):
                assert got == value or (all(len(v) == 1 for v in value) and bytes(got) == b"".join(value))
            else:
                np.testing.assert_array_equal(np.asarray(got).astype(value.dtype), value)

    check()
