"""Checkpoints: accelerate's ``save_state`` (model, optimizer, scheduler, RNG states; sharded under ZeRO-3) plus
``trainer_state.json`` (step, data position) and an HF-loadable model copy, in ``RUN/checkpoints/step-<k>/``.

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

STATE_FILE = "trainer_state.json"
STEP_DIR = re.compile(r"^step-(\d+)$")


def checkpoint_dirs(run_dir: str | Path) -> list[Path]:
    """Complete checkpoints of a run, oldest first (a directory without trainer_state.json is incomplete)."""
    root = Path(run_dir) / "checkpoints"
    if not root.exists():
        return []
    dirs = [d for d in root.iterdir() if STEP_DIR.match(d.name) and (d / STATE_FILE).exists()]
    return sorted(dirs, key=lambda d: int(STEP_DIR.match(d.name).group(1)))


def latest_checkpoint(run_dir: str | Path) -> Path | None:
    dirs = checkpoint_dirs(run_dir)
    return dirs[-1] if dirs else None


def save_checkpoint(accelerator, model, processor, run_dir: str | Path, step: int, state: dict, *,
                    keep: int = 2) -> Path:
    """Write ``checkpoints/step-<step>`` atomically enough: trainer_state.json is written last (marks it complete)."""
    out = Path(run_dir) / "checkpoints" / f"step-{step}"
    accelerator.save_state(str(out / "accelerate"))
    unwrapped = accelerator.unwrap_model(model)
    sd = accelerator.get_state_dict(model)
    lora = hasattr(unwrapped, "peft_config")
    merged = merged_state_dict(unwrapped) if lora else None          # every rank: gathers ZeRO-3 shards
    if accelerator.is_main_process:
        if lora:
            save_lora(unwrapped, sd, merged, out)
        else:
            unwrapped.save_pretrained(out / "model", state_dict=sd, safe_serialization=True)
        if processor is not None:
            processor.save_pretrained(out / "model")
        (out / STATE_FILE).write_text(json.dumps({"step": step, **state}, indent=1))
        for old in checkpoint_dirs(run_dir)[:-keep] if keep > 0 else []:
            shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()
    return out


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
    accelerator.load_state(str(ckpt / "accelerate"))
    return json.loads((ckpt / STATE_FILE).read_text())
