"""``video-ktr sft``: CoT-SFT warm-up on records with ``process`` + ``solution`` (loss on the answer only)."""
from __future__ import annotations

from pathlib import Path

import typer

CTX = {"allow_extra_args": True, "ignore_unknown_options": True}


def sft(ctx: typer.Context,
        config: Path = typer.Option(..., "--config", "-c", help="YAML config (model/data/optim/sft sections)."),
        out: Path = typer.Option(Path("runs/sft"), "--out", help="Output dir; the checkpoint goes to OUT/model."),
        max_steps: int = typer.Option(None, "--max-steps", help="Override sft.max_steps."),
        overwrite: bool = typer.Option(False, "--overwrite", help="OUT holds an SFT run: move it aside to "
                                                                   "OUT.old-<time> and start afresh.")) -> None:
    """Supervised chain-of-thought warm-up; extra args are dotted config overrides (``sft.lr=1e-5``)."""
    from video_ktr.config import load_config, parse_overrides
    from video_ktr.trainer.rundir import RunDirError
    from video_ktr.trainer.sft import run_sft

    over = parse_overrides(list(ctx.args))
    if max_steps is not None:
        over.setdefault("sft", {})["max_steps"] = max_steps
    try:
        cfg = load_config(config, over)
    except (KeyError, ValueError) as e:
        raise typer.BadParameter(str(e).strip('"')) from None
    try:
        ckpt = run_sft(cfg, out, overwrite=overwrite)
    except (FileNotFoundError, RunDirError) as e:
        typer.secho(f"error: {e}", fg="red", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"sft checkpoint: {ckpt}")
