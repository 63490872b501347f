"""Command-line options of the commands that connect to a tracker (``igcs navigate``, ``igcs
record``): the liveness timeout, the header version and the STT_ request that starts a
TDATA/QTDATA stream; turned into one :class:`~navigation.tracking.link_settings.LinkSettings`.
"""

from __future__ import annotations

import argparse

from navigation.cli import UserError
from navigation.tracking.link_settings import (
    DEFAULT_LINK_TIMEOUT_S,
    DEFAULT_TRACKING_RESOLUTION_MS,
    START_TRACKING_TYPES,
    LinkSettings,
    parse_address,
)
from registration.core.checks import InputError


def add_link_arguments(parser: argparse.ArgumentParser) -> None:
    """--start-tracking [TDATA|QTDATA], --tracking-resolution, --link-timeout, --header-version."""
    group = parser.add_argument_group("tracker link")
    group.add_argument(
        "--start-tracking",
        nargs="?",
        const="TDATA",
        choices=START_TRACKING_TYPES,
        metavar="TDATA|QTDATA",
        help="send STT_TDATA (default) or STT_QTDATA on every connect, for servers that "
        "stream tracking data only when asked",
    )
    group.add_argument(
        "--tracking-resolution",
        type=int,
        default=DEFAULT_TRACKING_RESOLUTION_MS,
        metavar="MS",
        help="with --start-tracking: minimum interval between messages asked for, ms "
        f"(default {DEFAULT_TRACKING_RESOLUTION_MS})",
    )
    group.add_argument(
        "--link-timeout",
        type=float,
        default=DEFAULT_LINK_TIMEOUT_S,
        metavar="S",
        help="no bytes or no valid message for S seconds is a lost link: DISCONNECTED, then "
        f"reconnect (default {DEFAULT_LINK_TIMEOUT_S})",
    )
    group.add_argument(
        "--header-version",
        type=int,
        choices=(1, 2),
        default=1,
        help="OpenIGTLink header version we send; PLUS sends status metadata only to clients "
        "that sent it a v2 message, so combine 2 with --start-tracking",
    )


def link_settings(args: argparse.Namespace, address: str, what: str) -> LinkSettings:
    """The settings for ``address`` (HOST:PORT, the option or argument called ``what``)."""
    try:
        host, port = parse_address(address, what)
        return LinkSettings(
            host,
            port,
            start_tracking=args.start_tracking,
            tracking_resolution_ms=args.tracking_resolution,
            link_timeout_s=args.link_timeout,
            header_version=args.header_version,
        )
    except InputError as error:
        raise UserError(str(error)) from None
