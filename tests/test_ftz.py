"""Quantised fastText models (.ftz): imported vectors against the fastText package's own
``get_word_vector`` on the same file, for every quantisation option the package offers."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from compactemb import load
from compactemb.exceptions import FormatError, InputError
from compactemb.formats import load_vectors, save_vectors
from compactemb.tables import SubwordTable

fasttext = pytest.importorskip("fasttext", reason="the fastText package is the reference")

UNSEEN = ["zzqx", "日本語x", "éé", "a", "", "abcdefghijkl", "naïveté", "ωω-ω", "</s>", "e\u0301"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Labelled lines of random UTF-8 words (fastText can only quantise supervised models)."""
    tmp = tmp_path_factory.mktemp("ftz")
    rng = np.random.default_rng(0)
    letters = list("abcdeéfghñ日本ω")
    vocab = ["".join(rng.choice(letters, rng.integers(1, 9))) for _ in range(400)]
    lines, many = [], []
    for i in range(600):
        words = " ".join(rng.choice(vocab, 12))
        lines.append(f"__label__{'ab'[i % 2]} {words}")
        many.append(f"__label__{i % 300} {words}")  # 300 output rows: enough to quantise
    (tmp / "two.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (tmp / "many.txt").write_text("\n".join(many) + "\n", encoding="utf-8")
    return tmp


def _quantised(corpus, name, data="two.txt", dim=10, **quantize):
    model = fasttext.train_supervised(str(corpus / data), dim=dim, epoch=2, minCount=1, minn=2,
                                      maxn=4, bucket=997, thread=1, verbose=0, seed=1)
    model.quantize(**quantize)
    path = corpus / name
    model.save_model(str(path))
    return fasttext.load_model(str(path)), path


CASES = {  # name: (quantize options, inner table kind we keep)
    "plain": ({}, "pq"),
    "qnorm": ({"qnorm": True}, "dense"),
    "dsub3": ({"dsub": 3}, "dense"),  # dim 10: a last sub-vector of 1 value
    "cutoff": ({"cutoff": 300}, "pq"),
    "cutoff_qnorm_dsub5": ({"cutoff": 260, "qnorm": True, "dsub": 5}, "dense"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_ftz_vectors_equal_fasttexts_bit_for_bit(corpus, case, tmp_path):
    options, inner_kind = CASES[case]
    model, path = _quantised(corpus, f"{case}.ftz", **options)
    kv = load_vectors(path, "fasttext-bin")
    assert kv.vocab.keys == model.words
    assert kv.table.inner.kind == inner_kind
    words = list(model.words) + UNSEEN
    want = np.stack([model.get_word_vector(w) for w in words])
    np.testing.assert_array_equal(kv[words], want)
    quant = kv.meta["imported_from"]["quantised"]
    assert quant["qnorm"] == options.get("qnorm", False)
    assert quant["pruned"] == ("cutoff" in options)
    if "cutoff" in options:
        assert len(model.words) + kv.table.n_ngram_rows == options["cutoff"]
        assert kv.table.skip_pruned
        # fastText leaves a pruned n-gram out of the mean: counting it as zero would differ
        zero = SubwordTable(kv.table.inner, model.words, minn=2, maxn=4, buckets=997,
                            kept_buckets=kv.table.kept_buckets)
        assert not np.array_equal(zero.lookup_words(words), want)
    # saved and loaded back (mmap) the same
    kv.save(tmp_path / "m.cemb")
    back = load(tmp_path / "m.cemb", mmap=True)
    np.testing.assert_array_equal(back[words], want)


def test_ftz_with_quantised_output_and_rows_of_its_ngrams(corpus):
    model, path = _quantised(corpus, "qout.ftz", data="many.txt", cutoff=280, qout=True)
    kv = load_vectors(path, "fasttext-bin")
    words = list(model.words) + UNSEEN
    np.testing.assert_array_equal(kv[words], np.stack([model.get_word_vector(w) for w in words]))
    for word, rows in zip(words, kv.table.subword_rows(words)):
        # fastText's row ids are in its own (norm) order; ours follow the sorted buckets
        theirs = model.get_subwords(word)[1]
        assert len(rows) == len(theirs), word


def test_pruned_ftz_refuses_plain_bin_export(corpus, tmp_path):
    _, path = _quantised(corpus, "cut.ftz", cutoff=300)
    kv = load_vectors(path, "fasttext-bin")
    with pytest.raises(InputError, match="pruned"):
        save_vectors(kv, tmp_path / "out.bin", "fasttext-bin")


def test_unpruned_ftz_exports_as_bin_with_identical_vectors(corpus, tmp_path):
    model, path = _quantised(corpus, "plain2.ftz")
    kv = load_vectors(path, "fasttext-bin")
    save_vectors(kv, tmp_path / "out.bin", "fasttext-bin")
    again = fasttext.load_model(str(tmp_path / "out.bin"))
    for w in list(model.words) + UNSEEN:
        np.testing.assert_array_equal(again.get_word_vector(w), model.get_word_vector(w))


def _offsets(data: bytes, nwords_and_labels: int) -> dict:
    """Byte offsets of the parts of an .ftz (parsed independently of the reader)."""
    at = 8 + 12 * 4 + 8
    size, _, _, _, prune = struct.unpack_from("<3i2q", data, at)
    at += 28
    for _ in range(size):
        at = data.index(b"\0", at) + 1 + 9
    out = {"pruneidx": at}
    at += 8 * max(prune, 0)
    out["qflag"] = at
    out["qnorm"] = at + 1
    m, n = struct.unpack_from("<2q", data, at + 2)
    (codesize,) = struct.unpack_from("<i", data, at + 18)
    out["codes"] = at + 22
    out["pq"] = at + 22 + codesize
    return out


def test_truncated_and_corrupt_ftz_are_named(corpus, tmp_path):
    _, path = _quantised(corpus, "bad.ftz", cutoff=300, qnorm=True)
    data = path.read_bytes()
    parts = _offsets(data, 0)
    bad = tmp_path / "bad.ftz"
    for cut, what in [(parts["pruneidx"] + 5, "pruned dictionary"),
                      (parts["codes"] + 7, "input matrix"),
                      (parts["pq"] + 20, "input matrix quantiser"),
                      (len(data) - 3, "output matrix")]:
        bad.write_bytes(data[:cut])
        with pytest.raises(FormatError, match=f"truncated in the {what}"):
            load_vectors(bad, "fasttext-bin")
    corrupt = bytearray(data)
    corrupt[parts["pruneidx"]:parts["pruneidx"] + 4] = struct.pack("<i", 10**6)
    bad.write_bytes(bytes(corrupt))
    with pytest.raises(FormatError, match="pruned dictionary is not a one-to-one map"):
        load_vectors(bad, "fasttext-bin")
    corrupt = bytearray(data)
    corrupt[parts["pq"] + 8:parts["pq"] + 12] = struct.pack("<i", 7)  # dsub
    bad.write_bytes(bytes(corrupt))
    with pytest.raises(FormatError, match="implausible product quantiser"):
        load_vectors(bad, "fasttext-bin")
    corrupt = bytearray(data)
    corrupt[parts["qflag"]] = 1
    corrupt[parts["qnorm"]] = 3
    bad.write_bytes(bytes(corrupt))
    with pytest.raises(FormatError, match="implausible quantised input matrix"):
        load_vectors(bad, "fasttext-bin")
    corrupt = bytearray(data)
    corrupt[parts["qflag"]] = 0  # a pruned dictionary over a plain matrix
    bad.write_bytes(bytes(corrupt))
    with pytest.raises(FormatError, match="pruned dictionary in a model that is not quantised"):
        load_vectors(bad, "fasttext-bin")


def test_cli_imports_an_ftz(corpus, tmp_path):
    import subprocess
    import sys

    model, path = _quantised(corpus, "cli.ftz", cutoff=300)
    subprocess.run([sys.executable, "-m", "compactemb", "import", str(path), "--format",
                    "fasttext-bin", "-o", str(tmp_path / "m.cemb"), "-q"], check=True)
    kv = load(tmp_path / "m.cemb")
    assert kv.table.skip_pruned and kv.table.inner.kind == "pq"
    words = list(model.words) + UNSEEN
    np.testing.assert_array_equal(kv[words], np.stack([model.get_word_vector(w) for w in words]))
