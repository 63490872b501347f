from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def phantom_mr():
    """The small T1-like MR phantom (seed 1) in memory: ``Phantom(volume, truth)``."""
    from navigation.planning.phantom import make_phantom

    return make_phantom(modality="MR", seed=1)
