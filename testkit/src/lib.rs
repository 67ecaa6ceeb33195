//! What lbsim's tests share when they need something outside the repository (root, a Debian
//! package, the project's `../shared` directory): finding it, and the one form of the line
//! that says it is missing. Such a test prints
//!
//! ```text
//! SKIPPED: <test>: <what is missing>; <how to get it>
//! ```
//!
//! and passes; `.ci/run` lists every such line at its end.

use std::path::PathBuf;
use std::process::Command;

/// Where Debian installs administration programs (`ip`, `bird`), which a non-login `PATH`
/// may lack: searched after `PATH`.
const SBIN: [&str; 3] = ["/usr/sbin", "/sbin", "/usr/local/sbin"];

/// Something a test needs that is not there, and how to get it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Missing {
    pub what: String,
    pub how: String,
}

impl Missing {
    pub fn new(what: impl Into<String>, how: impl Into<String>) -> Missing {
        Missing {
            what: what.into(),
            how: how.into(),
        }
    }

    /// `SKIPPED: <binary>::<test>: <what>; <how>`: the test binary's name (its file name
    /// without cargo's `-<hash>`, i.e. the test file or crate) and the name of the thread the
    /// harness runs the test on, which is the test's path.
    pub fn line(&self) -> String {
        let exe = std::env::current_exe().ok();
        let stem = exe
            .as_ref()
            .and_then(|p| p.file_stem())
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let binary = stem
            .rsplit_once('-')
            .map_or(stem.as_str(), |(name, _)| name);
        let thread = std::thread::current();
        let test = thread.name().unwrap_or("unnamed test");
        format!("SKIPPED: {binary}::{test}: {}; {}", self.what, self.how)
    }

    /// Prints [`Missing::line`] on stderr, which the test harness captures like stdout.
    pub fn skip(&self) {
        eprintln!("{}", self.line());
    }
}

/// The value, or `None` after the SKIPPED line: `let Some(x) = or_skip(..) else { return };`.
pub fn or_skip<T>(found: Result<T, Missing>) -> Option<T> {
    found.map_err(|missing| missing.skip()).ok()
}

/// The executable `name` on `PATH` or in the sbin directories, if any.
pub fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(SBIN.map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// The executable `name`, or what to install: Debian's `package`.
pub fn program(name: &str, package: &str) -> Result<PathBuf, Missing> {
    find_program(name).ok_or_else(|| {
        Missing::new(
            format!("`{name}` not found on PATH or in {}", SBIN.join(", ")),
            format!("apt-get install {package}"),
        )
    })
}

/// A command running `name` as [`find_program`] finds it (the bare name when it does not, so
/// that the error names the program).
pub fn command(name: &str) -> Command {
    Command::new(find_program(name).unwrap_or_else(|| PathBuf::from(name)))
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

/// Root, or what to do: `why` says what needs it.
pub fn root(why: &str) -> Result<(), Missing> {
    if is_root() {
        Ok(())
    } else {
        Err(Missing::new(
            format!("not root ({why} need it)"),
            "run the tests as root, e.g. `sudo -E cargo test --workspace`",
        ))
    }
}

/// `tshark -V` on the capture at `pcap`, with `args` before it (preferences `-o k:v`, decode-as
/// `-d`): its detailed text. Panics with tshark's stderr if tshark fails (a malformed capture
/// file is a test failure).
pub fn tshark_verbose(tshark: &std::path::Path, args: &[&str], pcap: &std::path::Path) -> String {
    let out = Command::new(tshark)
        .args(args)
        .arg("-r")
        .arg(pcap)
        .arg("-V")
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", tshark.display()));
    assert!(
        out.status.success(),
        "tshark failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_program_says_which_package_to_install() {
        let missing = program("lbsim-no-such-program", "lbsim-pkg").unwrap_err();
        // Not printed: `.ci/run` lists every SKIPPED line a test prints.
        assert_eq!(
            missing.line(),
            "SKIPPED: testkit::tests::a_missing_program_says_which_package_to_install: \
             `lbsim-no-such-program` not found on PATH or in /usr/sbin, /sbin, /usr/local/sbin; \
             apt-get install lbsim-pkg"
        );
        assert_eq!(or_skip(Ok::<_, Missing>(3)), Some(3));
    }

    #[test]
    fn programs_are_found_on_path() {
        // `sh` is on every PATH a test can run with.
        assert!(program("sh", "dash").unwrap().is_absolute());
    }
}
