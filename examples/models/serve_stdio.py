#!/usr/bin/env python3
"""Serve a model over stdin/stdout, one JSON line in, one JSON line out.

  serve_stdio.py --model DIR

Each input line is a request `{"text": "..."}` (an optional "id" is echoed back); each gets
exactly one output line, in input order: `{"label": "<class>", "scores": {"<class>": p, ...}}`,
or `{"error": "..."}` when the line is not such an object. Runs until stdin closes.

Reading never waits on writing: a writer thread owns stdout, so a client that writes a whole
batch before it reads anything cannot deadlock us even when both pipe buffers are full. All
complete lines that have arrived are classified in one batch, which is what makes it fast.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import sys
import threading
import time

import modelkit as mk


def parse(line: bytes):
    """The request text (and id) of one line, or an error message."""
    try:
        obj = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        return None, None, f"invalid JSON: {e}"
    if not isinstance(obj, dict):
        return None, None, "request must be a JSON object with a string field \"text\""
    text = obj.get("text")
    if not isinstance(text, str):
        return None, None, "field \"text\" missing or not a string"
    return text, obj.get("id"), None


def answer(model, lines: list[bytes]) -> bytes:
    parsed = [parse(ln) for ln in lines]
    texts = [t for t, _, err in parsed if err is None]
    try:
        probs = iter(model.predict_proba(texts) if texts else [])
    except Exception as e:  # never die mid-stream: every line still gets its one answer
        msg = f"model failed: {type(e).__name__}: {e}"
        parsed = [(t, rid, err or msg) for t, rid, err in parsed]
    out = []
    for _, rid, err in parsed:
        if err is not None:
            resp = {"error": err}
        else:
            p = next(probs)
            resp = {"label": mk.top(p, model.labels),
                    "scores": {name: float(x) for name, x in zip(model.labels, p)}}
            if rid is not None:
                resp["id"] = rid
        out.append(json.dumps(resp))  # ASCII-escaped: always valid UTF-8, one line
    return ("\n".join(out) + "\n").encode("utf-8")


def writer(q: queue.Queue):
    stdout = sys.stdout.buffer
    while (chunk := q.get()) is not None:
        try:
            stdout.write(chunk)
            stdout.flush()
        except BrokenPipeError:  # the client went away: drain and stop quietly
            os._exit(0)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True, help="model directory written by train.py")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    model = mk.load_model(args.model)
    print(f"serve_stdio: {model.kind} model, labels {model.labels}, "
          f"loaded in {time.perf_counter() - t0:.2f}s", file=sys.stderr, flush=True)

    q: queue.Queue = queue.Queue()
    w = threading.Thread(target=writer, args=(q,), daemon=True)
    w.start()
    fd = sys.stdin.fileno()
    pending = b""
    while True:
        # os.read returns whatever is available now (up to 1 MiB) instead of waiting to fill a
        # buffer, so a burst is answered as soon as its last line arrives.
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            break
        pending += chunk
        *complete, pending = pending.split(b"\n")
        if complete:
            q.put(answer(model, [ln.rstrip(b"\r") for ln in complete]))
    if pending.strip():  # a last line without its newline is still a request
        q.put(answer(model, [pending.rstrip(b"\r")]))
    q.put(None)
    w.join()


if __name__ == "__main__":
    main()
