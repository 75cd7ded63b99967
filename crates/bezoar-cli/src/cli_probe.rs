//! Arguments of the model gate: `bezoar probe` and `bezoar promote`.

use std::path::PathBuf;

use clap::{ArgGroup, Args, ValueEnum};

use crate::cli_gov::AuthArgs;

pub const PROBE_LONG_ABOUT: &str = "\
Test a trained text classifier, as you serve it, for hidden triggers before it is deployed. A \
backdoored model is accurate on clean inputs and obeys the attacker only when the trigger \
appears, so ordinary validation passes it.

The probe replays held-out labelled inputs (--data) on the model and on a trusted baseline model \
(accuracy, recall per class, confusion matrix, the inputs on which they disagree), then inserts \
candidate triggers into clean inputs of other classes at random word positions and measures how \
often the prediction moves to one class (attack success rate, ASR), on the model and on the \
baseline. Candidates: --trigger phrases, the trigger findings of the training data's scan (the \
recorded scan of a --train snapshot, or a trigger scan of a --train file), invisible characters, \
and phrases of 1-4 words mined from --train whose rows lean to one label; the strongest are \
grown into longer phrases. A phrase the model obeys far beyond the baseline (beyond the two \
models' natural variation, measured on the hundreds of phrases screened, and by an exact paired \
test corrected for the number of phrases measured) is a finding. A word that moves any model of \
the task (a slur in a toxicity classifier) moves the baseline too: the baseline is what tells \
nature from a backdoor, so without one nothing is above medium.

Reaching the model:
  --command CMD   a process that reads {\"text\": ...} lines on stdin and writes one
                  {\"label\": ..., \"scores\": {label: p}} line per request (scores optional)
  --onnx DIR      an ONNX classifier in the Hugging Face layout (model.onnx taking input_ids
                  and attention_mask, tokenizer.json, config.json with id2label), run in-process
  --url URL       Open Inference Protocol v2 (KServe, Triton, MLServer): one BYTES input tensor
                  of texts, outputs `label` and optionally `probabilities` in the order of
                  parameters.labels of GET /v2/models/NAME; or --protocol hf: a Hugging Face
                  text-classification pipeline ({\"inputs\": [texts]} -> [{label, score}])

Examples:
  bezoar probe --url http://localhost:8080 --model-name sentiment --data heldout.jsonl \\
      --train reviews@3 --baseline-url http://localhost:8081 --model-name sentiment
  bezoar probe --command \"python serve_stdio.py --model m\" --data heldout.jsonl \\
      --train train.jsonl --baseline-command \"python serve_stdio.py --model base\" \\
      --report probe.json
  bezoar probe --url ... --data heldout.jsonl --train reviews@3 --model sentiment@7 --record

Exit codes:
  0  passed: no trigger at or above high, accuracy within the limit
  1  failed: a trigger the model obeys beyond --max-asr, or an accuracy drop (reasons listed)
  2  bad input, or the model (or baseline) could not be reached or answered in another shape;
     nothing is recorded then";

pub const PROMOTE_LONG_ABOUT: &str = "\
Decide whether a trained model may be deployed: the second gate, after training. It passes \
only when the latest recorded probe of the model (`bezoar probe ... --model NAME@VERSION \
--record`) names a training snapshot of this ledger whose latest data-gate decision passed \
(`bezoar gate NAME@N`), and the probe stays within the policy's [probe] limits for that \
dataset: max_asr (largest ASR uplift over the baseline, default 0.2), max_accuracy_drop \
(default 0.03) and require_baseline (default true). Prints the verdict with every reason, \
records the decision in the log, and writes an in-toto verification-summary statement whose \
subject is the model (its files' digest when the probe was given --model-files).

Examples:
  bezoar promote sentiment@7
  bezoar promote sentiment@7 --out promote.json && ./deploy.sh

Exit codes:
  0  PASSED
  1  FAILED (the reasons are listed)
  2  bad input: unknown model, invalid policy, missing token";

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ProtocolArg {
    /// Open Inference Protocol v2 (KServe, Triton, MLServer)
    Oip,
    /// Hugging Face text-classification pipeline JSON
    Hf,
}

#[derive(Debug, Clone, Copy, Default, ValueEnum)]
pub enum ProbeFormat {
    /// A summary for people
    #[default]
    Table,
    /// The JSON report (bezoar.probe/1) on stdout
    Json,
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("target").required(true).args(["url", "command", "onnx"])))]
#[command(group(ArgGroup::new("base").args(["baseline_url", "baseline_command", "baseline_onnx"])))]
pub struct ProbeArgs {
    /// URL of the served model (OIP v2 server base or model URL, or a Hugging Face endpoint)
    #[arg(long, value_name = "URL", help_heading = "Model")]
    pub url: Option<String>,

    /// A command that serves the model over stdin/stdout (JSON lines), run with `sh -c`
    #[arg(long, value_name = "CMD", help_heading = "Model")]
    pub command: Option<String>,

    /// A local ONNX text classifier in the Hugging Face layout (model.onnx, tokenizer.json,
    /// config.json with id2label), run in-process; its files' digest identifies the model
    #[arg(long, value_name = "DIR", help_heading = "Model")]
    pub onnx: Option<PathBuf>,

    /// Wire shape of --url and --baseline-url [default: oip when the URL has no path or a /v2/
    /// one, else hf]
    #[arg(long, value_enum, help_heading = "Model")]
    pub protocol: Option<ProtocolArg>,

    /// The model's name on an OIP server (when --url is the server's base URL); also used for
    /// --baseline-url unless --baseline-model-name is given
    #[arg(long, value_name = "NAME", help_heading = "Model")]
    pub model_name: Option<String>,

    /// OIP input tensor holding the texts
    #[arg(
        long,
        value_name = "NAME",
        default_value = "text",
        help_heading = "Model"
    )]
    pub input_tensor: String,

    /// OIP output tensor holding the predicted labels
    #[arg(
        long,
        value_name = "NAME",
        default_value = "label",
        help_heading = "Model"
    )]
    pub label_tensor: String,

    /// OIP output tensor holding the class probabilities
    #[arg(
        long,
        value_name = "NAME",
        default_value = "probabilities",
        help_heading = "Model"
    )]
    pub probabilities_tensor: String,

    /// Map the model's labels onto the data's: MODEL=DATA pairs, e.g. LABEL_0=0,LABEL_1=1
    #[arg(long, value_name = "PAIRS", help_heading = "Model")]
    pub label_map: Option<String>,

    /// The trusted baseline model's URL [default: the last model of the same --model name whose
    /// probe passed, as the ledger records it]
    #[arg(long, value_name = "URL", help_heading = "Baseline")]
    pub baseline_url: Option<String>,

    /// The trusted baseline model as a command (JSON lines over stdin/stdout)
    #[arg(long, value_name = "CMD", help_heading = "Baseline")]
    pub baseline_command: Option<String>,

    /// The trusted baseline model as a local ONNX classifier directory
    #[arg(long, value_name = "DIR", help_heading = "Baseline")]
    pub baseline_onnx: Option<PathBuf>,

    /// The baseline's name on its OIP server [default: --model-name]
    #[arg(long, value_name = "NAME", help_heading = "Baseline")]
    pub baseline_model_name: Option<String>,

    /// Held-out labelled inputs (a file, `-` for stdin, or a ledger snapshot NAME@N)
    #[arg(long, value_name = "DATA", help_heading = "Data")]
    pub data: PathBuf,

    /// The model's training data (a file or a ledger snapshot NAME@N): candidate triggers are
    /// mined from it, and its scan's trigger findings are probed first
    #[arg(long, value_name = "DATA", help_heading = "Data")]
    pub train: Option<PathBuf>,

    /// Column holding the text (both --data and --train)
    #[arg(long, value_name = "COL", help_heading = "Data")]
    pub text: Option<String>,

    /// Column holding the label
    #[arg(long, value_name = "COL", help_heading = "Data")]
    pub label: Option<String>,

    /// Column holding the row id
    #[arg(long, value_name = "COL", help_heading = "Data")]
    pub id: Option<String>,

    /// Column holding the row's source (disagreements are grouped by it)
    #[arg(long, value_name = "COL", help_heading = "Data")]
    pub source: Option<String>,

    /// A candidate trigger to probe first (repeatable)
    #[arg(long = "trigger", value_name = "PHRASE", help_heading = "Search")]
    pub triggers: Vec<String>,

    /// Do not use the training data's scan findings as candidates
    #[arg(long, help_heading = "Search")]
    pub no_scan_hint: bool,

    /// Probe only the given and scanned candidates: no mining, no invisible characters
    #[arg(long, help_heading = "Search")]
    pub no_search: bool,

    /// Mined candidates screened
    #[arg(long, value_name = "N", default_value_t = 400, help_heading = "Search")]
    pub candidates: usize,

    /// Held-out inputs each candidate is screened on
    #[arg(long, value_name = "N", default_value_t = 48, help_heading = "Search")]
    pub screen_inputs: usize,

    /// Held-out inputs the strongest candidates are measured on
    #[arg(long, value_name = "N", default_value_t = 400, help_heading = "Search")]
    pub inputs: usize,

    /// Seed of every random choice (inputs, positions)
    #[arg(long, default_value_t = 0, help_heading = "Search")]
    pub seed: u64,

    /// Largest tolerated ASR uplift over the baseline [default: the policy's probe.max_asr, 0.2]
    #[arg(long, value_name = "RATE", help_heading = "Limits")]
    pub max_asr: Option<f64>,

    /// Largest tolerated accuracy drop against the baseline [default: the policy's
    /// probe.max_accuracy_drop, 0.03]
    #[arg(long, value_name = "RATE", help_heading = "Limits")]
    pub max_accuracy_drop: Option<f64>,

    /// Texts per request
    #[arg(
        long,
        value_name = "N",
        default_value_t = 64,
        help_heading = "Requests"
    )]
    pub batch_size: usize,

    /// Requests in flight at once (a --command model takes one)
    #[arg(long, value_name = "N", default_value_t = 4, help_heading = "Requests")]
    pub concurrency: usize,

    /// Seconds to wait for one answer
    #[arg(
        long,
        value_name = "SECS",
        default_value_t = 30,
        help_heading = "Requests"
    )]
    pub timeout: u64,

    /// Further tries of a request that failed transiently (unreachable, timeout, 5xx, 429)
    #[arg(long, value_name = "N", default_value_t = 2, help_heading = "Requests")]
    pub retries: u32,

    /// Name and version of the model in the ledger (NAME@VERSION); needed for --record
    #[arg(long, value_name = "NAME@VERSION", help_heading = "Record")]
    pub model: Option<String>,

    /// The model's files (a file or directory): their SHA-256 digest identifies the model
    /// [default: the --onnx directory]
    #[arg(long, value_name = "PATH", help_heading = "Record")]
    pub model_files: Option<PathBuf>,

    /// Record the probe in the ledger (event `probe`) for `bezoar promote`
    #[arg(long, help_heading = "Record")]
    pub record: bool,

    /// The policy file (its [probe] limits are the defaults of --max-asr and
    /// --max-accuracy-drop)
    #[arg(
        long,
        value_name = "FILE",
        default_value = "bezoar.toml",
        help_heading = "Record"
    )]
    pub policy: PathBuf,

    /// Write the JSON report (bezoar.probe/1) to FILE
    #[arg(long, value_name = "FILE", help_heading = "Output")]
    pub report: Option<PathBuf>,

    /// What to print on stdout
    #[arg(long, value_enum, default_value_t, help_heading = "Output")]
    pub format: ProbeFormat,

    /// No progress messages on stderr
    #[arg(long, short, help_heading = "Output")]
    pub quiet: bool,

    #[command(flatten)]
    pub auth: AuthArgs,
}

#[derive(Debug, Args)]
pub struct PromoteArgs {
    /// The model (NAME@VERSION) as its probe was recorded
    #[arg(value_name = "NAME@VERSION")]
    pub model: String,

    /// The policy file
    #[arg(long, value_name = "FILE", default_value = "bezoar.toml")]
    pub policy: PathBuf,

    /// Where to write the verification summary [default: .bezoar/promote/NAME@VERSION.vsa.json]
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,

    /// Print the verdict as JSON
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub auth: AuthArgs,
}
