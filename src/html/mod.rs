//! `sim report DIR`: one self-contained HTML page of charts (inline SVG drawn by plotters)
//! and tables for a run's, a suite's or a sweep's `--out` directory, or a directory holding a
//! `sim compare` result. docs/report.md lists every chart, its id and the file it reads.
//!
//! ```text
//!  DIR/*.csv ─▶ data::Table ─▶ run / suite / sweep / compare ─▶ chart (plotters SVG) ─▶ page
//! ```
//! The page is a function of the directory's files (and, for `--report`, the run's manifest
//! inputs, which `run.json` holds afterwards): same files, same bytes.

pub mod chart;
pub mod compare;
pub mod data;
pub mod lanes;
pub mod page;
mod run;
mod suite;
mod sweep;

use std::path::{Path, PathBuf};

use crate::manifest::{Inputs, Manifest};

/// The report's file name in the directory.
pub const REPORT_FILE: &str = "report.html";

/// Why a report could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The directory is none of the kinds a report is made for.
    #[error("{dir}: not an lbsim output a report can be made of: no summary.csv (sim run --out), suite.csv (sim suite --out), sweep.csv (sim sweep --out) or compare.csv (sim compare)")]
    NotAnOutput {
        /// The directory.
        dir: String,
    },
    /// A CSV file that is not as docs/outputs.md describes.
    #[error("{file}: line {line}: {message}")]
    Csv {
        /// The file, relative to the directory.
        file: String,
        /// 1-based line (the header is line 1).
        line: u64,
        /// What is wrong.
        message: String,
    },
    /// A file that cannot be read or written.
    #[error("{path}: {error}")]
    Io {
        /// The file.
        path: String,
        /// The error.
        error: String,
    },
    /// plotters failed to draw.
    #[error("drawing a chart: {0}")]
    Plot(String),
}

/// The report of `dir` as HTML. `inputs` says what was run (for `--report`, before run.json
/// exists); `None` reads them from `dir/run.json` when there is a valid one.
///
/// # Errors
/// `dir` is none of the kinds, or one of its files is malformed (file and line).
pub fn render(dir: &Path, inputs: Option<&Inputs>) -> Result<String, ReportError> {
    let from_file = match inputs {
        Some(_) => None,
        None => Manifest::read(dir).and_then(Result::ok).map(|m| m.inputs),
    };
    let inputs = inputs.or(from_file.as_ref());
    let has = |f: &str| dir.join(f).is_file();
    let mut sections = Vec::new();
    let mut kinds = Vec::new();
    // A compare result may sit in a run's directory (sim compare writes compare.csv into
    // SIM_DIR): every kind the directory holds gets its sections, compare first.
    if has("compare.csv") {
        kinds.push("compare");
        sections.extend(compare::sections(dir)?);
    }
    if has("suite.csv") {
        kinds.push("suite");
        sections.extend(suite::sections(dir, inputs)?);
    }
    if has("sweep.csv") {
        kinds.push("sweep");
        sections.extend(sweep::sections(dir)?);
    }
    if has("summary.csv") {
        kinds.push("run");
        sections.extend(run::sections(dir)?);
    }
    if sections.is_empty() {
        return Err(ReportError::NotAnOutput {
            dir: dir.display().to_string(),
        });
    }
    let what = inputs.map_or_else(
        || "no run.json: what was run is not recorded".to_string(),
        |i| Manifest::new(i.clone(), Vec::new()).describe(),
    );
    Ok(page::page(
        &format!("lbsim report: {}", kinds.join(", ")),
        &format!(
            "{what}. Made by lbsim {} from the files of this directory (docs/report.md).",
            env!("CARGO_PKG_VERSION")
        ),
        &sections,
    ))
}

/// `sim report DIR [-o FILE]`: write the report (default `DIR/report.html`); when it goes into
/// a complete lbsim output, its `run.json` lists it (so `sim verify` still passes). Returns
/// where it went and whether run.json was updated.
///
/// # Errors
/// As [`render`], or the file cannot be written.
pub fn write(dir: &Path, out: Option<&Path>) -> Result<(PathBuf, bool), ReportError> {
    let html = render(dir, None)?;
    let path = out.map_or_else(|| dir.join(REPORT_FILE), Path::to_path_buf);
    let io = |e: std::io::Error| ReportError::Io {
        path: path.display().to_string(),
        error: e.to_string(),
    };
    let inside = out.is_none() || same_file_in(dir, &path);
    if inside {
        let (root, prefix) = manifest_root(dir);
        let rel = format!("{prefix}{REPORT_FILE}");
        let listed = crate::manifest::add_file(&root, &rel, html.as_bytes()).map_err(io)?;
        return Ok((path, listed));
    }
    crate::output::write_atomic(&path, html.as_bytes()).map_err(io)?;
    Ok((path, false))
}

/// The output directory whose run.json covers `dir`, and `dir`'s place in it (`""`, or
/// `test/seed-1/` for a run inside a suite's output, which has no run.json of its own): the
/// nearest of `dir` and its three parents with a run.json, if that lists files under `dir`.
fn manifest_root(dir: &Path) -> (PathBuf, String) {
    let Ok(mut cur) = std::fs::canonicalize(dir) else {
        return (dir.to_path_buf(), String::new());
    };
    let mut parts: Vec<String> = Vec::new();
    for _ in 0..4 {
        if cur.join(crate::outdir::MANIFEST).is_file() {
            if parts.is_empty() {
                return (dir.to_path_buf(), String::new());
            }
            let prefix = format!("{}/", parts.join("/"));
            let covers = Manifest::read(&cur)
                .and_then(Result::ok)
                .is_some_and(|m| m.files.iter().any(|f| f.path.starts_with(&prefix)));
            if covers {
                return (cur, prefix);
            }
            break;
        }
        let (Some(name), Some(parent)) = (cur.file_name(), cur.parent()) else {
            break;
        };
        parts.insert(0, name.to_string_lossy().into_owned());
        cur = parent.to_path_buf();
    }
    (dir.to_path_buf(), String::new())
}

/// Is `path` `dir/report.html`?
fn same_file_in(dir: &Path, path: &Path) -> bool {
    let canon = |p: &Path| p.parent().and_then(|d| std::fs::canonicalize(d).ok());
    path.file_name().is_some_and(|n| n == REPORT_FILE)
        && canon(path) == std::fs::canonicalize(dir).ok()
}
