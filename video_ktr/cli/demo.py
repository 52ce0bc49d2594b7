"""``video-ktr demo``: the embedded default job, runnable offline on a 2-core CPU."""
from __future__ import annotations

from pathlib import Path

import typer


def demo(out: Path = typer.Option(Path("runs/demo"), help="Run directory (created).")) -> None:
    """Build the toy model and synthetic data, then run one real forward pass with a decoded video."""
    import json
    import shutil

    import av
    import numpy as np
    import torch
    from transformers import AutoModelForImageTextToText, AutoProcessor

    from video_ktr.toy import build_tiny_vlm, build_toy_data

    if out.exists():
        shutil.rmtree(out)
    model_dir = build_tiny_vlm(out / "model", size="small")
    data_dir = build_toy_data(out / "data", n=32)
    typer.echo(f"built toy model at {model_dir} and synthetic data at {data_dir}")
    rec = next(r for r in json.loads((data_dir / "eval.json").read_text()) if r["data_type"] == "video")
    with av.open(str(data_dir / rec["path"])) as c:
        frames = np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)])[::2]
    proc = AutoProcessor.from_pretrained(model_dir)
    model = AutoModelForImageTextToText.from_pretrained(model_dir)
    msgs = [{"role": "user", "content": [{"type": "video"}, {"type": "text", "text": rec["problem"]}]}]
    text = proc.apply_chat_template(msgs, add_generation_prompt=True, tokenize=False)
    inputs = proc(text=[text], videos=[frames], return_tensors="pt")
    with torch.no_grad():
        logits = model(**inputs).logits
    typer.echo(f"forward pass: {frames.shape[0]} frames -> {int(inputs['video_grid_thw'].prod())} patches, "
               f"{inputs['input_ids'].shape[1]} tokens, logits {tuple(logits.shape)}")
