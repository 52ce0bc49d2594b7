"""Checkpoints: accelerate's ``save_state`` (model, optimizer, scheduler, RNG states; sharded under ZeRO-3) plus
``trainer_state.json`` (step, data position) and an HF-loadable model copy, in ``RUN/checkpoints/step-<k>/``."""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

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
    unwrapped, sd = hf_model_and_state(accelerator, model)   # ZeRO-3/FSDP: gathered full weights (every rank calls)
    if accelerator.is_main_process:
        unwrapped.save_pretrained(out / "model", state_dict=sd, safe_serialization=True)
        if processor is not None:
            processor.save_pretrained(out / "model")
        (out / STATE_FILE).write_text(json.dumps({"step": step, **state}, indent=1))
        for old in checkpoint_dirs(run_dir)[:-keep] if keep > 0 else []:
            shutil.rmtree(old, ignore_errors=True)
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


def load_checkpoint(accelerator, ckpt: str | Path) -> dict:
    """Restore model/optimizer/scheduler/RNG from ``ckpt`` and return its trainer_state.json."""
    ckpt = Path(ckpt)
    accelerator.load_state(str(ckpt / "accelerate"))
    return json.loads((ckpt / STATE_FILE).read_text())
