"""Evaluation harness: benchmark adapters, official scorers, a resumable batched runner, official exports.

    from video_ktr.eval import evaluate
    summary = evaluate(model_or_path, "holmes", "data/Video-Holmes", "runs/eval/holmes-f32", frames=32)

Every summary names its scorer, prompt template, frame/pixel budget and decoding (README "Evaluation").
"""
from video_ktr.eval.adapters import BenchLoad, read_rows
from video_ktr.eval.backends import BACKENDS, Decoding, Generation, HFBackend, VLLMBackend
from video_ktr.eval.benchmarks import BENCHMARKS, Benchmark
from video_ktr.eval.items import EvalItem
from video_ktr.eval.results import markdown_table, read_results, summarize
from video_ktr.eval.runner import EVAL_MAX_PIXELS, LazyBackend, eval_budget, evaluate, make_backend
from video_ktr.eval.scorers import SCORERS, Judgement, Scorer

__all__ = [
    "BACKENDS", "BENCHMARKS", "EVAL_MAX_PIXELS", "BenchLoad", "Benchmark", "Decoding", "EvalItem", "Generation",
    "HFBackend", "Judgement", "LazyBackend", "SCORERS", "Scorer", "VLLMBackend", "eval_budget", "evaluate",
    "make_backend", "markdown_table", "read_results", "read_rows", "summarize",
]
