//! Tidy CSV under `--out DIR`. Every file is written to a temporary name and renamed, so a
//! reader never sees half a file. Columns are described in docs/outputs.md.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::lab::RunResult;
use crate::outdir::{OutDir, OutDirError};
use crate::report::{ingress_balance, rps};

fn node_name(r: &RunResult, n: Option<u16>) -> String {
    n.and_then(|i| r.node_names.get(usize::from(i)).cloned())
        .unwrap_or_default()
}

/// The temporary name `path` is written under before it is renamed into place:
/// `.<name>.tmp` in the same directory.
pub fn tmp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.tmp"))
}

/// Write `bytes` to `path` atomically (its [`tmp_path`], then rename).
///
/// # Errors
/// Any I/O error.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = tmp_path(path);
    fs::write(&tmp, bytes)?;
    fs::rename(&tmp, path)
}

/// Where `--pcap` captures go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PcapTarget {
    /// A directory: `<dir>/<variant>.pcap` for every variant with a capture.
    Dir(PathBuf),
    /// A file: the capture itself with one variant, else `<stem>-<variant>.<ext>` beside it.
    File(PathBuf),
}

impl PcapTarget {
    /// Decide and check before the run: an existing directory, or a path ending in `/`
    /// (created), is a directory; anything else a file in an existing directory. Either must
    /// be writable; inside the `--out` directory (`in_out`) that directory's checks suffice.
    ///
    /// # Errors
    /// What is wrong with the path.
    pub fn check(path: &Path, in_out: bool) -> Result<PcapTarget, String> {
        let as_dir = path.is_dir() || path.as_os_str().to_string_lossy().ends_with('/');
        let target = if as_dir {
            PcapTarget::Dir(path.to_path_buf())
        } else {
            PcapTarget::File(path.to_path_buf())
        };
        if !in_out {
            match &target {
                PcapTarget::Dir(d) => crate::outdir::check_dir_target(d),
                PcapTarget::File(f) => crate::outdir::check_file_target(f),
            }
            .map_err(|e| format!("--pcap: {e}"))?;
        }
        Ok(target)
    }

    /// The directory or file named.
    pub fn path(&self) -> &Path {
        match self {
            PcapTarget::Dir(p) | PcapTarget::File(p) => p,
        }
    }

    /// Each variant's capture and the file it goes to.
    pub fn files<'a>(&self, results: &'a [RunResult]) -> Vec<(PathBuf, &'a [u8])> {
        let with_pcap: Vec<(&RunResult, &[u8])> = results
            .iter()
            .filter_map(|r| r.pcap.as_deref().map(|p| (r, p)))
            .collect();
        let one = with_pcap.len() == 1;
        with_pcap
            .into_iter()
            .map(|(r, bytes)| {
                let file = match self {
                    PcapTarget::Dir(d) => d.join(format!("{}.pcap", r.variant)),
                    PcapTarget::File(f) if one => f.clone(),
                    PcapTarget::File(f) => {
                        let stem = f
                            .file_stem()
                            .map_or_else(|| "capture".into(), |s| s.to_string_lossy().into_owned());
                        let ext = f
                            .extension()
                            .map_or_else(|| "pcap".into(), |s| s.to_string_lossy().into_owned());
                        f.with_file_name(format!("{stem}-{}.{ext}", r.variant))
                    }
                };
                (file, bytes)
            })
            .collect()
    }
}

/// Write `rows` as CSV to `rel` in `out`, atomically.
fn write_csv<T: Serialize>(
    out: &OutDir,
    rel: &str,
    rows: impl IntoIterator<Item = T>,
) -> Result<(), OutDirError> {
    let path = out.file(rel)?;
    let tmp = tmp_path(&path);
    let io = |source| OutDirError::Io {
        path: path.clone(),
        source,
    };
    {
        let mut w = csv::Writer::from_path(&tmp)
            .map_err(io::Error::other)
            .map_err(io)?;
        for row in rows {
            w.serialize(row).map_err(io::Error::other).map_err(io)?;
        }
        w.flush().map_err(io)?;
    }
    fs::rename(&tmp, &path).map_err(io)
}

#[derive(Serialize)]
struct SummaryRow<'a> {
    variant: &'a str,
    seed: u64,
    sim_time_s: f64,
    requests_started: u64,
    requests_ok: u64,
    errors_reset: u64,
    errors_timeout: u64,
    errors_refused: u64,
    in_flight_end: u64,
    connections_opened: u64,
    throughput_rps: String,
    latency_p50_ms: String,
    latency_p90_ms: String,
    latency_p99_ms: String,
    latency_p999_ms: String,
    latency_mean_ms: String,
    latency_max_ms: String,
    route_changes: usize,
    connections_moved: u64,
    connections_broken: u64,
    balance_max_over_mean: String,
    balance_jain: String,
    failover_s: String,
    failover_start_t_s: String,
    failover_open_at_end: String,
    probes_sent: String,
    probes_answered: String,
    probes_lost: String,
    probes_in_flight_end: String,
}

#[derive(Serialize)]
struct SeriesRow<'a> {
    variant: &'a str,
    t_s: String,
    requests_started: u64,
    requests_ok: u64,
    errors_reset: u64,
    errors_timeout: u64,
    errors_refused: u64,
    ok_rps: String,
    latency_mean_ms: String,
    latency_max_ms: String,
}

#[derive(Serialize)]
struct ConnectionRow<'a> {
    variant: &'a str,
    conn_id: u32,
    client: &'a str,
    src: String,
    sport: u16,
    dst: String,
    dport: u16,
    proto: u8,
    opened_t_s: String,
    change_id: u32,
    change_t_s: String,
    node_before: String,
    node_after: String,
    fate: &'a str,
}

#[derive(Serialize)]
struct ChangeRow<'a> {
    variant: &'a str,
    change_id: u32,
    t_s: String,
    cause: &'a str,
    group_size_before: usize,
    group_size_after: usize,
    live_connections: u64,
    moved: u64,
    broken_reset: u64,
    broken_timeout: u64,
}

#[derive(Serialize)]
struct EventRow<'a> {
    variant: &'a str,
    t_s: String,
    kind: &'a str,
    subject: &'a str,
    detail: &'a str,
}

#[derive(Serialize)]
struct NodeRow<'a> {
    variant: &'a str,
    node: &'a str,
    ingress_requests: u64,
    served_requests: u64,
    cores: u16,
    cpu_busy_s: f64,
}

/// A probe count, empty when the run has no ping clients.
fn probe_count(r: &RunResult, n: u64) -> String {
    r.lost_probes().map_or_else(String::new, |_| n.to_string())
}

fn f3(x: f64) -> String {
    format!("{x:.3}")
}
fn f6(x: f64) -> String {
    format!("{x:.6}")
}
fn t9(t: sim_core::SimTime) -> String {
    format!("{:.9}", t.as_secs_f64())
}

/// Write summary.csv, timeseries.csv, connections.csv, changes.csv, events.csv, nodes.csv, and
/// the client groups' files in their load tools' formats, each at `prefix` + name in `out`
/// (`prefix` is empty, or a directory ending in `/`).
///
/// # Errors
/// The file that could not be written.
pub fn write_all(out: &OutDir, prefix: &str, results: &[RunResult]) -> Result<(), OutDirError> {
    for r in results {
        for (name, bytes) in &r.tool_files {
            out.write(&format!("{prefix}{name}"), bytes)?;
        }
    }
    write_csv(
        out,
        &format!("{prefix}summary.csv"),
        results.iter().map(|r| {
            let b = ingress_balance(r);
            let l = &r.latency;
            let ms = |d: sim_core::SimDuration| f6(d.as_millis_f64());
            SummaryRow {
                variant: &r.variant,
                seed: r.seed,
                sim_time_s: r.sim_time.as_secs_f64(),
                requests_started: r.counts.started,
                requests_ok: r.counts.ok,
                errors_reset: r.counts.reset,
                errors_timeout: r.counts.timeout,
                errors_refused: r.counts.refused,
                in_flight_end: r.counts.in_flight,
                connections_opened: r.counts.connections,
                throughput_rps: f3(rps(r)),
                latency_p50_ms: ms(l.quantile(0.5)),
                latency_p90_ms: ms(l.quantile(0.9)),
                latency_p99_ms: ms(l.quantile(0.99)),
                latency_p999_ms: ms(l.quantile(0.999)),
                latency_mean_ms: ms(l.mean()),
                latency_max_ms: ms(l.max()),
                route_changes: r.changes.len(),
                connections_moved: r.connections_moved(),
                connections_broken: r.connections_broken(),
                balance_max_over_mean: f6(b.max_over_mean),
                balance_jain: f6(b.jain),
                failover_s: r
                    .failover()
                    .map_or_else(String::new, |(g, _)| f6(g.as_secs_f64())),
                failover_start_t_s: r.failover().map_or_else(String::new, |(_, t)| t9(t)),
                failover_open_at_end: r
                    .failover()
                    .map_or_else(String::new, |_| r.failover_open_at_end().to_string()),
                probes_sent: probe_count(r, r.probe_counts.sent),
                probes_answered: probe_count(r, r.probe_counts.answered),
                probes_lost: probe_count(r, r.probe_counts.lost),
                probes_in_flight_end: probe_count(r, r.probe_counts.in_flight),
            }
        }),
    )?;
    write_csv(
        out,
        &format!("{prefix}timeseries.csv"),
        results.iter().flat_map(|r| {
            let s = &r.series;
            let bucket = s.ok.bucket();
            (0..s.started.len()).map(move |i| {
                let ok = s.ok.get(i);
                let mean = if ok > 0 {
                    s.latency_sum_ns.get(i) as f64 / ok as f64 / 1e6
                } else {
                    0.0
                };
                SeriesRow {
                    variant: &r.variant,
                    t_s: f3(i as f64 * bucket.as_secs_f64()),
                    requests_started: s.started.get(i),
                    requests_ok: ok,
                    errors_reset: s.reset.get(i),
                    errors_timeout: s.timeout.get(i),
                    errors_refused: s.refused.get(i),
                    ok_rps: f3(ok as f64 / bucket.as_secs_f64()),
                    latency_mean_ms: f6(mean),
                    latency_max_ms: f6(s.latency_max_ns.get(i).copied().unwrap_or(0) as f64 / 1e6),
                }
            })
        }),
    )?;
    write_csv(
        out,
        &format!("{prefix}connections.csv"),
        results.iter().flat_map(|r| {
            r.conn_rows.iter().map(move |c| ConnectionRow {
                variant: &r.variant,
                conn_id: c.conn,
                client: r
                    .client_names
                    .get(c.client as usize)
                    .map_or("", String::as_str),
                src: c.flow.src.to_string(),
                sport: c.flow.sport,
                dst: c.flow.dst.to_string(),
                dport: c.flow.dport,
                proto: c.flow.proto,
                opened_t_s: t9(c.opened_at),
                change_id: c.change,
                change_t_s: r
                    .changes
                    .get(c.change as usize)
                    .map_or_else(String::new, |ch| t9(ch.time)),
                node_before: node_name(r, c.node_before),
                node_after: node_name(r, c.node_after),
                fate: c.fate,
            })
        }),
    )?;
    write_csv(
        out,
        &format!("{prefix}changes.csv"),
        results.iter().flat_map(|r| {
            r.changes.iter().map(move |c| ChangeRow {
                variant: &r.variant,
                change_id: c.id,
                t_s: t9(c.time),
                cause: &c.cause,
                group_size_before: c.group_before,
                group_size_after: c.group_after,
                live_connections: c.live,
                moved: c.moved,
                broken_reset: c.broken_reset,
                broken_timeout: c.broken_timeout,
            })
        }),
    )?;
    write_csv(
        out,
        &format!("{prefix}events.csv"),
        results.iter().flat_map(|r| {
            r.log.entries().iter().map(move |e| EventRow {
                variant: &r.variant,
                t_s: t9(e.time),
                kind: e.kind,
                subject: &e.subject,
                detail: &e.detail,
            })
        }),
    )?;
    write_csv(
        out,
        &format!("{prefix}nodes.csv"),
        results.iter().flat_map(|r| {
            r.node_names.iter().enumerate().map(move |(i, n)| NodeRow {
                variant: &r.variant,
                node: n,
                ingress_requests: r.node_ingress[i],
                served_requests: r.node_served[i],
                cores: r.node_cpu[i].0,
                cpu_busy_s: r.node_cpu[i].1.as_secs_f64(),
            })
        }),
    )?;
    Ok(())
}
