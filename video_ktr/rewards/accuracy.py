"""Accuracy rewards, one scorer per ``problem_type`` (METHOD.md §3).

Every scorer maps ``(predicted answer, ground-truth answer)`` (both already extracted and stripped) to a finite
float in [0, 1]. A completion without an ``<answer>…</answer>`` block scores 0. An unknown ``problem_type`` is an
error (``validate_problem_types`` lets data loading and config checks catch it before training starts).
"""
from __future__ import annotations

import math
from functools import lru_cache
from typing import Callable, Iterable

from video_ktr.registry import Registry
from video_ktr.rewards.extract import extract_answer, parse_number, solution_answer

# OCR and free-form answers (and references) longer than this are truncated before scoring: WER and ROUGE cost
# grows with their length, and an RL policy can emit megabytes inside <answer>. Real answers are far shorter.
MAX_TEXT_ANSWER_CHARS = 4096
# ROUGE uses at most this many tokens per side: rouge-score's ROUGE-L is a pure-Python O(n·m) LCS table.
MAX_ROUGE_TOKENS = 256
# Regression relative error: (|pred − gt| + eps) / (|gt| + eps), as the reference. Note gt = pred = 0 scores 0.
REGRESSION_EPS = 1e-9

Scorer = Callable[[str, str], float]  # (pred, gt) -> float in [0, 1]
ACCURACY_SCORERS: Registry[Scorer] = Registry("problem_type")


@ACCURACY_SCORERS.register("multiple choice")
def score_multiple_choice(pred: str, gt: str) -> float:
    """Exact match of the stripped strings: "A" == "A" → 1; "A." or "(A)" vs "A" → 0 (reference rule)."""
    return 1.0 if pred.strip() == gt.strip() else 0.0


@ACCURACY_SCORERS.register("numerical")
def score_numerical(pred: str, gt: str) -> float:
    """1 if both parse to the same number rounded to 2 decimals; 0 if exactly one side contains "." or ","."""
    if (("." in pred) or ("," in pred)) != (("." in gt) or ("," in gt)):
        return 0.0
    p, g = parse_number(pred), parse_number(gt)
    if p is None or g is None:
        return 0.0
    return 1.0 if round(p, 2) == round(g, 2) else 0.0


@ACCURACY_SCORERS.register("OCR")
def score_ocr(pred: str, gt: str) -> float:
    """1 − word error rate of ``pred`` against ``gt``, clipped to [0, 1], as the reference computes it.

    Words are split on any whitespace (``str.split()``: "STOP\nAHEAD" is two words, as "STOP AHEAD"); the edit
    distance is divided by max(1, #reference words), so both empty → 1 and an empty reference with a non-empty
    prediction → 0.
    """
    import jiwer

    ref, hyp = gt[:MAX_TEXT_ANSWER_CHARS].split(), pred[:MAX_TEXT_ANSWER_CHARS].split()
    if not ref:
        return 1.0 if not hyp else 0.0  # reference: distance / max(1, 0) = len(hyp) → 1 − len(hyp), clipped
    error = jiwer.wer(" ".join(ref), " ".join(hyp))  # single spaces: jiwer's split on " " = str.split()
    return _clip01(1.0 - error)


@ACCURACY_SCORERS.register("free-form")
def score_free_form(pred: str, gt: str) -> float:
    """Mean of ROUGE-1/2/L F-measures (rouge-score, Porter stemming on), in [0, 1]."""
    scores = _rouge_scorer().score(gt[:MAX_TEXT_ANSWER_CHARS], pred[:MAX_TEXT_ANSWER_CHARS])
    mean_f = (scores["rouge1"].fmeasure + scores["rouge2"].fmeasure + scores["rougeL"].fmeasure) / 3
    return _clip01(mean_f)


@ACCURACY_SCORERS.register("regression")
def score_regression(pred: str, gt: str) -> float:
    """1 − min(1, (|pred − gt| + eps) / (|gt| + eps)); unparsable → 0."""
    p, g = parse_number(pred), parse_number(gt)
    if p is None or g is None:
        return 0.0
    rel_error = (abs(p - g) + REGRESSION_EPS) / (abs(g) + REGRESSION_EPS)  # may be inf when |p − g| overflows
    return _clip01(1.0 - min(1.0, rel_error))


def _clip01(x: float) -> float:
    return min(1.0, max(0.0, x)) if math.isfinite(x) else 0.0


@lru_cache(maxsize=1)
def _rouge_scorer():
    """rouge-score's scorer with its own tokenisation and Porter stemming, truncated to ``MAX_ROUGE_TOKENS``."""
    from nltk.stem import porter
    from rouge_score import rouge_scorer, tokenize, tokenizers

    stem = lru_cache(maxsize=65536)(porter.PorterStemmer().stem)

    class TruncatingTokenizer(tokenizers.Tokenizer):
        # Same tokens as rouge-score's DefaultTokenizer(use_stemmer=True), on the first MAX_ROUGE_TOKENS words.
        def tokenize(self, text):
            words = tokenize.tokenize(text, None)[:MAX_ROUGE_TOKENS]  # lowercased [a-z0-9]+ words, unstemmed
            stemmed = (stem(w) if len(w) > 3 else w for w in words)
            return [w for w in stemmed if tokenize.VALID_TOKEN_RE.match(w)]

    return rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], tokenizer=TruncatingTokenizer())


def validate_problem_type(problem_type: str) -> str:
    """Return ``problem_type`` if a scorer is registered for it; else ``KeyError`` listing the known types."""
    if problem_type not in ACCURACY_SCORERS:
        raise KeyError(
            f"unknown problem_type {problem_type!r}; known: {ACCURACY_SCORERS.names()} "
            "(fix the data record, or register a scorer with @ACCURACY_SCORERS.register(...))"
        )
    return problem_type


def validate_problem_types(problem_types: Iterable[str]) -> None:
    """Check a whole dataset's ``problem_type`` column at load time (one error listing every unknown type)."""
    unknown = sorted({p for p in problem_types if p not in ACCURACY_SCORERS}, key=repr)
    if unknown:
        raise KeyError(
            f"unknown problem_type(s) {unknown}; known: {ACCURACY_SCORERS.names()} "
            "(fix the data records, or register a scorer with @ACCURACY_SCORERS.register(...))"
        )


def accuracy_score(completion: str, solution: str, problem_type: str) -> float:
    """Accuracy of one completion: extract both answers, score them with the ``problem_type`` scorer."""
    scorer = ACCURACY_SCORERS.get(validate_problem_type(problem_type))
    pred = extract_answer(completion)
    if pred is None:
        return 0.0
    return scorer(pred, solution_answer(solution))


def accuracy_reward(completions: list[str], solutions: list[str], problem_types: list[str]) -> list[float]:
    """Per-completion accuracy in [0, 1] (METHOD §3). ``solutions`` as in the data: ``"<answer>X</answer>"``."""
    if not len(completions) == len(solutions) == len(problem_types):
        raise ValueError(
            f"accuracy_reward needs one solution and one problem_type per completion, got "
            f"{len(completions)} completions, {len(solutions)} solutions, {len(problem_types)} problem_types"
        )
    validate_problem_types(problem_types)
    return [accuracy_score(c, s, p) for c, s, p in zip(completions, solutions, problem_types)]
