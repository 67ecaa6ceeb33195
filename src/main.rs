//! `sim`: run scenarios, validate them, and ask ECMP what-if questions.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use bgp::ecmp::{HashFields, HashFunction, HashSource, RssKey, Selection};
use clap::{Parser, Subcommand};
use lbsim::cost::{self, Assumptions, Limits};
use lbsim::hashcalc::{self, Change, HashQuestion, Position};
use lbsim::outdir::{self, OutDir};
use lbsim::validate::{self, Checked};
use lbsim::{manifest, output, report, runner, suite};
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

/// The resource limits a command is checked against before it starts (docs/cost.md).
#[derive(clap::Args, Clone, Copy)]
struct LimitArgs {
    /// Refuse what the cost estimate says needs more memory than this, e.g. 8GiB (default
    /// 16GiB).
    #[arg(long, value_name = "SIZE", value_parser = lbsim::sweep::budget::parse_size)]
    max_memory: Option<u64>,
    /// Refuse what the cost estimate says handles more events than this, e.g. 2e10 (default
    /// 1e10).
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
        /// Write the CSVs (docs/outputs.md), openmetrics.txt, the tool files and last run.json
        /// here. DIR must be new, empty or an earlier lbsim output, which is replaced whole.
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Print one JSON document (the tables' content) on stdout instead of the tables;
        /// everything else goes to stderr.
        #[arg(long)]
        json: bool,
        /// Unix time (seconds) of simulated time 0 in openmetrics.txt.
        #[arg(long, value_name = "SECONDS", default_value_t = lbsim::openmetrics::DEFAULT_EPOCH_S)]
        epoch: u64,
        /// Capture the control plane (BGP, BFD, ARP): into DIR/<variant>.pcap when this is a
        /// directory (existing, or ending in /); else to this file, with several variants one
        /// file per variant named <stem>-<variant>.pcap beside it.
        #[arg(long, value_name = "FILE|DIR")]
        pcap: Option<PathBuf>,
        /// With --out: also write DIR/report.html (charts and tables, docs/report.md), listed
        /// in run.json.
        #[arg(long, requires = "out")]
        report: bool,
        #[command(flatten)]
        limits: LimitArgs,
    },
    /// Run a benchmark suite (e.g. scenarios/blog): every test x iteration x variant on all
    /// cores; the latency, throughput-by-clients and failover tables, mean ± 95 % CI.
    Suite {
        /// The suite directory (holding suite.ron) or a suite file.
        dir: PathBuf,
        /// Write OUT/<test>/seed-<S>/ (CSV and tool files), the first iteration's tool files
        /// under their own names in OUT/, OUT/suite.csv and last OUT/run.json. OUT must be new,
        /// empty or an earlier lbsim output, which is replaced whole.
        #[arg(long, value_name = "OUT")]
        out: Option<PathBuf>,
        /// Print one JSON document (suite.csv's rows) on stdout instead of the tables;
        /// everything else goes to stderr.
        #[arg(long)]
        json: bool,
        /// Unix time (seconds) of simulated time 0 in each run's openmetrics.txt.
        #[arg(long, value_name = "SECONDS", default_value_t = lbsim::openmetrics::DEFAULT_EPOCH_S)]
        epoch: u64,
        /// Iterations (overrides the suite file's).
        #[arg(long)]
        iterations: Option<u32>,
        /// Seed of the first iteration; iteration k runs seed S + k - 1.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// With --out: also write OUT/report.html (charts and tables, docs/report.md), listed
        /// in run.json.
        #[arg(long, requires = "out")]
        report: bool,
        #[command(flatten)]
        limits: LimitArgs,
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
    /// Write DIR/report.html: one self-contained HTML page of charts and tables (docs/report.md)
    /// for the --out directory of `sim run`, `sim suite` or `sim sweep`, or a directory with a
    /// compare.csv; listed in DIR/run.json when DIR is a complete output.
    Report {
        /// The directory.
        dir: PathBuf,
        /// Write the page here instead of DIR/report.html.
        #[arg(short = 'o', long = "output", value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Check that an output directory (--out) is complete: run.json present, no INCOMPLETE
    /// marker, every file as run.json lists it (size and sha256).
    Verify {
        /// The output directory.
        dir: PathBuf,
    },
    /// Check scenario and suite files without running them (warnings go to stderr).
    Validate {
        /// Scenario files, suite files (suite.ron, or any file with `tests`) or suite
        /// directories.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Print each file's cost estimate: events, requests, memory and output per run, and
        /// the largest items with the field each is blamed on.
        #[arg(long)]
        cost: bool,
        #[command(flatten)]
        limits: LimitArgs,
    },
    /// Derive a scenario from a real-cluster profile (docs/profile.md): every value with its
    /// evidence, defaults said so.
    Profile {
        /// The profile directory (e.g. reallab/profiles/calib).
        dir: PathBuf,
        /// Write the scenario here (default: print it on stdout after the evidence).
        #[arg(short = 'o', long, value_name = "scenario.ron")]
        out: Option<PathBuf>,
        /// Take the cluster's shape (lab.json) and the fault timeline (faults.csv) from this
        /// profile instead: derive from one run, replay another's experiment.
        #[arg(long, value_name = "DIR")]
        experiment: Option<PathBuf>,
    },
    /// Compare a real cluster's profile (or an lbsim output) with lbsim's output, metric by
    /// metric (docs/compare.md); exit status 1 when a predicted metric is out of tolerance.
    Compare {
        /// The real side: a profile directory (docs/profile.md) or an lbsim output.
        real_dir: PathBuf,
        /// `sim run --out` or `sim suite --out` (every seed); its run.json must verify.
        sim_dir: PathBuf,
        /// METRIC[/VARIANT]=X with X 10%, 20ms, 10%+20ms, 3se or range10% (repeatable).
        #[arg(long, value_name = "METRIC=X", value_parser = lbsim::compare::parse_tolerance)]
        tolerance: Vec<(String, lbsim::compare::Tolerance)>,
        /// Print one JSON document instead of the table.
        #[arg(long)]
        json: bool,
        /// Write compare.csv into this directory (default: SIM_DIR).
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
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
        /// What a forwarding Linux router hashes with policy 1 (5-tuple, linux): flow-keys
        /// (what `ip route get` computes), nic-rss (the NIC's Toeplitz hash of the TCP
        /// 4-tuple, key from --rss-key) or socket-txhash (the sender's random per-connection
        /// hash, kept across a veth; drawn per flow from --flow-seed).
        #[arg(long, default_value = "flow-keys")]
        hash_source: HashSource,
        /// The NIC's RSS key with --hash-source nic-rss, as `ethtool -x <if>` prints it (40
        /// colon-separated hex bytes); default: the Microsoft key many drivers ship.
        #[arg(long)]
        rss_key: Option<RssKey>,
        /// Selection: modulo, hash-threshold, resilient, maglev, rendezvous.
        #[arg(long, default_value = "hash-threshold")]
        selection: Selection,
        /// Resilient only: bucket count (at least the number of next hops).
        #[arg(long)]
        buckets: Option<u16>,
        /// Resilient only: how long a bucket must go unused before it may move, e.g. "0s",
        /// "120s"; every flow is live at the change, so with a long timer a joining next hop
        /// gets no busy bucket.
        #[arg(long)]
        idle_timer: Option<SimDuration>,
        /// Maglev only: table size (a prime, at least the number of next hops).
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
        #[arg(
            short = 'f',
            long,
            default_value_t = 100_000,
            conflicts_with = "flows_file"
        )]
        flows: usize,
        /// Seed of the random flows.
        #[arg(long, default_value_t = 1, conflicts_with = "flows_file")]
        flow_seed: u64,
        /// Real flows instead: CSV with columns src,dst,proto,sport,dport (e.g. from a conntrack dump),
        /// IPv4 or (with --ipv6) IPv6 addresses, and for IPv6 an optional flowlabel column.
        #[arg(long = "flows-file", value_name = "FILE.csv")]
        flows_file: Option<PathBuf>,
        /// IPv6 flows, hashed as Linux's rt6_multipath_hash (needs --hash linux; --fields is
        /// replaced by --ipv6-policy).
        #[arg(long)]
        ipv6: bool,
        /// With --ipv6: net.ipv6.fib_multipath_hash_policy, 0 (addresses, flow label, next
        /// header), 1 (addresses, ports, next header), 2 (as 0 for untunnelled flows), 3 (custom).
        #[arg(long, default_value_t = 0)]
        ipv6_policy: u8,
        /// With --ipv6-policy 3: net.ipv6.fib_multipath_hash_fields, e.g. 0x0007 (src, dst,
        /// proto), 0x000f (plus the flow label), 0x0037 (plus ports).
        #[arg(long, default_value = "0x0007")]
        ipv6_hash_fields: String,
        /// With --ipv6: forwarded (a packet the router forwards) or route-get (`ip route get`,
        /// RTM_GETROUTE), which differ for policies 2 and 3.
        #[arg(long, default_value = "forwarded")]
        ipv6_path: String,
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

/// `sim profile`: the evidence on stderr (stdout when writing a file), the scenario on stdout
/// or into `out`, checked as `sim validate` checks a file.
fn profile(
    dir: &std::path::Path,
    out: Option<&std::path::Path>,
    experiment: Option<&std::path::Path>,
) -> Result<(), String> {
    let d = lbsim::profile::derive(dir, experiment).map_err(|e| e.to_string())?;
    let name = out.unwrap_or(std::path::Path::new("profile.ron"));
    lbsim::scenario::Scenario::parse(name, &d.text).map_err(|e| {
        format!("the derived scenario does not validate (a bug in sim profile): {e}")
    })?;
    let mut evidence = String::new();
    for e in &d.evidence {
        let src = e.source.as_deref().unwrap_or("DEFAULT (not derived)");
        evidence.push_str(&format!("{:<48} {:<28} {src}", e.field, e.value));
        if !e.note.is_empty() {
            evidence.push_str(&format!("\n{:<48} {}", "", e.note));
        }
        evidence.push('\n');
    }
    evidence.push_str(&format!(
        "fitted (shown by sim compare, never judged): {}\n",
        d.fitted.join(", ")
    ));
    match out {
        Some(path) => {
            std::fs::write(path, &d.text).map_err(|e| format!("{}: {e}", path.display()))?;
            out!("{evidence}");
            outln!("wrote {}", path.display());
        }
        None => {
            eprint!("{evidence}");
            out!("{}", d.text);
        }
    }
    Ok(())
}

/// `sim compare`: the table (or JSON) on stdout, compare.csv written; `Ok(true)` when a
/// predicted metric failed.
fn compare(
    real: &std::path::Path,
    sim: &std::path::Path,
    tolerances: &[(String, lbsim::compare::Tolerance)],
    json: bool,
    out: Option<&std::path::Path>,
) -> Result<bool, String> {
    let c = lbsim::compare::compare(real, sim, tolerances)?;
    let path = out.unwrap_or(sim).join("compare.csv");
    std::fs::write(&path, lbsim::compare::to_csv(&c))
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&c).map_err(|e| e.to_string())?
        );
    } else {
        out!("{}", lbsim::compare::to_table(&c));
        outln!("wrote {}", path.display());
    }
    Ok(c.failed())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run {
            file,
            seed,
            out,
            json,
            epoch,
            pcap,
            report,
            limits,
        } => run(
            file,
            seed,
            out,
            pcap,
            Print {
                json,
                epoch,
                report,
            },
            limits.limits(),
        ),
        Command::Suite {
            dir,
            out,
            json,
            epoch,
            iterations,
            seed,
            report,
            limits,
        } => suite(
            &dir,
            out,
            iterations,
            seed,
            Print {
                json,
                epoch,
                report,
            },
            limits.limits(),
        ),
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
        Command::Validate {
            files,
            cost,
            limits,
        } => validate(&files, cost, limits.limits()),
        Command::Verify { dir } => verify(&dir),
        Command::Compare {
            real_dir,
            sim_dir,
            tolerance,
            json,
            out,
        } => match compare(&real_dir, &sim_dir, &tolerance, json, out.as_deref()) {
            Ok(true) => return ExitCode::FAILURE,
            Ok(false) => Ok(()),
            Err(e) => {
                // Refused or unreadable: 2, so that 1 always means a failed prediction.
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        },
        Command::Profile {
            dir,
            out,
            experiment,
        } => profile(&dir, out.as_deref(), experiment.as_deref()),
        Command::Report { dir, output } => report_cmd(&dir, output.as_deref()),
        Command::Hash {
            fields,
            function,
            seed,
            hash_source,
            rss_key,
            selection,
            buckets,
            idle_timer,
            table_size,
            nexthops,
            remove,
            add,
            flows,
            flow_seed,
            flows_file,
            ipv6,
            ipv6_policy,
            ipv6_hash_fields,
            ipv6_path,
            per_flow,
            json,
        } => hashcalc::selection_with(selection, buckets, idle_timer, table_size)
            .and_then(|selection| Ok((selection, hashcalc::source_with(hash_source, rss_key)?)))
            .map_err(|e| e.to_string())
            .and_then(|(selection, source)| {
                let change = match add {
                    Some(p) => Change::Add(p),
                    None => Change::Remove(remove.unwrap_or(Position::First)),
                };
                let q = HashQuestion {
                    fields,
                    function,
                    seed,
                    source,
                    selection,
                    next_hops: nexthops,
                    change,
                    flows,
                    flow_seed,
                    flows_file,
                    ipv6: hashcalc::ipv6_with(ipv6, ipv6_policy, &ipv6_hash_fields, &ipv6_path)
                        .map_err(|e| e.to_string())?,
                };
                hash(&q, per_flow, json)
            }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("error: {msg}");
            ExitCode::FAILURE
        }
    }
}

/// How `run` and `suite` report: tables or JSON on stdout, the OpenMetrics epoch, and
/// whether --out also gets report.html.
struct Print {
    json: bool,
    epoch: u64,
    report: bool,
}

/// With `--report`: the directory's report.html, before run.json seals it.
fn write_report(dir: &OutDir, inputs: &manifest::Inputs) -> Result<(), String> {
    let html = lbsim::html::render(dir.root(), Some(inputs)).map_err(|e| e.to_string())?;
    dir.write(lbsim::html::REPORT_FILE, html.as_bytes())
        .map_err(|e| e.to_string())
}

/// `sim report DIR [-o FILE]`.
fn report_cmd(dir: &std::path::Path, output: Option<&std::path::Path>) -> Result<(), String> {
    let (path, listed) = lbsim::html::write(dir, output).map_err(|e| e.to_string())?;
    outln!(
        "wrote {}{}",
        path.display(),
        if listed { " (listed in run.json)" } else { "" }
    );
    Ok(())
}

impl Print {
    /// A line for the person watching: stdout with the tables, stderr beside JSON.
    fn note(&self, line: &str) -> Result<(), String> {
        if self.json {
            eprintln!("{line}");
        } else {
            outln!("{line}");
        }
        Ok(())
    }
}

/// `value` as pretty JSON on stdout.
fn print_json(value: &impl serde::Serialize) -> Result<(), String> {
    outln!(
        "{}",
        serde_json::to_string_pretty(value).map_err(|e| e.to_string())?
    );
    Ok(())
}

fn run(
    file: PathBuf,
    seed: Option<u64>,
    out: Option<PathBuf>,
    pcap: Option<PathBuf>,
    print: Print,
    limits: Limits,
) -> Result<(), String> {
    let wall = Instant::now();
    let assume = Assumptions {
        capture: pcap.is_some(),
        out: out.is_some(),
        ..Assumptions::default()
    };
    let report = checked(&file, &limits, &assume)?;
    let estimate = report.estimate;
    let scenario = match report.checked {
        Checked::Scenario(s) => *s,
        Checked::Suite(_) => {
            return Err(format!(
                "{} is a suite file: run it with `sim suite {}`",
                file.display(),
                file.display()
            ))
        }
        Checked::Sweep(_) => return Err(sweep_file_hint(&file)),
    };
    let seed = seed.unwrap_or(scenario.seed);
    // Every output path is checked before the simulation starts; nothing is replaced until
    // all of them pass.
    let claim = out
        .as_deref()
        .map(OutDir::inspect)
        .transpose()
        .map_err(|e| e.to_string())?;
    let pcap = pcap
        .map(|p| {
            let in_out = claim.as_ref().is_some_and(|c| c.relative(&p).is_some());
            output::PcapTarget::check(&p, in_out)
        })
        .transpose()?;
    let inputs = manifest::Inputs::run(&file, &scenario, seed)
        .map_err(|e| format!("reading {}: {e}", file.display()))?;
    let out = claim
        .map(|c| c.take().map(Arc::new))
        .transpose()
        .map_err(|e| e.to_string())?;
    // With --out, per-request results streams (vegeta's CSV) go straight into the directory.
    let opts = lbsim::lab::RunOptions {
        capture: pcap.is_some(),
        out: out.clone(),
        progress: Some(Default::default()),
        max_events: Some(limits.max_events),
    };
    let results = with_event_progress(estimate.as_ref(), opts.progress.clone(), || {
        runner::run_all_opts(&scenario, seed, &opts)
    })
    .map_err(|e| e.to_string())?;
    if print.json {
        let mut doc = lbsim::rows::RunJson::of(&scenario.name, &results);
        doc.mitigations = lbsim::mitigations::rows(&scenario, &results);
        print_json(&doc)?;
    } else {
        out!("{}", report::tables(&scenario, &results));
    }
    // Captures first: those inside the output directory belong in its run.json.
    let mut pcaps = Vec::new();
    for (path, bytes) in pcap.as_ref().map_or_else(Vec::new, |p| p.files(&results)) {
        match out
            .as_ref()
            .and_then(|o| o.relative(&path).map(|rel| (o, rel)))
        {
            Some((o, rel)) => o.write(&rel, bytes).map_err(|e| e.to_string())?,
            None => output::write_atomic(&path, bytes)
                .map_err(|e| format!("writing {}: {e}", path.display()))?,
        }
        pcaps.push(path);
    }
    if let Some(dir) = &out {
        output::write_all(dir, "", &results, print.epoch).map_err(|e| e.to_string())?;
        output::write_mitigations(dir, &scenario, &results).map_err(|e| e.to_string())?;
        if print.report {
            write_report(dir, &inputs)?;
        }
        let m = dir.seal(inputs).map_err(|e| e.to_string())?;
        print.note(&format!(
            "\nwrote {} CSV files, {} ({} files in all) and run.json to {}",
            output::CSV_FILES.len(),
            output::OPENMETRICS_FILE,
            m.files.len(),
            dir.root().display()
        ))?;
    }
    if pcap.is_some() && pcaps.is_empty() {
        print.note(
            "\nno pcap written: the scenario has no bgp or l2 section, so no control plane ran",
        )?;
    }
    for f in pcaps {
        print.note(&format!("wrote {}", f.display()))?;
    }
    let all: Vec<&lbsim::lab::RunResult> = results.iter().collect();
    let line = report::closing_line(
        &all,
        "variant",
        wall.elapsed().as_secs_f64(),
        peak_rss_mib(),
    );
    print.note(&format!("\n{line}"))
}

fn suite(
    dir: &std::path::Path,
    out: Option<PathBuf>,
    iterations: Option<u32>,
    seed: u64,
    print: Print,
    limits: Limits,
) -> Result<(), String> {
    let wall = Instant::now();
    // The suite's own cost (its iterations may differ from the file's) is checked below.
    let unlimited = Limits {
        max_memory: u64::MAX,
        max_events: u64::MAX,
    };
    let loaded = match checked(dir, &unlimited, &Assumptions::default())?.checked {
        Checked::Suite(s) => *s,
        Checked::Scenario(_) => {
            return Err(format!(
                "{} is a scenario file, not a suite: run it with `sim run {}`",
                dir.display(),
                dir.display()
            ))
        }
        Checked::Sweep(_) => return Err(sweep_file_hint(dir)),
    };
    if iterations == Some(0) {
        return Err("--iterations must be at least 1".into());
    }
    let opts = suite::SuiteOptions {
        iterations,
        first_seed: seed,
    };
    let assume = Assumptions {
        out: out.is_some(),
        ..Assumptions::default()
    };
    let estimate = cost::estimate_suite(&loaded, &opts, &assume);
    cost::check(&estimate, &limits)
        .map_err(|r| validate::Error::Suite(cost::located_in_suite(&loaded, r)).to_string())?;
    let inputs = manifest::Inputs::suite(&loaded, suite::seeds(&loaded, &opts))
        .map_err(|e| format!("reading {}: {e}", loaded.path.display()))?;
    let out = out
        .as_deref()
        .map(OutDir::claim)
        .transpose()
        .map_err(|e| e.to_string())?;
    let run = with_progress(suite::job_count(&loaded, &opts), |tick| {
        suite::run(&loaded, &opts, tick)
    })
    .map_err(|e| e.to_string())?;
    let agg = suite::Aggregate::of(&loaded, &run);
    if print.json {
        print_json(&lbsim::rows::SuiteJson::of(&loaded.file.name, &agg))?;
    } else {
        out!("{}", suite::tables(&loaded, &run, &agg));
    }
    if let Some(dir) = &out {
        suite::write_out(dir, &loaded, &run, &agg, print.epoch).map_err(|e| e.to_string())?;
        if print.report {
            write_report(dir, &inputs)?;
        }
        dir.seal(inputs).map_err(|e| e.to_string())?;
        print.note(&format!(
            "\nwrote suite.csv, suite_latency_histogram.csv, the first iteration's tool files, <test>/seed-<S>/ for {} tests and run.json to {}",
            run.tests.len(),
            dir.root().display()
        ))?;
    }
    let runs: Vec<&lbsim::lab::RunResult> = run.runs().collect();
    let line = report::closing_line(&runs, "run", wall.elapsed().as_secs_f64(), peak_rss_mib());
    print.note(&format!("\n{line}"))
}

fn sweep_file_hint(file: &std::path::Path) -> String {
    format!(
        "{} is a sweep file: run it with `sim sweep {}`",
        file.display(),
        file.display()
    )
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
        eprintln!("{w}");
    }
    let out = a
        .out
        .as_deref()
        .map(OutDir::claim)
        .transpose()
        .map_err(|e| e.to_string())?;
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
    if let Some(dir) = &out {
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
        let line = format!("wrote {what} and run.json to {}", dir.root().display());
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
    let (def, records) = table::merge(dirs, out).map_err(|e| e.to_string())?;
    let dir = OutDir::claim(out).map_err(|e| e.to_string())?;
    let summary = table::summarize(&records);
    table::write_dir(&dir, &def, None, &records).map_err(|e| e.to_string())?;
    if json {
        outln!("{}", table::json(&def, Shard::ALL, &records, &summary));
        eprintln!(
            "wrote {} and run.json to {}",
            table::CSV_FILE,
            out.display()
        );
    } else {
        out!("{}", table::render(&def, &summary, metrics)?);
        outln!(
            "\nwrote {} and run.json to {}",
            table::CSV_FILE,
            out.display()
        );
    }
    Ok(())
}

/// A progress bar of `len` on stderr, only for a person watching: never in CI logs or pipes.
fn progress_bar(len: u64, template: &str) -> Option<indicatif::ProgressBar> {
    use std::io::IsTerminal;
    std::io::stderr().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::new(len);
        if let Ok(style) = indicatif::ProgressStyle::with_template(template) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar
    })
}

/// Run `f` with a progress bar of `runs`, ticked once per finished run.
fn with_progress<T>(runs: usize, f: impl FnOnce(&(dyn Fn() + Sync)) -> T) -> T {
    let bar = progress_bar(
        runs as u64,
        "{elapsed_precise} [{bar:40}] {pos}/{len} runs, eta {eta}",
    );
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

/// Seconds of estimated work above which `sim run` shows a progress bar.
const PROGRESS_AFTER_S: f64 = 3.0;

/// Run `work` with a progress bar of the events `counter` has seen against the estimate's,
/// when the estimate says it takes a while. The bar only reads the counter: it cannot change
/// a result.
fn with_event_progress<T>(
    estimate: Option<&cost::Estimate>,
    counter: Option<Arc<std::sync::atomic::AtomicU64>>,
    work: impl FnOnce() -> T,
) -> T {
    use std::sync::atomic::{AtomicBool, Ordering};
    let Some((estimate, counter)) = estimate
        .filter(|e| e.wall_seconds() > PROGRESS_AFTER_S)
        .zip(counter)
    else {
        return work();
    };
    let total = estimate.events().min(u64::MAX as f64) as u64;
    let Some(bar) = progress_bar(
        total,
        "{elapsed_precise} [{bar:40}] {percent:>3}% of ~{human_len} events, eta {eta}",
    ) else {
        return work();
    };
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

/// The process's peak resident set (VmHWM), where /proc tells it.
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// Load, validate and cost-check a scenario or suite ([`validate::check_file_with`]),
/// printing its warnings to stderr.
fn checked(
    path: &std::path::Path,
    limits: &Limits,
    assume: &Assumptions,
) -> Result<validate::Report, String> {
    let report = validate::check_file_with(path, limits, assume).map_err(|e| e.to_string())?;
    for w in report.warnings() {
        eprintln!("{w}");
    }
    Ok(report)
}

fn validate(files: &[PathBuf], show_cost: bool, limits: Limits) -> Result<(), String> {
    let mut failed = 0;
    for f in files {
        match validate::check_file_with(f, &limits, &Assumptions::default()) {
            Ok(report) => {
                for w in report.warnings() {
                    eprintln!("{w}");
                }
                outln!("{}: {}", f.display(), report.summary());
                if let Some(e) = report.estimate.as_ref().filter(|_| show_cost) {
                    out!("{}", e.table());
                }
            }
            Err(e) => {
                eprintln!("{e}");
                failed += 1;
            }
        }
    }
    if failed > 0 {
        return Err(format!("{failed} of {} files are invalid", files.len()));
    }
    Ok(())
}

/// `sim verify DIR`: complete, or why not.
fn verify(dir: &std::path::Path) -> Result<(), String> {
    let v = manifest::verify(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for f in &v.unlisted {
        outln!(
            "{}: {f} is not part of the run (run.json does not list it)",
            dir.display()
        );
    }
    match (&v.manifest, v.complete()) {
        (Some(m), true) => {
            outln!(
                "{}: complete: {} files match run.json ({})",
                dir.display(),
                m.files.len(),
                m.describe()
            );
            Ok(())
        }
        _ => Err(format!(
            "{}: incomplete: {}",
            dir.display(),
            v.problems.join("; ")
        )),
    }
}

fn hash(q: &HashQuestion, per_flow: Option<PathBuf>, json: bool) -> Result<(), String> {
    if let Some(p) = &per_flow {
        outdir::check_file_target(p).map_err(|e| format!("--per-flow: {e}"))?;
    }
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
