"""Records + decoded media → the processor's model inputs, left-padded for generation (mixed image/video batches).

The frames are already sampled and resized to multiples of the patch multiple (``load_media``), so the processor
is told not to resize (``do_resize=False``) or re-sample (``do_sample_frames=False``): the vision grid is exactly
``frames H, W / patch_size``. ``frame_orders`` re-processes the same frames in another order (KTR temporal probe):
only the pixels move; the frame timestamps and therefore the token layout stay identical. Temporal patches get
M-RoPE times from the real sampling rate (``video_time="absolute"``) or 1.0 s apart (``"reference"``, as the
reference code, which never passes the fps to the processor), per the budget the media was loaded with.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from video_ktr.data.media import Media
from video_ktr.data.prompts import build_messages


def _check_batch(records: Sequence, media: Sequence[Media], frame_orders: Sequence | None) -> None:
    if len(records) != len(media):
        raise ValueError(f"got {len(records)} records but {len(media)} media; pass one Media per record")
    if frame_orders is not None and len(frame_orders) != len(records):
        raise ValueError(f"frame_orders has {len(frame_orders)} entries for {len(records)} records; use None for "
                         f"records to keep in order")
    for r, m in zip(records, media):
        if r.data_type != m.kind:
            raise ValueError(f"record {r.problem_id} is a {r.data_type} but its media is a {m.kind} ({m.path})")


def reorder_frames(frames: np.ndarray, order: Sequence[int] | None) -> np.ndarray:
    """frames (F, H, W, 3) taken in ``order`` (a permutation of range(F)); None keeps them as they are."""
    if order is None:
        return frames
    order = [int(i) for i in order]
    if sorted(order) != list(range(len(frames))):
        raise ValueError(f"frame order {order} is not a permutation of range({len(frames)}); the temporal probe "
                         f"must keep the frame count so the token layout does not change")
    return frames[order]                                             # (F, H, W, 3)


def encode_prompts(processor, records: Sequence, media: Sequence[Media], *, template: str = "reasoning",
                   frame_orders: Sequence[Sequence[int] | None] | None = None, return_tensors: str = "pt") -> dict:
    """Chat-template ``records`` (with their ``media``) and run the processor; left padding, generation prompt added.

    Returns the processor's tensors: ``input_ids``, ``attention_mask`` (B, L), and as present ``pixel_values`` +
    ``image_grid_thw``, ``pixel_values_videos`` + ``video_grid_thw``, ``second_per_grid_ts``, ``mm_token_type_ids``.
    frame_orders: per record an optional permutation of its video frames (None = as sampled; ignored for images).
    """
    _check_batch(records, media, frame_orders)
    orders = frame_orders if frame_orders is not None else [None] * len(records)
    texts = [processor.apply_chat_template(build_messages(r, template), tokenize=False, add_generation_prompt=True)
             for r in records]
    images = [m.frames[0] for m in media if m.kind == "image"]                         # each (H, W, 3)
    videos = [reorder_frames(m.frames, o) for m, o in zip(media, orders) if m.kind == "video"]  # each (F, H, W, 3)
    kwargs: dict = {"text": texts, "padding": True, "padding_side": "left", "return_tensors": return_tensors,
                    "do_resize": False}
    if images:
        kwargs["images"] = images
    if videos:
        kwargs["videos"] = videos
        kwargs["video_metadata"] = [m.metadata() for m in media if m.kind == "video"]
        kwargs["do_sample_frames"] = False
    out = dict(processor(**kwargs))
    _check_grids(out, processor, media)
    vids = [m for m in media if m.kind == "video"]
    if any(m.video_time == "reference" for m in vids) and "second_per_grid_ts" in out:
        # reference: the processor never sees the fps, so every temporal patch is 1.0 s apart
        ts = out["second_per_grid_ts"]
        ts = ts.clone() if hasattr(ts, "clone") else list(ts)
        for i, m in enumerate(vids):
            if m.video_time == "reference":
                ts[i] = 1.0
        out["second_per_grid_ts"] = ts
    return out


def _check_grids(out, processor, media: Sequence[Media]) -> None:
    """The processor must keep our frame size: grid (t, h, w) == (F / temporal_patch, H / patch, W / patch)."""
    for kind, key in (("image", "image_grid_thw"), ("video", "video_grid_thw")):
        items = [m for m in media if m.kind == kind]
        if not items:
            continue
        proc = processor.image_processor if kind == "image" else processor.video_processor
        p, tp = int(proc.patch_size), int(getattr(proc, "temporal_patch_size", 1) or 1)
        for m, thw in zip(items, out[key].tolist()):
            f, h, w = m.frames.shape[:3]
            want = [-(-f // tp) if kind == "video" else 1, h // p, w // p]
            assert thw == want, (f"processor resized {m.path}: grid {thw}, expected {want} from frames "
                                 f"{f}x{h}x{w}; frames must be sized with patch_multiple(processor)")
