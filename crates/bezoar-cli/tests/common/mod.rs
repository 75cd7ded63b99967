//! Helpers shared by the CLI integration tests that drive the ledger and the Python interop
//! checks (each test binary uses a subset).
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Stdout followed by stderr, for assertion messages.
pub fn out(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The exit code, -1 when killed by a signal.
pub fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

/// Run a command with a time limit; None when it could not start or ran out of time.
pub fn run_limited(cmd: &mut Command, limit: Duration) -> Option<Output> {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .ok()?;
    let start = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(_)) => return child.wait_with_output().ok(),
            Ok(None) if start.elapsed() > limit => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(200)),
            Err(_) => return None,
        }
    }
}

/// A temporary virtualenv with `packages` pip-installed, and its `bin` directory; Err says why
/// it could not be made (no python3, no venv, pip or the network failing), for a skip message.
pub fn python_venv(
    packages: &[&str],
    pip_limit: Duration,
) -> Result<(tempfile::TempDir, PathBuf), String> {
    let venv = tempfile::tempdir().map_err(|e| e.to_string())?;
    let o = run_limited(
        Command::new("python3").args(["-m", "venv", venv.path().to_str().unwrap()]),
        Duration::from_secs(60),
    )
    .ok_or("python3 is not available")?;
    if !o.status.success() {
        return Err(format!("python3 -m venv failed: {}", out(&o)));
    }
    let bin = venv.path().join("bin");
    let mut args = vec![
        "install",
        "-q",
        "--disable-pip-version-check",
        // Fail fast without a network instead of retrying for minutes.
        "--retries",
        "1",
        "--timeout",
        "20",
    ];
    args.extend_from_slice(packages);
    let o = run_limited(Command::new(bin.join("pip")).args(&args), pip_limit)
        .ok_or("pip install timed out or pip is missing")?;
    if !o.status.success() {
        return Err(format!(
            "pip install {} failed (offline?): {}",
            packages.join(" "),
            out(&o)
        ));
    }
    Ok((venv, bin))
}
