"""The one error type of the imaging package.

Defined apart from :mod:`navigation.imaging.loading` so the reading modules can raise it without
importing the façade; :mod:`navigation.imaging.loading` re-exports it.
"""

from __future__ import annotations

from registration.core.checks import InputError


class ImagingError(InputError):
    """An image could not be read with trustworthy geometry.

    The message names the file(s) or field involved, says what was wrong and what to do.
    """
