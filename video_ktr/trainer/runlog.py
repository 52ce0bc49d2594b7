"""The run directory's logs (CONTRACTS.md): metrics.jsonl + TensorBoard per step, samples.jsonl with key tokens,
and the per-phase timer."""
from __future__ import annotations

import json
import math
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np


def _step(line: str) -> int | None:
    try:
        row = json.loads(line)
    except ValueError:
        return None  # a torn line (the process died while writing it)
    return row.get("step") if isinstance(row, dict) and isinstance(row.get("step"), int) else None


def truncate_log(path: Path, step: int) -> int:
    """Keep the rows of ``path`` (JSONL) up to ``step``; torn or step-less lines go. Written atomically; returns
    the number of rows dropped."""
    lines = [ln for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    keep = [ln for ln in lines if (s := _step(ln)) is not None and s <= step]
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text("".join(ln + "\n" for ln in keep))
    tmp.replace(path)
    return len(lines) - len(keep)


class Timer:
    """``with timer("rollout"): ...`` accumulates seconds per phase; ``pop()`` returns {"time/<phase>": s}."""

    def __init__(self):
        self.totals: dict[str, float] = {}

    @contextmanager
    def __call__(self, name: str):
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.totals[name] = self.totals.get(name, 0.0) + time.perf_counter() - t0

    def pop(self) -> dict[str, float]:
        out = {f"time/{k}": v for k, v in self.totals.items()}
        out["time/step"] = sum(self.totals.values())
        self.totals = {}
        return out


class RunLogger:
    """Append-only writers for RUN/metrics.jsonl and RUN/samples.jsonl; TensorBoard through accelerate trackers."""

    def __init__(self, run_dir: Path, accelerator=None, *, resume_step: int | None = None):
        self.run_dir = Path(run_dir)
        self.accelerator = accelerator
        self.metrics_path = self.run_dir / "metrics.jsonl"
        self.samples_path = self.run_dir / "samples.jsonl"
        if resume_step is not None and self.is_main:  # drop lines of steps after the checkpoint we resume from
            for p in (self.metrics_path, self.samples_path):
                if p.exists():
                    truncate_log(p, resume_step)

    @property
    def is_main(self) -> bool:
        return self.accelerator is None or self.accelerator.is_main_process

    def log_metrics(self, step: int, metrics: dict[str, float]) -> None:
        if not self.is_main:
            return
        row = {"step": step, **{k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                                for k, v in metrics.items()}}
        with self.metrics_path.open("a") as f:
            f.write(json.dumps(row) + "\n")
        if self.accelerator is not None and self.accelerator.trackers:
            self.accelerator.log({k: v for k, v in metrics.items() if isinstance(v, (int, float))}, step=step)

    def log_samples(self, rows: list[dict]) -> None:
        if self.is_main and rows:
            with self.samples_path.open("a") as f:
                for r in rows:
                    f.write(json.dumps(r) + "\n")

    def save_frames(self, key: str, frames: np.ndarray, max_frames: int = 4) -> list[str]:
        """Write up to ``max_frames`` PNGs of one sample's frames under RUN/samples/frames; return relative paths."""
        from PIL import Image

        out_dir = self.run_dir / "samples" / "frames"
        out_dir.mkdir(parents=True, exist_ok=True)
        idx = np.linspace(0, len(frames) - 1, min(max_frames, len(frames))).round().astype(int)
        paths = []
        for k, i in enumerate(idx):
            rel = f"samples/frames/{key}_{k}.png"
            if not (self.run_dir / rel).exists():
                Image.fromarray(frames[i]).save(self.run_dir / rel)
            paths.append(rel)
        return paths
