"""Frame and pixel budgets: which frames to sample and what size to resize them to (pure functions, no decoding).

Semantics follow Qwen's reference ``qwen-vl-utils`` (``smart_resize``, ``smart_nframes``), written out explicitly:
* frames: ``nframes`` (fixed count) wins over ``fps``; otherwise ``duration * fps`` clamped to
  ``[min_frames, max_frames]`` and to the clip length; always an even count (Qwen pairs frames into temporal
  patches); indices are a uniform linspace over the clip (or over ``[video_start, video_end]`` seconds).
* pixels: sides rounded to the model's patch multiple (``patch_size * merge_size``: 28 for Qwen2/2.5-VL, 32 for
  Qwen3-VL), aspect kept, area within ``[min_pixels, max_pixels]``. ``total_pixels`` spreads one budget over all
  frames: each frame gets at most ``total_pixels * 2 / num_frames`` (two frames share one temporal patch).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

import numpy as np

FRAME_FACTOR = 2  # frames per temporal patch: frame counts are kept even
MAX_ASPECT = 200  # Qwen's vision tower refuses more extreme aspect ratios
MAX_SOURCE_PIXELS = 50_000_000  # images / video frames larger than this are refused before decoding (memory bound)
# Per-record keys (in a row's extra fields) that override the run's budget; "max_pixels"/"min_pixels" apply to the
# record's own kind (video_* or image_*).
RECORD_OVERRIDES = ("fps", "nframes", "min_frames", "max_frames", "total_pixels", "video_start", "video_end",
                    "min_pixels", "max_pixels")


VIDEO_TIMES = ("absolute", "reference")


@dataclass
class MediaBudget:
    """How many frames and pixels one sample may cost. Defaults = the reference training budget (METHOD §2).

    Every field is overridable per run (constructor / config) and per record (row keys in ``RECORD_OVERRIDES``).
    ``as_dict()`` is what runs write into their config dump.
    """

    fps: float | None = 2.0                 # frames sampled per second of video (ignored when nframes is set)
    nframes: int | None = None              # fixed frame count (rounded to even); wins over fps
    min_frames: int = 4                     # lower bound on the fps-derived count
    max_frames: int = 16                    # upper bound on the fps-derived count
    video_max_pixels: int = 128 * 28 * 28   # per-frame area cap (pixels); 128 tokens/frame-pair at patch 28
    video_min_pixels: int = 4 * 28 * 28     # per-frame area floor (small clips are upscaled to this)
    total_pixels: int | None = None         # optional budget over all frames of a clip (pixels)
    image_max_pixels: int = 256 * 28 * 28   # image area cap (pixels)
    image_min_pixels: int = 4 * 28 * 28     # image area floor (pixels)
    video_start: float | None = None        # seconds; sample only from here ...
    video_end: float | None = None          # ... to here (None = clip end)
    video_time: str = "absolute"            # M-RoPE time of temporal patches: "absolute" (real seconds between
                                            # sampled frames) | "reference" (1.0 s per patch whatever the fps: the
                                            # reference never passes fps to the processor, second_per_grid_ts = 1)

    def __post_init__(self):
        if self.nframes is None and (self.fps is None or self.fps <= 0):
            raise ValueError(f"budget fps={self.fps} must be > 0 when nframes is not set; set fps or nframes")
        if self.nframes is not None and self.nframes < 1:
            raise ValueError(f"budget nframes={self.nframes} must be >= 1 (it is rounded to an even count >= 2)")
        if not 1 <= self.min_frames <= self.max_frames:
            raise ValueError(f"budget needs 1 <= min_frames <= max_frames, got {self.min_frames}, {self.max_frames}")
        for kind in ("video", "image"):
            lo, hi = getattr(self, f"{kind}_min_pixels"), getattr(self, f"{kind}_max_pixels")
            if not 0 < lo <= hi:
                raise ValueError(f"budget needs 0 < {kind}_min_pixels <= {kind}_max_pixels, got {lo}, {hi}")
        if self.video_time not in VIDEO_TIMES:
            raise ValueError(f"budget video_time={self.video_time!r} must be one of {VIDEO_TIMES}")
        if self.total_pixels is not None and self.total_pixels <= 0:
            raise ValueError(f"budget total_pixels={self.total_pixels} must be > 0 or None")
        if (self.video_start is not None and self.video_end is not None and self.video_end <= self.video_start):
            raise ValueError(f"budget video_end={self.video_end} must be after video_start={self.video_start}")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "MediaBudget":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise KeyError(f"unknown media budget keys {unknown}; known: {sorted(known)}")
        return cls(**d)

    def for_record(self, extra: dict[str, Any], kind: str) -> "MediaBudget":
        """This budget with the record's own overrides applied (row keys ``nframes``, ``fps``, ``max_pixels`` …).

        Overrides may lower the run's caps, never raise them: frame counts are clamped to the run's largest frame
        count (``max(max_frames, nframes)``), pixel areas to the run's ``*_max_pixels`` and ``total_pixels``. A
        non-numeric, non-finite or negative value raises ``ValueError`` naming the key.
        """
        changes, _ = self._overrides(extra, kind)
        return replace(self, **changes) if changes else self

    def clamped(self, extra: dict[str, Any], kind: str) -> list[str]:
        """``["nframes=100000 -> 16", ...]``: the record's overrides that ``for_record`` lowers to the run's caps."""
        return self._overrides(extra, kind)[1]

    def _overrides(self, extra: dict[str, Any], kind: str) -> tuple[dict[str, Any], list[str]]:
        changes, clamped = {}, []
        frame_cap = max(self.max_frames, self.nframes or 0)
        caps = {"nframes": frame_cap, "min_frames": frame_cap, "max_frames": frame_cap,
                "min_pixels": getattr(self, f"{kind}_max_pixels"), "max_pixels": getattr(self, f"{kind}_max_pixels"),
                "total_pixels": self.total_pixels}
        for key in RECORD_OVERRIDES:
            if extra.get(key) is None:
                continue
            value = extra[key]
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value) \
                    or value < 0 or (value == 0 and key not in ("video_start",)):
                raise ValueError(f"per-record {key}={value!r} must be a positive number"
                                 + (" (seconds, >= 0)" if key == "video_start" else ""))
            if key in ("nframes", "min_frames", "max_frames"):
                value = max(1, int(round(value)))
            if key in ("min_pixels", "max_pixels", "total_pixels"):
                value = int(value)
            if caps.get(key) is not None and value > caps[key]:
                clamped.append(f"{key}={extra[key]!r} -> {caps[key]}")
                value = caps[key]
            name = f"{kind}_{key}" if key in ("min_pixels", "max_pixels") else key
            changes[name] = value
        if "min_frames" in changes and "max_frames" not in changes:
            changes["max_frames"] = max(self.max_frames, changes["min_frames"])
        if "max_frames" in changes and "min_frames" not in changes:
            changes["min_frames"] = min(self.min_frames, changes["max_frames"])
        lo, hi = f"{kind}_min_pixels", f"{kind}_max_pixels"
        if hi in changes and lo not in changes:  # a record's own cap below the run's floor lowers the floor
            changes[lo] = min(getattr(self, lo), changes[hi])
        if lo in changes and hi not in changes:
            changes[hi] = max(getattr(self, hi), changes[lo])
        if "fps" in changes and "nframes" not in changes:
            changes["nframes"] = None  # a record asking for an fps means "sample by fps", even if the run fixes nframes
        return changes, clamped


def round_by(x: float, factor: int) -> int:
    return round(x / factor) * factor


def ceil_by(x: float, factor: int) -> int:
    return math.ceil(x / factor) * factor


def floor_by(x: float, factor: int) -> int:
    return math.floor(x / factor) * factor


def smart_resize(height: int, width: int, factor: int, min_pixels: int, max_pixels: int) -> tuple[int, int]:
    """(height, width) rounded to multiples of ``factor``, aspect kept, area in [min_pixels, max_pixels].

    Same rule as Qwen's ``smart_resize``: round each side; if the area is too large scale down (floor), if too small
    scale up (ceil). Sides never go below one ``factor``.
    """
    if height <= 0 or width <= 0:
        raise ValueError(f"image size {width}x{height} must be positive")
    if max(height, width) / min(height, width) > MAX_ASPECT:
        raise ValueError(f"aspect ratio of {width}x{height} exceeds {MAX_ASPECT}; crop the media first")
    h_bar = max(factor, round_by(height, factor))
    w_bar = max(factor, round_by(width, factor))
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt(height * width / max_pixels)
        h_bar = max(factor, floor_by(height / beta, factor))
        w_bar = max(factor, floor_by(width / beta, factor))
    elif h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h_bar = ceil_by(height * beta, factor)
        w_bar = ceil_by(width * beta, factor)
    return h_bar, w_bar


def video_frame_size(height: int, width: int, num_frames: int, budget: MediaBudget, factor: int) -> tuple[int, int]:
    """Target (height, width) of every frame of a clip of ``num_frames`` sampled frames."""
    max_pixels = budget.video_max_pixels
    if budget.total_pixels is not None:
        share = budget.total_pixels * FRAME_FACTOR / max(num_frames, 1)
        max_pixels = max(min(max_pixels, int(share)), budget.video_min_pixels)
    return smart_resize(height, width, factor, min(budget.video_min_pixels, max_pixels), max_pixels)


def image_size(height: int, width: int, budget: MediaBudget, factor: int) -> tuple[int, int]:
    return smart_resize(height, width, factor, budget.image_min_pixels, budget.image_max_pixels)


def num_sampled_frames(span_frames: int, native_fps: float, budget: MediaBudget) -> int:
    """How many frames to take from a span of ``span_frames`` frames at ``native_fps`` (even, >= 2)."""
    if span_frames < 1:
        raise ValueError(f"cannot sample from a clip with {span_frames} frames")
    if budget.nframes is not None:
        n = max(FRAME_FACTOR, round_by(budget.nframes, FRAME_FACTOR))
    else:
        lo = ceil_by(budget.min_frames, FRAME_FACTOR)
        hi = floor_by(min(budget.max_frames, span_frames), FRAME_FACTOR)
        want = span_frames / native_fps * budget.fps
        n = floor_by(min(max(want, lo), hi), FRAME_FACTOR) if hi >= lo else hi
        n = max(FRAME_FACTOR, n)
    return n


def frame_span(total_frames: int, native_fps: float, budget: MediaBudget) -> tuple[int, int]:
    """First and last frame index (inclusive) of the span to sample: the clip, or [video_start, video_end] s."""
    if native_fps <= 0:
        raise ValueError(f"native fps {native_fps} must be > 0")
    start = 0 if budget.video_start is None else max(0, math.ceil(budget.video_start * native_fps))
    end = total_frames - 1 if budget.video_end is None else min(total_frames - 1, int(budget.video_end * native_fps))
    if end < start:
        raise ValueError(f"video_start={budget.video_start}s/video_end={budget.video_end}s select no frames of a "
                         f"{total_frames}-frame clip at {native_fps:g} fps")
    return start, end


def sample_frame_indices(total_frames: int, native_fps: float, budget: MediaBudget) -> list[int]:
    """Indices (ascending, into the decoded clip) of the frames to keep: a uniform linspace over the span.

    The span is the whole clip, or ``[video_start, video_end]`` seconds. A clip shorter than the even frame count
    repeats frames (a 1-frame clip gives [0, 0]); it never fails silently on a 0-frame clip.
    """
    start, end = frame_span(total_frames, native_fps, budget)
    n = num_sampled_frames(end - start + 1, native_fps, budget)
    return np.linspace(start, end, n).round().astype(int).tolist()
