"""Text reading and vocabularies, against plain-Python references."""

from __future__ import annotations

import gzip
import lzma
import re
from collections import Counter

import numpy as np
import pytest

from compactemb import InputError, Tokenizer, UnknownKeyError, Vocab
from compactemb.text import iter_lines


def reference_counts(lines, min_count=1):
    c = Counter(t for line in lines for t in re.findall(r"[^\W\d_]+", line.lower()))
    return {k: v for k, v in c.items() if v >= min_count}


LINES = ["The cat sat on the mat.", "", "A dog, the dog; THE END!", "naïve café 42 x2 l'été"]


def test_tokenizer_default_and_custom():
    tok = Tokenizer()
    assert tok("Mr. Darcy's 2 horses") == ["mr", "darcy", "s", "horses"]
    assert tok("naïve CAFÉ") == ["naïve", "café"]
    assert Tokenizer(r"\S+", lowercase=False)("Mr. Darcy's") == ["Mr.", "Darcy's"]
    with pytest.raises(InputError, match="not a valid regex"):
        Tokenizer("[")


@pytest.mark.parametrize("opener,suffix", [(open, ".txt"), (gzip.open, ".txt.gz"),
                                           (lzma.open, ".txt.xz")])
def test_vocab_from_compressed_corpus_matches_counter(tmp_path, opener, suffix):
    path = tmp_path / ("c" + suffix)
    with opener(path, "wt", encoding="utf-8") as f:
        f.write("\n".join(LINES * 3) + "\n")
    vocab = Vocab.from_corpus(path, min_count=2)
    ref = reference_counts(LINES * 3, min_count=2)
    assert dict(zip(vocab.keys, vocab.counts.tolist())) == ref
    assert vocab.counts.tolist() == sorted(vocab.counts.tolist(), reverse=True)
    assert vocab.build_info["tokens"] == sum(reference_counts(LINES * 3).values())
    assert vocab.keys[0] == "the"


def test_max_size_and_tie_order():
    vocab = Vocab.from_corpus(["b a c", "a c", "c d"], min_count=1, max_size=2)
    assert vocab.keys == ["c", "a"]  # c: 3, a: 2 (ties would keep first-seen order)
    vocab = Vocab.from_corpus(["x y", "y x"], min_count=1)
    assert vocab.keys == ["x", "y"]


def test_scan_pruning_bounds_memory_and_is_reported():
    # 'common' appears everywhere; 2,000 singletons would exceed the bound of 100
    lines = [f"common w{i:05d}" for i in range(2000)]
    tok = Tokenizer(r"\w+")
    with pytest.warns(UserWarning, match="pruned"):
        vocab = Vocab.from_corpus(lines, tokenizer=tok, min_count=1, max_scan_size=100)
    assert vocab.build_info["pruned_during_scan"] is True
    assert vocab.build_info["tokens"] == 4000  # exact even though keys were dropped
    assert vocab.keys[0] == "common" and vocab.counts[0] == 2000
    assert len(vocab) <= 101


def test_encode_decode_policies():
    vocab = Vocab(["a", "b", "c"], [5, 3, 1])
    assert vocab.encode(["c", "a"]).tolist() == [2, 0]
    with pytest.raises(UnknownKeyError, match="'zz'"):
        vocab.encode(["a", "zz"])
    assert vocab.encode(["a", "zz", "b"], on_unknown="skip").tolist() == [0, 1]
    assert vocab.encode(["a", "zz"], on_unknown="fill", fill_value=-7).tolist() == [0, -7]
    assert vocab.decode([2, 1]) == ["c", "b"]
    with pytest.raises(IndexError):
        vocab.decode([3])
    assert "b" in vocab and "q" not in vocab and vocab["c"] == 2


def test_vocab_from_ids_integers_and_strings():
    users = np.array([7, 3, 7, 9, 3, 7])
    v = Vocab.from_ids(users)
    assert v.key_type == "int" and v.keys == [7, 3, 9] and v.counts.tolist() == [3, 2, 1]
    assert v.encode([9, "7"]).tolist() == [2, 0]  # CLI strings resolve to int IDs
    s = Vocab.from_ids(["u1", "u2", "u1"])
    assert s.key_type == "str" and s.keys == ["u1", "u2"]
    with pytest.raises(InputError, match="all str or all int"):
        Vocab(["a", 1.5])


def test_vocab_save_load_round_trip(tmp_path):
    from compactemb import load

    v = Vocab(["élan", "b", "ünï"], [3, 2, 1], build_info={"min_count": 1})
    v.save(tmp_path / "v.cemb")
    for mmap in (False, True):
        w = load(tmp_path / "v.cemb", mmap=mmap)
        assert w.keys == v.keys and w.counts.tolist() == [3, 2, 1]
        assert w.build_info == {"min_count": 1}
    iv = Vocab([10, 20])
    iv.save(tmp_path / "i.cemb")
    assert load(tmp_path / "i.cemb").keys == [10, 20]


def test_memory_parts_are_measured():
    v = Vocab(["aa", "b"], [2, 1])
    parts = v.memory_parts()
    assert parts["vocab.key_bytes"] == 3 and parts["vocab.counts"] == 16
    _ = v.index
    assert v.memory_parts()["vocab.index_dict"] > 0


def test_huge_line_is_read_in_full(tmp_path):
    words = [f"w{i % 997}" for i in range(300_000)]  # ~2 MB on one line, no newline at the end
    path = tmp_path / "oneline.txt"
    path.write_text(" ".join(words), encoding="utf-8")
    pieces = list(iter_lines(path, max_line_bytes=100_000))
    assert len(pieces) > 1
    assert " ".join(pieces).split() == words


@pytest.mark.parametrize("content,match", [
    (b"", "no tokens"),
    (b"\n\n  \n", "no tokens"),
    (b"\x00\x01\x02binary\x00", "binary"),
    (b"good line\nbad \xff\xfe line\n", r"line 2: not valid UTF-8"),
])
def test_bad_corpora(tmp_path, content, match):
    path = tmp_path / "bad.txt"
    path.write_bytes(content)
    with pytest.raises(InputError, match=match):
        Vocab.from_corpus(path, min_count=1)


def test_missing_and_directory(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        Vocab.from_corpus(tmp_path / "nope.txt")
    with pytest.raises(InputError, match="is a directory"):
        Vocab.from_corpus(tmp_path)
    with pytest.raises(InputError, match="min_count=50"):
        Vocab.from_corpus(["a b c"], min_count=50)


def test_encode_corpus_drops_unknown_and_marks_sentences():
    vocab = Vocab(["a", "b"])
    chunks = list(vocab.encode_corpus(["a x b", "x x", "b"]))
    assert np.concatenate(chunks).tolist() == [0, 1, -1, 1, -1]


def test_integer_array_encode_equals_dict_path():
    rng = np.random.default_rng(7)
    v = Vocab.from_ids(rng.integers(-50, 10_000, 5000))
    q = rng.integers(-60, 10_050, 3000)
    known = np.array([x in v.index for x in q.tolist()])
    ref = np.array([v.index.get(x, -1) for x in q.tolist()])
    np.testing.assert_array_equal(v.encode(q, on_unknown="fill"), ref)
    np.testing.assert_array_equal(v.encode(q, on_unknown="skip"), ref[known])
    np.testing.assert_array_equal(v.encode(q[known]), ref[known])
    with pytest.raises(UnknownKeyError):
        v.encode(q)
