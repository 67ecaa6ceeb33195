//! The IPv6 multipath hash (`rt6_multipath_hash`) with hash-threshold and resilient groups
//! against the real kernel, flow by flow.
//!
//! The test builds a router in a network namespace of its own: an ingress veth `in0`
//! (2001:db8:ffff::1/64), an egress veth `out0` (2001:db8:1::1/64) with next hops
//! 2001:db8:1::10 + i (node i) as nexthop objects, IPv6 forwarding on, and
//! `net.ipv6.fib_multipath_hash_policy` / `_fields` and `net.ipv4.fib_multipath_hash_seed` set
//! inside the namespace. For every flow it sends `RTM_GETROUTE` over netlink with `RTA_IIF`
//! (`in0`), source, destination, `RTA_IP_PROTO`, ports and `RTA_FLOWLABEL` (iproute2's
//! `ip route get` cannot pass a flow label) and reads the gateway of the answer. That is the
//! kernel's packet-less path (`rt6_multipath_hash` with `skb == NULL`), which the model calls
//! [`Ipv6HashPath::RouteLookup`].
//!
//! Policies 0, 1, 2 and 3 (fields: addresses, next header and flow label; then addresses and
//! ports), N = 2..8 next hops, each with one next hop removed (first, middle, last) and one
//! added; resilient groups through a history of the same changes. A negative control computes
//! the model on the other path ([`Ipv6HashPath::Forwarded`], whose flow-label byte order and
//! policy-3 jhash differ) and requires that it disagrees with the kernel, so the comparison
//! can fail.
//!
//! A second test sends real TCP segments through the router (AF_PACKET on the veth peers, a
//! static neighbour with its own MAC per node) and reads each forwarded copy's destination MAC:
//! the forwarding path, [`Ipv6HashPath::Forwarded`], hash-threshold groups, the same policies,
//! N and changes, with the same two negative controls.
//!
//! Needs root, iproute2 and Linux >= 6.12 (RTA_FLOWLABEL in RTM_GETROUTE); otherwise it prints
//! `SKIPPED: <test>: <what is missing>; <how to get it>` and passes.

use std::net::Ipv6Addr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use bgp::ecmp::linux6::field;
use bgp::ecmp::{
    random_flows6, EcmpGroup, FlowKey6, Ipv6HashPath, Ipv6HashPolicy, Ipv6Hasher, NextHop,
    Selection,
};
use sim_core::{SimDuration, SimTime};

mod netns;
use netns::{compare_flows, Netns};

const VIP: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xff, 0, 0, 0, 0, 0x10);
const FLOWS: usize = 300;
const MAX_NODES: u32 = 9;
const GROUP_ID: u32 = 1000;

fn node_addr(i: NextHop) -> Ipv6Addr {
    Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 0x10 + i as u16)
}

fn node_of(addr: Ipv6Addr) -> Option<NextHop> {
    (0..MAX_NODES).find(|&i| node_addr(i) == addr)
}

/// The policies compared: the four of the sysctl, policy 3 twice.
fn policies() -> Vec<Ipv6HashPolicy> {
    vec![
        Ipv6HashPolicy::L3,
        Ipv6HashPolicy::L4,
        Ipv6HashPolicy::InnerL3,
        Ipv6HashPolicy::Custom(field::SRC_IP | field::DST_IP | field::IP_PROTO | field::FLOWLABEL),
        Ipv6HashPolicy::Custom(field::SRC_IP | field::DST_IP | field::SRC_PORT | field::DST_PORT),
    ]
}

/// Sets SO_RCVTIMEO on `fd`: a reply that never comes fails the test instead of hanging it.
fn recv_timeout(fd: &OwnedFd, secs: libc::time_t) {
    let timeout = libc::timeval {
        tv_sec: secs,
        tv_usec: 0,
    };
    // SAFETY: a timeval of the right size for SO_RCVTIMEO.
    unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            (&timeout as *const libc::timeval).cast(),
            std::mem::size_of::<libc::timeval>() as libc::socklen_t,
        )
    };
}

/// A NETLINK_ROUTE socket opened inside a namespace (a socket keeps the namespace it was
/// made in, so a helper thread enters the namespace, opens it and ends).
struct RouteSocket {
    fd: OwnedFd,
    seq: u32,
}

const RTM_NEWROUTE: u16 = 24;
const RTM_GETROUTE: u16 = 26;
const NLMSG_ERROR: u16 = 2;
const NLM_F_REQUEST: u16 = 1;
const RTA_DST: u16 = 1;
const RTA_SRC: u16 = 2;
const RTA_IIF: u16 = 3;
const RTA_GATEWAY: u16 = 5;
const RTA_IP_PROTO: u16 = 27;
const RTA_SPORT: u16 = 28;
const RTA_DPORT: u16 = 29;
const RTA_FLOWLABEL: u16 = 31;

fn attr(buf: &mut Vec<u8>, kind: u16, value: &[u8]) {
    let len = 4 + value.len();
    buf.extend_from_slice(&(len as u16).to_ne_bytes());
    buf.extend_from_slice(&kind.to_ne_bytes());
    buf.extend_from_slice(value);
    buf.resize(buf.len().div_ceil(4) * 4, 0);
}

impl RouteSocket {
    fn open_in(ns: &Netns) -> Result<Self, String> {
        let path = format!("/run/netns/{}", ns.name);
        std::thread::scope(|scope| {
            scope
                .spawn(|| -> Result<Self, String> {
                    let file = std::fs::File::open(&path).map_err(|e| format!("{path}: {e}"))?;
                    // SAFETY: setns on a valid namespace fd affects only this thread, which
                    // ends right after opening the socket.
                    if unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                        return Err(format!("setns: {}", std::io::Error::last_os_error()));
                    }
                    // SAFETY: plain socket(2); the fd is owned right away.
                    let fd = unsafe {
                        libc::socket(
                            libc::AF_NETLINK,
                            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                            libc::NETLINK_ROUTE,
                        )
                    };
                    if fd < 0 {
                        return Err(format!("socket: {}", std::io::Error::last_os_error()));
                    }
                    // SAFETY: fd is a fresh descriptor nobody else owns.
                    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
                    recv_timeout(&fd, 5);
                    Ok(RouteSocket { fd, seq: 0 })
                })
                .join()
                .map_err(|_| "netlink thread panicked".to_string())?
        })
    }

    /// The gateway the kernel picks for `flow` arriving on interface `iif`.
    fn route_get(&mut self, iif: u32, flow: &FlowKey6) -> Result<Ipv6Addr, String> {
        self.seq += 1;
        let mut msg = vec![0u8; 16];
        // struct rtmsg: family, dst_len, src_len, tos, table, protocol, scope, type, flags.
        msg.extend_from_slice(&[libc::AF_INET6 as u8, 128, 128, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        attr(&mut msg, RTA_DST, &flow.dst.octets());
        attr(&mut msg, RTA_SRC, &flow.src.octets());
        attr(&mut msg, RTA_IIF, &iif.to_ne_bytes());
        attr(&mut msg, RTA_IP_PROTO, &[flow.proto]);
        attr(&mut msg, RTA_SPORT, &flow.sport.to_be_bytes());
        attr(&mut msg, RTA_DPORT, &flow.dport.to_be_bytes());
        attr(&mut msg, RTA_FLOWLABEL, &flow.flow_label.to_be_bytes());
        let len = msg.len() as u32;
        msg[0..4].copy_from_slice(&len.to_ne_bytes());
        msg[4..6].copy_from_slice(&RTM_GETROUTE.to_ne_bytes());
        msg[6..8].copy_from_slice(&NLM_F_REQUEST.to_ne_bytes());
        msg[8..12].copy_from_slice(&self.seq.to_ne_bytes());
        // SAFETY: msg is a live buffer of msg.len() bytes; the kernel is the default peer.
        let sent = unsafe { libc::send(self.fd.as_raw_fd(), msg.as_ptr().cast(), msg.len(), 0) };
        if sent != msg.len() as isize {
            return Err(format!("send: {}", std::io::Error::last_os_error()));
        }
        let mut buf = vec![0u8; 8192];
        // SAFETY: buf is a live buffer of buf.len() bytes.
        let got = unsafe { libc::recv(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
        if got < 16 {
            return Err(format!("recv: {}", std::io::Error::last_os_error()));
        }
        let reply = &buf[..got as usize];
        let kind = u16::from_ne_bytes([reply[4], reply[5]]);
        if kind == NLMSG_ERROR {
            let errno = i32::from_ne_bytes([reply[16], reply[17], reply[18], reply[19]]);
            return Err(format!(
                "RTM_GETROUTE for {flow:?}: {}",
                std::io::Error::from_raw_os_error(-errno)
            ));
        }
        if kind != RTM_NEWROUTE {
            return Err(format!("unexpected netlink message type {kind}"));
        }
        let mut rest = &reply[16 + 12..];
        while rest.len() >= 4 {
            let alen = usize::from(u16::from_ne_bytes([rest[0], rest[1]]));
            let atype = u16::from_ne_bytes([rest[2], rest[3]]);
            if alen < 4 || alen > rest.len() {
                break;
            }
            if atype == RTA_GATEWAY && alen == 20 {
                let mut octets = [0u8; 16];
                octets.copy_from_slice(&rest[4..20]);
                return Ok(Ipv6Addr::from(octets));
            }
            rest = &rest[alen.div_ceil(4) * 4..];
        }
        Err(format!("no RTA_GATEWAY in the answer for {flow:?}"))
    }
}

/// Builds the router; an error here means the kernel cannot run the test.
fn router(tag: &str) -> Result<(Netns, RouteSocket, u32), String> {
    let ns = Netns::create("ecmp6", tag)?;
    ns.ip(&["link", "set", "lo", "up"])?;
    ns.ip(&["link", "add", "in0", "type", "veth", "peer", "name", "in1"])?;
    ns.ip(&[
        "link", "add", "out0", "type", "veth", "peer", "name", "out1",
    ])?;
    for dev in ["in0", "in1", "out0", "out1"] {
        ns.ip(&["link", "set", dev, "up"])?;
    }
    ns.ip(&["addr", "add", "2001:db8:ffff::1/64", "dev", "in0", "nodad"])?;
    ns.ip(&["addr", "add", "2001:db8:1::1/64", "dev", "out0", "nodad"])?;
    ns.sysctl("net.ipv6.conf.all.forwarding", "1")?;
    ns.sysctl("net.ipv4.fib_multipath_hash_seed", "1")
        .map_err(|e| format!("kernel without fib_multipath_hash_seed (Linux < 6.11?): {e}"))?;
    for i in 0..MAX_NODES {
        ns.ip(&[
            "-6",
            "nexthop",
            "add",
            "id",
            &(i + 1).to_string(),
            "via",
            &node_addr(i).to_string(),
            "dev",
            "out0",
        ])?;
    }
    let iif = ns.ifindex("in0")?;
    let socket = RouteSocket::open_in(&ns)?;
    Ok((ns, socket, iif))
}

fn set_hash(ns: &Netns, policy: Ipv6HashPolicy, seed: u32) -> Result<(), String> {
    ns.sysctl(
        "net.ipv6.fib_multipath_hash_policy",
        &policy.number().to_string(),
    )?;
    if let Ipv6HashPolicy::Custom(fields) = policy {
        ns.sysctl(
            "net.ipv6.fib_multipath_hash_fields",
            &format!("{fields:#x}"),
        )?;
    }
    ns.sysctl("net.ipv4.fib_multipath_hash_seed", &seed.to_string())
}

fn group_arg(members: &[NextHop]) -> String {
    members
        .iter()
        .map(|&i| (i + 1).to_string())
        .collect::<Vec<_>>()
        .join("/")
}

/// The member lists: the start, then each change applied to the start (threshold) or to the
/// previous list (resilient history).
fn changes(n: u32) -> Vec<(&'static str, Vec<NextHop>)> {
    let base: Vec<NextHop> = (0..n).collect();
    let without = |i: u32| -> Vec<NextHop> { base.iter().copied().filter(|&x| x != i).collect() };
    let mut added = base.clone();
    added.push(n);
    vec![
        ("initial", base.clone()),
        ("remove first", without(0)),
        ("remove middle", without(n / 2)),
        ("remove last", without(n - 1)),
        ("add one", added),
    ]
}

struct Counts {
    checked: usize,
    /// Flows where the other path's model disagrees with the kernel (negative control).
    other_path_differs: usize,
    /// Flows where the model with the flow label zeroed disagrees (negative control: the
    /// kernel did take RTA_FLOWLABEL).
    unlabelled_differs: usize,
}

fn kernel_choices(
    socket: &mut RouteSocket,
    iif: u32,
    flows: &[FlowKey6],
) -> Result<Vec<NextHop>, String> {
    flows
        .iter()
        .map(|f| {
            let gw = socket.route_get(iif, f)?;
            node_of(gw).ok_or_else(|| format!("gateway {gw} is no node"))
        })
        .collect()
}

fn cases(
    ns: &Netns,
    socket: &mut RouteSocket,
    iif: u32,
    k: usize,
    policy: Ipv6HashPolicy,
    resilient: bool,
) -> Result<Counts, String> {
    let vip = format!("{VIP}/128");
    let gid = GROUP_ID.to_string();
    let seed = 0x5eed_6001 + k as u32 * 0x0101_0101;
    set_hash(ns, policy, seed)?;
    let hasher = Ipv6Hasher::new(policy, Ipv6HashPath::RouteLookup, seed);
    let other = Ipv6Hasher::new(policy, Ipv6HashPath::Forwarded, seed);
    let flows = random_flows6(u64::from(seed), FLOWS, VIP, 80);
    let mut counts = Counts {
        checked: 0,
        other_path_differs: 0,
        unlabelled_differs: 0,
    };
    for n in 2..=8u32 {
        let steps = changes(n);
        let base = steps[0].1.clone();
        let selection = if resilient {
            Selection::Resilient {
                buckets: 128,
                idle_timer: SimDuration::ZERO,
                unbalanced_timer: SimDuration::ZERO,
            }
        } else {
            Selection::HashThreshold
        };
        let _ = ns.ip(&["-6", "route", "del", &vip]);
        let _ = ns.ip(&["nexthop", "del", "id", &gid]);
        let mut add = vec!["nexthop", "add", "id", &gid, "group"];
        let first = group_arg(&base);
        add.push(&first);
        if resilient {
            add.extend(["type", "resilient", "buckets", "128", "idle_timer", "0"]);
            add.extend(["unbalanced_timer", "0"]);
        }
        ns.ip(&add)?;
        ns.ip(&["-6", "route", "replace", &vip, "nhid", &gid])?;
        let mut group = EcmpGroup::new(selection, &base).map_err(|e| e.to_string())?;
        let mut other_group = EcmpGroup::new(selection, &base).map_err(|e| e.to_string())?;
        let mut members = base.clone();
        for (step, (what, listed)) in steps.iter().enumerate() {
            // Threshold: each change applies to the start; resilient: to the previous step,
            // as a history (the bucket table remembers).
            let next = if resilient && step > 0 {
                match *what {
                    "remove first" => members[1..].to_vec(),
                    "remove middle" => {
                        let mut m = members.clone();
                        m.remove(m.len() / 2);
                        m
                    }
                    "remove last" => members[..members.len() - 1].to_vec(),
                    _ => {
                        let mut m = members.clone();
                        m.push((0..MAX_NODES).find(|x| !m.contains(x)).unwrap_or(0));
                        m
                    }
                }
            } else {
                listed.clone()
            };
            if next.is_empty() {
                continue;
            }
            members = next;
            let t = SimTime(step as u64 * 1_000_000_000);
            if step > 0 {
                let arg = group_arg(&members);
                let mut replace = vec!["nexthop", "replace", "id", &gid, "group", &arg];
                if resilient {
                    replace.extend(["type", "resilient"]);
                }
                ns.ip(&replace)?;
            }
            group.set_next_hops(t, &members);
            other_group.set_next_hops(t, &members);
            let model: Vec<Option<NextHop>> = flows
                .iter()
                .map(|f| group.select(t, hasher.hash(f)))
                .collect();
            let kernel = kernel_choices(socket, iif, &flows)?;
            let kind = if resilient { "resilient" } else { "threshold" };
            compare_flows(
                &format!("{kind} {policy} N={n} {what}"),
                &flows,
                &kernel,
                &model,
            )?;
            counts.checked += flows.len();
            counts.other_path_differs += flows
                .iter()
                .zip(&kernel)
                .filter(|(f, k)| other_group.select(t, other.hash(f)) != Some(**k))
                .count();
            counts.unlabelled_differs += flows
                .iter()
                .zip(&kernel)
                .filter(|(f, k)| {
                    let unlabelled = FlowKey6 {
                        flow_label: 0,
                        ..**f
                    };
                    group.select(t, hasher.hash(&unlabelled)) != Some(**k)
                })
                .count();
        }
    }
    Ok(counts)
}

#[test]
fn ipv6_multipath_hash_matches_the_kernel_flow_for_flow() {
    let needs = testkit::root("network namespaces")
        .and(testkit::program("ip", "iproute2"))
        .and(testkit::program("sysctl", "procps"));
    if testkit::or_skip(needs).is_none() {
        return;
    }
    let (ns, mut socket, iif) = match router("r") {
        Ok(r) => r,
        Err(reason) => {
            testkit::Missing::new(
                format!("could not build the router namespace ({reason})"),
                "needs Linux >= 6.12 with network namespaces, veth and nexthop objects",
            )
            .skip();
            return;
        }
    };
    // RTA_FLOWLABEL in RTM_GETROUTE is Linux 6.12+: an older kernel refuses or ignores it;
    // probe with one lookup and skip with a message if refused.
    ns.ip(&[
        "-6",
        "route",
        "replace",
        &format!("{VIP}/128"),
        "via",
        &node_addr(0).to_string(),
    ])
    .expect("a single route");
    if let Err(e) = socket.route_get(iif, &random_flows6(1, 1, VIP, 80)[0]) {
        testkit::Missing::new(
            format!("RTM_GETROUTE with RTA_FLOWLABEL refused ({e})"),
            "needs Linux >= 6.12",
        )
        .skip();
        return;
    }
    let _ = ns.ip(&["-6", "route", "del", &format!("{VIP}/128")]);
    let started = std::time::Instant::now();
    let mut report = Vec::new();
    for resilient in [false, true] {
        for (k, policy) in policies().into_iter().enumerate() {
            let counts = cases(&ns, &mut socket, iif, k, policy, resilient)
                .unwrap_or_else(|e| panic!("{e}"));
            // The paths differ for policy 2 (flow label order) and 3 (jhash): there the other
            // path's model must miss many flows, or the test could not tell them apart.
            let differs = matches!(policy, Ipv6HashPolicy::InnerL3 | Ipv6HashPolicy::Custom(_));
            if differs {
                assert!(
                    counts.other_path_differs * 4 > counts.checked,
                    "{policy}: the forwarded-path model agrees with RTM_GETROUTE on \
                     {} of {} flows: the comparison cannot tell the paths apart",
                    counts.checked - counts.other_path_differs,
                    counts.checked
                );
            } else {
                assert_eq!(counts.other_path_differs, 0, "{policy}: the paths agree");
            }
            let labelled = match policy {
                Ipv6HashPolicy::L3 | Ipv6HashPolicy::InnerL3 => true,
                Ipv6HashPolicy::L4 => false,
                Ipv6HashPolicy::Custom(fields) => fields & field::FLOWLABEL != 0,
            };
            if labelled {
                assert!(
                    counts.unlabelled_differs * 4 > counts.checked,
                    "{policy}: ignoring the flow label changes only {} of {} choices",
                    counts.unlabelled_differs,
                    counts.checked
                );
            } else {
                assert_eq!(counts.unlabelled_differs, 0, "{policy} ignores the label");
            }
            report.push(format!(
                "{} {policy}: {} agree; other path misses {}, label zeroed misses {}",
                if resilient { "resilient" } else { "threshold" },
                counts.checked,
                counts.other_path_differs,
                counts.unlabelled_differs
            ));
        }
    }
    eprintln!(
        "kernel_ecmp6 ({:.1} s):\n  {}",
        started.elapsed().as_secs_f64(),
        report.join("\n  ")
    );
}

/// AF_PACKET sockets inside the router namespace: one injecting frames on `in1` (so they
/// arrive on `in0`), one reading what the router forwards out of `out0` (seen on `out1`).
struct Wire {
    send: OwnedFd,
    recv: OwnedFd,
    in0_mac: [u8; 6],
}

fn packet_socket(ifindex: u32) -> Result<OwnedFd, String> {
    let proto = (libc::ETH_P_ALL as u16).to_be();
    // SAFETY: plain socket(2); the fd is owned right away.
    let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW, i32::from(proto)) };
    if fd < 0 {
        return Err(format!(
            "AF_PACKET socket: {}",
            std::io::Error::last_os_error()
        ));
    }
    // SAFETY: fd is a fresh descriptor nobody else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: sockaddr_ll is plain old data; zeroed is a valid value.
    let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    addr.sll_family = libc::AF_PACKET as u16;
    addr.sll_protocol = proto;
    addr.sll_ifindex = ifindex as i32;
    // SAFETY: addr is a valid sockaddr_ll of the size given.
    let rc = unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&addr as *const libc::sockaddr_ll).cast(),
            std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(format!(
            "bind AF_PACKET: {}",
            std::io::Error::last_os_error()
        ));
    }
    recv_timeout(&fd, 1);
    Ok(fd)
}

fn node_mac(i: NextHop) -> [u8; 6] {
    [2, 0, 0, 0, 1, 0x10 + i as u8]
}

impl Wire {
    fn open(ns: &Netns) -> Result<Wire, String> {
        let (in1, out1) = (ns.ifindex("in1")?, ns.ifindex("out1")?);
        let shown = ns.ip(&["-o", "link", "show", "in0"])?;
        let mac_text = shown
            .split_whitespace()
            .skip_while(|w| *w != "link/ether")
            .nth(1)
            .ok_or_else(|| format!("no MAC in {shown:?}"))?;
        let mut in0_mac = [0u8; 6];
        for (slot, part) in in0_mac.iter_mut().zip(mac_text.split(':')) {
            *slot = u8::from_str_radix(part, 16).map_err(|e| e.to_string())?;
        }
        let path = format!("/run/netns/{}", ns.name);
        let (send, recv) = std::thread::scope(|scope| {
            scope
                .spawn(|| -> Result<(OwnedFd, OwnedFd), String> {
                    let file = std::fs::File::open(&path).map_err(|e| format!("{path}: {e}"))?;
                    // SAFETY: setns on a valid namespace fd affects only this thread.
                    if unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                        return Err(format!("setns: {}", std::io::Error::last_os_error()));
                    }
                    Ok((packet_socket(in1)?, packet_socket(out1)?))
                })
                .join()
                .map_err(|_| "packet socket thread panicked".to_string())?
        })?;
        Ok(Wire {
            send,
            recv,
            in0_mac,
        })
    }

    /// Sends one TCP segment of `flow` into the router and returns the node whose MAC the
    /// forwarded copy is addressed to.
    fn forward(&self, flow: &FlowKey6) -> Result<NextHop, String> {
        let mut frame = Vec::with_capacity(14 + 40 + 20);
        frame.extend_from_slice(&self.in0_mac);
        frame.extend_from_slice(&[2, 0, 0, 0, 2, 1]);
        frame.extend_from_slice(&[0x86, 0xdd]);
        let first = (6u32 << 28) | (flow.flow_label & 0xf_ffff);
        frame.extend_from_slice(&first.to_be_bytes());
        frame.extend_from_slice(&20u16.to_be_bytes());
        frame.extend_from_slice(&[flow.proto, 64]);
        frame.extend_from_slice(&flow.src.octets());
        frame.extend_from_slice(&flow.dst.octets());
        frame.extend_from_slice(&flow.sport.to_be_bytes());
        frame.extend_from_slice(&flow.dport.to_be_bytes());
        frame.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff, 0, 0, 0, 0]);
        // SAFETY: frame is a live buffer of frame.len() bytes.
        let sent =
            unsafe { libc::send(self.send.as_raw_fd(), frame.as_ptr().cast(), frame.len(), 0) };
        if sent != frame.len() as isize {
            return Err(format!("send: {}", std::io::Error::last_os_error()));
        }
        let mut buf = [0u8; 2048];
        for _ in 0..64 {
            // SAFETY: buf is a live buffer of buf.len() bytes.
            let got =
                unsafe { libc::recv(self.recv.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
            if got < 0 {
                return Err(format!(
                    "no forwarded copy of {flow:?}: {}",
                    std::io::Error::last_os_error()
                ));
            }
            let got = &buf[..got as usize];
            let ours = got.len() >= 14 + 40 + 4
                && got[12..14] == [0x86, 0xdd]
                && got[14 + 8..14 + 24] == flow.src.octets()
                && got[14 + 40..14 + 42] == flow.sport.to_be_bytes();
            if ours {
                let dst = &got[..6];
                return (0..MAX_NODES)
                    .find(|&i| node_mac(i) == dst)
                    .ok_or_else(|| format!("forwarded to unknown MAC {dst:02x?}"));
            }
        }
        Err(format!("no forwarded copy of {flow:?} among 64 frames"))
    }
}

/// Forwarded packets: real TCP segments through the router, the next hop read from the
/// destination MAC of the forwarded copy (a static neighbour per node). Hash-threshold groups,
/// the same policies, N and changes as above; the model on the forwarded path must agree, and
/// the route-lookup model must miss many flows for policies 2 and 3.
#[test]
fn ipv6_forwarded_packets_take_the_models_next_hop() {
    let needs = testkit::root("network namespaces")
        .and(testkit::program("ip", "iproute2"))
        .and(testkit::program("sysctl", "procps"));
    if testkit::or_skip(needs).is_none() {
        return;
    }
    let (ns, _socket, _iif) = match router("f") {
        Ok(r) => r,
        Err(reason) => {
            testkit::Missing::new(
                format!("could not build the router namespace ({reason})"),
                "needs Linux >= 6.11 with network namespaces, veth and nexthop objects",
            )
            .skip();
            return;
        }
    };
    for i in 0..MAX_NODES {
        let mac = node_mac(i)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(":");
        ns.ip(&[
            "-6",
            "neigh",
            "replace",
            &node_addr(i).to_string(),
            "lladdr",
            &mac,
            "dev",
            "out0",
            "nud",
            "permanent",
        ])
        .expect("static neighbour");
    }
    let wire = Wire::open(&ns).unwrap_or_else(|e| panic!("{e}"));
    let vip = format!("{VIP}/128");
    let gid = GROUP_ID.to_string();
    let started = std::time::Instant::now();
    let mut report = Vec::new();
    for (k, policy) in policies().into_iter().enumerate() {
        let seed = 0xf0d0_0001 + k as u32 * 0x0101_0101;
        set_hash(&ns, policy, seed).unwrap();
        let model = Ipv6Hasher::new(policy, Ipv6HashPath::Forwarded, seed);
        let other = Ipv6Hasher::new(policy, Ipv6HashPath::RouteLookup, seed);
        let flows = random_flows6(u64::from(seed), 200, VIP, 443);
        let (mut checked, mut other_misses, mut unlabelled_misses) = (0, 0, 0);
        for n in 2..=8u32 {
            let _ = ns.ip(&["-6", "route", "del", &vip]);
            let _ = ns.ip(&["nexthop", "del", "id", &gid]);
            let steps = changes(n);
            let base = steps[0].1.clone();
            ns.ip(&["nexthop", "add", "id", &gid, "group", &group_arg(&base)])
                .unwrap();
            ns.ip(&["-6", "route", "replace", &vip, "nhid", &gid])
                .unwrap();
            for (step, (what, members)) in steps.iter().enumerate() {
                if step > 0 {
                    ns.ip(&[
                        "nexthop",
                        "replace",
                        "id",
                        &gid,
                        "group",
                        &group_arg(members),
                    ])
                    .unwrap();
                }
                let mut group = EcmpGroup::new(Selection::HashThreshold, &base).unwrap();
                group.set_next_hops(SimTime::ZERO, members);
                let kernel: Vec<NextHop> = flows
                    .iter()
                    .map(|f| wire.forward(f))
                    .collect::<Result<_, _>>()
                    .unwrap_or_else(|e| panic!("{e}"));
                let predicted: Vec<Option<NextHop>> =
                    flows.iter().map(|f| group.peek(model.hash(f))).collect();
                compare_flows(
                    &format!("forwarded {policy} N={n} {what}"),
                    &flows,
                    &kernel,
                    &predicted,
                )
                .unwrap_or_else(|e| panic!("{e}"));
                checked += flows.len();
                other_misses += flows
                    .iter()
                    .zip(&kernel)
                    .filter(|(f, k)| group.peek(other.hash(f)) != Some(**k))
                    .count();
                unlabelled_misses += flows
                    .iter()
                    .zip(&kernel)
                    .filter(|(f, k)| {
                        let unlabelled = FlowKey6 {
                            flow_label: 0,
                            ..**f
                        };
                        group.peek(model.hash(&unlabelled)) != Some(**k)
                    })
                    .count();
            }
        }
        let labelled = match policy {
            Ipv6HashPolicy::L3 | Ipv6HashPolicy::InnerL3 => true,
            Ipv6HashPolicy::L4 => false,
            Ipv6HashPolicy::Custom(fields) => fields & field::FLOWLABEL != 0,
        };
        if labelled {
            assert!(
                unlabelled_misses * 4 > checked,
                "{policy}: ignoring the header's flow label changes only {unlabelled_misses} of {checked}"
            );
        } else {
            assert_eq!(unlabelled_misses, 0, "{policy} ignores the label");
        }
        if matches!(policy, Ipv6HashPolicy::InnerL3 | Ipv6HashPolicy::Custom(_)) {
            assert!(
                other_misses * 4 > checked,
                "{policy}: the route-lookup model agrees with forwarding on {} of {checked}",
                checked - other_misses
            );
        } else {
            assert_eq!(other_misses, 0, "{policy}: the paths agree");
        }
        report.push(format!(
            "{policy}: {checked} forwarded packets agree; route-lookup model misses \
             {other_misses}, label zeroed misses {unlabelled_misses}"
        ));
    }
    eprintln!(
        "kernel_ecmp6 forwarded ({:.1} s):\n  {}",
        started.elapsed().as_secs_f64(),
        report.join("\n  ")
    );
}
