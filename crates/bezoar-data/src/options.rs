use std::path::Path;

/// File formats bezoar reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputFormat {
    Jsonl,
    Csv,
    Tsv,
    Parquet,
}

impl InputFormat {
    /// Guess from the extension (`.jsonl`/`.ndjson`/`.json`, `.csv`, `.tsv`/`.tab`, `.parquet`/`.pq`).
    pub fn from_path(path: &Path) -> Option<Self> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "jsonl" | "ndjson" | "json" => Some(Self::Jsonl),
            "csv" => Some(Self::Csv),
            "tsv" | "tab" => Some(Self::Tsv),
            "parquet" | "pq" => Some(Self::Parquet),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Jsonl => "jsonl",
            Self::Csv => "csv",
            Self::Tsv => "tsv",
            Self::Parquet => "parquet",
        }
    }
}

impl std::str::FromStr for InputFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "jsonl" | "ndjson" | "json" => Ok(Self::Jsonl),
            "csv" => Ok(Self::Csv),
            "tsv" => Ok(Self::Tsv),
            "parquet" => Ok(Self::Parquet),
            other => Err(format!(
                "unknown input format '{other}' (expected jsonl, csv, tsv or parquet)"
            )),
        }
    }
}

/// Column names chosen by the user; `None` means "use the defaults".
#[derive(Debug, Clone, Default)]
pub struct ColumnSpec {
    /// Default: the first of `text`, `sentence`, `content` that exists.
    pub text: Option<String>,
    /// Default: the first of `label`, `labels`, `class` that exists.
    pub label: Option<String>,
    /// Default: none (ids are 0-based row numbers).
    pub id: Option<String>,
    pub source: Option<String>,
    /// A list-of-float column.
    pub embedding: Option<String>,
}

/// How to read a dataset file.
#[derive(Debug, Clone, Default)]
pub struct ReadOptions {
    /// `None`: chosen by the file extension.
    pub format: Option<InputFormat>,
    pub columns: ColumnSpec,
    /// Skip (and count) invalid rows instead of failing on the first one.
    pub skip_invalid: bool,
}
