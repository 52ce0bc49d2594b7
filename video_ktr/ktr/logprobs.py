"""Per-token log-probs and entropies of completion tokens, chunked through the LM head.

The model runs once (``model.model``: vision encoder + language model) to final hidden states; only the hidden
states that predict a *valid completion token* go through the LM head, in chunks of ``chunk_size`` tokens, inside a
custom autograd function that recomputes each chunk's logits in backward. So no ``N × L × V`` (nor even
``M × V``) float32 tensor ever exists: peak extra memory is ``chunk_size × V``.

The head is *called as a module* (:class:`ChunkedLMHead`, the model's own ``nn.Linear`` with a second forward), so
ZeRO-3 and FSDP gather its weight (and only its weight) for that call and route its gradient back to the shard.

Shape legend: N completions · P prompt length (left-padded) · T completion length (right-padded) · L = P + T ·
M = number of valid completion tokens · D hidden · V vocab.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

DEFAULT_CHUNK = 1024
# Processor tensors the Qwen-VL model forwards accept besides input_ids / attention_mask.
MODEL_INPUT_KEYS = ("pixel_values", "pixel_values_videos", "image_grid_thw", "video_grid_thw",
                    "second_per_grid_ts", "mm_token_type_ids")


# ----------------------------------------------------------------------------------------------- pure functions
class _ChunkedTokenLogprob(torch.autograd.Function):
    """logp[m] = log_softmax(h[m] @ Wᵀ)[y[m]] (+ entropy, no grad), recomputing logits chunk by chunk in backward."""

    @staticmethod
    def forward(ctx, hidden, weight, bias, targets, chunk_size, with_entropy):
        m = hidden.shape[0]
        logp = torch.empty(m, dtype=torch.float32, device=hidden.device)                     # (M,)
        ent = torch.empty(m if with_entropy else 0, dtype=torch.float32, device=hidden.device)
        for s in range(0, m, chunk_size):
            logits = F.linear(hidden[s:s + chunk_size], weight, bias).float()                # (C, V)
            lse = logits.logsumexp(-1)                                                          # (C,)
            logp[s:s + chunk_size] = logits.gather(1, targets[s:s + chunk_size, None]).squeeze(1) - lse
            if with_entropy:  # H = lse − Σ p·logits
                ent[s:s + chunk_size] = lse - (logits.softmax(-1) * logits).sum(-1)
        ctx.save_for_backward(hidden, weight, bias, targets)
        ctx.chunk_size = chunk_size
        ctx.mark_non_differentiable(ent)
        return logp, ent

    @staticmethod
    def backward(ctx, grad_logp, _grad_ent):
        hidden, weight, bias, targets = ctx.saved_tensors
        need_h, need_w, need_b = ctx.needs_input_grad[:3]
        grad_h = torch.zeros_like(hidden) if need_h else None
        grad_w = torch.zeros_like(weight) if need_w else None
        grad_b = torch.zeros_like(bias) if (need_b and bias is not None) else None
        c = ctx.chunk_size
        for s in range(0, hidden.shape[0], c):
            h, g = hidden[s:s + c], grad_logp[s:s + c].float()                                  # (C, D), (C,)
            p = F.linear(h, weight, bias).float().softmax(-1)                                   # (C, V)
            dlogits = -p * g[:, None]                                                           # d logp / d logits
            dlogits.scatter_add_(1, targets[s:s + c, None], g[:, None])                         # + onehot·g
            dlogits = dlogits.to(weight.dtype)
            if need_h:
                grad_h[s:s + c] = dlogits @ weight                                              # (C, D)
            if need_w:
                grad_w.addmm_(dlogits.t(), h)                                                   # (V, D)
            if grad_b is not None:
                grad_b += dlogits.sum(0)
        return grad_h, grad_w, grad_b, None, None, None


def chunked_token_logprobs(hidden: Tensor, weight: Tensor, targets: Tensor, *, bias: Tensor | None = None,
                           with_entropy: bool = True, chunk_size: int = DEFAULT_CHUNK) -> tuple[Tensor, Tensor | None]:
    """Log-prob of ``targets`` and entropy of the next-token distribution, chunked over tokens.

    hidden: (M, D) final hidden states; weight: (V, D) LM head; targets: (M,) long.
    Returns logp (M,) float32 with grad w.r.t. hidden/weight, entropy (M,) float32 without grad (or None).
    """
    if chunk_size < 1:
        raise ValueError(f"chunk_size={chunk_size} must be ≥ 1: it is the number of tokens per LM-head chunk")
    logp, ent = _ChunkedTokenLogprob.apply(hidden, weight, bias, targets, int(chunk_size), bool(with_entropy))
    return logp, (ent if with_entropy else None)


class ChunkedLMHead(torch.nn.Linear):
    """The model's LM head (same parameters, same state-dict keys) with a chunked log-prob forward.

    ``head(h)`` → logits as before (generation); ``head(h, targets=y)`` → (logp (M,), entropy (M,) | None) through
    :func:`chunked_token_logprobs`. Being a module call, sharded training (ZeRO-3, FSDP) gathers the weight for it.
    """

    def forward(self, hidden: Tensor, targets: Tensor | None = None, *, chunk_size: int = DEFAULT_CHUNK,
                with_entropy: bool = True):
        if targets is None:
            return super().forward(hidden)
        return chunked_token_logprobs(hidden, self.weight, targets, bias=self.bias, with_entropy=with_entropy,
                                      chunk_size=chunk_size)


def chunked_head(model) -> ChunkedLMHead:
    """The model's output embedding as a :class:`ChunkedLMHead` (its class is switched in place, once)."""
    head = model.get_output_embeddings()
    if not isinstance(head, ChunkedLMHead):
        if type(head) is not torch.nn.Linear:
            raise TypeError(f"the LM head is a {type(head).__name__}, not nn.Linear: the chunked head cannot wrap it")
        head.__class__ = ChunkedLMHead
    return head


def naive_token_logprobs(logits: Tensor, targets: Tensor) -> tuple[Tensor, Tensor]:
    """Reference path: full log_softmax. logits (..., V), targets (...) → logp (...), entropy (...) (no grad)."""
    logps = logits.float().log_softmax(-1)                                                      # (..., V)
    logp = logps.gather(-1, targets[..., None]).squeeze(-1)
    with torch.no_grad():
        ent = -(logps.exp() * logps).sum(-1)
    return logp, ent


def scatter_valid(values: Tensor, mask: Tensor) -> Tensor:
    """Place (M,) values of the valid tokens back into an (N, T) float tensor, 0 elsewhere."""
    return values.new_zeros(mask.shape).masked_scatter(mask.bool(), values)


# ------------------------------------------------------------------------------------------------ model plumbing
def vision_token_ids(model) -> tuple[int, int]:
    """(image_token_id, video_token_id) read from the model config (never hard-coded)."""
    cfg = model.config
    ids = []
    for name in ("image_token_id", "video_token_id"):
        v = getattr(cfg, name, None)
        if v is None:
            v = getattr(getattr(cfg, "text_config", None), name, None)
        if v is None:
            raise ValueError(f"model config has no {name}: the KTR probes need the vision placeholder ids")
        ids.append(int(v))
    return ids[0], ids[1]


def mm_token_types(input_ids: Tensor, image_id: int, video_id: int) -> Tensor:
    """Token types as the Qwen processors write them: 0 text · 1 image placeholder · 2 video placeholder. (N, L) int."""
    return (input_ids == image_id).int() + 2 * (input_ids == video_id).int()


def full_sequence_inputs(model, inputs: dict, completion_ids: Tensor, completion_mask: Tensor) -> dict:
    """Model kwargs for ``prompt ‖ completion``: ids, attention mask and mm_token_type_ids concatenated.

    inputs: processor output for the prompts (left-padded, (N, P) ids). completion_ids/mask: (N, T).
    """
    ids = torch.cat([inputs["input_ids"], completion_ids.to(inputs["input_ids"].device)], dim=1)      # (N, L)
    attn = torch.cat([inputs["attention_mask"], completion_mask.to(inputs["attention_mask"])], dim=1)  # (N, L)
    out = {k: inputs[k] for k in MODEL_INPUT_KEYS if inputs.get(k) is not None}
    out.update(input_ids=ids, attention_mask=attn, mm_token_type_ids=mm_token_types(ids, *vision_token_ids(model)))
    accepted = inspect.signature(model.model.forward).parameters
    return {k: v for k, v in out.items() if k in accepted}


@dataclass
class CompletionOutput:
    """What one teacher-forced pass over ``prompt ‖ completion`` yields for the completion tokens."""

    logp: Tensor                 # (N, T) float32 log-prob of each completion token (0 at padding); grad if enabled
    entropy: Tensor | None       # (N, T) float32 next-token entropy (no grad), or None
    hidden: Tensor | None        # (M, D) detached final hidden states of the valid tokens (for distribution scores)
    vision: dict | None          # mm_encoder_outputs {"image"|"video": outputs} detached (fast temporal probe)


def run_completion(model, model_inputs: dict, completion_ids: Tensor, completion_mask: Tensor, *,
                   with_entropy: bool = True, chunk_size: int = DEFAULT_CHUNK, return_hidden: bool = False,
                   return_vision: bool = False) -> CompletionOutput:
    """Forward ``model.model`` on full-sequence kwargs whose last T columns are the completion; chunked LM head.

    model_inputs: kwargs for ``model.model`` with (N, L) ids whose last T = completion_ids.shape[1] columns are
    the completion (what :func:`full_sequence_inputs` and the probes build).
    """
    n, t = completion_ids.shape
    out = model.model(**model_inputs, use_cache=False)
    hid = out.last_hidden_state[:, -t - 1:-1]                                                  # (N, T, D) predicts y_t
    valid = completion_mask.bool()
    h = hid[valid]                                                                             # (M, D)
    logp, ent = chunked_head(model)(h, completion_ids[valid], chunk_size=chunk_size, with_entropy=with_entropy)
    vision = None
    if return_vision:
        vision = {k: getattr(out, f"{k}_outputs", None) for k in ("image", "video")}
        vision = {k: _detach_outputs(v) for k, v in vision.items() if v is not None}
    return CompletionOutput(
        logp=scatter_valid(logp, valid),
        entropy=scatter_valid(ent, valid) if ent is not None else None,
        hidden=h.detach() if return_hidden else None,
        vision=vision,
    )


def _detach_outputs(o):
    """Shallow copy of a vision-encoder output with pooled / deepstack features detached."""
    o = type(o)(**{k: v for k, v in o.items()})
    o.pooler_output = tuple(x.detach() for x in o.pooler_output)
    if getattr(o, "deepstack_features", None) is not None:
        o.deepstack_features = [tuple(x.detach() for x in f) for f in o.deepstack_features]
    return o


def completion_forward(model, inputs: dict, completion_ids: Tensor, completion_mask: Tensor, *,
                       with_entropy: bool = True, chunk_size: int = DEFAULT_CHUNK, return_hidden: bool = False,
                       return_vision: bool = False) -> CompletionOutput:
    """Policy / reference pass: prompt tensors from the processor + completion ids → :class:`CompletionOutput`."""
    kw = full_sequence_inputs(model, inputs, completion_ids, completion_mask)
    return run_completion(model, kw, completion_ids, completion_mask, with_entropy=with_entropy,
                          chunk_size=chunk_size, return_hidden=return_hidden, return_vision=return_vision)


def completion_logprobs(model, inputs: dict, completion_ids: Tensor, completion_mask: Tensor, *,
                        with_entropy: bool = True, chunk_size: int = DEFAULT_CHUNK) -> tuple[Tensor, Tensor | None]:
    """(logp (N, T) with grad, entropy (N, T) without grad | None) of the completion tokens, chunked LM head."""
    o = completion_forward(model, inputs, completion_ids, completion_mask, with_entropy=with_entropy,
                           chunk_size=chunk_size)
    return o.logp, o.entropy
