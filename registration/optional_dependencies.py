"""Optional parts of igcs and the extras that install them.

``pip install igcs`` gives the planning, registration, tracking and headless navigation; the Qt
window needs the ``gui`` extra and Dask accuracy studies the ``dask`` extra. :func:`require_extra`
turns a missing extra into one clear line naming it, instead of an ``ImportError`` traceback.
"""

from __future__ import annotations

import importlib.util

from registration.core.checks import InputError

#: extra name -> (the module it provides, what it enables).
EXTRAS: dict[str, tuple[str, str]] = {
    "gui": ("PySide6", "the surgeon's Qt window"),
    "dask": ("distributed", "Dask clusters (local workers or --scheduler)"),
}


def require_extra(extra: str, *, alternative: str = "") -> None:
    """Raise :class:`InputError` naming ``extra`` when its module is not installed.

    alternative : what the user can do instead, e.g. "or run with --headless".
    """
    module, purpose = EXTRAS[extra]
    if importlib.util.find_spec(module) is None:
        instead = f", {alternative}" if alternative else ""
        raise InputError(
            f"{purpose} needs the '{extra}' extra ({module} is not installed): "
            f"pip install 'igcs[{extra}]'{instead}."
        )
