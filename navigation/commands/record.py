"""``igcs record HOST:PORT --out SESSION [--duration S]``: record every message to a session.

Connects (and reconnects) to an OpenIGTLink server and appends every received message, as the
bytes it arrived as, with its arrival time, to an append-only session file (see
:mod:`navigation.tracking.recording`), plus events for the start, each connection change and
the end. The socket's thread only queues; a writer thread of its own writes
(:mod:`navigation.tracking.recorder_thread`), and what it could not keep up with is counted
and reported. A link silent (or sending no valid message) for ``--link-timeout`` seconds is
dropped and re-established. Stops after ``--duration`` seconds or on Ctrl-C; everything
written up to a crash stays readable (the queue is normally written within milliseconds).
"""

from __future__ import annotations

import argparse
import logging
import sys
import time

from navigation.commands.link_options import add_link_arguments, link_settings
from navigation.tracking.messages import IgtlMessage
from navigation.tracking.recorder_thread import BackgroundRecorder
from navigation.tracking.recording import SessionWriter

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("address", metavar="HOST:PORT", help="the OpenIGTLink server")
    parser.add_argument("--out", required=True, metavar="SESSION", help="session file to create")
    parser.add_argument(
        "--duration", type=float, default=None, metavar="S", help="stop after S seconds"
    )
    parser.add_argument("--overwrite", action="store_true", help="replace an existing SESSION")
    add_link_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from navigation.cli import UserError

    settings = link_settings(args, args.address, "address")
    if args.duration is not None and args.duration <= 0:
        raise UserError(f"--duration must be positive; got {args.duration}")
    recorder = BackgroundRecorder(SessionWriter(args.out, overwrite=args.overwrite))
    source = settings.address
    client = None

    def on_connection(connected: bool, peer: str) -> None:
        data = {"connected": connected, "peer": peer}
        if not connected and client is not None:
            data["reason"] = client.disconnect_reason
        recorder.write_event("connection", data, source=source)

    def on_message(message: IgtlMessage) -> None:
        recorder.write(message, source=source)

    client = settings.client(on_message=on_message, on_connection=on_connection, queue_size=0)
    recorder.write_event(
        "record_started", {"address": source, "out": str(args.out), "link": settings.to_dict()}
    )
    deadline = None if args.duration is None else time.monotonic() + args.duration
    progress = tqdm(unit=" msg", file=sys.stderr, desc=f"recording {source}", disable=None)
    client.start()
    try:
        while deadline is None or time.monotonic() < deadline:
            time.sleep(0.1 if deadline is None else max(0.0, min(0.1, deadline - time.monotonic())))
            progress.update(client.counters.framing.messages - progress.n)
    finally:
        client.stop()
        counters = client.counters
        recorded = recorder.counts
        recorder.write_event(
            "record_stopped",
            {
                "messages": counters.framing.messages,
                "bad_crc": counters.framing.bad_crc,
                "malformed": counters.framing.malformed,
                "resyncs": counters.framing.resyncs,
                "link_timeouts": counters.silence_disconnects,
                "recorder_dropped": recorded.dropped,
            },
        )
        recorded = recorder.close()
        progress.close()
    kept = counters.framing.messages - recorded.dropped
    print(
        f"recorded {kept} messages ({recorder.writer.bytes_written / 1e6:.1f} MB) from {source} "
        f"to {args.out}; dropped: {counters.framing.bad_crc} bad CRC, "
        f"{counters.framing.malformed} malformed, {recorded.dropped} not written in time "
        f"(disk too slow); {counters.silence_disconnects} link timeouts",
        file=sys.stderr,
    )
    return 0
