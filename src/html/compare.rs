//! The chart of a `sim compare` result: compare.csv, real against simulated per metric with
//! its tolerance.

use std::path::Path;

use super::chart::{self, Judged};
use super::data::Table;
use super::page::{Figure, Section, Table as Html};
use super::ReportError;

/// compare.csv's columns, in order, as `sim compare` writes them.
pub use crate::compare::CSV_COLUMNS as COLUMNS;

/// Marker colour of a verdict: pass, FAIL, anything else (`-`: a fitted or reported metric,
/// never judged).
pub fn verdict_color(verdict: &str) -> plotters::style::RGBColor {
    if verdict.eq_ignore_ascii_case("pass") {
        chart::SERIES[2]
    } else if verdict.eq_ignore_ascii_case("fail") {
        chart::SERIES[11]
    } else {
        chart::SERIES[4]
    }
}

/// A tolerance as `sim compare` prints it, as a relative band around 0 where it is one:
/// `10%`, `max(10%, 0.02)` (the larger of 10 % and 0.02 in the metric's unit, relative to
/// `real`), `in [min,max], median 10%` (the medians' part). `3se` (binomial standard errors)
/// and anything else have no band here; the table shows them as written.
pub fn relative_band(tolerance: &str, real: Option<f64>) -> Option<f64> {
    let pct = |s: &str| {
        s.trim()
            .strip_suffix('%')
            .and_then(|p| p.trim().parse::<f64>().ok())
            .map(|p| p / 100.0)
    };
    let t = tolerance.trim();
    if let Some(inner) = t.strip_prefix("max(").and_then(|r| r.strip_suffix(')')) {
        let (rel, abs) = inner.split_once(',')?;
        let abs: f64 = abs.trim().parse().ok()?;
        let rel = pct(rel)?;
        return Some(match real {
            Some(r) if r != 0.0 => rel.max(abs / r.abs()),
            _ => rel,
        });
    }
    if let Some(rest) = t.strip_prefix("in [min,max], median ") {
        return pct(rest);
    }
    pct(t)
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
            tolerance: relative_band(r.str("tolerance"), r.opt_f64("real")?),
            color: verdict_color(r.str("verdict")),
        });
        table.push(COLUMNS.iter().map(|c| r.str(c).to_string()).collect());
    }
    let (pass, fail) = (
        t.rows()
            .filter(|r| r.str("verdict").eq_ignore_ascii_case("pass"))
            .count(),
        t.rows()
            .filter(|r| r.str("verdict").eq_ignore_ascii_case("fail"))
            .count(),
    );
    let mut sec = Section::new("Compare: real against simulated");
    sec.text(&format!(
        "compare.csv: {} metrics, {pass} pass, {fail} fail, {} not judged (fitted or reported metrics, or no tolerance).",
        t.len(),
        t.len() - pass - fail
    ));
    sec.figure(Figure {
        id: "chart-compare".into(),
        title: "Real against simulated, with tolerance".into(),
        caption: "Per metric and variant the relative difference of the simulated value from the real one, (sim - real) / real (compare.csv's difference; absolute when real is 0), as a marker coloured by verdict, over the tolerance as a band around 0 where it is relative (10%, max(10%, 0.02) at this real value, the median part of a range tolerance; none for 3se); markers beyond the axis sit at its edge; every value as written in the table.".into(),
        svg: chart::tolerance("simulated against real", "(sim - real) / real; band: the tolerance", &rows)?,
        legend: vec![
            ("tolerance band".into(), chart::BAND),
            ("pass".into(), verdict_color("pass")),
            ("FAIL".into(), verdict_color("FAIL")),
            ("not judged (-)".into(), verdict_color("-")),
        ],
        table,
    });
    Ok(vec![sec])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tolerances_as_bands() {
        assert_eq!(relative_band("10%", Some(2.0)), Some(0.1));
        let b = relative_band("max(10%, 0.02)", Some(0.05)).unwrap();
        assert!((b - 0.4).abs() < 1e-12, "{b}");
        assert_eq!(relative_band("max(10%, 0.02)", Some(1.0)), Some(0.1));
        assert_eq!(
            relative_band("in [min,max], median 10%", Some(7.0)),
            Some(0.1)
        );
        assert_eq!(relative_band("3se", Some(0.3)), None);
        assert_eq!(relative_band("", None), None);
    }
}
