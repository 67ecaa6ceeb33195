//! The charts of a `sim sweep --out` directory: each metric of sweep.csv against each axis,
//! mean over the seeds with its 95 % interval (Student t, as the terminal table).

use std::collections::BTreeMap;
use std::path::Path;

use super::chart::{self, Series, Xy};
use super::data::Table;
use super::page::{num, slug, Figure, Section, Table as Html};
use super::ReportError;
use crate::suite::Stats;

/// An axis value as a number: a plain number, or a duration in seconds (`9s`, `300ms`).
fn numeric(label: &str) -> Option<f64> {
    let t = label.trim_matches('"');
    t.parse::<f64>().ok().filter(|v| v.is_finite()).or_else(|| {
        t.parse::<sim_core::SimDuration>()
            .ok()
            .map(|d| d.as_secs_f64())
    })
}

/// A chart line: its name, its variant, its points (number and axis labels).
type Line = (String, String, Vec<(u64, Vec<String>)>);
/// A 95 % interval, if any.
type Interval = Option<(f64, f64)>;

/// An axis path's last field, for legends (`variants[frr].bgp.router_hold_time`:
/// `router_hold_time`); the tables and captions give the whole path.
fn short(path: &str) -> &str {
    path.rsplit('.').next().unwrap_or(path)
}

/// The sweep's sections.
///
/// # Errors
/// sweep.csv is not as docs/sweep.md describes it.
pub fn sections(dir: &Path) -> Result<Vec<Section>, ReportError> {
    let t = Table::read(
        dir,
        "sweep.csv",
        &["point", "seed", "variant", "metric", "value"],
    )?;
    let header = t.header();
    let seed_at = header.iter().position(|h| h == "seed").unwrap_or(1);
    if header.first().map(String::as_str) != Some("point") || seed_at < 1 {
        return Err(ReportError::Csv {
            file: t.file.clone(),
            line: 1,
            message: "the header must be point, the axes, seed, variant, metric, value".into(),
        });
    }
    let axes: Vec<String> = header[1..seed_at].to_vec();
    // Per point its axis labels; per (metric, variant, point) the values over seeds.
    let mut points: BTreeMap<u64, Vec<String>> = BTreeMap::new();
    let (mut metrics, mut variants): (Vec<String>, Vec<String>) = (Vec::new(), Vec::new());
    let mut values: BTreeMap<(String, String, u64), Vec<f64>> = BTreeMap::new();
    for r in t.rows() {
        let p = r.f64("point")?;
        if p < 0.0 || p.fract() != 0.0 {
            return Err(ReportError::Csv {
                file: t.file.clone(),
                line: r.line(),
                message: format!("column \"point\": {p} is not a point number"),
            });
        }
        let p = p as u64;
        let labels: Vec<String> = axes.iter().map(|a| r.str(a).to_string()).collect();
        if let Some(prev) = points.insert(p, labels.clone()) {
            if prev != labels {
                return Err(ReportError::Csv {
                    file: t.file.clone(),
                    line: r.line(),
                    message: format!(
                        "point {p} has axis values {labels:?} here and {prev:?} before"
                    ),
                });
            }
        }
        let (m, v) = (r.str("metric"), r.str("variant"));
        if !metrics.iter().any(|x| x == m) {
            metrics.push(m.into());
        }
        if !variants.iter().any(|x| x == v) {
            variants.push(v.into());
        }
        values
            .entry((m.into(), v.into(), p))
            .or_default()
            .push(r.f64("value")?);
    }
    let mut sec = Section::new("Sweep: each metric against its axis");
    sec.text(&format!(
        "sweep.csv: {} points x {} variants, axes {}; mean over the seeds with its 95 % interval (whiskers; none with one seed).",
        points.len(),
        variants.len(),
        axes.join(", ")
    ));
    for m in &metrics {
        for (ai, axis) in axes.iter().enumerate() {
            // The axis's values in first-seen order; numbers when all are.
            let mut labels: Vec<String> = Vec::new();
            for l in points.values() {
                if !labels.contains(&l[ai]) {
                    labels.push(l[ai].clone());
                }
            }
            let nums: Option<Vec<f64>> = labels.iter().map(|l| numeric(l)).collect();
            let x_of = |l: &str| -> f64 {
                let i = labels.iter().position(|x| x == l).unwrap_or(0);
                nums.as_ref().map_or(i as f64, |n| n[i])
            };
            // One line per variant and combination of the other axes' values.
            let mut lines: Vec<Line> = Vec::new();
            for v in &variants {
                for (&p, l) in &points {
                    if !values.contains_key(&(m.clone(), v.clone(), p)) {
                        continue;
                    }
                    let others: Vec<String> = axes
                        .iter()
                        .zip(l)
                        .enumerate()
                        .filter(|(i, _)| *i != ai)
                        .map(|(_, (a, x))| format!("{}={x}", short(a)))
                        .collect();
                    let name = if others.is_empty() {
                        v.clone()
                    } else {
                        format!("{v}, {}", others.join(", "))
                    };
                    match lines.iter_mut().find(|x| x.0 == name) {
                        Some(x) => x.2.push((p, l.clone())),
                        None => lines.push((name, v.clone(), vec![(p, l.clone())])),
                    }
                }
            }
            let mut series = Vec::new();
            let mut table = Html::new(&["point", axis, "variant", "mean", "95 % CI", "n"]);
            for (i, (name, v, pts)) in lines.iter().enumerate() {
                let mut ps: Vec<(f64, f64, Interval)> = Vec::new();
                for (p, l) in pts {
                    let s = Stats::of(&values[&(m.clone(), v.clone(), *p)]);
                    ps.push((x_of(&l[ai]), s.mean, s.ci95));
                    table.push(vec![
                        p.to_string(),
                        l[ai].clone(),
                        name.clone(),
                        num(s.mean),
                        s.ci95
                            .map_or_else(String::new, |(a, b)| format!("{} .. {}", num(a), num(b))),
                        s.n.to_string(),
                    ]);
                }
                ps.sort_by(|a, b| a.0.total_cmp(&b.0));
                series.push(Series {
                    name: name.clone(),
                    color: chart::color(i),
                    points: ps.iter().map(|p| (p.0, p.1)).collect(),
                    intervals: ps.iter().map(|p| p.2).collect(),
                    markers: true,
                });
            }
            sec.figure(Figure {
                id: format!("chart-sweep-{}-{}", slug(m), ai),
                title: format!("{m} against {axis}"),
                caption: format!("{m} per point against the axis {axis}, one line per variant and value of the other axes, mean over the seeds with its 95 % interval; from sweep.csv."),
                svg: chart::xy(&Xy {
                    title: format!("{m} against {axis}"),
                    x_label: axis.clone(),
                    y_label: m.clone(),
                    series: series.clone(),
                    x_names: nums.is_none().then(|| labels.clone()),
                    height: 340,
                })?,
                legend: series.iter().map(|s| (s.name.clone(), s.color)).collect(),
                table,
            });
        }
    }
    Ok(vec![sec])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axis_values_as_numbers() {
        assert_eq!(numeric("3"), Some(3.0));
        assert_eq!(numeric("9s"), Some(9.0));
        assert_eq!(numeric("300ms"), Some(0.3));
        assert_eq!(numeric("Poisson"), None);
    }
}
