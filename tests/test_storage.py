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
from compactemb import DenseTable, FormatError, InputError, KeyedVectors, Vocab, load
from compactemb.recommend import FactorModel
from compactemb.storage import build_component, read_file, write_file

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


def _golden_objects():
    sys.path.insert(0, str(GOLDEN.parent))
    try:
        from make_golden import golden_objects
    finally:
        sys.path.pop(0)
    return golden_objects()


def test_golden_bytes_are_reproduced(tmp_path, monkeypatch):
    """Saving the golden objects gives the committed bytes: every layout is pinned."""
    monkeypatch.setattr(compactemb, "__version__", "0.1.0")
    objects = _golden_objects()
    assert sorted(objects) == sorted(p.name for p in GOLDEN.glob("*.cemb"))
    for name, (obj, kwargs) in objects.items():
        obj.save(tmp_path / name, **kwargs)
        assert (tmp_path / name).read_bytes() == (GOLDEN / name).read_bytes(), name


def _stored_kinds_modules():
    """Every module of the package that registers a stored kind (found by reading the source,
    so a kind registered in a module that _stored_kinds forgot is found too)."""
    root = Path(compactemb.__file__).parent
    found = set()
    for path in root.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        if "@register_table" in text or "@register_component" in text \
                or "register_file_kind(\"" in text:
            parts = path.relative_to(root.parent).with_suffix("").parts
            found.add(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return found


def _golden_kinds():
    files, components = {}, {}
    for path in sorted(GOLDEN.glob("*.cemb")):
        stored = read_file(path)
        files.setdefault(stored.kind, path.name)
        for desc in stored.components.values():
            components.setdefault(desc["type"], path.name)
    return files, components


def _format_rows(heading):
    """First-column names (`name`) of the table under a docs/FORMAT.md heading."""
    text = (Path(__file__).parents[1] / "docs" / "FORMAT.md").read_text(encoding="utf-8")
    section = text.split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]
    return {line.split("|")[1].strip().strip("`") for line in section.splitlines()
            if line.startswith("| `")}


def test_every_registered_kind_has_a_golden_file_and_a_format_row():
    import importlib

    from compactemb import _stored_kinds
    from compactemb.storage import registered_kinds

    for module in _stored_kinds_modules():
        importlib.import_module(module)
    kinds = registered_kinds()
    components, files = set(kinds["components"]), set(kinds["files"])
    assert components == set(_stored_kinds.COMPONENT_TYPES), \
        "declare every component type (and only those) in compactemb/_stored_kinds.py"
    assert files == set(_stored_kinds.FILE_KINDS), \
        "declare every file kind (and only those) in compactemb/_stored_kinds.py"
    golden_files, golden_components = _golden_kinds()
    assert not components - set(golden_components), \
        f"component types without a golden file: {sorted(components - set(golden_components))}"
    assert not files - set(golden_files), \
        f"file kinds without a golden file: {sorted(files - set(golden_files))}"
    documented = _format_rows("Components of version 1")
    assert not components - documented, \
        f"component types without a row in docs/FORMAT.md: {sorted(components - documented)}"
    documented = _format_rows("File kinds")
    assert not files - documented, \
        f"file kinds without a row in docs/FORMAT.md: {sorted(files - documented)}"


def _hash(ids, seed, n):
    """splitmix64(id * 0x9E3779B97F4A7C15 + seed) % n, written out as docs/FORMAT.md gives it."""
    mask = (1 << 64) - 1
    out = []
    for i in ids:
        z = (int(i) * 0x9E3779B97F4A7C15 + int(seed)) & mask
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
        out.append((z ^ (z >> 31)) % n)
    return np.array(out, dtype=np.int64)


def _reference_decode(kind, attrs, a):
    """The (n_rows, dim) matrix a table's stored arrays mean, per docs/FORMAT.md (slow, plain)."""
    n, d = attrs["n_rows"], attrs["dim"]
    if kind == "dense":
        return a["weights"].astype(np.float32)
    if kind == "int8":
        data = a["data"]
        scale_bias = data[:, d:d + 8].copy().view(np.float32)
        return data[:, :d] * scale_bias[:, :1] + scale_bias[:, 1:]
    if kind == "int4":
        data, nb = a["data"], (d + 1) // 2
        codes = np.stack([data[:, :nb] & 15, data[:, :nb] >> 4], axis=2).reshape(n, -1)[:, :d]
        scale_bias = data[:, nb:nb + 4].copy().view(np.float16).astype(np.float32)
        return codes * scale_bias[:, :1] + scale_bias[:, 1:]
    if kind == "pq":
        books, codes = a["codebooks"], a["codes"]
        rows = np.concatenate([books[m, codes[:, m]] for m in range(codes.shape[1])], axis=1)
        if "norms" in a:
            rows = rows * a["norms"].astype(np.float32)[:, None]
        return rows @ a["rotation"].T if "rotation" in a else rows
    if kind == "rq":
        books, codes = a["codebooks"], a["codes"]
        rows = np.array([sum(books[s, codes[i, s]] for s in range(codes.shape[1]))
                         for i in range(n)], np.float32).reshape(n, d)
        return rows * a["norms"].astype(np.float32)[:, None] if "norms" in a else rows
    if kind == "pq4":
        books, codes, m_sub = a["codebooks"], a["codes"], attrs["n_subvectors"]
        rows = np.array([np.concatenate([books[m, (int(codes[i, m // 2]) >> (4 * (m % 2))) & 15]
                                         for m in range(m_sub)]) for i in range(n)],
                        np.float32).reshape(n, d)
        if "norms" in a:
            rows = rows * a["norms"].astype(np.float32)[:, None]
        return rows @ a["rotation"].T if "rotation" in a else rows
    if kind == "lowrank":
        return a["left"] @ a["right"]
    if kind == "pruned":
        inner = _reference_decode(attrs["inner_kind"], attrs["inner"],
                                  {k[len("inner."):]: v for k, v in a.items()})
        ids = np.arange(n)
        rows = np.where(ids < attrs["n_keep"], ids,
                        attrs["n_keep"] + _hash(ids, 0x5EED, attrs["n_fallback"]))
        return inner[rows]
    if kind == "hashed":
        w = a["weights"]
        return sum(w[_hash(range(n), s, w.shape[0])] for s in a["seeds"].tolist())
    if kind == "qr":
        q, r = a["quotient"], a["remainder"]
        ids = np.arange(n)
        q, r = q[ids // r.shape[0]], r[ids % r.shape[0]]
        return q * r if attrs["combine"] == "mul" else q + r
    if kind == "mixed":
        out, e0, p0 = [], 0, 0
        ends = np.append(a["block_starts"][1:], n)
        for start, end, db in zip(a["block_starts"], ends, a["block_dims"]):
            rows = a["emb"][e0:e0 + (end - start) * db].reshape(-1, db)
            proj = a["proj"][p0:p0 + db * d].reshape(db, d)
            out.append(rows @ proj)
            e0, p0 = e0 + (end - start) * db, p0 + db * d
        return np.concatenate(out)
    if kind == "tiered":
        parts = [_reference_decode(attrs[f"{p}_kind"], attrs[p],
                                   {k[len(p) + 1:]: v for k, v in a.items()
                                    if k.startswith(p + ".")}) for p in ("head", "tail")]
        return np.concatenate(parts)
    if kind in ("bit1", "bit2"):
        bits, codes = attrs["bits"], a["codes"]
        per_byte = 8 // bits
        k = attrs.get("n_components", d)
        rows = np.array([[a["levels"][(int(codes[i, j // per_byte]) >> (bits * (j % per_byte)))
                                      & ((1 << bits) - 1)] for j in range(k)] for i in range(n)])
        if "row_scales" in a:
            rows = rows * a["row_scales"].astype(np.float32)[:, None]
        if "dim_scales" in a:
            rows = rows * a["dim_scales"]
        if "rotation" in a:
            rows = rows @ a["rotation"].T
        rows = rows + a["mean"] if "mean" in a else rows
        return rows * a["norms"].astype(np.float32)[:, None] if "norms" in a else rows
    if kind == "subword":
        return _reference_subword(attrs, a)
    raise AssertionError(f"no reference decoder for table kind {kind!r}: add one here")


def _fnv1a_int8(data: bytes) -> int:
    h = 2166136261
    for byte in data:
        h = ((h ^ (byte - 256 if byte >= 128 else byte) % 2**32) * 16777619) % 2**32
    return h


def _reference_subword(attrs, a):
    inner = _reference_decode(attrs["inner_kind"], attrs["inner"],
                              {k[len("inner."):]: v for k, v in a.items()
                               if k.startswith("inner.")})
    offs, blob = a["key_offsets"].tolist(), bytes(a["key_bytes"])
    kept = a["kept_buckets"].tolist() if attrs["pruned"] else None
    out = []
    for i in range(attrs["n_rows"]):
        word = "<" + blob[offs[i]:offs[i + 1]].decode("utf-8") + ">"
        rows = [inner[i]]
        for start in range(len(word)):
            for n in range(attrs["minn"], attrs["maxn"] + 1):
                if start + n > len(word) or word[start:start + n] in ("<", ">"):
                    continue
                b = _fnv1a_int8(word[start:start + n].encode("utf-8")) % attrs["buckets"]
                if kept is None:
                    rows.append(inner[attrs["n_rows"] + b])
                elif b in kept:
                    rows.append(inner[attrs["n_rows"] + kept.index(b)])
                elif not attrs.get("skip_pruned"):  # a pruned bucket is a zero row
                    rows.append(np.zeros(attrs["dim"], np.float32))
        out.append(np.sum(rows, axis=0, dtype=np.float32) * np.float32(1 / len(rows)))
    return np.array(out, dtype=np.float32)


def test_golden_tables_decode_as_the_format_says():
    from compactemb.tables import table_kinds

    checked = set()
    for path in sorted(GOLDEN.glob("*.cemb")):
        stored = read_file(path)
        for name, desc in stored.components.items():
            if desc["type"] not in table_kinds():
                continue
            table = build_component(stored, name)
            expected = _reference_decode(desc["type"], desc["attrs"],
                                         stored.component_arrays(name))
            np.testing.assert_allclose(np.asarray(table), expected, rtol=1e-6, atol=1e-6,
                                       err_msg=f"{path.name}: {name}")
            checked.add(desc["type"])
    assert checked == set(table_kinds()), \
        f"table kinds without a golden file: {sorted(set(table_kinds()) - checked)}"


def test_golden_files_of_every_kind_load_with_known_values():
    dense = load(GOLDEN / "table_dense.cemb").weights
    half_step = (dense.max(1) - dense.min(1))[:, None] / 255 / 2 + 1e-6  # int8 rounding
    assert (np.abs(np.asarray(load(GOLDEN / "table_int8.cemb")) - dense) <= half_step).all()
    vocab = load(GOLDEN / "vocab.cemb")
    assert isinstance(vocab, Vocab) and vocab.keys == [42, 7, 1000]
    assert vocab.counts.tolist() == [9, 4, 1]
    factors = load(GOLDEN / "factors.cemb", mmap=True)
    assert isinstance(factors, FactorModel)
    # user 7 = [1, -2] saw items 10 and 30, so only item 20 = [-1, 1] is left: score -3;
    # user 3 = [-3, 0] saw 20: item 10 = [1.5, 2] scores -4.5, item 30 = [2, -2] -6
    assert factors.recommend(7, k=3) == [(20, -3.0)]
    assert factors.recommend([3], k=2) == [[(10, -4.5), (30, -6.0)]]
    clf = load(GOLDEN / "classifier.cemb")
    assert type(clf).__name__ == "TextClassifier" and clf.classes_ == ["pos", "neg"]
    # output rows are (2, 0) and (-2, 0): the sign of the mean row's first value decides
    assert clf.predict(["good", "bad"]) == [["pos"], ["neg"]]
    np.testing.assert_array_equal(clf.bucket_ids_, [3, 11])
    assert clf.meta == {"golden": True}


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


def test_loading_imports_only_the_modules_the_file_needs():
    """Storage imports a kind's module on first need: a table file pulls in no trainer/numba."""
    import subprocess

    code = ("import sys; from compactemb import load; "
            "load(sys.argv[1]); load(sys.argv[2]); "
            "print(sorted(m for m in ('numba', 'compactemb.train', 'compactemb.recommend') "
            "if m in sys.modules)); "
            "load(sys.argv[3]); print('compactemb.train._classifier' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code, str(GOLDEN / "table_pq.cemb"),
                          str(GOLDEN / "keyed_vectors.cemb"), str(GOLDEN / "classifier.cemb")],
                         capture_output=True, text=True, check=True).stdout.split("\n")
    assert out[0] == "[]" and out[1] == "True"
