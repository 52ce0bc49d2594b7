"""Tiny offline models and synthetic video tasks: the embedded default every test and the demo run on."""
from video_ktr.toy.model import FAMILIES, SIZES, build_tiny_vlm
from video_ktr.toy.tasks import TASKS, build_toy_data

__all__ = ["FAMILIES", "SIZES", "TASKS", "build_tiny_vlm", "build_toy_data"]
