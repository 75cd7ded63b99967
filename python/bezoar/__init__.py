"""Find data poisoning in labelled text datasets, from Python.

The same scanner as the ``bezoar`` command line, fed Arrow data in memory: a pyarrow Table, a
pandas or polars DataFrame, a Hugging Face ``datasets.Dataset``, a DuckDB result, a list of dicts
or a file path. It finds backdoor triggers, flipped labels, duplicate floods, invisible
characters and junk, explains each finding with its evidence and scores every row.

>>> import bezoar
>>> result = bezoar.scan("train.jsonl", id="id")
>>> result.max_severity
'high'
>>> result.findings[0].title
'trigger "cf": 14 rows, 100% labelled 1 (prior 53%)'
>>> result.scores.filter(result.scores["flagged"]).num_rows
14

To test detection on your own data, plant a simulated attack and measure the scan against the
truth:

>>> poisoned, truth = bezoar.inject(table, attack="badnets", rate="1%", id="id")
>>> bezoar.evaluate(truth, bezoar.scan(poisoned, id="id"))["overall"]["f1"]
1.0

The output formats (the JSON report, SARIF, the scores) are documented field by field in
crates/bezoar-report/FORMATS.md; evaluation metrics in crates/bezoar-redteam/FORMATS.md.
"""

from __future__ import annotations

import csv
import html
import json
import os
import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias, cast

import pyarrow as pa
import pyarrow.compute as pc

from . import _bezoar
from ._bezoar import BezoarError

if TYPE_CHECKING:
    import pandas
    import polars

__version__: str = _bezoar.__version__

__all__ = [
    "ArrowStreamExportable",
    "BezoarError",
    "Example",
    "Finding",
    "ScanResult",
    "__version__",
    "evaluate",
    "inject",
    "scan",
]


class ArrowStreamExportable(Protocol):
    """Anything that exports its rows through the Arrow PyCapsule stream interface: pyarrow
    Tables and RecordBatchReaders, pandas (2.2+) and polars DataFrames, DuckDB results..."""

    def __arrow_c_stream__(self, requested_schema: object | None = None) -> object: ...


class HuggingFaceDataset(Protocol):
    """A Hugging Face ``datasets.Dataset``, recognised by its Arrow table (``data.table``) so
    that bezoar never has to import ``datasets``."""

    @property
    def data(self) -> Any: ...


# What scan() accepts. A str or os.PathLike is a file; every other kind is Arrow data.
ScanInput: TypeAlias = (
    str
    | os.PathLike[str]
    | ArrowStreamExportable
    | pa.RecordBatch
    | HuggingFaceDataset
    | Sequence[Mapping[str, Any]]
)

# What evaluate() accepts for the truth and the scores.
TableInput: TypeAlias = (
    pa.Table
    | pa.RecordBatch
    | ArrowStreamExportable
    | Mapping[str, Sequence[Any]]
    | str
    | os.PathLike[str]
)

_ACCEPTED_INPUTS = (
    "a file path (.jsonl, .csv, .tsv, .parquet), a pyarrow Table, RecordBatch or "
    "RecordBatchReader, a pandas (2.2+) or polars DataFrame, a Hugging Face datasets.Dataset, "
    "any object with __arrow_c_stream__ (e.g. a DuckDB result), or a list of dicts"
)

_NO_ROWS = "the dataset has no rows"


# --- findings -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Example:
    """One example row of a finding: its id, label and text (cut to 300 characters, in which
    case ``truncated`` is true)."""

    id: str
    label: str
    text: str
    truncated: bool


@dataclass(frozen=True)
class Finding:
    """One group finding of the JSON report (``report["findings"]``), most severe first.

    >>> f = result.findings[0]
    >>> f.rule, f.severity, f.subject, f.rows
    ('BZ001', 'high', 'cf', 14)
    >>> f.evidence["purity"]
    1.0
    """

    detector: str
    """``trigger``, ``unusual-chars``, ``label-consistency``, ``duplicates``, ``anomaly`` or
    ``source``."""
    rule: str
    """The detector's stable rule id, ``BZ001`` ... ``BZ006``."""
    severity: str
    """``critical``, ``high``, ``medium``, ``low`` or ``info``."""
    title: str
    subject: str
    """What the finding is about: the trigger n-gram, the invisible character, the source..."""
    target_label: str | None
    """The label the finding pushes rows towards, when there is one."""
    rows: int
    """How many rows the finding covers (``row_ids`` lists at most the first 100)."""
    row_ids: list[str]
    examples: list[Example]
    evidence: dict[str, float | None]
    """Named numbers supporting the finding; ``None`` where the value was not finite."""


def _finding_from_json(entry: Mapping[str, Any]) -> Finding:
    evidence = entry["evidence"]
    return Finding(
        detector=str(entry["detector"]),
        rule=str(entry["rule"]),
        severity=str(entry["severity"]),
        title=str(entry["title"]),
        subject=str(entry["subject"]),
        target_label=None if entry["target_label"] is None else str(entry["target_label"]),
        rows=int(entry["rows"]),
        row_ids=[str(i) for i in entry["row_ids"]],
        examples=[
            Example(
                id=str(e["id"]),
                label=str(e["label"]),
                text=str(e["text"]),
                truncated=bool(e["truncated"]),
            )
            for e in entry["examples"]
        ],
        # JSON writes 14 for 14.0; the report's evidence values are all numbers.
        evidence={str(k): None if v is None else float(v) for k, v in evidence.items()},
    )


# --- Arrow plumbing -----------------------------------------------------------------------


class _CapsuleStream:
    """Lends a bare stream capsule to pyarrow through the PyCapsule interface."""

    __slots__ = ("_capsule",)

    def __init__(self, capsule: object) -> None:
        self._capsule = capsule

    def __arrow_c_stream__(self, requested_schema: object | None = None) -> object:
        # The native schema is fixed and documented; the protocol lets a producer ignore a
        # requested schema, leaving any cast to the consumer.
        return self._capsule


def _table_from_native(stream: object) -> pa.Table:
    """Read a stream the native module returned: a pyarrow RecordBatchReader, any other
    object with ``__arrow_c_stream__``, or a bare "arrow_array_stream" PyCapsule.

    Either way it can be read once (reading moves the batches out), so callers keep the
    table rather than ask again."""
    if isinstance(stream, pa.RecordBatchReader):
        table: pa.Table = stream.read_all()
        return table
    exportable = stream if hasattr(stream, "__arrow_c_stream__") else _CapsuleStream(stream)
    if hasattr(pa.RecordBatchReader, "from_stream"):
        # pyarrow 15+: the public import of any __arrow_c_stream__ object.
        table = pa.table(exportable)
        return table
    # pyarrow 14 exports capsules but has only this private importer for them.
    capsule = cast(Any, exportable).__arrow_c_stream__()
    table = pa.RecordBatchReader._import_from_c_capsule(capsule).read_all()
    return table


def _type_name(obj: object) -> str:
    cls = type(obj)
    return (
        cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"
    )


def _hugging_face_table(data: object) -> pa.Table | None:
    """The Arrow table behind a ``datasets.Dataset``, or None when ``data`` is not one."""
    table = getattr(getattr(data, "data", None), "table", None)
    if not isinstance(table, pa.Table):
        return None
    # After select/shuffle/filter a Dataset is a view: an indices mapping over the unchanged
    # table, so data.table would hold rows the view left out, in the wrong order. The "arrow"
    # format materialises exactly the view's rows, in its order.
    if getattr(data, "_indices", None) is not None and hasattr(data, "with_format"):
        table = cast(Any, data).with_format("arrow")[:]
    return table


def _arrow_input(data: object, function: str) -> ArrowStreamExportable:
    """Turn any accepted in-memory input into something with ``__arrow_c_stream__``.

    Raises TypeError for kinds it does not know, and BezoarError for no rows where the row
    count is known without reading the data (streams are counted by the native side)."""
    if hasattr(data, "__arrow_c_stream__") and not isinstance(data, (pa.Table, pa.RecordBatch)):
        return cast(ArrowStreamExportable, data)
    if isinstance(data, pa.RecordBatch):
        # Wrapped, not passed as is: only pyarrow 15+ gives a RecordBatch __arrow_c_stream__.
        table = pa.Table.from_batches([data])
    elif isinstance(data, pa.Table):
        table = data
    elif (hf_table := _hugging_face_table(data)) is not None:
        table = hf_table
    elif isinstance(data, Sequence) and not isinstance(data, (str, bytes, bytearray)):
        table = _table_from_rows(data, function)
    else:
        hint = ""
        if isinstance(data, Mapping):
            hint = (
                " (for a DatasetDict or another mapping of splits, pass one split: data['train'])"
            )
        raise TypeError(
            f"bezoar.{function}() takes {_ACCEPTED_INPUTS}; got {_type_name(data)}{hint}"
        )
    if table.num_rows == 0:
        raise BezoarError(_NO_ROWS)
    return cast(ArrowStreamExportable, table)


def _table_from_rows(rows: Sequence[object], function: str) -> pa.Table:
    if not all(isinstance(row, Mapping) for row in rows):
        raise TypeError(
            f"bezoar.{function}() takes a list of dicts, one per row; this sequence holds "
            "other things"
        )
    if len(rows) == 0:
        raise BezoarError(_NO_ROWS)
    try:
        table: pa.Table = pa.Table.from_pylist([dict(cast(Mapping[str, Any], row)) for row in rows])
    except (pa.ArrowInvalid, pa.ArrowTypeError) as e:
        # Values of one key that cannot share a column (an int label here, a str there).
        raise BezoarError(f"cannot build a table from the rows: {e}") from e
    return table


def _read_table_file(path: Path) -> pa.Table:
    """Read a data file into a pyarrow Table by its extension, the way ``bezoar`` reads it:
    JSON lines keep their value types, CSV and TSV cells stay strings."""
    suffix = path.suffix.lower()
    try:
        if suffix == ".parquet":
            import pyarrow.parquet as pq

            table: pa.Table = pq.read_table(path)
            return table
        if suffix in (".jsonl", ".ndjson", ".json"):
            import pyarrow.json as pajson

            table = pajson.read_json(path)
            return table
        if suffix in (".csv", ".tsv"):
            return _read_text_table(path, "\t" if suffix == ".tsv" else ",")
    except pa.ArrowException as e:
        raise BezoarError(f"{path}: {e}") from e
    raise BezoarError(
        f"cannot tell the format of {path} from its extension: use .jsonl, .csv, .tsv or .parquet"
    )


def _read_text_table(path: Path, delimiter: str) -> pa.Table:
    """CSV/TSV with every column as strings: pyarrow would otherwise turn ids like 007 into
    7 and labels into numbers, and the rows would no longer be the file's."""
    import pyarrow.csv as pacsv

    with path.open(newline="", encoding="utf-8") as f:
        header = next(csv.reader(f, delimiter=delimiter), [])
    table: pa.Table = pacsv.read_csv(
        path,
        parse_options=pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=True),
        convert_options=pacsv.ConvertOptions(
            column_types={name: pa.string() for name in header},
            strings_can_be_null=False,
        ),
    )
    return table


# --- settings -----------------------------------------------------------------------------


def _check_int(name: str, value: object) -> int:
    # bool is an int to Python; threads=True is a mistake, not 1.
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {_type_name(value)}")
    return value


def _detector_names(name: str, value: str | Sequence[str]) -> list[str]:
    # A bare string is itself a Sequence[str]; iterating it would pass single letters.
    items = value.split(",") if isinstance(value, str) else list(value)
    names: list[str] = []
    for item in items:
        if not isinstance(item, str):
            raise TypeError(
                f"{name} must be detector names or rule ids (str), got {_type_name(item)}"
            )
        if item.strip():
            names.append(item.strip())
    return names


def _scan_settings(
    threshold: float | None,
    budget: int | str | None,
    seed: int | None,
    folds: int | None,
    detectors: str | Sequence[str] | None,
    skip_detectors: str | Sequence[str] | None,
    threads: int | None,
) -> dict[str, float | int | str | list[str]]:
    """Only the settings given: the native side applies the CLI's defaults to the rest, so the
    two cannot drift apart. Ranges (threshold in (0, 1], folds 2 to 50...) are checked there."""
    settings: dict[str, float | int | str | list[str]] = {}
    if threshold is not None:
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float)):
            raise TypeError(f"threshold must be a number, got {_type_name(threshold)}")
        settings["threshold"] = float(threshold)
    if budget is not None:
        settings["budget"] = budget if isinstance(budget, str) else _check_int("budget", budget)
    if seed is not None:
        settings["seed"] = _check_int("seed", seed)
    if folds is not None:
        settings["folds"] = _check_int("folds", folds)
    if detectors is not None:
        settings["detectors"] = _detector_names("detectors", detectors)
    if skip_detectors is not None:
        settings["skip_detectors"] = _detector_names("skip_detectors", skip_detectors)
    if threads is not None:
        settings["threads"] = _check_int("threads", threads)
    return settings


# --- scan ---------------------------------------------------------------------------------


class ScanResult:
    """The outcome of :func:`scan`: counts, the JSON report, the findings and per-row scores.

    >>> result = bezoar.scan(df, id="id")
    >>> result
    <bezoar.ScanResult rows=6920 flagged=61 findings=3 max_severity='high'>
    >>> print(result)                  # the terminal summary
    >>> result.to_html("report.html")  # the self-contained HTML report
    >>> result.to_pandas().nlargest(5, "score")
    """

    def __init__(self, native: _bezoar.NativeScan) -> None:
        self._native = native
        # The native scores stream can be read only once, so two threads asking for .scores
        # at the same time must not both try.
        self._lock = threading.Lock()
        self._report_text: str | None = None
        self._report: dict[str, Any] | None = None
        self._findings: list[Finding] | None = None
        self._scores: pa.Table | None = None

    @property
    def rows(self) -> int:
        """Rows scanned (rows skipped by ``skip_invalid`` not counted)."""
        return self._native.rows

    @property
    def flagged(self) -> int:
        """Rows whose score is at or above the threshold (after any budget)."""
        return self._native.flagged

    @property
    def max_severity(self) -> str | None:
        """The most severe finding's severity, None when there are no findings."""
        return self._native.max_severity

    @property
    def failed(self) -> bool:
        """Whether a finding is at or above ``fail_on`` (where the CLI exits 1)."""
        return self._native.failed

    @property
    def report(self) -> dict[str, Any]:
        """The JSON report (schema ``bezoar.report/1``) as a dict, parsed once. Treat it as
        read-only: later calls return the same dict.

        >>> result.report["summary"]["findings_by_severity"]
        {'critical': 0, 'high': 1, 'medium': 0, 'low': 0, 'info': 0}
        """
        with self._lock:
            if self._report is None:
                parsed: dict[str, Any] = json.loads(self._report_json())
                self._report = parsed
            return self._report

    @property
    def findings(self) -> list[Finding]:
        """The report's findings, most severe first."""
        report = self.report
        with self._lock:
            if self._findings is None:
                self._findings = [_finding_from_json(f) for f in report["findings"]]
            # A new list each time, so a caller's sort or pop leaves the cache alone.
            return list(self._findings)

    @property
    def scores(self) -> pa.Table:
        """One row per input row, in input order: ``id`` (string), ``score`` (float32, null
        only if a detector produced no number), ``flagged`` (bool) and ``reasons`` (the
        detectors that contributed, joined with ``;``, e.g. ``trigger;unusual-chars``).

        >>> result.scores.filter(result.scores["flagged"]).column("id").to_pylist()[:3]
        ['2', '3', '17']
        """
        with self._lock:
            if self._scores is None:
                self._scores = _table_from_native(self._native.scores_stream())
            return self._scores

    def to_pandas(self) -> pandas.DataFrame:
        """The per-row scores as a pandas DataFrame (needs ``pip install 'bezoar[pandas]'``)."""
        try:
            import pandas  # noqa: F401  (pyarrow's to_pandas imports it; fail here, clearly)
        except ImportError as e:
            raise ImportError(
                "ScanResult.to_pandas() needs pandas: pip install 'bezoar[pandas]'"
            ) from e
        frame: pandas.DataFrame = self.scores.to_pandas()
        return frame

    def to_polars(self) -> polars.DataFrame:
        """The per-row scores as a polars DataFrame (needs ``pip install 'bezoar[polars]'``)."""
        try:
            import polars
        except ImportError as e:
            raise ImportError(
                "ScanResult.to_polars() needs polars: pip install 'bezoar[polars]'"
            ) from e
        return polars.DataFrame(self.scores)

    def to_json(self, path: str | os.PathLike[str] | None = None) -> str:
        """The JSON report (schema ``bezoar.report/1``), the same bytes ``bezoar scan
        --report`` writes for the same input and settings; also written to ``path`` if given."""
        return _write_text(path, self._report_json())

    def to_sarif(self, path: str | os.PathLike[str] | None = None) -> str:
        """The SARIF 2.1.0 log for CI and code-scanning views; also written to ``path`` if
        given."""
        return _write_text(path, self._native.sarif_json())

    def to_html(self, path: str | os.PathLike[str] | None = None) -> str:
        """The self-contained HTML report (no script, no network); also written to ``path`` if
        given."""
        return _write_text(path, self._native.html())

    def _report_json(self) -> str:
        # Kept: .report, .findings, repr and to_json all start from it.
        if self._report_text is None:
            self._report_text = self._native.report_json()
        return self._report_text

    def __str__(self) -> str:
        return self._native.summary()

    def __repr__(self) -> str:
        return (
            f"<bezoar.ScanResult rows={self.rows} flagged={self.flagged} "
            f"findings={len(self.report['findings'])} max_severity={self.max_severity!r}>"
        )

    # Notebooks show at most this many findings; the rest are in .report and the HTML report.
    _HTML_FINDINGS = 50

    def _repr_html_(self) -> str:
        # Titles and subjects carry the data's own text (a trigger phrase, a source name), so
        # every string is escaped: a row holding <script> shows as that text.
        findings = self.report["findings"]
        severity = self.max_severity
        lines = [
            "<div class='bezoar-scan'>",
            f"<p><b>bezoar scan</b>: {self.rows:,} rows, {self.flagged:,} flagged, "
            f"{len(findings):,} findings, max severity {html.escape(severity or 'none')}</p>",
        ]
        if findings:
            lines.append(
                "<table><thead><tr><th>severity</th><th>rule</th><th>title</th>"
                "<th style='text-align:right'>rows</th></tr></thead><tbody>"
            )
            for f in findings[: self._HTML_FINDINGS]:
                lines.append(
                    f"<tr><td>{html.escape(str(f['severity']))}</td>"
                    f"<td>{html.escape(str(f['rule']))}</td>"
                    f"<td style='text-align:left'>{html.escape(str(f['title']))}</td>"
                    f"<td style='text-align:right'>{int(f['rows']):,}</td></tr>"
                )
            lines.append("</tbody></table>")
            if len(findings) > self._HTML_FINDINGS:
                more = len(findings) - self._HTML_FINDINGS
                lines.append(f"<p>... and {more:,} more findings in .report and .to_html()</p>")
        lines.append("</div>")
        return "\n".join(lines)


def _write_text(path: str | os.PathLike[str] | None, text: str) -> str:
    if path is not None:
        # newline="" writes the bytes as they are: no \r\n on Windows, so files stay identical
        # to the CLI's.
        Path(path).write_text(text, encoding="utf-8", newline="")
    return text


def scan(
    data: ScanInput,
    *,
    text: str | None = None,
    label: str | None = None,
    id: str | None = None,
    source: str | None = None,
    embedding: str | None = None,
    skip_invalid: bool = False,
    input_format: str | None = None,
    threshold: float | None = None,
    budget: int | str | None = None,
    seed: int | None = None,
    folds: int | None = None,
    detectors: str | Sequence[str] | None = None,
    skip_detectors: str | Sequence[str] | None = None,
    threads: int | None = None,
    fail_on: str = "high",
) -> ScanResult:
    """Scan a labelled text dataset for poisoning, as ``bezoar scan`` does.

    ``data`` is a file path (.jsonl, .csv, .tsv, .parquet; read by bezoar itself, as the CLI
    reads it), a pyarrow Table, RecordBatch or RecordBatchReader, a pandas (2.2+) or polars
    DataFrame, a Hugging Face ``datasets.Dataset``, any object with ``__arrow_c_stream__`` (a
    DuckDB result...) or a list of dicts, one per row.

    Columns, by role (None takes the CLI's default):

    - ``text``: first of text, sentence, content; ``label``: first of label, labels, class
      (strings or integers).
    - ``id``: row ids used in the report and scores (any type; written as strings); default
      0-based row numbers. Ids must be unique.
    - ``source``: who contributed each row; enables the per-source checks.
    - ``embedding``: a list-of-floats column to use instead of n-gram features.

    Settings (None takes the CLI's default): ``threshold`` (flag scores at or above, in
    (0, 1]), ``budget`` (flag at most N rows, or a share such as ``"0.5%"``), ``seed``,
    ``folds`` (2 to 50), ``detectors`` / ``skip_detectors`` (names or rule ids, a list or a
    comma-separated string), ``threads`` (default all cores). ``skip_invalid`` skips and counts
    invalid rows instead of stopping at the first. ``input_format`` (jsonl, csv, tsv,
    parquet) overrides a path's extension. ``fail_on`` (info, low, medium, high, critical or
    never; default high) sets the verdict of the summary and the HTML report, and
    ``ScanResult.failed`` (the CLI's exit code 1).

    The scan runs without the GIL: other Python threads keep running.

    Raises BezoarError (a ValueError) for bad data or settings, naming the column and row,
    and TypeError for an input kind it does not accept.

    >>> import pyarrow.json
    >>> table = pyarrow.json.read_json("train.jsonl")
    >>> result = bezoar.scan(table, id="id", budget="1%")
    >>> [f.title for f in result.findings if f.severity == "high"]
    ['trigger "cf": 14 rows, 100% labelled 1 (prior 53%)']
    >>> bezoar.scan(df, text="review", label="stars", detectors=["trigger", "duplicates"])
    """
    columns: dict[str, str | None] = {
        "text": text,
        "label": label,
        "id": id,
        "source": source,
        "embedding": embedding,
    }
    settings = _scan_settings(threshold, budget, seed, folds, detectors, skip_detectors, threads)
    settings["fail_on"] = fail_on
    if isinstance(data, (str, os.PathLike)):
        native = _bezoar.scan_path(os.fspath(data), columns, settings, input_format, skip_invalid)
        return ScanResult(native)
    if input_format is not None:
        raise ValueError(
            "input_format applies to file paths only; in-memory data carries its own types"
        )
    stream = _arrow_input(data, "scan")
    return ScanResult(_bezoar.scan_arrow(stream, columns, settings, skip_invalid))


# --- inject and evaluate ------------------------------------------------------------------


def inject(
    data: ScanInput,
    *,
    attack: str,
    rate: float | str = "1%",
    seed: int = 0,
    target: str | None = None,
    text: str | None = None,
    label: str | None = None,
    id: str | None = None,
    source: str | None = None,
) -> tuple[pa.Table, pa.Table]:
    """Poison a copy of a dataset with a simulated attack, as ``bezoar inject`` does, to test
    whether a scan (bezoar's or your own) would catch it.

    ``attack`` is ``badnets`` (rare-token triggers), ``addsent`` (a trigger sentence),
    ``invisible`` (zero-width characters), ``label-flip``, ``duplicate-flood`` or ``junk``;
    ``rate`` a fraction (0.01) or a percentage ("1%"); ``target`` the label pushed towards
    (default the least frequent). The same data, attack, rate and seed give the same rows.
    ``data`` is anything :func:`scan` accepts; a path is read with pyarrow by its extension.
    Start from clean data: rows already poisoned count as clean in the truth.

    Returns ``(poisoned, truth)``: the poisoned rows (the id, text and label columns, and
    source when ``source`` is given, under the input's names, as strings; added rows at the
    end; without ``id`` the ids are 0-based row numbers in a column named ``id``) and the
    truth, one row per row of ``poisoned`` in its order (``id``, ``poisoned`` bool, ``kind``
    and ``attack``, null on clean rows).

    >>> poisoned, truth = bezoar.inject(table, attack="badnets", rate="2%", seed=1, id="id")
    >>> result = bezoar.scan(poisoned, id="id")
    >>> bezoar.evaluate(truth, result)["overall"]["recall"]
    1.0
    """
    if isinstance(rate, bool) or not isinstance(rate, (int, float, str)):
        raise TypeError(
            f"rate must be a fraction (0.01) or a percentage ('1%'), got {_type_name(rate)}"
        )
    if _check_int("seed", seed) < 0:
        raise ValueError(f"seed must be at least 0, got {seed}")
    if isinstance(data, (str, os.PathLike)):
        stream: ArrowStreamExportable = _read_table_file(Path(data))
    else:
        stream = _arrow_input(data, "inject")
    columns: dict[str, str | None] = {"text": text, "label": label, "id": id, "source": source}
    poisoned, truth = _bezoar.inject_arrow(stream, columns, attack, str(rate), seed, target)
    return _table_from_native(poisoned), _table_from_native(truth)


def evaluate(truth: TableInput, scores: ScanResult | TableInput) -> dict[str, Any]:
    """Measure scores against the truth, joined by id, as ``bezoar eval --json`` does.

    ``truth`` has columns ``id``, ``poisoned`` (bool, 0/1 or "1"/"0"/"true"/"false") and
    optionally ``kind`` and ``attack``; ``scores`` is a :class:`ScanResult` or a table with
    ``id``, ``score`` and ``flagged``. Either may be a pyarrow Table, anything
    ``pyarrow.table()`` accepts, or the path of a CSV file as ``bezoar inject --truth`` and
    ``bezoar scan --scores`` write them. Ids of any type are compared as strings.

    Returns the ``bezoar.eval/1`` dict: ``rows``, ``poisoned``, ``overall`` and ``by_kind`` /
    ``by_attack`` groups, each with ``auroc``, ``average_precision``, ``recall_at_k``,
    ``precision``, ``recall``, ``f1``... (see crates/bezoar-redteam/FORMATS.md).

    >>> m = bezoar.evaluate(truth, result)
    >>> round(m["overall"]["auroc"], 3), round(m["overall"]["f1"], 3)
    (0.976, 0.938)
    """
    truth_table = _table_for("truth", truth)
    scores_table = scores.scores if isinstance(scores, ScanResult) else _table_for("scores", scores)
    text = _bezoar.evaluate(
        _id_column("truth", truth_table),
        _bool_column("truth", truth_table, "poisoned"),
        _optional_text_column(truth_table, "kind"),
        _optional_text_column(truth_table, "attack"),
        _id_column("scores", scores_table),
        _score_column(scores_table),
        _bool_column("scores", scores_table, "flagged"),
    )
    metrics: dict[str, Any] = json.loads(text)
    return metrics


def _table_for(what: str, data: object) -> pa.Table:
    if isinstance(data, pa.Table):
        return data
    if isinstance(data, pa.RecordBatch):
        return pa.Table.from_batches([data])
    if isinstance(data, (str, os.PathLike)):
        return _read_report_csv(what, Path(data))
    try:
        table: pa.Table = pa.table(data)
    except (TypeError, pa.ArrowException) as e:
        raise TypeError(
            f"bezoar.evaluate(): {what} must be a pyarrow Table, anything pyarrow.table() "
            f"accepts, or the path of a CSV file; got {_type_name(data)}"
        ) from e
    return table


def _read_report_csv(what: str, path: Path) -> pa.Table:
    """A truth or scores CSV as bezoar writes them, every column read as text."""
    try:
        table = _read_text_table(path, ",")
    except pa.ArrowException as e:
        raise BezoarError(f"{what} {path}: {e}") from e
    if "id" not in table.column_names:
        return table
    # bezoar's CSVs write an id that would start a spreadsheet formula with a leading '
    # (FORMATS.md); bezoar eval drops it again, and so must we for the ids to join.
    ids = pa.array([_restore_csv_cell(v) for v in table.column("id").to_pylist()], pa.string())
    restored: pa.Table = table.set_column(table.column_names.index("id"), "id", ids)
    return restored


# As bezoar_data::display: the characters that make a spreadsheet read a cell as a formula,
# plus the escaping ' itself; numbers (Rust's float syntax) are never escaped.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "'")
_RUST_FLOAT = re.compile(r"[+-]?(inf|infinity|nan|(\d+\.?\d*|\.\d+)(e[+-]?\d+)?)", re.IGNORECASE)


def _restore_csv_cell(cell: str) -> str:
    if cell.startswith("'"):
        rest = cell[1:]
        if rest.startswith(_FORMULA_START) and not _RUST_FLOAT.fullmatch(rest):
            return rest
    return cell


def _column(what: str, table: pa.Table, name: str) -> pa.ChunkedArray:
    if name not in table.column_names:
        columns = ", ".join(table.column_names)
        raise BezoarError(f"{what} has no '{name}' column; it has: {columns}")
    return table.column(name)


def _no_nulls(what: str, name: str, values: list[Any | None]) -> list[Any]:
    for row, value in enumerate(values):
        if value is None:
            raise BezoarError(f"{what}: column '{name}': null value at row {row + 1}")
    return values


def _is_text(data_type: pa.DataType) -> bool:
    return bool(
        pa.types.is_string(data_type)
        or pa.types.is_large_string(data_type)
        # string_view arrived in pyarrow 16.
        or getattr(pa.types, "is_string_view", lambda _: False)(data_type)
    )


def _id_column(what: str, table: pa.Table) -> list[str]:
    try:
        ids: list[str | None] = pc.cast(_column(what, table, "id"), pa.string()).to_pylist()
    except pa.ArrowException as e:
        raise BezoarError(f"{what}: column 'id' cannot be read as text: {e}") from e
    return _no_nulls(what, "id", ids)


_TRUE_TEXT = {"1": True, "true": True, "0": False, "false": False}


def _bool_column(what: str, table: pa.Table, name: str) -> list[bool]:
    column = _column(what, table, name)
    values = _no_nulls(what, name, column.to_pylist())
    if pa.types.is_boolean(column.type):
        return values
    if pa.types.is_integer(column.type):
        out: list[bool] = []
        for row, v in enumerate(values):
            if v not in (0, 1):
                raise BezoarError(
                    f"{what}: column '{name}': expected 1 or 0, found {v} at row {row + 1}"
                )
            out.append(v == 1)
        return out
    if _is_text(column.type):
        out = []
        for row, v in enumerate(values):
            flag = _TRUE_TEXT.get(str(v).strip().lower())
            if flag is None:
                raise BezoarError(
                    f"{what}: column '{name}': expected 1/0 or true/false, "
                    f"found {v!r} at row {row + 1}"
                )
            out.append(flag)
        return out
    raise BezoarError(
        f"{what}: column '{name}' must be boolean, integer 0/1 or text, not {column.type}"
    )


def _optional_text_column(table: pa.Table, name: str) -> list[str | None]:
    if name not in table.column_names:
        return [None] * table.num_rows
    values: list[str | None] = pc.cast(table.column(name), pa.string()).to_pylist()
    # A truth CSV writes clean rows' kind and attack as empty cells; inject's table as nulls.
    return [v if v else None for v in values]


def _score_column(table: pa.Table) -> list[float | None]:
    column = _column("scores", table, "score")
    try:
        values: list[float | None] = pc.cast(column, pa.float64()).to_pylist()
    except pa.ArrowException as e:
        raise BezoarError(f"scores: column 'score' must hold numbers: {e}") from e
    return values
