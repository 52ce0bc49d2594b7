"""A self-contained HTML key-token viewer: frames above, each completion token coloured by the signals that chose it.

One file, no network: CSS and JS inline, frames as base64 data URIs. Model text is untrusted: every string from the
run directory goes through `html.escape` and the script reads only data-* attributes (textContent, never innerHTML).
Filters: step, reward range; an initial filter can be given in the URL hash, e.g. `view.html#step=3&rmin=0.5`.
"""
from __future__ import annotations

import base64
import html
import mimetypes
from collections.abc import Sequence
from pathlib import Path

from video_ktr.analysis.rundir import SIGNALS, Sample
from video_ktr.analysis.words import token_texts

COLOURS = {"entropy": "#ffaa00", "visual": "#0078ff", "temporal": "#00be5a", "several": "#be00c8"}
SHORT = {"entropy": "e", "visual": "v", "temporal": "t", "several": "m"}

CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:0;background:#fafafa;color:#222}
header{position:sticky;top:0;background:#fff;border-bottom:1px solid #ddd;padding:8px 16px;z-index:2}
header label{margin-right:14px} .legend span{padding:1px 6px;margin-right:6px;border-radius:3px}
main{padding:8px 16px} .group{background:#fff;border:1px solid #ddd;border-radius:6px;margin:10px 0;padding:8px 12px}
.group h3{margin:2px 0;font-size:15px} .q{color:#555;white-space:pre-wrap;margin:4px 0}
.frames img{height:64px;margin:0 3px 3px 0;image-rendering:pixelated;border:1px solid #ccc}
.comp{border-top:1px dashed #ddd;padding:6px 0} .meta{color:#666;font-size:12px}
.text{white-space:pre-wrap;font-family:ui-monospace,monospace;font-size:13px;margin:4px 0}
.t{border-radius:2px} .t:hover{outline:1px solid #000}
""" + "".join(f".s-{SHORT[k]}{{background:{c};color:#fff}}" for k, c in COLOURS.items()) + \
    "".join(f".legend .s-{SHORT[k]}{{background:{c}}}" for k, c in COLOURS.items())

JS = """
(function(){
  var step=document.getElementById('f-step'), rmin=document.getElementById('f-rmin'),
      rmax=document.getElementById('f-rmax'), count=document.getElementById('count');
  function apply(){
    var s=step.value, lo=parseFloat(rmin.value), hi=parseFloat(rmax.value), shown=0, total=0;
    document.querySelectorAll('.group').forEach(function(g){
      var any=false;
      g.querySelectorAll('.comp').forEach(function(c){
        total++;
        var r=parseFloat(c.dataset.reward), ok=(s==='all'||c.dataset.step===s)&&!(r<lo)&&!(r>hi);
        c.hidden=!ok; if(ok){any=true;shown++;}
      });
      g.hidden=!any;
    });
    count.textContent=shown+' of '+total+' completions';
  }
  var h=new URLSearchParams(location.hash.slice(1));
  if(h.has('step')) step.value=h.get('step');
  if(h.has('rmin')) rmin.value=h.get('rmin');
  if(h.has('rmax')) rmax.value=h.get('rmax');
  [step,rmin,rmax].forEach(function(el){el.addEventListener('input',apply);});
  apply();
})();
"""


def token_class(selected: Sequence[str]) -> str:
    """CSS class for a token chosen by these signals: one colour per signal, one for several, none for none."""
    if not selected:
        return ""
    return "s-m" if len(selected) > 1 else f"s-{SHORT[selected[0]]}"


def _fmt(x) -> str:
    return "–" if x is None else f"{x:.4g}"


def render_tokens(sample: Sample) -> str:
    """The completion as escaped <span class="t …"> elements, one per token, with scores in the title."""
    parts = []
    key = sample.mask("key")
    for i, text in enumerate(token_texts(sample.tokens)):
        chosen = [s for s in SIGNALS if sample.applies(s) and sample.masks[s][i]]
        scores = " ".join(f"{s}={_fmt(sample.scores[s][i])}" for s in SIGNALS if s in sample.scores and sample.applies(s))
        title = f"#{i} {sample.tokens[i]!r} | {scores} | selected: {', '.join(chosen) or 'none'}"
        cls = " ".join(c for c in ("t", token_class(chosen), "key" if key[i] else "") if c)
        parts.append(f'<span class="{cls}" title="{html.escape(title)}">{html.escape(text)}</span>')
    return "".join(parts)


def data_uri(path: Path) -> str | None:
    """A file as a base64 data URI (None when missing)."""
    path = Path(path)
    if not path.is_file():
        return None
    mime = mimetypes.guess_type(path.name)[0] or "image/png"
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"


def render_page(samples: Sequence[Sample], *, title: str = "key tokens", max_frames: int = 16) -> str:
    """The whole page: one card per (step, problem) with its frames, then its completions."""
    groups: dict[tuple[int, str], list[Sample]] = {}
    for s in samples:
        groups.setdefault((s.step, s.problem_id), []).append(s)
    steps = sorted({s.step for s in samples})
    rewards = [s.reward for s in samples] or [0.0]
    cards = []
    for (step, pid), group in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1])):
        head = group[0]
        imgs = "".join(f'<img alt="frame {k}" src="{uri}">' for k, f in enumerate(head.frames[:max_frames])
                       if (uri := data_uri(f)))
        comps = []
        for s in group:
            key = s.mask("key")
            meta = (f"reward {s.reward:.3f} (" + ", ".join(f"{html.escape(k)} {v:.2f}" for k, v in s.rewards.items())
                    + f") · advantage {s.advantage:+.3f} · key {sum(key)}/{len(key)} tokens")
            comps.append(f'<div class="comp" data-step="{step}" data-reward="{s.reward!r}">'
                         f'<div class="meta">{meta}</div><div class="text">{render_tokens(s)}</div></div>')
        cards.append(f'<section class="group" data-step="{step}"><h3>step {step} · problem {html.escape(pid)} · '
                     f'{html.escape(head.data_type)}</h3><div class="q">{html.escape(head.problem)}</div>'
                     f'<div class="frames">{imgs}</div>{"".join(comps)}</section>')
    options = '<option value="all">all</option>' + "".join(f'<option value="{s}">{s}</option>' for s in steps)
    legend = "".join(f'<span class="s-{SHORT[k]}">{k}</span>' for k in COLOURS)
    lo, hi = min(rewards), max(rewards)
    page = (f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f'<style>{CSS}</style></head><body><header><b>{html.escape(title)}</b> &nbsp; '
            f'<label>step <select id="f-step">{options}</select></label>'
            f'<label>reward ≥ <input id="f-rmin" type="number" step="0.1" value="{lo}"></label>'
            f'<label>reward ≤ <input id="f-rmax" type="number" step="0.1" value="{hi}"></label>'
            f'<span id="count"></span><div class="legend">selected by: {legend} (hover a token for its scores)</div>'
            f'</header><main>{"".join(cards)}</main><script>{JS}</script></body></html>')
    return page.encode("utf-8", "replace").decode("utf-8")  # lone surrogates (torn multi-byte tokens) -> "?"
