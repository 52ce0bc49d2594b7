"""The trainer's GRPO step equals a ~60-line independent GRPO loop on fixed rollouts (same checkpoint, same prompts,
same completions): same loss, same gradient on every trainable parameter.

The independent loop uses nothing of the project's loss/advantage/log-prob code: a plain Hugging Face forward with
full logits, its own rewards (regexes), advantages, per-sequence token mean and batch mean.
"""
import re

import pytest
import torch

from video_ktr.config import config_from_dict
from video_ktr.rollout import Rollout, repeat_rows
from video_ktr.rollout.types import completion_mask_from_ids
from video_ktr.trainer import RLTrainer

G = 4


# ------------------------------------------------------------------------------------------ the independent loop
def independent_rewards(texts, solutions):
    """accuracy (exact answer-tag match) + format (<think>…</think> <answer>…</answer>), written from METHOD §3."""
    out = []
    for text, sol in zip(texts, solutions):
        m = re.search(r"<answer>(.*?)</answer>", text, re.S)
        gt = re.search(r"<answer>(.*?)</answer>", sol, re.S).group(1).strip()
        acc = 1.0 if m and m.group(1).strip() == gt else 0.0
        fmt = 1.0 if re.fullmatch(r"<think>.*?</think>\s*<answer>.*?</answer>", text, re.S) else 0.0
        out.append(acc + fmt)
    return torch.tensor(out)


def independent_grpo_loss(model, prompt_inputs, completion_ids, completion_mask, rewards, group_size, eps=1e-4):
    """GRPO, one update per rollout batch (ratio exp(logp − sg logp) = 1), no KL: mean_i 1/|o_i| Σ_t −A_i r_it."""
    r = rewards.view(-1, group_size)
    adv = ((r - r.mean(1, keepdim=True)) / (r.std(1, keepdim=True) + eps)).reshape(-1)         # (N,)
    ids = torch.cat([prompt_inputs["input_ids"], completion_ids], 1)                            # (N, P+T)
    attn = torch.cat([prompt_inputs["attention_mask"], completion_mask.long()], 1)
    media = {k: v for k, v in prompt_inputs.items() if k not in ("input_ids", "attention_mask", "mm_token_type_ids")}
    if "mm_token_type_ids" in prompt_inputs:
        media["mm_token_type_ids"] = torch.cat([prompt_inputs["mm_token_type_ids"],
                                                torch.zeros_like(completion_ids)], 1)
    logits = model(input_ids=ids, attention_mask=attn, **media).logits.float()                   # (N, P+T, V)
    p = prompt_inputs["input_ids"].shape[1]
    logp = logits[:, p - 1:-1].log_softmax(-1).gather(2, completion_ids[..., None]).squeeze(-1)  # (N, T)
    per_token = -torch.exp(logp - logp.detach()) * adv[:, None]
    m = completion_mask.float()
    return ((per_token * m).sum(1) / m.sum(1)).mean()


# ------------------------------------------------------------------------------------------ fixed rollouts
def fixed_rollout(model, batch, tokenizer):
    """G completions per prompt with different rewards: correct, wrong letter, unformatted, correct + rambling."""
    eos = model.generation_config.eos_token_id
    pad = model.generation_config.pad_token_id
    texts = []
    for r in batch.records:
        gt = re.search(r"<answer>(.*?)</answer>", r.solution).group(1)
        wrong = "B" if gt != "B" else "A"
        texts += [r.process + r.solution, r.process + f"<answer>{wrong}</answer>", f"it is {gt}",
                  r.process + " Let me check again." + r.solution]
    seqs = [tokenizer(t, add_special_tokens=False)["input_ids"] + [eos] for t in texts]
    t = max(map(len, seqs))
    ids = torch.tensor([s + [pad] * (t - len(s)) for s in seqs])
    mask, truncated = completion_mask_from_ids(ids, [eos])
    return Rollout(repeat_rows(batch.inputs, G, model.config), ids, mask, truncated, texts, G)


def test_trainer_step_equals_independent_grpo(tiny_cfg):
    freeze_vision = False  # every weight trainable: the vision tower's gradient is compared too
    cfg = config_from_dict(tiny_cfg(algorithm="grpo", model={"freeze_vision_tower": freeze_vision},
                                    rollout={"group_size": G, "top_p": 1.0}, loss={"beta": 0.0},
                                    optim={"max_grad_norm": 1e9}, trainer={"log_samples_every": 0}))
    trainer = RLTrainer(cfg).setup()
    tok = trainer.processor.tokenizer
    seen = {}

    def generate(model, batch, group_size, tokenizer, **kw):
        seen["batch"] = batch
        seen["ro"] = fixed_rollout(model, batch, tok)
        return seen["ro"]

    def capture_step():
        seen["grads"] = {n: p.grad.detach().clone() for n, p in trainer.unwrapped.named_parameters()
                         if p.grad is not None}

    trainer.engine.generate = generate
    before = {n: p.detach().clone() for n, p in trainer.unwrapped.named_parameters()}
    trainer.optimizer.step = capture_step
    metrics = trainer.step(1)

    from transformers import AutoModelForImageTextToText

    ref = AutoModelForImageTextToText.from_pretrained(cfg.model.path, dtype=torch.float32)
    for n, p in ref.named_parameters():
        assert torch.equal(p, before[n]), f"the independent loop must start from the same weights ({n})"
        p.requires_grad_(n in seen["grads"])
    ro, batch = seen["ro"], seen["batch"]
    rewards = independent_rewards(ro.texts, [r.solution for r in batch.records for _ in range(G)])
    assert rewards.view(-1, G).std(1).min() > 0, "every group must carry a signal, or the test is vacuous"
    loss = independent_grpo_loss(ref, {k: v for k, v in ro.inputs.items()}, ro.completion_ids, ro.completion_mask,
                                 rewards, G)
    loss.backward()

    assert metrics["reward/mean"] == pytest.approx(rewards.mean().item(), abs=1e-6)
    assert metrics["loss/policy"] == pytest.approx(loss.item(), abs=1e-6)
    trainable = {n for n, p in ref.named_parameters() if p.grad is not None}
    assert trainable == set(seen["grads"]) and trainable
    assert any(("visual" in n) for n in trainable) == (not freeze_vision)
    worst = max((ref.get_parameter(n).grad - seen["grads"][n]).abs().max().item() for n in trainable)
    scale = max(seen["grads"][n].abs().max().item() for n in trainable)
    assert scale > 1e-4 and worst <= 1e-5 * scale + 1e-8, (worst, scale)
