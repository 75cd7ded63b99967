#!/usr/bin/env bash
# Random label flips among many labels: the clean corpora of ../shared/corpora pooled into one
# dataset whose label is `corpus:label` (14 labels from the six corpora), as a user who pools
# sources would have it; then the same rows with 2% and 5% of labels redrawn uniformly from the
# other labels (`bezoar inject --attack label-flip`, seeded). Prints the clean scan's verdict
# and each flipped set's AUROC, precision, recall and F1 (`bezoar eval`). Not part of the
# default tests (three scans of 57k rows: about 2.5 minutes on 2 cores).
# Usage: scripts/bench-pooled-flips.sh [CORPORA_DIR] (default ../shared/corpora).
set -euo pipefail
cd "$(dirname "$0")/.."
src=${1:-../shared/corpora}
if [ ! -d "$src" ]; then
  echo "no corpora at $src: pass the directory holding the clean *.jsonl corpora" >&2
  exit 2
fi
dir=target/bench-pooled-flips
mkdir -p "$dir"
python3 - "$src" "$dir/pooled.jsonl" <<'PY'
import json, os, sys
src, out = sys.argv[1], sys.argv[2]
rows = 0
with open(out, "w") as f:
    for name in sorted(os.listdir(src)):
        if not name.endswith(".jsonl"):
            continue
        corpus = name[: -len(".jsonl")]
        for line in open(os.path.join(src, name), encoding="utf-8"):
            row = json.loads(line)
            f.write(json.dumps({"id": rows, "text": row["text"], "label": f"{corpus}:{row['label']}"}) + "\n")
            rows += 1
print(f"{rows} rows written to {out}", file=sys.stderr)
PY
# BEZOAR_BIN: a bezoar binary to use instead of building one.
bin=${BEZOAR_BIN:-}
if [ -z "$bin" ]; then
  cargo build --release -q -p bezoar-cli
  bin=target/release/bezoar
fi
echo "== clean (every finding at or above high, every flagged row is a false alarm)"
"$bin" scan "$dir/pooled.jsonl" --id id --report "$dir/clean.json" --no-color \
  | grep -E '^\[(CRITICAL|HIGH)\]|label noise|^verdict|flagged' || true
for rate in 2 5; do
  echo "== ${rate}% random flips"
  "$bin" inject "$dir/pooled.jsonl" --id id --attack label-flip --rate "${rate}%" --seed 5 \
    --out "$dir/flip$rate.jsonl" --truth "$dir/flip$rate.truth.csv"
  "$bin" scan "$dir/flip$rate.jsonl" --id id --scores "$dir/flip$rate.scores.csv" --no-color \
    | grep -E 'label noise' | cut -c1-400 || true
  "$bin" eval --truth "$dir/flip$rate.truth.csv" --scores "$dir/flip$rate.scores.csv"
done
