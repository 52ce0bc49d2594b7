"""Weight names for vLLM: plain, wrapped (DDP), LoRA-merged and ZeRO-3-gathered models all yield the checkpoint's
names, which vLLM 0.33's Qwen2.5-VL loader maps onto its modules."""
from __future__ import annotations

import contextlib
import copy
import sys
import types

import pytest
import torch
from safetensors.torch import load_file

from video_ktr.rollout.weights import hf_name, iter_hf_weights, merged_state_dict, vllm_qwen2_5_vl_name


@pytest.fixture(scope="module")
def nano(nano_model):
    from transformers import AutoModelForImageTextToText

    torch.manual_seed(0)
    return AutoModelForImageTextToText.from_pretrained(nano_model)


def _checkpoint_names(path) -> set[str]:
    """The names vLLM would load from the checkpoint directory, as vLLM modules (transformers may save the old
    ``model.layers`` / ``visual`` layout; vLLM maps both layouts onto the same modules)."""
    return {vllm_qwen2_5_vl_name(n) for n in load_file(str(path / "model.safetensors"))}


def _vllm(names) -> set[str]:
    return {vllm_qwen2_5_vl_name(n) for n in names}


def test_table_names():
    assert hf_name("module.base_model.model.model.language_model.layers.0.self_attn.q_proj.base_layer.weight") == \
        "model.language_model.layers.0.self_attn.q_proj.weight"
    assert hf_name("model.language_model.layers.0.self_attn.q_proj.lora_A.default.weight") is None
    assert hf_name("_orig_mod.model.visual.blocks.0._checkpoint_wrapped_module.attn.qkv.weight") == \
        "model.visual.blocks.0.attn.qkv.weight"
    assert hf_name("lm_head.modules_to_save.default.weight") == "lm_head.weight"
    assert hf_name("lm_head.original_module.weight") is None
    assert vllm_qwen2_5_vl_name("model.language_model.norm.weight") == "language_model.model.norm.weight"
    assert vllm_qwen2_5_vl_name("model.visual.merger.mlp.0.weight") == "visual.merger.mlp.0.weight"
    assert vllm_qwen2_5_vl_name("lm_head.weight") == "language_model.lm_head.weight"
    assert vllm_qwen2_5_vl_name("model.layers.0.mlp.up_proj.weight") == "language_model.model.layers.0.mlp.up_proj.weight"
    assert vllm_qwen2_5_vl_name("visual.blocks.0.norm1.weight") == "visual.blocks.0.norm1.weight"   # old layout


def test_plain_model_yields_checkpoint_names(nano, nano_model):
    names = [n for n, _ in iter_hf_weights(nano)]
    assert len(names) == len(set(names)) and set(names) == set(nano.state_dict())
    assert _vllm(names) == _checkpoint_names(nano_model)     # the modules vLLM fills from the checkpoint itself
    assert {n.split(".")[0] for n in _vllm(names)} == {"language_model", "visual"}


def test_ddp_wrapper_prefix_is_dropped(nano, nano_model):
    wrapper = torch.nn.Module()
    wrapper.module = nano                                      # DDP-style: parameters named "module.…"
    assert _vllm(n for n, _ in iter_hf_weights(wrapper)) == _checkpoint_names(nano_model)


def test_lora_is_merged_out_of_place_and_renamed(nano, nano_model):
    from peft import LoraConfig, get_peft_model

    peft_model = get_peft_model(copy.deepcopy(nano), LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"]))
    for name, p in peft_model.named_parameters():
        if "lora_B" in name:
            torch.nn.init.normal_(p, std=0.5)                # B = 0 at init would make the merge trivial
    before = {n: p.detach().clone() for n, p in peft_model.named_parameters()}
    got = merged_state_dict(peft_model)
    assert set(got) == set(nano.state_dict()) and _vllm(got) == _checkpoint_names(nano_model)
    assert {n: p for n, p in peft_model.named_parameters() if not torch.equal(p, before[n])} == {}   # untouched
    want = copy.deepcopy(peft_model).merge_and_unload().state_dict()
    for name, t in got.items():
        assert torch.allclose(t, want[name], atol=1e-6), name
    q = "model.language_model.layers.0.self_attn.q_proj.weight"
    assert not torch.allclose(got[q], nano.state_dict()[q])  # the adapter really changed the weight
    # the base model under the peft wrapper (what the trainer passes) gives the same weights
    base = {n: t for n, t in iter_hf_weights(peft_model.get_base_model())}
    assert set(base) == set(got) and all(torch.equal(base[n], got[n]) for n in got)


def test_zero3_parameters_are_gathered_one_at_a_time(nano, nano_model, monkeypatch):
    """ZeRO-3 partitions each parameter (``ds_id``); reading one must happen inside GatheredParameters. A stand-in
    for deepspeed.zero.GatheredParameters records what is gathered and when (a real ZeRO-3 run needs GPUs)."""
    model = copy.deepcopy(nano)
    full = {n: p.detach().clone() for n, p in model.named_parameters()}
    gathered_now: list = []
    log: list[int] = []

    for i, p in enumerate(model.parameters()):
        p.ds_id = i
        p.data = torch.empty(0)                              # partitioned: nothing local

    names = {id(p): n for n, p in model.named_parameters()}

    @contextlib.contextmanager
    def gathered_parameters(params, modifier_rank=None):
        assert modifier_rank is None                          # read-only: changes would be discarded anyway
        for p in params:
            p.data = full[names[id(p)]]
        gathered_now.extend(params)
        log.append(len(params))
        yield
        for p in params:
            p.data = torch.empty(0)
        del gathered_now[:]

    fake = types.ModuleType("deepspeed")
    fake.zero = types.SimpleNamespace(GatheredParameters=gathered_parameters)
    monkeypatch.setitem(sys.modules, "deepspeed", fake)
    seen = {}
    for name, t in iter_hf_weights(model):
        assert len(gathered_now) == 1 and t.numel() > 0      # this parameter, and only it, is gathered
        seen[name] = t.clone()
    assert log == [1] * len(seen)
    assert _vllm(seen) == _checkpoint_names(nano_model)
    assert all(torch.equal(seen[n], full[n]) for n in seen)
