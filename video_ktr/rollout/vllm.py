"""vLLM rollouts colocated with training: one in-process engine per rank, weights pushed every step.

Optional extra (``pip install -e '.[vllm]'``, vllm 0.33.0, GPU only), imported lazily: nothing here imports vLLM at
module level, and CI never installs it. Built the way TRL's GRPO colocate mode and vLLM's RLHF examples do it:

* ``LLM(..., distributed_executor_backend="external_launcher")`` with ``VLLM_ENABLE_V1_MULTIPROCESSING=0``: the
  engine core and its single worker live in this process, on this rank's GPU (``LOCAL_RANK``), seeded per rank;
* ``enable_sleep_mode``: the engine sleeps (level 1: weights to CPU, KV cache freed) while the policy trains and
  wakes before weights are pushed / before sampling;
* weights pushed per parameter through ``LLM.apply_model(model.load_weights)`` (``rollout.weights``: ZeRO-3
  gathered, FSDP2 full tensors, LoRA merged and renamed), then the prefix cache is reset;
* the request carries the exact prompt the scoring pass encodes (``build_requests``): the chat-templated prompt's
  token ids, our already-sampled and resized frames with their metadata, and ``do_resize=False`` /
  ``do_sample_frames=False`` for vLLM's processor, so its vision grid and placeholder count equal
  ``data.encode_prompts``'s; vision placeholder tokens are banned from sampling.

The completions come back as ids and are scored by the same teacher-forced policy / probe passes as HF rollouts,
so KTR works unchanged.
"""
from __future__ import annotations

import os
from typing import Sequence

import torch

from video_ktr.rollout.hf import eos_token_ids
from video_ktr.rollout.types import PromptBatch, Rollout, completion_mask_from_ids, repeat_rows
from video_ktr.rollout.weights import iter_hf_weights

VISION_TOKEN_KEYS = ("image_token_id", "video_token_id", "vision_start_token_id", "vision_end_token_id")
INSTALL_HINT = "rollout.engine=vllm needs the optional extra: pip install -e '.[vllm]' (vllm 0.33.0, GPU only)"


def _import_vllm():
    try:
        import vllm
    except ImportError as e:
        raise ImportError(INSTALL_HINT) from e
    return vllm


# ---------------------------------------------------------------------------------------------------- requests


def _processor_kwargs(kind: str) -> dict:
    """What vLLM must pass to the HF processor so it keeps our frames as they are (``encode_prompts`` does the
    same: ``do_resize=False``, and for videos ``do_sample_frames=False``)."""
    return {"do_resize": False, "do_sample_frames": False} if kind == "video" else {"do_resize": False}


def prompt_texts(processor, records: Sequence, template: str = "reasoning") -> list[str]:
    """The chat-templated prompt strings ``encode_prompts`` tokenizes (``PromptBatch.texts`` holds the same)."""
    from video_ktr.data import build_messages

    return [processor.apply_chat_template(build_messages(r, template), tokenize=False, add_generation_prompt=True)
            for r in records]


def build_requests(tokenizer, texts: Sequence[str], media: Sequence,
                   frame_orders: Sequence | None = None) -> list[dict]:
    """One vLLM request per prompt: ``prompt_token_ids`` (the chat-templated prompt with one placeholder per media
    item, which vLLM expands from the vision grid), ``multi_modal_data`` (the frames ``load_media`` sampled and
    resized, in ``frame_orders`` if given: a video as ``(frames (F, H, W, 3) uint8, metadata)``, an image as
    ``(H, W, 3)``) and ``mm_processor_kwargs`` (``do_resize=False``, ``do_sample_frames=False``).

    The scoring pass encodes the same prompts with ``encode_prompts``; running the processor on a request reproduces
    its input ids, grid, timestamps and pixels exactly (tests/rollout/test_vllm.py, all three model families)."""
    from video_ktr.data.collate import reorder_frames

    if len(texts) != len(media) or (frame_orders is not None and len(frame_orders) != len(media)):
        raise ValueError(f"{len(texts)} prompts, {len(media)} media, "
                         f"{None if frame_orders is None else len(frame_orders)} frame orders: need one each")
    orders = frame_orders if frame_orders is not None else [None] * len(media)
    out = []
    for text, m, order in zip(texts, media, orders):
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        if m.kind == "video":
            data = {"video": (reorder_frames(m.frames, order), {**m.metadata(), "do_sample_frames": False})}
        else:
            data = {"image": m.frames[0]}
        out.append({"prompt_token_ids": list(ids), "multi_modal_data": data,
                    "mm_processor_kwargs": _processor_kwargs(m.kind)})
    return out


def vision_token_strings(config, tokenizer) -> list[str]:
    """The vision placeholder tokens of ``config`` as strings, for ``SamplingParams(bad_words=...)``."""
    ids = [getattr(config, k, None) for k in VISION_TOKEN_KEYS]
    return tokenizer.convert_ids_to_tokens([int(i) for i in ids if i is not None])


def sampling_kwargs(*, temperature: float, top_p: float, top_k: int, max_tokens: int, n: int, seed: int | None,
                    banned: list[str], logprobs: int | None = 0) -> dict:
    """``SamplingParams`` keyword arguments; ``temperature == 0`` is greedy. ``logprobs=0`` returns the sampled
    token's log-prob (used by benchmarks/gpu_validate.py to compare with the policy's)."""
    return dict(n=n, temperature=temperature, top_p=top_p if temperature > 0 else 1.0,
                top_k=(top_k or -1) if temperature > 0 else -1, max_tokens=max_tokens, seed=seed,
                bad_words=list(banned) or None, logprobs=logprobs, skip_special_tokens=True)


# ---------------------------------------------------------------------------------------------------- engine


def rank_env() -> tuple[int, int, int]:
    """(rank, local_rank, world_size) from the launcher's environment (torchrun / accelerate); (0, 0, 1) alone."""
    rank = int(os.environ.get("RANK", 0))
    return rank, int(os.environ.get("LOCAL_RANK", rank)), int(os.environ.get("WORLD_SIZE", 1))


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def llm_kwargs(*, model_path: str, seed: int, rank: int, gpu_memory_utilization: float, max_model_len: int,
               enable_sleep_mode: bool = True, dtype: str = "bfloat16") -> dict:
    """``vllm.LLM`` arguments for a colocated engine on this rank (tensor parallel 1: each rank samples its own
    prompts, seeded ``seed + rank`` so ranks do not draw the same completions)."""
    return dict(model=str(model_path), distributed_executor_backend="external_launcher", tensor_parallel_size=1,
                seed=seed + rank, gpu_memory_utilization=gpu_memory_utilization, max_model_len=max_model_len,
                enable_sleep_mode=enable_sleep_mode, enable_prefix_caching=True, dtype=dtype,
                limit_mm_per_prompt={"image": 1, "video": 1}, logprobs_mode="processed_logprobs",
                max_num_batched_tokens=max(4096, max_model_len))


class VLLMEngine:
    """Colocated vLLM rollouts (``rollout.engine=vllm``). Same interface as ``HFEngine``: ``sync_weights(model)``
    before ``generate(model, batch, group_size, tokenizer)``."""

    def __init__(self, *, model_path: str, temperature: float, top_p: float, top_k: int, max_new_tokens: int,
                 gpu_memory_utilization: float = 0.3, seed: int = 0, max_model_len: int = 8192,
                 enable_sleep_mode: bool = True, **_unused):
        vllm = _import_vllm()
        self.rank, self.local_rank, self.world_size = rank_env()
        os.environ.setdefault("RANK", str(self.rank))
        os.environ.setdefault("LOCAL_RANK", str(self.local_rank))
        os.environ.setdefault("WORLD_SIZE", str(self.world_size))
        os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
        if "MASTER_PORT" not in os.environ:                  # alone (no launcher): a free port, not a fixed one
            os.environ["MASTER_PORT"] = str(_free_port())
        os.environ["VLLM_ENABLE_V1_MULTIPROCESSING"] = "0"   # external_launcher: engine core in this process
        if torch.cuda.is_available():
            torch.cuda.set_device(self.local_rank)
        self.sleep_mode = enable_sleep_mode
        self.kwargs = llm_kwargs(model_path=model_path, seed=seed, rank=self.rank,
                                 gpu_memory_utilization=gpu_memory_utilization, max_model_len=max_model_len,
                                 enable_sleep_mode=enable_sleep_mode)
        self.llm = vllm.LLM(**self.kwargs)
        self.sampling = dict(temperature=temperature, top_p=top_p, top_k=top_k, max_tokens=max_new_tokens,
                             seed=None)
        self.asleep = False
        self.sleep()

    # ------------------------------------------------------------------ memory
    def sleep(self) -> None:
        """Free the engine's GPU memory while the policy trains (weights offloaded, KV cache dropped)."""
        if self.sleep_mode and not self.asleep:
            self.llm.sleep(level=1)
            self.asleep = True

    def wake(self) -> None:
        if self.asleep:
            self.llm.wake_up()
            self.asleep = False

    # ------------------------------------------------------------------ weights
    def sync_weights(self, model) -> int:
        """Push the policy's current weights into the engine, one parameter at a time; returns how many."""
        self.wake()
        n = 0
        for name, tensor in iter_hf_weights(model):
            self.llm.apply_model(lambda m, batch=[(name, tensor)]: m.load_weights(batch))
            n += 1
        self.llm.reset_prefix_cache()
        return n

    # ------------------------------------------------------------------ sampling
    @torch.no_grad()
    def generate(self, model, batch: PromptBatch, group_size: int, tokenizer, *, greedy: bool = False,
                 max_new_tokens: int | None = None) -> Rollout:
        from vllm import SamplingParams

        if len(batch.texts) != len(batch):
            raise ValueError("the vllm engine needs PromptBatch.texts (the chat-templated prompts); build batches "
                             "with PromptSource.encode")
        requests = build_requests(tokenizer, batch.texts, batch.media, batch.frame_orders)
        kw = dict(self.sampling)
        if greedy:
            kw["temperature"] = 0.0
        if max_new_tokens is not None:
            kw["max_tokens"] = max_new_tokens
        params = SamplingParams(**sampling_kwargs(**kw, n=group_size, banned=vision_token_strings(model.config,
                                                                                                   tokenizer)))
        self.wake()
        outs = self.llm.generate(requests, params, use_tqdm=False)
        self.sleep()
        seqs = [list(c.token_ids) for o in outs for c in o.outputs]     # N = B*G lists, prompt-major
        pad = model.generation_config.pad_token_id
        t = max(1, max(len(s) for s in seqs))
        ids = torch.full((len(seqs), t), pad, dtype=torch.long)
        for i, s in enumerate(seqs):
            ids[i, :len(s)] = torch.tensor(s, dtype=torch.long)
        mask, truncated = completion_mask_from_ids(ids, eos_token_ids(model))
        mask &= torch.arange(t)[None, :] < torch.tensor([len(s) for s in seqs])[:, None]   # (N, T) own length
        ids = ids.masked_fill(~mask, pad)
        inputs = repeat_rows(batch.inputs, group_size, model.config)
        texts = tokenizer.batch_decode(ids, skip_special_tokens=True)
        device = batch.inputs["input_ids"].device
        ro = Rollout(inputs, ids.to(device), mask.to(device), truncated.to(device), texts, group_size)
        ro.validate()
        return ro
