#!/usr/bin/env python3
"""Python package speed and memory against the CLI on the same rows.

Usage: python scripts/bench-python.py [ROWS] [RUNS] (run with the venv that has `bezoar` installed,
after `cargo build --release -p bezoar-cli`; the data is scripts/gen_speed_data.py's, made by
scripts/bench-speed.sh when missing).

CLI: wall time and peak RSS of `bezoar scan FILE` (reading the JSONL file included).
Python: wall time of `bezoar.scan(table)` on a pyarrow Table already in memory, and the memory
growth during the call: the process's peak RSS during the call (VmHWM, reset just before it
through /proc/self/clear_refs) minus its RSS before the call.
"""

import subprocess
import sys
import time
from pathlib import Path

import pyarrow.json as pa_json

import bezoar

ROOT = Path(__file__).resolve().parent.parent


def status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def main() -> None:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    data = ROOT / "target" / "bench-speed" / f"speed-{rows}.jsonl"
    if not data.exists():
        data.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, str(ROOT / "scripts" / "gen_speed_data.py"), str(data), str(rows)], check=True)
    table = pa_json.read_json(str(data))
    ratios = []
    # CLI and Python alternate, so a slow spell of a shared machine hits both alike.
    for run in range(1, runs + 1):
        ratios.append(one_run(run, rows, data, table))
    if runs > 1:
        times = sorted(r[0] for r in ratios)
        mems = sorted(r[1] for r in ratios)
        print(f"median ratio over {runs} runs: time {times[runs // 2]:.3f} "
              f"(min {times[0]:.3f}, max {times[-1]:.3f}), memory {mems[runs // 2]:.3f}")


def one_run(run: int, rows: int, data: Path, table: object) -> tuple[float, float]:
    cli = ROOT / "target" / "release" / "bezoar"
    timing = data.parent / "python-cli-time.txt"
    started = time.perf_counter()
    subprocess.run(
        ["/usr/bin/time", "-f", "%M %e", "-o", str(timing), str(cli), "scan", str(data), "--id", "id",
         "--quiet", "--fail-on", "never"],
        check=True,
    )
    cli_rss_kib, cli_secs = timing.read_text().split()[-2:]
    cli_wall = time.perf_counter() - started

    before = status_kib("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
    started = time.perf_counter()
    result = bezoar.scan(table, id="id")
    py_secs = time.perf_counter() - started
    peak = status_kib("VmHWM")
    growth_mib = (peak - before) / 1024
    cli_mib = int(cli_rss_kib) / 1024
    del result
    time_ratio, mem_ratio = py_secs / float(cli_secs), growth_mib / cli_mib
    print(f"run {run}: rows={rows} cli {float(cli_secs):.1f} s (wall {cli_wall:.1f} s) peak RSS "
          f"{cli_mib:.0f} MiB | python {py_secs:.1f} s, growth {growth_mib:.0f} MiB (RSS before "
          f"{before / 1024:.0f} MiB) | ratio time {time_ratio:.3f} memory {mem_ratio:.3f}",
          flush=True)
    return time_ratio, mem_ratio


if __name__ == "__main__":
    main()
