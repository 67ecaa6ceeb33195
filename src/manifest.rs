//! `run.json`: the manifest that seals an output directory. It names what was run (lbsim
//! version, the scenario or suite file and its sha256, seeds, variants) and every file the run
//! wrote, with its size and sha256. It holds no wall-clock time and no absolute path, so the
//! same scenario and seed give a byte-identical `run.json`.
//!
//! A directory is complete when `run.json` is there, the in-progress marker
//! ([`crate::outdir::MARKER`]) is not, and every file matches `run.json`: [`verify`], which
//! `sim verify DIR` prints.

use std::fs;
use std::io::{self, Read};
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::outdir::{self, MANIFEST, MARKER};

/// The manifest's `format`: changes when its meaning does.
pub const FORMAT: &str = "lbsim-run/1";

/// The contents of `run.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Always [`FORMAT`].
    pub format: String,
    /// The lbsim version that wrote it.
    pub lbsim_version: String,
    /// What was run.
    #[serde(flatten)]
    pub inputs: Inputs,
    /// Every file of the directory but `run.json`, by path.
    pub files: Vec<FileEntry>,
}

/// What a run read: `command` says which kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "lowercase")]
pub enum Inputs {
    /// `sim run`.
    Run {
        /// The scenario file.
        scenario: InputFile,
        /// The master seed used.
        seed: u64,
        /// The variants, in the scenario's order.
        variants: Vec<String>,
    },
    /// `sim suite`.
    Suite {
        /// The suite file.
        suite: InputFile,
        /// One seed per iteration.
        seeds: Vec<u64>,
        /// The tests, in the suite's order.
        tests: Vec<SuiteTest>,
    },
    /// `sim sweep` and `sim sweep merge` (which writes what the unsharded sweep does).
    Sweep {
        /// The sweep file as given (if any), then the base scenario file (`files` is what the
        /// run wrote).
        input_files: Vec<InputFile>,
        /// The axes, `path=value,value,...`.
        axes: Vec<String>,
        /// `Grid` or `Zip`.
        combine: String,
        /// The seeds of every point.
        seeds: Vec<u64>,
        /// The variants run.
        variants: Vec<String>,
        /// `I/N` for one shard's directory; absent for the whole sweep.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        shard: Option<String>,
    },
}

/// One test of a suite.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SuiteTest {
    /// Its name (its directory in the output).
    pub name: String,
    /// Its scenario file.
    pub scenario: InputFile,
    /// Its variants.
    pub variants: Vec<String>,
    /// The scenario field a suite's `vary` set for this test, `path=value`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vary: Option<String>,
}

/// A file the run read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputFile {
    /// As given on the command line when relative; an absolute path is reduced to its file
    /// name.
    pub path: String,
    /// sha256 of its bytes, lower-case hex.
    pub sha256: String,
}

/// A file the run wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// Relative to the output directory, `/`-separated.
    pub path: String,
    /// Bytes.
    pub size: u64,
    /// sha256, lower-case hex.
    pub sha256: String,
}

impl Inputs {
    /// `sim run FILE` with `seed`: the file as given, its hash, the scenario's variants.
    ///
    /// # Errors
    /// The scenario file cannot be read.
    pub fn run(file: &Path, scenario: &crate::scenario::Scenario, seed: u64) -> io::Result<Inputs> {
        Ok(Inputs::Run {
            scenario: InputFile::read(file)?,
            seed,
            variants: scenario
                .variant_list()
                .into_iter()
                .map(|v| v.name)
                .collect(),
        })
    }

    /// `sim suite`: the suite file, every test's scenario file and variants, the seeds.
    ///
    /// # Errors
    /// A file cannot be read.
    pub fn suite(suite: &crate::suite::Suite, seeds: Vec<u64>) -> io::Result<Inputs> {
        let mut tests = Vec::with_capacity(suite.file.tests.len());
        let paths = crate::suite::scenario_paths(suite);
        for ((t, s), p) in suite.file.tests.iter().zip(&suite.scenarios).zip(&paths) {
            tests.push(SuiteTest {
                name: t.name.clone(),
                scenario: InputFile::read(p)?,
                variants: s.variant_list().into_iter().map(|v| v.name).collect(),
                vary: t.vary.as_ref().map(|a| {
                    let values: Vec<String> = a
                        .values
                        .iter()
                        .map(|v| crate::sweep::path::label(&v.0))
                        .collect();
                    format!("{}={}", a.path, values.join(","))
                }),
            });
        }
        Ok(Inputs::Suite {
            suite: InputFile::read(&suite.path)?,
            seeds,
            tests,
        })
    }
}

impl InputFile {
    /// Hash `path` and record it without any absolute path.
    ///
    /// # Errors
    /// The file cannot be read.
    pub fn read(path: &Path) -> io::Result<InputFile> {
        let (sha256, _) = sha256_file(path)?;
        Ok(InputFile {
            path: portable(path),
            sha256,
        })
    }
}

/// `path` as given when relative, `/`-separated; an absolute path is reduced to its file name
/// (the sha256 says which file it was), so run.json never names a place on this machine.
fn portable(path: &Path) -> String {
    if path.is_absolute() {
        return path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
    }
    let parts: Vec<String> = path
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    parts.join("/")
}

/// sha256 (hex) and size of a file, read in pieces.
///
/// # Errors
/// The file cannot be read.
pub fn sha256_file(path: &Path) -> io::Result<(String, u64)> {
    let mut file = fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut size = 0u64;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        size += n as u64;
    }
    Ok((hex(&hasher.finalize()), size))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Manifest {
    /// A manifest of this lbsim version.
    pub fn new(inputs: Inputs, files: Vec<FileEntry>) -> Manifest {
        Manifest {
            format: FORMAT.into(),
            lbsim_version: env!("CARGO_PKG_VERSION").into(),
            inputs,
            files,
        }
    }

    /// `run.json`'s bytes: pretty JSON in field order, a newline at the end.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = serde_json::to_vec_pretty(self).unwrap_or_default();
        bytes.push(b'\n');
        bytes
    }

    /// Read and check `dir/run.json`: `None` when there is none.
    ///
    /// # Errors
    /// Why the file there is not an lbsim manifest (unreadable, not JSON of this format, or a
    /// file path that is not a plain relative path).
    pub fn read(dir: &Path) -> Option<Result<Manifest, String>> {
        let path = dir.join(MANIFEST);
        let bytes = match fs::read(&path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => return None,
            Err(e) => return Some(Err(format!("{MANIFEST} cannot be read: {e}"))),
            Ok(b) => b,
        };
        let m: Manifest = match serde_json::from_slice(&bytes) {
            Ok(m) => m,
            Err(e) => return Some(Err(format!("{MANIFEST} is not an lbsim manifest: {e}"))),
        };
        if m.format != FORMAT {
            return Some(Err(format!(
                "{MANIFEST} has format {:?}, not {FORMAT:?}",
                m.format
            )));
        }
        for f in &m.files {
            if let Err(e) = outdir::check_relative(&f.path) {
                return Some(Err(format!("{MANIFEST} lists {e}")));
            }
        }
        Some(Ok(m))
    }

    /// One line saying what was run, for `sim verify`.
    pub fn describe(&self) -> String {
        match &self.inputs {
            Inputs::Run {
                scenario,
                seed,
                variants,
            } => format!(
                "sim run {}, seed {seed}, {} variant{}",
                scenario.path,
                variants.len(),
                if variants.len() == 1 { "" } else { "s" }
            ),
            Inputs::Suite {
                suite,
                seeds,
                tests,
            } => format!(
                "sim suite {}, {} tests, {} iteration{}",
                suite.path,
                tests.len(),
                seeds.len(),
                if seeds.len() == 1 { "" } else { "s" }
            ),
            Inputs::Sweep {
                input_files,
                axes,
                seeds,
                shard,
                ..
            } => format!(
                "sim sweep {}, {} ax{}, {} seed{}{}",
                input_files.first().map_or("", |f| f.path.as_str()),
                axes.len(),
                if axes.len() == 1 { "is" } else { "es" },
                seeds.len(),
                if seeds.len() == 1 { "" } else { "s" },
                shard
                    .as_ref()
                    .map_or_else(String::new, |s| format!(", shard {s}"))
            ),
        }
    }
}

/// What [`verify`] found in a directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// The manifest, when there is a valid one.
    pub manifest: Option<Manifest>,
    /// Why the directory is incomplete; empty: complete.
    pub problems: Vec<String>,
    /// Files present that the manifest does not list (not part of the run).
    pub unlisted: Vec<String>,
}

impl Verdict {
    /// Complete: a valid manifest, no marker, every file as listed.
    pub fn complete(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Check `dir` against its `run.json`: present and valid, no in-progress marker, every listed
/// file there with its size and sha256.
///
/// # Errors
/// `dir` cannot be listed.
pub fn verify(dir: &Path) -> io::Result<Verdict> {
    let mut problems = Vec::new();
    if dir.join(MARKER).exists() {
        problems.push(format!(
            "{MARKER} is present: a run was writing here and did not finish"
        ));
    }
    let manifest = match Manifest::read(dir) {
        None => {
            problems.push(format!(
                "no {MANIFEST}: a run did not finish writing here (or this is not an lbsim output)"
            ));
            None
        }
        Some(Err(e)) => {
            problems.push(e);
            None
        }
        Some(Ok(m)) => Some(m),
    };
    let mut unlisted = Vec::new();
    if let Some(m) = &manifest {
        for f in &m.files {
            match sha256_file(&dir.join(&f.path)) {
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    problems.push(format!("{} is missing", f.path))
                }
                Err(e) => problems.push(format!("{}: {e}", f.path)),
                Ok((_, size)) if size != f.size => problems.push(format!(
                    "{}: {size} bytes, {MANIFEST} says {}",
                    f.path, f.size
                )),
                Ok((sha, _)) if sha != f.sha256 => {
                    problems.push(format!("{}: sha256 differs from {MANIFEST}", f.path))
                }
                Ok(_) => {}
            }
        }
        let listed: std::collections::BTreeSet<&str> =
            m.files.iter().map(|f| f.path.as_str()).collect();
        for rel in outdir::list_files(dir)? {
            if rel != MANIFEST && rel != MARKER && !listed.contains(rel.as_str()) {
                unlisted.push(rel);
            }
        }
    }
    Ok(Verdict {
        manifest,
        problems,
        unlisted,
    })
}

/// Write `rel` (a file made from the directory's own files, such as `sim report`'s
/// report.html) into `dir` atomically, and when `dir` is a complete output apart from `rel`
/// itself, list it in `run.json` (rewritten atomically), so that `sim verify` still passes.
/// Returns whether run.json lists it now.
///
/// # Errors
/// A write fails.
pub fn add_file(dir: &Path, rel: &str, bytes: &[u8]) -> io::Result<bool> {
    let v = verify(dir)?;
    let about_rel =
        |p: &String| p.starts_with(&format!("{rel}:")) || *p == format!("{rel} is missing");
    let complete = v.manifest.is_some() && v.problems.iter().all(about_rel);
    crate::output::write_atomic(&dir.join(rel), bytes)?;
    let Some(mut m) = v.manifest.filter(|_| complete) else {
        return Ok(false);
    };
    let (sha256, size) = sha256_file(&dir.join(rel))?;
    m.files.retain(|f| f.path != rel);
    m.files.push(FileEntry {
        path: rel.to_string(),
        size,
        sha256,
    });
    m.files.sort_by(|a, b| a.path.cmp(&b.path));
    crate::output::write_atomic(&dir.join(MANIFEST), &m.to_bytes())?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_of_a_known_string() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("abc");
        fs::write(&p, b"abc").unwrap();
        // FIPS 180-2, appendix B.1.
        assert_eq!(
            sha256_file(&p).unwrap(),
            (
                "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad".into(),
                3
            )
        );
    }

    #[test]
    fn portable_paths_are_never_absolute() {
        assert_eq!(portable(Path::new("scenarios/x.ron")), "scenarios/x.ron");
        assert_eq!(portable(Path::new("../x.ron")), "../x.ron");
        assert_eq!(portable(Path::new("/home/me/lab/s.ron")), "s.ron");
    }
}
