"""Decode a record's media into budgeted pixels: videos via a backend registry (PyAV default), images via Pillow.

Only the sampled frames are decoded to RGB and kept: the decoder runs forward over the clip and seeks ahead when
the next wanted frame is far away (sparse sampling of long clips), so memory holds at most the sampled frames.
A missing, corrupt or truncated file raises ``MediaError`` naming the path — there is no fallback video.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from video_ktr.data.budget import (MAX_SOURCE_PIXELS, MediaBudget, frame_span, image_size, sample_frame_indices,
                                   video_frame_size)
from video_ktr.registry import Registry

SEEK_GAP = 48  # seek instead of decoding forward when the next wanted frame is more than this many frames ahead

# A backend reads the clip's (total_frames, native_fps), asks ``choose`` for the indices, and returns only those
# frames: (frames (F, H, W, 3) uint8, indices, native_fps, total_frames). ``size(height, width, num_frames)`` gives
# the target frame size: a backend that can should resize each frame as it is decoded (never hold native frames).
ChooseIndices = Callable[[int, float], list[int]]
FrameSize = Callable[[int, int, int], tuple[int, int]]
VideoBackend = Callable[..., tuple[np.ndarray, list[int], float, int]]
VIDEO_BACKENDS: Registry[VideoBackend] = Registry("video backend")


class MediaError(ValueError):
    """A media file that cannot be used. ``reason``: "missing" | "corrupt" | "invalid" (a per-record override that
    is not a number, a file over the decode limit) — stable keys for skip counts."""

    def __init__(self, message: str, reason: str = "corrupt"):
        super().__init__(message)
        self.reason = reason


class MissingMediaError(MediaError, FileNotFoundError):
    def __init__(self, path: Path):
        super().__init__(f"media file not found: {path}; check the data root (--root / data.root)", "missing")


@dataclass
class Media:
    """Decoded, resized pixels of one record.

    frames: (F, H, W, 3) uint8 for a video, (1, H, W, 3) for an image; H, W are multiples of the patch multiple.
    frame_indices: indices of the frames in the source clip ([0] for an image). native_fps: the clip's frame rate.
    sample_fps: frames kept per second of the sampled span. total_frames: frames in the sampled span (the whole
    clip unless video_start/video_end), so ``len(frame_indices) / total_frames * native_fps == sample_fps``.
    """

    kind: str
    frames: np.ndarray
    frame_indices: list[int]
    native_fps: float
    sample_fps: float
    path: Path
    total_frames: int = 1
    video_time: str = "absolute"  # how encode_prompts gives M-RoPE times to the temporal patches (MediaBudget)

    @property
    def num_frames(self) -> int:
        return int(self.frames.shape[0])

    def frame_change(self) -> float:
        """How much the sampled frames differ: max over frames f of mean |frame_f − frame_0| on the 0–255 scale.
        0 for an image or a one-frame clip; a static clip decoded from a lossy codec gives codec noise (≈ 0.1–0.3
        for the toy H.264 clips), any real change gives far more (≈ 12 for a toy clip whose square turns colour)."""
        if self.kind != "video" or self.num_frames < 2:
            return 0.0
        first = self.frames[0].astype(np.int16)
        return max(float(np.abs(f.astype(np.int16) - first).mean()) for f in self.frames[1:])

    def metadata(self) -> dict:
        """The ``video_metadata`` entry Qwen processors expect for pre-sampled frames."""
        return {"fps": self.native_fps, "total_num_frames": self.total_frames, "frames_indices": self.frame_indices}


# ---------------------------------------------------------------------------------------------------- backends


def check_source_size(path: Path, width: int, height: int, what: str) -> None:
    """Refuse media whose decoded size would exceed ``MAX_SOURCE_PIXELS`` (checked from the header, before decoding)."""
    if width * height > MAX_SOURCE_PIXELS:
        raise MediaError(f"{path}: {what} is {width}x{height} = {width * height / 1e6:.0f} M pixels, over the decode "
                         f"limit of {MAX_SOURCE_PIXELS / 1e6:.0f} M (data/budget.py MAX_SOURCE_PIXELS); downscale it "
                         f"first", "invalid")


def _shrinker(stream_h: int, stream_w: int, target: tuple[int, int] | None):
    """``frame -> (H, W, 3) uint8`` at the target size: FFmpeg's area filter first when the source is more than twice
    the target per side (the native frame is never held), then the same bicubic resize as ``resize_frames``."""
    from PIL import Image

    def shrink(frame) -> np.ndarray:
        if target is None:
            return frame.to_ndarray(format="rgb24")
        h, w = target
        if stream_h > 2 * h and stream_w > 2 * w:
            rgb = frame.reformat(width=2 * w, height=2 * h, format="rgb24", interpolation="AREA").to_ndarray()
        else:
            rgb = frame.to_ndarray(format="rgb24")
        if rgb.shape[:2] == (h, w):
            return rgb
        return np.asarray(Image.fromarray(rgb).resize((w, h), Image.BICUBIC))

    return shrink


@VIDEO_BACKENDS.register("pyav")
def decode_pyav(path: Path, choose: ChooseIndices, size: FrameSize | None = None,
                ) -> tuple[np.ndarray, list[int], float, int]:
    """PyAV (FFmpeg) decoding of only the chosen frames, each resized to ``size`` as it is decoded; seeks forward
    over long gaps."""
    import av

    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise MediaError(f"{path}: no video stream", "corrupt")
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            rate = stream.average_rate or stream.guessed_rate or stream.base_rate
            if not rate:
                raise MediaError(f"{path}: frame rate unknown", "corrupt")
            fps = float(rate)
            height, width = stream.codec_context.height, stream.codec_context.width
            check_source_size(path, width, height, "a video frame")
            total = stream.frames or _count_frames(container, stream)
            if total < 1:
                raise MediaError(f"{path}: no frames", "corrupt")
            indices = choose(total, fps)
            target = size(height, width, len(indices)) if size is not None and height and width else None
            frames = _decode_indices(container, stream, sorted(set(indices)), fps, path,
                                     _shrinker(height, width, target))
    except MediaError:
        raise
    except (av.FFmpegError, OSError, EOFError, ValueError) as e:
        raise MediaError(f"{path}: cannot decode video ({type(e).__name__}: {e})", "corrupt") from e
    return np.stack([frames[i] for i in indices]), indices, fps, total


def _count_frames(container, stream) -> int:
    """Frame count from the packets (no decoding) when the container header does not store it."""
    n = sum(1 for packet in container.demux(stream) if packet.size)
    container.seek(0, stream=stream)
    return n


def _decode_indices(container, stream, wanted: list[int], fps: float, path: Path, shrink) -> dict[int, np.ndarray]:
    """Decode forward, converting (``shrink``) only the wanted frames; seek when the next wanted frame is > SEEK_GAP
    ahead."""
    start, tb = stream.start_time or 0, stream.time_base
    out: dict[int, np.ndarray] = {}
    pos, frames_iter = -1, container.decode(stream)
    for target in wanted:
        if target - pos > SEEK_GAP:
            container.seek(start + int(target / fps / tb), stream=stream, backward=True)
            frames_iter = container.decode(stream)
        for frame in frames_iter:
            pos = pos + 1 if frame.pts is None else int(round(float((frame.pts - start) * tb) * fps))
            if pos >= target:
                out[target] = shrink(frame)
                break
        else:
            raise MediaError(f"{path}: truncated — the stream ends after frame {pos}, but frame {target} of the "
                             f"{wanted[-1] + 1} needed was not found", "corrupt")
    return out


@VIDEO_BACKENDS.register("torchcodec")
def decode_torchcodec(path: Path, choose: ChooseIndices, size: FrameSize | None = None,
                      ) -> tuple[np.ndarray, list[int], float, int]:
    """Optional: torchcodec (needs FFmpeg shared libraries on the system)."""
    try:
        from torchcodec.decoders import VideoDecoder
    except ImportError as e:
        raise ImportError(f"video backend 'torchcodec' is not usable ({e}); use backend='pyav' or install "
                          f"torchcodec with FFmpeg shared libraries") from e
    try:
        dec = VideoDecoder(str(path))
        fps, total = float(dec.metadata.average_fps), int(dec.metadata.num_frames)
        indices = choose(total, fps)
        frames = dec.get_frames_at(indices=indices).data.permute(0, 2, 3, 1).numpy()  # (F,C,H,W) -> (F,H,W,C)
    except (RuntimeError, ValueError) as e:
        raise MediaError(f"{path}: cannot decode video ({e})", "corrupt") from e
    return frames, indices, fps, total


@VIDEO_BACKENDS.register("decord")
def decode_decord(path: Path, choose: ChooseIndices, size: FrameSize | None = None,
                  ) -> tuple[np.ndarray, list[int], float, int]:
    """Optional: decord (unmaintained, kept for parity with the reference code)."""
    try:
        import decord
    except ImportError as e:
        raise ImportError(f"video backend 'decord' is not installed ({e}); use backend='pyav'") from e
    try:
        vr = decord.VideoReader(str(path))
        fps, total = float(vr.get_avg_fps()), len(vr)
        indices = choose(total, fps)
        frames = vr.get_batch(indices).asnumpy()
    except (RuntimeError, decord.DECORDError) as e:
        raise MediaError(f"{path}: cannot decode video ({e})", "corrupt") from e
    return frames, indices, fps, total


# ---------------------------------------------------------------------------------------------------- loading


def resize_frames(frames: np.ndarray, height: int, width: int) -> np.ndarray:
    """(F, h, w, 3) uint8 → (F, height, width, 3) uint8, bicubic (as Qwen's processors), no-op if already sized."""
    from PIL import Image

    if frames.shape[1:3] == (height, width):
        return np.ascontiguousarray(frames)
    return np.stack([np.asarray(Image.fromarray(f).resize((width, height), Image.BICUBIC)) for f in frames])


def load_video(path: str | Path, budget: MediaBudget, patch_multiple: int, backend: str = "pyav") -> Media:
    """Sample and resize one clip under ``budget`` (see ``budget.py`` for the rules)."""
    path = Path(path)
    if not path.is_file():
        raise MissingMediaError(path)
    decode = VIDEO_BACKENDS.get(backend)
    span: dict = {}

    def choose(total: int, fps: float) -> list[int]:
        start, end = frame_span(total, fps, budget)
        span["frames"] = end - start + 1
        return sample_frame_indices(total, fps, budget)

    def size(height: int, width: int, num_frames: int) -> tuple[int, int]:
        span["size"] = video_frame_size(height, width, num_frames, budget, patch_multiple)
        return span["size"]

    frames, indices, fps, _ = decode(path, choose, size)
    h, w = span.get("size") or video_frame_size(frames.shape[1], frames.shape[2], len(indices), budget,
                                                 patch_multiple)
    num_span = span["frames"]
    return Media(kind="video", frames=resize_frames(frames, h, w), frame_indices=list(map(int, indices)),
                 native_fps=fps, sample_fps=len(indices) / num_span * fps, path=path, total_frames=num_span,
                 video_time=budget.video_time)


def load_image(path: str | Path, budget: MediaBudget, patch_multiple: int) -> Media:
    """Open one image with Pillow (RGB) and resize it under the image budget."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise MissingMediaError(path)
    try:
        with warnings.catch_warnings():                             # over Pillow's warning size: refused below
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(path)                                  # reads the header only
        with img:
            check_source_size(path, img.width, img.height, "the image")
            h, w = image_size(img.height, img.width, budget, patch_multiple)
            img.load()
            rgb = to_rgb(img)                                       # (H, W, 3) uint8
    except MediaError:
        raise
    except Image.DecompressionBombError as e:
        raise MediaError(f"{path}: refused by Pillow's decompression-bomb limit ({e})", "invalid") from e
    except ValueError as e:                                         # e.g. an aspect ratio Qwen cannot take
        raise MediaError(f"{path}: {e}", "invalid") from e
    except (UnidentifiedImageError, OSError, SyntaxError) as e:
        raise MediaError(f"{path}: cannot read image ({e})", "corrupt") from e
    return Media(kind="image", frames=resize_frames(rgb[None], h, w), frame_indices=[0], native_fps=0.0,
                 sample_fps=0.0, path=path, total_frames=1)


def to_rgb(img) -> np.ndarray:
    """A Pillow image of any mode as (H, W, 3) uint8. High-bit-depth grey ("I;16*", "I", "F") is scaled to 8 bits
    (Pillow's own ``convert("RGB")`` clips it, turning most 16-bit pixels white)."""
    if img.mode.startswith("I;16") or img.mode == "I":
        grey = np.asarray(img, dtype=np.float64)
        grey = np.clip(grey, 0, 65535) / 257.0 if img.mode.startswith("I;16") or grey.max() > 255 else grey
    elif img.mode == "F":
        grey = np.asarray(img, dtype=np.float64)
        grey = grey * 255.0 if grey.size and np.nanmax(grey) <= 1.0 else grey
    else:
        return np.array(img.convert("RGB"))
    g8 = np.clip(np.nan_to_num(grey), 0, 255).round().astype(np.uint8)   # (H, W)
    return np.repeat(g8[:, :, None], 3, axis=2)


def load_media(record, budget: MediaBudget | None = None, patch_multiple: int = 28, *, backend: str = "pyav") -> Media:
    """Decode ``record.media_path`` under ``budget`` plus the record's own overrides (row keys ``nframes``, ``fps``,
    ``max_pixels`` …). patch_multiple: ``patch_size * merge_size`` of the model (``patch_multiple(processor)``)."""
    try:
        budget = (budget or MediaBudget()).for_record(record.extra, record.data_type)
    except ValueError as e:
        raise MediaError(f"{record.media_path}: {e}", "invalid") from None
    if record.data_type == "video":
        return load_video(record.media_path, budget, patch_multiple, backend)
    return load_image(record.media_path, budget, patch_multiple)


def patch_multiple(processor) -> int:
    """Side multiple the model needs: ``patch_size * merge_size`` of the processor (28 Qwen2.5-VL, 32 Qwen3-VL)."""
    proc = getattr(processor, "video_processor", None) or getattr(processor, "image_processor", processor)
    return int(proc.patch_size) * int(proc.merge_size)
