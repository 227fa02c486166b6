"""The ``--ray [ADDRESS]`` switch of the commands (light: no Ray import here)."""

from __future__ import annotations

LOCAL = "local"


def add_ray_options(p, what: str, *, workers: bool = False) -> None:
    """Add ``--ray [ADDRESS]`` (and ``--ray-workers N``) to a command's parser."""
    g = p.add_argument_group("Ray cluster (pip install 'compactemb[ray]')")
    g.add_argument("--ray", nargs="?", const=LOCAL, default=None, metavar="ADDRESS",
                   help=f"{what} on Ray: HOST:PORT of a cluster's head, 'auto' (the cluster "
                   "`ray start` runs on this machine), or nothing to start a local one "
                   "(write --ray=ADDRESS, or --ray last, before no positional argument)")
    if workers:
        g.add_argument("--ray-workers", type=int, default=2,
                       help="actors, each holding 1/N of the users and of the items")


def using_ray(args) -> bool:
    return getattr(args, "ray", None) is not None


def ray_address(args) -> str | None:
    """The address for :func:`ray_session`: None starts a local cluster."""
    value = getattr(args, "ray", None)
    return None if value in (None, LOCAL) else value


def check_ray_method(args, allowed: tuple[str, ...]) -> None:
    """``--ray`` with a ``--method`` that has no distributed version is an error."""
    from ..exceptions import InputError

    if using_ray(args) and args.method not in allowed:
        raise InputError(f"--ray is available for --method {' or '.join(allowed)}, not "
                         f"{args.method!r}")
