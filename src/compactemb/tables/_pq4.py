"""4-bit product quantisation: 16 centroids a sub-space, two codes a byte (fast-scan layout).

As :class:`~compactemb.tables.PQTable` with ``n_centroids=16``, but the codes of sub-vectors
``2j`` and ``2j + 1`` share byte ``j`` (low nibble, high nibble), so a row of ``M`` sub-vectors
takes ``ceil(M / 2)`` bytes and the codebooks only ``16 * dim`` floats. Scoring a query needs one
16-entry lookup table per sub-vector (``M x 16`` floats, in L1 whatever M), the "fast scan" of
André et al. (2015) and FAISS's ``IndexPQFastScan``; see ``tables._adc``.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from .._progress import progress
from ..exceptions import InputError
from ._base import EmbeddingTable, check_ids, register_table
from ._pq import check_pq_options, checked_norms, checked_rotation, decode_pq

N_CENTROIDS = 16


def pack_nibbles(codes: np.ndarray) -> np.ndarray:
    """(n, M) codes < 16 -> (n, ceil(M / 2)) uint8, code ``2j`` in the low nibble of byte ``j``.

    Parameters
    ----------
    codes : numpy.ndarray, shape (n, M)
        Codes in [0, 16).

    Returns
    -------
    numpy.ndarray of uint8, shape (n, ceil(M / 2))
        Packed codes (a last odd code's high nibble is 0).
    """
    n, m = codes.shape
    padded = np.zeros((n, m + m % 2), np.uint8)
    padded[:, :m] = codes
    return np.ascontiguousarray(padded[:, 0::2] | (padded[:, 1::2] << 4))


def unpack_nibbles(packed: np.ndarray, n_subvectors: int) -> np.ndarray:
    """Inverse of :func:`pack_nibbles`: (n, ceil(M / 2)) uint8 -> (n, M) uint8 codes.

    Parameters
    ----------
    packed : numpy.ndarray of uint8
        Packed codes.
    n_subvectors : int
        M.

    Returns
    -------
    numpy.ndarray of uint8, shape (n, M)
        Codes.
    """
    out = np.empty((packed.shape[0], 2 * packed.shape[1]), np.uint8)
    out[:, 0::2] = packed & 15
    out[:, 1::2] = packed >> 4
    return out[:, :n_subvectors]


@register_table
class PQ4Table(EmbeddingTable):
    """4-bit PQ table: ``codes`` (n_rows, ceil(M/2)) packed nibbles + ``codebooks`` (M, 16, dim/M).

    Parameters
    ----------
    codebooks : float32 array of shape (n_subvectors, 16, dim // n_subvectors)
        Codebooks.
    codes : uint8 array of shape (n_rows, ceil(n_subvectors / 2))
        Code of sub-vector ``m`` in nibble ``m % 2`` (low first) of byte ``m // 2``.
    rotation : float32 array of shape (dim, dim), optional
        Orthogonal (OPQ); rows decode as ``decoded @ rotation.T``.
    norms : float16 array of shape (n_rows,), optional
        Per-row scales (``normalize``).

    Examples
    --------
    >>> x = np.random.default_rng(0).standard_normal((300, 8)).astype(np.float32)
    >>> t = PQ4Table.from_dense(x, n_subvectors=4, n_iter=5)
    >>> t.codes.shape, t.nbytes
    ((300, 2), 1112)
    """

    kind = "pq4"
    plot_params: ClassVar[dict] = {"n_subvectors": 20}
    plot_label = "PQ 4-bit (M=20, 10 B/row)"

    def __init__(self, codebooks, codes, rotation=None, norms=None):
        cb = np.ascontiguousarray(codebooks, dtype=np.float32)
        cd = np.asarray(codes)
        if cb.ndim != 3 or cb.shape[1] != N_CENTROIDS or cd.ndim != 2 or cd.dtype != np.uint8 \
                or cd.shape[1] != (cb.shape[0] + 1) // 2:
            raise InputError(f"pq4 needs codebooks (M, 16, dsub) and uint8 codes "
                             f"(n, ceil(M / 2)); got {cb.shape} and {cd.dtype} {cd.shape}")
        self.codebooks, self.codes = cb, np.ascontiguousarray(cd)
        self.n_subvectors, _, self.dsub = cb.shape
        self.n_centroids = N_CENTROIDS
        self.n_rows, self.dim = cd.shape[0], self.n_subvectors * self.dsub
        if self.n_subvectors % 2 and cd.size and int((cd[:, -1] >> 4).max()) != 0:
            raise InputError("pq4: the unused high nibble of the last byte must be 0")
        self.rotation = checked_rotation(rotation, self.dim)
        self.norms = checked_norms(norms, self.n_rows)
        self.meta: dict = {}

    @classmethod
    def from_dense(cls, table_or_array, *, n_subvectors: int, n_iter: int = 20,
                   sample: int | None = 65536, rotation: bool = False, rotation_iter: int = 8,
                   normalize: bool = False, random_state: int = 0) -> PQ4Table:
        """Train 16-centroid codebooks per sub-space (as :meth:`PQTable.from_dense`), pack codes.

        Parameters
        ----------
        n_subvectors : int
            M, must divide dim; bytes per row = ceil(M / 2).
        n_iter : int, default 20
            k-means iterations.
        sample : int or None, default 65536
            Rows drawn to train on; None = all.
        rotation : bool, default False
            Learn an OPQ rotation first.
        rotation_iter : int, default 8
            Alternations of the OPQ training.
        normalize : bool, default False
            Quantise unit vectors and keep a float16 scale per row.
        random_state : int, default 0
            Seed of the sample and the k-means.

        Returns
        -------
        PQ4Table
            The packed codes and codebooks.

        Raises
        ------
        InputError
            When ``n_subvectors`` does not divide dim, or an option is out of range.
        """
        from ._pq import PQTable

        x = table_or_array.to_dense().weights if isinstance(table_or_array, EmbeddingTable) \
            else np.ascontiguousarray(table_or_array, dtype=np.float32)
        if x.ndim == 2:
            check_pq_options(x.shape[0], x.shape[1], n_subvectors, N_CENTROIDS, n_iter)
        with progress(total=1, desc="pq4") as bar:
            full = PQTable.from_dense(x, n_subvectors=n_subvectors, n_centroids=N_CENTROIDS,
                                      n_iter=n_iter, sample=sample, rotation=rotation,
                                      rotation_iter=rotation_iter, normalize=normalize,
                                      seed=random_state)
            bar.update()
        return cls(full.codebooks, pack_nibbles(full.codes), full.rotation, full.norms)

    def unpacked_codes(self, idx: np.ndarray | None = None) -> np.ndarray:
        """The codes one a byte.

        Parameters
        ----------
        idx : numpy.ndarray of int, optional
            Rows (all rows when None).

        Returns
        -------
        numpy.ndarray of uint8, shape (len(idx), n_subvectors)
            Codes in [0, 16).

        Examples
        --------
        >>> t = PQ4Table(np.zeros((3, 16, 1), np.float32), np.array([[0x21, 0x03]], np.uint8))
        >>> t.unpacked_codes().tolist()
        [[1, 2, 3]]
        """
        return unpack_nibbles(self.codes if idx is None else self.codes[idx], self.n_subvectors)

    def _lookup_flat(self, idx: np.ndarray) -> np.ndarray:
        out = decode_pq(self.unpacked_codes(idx), self.codebooks)
        if self.norms is not None:
            out *= self.norms[idx].astype(np.float32)[:, None]
        return out if self.rotation is None else out @ self.rotation.T

    def lookup(self, ids) -> np.ndarray:
        idx = check_ids(ids, self.n_rows)
        return self._lookup_flat(idx.ravel()).reshape(idx.shape + (self.dim,))

    def rows(self, start: int, stop: int) -> np.ndarray:
        return self._lookup_flat(np.arange(start, stop, dtype=np.int64))

    def arrays(self):
        out = {"codebooks": self.codebooks, "codes": self.codes}
        if self.rotation is not None:
            out["rotation"] = self.rotation
        if self.norms is not None:
            out["norms"] = self.norms
        return out

    def attrs(self):
        return {"n_rows": self.n_rows, "dim": self.dim, "n_subvectors": self.n_subvectors,
                "rotation": self.rotation is not None, "normalize": self.norms is not None}

    @classmethod
    def from_state(cls, attrs, arrays):
        t = cls(arrays["codebooks"], arrays["codes"], arrays.get("rotation"),
                arrays.get("norms"))
        if (t.n_rows, t.dim) != (attrs["n_rows"], attrs["dim"]):
            raise ValueError(f"arrays give {t.n_rows} x {t.dim}, the attributes "
                             f"{attrs['n_rows']} x {attrs['dim']}")
        return t

    @classmethod
    def estimate_nbytes(cls, n_rows: int, dim: int, *, n_subvectors: int = 20,
                        rotation: bool = False, normalize: bool = False, **_) -> int:
        return (int(n_rows) * ((int(n_subvectors) + 1) // 2 + (2 if normalize else 0))
                + N_CENTROIDS * int(dim) * 4 + (int(dim) * int(dim) * 4 if rotation else 0))

