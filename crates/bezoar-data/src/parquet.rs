//! Parquet via the arrow reader: record batches are streamed and only the needed columns are
//! decoded.

use std::fmt::Write as _;
use std::panic::{catch_unwind, AssertUnwindSafe};

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Float32Type, Float64Type, Int16Type, Int32Type, Int64Type, Int8Type, UInt16Type, UInt32Type,
    UInt64Type, UInt8Type,
};
use arrow_array::{
    Array, ArrayRef, BooleanArray, FixedSizeListArray, Float32Array, Float64Array,
    GenericListArray, LargeStringArray, PrimitiveArray, RecordBatch, StringArray, StringViewArray,
};
use arrow_schema::DataType;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ProjectionMask;
use parquet::file::reader::ChunkReader;

use crate::builder::{check_finite, integral_float, Builder, RowError, RowRef};
use crate::error::DataError;
use crate::options::ReadOptions;
use crate::Progress;

const BATCH_SIZE: usize = 8192;

pub(crate) fn read<R: ChunkReader + 'static>(
    file: R,
    opts: &ReadOptions,
    builder: &mut Builder,
    progress: &mut Progress<'_>,
) -> Result<(), DataError> {
    // The parquet crate is not guaranteed to be panic-free on corrupt input (bad metadata or
    // page headers can trip assertions, slice indexing or arithmetic overflow deep inside the
    // decoders). Our API promises an error, never a panic, for any file, so a panic in there is
    // caught and reported as an invalid file. Everything captured here is either discarded on
    // failure (the caller drops the builder when we return an error) or only used to report
    // progress, so observing it after an unwind is harmless.
    let result = catch_unwind(AssertUnwindSafe(|| {
        read_inner(file, opts, builder, progress)
    }));
    match result {
        Ok(r) => r,
        Err(panic) => {
            let why = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown reason".to_string());
            Err(DataError::InvalidFile {
                file: builder.file().to_path_buf(),
                message: format!("corrupt Parquet file (the Parquet decoder failed: {why})"),
            })
        }
    }
}

fn invalid(builder: &Builder, message: String) -> DataError {
    DataError::InvalidFile {
        file: builder.file().to_path_buf(),
        message,
    }
}

fn read_inner<R: ChunkReader + 'static>(
    file: R,
    opts: &ReadOptions,
    builder: &mut Builder,
    progress: &mut Progress<'_>,
) -> Result<(), DataError> {
    let pq = ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(|e| invalid(builder, format!("not a readable Parquet file: {e}")))?;
    let schema = pq.schema().clone();
    let (cols, roots) = resolve_and_check(&schema, opts, builder)?;
    let total = u64::try_from(pq.metadata().file_metadata().num_rows()).ok();

    // Arrow fields map one to one onto Parquet root columns.
    let num_roots = pq.parquet_schema().root_schema().get_fields().len();
    if roots.iter().any(|&r| r >= num_roots) {
        return Err(invalid(
            builder,
            "schema does not match the Parquet columns".into(),
        ));
    }
    let mask = ProjectionMask::roots(pq.parquet_schema(), roots);
    let reader = pq
        .with_projection(mask)
        .with_batch_size(BATCH_SIZE)
        .build()
        .map_err(|e| invalid(builder, format!("cannot read Parquet data: {e}")))?;

    read_batch_stream(reader, &cols, builder, "decode Parquet data", &mut |done| {
        progress(done, total)
    })
}

/// Resolve the columns against `schema` and check their types up front, so that a wrong type
/// is one clear error, not one per row. Returns the columns and their indices in the schema.
fn resolve_and_check(
    schema: &arrow_schema::Schema,
    opts: &ReadOptions,
    builder: &mut Builder,
) -> Result<(crate::ResolvedColumns, Vec<usize>), DataError> {
    let available: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
    let cols = builder.resolve(&opts.columns, &available)?.clone();
    let mut wanted: Vec<(&str, &'static str)> = vec![(&cols.text, "text"), (&cols.label, "label")];
    if let Some(c) = &cols.id {
        wanted.push((c, "id"));
    }
    if let Some(c) = &cols.source {
        wanted.push((c, "source"));
    }
    let mut roots: Vec<usize> = Vec::new();
    for (name, role) in &wanted {
        let (i, field) = schema
            .column_with_name(name)
            .ok_or_else(|| invalid(builder, format!("column '{name}' vanished")))?;
        if !scalar_type_ok(field.data_type(), *role == "text") {
            return Err(invalid(
                builder,
                format!(
                    "column '{name}' has type {}, which cannot be used as {role} (expected {})",
                    field.data_type(),
                    if *role == "text" {
                        "a string, integer or boolean column"
                    } else {
                        "a string, integer, boolean or float column"
                    }
                ),
            ));
        }
        roots.push(i);
    }
    if let Some(name) = &cols.embedding {
        let (i, field) = schema
            .column_with_name(name)
            .ok_or_else(|| invalid(builder, format!("column '{name}' vanished")))?;
        if !embedding_type_ok(field.data_type()) {
            return Err(invalid(
                builder,
                format!(
                    "column '{name}' has type {}, which cannot be used as embedding (expected a list of float32 or float64)",
                    field.data_type()
                ),
            ));
        }
        roots.push(i);
    }
    Ok((cols, roots))
}

/// Read rows from Arrow record batches of `schema` (an in-memory table, an Arrow C stream from
/// another language): the columns are resolved and checked as for a Parquet file, and a row's
/// "line" is its 1-based row number.
pub(crate) fn read_record_batches<I>(
    schema: &arrow_schema::Schema,
    batches: I,
    opts: &ReadOptions,
    builder: &mut Builder,
) -> Result<(), DataError>
where
    I: IntoIterator<Item = Result<RecordBatch, arrow_schema::ArrowError>>,
{
    let (cols, _) = resolve_and_check(schema, opts, builder)?;
    read_batch_stream(batches, &cols, builder, "read the Arrow data", &mut |_| {})
}

/// Add every row of `batches` (of checked columns `cols`), numbering rows from 1 across
/// batches; `doing` says what failed when a batch cannot be had ("cannot {doing} after row N").
fn read_batch_stream<I>(
    batches: I,
    cols: &crate::ResolvedColumns,
    builder: &mut Builder,
    doing: &str,
    progress: &mut dyn FnMut(u64),
) -> Result<(), DataError>
where
    I: IntoIterator<Item = Result<RecordBatch, arrow_schema::ArrowError>>,
{
    let mut row_base: u64 = 0;
    let mut buffers = Buffers::default();
    for batch in batches {
        let batch = batch
            .map_err(|e| invalid(builder, format!("cannot {doing} after row {row_base}: {e}")))?;
        read_batch(&batch, cols, row_base, builder, &mut buffers)?;
        row_base += batch.num_rows() as u64;
        progress(row_base);
    }
    Ok(())
}

fn scalar_type_ok(t: &DataType, text: bool) -> bool {
    match t {
        DataType::Utf8
        | DataType::LargeUtf8
        | DataType::Utf8View
        | DataType::Boolean
        | DataType::Int8
        | DataType::Int16
        | DataType::Int32
        | DataType::Int64
        | DataType::UInt8
        | DataType::UInt16
        | DataType::UInt32
        | DataType::UInt64 => true,
        DataType::Float32 | DataType::Float64 => !text,
        DataType::Dictionary(_, values) => scalar_type_ok(values, text),
        _ => false,
    }
}

fn embedding_type_ok(t: &DataType) -> bool {
    let item = match t {
        DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _) => f,
        _ => return false,
    };
    matches!(item.data_type(), DataType::Float32 | DataType::Float64)
}

/// Reusable per-row buffers for values that are not strings in the file.
#[derive(Default)]
struct Buffers {
    text: String,
    label: String,
    id: String,
    source: String,
    emb: Vec<f32>,
}

/// The needed columns of one batch, downcast once.
struct BatchColumns<'a> {
    text: Scalar<'a>,
    label: Scalar<'a>,
    id: Option<Scalar<'a>>,
    source: Option<Scalar<'a>>,
    embedding: Option<EmbeddingColumn<'a>>,
}

impl BatchColumns<'_> {
    fn row<'b>(&'b self, i: usize, bufs: &'b mut Buffers) -> Result<RowRef<'b>, RowError> {
        let Buffers {
            text: tb,
            label: lb,
            id: ib,
            source: sb,
            emb,
        } = bufs;
        let text = self.text.get(i, tb, true)?;
        let label = self.label.get(i, lb, false)?;
        let id = match &self.id {
            Some(c) => Some(c.get(i, ib, false)?),
            None => None,
        };
        let source = match &self.source {
            Some(c) => Some(c.get(i, sb, false)?),
            None => None,
        };
        let embedding = match &self.embedding {
            Some(c) => {
                emb.clear();
                c.get(i, emb)?;
                Some(&emb[..])
            }
            None => None,
        };
        Ok(RowRef {
            text,
            label,
            id,
            source,
            embedding,
        })
    }
}

fn column<'a>(
    batch: &'a RecordBatch,
    name: &str,
    builder: &Builder,
) -> Result<&'a ArrayRef, DataError> {
    batch
        .column_by_name(name)
        .ok_or_else(|| DataError::InvalidFile {
            file: builder.file().to_path_buf(),
            message: format!("column '{name}' is missing from a record batch"),
        })
}

fn read_batch(
    batch: &RecordBatch,
    cols: &crate::ResolvedColumns,
    row_base: u64,
    builder: &mut Builder,
    bufs: &mut Buffers,
) -> Result<(), DataError> {
    let scalar = |name| -> Result<Scalar<'_>, DataError> {
        Ok(Scalar::new(column(batch, name, builder)?, name))
    };
    let columns = BatchColumns {
        text: scalar(&cols.text)?,
        label: scalar(&cols.label)?,
        id: cols.id.as_deref().map(scalar).transpose()?,
        source: cols.source.as_deref().map(scalar).transpose()?,
        embedding: match cols.embedding.as_deref() {
            Some(name) => Some(EmbeddingColumn::new(column(batch, name, builder)?, name)),
            None => None,
        },
    };
    for i in 0..batch.num_rows() {
        let line = row_base + i as u64 + 1;
        match columns.row(i, bufs) {
            Ok(r) => builder.add_row(line, r)?,
            Err(e) => builder.fail(line, e)?,
        }
    }
    Ok(())
}

/// A text/label/id/source column of one batch, downcast once.
enum ScalarArray<'a> {
    Utf8(&'a StringArray),
    LargeUtf8(&'a LargeStringArray),
    Utf8View(&'a StringViewArray),
    Bool(&'a BooleanArray),
    I8(&'a PrimitiveArray<Int8Type>),
    I16(&'a PrimitiveArray<Int16Type>),
    I32(&'a PrimitiveArray<Int32Type>),
    I64(&'a PrimitiveArray<Int64Type>),
    U8(&'a PrimitiveArray<UInt8Type>),
    U16(&'a PrimitiveArray<UInt16Type>),
    U32(&'a PrimitiveArray<UInt32Type>),
    U64(&'a PrimitiveArray<UInt64Type>),
    F32(&'a PrimitiveArray<Float32Type>),
    F64(&'a PrimitiveArray<Float64Type>),
    /// Dictionary-encoded: `keys[i]` indexes `values`.
    Dict {
        array: &'a dyn Array,
        keys: Vec<usize>,
        values: Box<ScalarArray<'a>>,
    },
    Unsupported,
}

impl<'a> ScalarArray<'a> {
    fn new(array: &'a dyn Array) -> Self {
        match array.data_type() {
            DataType::Utf8 => array.as_string_opt::<i32>().map(Self::Utf8),
            DataType::LargeUtf8 => array.as_string_opt::<i64>().map(Self::LargeUtf8),
            DataType::Utf8View => array.as_string_view_opt().map(Self::Utf8View),
            DataType::Boolean => array.as_boolean_opt().map(Self::Bool),
            DataType::Int8 => array.as_primitive_opt().map(Self::I8),
            DataType::Int16 => array.as_primitive_opt().map(Self::I16),
            DataType::Int32 => array.as_primitive_opt().map(Self::I32),
            DataType::Int64 => array.as_primitive_opt().map(Self::I64),
            DataType::UInt8 => array.as_primitive_opt().map(Self::U8),
            DataType::UInt16 => array.as_primitive_opt().map(Self::U16),
            DataType::UInt32 => array.as_primitive_opt().map(Self::U32),
            DataType::UInt64 => array.as_primitive_opt().map(Self::U64),
            DataType::Float32 => array.as_primitive_opt().map(Self::F32),
            DataType::Float64 => array.as_primitive_opt().map(Self::F64),
            DataType::Dictionary(_, _) => array.as_any_dictionary_opt().map(|d| Self::Dict {
                array,
                keys: d.normalized_keys(),
                values: Box::new(ScalarArray::new(d.values().as_ref())),
            }),
            _ => None,
        }
        .unwrap_or(Self::Unsupported)
    }

    fn is_null(&self, i: usize) -> bool {
        match self {
            Self::Utf8(a) => a.is_null(i),
            Self::LargeUtf8(a) => a.is_null(i),
            Self::Utf8View(a) => a.is_null(i),
            Self::Bool(a) => a.is_null(i),
            Self::I8(a) => a.is_null(i),
            Self::I16(a) => a.is_null(i),
            Self::I32(a) => a.is_null(i),
            Self::I64(a) => a.is_null(i),
            Self::U8(a) => a.is_null(i),
            Self::U16(a) => a.is_null(i),
            Self::U32(a) => a.is_null(i),
            Self::U64(a) => a.is_null(i),
            Self::F32(a) => a.is_null(i),
            Self::F64(a) => a.is_null(i),
            Self::Dict { array, .. } => array.is_null(i),
            Self::Unsupported => false,
        }
    }

    fn len(&self) -> usize {
        match self {
            Self::Utf8(a) => a.len(),
            Self::LargeUtf8(a) => a.len(),
            Self::Utf8View(a) => a.len(),
            Self::Bool(a) => a.len(),
            Self::I8(a) => a.len(),
            Self::I16(a) => a.len(),
            Self::I32(a) => a.len(),
            Self::I64(a) => a.len(),
            Self::U8(a) => a.len(),
            Self::U16(a) => a.len(),
            Self::U32(a) => a.len(),
            Self::U64(a) => a.len(),
            Self::F32(a) => a.len(),
            Self::F64(a) => a.len(),
            Self::Dict { array, .. } => array.len(),
            Self::Unsupported => 0,
        }
    }

    /// The value of row `i` as text: `Ok(None)` for null, `Err` for an unusable value.
    /// Numbers are written into `buf`.
    fn get<'b>(
        &'b self,
        i: usize,
        buf: &'b mut String,
        text: bool,
    ) -> Result<Option<&'b str>, String>
    where
        'a: 'b,
    {
        if i >= self.len() {
            return Err(format!("row {i} is out of range"));
        }
        if self.is_null(i) {
            return Ok(None);
        }
        buf.clear();
        macro_rules! int {
            ($a:expr) => {{
                let _ = write!(buf, "{}", $a.value(i));
                Ok(Some(buf.as_str()))
            }};
        }
        macro_rules! float {
            ($a:expr) => {{
                let v = f64::from($a.value(i));
                if text {
                    return Err("expected a string, found a float".to_string());
                }
                match integral_float(v, buf) {
                    Some(()) => Ok(Some(buf.as_str())),
                    None => Err(format!("expected a string or integer, found number {v}")),
                }
            }};
        }
        match self {
            Self::Utf8(a) => Ok(Some(a.value(i))),
            Self::LargeUtf8(a) => Ok(Some(a.value(i))),
            Self::Utf8View(a) => Ok(Some(a.value(i))),
            Self::Bool(a) => Ok(Some(if a.value(i) { "true" } else { "false" })),
            Self::I8(a) => int!(a),
            Self::I16(a) => int!(a),
            Self::I32(a) => int!(a),
            Self::I64(a) => int!(a),
            Self::U8(a) => int!(a),
            Self::U16(a) => int!(a),
            Self::U32(a) => int!(a),
            Self::U64(a) => int!(a),
            Self::F32(a) => float!(a),
            Self::F64(a) => float!(a),
            Self::Dict { keys, values, .. } => match keys.get(i) {
                Some(&k) => values.get(k, buf, text),
                None => Err(format!("row {i} is out of range")),
            },
            Self::Unsupported => Err("unsupported column type".to_string()),
        }
    }
}

/// A scalar column of one batch plus its name, for error messages.
struct Scalar<'a> {
    array: ScalarArray<'a>,
    name: &'a str,
}

impl<'a> Scalar<'a> {
    fn new(array: &'a ArrayRef, name: &'a str) -> Self {
        Scalar {
            array: ScalarArray::new(array.as_ref()),
            name,
        }
    }

    fn get<'b>(&'b self, i: usize, buf: &'b mut String, text: bool) -> Result<&'b str, RowError>
    where
        'a: 'b,
    {
        match self.array.get(i, buf, text) {
            Ok(Some(s)) => Ok(s),
            Ok(None) => Err(RowError::field(self.name, "null value")),
            Err(m) => Err(RowError::field(self.name, m)),
        }
    }
}

/// The float values under a list column.
enum FloatValues<'a> {
    F32(&'a Float32Array),
    F64(&'a Float64Array),
}

impl FloatValues<'_> {
    fn new(values: &ArrayRef) -> Option<FloatValues<'_>> {
        match values.data_type() {
            DataType::Float32 => values
                .as_primitive_opt::<Float32Type>()
                .map(FloatValues::F32),
            DataType::Float64 => values
                .as_primitive_opt::<Float64Type>()
                .map(FloatValues::F64),
            _ => None,
        }
    }

    /// Append values `start..end` to `out`, rejecting nulls and non-finite values.
    fn extend(&self, start: usize, end: usize, out: &mut Vec<f32>) -> Result<(), String> {
        let (len, nulls) = match self {
            FloatValues::F32(a) => (a.len(), a.nulls()),
            FloatValues::F64(a) => (a.len(), a.nulls()),
        };
        if start > end || end > len {
            return Err("list offsets out of range".to_string());
        }
        for (k, j) in (start..end).enumerate() {
            if nulls.is_some_and(|n| n.is_null(j)) {
                return Err(format!("null value at position {k}"));
            }
            let v = match self {
                FloatValues::F32(a) => f64::from(a.value(j)),
                FloatValues::F64(a) => a.value(j),
            };
            out.push(check_finite(k, v)?);
        }
        Ok(())
    }
}

/// An embedding column of one batch.
struct EmbeddingColumn<'a> {
    name: &'a str,
    kind: EmbeddingKind<'a>,
}

enum EmbeddingKind<'a> {
    List(&'a GenericListArray<i32>, FloatValues<'a>),
    LargeList(&'a GenericListArray<i64>, FloatValues<'a>),
    Fixed(&'a FixedSizeListArray, FloatValues<'a>),
    Unsupported,
}

impl<'a> EmbeddingColumn<'a> {
    fn new(array: &'a ArrayRef, name: &'a str) -> Self {
        let kind = match array.data_type() {
            DataType::List(_) => array
                .as_list_opt::<i32>()
                .and_then(|l| FloatValues::new(l.values()).map(|v| EmbeddingKind::List(l, v))),
            DataType::LargeList(_) => array
                .as_list_opt::<i64>()
                .and_then(|l| FloatValues::new(l.values()).map(|v| EmbeddingKind::LargeList(l, v))),
            DataType::FixedSizeList(_, _) => array
                .as_fixed_size_list_opt()
                .and_then(|l| FloatValues::new(l.values()).map(|v| EmbeddingKind::Fixed(l, v))),
            _ => None,
        }
        .unwrap_or(EmbeddingKind::Unsupported);
        EmbeddingColumn { name, kind }
    }

    fn get(&self, i: usize, out: &mut Vec<f32>) -> Result<(), RowError> {
        let err = |m: String| RowError::field(self.name, m);
        let (len, is_null) = match &self.kind {
            EmbeddingKind::List(l, _) => (l.len(), l.is_null(i)),
            EmbeddingKind::LargeList(l, _) => (l.len(), l.is_null(i)),
            EmbeddingKind::Fixed(l, _) => (l.len(), l.is_null(i)),
            EmbeddingKind::Unsupported => return Err(err("unsupported column type".into())),
        };
        if i >= len {
            return Err(err(format!("row {i} is out of range")));
        }
        if is_null {
            return Err(err("null value".into()));
        }
        fn bounds<O: TryInto<usize> + Copy>(o: &[O], i: usize) -> (usize, usize) {
            let at = |k: usize| o.get(k).and_then(|&x| x.try_into().ok());
            match (at(i), i.checked_add(1).and_then(at)) {
                (Some(s), Some(e)) => (s, e),
                _ => (usize::MAX, 0),
            }
        }
        let (start, end, values) = match &self.kind {
            EmbeddingKind::List(l, v) => {
                let (s, e) = bounds(l.value_offsets(), i);
                (s, e, v)
            }
            EmbeddingKind::LargeList(l, v) => {
                let (s, e) = bounds(l.value_offsets(), i);
                (s, e, v)
            }
            EmbeddingKind::Fixed(l, v) => {
                let size = usize::try_from(l.value_length()).unwrap_or(0);
                let s = i.saturating_mul(size);
                (s, s.saturating_add(size), v)
            }
            EmbeddingKind::Unsupported => return Err(err("unsupported column type".into())),
        };
        values.extend(start, end, out).map_err(err)
    }
}
