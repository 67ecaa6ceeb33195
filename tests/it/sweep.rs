//! `sim sweep`: field paths and their errors, the physics a sweep shows, determinism, shards
//! merged byte for byte by separate processes running the Kubernetes Job's own command line,
//! and the manifests against the Kubernetes schema.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use lbsim::scenario::Scenario;
use lbsim::sweep::run::{self, Record, RunPlan};
use lbsim::sweep::{table, Axis, Combine, Seeds, Setting, Shard, Sweep, SweepArgs, SweepError};
use yaml_rust2::{Yaml, YamlLoader};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// 4 nodes, node-1 crashes at 10 s, 8 pings at 100 ms (ICMP sticks to one next hop, and some
/// probes stick to node-1), FRR speakers with keepalive 3 s: the router's hold time is the
/// negotiated one. `frr` detects by hold timer, `frr-bfd` by BFD at 300 ms.
const FAILOVER: &str = r#"(
    name: "failover",
    duration: "30s",
    nodes: (count: 4, cores: 2, packet_cost: "2us"),
    service: (pods: (replicas: 4, service_time: Exponential(mean: "200us"))),
    ecmp: (seed: 24301),
    clients: [(name: "ping", count: 8, load: Ping(interval: "100ms"), timeout: "1s", start: "2s")],
    events: [(at: "10s", crash: "node-1")],
    variants: [
        (name: "frr", bgp: (speaker: Frr(keepalive: "3s", hold: "90s"), router_hold_time: "9s")),
        (name: "frr-bfd", bgp: (speaker: Frr(keepalive: "3s", hold: "90s"), router_hold_time: "9s",
            bfd: (transmit_interval: "300ms", receive_interval: "300ms", detect_multiplier: 3))),
    ],
)"#;

fn axis(text: &str) -> Axis {
    text.parse().unwrap_or_else(|e| panic!("{e}"))
}

fn sweep_of(
    base: &str,
    set: &[&str],
    axes: &[&str],
    combine: Combine,
    seeds: u64,
) -> Result<Sweep, SweepError> {
    let s = crate::scenario(base);
    let set: Vec<Setting> = set.iter().map(|t| t.parse().unwrap()).collect();
    let axes: Vec<Axis> = axes.iter().map(|t| axis(t)).collect();
    let seeds = Seeds::Count(seeds).resolve(1).unwrap();
    Sweep::new(Path::new("base.ron"), &s, set, axes, combine, seeds, &[])
}

fn err_text(r: Result<Sweep, SweepError>) -> String {
    match r {
        Ok(_) => panic!("accepted"),
        Err(e) => e.to_string(),
    }
}

/// failover_s of `variant` at each point, per seed.
fn failovers(records: &[Record], variant: &str) -> BTreeMap<usize, Vec<f64>> {
    let mut m: BTreeMap<usize, Vec<f64>> = BTreeMap::new();
    for r in records {
        if r.variant == variant && r.metric == "failover_s" {
            m.entry(r.point).or_default().push(r.value);
        }
    }
    m
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    }
}

#[test]
fn failover_rises_by_the_hold_time_step_without_bfd_and_by_multiplier_x_interval_with() {
    // Zipped: point i has hold 9 + 3i s and multiplier 3 + i; each axis reaches one variant.
    let sweep = sweep_of(
        FAILOVER,
        &[],
        &[
            "variants[frr].bgp.router_hold_time=9s,12s,15s",
            "variants[frr-bfd].bgp.bfd.detect_multiplier=3,4,5",
        ],
        Combine::Zip,
        5,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(sweep.warnings.is_empty(), "{:?}", sweep.warnings);
    let done = run::run(&sweep, &RunPlan::default(), &|| {}).unwrap_or_else(|e| panic!("{e}"));
    for (variant, step, floor) in [("frr", 3.0, 9.0 - 3.0), ("frr-bfd", 0.3, 0.9)] {
        let f = failovers(&done.records, variant);
        assert_eq!(f.len(), 3, "{variant}: {f:?}");
        let medians: Vec<f64> = f.values().map(|v| median(v)).collect();
        for (p, v) in &f {
            let (lo, hi) = v
                .iter()
                .fold((f64::MAX, f64::MIN), |(a, b), &x| (a.min(x), b.max(x)));
            eprintln!(
                "{variant} point {p}: failover median {:.3} s, seeds {lo:.3} to {hi:.3} s",
                median(v)
            );
        }
        // The detection time itself: hold minus at most one keepalive interval; BFD's
        // multiplier x 300 ms after the last packet, within one ping interval and the FIB delay.
        assert!(
            medians[0] > floor && medians[0] < floor + 3.5,
            "{variant}: {medians:?}"
        );
        for w in medians.windows(2) {
            let rise = w[1] - w[0];
            assert!(
                (rise - step).abs() <= 0.1 * step,
                "{variant}: median failover rose by {rise:.3} s, not {step} s ± 10 %: {medians:?}"
            );
        }
    }
}

#[test]
fn results_do_not_depend_on_threads_and_the_memory_budget_lowers_parallelism() {
    let sweep = sweep_of(
        FAILOVER,
        &[],
        &["variants[frr].bgp.router_hold_time=9s,12s"],
        Combine::Grid,
        2,
    )
    .unwrap();
    let estimate = lbsim::sweep::budget::estimate_peak_bytes(
        &sweep.points[0].scenario,
        &sweep.points[0].variants[0],
    );
    let plan = |threads, limit| RunPlan {
        shard: Shard::ALL,
        memory_limit: limit,
        threads,
    };
    let one = run::run(&sweep, &plan(1, None), &|| {}).unwrap();
    let two = run::run(&sweep, &plan(2, Some(10 * estimate)), &|| {}).unwrap();
    assert_eq!(two.in_flight, 2);
    assert_eq!(
        table::csv_bytes(&sweep.def, &one.records).unwrap(),
        table::csv_bytes(&sweep.def, &two.records).unwrap()
    );
    // Room for one and a half runs: one at a time, same results.
    let tight = run::run(&sweep, &plan(2, Some(estimate * 3 / 2)), &|| {}).unwrap();
    assert_eq!(tight.in_flight, 1);
    assert_eq!(tight.records, one.records);
    // Not even one fits: refused before anything runs, naming the run and the sizes.
    let e = run::run(&sweep, &plan(2, Some(estimate / 2)), &|| {})
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("point 0") && e.contains("more than the memory limit"),
        "{e}"
    );
}

#[test]
fn wrong_paths_and_values_name_the_path_and_what_is_valid() {
    let base = crate::small("bgp: (speaker: FrrDatacenter), variants: [(name: \"a\"), (name: \"b\", bgp: (speaker: FrrDatacenter, router_hold_time: \"30s\")), (name: \"c\", l2: (clients: OnSegment))],");
    let e = err_text(sweep_of(&base, &[], &["nodes.coresz=2"], Combine::Grid, 1));
    assert!(
        e.contains("field `nodes.coresz`")
            && e.contains(
                "`nodes` has no field `coresz`; its fields: cores, count, labels, packet_cost"
            ),
        "{e}"
    );
    let e = err_text(sweep_of(
        &base,
        &[],
        &["nodes.count=lots"],
        Combine::Grid,
        1,
    ));
    assert!(
        e.contains("point 0 (nodes.count=lots)")
            && e.contains("field `nodes.count`")
            && e.contains("expected an integer from 1 to 10000"),
        "{e}"
    );
    let e = err_text(sweep_of(&base, &[], &["nodes.count=2,0"], Combine::Grid, 1));
    assert!(
        e.contains("point 1 (nodes.count=0)") && e.contains("1 to 10000"),
        "{e}"
    );
    let e = err_text(sweep_of(
        &base,
        &[],
        &["clients[0].load.Fortio.qps=10"],
        Combine::Grid,
        1,
    ));
    assert!(
        e.contains("`clients[0].load` is the variant OpenLoop here, not Fortio"),
        "{e}"
    );
    let e = err_text(sweep_of(
        &base,
        &[],
        &["variants[z].bgp.fib_delay=1ms"],
        Combine::Grid,
        1,
    ));
    assert!(e.contains("no entry named `z`; its names: a, b, c"), "{e}");
    let e = err_text(sweep_of(
        &base,
        &[],
        &["bgp.bfd.detect_multiplier=3,4"],
        Combine::Grid,
        1,
    ));
    assert!(
        e.contains("`bgp.bfd` is not set (None) here") && e.contains("--set 'bgp.bfd=(...)'"),
        "{e}"
    );
    let e = err_text(sweep_of(
        &base,
        &[],
        &["nodes.count=2,3", "nodes.cores=1"],
        Combine::Zip,
        1,
    ));
    assert!(
        e.contains("`nodes.count` has 2 values and `nodes.cores` has 1"),
        "{e}"
    );
    // The base's BGP section set first, then its BFD varied; the variants that give their own
    // `bgp` (or run L2) are named.
    let s = sweep_of(
        &base,
        &["bgp=(speaker: FrrDatacenter, bfd: (detect_multiplier: 3))"],
        &["bgp.bfd.detect_multiplier=3,4"],
        Combine::Grid,
        1,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.points.len(), 2);
    assert_eq!(
        s.points[1]
            .scenario
            .bgp
            .and_then(|b| b.bfd)
            .map(|b| b.detect_multiplier),
        Some(4)
    );
    assert_eq!(s.warnings.len(), 2, "{:?}", s.warnings);
    assert!(
        s.warnings[0]
            .to_string()
            .contains("does not reach variant `b`: it gives its own `bgp` section"),
        "{:?}",
        s.warnings
    );
    assert!(
        s.warnings[1]
            .to_string()
            .contains("variant `c`: it runs in L2 mode"),
        "{:?}",
        s.warnings
    );
}

#[test]
fn a_sweep_file_is_located_and_every_bundled_one_loads() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("s.ron"), crate::small("")).unwrap();
    let file = dir.path().join("x.sweep.ron");
    std::fs::write(
        &file,
        "(\n  scenario: \"s.ron\",\n  axes: [(path: \"nodes.count\", valuez: [2])],\n)",
    )
    .unwrap();
    let e = Sweep::load(&file, &SweepArgs::default())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("x.sweep.ron:3:") && e.contains("valuez") && e.contains("values"),
        "{e}"
    );
    std::fs::write(
        &file,
        "(scenario: \"s.ron\", axes: [(path: \"nodes.count\", values: [2, 3])], seeds: [4, 9])",
    )
    .unwrap();
    let s = Sweep::load(&file, &SweepArgs::default()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((s.points.len(), s.def.seeds.clone()), (2, vec![4, 9]));
    let mut found = 0;
    for d in ["scenarios", "scenarios/sweeps"] {
        for e in std::fs::read_dir(Path::new(ROOT).join(d)).unwrap() {
            let p = e.unwrap().path();
            if p.to_string_lossy().ends_with(".sweep.ron") {
                Sweep::load(&p, &SweepArgs::default()).unwrap_or_else(|e| panic!("{e}"));
                found += 1;
            }
        }
    }
    assert!(found >= 1);
    // The example in docs/sweep.md, beside the scenario it names.
    let doc = std::fs::read_to_string(Path::new(ROOT).join("docs/sweep.md")).unwrap();
    let start = doc.find("```ron\n").unwrap() + 7;
    let example = &doc[start..start + doc[start..].find("```").unwrap()];
    std::fs::copy(
        Path::new(ROOT).join("scenarios/sweeps/failover_timers.ron"),
        dir.path().join("failover_timers.ron"),
    )
    .unwrap();
    std::fs::write(&file, example).unwrap();
    let s = Sweep::load(&file, &SweepArgs::default())
        .unwrap_or_else(|e| panic!("docs/sweep.md's example: {e}"));
    assert_eq!((s.points.len(), s.def.seeds.len()), (9, 5));
}

#[test]
fn a_suite_test_with_vary_becomes_one_test_per_value() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("s.ron"), crate::small("")).unwrap();
    std::fs::write(
        dir.path().join("suite.ron"),
        r#"(name: "v", tests: [(name: "web", scenario: "s.ron", vary: (path: "clients[0].count", values: [2, 6]))],
            throughput: [(clients: 6, test: "web-6", l2: "base", bgp: "base")])"#,
    )
    .unwrap();
    let suite = lbsim::suite::Suite::load(dir.path()).unwrap_or_else(|e| panic!("{e}"));
    let names: Vec<&str> = suite.file.tests.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["web-2", "web-6"]);
    assert_eq!(suite.scenarios[1].clients[0].count, 6);
    std::fs::write(
        dir.path().join("suite.ron"),
        r#"(name: "v", tests: [(name: "web", scenario: "s.ron", vary: (path: "clients[0].cuont", values: [2]))])"#,
    )
    .unwrap();
    let e = lbsim::suite::Suite::load(dir.path())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("test `web-2`") && e.contains("s.ron") && e.contains("no field `cuont`"),
        "{e}"
    );
}

fn sim(args: &[String], env: &[(&str, &str)]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_sim"))
        .args(args)
        .envs(env.iter().copied())
        .current_dir(ROOT)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "sim {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The container of the Job in a manifest file: its documents, the Job's spec and container.
fn job_container(file: &str) -> (Yaml, Yaml) {
    let text = std::fs::read_to_string(Path::new(ROOT).join(file)).unwrap();
    let docs = YamlLoader::load_from_str(&text).unwrap();
    let job = docs
        .into_iter()
        .find(|d| d["kind"].as_str() == Some("Job"))
        .unwrap_or_else(|| panic!("{file} has no Job"));
    let container = job["spec"]["template"]["spec"]["containers"][0].clone();
    (job, container)
}

/// The container's command line as the kubelet runs it: `$(VAR)` replaced by `vars` (the
/// container's env, then the Job controller's), the mount path by `data`, `sim` by this
/// build's binary (run in the repository, which is the image's working directory).
fn command_line(container: &Yaml, vars: &BTreeMap<String, String>) -> Vec<String> {
    let words: Vec<&str> = container["command"]
        .as_vec()
        .unwrap()
        .iter()
        .chain(container["args"].as_vec().unwrap())
        .map(|w| w.as_str().unwrap())
        .collect();
    assert_eq!(words[0], "sim", "the image's binary");
    words[1..]
        .iter()
        .map(|w| {
            let mut w = w.to_string();
            for (k, v) in vars {
                w = w.replace(&format!("$({k})"), v);
            }
            assert!(
                !w.contains("$("),
                "{w}: a variable the kubelet would not expand"
            );
            w
        })
        .collect()
}

fn container_vars(container: &Yaml, data: &Path) -> BTreeMap<String, String> {
    let mount = container["volumeMounts"][0]["mountPath"].as_str().unwrap();
    let mut vars = BTreeMap::new();
    for e in container["env"].as_vec().unwrap() {
        let value = e["value"].as_str().unwrap();
        let value = match value.strip_prefix(mount) {
            Some(rest) => format!("{}{rest}", data.display()),
            None => value.to_string(),
        };
        vars.insert(e["name"].as_str().unwrap().to_string(), value);
    }
    vars
}

#[test]
fn shards_run_by_the_job_command_merge_into_the_bytes_of_one_process() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let (job, container) = job_container("deploy/sweep-job.yaml");
    assert_eq!(job["spec"]["completionMode"].as_str(), Some("Indexed"));
    let shards = job["spec"]["completions"].as_i64().unwrap() as usize;
    assert!(shards > 1);
    // The image (deploy/Dockerfile) holds the scenarios in the container's working directory.
    let dockerfile = std::fs::read_to_string(Path::new(ROOT).join("deploy/Dockerfile")).unwrap();
    let workdir = container["workingDir"].as_str().unwrap();
    assert!(
        dockerfile.contains(&format!("WORKDIR {workdir}")),
        "{workdir}"
    );
    assert!(dockerfile.contains(&format!("COPY scenarios {workdir}/scenarios")));
    assert!(dockerfile.contains("cargo build --release --locked --bin sim"));
    let vars = container_vars(&container, &data);
    // Every shard a separate process, all at once, as the Job's pods run.
    let children: Vec<_> = (0..shards)
        .map(|i| {
            let mut v = vars.clone();
            v.insert("JOB_COMPLETION_INDEX".into(), i.to_string());
            let args = command_line(&container, &v);
            assert!(
                args.contains(&format!("{i}/{shards}")),
                "--shard I/N with N = completions: {args:?}"
            );
            Command::new(env!("CARGO_BIN_EXE_sim"))
                .args(&args)
                .current_dir(ROOT)
                .output()
        })
        .collect();
    for c in children {
        let out = c.unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let (_, merge) = job_container("deploy/sweep-merge-job.yaml");
    let merged = sim(&command_line(&merge, &container_vars(&merge, &data)), &[]);
    // One process, one thread, the Job's sweep unsharded.
    let mut v = vars.clone();
    v.insert("JOB_COMPLETION_INDEX".into(), "0".into());
    let mut whole = command_line(&container, &v);
    let at = whole.iter().position(|w| w == "--shard").unwrap();
    whole.drain(at..at + 2);
    let at = whole.iter().position(|w| w == "--out").unwrap();
    whole[at + 1] = tmp.path().join("whole").display().to_string();
    let one = sim(&whole, &[("RAYON_NUM_THREADS", "1")]);
    let merged_dir = data.join("merged");
    let names = |d: &Path| {
        let mut n: Vec<String> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        n.sort();
        n
    };
    let files = names(&merged_dir);
    assert_eq!(files, ["run.json", "sweep.csv"]);
    assert_eq!(files, names(&tmp.path().join("whole")));
    for f in &files {
        let a = std::fs::read(merged_dir.join(f)).unwrap();
        let b = std::fs::read(tmp.path().join("whole").join(f)).unwrap();
        assert!(a == b, "merged and one-process {f} differ");
    }
    assert!(std::fs::read(merged_dir.join("sweep.csv")).unwrap().len() > 10_000);
    // Both print the same summary: failover against each axis, with intervals.
    let table = |o: &Output| {
        let t = String::from_utf8_lossy(&o.stdout).into_owned();
        t[..t.find("\nwrote ").unwrap()].to_string()
    };
    let t = table(&one);
    assert_eq!(t, table(&merged));
    assert!(
        t.contains("failover_s") && t.contains(" ± ") && t.contains("variant frr-bfd"),
        "{t}"
    );
    assert!(t.lines().any(|l| l.starts_with("15s ")), "{t}");
    // A shard short: refused, naming it.
    let dirs: Vec<String> = (0..shards - 1)
        .map(|i| {
            data.join("shards")
                .join(i.to_string())
                .display()
                .to_string()
        })
        .collect();
    let out = Command::new(env!("CARGO_BIN_EXE_sim"))
        .args(["sweep", "merge"])
        .args(&dirs)
        .args(["--out", &tmp.path().join("short").display().to_string()])
        .output()
        .unwrap();
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && e.contains(&format!("shard {} of {shards} missing", shards - 1)),
        "{e}"
    );
    // Never into a shard, and never from an unfinished one.
    let shards_dir = data.join("shards").display().to_string();
    let merge = |out: &Path| {
        let o = Command::new(env!("CARGO_BIN_EXE_sim"))
            .args([
                "sweep",
                "merge",
                &shards_dir,
                "--out",
                &out.display().to_string(),
            ])
            .output()
            .unwrap();
        (
            o.status.success(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    let (ok, e) = merge(&data.join("shards/0"));
    assert!(!ok && e.contains("overlaps the shard directory"), "{e}");
    std::fs::write(data.join("shards/1/INCOMPLETE"), "").unwrap();
    let (ok, e) = merge(&tmp.path().join("again"));
    assert!(!ok && e.contains("is not a complete shard"), "{e}");
}

#[test]
fn json_is_one_document_with_runs_and_summary() {
    let dir = tempfile::tempdir().unwrap();
    let s = dir.path().join("s.ron");
    std::fs::write(&s, crate::small("")).unwrap();
    let out = sim(
        &[
            "sweep",
            s.to_str().unwrap(),
            "--vary",
            "clients[c].load.OpenLoop.rate=100,200",
            "--seeds",
            "2",
            "--json",
        ]
        .map(String::from),
        &[],
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)));
    assert_eq!(doc["axes"][0]["path"], "clients[c].load.OpenLoop.rate");
    assert_eq!(doc["axes"][0]["values"], serde_json::json!(["100", "200"]));
    let ok: Vec<f64> = doc["summary"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["metric"] == "requests_ok")
        .map(|s| s["mean"].as_f64().unwrap())
        .collect();
    // Twice the rate, about twice the answers (4 clients x 10 s).
    assert_eq!(ok.len(), 2);
    assert!((ok[1] / ok[0] - 2.0).abs() < 0.1, "{ok:?}");
    assert_eq!(
        doc["runs"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["metric"] == "requests_ok")
            .count(),
        4
    );
    // Every metric is documented.
    let docs = std::fs::read_to_string(Path::new(ROOT).join("docs/sweep.md")).unwrap();
    for r in doc["runs"].as_array().unwrap() {
        let m = r["metric"].as_str().unwrap();
        assert!(
            docs.contains(&format!("`{m}`")),
            "metric {m} is not described in docs/sweep.md"
        );
    }
}

/// `kubernetes-validate` in a venv under the target directory (`.ci/run` makes it; made here
/// when missing).
fn kubernetes_validate() -> Option<PathBuf> {
    let target = Path::new(env!("CARGO_BIN_EXE_sim"))
        .parent()?
        .parent()?
        .to_path_buf();
    let venv = target.join("venv-k8s");
    let exe = venv.join("bin/kubernetes-validate");
    if !exe.exists() {
        let made = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .ok()?
            .success()
            && Command::new(venv.join("bin/pip"))
                .args([
                    "install",
                    "--quiet",
                    "--retries",
                    "1",
                    "--timeout",
                    "30",
                    "kubernetes-validate",
                ])
                .status()
                .ok()?
                .success();
        if !made {
            return None;
        }
    }
    exe.exists().then_some(exe)
}

#[test]
fn the_job_manifests_validate_against_the_kubernetes_schema() {
    let Some(validate) = kubernetes_validate() else {
        println!("SKIPPED: the Kubernetes schema check of deploy/*.yaml: kubernetes-validate is not installed and python3 -m venv + pip could not get it; run .ci/run or `python3 -m venv target/venv-k8s && target/venv-k8s/bin/pip install kubernetes-validate`");
        return;
    };
    let files =
        ["deploy/sweep-job.yaml", "deploy/sweep-merge-job.yaml"].map(|f| Path::new(ROOT).join(f));
    let out = Command::new(&validate)
        .arg("--strict")
        .args(&files)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // The check is real: a misspelt field of the same file is refused.
    let tmp = tempfile::tempdir().unwrap();
    let bad = tmp.path().join("bad.yaml");
    let text = std::fs::read_to_string(&files[0]).unwrap();
    std::fs::write(&bad, text.replace("completionMode:", "completionMod:")).unwrap();
    let out = Command::new(&validate)
        .arg("--strict")
        .arg(&bad)
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "a misspelt field passed the schema check"
    );
}

#[test]
fn scenarios_serialize_back_to_themselves() {
    // The value tree the paths walk is the scenario itself: every bundled scenario survives
    // the round trip unchanged.
    for f in [
        "scenarios/node_failure.ron",
        "scenarios/garp_blackhole.ron",
        "scenarios/rehash.ron",
        "scenarios/blog/test5_vegeta.ron",
    ] {
        let s = Scenario::load(&Path::new(ROOT).join(f)).unwrap();
        let tree = serde_json::to_value(&s).unwrap();
        let back: Scenario =
            serde_json::from_value(tree.clone()).unwrap_or_else(|e| panic!("{f}: {e}"));
        assert_eq!(serde_json::to_value(&back).unwrap(), tree, "{f}");
    }
}
