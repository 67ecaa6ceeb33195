//! The figures of one side: a real-cluster profile (docs/profile.md) or one seed's `sim run`
//! output (docs/outputs.md). Both sides read the seed's tool files (wrk, iperf3, fortio, the
//! ping log) with the same readers; the route changes come from `faults.csv` +
//! `router_monitor.log` (real) or `events.csv` + `changes.csv` (lbsim).

use std::collections::BTreeMap;
use std::path::Path;

use crate::profile::read::{self, err, ProfileError};

/// (metric, variant or trial) -> (unit, samples).
pub type Figures = BTreeMap<(String, String), (String, Vec<f64>)>;

fn add(f: &mut Figures, metric: &str, variant: &str, unit: &str, v: f64) {
    if v.is_finite() {
        f.entry((metric.into(), variant.into()))
            .or_insert_with(|| (unit.into(), Vec::new()))
            .1
            .push(v);
    }
}

/// The load figures both kinds of directory carry under the seed's file names.
fn tool_files(dir: &Path, f: &mut Figures) -> Result<(), ProfileError> {
    for mode in ["l2", "bgp"] {
        let name = format!("{mode}_wrk_results.txt");
        if let Some(t) = read::text(dir, &name)? {
            let w = crate::tools::wrk::parse(&t)
                .map_err(|e| err(&dir.join(&name), "", e.to_string()))?;
            add(f, "rps", mode, "1/s", w.requests_per_sec);
            for (q, m) in [(50.0, "wrk_p50_ms"), (99.0, "wrk_p99_ms")] {
                if let Some((_, ns)) = w.percentiles.iter().find(|(p, _)| (*p - q).abs() < 1e-9) {
                    add(f, m, mode, "ms", *ns as f64 / 1e6);
                }
            }
        }
        let name = format!("{mode}_throughput.json");
        if let Some(t) = read::text(dir, &name)? {
            let s = crate::tools::iperf3::parse(&t)
                .map_err(|e| err(&dir.join(&name), "", e.to_string()))?;
            add(f, "gbit_s", mode, "Gbit/s", s.received_bps / 1e9);
        }
        let name = format!("{mode}_lowload_latency.csv");
        if let Some(mut v) = read::lowload(dir, &name)? {
            v.sort_by(f64::total_cmp);
            for (q, m) in [
                (0.5, "lowload_p50_ms"),
                (0.99, "lowload_p99_ms"),
                (0.999, "lowload_p999_ms"),
            ] {
                add(f, m, mode, "ms", read::quantile(&v, q) * 1e3);
            }
        } else {
            let name = format!("{mode}_fortio.json");
            if let Some(t) = read::text(dir, &name)? {
                let s = crate::tools::fortio::parse(&t)
                    .map_err(|e| err(&dir.join(&name), "", e.to_string()))?;
                for p in s.all.Percentiles.iter().flatten() {
                    let m = match p.Percentile {
                        x if (x - 50.0).abs() < 1e-9 => "lowload_p50_ms",
                        x if (x - 99.0).abs() < 1e-9 => "lowload_p99_ms",
                        x if (x - 99.9).abs() < 1e-9 => "lowload_p999_ms",
                        _ => continue,
                    };
                    add(f, m, mode, "ms", p.Value * 1e3);
                }
            }
        }
        // TCP's mean RTT of the single-stream iperf3: the seed's jq extract (two lines per
        // iteration: bits_per_second, mean_rtt in µs), else the raw JSON.
        let name = format!("{mode}_latency_results.txt");
        if let Some(t) = read::text(dir, &name)? {
            for rtt in latency_results(&t).map_err(|(line, e)| err(&dir.join(&name), line, e))? {
                add(f, "tcp_mean_rtt_ms", mode, "ms", rtt / 1e3);
            }
        } else {
            let name = format!("{mode}_latency.json");
            if let Some(t) = read::text(dir, &name)? {
                let s = crate::tools::iperf3::parse(&t)
                    .map_err(|e| err(&dir.join(&name), "", e.to_string()))?;
                add(f, "tcp_mean_rtt_ms", mode, "ms", s.mean_rtt_us as f64 / 1e3);
            }
        }
        vegeta_files(dir, mode, f)?;
    }
    Ok(())
}

/// The mean RTTs (µs) of a `*_latency_results.txt`: numbers two to an iteration, the second
/// of each pair; an error names the line.
fn latency_results(text: &str) -> Result<Vec<f64>, (String, String)> {
    let mut nums = Vec::new();
    for (i, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let v: f64 = line.trim().parse().map_err(|_| {
            (
                format!("line {}", i + 1),
                format!("expected a number (the seed's jq '.end.sum_sent.bits_per_second, .end.streams[0].sender.mean_rtt'), found {line:?}"),
            )
        })?;
        nums.push(v);
    }
    if nums.len() % 2 != 0 {
        return Err((
            format!("line {}", text.lines().count()),
            "expected two lines per iteration (bits_per_second, mean_rtt), found an odd count"
                .into(),
        ));
    }
    Ok(nums.chunks(2).map(|c| c[1]).collect())
}

/// The seed's Test 5: every `<mode>_vegeta_<R>rps.json` (vegeta's JSON report), as variant
/// `<mode>_<R>rps`: median and p99 latency, success ratio.
fn vegeta_files(dir: &Path, mode: &str, f: &mut Figures) -> Result<(), ProfileError> {
    let prefix = format!("{mode}_vegeta_");
    let mut names: Vec<String> = match std::fs::read_dir(dir) {
        Ok(rd) => rd
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| n.starts_with(&prefix) && n.ends_with("rps.json"))
            .collect(),
        Err(_) => return Ok(()),
    };
    names.sort();
    for name in names {
        let rate = &name[prefix.len()..name.len() - ".json".len()];
        let Some(t) = read::text(dir, &name)? else {
            continue;
        };
        let m = crate::tools::vegeta::parse(&t)
            .map_err(|e| err(&dir.join(&name), "", e.to_string()))?;
        let v = format!("{mode}_{rate}");
        add(f, "vegeta_p50_ms", &v, "ms", m.latencies.p50 as f64 / 1e6);
        add(f, "vegeta_p99_ms", &v, "ms", m.latencies.p99 as f64 / 1e6);
        add(f, "vegeta_success", &v, "", m.success);
    }
    Ok(())
}

/// A fault on either side: when, its trial label, the node, and when the next one came.
#[derive(Debug, Clone)]
struct Trial {
    t: f64,
    label: String,
    node: String,
    down: bool,
    next: f64,
    /// The keep-alive pool was (re)opened since the previous route-changing fault.
    fresh_pool: bool,
    /// A scripted route withdraw/announce (lbsim's `join` variant): its resets count, its
    /// route-change time is no speaker's.
    scripted: bool,
}

/// Ping gap and lost probes of each trial, from a failover log: the longest gap between two
/// answers in [t - 0.5 s, next fault), and the probes between them.
fn ping_figures(
    dir: &Path,
    name: &str,
    trials: &[Trial],
    epoch: f64,
    f: &mut Figures,
) -> Result<(), ProfileError> {
    let Some(t) = read::text(dir, name)? else {
        return Ok(());
    };
    let p = crate::tools::ping::parse(&t).map_err(|e| err(&dir.join(name), "", e.to_string()))?;
    for tr in trials.iter().filter(|t| t.down) {
        let a: Vec<_> = p
            .answers
            .iter()
            .filter(|a| {
                let at = a.at_ns as f64 / 1e9 - epoch;
                at >= tr.t - 0.5 && at < tr.next
            })
            .collect();
        let best = a
            .windows(2)
            .max_by(|x, y| (x[1].at_ns - x[0].at_ns).cmp(&(y[1].at_ns - y[0].at_ns)));
        if let Some(w) = best {
            let gap = (w[1].at_ns - w[0].at_ns) as f64 / 1e9;
            // As reallab/summarize.py: a gap is an outage when it exceeds 2.5 intervals.
            if gap > 0.25 {
                add(f, "ping_gap_s", &tr.label, "s", gap);
                add(
                    f,
                    "lost_probes",
                    &tr.label,
                    "",
                    w[1].seq.saturating_sub(w[0].seq + 1) as f64,
                );
            }
        }
    }
    Ok(())
}

/// The answered probes of a `ping -D` log (`[<epoch>] 64 bytes from ...`), epoch seconds.
fn dash_d_answers(dir: &Path, name: &str) -> Result<Option<Vec<f64>>, ProfileError> {
    let Some(t) = read::text(dir, name)? else {
        return Ok(None);
    };
    let mut out = Vec::new();
    for (i, line) in t.lines().enumerate() {
        let Some(rest) = line.strip_prefix('[') else {
            continue; // `PING ...`, the statistics
        };
        let stamp = rest
            .split_once(']')
            .and_then(|(s, _)| s.parse::<f64>().ok());
        let Some(at) = stamp else {
            return Err(err(
                &dir.join(name),
                format!("line {}", i + 1),
                "expected `[<epoch seconds>] <ping line>` (ping -D)",
            ));
        };
        if line.contains(" bytes from ") {
            out.push(at);
        }
    }
    Ok(Some(out))
}

/// L2 mode: from each new leader's gratuitous ARP (`garps`: time, variant) to the first
/// answered probe at or after it (`answers`, sorted).
fn garp_restore(garps: &[(f64, String)], answers: &[f64], f: &mut Figures) {
    for (t, variant) in garps {
        if let Some(a) = answers.iter().find(|a| **a >= *t) {
            add(f, "garp_restore_s", variant, "s", a - t);
        }
    }
}

/// A simulated L2 takeover variant (`l2_arp0`, `l2_arp1`, written by `sim profile`): the
/// first node to start announcing after the crash is the gratuitous ARP (l2::speaker sends it
/// with `Announcing`), its `<variant>_probe.txt` the 5 ms ping.
fn sim_garp(dir: &Path, v: &str, ev: &[&Vec<String>], f: &mut Figures) -> Result<(), ProfileError> {
    let Some(accept) = v.strip_prefix("l2_arp") else {
        return Ok(());
    };
    let time = |r: &Vec<String>| r[1].parse::<f64>().unwrap_or(f64::NAN);
    let Some(crashed) = ev.iter().find(|r| r[2] == "node_crash").map(|r| time(r)) else {
        return Ok(());
    };
    let garp = ev
        .iter()
        .find(|r| r[2] == "l2_leader" && time(r) >= crashed && r[4].ends_with("leader=true"));
    let Some(t) = garp.map(|r| time(r)) else {
        return Ok(());
    };
    let name = format!("{v}_probe.txt");
    let Some(text) = read::text(dir, &name)? else {
        return Ok(());
    };
    let p =
        crate::tools::ping::parse(&text).map_err(|e| err(&dir.join(&name), "", e.to_string()))?;
    let epoch = crate::openmetrics::DEFAULT_EPOCH_S as f64;
    let answers: Vec<f64> = p
        .answers
        .iter()
        .map(|a| a.at_ns as f64 / 1e9 - epoch)
        .collect();
    garp_restore(&[(t, format!("arp_accept{accept}"))], &answers, f);
    Ok(())
}

/// Figures of a real-cluster profile.
///
/// # Errors
/// A malformed file, named with its line or key.
pub fn profile(dir: &Path) -> Result<Figures, ProfileError> {
    let mut f = Figures::new();
    tool_files(dir, &mut f)?;
    let lab = read::json(dir, "lab.json")?.unwrap_or(serde_json::Value::Null);
    let vip = read::at(&lab, "vip_bgp")
        .and_then(|v| v.as_str())
        .unwrap_or("198.18.1.250")
        .to_string();
    let ip_of: BTreeMap<String, String> = read::at(&lab, "nodes")
        .and_then(|n| n.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|n| {
                    Some((
                        n.get("name")?.as_str()?.to_string(),
                        n.get("ip")?.as_str()?.to_string(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default();
    let faults = read::faults(dir)?.unwrap_or_default();
    let routes = read::vip_routes(dir, &vip)?.unwrap_or_default();
    const DOWN: [&str; 4] = ["crash", "graceful_stop", "bgpd_kill", "hang"];
    const UP: [&str; 4] = ["restore", "graceful_start", "bgpd_start", "resume"];
    let mut trials = Vec::new();
    let mut fresh = false;
    for (i, x) in faults.iter().enumerate() {
        if x.kind == "conns_open" || x.kind == "conns_refresh" {
            fresh = true;
        }
        let down = DOWN.contains(&x.kind.as_str());
        if !(down || UP.contains(&x.kind.as_str()) || x.kind == "blackout")
            || x.detail.contains("l2")
        {
            continue;
        }
        let next = faults[i + 1..]
            .iter()
            .find(|g| {
                DOWN.contains(&g.kind.as_str())
                    || UP.contains(&g.kind.as_str())
                    || g.kind.starts_with("conns_")
                    || g.kind == "blackout"
                    || g.kind == "bfd_off"
            })
            .map_or(x.time + 60.0, |g| g.time);
        let label = if x.kind == "resume" {
            if x.detail.contains("zebra") {
                "resume_all_frr".to_string()
            } else {
                "resume_bgpd".to_string()
            }
        } else if x.kind == "blackout" {
            format!(
                "blackout_txrehash{}",
                x.detail
                    .rsplit("txrehash=")
                    .next()
                    .and_then(|s| s.get(..1))
                    .unwrap_or("?")
            )
        } else {
            x.label()
        };
        trials.push(Trial {
            t: x.time,
            label,
            node: x.node.clone(),
            down,
            next,
            fresh_pool: fresh,
            scripted: false,
        });
        if x.kind != "blackout" {
            fresh = false;
        }
    }
    // The FIB: the first VIP route event after the fault that lacks (or has) the node.
    let fib = |tr: &Trial, present: bool| -> Option<f64> {
        let ip = ip_of.get(&tr.node)?;
        routes
            .iter()
            .find(|(t, hops)| *t >= tr.t && *t <= tr.t + 60.0 && hops.contains(ip) == present)
            .map(|(t, _)| *t)
    };
    for tr in &trials {
        if tr.label.starts_with("blackout") {
            continue;
        }
        if let Some(t) = fib(tr, !tr.down) {
            add(
                &mut f,
                if tr.down {
                    "failover_fib_s"
                } else {
                    "restore_fib_s"
                },
                &tr.label,
                "s",
                t - tr.t,
            );
        }
    }
    ping_figures(dir, "bgp_failover_results.txt", &trials, 0.0, &mut f)?;
    resets_real(dir, &trials, &routes, &mut f)?;
    // L2: reallab's `garp` rows of a new leader (detail `... arp_accept=X ...`) and its 5 ms
    // probe of the L2 VIP.
    let garps: Vec<(f64, String)> = faults
        .iter()
        .filter(|x| x.kind == "garp" && x.detail.contains("new leader"))
        .filter_map(|x| {
            let a = x.detail.split("arp_accept=").nth(1)?.get(..1)?;
            Some((x.time, format!("arp_accept{a}")))
        })
        .collect();
    if let Some(answers) = dash_d_answers(dir, "l2_probe.txt")? {
        garp_restore(&garps, &answers, &mut f);
    }
    Ok(f)
}

/// `connections.csv` (reallab/connclient.py): of the connections open at a fault on a fresh
/// pool, the share whose failed request was sent from 0.5 s before it to the next route change
/// or fault (reallab/summarize.py's reading, docs/profile.md).
fn resets_real(
    dir: &Path,
    trials: &[Trial],
    routes: &[(f64, Vec<String>)],
    f: &mut Figures,
) -> Result<(), ProfileError> {
    let name = "connections.csv";
    let Some(text) = read::text(dir, name)? else {
        return Ok(());
    };
    let path = dir.join(name);
    let mut rdr = csv::Reader::from_reader(text.as_bytes());
    let headers = rdr
        .headers()
        .map_err(|e| err(&path, "line 1", e.to_string()))?
        .clone();
    let col = |c: &str| {
        headers.iter().position(|h| h == c).ok_or_else(|| {
            err(
                &path,
                "line 1",
                format!("no column {c} (docs/profile.md, connections.csv)"),
            )
        })
    };
    let (co, cf, cft, cs) = (
        col("opened_t")?,
        col("fate")?,
        col("fate_t")?,
        col("stall_t")?,
    );
    let mut conns = Vec::new();
    for (i, rec) in rdr.records().enumerate() {
        let rec = rec.map_err(|e| err(&path, format!("line {}", i + 2), e.to_string()))?;
        let num = |c: usize, what: &str| -> Result<Option<f64>, ProfileError> {
            let s = rec.get(c).unwrap_or("").trim();
            if s.is_empty() {
                return Ok(None);
            }
            s.parse().map(Some).map_err(|_| {
                err(
                    &path,
                    format!("line {}, column {what}", i + 2),
                    format!("expected epoch seconds, found {s:?}"),
                )
            })
        };
        let Some(opened) = num(co, "opened_t")? else {
            continue;
        };
        let ended = num(cft, "fate_t")?.unwrap_or(f64::INFINITY);
        let failed = matches!(
            rec.get(cf).unwrap_or(""),
            "reset" | "timeout" | "eof" | "error"
        );
        conns.push((
            opened,
            ended,
            failed.then(|| num(cs, "stall_t")).transpose()?.flatten(),
        ));
    }
    for tr in trials
        .iter()
        .filter(|t| t.fresh_pool || t.label.starts_with("blackout"))
    {
        let own = routes
            .iter()
            .find(|(t, _)| *t >= tr.t)
            .map_or(tr.t, |(t, _)| *t);
        let t1 = routes
            .iter()
            .find(|(t, _)| *t > own + 0.001 && !tr.label.starts_with("blackout"))
            .map_or(tr.next, |(t, _)| t.min(tr.next));
        let open: Vec<_> = conns
            .iter()
            .filter(|(o, e, _)| *o < tr.t && tr.t < *e)
            .collect();
        let failed = open
            .iter()
            .filter(|(_, _, s)| s.is_some_and(|s| s >= tr.t - 0.5 && s < t1))
            .count();
        if !open.is_empty() {
            add(
                f,
                "resets_fraction",
                &tr.label,
                "",
                failed as f64 / open.len() as f64,
            );
            add(f, "resets_open", &tr.label, "", open.len() as f64);
        }
    }
    Ok(())
}

/// Figures of one seed's `sim run --out` directory (or a suite's `seed-S/`).
///
/// # Errors
/// A malformed file, named with its line.
pub fn sim(dir: &Path, pool: Option<f64>) -> Result<Figures, ProfileError> {
    let mut f = Figures::new();
    tool_files(dir, &mut f)?;
    let events = csv_rows(dir, "events.csv")?;
    let changes = csv_rows(dir, "changes.csv")?;
    let clients = csv_rows(dir, "timeseries_clients.csv")?;
    // Per (variant, change id): the keep-alive pool's connections (client `conns-*`) and how
    // many of them failed at their next packet.
    let mut pool_fates: BTreeMap<(String, String), (f64, f64)> = BTreeMap::new();
    for r in csv_rows(dir, "connections.csv")? {
        if r.len() >= 14 && r[2].starts_with("conns-") {
            let e = pool_fates.entry((r[0].clone(), r[9].clone())).or_default();
            e.0 += 1.0;
            if r[13] == "reset" || r[13] == "timeout" {
                e.1 += 1.0;
            }
        }
    }
    let mut variants: Vec<String> = events.iter().map(|r| r[0].clone()).collect();
    variants.dedup();
    for v in &variants {
        let ev: Vec<&Vec<String>> = events.iter().filter(|r| &r[0] == v).collect();
        if v.starts_with("l2_arp") {
            sim_garp(dir, v, &ev, &mut f)?;
            continue; // an L2 takeover: no BGP trial
        }
        let bfd = ev.iter().any(|r| r[2] == "bfd_state");
        let txre = ev
            .iter()
            .any(|r| r[2] == "tcp_rto" && r[4].contains("txhash=redrawn"));
        let mut trials: Vec<Trial> = Vec::new();
        let mut last_down: BTreeMap<String, String> = BTreeMap::new();
        let mut first = true;
        for r in &ev {
            let t: f64 = r[1].parse().unwrap_or(f64::NAN);
            let node = r[3].clone();
            let (label, down) = match (r[2].as_str(), r[4].as_str()) {
                ("node_crash", _) => (
                    if bfd { "crash_bfd" } else { "crash_hold" }.to_string(),
                    true,
                ),
                ("speaker_shutdown" | "speaker_neighbor_shutdown", _) => {
                    ("graceful_stop".into(), true)
                }
                ("speaker_kill", _) => ("bgpd_kill".into(), true),
                ("speaker_hang", d) => (
                    if d.contains("zebra") {
                        "hang_all_frr"
                    } else {
                        "hang_bgpd"
                    }
                    .into(),
                    true,
                ),
                ("route_withdrawn", d) if d.contains("by=update") => ("withdraw".into(), true),
                ("node_recover", _) => ("restore".into(), false),
                ("speaker_resume", _) => match last_down.get(&node).map(String::as_str) {
                    Some("hang_all_frr") => ("resume_all_frr".into(), false),
                    _ => ("resume_bgpd".into(), false),
                },
                ("route_received", _) if last_down.get(&node).is_some_and(|l| l == "withdraw") => {
                    ("graceful_start".into(), false)
                }
                ("speaker_neighbor_start", _)
                    if last_down.get(&node).is_some_and(|l| l == "graceful_stop") =>
                {
                    ("graceful_start".into(), false)
                }
                ("bgp_start", d) if d == "side=speaker" && t > 0.0 => {
                    match last_down.get(&node).map(String::as_str) {
                        Some("graceful_stop") => ("graceful_start".into(), false),
                        Some("bgpd_kill") => ("bgpd_start".into(), false),
                        _ => continue,
                    }
                }
                ("blackout", _) => (format!("blackout_txrehash{}", u8::from(txre)), false),
                _ => continue,
            };
            if down {
                last_down.insert(node.clone(), label.clone());
            } else if !label.starts_with("blackout") {
                last_down.remove(&node);
            }
            trials.push(Trial {
                t,
                label,
                node,
                down,
                next: f64::INFINITY,
                fresh_pool: false,
                scripted: matches!(r[2].as_str(), "route_withdrawn" | "route_received"),
            });
        }
        let times: Vec<f64> = trials.iter().map(|t| t.t).collect();
        for (i, tr) in trials.iter_mut().enumerate() {
            tr.next = times.get(i + 1).copied().unwrap_or(f64::INFINITY);
        }
        let ch: Vec<&Vec<String>> = changes.iter().filter(|r| &r[0] == v).collect();
        for tr in &trials {
            if tr.label.starts_with("blackout") {
                // No route change: the keep-alive pool's resets until the next fault.
                let mut reset = 0.0;
                for r in clients.iter().filter(|r| &r[0] == v && r[2] == "conns") {
                    let t: f64 = r[1].parse().unwrap_or(f64::NAN);
                    if t >= tr.t - 1.0 && t < tr.next {
                        reset +=
                            r[5].parse::<f64>().unwrap_or(0.0) + r[6].parse::<f64>().unwrap_or(0.0);
                    }
                }
                if let Some(live) = pool.filter(|p| *p > 0.0) {
                    add(&mut f, "resets_fraction", &tr.label, "", reset / live);
                }
                continue;
            }
            let sign = if tr.down { '-' } else { '+' };
            let cause = format!("{sign}{}", tr.node);
            // A scripted withdraw/announce changes the route as a BGP UPDATE does.
            let hit = ch.iter().find(|r| {
                r[3].split_whitespace().any(|w| w == cause)
                    && r[2].parse::<f64>().is_ok_and(|t| t >= tr.t)
            });
            if let Some(r) = hit {
                let t: f64 = r[2].parse().unwrap_or(f64::NAN);
                let name = match (tr.scripted, tr.down) {
                    (true, _) => "scripted_route_s",
                    (false, true) => "failover_fib_s",
                    (false, false) => "restore_fib_s",
                };
                add(&mut f, name, &tr.label, "s", t - tr.t);
                // Only the first change of a variant that finds the pool open is the lab's
                // fresh pool; later ones depend on how the pool reconnected.
                if let Some(&(live, broken)) = pool_fates.get(&(v.clone(), r[1].clone())) {
                    if first && live > 0.0 {
                        add(&mut f, "resets_fraction", &tr.label, "", broken / live);
                        first = false;
                    }
                }
            }
        }
        ping_figures(
            dir,
            &format!("{v}_failover_results.txt"),
            &trials,
            crate::openmetrics::DEFAULT_EPOCH_S as f64,
            &mut f,
        )?;
    }
    Ok(f)
}

/// A CSV of an lbsim output as rows of strings (without the header); absent: no rows.
fn csv_rows(dir: &Path, name: &str) -> Result<Vec<Vec<String>>, ProfileError> {
    let Some(t) = read::text(dir, name)? else {
        return Ok(Vec::new());
    };
    let mut rdr = csv::Reader::from_reader(t.as_bytes());
    let mut out = Vec::new();
    for (i, rec) in rdr.records().enumerate() {
        let rec =
            rec.map_err(|e| err(&dir.join(name), format!("line {}", i + 2), e.to_string()))?;
        let row: Vec<String> = rec.iter().map(String::from).collect();
        if row.len() < 5 {
            return Err(err(
                &dir.join(name),
                format!("line {}", i + 2),
                "too few columns (docs/outputs.md)",
            ));
        }
        out.push(row);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_results_are_pairs_of_bits_and_rtt() {
        let rtts = latency_results("6852775647.692047\n736\n\n7000000000\n740\n").unwrap();
        assert_eq!(rtts, [736.0, 740.0]);
        let (at, why) = latency_results("6852775647.692047\n").unwrap_err();
        assert_eq!(at, "line 1");
        assert!(why.contains("two lines per iteration"), "{why}");
        let (at, _) = latency_results("1\nfast\n").unwrap_err();
        assert_eq!(at, "line 2");
    }

    #[test]
    fn garp_restore_takes_the_first_answer_at_or_after_each_garp() {
        let mut f = Figures::new();
        let garps = [
            (10.0, "arp_accept0".to_string()),
            (20.0, "arp_accept1".to_string()),
        ];
        garp_restore(&garps, &[9.0, 10.004, 10.009, 20.0075], &mut f);
        let got = |v: &str| f[&("garp_restore_s".to_string(), v.to_string())].1[0];
        assert!((got("arp_accept0") - 0.004).abs() < 1e-9);
        assert!((got("arp_accept1") - 0.0075).abs() < 1e-9);
    }
}
