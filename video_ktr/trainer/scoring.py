"""The step's phases as functions of (config, values): rewards, T-GRPO shuffled accuracy, counterfactual probes,
key-token selection and the loss. Each calls its stage (rewards / ktr / loss) with plain arguments taken from the
config tree; the trainer class only sequences them."""
from __future__ import annotations

import hashlib

import torch
from torch import Tensor

from video_ktr.ktr import (PERMUTATIONS, counterfactual_score, fast_temporal_probe, select_key_tokens,
                           signal_selections, temporal_probe_logprobs, visual_probe_logprobs)
from video_ktr.loss import policy_loss
from video_ktr.rewards import accuracy_reward, compute_rewards, temporal_bonus


def seed_of(*parts) -> int:
    """A 63-bit seed from (run seed, step, position, purpose, ...): stable across runs, resumes and launches."""
    digest = hashlib.sha256(repr(tuple(parts)).encode()).digest()
    return int.from_bytes(digest[:8], "little") & (2 ** 63 - 1)


def prompt_generator(cfg, step: int, prompt: int, purpose: str) -> torch.Generator:
    """The generator of one prompt's random draws at ``step``. ``prompt`` is its *global* position in the step
    (rank·grad_accum·B + its index in the rank's step): distinct on every rank, and independent of how the rank's
    prompts are split into micro-batches (or the step over processes)."""
    return torch.Generator().manual_seed(seed_of(cfg.trainer.seed, step, prompt, purpose))


def video_frame_orders(cfg, batch, step: int, first_prompt: int, purpose: str, *, mode: str,
                       unit_counts: list[int | None] | None = None) -> list[list[int] | None]:
    """One order per prompt's video (None for images), each from its prompt's generator.

    unit_counts: units to permute per prompt (frames by default; temporal patches for the fast probe).
    """
    counts = unit_counts or [m.num_frames if m.kind == "video" else None for m in batch.media]
    fn = PERMUTATIONS.get(mode)
    return [None if n is None else fn(int(n), prompt_generator(cfg, step, first_prompt + i, purpose))
            for i, n in enumerate(counts)]


def record_fields(records, group_size: int) -> dict[str, list]:
    """Per-completion copies of the record fields the rewards read (prompt-major, G per record)."""
    rep = lambda xs: [x for x in xs for _ in range(group_size)]  # noqa: E731
    return {"solution": rep([r.solution for r in records]), "problem_type": rep([r.problem_type for r in records]),
            "data_type": rep([r.data_type for r in records])}


def score_rewards(cfg, batch, ro, acc_shuffled: list[float] | None) -> tuple[Tensor, dict[str, Tensor]]:
    """(total (N,), per reward name → (N,)) ; T-GRPO adds the temporal bonus as its own logged reward."""
    out = compute_rewards(cfg.reward.names, cfg.reward.weights, ro.texts, record_fields(batch.records, ro.group_size),
                          ro.lengths.tolist(), group_size=ro.group_size, reward_kwargs=cfg.reward.kwargs)
    total = torch.tensor(out.total, dtype=torch.float32)
    per = {k: torch.tensor(v, dtype=torch.float32) for k, v in out.per_reward.items()}
    if acc_shuffled is not None:
        acc = accuracy_reward(ro.texts, *list(record_fields(batch.records, ro.group_size).values())[:2])
        bonus = torch.tensor(temporal_bonus(acc, acc_shuffled, group_size=ro.group_size, ratio=cfg.reward.temporal_ratio,
                                            bonus=cfg.reward.temporal_bonus, min_accuracy=cfg.reward.temporal_min_acc))
        is_video = torch.tensor([r.data_type == "video" for r in batch.records]).repeat_interleave(ro.group_size)
        per["temporal_bonus"] = torch.where(is_video, bonus, torch.zeros_like(bonus))
        total = total + per["temporal_bonus"]
    return total, per


def shuffled_accuracy(trainer, batch, step: int, first_prompt: int) -> list[float]:
    """T-GRPO: accuracy of G' = shuffled_group_frac·G extra rollouts per prompt on randomly shuffled frames."""
    cfg = trainer.cfg
    orders = video_frame_orders(cfg, batch, step, first_prompt, "t_grpo_shuffle", mode="shuffle")
    shuffled = trainer.data.encode(batch.records, frame_orders=orders, media=batch.media)
    ro = trainer.passes.generate(trainer.engine, shuffled, cfg.num_shuffled, trainer.processor.tokenizer)
    f = record_fields(batch.records, cfg.num_shuffled)
    return accuracy_reward(ro.texts, f["solution"], f["problem_type"])


def any_video(trainer, batch) -> bool:
    """Whether the temporal probe runs for this micro-batch: on N ranks in lockstep (ZeRO-3/FSDP), if any rank's
    batch has a video, so every rank makes the same forward calls (image rows get no temporal score either way)."""
    from video_ktr.trainer.passes import agree_any

    has = any(m.kind == "video" for m in batch.media)
    return agree_any(has, trainer.accelerator) if trainer.passes.lockstep else has


@torch.no_grad()
def probe_outputs(trainer, batch, ro, step: int, first_prompt: int = 0) -> dict:
    """Counterfactual passes of the current policy: {"visual": CompletionOutput, "temporal": CompletionOutput}.

    One frame order per video, shared by the G completions of its group, drawn from the prompt's own generator
    (seed, step, global prompt position): see :func:`prompt_generator`.
    """
    cfg, passes = trainer.cfg, trainer.passes
    hidden = cfg.ktr.measure != "logp_diff"
    chunk = cfg.trainer.logprob_chunk_size
    out = {}
    if "visual" in cfg.ktr.signals:
        g = prompt_generator(cfg, step, first_prompt, "visual_probe")    # mask_half only
        out["visual"] = passes.probe(visual_probe_logprobs, ro.inputs, ro.completion_ids, ro.completion_mask,
                                     mode=cfg.ktr.visual_mode, generator=g, chunk_size=chunk, return_hidden=hidden)
    if "temporal" in cfg.ktr.signals and not cfg.ktr.temporal_fast and any_video(trainer, batch):
        # reference: one permutation per video, re-processed, same layout (the fast mode runs after the policy
        # pass, on its cached vision features: see fast_temporal_after_policy)
        from video_ktr.rollout import repeat_rows

        orders = video_frame_orders(cfg, batch, step, first_prompt, "temporal_probe", mode=cfg.ktr.temporal_mode)
        permuted = trainer.data.encode(batch.records, frame_orders=orders, media=batch.media)
        inputs = repeat_rows(permuted.inputs, ro.group_size, passes.model.config)
        out["temporal"] = passes.probe(temporal_probe_logprobs, inputs, ro.completion_ids, ro.completion_mask,
                                       chunk_size=chunk, return_hidden=hidden)
    return out


def wants_policy_vision(trainer, batch) -> bool:
    """Whether the policy pass should keep its vision features for the fast temporal probe."""
    cfg = trainer.cfg
    return (cfg.ktr.enabled and cfg.ktr.temporal_fast and "temporal" in cfg.ktr.signals
            and any_video(trainer, batch))


def patch_orders(cfg, batch, group_size: int, step: int, first_prompt: int, temporal_patch_size: int) -> list:
    """Temporal-patch orders for the fast probe: one per prompt's video, repeated for its G rows (row-major)."""
    grid = batch.inputs.get("video_grid_thw")
    counts, v = [], 0
    for m in batch.media:
        counts.append(int(grid[v, 0]) if m.kind == "video" else None)
        v += m.kind == "video"
    seg = max(1, 4 // temporal_patch_size)
    fn = PERMUTATIONS.get(cfg.ktr.temporal_mode)
    orders = [fn(n, prompt_generator(cfg, step, first_prompt + i, "temporal_probe"), segment=seg)
              for i, n in enumerate(counts) if n is not None]
    return [o for o in orders for _ in range(group_size)]


@torch.no_grad()
def fast_temporal_after_policy(trainer, batch, ro, policy_out, step: int, first_prompt: int = 0):
    """The fast temporal probe on the policy pass's own vision features: no second vision-encoder run.

    Permutes whole temporal patches (frame pairs) of the cached features; one order per video, shared by the G
    completions of its group, from the prompt's own generator.
    """
    cfg, passes = trainer.cfg, trainer.passes
    tps = int(getattr(passes.model.config.vision_config, "temporal_patch_size", 2))
    orders = patch_orders(cfg, batch, ro.group_size, step, first_prompt, tps) if policy_out.vision else None
    return passes.probe(_fast_probe, ro.inputs, ro.completion_ids, ro.completion_mask, orders=orders,
                          vision=policy_out.vision, chunk_size=cfg.trainer.logprob_chunk_size,
                          return_hidden=cfg.ktr.measure != "logp_diff")


def _fast_probe(model, *args, **kwargs):
    return fast_temporal_probe(model, *args, **kwargs)[0]


def _selection_kwargs(cfg) -> dict:
    """The ktr config as keyword arguments of ``signal_selections`` / ``select_key_tokens``."""
    return dict(signals=tuple(cfg.ktr.signals), scope=cfg.ktr.scope, weighting=cfg.ktr.weighting,
                on_constant=cfg.ktr.on_constant, constant_tol=cfg.ktr.constant_tol,
                ratios={"entropy": cfg.ktr.entropy_ratio, "visual": cfg.ktr.visual_ratio,
                        "temporal": cfg.ktr.temporal_ratio})


def _is_video_rows(mb) -> Tensor:
    """(N,) bool: completion rows whose prompt is a video."""
    return torch.tensor([m.kind == "video" for m in mb.batch.media]).repeat_interleave(mb.ro.group_size)


def select_keys(cfg, mb, policy_out, lm_head_weight: Tensor | None = None) -> tuple[Tensor, dict[str, float]]:
    """Key-token mask (N, T) from the policy's entropy and the probes' scores; all valid tokens when KTR is off.

    lm_head_weight: (V, D) output embedding — needed only by the distribution-distance measures.
    """
    if not cfg.ktr.enabled:
        return mb.valid, {}
    scores = {"entropy": policy_out.entropy}
    for name, cf in mb.probes.items():
        scores[name] = counterfactual_score(policy_out, cf, mb.ro.completion_mask, measure=cfg.ktr.measure,
                                            weight=lm_head_weight, chunk_size=cfg.trainer.logprob_chunk_size)
    if "temporal" in cfg.ktr.signals and "temporal" not in scores:   # an image-only batch: rows skip temporal
        scores["temporal"] = torch.zeros_like(policy_out.entropy)
    is_video, static = _is_video_rows(mb), None
    if "temporal" in scores and cfg.ktr.static_frame_tol > 0:        # static clips: no order to measure
        static = static_video_rows(mb.batch.media, mb.ro.group_size, cfg.ktr.static_frame_tol)
        scores["temporal"] = scores["temporal"].masked_fill(static[:, None].to(scores["temporal"].device), 0.0)
    key, metrics = select_key_tokens(scores, mb.valid, is_video, mb.ro.group_size, combine=cfg.ktr.combine,
                                     **_selection_kwargs(cfg))
    mb.scores = {k: v.detach() for k, v in scores.items()}
    if static is not None:
        metrics["ktr/static_videos"] = static[is_video].float().mean() if is_video.any() else 0.0
    return key, {k: float(v) for k, v in metrics.items()}


def static_video_rows(media, group_size: int, tol: float) -> Tensor:
    """(N,) bool: completion rows (G per prompt) whose prompt is a video with ``frame_change() <= tol``."""
    static = [m.kind == "video" and m.frame_change() <= tol for m in media]
    return torch.tensor(static, dtype=torch.bool).repeat_interleave(group_size)


def compute_loss(cfg, logp: Tensor, logp_old: Tensor | None, logp_ref: Tensor | None, adv: Tensor,
                 mask: Tensor) -> tuple[Tensor, dict[str, float]]:
    """The policy loss over ``mask`` (key tokens for KTR, valid tokens otherwise), as configured."""
    old = None if cfg.loss.num_iterations == 1 else logp_old
    loss, m = policy_loss(logp, old, logp_ref, adv.to(logp.device), mask, beta=cfg.loss.beta, eps=cfg.loss.epsilon,
                          eps_high=cfg.loss.epsilon_high, aggregation=cfg.loss.aggregation,
                          max_length=cfg.rollout.max_new_tokens)
    return loss, {k: float(v) for k, v in m.items()}


def sample_rows(trainer, mb, step: int, log) -> list[dict]:
    """samples.jsonl rows (CONTRACTS.md) for the first completions of one micro-batch."""
    tok = trainer.processor.tokenizer
    rows = []
    scores = getattr(mb, "scores", {})
    selections, applicable = {}, {}
    if scores:  # each signal's own selection (same options as the key mask); image rows have no temporal signal
        kw = _selection_kwargs(trainer.cfg)
        kw["signals"] = tuple(s for s in kw["signals"] if s in scores)
        selections, applicable = signal_selections(scores, mb.valid, _is_video_rows(mb), mb.ro.group_size, **kw)
    n = min(trainer.cfg.trainer.max_logged_samples, mb.ro.completion_ids.shape[0])
    for i in range(n):
        rec, media = mb.batch.records[i // mb.ro.group_size], mb.batch.media[i // mb.ro.group_size]
        valid = mb.ro.completion_mask[i]
        ids = mb.ro.completion_ids[i][valid].tolist()
        t = len(ids)

        def per_token(x):
            return [round(float(v), 5) for v in x[i][valid].tolist()] if x is not None else [None] * t

        key = mb.key_mask[i][valid].float().tolist() if mb.key_mask is not None else [1.0] * t
        masks = {s: [0] * t for s in ("entropy", "visual", "temporal")}
        for s, m in selections.items():
            if applicable[s][i]:
                masks[s] = [int(v > 0) for v in m[i][valid].tolist()]
        row_scores = {s: per_token(scores.get(s) if s not in applicable or applicable[s][i] else None)
                      for s in ("entropy", "visual", "temporal")}
        rows.append({
            "step": step, "problem_id": rec.problem_id, "problem": rec.problem, "data_type": rec.data_type,
            "problem_type": rec.problem_type, "media_path": str(rec.media_path),
            "frames": log.save_frames(f"{rec.problem_id}", media.frames),
            "completion": mb.ro.texts[i], "tokens": tok.convert_ids_to_tokens(ids), "token_ids": ids,
            "reward": float(mb.rewards[i]), "rewards": {k: float(v[i]) for k, v in mb.per_reward.items()},
            "advantage": float(mb.adv[i]),
            "scores": row_scores, "masks": {**masks, "key": [int(k > 0) for k in key]},
        })
    return rows
