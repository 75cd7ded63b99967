//! LLM fine-tuning data: prompt/response pairs (also Alpaca's instruction/input/output), chat
//! transcripts (`messages`, with tool calls) and preference pairs (prompt/chosen/rejected, or
//! chosen/rejected given as whole dialogues).
//!
//! Every shape is read into *units*: one prompt with its response (and, for preference pairs,
//! the rejected response). An instruction row is one unit; a chat gives one unit per assistant
//! turn, whose prompt is the conversation's user and tool turns before it; a preference row is
//! one unit. Units remember their row, so a row is flagged when any of its units is.
//!
//! Rows are read as JSON values (JSONL lines, or Parquet cells converted to JSON), so one code
//! path checks every shape in every format, and errors name the file, line and field
//! (`messages[2].content`).

mod canonical;
mod parquet;
mod shape;

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

pub use canonical::{
    canonical_json, canonical_object, layout_json, layout_options, parse_layout, swapped_pair,
};
pub use shape::{detect_shape, Shape};

use crate::dataset::{Categorical, Dataset, ResolvedColumns, RowIds, SkipReport, SkippedRow};
use crate::{DataError, InputFormat, TextArena, MAX_SKIP_EXAMPLES};

/// Column names chosen by the user for LLM data; `None` means "find it by its usual names".
#[derive(Debug, Clone, Default)]
pub struct LlmColumns {
    pub prompt: Option<String>,
    pub response: Option<String>,
    pub messages: Option<String>,
    pub chosen: Option<String>,
    pub rejected: Option<String>,
    pub id: Option<String>,
}

/// How to read an LLM data file.
#[derive(Debug, Clone, Default)]
pub struct LlmOptions {
    pub format: Option<InputFormat>,
    /// `None`: recognised from the columns (see [`detect_shape`]).
    pub shape: Option<Shape>,
    pub columns: LlmColumns,
    pub skip_invalid: bool,
    /// Keep each row's canonical JSON (every field, see [`canonical_json`]) in
    /// [`LlmDataset::records`]: what the ledger records. Off for a plain scan (it doubles the
    /// memory the rows take).
    pub keep_records: bool,
}

/// The columns a shape was read from, as resolved.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LlmFields {
    pub prompt: Option<String>,
    /// Alpaca's `input`, appended to the instruction after a blank line when not empty.
    pub input: Option<String>,
    pub response: Option<String>,
    pub messages: Option<String>,
    pub chosen: Option<String>,
    pub rejected: Option<String>,
    pub id: Option<String>,
}

impl LlmFields {
    /// The resolved field names, in reading order, for messages such as "read prompt, response".
    pub fn names(&self) -> Vec<&str> {
        [
            &self.prompt,
            &self.input,
            &self.response,
            &self.messages,
            &self.chosen,
            &self.rejected,
        ]
        .into_iter()
        .filter_map(|f| f.as_deref())
        .collect()
    }
}

/// Prompts and responses of LLM fine-tuning data, unit by unit (see the module docs).
#[derive(Debug, Clone)]
pub struct LlmDataset {
    pub shape: Shape,
    pub fields: LlmFields,
    pub ids: RowIds,
    /// 1-based line (JSONL) or row (Parquet) of each row.
    pub lines: Vec<u64>,
    /// The row each unit belongs to (ascending).
    pub unit_row: Vec<u32>,
    /// What the model is given: the prompt, or a chat's user and tool turns before the response.
    pub prompts: TextArena,
    /// What the model is taught to answer (for preference pairs, the chosen response). Tool
    /// calls given as `tool_calls` fields are written as `{"tool": NAME, "args": ARGUMENTS}`.
    pub responses: TextArena,
    /// Preference pairs only: the rejected response of each unit (empty otherwise).
    pub rejected: TextArena,
    /// System prompts of chats, one per unit (empty when there is none).
    pub systems: TextArena,
    /// The user turn each response answers: an instruction's prompt, a chat's last user turn
    /// before the response, a preference prompt's last human turn.
    pub turns: TextArena,
    /// With [`LlmOptions::keep_records`]: each row's canonical JSON, every field included.
    pub records: Option<TextArena>,
    pub skipped: SkipReport,
}

impl LlmDataset {
    pub fn rows(&self) -> usize {
        self.lines.len()
    }

    pub fn units(&self) -> usize {
        self.unit_row.len()
    }

    /// A text-classification view for reports: one text per row showing its prompts and
    /// responses, and the shape as the single label.
    pub fn display_dataset(&self) -> Dataset {
        let mut texts = TextArena::new();
        let mut buf = String::new();
        let mut u = 0;
        for row in 0..self.rows() {
            buf.clear();
            while u < self.units() && self.unit_row[u] as usize == row {
                if !buf.is_empty() {
                    buf.push('\n');
                }
                match self.shape {
                    Shape::Preference => {
                        buf.push_str(self.prompts.get(u));
                        buf.push_str("\n[chosen] ");
                        buf.push_str(self.responses.get(u));
                        buf.push_str("\n[rejected] ");
                        buf.push_str(self.rejected.get(u));
                    }
                    _ => {
                        buf.push_str("[prompt] ");
                        buf.push_str(self.prompts.get(u));
                        buf.push_str("\n[response] ");
                        buf.push_str(self.responses.get(u));
                    }
                }
                u += 1;
            }
            texts.push(&buf);
        }
        let rows = self.rows();
        Dataset {
            ids: self.ids.clone(),
            texts,
            labels: Categorical {
                codes: vec![0; rows],
                names: vec![self.shape.name().to_string()],
            },
            sources: None,
            embeddings: None,
            columns: ResolvedColumns {
                text: self.fields.names().join("+"),
                label: "shape".into(),
                id: self.fields.id.clone(),
                source: None,
                embedding: None,
            },
            skipped: self.skipped.clone(),
            lines: self.lines.clone(),
        }
    }
}

/// Read LLM data. See [`read_llm_with_progress`].
pub fn read_llm(path: &Path, opts: &LlmOptions) -> Result<LlmDataset, DataError> {
    read_llm_with_progress(path, opts, &mut |_, _| {})
}

/// Read an LLM data file (JSONL or Parquet; `-` is standard input, read as JSONL), calling
/// `progress(done, total)` in bytes (JSONL) or rows (Parquet).
pub fn read_llm_with_progress(
    path: &Path,
    opts: &LlmOptions,
    progress: &mut dyn FnMut(u64, Option<u64>),
) -> Result<LlmDataset, DataError> {
    let io_err = |source| DataError::Io {
        file: path.to_path_buf(),
        source,
    };
    let format = if crate::is_stdin(path) {
        opts.format.unwrap_or(InputFormat::Jsonl)
    } else {
        opts.format
            .or_else(|| InputFormat::from_path(path))
            .ok_or_else(|| DataError::UnknownFormat {
                file: path.to_path_buf(),
            })?
    };
    let mut reader = Reader::new(path, opts);
    match format {
        InputFormat::Jsonl => {
            if crate::is_stdin(path) {
                read_jsonl(std::io::stdin().lock(), None, &mut reader, progress)?;
            } else {
                let file = std::fs::File::open(path).map_err(io_err)?;
                let size = file.metadata().ok().filter(|m| m.is_file()).map(|m| m.len());
                read_jsonl(file, size, &mut reader, progress)?;
            }
        }
        InputFormat::Parquet => {
            let file = std::fs::File::open(path).map_err(io_err)?;
            parquet::read(file, &mut reader, progress)?;
        }
        InputFormat::Csv | InputFormat::Tsv => {
            return Err(DataError::InvalidFile {
                file: path.to_path_buf(),
                message: "LLM data (prompts, chats, preference pairs) is read from JSONL or Parquet, not CSV/TSV".into(),
            })
        }
    }
    reader.finish()
}

/// Rows recorded in canonical JSON (as [`LlmOptions::keep_records`] keeps them, what the ledger
/// stores), read back with the layout they were recorded under ([`layout_json`]). `origin`
/// names them in messages (a snapshot such as `NAME@3`); each row's id is the recorded one.
pub fn read_llm_records<'a>(
    origin: &Path,
    layout: &str,
    rows: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Result<LlmDataset, DataError> {
    let invalid = |message: String| DataError::InvalidFile {
        file: origin.to_path_buf(),
        message,
    };
    let mut opts = layout_options(layout)
        .ok_or_else(|| invalid(format!("not a layout of LLM rows: {layout}")))?;
    opts.format = Some(InputFormat::Jsonl);
    let mut reader = Reader::new(origin, &opts);
    let mut ids = TextArena::new();
    for (line, (id, json)) in (1u64..).zip(rows) {
        match serde_json::from_str::<Value>(json) {
            Ok(Value::Object(obj)) => reader.add(line, &obj)?,
            _ => return Err(invalid(format!("row '{id}' is not a JSON object"))),
        }
        ids.push(id);
    }
    let mut ds = reader.finish()?;
    ds.ids = RowIds::Column(ids);
    Ok(ds)
}

const PROGRESS_STEP: u64 = 1 << 20;

fn read_jsonl(
    input: impl Read,
    total: Option<u64>,
    reader: &mut Reader,
    progress: &mut dyn FnMut(u64, Option<u64>),
) -> Result<(), DataError> {
    let mut lines = BufReader::with_capacity(1 << 16, input);
    let mut buf = Vec::new();
    let (mut line_no, mut done, mut last) = (0u64, 0u64, 0u64);
    loop {
        buf.clear();
        let n = lines
            .read_until(b'\n', &mut buf)
            .map_err(|source| DataError::Io {
                file: reader.file.clone(),
                source,
            })?;
        if n == 0 {
            break;
        }
        line_no += 1;
        done += n as u64;
        if done - last >= PROGRESS_STEP {
            last = done;
            progress(done, total);
        }
        let bytes = if line_no == 1 {
            buf.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&buf)
        } else {
            &buf[..]
        };
        if bytes.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let parsed = std::str::from_utf8(bytes)
            .map_err(|e| crate::builder::utf8_message(&e))
            .and_then(|s| {
                serde_json::from_str::<Value>(s).map_err(|e| format!("invalid JSON: {e}"))
            });
        match parsed {
            Ok(Value::Object(obj)) => reader.add(line_no, &obj)?,
            Ok(_) => reader.fail(line_no, RowFault::line("expected a JSON object"))?,
            Err(msg) => reader.fail(line_no, RowFault::line(msg))?,
        }
    }
    progress(done, total);
    Ok(())
}

/// What is wrong with one row: the field (a path such as `messages[2].content`) and why.
#[derive(Debug)]
struct RowFault {
    field: Option<String>,
    message: String,
}

impl RowFault {
    fn line(message: impl Into<String>) -> Self {
        RowFault {
            field: None,
            message: message.into(),
        }
    }
    fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        RowFault {
            field: Some(field.into()),
            message: message.into(),
        }
    }
}

/// Turns row objects into units, checking them.
struct Reader {
    file: PathBuf,
    opts: LlmOptions,
    /// Resolved on the first object.
    resolved: Option<(Shape, LlmFields)>,
    ids: Option<TextArena>,
    ids_seen: std::collections::HashMap<String, u64>,
    lines: Vec<u64>,
    unit_row: Vec<u32>,
    prompts: TextArena,
    responses: TextArena,
    rejected: TextArena,
    systems: TextArena,
    turns: TextArena,
    records: Option<TextArena>,
    skipped: SkipReport,
    /// Scratch units of the row being read.
    pending: Vec<Unit>,
}

#[derive(Debug, Default)]
struct Unit {
    prompt: String,
    response: String,
    rejected: String,
    system: String,
    turn: String,
}

impl Reader {
    fn new(file: &Path, opts: &LlmOptions) -> Self {
        Reader {
            file: file.to_path_buf(),
            opts: opts.clone(),
            resolved: None,
            ids: opts.columns.id.as_ref().map(|_| TextArena::new()),
            ids_seen: Default::default(),
            lines: Vec::new(),
            unit_row: Vec::new(),
            prompts: TextArena::new(),
            responses: TextArena::new(),
            rejected: TextArena::new(),
            systems: TextArena::new(),
            turns: TextArena::new(),
            records: opts.keep_records.then(TextArena::new),
            skipped: SkipReport::default(),
            pending: Vec::new(),
        }
    }

    /// The columns a row must be read from, resolved from the first row's keys.
    fn resolve(&mut self, keys: &[String]) -> Result<(Shape, LlmFields), DataError> {
        if let Some(r) = &self.resolved {
            return Ok(r.clone());
        }
        let r = shape::resolve(&self.file, &self.opts, keys)?;
        self.resolved = Some(r.clone());
        Ok(r)
    }

    fn fail(&mut self, line: u64, fault: RowFault) -> Result<(), DataError> {
        if !self.opts.skip_invalid {
            return Err(match fault.field {
                Some(column) => DataError::InvalidRow {
                    file: self.file.clone(),
                    line,
                    column,
                    message: fault.message,
                },
                None => DataError::Malformed {
                    file: self.file.clone(),
                    line,
                    message: fault.message,
                },
            });
        }
        self.skipped.count += 1;
        if self.skipped.examples.len() < MAX_SKIP_EXAMPLES {
            let reason = match fault.field {
                Some(f) => format!("column '{f}': {}", fault.message),
                None => fault.message,
            };
            self.skipped.examples.push(SkippedRow { line, reason });
        }
        Ok(())
    }

    fn add(&mut self, line: u64, obj: &Map<String, Value>) -> Result<(), DataError> {
        let keys: Vec<String> = obj.keys().cloned().collect();
        let (shape, fields) = self.resolve(&keys)?;
        self.pending.clear();
        let id = match self.parse(shape, &fields, obj) {
            Ok(id) => id,
            Err(fault) => return self.fail(line, fault),
        };
        if let (Some(id), Some(col)) = (&id, &fields.id) {
            if let Some(first) = self.ids_seen.get(id) {
                let msg = format!(
                    "duplicate id '{}' (first seen on line {first})",
                    id.escape_debug()
                );
                return self.fail(line, RowFault::field(col.clone(), msg));
            }
            self.ids_seen.insert(id.clone(), line);
        }
        let row = self.lines.len() as u32;
        self.lines.push(line);
        if let (Some(ids), Some(id)) = (self.ids.as_mut(), id) {
            ids.push(&id);
        }
        for u in self.pending.drain(..) {
            self.unit_row.push(row);
            self.prompts.push(&u.prompt);
            self.responses.push(&u.response);
            self.rejected.push(&u.rejected);
            self.systems.push(&u.system);
            self.turns.push(&u.turn);
        }
        if let Some(records) = self.records.as_mut() {
            let mut json = String::new();
            canonical_object(obj, &mut json);
            records.push(&json);
        }
        Ok(())
    }

    /// Read one row into `self.pending`; returns its id when an id column is read.
    fn parse(
        &mut self,
        shape: Shape,
        fields: &LlmFields,
        obj: &Map<String, Value>,
    ) -> Result<Option<String>, RowFault> {
        let id = match &fields.id {
            Some(col) => Some(id_value(col, obj.get(col))?),
            None => None,
        };
        match shape {
            Shape::Instruction => {
                let col = fields.prompt.as_deref().unwrap_or("prompt");
                let mut prompt = required_text(col, obj.get(col))?;
                if let Some(input) = &fields.input {
                    let extra = optional_text(input, obj.get(input))?;
                    if !extra.trim().is_empty() {
                        prompt.push_str("\n\n");
                        prompt.push_str(&extra);
                    }
                }
                let col = fields.response.as_deref().unwrap_or("response");
                let response = required_text(col, obj.get(col))?;
                self.pending.push(Unit {
                    turn: prompt.clone(),
                    prompt,
                    response,
                    ..Unit::default()
                });
            }
            Shape::Chat => {
                let col = fields.messages.as_deref().unwrap_or("messages");
                let turns = messages(col, obj.get(col))?;
                chat_units(col, &turns, &mut self.pending)?;
            }
            Shape::Preference => {
                let chosen_col = fields.chosen.as_deref().unwrap_or("chosen");
                let rejected_col = fields.rejected.as_deref().unwrap_or("rejected");
                let prompt = match &fields.prompt {
                    Some(col) => Some(prompt_value(col, obj.get(col))?),
                    None => None,
                };
                let unit = preference_unit(
                    prompt,
                    (chosen_col, obj.get(chosen_col)),
                    (rejected_col, obj.get(rejected_col)),
                )?;
                self.pending.push(unit);
            }
            Shape::Classification => {
                return Err(RowFault::line(
                    "internal error: text-classification rows are read by read_dataset",
                ))
            }
        }
        Ok(id)
    }

    fn finish(self) -> Result<LlmDataset, DataError> {
        let Some((shape, fields)) = self.resolved else {
            return Err(DataError::Empty { file: self.file });
        };
        if self.lines.is_empty() {
            return Err(DataError::Empty { file: self.file });
        }
        let rows = self.lines.len();
        Ok(LlmDataset {
            shape,
            fields,
            ids: match self.ids {
                Some(a) => RowIds::Column(a),
                None => RowIds::RowNumbers(rows),
            },
            lines: self.lines,
            unit_row: self.unit_row,
            prompts: self.prompts,
            responses: self.responses,
            rejected: self.rejected,
            systems: self.systems,
            turns: self.turns,
            records: self.records,
            skipped: self.skipped,
        })
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn id_value(col: &str, v: Option<&Value>) -> Result<String, RowFault> {
    match v {
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.trim().to_string()),
        Some(Value::Number(n)) if n.is_i64() || n.is_u64() => Ok(n.to_string()),
        Some(Value::String(_)) => Err(RowFault::field(col, "empty id")),
        None => Err(RowFault::field(col, "missing value")),
        Some(v) => Err(RowFault::field(
            col,
            format!("expected a string or integer id, found {}", kind(v)),
        )),
    }
}

/// Text content: a string, or a list of parts (`{"type": "text", "text": ...}` or strings) as
/// in multimodal chat formats, whose text parts are joined.
fn content_text(field: &str, v: &Value) -> Result<String, RowFault> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Array(parts) => {
            let mut out = String::new();
            for (i, p) in parts.iter().enumerate() {
                let text = match p {
                    Value::String(s) => Some(s.as_str()),
                    Value::Object(o) => o.get("text").and_then(Value::as_str),
                    _ => None,
                };
                match (text, p) {
                    (Some(t), _) => {
                        if !out.is_empty() {
                            out.push('\n');
                        }
                        out.push_str(t);
                    }
                    // Non-text parts (images, audio) carry no text to scan.
                    (None, Value::Object(_)) => {}
                    (None, other) => {
                        return Err(RowFault::field(
                            format!("{field}[{i}]"),
                            format!("expected a text part, found {}", kind(other)),
                        ))
                    }
                }
            }
            Ok(out)
        }
        other => Err(RowFault::field(
            field,
            format!("expected a string, found {}", kind(other)),
        )),
    }
}

fn required_text(col: &str, v: Option<&Value>) -> Result<String, RowFault> {
    match v {
        None => Err(RowFault::field(col, "missing value")),
        Some(Value::Null) => Err(RowFault::field(col, "null value")),
        Some(v) => content_text(col, v),
    }
}

fn optional_text(col: &str, v: Option<&Value>) -> Result<String, RowFault> {
    match v {
        None | Some(Value::Null) => Ok(String::new()),
        Some(v) => content_text(col, v),
    }
}

/// A preference row's prompt: text, or a list of messages (rendered as their user turns).
fn prompt_value(col: &str, v: Option<&Value>) -> Result<String, RowFault> {
    match v {
        Some(Value::Array(items)) if items.iter().all(Value::is_object) => {
            let turns = messages(col, v)?;
            Ok(render_context(&turns))
        }
        _ => required_text(col, v),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    System,
    User,
    Assistant,
    Tool,
}

#[derive(Debug)]
struct Turn {
    role: Role,
    text: String,
}

fn role_of(field: &str, s: &str) -> Result<Role, RowFault> {
    match s.trim().to_ascii_lowercase().as_str() {
        "system" | "developer" => Ok(Role::System),
        "user" | "human" | "prompter" => Ok(Role::User),
        "assistant" | "gpt" | "model" | "bot" => Ok(Role::Assistant),
        "tool" | "function" | "ipython" | "observation" => Ok(Role::Tool),
        other => Err(RowFault::field(
            field,
            format!(
                "unknown role '{}' (expected system, user, assistant or tool)",
                other.escape_debug()
            ),
        )),
    }
}

/// A list of messages: `{"role", "content"}` (OpenAI, Hugging Face; `tool_calls` included) or
/// ShareGPT's `{"from", "value"}`.
fn messages(col: &str, v: Option<&Value>) -> Result<Vec<Turn>, RowFault> {
    let items = match v {
        None => return Err(RowFault::field(col, "missing value")),
        Some(Value::Array(items)) => items,
        Some(other) => {
            return Err(RowFault::field(
                col,
                format!("expected a list of messages, found {}", kind(other)),
            ))
        }
    };
    let mut turns = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let at = format!("{col}[{i}]");
        let Value::Object(m) = item else {
            return Err(RowFault::field(
                at,
                format!("expected a message object, found {}", kind(item)),
            ));
        };
        let role = match m.get("role").or_else(|| m.get("from")) {
            Some(Value::String(r)) => role_of(&format!("{at}.role"), r)?,
            Some(other) => {
                return Err(RowFault::field(
                    format!("{at}.role"),
                    format!("expected a string, found {}", kind(other)),
                ))
            }
            None => return Err(RowFault::field(format!("{at}.role"), "missing value")),
        };
        let (key, content) = match (m.get("content"), m.get("value")) {
            (Some(c), _) => ("content", Some(c)),
            (None, Some(c)) => ("value", Some(c)),
            (None, None) => ("content", None),
        };
        let mut text = match content {
            None | Some(Value::Null) => String::new(),
            Some(c) => content_text(&format!("{at}.{key}"), c)?,
        };
        if let Some(calls) = m.get("tool_calls").filter(|c| !c.is_null()) {
            render_tool_calls(&format!("{at}.tool_calls"), calls, &mut text)?;
        } else if let Some(call) = m.get("function_call").filter(|c| !c.is_null()) {
            render_tool_calls(
                &format!("{at}.function_call"),
                &Value::Array(vec![call.clone()]),
                &mut text,
            )?;
        }
        turns.push(Turn { role, text });
    }
    Ok(turns)
}

/// Tool calls as one JSON object each, `{"tool": NAME, "args": ARGUMENTS}`, so that calls in
/// `tool_calls` fields and calls written in the assistant's text read alike.
fn render_tool_calls(field: &str, calls: &Value, out: &mut String) -> Result<(), RowFault> {
    let Value::Array(calls) = calls else {
        return Err(RowFault::field(
            field,
            format!("expected a list of tool calls, found {}", kind(calls)),
        ));
    };
    for (i, call) in calls.iter().enumerate() {
        let Value::Object(c) = call else {
            return Err(RowFault::field(
                format!("{field}[{i}]"),
                format!("expected a tool call object, found {}", kind(call)),
            ));
        };
        let f = c.get("function").and_then(Value::as_object).unwrap_or(c);
        let name = f.get("name").and_then(Value::as_str).unwrap_or("");
        let args = match f.get("arguments").or_else(|| f.get("args")) {
            Some(Value::String(s)) => Value::String(s.clone()),
            Some(other) => Value::String(other.to_string()),
            None => Value::String(String::new()),
        };
        let rendered = serde_json::json!({"tool": name, "args": args});
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(&rendered.to_string());
    }
    Ok(())
}

/// The user and tool turns of a conversation, one per line.
fn render_context(turns: &[Turn]) -> String {
    let mut s = String::new();
    for t in turns
        .iter()
        .filter(|t| matches!(t.role, Role::User | Role::Tool))
    {
        if !s.is_empty() {
            s.push('\n');
        }
        s.push_str(&t.text);
    }
    s
}

/// The last user turn of a conversation (empty when it has none).
fn last_user(turns: &[Turn]) -> String {
    turns
        .iter()
        .rev()
        .find(|t| t.role == Role::User)
        .map(|t| t.text.clone())
        .unwrap_or_default()
}

/// A dialogue prompt's last human turn: after its last `Human:`/`User:` marker, without a
/// trailing `Assistant:`; the whole prompt when it has no markers.
pub fn last_human_turn(prompt: &str) -> &str {
    let start = ["Human:", "User:", "USER:", "user:"]
        .iter()
        .filter_map(|m| prompt.rfind(m).map(|i| i + m.len()))
        .max()
        .unwrap_or(0);
    let turn = &prompt[start..];
    let end = ["Assistant:", "ASSISTANT:", "assistant:"]
        .iter()
        .filter_map(|m| turn.rfind(m))
        .min()
        .unwrap_or(turn.len());
    turn[..end].trim()
}

/// One unit per assistant turn; its prompt is the user and tool turns before it.
fn chat_units(col: &str, turns: &[Turn], out: &mut Vec<Unit>) -> Result<(), RowFault> {
    let system = turns
        .iter()
        .filter(|t| t.role == Role::System)
        .map(|t| t.text.as_str())
        .collect::<Vec<_>>()
        .join("\n");
    for (j, t) in turns.iter().enumerate() {
        if t.role == Role::Assistant {
            out.push(Unit {
                prompt: render_context(&turns[..j]),
                response: t.text.clone(),
                rejected: String::new(),
                system: system.clone(),
                turn: last_user(&turns[..j]),
            });
        }
    }
    if out.is_empty() {
        return Err(RowFault::field(
            col,
            "the conversation has no assistant turn",
        ));
    }
    Ok(())
}

/// A preference unit. With a prompt, chosen and rejected are the responses (text, or messages
/// whose assistant turns are the response). Without one, they are whole dialogues: the shared
/// beginning is the prompt and what follows it the responses.
fn preference_unit(
    prompt: Option<String>,
    chosen: (&str, Option<&Value>),
    rejected: (&str, Option<&Value>),
) -> Result<Unit, RowFault> {
    let as_turns = |(col, v): (&str, Option<&Value>)| -> Result<Option<Vec<Turn>>, RowFault> {
        match v {
            Some(Value::Array(items)) if items.iter().all(Value::is_object) => {
                messages(col, v).map(Some)
            }
            _ => Ok(None),
        }
    };
    let (c_turns, r_turns) = (as_turns(chosen)?, as_turns(rejected)?);
    let mut turn = None;
    let (prompt, c, r) = match (c_turns, r_turns) {
        (Some(c), Some(r)) => {
            let shared = c
                .iter()
                .zip(&r)
                .take_while(|(a, b)| a.role == b.role && a.text == b.text)
                .count();
            let answer = |t: &[Turn]| {
                t.iter()
                    .filter(|t| t.role == Role::Assistant)
                    .map(|t| t.text.as_str())
                    .collect::<Vec<_>>()
                    .join("\n")
            };
            turn = Some(last_user(&c[..shared]));
            let p = prompt.unwrap_or_else(|| render_context(&c[..shared]));
            (p, answer(&c[shared..]), answer(&r[shared..]))
        }
        _ => {
            let c = required_text(chosen.0, chosen.1)?;
            let r = required_text(rejected.0, rejected.1)?;
            match prompt {
                Some(p) => (p, c, r),
                None => {
                    let cut = dialogue_split(&c, &r);
                    (
                        c[..cut].to_string(),
                        c[cut..].to_string(),
                        r[cut..].to_string(),
                    )
                }
            }
        }
    };
    let turn = match turn {
        Some(t) if !t.is_empty() => t,
        _ => last_human_turn(&prompt).to_string(),
    };
    Ok(Unit {
        prompt,
        response: c,
        rejected: r,
        system: String::new(),
        turn,
    })
}

/// Where two dialogues that share a beginning part: after the last assistant marker
/// (`Assistant:`) in their common prefix, else at the last line break in it, else at 0.
fn dialogue_split(a: &str, b: &str) -> usize {
    let mut common = a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count();
    while !a.is_char_boundary(common) {
        common -= 1;
    }
    let prefix = &a[..common];
    if let Some(i) = prefix.rfind("Assistant:") {
        return i + "Assistant:".len();
    }
    prefix.rfind('\n').map_or(0, |i| i + 1)
}

#[cfg(test)]
mod tests;
