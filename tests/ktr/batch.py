"""Test helper: encode a small left-padded batch of video / image prompts for the tiny models, plus completions."""
from __future__ import annotations

import numpy as np
import torch


def frames(num_frames: int, seed: int, size: int = 56) -> np.ndarray:
    """(F, H, W, 3) uint8 random frames."""
    return np.random.default_rng(seed).integers(0, 255, (num_frames, size, size, 3), dtype=np.uint8)


def encode(processor, family: str, media: list[np.ndarray], kinds: list[str], questions: list[str] | None = None,
           frame_orders: list[list[int] | None] | None = None) -> dict:
    """Left-padded processor tensors for one prompt per item; video frames optionally re-ordered before encoding."""
    questions = questions or [f"what happens in clip {i}?" * (1 + i % 2) for i in range(len(media))]
    texts, videos, images, metas = [], [], [], []
    for i, (m, kind, q) in enumerate(zip(media, kinds, questions)):
        msgs = [{"role": "user", "content": [{"type": kind}, {"type": "text", "text": q}]}]
        texts.append(processor.apply_chat_template(msgs, add_generation_prompt=True, tokenize=False))
        if kind == "video":
            order = frame_orders[i] if frame_orders is not None and frame_orders[i] is not None else range(len(m))
            videos.append(m[list(order)])
            metas.append({"fps": 4.0, "total_num_frames": len(m), "frames_indices": list(range(len(m)))})
        else:
            images.append(m[0])
    kw = dict(text=texts, padding=True, padding_side="left", return_tensors="pt")
    if videos:
        kw["videos"] = videos
        if family == "qwen3_vl":
            kw["video_metadata"] = metas
    if images:
        kw["images"] = images
    return dict(processor(**kw))


def completions(n: int, t: int, vocab: int, seed: int, lengths: list[int] | None = None):
    """Random completion ids (N, T) (ordinary tokens only) and a right-padded mask with given lengths."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(10, min(vocab, 900), (n, t), generator=g)
    lengths = lengths or [t - (i % 3) for i in range(n)]
    mask = torch.arange(t)[None, :] < torch.tensor(lengths)[:, None]
    return ids, mask.long()
