"""``video-ktr data``: check a Video-R1-format dataset (schema + every media file) and unpack downloaded archives."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

app = typer.Typer(help="Video-R1 datasets: validate records and media, unpack downloaded archives.",
                  no_args_is_help=True)

MAX_LISTED = 50  # bad rows printed in full; the rest are counted


@app.command("check")
def check(
    data: Path = typer.Argument(..., help="Dataset file: a JSON list or JSONL of Video-R1 records."),
    root: Optional[Path] = typer.Option(None, help="Folder the records' relative paths resolve under "
                                                   "(default: the data file's folder)."),
    nframes: Optional[int] = typer.Option(None, help="Decode this many frames per video (default: budget's 2 fps)."),
    patch_multiple: int = typer.Option(28, help="Frame sides are rounded to this (28 Qwen2.5-VL, 32 Qwen3-VL)."),
    backend: str = typer.Option("pyav", help="Video decoding backend: pyav | torchcodec | decord."),
    no_media: bool = typer.Option(False, "--no-media", help="Validate the records only; do not open media files."),
    allow_outside_root: bool = typer.Option(False, "--allow-outside-root",
                                            help="Accept media paths that resolve outside the root."),
) -> None:
    """Validate every record and decode every media file; print a summary; exit 1 if anything is wrong."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
    from rich.table import Table

    from video_ktr.data.budget import MediaBudget
    from video_ktr.data.check import check_dataset

    console = Console()
    budget = MediaBudget() if nframes is None else MediaBudget(nframes=nframes)
    try:
        with Progress(TextColumn("[bold]decoding media"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                      console=console, transient=True) as bar:
            task = bar.add_task("media", total=None)
            result = check_dataset(data, root, budget=budget, patch_multiple=patch_multiple, backend=backend,
                                   open_media=not no_media, progress=lambda n: bar.advance(task, n),
                                   on_total=lambda n: bar.update(task, total=n),
                                   allow_outside_root=allow_outside_root)
    except (ValueError, FileNotFoundError, KeyError) as e:
        console.print(f"[red]error:[/red] {e}", soft_wrap=True, highlight=False)
        raise typer.Exit(2) from None

    table = Table(title=f"{data}: {result.num_rows} records")
    table.add_column("group")
    table.add_column("value")
    table.add_column("records", justify="right")
    for group, counter in (("data_type", result.by_data_type), ("problem_type", result.by_problem_type),
                           ("data_source", result.by_data_source)):
        for value, n in sorted(counter.items()):
            table.add_row(group, value, str(n))
    counts = result.counts
    for kind in ("invalid", "missing", "corrupt"):
        style = "red" if counts[kind] else "green"
        table.add_row("problems", kind, f"[{style}]{counts[kind]}[/{style}]")
    table.add_row("total", "ok", str(result.num_ok))
    console.print(table)
    if result.clamped:
        console.print(f"[yellow]{len(result.clamped)} records ask for more than the budget allows (lowered to its "
                      f"caps):[/yellow]")
        for line in result.clamped[:MAX_LISTED]:
            console.print(f"  {line}", markup=False, highlight=False, soft_wrap=True)
    if result.ok:
        console.print("[green]all records valid[/green]" + ("" if no_media else " and all media decodable"))
        return
    console.print(f"[red]{len(result.problems)} bad records:[/red]")
    for p in result.problems[:MAX_LISTED]:
        console.print(f"  [{p.kind}] {p.message}", markup=False, highlight=False, soft_wrap=True)
    if len(result.problems) > MAX_LISTED:
        console.print(f"  … and {len(result.problems) - MAX_LISTED} more")
    raise typer.Exit(1)


@app.command("prepare")
def prepare(
    folder: Path = typer.Argument(..., help="Downloaded Video-R1-data folder (archives next to the JSON files)."),
    force: bool = typer.Option(False, help="Unpack again archives already marked as unpacked (existing files are "
                                           "kept, never overwritten)."),
    max_gb: float = typer.Option(2048.0, help="Refuse an archive that unpacks to more than this many GB."),
    max_members: int = typer.Option(2_000_000, help="Refuse an archive with more members than this."),
    max_ratio: float = typer.Option(200.0, help="Refuse members / archives compressed more than this (zip bombs)."),
    nested: bool = typer.Option(False, help="Also unpack archives that came out of an archive."),
) -> None:
    """Unpack every .zip / .tar* archive under FOLDER in place (safely: nothing may land outside its folder)."""
    from rich.console import Console
    from rich.table import Table

    from video_ktr.data.prepare import Limits, prepare_folder

    console = Console()
    try:
        limits = Limits(max_bytes=int(max_gb * 1e9), max_members=max_members, max_ratio=max_ratio)
        results = prepare_folder(folder, force=force, limits=limits, nested=nested)
    except FileNotFoundError as e:
        console.print(f"[red]error:[/red] {e}", soft_wrap=True, highlight=False)
        raise typer.Exit(2) from None
    if not results:
        console.print(f"no archives (.zip, .tar, .tar.gz, …) found under {folder}")
        return
    table = Table(title=f"archives under {folder}")
    for col in ("archive", "status", "files", "MB"):
        table.add_column(col, justify="right" if col in ("files", "MB") else "left")
    for r in results:
        table.add_row(str(r.archive.relative_to(folder)), r.status, str(r.num_files), f"{r.num_bytes / 1e6:.1f}")
    console.print(table)
    bad = [r for r in results if r.status in ("refused", "failed")]
    for r in bad:
        console.print(f"[red]{r.status}:[/red] {r.message}", highlight=False, soft_wrap=True)
    if bad:
        raise typer.Exit(1)
