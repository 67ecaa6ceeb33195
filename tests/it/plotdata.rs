//! Plot-ready data: docs/outputs.md lists exactly the columns the files have, every CSV has
//! its header also without rows, blanks mean "no value" (never a zero count), and `--json`
//! prints one document and nothing else on stdout.

use std::collections::BTreeMap;
use std::path::Path;

use lbsim::{openmetrics, output, runner};

/// `{file: [column, ...]}` from docs/outputs.md's tables under `## <file>.csv: ...`.
fn documented() -> BTreeMap<String, Vec<String>> {
    let docs =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/outputs.md")).unwrap();
    let mut files = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in docs.lines() {
        if line.starts_with('#') {
            current = line
                .trim_start_matches('#')
                .split_whitespace()
                .next()
                .and_then(|w| w.strip_suffix(".csv:"))
                .map(|stem| format!("{stem}.csv"));
            if let Some(c) = &current {
                files.insert(c.clone(), Vec::new());
            }
            continue;
        }
        let (Some(file), Some(cell)) = (&current, line.strip_prefix("| `")) else {
            continue;
        };
        if let Some((name, _)) = cell.split_once('`') {
            files.get_mut(file).unwrap().push(name.to_string());
        }
    }
    files
}

/// The header of each CSV in `dir`, and its rows.
fn written(dir: &Path) -> BTreeMap<String, (Vec<String>, Vec<csv::StringRecord>)> {
    let mut out = BTreeMap::new();
    for name in output::CSV_FILES {
        let mut r = csv::Reader::from_path(dir.join(name)).unwrap();
        let header = r.headers().unwrap().iter().map(String::from).collect();
        let rows = r.records().map(Result::unwrap).collect();
        out.insert(name.to_string(), (header, rows));
    }
    out
}

fn write(scenario: &str, dir: &Path) -> BTreeMap<String, (Vec<String>, Vec<csv::StringRecord>)> {
    let s = crate::scenario(scenario);
    let results = runner::run_all(&s, s.seed).unwrap();
    let out = lbsim::outdir::OutDir::claim(dir).unwrap();
    output::write_all(&out, "", &results, openmetrics::DEFAULT_EPOCH_S).unwrap();
    written(dir)
}

#[test]
fn documented_columns_are_the_written_headers_with_rows_and_without() {
    let docs = documented();
    for name in output::CSV_FILES {
        assert!(
            docs.contains_key(name),
            "{name} has no table in docs/outputs.md"
        );
    }
    // Every file with rows: request and ping clients, a route change moving live connections.
    let full = tempfile::tempdir().unwrap();
    let with_rows = write(
        &crate::small(
            r#"events: [(at: "3s", withdraw: "node-2")],
               bgp: (),"#,
        )
        .replace(
            "clients: [",
            r#"clients: [(name: "probe", load: Ping(interval: "100ms"), timeout: "1s"), "#,
        ),
        full.path(),
    );
    // No rows where nothing happened: requests without pings, pings without requests, and
    // no route change in either.
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let requests_only = write(&crate::small(""), a.path());
    let pings_only = write(
        &crate::small("").replace(
            r#"load: OpenLoop(rate: 200), connections: KeepAlive(pool: 8)"#,
            r#"load: Ping(interval: "100ms")"#,
        ),
        b.path(),
    );
    for (name, (header, rows)) in &with_rows {
        assert_eq!(header, &docs[name], "{name}: header vs docs/outputs.md");
        assert!(!rows.is_empty(), "{name} has no rows");
        for other in [&requests_only, &pings_only] {
            assert_eq!(
                &other[name].0, header,
                "{name} keeps its header without rows"
            );
        }
        let always = ["summary.csv", "nodes.csv", "events.csv"].contains(&name.as_str());
        let empty_once = requests_only[name].1.is_empty() || pings_only[name].1.is_empty();
        assert!(
            always || empty_once,
            "{name} should have no rows in one of them"
        );
    }
}

#[test]
fn latency_columns_are_blank_exactly_when_nothing_was_answered() {
    let dir = tempfile::tempdir().unwrap();
    // Node-2 crashes and recovers: buckets without answers on it.
    let files = write(
        &crate::small(
            r#"events: [(at: "3s", crash: "node-2"), (at: "6s", recover: "node-2")], bgp: (),"#,
        )
        .replace(
            "clients: [",
            r#"clients: [(name: "probe", count: 4, load: Ping(interval: "50ms"), timeout: "200ms"), "#,
        ),
        dir.path(),
    );
    for (name, count) in [
        ("timeseries.csv", "requests_ok"),
        ("timeseries_clients.csv", "requests_ok"),
        ("timeseries_nodes.csv", "requests_ok"),
        ("timeseries_probes.csv", "probes_answered"),
    ] {
        let (header, rows) = &files[name];
        let col = |n: &str| header.iter().position(|h| h == n).unwrap();
        let latency: Vec<usize> = header
            .iter()
            .enumerate()
            .filter(|(_, h)| {
                h.ends_with("_ms") && (h.starts_with("latency_") || h.starts_with("rtt_"))
            })
            .map(|(i, _)| i)
            .collect();
        assert_eq!(latency.len(), 4, "{name}: p50, p99, mean, max");
        let mut blank_rows = 0;
        for row in rows {
            let answered: u64 = row[col(count)].parse().unwrap();
            for &i in &latency {
                assert_eq!(
                    row[i].is_empty(),
                    answered == 0,
                    "{name} t_s {}: {} = {:?} with {count} {answered}",
                    &row[col("t_s")],
                    header[i],
                    &row[i]
                );
            }
            for (i, h) in header.iter().enumerate() {
                if !latency.contains(&i) && h != "node" && h != "client_group" {
                    assert!(!row[i].is_empty(), "{name}: {h} is never blank");
                }
            }
            blank_rows += usize::from(answered == 0);
        }
        if name == "timeseries_nodes.csv" {
            assert!(
                blank_rows > 0,
                "{name}: the crash leaves node-2 without answers"
            );
        }
    }
}

#[test]
fn json_is_one_document_on_stdout_with_the_tables_rows() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("s.ron");
    std::fs::write(
        &file,
        crate::small(
            r#"events: [(at: "3s", withdraw: "node-2")], variants: [(name: "a"), (name: "b")],"#,
        ),
    )
    .unwrap();
    let (ok, stdout, stderr) = crate::sim_in(dir.path(), &["run", "s.ron", "--json"]);
    assert!(ok, "{stderr}");
    let v: serde_json::Value = serde_json::from_str(&stdout).expect("stdout is one JSON document");
    assert_eq!(v["format"], "lbsim-run-json/1");
    assert_eq!(v["summary"].as_array().unwrap().len(), 2);
    assert_eq!(v["summary"][1]["variant"], "b");
    assert!(v["summary"][0]["requests_ok"].as_u64().unwrap() > 0);
    assert!(v["latency"][0]["latency_p99_ms"].as_f64().unwrap() > 0.0);
    assert_eq!(v["probes"].as_array().map(Vec::len), Some(0));
    assert!(!v["changes"].as_array().unwrap().is_empty());
    // The closing line is not lost: it is on stderr.
    assert!(stderr.contains("simulated "), "{stderr}");
}
