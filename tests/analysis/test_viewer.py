"""The HTML viewer: escaping and structure as strings, then rendered by headless Chromium (DOM + screenshot)."""
import re

import numpy as np
import pytest
from PIL import Image

from tests.analysis.browser import dump_dom, find_chromium, screenshot
from tests.analysis.conftest import SAMPLE_A, SAMPLE_B, SAMPLE_C, _sample, write_run
from video_ktr.analysis.rundir import load_samples
from video_ktr.analysis.viewer import COLOURS, render_page, token_class

needs_chromium = pytest.mark.skipif(find_chromium() is None, reason="chromium not found on PATH; `make browser` "
                                    "installs it (apt-get install chromium)")
EVIL = _sample(5, "<b>p9</b>", "video", ["<think>", "<img src=x onerror=alert(1)>", "</script><script>alert(2)",
                                         "</think>"], 1.0, 0.0, {"entropy": [1]},
               problem="\"><script>alert(3)</script>")
# token classes: A 1:e 4:v 5:v 8:e+t 12:t · B 1:e 3:v · C 1:e 3:v · EVIL 1:e
EXPECTED = {"s-e": 4, "s-v": 4, "s-t": 1, "s-m": 1}


@pytest.fixture
def page(tmp_path):
    run = write_run(tmp_path / "run", losses=[1], rewards=[1], kls=[0], samples=[SAMPLE_A, SAMPLE_B, SAMPLE_C, EVIL])
    out = tmp_path / "view.html"
    out.write_text(render_page(load_samples(run)))
    return out


def test_token_class():
    assert token_class([]) == "" and token_class(["visual"]) == "s-v" and token_class(["entropy", "visual"]) == "s-m"


def test_page_is_self_contained_and_escaped(page):
    html = page.read_text()
    assert html.count('<span class="t') == 14 + 10 + 8 + 4
    assert "<img src=x" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    assert html.count("<script>") == 1 and "alert(3)</script>" not in html
    assert html.count("data:image/png;base64,") == 3            # p1's two frames once (one card), p2's one
    assert "http://" not in html and "https://" not in html     # nothing to fetch


@needs_chromium
def test_dom_in_chromium(page):
    dom = dump_dom(page)
    spans = re.findall(r'<span class="t( [^"]*)?"', dom)
    assert len(spans) == 36
    for cls, n in EXPECTED.items():
        assert sum(cls in (s or "") for s in spans) == n, cls
    assert len(re.findall(r"<img\b", dom)) == 3 and len(re.findall(r"<script\b", dom)) == 1
    assert "4 of 4 completions" in dom
    assert 'title="#8 \' first\' | entropy=2 visual=0.5 temporal=2 | selected: entropy, temporal"' in dom


@needs_chromium
@pytest.mark.parametrize("fragment, shown", [("step=3", 1), ("rmin=0.5", 3), ("step=1&rmax=1", 1), ("", 4)])
def test_filters_in_chromium(page, fragment, shown):
    dom = dump_dom(page, fragment)
    assert f"{shown} of 4 completions" in dom
    visible = re.findall(r'<div class="comp" data-step="\d+" data-reward="[^"]+">', dom)   # no hidden attribute
    assert len(visible) == shown


@needs_chromium
def test_screenshot_shows_frames_and_coloured_tokens(page, tmp_path):
    img = np.asarray(Image.open(screenshot(page, tmp_path / "shot.png")).convert("RGB")).astype(int)
    body = img[90:]                                              # below the sticky header (its legend is coloured too)

    def count(rgb, tol=12):
        return int((np.abs(body - np.array(rgb)).max(-1) <= tol).sum())
    for name, hexcol in COLOURS.items():
        rgb = tuple(int(hexcol[i:i + 2], 16) for i in (1, 3, 5))
        assert count(rgb) > 30, f"no {name}-coloured token pixels"
    assert count((255, 0, 0), tol=2) > 1000 and count((0, 0, 255), tol=2) > 1000     # the red and blue frames


def test_viewer_embeds_only_the_runs_own_frames(tmp_path):
    secret = tmp_path / "secret.png"
    Image.new("RGB", (8, 8), (1, 2, 3)).save(secret)
    (tmp_path / "passwd").write_text("root:x:0:0")
    run = write_run(tmp_path / "run", losses=[1], rewards=[1], kls=[0], samples=[
        _sample(1, "p1", "video", ["a"], 1.0, 0.0, {"entropy": [1]},
                frames=["samples/frames/p1_0.png", str(secret), str(tmp_path / "passwd"), "../secret.png",
                        "samples/frames/../../../secret.png", "samples/frames/link.png"])])
    (run / "samples" / "frames" / "link.png").symlink_to(secret)
    frames = load_samples(run)[0].frames
    assert frames == [(run / "samples" / "frames" / "p1_0.png").resolve()]
    assert render_page(load_samples(run)).count("base64,") == 1


def test_viewer_tolerates_lone_surrogates(tmp_path):
    run = write_run(tmp_path / "run", losses=[1], rewards=[1], kls=[0], samples=[
        _sample(1, "p\ud800", "video", ["a", "\udcff", "b"], 1.0, 0.0, {"entropy": [1, 0, 1]},
                problem="q \ud83d")])
    out = tmp_path / "view.html"
    out.write_text(render_page(load_samples(run)))
    assert "<span" in out.read_text()
