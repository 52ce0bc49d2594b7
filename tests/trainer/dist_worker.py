"""One training run on this rank, launched by ``tests/trainer/test_distributed.py`` under ``torchrun``.

argv[1]: a JSON spec {"config": {...}, "out": dir, "resume": bool, "resume_from": k | null}. Writes
``out/rank<r>.pt`` with the prompt ids this rank trained on per micro-batch, its view of the full weights before and
after, the metrics history and, with ``resume_from: k``, what a second trainer logged and ended with after resuming
a copy of the run from its step-``k`` checkpoint in the same processes (a new model, optimizer, data source and
accelerator, restored from the checkpoint files only; cheaper than a second ``torchrun``).
"""
import json
import shutil
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


def sharding(trainer) -> dict:
    """How this rank holds the policy and the reference: the names of parameters that are not DTensors (FSDP2
    shards the rest), and the local element count of the DTensors against their full one."""
    out = {}
    for name, mod in (("policy", trainer.passes.policy), ("reference", trainer.passes.reference)):
        if mod is None:
            continue
        named = list(mod.named_parameters())
        dt = [p for _, p in named if hasattr(p, "to_local")]
        out[name] = {"plain": [n for n, p in named if not hasattr(p, "to_local")], "params": len(named),
                     "local": sum(p.to_local().numel() for p in dt), "full": sum(p.numel() for p in dt)}
    return out


def run(cfg: dict, *, resume: bool, keep_group: bool = False) -> dict:
    trainer = RLTrainer(config_from_dict(cfg), resume=resume).setup()
    if keep_group:  # another trainer follows in these processes: keep the process group train() would end
        acc = trainer.accelerator
        acc.end_training = lambda: [t.finish() for t in acc.trackers]
    seen = []
    next_batch = trainer.data.next_batch

    def spy():
        b = next_batch()
        seen.append([r.problem_id for r in b.records])
        return b

    trainer.data.next_batch = spy
    start = full_weights(trainer)
    shards = sharding(trainer)
    end = {}

    def on_step(step, _metrics):  # the last step's weights, before train() ends the process group
        if step == trainer.max_steps:
            end.update(full_weights(trainer))

    history = trainer.train(on_step=on_step)
    return {"seen": seen, "start": start, "end": end, "history": history, "sharding": shards,
            "num_processes": trainer.accelerator.num_processes, "strategy": trainer.passes.strategy,
            "rank": trainer.accelerator.process_index}


def copy_run_until(run: Path, dst: Path, step: int) -> None:
    """``dst``: the run directory as if it had been interrupted after the step-``step`` checkpoint (rank 0)."""
    shutil.copytree(run, dst)
    for d in (dst / "checkpoints").iterdir():
        if int(d.name.split("-")[1]) > step:
            shutil.rmtree(d)


def fresh_accelerate_state() -> None:
    """Let a second ``Accelerator`` take its own plugins (accelerate refuses a DeepSpeed plugin on a second one) on
    the same process group: clear the accelerator/gradient singletons, keep the process state, whose distributed
    type an FSDP accelerator had overwritten."""
    from accelerate.state import AcceleratorState, GradientState, PartialState
    from accelerate.utils import DistributedType

    AcceleratorState._reset_state()
    GradientState._reset_state()
    if PartialState._shared_state.get("distributed_type") == DistributedType.FSDP:
        PartialState._shared_state["distributed_type"] = DistributedType.MULTI_CPU


def main():
    spec = json.loads(Path(sys.argv[1]).read_text())
    register_test_reward()
    k = spec.get("resume_from")
    result = run(spec["config"], resume=spec.get("resume", False), keep_group=k is not None)
    if k is not None:
        cfg = json.loads(json.dumps(spec["config"]))
        run_dir = Path(cfg["trainer"]["output_dir"])
        cfg["trainer"]["output_dir"] = str(run_dir.with_name(run_dir.name + "-resumed"))
        if result["rank"] == 0:
            copy_run_until(run_dir, Path(cfg["trainer"]["output_dir"]), k)
        torch.distributed.barrier()
        fresh_accelerate_state()
        result["resumed"] = run(cfg, resume=True)
    out = Path(spec["out"])
    out.mkdir(parents=True, exist_ok=True)
    torch.save(result, out / f"rank{result['rank']}.pt")


if __name__ == "__main__":
    main()
