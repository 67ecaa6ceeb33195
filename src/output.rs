//! Tidy CSV under `--out DIR`. Every file is written to a temporary name and renamed, so a
//! reader never sees half a file. Columns are described in docs/outputs.md.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::lab::RunResult;
use crate::outdir::{OutDir, OutDirError};
use crate::rows;

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

/// The header of `T`'s CSV, from its default row (a file without rows still has it).
fn header<T: Serialize + Default>() -> io::Result<csv::StringRecord> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.serialize(T::default()).map_err(io::Error::other)?;
    let bytes = w
        .into_inner()
        .map_err(|e| io::Error::other(e.to_string()))?;
    let mut r = csv::ReaderBuilder::new().from_reader(&bytes[..]);
    r.headers().cloned().map_err(io::Error::other)
}

/// Write `rows` as CSV to `rel` in `out`, atomically; the header is there even without rows.
///
/// # Errors
/// The file that could not be written.
pub fn write_csv<T: Serialize + Default>(
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
        let mut any = false;
        for row in rows {
            w.serialize(row).map_err(io::Error::other).map_err(io)?;
            any = true;
        }
        if !any {
            w.write_record(&header::<T>().map_err(io)?)
                .map_err(io::Error::other)
                .map_err(io)?;
        }
        w.flush().map_err(io)?;
    }
    fs::rename(&tmp, &path).map_err(io)
}

/// mitigations.csv, for a scenario with a `mitigations` table: one row per (trigger,
/// mitigation, mode), the first row the header (`src/mitigations.rs` has the columns).
///
/// # Errors
/// The file that could not be written.
pub fn write_mitigations(
    out: &OutDir,
    scenario: &crate::scenario::Scenario,
    results: &[RunResult],
) -> Result<(), OutDirError> {
    if scenario.mitigations.is_none() {
        return Ok(());
    }
    write_csv(
        out,
        "mitigations.csv",
        crate::mitigations::csv_rows(scenario, results),
    )
}

/// The OpenMetrics file beside the CSVs.
pub const OPENMETRICS_FILE: &str = "openmetrics.txt";

/// The CSV files of one run (or of one suite test at one seed), in the order written.
pub const CSV_FILES: [&str; 12] = [
    "summary.csv",
    "latency.csv",
    "latency_histogram.csv",
    "probes.csv",
    "timeseries.csv",
    "timeseries_clients.csv",
    "timeseries_nodes.csv",
    "timeseries_probes.csv",
    "connections.csv",
    "changes.csv",
    "events.csv",
    "nodes.csv",
];

/// Write the [`CSV_FILES`], the [`OPENMETRICS_FILE`] (timestamps `epoch_s` + simulated
/// time) and the client groups' files in their load tools' formats, each at `prefix` + name
/// in `out` (`prefix` is empty, or a directory ending in `/`).
///
/// # Errors
/// The file that could not be written.
pub fn write_all(
    out: &OutDir,
    prefix: &str,
    results: &[RunResult],
    epoch_s: u64,
) -> Result<(), OutDirError> {
    for r in results {
        for (name, bytes) in &r.tool_files {
            out.write(&format!("{prefix}{name}"), bytes)?;
        }
    }
    let at = |name: &str| format!("{prefix}{name}");
    write_csv(out, &at("summary.csv"), rows::summary(results))?;
    write_csv(out, &at("latency.csv"), rows::latency(results))?;
    write_csv(out, &at("latency_histogram.csv"), rows::histogram(results))?;
    write_csv(out, &at("probes.csv"), rows::probes(results))?;
    write_csv(out, &at("timeseries.csv"), rows::series(results))?;
    write_csv(
        out,
        &at("timeseries_clients.csv"),
        rows::client_series(results),
    )?;
    write_csv(out, &at("timeseries_nodes.csv"), rows::node_series(results))?;
    write_csv(
        out,
        &at("timeseries_probes.csv"),
        rows::probe_series(results),
    )?;
    write_csv(out, &at("connections.csv"), rows::connections(results))?;
    write_csv(out, &at("changes.csv"), rows::changes(results))?;
    write_csv(out, &at("events.csv"), rows::events(results))?;
    write_csv(out, &at("nodes.csv"), rows::nodes(results))?;
    if results.iter().any(|r| r.multi_service) {
        write_csv(out, &at("services.csv"), rows::services(results))?;
        write_csv(out, &at("service_nodes.csv"), rows::service_nodes(results))?;
    }
    out.write(
        &at(OPENMETRICS_FILE),
        crate::openmetrics::render(results, epoch_s).as_bytes(),
    )
}
