"""The benchmark registry: a name → its adapter, its default (official) scorer, its prompt template, and its
official export. ``video-ktr eval --bench NAME`` and ``evaluate(..., bench=NAME)`` look names up here."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from video_ktr.eval import adapters, adapters_more, exports
from video_ktr.eval.items import EvalItem
from video_ktr.registry import Registry


@dataclass(frozen=True)
class Benchmark:
    """load(data_dir, on_missing, check_media) -> BenchLoad; scorer: default scorer name; template: prompt
    template name in ``video_ktr.data``'s prompt registry; export(rows, items, out_dir) -> Path writes the
    official result file."""

    name: str
    load: Callable[..., adapters.BenchLoad]
    scorer: str
    template: str
    export: Callable[[list[dict], list[EvalItem], Path], Path] | None = None
    split: str = ""   # the official split / version the adapter expects (README)


BENCHMARKS: Registry[Benchmark] = Registry("benchmark")
for _b in (
    Benchmark("holmes", adapters.load_holmes, "holmes", "video_holmes", exports.export_holmes,
              "Video-Holmes test (test_Video-Holmes.json, 1,837 questions, 270 films)"),
    Benchmark("videomme", adapters.load_videomme, "videomme", "reasoning", exports.export_videomme,
              "Video-MME test (lmms-lab/Video-MME videomme/test-00000-of-00001.parquet, 2,700 questions), "
              "without subtitles"),
    Benchmark("mmvu", adapters.load_mmvu, "mmvu_mc", "reasoning", None,
              "MMVU validation (yale-nlp/MMVU validation.json; 625 multiple-choice of 1,000)"),
    Benchmark("videommmu", adapters_more.load_videommmu, "videommmu", "reasoning", None,
              "VideoMMMU test (perception/comprehension/adaptation_video.json or lmms-lab/VideoMMMU parquet; "
              "900 questions)"),
    Benchmark("video_r1", adapters_more.load_video_r1, "video_r1", "reasoning", None,
              "Video-R1 eval JSONs (eval_mvbench/tempcompass/videomme/videommmu/vsibench/mmvu.json)"),
):
    BENCHMARKS.add(_b.name, _b)
