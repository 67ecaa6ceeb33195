//! One LoadBalancer service inside a run: its IP and port, the router's route for it, the
//! range of the lab's pods that are its Deployment, and its own books (requests, latency).

use std::net::Ipv4Addr;
use std::ops::Range;

use bgp::wire::Ipv4Prefix;
use sim_core::{LogHistogram, SimDuration};

use super::{Counts, ErrorKind, ServiceRoute};
use crate::scenario::{ServiceTime, TrafficPolicy};

/// A service's run-time state.
#[derive(Debug)]
pub struct Svc {
    /// Its name.
    pub name: String,
    /// Its pool, when the scenario has pools.
    pub pool: Option<String>,
    /// The LoadBalancer IP.
    pub vip: Ipv4Addr,
    /// The service port.
    pub port: u16,
    /// `externalTrafficPolicy`.
    pub policy: TrafficPolicy,
    /// How long its pods take per request.
    pub service_time: ServiceTime,
    /// The router's ECMP group for its IP (BGP and scripted modes).
    pub route: ServiceRoute,
    /// Its pods: this range of the lab's pod list.
    pub pods: Range<u32>,
    /// The prefixes its IP is announced as, longest first (BGP): the router sends its traffic
    /// by the longest of them that has next hops.
    pub prefixes: Vec<Ipv4Prefix>,
    /// Its advertisements (indices into the lab's) and the prefix each announces.
    pub ad_prefixes: Vec<(u32, Ipv4Prefix)>,
    /// Its requests.
    pub counts: Counts,
    /// Latency of its answered requests.
    pub latency: LogHistogram,
    /// Its endpoints (ready pods, pods per node) as kube-proxy programs them: kept by
    /// `Lab::endpoints_changed` whenever a pod's readiness changes.
    pub endpoints: super::Endpoints,
    /// Its connections closed by a failure (reset, timeout, refused).
    pub conns_broken: u64,
    /// Its books at the mitigations table's `change_at`, when the scenario has one.
    pub at_change: Option<AtChange>,
}

/// A service's books at the instant of the change the mitigations table reads (before the
/// trigger acts): what it had then, so the table counts only what came after.
#[derive(Debug, Clone, Default)]
pub struct AtChange {
    /// Established connections then.
    pub live: u64,
    /// Its requests' counts then.
    pub counts: Counts,
    /// Its connections closed by a failure then.
    pub conns_broken: u64,
}

impl Svc {
    /// Book a finished request.
    pub fn count(&mut self, outcome: Result<(), ErrorKind>, lat: SimDuration) {
        match outcome {
            Ok(()) => {
                self.counts.ok += 1;
                self.latency.record(lat);
            }
            Err(ErrorKind::Reset) => self.counts.reset += 1,
            Err(ErrorKind::Timeout) => self.counts.timeout += 1,
            Err(ErrorKind::Refused) => self.counts.refused += 1,
            Err(ErrorKind::Gateway { .. }) => self.counts.gateway += 1,
        }
    }

    /// Its pods as `usize` indices.
    pub fn pod_range(&self) -> Range<usize> {
        self.pods.start as usize..self.pods.end as usize
    }
}

/// What one service got in a run (services.csv).
#[derive(Debug, Clone)]
pub struct ServiceResult {
    /// Its name.
    pub name: String,
    /// Its pool (empty without pools).
    pub pool: String,
    /// Its IP.
    pub vip: Ipv4Addr,
    /// `externalTrafficPolicy`.
    pub policy: TrafficPolicy,
    /// Its requests (in flight at the end included).
    pub counts: Counts,
    /// Latency of its answered requests.
    pub latency: LogHistogram,
    /// Nodes traffic for it entered through at the end: the ECMP group's members (BGP,
    /// scripted), or the L2 leader.
    pub announcers: Vec<u16>,
    /// Route changes that touched it.
    pub changes: u64,
    /// Live connections at those changes, summed.
    pub live_at_changes: u64,
    /// Connections moved by them.
    pub moved: u64,
    /// Of those, broken (reset or timed out).
    pub broken: u64,
    /// Its connections closed by a failure (reset, timeout, refused) in the whole run.
    pub conns_broken: u64,
    /// Its books at the mitigations table's `change_at`.
    pub at_change: Option<AtChange>,
    /// Nodes whose loss, drain or speaker restart can reach it: those its advertisements
    /// select and those its pods run on (the mitigations table's "care nodes").
    pub care_nodes: u32,
}
