"""Connecting to a Ray cluster (an address, ``auto``) or starting a local one.

Ray is imported here only, when a distributed job runs. A cluster on one machine is kept on the
loopback address: Ray replaces ``127.0.0.1`` by the machine's routable address when it starts a
node or a driver (so that other machines could join), which would put test traffic on the
network; :func:`pin_loopback` keeps ``127.0.0.1`` as given.
"""

from __future__ import annotations

import contextlib
import os
import socket

from ..exceptions import CompactEmbError, require

LOOPBACK = "127.0.0.1"


class ClusterError(CompactEmbError, ConnectionError):
    """The Ray cluster cannot be reached or started."""


def _ray():
    return require("ray", "ray")


def pin_loopback() -> None:
    """Keep ``127.0.0.1`` as the node address instead of Ray's routable substitute.

    Ray (2.x) resolves a loopback ``--node-ip-address`` to the address of the default route;
    this wraps that resolver (in this process only) so that loopback stays loopback. Other
    addresses go through Ray's own resolver unchanged.

    Examples
    --------
    >>> pin_loopback()      # doctest: +SKIP
    """
    from ray._private import services

    resolve = services.resolve_ip_for_localhost
    if getattr(resolve, "_compactemb_loopback", False):
        return

    def keep_loopback(host: str, _resolve=resolve) -> str:
        return host if host == LOOPBACK else _resolve(host)

    keep_loopback._compactemb_loopback = True  # type: ignore[attr-defined]
    services.resolve_ip_for_localhost = keep_loopback


def _check_reachable(address: str, timeout: float = 5.0) -> None:
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise ClusterError(f"Ray address {address!r} is not HOST:PORT (or 'auto', or nothing "
                           "to start a local cluster)")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout):
            pass
    except OSError as exc:
        raise ClusterError(f"no Ray cluster answers at {address} ({exc.strerror or exc}); start "
                           f"one with `ray start --head` or pass its HOST:PORT") from None


@contextlib.contextmanager
def ray_session(address: str | None = None, *, num_cpus: int | None = None,
                object_store_memory: int | None = None):
    """Connect to Ray for the duration of a job, and disconnect afterwards.

    Parameters
    ----------
    address : str or None
        ``"HOST:PORT"`` of a running cluster's head, ``"auto"`` for the cluster started on this
        machine by ``ray start``, or None to start a local single-node cluster on 127.0.0.1
        (stopped again at the end). When Ray is already initialised in this process, that
        connection is used and left open.
    num_cpus, object_store_memory : int, optional
        Resources of a local cluster (ignored when joining one).

    Yields
    ------
    module
        The ``ray`` module, connected.

    Raises
    ------
    OptionalDependencyError
        Ray is not installed (``pip install 'compactemb[ray]'``).
    ClusterError
        Nothing answers at ``address``, or Ray refuses the connection.

    Examples
    --------
    >>> with ray_session("127.0.0.1:6379") as ray:      # doctest: +SKIP
    ...     ray.cluster_resources()
    """
    ray = _ray()
    if address not in (None, "auto"):
        _check_reachable(address)
    if ray.is_initialized():
        yield ray
        return
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    kwargs = {"logging_level": "warning", "log_to_driver": False, "include_dashboard": False}
    if address is None:  # "local": a new cluster, never one that `ray start` left running
        pin_loopback()
        kwargs.update(address="local", _node_ip_address=LOOPBACK, num_cpus=num_cpus,
                      object_store_memory=object_store_memory)
    elif address != "auto":
        if address.rpartition(":")[0] in (LOOPBACK, "localhost"):
            pin_loopback()
            kwargs["_node_ip_address"] = LOOPBACK
        kwargs["address"] = address
        del kwargs["include_dashboard"]
    else:
        kwargs["address"] = "auto"
        del kwargs["include_dashboard"]
    try:
        ray.init(**kwargs)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        where = address or "a local cluster"
        raise ClusterError(f"cannot connect to the Ray cluster at {where}: {first}") from None
    try:
        yield ray
    finally:
        ray.shutdown()


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        tree.setdefault(ppid, []).append(int(entry))
    return tree


def _start_time(pid: int) -> str | None:
    """The start time of a running process (None when gone or a zombie).

    With the pid, it names the process even if the pid is reused later.
    """
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return None if fields[0] in ("Z", "X") else fields[19]


def _refresh_ray_config() -> None:
    # Ray reads RAY_AUTH_MODE into its config when imported; re-read it (as ray.init does when
    # it turns token authentication on)
    from ray._raylet import Config  # type: ignore[attr-defined]  # missing from ray's .pyi

    Config.initialize("")


class LocalCluster:
    """A Ray cluster of ``n_nodes`` node processes on this machine, all on 127.0.0.1.

    Each node is a ``ray start --block`` child of this process (the head, then nodes joining
    it by address) with its own ports and a private temp dir, so it never touches another
    cluster on the machine; :meth:`stop` ends exactly the processes it started (Linux). When
    this process dies without calling :meth:`stop` (a test run killed by a timeout), the kernel
    sends the nodes SIGTERM and Ray ends their processes and the temp dir goes too.

    Parameters
    ----------
    n_nodes : int, default 2
    cpus_per_node : int, default 1
    object_store_memory : int, default 200 MB
        Per node.

    Attributes
    ----------
    address : str
        ``127.0.0.1:PORT`` of the head, for ``ray.init`` or ``RayALS(address=...)``.
    env : dict
        Environment of the nodes and of a driver joining them (no usage stats, no token:
        loopback only); :meth:`driver_env` sets it in this process.

    Examples
    --------
    >>> with LocalCluster(n_nodes=2) as cluster:            # doctest: +SKIP
    ...     RayALS(address=cluster.address).fit(interactions)
    """

    def __init__(self, n_nodes: int = 2, *, cpus_per_node: int = 1,
                 object_store_memory: int = 200_000_000, timeout: float = 90.0):
        import subprocess
        import sys
        import tempfile
        import time

        _ray()
        self.temp_dir = tempfile.mkdtemp(prefix="cemb-ray-")  # short: unix socket paths
        self.procs: list = []
        self._known: dict[int, str | None] = {}
        port = free_port()
        self.address = f"{LOOPBACK}:{port}"
        # loopback only, so no token: Ray's C++ side caches the auth token of the driver at
        # import, which a test process cannot switch; explicit, so that a user's
        # ~/.ray/auth_token does not turn the head to token mode alone
        self.env = {"RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled"}
        env = dict(os.environ, **self.env)
        common = ["--block", "--node-ip-address", LOOPBACK, "--num-cpus", str(cpus_per_node),
                  "--object-store-memory", str(int(object_store_memory)),
                  "--temp-dir", self.temp_dir, "--disable-usage-stats",
                  "--dashboard-agent-listen-port", "0", "--metrics-export-port", "0"]
        launcher = [sys.executable, "-m", "compactemb.distributed._launch", "start"]
        deadline = time.monotonic() + timeout
        try:
            for node in range(n_nodes):
                args = (["--head", "--port", str(port), "--include-dashboard=false",
                         "--dashboard-port", str(free_port()),
                         "--ray-client-server-port", str(free_port())] if node == 0
                        else ["--address", self.address])
                log_path = os.path.join(self.temp_dir, f"node{node}.log")
                with open(log_path, "wb") as log:
                    self.procs.append(subprocess.Popen([*launcher, *args, *common], env=env,
                                                       stdout=log, stderr=subprocess.STDOUT))
                while True:  # `ray start --block` prints this once the node is up
                    with open(log_path, "rb") as f:
                        if b"Ray runtime started" in f.read():
                            break
                    if self.procs[-1].poll() is not None or time.monotonic() > deadline:
                        with open(log_path, "rb") as f:
                            tail = f.read()[-2000:].decode(errors="replace")
                        raise ClusterError(f"Ray node {node} did not start:\n{tail}")
                    time.sleep(0.25)
                self._remember()
        except BaseException:
            self.stop()
            raise

    def _remember(self) -> None:
        """Record every process started under the nodes (by pid and start time)."""
        tree = _children()
        todo = [p.pid for p in self.procs]
        while todo:
            pid = todo.pop()
            if pid not in self._known:
                self._known[pid] = _start_time(pid)
            todo.extend(tree.get(pid, []))

    def stop(self, grace: float = 10.0) -> None:
        """End the nodes: SIGTERM to each ``ray start``, then SIGKILL to what is left.

        SIGKILL goes to whatever ``ray start`` started that is still running (only those processes,
        by pid).

        Parameters
        ----------
        grace : float
            Seconds the nodes get to end after SIGTERM.
        """
        import shutil
        import signal
        import time

        self._remember()
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace
        for p in self.procs:
            try:
                p.wait(timeout=max(0.1, deadline - time.monotonic()))
            except Exception:  # noqa: BLE001 - killed below
                pass
        time.sleep(0.5)
        for pid, started in self._known.items():
            if started is not None and _start_time(pid) == started:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
        for p in self.procs:
            with contextlib.suppress(Exception):
                p.wait(timeout=5)
        self.procs = []
        shutil.rmtree(self.temp_dir, ignore_errors=True)

    @contextlib.contextmanager
    def driver_env(self):
        """Set :attr:`env` in ``os.environ`` for the block (a driver in this process)."""
        saved = {k: os.environ.get(k) for k in self.env}
        os.environ.update(self.env)
        _refresh_ray_config()
        try:
            yield self
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
            _refresh_ray_config()

    def pids(self) -> list[int]:
        """Processes of the cluster running now (the node commands and all they started)."""
        self._remember()
        return [pid for pid, t in self._known.items() if t is not None and _start_time(pid) == t]

    def __enter__(self) -> LocalCluster:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
