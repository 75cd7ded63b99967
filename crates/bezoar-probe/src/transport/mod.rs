//! How the probe reaches a model: a long-running command over JSONL pipes, or HTTP.

pub mod command;
pub mod http;
#[cfg(feature = "onnx")]
pub mod onnx;

use serde_json::Value;

use crate::error::{ProbeError, Result};
use crate::model::Prediction;

/// A label as the model wrote it: a string, or a number written as JSON.
pub(crate) fn label_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A finite probability, or an error naming what was wrong.
pub(crate) fn probability(endpoint: &str, v: &Value) -> Result<f32> {
    match v.as_f64() {
        Some(p) if p.is_finite() => Ok(p as f32),
        _ => Err(ProbeError::bad_answer(
            endpoint,
            format!(
                "a score is not a finite number: {}",
                crate::error::excerpt(&v.to_string())
            ),
        )),
    }
}

/// `{"label": L, "scores": {label: p}}` (scores optional): the shape of one prediction in the
/// command protocol, and of a prediction object in general.
pub(crate) fn prediction_object(endpoint: &str, v: &Value) -> Result<Prediction> {
    if let Some(err) = v.get("error") {
        let msg = err
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| err.to_string());
        return Err(ProbeError::bad_answer(
            endpoint,
            format!(
                "the model reported an error: {}",
                crate::error::excerpt(&msg)
            ),
        ));
    }
    let label = v.get("label").and_then(label_text).ok_or_else(|| {
        ProbeError::bad_answer(
            endpoint,
            format!(
                "expected {{\"label\": ..., \"scores\": {{...}}}}, got {}",
                crate::error::excerpt(&v.to_string())
            ),
        )
    })?;
    let scores = match v.get("scores") {
        None | Some(Value::Null) => None,
        Some(Value::Object(m)) => Some(
            m.iter()
                .map(|(k, p)| Ok((k.clone(), probability(endpoint, p)?)))
                .collect::<Result<Vec<_>>>()?,
        ),
        Some(other) => {
            return Err(ProbeError::bad_answer(
                endpoint,
                format!(
                    "\"scores\" must be an object {{label: probability}}, got {}",
                    crate::error::excerpt(&other.to_string())
                ),
            ))
        }
    };
    Ok(Prediction { label, scores })
}
