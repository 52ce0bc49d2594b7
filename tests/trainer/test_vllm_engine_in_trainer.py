"""rollout.engine=vllm inside real training steps on CPU, vLLM replaced by the recording fake at its import seam:
weights pushed every step, requests carry T-GRPO's shuffled frame orders, completions are scored and trained on."""
import numpy as np

from tests.rollout.test_vllm import FakeLLM, fake_vllm  # noqa: F401 (fixture)
from video_ktr.config import config_from_dict
from video_ktr.rollout.weights import iter_hf_weights
from video_ktr.trainer import RLTrainer


def test_t_grpo_steps_with_the_vllm_engine(fake_vllm, tiny_cfg, monkeypatch):  # noqa: F811
    for k in ("RANK", "LOCAL_RANK", "WORLD_SIZE"):            # one process (the fixture pretends to be rank 1 of 2)
        monkeypatch.delenv(k)
    cfg = config_from_dict(tiny_cfg(algorithm="t_grpo", rollout={"engine": "vllm", "vllm_max_model_len": 1024},
                                    trainer={"max_steps": 2}))
    trainer = RLTrainer(cfg).setup()
    history = trainer.train()
    assert len(history) == 2
    (llm,) = FakeLLM.instances
    assert llm.kwargs["max_model_len"] == 1024 and llm.kwargs["seed"] == cfg.trainer.seed
    n_weights = len(list(iter_hf_weights(trainer.unwrapped)))
    assert len(llm.loaded) == 2 * n_weights                  # every parameter pushed once per step
    generates = [c for c in llm.calls if c[0] == "generate"]
    assert len(generates) >= 4                               # per step: the policy's groups + the shuffled groups
    assert llm.calls.count(("reset_prefix_cache",)) == 2
    # T-GRPO: each step samples the prompts, then the same prompts on shuffled frames (same pixels, new order)
    first, shuffled = llm.history[0], llm.history[1]
    assert [r["prompt_token_ids"] for r in first] == [r["prompt_token_ids"] for r in shuffled]
    pairs = [(a["multi_modal_data"]["video"][0], b["multi_modal_data"]["video"][0])
             for a, b in zip(first, shuffled) if "video" in a["multi_modal_data"]]
    assert pairs
    for a, b in pairs:
        assert not np.array_equal(a, b)
        assert sorted(f.tobytes() for f in a) == sorted(f.tobytes() for f in b)
    assert all(np.isfinite(h["loss/policy"]) for h in history)
