"""Decoding speed: ``load_video`` (decode only the sampled frames, seek over gaps) vs. naive decode-all-then-sample.

Writes its own clips (300 frames, 640x360, 30 fps, H.264) with two keyframe spacings, samples them under the
reference budget (2 fps, 4-16 frames -> 16 frames, <= 128*28*28 px), and prints sampled frames per second for both
readers and their ratio, measured in this run.

    .venv/bin/python benchmarks/bench_decode.py [--frames 300] [--repeats 5]
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from video_ktr.data import MediaBudget, load_video, sample_frame_indices
from video_ktr.data.budget import video_frame_size
from video_ktr.data.media import resize_frames
from video_ktr.toy.videos import write_mp4


def write_clip(path: Path, num_frames: int, width: int, height: int, fps: int, gop: int | None) -> Path:
    """A moving random texture (realistic inter-frame coding), H.264 crf 23, keyframe every ``gop`` frames."""
    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, size=(height, width, 3), dtype=np.uint8)
    frames = np.stack([np.roll(base, 4 * i, axis=1) for i in range(num_frames)])
    return write_mp4(frames, path, fps, crf=23, preset="veryfast", tune=None, gop=gop)


def naive_decode(path: Path, budget: MediaBudget, patch_multiple: int) -> np.ndarray:
    """What the reference readers do: every frame to RGB in memory, then pick and resize."""
    import av

    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        stream.thread_type = "AUTO"
        fps = float(stream.average_rate)
        frames = np.stack([f.to_ndarray(format="rgb24") for f in c.decode(stream)])   # (N, H, W, 3)
    idx = sample_frame_indices(len(frames), fps, budget)
    h, w = video_frame_size(frames.shape[1], frames.shape[2], len(idx), budget, patch_multiple)
    return resize_frames(frames[idx], h, w)


def timeit(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    print(f"{'clip':<34} {'budget':<14} {'ours f/s':>9} {'naive f/s':>10} {'speed-up':>9}")
    with tempfile.TemporaryDirectory() as tmp:
        for gop, label in ((None, "x264 default keyframes (250)"), (30, "keyframe every 1 s (30)")):
            path = write_clip(Path(tmp) / f"clip_{gop}.mp4", args.frames, 640, 360, 30, gop)
            for budget, name in ((MediaBudget(), "2 fps, <=16"), (MediaBudget(nframes=4), "nframes=4")):
                ours = load_video(path, budget, 28).frames
                ref = naive_decode(path, budget, 28)
                assert ours.shape == ref.shape and np.array_equal(ours, ref), "readers disagree"
                t_ours = timeit(lambda: load_video(path, budget, 28), args.repeats)
                t_naive = timeit(lambda: naive_decode(path, budget, 28), args.repeats)
                n = len(ours)
                print(f"{label:<34} {name:<14} {n / t_ours:9.1f} {n / t_naive:10.1f} {t_naive / t_ours:8.2f}x")


if __name__ == "__main__":
    main()
