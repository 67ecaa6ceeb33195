//! Scenario files: every bundled one is valid; bad input gets a located error, never a panic.

use std::path::{Path, PathBuf};

use lbsim::scenario::Scenario;
use proptest::prelude::*;

fn bundled() -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut dirs = vec![PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/scenarios"
    ))];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "ron")
                && p.file_name().is_some_and(|n| {
                    n != "suite.ron" && !n.to_string_lossy().ends_with(".sweep.ron")
                })
            {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

#[test]
fn every_bundled_scenario_is_valid() {
    let files = bundled();
    assert!(files.len() >= 2);
    for f in files {
        Scenario::load(&f).unwrap_or_else(|e| panic!("{e}"));
    }
}

#[test]
fn the_bundled_benchmark_suite_loads() {
    let path = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/scenarios/blog/suite.ron"
    ));
    lbsim::suite::Suite::load(path).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn rehash_runs_every_selection_algorithm() {
    let s = Scenario::load(Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/scenarios/rehash.ron"
    )))
    .unwrap();
    let names: Vec<String> = s
        .variant_list()
        .iter()
        .filter_map(|v| v.ecmp.and_then(|e| e.selection))
        .map(|s| s.cli_name().to_string())
        .collect();
    for algo in [
        "modulo",
        "hash-threshold",
        "resilient",
        "maglev",
        "rendezvous",
    ] {
        assert!(
            names.iter().any(|n| n == algo),
            "rehash.ron has no {algo} variant"
        );
    }
}

#[test]
fn a_missing_file_is_an_error_naming_it() {
    let e = Scenario::load(Path::new("/nonexistent/x.ron")).unwrap_err();
    assert!(
        e.to_string().starts_with("/nonexistent/x.ron: cannot read"),
        "{e}"
    );
}

#[test]
fn a_wrong_type_names_the_field_and_position() {
    let text = crate::small("").replace("count: 4, cores", "count: \"four\", cores");
    let e = Scenario::parse(Path::new("s.ron"), &text).unwrap_err();
    assert_eq!(e.field, "nodes.count");
    assert_eq!(e.position.map(|p| p.0), Some(4));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,200}") {
        let _ = Scenario::parse(Path::new("fuzz.ron"), &text);
    }

    #[test]
    fn mutated_valid_scenarios_never_panic(cut in 0usize..600, insert in "[(),:\"a-z0-9\\[\\] ]{0,8}") {
        let base = crate::small(r#"events: [(at: "3s", withdraw: "node-2")],"#);
        let at = cut.min(base.len());
        let at = (0..=at).rev().find(|&i| base.is_char_boundary(i)).unwrap_or(0);
        let text = format!("{}{}{}", &base[..at], insert, &base[at..]);
        let _ = Scenario::parse(Path::new("fuzz.ron"), &text);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = Scenario::parse_bytes(Path::new("fuzz.ron"), &bytes);
    }

    #[test]
    fn locating_any_path_in_any_text_never_panics(
        text in "[(),:\"\\\\a-z0-9\\[\\]{}/* #'\n]{0,120}",
        path in "[a-z]{1,3}(\\[[0-9]\\])?(\\.[a-z]{1,3}){0,3}",
    ) {
        let _ = lbsim::input::locate(&text, &path);
        let _ = lbsim::input::top_level_fields(&text);
    }
}
