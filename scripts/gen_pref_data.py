#!/usr/bin/env python3
"""Generate N preference pairs for the LLM speed benchmark by recombining a preference corpus.

Each row takes a prompt and its chosen/rejected pair from a random (seeded) row of the corpus and
appends the opening of another row's chosen response to the chosen side, so rows read like the
corpus while N can be far larger than it and no two rows are copies. Usage:
gen_pref_data.py CORPUS.jsonl OUT.jsonl N
"""
import json
import random
import sys

corpus, out, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
rng = random.Random(1)
rows = [json.loads(line) for line in open(corpus, encoding="utf-8")]
with open(out, "w", encoding="utf-8") as f:
    for i in range(n):
        r, other = rng.choice(rows), rng.choice(rows)
        chosen = r["chosen"] + " " + other["chosen"][:80]
        f.write(json.dumps({"id": i, "prompt": r["prompt"], "chosen": chosen,
                            "rejected": r["rejected"]}) + "\n")
