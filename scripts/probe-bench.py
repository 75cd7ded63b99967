#!/usr/bin/env python3
"""Model-gate benchmark for `bezoar probe`: does the probe flag backdoored models, pass clean
ones, and recover the planted trigger?

  nice -n 10 python3 scripts/probe-bench.py [--sets A,B] [--kinds tfidf-lr,embedbag]
      [--families trigger,cleanlabel,paraphrase] [--workdir DIR] [--python PY] [--jobs 1] [--out /tmp/probe-bench.md] [--json FILE]
      [--bezoar BIN] [--bench /work/shared/bench] [--transport mixed|stdio|http]
      [--seed 1] [--probe-timeout 1800]

For every bench set whose family in sets.csv is one of --families (default `trigger` and
`cleanlabel`; `paraphrase` adds the syntactic-template and style-transfer sets), and every model
kind:

1. examples/models/split.py --seed SEED: held-out = a seeded 20% of the clean rows (the probe's
   inputs); backdoored.jsonl = every other row; clean.jsonl = the same without poisoned rows.
2. train.py: the backdoored model (backdoored.jsonl, seed 1), the clean model (clean.jsonl,
   seed 1) and the BASELINE, a second clean model (clean.jsonl, --subsample 0.9 --seed 2): a
   genuinely different model, as a previous release would be (a tfidf-lr model hardly changes
   with the seed alone).
3. Serving: serve_stdio.py through `bezoar probe --command`, or, with --transport mixed (the
   default) for the first set of the run and every third after it, serve_http.py (--port 0
   --port-file) through `--url` (Open Inference Protocol v2), so both transports are exercised.
4. `bezoar probe --data heldout.jsonl --train <the model's own training file> --report R.json -q`
   with the baseline, for the backdoored and for the clean model, with the training scan's
   trigger findings as hints (default) and with --no-scan-hint.
5. The planted trigger, derived from truth.csv and the poisoned rows (never hard-coded): BadNets,
   the tokens >= 20 times more frequent in poisoned rows than in clean ones, inserted as many per
   row as a typical poisoned row carries, each at a seeded random word position; AddSent, the
   longest word sequence that half the poisoned rows share and at most 1% of the clean rows
   hold, inserted at a random word boundary. Its ASR on each model, in-process: the share of
   held-out rows whose label is not the target, and which the model reads correctly, that the
   model calls the target once the trigger is inserted.
   Paraphrase sets (synbkd, stylebkd: the trigger is a syntactic template or a style, not a
   phrase) have nothing to insert: no planted ASR, no recovered ratio. The target is still
   derived (the label the poisoned rows carry) and each model's held-out accuracy measured; the
   table reports whether the backdoored model is flagged, whether the clean one passes, and
   the top finding (and whether it points at the poisoned rows' label). No "paraphrase ASR"
   either: truth.csv carries no labels, and every poisoned row is in the backdoored model's
   training file (split.py holds out clean rows only), so a target rate on those texts would
   measure memorisation, not the backdoor.
6. Per (set, kind): planted ASR; best recovered ASR (largest `asr` among the probe's high and
   critical findings) and its ratio to the planted ASR (the issue asks >= 0.9); backdoored model
   flagged (exit 1); clean model passed (exit 0, nothing at high or above); seconds and model
   calls per probe, the count of findings and of their grouped `variants`, and the report's
   `natural` variation (sensitivity, bound, phrases).
7. Model-level AUROC over the probed models (backdoored = positive) of the report's
   `worst_uplift` and of the largest finding `excess`, with and without the hint (the issue
   asks >= 0.95), for the trigger/cleanlabel units and, separately, the paraphrase units.

Writes the Markdown table to stdout and --out, and every raw number to --json (default: --out
with .json). Work files (splits, models, probe reports R.json, probe stdout/stderr) stay in
--workdir, a fresh temporary directory unless given. The bezoar binary: --bezoar, else $BEZOAR,
else target/release/bezoar, else target/debug/bezoar (the first that has `probe`); it is copied
into the workdir first, so a build that replaces it mid-run does not mix two binaries. The model
code needs numpy and scikit-learn: the script re-runs itself under --python (default
/tmp/models-venv/bin/python; when that is missing, a venv made in the workdir from
examples/models/requirements.txt). Exit status: 0 when every probe ran (whatever it found), 1
when a step failed. Python 3.10+.
"""

from __future__ import annotations

import argparse
import atexit
import concurrent.futures
import csv
import datetime
import hashlib
import json
import math
import os
import platform
import random
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MODELS = REPO / "examples" / "models"
DEFAULT_VENV_PYTHON = Path("/tmp/models-venv/bin/python")
# Families the benchmark knows how to treat; the default run covers the first two.
FAMILIES = ("trigger", "cleanlabel", "paraphrase")
DEFAULT_FAMILIES = ("trigger", "cleanlabel")
# Attacks whose trigger is a rewrite of the whole text (no phrase to insert).
PARAPHRASE_ATTACKS = ("synbkd", "stylebkd")
KINDS = ("tfidf-lr", "embedbag")
HIGH = ("high", "critical")
# The bars.
NEED_RATIO = 0.9
NEED_AUROC = 0.95
# Seeds: split and model seed 1; the baseline's training seed (and subsample) 2.
MODEL_SEED, BASELINE_SEED, BASELINE_SUBSAMPLE = 1, 2, 0.9
REEXEC_ENV = "PROBE_BENCH_REEXEC"


def log(msg: str):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------
# Child processes: every server and probe is started in its own session, recorded here, and
# killed by its own process group at exit (normal or not), so no server outlives the benchmark.

_live: set[subprocess.Popen] = set()
_live_lock = threading.Lock()
_stopping = threading.Event()


def spawn(cmd, **kw) -> subprocess.Popen:
    with _live_lock:
        if _stopping.is_set():  # interrupted: start nothing new
            raise RuntimeError("benchmark interrupted")
        proc = subprocess.Popen(cmd, start_new_session=True, **kw)
        _live.add(proc)
    return proc


def stop(proc: subprocess.Popen, grace: float = 10.0):
    """SIGTERM the process's group (its own session, so only what we started), then SIGKILL."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()
    with _live_lock:
        _live.discard(proc)


def stop_all():
    with _live_lock:
        procs = list(_live)
    for p in procs:
        stop(p, grace=3.0)


def _on_signal(signum, _frame):
    # SIGTERM or SIGINT: stop every child now (the worker threads' waits then return at once
    # and their next spawn refuses), then unwind through the `finally` blocks. Without this the
    # thread pool's exit would wait for the running units' remaining probes.
    _stopping.set()
    stop_all()
    raise SystemExit(128 + signum)


def run_checked(cmd, log_path: Path, timeout: float = 3600) -> float:
    """Run a step (split, train) to completion; its output goes to log_path. Returns seconds."""
    t0 = time.perf_counter()
    with open(log_path, "wb") as out:
        proc = spawn(cmd, stdout=out, stderr=subprocess.STDOUT)
        try:
            rc = proc.wait(timeout=timeout)
        finally:
            stop(proc)
    if rc != 0:
        tail = log_path.read_text(errors="replace")[-2000:]
        raise RuntimeError(f"{shlex.join(map(str, cmd))} exited {rc}:\n{tail}")
    return time.perf_counter() - t0


# --------------------------------------------------------------------------------------------
# Environment: the Python with the model requirements, and the bezoar binary.

def resolve_python(arg: str | None, workdir: Path) -> Path:
    if arg:
        return Path(arg)
    if DEFAULT_VENV_PYTHON.exists():
        return DEFAULT_VENV_PYTHON
    venv = workdir / "venv"
    py = venv / "bin" / "python"
    if not py.exists():
        log(f"{DEFAULT_VENV_PYTHON} missing: creating {venv} (pip install -r requirements.txt)")
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(py), "-m", "pip", "install", "-q", "-r",
                        str(MODELS / "requirements.txt")], check=True)
    return py


def has_probe(binary: Path) -> bool:
    try:
        return subprocess.run([str(binary), "probe", "--help"], capture_output=True,
                              timeout=60).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def resolve_bezoar(arg: str | None) -> Path:
    if arg or os.environ.get("BEZOAR"):
        binary = Path(arg or os.environ["BEZOAR"])
        if not has_probe(binary):
            sys.exit(f"{binary} has no `probe` subcommand")
        return binary
    for cand in (REPO / "target/release/bezoar", REPO / "target/debug/bezoar"):
        if cand.exists():
            if has_probe(cand):
                return cand
            # A release binary older than the probe: say so rather than silently fall through.
            log(f"{cand} has no `probe` subcommand (older build): skipped")
    sys.exit("no bezoar binary with `probe`: build one or set $BEZOAR")


def snapshot_binary(binary: Path, workdir: Path) -> Path:
    """A private copy, refreshed on every run (a rerun in the same workdir probes with the
    current build), written under a temporary name and renamed so it is never half-copied."""
    dest = workdir / "bin" / "bezoar"
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".bezoar.{os.getpid()}")
    shutil.copy2(binary, tmp)
    os.replace(tmp, dest)
    return dest


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# --------------------------------------------------------------------------------------------
# The planted trigger, from truth.csv and the poisoned rows' statistics.

def load_set(set_dir: Path):
    import modelkit as mk
    with open(set_dir / "truth.csv", newline="", encoding="utf-8") as f:
        truth = {r["id"]: r for r in csv.DictReader(f)}
    rows = mk.read_jsonl(set_dir / "train.jsonl")
    bad = [r for r in rows if truth.get(r["id"], {}).get("poisoned", "").strip() == "1"]
    good = [r for r in rows if truth.get(r["id"], {}).get("poisoned", "").strip() != "1"]
    attacks = Counter(truth[r["id"]]["attack"] for r in bad)
    kinds = Counter(truth[r["id"]]["kind"] for r in bad)
    return bad, good, attacks, kinds


def derive_badnets(bad, good) -> dict:
    """check.py's rule: tokens at least 20x more frequent (by rows) in poisoned rows than in
    clean ones, present in at least 5% of the poisoned rows (and 3 rows)."""
    import modelkit as mk
    in_bad = Counter(t for r in bad for t in set(mk.tokenize(r["text"])))
    in_good = Counter(t for r in good for t in set(mk.tokenize(r["text"])))
    enrich = {t: (n / len(bad)) / ((in_good[t] + 1) / len(good)) for t, n in in_bad.items()
              if n >= max(3, 0.05 * len(bad))}
    tokens = sorted((t for t, e in enrich.items() if e >= 20), key=lambda t: (-enrich[t], t))
    if not tokens:
        raise RuntimeError("no BadNets trigger tokens found in the poisoned rows")
    tset = set(tokens)
    per_row = [sum(t in tset for t in mk.tokenize(r["text"])) for r in bad]
    # A typical poisoned row's count of trigger tokens (with repeats): the median, rounded.
    count = max(1, round(statistics.median(per_row)))
    return {"attack": "badnets", "tokens": tokens, "per_row": count,
            "rows_poisoned_vs_clean": {t: [in_bad[t], in_good[t]] for t in tokens}}


def _ngrams(words, n):
    return {tuple(words[i:i + n]) for i in range(len(words) - n + 1)}


def derive_addsent(bad, good) -> dict:
    """The longest whitespace-word sequence that at least half the poisoned rows share and at
    most 1% of the clean rows hold (case kept: the sentence is inserted as written)."""
    bad_words = [r["text"].split() for r in bad]
    good_padded = [" " + " ".join(r["text"].split()) + " " for r in good]
    best = None
    for n in range(1, 64):
        counts = Counter(g for w in bad_words for g in _ngrams(w, n))
        common = [(k, g) for g, k in counts.items() if k >= 0.5 * len(bad)]
        if not common:
            break  # longer sequences are rarer still
        rare = []
        for k, g in common:
            needle = " " + " ".join(g) + " "
            in_clean = sum(needle in t for t in good_padded)
            if in_clean <= 0.01 * len(good):
                rare.append((k, -in_clean, g))
        if rare:
            k, neg, g = max(rare)
            best = {"sentence": " ".join(g), "poisoned_rows_with_it": k, "clean_rows_with_it": -neg}
    if best is None:
        raise RuntimeError("no AddSent sentence found in the poisoned rows")
    return {"attack": "addsent", **best}


def derive_trigger(set_dir: Path, family: str) -> dict:
    bad, good, attacks, kinds = load_set(set_dir)
    if not bad:
        raise RuntimeError(f"{set_dir.name}: truth.csv marks no row poisoned")
    attack = attacks.most_common(1)[0][0]
    if family == "paraphrase" or attack in PARAPHRASE_ATTACKS:
        # A template or style rewrite: nothing to insert, so no planted phrase and no ASR.
        trig = {"attack": attack, "paraphrase": True, "attacks": dict(attacks)}
    elif attack == "badnets":
        trig = derive_badnets(bad, good)
    elif attack == "addsent":
        trig = derive_addsent(bad, good)
    else:
        raise RuntimeError(f"{set_dir.name}: no planted-trigger rule for attack {attack!r}")
    trig["family"] = family
    # The target: the label most poisoned rows carry (dirty-label rows are set to it,
    # clean-label rows already have it).
    trig["target"] = Counter(r["label"] for r in bad).most_common(1)[0][0]
    trig["poisoned_rows"] = len(bad)
    trig["poison_kinds"] = dict(kinds)
    return trig


def is_paraphrase(trig: dict) -> bool:
    return bool(trig.get("paraphrase"))


def trigger_text(trig: dict) -> str:
    if is_paraphrase(trig):
        return f"none ({trig['attack']} rewrite)"
    if trig["attack"] == "badnets":
        return f"{{{', '.join(trig['tokens'])}}} x{trig['per_row']}"
    return f"\"{trig['sentence']}\""


def insert_trigger(text: str, trig: dict, rng: random.Random) -> str:
    words = text.split(" ")
    if trig["attack"] == "badnets":
        for _ in range(trig["per_row"]):
            words.insert(rng.randint(0, len(words)), rng.choice(trig["tokens"]))
    else:
        words.insert(rng.randint(0, len(words)), trig["sentence"])
    return " ".join(words)


def matches_planted(phrase: str, trig: dict) -> bool | None:
    """Whether a probe finding is (part of) the planted trigger: for BadNets it holds one of the
    trigger tokens; for AddSent at least half its words are words of the sentence. None for a
    paraphrase set: there is no planted phrase to compare with."""
    import modelkit as mk
    if is_paraphrase(trig):
        return None
    toks = mk.tokenize(phrase)
    if not toks:
        return False
    if trig["attack"] == "badnets":
        return any(t in trig["tokens"] for t in toks)
    sent = set(mk.tokenize(trig["sentence"]))
    return sum(t in sent for t in toks) >= 0.5 * len(toks)


def planted_asr(model_dir: Path, heldout: list[dict], trig: dict, seed: int) -> dict:
    """In-process ASR of the planted trigger: held-out rows of other labels that the model reads
    correctly (its victims), edited once per row with a row-seeded RNG so every model sees the
    same edits."""
    import modelkit as mk
    model = mk.load_model(model_dir)
    labels = model.labels
    texts = [r["text"] for r in heldout]
    pred = [mk.top(p, labels) for p in model.predict_proba(texts)]
    accuracy = sum(p == r["label"] for p, r in zip(pred, heldout)) / len(heldout)
    if is_paraphrase(trig):  # nothing to insert: the held-out accuracy only
        return {"accuracy": round(accuracy, 4), "victims": None, "asr": None, "example": None}
    victims = [i for i, r in enumerate(heldout)
               if r["label"] != trig["target"] and pred[i] == r["label"]]
    edited = [insert_trigger(heldout[i]["text"], trig, random.Random(seed * 1_000_003 + i))
              for i in victims]
    moved = [mk.top(p, labels) == trig["target"] for p in model.predict_proba(edited)] \
        if edited else []
    return {"accuracy": round(accuracy, 4), "victims": len(victims),
            "asr": round(sum(moved) / len(moved), 4) if moved else None,
            "example": edited[0] if edited else None}


# --------------------------------------------------------------------------------------------
# Serving and probing.

class HttpServer:
    """serve_http.py on a free port (--port 0 --port-file), stopped by `close`."""

    def __init__(self, py: Path, model_dir: Path, name: str, logdir: Path):
        self.port_file = logdir / f"{name}.port"
        self.port_file.unlink(missing_ok=True)
        self.name = name
        self.log = open(logdir / f"{name}.http.log", "wb")
        self.proc = spawn([str(py), str(MODELS / "serve_http.py"), "--model", str(model_dir),
                           "--name", name, "--port", "0", "--port-file", str(self.port_file)],
                          stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 120  # a loaded machine: allow a slow sklearn import
        while not self.port_file.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.close()
                raise RuntimeError(f"serve_http.py for {model_dir} did not start")
            time.sleep(0.05)
        self.url = f"http://127.0.0.1:{int(self.port_file.read_text())}"

    def close(self):
        stop(self.proc)
        self.log.close()


def stdio_command(py: Path, model_dir: Path) -> str:
    return shlex.join([str(py), str(MODELS / "serve_stdio.py"), "--model", str(model_dir)])


def severity_rank(s: str | None) -> int:
    order = ["info", "low", "medium", "high", "critical"]
    return order.index(s) if s in order else -1


def run_probe(bezoar: Path, target_args: list[str], heldout: Path, train: Path, hint: bool,
              out_dir: Path, tag: str, timeout: float) -> dict:
    report = out_dir / f"{tag}.json"
    report.unlink(missing_ok=True)
    cmd = [str(bezoar), "probe", *target_args, "--data", str(heldout), "--train", str(train),
           "--report", str(report), "-q"]
    if not hint:
        cmd.append("--no-scan-hint")
    t0 = time.perf_counter()
    with open(out_dir / f"{tag}.stdout", "wb") as so, open(out_dir / f"{tag}.stderr", "wb") as se:
        proc = spawn(cmd, stdout=so, stderr=se, cwd=out_dir)
        timed_out = False
        try:
            rc = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out, rc = True, None
        finally:
            stop(proc)
    wall = time.perf_counter() - t0
    res = {"tag": tag, "command": shlex.join(cmd), "exit": rc, "timed_out": timed_out,
           "wall_s": round(wall, 2), "report": str(report), "hint": hint}
    if not report.exists():
        res["error"] = (out_dir / f"{tag}.stderr").read_text(errors="replace")[-2000:]
        return res
    rep = json.loads(report.read_text())
    findings = rep.get("findings") or []
    res.update({
        "seconds": rep.get("seconds"),
        "model_calls": (rep.get("model") or {}).get("calls"),
        "baseline_calls": (rep.get("baseline") or {}).get("calls"),
        "passed": rep.get("passed"),
        "max_severity": rep.get("max_severity"),
        "worst_uplift": rep.get("worst_uplift"),
        # bezoar.probe/1 reports since the natural-variation change carry `natural`
        # {sensitivity, bound, phrases}; older ones a top-level `sensitivity`.
        "natural": rep.get("natural"),
        "sensitivity": (rep.get("natural") or {}).get("sensitivity", rep.get("sensitivity")),
        "hints": rep.get("hints"),
        "failures": rep.get("failures"),
        "notes": rep.get("notes"),
        "accuracy": ((rep.get("replay") or {}).get("model") or {}).get("accuracy"),
        "baseline_accuracy": ((rep.get("replay") or {}).get("baseline") or {}).get("accuracy"),
        "findings": [{**{k: f.get(k) for k in ("severity", "trigger", "target_label", "origin",
                                               "asr", "baseline_asr", "excess", "inputs",
                                               "p_adjusted")},
                      # pieces of one trigger, grouped under it (absent in older reports)
                      "variants": [{k: v.get(k) for k in ("phrase", "origin", "asr",
                                                          "baseline_asr", "excess")}
                                   for v in f.get("variants") or []]}
                     for f in findings],
        "variants": sum(len(f.get("variants") or []) for f in findings),
        "max_excess": max((f["excess"] for f in findings), default=0.0),
        "high": sum(severity_rank(f.get("severity")) >= severity_rank("high") for f in findings),
    })
    return res


# --------------------------------------------------------------------------------------------
# One (set, kind): train three models, measure the planted trigger, run four probes.

def bench_unit(ctx: dict, set_name: str, kind: str, transport: str) -> dict:
    import modelkit as mk
    py, bezoar, seed = ctx["python"], ctx["bezoar"], ctx["seed"]
    split_dir = ctx["workdir"] / set_name / "split"
    trig = ctx["triggers"][set_name]
    unit = ctx["workdir"] / set_name / kind
    unit.mkdir(parents=True, exist_ok=True)
    res = {"set": set_name, "kind": kind, "transport": transport, "train_s": {}, "planted": {},
           "probes": {}}
    plans = {  # name -> (training file, seed, subsample)
        "backdoored": (split_dir / "backdoored.jsonl", MODEL_SEED, 1.0),
        "clean": (split_dir / "clean.jsonl", MODEL_SEED, 1.0),
        "baseline": (split_dir / "clean.jsonl", BASELINE_SEED, BASELINE_SUBSAMPLE),
    }
    for name, (data, s, sub) in plans.items():
        mdir = unit / name
        if not (mdir / "meta.json").exists():  # a rerun with the same --workdir reuses models
            cmd = [str(py), str(MODELS / "train.py"), "--kind", kind, "--data", str(data),
                   "--out", str(mdir), "--seed", str(s), "--subsample", str(sub)]
            res["train_s"][name] = round(run_checked(cmd, unit / f"train-{name}.log"), 2)
        log(f"{set_name}/{kind}: {name} model ready")

    heldout = mk.read_jsonl(split_dir / "heldout.jsonl")
    for name in plans:
        res["planted"][name] = planted_asr(unit / name, heldout, trig, seed)

    servers = []
    try:
        def target(name: str) -> list[str]:
            if transport == "stdio":
                return ["--command", stdio_command(py, unit / name)]
            srv = HttpServer(py, unit / name, name, unit)
            servers.append(srv)
            return ["--url", srv.url, "--model-name", name]

        base_args = target("baseline")
        if transport == "stdio":
            base_args = ["--baseline-command", base_args[1]]
        else:
            base_args = ["--baseline-url", base_args[1], "--baseline-model-name", "baseline"]
        for name in ("backdoored", "clean"):
            model_args = target(name)
            for hint in (True, False):
                tag = f"{name}-{'hint' if hint else 'nohint'}"
                log(f"{set_name}/{kind}: probing {tag} ({transport})")
                p = run_probe(bezoar, model_args + base_args, split_dir / "heldout.jsonl",
                              plans[name][0], hint, unit, tag, ctx["probe_timeout"])
                for f in p.get("findings", []):
                    f["matches_planted"] = matches_planted(f["trigger"], trig)
                    f["variant_matches_planted"] = any(
                        matches_planted(v["phrase"], trig) for v in f["variants"]) \
                        if not is_paraphrase(trig) else None
                    f["targets_poisoned_label"] = f["target_label"] == trig["target"]
                res["probes"][tag] = p
                log(f"{set_name}/{kind}: {tag}: exit {p['exit']} in {p['wall_s']} s, "
                    f"{len(p.get('findings', []))} finding(s), max {p.get('max_severity')}")
    finally:
        for srv in servers:
            srv.close()
    summarise_unit(res, trig)
    return res


def summarise_unit(res: dict, trig: dict):
    planted = res["planted"]["backdoored"]["asr"]
    for mode in ("hint", "nohint"):
        bd, cl = res["probes"].get(f"backdoored-{mode}", {}), res["probes"].get(f"clean-{mode}", {})
        high = [f for f in bd.get("findings", []) if f["severity"] in HIGH]
        best = max(high, key=lambda f: f["asr"], default=None)
        best_match = max((f for f in high if f["matches_planted"]), key=lambda f: f["asr"],
                         default=None)
        res[mode] = {
            "best_recovered_asr": best["asr"] if best else None,
            "best_recovered_trigger": best["trigger"] if best else None,
            # None for a paraphrase set: no planted phrase to recover
            "best_is_planted": None if is_paraphrase(trig) else
            bool(best and best["matches_planted"]),
            "ratio": (best["asr"] / planted) if best and planted else None,
            "best_planted_match_asr": best_match["asr"] if best_match else None,
            "backdoored_flagged": bd.get("exit") == 1,
            "clean_passed": cl.get("exit") == 0 and cl.get("high", 1) == 0,
            "backdoored_top": (bd.get("findings") or [None])[0],
            "clean_top": (cl.get("findings") or [None])[0],
        }


# --------------------------------------------------------------------------------------------
# AUROC and the Markdown table.

def auroc(pos: list[float], neg: list[float]) -> float | None:
    """Mann-Whitney AUROC, ties counted one half."""
    if not pos or not neg:
        return None
    wins = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


def model_auroc(units: list[dict]) -> dict:
    out = {}
    for mode in ("hint", "nohint"):
        for score in ("worst_uplift", "max_excess"):
            pos, neg, missing = [], [], []
            for u in units:
                for name, bucket in (("backdoored", pos), ("clean", neg)):
                    p = u["probes"].get(f"{name}-{mode}", {})
                    v = p.get(score)
                    if v is None or (isinstance(v, float) and math.isnan(v)):
                        missing.append(f"{u['set']}/{u['kind']}/{name}")
                    else:
                        bucket.append(float(v))
            out[f"{score}/{mode}"] = {"auroc": auroc(pos, neg), "positives": len(pos),
                                      "negatives": len(neg), "missing": missing}
    return out


def fmt(v, spec=".3f", none="—"):
    return none if v is None else format(v, spec)


def yes(v: bool) -> str:
    return "yes" if v else "**no**"


def finding_text(f: dict | None, trig: dict) -> str:
    if not f:
        return "—"
    b = "—" if f["baseline_asr"] is None else f"{f['baseline_asr']:.2f}"
    if is_paraphrase(trig):
        mark = "" if f.get("targets_poisoned_label") else \
            f" (target is not the poisoned label {trig['target']})"
    elif f.get("matches_planted"):
        mark = ""
    elif f.get("variant_matches_planted"):
        mark = " (not planted; a variant is)"
    else:
        mark = " (not planted)"
    nv = len(f.get("variants") or [])
    var = f", +{nv} variant{'s' if nv != 1 else ''}" if nv else ""
    return (f"{f['severity']} `{f['trigger']}` -> {f['target_label']}: asr {f['asr']:.2f}, "
            f"base {b}, excess {f['excess']:.2f}, {f['origin']}{var}{mark}")


def top_finding(p: dict, trig: dict) -> str:
    # the report sorts by severity, then excess
    return finding_text((p.get("findings") or [None])[0], trig)


def natural_text(p: dict) -> str:
    n = p.get("natural")
    if not n:
        return "—" if p.get("sensitivity") is None else f"{p['sensitivity']:.2f}x"
    return f"{n.get('sensitivity', 0):.2f}x / {n.get('bound', 0):.2f}x ({n.get('phrases', 0)})"


def group_of(u: dict) -> str:
    return "paraphrase" if is_paraphrase(u["trigger"]) else "trigger"


GROUP_TITLES = {"trigger": "trigger and cleanlabel sets", "paraphrase": "paraphrase sets"}


def markdown(meta: dict, units: list[dict], aurocs: dict) -> str:
    L = ["# bezoar probe: model-gate benchmark", ""]
    L.append(f"bezoar `{meta['bezoar_version']}` ({meta['bezoar_source']}, sha256 "
             f"{meta['bezoar_sha256'][:12]}), repo {meta['git_commit'][:10]}, {meta['date']}, "
             f"{meta['machine']}. Families: {', '.join(meta['families'])}. Split and model seed "
             f"{MODEL_SEED}; baseline: clean rows, --subsample {BASELINE_SUBSAMPLE} --seed "
             f"{BASELINE_SEED}. Work files: `{meta['workdir']}`.")
    trig_units = [u for u in units if group_of(u) == "trigger"]
    para_units = [u for u in units if group_of(u) == "paraphrase"]
    if trig_units:
        L += ["", "## Detection", "",
              "Planted ASR: in-process, held-out rows of other labels that the model reads "
              "correctly. Recovered: largest ASR among the probe's high/critical findings, and "
              f"its ratio to the planted ASR on the backdoored model (need >= {NEED_RATIO}); * "
              "marks a best finding that is not the planted trigger. Flagged: backdoored model, "
              "exit 1. Passed: clean model, exit 0 and nothing at high or above.", "",
              "| set | kind | transport | planted trigger -> target | planted ASR backdoored / "
              "clean / baseline | recovered, hint (ratio) | recovered, no hint (ratio) | "
              "flagged hint / no hint | clean passed hint / no hint |",
              "|---|---|---|---|---|---|---|---|---|"]
        for u in trig_units:
            trig, pl = u["trigger"], u["planted"]
            cells = []
            for mode in ("hint", "nohint"):
                m = u[mode]
                star = "" if m["best_is_planted"] or m["best_recovered_asr"] is None else "*"
                ok = "" if m["ratio"] is None or m["ratio"] >= NEED_RATIO else " **<0.9**"
                cells.append(f"{fmt(m['best_recovered_asr'], '.3f')}{star} "
                             f"({fmt(m['ratio'], '.2f')}){ok}")
            L.append(f"| {u['set']} | {u['kind']} | {u['transport']} | {trigger_text(trig)} -> "
                     f"{trig['target']} | {fmt(pl['backdoored']['asr'])} / "
                     f"{fmt(pl['clean']['asr'])} / {fmt(pl['baseline']['asr'])} | {cells[0]} | "
                     f"{cells[1]} | {yes(u['hint']['backdoored_flagged'])} / "
                     f"{yes(u['nohint']['backdoored_flagged'])} | "
                     f"{yes(u['hint']['clean_passed'])} / {yes(u['nohint']['clean_passed'])} |")
    if para_units:
        L += ["", "## Detection: paraphrase sets", "",
              "The trigger is a syntactic template or a style, not a phrase: nothing to insert, "
              "so no planted ASR and no recovered ratio. Target: the label the poisoned rows "
              "carry (truth.csv holds no labels; every poisoned row is in the backdoored model's "
              "training file, so no held-out poisoned text exists to measure an ASR on). "
              "Accuracy: on the held-out clean rows. Flagged: backdoored model, exit 1. Passed: "
              "clean model, exit 0 and nothing at high or above. Top finding: the backdoored "
              "model's first finding (severity, then excess).", "",
              "| set | kind | transport | attack -> target | poisoned rows | held-out accuracy "
              "backdoored / clean / baseline | flagged hint / no hint | clean passed hint / "
              "no hint | backdoored top finding, hint | backdoored top finding, no hint |",
              "|---|---|---|---|---|---|---|---|---|---|"]
        for u in para_units:
            trig, pl = u["trigger"], u["planted"]
            L.append(f"| {u['set']} | {u['kind']} | {u['transport']} | {trig['attack']} -> "
                     f"{trig['target']} | {trig['poisoned_rows']} | "
                     f"{fmt(pl['backdoored']['accuracy'])} / {fmt(pl['clean']['accuracy'])} / "
                     f"{fmt(pl['baseline']['accuracy'])} | "
                     f"{yes(u['hint']['backdoored_flagged'])} / "
                     f"{yes(u['nohint']['backdoored_flagged'])} | "
                     f"{yes(u['hint']['clean_passed'])} / {yes(u['nohint']['clean_passed'])} | "
                     f"{finding_text(u['hint']['backdoored_top'], trig)} | "
                     f"{finding_text(u['nohint']['backdoored_top'], trig)} |")

    L += ["", "## Probes", "",
          "Seconds: wall time of the bezoar process (model and baseline servers start inside "
          "it on the stdio transport). Calls: inputs sent to the model under test / requests. "
          "Findings: one per trigger; variants: the phrases grouped under them (pieces of one "
          "trigger). Natural: the report's `natural` variation, sensitivity / bound (reacting "
          "phrases it rests on).",
          "", "| set | kind | model | hint | exit | seconds | model calls | findings (high+) | "
          "variants | max severity | worst uplift | natural | top finding |", "|---" * 13 + "|"]
    for u in units:
        for tag, p in u["probes"].items():
            name, mode = tag.split("-")
            calls = p.get("model_calls") or {}
            exit_txt = "timeout" if p.get("timed_out") else str(p.get("exit"))
            if "error" in p:
                exit_txt += " (no report)"
            L.append(f"| {u['set']} | {u['kind']} | {name} | {'yes' if mode == 'hint' else 'no'}"
                     f" | {exit_txt} | {p['wall_s']:.1f} | {calls.get('inputs', '—')} / "
                     f"{calls.get('requests', '—')} | {len(p.get('findings', []))} "
                     f"({p.get('high', '—')}) | {p.get('variants', '—')} | "
                     f"{p.get('max_severity') or '—'} | {fmt(p.get('worst_uplift'))} | "
                     f"{natural_text(p)} | {top_finding(p, u['trigger'])} |")

    L += ["", "## Model-level AUROC (backdoored = positive)", "",
          "| units | score | with hint | without hint |", "|---|---|---|---|"]
    for group, ga in aurocs.items():
        for score in ("worst_uplift", "max_excess"):
            row = []
            for mode in ("hint", "nohint"):
                a = ga[f"{score}/{mode}"]
                bad = "" if a["auroc"] is None or a["auroc"] >= NEED_AUROC else " **<0.95**"
                miss = f", {len(a['missing'])} missing" if a["missing"] else ""
                row.append(f"{fmt(a['auroc'])} ({a['positives']}+/{a['negatives']}-{miss}){bad}")
            L.append(f"| {GROUP_TITLES[group]} | {score} | {row[0]} | {row[1]} |")

    L += ["", "## Against the issue's bars", ""]
    for group, gunits in (("trigger", trig_units), ("paraphrase", para_units)):
        if not gunits:
            continue
        n = len(gunits)
        for mode, title in (("hint", "with the scan hint"), ("nohint", "without the hint")):
            flagged = sum(u[mode]["backdoored_flagged"] for u in gunits)
            passed = sum(u[mode]["clean_passed"] for u in gunits)
            ratio = ""
            if group == "trigger":
                ok = sum(1 for u in gunits if (u[mode]["ratio"] or 0) >= NEED_RATIO)
                ratio = f"recovered ASR >= {NEED_RATIO} x planted on {ok}/{n}; "
            else:
                on_target = sum(1 for u in gunits if (u[mode]["backdoored_top"] or {}).get(
                    "targets_poisoned_label"))
                ratio = f"backdoored top finding targets the poisoned label on {on_target}/{n}; "
            ga = aurocs[group]
            L.append(f"- {GROUP_TITLES[group]}, {title}: {ratio}backdoored flagged "
                     f"{flagged}/{n}; clean passed {passed}/{n}; AUROC worst_uplift "
                     f"{fmt(ga[f'worst_uplift/{mode}']['auroc'])}, max excess "
                     f"{fmt(ga[f'max_excess/{mode}']['auroc'])} (need >= {NEED_AUROC}).")
    walls = [p["wall_s"] for u in units for p in u["probes"].values()]
    if walls:
        L.append(f"- probe wall time: median {statistics.median(walls):.1f} s, "
                 f"max {max(walls):.1f} s over {len(walls)} probes; total run "
                 f"{meta['total_s'] / 60:.1f} min.")
    return "\n".join(L) + "\n"


# --------------------------------------------------------------------------------------------

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sets", help="comma-separated set names (default: every set in sets.csv "
                                   "of the --families)")
    ap.add_argument("--families", default=",".join(DEFAULT_FAMILIES),
                    help=f"comma-separated sets.csv families to run (of {', '.join(FAMILIES)}; "
                         f"default {','.join(DEFAULT_FAMILIES)})")
    ap.add_argument("--kinds", default=",".join(KINDS))
    ap.add_argument("--workdir", help="work files (default: a new temporary directory)")
    ap.add_argument("--python", help=f"Python with the model requirements "
                                     f"(default {DEFAULT_VENV_PYTHON}, else a new venv)")
    ap.add_argument("--jobs", type=int, default=1, help="(set, kind) units run at once")
    ap.add_argument("--out", default="/tmp/probe-bench.md", help="Markdown table")
    ap.add_argument("--json", help="raw numbers (default: --out with .json)")
    ap.add_argument("--bezoar", help="bezoar binary (default $BEZOAR, target/release, "
                                     "target/debug)")
    ap.add_argument("--bench", default=str(REPO.parent / "shared" / "bench"),
                    help="bench directory with sets.csv")
    ap.add_argument("--transport", choices=("mixed", "stdio", "http"), default="mixed",
                    help="mixed: HTTP (OIP v2) for the first set and every third after it")
    ap.add_argument("--seed", type=int, default=MODEL_SEED, help="split and insertion seed")
    ap.add_argument("--probe-timeout", type=float, default=1800, help="seconds per probe")
    args = ap.parse_args(argv)

    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="probe-bench-")).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    python = resolve_python(args.python, workdir)
    # The model code (modelkit: numpy, scikit-learn) runs in-process for the planted ASR, so the
    # whole benchmark runs under that Python: re-run once under it, with the workdir fixed.
    if os.environ.get(REEXEC_ENV) != "1" and os.path.abspath(sys.executable) != \
            os.path.abspath(python):
        os.environ[REEXEC_ENV] = "1"
        rest = list(sys.argv[1:] if argv is None else argv)
        if not args.workdir:
            rest += ["--workdir", str(workdir)]
        if not args.python:
            rest += ["--python", str(python)]
        os.execv(str(python), [str(python), str(Path(__file__).resolve()), *rest])
    sys.path.insert(0, str(MODELS))
    import modelkit  # noqa: F401  (fails here, clearly, when --python lacks the requirements)

    atexit.register(stop_all)
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    started = time.perf_counter()

    bench = Path(args.bench)
    with open(bench / "sets.csv", newline="", encoding="utf-8") as f:
        families = {r["set"]: r["family"] for r in csv.DictReader(f)}
    chosen = [f.strip() for f in args.families.split(",") if f.strip()]
    bad_fams = [f for f in chosen if f not in FAMILIES]
    if bad_fams or not chosen:
        sys.exit(f"unknown --families {', '.join(bad_fams) or '(none)'} "
                 f"(have {', '.join(FAMILIES)})")
    sets = [s for s, fam in families.items() if fam in chosen]
    if args.sets:
        wanted = [s.strip() for s in args.sets.split(",") if s.strip()]
        unknown = [s for s in wanted if s not in families]
        if unknown:
            sys.exit(f"not in sets.csv: {', '.join(unknown)}")
        other = [f"{s} ({families[s]})" for s in wanted if families[s] not in FAMILIES]
        if other:
            sys.exit(f"no benchmark for these families: {', '.join(other)}")
        sets = wanted  # named sets run whatever --families says
    if not sets:
        sys.exit("no bench set selected")
    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    for k in kinds:
        if k not in KINDS:
            sys.exit(f"unknown kind {k!r} (have {', '.join(KINDS)})")

    source = resolve_bezoar(args.bezoar)
    bezoar = snapshot_binary(source, workdir)
    version = subprocess.run([str(bezoar), "--version"], capture_output=True, text=True
                             ).stdout.strip()
    commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    meta = {"bezoar_source": str(source), "bezoar_version": version,
            "bezoar_sha256": sha256_of(bezoar), "git_commit": commit,
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python "
                       f"{platform.python_version()}",
            "workdir": str(workdir), "python": str(python), "seed": args.seed,
            "sets": sets, "kinds": kinds, "transport": args.transport,
            "families": sorted({families[s] for s in sets}, key=FAMILIES.index)}
    log(f"bezoar {version} from {source}; python {python}; workdir {workdir}")

    # Splits and planted triggers, once per set (shared by the model kinds).
    triggers = {}
    for s in sets:
        split_dir = workdir / s / "split"
        if not (split_dir / "split.json").exists():
            split_dir.mkdir(parents=True, exist_ok=True)
            run_checked([str(python), str(MODELS / "split.py"), "--set", str(bench / s),
                         "--out", str(split_dir), "--seed", str(args.seed)],
                        workdir / s / "split.log")
        triggers[s] = derive_trigger(bench / s, families[s])
        log(f"{s}: planted {trigger_text(triggers[s])} -> {triggers[s]['target']}")

    def transport_of(i: int) -> str:
        if args.transport != "mixed":
            return args.transport
        return "http" if i % 3 == 0 else "stdio"

    ctx = {"python": python, "bezoar": bezoar, "seed": args.seed, "workdir": workdir,
           "triggers": triggers, "probe_timeout": args.probe_timeout}
    jobs = [(s, k, transport_of(i)) for i, s in enumerate(sets) for k in kinds]
    units, failed = {}, []
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        futs = {pool.submit(bench_unit, ctx, *j): j for j in jobs}
        for fut in concurrent.futures.as_completed(futs):
            s, k, _ = futs[fut]
            try:
                u = fut.result()
                u["trigger"] = triggers[s]
                units[(s, k)] = u
            except Exception as e:  # one failed unit must not lose the others' numbers
                failed.append({"set": s, "kind": k, "error": f"{type(e).__name__}: {e}"})
                log(f"{s}/{k} FAILED: {e}")
    ordered = [units[(s, k)] for s, k, _ in jobs if (s, k) in units]
    meta["total_s"] = round(time.perf_counter() - started, 1)

    aurocs = {g: model_auroc([u for u in ordered if group_of(u) == g])
              for g in ("trigger", "paraphrase") if any(group_of(u) == g for u in ordered)}
    md = markdown(meta, ordered, aurocs)
    if failed:
        md += "\n## Failed units\n\n" + "".join(f"- {f['set']}/{f['kind']}: {f['error']}\n"
                                               for f in failed)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(md, encoding="utf-8")
    json_path = Path(args.json) if args.json else out.with_suffix(".json")
    json_path.write_text(json.dumps({"meta": meta, "units": ordered, "auroc": aurocs,
                                     "failed": failed}, indent=2, ensure_ascii=False) + "\n",
                         encoding="utf-8")
    print(md)
    log(f"table: {out}; raw numbers: {json_path}")
    probes_ok = all(p.get("exit") in (0, 1) for u in ordered for p in u["probes"].values())
    return 0 if probes_ok and not failed else 1


if __name__ == "__main__":
    sys.exit(main())
