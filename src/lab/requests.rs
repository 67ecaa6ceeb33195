//! A request's life at its client: a connection (new or pooled), the request on the wire
//! with its deadline, its end (answered, failed or timed out) and what the client does next.

use super::*;

impl Lab {
    /// Issue one request from client `c`, due at `start`.
    pub(super) fn send_request(
        &mut self,
        c: u32,
        start: SimTime,
        user: u32,
        sched: &mut Scheduler<Ev>,
    ) {
        self.send_attempt(c, start, user, 0, sched);
    }

    /// Issue attempt `attempt` (0: the first) of a request of client `c` due at `start`.
    pub(super) fn send_attempt(
        &mut self,
        c: u32,
        start: SimTime,
        user: u32,
        attempt: u8,
        sched: &mut Scheduler<Ev>,
    ) {
        let now = sched.now();
        let conn = match self.clients[c as usize].pool {
            Pool::PerRequest => self.open_conn(c, now),
            Pool::Elastic => {
                let client = &mut self.clients[c as usize];
                if let Some(k) = client.idle.pop_front() {
                    k
                } else {
                    client.open_conns += 1;
                    self.open_conn(c, now)
                }
            }
            Pool::Fixed(pool) => {
                // The pool fills first (fortio's -c opens every connection), then the least
                // recently used idle connection carries the request.
                let client = &mut self.clients[c as usize];
                if client.open_conns < pool {
                    client.open_conns += 1;
                    self.open_conn(c, now)
                } else if let Some(k) = client.idle.pop_front() {
                    k
                } else {
                    client.backlog.push_back((start, attempt));
                    return;
                }
            }
        };
        if self.clients[c as usize].is_probe() {
            self.probe_counts.sent += 1;
        } else {
            self.counts.started += 1;
            let s = self.service_of(conn, c);
            self.svcs[s].counts.started += 1;
            if attempt > 0 {
                self.counts.retries += 1;
            }
        }
        self.series.sent(self.clients[c as usize].group, now);
        if self.reqs.len() >= MAX_LIVE_REQUESTS {
            self.limit_hit = Some(("live requests", MAX_LIVE_REQUESTS as u64));
        }
        let client = &mut self.clients[c as usize];
        let seq = client.next_seq;
        client.next_seq += 1;
        if let Some(log) = &mut client.ping_log {
            log.push(crate::tools::PingProbe {
                seq: seq + 1,
                sent: now,
                reply: None,
            });
        }
        let req = self.reqs.insert(Req {
            client: c,
            conn,
            start,
            ingress: 0,
            pod_epoch: 0,
            user,
            seq,
            sent: now,
            retransmits: 0,
            attempt,
        });
        let client = &mut self.clients[c as usize];
        let deadline = now + client.timeout;
        client.deadlines.push_back((deadline, req));
        arm_timeout(client, c, deadline, sched);
        let (uplink, bytes) = (client.uplink, client.request_bytes);
        if let Some(at) = self.topo.link_mut(uplink).transmit(now, bytes) {
            let _ = sched.schedule_at(at, Ev::AtRouter(req));
        }
    }

    pub(super) fn open_conn(&mut self, c: u32, now: SimTime) -> Key {
        let service = self.resolve(c, now);
        let client = &mut self.clients[c as usize];
        let svc = &self.svcs[service as usize];
        let flow = if matches!(client.load, Load::Ping { .. }) {
            // ICMP echo: no ports for the multipath hash (the flow dissector fills ports only
            // for port-carrying protocols), so one ping source always takes one path.
            FlowKey {
                src: client.ip,
                dst: svc.vip,
                proto: 1,
                sport: 0,
                dport: 0,
            }
        } else {
            FlowKey {
                src: client.ip,
                dst: svc.vip,
                proto: 6,
                sport: client.take_port(),
                dport: svc.port,
            }
        };
        let txhash = self.ecmp().uses_txhash().then(|| self.draw_txhash());
        let hash = self.ecmp().forwarded_hash(&flow, txhash);
        if flow.proto == 6 {
            self.counts.connections += 1;
            self.dns_conn(c, service, true, now);
        }
        self.conns.insert(Conn::new(c, service, flow, hash, now))
    }

    /// Close a connection; its pending connections.csv rows take `fate`.
    pub(super) fn close_conn(&mut self, key: Key, fate: &'static str, now: SimTime) {
        let Some(mut conn) = self.conns.remove(key) else {
            return;
        };
        if conn.flow.proto == 6 {
            self.dns_conn(conn.client, conn.service, false, now);
        }
        self.conn_uses.remove(&key);
        self.conn_rows.settle(&mut conn, fate);
        if let Some(p) = conn.pod() {
            let pod = &mut self.pods[p as usize];
            pod.active_conns = pod.active_conns.saturating_sub(1);
        }
        let client = &mut self.clients[conn.client as usize];
        if client.pool != Pool::PerRequest {
            client.open_conns = client.open_conns.saturating_sub(1);
        }
    }

    /// A request ended (answered, failed or timed out): free its connection for what's next.
    pub(super) fn finish(
        &mut self,
        req: Req,
        outcome: Result<(), ErrorKind>,
        sched: &mut Scheduler<Ev>,
    ) {
        let now = sched.now();
        // Forget the finished requests at the front of the client's deadlines (this one is out
        // of `reqs` already): the timeout check would only skip them, and requests finish
        // nearly in send order, so the queue holds about what is outstanding, not a whole
        // timeout's worth of sends.
        let deadlines = &mut self.clients[req.client as usize].deadlines;
        while deadlines
            .front()
            .is_some_and(|&(_, k)| self.reqs.get(k).is_none())
        {
            deadlines.pop_front();
        }
        self.record_tool(&req, outcome, now);
        let probes = &mut self.clients[req.client as usize].probes;
        match outcome {
            Ok(()) => {
                probes.answered(req.start);
                self.l2_confirm(req.client, sched);
            }
            Err(_) => probes.lost(),
        }
        if self.clients[req.client as usize].is_probe() {
            // Probes have their own books, apart from requests' counts, errors and latency.
            match outcome {
                Ok(()) => self.probe_counts.answered += 1,
                Err(_) => self.probe_counts.lost += 1,
            }
        } else {
            self.count_request(outcome, now - req.start);
            let s = self.service_of(req.conn, req.client);
            self.svcs[s].count(outcome, now - req.start);
            if outcome.is_err() {
                self.dns_failed(req.client, s as u32);
            }
        }
        // Requests and probes alike, in their own group's series.
        let group = self.clients[req.client as usize].group;
        match outcome {
            Ok(()) => self
                .series
                .answered(group, req.ingress, now, now - req.start),
            Err(kind) => self.series.failed(group, kind, now),
        }
        if outcome.is_err() {
            self.maybe_retry(&req, sched);
        }
        self.after_request(req, outcome, sched);
    }

    /// A request of a client with a retry policy failed: queue it again after its backoff if
    /// it has attempts left and the client's budget allows one more retry.
    fn maybe_retry(&mut self, req: &Req, sched: &mut Scheduler<Ev>) {
        let now = sched.now();
        let client = &mut self.clients[req.client as usize];
        let Some(retry) = &mut client.retry else {
            return;
        };
        let (spec, budget) = &mut **retry;
        if req.attempt >= spec.attempts {
            return;
        }
        if !budget.try_withdraw(now) {
            self.counts.retries_refused += 1;
            return;
        }
        let due = now + budget.backoff(req.attempt + 1);
        client.retries += 1;
        self.counts.retried += 1;
        let s = self
            .conns
            .get(req.conn)
            .map_or(client.service, |k| k.service);
        self.svcs[s as usize].counts.retried += 1;
        client.retry_queue.push((due, req.start, req.attempt + 1));
        let _ = sched.schedule_at(due, Ev::Retry(req.client));
    }

    /// Send client `c`'s retries whose backoff is over, in the order they became due.
    pub(super) fn send_retries(&mut self, c: u32, sched: &mut Scheduler<Ev>) {
        let now = sched.now();
        let queue = &mut self.clients[c as usize].retry_queue;
        let mut due: Vec<(SimTime, SimTime, u8)> = Vec::new();
        queue.retain(|&e| {
            let ready = e.0 <= now;
            if ready {
                due.push(e);
            }
            !ready
        });
        due.sort_by_key(|e| e.0);
        for (_, start, attempt) in due {
            self.send_attempt(c, start, NO_USER, attempt, sched);
        }
    }

    /// Count a finished request in the totals: answered (with its latency) or failed.
    pub(super) fn count_request(&mut self, outcome: Result<(), ErrorKind>, lat: SimDuration) {
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

    /// What a client does once a request ended: reuse or close its connection, send the next.
    pub(super) fn after_request(
        &mut self,
        req: Req,
        outcome: Result<(), ErrorKind>,
        sched: &mut Scheduler<Ev>,
    ) {
        let now = sched.now();
        let c = req.client;
        let keep_alive = self.clients[c as usize].pool != Pool::PerRequest;
        // A proxy's 502/504 comes on a connection that stays open, like an answer.
        let answered = matches!(outcome, Ok(()) | Err(ErrorKind::Gateway { .. }));
        let limit = keep_alive && answered && self.conn_limit_reached(c, req.conn, now);
        match (outcome, keep_alive) {
            _ if limit => {
                // Its connection_limit: closed after this request; whoever waits gets a new
                // one (resolving the service again).
                self.close_conn(req.conn, "closed", now);
                let client = &mut self.clients[c as usize];
                if let Some((start, attempt)) = client.backlog.pop_front() {
                    self.send_attempt(c, start, NO_USER, attempt, sched);
                }
            }
            (Ok(()) | Err(ErrorKind::Gateway { .. }), true) => {
                let client = &mut self.clients[c as usize];
                if let Some((start, attempt)) = client.backlog.pop_front() {
                    // The freed connection carries the oldest waiting request; put it back first.
                    client.idle.push_front(req.conn);
                    self.send_attempt(c, start, NO_USER, attempt, sched);
                } else if client.online {
                    client.idle.push_back(req.conn);
                } else {
                    // Its user went offline while this request was out: the last one closes.
                    self.close_conn(req.conn, "closed", now);
                }
            }
            (Ok(()) | Err(ErrorKind::Gateway { .. }), false) => {
                self.close_conn(req.conn, "closed", now)
            }
            (Err(kind), _) => {
                let fate = match kind {
                    ErrorKind::Reset => "reset",
                    ErrorKind::Timeout => "timeout",
                    ErrorKind::Refused => "refused",
                    ErrorKind::Gateway { .. } => "closed",
                };
                if !self.clients[c as usize].is_probe() {
                    let s = self.service_of(req.conn, c);
                    self.svcs[s].conns_broken += 1;
                }
                self.close_conn(req.conn, fate, now);
                // A keep-alive client replaces the connection for whoever waits.
                let client = &mut self.clients[c as usize];
                if keep_alive {
                    if let Some((start, attempt)) = client.backlog.pop_front() {
                        self.send_attempt(c, start, NO_USER, attempt, sched);
                    }
                }
            }
        }
        let client = &mut self.clients[c as usize];
        if req.user != NO_USER && now < client.stop {
            let u = req.user;
            match client.load {
                Load::ClosedLoop { think_time, .. } if think_time > SimDuration::ZERO => {
                    sched.schedule_in(think_time, Ev::UserSend(c, u));
                }
                // fortio: the next slot of this connection, or at once if behind (catch-up).
                Load::Fortio { .. } => {
                    let gap = client.slot_gap;
                    let slot = &mut client.slots[u as usize];
                    *slot += gap;
                    if *slot > now {
                        let _ = sched.schedule_at(*slot, Ev::UserSend(c, u));
                    } else {
                        self.send_request(c, now, u, sched);
                    }
                }
                _ => self.send_request(c, now, u, sched),
            }
        }
    }

    /// Client `c`'s user goes online or offline (`clients[i].profile`): offline, it closes
    /// its idle keep-alive connections (busy ones close when their request ends) and its
    /// arrivals stop; online, its arrivals resume and its pool fills again as it sends.
    pub(super) fn set_online(&mut self, c: u32, on: bool, sched: &mut Scheduler<Ev>) {
        let now = sched.now();
        let client = &mut self.clients[c as usize];
        client.online = on;
        if on {
            if !client.arriving && now < client.stop {
                client.arriving = true;
                let gap = client.next_gap();
                sched.schedule_in(gap, Ev::Arrival(c));
            }
            return;
        }
        let idle = std::mem::take(&mut client.idle);
        for key in idle {
            self.close_conn(key, "closed", now);
        }
    }

    pub(super) fn timeout_check(&mut self, c: u32, sched: &mut Scheduler<Ev>) {
        let now = sched.now();
        let client = &mut self.clients[c as usize];
        if client.timeout_at != Some(now) {
            return; // superseded by an earlier check that has already run
        }
        client.timeout_at = None;
        while let Some(&(deadline, key)) = self.clients[c as usize].deadlines.front() {
            if self.reqs.get(key).is_none() {
                self.clients[c as usize].deadlines.pop_front();
                continue;
            }
            if deadline > now {
                arm_timeout(&mut self.clients[c as usize], c, deadline, sched);
                break;
            }
            self.clients[c as usize].deadlines.pop_front();
            if let Some(req) = self.reqs.remove(key) {
                self.finish(req, Err(ErrorKind::Timeout), sched);
            }
        }
    }
}
