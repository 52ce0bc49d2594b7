"""``video-ktr infer``: one video (or image) + one question with the reference template and eval decoding."""
from __future__ import annotations

from pathlib import Path

import typer


def infer_cmd(
    model: str = typer.Option(..., "--model", "-m", help="Checkpoint dir or hub id."),
    question: str = typer.Option(..., "--question", "-q"),
    video: Path = typer.Option(None, "--video", help="A video file."),
    image: Path = typer.Option(None, "--image", help="An image file (instead of --video)."),
    type_: str = typer.Option("multiple choice", "--type", help="multiple choice | numerical | OCR | free-form | "
                              "regression (also 'multiple-choice')."),
    options: list[str] = typer.Option(None, "--options", "-o", help="An option 'A. text' (repeat), or one string "
                                      "with options separated by ';' or newlines."),
    frames: int = typer.Option(32, help="Frames sampled uniformly from the video."),
    max_pixels: int = typer.Option(256 * 28 * 28, help="Per-frame pixel cap."),
    template: str = typer.Option("reasoning", help="Prompt template (reasoning, video_holmes, direct)."),
    greedy: bool = typer.Option(False), max_new_tokens: int = typer.Option(1024), seed: int = typer.Option(0),
    show_key_tokens: bool = typer.Option(False, help="Mark the answer's high-entropy / visual-aware / "
                                         "temporal-aware tokens (KTR probes, top 20 % each)."),
) -> None:
    """Answer one question about a video or image; print the reasoning and the answer."""
    from rich.console import Console

    from video_ktr.eval import Decoding, EvalItem, make_backend
    from video_ktr.eval.runner import eval_budget
    from video_ktr.data import load_media
    from video_ktr.rewards import extract_answer

    if (video is None) == (image is None):
        raise typer.BadParameter("give exactly one of --video or --image")
    media_path = video or image
    if not media_path.is_file():
        raise typer.BadParameter(f"{media_path} does not exist")
    ptype = type_.replace("-", " ") if type_.lower().startswith("multiple") else type_
    opts = _split_options(options or [])
    if ptype == "multiple choice" and not opts:
        raise typer.BadParameter("--type multiple choice needs --options (e.g. -o 'A. red' -o 'B. blue')")
    item = EvalItem(id="0", question=question, options=opts, answer="", problem_type=ptype,
                    data_type="video" if video else "image", media_path=media_path)
    gen = make_backend(model, decoding=Decoding(max_new_tokens=max_new_tokens, greedy=greedy, seed=seed))
    record = item.to_record("infer")
    media = load_media(record, eval_budget(frames, max_pixels), gen.patch_multiple())
    out = gen.generate([record], [media], template, seed=seed)[0]
    console = Console()
    console.print(f"[dim]{media.kind}: {media.num_frames} frame(s) {media.frames.shape[2]}×{media.frames.shape[1]}"
                  f" · template {template} · {out.num_tokens} tokens[/]")
    think_start, think_end = out.text.find("<think>"), out.text.find("</think>")
    if 0 <= think_start < think_end:
        console.print("[bold]reasoning[/]\n" + out.text[think_start + 7:think_end].strip())
    else:
        console.print("[bold]output[/]\n" + out.text.strip())
    answer = extract_answer(out.text)
    console.print(f"[bold]answer[/] {answer if answer is not None else '(no <answer> tag)'}")
    if show_key_tokens:
        from video_ktr.eval.keytokens import key_tokens, render_key_tokens

        console.print(render_key_tokens(key_tokens(gen, record, media, out.text, template=template)))


def _split_options(options: list[str]) -> list[str]:
    if len(options) == 1 and any(sep in options[0] for sep in (";", "\n")):
        options = [o for o in options[0].replace("\n", ";").split(";")]
    return [o.strip() for o in options if o.strip()]
