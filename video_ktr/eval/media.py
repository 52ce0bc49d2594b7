"""Media of one eval item: a video file, an image, or a folder of frames (MVBench's ``data_type: "frame"``
rows) read as a video under the same frame/pixel budget."""
from __future__ import annotations

from pathlib import Path

import numpy as np

FRAME_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
FRAME_FOLDER_FPS = 3.0   # frame folders carry no frame rate; fps-based budgets assume this one (nframes ignore it)


def load_frame_folder(folder: str | Path, budget, patch_multiple: int):
    """The sorted image files of ``folder`` as a clip at ``FRAME_FOLDER_FPS``: uniform sampling under ``budget``,
    each frame resized like a decoded video frame. Unreadable frames raise ``MediaError`` ("corrupt")."""
    from PIL import Image, UnidentifiedImageError

    from video_ktr.data.budget import sample_frame_indices, video_frame_size
    from video_ktr.data.media import Media, MediaError, MissingMediaError, resize_frames

    folder = Path(folder)
    if not folder.is_dir():
        raise MissingMediaError(folder)
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in FRAME_SUFFIXES)
    if not files:
        raise MediaError(f"{folder}: a frame folder without image files ({', '.join(FRAME_SUFFIXES)})", "corrupt")
    indices = sample_frame_indices(len(files), FRAME_FOLDER_FPS, budget)
    frames, size = [], None
    for i in indices:
        try:
            with Image.open(files[i]) as img:
                rgb = img.convert("RGB")
                size = size or rgb.size
                frames.append(np.asarray(rgb if rgb.size == size else rgb.resize(size, Image.BICUBIC)))
        except (UnidentifiedImageError, OSError, SyntaxError) as e:
            raise MediaError(f"{files[i]}: cannot read frame ({e})", "corrupt") from e
    stack = np.stack(frames)                                                    # (F, H, W, 3) uint8
    h, w = video_frame_size(stack.shape[1], stack.shape[2], len(indices), budget, patch_multiple)
    return Media(kind="video", frames=resize_frames(stack, h, w), frame_indices=list(map(int, indices)),
                 native_fps=FRAME_FOLDER_FPS, sample_fps=len(indices) / len(files) * FRAME_FOLDER_FPS, path=folder,
                 total_frames=len(files))


def load_item_media(item, record, budget, patch_multiple: int):
    """``video_ktr.data.load_media`` for files; ``load_frame_folder`` for frame-folder items."""
    from video_ktr.data import load_media

    if item.extra.get("frames_dir"):
        return load_frame_folder(item.media_path, budget.for_record({}, "video"), patch_multiple)
    return load_media(record, budget, patch_multiple)
