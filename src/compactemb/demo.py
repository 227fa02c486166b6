"""The main job: the whole system on the bundled Jane Austen corpus.

Vocabulary -> one-hot vs dense memory, measured on real objects -> PPMI-SVD embeddings ->
neighbours and evaluation -> report.json, the table file and the memory plot in the output folder.
"""

from __future__ import annotations

import itertools
import os
import time
from importlib import resources

import numpy as np

from .exceptions import InputError, OptionalDependencyError

DEMO_WORDS = ["elizabeth", "happy", "brother", "letter", "walk", "house"]

# Our own small analogy set for the demo (relations, not copied data): every ordered pair of
# pairs within a relation gives a question, e.g. "brother sister uncle aunt".
DEMO_RELATIONS = {
    "family": [("brother", "sister"), ("father", "mother"), ("son", "daughter"),
               ("uncle", "aunt"), ("husband", "wife"), ("nephew", "niece"),
               ("mr", "mrs"), ("he", "she"), ("his", "her"), ("himself", "herself"),
               ("gentleman", "lady"), ("man", "woman"), ("sir", "madam"), ("boy", "girl")],
    "past-tense": [("walk", "walked"), ("talk", "talked"), ("look", "looked"),
                   ("return", "returned"), ("call", "called"), ("wish", "wished"),
                   ("hope", "hoped"), ("marry", "married"), ("speak", "spoke"),
                   ("write", "wrote"), ("see", "saw"), ("come", "came"), ("go", "went"),
                   ("give", "gave"), ("take", "took"), ("know", "knew")],
    "plural": [("sister", "sisters"), ("brother", "brothers"), ("daughter", "daughters"),
               ("letter", "letters"), ("friend", "friends"), ("lady", "ladies"),
               ("house", "houses"), ("day", "days"), ("room", "rooms"), ("year", "years"),
               ("hour", "hours"), ("family", "families")],
}


def demo_corpus_path() -> str:
    """Path of the bundled corpus (public domain; NOTICE.txt beside it)."""
    return str(resources.files("compactemb") / "data" / "jane_austen_6novels.txt.gz")


def demo_analogies() -> list[tuple[str, tuple[str, str, str, str]]]:
    out = []
    for section, pairs in DEMO_RELATIONS.items():
        for (a, b), (c, d) in itertools.permutations(pairs, 2):
            out.append((section, (a, b, c, d)))
    return out


def run_demo(out_dir: str, *, dim: int = 100, analogies: str | None = None,
             similarity=(), echo: bool = True) -> dict:
    """Run the demo, write its outputs to ``out_dir`` and return the report."""
    from .evaluation import evaluate_analogies, evaluate_similarity
    from .memory import memory_report, onehot_vs_embedding, plot_memory_growth
    from .onehot import OneHotEncoder, csr_nbytes
    from .storage import write_json
    from .train import PPMISVD
    from .vocab import Vocab

    say = print if echo else (lambda *a, **k: None)
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise InputError(f"{out_dir}: exists and is not a directory")
    os.makedirs(out_dir, exist_ok=True)
    corpus = demo_corpus_path()
    t0 = time.perf_counter()

    say("== 1. Vocabulary (Jane Austen's six novels, bundled) ==")
    vocab = Vocab.from_corpus(corpus, min_count=5)
    n_tokens = vocab.build_info["tokens"]
    say(f"{n_tokens:,} tokens, {vocab.build_info['distinct_seen']:,} distinct; "
        f"{len(vocab):,} words with count >= 5. Most frequent: {', '.join(vocab.keys[:8])}")

    say("\n== 2. One-hot vs dense, measured on real objects ==")
    ids = np.concatenate([c[c >= 0] for c in vocab.encode_corpus(corpus)])
    enc = OneHotEncoder(len(vocab))
    sparse_all = enc.sparse(ids)  # the whole corpus, one-hot, CSR
    batch = ids[:1024]
    dense_batch = enc.dense(batch)  # a real dense one-hot batch
    model = PPMISVD(dim=dim, window=2, min_count=5, random_state=0).fit(corpus, vocab=vocab)
    kv = model.keyed_vectors()
    embedded_batch = kv.table.lookup(batch)
    measured = {
        "tokens_in_corpus": int(ids.size),
        "onehot_sparse_corpus_bytes": csr_nbytes(sparse_all),
        "onehot_dense_batch_shape": list(dense_batch.shape),
        "onehot_dense_batch_bytes": int(dense_batch.nbytes),
        "embedded_batch_shape": list(embedded_batch.shape),
        "embedded_batch_bytes": int(embedded_batch.nbytes),
        "onehot_dense_corpus_bytes_extrapolated": int(dense_batch.nbytes // batch.size
                                                      * ids.size),
        "table_bytes": kv.table.nbytes,
        "ratio_dense_batch_to_embedded_batch": round(dense_batch.nbytes
                                                     / embedded_batch.nbytes, 2),
    }
    arith = onehot_vs_embedding(len(vocab), dim)
    say(f"a batch of {batch.size:,} tokens: one-hot dense {dense_batch.nbytes:,} B "
        f"({dense_batch.shape[0]} x {dense_batch.shape[1]}) vs embedded "
        f"{embedded_batch.nbytes:,} B ({embedded_batch.shape[0]} x {embedded_batch.shape[1]}): "
        f"{measured['ratio_dense_batch_to_embedded_batch']}x")
    say(f"the whole corpus one-hot: sparse CSR {measured['onehot_sparse_corpus_bytes']:,} B; "
        f"dense would be {measured['onehot_dense_corpus_bytes_extrapolated']:,} B")
    say(f"the embedding table: {kv.table.nbytes:,} B ({len(vocab):,} x {dim} float32); the dense "
        f"one-hot matrix of the vocabulary: {arith['onehot_dense_bytes']:,} B "
        f"({arith['ratio_onehot_dense_to_table']}x)")
    say("Sparse one-hot is cheap to store; the embedding wins as model input (d values, not V), "
        "as first-layer size, and in similarity.")

    say(f"\n== 3. Embeddings: PPMI + SVD, dim {dim} ==")
    say(f"trained in {model.meta_['timings_s']['total']:.1f} s "
        f"({model.meta_['cooccurrence_nnz']:,} co-occurring pairs)")

    say("\n== 4. Nearest neighbours (cosine) ==")
    words = [w for w in DEMO_WORDS if w in kv]
    neighbours = {w: [(n, round(s, 4)) for n, s in r]
                  for w, r in zip(words, kv.neighbors(words, k=8))}
    for w, r in neighbours.items():
        say(f"{w:>10}: " + ", ".join(n for n, _ in r))

    say("\n== 5. Evaluation ==")
    ev = evaluate_analogies(kv, demo_analogies())
    evaluation = {"demo_analogies": {"accuracy": ev.accuracy, "coverage": ev.coverage,
                                     "answered": ev.answered, "sections": ev.sections}}
    say(f"demo analogies (family, past tense, plural): accuracy {ev.accuracy:.3f} on "
        f"{ev.answered} questions (coverage {ev.coverage:.2f})")
    if analogies:
        ra = evaluate_analogies(kv, analogies)
        evaluation["analogies"] = ra.to_dict()
        say(f"{os.path.basename(analogies)}: accuracy {ra.accuracy or 0:.3f}, "
            f"coverage {ra.coverage:.3f}")
    for path in similarity:
        rs = evaluate_similarity(kv, path)
        evaluation[os.path.basename(path)] = rs.to_dict()
        say(f"{os.path.basename(path)}: spearman {rs.spearman or float('nan'):.3f}, "
            f"coverage {rs.coverage:.3f}")
    kv.meta["quality"] = evaluation

    table_path = os.path.join(out_dir, "austen-svd.cemb")
    kv.save(table_path)
    plot_path: str | None = os.path.join(out_dir, "memory.png")
    try:
        plot_memory_growth(plot_path, dim=dim, marks={
            f"this table ({len(vocab):,} x {dim})": (len(vocab), kv.table.nbytes)})
    except OptionalDependencyError as exc:  # the core install has no matplotlib
        say(f"(no plot: {exc})")
        plot_path = None
    report = {
        "corpus": "Jane Austen, six novels (bundled, public domain)",
        "vocab": {"size": len(vocab), **vocab.build_info},
        "memory_measured": measured,
        "memory_report": memory_report(kv).to_dict(),
        "training": model.meta_,
        "neighbors": neighbours,
        "evaluation": evaluation,
        "files": {"table": table_path, "plot": plot_path},
        "elapsed_s": round(time.perf_counter() - t0, 2),
    }
    write_json(os.path.join(out_dir, "report.json"), report)
    written = ", ".join(p for p in (table_path, plot_path) if p)
    say(f"\nWrote {written} and {os.path.join(out_dir, 'report.json')} "
        f"in {report['elapsed_s']:.1f} s.")
    say(f"Next: compactemb neighbors {table_path} darcy; compactemb info {table_path}")
    return report
