//! `sim profile DIR`: a scenario derived from a real-cluster profile (docs/profile.md).
//!
//! Each parameter comes from one part of the profile and is printed with its evidence (file
//! and key or line); what the profile does not carry keeps lbsim's default and says so. The
//! metrics a derivation consumed are *fitted* ([`Derivation::fitted`]): `sim compare` shows
//! them but never judges them, so agreement on them proves nothing (issue 10, "No circular
//! checks"). The cluster's shape and fault timeline (the experiment, not a measurement) may
//! come from another profile (`--experiment`), so that a scenario derived from `calib/`
//! replays what `check/` did.
//!
//! The scenario has four variants, each writing the seed's tool files under the profile's
//! names so that `sim compare` reads both sides with the same readers:
//! `l2` (saturation and low load in Layer 2 mode), `bgp` (BFD on: the faults before the
//! profile's `bfd_off`, then the first blackout), `hold` (BFD off: the hold-timer crashes),
//! `txrehash` (the blackout with the clients' `net.core.txrehash` 1).

pub mod read;

use std::fmt::Write as _;
use std::path::Path;

pub use read::ProfileError;
use read::{err, Fault};

/// One derived (or defaulted) value.
#[derive(Debug, Clone, PartialEq)]
pub struct Evidence {
    /// The scenario field(s).
    pub field: String,
    /// The value as written into the scenario.
    pub value: String,
    /// Where it came from (`file: key` or line); `None`: lbsim's default, with why in `note`.
    pub source: Option<String>,
    /// How it was computed, or why there is no measurement.
    pub note: String,
}

/// What `sim profile` produced.
#[derive(Debug, Clone)]
pub struct Derivation {
    /// The scenario (RON), with the evidence as comments.
    pub text: String,
    /// Every value, in the scenario's order.
    pub evidence: Vec<Evidence>,
    /// `metric/variant` of every measurement the derivation used (fitted, not predicted).
    pub fitted: Vec<String>,
}

/// Where the simulated load phases and faults sit (seconds of simulated time).
const LOWLOAD: (f64, f64) = (1.0, 4.0);
const WRK: (f64, f64) = (4.5, 9.5);
const IPERF: (f64, f64) = (10.0, 13.0);
const POOL_START: f64 = 14.0;
const FIRST_FAULT: f64 = 20.0;

struct Builder {
    evidence: Vec<Evidence>,
    fitted: Vec<String>,
}

impl Builder {
    fn derived(
        &mut self,
        field: &str,
        value: impl Into<String>,
        source: impl Into<String>,
        note: impl Into<String>,
    ) -> String {
        let value = value.into();
        self.evidence.push(Evidence {
            field: field.into(),
            value: value.clone(),
            source: Some(source.into()),
            note: note.into(),
        });
        value
    }
    fn default(
        &mut self,
        field: &str,
        value: impl Into<String>,
        note: impl Into<String>,
    ) -> String {
        let value = value.into();
        self.evidence.push(Evidence {
            field: field.into(),
            value: value.clone(),
            source: None,
            note: note.into(),
        });
        value
    }
}

/// A duration as the scenario files write it, in microseconds (exact for what profiles give).
fn dur(s: f64) -> String {
    let us = (s * 1e6).round().max(0.0) as u64;
    if us.is_multiple_of(1_000_000) {
        format!("{}s", us / 1_000_000)
    } else if us.is_multiple_of(1000) {
        format!("{}ms", us / 1000)
    } else {
        format!("{us}us")
    }
}

fn num(v: &serde_json::Value, file: &Path, key: &str) -> Result<Option<f64>, ProfileError> {
    match read::at(v, key) {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(x) => x
            .as_f64()
            .or_else(|| x.as_str().and_then(|s| s.trim().parse().ok()))
            .map(Some)
            .ok_or_else(|| {
                err(
                    file,
                    format!("key {key}"),
                    format!("expected a number, found {x}"),
                )
            }),
    }
}

/// Derive a scenario from the profile in `dir`; the cluster shape and the fault timeline from
/// `experiment` when given (else from `dir`).
///
/// # Errors
/// A file that is present but malformed, naming the file and the line or key.
pub fn derive(dir: &Path, experiment: Option<&Path>) -> Result<Derivation, ProfileError> {
    let exp = experiment.unwrap_or(dir);
    let mut b = Builder {
        evidence: Vec::new(),
        fitted: Vec::new(),
    };
    let lab_file = exp.join("lab.json");
    let lab = read::json(exp, "lab.json")?.unwrap_or(serde_json::Value::Null);
    let own_lab = read::json(dir, "lab.json")?.unwrap_or(serde_json::Value::Null);

    // --- the cluster (the experiment) -------------------------------------------------------
    let nodes = match read::at(&lab, "nodes") {
        Some(serde_json::Value::Array(a)) if !a.is_empty() && a.len() <= 1000 => b.derived(
            "nodes.count",
            a.len().to_string(),
            format!("{}: nodes", lab_file.display()),
            "one entry per node",
        ),
        Some(x) => {
            return Err(err(
                &lab_file,
                "key nodes",
                format!("expected a non-empty array of nodes, found {x}"),
            ))
        }
        None => b.default(
            "nodes.count",
            "3",
            "no lab.json nodes: the seed's three nodes",
        ),
    };
    let n_nodes: u16 = nodes.parse().unwrap_or(3);
    let pods_per_node = match num(&lab, &lab_file, "pods_per_node")? {
        Some(p) if (1.0..=1000.0).contains(&p) && p.fract() == 0.0 => {
            b.derived(
                "service.pods.replicas",
                format!("{}", p as u16 * n_nodes),
                format!("{}: pods_per_node", lab_file.display()),
                format!("{p} per node x {n_nodes} nodes"),
            );
            p as u16
        }
        Some(p) => {
            return Err(err(
                &lab_file,
                "key pods_per_node",
                format!("expected a whole number 1..1000, found {p}"),
            ))
        }
        None => {
            b.default(
                "service.pods.replicas",
                format!("{}", 2 * n_nodes),
                "no lab.json pods_per_node: two per node",
            );
            2
        }
    };
    let policy = match read::at(&lab, "traffic_policy").and_then(|v| v.as_str()) {
        Some(p @ ("Local" | "Cluster")) => b.derived(
            "service.traffic_policy",
            p,
            format!("{}: traffic_policy", lab_file.display()),
            "",
        ),
        Some(p) => {
            return Err(err(
                &lab_file,
                "key traffic_policy",
                format!("expected Local or Cluster, found {p:?}"),
            ))
        }
        None => b.default(
            "service.traffic_policy",
            "Local",
            "no lab.json traffic_policy",
        ),
    };

    // --- capacity: one node saturated in L2 mode (wrk), the pod's CPU limit ----------------------
    let cpu = match num(&own_lab, &dir.join("lab.json"), "pod_cpu_limit")? {
        Some(c) if c > 0.0 && c <= 1000.0 => b.derived(
            "service.pods.cpu",
            format!("{c}"),
            format!("{}: pod_cpu_limit", dir.join("lab.json").display()),
            "cores per pod (CFS quota)",
        ),
        Some(c) => {
            return Err(err(
                &dir.join("lab.json"),
                "key pod_cpu_limit",
                format!("expected cores > 0, found {c}"),
            ))
        }
        None => b.default(
            "service.pods.cpu",
            "1.0",
            "no lab.json pod_cpu_limit: one core per pod",
        ),
    };
    let cpu_f: f64 = cpu.parse().unwrap_or(1.0);
    let service_time = match read::text(dir, "l2_wrk_results.txt")? {
        Some(t) => {
            let w = crate::tools::wrk::parse(&t)
                .map_err(|e| err(&dir.join("l2_wrk_results.txt"), "", e.to_string()))?;
            if w.requests_per_sec.is_nan() || w.requests_per_sec <= 0.0 {
                return Err(err(
                    &dir.join("l2_wrk_results.txt"),
                    "Requests/sec",
                    "expected a positive rate",
                ));
            }
            b.fitted.push("rps/l2".into());
            let st = cpu_f * f64::from(pods_per_node) / w.requests_per_sec;
            b.derived(
                "service.pods.service_time",
                format!("Constant(time: \"{}ns\")", (st * 1e9).round().max(1.0)),
                format!("{}: Requests/sec {}", dir.join("l2_wrk_results.txt").display(), w.requests_per_sec),
                format!("L2 sends everything to one node: its {pods_per_node} pods at {cpu} cores serve {} req/s, so {:.2} us of CPU each", w.requests_per_sec, st * 1e6),
            )
        }
        None => b.default(
            "service.pods.service_time",
            "Constant(time: \"200us\")",
            "no l2_wrk_results.txt (one node saturated): reallab_check.ron's value",
        ),
    };

    // --- the network: ping's round trip at low load, iperf3 through one node ---------------------
    let delay = match read::text(dir, "bgp_failover_results.txt")? {
        Some(t) => {
            let p = crate::tools::ping::parse(&t)
                .map_err(|e| err(&dir.join("bgp_failover_results.txt"), "", e.to_string()))?;
            let rtts: Vec<f64> = p.answers.iter().map(|a| a.time_ms).collect();
            if rtts.is_empty() {
                b.default(
                    "network.*.delay",
                    "50us",
                    "bgp_failover_results.txt has no answered ping",
                )
            } else {
                let rtt = read::median(&rtts) / 1e3;
                b.fitted.push("ping_rtt_ms/bgp".into());
                b.derived(
                    "network.client_link.delay, network.node_link.delay",
                    dur((rtt / 4.0).max(1e-6)),
                    format!("{}: median time= of {} replies, {:.3} ms", dir.join("bgp_failover_results.txt").display(), rtts.len(), rtt * 1e3),
                    "client - router - node and back: four hops of a quarter each (the HTTP low-load latency is predicted, not fitted)",
                )
            }
        }
        None => b.default(
            "network.*.delay",
            "50us",
            "no bgp_failover_results.txt (ping): DESIGN.md's tens of microseconds per hop",
        ),
    };
    let bandwidth = match read::text(dir, "l2_throughput.json")? {
        Some(t) => {
            let s = crate::tools::iperf3::parse(&t)
                .map_err(|e| err(&dir.join("l2_throughput.json"), "", e.to_string()))?;
            b.fitted.push("gbit_s/l2".into());
            b.derived(
                "network.node_link.bandwidth",
                format!("{:.0}Mbit/s", (s.received_bps / 1e6).max(1.0)),
                format!(
                    "{}: end.sum_received.bits_per_second",
                    dir.join("l2_throughput.json").display()
                ),
                format!(
                    "iperf3 -P {} through the L2 leader, one node's path",
                    s.streams
                ),
            )
        }
        None => b.default(
            "network.node_link.bandwidth",
            "10Gbit/s",
            "no l2_throughput.json: the default 10 Gbit/s NIC",
        ),
    };

    // --- BGP: FRR's negotiated timers ---------------------------------------------------------
    let nb_file = dir.join("frr_bgp_neighbors_before.json");
    let nb = read::json(dir, "frr_bgp_neighbors_before.json")?;
    let first_peer = nb.as_ref().and_then(|v| v.as_object()).and_then(|o| {
        o.iter()
            .find(|(k, _)| k.contains('.'))
            .map(|(k, v)| (k.clone(), v.clone()))
    });
    let (keepalive, hold, retry) = match &first_peer {
        Some((peer, v)) => {
            let ka = num(v, &nb_file, "bgpTimerKeepAliveIntervalMsecs")?.ok_or_else(|| {
                err(
                    &nb_file,
                    format!("key {peer}.bgpTimerKeepAliveIntervalMsecs"),
                    "missing: is this `show bgp neighbors json`?",
                )
            })?;
            let h = num(v, &nb_file, "bgpTimerHoldTimeMsecs")?.ok_or_else(|| {
                err(
                    &nb_file,
                    format!("key {peer}.bgpTimerHoldTimeMsecs"),
                    "missing",
                )
            })?;
            let r = num(v, &nb_file, "connectRetryTimer")?;
            let src = |k: &str| format!("{}: {peer}.{k}", nb_file.display());
            (
                b.derived(
                    "bgp.speaker keepalive",
                    dur(ka / 1e3),
                    src("bgpTimerKeepAliveIntervalMsecs"),
                    "negotiated",
                ),
                b.derived(
                    "bgp.speaker hold, bgp.router_hold_time",
                    dur(h / 1e3),
                    src("bgpTimerHoldTimeMsecs"),
                    "negotiated: min of both sides",
                ),
                match r {
                    Some(r) => b.derived(
                        "bgp.speaker connect_retry",
                        dur(r),
                        src("connectRetryTimer"),
                        "the router's; lab.json names the nodes'",
                    ),
                    None => b.default("bgp.speaker connect_retry", "10s", "no connectRetryTimer"),
                },
            )
        }
        None => (
            b.default(
                "bgp.speaker keepalive",
                "3s",
                "no frr_bgp_neighbors_before.json: FRR datacenter timers",
            ),
            b.default("bgp.speaker hold", "9s", "no frr_bgp_neighbors_before.json"),
            b.default(
                "bgp.speaker connect_retry",
                "10s",
                "no frr_bgp_neighbors_before.json",
            ),
        ),
    };
    // Graceful restart only helps when a side keeps forwarding (RFC 4724 4.2: the F bit);
    // MetalLB's FRR template is helper-only.
    let gr = match &first_peer {
        Some((peer, v)) => {
            let mode = read::at(v, "gracefulRestartInfo.remoteGrMode")
                .and_then(|m| m.as_str())
                .unwrap_or("");
            let timer = num(
                v,
                &nb_file,
                "gracefulRestartInfo.timers.receivedRestartTimer",
            )?;
            if mode == "Restart" {
                let t = timer.unwrap_or(120.0);
                b.derived(
                    "bgp.graceful_restart",
                    format!("Some(\"{}\")", dur(t)),
                    format!("{}: {peer}.gracefulRestartInfo", nb_file.display()),
                    "the node restarts gracefully",
                )
            } else {
                b.derived(
                    "bgp.graceful_restart",
                    "None",
                    format!(
                        "{}: {peer}.gracefulRestartInfo.remoteGrMode {mode:?}",
                        nb_file.display()
                    ),
                    "helper only: no side preserves forwarding, so a restart is a session loss",
                )
            }
        }
        None => b.default(
            "bgp.graceful_restart",
            "None",
            "no frr_bgp_neighbors_before.json",
        ),
    };
    let bfd_file = dir.join("frr_bfd_peers_before.json");
    let bfd = match read::json(dir, "frr_bfd_peers_before.json")? {
        Some(serde_json::Value::Array(peers)) if !peers.is_empty() => {
            let p = &peers[0];
            let tx = num(p, &bfd_file, "transmit-interval")?.ok_or_else(|| {
                err(
                    &bfd_file,
                    "key [0].transmit-interval",
                    "missing: is this `show bfd peers json`?",
                )
            })?;
            let rx = num(p, &bfd_file, "receive-interval")?
                .ok_or_else(|| err(&bfd_file, "key [0].receive-interval", "missing"))?;
            let m = num(p, &bfd_file, "detect-multiplier")?
                .ok_or_else(|| err(&bfd_file, "key [0].detect-multiplier", "missing"))?;
            if !(2.0..=255.0).contains(&m) {
                return Err(err(
                    &bfd_file,
                    "key [0].detect-multiplier",
                    format!("expected 2..255, found {m}"),
                ));
            }
            Some(b.derived(
                "bgp.bfd",
                format!(
                    "(transmit_interval: \"{}\", receive_interval: \"{}\", detect_multiplier: {})",
                    dur(tx / 1e3),
                    dur(rx / 1e3),
                    m as u8
                ),
                format!(
                    "{}: [0].transmit-interval, receive-interval, detect-multiplier",
                    bfd_file.display()
                ),
                "as negotiated on the router",
            ))
        }
        Some(x) => {
            return Err(err(
                &bfd_file,
                "",
                format!(
                    "expected a non-empty array of peers, found {}",
                    if x.is_array() {
                        "[]"
                    } else {
                        "another JSON value"
                    }
                ),
            ))
        }
        None => {
            b.default("bgp.bfd", "None", "no frr_bfd_peers_before.json: BFD off");
            None
        }
    };

    // --- the session-down-to-FIB delay: frr_router.log Down -> router_monitor.log -----------------
    let vip = read::at(&own_lab, "vip_bgp")
        .and_then(|v| v.as_str())
        .unwrap_or("198.18.1.250")
        .to_string();
    let peer_down = match (read::adj_downs(dir)?, read::vip_routes(dir, &vip)?) {
        (Some(downs), Some(routes)) => {
            // Per cause: FRR logs `Down BGP Notification send` when the router ended the
            // session itself (hold timer or BFD expired) and `BGP Notification received` or
            // `Peer closed the session` when the node did.
            let mut by_cause: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
            for (t, _, cause) in &downs {
                if let Some((r, _)) = routes.iter().find(|(r, _)| *r >= *t && *r <= *t + 2.0) {
                    by_cause[usize::from(cause.contains("send"))].push(r - t);
                }
            }
            let per_cause = |v: &[f64]| {
                if v.is_empty() {
                    "none".to_string()
                } else {
                    format!("median of {} = {:.1} ms", v.len(), read::median(v) * 1e3)
                }
            };
            let causes = format!(
                "ended by the node (NOTIFICATION received, TCP closed): {}; by the router's timers (hold, BFD): {}",
                per_cause(&by_cause[0]),
                per_cause(&by_cause[1])
            );
            let d: Vec<f64> = by_cause.concat();
            if d.is_empty() {
                b.default(
                    "bgp.peer_down_delay",
                    "10ms",
                    "no ADJCHANGE Down followed by a VIP route change within 2 s",
                )
            } else {
                let m = read::median(&d);
                let fib = bgp::rib::Fib::DEFAULT_PROGRAMMING_DELAY.as_secs_f64();
                b.fitted.push("session_down_fib_s/*".into());
                b.derived(
                    "bgp.peer_down_delay",
                    dur((m - fib).max(0.0)),
                    format!(
                        "{} ADJCHANGE Down -> {} (VIP {vip}): median of {} = {:.1} ms",
                        dir.join("frr_router.log").display(),
                        dir.join("router_monitor.log").display(),
                        d.len(),
                        m * 1e3
                    ),
                    format!(
                        "less fib_delay {:.0} ms (FRR's work queues, kept: bgp::rib::Fib); one value for every cause, as the causes agree ({causes})",
                        fib * 1e3
                    ),
                )
            }
        }
        _ => b.default(
            "bgp.peer_down_delay",
            "10ms",
            "no frr_router.log or router_monitor.log: bgp::rib::Fib's default",
        ),
    };

    // --- ECMP: sysctl.txt and the route's next-hop order ---------------------------------------
    let sysctl = read::sysctl(dir)?.unwrap_or_default();
    let sysf = dir.join("sysctl.txt");
    let sv = |k: &str| {
        sysctl
            .get(k)
            .map(|(v, l)| (v.clone(), format!("{}: line {l} {k}", sysf.display())))
    };
    let fields = match sv("net.ipv4.fib_multipath_hash_policy") {
        Some((v, src)) => match v.as_str() {
            "0" => b.derived("ecmp.fields", "ThreeTuple", src, "policy 0: L3"),
            "1" => b.derived("ecmp.fields", "FiveTuple", src, "policy 1: L4"),
            _ => {
                return Err(err(
                    &sysf,
                    "key net.ipv4.fib_multipath_hash_policy",
                    format!("expected 0 or 1 (2, 3: inner headers, not modelled), found {v:?}"),
                ))
            }
        },
        None => b.default("ecmp.fields", "FiveTuple", "no sysctl.txt hash policy"),
    };
    let seed = match sv("net.ipv4.fib_multipath_hash_seed") {
        Some((v, src)) => {
            let s: u32 = v.parse().map_err(|_| {
                err(
                    &sysf,
                    "key net.ipv4.fib_multipath_hash_seed",
                    format!("expected a 32-bit number, found {v:?}"),
                )
            })?;
            if s == 0 {
                b.derived(
                    "ecmp.seed",
                    "24301",
                    src,
                    "0 is the kernel's random per-boot key: lbsim's default seed stands for it",
                )
            } else {
                b.derived("ecmp.seed", s.to_string(), src, "")
            }
        }
        None => b.default("ecmp.seed", "24301", "no sysctl.txt hash seed"),
    };
    let txrehash = |b: &mut Builder, on: Option<bool>| -> Result<String, ProfileError> {
        let source = sysctl
            .get("reallab.hash_source")
            .map(|(v, l)| (v.clone(), *l));
        Ok(match source {
            Some((v, l)) if v.starts_with("skb-l4-hash") => {
                // The client's txrehash is the second net.core.txrehash (docs/profile.md).
                let client = client_txrehash(&sysf, dir)?;
                let t = on.unwrap_or(client == Some(true));
                b.derived("ecmp.hash_source", format!("SocketTxhash(txrehash: {t})"), format!("{}: line {l} reallab.hash_source", sysf.display()), "the router hashes the sender's sk_txhash (across a veth); txrehash: the client's net.core.txrehash")
            }
            Some((v, l)) if v.starts_with("flow-keys") => b.derived(
                "ecmp.hash_source",
                "FlowKeys",
                format!("{}: line {l} reallab.hash_source", sysf.display()),
                "",
            ),
            Some((v, l)) => {
                return Err(err(
                    &sysf,
                    format!("line {l}"),
                    format!(
                        "reallab.hash_source: expected flow-keys or skb-l4-hash ..., found {v:?}"
                    ),
                ))
            }
            None => b.default(
                "ecmp.hash_source",
                "FlowKeys",
                "no reallab.hash_source in sysctl.txt: the flow keys, as `ip route get`",
            ),
        })
    };
    let hash_source = txrehash(&mut b, None)?;
    let order = match read::json(dir, "router_ip_route_before.json")? {
        Some(v) => {
            let route = v.as_array().and_then(|a| {
                a.iter()
                    .find(|r| r.get("dst").and_then(|d| d.as_str()) == Some(vip.as_str()))
            });
            match route
                .and_then(|r| r.get("nexthops"))
                .and_then(|n| n.as_array())
            {
                Some(hops) => {
                    let gws: Vec<String> = hops
                        .iter()
                        .filter_map(|h| h.get("gateway").and_then(|g| g.as_str()).map(String::from))
                        .collect();
                    let mut sorted = gws.clone();
                    sorted.sort_by_key(|g| {
                        g.parse::<std::net::Ipv4Addr>().map(u32::from).unwrap_or(0)
                    });
                    let o = if gws == sorted {
                        "ByAddress"
                    } else {
                        "ByArrival"
                    };
                    b.derived(
                        "ecmp.nexthop_order",
                        o,
                        format!(
                            "{}: {vip}.nexthops {}",
                            dir.join("router_ip_route_before.json").display(),
                            gws.join(" ")
                        ),
                        "gateway order of the installed route",
                    )
                }
                None => b.default(
                    "ecmp.nexthop_order",
                    "ByAddress",
                    format!("router_ip_route_before.json has no multipath route for {vip}"),
                ),
            }
        }
        None => b.default(
            "ecmp.nexthop_order",
            "ByAddress",
            "no router_ip_route_before.json: zebra's sorted nexthop group",
        ),
    };
    let arp_accept = sysctl
        .iter()
        .find(|(k, _)| k.starts_with("net.ipv4.conf.") && k.ends_with(".arp_accept"))
        .map(|(k, (v, l))| (k.clone(), v.clone(), *l));
    let arp = match arp_accept {
        Some((k, v, l)) => match v.as_str() {
            "0" => b.derived(
                "l2.arp_accept",
                "Never",
                format!("{}: line {l} {k}", sysf.display()),
                "the first setting; the profile's arp_accept faults change it",
            ),
            "1" => b.derived(
                "l2.arp_accept",
                "Always",
                format!("{}: line {l} {k}", sysf.display()),
                "",
            ),
            "2" => b.derived(
                "l2.arp_accept",
                "SameSubnet",
                format!("{}: line {l} {k}", sysf.display()),
                "",
            ),
            _ => {
                return Err(err(
                    &sysf,
                    format!("line {l}"),
                    format!("{k}: expected 0, 1 or 2, found {v:?}"),
                ))
            }
        },
        None => b.default(
            "l2.arp_accept",
            "Never",
            "no arp_accept in sysctl.txt: Linux's default 0",
        ),
    };
    b.default(
        "nodes.cores, nodes.packet_cost",
        "2, 10us",
        "not in a profile: reallab_check.ron's values (the lab's two-core host)",
    );

    // --- the fault timeline --------------------------------------------------------------------
    let faults = read::faults(exp)?.unwrap_or_default();
    let tl = timeline(&faults, &exp.join("faults.csv"), n_nodes)?;
    b.evidence.push(Evidence {
        field: "events".into(),
        value: format!("bgp {} events, hold {} events, blackouts {}", tl.bgp.len(), tl.hold.len(), tl.blackouts.len()),
        source: (!faults.is_empty()).then(|| format!("{}: {} rows", exp.join("faults.csv").display(), faults.len())),
        note: if faults.is_empty() {
            "no faults.csv: no faults".into()
        } else {
            format!("the lab's order and spacing, the first fault at {FIRST_FAULT} s; before bfd_off in `bgp`, after it in `hold`; the pool refreshes of the lab are not replayed")
        },
    });

    // --- the scenario text ----------------------------------------------------------------------
    let mut t = String::new();
    let _ = writeln!(
        t,
        "// Derived by `sim profile {}`{}: every value with its evidence.",
        dir.display(),
        experiment.map_or(String::new(), |e| format!(" --experiment {}", e.display()))
    );
    for e in &b.evidence {
        let _ = writeln!(
            t,
            "//   {} = {}: {}{}",
            e.field,
            e.value,
            e.source.as_deref().unwrap_or("default"),
            if e.note.is_empty() {
                String::new()
            } else {
                format!(" ({})", e.note)
            }
        );
    }
    let _ = writeln!(
        t,
        "// Fitted (sim compare shows, never judges): {}",
        b.fitted.join(", ")
    );
    let end = tl.end.max(POOL_START + 10.0);
    let bfd_text = bfd
        .as_deref()
        .map_or(String::new(), |s| format!(", bfd: {s}"));
    let speaker =
        format!("Frr(keepalive: \"{keepalive}\", hold: \"{hold}\", connect_retry: \"{retry}\")");
    let bgp_common = format!("speaker: {speaker}, graceful_restart: {gr}, router_hold_time: \"{hold}\", peer_down_delay: \"{peer_down}\"");
    let events = |ev: &[String]| format!("[{}]", ev.join(", "));
    let _ = write!(
        t,
        r#"(
    name: "profile",
    description: "derived from a real-cluster profile by sim profile",
    duration: "{duration}",
    network: (
        client_link: (delay: "{delay}", bandwidth: "40Gbit/s"),
        node_link: (delay: "{delay}", bandwidth: "{bandwidth}"),
    ),
    nodes: (count: {n_nodes}, cores: 2, packet_cost: "10us"),
    service: (
        vip: "192.0.2.10",
        traffic_policy: {policy},
        pods: (replicas: {replicas}, cpu: {cpu}, service_time: {service_time}),
    ),
    ecmp: (fields: {fields}, hash: Linux, seed: {seed}, selection: HashThreshold, nexthop_order: {order}, hash_source: {hash_source}),
    bgp: ({bgp_common}{bfd_text}),
    clients: [
        (name: "lowload", load: Fortio(qps: 100, connections: 20), timeout: "2s", start: "{l0}s", stop: "{l1}s", output: "{{variant}}_fortio.json"),
        (name: "wrk", load: Wrk(threads: 2, connections: 100), timeout: "2s", start: "{w0}s", stop: "{w1}s", output: "{{variant}}_wrk_results.txt"),
        (name: "iperf", load: Iperf3(parallel: 10), timeout: "2s", start: "{i0}s", stop: "{i1}s", output: "{{variant}}_throughput.json"),
        (name: "conns", load: OpenLoop(rate: 2000), connections: KeepAlive(pool: 2000), timeout: "30s", start: "{pool}s"),
        (name: "ping", load: Ping(interval: "100ms"), timeout: "1s", start: "{pool}s", output: "{{variant}}_failover_results.txt"),{probe}
    ],
    events: {bgp_events},
    variants: [
        (name: "l2", l2: (clients: BehindGateway, arp_accept: {arp}), events: []),
        (name: "bgp"),
        (name: "hold", bgp: ({bgp_common}), events: {hold_events}),
        (name: "txrehash", ecmp: (hash_source: {rehash}), events: {rehash_events}),{join}{l2_takeovers}
    ],
)
"#,
        duration = dur(end),
        replicas = pods_per_node * n_nodes,
        l0 = LOWLOAD.0,
        l1 = LOWLOAD.1,
        w0 = WRK.0,
        w1 = WRK.1,
        i0 = IPERF.0,
        i1 = IPERF.1,
        pool = POOL_START,
        bgp_events = events(&tl.bgp),
        hold_events = events(&tl.hold),
        rehash = if hash_source.starts_with("SocketTxhash") { "SocketTxhash(txrehash: true)".to_string() } else { hash_source.clone() },
        join = tl.join.as_ref().map_or(String::new(), |n| format!(
            "\n        // The lab reopens its pool while the node is away (conns_refresh) before it returns:\n        (name: \"join\", events: [(at: \"{}\", withdraw: \"{n}\"), (at: \"{}\", announce: \"{n}\")]),",
            dur(POOL_START - 1.0),
            dur(FIRST_FAULT)
        )),
        probe = if tl.l2_accepts.is_empty() {
            String::new()
        } else {
            format!("\n        // reallab's l2_probe.txt: ping -D -i 0.005 of the L2 VIP.\n        (name: \"probe\", load: Ping(interval: \"5ms\"), timeout: \"1s\", start: \"{POOL_START}s\", output: \"{{variant}}_probe.txt\"),")
        },
        l2_takeovers = l2_takeovers(&tl.l2_accepts, n_nodes),
        rehash_events = events(&tl.blackouts.get(1).or(tl.blackouts.first()).cloned().into_iter().collect::<Vec<_>>()),
    );
    Ok(Derivation {
        text: t,
        evidence: b.evidence,
        fitted: b.fitted,
    })
}

/// One L2 variant per `arp_accept` the lab's leader crashes used: the leader of the service IP
/// (MetalLB's election, l2::election) crashes at the first fault's time, the next one takes
/// over with its gratuitous ARP; `sim compare` judges GARP to the first answered probe.
fn l2_takeovers(accepts: &[u8], nodes: u16) -> String {
    let names: Vec<String> = (1..=nodes).map(|i| format!("node-{i}")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let Some(leader) = l2::election::leader(std::net::Ipv4Addr::new(192, 0, 2, 10), &refs) else {
        return String::new();
    };
    accepts
        .iter()
        .map(|a| {
            let arp = if *a == 0 { "Never" } else { "Always" };
            format!("\n        (name: \"l2_arp{a}\", l2: (clients: BehindGateway, arp_accept: {arp}), events: [(at: \"{}\", crash: \"{leader}\")]),", dur(FIRST_FAULT))
        })
        .collect()
}

/// The client's `net.core.txrehash`: the second `net.core.txrehash` line of sysctl.txt.
fn client_txrehash(sysf: &Path, dir: &Path) -> Result<Option<bool>, ProfileError> {
    let Some(t) = read::text(dir, "sysctl.txt")? else {
        return Ok(None);
    };
    let v: Vec<(usize, &str)> = t
        .lines()
        .enumerate()
        .filter(|(_, l)| l.trim_start().starts_with("net.core.txrehash"))
        .collect();
    match v.get(1) {
        None => Ok(None),
        Some((i, l)) => match l.split_once('=').map(|(_, v)| v.trim()) {
            Some("0") => Ok(Some(false)),
            Some("1") => Ok(Some(true)),
            _ => Err(err(
                sysf,
                format!("line {}", i + 1),
                format!("net.core.txrehash: expected 0 or 1, found {l:?}"),
            )),
        },
    }
}

/// The profile's faults as scenario events.
struct Timeline {
    bgp: Vec<String>,
    hold: Vec<String>,
    blackouts: Vec<String>,
    /// The node of the first graceful stop: the `join` variant's added next hop.
    join: Option<String>,
    /// The `arp_accept` of each L2 leader crash (`l2 leader; arp_accept=X`), in order.
    l2_accepts: Vec<u8>,
    end: f64,
}

fn timeline(faults: &[Fault], file: &Path, nodes: u16) -> Result<Timeline, ProfileError> {
    let node_ok = |f: &Fault| -> Result<String, ProfileError> {
        let i: Option<u16> = f.node.strip_prefix("node-").and_then(|n| n.parse().ok());
        match i {
            Some(i) if (1..=nodes).contains(&i) => Ok(f.node.clone()),
            _ => Err(err(
                file,
                format!("line {}, column node", f.line),
                format!(
                    "expected node-1 .. node-{nodes} for {}, found {:?}",
                    f.kind, f.node
                ),
            )),
        }
    };
    let bfd_off = faults.iter().position(|f| f.kind == "bfd_off");
    let mut tl = Timeline {
        bgp: Vec::new(),
        hold: Vec::new(),
        blackouts: Vec::new(),
        join: None,
        l2_accepts: Vec::new(),
        end: 0.0,
    };
    // Each phase starts at FIRST_FAULT with the lab's spacing.
    let mut origin: [Option<f64>; 2] = [None, None];
    let mut ends = [FIRST_FAULT, FIRST_FAULT];
    for (i, f) in faults.iter().enumerate() {
        let phase = usize::from(bfd_off.is_some_and(|b| i > b));
        let is_fault = matches!(
            f.kind.as_str(),
            "crash"
                | "restore"
                | "graceful_stop"
                | "graceful_start"
                | "bgpd_kill"
                | "bgpd_start"
                | "hang"
                | "resume"
        );
        if f.kind == "blackout" {
            let end = faults[i + 1..]
                .iter()
                .find(|g| g.kind == "blackout_end")
                .map_or(1.5, |g| g.time - f.time);
            tl.blackouts.push(format!(
                "(at: \"{}\", blackout: \"{}\")",
                dur(FIRST_FAULT),
                dur(end.max(0.001))
            ));
            continue;
        }
        if f.kind == "crash" && f.detail.contains("l2 leader") {
            let accept = f
                .detail
                .split("arp_accept=")
                .nth(1)
                .and_then(|a| a.get(..1));
            if let Some(a) = accept.and_then(|a| a.parse().ok()) {
                if !tl.l2_accepts.contains(&a) {
                    tl.l2_accepts.push(a);
                }
            }
        }
        if !is_fault || f.detail.contains("l2") {
            continue;
        }
        let node = node_ok(f)?;
        if f.kind == "graceful_stop" && tl.join.is_none() {
            tl.join = Some(node.clone());
        }
        let o = *origin[phase].get_or_insert(f.time);
        let at = FIRST_FAULT + (f.time - o);
        let list = if phase == 0 {
            &mut tl.bgp
        } else {
            &mut tl.hold
        };
        let later = |kind: &str| {
            faults[i + 1..]
                .iter()
                .find(|g| g.node == f.node && g.kind == kind)
                .map(|g| g.time - f.time)
        };
        let ev = match f.kind.as_str() {
            "crash" => Some(format!("(at: \"{}\", crash: \"{node}\")", dur(at))),
            "restore" => Some(format!("(at: \"{}\", recover: \"{node}\")", dur(at))),
            // reallab's graceful stop is `neighbor shutdown`, its start `no neighbor shutdown`.
            "graceful_stop" => Some(match later("graceful_start") {
                Some(d) => format!(
                    "(at: \"{}\", neighbor_shutdown: \"{node}\", restart_after: \"{}\")",
                    dur(at),
                    dur(d)
                ),
                None => format!("(at: \"{}\", neighbor_shutdown: \"{node}\")", dur(at)),
            }),
            "bgpd_kill" => Some(match later("bgpd_start") {
                Some(d) => format!(
                    "(at: \"{}\", kill_speaker: \"{node}\", restart_after: \"{}\")",
                    dur(at),
                    dur(d)
                ),
                None => format!("(at: \"{}\", kill_speaker: \"{node}\")", dur(at)),
            }),
            "hang" => Some(format!(
                "(at: \"{}\", hang_speaker: \"{node}\", daemons: {})",
                dur(at),
                if f.label() == "hang_bgpd" {
                    "Bgpd"
                } else {
                    "All"
                }
            )),
            "resume" => Some(format!("(at: \"{}\", resume_speaker: \"{node}\")", dur(at))),
            _ => None, // graceful_start, bgpd_start: the restart_after above
        };
        if let Some(ev) = ev {
            list.push(ev);
            ends[phase] = ends[phase].max(at);
        }
    }
    // The first blackout (txrehash 0) closes the BFD phase.
    if let Some(first) = tl.blackouts.first() {
        let at = ends[0] + 8.0;
        tl.bgp.push(first.replace(
            &format!("at: \"{}\"", dur(FIRST_FAULT)),
            &format!("at: \"{}\"", dur(at)),
        ));
        ends[0] = at;
    }
    tl.end = ends[0].max(ends[1]).max(FIRST_FAULT + 5.0) + 12.0;
    Ok(tl)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_written_exactly() {
        assert_eq!(dur(9.0), "9s");
        assert_eq!(dur(0.3), "300ms");
        assert_eq!(dur(1.0e-5), "10us");
        assert_eq!(dur(2.771_234), "2771234us");
    }
}
