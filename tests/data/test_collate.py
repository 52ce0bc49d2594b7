import numpy as np
import pytest
import torch

from video_ktr.data import MediaBudget, encode_prompts, load_media, patch_multiple, reorder_frames

FAMILIES = ("qwen2_5_vl", "qwen3_vl")


@pytest.fixture(scope="module")
def models(tiny_models):
    from transformers import AutoModelForImageTextToText

    return {f: AutoModelForImageTextToText.from_pretrained(tiny_models[f]).eval() for f in FAMILIES}


def mixed_batch(records, processor):
    """Two videos, one image, one more video: a mixed batch with prompts of different lengths."""
    videos = [r for r in records if r.data_type == "video"]
    image = next(r for r in records if r.data_type == "image")
    recs = [videos[0], image, videos[1], videos[2]]
    return recs, [load_media(r, MediaBudget(), patch_multiple(processor)) for r in recs]


@pytest.mark.parametrize("family", FAMILIES)
def test_round_trip_into_forward(family, processors, models, toy_records):
    proc, model = processors[family], models[family]
    recs, media = mixed_batch(toy_records, proc)
    inputs = encode_prompts(proc, recs, media)
    for key in ("input_ids", "attention_mask", "pixel_values", "image_grid_thw", "pixel_values_videos",
                "video_grid_thw"):
        assert key in inputs, key
    if family == "qwen2_5_vl":
        assert inputs["second_per_grid_ts"].tolist() == [1.0, 1.0, 1.0]     # 2 frames / 2 fps per temporal patch
    # the processor kept our size: grid = (F / 2, H / patch, W / patch); token count = grid / merge^2
    p = proc.video_processor.patch_size
    for m, thw in zip([m for m in media if m.kind == "video"], inputs["video_grid_thw"].tolist()):
        assert thw == [m.num_frames // 2, m.frames.shape[1] // p, m.frames.shape[2] // p]
    video_id = model.config.video_token_id
    merge = proc.video_processor.merge_size ** 2
    assert (inputs["input_ids"] == video_id).sum() == inputs["video_grid_thw"].prod(-1).sum() // merge
    # left padding: every row ends with the generation prompt, the shortest starts with padding
    mask = inputs["attention_mask"]
    assert mask[:, -1].all() and not mask[:, 0].all()
    with torch.no_grad():
        out = model(**inputs)
    assert out.logits.shape[:2] == inputs["input_ids"].shape and torch.isfinite(out.logits).all()
    with torch.no_grad():
        gen = model.generate(**inputs, max_new_tokens=3, do_sample=False)
    assert gen.shape[0] == len(recs)


@pytest.mark.parametrize("family", FAMILIES)
def test_frame_orders_permute_pixels_only(family, processors, toy_records):
    proc = processors[family]
    recs, media = mixed_batch(toy_records, proc)
    base = encode_prompts(proc, recs, media)
    f = media[0].num_frames
    swap = [2, 3, 0, 1] + list(range(4, f))          # swap the first two temporal patches of video 0
    rev = list(reversed(range(media[2].num_frames)))
    probe = encode_prompts(proc, recs, media, frame_orders=[swap, None, rev, None])
    assert base.keys() == probe.keys()
    for key in base:
        if key != "pixel_values_videos":
            assert torch.equal(base[key], probe[key]), key        # same tokens, positions, grids, timestamps
    pv, pv_probe = base["pixel_values_videos"], probe["pixel_values_videos"]
    assert pv.shape == pv_probe.shape and not torch.equal(pv, pv_probe)
    # patch rows are laid out temporal-patch-major: video 0's first two blocks of rows trade places
    t, h, w = base["video_grid_thw"][0].tolist()
    n = h * w
    assert torch.equal(pv_probe[:n], pv[n:2 * n]) and torch.equal(pv_probe[n:2 * n], pv[:n])
    assert torch.equal(pv_probe[2 * n:t * n], pv[2 * n:t * n])
    # identical to encoding frames that were permuted by hand
    by_hand = [type(m)(**{**m.__dict__, "frames": reorder_frames(m.frames, o)})
               for m, o in zip(media, [swap, None, rev, None])]
    assert torch.equal(encode_prompts(proc, recs, by_hand)["pixel_values_videos"], pv_probe)


def test_bad_orders_and_mismatches(processors, toy_records):
    proc = processors["qwen2_5_vl"]
    recs, media = mixed_batch(toy_records, proc)
    with pytest.raises(ValueError, match="not a permutation"):
        encode_prompts(proc, recs, media, frame_orders=[[0, 0, 1, 2, 3, 4, 5, 6], None, None, None])
    with pytest.raises(ValueError, match="frame_orders has 1 entries"):
        encode_prompts(proc, recs, media, frame_orders=[None])
    with pytest.raises(ValueError, match="records but"):
        encode_prompts(proc, recs, media[:2])
    with pytest.raises(ValueError, match="is a image but its media is a video"):
        encode_prompts(proc, [recs[1]], [media[0]])


def test_video_only_and_image_only_batches(processors, toy_records):
    proc = processors["qwen2_vl"]
    recs, media = mixed_batch(toy_records, proc)
    only_v = encode_prompts(proc, [recs[0]], [media[0]])
    assert "pixel_values_videos" in only_v and "pixel_values" not in only_v
    only_i = encode_prompts(proc, [recs[1]], [media[1]], template="direct")
    assert "pixel_values" in only_i and "pixel_values_videos" not in only_i
    assert np.array_equal(only_i["image_grid_thw"][0].numpy(), [1, 4, 4])   # 56x56 image, patch 14


def test_video_time_reference_puts_patches_one_second_apart(processors, toy_records):
    from video_ktr.data import MediaBudget, encode_prompts, load_media, patch_multiple

    proc = processors["qwen2_5_vl"]
    recs = [r for r in toy_records if r.data_type == "video"][:2]
    ts = {}
    for vt in ("absolute", "reference"):
        budget = MediaBudget(fps=1.0, video_time=vt)                   # 4 s clips at 1 fps → 4 frames, 2 s / patch
        media = [load_media(r, budget, patch_multiple(proc)) for r in recs]
        assert all(m.video_time == vt for m in media)
        ts[vt] = torch.as_tensor(encode_prompts(proc, recs, media)["second_per_grid_ts"]).float().tolist()
    assert ts["absolute"] == [2.0, 2.0] and ts["reference"] == [1.0, 1.0]
    with pytest.raises(ValueError, match="video_time"):
        MediaBudget(video_time="real")


def test_config_pixel_floor_and_video_time_reach_the_budget(tmp_path):
    from video_ktr.config import load_config
    from video_ktr.trainer.batches import media_budget

    cfg = load_config(None, ["data.video_min_pixels=100352", "data.video_time=reference"])
    b = media_budget(cfg.data)
    assert (b.video_min_pixels, b.video_time) == (128 * 28 * 28, "reference")
    with pytest.raises(ValueError, match="video_time"):
        load_config(None, ["data.video_time=seconds"])
