//! Helpers for the interop tests against real BGP daemons: the namespace lab, the daemons
//! (BIRD 2, FRR) and lbsim's side of the session over a real TCP socket.
// Each test binary uses one daemon and part of the helpers.
#![allow(dead_code)]

pub mod bird;
pub mod frr;
pub mod lab;
pub mod peer;

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Longest any one command (`ip`, `birdc`) may run before it is killed.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(5);

/// Runs a command to completion, killing it after [`COMMAND_TIMEOUT`]. Its output must fit in
/// the pipes (64 KiB), which `ip` and `birdc` answers here do.
pub fn output(command: &mut Command) -> Result<Output, String> {
    let name = format!("{command:?}");
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{name}: {e}"))?;
    let deadline = Instant::now() + COMMAND_TIMEOUT;
    while child.try_wait().map_err(|e| e.to_string())?.is_none() {
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("{name} did not finish within {COMMAND_TIMEOUT:?}"));
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    child.wait_with_output().map_err(|e| format!("{name}: {e}"))
}

/// Runs a program (within [`COMMAND_TIMEOUT`]); its stdout, or an error naming the command and
/// its stderr.
pub fn run(program: &str, args: &[&str]) -> Result<String, String> {
    let out = output(testkit::command(program).args(args))?;
    if !out.status.success() {
        return Err(format!(
            "`{program} {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Polls `check` every 100 ms until it gives `Some`; an error after `timeout`.
pub fn poll<T>(
    what: &str,
    timeout: Duration,
    mut check: impl FnMut() -> Result<Option<T>, String>,
) -> Result<T, String> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check()? {
            return Ok(value);
        }
        if Instant::now() >= deadline {
            return Err(format!("timed out after {timeout:?} waiting for {what}"));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
