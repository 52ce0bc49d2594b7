"""``video-ktr``: the command-line entry point. Each stage adds its sub-commands from its own ``cli/<stage>.py``.

Heavy imports (torch, transformers) happen inside the commands, so ``--help`` stays fast.
"""
from __future__ import annotations

import typer

from video_ktr.cli import analyze as _analyze
from video_ktr.cli import demo as _demo
from video_ktr.cli import eval as _eval
from video_ktr.cli import experiment as _experiment
from video_ktr.cli import infer as _infer
from video_ktr.cli import toy as _toy
from video_ktr.cli import sft as _sft
from video_ktr.cli import train as _train
from video_ktr.cli.data import app as data_app

app = typer.Typer(
    name="video-ktr",
    help="Key-Token Reinforcement (KTR) post-training for video multimodal LLMs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)
app.add_typer(_toy.app, name="toy")
app.add_typer(data_app, name="data")
app.command("demo")(_demo.demo)
app.command("train", context_settings=_train.CTX)(_train.train)
app.command("sft", context_settings=_sft.CTX)(_sft.sft)
app.command("experiment", context_settings=_experiment.CTX)(_experiment.experiment)
app.add_typer(_analyze.app, name="analyze")
app.command("eval")(_eval.eval_cmd)
app.command("infer")(_infer.infer_cmd)


if __name__ == "__main__":
    app()
