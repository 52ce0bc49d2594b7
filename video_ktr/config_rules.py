"""The checks every config value passes when the tree is built (``Config.__post_init__``), before any model loads.

Three tables, so a new field needs one line here:
* ``RULES``: one ``(dotted key, check)`` per field — registry names, allowed sets, signs and ranges. A failing check
  raises ``ValueError("<key>=<value> <what is wrong>; allowed: …")``.
* ``CROSS``: rules over several fields (``cfg -> message | None``).
* ``WARNINGS``: legal but suspicious combinations (``ConfigWarning``, the run goes on).
Registry-backed choices are looked up lazily, so the allowed names are always the registered ones.
"""
from __future__ import annotations

import importlib
import math
import numbers
import warnings
from dataclasses import dataclass
from typing import Any, Callable, Iterable

# transformers.get_scheduler names that need no extra arguments (reduce_lr_on_plateau needs a metric each step,
# cosine_with_min_lr / warmup_stable_decay need scheduler-specific kwargs we do not expose).
LR_SCHEDULERS = ("constant", "constant_with_warmup", "cosine", "cosine_with_restarts", "inverse_sqrt", "linear",
                 "polynomial")
DTYPES = ("float32", "bfloat16", "float16")
MIXED_PRECISION = ("no", "bf16", "fp16")
TRACKERS = ("tensorboard", "wandb", "mlflow", "comet_ml", "aim", "clearml", "dvclive", "trackio", "swanlab")


class ConfigWarning(UserWarning):
    """A legal but suspicious setting (printed; the run goes on)."""


# ----------------------------------------------------------------------------------------------- check builders
@dataclass(frozen=True)
class Check:
    """``test(value) -> None | what is wrong``; ``allowed`` describes the valid values for the message."""

    test: Callable[[Any], str | None]
    allowed: Callable[[], str] | None = None


def _number(v) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v)


def between(lo: float | None = None, hi: float | None = None, *, lo_open: bool = False, hi_open: bool = False,
            none_ok: bool = False, also: tuple = ()) -> Check:
    """A finite number in [lo, hi] (open ends with ``lo_open`` / ``hi_open``); ``None`` if ``none_ok``; or one of
    the special values ``also`` (e.g. ``-1`` = "derive it")."""
    left = "(" if lo_open else "["
    right = ")" if hi_open else "]"
    span = f"{left}{'-inf' if lo is None else lo}, {'inf' if hi is None else hi}{right}"
    text = span + (" or None" if none_ok else "") + "".join(f" or {a!r}" for a in also)

    def test(v):
        if v is None and none_ok or (v in also and not isinstance(v, bool)):
            return None
        if not _number(v):
            return "must be a finite number"
        if lo is not None and (v <= lo if lo_open else v < lo) or hi is not None and (v >= hi if hi_open else v > hi):
            return f"is out of range {span}"
        return None

    return Check(test, lambda: text)


def one_of(names: Iterable[str] | Callable[[], Iterable[str]]) -> Check:
    get = names if callable(names) else (lambda: names)
    return Check(lambda v: None if v in list(get()) else "is not a known name", lambda: str(sorted(get())))


def subset_of(names: Iterable[str] | Callable[[], Iterable[str]], *, nonempty: bool = False) -> Check:
    get = names if callable(names) else (lambda: names)

    def test(v):
        bad = sorted(set(v) - set(get()))
        if bad:
            return f"has unknown {bad}"
        if len(set(v)) != len(v):
            return "lists a name twice"
        return "must not be empty" if nonempty and not v else None

    return Check(test, lambda: str(sorted(get())))


def registry(module: str, name: str) -> Callable[[], list[str]]:
    """The registered names of ``module.name`` (imported on first use)."""
    return lambda: getattr(importlib.import_module(module), name).names()


def _template_ok(v) -> bool:
    from pathlib import Path

    from video_ktr.data.prompts import PROMPTS

    return isinstance(v, str) and (v in PROMPTS or Path(v).is_file())


POSITIVE_INT = between(1)
NON_NEGATIVE = between(0)
POSITIVE = between(0, lo_open=True)
FRACTION = between(0, 1)

# ----------------------------------------------------------------------------------------------- per field
RULES: dict[str, Check] = {
    "model.dtype": one_of(DTYPES),
    "model.lora.r": POSITIVE_INT,
    "model.lora.alpha": POSITIVE,
    "model.lora.dropout": between(0, 1, hi_open=True),
    "data.template": Check(lambda v: None if _template_ok(v) else "is neither a registered template nor a file",
                           lambda: str(registry("video_ktr.data.prompts", "PROMPTS")()) + " or a template file"),
    "data.on_error": one_of(("raise", "skip")),
    "data.fps": POSITIVE,
    "data.nframes": between(1, none_ok=True),
    "data.min_frames": POSITIVE_INT,
    "data.max_frames": POSITIVE_INT,
    "data.video_max_pixels": POSITIVE_INT,
    "data.image_max_pixels": POSITIVE_INT,
    "data.video_min_pixels": POSITIVE_INT,
    "data.video_time": one_of(("absolute", "reference")),
    "rollout.engine": one_of(registry("video_ktr.rollout", "ENGINES")),
    "rollout.batch_size": POSITIVE_INT,
    "rollout.group_size": between(2),
    "rollout.temperature": NON_NEGATIVE,
    "rollout.top_p": between(0, 1, lo_open=True),
    "rollout.top_k": NON_NEGATIVE,
    "rollout.max_new_tokens": POSITIVE_INT,
    "rollout.shuffled_group_frac": FRACTION,
    "rollout.max_resample": NON_NEGATIVE,
    "rollout.vllm_gpu_memory_utilization": between(0, 1, lo_open=True),
    "rollout.vllm_max_model_len": POSITIVE_INT,
    "reward.temporal_bonus": NON_NEGATIVE,
    "reward.temporal_ratio": POSITIVE,
    "reward.temporal_min_acc": FRACTION,
    "ktr.signals": subset_of(("entropy", "visual", "temporal")),
    "ktr.entropy_ratio": FRACTION,
    "ktr.visual_ratio": FRACTION,
    "ktr.temporal_ratio": FRACTION,
    "ktr.combine": one_of(("union", "intersection")),
    "ktr.scope": one_of(("group", "batch")),
    "ktr.temporal_mode": one_of(registry("video_ktr.ktr.probes", "PERMUTATIONS")),
    "ktr.visual_mode": one_of(registry("video_ktr.ktr.probes", "VISUAL_PROBES")),
    "ktr.measure": one_of(registry("video_ktr.ktr.scores", "MEASURES")),
    "ktr.weighting": one_of(registry("video_ktr.ktr.selection", "WEIGHTINGS")),
    "ktr.on_constant": one_of(("all", "none")),
    "ktr.constant_tol": NON_NEGATIVE,
    "ktr.static_frame_tol": NON_NEGATIVE,
    "loss.beta": NON_NEGATIVE,
    "loss.epsilon": between(0, 1, lo_open=True),
    "loss.epsilon_high": between(0, lo_open=True, none_ok=True),
    "loss.aggregation": one_of(registry("video_ktr.loss.aggregation", "AGGREGATIONS")),
    "loss.scale_rewards": one_of(registry("video_ktr.trainer.advantages", "REWARD_SCALES")),
    "loss.adv_eps": NON_NEGATIVE,
    "loss.num_iterations": POSITIVE_INT,
    "optim.lr": POSITIVE,
    "optim.lr_scheduler": one_of(LR_SCHEDULERS),
    "optim.warmup_ratio": FRACTION,
    "optim.weight_decay": NON_NEGATIVE,
    "optim.max_grad_norm": between(0, lo_open=True, none_ok=True),
    "optim.adam_beta1": between(0, 1, hi_open=True),
    "optim.adam_beta2": between(0, 1, hi_open=True),
    "optim.adam_eps": POSITIVE,
    "trainer.output_dir": Check(lambda v: None if v.strip() else "must not be empty", lambda: "a directory"),
    "trainer.max_steps": between(1, also=(-1,)),
    "trainer.num_epochs": POSITIVE_INT,
    "trainer.grad_accum": POSITIVE_INT,
    "trainer.mixed_precision": one_of(MIXED_PRECISION),
    "trainer.seed": NON_NEGATIVE,
    "trainer.save_every": NON_NEGATIVE,
    "trainer.keep_checkpoints": NON_NEGATIVE,
    "trainer.log_samples_every": NON_NEGATIVE,
    "trainer.max_logged_samples": NON_NEGATIVE,
    "trainer.report_to": subset_of(TRACKERS),
    "trainer.logprob_chunk_size": POSITIVE_INT,
    "eval.max_samples": between(1, none_ok=True),
    "eval.max_new_tokens": POSITIVE_INT,
    "eval.batch_size": POSITIVE_INT,
    "sft.lr": POSITIVE,
    "sft.max_steps": between(1, also=(-1,)),
    "sft.num_epochs": POSITIVE_INT,
    "sft.batch_size": POSITIVE_INT,
}


# ----------------------------------------------------------------------------------------------- across fields
def _greedy_groups(cfg) -> str | None:
    if cfg.rollout.temperature == 0 and cfg.rollout.group_size > 1:
        return (f"rollout.temperature=0 (greedy) with rollout.group_size={cfg.rollout.group_size}: every completion "
                f"of a group is the same, so every advantage is 0 and nothing is learned; use temperature > 0")
    return None


def _clip_high(cfg) -> str | None:
    hi = cfg.loss.epsilon_high
    if hi is not None and hi < cfg.loss.epsilon:
        return f"loss.epsilon_high={hi} must be >= loss.epsilon={cfg.loss.epsilon} (clip-higher widens the range)"
    return None


def _eval_flags(cfg) -> str | None:
    if (cfg.eval.before or cfg.eval.after) and not cfg.data.eval_path:
        return "eval.before / eval.after need data.eval_path (the held-out records to evaluate)"
    return None


CROSS: list[Callable[[Any], str | None]] = [_greedy_groups, _clip_high, _eval_flags]


# ----------------------------------------------------------------------------------------------- warnings
def _lr_large(cfg) -> str | None:
    if cfg.optim.lr > 1e-3:
        return f"optim.lr={cfg.optim.lr} is large for fine-tuning a pretrained VLM (the 7B recipe uses 1e-6..2e-6)"
    return None


def _ktr_keeps_all(cfg) -> str | None:
    ratios = [getattr(cfg.ktr, f"{s}_ratio") for s in cfg.ktr.signals]
    if cfg.ktr.enabled and ratios and cfg.ktr.combine == "union" and max(ratios) >= 1.0:
        return "ktr: a signal with ratio 1.0 under combine=union keeps every token; this is plain GRPO at KTR's cost"
    return None


def _low_temperature(cfg) -> str | None:
    if 0 < cfg.rollout.temperature < 0.3:
        return (f"rollout.temperature={cfg.rollout.temperature} is near greedy: groups often hold identical "
                f"completions (zero advantage)")
    return None


def _warmup_long(cfg) -> str | None:
    if cfg.optim.warmup_ratio > 0.5:
        return f"optim.warmup_ratio={cfg.optim.warmup_ratio}: more than half of the run is warm-up"
    return None


def _no_clip(cfg) -> str | None:
    if cfg.optim.max_grad_norm is None:
        return "optim.max_grad_norm=None: gradients are not clipped (the norm is still logged)"
    return None


WARNINGS: list[Callable[[Any], str | None]] = [_lr_large, _ktr_keeps_all, _low_temperature, _warmup_long, _no_clip]


# ----------------------------------------------------------------------------------------------- running them
def lookup(cfg, key: str) -> Any:
    node = cfg
    for part in key.split("."):
        node = getattr(node, part)  # AttributeError: a stale RULES key (tests check every key exists)
    return node


def check_config(cfg) -> list[str]:
    """Raise ``ValueError`` on the first bad value or cross-field rule; warn (``ConfigWarning``) on suspicious
    combinations and return their messages."""
    for key, check in RULES.items():
        value = lookup(cfg, key)
        problem = check.test(value)
        if problem:
            allowed = f"; allowed: {check.allowed()}" if check.allowed else ""
            raise ValueError(f"{key}={value!r} {problem}{allowed}")
    for rule in CROSS:
        problem = rule(cfg)
        if problem:
            raise ValueError(problem)
    found = [m for rule in WARNINGS if (m := rule(cfg))]
    for m in found:
        warnings.warn(m, ConfigWarning, stacklevel=3)
    return found
