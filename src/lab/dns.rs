//! The DNS split at run time: clients resolve a weighted name when they open a connection and
//! cache the answer for its TTL (or forever, the share that ignores it); a client closes a
//! keep-alive connection at its `connection_limit`, so connections turn over and follow the
//! weights; a `dns_weights` event moves the weights, and the book says when each service the
//! move drained got down to the connections of the clients that ignore the TTL, and whose
//! requests failed on it.
//!
//! Resolution itself takes no simulated time (a resolver's cache answers in microseconds,
//! far below anything measured here); the records' TTL is the name's own TTL, counted from
//! the answer.

use rand::Rng;

use super::*;
use crate::dns::{ConnectionLimit, DnsName};

/// The DNS names and what resolving clients did with them (lab state).
#[derive(Debug)]
pub struct Dns {
    names: Vec<NameState>,
    /// Per client instance: its resolver cache, when the client resolves a name.
    caches: Vec<Option<Cache>>,
    /// Per service: live TCP connections of all clients, and of those that ignore the TTL.
    live: Vec<(u64, u64)>,
    /// Per service: failed requests of resolving clients that honour the TTL, and that don't,
    /// since the weight change that drained it (the whole run when none did).
    failed: Vec<(u64, u64)>,
    drains: Vec<DrainRecord>,
    resolutions: u64,
}

#[derive(Debug)]
struct NameState {
    name: String,
    ttl: SimDuration,
    /// (service index, weight), in the records' order.
    records: Vec<(u32, u32)>,
}

/// One client's stub resolver cache.
#[derive(Debug)]
struct Cache {
    name: u32,
    ignores_ttl: bool,
    /// The cached answer (a service) and when it expires.
    answer: Option<(u32, SimTime)>,
    rng: sim_core::Stream,
}

/// A service a `dns_weights` event drained (its weight went to 0).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DrainRecord {
    /// The DNS name.
    pub name: String,
    /// The drained service.
    pub service: String,
    /// When the weights moved.
    pub changed_at: SimTime,
    /// Its live connections then.
    pub live_at_change: u64,
    /// The live connections of clients that ignore the TTL, when it drained (or at the end).
    pub ignoring_live: u64,
    /// When its live connections fell to the TTL-ignoring clients' (none: not by the end).
    pub drained_at: Option<SimTime>,
}

/// What the DNS split did in a run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DnsResult {
    /// Every service a weight change drained.
    pub drains: Vec<DrainRecord>,
    /// Per service (name): failed requests of resolving clients that honour the TTL, and of
    /// those that ignore it, since the weight change that drained it (the whole run when
    /// none did).
    pub failed: Vec<(String, u64, u64)>,
    /// Answers given to clients (cache misses).
    pub resolutions: u64,
}

impl Dns {
    /// The names of `names` over services `svcs` (every record resolves: validated), with
    /// one cache per resolving client instance.
    pub(super) fn new(
        names: &[DnsName],
        svcs: &[Svc],
        clients: &[Client],
        specs: &[crate::scenario::ClientSpec],
        streams: &Streams,
    ) -> Option<Dns> {
        if names.is_empty() {
            return None;
        }
        let index = |s: &str| svcs.iter().position(|v| v.name == s).unwrap_or(0) as u32;
        let names: Vec<NameState> = names
            .iter()
            .map(|n| NameState {
                name: n.name.clone(),
                ttl: n.ttl,
                records: n
                    .records
                    .iter()
                    .map(|r| (index(&r.service), r.weight))
                    .collect(),
            })
            .collect();
        let mut rank = vec![0u32; specs.len()];
        let caches = clients
            .iter()
            .map(|c| {
                let spec = &specs[c.group as usize];
                let d = spec.dns.as_ref()?;
                let k = rank[c.group as usize];
                rank[c.group as usize] += 1;
                Some(Cache {
                    name: names.iter().position(|n| n.name == d.name).unwrap_or(0) as u32,
                    ignores_ttl: k < crate::dns::ignoring_instances(d.ignore_ttl, spec.count),
                    answer: None,
                    rng: streams.stream(&format!("dns/{}", c.name)),
                })
            })
            .collect();
        Some(Dns {
            names,
            caches,
            live: vec![(0, 0); svcs.len()],
            failed: vec![(0, 0); svcs.len()],
            drains: Vec::new(),
            resolutions: 0,
        })
    }

    fn ignores(&self, c: u32) -> bool {
        matches!(self.caches.get(c as usize), Some(Some(k)) if k.ignores_ttl)
    }

    /// The results, with service names from `svcs`.
    pub(super) fn result(&self, svcs: &[Svc]) -> DnsResult {
        let mut drains = self.drains.clone();
        for d in drains.iter_mut().filter(|d| d.drained_at.is_none()) {
            if let Some(s) = svcs.iter().position(|v| v.name == d.service) {
                d.ignoring_live = self.live[s].1;
            }
        }
        DnsResult {
            drains,
            failed: svcs
                .iter()
                .zip(&self.failed)
                .filter(|(_, f)| f.0 + f.1 > 0)
                .map(|(s, f)| (s.name.clone(), f.0, f.1))
                .collect(),
            resolutions: self.resolutions,
        }
    }
}

impl Lab {
    /// The service a new connection of client `c` goes to at `now`: its fixed one, or what
    /// its resolver answers (the cached answer while it lasts, else a fresh weighted pick).
    pub(super) fn resolve(&mut self, c: u32, now: SimTime) -> u32 {
        let fixed = self.clients[c as usize].service;
        let Some(dns) = self.dns.as_mut() else {
            return fixed;
        };
        let Some(Some(cache)) = dns.caches.get_mut(c as usize) else {
            return fixed;
        };
        if let Some((s, expires)) = cache.answer {
            if cache.ignores_ttl || now < expires {
                return s;
            }
        }
        let name = &dns.names[cache.name as usize];
        let total: u32 = name.records.iter().map(|r| r.1).sum();
        // Route 53 weighted routing: weight / total; all weights 0: equal chances.
        let pick = if total == 0 {
            let i = cache.rng.random_range(0..name.records.len());
            name.records[i].0
        } else {
            let mut x = cache.rng.random_range(0..total);
            let mut chosen = name.records[0].0;
            for &(s, w) in &name.records {
                if x < w {
                    chosen = s;
                    break;
                }
                x -= w;
            }
            chosen
        };
        cache.answer = Some((pick, now + name.ttl));
        dns.resolutions += 1;
        self.clients[c as usize].service = pick;
        pick
    }

    /// A TCP connection of client `c` to service `s` opened (`+1`) or closed (`-1`).
    pub(super) fn dns_conn(&mut self, c: u32, s: u32, opened: bool, now: SimTime) {
        let Some(dns) = self.dns.as_mut() else {
            return;
        };
        let ignores = dns.ignores(c);
        let live = &mut dns.live[s as usize];
        if opened {
            live.0 += 1;
            live.1 += u64::from(ignores);
            return;
        }
        live.0 = live.0.saturating_sub(1);
        if ignores {
            live.1 = live.1.saturating_sub(1);
        }
        let (all, ignoring) = *live;
        let name = &self.svcs[s as usize].name;
        for d in dns.drains.iter_mut() {
            if d.drained_at.is_none() && &d.service == name && all <= ignoring {
                d.drained_at = Some(now);
                d.ignoring_live = ignoring;
            }
        }
    }

    /// A request of resolving client `c` on a connection to service `s` failed.
    pub(super) fn dns_failed(&mut self, c: u32, s: u32) {
        let Some(dns) = self.dns.as_mut() else {
            return;
        };
        if !matches!(dns.caches.get(c as usize), Some(Some(_))) {
            return;
        }
        let ignores = dns.ignores(c);
        let f = &mut dns.failed[s as usize];
        if ignores {
            f.1 += 1;
        } else {
            f.0 += 1;
        }
    }

    /// A `dns_weights` event: the records of `name` get `weights`; each service whose weight
    /// went to 0 starts draining.
    pub(super) fn dns_weights(&mut self, name: &str, weights: &[u32], sched: &mut Scheduler<Ev>) {
        let now = sched.now();
        let Some(dns) = self.dns.as_mut() else {
            return;
        };
        let Some(n) = dns.names.iter_mut().find(|n| n.name == name) else {
            return;
        };
        let mut drained = Vec::new();
        for (r, &w) in n.records.iter_mut().zip(weights) {
            if r.1 > 0 && w == 0 {
                drained.push(r.0);
            }
            r.1 = w;
        }
        let shown: Vec<String> = weights.iter().map(u32::to_string).collect();
        for s in drained {
            dns.failed[s as usize] = (0, 0);
            let (all, ignoring) = dns.live[s as usize];
            dns.drains.push(DrainRecord {
                name: name.to_string(),
                service: self.svcs[s as usize].name.clone(),
                changed_at: now,
                live_at_change: all,
                ignoring_live: ignoring,
                drained_at: (all <= ignoring).then_some(now),
            });
        }
        self.log.push(
            now,
            "dns_weights",
            name,
            format!("weights={}", shown.join("/")),
        );
    }

    /// Whether client `c` closes connection `conn` after the request that just ended on it:
    /// its `connection_limit` reached (requests made on it, or its age).
    pub(super) fn conn_limit_reached(&mut self, c: u32, conn: Key, now: SimTime) -> bool {
        let group = self.clients[c as usize].group as usize;
        let Some(limit) = self.groups[group].connection_limit else {
            return false;
        };
        let used = self.conn_uses.entry(conn).or_insert(0);
        *used += 1;
        let ConnectionLimit { requests, age } = limit;
        let opened = self.conns.get(conn).map_or(now, |k| k.opened_at);
        let done = requests.is_some_and(|r| *used >= r)
            || age.is_some_and(|a| now.saturating_since(opened) >= a);
        if done {
            self.conn_uses.remove(&conn);
        }
        done
    }
}
