"""Commands: train words, eval words."""

from __future__ import annotations

import os
from functools import partial

from ..distributed._cli import add_ray_options, check_ray_method, ray_address, using_ray
from . import common, deprecated_alias, emit
from ._core import add_tokenizer_options, check_positive, load_vectors, tokenizer_from

# --method -> trainer function(args) -> KeyedVectors; other trainers add themselves here
WORD_METHODS = {}


def register(commands, families) -> None:
    p = families["train"].add_parser("words", help="word vectors from a text corpus")
    p.add_argument("corpus", help="text file, one sentence or paragraph per line (.gz/.xz ok)")
    p.add_argument("-o", "--out", required=True, help="output file (.cemb)")
    p.add_argument("--method", default="svd", choices=sorted(WORD_METHODS) or ["svd"],
                   help="svd: PPMI + truncated SVD; sgns: skip-gram with negative sampling; "
                   "cbow: CBOW with negative sampling")
    p.add_argument("--dim", type=int, default=100)
    p.add_argument("--window", type=int, default=None, help="context words on each side "
                   "(default 2 for svd, 5 for sgns/cbow)")
    p.add_argument("--min-count", type=int, default=5)
    p.add_argument("--max-size", type=int, help="keep at most this many words")
    p.add_argument("--vocab", metavar="FILE", help="use this vocabulary (a file written by "
                   "'compactemb vocab'; --min-count and --max-size then do not apply)")
    p.add_argument("--seed", type=int, default=0, help="random seed (random_state)")
    p.add_argument("--cds", type=float, default=0.75, help="context smoothing (svd)")
    p.add_argument("--eig", type=float, default=0.5, help="eigenvalue weighting (svd)")
    p.add_argument("--weighting", default="linear", choices=["linear", "harmonic", "uniform"],
                   help="co-occurrence weight by distance (svd)")
    g = p.add_argument_group("sgns / cbow (word2vec)")
    g.add_argument("--negative", type=int, default=5, help="negative samples per example")
    g.add_argument("--epochs", type=int, default=5)
    g.add_argument("--threads", type=int, default=None,
                   help="training threads (default: all cores; 1 is reproducible)")
    g.add_argument("--sample", type=float, default=1e-3,
                   help="subsampling threshold of frequent words (0: off)")
    g.add_argument("--learning-rate", type=float, default=0.025, help="initial learning rate")
    g.add_argument("--min-learning-rate", type=float, default=0.0001,
                   help="final learning rate (linear decay)")
    deprecated_alias(g, "--alpha", "--learning-rate")
    g.add_argument("--subwords", action="store_true",
                   help="fastText: a word's vector is the mean of its row and its character "
                   "n-gram rows, so unseen words get vectors too")
    g.add_argument("--minn", type=int, default=3, help="shortest n-gram (--subwords)")
    g.add_argument("--maxn", type=int, default=6, help="longest n-gram (--subwords)")
    g.add_argument("--buckets", type=int, default=2_000_000,
                   help="n-gram hash buckets (--subwords; buckets x dim float32 values)")
    deprecated_alias(g, "--min-alpha", "--min-learning-rate")
    g.add_argument("--cbow-sum", action="store_true",
                   help="cbow: sum the context vectors instead of averaging them")
    g.add_argument("--bits", type=int, default=None, metavar="{1,2,4}",
                   help="quantisation-aware training (Word2Bits): write 1/2/4-bit vectors")
    add_tokenizer_options(p)
    add_ray_options(p, "count co-occurrences (svd)")
    common(p)
    p.set_defaults(func=cmd_train_words)

    p = families["eval"].add_parser("words", help="analogy accuracy and similarity Spearman")
    p.add_argument("file")
    p.add_argument("--analogies", help="analogy questions (questions-words.txt format)")
    p.add_argument("--similarity", action="append", default=[],
                   help="word-pair similarity file (repeatable)")
    p.add_argument("--method", choices=["add", "mul"], default="add",
                   help="analogy method: 3CosAdd or 3CosMul")
    p.add_argument("--restrict", type=int, default=300_000,
                   help="only the most frequent N words answer analogies (gensim's default)")
    common(p)
    p.set_defaults(func=cmd_eval_words)


def _vocab_from(args):
    """The ``--vocab`` file as a Vocab, or None."""
    if not args.vocab:
        return None
    from ..vocab import Vocab
    from . import load_object

    return load_object(args.vocab, Vocab, "vocabulary", "write one with 'compactemb vocab'")


def _train_svd(args):
    from ..train import PPMISVD

    if using_ray(args):
        from ..distributed import RayPPMISVD

        PPMISVD = partial(RayPPMISVD, address=ray_address(args))  # noqa: N806
    model = PPMISVD(dim=args.dim, window=args.window or 2, weighting=args.weighting,
                    min_count=args.min_count, max_size=args.max_size, cds=args.cds,
                    eig=args.eig, tokenizer=tokenizer_from(args), random_state=args.seed)
    return model.fit(args.corpus, vocab=_vocab_from(args)).model_


WORD_METHODS["svd"] = _train_svd


def _train_word2vec(args):
    from ..exceptions import InputError
    from ..train import Word2Vec

    out_dir = os.path.dirname(os.path.abspath(args.out))
    if not os.path.isdir(out_dir):  # fail before training, not after
        raise InputError(f"{args.out}: the directory {out_dir} does not exist")
    for name in ("negative", "epochs", "threads"):
        check_positive(name, getattr(args, name))
    if args.bits is not None and args.bits not in (1, 2, 4):
        raise InputError(f"--bits must be 1, 2 or 4, got {args.bits}")
    if args.bits is not None and args.subwords:
        raise InputError("--bits does not apply to --subwords (fastText) models")
    common = {"dim": args.dim, "sg": args.method == "sgns", "window": args.window or 5,
              "negative": args.negative, "min_count": args.min_count,
              "max_size": args.max_size, "sample": args.sample, "epochs": args.epochs,
              "learning_rate": args.learning_rate,
              "min_learning_rate": args.min_learning_rate, "n_threads": args.threads,
              "tokenizer": tokenizer_from(args), "random_state": args.seed}
    if args.subwords:  # fastText's model: the word2vec settings plus character n-grams
        from ..train import FastText

        check_positive("buckets", args.buckets)
        model = FastText(**common, minn=args.minn, maxn=args.maxn, buckets=args.buckets)
    else:
        model = Word2Vec(**common, cbow_mean=not args.cbow_sum, bits=args.bits)
    return model.fit(args.corpus, vocab=_vocab_from(args)).model_


WORD_METHODS["sgns"] = _train_word2vec
WORD_METHODS["cbow"] = _train_word2vec


def cmd_train_words(args) -> int:
    check_positive("dim", args.dim)
    check_positive("window", args.window)
    check_positive("min-count", args.min_count)
    check_ray_method(args, ("svd",))
    if getattr(args, "bits", None) is not None and args.method not in ("sgns", "cbow"):
        from ..exceptions import InputError

        raise InputError(f"--bits applies to --method sgns or cbow, not {args.method}")
    kv = WORD_METHODS[args.method](args)
    kv.save(args.out)
    out = {"output": args.out, "method": args.method, "vocab_size": len(kv), "dim": kv.dim,
           "table_bytes": kv.table.nbytes, "table_kind": kv.table.kind,
           "file_bytes": os.path.getsize(args.out),
           "timings_s": kv.meta.get("timings_s")}
    emit(args, out, f"{len(kv):,} words x {kv.dim} ({args.method}) -> {args.out} "
         f"({out['file_bytes']:,} bytes)")
    return 0


def evaluate_words(kv, analogies=None, similarity=(), *, method="add", restrict=300_000) -> dict:
    """The ``eval words`` result object."""
    from ..evaluation import evaluate_analogies, evaluate_similarity

    out: dict = {}
    if analogies:
        r = evaluate_analogies(kv, analogies, method=method, restrict=restrict)
        out.update(analogy_accuracy=r.accuracy, analogy_coverage=r.coverage,
                   analogy_correct=r.correct, analogy_answered=r.answered,
                   analogy_total=r.total, analogy_method=method)
    sims = {}
    for path in similarity:
        sims[os.path.basename(path)] = evaluate_similarity(kv, path).to_dict()
    if sims:
        out["similarity"] = sims
    return out


def cmd_eval_words(args) -> int:
    from ..exceptions import InputError

    if not args.analogies and not args.similarity:
        raise InputError("give --analogies FILE and/or --similarity FILE")
    kv = load_vectors(args.file)
    out = evaluate_words(kv, args.analogies, args.similarity, method=args.method,
                         restrict=args.restrict)
    lines = []
    if "analogy_accuracy" in out:
        acc = out["analogy_accuracy"]
        lines.append(f"analogies: accuracy {acc:.4f}" if acc is not None else
                     "analogies: none answerable")
        lines[-1] += f", coverage {out['analogy_coverage']:.4f} " \
                     f"({out['analogy_answered']}/{out['analogy_total']})"
    for name, r in out.get("similarity", {}).items():
        sp = "n/a" if r["spearman"] is None else f"{r['spearman']:.4f}"
        lines.append(f"{name}: spearman {sp}, coverage {r['coverage']:.4f}")
        if "in_vocab_coverage" in r:
            lines[-1] += f" (in vocabulary {r['in_vocab_coverage']:.4f})"
    emit(args, out, "\n".join(lines))
    return 0
