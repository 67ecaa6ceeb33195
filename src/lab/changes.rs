//! Route changes and faults: the scripted events, the changes of a service's ECMP group or
//! ARP entry, and what each did to the live connections (moved, returned, broken later).

use super::*;

impl Lab {
    pub(super) fn script(&mut self, i: u32, sched: &mut Scheduler<Ev>) {
        let now = sched.now();
        let Some(ev) = self.script.get(i as usize).cloned() else {
            return;
        };
        let Some((action, name)) = ev.action() else {
            return;
        };
        if action == Action::DnsWeights {
            self.dns_weights(name, ev.weights.as_deref().unwrap_or(&[]), sched);
            return;
        }
        if let Some(length) = ev.blackout {
            self.blackout_until = self.blackout_until.max(now + length);
            self.log
                .push(now, "blackout", "router", format!("for={length}"));
            return;
        }
        let Some(idx) = self.nodes.iter().position(|n| n.name == name) else {
            return;
        };
        let node = idx as u16;
        match action {
            Action::Withdraw if self.control.is_some() => {
                self.control_script_advertise(node, false, sched)
            }
            Action::Announce if self.control.is_some() => {
                self.control_script_advertise(node, true, sched)
            }
            Action::Shutdown => {
                self.control_shutdown(node, sched);
                self.l2_shutdown(node, sched);
            }
            Action::Drain => self.drain(node, sched),
            Action::Partition | Action::Heal => {
                let cut = action == Action::Partition;
                let n = &mut self.nodes[idx];
                if n.isolated == cut || !n.up {
                    return;
                }
                n.isolated = cut;
                if let Ok(dev) = self.topo.find(name) {
                    self.topo.set_device_links_up(dev, !cut);
                }
                self.l2_set_port(node, !cut, now);
                let kind = if cut { "node_partition" } else { "node_heal" };
                self.log.push(
                    now,
                    kind,
                    name,
                    "links=".to_string() + if cut { "down" } else { "up" },
                );
            }
            Action::RestartSpeaker => {
                // The speaker pod's SIGTERM: an orderly stop (BGP: Cease; L2: memberlist
                // Leave), then the new pod's speaker after `restart_after`.
                self.control_shutdown(node, sched);
                self.l2_shutdown(node, sched);
                sched.schedule_in(ev.restart_after(), Ev::SpeakerStart(node));
            }
            Action::NeighborShutdown => {
                self.control_neighbor_shutdown(node, sched);
                if let Some(after) = ev.restart_after {
                    sched.schedule_in(after, Ev::NeighborStart(node));
                }
            }
            Action::KillSpeaker => {
                self.control_kill(node, sched);
                if let Some(after) = ev.restart_after {
                    sched.schedule_in(after, Ev::SpeakerStart(node));
                }
            }
            Action::HangSpeaker => {
                let all = ev.daemons.unwrap_or(crate::scenario::Daemons::All)
                    == crate::scenario::Daemons::All;
                self.control_hang(node, all, sched);
            }
            Action::ResumeSpeaker => self.control_resume(node, sched),
            Action::Blackout | Action::DnsWeights => {}
            Action::Withdraw => self.change_route(node, false, sched),
            Action::Announce => self.change_route(node, true, sched),
            Action::Crash => {
                let n = &mut self.nodes[idx];
                if !n.up {
                    return;
                }
                n.up = false;
                n.epoch = n.epoch.wrapping_add(1);
                let epoch = n.epoch;
                let dev = self.topo.find(name).ok();
                if let Some(dev) = dev {
                    self.topo.set_device_links_up(dev, false);
                }
                for pod in self.pods.iter_mut().filter(|p| p.node == node) {
                    pod.crash();
                }
                self.log.push(
                    now,
                    "node_crash",
                    name,
                    "nic=down conntrack=lost pods=stopped",
                );
                sched.schedule_in(
                    self.endpoint_removal_delay,
                    Ev::EndpointRemoval(node, epoch),
                );
                self.control_crash(node);
                self.bulk_node_up(node, false, now);
                self.l2_crash(node, sched);
            }
            Action::Recover => {
                let n = &mut self.nodes[idx];
                if n.up {
                    return;
                }
                n.up = true;
                n.epoch = n.epoch.wrapping_add(1);
                n.cores.reset();
                if let Ok(dev) = self.topo.find(name) {
                    self.topo.set_device_links_up(dev, true);
                }
                for pod in self.pods.iter_mut().filter(|p| p.node == node) {
                    pod.restart(now);
                }
                self.endpoints_changed();
                self.log.push(
                    now,
                    "node_recover",
                    name,
                    "nic=up conntrack=empty pods=ready",
                );
                self.control_recover(node, sched);
                self.bulk_node_up(node, true, now);
                self.l2_recover(node, sched);
                self.l2_endpoints_changed(sched);
            }
        }
    }

    /// The mitigations table's `change_at`, before the trigger acts: every service's live
    /// connections and books, so the table counts what the change did after it.
    pub(super) fn keep_books(&mut self) {
        let mut live = vec![0u64; self.svcs.len()];
        for k in self.conns.keys() {
            if let Some(c) = self.conns.get(k) {
                if c.conntrack().is_some() && !c.broken && c.flow.proto == 6 {
                    live[c.service as usize] += 1;
                }
            }
        }
        for (svc, live) in self.svcs.iter_mut().zip(live) {
            svc.at_change = Some(super::service::AtChange {
                live,
                counts: svc.counts.clone(),
                conns_broken: svc.conns_broken,
            });
        }
    }

    /// Some pod's readiness changed: every service's endpoints list again (rare: a drain, an
    /// endpoint removal after a crash, a recovery).
    pub(super) fn endpoints_changed(&mut self) {
        for svc in &mut self.svcs {
            svc.endpoints.refresh(&self.pods[svc.pod_range()]);
        }
    }

    /// Withdraw or announce `node`'s route for every service it is selected for, as a scripted
    /// `withdraw` or `announce` without a BGP control plane does, and re-evaluate the
    /// established connections of every service whose group changed.
    pub fn change_route(&mut self, node: u16, announce: bool, sched: &mut Scheduler<Ev>) {
        let nh = NextHop::from(node);
        let (change, verb) = if announce {
            (RouteChange::Announce(nh), "announce")
        } else {
            (RouteChange::Withdraw(nh), "withdraw")
        };
        let cause = format!("{verb} {}", self.nodes[usize::from(node)].name);
        for s in 0..self.svcs.len() {
            if self.selected[s][usize::from(node)] {
                self.route_change(s, change, cause.clone(), sched);
            }
        }
    }

    /// Connections open now (established or not).
    pub fn open_connections(&self) -> usize {
        self.conns.len()
    }

    /// `kubectl drain`: the node's pods are evicted (not rescheduled here); the speaker stays.
    pub(super) fn drain(&mut self, node: u16, sched: &mut Scheduler<Ev>) {
        let now = sched.now();
        let mut evicted = 0;
        for pod in self.pods.iter_mut().filter(|p| p.node == node && p.ready) {
            pod.ready = false;
            evicted += 1;
        }
        self.endpoints_changed();
        let name = self.nodes[usize::from(node)].name.clone();
        self.log
            .push(now, "node_drain", name, format!("pods_evicted={evicted}"));
        self.l2_endpoints_changed(sched);
        self.control_endpoints_changed(sched);
    }

    pub(super) fn endpoint_removal(&mut self, node: u16, epoch: u32, sched: &mut Scheduler<Ev>) {
        let now = sched.now();
        let n = &self.nodes[usize::from(node)];
        if n.up || n.epoch != epoch {
            return;
        }
        let mut removed = 0;
        for pod in self.pods.iter_mut().filter(|p| p.node == node && p.ready) {
            pod.ready = false;
            removed += 1;
        }
        let name = n.name.clone();
        self.endpoints_changed();
        self.log
            .push(now, "endpoints_removed", name, format!("pods={removed}"));
        self.l2_endpoints_changed(sched);
    }

    /// Apply a route change through the router's one interface, then re-evaluate every
    /// established connection's path.
    pub(super) fn route_change(
        &mut self,
        s: usize,
        change: RouteChange,
        cause: String,
        sched: &mut Scheduler<Ev>,
    ) {
        let now = sched.now();
        let svc = &mut self.svcs[s];
        let before = svc.route.members().len();
        let (kind, subject) = match change {
            RouteChange::Announce(nh) => ("route_announce", self.nodes[nh as usize].name.clone()),
            RouteChange::Withdraw(nh) => ("route_withdraw", self.nodes[nh as usize].name.clone()),
        };
        let vip = svc.vip;
        self.log
            .push(now, kind, subject, format!("prefix={vip}/32"));
        if !self.svcs[s].route.apply(now, change) {
            self.log.push(
                now,
                "ecmp_unchanged",
                vip.to_string(),
                format!("size={before}"),
            );
            return;
        }
        self.record_change(s, cause, before, sched);
    }

    /// Service `s`'s ECMP group changed: re-evaluate its established connections.
    pub(super) fn record_change(
        &mut self,
        s: usize,
        cause: String,
        before: usize,
        sched: &mut Scheduler<Ev>,
    ) {
        let now = sched.now();
        let after = self.svcs[s].route.members().len();
        let members = self.member_names(s);
        self.log.push(
            now,
            "ecmp_group",
            self.svcs[s].vip.to_string(),
            format!("size={after} members={members}"),
        );
        let route = &self.svcs[s].route;
        let id = self.changes.len() as u32;
        let counts = reevaluate(&mut self.conns, &mut self.conn_rows, s as u32, id, |c| {
            Some(route.peek(c.hash).map(|n| n as u16))
        });
        let cause = self.cause_for(s, cause);
        self.push_change(s, (cause, None), (before, after), counts, now);
        self.arm_ecmp_timer(sched);
    }

    /// L2 mode: a resolver's ARP entry for service `s`'s IP now points at `node`: the
    /// connections it carries to that service move there.
    pub(super) fn record_path_change(
        &mut self,
        s: usize,
        arp: ArpMove,
        node: Option<u16>,
        sched: &mut Scheduler<Ev>,
    ) {
        let now = sched.now();
        // Whose ARP entry this is, per client (few), so the scan below borrows nothing else.
        let carried: Vec<bool> = (0..self.clients.len() as u32)
            .map(|c| self.l2_path_for(c, Some(arp.resolver), node).is_some())
            .collect();
        let id = self.changes.len() as u32;
        let counts = reevaluate(&mut self.conns, &mut self.conn_rows, s as u32, id, |c| {
            carried[c.client as usize].then_some(node)
        });
        let cause = self.cause_for(s, arp.cause());
        let sizes = (1, usize::from(node.is_some()));
        self.push_change(s, (cause, Some(arp)), sizes, counts, now);
    }

    /// Record change `self.changes.len()` of service `s`, which found `live` established
    /// connections and moved `moved` of them.
    fn push_change(
        &mut self,
        s: usize,
        (cause, arp): (String, Option<ArpMove>),
        (before, after): (usize, usize),
        (live, moved): (u64, u64),
        now: SimTime,
    ) {
        let id = self.changes.len() as u32;
        self.log.push(
            now,
            "connections_rehashed",
            self.svcs[s].vip.to_string(),
            format!("change={id} live={live} moved={moved}"),
        );
        self.changes.push(ChangeRecord {
            id,
            service: s as u32,
            time: now,
            cause,
            arp,
            group_before: before,
            group_after: after,
            live,
            moved,
            broken_reset: 0,
            broken_timeout: 0,
        });
    }

    pub(super) fn ecmp_timer(&mut self, sched: &mut Scheduler<Ev>) {
        let now = sched.now();
        let mut migrated = false;
        for s in 0..self.svcs.len() {
            let route = &mut self.svcs[s].route;
            let due = route.next_timeout().is_some_and(|t| t <= now);
            if due && route.on_timeout(now) {
                let size = route.members().len();
                self.record_change(s, "resilient buckets migrated".into(), size, sched);
                migrated = true;
            }
        }
        if !migrated {
            self.arm_ecmp_timer(sched);
        }
    }
}

/// Change `id` re-evaluates service `service`'s established connections in place, one pass
/// over the slab with nothing collected: `path` gives a connection's next hop after the change
/// (`None`: this change does not concern it). Each is unaffected, moved (its fate open until its
/// next packet) or returned home before it sent anything elsewhere; returns (live, moved).
fn reevaluate(
    conns: &mut Slab<Conn>,
    rows: &mut ConnRows,
    service: u32,
    id: u32,
    path: impl Fn(&Conn) -> Option<Option<u16>>,
) -> (u64, u64) {
    let (mut live, mut moved) = (0, 0);
    for (key, conn) in conns.iter_mut() {
        if conn.service != service {
            continue;
        }
        let Some(new) = path(conn) else {
            continue;
        };
        let Some((home, _)) = conn.conntrack() else {
            continue;
        };
        if conn.broken {
            continue;
        }
        live += 1;
        let old = conn.path_node();
        let fate = if old == new {
            "unaffected"
        } else if new == Some(home) {
            // Sent home before it sent anything elsewhere: no harm done.
            rows.settle(conn, "returned");
            conn.set_moved_by(None);
            "returned"
        } else {
            if conn.moved_by().is_none() {
                conn.set_moved_by(Some(id));
            }
            conn::OPEN
        };
        if old != new {
            moved += 1;
        }
        conn.set_path_node(new);
        let row = ConnRow {
            conn: key.slot(),
            client: conn.client,
            flow: conn.flow,
            opened_at: conn.opened_at,
            change: id,
            node_before: old,
            node_after: new,
            fate,
        };
        rows.push(conn, row);
    }
    (live, moved)
}
