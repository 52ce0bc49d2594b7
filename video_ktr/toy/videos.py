"""Drawing and writing synthetic clips: coloured squares on a dark background, encoded to real H.264 mp4 with PyAV.

Frames are ``uint8`` arrays ``(F, H, W, 3)``; the tests decode the written files and compare pixels to what was drawn.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

BACKGROUND = (16, 16, 16)
# Saturated, well-separated colours: they survive H.264 (yuv420p) compression with a wide margin.
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (230, 30, 30),
    "green": (30, 200, 30),
    "blue": (30, 60, 230),
    "yellow": (235, 220, 30),
    "white": (240, 240, 240),
    "magenta": (220, 40, 220),
}


def blank_frames(num_frames: int, size: int) -> np.ndarray:
    """(F, H, W, 3) uint8 frames filled with the background colour."""
    frames = np.empty((num_frames, size, size, 3), dtype=np.uint8)
    frames[:] = BACKGROUND
    return frames


def draw_square(frame: np.ndarray, colour: str, x: int, y: int, side: int) -> None:
    """Fill a ``side``-pixel square with its top-left corner at (x, y), clipped to the frame. In place."""
    h, w = frame.shape[:2]
    frame[max(y, 0):min(y + side, h), max(x, 0):min(x + side, w)] = COLOURS[colour]


def write_mp4(frames: np.ndarray, path: str | Path, fps: int, *, crf: int = 12, preset: str = "ultrafast",
              tune: str | None = "zerolatency", gop: int | None = None) -> Path:
    """Encode (F, H, W, 3) uint8 RGB frames to an H.264 mp4 (yuv420p) at ``fps``.

    crf / preset / tune: libx264 quality, speed and tuning (tune None = x264's default, B-frames allowed);
    gop: keyframe interval in frames (None = x264's default). Returns ``path``.
    """
    import av

    f, h, w, _ = frames.shape
    if h % 2 or w % 2:
        raise ValueError(f"frame size {w}x{h} must be even for yuv420p")
    options = {"crf": str(crf), "preset": preset} | ({"tune": tune} if tune else {})
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.options = options
        if gop:
            stream.codec_context.gop_size = gop
        for arr in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(arr), format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return Path(path)


def write_png(frame: np.ndarray, path: str | Path) -> None:
    from PIL import Image

    Image.fromarray(frame).save(path)
