"""``igcs replay SESSION [--port P] [--speed X] [--host 127.0.0.1]``: re-serve a session.

Starts an OpenIGTLink server (loopback by default), waits for the first client unless
``--no-wait``, then sends the session's received messages with their original timing scaled by
``--speed`` (see :mod:`navigation.tracking.replay`).
"""

from __future__ import annotations

import argparse
import sys
import threading

from navigation.cli import UserError
from navigation.tracking.igtl_transport import IgtlServer
from navigation.tracking.recording import SessionReader
from navigation.tracking.replay import replay_session


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("session", metavar="SESSION", help="a session file from igcs record")
    parser.add_argument("--port", type=int, default=18944, help="TCP port (default 18944)")
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="interface to listen on (default loopback; 0.0.0.0 exposes it to the network)",
    )
    parser.add_argument("--speed", type=float, default=1.0, help="time scale (2 = twice as fast)")
    parser.add_argument(
        "--keep-timestamps",
        action="store_true",
        help="send the recorded header timestamps instead of shifting them to now",
    )
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


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    if not args.speed > 0:
        raise UserError(f"--speed must be positive; got {args.speed}")
    SessionReader(args.session)  # checks the file before opening a port
    allowed = tuple(args.allow) if args.allow else ("127.0.0.1", "::1")
    server = IgtlServer(args.host, args.port, allowed_hosts=allowed)
    try:
        server.start()
    except OSError as error:
        raise UserError(f"cannot listen on {args.host}:{args.port}: {error}") from None
    stop = threading.Event()
    progress = tqdm(unit=" msg", file=sys.stderr, desc="replaying", disable=None)
    try:
        if not args.no_wait:
            print(f"waiting for a client on {args.host}:{server.port} ...", file=sys.stderr)
            while not server.wait_connected(0.5):
                pass
        stats = replay_session(
            args.session,
            server,
            speed=args.speed,
            restamp=not args.keep_timestamps,
            stop=stop,
            on_sent=lambda n: progress.update(1),
        )
    finally:
        stop.set()
        progress.close()
        server.stop()
    print(
        f"replayed {stats.messages} messages in {stats.duration_s:.1f} s "
        f"(latest send {stats.max_late_s * 1e3:.1f} ms behind schedule)",
        file=sys.stderr,
    )
    return 0
