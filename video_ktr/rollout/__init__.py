"""Rollouts: G sampled completions per prompt behind one interface (``ENGINES``: hf default, vllm optional)."""
from __future__ import annotations

from video_ktr.registry import Registry
from video_ktr.rollout.types import (PromptBatch, Rollout, completion_mask_from_ids, media_per_row,
                                     repeat_rows)

ENGINES: Registry = Registry("rollout engine")


@ENGINES.register("hf")
def _hf(**kwargs):
    from video_ktr.rollout.hf import HFEngine

    return HFEngine(**kwargs)


@ENGINES.register("vllm")
def _vllm(**kwargs):
    from video_ktr.rollout.vllm import VLLMEngine  # lazy: vLLM is an optional GPU extra

    return VLLMEngine(**kwargs)


def build_engine(name: str, **kwargs):
    """``build_engine("hf", temperature=1.0, top_p=0.95, top_k=0, max_new_tokens=768)``."""
    return ENGINES.get(name)(**kwargs)


__all__ = ["ENGINES", "PromptBatch", "Rollout", "build_engine", "completion_mask_from_ids", "media_per_row",
           "repeat_rows"]
