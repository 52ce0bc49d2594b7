"""vLLM engine plumbing on CPU, without vLLM: the requests reproduce the scoring pass's prompt exactly, the engine
is built per rank (vllm mocked at its import seam), weights arrive under the names vLLM's loader maps."""
from __future__ import annotations

import sys
import types

import numpy as np
import pytest
import torch

from video_ktr.rollout.vllm import (VLLMEngine, build_requests, llm_kwargs, prompt_texts, sampling_kwargs,
                                    vision_token_strings)

FAMILIES = ("qwen2_vl", "qwen2_5_vl", "qwen3_vl")


@pytest.fixture(scope="module")
def records_and_media(toy_data):
    from video_ktr.data import load_records

    recs = load_records(toy_data / "train.json").records
    return [next(r for r in recs if r.data_type == "video"), next(r for r in recs if r.data_type == "image")]


def _as_vllm_would(processor, request) -> dict:
    """What vLLM 0.33's Qwen-VL processing hands the HF processor for a request: the prompt, the media item, the
    video metadata without ``do_sample_frames`` and ``mm_processor_kwargs`` (our CPU stand-in for vLLM)."""
    text = processor.tokenizer.decode(request["prompt_token_ids"])
    (kind, item), = request["multi_modal_data"].items()
    kw = dict(request["mm_processor_kwargs"])
    if kind == "video":
        frames, meta = item
        kw.update(videos=[frames], video_metadata=[{k: v for k, v in meta.items() if k != "do_sample_frames"}])
    else:
        kw.update(images=[item])
    return dict(processor(text=[text], return_tensors="pt", **kw))


@pytest.mark.parametrize("family", FAMILIES)
def test_request_reproduces_scoring_pass(family, tiny_models, records_and_media):
    from transformers import AutoProcessor

    from video_ktr.data import encode_prompts, load_media, patch_multiple

    proc = AutoProcessor.from_pretrained(tiny_models[family])
    for rec in records_and_media:
        media = load_media(rec, patch_multiple=patch_multiple(proc))
        order = list(reversed(range(media.num_frames))) if rec.data_type == "video" else None
        for frame_order in (None, order):
            want = encode_prompts(proc, [rec], [media], frame_orders=[frame_order])
            texts = prompt_texts(proc, [rec])
            (req,) = build_requests(proc.tokenizer, texts, [media], [frame_order])
            pad = proc.tokenizer.convert_tokens_to_ids("<|video_pad|>" if rec.data_type == "video" else
                                                       "<|image_pad|>")
            assert req["prompt_token_ids"].count(pad) == 1        # vLLM expands the placeholder from the grid
            assert proc.tokenizer.decode(req["prompt_token_ids"]) == texts[0]
            got = _as_vllm_would(proc, req)
            grid = "video_grid_thw" if rec.data_type == "video" else "image_grid_thw"
            pixels = "pixel_values_videos" if rec.data_type == "video" else "pixel_values"
            assert torch.equal(got[grid], want[grid])
            assert torch.equal(got["input_ids"], want["input_ids"])          # same placeholder count and layout
            merge = proc.image_processor.merge_size ** 2
            assert int((want["input_ids"] == pad).sum()) == int(want[grid].prod()) // merge
            assert torch.equal(got[pixels], want[pixels])                    # same pixels in the same frame order
            if "second_per_grid_ts" in want:
                assert torch.allclose(torch.as_tensor(got["second_per_grid_ts"]),
                                      torch.as_tensor(want["second_per_grid_ts"]))
            if frame_order is not None:
                frames, _ = req["multi_modal_data"]["video"]
                assert np.array_equal(frames, media.frames[frame_order])


def test_request_count_mismatch_is_an_error(tiny_models, records_and_media):
    from transformers import AutoProcessor

    proc = AutoProcessor.from_pretrained(tiny_models["qwen2_5_vl"])
    with pytest.raises(ValueError, match="need one each"):
        build_requests(proc.tokenizer, ["a", "b"], [object()])


@pytest.mark.parametrize("family", FAMILIES)
def test_vision_placeholders_are_banned(family, tiny_models):
    from transformers import AutoConfig, AutoTokenizer

    config, tok = AutoConfig.from_pretrained(tiny_models[family]), AutoTokenizer.from_pretrained(tiny_models[family])
    banned = vision_token_strings(config, tok)
    want = {config.image_token_id, config.video_token_id, config.vision_start_token_id, config.vision_end_token_id}
    # vLLM encodes each bad word with the tokenizer and bans its last token: each must be exactly one id
    assert {tuple(tok(s, add_special_tokens=False)["input_ids"]) for s in banned} == {(i,) for i in want}
    kw = sampling_kwargs(temperature=1.0, top_p=0.9, top_k=0, max_tokens=8, n=4, seed=None, banned=banned)
    assert kw["bad_words"] == banned and kw["top_k"] == -1 and kw["n"] == 4
    greedy = sampling_kwargs(temperature=0.0, top_p=0.9, top_k=5, max_tokens=8, n=1, seed=3, banned=banned)
    assert greedy["top_p"] == 1.0 and greedy["top_k"] == -1 and greedy["seed"] == 3


# ---------------------------------------------------------------------------------------------------- engine


class FakeLLM:
    """Stands in for vllm.LLM: records its arguments, sleep/wake calls, weights loaded, and samples fixed ids."""

    instances: list = []

    def __init__(self, **kwargs):
        self.kwargs, self.calls, self.loaded = kwargs, [], []
        self.env = {k: __import__("os").environ.get(k) for k in ("RANK", "LOCAL_RANK", "WORLD_SIZE",
                                                                   "VLLM_ENABLE_V1_MULTIPROCESSING")}
        FakeLLM.instances.append(self)

    def sleep(self, level=1):
        self.calls.append(("sleep", level))

    def wake_up(self, tags=None):
        self.calls.append(("wake_up", tags))

    def reset_prefix_cache(self):
        self.calls.append(("reset_prefix_cache",))

    def apply_model(self, func):
        class Model:
            def load_weights(_, weights):
                self.loaded.extend((n, t.shape) for n, t in weights)
        return [func(Model())]

    def generate(self, requests, params, use_tqdm=False):
        self.calls.append(("generate", len(requests), params.kwargs["n"]))
        self.requests, self.params = requests, params
        out = types.SimpleNamespace
        return [out(outputs=[out(token_ids=[5, 6, 7][: 1 + g % 3], text="abc"[: 1 + g % 3])
                             for g in range(params.kwargs["n"])]) for _ in requests]


@pytest.fixture
def fake_vllm(monkeypatch):
    mod = types.ModuleType("vllm")
    mod.LLM = FakeLLM
    mod.SamplingParams = lambda **kw: types.SimpleNamespace(kwargs=kw)
    monkeypatch.setitem(sys.modules, "vllm", mod)
    for k, v in {"RANK": "1", "LOCAL_RANK": "1", "WORLD_SIZE": "2"}.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("VLLM_ENABLE_V1_MULTIPROCESSING", raising=False)
    monkeypatch.setenv("MASTER_PORT", "29511")
    FakeLLM.instances.clear()
    return mod


def _engine(path, seed=7):
    return VLLMEngine(model_path=str(path), temperature=1.0, top_p=0.95, top_k=0, max_new_tokens=16,
                      gpu_memory_utilization=0.25, seed=seed, max_model_len=2048)


def test_engine_is_built_per_rank_in_process(fake_vllm, nano_model):
    eng = _engine(nano_model)
    (llm,) = FakeLLM.instances
    assert llm.kwargs == llm_kwargs(model_path=str(nano_model), seed=7, rank=1, gpu_memory_utilization=0.25,
                                    max_model_len=2048)
    assert llm.kwargs["distributed_executor_backend"] == "external_launcher"
    assert llm.kwargs["seed"] == 8 and llm.kwargs["max_model_len"] == 2048 and llm.kwargs["enable_sleep_mode"]
    # the engine reads this rank's device from LOCAL_RANK and must not spawn an engine-core process
    assert llm.env == {"RANK": "1", "LOCAL_RANK": "1", "WORLD_SIZE": "2", "VLLM_ENABLE_V1_MULTIPROCESSING": "0"}
    assert llm.calls == [("sleep", 1)] and eng.asleep        # asleep until the first sync / generate


def test_seeds_differ_across_ranks():
    seeds = {llm_kwargs(model_path="m", seed=3, rank=r, gpu_memory_utilization=0.3, max_model_len=64)["seed"]
             for r in range(4)}
    assert seeds == {3, 4, 5, 6}


def test_missing_vllm_names_the_extra(monkeypatch, nano_model):
    monkeypatch.setitem(sys.modules, "vllm", None)                   # import vllm -> ImportError
    with pytest.raises(ImportError, match=r"\[vllm\]"):
        _engine(nano_model)


def test_sync_and_generate(fake_vllm, nano_model, toy_data):
    from transformers import AutoModelForImageTextToText, AutoProcessor

    from video_ktr.data import MediaBudget, load_records
    from video_ktr.rollout.weights import iter_hf_weights
    from video_ktr.trainer.batches import PromptSource

    model = AutoModelForImageTextToText.from_pretrained(nano_model)
    proc = AutoProcessor.from_pretrained(nano_model)
    eng = _engine(nano_model)
    llm = FakeLLM.instances[0]
    n = eng.sync_weights(model)
    assert n == len(list(iter_hf_weights(model))) == len(llm.loaded)
    assert llm.calls[-2:] == [("wake_up", None), ("reset_prefix_cache",)]
    recs = load_records(toy_data / "train.json").records[:2]
    src = PromptSource(recs, proc, batch_size=2, budget=MediaBudget(), template="reasoning", seed=0, shuffle=False)
    batch = src.encode(recs)
    ro = eng.generate(model, batch, 3, proc.tokenizer)
    assert llm.calls[-2:] == [("generate", 2, 3), ("sleep", 1)]
    assert ro.completion_ids.shape[0] == 6 and ro.inputs["input_ids"].shape[0] == 6
    assert ro.completion_mask.sum(1).tolist() == [1, 2, 3] * 2
    assert llm.params.kwargs["bad_words"] == vision_token_strings(model.config, proc.tokenizer)
    assert [r["prompt_token_ids"] for r in llm.requests] == \
        [proc.tokenizer(t, add_special_tokens=False)["input_ids"] for t in batch.texts]


def test_eval_backend_sends_the_same_requests(fake_vllm, nano_model, records_and_media):
    from video_ktr.data import load_media
    from video_ktr.eval.backends import BACKENDS, Decoding

    backend = BACKENDS.get("vllm").load(nano_model, Decoding(greedy=True, max_new_tokens=5), max_model_len=1024)
    llm = FakeLLM.instances[-1]
    assert llm.kwargs["model"] == str(nano_model) and llm.kwargs["max_model_len"] == 1024
    media = [load_media(r, patch_multiple=backend.patch_multiple()) for r in records_and_media]
    gens = backend.generate(records_and_media, media, "reasoning", seed=11)
    assert len(gens) == 2 and gens[0].num_tokens == 1
    want = build_requests(backend.processor.tokenizer, prompt_texts(backend.processor, records_and_media), media)
    assert [r["prompt_token_ids"] for r in llm.requests] == [r["prompt_token_ids"] for r in want]
    assert [r["mm_processor_kwargs"] for r in llm.requests] == [r["mm_processor_kwargs"] for r in want]
    kw = llm.params.kwargs
    assert kw["temperature"] == 0.0 and kw["seed"] == 11 and kw["max_tokens"] == 5 and kw["bad_words"]
