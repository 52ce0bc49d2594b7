import av
import numpy as np
import pytest

from video_ktr.data import VIDEO_BACKENDS, MediaBudget, MediaError, MissingMediaError, load_media, load_video
from video_ktr.data.media import load_image

from .conftest import numbered_frames, write_clip


def decode_all(path):
    with av.open(str(path)) as c:
        return np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)])


def test_toy_video_frames_equal_naive_decode(toy_records):
    rec = next(r for r in toy_records if r.data_type == "video")
    m = load_media(rec, MediaBudget(), 32)                      # 64x64 is already a multiple of 32: no resize
    assert m.kind == "video" and m.frames.shape == (8, 64, 64, 3) and m.frames.dtype == np.uint8
    assert m.frame_indices == [0, 2, 4, 6, 9, 11, 13, 15]
    assert (m.native_fps, m.sample_fps, m.total_frames) == (4.0, 2.0, 16)
    np.testing.assert_array_equal(m.frames, decode_all(rec.media_path)[m.frame_indices])
    assert m.metadata() == {"fps": 4.0, "total_num_frames": 16, "frames_indices": m.frame_indices}


def test_toy_image_and_resize(toy_records):
    rec = next(r for r in toy_records if r.data_type == "image")
    m = load_media(rec, MediaBudget(), 28)
    assert m.kind == "image" and m.frames.shape == (1, 56, 56, 3) and m.frame_indices == [0]
    assert m.frames.flags.writeable


def test_record_overrides_reach_the_decoder(toy_records):
    rec = next(r for r in toy_records if r.data_type == "video")
    rec = type(rec)(**{**rec.__dict__, "extra": {"nframes": 4, "max_pixels": 28 * 28}})
    m = load_media(rec, MediaBudget(), 28)
    assert m.frames.shape == (4, 28, 28, 3) and m.frame_indices == [0, 5, 10, 15]


@pytest.mark.parametrize("gop", [None, 10])
def test_sparse_sampling_seeks_and_matches_naive(tmp_path, gop):
    frames = numbered_frames(200, 64, 96)
    path = write_clip(tmp_path / "long.mp4", frames, fps=25, gop=gop)
    for budget in (MediaBudget(nframes=4), MediaBudget(), MediaBudget(video_start=3.0, video_end=5.0)):
        m = load_video(path, budget, 32)
        ref = decode_all(path)[m.frame_indices]
        np.testing.assert_array_equal(m.frames, ref)
        # brightness encodes the index: the decoded frames are the wanted ones, not neighbours
        np.testing.assert_allclose(m.frames[:, 32, 48, 0], frames[m.frame_indices, 32, 48, 0], atol=6)
    assert m.frame_indices[0] == 75 and m.frame_indices[-1] == 125 and abs(m.sample_fps - 4 / 51 * 25) < 1e-9


def test_truncated_video_names_the_path(tmp_path):
    path = write_clip(tmp_path / "full.mp4", numbered_frames(60), fps=10)
    data = path.read_bytes()
    for cut in (len(data) // 2, 200):
        bad = tmp_path / f"cut{cut}.mp4"
        bad.write_bytes(data[:cut])
        with pytest.raises(MediaError) as e:
            load_video(bad, MediaBudget(nframes=8), 28)
        assert str(bad) in str(e.value) and e.value.reason == "corrupt"


def test_missing_and_corrupt_files(tmp_path):
    with pytest.raises(MissingMediaError, match="nope.mp4") as e:
        load_video(tmp_path / "nope.mp4", MediaBudget(), 28)
    assert isinstance(e.value, FileNotFoundError) and e.value.reason == "missing"
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00not a video" * 100)
    with pytest.raises(MediaError, match="junk.mp4"):
        load_video(junk, MediaBudget(), 28)
    img = tmp_path / "bad.png"
    img.write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    with pytest.raises(MediaError, match="bad.png"):
        load_image(img, MediaBudget(), 28)


def test_backend_registry():
    assert {"pyav", "torchcodec", "decord"} <= set(VIDEO_BACKENDS.names())
    with pytest.raises(KeyError, match="unknown video backend 'ffmpeg'"):
        VIDEO_BACKENDS.get("ffmpeg")
