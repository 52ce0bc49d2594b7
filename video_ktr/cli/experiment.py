"""``video-ktr experiment``: the same-data comparison — one SFT checkpoint, N paired seeds × methods, held-out table."""
from __future__ import annotations

from pathlib import Path

import typer

CTX = {"allow_extra_args": True, "ignore_unknown_options": True}


def experiment(ctx: typer.Context,
               config: Path = typer.Option(..., "--config", "-c", help="Shared YAML config (see configs/)."),
               method: list[str] = typer.Option(["grpo", "ktr"], "--method", "-m",
                                                help="An algorithm preset, or 'label=algorithm key=value ...' "
                                                     "(e.g. 'ktr_none=ktr ktr.on_constant=none'); repeat. The "
                                                     "first is the baseline of the paired differences."),
               seeds: str = typer.Option("5", "--seeds", help="N = paired seeds 0..N-1, or a list '3,4' (each "
                                                            "seed: same prompts and sampling seed for every "
                                                            "method; finished runs are reused, so two processes "
                                                            "can split the seeds and a last call tabulates all)."),
               out: Path = typer.Option(Path("runs/experiment"), "--out", help="Output dir (resumable)."),
               init: str = typer.Option(None, "--init", help="Starting checkpoint (default: train one CoT-SFT "
                                                             "checkpoint with the config's sft section)."),
               train: str = typer.Option(None, "--train", help="Video-R1 JSON/JSONL of training records "
                                                               "(overrides data.train_path)."),
               eval_path: str = typer.Option(None, "--eval", help="Held-out Video-R1 JSON/JSONL "
                                                                  "(overrides data.eval_path)."),
               steps: int = typer.Option(None, "--steps", help="RL steps per run (overrides trainer.max_steps).")
               ) -> None:
    """Same data, several methods, paired seeds: OUT/experiment.md (table), experiment.json, curves.png.
    Extra args are shared config overrides (``optim.lr=1e-4``)."""
    from video_ktr.config import parse_overrides
    from video_ktr.trainer.experiment import Method, run_experiment

    over = parse_overrides(list(ctx.args))
    if train:
        over.setdefault("data", {})["train_path"] = train
    if eval_path:
        over.setdefault("data", {})["eval_path"] = eval_path
    if steps is not None:
        over.setdefault("trainer", {})["max_steps"] = steps
    try:
        methods = [Method.parse(m) for m in method]
        seed_list = [int(x) for x in seeds.split(",") if x.strip()] if "," in seeds else list(range(int(seeds)))
        if not seed_list or min(seed_list) < 0:
            raise ValueError(f"--seeds {seeds}: give N >= 1 or a list of seeds >= 0")
        run_experiment(config, over, methods, seed_list, out, init=init, echo=typer.echo)
    except (KeyError, ValueError, FileNotFoundError) as e:
        raise typer.BadParameter(str(e).strip('"')) from None
    typer.echo((out / "experiment.md").read_text())
    typer.echo(f"-> {out}/experiment.md, experiment.json, curves.png")
