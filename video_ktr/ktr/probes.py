"""Counterfactual probes: log-probs of the same completion with the visual evidence hidden or the frames permuted.

Visual (registry ``VISUAL_PROBES``): ``drop`` (default, cheap: the language model alone on the sequence without
the placeholder tokens, plain text positions — no vision encoder, far fewer tokens), ``mask`` (reference: attention
mask 0 on the placeholders; the vision encoder still runs) and ``mask_half`` (ablation: a seeded random half of each
row's vision positions hidden, positions unchanged). ``drop`` == ``mask`` exactly in fp32 (tested).

Temporal (videos only): the reference re-processes permuted frames — build the orders with
:func:`make_frame_orders`, re-encode with the data stage (``encode_prompts(..., frame_orders=...)``) and call
:func:`temporal_probe_logprobs`. The fast mode (:func:`fast_temporal_probe`) permutes whole temporal patches (frame
pairs) of the vision features the policy forward already computed: equal to re-encoding the permuted frame pairs
(tested), but a different perturbation than shuffling single frames, so it is an option, not the default.

Shape legend: N completions · P prompt · T completion · L = P + T · F frames · D hidden.
"""
from __future__ import annotations

import inspect

import torch
from torch import Tensor

from video_ktr.ktr.logprobs import (DEFAULT_CHUNK, CompletionOutput, full_sequence_inputs, run_completion,
                                    vision_token_ids)
from video_ktr.registry import Registry


# ----------------------------------------------------------------------------------------------- pure functions
def drop_positions(input_ids: Tensor, attention_mask: Tensor, hide: Tensor, num_tail: int) -> tuple[Tensor, ...]:
    """Remove the ``hide`` tokens, re-left-pad, and give the remaining attended tokens plain text positions.

    input_ids, attention_mask, hide: (N, L); the last ``num_tail`` columns (the completion) always stay in place.
    Returns ids (N, L'), attention_mask (N, L'), position_ids (N, L') with L' = max kept per row.
    """
    keep = ~hide.bool()
    keep[:, input_ids.shape[1] - num_tail:] = True                                             # completion stays
    keep &= attention_mask.bool() | (torch.arange(keep.shape[1], device=keep.device) >= keep.shape[1] - num_tail)
    order = torch.argsort(keep.int(), dim=1, stable=True)                                      # kept → the end
    width = int(keep.sum(1).max())
    ids = input_ids.gather(1, order)[:, -width:]                                               # (N, L')
    attn = (attention_mask.bool() & keep).gather(1, order)[:, -width:]                         # (N, L')
    pos = (attn.long().cumsum(1) - 1).clamp_min(0)                                             # (N, L')
    return ids, attn.to(attention_mask.dtype), pos


def _is_identity(p: list[int]) -> bool:
    return all(i == j for i, j in enumerate(p))


# Permutation = (num_units, generator, *, segment) -> list[int]; never the identity when num_units ≥ 2.
PERMUTATIONS: Registry = Registry("temporal permutation")


@PERMUTATIONS.register("shuffle")
def shuffle_order(n: int, generator: torch.Generator, *, segment: int = 4) -> list[int]:
    """One uniformly random non-identity permutation (redrawn while identity)."""
    if n < 2:
        return list(range(n))
    while True:
        p = torch.randperm(n, generator=generator).tolist()
        if not _is_identity(p):
            return p


@PERMUTATIONS.register("reverse")
def reverse_order(n: int, generator: torch.Generator, *, segment: int = 4) -> list[int]:
    """Play the clip backwards."""
    return list(range(n - 1, -1, -1))


@PERMUTATIONS.register("segment")
def segment_order(n: int, generator: torch.Generator, *, segment: int = 4) -> list[int]:
    """Shuffle blocks of ``segment`` consecutive units (order kept inside a block); one block → shuffle units."""
    if segment < 1:
        raise ValueError(f"segment={segment} must be ≥ 1 frames per block")
    blocks = [list(range(s, min(s + segment, n))) for s in range(0, n, segment)]
    if len(blocks) < 2:
        return shuffle_order(n, generator)
    return [i for b in shuffle_order(len(blocks), generator) for i in blocks[b]]


def make_frame_orders(num_frames: list[int | None], mode: str, generator: torch.Generator, *,
                      segment: int = 4) -> list[list[int] | None]:
    """Per sample a frame order for the reference temporal probe (None for images / num_frames None)."""
    fn = PERMUTATIONS.get(mode)
    return [None if f is None else fn(f, generator, segment=segment) for f in num_frames]


def permute_temporal_patches(features: tuple[Tensor, ...], grid_thw: Tensor, orders: list[list[int]],
                             merge_size: int) -> tuple[Tensor, ...]:
    """Reorder whole temporal patches of each video's merged vision features.

    features: per video (t·h·w / merge², D); grid_thw: (num_videos, 3); orders: per video a permutation of range(t).
    """
    out = []
    for f, (t, h, w), order in zip(features, grid_thw.tolist(), orders):
        blocks = f.reshape(t, (h * w) // merge_size ** 2, f.shape[-1])                       # (t, hw/m², D)
        out.append(blocks[torch.as_tensor(order, device=f.device)].reshape(f.shape))
    return tuple(out)


# --------------------------------------------------------------------------------------------- visual probes
# VisualProbe = (model, inputs, completion_ids, completion_mask, *, generator, chunk_size, return_hidden)
#               -> CompletionOutput (no grad)
VISUAL_PROBES: Registry = Registry("visual probe")


def _vision_positions(model, ids: Tensor) -> Tensor:
    img, vid = vision_token_ids(model)
    return (ids == img) | (ids == vid)                                                         # (N, L)


@VISUAL_PROBES.register("drop")
def drop_vision_probe(model, inputs, completion_ids, completion_mask, *, generator=None,
                      chunk_size=DEFAULT_CHUNK, return_hidden=False) -> CompletionOutput:
    """Cheap default: the language model on the sequence without the placeholder tokens (no vision encoder)."""
    full = full_sequence_inputs(model, inputs, completion_ids, completion_mask)
    ids, attn, pos = drop_positions(full["input_ids"], full["attention_mask"],
                                    _vision_positions(model, full["input_ids"]), completion_ids.shape[1])
    kw = dict(input_ids=ids, attention_mask=attn, position_ids=pos)
    return run_completion(model, kw, completion_ids, completion_mask, with_entropy=False, chunk_size=chunk_size,
                          return_hidden=return_hidden)


@VISUAL_PROBES.register("mask")
def mask_vision_probe(model, inputs, completion_ids, completion_mask, *, generator=None,
                      chunk_size=DEFAULT_CHUNK, return_hidden=False) -> CompletionOutput:
    """Reference: attention mask 0 on every image/video placeholder (M-RoPE then lays out text positions)."""
    full = full_sequence_inputs(model, inputs, completion_ids, completion_mask)
    hide = _vision_positions(model, full["input_ids"])
    full["attention_mask"] = full["attention_mask"].masked_fill(hide, 0)
    return run_completion(model, full, completion_ids, completion_mask, with_entropy=False, chunk_size=chunk_size,
                          return_hidden=return_hidden)


@VISUAL_PROBES.register("mask_half")
def mask_half_vision_probe(model, inputs, completion_ids, completion_mask, *, generator=None,
                           chunk_size=DEFAULT_CHUNK, return_hidden=False) -> CompletionOutput:
    """Ablation: hide a seeded random half (floor) of each row's vision positions; positions stay as original."""
    if generator is None:
        raise ValueError("visual probe 'mask_half' is random: pass a seeded torch.Generator")
    full = full_sequence_inputs(model, inputs, completion_ids, completion_mask)
    is_vis = _vision_positions(model, full["input_ids"])                                        # (N, L)
    r = torch.rand(is_vis.shape, generator=generator).to(is_vis.device)
    r = torch.where(is_vis, r, torch.full_like(r, float("inf")))
    rank = r.argsort(1).argsort(1)                                                              # (N, L)
    hide = is_vis & (rank < (is_vis.sum(1, keepdim=True) // 2))
    rope_kw = {k: v for k, v in full.items() if k in inspect.signature(model.model.get_rope_index).parameters}
    full["position_ids"], _ = model.model.get_rope_index(**rope_kw)                            # (3, N, L)
    full["attention_mask"] = full["attention_mask"].masked_fill(hide, 0)
    return run_completion(model, full, completion_ids, completion_mask, with_entropy=False, chunk_size=chunk_size,
                          return_hidden=return_hidden)


@torch.no_grad()
def visual_probe_logprobs(model, inputs: dict, completion_ids: Tensor, completion_mask: Tensor, *,
                          mode: str = "drop", generator: torch.Generator | None = None,
                          chunk_size: int = DEFAULT_CHUNK, return_hidden: bool = False) -> CompletionOutput:
    """Log-probs (N, T) of the completion with the vision evidence hidden (``mode`` in VISUAL_PROBES)."""
    return VISUAL_PROBES.get(mode)(model, inputs, completion_ids, completion_mask, generator=generator,
                                   chunk_size=chunk_size, return_hidden=return_hidden)


# --------------------------------------------------------------------------------------------- temporal probes
@torch.no_grad()
def temporal_probe_logprobs(model, permuted_inputs: dict, completion_ids: Tensor, completion_mask: Tensor, *,
                            chunk_size: int = DEFAULT_CHUNK, return_hidden: bool = False) -> CompletionOutput:
    """Reference temporal probe: prompts re-encoded from permuted frames (same layout), same completion."""
    return run_completion(model, full_sequence_inputs(model, permuted_inputs, completion_ids, completion_mask),
                          completion_ids, completion_mask, with_entropy=False, chunk_size=chunk_size,
                          return_hidden=return_hidden)


def _vision_outputs(model, inputs: dict) -> dict:
    """Run only the vision tower once: {"image"|"video": encoder outputs} (used when the policy did not cache them)."""
    out = {}
    if inputs.get("pixel_values") is not None:
        out["image"] = model.model.get_image_features(inputs["pixel_values"], inputs["image_grid_thw"],
                                                      return_dict=True)
    if inputs.get("pixel_values_videos") is not None:
        out["video"] = model.model.get_video_features(inputs["pixel_values_videos"], inputs["video_grid_thw"],
                                                      return_dict=True)
    return out


def supports_cached_vision(model) -> bool:
    """Whether ``model.model`` takes precomputed vision features (``mm_encoder_outputs``, transformers >= 5.21)."""
    return "mm_encoder_outputs" in inspect.signature(model.model.forward).parameters


@torch.no_grad()
def fast_temporal_probe(model, inputs: dict, completion_ids: Tensor, completion_mask: Tensor, *,
                        generator: torch.Generator | None = None, orders: list[list[int]] | None = None,
                        vision: dict | None = None, mode: str = "shuffle", segment: int = 4,
                        chunk_size: int = DEFAULT_CHUNK,
                        return_hidden: bool = False) -> tuple[CompletionOutput, list[list[int]]]:
    """Fast temporal probe: permute whole temporal patches of the cached vision features, language model only.

    vision: ``CompletionOutput.vision`` of the policy forward (``return_vision=True``); None re-runs the vision
    tower once. orders: one temporal-patch order per video item of ``inputs`` (row-major, so the G rows of a group
    should carry their video's one order — see ``trainer.scoring``); without it, one order per item is drawn from
    ``generator`` with ``mode`` (a PERMUTATIONS name; ``segment`` counts frames). Returns (output, per-video patch
    orders). Images are left as they are; a batch without video runs the unpermuted pass (ranks in lockstep).
    """
    if not supports_cached_vision(model):
        import transformers

        raise RuntimeError(f"ktr.temporal_fast needs transformers >= 5.21 (model.model must accept "
                           f"mm_encoder_outputs); this is transformers {transformers.__version__}, which would "
                           f"silently ignore the permuted features. Set ktr.temporal_fast=false (re-encodes frames)")
    vision = dict(vision) if vision is not None else _vision_outputs(model, inputs)
    tps = int(getattr(model.config.vision_config, "temporal_patch_size", 2))
    merge = int(model.config.vision_config.spatial_merge_size)
    if "video" not in vision:
        orders = []
    elif orders is None:
        if generator is None:
            raise ValueError("fast temporal probe: pass the patch orders or a seeded torch.Generator")
        fn = PERMUTATIONS.get(mode)
        orders = [fn(int(t), generator, segment=max(1, segment // tps))
                  for t in inputs["video_grid_thw"][:, 0].tolist()]
    kw = full_sequence_inputs(model, inputs, completion_ids, completion_mask)
    kw = {k: x for k, x in kw.items() if k not in ("pixel_values", "pixel_values_videos")}
    kw["mm_encoder_outputs"] = vision
    if "video" not in vision:
        return run_completion(model, kw, completion_ids, completion_mask, with_entropy=False, chunk_size=chunk_size,
                              return_hidden=return_hidden), orders
    grid = inputs["video_grid_thw"]
    if len(orders) != grid.shape[0]:
        raise ValueError(f"fast temporal probe: {len(orders)} orders for {grid.shape[0]} video items")
    v = vision["video"]
    v = type(v)(**{k: x for k, x in v.items()})
    v.pooler_output = permute_temporal_patches(tuple(v.pooler_output), grid, orders, merge)
    if getattr(v, "deepstack_features", None) is not None:
        v.deepstack_features = [permute_temporal_patches(tuple(f), grid, orders, merge) for f in v.deepstack_features]
    vision["video"] = v
    out = run_completion(model, kw, completion_ids, completion_mask, with_entropy=False, chunk_size=chunk_size,
                         return_hidden=return_hidden)
    return out, orders


def patch_orders_to_frame_orders(orders: list[list[int]], temporal_patch_size: int = 2) -> list[list[int]]:
    """Frame orders equivalent to temporal-patch orders (each patch = ``temporal_patch_size`` consecutive frames)."""
    return [[p * temporal_patch_size + j for p in o for j in range(temporal_patch_size)] for o in orders]
