#!/usr/bin/env bash
# Speed benchmark: scan a generated dataset (default 1M rows) and report rows/second and peak
# memory. Usage: scripts/bench-speed.sh [ROWS]
set -euo pipefail
cd "$(dirname "$0")/.."
rows=${1:-1000000}
dir=target/bench-speed
mkdir -p "$dir"
data="$dir/speed-$rows.jsonl"
[ -s "$data" ] || python3 scripts/gen_speed_data.py "$data" "$rows"
cargo build --release -q -p bezoar-cli
start=$(date +%s.%N)
set +e
/usr/bin/time -f '%M %e' -o "$dir/time.txt" target/release/bezoar scan "$data" --id id \
  --report "$dir/report.json" --scores "$dir/scores.csv" --no-color > "$dir/summary.txt"
code=$?
set -e
end=$(date +%s.%N)
read -r rss_kb secs < <(tail -n 1 "$dir/time.txt")
python3 - "$rows" "$secs" "$rss_kb" "$code" "$dir" <<'PY'
import json, sys
rows, secs, rss_kb, code, d = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
rep = json.load(open(f"{d}/report.json"))
trig = [f for f in rep["findings"] if f["detector"] == "trigger"]
print(f"rows={rows} seconds={secs:.1f} rows_per_second={rows/secs:,.0f} peak_rss_mib={rss_kb/1024:.0f} exit={code}")
print("top trigger finding:", trig[0]["title"] if trig else "NONE")
PY
truth="${data%.jsonl}.truth.csv"
if [ -s "$truth" ]; then
  target/release/bezoar eval --truth "$truth" --scores "$dir/scores.csv" | sed -n '3,4p'
fi
grep 'shared stages' -B8 "$dir/summary.txt" || true
