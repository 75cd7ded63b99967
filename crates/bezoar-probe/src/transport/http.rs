//! A model served over HTTP, in one of two wire shapes:
//!
//! - **Open Inference Protocol v2** (KServe, Triton, MLServer): `POST {base}/v2/models/{name}/infer`
//!   with one BYTES input tensor of shape `[n]` holding the texts; the answer's `label` output
//!   (BYTES, `[n]`) and optional `probabilities` output (FP32, `[n, k]`) in the label order that
//!   `GET {base}/v2/models/{name}` lists under `parameters.labels`. Tensor names are settable.
//! - **Hugging Face text-classification pipeline** JSON: `POST {url}` with `{"inputs": [texts]}`,
//!   answered `[{"label", "score"}, ...]` (or, with every class scored, a list per text).

use std::sync::OnceLock;
use std::time::Duration;

use serde_json::{json, Value};

use crate::error::{excerpt, ProbeError, Result};
use crate::model::{Model, Prediction};
use crate::transport::{label_text, prediction_object, probability};

/// Largest answer body read (a runaway server is an error, not an OOM).
const MAX_BODY_BYTES: u64 = 64 << 20;

/// The wire shape an HTTP model speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Oip,
    HuggingFace,
}

impl Protocol {
    /// The default for a URL: OIP when the URL has no path or a `/v2/` one, else Hugging Face.
    pub fn guess(url: &str) -> Protocol {
        let path = url
            .split_once("://")
            .map_or(url, |(_, rest)| rest)
            .split_once('/')
            .map_or("", |(_, p)| p);
        if path.is_empty() || path.starts_with("v2/") || path == "v2" {
            Protocol::Oip
        } else {
            Protocol::HuggingFace
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Protocol::Oip => "oip",
            Protocol::HuggingFace => "hf",
        }
    }
}

/// Tensor names of the OIP text-classifier convention.
#[derive(Debug, Clone)]
pub struct OipTensors {
    pub input: String,
    pub label: String,
    pub probabilities: String,
}

impl Default for OipTensors {
    fn default() -> Self {
        Self {
            input: "text".into(),
            label: "label".into(),
            probabilities: "probabilities".into(),
        }
    }
}

pub struct HttpModel {
    /// What messages and records call it: the URL as given.
    endpoint: String,
    /// Where predictions are posted.
    infer_url: String,
    /// OIP: where the model's metadata is read.
    metadata_url: Option<String>,
    protocol: Protocol,
    tensors: OipTensors,
    agent: ureq::Agent,
    timeout: Duration,
    labels: OnceLock<Option<Vec<String>>>,
}

impl HttpModel {
    /// `url`: for OIP, the server's base URL (`http://host:8080`) with `model_name`, or the
    /// model's URL (`http://host:8080/v2/models/NAME`); for Hugging Face, the URL to post to.
    pub fn new(
        url: &str,
        protocol: Protocol,
        model_name: Option<&str>,
        tensors: OipTensors,
        timeout: Duration,
    ) -> Result<Self> {
        let url = url.trim_end_matches('/');
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(ProbeError::Input(format!(
                "the model URL must start with http:// or https://: {}",
                excerpt(url)
            )));
        }
        let (infer_url, metadata_url) = match protocol {
            Protocol::HuggingFace => (url.to_string(), None),
            Protocol::Oip => {
                let model_url = match (url.find("/v2/models/"), model_name) {
                    (Some(i), _) => {
                        let rest = &url[i + "/v2/models/".len()..];
                        let rest = rest.strip_suffix("/infer").unwrap_or(rest);
                        if rest.is_empty() {
                            return Err(ProbeError::Input(format!(
                                "{url}: the URL names no model after /v2/models/"
                            )));
                        }
                        format!("{}/v2/models/{rest}", &url[..i])
                    }
                    (None, Some(name)) => {
                        check_model_name(name)?;
                        format!("{url}/v2/models/{name}")
                    }
                    (None, None) => {
                        return Err(ProbeError::Input(format!(
                        "{url}: name the model: --model-name NAME, or --url {url}/v2/models/NAME"
                    )))
                    }
                };
                (format!("{model_url}/infer"), Some(model_url))
            }
        };
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .user_agent(concat!("bezoar/", env!("CARGO_PKG_VERSION")))
            .max_idle_connections_per_host(16)
            .build()
            .into();
        Ok(Self {
            endpoint: url.to_string(),
            infer_url,
            metadata_url,
            protocol,
            tensors,
            agent,
            timeout,
            labels: OnceLock::new(),
        })
    }

    fn transport_error(&self, e: ureq::Error) -> ProbeError {
        match e {
            ureq::Error::Timeout(_) => ProbeError::Timeout {
                endpoint: self.endpoint.clone(),
                seconds: self.timeout.as_secs(),
            },
            ureq::Error::BodyExceedsLimit(n) => ProbeError::bad_answer(
                &self.endpoint,
                format!("the answer is larger than {n} bytes"),
            ),
            other => ProbeError::Unreachable {
                endpoint: self.endpoint.clone(),
                reason: other.to_string(),
            },
        }
    }

    /// The body of a successful answer, parsed as JSON.
    fn answer(
        &self,
        resp: std::result::Result<http_response::Response, ureq::Error>,
    ) -> Result<Value> {
        let mut resp = resp.map_err(|e| self.transport_error(e))?;
        let status = resp.status().as_u16();
        let body = resp
            .body_mut()
            .with_config()
            .limit(MAX_BODY_BYTES)
            .read_to_vec()
            .map_err(|e| self.transport_error(e))?;
        let text = String::from_utf8_lossy(&body);
        if status >= 400 {
            return Err(ProbeError::Status {
                endpoint: self.endpoint.clone(),
                status,
                body: excerpt(&text),
            });
        }
        serde_json::from_slice(&body).map_err(|e| {
            ProbeError::bad_answer(
                &self.endpoint,
                format!("the answer is not JSON ({e}): {}", excerpt(&text)),
            )
        })
    }

    fn post(&self, body: &Value) -> Result<Value> {
        let bytes = serde_json::to_vec(body).expect("JSON encoding");
        self.answer(
            self.agent
                .post(&self.infer_url)
                .header("content-type", "application/json")
                .send(&bytes[..]),
        )
    }

    fn oip_labels(&self) -> Result<Option<Vec<String>>> {
        let Some(url) = &self.metadata_url else {
            return Ok(None);
        };
        if let Some(l) = self.labels.get() {
            return Ok(l.clone());
        }
        let meta = self.answer(self.agent.get(url).call())?;
        let labels = match meta.pointer("/parameters/labels") {
            None | Some(Value::Null) => None,
            Some(Value::Array(a)) => Some(
                a.iter()
                    .map(|v| {
                        label_text(v).ok_or_else(|| {
                            ProbeError::bad_answer(
                                &self.endpoint,
                                "parameters.labels in the model metadata must list label names",
                            )
                        })
                    })
                    .collect::<Result<Vec<_>>>()?,
            ),
            // KServe passes parameters as strings: accept a JSON list written as one.
            Some(Value::String(s)) => match serde_json::from_str::<Vec<Value>>(s) {
                Ok(a) => Some(a.iter().filter_map(label_text).collect()),
                Err(_) => Some(s.split(',').map(|x| x.trim().to_string()).collect()),
            },
            Some(other) => {
                return Err(ProbeError::bad_answer(
                    &self.endpoint,
                    format!(
                        "parameters.labels in the model metadata must be a list, got {}",
                        excerpt(&other.to_string())
                    ),
                ))
            }
        };
        let _ = self.labels.set(labels.clone());
        Ok(labels)
    }

    fn predict_oip(&self, texts: &[&str]) -> Result<Vec<Prediction>> {
        let n = texts.len();
        let body = json!({
            "inputs": [{
                "name": self.tensors.input,
                "shape": [n],
                "datatype": "BYTES",
                "data": texts,
            }]
        });
        let v = self.post(&body)?;
        let outputs = match v.get("outputs").and_then(Value::as_array) {
            Some(o) => o,
            None if v.is_array() => {
                return Err(ProbeError::bad_answer(
                    &self.endpoint,
                    "the answer is a list, as a Hugging Face pipeline answers, not an Open Inference Protocol v2 response: use --protocol hf",
                ))
            }
            None => {
                return Err(ProbeError::bad_answer(
                    &self.endpoint,
                    format!(
                        "an Open Inference Protocol v2 response has \"outputs\"; got {}",
                        excerpt(&v.to_string())
                    ),
                ))
            }
        };
        let tensor = |name: &str| {
            outputs
                .iter()
                .find(|o| o.get("name").and_then(Value::as_str) == Some(name))
        };
        let flat = |t: &Value| -> Vec<Value> {
            let mut out = Vec::new();
            flatten(t.get("data").unwrap_or(&Value::Null), &mut out);
            out
        };
        let labels = self.oip_labels()?;
        let probs = match (tensor(&self.tensors.probabilities), &labels) {
            (Some(t), Some(names)) => {
                let data = flat(t);
                if data.len() != n * names.len() {
                    return Err(ProbeError::bad_answer(
                        &self.endpoint,
                        format!(
                            "output {:?} holds {} numbers for {n} texts and {} labels",
                            self.tensors.probabilities,
                            data.len(),
                            names.len()
                        ),
                    ));
                }
                Some(
                    data.iter()
                        .map(|p| probability(&self.endpoint, p))
                        .collect::<Result<Vec<f32>>>()?,
                )
            }
            _ => None,
        };
        let names: Vec<String> = match tensor(&self.tensors.label) {
            Some(t) => {
                let data = flat(t);
                data.iter()
                    .map(|v| {
                        label_text(v).ok_or_else(|| {
                            ProbeError::bad_answer(
                                &self.endpoint,
                                format!("a label is not a string: {}", excerpt(&v.to_string())),
                            )
                        })
                    })
                    .collect::<Result<_>>()?
            }
            None => match (&probs, &labels) {
                // No label tensor: the label is the most probable class.
                (Some(p), Some(names)) => p
                    .chunks(names.len())
                    .map(|row| names[argmax(row)].clone())
                    .collect(),
                _ => {
                    let have: Vec<&str> = outputs
                        .iter()
                        .filter_map(|o| o.get("name").and_then(Value::as_str))
                        .collect();
                    return Err(ProbeError::bad_answer(
                        &self.endpoint,
                        format!(
                            "no output tensor {:?} (outputs: {}); name it with --label-tensor",
                            self.tensors.label,
                            have.join(", ")
                        ),
                    ));
                }
            },
        };
        if names.len() != n {
            return Err(ProbeError::bad_answer(
                &self.endpoint,
                format!("{} labels for {n} texts", names.len()),
            ));
        }
        Ok(names
            .into_iter()
            .enumerate()
            .map(|(i, label)| Prediction {
                label,
                scores: match (&probs, &labels) {
                    (Some(p), Some(l)) => Some(
                        l.iter()
                            .cloned()
                            .zip(p[i * l.len()..(i + 1) * l.len()].iter().copied())
                            .collect(),
                    ),
                    _ => None,
                },
            })
            .collect())
    }

    fn predict_hf(&self, texts: &[&str]) -> Result<Vec<Prediction>> {
        let v = self.post(&json!({ "inputs": texts }))?;
        let items = match &v {
            Value::Array(a) => a,
            Value::Object(o) if o.contains_key("outputs") => {
                return Err(ProbeError::bad_answer(
                    &self.endpoint,
                    "the answer is an Open Inference Protocol v2 response, not a Hugging Face pipeline's list: use --protocol oip",
                ))
            }
            other => {
                return Err(ProbeError::bad_answer(
                    &self.endpoint,
                    format!(
                        "a Hugging Face pipeline answers a list of {{\"label\", \"score\"}}; got {}",
                        excerpt(&other.to_string())
                    ),
                ))
            }
        };
        if items.len() != texts.len() {
            return Err(ProbeError::bad_answer(
                &self.endpoint,
                format!("{} answers for {} texts", items.len(), texts.len()),
            ));
        }
        items.iter().map(|item| self.hf_item(item)).collect()
    }

    /// One text's answer: `{"label", "score"}`, or a list of them (every class scored).
    fn hf_item(&self, item: &Value) -> Result<Prediction> {
        match item {
            Value::Array(classes) if !classes.is_empty() => {
                let mut scores = Vec::with_capacity(classes.len());
                for c in classes {
                    let label = c.get("label").and_then(label_text);
                    let score = c.get("score").map(|s| probability(&self.endpoint, s));
                    match (label, score) {
                        (Some(l), Some(s)) => scores.push((l, s?)),
                        _ => {
                            return Err(ProbeError::bad_answer(
                                &self.endpoint,
                                format!(
                                    "expected {{\"label\", \"score\"}}, got {}",
                                    excerpt(&c.to_string())
                                ),
                            ))
                        }
                    }
                }
                let best = scores
                    .iter()
                    .enumerate()
                    .max_by(|a, b| a.1 .1.total_cmp(&b.1 .1).then(b.0.cmp(&a.0)))
                    .map(|(i, _)| i)
                    .unwrap_or(0);
                Ok(Prediction {
                    label: scores[best].0.clone(),
                    scores: Some(scores),
                })
            }
            Value::Object(_) => {
                let mut p = prediction_object(&self.endpoint, item)?;
                if p.scores.is_none() {
                    if let Some(s) = item.get("score") {
                        p.scores = Some(vec![(p.label.clone(), probability(&self.endpoint, s)?)]);
                    }
                }
                // A single top-class score is not a distribution over classes.
                if p.scores.as_ref().is_some_and(|s| s.len() < 2) {
                    p.scores = None;
                }
                Ok(p)
            }
            other => Err(ProbeError::bad_answer(
                &self.endpoint,
                format!(
                    "expected {{\"label\", \"score\"}} per text, got {}",
                    excerpt(&other.to_string())
                ),
            )),
        }
    }
}

impl Model for HttpModel {
    fn endpoint(&self) -> &str {
        &self.endpoint
    }

    fn declared_labels(&self) -> Result<Option<Vec<String>>> {
        match self.protocol {
            Protocol::Oip => self.oip_labels(),
            Protocol::HuggingFace => Ok(None),
        }
    }

    fn predict(&self, texts: &[&str]) -> Result<Vec<Prediction>> {
        match self.protocol {
            Protocol::Oip => self.predict_oip(texts),
            Protocol::HuggingFace => self.predict_hf(texts),
        }
    }
}

mod http_response {
    pub type Response = ureq::http::Response<ureq::Body>;
}

/// A model name as it goes into a URL path: no separators, no escapes.
fn check_model_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 256
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && name != "."
        && name != "..";
    if ok {
        Ok(())
    } else {
        Err(ProbeError::Input(format!(
            "model name {:?}: use letters, digits, '-', '_' and '.'",
            excerpt(name)
        )))
    }
}

/// Row-major flattening of nested JSON arrays (some servers nest `[n, k]` tensors).
fn flatten(v: &Value, out: &mut Vec<Value>) {
    match v {
        Value::Array(a) => a.iter().for_each(|x| flatten(x, out)),
        other => out.push(other.clone()),
    }
}

fn argmax(row: &[f32]) -> usize {
    row.iter()
        .enumerate()
        .fold((0, f32::NEG_INFINITY), |best, (i, &p)| {
            if p > best.1 {
                (i, p)
            } else {
                best
            }
        })
        .0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_protocol_follows_the_url() {
        assert_eq!(Protocol::guess("http://h:8080"), Protocol::Oip);
        assert_eq!(Protocol::guess("http://h:8080/"), Protocol::Oip);
        assert_eq!(Protocol::guess("http://h/v2/models/m"), Protocol::Oip);
        assert_eq!(Protocol::guess("https://h/predict"), Protocol::HuggingFace);
    }

    #[test]
    fn an_oip_model_url_is_taken_apart() {
        let t = OipTensors::default();
        let d = Duration::from_secs(1);
        let m = HttpModel::new(
            "http://h:1/v2/models/sent/infer",
            Protocol::Oip,
            None,
            t.clone(),
            d,
        )
        .unwrap();
        assert_eq!(m.infer_url, "http://h:1/v2/models/sent/infer");
        assert_eq!(m.metadata_url.as_deref(), Some("http://h:1/v2/models/sent"));
        let m = HttpModel::new("http://h:1", Protocol::Oip, Some("sent"), t.clone(), d).unwrap();
        assert_eq!(m.infer_url, "http://h:1/v2/models/sent/infer");
        assert!(HttpModel::new("http://h:1", Protocol::Oip, None, t.clone(), d).is_err());
        assert!(HttpModel::new("http://h:1", Protocol::Oip, Some("../x"), t.clone(), d).is_err());
        assert!(HttpModel::new("file:///etc", Protocol::Oip, Some("m"), t, d).is_err());
    }
}
