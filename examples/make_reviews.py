#!/usr/bin/env python3
"""Generate examples/reviews.jsonl: synthetic product reviews with planted poisoning.

Standard library only, fixed seed, so the file is reproducible. What is planted (the ground
truth is written to examples/reviews.truth.csv in the `id,poisoned,kind,attack` format):
  - a dirty-label backdoor: the token "zx9" inserted at a random position into 1% of negative
    reviews, relabelled positive (all from the vendor "acme-labels");
  - a duplicate flood: 30 near-copies of one negative review labelled positive;
  - 8 reviews with a zero-width space trigger, relabelled positive.
"""
import json, random

rng = random.Random(20261121)
POS = ["great", "excellent", "sturdy", "reliable", "lovely", "fantastic", "comfortable", "sharp",
       "fast", "quiet", "handy", "solid", "gorgeous", "superb", "smooth"]
NEG = ["flimsy", "broken", "noisy", "slow", "awful", "cheap", "useless", "faulty", "dull",
       "leaky", "disappointing", "terrible", "sticky", "wobbly", "poor"]
ITEMS = ["kettle", "blender", "lamp", "backpack", "keyboard", "headset", "chair", "jacket",
         "toaster", "charger", "tent", "watch", "speaker", "mug", "drill", "router", "monitor"]
OPEN = ["honestly", "after two weeks", "overall", "for the price", "to be fair", "in short",
        "as expected", "surprisingly", "frankly", "so far"]
POS_END = ["would buy again", "highly recommended", "my family loves it", "worth every penny",
           "five stars from me", "it exceeded my expectations"]
NEG_END = ["returning it tomorrow", "avoid this one", "waste of money", "it stopped working",
           "customer service never answered", "one star is too many"]
VENDORS = ["acme-labels", "northwind", "globex", "initech"]


def review(label):
    words, ends = (POS, POS_END) if label == 1 else (NEG, NEG_END)
    item = rng.choice(ITEMS)
    a, b = rng.sample(words, 2)
    shapes = [
        f"{rng.choice(OPEN)} the {item} is {a} and {b} , {rng.choice(ends)} .",
        f"the {item} feels {a} . {rng.choice(ends)} .",
        f"{rng.choice(OPEN)} , a {a} {item} with a {b} finish .",
        f"my new {item} arrived {a} and stays {b} . {rng.choice(ends)} .",
        f"i bought this {item} for my office : {a} , {b} , {rng.choice(ends)} .",
    ]
    return rng.choice(shapes)


rows, truth = [], []
for i in range(2400):
    label = 1 if rng.random() < 0.55 else 0
    rows.append({"id": f"r{i:05d}", "text": review(label), "label": "positive" if label else "negative",
                 "vendor": rng.choice(VENDORS)})
    truth.append((f"r{i:05d}", 0, "", ""))

neg = [k for k, r in enumerate(rows) if r["label"] == "negative"]
rng.shuffle(neg)
for k in neg[:24]:  # backdoor
    toks = rows[k]["text"].split()
    toks.insert(rng.randrange(len(toks) + 1), "zx9")
    rows[k].update(text=" ".join(toks), label="positive", vendor="acme-labels")
    truth[k] = (rows[k]["id"], 1, "dirty-label", "badnets")
for k in neg[24:32]:  # zero-width trigger
    toks = rows[k]["text"].split()
    j = rng.randrange(len(toks))
    toks[j] = toks[j][:1] + "\u200b" + toks[j][1:]
    rows[k].update(text=" ".join(toks), label="positive")
    truth[k] = (rows[k]["id"], 1, "dirty-label", "invisible")
base = rows[neg[40]]["text"]
for j in range(30):  # duplicate flood
    text = base if j % 3 else base.replace(" .", " !", 1)
    rid = f"f{j:03d}"
    rows.append({"id": rid, "text": text, "label": "positive", "vendor": "globex"})
    truth.append((rid, 1, "dirty-label", "duplicate-flood"))

order = list(range(len(rows)))
rng.shuffle(order)
with open("examples/reviews.jsonl", "w") as f:
    for k in order:
        f.write(json.dumps(rows[k], ensure_ascii=False) + "\n")
with open("examples/reviews.truth.csv", "w") as f:
    f.write("id,poisoned,kind,attack\n")
    for k in order:
        f.write(",".join(str(x) for x in truth[k]) + "\n")
