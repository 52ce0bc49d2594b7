"""Run-directory safety: a used run directory is never silently reused, and a resume continues the same run.

* ``claim_run_dir``: a fresh run (no ``--resume``) into a directory that already holds a run's outputs is refused;
  ``--overwrite`` moves the old run aside to ``<dir>.old-<time>`` (nothing is deleted).
* ``check_resume``: the settings that define a run (``DEFINING``) must equal the checkpoint's; differences are
  listed and refused unless forced (then the old config.yaml is kept beside the new one).
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import yaml

# What a training run writes into its directory; anything else there (eval/, toy/, sft/ of the demo) is not a run.
RUN_OUTPUTS = ("metrics.jsonl", "samples.jsonl", "config.yaml", "checkpoints", "samples", "tb", "model")
# Dotted config prefixes that define a run: a resume must not change them (max_steps, logging, eval may change).
DEFINING = ("algorithm", "model.path", "model.dtype", "model.lora", "model.freeze_vision_tower", "data.train_path",
            "data.root", "data.template", "data.fps", "data.nframes", "data.min_frames", "data.max_frames",
            "data.video_max_pixels", "data.image_max_pixels", "rollout.batch_size", "rollout.group_size",
            "rollout.temperature", "rollout.top_p", "rollout.top_k", "rollout.max_new_tokens",
            "rollout.shuffled_group_frac", "rollout.max_resample", "rollout.mask_truncated", "reward", "ktr", "loss",
            "optim", "trainer.seed", "trainer.grad_accum")


class RunDirError(RuntimeError):
    """The run directory cannot be used as asked (used by another run, or a resume with changed settings)."""


def is_main_rank() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def used_outputs(run_dir: Path) -> list[str]:
    """The run outputs present in ``run_dir`` (empty: the directory may be used by a fresh run)."""
    return [name for name in RUN_OUTPUTS if (Path(run_dir) / name).exists()]


def describe_run(run_dir: Path) -> str:
    """``metrics.jsonl: 8 rows, checkpoints: step-4, step-8`` — what a refusal would have destroyed."""
    parts = []
    for name in ("metrics.jsonl", "samples.jsonl"):
        p = Path(run_dir) / name
        if p.exists():
            parts.append(f"{name}: {sum(1 for ln in p.read_text(errors='replace').splitlines() if ln.strip())} rows")
    ck = Path(run_dir) / "checkpoints"
    if ck.exists():
        parts.append(f"checkpoints: {', '.join(sorted(d.name for d in ck.iterdir())) or 'none'}")
    return ", ".join(parts) or ", ".join(used_outputs(run_dir))


def aside_name(run_dir: Path) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    cand, k = Path(f"{run_dir}.old-{stamp}"), 1
    while cand.exists():
        cand, k = Path(f"{run_dir}.old-{stamp}-{k}"), k + 1
    return cand


def claim_run_dir(run_dir: str | Path, *, resume: bool, overwrite: bool = False) -> Path | None:
    """Make ``run_dir`` usable by a run; return where an old run was moved (``--overwrite``), else None.

    Raises ``RunDirError`` for a fresh run into a used directory. Only rank 0 moves anything.
    """
    run_dir = Path(run_dir)
    if resume or not run_dir.exists() or not used_outputs(run_dir):
        return None
    if not overwrite:
        raise RunDirError(
            f"{run_dir} already holds a run ({describe_run(run_dir)}); refusing to overwrite it. Continue it with "
            f"--resume, move it aside with --overwrite (kept as {run_dir.name}.old-<time>), or pick another "
            f"--output-dir")
    if not is_main_rank():
        return None
    dest = aside_name(run_dir)
    run_dir.rename(dest)
    print(f"--overwrite: moved the previous run {run_dir} to {dest}")
    return dest


# ----------------------------------------------------------------------------------------------- resume checks
def flat(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        key = f"{prefix}.{k}" if prefix else k
        if isinstance(v, dict) and v and key != "reward.kwargs":
            out |= flat(v, key)
        else:
            out[key] = v
    return out


def defining_settings(config_dict: dict) -> dict:
    """The flat ``{dotted key: value}`` of the settings in ``DEFINING`` (from ``config_to_dict(cfg)``)."""
    return {k: v for k, v in flat(config_dict).items()
            if any(k == p or k.startswith(p + ".") for p in DEFINING)}


def setting_differences(saved: dict, now: dict) -> list[str]:
    """``["rollout.group_size: 8 -> 4", ...]`` for every defining key set on both sides whose value changed (a field
    added to the config since the checkpoint was written is not a difference)."""
    return [f"{k}: {saved[k]!r} -> {now[k]!r}" for k in sorted(set(saved) & set(now)) if _norm(saved[k]) != _norm(now[k])]


def _norm(v):
    return [_norm(x) for x in v] if isinstance(v, (list, tuple)) else v


def saved_settings(run_dir: Path, state: dict) -> dict | None:
    """The checkpoint's defining settings (trainer_state.json), else those of RUN/config.yaml, else None."""
    if isinstance(state.get("settings"), dict):
        return state["settings"]
    p = Path(run_dir) / "config.yaml"
    if p.exists():
        return defining_settings(yaml.safe_load(p.read_text()) or {})
    return None


def check_resume(run_dir: Path, state: dict, config_dict: dict, *, force: bool = False) -> list[str]:
    """Refuse (``RunDirError``) a resume whose defining settings differ from the checkpoint's, unless ``force``;
    return the differences (forced: the old config.yaml is kept as ``config.before-resume-<step>.yaml``)."""
    saved = saved_settings(run_dir, state)
    if saved is None:
        return []
    diffs = setting_differences(saved, defining_settings(config_dict))
    if diffs and not force:
        raise RunDirError(
            f"--resume of {run_dir} (checkpoint step {state.get('step')}) with settings that define the run changed:"
            f"\n  " + "\n  ".join(diffs) + "\nresume with the run's own config (RUN/config.yaml), start a new run "
            f"(another --output-dir), or pass --force-resume to continue anyway")
    old = Path(run_dir) / "config.yaml"
    if diffs and old.exists() and is_main_rank():
        old.rename(old.with_name(f"config.before-resume-{state.get('step')}.yaml"))
    return diffs


def write_json_atomic(path: Path, obj) -> None:
    """Write ``obj`` as JSON to ``path`` through a temporary file and ``os.replace`` (never a torn file)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with tmp.open("w") as f:
        f.write(json.dumps(obj, indent=1))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
