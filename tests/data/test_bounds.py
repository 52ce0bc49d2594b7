"""Hostile media and rows: decoding is bounded by the budget, paths stay under the root, answers are usable."""
import json
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from video_ktr.data import MediaBudget, MediaError, load_media, load_records
from video_ktr.data.schema import RecordError

from .conftest import numbered_frames, write_clip, write_json


def bomb_png(path: Path, side: int) -> Path:
    """A 1-bit ``side``x``side`` PNG of zeros: a few hundred KB on disk, ``side**2`` pixels when decoded."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    comp, row = zlib.compressobj(9), b"\0" * (1 + (side + 7) // 8)
    idat = b"".join(comp.compress(row) for _ in range(side)) + comp.flush()
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0))
                     + chunk(b"IDAT", idat) + chunk(b"IEND", b""))
    return path


def row(pid, path, data_type="video", **extra):
    return {"problem_id": pid, "problem": "q?", "data_type": data_type, "problem_type": "multiple choice",
            "options": ["A. x", "B. y"], "solution": "<answer>A</answer>", "path": path, **extra}


@pytest.fixture
def hostile(tmp_path):
    """A dataset with a decompression bomb, a 12000² image, a 4000² video, nframes: 100000, max_pixels: 1e9 and a
    non-numeric override — next to one ordinary clip."""
    (tmp_path / "v").mkdir()
    write_clip(tmp_path / "v" / "ok.mp4", numbered_frames(16), fps=4)
    write_clip(tmp_path / "v" / "big.mp4", np.full((4, 4000, 4000, 3), 90, np.uint8), fps=4)
    bomb_png(tmp_path / "v" / "bomb.png", 30000)
    bomb_png(tmp_path / "v" / "huge.png", 12000)
    rows = [row(0, "v/bomb.png", "image"), row(1, "v/ok.mp4", nframes=100000), row(2, "v/ok.mp4", max_pixels=1e9),
            row(3, "v/ok.mp4", nframes="many"), row(4, "v/huge.png", "image"), row(5, "v/big.mp4", nframes=4),
            row(6, "v/ok.mp4")]
    return write_json(tmp_path / "d.json", rows)


def test_data_check_on_hostile_media_is_fast_small_and_per_row(hostile):
    """`data check` answers in < 5 s of CPU and < 500 MB peak RSS (measured in a fresh subprocess, so the test does
    not depend on how busy the machine is), one line per bad row."""
    code = ("import resource, subprocess, sys; "
            "p = subprocess.run([sys.executable, '-m', 'video_ktr.cli.main', 'data', 'check', sys.argv[1]], "
            "capture_output=True, text=True, env={**__import__('os').environ, 'COLUMNS': '400'}); "
            "r = resource.getrusage(resource.RUSAGE_CHILDREN); "
            "print(p.returncode, r.ru_utime + r.ru_stime, r.ru_maxrss); "
            "print(p.stdout + p.stderr)")
    out = subprocess.run([sys.executable, "-c", code, str(hostile)], capture_output=True, text=True, timeout=120,
                         cwd=Path(__file__).resolve().parents[2]).stdout
    head, text = out.split("\n", 1)
    rc, seconds, peak_kb = head.split()
    print(f"data check: {float(seconds):.2f} s CPU, {int(peak_kb) / 1024:.0f} MiB peak RSS")
    assert rc == "1", text
    assert float(seconds) < 5, seconds  # CPU seconds, interpreter start-up and imports included
    assert int(peak_kb) / 1024 < 500, peak_kb
    assert "record 0 (problem_id=0)" in text and "decompression-bomb" in text
    assert "record 3 (problem_id=3)" in text and "nframes='many'" in text
    assert "record 4 (problem_id=4)" in text and "12000x12000" in text
    bad_rows = text.split("bad records:", 1)[1]
    for ok in (1, 2, 5, 6):
        assert f"record {ok} (problem_id={ok})" not in bad_rows
    assert "3 bad records" in text
    assert "2 records ask for more than the budget allows" in text and "nframes=100000 -> 16" in text


def test_overrides_are_clamped_to_the_runs_caps(hostile):
    recs = {r.problem_id: r for r in load_records(hostile).records}
    budget = MediaBudget()
    assert load_media(recs[1], budget).num_frames == budget.max_frames          # nframes: 100000 -> 16
    m = load_media(recs[2], budget)
    assert m.frames.shape[1] * m.frames.shape[2] <= budget.video_max_pixels      # max_pixels: 1e9 -> the run's cap
    with pytest.raises(MediaError, match="nframes='many' must be a positive number") as e:
        load_media(recs[3], budget)
    assert e.value.reason == "invalid"


def test_large_video_frames_are_resized_while_decoding(hostile, monkeypatch):
    """The 4000² clip never reaches numpy at native size: each frame is shrunk as it is decoded."""
    import video_ktr.data.media as media

    seen = []
    real = media.resize_frames
    monkeypatch.setattr(media, "resize_frames", lambda f, h, w: seen.append(f.shape) or real(f, h, w))
    rec = {r.problem_id: r for r in load_records(hostile).records}[5]
    m = load_media(rec, MediaBudget())
    assert m.frames.shape[0] == 4 and m.frames.shape[1] * m.frames.shape[2] <= MediaBudget().video_max_pixels
    assert all(s[1] < 1000 for s in seen), seen
    assert abs(int(m.frames.mean()) - 90) <= 3


@pytest.mark.parametrize("mode, value, expect", [("I;16", 65535, 255), ("I;16", 32896, 128), ("I;16", 0, 0),
                                                 ("L", 200, 200), ("RGBA", 77, 77), ("F", 0.5, 128)])
def test_image_modes_convert_to_8bit_rgb(tmp_path, mode, value, expect):
    if mode == "RGBA":
        img = Image.new("RGBA", (56, 56), (value, value, value, 255))
    elif mode == "F":
        img = Image.fromarray(np.full((56, 56), value, np.float32), mode="F")
    else:
        img = Image.fromarray(np.full((56, 56), value, np.uint16 if mode == "I;16" else np.uint8))
    path = tmp_path / ("x.tiff" if mode == "F" else "x.png")
    img.save(path)
    rec = load_records(write_json(tmp_path / "d.json", [row(1, path.name, "image")])).records[0]
    frames = load_media(rec, MediaBudget()).frames
    assert frames.shape[-1] == 3 and abs(int(frames.mean()) - expect) <= 1, (mode, frames.mean())


def test_paths_must_stay_under_the_root(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    write_clip(outside / "secret.mp4", numbered_frames(4), fps=4)
    root = tmp_path / "data"
    (root / "v").mkdir(parents=True)
    (root / "v" / "link.mp4").symlink_to(outside / "secret.mp4")
    write_clip(root / "v" / "ok.mp4", numbered_frames(4), fps=4)
    rows = [row(0, "v/link.mp4"), row(1, "../outside/secret.mp4"), row(2, str(outside / "secret.mp4")),
            row(3, "v/ok.mp4"), row(4, str(root / "v" / "ok.mp4"))]
    file = write_json(root / "d.json", rows)
    with pytest.raises(RecordError, match=r"record 0 \(problem_id=0\): field 'path'='v/link.mp4' .* outside"):
        load_records(file)
    report = load_records(file, on_error="skip")
    assert [r.problem_id for r in report.records] == [3, 4] and report.skipped == {"bad:path": 3}
    assert len(load_records(file, allow_outside_root=True).records) == 5


@pytest.mark.parametrize("change, reason", [
    ({"solution": "<answer> </answer>"}, "bad:answer"),
    ({"solution": "<answer>C</answer>"}, "bad:answer"),
    ({"options": ["A. x", "A. y"]}, "bad:options"),
    ({"problem_type": "numerical", "options": [], "solution": "<answer>three</answer>"}, "bad:answer"),
    ({"problem_type": "regression", "options": [], "solution": "<answer>1.2.3</answer>"}, "bad:answer"),
])
def test_unusable_answers_are_invalid_rows(tmp_path, change, reason):
    file = write_json(tmp_path / "d.json", [{**row(9, "v.mp4"), **change}])
    with pytest.raises(RecordError, match="problem_id=9") as e:
        load_records(file)
    assert e.value.reason == reason


def test_usable_answers_pass(tmp_path):
    rows = [{**row(1, "v.mp4"), "solution": "<answer>B. y</answer>"},
            {**row(2, "v.mp4"), "problem_type": "numerical", "options": [], "solution": "<answer>1,024</answer>"},
            {**row(3, "v.mp4"), "problem_type": "regression", "options": [], "solution": "<answer>-0.5</answer>"}]
    assert len(load_records(write_json(tmp_path / "d.json", rows)).records) == 3
