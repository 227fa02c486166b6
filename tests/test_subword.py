"""Subword vectors: the subword table against fastText itself (hashing, n-grams, word vectors),
fastText .bin import and export, vectors of unseen words through KeyedVectors."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from compactemb import KeyedVectors, load
from compactemb._native import use_native
from compactemb.exceptions import FormatError, InputError, UnknownKeyError
from compactemb.formats import load_vectors, save_vectors
from compactemb.tables import DenseTable, Int8Table, SubwordTable

fasttext = pytest.importorskip("fasttext", reason="the fastText package is the reference")

UNSEEN = ["zzqx", "日本語x", "éé", "a", "", "abcdefghijkl", "naïveté", "ωω-ω", "</s>", "e\u0301"]


@pytest.fixture(scope="module")
def ft_model(tmp_path_factory):
    """A small skip-gram model trained by the fastText package (UTF-8 words of 1-3 bytes)."""
    tmp = tmp_path_factory.mktemp("ft")
    rng = np.random.default_rng(0)
    letters = list("abcdeéfghñ日本ω")
    vocab = ["".join(rng.choice(letters, rng.integers(1, 9))) for _ in range(300)]
    corpus = tmp / "corpus.txt"
    corpus.write_text("\n".join(" ".join(rng.choice(vocab, 20)) for _ in range(300)) + "\n",
                      encoding="utf-8")
    model = fasttext.train_unsupervised(str(corpus), model="skipgram", dim=8, epoch=1,
                                        minCount=1, minn=2, maxn=4, bucket=997, thread=1,
                                        verbose=0)
    path = tmp / "model.bin"
    model.save_model(str(path))
    return model, path


def _words(model):
    return list(model.words) + UNSEEN


def test_ngram_rows_are_fasttexts(ft_model):
    """Row ids of every word (its row, then its hashed n-grams) equal fastText's
    ``get_subwords`` ids, in order, for dictionary words and unseen ones."""
    model, path = ft_model
    kv = load_vectors(path, "fasttext-bin")
    for native in (True, False):
        with use_native(native):
            ours = kv.table.subword_rows(_words(model))
        for word, rows in zip(_words(model), ours):
            assert rows.tolist() == model.get_subwords(word)[1].tolist(), word


def test_import_gives_fasttexts_vectors_bit_for_bit(ft_model):
    model, path = ft_model
    kv = load_vectors(path, "fasttext-bin")
    assert len(kv) == len(model.words) and kv.vocab.keys[:5] == model.words[:5]
    want = np.stack([model.get_word_vector(w) for w in _words(model)])
    np.testing.assert_array_equal(kv[_words(model)], want)
    np.testing.assert_array_equal(kv.vectors, want[:len(model.words)])
    np.testing.assert_array_equal(kv["zzqx"], model.get_word_vector("zzqx"))
    assert "zzqx" not in kv  # membership stays the vocabulary's
    with use_native(False):
        np.testing.assert_array_equal(kv[_words(model)], want)


def test_export_is_read_by_fasttext_with_identical_vectors(ft_model, tmp_path):
    model, path = ft_model
    kv = load_vectors(path, "fasttext-bin")
    kv.save(tmp_path / "m.cemb")
    back = load(tmp_path / "m.cemb", mmap=True)
    save_vectors(back, tmp_path / "out.bin", "fasttext-bin")
    again = fasttext.load_model(str(tmp_path / "out.bin"))
    assert again.words == model.words
    for w in _words(model):
        np.testing.assert_array_equal(again.get_word_vector(w), model.get_word_vector(w))


def test_pruned_and_compressed_tables_export_as_fasttext_computes_them(ft_model, tmp_path):
    """A pruned subword table over an int8 inner table: fastText reads the export (pruned buckets
    as zero rows) and computes, from its rows, what our table computes."""
    model, path = ft_model
    kv = load_vectors(path, "fasttext-bin")
    table = kv.table
    kept = np.sort(np.random.default_rng(1).choice(table.buckets, 300, replace=False))
    full = np.asarray(table.inner)
    inner = Int8Table.from_dense(np.concatenate([full[:table.n_rows],
                                                 full[table.n_rows + kept]]))
    small = KeyedVectors(kv.vocab, table.with_inner(inner, kept_buckets=kept))
    save_vectors(small, tmp_path / "pruned.bin", "fasttext-bin")
    ft = fasttext.load_model(str(tmp_path / "pruned.bin"))
    want = np.stack([ft.get_word_vector(w) for w in _words(model)])
    np.testing.assert_allclose(small[_words(model)], want, rtol=1e-6, atol=1e-7)
    with use_native(False):
        np.testing.assert_allclose(small[_words(model)], want, rtol=1e-6, atol=1e-7)
    # the reference: the decoded kept rows, a pruned bucket a zero row, averaged
    decoded, position = np.asarray(inner), {b: i for i, b in enumerate(kept.tolist())}
    for w, got in zip(_words(model)[::7], small[_words(model)[::7]]):
        rows = [decoded[i] if i < table.n_rows else
                decoded[table.n_rows + position[i - table.n_rows]]
                if i - table.n_rows in position else np.zeros(kv.dim, np.float32)
                for i in model.get_subwords(w)[1].tolist()]
        np.testing.assert_allclose(got, np.mean(rows, 0) if rows else 0, rtol=1e-5, atol=1e-6)


def test_unseen_words_in_neighbors_and_analogies(ft_model):
    model, path = ft_model
    kv = load_vectors(path, "fasttext-bin")
    got = kv.neighbors("zzqx", k=5)
    want = model.get_nearest_neighbors("zzqx", k=5)
    assert [w for w, _ in got] == [w for _, w in want]
    np.testing.assert_allclose([s for _, s in got], [s for s, _ in want], rtol=1e-4)
    a, c = model.words[3], model.words[5]
    got = kv.analogy(a, "zzqx", c, k=3)
    q = [model.get_word_vector(w) for w in (a, "zzqx", c)]
    q = [v / np.linalg.norm(v) for v in q]
    query = q[1] + q[2] - q[0]
    m = kv.vectors / np.linalg.norm(kv.vectors, axis=1, keepdims=True)
    scores = m @ (query / np.linalg.norm(query))
    scores[[kv.vocab[a], kv.vocab[c]]] = -np.inf
    assert [w for w, _ in got] == [kv.vocab.keys[i] for i in np.argsort(-scores)[:3]]
    with pytest.raises(UnknownKeyError, match="3CosMul"):
        kv.analogy(a, "zzqx", c, method="mul")


def test_cli_import_export_and_neighbors_of_an_unseen_word(ft_model, tmp_path):
    model, path = ft_model
    run = [sys.executable, "-m", "compactemb"]
    subprocess.run([*run, "import", str(path), "--format", "fasttext-bin", "-o",
                    str(tmp_path / "m.cemb"), "-q"], check=True)
    subprocess.run([*run, "export", str(tmp_path / "m.cemb"), "--format", "fasttext-bin", "-o",
                    str(tmp_path / "m.bin"), "-q"], check=True)
    again = fasttext.load_model(str(tmp_path / "m.bin"))
    np.testing.assert_array_equal(again.get_word_vector("zzqx"), model.get_word_vector("zzqx"))
    out = subprocess.run([*run, "neighbors", str(tmp_path / "m.cemb"), "zzqx", "-k", "2"],
                         check=True, capture_output=True, text=True).stdout
    assert model.get_nearest_neighbors("zzqx", k=1)[0][1] in out


def test_bad_and_truncated_files_are_named(ft_model, tmp_path):
    _, path = ft_model
    data = path.read_bytes()
    for name, blob, match in [("magic.bin", b"\0" * 64, "not a fastText"),
                              ("header.bin", data[:30], "truncated in the args"),
                              ("dict.bin", data[:200], "truncated in the dictionary"),
                              ("matrix.bin", data[:len(data) // 2], "truncated in the input"),
                              ("output.bin", data[:-len(data) // 200], "output matrix|truncated"),
                              ("version.bin", data[:4] + b"\x07" + data[5:], "version 7")]:
        (tmp_path / name).write_bytes(blob)
        with pytest.raises(FormatError, match=match):
            load_vectors(tmp_path / name, "fasttext-bin")
    with pytest.raises(InputError, match="limit"):
        load_vectors(path, "fasttext-bin", limit=10)


def test_plain_vectors_export_without_ngrams(tmp_path):
    """A table without n-grams is written with maxn = 0: fastText gives the word rows."""
    from compactemb import Vocab

    rng = np.random.default_rng(0)
    kv = KeyedVectors(Vocab(["uno", "dos", "tres"]), DenseTable(rng.normal(size=(3, 4))))
    save_vectors(kv, tmp_path / "w.bin", "fasttext-bin")
    ft = fasttext.load_model(str(tmp_path / "w.bin"))
    np.testing.assert_array_equal(np.stack([ft.get_word_vector(w) for w in kv.vocab.keys]),
                                  kv.vectors)
    assert not ft.get_word_vector("cuatro").any()
    with pytest.raises(InputError, match="cannot be written"):
        save_vectors(KeyedVectors(Vocab(["a b"]), DenseTable(np.ones((1, 2)))),
                     tmp_path / "x.bin", "fasttext-bin")


def test_table_checks_and_storage_round_trip(tmp_path):
    inner = DenseTable(np.arange(2 * 7 * 3, dtype=np.float32).reshape(14, 3))
    with pytest.raises(InputError, match="needs an inner table of 12 rows"):
        SubwordTable(inner, ["ab", "cd"], minn=2, maxn=3, buckets=10)
    with pytest.raises(InputError, match="minn"):
        SubwordTable(inner, ["ab", "cd"], minn=4, maxn=3, buckets=12)
    t = SubwordTable(inner, ["ab", "cd"], minn=2, maxn=3, buckets=12)
    t.save(tmp_path / "t.cemb")
    back = load(tmp_path / "t.cemb", mmap=True)
    np.testing.assert_array_equal(back.lookup_words(["abc", "cd"]), t.lookup_words(["abc", "cd"]))
    assert back.nbytes == t.nbytes and os.path.getsize(tmp_path / "t.cemb") > t.nbytes


# -- training ------------------------------------------------------------------------------------

GROUPS = [["walk", "talk", "jump", "run", "climb"], ["paint", "draw", "sketch", "color", "print"],
          ["cook", "bake", "roast", "fry", "boil"], ["swim", "dive", "sail", "row", "surf"]]
UNSEEN_FORMS = {stem + suffix: g for g, stems in enumerate(GROUPS) for stem in stems
                for suffix in ("ers", "ingly", "able")}


@pytest.fixture(scope="module")
def morph_corpus(tmp_path_factory):
    """Four topics of stems with inflections; a sentence stays in one topic."""
    rng = np.random.default_rng(0)
    lines = []
    for _ in range(3000):
        stems = GROUPS[rng.integers(4)]
        lines.append(" ".join(rng.choice(stems) + rng.choice(["", "s", "ed", "ing", "er"])
                              for _ in range(8)))
    path = tmp_path_factory.mktemp("morph") / "morph.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _topic_accuracy(vector, words, matrix):
    """Share of unseen forms whose nearest vocabulary word has a stem of their topic."""
    unit = matrix / np.linalg.norm(matrix, axis=1, keepdims=True)
    hits = 0
    for form, g in UNSEEN_FORMS.items():
        q = vector(form)
        best = words[int(np.argmax(unit @ (q / np.linalg.norm(q))))]
        hits += any(best.startswith(stem) for stem in GROUPS[g])
    return hits / len(UNSEEN_FORMS)


@pytest.mark.parametrize("sg", [True, False])
def test_trained_subwords_place_unseen_forms_as_fasttext_does(morph_corpus, sg):
    from compactemb.train import FastText

    ft = fasttext.train_unsupervised(str(morph_corpus), model="skipgram" if sg else "cbow",
                                     dim=16, epoch=5, minCount=1, minn=3, maxn=5, bucket=2000,
                                     thread=1, verbose=0)
    words = [w for w in ft.words if w != "</s>"]
    want = _topic_accuracy(ft.get_word_vector, words,
                           np.stack([ft.get_word_vector(w) for w in words]))
    kv = FastText(16, sg=sg, epochs=5, min_count=1, minn=3, maxn=5, buckets=2000,
                  n_threads=1).fit(morph_corpus).model_
    assert isinstance(kv.table, SubwordTable) and kv.table.n_ngram_rows == 2000
    got = _topic_accuracy(lambda w: kv[w], kv.vocab.keys, kv.vectors)
    assert got >= 0.9 and got >= want - 0.1, (got, want)


def test_trained_model_saves_and_exports_to_fasttext(morph_corpus, tmp_path):
    from compactemb.train import FastText

    model = FastText(8, epochs=1, min_count=1, buckets=300, n_threads=2).fit(morph_corpus)
    assert model.meta_["trainer"] == "fasttext" and model.meta_["params"]["buckets"] == 300
    model.model_.save(tmp_path / "m.cemb")
    kv = load(tmp_path / "m.cemb")
    save_vectors(kv, tmp_path / "m.bin", "fasttext-bin")
    ft = fasttext.load_model(str(tmp_path / "m.bin"))
    forms = list(UNSEEN_FORMS)[:10] + kv.vocab.keys[:10]
    np.testing.assert_array_equal(np.stack([ft.get_word_vector(w) for w in forms]), kv[forms])
    np.testing.assert_array_equal(kv[forms], model.model_[forms])


def test_cli_train_words_subwords(morph_corpus, tmp_path):
    import json

    out = subprocess.run([sys.executable, "-m", "compactemb", "train", "words", str(morph_corpus),
                          "--method", "cbow", "--subwords", "--minn", "2", "--maxn", "4",
                          "--buckets", "500", "--dim", "8", "--epochs", "1", "--min-count", "1",
                          "--threads", "1", "-o", str(tmp_path / "m.cemb"), "--json"],
                         check=True, capture_output=True, text=True).stdout
    assert json.loads(out)["vocab_size"] == 100
    kv = load(tmp_path / "m.cemb")
    assert (kv.table.minn, kv.table.maxn, kv.table.buckets) == (2, 4, 500)
    assert kv["walkingly"].any()


def test_eval_words_counts_unseen_words_and_reports_in_vocab_coverage(ft_model, tmp_path):
    """Spearman over every pair with vectors (unseen words too), against scipy on fastText's
    own vectors; coverage and in_vocab_coverage counted by hand."""
    import json

    from scipy.stats import spearmanr

    model, path = ft_model
    vocab = [w for w in model.words if w != "</s>"]
    rng = np.random.default_rng(3)
    pairs = [(vocab[i], vocab[j], float(rng.random())) for i, j in rng.integers(0, 50, (20, 2))]
    pairs += [("zzqx", vocab[1], 0.3), ("abcdefghijkl", "naïveté", 0.9), (vocab[2], "q", 0.1)]
    sim = tmp_path / "sim.txt"
    sim.write_text("".join(f"{a}\t{b}\t{s}\n" for a, b, s in pairs), encoding="utf-8")
    subprocess.run([sys.executable, "-m", "compactemb", "import", str(path), "--format",
                    "fasttext-bin", "-o", str(tmp_path / "m.cemb"), "-q"], check=True)
    out = json.loads(subprocess.run(
        [sys.executable, "-m", "compactemb", "eval", "words", str(tmp_path / "m.cemb"),
         "--similarity", str(sim), "--json"], check=True, capture_output=True,
        text=True).stdout)["similarity"]["sim.txt"]

    def cos(a, b):
        va, vb = model.get_word_vector(a), model.get_word_vector(b)
        return float(va @ vb / (np.linalg.norm(va) * np.linalg.norm(vb)))

    # "q" (one letter, minn 2: "<q", "q>", "<q>") has n-grams, so every pair has vectors
    assert all(model.get_word_vector(w).any() for p in pairs for w in p[:2])
    want = spearmanr([cos(a, b) for a, b, _ in pairs], [s for *_, s in pairs]).statistic
    assert out["spearman"] == pytest.approx(want, abs=1e-6)
    assert out["coverage"] == 1.0 and out["pairs_used"] == len(pairs)
    assert out["in_vocab_coverage"] == pytest.approx(20 / len(pairs))


def test_compress_prunes_buckets_by_norm_and_quantises_the_rest(ft_model):
    """compress(kv, "pruned+int4", keep=100): the 100 n-gram buckets of largest norm kept
    (reference: numpy on fastText's matrix), words all kept, vectors = the mean over the
    decoded rows with pruned n-grams as zero rows (ids from fastText's get_subwords)."""
    from compactemb.compress import compress

    model, path = ft_model
    kv = load_vectors(path, "fasttext-bin")
    n = len(model.words)
    ngram_matrix = model.get_input_matrix()[n:]
    want_kept = np.sort(np.argsort(-np.linalg.norm(ngram_matrix, axis=1), kind="stable")[:100])
    small = compress(kv, "pruned+int4", keep=100)
    table = small.table
    assert table.kind == "subword" and table.inner.kind == "int4"
    assert table.kept_buckets.tolist() == want_kept.tolist()
    assert table.nbytes < kv.table.nbytes / 5
    decoded, position = np.asarray(table.inner), {b: i for i, b in enumerate(want_kept.tolist())}
    for w, got in zip(_words(model)[::11], small[_words(model)[::11]]):
        rows = [decoded[i] if i < n else decoded[n + position[i - n]] if i - n in position
                else np.zeros(kv.dim, np.float32) for i in model.get_subwords(w)[1].tolist()]
        np.testing.assert_allclose(got, np.mean(rows, 0) if rows else 0, rtol=1e-5, atol=1e-6)
    int8 = compress(kv, "int8")
    assert int8.table.kind == "subword" and int8.table.inner.kind == "int8"
    np.testing.assert_allclose(int8[_words(model)], kv[_words(model)], atol=2e-3)


def test_compress_keep_words_drops_rare_words_to_their_ngrams(ft_model):
    """keep_words=N keeps the N first (most frequent) words; a dropped word's vector is then
    what fastText gives a word outside its dictionary: the mean of its n-gram rows (reference:
    numpy over fastText's matrix and get_subwords ids)."""
    from compactemb.compress import compress

    model, path = ft_model
    kv = load_vectors(path, "fasttext-bin")
    n = len(model.words)
    matrix = model.get_input_matrix()
    # buckets no vocabulary word uses were never trained: never kept
    used = sorted({i - n for w in model.words for i in model.get_subwords(w)[1].tolist()
                   if i >= n})
    assert len(used) < kv.table.n_ngram_rows
    small = compress(kv, "pruned", keep=1.0, keep_words=40)
    assert small.vocab.keys == kv.vocab.keys[:40] and small.table.n_rows == 40
    assert small.table.kept_buckets.tolist() == used
    for w in kv.vocab.keys[40::7] + ["zzqx", "abcdefghijkl"]:
        rows = [matrix[i] if i - n in used else np.zeros(kv.dim, np.float32)
                for i in model.get_subwords(w)[1].tolist() if i >= n]
        want = np.mean(rows, axis=0) if rows else np.zeros(kv.dim, np.float32)
        np.testing.assert_allclose(small[w], want, rtol=1e-5, atol=1e-7)
        assert w not in small
    for w in kv.vocab.keys[:40:3]:  # kept words: their row and their n-grams' (all used)
        np.testing.assert_allclose(small[w], kv[w], rtol=1e-6, atol=1e-7)
    quantised = compress(kv, "pruned+int8", keep=50, keep_words=0.25)
    assert len(quantised.vocab) == round(0.25 * n) and quantised.table.inner.kind == "int8"
    with pytest.raises(InputError, match="keep_words"):
        compress(kv, "pruned", keep_words=0)
    with pytest.raises(InputError, match="keep_words"):
        compress(KeyedVectors(kv.vocab, DenseTable(kv.vectors)), "pruned", keep_words=10)
    with pytest.raises(InputError, match="keep_words"):
        compress(kv, "int8", keep_words=10)


def test_frontier_over_a_subword_model(ft_model, tmp_path):
    """The default grid of a subword table prunes buckets and words and quantises; every
    setting is measured smaller than float32 and evaluated on pairs with unseen words."""
    from compactemb.frontier import frontier, subword_grid, word_evaluator

    model, path = ft_model
    kv = load_vectors(path, "fasttext-bin")
    vocab = [w for w in model.words if w != "</s>"]
    rng = np.random.default_rng(5)
    pairs = [(vocab[i], vocab[j], float(rng.random())) for i, j in rng.integers(0, 80, (30, 2))]
    pairs += [("zzqx", vocab[1], 0.3), ("abcdefghijkl", vocab[3], 0.9)]
    sim = tmp_path / "sim.txt"
    sim.write_text("".join(f"{a}\t{b}\t{s}\n" for a, b, s in pairs), encoding="utf-8")
    evaluate, primary = word_evaluator(similarity=[sim])
    grid = subword_grid(kv.table)
    assert any("keep_words" in o for _, o in grid) and any(m == "pruned+pq" for m, _ in grid)
    result = frontier(kv, evaluate, primary)
    rows = result["rows"]
    assert [r["method"] for r in rows[1:]] == [m for m, _ in grid]
    assert all(r["bytes"] < rows[0]["bytes"] for r in rows[1:])
    assert all(r[primary] is not None for r in rows)
    assert min(r["bytes"] for r in rows) < rows[0]["bytes"] / 10
    assert any(r["pareto"] for r in rows)


def test_pruned_buckets_fold_into_word_rows(ft_model):
    """With fold (the default), every vocabulary word keeps its vector after bucket pruning
    (reference: fastText's get_word_vector); an unseen word's vector is the mean of its kept
    n-gram rows with pruned ones as zeros (reference: numpy over fastText's matrix)."""
    model, path = ft_model
    kv = load_vectors(path, "fasttext-bin")
    n = len(model.words)
    matrix = model.get_input_matrix()
    small = kv.table.prune_buckets(60)
    kept = set(small.kept_buckets.tolist())
    want = np.stack([model.get_word_vector(w) for w in model.words])
    np.testing.assert_allclose(small.lookup_words(model.words), want, rtol=1e-4, atol=1e-6)
    unfolded = kv.table.prune_buckets(60, fold=False)
    assert np.abs(unfolded.lookup_words(model.words) - want).max() > 1e-3
    for w in [w for w in UNSEEN if w not in model.words]:
        rows = [matrix[i] if i - n in kept else np.zeros(kv.dim, np.float32)
                for i in model.get_subwords(w)[1].tolist()]
        expect = np.mean(rows, axis=0) if rows else np.zeros(kv.dim, np.float32)
        np.testing.assert_allclose(small.lookup_words([w])[0], expect, rtol=1e-5, atol=1e-7)
