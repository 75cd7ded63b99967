"""Tests of the installed `bezoar` package (scripts/python-tests.sh builds and installs it).

The scans must be the CLI's scans: the same scores, findings and report for the same rows,
whatever container the rows arrive in. The benchmark sets live in ../shared/bench next to the
repository; tests that need one skip with a message when it is missing. Comparisons with the
command line run the binary named by BEZOAR_BIN and skip when it is unset.
"""

from __future__ import annotations

import csv
import json
import os
import re
import struct
import subprocess
import threading
import time
from pathlib import Path
from typing import Any, cast

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pytest

import bezoar

REPO = Path(__file__).resolve().parents[2]
BENCH = REPO.parent / "shared" / "bench"
SST2 = BENCH / "sst2-badnets-1pct" / "train.jsonl"
AG = BENCH / "ag-badnets-1pct" / "train.jsonl"
REVIEWS = REPO / "examples" / "reviews.jsonl"
REVIEWS_TRUTH = REPO / "examples" / "reviews.truth.csv"

# One scores line as the CLI writes it: id, score with six decimals, flagged, reasons.
ScoreLine = tuple[str, str, str, str]


def need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"{path} not found: the benchmark sets are expected in ../shared/bench")
    return path


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run the bezoar CLI named by BEZOAR_BIN (relative paths are from the repository root)."""
    name = os.environ.get("BEZOAR_BIN")
    if not name:
        pytest.skip("BEZOAR_BIN is not set: no CLI to compare with")
    binary = Path(name) if Path(name).is_absolute() else REPO / name
    assert binary.exists(), (
        f"BEZOAR_BIN={name} does not exist; build it with cargo build -p bezoar-cli"
    )
    run = subprocess.run([str(binary), *args], capture_output=True, text=True, cwd=cwd)
    assert run.returncode in (0, 1), f"bezoar {' '.join(args)} failed:\n{run.stderr}"
    return run


def cli_scan(data: Path | str, *flags: str, cwd: Path | None = None, **outputs: Path) -> None:
    """`bezoar scan DATA FLAGS... --OUTPUT FILE...` with no summary and exit 0 on findings."""
    args = ["scan", str(data), *flags, "--quiet", "--fail-on", "never"]
    for name, file in outputs.items():
        args += [f"--{name}", str(file)]
    cli(*args, cwd=cwd)


def score_lines(scores: pa.Table) -> list[ScoreLine]:
    """The scores as the CLI writes them: `{:.6}` of the f32 score. Python's `.6f` of the same
    value (exact in a float64) rounds the same way, so equal lines mean equal f32 scores up to
    the CSV's precision; the report's top_rows check the f32 values exactly."""
    assert scores.schema.names == ["id", "score", "flagged", "reasons"]
    columns = scores.to_pydict()
    return [
        (i, "nan" if s is None or s != s else f"{s:.6f}", "true" if f else "false", r)
        for i, s, f, r in zip(
            columns["id"], columns["score"], columns["flagged"], columns["reasons"], strict=True
        )
    ]


def cli_score_lines(path: Path) -> list[ScoreLine]:
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["id", "score", "flagged", "reasons"]
    return [(r[0], r[1], r[2], r[3]) for r in rows[1:]]


def f32(x: float) -> float:
    return cast(float, struct.unpack("f", struct.pack("f", x))[0])


def finding_keys(report: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [
        (f["rule"], f["severity"], f["subject"], f["rows"], f["row_ids"])
        for f in report["findings"]
    ]


def without_input_source(report: dict[str, Any]) -> dict[str, Any]:
    """The report less what says where the rows came from (a path and format for the CLI,
    Arrow data for the Python scan)."""
    out = dict(report)
    out["input"] = {k: v for k, v in report["input"].items() if k not in ("path", "format")}
    return out


@pytest.fixture(scope="module")
def sst2_table() -> pa.Table:
    table: pa.Table = pajson.read_json(need(SST2))
    return table


@pytest.fixture(scope="module")
def sst2_result(sst2_table: pa.Table) -> bezoar.ScanResult:
    return bezoar.scan(sst2_table, id="id")


@pytest.fixture(scope="module")
def sst2_lines(sst2_result: bezoar.ScanResult) -> list[ScoreLine]:
    return score_lines(sst2_result.scores)


def small_table(rows: int = 40) -> pa.Table:
    return pa.table(
        {
            "id": [f"r{i}" for i in range(rows)],
            "text": [
                f"row number {i} says {'good' if i % 2 else 'bad'} things" for i in range(rows)
            ],
            "label": [i % 2 for i in range(rows)],
        }
    )


# --- the same scan as the CLI -------------------------------------------------------------


@pytest.mark.parametrize("dataset", [SST2, AG], ids=["sst2-badnets-1pct", "ag-badnets-1pct"])
def test_scores_and_report_equal_the_clis(dataset: Path, tmp_path: Path) -> None:
    path = need(dataset)
    table = pajson.read_json(path)
    # The bench sets' ids are JSON numbers: the id column must work whatever its type.
    assert pa.types.is_integer(table.schema.field("id").type)
    result = bezoar.scan(table, id="id")

    scores_csv, report_json = tmp_path / "scores.csv", tmp_path / "report.json"
    cli_scan(path, "--id", "id", scores=scores_csv, report=report_json)
    cli_report = json.loads(report_json.read_text(encoding="utf-8"))

    assert score_lines(result.scores) == cli_score_lines(scores_csv)
    assert finding_keys(result.report) == finding_keys(cli_report)
    assert without_input_source(result.report) == without_input_source(cli_report)
    # top_rows writes the shortest decimal that reads back as the same f32: exact equality.
    scores = dict(
        zip(result.scores["id"].to_pylist(), result.scores["score"].to_pylist(), strict=True)
    )
    assert cli_report["top_rows"], "the bench set should have flagged rows"
    for row in cli_report["top_rows"]:
        assert scores[row["id"]] == f32(row["score"]), row["id"]
    assert (result.rows, result.flagged, result.max_severity) == (
        cli_report["summary"]["rows"],
        cli_report["summary"]["flagged"],
        cli_report["summary"]["max_severity"],
    )


def test_a_path_gives_the_clis_report_byte_for_byte(
    sst2_lines: list[ScoreLine], tmp_path: Path
) -> None:
    path = str(need(SST2))
    # The CLI runs with --fail-on never (cli_scan): the HTML verdict follows fail_on.
    result = bezoar.scan(path, id="id", fail_on="never")
    assert not result.failed
    assert score_lines(result.scores) == sst2_lines
    report, sarif, page = tmp_path / "r.json", tmp_path / "r.sarif", tmp_path / "r.html"
    # The same working directory: SARIF locates the file relative to it.
    cli_scan(path, "--id", "id", report=report, sarif=sarif, html=page, cwd=Path.cwd())
    assert result.to_json() == report.read_text(encoding="utf-8")
    assert result.to_sarif() == sarif.read_text(encoding="utf-8")
    assert result.to_html() == page.read_text(encoding="utf-8")


def test_settings_reach_the_scan(sst2_table: pa.Table, tmp_path: Path) -> None:
    path = str(need(SST2))
    result = bezoar.scan(
        sst2_table, id="id", budget="0.5%", detectors="trigger,duplicates", seed=7, threshold=0.6
    )
    scores_csv = tmp_path / "s.csv"
    flags = ["--budget", "0.5%", "--detectors", "trigger,duplicates", "--seed", "7"]
    cli_scan(path, "--id", "id", *flags, "--threshold", "0.6", scores=scores_csv)
    assert score_lines(result.scores) == cli_score_lines(scores_csv)
    assert result.flagged <= round(0.005 * sst2_table.num_rows)
    skipped = {d["detector"]: d["skipped"] for d in result.report["detectors"]}
    assert skipped["trigger"] is None and skipped["label-consistency"] is not None


# --- every container gives the same scores ------------------------------------------------


def test_a_pandas_dataframe(sst2_table: pa.Table, sst2_lines: list[ScoreLine]) -> None:
    pytest.importorskip("pandas")
    frame = sst2_table.to_pandas()
    assert score_lines(bezoar.scan(frame, id="id").scores) == sst2_lines


def test_a_polars_dataframe(sst2_table: pa.Table, sst2_lines: list[ScoreLine]) -> None:
    polars = pytest.importorskip("polars")
    # polars exports its strings as string_view.
    frame = polars.from_arrow(sst2_table)
    assert score_lines(bezoar.scan(frame, id="id").scores) == sst2_lines


def test_a_hugging_face_dataset(sst2_table: pa.Table, sst2_lines: list[ScoreLine]) -> None:
    datasets = pytest.importorskip("datasets")
    dataset = datasets.Dataset(sst2_table)
    assert score_lines(bezoar.scan(dataset, id="id").scores) == sst2_lines


def test_a_hugging_face_view_scans_only_its_rows(sst2_table: pa.Table) -> None:
    datasets = pytest.importorskip("datasets")
    view = datasets.Dataset.from_dict(sst2_table.to_pydict()).select(range(1000, 3000))
    expected = bezoar.scan(sst2_table.slice(1000, 2000), id="id")
    assert score_lines(bezoar.scan(view, id="id").scores) == score_lines(expected.scores)


def test_a_list_of_dicts(sst2_table: pa.Table, sst2_lines: list[ScoreLine]) -> None:
    rows = sst2_table.to_pylist()
    assert score_lines(bezoar.scan(rows, id="id").scores) == sst2_lines


def test_record_batches_and_readers(sst2_table: pa.Table, sst2_lines: list[ScoreLine]) -> None:
    batch = sst2_table.combine_chunks().to_batches()[0]
    assert batch.num_rows == sst2_table.num_rows
    assert score_lines(bezoar.scan(batch, id="id").scores) == sst2_lines
    # Many small batches: rows must join up across batch boundaries.
    reader = pa.RecordBatchReader.from_batches(
        sst2_table.schema, sst2_table.to_batches(max_chunksize=500)
    )
    assert score_lines(bezoar.scan(reader, id="id").scores) == sst2_lines


@pytest.mark.parametrize("text_type", ["large_string", "string_view"])
def test_text_column_types(
    text_type: str, sst2_table: pa.Table, sst2_lines: list[ScoreLine]
) -> None:
    if not hasattr(pa, text_type):
        pytest.skip(f"this pyarrow has no pa.{text_type}")
    arrow_type = getattr(pa, text_type)()
    index = sst2_table.column_names.index("text")
    table = sst2_table.set_column(
        index, pa.field("text", arrow_type), pc.cast(sst2_table["text"], arrow_type)
    )
    assert table.schema.field("text").type == arrow_type
    assert score_lines(bezoar.scan(table, id="id").scores) == sst2_lines


# --- the result object --------------------------------------------------------------------


def test_scores_table(sst2_result: bezoar.ScanResult) -> None:
    scores = sst2_result.scores
    assert scores.schema.names == ["id", "score", "flagged", "reasons"]
    assert scores.schema.types == [pa.string(), pa.float32(), pa.bool_(), pa.string()]
    assert scores.num_rows == sst2_result.rows
    # The capsule can be read once; the table is kept.
    assert sst2_result.scores is scores
    assert pc.sum(scores["flagged"].cast(pa.int64())).as_py() == sst2_result.flagged
    reasons = {r for rs in scores["reasons"].to_pylist() for r in rs.split(";") if r}
    assert reasons <= {
        "trigger",
        "unusual-chars",
        "label-consistency",
        "duplicates",
        "anomaly",
        "source",
    }


def test_findings_mirror_the_report(sst2_result: bezoar.ScanResult) -> None:
    report = sst2_result.report
    findings = sst2_result.findings
    assert findings and len(findings) == len(report["findings"])
    for finding, entry in zip(findings, report["findings"], strict=True):
        assert isinstance(finding, bezoar.Finding)
        assert (finding.rule, finding.severity, finding.title, finding.rows) == (
            entry["rule"],
            entry["severity"],
            entry["title"],
            entry["rows"],
        )
        assert finding.row_ids == entry["row_ids"]
        assert all(isinstance(e, bezoar.Example) for e in finding.examples)
        assert [e.id for e in finding.examples] == [e["id"] for e in entry["examples"]]
        assert all(v is None or isinstance(v, float) for v in finding.evidence.values())
    assert findings[0].severity == sst2_result.max_severity == report["summary"]["max_severity"]


def test_to_json_sarif_and_html(sst2_result: bezoar.ScanResult, tmp_path: Path) -> None:
    text = sst2_result.to_json(tmp_path / "report.json")
    assert json.loads(text)["schema"] == "bezoar.report/1"
    assert (tmp_path / "report.json").read_bytes() == text.encode("utf-8")
    sarif = json.loads(sst2_result.to_sarif(str(tmp_path / "r.sarif")))
    assert sarif["version"] == "2.1.0"
    assert len(sarif["runs"][0]["results"]) == len(sst2_result.findings)
    page = sst2_result.to_html()
    assert "<html" in page.lower() and "<script" not in page.lower()
    assert str(sst2_result).strip(), "the summary table is empty"


def test_to_pandas_and_polars(sst2_result: bezoar.ScanResult) -> None:
    pytest.importorskip("pandas")
    pytest.importorskip("polars")
    frame = sst2_result.to_pandas()
    assert list(frame.columns) == ["id", "score", "flagged", "reasons"]
    assert len(frame) == sst2_result.rows
    polars_frame = sst2_result.to_polars()
    assert polars_frame.columns == ["id", "score", "flagged", "reasons"]
    assert polars_frame.height == sst2_result.rows


def test_repr_and_html_escape_hostile_text(sst2_table: pa.Table) -> None:
    hostile = "<script>alert('pwned')</script> what a movie"
    rows = sst2_table.slice(0, 1500).to_pylist()
    rows += [{"id": 100_000 + i, "text": hostile, "label": i % 2} for i in range(25)]
    result = bezoar.scan(rows, id="id")
    # The copies with conflicting labels make a duplicates finding that quotes the text.
    assert any("<script>" in f.title or "<script>" in f.subject for f in result.findings)

    text = repr(result)
    assert "\n" not in text and "<script>" not in text
    assert re.fullmatch(
        r"<bezoar\.ScanResult rows=1525 flagged=\d+ findings=\d+ max_severity='\w+'>", text
    ), text

    page = result._repr_html_()
    assert "<script" not in page
    assert "&lt;script&gt;" in page


# --- inject and evaluate ------------------------------------------------------------------


def clean_reviews() -> pa.Table:
    """The example dataset less the rows it was shipped poisoned with: rows already poisoned
    would count as clean in inject's truth and their flags as false positives."""
    table = pajson.read_json(need(REVIEWS))
    truth = pacsv.read_csv(
        need(REVIEWS_TRUTH), convert_options=pacsv.ConvertOptions(column_types={"id": pa.string()})
    )
    known = truth.filter(pc.equal(truth["poisoned"], 1))["id"]
    clean: pa.Table = table.filter(pc.invert(pc.is_in(table["id"], value_set=known)))
    assert clean.num_rows == table.num_rows - len(known)
    return clean


def test_inject_scan_evaluate_round_trip() -> None:
    clean = clean_reviews()
    poisoned, truth = bezoar.inject(clean, attack="badnets", rate="2%", seed=1, id="id")
    assert poisoned.column_names == ["id", "text", "label"]
    assert truth.column_names == ["id", "poisoned", "kind", "attack"]
    assert truth.schema.field("poisoned").type == pa.bool_()
    assert poisoned.num_rows == truth.num_rows == clean.num_rows
    assert poisoned["id"].to_pylist() == truth["id"].to_pylist()
    hits = truth.filter(truth["poisoned"])
    assert hits.num_rows == round(0.02 * clean.num_rows)
    assert set(hits["attack"].to_pylist()) == {"badnets"}
    assert set(hits["kind"].to_pylist()) == {"dirty-label"}
    assert (
        truth.filter(pc.invert(truth["poisoned"]))["kind"].null_count
        == clean.num_rows - hits.num_rows
    )

    again = bezoar.inject(clean, attack="badnets", rate=0.02, seed=1, id="id")
    assert again[0].equals(poisoned) and again[1].equals(truth)

    result = bezoar.scan(poisoned, id="id")
    metrics = bezoar.evaluate(truth, result)
    assert metrics["schema"] == "bezoar.eval/1"
    assert metrics["poisoned"] == hits.num_rows
    assert metrics["overall"]["f1"] > 0.8, metrics["overall"]
    assert [g["group"] for g in metrics["by_attack"]] == ["badnets"]
    assert bezoar.evaluate(truth, result.scores) == metrics


def test_inject_matches_the_cli(tmp_path: Path) -> None:
    clean = clean_reviews()
    source = tmp_path / "clean.jsonl"
    source.write_text(
        "".join(json.dumps(row) + "\n" for row in clean.to_pylist()), encoding="utf-8"
    )
    out, truth_csv = tmp_path / "poisoned.jsonl", tmp_path / "truth.csv"
    attack = ["--attack", "label-flip", "--rate", "5%", "--seed", "3", "--id", "id"]
    cli("inject", str(source), *attack, "--out", str(out), "--truth", str(truth_csv))

    poisoned, truth = bezoar.inject(clean, attack="label-flip", rate="5%", seed=3, id="id")
    with truth_csv.open(newline="", encoding="utf-8") as f:
        cli_truth = [
            (r["id"], r["poisoned"] == "1", r["kind"] or None, r["attack"] or None)
            for r in csv.DictReader(f)
        ]
    assert list(zip(*truth.to_pydict().values(), strict=True)) == cli_truth
    cli_rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert poisoned["label"].to_pylist() == [r["label"] for r in cli_rows]
    assert poisoned["text"].to_pylist() == [r["text"] for r in cli_rows]

    # A path is read with pyarrow and injected the same way.
    from_path = bezoar.inject(source, attack="label-flip", rate="5%", seed=3, id="id")
    assert from_path[1].equals(truth)


def test_evaluate_matches_the_cli(sst2_result: bezoar.ScanResult, tmp_path: Path) -> None:
    path = need(SST2)
    truth_csv = path.with_name("truth.csv")
    scores_csv = tmp_path / "scores.csv"
    cli_scan(path, "--id", "id", scores=scores_csv)
    cli_metrics = json.loads(
        cli("eval", "--truth", str(truth_csv), "--scores", str(scores_csv), "--json").stdout
    )
    # The same CSV files give the same numbers.
    assert bezoar.evaluate(truth_csv, scores_csv) == cli_metrics

    # Unrounded scores can only move the rank metrics, by ties the six decimals made.
    truth = pacsv.read_csv(truth_csv)
    metrics = bezoar.evaluate(truth, sst2_result)
    flag_metrics = ["flagged", "true_positives", "false_positives", "precision", "recall", "f1"]
    for key in ["poisoned", "clean", *flag_metrics]:
        assert metrics["overall"][key] == cli_metrics["overall"][key], key
    assert metrics["overall"]["auroc"] == pytest.approx(cli_metrics["overall"]["auroc"], abs=1e-3)


def test_evaluate_needs_ids_and_flags() -> None:
    truth = pa.table({"id": ["a", "b"], "poisoned": [True, False]})
    with pytest.raises(bezoar.BezoarError, match="flagged"):
        bezoar.evaluate(truth, pa.table({"id": ["a", "b"], "score": [0.9, 0.1]}))
    with pytest.raises(bezoar.BezoarError, match="poisoned"):
        bezoar.evaluate(
            pa.table({"id": ["a", "b"]}),
            pa.table({"id": ["a", "b"], "score": [0.9, 0.1], "flagged": [True, False]}),
        )
    with pytest.raises(bezoar.BezoarError):
        # ids that do not join
        bezoar.evaluate(
            truth, pa.table({"id": ["a", "c"], "score": [0.9, 0.1], "flagged": [True, False]})
        )


# --- bad input: a clear exception, never a crash ------------------------------------------


def test_missing_column() -> None:
    with pytest.raises(bezoar.BezoarError, match="body"):
        bezoar.scan(small_table(), text="body")
    with pytest.raises(bezoar.BezoarError, match="row_key"):
        bezoar.scan(small_table(), id="row_key")


def test_null_text_names_row_and_column() -> None:
    table = small_table()
    texts = table["text"].to_pylist()
    texts[4] = None
    table = table.set_column(1, "text", pa.array(texts, pa.string()))
    with pytest.raises(bezoar.BezoarError) as error:
        bezoar.scan(table)
    message = str(error.value)
    # Rows are numbered from 1, as the CLI numbers a Parquet file's rows: "row 5" or, in the
    # CLI's file:line form, "<arrow data>:5:".
    assert "text" in message and re.search(r"\brow 5\b|:5:", message), message


def test_label_of_the_wrong_type() -> None:
    table = small_table()
    table = table.set_column(
        2, "label", pa.array([[i % 2] for i in range(table.num_rows)], pa.list_(pa.int64()))
    )
    with pytest.raises(bezoar.BezoarError, match="label"):
        bezoar.scan(table)


def test_no_rows() -> None:
    empty = small_table().slice(0, 0)
    with pytest.raises(bezoar.BezoarError, match="no rows"):
        bezoar.scan(empty)
    with pytest.raises(bezoar.BezoarError, match="no rows"):
        bezoar.scan([])
    # A stream's length is only known to the native side.
    with pytest.raises(bezoar.BezoarError, match="no rows"):
        bezoar.scan(pa.RecordBatchReader.from_batches(empty.schema, []))


def test_unsupported_objects() -> None:
    for thing in (42, b"text,label\n", object(), {"text": ["a"], "label": [1]}, [1, 2, 3]):
        with pytest.raises(TypeError):
            bezoar.scan(cast(Any, thing))
    with pytest.raises(TypeError, match="list of dicts"):
        bezoar.scan(cast(Any, 3.5))


def test_rows_that_cannot_form_a_table() -> None:
    with pytest.raises(bezoar.BezoarError):
        bezoar.scan([{"text": "a", "label": 1}, {"text": "b", "label": [1, 2]}])


def test_bad_settings() -> None:
    with pytest.raises(bezoar.BezoarError):
        bezoar.scan(small_table(), threshold=0)
    with pytest.raises(bezoar.BezoarError, match="nope"):
        bezoar.scan(small_table(), detectors=["nope"])
    with pytest.raises(TypeError):
        bezoar.scan(small_table(), threads=cast(Any, True))
    with pytest.raises(ValueError):
        bezoar.scan(small_table(), input_format="csv")


def test_bad_attack() -> None:
    with pytest.raises(bezoar.BezoarError):
        bezoar.inject(small_table(), attack="no-such-attack")
    with pytest.raises(bezoar.BezoarError):
        bezoar.inject(small_table(), attack="badnets", rate="250%")


# --- concurrency --------------------------------------------------------------------------


def test_scan_releases_the_gil(sst2_table: pa.Table) -> None:
    ticks = 0
    stop = threading.Event()

    def tick() -> None:
        nonlocal ticks
        while not stop.is_set():
            ticks += 1
            time.sleep(0.001)

    ticker = threading.Thread(target=tick, daemon=True)
    ticker.start()
    try:
        time.sleep(0.02)
        before, started = ticks, time.perf_counter()
        bezoar.scan(sst2_table, id="id")
        advanced, seconds = ticks - before, time.perf_counter() - started
    finally:
        stop.set()
        ticker.join()
    # Holding the GIL for the whole scan would leave the ticker at (nearly) zero.
    assert advanced > 50, f"the ticker advanced {advanced} times during a {seconds:.2f} s scan"


def test_ctrl_c_stops_a_scan(sst2_table: pa.Table) -> None:
    import _thread

    # The full scan of this set takes seconds; an interrupt 0.3 s in must end the call at once
    # (the native side checks for signals every 100 ms and cancels the scan).
    started = time.perf_counter()
    reference = bezoar.scan(sst2_table, id="id")
    full = time.perf_counter() - started
    assert reference.rows == sst2_table.num_rows
    timer = threading.Timer(0.3, _thread.interrupt_main)
    timer.start()
    started = time.perf_counter()
    with pytest.raises(KeyboardInterrupt):
        bezoar.scan(sst2_table, id="id")
    stopped = time.perf_counter() - started
    timer.join()
    assert stopped < 0.3 + 0.5, f"the interrupt took {stopped:.2f} s to stop a {full:.2f} s scan"
    assert stopped < full
    # The interpreter and the library still work afterwards.
    assert bezoar.scan(sst2_table, id="id").flagged == reference.flagged


def test_version() -> None:
    assert re.fullmatch(r"\d+\.\d+\.\d+.*", bezoar.__version__)
    assert issubclass(bezoar.BezoarError, ValueError)
