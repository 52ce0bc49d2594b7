import pytest


@pytest.fixture
def tiny_cfg(nano_model, toy_data, tmp_path):
    """A config dict for 2 prompts x 2 samples x 8 new tokens on the nano model (seconds per step on CPU)."""
    def make(**sections):
        cfg = {"algorithm": "ktr",
               "model": {"path": str(nano_model), "freeze_vision_tower": True},
               "data": {"train_path": str(toy_data / "train.json"), "eval_path": str(toy_data / "eval.json"),
                        "cache_media": True},
               "rollout": {"batch_size": 2, "group_size": 2, "max_new_tokens": 8},
               "optim": {"lr": 1e-3, "lr_scheduler": "constant"},
               "trainer": {"output_dir": str(tmp_path / "run"), "max_steps": 3, "save_every": 0,
                           "log_samples_every": 1, "progress_bar": False, "report_to": []},
               "eval": {"max_new_tokens": 8}}
        for k, v in sections.items():
            cfg[k] = {**cfg.get(k, {}), **v} if isinstance(v, dict) else v
        return cfg
    return make
