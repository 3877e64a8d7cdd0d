"""Probing this machine's TCP ports: one that is free, and whether one is taken."""

from __future__ import annotations

import random
import socket

# Below Linux's default range of ephemeral ports (32768-60999), which the kernel hands out to
# outgoing connections and to bind(port 0): a port chosen there for a server started a moment
# later can meanwhile be the local end of a client's connection ("already in use").
PORTS = range(20_000, 32_768)


def free_port() -> int:
    """A TCP port nothing listens on right now, outside the ephemeral range when possible."""
    chooser = random.SystemRandom()
    for _ in range(50):
        port = chooser.choice(PORTS)
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue  # taken: another
            return port
    with socket.socket() as probe:  # a crowded machine: whatever the kernel gives
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    """True when something already listens on host:port.

    SO_REUSEADDR, as every server sets it: connections of a server that just stopped (TIME_WAIT)
    do not count, a listener does.
    """
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return True
    return False
