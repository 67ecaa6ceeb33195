//! What a sweep writes and prints: `sweep.csv` (one row per point x seed x variant x metric),
//! the summary (mean and 95 % interval per point), the JSON document, and the shard
//! directories that `sim sweep merge` puts back together byte for byte.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::run::Record;
use super::{Shard, SweepDef, SweepError};
use crate::outdir::OutDir;
use crate::suite::{pm, Stats};

/// The table's file.
pub const CSV_FILE: &str = "sweep.csv";
/// A shard directory's manifest.
pub const SHARD_FILE: &str = "shard.json";

/// The metrics the terminal shows by default (those that any run has).
pub const DEFAULT_COLUMNS: [&str; 7] = [
    "failover_s",
    "probes_lost",
    "latency_p50_ms",
    "latency_p99_ms",
    "throughput_rps",
    "errors",
    "connections_broken",
];

/// sweep.csv's columns: `point`, one per axis (its path), `seed`, `variant`, `metric`, `value`.
fn header(def: &SweepDef) -> Vec<String> {
    let mut h = vec!["point".to_string()];
    h.extend(def.axes.iter().map(|a| a.path.to_string()));
    h.extend(["seed", "variant", "metric", "value"].map(String::from));
    h
}

/// sweep.csv's bytes. Values are written in the shortest form that reads back as the same
/// number, so a merge that reads and rewrites them changes nothing.
///
/// # Errors
/// None in practice (the CSV goes to memory); an encoding error is passed on.
pub fn csv_bytes(def: &SweepDef, records: &[Record]) -> Result<Vec<u8>, SweepError> {
    let labels = def.labels();
    let fail = |e: csv::Error| SweepError::Arg(format!("encoding {CSV_FILE}: {e}"));
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(header(def)).map_err(fail)?;
    for r in records {
        let mut row = vec![r.point.to_string()];
        row.extend(labels.get(r.point).cloned().unwrap_or_default());
        row.extend([
            r.seed.to_string(),
            r.variant.clone(),
            r.metric.clone(),
            r.value.to_string(),
        ]);
        w.write_record(&row).map_err(fail)?;
    }
    w.into_inner()
        .map_err(|e| SweepError::Arg(format!("encoding {CSV_FILE}: {e}")))
}

/// Read a sweep.csv of `def` back.
///
/// # Errors
/// A [`SweepError::Merge`] naming the file and line: another header, a point or its values
/// that are not the definition's, a number that does not parse.
pub fn read_csv(def: &SweepDef, path: &Path) -> Result<Vec<Record>, SweepError> {
    let bad = |line: u64, what: String| {
        SweepError::Merge(format!("{}: line {line}: {what}", path.display()))
    };
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_path(path)
        .map_err(|e| SweepError::Merge(format!("{}: {e}", path.display())))?;
    let labels = def.labels();
    let want = header(def);
    let axes = def.axes.len();
    let mut out = Vec::new();
    for (i, row) in rdr.records().enumerate() {
        let line = i as u64 + 1;
        let row = row.map_err(|e| bad(line, e.to_string()))?;
        let fields: Vec<&str> = row.iter().collect();
        if i == 0 {
            if fields != want {
                return Err(bad(
                    line,
                    format!("header {fields:?}, not this sweep's {want:?}"),
                ));
            }
            continue;
        }
        if fields.len() != want.len() {
            return Err(bad(
                line,
                format!("{} fields, the header has {}", fields.len(), want.len()),
            ));
        }
        let point: usize = fields[0]
            .parse()
            .map_err(|_| bad(line, format!("point {:?} is not a number", fields[0])))?;
        let same = labels.get(point).is_some_and(|l| {
            l.iter()
                .map(String::as_str)
                .eq(fields[1..=axes].iter().copied())
        });
        if !same {
            return Err(bad(
                line,
                format!(
                    "point {point} with values {:?} is not a point of this sweep",
                    &fields[1..=axes]
                ),
            ));
        }
        let seed = fields[axes + 1]
            .parse()
            .map_err(|_| bad(line, format!("seed {:?} is not a number", fields[axes + 1])))?;
        let value = fields[axes + 4].parse().map_err(|_| {
            bad(
                line,
                format!("value {:?} is not a number", fields[axes + 4]),
            )
        })?;
        out.push(Record {
            point,
            seed,
            variant: fields[axes + 2].to_string(),
            metric: fields[axes + 3].to_string(),
            value,
        });
    }
    Ok(out)
}

/// One point's statistics of one variant's metric over the seeds.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// The point.
    pub point: usize,
    /// The variant.
    pub variant: String,
    /// The metric.
    pub metric: String,
    /// Mean and 95 % interval (Student t) over the seeds that have the metric.
    pub stats: Stats,
}

/// The statistics per point, variant and metric, in point order and then in the order the
/// runs reported them.
pub fn summarize(records: &[Record]) -> Vec<Summary> {
    let mut out = Vec::new();
    let mut start = 0;
    while start < records.len() {
        let point = records[start].point;
        let end = records[start..]
            .iter()
            .position(|r| r.point != point)
            .map_or(records.len(), |n| start + n);
        let mut order: Vec<(&str, &str)> = Vec::new();
        let mut values: BTreeMap<(&str, &str), Vec<f64>> = BTreeMap::new();
        for r in &records[start..end] {
            let key = (r.variant.as_str(), r.metric.as_str());
            let e = values.entry(key).or_default();
            if e.is_empty() {
                order.push(key);
            }
            e.push(r.value);
        }
        out.extend(order.into_iter().map(|(variant, metric)| Summary {
            point,
            variant: variant.to_string(),
            metric: metric.to_string(),
            stats: Stats::of(&values[&(variant, metric)]),
        }));
        start = end;
    }
    out
}

fn decimals(metric: &str) -> usize {
    if metric.ends_with("_bps") {
        0
    } else if metric.ends_with("_s") || metric.ends_with("_ms") {
        3
    } else {
        1
    }
}

/// The terminal summary: per variant, one row per point with the axis values and `columns`
/// (mean ± half-width of the 95 % interval); `columns` empty: [`DEFAULT_COLUMNS`] that any
/// run has.
///
/// # Errors
/// A column no run measured, with the metrics there are.
pub fn render(def: &SweepDef, summary: &[Summary], columns: &[String]) -> Result<String, String> {
    let mut known: Vec<&str> = Vec::new();
    for s in summary {
        if !known.contains(&s.metric.as_str()) {
            known.push(&s.metric);
        }
    }
    let columns: Vec<String> = if columns.is_empty() {
        DEFAULT_COLUMNS
            .iter()
            .filter(|c| known.contains(c))
            .map(|c| c.to_string())
            .collect()
    } else {
        if let Some(bad) = columns.iter().find(|c| !known.contains(&c.as_str())) {
            return Err(format!(
                "no run measured {bad:?}; the metrics: {}",
                known.join(", ")
            ));
        }
        columns.to_vec()
    };
    let get = |p: usize, v: &str, m: &str| {
        summary
            .iter()
            .find(|s| s.point == p && s.variant == v && s.metric == m)
            .map(|s| s.stats)
    };
    let labels = def.labels();
    let points: Vec<usize> = {
        let mut ps: Vec<usize> = summary.iter().map(|s| s.point).collect();
        ps.dedup();
        ps
    };
    let seeds = &def.seeds;
    let mut out = String::new();
    let seeds_text = match seeds.as_slice() {
        [one] => format!("seed {one}"),
        [first, .., last] if (*last).checked_sub(*first) == Some(seeds.len() as u64 - 1) => {
            format!("seeds {first}..={last}")
        }
        all => format!(
            "seeds {}",
            all.iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let _ = writeln!(
        out,
        "{} — {} point{} x {} ({seeds_text}) x {} variant{}; each cell: mean{}",
        def.scenario,
        points.len(),
        if points.len() == 1 { "" } else { "s" },
        seeds.len(),
        def.variants.len(),
        if def.variants.len() == 1 { "" } else { "s" },
        if seeds.len() > 1 {
            " ± half-width of the 95 % confidence interval (Student t) over the seeds"
        } else {
            ""
        }
    );
    if columns.iter().any(|c| c == "failover_s") {
        let _ = writeln!(
            out,
            "failover_s: the longest gap between answered pings; +: still down when the run ended (a lower bound)"
        );
    }
    let widths: Vec<usize> = def
        .axes
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let path = a.path.to_string();
            crate::report::column_width(
                points
                    .iter()
                    .map(|&p| labels[p][i].as_str())
                    .chain([path.as_str()]),
                1,
            )
        })
        .collect();
    let cw = crate::report::column_width(columns.iter().map(String::as_str), 18);
    for variant in &def.variants {
        let _ = writeln!(out, "\nvariant {variant}");
        let mut line = String::new();
        for (a, w) in def.axes.iter().zip(&widths) {
            let _ = write!(line, "{:<w$}  ", a.path.to_string());
        }
        for c in &columns {
            let _ = write!(line, "{c:>cw$} ");
        }
        let _ = writeln!(out, "{}", line.trim_end());
        for &p in &points {
            let mut line = String::new();
            for (l, w) in labels[p].iter().zip(&widths) {
                let _ = write!(line, "{l:<w$}  ");
            }
            for c in &columns {
                let mut cell = pm(get(p, variant, c), 1.0, decimals(c));
                if c == "failover_s" {
                    let open =
                        get(p, variant, "failover_open_at_end").is_some_and(|o| o.mean > 0.0);
                    cell.push(if open { '+' } else { ' ' });
                } else {
                    cell.push(' ');
                }
                let _ = write!(line, "{cell:>w$}", w = cw + 1);
            }
            let _ = writeln!(out, "{}", line.trim_end());
        }
    }
    Ok(out)
}

#[derive(Serialize)]
struct JsonDoc<'a> {
    scenario: &'a str,
    axes: Vec<JsonAxis>,
    combine: super::Combine,
    seeds: &'a [u64],
    variants: &'a [String],
    shard: Shard,
    points: Vec<JsonPoint>,
    runs: Vec<JsonRecord<'a>>,
    summary: Vec<JsonSummary<'a>>,
}

#[derive(Serialize)]
struct JsonAxis {
    path: String,
    values: Vec<String>,
}

#[derive(Serialize)]
struct JsonPoint {
    point: usize,
    values: Vec<String>,
}

#[derive(Serialize)]
struct JsonRecord<'a> {
    point: usize,
    seed: u64,
    variant: &'a str,
    metric: &'a str,
    value: f64,
}

#[derive(Serialize)]
struct JsonSummary<'a> {
    point: usize,
    variant: &'a str,
    metric: &'a str,
    mean: f64,
    ci95_low: Option<f64>,
    ci95_high: Option<f64>,
    n: usize,
}

/// The `--json` document: the definition (axes with their values, seeds, variants, points),
/// every run's metrics and the summary.
pub fn json(def: &SweepDef, shard: Shard, records: &[Record], summary: &[Summary]) -> String {
    let doc = JsonDoc {
        scenario: &def.scenario,
        axes: def
            .axes
            .iter()
            .map(|a| JsonAxis {
                path: a.path.to_string(),
                values: a.values.iter().map(|v| super::label(&v.0)).collect(),
            })
            .collect(),
        combine: def.combine,
        seeds: &def.seeds,
        variants: &def.variants,
        shard,
        points: def
            .labels()
            .into_iter()
            .enumerate()
            .filter(|(p, _)| shard.has(*p))
            .map(|(point, values)| JsonPoint { point, values })
            .collect(),
        runs: records
            .iter()
            .map(|r| JsonRecord {
                point: r.point,
                seed: r.seed,
                variant: &r.variant,
                metric: &r.metric,
                value: r.value,
            })
            .collect(),
        summary: summary
            .iter()
            .map(|s| JsonSummary {
                point: s.point,
                variant: &s.variant,
                metric: &s.metric,
                mean: s.stats.mean,
                ci95_low: s.stats.ci95.map(|c| c.0),
                ci95_high: s.stats.ci95.map(|c| c.1),
                n: s.stats.n,
            })
            .collect(),
    };
    serde_json::to_string_pretty(&doc).unwrap_or_default()
}

/// A shard directory's manifest: which sweep, which shard, which points.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ShardManifest {
    /// The lbsim version that ran it.
    pub lbsim: String,
    /// Which shard.
    pub shard: Shard,
    /// Its points.
    pub points: Vec<usize>,
    /// The sweep.
    pub sweep: SweepDef,
}

fn io_error(path: &Path) -> impl Fn(std::io::Error) -> SweepError + '_ {
    move |source| SweepError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Write `sweep.csv`, for a shard of several also `shard.json`, and seal the directory with
/// `run.json` (a shard's names the shard; a whole sweep's is the same from `sim sweep` and
/// from `sim sweep merge`).
///
/// # Errors
/// A [`SweepError::Arg`] with the output directory's error.
pub fn write_dir(
    out: &OutDir,
    def: &SweepDef,
    shard: Option<Shard>,
    records: &[Record],
) -> Result<(), SweepError> {
    let fail = |e: crate::outdir::OutDirError| SweepError::Arg(e.to_string());
    out.write(CSV_FILE, &csv_bytes(def, records)?)
        .map_err(fail)?;
    if let Some(shard) = shard {
        let manifest = ShardManifest {
            lbsim: env!("CARGO_PKG_VERSION").to_string(),
            shard,
            points: (0..def.points().len()).filter(|&p| shard.has(p)).collect(),
            sweep: def.clone(),
        };
        let text =
            serde_json::to_string_pretty(&manifest).map_err(|e| SweepError::Arg(e.to_string()))?;
        out.write(SHARD_FILE, format!("{text}\n").as_bytes())
            .map_err(fail)?;
    }
    out.seal(def.inputs(shard)).map_err(fail)?;
    Ok(())
}

/// The shard directories: each of `dirs` that holds a manifest, and the subdirectories (in
/// name order) of those that do not.
fn shard_dirs(dirs: &[PathBuf]) -> Result<Vec<PathBuf>, SweepError> {
    let mut out = Vec::new();
    for d in dirs {
        if d.join(SHARD_FILE).is_file() {
            out.push(d.clone());
            continue;
        }
        if d.join(crate::outdir::MARKER).exists() {
            out.push(d.clone()); // an unfinished shard: refused below, by name
            continue;
        }
        let mut subs: Vec<PathBuf> = std::fs::read_dir(d)
            .map_err(io_error(d))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.join(SHARD_FILE).is_file())
            .collect();
        if subs.is_empty() {
            return Err(SweepError::Merge(format!(
                "{} holds no {SHARD_FILE}, nor do its subdirectories: a shard directory is what `sim sweep ... --shard I/N --out DIR` writes",
                d.display()
            )));
        }
        subs.sort();
        out.extend(subs);
    }
    Ok(out)
}

/// `p` made absolute through its nearest existing ancestor (symbolic links resolved).
fn resolved(p: &Path) -> PathBuf {
    let mut rest = Vec::new();
    let mut at = p;
    loop {
        if let Ok(c) = std::fs::canonicalize(at) {
            return rest.into_iter().rev().fold(c, |acc, part| acc.join(part));
        }
        match (at.file_name(), at.parent()) {
            (Some(name), Some(parent)) => {
                rest.push(name.to_os_string());
                at = if parent.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    parent
                };
            }
            _ => return p.to_path_buf(),
        }
    }
}

/// Read shard directories back into one sweep, to be written to `out`: the definition and
/// the records in the order an unsharded run has them.
///
/// # Errors
/// A [`SweepError::Merge`]: shards of different sweeps, versions or counts, a shard given
/// twice, missing or unfinished, a table that is not its manifest's, an `out` that is, holds
/// or lies in a shard directory.
pub fn merge(dirs: &[PathBuf], out: &Path) -> Result<(SweepDef, Vec<Record>), SweepError> {
    let dirs = shard_dirs(dirs)?;
    let target = resolved(out);
    if let Some(d) = dirs.iter().find(|d| {
        let d = resolved(d);
        d.starts_with(&target) || target.starts_with(&d)
    }) {
        return Err(SweepError::Merge(format!(
            "--out {} overlaps the shard directory {}: merge into a directory of its own",
            out.display(),
            d.display()
        )));
    }
    let mut shards: Vec<(PathBuf, ShardManifest)> = Vec::new();
    for d in &dirs {
        let verdict = crate::manifest::verify(d).map_err(io_error(d))?;
        if !verdict.complete() {
            return Err(SweepError::Merge(format!(
                "{} is not a complete shard: {} (rerun that shard)",
                d.display(),
                verdict.problems.join("; ")
            )));
        }
        let m = d.join(SHARD_FILE);
        let text = std::fs::read_to_string(&m).map_err(io_error(&m))?;
        let manifest: ShardManifest = serde_json::from_str(&text).map_err(|e| {
            SweepError::Merge(format!("{}: not a shard manifest: {e}", m.display()))
        })?;
        shards.push((d.clone(), manifest));
    }
    let Some((first_dir, first)) = shards.first() else {
        return Err(SweepError::Merge("no shard directories given".into()));
    };
    let count = first.shard.count;
    let mut by_index: Vec<Option<&Path>> = vec![None; count];
    for (d, m) in &shards {
        let differs = |what: &str| {
            SweepError::Merge(format!(
                "{} and {} are shards of different sweeps ({what} differ)",
                first_dir.display(),
                d.display()
            ))
        };
        if m.sweep != first.sweep {
            return Err(differs("their definitions"));
        }
        if m.lbsim != first.lbsim {
            return Err(differs("their lbsim versions"));
        }
        if m.shard.count != count || m.shard.index >= count {
            return Err(differs("their shard counts"));
        }
        if let Some(other) = by_index[m.shard.index].replace(d) {
            return Err(SweepError::Merge(format!(
                "{} and {} are both shard {}/{count}",
                other.display(),
                d.display(),
                m.shard.index
            )));
        }
    }
    let missing: Vec<String> = (0..count)
        .filter(|&i| by_index[i].is_none())
        .map(|i| i.to_string())
        .collect();
    if !missing.is_empty() {
        return Err(SweepError::Merge(format!(
            "shard{} {} of {count} missing: merge needs every shard's directory",
            if missing.len() == 1 { "" } else { "s" },
            missing.join(", ")
        )));
    }
    let def = first.sweep.clone();
    let npoints = def.points().len();
    let mut per_point: Vec<Vec<Record>> = vec![Vec::new(); npoints];
    for (d, m) in &shards {
        let csv = d.join(CSV_FILE);
        for r in read_csv(&def, &csv)? {
            if !m.shard.has(r.point) {
                return Err(SweepError::Merge(format!(
                    "{}: point {} is not shard {}/{count}'s",
                    csv.display(),
                    r.point,
                    m.shard.index
                )));
            }
            per_point[r.point].push(r);
        }
    }
    if let Some(p) = per_point.iter().position(Vec::is_empty) {
        return Err(SweepError::Merge(format!(
            "point {p} has no rows in its shard's {CSV_FILE}"
        )));
    }
    Ok((def, per_point.into_iter().flatten().collect()))
}
