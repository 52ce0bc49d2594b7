"""LoRA runs save a merged model/ that loads like any checkpoint, plus the adapter with a relative base path."""
import json
from pathlib import Path

import torch

from video_ktr.config import config_from_dict
from video_ktr.rollout.weights import merged_state_dict
from video_ktr.trainer import RLTrainer


def test_lora_checkpoint_has_merged_model_and_relative_adapter(tiny_cfg, tmp_path):
    from transformers import AutoModelForImageTextToText

    cfg = config_from_dict(tiny_cfg(algorithm="grpo", model={"lora": {"enabled": True, "r": 4, "alpha": 8}},
                                    optim={"lr": 5e-2}, trainer={"max_steps": 2}))
    trainer = RLTrainer(cfg).setup()
    trainer.train()
    ckpt = tmp_path / "run" / "checkpoints" / "step-2"
    adapter_cfg = json.loads((ckpt / "adapter" / "adapter_config.json").read_text())
    base = adapter_cfg["base_model_name_or_path"]
    assert not Path(base).is_absolute()
    assert (ckpt / "adapter" / base).resolve() == Path(cfg.model.path).resolve()
    loaded = AutoModelForImageTextToText.from_pretrained(ckpt / "model").state_dict()
    want = merged_state_dict(trainer.passes.module.model)             # the peft model inside the PassModule
    assert set(loaded) == set(want)
    assert all(torch.allclose(loaded[k], want[k]) for k in want)
    # model/ == base ⊕ adapter/, the adapter's base found through its relative path
    from peft import PeftModel

    base_model = AutoModelForImageTextToText.from_pretrained(ckpt / "adapter" / base)
    redo = PeftModel.from_pretrained(base_model, ckpt / "adapter").merge_and_unload().state_dict()
    assert all(torch.allclose(loaded[k], redo[k], atol=1e-6) for k in want)
    assert (ckpt / "model" / "preprocessor_config.json").exists() or (ckpt / "model" / "processor_config.json").exists()
