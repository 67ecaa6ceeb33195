//! Replays every committed corpus file (`fuzz/corpus/<target>/`) and crash regression file
//! (`fuzz/regressions/<target>/`) of every target through the same body the fuzzer runs, so a
//! decoder change that breaks an input the fuzzer once explored fails `cargo test`.

use lbsim_fuzz::{Target, TARGETS};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

/// Files of `dir` in name order; none when the directory does not exist.
fn files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.expect("readable directory entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

/// Runs `target` on each file; returns one line per file that broke the contract.
fn replay(target: &Target, files: &[PathBuf]) -> Vec<String> {
    let mut failures = Vec::new();
    for file in files {
        let data = std::fs::read(file).expect("readable corpus file");
        if let Err(panic) = catch_unwind(AssertUnwindSafe(|| (target.run)(&data))) {
            let why = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("(non-text panic)");
            failures.push(format!("{}: {why}", file.display()));
        }
    }
    failures
}

#[test]
fn every_corpus_and_regression_file_passes() {
    let mut failures = Vec::new();
    for target in TARGETS {
        let corpus = files(&root().join("corpus").join(target.name));
        assert!(
            !corpus.is_empty(),
            "fuzz/corpus/{} is empty: fuzz the target and commit its minimized corpus \
             (docs/fuzzing.md)",
            target.name
        );
        let regressions = files(&root().join("regressions").join(target.name));
        failures.extend(replay(target, &corpus));
        failures.extend(replay(target, &regressions));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// A corpus directory without a target would never be replayed.
#[test]
fn every_corpus_directory_names_a_target() {
    for kind in ["corpus", "regressions"] {
        let Ok(entries) = std::fs::read_dir(root().join(kind)) else {
            continue;
        };
        for entry in entries {
            let name = entry.unwrap().file_name();
            let name = name.to_string_lossy();
            assert!(
                TARGETS.iter().any(|t| t.name == name),
                "fuzz/{kind}/{name} is not a target of lbsim_fuzz::TARGETS"
            );
        }
    }
}

/// The bodies do check something: a decoder contract broken on purpose is caught.
#[test]
fn a_broken_contract_is_reported() {
    let broken = Target {
        name: "broken",
        run: |data| assert!(data.is_empty(), "not empty"),
    };
    let failures = replay(&broken, &[root().join("Cargo.toml")]);
    assert_eq!(failures.len(), 1);
    assert!(
        failures[0].ends_with("Cargo.toml: not empty"),
        "{failures:?}"
    );
}
