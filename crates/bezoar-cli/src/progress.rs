//! Progress on stderr: a bar while the file loads, then the scan stages. Only drawn when stderr
//! is a terminal and the user did not ask for `--quiet`; otherwise every call is a no-op.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// What the loader's `(done, total)` counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadUnit {
    Bytes,
    Rows,
}

pub struct Reporter {
    bar: Option<ProgressBar>,
}

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_spinner())
        .progress_chars("=> ")
}

impl Reporter {
    pub fn new(enabled: bool) -> Self {
        let bar = enabled.then(|| {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            bar.set_style(style("{spinner} {msg}"));
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        Self { bar }
    }

    /// A callback for `read_dataset_with_progress`.
    pub fn loader(&self, unit: LoadUnit) -> impl FnMut(u64, Option<u64>) + '_ {
        let mut styled = false;
        move |done, total| {
            let Some(bar) = &self.bar else { return };
            if !styled {
                styled = true;
                let template = match (unit, total.is_some()) {
                    (LoadUnit::Bytes, true) => {
                        "{spinner} reading [{bar:30}] {bytes}/{total_bytes} ({eta})"
                    }
                    (LoadUnit::Bytes, false) => "{spinner} reading {bytes}",
                    (LoadUnit::Rows, true) => {
                        "{spinner} reading [{bar:30}] {human_pos}/{human_len} rows ({eta})"
                    }
                    (LoadUnit::Rows, false) => "{spinner} reading {human_pos} rows",
                };
                bar.set_style(style(template));
            }
            if let Some(t) = total {
                bar.set_length(t);
            }
            bar.set_position(done);
        }
    }

    /// Switch the bar from loading to scanning.
    pub fn start_scan(&self) {
        if let Some(bar) = &self.bar {
            bar.set_style(style("{spinner} scanning [{bar:20}] {pos}/{len} {msg}"));
            bar.set_length(1);
            bar.set_position(0);
            bar.set_message("preparing");
        }
    }

    /// Run `f` (which writes to stderr) with the bar hidden, then redraw it.
    pub fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
        match &self.bar {
            Some(bar) => bar.suspend(f),
            None => f(),
        }
    }

    /// Remove the bar so the summary starts on a clean line.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl Drop for Reporter {
    fn drop(&mut self) {
        self.finish();
    }
}

impl bezoar_scan::Progress for Reporter {
    fn stage(&self, name: &str, step: usize, steps: usize) {
        if let Some(bar) = &self.bar {
            bar.set_length(steps as u64);
            bar.set_position(step as u64);
            bar.set_message(name.to_string());
        }
    }
}
