"""The policy's weights under the names a Hugging Face checkpoint uses: one parameter at a time, full, merged.

Used to push weights into a colocated vLLM engine (``rollout.vllm``) and to write a merged ``model/`` for LoRA
checkpoints. Handles the wrappers training puts around the model:

* DDP / ``torch.compile`` / activation checkpointing / FSDP1 name prefixes (``module.``, ``_orig_mod.``, …),
* DeepSpeed ZeRO-3 (each parameter gathered with ``deepspeed.zero.GatheredParameters``),
* FSDP2 (``DTensor.full_tensor()``),
* peft LoRA: each base weight comes out merged (``W + ΔW`` of the active adapters, out of place),
  ``.base_layer`` dropped from names, ``lora_*`` skipped,
  ``modules_to_save`` copies renamed to the original module and the frozen original skipped.

The resulting names are transformers' (``model.language_model.…``, ``model.visual.…``, ``lm_head.…``), which is
what vLLM's ``load_weights`` takes: its Qwen2.5-VL loader maps them with ``VLLM_QWEN2_5_VL_PREFIXES``.
"""
from __future__ import annotations

import contextlib
from typing import Iterator

import torch

# Wrapper prefixes / infixes that are not part of the HF parameter name.
WRAPPER_PREFIXES = ("module.", "_orig_mod.", "base_model.model.")
WRAPPER_INFIXES = ("_checkpoint_wrapped_module.", "_fsdp_wrapped_module.", "_orig_mod.")
PEFT_ADAPTER = "default"

# vLLM 0.33.0, vllm/model_executor/models/qwen2_5_vl.py, Qwen2_5_VLForConditionalGeneration.hf_to_vllm_mapper
# (orig_to_new_prefix; the first matching prefix wins). Our own copy, used by the tests to check that every name
# we push lands in a vLLM module; q/k/v and gate/up are then stacked by vLLM's language-model loader.
VLLM_QWEN2_5_VL_PREFIXES = (
    ("model.language_model.", "language_model.model."),
    ("model.visual.", "visual."),
    ("lm_head.", "language_model.lm_head."),
    ("model.", "language_model.model."),
)


def hf_name(name: str, adapter: str = PEFT_ADAPTER) -> str | None:
    """Training-time parameter name → checkpoint name; None for parameters vLLM must not receive (LoRA A/B, the
    frozen original of a ``modules_to_save`` module).

    ``module.base_model.model.model.language_model.layers.0.self_attn.q_proj.base_layer.weight`` →
    ``model.language_model.layers.0.self_attn.q_proj.weight``.
    """
    parts = name.split(".")
    if any(p.startswith("lora_") for p in parts) or "original_module" in parts:
        return None
    changed = True
    while changed:
        changed = False
        for prefix in WRAPPER_PREFIXES:
            if name.startswith(prefix):
                name, changed = name[len(prefix):], True
    for infix in WRAPPER_INFIXES:
        name = name.replace(infix, "")
    name = name.replace(".base_layer.", ".").replace(f".modules_to_save.{adapter}.", ".")
    return name


def vllm_qwen2_5_vl_name(hf: str) -> str:
    """Checkpoint name → the module path inside vLLM's Qwen2.5-VL model (``VLLM_QWEN2_5_VL_PREFIXES``; like vLLM's
    ``WeightsMapper``, a name no prefix matches is kept, e.g. ``visual.…`` of checkpoints saved in the old layout)."""
    for old, new in VLLM_QWEN2_5_VL_PREFIXES:
        if hf.startswith(old):
            return new + hf[len(old):]
    return hf


def _is_zero3(param) -> bool:
    return hasattr(param, "ds_id")                 # DeepSpeed ZeRO-3 partitioned parameter


@contextlib.contextmanager
def _gathered(params: list):
    """Full copies of ZeRO-3 ``params`` inside the block (a no-op for ordinary tensors)."""
    part = [p for p in params if _is_zero3(p)]
    if not part:
        yield
        return
    import deepspeed

    with deepspeed.zero.GatheredParameters(part, modifier_rank=None):
        yield


def _full(t: torch.Tensor) -> torch.Tensor:
    """FSDP2 shards are DTensors: gather the full tensor."""
    return t.full_tensor() if hasattr(t, "full_tensor") else t


def _lora_owner(modules: dict, name: str):
    """The peft LoRA layer whose frozen base weight is parameter ``name`` (``….q_proj.base_layer.weight``)."""
    owner, _, leaf = name.rpartition(".")
    if leaf != "weight" or not owner.endswith(".base_layer"):
        return None
    layer = modules.get(owner[: -len(".base_layer")])
    return layer if layer is not None and hasattr(layer, "get_delta_weight") else None


def iter_hf_weights(model) -> Iterator[tuple[str, torch.Tensor]]:
    """(checkpoint name, full tensor) per parameter, one at a time: a ZeRO-3 model is gathered one parameter (or
    one LoRA layer: base weight + A + B) at a time, never whole. A LoRA base weight comes out as
    ``W + get_delta_weight(adapter)`` for each active adapter, computed out of place: the training weights are
    never modified (merging in place and unmerging would drift them by rounding every sync). Plain tensors are the
    live parameters (no copy): consume each before asking for the next."""
    modules = dict(model.named_modules())
    seen: set[str] = set()
    for name, p in model.named_parameters():
        new = hf_name(name)
        if new is None or new in seen:
            continue
        seen.add(new)
        layer = _lora_owner(modules, name)
        if layer is None or getattr(layer, "merged", False):
            with _gathered([p]):
                yield new, _full(p.data)
            continue
        adapters = [a for a in layer.active_adapters if a in layer.lora_A]
        if any(getattr(layer, "use_dora", {}).get(a, False) for a in adapters):
            raise NotImplementedError(f"{name}: DoRA adapters are not merged here; use plain LoRA")
        extra = [t for a in adapters for t in (layer.lora_A[a].weight, layer.lora_B[a].weight)]
        with _gathered([p, *extra]):
            w = _full(p.data)
            for a in adapters:
                w = w + _full(layer.get_delta_weight(a)).to(w.dtype)
            yield new, w


def merged_state_dict(model) -> dict[str, torch.Tensor]:
    """CPU copies of all weights under checkpoint names, LoRA merged (for a loadable ``model/`` directory)."""
    return {n: t.detach().to("cpu", copy=True) for n, t in iter_hf_weights(model)}
