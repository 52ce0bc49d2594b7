"""Scorers: a registered name → how one model output is judged against one item, and how accuracy is averaged.

Every report names its scorer. The official ones return exactly what the benchmark's own code returns (parity
tests on ≥ 300 outputs each scored by running that code: ``tests/eval/test_parity.py``):

  holmes     Video-Holmes ``evaluate.py``                      unparseable = wrong
  videomme   Video-MME ``eval_your_results.py`` (README link)   accuracy over *answered* questions
  videommmu  lmms-eval ``tasks/videommmu/utils.py``             empty responses dropped from the denominator
  video_r1   Video-R1 ``src/eval_bench.py`` ``reward_fn``        accuracy and regression MRA reported apart
  mmvu_mc    the MMVU(mc) numbers of Video-R1/KTR: ``eval_bench.py``'s multiple-choice rule

``strict`` (ours) accepts only an answer written in exactly one ``<answer>…</answer>`` pair. None guesses.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from video_ktr.eval import extract as ex
from video_ktr.eval import mmmu
from video_ktr.eval.items import EvalItem
from video_ktr.registry import Registry
from video_ktr.rewards import ACCURACY_SCORERS, parse_number


@dataclass(frozen=True)
class Judgement:
    """pred: the extracted answer (``None`` = nothing extracted, i.e. unanswered); score in [0, 1];
    dropped: the benchmark leaves this output out of its denominator (VideoMMMU's empty responses);
    capped: only the output's tail was parsed (``mmmu.OPEN_MAX_CHARS``; counted in the summary)."""

    pred: str | None
    score: float
    dropped: bool = False
    capped: bool = False

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


def _letter(pred: str | None, item: EvalItem) -> Judgement:
    return Judgement(pred, float(pred is not None and pred == item.answer))


@register_scorer("holmes")
def score_holmes(output: str, item: EvalItem) -> Judgement:
    """Video-Holmes official: last <answer> (else whole text) → letter heuristic (case-sensitive); exact letter."""
    return _letter(ex.extract_holmes(output), item)


@register_scorer("videomme", answered_only=True)
def score_videomme(output: str, item: EvalItem) -> Judgement:
    """VideoMME official (current script): prefixes stripped, first capital A–D; accuracy over answered only."""
    return _letter(ex.extract_videomme(output), item)


@register_scorer("videommmu")
def score_videommmu(output: str, item: EvalItem) -> Judgement:
    """VideoMMMU official (lmms-eval task): "X."/"X:" before "(X)"/"X "; open: 26 indicators; empty dropped."""
    if output in mmmu.DROPPED:
        return Judgement(None, 0.0, dropped=True)
    qtype = item.extra.get("question_type", "multiple-choice" if item.options else None)
    gold = item.extra.get("answers", item.answer)
    if qtype == "multiple-choice":
        index2ans = mmmu.option_letters(item.extra.get("raw_options", item.options))
        pred = mmmu.parse_choice(output, index2ans)
        ok = pred is not None and (pred in gold if isinstance(gold, list) else pred == gold)
        return Judgement(pred, float(ok))
    capped = len(output) > mmmu.OPEN_MAX_CHARS
    preds = mmmu.parse_open(output[-mmmu.OPEN_MAX_CHARS:])
    shown = " | ".join(map(str, preds[:50]))
    if qtype == "perception":                  # official: judged as multiple choice against the parsed list: never
        return Judgement(shown, 0.0, capped=capped)
    return Judgement(shown, float(mmmu.judge_open(gold, preds)), capped=capped)


PRED_SHOWN = 200   # characters of a whole-output fallback kept as ``pred`` (the full output is in its own field)


@register_scorer("mmvu_mc")
def score_mmvu_mc(output: str, item: EvalItem) -> Judgement:
    """MMVU(mc) as in the Video-R1/KTR numbers: first <answer> (else the whole output), exact letter match."""
    pred = ex.video_r1_answer(output).strip()
    return Judgement(pred[:PRED_SHOWN], float(pred == item.answer.strip()))


@register_scorer("video_r1")
def score_video_r1(output: str, item: EvalItem) -> Judgement:
    """Video-R1 eval_bench: first <answer> (else whole output); exact MC/numeric rules; regression = float32 MRA."""
    pred = ex.video_r1_answer(output).strip()[:PRED_SHOWN]
    return Judgement(pred, ex.video_r1_score(output, item.answer, item.problem_type))


def judge_answer(answer: str, item: EvalItem) -> float:
    """An extracted answer under the training accuracy rules for ``item.problem_type`` (regression: MRA)."""
    if item.problem_type == "regression":
        pred, gold = parse_number(answer), parse_number(item.answer)
        return 0.0 if pred is None or gold is None else ex.mean_relative_accuracy(pred, gold)
    return float(ACCURACY_SCORERS.get(item.problem_type)(answer, item.answer))


@register_scorer("strict")
def score_strict(output: str, item: EvalItem) -> Judgement:
    """Strict (ours): exactly one <answer>…</answer>; multiple choice must be one bare option letter."""
    answer = ex.single_answer_tag(output)
    if answer is None:
        return Judgement(None, 0.0)
    if item.options and answer not in ex.parse_options(item.options):
        return Judgement(None, 0.0)
    return Judgement(answer, judge_answer(answer, item))
