//! The canonical JSON of an LLM data row and of the way it was read (its *layout*): what the
//! ledger stores and hashes, so that a row's digest covers every field the file gave it, and
//! two files that write the same row differently (key order, spacing, escapes, `1.0` vs `1.00`)
//! record the same content.
//!
//! Canonical form (documented in the ledger's FORMATS.md):
//! - objects: keys sorted by their UTF-8 bytes, written `{"k":v,...}` with no whitespace;
//! - arrays: `[v,...]` in order;
//! - strings: UTF-8, escaping only `"`, `\` and control characters (`\b \f \n \r \t`, others
//!   as lowercase `\u00XX`);
//! - numbers: integers exactly as decimal digits; other numbers in the shortest form that reads
//!   back to the same double (as serde_json writes them);
//! - `true`, `false`, `null`.
//!
//! This is written here rather than taken from a JCS (RFC 8785) crate because JCS turns every
//! number into a double, which would silently change large integer ids, and sorts keys by
//! UTF-16 units; the form above keeps integers exact and is a few dozen lines.

use serde_json::{Map, Value};

use super::{LlmColumns, LlmFields, LlmOptions, Shape};

/// Append the canonical JSON of `v` to `out`.
pub fn canonical_json(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => write_string(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical_json(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => canonical_object(map, out),
    }
}

/// Append the canonical JSON of an object to `out`.
pub fn canonical_object(map: &Map<String, Value>, out: &mut String) {
    let mut keys: Vec<&String> = map.keys().collect();
    keys.sort_unstable_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    out.push('{');
    for (i, k) in keys.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_string(k, out);
        out.push(':');
        canonical_json(&map[k], out);
    }
    out.push('}');
}

fn write_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// How rows were read: the shape and the field each part came from, as canonical JSON
/// (`{"chosen":"chosen","prompt":"prompt","rejected":"rejected","shape":"preference"}`).
pub fn layout_json(shape: Shape, fields: &LlmFields) -> String {
    let mut m = Map::new();
    m.insert("shape".into(), Value::String(shape.name().into()));
    for (k, v) in [
        ("prompt", &fields.prompt),
        ("input", &fields.input),
        ("response", &fields.response),
        ("messages", &fields.messages),
        ("chosen", &fields.chosen),
        ("rejected", &fields.rejected),
        ("id", &fields.id),
    ] {
        if let Some(v) = v {
            m.insert(k.into(), Value::String(v.clone()));
        }
    }
    let mut out = String::new();
    canonical_object(&m, &mut out);
    out
}

/// The shape and fields of a layout written by [`layout_json`]; `None` if it is not one.
pub fn parse_layout(layout: &str) -> Option<(Shape, LlmFields)> {
    let Value::Object(m) = serde_json::from_str::<Value>(layout).ok()? else {
        return None;
    };
    let shape: Shape = m.get("shape")?.as_str()?.parse().ok()?;
    let field = |k: &str| m.get(k).and_then(Value::as_str).map(str::to_string);
    Some((
        shape,
        LlmFields {
            prompt: field("prompt"),
            input: field("input"),
            response: field("response"),
            messages: field("messages"),
            chosen: field("chosen"),
            rejected: field("rejected"),
            id: field("id"),
        },
    ))
}

/// Options that read a file the way `layout` says rows were read (its shape and fields),
/// keeping each row's canonical JSON; `None` if `layout` is not one.
pub fn layout_options(layout: &str) -> Option<LlmOptions> {
    let (shape, fields) = parse_layout(layout)?;
    Some(LlmOptions {
        format: None,
        shape: Some(shape),
        columns: LlmColumns {
            prompt: fields.prompt,
            response: fields.response,
            messages: fields.messages,
            chosen: fields.chosen,
            rejected: fields.rejected,
            id: fields.id,
        },
        skip_invalid: false,
        keep_records: true,
    })
}

/// For a preference row: its canonical JSON with the values of the chosen and rejected fields
/// exchanged (what the row reads as when its pair is swapped). `None` for other layouts or a
/// record that is not an object.
pub fn swapped_pair(layout: &str, record: &str) -> Option<String> {
    let (shape, fields) = parse_layout(layout)?;
    if shape != Shape::Preference {
        return None;
    }
    let chosen = fields.chosen.unwrap_or_else(|| "chosen".into());
    let rejected = fields.rejected.unwrap_or_else(|| "rejected".into());
    let Value::Object(mut m) = serde_json::from_str::<Value>(record).ok()? else {
        return None;
    };
    let a = m.remove(&chosen);
    let b = m.remove(&rejected);
    if let Some(b) = b {
        m.insert(chosen, b);
    }
    if let Some(a) = a {
        m.insert(rejected, a);
    }
    let mut out = String::new();
    canonical_object(&m, &mut out);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canon(s: &str) -> String {
        let mut out = String::new();
        canonical_json(&serde_json::from_str(s).unwrap(), &mut out);
        out
    }

    #[test]
    fn key_order_spacing_and_escapes_do_not_matter() {
        let a = canon(r#"{ "b": [1, 2.50, true, null], "a": "x\u00e9\"\n\u0001" }"#);
        let b = canon("{\"a\":\"xé\\\"\\n\\u0001\",\"b\":[1,2.5,true,null]}");
        assert_eq!(a, b);
        assert_eq!(a, "{\"a\":\"xé\\\"\\n\\u0001\",\"b\":[1,2.5,true,null]}");
        // Integers stay exact, beyond what a double holds.
        assert_eq!(
            canon("{\"id\":12345678901234567890}"),
            "{\"id\":12345678901234567890}"
        );
        // Nested objects are sorted too; byte order puts upper case first.
        assert_eq!(canon(r#"{"m":{"z":1,"Z":2}}"#), r#"{"m":{"Z":2,"z":1}}"#);
        // Round trip: canonical JSON reads back to the same value.
        let v: Value = serde_json::from_str(&a).unwrap();
        assert_eq!(canon(&v.to_string()), a);
    }

    #[test]
    fn layout_round_trips_and_swaps_preference_pairs() {
        let fields = LlmFields {
            prompt: Some("q".into()),
            chosen: Some("good".into()),
            rejected: Some("bad".into()),
            ..LlmFields::default()
        };
        let layout = layout_json(Shape::Preference, &fields);
        assert_eq!(
            layout,
            r#"{"chosen":"good","prompt":"q","rejected":"bad","shape":"preference"}"#
        );
        assert_eq!(parse_layout(&layout), Some((Shape::Preference, fields)));
        let row = canon(r#"{"q":"hi","good":"A","bad":"B","n":1}"#);
        let swapped = swapped_pair(&layout, &row).unwrap();
        assert_eq!(swapped, canon(r#"{"q":"hi","good":"B","bad":"A","n":1}"#));
        assert_eq!(swapped_pair(&layout, &swapped).unwrap(), row);
        let chat = layout_json(Shape::Chat, &LlmFields::default());
        assert_eq!(swapped_pair(&chat, &row), None);
    }
}
