//! Conformance cases for the BGP session FSM, as files (holo `tests/conformance/` style).
//!
//! Each case `tests/conformance/<name>.in.jsonl` drives two speakers, `a` and `b`, joined by an
//! in-test pipe that delivers bytes after a fixed delay; the first line sets them up, the others
//! are scripted actions. The timeline of every output is compared with
//! `tests/conformance/<name>.out.jsonl`. `LBSIM_BLESS=1 cargo test -p bgp --test
//! session_conformance` rewrites the goldens, so a reviewer reads the diff. Key properties are
//! also asserted in code, not only in the goldens.

use bgp::session::{Direction, DownReason, Input, Output, Session, SessionConfig, State};
use bgp::wire::{
    Capability, CeaseSubcode, CodecOptions, ErrorCode, Ipv4Prefix, Message, MessageReader,
};
use serde::Deserialize;
use serde_json::json;
use sim_core::{SimDuration, SimTime};
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::PathBuf;

// ----- case files -------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
struct Setup {
    a: SpeakerSetup,
    b: SpeakerSetup,
    seed: u64,
    delay: String,
    until: String,
}

#[derive(Debug, Deserialize)]
struct SpeakerSetup {
    preset: String,
    local_as: u32,
    peer_as: u32,
    router_id: Ipv4Addr,
    #[serde(default)]
    passive: bool,
    #[serde(default)]
    graceful_restart: Option<String>,
    #[serde(default)]
    keepalive_jitter: bool,
}

impl SpeakerSetup {
    fn config(&self) -> SessionConfig {
        let (l, p, id) = (self.local_as, self.peer_as, self.router_id);
        let mut c = match self.preset.as_str() {
            "native" => SessionConfig::native(l, p, id),
            "frr_traditional" => SessionConfig::frr_traditional(l, p, id),
            "frr_datacenter" => SessionConfig::frr_datacenter(l, p, id),
            other => panic!("unknown preset {other:?}"),
        };
        c.passive = self.passive;
        c.keepalive_jitter = self.keepalive_jitter;
        c.graceful_restart = self.graceful_restart.as_deref().map(duration);
        c
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "do", rename_all = "snake_case")]
enum Action {
    Start,
    Stop,
    Kill,
    AdminShutdown,
    /// The node vanishes: nothing more in or out, the peer is not told.
    Crash,
    /// A fresh process (same config, new seed) after a crash or stop, then started.
    Restart,
    BfdDown,
    Announce {
        prefixes: Vec<String>,
        next_hop: Ipv4Addr,
    },
    Withdraw {
        prefixes: Vec<String>,
    },
}

#[derive(Debug, Deserialize)]
struct Step {
    at: String,
    who: String,
    #[serde(flatten)]
    action: Action,
}

fn duration(text: &str) -> SimDuration {
    text.parse().unwrap_or_else(|e| panic!("{e}"))
}

fn at(text: &str) -> SimTime {
    SimTime(duration(text).as_nanos())
}

fn prefix(text: &str) -> Ipv4Prefix {
    let (addr, len) = text.split_once('/').expect("a.b.c.d/len");
    Ipv4Prefix::new(addr.parse().expect("address"), len.parse().expect("length")).expect("len")
}

// ----- the lab: two speakers and a pipe ------------------------------------------------------

/// One TCP connection, named by who opened it; `generation` tells reopened ones apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct ConnKey {
    initiator: usize,
}

#[derive(Debug, Clone)]
enum Event {
    Script(Action),
    Wake,
    Deliver {
        input: Input,
        conn: Option<(ConnKey, u64)>,
    },
    /// A dial from `who` reaches the other side.
    Syn {
        generation: u64,
    },
}

/// One line of the timeline.
#[derive(Debug, Clone)]
struct Record {
    t: SimTime,
    who: usize,
    output: Output,
}

struct Lab {
    speakers: [Session; 2],
    configs: [SessionConfig; 2],
    alive: [bool; 2],
    incarnation: [u64; 2],
    seed: u64,
    delay: SimDuration,
    queue: BTreeMap<(SimTime, u64), (usize, Event)>,
    seq: u64,
    /// Open connections: generation, and the incarnations of both ends when it opened.
    conns: BTreeMap<ConnKey, (u64, [u64; 2])>,
    generation: u64,
    lines: Vec<String>,
    records: Vec<Record>,
}

const NAMES: [&str; 2] = ["a", "b"];

fn other(who: usize) -> usize {
    1 - who
}

fn key_of(who: usize, dir: Direction) -> ConnKey {
    match dir {
        Direction::Outbound => ConnKey { initiator: who },
        Direction::Inbound => ConnKey {
            initiator: other(who),
        },
    }
}

fn dir_at(who: usize, key: ConnKey) -> Direction {
    if key.initiator == who {
        Direction::Outbound
    } else {
        Direction::Inbound
    }
}

impl Lab {
    fn new(setup: &Setup) -> Lab {
        let configs = [setup.a.config(), setup.b.config()];
        Lab {
            speakers: [
                Session::new(configs[0].clone(), setup.seed),
                Session::new(configs[1].clone(), setup.seed + 1),
            ],
            configs,
            alive: [true; 2],
            incarnation: [0; 2],
            seed: setup.seed,
            delay: duration(&setup.delay),
            queue: BTreeMap::new(),
            seq: 0,
            conns: BTreeMap::new(),
            generation: 0,
            lines: Vec::new(),
            records: Vec::new(),
        }
    }

    fn push(&mut self, t: SimTime, who: usize, event: Event) {
        self.seq += 1;
        self.queue.insert((t, self.seq), (who, event));
    }

    fn run(&mut self, until: SimTime) {
        while let Some(entry) = self.queue.first_entry() {
            if entry.key().0 > until {
                break;
            }
            let ((now, _), (who, event)) = entry.remove_entry();
            self.step(now, who, event);
        }
    }

    fn line(&mut self, t: SimTime, who: usize, what: &str, text: String) {
        // Keys in reading order: time, speaker, then what happened.
        let t = SimDuration::from_nanos(t.as_nanos()).to_string();
        self.lines.push(format!(
            "{{\"t\":{},\"who\":{},{}:{}}}",
            json!(t),
            json!(NAMES[who]),
            json!(what),
            json!(text)
        ));
    }

    fn step(&mut self, now: SimTime, who: usize, event: Event) {
        match event {
            Event::Script(action) => {
                self.line(now, who, "do", format!("{action:?}"));
                match action {
                    Action::Start => self.feed(now, who, Input::ManualStart),
                    Action::Stop => self.feed(now, who, Input::ManualStop { graceful: true }),
                    Action::Kill => self.feed(now, who, Input::ManualStop { graceful: false }),
                    Action::AdminShutdown => self.feed(now, who, Input::AdminShutdown),
                    Action::BfdDown => self.feed(now, who, Input::BfdDown),
                    Action::Crash => self.alive[who] = false,
                    Action::Restart => {
                        self.alive[who] = true;
                        self.incarnation[who] += 1;
                        let seed = self.seed + 10 * self.incarnation[who] + who as u64;
                        let config = self.configs[who].clone();
                        self.speakers[who] = Session::new(config, seed);
                        self.feed(now, who, Input::ManualStart);
                    }
                    Action::Announce { prefixes, next_hop } => {
                        let prefixes = prefixes.iter().map(|p| prefix(p)).collect();
                        self.feed(now, who, Input::Announce { prefixes, next_hop });
                    }
                    Action::Withdraw { prefixes } => {
                        let prefixes = prefixes.iter().map(|p| prefix(p)).collect();
                        self.feed(now, who, Input::Withdraw(prefixes));
                    }
                }
            }
            Event::Wake => {
                if self.speakers[who].next_timeout().is_some_and(|t| t <= now) {
                    self.feed(now, who, Input::Timer);
                }
            }
            Event::Deliver { input, conn } => {
                if let Some((key, generation)) = conn {
                    let current = self.conns.get(&key).map(|c| c.0);
                    let is_close = matches!(input, Input::TcpClosed { .. });
                    if current != Some(generation) && !is_close {
                        return; // bytes of a connection that is gone
                    }
                    if is_close {
                        self.conns.remove(&key);
                    }
                }
                self.feed(now, who, input);
            }
            Event::Syn { generation } => {
                // `who` is the dialled side; the dialler is the other one.
                let dialler = other(who);
                let key = ConnKey { initiator: dialler };
                if !self.alive[who] {
                    return; // SYNs into the void: the dialler's own timer gives up
                }
                self.conns.insert(key, (generation, self.incarnation));
                let out = self.speakers[who].handle(
                    now,
                    Input::TcpConnected {
                        dir: Direction::Inbound,
                    },
                );
                let refused = out.iter().any(|o| {
                    matches!(
                        o,
                        Output::CloseTcp {
                            dir: Direction::Inbound,
                            reset: true
                        }
                    )
                });
                let answer = if refused {
                    self.conns.remove(&key);
                    Input::TcpConnectionFails
                } else {
                    Input::TcpConnected {
                        dir: Direction::Outbound,
                    }
                };
                self.push(
                    now + self.delay,
                    dialler,
                    Event::Deliver {
                        input: answer,
                        conn: None,
                    },
                );
                self.outputs(now, who, out);
            }
        }
    }

    fn feed(&mut self, now: SimTime, who: usize, input: Input) {
        if !self.alive[who] {
            return;
        }
        let out = self.speakers[who].handle(now, input);
        self.outputs(now, who, out);
    }

    fn outputs(&mut self, now: SimTime, who: usize, out: Vec<Output>) {
        for output in out {
            self.line(now, who, "out", summary(&output));
            self.records.push(Record {
                t: now,
                who,
                output: output.clone(),
            });
            match output {
                Output::Connect => {
                    self.generation += 1;
                    let generation = self.generation;
                    self.push(now + self.delay, other(who), Event::Syn { generation });
                }
                Output::Send { dir, bytes } => {
                    let key = key_of(who, dir);
                    if let Some(&(generation, _)) = self.conns.get(&key) {
                        let input = Input::Bytes {
                            dir: dir_at(other(who), key),
                            bytes,
                        };
                        let conn = Some((key, generation));
                        self.push(now + self.delay, other(who), Event::Deliver { input, conn });
                    }
                }
                Output::CloseTcp { dir, reset } => {
                    let key = key_of(who, dir);
                    if let Some(&(generation, _)) = self.conns.get(&key) {
                        let input = Input::TcpClosed {
                            dir: dir_at(other(who), key),
                            reset,
                        };
                        let conn = Some((key, generation));
                        self.push(now + self.delay, other(who), Event::Deliver { input, conn });
                    }
                }
                _ => {}
            }
        }
        if let Some(t) = self.speakers[who].next_timeout() {
            assert!(t >= now, "{} scheduled a timer in the past", NAMES[who]);
            self.push(t, who, Event::Wake);
        }
    }
}

/// One readable line per output; messages decoded.
fn summary(output: &Output) -> String {
    match output {
        Output::Send { dir, bytes } => {
            let mut reader = MessageReader::new(CodecOptions::FOUR_OCTET_AS);
            reader.push(bytes);
            let messages: Vec<String> = reader
                .map(|m| match m {
                    Ok(m) => message_summary(&m),
                    Err(e) => format!("undecodable: {e}"),
                })
                .collect();
            format!("send {dir:?} {}", messages.join("; "))
        }
        other => format!("{other:?}"),
    }
}

fn message_summary(m: &Message) -> String {
    match m {
        Message::Open(o) => {
            let caps: Vec<String> = o
                .capabilities()
                .map(|c| match c {
                    Capability::Multiprotocol { afi, safi } => format!("mp {afi:?}/{safi:?}"),
                    Capability::RouteRefresh => "route-refresh".into(),
                    Capability::FourOctetAs { asn } => format!("as4 {asn}"),
                    Capability::GracefulRestart(gr) => format!("gr {}s", gr.restart_time_s),
                    other => format!("{other:?}"),
                })
                .collect();
            format!(
                "OPEN as {} hold {}s id {} [{}]",
                o.asn(),
                o.hold_time_s,
                o.bgp_identifier,
                caps.join(", ")
            )
        }
        Message::Keepalive(_) => "KEEPALIVE".into(),
        Message::Update(u) if u.is_end_of_rib() => "UPDATE End-of-RIB".into(),
        Message::Update(u) => {
            let mut parts: Vec<String> = u.withdrawn.iter().map(|p| format!("-{p}")).collect();
            parts.extend(u.nlri.iter().map(|p| format!("+{p}")));
            let nh = u.next_hop().map(|n| format!(" nh {n}")).unwrap_or_default();
            format!("UPDATE {}{nh}", parts.join(" "))
        }
        Message::Notification(n) => format!("NOTIFICATION {n}"),
        Message::RouteRefresh(_) => "ROUTE-REFRESH".into(),
    }
}

// ----- running a case ----------------------------------------------------------------------

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/conformance")
}

/// Runs `name`, compares (or blesses) the golden, returns the timeline.
fn run_case(name: &str) -> Vec<Record> {
    let input = std::fs::read_to_string(dir().join(format!("{name}.in.jsonl")))
        .unwrap_or_else(|e| panic!("{name}.in.jsonl: {e}"));
    let mut lines = input.lines().filter(|l| !l.trim().is_empty());
    let setup: Setup = serde_json::from_str(lines.next().expect("setup line")).expect("setup");
    let mut lab = Lab::new(&setup);
    for line in lines {
        let step: Step = serde_json::from_str(line).unwrap_or_else(|e| panic!("{line}: {e}"));
        let who = NAMES
            .iter()
            .position(|n| *n == step.who)
            .expect("who is a or b");
        lab.push(at(&step.at), who, Event::Script(step.action));
    }
    lab.run(at(&setup.until));
    let actual = lab.lines.join("\n") + "\n";

    let golden = dir().join(format!("{name}.out.jsonl"));
    if std::env::var_os("LBSIM_BLESS").is_some_and(|v| v == "1") {
        std::fs::write(&golden, &actual).expect("write golden");
    } else {
        let expected = std::fs::read_to_string(&golden)
            .unwrap_or_else(|e| panic!("{name}.out.jsonl: {e} (run with LBSIM_BLESS=1)"));
        if expected != actual {
            let first = expected
                .lines()
                .zip(actual.lines())
                .position(|(e, a)| e != a)
                .unwrap_or(expected.lines().count().min(actual.lines().count()));
            panic!(
                "{name}: timeline differs from the golden at line {}\nexpected: {:?}\nactual:   {:?}\n(seed {}; LBSIM_BLESS=1 rewrites)",
                first + 1,
                expected.lines().nth(first),
                actual.lines().nth(first),
                setup.seed
            );
        }
    }
    lab.records
}

fn secs(t: SimTime) -> f64 {
    t.as_secs_f64()
}

fn established(records: &[Record], who: usize) -> Vec<SimTime> {
    records
        .iter()
        .filter(|r| r.who == who && matches!(r.output, Output::Established { .. }))
        .map(|r| r.t)
        .collect()
}

fn downs(records: &[Record], who: usize) -> Vec<(SimTime, DownReason, Option<SimDuration>)> {
    records
        .iter()
        .filter(|r| r.who == who)
        .filter_map(|r| match r.output {
            Output::SessionDown {
                reason,
                keep_routes_for,
            } => Some((r.t, reason, keep_routes_for)),
            _ => None,
        })
        .collect()
}

fn sent_messages(records: &[Record], who: usize) -> Vec<(SimTime, Message)> {
    records
        .iter()
        .filter(|r| r.who == who)
        .filter_map(|r| match &r.output {
            Output::Send { bytes, .. } => Some((r.t, bytes.clone())),
            _ => None,
        })
        .flat_map(|(t, b)| {
            let mut reader = MessageReader::new(CodecOptions::FOUR_OCTET_AS);
            reader.push(&b);
            reader
                .map(move |m| (t, m.expect("valid")))
                .collect::<Vec<_>>()
        })
        .collect()
}

fn keepalive_times(records: &[Record], who: usize) -> Vec<SimTime> {
    sent_messages(records, who)
        .into_iter()
        .filter(|(_, m)| matches!(m, Message::Keepalive(_)))
        .map(|(t, _)| t)
        .collect()
}

const A: usize = 0;
const B: usize = 1;

// ----- the cases ---------------------------------------------------------------------------

#[test]
fn session_up() {
    let r = run_case("session_up");
    assert_eq!(established(&r, A).len(), 1);
    assert_eq!(established(&r, B).len(), 1);
    assert!(keepalive_times(&r, A).len() >= 3 && keepalive_times(&r, B).len() >= 3);
    let routes: Vec<_> = r
        .iter()
        .filter(|x| x.who == B && matches!(x.output, Output::RoutesReceived { .. }))
        .collect();
    assert_eq!(routes.len(), 1, "b learns a's service route");
}

#[test]
fn keepalive_exchange() {
    let r = run_case("keepalive_exchange");
    for who in [A, B] {
        let times = keepalive_times(&r, who);
        assert!(times.len() >= 8, "{times:?}");
        // After the OPEN-accepting KEEPALIVE, each interval is 60 s x [0.75, 1.0].
        for pair in times[1..].windows(2) {
            let gap = secs(pair[1]) - secs(pair[0]);
            assert!((45.0..=60.0).contains(&gap), "gap {gap}");
        }
        let distinct: std::collections::BTreeSet<u64> = times[1..]
            .windows(2)
            .map(|p| (p[1] - p[0]).as_nanos())
            .collect();
        assert!(distinct.len() > 1, "jitter varies the intervals");
    }
}

#[test]
fn hold_expiry() {
    let r = run_case("hold_expiry");
    let silent_at = 20.0;
    let (t, reason, _) = downs(&r, A)[0];
    assert_eq!(reason, DownReason::HoldTimerExpired);
    // The last KEEPALIVE b sent before going silent arrived 1 ms later; hold is 9 s.
    let last = keepalive_times(&r, B)
        .into_iter()
        .filter(|t| secs(*t) <= silent_at)
        .max()
        .expect("b sent keepalives");
    let expected = secs(last) + 0.001 + 9.0;
    assert!(
        (secs(t) - expected).abs() < 1e-9,
        "down at {} expected {expected}",
        secs(t)
    );
    // The window: between 9 s minus one keepalive interval (3 s) and 9 s after silence.
    assert!(secs(t) > silent_at + 6.0 - 0.01 && secs(t) <= silent_at + 9.0 + 0.001);
}

#[test]
fn bfd_down() {
    let r = run_case("bfd_down");
    let (ta, reason_a, _) = downs(&r, A)[0];
    assert_eq!((secs(ta), reason_a), (10.0, DownReason::BfdDown));
    let (tb, reason_b, keep) = downs(&r, B)[0];
    assert_eq!(
        reason_b,
        DownReason::NotificationReceived(ErrorCode::Cease(CeaseSubcode::BfdDown))
    );
    assert!((secs(tb) - 10.001).abs() < 1e-9 && keep.is_none());
}

#[test]
fn graceful_shutdown_frr() {
    let r = run_case("graceful_shutdown_frr");
    let (tb, reason, keep) = downs(&r, B)[0];
    assert_eq!(
        reason,
        DownReason::NotificationReceived(ErrorCode::Cease(CeaseSubcode::PeerDeconfigured))
    );
    assert!((secs(tb) - 30.001).abs() < 1e-9 && keep.is_none());
    assert_eq!(
        r.iter()
            .filter(|x| x.who == A && x.output == Output::Connect)
            .count(),
        1
    );
}

#[test]
fn graceful_shutdown_native() {
    let r = run_case("graceful_shutdown_native");
    let (tb, reason, _) = downs(&r, B)[0];
    assert_eq!(reason, DownReason::TcpClosed);
    assert!((secs(tb) - 30.001).abs() < 1e-9);
    assert!(
        !sent_messages(&r, A)
            .iter()
            .any(|(_, m)| matches!(m, Message::Notification(_))),
        "native never sends NOTIFICATION"
    );
}

#[test]
fn graceful_restart() {
    let r = run_case("graceful_restart");
    let (t, reason, keep) = downs(&r, B)[0];
    assert_eq!((secs(t), reason), (10.001, DownReason::TcpClosed));
    assert_eq!(keep, Some(SimDuration::from_secs(120)));
    assert_eq!(
        established(&r, B).len(),
        2,
        "re-established after the restart"
    );
    let eor_at_b: Vec<_> = r
        .iter()
        .filter(|x| x.who == B && x.output == Output::EndOfRib)
        .map(|x| secs(x.t))
        .collect();
    assert_eq!(eor_at_b.len(), 2);
    // Re-established at 15.004 s; FRR's first UPDATEs wait the coalesce time (1.05 s).
    assert!(
        eor_at_b[1] > 16.0 && eor_at_b[1] < 16.1,
        "End-of-RIB at {}",
        eor_at_b[1]
    );
}

#[test]
fn collision() {
    let r = run_case("collision");
    assert_eq!(established(&r, A).len(), 1);
    assert_eq!(established(&r, B).len(), 1);
    let ceases = sent_messages(&r, A)
        .into_iter()
        .chain(sent_messages(&r, B))
        .filter(|(_, m)| {
            matches!(m, Message::Notification(n)
                if n.error == ErrorCode::Cease(CeaseSubcode::ConnectionCollisionResolution))
        })
        .count();
    assert!(ceases >= 1);
    assert!(downs(&r, A).is_empty() && downs(&r, B).is_empty());
}

#[test]
fn native_no_hold_timer() {
    let r = run_case("native_no_hold_timer");
    assert!(
        downs(&r, A).is_empty(),
        "native never notices a silent peer"
    );
    let state_changes_after: Vec<_> = r
        .iter()
        .filter(|x| x.who == A && secs(x.t) > 10.0)
        .filter(|x| matches!(x.output, Output::StateChanged { .. }))
        .collect();
    assert!(state_changes_after.is_empty());
    let _ = State::Established;
}
