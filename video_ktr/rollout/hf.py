"""HF ``generate`` rollouts: CPU and GPU, works under ZeRO-3 (``synced_gpus``).

Samples come from exactly the configured policy distribution (``rollout.temperature`` / ``top_p`` / ``top_k``):
nothing else of the checkpoint's ``generation_config`` (e.g. the ``repetition_penalty`` 1.05 that Qwen2.5-VL
instruct checkpoints ship) reaches ``generate``, whose log-probs would otherwise not be those we train on. The one
exception: the vision placeholder tokens (image/video pad, vision start/end, read from the model config) are never
sampled — a completion holding one cannot be re-encoded ("video features and video tokens do not match"); a
trained policy gives them ~0 probability, so this changes nothing else.
"""
from __future__ import annotations

from contextlib import contextmanager

import torch

from video_ktr.rollout.types import PromptBatch, Rollout, completion_mask_from_ids, repeat_rows


def eos_token_ids(model) -> list[int]:
    eos = model.generation_config.eos_token_id
    return [eos] if isinstance(eos, int) else list(eos)


# The only entries of a checkpoint's generation_config a rollout keeps: which tokens end / pad a completion.
KEPT_GENERATION_KEYS = ("eos_token_id", "pad_token_id", "bos_token_id")


@contextmanager
def only_token_ids_from_checkpoint(model):
    """Within the block, ``model.generation_config`` holds only the token ids: ``generate`` fills every setting we
    do not pass from transformers' neutral defaults instead of the checkpoint's (penalties, min_p, suppressions…)."""
    from transformers import GenerationConfig

    saved = model.generation_config
    model.generation_config = GenerationConfig(**{k: getattr(saved, k, None) for k in KEPT_GENERATION_KEYS})
    try:
        yield saved
    finally:
        model.generation_config = saved


VISION_TOKEN_KEYS = ("image_token_id", "video_token_id", "vision_start_token_id", "vision_end_token_id")


def vision_token_ids(model) -> list[int]:
    """Ids of the vision placeholder tokens of a Qwen-VL config (none for a text-only model)."""
    return [int(i) for i in (getattr(model.config, k, None) for k in VISION_TOKEN_KEYS) if i is not None]


class HFEngine:
    """Samples G completions per prompt with ``model.generate`` on the prompt rows repeated G times."""

    def __init__(self, *, temperature: float, top_p: float, top_k: int, max_new_tokens: int,
                 synced_gpus: bool = False, **_unused):
        # top_k 0 = off, passed as 0: None would let transformers' default top_k = 50 apply
        self.kwargs = dict(temperature=temperature, top_p=top_p, top_k=int(top_k or 0), max_new_tokens=max_new_tokens)
        self.synced_gpus = synced_gpus

    def sync_weights(self, model) -> None:
        """The HF engine samples from the training model itself: nothing to sync."""

    @torch.no_grad()
    def generate(self, model, batch: PromptBatch, group_size: int, tokenizer, *, greedy: bool = False,
                 max_new_tokens: int | None = None) -> Rollout:
        inputs = repeat_rows(batch.inputs, group_size, model.config)      # N = B*G rows
        kw = dict(self.kwargs)
        if max_new_tokens is not None:
            kw["max_new_tokens"] = max_new_tokens
        if greedy or kw["temperature"] == 0:
            kw.update(do_sample=False, temperature=1.0, top_p=1.0, top_k=0)
        else:
            kw["do_sample"] = True
        was_training = model.training
        model.eval()
        with only_token_ids_from_checkpoint(model):
            out = model.generate(**inputs, **kw, suppress_tokens=vision_token_ids(model) or None,
                                 synced_gpus=self.synced_gpus)
        model.train(was_training)
        completion_ids = out[:, inputs["input_ids"].shape[1]:]            # (N, T)
        if completion_ids.shape[1] == 0:                                  # generation stopped at once
            completion_ids = out.new_full((out.shape[0], 1), model.generation_config.pad_token_id)
        mask, truncated = completion_mask_from_ids(completion_ids, eos_token_ids(model))
        pad = model.generation_config.pad_token_id
        completion_ids = completion_ids.masked_fill(~mask, pad)
        texts = tokenizer.batch_decode(completion_ids.masked_fill(~mask, pad), skip_special_tokens=True)
        ro = Rollout(inputs, completion_ids, mask, truncated, texts, group_size)
        ro.validate()
        return ro
