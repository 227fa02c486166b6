"""The .cemb file format: round trips, golden files, atomic writes, corruption errors."""

from __future__ import annotations

import json
import os
import struct
import sys
from pathlib import Path

import numpy as np
import pytest

import compactemb
from compactemb import DenseTable, FormatError, InputError, KeyedVectors, load
from compactemb.storage import read_file, write_file

GOLDEN = Path(__file__).parent / "data" / "golden" / "v1"


def test_golden_files_load_with_known_values():
    kv = load(GOLDEN / "keyed_vectors.cemb")
    assert isinstance(kv, KeyedVectors)
    assert kv.vocab.keys == ["alpha", "beta", "γάμμα"]
    assert kv.vocab.counts.tolist() == [5, 3, 2]
    np.testing.assert_array_equal(kv.table.weights, [[1.0, -2.0], [0.5, 4.0], [-3.25, 6.0]])
    assert kv.meta == {"trainer": "golden", "quality": {"note": "fixed values"}}
    half = load(GOLDEN / "table_float16.cemb", mmap=True)
    assert half.dtype == "float16" and half.weights.dtype == np.float16
    np.testing.assert_array_equal(half.weights, np.array([[1.5, 2.0, -0.25]], np.float16))


def test_golden_bytes_are_reproduced(tmp_path, monkeypatch):
    """Saving the golden objects gives the committed bytes: the format is pinned."""
    sys.path.insert(0, str(GOLDEN.parent))
    try:
        from make_golden import golden_objects
    finally:
        sys.path.pop(0)
    monkeypatch.setattr(compactemb, "__version__", "0.1.0")
    kv, half = golden_objects()
    kv.save(tmp_path / "kv.cemb")
    half.save(tmp_path / "h.cemb", meta={"golden": True})
    assert (tmp_path / "kv.cemb").read_bytes() == (GOLDEN / "keyed_vectors.cemb").read_bytes()
    assert (tmp_path / "h.cemb").read_bytes() == (GOLDEN / "table_float16.cemb").read_bytes()


def test_layout_is_as_documented():
    raw = (GOLDEN / "keyed_vectors.cemb").read_bytes()
    magic, version, crc, hlen, total = struct.unpack("<8sIIQQ", raw[:32])
    assert magic == b"CEMBFILE" and version == 1 and total == len(raw)
    header = json.loads(raw[32:32 + hlen])
    assert header["kind"] == "keyed_vectors"
    e = header["arrays"]["table/weights"]
    assert e["offset"] % 64 == 0
    got = np.frombuffer(raw, dtype=e["dtype"], count=6, offset=e["offset"]).reshape(3, 2)
    assert got[2, 0] == -3.25


def test_round_trip_all_dtypes_and_empty(tmp_path):
    arrays = {"a/f4": np.arange(12, dtype=np.float32).reshape(3, 4),
              "a/u1": np.frombuffer(b"xyz", dtype=np.uint8), "b/i8": np.array([-1, 2**40]),
              "b/empty": np.zeros((0, 5), np.float32), "c/bool": np.array([True, False])}
    write_file(tmp_path / "x.cemb", "test", arrays, meta={"v": [1, 2.5, None]})
    for mmap in (False, True):
        st = read_file(tmp_path / "x.cemb", mmap_mode=mmap)
        assert st.meta == {"v": [1, 2.5, None]}
        for k, v in arrays.items():
            np.testing.assert_array_equal(st.arrays[k], v)
            assert st.arrays[k].dtype == v.dtype and st.arrays[k].shape == v.shape


def test_object_arrays_are_refused(tmp_path):
    with pytest.raises(InputError, match="numeric only"):
        write_file(tmp_path / "x.cemb", "test", {"o": np.array([object()], dtype=object)})
    assert not (tmp_path / "x.cemb").exists()


def test_crash_mid_save_keeps_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "t.cemb"
    DenseTable(np.ones((4, 3), np.float32)).save(path)
    before = path.read_bytes()

    class Boom(Exception):
        pass

    real = os.fsync

    def failing_fsync(fd):
        raise Boom("disk full")

    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(Boom):
        DenseTable(np.zeros((100, 3), np.float32)).save(path)
    monkeypatch.setattr(os, "fsync", real)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.cemb"]  # no temp file left


def _corrupt(tmp_path, mutate):
    src = (GOLDEN / "keyed_vectors.cemb").read_bytes()
    path = tmp_path / "bad.cemb"
    path.write_bytes(mutate(bytearray(src)))
    return path


@pytest.mark.parametrize("mutate,match", [
    (lambda b: b[:20], "truncated"),
    (lambda b: b[:-10], "truncated: .* bytes on disk"),
    (lambda b: b + b"junk", "trailing data"),
    (lambda b: b"PK\x03\x04" + b[4:], "not a compactemb file"),
    (lambda b: b[:8] + struct.pack("<I", 99) + b[12:], "version 99 is not supported"),
    (lambda b: b[:40] + bytes([b[40] ^ 0xFF]) + b[41:], "header checksum"),
    (lambda b: b[:-5] + bytes([b[-5] ^ 0x01]) + b[-4:], "checksum mismatch"),
    (lambda b: b"", "truncated"),
])
def test_corrupt_files_give_clear_errors(tmp_path, mutate, match):
    path = _corrupt(tmp_path, mutate)
    with pytest.raises(FormatError, match=match) as err:
        load(path)
    assert str(path) in str(err.value)


def test_corrupt_array_detected_even_when_mmapped(tmp_path):
    path = _corrupt(tmp_path, lambda b: b[:1300] + bytes([b[1300] ^ 0x10]) + b[1301:])
    with pytest.raises(FormatError, match="checksum mismatch"):
        load(path, mmap=True)
    kv = load(path, verify=False)  # the caller may opt out of checksums
    assert len(kv) == 3


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        load(tmp_path / "none.cemb")
    with pytest.raises(InputError, match="is a directory"):
        load(tmp_path)


def test_unknown_kind(tmp_path):
    write_file(tmp_path / "k.cemb", "hologram", {})
    with pytest.raises(FormatError, match="unknown file kind 'hologram'"):
        load(tmp_path / "k.cemb")


def test_mismatched_shapes_in_components(tmp_path):
    raw = bytearray((GOLDEN / "keyed_vectors.cemb").read_bytes())
    _, _, _, hlen, total = struct.unpack("<8sIIQQ", raw[:32])
    header = json.loads(raw[32:32 + hlen])
    header["components"]["vocab"]["attrs"]["size"] = 4  # vocabulary no longer matches
    arrays = {}
    st = read_file(GOLDEN / "keyed_vectors.cemb")
    for k, v in st.arrays.items():
        arrays[k] = v
    comps = header["components"]
    write_file(tmp_path / "m.cemb", "keyed_vectors", arrays, meta={}, components=comps)
    with pytest.raises(FormatError, match="component 'vocab'"):
        load(tmp_path / "m.cemb")
