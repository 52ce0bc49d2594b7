"""One training run on this rank, launched by ``tests/trainer/test_distributed.py`` under ``torchrun``.

argv[1]: a JSON spec {"config": {...}, "out": dir, "resume": bool}. Writes ``out/rank<r>.pt`` with the prompt ids this
rank trained on per micro-batch, its view of the full weights before and after, and the metrics history.
"""
import json
import sys
from pathlib import Path

import torch

from video_ktr.config import config_from_dict
from video_ktr.trainer import RLTrainer
from video_ktr.trainer.passes import gathered_params


def register_test_reward() -> None:
    """``test_chars``: a deterministic reward that varies between the nano model's random completions (the real
    rewards are all 0 on 4 random tokens, so the update would be weight decay and KL only)."""
    from video_ktr.rewards import REWARDS

    if "test_chars" not in REWARDS:
        REWARDS.register("test_chars")(lambda completions, **_: [(sum(map(ord, c)) % 7) / 7 for c in completions])


def full_weights(trainer) -> dict:
    named = list(trainer.passes.model.named_parameters())
    with gathered_params([p for _, p in named], trainer.accelerator) as full:
        return {n: t.float().clone() for (n, _), t in zip(named, full)}


def main():
    spec = json.loads(Path(sys.argv[1]).read_text())
    register_test_reward()
    trainer = RLTrainer(config_from_dict(spec["config"]), resume=spec.get("resume", False)).setup()
    seen = []
    next_batch = trainer.data.next_batch

    def spy():
        b = next_batch()
        seen.append([r.problem_id for r in b.records])
        return b

    trainer.data.next_batch = spy
    start = full_weights(trainer)
    end = {}

    def on_step(step, _metrics):  # the last step's weights, before train() ends the process group
        if step == trainer.max_steps:
            end.update(full_weights(trainer))

    history = trainer.train(on_step=on_step)
    rank = trainer.accelerator.process_index
    out = Path(spec["out"])
    out.mkdir(parents=True, exist_ok=True)
    torch.save({"seen": seen, "start": start, "end": end, "history": history,
                "num_processes": trainer.accelerator.num_processes, "strategy": trainer.passes.strategy},
               out / f"rank{rank}.pt")


if __name__ == "__main__":
    main()
