"""Scorers: a registered name → how one model output is judged against one item, and how accuracy is averaged.

Every report names its scorer. ``holmes``, ``videomme``, ``mmmu`` reproduce the official scripts (``extract.py``);
``video_r1`` is the Video-R1 / KTR eval (first ``<answer>`` tag, the training accuracy rules, mean relative accuracy
for regression); ``mmvu_mc`` is the letter match behind "MMVU(mc)"; ``strict`` accepts only an answer written in
exactly one ``<answer>…</answer>`` pair. None of them guesses a letter when nothing can be extracted.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from video_ktr.eval import extract as ex
from video_ktr.eval.items import EvalItem
from video_ktr.registry import Registry
from video_ktr.rewards import ACCURACY_SCORERS, extract_answer, parse_number


@dataclass(frozen=True)
class Judgement:
    """pred: the extracted answer (``None`` = nothing extracted, i.e. unanswered); score in [0, 1]."""

    pred: str | None
    score: float

    @property
    def answered(self) -> bool:
        return self.pred is not None

    @property
    def correct(self) -> bool:
        return self.score >= 1.0


@dataclass(frozen=True)
class Scorer:
    """judge(output, item) -> Judgement. answered_only: accuracy = Σscore / #answered (VideoMME's official
    denominator) instead of / #questions."""

    name: str
    judge: Callable[[str, EvalItem], Judgement]
    answered_only: bool = False
    description: str = ""


SCORERS: Registry[Scorer] = Registry("scorer")


def register_scorer(name: str, *, answered_only: bool = False):
    """Decorator: register ``judge(output, item) -> Judgement`` as scorer ``name`` (its docstring describes it)."""

    def deco(fn: Callable[[str, EvalItem], Judgement]):
        SCORERS.add(name, Scorer(name, fn, answered_only, (fn.__doc__ or "").strip().split("\n")[0]))
        return fn

    return deco


def judge_video_r1_answer(answer: str, item: EvalItem) -> float:
    """Score an extracted answer with Video-R1's eval rules for ``item.problem_type``: regression by mean relative
    accuracy over θ ∈ {0.50 … 0.95}; every other type by the training accuracy rules (``video_ktr.rewards``)."""
    if item.problem_type == "regression":
        pred, gold = parse_number(answer), parse_number(item.answer)
        return 0.0 if pred is None or gold is None else ex.mean_relative_accuracy(pred, gold)
    return float(ACCURACY_SCORERS.get(item.problem_type)(answer, item.answer))


@register_scorer("holmes")
def score_holmes(output: str, item: EvalItem) -> Judgement:
    """Video-Holmes official: last <answer> (else whole text) → letter heuristic (case-sensitive); exact letter."""
    pred = ex.extract_holmes(output)
    return Judgement(pred, float(pred is not None and pred == item.answer.strip()))


@register_scorer("videomme", answered_only=True)
def score_videomme(output: str, item: EvalItem) -> Judgement:
    """VideoMME official: prefix stripping, first capital A–D anywhere; accuracy over answered questions only."""
    pred = ex.extract_videomme(output)
    return Judgement(pred, float(pred is not None and pred == item.answer.strip()))


@register_scorer("mmmu")
def score_mmmu(output: str, item: EvalItem) -> Judgement:
    """MMMU rules (VideoMMMU): multiple-choice letter parsing on the whole output; open answers normalised match."""
    if item.options:
        pred = ex.extract_mmmu_choice(output, ex.parse_options(item.options))
        return Judgement(pred, float(pred is not None and pred == item.answer.strip()))
    preds = ex.extract_mmmu_open(output)
    gold = item.extra.get("answers", item.answer)
    return Judgement(" | ".join(map(str, preds)), float(ex.judge_mmmu_open(gold, preds)))


@register_scorer("mmvu_mc")
def score_mmvu_mc(output: str, item: EvalItem) -> Judgement:
    """MMVU(mc) letter match: the first <answer> must hold an option letter ("B", "B.", "(B)", "B. text")."""
    answer = extract_answer(output)
    pred = ex.extract_letter(answer) if answer is not None else None
    return Judgement(pred, float(pred is not None and pred == item.answer.strip()))


@register_scorer("video_r1")
def score_video_r1(output: str, item: EvalItem) -> Judgement:
    """Video-R1 eval: first <answer> tag; exact / numerical / WER / ROUGE by type, regression = mean rel. accuracy."""
    answer = extract_answer(output)
    if answer is None:
        return Judgement(None, 0.0)
    return Judgement(answer, judge_video_r1_answer(answer, item))


@register_scorer("strict")
def score_strict(output: str, item: EvalItem) -> Judgement:
    """Strict: exactly one <answer>…</answer>; multiple choice must be one bare option letter; Video-R1 rules."""
    tags = ex.ANSWER_TAG_RE.findall(output)
    if len(tags) != 1:
        return Judgement(None, 0.0)
    answer = tags[0].strip()
    if item.options and answer not in ex.parse_options(item.options):
        return Judgement(None, 0.0)
    return Judgement(answer, judge_video_r1_answer(answer, item))
