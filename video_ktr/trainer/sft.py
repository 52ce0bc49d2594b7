"""CoT-SFT warm-up (the reference RL starts from a CoT-SFT checkpoint): teacher-forced cross-entropy on the
assistant answer only (``process`` + ``solution``, then EOS), through the same prompt encoding and chunked log-prob
pass as RL. Runs on accelerate like the RL trainer (ZeRO / mixed precision / accumulation from the config)."""
from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor

from video_ktr.ktr import completion_forward
from video_ktr.rollout import repeat_rows
from video_ktr.trainer.runlog import RunLogger, Timer
from video_ktr.trainer.setup import (base_model, build_accelerator, build_optimizer, clip_norm, fsdp_requested,
                                     load_policy)


def answer_ids(tokenizer, records, eos_id: int, pad_id: int) -> tuple[Tensor, Tensor]:
    """(ids (B, T), mask (B, T)) of ``process + solution + EOS`` per record, right-padded."""
    seqs = []
    for r in records:
        if not r.process:
            raise ValueError(f"record {r.problem_id}: CoT-SFT needs a 'process' field (<think>…</think>)")
        seqs.append(tokenizer(r.process + r.solution, add_special_tokens=False)["input_ids"] + [eos_id])
    t = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), t), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), t), dtype=torch.bool)
    for i, s in enumerate(seqs):
        ids[i, :len(s)], mask[i, :len(s)] = torch.tensor(s), True
    return ids, mask


def sft_loss(model, inputs: dict, ids: Tensor, mask: Tensor, chunk_size: int) -> Tensor:
    """Mean negative log-likelihood of the answer tokens (prompt tokens carry no loss)."""
    out = completion_forward(model, inputs, ids, mask, with_entropy=False, chunk_size=chunk_size)
    return -(out.logp * mask).sum() / mask.sum().clamp(min=1)


def run_sft(cfg, out_dir: str | Path, *, on_step=None, overwrite: bool = False) -> Path:
    """Train ``cfg.model.path`` on ``cfg.data.train_path`` for ``cfg.sft`` steps; save an HF checkpoint to
    ``out_dir/model`` and the losses to ``out_dir/metrics.jsonl``. Returns the checkpoint dir. An ``out_dir`` that
    already holds an SFT run is refused (``RunDirError``) unless ``overwrite`` (then it is moved aside)."""
    from tqdm.auto import tqdm

    from video_ktr.trainer.batches import PromptSource
    from video_ktr.trainer.rundir import claim_run_dir

    out_dir = Path(out_dir)
    claim_run_dir(out_dir, resume=False, overwrite=overwrite)
    out_dir.mkdir(parents=True, exist_ok=True)
    if fsdp_requested(cfg):   # its passes call the HF model directly, which FSDP2's root unit never gathers
        raise ValueError("video-ktr sft does not run under FSDP (trainer.fsdp / an FSDP accelerate config): "
                         "run it on one process")
    acc = build_accelerator(cfg, log=False)
    torch.manual_seed(cfg.trainer.seed)
    policy, processor = load_policy(cfg.model)
    source = PromptSource.from_config(cfg, processor)
    source.batch_size = cfg.sft.batch_size
    steps = cfg.sft.max_steps if cfg.sft.max_steps > 0 else cfg.sft.num_epochs * source.steps_per_epoch()
    opt, sched = build_optimizer(policy, cfg.optim, steps, lr=cfg.sft.lr)
    policy, opt, sched = acc.prepare(policy, opt, sched)
    log = RunLogger(out_dir, acc)
    model = base_model(acc.unwrap_model(policy))
    gc, tok = model.generation_config, processor.tokenizer
    for step in tqdm(range(1, steps + 1), desc="sft", unit="step", disable=not cfg.trainer.progress_bar):
        t = Timer()
        with t("data"):
            batch = source.next_batch()
            ids, mask = answer_ids(tok, batch.records, gc.eos_token_id, gc.pad_token_id)
            inputs = repeat_rows(batch.inputs, 1, model.config)
        with t("update"):
            loss = sft_loss(model, inputs, ids, mask, cfg.trainer.logprob_chunk_size)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"sft: non-finite loss {loss.item()} at step {step}; lower sft.lr")
            acc.backward(loss)
            acc.clip_grad_norm_(policy.parameters(), clip_norm(cfg.optim))
            opt.step(), sched.step(), opt.zero_grad(set_to_none=True)
        m = {"loss/sft": loss.item(), **t.pop()}
        log.log_metrics(step, m)
        if on_step is not None:
            on_step(step, m)
    ckpt = out_dir / "model"
    if acc.is_main_process:
        acc.unwrap_model(policy).save_pretrained(ckpt, state_dict=acc.get_state_dict(policy), safe_serialization=True)
        processor.save_pretrained(ckpt)
    acc.wait_for_everyone()
    return ckpt
