//! The chart of a `sim compare` result: compare.csv, real against simulated per metric with
//! its tolerance.

use std::path::Path;

use super::chart::{self, Judged};
use super::data::Table;
use super::page::{Figure, Section, Table as Html};
use super::ReportError;

/// compare.csv's columns, in order (`sim compare` writes exactly this header).
pub const COLUMNS: [&str; 9] = [
    "metric",
    "variant",
    "unit",
    "real",
    "sim",
    "difference",
    "tolerance",
    "role",
    "verdict",
];

/// Marker colour of a verdict: pass, fail, anything else (a fitted metric is not judged).
pub fn verdict_color(verdict: &str) -> plotters::style::RGBColor {
    match verdict {
        "pass" => chart::SERIES[2],
        "fail" => chart::SERIES[11],
        _ => chart::SERIES[4],
    }
}

/// The compare section.
///
/// # Errors
/// compare.csv is not as `sim compare` writes it (another header, a number that is not one).
pub fn sections(dir: &Path) -> Result<Vec<Section>, ReportError> {
    let t = Table::read(dir, "compare.csv", &COLUMNS)?;
    if t.header() != COLUMNS {
        return Err(ReportError::Csv {
            file: t.file.clone(),
            line: 1,
            message: format!(
                "header {}, sim compare writes {}",
                t.header().join(","),
                COLUMNS.join(",")
            ),
        });
    }
    let mut rows = Vec::new();
    let mut table = Html::new(&COLUMNS);
    for r in t.rows() {
        for c in ["real", "sim"] {
            r.opt_f64(c)?;
        }
        rows.push(Judged {
            name: format!("{} ({})", r.str("metric"), r.str("variant")),
            value: r.opt_f64("difference")?,
            tolerance: r.opt_f64("tolerance")?.map(f64::abs),
            color: verdict_color(r.str("verdict")),
        });
        table.push(COLUMNS.iter().map(|c| r.str(c).to_string()).collect());
    }
    let (pass, fail) = (
        t.rows().filter(|r| r.str("verdict") == "pass").count(),
        t.rows().filter(|r| r.str("verdict") == "fail").count(),
    );
    let mut sec = Section::new("Compare: real against simulated");
    sec.text(&format!(
        "compare.csv: {} metrics, {pass} pass, {fail} fail, {} not judged (fitted metrics, or no tolerance).",
        t.len(),
        t.len() - pass - fail
    ));
    sec.figure(Figure {
        id: "chart-compare".into(),
        title: "Real against simulated, with tolerance".into(),
        caption: "Per metric and variant the difference of the simulated value from the real one (compare.csv's difference column) as a marker coloured by verdict, and the tolerance band ±tolerance around 0 (same unit as the difference); real and simulated values in the table.".into(),
        svg: chart::tolerance("difference, simulated against real", "difference (band: ±tolerance)", &rows)?,
        legend: vec![
            ("tolerance band".into(), chart::BAND),
            ("pass".into(), verdict_color("pass")),
            ("fail".into(), verdict_color("fail")),
            ("not judged".into(), verdict_color("")),
        ],
        table,
    });
    Ok(vec![sec])
}
