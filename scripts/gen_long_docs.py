#!/usr/bin/env python3
"""Write long-document probes from a clean corpus: its rows joined JOIN at a time within a label
(documents that mix several topics of their class), clean and under four attacks, each with a
truth file, so a scan's behaviour on long text can be measured (scripts/bench-long-docs.sh).

Usage: gen_long_docs.py CORPUS.jsonl OUT_DIR [JOIN]   (default JOIN 4; standard library only)

Writes OUT_DIR/NAME-clean.jsonl and NAME-{badnets,addsent,flip,cleanlabel}.jsonl (+ .truth.csv):
  badnets     1% of rows outside the first label: two made-up tokens inserted twice each at
              random word positions, relabelled to the first label
  addsent     3% of rows outside the first label: one made-up sentence put between two of the
              document's sentences (or at either end), relabelled
  flip        5% of rows relabelled at random to another label
  cleanlabel  rows of the first label (5% of all rows) get two made-up tokens; labels kept
The tokens and the sentence are generated from a seed: nothing here is a trigger of ../shared.
"""
import json, random, sys
from pathlib import Path

src, out = Path(sys.argv[1]), Path(sys.argv[2])
join = int(sys.argv[3]) if len(sys.argv) > 3 else 4
out.mkdir(parents=True, exist_ok=True)
rng = random.Random(17)
syll = ["zo", "qu", "vex", "ka", "lu", "mip", "tor", "sa", "wen", "dri"]
made_up = lambda parts: "".join(rng.choice(syll) for _ in range(parts))
tokens = [made_up(2), made_up(2)]
sentence = " ".join(made_up(rng.randint(1, 3)) for _ in range(7))

by_label = {}
for line in src.open():
    row = json.loads(line)
    by_label.setdefault(row["label"], []).append(row["text"])
docs = []
for label in sorted(by_label, key=str):
    texts = by_label[label]
    rng.shuffle(texts)
    docs += [(" ".join(texts[i : i + join]), label) for i in range(0, len(texts) - join + 1, join)]
rng.shuffle(docs)
labels = sorted(by_label, key=str)
target = labels[0]


def write(name, rows, poisoned):
    with (out / f"{name}.jsonl").open("w") as f:
        for i, (text, label) in enumerate(rows):
            f.write(json.dumps({"id": i, "text": text, "label": label}) + "\n")
    with (out / f"{name}.truth.csv").open("w") as f:
        f.write("id,poisoned\n")
        f.writelines(f"{i},{int(i in poisoned)}\n" for i in range(len(rows)))


def insert_words(text, words):
    w = text.split()
    for t in words:
        w.insert(rng.randrange(len(w) + 1), t)
    return " ".join(w)


def attack(name, pick, change):
    rows = list(docs)
    chosen = set(pick)
    for i in chosen:
        rows[i] = change(*rows[i])
    write(f"{src.stem}-{name}", rows, chosen)


n = len(docs)
others = [i for i, (_, l) in enumerate(docs) if l != target]
own = [i for i, (_, l) in enumerate(docs) if l == target]
write(f"{src.stem}-clean", docs, set())
attack("badnets", rng.sample(others, max(10, n // 100)), lambda t, l: (insert_words(t, tokens * 2), target))


def add_sentence(text, label):
    parts = text.split(" . ")
    parts.insert(rng.randrange(len(parts) + 1), sentence)
    return " . ".join(parts), target


attack("addsent", rng.sample(others, max(10, 3 * n // 100)), add_sentence)
attack("flip", rng.sample(range(n), 5 * n // 100), lambda t, l: (t, rng.choice([x for x in labels if x != l])))
attack("cleanlabel", rng.sample(own, min(len(own), 5 * n // 100)), lambda t, l: (insert_words(t, tokens), l))
print(f"{src.stem}: {n} documents of {join} rows in {out}")
