//! `sim`: run scenarios, validate them, and ask ECMP what-if questions.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use bgp::ecmp::{HashFields, HashFunction, Selection};
use clap::{Parser, Subcommand};
use lbsim::hashcalc::{self, Change, HashQuestion, Position};
use lbsim::scenario::Scenario;
use lbsim::{output, report, runner, suite};
use sim_core::SimDuration;

#[derive(Parser)]
#[command(
    name = "sim",
    version,
    about = "lbsim: a deterministic lab simulator of MetalLB L2 and BGP load balancing"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a scenario: tables on the terminal, CSV with --out.
    Run {
        /// The scenario file (RON).
        file: PathBuf,
        /// Master seed (overrides the scenario's).
        #[arg(long)]
        seed: Option<u64>,
        /// Write summary.csv, timeseries.csv, connections.csv, changes.csv, events.csv, nodes.csv here.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Capture the control plane (BGP, BFD) to this pcap file; with several variants, one
        /// file per variant named <stem>-<variant>.pcap.
        #[arg(long)]
        pcap: Option<PathBuf>,
    },
    /// Run a benchmark suite (e.g. scenarios/blog): every test x iteration x variant on all
    /// cores; the latency, throughput-by-clients and failover tables, mean ± 95 % CI.
    Suite {
        /// The suite directory (holding suite.ron) or a suite file.
        dir: PathBuf,
        /// Write OUT/<test>/seed-<S>/ (CSV and tool files), the first iteration's tool files
        /// under their own names in OUT/, and OUT/suite.csv.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Iterations (overrides the suite file's).
        #[arg(long)]
        iterations: Option<u32>,
        /// Seed of the first iteration; iteration k runs seed S + k - 1.
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Sweep a scenario over field values (--vary, or a sweep file): every point x seed x
    /// variant on all cores; sweep.csv and mean ± 95 % CI per point. `sim sweep merge`
    /// combines shards.
    #[command(args_conflicts_with_subcommands = true)]
    Sweep {
        #[command(subcommand)]
        merge: Option<SweepCommand>,
        #[command(flatten)]
        args: Option<SweepRunArgs>,
    },
    /// Check scenario files without running them.
    Validate {
        /// Scenario files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// ECMP what-if: how many flows move when one of N next hops leaves or joins.
    Hash {
        /// Header fields: l3, 3-tuple, 5-tuple.
        #[arg(long, default_value = "5-tuple")]
        fields: HashFields,
        /// Hash function: crc16, crc32, xor-fold, toeplitz, linux.
        #[arg(long = "hash", default_value = "linux")]
        function: HashFunction,
        /// Hash seed (for linux: net.ipv4.fib_multipath_hash_seed).
        #[arg(long, default_value_t = 0x5eed)]
        seed: u32,
        /// Selection: modulo, hash-threshold, resilient, maglev, rendezvous.
        #[arg(long, default_value = "hash-threshold")]
        selection: Selection,
        /// Resilient: bucket count.
        #[arg(long)]
        buckets: Option<u16>,
        /// Resilient: idle timer, e.g. "0s", "120s".
        #[arg(long)]
        idle_timer: Option<SimDuration>,
        /// Maglev: table size (prime).
        #[arg(long)]
        table_size: Option<u32>,
        /// Next hops before the change.
        #[arg(short = 'n', long, default_value_t = 6)]
        nexthops: usize,
        /// Which next hop leaves: first, middle, last or a 1-based index.
        #[arg(long, conflicts_with = "add")]
        remove: Option<Position>,
        /// Where a new next hop joins: first, middle, last or a 1-based index.
        #[arg(long)]
        add: Option<Position>,
        /// Random flows to examine.
        #[arg(short = 'f', long, default_value_t = 100_000)]
        flows: usize,
        /// Seed of the random flows.
        #[arg(long, default_value_t = 1)]
        flow_seed: u64,
        /// Real flows instead: CSV with columns src,dst,proto,sport,dport (e.g. from a conntrack dump).
        #[arg(long = "flows-file", value_name = "FILE.csv")]
        flows_file: Option<PathBuf>,
        /// Write each flow's next hop before and after to this CSV.
        #[arg(long = "per-flow", value_name = "OUT.csv")]
        per_flow: Option<PathBuf>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum SweepCommand {
    /// Combine shard directories (`--shard I/N --out DIR`) into exactly the sweep.csv an
    /// unsharded run writes.
    Merge {
        /// Shard directories, or directories holding them.
        #[arg(required = true)]
        dirs: Vec<PathBuf>,
        /// Write sweep.csv here.
        #[arg(long)]
        out: PathBuf,
        /// Terminal columns: metrics of sweep.csv (default: failover, latency, throughput, errors).
        #[arg(long = "metric")]
        metrics: Vec<String>,
        /// Print one JSON document instead of the table.
        #[arg(long)]
        json: bool,
    },
}

#[derive(clap::Args)]
struct SweepRunArgs {
    /// A sweep file (RON: scenario, axes, seeds), or a scenario file to sweep with --vary.
    file: PathBuf,
    /// An axis: a field as the scenario's errors spell it and its values, written as in the
    /// scenario file (e.g. bgp.router_hold_time=3s,9s or 'variants[frr-bfd].bgp.bfd.detect_multiplier=3,4').
    #[arg(long, value_name = "PATH=V1,V2,...")]
    vary: Vec<lbsim::sweep::Axis>,
    /// Pair the axes' i-th values instead of a grid of every combination.
    #[arg(long)]
    zip: bool,
    /// A fixed change to the base scenario before the axes, e.g. 'bgp.bfd=(detect_multiplier: 3)'.
    #[arg(long, value_name = "PATH=VALUE")]
    set: Vec<lbsim::sweep::Setting>,
    /// Seeds per point: a count (5: seeds S..S+4) or a list (1,2,7); default 3 (or the file's).
    #[arg(long)]
    seeds: Option<lbsim::sweep::Seeds>,
    /// The first seed of a count.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Run only this variant (repeatable); default all (or the file's).
    #[arg(long = "variant")]
    variants: Vec<String>,
    /// Run only shard I of N (0-based: $JOB_COMPLETION_INDEX, $SLURM_ARRAY_TASK_ID); needs --out.
    #[arg(long, value_name = "I/N")]
    shard: Option<lbsim::sweep::Shard>,
    /// Write sweep.csv here (with --shard, also shard.json for `sim sweep merge`).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Terminal columns: metrics of sweep.csv (default: failover, latency, throughput, errors).
    #[arg(long = "metric")]
    metrics: Vec<String>,
    /// Memory the runs in flight may use together, e.g. 8GiB (default: what the system has
    /// available); fewer run at once rather than exceed it.
    #[arg(long, value_parser = lbsim::sweep::budget::parse_size)]
    max_memory: Option<u64>,
    /// Print one JSON document instead of the table.
    #[arg(long)]
    json: bool,
}

/// `print!`, except that a reader that went away (`sim run ... | head`) ends the program
/// quietly instead of panicking, and other write errors are returned.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if let Err(e) = write!(std::io::stdout().lock(), $($arg)*) {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                std::process::exit(0);
            }
            return Err(format!("writing to stdout: {e}"));
        }
    }};
}

/// [`out!`] with a newline.
macro_rules! outln {
    ($($arg:tt)*) => {{
        out!($($arg)*);
        out!("\n");
    }};
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run {
            file,
            seed,
            out,
            pcap,
        } => run(file, seed, out, pcap),
        Command::Suite {
            dir,
            out,
            iterations,
            seed,
        } => suite(&dir, out, iterations, seed),
        Command::Sweep { merge, args } => match (merge, args) {
            (
                Some(SweepCommand::Merge {
                    dirs,
                    out,
                    metrics,
                    json,
                }),
                _,
            ) => sweep_merge(&dirs, &out, &metrics, json),
            (None, Some(a)) => sweep(a),
            (None, None) => Err("sim sweep FILE [--vary PATH=V1,V2,...] or sim sweep merge DIR... --out OUT (see --help)".into()),
        },
        Command::Validate { files } => validate(&files),
        Command::Hash {
            fields,
            function,
            seed,
            mut selection,
            buckets,
            idle_timer,
            table_size,
            nexthops,
            remove,
            add,
            flows,
            flow_seed,
            flows_file,
            per_flow,
            json,
        } => {
            if let Selection::Resilient {
                buckets: b,
                idle_timer: t,
                ..
            } = &mut selection
            {
                *b = buckets.unwrap_or(*b);
                *t = idle_timer.unwrap_or(*t);
            }
            if let Selection::Maglev { table_size: s } = &mut selection {
                *s = table_size.unwrap_or(*s);
            }
            let change = match add {
                Some(p) => Change::Add(p),
                None => Change::Remove(remove.unwrap_or(Position::First)),
            };
            let q = HashQuestion {
                fields,
                function,
                seed,
                selection,
                next_hops: nexthops,
                change,
                flows,
                flow_seed,
                flows_file,
            };
            hash(&q, per_flow, json)
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("error: {msg}");
            ExitCode::FAILURE
        }
    }
}

fn run(
    file: PathBuf,
    seed: Option<u64>,
    out: Option<PathBuf>,
    pcap: Option<PathBuf>,
) -> Result<(), String> {
    let wall = Instant::now();
    let scenario = Scenario::load(&file).map_err(|e| e.to_string())?;
    let seed = seed.unwrap_or(scenario.seed);
    // With --out, per-request results streams (vegeta's CSV) go straight into the directory.
    let opts = lbsim::lab::RunOptions {
        capture: pcap.is_some(),
        stream_dir: out.clone(),
    };
    let results = runner::run_all_opts(&scenario, seed, &opts).map_err(|e| e.to_string())?;
    out!("{}", report::tables(&scenario, &results));
    if let Some(dir) = &out {
        output::write_all(dir, &results).map_err(|e| format!("writing {}: {e}", dir.display()))?;
        outln!("\nwrote summary.csv timeseries.csv connections.csv changes.csv events.csv nodes.csv to {}", dir.display());
    }
    if let Some(p) = &pcap {
        let files = output::write_pcaps(p, &results)
            .map_err(|e| format!("writing {}: {e}", p.display()))?;
        if files.is_empty() {
            outln!("\nno pcap written: the scenario has no bgp section, so no control plane ran");
        }
        for f in files {
            outln!("wrote {}", f.display());
        }
    }
    let all: Vec<&lbsim::lab::RunResult> = results.iter().collect();
    let line = report::closing_line(
        &all,
        "variant",
        wall.elapsed().as_secs_f64(),
        peak_rss_mib(),
    );
    outln!("\n{line}");
    Ok(())
}

fn suite(
    dir: &std::path::Path,
    out: Option<PathBuf>,
    iterations: Option<u32>,
    seed: u64,
) -> Result<(), String> {
    let wall = Instant::now();
    let loaded = suite::Suite::load(dir).map_err(|e| e.to_string())?;
    if iterations == Some(0) {
        return Err("--iterations must be at least 1".into());
    }
    let opts = suite::SuiteOptions {
        iterations,
        first_seed: seed,
    };
    let run = with_progress(suite::job_count(&loaded, &opts), |tick| {
        suite::run(&loaded, &opts, tick)
    })
    .map_err(|e| e.to_string())?;
    let agg = suite::Aggregate::of(&loaded, &run);
    out!("{}", suite::tables(&loaded, &run, &agg));
    if let Some(dir) = &out {
        suite::write_out(dir, &loaded, &run, &agg).map_err(|e| e.to_string())?;
        outln!(
            "\nwrote suite.csv, the first iteration's tool files, and <test>/seed-<S>/ for {} tests to {}",
            run.tests.len(),
            dir.display()
        );
    }
    let runs: Vec<&lbsim::lab::RunResult> = run.runs().collect();
    let line = report::closing_line(&runs, "run", wall.elapsed().as_secs_f64(), peak_rss_mib());
    outln!("\n{line}");
    Ok(())
}

fn sweep(a: SweepRunArgs) -> Result<(), String> {
    use lbsim::sweep::{budget, run, table, Shard, Sweep, SweepArgs};
    let wall = Instant::now();
    if a.shard.is_some() && a.out.is_none() {
        return Err("--shard needs --out DIR: the shard directory `sim sweep merge` reads".into());
    }
    let args = SweepArgs {
        set: a.set,
        vary: a.vary,
        zip: a.zip,
        seeds: a.seeds,
        first_seed: a.seed,
        variants: a.variants,
    };
    let sweep = Sweep::load(&a.file, &args).map_err(|e| e.to_string())?;
    for w in &sweep.warnings {
        eprintln!("warning: {w}");
    }
    let shard = a.shard.unwrap_or(Shard::ALL);
    let plan = run::RunPlan {
        shard,
        memory_limit: a.max_memory.or_else(budget::available_bytes),
        ..run::RunPlan::default()
    };
    let done = with_progress(sweep.runs(shard), |tick| run::run(&sweep, &plan, tick))
        .map_err(|e| e.to_string())?;
    let summary = table::summarize(&done.records);
    if a.json {
        outln!(
            "{}",
            table::json(&sweep.def, shard, &done.records, &summary)
        );
    } else {
        out!("{}", table::render(&sweep.def, &summary, &a.metrics)?);
    }
    if let Some(dir) = &a.out {
        let sharded = a.shard.is_some().then_some(shard);
        table::write_dir(dir, &sweep.def, sharded, &done.records).map_err(|e| e.to_string())?;
        let what = match a.shard {
            Some(s) => format!(
                "shard {}/{} ({} of {} points): {} and {}",
                s.index,
                s.count,
                (0..sweep.points.len()).filter(|&p| s.has(p)).count(),
                sweep.points.len(),
                table::CSV_FILE,
                table::SHARD_FILE
            ),
            None => table::CSV_FILE.to_string(),
        };
        let line = format!("wrote {what} to {}", dir.display());
        if a.json {
            eprintln!("{line}");
        } else {
            outln!("\n{line}");
        }
    }
    let line = report::closing_line_of(
        done.totals,
        "run",
        wall.elapsed().as_secs_f64(),
        peak_rss_mib(),
    );
    let line = format!("{line}; at most {} runs in flight", done.in_flight);
    if a.json {
        eprintln!("{line}");
    } else {
        outln!("\n{line}");
    }
    Ok(())
}

fn sweep_merge(
    dirs: &[PathBuf],
    out: &std::path::Path,
    metrics: &[String],
    json: bool,
) -> Result<(), String> {
    use lbsim::sweep::{table, Shard};
    let (def, records) = table::merge(dirs).map_err(|e| e.to_string())?;
    let summary = table::summarize(&records);
    table::write_dir(out, &def, None, &records).map_err(|e| e.to_string())?;
    if json {
        outln!("{}", table::json(&def, Shard::ALL, &records, &summary));
        eprintln!("wrote {} to {}", table::CSV_FILE, out.display());
    } else {
        out!("{}", table::render(&def, &summary, metrics)?);
        outln!("\nwrote {} to {}", table::CSV_FILE, out.display());
    }
    Ok(())
}

/// Run `f` with a progress bar of `runs` on stderr, ticked once per finished run, only for a
/// person watching: never in CI logs or pipes.
fn with_progress<T>(runs: usize, f: impl FnOnce(&(dyn Fn() + Sync)) -> T) -> T {
    use std::io::IsTerminal;
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::new(runs as u64);
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{elapsed_precise} [{bar:40}] {pos}/{len} runs, eta {eta}",
        ) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar
    });
    let tick = || {
        if let Some(b) = &bar {
            b.inc(1);
        }
    };
    let out = f(&tick);
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    out
}

/// The process's peak resident set (VmHWM), where /proc tells it.
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

fn validate(files: &[PathBuf]) -> Result<(), String> {
    let mut failed = 0;
    for f in files {
        match Scenario::load(f) {
            Ok(s) => outln!(
                "{}: ok ({} variant{})",
                f.display(),
                s.variant_list().len(),
                if s.variant_list().len() == 1 { "" } else { "s" }
            ),
            Err(e) => {
                eprintln!("{e}");
                failed += 1;
            }
        }
    }
    if failed > 0 {
        return Err(format!(
            "{failed} of {} scenario files are invalid",
            files.len()
        ));
    }
    Ok(())
}

fn hash(q: &HashQuestion, per_flow: Option<PathBuf>, json: bool) -> Result<(), String> {
    let (answer, rows) = hashcalc::answer(q).map_err(|e| e.to_string())?;
    if let Some(p) = per_flow {
        hashcalc::write_per_flow(&p, &rows).map_err(|e| format!("writing {}: {e}", p.display()))?;
    }
    if json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&answer).map_err(|e| e.to_string())?
        );
    } else {
        out!("{}", hashcalc::render(&answer));
    }
    Ok(())
}
