#!/usr/bin/env bash
# LLM-data speed benchmark: N chat rows (default 100,000) recombined from the chat corpus in
# ../shared/corpora-llm, a 0.1% prompt trigger planted with `bezoar inject`, then scanned.
# Prints seconds, peak memory and how well the planted rows were found; then the same for N
# preference pairs with 5% of them swapped.
# Usage: scripts/bench-llm-speed.sh [ROWS]
set -euo pipefail
cd "$(dirname "$0")/.."
rows=${1:-100000}
corpus=../shared/corpora-llm/dolly-chat-5k.jsonl
[ -s "$corpus" ] || { echo "needs $corpus (../shared beside the checkout)" >&2; exit 2; }
dir=target/bench-llm-speed
mkdir -p "$dir"
clean="$dir/chat-$rows.jsonl"
[ -s "$clean" ] || python3 scripts/gen_chat_data.py "$corpus" "$clean" "$rows"
cargo build --release -q -p bezoar-cli
bin=target/release/bezoar
"$bin" inject "$clean" --attack prompt-trigger --rate 0.1% --seed 7 \
  --out "$dir/poisoned.jsonl" --truth "$dir/truth.csv"
set +e
/usr/bin/time -f '%M %e' -o "$dir/time.txt" "$bin" scan "$dir/poisoned.jsonl" \
  --scores "$dir/scores.csv" --no-color > "$dir/summary.txt"
code=$?
set -e
read -r rss_kb secs < <(tail -n 1 "$dir/time.txt")
echo "rows=$rows seconds=$secs peak_rss_mib=$((rss_kb / 1024)) exit=$code"
grep -m3 '^\[' "$dir/summary.txt" || true
"$bin" eval --truth "$dir/truth.csv" --scores "$dir/scores.csv" | sed -n '3,4p'

# Preference pairs: N pairs recombined from the preference corpus, 5% swapped with
# `bezoar inject --attack preference-flip`, then scanned.
pcorpus=../shared/corpora-llm/hh-harmless-test.jsonl
pclean="$dir/pref-$rows.jsonl"
[ -s "$pclean" ] || python3 scripts/gen_pref_data.py "$pcorpus" "$pclean" "$rows"
"$bin" inject "$pclean" --attack preference-flip --rate 5% --seed 7 --id id \
  --out "$dir/pref-poisoned.jsonl" --truth "$dir/pref-truth.csv"
set +e
/usr/bin/time -f '%M %e' -o "$dir/pref-time.txt" "$bin" scan "$dir/pref-poisoned.jsonl" --id id \
  --scores "$dir/pref-scores.csv" --no-color > "$dir/pref-summary.txt"
code=$?
set -e
read -r rss_kb secs < <(tail -n 1 "$dir/pref-time.txt")
echo "preference rows=$rows seconds=$secs peak_rss_mib=$((rss_kb / 1024)) exit=$code"
"$bin" eval --truth "$dir/pref-truth.csv" --scores "$dir/pref-scores.csv" | sed -n '3,4p'
