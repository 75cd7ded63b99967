"""The native module (crates/bezoar-py): the scanner, the injector and the evaluator behind the
public API in ``bezoar``. Import ``bezoar`` instead; this module's signatures are internal and
change with it.

Every function releases the GIL while it works, so other Python threads keep running.
"""

from typing import Protocol, TypeAlias, final

__version__: str

# Rows handed back to Python: a pyarrow.RecordBatchReader (or a bare PyCapsule named
# "arrow_array_stream"; bezoar reads either). It can be read once; bezoar keeps the table.
ArrowStream: TypeAlias = object

# Column names by role: "text", "label", "id", "source" and, for scans, "embedding". None
# means the tool's default (text: first of text/sentence/content; label: first of
# label/labels/class; id: 0-based row numbers; source and embedding: not used).
Columns: TypeAlias = dict[str, str | None]

# Scan settings, only the keys given: "threshold" (float), "budget" (int rows, or str such as
# "0.5%"), "seed" (int), "folds" (int), "detectors" and "skip_detectors" (list[str], names or
# rule ids), "threads" (int). Absent keys take the CLI's defaults.
Settings: TypeAlias = dict[str, float | int | str | list[str]]

class ArrowStreamExportable(Protocol):
    def __arrow_c_stream__(self, requested_schema: object | None = None) -> object: ...

class BezoarError(ValueError):
    """Bad input or settings: a missing or mistyped column, a null where a value is needed, no
    rows, an invalid setting. The message is the CLI's: file, line and column, or for data in
    memory ``<arrow data>:ROW: column 'NAME': ...`` with ROW counted from 1."""

@final
class NativeScan:
    """The outcome of one scan; ``bezoar.ScanResult`` wraps it."""

    @property
    def rows(self) -> int: ...
    @property
    def flagged(self) -> int: ...
    @property
    def max_severity(self) -> str | None: ...
    @property
    def failed(self) -> bool: ...
    def report_json(self) -> str:
        """The JSON report (schema bezoar.report/1), the same bytes as ``bezoar scan --report``."""
    def sarif_json(self) -> str:
        """The SARIF 2.1.0 log, as ``bezoar scan --sarif`` writes it."""
    def html(self) -> str:
        """The self-contained HTML report, as ``bezoar scan --html`` writes it."""
    def summary(self) -> str:
        """The terminal summary table, without colour."""
    def scores_stream(self) -> ArrowStream:
        """One row per input row, in input order: id (utf8), score (float32, nullable),
        flagged (bool), reasons (utf8, detector names joined with ';')."""

def scan_path(
    path: str,
    columns: Columns,
    settings: Settings,
    input_format: str | None = None,
    skip_invalid: bool = False,
) -> NativeScan:
    """Read a .jsonl/.csv/.tsv/.parquet file (format from the extension unless
    ``input_format`` names one) and scan it, as ``bezoar scan PATH`` does."""

def scan_arrow(
    data: ArrowStreamExportable,
    columns: Columns,
    settings: Settings,
    skip_invalid: bool,
) -> NativeScan:
    """Scan the rows of an Arrow C stream."""

def inject_arrow(
    data: ArrowStreamExportable,
    columns: Columns,
    attack: str,
    rate: str,
    seed: int,
    target: str | None = None,
) -> tuple[ArrowStream, ArrowStream]:
    """Poison the rows of an Arrow C stream as ``bezoar inject`` does. Returns the poisoned rows
    (the id, text and label columns, and source when named, under the input's names; all
    utf8) and the truth (id utf8, poisoned bool, kind utf8?, attack utf8?: null on clean rows)."""

def evaluate(
    truth_ids: list[str],
    poisoned: list[bool],
    kinds: list[str | None],
    attacks: list[str | None],
    score_ids: list[str],
    scores: list[float | None],
    flagged: list[bool],
) -> str:
    """Join scores to truth by id and measure them, as ``bezoar eval --json`` does (schema
    bezoar.eval/1)."""
