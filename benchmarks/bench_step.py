"""End-to-end step time of grpo vs ktr on the same config (generation included); prints the ratio (target <= 1.15).

    .venv/bin/python benchmarks/bench_step.py --steps 6 [--size small] [--fast-temporal]
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--size", default="small")
    ap.add_argument("--fast-temporal", action="store_true", help="ktr.temporal_fast (permute cached features)")
    a = ap.parse_args()
    from video_ktr.config import config_from_dict
    from video_ktr.toy import build_tiny_vlm, build_toy_data
    from video_ktr.trainer import RLTrainer

    tmp = Path(tempfile.mkdtemp(prefix="bench_step_"))
    model, data = build_tiny_vlm(tmp / "model", size=a.size), build_toy_data(tmp / "data", n=64)
    times = {}
    for algo in ("grpo", "ktr"):
        cfg = config_from_dict({
            "algorithm": algo, "model": {"path": str(model), "freeze_vision_tower": True},
            "data": {"train_path": str(data / "train.json"), "cache_media": True},
            "rollout": {"batch_size": 4, "group_size": 4, "max_new_tokens": 48},
            "ktr": {"temporal_fast": a.fast_temporal}, "loss": {"beta": 0.04},
            "trainer": {"output_dir": str(tmp / algo), "max_steps": a.steps + 1, "save_every": 0,
                        "log_samples_every": 0, "progress_bar": False, "report_to": []}})
        hist = RLTrainer(cfg).setup().train()[1:]  # drop the warm-up step
        times[algo] = statistics.median(h["time/step"] for h in hist)
        split = {k: statistics.median(h[k] for h in hist) for k in hist[0] if k.startswith("time/")}
        print(algo, " ".join(f"{k[5:]}={v:.3f}s" for k, v in split.items()))
    print(f"step time grpo {times['grpo']:.3f}s  ktr {times['ktr']:.3f}s  ratio ktr/grpo = {times['ktr'] / times['grpo']:.2f}"
          " (target <= 1.15)")


if __name__ == "__main__":
    main()
