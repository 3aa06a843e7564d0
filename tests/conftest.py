"""Shared fixtures: one torch thread, the real-data location, small acquisitions."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch  # noqa: E402

torch.set_num_threads(1)

SUNNYBROOK = "sunnybrook-ep-cine"


def devices() -> list[str]:
    """Devices to test on: always the CPU, CUDA too when present (never a skipped test)."""
    return ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.fixture(scope="session")
def sunnybrook() -> Path:
    """The Sunnybrook cine folder; skips with the reason when it is absent."""
    from dynmri.data.sources import default_data_root

    root = default_data_root() / SUNNYBROOK
    if not (root / "E774S5-shortAxis").is_dir():
        pytest.skip(f"Sunnybrook data not found at {root} (set DYNMRI_DATA to the folder holding {SUNNYBROOK}/)")
    return root


@pytest.fixture
def small_acq():
    """A 2-slice single-coil phantom acquisition (8 frames, 32x32, 4x)."""
    from dynmri.data.phantom import phantom_videos
    from dynmri.data.simulate import simulate_acquisition
    from dynmri.sampling.masks import make_mask

    images = phantom_videos(2, 8, (32, 32), seed=3)
    masks = make_mask("gaussian", (8, 32, 32), 4, n=2, seed=0).numpy().astype(np.uint8)
    return simulate_acquisition(images, masks, meta={"source": "test"})
