"""One output policy for every command that writes, checked before any work is done.

- An output is never one of the command's inputs: the same file by device and inode, so a
  symlink, a symlinked folder or ``..`` does not hide it (``-o corpus.txt`` would replace the
  corpus with a model).
- Two outputs of one command are never the same file (``split --train-out X --test-out X``).
- The output's folder must already exist and be writable; compactemb creates no folders for
  output files. Output folders (``demo --out``, ``frontier --out``) are created if their parent
  exists.
- An output file that already exists is replaced atomically when the command succeeds.
"""

from __future__ import annotations

import os

from ..exceptions import InputError

# options that name output files, in the order they are reported
OUTPUT_OPTIONS = (("out", "--out"), ("train_out", "--train-out"), ("test_out", "--test-out"))
# commands whose --out is a folder they create and fill
FOLDER_OUTPUT_COMMANDS = frozenset({"demo", "frontier"})


# parsed values that are never paths: the command's own name ("frontier" beside a folder
# called frontier/ is not an input)
_NOT_PATHS = frozenset({"func", "command", "target"})


def _identity(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)  # follows symlinks: the file a write would replace or read
    except (OSError, ValueError):
        return None
    return st.st_dev, st.st_ino


def _candidate_inputs(args, outputs: set[str]) -> list[tuple[str, str]]:
    """(option name, path) for every string argument that names an existing file or folder."""
    found = []
    for dest, value in vars(args).items():
        if dest in outputs or dest in _NOT_PATHS:
            continue
        values = value if isinstance(value, (list, tuple)) else [value]
        for v in values:
            if isinstance(v, (str, os.PathLike)) and str(v) and os.path.exists(v):
                found.append((dest, os.fspath(v)))
    return found


def same_file(a: str, b: str) -> bool:
    """Whether two paths name the same file: the same inode when both exist, else the same
    real path (``..`` and symlinked folders resolved)."""
    ia, ib = _identity(a), _identity(b)
    if ia is not None and ib is not None:
        return ia == ib
    return os.path.realpath(a) == os.path.realpath(b)


def check_writable_folder(folder: str, shown: str) -> None:
    """Refuse a missing, non-folder or read-only folder before any work is done."""
    if not os.path.exists(folder):
        raise InputError(f"{shown}: the folder {folder} does not exist (create it first)")
    if not os.path.isdir(folder):
        raise InputError(f"{shown}: {folder} is not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise InputError(f"{shown}: the folder {folder} is not writable "
                         "(read-only or no permission)")


def check_output_file(path: str, option: str = "--out") -> None:
    """Check one output file can be written: its folder exists and is writable, it is not a
    folder itself."""
    if os.path.isdir(path):
        raise InputError(f"{option} {path}: is a folder, expected a file name")
    folder = os.path.dirname(os.path.abspath(path)) or "."
    check_writable_folder(folder, f"{option} {path}")


def check_outputs(args) -> None:
    """Apply the output policy to parsed command-line ``args`` before the command runs.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed arguments; outputs are the ``out``, ``train_out`` and ``test_out`` options,
        inputs every other argument naming an existing path.

    Raises
    ------
    InputError
        When an output is an input or another output, its folder is missing or read-only, or
        an output file name is a folder.

    Examples
    --------
    >>> import argparse
    >>> check_outputs(argparse.Namespace(command="info", file="x"))  # nothing to write
    """
    outputs = {dest: os.fspath(getattr(args, dest)) for dest, _ in OUTPUT_OPTIONS
               if isinstance(getattr(args, dest, None), (str, os.PathLike))}
    if not outputs:
        return
    flags = dict(OUTPUT_OPTIONS)
    command = getattr(args, "command", None)
    for dest, path in outputs.items():
        option = flags[dest]
        if command in FOLDER_OUTPUT_COMMANDS and dest == "out":
            if os.path.exists(path) and not os.path.isdir(path):
                raise InputError(f"{option} {path}: exists and is not a folder")
            if os.path.isdir(path):
                check_writable_folder(path, f"{option} {path}")
            else:
                check_writable_folder(os.path.dirname(os.path.abspath(path)), f"{option} {path}")
        else:
            check_output_file(path, option)
        for in_dest, in_path in _candidate_inputs(args, set(outputs)):
            if same_file(path, in_path):
                shown = in_dest.replace("_", "-")
                raise InputError(f"{option} {path} is the input {in_path} ({shown}); "
                                 "compactemb never overwrites its input: choose another output")
    items = list(outputs.items())
    for i, (dest_a, a) in enumerate(items):
        for dest_b, b in items[i + 1:]:
            if same_file(a, b):
                raise InputError(f"{flags[dest_a]} and {flags[dest_b]} are the same file {a}; "
                                 "give two different outputs")
