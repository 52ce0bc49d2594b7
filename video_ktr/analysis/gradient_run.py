"""Run the gradient decomposition on a model: sample a batch of rollouts, score and select key tokens with the KTR
core, then split the final layer's gradient of the policy loss (video_ktr.loss, normalised by all completion
tokens) into kept and masked parts per signal. No optimizer step is taken; the model is not changed."""
from __future__ import annotations

from pathlib import Path

import torch

from video_ktr.analysis.gradients import gradient_report, split_gradient

PARAMS = ("lm_head", "last_layer")
ADVANTAGES = ("group", "unit")   # group: GRPO's group-normalised rewards; unit: A = 1 (the sampled tokens' likelihood
                                 # gradient — informative on an untrained model whose groups all share one reward)


def final_layer_params(model, which: str) -> list[torch.Tensor]:
    """'lm_head': the output projection's weight (and bias); 'last_layer': every weight of the last decoder block."""
    if which == "lm_head":
        head = model.get_output_embeddings()
        return [p for p in (head.weight, head.bias) if p is not None]
    if which == "last_layer":
        layers = getattr(model.model, "language_model", model.model).layers
        return list(layers[-1].parameters())
    raise ValueError(f"param={which!r} must be one of {PARAMS}")


def analyze_gradients(model_path: Path, data_path: Path, *, num_prompts: int = 4, group_size: int = 4,
                      max_new_tokens: int = 48, ratio: float = 0.2, beta: float = 0.0, param: str = "lm_head",
                      advantage: str = "group", temperature: float = 1.0, seed: int = 0, data_root: Path | None = None) -> dict:
    """One batch of B = num_prompts × G rollouts → gradient report (see gradients.gradient_report)."""
    from transformers import AutoModelForImageTextToText, AutoProcessor

    from video_ktr.data import MediaBudget, load_records
    from video_ktr.ktr import (completion_forward, counterfactual_score, make_frame_orders, select_key_tokens,
                               temporal_probe_logprobs, visual_probe_logprobs)
    from video_ktr.loss import policy_loss
    from video_ktr.rewards import compute_rewards
    from video_ktr.rollout import build_engine, repeat_rows
    from video_ktr.trainer.advantages import group_advantages
    from video_ktr.trainer.batches import PromptSource

    if param not in PARAMS:
        raise ValueError(f"param={param!r} must be one of {PARAMS}")
    if advantage not in ADVANTAGES:
        raise ValueError(f"advantage={advantage!r} must be one of {ADVANTAGES}")
    model_path, data_path = Path(model_path), Path(data_path)
    for p in (model_path, data_path):
        if not p.exists():
            raise FileNotFoundError(f"{p} does not exist")
    torch.manual_seed(seed)
    model = AutoModelForImageTextToText.from_pretrained(model_path, dtype=torch.float32)
    processor = AutoProcessor.from_pretrained(model_path)
    model.requires_grad_(False)
    params = final_layer_params(model, param)
    for p in params:
        p.requires_grad_(True)
    records = load_records(data_path, data_root).records[:num_prompts]
    if not records:
        raise ValueError(f"no records in {data_path}")
    source = PromptSource(records, processor, batch_size=len(records), budget=MediaBudget(fps=2.0, max_frames=8),
                          template="reasoning", seed=seed, shuffle=False)
    batch = source.next_batch()
    engine = build_engine("hf", temperature=temperature, top_p=1.0, top_k=0, max_new_tokens=max_new_tokens)
    ro = engine.generate(model, batch, group_size, processor.tokenizer)                     # N = B*G rows
    rep = lambda xs: [x for x in xs for _ in range(group_size)]  # noqa: E731
    rewards = compute_rewards(["accuracy", "format"], None, ro.texts,
                              {"solution": rep([r.solution for r in records]),
                               "problem_type": rep([r.problem_type for r in records])},
                              ro.lengths.tolist(), group_size=group_size)
    total = torch.tensor(rewards.total, dtype=torch.float32)                                # (N,)
    adv = group_advantages(total, group_size) if advantage == "group" else torch.ones_like(total)   # (N,)
    valid = ro.completion_mask.bool()                                                       # (N, T)
    is_video = torch.tensor([m.kind == "video" for m in batch.media]).repeat_interleave(group_size)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        vis = visual_probe_logprobs(model, ro.inputs, ro.completion_ids, ro.completion_mask, generator=g)
        orders = make_frame_orders([m.num_frames if m.kind == "video" else None for m in batch.media], "shuffle", g)
        permuted = repeat_rows(source.encode(records, frame_orders=orders, media=batch.media).inputs, group_size,
                               model.config)
        tmp = temporal_probe_logprobs(model, permuted, ro.completion_ids, ro.completion_mask)
    out = completion_forward(model, ro.inputs, ro.completion_ids, ro.completion_mask, with_entropy=True)
    scores = {"entropy": out.entropy,
              "visual": counterfactual_score(out, vis, ro.completion_mask),
              "temporal": counterfactual_score(out, tmp, ro.completion_mask)}
    ratios = {s: ratio for s in scores}
    masks = {}
    for s in scores:                                     # each signal alone, then the union the loss uses
        masks[s], _ = select_key_tokens(scores, valid, is_video, group_size, signals=(s,), ratios=ratios)
    masks["key"], _ = select_key_tokens(scores, valid, is_video, group_size, ratios=ratios)
    logp_ref = out.logp.detach() if beta else None       # the policy is its own reference at this point: KL = 0

    def loss_over(mask: torch.Tensor) -> torch.Tensor:   # Σ_{t∈mask} ℓ_t / |valid_i|, mean over completions
        loss, _ = policy_loss(out.logp, None, logp_ref, adv, mask, beta=beta, normalize_by="all",
                              completion_mask=valid)
        return loss
    full, parts = split_gradient(loss_over, valid, masks, params)
    report = gradient_report(full, parts, masks, valid)
    report.update(param=param, model=str(model_path), data=str(data_path), num_prompts=len(records),
                  group_size=group_size, ratio=ratio, beta=beta, seed=seed, advantage=advantage,
                  reward_mean=float(total.mean()), informative_groups=int((total.view(-1, group_size).std(1) > 0).sum()))
    if not bool(adv.abs().gt(0).any()):
        report["warning"] = ("every advantage is 0 (each group's completions got the same reward), so the gradient "
                             "is 0; use a trained checkpoint or advantage='unit'")
    return report
