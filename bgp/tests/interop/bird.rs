//! BIRD 2 as a child process inside the daemon namespace, configured from a file the test
//! writes, driven and inspected through `birdc` on its control socket.

use super::lab::{Netns, CLIENT_ADDR, DAEMON_ADDR};
use super::{output, poll, run};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// BIRD's AS.
pub const DAEMON_AS: u32 = 64512;
/// lbsim's AS.
pub const CLIENT_AS: u32 = 64513;
/// Hold time both sides propose, seconds.
pub const HOLD_TIME_S: u16 = 9;
/// The BGP protocol's name in the configuration.
pub const PROTOCOL: &str = "lbsim";

/// The configuration: a passive eBGP session towards lbsim (so lbsim connects and BIRD never
/// dials out), every route learned from it exported to the namespace's kernel table.
fn config(log: &Path) -> String {
    format!(
        r#"# Written by lbsim's interop test.
router id {DAEMON_ADDR};
log "{log}" all;

protocol device {{
  scan time 1;
}}

protocol kernel {{
  ipv4 {{ export all; }};
}}

protocol bgp {PROTOCOL} {{
  debug all;
  local {DAEMON_ADDR} as {DAEMON_AS};
  neighbor {CLIENT_ADDR} as {CLIENT_AS};
  passive on;
  hold time {HOLD_TIME_S};
  ipv4 {{
    import all;
    export none;
  }};
}}
"#,
        log = log.display(),
    )
}

/// A running BIRD, killed (and its files removed) on drop, also when the test fails; then
/// its log goes to stderr.
pub struct Bird {
    child: Child,
    dir: PathBuf,
    birdc: PathBuf,
    socket: PathBuf,
}

/// Where BIRD is installed.
pub struct Installation {
    bird: PathBuf,
    birdc: PathBuf,
}

impl Installation {
    /// Finds `bird` and `birdc` (Debian's `bird2` package puts them in `/usr/sbin`).
    ///
    /// # Errors
    /// [`Missing`](testkit::Missing) when either is missing.
    pub fn find() -> Result<Installation, testkit::Missing> {
        Ok(Installation {
            bird: testkit::program("bird", "bird2")?,
            birdc: testkit::program("birdc", "bird2")?,
        })
    }

    /// Starts BIRD in `ns` and waits (at most 5 s) until its control socket answers.
    ///
    /// # Errors
    /// BIRD does not start or does not answer.
    pub fn start(&self, ns: &Netns) -> Result<Bird, String> {
        Bird::spawn(ns, &self.bird, self.birdc.clone())
    }
}

impl Bird {
    fn spawn(ns: &Netns, bird: &Path, birdc: PathBuf) -> Result<Bird, String> {
        let dir = std::env::temp_dir().join(format!("lbsim-bgp-interop-{}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let cfg = dir.join("bird.conf");
        let socket = dir.join("bird.ctl");
        let log = dir.join("bird.log");
        std::fs::write(&cfg, config(&log)).map_err(|e| format!("{}: {e}", cfg.display()))?;
        let stderr = std::fs::File::create(dir.join("bird.stderr")).map_err(|e| e.to_string())?;
        // `ip netns exec` execs BIRD in place, so the child is BIRD itself: killing it by its
        // id ends the daemon. `-f` keeps it in the foreground as our child.
        let child = testkit::command("ip")
            .args(["netns", "exec", ns.name()])
            .arg(bird)
            .arg("-f")
            .arg("-c")
            .arg(&cfg)
            .arg("-s")
            .arg(&socket)
            .arg("-P")
            .arg(dir.join("bird.pid"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .map_err(|e| format!("cannot start bird: {e}"))?;
        let mut daemon = Bird {
            child,
            dir,
            birdc,
            socket,
        };
        poll("BIRD's control socket", Duration::from_secs(5), || {
            if let Some(status) = daemon.child.try_wait().map_err(|e| e.to_string())? {
                return Err(format!(
                    "bird exited at start ({status}):\n{}",
                    daemon.logs()
                ));
            }
            Ok(daemon.birdc(&["show", "status"]).ok())
        })?;
        Ok(daemon)
    }

    /// `birdc -s <socket> <args>`: BIRD's answer.
    pub fn birdc(&self, args: &[&str]) -> Result<String, String> {
        let socket = self.socket.to_string_lossy();
        let mut full = vec!["-s", &socket];
        full.extend_from_slice(args);
        run(&self.birdc.to_string_lossy(), &full)
    }

    /// `birdc show route for <prefix> all`: BIRD's route with its attributes, `None` when it
    /// has none (then birdc says "Network not found" and exits with 1).
    pub fn route(&self, prefix: &str) -> Result<Option<String>, String> {
        let out = output(
            Command::new(&self.birdc)
                .arg("-s")
                .arg(&self.socket)
                .args(["show", "route", "for", prefix, "all"]),
        )?;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        match out.status.success() {
            true => Ok(Some(stdout)),
            false if stdout.contains("Network not found") => Ok(None),
            false => Err(format!("birdc show route failed: {stdout}")),
        }
    }

    /// `birdc show protocols all <PROTOCOL>`.
    pub fn protocol(&self) -> Result<String, String> {
        self.birdc(&["show", "protocols", "all", PROTOCOL])
    }

    /// BIRD's log file and stderr.
    pub fn logs(&self) -> String {
        let read = |name: &str| std::fs::read_to_string(self.dir.join(name)).unwrap_or_default();
        format!("{}{}", read("bird.log"), read("bird.stderr"))
    }
}

impl Drop for Bird {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!(
                "---- BIRD log ----\n{}---- end of BIRD log ----",
                self.logs()
            );
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
