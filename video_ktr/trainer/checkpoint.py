"""Checkpoints: accelerate's ``save_state`` (model, optimizer, scheduler, RNG states; sharded under ZeRO-3) plus
``trainer_state.json`` (step, data position, the run's defining settings) and an HF-loadable model copy, in
``RUN/checkpoints/step-<k>/``. trainer_state.json is written last and atomically: it marks the checkpoint complete.

With LoRA, ``model/`` holds the adapters merged into the base weights (loadable by ``from_pretrained``, vLLM and
``video-ktr eval`` as any checkpoint) and ``adapter/`` the peft adapter, whose ``base_model_name_or_path`` is
relative to ``adapter/`` when the base model is a local directory (the run folder can be moved with its base)."""
from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

from video_ktr.rollout.weights import merged_state_dict
from video_ktr.trainer.rundir import write_json_atomic

STATE_FILE = "trainer_state.json"
STEP_DIR = re.compile(r"^step-(\d+)$")


def step_of(ckpt: Path) -> int:
    return int(STEP_DIR.match(Path(ckpt).name).group(1))


def read_state(ckpt: Path) -> dict | None:
    """The checkpoint's trainer_state.json, or None when the checkpoint is incomplete (missing / torn state file,
    no accelerate state or model copy)."""
    ckpt = Path(ckpt)
    if not ((ckpt / "accelerate").is_dir() and (ckpt / "model").is_dir()):
        return None
    try:
        state = json.loads((ckpt / STATE_FILE).read_text())
    except (OSError, ValueError):
        return None
    return state if isinstance(state, dict) and state.get("step") == step_of(ckpt) else None


def all_step_dirs(run_dir: str | Path) -> list[Path]:
    """Every ``step-<k>`` directory of a run (complete or not), oldest first."""
    root = Path(run_dir) / "checkpoints"
    if not root.exists():
        return []
    return sorted((d for d in root.iterdir() if STEP_DIR.match(d.name) and d.is_dir()), key=step_of)


def checkpoint_dirs(run_dir: str | Path) -> list[Path]:
    """Complete checkpoints of a run, oldest first."""
    return [d for d in all_step_dirs(run_dir) if read_state(d) is not None]


def latest_checkpoint(run_dir: str | Path) -> Path | None:
    """The newest *complete* checkpoint (a torn newer one is passed over)."""
    dirs = checkpoint_dirs(run_dir)
    return dirs[-1] if dirs else None


def drop_after(run_dir: str | Path, step: int) -> list[Path]:
    """Delete the step directories newer than ``step`` (incomplete ones a resume falls back over); return them."""
    gone = [d for d in all_step_dirs(run_dir) if step_of(d) > step]
    for d in gone:
        shutil.rmtree(d, ignore_errors=True)
    return gone


def prune(run_dir: str | Path, current: Path, keep: int) -> list[Path]:
    """Delete complete checkpoints older than the newest ``keep`` up to ``current``; ``current`` is never deleted,
    nor anything newer than it."""
    if keep <= 0:
        return []
    older = [d for d in checkpoint_dirs(run_dir) if step_of(d) < step_of(current)]
    gone = older[:max(len(older) - (keep - 1), 0)]
    for d in gone:
        shutil.rmtree(d, ignore_errors=True)
    return gone


def save_checkpoint(accelerator, model, processor, run_dir: str | Path, step: int, state: dict, *,
                    keep: int = 2) -> Path:
    """Write ``checkpoints/step-<step>``; trainer_state.json goes last (atomically) and marks it complete."""
    out = Path(run_dir) / "checkpoints" / f"step-{step}"
    accelerator.save_state(str(out / "accelerate"))
    unwrapped, sd = hf_model_and_state(accelerator, model)   # ZeRO-3: gathered full weights (every rank calls)
    lora = hasattr(unwrapped, "peft_config")
    merged = merged_state_dict(unwrapped) if lora else None          # every rank: gathers ZeRO-3 shards
    if accelerator.is_main_process:
        if lora:
            save_lora(unwrapped, sd, merged, out)
        else:
            unwrapped.save_pretrained(out / "model", state_dict=sd, safe_serialization=True)
        if processor is not None:
            processor.save_pretrained(out / "model")
        write_json_atomic(out / STATE_FILE, {"step": step, **state})
        prune(run_dir, out, keep)
    accelerator.wait_for_everyone()
    return out


def hf_model_and_state(accelerator, model):
    """(the HF model to ``save_pretrained``, its full state dict) from the prepared model; a ``PassModule``
    wrapper's ``model.`` key prefix is removed so ``model/`` loads with ``from_pretrained``."""
    unwrapped = accelerator.unwrap_model(model)
    sd = accelerator.get_state_dict(model)
    inner = getattr(unwrapped, "model", None)
    if inner is not None and hasattr(inner, "save_pretrained") and not hasattr(unwrapped, "save_pretrained"):
        sd = {k.removeprefix("model."): v for k, v in sd.items()} if sd is not None else None
        unwrapped = inner
    return unwrapped, sd


def save_lora(peft_model, state_dict, merged: dict, out: Path) -> None:
    """``out/adapter`` (peft, relative base path) and ``out/model`` (merged weights, the base model's config)."""
    peft_model.save_pretrained(out / "adapter", state_dict=state_dict, safe_serialization=True)
    cfg_path = out / "adapter" / "adapter_config.json"
    cfg = json.loads(cfg_path.read_text())
    base = cfg.get("base_model_name_or_path")
    if base and Path(base).exists():
        cfg["base_model_name_or_path"] = os.path.relpath(Path(base).resolve(), (out / "adapter").resolve())
        cfg_path.write_text(json.dumps(cfg, indent=2))
    peft_model.get_base_model().save_pretrained(out / "model", state_dict=merged, safe_serialization=True)


def load_checkpoint(accelerator, ckpt: str | Path) -> dict:
    """Restore model/optimizer/scheduler/RNG from ``ckpt`` and return its trainer_state.json."""
    ckpt = Path(ckpt)
    state = read_state(ckpt)
    if state is None:
        raise FileNotFoundError(f"{ckpt} is not a complete checkpoint (trainer_state.json, accelerate/, model/)")
    accelerator.load_state(str(ckpt / "accelerate"))
    return state
