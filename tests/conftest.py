"""Fixtures: tiny synthetic H.264 videos with known truth, and the shared real test data (skipped when absent)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from curation.testing.synthetic import Shot, write_video

TESTDATA = Path(__file__).resolve().parents[1].parent / "shared" / "testdata"


@pytest.fixture(scope="session")
def testdata() -> Path:
    if not TESTDATA.is_dir():
        pytest.skip("../shared/testdata is absent")
    return TESTDATA


@pytest.fixture(scope="session")
def ground_truth(testdata) -> dict:
    return json.loads((testdata / "ground_truth.json").read_text())


@pytest.fixture(scope="session")
def videos(tmp_path_factory) -> dict:
    """name -> (path, Truth)."""
    root = tmp_path_factory.mktemp("videos")
    specs = {
        # hard cuts at 40, 95, 150 and a fast cut only 8 frames after the previous one (158)
        "cuts": [Shot(40, seed=1), Shot(55, (1.0, 0.0), seed=2), Shot(55, seed=3), Shot(8, seed=4),
                 Shot(60, (0.0, 0.7), seed=5)],
        # static shot, 24-frame dissolve, moving shot
        "dissolve": [Shot(70, seed=11), Shot(90, (1.0, 0.0), seed=12, transition_in=24)],
        "static": [Shot(100, seed=21)],
        "moving": [Shot(100, (1.0, 0.0), seed=22)],
    }
    out = {name: (root / f"{name}.mp4", write_video(root / f"{name}.mp4", shots)) for name, shots in specs.items()}
    # the moving shot's scene rendered at twice the resolution (same physical motion)
    out["moving_2x"] = (root / "moving_2x.mp4",
                        write_video(root / "moving_2x.mp4", [Shot(100, (2.0, 0.0), seed=22)], 640, 360, scale=2.0))
    return out


def pytest_addoption(parser):
    parser.addoption("--fuzz-mutants", type=int, default=84, metavar="N",
                     help="mutants in the fuzz test (default 84: every container with every damage kind, twice; "
                          "the long run takes hundreds, e.g. 600)")
