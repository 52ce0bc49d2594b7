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


def _penalised_checkpoint(nano_model, tmp_path):
    """The nano checkpoint with a generation_config as instruct checkpoints ship it (repetition_penalty 1.05 …)."""
    import shutil

    from transformers import GenerationConfig

    ckpt = tmp_path / "penalised"
    shutil.copytree(nano_model, ckpt)
    gc = GenerationConfig.from_pretrained(nano_model)
    gc.update(repetition_penalty=1.05, top_k=3, min_p=0.2, do_sample=True, temperature=0.1)
    gc.save_pretrained(ckpt)
    return ckpt


def _spy_generate(model, seen):
    """Make ``model.generate`` also return the raw and the processed (sampled-from) logits of every step."""
    real = model.generate

    def spy(**kw):
        out = real(**kw, output_scores=True, output_logits=True, return_dict_in_generate=True)
        seen["scores"], seen["logits"] = torch.stack(out.scores, 1), torch.stack(out.logits, 1)   # (N, T, V)
        return out.sequences
    model.generate = spy


def test_rollouts_sample_only_from_the_configured_distribution(nano_model, toy_data, tmp_path):
    from transformers import AutoModelForImageTextToText, AutoProcessor

    from video_ktr.data import MediaBudget, encode_prompts, load_media, load_records, patch_multiple
    from video_ktr.rollout import PromptBatch
    from video_ktr.rollout.hf import HFEngine, vision_token_ids

    ckpt = _penalised_checkpoint(nano_model, tmp_path)
    model = AutoModelForImageTextToText.from_pretrained(ckpt)
    proc = AutoProcessor.from_pretrained(ckpt)
    assert model.generation_config.repetition_penalty == 1.05
    recs = [r for r in load_records(toy_data / "train.json").records if r.data_type == "video"][:2]
    media = [load_media(r, MediaBudget(), patch_multiple(proc)) for r in recs]
    batch = PromptBatch(recs, media, encode_prompts(proc, recs, media))
    for temperature in (1.0, 0.7):
        seen = {}
        _spy_generate(model, seen)
        torch.manual_seed(0)
        HFEngine(temperature=temperature, top_p=1.0, top_k=0, max_new_tokens=12).generate(model, batch, 3,
                                                                                           proc.tokenizer)
        del model.generate
        # the distribution sampled from = softmax(logits / T): no penalty, no top-k 3, no min_p, no top-k 50; only
        # the vision placeholders are never sampled
        vision = vision_token_ids(model)
        assert len(vision) == 4 and torch.isinf(seen["scores"][..., vision]).all()
        keep = torch.ones(seen["scores"].shape[-1], dtype=torch.bool)
        keep[vision] = False
        torch.testing.assert_close(seen["scores"][..., keep], seen["logits"][..., keep] / temperature, rtol=0,
                                   atol=1e-5)
    assert model.generation_config.repetition_penalty == 1.05 and model.generation_config.top_k == 3  # restored
    # the control: generate with the checkpoint's own config does not sample from softmax(logits)
    seen = {}
    _spy_generate(model, seen)
    model.generate(**batch.inputs, do_sample=True, temperature=1.0, top_p=1.0, max_new_tokens=12)
    del model.generate
    assert not torch.allclose(seen["scores"], seen["logits"])
