"""TextClassifier: character n-grams (against fastText), quantisation-aware training (against
plain NumPy quantisers and post-training quantisation) and epochs run as resumable calls."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import shared_file

from compactemb.exceptions import InputError
from compactemb.storage import load
from compactemb.train._classifier import (
    LEVELS_2BIT,
    LOSSES,
    TextClassifier,
    char_ngram_buckets,
    qat_table,
)

WORDS = ["great", "naïve", "日本語", "unseenword", "</s>", "a", "ωmega-x", "", "ab"]


def reference_fnv1a(data: bytes) -> int:
    """fastText's Dictionary::hash: FNV-1a 32-bit over the bytes taken as int8_t."""
    h = 2166136261
    for b in data:
        h = ((h ^ (b - 256 if b >= 128 else b)) * 16777619) & 0xFFFFFFFF
    return h


def reference_char_buckets(word, minn, maxn, buckets):
    """fastText's computeSubwords, written out over code points."""
    if word == "</s>":
        return []
    text = "<" + word + ">"
    out = []
    for i in range(len(text)):
        for n in range(1, maxn + 1):
            if i + n > len(text):
                break
            if n >= minn and not (n == 1 and (i == 0 or i + n == len(text))):
                out.append(reference_fnv1a(text[i:i + n].encode("utf-8")) % buckets)
    return out


def toy_data(n=300, seed=0):
    rng = np.random.default_rng(seed)
    pos, neg = ["great", "lovely", "superb"], ["awful", "dreadful", "boring"]
    filler = ["the", "film", "was", "a", "plot", "and"]
    texts, labels = [], []
    for _ in range(n):
        lab = "pos" if rng.random() < 0.5 else "neg"
        words = list(rng.choice(filler, 4)) + [rng.choice(pos if lab == "pos" else neg)]
        rng.shuffle(words)
        texts.append(" ".join(words))
        labels.append(lab)
    return texts, labels


# -- char n-grams --------------------------------------------------------------------------------

def test_char_ngram_buckets_match_a_plain_reference():
    offsets, buckets = char_ngram_buckets(WORDS, 2, 4, 997)
    for i, w in enumerate(WORDS):
        assert buckets[offsets[i]:offsets[i + 1]].tolist() == \
            reference_char_buckets(w, 2, 4, 997), w
    empty_off, empty = char_ngram_buckets(WORDS, 0, 0, 997)
    assert empty_off.tolist() == [0] * (len(WORDS) + 1) and empty.size == 0


def _fasttext_model(tmp_path, texts, labels, **options):
    fasttext = pytest.importorskip("fasttext", reason="the fasttext package is the reference")
    path = tmp_path / "train.txt"
    path.write_text("".join(f"__label__{lab} {t}\n" for t, lab in zip(texts, labels)),
                    encoding="utf-8")
    options = {"dim": 4, "epoch": 1, **options}
    return fasttext.train_supervised(str(path), verbose=0, thread=1, minCount=1, **options)


def test_char_ngram_ids_equal_fasttexts(tmp_path):
    """Every word's subword ids of a trained fastText supervised model: nwords + our bucket."""
    texts = ["great naïve film 日本語", "awful café ωmega-x plot", "a good ab"]
    ft = _fasttext_model(tmp_path, texts, ["pos", "neg", "pos"], minn=2, maxn=4, bucket=997)
    nwords = len(ft.words)
    offsets, buckets = char_ngram_buckets(WORDS, 2, 4, 997)
    for i, w in enumerate(WORDS[:-2]):  # fastText has no subwords API for ""
        _, ids = ft.get_subwords(w)
        grams = [int(x) - nwords for x in ids if x >= nwords]
        assert grams == buckets[offsets[i]:offsets[i + 1]].tolist(), w


def test_features_of_a_text_are_fasttexts(tmp_path):
    """Our rows of a text, mapped to fastText's ids, are fastText's own features of that text:
    the same multiset as its getLine gives (word id + subwords per token, subwords only for an
    unseen word, </s>), and their input rows average to its sentence vector."""
    texts = ["great naïve film 日本語", "awful café plot", "good ωmega-x a", "a film"]
    labels = ["pos", "neg", "pos", "neg"]
    ft = _fasttext_model(tmp_path, texts, labels, minn=2, maxn=4, bucket=997, wordNgrams=1)
    nwords = len(ft.words)
    clf = TextClassifier(dim=4, ngrams=1, n_buckets=997, minn=2, maxn=4, epochs=1,
                         n_threads=1).fit(texts, labels)
    for text in texts:
        ids, offsets, denom = clf.encode([text])
        ours = [ft.get_word_id(clf.vocab_.keys[r]) if r < clf.n_words
                else nwords + int(clf.bucket_ids_[r - clf.n_words]) for r in ids.tolist()]
        theirs = [int(i) for tok in text.split() + ["</s>"] for i in ft.get_subwords(tok)[1]]
        assert sorted(ours) == sorted(theirs), text
        assert denom[0] == len(theirs)
        rows = np.array([ft.get_input_vector(i) for i in ours])
        np.testing.assert_allclose(rows.mean(axis=0), ft.get_sentence_vector(text), atol=1e-6)
    # an unseen word: its n-grams seen in training get their rows, the rest count as zeros
    ids, _, denom = clf.encode(["cafés"])
    expected = [b for b in reference_char_buckets("cafés", 2, 4, 997)
                if b in set(clf.bucket_ids_.tolist())]
    assert sorted(int(clf.bucket_ids_[r - clf.n_words]) for r in ids if r >= clf.n_words) == \
        sorted(expected) and len(expected) > 0
    assert denom[0] == len(reference_char_buckets("cafés", 2, 4, 997)) + 1  # + </s>


def test_unseen_inflections_are_classified_by_their_char_ngrams():
    texts, labels = toy_data()
    with_grams = TextClassifier(dim=16, n_buckets=5000, epochs=20, n_threads=1, minn=3,
                                maxn=5).fit(texts, labels)
    plain = TextClassifier(dim=16, n_buckets=5000, epochs=20, n_threads=1).fit(texts, labels)
    unseen = ["greatest", "lovelier", "superbly", "awfully", "dreadfully", "bored"]
    want = [["pos"]] * 3 + [["neg"]] * 3
    assert with_grams.predict(unseen) == want
    p = plain.predict_proba(unseen)
    np.testing.assert_allclose(p, 0.5, atol=0.2)  # no row of its own: </s> only


def test_compressed_subword_classifier_keeps_char_ngrams(tmp_path):
    """Pruned (n-grams of dropped buckets left out of the mean), words kept as hashes (every
    token's n-grams hashed from its text): the kept char n-gram rows still decide."""
    texts, labels = toy_data()
    clf = TextClassifier(dim=16, n_buckets=5000, epochs=20, n_threads=1, minn=3,
                         maxn=5).fit(texts, labels)
    small = clf.compress("int8", cutoff=200, hash_words=True)
    assert small.vocab_ is None and small.missing_ngrams_ == "drop"
    unseen = ["greatest", "awfully", "lovelier", "dreadfully"]
    assert small.predict(unseen) == [["pos"], ["neg"], ["pos"], ["neg"]]
    # an unseen word's rows are its n-grams whose buckets survived, as in the float model
    ids, _, denom = small.encode(["lovelier"])
    kept = set(small.bucket_ids_.tolist())
    want = sorted(b for b in reference_char_buckets("lovelier", 3, 5, 5000) if b in kept)
    got = sorted(int(small.bucket_ids_[r - small.n_words]) for r in ids if r >= small.n_words)
    assert got == want and denom[0] == len(ids)
    small.save(tmp_path / "small.cemb")
    assert load(tmp_path / "small.cemb").predict(unseen) == small.predict(unseen)


def test_subword_classifier_saves_and_loads(tmp_path):
    texts, labels = toy_data(120)
    clf = TextClassifier(dim=8, n_buckets=500, epochs=3, n_threads=1, minn=2,
                         maxn=3).fit(texts, labels)
    clf.save(tmp_path / "m.cemb")
    back = load(tmp_path / "m.cemb")
    assert (back.minn, back.maxn, back.bits) == (2, 3, None)
    probe = ["greatly dull", "never seen before"]
    np.testing.assert_array_equal(back.decision_function(probe), clf.decision_function(probe))


def test_golden_subword_classifier_and_old_files_load():
    from pathlib import Path

    golden = Path(__file__).parent / "data" / "golden" / "v1"
    old = load(golden / "classifier.cemb")
    assert (old.minn, old.maxn, old.bits) == (0, 0, None)
    clf = load(golden / "classifier_subwords.cemb")
    assert (clf.minn, clf.maxn, clf.n_buckets, clf.ngrams) == (2, 3, 16, 1)
    # "goo" is unseen; its n-grams by fastText's hash fall in buckets 4 1 11 12 3 7 0, of which
    # the file keeps 1, 3, 11 (rows 2, 3, 4); "</s>" is word row 1: (row 1 + rows 2..4) / 8
    assert reference_char_buckets("goo", 2, 3, 16) == [4, 1, 11, 12, 3, 7, 0]
    hidden = (np.array([0.0, 0.25]) + [0.5, -0.5] + [2.0, 0.0] + [-1.0, 1.0]) / 8
    np.testing.assert_allclose(clf.decision_function(["goo"])[0],
                               [[1.0, 0.0], [-1.0, 0.5]] @ hidden, rtol=1e-6)
    # "good" (known, row 0) adds its own row and all 9 of its n-grams' (same 3 kept buckets)
    hidden = (np.array([1.0, 0.5]) + [0.0, 0.25] + [0.5, -0.5] + [2.0, 0.0] + [-1.0, 1.0]) / 11
    np.testing.assert_allclose(clf.decision_function(["good"])[0],
                               [[1.0, 0.0], [-1.0, 0.5]] @ hidden, rtol=1e-6)


@pytest.mark.parametrize("minn,maxn", [(0, 3), (4, 3), (-1, 0)])
def test_bad_char_ngram_params(minn, maxn):
    texts, labels = toy_data(20)
    with pytest.raises(InputError, match="minn"):
        TextClassifier(dim=4, minn=minn, maxn=maxn).fit(texts, labels)


# -- quantisation-aware training -------------------------------------------------------------------

def reference_quantize(w, bits):
    """The forward quantiser, one row and one value at a time (float64)."""
    out = np.zeros(w.shape)
    for i, row in enumerate(w.astype(np.float64)):
        if bits == 4:
            lo, hi = row.min(), row.max()
            step = (hi - lo) / 15
            out[i] = [lo + step * min(15, max(0, round((v - lo) / step))) if step else lo
                      for v in row]
            continue
        levels = [-1.0, 1.0] if bits == 1 else LEVELS_2BIT.astype(np.float64).tolist()
        rms = np.sqrt(np.mean(row ** 2))
        codes = []
        for v in row:
            if bits == 1:
                codes.append(levels[1] if v > 0 else levels[0])
            else:
                dist = [abs(v / rms - lv) if rms else 0 for lv in levels]
                codes.append(levels[int(np.argmin(dist))])
        codes = np.array(codes)
        out[i] = codes * (row @ codes) / (codes @ codes)
    return out


@pytest.mark.parametrize("bits", [1, 2, 4])
def test_quantiser_kernel_and_stored_table_match_reference(bits):
    from compactemb._native import kernels

    rng = np.random.default_rng(bits)
    w = rng.normal(scale=0.1, size=(60, 10)).astype(np.float32)
    w[7] = 0.0
    levels = {1: np.array([-1.0, 1.0], np.float32), 2: LEVELS_2BIT}.get(bits,
                                                                       np.zeros(0, np.float32))
    got = np.zeros_like(w)
    kernels("compactemb.train._classifier_kernels").quantize_rows(w, bits, levels, got)
    want = reference_quantize(w, bits)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    table = qat_table(w, bits)
    assert table.kind == {1: "bit1", 2: "bit2", 4: "int4"}[bits]
    # stored: the same rows up to the float16 scales; int4's float16 min and step (rounded
    # outwards) can move a value to the next code, one step away
    err = np.abs(table.lookup(np.arange(60)) - want).max(axis=1)
    if bits == 4:
        step = (w.max(axis=1) - w.min(axis=1)) / 15
        assert (err <= 1.01 * step + 1e-6).all()
        assert np.mean(np.abs(table.lookup(np.arange(60)) - want)) < 0.05 * step.mean()
    else:
        assert (err <= 1e-3 * np.abs(want).max(axis=1) + 1e-9).all()


@pytest.mark.parametrize("bits", [1, 2, 4])
def test_quantisation_aware_fit_stores_the_small_table(bits, tmp_path):
    texts, labels = toy_data()
    clf = TextClassifier(dim=16, n_buckets=2000, epochs=10, n_threads=1, bits=bits,
                         random_state=1).fit(texts, labels)
    dense = TextClassifier(dim=16, n_buckets=2000, epochs=10, n_threads=1,
                           random_state=1).fit(texts, labels)
    assert clf.table_.kind == {1: "bit1", 2: "bit2", 4: "int4"}[bits]
    assert clf.table_.nbytes * 4 < dense.table_.nbytes
    assert clf.evaluate(texts, labels)["accuracy"] >= 0.95
    clf.save(tmp_path / "q.cemb")
    back = load(tmp_path / "q.cemb")
    assert back.bits == bits and back.table_.kind == clf.table_.kind
    np.testing.assert_array_equal(back.decision_function(texts[:5]),
                                  clf.decision_function(texts[:5]))


def test_bad_bits():
    texts, labels = toy_data(20)
    for bits in (3, 8, True, 1.0):
        with pytest.raises(InputError, match="bits"):
            TextClassifier(dim=4, bits=bits).fit(texts, labels)


# -- epochs as resumable kernel calls ------------------------------------------------------------

@pytest.mark.parametrize("shuffle", [True, False])
@pytest.mark.parametrize("loss", ["softmax", "ova"])
def test_epochs_one_call_at_a_time_equal_one_call(shuffle, loss):
    """The same weights, bit for bit: the schedule, shuffles and label draws carry over."""
    from compactemb.train._classifier_kernels import train_epochs, train_range

    rng = np.random.default_rng(5)
    lengths = rng.integers(1, 6, 40)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    ids = rng.integers(0, 30, offsets[-1]).astype(np.int64)
    label_offsets = np.concatenate([[0], np.cumsum(rng.integers(1, 3, 40))]).astype(np.int64)
    labels = rng.integers(0, 3, label_offsets[-1]).astype(np.int64)
    weights = lengths.astype(np.float64)
    w_in = rng.normal(scale=0.1, size=(30, 5)).astype(np.float32)
    w_out = np.zeros((3, 5), np.float32)
    examples = rng.permutation(40).astype(np.int64)
    a_in, a_out = w_in.copy(), w_out.copy()
    loss_a = train_range(a_in, a_out, ids, offsets, labels, label_offsets, weights, examples,
                         4, 0.3, LOSSES[loss], 11, np.zeros(1, np.int64), 0, True, shuffle)
    b_in, b_out = w_in.copy(), w_out.copy()
    order = examples.copy()
    state = np.array([(11 * 2654435761 + 88172645463325252) % 2**64], np.uint64)
    schedule = np.zeros(2)
    for _ in range(4):
        loss_b = train_epochs(b_in, b_out, ids, offsets, labels, label_offsets, weights, order,
                              state, schedule, 1, 4, 0.3, LOSSES[loss], np.zeros(1, np.int64), 0,
                              True, shuffle, 0, np.zeros(0, np.float32))
    np.testing.assert_array_equal(a_in, b_in)
    np.testing.assert_array_equal(a_out, b_out)
    assert loss_a == loss_b
    assert schedule[0] == pytest.approx(schedule[1])  # the whole schedule was used


def test_callback_false_stops_and_each_epoch_is_reported():
    texts, labels = toy_data(100)
    calls = []

    def stop_after_two(epoch, info):
        calls.append((epoch, info["loss"]))
        return epoch < 1

    clf = TextClassifier(dim=8, n_buckets=500, epochs=5, n_threads=2).fit(
        texts, labels, callback=stop_after_two)
    assert [e for e, _ in calls] == [0, 1] and clf.train_info_["epochs_run"] == 2
    all_calls = []
    TextClassifier(dim=8, n_buckets=500, epochs=3, n_threads=1).fit(
        texts, labels, callback=lambda e, info: all_calls.append(info["loss"]))
    assert len(all_calls) == 3 and all_calls[-1] < all_calls[0]


def test_stopped_fit_equals_the_first_epochs_of_the_schedule():
    """Stopping after 2 of 4 epochs (one thread) gives what the kernel gives for those two
    epochs of a 4-epoch schedule; a callback that never stops changes nothing."""
    texts, labels = toy_data(80)
    make = lambda: TextClassifier(dim=6, n_buckets=300, epochs=4, n_threads=1)  # noqa: E731
    plain = make().fit(texts, labels)
    watched = make().fit(texts, labels, callback=lambda e, info: True)
    np.testing.assert_array_equal(plain.table_.weights, watched.table_.weights)
    stopped = make().fit(texts, labels, callback=lambda e, info: e < 1)
    two = TextClassifier(dim=6, n_buckets=300, epochs=2, n_threads=1).fit(texts, labels)
    assert not np.array_equal(stopped.table_.weights, two.table_.weights)  # lr still high
    assert not np.array_equal(stopped.table_.weights, plain.table_.weights)


# -- SST-2 ----------------------------------------------------------------------------------------

def test_sst2_char_ngrams_as_good_as_fasttexts(tmp_path):
    """20,000 SST-2 sentences, char n-grams 3..5 and word bigrams: test accuracy within 2
    points of fastText supervised with the same settings."""
    from compactemb.labelled import read_labelled

    texts, labels = read_labelled(shared_file("sst2", "train.tsv"))
    test_texts, test_labels = read_labelled(shared_file("sst2", "test.tsv"))
    texts, labels = texts[:20000], [lab[0] for lab in labels[:20000]]  # one label each
    ft = _fasttext_model(tmp_path, texts, labels, minn=3, maxn=5, bucket=200_000,
                         wordNgrams=2, dim=20, epoch=5)
    predicted = [p[0].removeprefix("__label__") for p in ft.predict(test_texts)[0]]
    ft_acc = np.mean([p in lab for p, lab in zip(predicted, test_labels)])
    clf = TextClassifier(dim=20, epochs=5, n_threads=1, minn=3, maxn=5, n_buckets=200_000,
                         random_state=0).fit(texts, labels)
    assert clf.evaluate(test_texts, test_labels)["accuracy"] >= ft_acc - 0.02 > 0.7
