"""Kept vs masked tokens in the logged completions: counts, top tokens/words, part of speech, word clouds.

A sample takes part in a signal's statistics when the signal applies to it (`Sample.applies`: logged, some non-null
score, never temporal on an image) — so image samples do not count as "masked by temporal". The key mask covers
every sample.
Words follow the rule in `video_ktr.analysis.words` (a word is kept if any of its tokens is kept).
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from video_ktr.analysis.rundir import MASK_NAMES, Sample
from video_ktr.analysis.words import Tagger, Word, regex_tagger, token_texts, word_is_kept, words_of


def _top(counter: Counter, k: int) -> list[list]:
    return [[w, n] for w, n in sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))[:k]]


def _mean(xs: list[float]) -> float | None:
    return sum(xs) / len(xs) if xs else None


def signal_stats(samples: Sequence[Sample], words: Sequence[Sequence[Word]], signal: str, *, top_k: int = 20) -> dict:
    """Kept/masked statistics of one signal over the samples that take part in it."""
    kept_tok, masked_tok, kept_word, masked_word = Counter(), Counter(), Counter(), Counter()
    pos_kept, pos_masked = Counter(), Counter()
    score_kept, score_masked = [], []
    n_samples = 0
    for s, ws in zip(samples, words):
        if not s.applies(signal):
            continue
        n_samples += 1
        mask = s.mask(signal)
        texts = token_texts(s.tokens)
        scores = s.scores.get(signal)
        for i, t in enumerate(texts):
            (kept_tok if mask[i] else masked_tok)[t.strip() or t] += 1
            if scores is not None and scores[i] is not None:
                (score_kept if mask[i] else score_masked).append(float(scores[i]))
        for w in ws:
            kept = word_is_kept(w, mask)
            (kept_word if kept else masked_word)[w.text] += 1
            if w.pos:
                (pos_kept if kept else pos_masked)[w.pos] += 1
    n_kept, n_masked = sum(kept_tok.values()), sum(masked_tok.values())
    nw_kept, nw_masked = sum(kept_word.values()), sum(masked_word.values())
    pos = {p: {"kept": pos_kept[p], "masked": pos_masked[p],
               "kept_share": pos_kept[p] / max(1, sum(pos_kept.values())),
               "masked_share": pos_masked[p] / max(1, sum(pos_masked.values()))}
           for p in sorted(set(pos_kept) | set(pos_masked))}
    return {
        "num_samples": n_samples, "num_tokens": n_kept + n_masked, "num_kept_tokens": n_kept,
        "kept_token_frac": n_kept / max(1, n_kept + n_masked),
        "num_words": nw_kept + nw_masked, "num_kept_words": nw_kept, "kept_word_frac": nw_kept / max(1, nw_kept + nw_masked),
        "mean_score_kept": _mean(score_kept), "mean_score_masked": _mean(score_masked),
        "top_kept_tokens": _top(kept_tok, top_k), "top_masked_tokens": _top(masked_tok, top_k),
        "top_kept_words": _top(kept_word, top_k), "top_masked_words": _top(masked_word, top_k),
        "pos": pos,
        "kept_word_counts": dict(kept_word), "masked_word_counts": dict(masked_word),
    }


def token_stats(samples: Sequence[Sample], *, tagger: Tagger = regex_tagger, top_k: int = 20) -> dict[str, dict]:
    """signal -> `signal_stats`, for every signal some sample logged (entropy, visual, temporal, key)."""
    words = words_of([s.tokens for s in samples], tagger)
    present = [m for m in MASK_NAMES if any(m in s.masks for s in samples)]
    return {m: signal_stats(samples, words, m, top_k=top_k) for m in present}


def cloud_words(counts: dict[str, int]) -> dict[str, int]:
    """Words fit for a cloud: at least one letter or digit, no markup."""
    return {w: n for w, n in counts.items() if any(ch.isalnum() for ch in w) and not w.startswith("<")}


def plot_wordclouds(stats: dict[str, dict], out: Path, *, seed: int = 0) -> Path:
    """One row per signal, kept words left, masked words right (word size ∝ count)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    try:
        from wordcloud import WordCloud
    except ImportError as e:
        raise ImportError("word clouds need the optional analysis extra: pip install -e '.[analysis]' "
                          "(make setup does)") from e

    names = list(stats)
    fig, axes = plt.subplots(len(names), 2, figsize=(10, 2.6 * len(names)), squeeze=False)
    for row, name in zip(axes, names):
        for ax, side, cmap in ((row[0], "kept", "viridis"), (row[1], "masked", "Greys")):
            words = cloud_words(stats[name][f"{side}_word_counts"])
            ax.axis("off")
            ax.set_title(f"{name}: {side} words ({sum(words.values())})", fontsize=10)
            if words:
                wc = WordCloud(width=500, height=250, background_color="white", colormap=cmap, random_state=seed,
                               prefer_horizontal=0.95, min_font_size=8)
                ax.imshow(wc.generate_from_frequencies(words), interpolation="bilinear")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def plot_pos(stats: dict[str, dict], out: Path, *, top: int = 12) -> Path:
    """Part-of-speech share among kept vs masked words, one panel per signal."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [n for n in stats if stats[n]["pos"]]
    fig, axes = plt.subplots(1, max(1, len(names)), figsize=(4.2 * max(1, len(names)), 3.6), squeeze=False)
    for ax, name in zip(axes[0], names):
        pos = stats[name]["pos"]
        tags = sorted(pos, key=lambda p: -(pos[p]["kept"] + pos[p]["masked"]))[:top]
        xs = range(len(tags))
        ax.bar([x - 0.2 for x in xs], [pos[p]["kept_share"] for p in tags], width=0.4, label="kept", color="#d62728")
        ax.bar([x + 0.2 for x in xs], [pos[p]["masked_share"] for p in tags], width=0.4, label="masked", color="#7f7f7f")
        ax.set_xticks(list(xs), tags, rotation=60, fontsize=8)
        ax.set_title(name)
        ax.set_ylabel("share of words")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
