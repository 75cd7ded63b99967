#!/usr/bin/env python3
"""Serve a model over HTTP: Open Inference Protocol v2 and Hugging Face pipeline JSON.

  serve_http.py --model DIR [--name NAME] [--host 127.0.0.1] [--port 0] [--port-file FILE]

Routes (NAME defaults to the model directory's base name):
  GET  /v2/health/ready, /v2/health/live, /v2   server readiness, liveness, metadata
  GET  /v2/models/NAME[/versions/1]             model metadata
  GET  /v2/models/NAME[/versions/1]/ready       model readiness
  POST /v2/models/NAME[/versions/1]/infer       inference, v2 JSON tensors
  POST /hf/NAME and POST /                      Hugging Face text-classification JSON
Errors are JSON `{"error": "..."}`: 400 bad body, 404 unknown model or path, 405 wrong method,
411/413 missing or oversized body. Stdlib only (http.server), HTTP/1.1 with keep-alive.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import tempfile
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np

import modelkit as mk

MAX_BODY = 64 << 20


class BadRequest(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


class App:
    """The routes, free of HTTP plumbing: (method, path, body) -> (status, JSON value)."""

    def __init__(self, model, name: str):
        self.model, self.name = model, name
        self.k = len(model.labels)

    def metadata(self):
        return {"name": self.name, "versions": ["1"], "platform": self.model.platform,
                "inputs": [{"name": "text", "datatype": "BYTES", "shape": [-1]}],
                "outputs": [{"name": "label", "datatype": "BYTES", "shape": [-1]},
                            {"name": "probabilities", "datatype": "FP32",
                             "shape": [-1, self.k]}],
                "parameters": {"labels": self.model.labels}}

    def route(self, method: str, path: str, read_body):
        path = path.split("?", 1)[0].rstrip("/") or "/"
        parts = path.strip("/").split("/") if path != "/" else []
        get = {("v2", "health", "ready"): lambda: {"ready": True},
               ("v2", "health", "live"): lambda: {"live": True},
               ("v2",): lambda: {"name": "bezoar-example-models", "version": "1",
                                 "extensions": []}}
        if tuple(parts) in get:
            return self.only(method, "GET") or (200, get[tuple(parts)]())
        if parts[:2] == ["v2", "models"] and len(parts) >= 3:
            rest = parts[3:]
            if rest[:2] == ["versions", "1"]:
                rest = rest[2:]
            elif rest[:1] == ["versions"]:
                return 404, {"error": f"unknown version {'/'.join(rest[1:2])!r}: only '1'"}
            if parts[2] != self.name:
                return 404, {"error": f"unknown model {parts[2]!r}; this server has "
                                      f"{self.name!r}"}
            if rest == []:
                return self.only(method, "GET") or (200, self.metadata())
            if rest == ["ready"]:
                return self.only(method, "GET") or (200, {"name": self.name, "ready": True})
            if rest == ["infer"]:
                return self.only(method, "POST") or (200, self.infer_v2(read_body()))
        if parts == [] or (parts[:1] == ["hf"] and len(parts) == 2):
            if parts and parts[1] != self.name:
                return 404, {"error": f"unknown model {parts[1]!r}; this server has "
                                      f"{self.name!r}"}
            return self.only(method, "POST") or (200, self.infer_hf(read_body()))
        return 404, {"error": f"no route {method} {path}"}

    @staticmethod
    def only(method, allowed):
        if method != allowed:
            return 405, {"error": f"method {method} not allowed here; use {allowed}"}
        return None

    def infer_v2(self, body):
        inputs = body.get("inputs") if isinstance(body, dict) else None
        if not isinstance(inputs, list) or not inputs:
            raise BadRequest(400, "body must be an object with a non-empty \"inputs\" list")
        named = [t for t in inputs if isinstance(t, dict) and t.get("name") == "text"]
        if named:
            tensor = named[0]
        elif len(inputs) == 1 and isinstance(inputs[0], dict):
            tensor = inputs[0]
        else:
            raise BadRequest(400, "no input tensor named \"text\" (and more than one input)")
        data = tensor.get("data")
        if not isinstance(data, list):
            raise BadRequest(400, "input tensor needs a \"data\" list")
        texts = flatten(data)
        if not all(isinstance(t, str) for t in texts):
            raise BadRequest(400, "input \"data\" must hold strings (datatype BYTES)")
        shape = tensor.get("shape")
        if shape is not None:
            if not (isinstance(shape, list) and all(isinstance(d, int) for d in shape)):
                raise BadRequest(400, "input \"shape\" must be a list of integers")
            if int(np.prod(shape)) != len(texts):
                raise BadRequest(400, f"shape {shape} does not match {len(texts)} data items")
        probs = self.model.predict_proba(texts) if texts else np.zeros((0, self.k))
        labels = [mk.top(p, self.model.labels) for p in probs]
        resp = {"model_name": self.name, "model_version": "1"}
        if "id" in body:
            resp["id"] = body["id"]
        resp["outputs"] = [
            {"name": "label", "shape": [len(texts)], "datatype": "BYTES", "data": labels},
            {"name": "probabilities", "shape": [len(texts), self.k], "datatype": "FP32",
             "data": probs.astype(np.float32).ravel().tolist()},
        ]
        return resp

    def infer_hf(self, body):
        inputs = body.get("inputs") if isinstance(body, dict) else None
        texts = [inputs] if isinstance(inputs, str) else inputs
        if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
            raise BadRequest(400, "body must be {\"inputs\": string or list of strings}")
        params = body.get("parameters") or {}
        if not isinstance(params, dict):
            raise BadRequest(400, "\"parameters\" must be an object")
        probs = self.model.predict_proba(texts) if texts else np.zeros((0, self.k))
        labels = self.model.labels
        if "top_k" not in params:  # the pipeline default: the top class of each input
            return [{"label": mk.top(p, labels), "score": float(p.max())} for p in probs]
        top_k = params["top_k"]
        if top_k is not None and (not isinstance(top_k, int) or top_k < 1):
            raise BadRequest(400, "\"top_k\" must be a positive integer or null (all classes)")
        out = []
        for p in probs:  # stable sort: equal scores keep label order
            order = sorted(range(self.k), key=lambda j: -p[j])[:top_k]
            out.append([{"label": labels[j], "score": float(p[j])} for j in order])
        return out


def flatten(x):
    """[[a], [b]] -> [a, b]: a [n, 1] BYTES tensor is as good as a [n] one."""
    if isinstance(x, list):
        return [y for item in x for y in flatten(item)]
    return [x]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: a client can reuse one connection
    # Headers and body go out in two writes; without TCP_NODELAY, Nagle plus the client's
    # delayed ACK stalls every response by ~40 ms.
    disable_nagle_algorithm = True
    app: App  # set on the class in main()

    def do_GET(self):
        self.handle_any("GET")

    def do_POST(self):
        self.handle_any("POST")

    def do_PUT(self):
        self.handle_any("PUT")

    def do_DELETE(self):
        self.handle_any("DELETE")

    def handle_any(self, method):
        body_read = False

        def read_body():
            nonlocal body_read
            body_read = True
            raw = self.read_raw_body()
            try:
                return json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, ValueError) as e:
                raise BadRequest(400, f"invalid JSON body: {e}")

        try:
            status, value = self.app.route(method, self.path, read_body)
        except BadRequest as e:
            status, value = e.status, {"error": str(e)}
        except Exception as e:  # a bug or a model failure: answer, don't drop the connection
            status, value = 500, {"error": f"{type(e).__name__}: {e}"}
        if not body_read:
            # An unread request body would be parsed as the next request on this connection.
            try:
                self.read_raw_body()
            except BadRequest:
                self.close_connection = True
        payload = json.dumps(value).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def read_raw_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self.read_chunked()
        length = self.headers.get("Content-Length")
        if length is None:
            if self.command in ("GET", "DELETE"):
                return b""
            self.close_connection = True
            raise BadRequest(411, "Content-Length (or chunked encoding) required")
        n = int(length)
        if n > MAX_BODY:
            self.close_connection = True
            raise BadRequest(413, f"body over {MAX_BODY} bytes")
        return self.rfile.read(n)

    def read_chunked(self) -> bytes:
        parts, total = [], 0
        while True:
            size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):  # trailers
                    pass
                return b"".join(parts)
            total += size
            if total > MAX_BODY:
                self.close_connection = True
                raise BadRequest(413, f"body over {MAX_BODY} bytes")
            parts.append(self.rfile.read(size))
            self.rfile.readline()  # the CRLF after each chunk

    def log_message(self, fmt, *args):  # quiet: one line per request would swamp a probe run
        pass


def write_port_file(path: str, port: int):
    """Write then rename, so a reader polling for the file never sees it half written."""
    d = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=d, prefix=".port-")
    with os.fdopen(fd, "w") as f:
        f.write(f"{port}\n")
    os.chmod(tmp, 0o644)  # mkstemp makes it 0600; let any local user read the port
    os.replace(tmp, path)


def on_signal(signum, frame):
    # KeyboardInterrupt unwinds serve_forever in the main thread, then the socket is closed.
    raise KeyboardInterrupt


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True, help="model directory written by train.py")
    ap.add_argument("--name", help="model name in URLs (default: the directory's base name)")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0, help="0 picks a free port")
    ap.add_argument("--port-file", help="write the bound port here once listening")
    args = ap.parse_args(argv)

    t0 = time.perf_counter()
    model = mk.load_model(args.model)
    name = args.name or Path(args.model).resolve().name
    Handler.app = App(model, name)
    server = ThreadingHTTPServer((args.host, args.port), Handler)
    server.daemon_threads = True  # in-flight requests do not hold up exit
    host, port = server.server_address[:2]
    # Set both explicitly: a shell starts background jobs with SIGINT ignored, and Python keeps
    # an inherited "ignore", which would leave Ctrl-C / kill -INT without effect.
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    print(f"serve_http: {model.kind} model {name!r}, labels {model.labels}, "
          f"loaded in {time.perf_counter() - t0:.2f}s", file=sys.stderr)
    print(f"listening on http://{host}:{port}", file=sys.stderr, flush=True)
    if args.port_file:
        write_port_file(args.port_file, port)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    print("serve_http: stopped", file=sys.stderr)


if __name__ == "__main__":
    main()
