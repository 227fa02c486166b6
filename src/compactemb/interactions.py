"""User-item interactions: raw IDs indexed by vocabularies, weights in a CSR matrix.

Reading (in :mod:`compactemb.interactions_io`, importable from here too)
-------------------------------------------------------------------------
:func:`read_interactions` reads delimited text (whitespace, tab or comma; with or without a
header; columns chosen by name or position), the MovieLens files (``u.data`` and the
``u1.base`` ... splits: tab-separated ``user item rating timestamp``; ``ratings.csv``: a header
``userId,movieId,rating,timestamp``) and Parquet (needs pyarrow or pandas: ``compactemb[data]``).
:meth:`Interactions.from_dataframe` takes a pandas DataFrame. User and item IDs of any type are
indexed with :class:`~compactemb.vocab.Vocab` (integers stay integers, anything else becomes a
string). Duplicate (user, item) pairs are summed (their timestamp is the latest one).

Confidence
----------
Weights (ratings, play counts) become the confidences of implicit-feedback ALS
(Hu, Koren & Volinsky 2008) with :func:`confidence`:

* ``"linear"``: ``c = 1 + alpha * w`` (the paper's choice),
* ``"log"``:    ``c = 1 + alpha * log(1 + w / eps)`` (the paper's alternative, for heavy tails
  such as play counts),
* ``"binary"``: ``c = 1 + alpha`` for every observed pair (weights ignored),
* ``"none"``:   ``c = w`` as given.

Splits
------
:func:`train_test_split` (random per-user hold-out), :func:`leave_k_out_split` and
:func:`temporal_split` (per user or one global cut, by timestamp) all keep the vocabularies, so
train and test rows and columns mean the same users and items, and are seeded.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from .exceptions import InputError
from .vocab import Vocab, factorize_ids

WEIGHTINGS = ("linear", "log", "binary", "none")


@dataclass
class Interactions:
    """A users x items CSR matrix of weights with the vocabularies of the raw IDs.

    Attributes
    ----------
    user_vocab, item_vocab : Vocab
        Raw ID <-> row (users) and column (items).
    matrix : scipy.sparse.csr_matrix of shape (n_users, n_items), float32
        Summed weights; indices sorted within each row, no duplicates.
    timestamps : ndarray of shape (nnz,), optional
        The time of each stored entry (aligned with ``matrix.data``), when the input had one.
    skipped_rows : list of str
        Rows a reader left out with ``on_bad_rows="skip"``, each ``"<file>: line <n>:
        <reason>"`` (empty otherwise).
    """

    user_vocab: Vocab
    item_vocab: Vocab
    matrix: sp.csr_matrix
    timestamps: np.ndarray | None = None
    skipped_rows: list[str] = field(default_factory=list)

    @classmethod
    def from_arrays(cls, users, items, weights=None, timestamps=None, *,
                    user_vocab: Vocab | None = None, item_vocab: Vocab | None = None,
                    on_unknown: str = "raise") -> Interactions:
        """Index raw IDs and build the matrix (duplicates summed).

        Parameters
        ----------
        users, items : array-like of shape (n,)
            Raw IDs (ints or strings).
        weights : array-like of shape (n,), optional
            Default 1 for each interaction.
        timestamps : array-like of shape (n,), optional
        user_vocab, item_vocab : Vocab, optional
            Use these indexes (a test set indexed like its training set) instead of building
            new ones; unknown IDs then raise, or are dropped with ``on_unknown="skip"``.

        Returns
        -------
        Interactions
            Users x items.

        Raises
        ------
        InputError
            For arrays of different lengths, no interactions, or negative or non-finite weights.
        UnknownKeyError
            For an ID outside given vocabularies with ``on_unknown="raise"``.
        """
        users, items = _column_array(users), _column_array(items)
        if len(users) != len(items) or getattr(users, "ndim", 1) != 1 \
                or getattr(items, "ndim", 1) != 1:
            raise InputError(f"users ({_shape(users)}) and items ({_shape(items)}) must be 1-D "
                             "of one length")
        n = len(users)
        if n == 0:
            raise InputError("no interactions")
        w = np.ones(n, np.float32) if weights is None else _float_column(weights, np.float32)
        if w.shape != (n,):
            raise InputError(f"{w.size} weights for {n} interactions")
        finite = np.isfinite(w)
        if not finite.all():
            raise InputError(f"weights must be finite numbers; row {int(np.argmin(finite))} "
                             f"(0-based) is {w[np.argmin(finite)]}")
        if w.size and float(w.min()) < 0:
            bad = int(np.argmax(w < 0))
            raise InputError(f"weights must be >= 0 (counts or confidences); row {bad} "
                             f"(0-based) is {w[bad]}")
        ts = None
        if timestamps is not None:
            ts = _float_column(timestamps, np.float64)
            if ts.shape != (n,):
                raise InputError(f"{ts.size} timestamps for {n} interactions")
        # one hashing pass per column gives the vocabulary and every row's code at once
        if user_vocab is None:
            uv, u = Vocab.from_ids_encoded(users, what="user ID")
        else:
            uv, u = user_vocab, _encode(user_vocab, users, on_unknown, "user")
        del users
        if item_vocab is None:
            iv, i = Vocab.from_ids_encoded(items, what="item ID")
        else:
            iv, i = item_vocab, _encode(item_vocab, items, on_unknown, "item")
        del items
        if user_vocab is not None or item_vocab is not None:
            keep = (u >= 0) & (i >= 0)
            if not keep.all():
                u, i, w = u[keep], i[keep], w[keep]
                ts = ts[keep] if ts is not None else None
        m, t = _build_csr(u, i, w, ts, (len(uv), len(iv)))
        return cls(uv, iv, m, t)

    @classmethod
    def from_dataframe(cls, df, user_col="user", item_col="item", weight_col=None,
                       time_col=None, **kw) -> Interactions:
        """Interactions from a pandas or polars DataFrame (or a pyarrow Table).

        Columns are given by name (or by position as an int).

        Parameters
        ----------
        df : pandas.DataFrame, polars.DataFrame or pyarrow.Table
            The interactions, one row each.
        user_col, item_col : str or int
            The user and item columns.
        weight_col, time_col : str, int or None
            The weight and timestamp columns, if any (weights default to 1).
        **kw
            Passed to :meth:`from_arrays` (``user_vocab``, ``item_vocab``, ``on_unknown``).

        Returns
        -------
        Interactions
            Users x items, weights summed over repeated pairs.

        Raises
        ------
        InputError
            For a column the frame does not have.
        """
        cols = list(getattr(df, "column_names", None) or df.columns)

        def pick(c, what):
            if c is None:
                return None
            if isinstance(c, (int, np.integer)) and c not in cols:
                if not 0 <= c < len(cols):
                    raise InputError(f"{what} column {c} is out of range ({len(cols)} columns)")
                c = cols[c]
            if c not in cols:
                raise InputError(f"{what} column {c!r} is not in the DataFrame: {cols}")
            return df[c]  # the column itself: Arrow-backed columns stay columnar

        return cls.from_arrays(pick(user_col, "user"), pick(item_col, "item"),
                               pick(weight_col, "weight"), pick(time_col, "time"), **kw)

    @property
    def shape(self) -> tuple[int, int]:
        """(number of users, number of items)."""
        return self.matrix.shape

    @property
    def nnz(self) -> int:
        """The number of stored (user, item) pairs."""
        return int(self.matrix.nnz)

    def with_matrix(self, matrix, timestamps=None) -> Interactions:
        """The same vocabularies with another matrix of the same shape (a split's part).

        Parameters
        ----------
        matrix : scipy.sparse matrix
            Users x items, the shape of this one.
        timestamps : numpy.ndarray or None
            One per stored entry of ``matrix``.

        Returns
        -------
        Interactions
            The new interactions over the same vocabularies.
        """
        return Interactions(self.user_vocab, self.item_vocab, matrix, timestamps)

    def reindex(self, user_vocab: Vocab, item_vocab: Vocab) -> tuple[Interactions, int]:
        """The same interactions in another model's rows and columns.

        For a test file read on its own, mapped onto the training vocabularies. Pairs with an
        unknown user or item are dropped; returns ``(interactions, number dropped)``.

        Parameters
        ----------
        user_vocab, item_vocab : Vocab
            The model's vocabularies.

        Returns
        -------
        (Interactions, int)
            The interactions over those vocabularies, and the number of pairs dropped.
        """
        coo = self.matrix.tocoo()
        u = _encode(user_vocab, self.user_vocab.key_array, "fill", "user")[coo.row]
        i = _encode(item_vocab, self.item_vocab.key_array, "fill", "item")[coo.col]
        keep = (u >= 0) & (i >= 0)
        ts = self.timestamps[keep] if self.timestamps is not None else None
        m, t = _build_csr(u[keep], i[keep], coo.data[keep], ts, (len(user_vocab),
                                                                   len(item_vocab)))
        return Interactions(user_vocab, item_vocab, m, t), int((~keep).sum())

    def confidence(self, *, weighting: str = "linear", alpha: float = 1.0,
                   eps: float = 1.0) -> sp.csr_matrix:
        """The confidence matrix (see :func:`confidence`).

        Parameters
        ----------
        weighting : {"linear", "log", "binary", "none"}
            How weights become confidences.
        alpha : float
            The confidence scale.
        eps : float
            The weight scale of ``log`` weighting.

        Returns
        -------
        scipy.sparse.csr_matrix
            float32 confidences, the pattern of ``matrix``.
        """
        return confidence(self.matrix, weighting=weighting, alpha=alpha, eps=eps)

    def to_rows(self):
        """(user keys, item keys, weights, timestamps or None), one entry per stored pair."""
        coo = self.matrix.tocoo()
        return (self.user_vocab.decode(coo.row), self.item_vocab.decode(coo.col),
                coo.data, self.timestamps)

    def write(self, path) -> None:
        """Write ``user<TAB>item<TAB>weight[<TAB>timestamp]`` rows with a header (atomic).

        Parameters
        ----------
        path : str or os.PathLike
            The TSV file; :func:`compactemb.interactions_io.read_interactions` reads it back.
        """
        from .storage import atomic_write

        users, items, w, ts = self.to_rows()
        with atomic_write(path, "w", encoding="utf-8", newline="\n") as f:
            f.write("user\titem\tweight" + ("\ttimestamp" if ts is not None else "") + "\n")
            for n in range(len(users)):
                tail = f"\t{ts[n]:.17g}" if ts is not None else ""
                f.write(f"{users[n]}\t{items[n]}\t{w[n]:.9g}{tail}\n")


def _column_array(values):
    """A numpy array, or the column as given when it is a pandas/polars/pyarrow column."""
    if isinstance(values, np.ndarray) or type(values).__module__.split(".")[0] in (
            "pandas", "polars", "pyarrow"):
        return values
    return np.asarray(values)


def _shape(values) -> tuple:
    return tuple(getattr(values, "shape", (len(values),)))


def _float_column(values, dtype) -> np.ndarray:
    mod = type(values).__module__.split(".")[0]
    if mod == "polars":
        values = values.to_numpy()
    elif mod == "pyarrow":
        values = values.to_numpy(zero_copy_only=False) if hasattr(values, "to_numpy") \
            else np.asarray(values)
    elif mod == "pandas":
        values = values.to_numpy(dtype=dtype, na_value=np.nan)
    try:
        return np.asarray(values, dtype=dtype).ravel() if np.ndim(values) <= 1 \
            else np.asarray(values, dtype=dtype)
    except (TypeError, ValueError) as exc:
        raise InputError(f"weights and timestamps must be numbers ({exc})") from None


def _encode(vocab: Vocab, values, on_unknown: str, what: str) -> np.ndarray:
    """Rows of raw IDs in a given vocabulary, -1 where unknown (``raise``: an error).

    Each distinct value is looked up once (hashing), then gathered for every row.
    """
    if on_unknown not in ("raise", "skip", "fill"):
        raise InputError(f"on_unknown must be 'raise' or 'skip', got {on_unknown!r}")
    uniques, codes = factorize_ids(values, what=f"{what} ID")
    rows = vocab.encode(uniques, on_unknown="fill", fill_value=-1)
    out = rows[codes]
    if on_unknown == "raise" and (out < 0).any():
        unknown = np.flatnonzero(rows < 0)
        missing = [uniques[j] for j in unknown[:5].tolist()]
        missing = [m.item() if isinstance(m, np.generic) else m for m in missing]
        shown = ", ".join(repr(m) for m in missing)
        raise InputError(f"{int((out < 0).sum())} interactions have an unknown {what}: {shown}")
    return out


def _build_csr(u, i, w, ts, shape):
    """CSR with sorted indices; duplicate pairs summed (latest timestamp kept).

    Without timestamps scipy's counting sort (O(nnz)) builds it with 32-bit indices where they
    suffice; with timestamps one sort by (row, column) keeps them aligned with the entries.
    """
    if ts is None:
        idx_type = np.int32 if max(len(u), shape[0], shape[1]) < 2**31 else np.int64
        m = sp.coo_matrix((np.asarray(w, dtype=np.float32),
                           (u.astype(idx_type, copy=False), i.astype(idx_type, copy=False))),
                          shape=shape).tocsr()
        m.sum_duplicates()  # a no-op when tocsr already summed them (canonical format)
        return m, None
    key = u.astype(np.int64) * shape[1] + i
    order = np.argsort(key, kind="stable")
    key = key[order]
    new = np.ones(key.size, dtype=bool)
    new[1:] = key[1:] != key[:-1]
    starts = np.flatnonzero(new)
    data = np.add.reduceat(np.asarray(w, np.float64)[order], starts).astype(np.float32)
    t = np.maximum.reduceat(ts[order], starts)
    rows, cols = key[starts] // shape[1], key[starts] % shape[1]
    idx_type = np.int32 if max(rows.size, shape[1]) < 2**31 else np.int64
    indptr = np.zeros(shape[0] + 1, dtype=np.int64)
    indptr[1:] = np.cumsum(np.bincount(rows, minlength=shape[0]))
    m = sp.csr_matrix((data, cols.astype(idx_type), indptr.astype(idx_type)), shape=shape)
    m.has_sorted_indices = True
    return m, t


def confidence(matrix, *, weighting: str = "linear", alpha: float = 1.0,
               eps: float = 1.0) -> sp.csr_matrix:
    """Turn weights into confidences (float32 CSR of the same pattern).

    ``linear``: ``1 + alpha * w``; ``log``: ``1 + alpha * log(1 + w / eps)``; ``binary``:
    ``1 + alpha``; ``none``: ``w`` unchanged. The result shares its index arrays
    (``indices``, ``indptr``) with ``matrix``: only the values are new memory.

    Parameters
    ----------
    matrix : scipy.sparse matrix
        Users x items weights.
    weighting : {"linear", "log", "binary", "none"}
        How weights become confidences.
    alpha : float
        The confidence scale (>= 0).
    eps : float
        The weight scale of ``log`` weighting (> 0).

    Returns
    -------
    scipy.sparse.csr_matrix
        float32 confidences, same pattern as ``matrix``.

    Raises
    ------
    InputError
        For an unknown weighting, a negative or non-finite ``alpha``, ``eps <= 0``, or
        negative weights under ``log`` weighting.
    """
    if weighting not in WEIGHTINGS:
        raise InputError(f"weighting must be one of {', '.join(WEIGHTINGS)}, got {weighting!r}")
    if not np.isfinite(alpha) or alpha < 0:
        raise InputError(f"alpha must be a finite number >= 0, got {alpha}")
    if weighting == "log" and not eps > 0:
        raise InputError(f"eps must be > 0 for log weighting, got {eps}")
    m = sp.csr_matrix(matrix)
    if weighting == "log" and (m.data < 0).any():
        raise InputError("log weighting needs weights >= 0")
    # the index arrays are shared with the input (only the values differ), and the values
    # are computed in float64 a block at a time: no full-size float64 temporaries
    out = np.empty(m.data.shape, dtype=np.float32)
    step = 1 << 20
    for s in range(0, out.size, step):
        w = m.data[s:s + step].astype(np.float64)
        if weighting == "linear":
            c = 1.0 + alpha * w
        elif weighting == "log":
            c = 1.0 + alpha * np.log1p(w / eps)
        elif weighting == "binary":
            c = np.full_like(w, 1.0 + alpha)
        else:
            c = w
        out[s:s + step] = c
    conf = sp.csr_matrix((out, m.indices, m.indptr), shape=m.shape, copy=False)
    conf.has_sorted_indices = m.has_sorted_indices
    return conf


# -- splits -------------------------------------------------------------------------------------

def _split_by_mask(inter: Interactions, test_mask: np.ndarray):
    m = inter.matrix.tocsr()
    rows = np.repeat(np.arange(m.shape[0]), np.diff(m.indptr))
    parts = []
    for mask in (~test_mask, test_mask):
        ts = inter.timestamps[mask] if inter.timestamps is not None else None
        part, t = _build_csr(rows[mask], m.indices[mask].astype(np.int64), m.data[mask], ts,
                             m.shape)
        parts.append(inter.with_matrix(part, t))
    return parts[0], parts[1]


def _per_user_positions(m: sp.csr_matrix, rng: np.random.Generator | None, keys=None):
    """Rank of each stored entry within its user's row: random order or by ``keys``."""
    n = m.nnz
    rows = np.repeat(np.arange(m.shape[0]), np.diff(m.indptr))
    if keys is None:
        assert rng is not None, "a random order needs a generator"
        sort_key = rng.random(n)
    else:
        sort_key = keys
    order = np.lexsort((sort_key, rows))  # by user, then random (or time)
    pos = np.empty(n, dtype=np.int64)
    pos[order] = np.arange(n) - m.indptr[rows[order]]
    return rows, pos


def train_test_split(inter: Interactions, test_fraction: float = 0.2, *,
                     random_state: int = 0, min_train: int = 1):
    """Random per-user hold-out of a fraction of each user's items.

    Each user keeps ``round(test_fraction * n_u)`` random items for testing (never more than
    ``n_u - min_train``).

    Parameters
    ----------
    inter : Interactions
        The interactions to split.
    test_fraction : float
        The share of each user's items held out, in (0, 1).
    random_state : int
        Seed of the draw.
    min_train : int
        Items each user keeps for training at least.

    Returns
    -------
    (Interactions, Interactions)
        ``(train, test)``, with the same vocabularies and shape.

    Raises
    ------
    InputError
        When ``test_fraction`` is outside (0, 1).
    """
    if not 0 < test_fraction < 1:
        raise InputError(f"test_fraction must be in (0, 1), got {test_fraction}")
    m = inter.matrix
    rng = np.random.default_rng(random_state)
    rows, pos = _per_user_positions(m, rng)
    counts = np.diff(m.indptr)
    n_test = np.minimum(np.rint(counts * test_fraction).astype(np.int64),
                        np.maximum(counts - min_train, 0))
    return _split_by_mask(inter, pos < n_test[rows])


def leave_k_out_split(inter: Interactions, k: int = 1, *, random_state: int = 0):
    """Hold out ``k`` random items of every user who has more than ``k + 1``.

    This is implicit's ``leave_k_out_split`` rule.

    Parameters
    ----------
    inter : Interactions
        The interactions to split.
    k : int
        Items held out per eligible user (>= 1).
    random_state : int
        Seed of the draw.

    Returns
    -------
    (Interactions, Interactions)
        ``(train, test)``, with the same vocabularies and shape.

    Raises
    ------
    InputError
        When ``k`` is not an integer >= 1.
    """
    if int(k) != k or k < 1:
        raise InputError(f"k must be an integer >= 1, got {k}")
    m = inter.matrix
    rng = np.random.default_rng(random_state)
    rows, pos = _per_user_positions(m, rng)
    eligible = np.diff(m.indptr) > k + 1
    return _split_by_mask(inter, eligible[rows] & (pos < k))


def temporal_split(inter: Interactions, test_fraction: float = 0.2, *, per_user: bool = True):
    """Hold out the latest interactions.

    Each user's last ``round(test_fraction * n_u)`` (``per_user=True``), or everything after
    the global ``1 - test_fraction`` time quantile. Ties in time are broken by item column so
    the split is deterministic.

    Parameters
    ----------
    inter : Interactions
        The interactions to split; they must have timestamps.
    test_fraction : float
        The share held out, in (0, 1).
    per_user : bool
        Split each user's history (True) or cut all interactions at one time (False).

    Returns
    -------
    (Interactions, Interactions)
        ``(train, test)``, with the same vocabularies and shape.

    Raises
    ------
    InputError
        Without timestamps, or when ``test_fraction`` is outside (0, 1).
    """
    if inter.timestamps is None:
        raise InputError("a temporal split needs timestamps (give a time column)")
    if not 0 < test_fraction < 1:
        raise InputError(f"test_fraction must be in (0, 1), got {test_fraction}")
    m = inter.matrix
    ts = inter.timestamps
    if per_user:
        rows, pos = _per_user_positions(m, None, keys=-ts)  # latest first
        counts = np.diff(m.indptr)
        n_test = np.minimum(np.rint(counts * test_fraction).astype(np.int64),
                            np.maximum(counts - 1, 0))
        return _split_by_mask(inter, pos < n_test[rows])
    cut = np.quantile(ts, 1 - test_fraction)
    return _split_by_mask(inter, ts > cut)


SPLITS = {"random": train_test_split, "leave-k-out": leave_k_out_split,
          "temporal": temporal_split}


def __getattr__(name: str):
    # the readers moved to compactemb.interactions_io; loaded on first use (it imports this)
    if name in ("read_interactions", "FORMATS"):
        from . import interactions_io

        return getattr(interactions_io, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
