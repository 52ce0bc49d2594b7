"""Which tokens of one answer are *key* for KTR: high-entropy, visual-aware, temporal-aware (METHOD §1).

For a single input (``video-ktr infer --show-key-tokens``): teacher-force the model's own completion, run the
KTR probes (vision hidden by attention mask; frames shuffled once), score each token and keep the top ``ratio``
of each signal — the same selection the trainer applies per group, here with a group of one completion.
"""
from __future__ import annotations

from dataclasses import dataclass, field

SIGNAL_STYLES = {"entropy": "yellow", "visual": "cyan", "temporal": "magenta"}


@dataclass
class KeyTokenView:
    """tokens: the completion's tokens as text; flags: signal → per-token bool; scores: signal → per-token float."""

    tokens: list[str]
    flags: dict[str, list[bool]] = field(default_factory=dict)
    scores: dict[str, list[float]] = field(default_factory=dict)

    @property
    def key(self) -> list[bool]:
        return [any(f[i] for f in self.flags.values()) for i in range(len(self.tokens))]


def key_tokens(backend, record, media, completion: str, *, template: str = "reasoning", ratio: float = 0.2,
               seed: int = 0) -> KeyTokenView:
    """Score ``completion`` (the model's answer to ``record`` with ``media``) with the KTR signals (HF backend)."""
    import torch

    from video_ktr.data import encode_prompts
    from video_ktr.ktr import (completion_forward, counterfactual_score, make_frame_orders, temporal_probe_logprobs,
                               top_ratio_mask, visual_probe_logprobs)

    model, processor = getattr(backend, "model", None), backend.processor
    if model is None:
        raise ValueError("--show-key-tokens needs the hf backend (it teacher-forces the transformers model)")
    tok = processor.tokenizer
    eos = model.generation_config.eos_token_id
    eos = int(eos[0] if isinstance(eos, list) else eos)
    ids = tok(completion, add_special_tokens=False)["input_ids"] + [eos]                     # the EOS is scored too
    completion_ids = torch.tensor([ids], device=model.device)                                # (1, T)
    mask = torch.ones_like(completion_ids, dtype=torch.bool)                                 # (1, T)
    inputs = {k: v.to(model.device) if hasattr(v, "to") else v
              for k, v in encode_prompts(processor, [record], [media], template=template).items()}
    with torch.no_grad():
        orig = completion_forward(model, inputs, completion_ids, mask, with_entropy=True)
        scores = {"entropy": orig.entropy,
                  "visual": counterfactual_score(orig, visual_probe_logprobs(model, inputs, completion_ids, mask,
                                                                             mode="mask"), mask)}
        if media.kind == "video":
            orders = make_frame_orders([media.num_frames], "shuffle", torch.Generator().manual_seed(seed))
            permuted = {k: v.to(model.device) if hasattr(v, "to") else v for k, v in
                        encode_prompts(processor, [record], [media], template=template, frame_orders=orders).items()}
            scores["temporal"] = counterfactual_score(
                orig, temporal_probe_logprobs(model, permuted, completion_ids, mask), mask)
    view = KeyTokenView([tok.decode([i]) for i in ids])
    for name, s in scores.items():
        view.flags[name] = top_ratio_mask(s.float(), mask, ratio, 1)[0].tolist()
        view.scores[name] = s[0].float().tolist()
    return view


def render_key_tokens(view: KeyTokenView):
    """A rich ``Text``: the completion with each key token coloured by its signals, then a legend and counts."""
    from rich.text import Text

    out = Text("key tokens (top 20 % per signal): ", style="bold")
    for name, style in SIGNAL_STYLES.items():
        if name in view.flags:
            out.append(f"{name} ", style=f"bold {style}")
    out.append("(several signals: underlined)\n")
    for i, t in enumerate(view.tokens):
        hits = [n for n in SIGNAL_STYLES if n in view.flags and view.flags[n][i]]
        style = SIGNAL_STYLES[hits[0]] if hits else "dim"
        out.append(t, style=style + (" underline" if len(hits) > 1 else ""))
    counts = ", ".join(f"{n} {sum(f)}" for n, f in view.flags.items())
    out.append(f"\n{sum(view.key)} of {len(view.tokens)} tokens key ({counts})")
    return out
