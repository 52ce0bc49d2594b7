"""Values passed from the rollout stage onwards: the prompt batch, the sampled completions, and the helpers that
turn one prompt's processor tensors into G rows (images/videos repeated with their rows)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

ROW_KEYS = ("input_ids", "attention_mask", "mm_token_type_ids", "token_type_ids", "position_ids")
MEDIA_KEYS = {  # per-media-item tensors: (pixels key, grid key, extra per-item keys)
    "image": ("pixel_values", "image_grid_thw", ()),
    "video": ("pixel_values_videos", "video_grid_thw", ("second_per_grid_ts",)),
}


@dataclass
class PromptBatch:
    """B prompts: their records (video_ktr.data.Record), decoded media and left-padded processor tensors."""

    records: list[Any]
    media: list[Any]
    inputs: dict[str, Tensor]             # input_ids (B, L) … as encode_prompts returns them
    texts: list[str] = field(default_factory=list)  # chat-templated prompt strings (vLLM engine)
    frame_orders: list | None = None      # per prompt the frame permutation encode_prompts applied (None = as sampled)

    def __len__(self) -> int:
        return len(self.records)


@dataclass
class Rollout:
    """N = B*G completions, prompt-major (rows g*G … g*G+G-1 belong to prompt g)."""

    inputs: dict[str, Tensor]             # prompt tensors repeated per row: input_ids (N, L), pixels per row
    completion_ids: Tensor                # (N, T) sampled ids, pad after EOS
    completion_mask: Tensor               # (N, T) bool, True up to and including the first EOS
    is_truncated: Tensor                  # (N,) bool, no EOS within max_new_tokens
    texts: list[str]                      # decoded completions (special tokens dropped)
    group_size: int

    def validate(self) -> None:
        n, t = self.completion_ids.shape
        assert self.completion_mask.shape == (n, t), f"mask {tuple(self.completion_mask.shape)} vs ids {(n, t)}"
        assert self.inputs["input_ids"].shape[0] == n, f"inputs have {self.inputs['input_ids'].shape[0]} rows, N={n}"
        assert n % self.group_size == 0 and len(self.texts) == n, f"N={n}, G={self.group_size}, texts={len(self.texts)}"

    @property
    def lengths(self) -> Tensor:
        return self.completion_mask.sum(dim=1)  # (N,)


def media_per_row(input_ids: Tensor, start_id: int, pad_id: int) -> Tensor:
    """(R,) number of media items of one kind per row: count `<|vision_start|>` directly followed by `pad_id`."""
    hits = (input_ids[:, :-1] == start_id) & (input_ids[:, 1:] == pad_id)  # (R, L-1)
    return hits.sum(dim=1)


def repeat_rows(inputs: dict[str, Tensor], repeats: int, model_config) -> dict[str, Tensor]:
    """Repeat every prompt row ``repeats`` times (prompt-major), carrying each row's pixels and grids with it."""
    ids = inputs["input_ids"]
    out: dict[str, Tensor] = {}
    for k, v in inputs.items():
        if k in ROW_KEYS:
            out[k] = v.repeat_interleave(repeats, dim=0)                 # (R*repeats, L)
    ids_cfg = {"image": model_config.image_token_id, "video": model_config.video_token_id}
    for kind, (pix_key, grid_key, extra_keys) in MEDIA_KEYS.items():
        if grid_key not in inputs:
            continue
        grid = inputs[grid_key]                                           # (M, 3)
        counts = media_per_row(ids, model_config.vision_start_token_id, ids_cfg[kind]).tolist()
        assert sum(counts) == grid.shape[0], f"{kind}: rows hold {sum(counts)} items, grid has {grid.shape[0]}"
        per_item = grid.prod(dim=1).tolist()                              # patches per item
        chunks = list(inputs[pix_key].split(per_item))
        items, pos = [], 0
        for c in counts:                                                  # item indices of each row
            items.append(list(range(pos, pos + c)))
            pos += c
        order = [i for row in items for _ in range(repeats) for i in row]
        out[pix_key] = torch.cat([chunks[i] for i in order]) if order else inputs[pix_key][:0]
        out[grid_key] = grid[order]
        for ek in extra_keys:
            if ek in inputs:
                out[ek] = inputs[ek][order]
    for k, v in inputs.items():
        out.setdefault(k, v)
    return out


def completion_mask_from_ids(completion_ids: Tensor, eos_ids: list[int]) -> tuple[Tensor, Tensor]:
    """(mask (N,T) True up to and including the first EOS, is_truncated (N,) True when no EOS)."""
    is_eos = torch.isin(completion_ids, torch.tensor(eos_ids, device=completion_ids.device))  # (N, T)
    has_eos = is_eos.any(dim=1)                                                               # (N,)
    first = torch.where(has_eos, is_eos.int().argmax(dim=1), completion_ids.shape[1])         # (N,)
    pos = torch.arange(completion_ids.shape[1], device=completion_ids.device)                 # (T,)
    mask = pos[None, :] <= first[:, None]                                                     # (N, T)
    return mask, ~has_eos
