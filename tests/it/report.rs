//! `sim report`: every chart docs/report.md lists, with data marks (the SVG parsed), for a
//! node_failure run, a small suite, a sweep and the compare fixture; the events marked in every
//! time chart; `--report` and `sim report` giving the same bytes and run.json listing the page;
//! clear errors; and the page in a real browser (headless Chromium).

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use lbsim::html::chart::{hex, SERIES};
use lbsim::html::lanes::LANES;

use crate::sim_in;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A directory under the target's tmp dir for one fixture (replaced by each test run).
fn scratch(name: &str) -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("report")
        .join(name);
    fs::create_dir_all(d.parent().unwrap()).unwrap();
    d
}

fn sim_ok(args: &[&str]) -> String {
    let (ok, out, err) = sim_in(&repo(), args);
    assert!(ok, "sim {args:?} failed:\n{out}\n{err}");
    out
}

/// `sim run scenarios/node_failure.ron --out D --report`, once per test binary.
fn node_failure() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let d = scratch("node_failure");
        sim_ok(&[
            "run",
            "scenarios/node_failure.ron",
            "--out",
            d.to_str().unwrap(),
            "--report",
        ]);
        d
    })
}

/// The small suite fixture with `--report`.
fn small_suite() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let d = scratch("suite");
        sim_ok(&[
            "suite",
            "tests/fixtures/report/suite",
            "--out",
            d.to_str().unwrap(),
            "--report",
        ]);
        d
    })
}

/// The bundled hold-time x BFD-multiplier sweep (2 seeds), then `sim report`.
fn sweep() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let d = scratch("sweep");
        let s = d.to_str().unwrap();
        sim_ok(&[
            "sweep",
            "scenarios/sweeps/failover_timers.sweep.ron",
            "--seeds",
            "2",
            "--out",
            s,
        ]);
        sim_ok(&["report", s]);
        d
    })
}

/// A copy of the compare fixture, then `sim report`.
fn compare() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let d = scratch("compare");
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        fs::copy(
            repo().join("tests/fixtures/report/compare/compare.csv"),
            d.join("compare.csv"),
        )
        .unwrap();
        sim_ok(&["report", d.to_str().unwrap()]);
        d
    })
}

/// docs/report.md's chart table: (id pattern, kind).
fn documented() -> Vec<(String, String)> {
    let text = fs::read_to_string(repo().join("docs/report.md")).unwrap();
    let mut out = Vec::new();
    for line in text.lines().filter(|l| l.starts_with("| `chart-")) {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        out.push((cells[1].trim_matches('`').to_string(), cells[2].to_string()));
    }
    assert!(out.len() >= 10, "docs/report.md lists {} charts", out.len());
    out
}

/// Does `id` match a documented pattern (`{...}` stands for a non-empty name)?
fn matches(pattern: &str, id: &str) -> bool {
    match pattern.split_once('{') {
        None => pattern == id,
        Some((prefix, _)) => id.len() > prefix.len() && id.starts_with(prefix),
    }
}

/// Every `<figure class="chart" id=...>` of a page and the SVG inside it.
fn figures(html: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(i) = rest.find("<figure class=\"chart\" id=\"") {
        rest = &rest[i + 26..];
        let id = rest[..rest.find('"').unwrap()].to_string();
        let end = rest.find("</figure>").unwrap();
        let fig = &rest[..end];
        let svg = match (fig.find("<svg"), fig.find("</svg>")) {
            (Some(a), Some(b)) => fig[a..b + 6].to_string(),
            _ => String::new(),
        };
        out.push((id, svg));
        rest = &rest[end..];
    }
    out
}

/// Data marks of an SVG: shapes with geometry whose stroke or fill is a data colour (a series
/// or an event lane), by colour.
fn marks(svg: &str) -> Vec<(String, String)> {
    let doc = roxmltree::Document::parse(svg).unwrap_or_else(|e| panic!("SVG does not parse: {e}"));
    let data: BTreeSet<String> = SERIES
        .iter()
        .map(|c| hex(*c))
        .chain(LANES.iter().map(|l| hex(l.color)))
        .collect();
    let mut out = Vec::new();
    for n in doc.descendants().filter(|n| n.is_element()) {
        let tag = n.tag_name().name();
        let num = |a: &str| {
            n.attribute(a)
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        let points = n
            .attribute("points")
            .map_or(0, |p| p.split_whitespace().count());
        let shaped = match tag {
            "polyline" => points >= 2,
            "polygon" => points >= 3,
            "rect" => num("width") > 0.0 && num("height") > 0.0,
            "circle" => num("r") > 0.0,
            "line" | "path" => true,
            _ => false,
        };
        if !shaped {
            continue;
        }
        for a in ["stroke", "fill"] {
            if let Some(c) = n.attribute(a).map(str::to_ascii_uppercase) {
                if data.contains(&c) {
                    out.push((tag.to_string(), c));
                    break;
                }
            }
        }
    }
    out
}

/// The texts of an SVG, trimmed.
fn texts(svg: &str) -> BTreeSet<String> {
    let doc = roxmltree::Document::parse(svg).unwrap();
    doc.descendants()
        .filter(|n| n.has_tag_name("text"))
        .filter_map(|n| n.text().map(|t| t.trim().to_string()))
        .collect()
}

/// Every documented chart of `kind` is on the page, every chart on it is documented, and each
/// has at least one data mark.
fn check_charts(html: &str, kind: &str) {
    let docs = documented();
    let figs = figures(html);
    assert!(!figs.is_empty(), "no chart on the page");
    for (pattern, k) in docs.iter().filter(|(_, k)| k == kind) {
        assert!(
            figs.iter().any(|(id, _)| matches(pattern, id)),
            "{kind}: no chart {pattern} (docs/report.md lists it as {k})"
        );
    }
    let mut ids = BTreeSet::new();
    for (id, svg) in &figs {
        assert!(ids.insert(id.clone()), "two charts with id {id}");
        assert!(
            docs.iter().any(|(p, _)| matches(p, id)),
            "chart {id} is not in docs/report.md"
        );
        let m = marks(svg);
        assert!(!m.is_empty(), "chart {id} has no data mark");
    }
}

fn read(p: &Path) -> String {
    fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn run_report_has_every_documented_chart_with_data_and_is_in_run_json() {
    let d = node_failure();
    let html = read(&d.join("report.html"));
    check_charts(&html, "run");
    // One time chart and one node chart per variant of the scenario (13).
    let figs = figures(&html);
    assert_eq!(
        figs.iter()
            .filter(|f| f.0.starts_with("chart-time-"))
            .count(),
        13
    );
    assert_eq!(
        figs.iter()
            .filter(|f| f.0.starts_with("chart-nodes-"))
            .count(),
        13
    );
    assert!(read(&d.join("run.json")).contains("\"path\": \"report.html\""));
    let out = sim_ok(&["verify", d.to_str().unwrap()]);
    assert!(out.contains("complete"), "{out}");
    assert!(!out.contains("not part of the run"), "{out}");
}

#[test]
fn every_time_chart_of_node_failure_marks_its_events() {
    let d = node_failure();
    let html = read(&d.join("report.html"));
    let events = read(&d.join("events.csv"));
    let mut rdr = csv::Reader::from_reader(events.as_bytes());
    // Per variant and lane, the events it should mark.
    let mut want: std::collections::BTreeMap<(String, usize), usize> = Default::default();
    let variants: Vec<String> = read(&d.join("summary.csv"))
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap().to_string())
        .collect();
    for r in rdr.records() {
        let r = r.unwrap();
        if let Some(i) = LANES.iter().position(|l| l.has(&r[2], &r[4])) {
            *want.entry((r[0].to_string(), i)).or_default() += 1;
        }
    }
    // node_failure has faults, BFD, sessions, FIB changes, GARP and ARP moves among its variants.
    for lane in [
        "fault",
        "BFD down",
        "session down",
        "FIB change",
        "GARP",
        "ARP moved",
    ] {
        let i = LANES.iter().position(|l| l.name == lane).unwrap();
        assert!(
            want.keys().any(|k| k.1 == i),
            "no {lane} event in node_failure"
        );
    }
    let figs = figures(&html);
    for v in &variants {
        for prefix in ["chart-time-", "chart-nodes-"] {
            let id = format!("{prefix}{v}");
            let svg = &figs
                .iter()
                .find(|f| f.0 == id)
                .unwrap_or_else(|| panic!("no {id}"))
                .1;
            let m = marks(svg);
            for (i, lane) in LANES.iter().enumerate() {
                let n = want.get(&(v.clone(), i)).copied().unwrap_or(0);
                let drawn = m
                    .iter()
                    .filter(|(tag, c)| tag == "polygon" && *c == hex(lane.color))
                    .count();
                assert_eq!(drawn, n, "{id}: {n} {} events, {drawn} marks", lane.name);
                if n > 0 {
                    assert!(
                        texts(svg).contains(lane.name),
                        "{id}: lane {} unlabelled",
                        lane.name
                    );
                }
            }
        }
    }
}

#[test]
fn sim_report_writes_the_bytes_of_report_and_keeps_run_json() {
    let src = node_failure();
    let d = scratch("node_failure_again");
    let _ = fs::remove_dir_all(&d);
    fs::create_dir_all(&d).unwrap();
    for e in fs::read_dir(src).unwrap() {
        let p = e.unwrap().path();
        fs::copy(&p, d.join(p.file_name().unwrap())).unwrap();
    }
    let (html, manifest) = (
        fs::read(d.join("report.html")).unwrap(),
        fs::read(d.join("run.json")).unwrap(),
    );
    let other = d.parent().unwrap().join("node_failure_other.html");
    sim_ok(&["report", d.to_str().unwrap(), "-o", other.to_str().unwrap()]);
    assert!(
        fs::read(&other).unwrap() == html,
        "sim report -o differs from --report"
    );
    // Again into the directory: same page, same run.json, still complete.
    fs::remove_file(d.join("report.html")).unwrap();
    let out = sim_ok(&["report", d.to_str().unwrap()]);
    assert!(out.contains("listed in run.json"), "{out}");
    assert!(fs::read(d.join("report.html")).unwrap() == html);
    assert!(fs::read(d.join("run.json")).unwrap() == manifest);
    sim_ok(&["verify", d.to_str().unwrap()]);
    // A directory without a manifest: the page is written, nothing else.
    fs::remove_file(d.join("run.json")).unwrap();
    let out = sim_ok(&["report", d.to_str().unwrap()]);
    assert!(!out.contains("listed"), "{out}");
    assert!(!d.join("run.json").exists());
}

#[test]
fn suite_report_has_the_suite_charts_with_data() {
    let d = small_suite();
    let html = read(&d.join("report.html"));
    check_charts(&html, "suite");
    let figs = figures(&html);
    // Throughput against the vary's values (2 and 4 clients), a line per variant, intervals.
    let t = &figs
        .iter()
        .find(|f| f.0 == "chart-suite-throughput")
        .unwrap()
        .1;
    assert!(
        marks(t).iter().filter(|m| m.0 == "circle").count() >= 4,
        "throughput points"
    );
    for test in ["latency", "clients-2", "clients-4", "failover"] {
        assert!(
            figs.iter()
                .any(|f| f.0 == format!("chart-latency-cdf-{test}")),
            "CDF of {test}"
        );
    }
    assert!(read(&d.join("run.json")).contains("\"path\": \"report.html\""));
    sim_ok(&["verify", d.to_str().unwrap()]);
    // One test's run inside the suite's output: its page is listed in the suite's run.json.
    let run = d.join("failover/seed-1");
    let out = sim_ok(&["report", run.to_str().unwrap()]);
    assert!(out.contains("listed in run.json"), "{out}");
    check_charts(&read(&run.join("report.html")), "run");
    assert!(read(&d.join("run.json")).contains("\"path\": \"failover/seed-1/report.html\""));
    let out = sim_ok(&["verify", d.to_str().unwrap()]);
    assert!(!out.contains("not part of the run"), "{out}");
}

#[test]
fn sweep_report_has_each_metric_against_each_axis() {
    let d = sweep();
    let html = read(&d.join("report.html"));
    check_charts(&html, "sweep");
    let figs = figures(&html);
    for axis in 0..2 {
        let id = format!("chart-sweep-failover_s-{axis}");
        let svg = &figs
            .iter()
            .find(|f| f.0 == id)
            .unwrap_or_else(|| panic!("no {id}"))
            .1;
        // 2 variants x 3 values of the other axis, a point per value of this one.
        assert_eq!(
            marks(svg).iter().filter(|m| m.0 == "circle").count(),
            18,
            "{id}"
        );
    }
    sim_ok(&["verify", d.to_str().unwrap()]);
}

#[test]
fn compare_report_draws_every_row_against_its_tolerance() {
    let d = compare();
    let html = read(&d.join("report.html"));
    check_charts(&html, "compare");
    let svg = &figures(&html)[0].1;
    let m = marks(svg);
    let csv = read(&d.join("compare.csv"));
    let rows: Vec<&str> = csv.lines().skip(1).collect();
    assert!(rows.len() > 20, "the fixture has {} rows", rows.len());
    assert_eq!(
        m.iter().filter(|x| x.0 == "circle").count(),
        rows.len(),
        "a marker per row"
    );
    let fail = hex(lbsim::html::compare::verdict_color("FAIL"));
    let fails = rows.iter().filter(|r| r.ends_with(",FAIL")).count();
    assert!(fails > 0);
    assert_eq!(
        m.iter().filter(|x| x.0 == "circle" && x.1 == fail).count(),
        fails
    );
    // A band for each relative tolerance (not for 3se, nor where there is none).
    let bands = rows
        .iter()
        .filter(|r| r.contains("%") && r.contains(",predicted,"))
        .count();
    let band = hex(lbsim::html::chart::BAND);
    assert_eq!(
        m.iter().filter(|x| x.0 == "rect" && x.1 == band).count(),
        bands
    );
}

#[test]
fn pages_are_self_contained_and_deterministic() {
    for d in [node_failure(), small_suite(), sweep(), compare()] {
        let html = read(&d.join("report.html"));
        let without_ns = html.replace("xmlns=\"http://www.w3.org/2000/svg\"", "");
        for bad in [
            "http://",
            "https://",
            "src=",
            "<link",
            "url(",
            "@import",
            "@font-face",
        ] {
            assert!(
                !without_ns.contains(bad),
                "{}: the page has {bad:?}",
                d.display()
            );
        }
        let again = lbsim::html::render(d, None).unwrap();
        assert!(again == html, "{}: a second render differs", d.display());
    }
}

#[test]
fn bad_directories_and_files_are_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let (ok, _, err) = sim_in(&repo(), &["report", d.to_str().unwrap()]);
    assert!(!ok);
    assert!(
        err.contains("no summary.csv") && err.contains("compare.csv"),
        "{err}"
    );
    fs::write(
        d.join("compare.csv"),
        "metric,variant,unit,real,sim,difference,tolerance,role,verdict\np99,bgp,ms,1,1.1,0.1,0.2,predicted,pass\np50,bgp,ms,1,1,zero,0.2,predicted,pass\n",
    )
    .unwrap();
    let (ok, _, err) = sim_in(&repo(), &["report", d.to_str().unwrap()]);
    assert!(!ok);
    assert!(
        err.contains("compare.csv: line 3: column \"difference\": \"zero\" is not a number"),
        "{err}"
    );
    fs::write(d.join("compare.csv"), "metric,variant\n").unwrap();
    let (_, _, err) = sim_in(&repo(), &["report", d.to_str().unwrap()]);
    assert!(
        err.contains("compare.csv: line 1: no column \"unit\""),
        "{err}"
    );
    fs::remove_file(d.join("compare.csv")).unwrap();
    fs::write(
        d.join("summary.csv"),
        "variant,sim_time_s,requests_ok,throughput_rps\nbase,1.0,5\n",
    )
    .unwrap();
    let (_, _, err) = sim_in(&repo(), &["report", d.to_str().unwrap()]);
    assert!(
        err.contains("summary.csv: line 2: 3 fields, the header has 4"),
        "{err}"
    );
    assert!(!d.join("report.html").exists());
}

// ---- The browser ----

/// Chromium's binary, if installed.
fn chromium() -> Option<PathBuf> {
    for name in ["chromium", "chromium-browser"] {
        for dir in std::env::var("PATH").unwrap_or_default().split(':') {
            let p = Path::new(dir).join(name);
            if p.is_file() {
                return Some(p);
            }
        }
    }
    None
}

/// Run chromium headless on `page` with `args`, at most 120 s: (stdout, stderr).
fn headless(bin: &Path, profile: &Path, args: &[String], page: &Path) -> (String, String) {
    let mut cmd = Command::new(bin);
    cmd.args([
        "--headless",
        "--disable-gpu",
        "--no-first-run",
        "--hide-scrollbars",
    ])
    .args([
        "--force-device-scale-factor=1",
        "--enable-logging=stderr",
        "--v=0",
    ])
    .arg(format!("--user-data-dir={}", profile.display()));
    // As root (CI), Chromium refuses to start without this.
    cmd.arg("--no-sandbox");
    cmd.args(args)
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("chromium starts");
    let (mut so, mut se) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut so, &mut s).ok();
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut se, &mut s).ok();
        s
    });
    let start = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if start.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium {args:?} did not finish in 120 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    (out.join().unwrap(), err.join().unwrap())
}

/// The value of `<body ... name="...">` in a DOM dump.
fn body_attr(dom: &str, name: &str) -> String {
    let key = format!("{name}=\"");
    let i = dom
        .find(&key)
        .unwrap_or_else(|| panic!("the page did not set {name}"))
        + key.len();
    dom[i..i + dom[i..].find('"').unwrap()].to_string()
}

/// Console messages Chromium logged (`CONSOLE(...)` or `Uncaught` lines).
fn console_lines(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| l.contains(":CONSOLE") || l.contains("CONSOLE(") || l.contains("Uncaught"))
        .collect()
}

#[test]
fn report_renders_in_headless_chromium() {
    let Some(bin) = chromium() else {
        println!("SKIPPED: report_renders_in_headless_chromium: no chromium or chromium-browser on PATH; apt-get install chromium");
        return;
    };
    let page = node_failure().join("report.html");
    let profile = tempfile::tempdir().unwrap();
    let shot_dir = tempfile::tempdir().unwrap();
    // The console check sees a page's errors (so its silence below means something).
    let bad = shot_dir.path().join("bad.html");
    fs::write(
        &bad,
        "<html><body><script>console.error('boom'); undefinedFn();</script></body></html>",
    )
    .unwrap();
    let (_, err) = headless(&bin, profile.path(), &["--dump-dom".into()], &bad);
    assert!(
        console_lines(&err).len() >= 2,
        "console errors not seen: {err}"
    );
    // The page's height first, then the DOM and the screenshot at that size.
    let (dom, err) = headless(
        &bin,
        profile.path(),
        &["--window-size=1400,1000".into(), "--dump-dom".into()],
        &page,
    );
    assert!(
        console_lines(&err).is_empty(),
        "console messages: {:?}",
        console_lines(&err)
    );
    let height: u32 = body_attr(&dom, "data-height").parse().unwrap();
    assert!(height > 1000 && height < 30000, "page height {height}");
    let size = format!("--window-size=1400,{height}");
    let (dom, err) = headless(
        &bin,
        profile.path(),
        &[size.clone(), "--dump-dom".into()],
        &page,
    );
    assert!(
        console_lines(&err).is_empty(),
        "console messages: {:?}",
        console_lines(&err)
    );
    // Every chart in the DOM Chromium built, with a data mark.
    let figs = figures(&dom);
    let ours = figures(&read(&page));
    assert_eq!(
        figs.iter().map(|f| &f.0).collect::<Vec<_>>(),
        ours.iter().map(|f| &f.0).collect::<Vec<_>>()
    );
    for (id, svg) in &figs {
        assert!(
            !marks(svg).is_empty(),
            "{id}: no data mark in the browser's DOM"
        );
    }
    // Where each chart is.
    let layout: Vec<(String, [u32; 4])> = body_attr(&dom, "data-layout")
        .split(';')
        .map(|e| {
            let f: Vec<&str> = e.split(' ').collect();
            let n = |i: usize| f[i].parse::<i64>().unwrap().max(0) as u32;
            (f[0].to_string(), [n(1), n(2), n(3), n(4)])
        })
        .collect();
    assert_eq!(layout.len(), figs.len(), "every chart has a box");
    let png = shot_dir.path().join("report.png");
    let (_, err) = headless(
        &bin,
        profile.path(),
        &[size, format!("--screenshot={}", png.display())],
        &page,
    );
    assert!(png.is_file(), "no screenshot: {err}");
    let decoder = png::Decoder::new(std::io::BufReader::new(fs::File::open(&png).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    let channels = info.color_type.samples();
    assert_eq!(info.bit_depth, png::BitDepth::Eight);
    let (w, h) = (info.width, info.height);
    // Coloured pixels (not white, black or grey: only data marks have colour) per chart box.
    for (id, [x, y, bw, bh]) in &layout {
        assert!(
            x + bw <= w && y + bh <= h,
            "{id}: box {x},{y} {bw}x{bh} outside the {w}x{h} screenshot"
        );
        let mut coloured = 0;
        for py in *y..y + bh {
            for px in *x..x + bw {
                let i = ((py * w + px) as usize) * channels;
                let (r, g, b) = (buf[i] as i32, buf[i + 1] as i32, buf[i + 2] as i32);
                if r.max(g).max(b) - r.min(g).min(b) > 60 {
                    coloured += 1;
                }
            }
        }
        assert!(
            coloured >= 50,
            "{id}: its region of the screenshot is blank ({coloured} coloured pixels)"
        );
    }
}
