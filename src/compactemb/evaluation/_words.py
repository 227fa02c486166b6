"""Word-similarity (Spearman) and analogy (3CosAdd / 3CosMul) evaluation.

File formats are those gensim ships: analogies as ``: section`` headers then ``a b c d`` lines
(a is to b as c is to d); similarity as ``word1 <sep> word2 <sep> score`` with ``#`` comments
and tab, comma or space separators. Words are lowercased (``case_insensitive``) as in gensim.

Conventions (gensim's): a question counts as answered when its four words are in the (possibly
restricted) vocabulary; ``accuracy`` is correct / answered and ``coverage`` answered / total.
The answer is the best candidate other than a, b and c. Similarity uses the pairs whose two
words are known; ``coverage`` is known pairs / total.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from ..exceptions import InputError
from ..search import search
from ..text import iter_lines


@dataclass
class AnalogyResult:
    """Scores of keyed vectors on an analogy set (see :func:`evaluate_analogies`).

    Attributes
    ----------
    accuracy : float or None
        Correct answers over answered questions; None when none could be answered.
    coverage : float
        Answered questions (all four words known) over all questions.
    correct, answered, total : int
        The counts behind ``accuracy`` and ``coverage``.
    sections : dict
        The same counts per section of the file.
    """

    accuracy: float | None
    coverage: float
    correct: int
    answered: int
    total: int
    sections: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        """The scores as a JSON-able dict (``analogy_accuracy``, ``analogy_coverage``, ...)."""
        return {"analogy_accuracy": self.accuracy, "analogy_coverage": self.coverage,
                "correct": self.correct, "answered": self.answered, "total": self.total,
                "sections": self.sections}


@dataclass
class SimilarityResult:
    """Scores of keyed vectors on a word-similarity set (see :func:`evaluate_similarity`).

    Attributes
    ----------
    spearman, pearson : float or None
        Correlations of cosine similarity with the human scores; None under 3 usable pairs.
    coverage : float
        Usable pairs (both words known) over all pairs.
    pairs_used, total : int
        The counts behind ``coverage``.
    in_vocab_coverage : float or None
        Vectors that compose unseen words (a subword table): pairs with both words in the
        vocabulary over all pairs, while ``coverage`` also counts pairs of unseen words that
        have a vector. None for other tables (it equals ``coverage``).
    """

    spearman: float | None
    pearson: float | None
    coverage: float
    pairs_used: int
    total: int
    in_vocab_coverage: float | None = None

    def to_dict(self) -> dict:
        """The scores as a JSON-able dict."""
        out = {"spearman": self.spearman, "pearson": self.pearson, "coverage": self.coverage,
               "pairs_used": self.pairs_used, "total": self.total}
        if self.in_vocab_coverage is not None:
            out["in_vocab_coverage"] = self.in_vocab_coverage
        return out


def read_analogies(path) -> list[tuple[str, tuple[str, str, str, str]]]:
    """Read an analogy file (word2vec's ``questions-words.txt`` layout).

    Parameters
    ----------
    path : str or os.PathLike
        The file: ``: section`` lines, then ``a b c d`` questions.

    Returns
    -------
    list of (str, (str, str, str, str))
        (section, (a, b, c, d)) for every question.

    Raises
    ------
    InputError
        On a line that is not four words, or a file without questions.
    """
    path = os.fspath(path)
    section = ""
    out = []
    for n, line in enumerate(iter_lines(path), 1):
        line = line.strip()
        if not line:
            continue
        if line.startswith(":"):
            section = line[1:].strip()
            continue
        words = line.split()
        if len(words) != 4:
            raise InputError(f"{path}: line {n}: an analogy needs 4 words, got {len(words)}")
        a, b, c, d = words
        out.append((section, (a, b, c, d)))
    if not out:
        raise InputError(f"{path}: no analogy questions in the file")
    return out


def read_similarity(path) -> list[tuple[str, str, float]]:
    """Read a word-similarity file (WordSim-353 / SimLex layout).

    Parameters
    ----------
    path : str or os.PathLike
        The file: ``word1 word2 score`` per line; ``#`` lines are comments.

    Returns
    -------
    list of (str, str, float)
        (word1, word2, score) for every pair.

    Raises
    ------
    InputError
        On a malformed line, or a file without pairs.
    """
    path = os.fspath(path)
    out: list[tuple[str, str, float]] = []
    for n, line in enumerate(iter_lines(path), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split("\t") if "\t" in line else (
            line.split(",") if "," in line else line.split())
        if len(parts) < 3:
            raise InputError(f"{path}: line {n}: expected 'word1 word2 score', got {line[:60]!r}")
        try:
            score = float(parts[2])
        except ValueError:
            if not out:  # a header line
                continue
            raise InputError(f"{path}: line {n}: score {parts[2]!r} is not a number") from None
        out.append((parts[0].strip(), parts[1].strip(), score))
    if not out:
        raise InputError(f"{path}: no word pairs in the file")
    return out


def _resolver(kv, case_insensitive: bool, restrict: int | None):
    index = kv.vocab.index
    limit = len(kv.vocab) if restrict is None else min(restrict, len(kv.vocab))

    def find(word: str) -> int:
        i = index.get(word.lower() if case_insensitive else word, -1)
        return i if 0 <= i < limit else -1

    return find, limit


def _similarity_with_subwords(kv, pairs, case_insensitive: bool,
                              restrict: int | None) -> SimilarityResult:
    """evaluate_similarity over a subword table, ``in_vocab_coverage`` beside.

    Every pair whose two words have a non-zero vector counts (unseen words from their n-grams).
    """
    from scipy.stats import pearsonr, spearmanr

    find, _ = _resolver(kv, case_insensitive, restrict)
    total = len(pairs)
    norm = (lambda w: w.lower()) if case_insensitive else (lambda w: w)
    words = sorted({norm(w) for a, b, _ in pairs for w in (a, b)})
    vectors = kv.table.lookup_words(words) if words else np.zeros((0, kv.dim), np.float32)
    norms = np.linalg.norm(vectors, axis=1)
    row = {w: i for i, w in enumerate(words)}
    in_vocab = sum(find(a) >= 0 and find(b) >= 0 for a, b, _ in pairs)
    used = [(row[norm(a)], row[norm(b)], s) for a, b, s in pairs
            if norms[row[norm(a)]] > 0 and norms[row[norm(b)]] > 0]
    in_cov = in_vocab / total if total else 0.0
    if len(used) < 3:
        return SimilarityResult(None, None, len(used) / total if total else 0.0, len(used), total,
                                in_cov)
    ii, jj = np.array([u[0] for u in used]), np.array([u[1] for u in used])
    human = np.array([u[2] for u in used])
    cos = np.einsum("ij,ij->i", vectors[ii], vectors[jj]) / (norms[ii] * norms[jj])
    return SimilarityResult(float(spearmanr(cos, human).statistic),
                            float(pearsonr(cos, human).statistic), len(used) / total, len(used),
                            total, in_cov)


def evaluate_analogies(kv, questions, *, method: str = "add", restrict: int | None = 300_000,
                       case_insensitive: bool = True, batch: int = 2048) -> AnalogyResult:
    """Analogy accuracy and coverage of keyed vectors.

    Parameters
    ----------
    questions : path or list of (section, (a, b, c, d))
    method : {"add", "mul"}
        3CosAdd (``b - a + c``) or 3CosMul.
    restrict : int or None, default 300,000
        Only the first (most frequent) keys answer and are answerable (gensim's
        ``restrict_vocab``).

    Returns
    -------
    AnalogyResult
        Accuracy, coverage and the counts, per section too.
    """
    if isinstance(questions, (str, os.PathLike)):
        questions = read_analogies(questions)
    find, limit = _resolver(kv, case_insensitive, restrict)
    table = kv.table
    if limit < table.n_rows:  # PQ, int8 and int4 heads stay compressed (searched on codes)
        from ..tables._adc import head

        table = head(table, limit)
    qs = [(s, [find(w) for w in words]) for s, words in questions]
    ok = [(s, ids) for s, ids in qs if min(ids) >= 0]
    sections: dict = {}
    for s, _ in qs:
        sections.setdefault(s, {"correct": 0, "answered": 0, "total": 0})["total"] += 1
    correct = 0
    if ok:
        ids = np.array([i for _, i in ok], dtype=np.int64)
        if method == "add":
            norms = table.row_norms()
            inv = np.where(norms > 0, 1 / np.maximum(norms, 1e-30), 0).astype(np.float32)
            preds = np.empty(len(ok), dtype=np.int64)
            for b0 in range(0, len(ok), batch):
                blk = ids[b0:b0 + batch]
                a, b, c = (table.lookup(blk[:, j]) * inv[blk[:, j], None] for j in range(3))
                res = search(table, b - a + c, k=1, exclude=blk[:, :3], approximate=False)
                preds[b0:b0 + batch] = res.ids[:, 0]
        elif method == "mul":
            from ..keyed import cosmul

            res = cosmul(table, ids[:, [1, 2]], ids[:, [0]], k=1)
            preds = res.ids[:, 0]
        else:
            raise InputError(f"method must be 'add' or 'mul', got {method!r}")
        hits = preds == ids[:, 3]
        correct = int(hits.sum())
        for (s, _), h in zip(ok, hits):
            sections[s]["answered"] += 1
            sections[s]["correct"] += int(h)
    for d in sections.values():
        d["accuracy"] = d["correct"] / d["answered"] if d["answered"] else None
    total = len(qs)
    return AnalogyResult(correct / len(ok) if ok else None, len(ok) / total if total else 0.0,
                         correct, len(ok), total, sections)


def evaluate_similarity(kv, pairs, *, case_insensitive: bool = True,
                        restrict: int | None = None) -> SimilarityResult:
    """Spearman (and Pearson) correlation of cosine similarities with human scores.

    Parameters
    ----------
    kv : KeyedVectors
        The vectors to score.
    pairs : str, os.PathLike or list of (str, str, float)
        A similarity file (see :func:`read_similarity`) or its pairs.
    case_insensitive : bool
        Lowercase the words before looking them up.
    restrict : int or None
        Only the first ``restrict`` keys count as known.

    Returns
    -------
    SimilarityResult
        The correlations and the coverage.
    """
    from scipy.stats import pearsonr, spearmanr

    if isinstance(pairs, (str, os.PathLike)):
        pairs = read_similarity(pairs)
    if hasattr(kv.table, "lookup_words"):  # a subword table: unseen words have vectors too
        return _similarity_with_subwords(kv, pairs, case_insensitive, restrict)
    find, _ = _resolver(kv, case_insensitive, restrict)
    used = [(find(a), find(b), s) for a, b, s in pairs]
    used = [(i, j, s) for i, j, s in used if i >= 0 and j >= 0]
    total = len(pairs)
    if len(used) < 3:
        return SimilarityResult(None, None, len(used) / total if total else 0.0, len(used), total)
    ii = np.array([u[0] for u in used])
    jj = np.array([u[1] for u in used])
    human = np.array([u[2] for u in used])
    va, vb = kv.table.lookup(ii), kv.table.lookup(jj)
    den = np.linalg.norm(va, axis=1) * np.linalg.norm(vb, axis=1)
    cos = np.einsum("ij,ij->i", va, vb) / np.where(den > 0, den, 1)
    return SimilarityResult(float(spearmanr(cos, human).statistic),
                            float(pearsonr(cos, human).statistic),
                            len(used) / total, len(used), total)
