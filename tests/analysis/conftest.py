"""Hand-made run directories in exactly the trainer's format (docs/dev/CONTRACTS.md), with hand-computable numbers.

ktr run   metrics: loss/policy [1, 2, 3, 4] (population var 1.25), reward/mean [.5, 1, 1.5, 2], loss/kl [.1 .. .4]
grpo run  metrics: loss/policy [0, 2, 0, 2] (var 1.0),               reward/mean [.5, .5, 1, 1], loss/kl 0
samples (ktr run): A (step 1, video, 14 tokens, key 5), B (step 1, video, 10 tokens, key 2),
                   C (step 3, image, 8 tokens, key 2; temporal not computed)
eval: ktr holmes .416 / mmvu .659; grpo holmes .388 / mmvu .648
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

COLOURS = {"red": (255, 0, 0), "blue": (0, 0, 255), "green": (0, 160, 0)}


def _sample(step, pid, dtype, tokens, reward, adv, kept: dict[str, list[int]], problem="Which colour is first?",
            frames=(), temporal_computed=True):
    t = len(tokens)
    masks = {s: [int(i in kept.get(s, [])) for i in range(t)] for s in ("entropy", "visual", "temporal")}
    masks["key"] = [int(any(masks[s][i] for s in masks)) for i in range(t)]
    scores = {s: [2.0 if masks[s][i] else 0.5 for i in range(t)] for s in ("entropy", "visual", "temporal")}
    if not temporal_computed:
        scores["temporal"] = [None] * t
    return {"step": step, "problem_id": pid, "problem": problem, "data_type": dtype, "problem_type": "multiple choice",
            "media_path": f"videos/{pid}.mp4", "frames": list(frames), "completion": "".join(tokens), "tokens": tokens,
            "token_ids": list(range(t)), "reward": reward, "rewards": {"accuracy": reward - 1.0 if reward else 0.0,
                                                                        "format": 1.0 if reward else 0.0},
            "advantage": adv, "scores": scores, "masks": masks}


SAMPLE_A = _sample(1, "p1", "video",
                   ["<think>", "Wait", ",", " the", " red", " sq", "uare", " appears", " first", ".", "</think>",
                    "<answer>", "A", "</answer>"], 2.0, 1.0,
                   {"entropy": [1, 8], "visual": [4, 5], "temporal": [8, 12]},
                   frames=["samples/frames/p1_0.png", "samples/frames/p1_1.png"])
SAMPLE_B = _sample(1, "p1", "video",
                   ["<think>", "Hmm", " the", " blue", " one", ".", "</think>", "<answer>", "B", "</answer>"],
                   0.0, -1.0, {"entropy": [1], "visual": [3]},
                   frames=["samples/frames/p1_0.png", "samples/frames/p1_1.png"])
SAMPLE_C = _sample(3, "p2", "image", ["<think>", "It", " is", " green", "</think>", "<answer>", "C", "</answer>"],
                   1.0, 0.0, {"entropy": [1], "visual": [3]}, problem="What colour is the square?",
                   frames=["samples/frames/p2_0.png"], temporal_computed=False)


def write_run(root: Path, *, losses, rewards, kls, samples=(), evals=None) -> Path:
    """Write RUN/{config.yaml, metrics.jsonl, samples.jsonl, samples/frames/*.png, eval/<name>/summary.json}."""
    from PIL import Image

    root.mkdir(parents=True)
    (root / "config.yaml").write_text("algorithm: ktr\n")
    rows = [{"step": i + 1, "loss/policy": lo, "reward/mean": r, "loss/kl": k, "ktr/frac_key": 0.4}
            for i, (lo, r, k) in enumerate(zip(losses, rewards, kls))]
    (root / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    if samples:
        (root / "samples.jsonl").write_text("".join(json.dumps(s) + "\n" for s in samples))
        frames = root / "samples" / "frames"
        frames.mkdir(parents=True)
        for name, colour in (("p1_0", "red"), ("p1_1", "blue"), ("p2_0", "green")):
            Image.new("RGB", (16, 16), COLOURS[colour]).save(frames / f"{name}.png")
    for name, summary in (evals or {}).items():
        (root / "eval" / name).mkdir(parents=True)
        (root / "eval" / name / "summary.json").write_text(json.dumps(summary))
    return root


@pytest.fixture
def ktr_run(tmp_path):
    return write_run(tmp_path / "ktr", losses=[1, 2, 3, 4], rewards=[0.5, 1.0, 1.5, 2.0], kls=[0.1, 0.2, 0.3, 0.4],
                     samples=[SAMPLE_A, SAMPLE_B, SAMPLE_C],
                     evals={"holmes": {"accuracy": 0.416, "n": 100, "per_type": {"SR": 0.5}},
                            "mmvu": {"accuracy": 0.659, "n": 50}})


@pytest.fixture
def grpo_run(tmp_path):
    return write_run(tmp_path / "grpo", losses=[0, 2, 0, 2], rewards=[0.5, 0.5, 1.0, 1.0], kls=[0, 0, 0, 0],
                     evals={"holmes": {"accuracy": 0.388, "n": 100}, "mmvu": {"accuracy": 0.648, "n": 50}})
