//! What one variant's run costs: events, memory while it runs, memory its result keeps until
//! the command ends, and bytes it writes, as a list of [`Item`]s, each blamed on the scenario
//! field that makes it large.
//!
//! Per-item sizes come from the types ([`crate::lab::FOOTPRINT`]); the few things no type
//! tells (events per protocol message, bytes per instance beyond its record, bytes per output
//! row) are constants below, each with the measurement it came from (`sim run` on the
//! scenario described, peak RSS from `/usr/bin/time -f %M`, events from the closing line).

use crate::lab::{DURATION_BUCKETS_S, FOOTPRINT, SCRAPE_INTERVAL};
use crate::scenario::{
    Action, ClientLocation, ClientPlacement, ClientSpec, Load, Mode, Scenario, SpeakerKind,
    TrafficPolicy, Variant,
};

use super::traffic::{self, Shape};
use super::{Assumptions, Item, RunCost};

/// Bytes per client instance beyond what its requests cost: its record
/// (`FOOTPRINT.client`), name, topology device and two links, random stream, and its name and
/// probe record in the result. Measured: 100,000 ping instances that send nothing raise peak
/// RSS by 136 MB (5.3 -> 141 MiB), 1.36 kB each.
const INSTANCE_BYTES: f64 = 1_360.0;
/// Bytes per neighbour cache and switch port of a client on the L2 segment. Measured: 100,000
/// on-segment instances that send nothing cost 29 MB more than behind a gateway, of which one
/// takeover burst of gratuitous ARP in flight is 19 MB: about 100 bytes each.
const RESOLVER_BYTES: f64 = 100.0;
/// Bytes of one ARP frame in flight to one port (its slot and its copy of the frame).
/// Measured: 1,000 on-segment clients starting together, each broadcasting to 1,003 ports,
/// peak 105 MiB: 98 bytes per frame.
const FRAME_BYTES: f64 = 98.0;
/// The process before any run: binary, libc, the thread pool. Measured with one tiny variant
/// (`scenarios/blog/test1_iperf3_latency.ron`, whose runs hold 0.8 MiB): 8.0 MiB in a release
/// build, 10.7 MiB at opt-level 1 as the tests build it.
pub const BASE_BYTES: f64 = 7.0 * 1024.0 * 1024.0;
/// Events per BGP message (keepalive): the sender's timer wake-up, the segment's delivery,
/// the receiver's ACK and its delivery. Measured: a 600 s run, no load, per node
/// `12 + 4 x keepalives` for native (30 s), FRR traditional (60 s), datacenter (3 s) and 1 s.
const EVENTS_PER_KEEPALIVE: f64 = 4.0;
/// Events to bring one session up (connect, OPEN, KEEPALIVE, UPDATE, End-of-RIB, ACKs).
const EVENTS_PER_SESSION: f64 = 12.0;
/// Events per BFD control packet: the sender's transmit timer and the delivery.
const EVENTS_PER_BFD_PACKET: f64 = 2.0;
/// RFC 5880 §6.8.7: each transmit interval is shortened by 0-25 % at random, 12.5 % on average.
const BFD_JITTER: f64 = 0.875;
/// memberlist at LAN defaults (probe 1 s, gossip 200 ms to 3 nodes): events per node per
/// second, measured over 600 s with 3, 10 and 30 nodes (9.97, 10.2, 10.2); a lone node
/// only wakes its timers (6.2).
const MEMBERLIST_EVENTS_PER_NODE_S: f64 = 10.2;
const MEMBERLIST_ALONE_EVENTS_S: f64 = 6.2;
/// Gratuitous ARP: a request and a reply per round (MetalLB `arp.go`); a takeover sends
/// rounds at 0, 1.1, 2.2, 3.3, 4.4 s (`l2/src/speaker.rs`).
const GARP_FRAMES: f64 = 2.0;
const GARP_TAKEOVER_ROUNDS: f64 = 5.0;
/// A neighbour entry's DELAY state (`delay_first_probe_time`, 5 s): every packet through a
/// gateway in DELAY arms one more wake-up of its cache, pending until the state ends.
const DELAY_PROBE_S: f64 = 5.0;
/// On-segment clients confirm their VIP entry at most every 100 ms (`CONFIRM_EVERY`), and each
/// confirmation arms a wake-up at the entry's timer, up to 1.5 x base_reachable_time ahead.
const CONFIRMS_PER_S: f64 = 10.0;
/// Bytes of an event-log entry's two strings (subject, detail), on top of its record.
const LOG_TEXT_BYTES: f64 = 48.0;
/// Prefixes per BGP UPDATE: (4,096 - 23 - attributes) / 5 bytes per /32.
const UPDATE_PREFIXES: f64 = 800.0;
/// One service's state beside its ECMP members: route, books, latency bins, names.
const SERVICE_BYTES: f64 = 1_500.0;
/// One (node, prefix) route: the RIB's Adj-RIB-In entry, the FIB's share, the speaker's
/// announced set; calibrated on scenarios/scale/services-1000x1000.ron (1,000,000 routes,
/// peak RSS 250 MiB against 98 MiB estimated without them).
const ROUTE_BYTES: f64 = 150.0;
/// A services.csv row without its `announced_by` (~9 bytes per announcing node).
const SERVICES_ROW: f64 = 200.0;
/// Bytes per row of the CSV files and tool logs (from bundled runs' outputs: file size / rows).
/// A series row of an empty bucket (zeros, blank latencies), and what a bucket with answers
/// adds (its latency columns). Measured: a 60 s run in 10 us buckets writes 6 M rows of 32
/// bytes to timeseries.csv.
const TIMESERIES_ROW: f64 = 34.0;
const TIMESERIES_DATA_ROW: f64 = 60.0;
const CONNECTIONS_ROW: f64 = 90.0;
const EVENTS_ROW: f64 = 90.0;
const VEGETA_CSV_ROW: f64 = 120.0;
const PING_LOG_LINE: f64 = 84.0;
/// A ping log line while the log is assembled: its (time, order, text) record and the text's
/// own allocation, plus the text's share of the joined log. Measured: a 60 s ping every 100 us
/// with a log (600,000 probes) peaks at 178 MiB, about 290 bytes per probe in all.
const PING_LINE_BYTES: f64 = 40.0 + 64.0 + 90.0;
const IPERF_INTERVAL_JSON: f64 = 1_100.0;
/// A fortio JSON report (its histogram lists the occupied buckets), a vegeta JSON report, a
/// wrk text report: sizes from the blog suite's files, rounded up.
const FORTIO_JSON: f64 = 40_000.0;
const SMALL_REPORT: f64 = 4_000.0;
/// pcap bytes per captured frame: 16 of record header, about 70 of frame.
const PCAP_FRAME: f64 = 86.0;

/// The cost of variant `vi` of `s`.
pub fn variant(s: &Scenario, vi: usize, v: &Variant, a: &Assumptions) -> RunCost {
    let mode = s.mode_of(v);
    let policy = v
        .service
        .as_ref()
        .and_then(|p| p.traffic_policy)
        .unwrap_or(s.service.traffic_policy);
    let l2 = s.l2_of(v);
    let bgp = s.bgp_of(v);
    let gateway = l2.is_some_and(|l| l.clients == ClientPlacement::BehindGateway);
    let t = traffic::traffic(s, mode, policy, gateway);
    let d = s.duration.as_secs_f64();
    let n_nodes = f64::from(s.nodes.count);
    let mut items = Vec::new();
    let script = v.events.as_deref().unwrap_or(&s.events);
    let events_field = if v.events.is_some() {
        format!("variants[{vi}].events")
    } else {
        "events".to_string()
    };

    // Always: the result's latency histogram, the nodes, the summary row.
    items.push(Item {
        field: "nodes.count".into(),
        what: format!("{} nodes and the latency histogram", s.nodes.count),
        events: 1.0 + script.len() as f64,
        working: n_nodes * 4_096.0,
        retained: FOOTPRINT.histogram as f64 + n_nodes * 200.0,
        output: 2_000.0 + n_nodes * 100.0,
    });

    // Time series (lab/series.rs): per bucket 4 counters and a latency histogram per request
    // or ping group, 2 counters and a histogram per node; a histogram holds bins only in the
    // buckets its answers fell in. A CSV row per bucket, per group and per node.
    let buckets =
        (s.duration.as_nanos() as f64 / s.timeseries_bucket.as_nanos().max(1) as f64).ceil();
    let hist = std::mem::size_of::<sim_core::LogHistogram>() as f64;
    let groups = s
        .clients
        .iter()
        .filter(|c| !matches!(c.load, Load::Iperf3 { .. }))
        .count() as f64;
    let bucket_s = s.timeseries_bucket.as_secs_f64().max(1e-9);
    let mut bins = 0.0;
    let mut answered = 0.0;
    // Rows of buckets with answers (their latency columns are filled).
    let mut data_rows = 0.0;
    for (c, load) in s.clients.iter().zip(&t.groups) {
        if !matches!(c.load, Load::Iperf3 { .. }) {
            bins += bin_bytes(load.served, load.window / bucket_s);
            data_rows += (load.window / bucket_s).min(load.served);
        }
        if !matches!(c.load, Load::Ping { .. } | Load::Iperf3 { .. }) {
            answered += load.served;
        }
    }
    // Each node's histogram holds the answers of the requests that entered there.
    let ingress = if mode == Mode::L2 { 1.0 } else { n_nodes };
    bins += ingress * bin_bytes(answered / ingress, d / bucket_s);
    data_rows += (1.0 + ingress) * (d / bucket_s).min(answered);
    let scrapes =
        (d / SCRAPE_INTERVAL.as_secs_f64()).ceil() * (DURATION_BUCKETS_S.len() + 3) as f64 * 8.0;
    // `--out` builds each series file's rows for all variants before writing it; the node
    // and client-group files are the largest.
    let writing = if a.out {
        use crate::rows::{ClientSeriesRow, NodeSeriesRow, RequestSeriesRow};
        use std::mem::size_of;
        buckets
            * (n_nodes * size_of::<NodeSeriesRow<'static>>() as f64)
                .max(groups * size_of::<ClientSeriesRow<'static>>() as f64)
                .max(size_of::<RequestSeriesRow<'static>>() as f64)
    } else {
        0.0
    };
    items.push(Item {
        field: driver(&[
            (
                "timeseries_bucket",
                excess(0.1, s.timeseries_bucket.as_secs_f64()),
            ),
            ("duration", excess(d, 60.0)),
        ]),
        what: format!(
            "time series: {} buckets (duration {} / timeseries_bucket {}) x {} client groups and {} nodes",
            count(buckets),
            s.duration,
            s.timeseries_bucket,
            groups,
            s.nodes.count
        ) + &if writing > 0.0 {
            format!(", and {} more while --out writes their rows", super::bytes(writing))
        } else {
            String::new()
        },
        events: 0.0,
        working: 0.0,
        retained: buckets * (groups * (4.0 * 8.0 + hist) + n_nodes * (2.0 * 8.0 + hist))
            + bins
            + scrapes,
        output: buckets * (1.0 + groups + n_nodes) * TIMESERIES_ROW
            + data_rows * TIMESERIES_DATA_ROW,
    });

    // Client groups.
    let ports = n_nodes
        + match l2.map(|l| l.clients) {
            Some(ClientPlacement::OnSegment) => s.clients.iter().map(|c| f64::from(c.count)).sum(),
            _ => 1.0,
        };
    let mut established = 0.0;
    for (g, (c, load)) in s.clients.iter().zip(&t.groups).enumerate() {
        established += load.conns;
        items.extend(group(s, g, c, load, mode, l2, ports, a, d));
    }

    // Layer 2: the gateway's DELAY wake-ups, memberlist, gratuitous ARP floods.
    if let Some(l2) = l2 {
        let br = l2.base_reachable_time.as_secs_f64();
        if gateway && t.gateway_requests > 0.0 {
            let g = busiest_external(s, &t);
            // The first DELAY comes once REACHABLE (uniform in 0.5-1.5 x base_reachable_time,
            // `neigh_rand_reach_time`) is over: a short run may never see one.
            let delay_seen = ((t.gateway_window - 0.5 * br) / br).clamp(0.0, 1.0);
            items.push(Item {
                field: g.map_or("clients".into(), |g| rate_field(g, &s.clients[g])),
                what: format!(
                    "the gateway's ARP entry in DELAY ({DELAY_PROBE_S} s of every {br:.0} s): a wake-up per request, {} pending",
                    count(t.gateway_peak_rate * DELAY_PROBE_S)
                ),
                events: t.gateway_requests * DELAY_PROBE_S / (br + DELAY_PROBE_S),
                working: t.gateway_peak_rate * DELAY_PROBE_S * delay_seen * FOOTPRINT.event as f64,
                retained: 0.0,
                output: 0.0,
            });
        }
        if l2.memberlist {
            let per_s = if s.nodes.count > 1 {
                MEMBERLIST_EVENTS_PER_NODE_S * n_nodes
            } else {
                MEMBERLIST_ALONE_EVENTS_S
            };
            items.push(Item {
                field: driver(&[
                    ("nodes.count", excess(n_nodes, 3.0)),
                    ("duration", excess(d, 60.0)),
                ]),
                what: format!(
                    "memberlist on {} nodes: {:.0} events/s",
                    s.nodes.count, per_s
                ),
                events: per_s * d,
                working: n_nodes * n_nodes * 200.0,
                retained: 0.0,
                output: 0.0,
            });
        }
        let takeovers = 1.0
            + script
                .iter()
                .filter(|e| {
                    matches!(
                        e.action().map(|x| x.0),
                        Some(
                            Action::Crash
                                | Action::Shutdown
                                | Action::Partition
                                | Action::Drain
                                | Action::KillSpeaker
                                | Action::NeighborShutdown
                                | Action::HangSpeaker
                        )
                    )
                })
                .count() as f64;
        let periodic = l2
            .gratuitous_arp_interval
            .map_or(0.0, |i| d / i.as_secs_f64().max(1e-9));
        let rounds = takeovers * GARP_TAKEOVER_ROUNDS + periodic;
        let frames = rounds * GARP_FRAMES * (ports - 1.0).max(1.0);
        let field = match l2.gratuitous_arp_interval {
            Some(i) if periodic > takeovers * GARP_TAKEOVER_ROUNDS => {
                let base = if v.l2.is_some() {
                    format!("variants[{vi}].l2")
                } else {
                    "l2".into()
                };
                driver(&[
                    (
                        &format!("{base}.gratuitous_arp_interval"),
                        excess(1.0, i.as_secs_f64()),
                    ),
                    ("duration", excess(d, 60.0)),
                ])
            }
            _ => "nodes.count".into(),
        };
        items.push(Item {
            field,
            what: format!(
                "gratuitous ARP: {} rounds x {GARP_FRAMES} frames flooded to {} ports",
                count(rounds),
                count(ports - 1.0)
            ),
            events: frames + rounds,
            working: GARP_FRAMES * (ports - 1.0).max(1.0) * FRAME_BYTES
                + periodic * FOOTPRINT.event as f64,
            retained: capture(a, frames / (ports - 1.0).max(1.0)),
            output: capture(a, frames / (ports - 1.0).max(1.0)),
        });
    }

    // BGP: keepalives both ways, BFD both ways.
    if let Some(b) = bgp {
        let base = if v.bgp.is_some() {
            format!("variants[{vi}].bgp")
        } else {
            "bgp".into()
        };
        let speaker_hold = match b.speaker {
            SpeakerKind::Native => 90.0,
            SpeakerKind::FrrTraditional => 180.0,
            SpeakerKind::FrrDatacenter => 9.0,
            SpeakerKind::Frr { hold, .. } => hold.as_secs_f64(),
        };
        let hold = speaker_hold.min(b.router_hold_time.as_secs_f64()).floor();
        let cap = (hold / 3.0).floor();
        let speaker_k = match b.speaker {
            SpeakerKind::Native => hold / 3.0,
            SpeakerKind::FrrTraditional => 60f64.min(cap),
            SpeakerKind::FrrDatacenter => 3f64.min(cap),
            SpeakerKind::Frr { keepalive, .. } => keepalive.as_secs_f64().min(cap),
        };
        let router_k = (b.router_hold_time.as_secs_f64() / 3.0).min(cap);
        let per = |k: f64| if k > 0.0 && hold > 0.0 { d / k } else { 0.0 };
        let keepalives = per(speaker_k) + per(router_k);
        let messages = n_nodes * (keepalives + EVENTS_PER_SESSION / 2.0);
        items.push(Item {
            field: driver(&[
                (
                    &format!("{base}.speaker"),
                    excess(30.0, speaker_k.max(1e-9)),
                ),
                ("nodes.count", excess(n_nodes, 3.0)),
                ("duration", excess(d, 60.0)),
            ]),
            what: format!(
                "BGP on {} nodes: keepalives every {speaker_k} s and {router_k} s",
                s.nodes.count
            ),
            events: n_nodes * (EVENTS_PER_SESSION + EVENTS_PER_KEEPALIVE * keepalives),
            working: n_nodes * 16_384.0,
            retained: capture(a, 2.0 * messages)
                + n_nodes * 40.0 * (LOG_TEXT_BYTES + FOOTPRINT.log_entry as f64),
            output: capture(a, 2.0 * messages) + n_nodes * 40.0 * EVENTS_ROW,
        });
        if let Some(bfd) = b.bfd {
            let (tx, rx) = (
                bfd.transmit_interval.as_secs_f64(),
                bfd.receive_interval.as_secs_f64(),
            );
            let interval = tx.max(rx) * BFD_JITTER;
            let packets = 2.0 * n_nodes * d / interval.max(1e-9);
            let which = if rx > tx {
                "receive_interval"
            } else {
                "transmit_interval"
            };
            items.push(Item {
                field: driver(&[
                    (&format!("{base}.bfd.{which}"), excess(0.3, tx.max(rx))),
                    ("nodes.count", excess(n_nodes, 3.0)),
                    ("duration", excess(d, 60.0)),
                ]),
                what: format!(
                    "BFD on {} nodes every {:.3} ms each way: {} packets",
                    s.nodes.count,
                    tx.max(rx) * 1e3,
                    count(packets)
                ),
                events: packets * EVENTS_PER_BFD_PACKET,
                working: n_nodes * 2_048.0,
                retained: capture(a, packets),
                output: capture(a, packets),
            });
        }
    }

    // Route changes: a connections.csv row per established connection per change (with
    // `connection_rows: Moved`, per moved one).
    let changes = route_changes(s, mode, script, l2.map(|l| l.clients));
    if changes > 0.0 {
        // The first announcement finds no connection yet; every later change records them all.
        let rows = (changes - 1.0) * established * moved_share(s, v, n_nodes);
        items.push(Item {
            field: events_field,
            what: format!(
                "{} route changes x {} established connections (connections.csv)",
                count(changes),
                count(established)
            ),
            events: 0.0,
            working: 0.0,
            retained: rows * FOOTPRINT.conn_row as f64
                + changes * 4.0 * (FOOTPRINT.log_entry as f64 + LOG_TEXT_BYTES),
            output: rows * CONNECTIONS_ROW + changes * (150.0 + 4.0 * EVENTS_ROW),
        });
    }

    // Several services (src/cluster.rs): each has its route, pods and books, and every route
    // change repeats per service. In BGP mode every speaker announces each service's prefix:
    // the router's RIB and FIB hold nodes x services routes, sent in UPDATEs of up to ~800
    // prefixes (4,096 bytes), and each speaker keeps the set it announces.
    let listed = v.services.as_ref().unwrap_or(&s.services);
    if !listed.is_empty() {
        let n_svc: f64 = listed.iter().map(|e| f64::from(e.count)).sum();
        let routes = if bgp.is_some() { n_nodes * n_svc } else { 0.0 };
        let updates = if bgp.is_some() {
            n_nodes * (n_svc / UPDATE_PREFIXES).ceil()
        } else {
            0.0
        };
        items.push(Item {
            field: "services".into(),
            what: format!(
                "{} services ({} routes in the router's RIB)",
                count(n_svc),
                count(routes)
            ),
            events: updates * EVENTS_PER_KEEPALIVE,
            working: 0.0,
            retained: n_svc * (SERVICE_BYTES + 8.0 * n_nodes)
                + routes * ROUTE_BYTES
                + changes * n_svc * 4.0 * (FOOTPRINT.log_entry as f64 + LOG_TEXT_BYTES),
            output: n_svc * (SERVICES_ROW + 9.0 * n_nodes)
                + changes * n_svc * (150.0 + 4.0 * EVENTS_ROW),
        });
    }

    // Resilient groups with an idle timer wake the router to migrate buckets.
    let requests = t.groups.iter().map(|g| g.started).sum();
    let mut cost = RunCost::new(v.name.clone(), items, requests);
    cost.writing = writing;
    cost
}

/// The items of client group `g`.
#[allow(clippy::too_many_arguments)]
fn group(
    s: &Scenario,
    g: usize,
    c: &ClientSpec,
    load: &traffic::GroupLoad,
    mode: Mode,
    l2: Option<crate::scenario::L2Spec>,
    ports: f64,
    a: &Assumptions,
    d: f64,
) -> Vec<Item> {
    let mut items = Vec::new();
    let n = f64::from(c.count);
    let field = |extra: &[(&str, f64)]| {
        let mut cands: Vec<(String, f64)> = vec![
            (format!("clients[{g}].count"), excess(n, 1.0)),
            (rate_field(g, c), rate_excess(c)),
            ("duration".to_string(), excess(d, 60.0)),
        ];
        cands.extend(extra.iter().map(|(f, e)| (format!("clients[{g}].{f}"), *e)));
        let refs: Vec<(&str, f64)> = cands.iter().map(|(f, e)| (f.as_str(), *e)).collect();
        driver(&refs)
    };
    let timeout = c.timeout.as_secs_f64();
    let ping = matches!(c.load, Load::Ping { .. });
    let shape = traffic::shape(c);

    // The instances themselves.
    let per_instance = match shape {
        Shape::Closed(k, _) => f64::from(k) * 16.0,
        Shape::Pooled(k) => f64::from(k) * 8.0,
        _ => 0.0,
    };
    let on_segment = l2.is_some_and(|l| l.clients == ClientPlacement::OnSegment)
        && !matches!(c.location, ClientLocation::InCluster(_));
    items.push(Item {
        field: format!("clients[{g}].count"),
        what: format!("{} instances of client {:?}", c.count, c.name),
        events: 0.0,
        working: n
            * (INSTANCE_BYTES + per_instance + if on_segment { RESOLVER_BYTES } else { 0.0 }),
        retained: n * (FOOTPRINT.probe_stats as f64 + 32.0 + c.name.len() as f64),
        output: 0.0,
    });
    if shape == Shape::Bulk {
        if let Load::Iperf3 { parallel, .. } = c.load {
            let streams = n * f64::from(parallel);
            let intervals = load.window.max(1.0);
            let file = if c.output.is_some() {
                streams * intervals * IPERF_INTERVAL_JSON
            } else {
                0.0
            };
            items.push(Item {
                field: field(&[("load.parallel", excess(f64::from(parallel), 10.0))]),
                what: format!(
                    "iperf3: {} streams x {} 1 s intervals",
                    count(streams),
                    count(intervals)
                ),
                events: 10.0 * n + 4.0 * streams,
                working: streams * (intervals * 6.0 * 8.0 + 512.0) + file,
                retained: file,
                output: file,
            });
        }
        return items;
    }

    // Requests: events along their path.
    let pod_event = if ping {
        0.0
    } else if s.nodes.packet_cost.as_nanos() > 0 {
        1.0
    } else {
        load.remote
    };
    let answered_path = if ping { 3.0 } else { 4.0 + pod_event };
    let send = match (shape, c.load) {
        (Shape::Closed(_, think), _) if think > 0.0 => load.started,
        (Shape::Closed(..), Load::Fortio { .. }) => load.started * (1.0 - load.saturated),
        (Shape::Closed(..), _) => 0.0,
        _ => load.arrivals,
    };
    let unanswered = (load.started - load.served).max(0.0);
    let checks = (n * load.window / timeout.max(1e-9)).min(load.started) + unanswered;
    let events = send + load.served * answered_path + unanswered * 3.0 + checks;
    // Pending events: one per closed-loop user (its request's next step, or its think
    // time), else one per request in flight and one arrival per instance.
    let heap = match shape {
        Shape::Closed(k, _) => f64::from(k) * n,
        _ => load.live + n + load.queued,
    };
    let deadlines = n * ring(load.deadlines_per_instance) * FOOTPRINT.deadline as f64;
    let backlog = n * ring(load.backlog) * 8.0;
    let what = format!(
        "client {:?} ({} x {}): {} requests started, {} answered, {} in flight at most, {} in its timeout queues",
        c.name,
        c.count,
        load_text(c),
        count(load.started),
        count(load.served),
        count(load.live),
        count(n * load.deadlines_per_instance)
    );
    items.push(Item {
        field: field(&[("timeout", excess(timeout, 2.0))]),
        what,
        events,
        working: load.live * FOOTPRINT.request as f64
            + heap * FOOTPRINT.event as f64
            + load.conns * FOOTPRINT.connection as f64
            + deadlines
            + backlog,
        retained: 0.0,
        output: if matches!(c.load, Load::Vegeta { .. }) && c.output.is_some() {
            load.started * VEGETA_CSV_ROW
        } else {
            0.0
        },
    });

    // The tool's own report.
    if let Some(_out) = &c.output {
        match c.load {
            Load::Ping { .. } => {
                let probes = load.started;
                items.push(Item {
                    field: field(&[]),
                    what: format!("ping log of client {:?}: {} probes", c.name, count(probes)),
                    events: 0.0,
                    // Kept per probe, copied once at the end, then a line each (sorted by time)
                    // joined into the log text (`tools::ping::to_log`).
                    working: probes * (2.0 * FOOTPRINT.ping_probe as f64 + PING_LINE_BYTES),
                    retained: probes * PING_LOG_LINE,
                    output: probes * PING_LOG_LINE,
                });
            }
            Load::Fortio { .. } | Load::Wrk { .. } | Load::Vegeta { .. } => {
                let windows = (d / 0.1).ceil();
                let report = if matches!(c.load, Load::Fortio { .. }) {
                    FORTIO_JSON
                } else {
                    SMALL_REPORT
                };
                items.push(Item {
                    field: field(&[]),
                    what: format!("{:?}'s tool report", c.name),
                    events: 0.0,
                    working: 2.0 * (3.0 * FOOTPRINT.histogram as f64 + windows * 8.0),
                    retained: report,
                    output: report,
                });
            }
            _ => {}
        }
    }

    // Layer 2: each client on the segment resolves the VIP itself.
    if on_segment {
        let confirms = n * load.offered_rate.min(CONFIRMS_PER_S) * load.window.min(d);
        let br = l2.map_or(30.0, |l| l.base_reachable_time.as_secs_f64());
        let pending = n * load.offered_rate.min(CONFIRMS_PER_S) * 1.5 * br.min(d);
        // The first request of every instance broadcasts an ARP request to every port; all
        // instances that start together have theirs in flight at once.
        let flood = n * (ports - 1.0);
        items.push(Item {
            field: format!("clients[{g}].count"),
            what: format!(
                "{} clients on the L2 segment: each broadcasts ARP to {} ports ({} frames) and confirms its entry {} times",
                c.count,
                count(ports - 1.0),
                count(flood),
                count(confirms)
            ),
            events: 2.0 * flood + confirms,
            working: flood * FRAME_BYTES + pending * FOOTPRINT.event as f64,
            retained: capture(a, n) + n * 4.0 * (FOOTPRINT.log_entry as f64 + LOG_TEXT_BYTES),
            output: capture(a, n) + n * 4.0 * EVENTS_ROW,
        });
    }
    if mode == Mode::L2 && load.started > 0.0 && !on_segment {
        // Nothing more: the gateway's cost is the variant's.
    }
    items
}

/// The share of the established connections a route change records: all of them, or with
/// `connection_rows: Moved` those that move: most under modulo, about a next hop's share (1/n,
/// counted twice for slack) under the consistent selections (hash-threshold moves the
/// neighbours' slices too: counted as half).
fn moved_share(s: &Scenario, v: &Variant, n_nodes: f64) -> f64 {
    use bgp::ecmp::Selection;
    if s.connection_rows == crate::scenario::ConnectionRows::All {
        return 1.0;
    }
    match s.ecmp_of(v).selection {
        Selection::Modulo => 1.0,
        Selection::HashThreshold => 0.5,
        _ => (2.0 / n_nodes).min(1.0),
    }
}

/// Route changes a variant's script causes (each records every established connection).
fn route_changes(
    s: &Scenario,
    mode: Mode,
    script: &[crate::scenario::ScriptedEvent],
    l2_clients: Option<ClientPlacement>,
) -> f64 {
    // In L2 mode with clients on the segment each resolver moves on its own.
    let resolvers = match l2_clients {
        Some(ClientPlacement::OnSegment) => s.clients.iter().map(|c| f64::from(c.count)).sum(),
        _ => 1.0,
    };
    let per_fault = match mode {
        Mode::L2 => resolvers,
        Mode::Bgp => 1.0,
        Mode::Scripted => 0.0,
    };
    let mut n = 1.0; // the first announcement
    for e in script {
        n += match e.action().map(|x| x.0) {
            Some(Action::Withdraw | Action::Announce) => 1.0,
            Some(
                Action::Crash
                | Action::Partition
                | Action::Shutdown
                | Action::Drain
                | Action::KillSpeaker
                | Action::NeighborShutdown
                | Action::HangSpeaker,
            ) => per_fault,
            Some(
                Action::Recover | Action::Heal | Action::RestartSpeaker | Action::ResumeSpeaker,
            ) => 2.0 * per_fault,
            // The router drops what clients send for a while, or DNS weights move: no
            // route changes.
            Some(Action::Blackout | Action::DnsWeights) | None => 0.0,
        };
    }
    if s.service.traffic_policy == TrafficPolicy::Local {
        n += script.len() as f64;
    }
    n
}

/// The external client group with the highest rate through the gateway.
fn busiest_external(s: &Scenario, t: &traffic::Traffic) -> Option<usize> {
    (0..s.clients.len())
        .filter(|&g| !matches!(s.clients[g].location, ClientLocation::InCluster(_)))
        .max_by(|&a, &b| t.groups[a].started.total_cmp(&t.groups[b].started))
}

/// A client's load as a person wrote it, short.
fn load_text(c: &ClientSpec) -> String {
    match c.load {
        Load::OpenLoop { rate, .. } => format!("{rate} requests/s"),
        Load::Vegeta { rate, .. } => format!("vegeta {rate}/s"),
        Load::Fortio { qps, connections } => {
            format!("fortio {qps} qps over {connections} connections")
        }
        Load::Ping { interval } => format!("a ping every {interval}"),
        Load::ClosedLoop { users, .. } => format!("{users} closed-loop users"),
        Load::Wrk { connections, .. } => format!("wrk with {connections} connections"),
        Load::Iperf3 { parallel, .. } => format!("iperf3 -P {parallel}"),
    }
}

/// The field that sets a group's request rate.
fn rate_field(g: usize, c: &ClientSpec) -> String {
    let f = match c.load {
        Load::OpenLoop { .. } | Load::Vegeta { .. } => "load.rate",
        Load::Fortio { .. } => "load.qps",
        Load::Ping { .. } => "load.interval",
        Load::ClosedLoop { .. } => "load.users",
        Load::Wrk { .. } => "load.connections",
        Load::Iperf3 { .. } => "load.parallel",
    };
    format!("clients[{g}].{f}")
}

/// How far a group's rate is from an ordinary one (decades).
fn rate_excess(c: &ClientSpec) -> f64 {
    match c.load {
        Load::OpenLoop { rate, .. } | Load::Vegeta { rate, .. } => excess(rate, 1_000.0),
        Load::Fortio { qps, .. } => excess(qps, 1_000.0),
        Load::Ping { interval } => excess(0.1, interval.as_secs_f64()),
        Load::ClosedLoop { users, .. } => excess(f64::from(users), 100.0),
        Load::Wrk { connections, .. } => excess(f64::from(connections), 100.0),
        Load::Iperf3 { parallel, .. } => excess(f64::from(parallel), 10.0),
    }
}

/// Decades by which `value` exceeds `ordinary`.
fn excess(value: f64, ordinary: f64) -> f64 {
    (value / ordinary).max(1e-300).log10()
}

/// The candidate that exceeds its ordinary value the most (the first on ties).
fn driver(candidates: &[(&str, f64)]) -> String {
    let mut best: Option<(&str, f64)> = None;
    for &(f, e) in candidates {
        if best.is_none_or(|(_, b)| e > b) {
            best = Some((f, e));
        }
    }
    best.map_or_else(String::new, |(f, _)| f.to_string())
}

/// Entries a ring buffer (`VecDeque`) that held `n` at most has allocated and touched: it
/// doubles, and a ring that wraps around writes all of it. (A `Vec` that grew to `n` is
/// resident for its `n` entries only: the pages beyond are never written.)
fn ring(n: f64) -> f64 {
    if n <= 1.0 {
        n.max(0.0)
    } else {
        2f64.powf(n.log2().ceil())
    }
}

/// Bytes of the latency bins of `answered` answers over `buckets` buckets: a bucket with
/// answers holds one bin per distinct (log-linear, 16 per power of two) value, about 32 for
/// latencies within a factor of 4, in a vector that doubles from 4 entries of 8 bytes (and
/// 16 bytes of allocator header).
fn bin_bytes(answered: f64, buckets: f64) -> f64 {
    if answered <= 0.0 || buckets <= 0.0 {
        return 0.0;
    }
    let filled = buckets.min(answered);
    let per_bucket = (answered / filled).clamp(1.0, 32.0);
    let capacity = 2f64.powf(per_bucket.log2().ceil()).max(4.0);
    filled * (capacity * 8.0 + 16.0)
}

/// pcap bytes for `frames`, when capturing.
fn capture(a: &Assumptions, frames: f64) -> f64 {
    if a.capture {
        frames * PCAP_FRAME
    } else {
        0.0
    }
}

/// A count for messages: `1,234,567` or `3.6e9`.
pub fn count(x: f64) -> String {
    if !x.is_finite() || x >= 1e13 {
        format!("{x:.1e}")
    } else {
        let s = format!("{:.0}", x.max(0.0));
        let mut out = String::new();
        for (i, ch) in s.chars().enumerate() {
            if i > 0 && (s.len() - i) % 3 == 0 {
                out.push(',');
            }
            out.push(ch);
        }
        out
    }
}
