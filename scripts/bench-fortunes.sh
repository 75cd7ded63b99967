#!/usr/bin/env bash
# An out-of-domain clean corpus: the Debian fortune files (package `fortunes`), one row per
# fortune, labelled by the file it comes from (43 labels from 2 to 1,251 rows; quotes, jokes,
# definitions, riddles, song lyrics, multi-line and ASCII-formatted text). Nothing in it is
# poisoned, so every finding at or above high and every flagged row is a false alarm; each file
# keeps its own formats (riddles open with "Q:", perl quotes close with a signature), which is
# what makes it a hard clean corpus for trigger detection. Not part of the default tests.
# Usage: scripts/bench-fortunes.sh [FORTUNE_DIR] (default /usr/share/games/fortunes; install
# with `apt-get install fortunes`).
set -euo pipefail
cd "$(dirname "$0")/.."
src=${1:-/usr/share/games/fortunes}
if [ ! -d "$src" ]; then
  echo "no fortune files at $src: install them with 'apt-get install fortunes'" >&2
  exit 2
fi
dir=target/bench-fortunes
mkdir -p "$dir"
python3 - "$src" "$dir/fortunes.jsonl" <<'PY'
import json, os, sys
src, out = sys.argv[1], sys.argv[2]
rows = 0
with open(out, "w") as f:
    for name in sorted(os.listdir(src)):
        path = os.path.join(src, name)
        # The index (.dat) and encoding variants (.u8) are not fortune files.
        if "." in name or os.path.islink(path) or not os.path.isfile(path):
            continue
        text = open(path, encoding="utf-8", errors="replace").read()
        for item in text.split("\n%\n"):
            item = item.strip("%\n ").strip()
            if len(item) < 20:
                continue
            f.write(json.dumps({"id": rows, "text": item, "label": name}) + "\n")
            rows += 1
print(f"{rows} fortunes written to {out}", file=sys.stderr)
PY
# BEZOAR_BIN: a bezoar binary to use instead of building one.
bin=${BEZOAR_BIN:-}
if [ -z "$bin" ]; then
  cargo build --release -q -p bezoar-cli
  bin=target/release/bezoar
fi
"$bin" scan "$dir/fortunes.jsonl" --id id --report "$dir/report.json" \
  --scores "$dir/scores.csv" --no-color | grep -E '^\[(CRITICAL|HIGH)\]|^verdict' || true
