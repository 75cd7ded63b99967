#!/usr/bin/env python3
"""Split a bench set into training sets for a backdoored and a clean model, plus probe inputs.

  split.py --set DIR --out OUTDIR --seed N [--holdout 0.2]

DIR holds train.jsonl and truth.csv (id,poisoned,kind,attack). Writes to OUTDIR:
  heldout.jsonl     a seeded `holdout` fraction of the CLEAN rows: inputs to probe the models with
  backdoored.jsonl  every other row, poisoned ones included
  clean.jsonl       backdoored.jsonl without the poisoned rows
  split.json        the counts and the seed
Rows keep their original fields and file order. The same seed gives the same files.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
from pathlib import Path


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--set", required=True, help="bench set directory")
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--holdout", type=float, default=0.2)
    args = ap.parse_args(argv)

    src = Path(args.set)
    with open(src / "truth.csv", newline="", encoding="utf-8") as f:
        poisoned = {r["id"] for r in csv.DictReader(f) if r["poisoned"].strip() == "1"}
    lines = [ln for ln in (src / "train.jsonl").read_text(encoding="utf-8").splitlines()
             if ln.strip()]
    rows = [json.loads(ln) for ln in lines]
    is_poisoned = [str(r["id"]) in poisoned for r in rows]

    clean_idx = [i for i, p in enumerate(is_poisoned) if not p]
    # random.Random(int).sample is stable across Python versions, so a seed means the same split.
    held = set(random.Random(args.seed).sample(clean_idx, round(args.holdout * len(clean_idx))))

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    files = {name: open(out / f"{name}.jsonl", "w", encoding="utf-8")
             for name in ("heldout", "backdoored", "clean")}
    counts = dict.fromkeys(files, 0)

    def put(name, i):
        files[name].write(lines[i] + "\n")  # the original line: same fields, same formatting
        counts[name] += 1

    for i in range(len(rows)):
        if i in held:
            put("heldout", i)
        else:
            put("backdoored", i)
            if not is_poisoned[i]:
                put("clean", i)
    for f in files.values():
        f.close()
    summary = {"set": str(src), "seed": args.seed, "holdout": args.holdout, "rows": len(rows),
               "poisoned": sum(is_poisoned), **counts}
    (out / "split.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
