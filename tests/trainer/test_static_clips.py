"""Static clips: a video whose sampled frames do not change (up to codec noise) has no temporal signal.

With ``ktr.static_frame_tol`` > 0 its temporal score is set to exactly 0, so ``ktr.on_constant`` decides what the
group keeps (all tokens: reference rule; none), instead of a ranking of H.264 noise."""
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from video_ktr.config import load_config
from video_ktr.data.media import Media
from video_ktr.toy import build_toy_data
from video_ktr.trainer.scoring import select_keys, static_video_rows


def _media(frames, kind="video"):
    return Media(kind=kind, frames=frames, frame_indices=list(range(len(frames))), native_fps=4.0, sample_fps=2.0,
                 path=Path("x.mp4"), total_frames=len(frames))


def test_frame_change_on_decoded_toy_clips(tmp_path):
    """Decoded (H.264) static clips: codec noise < 1 grey level; a clip whose square changes colour: > 5."""
    from video_ktr.data.budget import MediaBudget
    from video_ktr.data.media import load_video

    data = build_toy_data(tmp_path / "d", n=12, n_eval=8, size=32, mix={"first_colour": 1, "static_colour": 1},
                          num_options=0, colours=2, cot="short")
    import json
    rows = json.loads((data / "train.json").read_text())
    change = {"static_colour": [], "first_colour": []}
    for r in rows:
        m = load_video(data / r["path"], MediaBudget(fps=2.0), patch_multiple=28)
        change[r["task"]].append(m.frame_change())
    assert change["static_colour"] and change["first_colour"]
    assert max(change["static_colour"]) < 1.0, change
    assert min(change["first_colour"]) > 5.0, change


def test_frame_change_exact_and_image():
    frames = np.full((4, 8, 8, 3), 100, np.uint8)
    assert _media(frames).frame_change() == 0.0
    frames[2] += 2                                  # one frame 2 grey levels brighter everywhere
    assert _media(frames).frame_change() == pytest.approx(2.0)
    assert _media(frames[:1], kind="image").frame_change() == 0.0


def test_static_rows_zero_the_temporal_score_and_on_constant_decides():
    static = np.full((4, 8, 8, 3), 50, np.uint8)
    static[1:, 0, 0, 0] += 3                        # codec-like noise: mean change 1/64 grey level
    moving = static.copy()
    moving[2:] = 200
    media = [_media(static), _media(moving)]
    assert static_video_rows(media, 2, 1.0).tolist() == [True, True, False, False]
    assert static_video_rows(media, 2, 0.0).tolist() == [False, False, False, False]

    torch.manual_seed(0)
    N, T = 4, 6
    valid = torch.ones(N, T, dtype=torch.bool)
    entropy = torch.rand(N, T)
    temporal = torch.rand(N, T) * 1e-3              # static rows: a ranking of noise unless zeroed
    policy_out = SimpleNamespace(entropy=entropy)
    mb = SimpleNamespace(valid=valid, probes={}, ro=SimpleNamespace(group_size=2, completion_mask=valid),
                         batch=SimpleNamespace(media=media))

    def keys(*over):
        cfg = load_config(None, ["ktr.signals=[temporal]", *over])
        import video_ktr.trainer.scoring as sc
        orig = sc.counterfactual_score
        sc.counterfactual_score = lambda *a, **k: temporal
        try:
            mb.probes = {"temporal": None}
            key, metrics = select_keys(cfg, mb, policy_out)
        finally:
            sc.counterfactual_score = orig
        return key, metrics

    key_off, m_off = keys()                                     # reference: noise ranks the static group's tokens
    assert 0 < key_off[:2].float().mean() < 0.5 and "ktr/static_videos" not in m_off
    key_all, m_all = keys("ktr.static_frame_tol=1.0")           # constant → reference rule keeps all of them
    assert key_all[:2].all() and m_all["ktr/static_videos"] == 0.5 and m_all["ktr/constant_temporal"] == 0.5
    key_none, _ = keys("ktr.static_frame_tol=1.0", "ktr.on_constant=none")   # ... or none
    assert not key_none[:2].any()
    for k in (key_off, key_all, key_none):                      # the moving clip's group is ranked as before
        assert torch.equal(k[2:], key_off[2:])
