import dataclasses
import json

import numpy as np
import pytest

from video_ktr.data import MediaBudget, sample_frame_indices, smart_resize
from video_ktr.data.budget import video_frame_size


def test_defaults_are_the_reference_budget_and_serialise():
    b = MediaBudget()
    d = b.as_dict()
    assert (d["fps"], d["min_frames"], d["max_frames"]) == (2.0, 4, 16)
    assert d["video_max_pixels"] == 128 * 28 * 28 and d["image_max_pixels"] == 256 * 28 * 28
    assert MediaBudget.from_dict(json.loads(json.dumps(d))) == b
    with pytest.raises(KeyError, match="unknown media budget keys"):
        MediaBudget.from_dict({"fsp": 1})


def test_fps_sampling():
    # 16 frames at 4 fps = 4 s; 2 fps -> 8 frames spread uniformly over [0, 15]
    assert sample_frame_indices(16, 4.0, MediaBudget()) == [0, 2, 4, 6, 9, 11, 13, 15]
    # 300 frames at 30 fps = 10 s; 2 fps -> 20, clipped to max_frames 16
    idx = sample_frame_indices(300, 30.0, MediaBudget())
    assert len(idx) == 16 and idx[0] == 0 and idx[-1] == 299 and idx == sorted(idx)
    # 1 s at 30 fps; 2 fps -> 2, raised to min_frames 4
    assert len(sample_frame_indices(30, 30.0, MediaBudget())) == 4
    # 5 s at 10 fps with fps=1 -> 5 frames, rounded down to an even 4; with min_frames=5 -> ceil to 6
    assert len(sample_frame_indices(50, 10.0, MediaBudget(fps=1.0))) == 4
    assert len(sample_frame_indices(50, 10.0, MediaBudget(fps=1.0, min_frames=5))) == 6


def test_nframes_wins_over_fps_and_is_even():
    assert sample_frame_indices(16, 4.0, MediaBudget(nframes=4)) == [0, 5, 10, 15]
    assert len(sample_frame_indices(300, 30.0, MediaBudget(nframes=32))) == 32   # not capped by max_frames
    assert len(sample_frame_indices(300, 30.0, MediaBudget(nframes=7))) == 8
    assert len(sample_frame_indices(300, 30.0, MediaBudget(nframes=1))) == 2


def test_short_clips_and_spans():
    # a 3-frame clip cannot give min_frames=4: the even count below the clip length
    assert sample_frame_indices(3, 4.0, MediaBudget()) == [0, 2]
    assert sample_frame_indices(1, 4.0, MediaBudget()) == [0, 0]
    # [2 s, 4 s] of a 10 fps clip: frames 20..40, 2 fps -> 4 frames
    assert sample_frame_indices(100, 10.0, MediaBudget(video_start=2.0, video_end=4.0)) == [20, 27, 33, 40]
    with pytest.raises(ValueError, match="select no frames"):
        sample_frame_indices(10, 10.0, MediaBudget(video_start=5.0))


@pytest.mark.parametrize("kw", [dict(fps=0), dict(nframes=0), dict(min_frames=8, max_frames=4),
                                dict(video_max_pixels=10, video_min_pixels=20), dict(total_pixels=0),
                                dict(video_start=3.0, video_end=1.0)])
def test_invalid_budgets(kw):
    with pytest.raises(ValueError, match="budget"):
        MediaBudget(**kw)


def test_record_overrides():
    b = MediaBudget(nframes=8)
    assert b.for_record({}, "video") is b
    assert b.for_record({"fps": 1.0}, "video").nframes is None
    r = MediaBudget().for_record({"nframes": 6, "max_pixels": 64 * 28 * 28, "min_pixels": 28 * 28}, "video")
    assert (r.nframes, r.video_max_pixels, r.video_min_pixels, r.image_max_pixels) == (6, 64 * 28 * 28, 28 * 28,
                                                                                       256 * 28 * 28)
    assert MediaBudget().for_record({"max_pixels": 64 * 784}, "image").image_max_pixels == 64 * 784


@pytest.mark.parametrize("factor", [28, 32])
def test_resize_never_exceeds_token_budget(factor):
    rng = np.random.default_rng(0)
    for _ in range(500):
        h, w = (int(v) for v in rng.integers(20, 2000, size=2))
        if max(h, w) / min(h, w) > 8:
            continue
        tokens = int(rng.integers(4, 512))
        max_pixels = tokens * factor * factor
        rh, rw = smart_resize(h, w, factor, min(4 * factor * factor, max_pixels), max_pixels)
        assert rh % factor == 0 and rw % factor == 0
        assert (rh // factor) * (rw // factor) <= tokens, (h, w, tokens, rh, rw)
        assert abs(np.log((rh / rw) / (h / w))) < np.log(2.5)  # aspect roughly kept (rounding on small sides)


def test_resize_examples():
    assert smart_resize(360, 640, 28, 4 * 784, 128 * 784) == (224, 420)   # 8 x 15 = 120 merged patches <= 128
    assert smart_resize(64, 64, 28, 4 * 784, 128 * 784) == (56, 56)       # rounded to the patch multiple
    assert smart_resize(20, 20, 28, 4 * 784, 128 * 784) == (56, 56)       # upscaled to min_pixels
    assert smart_resize(64, 64, 32, 4 * 1024, 128 * 1024) == (64, 64)


def test_total_pixels_spreads_over_frames():
    b = MediaBudget(total_pixels=16 * 128 * 28 * 28 // 2)  # 128 tokens per frame pair at 16 frames
    assert video_frame_size(720, 1280, 16, b, 28) == video_frame_size(720, 1280, 16, MediaBudget(), 28)
    h, w = video_frame_size(720, 1280, 64, b, 28)  # 4x the frames: each frame gets a quarter of the pixels
    assert h * w <= 32 * 28 * 28 and dataclasses.asdict(b)["total_pixels"] == b.total_pixels
