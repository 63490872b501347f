"""``igcs record HOST:PORT --out SESSION [--duration S]``: record every message to a session.

Connects (and reconnects) to an OpenIGTLink server and appends every received message, with
its arrival time, to an append-only session file (see :mod:`navigation.tracking.recording`),
plus events for the start, each connection change and the end. Stops after ``--duration``
seconds or on Ctrl-C; everything received up to a crash stays readable.
"""

from __future__ import annotations

import argparse
import logging
import queue
import sys
import time

from navigation.cli import UserError
from navigation.tracking.igtl_transport import IgtlClient
from navigation.tracking.messages import IgtlMessage, RequestBody
from navigation.tracking.recording import SessionWriter

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("address", metavar="HOST:PORT", help="the OpenIGTLink server")
    parser.add_argument("--out", required=True, metavar="SESSION", help="session file to create")
    parser.add_argument(
        "--duration", type=float, default=None, metavar="S", help="stop after S seconds"
    )
    parser.add_argument(
        "--header-version",
        type=int,
        choices=(1, 2),
        default=1,
        help="OpenIGTLink header version we send; PLUS sends status metadata only to clients "
        "that sent it a v2 message, so combine 2 with --start-tracking",
    )
    parser.add_argument(
        "--start-tracking",
        action="store_true",
        help="send STT_TDATA on connect (for servers that wait for it)",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace an existing SESSION")


def parse_address(text: str) -> tuple[str, int]:
    """``host:port`` or ``[v6]:port`` -> (host, port)."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UserError(f"address {text!r} must be HOST:PORT, e.g. 127.0.0.1:18944")
    return host.strip("[]"), int(port)


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    host, port = parse_address(args.address)
    if args.duration is not None and args.duration <= 0:
        raise UserError(f"--duration must be positive; got {args.duration}")
    requests: tuple[IgtlMessage, ...] = ()
    if args.start_tracking:
        requests = (IgtlMessage("STT_TDATA", "", RequestBody("STT", "TDATA", 0, "")),)
    writer = SessionWriter(args.out, overwrite=args.overwrite)
    source = f"{host}:{port}"

    def on_connection(connected: bool, peer: str) -> None:
        writer.write_event("connection", {"connected": connected, "peer": peer}, source=source)

    client = IgtlClient(
        host,
        port,
        on_connection=on_connection,
        header_version=args.header_version,
        queue_size=4096,  # full: the oldest is dropped and counted
        requests_on_connect=requests,
    )
    writer.write_event("record_started", {"address": source, "out": str(args.out)})
    deadline = None if args.duration is None else time.monotonic() + args.duration
    count = 0
    progress = tqdm(unit=" msg", file=sys.stderr, desc=f"recording {source}", disable=None)
    client.start()
    try:
        while deadline is None or time.monotonic() < deadline:
            try:
                message = client.get(timeout=0.1)
            except queue.Empty:
                continue
            writer.write(message, source=source)
            count += 1
            progress.update(1)
    finally:
        client.stop()
        for message in client.drain():
            writer.write(message, source=source)
            count += 1
        counters = client.counters
        writer.write_event(
            "record_stopped",
            {
                "messages": count,
                "bad_crc": counters.framing.bad_crc,
                "malformed": counters.framing.malformed,
                "queue_dropped": counters.queue_dropped,
            },
        )
        writer.close()
        progress.close()
    print(
        f"recorded {count} messages ({writer.bytes_written / 1e6:.1f} MB) from {source} to "
        f"{args.out}; dropped: {counters.framing.bad_crc} bad CRC, "
        f"{counters.framing.malformed} malformed, {counters.queue_dropped} queue overflow",
        file=sys.stderr,
    )
    return 0
