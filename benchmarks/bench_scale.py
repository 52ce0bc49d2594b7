"""Tokens/s of 1 vs 2 processes on the toy model (CPU: torchrun + gloo). Prints the measured ratio; no target on
CPU (2 processes share the machine's cores, so the ratio measures overhead more than speed-up).

    .venv/bin/python benchmarks/bench_scale.py --steps 6 [--size small] [--deepspeed configs/deepspeed/zero3.json | --fsdp]

Each launch is ``torchrun --nproc_per_node P -m video_ktr.cli.main train`` with ``rollout.batch_size`` prompts per
process (the global batch grows with P); tokens/s = completion tokens of all ranks per second of step time (the
median over steps after the first).
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(procs: int, cfg: dict, out: Path, deepspeed: str | None, fsdp: bool = False) -> list[dict]:
    cfg = {**cfg, "trainer": {**cfg["trainer"], "output_dir": str(out), "deepspeed": deepspeed, "fsdp": fsdp}}
    (out.parent / f"{out.name}.yaml").write_text(yaml.safe_dump(cfg))
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    if deepspeed is None:
        env["ACCELERATE_USE_CPU"] = "true"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(procs), "--master_port",
           str(_port()), "-m", "video_ktr.cli.main", "train", "--config", str(out.parent / f"{out.name}.yaml")]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if res.returncode:
        sys.exit(f"{procs} process(es) failed:\n{res.stderr[-4000:]}")
    return [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--size", default="small")
    ap.add_argument("--deepspeed", default=None, help="a DeepSpeed JSON (default: DDP)")
    ap.add_argument("--fsdp", action="store_true", help="FSDP2 (trainer.fsdp; 1 process: nothing sharded)")
    a = ap.parse_args()
    if a.fsdp and a.deepspeed:
        ap.error("--fsdp or --deepspeed, not both")
    from video_ktr.toy import build_tiny_vlm, build_toy_data

    tmp = Path(tempfile.mkdtemp(prefix="bench_scale_"))
    model, data = build_tiny_vlm(tmp / "model", size=a.size), build_toy_data(tmp / "data", n=64)
    cfg = {"algorithm": "ktr", "model": {"path": str(model), "freeze_vision_tower": True},
           "data": {"train_path": str(data / "train.json"), "cache_media": True},
           "rollout": {"batch_size": 2, "group_size": 4, "max_new_tokens": 32}, "loss": {"beta": 0.04},
           "trainer": {"max_steps": a.steps + 1, "save_every": 0, "log_samples_every": 0, "progress_bar": False,
                       "report_to": []}}
    tps = {}
    for p in (1, 2):
        rows = run(p, cfg, tmp / f"p{p}", a.deepspeed, a.fsdp)[1:]                  # drop the warm-up step
        tps[p] = statistics.median(r["perf/tokens_per_s"] for r in rows)
        step = statistics.median(r["time/step"] for r in rows)
        print(f"{p} process(es): {tps[p]:.1f} completion tokens/s (all ranks), step {step:.3f}s")
    print(f"tokens/s 2 processes / 1 process = {tps[2] / tps[1]:.2f} "
          f"({'DeepSpeed ' + Path(a.deepspeed).stem if a.deepspeed else 'FSDP2' if a.fsdp else 'DDP'}, "
          f"{os.cpu_count()} CPU cores; no target)")


if __name__ == "__main__":
    main()
