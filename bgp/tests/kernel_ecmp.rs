//! The `linux` hash with `hash-threshold` and `resilient` selection against the real kernel.
//!
//! The test builds a router in a network namespace of its own: an ingress veth `in0`, an
//! egress veth `out0` with next hops 192.168.0.10 + i (node i), forwarding on, rp_filter off,
//! and the multipath hash policy and a non-zero seed set inside the namespace. It installs
//! the VIP /32 with N next hops and asks the kernel, flow by flow, which next hop a packet
//! arriving on `in0` would take (`ip route get VIP from SRC iif in0 ipproto tcp sport P
//! dport D`: the forwarding path, no packet sent), hundreds at once through `ip -batch -`.
//! The model must agree on every flow; for resilient groups the kernel's bucket table
//! (`ip nexthop bucket show`) must equal the model's too, through a history of changes.
//!
//! Needs root, iproute2 and Linux >= 6.11; otherwise it prints
//! `SKIPPED: <test>: <what is missing>; <how to get it>` and passes.

use std::net::Ipv4Addr;
use std::thread::sleep;
use std::time::Duration;

use bgp::ecmp::whatif::random_flows;
use bgp::ecmp::{EcmpGroup, FlowHasher, FlowKey, HashFields, HashFunction, NextHop, Selection};
use sim_core::{SimDuration, SimTime};

mod netns;
use netns::{compare_flows, Netns};

const VIP: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 10);
const FLOWS: usize = 300;
const MAX_NODES: u32 = 9;
/// The resilient group's nexthop object id.
const GROUP_ID: u32 = 1000;

/// The next hop address of node `i`.
fn node_addr(i: NextHop) -> Ipv4Addr {
    Ipv4Addr::new(192, 168, 0, 10 + i as u8)
}

/// The kernel nexthop object id of node `i` (ids start at 1).
fn nh_id(i: NextHop) -> u32 {
    i + 1
}

/// What this test asks the kernel in the router namespace.
impl Netns {
    /// The kernel's next hop (node index) for every flow, in order.
    fn route_get(&self, flows: &[FlowKey]) -> Result<Vec<NextHop>, String> {
        let mut commands = String::new();
        for f in flows {
            commands.push_str(&format!(
                "route get {} from {} iif in0 ipproto tcp sport {} dport {}\n",
                f.dst, f.src, f.sport, f.dport
            ));
        }
        let out = self.batch(&commands)?;
        let answers: Vec<NextHop> = out
            .lines()
            .filter(|l| l.starts_with(&VIP.to_string()))
            .map(|l| {
                let via = l
                    .split_whitespace()
                    .skip_while(|&w| w != "via")
                    .nth(1)
                    .ok_or_else(|| format!("no via in {l:?}"))?;
                let addr: Ipv4Addr = via.parse().map_err(|e| format!("{via}: {e}"))?;
                Ok(NextHop::from(addr.octets()[3]) - 10)
            })
            .collect::<Result<_, String>>()?;
        if answers.len() != flows.len() {
            return Err(format!(
                "asked {} routes, got {} answers:\n{out}",
                flows.len(),
                answers.len()
            ));
        }
        Ok(answers)
    }

    /// The resilient group's bucket table: node index per bucket.
    fn buckets(&self) -> Result<Vec<NextHop>, String> {
        let out = self.ip(&["nexthop", "bucket", "show", "id", &GROUP_ID.to_string()])?;
        let mut table: Vec<(usize, NextHop)> = Vec::new();
        for line in out.lines().filter(|l| !l.trim().is_empty()) {
            let words: Vec<&str> = line.split_whitespace().collect();
            let field = |name: &str| -> Result<u32, String> {
                let at = words
                    .iter()
                    .position(|&w| w == name)
                    .ok_or_else(|| format!("no {name} in {line:?}"))?;
                words
                    .get(at + 1)
                    .and_then(|v| v.parse().ok())
                    .ok_or_else(|| format!("bad {name} in {line:?}"))
            };
            table.push((field("index")? as usize, field("nhid")? - 1));
        }
        table.sort_unstable();
        Ok(table.into_iter().map(|(_, nh)| nh).collect())
    }
}

/// Builds a router; an error here means the kernel cannot run the test.
fn router(tag: &str) -> Result<Netns, String> {
    let ns = Netns::create("ecmp", tag)?;
    ns.ip(&["link", "set", "lo", "up"])?;
    ns.ip(&["link", "add", "in0", "type", "veth", "peer", "name", "in1"])?;
    ns.ip(&[
        "link", "add", "out0", "type", "veth", "peer", "name", "out1",
    ])?;
    for dev in ["in0", "in1", "out0", "out1"] {
        ns.ip(&["link", "set", dev, "up"])?;
    }
    // Ingress outside 10.0.0.0/8, so that no random client address is a local one.
    ns.ip(&["addr", "add", "172.16.0.1/24", "dev", "in0"])?;
    ns.ip(&["addr", "add", "192.168.0.1/24", "dev", "out0"])?;
    ns.sysctl("net.ipv4.ip_forward", "1")?;
    for dev in ["all", "default", "in0"] {
        ns.sysctl(&format!("net.ipv4.conf.{dev}.rp_filter"), "0")?;
    }
    ns.sysctl("net.ipv4.fib_multipath_hash_seed", "1")
        .map_err(|e| format!("kernel without fib_multipath_hash_seed (Linux < 6.11?): {e}"))?;
    for i in 0..MAX_NODES {
        ns.ip(&[
            "nexthop",
            "add",
            "id",
            &nh_id(i).to_string(),
            "via",
            &node_addr(i).to_string(),
            "dev",
            "out0",
        ])?;
    }
    Ok(ns)
}

/// Linux `fib_multipath_hash_policy` for a field set.
fn policy(fields: HashFields) -> &'static str {
    match fields {
        HashFields::L3 => "0",
        HashFields::FiveTuple => "1",
        HashFields::ThreeTuple => "3",
    }
}

fn set_hash(ns: &Netns, fields: HashFields, seed: u32) -> Result<(), String> {
    ns.sysctl("net.ipv4.fib_multipath_hash_policy", policy(fields))?;
    // src ip | dst ip | ip proto: what policy 3 means by "3-tuple".
    ns.sysctl("net.ipv4.fib_multipath_hash_fields", "0x0007")?;
    ns.sysctl("net.ipv4.fib_multipath_hash_seed", &seed.to_string())
}

/// The member lists a case walks through: the start, then each change.
fn changes(n: u32) -> Vec<(String, Vec<NextHop>)> {
    let base: Vec<NextHop> = (0..n).collect();
    let without = |i: u32| -> Vec<NextHop> { base.iter().copied().filter(|&x| x != i).collect() };
    let mut added = base.clone();
    added.push(n);
    vec![
        ("remove first".into(), without(0)),
        ("remove middle".into(), without(n / 2)),
        ("remove last".into(), without(n - 1)),
        ("add one".into(), added),
    ]
}

fn nexthop_args(members: &[NextHop]) -> Vec<String> {
    members
        .iter()
        .flat_map(|&i| {
            [
                "nexthop".to_string(),
                "via".into(),
                node_addr(i).to_string(),
            ]
        })
        .collect()
}

/// Plain multipath routes (`fib_select_multipath`): N = 2..8, each change applied to the
/// N-member route.
fn hash_threshold_cases(ns: &Netns, k: usize, fields: HashFields) -> Result<usize, String> {
    let vip = format!("{VIP}/32");
    let mut checked = 0;
    {
        let seed = 0x5eed_0001 + k as u32 * 0x0101_0101;
        set_hash(ns, fields, seed)?;
        let hasher = FlowHasher::new(fields, HashFunction::Linux, seed);
        let flows = random_flows(u64::from(seed), FLOWS, VIP, 80);
        for n in 2..=8u32 {
            let base: Vec<NextHop> = (0..n).collect();
            let mut steps = vec![("initial".to_string(), base.clone())];
            steps.extend(changes(n));
            for (what, members) in steps {
                let mut args = vec!["route", "replace", vip.as_str()];
                let hops = nexthop_args(&members);
                args.extend(hops.iter().map(String::as_str));
                ns.ip(&args)?;
                let mut group =
                    EcmpGroup::new(Selection::HashThreshold, &base).map_err(|e| e.to_string())?;
                group.set_next_hops(SimTime::ZERO, &members);
                let model: Vec<Option<NextHop>> =
                    flows.iter().map(|f| group.peek(hasher.hash(f))).collect();
                let kernel = ns.route_get(&flows)?;
                compare_flows(
                    &format!("hash-threshold {fields} N={n} {what}"),
                    &flows,
                    &kernel,
                    &model,
                )?;
                checked += flows.len();
            }
        }
    }
    Ok(checked)
}

/// Resilient groups (`nexthop_select_path_res`): a history of changes applied to one group
/// in the kernel and in the model, comparing the bucket table after every change and the
/// choice of every flow after every change.
fn resilient_cases(ns: &Netns, k: usize, fields: HashFields) -> Result<usize, String> {
    let vip = format!("{VIP}/32");
    let group_id = GROUP_ID.to_string();
    let mut checked = 0;
    // (buckets, idle timer in seconds): idle 0 migrates at once; 120 s (the default) keeps
    // used buckets for the whole test, so only unused ones and orphans move.
    let timers: [(u16, u64); 3] = [(64, 0), (128, 120), (512, 120)];
    {
        let seed = 0x0dd5_eed0 + k as u32 * 0x0103_0507;
        set_hash(ns, fields, seed)?;
        let hasher = FlowHasher::new(fields, HashFunction::Linux, seed);
        let flows = random_flows(u64::from(seed) ^ 0xabc, FLOWS, VIP, 443);
        for n in 2..=8u32 {
            for &(buckets, idle_s) in &timers {
                let base: Vec<NextHop> = (0..n).collect();
                let selection = Selection::Resilient {
                    buckets,
                    idle_timer: SimDuration::from_secs(idle_s),
                    unbalanced_timer: SimDuration::ZERO,
                };
                let case = format!("resilient {fields} N={n} buckets={buckets} idle={idle_s}s");
                let _ = ns.ip(&["route", "del", &vip]);
                let _ = ns.ip(&["nexthop", "del", "id", &group_id]);
                let group_arg = |members: &[NextHop]| {
                    members
                        .iter()
                        .map(|&i| nh_id(i).to_string())
                        .collect::<Vec<_>>()
                        .join("/")
                };
                ns.ip(&[
                    "nexthop",
                    "add",
                    "id",
                    &group_id,
                    "group",
                    &group_arg(&base),
                    "type",
                    "resilient",
                    "buckets",
                    &buckets.to_string(),
                    "idle_timer",
                    &idle_s.to_string(),
                    "unbalanced_timer",
                    "0",
                ])?;
                ns.ip(&["route", "replace", &vip, "nhid", &group_id])?;
                let mut group = EcmpGroup::new(selection, &base).map_err(|e| e.to_string())?;

                // A history: every change applies to the group as the previous one left it.
                // The model's clock advances one second per phase. With an idle timer the
                // kernel's clock must tick between a migration and the next lookups, or it
                // would take "used in the jiffy it migrated" for "never used"
                // (`nh_res_bucket_idle_point` compares jiffies); a query and a following
                // change may share a jiffy, since the bucket then counts as used either way.
                let mut t = 0u64;
                let mut history = vec![("initial".to_string(), base.clone())];
                let mut members = base.clone();
                for (what, _) in changes(n) {
                    let next: Vec<NextHop> = match what.as_str() {
                        "remove first" => members[1..].to_vec(),
                        "remove middle" => {
                            let mut m = members.clone();
                            m.remove(m.len() / 2);
                            m
                        }
                        "remove last" => members[..members.len() - 1].to_vec(),
                        _ => {
                            let mut m = members.clone();
                            let fresh = (0..MAX_NODES).find(|x| !m.contains(x)).unwrap_or(0);
                            m.push(fresh);
                            m
                        }
                    };
                    if next.is_empty() {
                        continue;
                    }
                    history.push((what, next.clone()));
                    members = next;
                }
                for (step, (what, members)) in history.iter().enumerate() {
                    if step > 0 {
                        t += 1;
                        ns.ip(&[
                            "nexthop",
                            "replace",
                            "id",
                            &group_id,
                            "group",
                            &group_arg(members),
                            "type",
                            "resilient",
                        ])?;
                        group.set_next_hops(SimTime(t * 1_000_000_000), members);
                    }
                    let kernel_table = ns.buckets()?;
                    let model_table: Vec<NextHop> = group
                        .resilient_buckets()
                        .ok_or("not resilient")?
                        .into_iter()
                        .map(|b| b.unwrap_or(u32::MAX))
                        .collect();
                    if kernel_table != model_table {
                        return Err(format!(
                            "{case} after {what}: bucket tables differ\n kernel {kernel_table:?}\n model  {model_table:?}"
                        ));
                    }
                    if idle_s > 0 {
                        // Let the kernel's clock tick past the migration (HZ >= 100).
                        sleep(Duration::from_millis(11));
                    }
                    t += 1;
                    let now = SimTime(t * 1_000_000_000);
                    let model: Vec<Option<NextHop>> = flows
                        .iter()
                        .map(|f| group.select(now, hasher.hash(f)))
                        .collect();
                    let kernel = ns.route_get(&flows)?;
                    compare_flows(&format!("{case} after {what}"), &flows, &kernel, &model)?;
                    checked += flows.len();
                }
            }
        }
    }
    Ok(checked)
}

#[test]
fn linux_hash_matches_the_kernel_flow_for_flow() {
    // One router per (field set, group kind), run in parallel: most of the time is spent
    // waiting for the kernel (RCU grace periods on group replacement, clock ticks).
    let needs = testkit::root("network namespaces")
        .and(testkit::program("ip", "iproute2"))
        .and(testkit::program("sysctl", "procps"));
    if testkit::or_skip(needs).is_none() {
        return;
    }
    let mut routers = Vec::new();
    for (k, &fields) in HashFields::ALL.iter().enumerate() {
        for kind in ["threshold", "resilient"] {
            match router(&format!("{kind}{k}")) {
                Ok(ns) => routers.push((ns, k, fields, kind)),
                Err(reason) => {
                    testkit::Missing::new(
                        format!("could not build the router namespace ({reason})"),
                        "needs Linux >= 6.11 with network namespaces, veth and nexthop objects",
                    )
                    .skip();
                    return;
                }
            }
        }
    }
    let started = std::time::Instant::now();
    let results: Vec<(&str, Result<usize, String>)> = std::thread::scope(|scope| {
        let handles: Vec<_> = routers
            .iter()
            .map(|(ns, k, fields, kind)| {
                scope.spawn(move || {
                    let result = if *kind == "threshold" {
                        hash_threshold_cases(ns, *k, *fields)
                    } else {
                        resilient_cases(ns, *k, *fields)
                    };
                    (*kind, result)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or(("?", Err("thread panicked".into()))))
            .collect()
    });
    let (mut threshold, mut resilient) = (0, 0);
    let mut failures = Vec::new();
    for (kind, result) in results {
        match (kind, result) {
            ("threshold", Ok(n)) => threshold += n,
            (_, Ok(n)) => resilient += n,
            (_, Err(e)) => failures.push(e),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    eprintln!(
        "kernel_ecmp: {threshold} hash-threshold and {resilient} resilient lookups agree \
         with the kernel ({:.1} s)",
        started.elapsed().as_secs_f64()
    );
}
