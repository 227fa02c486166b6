"""The ``compactemb`` command line: a thin argparse layer over the public API.

Each command family lives in its own module with a ``register(commands, families)`` function;
``families["train"]`` and ``families["eval"]`` hold the sub-commands of ``train`` and ``eval``
(``train words``, ``train items`` ...). User errors print one line ``compactemb: error: ...``
and exit 1; usage errors exit 2; nothing is half-written (files are written atomically).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from collections.abc import Sequence

from .. import __version__
from .._progress import set_quiet
from ..exceptions import CompactEmbError

# modules that add commands; each has register(commands, families)
_MODULES = [
    "compactemb.cli._core",
    "compactemb.cli._words",
    "compactemb.cli._items",
    "compactemb.cli._compress",
    "compactemb.cli._interop",
    "compactemb.cli._classify",
    "compactemb.cli._serve",
    "compactemb.cli._shrink",
]


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2, as argparse does, but without the usage dump
        self.exit(2, f"{self.prog}: error: {message}\n(see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="compactemb", description=(
        "Compact learned embeddings for sparse categorical data, with every byte accounted for."))
    parser.add_argument("--version", action="version", version=f"compactemb {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True
    families = {}
    for fam, help_ in (("train", "train embeddings (words, items ...)"),
                       ("eval", "evaluate embeddings (words, items ...)")):
        p = commands.add_parser(fam, help=help_, description=help_)
        sub = p.add_subparsers(dest="target", metavar="TARGET", parser_class=_Parser)
        sub.required = True
        families[fam] = sub
    for name in _MODULES:
        importlib.import_module(name).register(commands, families)
    return parser


def common(p: argparse.ArgumentParser, *, json_flag: bool = True) -> None:
    """Options every command has: --quiet (and --json where it prints results)."""
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    if json_flag:
        p.add_argument("--json", action="store_true", help="print the result as JSON")


class _DeprecatedOption(argparse.Action):
    """A hidden old spelling of an option: stores into the new option's ``dest`` and notes it."""

    def __init__(self, option_strings, dest, new: str = "", **kwargs):
        self.new = new
        super().__init__(option_strings, dest, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        print(f"compactemb: note: {option_string} is deprecated, use {self.new}", file=sys.stderr)
        setattr(namespace, self.dest, self.const if self.nargs == 0 else values)


def deprecated_alias(parser, old: str, new: str) -> None:
    """Accept ``old`` as a hidden spelling of the already added option ``new``.

    The alias takes the new option's destination, type, choices and arity, does not show in
    ``--help``, and prints one line ``compactemb: note: OLD is deprecated, use NEW`` to stderr
    when used. Scripts written against the old spelling keep working.

    Parameters
    ----------
    parser : argparse.ArgumentParser or argument group
        Where ``new`` was added (the alias is added there too).
    old : str
        The old option string, e.g. ``"--lr"``.
    new : str
        The option string that replaces it, e.g. ``"--learning-rate"``.

    Raises
    ------
    KeyError
        If ``new`` was not added to ``parser`` first (a programming error).

    Examples
    --------
    >>> import argparse
    >>> p = argparse.ArgumentParser()
    >>> _ = p.add_argument("--learning-rate", type=float, default=0.1)
    >>> deprecated_alias(p, "--lr", "--learning-rate")
    >>> p.parse_args(["--lr", "0.5"]).learning_rate  # doctest: +SKIP
    0.5
    """
    target = parser._option_string_actions[new]
    kwargs = dict(dest=target.dest, nargs=target.nargs, default=argparse.SUPPRESS,
                  help=argparse.SUPPRESS, new=new)
    if target.nargs == 0:  # a flag such as store_true
        kwargs["const"] = target.const
    else:
        kwargs.update(type=target.type, choices=target.choices, metavar=target.metavar)
    parser.add_argument(old, action=_DeprecatedOption, **kwargs)


def emit(args, obj, text: str | None = None) -> None:
    """Print ``obj`` as JSON with --json, else ``text`` (or the JSON, indented)."""
    from ..storage import jsonable

    if getattr(args, "json", False) or text is None:
        print(json.dumps(jsonable(obj), indent=2))
    else:
        print(text)


def load_object(path, cls: type, what: str, hint: str):
    """Load ``path`` memory-mapped and check it holds a ``cls``, else a one-line error."""
    from ..exceptions import InputError
    from ..storage import load

    obj = load(path, mmap=True)
    if not isinstance(obj, cls):
        raise InputError(f"{path}: holds a {type(obj).__name__}, not a {what} ({hint})")
    return obj


def emit_ranked(args, queries, results, field: str = "key") -> None:
    """Print ranked (name, score) lists per query: JSON ``{query: [{field, score}]}`` or text."""
    out = {str(q): [{field: n, "score": round(s, 6)} for n, s in r]
           for q, r in zip(queries, results)}
    text = "\n".join(f"{q}: " + ", ".join(f"{n} ({s:.3f})" for n, s in r)
                     for q, r in zip(queries, results))
    emit(args, out, text)


def _oserror_line(exc: OSError) -> str:
    """One line for an OSError: the file the user named (atomic_write reports the target, not its
    temporary name) and the cause, with advice for the causes a user can fix."""
    import errno

    where = exc.filename if exc.filename is not None else ""
    cause = exc.strerror or str(exc)
    advice = {errno.ENOSPC: " (the disk is full; free space or write elsewhere)",
              errno.EDQUOT: " (the disk quota is used up)",
              errno.EFBIG: " (the file is larger than this system or its limits allow)",
              errno.EROFS: " (write the output to another folder)",
              errno.EACCES: " (no permission; check the file and its folder)",
              }.get(exc.errno or 0, "")
    if not where and exc.errno is None:  # numpy's short writes carry no errno nor file
        return (f"writing a file failed ({cause}): the disk is full or a file size limit was "
                "reached")
    return f"{where}: {cause}{advice}" if where else f"{cause}{advice}"


# options whose values scale the memory a command needs, named in the out-of-memory advice
_MEMORY_OPTIONS = (("k", "-k"), ("dim", "--dim"), ("batch_size", "--batch-size"),
                   ("window", "--window"), ("limit", "--limit"), ("clusters", "--clusters"))


def _memory_line(args) -> str:
    given = [f"{flag} {getattr(args, dest)}" for dest, flag in _MEMORY_OPTIONS
             if getattr(args, dest, None) is not None]
    if given:
        return ("out of memory: the inputs with " + ", ".join(given) +
                " need more memory than is free; lower one of these or use a smaller input")
    return "out of memory: the input needs more memory than is free; use a smaller input"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 ok, 1 user error, 2 usage error,
    130 Ctrl-C).

    The one error boundary: a user error, any OSError (disk full, read-only folder, no
    permission, a missing file ...) and running out of memory print one line
    ``compactemb: error: ...`` and return 1; outputs are checked before any work
    (:func:`compactemb.cli._outputs.check_outputs`) and written atomically, so a failed command
    leaves nothing behind.
    """
    args = None
    try:
        parser = build_parser()
        try:
            args = parser.parse_args(argv)
        except SystemExit as exc:  # --help, --version, usage errors
            return int(exc.code or 0)
        set_quiet(getattr(args, "quiet", False))
        from .._scratch import install_sigterm_cleanup
        from ._outputs import check_outputs

        install_sigterm_cleanup()  # SIGTERM unwinds: no temporary file or scratch folder stays

        check_outputs(args)
        return int(args.func(args) or 0)
    except CompactEmbError as exc:
        print(f"compactemb: error: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # output piped into head & co: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except OSError as exc:
        print(f"compactemb: error: {_oserror_line(exc)}", file=sys.stderr)
        return 1
    except MemoryError:
        print(f"compactemb: error: {_memory_line(args)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        from .._entry import interrupted

        return interrupted()
    finally:
        set_quiet(False)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
