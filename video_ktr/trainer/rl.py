"""The RL recipe: GRPO-family training of a video VLM, with Key-Token Reinforcement (KTR) as the default method.

How we depart from vanilla GRPO (METHOD.md §1): after the policy, reference and counterfactual *probe* passes
(vision hidden; frames shuffled), every token gets three scores — next-token entropy, visual dependence and temporal
dependence; per prompt group the top ``ratio`` of each is selected and the loss is kept only on the union (the key
tokens). ``algorithm:`` picks a preset (config.ALGORITHMS): grpo · ktr · t_grpo (extra rollouts on shuffled frames
+ temporal bonus) · dapo (clip-higher, token-mean, no KL, dynamic sampling) · dr_grpo (no std scaling, constant norm).

Every model pass goes through the prepared policy (``trainer/passes.py``): DDP, DeepSpeed ZeRO-2/3, FSDP2 and
accelerate see every forward. On N processes each rank rolls out its own prompts of one shared order (``trainer/batches.py``);
sampling and probe permutations are seeded per (seed, step, global position), so a run does not depend on how the
global batch is split over processes and micro-batches.

    accelerate launch --config_file configs/accelerate/zero3.yaml -m video_ktr.cli.main train \
        --config configs/video_ktr_qwen2_5_vl_7b.yaml
    accelerate launch --config_file configs/accelerate/fsdp2.yaml -m video_ktr.cli.main train --config ...
    OMP_NUM_THREADS=1 ACCELERATE_USE_CPU=true torchrun --nproc_per_node 2 -m video_ktr.cli.main train --config ...
        [trainer.fsdp=true]
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from video_ktr.config import Config, config_to_dict, dump_config
from video_ktr.rollout import PromptBatch, Rollout, build_engine
from video_ktr.trainer.advantages import group_advantages, informative_groups
from video_ktr.trainer.checkpoint import drop_after, latest_checkpoint, load_checkpoint, read_state, save_checkpoint
from video_ktr.trainer.resample import refill_uninformative
from video_ktr.trainer.rundir import check_resume, claim_run_dir, defining_settings
from video_ktr.trainer.runlog import RunLogger, Timer
from video_ktr.trainer.passes import PassModule, Passes
from video_ktr.trainer.scoring import (compute_loss, fast_temporal_after_policy, probe_outputs, sample_rows,
                                       score_rewards, seed_of, select_keys, shuffled_accuracy, wants_policy_vision)
from video_ktr.trainer.setup import (build_accelerator, build_optimizer, build_scheduler, clip_norm, load_policy,
                                     prepare_reference, torch_optimizer)


def check_signals_for_data(cfg: Config, records) -> None:
    """The temporal signal needs videos: on image-only data ``ktr.signals=[temporal]`` would select no token (no
    update, ever) — refused; with other signals beside it, it only contributes nothing — warned."""
    if not cfg.ktr.enabled or "temporal" not in cfg.ktr.signals or any(r.is_video for r in records):
        return
    if set(cfg.ktr.signals) == {"temporal"}:
        raise ValueError(f"ktr.signals={list(cfg.ktr.signals)} on image-only data ({cfg.data.train_path}): the "
                         f"temporal signal applies to videos only, so no token would ever be selected; add entropy "
                         f"or visual to ktr.signals")
    warnings.warn(f"ktr.signals includes 'temporal' but {cfg.data.train_path} holds no video: only "
                  f"{[s for s in cfg.ktr.signals if s != 'temporal']} select tokens", stacklevel=2)


class NonFiniteError(RuntimeError):
    """A NaN/inf loss, reward or gradient: the run stops instead of training on garbage."""


@dataclass
class MicroBatch:
    """One prompt batch after rollout and scoring, ready for the policy update."""

    batch: PromptBatch
    ro: Rollout
    rewards: Tensor          # (N,) total reward
    per_reward: dict         # name -> (N,) tensor (NaN = not applicable)
    adv: Tensor              # (N,)
    valid: Tensor            # (N, T) bool: tokens that may carry loss (mask_truncated / dynamic sampling applied)
    logp_ref: Tensor | None  # (N, T)
    probes: dict             # signal -> CompletionOutput of the counterfactual pass
    logp_old: Tensor | None = None
    key_mask: Tensor | None = None
    key_metrics: dict | None = None
    first_prompt: int = 0    # global position of its first prompt in the step (seeds its probe permutations)


class RLTrainer:
    """``setup()`` builds everything from the config, ``step(k)`` is one rollout → update step, ``train()`` loops."""

    def __init__(self, cfg: Config, *, resume: bool = False, overwrite: bool = False, force_resume: bool = False):
        """resume: continue from the newest complete checkpoint (its defining settings must match, unless
        ``force_resume``). A fresh run into a used run directory is refused unless ``overwrite`` (moved aside)."""
        self.cfg, self.resume, self.overwrite, self.force_resume = cfg, resume, overwrite, force_resume
        self.run_dir = Path(cfg.trainer.output_dir)

    # ------------------------------------------------------------------------------------------------ setup
    def setup(self) -> "RLTrainer":
        from video_ktr.trainer.batches import PromptSource

        cfg = self.cfg
        claim_run_dir(self.run_dir, resume=self.resume, overwrite=self.overwrite)  # before any rank writes
        ckpt = latest_checkpoint(self.run_dir) if self.resume else None          # newest *complete* checkpoint
        if ckpt is not None:                                                      # refused before any model loads
            diffs = check_resume(self.run_dir, read_state(ckpt), config_to_dict(cfg), force=self.force_resume)
            if diffs:
                print("--force-resume with changed settings:\n  " + "\n  ".join(diffs))
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.accelerator = acc = build_accelerator(cfg)
        torch.manual_seed(cfg.trainer.seed)
        policy, self.processor = load_policy(cfg.model)
        reference = load_policy(cfg.model, trainable=False)[0] if cfg.loss.beta > 0 else None  # β = 0: none
        self.data = PromptSource.from_config(cfg, self.processor, num_processes=acc.num_processes,
                                             rank=acc.process_index, grad_accum=cfg.trainer.grad_accum)
        check_signals_for_data(cfg, self.data.records)
        self.max_steps = cfg.trainer.max_steps if cfg.trainer.max_steps > 0 else \
            cfg.trainer.num_epochs * self.data.steps_per_epoch()
        opt, _ = build_optimizer(policy, cfg.optim, self.max_steps * cfg.loss.num_iterations)
        self.policy, self.optimizer = acc.prepare(PassModule(policy), opt)
        # the schedule is ours, stepped once per optimizer step (not accelerate's num_processes steps per call);
        # built on the optimizer ZeRO really steps, and checkpointed by save_state
        self.scheduler = build_scheduler(torch_optimizer(self.optimizer), cfg.optim,
                                         self.max_steps * cfg.loss.num_iterations)
        acc.register_for_checkpointing(self.scheduler)
        self.reference = prepare_reference(reference, acc) if reference is not None else None
        self.passes = Passes(acc, self.policy, self.reference, chunk_size=cfg.trainer.logprob_chunk_size)
        self.engine = build_engine(cfg.rollout.engine, model_path=cfg.model.path, temperature=cfg.rollout.temperature,
                                   top_p=cfg.rollout.top_p, top_k=cfg.rollout.top_k,
                                   max_new_tokens=cfg.rollout.max_new_tokens, seed=cfg.trainer.seed,
                                   gpu_memory_utilization=cfg.rollout.vllm_gpu_memory_utilization,
                                   max_model_len=cfg.rollout.vllm_max_model_len,
                                   synced_gpus=self.passes.lockstep)
        self.step_done = 0
        if self.resume and ckpt is None:
            acc.print(f"--resume: no complete checkpoint under {self.run_dir / 'checkpoints'}; starting from step 0")
        if ckpt is not None:
            state = load_checkpoint(acc, ckpt)
            self.step_done = int(state["step"])
            self.data.load_state_dict(state["data"])
            acc.print(f"resumed from {ckpt} (step {self.step_done})")
        if self.resume and acc.is_main_process:  # torn / newer step dirs and log rows past the resumed step go
            for d in drop_after(self.run_dir, self.step_done):
                acc.print(f"--resume: removed incomplete checkpoint {d}")
        acc.wait_for_everyone()
        if acc.is_main_process:
            dump_config(cfg, self.run_dir / "config.yaml")
        self.log = RunLogger(self.run_dir, acc, resume_step=self.step_done if self.resume else None)
        if acc.trackers == [] and cfg.trainer.report_to:  # TensorBoard drops its events past the resumed step
            kw = {"tensorboard": {"purge_step": self.step_done + 1}} if self.resume else {}
            acc.init_trackers(cfg.trainer.project, init_kwargs=kw)
            flat = tracker_config(cfg)
            for tracker in acc.trackers:  # the run config: W&B config / TensorBoard text (hparams would add a dir)
                if tracker.name == "tensorboard":
                    tracker.writer.add_text("config", "\n".join(f"    {k}: {v}" for k, v in flat.items()), 0)
                else:
                    tracker.store_init_configuration(flat)
        return self

    @property
    def unwrapped(self):
        """The HF model inside the prepared wrapper (generation config, tokenizer ids; parameters may be sharded)."""
        return self.passes.model

    # ------------------------------------------------------------------------------------------------ one step
    def step(self, step: int) -> dict[str, float]:
        """One optimizer step: rollouts → rewards → advantages → reference/probe passes → key tokens → loss → update."""
        cfg, acc, t, passes = self.cfg, self.accelerator, Timer(), self.passes
        micro: list[MicroBatch] = []
        resample_rounds: list[int] = []
        for a in range(cfg.trainer.grad_accum):
            batch = self.data.next_batch()
            gm = acc.process_index * cfg.trainer.grad_accum + a                 # global micro-batch index
            first = gm * cfg.rollout.batch_size                                  # global position of its 1st prompt
            torch.manual_seed(seed_of(cfg.trainer.seed, step, gm, "rollout"))    # sampling: per rank and micro-batch
            with t("rollout"):                                                   # 1. G completions per prompt
                self.engine.sync_weights(passes.model)
                ro = passes.generate(self.engine, batch, cfg.rollout.group_size, self.processor.tokenizer)
                acc_shuffled = shuffled_accuracy(self, batch, step, first) if cfg.num_shuffled else None
            with t("reward"):                                                    # 2. rewards, per function
                total, per = score_rewards(cfg, batch, ro, acc_shuffled)         # (N,), name -> (N,)
            self._check_finite("reward", total, step)
            if cfg.loss.dynamic_sampling and cfg.rollout.max_resample:           # 2b. DAPO: refill dead groups
                with t("resample"):
                    batch, ro, total, per, rounds = refill_uninformative(
                        self, batch, ro, total, per, max_rounds=cfg.rollout.max_resample,
                        seed=lambda r: seed_of(cfg.trainer.seed, step, gm, "resample", r))
                self._check_finite("reward", total, step)
                resample_rounds.append(rounds)
            with t("advantage"):                                                 # 3. group advantages
                adv = group_advantages(total, ro.group_size, scale=cfg.loss.scale_rewards, eps=cfg.loss.adv_eps)
                valid = ro.completion_mask.clone()                               # (N, T)
                if cfg.rollout.mask_truncated:
                    valid &= ~ro.is_truncated[:, None]
                if cfg.loss.dynamic_sampling:
                    valid &= informative_groups(total, ro.group_size)[:, None]
            with t("reference"):                                                 # 4a. reference pass (KL)
                logp_ref = passes.reference_logprobs(ro) if self.reference is not None else None
            with t("probes"):                                                    # 4b. counterfactual probes
                probes = probe_outputs(self, batch, ro, step, first) if cfg.ktr.enabled else {}
            micro.append(MicroBatch(batch, ro, total, per, adv, valid, logp_ref, probes, first_prompt=first))

        metrics: dict[str, float] = {"data/skipped_media": float(self.data.pop_skipped())}
        if resample_rounds:
            metrics["data/resample_rounds"] = float(sum(resample_rounds))
        for it in range(cfg.loss.num_iterations):                                # 5. policy passes + updates
            for mb in micro:
                with acc.accumulate(self.policy):
                    with t("policy"):                                            # train mode, through the wrapper
                        out = passes.policy_pass(mb.ro, return_hidden=cfg.ktr.enabled and cfg.ktr.measure != "logp_diff",
                                                 return_vision=it == 0 and wants_policy_vision(self, mb.batch))
                    if it == 0:
                        mb.logp_old = out.logp.detach()
                        if out.vision is not None:                               # 4c. fast temporal probe
                            with t("probes"):
                                mb.probes["temporal"] = fast_temporal_after_policy(self, mb.batch, mb.ro, out, step,
                                                                                   mb.first_prompt)
                        with t("ktr"):                                           # 6. key-token mask
                            mb.key_mask, mb.key_metrics = self._select_keys(mb, out)
                    with t("update"):                                            # 7. loss → optimizer
                        loss, loss_metrics = compute_loss(cfg, out.logp, mb.logp_old, mb.logp_ref, mb.adv, mb.key_mask)
                        self._check_finite("loss", loss.detach(), step)
                        acc.backward(loss / len(micro) if acc.gradient_accumulation_steps == 1 else loss)
                        if acc.sync_gradients:                                   # one optimizer + LR step
                            passes.sync_replicated_grads()                       # (FSDP2: the vision tower)
                            gn = acc.clip_grad_norm_(self.policy.parameters(), clip_norm(cfg.optim))
                            if gn is not None:                                   # (DeepSpeed: after its step)
                                gn = gn.full_tensor() if hasattr(gn, "full_tensor") else gn
                                self._check_finite("gradient norm", torch.as_tensor(gn), step)
                                metrics["optim/grad_norm"] = float(gn)
                            self.optimizer.step()
                            self.scheduler.step()
                            self.optimizer.zero_grad(set_to_none=True)
                if it == 0:
                    for k, v in {**loss_metrics, **mb.key_metrics}.items():
                        metrics.setdefault(k, []).append(float(v))
                    metrics.setdefault("policy/entropy", []).append(
                        float((out.entropy * mb.ro.completion_mask).sum() / mb.ro.completion_mask.sum().clamp(min=1)))
        if step % max(cfg.trainer.log_samples_every, 1) == 0 and cfg.trainer.log_samples_every:
            self.log.log_samples(sample_rows(self, micro[0], step, self.log))
        return self._step_metrics(micro, metrics, t)

    def _select_keys(self, mb: MicroBatch, out) -> tuple[Tensor, dict]:
        """Key-token mask; the distribution-distance measures read the (gathered) LM-head weight."""
        if not (self.cfg.ktr.enabled and self.cfg.ktr.measure != "logp_diff"):
            return select_keys(self.cfg, mb, out)
        with self.passes.head_weight() as w:
            return select_keys(self.cfg, mb, out, w)

    def _check_finite(self, what: str, value: Tensor, step: int) -> None:
        if not torch.isfinite(torch.as_tensor(value, dtype=torch.float32)).all():
            self.optimizer.zero_grad(set_to_none=True)
            last = latest_checkpoint(self.run_dir)
            raise NonFiniteError(
                f"non-finite {what} at step {step} ({torch.as_tensor(value).flatten()[:8].tolist()}): stopping "
                f"instead of training on garbage; no update was applied at this step. Last good checkpoint: "
                f"{last or 'none'} (resume with --resume). Lower optim.lr, check the data/rewards, or use bf16→fp32.")

    def _step_metrics(self, micro: list[MicroBatch], m: dict, t: Timer) -> dict[str, float]:
        rewards = torch.cat([mb.rewards for mb in micro])                        # (N_total,)
        lengths = torch.cat([mb.ro.lengths for mb in micro]).float()             # (N_total,)
        out = {k: (sum(v) / len(v) if isinstance(v, list) else v) for k, v in m.items()}
        out |= {"reward/mean": rewards.mean().item(), "reward/std": rewards.std().item() if rewards.numel() > 1 else 0.0}
        for name in micro[0].per_reward:
            vals = torch.cat([mb.per_reward[name] for mb in micro])
            out[f"reward/{name}"] = vals.nanmean().item() if (~vals.isnan()).any() else float("nan")
        out["train/accuracy"] = out.get("reward/accuracy", float("nan"))
        out["train/format_rate"] = out.get("reward/format", float("nan"))
        trunc = torch.cat([mb.ro.is_truncated for mb in micro]).float()
        informative = torch.cat([informative_groups(mb.rewards, mb.ro.group_size) for mb in micro]).float()
        out |= {"completion/length_mean": lengths.mean().item(), "completion/length_max": lengths.max().item(),
                "completion/truncated_frac": trunc.mean().item(), "data/informative_frac": informative.mean().item(),
                "optim/lr": self.scheduler.get_last_lr()[0]}
        out |= t.pop()
        out["perf/tokens_per_s"] = lengths.sum().item() / max(out["time/step"], 1e-9)
        return reduce_metrics(out, self.accelerator)

    # ------------------------------------------------------------------------------------------------ the loop
    def train(self, on_step=None) -> list[dict]:
        """Run to ``max_steps``; checkpoint every ``save_every`` and at the end. Returns the logged metrics."""
        from tqdm.auto import tqdm

        cfg, acc = self.cfg, self.accelerator
        history = []
        bar = tqdm(range(self.step_done + 1, self.max_steps + 1), desc=f"{cfg.algorithm}", unit="step",
                   disable=not (cfg.trainer.progress_bar and acc.is_main_process), initial=self.step_done,
                   total=self.max_steps)
        for step in bar:
            m = self.step(step)
            self.log.log_metrics(step, m)
            history.append({"step": step, **m})
            bar.set_postfix(reward=f"{m['reward/mean']:.2f}", loss=f"{m.get('loss/policy', float('nan')):.3f}")
            self.step_done = step
            if on_step is not None:
                on_step(step, m)
            if (cfg.trainer.save_every and step % cfg.trainer.save_every == 0) or step == self.max_steps:
                self.save(step)
        acc.end_training()
        return history

    def save(self, step: int) -> Path:
        return save_checkpoint(self.accelerator, self.policy, self.processor, self.run_dir, step,
                               {"data": self.data.state_dict(), "algorithm": self.cfg.algorithm,
                                "settings": defining_settings(config_to_dict(self.cfg))},
                               keep=self.cfg.trainer.keep_checkpoints)



def reduce_metrics(m: dict[str, float], accelerator) -> dict[str, float]:
    """The step's metrics over all ranks (every rank calls): the mean of the ranks' values (NaN = not applicable
    skipped), the max for ``*_max``, the sum for ``perf/*`` throughputs. One process: unchanged."""
    if accelerator.num_processes == 1:
        return m
    import math

    from accelerate.utils import gather_object

    ranks = gather_object([m])
    out = {}
    for k in sorted({k for r in ranks for k in r}):
        vals = [float(r[k]) for r in ranks if k in r and r[k] is not None and math.isfinite(float(r[k]))]
        if not vals:
            out[k] = float("nan")
        elif k.endswith("_max"):
            out[k] = max(vals)
        elif k.startswith("perf/"):
            out[k] = sum(vals)
        else:
            out[k] = sum(vals) / len(vals)
    return out


def tracker_config(cfg: Config) -> dict:
    """The run config flattened to dotted keys with scalar values (what TensorBoard's hparams accept)."""
    from dataclasses import asdict

    flat = {}

    def walk(d, prefix=""):
        for k, v in d.items():
            if isinstance(v, dict):
                walk(v, f"{prefix}{k}.")
            else:
                flat[f"{prefix}{k}"] = v if isinstance(v, (int, float, str, bool)) else str(v)
    walk(asdict(cfg))
    return flat
