//! FRR (Debian's `frr` package: zebra and bgpd) as child processes inside the daemon
//! namespace, configured from files the test writes, inspected through `vtysh` on their own
//! socket directory; zebra installs what bgpd learns in the namespace's kernel table.

use super::lab::{Netns, CLIENT_ADDR, DAEMON_ADDR};
use super::{poll, run};
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::time::Duration;

/// FRR's AS.
pub const DAEMON_AS: u32 = 64512;
/// lbsim's AS.
pub const CLIENT_AS: u32 = 64513;

/// Where FRR's daemons live on Debian.
const FRR_DIR: &str = "/usr/lib/frr";

/// bgpd's configuration: a passive eBGP session towards lbsim over IPv4 with IPv4 and IPv6
/// unicast activated on it (MetalLB's `dualStackAddressFamily: true` shape), no policy needed
/// to accept routes.
fn bgpd_config() -> String {
    format!(
        "frr defaults traditional
hostname lbsim-frr
router bgp {DAEMON_AS}
 bgp router-id {DAEMON_ADDR}
 no bgp ebgp-requires-policy
 neighbor {CLIENT_ADDR} remote-as {CLIENT_AS}
 neighbor {CLIENT_ADDR} passive
 neighbor {CLIENT_ADDR} timers 3 9
 address-family ipv6 unicast
  neighbor {CLIENT_ADDR} activate
 exit-address-family
"
    )
}

/// Running zebra and bgpd, killed (and their directory removed) on drop; then bgpd's log goes
/// to stderr.
pub struct Frr {
    children: Vec<Child>,
    dir: PathBuf,
}

impl Frr {
    /// zebra and bgpd, or what is missing.
    pub fn find() -> Result<(), testkit::Missing> {
        for daemon in ["zebra", "bgpd"] {
            if !std::path::Path::new(FRR_DIR).join(daemon).is_file() {
                return Err(testkit::Missing::new(
                    format!("{FRR_DIR}/{daemon} not found"),
                    "apt-get install frr",
                ));
            }
        }
        testkit::program("vtysh", "frr").map(drop)
    }

    /// Starts zebra then bgpd in `ns`, and waits until bgpd answers on vtysh.
    pub fn start(ns: &Netns) -> Result<Frr, String> {
        let dir = std::env::temp_dir().join(format!("lbsim-frr-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        std::fs::write(dir.join("zebra.conf"), "hostname lbsim-zebra\n")
            .map_err(|e| e.to_string())?;
        std::fs::write(dir.join("bgpd.conf"), bgpd_config()).map_err(|e| e.to_string())?;
        // vtysh reads its own configuration; an empty one keeps it from the system's.
        std::fs::write(dir.join("vtysh.conf"), "").map_err(|e| e.to_string())?;
        // The daemons drop to Debian's `frr` user (vty group `frrvty`), which must own the
        // directory for their sockets, pid files and logs.
        run("chown", &["-R", "frr:frr", &dir.to_string_lossy()])?;
        let mut frr = Frr {
            children: Vec::new(),
            dir,
        };
        let path = |name: &str| frr.dir.join(name).to_string_lossy().into_owned();
        let zserv = path("zserv.api");
        for daemon in ["zebra", "bgpd"] {
            let args = vec![
                "netns".to_string(),
                "exec".into(),
                ns.name().into(),
                format!("{FRR_DIR}/{daemon}"),
                "-f".into(),
                path(&format!("{daemon}.conf")),
                "-i".into(),
                path(&format!("{daemon}.pid")),
                "-z".into(),
                zserv.clone(),
                "--vty_socket".into(),
                path(""),
                "--log".into(),
                format!("file:{}", path(&format!("{daemon}.log"))),
                "--log-level".into(),
                "debug".into(),
            ];
            let child = testkit::command("ip")
                .args(&args)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .map_err(|e| format!("{daemon}: {e}"))?;
            frr.children.push(child);
            let socket = frr.dir.join(format!("{daemon}.vty"));
            poll(
                &format!("{daemon}'s vty socket"),
                Duration::from_secs(10),
                || Ok(socket.exists().then_some(())),
            )?;
        }
        Ok(frr)
    }

    /// `vtysh -c <command>` against these daemons.
    pub fn vtysh(&self, command: &str) -> Result<String, String> {
        let dir = self.dir.to_string_lossy().into_owned();
        let conf = self.dir.join("vtysh.conf").to_string_lossy().into_owned();
        run(
            "vtysh",
            &["--vty_socket", &dir, "--config_dir", &conf, "-c", command],
        )
        .or_else(|_| run("vtysh", &["--vty_socket", &dir, "-c", command]))
    }

    /// bgpd's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("bgpd.log")).unwrap_or_default()
    }
}

impl Drop for Frr {
    fn drop(&mut self) {
        for child in self.children.iter_mut().rev() {
            let _ = child.kill();
            let _ = child.wait();
        }
        // The daemons were started through `ip netns exec`, which execs them: the child is
        // the daemon itself, so nothing else is left running.
        let tail: String = {
            let log = self.log();
            let lines: Vec<&str> = log.lines().collect();
            lines[lines.len().saturating_sub(40)..].join("\n")
        };
        eprintln!("bgpd log (last lines):\n{tail}");
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
