"""Data stage: Video-R1 records, budgeted media decoding, prompts, and the processor's model inputs.

    report = load_records("train.json", root=None, on_error="raise")      # validated rows (schema.py)
    media = [load_media(r, MediaBudget(), patch_multiple(processor)) for r in report.records]   # media.py
    inputs = encode_prompts(processor, report.records, media, template="reasoning")            # collate.py
"""
from video_ktr.data.budget import MediaBudget, sample_frame_indices, smart_resize
from video_ktr.data.collate import encode_prompts, reorder_frames
from video_ktr.data.media import (VIDEO_BACKENDS, Media, MediaError, MissingMediaError, load_image, load_media,
                                  load_video, patch_multiple)
from video_ktr.data.prompts import PROMPTS, build_messages, build_prompt, prompt_template
from video_ktr.data.schema import PROBLEM_TYPES, LoadReport, Record, RecordError, load_records

__all__ = [
    "PROBLEM_TYPES", "PROMPTS", "prompt_template", "VIDEO_BACKENDS", "LoadReport", "Media", "MediaBudget", "MediaError",
    "MissingMediaError", "Record", "RecordError", "build_messages", "build_prompt", "encode_prompts", "load_image",
    "load_media", "load_records", "load_video", "patch_multiple", "reorder_frames", "sample_frame_indices",
    "smart_resize",
]
