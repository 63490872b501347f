"""``igcs simulate`` (or ``igcs replay``) in its own process, with a real OpenIGTLink client on
loopback: shared by the tests that take a served stream end to end."""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from navigation.tracking.igtl_transport import IgtlClient
from navigation.tracking.messages import IgtlMessage

ROOT = Path(__file__).resolve().parents[2]


def run_simulate(
    arguments: Sequence[str],
    on_message: Callable[[IgtlMessage], object],
    timeout_s: float,
    *,
    command_name: str = "simulate",
    **client_options: object,
) -> list[str]:
    """Run ``igcs simulate --port 0 ARGUMENTS`` (or another serving ``command_name``, e.g.
    "replay"), connect a client (``client_options``) that hands every message to
    ``on_message``, and wait for the command to finish with exit status 0 (asserted, its stderr
    as the message). Returns the command's stderr lines."""
    command = [sys.executable, "-m", "navigation", command_name, "--port", "0", *arguments]
    process = subprocess.Popen(
        command, cwd=ROOT, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True
    )
    port: list[int] = []
    lines: list[str] = []

    def read_stderr() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            lines.append(line)
            match = re.search(r"waiting for a client on [\d.]+:(\d+)", line)
            if match:
                port.append(int(match.group(1)))

    reader = threading.Thread(target=read_stderr, daemon=True)
    reader.start()
    client = None
    try:
        deadline = time.monotonic() + timeout_s
        while not port and time.monotonic() < deadline:
            time.sleep(0.01)
        assert port, "".join(lines)
        client = IgtlClient(
            "127.0.0.1",
            port[0],
            on_message=on_message,
            **client_options,  # type: ignore[arg-type]
        ).start()
        assert process.wait(timeout=timeout_s) == 0, "".join(lines)
        deadline = time.monotonic() + 5.0  # the client reads to the end of the stream
        while client.connected and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        if client is not None:
            client.stop()
        if process.poll() is None:
            process.kill()
    reader.join(timeout=5.0)
    return lines
