import torch

from video_ktr.rollout import ENGINES, completion_mask_from_ids, repeat_rows


def test_completion_mask_includes_first_eos_and_flags_truncation():
    ids = torch.tensor([[5, 9, 7, 9], [5, 6, 7, 8], [9, 1, 1, 1]])
    mask, truncated = completion_mask_from_ids(ids, [9])
    assert mask.tolist() == [[1, 1, 0, 0], [1, 1, 1, 1], [1, 0, 0, 0]]
    assert truncated.tolist() == [False, True, False]


def test_engines_registry_is_lazy():
    assert ENGINES.names() == ["hf", "vllm"]  # listing does not import vllm


def test_repeat_rows_mixed_image_video(nano_model, toy_data):
    from transformers import AutoConfig, AutoProcessor

    from video_ktr.data import MediaBudget, encode_prompts, load_media, load_records, patch_multiple

    proc = AutoProcessor.from_pretrained(nano_model)
    config = AutoConfig.from_pretrained(nano_model)
    recs = load_records(toy_data / "train.json").records
    img = next(r for r in recs if r.data_type == "image")
    vids = [r for r in recs if r.data_type == "video"][:2]
    batch = [vids[0], img, vids[1]]
    media = [load_media(r, MediaBudget(), patch_multiple(proc)) for r in batch]
    inputs = encode_prompts(proc, batch, media)
    out = repeat_rows(inputs, 3, config)
    assert out["input_ids"].shape[0] == 9
    assert torch.equal(out["input_ids"][3], inputs["input_ids"][1])
    assert out["video_grid_thw"].shape[0] == 6 and out["image_grid_thw"].shape[0] == 3
    per_video = inputs["video_grid_thw"].prod(1).tolist()
    assert out["pixel_values_videos"].shape[0] == 3 * sum(per_video)
    first = inputs["pixel_values_videos"][:per_video[0]]
    assert torch.equal(out["pixel_values_videos"][per_video[0]:2 * per_video[0]], first)
