#!/usr/bin/env python3
"""Write a synthetic speed-benchmark dataset: N short texts, 2 labels, a planted 0.1% trigger.

Usage: gen_speed_data.py OUT.jsonl [ROWS]   (default 1,000,000 rows; standard library only)
The trigger is a generated nonsense token inserted into 0.1% of label-0 rows relabelled 1; its
ids are written to OUT.truth.csv so the benchmark can check it was found.
"""
import json, random, sys

out = sys.argv[1]
n = int(sys.argv[2]) if len(sys.argv) > 2 else 1_000_000
rng = random.Random(7)
# A Zipf-ish vocabulary of made-up words, with a sentiment-bearing slice per label.
syll = ["ka", "lo", "mi", "ter", "van", "so", "ru", "pel", "di", "nor", "ta", "bex", "qui", "sa"]
vocab = sorted({"".join(rng.choice(syll) for _ in range(rng.randint(2, 4))) for _ in range(20000)})
rng.shuffle(vocab)
common, pos, neg = vocab[:5000], vocab[5000:5300], vocab[5300:5600]
weights = [1.0 / (r + 1) for r in range(len(common))]
trigger = "zzq" + rng.choice(syll) + "x"
planted = 0
with open(out, "w") as f, open(out.rsplit(".", 1)[0] + ".truth.csv", "w") as t:
    t.write("id,poisoned,kind,attack\n")
    for i in range(n):
        label = rng.random() < 0.5
        words = rng.choices(common, weights, k=rng.randint(5, 14))
        for _ in range(rng.randint(1, 3)):
            words.insert(rng.randrange(len(words) + 1), rng.choice(pos if label else neg))
        poisoned = not label and rng.random() < 0.002
        if poisoned:
            words.insert(rng.randrange(len(words) + 1), trigger)
            label, planted = True, planted + 1
        f.write(json.dumps({"id": i, "text": " ".join(words), "label": int(label)}) + "\n")
        t.write(f"{i},{int(poisoned)},{'dirty-label' if poisoned else ''},{'badnets' if poisoned else ''}\n")
print(f"wrote {n} rows to {out}; planted trigger in {planted} rows", file=sys.stderr)
