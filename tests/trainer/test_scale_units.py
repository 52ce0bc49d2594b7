"""Scale-out pieces that need one process: the DeepSpeed configs resolved (both shipped files, and the 7B recipe as
a dry run without loading a model), probe permutations (one order per video shared by its group, seeded per
global prompt position, independent of the micro-batch split), gradient checkpointing really running, and data
split across ranks."""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
import torch
import yaml

from video_ktr.config import config_from_dict, load_config

ROOT = Path(__file__).resolve().parents[2]


def _walk(d, prefix=""):
    for k, v in d.items():
        if isinstance(v, dict):
            yield from _walk(v, f"{prefix}{k}.")
        else:
            yield f"{prefix}{k}", v


@pytest.mark.parametrize("name", ["zero2", "zero3"])
def test_shipped_deepspeed_configs_resolve_every_auto(name, tiny_cfg):
    from video_ktr.trainer.setup import build_deepspeed_config

    cfg = config_from_dict(tiny_cfg(trainer={"deepspeed": str(ROOT / f"configs/deepspeed/{name}.json"),
                                             "grad_accum": 3}, optim={"max_grad_norm": 0.7}))
    ds = build_deepspeed_config(cfg, num_processes=2)
    assert not [k for k, v in _walk(ds) if v == "auto"]
    assert ds["train_micro_batch_size_per_gpu"] == 2 and ds["gradient_accumulation_steps"] == 3
    assert ds["train_batch_size"] == 2 * 3 * 2 and ds["gradient_clipping"] == 0.7
    if name == "zero3":
        h = json.loads((Path(cfg.model.path) / "config.json").read_text())["text_config"]["hidden_size"]
        assert ds["zero_optimization"]["reduce_bucket_size"] == h * h
        assert ds["zero_optimization"]["stage3_param_persistence_threshold"] == 10 * h


def test_the_7b_recipe_dry_runs_with_its_deepspeed_config(tmp_path):
    """configs/video_ktr_qwen2_5_vl_7b.yaml + the ZeRO-3 file configs/accelerate/zero3.yaml names, on 8 processes:
    the config tree builds and DeepSpeed gets numbers sized from the 7B text model (config.json only, no weights)."""
    from transformers import Qwen2_5_VLConfig

    from video_ktr.trainer.setup import build_deepspeed_config

    Qwen2_5_VLConfig(text_config={"hidden_size": 3584, "num_hidden_layers": 28, "intermediate_size": 18944,
                                  "num_attention_heads": 28, "num_key_value_heads": 4},
                     vision_config={"hidden_size": 1280, "out_hidden_size": 3584}).save_pretrained(tmp_path / "7b")
    launcher = yaml.safe_load((ROOT / "configs/accelerate/zero3.yaml").read_text())
    ds_file = ROOT / launcher["deepspeed_config"]["deepspeed_config_file"]
    cfg = load_config(ROOT / "configs/video_ktr_qwen2_5_vl_7b.yaml",
                      {"model": {"path": str(tmp_path / "7b")}, "trainer": {"deepspeed": str(ds_file)}})
    ds = build_deepspeed_config(cfg, num_processes=launcher["num_processes"])
    assert ds["zero_optimization"]["stage"] == 3
    assert ds["zero_optimization"]["reduce_bucket_size"] == 3584 * 3584
    assert ds["train_batch_size"] == launcher["num_processes"] * cfg.rollout.batch_size * cfg.trainer.grad_accum
    assert ds["gradient_clipping"] == cfg.optim.max_grad_norm
    assert ds["bf16"]["enabled"] == (cfg.trainer.mixed_precision == "bf16")


def test_a_silent_fallback_from_deepspeed_is_an_error(tiny_cfg, monkeypatch):
    from video_ktr.trainer.setup import build_accelerator

    cfg = config_from_dict(tiny_cfg(trainer={"deepspeed": str(ROOT / "configs/deepspeed/zero2.json")}))
    monkeypatch.setenv("ACCELERATE_USE_CPU", "true")
    with pytest.raises(ValueError, match="ACCELERATE_USE_CPU"):
        build_accelerator(cfg)


def _launch_env(config_file: Path) -> dict:
    """The environment ``accelerate launch --config_file <file>`` gives the training processes."""
    from accelerate.commands.launch import _validate_launch_command, launch_command_parser
    from accelerate.utils.launch import prepare_multi_gpu_env

    args = launch_command_parser().parse_args(["--config_file", str(config_file), "-m", "video_ktr.cli.main"])
    return prepare_multi_gpu_env(_validate_launch_command(args)[0])


def test_the_shipped_fsdp2_launch_config_gives_the_plugin_the_trainer_runs(tiny_cfg, monkeypatch):
    """configs/accelerate/fsdp2.yaml as `accelerate launch` passes it on: FSDP2, one unit per decoder layer, the
    vision tower left out, sharded checkpoints, bf16; without it, trainer.fsdp builds the same plugin (the CPU tests)."""
    from video_ktr.trainer.setup import build_fsdp_plugin

    env = _launch_env(ROOT / "configs/accelerate/fsdp2.yaml")
    for k, v in env.items():
        if k.startswith(("FSDP_", "ACCELERATE_USE_FSDP")):
            monkeypatch.setenv(k, v)
    assert env["ACCELERATE_MIXED_PRECISION"] == "bf16"
    launched = build_fsdp_plugin(config_from_dict(tiny_cfg()))
    for k in [k for k in os.environ if k.startswith(("FSDP_", "ACCELERATE_USE_FSDP"))]:
        monkeypatch.delenv(k)
    assert build_fsdp_plugin(config_from_dict(tiny_cfg())) is None            # DDP unless asked
    own = build_fsdp_plugin(config_from_dict(tiny_cfg(trainer={"fsdp": True})))
    for plugin in (launched, own):
        assert plugin.fsdp_version == 2 and plugin.reshard_after_forward is True
        assert plugin.state_dict_type.name == "SHARDED_STATE_DICT" and not plugin.activation_checkpointing
        assert plugin.auto_wrap_policy.__name__ == "transformer_auto_wrap_policy"
        assert re.fullmatch(plugin.ignored_modules, "model.model.visual")            # the vision tower: replicated
        assert re.fullmatch(plugin.ignored_modules, "model.base_model.model.model.visual")
        assert not re.fullmatch(plugin.ignored_modules, "model.model.visual.blocks.0")


def test_fsdp_settings_the_trainer_does_not_run_are_refused(tiny_cfg, monkeypatch):
    from video_ktr.trainer.setup import build_fsdp_plugin

    with pytest.raises(ValueError, match="pick one"):
        config_from_dict(tiny_cfg(trainer={"fsdp": True, "deepspeed": str(ROOT / "configs/deepspeed/zero3.json")}))
    monkeypatch.setenv("ACCELERATE_USE_FSDP", "true")
    monkeypatch.setenv("FSDP_VERSION", "1")
    with pytest.raises(ValueError, match="FSDP2 only"):
        build_fsdp_plugin(config_from_dict(tiny_cfg()))
    monkeypatch.setenv("FSDP_VERSION", "2")
    monkeypatch.setenv("FSDP_ACTIVATION_CHECKPOINTING", "true")
    with pytest.raises(ValueError, match="model.gradient_checkpointing"):
        build_fsdp_plugin(config_from_dict(tiny_cfg()))


@pytest.fixture(scope="module")
def trainer_and_batch(nano_model, toy_data, tmp_path_factory):
    from video_ktr.trainer import RLTrainer

    cfg = config_from_dict({
        "algorithm": "ktr", "model": {"path": str(nano_model), "freeze_vision_tower": True,
                                      "gradient_checkpointing": True},
        "data": {"train_path": str(toy_data / "train.json"), "cache_media": True},
        "rollout": {"batch_size": 3, "group_size": 4, "max_new_tokens": 4},
        "ktr": {"temporal_fast": True},
        "trainer": {"output_dir": str(tmp_path_factory.mktemp("orders") / "run"), "max_steps": 1, "save_every": 0,
                    "log_samples_every": 0, "progress_bar": False, "report_to": []}})
    trainer = RLTrainer(cfg).setup()
    batch = trainer.data.encode([r for r in trainer.data.records if r.data_type == "video"][:3])
    return trainer, batch


def test_probe_orders_one_per_video_shared_by_its_group_and_split_independent(trainer_and_batch):
    from video_ktr.trainer.scoring import patch_orders, video_frame_orders

    trainer, batch = trainer_and_batch
    cfg, g = trainer.cfg, 4
    orders = patch_orders(cfg, batch, g, step=5, first_prompt=6, temporal_patch_size=2)
    assert len(orders) == 3 * g
    groups = [orders[i * g:(i + 1) * g] for i in range(3)]
    assert all(o == grp[0] for grp in groups for o in grp)               # one order per video, all G rows
    assert len({tuple(grp[0]) for grp in groups}) > 1                     # videos get their own orders
    # the same prompts split into micro-batches of 1 (global positions 6, 7, 8) get the same orders
    parts = []
    for i in range(3):
        one = trainer.data.encode(batch.records[i:i + 1], media=batch.media[i:i + 1])
        parts += patch_orders(cfg, one, g, step=5, first_prompt=6 + i, temporal_patch_size=2)
    assert parts == orders
    # another position (another rank's prompt) or step draws another order; the same ones repeat exactly
    assert patch_orders(cfg, batch, g, step=5, first_prompt=0, temporal_patch_size=2) != orders
    assert patch_orders(cfg, batch, g, step=6, first_prompt=6, temporal_patch_size=2) != orders
    assert patch_orders(cfg, batch, g, step=5, first_prompt=6, temporal_patch_size=2) == orders
    frames = video_frame_orders(cfg, batch, 5, 6, "temporal_probe", mode="shuffle")
    split = [video_frame_orders(cfg, trainer.data.encode(batch.records[i:i + 1], media=batch.media[i:i + 1]),
                                5, 6 + i, "temporal_probe", mode="shuffle")[0] for i in range(3)]
    assert frames == split


def test_the_fast_probe_in_a_step_permutes_each_group_with_one_order(trainer_and_batch, monkeypatch):
    import video_ktr.trainer.scoring as scoring
    import inspect

    from transformers import Qwen2_5_VLModel

    trainer, _ = trainer_and_batch
    if "mm_encoder_outputs" not in inspect.signature(Qwen2_5_VLModel.forward).parameters:
        pytest.skip("transformers < 5.21 cannot take cached vision features (fast temporal probe refused)")
    seen = []
    real = scoring.fast_temporal_probe

    def spy(model, *args, **kw):
        seen.append(kw["orders"])
        return real(model, *args, **kw)

    monkeypatch.setattr(scoring, "fast_temporal_probe", spy)
    trainer.step(1)
    (orders,) = seen
    g = trainer.cfg.rollout.group_size
    assert orders and len(orders) % g == 0                               # G rows per video prompt
    assert all(orders[i] == orders[i - i % g] for i in range(len(orders)))


def test_gradient_checkpointing_runs_in_the_loss_pass(trainer_and_batch):
    """model.gradient_checkpointing=true: the decoder layers are recomputed in the policy pass (train mode);
    generation and probes (eval mode) do not checkpoint."""
    trainer, _ = trainer_and_batch
    layers = [m for m in trainer.passes.model.modules() if getattr(m, "gradient_checkpointing", False)
              and hasattr(m, "_gradient_checkpointing_func")]
    assert layers
    calls = {"n": 0}
    for m in layers:
        fn = m._gradient_checkpointing_func

        def counted(*a, _fn=fn, **k):
            calls["n"] += 1
            return _fn(*a, **k)
        m._gradient_checkpointing_func = counted
    batch = trainer.data.next_batch()
    ro = trainer.passes.generate(trainer.engine, batch, 2, trainer.processor.tokenizer)
    assert calls["n"] == 0                                                # eval mode: no checkpointing
    out = trainer.passes.policy_pass(ro)
    n_text_layers = trainer.passes.model.config.text_config.num_hidden_layers
    assert calls["n"] >= n_text_layers > 0                               # every decoder layer checkpointed
    out.logp.sum().backward()
    trainer.optimizer.zero_grad(set_to_none=True)
    assert trainer.passes.model.training is True


def test_ranks_split_one_shared_order_and_count_steps_from_the_global_batch(nano_model, toy_data):
    from transformers import AutoProcessor

    from video_ktr.trainer.batches import PromptSource

    cfg = config_from_dict({"model": {"path": str(nano_model)}, "data": {"train_path": str(toy_data / "train.json")},
                            "rollout": {"batch_size": 2, "group_size": 2}, "trainer": {"grad_accum": 2}})
    proc = AutoProcessor.from_pretrained(nano_model)
    ranks = [PromptSource.from_config(cfg, proc, num_processes=2, rank=r, grad_accum=2) for r in (0, 1)]
    one = PromptSource.from_config(cfg, proc, num_processes=1, rank=0, grad_accum=4)
    assert ranks[0].steps_per_epoch() == one.steps_per_epoch() == len(one.records) // 8
    for _ in range(3):                                                    # 3 steps
        mine = [[r.problem_id for r in src.next_micro_records()] for src in ranks for _ in range(2)]
        ref = [[r.problem_id for r in one.next_micro_records()] for _ in range(4)]
        assert mine == ref                                                # rank-major = the 1-process order
        assert ranks[0].state_dict() == ranks[1].state_dict() == one.state_dict()
    # refills: agreed counts, disjoint records, same position everywhere
    a, b = ranks[0].take_shared([1, 2]), ranks[1].take_shared([1, 2])
    assert len(a) == 1 and len(b) == 2 and not {r.problem_id for r in a} & {r.problem_id for r in b}
    assert ranks[0].state_dict() == ranks[1].state_dict()
