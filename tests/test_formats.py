"""word2vec text/binary, GloVe and fastText .vec interop: files built by hand (the reference),
round trips (exact), gensim in both directions where installed, bad files, CLI."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from compactemb import DenseTable, FormatError, InputError, KeyedVectors, Vocab, load
from compactemb.cli import main
from compactemb.formats import (
    load_glove,
    load_vectors,
    load_word2vec_format,
    save_vectors,
    save_word2vec_format,
)

WORDS = ["the", "café", "naïve", "x"]
VECS = np.array([[0.5, -1.25, 3.0], [1e-7, 2.5e6, -0.0], [0.1, 0.2, 0.3], [-7.0, 0.0, 1.0]],
                dtype=np.float32)


def _kv(words=WORDS, vecs=VECS):
    return KeyedVectors(Vocab(list(words)), DenseTable(vecs))


def _w2v_binary_bytes(words, vecs, newline=True) -> bytes:
    """The original word2vec tool's -binary 1 layout, written by hand."""
    out = f"{len(words)} {vecs.shape[1]}\n".encode()
    for w, v in zip(words, vecs):
        out += w.encode() + b" " + struct.pack(f"<{len(v)}f", *v) + (b"\n" if newline else b"")
    return out


def test_read_handwritten_text_binary_glove_vec(tmp_path):
    text = "4 3\n" + "".join(f"{w} {' '.join(repr(float(x)) for x in v)}\n"
                             for w, v in zip(WORDS, VECS))
    (tmp_path / "a.txt").write_text(text, encoding="utf-8")
    (tmp_path / "a.vec").write_text(text, encoding="utf-8")
    (tmp_path / "a.glove").write_text(text.split("\n", 1)[1], encoding="utf-8")
    with gzip.open(tmp_path / "a.txt.gz", "wt", encoding="utf-8") as f:
        f.write(text)
    (tmp_path / "a.bin").write_bytes(_w2v_binary_bytes(WORDS, VECS))
    (tmp_path / "b.bin").write_bytes(_w2v_binary_bytes(WORDS, VECS, newline=False))
    for name, fmt in [("a.txt", "word2vec"), ("a.vec", "vec"), ("a.glove", "glove"),
                      ("a.txt.gz", "word2vec"), ("a.bin", "word2vec-binary"),
                      ("b.bin", "word2vec-binary")]:
        kv = load_vectors(tmp_path / name, fmt)
        assert kv.vocab.keys == WORDS, name
        np.testing.assert_array_equal(kv.table.weights, VECS, err_msg=name)
        assert kv.meta["imported_from"]["format"] == fmt
    kv = load_vectors(tmp_path / "a.bin", "word2vec-binary", limit=2)
    assert kv.vocab.keys == WORDS[:2]
    assert load_glove(tmp_path / "a.glove", limit=3).vocab.keys == WORDS[:3]


def test_written_files_have_the_reference_layout(tmp_path):
    save_word2vec_format(_kv(), tmp_path / "a.bin", binary=True)
    assert (tmp_path / "a.bin").read_bytes() == _w2v_binary_bytes(WORDS, VECS)
    save_word2vec_format(_kv(), tmp_path / "a.txt")
    lines = (tmp_path / "a.txt").read_text(encoding="utf-8").splitlines()
    assert lines[0] == "4 3"
    for line, w, v in zip(lines[1:], WORDS, VECS):
        parts = line.split(" ")
        assert parts[0] == w
        np.testing.assert_array_equal(np.array(parts[1:], dtype=np.float32), v)


@settings(max_examples=25, deadline=None)
@given(arrays(np.float32, st.tuples(st.integers(1, 6), st.integers(1, 5)),
              elements=st.floats(width=32, allow_nan=False, allow_infinity=False)),
       st.booleans())
def test_round_trip_is_exact(tmp_path_factory, vecs, binary):
    path = tmp_path_factory.mktemp("rt") / "v"
    words = [f"w{i}ü" for i in range(vecs.shape[0])]
    save_word2vec_format(_kv(words, vecs), path, binary=binary)
    back = load_word2vec_format(path, binary=binary)
    assert back.vocab.keys == words
    np.testing.assert_array_equal(back.table.weights, vecs)


def test_export_decodes_other_table_kinds(tmp_path):
    small = VECS[[0, 2, 3]]  # within the float16 range; 0.1 etc. are not exact in float16
    kv = KeyedVectors(Vocab(["a", "b", "c"]), DenseTable(small, dtype="float16"))
    save_vectors(kv, tmp_path / "h.txt", "word2vec")
    back = load_word2vec_format(tmp_path / "h.txt")
    np.testing.assert_array_equal(back.table.weights, small.astype(np.float16).astype(np.float32))
    assert not np.array_equal(back.table.weights, small)


@pytest.mark.parametrize("binary", [False, True])
def test_gensim_round_trip_both_ways(tmp_path, binary):
    gensim_models = pytest.importorskip("gensim.models")
    rng = np.random.default_rng(0)
    vecs = (rng.standard_normal((30, 7)) * 10.0 ** rng.integers(-6, 4, (30, 1))).astype(np.float32)
    words = [f"w{i}é" for i in range(30)]
    save_word2vec_format(_kv(words, vecs), tmp_path / "ours", binary=binary)
    g = gensim_models.KeyedVectors.load_word2vec_format(str(tmp_path / "ours"), binary=binary)
    assert g.index_to_key == words
    np.testing.assert_array_equal(g.vectors, vecs)
    g.save_word2vec_format(str(tmp_path / "theirs"), binary=binary)
    back = load_word2vec_format(tmp_path / "theirs", binary=binary)
    assert back.vocab.keys == words
    np.testing.assert_array_equal(back.table.weights, vecs)


@pytest.mark.parametrize("content,fmt,match", [
    ("", "word2vec", "empty"),
    ("hello world\n", "word2vec", "line 1: expected a header"),
    ("2 3\na 1 2 3\nb 1 2\n", "word2vec", "line 3: expected 3 values"),
    ("2 3\na 1 2 3\nb 1 zz 3\n", "word2vec", "line 3: not a number: 'zz'"),
    ("3 3\na 1 2 3\nb 1 2 3\n", "word2vec", "announces 3 vectors but the file has 2"),
    ("2 3\na 1 2 3\n", "glove", "looks like a word2vec header"),
    ("a 1 2 3\nb 1 2\n", "glove", "line 2: expected 3 values"),
    ("\n\n", "glove", "no vectors"),
])
def test_bad_text_files(tmp_path, content, fmt, match):
    path = tmp_path / "bad.txt"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(FormatError, match=match):
        load_vectors(path, fmt)


def test_bad_binary_files_and_options(tmp_path):
    full = _w2v_binary_bytes(WORDS, VECS)
    (tmp_path / "cut.bin").write_bytes(full[:-7])
    with pytest.raises(FormatError, match="truncated at vector 4 of 4"):
        load_word2vec_format(tmp_path / "cut.bin", binary=True)
    (tmp_path / "nohead.bin").write_bytes(b"\x00\x01\x02")
    with pytest.raises(FormatError, match="header"):
        load_word2vec_format(tmp_path / "nohead.bin", binary=True)
    with pytest.raises(InputError, match="unknown vector format"):
        load_vectors(tmp_path / "cut.bin", "fasttext-ftz")
    with pytest.raises(FormatError, match="not a fastText .bin model"):
        load_vectors(tmp_path / "cut.bin", "fasttext-bin")
    with pytest.raises(InputError, match="cannot write format 'glove'"):
        save_vectors(_kv(), tmp_path / "x", "glove")
    with pytest.raises(InputError, match="limit"):
        load_word2vec_format(tmp_path / "cut.bin", binary=True, limit=0)
    with pytest.raises(InputError, match="contains whitespace"):
        save_word2vec_format(_kv(["a b", "c", "d", "e"]), tmp_path / "x")
    assert not (tmp_path / "x").exists()


def test_duplicate_words_keep_the_first(tmp_path):
    path = tmp_path / "dup.txt"
    path.write_text("3 2\na 1 2\nb 3 4\na 5 6\n", encoding="utf-8")
    with pytest.warns(UserWarning, match="1 duplicate"):
        kv = load_word2vec_format(path)
    assert kv.vocab.keys == ["a", "b"]
    np.testing.assert_array_equal(kv.table.weights, [[1, 2], [3, 4]])


def test_cli_import_export(tmp_path, capsys):
    (tmp_path / "v.bin").write_bytes(_w2v_binary_bytes(WORDS, VECS))
    rc = main(["import", str(tmp_path / "v.bin"), "--format", "word2vec-binary",
               "-o", str(tmp_path / "v.cemb"), "--json"])
    assert rc == 0 and '"vectors": 4' in capsys.readouterr().out
    kv = load(tmp_path / "v.cemb")
    np.testing.assert_array_equal(kv.table.weights, VECS)
    rc = main(["export", str(tmp_path / "v.cemb"), "--format", "word2vec",
               "-o", str(tmp_path / "v.txt")])
    assert rc == 0
    np.testing.assert_array_equal(load_word2vec_format(tmp_path / "v.txt").table.weights, VECS)
    rc = main(["import", str(tmp_path / "v.txt"), "--format", "glove", "-o",
               str(tmp_path / "bad.cemb")])
    err = capsys.readouterr().err
    assert rc == 1 and "looks like a word2vec header" in err and "Traceback" not in err
    assert not (tmp_path / "bad.cemb").exists()
    rc = main(["import", str(tmp_path / "v.txt"), "--format", "nope", "-o", "x"])
    assert rc == 2
