"""``igcs replay SESSION [--port P] [--speed X] [--host 127.0.0.1]``: re-serve a session.

Starts an OpenIGTLink server (loopback by default), waits for the first client unless
``--no-wait``, then sends the session's received messages with their original timing scaled by
``--speed`` (see :mod:`navigation.tracking.replay`).
"""

from __future__ import annotations

import argparse
import sys
import threading

from navigation.commands.server_options import (
    add_server_arguments,
    check_speed,
    open_server,
    wait_for_client,
)
from navigation.tracking.recording import SessionReader
from navigation.tracking.replay import replay_session


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("session", metavar="SESSION", help="a session file from igcs record")
    add_server_arguments(parser)
    parser.add_argument(
        "--keep-timestamps",
        action="store_true",
        help="send the recorded header timestamps instead of shifting them to now",
    )


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    check_speed(args)
    SessionReader(args.session)  # checks the file before opening a port
    server = open_server(args)
    stop = threading.Event()
    progress = tqdm(unit=" msg", file=sys.stderr, desc="replaying", disable=None)
    try:
        wait_for_client(server, args)
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
