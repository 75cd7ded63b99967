#!/usr/bin/env python3
"""Write a synthetic dataset with many labels, to measure scan time and memory against classes.

Usage: gen_many_labels.py OUT.jsonl ROWS LABELS   (standard library only)
Rows are short made-up texts: common Zipf-distributed words plus one to three words of their
label's own slice of the vocabulary. Row i carries label i % LABELS (so LABELS = ROWS gives every
row its own label), named "c<k>".
"""
import json, random, sys

out, n, k = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = random.Random(11)
syll = ["ka", "lo", "mi", "ter", "van", "so", "ru", "pel", "di", "nor", "ta", "bex", "qui", "sa"]
vocab = sorted({"".join(rng.choice(syll) for _ in range(rng.randint(2, 5))) for _ in range(60000)})
rng.shuffle(vocab)
common, own = vocab[:5000], vocab[5000:]
weights = [1.0 / (r + 1) for r in range(len(common))]
with open(out, "w") as f:
    for i in range(n):
        label = i % k
        words = rng.choices(common, weights, k=rng.randint(5, 14))
        for _ in range(rng.randint(1, 3)):
            # Each label owns 5 words of its own (labels share them past the vocabulary's end).
            words.insert(rng.randrange(len(words) + 1), own[(label * 5 + rng.randrange(5)) % len(own)])
        f.write(json.dumps({"text": " ".join(words), "label": f"c{label}"}) + "\n")
