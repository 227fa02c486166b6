"""The TCP sockets of processes, read from /proc: tests check that servers and cluster nodes
they start talk over loopback only."""

from __future__ import annotations

import ipaddress
import os
import socket

ESTABLISHED = "01"  # the state column of /proc/net/tcp


def tcp_sockets(pids, state: str | None = None) -> list[tuple[str, int, str, int]]:
    """(local IP, port, remote IP, port) of every TCP socket ``pids`` hold, optionally only
    those in ``state`` (``ESTABLISHED`` ...)."""
    inodes = set()
    for pid in pids:
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                try:
                    target = os.readlink(f"/proc/{pid}/fd/{fd}")
                except OSError:
                    continue
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
        except OSError:
            continue
    out = []
    for table, v6 in (("/proc/net/tcp", False), ("/proc/net/tcp6", True)):
        try:
            with open(table) as f:
                lines = f.read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            if f[9] in inodes and (state is None or f[3] == state):
                out.append((*_addr(f[1], v6), *_addr(f[2], v6)))
    return out


def _addr(hexaddr: str, v6: bool) -> tuple[str, int]:
    host, port = hexaddr.split(":")
    raw = bytes.fromhex(host)
    if not v6:
        return socket.inet_ntop(socket.AF_INET, raw[::-1]), int(port, 16)
    words = b"".join(raw[i:i + 4][::-1] for i in range(0, 16, 4))
    return socket.inet_ntop(socket.AF_INET6, words), int(port, 16)


def is_loopback(ip: str) -> bool:
    """127.0.0.0/8, ::1, or an IPv4-mapped loopback address."""
    addr = ipaddress.ip_address(ip)
    mapped = getattr(addr, "ipv4_mapped", None)
    return (mapped or addr).is_loopback
