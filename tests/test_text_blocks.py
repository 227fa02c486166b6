"""Block tokenising (issue 11): the same tokens, sentences, counts and token cache as the
line-by-line tokenizer (``Tokenizer.__call__`` on each line), on the bundled Austen corpus and
the shared Gutenberg corpus when present."""

from __future__ import annotations

import gzip
import os
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from compactemb import InputError, Tokenizer, Vocab
from compactemb.text import iter_line_blocks, iter_lines, iter_token_blocks
from compactemb.train._word2vec import tokenize_to_cache

AUSTEN = Path(__file__).resolve().parents[1] / "src" / "compactemb" / "data" / \
    "jane_austen_6novels.txt.gz"
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
GUTENBERG = SHARED / "gutenberg-en-16m" / "gutenberg_en_part0.txt.xz"


def corpora():
    yield pytest.param(AUSTEN, id="austen")
    yield pytest.param(GUTENBERG, id="gutenberg-part0", marks=pytest.mark.skipif(
        not GUTENBERG.exists(), reason="shared Gutenberg corpus not present (../shared/data)"))


def reference_sentences(path, tok):
    """The current (line by line) tokenizer: one token list per line."""
    return [tok(line) for line in iter_lines(path)]


@pytest.mark.parametrize("path", list(corpora()))
def test_block_tokens_equal_line_tokens(path):
    tok = Tokenizer()
    ref = reference_sentences(path, tok)
    tokens, lengths = [], []
    for block_tokens, block_lengths in iter_token_blocks(path, tok):
        tokens += block_tokens
        lengths += block_lengths.tolist()
    assert lengths == [len(s) for s in ref]
    assert tokens == [t for s in ref for t in s]


@pytest.mark.parametrize("pattern,lowercase", [
    (r"\S+", False), (r"\w+", True), (r"[a-z]+", True), (r"\w+(?:'\w+)?", True),
    (r"[^\W\d_]+", False),
])
def test_other_patterns_equal_line_tokens(pattern, lowercase):
    tok = Tokenizer(pattern, lowercase=lowercase)
    lines = ["Mr. Darcy's 2 HORSES\r", "", "  naïve CAFÉ ΟΔΟΣ İstanbul x_y 😀emoji😀 ²³",
             "tab\tsep\u00a0nbsp\u3000ideo", "last"]
    tokens, lengths = tok.tokenize_lines(lines)
    ref = [tok(line) for line in lines]
    assert tokens == [t for s in ref for t in s] and lengths.tolist() == [len(s) for s in ref]


def test_lines_holding_newlines_keep_their_sentences():
    tok = Tokenizer()
    items = ["a b\nc", "d", ["pre", "split"], ""]
    got = [(t, n.tolist()) for t, n in iter_token_blocks(items, tok)]
    assert got == [(["a", "b", "c", "d", "pre", "split"], [3, 1, 2, 0])]


def read_lines_reference(path):
    raw = gzip.open(path, "rb").read() if str(path).endswith(".gz") else Path(path).read_bytes()
    lines = raw.decode("utf-8").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line.rstrip("\r") for line in lines]


def test_line_blocks_equal_whole_file_split(tmp_path):
    text = "".join(f"line {n} é\r\n" if n % 3 else f"row {n}\n" for n in range(60_000))
    for name, opener in (("a.txt", open), ("a.txt.gz", gzip.open)):
        path = tmp_path / name
        with opener(path, "wb") as f:
            f.write(text.encode("utf-8") + b"tail without newline")
        got = [line for block in iter_line_blocks(path, max_line_bytes=1 << 20)
               for line in block]
        assert got == read_lines_reference(path)


def test_bad_utf8_names_line_and_byte_in_a_block(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_bytes(b"ok\nfine line\nabcd\xffe\n" + b"more\n" * 1000)
    with pytest.raises(InputError, match=r"line 3: not valid UTF-8 \(byte 4 of the line\)"):
        list(iter_lines(path))


def test_abandoned_compressed_reader_stops(tmp_path):
    path = tmp_path / "big.txt.gz"
    with gzip.open(path, "wb") as f:
        f.write(os.urandom(1).hex().encode() * 10 + b"\n" + b"word " * 2_000_000)
    blocks = iter_line_blocks(path)
    next(blocks)
    blocks.close()  # the reader thread is told to stop and joined: no hang, no leak
    import threading

    assert not any(t.name == "compactemb-read" for t in threading.enumerate())


@pytest.mark.parametrize("path", [AUSTEN])
@pytest.mark.parametrize("interner", [True, False])
def test_vocab_counts_equal_counter_of_line_tokens(path, interner, monkeypatch):
    from compactemb import vocab as vocab_module

    monkeypatch.setattr(vocab_module, "_worth_numba", lambda corpus: interner)
    ref = Counter(t for s in reference_sentences(path, Tokenizer()) for t in s)
    vocab = Vocab.from_corpus(path, min_count=3)
    expected = sorted(((k, c) for k, c in ref.items() if c >= 3), key=lambda kc: -kc[1])
    assert dict(zip(vocab.keys, vocab.counts.tolist())) == dict(expected)
    assert vocab.counts.tolist() == [c for _, c in expected]
    assert vocab.build_info["tokens"] == sum(ref.values())


def reference_cache(sentences, min_count):
    """The token cache the line-by-line path wrote: first-seen provisional ids, frequency
    order (ties first seen), rare tokens dropped, -1 after every non-empty sentence."""
    first: dict = {}
    for s in sentences:
        for t in s:
            first.setdefault(t, len(first))
    counts = Counter(t for s in sentences for t in s)
    keys = sorted(first, key=lambda k: (-counts[k], first[k]))
    keys = [k for k in keys if counts[k] >= min_count]
    row = {k: n for n, k in enumerate(keys)}
    out = []
    for s in sentences:
        out += [row[t] for t in s if t in row]
        if s:
            out.append(-1)
    return keys, out


@pytest.mark.parametrize("path", [AUSTEN])
def test_token_cache_equals_line_by_line_reference(path, tmp_path):
    sentences = reference_sentences(path, Tokenizer())
    keys, expected = reference_cache(sentences, min_count=5)
    cache = str(tmp_path / "cache.i32")
    vocab, stats = tokenize_to_cache(path, cache, min_count=5)
    assert vocab.keys == keys
    got = np.fromfile(cache, dtype=np.int32)
    assert got.tolist() == expected
    assert stats["sentences"] == sum(1 for s in sentences if s)
    assert stats["corpus_tokens"] == sum(map(len, sentences))
    # with the vocabulary given: the same ids, unknown tokens dropped, sentence ends kept
    small = Vocab(keys[:50], vocab.counts[:50])
    _, kept = reference_cache(sentences, min_count=1)
    cache2 = str(tmp_path / "cache2.i32")
    tokenize_to_cache(path, cache2, vocab=small)
    row = {k: n for n, k in enumerate(keys[:50])}
    ref2 = []
    for s in sentences:
        ref2 += [row[t] for t in s if t in row]
        if s:
            ref2.append(-1)
    assert np.fromfile(cache2, dtype=np.int32).tolist() == ref2


def test_encode_corpus_equals_line_by_line_reference():
    sentences = reference_sentences(AUSTEN, Tokenizer())
    vocab = Vocab.from_corpus(AUSTEN, min_count=20)
    index = vocab.index
    expected = []
    for s in sentences:
        ids = [index[t] for t in s if t in index]
        if ids:
            expected += ids + [-1]
    chunks = list(vocab.encode_corpus(AUSTEN, chunk_tokens=100_000))
    assert len(chunks) > 1 and all(c[-1] == -1 for c in chunks)
    assert np.concatenate(chunks).tolist() == expected


@pytest.mark.parametrize("pattern,lowercase", [(r"[^\W\d_]+", True), (r"\S+", False),
                                               (r"\w+", True)])
def test_interner_ids_and_counts_equal_line_tokens(pattern, lowercase):
    from compactemb.text import TokenInterner

    tok = Tokenizer(pattern, lowercase=lowercase)
    blocks = [["Mr. Darcy's 2 HORSES\r", "", "naïve CAFÉ ΟΔΟΣ x_y 😀emoji😀 ²"],
              ["a\nb holding a newline", "Darcy again"], []]
    interner = TokenInterner(tok)
    first: dict = {}
    for lines in blocks:
        got = interner.add_lines(lines).tolist()
        expected = []
        for line in lines:
            toks = tok(line.replace("\n", " "))
            expected += [first.setdefault(t, len(first)) for t in toks] + ([-1] if toks else [])
        assert got == expected
    all_tokens = [t for lines in blocks for line in lines for t in tok(line.replace("\n", " "))]
    assert interner.keys() == list(first)
    assert interner.counts().tolist() == [Counter(all_tokens)[k] for k in first]
    assert interner.keys(2) == list(first)[2:]
