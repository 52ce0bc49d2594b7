"""``video-ktr eval``: benchmarks × frame budgets with one loaded model; resumable, with a progress bar and ETA."""
from __future__ import annotations

from pathlib import Path

import typer


def parse_frames(spec: str) -> list[int | None]:
    """"16,32" → [16, 32]; "fps" → [None] (the training sampling: 2 fps, 4–16 frames)."""
    out: list[int | None] = []
    for part in spec.split(","):
        part = part.strip()
        if part == "fps":
            out.append(None)
        elif part.isdigit() and int(part) >= 2:
            out.append(int(part))
        else:
            raise typer.BadParameter(f"--frames {spec!r}: give frame counts like 16,32,64 (or 'fps')")
    return out


def eval_cmd(
    bench: list[str] = typer.Option(..., "--bench", "-b", help="Benchmark(s): holmes, videomme, mmvu, videommmu, "
                                    "video_r1. Repeat for several, each with its own --data."),
    data: list[Path] = typer.Option(..., "--data", "-d", help="Benchmark folder (or annotation file), one per --bench."),
    model: str = typer.Option(None, "--model", "-m", help="Checkpoint dir or hub id (not needed with --no-media)."),
    out: Path = typer.Option(Path("runs/eval"), help="Results go to OUT/<bench>/frames<N>/ (resumable)."),
    frames: str = typer.Option("32", help="Frame budget(s), e.g. 16 or 16,32,64 for a sweep; 'fps' = 2 fps ≤ 16."),
    max_pixels: int = typer.Option(256 * 28 * 28, help="Per-frame pixel cap (reference eval: 200704)."),
    scorer: str = typer.Option(None, help="Override the benchmark's official scorer (e.g. strict)."),
    template: str = typer.Option(None, help="Override the benchmark's prompt template (reasoning, video_holmes…)."),
    batch_size: int = typer.Option(8, help="Questions per generate() call."),
    limit: int = typer.Option(None, help="Only the first N questions (smoke runs)."),
    greedy: bool = typer.Option(False, help="Argmax decoding instead of the reference sampling."),
    temperature: float = typer.Option(0.1), top_p: float = typer.Option(0.001),
    max_new_tokens: int = typer.Option(1024),
    seed: int = typer.Option(0),
    backend: str = typer.Option("hf", help="hf (transformers) or vllm (optional extra, GPU)."),
    skip_missing: bool = typer.Option(False, help="Evaluate the questions whose video exists; count the rest."),
    bad_media: str = typer.Option("skip", help="Media that cannot be decoded during the run: 'skip' (counted in "
                                  "the summary, not retried by a rerun) or 'raise'."),
    no_media: bool = typer.Option(False, "--no-media", help="Only read and validate the annotation files (no "
                                  "model, no videos): print what each benchmark holds."),
    overwrite: bool = typer.Option(False, help="Discard earlier results in the output dirs instead of resuming."),
) -> None:
    """Evaluate a model on benchmarks with their official scorers; print one table per benchmark × budget."""
    from rich.console import Console
    from rich.markdown import Markdown
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                               TimeRemainingColumn)

    from video_ktr.eval import BENCHMARKS, Decoding, evaluate
    from video_ktr.eval.runner import LazyBackend

    if len(bench) != len(data):
        raise typer.BadParameter(f"got {len(bench)} --bench but {len(data)} --data; give one --data per --bench")
    for b in bench:
        BENCHMARKS.get(b)
    if no_media:
        for b, d in zip(bench, data):
            typer.echo(f"{b}: {metadata_report(b, d)}")
        return
    if not model:
        raise typer.BadParameter("--model is required (unless --no-media)")
    budgets = parse_frames(frames)
    decoding = Decoding(temperature=temperature, top_p=top_p, max_new_tokens=max_new_tokens, greedy=greedy,
                        seed=seed)
    console = Console()
    gen = None
    tables = []
    for b, d in zip(bench, data):
        for f in budgets:
            run_dir = out / b / (f"frames{f}" if f else "fps")
            with Progress(TextColumn(f"[bold]{b}[/] {f or 'fps'} frames"), BarColumn(), MofNCompleteColumn(),
                          TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(), console=console) as bar:
                task = bar.add_task(b, total=None)

                def progress(done: int, total: int) -> None:
                    bar.update(task, completed=done, total=total)

                gen = gen or LazyBackend(model, backend=backend, decoding=decoding)   # loaded only if needed
                summary = evaluate(gen, b, d, run_dir, frames=f, max_pixels=max_pixels, scorer=scorer,
                                   template=template, decoding=decoding, batch_size=batch_size, limit=limit,
                                   on_missing="skip" if skip_missing else "raise", on_bad_media=bad_media,
                                   backend=backend, overwrite=overwrite, progress=progress, model_name=model)
            tables.append((run_dir / "summary.md").read_text())
            console.print(Markdown(tables[-1]))
            if summary["skipped"]:
                console.print(f"[yellow]{sum(summary['skipped'].values())} question(s) skipped: media could not be "
                              f"decoded ({summary['skipped_media'][:3]})[/]")
            console.print(f"results: {run_dir}/results.jsonl · summary: {run_dir}/summary.json"
                          + "".join(f" · {k} export: {v}" for k, v in summary["exports"].items()))
    if len(tables) > 1:
        out.mkdir(parents=True, exist_ok=True)
        (out / "summary.md").write_text("\n".join(tables))


def metadata_report(bench: str, data: Path) -> str:
    """What the annotation files of ``bench`` hold (read and validated; media not opened): counts per group."""
    from collections import Counter

    from video_ktr.eval import BENCHMARKS

    load = BENCHMARKS.get(bench).load(Path(data), check_media=False)
    counts = {k: dict(sorted(Counter(it.groups[k] for it in load.items).items()))
              for k in (load.items[0].groups if load.items else {})}
    return load.summary() + "".join(f"\n  {k}: {v}" for k, v in counts.items())
