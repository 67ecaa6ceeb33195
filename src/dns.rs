//! The DNS split (metallb-bgp-mode.md's "split each logical service into two Kubernetes
//! services with different IPs, and use DNS to gracefully migrate user traffic"): a name whose
//! weighted records point at several services, the clients that resolve it, and the limits
//! that make their keep-alive connections end, so traffic can drain.
//!
//! ```text
//!  dns: (name: "shop", ttl: "30s", records: [(service: "blue", weight: 100), (service: "green", weight: 0)])
//!  clients[i].dns: (name: "shop", ignore_ttl: 0.1)     10 % of the instances cache forever
//!  events: (at: "20s", dns_weights: "shop", weights: [0, 100])
//! ```
//! The lab's side (resolution, caches, what drained when) is `lab/resolver.rs`.

use serde::{Deserialize, Serialize};
use sim_core::{setting, SimDuration};

use crate::cluster::Refusal;
use crate::scenario::{Connections, Load, Scenario, ScriptedEvent};

/// A DNS name with weighted records, one per service (Route 53 "weighted routing": each
/// query is answered with one record, picked with probability weight / sum of weights; when
/// every weight is 0, with equal probability).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct DnsName {
    /// The name clients resolve.
    pub name: String,
    /// The records' TTL: how long a resolver that honours it caches an answer.
    pub ttl: SimDuration,
    /// One A record per service, with its weight.
    pub records: Vec<DnsRecord>,
}

/// One weighted A record: a service's LoadBalancer IP.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct DnsRecord {
    /// The service whose IP it holds.
    pub service: String,
    /// Its weight (0 to 255, as Route 53 allows).
    #[serde(deserialize_with = "setting::int_in::<_, _, 0, 255>")]
    pub weight: u32,
}

/// How a client group finds its service: by resolving a name.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DnsClient {
    /// The name (one of the scenario's `dns` names).
    pub name: String,
    /// The share of the group's instances (the first `round(share * count)`) that cache the
    /// first answer forever, ignoring the TTL: a JVM with a security manager installed does
    /// (`networkaddress.cache.ttl` in the JDK's `java.security`: "-1 indicates cache forever
    /// ... the default behavior is to cache forever when a security manager is installed"),
    /// and so do applications that resolve once at start and keep the address.
    #[serde(default)]
    pub ignore_ttl: f64,
}

/// When a client closes a keep-alive connection of its own accord, so its connections turn
/// over and the next one resolves again: after `requests` requests (nginx's
/// `keepalive_requests`, 1000 by default since 1.19.10) or once it is `age` old (nginx's
/// `keepalive_time`, 1 h), checked when a request ends.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ConnectionLimit {
    /// Requests per connection at most.
    #[serde(
        default,
        deserialize_with = "setting::opt_int_in::<_, _, 1, 4294967295>"
    )]
    pub requests: Option<u32>,
    /// Age at which a connection is closed after its current request.
    #[serde(default)]
    pub age: Option<SimDuration>,
}

/// How many of a group's `count` instances ignore the TTL with share `share`.
pub fn ignoring_instances(share: f64, count: u32) -> u32 {
    ((share * f64::from(count)).round() as u32).min(count)
}

/// The scenario's DNS names, the clients resolving them, connection limits and the
/// `dns_weights` events are consistent: every refusal names its field.
///
/// # Errors
/// The field and what is wrong with it.
pub fn check(s: &Scenario) -> Result<(), Refusal> {
    for (i, n) in s.dns.iter().enumerate() {
        let f = |x: &str| format!("dns[{i}].{x}");
        if n.name.is_empty() {
            return Err((
                f("name"),
                "a DNS name is needed, e.g. \"shop.example\"".into(),
            ));
        }
        if s.dns[..i].iter().any(|o| o.name == n.name) {
            return Err((f("name"), format!("DNS name {:?} is given twice", n.name)));
        }
        if n.ttl == SimDuration::ZERO {
            return Err((f("ttl"), "must be longer than zero, e.g. \"30s\"".into()));
        }
        if n.records.is_empty() {
            return Err((
                f("records"),
                "a name needs at least one record, e.g. [(service: \"blue\", weight: 100)]".into(),
            ));
        }
        for v in s.variant_list() {
            let cluster = crate::cluster::Cluster::resolve(s, &v)?;
            for (j, r) in n.records.iter().enumerate() {
                if !cluster.services.iter().any(|d| d.name == r.service) {
                    let names: Vec<&str> =
                        cluster.services.iter().map(|d| d.name.as_str()).collect();
                    return Err((
                        f(&format!("records[{j}].service")),
                        format!("no service {:?}; valid: {}", r.service, names.join(", ")),
                    ));
                }
            }
        }
    }
    for (i, c) in s.clients.iter().enumerate() {
        let f = |x: &str| format!("clients[{i}].{x}");
        if let Some(d) = &c.dns {
            if c.service.is_some() {
                return Err((
                    f("dns"),
                    "give `service` or `dns`, not both: a resolving client finds its service by the name".into(),
                ));
            }
            if !s.dns.iter().any(|n| n.name == d.name) {
                let names: Vec<&str> = s.dns.iter().map(|n| n.name.as_str()).collect();
                return Err((
                    f("dns.name"),
                    format!("no DNS name {:?}; valid: {}", d.name, names.join(", ")),
                ));
            }
            if !(d.ignore_ttl.is_finite() && (0.0..=1.0).contains(&d.ignore_ttl)) {
                return Err((
                    f("dns.ignore_ttl"),
                    format!("{}: a share of the group's instances, 0 to 1", d.ignore_ttl),
                ));
            }
        }
        if let Some(l) = &c.connection_limit {
            let pooled = matches!(c.connections, Connections::KeepAlive { .. })
                && matches!(c.load, Load::OpenLoop { .. } | Load::ClosedLoop { .. });
            if !pooled {
                return Err((
                    f("connection_limit"),
                    "applies to OpenLoop and ClosedLoop loads with KeepAlive connections".into(),
                ));
            }
            if l.requests.is_none() && l.age.is_none() {
                return Err((
                    f("connection_limit"),
                    "give requests, age or both, e.g. (requests: 100)".into(),
                ));
            }
            if l.age == Some(SimDuration::ZERO) {
                return Err((f("connection_limit.age"), "must be longer than zero".into()));
            }
        }
    }
    Ok(())
}

/// A `dns_weights` event at `field` names a known name and gives one weight per record.
///
/// # Errors
/// The field and what is wrong with it.
pub fn check_event(s: &Scenario, field: &str, e: &ScriptedEvent) -> Result<(), Refusal> {
    let Some(name) = &e.dns_weights else {
        if e.weights.is_some() {
            return Err((
                format!("{field}.weights"),
                "weights applies only to dns_weights".into(),
            ));
        }
        return Ok(());
    };
    let Some(n) = s.dns.iter().find(|n| &n.name == name) else {
        let names: Vec<&str> = s.dns.iter().map(|n| n.name.as_str()).collect();
        return Err((
            format!("{field}.dns_weights"),
            format!("no DNS name {name:?}; valid: {}", names.join(", ")),
        ));
    };
    let Some(w) = &e.weights else {
        return Err((
            format!("{field}.dns_weights"),
            format!(
                "give the new weights, one per record of {name:?}, e.g. weights: [{}]",
                vec!["0"; n.records.len()].join(", ")
            ),
        ));
    };
    if w.len() != n.records.len() {
        return Err((
            format!("{field}.weights"),
            format!(
                "{} weights for {} records of {name:?}: give one per record, in their order",
                w.len(),
                n.records.len()
            ),
        ));
    }
    if let Some(bad) = w.iter().find(|&&x| x > 255) {
        return Err((
            format!("{field}.weights"),
            format!("weight {bad}: 0 to 255, as Route 53 allows"),
        ));
    }
    Ok(())
}

/// The DNS split's table of `sim run` (empty when no run has `dns` names): per drained
/// service, the drain time, the connections left on it, and whose requests failed on it.
pub fn table(results: &[crate::lab::RunResult]) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    if results.iter().all(|r| r.dns.is_none()) {
        return out;
    }
    let w = crate::report::column_width(results.iter().map(|r| r.variant.as_str()), 7);
    let _ = writeln!(
        out,
        "\ndns split: services a weight change drained; drain = until its live connections were down to those of clients ignoring the TTL (left); fails = requests of resolving clients that failed on it after the change"
    );
    let _ = writeln!(
        out,
        "{:<w$} {:<12} {:<12} {:>9} {:>6} {:>11} {:>9} {:>13} {:>13}",
        "variant",
        "name",
        "service",
        "changed s",
        "live",
        "drain s",
        "left",
        "fails obeying",
        "fails ignoring"
    );
    for r in results {
        let Some(d) = &r.dns else { continue };
        for x in &d.drains {
            let (obey, ignore) = d
                .failed
                .iter()
                .find(|f| f.0 == x.service)
                .map_or((0, 0), |f| (f.1, f.2));
            let drain = x.drained_at.map_or("not by end".to_string(), |t| {
                format!("{:.3}", (t - x.changed_at).as_secs_f64())
            });
            let _ = writeln!(
                out,
                "{:<w$} {:<12} {:<12} {:>9.3} {:>6} {:>11} {:>9} {:>13} {:>13}",
                r.variant,
                x.name,
                x.service,
                x.changed_at.as_secs_f64(),
                x.live_at_change,
                drain,
                x.ignoring_live,
                obey,
                ignore
            );
        }
    }
    out
}

/// Whether client group `spec` sends to service `service`: it names it, or it resolves a
/// name with a record for it (its users are the split service's, on either side).
pub fn sends_to(s: &Scenario, spec: &crate::scenario::ClientSpec, service: &str) -> bool {
    if spec.service.as_deref() == Some(service) {
        return true;
    }
    spec.dns.as_ref().is_some_and(|d| {
        s.dns
            .iter()
            .any(|n| n.name == d.name && n.records.iter().any(|r| r.service == service))
    })
}
