"""igcs: imaging-guided cancer surgery navigation (the application layer).

Imaging, planning, OpenIGTLink tracking, the navigation app and the ``igcs`` command line.
May import :mod:`rendering` and :mod:`registration`; neither imports it.
"""

__version__ = "0.2.0"
