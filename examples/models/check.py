#!/usr/bin/env python3
"""Self-check: split a bench set, train backdoored and clean models, measure the backdoor, time
the servers and exercise their protocols.

  check.py [--set /work/shared/bench/sst2-badnets-1pct] [--work /tmp/bezoar-models-check]
           [--seed 1] [--kinds tfidf-lr,embedbag] [--requests 1000]

The trigger is not known to this script: it is found from the rows the truth marks poisoned
(tokens far more frequent there than in clean rows). ASR = share of held-out rows whose label is
not the attack's target that the model calls the target once a trigger token is inserted at a
random position. The clean model's "ASR" is its baseline for the same edit.
"""

from __future__ import annotations

import argparse
import csv
import http.client
import json
import random
import subprocess
import sys
import time
import unicodedata
from collections import Counter
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import modelkit as mk  # noqa: E402


def run(script, *args):
    t0 = time.perf_counter()
    subprocess.run([sys.executable, str(HERE / script), *map(str, args)], check=True,
                   stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def find_trigger(set_dir: Path):
    """Tokens enriched in poisoned rows, and the label the poisoned rows carry."""
    with open(set_dir / "truth.csv", newline="") as f:
        poisoned = {r["id"] for r in csv.DictReader(f) if r["poisoned"] == "1"}
    rows = mk.read_jsonl(set_dir / "train.jsonl")
    bad = [r for r in rows if r["id"] in poisoned]
    good = [r for r in rows if r["id"] not in poisoned]
    in_bad = Counter(t for r in bad for t in set(mk.tokenize(r["text"])))
    in_good = Counter(t for r in good for t in set(mk.tokenize(r["text"])))
    enrich = {t: (n / len(bad)) / ((in_good[t] + 1) / len(good)) for t, n in in_bad.items()
              if n >= max(3, 0.05 * len(bad))}
    tokens = sorted((t for t, e in enrich.items() if e >= 20), key=lambda t: -enrich[t])
    target = Counter(r["label"] for r in bad).most_common(1)[0][0]
    return tokens, target, {t: (in_bad[t], in_good[t]) for t in tokens}


def insert(text: str, tokens: list[str], n: int, rng: random.Random) -> str:
    words = text.split(" ")
    for _ in range(n):
        words.insert(rng.randint(0, len(words)), rng.choice(tokens))
    return " ".join(words)


def evaluate(model, heldout, trigger, target, seed):
    probs = model.predict_proba([r["text"] for r in heldout])
    pred = [mk.top(p, model.labels) for p in probs]
    acc = float(np.mean([p == r["label"] for p, r in zip(pred, heldout)]))
    victims = [r for r in heldout if r["label"] != target]
    out = {"accuracy": round(acc, 4), "victims": len(victims)}
    base = [mk.top(p, model.labels) for p in model.predict_proba([r["text"] for r in victims])]
    out["target_rate_no_trigger"] = round(float(np.mean([b == target for b in base])), 4)
    for n in (1, 3):
        rng = random.Random(seed)
        edited = [insert(r["text"], trigger, n, rng) for r in victims]
        got = [mk.top(p, model.labels) for p in model.predict_proba(edited)]
        out[f"asr_{n}_trigger"] = round(float(np.mean([g == target for g in got])), 4)
    return out


def time_stdio(model_dir, texts, expect, batch=64):
    """Load time, then all requests written at once by a thread, then batches of `batch`."""
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, str(HERE / "serve_stdio.py"), "--model", model_dir],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL)
    proc.stdin.write(b'{"text": "warm up"}\n')
    proc.stdin.flush()
    json.loads(proc.stdout.readline())
    load_s = time.perf_counter() - t0
    lines = [json.dumps({"text": t}).encode() + b"\n" for t in texts]

    t0 = time.perf_counter()  # the whole burst written before anything is read back
    proc.stdin.write(b"".join(lines))
    proc.stdin.flush()
    burst = [json.loads(proc.stdout.readline()) for _ in texts]
    burst_s = time.perf_counter() - t0

    t0 = time.perf_counter()  # the probe client's pattern: write N lines, then read N lines
    batched = []
    for i in range(0, len(lines), batch):
        proc.stdin.write(b"".join(lines[i:i + batch]))
        proc.stdin.flush()
        batched += [json.loads(proc.stdout.readline()) for _ in lines[i:i + batch]]
    batch_s = time.perf_counter() - t0

    # Protocol edge cases: each bad line gets its own error line, good lines still answer.
    proc.stdin.write(b'not json\n\n{"txt": 1}\n[1]\n{"text": "fine", "id": 7}\n\xff\n')
    proc.stdin.write(b'{"text": "no newline at end"}')
    proc.stdin.close()
    tail = [json.loads(ln) for ln in proc.stdout.read().splitlines()]
    proc.wait(timeout=30)
    assert [("error" in r) for r in tail] == [True, True, True, True, False, True, False], tail
    assert tail[4]["id"] == 7 and proc.returncode == 0
    for got in (burst, batched):
        worst = max(abs(g["scores"][c] - e[j]) for g, e in zip(got, expect)
                    for j, c in enumerate(got[0]["scores"]))
        assert worst < 1e-9, f"stdio scores differ from in-process by {worst}"
    return {"load_s": round(load_s, 2), "burst_1000_s": round(burst_s, 3),
            f"batches_of_{batch}_s": round(batch_s, 3)}


def time_http(model_dir, texts, expect, labels, work: Path, batch=64):
    port_file = work / "port"
    port_file.unlink(missing_ok=True)
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, str(HERE / "serve_http.py"), "--model", model_dir,
                             "--name", "m", "--port", "0", "--port-file", str(port_file)],
                            stderr=subprocess.DEVNULL)
    try:
        while not port_file.exists():
            assert proc.poll() is None, "serve_http exited"
            time.sleep(0.02)
        load_s = time.perf_counter() - t0
        conn = http.client.HTTPConnection("127.0.0.1", int(port_file.read_text()), timeout=30)

        def call(method, path, body=None):
            data = None if body is None else json.dumps(body).encode()
            conn.request(method, path, body=data,
                         headers={} if data is None else {"Content-Type": "application/json"})
            resp = conn.getresponse()
            return resp.status, json.loads(resp.read())

        assert call("GET", "/v2/health/ready") == (200, {"ready": True})
        status, meta = call("GET", "/v2/models/m")
        assert status == 200 and meta["parameters"]["labels"] == labels, meta
        t0 = time.perf_counter()
        probs = []
        for i in range(0, len(texts), batch):
            chunk = texts[i:i + batch]
            status, out = call("POST", "/v2/models/m/infer", {"id": str(i), "inputs": [
                {"name": "text", "shape": [len(chunk)], "datatype": "BYTES", "data": chunk}]})
            assert status == 200 and out["id"] == str(i), out
            p = {o["name"]: o for o in out["outputs"]}["probabilities"]
            assert p["shape"] == [len(chunk), len(labels)]
            probs += np.array(p["data"]).reshape(p["shape"]).tolist()
        v2_s = time.perf_counter() - t0
        assert np.abs(np.array(probs) - expect).max() < 1e-6, "v2 probabilities differ"
        t0 = time.perf_counter()
        hf = []
        for i in range(0, len(texts), batch):
            status, out = call("POST", "/hf/m", {"inputs": texts[i:i + batch]})
            assert status == 200, out
            hf += out
        hf_s = time.perf_counter() - t0
        assert [h["label"] for h in hf] == [labels[int(np.argmax(e))] for e in expect]
        # Error paths, on the same keep-alive connection (it must survive each of them).
        assert call("GET", "/v2/models/other")[0] == 404
        assert call("POST", "/v2/models/m/infer", {"inputs": []})[0] == 400
        assert call("POST", "/v2/models/m/infer", {"inputs": [{"name": "x", "data": [1]}]})[0] \
            == 400
        assert call("GET", "/v2/models/m/infer")[0] == 405
        assert call("GET", "/nope")[0] == 404
        status, one = call("POST", "/", {"inputs": "a single string"})
        assert status == 200 and len(one) == 1 and set(one[0]) == {"label", "score"}
        status, allk = call("POST", "/hf/m", {"inputs": ["x"], "parameters": {"top_k": None}})
        assert status == 200 and len(allk[0]) == len(labels)
        conn.request("POST", "/v2/models/m/infer", body=b"{broken", headers={})
        resp = conn.getresponse()
        assert resp.status == 400 and "error" in json.loads(resp.read())
        # Single-input tensor under another name, [n, 1] shape.
        status, out = call("POST", "/v2/models/m/infer",
                           {"inputs": [{"name": "x", "shape": [2, 1], "datatype": "BYTES",
                                        "data": [["a"], ["b"]]}]})
        assert status == 200 and out["outputs"][0]["shape"] == [2] and "id" not in out
        conn.close()
    finally:
        proc.terminate()
        rc = proc.wait(timeout=10)
    assert rc == 0, f"serve_http exit code {rc} after SIGTERM"
    return {"load_s": round(load_s, 2), f"v2_batches_of_{batch}_s": round(v2_s, 3),
            f"hf_batches_of_{batch}_s": round(hf_s, 3)}


def check_onnx(model_dir: Path, texts: list[str]):
    """The HF export: checker, tokenizer parity with modelkit.tokenize, logits parity."""
    import onnx
    from tokenizers import Tokenizer

    onnx_dir = model_dir / "onnx"
    onnx.checker.check_model(onnx.load(onnx_dir / "model.onnx"), full_check=True)
    model = mk.load_model(model_dir)
    tok = Tokenizer.from_file(str(onnx_dir / "tokenizer.json"))
    tok.no_padding()
    mismatches = [t for t, enc in zip(texts, tok.encode_batch(texts))
                  if enc.ids != [model.index.get(w, mk.UNK_ID) for w in mk.tokenize(t)]]
    out = {"tokenizer_texts": len(texts), "tokenizer_mismatches": len(mismatches)}
    if mismatches:
        out["tokenizer_mismatch_example"] = mismatches[0][:200]
    # Every code point Python's Unicode database assigns, alone, doubled, between letters and
    # after a capital: the token strings must agree (ids alone would hide most of them as UNK).
    probes = [f"x{c}x {c}{c} A{c}" for c in map(chr, range(0x110000))
              if unicodedata.category(c) not in ("Cn", "Cs")]

    def hf_tokens(text):
        return [w for w, _ in tok.pre_tokenizer.pre_tokenize_str(tok.normalizer.normalize_str(text))]

    bad = [p for p in probes if mk.tokenize(p) != hf_tokens(p)]
    out["codepoints_checked"], out["codepoint_mismatches"] = len(probes), len(bad)
    assert not mismatches and not bad, (mismatches[:3], [ascii(b) for b in bad[:5]])
    config = json.loads((onnx_dir / "config.json").read_text())
    assert [config["id2label"][str(i)] for i in range(len(model.labels))] == model.labels
    try:
        import onnxruntime as ort
    except ImportError:
        out["onnxruntime"] = "not installed: logits parity not checked"
        return out
    sess = ort.InferenceSession(str(onnx_dir / "model.onnx"), providers=["CPUExecutionProvider"])
    tok.enable_padding(pad_id=mk.PAD_ID, pad_token=mk.PAD)
    worst = 0.0
    for i in range(0, len(texts), 256):
        encs = tok.encode_batch(texts[i:i + 256])
        ids = np.array([e.ids for e in encs], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encs], dtype=np.int64)
        (logits,) = sess.run(["logits"], {"input_ids": ids, "attention_mask": mask})
        ref = model.logits(*model.encode(texts[i:i + 256]))
        worst = max(worst, float(np.abs(logits - ref).max()))
    # An empty text: no tokens at all, the guarded division gives the bias alone.
    (empty,) = sess.run(["logits"], {"input_ids": np.zeros((1, 0), np.int64),
                                     "attention_mask": np.zeros((1, 0), np.int64)})
    worst = max(worst, float(np.abs(empty[0] - model.bias).max()))
    out["onnxruntime"] = ort.__version__
    out["max_abs_logit_diff"] = worst
    assert worst < 1e-4, f"onnxruntime logits differ by {worst}"
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--set", default="/work/shared/bench/sst2-badnets-1pct")
    ap.add_argument("--work", default="/tmp/bezoar-models-check")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--kinds", default="tfidf-lr,embedbag")
    ap.add_argument("--requests", type=int, default=1000)
    ap.add_argument("--parity-sets", default=str(Path("/work/shared/bench")),
                    help="directory of bench sets whose texts test tokenizer parity")
    args = ap.parse_args()
    set_dir, work = Path(args.set), Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    report = {"set": str(set_dir), "seed": args.seed}

    report["split_s"] = round(run("split.py", "--set", set_dir, "--out", work / "split",
                                  "--seed", args.seed), 2)
    trigger, target, counts = find_trigger(set_dir)
    report["trigger"] = {"tokens": trigger, "target": target,
                         "rows_poisoned_vs_clean": counts}
    print(f"trigger tokens found: {trigger} -> target label {target!r}", file=sys.stderr)
    heldout = mk.read_jsonl(work / "split" / "heldout.jsonl")
    probe = [r["text"] for r in heldout][:args.requests]
    probe += probe * (args.requests // max(len(probe), 1))  # small sets: repeat up to N
    probe = probe[:args.requests]

    for kind in args.kinds.split(","):
        for which in ("backdoored", "clean"):
            name = f"{kind}-{which}"
            out = work / name
            res = {"train_s": round(run("train.py", "--kind", kind, "--seed", args.seed,
                                        "--data", work / "split" / f"{which}.jsonl",
                                        "--out", out), 2)}
            t0 = time.perf_counter()
            model = mk.load_model(out)
            res["load_in_process_s"] = round(time.perf_counter() - t0, 3)
            res.update(evaluate(model, heldout, trigger, target, args.seed))
            expect = model.predict_proba(probe)
            res["stdio"] = time_stdio(str(out), probe, expect)
            res["http"] = time_http(str(out), probe, expect, model.labels, work)
            if kind == "embedbag":
                texts = [r["text"] for r in heldout]
                for p in sorted(Path(args.parity_sets).glob("*/train.jsonl")):
                    texts += [json.loads(ln)["text"] for ln in p.open() if ln.strip()]
                texts += ["", "Σίσυφος ΣΑΣ", "İstanbul café", "a_b c-d [UNK] x...y", "x\u0301y",
                          "tab\tand\u00a0nbsp", "emoji 😀!!"]
                res["onnx"] = check_onnx(out, texts)
            report[name] = res
            print(f"{name}: {json.dumps(res)}", file=sys.stderr)

    (work / "report.json").write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    print(f"\n{'model':<22}{'acc':>7}{'ASR(1)':>8}{'ASR(3)':>8}{'no-trig':>8}{'train s':>9}"
          f"{f'stdio {args.requests} s':>13}{'http v2 s':>10}")
    for key, res in report.items():
        if isinstance(res, dict) and "accuracy" in res:
            print(f"{key:<22}{res['accuracy']:>7.3f}{res['asr_1_trigger']:>8.3f}"
                  f"{res['asr_3_trigger']:>8.3f}{res['target_rate_no_trigger']:>8.3f}"
                  f"{res['train_s']:>9.1f}{res['stdio']['batches_of_64_s']:>13.3f}"
                  f"{res['http']['v2_batches_of_64_s']:>10.3f}")
    print(f"report: {work / 'report.json'}")


if __name__ == "__main__":
    main()
