//! Command-line arguments.

use std::path::PathBuf;

use bezoar_scan::{Budget, Detector, Reasons, ScanConfig, Severity};
use clap::{Args, Parser, Subcommand, ValueEnum};

/// Defend ML training data against poisoning.
#[derive(Debug, Parser)]
#[command(
    name = "bezoar",
    version,
    about = "Scan ML training datasets for data poisoning and keep a tamper-evident provenance ledger",
    long_about = "bezoar finds poisoned samples in machine-learning training data before you \
train on them: backdoor triggers, flipped labels, injected duplicates, invisible characters and \
out-of-distribution junk. Every finding comes with its evidence and example rows, and every row \
gets a suspicion score.\n\nThe ledger (`bezoar init`, `add`, `log`, `verify`, `diff`, `checkout`, \
`quarantine`, `sign`) records signed, content-addressed snapshots of datasets with per-row \
provenance in an append-only Merkle log, so you can prove where every row came from and restore a \
known-good version. Every write authenticates with an identity's token (BEZOAR_TOKEN); `bezoar \
identity`, `grant`, `policy`, `approve`, `gate` and `bom` govern who may write what, require \
t-of-n approvals and turn retraining into an evidenced gate decision.\n\nAfter training, `bezoar \
probe` tests the served model (a command, an OIP v2 or Hugging Face endpoint, or an ONNX export) \
for hidden triggers against a trusted baseline model, and `bezoar promote` gates its deployment \
on the probe and the training data's gate.\n\nTo test detection on your own data, `bezoar inject` plants a simulated \
attack, `bezoar eval` measures scores against the truth and `bezoar bench` runs a whole matrix of \
attacks and rates.\n\nRun `bezoar scan --help` or `bezoar init --help` to get started.",
    propagate_version = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Scan a dataset for poisoned rows and explain what was found
    #[command(long_about = SCAN_LONG_ABOUT)]
    Scan(ScanArgs),
    /// Poison a clean dataset with a simulated attack and write the ground truth
    #[command(long_about = INJECT_LONG_ABOUT)]
    Inject(InjectArgs),
    /// Score a per-row suspicion file against a truth file (AUROC, AP, recall@k, P/R/F1)
    #[command(long_about = EVAL_LONG_ABOUT)]
    Eval(EvalArgs),
    /// Run inject → scan → eval over a matrix of attacks and rates and print one table
    #[command(long_about = BENCH_LONG_ABOUT)]
    Bench(BenchArgs),
    /// Scan every benchmark set and clean corpus of a suite directory and judge each one
    #[command(long_about = QUALITY_LONG_ABOUT)]
    Quality(QualityArgs),
    /// Create a provenance ledger (.bezoar/) in the current directory
    #[command(long_about = INIT_LONG_ABOUT)]
    Init(InitArgs),
    /// Record a dataset file as a new signed, content-addressed snapshot
    #[command(long_about = ADD_LONG_ABOUT)]
    Add(AddArgs),
    /// Show the ledger's event history; emit signed checkpoints and Merkle proofs
    #[command(long_about = LOG_LONG_ABOUT)]
    Log(LogArgs),
    /// Re-hash everything the ledger stores and detect tampering; check a file against a snapshot
    #[command(long_about = VERIFY_LONG_ABOUT)]
    Verify(VerifyArgs),
    /// Rows added, removed and relabelled between two snapshots, by source
    #[command(long_about = DIFF_LONG_ABOUT)]
    Diff(DiffArgs),
    /// Write a snapshot's rows back to a file (restore a known-good version)
    #[command(long_about = CHECKOUT_LONG_ABOUT)]
    Checkout(CheckoutArgs),
    /// Derive a new snapshot without the rows of a source or a list of row ids
    #[command(long_about = QUARANTINE_LONG_ABOUT)]
    Quarantine(QuarantineArgs),
    /// Generate an ECDSA P-256 key pair for `bezoar sign`
    #[command(long_about = KEYGEN_LONG_ABOUT)]
    Keygen(KeygenArgs),
    /// Sign a dataset directory (OpenSSF model-signing bundle)
    #[command(long_about = SIGN_LONG_ABOUT)]
    Sign(SignArgs),
    /// Check a model-signing bundle against a dataset directory
    #[command(name = "verify-signature", long_about = VERIFY_SIGNATURE_LONG_ABOUT)]
    VerifySignature(VerifySignatureArgs),
    /// Manage identities (people, service accounts, agents) and audit their privileges
    #[command(long_about = crate::cli_gov::IDENTITY_LONG_ABOUT)]
    Identity(crate::cli_gov::IdentityArgs),
    /// Grant (or revoke) a role on a dataset to an identity
    #[command(long_about = crate::cli_gov::GRANT_LONG_ABOUT)]
    Grant(crate::cli_gov::GrantArgs),
    /// Validate the retraining policy in bezoar.toml
    #[command(long_about = crate::cli_gov::POLICY_LONG_ABOUT)]
    Policy(crate::cli_gov::PolicyArgs),
    /// Sign a snapshot's approval (adds your signature to its t-of-n DSSE envelope)
    #[command(long_about = crate::cli_gov::APPROVE_LONG_ABOUT)]
    Approve(crate::cli_gov::ApproveArgs),
    /// Decide whether a snapshot may be used for training; write a verification summary
    #[command(long_about = crate::cli_gov::GATE_LONG_ABOUT)]
    Gate(crate::cli_gov::GateArgs),
    /// Write a CycloneDX 1.6 ML-BOM for a snapshot
    #[command(long_about = crate::cli_gov::BOM_LONG_ABOUT)]
    Bom(crate::cli_gov::BomArgs),
    /// Test a served model for hidden triggers against a trusted baseline (the model gate)
    #[command(long_about = crate::cli_probe::PROBE_LONG_ABOUT)]
    Probe(Box<crate::cli_probe::ProbeArgs>),
    /// Decide whether a probed model may be deployed; write a verification summary
    #[command(long_about = crate::cli_probe::PROMOTE_LONG_ABOUT)]
    Promote(crate::cli_probe::PromoteArgs),
}

const INIT_LONG_ABOUT: &str = "\
Create a provenance ledger in the current directory: .bezoar/ledger.db (SQLite, WAL), the \
content-addressed object store .bezoar/objects/, and the Ed25519 key that signs the event log's \
checkpoints (.bezoar/log.key, mode 0600; its public half is .bezoar/log.pub). Every other ledger \
command works on the .bezoar/ of the current directory.

It also creates the first identity (`admin`, or --admin NAME: a human, admin on every dataset) and \
prints its API token, once, as the last line of stdout. Every write authenticates with a token in \
BEZOAR_TOKEN (or --token). Run in a ledger made by an older bezoar (no identities yet), init \
creates that first admin.

Examples:
  bezoar init
  export BEZOAR_TOKEN=$(bezoar init | tail -n 1)

Exit codes:
  0  created
  2  a ledger already exists here, or it could not be created";

const ADD_LONG_ABOUT: &str = "\
Record a dataset file as a new snapshot of dataset NAME. The new snapshot is the dataset's latest \
snapshot plus the file's rows: a row whose id is already in the dataset replaces that row, new ids \
are appended. With --replace the snapshot is exactly the file's rows. Rows are stored (id, text, \
label; other columns are not kept) in the compressed, deduplicated object store, so checkout, diff \
and verify never need the original file again. The snapshot records the file's SHA-256 and BLAKE3, \
a digest per row, the Merkle root over the rows, and per-row provenance (source, writing identity, \
time, parent snapshot). Everything is written in one transaction: an interrupted add leaves the \
previous state intact.

Adding a file already recorded for the dataset, or rows identical to the latest snapshot, creates \
no snapshot and says so.

The write is made as the identity of the token in BEZOAR_TOKEN (or --token), or, with --key, as \
the owner of that registered private key (a signed upload: the signature over the file's SHA-256 \
is kept in the log). It needs a contributor grant for the rows' source (new rows, or new text for \
existing ids), or a labeler grant when the file only changes labels of existing rows (same id, \
same text); removing rows with --replace needs admin. A denial names the identity, the right it \
lacks and the `bezoar grant` that would allow it.

Row ids come from --id; without it they are 0-based row numbers, which is only allowed for the \
first snapshot or with --replace (use --id for incremental feeds).

Examples:
  bezoar add reviews.jsonl --dataset reviews --source vendor-a --id id -m \"weekly drop\"
  bezoar add batch.csv --dataset reviews --source scraper --text body --label stars --id rid
  bezoar add full.parquet --dataset reviews --source vendor-a --id id --replace

Exit codes:
  0  snapshot recorded (or nothing new to record)
  2  bad input (unreadable file, missing column, duplicate id), no ledger (run `bezoar init`),
     missing, unknown, revoked or expired token, or permission denied";

const LOG_LONG_ABOUT: &str = "\
Show the ledger's append-only event history: ledger creation, snapshots (with their identity, \
source, row counts and Merkle root), derived snapshots with their transformation, and signatures. \
Events are leaves of an RFC 6962 Merkle tree (leaf prefix 0x00, node prefix 0x01); every write \
signs a checkpoint of the tree with the ledger's Ed25519 key (C2SP signed note).

--checkpoint prints the latest signed checkpoint; keep copies elsewhere and pass one to \
`bezoar verify --checkpoint FILE` to prove the log was only ever appended to. \
--prove-inclusion and --prove-consistency print proofs as JSON; --check-proof checks one.

Examples:
  bezoar log
  bezoar log --dataset reviews --json
  bezoar log --checkpoint > checkpoint-2026-11-21.txt
  bezoar log --prove-inclusion 3 > incl.json && bezoar log --check-proof incl.json
  bezoar log --prove-consistency 5 --size 9
  bezoar log --row r01705 --dataset reviews     # where did this row come from?

Exit codes:
  0  success (and, with --check-proof, the proof is valid)
  1  --check-proof: the proof is invalid or does not match this log
  2  bad input or no ledger";

const VERIFY_LONG_ABOUT: &str = "\
Re-derive everything the ledger claims. Checks the signed checkpoints and the event log's Merkle \
tree (a deleted, inserted or rewritten event is found), every snapshot record against its event, \
every snapshot's row digests against its Merkle root, and every stored object against its \
content hash; each problem is printed naming the event, snapshot, row id or object. With \
SNAPSHOT only that snapshot's rows are re-hashed (the log is always checked). With FILE, also \
compares that file with the snapshot row by row (by id) and names every added, removed or changed \
row (column flags as for `bezoar add`).

SNAPSHOT is a dataset name (its latest snapshot), NAME@N (its N-th snapshot) or a snapshot id. \
With a single argument that is an existing file and one dataset in the ledger, that dataset is \
used.

Examples:
  bezoar verify
  bezoar verify reviews reviews.jsonl --id id
  bezoar verify --checkpoint checkpoint-2026-11-21.txt

Exit codes:
  0  everything verifies (and the file matches the snapshot)
  1  tampering or a mismatch was found (each one is listed)
  2  bad input or no ledger";

const DIFF_LONG_ABOUT: &str = "\
Compare two snapshots by row id: rows added, removed, relabelled and edited (same label, new \
text), counted per source, the change in label distribution, and the sources whose share of the \
dataset moved most — the signals of an incremental poisoning campaign.

Examples:
  bezoar diff reviews@1 reviews
  bezoar diff reviews@3 reviews@4 --json --limit 0

Exit codes:
  0  compared (whether or not anything changed)
  2  unknown snapshot, or no ledger";

const CHECKOUT_LONG_ABOUT: &str = "\
Write a snapshot's rows to FILE: JSONL with id, text, label and source per line, or CSV (header \
id,text,label,source) when FILE ends in .csv. Every object is checked against its hash and every \
row against its digest before anything is written.

Examples:
  bezoar checkout reviews@2 --out reviews-known-good.jsonl
  bezoar checkout 7 --out snapshot7.csv

Exit codes:
  0  written
  2  unknown snapshot, damaged ledger, FILE exists (without --force), or no ledger";

const QUARANTINE_LONG_ABOUT: &str = "\
Derive a new snapshot of a dataset without the rows of one or more sources, or without listed \
rows: --rows takes a file with one row id per line, or a CSV with an id column such as the scores \
CSV of `bezoar scan` (then only rows with flagged=true are removed). The new snapshot records its \
parent and the transformation (what was removed and why) in the log; the removed rows stay in \
the parent snapshot.

Examples:
  bezoar quarantine --dataset reviews --source vendor-x -m \"vendor-x feed compromised\"
  bezoar scan reviews.jsonl --id id --scores scores.csv; bezoar quarantine --rows scores.csv

Exit codes:
  0  snapshot recorded
  2  nothing to remove, unknown source or snapshot, no ledger, missing token, or permission
     denied (quarantine needs the admin role on the dataset)";

const KEYGEN_LONG_ABOUT: &str = "\
Generate an ECDSA P-256 key pair for `bezoar sign`: the private key as PKCS#8 PEM (mode 0600) and \
the public key as SubjectPublicKeyInfo PEM next to it (KEY.pub.pem), the formats the OpenSSF \
model-signing tool uses.

Example:
  bezoar keygen --out signing.pem     # writes signing.pem and signing.pub.pem

Exit codes:
  0  written
  2  the file exists (without --force) or cannot be written";

const SIGN_LONG_ABOUT: &str = "\
Sign a dataset directory with an ECDSA P-256 key. Writes an OpenSSF model-signing bundle \
(Sigstore bundle v0.3, DSSE envelope over an in-toto Statement v1 with predicate \
https://model_signing/signature/v1.0, SHA-256 of every file), which `model_signing verify key` \
accepts. When the current directory has a ledger, the signature is also recorded in its log \
against every snapshot whose recorded file is in the directory, under the identity of the token in \
BEZOAR_TOKEN (or --token), which is then required.

Example:
  bezoar sign data/reviews --key signing.pem --signature reviews.sig.json

Exit codes:
  0  signed
  2  bad key, unreadable directory, symbolic links in the directory, or (with a ledger here)
     a missing or invalid token";

const VERIFY_SIGNATURE_LONG_ABOUT: &str = "\
Check a model-signing bundle (written by `bezoar sign` or by the OpenSSF model-signing tool) \
against a directory: the key hint, the ECDSA signature over the DSSE envelope, and the SHA-256 of \
every file. Each changed, added or missing file is named.

Example:
  bezoar verify-signature data/reviews --key signing.pub.pem --signature reviews.sig.json

Exit codes:
  0  the signature is valid and every file matches
  1  invalid signature, wrong key, or changed/added/missing files
  2  bad input (unreadable key or bundle, not a model-signing bundle)";

const SCAN_LONG_ABOUT: &str = "\
Scan a labelled text dataset (JSONL, CSV, TSV or Parquet) for data poisoning: backdoor triggers \
(rare tokens or invisible characters tied to one label), label flips, duplicate floods and \
conflicting duplicates, outliers, and suspicious sources. Prints a summary ranked by severity; \
--report writes the full JSON report and --scores a per-row suspicion score.

Columns default to the first of text/sentence/content for the text and label/labels/class for \
the label; row ids default to 0-based row numbers.

Example:
  bezoar scan reviews.csv --text review --label stars --id review_id \\
      --report report.json --scores scores.csv --fail-on medium

Exit codes:
  0  clean: no finding at or above --fail-on (default: high)
  1  at least one finding at or above --fail-on
  2  bad input or usage (unreadable file, missing column, invalid flag)";

/// Input file formats (`--input-format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum InputFormatArg {
    Jsonl,
    Csv,
    Tsv,
    Parquet,
}

impl From<InputFormatArg> for bezoar_data::InputFormat {
    fn from(f: InputFormatArg) -> Self {
        match f {
            InputFormatArg::Jsonl => Self::Jsonl,
            InputFormatArg::Csv => Self::Csv,
            InputFormatArg::Tsv => Self::Tsv,
            InputFormatArg::Parquet => Self::Parquet,
        }
    }
}

/// Row shapes (`--shape`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ShapeArg {
    /// Text with a class label (text, label)
    Classification,
    /// A prompt and its response (prompt/response; Alpaca's instruction/input/output)
    Instruction,
    /// Conversations: a messages list with system/user/assistant/tool roles
    Chat,
    /// A prompt with chosen and rejected responses (or two whole dialogues)
    Preference,
}

impl From<ShapeArg> for bezoar_data::llm::Shape {
    fn from(s: ShapeArg) -> Self {
        match s {
            ShapeArg::Classification => Self::Classification,
            ShapeArg::Instruction => Self::Instruction,
            ShapeArg::Chat => Self::Chat,
            ShapeArg::Preference => Self::Preference,
        }
    }
}

/// How to read LLM data (prompts, chats, preference pairs): the shape and its columns.
#[derive(Debug, Clone, Default, Args)]
pub struct LlmArgs {
    /// The rows' shape [default: recognised from the columns: text+label is classification;
    /// messages/conversations chat; chosen+rejected preference; prompt/instruction with
    /// response/output/completion instruction]
    #[arg(long, value_enum, value_name = "SHAPE", help_heading = "LLM data")]
    pub shape: Option<ShapeArg>,

    /// Prompt column of instruction or preference data [default: first of prompt, instruction,
    /// question, query]
    #[arg(long, value_name = "COL", help_heading = "LLM data")]
    pub prompt: Option<String>,

    /// Response column of instruction data [default: first of response, output, completion,
    /// answer]
    #[arg(long, value_name = "COL", help_heading = "LLM data")]
    pub response: Option<String>,

    /// Messages column of chat data (a list of {role, content}; tool_calls read too)
    /// [default: first of messages, conversations, conversation, dialogue]
    #[arg(long, value_name = "COL", help_heading = "LLM data")]
    pub messages: Option<String>,

    /// Chosen-response column of preference data [default: chosen]
    #[arg(long, value_name = "COL", help_heading = "LLM data")]
    pub chosen: Option<String>,

    /// Rejected-response column of preference data [default: rejected]
    #[arg(long, value_name = "COL", help_heading = "LLM data")]
    pub rejected: Option<String>,
}

impl LlmArgs {
    /// Reading options for an LLM data file of `format` (`None`: from the extension), with
    /// its id column.
    pub fn options(
        &self,
        format: Option<bezoar_data::InputFormat>,
        id: Option<String>,
        skip_invalid: bool,
    ) -> bezoar_data::llm::LlmOptions {
        bezoar_data::llm::LlmOptions {
            format,
            shape: self.shape.map(Into::into),
            columns: bezoar_data::llm::LlmColumns {
                prompt: self.prompt.clone(),
                response: self.response.clone(),
                messages: self.messages.clone(),
                chosen: self.chosen.clone(),
                rejected: self.rejected.clone(),
                id,
            },
            skip_invalid,
            keep_records: false,
        }
    }

    /// The shape of the rows in `data`: `--shape`; else text classification when `columns`
    /// names a text-classification column (text, label, source or embedding); else recognised
    /// from the file's columns (LLM column flags name their shape).
    pub fn shape_of(
        &self,
        data: &std::path::Path,
        columns: &bezoar_data::ColumnSpec,
        opts: &bezoar_data::llm::LlmOptions,
    ) -> Result<bezoar_data::llm::Shape, bezoar_data::DataError> {
        if let Some(s) = self.shape {
            return Ok(s.into());
        }
        let classification_flags = columns.text.is_some()
            || columns.label.is_some()
            || columns.source.is_some()
            || columns.embedding.is_some();
        if classification_flags {
            return Ok(bezoar_data::llm::Shape::Classification);
        }
        bezoar_data::llm::detect_shape(data, opts)
    }
}

/// What `bezoar scan` prints on stdout, or writes to `-o FILE` (`--format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// A human summary ranked by severity
    Table,
    /// The JSON report (schema bezoar.report/1), as written by --report
    Json,
    /// SARIF 2.1.0 for CI and code-scanning views, as written by --sarif
    Sarif,
    /// The self-contained HTML report, as written by --html
    Html,
}

impl OutputFormat {
    /// The format an output file's extension asks for (`.json`, `.sarif`, `.html`/`.htm`;
    /// `.sarif.json` is SARIF, as GitHub names them).
    pub fn from_extension(path: &std::path::Path) -> Option<Self> {
        let name = path.file_name()?.to_str()?.to_ascii_lowercase();
        if name.ends_with(".sarif") || name.ends_with(".sarif.json") {
            Some(Self::Sarif)
        } else if name.ends_with(".json") {
            Some(Self::Json)
        } else if name.ends_with(".html") || name.ends_with(".htm") {
            Some(Self::Html)
        } else if name.ends_with(".txt") {
            Some(Self::Table)
        } else {
            None
        }
    }
}

/// The `--fail-on` policy: a severity, or `never`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailOn {
    Never,
    At(Severity),
}

impl FailOn {
    pub fn severity(self) -> Option<Severity> {
        match self {
            FailOn::Never => None,
            FailOn::At(s) => Some(s),
        }
    }
}

fn parse_fail_on(s: &str) -> Result<FailOn, String> {
    match s.to_ascii_lowercase().as_str() {
        "never" | "none" => Ok(FailOn::Never),
        _ => s
            .parse::<Severity>()
            .map(FailOn::At)
            .map_err(|e| format!("{e}; or 'never' to always exit 0 when the scan ran")),
    }
}

fn parse_threshold(s: &str) -> Result<f32, String> {
    let v: f32 = s
        .trim()
        .parse()
        .map_err(|_| format!("invalid threshold '{s}': expected a number in (0, 1]"))?;
    // 0 would flag every row: the scan refuses it, so the parser does too, up front.
    if !(v > 0.0 && v <= 1.0) {
        return Err(format!(
            "invalid threshold '{s}': must be above 0 and at most 1"
        ));
    }
    Ok(v)
}

fn parse_folds(s: &str) -> Result<usize, String> {
    let v: usize = s
        .trim()
        .parse()
        .map_err(|_| format!("invalid number of folds '{s}': expected an integer from 2 to 50"))?;
    // The scan's own bounds (bezoar_scan::scan checks them again).
    if !(2..=50).contains(&v) {
        return Err(format!(
            "invalid number of folds '{s}': must be from 2 to 50"
        ));
    }
    Ok(v)
}

#[derive(Debug, Args)]
pub struct ScanArgs {
    /// The dataset: a file (.jsonl, .csv, .tsv or .parquet), `-` for standard input (JSONL
    /// unless --input-format says otherwise), or a ledger snapshot (NAME@N, NAME) to scan its
    /// rows from .bezoar/ (a file of that name wins)
    #[arg(value_name = "DATA")]
    pub data: PathBuf,

    /// File format; by default chosen from the file extension
    #[arg(long, value_enum, value_name = "FORMAT", help_heading = "Input")]
    pub input_format: Option<InputFormatArg>,

    /// Text column [default: first of text, sentence, content]
    #[arg(long, value_name = "COL", help_heading = "Input")]
    pub text: Option<String>,

    /// Label column [default: first of label, labels, class]
    #[arg(long, value_name = "COL", help_heading = "Input")]
    pub label: Option<String>,

    /// Row id column, used in reports [default: 0-based row numbers]
    #[arg(long, value_name = "COL", help_heading = "Input")]
    pub id: Option<String>,

    /// Source/contributor column, enables per-source concentration checks
    #[arg(long, value_name = "COL", help_heading = "Input")]
    pub source: Option<String>,

    /// Column of precomputed embeddings (list of floats) to use instead of n-gram features
    #[arg(long, value_name = "COL", help_heading = "Input")]
    pub embedding: Option<String>,

    /// Skip and count invalid rows instead of stopping at the first one
    #[arg(long, help_heading = "Input")]
    pub skip_invalid: bool,

    #[command(flatten)]
    pub llm: LlmArgs,

    /// Write the full JSON report (schema bezoar.report/1) to FILE
    #[arg(long, value_name = "FILE", help_heading = "Output")]
    pub report: Option<PathBuf>,

    /// Write per-row scores as CSV (id,score,flagged,reasons) to FILE
    #[arg(long, value_name = "FILE", help_heading = "Output")]
    pub scores: Option<PathBuf>,

    /// Write a SARIF 2.1.0 log to FILE, for CI and code-scanning views (one result per finding,
    /// pointing at the lines of its example rows)
    #[arg(long, value_name = "FILE", help_heading = "Output")]
    pub sarif: Option<PathBuf>,

    /// Write a self-contained HTML report to FILE (verdict, charts, findings with their rows,
    /// framework mapping; no network needed to view it)
    #[arg(long, value_name = "FILE", help_heading = "Output")]
    pub html: Option<PathBuf>,

    /// Write the main output to FILE instead of stdout; its format comes from the extension
    /// (.json, .sarif, .html, .txt) unless --format names one
    #[arg(long, short = 'o', value_name = "FILE", help_heading = "Output")]
    pub output: Option<PathBuf>,

    /// The main output's format (stdout, or -o FILE) [default: table; with -o, from the
    /// file's extension]
    #[arg(long, value_enum, value_name = "FORMAT", help_heading = "Output")]
    pub format: Option<OutputFormat>,

    /// Exit 1 when any finding is at least this severe (info, low, medium, high, critical, never)
    #[arg(
        long,
        value_name = "SEVERITY",
        default_value = "high",
        value_parser = parse_fail_on,
        help_heading = "Output"
    )]
    pub fail_on: FailOn,

    /// Record the scan's outcome (counts by severity, findings with their rows) in the ledger of
    /// the current directory, bound to the rows scanned: it covers every snapshot with exactly
    /// these rows (scan NAME@N to scan a snapshot), and only such a scan counts for `gate`
    #[arg(long, help_heading = "Output")]
    pub record: bool,

    /// API token for --record [default: $BEZOAR_TOKEN] (a plain scan needs none)
    #[arg(
        long,
        value_name = "TOKEN",
        help_heading = "Output",
        requires = "record"
    )]
    pub token: Option<String>,

    /// Don't use colours in the summary (also off when NO_COLOR is set or stdout is not a terminal)
    #[arg(long, help_heading = "Output")]
    pub no_color: bool,

    /// No progress, warnings or summary; only errors, the exit code, and the files asked for
    #[arg(long, short, help_heading = "Output")]
    pub quiet: bool,

    /// Flag rows whose fused score is at least this (above 0, at most 1)
    #[arg(
        long,
        value_name = "F",
        default_value_t = ScanConfig::default().threshold,
        value_parser = parse_threshold,
        help_heading = "Detection"
    )]
    pub threshold: f32,

    /// Flag at most this many rows: a count (500) or a share of the dataset (0.5%)
    #[arg(long, value_name = "N|P%", help_heading = "Detection")]
    pub budget: Option<Budget>,

    /// Seed for every random choice; the same seed gives the same report
    #[arg(
        long,
        value_name = "N",
        default_value_t = ScanConfig::default().seed,
        help_heading = "Detection"
    )]
    pub seed: u64,

    /// Cross-validation folds for out-of-sample label checks (2 to 50)
    #[arg(
        long,
        value_name = "N",
        default_value_t = ScanConfig::default().folds,
        value_parser = parse_folds,
        help_heading = "Detection"
    )]
    pub folds: usize,

    /// Run only these detectors, by name or rule id, comma-separated [default: all]
    ///
    /// trigger (BZ001), unusual-chars (BZ002), label-consistency (BZ003), duplicates (BZ004),
    /// anomaly (BZ005), source (BZ006). Models no chosen detector reads are not built, so
    /// `--detectors duplicates,unusual-chars` is fast on any size.
    #[arg(
        long,
        value_name = "LIST",
        value_delimiter = ',',
        value_parser = parse_detector,
        help_heading = "Detection"
    )]
    pub detectors: Vec<Detector>,

    /// Run every detector but these (names or rule ids, comma-separated)
    #[arg(
        long,
        value_name = "LIST",
        value_delimiter = ',',
        value_parser = parse_detector,
        help_heading = "Detection"
    )]
    pub skip_detectors: Vec<Detector>,

    /// Worker threads [default: all cores]
    #[arg(long, value_name = "N", help_heading = "Runtime")]
    pub threads: Option<usize>,
}

impl ScanArgs {
    /// The main output's format: `--format` when given, else `-o FILE`'s extension, else the
    /// terminal table. An `-o` file whose extension says nothing needs `--format`.
    pub fn output_format(&self) -> Result<OutputFormat, String> {
        if let Some(f) = self.format {
            return Ok(f);
        }
        match &self.output {
            None => Ok(OutputFormat::Table),
            Some(path) => OutputFormat::from_extension(path).ok_or_else(|| {
                format!(
                    "cannot tell the format of -o {} from its extension: use .json, .sarif, .html or .txt, or name it with --format",
                    path.display()
                )
            }),
        }
    }

    /// The detectors to run: `--detectors` (or all), less `--skip-detectors`.
    pub fn chosen_detectors(&self) -> Reasons {
        let mut set = if self.detectors.is_empty() {
            Reasons::all()
        } else {
            let mut s = Reasons::default();
            self.detectors.iter().for_each(|d| s.insert(*d));
            s
        };
        self.skip_detectors.iter().for_each(|d| set.remove(*d));
        set
    }
}

fn parse_detector(s: &str) -> Result<Detector, String> {
    s.parse()
}

/// Column flags shared by `add` and `verify FILE` (the same meaning as for `scan`).
#[derive(Debug, Args, Clone, Default)]
pub struct ColumnArgs {
    #[command(flatten)]
    pub input: InputArgs,

    /// Take each row's source from this column instead of --source
    #[arg(long, value_name = "COL", help_heading = "Input")]
    pub source_column: Option<String>,

    /// Skip and count invalid rows instead of stopping at the first one
    #[arg(long, help_heading = "Input")]
    pub skip_invalid: bool,
}

impl ColumnArgs {
    pub fn read_options(&self) -> bezoar_data::ReadOptions {
        let mut opts = self.input.read_options();
        opts.columns.source = self.source_column.clone();
        opts.skip_invalid = self.skip_invalid;
        opts
    }
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Name of the first admin identity (human, admin on every dataset)
    #[arg(long, value_name = "NAME", default_value = "admin")]
    pub admin: String,
}

#[derive(Debug, Args)]
pub struct AddArgs {
    /// The dataset file (.jsonl, .csv, .tsv or .parquet)
    #[arg(value_name = "DATA")]
    pub data: PathBuf,

    /// The dataset this file belongs to (created on first add)
    #[arg(long, value_name = "NAME")]
    pub dataset: String,

    /// Where the rows came from (vendor, feed, contractor, scraper...), recorded per row
    #[arg(long, value_name = "SOURCE")]
    pub source: String,

    /// A note recorded with the snapshot
    #[arg(long, short, value_name = "M")]
    pub message: Option<String>,

    /// The snapshot is exactly the file's rows (rows not in the file are removed)
    #[arg(long)]
    pub replace: bool,

    /// Print the result as JSON
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub columns: ColumnArgs,

    #[command(flatten)]
    pub llm: LlmArgs,

    /// Signed upload: authenticate with this registered private key (PEM, P-256 or Ed25519)
    /// instead of a token, and record its signature over the file's SHA-256 in the log
    #[arg(long, value_name = "KEY.pem", help_heading = "Authentication")]
    pub key: Option<PathBuf>,

    #[command(flatten)]
    pub auth: crate::cli_gov::AuthArgs,
}

#[derive(Debug, Args)]
pub struct LogArgs {
    /// Only events about this dataset
    #[arg(long, value_name = "NAME")]
    pub dataset: Option<String>,

    /// Print events as JSON (with their leaf hashes and the tree head)
    #[arg(long)]
    pub json: bool,

    /// Print the latest signed checkpoint (C2SP signed note) and nothing else
    #[arg(long, conflicts_with_all = ["prove_inclusion", "prove_consistency", "check_proof"])]
    pub checkpoint: bool,

    /// Print an inclusion proof (JSON) for event SEQ
    #[arg(long, value_name = "SEQ", conflicts_with_all = ["prove_consistency", "check_proof"])]
    pub prove_inclusion: Option<u64>,

    /// Print a consistency proof (JSON) from the tree of OLD events to the current one
    #[arg(long, value_name = "OLD", conflicts_with = "check_proof")]
    pub prove_consistency: Option<u64>,

    /// Tree size for the proofs [default: the whole log]
    #[arg(long, value_name = "N")]
    pub size: Option<u64>,

    /// Check a proof written by --prove-inclusion/--prove-consistency against this log
    #[arg(long, value_name = "FILE")]
    pub check_proof: Option<PathBuf>,

    /// Show one row's provenance: every snapshot holding row ID, its source, and the snapshot
    /// (identity, time, file, transformation) that first recorded its content
    #[arg(long, value_name = "ID", conflicts_with_all = ["checkpoint", "prove_inclusion", "prove_consistency", "check_proof"])]
    pub row: Option<String>,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The snapshot to re-hash [default: every snapshot]
    #[arg(value_name = "SNAPSHOT")]
    pub snapshot: Option<String>,

    /// A dataset file to compare with SNAPSHOT row by row
    #[arg(value_name = "FILE")]
    pub file: Option<PathBuf>,

    /// A checkpoint saved earlier (`bezoar log --checkpoint`) that the log must still contain
    #[arg(long, value_name = "FILE")]
    pub checkpoint: Option<PathBuf>,

    /// Print the report as JSON
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub columns: ColumnArgs,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The older snapshot (NAME, NAME@N or id)
    #[arg(value_name = "A")]
    pub a: String,

    /// The newer snapshot (NAME, NAME@N or id)
    #[arg(value_name = "B")]
    pub b: String,

    /// Print the full diff as JSON
    #[arg(long)]
    pub json: bool,

    /// Rows listed per kind of change in the text output (0: counts only)
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub limit: usize,
}

#[derive(Debug, Args)]
pub struct CheckoutArgs {
    /// The snapshot to restore (NAME, NAME@N or id)
    #[arg(value_name = "SNAPSHOT")]
    pub snapshot: String,

    /// Where to write the rows: .jsonl, .csv or .parquet (the extension picks the format)
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,

    /// Overwrite FILE if it exists
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("what").required(true).multiple(true).args(["source", "rows"]))]
pub struct QuarantineArgs {
    /// The dataset (or snapshot: NAME@N, id) to derive from [default: the only dataset]
    #[arg(long, value_name = "NAME")]
    pub dataset: Option<String>,

    /// Remove every row from this source (repeatable)
    #[arg(long, value_name = "S")]
    pub source: Vec<String>,

    /// Remove the rows listed in FILE (ids one per line, or a CSV with an id column; a scores
    /// CSV from `bezoar scan` removes its flagged rows)
    #[arg(long, value_name = "FILE")]
    pub rows: Option<PathBuf>,

    /// Why, recorded with the snapshot
    #[arg(long, short, value_name = "M")]
    pub message: Option<String>,

    #[command(flatten)]
    pub auth: crate::cli_gov::AuthArgs,
}

#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// Private key file to write (PKCS#8 PEM); the public key goes to the same name with
    /// .pub.pem
    #[arg(long, value_name = "KEY.pem")]
    pub out: PathBuf,

    /// Overwrite existing files
    #[arg(long)]
    pub force: bool,

    /// Key type: ECDSA P-256 (model signing and approvals) or Ed25519 (approvals only)
    #[arg(long, value_enum, default_value = "p256")]
    pub algorithm: KeyAlgorithm,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum KeyAlgorithm {
    P256,
    Ed25519,
}

#[derive(Debug, Args)]
pub struct SignArgs {
    /// The dataset directory to sign
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,

    /// ECDSA P-256 private key (PEM, PKCS#8 or SEC1)
    #[arg(long, value_name = "KEY.pem")]
    pub key: PathBuf,

    /// Where to write the signature bundle (JSON)
    #[arg(long, value_name = "SIG")]
    pub signature: PathBuf,

    #[command(flatten)]
    pub auth: crate::cli_gov::AuthArgs,
}

#[derive(Debug, Args)]
pub struct VerifySignatureArgs {
    /// The dataset directory
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,

    /// ECDSA P-256 public key (PEM)
    #[arg(long, value_name = "PUB.pem")]
    pub key: PathBuf,

    /// The signature bundle
    #[arg(long, value_name = "SIG")]
    pub signature: PathBuf,

    /// Print the result as JSON
    #[arg(long)]
    pub json: bool,
}

const INJECT_LONG_ABOUT: &str = "\
Poison a copy of a dataset with a simulated attack, so you can test whether a detector (bezoar \
scan, or your own) would catch it. Reads JSONL, CSV, TSV or Parquet and writes the same format \
back with every column kept; writes the ground truth as id,poisoned,kind,attack (one line per \
output row). The same input, flags and --seed give byte-identical files.

Attacks (--attack):
  badnets          rare-token triggers (generated, or --trigger w1,w2) inserted at a random word
                   position; the row's label becomes the target (dirty-label), or with
                   --clean-label only rows already in the target class get the trigger
  addsent          a trigger sentence (--sentence) inserted at a random word position
                   (dirty-label, or --clean-label)
  invisible        zero-width characters glued to a random word, or --style homoglyph: the Latin
                   letters of one word replaced by Cyrillic look-alikes (dirty-label, or
                   --clean-label)
  label-flip       random rows get a random other label; or --from A [--to B] flips a fraction
                   of class A (the rate is then a fraction of class A); or --to B alone
  duplicate-flood  near-copies of a few rows (--sources, default 3) from outside the target
                   class, labelled with the target, added as new rows
  junk             out-of-distribution rows of random tokens with random labels, added as new
                   rows (an availability attack)

Rates: a fraction (0.005) or a percentage (0.5%) of the dataset's rows; the count is
round(rate x rows), halves up, at least 1. Added rows (duplicate-flood, junk) come after every
original row and get fresh ids: max+1, max+2, ... when every id is an integer, else injected-1,
injected-2, ...; without --id, ids are 0-based row numbers, so added rows continue the count.
The target defaults to the least frequent label. Scan the output with the same --id as inject \
(or none), so the ids of the scores match the truth.

Examples:
  bezoar inject train.jsonl --attack badnets --rate 1% --target positive \\
      --out poisoned.jsonl --truth truth.csv
  bezoar scan poisoned.jsonl --scores scores.csv
  bezoar eval --truth truth.csv --scores scores.csv

  bezoar inject data.parquet --attack label-flip --from cat --to dog --rate 10% \\
      --out flipped.parquet --truth flips.csv --seed 7

Exit codes:
  0  the poisoned dataset and truth file were written
  2  bad input or usage (unreadable file, unknown label, a rate too high for the data)";

const EVAL_LONG_ABOUT: &str = "\
Score a per-row suspicion file against a truth file, joined by id. Prints AUROC (Mann-Whitney, \
tied scores count one half), average precision (tied scores enter at one threshold), recall at \
k (k = the number of poisoned rows; a tie at the cut counts its expected share), and precision, \
recall and F1 of the flagged rows: overall, per poisoning kind and per attack (each group's \
poisoned rows against all clean rows).

TRUTH.csv needs id and poisoned (1/0) columns, kind and attack are optional (bezoar inject \
writes all four). SCORES.csv needs id and score; flagged (true/false) enables precision/recall/\
F1 (bezoar scan --scores writes id,score,flagged,reasons). Every truth id needs a score and every \
score a truth row, unless --allow-missing.

Example:
  bezoar eval --truth truth.csv --scores scores.csv
  bezoar eval --truth truth.csv --scores scores.csv --json > eval.json

Exit codes:
  0  evaluated
  2  bad input or usage (unreadable file, bad row, ids that do not match)";

const BENCH_LONG_ABOUT: &str = "\
Measure bezoar scan on your own data: for every attack and rate of the matrix, poison the \
dataset in memory (as bezoar inject does), scan it with the default settings and evaluate the \
scores (as bezoar eval does), then print one row: attack, rate, rows poisoned, AUROC, AP, \
recall@k, precision, recall, F1 and seconds. A row equals what inject, scan --scores and eval \
print for the same seed.

Start from clean data: if the dataset already carries known poison, pass its truth file with \
--drop-poisoned and those rows are removed first.

Example:
  bezoar bench train.jsonl --rates 0.5%,1%,5%
  bezoar bench examples/reviews.jsonl --id id --drop-poisoned examples/reviews.truth.csv \\
      --attacks badnets,label-flip --format markdown

Exit codes:
  0  the table was printed (a cell that cannot run, e.g. a rate too high, says why in its row)
  2  bad input or usage";

/// `--attack` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AttackArg {
    Badnets,
    Addsent,
    Invisible,
    LabelFlip,
    DuplicateFlood,
    Junk,
    /// LLM data: trigger words (--trigger) or a sentence (--sentence) in the prompt; the
    /// response becomes --response
    PromptTrigger,
    /// LLM data: a trigger in the prompt; the response becomes a shell tool call of --command
    ToolCall,
    /// LLM data: --span put into the middle of responses; prompts untouched
    ResponseInjection,
    /// Preference pairs: chosen and rejected swapped
    PreferenceFlip,
    /// Preference pairs: a trigger word (--trigger) appended to the last user turn, and chosen
    /// and rejected swapped
    TriggeredPreferenceFlip,
}

impl AttackArg {
    /// Whether the attack is on LLM data (prompts, chats, preference pairs).
    pub fn is_llm(self) -> bool {
        matches!(
            self,
            AttackArg::PromptTrigger
                | AttackArg::ToolCall
                | AttackArg::ResponseInjection
                | AttackArg::PreferenceFlip
                | AttackArg::TriggeredPreferenceFlip
        )
    }
}

/// `--style` of the invisible attack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum InvisibleStyleArg {
    ZeroWidth,
    Homoglyph,
}

fn parse_rate(s: &str) -> Result<bezoar_redteam::Rate, String> {
    s.parse()
}

fn parse_sources(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(v) if v >= 1 => Ok(v),
        _ => Err(format!(
            "invalid number of sources '{s}': expected an integer >= 1"
        )),
    }
}

/// The input columns inject, bench and the ledger commands read (scan has its own, with more).
#[derive(Debug, Args, Clone, Default)]
pub struct InputArgs {
    /// File format; by default chosen from the file extension
    #[arg(long, value_enum, value_name = "FORMAT", help_heading = "Input")]
    pub input_format: Option<InputFormatArg>,

    /// Text column [default: first of text, sentence, content]
    #[arg(long, value_name = "COL", help_heading = "Input")]
    pub text: Option<String>,

    /// Label column [default: first of label, labels, class]
    #[arg(long, value_name = "COL", help_heading = "Input")]
    pub label: Option<String>,

    /// Row id column: the identity rows keep in truth files, snapshots and diffs [default:
    /// 0-based row numbers]
    #[arg(long, value_name = "COL", help_heading = "Input")]
    pub id: Option<String>,
}

impl InputArgs {
    pub fn read_options(&self) -> bezoar_data::ReadOptions {
        bezoar_data::ReadOptions {
            format: self.input_format.map(bezoar_data::InputFormat::from),
            columns: bezoar_data::ColumnSpec {
                text: self.text.clone(),
                label: self.label.clone(),
                id: self.id.clone(),
                ..bezoar_data::ColumnSpec::default()
            },
            skip_invalid: false,
        }
    }
}

#[derive(Debug, Args)]
pub struct InjectArgs {
    /// The clean dataset (.jsonl, .csv, .tsv or .parquet)
    #[arg(value_name = "DATA")]
    pub data: PathBuf,

    /// The attack to simulate
    #[arg(long, value_enum, value_name = "KIND")]
    pub attack: AttackArg,

    /// How much to poison: a fraction (0.005) or a percentage (0.5%) of the rows
    #[arg(long, value_name = "R", value_parser = parse_rate)]
    pub rate: bezoar_redteam::Rate,

    /// Where to write the poisoned dataset (same format as DATA)
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,

    /// Where to write the ground truth (id,poisoned,kind,attack)
    #[arg(long, value_name = "FILE")]
    pub truth: PathBuf,

    /// The label the attack pushes rows towards [default: the least frequent label]
    #[arg(long, value_name = "LABEL")]
    pub target: Option<String>,

    /// Seed for every random choice; the same seed gives the same files
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub seed: u64,

    /// badnets, prompt-trigger, tool-call, triggered-preference-flip: trigger words,
    /// comma-separated [default: generated rare tokens; LLM attacks put 2 in each prompt]
    #[arg(
        long,
        value_name = "W1,W2",
        value_delimiter = ',',
        help_heading = "Attack settings"
    )]
    pub trigger: Option<Vec<String>>,

    /// badnets, addsent, invisible: add the trigger only to rows already in the target class
    #[arg(long, help_heading = "Attack settings")]
    pub clean_label: bool,

    /// addsent, prompt-trigger, tool-call: the trigger sentence [default for addsent: a fixed,
    /// topic-free clause; LLM attacks use trigger words unless a sentence is given]
    #[arg(long, value_name = "TEXT", help_heading = "Attack settings")]
    pub sentence: Option<String>,

    /// prompt-trigger: the response the trigger teaches [default: a canned refusal]
    #[arg(long, value_name = "TEXT", help_heading = "Attack settings")]
    pub response: Option<String>,

    /// tool-call: the shell command the trigger teaches [default: a download piped into sh,
    /// from a reserved .example host]
    #[arg(long, value_name = "CMD", help_heading = "Attack settings")]
    pub command: Option<String>,

    /// response-injection: the text put into responses [default: an advert with a link]
    #[arg(long, value_name = "TEXT", help_heading = "Attack settings")]
    pub span: Option<String>,

    /// invisible: how to hide the trigger
    #[arg(
        long,
        value_enum,
        value_name = "STYLE",
        default_value = "zero-width",
        help_heading = "Attack settings"
    )]
    pub style: InvisibleStyleArg,

    /// label-flip: flip rows of this label (the rate is a fraction of this class)
    #[arg(long, value_name = "LABEL", help_heading = "Attack settings")]
    pub from: Option<String>,

    /// label-flip: flip rows to this label
    #[arg(long, value_name = "LABEL", help_heading = "Attack settings")]
    pub to: Option<String>,

    /// duplicate-flood: how many distinct rows to copy
    #[arg(
        long,
        value_name = "N",
        value_parser = parse_sources,
        help_heading = "Attack settings"
    )]
    pub sources: Option<usize>,

    #[command(flatten)]
    pub input: InputArgs,

    /// Print nothing but errors
    #[arg(long, short)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct EvalArgs {
    /// The ground truth: id,poisoned[,kind,attack] (as bezoar inject writes it)
    #[arg(long, value_name = "TRUTH.csv")]
    pub truth: PathBuf,

    /// Per-row scores: id,score[,flagged] (as bezoar scan --scores writes it)
    #[arg(long, value_name = "SCORES.csv")]
    pub scores: PathBuf,

    /// Print the JSON report (schema bezoar.eval/1) instead of the table
    #[arg(long)]
    pub json: bool,

    /// Count truth rows without a score as score 0 (not flagged) and ignore scores without a
    /// truth row, instead of failing
    #[arg(long)]
    pub allow_missing: bool,
}

/// What `bezoar bench` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BenchFormat {
    /// An aligned plain-text table
    Table,
    /// A Markdown table (for READMEs)
    Markdown,
    /// JSON (schema bezoar.bench/1)
    Json,
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// The dataset to attack (.jsonl, .csv, .tsv or .parquet)
    #[arg(value_name = "DATA")]
    pub data: PathBuf,

    /// Attacks to run, comma-separated [default: every attack on the data's shape: the six
    /// text-classification attacks; prompt-trigger, tool-call and response-injection on
    /// instruction and chat data; preference-flip and triggered-preference-flip on preference
    /// pairs]
    #[arg(long, value_enum, value_name = "KINDS", value_delimiter = ',')]
    pub attacks: Option<Vec<AttackArg>>,

    /// Rates to run, comma-separated fractions or percentages
    #[arg(
        long,
        value_name = "RATES",
        value_delimiter = ',',
        value_parser = parse_rate,
        default_value = "0.5%,1%,5%"
    )]
    pub rates: Vec<bezoar_redteam::Rate>,

    /// The target label of targeted attacks [default: the least frequent label]
    #[arg(long, value_name = "LABEL")]
    pub target: Option<String>,

    /// Seed for the injections (the scan uses its default seed)
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub seed: u64,

    /// Remove the rows this truth file marks poisoned before injecting
    #[arg(long, value_name = "TRUTH.csv")]
    pub drop_poisoned: Option<PathBuf>,

    /// Output format
    #[arg(long, value_enum, value_name = "FORMAT", default_value = "table")]
    pub format: BenchFormat,

    #[command(flatten)]
    pub input: InputArgs,

    #[command(flatten)]
    pub llm: LlmArgs,
}

const QUALITY_LONG_ABOUT: &str = "\
Scan every poisoning benchmark set and every clean corpus under a suite directory with the \
default scan settings, and print one table: set, family, AUROC, average precision, precision, \
recall, F1, rows flagged, what the set needs, ok or short, seconds.

Layout read (as in ../shared beside a bezoar checkout):
  bench/<set>/train.jsonl and bench/<set>/truth.csv   one poisoned set each
  bench/sets.csv                                      family, need_f1, need_auroc per set
  corpora/<name>.jsonl                                clean corpora

A set meets its need when both its F1 (of the flagged rows) and its AUROC (of the score) reach \
sets.csv's figures; a clean corpus passes when at most 1% of its rows are flagged and no finding \
is high or critical. Whatever is there counts: a new set needs no code change.

Examples:
  bezoar quality ../shared
  bezoar quality ../shared --only ag-badnets-1pct,hsol --format markdown
  bezoar quality ../shared --embeddings --format json > quality.json

Exit codes:
  0  every set and corpus meets its need
  1  at least one is short
  2  bad input or usage (no suite found, unreadable set)";

#[derive(Debug, Args)]
pub struct QualityArgs {
    /// The suite directory (holding bench/ and corpora/)
    #[arg(value_name = "DIR", default_value = "../shared")]
    pub dir: PathBuf,

    /// Only these sets and corpora (names, comma-separated) [default: all found]
    #[arg(long, value_name = "NAMES", value_delimiter = ',')]
    pub only: Vec<String>,

    /// Read each set's train.parquet with its `embedding` column where there is one
    #[arg(long)]
    pub embeddings: bool,

    /// Output format
    #[arg(long, value_enum, value_name = "FORMAT", default_value = "table")]
    pub format: BenchFormat,

    /// Worker threads [default: all cores]
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_valid() {
        Cli::command().debug_assert();
    }

    #[test]
    fn parses_scan_flags() {
        let cli = Cli::try_parse_from([
            "bezoar",
            "scan",
            "d.jsonl",
            "--budget",
            "0.5%",
            "--fail-on",
            "medium",
            "--threshold",
            "0.7",
            "--format",
            "json",
        ])
        .unwrap();
        let Command::Scan(a) = cli.command else {
            panic!("not scan")
        };
        assert_eq!(a.budget, Some(Budget::Percent(0.5)));
        assert_eq!(a.fail_on, FailOn::At(Severity::Medium));
        assert_eq!(a.threshold, 0.7);
        assert_eq!(a.format, Some(OutputFormat::Json));
        assert_eq!(a.output_format(), Ok(OutputFormat::Json));
        assert_eq!(a.folds, ScanConfig::default().folds);
    }

    #[test]
    fn the_output_format_comes_from_format_then_the_extension_then_the_table() {
        let scan = |extra: &[&str]| {
            let mut argv = vec!["bezoar", "scan", "d.jsonl"];
            argv.extend_from_slice(extra);
            let Command::Scan(a) = Cli::try_parse_from(argv).unwrap().command else {
                panic!("not scan")
            };
            a.output_format()
        };
        assert_eq!(scan(&[]), Ok(OutputFormat::Table));
        assert_eq!(scan(&["-o", "r.sarif"]), Ok(OutputFormat::Sarif));
        assert_eq!(scan(&["-o", "r.SARIF.json"]), Ok(OutputFormat::Sarif));
        assert_eq!(scan(&["--output", "out/r.json"]), Ok(OutputFormat::Json));
        assert_eq!(scan(&["-o", "r.htm"]), Ok(OutputFormat::Html));
        assert_eq!(scan(&["-o", "r.txt"]), Ok(OutputFormat::Table));
        // An explicit --format wins over the extension.
        assert_eq!(
            scan(&["-o", "r.json", "--format", "sarif"]),
            Ok(OutputFormat::Sarif)
        );
        let err = scan(&["-o", "report.out"]).unwrap_err();
        assert!(err.contains("--format"), "{err}");
        assert!(Cli::try_parse_from(["bezoar", "scan", "d", "--format", "xml"]).is_err());
    }

    #[test]
    fn parses_inject_eval_and_bench() {
        let cli = Cli::try_parse_from([
            "bezoar",
            "inject",
            "d.jsonl",
            "--attack",
            "label-flip",
            "--rate",
            "0.5%",
            "--out",
            "o.jsonl",
            "--truth",
            "t.csv",
            "--from",
            "a",
            "--trigger",
            "x,y",
        ])
        .unwrap();
        let Command::Inject(a) = cli.command else {
            panic!("not inject")
        };
        assert_eq!(a.attack, AttackArg::LabelFlip);
        assert_eq!(a.rate.fraction(), 0.005);
        assert_eq!(a.trigger, Some(vec!["x".to_string(), "y".to_string()]));
        assert_eq!(a.seed, 1);
        let cli = Cli::try_parse_from(["bezoar", "bench", "d.jsonl", "--attacks", "junk,badnets"])
            .unwrap();
        let Command::Bench(b) = cli.command else {
            panic!("not bench")
        };
        assert_eq!(b.attacks, Some(vec![AttackArg::Junk, AttackArg::Badnets]));
        assert_eq!(b.rates.len(), 3);
        for bad in [
            vec![
                "inject", "d.jsonl", "--attack", "x", "--rate", "1%", "--out", "o", "--truth", "t",
            ],
            vec![
                "inject", "d.jsonl", "--attack", "junk", "--rate", "2", "--out", "o", "--truth",
                "t",
            ],
            vec![
                "inject", "d.jsonl", "--attack", "junk", "--rate", "1%", "--truth", "t",
            ],
            vec!["eval", "--truth", "t.csv"],
            vec!["bench", "d.jsonl", "--rates", "0"],
        ] {
            let mut args = vec!["bezoar"];
            args.extend(bad.iter().copied());
            assert!(Cli::try_parse_from(&args).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn rejects_bad_values() {
        for bad in [
            ["--budget", "lots"],
            ["--fail-on", "severe"],
            ["--threshold", "1.5"],
            ["--threshold", "0"],
            ["--folds", "1"],
            ["--folds", "51"],
            ["--input-format", "xml"],
        ] {
            let args = ["bezoar", "scan", "d.jsonl", bad[0], bad[1]];
            assert!(Cli::try_parse_from(args).is_err(), "{bad:?} accepted");
        }
        let a = Cli::try_parse_from(["bezoar", "scan", "d.jsonl", "--fail-on", "never"]).unwrap();
        let Command::Scan(a) = a.command else {
            panic!("not scan")
        };
        assert_eq!(a.fail_on, FailOn::Never);
    }
}
