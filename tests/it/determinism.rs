//! Same scenario and seed: byte-identical outputs; another seed: different ones.

use std::fs;
use std::path::Path;

use lbsim::manifest::{InputFile, Inputs};
use lbsim::{output, runner};

use crate::{scenario, small};

fn outputs(seed: u64, dir: &Path) -> Vec<(String, Vec<u8>)> {
    let s = scenario(&small(
        r#"events: [(at: "3s", withdraw: "node-2"), (at: "6s", announce: "node-2")],
           variants: [(name: "ht", ecmp: (selection: HashThreshold)), (name: "res", ecmp: (selection: Resilient(idle_timer: "1s")))],"#,
    ));
    let results = runner::run_all(&s, seed).unwrap();
    let out = lbsim::outdir::OutDir::claim(dir).unwrap();
    output::write_all(&out, "", &results, lbsim::openmetrics::DEFAULT_EPOCH_S).unwrap();
    let inputs = Inputs::Run {
        scenario: InputFile {
            path: "test.ron".into(),
            sha256: String::new(),
        },
        seed,
        variants: results.iter().map(|r| r.variant.clone()).collect(),
    };
    out.seal(inputs).unwrap();
    let mut files: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                fs::read(&p).unwrap(),
            )
        })
        .collect();
    files.sort();
    files
}

#[test]
fn same_seed_gives_byte_identical_files_and_another_seed_differs() {
    let (a, b, c) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let first = outputs(7, a.path());
    let second = outputs(7, b.path());
    let names: Vec<&str> = first.iter().map(|(n, _)| n.as_str()).collect();
    let mut want: Vec<&str> = output::CSV_FILES.to_vec();
    want.extend([output::OPENMETRICS_FILE, "run.json"]);
    want.sort_unstable();
    assert_eq!(names, want);
    for ((name, x), (_, y)) in first.iter().zip(&second) {
        if x != y {
            let line = x
                .split(|&b| b == b'\n')
                .zip(y.split(|&b| b == b'\n'))
                .position(|(p, q)| p != q);
            panic!("{name} differs between two runs with seed 7, first at line {line:?}");
        }
    }
    let other = outputs(8, c.path());
    let summary = |v: &[(String, Vec<u8>)]| {
        v.iter()
            .find(|(n, _)| n == "summary.csv")
            .unwrap()
            .1
            .clone()
    };
    assert_ne!(
        summary(&first),
        summary(&other),
        "seed 8 gave the same summary as seed 7"
    );
}

#[test]
fn thread_count_does_not_change_results() {
    let s = scenario(&small(
        r#"events: [(at: "3s", withdraw: "node-1")],
           variants: [(name: "a", ecmp: (selection: Modulo)), (name: "b", ecmp: (selection: Rendezvous)), (name: "c", ecmp: (selection: Maglev()))],"#,
    ));
    let parallel = runner::run_all(&s, 3).unwrap();
    let sequential = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap()
        .install(|| runner::run_all(&s, 3).unwrap());
    for (p, q) in parallel.iter().zip(&sequential) {
        assert_eq!(p.variant, q.variant);
        assert_eq!(p.counts, q.counts);
        assert_eq!(p.changes, q.changes);
        assert_eq!(p.events, q.events);
    }
}
