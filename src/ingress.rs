//! The ingress tier (metallb-bgp-mode.md's "put your services behind an ingress controller"):
//! a LoadBalancer service whose pods are ingress-controller (nginx) pods; the client's TCP
//! connection ends there, and nginx proxies each request to a backend pod over its own
//! upstream keep-alive connections, straight to the pod's IP (no kube-proxy, no conntrack of
//! the client's flow on that leg).
//!
//! ```text
//!  client ─▶ router ─ECMP─▶ node ─▶ ingress pod ══upstream keep-alive══▶ backend pod
//!                                   (nginx)      proxy_next_upstream error timeout
//! ```
//! `services[i].ingress: (backend: "shop")` makes service i such a tier for service `shop`;
//! its own `pods.service_time` is nginx's processing per request. The lab's side is
//! `lab/proxy.rs`.

use serde::{Deserialize, Serialize};
use sim_core::{setting, SimDuration};

use crate::cluster::Refusal;
use crate::scenario::Scenario;

/// nginx as an ingress controller in front of a backend service.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct IngressSpec {
    /// The service whose pods are the upstream servers.
    pub backend: String,
    /// `proxy_next_upstream_tries`: servers one request may try, the first included
    /// (ngx_http_proxy_module; ingress-nginx's `proxy-next-upstream-tries` defaults to 3).
    #[serde(
        default = "three",
        deserialize_with = "setting::int_in::<_, _, 1, 255>"
    )]
    pub tries: u8,
    /// How long nginx waits for an upstream server before it counts a `timeout`
    /// (`proxy_connect_timeout` / `proxy_read_timeout`; ingress-nginx: 5 s to connect).
    #[serde(default = "five_s")]
    pub upstream_timeout: SimDuration,
    /// The `server` parameters `max_fails` and `fail_timeout` of ngx_http_upstream_module
    /// (1 and 10 s by default): a server that failed `max_fails` times is skipped for
    /// `fail_timeout`.
    #[serde(
        default = "one",
        deserialize_with = "setting::int_in::<_, _, 0, 65535>"
    )]
    pub max_fails: u32,
    /// See `max_fails`.
    #[serde(default = "ten_s")]
    pub fail_timeout: SimDuration,
    /// `keepalive`: idle upstream connections each ingress pod keeps per backend pod
    /// (ingress-nginx's `upstream-keepalive-connections` is 320).
    #[serde(
        default = "keepalive",
        deserialize_with = "setting::int_in::<_, _, 0, 100000>"
    )]
    pub keepalive: u32,
}

fn three() -> u8 {
    3
}
fn one() -> u32 {
    1
}
fn five_s() -> SimDuration {
    SimDuration::from_secs(5)
}
fn ten_s() -> SimDuration {
    SimDuration::from_secs(10)
}
fn keepalive() -> u32 {
    320
}

/// Every `ingress` names a service that exists in each variant, is not itself, and is not an
/// ingress tier too (one proxy hop).
///
/// # Errors
/// The field and what is wrong with it.
pub fn check(s: &Scenario) -> Result<(), Refusal> {
    for v in s.variant_list() {
        let (list, at) = match &v.services {
            Some(l) => (
                l,
                format!("variants[{}].services", variant_index(s, &v.name)),
            ),
            None => (&s.services, "services".to_string()),
        };
        for (i, e) in list.iter().enumerate() {
            let Some(ing) = &e.ingress else {
                continue;
            };
            let f = |x: &str| format!("{at}[{i}].ingress.{x}");
            if e.count != 1 {
                return Err((
                    format!("{at}[{i}].ingress"),
                    "an ingress tier is one service: give it count 1".into(),
                ));
            }
            let Some(b) = list.iter().find(|o| o.name == ing.backend && o.count == 1) else {
                let names: Vec<&str> = list
                    .iter()
                    .filter(|o| o.count == 1 && o.name != e.name)
                    .map(|o| o.name.as_str())
                    .collect();
                return Err((
                    f("backend"),
                    format!("no service {:?}; valid: {}", ing.backend, names.join(", ")),
                ));
            };
            if b.name == e.name {
                return Err((f("backend"), "an ingress cannot proxy to itself".into()));
            }
            if b.ingress.is_some() {
                return Err((
                    f("backend"),
                    format!("{:?} is an ingress tier itself: one proxy hop only", b.name),
                ));
            }
            if ing.upstream_timeout == SimDuration::ZERO {
                return Err((f("upstream_timeout"), "must be longer than zero".into()));
            }
        }
    }
    Ok(())
}

fn variant_index(s: &Scenario, name: &str) -> usize {
    s.variants.iter().position(|v| v.name == name).unwrap_or(0)
}

/// The ingress tiers' table of `sim run` (empty without one): what nginx proxied, retried
/// (`proxy_next_upstream`) and answered with 502/504, and the tier's own latency per request.
pub fn table(results: &[crate::lab::RunResult]) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    if results.iter().all(|r| r.proxies.is_empty()) {
        return out;
    }
    let w = crate::report::column_width(results.iter().map(|r| r.variant.as_str()), 7);
    let _ = writeln!(
        out,
        "\ningress tiers: requests proxied to backend pods; next upstream = nginx's retries (proxy_next_upstream); hop = the tier's own time per answered request"
    );
    let _ = writeln!(
        out,
        "{:<w$} {:<12} {:<12} {:>9} {:>8} {:>9} {:>6} {:>6} {:>9} {:>10} {:>10}",
        "variant",
        "service",
        "backend",
        "requests",
        "next up",
        "timeouts",
        "504",
        "502",
        "up conns",
        "hop p50 ms",
        "hop p99 ms"
    );
    let ms =
        |d: Option<SimDuration>| d.map_or("-".into(), |d| format!("{:.3}", d.as_secs_f64() * 1e3));
    for r in results {
        for p in &r.proxies {
            let _ = writeln!(
                out,
                "{:<w$} {:<12} {:<12} {:>9} {:>8} {:>9} {:>6} {:>6} {:>9} {:>10} {:>10}",
                r.variant,
                p.service,
                p.backend,
                p.requests,
                p.next_upstream,
                p.upstream_timeouts,
                p.gateway_timeout,
                p.bad_gateway,
                p.upstream_connections,
                ms(p.overhead.quantile(0.5)),
                ms(p.overhead.quantile(0.99))
            );
        }
    }
    out
}
