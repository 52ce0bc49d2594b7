"""Prompt batches for the trainer: a seeded, resumable walk over the records (epoch permutation + position)."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from video_ktr.data import (MediaBudget, MediaError, build_messages, encode_prompts, load_media, load_records,
                            patch_multiple)
from video_ktr.rollout import PromptBatch


def media_budget(data_cfg) -> MediaBudget:
    return MediaBudget(fps=data_cfg.fps, nframes=data_cfg.nframes, min_frames=data_cfg.min_frames,
                       max_frames=data_cfg.max_frames, video_max_pixels=data_cfg.video_max_pixels,
                       image_max_pixels=data_cfg.image_max_pixels)


@dataclass
class DataPosition:
    """Where the walk over the records stands: checkpointed, so a resumed run sees the same prompts."""

    epoch: int = 0
    index: int = 0           # records already consumed in this epoch


class PromptSource:
    """Yields ``PromptBatch``es of ``batch_size`` records, reshuffled every epoch with ``seed + epoch``."""

    def __init__(self, records, processor, *, batch_size: int, budget: MediaBudget, template: str,
                 seed: int, shuffle: bool = True, on_error: str = "raise", cache_media: bool = False):
        if not records:
            raise ValueError("no training records: check data.train_path")
        self.records, self.processor = list(records), processor
        self.batch_size, self.budget, self.template = batch_size, budget, template
        self.seed, self.shuffle, self.on_error = seed, shuffle, on_error
        self.pos = DataPosition()
        self.patch = patch_multiple(processor)
        self.cache: dict | None = {} if cache_media else None
        self.bad: set[int] = set()       # ids of records whose media failed (on_error=skip): never decoded again
        self.skipped = 0                 # prompts replaced since the last ``pop_skipped()``

    @classmethod
    def from_config(cls, cfg, processor, path: str | None = None):
        report = load_records(path or cfg.data.train_path, cfg.data.root, on_error=cfg.data.on_error,
                              allow_outside_root=cfg.data.allow_outside_root)
        if report.num_skipped:
            print(f"data: skipped {report.num_skipped} bad records: {report.summary()}")
        return cls(report.records, processor, batch_size=cfg.rollout.batch_size, budget=media_budget(cfg.data),
                   template=cfg.data.template, seed=cfg.trainer.seed, shuffle=cfg.data.shuffle,
                   on_error=cfg.data.on_error, cache_media=cfg.data.cache_media)

    def _order(self, epoch: int) -> list[int]:
        if not self.shuffle:
            return list(range(len(self.records)))
        g = torch.Generator().manual_seed(self.seed * 1000 + epoch)
        return torch.randperm(len(self.records), generator=g).tolist()

    def steps_per_epoch(self) -> int:
        return max(1, len(self.records) // self.batch_size)

    def next_records(self, n: int | None = None) -> list:
        """The next ``n`` (default ``batch_size``) records; drops an epoch's remainder, then starts the next epoch."""
        n = self.batch_size if n is None else n
        if self.pos.index + n > len(self.records):
            self.pos = DataPosition(self.pos.epoch + 1, 0)
        order = self._order(self.pos.epoch)
        recs = [self.records[i] for i in order[self.pos.index:self.pos.index + n]]
        self.pos.index += n
        return recs

    def encode(self, records, frame_orders=None, media=None) -> PromptBatch:
        media = media or [self._media(r) for r in records]
        inputs = encode_prompts(self.processor, records, media, template=self.template, frame_orders=frame_orders)
        texts = [self.processor.apply_chat_template(build_messages(r, self.template), tokenize=False,
                                                    add_generation_prompt=True) for r in records]
        return PromptBatch(records, media, inputs, texts, frame_orders)

    def _media(self, record):
        if self.cache is None:
            return load_media(record, self.budget, self.patch)
        key = str(record.media_path)
        if key not in self.cache:
            self.cache[key] = load_media(record, self.budget, self.patch)
        return self.cache[key]

    def next_batch(self, n: int | None = None) -> PromptBatch:
        """The next ``n`` (default ``batch_size``) prompts whose media decode. A bad media file raises naming the
        data file, row, problem_id and path (``on_error: raise``), or is replaced by the next record of the
        stream and counted (``on_error: skip``; see ``pop_skipped``)."""
        n = self.batch_size if n is None else n
        records, media = [], []
        while len(records) < n:
            if len(self.bad) >= len(self.records):
                raise MediaError(f"every record's media failed to load ({len(self.bad)} records); see the "
                                 f"errors above or run `video-ktr data check`", "corrupt")
            for r in self.next_records(n - len(records)):
                m = self._media_or_skip(r)
                if m is not None:
                    records.append(r)
                    media.append(m)
        return self.encode(records, media=media)

    def _media_or_skip(self, record):
        if id(record) in self.bad:
            self.skipped += 1
            return None
        try:
            return self._media(record)
        except MediaError as e:
            if self.on_error == "raise":
                raise MediaError(f"{record.where}: {e} (data.on_error: skip replaces such prompts)",
                                 e.reason) from e
            self.bad.add(id(record))
            self.skipped += 1
            print(f"data: skipping {record.where}: {e}")
            return None

    def pop_skipped(self) -> int:
        """Prompts replaced because of bad media since the last call (the trainer logs it as data/skipped_media)."""
        n, self.skipped = self.skipped, 0
        return n

    def state_dict(self) -> dict:
        return {"epoch": self.pos.epoch, "index": self.pos.index}

    def load_state_dict(self, state: dict) -> None:
        self.pos = DataPosition(int(state["epoch"]), int(state["index"]))
