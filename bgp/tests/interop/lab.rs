//! Two network namespaces joined by a veth pair: the daemon's and lbsim's.
//!
//! ```text
//!  netns lbsim-bgp-<pid>            netns lbsim-bgp-<pid>-c
//!  BIRD, kernel table                lbsim's codec over tokio
//!  lbsim0 10.255.0.1/30 ◀── veth ──▶ lbsim1 10.255.0.2/30
//! ```
//!
//! Nothing is added to the namespace the test runs in: the veth pair is created inside the
//! daemon's namespace with its peer end placed straight into the client's.

use super::run;
use std::fs::File;
use std::io;
use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;
use std::os::raw::c_int;
use testkit::Missing;

/// The daemon's address, on `lbsim0` in its namespace.
pub const DAEMON_ADDR: Ipv4Addr = Ipv4Addr::new(10, 255, 0, 1);
/// lbsim's address, on `lbsim1` in the client namespace.
pub const CLIENT_ADDR: Ipv4Addr = Ipv4Addr::new(10, 255, 0, 2);

/// A network namespace deleted on drop, also when the test fails.
pub struct Netns {
    name: String,
}

impl Netns {
    fn create(name: String) -> Result<Netns, String> {
        run("ip", &["netns", "add", &name])?;
        Ok(Netns { name })
    }

    /// The namespace's name (`/run/netns/<name>`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `ip -n <ns> <args>`.
    pub fn ip(&self, args: &[&str]) -> Result<String, String> {
        let mut full = vec!["-n", &self.name];
        full.extend_from_slice(args);
        run("ip", &full)
    }

    /// Moves the calling thread, and only it, into this namespace (setns(2)): sockets it
    /// creates afterwards live here. Meant for a thread spawned for that purpose; other
    /// threads of the test binary stay where they are.
    pub fn enter_on_this_thread(&self) -> io::Result<()> {
        // glibc's wrapper; std links libc already, so no binding crate is needed for one call.
        extern "C" {
            fn setns(fd: c_int, nstype: c_int) -> c_int;
        }
        const CLONE_NEWNET: c_int = 0x4000_0000;
        let file = File::open(format!("/run/netns/{}", self.name))?;
        // SAFETY: setns only reads the descriptor, which `file` keeps open for the call, and
        // changes the network namespace of the calling thread.
        let rc = unsafe { setns(file.as_raw_fd(), CLONE_NEWNET) };
        if rc == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = run("ip", &["netns", "del", &self.name]);
    }
}

/// The two namespaces and the link between them.
pub struct Lab {
    /// Where the daemon runs and installs routes.
    pub daemon: Netns,
    /// Where lbsim's socket lives.
    pub client: Netns,
}

impl Lab {
    /// Builds the lab. Any failure means this environment cannot run the test (no root, no
    /// iproute2, namespaces or veth refused), so it is [`Missing`].
    pub fn build() -> Result<Lab, Missing> {
        testkit::root("network namespaces")?;
        testkit::program("ip", "iproute2")?;
        let base = format!("lbsim-bgp-{}", std::process::id());
        let setup = || -> Result<Lab, String> {
            let lab = Lab {
                daemon: Netns::create(base.clone())?,
                client: Netns::create(format!("{base}-c"))?,
            };
            lab.daemon.ip(&[
                "link",
                "add",
                "lbsim0",
                "type",
                "veth",
                "peer",
                "name",
                "lbsim1",
                "netns",
                lab.client.name(),
            ])?;
            for (ns, dev, addr) in [
                (&lab.daemon, "lbsim0", DAEMON_ADDR),
                (&lab.client, "lbsim1", CLIENT_ADDR),
            ] {
                ns.ip(&["addr", "add", &format!("{addr}/30"), "dev", dev])?;
                ns.ip(&["link", "set", "lo", "up"])?;
                ns.ip(&["link", "set", dev, "up"])?;
            }
            Ok(lab)
        };
        setup().map_err(|e| {
            Missing::new(
                format!("could not build the namespace lab ({e})"),
                "needs Linux with network namespaces and veth",
            )
        })
    }
}
