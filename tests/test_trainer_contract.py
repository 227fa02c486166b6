"""One contract, checked on every trainer (as implicit's shared test mixin does for its models).

A new trainer joins by adding a ``Spec`` to ``SPECS``: it then must have keyword parameters with
get_params/set_params, fit(...) -> self with the trained object in ``model_`` (saveable and
loadable with compactemb.load), callback(epoch, info) once per epoch with early stop, the one
validation message format, NotFittedError before fit, the input kinds of its family, and seeded
determinism with one thread.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pytest
import scipy.sparse as sp

import compactemb
from compactemb.exceptions import InputError, NotFittedError
from compactemb.interactions import Interactions
from compactemb.keyed import KeyedVectors
from compactemb.recommend import FactorModel
from compactemb.train import ALS, BPR, PPMISVD, FastText, PureSVD, TextClassifier, Word2Vec

# -- tiny real-ish data --------------------------------------------------------------------------


def _lines() -> list[str]:
    rng = np.random.default_rng(0)
    animals, foods = ["cat", "dog", "horse", "cow"], ["bread", "cheese", "apple", "soup"]
    out = []
    for _ in range(300):
        if rng.random() < 0.5:
            out.append(f"the {rng.choice(animals)} runs in the field")
        else:
            out.append(f"the {rng.choice(foods)} tastes good at dinner")
    return out


def _interactions() -> Interactions:
    rng = np.random.default_rng(1)
    users = rng.integers(0, 40, 500)
    items = (users % 2) * 15 + rng.integers(0, 15, 500)  # two taste groups
    return Interactions.from_arrays([f"u{u}" for u in users], [f"i{i}" for i in items],
                                    rng.integers(1, 5, 500).astype(np.float32))


def _labelled() -> tuple[list[str], list[str]]:
    rng = np.random.default_rng(2)
    texts, labels = [], []
    for _ in range(200):
        good = rng.random() < 0.5
        words = rng.choice(["great", "fine", "loved"] if good else ["awful", "dull", "hated"], 3)
        texts.append(" ".join(words) + " film")
        labels.append("pos" if good else "neg")
    return texts, labels


@dataclass
class Spec:
    name: str
    family: str  # "words", "items" or "text": what fit takes
    make: Callable  # (**params) -> an unfitted trainer with small settings
    epochs: int  # epoch callbacks expected from make()
    model_type: type
    epochs_run: Callable | None = None  # fitted trainer -> epochs trained (None: not stoppable)
    callback_epochs: Callable | None = None  # (epochs) -> epoch indices reported, if not 0..n-1
    bad: dict = field(default_factory=dict)  # param -> (value, message tail)


def _common_bad() -> dict:
    return {"dim": (0, "dim must be an integer >= 1, got 0"),
            "random_state": (-1, "random_state must be an integer >= 0, got -1")}


SPECS = [
    Spec("Word2Vec", "words",
         lambda **kw: Word2Vec(**{"dim": 8, "epochs": 3, "min_count": 1, "n_threads": 1,
                                  "window": 2, **kw}),
         3, KeyedVectors, epochs_run=lambda t: len(t.meta_["training_log"]),
         bad={**_common_bad(), "epochs": (0, "epochs must be an integer >= 1, got 0"),
              "n_threads": (0, "n_threads must be an integer >= 1 or None, got 0"),
              "learning_rate": (0.0, "learning_rate must be a number > 0, got 0.0")}),
    Spec("FastText", "words",
         lambda **kw: FastText(**{"dim": 8, "epochs": 3, "min_count": 1, "n_threads": 1,
                                  "window": 2, "buckets": 500, **kw}),
         3, KeyedVectors, epochs_run=lambda t: len(t.meta_["training_log"]),
         bad={**_common_bad(), "buckets": (-1, "buckets must be an integer >= 0, got -1"),
              "learning_rate": (0.0, "learning_rate must be a number > 0, got 0.0")}),
    Spec("PPMISVD", "words", lambda **kw: PPMISVD(**{"dim": 4, "min_count": 1, **kw}), 1,
         KeyedVectors, bad={**_common_bad(),
                            "min_count": (0, "min_count must be an integer >= 1, got 0")}),
    Spec("PureSVD", "items", lambda **kw: PureSVD(**{"dim": 4, **kw}), 1, FactorModel,
         bad=_common_bad()),
    Spec("ALS", "items", lambda **kw: ALS(**{"dim": 4, "epochs": 3, "n_threads": 1, **kw}), 3,
         FactorModel, epochs_run=lambda t: len(t.iteration_seconds_),
         bad={**_common_bad(), "epochs": (-1, "epochs must be an integer >= 0, got -1"),
              "n_threads": (0, "n_threads must be an integer >= 1 or None, got 0")}),
    Spec("BPR", "items", lambda **kw: BPR(**{"dim": 4, "epochs": 3, "n_threads": 1, **kw}), 3,
         FactorModel, epochs_run=lambda t: len(t.iteration_seconds_),
         bad={**_common_bad(), "learning_rate": (-0.5, "learning_rate must be a number >= 0, "
                                                       "got -0.5")}),
    Spec("TextClassifier", "text",
         lambda **kw: TextClassifier(**{"dim": 8, "n_buckets": 1000, "epochs": 3,
                                        "n_threads": 1, **kw}),
         3, TextClassifier, epochs_run=lambda t: t.train_info_["epochs_run"],
         bad={**_common_bad(), "epochs": (0, "epochs must be an integer >= 1, got 0"),
              "learning_rate": (0, "learning_rate must be a number > 0, got 0")}),
]
IDS = [s.name for s in SPECS]


@pytest.fixture(scope="module")
def data():
    return {"words": _lines(), "items": _interactions(), "text": _labelled()}


def _fit(spec: Spec, trainer, data, **kw):
    if spec.family == "text":
        return trainer.fit(*data["text"], **kw)
    return trainer.fit(data[spec.family], **kw)


def _arrays(model) -> list[np.ndarray]:
    """The learned numbers of a trained object, for equality checks."""
    if isinstance(model, KeyedVectors):
        return [np.asarray(model.table)]
    if isinstance(model, FactorModel):
        return [np.asarray(model.user_table), np.asarray(model.item_table)]
    return [np.asarray(model.table_), np.asarray(model.output_)]


# -- the contract ----------------------------------------------------------------------------------


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_params_round_trip_and_clone(spec):
    t = spec.make(random_state=5)
    params = t.get_params()
    assert params["random_state"] == 5 and params["dim"] == t.dim
    clone = type(t)(**params)
    assert clone.get_params() == params and clone is not t
    assert t.set_params(dim=3) is t and t.get_params()["dim"] == 3
    with pytest.raises(InputError, match="no parameter 'nonsense'"):
        t.set_params(nonsense=1)
    for name in ("dim", "random_state"):
        assert name in params
    if "epochs" in params:  # iterative trainers spell passes "epochs"
        assert "iterations" not in params


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_not_fitted_before_fit(spec):
    t = spec.make()
    with pytest.raises(NotFittedError, match=f"this {spec.name} is not fitted"):
        t.model_  # noqa: B018
    assert not hasattr(t, "model_")


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_fit_returns_self_and_model_saves(spec, data, tmp_path):
    t = spec.make()
    assert _fit(spec, t, data) is t
    assert isinstance(t.model_, spec.model_type)
    path = tmp_path / "model.cemb"
    t.model_.save(path)
    back = compactemb.load(path)
    assert isinstance(back, spec.model_type)
    for a, b in zip(_arrays(t.model_), _arrays(back)):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_callback_once_per_epoch(spec, data):
    calls = []
    _fit(spec, spec.make(), data, callback=lambda epoch, info: calls.append((epoch, info)))
    expected = spec.callback_epochs(spec.epochs) if spec.callback_epochs else \
        list(range(spec.epochs))
    assert [e for e, _ in calls] == expected
    for _, info in calls:
        assert isinstance(info, dict) and info["seconds"] >= 0


@pytest.mark.parametrize("spec", [s for s in SPECS if s.epochs_run], ids=lambda s: s.name)
def test_callback_false_stops_early(spec, data):
    calls = []

    def stop_after_two(epoch, info):
        calls.append(epoch)
        return epoch < 1  # False after the second epoch

    t = _fit(spec, spec.make(), data, callback=stop_after_two)
    assert calls == [0, 1]
    assert spec.epochs_run(t) == 2 < spec.epochs
    assert isinstance(t.model_, spec.model_type)


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_bad_params_one_format(spec, data):
    for name, (value, tail) in spec.bad.items():
        t = spec.make(**{name: value})
        with pytest.raises(InputError) as info:
            _fit(spec, t, data)
        assert str(info.value) == f"{spec.name}: {tail}", name
        assert t.get_params()[name] == value  # validated in fit, not changed


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_seeded_determinism_one_thread(spec, data):
    a = _arrays(_fit(spec, spec.make(random_state=3), data).model_)
    b = _arrays(_fit(spec, spec.make(random_state=3), data).model_)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    if spec.name not in ("PPMISVD", "PureSVD"):  # random starts: another seed differs
        c = _arrays(_fit(spec, spec.make(random_state=4), data).model_)
        assert not all(np.array_equal(x, z) for x, z in zip(a, c))


@pytest.mark.parametrize("spec", [s for s in SPECS if s.family == "words"], ids=lambda s: s.name)
def test_word_trainers_take_path_lines_and_token_lists(spec, data, tmp_path):
    lines = data["words"]
    path = tmp_path / "corpus.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    results = [spec.make().fit(corpus).model_
               for corpus in (str(path), path, lines, [ln.split() for ln in lines])]
    first = results[0]
    for kv in results[1:]:
        assert kv.vocab.keys == first.vocab.keys
        np.testing.assert_array_equal(np.asarray(kv.table), np.asarray(first.table))


@pytest.mark.parametrize("spec", [s for s in SPECS if s.family == "items"], ids=lambda s: s.name)
def test_item_trainers_take_interactions_and_matrices(spec, data):
    inter = data["items"]
    by_inter = spec.make().fit(inter).model_
    assert by_inter.user_vocab.keys == inter.user_vocab.keys
    for m in (inter.matrix.tocsr(), inter.matrix.tocoo(), sp.csc_matrix(inter.matrix),
              inter.matrix.toarray()):
        got = spec.make().fit(m).model_
        assert got.user_vocab.keys == list(range(m.shape[0]))
        for x, y in zip(_arrays(got), _arrays(by_inter)):
            np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6)
    with pytest.raises(InputError, match=f"^{spec.name}: the training data must be"):
        spec.make().fit([[1, 0], [0, 1]])


# -- old spellings -----------------------------------------------------------------------------


@pytest.mark.parametrize("cls,old,new,value", [
    (ALS, "iterations", "epochs", 2), (BPR, "iterations", "epochs", 2),
    (Word2Vec, "alpha", "learning_rate", 0.05), (Word2Vec, "min_alpha", "min_learning_rate", 0.001),
])
def test_old_keyword_spellings_warn_and_work(cls, old, new, value):
    with pytest.warns(DeprecationWarning, match=f"'{old}' is deprecated, use '{new}'"):
        t = cls(**{old: value})
    assert t.get_params()[new] == value and old not in t.get_params()
    with pytest.warns(DeprecationWarning, match=f"use .{new}"):
        assert getattr(t, old) == value
    with pytest.warns(DeprecationWarning):
        t.set_params(**{old: value * 2})
    assert getattr(t, new) == value * 2
    with pytest.raises(TypeError, match="unexpected keyword argument 'bogus'"):
        cls(bogus=1)


def test_old_spellings_train_the_same(data):
    with pytest.warns(DeprecationWarning):
        old = ALS(4, iterations=2, n_threads=1).fit(data["items"])
    new = ALS(4, epochs=2, n_threads=1).fit(data["items"])
    for x, y in zip(_arrays(old.model_), _arrays(new.model_)):
        np.testing.assert_array_equal(x, y)


def test_seed_alias_of_randomized_svd():
    from compactemb.train import randomized_svd

    a = np.random.default_rng(0).standard_normal((30, 20)).astype(np.float32)
    with pytest.warns(DeprecationWarning, match="'seed' is deprecated, use 'random_state'"):
        old = randomized_svd(a, 3, seed=7)
    new = randomized_svd(a, 3, random_state=7)
    for x, y in zip(old, new):
        np.testing.assert_array_equal(x, y)


def test_old_three_argument_callback_still_works(data):
    seen = []
    with pytest.warns(DeprecationWarning, match="callback"):
        BPR(4, epochs=2, n_threads=1).fit(data["items"],
                                         callback=lambda e, s, auc: seen.append((e, auc)))
    assert [e for e, _ in seen] == [0, 1] and all(0 <= a <= 1 for _, a in seen)
    seconds = []  # the form bench/recsys shares with implicit: (iteration, seconds, *rest)
    with pytest.warns(DeprecationWarning, match="callback"):
        ALS(4, epochs=2, n_threads=1).fit(data["items"],
                                         callback=lambda it, s, *rest: seconds.append(s))
    assert len(seconds) == 2 and all(isinstance(s, float) for s in seconds)


def test_no_warning_with_new_spellings(data):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ALS(4, epochs=1, n_threads=1).fit(data["items"], callback=lambda e, info: None)


# -- the command line: one spelling shown, old ones hidden but working -------------------------


@pytest.mark.parametrize("target,shown,hidden", [
    ("words", ["--learning-rate", "--min-learning-rate", "--epochs", "--seed", "--threads",
               "--dim", "--vocab"], ["--alpha", "--min-alpha"]),
    ("items", ["--learning-rate", "--epochs", "--seed", "--threads", "--dim", "--alpha"],
     ["--iterations"]),
    ("classifier", ["--learning-rate", "--epochs", "--seed", "--threads", "--dim"], ["--lr"]),
])
def test_train_help_shows_new_spellings_only(capsys, target, shown, hidden):
    from compactemb.cli import main

    assert main(["train", target, "--help"]) == 0
    out = capsys.readouterr().out
    for opt in shown:
        assert opt in out, opt
    for opt in hidden:
        assert f"{opt} " not in out and f"{opt}\n" not in out, opt


def _train_cli(capsys, *argv):
    from compactemb.cli import main

    code = main(["train", *argv, "--json", "--quiet"])
    out, err = capsys.readouterr()
    assert code == 0, err
    return json.loads(out), err


def test_cli_old_spellings_work_with_one_note(capsys, tmp_path, data):
    corpus = tmp_path / "c.txt"
    corpus.write_text("\n".join(data["words"]) + "\n", encoding="utf-8")
    common = [str(corpus), "--method", "sgns", "--dim", "8", "--min-count", "1", "--threads",
              "1", "--epochs", "1"]
    _, err = _train_cli(capsys, "words", *common, "--alpha", "0.05", "--min-alpha", "0.001",
                        "-o", str(tmp_path / "old.cemb"))
    assert err.splitlines() == [
        "compactemb: note: --alpha is deprecated, use --learning-rate",
        "compactemb: note: --min-alpha is deprecated, use --min-learning-rate"]
    _, err = _train_cli(capsys, "words", *common, "--learning-rate", "0.05",
                        "--min-learning-rate", "0.001", "-o", str(tmp_path / "new.cemb"))
    assert err == ""
    old, new = compactemb.load(tmp_path / "old.cemb"), compactemb.load(tmp_path / "new.cemb")
    assert old.meta["params"]["learning_rate"] == 0.05
    np.testing.assert_array_equal(np.asarray(old.table), np.asarray(new.table))

    items = tmp_path / "i.tsv"
    inter = data["items"]
    coo = inter.matrix.tocoo()
    items.write_text("".join(f"{inter.user_vocab.keys[u]}\t{inter.item_vocab.keys[i]}\t{w}\n"
                             for u, i, w in zip(coo.row, coo.col, coo.data)))
    r, err = _train_cli(capsys, "items", str(items), "--method", "als", "--dim", "4",
                        "--iterations", "2", "--threads", "1", "-o", str(tmp_path / "a.cemb"))
    assert err == "compactemb: note: --iterations is deprecated, use --epochs\n"
    assert len(r["timings_s"]["per_iteration"]) == 2


def test_cli_train_words_with_vocab_file(capsys, tmp_path, data):
    from compactemb.cli import main

    corpus = tmp_path / "c.txt"
    corpus.write_text("\n".join(data["words"]) + "\n", encoding="utf-8")
    assert main(["vocab", str(corpus), "-o", str(tmp_path / "v.cemb"), "--min-count", "1",
                 "--max-size", "6", "--quiet"]) == 0
    capsys.readouterr()
    for method in ("svd", "sgns"):
        r, _ = _train_cli(capsys, "words", str(corpus), "--method", method, "--dim", "3",
                          "--threads", "1", "--vocab", str(tmp_path / "v.cemb"), "-o",
                          str(tmp_path / f"{method}.cemb"))
        kv = compactemb.load(tmp_path / f"{method}.cemb")
        assert r["vocab_size"] == 6 and kv.vocab.keys == compactemb.load(
            tmp_path / "v.cemb").keys
    assert main(["train", "words", str(corpus), "--vocab", str(tmp_path / "svd.cemb"), "-o",
                 str(tmp_path / "x.cemb")]) == 1
    assert "not a vocabulary" in capsys.readouterr().err
