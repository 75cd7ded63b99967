//! Which shape a file holds, recognised from its columns (or named by the user).

use std::io::{BufRead, BufReader};
use std::path::Path;

use super::{LlmFields, LlmOptions};
use crate::{DataError, InputFormat};

/// The shapes of training rows bezoar reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// Text with a class label (`text`, `label`).
    Classification,
    /// A prompt and its response (`prompt`/`response`; Alpaca's `instruction`/`input`/`output`).
    Instruction,
    /// A conversation (`messages` with roles; ShareGPT's `conversations`).
    Chat,
    /// A prompt with a chosen and a rejected response (or two whole dialogues).
    Preference,
}

impl Shape {
    pub fn name(self) -> &'static str {
        match self {
            Shape::Classification => "classification",
            Shape::Instruction => "instruction",
            Shape::Chat => "chat",
            Shape::Preference => "preference",
        }
    }

    pub fn is_llm(self) -> bool {
        self != Shape::Classification
    }
}

impl std::str::FromStr for Shape {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "classification" | "text" => Ok(Shape::Classification),
            "instruction" | "prompt-response" => Ok(Shape::Instruction),
            "chat" | "messages" => Ok(Shape::Chat),
            "preference" | "pairs" => Ok(Shape::Preference),
            other => Err(format!(
                "unknown shape '{}' (expected classification, instruction, chat or preference)",
                other.escape_debug()
            )),
        }
    }
}

const TEXT: &[&str] = &["text", "sentence", "content"];
const LABEL: &[&str] = &["label", "labels", "class"];
const MESSAGES: &[&str] = &["messages", "conversations", "conversation", "dialogue"];
const PROMPT: &[&str] = &["prompt", "instruction", "question", "query"];
const RESPONSE: &[&str] = &["response", "output", "completion", "answer"];

fn first<'k>(keys: &'k [String], names: &[&str]) -> Option<&'k String> {
    names.iter().find_map(|n| keys.iter().find(|k| k == n))
}

/// The shape `keys` (a row's column names) look like, when no flag names one: text and label
/// columns are classification; then messages, chosen + rejected, and prompt + response.
pub fn shape_of_keys(keys: &[String]) -> Shape {
    if first(keys, TEXT).is_some() && first(keys, LABEL).is_some() {
        Shape::Classification
    } else if first(keys, MESSAGES).is_some() {
        Shape::Chat
    } else if keys.iter().any(|k| k == "chosen") && keys.iter().any(|k| k == "rejected") {
        Shape::Preference
    } else if first(keys, PROMPT).is_some() && first(keys, RESPONSE).is_some() {
        Shape::Instruction
    } else {
        Shape::Classification
    }
}

/// The shape of the data in `path`: `opts.shape`, else a shape implied by the column flags
/// (`--messages` means chat, `--chosen`/`--rejected` preference, `--prompt`/`--response`
/// instruction), else recognised from the first JSONL object's keys or the Parquet schema.
/// Standard input, FIFOs and devices are not peeked (they cannot be read twice): they are
/// classification unless a flag says otherwise.
pub fn detect_shape(path: &Path, opts: &LlmOptions) -> Result<Shape, DataError> {
    if let Some(s) = opts.shape {
        return Ok(s);
    }
    let c = &opts.columns;
    if c.messages.is_some() {
        return Ok(Shape::Chat);
    }
    if c.chosen.is_some() || c.rejected.is_some() {
        return Ok(Shape::Preference);
    }
    if c.prompt.is_some() || c.response.is_some() {
        return Ok(Shape::Instruction);
    }
    let regular = std::fs::metadata(path).is_ok_and(|m| m.is_file());
    if crate::is_stdin(path) || !regular {
        return Ok(Shape::Classification);
    }
    let format = opts.format.or_else(|| InputFormat::from_path(path));
    let keys = match format {
        Some(InputFormat::Jsonl) => first_object_keys(path)?,
        Some(InputFormat::Parquet) => super::parquet::column_names(path)?,
        // CSV/TSV and unknown formats are read by the classification reader, which reports them.
        _ => return Ok(Shape::Classification),
    };
    Ok(keys.map_or(Shape::Classification, |k| shape_of_keys(&k)))
}

/// The keys of the first JSON object in a JSONL file (`None` when it has none we can read: the
/// reader proper reports why).
fn first_object_keys(path: &Path) -> Result<Option<Vec<String>>, DataError> {
    let file = std::fs::File::open(path).map_err(|source| DataError::Io {
        file: path.to_path_buf(),
        source,
    })?;
    let mut lines = BufReader::new(file);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        let n = lines
            .read_until(b'\n', &mut buf)
            .map_err(|source| DataError::Io {
                file: path.to_path_buf(),
                source,
            })?;
        if n == 0 {
            return Ok(None);
        }
        let bytes = buf.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&buf);
        if bytes.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let keys = serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(bytes)
            .ok()
            .map(|m| m.keys().cloned().collect());
        return Ok(keys);
    }
}

/// The fields to read for the shape, from the flags and the first row's keys.
pub(super) fn resolve(
    file: &Path,
    opts: &LlmOptions,
    keys: &[String],
) -> Result<(Shape, LlmFields), DataError> {
    let shape = match opts.shape {
        Some(s) => s,
        None => {
            let mut probe = opts.clone();
            probe.format = Some(InputFormat::Jsonl);
            match detect_shape(Path::new("-"), &probe)? {
                Shape::Classification => shape_of_keys(keys),
                s => s,
            }
        }
    };
    let c = &opts.columns;
    let pick =
        |flag: &Option<String>, role: &'static str, names: &[&str], required: bool| match flag {
            Some(name) if keys.contains(name) => Ok(Some(name.clone())),
            Some(name) => Err(missing(file, role, name, keys)),
            None => match first(keys, names) {
                Some(k) => Ok(Some(k.clone())),
                None if required => Err(missing(file, role, &names.join("' or '"), keys)),
                None => Ok(None),
            },
        };
    let mut fields = LlmFields {
        id: match &c.id {
            Some(name) if keys.contains(name) => Some(name.clone()),
            Some(name) => return Err(missing(file, "id", name, keys)),
            None => None,
        },
        ..LlmFields::default()
    };
    match shape {
        Shape::Instruction => {
            fields.prompt = pick(&c.prompt, "prompt", PROMPT, true)?;
            fields.response = pick(&c.response, "response", RESPONSE, true)?;
            // Alpaca: the instruction's input, when the prompt column is `instruction`.
            if fields.prompt.as_deref() == Some("instruction") && keys.iter().any(|k| k == "input")
            {
                fields.input = Some("input".into());
            }
        }
        Shape::Chat => {
            fields.messages = pick(&c.messages, "messages", MESSAGES, true)?;
        }
        Shape::Preference => {
            fields.prompt = pick(&c.prompt, "prompt", PROMPT, false)?;
            fields.chosen = pick(&c.chosen, "chosen", &["chosen"], true)?;
            fields.rejected = pick(&c.rejected, "rejected", &["rejected"], true)?;
        }
        Shape::Classification => {
            return Err(DataError::InvalidFile {
                file: file.to_path_buf(),
                message: "the rows are not prompts, chats or preference pairs; read them as text classification".into(),
            })
        }
    }
    Ok((shape, fields))
}

fn missing(file: &Path, role: &'static str, wanted: &str, keys: &[String]) -> DataError {
    DataError::MissingColumn {
        file: file.to_path_buf(),
        role,
        wanted: wanted.to_string(),
        available: keys.to_vec(),
    }
}
