//! `sim sweep`: one scenario over a grid (or a zip) of field values, every point x seed x
//! variant a run, and one tidy table of what each run measured.
//!
//! ```text
//!  scenario + --vary/--set (or a sweep file) ─▶ SweepDef ─▶ points (one Scenario each, checked)
//!      jobs (point x seed x variant, this shard's points) ─par_iter, at most budget::max_in_flight─▶
//!      metrics per run (back in job order) ─▶ Record ─▶ sweep.csv, summary (mean ± 95 % CI), JSON
//!  shards: --shard I/N runs the points p with p mod N = I; `sim sweep merge` puts them back
//! ```
//! Each run is one single-threaded simulation and results come back in declared order, so the
//! table is byte-identical whatever the thread count or the sharding.

pub mod budget;
pub mod path;
pub mod run;
pub mod table;

use std::collections::BTreeSet;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use crate::input;
use crate::lab::LabError;
use crate::manifest::{InputFile, Inputs};
use crate::scenario::{Scenario, ScenarioError, Variant, Warning};
use path::{label, parse_value, FieldPath, RonValue};

/// Most runs one sweep may ask for (points x seeds x variants).
pub const MAX_RUNS: usize = 1_000_000;

/// An axis: a field and the values it takes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Axis {
    /// The field, e.g. `bgp.router_hold_time`.
    pub path: FieldPath,
    /// Its values, as in a scenario file (`"9s"`, `3`, `Poisson`, `(detect_multiplier: 4)`).
    pub values: Vec<RonValue>,
}

impl FromStr for Axis {
    type Err = String;

    /// `PATH=V1,V2,...` (commas inside brackets and quotes belong to the value).
    fn from_str(text: &str) -> Result<Axis, String> {
        let (path, values) = text.split_once('=').ok_or_else(|| {
            format!("{text:?}: write PATH=V1,V2,..., e.g. bgp.router_hold_time=3s,9s")
        })?;
        let path: FieldPath = path.parse()?;
        let values = split_top_level(values)
            .into_iter()
            .map(|v| parse_value(v).map(RonValue))
            .collect::<Result<Vec<_>, _>>()?;
        if values.is_empty() {
            return Err(format!("{text:?}: give at least one value after `=`"));
        }
        Ok(Axis { path, values })
    }
}

/// One fixed change to the base before the axes: `--set PATH=V`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Setting {
    /// The field.
    pub path: FieldPath,
    /// Its value.
    pub value: RonValue,
}

impl FromStr for Setting {
    type Err = String;

    fn from_str(text: &str) -> Result<Setting, String> {
        let (path, value) = text.split_once('=').ok_or_else(|| {
            format!("{text:?}: write PATH=VALUE, e.g. 'bgp.bfd=(detect_multiplier: 3)'")
        })?;
        Ok(Setting {
            path: path.parse()?,
            value: RonValue(parse_value(value)?),
        })
    }
}

/// Split `a,b,(c, d),"e,f"` at the commas outside brackets and quotes.
fn split_top_level(text: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth, mut quoted, mut escaped, mut start) = (0i32, false, false, 0);
    for (i, c) in text.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '(' | '[' | '{' if !quoted => depth += 1,
            ')' | ']' | '}' if !quoted => depth -= 1,
            ',' if !quoted && depth == 0 => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts.retain(|p| !p.trim().is_empty());
    parts
}

/// How axes combine into points.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Combine {
    /// Every combination (the last axis varies fastest).
    #[default]
    Grid,
    /// The i-th value of every axis together (all axes equally long).
    Zip,
}

/// The seeds each point runs: a count (seeds `first, first + 1, ...`) or a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seeds {
    /// This many seeds from the first seed on.
    Count(u64),
    /// These seeds.
    List(Vec<u64>),
}

impl Default for Seeds {
    fn default() -> Self {
        Seeds::Count(3)
    }
}

impl Seeds {
    /// The seeds, the count starting at `first`.
    ///
    /// # Errors
    /// A count of 0 or above 10,000, an empty list, a seed listed twice.
    pub fn resolve(&self, first: u64) -> Result<Vec<u64>, String> {
        let seeds: Vec<u64> = match self {
            Seeds::Count(n) if !(1..=10_000).contains(n) => {
                return Err(format!("{n} seeds: give 1 to 10000"))
            }
            Seeds::Count(n) => (0..*n).map(|k| first.wrapping_add(k)).collect(),
            Seeds::List(l) => l.clone(),
        };
        if seeds.is_empty() {
            return Err("the list of seeds is empty".into());
        }
        let mut seen = BTreeSet::new();
        if let Some(d) = seeds.iter().find(|s| !seen.insert(**s)) {
            return Err(format!("seed {d} is listed twice"));
        }
        Ok(seeds)
    }
}

impl FromStr for Seeds {
    type Err = String;

    /// `5` (a count) or `1,2,3` (a list).
    fn from_str(text: &str) -> Result<Seeds, String> {
        let bad = || format!("{text:?}: give a count (5) or a list of seeds (1,2,3)");
        let t = text.trim().trim_start_matches('[').trim_end_matches(']');
        if t.contains(',') {
            split_top_level(t)
                .into_iter()
                .map(|s| s.trim().parse().map_err(|_| bad()))
                .collect::<Result<_, _>>()
                .map(Seeds::List)
        } else {
            t.parse().map(Seeds::Count).map_err(|_| bad())
        }
    }
}

impl<'de> Deserialize<'de> for Seeds {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Seeds;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a count of seeds such as 5, or a list such as [1, 2, 3]")
            }
            fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<Seeds, E> {
                Ok(Seeds::Count(n))
            }
            fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<Seeds, E> {
                u64::try_from(n)
                    .map(Seeds::Count)
                    .map_err(|_| E::custom(format!("{n} seeds: give a count such as 5")))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut a: A) -> Result<Seeds, A::Error> {
                let mut l = Vec::new();
                while let Some(s) = a.next_element()? {
                    l.push(s);
                }
                Ok(Seeds::List(l))
            }
        }
        d.deserialize_any(V)
    }
}

/// A sweep file (RON). Paths are relative to the file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SweepFile {
    /// The base scenario file.
    pub scenario: PathBuf,
    /// Fixed changes to the base before the axes.
    #[serde(default)]
    pub set: Vec<Setting>,
    /// The axes.
    #[serde(default)]
    pub axes: Vec<Axis>,
    /// `Grid` (every combination, the default) or `Zip`.
    #[serde(default)]
    pub combine: Combine,
    /// A count (seeds 1, 2, ...; default 3) or a list.
    #[serde(default)]
    pub seeds: Seeds,
    /// The variants to run (default: all of the scenario's).
    #[serde(default)]
    pub variants: Vec<String>,
}

/// What the command line adds to (or puts in place of) a sweep file.
#[derive(Debug, Clone, Default)]
pub struct SweepArgs {
    /// `--set`: more fixed changes, after the file's.
    pub set: Vec<Setting>,
    /// `--vary`: more axes, after the file's.
    pub vary: Vec<Axis>,
    /// `--zip`.
    pub zip: bool,
    /// `--seeds`, instead of the file's.
    pub seeds: Option<Seeds>,
    /// `--seed`: the first seed of a count.
    pub first_seed: u64,
    /// `--variant`, instead of the file's.
    pub variants: Vec<String>,
}

/// A resolved sweep: everything that decides its results, and nothing else (it goes into
/// each shard's manifest, so shards of different sweeps are never merged).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepDef {
    /// The base scenario's name.
    pub scenario: String,
    /// The base scenario with the settings applied, as a value tree.
    pub base: Value,
    /// The axes.
    pub axes: Vec<Axis>,
    /// How they combine.
    pub combine: Combine,
    /// The seeds of every point.
    pub seeds: Vec<u64>,
    /// The variants run, in the scenario's order.
    pub variants: Vec<String>,
    /// The files read (the sweep file if any, then the base scenario) and their sha256.
    pub files: Vec<InputFile>,
}

impl SweepDef {
    /// What `run.json` says was run; `shard` for one shard's directory.
    pub fn inputs(&self, shard: Option<Shard>) -> Inputs {
        Inputs::Sweep {
            input_files: self.files.clone(),
            axes: self
                .axes
                .iter()
                .map(|a| {
                    let values: Vec<String> = a.values.iter().map(|v| label(&v.0)).collect();
                    format!("{}={}", a.path, values.join(","))
                })
                .collect(),
            combine: format!("{:?}", self.combine),
            seeds: self.seeds.clone(),
            variants: self.variants.clone(),
            shard: shard.map(|s| format!("{}/{}", s.index, s.count)),
        }
    }

    /// Every point's value index on each axis, in point order (grid: the last axis fastest).
    pub fn points(&self) -> Vec<Vec<usize>> {
        match self.combine {
            Combine::Zip => {
                let n = self.axes.first().map_or(1, |a| a.values.len());
                (0..n).map(|i| vec![i; self.axes.len()]).collect()
            }
            Combine::Grid => {
                let mut points = vec![Vec::new()];
                for a in &self.axes {
                    points = points
                        .into_iter()
                        .flat_map(|p| {
                            (0..a.values.len()).map(move |i| {
                                let mut q = p.clone();
                                q.push(i);
                                q
                            })
                        })
                        .collect();
                }
                points
            }
        }
    }

    /// Every point's values as text, one per axis.
    pub fn labels(&self) -> Vec<Vec<String>> {
        self.points()
            .iter()
            .map(|p| {
                p.iter()
                    .zip(&self.axes)
                    .map(|(&i, a)| label(&a.values[i].0))
                    .collect()
            })
            .collect()
    }
}

/// One point: its scenario and the variants it runs.
#[derive(Debug, Clone)]
pub struct Point {
    /// The scenario with the point's values.
    pub scenario: Scenario,
    /// Its variants that the sweep runs.
    pub variants: Vec<Variant>,
}

/// A sweep ready to run: its definition, every point built and checked, and the warnings.
#[derive(Debug, Clone)]
pub struct Sweep {
    /// What decides the results.
    pub def: SweepDef,
    /// One per point, in point order.
    pub points: Vec<Point>,
    /// Axes that do not reach some variants and why, and the scenario's warnings at the
    /// points (each once).
    pub warnings: Vec<Warning>,
}

/// Why a sweep could not be set up, run, written or merged.
#[derive(Debug)]
pub enum SweepError {
    /// A command-line value or a combination of them.
    Arg(String),
    /// Located in a file (file, line, column, field): the sweep file, the base scenario, an
    /// axis's path into it.
    Scenario(ScenarioError),
    /// One point's values make a scenario that is refused.
    Point {
        /// The point.
        point: usize,
        /// Its values, `path=value ...`.
        values: String,
        /// The scenario's error.
        source: Box<ScenarioError>,
    },
    /// A run failed.
    Lab {
        /// What ran: point, values, seed, variant.
        run: String,
        /// The cause.
        source: LabError,
    },
    /// Runs that do not fit in the memory limit.
    Memory(String),
    /// Shard directories that cannot be merged.
    Merge(String),
    /// Reading or writing a file.
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
}

impl fmt::Display for SweepError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SweepError::Arg(m) | SweepError::Memory(m) | SweepError::Merge(m) => f.write_str(m),
            SweepError::Scenario(e) => write!(f, "{e}"),
            SweepError::Point {
                point,
                values,
                source,
            } => write!(f, "point {point} ({values}): {source}"),
            SweepError::Lab { run, source } => write!(f, "{run}: {source}"),
            SweepError::Io { path, source } => write!(f, "{}: {source}", path.display()),
        }
    }
}

impl std::error::Error for SweepError {}

/// Whether `text` is a sweep file rather than a scenario: its top level has `scenario:` (a
/// scenario has `name:`).
pub fn is_sweep_file(text: &str) -> bool {
    let fields = input::top_level_fields(text);
    fields.contains(&"scenario") && !fields.contains(&"name")
}

impl Sweep {
    /// Set up a sweep from `file` (a sweep file, or a scenario file the arguments sweep).
    ///
    /// # Errors
    /// A located error in the sweep file or the scenario, a path or value an axis cannot
    /// take, a point the scenario checks refuse.
    pub fn load(file: &Path, args: &SweepArgs) -> Result<Sweep, SweepError> {
        let located = |e: input::RonError| {
            SweepError::Scenario(ScenarioError {
                file: file.to_path_buf(),
                position: e.position,
                field: e.field,
                message: e.message,
            })
        };
        let bytes = std::fs::read(file).map_err(|source| SweepError::Io {
            path: file.to_path_buf(),
            source,
        })?;
        let text = input::decode(&bytes).map_err(located)?;
        let (scenario_path, spec) = if is_sweep_file(text) {
            let spec: SweepFile = input::parse_ron(text, 64).map_err(located)?;
            let dir = file.parent().unwrap_or(Path::new("."));
            (dir.join(&spec.scenario), Some(spec))
        } else {
            (file.to_path_buf(), None)
        };
        let base = Scenario::load(&scenario_path).map_err(SweepError::Scenario)?;
        let mut set = Vec::new();
        let mut axes = Vec::new();
        let mut combine = Combine::Grid;
        let mut seeds = Seeds::default();
        let mut variants = Vec::new();
        if let Some(f) = spec {
            set = f.set;
            axes = f.axes;
            combine = f.combine;
            seeds = f.seeds;
            variants = f.variants;
        }
        set.extend(args.set.iter().cloned());
        axes.extend(args.vary.iter().cloned());
        if args.zip {
            combine = Combine::Zip;
        }
        if let Some(s) = &args.seeds {
            seeds = s.clone();
        }
        if !args.variants.is_empty() {
            variants.clone_from(&args.variants);
        }
        let seeds = seeds.resolve(args.first_seed).map_err(SweepError::Arg)?;
        let mut sweep = Sweep::new(&scenario_path, &base, set, axes, combine, seeds, &variants)?;
        let mut read = vec![file.to_path_buf()];
        if scenario_path != file {
            read.push(scenario_path);
        }
        for f in read {
            let entry = InputFile::read(&f).map_err(|source| SweepError::Io { path: f, source })?;
            sweep.def.files.push(entry);
        }
        Ok(sweep)
    }

    /// Build the sweep of `base` (read from `origin`).
    ///
    /// # Errors
    /// As [`Sweep::load`].
    pub fn new(
        origin: &Path,
        base: &Scenario,
        set: Vec<Setting>,
        axes: Vec<Axis>,
        combine: Combine,
        seeds: Vec<u64>,
        only: &[String],
    ) -> Result<Sweep, SweepError> {
        let assigns: Vec<(&FieldPath, &Value)> =
            set.iter().map(|s| (&s.path, &s.value.0)).collect();
        let base = path::with_values(base, &assigns, origin).map_err(SweepError::Scenario)?;
        let mut seen = BTreeSet::new();
        for a in &axes {
            if !seen.insert(a.path.to_string()) {
                return Err(SweepError::Arg(format!(
                    "axis `{}` is given twice: put all its values in one",
                    a.path
                )));
            }
            if a.path.top() == "seed" {
                return Err(SweepError::Arg(
                    "`seed` is not an axis: the seeds are the sweep's own (--seeds, `seeds:`)"
                        .into(),
                ));
            }
            if a.values.is_empty() {
                return Err(SweepError::Arg(format!("axis `{}` has no values", a.path)));
            }
            // The path alone, with the first value: a path error once, not per point.
            let mut tree =
                serde_json::to_value(&base).map_err(|e| SweepError::Arg(e.to_string()))?;
            path::set(&mut tree, &a.path, a.values[0].0.clone()).map_err(|m| {
                SweepError::Scenario(ScenarioError {
                    file: origin.to_path_buf(),
                    position: None,
                    field: a.path.to_string(),
                    message: m,
                })
            })?;
        }
        if combine == Combine::Zip {
            if let Some(a) = axes.iter().find(|a| a.values.len() != axes[0].values.len()) {
                return Err(SweepError::Arg(format!(
                    "--zip pairs the i-th values of all axes, but `{}` has {} values and `{}` has {}",
                    axes[0].path,
                    axes[0].values.len(),
                    a.path,
                    a.values.len()
                )));
            }
        }
        let all: Vec<String> = base.variant_list().into_iter().map(|v| v.name).collect();
        if let Some(bad) = only.iter().find(|n| !all.contains(n)) {
            return Err(SweepError::Arg(format!(
                "{} has no variant {bad:?}; its variants: {}",
                origin.display(),
                all.join(", ")
            )));
        }
        let variants: Vec<String> = all
            .into_iter()
            .filter(|n| only.is_empty() || only.contains(n))
            .collect();
        let mut warnings = Vec::new();
        for a in &axes {
            for (v, why) in path::overridden_by(&base, &a.path) {
                if variants.contains(&v) {
                    warnings.push(Warning {
                        file: origin.to_path_buf(),
                        position: None,
                        field: a.path.to_string(),
                        message: format!(
                            "this axis does not reach variant `{v}`: {why} (vary `variants[{v}].{}` for it)",
                            a.path
                        ),
                    });
                }
            }
        }
        let def = SweepDef {
            scenario: base.name.clone(),
            base: serde_json::to_value(&base).map_err(|e| SweepError::Arg(e.to_string()))?,
            axes,
            combine,
            seeds,
            variants,
            files: Vec::new(),
        };
        let point_values = def.points();
        let runs = point_values.len() * def.seeds.len() * def.variants.len();
        if runs > MAX_RUNS {
            return Err(SweepError::Arg(format!(
                "{} points x {} seeds x {} variants = {runs} runs: at most {MAX_RUNS}; shard it over several machines or use fewer values",
                point_values.len(),
                def.seeds.len(),
                def.variants.len()
            )));
        }
        let mut points = Vec::with_capacity(point_values.len());
        for (p, idx) in point_values.iter().enumerate() {
            let assigns: Vec<(&FieldPath, &Value)> = idx
                .iter()
                .zip(&def.axes)
                .map(|(&i, a)| (&a.path, &a.values[i].0))
                .collect();
            let scenario =
                path::with_values(&base, &assigns, origin).map_err(|source| SweepError::Point {
                    point: p,
                    values: point_text(&assigns),
                    source: Box::new(source),
                })?;
            let variants: Vec<Variant> = scenario
                .variant_list()
                .into_iter()
                .filter(|v| def.variants.contains(&v.name))
                .collect();
            if variants.len() != def.variants.len() {
                return Err(SweepError::Point {
                    point: p,
                    values: point_text(&assigns),
                    source: Box::new(ScenarioError {
                        file: origin.to_path_buf(),
                        position: None,
                        field: "variants".into(),
                        message: format!("the point's variants are not the sweep's ({}): vary a variant's fields, not its name", def.variants.join(", ")),
                    }),
                });
            }
            for w in &scenario.warnings {
                if !warnings
                    .iter()
                    .any(|o| (&o.field, &o.message) == (&w.field, &w.message))
                {
                    warnings.push(w.clone());
                }
            }
            points.push(Point { scenario, variants });
        }
        Ok(Sweep {
            def,
            points,
            warnings,
        })
    }

    /// The number of runs of the points `shard` takes.
    pub fn runs(&self, shard: Shard) -> usize {
        (0..self.points.len()).filter(|&p| shard.has(p)).count()
            * self.def.seeds.len()
            * self.def.variants.len()
    }
}

/// `path=value ...` of one point.
fn point_text(assigns: &[(&FieldPath, &Value)]) -> String {
    assigns
        .iter()
        .map(|(p, v)| format!("{p}={}", label(v)))
        .collect::<Vec<_>>()
        .join(" ")
}

/// `--shard I/N`: the points `p` with `p mod N = I` (0-based `I`, as Kubernetes'
/// `JOB_COMPLETION_INDEX` and Slurm's `--array=0-(N-1)` count). The split depends on nothing
/// but `p` and `N`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    /// This shard, 0-based.
    pub index: usize,
    /// How many there are.
    pub count: usize,
}

impl Shard {
    /// The whole sweep as one shard.
    pub const ALL: Shard = Shard { index: 0, count: 1 };

    /// Whether point `p` is this shard's.
    pub fn has(self, p: usize) -> bool {
        p % self.count == self.index
    }
}

impl FromStr for Shard {
    type Err = String;

    fn from_str(text: &str) -> Result<Shard, String> {
        let bad = |why: String| {
            format!("--shard {text}: {why}; write I/N with 0 <= I < N, e.g. --shard \"$JOB_COMPLETION_INDEX/4\" (Kubernetes Indexed Job) or \"$SLURM_ARRAY_TASK_ID/4\" (sbatch --array=0-3)")
        };
        let (i, n) = text.split_once('/').ok_or_else(|| bad("no `/`".into()))?;
        let index: usize = i
            .trim()
            .parse()
            .map_err(|_| bad(format!("{i:?} is not an index")))?;
        let count: usize = n
            .trim()
            .parse()
            .map_err(|_| bad(format!("{n:?} is not a count")))?;
        if count == 0 || index >= count {
            return Err(bad(format!(
                "index {index} of {count} shards (0-based: 0 to {})",
                count.saturating_sub(1)
            )));
        }
        Ok(Shard { index, count })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commas_inside_values_stay() {
        assert_eq!(
            split_top_level(r#"3s,(a: 1, b: "x,y"),[1,2], 9s"#),
            vec!["3s", r#"(a: 1, b: "x,y")"#, "[1,2]", " 9s"]
        );
    }

    #[test]
    fn axes_and_seeds_from_the_command_line() {
        let a: Axis = "bgp.router_hold_time=3s,9s".parse().unwrap();
        assert_eq!(a.values.len(), 2);
        assert_eq!(label(&a.values[1].0), "9s");
        assert!("bgp.router_hold_time".parse::<Axis>().is_err());
        assert!("bgp.router_hold_time=".parse::<Axis>().is_err());
        assert_eq!("5".parse(), Ok(Seeds::Count(5)));
        assert_eq!("1,2,7".parse(), Ok(Seeds::List(vec![1, 2, 7])));
        assert_eq!(Seeds::Count(3).resolve(10), Ok(vec![10, 11, 12]));
        assert!(Seeds::List(vec![1, 1]).resolve(1).is_err());
        assert!(Seeds::Count(0).resolve(1).is_err());
    }

    #[test]
    fn grid_runs_the_last_axis_fastest_and_zip_pairs() {
        let axis = |p: &str, n: usize| Axis {
            path: p.parse().unwrap(),
            values: (0..n).map(|i| RonValue(Value::from(i))).collect(),
        };
        let mut def = SweepDef {
            scenario: "s".into(),
            base: Value::Null,
            axes: vec![axis("a", 2), axis("b", 3)],
            combine: Combine::Grid,
            seeds: vec![1],
            variants: vec!["base".into()],
            files: Vec::new(),
        };
        assert_eq!(
            def.points(),
            vec![
                vec![0, 0],
                vec![0, 1],
                vec![0, 2],
                vec![1, 0],
                vec![1, 1],
                vec![1, 2]
            ]
        );
        def.axes = vec![axis("a", 3), axis("b", 3)];
        def.combine = Combine::Zip;
        assert_eq!(def.points(), vec![vec![0, 0], vec![1, 1], vec![2, 2]]);
        def.axes.clear();
        def.combine = Combine::Grid;
        assert_eq!(def.points(), vec![Vec::<usize>::new()]);
    }

    #[test]
    fn shards_split_by_point_index() {
        let s: Shard = "1/3".parse().unwrap();
        let mine: Vec<usize> = (0..8).filter(|&p| s.has(p)).collect();
        assert_eq!(mine, vec![1, 4, 7]);
        for bad in ["3/3", "0/0", "1", "a/2", "-1/2"] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
    }
}
