//! Shared by the kernel comparison tests (IPv4 and IPv6 ECMP): a network namespace made on
//! demand and deleted on drop (also when a test fails), and the flow-by-flow verdict.
// Each test binary uses part of it.
#![allow(dead_code)]

use std::fmt::Debug;
use std::io::Write;
use std::process::Stdio;

/// Runs a program; its stdout, or an error naming the command and its stderr.
pub fn run(program: &str, args: &[&str]) -> Result<String, String> {
    let out = testkit::command(program)
        .args(args)
        .output()
        .map_err(|e| format!("{program}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "`{program} {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

pub struct Netns {
    pub name: String,
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = testkit::command("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

impl Netns {
    /// `lbsim-<test>-<pid>-<tag>`: unique per test process and case.
    pub fn create(test: &str, tag: &str) -> Result<Self, String> {
        let name = format!("lbsim-{test}-{}-{tag}", std::process::id());
        run("ip", &["netns", "add", &name])?;
        Ok(Netns { name })
    }

    /// `ip -n <ns> <args>`.
    pub fn ip(&self, args: &[&str]) -> Result<String, String> {
        let mut full = vec!["-n", &self.name];
        full.extend_from_slice(args);
        run("ip", &full)
    }

    pub fn sysctl(&self, key: &str, value: &str) -> Result<(), String> {
        let setting = format!("{key}={value}");
        // By its full path: `ip netns exec` looks it up on PATH, which may lack sbin.
        let sysctl = testkit::find_program("sysctl").ok_or("`sysctl` not found")?;
        let sysctl = sysctl.to_string_lossy();
        run(
            "ip",
            &["netns", "exec", &self.name, &sysctl, "-qw", &setting],
        )
        .map(drop)
    }

    /// Runs `ip -n <ns> -batch -` with `commands` on stdin and returns its stdout.
    pub fn batch(&self, commands: &str) -> Result<String, String> {
        let mut child = testkit::command("ip")
            .args(["-n", &self.name, "-batch", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("ip -batch: {e}"))?;
        child
            .stdin
            .take()
            .ok_or("no stdin")?
            .write_all(commands.as_bytes())
            .map_err(|e| format!("ip -batch stdin: {e}"))?;
        let out = child
            .wait_with_output()
            .map_err(|e| format!("ip -batch: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "ip -batch failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// The interface index of `dev` in this namespace.
    pub fn ifindex(&self, dev: &str) -> Result<u32, String> {
        let out = self.ip(&["-o", "link", "show", dev])?;
        out.split(':')
            .next()
            .and_then(|n| n.trim().parse().ok())
            .ok_or_else(|| format!("no ifindex in {out:?}"))
    }
}

/// Compares kernel and model flow by flow; a description of the disagreements (the first five).
pub fn compare_flows<F: Debug>(
    what: &str,
    flows: &[F],
    kernel: &[bgp::ecmp::NextHop],
    model: &[Option<bgp::ecmp::NextHop>],
) -> Result<(), String> {
    let wrong: Vec<String> = flows
        .iter()
        .zip(kernel.iter().zip(model))
        .filter(|(_, (k, m))| Some(**k) != **m)
        .map(|(f, (k, m))| format!("{f:?}: kernel {k}, model {m:?}"))
        .collect();
    if wrong.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{what}: {} of {} flows differ, e.g.\n  {}",
            wrong.len(),
            flows.len(),
            wrong[..wrong.len().min(5)].join("\n  ")
        ))
    }
}
