//! An ONNX text classifier run in-process, in the Hugging Face layout: `model.onnx` taking
//! `input_ids` and `attention_mask` (int64, `[batch, sequence]`; `token_type_ids` too when the
//! graph asks for it, all zeros) and returning logits `[batch, classes]` as its first output;
//! `tokenizer.json` (a `tokenizers` tokenizer); labels from `config.json`'s `id2label`.
//!
//! tract runs the graph (pure Rust, no native runtime to install); batches are padded to their
//! longest row with the tokenizer's pad id and masked.

use std::path::{Path, PathBuf};

use tract_onnx::prelude::*;

use crate::error::{ProbeError, Result};
use crate::model::{Model, Prediction};

/// Longest input fed to the model, in tokens, when the tokenizer sets no truncation.
const MAX_TOKENS: usize = 512;

type Plan = std::sync::Arc<TypedRunnableModel>;

pub struct OnnxModel {
    endpoint: String,
    plan: Plan,
    tokenizer: tokenizers::Tokenizer,
    labels: Vec<String>,
    /// Graph input positions of input_ids, attention_mask and token_type_ids.
    ids_at: usize,
    mask_at: Option<usize>,
    types_at: Option<usize>,
    inputs: usize,
    pad_id: i64,
    max_tokens: usize,
}

impl OnnxModel {
    /// Load `dir/model.onnx`, `dir/tokenizer.json` and `dir/config.json`.
    pub fn load(dir: &Path) -> Result<Self> {
        let endpoint = dir.display().to_string();
        let bad = |what: &str, e: &dyn std::fmt::Display| {
            ProbeError::Input(format!("{endpoint}: {what}: {e}"))
        };
        let file = |name: &str| -> Result<PathBuf> {
            let p = dir.join(name);
            if p.is_file() {
                Ok(p)
            } else {
                Err(ProbeError::Input(format!(
                    "{endpoint}: no {name} (an ONNX classifier directory holds model.onnx, tokenizer.json and config.json)"
                )))
            }
        };
        let config: serde_json::Value = serde_json::from_slice(
            &std::fs::read(file("config.json")?).map_err(|e| bad("cannot read config.json", &e))?,
        )
        .map_err(|e| bad("config.json is not JSON", &e))?;
        let labels = id2label(&config).map_err(|e| bad("config.json", &e))?;
        let tokenizer = tokenizers::Tokenizer::from_file(file("tokenizer.json")?)
            .map_err(|e| bad("cannot load tokenizer.json", &e))?;
        let model = tract_onnx::onnx()
            .model_for_path(file("model.onnx")?)
            .map_err(|e| bad("cannot load model.onnx", &e))?;
        let names: Vec<String> = model
            .input_outlets()
            .map_err(|e| bad("model.onnx", &e))?
            .iter()
            .map(|o| model.node(o.node).name.clone())
            .collect();
        let at = |n: &str| names.iter().position(|x| x == n);
        let ids_at = at("input_ids").ok_or_else(|| {
            ProbeError::Input(format!(
                "{endpoint}: model.onnx has no input named input_ids (its inputs: {})",
                names.join(", ")
            ))
        })?;
        let (mask_at, types_at) = (at("attention_mask"), at("token_type_ids"));
        if let Some(other) = names.iter().find(|n| {
            !matches!(
                n.as_str(),
                "input_ids" | "attention_mask" | "token_type_ids"
            )
        }) {
            return Err(ProbeError::Input(format!(
                "{endpoint}: model.onnx wants an input {other:?}; bezoar feeds input_ids, attention_mask and token_type_ids"
            )));
        }
        let plan = model
            .into_optimized()
            .and_then(|m| m.into_runnable())
            .map_err(|e| bad("cannot prepare model.onnx", &e))?;
        let pad_id = tokenizer.get_padding().map_or(0, |p| p.pad_id as i64);
        let max_tokens = tokenizer
            .get_truncation()
            .map_or(MAX_TOKENS, |t| t.max_length)
            .max(1);
        Ok(Self {
            endpoint,
            plan,
            tokenizer,
            labels,
            ids_at,
            mask_at,
            types_at,
            inputs: names.len(),
            pad_id,
            max_tokens,
        })
    }

    pub fn labels(&self) -> &[String] {
        &self.labels
    }

    fn logits(&self, texts: &[&str]) -> Result<Vec<f32>> {
        let enc = self
            .tokenizer
            .encode_batch(texts.to_vec(), true)
            .map_err(|e| ProbeError::bad_answer(&self.endpoint, format!("tokenizer: {e}")))?;
        // The tokenizer may pad a batch itself (tokenizer.json's `padding`): its attention mask
        // says which ids are real.
        let rows: Vec<(&[u32], &[u32])> = enc
            .iter()
            .map(|e| {
                let n = e.get_ids().len().min(self.max_tokens);
                (&e.get_ids()[..n], &e.get_attention_mask()[..n])
            })
            .collect();
        let b = texts.len();
        let s = rows.iter().map(|r| r.0.len()).max().unwrap_or(0).max(1);
        let mut id_buf = vec![self.pad_id; b * s];
        let mut mask = vec![0i64; b * s];
        for (row, (ids, real)) in rows.iter().enumerate() {
            for (j, (&t, &m)) in ids.iter().zip(real.iter()).enumerate() {
                id_buf[row * s + j] = t as i64;
                mask[row * s + j] = m as i64;
            }
        }
        let tensor = |v: Vec<i64>| -> Result<TValue> {
            Ok(tract_ndarray::Array2::from_shape_vec((b, s), v)
                .map_err(|e| ProbeError::bad_answer(&self.endpoint, e.to_string()))?
                .into_tvalue())
        };
        let mut inputs: Vec<Option<TValue>> = vec![None; self.inputs];
        inputs[self.ids_at] = Some(tensor(id_buf)?);
        if let Some(m) = self.mask_at {
            inputs[m] = Some(tensor(mask)?);
        }
        if let Some(t) = self.types_at {
            inputs[t] = Some(tensor(vec![0; b * s])?);
        }
        let inputs: TVec<TValue> = inputs
            .into_iter()
            .map(|x| x.expect("every input set"))
            .collect();
        let out = self.plan.run(inputs).map_err(|e| {
            ProbeError::bad_answer(&self.endpoint, format!("the model failed: {e}"))
        })?;
        let logits = out[0]
            .to_plain_array_view::<f32>()
            .map_err(|e| ProbeError::bad_answer(&self.endpoint, format!("logits: {e}")))?;
        let k = self.labels.len();
        if logits.shape() != [b, k] {
            return Err(ProbeError::bad_answer(
                &self.endpoint,
                format!(
                    "logits of shape {:?} for {b} texts and {k} labels in config.json",
                    logits.shape()
                ),
            ));
        }
        Ok(logits.iter().copied().collect())
    }
}

impl Model for OnnxModel {
    fn endpoint(&self) -> &str {
        &self.endpoint
    }

    fn declared_labels(&self) -> Result<Option<Vec<String>>> {
        Ok(Some(self.labels.clone()))
    }

    fn predict(&self, texts: &[&str]) -> Result<Vec<Prediction>> {
        let k = self.labels.len();
        let logits = self.logits(texts)?;
        Ok(logits
            .chunks(k)
            .map(|row| {
                let probs = softmax(row);
                let best = probs
                    .iter()
                    .enumerate()
                    .fold(0, |b, (i, &p)| if p > probs[b] { i } else { b });
                Prediction {
                    label: self.labels[best].clone(),
                    scores: Some(self.labels.iter().cloned().zip(probs).collect()),
                }
            })
            .collect())
    }
}

fn softmax(row: &[f32]) -> Vec<f32> {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exp: Vec<f32> = row.iter().map(|x| (x - max).exp()).collect();
    let sum: f32 = exp.iter().sum();
    exp.iter().map(|e| e / sum).collect()
}

/// Labels in logit order from `id2label` (`{"0": "neg", "1": "pos"}`): ids 0..k, each once.
fn id2label(config: &serde_json::Value) -> std::result::Result<Vec<String>, String> {
    let map = config
        .get("id2label")
        .and_then(|m| m.as_object())
        .ok_or("no id2label object")?;
    let mut labels = vec![None; map.len()];
    for (id, name) in map {
        let i: usize = id
            .parse()
            .map_err(|_| format!("id2label key {id:?} is not a class index"))?;
        let slot = labels
            .get_mut(i)
            .ok_or_else(|| format!("id2label skips ids: {i} with {} labels", map.len()))?;
        *slot = Some(
            crate::transport::label_text(name)
                .ok_or_else(|| format!("id2label[{id}] is not a label name"))?,
        );
    }
    if labels.is_empty() {
        return Err("id2label is empty".into());
    }
    Ok(labels.into_iter().map(|l| l.expect("filled")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id2label_gives_labels_in_logit_order() {
        let c = serde_json::json!({"id2label": {"1": "pos", "0": "neg"}});
        assert_eq!(id2label(&c).unwrap(), vec!["neg", "pos"]);
        for bad in [
            serde_json::json!({}),
            serde_json::json!({"id2label": {"0": "a", "2": "b"}}),
            serde_json::json!({"id2label": {"x": "a"}}),
            serde_json::json!({"id2label": {}}),
        ] {
            assert!(id2label(&bad).is_err(), "{bad}");
        }
        let p = softmax(&[1.0, 1.0]);
        assert!((p[0] - 0.5).abs() < 1e-6);
    }
}
