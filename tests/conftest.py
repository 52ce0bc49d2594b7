"""Session-wide fixtures: the nano checkpoints and the synthetic dataset are built once per test session."""
from __future__ import annotations

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

FAMILIES = ("qwen2_5_vl", "qwen2_vl", "qwen3_vl")


@pytest.fixture(scope="session")
def toy_data(tmp_path_factory):
    """Synthetic dataset dir: train.json (40), eval.json (10), videos/, images/, holmes/. 16 frames 64×64 @ 4 fps."""
    from video_ktr.toy import build_toy_data

    return build_toy_data(tmp_path_factory.mktemp("toy") / "data", n=40, n_eval=10, seed=0)


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory):
    """family -> nano checkpoint dir, for every supported family (toy BPE tokenizer)."""
    from video_ktr.toy import build_tiny_vlm

    root = tmp_path_factory.mktemp("models")
    return {fam: build_tiny_vlm(root / fam, family=fam, size="nano") for fam in FAMILIES}


@pytest.fixture(scope="session")
def nano_model(tiny_models):
    """The default nano checkpoint dir (qwen2_5_vl)."""
    return tiny_models["qwen2_5_vl"]
