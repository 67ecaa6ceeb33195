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

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

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
    pub ip: Option<Ipv4Addr>,
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
    /// Its LoadBalancer IP.
    pub vip: Ipv4Addr,
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

/// The addresses of one `spec.addresses` entry, in order.
fn parse_range(s: &str) -> Result<(u32, u32), String> {
    let ip = |t: &str| {
        t.trim()
            .parse::<Ipv4Addr>()
            .map_err(|_| format!("{t:?} is not an IPv4 address"))
    };
    if let Some((a, b)) = s.split_once('-') {
        let (a, b) = (u32::from(ip(a)?), u32::from(ip(b)?));
        if a > b {
            return Err(format!("{s:?}: the range ends before it starts"));
        }
        return Ok((a, b));
    }
    if let Some((a, len)) = s.split_once('/') {
        let len: u8 = len
            .trim()
            .parse()
            .ok()
            .filter(|l| *l <= 32)
            .ok_or_else(|| format!("{s:?}: the prefix length must be 0 to 32"))?;
        let p = Ipv4Prefix::new(ip(a)?, len).expect("len checked");
        let first = u32::from(p.addr());
        let last = first | u32::MAX.checked_shr(u32::from(len)).unwrap_or(0);
        return Ok((first, last));
    }
    let a = u32::from(ip(s)?);
    Ok((a, a))
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
    /// The services of variant `v` of `s` and their advertisements in the variant's mode.
    ///
    /// # Errors
    /// A [`Refusal`] naming the field: an unknown pool, a pool out of addresses, an IP outside
    /// its pool or used twice, a bad label or node name.
    pub fn resolve(s: &Scenario, v: &Variant) -> Result<Cluster, Refusal> {
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
        let mut pools: Vec<(&str, Vec<(u32, u32)>)> = Vec::new();
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
                ip: Some(s.service.vip),
                port: None,
                traffic_policy: v.service.as_ref().and_then(|p| p.traffic_policy),
                pods: None,
                ingress: None,
            }],
        };
        let multi = !v.services.as_ref().unwrap_or(&s.services).is_empty();
        let mut used: BTreeMap<u32, String> = BTreeMap::new();
        let mut services = Vec::new();
        let mut pod_offset = 0usize;
        let base = if multi { "services" } else { "service" };
        for (i, e) in entries.iter().enumerate() {
            let field = |f: &str| format!("{base}[{i}].{f}");
            if e.ip.is_some() && e.count > 1 {
                return refuse(field("ip"), "a fixed ip is for one service: with count > 1 each takes the next free address of its pool".into());
            }
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
                let (vip, pool) = match (e.ip, pool_idx) {
                    (Some(ip), Some(p)) => {
                        let inside = pools[p]
                            .1
                            .iter()
                            .any(|&(a, b)| (a..=b).contains(&u32::from(ip)));
                        if !inside {
                            return refuse(
                                field("ip"),
                                format!("{ip} is not in pool {:?}", pools[p].0),
                            );
                        }
                        (ip, Some(p))
                    }
                    (Some(ip), None) => {
                        let p = pools.iter().position(|q| {
                            q.1.iter().any(|&(a, b)| (a..=b).contains(&u32::from(ip)))
                        });
                        if p.is_none() && !pools.is_empty() {
                            return refuse(
                                field("ip"),
                                format!("{ip} is in no pool; pools: {}", pool_names()),
                            );
                        }
                        (ip, p)
                    }
                    (None, Some(p)) => match free_in(&pools[p].1, &used) {
                        Some(ip) => (ip, Some(p)),
                        None => {
                            return refuse(
                                field("pool"),
                                format!("pool {:?} has no free address for {name:?}", pools[p].0),
                            )
                        }
                    },
                    (None, None) => match pools
                        .iter()
                        .enumerate()
                        .find_map(|(j, q)| free_in(&q.1, &used).map(|ip| (ip, Some(j))))
                    {
                        Some(x) => x,
                        None if pools.is_empty() => {
                            return refuse(
                                field("ip"),
                                "give an ip, or pools to take one from".into(),
                            )
                        }
                        None => {
                            return refuse(
                                field("pool"),
                                format!("no pool has a free address for {name:?}"),
                            )
                        }
                    },
                };
                if let Some(other) = used.insert(u32::from(vip), name.clone()) {
                    return refuse(field("ip"), format!("{vip} is already {other:?}'s"));
                }
                if let Some(owner) = crate::lab::address_owner(vip, n) {
                    return refuse(field("ip"), format!("{vip} is {owner} in the lab's address plan (router 10.0.0.1, nodes 10.0.0.11 up, clients 198.18.0.0/15)"));
                }
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

/// The lowest address of `ranges` not in `used`.
fn free_in(ranges: &[(u32, u32)], used: &BTreeMap<u32, String>) -> Option<Ipv4Addr> {
    for &(a, b) in ranges {
        // Skip past used addresses in order; a range of millions costs only what is used.
        let mut ip = a;
        for (&u, _) in used.range(a..=b) {
            if u != ip {
                break;
            }
            ip = u.checked_add(1)?;
        }
        if ip <= b {
            return Some(Ipv4Addr::from(ip));
        }
    }
    None
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
        let used: BTreeMap<u32, String> = [(10, String::new()), (11, String::new())].into();
        assert_eq!(free_in(&[(10, 12)], &used), Some(Ipv4Addr::from(12)));
        assert_eq!(
            free_in(&[(10, 11), (20, 20)], &used),
            Some(Ipv4Addr::from(20))
        );
        assert_eq!(free_in(&[(10, 11)], &used), None);
    }
}
