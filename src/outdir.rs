//! The output directory of `sim run --out DIR` and `sim suite --out DIR`: checked before the
//! run, an earlier output replaced whole, the new one sealed by `run.json`.
//!
//! ```text
//!  OutDir::inspect(DIR)   new, empty, or an earlier lbsim output and nothing else? else refuse
//!        │                (nothing is changed; DIR is created if missing and probed for writing)
//!  Claim::take            INCOMPLETE (listing the old files) ─▶ remove run.json and the old
//!        │                files ─▶ INCOMPLETE with an empty list
//!  OutDir::file(rel)      rel is appended to INCOMPLETE, then the writer creates it
//!        │                (temporary name, then rename)
//!  OutDir::seal           run.json (every file, its size and sha256), atomically; INCOMPLETE removed
//! ```
//! "An earlier lbsim output" is a directory holding a valid `run.json` or our `INCOMPLETE`
//! marker, and nothing but the files they list (and our temporary names of those). Anything
//! else in it is the user's: lbsim refuses the directory and deletes nothing. A killed run
//! leaves `INCOMPLETE` (and no `run.json`), so it is recognisable as incomplete, and the next
//! run into the same directory knows every file it may have created.

use std::collections::BTreeSet;
use std::fs;
use std::io::{self, Write as _};
use std::path::{Component, Path, PathBuf};
use std::sync::Mutex;

use crate::manifest::{sha256_file, FileEntry, Inputs, Manifest};
use crate::output::{tmp_path, write_atomic};

/// The manifest's name in the directory.
pub const MANIFEST: &str = "run.json";
/// The in-progress marker's name: present while a run writes, left behind by a killed run.
pub const MARKER: &str = "INCOMPLETE";
/// The marker's first line; the files the run may create follow, one per line.
const MARKER_HEADER: &str = "lbsim: a run is writing this directory, or was killed while writing it: it is incomplete until run.json is written and this file removed. Files it may have created, one per line:";

/// Why an output directory cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum OutDirError {
    /// The directory cannot be used: not a directory, not creatable or writable, or it holds
    /// something lbsim did not write.
    #[error("--out {}: {reason}", .dir.display())]
    Refused {
        /// The directory.
        dir: PathBuf,
        /// What was found.
        reason: String,
    },
    /// A file name that would leave the directory.
    #[error("--out {}: {name}", .dir.display())]
    BadName {
        /// The directory.
        dir: PathBuf,
        /// The name and why it is refused.
        name: String,
    },
    /// An I/O error.
    #[error("--out {}: {source}", .path.display())]
    Io {
        /// What was being read or written.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> OutDirError + '_ {
    move |source| OutDirError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// `rel` is a plain relative path: `/`-separated names, none empty, `.` or `..`, no
/// backslash or control character.
///
/// # Errors
/// What is wrong with it.
pub fn check_relative(rel: &str) -> Result<(), String> {
    let plain = !rel.is_empty()
        && !rel.starts_with('/')
        && rel
            .split('/')
            .all(|part| !part.is_empty() && part != "." && part != "..")
        && !rel.chars().any(|c| c == '\\' || c.is_control());
    if plain {
        Ok(())
    } else {
        Err(format!(
            "{rel:?}, which is not a plain relative path inside the directory"
        ))
    }
}

/// An output directory checked for a run; nothing in it has been changed yet.
#[derive(Debug)]
pub struct Claim {
    root: PathBuf,
    canonical: PathBuf,
    /// The earlier output's files (listed by its manifest or marker), to remove.
    old: BTreeSet<String>,
}

/// An output directory a run is writing: every file it creates is recorded in the marker
/// first. Shared by the variants of a run (they write their streams from several threads).
#[derive(Debug)]
pub struct OutDir {
    root: PathBuf,
    canonical: PathBuf,
    journal: Mutex<Journal>,
}

#[derive(Debug)]
struct Journal {
    marker: fs::File,
    files: BTreeSet<String>,
}

impl OutDir {
    /// Check `root` without changing anything in it: it is created if missing; an existing one
    /// must be empty or an earlier lbsim output with nothing else in it; it must be writable.
    ///
    /// # Errors
    /// [`OutDirError::Refused`] saying what was found, or an I/O error.
    pub fn inspect(root: &Path) -> Result<Claim, OutDirError> {
        let refuse = |reason: String| OutDirError::Refused {
            dir: root.to_path_buf(),
            reason,
        };
        match fs::metadata(root) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => return Err(refuse("it exists and is not a directory".into())),
            Err(_) => fs::create_dir_all(root)
                .map_err(|e| refuse(format!("cannot create the directory: {e}")))?,
        }
        // Said after every refusal of a directory that holds something.
        const NEVER: &str =
            "lbsim replaces only its own earlier output and never deletes files it did not write";
        let empty = fs::read_dir(root).map_err(io_err(root))?.next().is_none();
        let mut old = BTreeSet::new();
        if !empty {
            let manifest = Manifest::read(root);
            let marker = read_marker(root);
            let mut ours: BTreeSet<String> = BTreeSet::new();
            let mut why_not = Vec::new();
            match manifest {
                Some(Ok(m)) => {
                    ours.insert(MANIFEST.into());
                    old.extend(m.files.into_iter().map(|f| f.path));
                }
                Some(Err(e)) => why_not.push(e),
                None => {}
            }
            match marker {
                Some(Ok(files)) => {
                    ours.insert(MARKER.into());
                    old.extend(files);
                }
                Some(Err(e)) => why_not.push(e),
                None => {}
            }
            if ours.is_empty() {
                why_not.insert(
                    0,
                    format!("it is not empty and not an earlier lbsim output (no lbsim {MANIFEST} or {MARKER} in it)"),
                );
                return Err(refuse(format!(
                    "{}; choose a new or empty directory: {NEVER}",
                    why_not.join("; ")
                )));
            }
            ours.extend(old.iter().cloned());
            // Our temporary names at the top (a manifest or marker being renamed into place,
            // the writability probe) are ours too.
            for name in [MANIFEST, MARKER] {
                ours.insert(tmp_name(name));
            }
            let foreign = foreign_entries(root, "", &ours).map_err(io_err(root))?;
            if !foreign.is_empty() {
                let shown: Vec<&str> = foreign.iter().take(5).map(String::as_str).collect();
                let more = if foreign.len() > 5 {
                    format!(" and {} more", foreign.len() - 5)
                } else {
                    String::new()
                };
                return Err(refuse(format!(
                    "it holds an earlier lbsim output and also {}{more}, which lbsim did not write; move {} away or choose another directory: {NEVER}",
                    shown.join(", "),
                    if foreign.len() == 1 { "it" } else { "them" }
                )));
            }
        }
        probe_writable(&root.join(MARKER))
            .map_err(|e| refuse(format!("cannot write into it: {e}")))?;
        let canonical = fs::canonicalize(root).map_err(io_err(root))?;
        Ok(Claim {
            root: root.to_path_buf(),
            canonical,
            old,
        })
    }

    /// [`inspect`](Self::inspect) and [`take`](Claim::take) at once.
    ///
    /// # Errors
    /// As those.
    pub fn claim(root: &Path) -> Result<OutDir, OutDirError> {
        OutDir::inspect(root)?.take()
    }

    /// The directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where to write `rel`: recorded in the marker before the caller creates it, its parent
    /// directories created.
    ///
    /// # Errors
    /// [`OutDirError::BadName`] for a name that would leave the directory, or an I/O error.
    pub fn file(&self, rel: &str) -> Result<PathBuf, OutDirError> {
        check_relative(rel).map_err(|name| OutDirError::BadName {
            dir: self.root.clone(),
            name,
        })?;
        if rel == MANIFEST || rel == MARKER {
            return Err(OutDirError::BadName {
                dir: self.root.clone(),
                name: format!("{rel:?} is lbsim's own file"),
            });
        }
        let path = self.root.join(rel);
        {
            let mut j = self.journal.lock().unwrap_or_else(|e| e.into_inner());
            if !j.files.contains(rel) {
                let marker = self.root.join(MARKER);
                j.marker
                    .write_all(format!("{rel}\n").as_bytes())
                    .map_err(io_err(&marker))?;
                j.files.insert(rel.to_string());
            }
        }
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(io_err(parent))?;
        }
        Ok(path)
    }

    /// Write `bytes` to `rel` atomically (recorded first, see [`file`](Self::file)).
    ///
    /// # Errors
    /// As [`file`](Self::file), or the write's I/O error.
    pub fn write(&self, rel: &str, bytes: &[u8]) -> Result<(), OutDirError> {
        let path = self.file(rel)?;
        write_atomic(&path, bytes).map_err(io_err(&path))
    }

    /// `path`'s name relative to the directory when it lies inside it (it need not exist yet).
    pub fn relative(&self, path: &Path) -> Option<String> {
        inside(&self.canonical, path)
    }

    /// Seal the directory: `run.json` listing every file written (size and sha256), written
    /// atomically, then the marker removed. Returns the manifest.
    ///
    /// # Errors
    /// A file recorded but missing, or an I/O error.
    pub fn seal(&self, inputs: Inputs) -> Result<Manifest, OutDirError> {
        let j = self.journal.lock().unwrap_or_else(|e| e.into_inner());
        let mut files = Vec::with_capacity(j.files.len());
        for rel in &j.files {
            let path = self.root.join(rel);
            let (sha256, size) = sha256_file(&path).map_err(io_err(&path))?;
            files.push(FileEntry {
                path: rel.clone(),
                size,
                sha256,
            });
        }
        let manifest = Manifest::new(inputs, files);
        let path = self.root.join(MANIFEST);
        write_atomic(&path, &manifest.to_bytes()).map_err(io_err(&path))?;
        let marker = self.root.join(MARKER);
        fs::remove_file(&marker).map_err(io_err(&marker))?;
        Ok(manifest)
    }
}

impl Claim {
    /// `path`'s name relative to the directory when it lies inside it (it need not exist yet).
    pub fn relative(&self, path: &Path) -> Option<String> {
        inside(&self.canonical, path)
    }

    /// Take the directory for a new run: the marker goes in first (listing the earlier
    /// output's files, so an interrupted clean-up is finished next time), then the earlier
    /// `run.json` and files go, then the marker starts the new run's list.
    ///
    /// # Errors
    /// An I/O error.
    pub fn take(self) -> Result<OutDir, OutDirError> {
        let root = &self.root;
        let marker = root.join(MARKER);
        let listing: String = self.old.iter().map(|f| format!("{f}\n")).collect();
        write_atomic(&marker, format!("{MARKER_HEADER}\n{listing}").as_bytes())
            .map_err(io_err(&marker))?;
        let mut dirs: BTreeSet<PathBuf> = BTreeSet::new();
        for rel in self.old.iter().map(String::as_str).chain([MANIFEST]) {
            let path = root.join(rel);
            for p in [tmp_path(&path), path] {
                match fs::remove_file(&p) {
                    Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(io_err(&p)(e)),
                    _ => {}
                }
            }
            let mut parent = Path::new(rel).parent();
            while let Some(p) = parent.filter(|p| !p.as_os_str().is_empty()) {
                dirs.insert(p.to_path_buf());
                parent = p.parent();
            }
        }
        // Deepest first; a directory that is not empty (it cannot hold foreign files, inspect
        // checked) or already gone is left as it is.
        for d in dirs.iter().rev() {
            let _ = fs::remove_dir(root.join(d));
        }
        write_atomic(&marker, format!("{MARKER_HEADER}\n").as_bytes()).map_err(io_err(&marker))?;
        let file = fs::OpenOptions::new()
            .append(true)
            .open(&marker)
            .map_err(io_err(&marker))?;
        Ok(OutDir {
            root: self.root,
            canonical: self.canonical,
            journal: Mutex::new(Journal {
                marker: file,
                files: BTreeSet::new(),
            }),
        })
    }
}

/// The files a marker lists: only complete lines (a run killed in mid-line had not created
/// that file yet). `None` when there is no marker.
fn read_marker(root: &Path) -> Option<Result<Vec<String>, String>> {
    let text = match fs::read(root.join(MARKER)) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return None,
        Err(e) => return Some(Err(format!("{MARKER} cannot be read: {e}"))),
        Ok(b) => String::from_utf8_lossy(&b).into_owned(),
    };
    let Some(rest) = text.strip_prefix(&format!("{MARKER_HEADER}\n")) else {
        return Some(Err(format!("{MARKER} is not lbsim's marker")));
    };
    let complete = rest.rsplit_once('\n').map_or("", |(lines, _)| lines);
    let mut files = Vec::new();
    for line in complete.lines() {
        if let Err(e) = check_relative(line) {
            return Some(Err(format!("{MARKER} lists {e}")));
        }
        files.push(line.to_string());
    }
    Some(Ok(files))
}

/// Entries under `root/prefix` that are not ours: files not in `ours` (nor our temporary
/// names of them), directories holding none of `ours`, anything that is neither file nor
/// directory. Sorted; a directory shows as `name/`.
fn foreign_entries(root: &Path, prefix: &str, ours: &BTreeSet<String>) -> io::Result<Vec<String>> {
    let mut names: Vec<(String, fs::FileType)> = Vec::new();
    for e in fs::read_dir(root.join(prefix))? {
        let e = e?;
        names.push((e.file_name().to_string_lossy().into_owned(), e.file_type()?));
    }
    names.sort_by(|a, b| a.0.cmp(&b.0));
    let mut foreign = Vec::new();
    for (name, kind) in names {
        let rel = format!("{prefix}{name}");
        if kind.is_file() {
            let is_ours = ours.contains(&rel)
                || name
                    .strip_prefix('.')
                    .and_then(|n| n.strip_suffix(".tmp"))
                    .is_some_and(|n| ours.contains(&format!("{prefix}{n}")));
            if !is_ours {
                foreign.push(rel);
            }
        } else if kind.is_dir() && ours.iter().any(|o| o.starts_with(&format!("{rel}/"))) {
            foreign.extend(foreign_entries(root, &format!("{rel}/"), ours)?);
        } else {
            foreign.push(if kind.is_dir() {
                format!("{rel}/")
            } else {
                rel
            });
        }
    }
    Ok(foreign)
}

/// Every file under `dir`, relative, `/`-separated, sorted.
///
/// # Errors
/// A directory cannot be read.
pub fn list_files(dir: &Path) -> io::Result<Vec<String>> {
    let mut out = Vec::new();
    let mut stack = vec![String::new()];
    while let Some(prefix) = stack.pop() {
        for e in fs::read_dir(dir.join(&prefix))? {
            let e = e?;
            let rel = format!("{prefix}{}", e.file_name().to_string_lossy());
            if e.file_type()?.is_dir() {
                stack.push(format!("{rel}/"));
            } else {
                out.push(rel);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// The temporary name of a top-level file `name`.
fn tmp_name(name: &str) -> String {
    tmp_path(Path::new(name)).to_string_lossy().into_owned()
}

/// Create and remove `file`'s temporary name: its directory is writable, as the run will
/// need it.
fn probe_writable(file: &Path) -> io::Result<()> {
    let probe = tmp_path(file);
    fs::write(&probe, b"")?;
    fs::remove_file(&probe)
}

/// Check before a run that a file can be written at `path` (`--pcap FILE`, `--per-flow`):
/// not a directory, in an existing directory that is writable. Nothing is left behind.
///
/// # Errors
/// What is wrong, naming the path.
pub fn check_file_target(path: &Path) -> Result<(), String> {
    if path.is_dir() {
        return Err(format!("{} is a directory, not a file", path.display()));
    }
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if !parent.is_dir() {
        return Err(format!(
            "cannot write {}: {} is not an existing directory",
            path.display(),
            parent.display()
        ));
    }
    probe_writable(path).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// Check before a run that files can be written in directory `dir`, creating it if missing.
///
/// # Errors
/// What is wrong, naming the path.
pub fn check_dir_target(dir: &Path) -> Result<(), String> {
    fs::create_dir_all(dir)
        .and_then(|()| probe_writable(&dir.join(".lbsim-probe")))
        .map_err(|e| format!("cannot write into {}: {e}", dir.display()))
}

/// `path` relative to `canonical_root` when it lies inside (it need not exist yet: its
/// longest existing ancestor is resolved, the rest appended). `None` outside, for the root
/// itself, or when a not-yet-existing part says `..`.
fn inside(canonical_root: &Path, path: &Path) -> Option<String> {
    let abs = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir().ok()?.join(path)
    };
    let mut existing = abs.as_path();
    let mut rest: Vec<&std::ffi::OsStr> = Vec::new();
    let resolved = loop {
        if let Ok(c) = fs::canonicalize(existing) {
            break c;
        }
        rest.push(existing.file_name()?);
        existing = existing.parent()?;
    };
    let mut full = resolved;
    for part in rest.iter().rev() {
        match Path::new(part).components().next() {
            Some(Component::Normal(_)) => full.push(part),
            _ => return None,
        }
    }
    let rel = full.strip_prefix(canonical_root).ok()?;
    let parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    (!parts.is_empty()).then(|| parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_names_stay_inside() {
        for ok in ["summary.csv", "test1/seed-1/summary.csv", ".hidden"] {
            assert!(check_relative(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a/../b",
            "a//b",
            "./a",
            "a\\b",
            "a\nb",
        ] {
            assert!(check_relative(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_marker_line_cut_short_is_not_a_file() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(
            dir.path().join(MARKER),
            format!("{MARKER_HEADER}\nsummary.csv\nevents.c"),
        )
        .unwrap();
        assert_eq!(
            read_marker(dir.path()).unwrap().unwrap(),
            vec!["summary.csv".to_string()]
        );
    }

    #[test]
    fn paths_inside_the_root_are_found_even_before_they_exist() {
        let dir = tempfile::tempdir().unwrap();
        let root = fs::canonicalize(dir.path()).unwrap();
        assert_eq!(
            inside(&root, &dir.path().join("pcap/a.pcap")).as_deref(),
            Some("pcap/a.pcap")
        );
        assert_eq!(inside(&root, dir.path()), None);
        assert_eq!(inside(&root, Path::new("/tmp-elsewhere/x.pcap")), None);
    }
}
