//! Which rows of events.csv a time chart marks, and in which lane (docs/report.md lists them).

use plotters::style::RGBColor;

use super::data::Row;

/// One lane of event marks: its name, colour, and which events.csv rows belong to it.
#[derive(Debug, Clone, Copy)]
pub struct LaneKind {
    /// Drawn at the lane's left and in the event tables.
    pub name: &'static str,
    /// Its marks' colour (no series takes it).
    pub color: RGBColor,
    /// What it marks, for docs/report.md and the tables.
    pub what: &'static str,
    matches: fn(kind: &str, detail: &str) -> bool,
}

impl LaneKind {
    /// Does the event (`kind`, `detail` of events.csv) belong to this lane?
    pub fn has(&self, kind: &str, detail: &str) -> bool {
        (self.matches)(kind, detail)
    }
}

/// `key=value` of an events.csv `detail`.
fn field<'a>(detail: &'a str, key: &str) -> Option<&'a str> {
    detail
        .split(' ')
        .find_map(|kv| kv.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
}

/// The lanes, top to bottom.
pub const LANES: [LaneKind; 7] = [
    LaneKind {
        name: "fault",
        color: RGBColor(0xD6, 0x27, 0x28),
        what: "a scripted fault: node_crash, node_partition, node_drain, speaker_shutdown, speaker_neighbor_shutdown, speaker_kill, speaker_hang, blackout",
        matches: |k, _| {
            matches!(
                k,
                "node_crash"
                    | "node_partition"
                    | "node_drain"
                    | "speaker_shutdown"
                    | "speaker_neighbor_shutdown"
                    | "speaker_kill"
                    | "speaker_hang"
                    | "blackout"
            )
        },
    },
    LaneKind {
        name: "recovery",
        color: RGBColor(0x00, 0x80, 0x60),
        what: "a scripted recovery: node_recover, node_heal, speaker_neighbor_start, speaker_resume",
        matches: |k, _| {
            matches!(
                k,
                "node_recover" | "node_heal" | "speaker_neighbor_start" | "speaker_resume"
            )
        },
    },
    LaneKind {
        name: "BFD down",
        color: RGBColor(0x94, 0x67, 0xBD),
        what: "bfd_state to=Down from another state (either side): BFD declared the path down (RFC 5880 §6.8.4)",
        matches: |k, d| k == "bfd_state" && field(d, "to") == Some("Down") && field(d, "from") != Some("Down"),
    },
    LaneKind {
        name: "session down",
        color: RGBColor(0x8C, 0x56, 0x4B),
        what: "session_down: a BGP session left Established (either side; reason= says why)",
        matches: |k, _| k == "session_down",
    },
    LaneKind {
        name: "FIB change",
        color: RGBColor(0x17, 0xBE, 0xCF),
        what: "fib_programmed: the router's kernel route for the service IP changed (after the FIB delay)",
        matches: |k, _| k == "fib_programmed",
    },
    LaneKind {
        name: "GARP",
        color: RGBColor(0xBC, 0xBD, 0x22),
        what: "l2_leader leader=true: a node starts announcing the IP, sending its first gratuitous ARP burst at once (MetalLB announcer.go SetBalancer; the bursts go on for 5 s)",
        matches: |k, d| k == "l2_leader" && field(d, "leader") == Some("true"),
    },
    LaneKind {
        name: "ARP moved",
        color: RGBColor(0xFF, 0x98, 0x96),
        what: "neighbour_mac from a node to another: a resolver's ARP cache entry for the IP moved (the first resolution, from=?, is not marked)",
        matches: |k, d| k == "neighbour_mac" && field(d, "from").is_some_and(|f| f != "?"),
    },
];

/// The lane of an events.csv row, if it has one.
pub fn lane_of(row: &Row<'_>) -> Option<usize> {
    let (k, d) = (row.str("kind"), row.str("detail"));
    LANES.iter().position(|l| l.has(k, d))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lanes_pick_the_right_events() {
        let bfd = &LANES[2];
        assert!(bfd.has(
            "bfd_state",
            "side=router from=Up to=Down diag=ControlDetectionTimeExpired"
        ));
        assert!(!bfd.has(
            "bfd_state",
            "side=speaker from=Down to=Init diag=NoDiagnostic"
        ));
        assert!(!bfd.has("bfd_state", "side=speaker from=Down to=Down"));
        let garp = &LANES[5];
        assert!(garp.has("l2_leader", "ip=192.0.2.10 leader=true"));
        assert!(!garp.has("l2_leader", "ip=192.0.2.10 leader=false"));
        let arp = &LANES[6];
        assert!(arp.has("neighbour_mac", "ip=192.0.2.10 from=node-1 to=node-4"));
        assert!(!arp.has("neighbour_mac", "ip=192.0.2.10 from=? to=node-1"));
    }
}
