"""Prompt batches for the trainer: a seeded, resumable walk over the records (epoch permutation + position).

On N processes every rank walks the *same* per-epoch order: an optimizer step consumes one global slice of
``num_processes × grad_accum × batch_size`` records, rank r keeps its own ``grad_accum × batch_size`` of it (rank-major:
rank r's micro-batch a is the global micro-batch ``r·grad_accum + a``, so 1 process × grad_accum 2 sees what
2 processes × grad_accum 1 see). The position (epoch, index) is the same on every rank; extra records (DAPO refills)
are taken from the same order with counts agreed by all ranks (:meth:`PromptSource.take_shared`). The media of the
rank's next step are decoded in a background thread while the current step computes.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import torch

from video_ktr.data import (MediaBudget, MediaError, build_messages, encode_prompts, load_media, load_records,
                            patch_multiple)
from video_ktr.rollout import PromptBatch


def media_budget(data_cfg) -> MediaBudget:
    return MediaBudget(fps=data_cfg.fps, nframes=data_cfg.nframes, min_frames=data_cfg.min_frames,
                       max_frames=data_cfg.max_frames, video_max_pixels=data_cfg.video_max_pixels,
                       video_min_pixels=data_cfg.video_min_pixels, video_time=data_cfg.video_time,
                       image_max_pixels=data_cfg.image_max_pixels)


def _clamped(budget: MediaBudget, record) -> bool:
    try:
        return bool(budget.clamped(record.extra, record.data_type))
    except ValueError:
        return False  # an invalid override: reported (raise / skip) when the media loads


@dataclass
class DataPosition:
    """Where the walk over the records stands: checkpointed, so a resumed run sees the same prompts."""

    epoch: int = 0
    index: int = 0           # records already consumed in this epoch


class PromptSource:
    """Yields ``PromptBatch``es of ``batch_size`` records, reshuffled every epoch with ``seed + epoch``."""

    def __init__(self, records, processor, *, batch_size: int, budget: MediaBudget, template: str,
                 seed: int, shuffle: bool = True, on_error: str = "raise", cache_media: bool = False,
                 num_processes: int = 1, rank: int = 0, grad_accum: int = 1, prefetch: bool = True):
        if not records:
            raise ValueError("no training records: check data.train_path")
        self.records, self.processor = list(records), processor
        self.batch_size, self.budget, self.template = batch_size, budget, template
        self.seed, self.shuffle, self.on_error = seed, shuffle, on_error
        self.num_processes, self.rank, self.grad_accum = num_processes, rank, grad_accum
        self.pos = DataPosition()
        self.queue: list[list] = []                      # this rank's micro-batches of the current step
        self.patch = patch_multiple(processor)
        self.cache: dict | None = {} if cache_media else None
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="decode") if prefetch else None
        self.pending: dict[int, object] = {}            # id(record) -> Future of its decoded media
        self.bad: set[int] = set()       # ids of records whose media failed (on_error=skip): never decoded again
        self.skipped = 0                 # prompts replaced since the last ``pop_skipped()``
        self.replaced = 0                # replacements drawn on N processes (seeds the next one)

    @classmethod
    def from_config(cls, cfg, processor, path: str | None = None, *, num_processes: int = 1, rank: int = 0,
                    grad_accum: int = 1):
        report = load_records(path or cfg.data.train_path, cfg.data.root, on_error=cfg.data.on_error,
                              allow_outside_root=cfg.data.allow_outside_root)
        if report.num_skipped:
            print(f"data: skipped {report.num_skipped} bad records: {report.summary()}")
        budget = media_budget(cfg.data)
        clamped = [r for r in report.records if _clamped(budget, r)]
        if clamped:
            print(f"data: {len(clamped)} records ask for more frames/pixels than the budget allows and are lowered "
                  f"to its caps (first: {clamped[0].where}); `video-ktr data check` lists them")
        return cls(report.records, processor, batch_size=cfg.rollout.batch_size, budget=budget,
                   template=cfg.data.template, seed=cfg.trainer.seed, shuffle=cfg.data.shuffle,
                   on_error=cfg.data.on_error, cache_media=cfg.data.cache_media, num_processes=num_processes,
                   rank=rank, grad_accum=grad_accum)

    @property
    def global_batch(self) -> int:
        """Records one optimizer step consumes over all ranks: processes × grad_accum × batch_size."""
        return self.num_processes * self.grad_accum * self.batch_size

    def _order(self, epoch: int) -> list[int]:
        if not self.shuffle:
            return list(range(len(self.records)))
        g = torch.Generator().manual_seed(self.seed * 1000 + epoch)
        return torch.randperm(len(self.records), generator=g).tolist()

    def steps_per_epoch(self) -> int:
        """Optimizer steps per epoch (the global batch over all ranks)."""
        if self.global_batch > len(self.records):
            raise ValueError(f"{len(self.records)} training records cannot fill one global batch of "
                             f"{self.global_batch} ({self.num_processes} processes × trainer.grad_accum="
                             f"{self.grad_accum} × rollout.batch_size={self.batch_size})")
        return len(self.records) // self.global_batch

    def _take(self, n: int) -> list[int]:
        """Indices of the next ``n`` records of the shared order (same on every rank); a new epoch when short."""
        if self.pos.index + n > len(self.records):
            self.pos = DataPosition(self.pos.epoch + 1, 0)
        idx = self._order(self.pos.epoch)[self.pos.index:self.pos.index + n]
        self.pos.index += n
        return idx

    def _rank_slice(self, idx: list[int], counts: list[int]) -> list:
        start = sum(counts[:self.rank])
        return [self.records[i] for i in idx[start:start + counts[self.rank]]]

    def next_records(self, n: int | None = None) -> list:
        """One process: the next ``n`` (default ``batch_size``) records of the order."""
        if self.num_processes > 1:
            raise RuntimeError("next_records on several processes: use next_batch / take_shared (agreed counts)")
        return [self.records[i] for i in self._take(self.batch_size if n is None else n)]

    def take_shared(self, counts: list[int]) -> list:
        """Extra records (DAPO refills): rank r gets ``counts[r]`` of the next ``sum(counts)`` of the shared order.
        ``counts`` must be the same list on every rank (all-gathered by the caller)."""
        return self._rank_slice(self._take(sum(counts)), counts)

    def next_micro_records(self) -> list:
        """This rank's next micro-batch of ``batch_size`` records (a new global slice every ``grad_accum`` calls)."""
        if not self.queue:
            per_rank = self.grad_accum * self.batch_size
            mine = self._rank_slice(self._take(self.global_batch), [per_rank] * self.num_processes)
            self.queue = [mine[i:i + self.batch_size] for i in range(0, per_rank, self.batch_size)]
            self._prefetch_next_step()
        return self.queue.pop(0)

    def _prefetch_next_step(self) -> None:
        """Decode the media of this rank's next step in the background thread (same order, no position change)."""
        if self.pool is None:
            return
        epoch, index = self.pos.epoch, self.pos.index
        if index + self.global_batch > len(self.records):
            epoch, index = epoch + 1, 0
        per_rank = self.grad_accum * self.batch_size
        start = index + self.rank * per_rank
        for i in self._order(epoch)[start:start + per_rank]:
            rec = self.records[i]
            if id(rec) not in self.pending and not (self.cache is not None and str(rec.media_path) in self.cache):
                self.pending[id(rec)] = self.pool.submit(load_media, rec, self.budget, self.patch)

    def encode(self, records, frame_orders=None, media=None) -> PromptBatch:
        media = media or [self._media(r) for r in records]
        inputs = encode_prompts(self.processor, records, media, template=self.template, frame_orders=frame_orders)
        texts = [self.processor.apply_chat_template(build_messages(r, self.template), tokenize=False,
                                                    add_generation_prompt=True) for r in records]
        return PromptBatch(records, media, inputs, texts, frame_orders)

    def _load(self, record):
        fut = self.pending.pop(id(record), None)
        return fut.result() if fut is not None else load_media(record, self.budget, self.patch)

    def _media(self, record):
        if self.cache is None:
            return self._load(record)
        key = str(record.media_path)
        if key not in self.cache:
            self.cache[key] = self._load(record)
        return self.cache[key]

    def next_batch(self, n: int | None = None) -> PromptBatch:
        """This rank's next micro-batch (or, on one process, the next ``n`` records) of prompts whose media decode.
        A bad media file raises naming the data file, row, problem_id and path (``on_error: raise``), or is
        replaced and counted (``on_error: skip``; see ``pop_skipped``): on one process by the next record of the
        stream, on N processes by a record drawn with a (seed, rank, count) generator — the shared position must
        not depend on one rank's bad files."""
        return self._decodable(self.next_micro_records() if n is None else self.next_records(n))

    def next_shared_batch(self, counts: list[int]) -> PromptBatch:
        """DAPO refills: this rank's ``counts[rank]`` records of the next ``sum(counts)`` (see take_shared)."""
        return self._decodable(self.take_shared(counts))

    def _decodable(self, todo: list) -> PromptBatch:
        records, media = [], []
        while todo:
            if len(self.bad) >= len(self.records):
                raise MediaError(f"every record's media failed to load ({len(self.bad)} records); see the "
                                 f"errors above or run `video-ktr data check`", "corrupt")
            missing = []
            for r in todo:
                m = self._media_or_skip(r)
                if m is None:
                    missing.append(r)
                else:
                    records.append(r)
                    media.append(m)
            todo = self._replacements(len(missing)) if missing else []
        return self.encode(records, media=media)

    def _replacements(self, n: int) -> list:
        if self.num_processes == 1:
            return self.next_records(n)
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + 7_919 * self.rank + self.replaced)
        self.replaced += n
        return [self.records[i] for i in torch.randint(len(self.records), (n,), generator=g).tolist()]

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
        if self.queue:
            raise RuntimeError("data state saved in the middle of a step: checkpoints belong between steps")
        return {"epoch": self.pos.epoch, "index": self.pos.index}

    def load_state_dict(self, state: dict) -> None:
        self.pos = DataPosition(int(state["epoch"]), int(state["index"]))
