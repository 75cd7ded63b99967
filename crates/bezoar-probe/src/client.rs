//! Talking to a model at scale: texts go in batches, several batches in flight at once (as the
//! model allows), transient failures retried with backoff, and every answer mapped onto the
//! data's own labels — an answer with a label the data does not have is an error, never guessed.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use rustc_hash::FxHashMap;

use crate::error::{ProbeError, Result};
use crate::model::Model;

/// How requests are sent.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Texts per request.
    pub batch_size: usize,
    /// Requests in flight at once (capped by what the model allows).
    pub concurrency: usize,
    /// Further tries of a request that failed transiently (unreachable, timeout, 5xx, 429).
    pub retries: u32,
    /// Wait before the first retry; doubled for each further one.
    pub backoff: Duration,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            batch_size: 64,
            concurrency: 4,
            retries: 2,
            backoff: Duration::from_millis(250),
        }
    }
}

/// The model's answers for a list of texts, in the data's terms.
#[derive(Debug, Clone, Default)]
pub struct Answers {
    /// Predicted class index (into the data's label names), per text.
    pub labels: Vec<u32>,
    /// Class probabilities per text, `k` per row in the data's label order, when the model gave
    /// them for every class.
    pub probs: Option<Vec<f32>>,
}

pub struct Client {
    model: Box<dyn Model>,
    opts: ClientOptions,
    /// The data's label names; class indices refer to these.
    classes: Vec<String>,
    /// Model label → data label, from `--label-map`.
    label_map: FxHashMap<String, String>,
    requests: AtomicU64,
    inputs: AtomicU64,
}

impl Client {
    pub fn new(
        model: Box<dyn Model>,
        opts: ClientOptions,
        classes: Vec<String>,
        label_map: FxHashMap<String, String>,
    ) -> Self {
        Self {
            model,
            opts,
            classes,
            label_map,
            requests: AtomicU64::new(0),
            inputs: AtomicU64::new(0),
        }
    }

    pub fn endpoint(&self) -> &str {
        self.model.endpoint()
    }

    /// Requests sent and texts classified so far.
    pub fn calls(&self) -> (u64, u64) {
        (
            self.requests.load(Ordering::Relaxed),
            self.inputs.load(Ordering::Relaxed),
        )
    }

    /// Check that the labels the model declares (if its protocol lists them) all map onto the
    /// data's labels: a model trained for another task fails here, before any probing.
    pub fn check_declared_labels(&self) -> Result<Option<Vec<String>>> {
        let declared = self.with_retries(|| self.model.declared_labels())?;
        if let Some(labels) = &declared {
            for l in labels {
                self.class_of(l)?;
            }
        }
        Ok(declared)
    }

    fn class_of(&self, model_label: &str) -> Result<u32> {
        let name = self
            .label_map
            .get(model_label)
            .map_or(model_label, String::as_str);
        self.classes
            .iter()
            .position(|c| c == name)
            .map(|i| i as u32)
            .ok_or_else(|| ProbeError::UnknownLabel {
                endpoint: self.model.endpoint().to_string(),
                label: crate::error::excerpt(model_label),
                known: self.classes.join(", "),
            })
    }

    fn with_retries<T>(&self, mut call: impl FnMut() -> Result<T>) -> Result<T> {
        let mut wait = self.opts.backoff;
        let mut tries = 0;
        loop {
            match call() {
                Err(e) if e.is_transient() && tries < self.opts.retries => {
                    tries += 1;
                    std::thread::sleep(wait);
                    wait *= 2;
                }
                other => return other,
            }
        }
    }

    /// Classify `texts`. Fails as a whole when any batch fails after its retries: a probe must
    /// not reach a verdict on part of its evidence.
    pub fn classify(&self, texts: &[String]) -> Result<Answers> {
        let k = self.classes.len();
        let n = texts.len();
        let batch = self.opts.batch_size.max(1);
        let batches = n.div_ceil(batch);
        let workers = self
            .opts
            .concurrency
            .max(1)
            .min(self.model.max_concurrency())
            .min(batches.max(1));
        let labels = Mutex::new(vec![0u32; n]);
        // Probabilities are kept only while every answer so far carried a full distribution.
        let probs = Mutex::new(Some(vec![0f32; n * k]));
        let next = AtomicUsize::new(0);
        let failure: Mutex<Option<ProbeError>> = Mutex::new(None);
        std::thread::scope(|s| {
            for _ in 0..workers {
                s.spawn(|| loop {
                    let b = next.fetch_add(1, Ordering::Relaxed);
                    if b >= batches || failure.lock().unwrap_or_else(|p| p.into_inner()).is_some() {
                        return;
                    }
                    let range = b * batch..((b + 1) * batch).min(n);
                    let chunk: Vec<&str> =
                        texts[range.clone()].iter().map(String::as_str).collect();
                    let res = self.with_retries(|| {
                        self.requests.fetch_add(1, Ordering::Relaxed);
                        self.model.predict(&chunk)
                    });
                    let res = res.and_then(|preds| {
                        if preds.len() != chunk.len() {
                            return Err(ProbeError::bad_answer(
                                self.model.endpoint(),
                                format!("{} answers for {} texts", preds.len(), chunk.len()),
                            ));
                        }
                        let mut rows = Vec::with_capacity(preds.len());
                        for p in &preds {
                            let class = self.class_of(&p.label)?;
                            let dist = match &p.scores {
                                Some(s) if s.len() == k => {
                                    let mut row = vec![f32::NAN; k];
                                    for (l, v) in s {
                                        row[self.class_of(l)? as usize] = *v;
                                    }
                                    row.iter().all(|v| v.is_finite()).then_some(row)
                                }
                                Some(s) => {
                                    for (l, _) in s {
                                        self.class_of(l)?;
                                    }
                                    None
                                }
                                None => None,
                            };
                            rows.push((class, dist));
                        }
                        Ok(rows)
                    });
                    match res {
                        Ok(rows) => {
                            self.inputs.fetch_add(rows.len() as u64, Ordering::Relaxed);
                            let mut l = labels.lock().unwrap_or_else(|p| p.into_inner());
                            let mut pr = probs.lock().unwrap_or_else(|p| p.into_inner());
                            for (j, (class, dist)) in rows.into_iter().enumerate() {
                                let i = range.start + j;
                                l[i] = class;
                                match (dist, pr.as_mut()) {
                                    (Some(d), Some(all)) => {
                                        all[i * k..(i + 1) * k].copy_from_slice(&d)
                                    }
                                    _ => *pr = None,
                                }
                            }
                        }
                        Err(e) => {
                            let mut f = failure.lock().unwrap_or_else(|p| p.into_inner());
                            f.get_or_insert(e);
                            return;
                        }
                    }
                });
            }
        });
        if let Some(e) = failure.into_inner().unwrap_or_else(|p| p.into_inner()) {
            return Err(e);
        }
        Ok(Answers {
            labels: labels.into_inner().unwrap_or_else(|p| p.into_inner()),
            probs: if n == 0 {
                None
            } else {
                probs.into_inner().unwrap_or_else(|p| p.into_inner())
            },
        })
    }
}
