//! Helpers for the interop test against a real BGP daemon: the namespace lab, the daemon
//! (BIRD 2) and lbsim's side of the session over a real TCP socket.

pub mod bird;
pub mod lab;
pub mod peer;

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Why the environment cannot run the test: printed as `SKIPPED: <reason>` and the test passes.
#[derive(Debug)]
pub struct Skip(pub String);

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
    let out = output(Command::new(program).args(args))?;
    if !out.status.success() {
        return Err(format!(
            "`{program} {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Whether the effective user is root (read from `/proc`, so no libc binding is needed).
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|e| e == "0"))
        })
        .unwrap_or(false)
}

/// Finds an executable on `PATH` or in the sbin directories, which a non-login `PATH` may lack.
pub fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/local/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
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
