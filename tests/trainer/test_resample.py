"""DAPO dynamic sampling with refill: all-equal groups are replaced by fresh prompts, rows stay aligned."""
import torch

import video_ktr.trainer.resample as rs
from video_ktr.config import config_from_dict
from video_ktr.trainer import RLTrainer
from video_ktr.trainer.advantages import informative_groups


def test_refill_replaces_dead_groups_and_keeps_rows_aligned(tiny_cfg, monkeypatch):
    cfg = config_from_dict(tiny_cfg(algorithm="dapo", rollout={"batch_size": 2, "group_size": 2, "max_resample": 2}))
    tr = RLTrainer(cfg).setup()
    batch = tr.data.next_batch()
    ro = tr.engine.generate(tr.unwrapped, batch, 2, tr.processor.tokenizer)
    total = torch.tensor([1.0, 0.0, 0.5, 0.5])          # group 0 informative, group 1 all-equal (dead)
    per = {"accuracy": total.clone(), "format": torch.zeros(4)}

    def varied(cfg_, extra, extra_ro, acc):              # the fresh prompt's completions disagree: informative
        n = extra_ro.completion_ids.shape[0]
        r = torch.arange(n, dtype=torch.float32)
        return r, {"accuracy": r.clone(), "format": torch.zeros(n)}

    monkeypatch.setattr(rs, "score_rewards", varied)
    new_batch, new_ro, new_total, new_per, rounds = rs.refill_uninformative(tr, batch, ro, total, per, max_rounds=2)
    assert rounds == 1
    assert len(new_batch) == 2 and new_batch.records[0] is batch.records[0]          # kept group first
    assert new_batch.records[1] is not batch.records[1]                               # dead group replaced
    assert informative_groups(new_total, 2).all()
    assert new_total[:2].tolist() == [1.0, 0.0] and new_ro.texts[:2] == ro.texts[:2]
    assert torch.equal(new_ro.completion_ids[:2, :ro.completion_ids.shape[1]][new_ro.completion_mask[:2, :ro.completion_ids.shape[1]]],
                       ro.completion_ids[:2][ro.completion_mask[:2]])
    new_ro.validate()
    assert new_per["accuracy"].shape == (4,)


def test_dapo_step_reports_resample_rounds(tiny_cfg):
    cfg = config_from_dict(tiny_cfg(algorithm="dapo", rollout={"max_resample": 2}, trainer={"max_steps": 1}))
    hist = RLTrainer(cfg).setup().train()
    # the random nano model's rewards are mostly all-equal, so refill rounds run (at most max_resample per step)
    assert 0 <= hist[0]["data/resample_rounds"] <= 2 and "time/resample" in hist[0]
