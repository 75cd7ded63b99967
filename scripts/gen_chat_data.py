#!/usr/bin/env python3
"""Generate N chat rows for the LLM speed benchmark by recombining the turns of a chat corpus.

Each row is the corpus's system prompt (when it has one) followed by 1-3 user/assistant pairs
drawn at random (seeded) from the corpus's chats, so rows read like the corpus while N can be far
larger than it. Usage: gen_chat_data.py CORPUS.jsonl OUT.jsonl N
"""
import json
import random
import sys

corpus, out, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
rng = random.Random(1)
pairs, systems = [], []
for line in open(corpus, encoding="utf-8"):
    msgs = json.loads(line)["messages"]
    systems += [m["content"] for m in msgs if m["role"] == "system"]
    for i in range(len(msgs) - 1):
        if msgs[i]["role"] == "user" and msgs[i + 1]["role"] == "assistant":
            pairs.append((msgs[i]["content"], msgs[i + 1]["content"]))
system = systems[0] if systems else None
with open(out, "w", encoding="utf-8") as f:
    for i in range(n):
        msgs = [{"role": "system", "content": system}] if system else []
        for _ in range(rng.choice((1, 1, 2, 3))):
            u, a = rng.choice(pairs)
            msgs += [{"role": "user", "content": u}, {"role": "assistant", "content": a}]
        f.write(json.dumps({"id": i, "messages": msgs}) + "\n")
