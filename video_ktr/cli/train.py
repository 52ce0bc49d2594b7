"""``video-ktr train``: RL post-training from a YAML config with dotted overrides."""
from __future__ import annotations

from pathlib import Path

import typer

CTX = {"allow_extra_args": True, "ignore_unknown_options": True}


def train(ctx: typer.Context,
          config: Path = typer.Option(..., "--config", "-c", help="YAML config (see configs/)."),
          max_steps: int = typer.Option(None, "--max-steps", help="Override trainer.max_steps."),
          output_dir: str = typer.Option(None, "--output-dir", "--out", help="Override trainer.output_dir."),
          algorithm: str = typer.Option(None, "--algorithm", help="grpo | ktr | t_grpo | dapo | dr_grpo."),
          resume: bool = typer.Option(False, "--resume", help="Continue from the run's newest complete checkpoint "
                                                               "(its defining settings must match this config)."),
          overwrite: bool = typer.Option(False, "--overwrite", help="The output dir holds a run: move it aside to "
                                                                     "<dir>.old-<time> and start afresh."),
          force_resume: bool = typer.Option(False, "--force-resume", help="--resume even though settings that "
                                                                           "define the run changed (listed)."),
          dry_run: bool = typer.Option(False, "--dry-run", help="Build and check the config, print it resolved "
                                                                  "(YAML), and exit without loading anything.")) -> None:
    """Train with GRPO-family RL (KTR by default). Extra args are overrides: ``--ktr.visual_ratio 0.3`` or
    ``ktr.visual_ratio=0.3``."""
    from video_ktr.config import load_config, parse_overrides
    from video_ktr.data import MediaError
    from video_ktr.trainer import NonFiniteError, RLTrainer
    from video_ktr.trainer.rundir import RunDirError, claim_run_dir

    over = parse_overrides(list(ctx.args))
    if max_steps is not None:
        over.setdefault("trainer", {})["max_steps"] = max_steps
    if output_dir is not None:
        over.setdefault("trainer", {})["output_dir"] = output_dir
    if algorithm is not None:
        over["algorithm"] = algorithm
    try:
        cfg = load_config(config, over)
    except (KeyError, ValueError) as e:
        raise typer.BadParameter(str(e).strip('"')) from None
    if dry_run:
        import yaml

        from video_ktr.config import config_to_dict

        typer.echo(yaml.safe_dump(config_to_dict(cfg), sort_keys=False), nl=False)
        _dry_run_deepspeed(cfg)
        return
    run_dir = Path(cfg.trainer.output_dir)
    resume = resume or force_resume
    try:
        claim_run_dir(run_dir, resume=resume, overwrite=overwrite)  # before eval/before is written
    except RunDirError as e:
        typer.secho(f"error: {e}", fg="red", err=True)
        raise typer.Exit(2) from None
    if cfg.eval.before and cfg.data.eval_path and not resume:
        _eval(cfg, cfg.model.path, run_dir / "eval" / "before")
    try:
        trainer = RLTrainer(cfg, resume=resume, overwrite=overwrite, force_resume=force_resume).setup()
        history = trainer.train()
    except (NonFiniteError, FileNotFoundError, RunDirError, MediaError) as e:
        typer.secho(f"error: {e}", fg="red", err=True)
        raise typer.Exit(2) from None
    if history:
        last = history[-1]
        skipped = int(sum(h.get("data/skipped_media", 0) for h in history))
        typer.echo(f"done: {len(history)} steps -> {run_dir} (reward/mean {last['reward/mean']:.3f})"
                   + (f"; {skipped} prompts skipped for bad media (data.on_error: skip)" if skipped else ""))
    if cfg.eval.after and cfg.data.eval_path:
        _eval(cfg, run_dir / "checkpoints" / f"step-{trainer.step_done}" / "model", run_dir / "eval" / "after")


def _eval(cfg, ckpt, out: Path) -> None:
    """Held-out evaluation of ``ckpt`` on ``data.eval_path`` through the benchmark harness."""
    from video_ktr.trainer.report import evaluate_checkpoint

    res = evaluate_checkpoint(cfg, ckpt, out)
    typer.echo(f"eval {out.name}: accuracy {res['eval/accuracy']:.3f}, format {res['eval/format']:.3f} "
               f"({res['eval/n']} records) -> {out}")


def _dry_run_deepspeed(cfg) -> None:
    """--dry-run with a DeepSpeed config (trainer.deepspeed or `accelerate launch`): print it resolved for WORLD_SIZE
    processes (reads the model's config.json for the ZeRO-3 bucket sizes; loads no weights)."""
    import json
    import os

    from video_ktr.trainer.setup import build_deepspeed_config

    n = int(os.environ.get("WORLD_SIZE", "1"))
    ds = build_deepspeed_config(cfg, n)
    if ds is not None:
        typer.echo(f"# deepspeed, resolved for {n} process(es):\n" + json.dumps(ds, indent=1))
