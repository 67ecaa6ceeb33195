//! `sim hash`: the ECMP what-if calculator. N next hops, one leaves or joins, F flows: how many
//! move, how many of those had a surviving next hop (collateral), and how even the spread is.
//!
//! The timeline: the group is built at 0 s; at [`CHANGE_AT`] every flow sends a packet and the
//! member list changes; the flows' next hops are read right after the change. The flows are
//! live, so a resilient group's buckets are busy when it changes and its idle timer decides
//! which may move (net/ipv4/nexthop.c `nh_res_bucket_should_migrate`): with the default 120 s
//! a joining next hop gets no busy bucket while its flows stay active.

use std::fmt::Write as _;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

use bgp::ecmp::whatif::{random_flows, remap_hashes, Balance, RemapReport};
use bgp::ecmp::{random_flows6, FlowKey6, Ipv6HashPath, Ipv6HashPolicy, Ipv6Hasher};
use bgp::ecmp::{
    EcmpGroup, FlowHasher, FlowKey, HashFields, HashFunction, HashSource, NextHop, Selection,
};
use serde::Serialize;
use sim_core::{SimDuration, SimTime};

/// The service IP of the random IPv6 flows (documentation prefix, RFC 3849).
const IPV6_VIP: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xff, 0, 0, 0, 0, 0x10);

/// When the flows send and the group changes (the group is built at time zero).
pub const CHANGE_AT: SimTime = SimTime(1_000_000_000);

/// Which member leaves or where one joins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Position {
    /// The first in the list.
    First,
    /// The one in the middle (index N/2, 0-based).
    Middle,
    /// The last.
    Last,
    /// A 1-based index.
    Index(usize),
}

impl std::str::FromStr for Position {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "first" => Ok(Position::First),
            "middle" => Ok(Position::Middle),
            "last" => Ok(Position::Last),
            _ => s
                .parse::<usize>()
                .ok()
                .filter(|&i| i >= 1)
                .map(Position::Index)
                .ok_or_else(|| {
                    format!(
                        "invalid position {s:?}: valid are first, middle, last or a 1-based index"
                    )
                }),
        }
    }
}

/// The change to examine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Change {
    /// One of N leaves.
    Remove(Position),
    /// One joins the N.
    Add(Position),
}

/// Everything `sim hash` needs.
#[derive(Debug, Clone)]
pub struct HashQuestion {
    /// Header fields.
    pub fields: HashFields,
    /// Hash function.
    pub function: HashFunction,
    /// Hash seed.
    pub seed: u32,
    /// What the router hashes: the flow keys, the NIC's RSS hash, or the sender's random
    /// socket hash (policy 1's L4-hash short cut).
    pub source: HashSource,
    /// Selection algorithm.
    pub selection: Selection,
    /// Next hops before the change.
    pub next_hops: usize,
    /// The change.
    pub change: Change,
    /// Random flows to draw when no file is given.
    pub flows: usize,
    /// Seed of the random flows.
    pub flow_seed: u64,
    /// Real flows (CSV: src,dst,proto,sport,dport, and for IPv6 an optional flowlabel).
    pub flows_file: Option<PathBuf>,
    /// IPv6 flows hashed as Linux's `rt6_multipath_hash` does (`None`: IPv4). A flows file of
    /// IPv6 addresses needs it.
    pub ipv6: Option<Ipv6Hash>,
}

/// How `sim hash --ipv6` hashes: `net.ipv6.fib_multipath_hash_policy` (and its fields for
/// policy 3), on the forwarding path or the `ip route get` (RTM_GETROUTE) path; the seed is
/// `--seed`, Linux's `net.ipv4.fib_multipath_hash_seed`, which IPv6 uses too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv6Hash {
    /// Policy 0-3.
    pub policy: Ipv6HashPolicy,
    /// Forwarded packets or route lookups.
    pub path: Ipv6HashPath,
}

/// One flow of either family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// IPv4.
    V4(FlowKey),
    /// IPv6, with its flow label.
    V6(FlowKey6),
}

/// Errors of `sim hash`.
#[derive(Debug, thiserror::Error)]
pub enum HashCalcError {
    /// The question does not make sense.
    #[error("{0}")]
    Invalid(String),
    /// The flows file is unreadable or malformed.
    #[error("{file}:{line}: {message}")]
    FlowsFile {
        /// The file.
        file: String,
        /// 1-based line.
        line: u64,
        /// What is wrong.
        message: String,
    },
    /// Writing the per-flow file failed.
    #[error("{0}")]
    Io(#[from] io::Error),
}

/// The answer.
#[derive(Debug, Serialize)]
pub struct HashAnswer {
    /// Fields, function, seed, selection, as CLI names.
    pub fields: String,
    /// Hash function.
    pub function: String,
    /// Seed.
    pub seed: u32,
    /// Hash source: flow-keys, nic-rss (with its key) or socket-txhash.
    pub hash_source: String,
    /// Selection.
    pub selection: String,
    /// Next hops before.
    pub next_hops_before: usize,
    /// Next hops after.
    pub next_hops_after: usize,
    /// The change.
    pub change: Change,
    /// Flows examined.
    pub flows: u64,
    /// Flows that moved.
    pub moved: u64,
    /// Share of all flows that moved.
    pub moved_share: f64,
    /// Flows whose next hop survived.
    pub survivors: u64,
    /// Survivors that moved anyway.
    pub collateral: u64,
    /// collateral / survivors.
    pub collateral_share: f64,
    /// The closed form for an ideal uniform hash, where one is known.
    pub expected_collateral_share: Option<f64>,
    /// The closed form of the moved share, where one is known.
    pub expected_moved_share: Option<f64>,
    /// Spread before: max/mean.
    pub balance_before_max_over_mean: f64,
    /// Spread before: Jain's index.
    pub balance_before_jain: f64,
    /// Spread after: max/mean.
    pub balance_after_max_over_mean: f64,
    /// Spread after: Jain's index.
    pub balance_after_jain: f64,
    /// Flows per next hop before (next hop as `nh-i`, 1-based in the original list).
    pub per_next_hop_before: Vec<(String, u64)>,
    /// Flows per next hop after.
    pub per_next_hop_after: Vec<(String, u64)>,
    /// A resilient group left unbalanced by busy buckets: when the kernel's next upkeep would
    /// look again, in seconds after the change (buckets move then only if idle by then).
    pub resilient_upkeep_after_s: Option<f64>,
}

/// The selection the flags describe: `--buckets` and `--idle-timer` set a resilient group's
/// parameters and `--table-size` a Maglev table's; given with another selection they would
/// change nothing, so they are refused.
///
/// # Errors
/// [`HashCalcError::Invalid`] naming the flag and the selection it needs.
pub fn selection_with(
    mut selection: Selection,
    buckets: Option<u16>,
    idle_timer: Option<SimDuration>,
    table_size: Option<u32>,
) -> Result<Selection, HashCalcError> {
    let chosen = selection.cli_name();
    let misplaced = |flag: &str, needs: &str, what: &str| {
        HashCalcError::Invalid(format!(
            "{flag} applies to --selection {needs} only ({what}); with --selection {chosen} it would be ignored"
        ))
    };
    match &mut selection {
        Selection::Resilient {
            buckets: b,
            idle_timer: t,
            ..
        } => {
            *b = buckets.unwrap_or(*b);
            *t = idle_timer.unwrap_or(*t);
        }
        _ if buckets.is_some() => {
            return Err(misplaced(
                "--buckets",
                "resilient",
                "the bucket count of a Linux resilient group",
            ))
        }
        _ if idle_timer.is_some() => {
            return Err(misplaced(
                "--idle-timer",
                "resilient",
                "how long a resilient bucket must go unused before it may move",
            ))
        }
        _ => {}
    }
    match &mut selection {
        Selection::Maglev { table_size: s } => *s = table_size.unwrap_or(*s),
        _ if table_size.is_some() => {
            return Err(misplaced(
                "--table-size",
                "maglev",
                "the size of the Maglev lookup table",
            ))
        }
        _ => {}
    }
    Ok(selection)
}

/// The hash source the flags describe: `--rss-key` sets a NIC's key and means nothing with
/// another source, so it is refused there.
///
/// # Errors
/// [`HashCalcError::Invalid`] for `--rss-key` without `--hash-source nic-rss`.
pub fn source_with(
    source: HashSource,
    key: Option<bgp::ecmp::RssKey>,
) -> Result<HashSource, HashCalcError> {
    match (source, key) {
        (HashSource::NicRss { .. }, Some(key)) => Ok(HashSource::NicRss { key }),
        (_, Some(_)) => Err(HashCalcError::Invalid(format!(
            "--rss-key applies to --hash-source nic-rss only (the NIC's Toeplitz key); with --hash-source {} it would be ignored",
            source.cli_name()
        ))),
        (source, None) => Ok(source),
    }
}

fn index_of(pos: Position, len: usize) -> Result<usize, HashCalcError> {
    let i = match pos {
        Position::First => 0,
        Position::Middle => len / 2,
        Position::Last => len.saturating_sub(1),
        Position::Index(i) => i - 1,
    };
    if i >= len.max(1) {
        return Err(HashCalcError::Invalid(format!(
            "position {} is outside 1..={}",
            i + 1,
            len
        )));
    }
    Ok(i)
}

/// Closed forms of DESIGN.md "ECMP" for an ideal uniform hash: (collateral, moved share).
fn closed_form(selection: Selection, change: Change, n: usize) -> (Option<f64>, Option<f64>) {
    let n_f = n as f64;
    match (selection, change) {
        (Selection::Modulo, Change::Remove(_)) if n >= 2 => (Some((n_f - 2.0) / (n_f - 1.0)), None),
        (Selection::HashThreshold, Change::Remove(Position::First | Position::Last)) if n >= 2 => {
            (Some((n_f - 2.0) / (2.0 * (n_f - 1.0))), Some(0.5))
        }
        (Selection::HashThreshold, Change::Add(Position::First | Position::Last)) if n >= 1 => {
            (Some(0.5), Some(0.5))
        }
        (Selection::Resilient { .. } | Selection::Rendezvous, Change::Remove(_)) => {
            (Some(0.0), None)
        }
        _ => (None, None),
    }
}

/// Read flows from a CSV with a header naming src,dst,proto,sport,dport (any order; proto as a
/// number or tcp/udp) and optionally flowlabel (IPv6 only, 0..=0xfffff, decimal or 0x hex).
/// Every flow is of one family: IPv4 or IPv6 addresses, the same on every line.
pub fn read_flows(path: &Path) -> Result<Vec<Flow>, HashCalcError> {
    let file = path.display().to_string();
    let err = |line: u64, message: String| HashCalcError::FlowsFile {
        file: file.clone(),
        line,
        message,
    };
    let mut rdr = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_path(path)
        .map_err(|e| err(0, e.to_string()))?;
    let headers = rdr.headers().map_err(|e| err(1, e.to_string()))?.clone();
    let col = |name: &str| {
        headers
            .iter()
            .position(|h| h.eq_ignore_ascii_case(name))
            .ok_or_else(|| {
                err(
                    1,
                    format!(
                        "missing column {name:?}; the header must name src,dst,proto,sport,dport"
                    ),
                )
            })
    };
    let (c_src, c_dst, c_proto, c_sport, c_dport) = (
        col("src")?,
        col("dst")?,
        col("proto")?,
        col("sport")?,
        col("dport")?,
    );
    let c_label = headers
        .iter()
        .position(|h| h.eq_ignore_ascii_case("flowlabel"));
    let mut family: Option<(bool, u64)> = None;
    let mut flows = Vec::new();
    for rec in rdr.records() {
        let rec = rec.map_err(|e| err(e.position().map_or(0, |p| p.line()), e.to_string()))?;
        let line = rec.position().map_or(0, |p| p.line());
        let field = |i: usize| rec.get(i).unwrap_or("");
        let ip = |i: usize, name: &str| {
            field(i).parse::<IpAddr>().map_err(|_| {
                err(
                    line,
                    format!(
                        "{name} {:?} is not an IPv4 or IPv6 address (e.g. 10.1.2.3, 2001:db8::1)",
                        field(i)
                    ),
                )
            })
        };
        let port = |i: usize, name: &str| {
            field(i).parse::<u16>().map_err(|_| {
                err(
                    line,
                    format!("{name} {:?} is not a port (0..65535)", field(i)),
                )
            })
        };
        let proto = match field(c_proto).to_ascii_lowercase().as_str() {
            "tcp" => 6,
            "udp" => 17,
            p => p.parse::<u8>().map_err(|_| {
                err(
                    line,
                    format!("proto {p:?} is not tcp, udp or a protocol number (0..255)"),
                )
            })?,
        };
        let (src, dst) = (ip(c_src, "src")?, ip(c_dst, "dst")?);
        let (sport, dport) = (port(c_sport, "sport")?, port(c_dport, "dport")?);
        let label_text = c_label.map(field).unwrap_or("");
        let flow = match (src, dst) {
            (IpAddr::V4(src), IpAddr::V4(dst)) => {
                if !label_text.is_empty() {
                    return Err(err(
                        line,
                        format!("flowlabel {label_text:?} on an IPv4 flow: IPv4 has no flow label; leave it empty"),
                    ));
                }
                Flow::V4(FlowKey {
                    src,
                    dst,
                    proto,
                    sport,
                    dport,
                })
            }
            (IpAddr::V6(src), IpAddr::V6(dst)) => {
                let flow_label = if label_text.is_empty() {
                    0
                } else {
                    parse_label(label_text).ok_or_else(|| {
                        err(
                            line,
                            format!("flowlabel {label_text:?} is not a flow label (0..=1048575, or 0x0..=0xfffff)"),
                        )
                    })?
                };
                Flow::V6(FlowKey6 {
                    src,
                    dst,
                    flow_label,
                    proto,
                    sport,
                    dport,
                })
            }
            _ => {
                return Err(err(
                    line,
                    format!(
                        "src {src} and dst {dst} are of different families; a flow is IPv4 or IPv6"
                    ),
                ))
            }
        };
        let v6 = matches!(flow, Flow::V6(_));
        match family {
            None => family = Some((v6, line)),
            Some((first, first_line)) if first != v6 => {
                let name = |v6: bool| if v6 { "IPv6" } else { "IPv4" };
                return Err(err(
                    line,
                    format!(
                        "an {} flow after {} flows (line {first_line}): a file holds one family",
                        name(v6),
                        name(first)
                    ),
                ));
            }
            Some(_) => {}
        }
        flows.push(flow);
    }
    if flows.is_empty() {
        return Err(err(1, "no flows in the file".into()));
    }
    Ok(flows)
}

/// The IPv6 hash the `--ipv6*` flags describe, or `None` without `--ipv6`.
///
/// # Errors
/// [`HashCalcError::Invalid`] for a policy above 3, fields that are not a hex or decimal u32,
/// a path other than forwarded / route-get.
pub fn ipv6_with(
    enabled: bool,
    policy: u8,
    fields: &str,
    path: &str,
) -> Result<Option<Ipv6Hash>, HashCalcError> {
    if !enabled {
        // The defaults of the flags; anything else without --ipv6 would be silently ignored.
        if policy != 0 || fields != "0x0007" || path != "forwarded" {
            return Err(HashCalcError::Invalid(
                "--ipv6-policy, --ipv6-hash-fields and --ipv6-path need --ipv6".into(),
            ));
        }
        return Ok(None);
    }
    let fields = match fields.strip_prefix("0x").or_else(|| fields.strip_prefix("0X")) {
        Some(hex) => u32::from_str_radix(hex, 16).ok(),
        None => fields.parse::<u32>().ok(),
    }
    .ok_or_else(|| {
        HashCalcError::Invalid(format!(
            "--ipv6-hash-fields {fields:?}: give a number such as 0x0007 (FIB_MULTIPATH_HASH_FIELD_* bits)"
        ))
    })?;
    let policy = Ipv6HashPolicy::from_sysctl(policy, fields).ok_or_else(|| {
        HashCalcError::Invalid(format!("--ipv6-policy {policy}: must be 0, 1, 2 or 3"))
    })?;
    let path = match path {
        "forwarded" => Ipv6HashPath::Forwarded,
        "route-get" => Ipv6HashPath::RouteLookup,
        other => {
            return Err(HashCalcError::Invalid(format!(
                "--ipv6-path {other:?}: must be forwarded or route-get"
            )))
        }
    };
    Ok(Some(Ipv6Hash { policy, path }))
}

/// A flow label as written: decimal or `0x` hex, at most 20 bits.
fn parse_label(text: &str) -> Option<u32> {
    let value = match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u32::from_str_radix(hex, 16).ok()?,
        None => text.parse::<u32>().ok()?,
    };
    (value <= 0xf_ffff).then_some(value)
}

/// One flow's next hop before and after the change.
pub type FlowFate = (Flow, Option<NextHop>, Option<NextHop>);

/// Answer the question; also returns, per flow, (flow, before, after) for `--per-flow`.
pub fn answer(q: &HashQuestion) -> Result<(HashAnswer, Vec<FlowFate>), HashCalcError> {
    if !(1..=1024).contains(&q.next_hops) {
        return Err(HashCalcError::Invalid(format!(
            "--nexthops {}: must be 1 to 1024",
            q.next_hops
        )));
    }
    let before_list: Vec<NextHop> = (0..q.next_hops as NextHop).collect();
    let mut after_list = before_list.clone();
    match q.change {
        Change::Remove(pos) => {
            if q.next_hops < 2 {
                return Err(HashCalcError::Invalid(
                    "removing one of a single next hop leaves none".into(),
                ));
            }
            let i = index_of(pos, q.next_hops)?;
            after_list.remove(i);
        }
        Change::Add(pos) => {
            let i = match pos {
                Position::Last => q.next_hops,
                p => index_of(p, q.next_hops + 1)?,
            };
            after_list.insert(i, q.next_hops as NextHop);
        }
    }
    let largest = before_list.len().max(after_list.len());
    q.selection.check_for(largest).map_err(|e| {
        HashCalcError::Invalid(format!(
            "--selection {} with {largest} next hops: {e}",
            q.selection
        ))
    })?;
    let flows = match &q.flows_file {
        Some(p) => read_flows(p)?,
        None => {
            if q.flows == 0 || q.flows > 50_000_000 {
                return Err(HashCalcError::Invalid(format!(
                    "--flows {}: must be 1 to 50000000",
                    q.flows
                )));
            }
            match q.ipv6 {
                None => random_flows(q.flow_seed, q.flows, Ipv4Addr::new(192, 0, 2, 10), 80)
                    .into_iter()
                    .map(Flow::V4)
                    .collect(),
                Some(_) => random_flows6(q.flow_seed, q.flows, IPV6_VIP, 80)
                    .into_iter()
                    .map(Flow::V6)
                    .collect(),
            }
        }
    };
    let ipv6_hasher = match (q.ipv6, flows.first()) {
        (Some(h), _) => {
            if q.function != HashFunction::Linux {
                return Err(HashCalcError::Invalid(format!(
                    "--ipv6 models Linux's rt6_multipath_hash (net/ipv6/route.c): give --hash linux, not {}",
                    q.function
                )));
            }
            if q.source != HashSource::FlowKeys {
                return Err(HashCalcError::Invalid(
                    "--ipv6 takes --hash-source flow-keys only (the L4-hash short cut is not modelled for IPv6)".into(),
                ));
            }
            Some(Ipv6Hasher::new(h.policy, h.path, q.seed))
        }
        (None, Some(Flow::V6(_))) => {
            return Err(HashCalcError::Invalid(
                "the flows file holds IPv6 flows: add --ipv6 (and --ipv6-policy 0..3) to hash them as Linux does".into(),
            ))
        }
        (None, _) => None,
    };
    if let (Some(_), Some(Flow::V4(_))) = (q.ipv6, flows.first()) {
        return Err(HashCalcError::Invalid(
            "--ipv6 with a flows file of IPv4 flows: drop --ipv6 or give IPv6 flows".into(),
        ));
    }
    if q.source != HashSource::FlowKeys && !HashSource::applies_to(q.fields, q.function) {
        return Err(HashCalcError::Invalid(format!(
            "--hash-source {} is an L4 hash, which only Linux's fib_multipath_hash_policy 1 takes (net/ipv4/route.c fib_multipath_hash): give --fields 5-tuple --hash linux",
            q.source.cli_name()
        )));
    }
    let hasher = FlowHasher::new(q.fields, q.function, q.seed);
    // A socket's sk_txhash is random per connection: one draw per flow from --flow-seed.
    let mut txhash_rng = q.flow_seed ^ sim_core::rng::fnv1a(b"sk_txhash");
    let hashes: Vec<u32> = flows
        .iter()
        .map(|f| {
            let tx = bgp::ecmp::hash::txhash_from(sim_core::rng::splitmix64(&mut txhash_rng));
            match (f, &ipv6_hasher) {
                (Flow::V4(f), _) => hasher.forwarded(&q.source, f, Some(tx)),
                (Flow::V6(f), Some(h)) => h.hash(f),
                // Checked above: IPv6 flows come with --ipv6.
                (Flow::V6(_), None) => 0,
            }
        })
        .collect();
    let mut before = EcmpGroup::new(q.selection, &before_list)
        .map_err(|e| HashCalcError::Invalid(e.to_string()))?;
    // Every flow is live: it has just sent a packet when the group changes (marking its
    // resilient bucket used; other selections keep no state).
    for &h in &hashes {
        before.select(CHANGE_AT, h);
    }
    // The after group evolves from the before group, so history-dependent tables (resilient)
    // change as a router's would.
    let mut after = before.clone();
    after.set_next_hops(CHANGE_AT, &after_list);
    let resilient_upkeep_after_s = after
        .next_timeout()
        .map(|t| t.saturating_since(CHANGE_AT).as_secs_f64());
    let (report, pairs): (RemapReport, _) = remap_hashes(&hashes, &before, &after);
    let (expected_collateral_share, expected_moved_share) =
        closed_form(q.selection, q.change, q.next_hops);
    let names = |b: &Balance| {
        b.per_next_hop
            .iter()
            .map(|&(nh, c)| (format!("nh-{}", nh + 1), c))
            .collect()
    };
    let ans = HashAnswer {
        fields: match q.ipv6 {
            Some(h) => format!(
                "ipv6 {} ({})",
                h.policy,
                match h.path {
                    Ipv6HashPath::Forwarded => "forwarded",
                    Ipv6HashPath::RouteLookup => "route-get",
                }
            ),
            None => q.fields.to_string(),
        },
        function: q.function.to_string(),
        seed: q.seed,
        hash_source: match q.source {
            HashSource::NicRss { key } => format!("nic-rss (key {key})"),
            other => other.cli_name().to_string(),
        },
        selection: q.selection.to_string(),
        next_hops_before: before_list.len(),
        next_hops_after: after_list.len(),
        change: q.change,
        flows: report.flows,
        moved: report.moved,
        moved_share: report.moved_share,
        survivors: report.survivors,
        collateral: report.collateral,
        collateral_share: report.collateral_share,
        expected_collateral_share,
        expected_moved_share,
        balance_before_max_over_mean: report.before.max_over_mean,
        balance_before_jain: report.before.jain,
        balance_after_max_over_mean: report.after.max_over_mean,
        balance_after_jain: report.after.jain,
        per_next_hop_before: names(&report.before),
        per_next_hop_after: names(&report.after),
        resilient_upkeep_after_s,
    };
    let per_flow = flows
        .into_iter()
        .zip(pairs)
        .map(|(f, (a, b))| (f, a, b))
        .collect();
    Ok((ans, per_flow))
}

/// The answer as text for a person.
pub fn render(a: &HashAnswer) -> String {
    let mut s = String::new();
    let pct = |x: f64| format!("{:.2} %", 100.0 * x);
    let change = match a.change {
        Change::Remove(p) => format!("one leaves ({})", pos_text(p)),
        Change::Add(p) => format!("one joins ({})", pos_text(p)),
    };
    let _ = writeln!(
        s,
        "{} hash over {} (seed {}), {} selection: {} -> {} next hops, {}",
        a.function, a.fields, a.seed, a.selection, a.next_hops_before, a.next_hops_after, change
    );
    if a.hash_source != HashSource::FlowKeys.cli_name() {
        let _ = writeln!(s, "hash source       {}", a.hash_source);
    }
    let _ = writeln!(s, "flows             {}", a.flows);
    let _ = write!(s, "moved             {} ({})", a.moved, pct(a.moved_share));
    if let Some(e) = a.expected_moved_share {
        let _ = write!(s, "   closed form {}", pct(e));
    }
    let _ = writeln!(s);
    let _ = write!(
        s,
        "collateral        {} of {} survivors ({})",
        a.collateral,
        a.survivors,
        pct(a.collateral_share)
    );
    if let Some(e) = a.expected_collateral_share {
        let _ = write!(s, "   closed form {}", pct(e));
    }
    let _ = writeln!(s);
    let _ = writeln!(
        s,
        "balance before    max/mean {:.4}, Jain {:.5}",
        a.balance_before_max_over_mean, a.balance_before_jain
    );
    let _ = writeln!(
        s,
        "balance after     max/mean {:.4}, Jain {:.5}",
        a.balance_after_max_over_mean, a.balance_after_jain
    );
    let list = |v: &[(String, u64)]| {
        v.iter()
            .map(|(n, c)| format!("{n}={c}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let _ = writeln!(s, "flows before      {}", list(&a.per_next_hop_before));
    let _ = writeln!(s, "flows after       {}", list(&a.per_next_hop_after));
    if let Some(after) = a.resilient_upkeep_after_s {
        let _ = writeln!(
            s,
            "timeline          every flow sends just before the change, so its bucket is busy; the group stays unbalanced and the kernel looks again {after:.1} s after the change, moving only buckets idle by then"
        );
    }
    s
}

fn pos_text(p: Position) -> String {
    match p {
        Position::First => "first".into(),
        Position::Middle => "middle".into(),
        Position::Last => "last".into(),
        Position::Index(i) => format!("#{i}"),
    }
}

/// Write the per-flow file: src,dst,proto,sport,dport,next_hop_before,next_hop_after,moved;
/// IPv6 flows get a flowlabel column after dport.
pub fn write_per_flow(path: &Path, rows: &[FlowFate]) -> io::Result<()> {
    let mut w = csv::Writer::from_path(path).map_err(io::Error::other)?;
    let v6 = matches!(rows.first(), Some((Flow::V6(_), _, _)));
    let mut header = vec!["src", "dst", "proto", "sport", "dport"];
    if v6 {
        header.push("flowlabel");
    }
    header.extend(["next_hop_before", "next_hop_after", "moved"]);
    w.write_record(&header).map_err(io::Error::other)?;
    let name = |n: Option<NextHop>| n.map_or_else(String::new, |n| format!("nh-{}", n + 1));
    for (f, a, b) in rows {
        let mut record = match f {
            Flow::V4(f) => vec![
                f.src.to_string(),
                f.dst.to_string(),
                f.proto.to_string(),
                f.sport.to_string(),
                f.dport.to_string(),
            ],
            Flow::V6(f) => vec![
                f.src.to_string(),
                f.dst.to_string(),
                f.proto.to_string(),
                f.sport.to_string(),
                f.dport.to_string(),
                format!("{:#07x}", f.flow_label),
            ],
        };
        record.extend([name(*a), name(*b), (a != b).to_string()]);
        w.write_record(&record).map_err(io::Error::other)?;
    }
    w.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn question(selection: Selection, n: usize, change: Change) -> HashQuestion {
        HashQuestion {
            fields: HashFields::FiveTuple,
            function: HashFunction::Linux,
            seed: 1,
            source: HashSource::FlowKeys,
            selection,
            next_hops: n,
            change,
            flows: 20_000,
            flow_seed: 7,
            flows_file: None,
            ipv6: None,
        }
    }

    fn resilient(buckets: u16, idle_s: u64) -> Selection {
        Selection::Resilient {
            buckets,
            idle_timer: SimDuration::from_secs(idle_s),
            unbalanced_timer: SimDuration::ZERO,
        }
    }

    #[test]
    fn flags_of_another_selection_are_refused_by_name() {
        let refused = |sel: &str, b, t, m| {
            selection_with(sel.parse().unwrap(), b, t, m)
                .unwrap_err()
                .to_string()
        };
        let e = refused("modulo", Some(3), None, None);
        assert!(
            e.contains("--buckets applies to --selection resilient only")
                && e.contains("--selection modulo"),
            "{e}"
        );
        let e = refused("maglev", None, Some(SimDuration::ZERO), None);
        assert!(e.contains("--idle-timer"), "{e}");
        let e = refused("resilient", None, None, Some(251));
        assert!(
            e.contains("--table-size applies to --selection maglev only"),
            "{e}"
        );
        assert_eq!(
            selection_with("resilient".parse().unwrap(), Some(64), None, None).unwrap(),
            resilient(64, 120)
        );
        assert_eq!(
            selection_with("maglev".parse().unwrap(), None, None, Some(251)).unwrap(),
            Selection::Maglev { table_size: 251 }
        );
    }

    #[test]
    fn a_random_socket_hash_moves_the_hash_threshold_share_but_not_the_flows_ip_route_get_names() {
        // 3 next hops, the last leaves: hash-threshold moves 1/3 + 1/6 of uniform hashes
        // (reallab/profiles/calib: 49.3 % of 2,000 connections reset).
        let mut q = question(Selection::HashThreshold, 3, Change::Remove(Position::Last));
        q.source = HashSource::SocketTxhash { txrehash: true };
        let (a, rows) = answer(&q).unwrap();
        assert!((a.moved_share - 0.5).abs() < 0.015, "{}", a.moved_share);
        assert_eq!(a.hash_source, "socket-txhash");
        // Not the flow-key mapping: about 1 in 3 flows take the next hop `ip route get` names.
        let (_, keyed) = answer(&question(
            Selection::HashThreshold,
            3,
            Change::Remove(Position::Last),
        ))
        .unwrap();
        let same = rows.iter().zip(&keyed).filter(|(a, b)| a.1 == b.1).count();
        let share = same as f64 / rows.len() as f64;
        assert!((share - 1.0 / 3.0).abs() < 0.02, "{share}");
        // RSS is per flow: the same flows, the same answer.
        q.source = HashSource::NicRss {
            key: bgp::ecmp::RssKey::default(),
        };
        let (r1, _) = answer(&q).unwrap();
        let (r2, _) = answer(&q).unwrap();
        assert_eq!(r1.moved, r2.moved);
        assert!(r1.hash_source.starts_with("nic-rss (key 6d:5a:56:da"));
        // Policy 0 has no short cut.
        q.fields = HashFields::L3;
        assert!(answer(&q).unwrap_err().to_string().contains("policy 1"));
        assert!(
            source_with(HashSource::FlowKeys, Some(bgp::ecmp::RssKey::default()))
                .unwrap_err()
                .to_string()
                .contains("--rss-key applies to --hash-source nic-rss only")
        );
    }

    #[test]
    fn fewer_buckets_than_next_hops_is_refused_with_the_range() {
        let q = question(resilient(3, 120), 6, Change::Remove(Position::First));
        let e = answer(&q).unwrap_err().to_string();
        assert!(e.contains("at least 6 buckets"), "{e}");
        // Joining makes the group larger: 6 buckets do not hold 7 next hops.
        let q = question(resilient(6, 120), 6, Change::Add(Position::Last));
        assert!(answer(&q).unwrap_err().to_string().contains("at least 7"));
    }

    #[test]
    fn the_idle_timer_keeps_live_flows_on_their_next_hop() {
        let add = Change::Add(Position::Last);
        // 20000 live flows touch every one of 128 buckets: none is idle under 120 s, so the
        // joining next hop gets nothing until the flows go quiet.
        let (busy, _) = answer(&question(resilient(128, 120), 6, add)).unwrap();
        assert_eq!(busy.moved, 0);
        assert_eq!(busy.resilient_upkeep_after_s, Some(120.0));
        assert!(render(&busy).contains("timeline"));
        // With an idle timer of 0 every bucket may move at once: the newcomer takes its share.
        let (idle, _) = answer(&question(resilient(128, 0), 6, add)).unwrap();
        let share = idle.moved_share;
        assert!((share - 1.0 / 7.0).abs() < 0.02, "moved {share}");
        assert_eq!(idle.resilient_upkeep_after_s, None);
        // Removal is forced either way: only the leaving next hop's flows move.
        let (gone, _) = answer(&question(
            resilient(128, 120),
            6,
            Change::Remove(Position::First),
        ))
        .unwrap();
        assert_eq!(gone.collateral, 0);
    }

    fn write(name: &str, text: &str) -> PathBuf {
        let path =
            std::env::temp_dir().join(format!("lbsim-hashcalc-{}-{name}", std::process::id()));
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn ipv6_flows_file_with_flow_labels_is_hashed_as_linux_does() {
        let path = write(
            "v6.csv",
            "src,dst,proto,sport,dport,flowlabel\n\
             2001:db8:1::5,2001:db8:ff::10,tcp,40000,80,0x12345\n\
             2001:db8:1::6,2001:db8:ff::10,udp,40001,53,77\n\
             2001:db8:1::7,2001:db8:ff::10,6,40002,80,\n",
        );
        let flows = read_flows(&path).unwrap();
        let Flow::V6(first) = flows[0] else { panic!() };
        assert_eq!(first.flow_label, 0x12345);
        assert!(matches!(
            flows[1],
            Flow::V6(FlowKey6 {
                flow_label: 77,
                proto: 17,
                ..
            })
        ));
        assert!(matches!(flows[2], Flow::V6(FlowKey6 { flow_label: 0, .. })));
        let mut q = question(Selection::HashThreshold, 3, Change::Remove(Position::Last));
        q.flows_file = Some(path.clone());
        q.ipv6 = ipv6_with(true, 0, "0x7", "route-get").unwrap();
        let (answer, rows) = super::answer(&q).unwrap();
        assert_eq!(answer.flows, 3);
        // The first flow's next hop is what hash-threshold makes of rt6_multipath_hash.
        let h = Ipv6Hasher::new(Ipv6HashPolicy::L3, Ipv6HashPath::RouteLookup, q.seed).hash(&first);
        let group = EcmpGroup::new(Selection::HashThreshold, &[0, 1, 2]).unwrap();
        assert_eq!(rows[0].1, group.peek(h));
        // Without --ipv6 the file is refused, and so is --ipv6 with IPv4 flows.
        q.ipv6 = None;
        assert!(super::answer(&q)
            .unwrap_err()
            .to_string()
            .contains("--ipv6"));
        let _ = std::fs::remove_file(path);
    }

    #[test]
    fn flows_file_errors_name_the_line() {
        for (text, want) in [
            (
                "src,dst,proto,sport,dport\n10.0.0.1,192.0.2.10,tcp,1,80\n2001:db8::1,2001:db8::2,tcp,1,80\n",
                ":3: an IPv6 flow after IPv4 flows (line 2)",
            ),
            (
                "src,dst,proto,sport,dport\n10.0.0.1,2001:db8::2,tcp,1,80\n",
                ":2: src 10.0.0.1 and dst 2001:db8::2 are of different families",
            ),
            (
                "src,dst,proto,sport,dport,flowlabel\n10.0.0.1,192.0.2.10,tcp,1,80,5\n",
                ":2: flowlabel \"5\" on an IPv4 flow",
            ),
            (
                "src,dst,proto,sport,dport,flowlabel\n2001:db8::1,2001:db8::2,tcp,1,80,1048576\n",
                ":2: flowlabel \"1048576\" is not a flow label",
            ),
            (
                "src,dst,proto,sport,dport\n2001:db8::g,2001:db8::2,tcp,1,80\n",
                ":2: src \"2001:db8::g\" is not an IPv4 or IPv6 address",
            ),
        ] {
            let path = write("bad.csv", text);
            let e = read_flows(&path).unwrap_err().to_string();
            assert!(e.contains(want), "{e}");
            let _ = std::fs::remove_file(path);
        }
        assert!(ipv6_with(true, 4, "0", "forwarded").is_err());
        assert!(ipv6_with(true, 3, "0xzz", "forwarded").is_err());
        assert!(ipv6_with(true, 0, "0", "sideways").is_err());
        assert_eq!(ipv6_with(false, 0, "0x0007", "forwarded").unwrap(), None);
        assert!(ipv6_with(false, 2, "0x0007", "forwarded").is_err());
    }
}
