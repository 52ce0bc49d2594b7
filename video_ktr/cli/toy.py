"""``video-ktr toy``: write tiny offline checkpoints and synthetic video-reasoning data."""
from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(help="Tiny offline Qwen-VL checkpoints and synthetic video tasks.", no_args_is_help=True)


@app.command("model")
def model(
    out_dir: Path = typer.Argument(..., help="Directory to write the checkpoint into."),
    family: str = typer.Option("qwen2_5_vl", help="Model family: qwen2_5_vl | qwen2_vl | qwen3_vl."),
    size: str = typer.Option("nano", help="nano (~0.25 M params, tests) | small (~1 M, CPU demo)."),
    tokenizer: str = typer.Option("bpe", help="bpe (toy BPE trained offline) | qwen (real Qwen2.5 vocabulary)."),
    seed: int = typer.Option(0, help="Weight-initialisation seed."),
) -> None:
    """Write a tiny random-weight Qwen-VL checkpoint loadable with from_pretrained (offline)."""
    from video_ktr.toy import build_tiny_vlm

    try:
        out = build_tiny_vlm(out_dir, family=family, size=size, tokenizer=tokenizer, seed=seed)
    except (ValueError, KeyError, ImportError) as e:
        raise typer.BadParameter(str(e)) from None
    typer.echo(f"wrote {family}/{size} checkpoint ({tokenizer} tokenizer) to {out}")


@app.command("data")
def data(
    out_dir: Path = typer.Argument(..., help="New directory for videos/, images/, train.json, eval.json, holmes/."),
    n: int = typer.Option(64, help="Number of training records."),
    n_eval: int = typer.Option(None, help="Number of held-out records (default n//4, at least 8)."),
    seed: int = typer.Option(0, help="Generation seed (same seed, same files)."),
    frames: int = typer.Option(16, help="Frames per clip (even, >= 4; written at 4 fps)."),
    size: int = typer.Option(64, help="Frame side in pixels (multiple of 4, >= 28)."),
    tasks: str = typer.Option(None, help="Comma-separated task names (each weight 1); default: the standard mix "
                                         "(first_colour, motion, flash_count, static_colour, image_colour)."),
    options: int = typer.Option(4, help="Options per multiple-choice question (2-4, shuffled), or 0: every colour/direction, fixed order."),
    colours: int = typer.Option(6, help="Palette size: the first k of red, green, blue, yellow, white, magenta."),
    cot: str = typer.Option("full", help="Chain of thought in `process`: full (sentences) | short (one fact)."),
) -> None:
    """Generate the synthetic video-reasoning dataset (Video-R1 schema + a Video-Holmes-format eval split)."""
    from video_ktr.toy import build_toy_data

    try:
        mix = {t.strip(): 1 for t in tasks.split(",") if t.strip()} if tasks else None
        out = build_toy_data(out_dir, n=n, n_eval=n_eval, seed=seed, frames=frames, size=size, mix=mix,
                             num_options=options, cot=cot, colours=colours)
    except (ValueError, KeyError, FileExistsError) as e:
        raise typer.BadParameter(str(e)) from None
    typer.echo(f"wrote synthetic data to {out} (train.json, eval.json, holmes/test_Video-Holmes.json)")
