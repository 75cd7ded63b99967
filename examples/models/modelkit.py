"""Shared pieces of the example models: data reading, tokenisation, the two model kinds, load/save.

Every model directory holds `meta.json` (which kind, how it was trained) and `labels.json` (the
class names, as strings, in the order of the model's probability columns). `load_model(dir)`
returns an object with `.labels` and `.predict_proba(list_of_texts) -> float64 array [n, k]`,
which is all the servers need.
"""

from __future__ import annotations

import json
import re
import unicodedata
from pathlib import Path

import numpy as np

FORMAT = "bezoar-example-model/1"

# Tokenisation shared by the numpy embedbag model and its Hugging Face tokenizer.json: lowercase,
# then runs of word characters or runs of other non-space characters. That is the `tokenizers`
# Lowercase normalizer + Whitespace pre-tokenizer (regex \w+|[^\w\s]+), whose \w and \s are
# Unicode's (UTS #18, as in Oniguruma and Rust's regex crate), not Python's: Python's \w lacks
# combining marks (U+FE0F in emoji, Indic vowel signs), U+200C/U+200D and circled letters, and
# has No digits like "²"; Python's \s has U+001C..U+001F. So the classes are spelled out below;
# a sweep of every code point against `tokenizers` 0.22 agrees on all of Python's Unicode
# (check.py repeats it). Lowercasing is per character, as Rust's char::to_lowercase does, not
# str.lower(), which gives a word-final capital sigma the final form.
PAD_ID, UNK_ID = 0, 1
PAD, UNK = "[PAD]", "[UNK]"
SPACE = "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
_ASCII_RE = re.compile(r"[A-Za-z0-9_]+|[^A-Za-z0-9_\t\n\x0b\x0c\r ]+")
_unicode_re = None


def is_word_char(c: str) -> bool:
    cat = unicodedata.category(c)
    return (cat[0] in "LM" or cat in ("Nd", "Nl", "Pc") or c in "\u200c\u200d"
            or "\u24b6" <= c <= "\u24e9"  # circled letters: Other_Alphabetic symbols
            or "\U0001f130" <= c <= "\U0001f149" or "\U0001f150" <= c <= "\U0001f169"
            or "\U0001f170" <= c <= "\U0001f189")


def _unicode_pattern():
    """The full-Unicode token regex, built once (about 0.3 s) on first use."""
    global _unicode_re
    if _unicode_re is None:
        ranges, start = [], None
        for cp in range(0x110001):
            inside = cp < 0x110000 and is_word_char(chr(cp))
            if inside and start is None:
                start = cp
            elif not inside and start is not None:
                ranges.append(f"\\U{start:08x}-\\U{cp - 1:08x}")
                start = None
        word = "".join(ranges)
        _unicode_re = re.compile(f"[{word}]+|[^{word}{SPACE}]+")
    return _unicode_re


def tokenize(text: str) -> list[str]:
    if text.isascii():
        return _ASCII_RE.findall(text.lower())
    return _unicode_pattern().findall("".join(c.lower() for c in text))


def read_jsonl(path, text_col="text", label_col="label", id_col="id", need_label=True):
    """Rows as dicts with keys text, label (str), id (str or None). Blank lines are skipped."""
    rows = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            obj = json.loads(line)
            text = obj.get(text_col)
            if not isinstance(text, str):
                raise ValueError(f"{path}:{n}: field {text_col!r} missing or not a string")
            label = obj.get(label_col)
            if need_label and label is None:
                raise ValueError(f"{path}:{n}: field {label_col!r} missing")
            rid = obj.get(id_col)
            rows.append({"text": text, "label": None if label is None else str(label),
                         "id": None if rid is None else str(rid), "raw": obj})
    return rows


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


class TfidfLR:
    """sklearn Pipeline(TfidfVectorizer, LogisticRegression) stored with joblib."""

    kind = "tfidf-lr"
    platform = "sklearn"

    def __init__(self, pipeline):
        self.pipeline = pipeline
        self.labels = [str(c) for c in pipeline.classes_]

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        return self.pipeline.predict_proba(texts)

    def save(self, out: Path):
        import joblib
        joblib.dump(self.pipeline, out / "model.joblib")

    @classmethod
    def load(cls, d: Path):
        import joblib
        return cls(joblib.load(d / "model.joblib"))


class EmbedBag:
    """Mean of word embeddings, then one linear layer: logits = mean(E[ids]) @ W + b.

    Parameters are plain float32 arrays in model.npz; the vocabulary (token list in id order,
    [PAD]=0, [UNK]=1) is in vocab.json. The ONNX export computes the same thing.
    """

    kind = "embedbag"
    platform = "numpy"

    def __init__(self, vocab: list[str], emb, weight, bias, labels):
        self.vocab = vocab
        self.index = {t: i for i, t in enumerate(vocab)}
        self.emb, self.weight, self.bias = emb, weight, bias
        self.labels = labels
        _unicode_pattern()  # pay the one-off regex build at load, not on the first request

    def encode(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Token ids and mask, int64 [n, longest], right-padded with [PAD]=0 / mask 0."""
        seqs = [[self.index.get(t, UNK_ID) for t in tokenize(s)] for s in texts]
        return pad(seqs)

    def logits(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        m = mask.astype(np.float32)[:, :, None]
        total = (self.emb[ids] * m).sum(axis=1)
        count = np.maximum(m.sum(axis=1), 1.0)  # an empty text averages to zero, not NaN
        return (total / count) @ self.weight + self.bias

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), len(self.labels)))
        # Chunks keep the padded [chunk, longest, dim] tensor small when a burst has long texts.
        for i in range(0, len(texts), 256):
            ids, mask = self.encode(texts[i:i + 256])
            out[i:i + 256] = softmax(self.logits(ids, mask).astype(np.float64))
        return out

    def save(self, out: Path):
        np.savez(out / "model.npz", embeddings=self.emb, weight=self.weight, bias=self.bias)
        (out / "vocab.json").write_text(json.dumps(self.vocab, ensure_ascii=False))

    @classmethod
    def load(cls, d: Path):
        z = np.load(d / "model.npz")
        vocab = json.loads((d / "vocab.json").read_text(encoding="utf-8"))
        labels = json.loads((d / "labels.json").read_text(encoding="utf-8"))
        return cls(vocab, z["embeddings"], z["weight"], z["bias"], labels)


def pad(seqs: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
    width = max((len(s) for s in seqs), default=0)
    ids = np.full((len(seqs), width), PAD_ID, dtype=np.int64)
    mask = np.zeros((len(seqs), width), dtype=np.int64)
    for r, s in enumerate(seqs):
        ids[r, :len(s)] = s
        mask[r, :len(s)] = 1
    return ids, mask


KINDS = {k.kind: k for k in (TfidfLR, EmbedBag)}


def load_model(d) -> TfidfLR | EmbedBag:
    d = Path(d)
    meta = json.loads((d / "meta.json").read_text(encoding="utf-8"))
    if meta.get("format") != FORMAT or meta.get("kind") not in KINDS:
        raise ValueError(f"{d}: not a model directory written by train.py")
    return KINDS[meta["kind"]].load(d)


def top(probs_row: np.ndarray, labels: list[str]) -> str:
    """Top class; a tie goes to the earlier label (np.argmax takes the first maximum)."""
    return labels[int(np.argmax(probs_row))]
