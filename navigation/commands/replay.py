"""``igcs replay RECORDING [--port P] [--speed X] [--host 127.0.0.1]``: re-serve a recording.

RECORDING is an igcs session (``igcs record``, ``igcs navigate``) or a PLUS sequence
metafile (``.igs.mha``: its transforms with their statuses and frame timestamps, and its
images). Starts an OpenIGTLink server (loopback by default), waits for the first client unless
``--no-wait``, then sends the messages with their original timing scaled by ``--speed``, to
each client in the header version it negotiated (see :mod:`navigation.tracking.replay`).
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
from navigation.tracking.replay import open_recording, replay_session


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "session",
        metavar="RECORDING",
        help="an igcs session (igcs record / navigate) or a PLUS sequence metafile (.igs.mha)",
    )
    add_server_arguments(parser)
    parser.add_argument(
        "--keep-timestamps",
        action="store_true",
        help="send the recorded header timestamps instead of shifting them to now",
    )


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    check_speed(args)
    recording = open_recording(args.session)  # checks the file before opening a port
    print(f"replaying {recording.description}", file=sys.stderr)
    server = open_server(args)
    stop = threading.Event()
    progress = tqdm(unit=" msg", file=sys.stderr, desc="replaying", disable=None)
    try:
        wait_for_client(server, args)
        stats = replay_session(
            recording,
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
    if stats.v1_withheld or stats.v1_fields_dropped:
        print(
            f"to header-v1 clients: {stats.v1_withheld} messages with a status other than OK "
            f"withheld, {stats.v1_fields_dropped} sent without their v2 metadata",
            file=sys.stderr,
        )
    return 0
