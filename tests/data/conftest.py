"""Helpers for the data-stage tests: a numbered test clip and one loaded processor per family."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from video_ktr.toy.videos import write_mp4


def numbered_frames(num_frames: int, height: int = 64, width: int = 96) -> np.ndarray:
    """(F, H, W, 3) frames whose brightness encodes the frame index (survives H.264 within ±6 levels)."""
    levels = np.linspace(10, 245, num_frames).round().astype(np.uint8)
    return np.repeat(levels[:, None, None, None], 3, axis=3) * np.ones((1, height, width, 1), np.uint8)


def write_clip(path: Path, frames: np.ndarray, fps: int, gop: int | None = None) -> Path:
    """H.264 clip of ``frames`` (x264 defaults apart from quality: B-frames allowed), keyframe every ``gop``."""
    return write_mp4(frames, path, fps, crf=10, tune=None, gop=gop)


def write_json(path: Path, rows: list[dict]) -> Path:
    path.write_text(json.dumps(rows))
    return path


@pytest.fixture(scope="session")
def processors(tiny_models):
    """family -> loaded AutoProcessor (shared by the collate tests)."""
    from transformers import AutoProcessor

    return {fam: AutoProcessor.from_pretrained(p) for fam, p in tiny_models.items()}


@pytest.fixture(scope="session")
def toy_records(toy_data):
    from video_ktr.data import load_records

    return load_records(toy_data / "train.json").records


@pytest.fixture()
def good_row() -> dict:
    return {"problem_id": 7, "problem": "What colour?", "data_type": "video", "problem_type": "multiple choice",
            "options": ["A. red", "B. blue"], "solution": "<answer>A</answer>", "path": "./videos/x.mp4",
            "data_source": "unit"}
