//! `sim`: run scenarios, validate them, and ask ECMP what-if questions.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use bgp::ecmp::{HashFields, HashFunction, Selection};
use clap::{Parser, Subcommand};
use lbsim::cost::{self, Assumptions, Limits};
use lbsim::hashcalc::{self, Change, HashQuestion, Position};
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

/// The resource limits a command is checked against before it starts.
#[derive(clap::Args, Clone, Copy)]
struct LimitArgs {
    /// Refuse what the estimate says needs more memory than this, e.g. 8GiB (default 16GiB).
    #[arg(long, value_name = "SIZE", value_parser = cost::parse_bytes)]
    max_memory: Option<u64>,
    /// Refuse what the estimate says handles more events than this, e.g. 2e10 (default 1e10).
    #[arg(long, value_name = "N", value_parser = cost::parse_count)]
    max_events: Option<u64>,
}

impl LimitArgs {
    fn limits(self) -> Limits {
        let d = Limits::default();
        Limits {
            max_memory: self.max_memory.unwrap_or(d.max_memory),
            max_events: self.max_events.unwrap_or(d.max_events),
        }
    }
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
        #[command(flatten)]
        limits: LimitArgs,
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
        #[command(flatten)]
        limits: LimitArgs,
    },
    /// Check scenario files without running them.
    Validate {
        /// Scenario files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Print each file's cost estimate: events, requests, memory and output per variant.
        #[arg(long)]
        cost: bool,
        #[command(flatten)]
        limits: LimitArgs,
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
            limits,
        } => run(file, seed, out, pcap, limits.limits()),
        Command::Suite {
            dir,
            out,
            iterations,
            seed,
            limits,
        } => suite(&dir, out, iterations, seed, limits.limits()),
        Command::Validate {
            files,
            cost,
            limits,
        } => validate(&files, cost, limits.limits()),
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
    limits: Limits,
) -> Result<(), String> {
    let wall = Instant::now();
    let assume = Assumptions {
        capture: pcap.is_some(),
        ..Assumptions::default()
    };
    let (scenario, estimate) = cost::load(&file, &limits, &assume).map_err(|e| e.to_string())?;
    let seed = seed.unwrap_or(scenario.seed);
    // With --out, per-request results streams (vegeta's CSV) go straight into the directory.
    let opts = lbsim::lab::RunOptions {
        capture: pcap.is_some(),
        stream_dir: out.clone(),
        progress: Some(Default::default()),
        max_events: Some(limits.max_events),
    };
    let results = with_progress(&estimate, opts.progress.clone(), || {
        runner::run_all_opts(&scenario, seed, &opts)
    })
    .map_err(|e| e.to_string())?;
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

/// Seconds of estimated work above which a run shows a progress bar.
const PROGRESS_AFTER_S: f64 = 3.0;

/// Run `work`, showing on a terminal (stderr, never a pipe or a CI log) how many of the
/// estimated events `counter` has seen, when the estimate says it takes a while. The bar only
/// reads the counter: it cannot change a result.
fn with_progress<T>(
    estimate: &cost::Estimate,
    counter: Option<std::sync::Arc<std::sync::atomic::AtomicU64>>,
    work: impl FnOnce() -> T,
) -> T {
    use std::io::IsTerminal;
    use std::sync::atomic::{AtomicBool, Ordering};
    let (Some(counter), true) = (
        counter,
        std::io::stderr().is_terminal() && estimate.wall_seconds() > PROGRESS_AFTER_S,
    ) else {
        return work();
    };
    let total = estimate.events().min(u64::MAX as f64) as u64;
    let bar = indicatif::ProgressBar::new(total);
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{elapsed_precise} [{bar:40}] {percent:>3}% of ~{human_len} events, eta {eta}",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    let done = AtomicBool::new(false);
    let result = std::thread::scope(|scope| {
        scope.spawn(|| {
            while !done.load(Ordering::Relaxed) {
                let seen = counter.load(Ordering::Relaxed);
                bar.set_length(total.max(seen));
                bar.set_position(seen);
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
        });
        let result = work();
        done.store(true, Ordering::Relaxed);
        result
    });
    bar.finish_and_clear();
    result
}

fn suite(
    dir: &std::path::Path,
    out: Option<PathBuf>,
    iterations: Option<u32>,
    seed: u64,
    limits: Limits,
) -> Result<(), String> {
    use std::io::IsTerminal;
    let wall = Instant::now();
    let loaded = suite::Suite::load(dir).map_err(|e| e.to_string())?;
    if iterations == Some(0) {
        return Err("--iterations must be at least 1".into());
    }
    let opts = suite::SuiteOptions {
        iterations,
        first_seed: seed,
    };
    let estimate = cost::estimate_suite(&loaded, &opts, &Assumptions::default());
    cost::check(&estimate, &limits).map_err(|r| {
        let test = &loaded.file.tests[r.source];
        let base = loaded.path.parent().unwrap_or(std::path::Path::new("."));
        let e = cost::located(&base.join(&test.scenario), r);
        format!("test {}: {e}", test.name)
    })?;
    // A progress bar only for a person watching: never in CI logs or pipes.
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::new(suite::job_count(&loaded, &opts) as u64);
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
    let run = suite::run(&loaded, &opts, &tick);
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    let run = run.map_err(|e| e.to_string())?;
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

/// The process's peak resident set (VmHWM), where /proc tells it.
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

fn validate(files: &[PathBuf], show_cost: bool, limits: Limits) -> Result<(), String> {
    let mut failed = 0;
    for f in files {
        match cost::load(f, &limits, &Assumptions::default()) {
            Ok((s, estimate)) => {
                let n = s.variant_list().len();
                outln!(
                    "{}: ok ({} variant{}; about {} events, peak memory {})",
                    f.display(),
                    n,
                    if n == 1 { "" } else { "s" },
                    cost::count(estimate.events()),
                    cost::bytes(estimate.peak_memory())
                );
                if show_cost {
                    out!("{}", estimate.table());
                }
            }
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
