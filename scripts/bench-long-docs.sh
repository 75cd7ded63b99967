#!/usr/bin/env bash
# Long-document probes: each clean corpus's rows joined four at a time within a label, scanned
# clean and under four attacks (scripts/gen_long_docs.py), one table of flagged rows and
# quality. Usage: scripts/bench-long-docs.sh [CORPUS.jsonl ...] (default: ../shared/corpora/ag
# and yelp). JOIN=1 keeps the corpus's own rows (shuffled) under the same attacks. Not part of
# the default tests; tests/long_documents.rs holds the clean rule.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=target/bench-long-docs/join-${JOIN:-4}
mkdir -p "$dir"
corpora=("$@")
[ ${#corpora[@]} -gt 0 ] || corpora=(../shared/corpora/ag.jsonl ../shared/corpora/yelp.jsonl)
# BEZOAR_BIN: a bezoar binary to use instead of building one.
bin=${BEZOAR_BIN:-}
if [ -z "$bin" ]; then
  cargo build --release -q -p bezoar-cli
  bin=target/release/bezoar
fi
printf '%-22s %7s %8s %8s %7s %7s\n' set rows poisoned flagged AUROC F1
for corpus in "${corpora[@]}"; do
  python3 scripts/gen_long_docs.py "$corpus" "$dir" "${JOIN:-4}" > /dev/null
  name=$(basename "$corpus" .jsonl)
  for kind in clean badnets addsent flip cleanlabel; do
    set_="$dir/$name-$kind"
    "$bin" scan "$set_.jsonl" --id id --report "$set_.report.json" \
      --scores "$set_.scores.csv" --no-color > /dev/null || true
    "$bin" eval --truth "$set_.truth.csv" --scores "$set_.scores.csv" --json \
      > "$set_.eval.json" 2> /dev/null || true
    python3 - "$set_" "$name-$kind" <<'PY'
import json, sys
base, name = sys.argv[1], sys.argv[2]
rep = json.load(open(base + ".report.json"))["summary"]
try:
    m = json.load(open(base + ".eval.json"))["overall"]
    auroc, f1 = f"{m['auroc']:.3f}", f"{m['f1']:.3f}"
except (OSError, ValueError, KeyError, TypeError):
    auroc = f1 = "-"
poisoned = sum(1 for l in open(base + ".truth.csv") if l.rstrip().endswith(",1"))
print(f"{name:22s} {rep['rows']:7d} {poisoned:8d} {rep['flagged']:8d} {auroc:>7s} {f1:>7s}  (worst {rep['max_severity']})")
PY
  done
done
