use std::io::Write as _;

use super::shape::shape_of_keys;
use super::*;
use arrow_array::Array as _;

fn write(name: &str, body: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::File::create(&path)
        .unwrap()
        .write_all(body.as_bytes())
        .unwrap();
    (dir, path)
}

fn read(body: &str) -> Result<LlmDataset, DataError> {
    let (_d, path) = write("data.jsonl", body);
    read_llm(&path, &LlmOptions::default())
}

#[test]
fn shapes_are_recognised_from_the_columns() {
    let keys = |k: &[&str]| k.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(
        shape_of_keys(&keys(&["text", "label"])),
        Shape::Classification
    );
    assert_eq!(shape_of_keys(&keys(&["id", "messages"])), Shape::Chat);
    assert_eq!(shape_of_keys(&keys(&["conversations"])), Shape::Chat);
    assert_eq!(
        shape_of_keys(&keys(&["prompt", "chosen", "rejected"])),
        Shape::Preference
    );
    assert_eq!(
        shape_of_keys(&keys(&["chosen", "rejected"])),
        Shape::Preference
    );
    assert_eq!(
        shape_of_keys(&keys(&["prompt", "response"])),
        Shape::Instruction
    );
    assert_eq!(
        shape_of_keys(&keys(&["instruction", "input", "output"])),
        Shape::Instruction
    );
    assert_eq!(shape_of_keys(&keys(&["foo"])), Shape::Classification);

    let (_d, path) = write("x.jsonl", "\n{\"messages\": []}\n");
    assert_eq!(
        detect_shape(&path, &LlmOptions::default()).unwrap(),
        Shape::Chat
    );
    let flagged = LlmOptions {
        columns: LlmColumns {
            chosen: Some("good".into()),
            ..Default::default()
        },
        ..Default::default()
    };
    assert_eq!(detect_shape(&path, &flagged).unwrap(), Shape::Preference);
}

#[test]
fn alpaca_rows_join_instruction_and_input() {
    let ds = read(concat!(
        r#"{"instruction": "Translate", "input": "bonjour", "output": "hello"}"#,
        "\n",
        r#"{"instruction": "Say hi", "input": "", "output": "hi"}"#,
        "\n"
    ))
    .unwrap();
    assert_eq!(ds.shape, Shape::Instruction);
    assert_eq!(ds.fields.names(), vec!["instruction", "input", "output"]);
    assert_eq!(ds.prompts.get(0), "Translate\n\nbonjour");
    assert_eq!(ds.prompts.get(1), "Say hi");
    assert_eq!(ds.responses.get(1), "hi");
    assert_eq!(ds.lines, vec![1, 2]);
}

#[test]
fn each_assistant_turn_is_a_unit_with_the_conversation_before_it() {
    let ds = read(concat!(
        r#"{"messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}, {"role": "user", "content": "list files"}, {"role": "assistant", "content": null, "tool_calls": [{"type": "function", "function": {"name": "shell", "arguments": "{\"cmd\": \"ls\"}"}}]}, {"role": "tool", "content": "a.txt"}, {"role": "assistant", "content": [{"type": "text", "text": "one file"}]}]}"#,
        "\n",
        r#"{"conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "a"}]}"#,
        "\n"
    ));
    // The second row uses another column name than the first: an error naming it.
    let err = ds.unwrap_err().to_string();
    assert!(err.contains(":2:") && err.contains("messages"), "{err}");

    let ds = read(concat!(
        r#"{"messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}, {"role": "user", "content": "list files"}, {"role": "assistant", "content": null, "tool_calls": [{"type": "function", "function": {"name": "shell", "arguments": "{\"cmd\": \"ls\"}"}}]}, {"role": "tool", "content": "a.txt"}, {"role": "assistant", "content": [{"type": "text", "text": "one file"}]}]}"#,
        "\n"
    ))
    .unwrap();
    assert_eq!(ds.shape, Shape::Chat);
    assert_eq!(ds.rows(), 1);
    assert_eq!(ds.units(), 3);
    assert_eq!(ds.unit_row, vec![0, 0, 0]);
    assert_eq!(ds.prompts.get(0), "hi");
    assert_eq!(ds.responses.get(0), "hello");
    assert_eq!(ds.prompts.get(1), "hi\nlist files");
    assert_eq!(
        ds.responses.get(1),
        r#"{"args":"{\"cmd\": \"ls\"}","tool":"shell"}"#
    );
    assert_eq!(ds.prompts.get(2), "hi\nlist files\na.txt");
    assert_eq!(ds.responses.get(2), "one file");
    assert_eq!(ds.systems.get(0), "be brief");

    let sharegpt = read(concat!(
        r#"{"conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "a"}]}"#,
        "\n"
    ))
    .unwrap();
    assert_eq!(sharegpt.prompts.get(0), "q");
    assert_eq!(sharegpt.responses.get(0), "a");
}

#[test]
fn preference_pairs_split_whole_dialogues_at_the_last_assistant_turn() {
    let ds = read(concat!(
        r#"{"chosen": "\n\nHuman: hi\n\nAssistant: Hello there", "rejected": "\n\nHuman: hi\n\nAssistant: Go away"}"#,
        "\n",
        r#"{"prompt": "p", "chosen": "c", "rejected": "r"}"#,
        "\n",
    ));
    // Rows must keep the columns of the first: the second row has a prompt the first lacks,
    // which is fine, because a prompt is optional for preference pairs.
    let ds = ds.unwrap();
    assert_eq!(ds.shape, Shape::Preference);
    assert_eq!(ds.prompts.get(0), "\n\nHuman: hi\n\nAssistant:");
    assert_eq!(ds.responses.get(0), " Hello there");
    assert_eq!(ds.rejected.get(0), " Go away");

    let msgs = read(concat!(
        r#"{"chosen": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "good"}], "rejected": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "bad"}]}"#,
        "\n"
    ))
    .unwrap();
    assert_eq!(msgs.prompts.get(0), "q");
    assert_eq!(msgs.responses.get(0), "good");
    assert_eq!(msgs.rejected.get(0), "bad");
}

#[test]
fn errors_name_file_line_and_field() {
    let cases = [
        (
            "{\"prompt\": \"a\", \"response\": 3}\n",
            "column 'response': expected a string, found number",
        ),
        (
            "{\"prompt\": \"a\", \"response\": \"b\"}\n{\"prompt\": \"a\"}\n",
            ":2: column 'response': missing value",
        ),
        (
            "{\"messages\": [{\"role\": \"user\", \"content\": \"q\"}, {\"role\": \"wizard\", \"content\": \"x\"}]}\n",
            "column 'messages[1].role': unknown role 'wizard'",
        ),
        (
            "{\"messages\": [{\"role\": \"user\", \"content\": \"q\"}]}\n",
            "the conversation has no assistant turn",
        ),
        (
            "{\"messages\": \"hi\"}\n",
            "expected a list of messages, found string",
        ),
        ("{\"prompt\": \"a\", \"response\": \"b\"}\n[1]\n", ":2: expected a JSON object"),
        ("{\"prompt\": \"a\", \"response\": \"b\"}\n{bad\n", ":2: invalid JSON"),
    ];
    for (body, want) in cases {
        let err = read(body).unwrap_err().to_string();
        assert!(err.contains("data.jsonl"), "{err}");
        assert!(err.contains(want), "{body:?}: {err}");
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data.jsonl");
    std::fs::write(&path, b"{\"prompt\": \"a\", \"response\": \"b\"}\n\xff\n").unwrap();
    let err = read_llm(&path, &LlmOptions::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains(":2: invalid UTF-8"), "{err}");
    assert!(matches!(read(""), Err(DataError::Empty { .. })));
    assert!(matches!(read("\n\n"), Err(DataError::Empty { .. })));
}

#[test]
fn skip_invalid_counts_bad_rows() {
    let (_d, path) = write(
        "data.jsonl",
        "{\"prompt\": \"a\", \"response\": \"b\"}\n{\"prompt\": 1, \"response\": \"b\"}\nnope\n{\"prompt\": \"c\", \"response\": \"d\"}\n",
    );
    let opts = LlmOptions {
        skip_invalid: true,
        ..Default::default()
    };
    let ds = read_llm(&path, &opts).unwrap();
    assert_eq!(ds.rows(), 2);
    assert_eq!(ds.lines, vec![1, 4]);
    assert_eq!(ds.skipped.count, 2);
    assert_eq!(ds.skipped.examples[0].line, 2);
}

#[test]
fn ids_come_from_the_named_column_and_must_be_unique() {
    let (_d, path) = write(
        "data.jsonl",
        "{\"id\": \"a\", \"prompt\": \"p\", \"response\": \"r\"}\n{\"id\": \"a\", \"prompt\": \"p\", \"response\": \"r\"}\n",
    );
    let opts = LlmOptions {
        columns: LlmColumns {
            id: Some("id".into()),
            ..Default::default()
        },
        ..Default::default()
    };
    let err = read_llm(&path, &opts).unwrap_err().to_string();
    assert!(
        err.contains(":2: column 'id': duplicate id 'a' (first seen on line 1)"),
        "{err}"
    );
}

#[test]
fn parquet_chats_read_like_jsonl() {
    use arrow_array::builder::{ListBuilder, StringBuilder, StructBuilder};
    use arrow_schema::{DataType, Field, Fields};
    let fields = Fields::from(vec![
        Field::new("role", DataType::Utf8, true),
        Field::new("content", DataType::Utf8, true),
    ]);
    let mut messages = ListBuilder::new(StructBuilder::from_fields(fields.clone(), 4));
    for (role, content) in [("user", "q1"), ("assistant", "a1")] {
        let s = messages.values();
        s.field_builder::<StringBuilder>(0)
            .unwrap()
            .append_value(role);
        s.field_builder::<StringBuilder>(1)
            .unwrap()
            .append_value(content);
        s.append(true);
    }
    messages.append(true);
    let array = messages.finish();
    let schema = std::sync::Arc::new(arrow_schema::Schema::new(vec![Field::new(
        "messages",
        array.data_type().clone(),
        true,
    )]));
    let batch = arrow_array::RecordBatch::try_new(schema.clone(), vec![std::sync::Arc::new(array)])
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("chat.parquet");
    let mut w =
        ::parquet::arrow::ArrowWriter::try_new(std::fs::File::create(&path).unwrap(), schema, None)
            .unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    assert_eq!(
        detect_shape(&path, &LlmOptions::default()).unwrap(),
        Shape::Chat
    );
    let ds = read_llm(&path, &LlmOptions::default()).unwrap();
    assert_eq!(ds.prompts.get(0), "q1");
    assert_eq!(ds.responses.get(0), "a1");
    assert_eq!(ds.lines, vec![1]);
}

#[test]
fn each_unit_knows_the_user_turn_it_answers() {
    let ds = read(concat!(
        r#"{"messages": [{"role": "user", "content": "first"}, {"role": "assistant", "content": "a"}, {"role": "user", "content": "second"}, {"role": "assistant", "content": "b"}]}"#,
        "\n"
    ))
    .unwrap();
    assert_eq!(ds.turns.get(0), "first");
    assert_eq!(ds.turns.get(1), "second");
    assert_eq!(
        last_human_turn("\n\nHuman: hi\n\nAssistant: yo\n\nHuman: bye now\n\nAssistant:"),
        "bye now"
    );
    assert_eq!(last_human_turn("plain prompt"), "plain prompt");
}
