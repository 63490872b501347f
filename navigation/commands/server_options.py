"""Options and start-up shared by the commands that serve OpenIGTLink (``igcs simulate``,
``igcs replay``): port, interface, allowed peers, speed, waiting for the first client.

OpenIGTLink has no authentication: the server listens on loopback and accepts loopback peers
unless told otherwise.
"""

from __future__ import annotations

import argparse
import sys
import time

from navigation.cli import UserError
from navigation.tracking.igtl_transport import IgtlServer

LOOPBACK = ("127.0.0.1", "::1")
#: After the first client connects, how long to listen for its first message (a v2 client's
#: hello) before streaming, so that it gets header v2 from the first message on.
HELLO_GRACE_S = 0.2


def add_server_arguments(parser: argparse.ArgumentParser) -> None:
    """--port, --host, --speed, --no-wait and --allow."""
    parser.add_argument("--port", type=int, default=18944, help="TCP port (default 18944)")
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="interface to listen on (default loopback; 0.0.0.0 exposes it to the network)",
    )
    parser.add_argument("--speed", type=float, default=1.0, help="time scale (2 = twice as fast)")
    parser.add_argument(
        "--no-wait", action="store_true", help="start at once instead of at the first client"
    )
    parser.add_argument(
        "--allow",
        action="append",
        default=None,
        metavar="ADDRESS",
        help="peer address allowed to connect (repeatable; default loopback only)",
    )


def check_speed(args: argparse.Namespace) -> None:
    """Refuse a zero, negative or NaN --speed."""
    if not args.speed > 0:
        raise UserError(f"--speed must be positive; got {args.speed}")


def open_server(args: argparse.Namespace) -> IgtlServer:
    """Start the server on --host/--port for the --allow peers (loopback by default)."""
    allowed = tuple(args.allow) if args.allow else LOOPBACK
    server = IgtlServer(args.host, args.port, allowed_hosts=allowed)
    try:
        server.start()
    except OSError as error:
        raise UserError(f"cannot listen on {args.host}:{args.port}: {error}") from None
    return server


def wait_for_client(server: IgtlServer, args: argparse.Namespace) -> None:
    """Block until the first client connects (then up to :data:`HELLO_GRACE_S` for its first
    message, which settles its header version), unless --no-wait."""
    if args.no_wait:
        return
    print(f"waiting for a client on {args.host}:{server.port} ...", file=sys.stderr)
    while not server.wait_connected(0.5):
        pass
    deadline = time.monotonic() + HELLO_GRACE_S
    while server.counters.framing.messages == 0 and time.monotonic() < deadline:
        time.sleep(0.005)
