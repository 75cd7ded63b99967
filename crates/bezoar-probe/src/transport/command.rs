//! A model served by a command: bezoar starts it once, writes one JSON request per line on its
//! stdin (`{"text": "..."}`) and reads one JSON prediction per line from its stdout
//! (`{"label": "...", "scores": {"label": p, ...}}`, scores optional). The process is kept
//! running across batches and killed when the probe ends.
//!
//! Requests are written by a writer thread and answers read by a reader thread, so a model that
//! answers line by line while bezoar is still writing cannot fill a pipe and deadlock; a model
//! that stops answering is caught by the timeout, killed, and restarted on the next batch.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::error::{ProbeError, Result};
use crate::model::{Model, Prediction};

/// Lines of the command's stderr kept for an error message.
const STDERR_LINES: usize = 8;
/// Longest answer line read from the model (a runaway line is an error, not an OOM).
const MAX_LINE_BYTES: u64 = 16 << 20;

pub struct CommandModel {
    command: String,
    timeout: Duration,
    running: Mutex<Option<Running>>,
}

struct Running {
    child: Child,
    requests: Option<Sender<Vec<u8>>>,
    answers: Receiver<std::io::Result<String>>,
    stderr: Arc<Mutex<VecDeque<String>>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        // Closing stdin lets a well-behaved model exit; kill covers the rest.
        self.requests.take();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl CommandModel {
    /// `command` is a shell command line (run with `sh -c`), e.g. `python serve.py --model m`.
    pub fn new(command: &str, timeout: Duration) -> Result<Self> {
        if command.trim().is_empty() {
            return Err(ProbeError::Input("the model command is empty".into()));
        }
        Ok(Self {
            command: command.to_string(),
            timeout,
            running: Mutex::new(None),
        })
    }

    fn start(&self) -> Result<Running> {
        let spawn_err = |e: std::io::Error| ProbeError::Spawn {
            command: self.command.clone(),
            reason: e.to_string(),
        };
        let mut child = shell(&self.command)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(spawn_err)?;
        let mut stdin: ChildStdin = child.stdin.take().expect("piped stdin");
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr_pipe = child.stderr.take().expect("piped stderr");

        let (req_tx, req_rx) = mpsc::channel::<Vec<u8>>();
        std::thread::spawn(move || {
            block_sigpipe();
            for payload in req_rx {
                if stdin
                    .write_all(&payload)
                    .and_then(|()| stdin.flush())
                    .is_err()
                {
                    break;
                }
            }
        });
        let (ans_tx, ans_rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            loop {
                let mut line = Vec::new();
                let got = (&mut reader)
                    .take(MAX_LINE_BYTES)
                    .read_until(b'\n', &mut line);
                let msg = match got {
                    Ok(0) => break,
                    Ok(_) if !line.ends_with(b"\n") && line.len() as u64 >= MAX_LINE_BYTES => {
                        Err(std::io::Error::other(format!(
                            "an answer line is over {MAX_LINE_BYTES} bytes"
                        )))
                    }
                    Ok(_) => String::from_utf8(line)
                        .map_err(|_| std::io::Error::other("an answer line is not valid UTF-8")),
                    Err(e) => Err(e),
                };
                let stop = msg.is_err();
                if ans_tx.send(msg).is_err() || stop {
                    break;
                }
            }
        });
        let stderr = Arc::new(Mutex::new(VecDeque::new()));
        let tail = Arc::clone(&stderr);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr_pipe).lines() {
                let Ok(line) = line else { break };
                let mut t = tail.lock().unwrap_or_else(|p| p.into_inner());
                if t.len() == STDERR_LINES {
                    t.pop_front();
                }
                t.push_back(line);
            }
        });
        Ok(Running {
            child,
            requests: Some(req_tx),
            answers: ans_rx,
            stderr,
        })
    }

    /// Why the process is gone, with the end of its stderr.
    fn exited(&self, run: &mut Running) -> ProbeError {
        // Give the stderr reader a moment to collect the last words.
        let status = match run.child.wait_timeout(Duration::from_millis(500)) {
            Some(s) => s,
            None => "still running, but it closed its stdout".to_string(),
        };
        std::thread::sleep(Duration::from_millis(50));
        let tail = run.stderr.lock().unwrap_or_else(|p| p.into_inner());
        let stderr = if tail.is_empty() {
            String::new()
        } else {
            format!(
                "; its stderr ends: {}",
                crate::error::excerpt(&tail.iter().cloned().collect::<Vec<_>>().join(" | "))
            )
        };
        ProbeError::Exited {
            endpoint: self.command.clone(),
            status,
            stderr,
        }
    }

    fn exchange(&self, run: &mut Running, texts: &[&str]) -> Result<Vec<Prediction>> {
        let mut payload = Vec::with_capacity(texts.iter().map(|t| t.len() + 12).sum());
        for t in texts {
            serde_json::to_writer(&mut payload, &serde_json::json!({ "text": t }))
                .expect("JSON encoding of a string");
            payload.push(b'\n');
        }
        let sent = run
            .requests
            .as_ref()
            .is_some_and(|tx| tx.send(payload).is_ok());
        if !sent {
            return Err(self.exited(run));
        }
        let deadline = Instant::now() + self.timeout;
        let mut out = Vec::with_capacity(texts.len());
        while out.len() < texts.len() {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = match run.answers.recv_timeout(left) {
                Ok(Ok(line)) => line,
                Ok(Err(e)) => {
                    return Err(ProbeError::bad_answer(&self.command, e.to_string()));
                }
                Err(RecvTimeoutError::Timeout) => {
                    return Err(ProbeError::Timeout {
                        endpoint: self.command.clone(),
                        seconds: self.timeout.as_secs(),
                    })
                }
                Err(RecvTimeoutError::Disconnected) => return Err(self.exited(run)),
            };
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            let v: serde_json::Value = serde_json::from_str(line).map_err(|e| {
                ProbeError::bad_answer(
                    &self.command,
                    format!(
                        "answer line {} is not JSON ({e}): {}",
                        out.len() + 1,
                        crate::error::excerpt(line)
                    ),
                )
            })?;
            out.push(super::prediction_object(&self.command, &v)?);
        }
        Ok(out)
    }
}

impl Model for CommandModel {
    fn endpoint(&self) -> &str {
        &self.command
    }

    fn predict(&self, texts: &[&str]) -> Result<Vec<Prediction>> {
        let mut slot = self.running.lock().unwrap_or_else(|p| p.into_inner());
        if slot.is_none() {
            *slot = Some(self.start()?);
        }
        let run = slot.as_mut().expect("started above");
        let res = self.exchange(run, texts);
        if res.is_err() {
            // The pipe is out of step with the requests (or the process is gone): start afresh
            // on the next batch rather than read stale answers.
            *slot = None;
        }
        res
    }

    fn max_concurrency(&self) -> usize {
        1
    }
}

fn shell(command: &str) -> Command {
    if cfg!(windows) {
        let mut c = Command::new("cmd");
        c.args(["/C", command]);
        c
    } else {
        let mut c = Command::new("sh");
        c.args(["-c", command]);
        c
    }
}

trait WaitTimeout {
    fn wait_timeout(&mut self, limit: Duration) -> Option<String>;
}

impl WaitTimeout for Child {
    /// The exit status once the process has ended, polling up to `limit`.
    fn wait_timeout(&mut self, limit: Duration) -> Option<String> {
        let start = Instant::now();
        loop {
            match self.try_wait() {
                Ok(Some(s)) => return Some(s.to_string()),
                Ok(None) if start.elapsed() < limit => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                _ => return None,
            }
        }
    }
}

/// A model that exits while requests are being written must surface as an error on the write
/// (EPIPE), not as SIGPIPE killing bezoar (which restores the default action so that `bezoar
/// ... | head` ends quietly). SIGPIPE from a write is delivered to the writing thread, so blocking
/// it in the writer thread alone is enough.
fn block_sigpipe() {
    #[cfg(unix)]
    // SAFETY: a sigset_t initialised by sigemptyset and changed only through sigaddset, applied
    // to the calling thread's own mask.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGPIPE);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
}
