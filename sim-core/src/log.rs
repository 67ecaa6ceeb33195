//! The structured event log: what happened, when (simulated time), to whom.

use crate::time::SimTime;

/// One logged occurrence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    /// When it happened.
    pub time: SimTime,
    /// What kind of thing happened, a stable snake_case word (`node_crash`, `route_withdraw`).
    pub kind: &'static str,
    /// Who it happened to (`node-2`, `192.0.2.10/32`).
    pub subject: String,
    /// Free-form `key=value` details.
    pub detail: String,
}

/// An append-only log, in the order things happened.
#[derive(Debug, Clone, Default)]
pub struct EventLog {
    entries: Vec<LogEntry>,
}

impl EventLog {
    /// An empty log.
    pub fn new() -> Self {
        Self::default()
    }

    /// Append an entry.
    pub fn push(
        &mut self,
        time: SimTime,
        kind: &'static str,
        subject: impl Into<String>,
        detail: impl Into<String>,
    ) {
        self.entries.push(LogEntry {
            time,
            kind,
            subject: subject.into(),
            detail: detail.into(),
        });
    }

    /// All entries in order.
    pub fn entries(&self) -> &[LogEntry] {
        &self.entries
    }
}
