//! The cluster's Kubernetes and MetalLB objects: IPAddressPools, LoadBalancer Services (each
//! with its IP from a named pool, its Deployment's pods and its `externalTrafficPolicy`),
//! BGPAdvertisements and L2Advertisements with `nodeSelectors` and `aggregationLength`, and
//! node labels for the selectors to match.
//!
//! ```text
//!  pools ──ip──▶ services ──pods──▶ nodes (placement)
//!    ▲               │
//!    └── advertisements (mode, nodeSelectors ▶ nodes, aggregationLength ▶ announced prefix)
//! ```
//! A scenario without `services` is the one-service lab it always was: [`Cluster::resolve`]
//! turns its `service` into a single [`ServiceDef`], advertised from every node as a /32 in
//! the variant's mode, so its outputs do not change.
//!
//! IP families (issue 13): pools may hold IPv4 and IPv6 ranges; a service's families follow
//! Kubernetes (`ipFamilyPolicy`, `ipFamilies`; the lab's cluster is dual-stack, so
//! PreferDualStack gets both families as RequireDualStack does) and MetalLB takes one IP per
//! family from one pool, each the lowest free address of that family in the pool's ranges in
//! order (internal/allocator `getIPFromCIDR`, which skips CIDRs of the other family).
//! [`Cluster::allocate`] does all of this; [`Cluster::resolve`] is what a run uses and refuses
//! IPv6 IPs, which the lab does not run yet, and IPv6 with the native BGP speaker, which
//! MetalLB does not support (its FRR mode does).

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use bgp::wire::Ipv4Prefix;
use serde::{Deserialize, Serialize};
use sim_core::setting;

use crate::scenario::{Mode, Placement, Pods, Scenario, TrafficPolicy, Variant};

/// A MetalLB `IPAddressPool`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AddressPool {
    /// `metadata.name`; services pick it by name (`metallb.universe.tf/address-pool`).
    pub name: String,
    /// `spec.addresses`: CIDRs (`"192.0.2.0/28"`) or ranges (`"192.0.2.240-192.0.2.249"`).
    pub addresses: Vec<String>,
}

/// A LoadBalancer Service, or `count` alike ones (`name-1` .. `name-count`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceEntry {
    /// `metadata.name` (with `count` > 1 the base of `name-k`).
    pub name: String,
    /// How many services this entry stands for.
    #[serde(
        default = "one",
        deserialize_with = "setting::int_in::<_, _, 1, 100000>"
    )]
    pub count: u32,
    /// The pool its IP comes from; unset: the first pool (in file order) with a free address.
    #[serde(default)]
    pub pool: Option<String>,
    /// A fixed IP (`metallb.universe.tf/loadBalancerIPs`); unset: the pool's lowest free
    /// address, as MetalLB's allocator walks a pool's ranges in order. Only with `count: 1`.
    #[serde(default)]
    pub ip: Option<IpAddr>,
    /// Fixed IPs of a dual-stack service, one per family in the order of its families
    /// (`loadBalancerIPs: "192.0.2.10,2001:db8::10"`); exclusive with `ip`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ips: Vec<IpAddr>,
    /// Kubernetes `spec.ipFamilyPolicy`; unset: SingleStack.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_family_policy: Option<IpFamilyPolicy>,
    /// Kubernetes `spec.ipFamilies`, the primary first; unset: the family of the fixed IP(s),
    /// else IPv4 (the lab cluster's primary family).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ip_families: Vec<IpFamily>,
    /// The service port; unset: `service.port`.
    #[serde(default)]
    pub port: Option<u16>,
    /// `externalTrafficPolicy`; unset: `service.traffic_policy`.
    #[serde(default)]
    pub traffic_policy: Option<TrafficPolicy>,
    /// Its Deployment; unset: `service.pods`.
    #[serde(default)]
    pub pods: Option<Pods>,
    /// Its pods are an ingress tier (nginx) proxying to another service's pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingress: Option<crate::ingress::IngressSpec>,
}

fn one() -> u32 {
    1
}

/// Kubernetes `spec.ipFamilyPolicy` of a Service.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Default)]
pub enum IpFamilyPolicy {
    /// One IP, of the primary family (the default).
    #[default]
    SingleStack,
    /// Both families when the cluster is dual-stack (the lab's is), else one.
    PreferDualStack,
    /// Both families; a single-stack cluster refuses the Service.
    RequireDualStack,
}

/// One entry of Kubernetes `spec.ipFamilies`.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, PartialOrd, Ord)]
pub enum IpFamily {
    /// `IPv4`.
    IPv4,
    /// `IPv6`.
    IPv6,
}

impl IpFamily {
    fn of(ip: IpAddr) -> IpFamily {
        match ip {
            IpAddr::V4(_) => IpFamily::IPv4,
            IpAddr::V6(_) => IpFamily::IPv6,
        }
    }
    fn other(self) -> IpFamily {
        match self {
            IpFamily::IPv4 => IpFamily::IPv6,
            IpFamily::IPv6 => IpFamily::IPv4,
        }
    }
}

/// Which MetalLB advertisement kind.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
pub enum AdvertisementMode {
    /// `BGPAdvertisement`: used when the variant runs BGP (or scripted routes).
    Bgp,
    /// `L2Advertisement`: used when the variant runs Layer 2.
    L2,
}

/// A `BGPAdvertisement` or `L2Advertisement`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Advertisement {
    /// Which kind.
    pub mode: AdvertisementMode,
    /// `spec.ipAddressPools`; empty: every pool (MetalLB: an advertisement without pools
    /// applies to all of them).
    #[serde(default)]
    pub pools: Vec<String>,
    /// `spec.nodeSelectors`: a node is selected when it has every label of at least one
    /// selector (`matchLabels`); empty: every node.
    #[serde(default)]
    pub node_selectors: Vec<BTreeMap<String, String>>,
    /// `spec.aggregationLength` (BGP): the announced prefix is the service IP masked to this
    /// length; 32 (the default) announces the IP itself.
    #[serde(
        default = "host_len",
        deserialize_with = "setting::int_in::<_, _, 0, 32>"
    )]
    pub aggregation_length: u8,
}

fn host_len() -> u8 {
    32
}

/// Labels on nodes: `label` (`"key=value"`) on each listed node (`"node-3"`, or an inclusive
/// range `"node-1..node-500"`).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct NodeLabel {
    /// `key=value`.
    pub label: String,
    /// The nodes that carry it.
    pub nodes: Vec<String>,
}

/// One advertisement as a run uses it: the nodes it selects and the prefix length it announces.
#[derive(Debug, Clone, PartialEq)]
pub struct AdDef {
    /// Which kind.
    pub mode: AdvertisementMode,
    /// Per node: selected.
    pub nodes: Vec<bool>,
    /// The announced prefix length.
    pub prefix_len: u8,
}

/// One service as a run uses it.
#[derive(Debug, Clone)]
pub struct ServiceDef {
    /// Its name.
    pub name: String,
    /// Its pool, when the scenario has pools.
    pub pool: Option<String>,
    /// Its IPv4 LoadBalancer IP, the one the lab runs (`0.0.0.0` for an IPv6-only service,
    /// which [`Cluster::resolve`] refuses).
    pub vip: Ipv4Addr,
    /// Every LoadBalancer IP, one per family, the primary family first.
    pub ips: Vec<IpAddr>,
    /// Its entry's index in the `services` list (for errors).
    pub entry: usize,
    /// Its port.
    pub port: u16,
    /// `externalTrafficPolicy`.
    pub policy: TrafficPolicy,
    /// Its Deployment.
    pub pods: Pods,
    /// Nodes its pods run on, pod by pod.
    pub pod_nodes: Vec<u16>,
    /// The advertisements of the variant's mode that cover its pool (indices into
    /// [`Cluster::ads`]).
    pub ads: Vec<u32>,
    /// It is an ingress tier in front of another service.
    pub ingress: Option<crate::ingress::IngressSpec>,
}

impl ServiceDef {
    /// The prefixes it is announced as, longest first, without repeats.
    pub fn prefixes(&self, ads: &[AdDef]) -> Vec<Ipv4Prefix> {
        let mut lens: Vec<u8> = self
            .ads
            .iter()
            .map(|&a| ads[a as usize].prefix_len)
            .collect();
        lens.sort_unstable_by(|a, b| b.cmp(a));
        lens.dedup();
        lens.into_iter()
            .filter_map(|l| Ipv4Prefix::new(self.vip, l))
            .collect()
    }

    /// Whether any of its advertisements selects `node`.
    pub fn selected(&self, ads: &[AdDef], node: u16) -> bool {
        self.ads
            .iter()
            .any(|&a| ads[a as usize].nodes[usize::from(node)])
    }
}

/// The services of one variant and how they are advertised.
#[derive(Debug, Clone)]
pub struct Cluster {
    /// The services, in file order (a `count` entry expanded in place).
    pub services: Vec<ServiceDef>,
    /// The advertisements of the variant's mode.
    pub ads: Vec<AdDef>,
    /// The scenario lists `services` (outputs then carry per-service tables and files).
    pub multi: bool,
}

/// A refusal: (field path, what is wrong and what would be valid).
pub type Refusal = (String, String);

fn refuse<T>(field: impl Into<String>, message: String) -> Result<T, Refusal> {
    Err((field.into(), message))
}

/// A pool range: its family and first and last address as numbers (IPv4 in the low 32 bits).
type Range = (IpFamily, u128, u128);

fn number(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

fn address(family: IpFamily, n: u128) -> IpAddr {
    match family {
        IpFamily::IPv4 => IpAddr::V4(Ipv4Addr::from(n as u32)),
        IpFamily::IPv6 => IpAddr::V6(Ipv6Addr::from(n)),
    }
}

fn contains(ranges: &[Range], ip: IpAddr) -> bool {
    let (f, n) = (IpFamily::of(ip), number(ip));
    ranges
        .iter()
        .any(|&(rf, a, b)| rf == f && (a..=b).contains(&n))
}

/// The addresses of one `spec.addresses` entry, in order: an IPv4 or IPv6 CIDR, range or
/// single address.
fn parse_range(s: &str) -> Result<Range, String> {
    let ip = |t: &str| {
        t.trim()
            .parse::<IpAddr>()
            .map_err(|_| format!("{t:?} is not an IPv4 or IPv6 address"))
    };
    if let Some((a, b)) = s.split_once('-') {
        let (a, b) = (ip(a)?, ip(b)?);
        if IpFamily::of(a) != IpFamily::of(b) {
            return Err(format!("{s:?}: a range is of one family"));
        }
        if number(a) > number(b) {
            return Err(format!("{s:?}: the range ends before it starts"));
        }
        return Ok((IpFamily::of(a), number(a), number(b)));
    }
    if let Some((a, len)) = s.split_once('/') {
        let a = ip(a)?;
        let bits: u8 = if a.is_ipv4() { 32 } else { 128 };
        let len: u8 = len
            .trim()
            .parse()
            .ok()
            .filter(|l| *l <= bits)
            .ok_or_else(|| format!("{s:?}: the prefix length must be 0 to {bits}"))?;
        let host = u128::MAX
            .checked_shr(u32::from(128 - bits + len))
            .unwrap_or(0);
        let first = number(a) & !host;
        return Ok((IpFamily::of(a), first, first | host));
    }
    let a = ip(s)?;
    Ok((IpFamily::of(a), number(a), number(a)))
}

/// Node names of a label's `nodes` list, as indices.
fn label_nodes(list: &[String], count: u16, field: &str) -> Result<Vec<u16>, Refusal> {
    let index = |n: &str| -> Option<u16> {
        n.strip_prefix("node-")
            .and_then(|k| k.parse::<u16>().ok())
            .filter(|k| (1..=count).contains(k))
            .map(|k| k - 1)
    };
    let mut out = Vec::new();
    for (i, item) in list.iter().enumerate() {
        let bad = || {
            refuse(
                format!("{field}[{i}]"),
                format!("{item:?}: a node is node-1 .. node-{count}, a range is \"node-1..node-{count}\""),
            )
        };
        match item.split_once("..") {
            Some((a, b)) => match (index(a), index(b)) {
                (Some(a), Some(b)) if a <= b => out.extend(a..=b),
                _ => return bad(),
            },
            None => match index(item) {
                Some(k) => out.push(k),
                None => return bad(),
            },
        }
    }
    Ok(out)
}

impl Cluster {
    /// The services of variant `v` of `s` as a run uses them: [`Cluster::allocate`], then
    /// refused if a service has an IPv6 IP (the lab runs IPv4 services so far; with the native
    /// BGP speaker, never: MetalLB announces IPv6 only in FRR mode).
    ///
    /// # Errors
    /// A [`Refusal`] naming the field: those of [`Cluster::allocate`], and the IPv6 ones.
    pub fn resolve(s: &Scenario, v: &Variant) -> Result<Cluster, Refusal> {
        let cluster = Cluster::allocate(s, v)?;
        let Some(d) = cluster
            .services
            .iter()
            .find(|d| d.ips.iter().any(IpAddr::is_ipv6))
        else {
            return Ok(cluster);
        };
        let e = &v.services.as_ref().unwrap_or(&s.services)[d.entry];
        let f = if e.ip_family_policy.is_some() {
            "ip_family_policy"
        } else if !e.ip_families.is_empty() {
            "ip_families"
        } else if !e.ips.is_empty() {
            "ips"
        } else {
            "ip"
        };
        let field = format!("services[{}].{f}", d.entry);
        let native = s
            .bgp_of(v)
            .is_some_and(|b| b.speaker == crate::scenario::SpeakerKind::Native);
        if native && s.mode_of(v) == Mode::Bgp {
            return refuse(field, format!("{:?} gets the IPv6 IP {} (variant {:?}): MetalLB's native BGP speaker announces IPv4 only; IPv6 needs FRR mode (bgp: (speaker: FrrDatacenter))", d.name, list(&d.ips), v.name));
        }
        refuse(field, format!("{:?} gets the IPv6 IP {} (variant {:?}): the lab runs IPv4 service IPs only so far (docs/ipv6.md)", d.name, list(&d.ips), v.name))
    }

    /// The services of variant `v` of `s` and their advertisements in the variant's mode, with
    /// their IPs of every family.
    ///
    /// # Errors
    /// A [`Refusal`] naming the field: an unknown pool, a pool out of addresses, an IP outside
    /// its pool or used twice, IPs that do not match the service's families, a bad label or
    /// node name.
    pub fn allocate(s: &Scenario, v: &Variant) -> Result<Cluster, Refusal> {
        let n = s.nodes.count;
        let mode = match s.mode_of(v) {
            Mode::L2 => AdvertisementMode::L2,
            Mode::Bgp | Mode::Scripted => AdvertisementMode::Bgp,
        };
        // Node labels.
        let mut labels: Vec<BTreeSet<(String, String)>> = vec![BTreeSet::new(); usize::from(n)];
        for (i, l) in s.nodes.labels.iter().enumerate() {
            let field = format!("nodes.labels[{i}]");
            let Some((k, val)) = l.label.split_once('=') else {
                return refuse(
                    format!("{field}.label"),
                    format!(
                        "{:?}: a label is written key=value, e.g. \"zone=a\"",
                        l.label
                    ),
                );
            };
            for node in label_nodes(&l.nodes, n, &format!("{field}.nodes"))? {
                labels[usize::from(node)].insert((k.to_string(), val.to_string()));
            }
        }
        // Pools.
        let mut pools: Vec<(&str, Vec<Range>)> = Vec::new();
        for (i, p) in s.pools.iter().enumerate() {
            if pools.iter().any(|(name, _)| *name == p.name) {
                return refuse(
                    format!("pools[{i}].name"),
                    format!("pool {:?} is named twice", p.name),
                );
            }
            let mut ranges = Vec::new();
            for (j, a) in p.addresses.iter().enumerate() {
                ranges.push(parse_range(a).map_err(|m| (format!("pools[{i}].addresses[{j}]"), m))?);
            }
            if ranges.is_empty() {
                return refuse(
                    format!("pools[{i}].addresses"),
                    "a pool needs addresses, e.g. [\"192.0.2.240-192.0.2.249\"]".into(),
                );
            }
            pools.push((p.name.as_str(), ranges));
        }
        let pool_names = || pools.iter().map(|p| p.0).collect::<Vec<_>>().join(", ");
        // Advertisements of this mode (none listed: every pool from every node, /32).
        let listed = v.advertisements.as_ref().unwrap_or(&s.advertisements);
        let mut ads = Vec::new();
        let mut ad_pools: Vec<Vec<String>> = Vec::new();
        if listed.is_empty() {
            ads.push(AdDef {
                mode,
                nodes: vec![true; usize::from(n)],
                prefix_len: 32,
            });
            ad_pools.push(Vec::new());
        }
        for (i, a) in listed.iter().enumerate() {
            for (j, p) in a.pools.iter().enumerate() {
                if !pools.iter().any(|q| q.0 == p) {
                    return refuse(
                        format!("advertisements[{i}].pools[{j}]"),
                        format!("no pool {p:?}; valid: {}", pool_names()),
                    );
                }
            }
            if a.mode == AdvertisementMode::L2 && a.aggregation_length != 32 {
                return refuse(
                    format!("advertisements[{i}].aggregation_length"),
                    "aggregationLength is a BGPAdvertisement field; an L2Advertisement announces the IP itself".into(),
                );
            }
            if a.mode != mode {
                continue;
            }
            let nodes = (0..usize::from(n))
                .map(|k| {
                    a.node_selectors.is_empty()
                        || a.node_selectors.iter().any(|sel| {
                            sel.iter()
                                .all(|(key, val)| labels[k].contains(&(key.clone(), val.clone())))
                        })
                })
                .collect();
            ads.push(AdDef {
                mode,
                nodes,
                prefix_len: a.aggregation_length,
            });
            ad_pools.push(a.pools.clone());
        }
        // Services.
        let entries: Vec<ServiceEntry> = match v.services.as_ref().unwrap_or(&s.services) {
            list if !list.is_empty() => list.clone(),
            _ => vec![ServiceEntry {
                name: s.service_name(v),
                count: 1,
                pool: None,
                ip: Some(s.service.vip.into()),
                ips: Vec::new(),
                ip_family_policy: None,
                ip_families: Vec::new(),
                port: None,
                traffic_policy: v.service.as_ref().and_then(|p| p.traffic_policy),
                pods: None,
                ingress: None,
            }],
        };
        let multi = !v.services.as_ref().unwrap_or(&s.services).is_empty();
        let mut used: BTreeMap<IpAddr, String> = BTreeMap::new();
        let mut services = Vec::new();
        let mut pod_offset = 0usize;
        let base = if multi { "services" } else { "service" };
        for (i, e) in entries.iter().enumerate() {
            let field = |f: &str| format!("{base}[{i}].{f}");
            let fixed: Vec<IpAddr> = e.ip.into_iter().chain(e.ips.iter().copied()).collect();
            if e.ip.is_some() && !e.ips.is_empty() {
                return refuse(
                    field("ips"),
                    "give ip (one) or ips (one per family), not both".into(),
                );
            }
            if !fixed.is_empty() && e.count > 1 {
                return refuse(field(if e.ips.is_empty() { "ip" } else { "ips" }), "a fixed ip is for one service: with count > 1 each takes the next free address of its pool".into());
            }
            let families = families(e).map_err(|(f, m)| (field(f), m))?;
            let pool_idx = match &e.pool {
                Some(p) => Some(pools.iter().position(|q| q.0 == p).ok_or_else(|| {
                    (
                        field("pool"),
                        format!("no pool {p:?}; valid: {}", pool_names()),
                    )
                })?),
                None => None,
            };
            for k in 0..e.count {
                let name = if e.count == 1 {
                    e.name.clone()
                } else {
                    format!("{}-{}", e.name, k + 1)
                };
                if services.iter().any(|d: &ServiceDef| d.name == name) {
                    return refuse(field("name"), format!("service {name:?} is named twice"));
                }
                let ip_field = field(if e.ips.is_empty() { "ip" } else { "ips" });
                let (ips, pool) = if fixed.is_empty() {
                    // The named pool, or the first (file order) with a free address of every
                    // family.
                    let candidates: Vec<usize> = match pool_idx {
                        Some(p) => vec![p],
                        None => (0..pools.len()).collect(),
                    };
                    let found = candidates.iter().find_map(|&p| {
                        let ips: Option<Vec<IpAddr>> = families
                            .iter()
                            .map(|&f| free_in(&pools[p].1, f, &used))
                            .collect();
                        ips.map(|ips| (ips, Some(p)))
                    });
                    match found {
                        Some(x) => x,
                        None if pools.is_empty() => {
                            return refuse(
                                field("ip"),
                                "give an ip, or pools to take one from".into(),
                            )
                        }
                        None => {
                            let what = family_names(&families);
                            let msg = match pool_idx {
                                Some(p) => format!("pool {:?} has no free address for {name:?} ({what})", pools[p].0),
                                None => format!("no pool has a free address for {name:?} ({what}, from one pool)"),
                            };
                            return refuse(field("pool"), msg);
                        }
                    }
                } else {
                    let given: Vec<IpFamily> = fixed.iter().map(|&ip| IpFamily::of(ip)).collect();
                    if given != families {
                        return refuse(
                            ip_field,
                            format!(
                                "{} are of the families {}, the service's are {}: one IP per family, in the order of ip_families",
                                list(&fixed),
                                family_names(&given),
                                family_names(&families)
                            ),
                        );
                    }
                    let in_pool = |p: usize| fixed.iter().all(|&ip| contains(&pools[p].1, ip));
                    let pool = match pool_idx {
                        Some(p) if !in_pool(p) => {
                            return refuse(
                                ip_field,
                                format!("{} is not in pool {:?}", list(&fixed), pools[p].0),
                            )
                        }
                        Some(p) => Some(p),
                        None => {
                            let p = (0..pools.len()).find(|&p| in_pool(p));
                            if p.is_none() && !pools.is_empty() {
                                return refuse(
                                    ip_field,
                                    format!(
                                        "{} is in no pool; pools: {}",
                                        list(&fixed),
                                        pool_names()
                                    ),
                                );
                            }
                            p
                        }
                    };
                    (fixed.clone(), pool)
                };
                for &ip in &ips {
                    if let Some(other) = used.insert(ip, name.clone()) {
                        return refuse(ip_field, format!("{ip} is already {other:?}'s"));
                    }
                    if let IpAddr::V4(v4) = ip {
                        if let Some(owner) = crate::lab::address_owner(v4, n) {
                            return refuse(ip_field, format!("{v4} is {owner} in the lab's address plan (router 10.0.0.1, nodes 10.0.0.11 up, clients 198.18.0.0/15)"));
                        }
                    }
                }
                let vip = ips
                    .iter()
                    .find_map(|ip| match ip {
                        IpAddr::V4(v4) => Some(*v4),
                        IpAddr::V6(_) => None,
                    })
                    .unwrap_or(Ipv4Addr::UNSPECIFIED);
                let pool_name = pool.map(|p| pools[p].0.to_string());
                let pods = e.pods.clone().unwrap_or_else(|| s.service.pods.clone());
                let hosts: Vec<u16> = match &pods.placement {
                    Placement::Spread => (0..n).collect(),
                    Placement::OnNodes(list) => list
                        .iter()
                        .filter_map(|m| m.strip_prefix("node-").and_then(|k| k.parse::<u16>().ok()))
                        .filter(|k| (1..=n).contains(k))
                        .map(|k| k - 1)
                        .collect(),
                };
                if hosts.is_empty() {
                    return refuse(
                        field("pods.placement"),
                        format!("names no node of node-1 .. node-{n}"),
                    );
                }
                // Spread continues where the previous service's pods ended, so many small
                // services cover the cluster instead of piling onto node-1.
                let start = if matches!(pods.placement, Placement::Spread) {
                    pod_offset
                } else {
                    0
                };
                let pod_nodes = (0..usize::from(pods.replicas))
                    .map(|r| hosts[(start + r) % hosts.len()])
                    .collect();
                pod_offset += usize::from(pods.replicas);
                let ad_list = ads
                    .iter()
                    .enumerate()
                    .filter(|(j, _)| {
                        let ps = &ad_pools[*j];
                        ps.is_empty() || pool_name.as_ref().is_some_and(|p| ps.contains(p))
                    })
                    .map(|(j, _)| j as u32)
                    .collect();
                services.push(ServiceDef {
                    name,
                    pool: pool_name,
                    vip,
                    ips,
                    entry: i,
                    port: e.port.unwrap_or(s.service.port),
                    policy: e.traffic_policy.unwrap_or(s.service.traffic_policy),
                    pods,
                    pod_nodes,
                    ads: ad_list,
                    ingress: e.ingress.clone(),
                });
            }
        }
        Ok(Cluster {
            services,
            ads,
            multi,
        })
    }

    /// The service a client group targets (`clients[i].service`), as indices: the named
    /// service, or every `name-k` of an entry with `count` > 1; none named: the first service.
    pub fn targets(&self, name: Option<&str>) -> Vec<u32> {
        let Some(name) = name else {
            return vec![0];
        };
        if let Some(i) = self.services.iter().position(|d| d.name == name) {
            return vec![i as u32];
        }
        let prefix = format!("{name}-");
        self.services
            .iter()
            .enumerate()
            .filter(|(_, d)| {
                d.name
                    .strip_prefix(&prefix)
                    .is_some_and(|k| k.parse::<u32>().is_ok())
            })
            .map(|(i, _)| i as u32)
            .collect()
    }
}

/// The lowest address of `family` in `ranges` (in order) not in `used`.
fn free_in(ranges: &[Range], family: IpFamily, used: &BTreeMap<IpAddr, String>) -> Option<IpAddr> {
    for &(f, a, b) in ranges.iter().filter(|r| r.0 == family) {
        // Skip past used addresses in order; a range of millions costs only what is used.
        let mut n = a;
        for (&u, _) in used.range(address(f, a)..=address(f, b)) {
            if number(u) != n {
                break;
            }
            n = n.checked_add(1)?;
        }
        if n <= b {
            return Some(address(f, n));
        }
    }
    None
}

/// The families Kubernetes gives a Service (pkg/registry/core/service/storage/alloc.go
/// `initIPFamilyFields`): SingleStack one, the first of `ipFamilies` (or the fixed IP's, or
/// the cluster's primary IPv4); the dual-stack policies both, the primary first, on the lab's
/// dual-stack cluster. Errors name the field (relative to the entry).
fn families(e: &ServiceEntry) -> Result<Vec<IpFamily>, (&'static str, String)> {
    let policy = e.ip_family_policy.unwrap_or_default();
    let fixed = e.ip.into_iter().chain(e.ips.iter().copied());
    let primary = e
        .ip_families
        .first()
        .copied()
        .or_else(|| fixed.map(IpFamily::of).next())
        .unwrap_or(IpFamily::IPv4);
    match e.ip_families.as_slice() {
        [a, b] if a == b => {
            return Err(("ip_families", format!("{a:?} is given twice: the two families are IPv4 and IPv6")))
        }
        [_, _, ..] if policy == IpFamilyPolicy::SingleStack => {
            return Err(("ip_families", "two families need ip_family_policy: PreferDualStack or RequireDualStack (SingleStack takes one)".into()))
        }
        [_, _, _, ..] => return Err(("ip_families", "at most two families: IPv4 and IPv6".into())),
        _ => {}
    }
    Ok(match policy {
        IpFamilyPolicy::SingleStack => vec![primary],
        IpFamilyPolicy::PreferDualStack | IpFamilyPolicy::RequireDualStack => {
            vec![primary, primary.other()]
        }
    })
}

fn family_names(families: &[IpFamily]) -> String {
    families
        .iter()
        .map(|f| format!("{f:?}"))
        .collect::<Vec<_>>()
        .join("+")
}

fn list(ips: &[IpAddr]) -> String {
    ips.iter()
        .map(IpAddr::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn parse(extra: &str) -> Scenario {
        Scenario::parse(
            Path::new("t.ron"),
            &format!(
                r#"(name: "t", duration: "1s", nodes: (count: 7, labels: [(label: "zone=a", nodes: ["node-1..node-3"])]),
                service: (pods: (replicas: 2, service_time: Constant(time: "100us"))),
                clients: [(name: "c", load: OpenLoop(rate: 10))], {extra})"#
            ),
        )
        .unwrap()
    }

    #[test]
    fn the_seeds_two_pools_give_their_first_free_addresses() {
        let s = parse(
            r#"pools: [(name: "l2", addresses: ["192.0.2.240-192.0.2.249"]), (name: "bgp", addresses: ["192.0.2.250-192.0.2.254"])],
               services: [(name: "benchmark-l2", pool: "l2"), (name: "benchmark-bgp", pool: "bgp"), (name: "x", pool: "l2", count: 2)]"#,
        );
        let c = Cluster::resolve(&s, &s.variant_list()[0]).unwrap();
        let ips: Vec<String> = c
            .services
            .iter()
            .map(|d| format!("{} {}", d.name, d.vip))
            .collect();
        assert_eq!(
            ips,
            [
                "benchmark-l2 192.0.2.240",
                "benchmark-bgp 192.0.2.250",
                "x-1 192.0.2.241",
                "x-2 192.0.2.242"
            ]
        );
        // Spread continues over the cluster: 2 pods each, node-1/2, node-3/4, ...
        assert_eq!(c.services[1].pod_nodes, [2, 3]);
        assert_eq!(c.targets(Some("x")), [2, 3]);
        assert_eq!(c.targets(None), [0]);
    }

    #[test]
    fn node_selectors_and_aggregation() {
        let s = parse(
            r#"pools: [(name: "p", addresses: ["192.0.2.0/28"])],
               services: [(name: "a", pool: "p")],
               advertisements: [(mode: Bgp, node_selectors: [{"zone": "a"}], aggregation_length: 24), (mode: L2, pools: ["p"])]"#,
        );
        let c = Cluster::resolve(&s, &s.variant_list()[0]).unwrap();
        assert_eq!(
            c.ads.len(),
            1,
            "scripted mode takes the BGP advertisement only"
        );
        assert_eq!(
            c.ads[0].nodes,
            [true, true, true, false, false, false, false]
        );
        let d = &c.services[0];
        assert_eq!(d.vip, Ipv4Addr::new(192, 0, 2, 0));
        assert_eq!(d.prefixes(&c.ads)[0].to_string(), "192.0.2.0/24");
    }

    #[test]
    fn bad_pools_and_ips_are_refused_at_their_field() {
        let s = |extra: &str| {
            Scenario::parse(
                Path::new("t.ron"),
                &format!(
                    r#"(name: "t", duration: "1s", nodes: (count: 3),
                    service: (pods: (replicas: 2, service_time: Constant(time: "100us"))),
                    clients: [(name: "c", load: OpenLoop(rate: 10))], {extra})"#
                ),
            )
            .unwrap_err()
            .to_string()
        };
        let e = s(
            r#"pools: [(name: "p", addresses: ["192.0.2.1-192.0.2.2"])], services: [(name: "a", pool: "q")]"#,
        );
        assert!(
            e.contains("services[0].pool") && e.contains("no pool \"q\"; valid: p"),
            "{e}"
        );
        let e = s(
            r#"pools: [(name: "p", addresses: ["192.0.2.1-192.0.2.2"])], services: [(name: "a", pool: "p", count: 3)]"#,
        );
        assert!(e.contains("no free address"), "{e}");
        let e = s(
            r#"pools: [(name: "p", addresses: ["192.0.2.1-192.0.2.2"])], services: [(name: "a", pool: "p", ip: "192.0.2.9")]"#,
        );
        assert!(e.contains("not in pool"), "{e}");
        let e = s(
            r#"pools: [(name: "p", addresses: ["192.0.2.9-192.0.2.2"])], services: [(name: "a")]"#,
        );
        assert!(
            e.contains("pools[0].addresses[0]") && e.contains("ends before"),
            "{e}"
        );
    }

    #[test]
    fn free_addresses_skip_the_used_ones() {
        let v4 = |n: u32| IpAddr::V4(Ipv4Addr::from(n));
        let used: BTreeMap<IpAddr, String> =
            [(v4(10), String::new()), (v4(11), String::new())].into();
        let r = |a: u128, b: u128| (IpFamily::IPv4, a, b);
        assert_eq!(free_in(&[r(10, 12)], IpFamily::IPv4, &used), Some(v4(12)));
        assert_eq!(
            free_in(&[r(10, 11), r(20, 20)], IpFamily::IPv4, &used),
            Some(v4(20))
        );
        assert_eq!(free_in(&[r(10, 11)], IpFamily::IPv4, &used), None);
        assert_eq!(free_in(&[r(10, 11)], IpFamily::IPv6, &used), None);
    }

    /// A scenario read without validation (which refuses IPv6 for the lab).
    fn raw(extra: &str) -> Scenario {
        crate::input::parse_ron(
            &format!(
                r#"(name: "t", duration: "1s", nodes: (count: 3),
                service: (pods: (replicas: 2, service_time: Constant(time: "100us"))),
                clients: [(name: "c", load: OpenLoop(rate: 10))], {extra})"#
            ),
            64,
        )
        .unwrap()
    }

    fn ips_of(extra: &str) -> Result<Vec<String>, Refusal> {
        let s = raw(extra);
        let c = Cluster::allocate(&s, &s.variant_list()[0])?;
        Ok(c.services
            .iter()
            .map(|d| format!("{} {}", d.name, list(&d.ips)))
            .collect())
    }

    const DUAL_POOL: &str = r#"pools: [(name: "p", addresses: ["192.0.2.10-192.0.2.19", "2001:db8::/126", "2001:db8:1::5"])]"#;

    #[test]
    fn families_follow_the_policy_and_take_one_ip_each_from_one_pool() {
        let got = ips_of(&format!(
            r#"{DUAL_POOL}, services: [
                (name: "v4"),
                (name: "v6", ip_families: [IPv6]),
                (name: "dual", ip_family_policy: PreferDualStack),
                (name: "dual6", ip_family_policy: RequireDualStack, ip_families: [IPv6, IPv4]),
                (name: "fixed", ips: ["2001:db8:1::5", "192.0.2.19"], ip_family_policy: RequireDualStack),
                (name: "one6", ip: "2001:db8::3"),
            ]"#
        ))
        .unwrap();
        assert_eq!(
            got,
            [
                "v4 192.0.2.10",
                "v6 2001:db8::",
                "dual 192.0.2.11,2001:db8::1",
                "dual6 2001:db8::2,192.0.2.12",
                "fixed 2001:db8:1::5,192.0.2.19",
                "one6 2001:db8::3",
            ]
        );
        // The pool's IPv6 CIDR is used up: a fifth IPv6 address comes from the single one.
        let got = ips_of(&format!(
            r#"{DUAL_POOL}, services: [(name: "x", count: 5, ip_families: [IPv6])]"#
        ))
        .unwrap();
        assert_eq!(got[4], "x-5 2001:db8:1::5");
    }

    #[test]
    fn family_mistakes_are_refused_at_their_field() {
        let err = |extra: &str| ips_of(&format!("{DUAL_POOL}, {extra}")).unwrap_err();
        let (f, m) = err(r#"services: [(name: "a", ip_families: [IPv4, IPv6])]"#);
        assert_eq!(f, "services[0].ip_families");
        assert!(m.contains("PreferDualStack"), "{m}");
        let (f, m) = err(
            r#"services: [(name: "a", ip_family_policy: PreferDualStack, ip_families: [IPv6, IPv6])]"#,
        );
        assert_eq!(f, "services[0].ip_families");
        assert!(m.contains("twice"), "{m}");
        let (f, m) = err(
            r#"services: [(name: "a", ip_family_policy: PreferDualStack, ips: ["2001:db8::1", "192.0.2.10"], ip_families: [IPv4])]"#,
        );
        assert_eq!(f, "services[0].ips");
        assert!(m.contains("in the order of ip_families"), "{m}");
        let (f, _) = err(r#"services: [(name: "a", ip: "192.0.2.10", ips: ["192.0.2.11"])]"#);
        assert_eq!(f, "services[0].ips");
        let (f, m) = err(r#"services: [(name: "a", ip: "2001:db8:9::1")]"#);
        assert_eq!(f, "services[0].ip");
        assert!(m.contains("in no pool"), "{m}");
        // A pool without IPv6 cannot serve a dual-stack service.
        let (f, m) = ips_of(
            r#"pools: [(name: "p", addresses: ["192.0.2.10/31"])], services: [(name: "a", ip_family_policy: RequireDualStack)]"#,
        )
        .unwrap_err();
        assert_eq!(f, "services[0].pool");
        assert!(m.contains("IPv4+IPv6"), "{m}");
        let (f, m) = ips_of(r#"pools: [(name: "p", addresses: ["192.0.2.1-2001:db8::1"])], services: [(name: "a")]"#).unwrap_err();
        assert_eq!(f, "pools[0].addresses[0]");
        assert!(m.contains("one family"), "{m}");
    }

    /// What a run refuses, with the file position: IPv6 with MetalLB's native BGP speaker
    /// (FRR mode only), and IPv6 at all until the lab runs it.
    #[test]
    fn ipv6_is_refused_for_the_native_speaker_and_for_the_lab() {
        let text = |bgp: &str| {
            format!(
                "(name: \"t\", duration: \"1s\", nodes: (count: 3),\n service: (pods: (replicas: 2, service_time: Constant(time: \"100us\"))),\n clients: [(name: \"c\", load: OpenLoop(rate: 10))],\n {DUAL_POOL},\n services: [(name: \"a\"), (name: \"b\", ip_family_policy: PreferDualStack)],\n bgp: (speaker: {bgp}))"
            )
        };
        let e = Scenario::parse(Path::new("t.ron"), &text("Native")).unwrap_err();
        let shown = e.to_string();
        assert!(shown.contains("t.ron:5:"), "{shown}");
        assert!(shown.contains("services[1].ip_family_policy"), "{shown}");
        assert!(
            shown.contains("native BGP speaker announces IPv4 only"),
            "{shown}"
        );
        let e = Scenario::parse(Path::new("t.ron"), &text("FrrDatacenter")).unwrap_err();
        assert!(
            e.to_string().contains("the lab runs IPv4 service IPs only"),
            "{e}"
        );
        // IPv4-only services in a dual-stack pool run as before.
        let s = raw(&format!(
            "{DUAL_POOL}, services: [(name: \"a\")], bgp: (speaker: Native)"
        ));
        assert!(Cluster::resolve(&s, &s.variant_list()[0]).is_ok());
    }
}
