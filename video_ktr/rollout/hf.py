"""HF ``generate`` rollouts: CPU and GPU, works under ZeRO-3 (``synced_gpus``)."""
from __future__ import annotations

import torch

from video_ktr.rollout.types import PromptBatch, Rollout, completion_mask_from_ids, repeat_rows


def eos_token_ids(model) -> list[int]:
    eos = model.generation_config.eos_token_id
    return [eos] if isinstance(eos, int) else list(eos)


class HFEngine:
    """Samples G completions per prompt with ``model.generate`` on the prompt rows repeated G times."""

    def __init__(self, *, temperature: float, top_p: float, top_k: int, max_new_tokens: int,
                 synced_gpus: bool = False, **_unused):
        self.kwargs = dict(temperature=temperature, top_p=top_p, top_k=top_k or None, max_new_tokens=max_new_tokens)
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
            kw.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        else:
            kw["do_sample"] = True
        was_training = model.training
        model.eval()
        out = model.generate(**inputs, **kw, synced_gpus=self.synced_gpus)
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
