//! The charts of a `sim suite --out` directory: suite.csv's statistics over iterations and
//! suite_latency_histogram.csv's CDFs.

use std::collections::BTreeMap;
use std::path::Path;

use super::chart::{self, Bars, Series, Xy};
use super::data::{Row, Table};
use super::page::{num, opt, slug, Figure, Section, Table as Html};
use super::run::cdf_points;
use super::ReportError;
use crate::manifest::Inputs;

/// A variant's histogram rows.
type VariantRows<'a> = (String, Vec<Row<'a>>);

/// One statistic of suite.csv.
struct Stat {
    mean: f64,
    ci: Option<(f64, f64)>,
    n: String,
}

/// Names in first-seen order.
fn push_new(list: &mut Vec<String>, s: &str) {
    if !list.iter().any(|x| x == s) {
        list.push(s.to_string());
    }
}

/// The suite's sections. `inputs` (run.json's) says which tests a `vary` made.
///
/// # Errors
/// A file that is not as docs/outputs.md describes it.
pub fn sections(dir: &Path, inputs: Option<&Inputs>) -> Result<Vec<Section>, ReportError> {
    let csv = Table::read(
        dir,
        "suite.csv",
        &[
            "test",
            "variant",
            "metric",
            "mean",
            "ci95_low",
            "ci95_high",
            "n",
        ],
    )?;
    let (mut tests, mut variants) = (Vec::new(), Vec::new());
    let mut stats: BTreeMap<(String, String, String), Stat> = BTreeMap::new();
    for r in csv.rows() {
        push_new(&mut tests, r.str("test"));
        push_new(&mut variants, r.str("variant"));
        let ci = match (r.opt_f64("ci95_low")?, r.opt_f64("ci95_high")?) {
            (Some(a), Some(b)) => Some((a, b)),
            _ => None,
        };
        stats.insert(
            (
                r.str("test").into(),
                r.str("variant").into(),
                r.str("metric").into(),
            ),
            Stat {
                mean: r.f64("mean")?,
                ci,
                n: r.str("n").into(),
            },
        );
    }
    let get = |t: &str, v: &str, m: &str| stats.get(&(t.to_string(), v.to_string(), m.to_string()));
    let vcolor = |v: &str| chart::color(variants.iter().position(|x| x == v).unwrap_or(0));
    let stat_table = |rows: &[(String, String, &str)]| {
        let mut t = Html::new(&["test", "variant", "metric", "mean", "95 % CI", "n"]);
        for (test, v, m) in rows {
            if let Some(s) = get(test, v, m) {
                t.push(vec![
                    test.clone(),
                    v.clone(),
                    m.to_string(),
                    num(s.mean),
                    s.ci.map_or_else(String::new, |(a, b)| format!("{} .. {}", num(a), num(b))),
                    s.n.clone(),
                ]);
            }
        }
        t
    };
    // Bars of `metrics` per (test, metric) category, one group per variant.
    let bars = |metrics: &[&'static str]| {
        let mut cats = Vec::new();
        let mut keys = Vec::new();
        for t in &tests {
            for m in metrics {
                if variants.iter().any(|v| get(t, v, m).is_some()) {
                    cats.push(if metrics.len() > 1 {
                        format!("{t} {m}")
                    } else {
                        t.clone()
                    });
                    keys.push((t.clone(), *m));
                }
            }
        }
        let groups: Vec<Bars> = variants
            .iter()
            .map(|v| Bars {
                name: v.clone(),
                color: vcolor(v),
                values: keys
                    .iter()
                    .map(|(t, m)| get(t, v, m).map(|s| s.mean))
                    .collect(),
                intervals: keys
                    .iter()
                    .map(|(t, m)| get(t, v, m).and_then(|s| s.ci))
                    .collect(),
            })
            .collect();
        let rows: Vec<(String, String, &'static str)> = keys
            .iter()
            .flat_map(|(t, m)| variants.iter().map(move |v| (t.clone(), v.clone(), *m)))
            .collect();
        (cats, groups, rows)
    };
    let legend: Vec<_> = variants.iter().map(|v| (v.clone(), vcolor(v))).collect();
    let mut sec = Section::new("Suite: L2 vs BGP");
    sec.text("suite.csv: per test, variant and metric the mean over the iterations and its 95 % interval (whiskers; none with one iteration).");

    let (cats, groups, rows) = bars(&["latency_p50_ms", "latency_p99_ms"]);
    sec.figure(Figure {
        id: "chart-suite-latency".into(),
        title: "Latency, L2 vs BGP".into(),
        caption: "Median and 99th percentile latency of answered requests per test and variant, mean over iterations with its 95 % interval; from suite.csv (latency_p50_ms, latency_p99_ms).".into(),
        svg: chart::hbars("latency per test", "ms", &cats, &groups)?,
        legend: legend.clone(),
        table: stat_table(&rows),
    });

    // Throughput against the value a `vary` gave each test (Test 6: clients).
    let mut varied: Vec<(String, Vec<(String, f64)>)> = Vec::new();
    if let Some(Inputs::Suite { tests: ts, .. }) = inputs {
        for t in ts {
            let Some((path, value)) = t.vary.as_deref().and_then(|v| v.split_once('=')) else {
                continue;
            };
            let Ok(x) = value.parse::<f64>() else {
                continue;
            };
            match varied.iter_mut().find(|g| g.0 == path) {
                Some(g) => g.1.push((t.name.clone(), x)),
                None => varied.push((path.to_string(), vec![(t.name.clone(), x)])),
            }
        }
    }
    if varied.is_empty() {
        let (cats, groups, rows) = bars(&["throughput_rps"]);
        sec.figure(Figure {
            id: "chart-suite-throughput".into(),
            title: "Throughput, L2 vs BGP".into(),
            caption: "Requests answered per second of the load window per test and variant (no test of this suite has a vary), mean with its 95 % interval; from suite.csv (throughput_rps).".into(),
            svg: chart::hbars("throughput per test", "answered requests/s", &cats, &groups)?,
            legend: legend.clone(),
            table: stat_table(&rows),
        });
    } else {
        let mut series = Vec::new();
        let mut rows = Vec::new();
        for (path, members) in &varied {
            let mut members = members.clone();
            members.sort_by(|a, b| a.1.total_cmp(&b.1));
            for v in &variants {
                let (mut pts, mut cis) = (Vec::new(), Vec::new());
                for (t, x) in &members {
                    if let Some(s) = get(t, v, "throughput_rps") {
                        pts.push((*x, s.mean));
                        cis.push(s.ci);
                        rows.push((t.clone(), v.clone(), "throughput_rps"));
                    }
                }
                if !pts.is_empty() {
                    series.push(Series {
                        name: if varied.len() > 1 {
                            format!("{v} ({path})")
                        } else {
                            v.clone()
                        },
                        color: vcolor(v),
                        points: pts,
                        intervals: cis,
                        markers: true,
                    });
                }
            }
        }
        let paths: Vec<&str> = varied.iter().map(|g| g.0.as_str()).collect();
        sec.figure(Figure {
            id: "chart-suite-throughput".into(),
            title: "Throughput by clients, L2 vs BGP".into(),
            caption: format!("Requests answered per second of the load window against the value the suite's vary gave each test ({}), per variant, mean with its 95 % interval; from suite.csv (throughput_rps) and run.json (the tests' vary).", paths.join(", ")),
            svg: chart::xy(&Xy {
                title: "throughput by clients".into(),
                x_label: paths.join(", "),
                y_label: "answered requests/s".into(),
                series: series.clone(),
                x_names: None,
                height: 360,
            })?,
            legend: series.iter().map(|s| (s.name.clone(), s.color)).collect(),
            table: stat_table(&rows),
        });
    }

    let (cats, groups, rows) = bars(&["failover_s"]);
    sec.figure(Figure {
        id: "chart-suite-failover".into(),
        title: "Failover, L2 vs BGP".into(),
        caption: "The longest gap between answered pings per test and variant, mean over iterations with its 95 % interval; from suite.csv (failover_s).".into(),
        svg: chart::hbars("failover per test", "s", &cats, &groups)?,
        legend: legend.clone(),
        table: stat_table(&rows),
    });
    let mut out = vec![sec];

    let mut cdfs = Section::new("Suite: latency CDF per test");
    if let Some(h) = Table::read_opt(
        dir,
        "suite_latency_histogram.csv",
        &["test", "variant", "upper_ns", "count"],
    )? {
        let mut order: Vec<(String, Vec<VariantRows<'_>>)> = Vec::new();
        for r in h.rows() {
            let (t, v) = (r.str("test"), r.str("variant"));
            if order.last().map(|g| g.0.as_str()) != Some(t) {
                order.push((t.to_string(), Vec::new()));
            }
            let g = &mut order.last_mut().expect("pushed").1;
            if g.last().map(|x| x.0.as_str()) != Some(v) {
                g.push((v.to_string(), Vec::new()));
            }
            g.last_mut().expect("pushed").1.push(r);
        }
        for (t, vs) in order {
            let mut series = Vec::new();
            let mut table = Html::new(&["variant", "p50 ms", "p99 ms", "p99.9 ms", "n"]);
            for (v, rows) in vs {
                let pts = cdf_points(&rows)?;
                let p = |m: &str| get(&t, &v, m).map(|s| s.mean);
                table.push(vec![
                    v.clone(),
                    opt(p("latency_p50_ms")),
                    opt(p("latency_p99_ms")),
                    opt(p("latency_p999_ms")),
                    get(&t, &v, "latency_p50_ms").map_or_else(String::new, |s| s.n.clone()),
                ]);
                series.push(Series::line(v.clone(), vcolor(&v), pts));
            }
            cdfs.figure(Figure {
                id: format!("chart-latency-cdf-{}", slug(&t)),
                title: format!("{t}: latency CDF per variant"),
                caption: "Share of answered requests of all iterations with a latency up to x; from suite_latency_histogram.csv, means of the percentiles over iterations from suite.csv.".into(),
                svg: chart::cdf(&format!("{t}: latency of answered requests"), "latency (ms, log scale)", &series)?,
                legend: series.iter().map(|s| (s.name.clone(), s.color)).collect(),
                table,
            });
        }
    }
    out.push(cdfs);
    Ok(out)
}
