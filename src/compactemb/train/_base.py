"""What every trainer shares: parameters, renamed parameters, the epoch callback, ``model_``.

The contract (scikit-learn's): ``__init__`` only stores its keyword parameters; ``get_params``
returns exactly them, so ``type(t)(**t.get_params())`` is an unfitted copy; ``set_params``
changes them; ``fit`` validates them, trains, stores the trained object in ``model_`` and
returns the trainer. ``fit(..., callback=f)`` calls ``f(epoch, info)`` after each epoch (one
call for single-pass trainers such as the SVDs); ``f`` returning ``False`` stops training after
that epoch.
"""

from __future__ import annotations

import inspect
import warnings

from ..exceptions import InputError, NotFittedError


def renamed_params(owner: str, given: dict, renames: dict) -> dict:
    """New-name values of deprecated keyword arguments, with a DeprecationWarning for each.

    Parameters
    ----------
    owner : str
        The class, named in messages.
    given : dict
        The ``**kwargs`` an ``__init__`` (or function) received beyond its parameters.
    renames : dict
        Old name -> new name.

    Returns
    -------
    dict
        New name -> value.

    Raises
    ------
    TypeError
        For a keyword that is neither a parameter nor an old spelling of one (as Python does).

    Examples
    --------
    >>> import warnings
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     renamed_params("ALS", {"iterations": 3}, {"iterations": "epochs"})
    {'epochs': 3}
    """
    out = {}
    for old, value in given.items():
        if old not in renames:
            raise TypeError(f"{owner}() got an unexpected keyword argument {old!r}")
        new = renames[old]
        warnings.warn(f"{owner}: {old!r} is deprecated, use {new!r}", DeprecationWarning,
                      stacklevel=3)
        out[new] = value
    return out


class _Renamed:
    """A deprecated attribute spelling that reads and writes the new one (with a warning)."""

    def __init__(self, new: str):
        self.new = new

    def __set_name__(self, owner, name):
        self.old = name

    def __get__(self, obj, objtype=None):
        if obj is None:
            return self
        warnings.warn(f"{type(obj).__name__}.{self.old} is deprecated, use .{self.new}",
                      DeprecationWarning, stacklevel=2)
        return getattr(obj, self.new)

    def __set__(self, obj, value):
        warnings.warn(f"{type(obj).__name__}.{self.old} is deprecated, use .{self.new}",
                      DeprecationWarning, stacklevel=2)
        setattr(obj, self.new, value)


class Trainer:
    """Base of the trainers: parameters, renames, callback and the fitted check.

    Subclasses set ``_renames`` (old spelling -> new) and ``_param_spec`` (name -> checker of
    :mod:`compactemb._validation`), store every ``__init__`` keyword under its own name, and
    set ``model_`` in ``fit``.
    """

    _renames: dict = {}
    _param_spec: dict = {}

    @classmethod
    def _param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        return [p.name for p in sig.parameters.values()
                if p.name != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)]

    def _set_renamed(self, given: dict) -> None:
        for name, value in renamed_params(type(self).__name__, given, self._renames).items():
            setattr(self, name, value)

    def get_params(self, deep: bool = False) -> dict:
        """The parameters of ``__init__`` by name (``type(t)(**t.get_params())`` clones ``t``).

        Parameters
        ----------
        deep : bool, default False
            Accepted for scikit-learn compatibility; no parameter is itself an estimator.

        Returns
        -------
        dict
        """
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params):
        """Change parameters (old spellings accepted with a DeprecationWarning); returns self.

        Raises
        ------
        InputError
            For a name that is not a parameter.
        """
        names = set(self._param_names())
        old = {k: v for k, v in params.items() if k not in names and k in self._renames}
        new = {k: v for k, v in params.items() if k not in old}
        for name in new:
            if name not in names:
                raise InputError(f"{type(self).__name__}: no parameter {name!r}; the "
                                 f"parameters are {sorted(names)}")
        new.update(renamed_params(type(self).__name__, old, self._renames))
        for name, value in new.items():
            setattr(self, name, value)
        return self

    def _validate(self) -> None:
        from .._validation import check_params

        check_params(type(self).__name__, self.get_params(), self._param_spec)

    def _meta_params(self, method: str | None = None) -> dict:
        """The parameters as stored in a file's metadata (JSON: tokenizers as dicts)."""
        out = {"method": method} if method else {}
        for name, value in self.get_params().items():
            if name == "tokenizer" and value is None:  # store the one used, not None
                value = self._default_tokenizer()
            out[name] = value.to_dict() if hasattr(value, "to_dict") else value
        return out

    def _default_tokenizer(self):
        from ..text import Tokenizer

        return Tokenizer()

    def _check_fitted(self) -> None:
        if not hasattr(self, "model_"):
            raise NotFittedError(f"this {type(self).__name__} is not fitted yet; call fit() "
                                 "first")

    def __getattr__(self, name: str):
        # learned attributes (``model_``, ``vocab_`` ...) before fit: a clear NotFittedError
        # (an AttributeError, so hasattr() stays False)
        if name.endswith("_") and not name.startswith("_"):
            raise NotFittedError(f"this {type(self).__name__} is not fitted yet (no {name}); "
                                 "call fit() first")
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({params})"


def epoch_callback(callback, owner: str):
    """Wrap ``callback`` into ``notify(epoch, info) -> bool`` (True: stop training).

    ``callback(epoch, info)`` gets the 0-based epoch just finished and a dict with at least
    ``seconds`` (of that epoch) and, when known, ``loss`` or a training metric; returning
    ``False`` stops training. Callbacks of three positional parameters, the old ALS/BPR form
    ``callback(epoch, seconds, loss_or_auc)``, still work with a DeprecationWarning.
    """
    if callback is None:
        return lambda epoch, info: False
    if not callable(callback):
        raise InputError(f"{owner}: callback must be callable, got {callback!r}")
    try:
        params = inspect.signature(callback).parameters.values()
        n_pos = sum(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in params)
        var = any(p.kind == p.VAR_POSITIONAL for p in params)
        old_style = n_pos >= 3 or (n_pos == 2 and var)  # (epoch, seconds, value) / (e, s, *rest)
    except (TypeError, ValueError):
        old_style = False
    if old_style:
        warnings.warn(f"{owner}: callback(epoch, seconds, value) is deprecated; use "
                      "callback(epoch, info) with info['seconds'] and info['loss'] or "
                      "info['train_auc']", DeprecationWarning, stacklevel=3)

        def notify(epoch, info):
            value = info.get("loss", info.get("train_auc"))
            return callback(epoch, info["seconds"], value) is False
    else:
        def notify(epoch, info):
            return callback(epoch, info) is False
    return notify
