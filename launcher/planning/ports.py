"""Free TCP ports on loopback for the processes of a plan."""

from __future__ import annotations

import random
import socket

from trtl.profiles.errors import PreflightError

# Dynamo reads DYN_SYSTEM_PORT as a signed 16-bit number: a port above 32767 makes a
# worker exit at start ("expected i16"). Linux hands out ephemeral ports from 32768 up,
# so trtl picks its own from below that range instead of asking the kernel for port 0.
PORT_RANGE = range(20000, 32768)


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """True when nothing listens on ``host:port`` and it can be bound now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_ports(count: int, exclude: set[int], host: str = "127.0.0.1") -> list[int]:
    """``count`` distinct ports in PORT_RANGE that are free now and not in ``exclude``.

    Raises PreflightError when too few are free."""
    ports: list[int] = []
    # A random start spreads deployments planned at the same moment over the range.
    for port in random.sample(PORT_RANGE, k=min(len(PORT_RANGE), 50 * count + 100)):
        if len(ports) == count:
            break
        if port not in exclude and port_is_free(port, host):
            ports.append(port)
    if len(ports) < count:
        raise PreflightError(
            f"only {len(ports)} of the {count} ports the workers need are free on {host} "
            f"(trtl takes them from {PORT_RANGE.start}-{PORT_RANGE.stop - 1}).",
            hint="Stop other deployments (`trtl ps` lists them) or run fewer replicas.",
        )
    return ports
