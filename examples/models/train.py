#!/usr/bin/env python3
"""Train an example text classifier on a JSONL file and save it to a model directory.

  train.py --data TRAIN.jsonl --out DIR [--kind tfidf-lr|embedbag] [--seed N]
           [--exclude-ids FILE] [--subsample FRAC] [--text text] [--label label] [--id id]

Kinds:
  tfidf-lr  sklearn TF-IDF (word 1-2 grams) + logistic regression, saved as DIR/model.joblib.
  embedbag  numpy mean-of-embeddings + linear layer, saved as DIR/model.npz + DIR/vocab.json,
            and exported in the Hugging Face layout DIR/onnx/{model.onnx,tokenizer.json,
            config.json,tokenizer_config.json}.
Both write DIR/labels.json (class names in output order) and DIR/meta.json.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

import modelkit as mk


def train_tfidf_lr(texts, labels, seed, C):
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    pipe = Pipeline([
        # \b\w+\b keeps one- and two-letter tokens ("a", "tv"): sklearn's default pattern drops
        # them, and rare short tokens are exactly what BadNets-style triggers look like.
        ("tfidf", TfidfVectorizer(ngram_range=(1, 2), lowercase=True,
                                  token_pattern=r"(?u)\b\w+\b", sublinear_tf=True)),
        # lbfgs is deterministic; random_state is set anyway so a solver change stays seeded.
        ("lr", LogisticRegression(C=C, max_iter=3000, random_state=seed)),
    ])
    pipe.fit(texts, labels)
    return mk.TfidfLR(pipe)


def build_vocab(token_lists, max_size):
    counts = Counter(t for toks in token_lists for t in toks)
    # Most frequent first, ties by token so the vocabulary does not depend on row order.
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:max_size]
    return [mk.PAD, mk.UNK] + [t for t, _ in ranked if t not in (mk.PAD, mk.UNK)]


def train_embedbag(texts, labels, seed, dim, epochs, lr, batch, max_vocab):
    classes = sorted(set(labels))
    y = np.array([classes.index(l) for l in labels])
    token_lists = [mk.tokenize(t) for t in texts]
    vocab = build_vocab(token_lists, max_vocab)
    index = {t: i for i, t in enumerate(vocab)}
    seqs = [[index.get(t, mk.UNK_ID) for t in toks] for toks in token_lists]

    rng = np.random.default_rng(seed)
    k = len(classes)
    params = {
        "emb": rng.normal(0, 0.1, (len(vocab), dim)).astype(np.float32),
        "weight": (rng.normal(0, 1, (dim, k)) / np.sqrt(dim)).astype(np.float32),
        "bias": np.zeros(k, dtype=np.float32),
    }
    params["emb"][mk.PAD_ID] = 0
    # Plain Adam. Dense moments on the embedding table are fine at 30k x 32.
    m = {n: np.zeros_like(p) for n, p in params.items()}
    v = {n: np.zeros_like(p) for n, p in params.items()}
    b1, b2, eps, step = 0.9, 0.999, 1e-8, 0
    model = mk.EmbedBag(vocab, params["emb"], params["weight"], params["bias"], classes)

    for epoch in range(epochs):
        order = rng.permutation(len(seqs))
        loss_sum = 0.0
        for start in range(0, len(order), batch):
            rows = order[start:start + batch]
            ids, mask = mk.pad([seqs[r] for r in rows])
            mf = mask.astype(np.float32)
            count = np.maximum(mf.sum(axis=1, keepdims=True), 1.0)
            pooled = (params["emb"][ids] * mf[:, :, None]).sum(axis=1) / count
            probs = mk.softmax(pooled @ params["weight"] + params["bias"])
            loss_sum += -np.log(probs[np.arange(len(rows)), y[rows]] + 1e-12).sum()
            dz = probs
            dz[np.arange(len(rows)), y[rows]] -= 1
            dz /= len(rows)
            grads = {"weight": pooled.T @ dz, "bias": dz.sum(axis=0)}
            dpooled = dz @ params["weight"].T
            g_emb = np.zeros_like(params["emb"])
            np.add.at(g_emb, ids, dpooled[:, None, :] * (mf / count)[:, :, None])
            g_emb[mk.PAD_ID] = 0
            grads["emb"] = g_emb
            step += 1
            for n, g in grads.items():
                m[n] = b1 * m[n] + (1 - b1) * g
                v[n] = b2 * v[n] + (1 - b2) * g * g
                mhat = m[n] / (1 - b1 ** step)
                vhat = v[n] / (1 - b2 ** step)
                params[n] -= (lr * mhat / (np.sqrt(vhat) + eps)).astype(np.float32)
        print(f"  epoch {epoch + 1}/{epochs}: mean loss {loss_sum / len(seqs):.4f}",
              file=sys.stderr)
    return model


def export_hf(model: mk.EmbedBag, out: Path):
    """Hugging Face layout: ONNX graph + WordLevel tokenizer.json + config.json."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers

    out.mkdir(parents=True, exist_ok=True)
    k = len(model.labels)
    inits = [
        numpy_helper.from_array(model.emb, "embeddings"),
        numpy_helper.from_array(model.weight, "classifier.weight"),  # [dim, k]
        numpy_helper.from_array(model.bias, "classifier.bias"),      # [k]
        numpy_helper.from_array(np.array([1], dtype=np.int64), "axis_seq"),
        numpy_helper.from_array(np.array([2], dtype=np.int64), "axis_last"),
        numpy_helper.from_array(np.array(1.0, dtype=np.float32), "one"),
    ]
    node = helper.make_node
    nodes = [
        node("Gather", ["embeddings", "input_ids"], ["token_emb"], axis=0),      # [b, s, d]
        node("Cast", ["attention_mask"], ["mask_f"], to=TensorProto.FLOAT),      # [b, s]
        node("Unsqueeze", ["mask_f", "axis_last"], ["mask_3d"]),                 # [b, s, 1]
        node("Mul", ["token_emb", "mask_3d"], ["masked_emb"]),
        node("ReduceSum", ["masked_emb", "axis_seq"], ["emb_sum"], keepdims=0),  # [b, d]
        node("ReduceSum", ["mask_3d", "axis_seq"], ["token_count"], keepdims=0),  # [b, 1]
        node("Max", ["token_count", "one"], ["safe_count"]),  # empty text: divide by 1, not 0
        node("Div", ["emb_sum", "safe_count"], ["pooled"]),
        node("MatMul", ["pooled", "classifier.weight"], ["projected"]),
        node("Add", ["projected", "classifier.bias"], ["logits"]),                # [b, k]
    ]
    graph = helper.make_graph(
        nodes, "embedbag",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "sequence"]),
         helper.make_tensor_value_info("attention_mask", TensorProto.INT64,
                                       ["batch", "sequence"])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", k])],
        initializer=inits)
    onnx_model = helper.make_model(graph, producer_name="bezoar-examples",
                                   opset_imports=[helper.make_opsetid("", 13)])
    # IR 7 is what opset 13 shipped with; older runtimes refuse the newer default IR version.
    onnx_model.ir_version = 7
    onnx.checker.check_model(onnx_model, full_check=True)
    onnx.save(onnx_model, out / "model.onnx")

    # Special tokens are NOT registered as added tokens: that would make a literal "[UNK]" in
    # the text one token, where modelkit.tokenize splits it into "[", "unk", "]".
    tok = Tokenizer(models.WordLevel(vocab={t: i for i, t in enumerate(model.vocab)},
                                     unk_token=mk.UNK))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Whitespace()  # \w+|[^\w\s]+, as modelkit.TOKEN_RE
    tok.enable_padding(pad_id=mk.PAD_ID, pad_token=mk.PAD)
    tok.save(str(out / "tokenizer.json"))

    id2label = {str(i): name for i, name in enumerate(model.labels)}
    config = {
        "architectures": ["EmbedBagForSequenceClassification"],
        "model_type": "bezoar-embedbag",
        "num_labels": k,
        "id2label": id2label,
        "label2id": {name: i for i, name in enumerate(model.labels)},
        "problem_type": "single_label_classification",
        "vocab_size": len(model.vocab),
        "hidden_size": int(model.emb.shape[1]),
        "pad_token_id": mk.PAD_ID,
    }
    (out / "config.json").write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n")
    tok_config = {"tokenizer_class": "PreTrainedTokenizerFast", "do_lower_case": True,
                  "unk_token": mk.UNK, "pad_token": mk.PAD, "model_max_length": 1000000,
                  "model_input_names": ["input_ids", "attention_mask"]}
    (out / "tokenizer_config.json").write_text(json.dumps(tok_config, indent=2) + "\n")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True, help="training JSONL")
    ap.add_argument("--out", required=True, help="model directory to write")
    ap.add_argument("--kind", choices=sorted(mk.KINDS), default="tfidf-lr")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--exclude-ids", help="file with one row id per line to leave out")
    ap.add_argument("--subsample", type=float, default=1.0,
                    help="train on a --seed-seeded share of the rows (after --exclude-ids)")
    ap.add_argument("--text", default="text")
    ap.add_argument("--label", default="label")
    ap.add_argument("--id", default="id")
    ap.add_argument("--C", type=float, default=10.0, help="tfidf-lr inverse regularisation")
    ap.add_argument("--dim", type=int, default=32, help="embedbag embedding size")
    ap.add_argument("--epochs", type=int, default=5, help="embedbag epochs")
    ap.add_argument("--lr", type=float, default=0.005, help="embedbag Adam learning rate")
    ap.add_argument("--batch", type=int, default=32, help="embedbag batch size")
    ap.add_argument("--max-vocab", type=int, default=30000, help="embedbag vocabulary cap")
    args = ap.parse_args(argv)

    t0 = time.perf_counter()
    rows = mk.read_jsonl(args.data, args.text, args.label, args.id)
    excluded = 0
    if args.exclude_ids:
        drop = {ln.strip() for ln in open(args.exclude_ids, encoding="utf-8") if ln.strip()}
        kept = [r for r in rows if r["id"] not in drop]
        excluded = len(rows) - len(kept)
        print(f"excluded {excluded} rows ({len(drop)} ids listed)", file=sys.stderr)
        rows = kept
    if not 0.0 < args.subsample <= 1.0:
        sys.exit(f"--subsample must be in (0, 1], got {args.subsample}")
    subsampled = 0
    if args.subsample < 1.0:
        # A seeded share of the rows, in file order. For tfidf-lr the seed alone barely changes
        # the model (lbfgs is deterministic), so two models that should differ the way two
        # releases do -- a probe's model and its baseline -- need different training rows.
        # random.Random(int).sample is stable across Python versions.
        keep = sorted(random.Random(args.seed).sample(range(len(rows)),
                                                      round(args.subsample * len(rows))))
        subsampled = len(rows) - len(keep)
        rows = [rows[i] for i in keep]
        print(f"subsample {args.subsample}: left out {subsampled} rows", file=sys.stderr)
    texts = [r["text"] for r in rows]
    labels = [r["label"] for r in rows]
    if len(set(labels)) < 2:
        sys.exit(f"need at least 2 classes, found {sorted(set(labels))}")

    if args.kind == "tfidf-lr":
        model = train_tfidf_lr(texts, labels, args.seed, args.C)
        params = {"C": args.C}
    else:
        model = train_embedbag(texts, labels, args.seed, args.dim, args.epochs, args.lr,
                               args.batch, args.max_vocab)
        params = {"dim": args.dim, "epochs": args.epochs, "lr": args.lr, "batch": args.batch,
                  "max_vocab": args.max_vocab, "vocab_size": len(model.vocab)}
    train_s = time.perf_counter() - t0

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    model.save(out)
    (out / "labels.json").write_text(json.dumps(model.labels, ensure_ascii=False) + "\n")
    if args.kind == "embedbag":
        export_hf(model, out / "onnx")
    meta = {"format": mk.FORMAT, "kind": args.kind, "labels": model.labels, "seed": args.seed,
            "data": str(args.data), "rows": len(rows), "excluded_rows": excluded,
            "subsample": args.subsample, "subsampled_out_rows": subsampled, "params": params,
            "train_seconds": round(train_s, 3)}
    (out / "meta.json").write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n")
    print(f"trained {args.kind} on {len(rows)} rows, {len(model.labels)} classes "
          f"in {train_s:.1f}s -> {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
