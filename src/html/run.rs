//! The charts of one `sim run --out` directory.

use std::collections::BTreeMap;
use std::path::Path;

use super::chart::{self, Bars, Lane, Panel, Series};
use super::data::{Row, Table};
use super::lanes::{lane_of, LANES};
use super::page::{num, slug, Figure, Section, Table as Html};
use super::ReportError;

/// Rows grouped by their `variant`, in the order variants first appear.
fn by_variant(t: &Table) -> Vec<(String, Vec<Row<'_>>)> {
    let mut order: Vec<(String, Vec<Row<'_>>)> = Vec::new();
    let mut index: BTreeMap<String, usize> = BTreeMap::new();
    for r in t.rows() {
        let v = r.str("variant");
        let i = *index.entry(v.to_string()).or_insert_with(|| {
            order.push((v.to_string(), Vec::new()));
            order.len() - 1
        });
        order[i].1.push(r);
    }
    order
}

/// Unique ids per variant: its slug, with a number added if two variants' slugs collide.
fn ids(variants: &[String]) -> Vec<String> {
    let mut seen = BTreeMap::<String, usize>::new();
    variants
        .iter()
        .map(|v| {
            let s = slug(v);
            let n = seen.entry(s.clone()).or_insert(0);
            *n += 1;
            if *n == 1 {
                s
            } else {
                format!("{s}-{n}")
            }
        })
        .collect()
}

/// The latency CDF of every variant (or test and variant) from histogram rows
/// (`upper_ns`, `count`): cumulative share at each bucket's upper bound, in ms. Points closer
/// than 0.2 % of the value to the previous one are merged (the line would not show them).
pub fn cdf_points(rows: &[Row<'_>]) -> Result<Vec<(f64, f64)>, ReportError> {
    let mut total = 0.0;
    let mut buckets = Vec::with_capacity(rows.len());
    for r in rows {
        let upper = r.f64("upper_ns")?;
        let count = r.f64("count")?;
        total += count;
        buckets.push((upper / 1e6, total));
    }
    let mut pts: Vec<(f64, f64)> = Vec::new();
    let last = buckets.len().saturating_sub(1);
    for (i, (x, c)) in buckets.into_iter().enumerate() {
        let y = if total > 0.0 { c / total } else { 0.0 };
        match pts.last_mut() {
            Some(p) if i != last && x < p.0 * 1.002 => *p = (x, y),
            _ => pts.push((x, y)),
        }
    }
    Ok(pts)
}

/// The run's sections.
///
/// # Errors
/// A file that is not as docs/outputs.md describes it.
pub fn sections(dir: &Path) -> Result<Vec<Section>, ReportError> {
    let summary = Table::read(
        dir,
        "summary.csv",
        &["variant", "sim_time_s", "requests_ok", "throughput_rps"],
    )?;
    let variants: Vec<String> = by_variant(&summary).into_iter().map(|v| v.0).collect();
    let vids = ids(&variants);
    let color = |v: &str| chart::color(variants.iter().position(|x| x == v).unwrap_or(0));
    let mut t_end = 0.0f64;
    for r in summary.rows() {
        t_end = t_end.max(r.f64("sim_time_s")?);
    }

    let mut overview = Section::new("Run summary");
    overview.text("summary.csv and probes.csv: one row per variant (docs/outputs.md).");
    let mut t = Html::new(&[
        "variant",
        "sent",
        "answered",
        "answered/s",
        "reset",
        "timeout",
        "refused",
        "route changes",
        "moved",
        "broken",
    ]);
    for r in summary.rows() {
        t.push(vec![
            r.str("variant").into(),
            r.str("requests_started").into(),
            r.str("requests_ok").into(),
            r.str("throughput_rps").into(),
            r.str("errors_reset").into(),
            r.str("errors_timeout").into(),
            r.str("errors_refused").into(),
            r.str("route_changes").into(),
            r.str("connections_moved").into(),
            r.str("connections_broken").into(),
        ]);
    }
    overview.table(&t);
    if let Some(p) = Table::read_opt(dir, "probes.csv", &["variant", "client_group"])? {
        if !p.is_empty() {
            let mut t = Html::new(&[
                "variant",
                "ping group",
                "sent",
                "answered",
                "lost",
                "failover (s)",
            ]);
            for r in p.rows() {
                let open = if r.str("failover_open_at_end") == "true" {
                    "+"
                } else {
                    ""
                };
                t.push(vec![
                    r.str("variant").into(),
                    r.str("client_group").into(),
                    r.str("probes_sent").into(),
                    r.str("probes_answered").into(),
                    r.str("probes_lost").into(),
                    format!("{}{open}", r.str("failover_s")),
                ]);
            }
            overview.table(&t);
        }
    }
    let mut out = vec![overview];

    // Latency CDF.
    let mut lat = Section::new("Latency");
    if let Some(h) = Table::read_opt(
        dir,
        "latency_histogram.csv",
        &["variant", "upper_ns", "count"],
    )? {
        let mut series = Vec::new();
        for (v, rows) in by_variant(&h) {
            series.push(Series::line(v.clone(), color(&v), cdf_points(&rows)?));
        }
        let mut table = Html::new(&[
            "variant", "p50 ms", "p90 ms", "p99 ms", "p99.9 ms", "max ms",
        ]);
        if let Some(l) = Table::read_opt(dir, "latency.csv", &["variant"])? {
            for r in l.rows() {
                table.push(
                    [
                        "variant",
                        "latency_p50_ms",
                        "latency_p90_ms",
                        "latency_p99_ms",
                        "latency_p999_ms",
                        "latency_max_ms",
                    ]
                    .iter()
                    .map(|c| r.str(c).to_string())
                    .collect(),
                );
            }
        }
        lat.figure(Figure {
            id: "chart-latency-cdf".into(),
            title: "Latency CDF per variant".into(),
            caption: "Share of answered requests (probes excluded) with a latency up to x, exact at each HDR bucket's upper bound; from latency_histogram.csv, percentiles from latency.csv.".into(),
            svg: chart::cdf("latency of answered requests", "latency (ms, log scale)", &series)?,
            legend: series.iter().map(|s| (s.name.clone(), s.color)).collect(),
            table,
        });
    } else {
        lat.text("No latency_histogram.csv in this directory.");
    }
    out.push(lat);

    // Events per variant, for the lanes.
    let events = Table::read_opt(
        dir,
        "events.csv",
        &["variant", "t_s", "kind", "subject", "detail"],
    )?;
    let mut lanes_of: BTreeMap<String, Vec<Lane>> = BTreeMap::new();
    let mut event_rows: BTreeMap<String, Vec<[String; 5]>> = BTreeMap::new();
    if let Some(e) = &events {
        for (v, rows) in by_variant(e) {
            let mut lanes: Vec<Lane> = LANES
                .iter()
                .map(|l| Lane {
                    name: l.name.into(),
                    color: l.color,
                    times: Vec::new(),
                })
                .collect();
            let mut table = Vec::new();
            for r in rows {
                if let Some(i) = lane_of(&r) {
                    let t = r.f64("t_s")?;
                    lanes[i].times.push(t);
                    table.push([
                        num(t),
                        LANES[i].name.into(),
                        r.str("kind").into(),
                        r.str("subject").into(),
                        r.str("detail").into(),
                    ]);
                }
            }
            lanes.retain(|l| !l.times.is_empty());
            lanes_of.insert(v.clone(), lanes);
            event_rows.insert(v, table);
        }
    }
    let event_table = |v: &str| {
        let mut t = Html::new(&["t (s)", "lane", "kind", "subject", "detail"]);
        for r in event_rows.get(v).into_iter().flatten() {
            t.push(r.to_vec());
        }
        t
    };

    // Requests and errors over time.
    let mut time = Section::new("Requests and errors over time");
    if let Some(ts) = Table::read_opt(
        dir,
        "timeseries.csv",
        &[
            "variant",
            "t_s",
            "requests_started",
            "requests_ok",
            "errors_reset",
            "errors_timeout",
            "errors_refused",
        ],
    )? {
        let groups = by_variant(&ts);
        if groups.is_empty() {
            time.text("timeseries.csv has no rows: no request client ran.");
        }
        for (v, rows) in groups {
            let width = bucket_width(&rows)?;
            let (mut ok, mut sent) = (Vec::new(), Vec::new());
            let (mut reset, mut timeout, mut refused) = (Vec::new(), Vec::new(), Vec::new());
            for r in &rows {
                let t = r.f64("t_s")?;
                ok.push((t, r.f64("requests_ok")? / width));
                sent.push((t, r.f64("requests_started")? / width));
                reset.push((t, r.f64("errors_reset")? as u64));
                timeout.push((t, r.f64("errors_timeout")? as u64));
                refused.push((t, r.f64("errors_refused")? as u64));
            }
            let lanes = lanes_of.get(&v).cloned().unwrap_or_default();
            let ms = (width * 1000.0).round();
            let s_ok = Series::line("answered/s", chart::color(0), ok);
            let s_sent = Series::line("sent/s", chart::color(1), sent);
            let layers = vec![
                ("reset".to_string(), chart::color(3), reset),
                ("timeout".to_string(), chart::color(4), timeout),
                ("refused".to_string(), chart::color(2), refused),
            ];
            let mut legend = vec![
                (s_ok.name.clone(), s_ok.color),
                (s_sent.name.clone(), s_sent.color),
            ];
            legend.extend(layers.iter().map(|l| (format!("errors: {}", l.0), l.1)));
            legend.extend(
                lanes
                    .iter()
                    .map(|l| (format!("event: {}", l.name), l.color)),
            );
            let svg = chart::timeline(
                &format!("{v}: requests per second and errors per {ms} ms"),
                t_end,
                &[
                    Panel::Lines {
                        y_label: "requests/s".into(),
                        series: vec![s_sent, s_ok],
                    },
                    Panel::Counts {
                        y_label: format!("errors per {ms} ms"),
                        width,
                        layers,
                    },
                ],
                &lanes,
            )?;
            time.figure(Figure {
                id: format!("chart-time-{}", vids[variants.iter().position(|x| *x == v).unwrap_or(0)]),
                title: format!("{v}: requests and errors over time"),
                caption: format!("Requests sent and answered per second and errors (reset, timeout, refused) per {ms} ms bucket, from timeseries.csv; the fault and control-plane events of events.csv in lanes below and as faint lines above."),
                svg,
                legend,
                table: event_table(&v),
            });
        }
    } else {
        time.text("No timeseries.csv in this directory.");
    }
    out.push(time);

    // Per-node load.
    let mut load = Section::new("Per-node load over time");
    if let Some(tn) = Table::read_opt(
        dir,
        "timeseries_nodes.csv",
        &["variant", "t_s", "node", "ingress_requests"],
    )? {
        let nodes_csv = Table::read_opt(dir, "nodes.csv", &["variant", "node"])?;
        for (v, rows) in by_variant(&tn) {
            let width = bucket_width(&rows)?;
            let mut per_node: Vec<(String, Vec<(f64, f64)>)> = Vec::new();
            let mut index = BTreeMap::<String, usize>::new();
            for r in &rows {
                let n = r.str("node");
                let i = *index.entry(n.to_string()).or_insert_with(|| {
                    per_node.push((n.to_string(), Vec::new()));
                    per_node.len() - 1
                });
                per_node[i]
                    .1
                    .push((r.f64("t_s")?, r.f64("ingress_requests")? / width));
            }
            let series: Vec<Series> = per_node
                .into_iter()
                .enumerate()
                .map(|(i, (n, pts))| Series::line(n, chart::color(i), pts))
                .collect();
            let lanes = lanes_of.get(&v).cloned().unwrap_or_default();
            let mut legend: Vec<_> = series.iter().map(|s| (s.name.clone(), s.color)).collect();
            legend.extend(
                lanes
                    .iter()
                    .map(|l| (format!("event: {}", l.name), l.color)),
            );
            let mut table = Html::new(&[
                "node",
                "ingress requests",
                "served",
                "cores",
                "CPU busy (s)",
            ]);
            if let Some(nc) = &nodes_csv {
                for r in nc.rows().filter(|r| r.str("variant") == v) {
                    table.push(
                        [
                            "node",
                            "ingress_requests",
                            "served_requests",
                            "cores",
                            "cpu_busy_s",
                        ]
                        .iter()
                        .map(|c| r.str(c).to_string())
                        .collect(),
                    );
                }
            }
            load.figure(Figure {
                id: format!("chart-nodes-{}", vids[variants.iter().position(|x| *x == v).unwrap_or(0)]),
                title: format!("{v}: requests routed to each node"),
                caption: "Requests per second the router (or ARP entry) sent to each node, per bucket, from timeseries_nodes.csv (ingress_requests); totals from nodes.csv; events as in the chart above.".into(),
                svg: chart::timeline(
                    &format!("{v}: ingress requests per second per node"),
                    t_end,
                    &[Panel::Lines {
                        y_label: "requests/s".into(),
                        series,
                    }],
                    &lanes,
                )?,
                legend,
                table,
            });
        }
    }
    out.push(load);

    // Route changes.
    let mut rc = Section::new("Route changes");
    if let Some(ch) = Table::read_opt(
        dir,
        "changes.csv",
        &[
            "variant",
            "change_id",
            "t_s",
            "cause",
            "moved",
            "broken_reset",
            "broken_timeout",
        ],
    )? {
        let mut cats = Vec::new();
        let (mut moved, mut reset, mut timeout) = (Vec::new(), Vec::new(), Vec::new());
        let mut table = Html::new(&[
            "variant", "change", "t (s)", "cause", "live", "moved", "reset", "timeout",
        ]);
        for r in ch.rows() {
            let (m, rs, to) = (
                r.f64("moved")?,
                r.f64("broken_reset")?,
                r.f64("broken_timeout")?,
            );
            if m + rs + to == 0.0 {
                continue;
            }
            let mut cause: String = r.str("cause").chars().take(28).collect();
            if r.str("cause").chars().count() > 28 {
                cause.push('…');
            }
            cats.push(format!(
                "{} #{} {}s {}",
                r.str("variant"),
                r.str("change_id"),
                num((r.f64("t_s")? * 100.0).round() / 100.0),
                cause
            ));
            moved.push(Some(m));
            reset.push(Some(rs));
            timeout.push(Some(to));
            table.push(vec![
                r.str("variant").into(),
                r.str("change_id").into(),
                r.str("t_s").into(),
                r.str("cause").into(),
                r.str("live_connections").into(),
                num(m),
                num(rs),
                num(to),
            ]);
        }
        let groups = vec![
            Bars {
                name: "moved".into(),
                color: chart::color(0),
                values: moved,
                intervals: vec![],
            },
            Bars {
                name: "reset".into(),
                color: chart::color(3),
                values: reset,
                intervals: vec![],
            },
            Bars {
                name: "timeout".into(),
                color: chart::color(4),
                values: timeout,
                intervals: vec![],
            },
        ];
        let shown = cats.len();
        rc.figure(Figure {
            id: "chart-route-changes".into(),
            title: "Connections moved and broken per route change".into(),
            caption: format!(
                "Per route change that moved a connection ({shown} of {} changes; the others moved none), per variant: established connections whose next hop changed, and of those the ones that later got a reset or timed out; from changes.csv.",
                ch.len()
            ),
            svg: chart::hbars("connections per route change", "connections", &cats, &groups)?,
            legend: groups.iter().map(|g| (g.name.clone(), g.color)).collect(),
            table,
        });
    }
    out.push(rc);
    Ok(out)
}

/// A time series' bucket width: the smallest step between two rows' `t_s` (0.1 s when the
/// series has a single bucket).
fn bucket_width(rows: &[Row<'_>]) -> Result<f64, ReportError> {
    let mut prev: Option<f64> = None;
    let mut w = f64::INFINITY;
    for r in rows {
        let t = r.f64("t_s")?;
        if let Some(p) = prev {
            if t > p + 1e-9 {
                w = w.min(t - p);
            }
        }
        prev = Some(t);
    }
    Ok(if w.is_finite() {
        (w * 1e6).round() / 1e6
    } else {
        0.1
    })
}
