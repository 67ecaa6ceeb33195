//! A live connection, kept compact (a million keep-alive connections in 64 MB, no allocation of
//! their own), and the connections.csv rows route changes record for them.
//!
//! A connection's conntrack entry lives in its record (the node holding it and that node's
//! epoch), as does kube-proxy's choice (the pod): neither node keeps a table per connection.

use bgp::ecmp::FlowKey;
use sim_core::SimTime;

use super::ConnRow;
use crate::scenario::ConnectionRows;

/// No node, pod, change or row (node ids stay below 10,000, pods and rows below `u32::MAX`).
const NO_NODE: u16 = u16::MAX;
const NONE: u32 = u32::MAX;

/// One TCP connection (or ping flow) from open to close.
#[derive(Debug)]
pub(super) struct Conn {
    pub client: u32,
    /// The service it goes to.
    pub service: u32,
    /// The router's hash of its packets.
    pub hash: u32,
    pub opened_at: SimTime,
    pub flow: FlowKey,
    /// The node holding its conntrack entry ([`NO_NODE`]: none yet) and that node's epoch then.
    ct_node: u16,
    ct_epoch: u32,
    /// The pod kube-proxy gave it.
    pod: u32,
    /// Where the router sends it now (as of the last change or packet).
    path_node: u16,
    /// The change that moved it away from its conntrack node, while it is away.
    moved_by: u32,
    /// The newest of its connections.csv rows waiting for its fate (a list through
    /// [`ConnRows`]).
    pending: u32,
    /// A packet hit a node without its conntrack entry.
    pub broken: bool,
}

/// `u32::MAX` as `None`.
fn opt(v: u32) -> Option<u32> {
    (v != NONE).then_some(v)
}

fn opt_node(v: u16) -> Option<u16> {
    (v != NO_NODE).then_some(v)
}

impl Conn {
    /// A connection just opened: no conntrack entry, no pod, no path yet.
    pub fn new(client: u32, service: u32, flow: FlowKey, hash: u32, opened_at: SimTime) -> Self {
        Conn {
            client,
            service,
            hash,
            opened_at,
            flow,
            ct_node: NO_NODE,
            ct_epoch: 0,
            pod: NONE,
            path_node: NO_NODE,
            moved_by: NONE,
            pending: NONE,
            broken: false,
        }
    }

    /// The node holding its conntrack entry, and that node's epoch when it was made.
    pub fn conntrack(&self) -> Option<(u16, u32)> {
        opt_node(self.ct_node).map(|n| (n, self.ct_epoch))
    }

    pub fn set_conntrack(&mut self, node: u16, epoch: u32) {
        self.ct_node = node;
        self.ct_epoch = epoch;
    }

    pub fn pod(&self) -> Option<u32> {
        opt(self.pod)
    }

    pub fn set_pod(&mut self, pod: u32) {
        self.pod = pod;
    }

    pub fn path_node(&self) -> Option<u16> {
        opt_node(self.path_node)
    }

    pub fn set_path_node(&mut self, node: Option<u16>) {
        self.path_node = node.unwrap_or(NO_NODE);
    }

    pub fn moved_by(&self) -> Option<u32> {
        opt(self.moved_by)
    }

    pub fn set_moved_by(&mut self, change: Option<u32>) {
        self.moved_by = change.unwrap_or(NONE);
    }
}

/// connections.csv's rows so far. A connection's rows still waiting for its fate are linked
/// newest first through `next`, so a connection holds one index, not a list of its own.
#[derive(Debug, Default)]
pub(super) struct ConnRows {
    rows: Vec<ConnRow>,
    /// Per row: the connection's previous pending row ([`NONE`]: the last).
    next: Vec<u32>,
    /// Which rows a change keeps.
    keep: ConnectionRows,
}

impl ConnRows {
    /// Rows of the connections that `keep` asks for.
    pub fn new(keep: ConnectionRows) -> Self {
        ConnRows {
            keep,
            ..ConnRows::default()
        }
    }

    /// Bytes one row takes while it is held.
    pub const ROW_BYTES: usize = std::mem::size_of::<ConnRow>() + 4;

    /// Record `row` of `conn` at a change; a row whose fate is still open waits for it.
    pub fn push(&mut self, conn: &mut Conn, row: ConnRow) {
        let unaffected = row.node_before == row.node_after;
        if unaffected && self.keep == ConnectionRows::Moved {
            return;
        }
        let i = self.rows.len() as u32;
        let open = row.fate == OPEN;
        self.rows.push(row);
        if open {
            self.next.push(conn.pending);
            conn.pending = i;
        } else {
            self.next.push(NONE);
        }
    }

    /// `conn`'s fate is known: every row of it still waiting takes `fate`.
    pub fn settle(&mut self, conn: &mut Conn, fate: &'static str) {
        let mut i = std::mem::replace(&mut conn.pending, NONE);
        while let Some(r) = self.rows.get_mut(i as usize) {
            r.fate = fate;
            i = self.next[i as usize];
        }
    }

    /// The rows, in the order the changes made them.
    pub fn into_rows(self) -> Vec<ConnRow> {
        self.rows
    }
}

/// The fate of a moved connection until its next packet, its close or the run's end says.
pub(super) const OPEN: &str = "open-at-end";

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn conn() -> Conn {
        let flow = FlowKey {
            src: Ipv4Addr::new(198, 18, 0, 1),
            dst: Ipv4Addr::new(192, 0, 2, 10),
            proto: 6,
            sport: 40000,
            dport: 80,
        };
        Conn::new(0, 0, flow, 7, SimTime(5))
    }

    fn row(change: u32, before: u16, after: u16, fate: &'static str) -> ConnRow {
        ConnRow {
            conn: 0,
            client: 0,
            flow: conn().flow,
            opened_at: SimTime(5),
            change,
            node_before: Some(before),
            node_after: Some(after),
            fate,
        }
    }

    #[test]
    fn a_connection_fits_in_a_cache_line_with_its_slab_slot() {
        // Slab slot = generation (4) + the record; a million of them in 64 MB.
        assert!(
            std::mem::size_of::<Conn>() <= 60,
            "{}",
            std::mem::size_of::<Conn>()
        );
    }

    #[test]
    fn pending_rows_take_the_fate_and_others_keep_theirs() {
        let mut rows = ConnRows::new(ConnectionRows::All);
        let mut c = conn();
        rows.push(&mut c, row(0, 1, 2, OPEN));
        rows.push(&mut c, row(1, 2, 2, "unaffected"));
        rows.push(&mut c, row(2, 2, 3, OPEN));
        rows.settle(&mut c, "reset");
        // Settled once: a later settle finds nothing waiting.
        rows.settle(&mut c, "closed");
        let fates: Vec<_> = rows.into_rows().iter().map(|r| r.fate).collect();
        assert_eq!(fates, ["reset", "unaffected", "reset"]);
    }

    #[test]
    fn moved_only_drops_the_unaffected_rows() {
        let mut rows = ConnRows::new(ConnectionRows::Moved);
        let mut c = conn();
        rows.push(&mut c, row(0, 1, 1, "unaffected"));
        rows.push(&mut c, row(1, 1, 2, OPEN));
        rows.push(&mut c, row(2, 2, 1, "returned"));
        let changes: Vec<_> = rows.into_rows().iter().map(|r| r.change).collect();
        assert_eq!(changes, [1, 2]);
    }
}
