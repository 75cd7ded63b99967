//! The in-memory dataset view every detector works on.
//!
//! Texts live in one contiguous buffer with offsets (no allocation per row); labels are interned
//! to dense class indices; ids are either implicit row numbers or an interned string column.

/// Many strings stored back to back in one buffer.
#[derive(Debug, Default, Clone)]
pub struct TextArena {
    buf: String,
    /// `ends[i]` is the end offset of string `i`; its start is `ends[i - 1]` (or 0).
    ends: Vec<usize>,
}

impl TextArena {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, s: &str) {
        self.buf.push_str(s);
        self.ends.push(self.buf.len());
    }

    pub fn get(&self, i: usize) -> &str {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.buf[start..self.ends[i]]
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Total bytes of text held.
    pub fn bytes(&self) -> usize {
        self.buf.len()
    }

    pub fn iter(&self) -> impl ExactSizeIterator<Item = &str> + '_ {
        (0..self.len()).map(move |i| self.get(i))
    }
}

/// Row identifiers: 0-based row numbers when the user named no id column. Row numbers count the
/// rows kept (rows dropped by `skip_invalid` are not numbered), in file order.
#[derive(Debug, Clone)]
pub enum RowIds {
    RowNumbers(usize),
    Column(TextArena),
}

impl RowIds {
    pub fn len(&self) -> usize {
        match self {
            RowIds::RowNumbers(n) => *n,
            RowIds::Column(a) => a.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The id of row `i` as text (row numbers are written in decimal).
    pub fn get(&self, i: usize) -> std::borrow::Cow<'_, str> {
        match self {
            RowIds::RowNumbers(_) => std::borrow::Cow::Owned(i.to_string()),
            RowIds::Column(a) => std::borrow::Cow::Borrowed(a.get(i)),
        }
    }
}

/// Dense user-supplied embeddings, row-major, `dim` floats per row, all finite.
#[derive(Debug, Clone)]
pub struct Embeddings {
    pub dim: usize,
    pub values: Vec<f32>,
}

impl Embeddings {
    pub fn row(&self, i: usize) -> &[f32] {
        &self.values[i * self.dim..(i + 1) * self.dim]
    }
}

/// A categorical column interned to dense indices (`codes[i]` indexes `names`).
#[derive(Debug, Clone, Default)]
pub struct Categorical {
    pub codes: Vec<u32>,
    pub names: Vec<String>,
}

impl Categorical {
    pub fn name_of(&self, row: usize) -> &str {
        &self.names[self.codes[row] as usize]
    }

    /// Number of rows in each category.
    pub fn counts(&self) -> Vec<usize> {
        let mut c = vec![0usize; self.names.len()];
        for &k in &self.codes {
            c[k as usize] += 1;
        }
        c
    }
}

/// One row that was skipped because of `--skip-invalid`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedRow {
    /// 1-based line (text formats) or row (Parquet) in the file.
    pub line: u64,
    pub reason: String,
}

/// Rows skipped while reading: the total and the first few, for the report.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SkipReport {
    pub count: u64,
    pub examples: Vec<SkippedRow>,
}

/// Which columns were actually used (after defaults were resolved).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResolvedColumns {
    pub text: String,
    pub label: String,
    pub id: Option<String>,
    pub source: Option<String>,
    pub embedding: Option<String>,
}

/// A labelled text dataset, as read from one file.
#[derive(Debug, Clone)]
pub struct Dataset {
    pub ids: RowIds,
    pub texts: TextArena,
    /// Class labels. Names are ordered numerically when every label is an integer, otherwise
    /// lexicographically, so class indices are deterministic for a given set of labels.
    pub labels: Categorical,
    pub sources: Option<Categorical>,
    pub embeddings: Option<Embeddings>,
    pub columns: ResolvedColumns,
    pub skipped: SkipReport,
    /// The 1-based line (text formats) or row (Parquet) each row was read from, so reports can
    /// point at it; empty when the rows did not come from a file (a ledger snapshot, stdin is a
    /// file too). 8 bytes a row.
    pub lines: Vec<u64>,
}

impl Dataset {
    pub fn len(&self) -> usize {
        self.texts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.texts.is_empty()
    }

    pub fn num_classes(&self) -> usize {
        self.labels.names.len()
    }
}
