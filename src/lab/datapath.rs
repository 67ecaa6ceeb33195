//! The data path: router (ECMP next hop, or the L2 segment) -> node (kube-proxy, conntrack,
//! cores) -> pod -> back to the client; packets lost on the way and TCP's retransmissions.

use super::*;

impl Lab {
    pub(super) fn at_router(&mut self, key: Key, sched: &mut Scheduler<Ev>) {
        let now = sched.now();
        let Some(req) = self.reqs.get(key) else {
            return;
        };
        let Some(conn) = self.conns.get_mut(req.conn) else {
            return;
        };
        let c = req.client as usize;
        if let Some(node) = self.clients[c].in_cluster {
            // kube-proxy on the client's own node intercepts the LoadBalancer IP (KUBE-SERVICES
            // matches it in OUTPUT): no router, no ECMP, no ARP.
            conn.set_path_node(Some(node));
            if let Some(req) = self.reqs.get_mut(key) {
                req.ingress = node;
            }
            self.count_ingress(node, c, now);
            let _ = sched.schedule_at(now, Ev::AtNode(key));
            return;
        }
        if now < self.blackout_until {
            // The router drops what the clients send (iptables FORWARD DROP).
            self.lost(key, sched);
            return;
        }
        if self.layer2.is_some() {
            let client = req.client;
            self.l2_route(key, client, sched);
            return;
        }
        let Some(nh) = self.svcs[conn.service as usize]
            .route
            .select(now, conn.hash)
        else {
            // No route: the router answers ICMP unreachable, the client's connect fails at once.
            let bytes = self.clients[c].response_bytes.min(70);
            if let Some(at) = self
                .topo
                .link_mut(self.clients[c].downlink)
                .transmit(now, bytes)
            {
                let _ = sched.schedule_at(at, Ev::AtClient(key, Reply::Refused));
            }
            return;
        };
        let node = nh as u16;
        conn.set_path_node(Some(node));
        self.count_ingress(node, c, now);
        let downlink = self.nodes[usize::from(node)].downlink;
        let bytes = self.clients[c].request_bytes;
        if let Some(req) = self.reqs.get_mut(key) {
            req.ingress = node;
        }
        match self.topo.link_mut(downlink).transmit(now, bytes) {
            Some(at) => {
                let _ = sched.schedule_at(at, Ev::AtNode(key));
            }
            None => self.lost(key, sched),
        }
    }

    /// A request's packet was dropped on the way in. Under `hash_source: SocketTxhash` the
    /// client's TCP retransmits it when its retransmission timer expires: TCP_RTO_MIN 200 ms
    /// (include/net/tcp.h; a LAN's smoothed RTT is far below it) doubling with every
    /// expiry up to TCP_RTO_MAX 120 s (net/ipv4/tcp_timer.c `tcp_retransmit_timer`). Other
    /// sources keep the simpler model: the request is lost and the client's timeout counts it.
    pub(super) fn lost(&mut self, key: Key, sched: &mut Scheduler<Ev>) {
        if !self.ecmp().uses_txhash() {
            return;
        }
        let Some(req) = self.reqs.get(key) else {
            return;
        };
        let tcp = self.conns.get(req.conn).is_some_and(|c| c.flow.proto == 6);
        if !tcp {
            return;
        }
        let rto = TCP_RTO_MIN
            .as_nanos()
            .saturating_mul(1 << req.retransmits.min(20));
        let rto = SimDuration(rto.min(TCP_RTO_MAX.as_nanos()));
        let _ = sched.schedule_at((req.sent + rto).max(sched.now()), Ev::Retransmit(key));
    }

    /// The retransmission timer of a lost request expired: with `net.core.txrehash` 1 the
    /// socket first draws a new `sk_txhash` (`sk_rethink_txhash`, called from
    /// `tcp_write_timeout`), so the router may send the retransmission to another node.
    pub(super) fn retransmit(&mut self, key: Key, sched: &mut Scheduler<Ev>) {
        let now = sched.now();
        let Some(req) = self.reqs.get_mut(key) else {
            return; // answered or timed out meanwhile
        };
        req.retransmits += 1;
        req.sent = now;
        let (c, conn_key, n) = (req.client as usize, req.conn, req.retransmits);
        let redraw = self.ecmp().txrehash();
        if redraw {
            let txhash = self.draw_txhash();
            if let Some(conn) = self.conns.get_mut(conn_key) {
                conn.hash = self.svcs[0].route.forwarded_hash(&conn.flow, Some(txhash));
            }
        }
        let name = self.clients[c].name.clone();
        let detail = format!(
            "retransmission={n} txhash={}",
            if redraw { "redrawn" } else { "kept" }
        );
        self.log.push(now, "tcp_rto", name, detail);
        let (uplink, bytes) = (self.clients[c].uplink, self.clients[c].request_bytes);
        if let Some(at) = self.topo.link_mut(uplink).transmit(now, bytes) {
            let _ = sched.schedule_at(at, Ev::AtRouter(key));
        }
    }

    /// The next socket's random `sk_txhash` (`net_tx_rndhash`), from the run's own stream.
    pub(super) fn draw_txhash(&mut self) -> u32 {
        bgp::ecmp::hash::txhash_from(sim_core::rng::splitmix64(&mut self.txhash_rng))
    }

    pub(super) fn at_node(&mut self, key: Key, sched: &mut Scheduler<Ev>) {
        let now = sched.now();
        let Some(req) = self.reqs.get(key) else {
            return;
        };
        let (ingress, conn_key, c) = (req.ingress, req.conn, req.client as usize);
        let node = &mut self.nodes[usize::from(ingress)];
        if !node.up {
            self.lost(key, sched); // lost with the node
            return;
        }
        let t = node.cpu(now, now, self.packet_cost);
        let epoch = node.epoch;
        if matches!(self.clients[c].load, Load::Ping { .. }) {
            // ICMP echo: the node's kernel answers; no conntrack pinning, no pod.
            self.reply_from_node(key, ingress, t, c, Reply::Response, sched);
            return;
        }
        let Some(conn) = self.conns.get_mut(conn_key) else {
            return;
        };
        let pod = match conn.conntrack() {
            None => {
                // First packet: kube-proxy picks an endpoint, conntrack pins it (DNAT; SNAT too
                // under Cluster policy).
                conn.set_conntrack(ingress, epoch);
                let n = &mut self.nodes[usize::from(ingress)];
                n.conntrack_created += 1;
                // externalTrafficPolicy applies to external traffic; a pod's own traffic to the
                // VIP follows the Cluster rules (any ready endpoint).
                let svc = &self.svcs[conn.service as usize];
                let policy = if self.clients[c].in_cluster.is_some() {
                    TrafficPolicy::Cluster
                } else {
                    svc.policy
                };
                let range = svc.pod_range();
                let offset = svc.pods.start;
                let pods = &self.pods[range];
                match n
                    .kube_proxy
                    .choose_for(conn.service, ingress, policy, pods, &svc.endpoints)
                {
                    Some(p) => {
                        let p = p + offset;
                        conn.set_pod(p);
                        self.pods[p as usize].active_conns += 1;
                        p
                    }
                    None => {
                        match svc.policy {
                            // KUBE-SVC has no endpoints: REJECT, the client sees "connection refused".
                            TrafficPolicy::Cluster => {
                                self.reply_from_node(key, ingress, t, c, Reply::Refused, sched)
                            }
                            // KUBE-XLB without local endpoints drops: the client times out.
                            TrafficPolicy::Local => {}
                        }
                        return;
                    }
                }
            }
            Some((n, e)) if n == ingress && e == epoch => match conn.pod() {
                Some(p) => p,
                None => return,
            },
            Some(_) => {
                // A mid-connection packet at a node with no conntrack entry for it
                // (nf_conntrack_proto_tcp.c, tcp_in_window / nf_conntrack_tcp_loose): picked up
                // and answered with RST by a socket-less endpoint, or dropped.
                conn.broken = true;
                let fate = if self.loose { "reset" } else { "timeout" };
                self.conn_rows.settle(conn, fate);
                if let Some(ch) = conn
                    .moved_by()
                    .and_then(|id| self.changes.get_mut(id as usize))
                {
                    if self.loose {
                        ch.broken_reset += 1;
                    } else {
                        ch.broken_timeout += 1;
                    }
                }
                if self.loose {
                    self.reply_from_node(key, ingress, t, c, Reply::Reset, sched);
                }
                return;
            }
        };
        let pod_node = self.pods[pod as usize].node;
        let arrive = if pod_node == ingress {
            Some(t)
        } else {
            // Cluster policy, remote endpoint: one more hop through the router.
            let path = [
                self.nodes[usize::from(ingress)].uplink,
                self.nodes[usize::from(pod_node)].downlink,
            ];
            self.topo.send(&path, t, self.clients[c].request_bytes)
        };
        match arrive {
            Some(at) if at == now => self.at_pod(key, sched),
            Some(at) => {
                let _ = sched.schedule_at(at, Ev::AtPod(key));
            }
            None => {}
        }
    }

    /// A request of client `c` entered at `node` (the ingress balance); probes do not count.
    pub(super) fn count_ingress(&mut self, node: u16, c: usize, now: SimTime) {
        if !self.clients[c].is_probe() {
            self.nodes[usize::from(node)].ingress_requests += 1;
            self.series.ingress(node, now);
        }
    }

    /// Send a small reply (RST, REJECT) from `node` at `t` back to client `c`.
    pub(super) fn reply_from_node(
        &mut self,
        key: Key,
        node: u16,
        t: SimTime,
        c: usize,
        reply: Reply,
        sched: &mut Scheduler<Ev>,
    ) {
        self.l2_reply_seen(node, c as u32, t);
        let path = [
            self.nodes[usize::from(node)].uplink,
            self.clients[c].downlink,
        ];
        if let Some(at) = self.topo.send(&path, t, 60) {
            let _ = sched.schedule_at(at, Ev::AtClient(key, reply));
        }
    }

    pub(super) fn at_pod(&mut self, key: Key, sched: &mut Scheduler<Ev>) {
        let now = sched.now();
        let Some(req) = self.reqs.get_mut(key) else {
            return;
        };
        let Some((p, s)) = self
            .conns
            .get(req.conn)
            .and_then(|c| c.pod().map(|p| (p, c.service)))
        else {
            return;
        };
        let pod = &mut self.pods[p as usize];
        if !pod.alive {
            return;
        }
        req.pod_epoch = pod.epoch;
        if let Some(x) = self.proxy.as_mut() {
            x.arrive(key, s, now);
        }
        let cores = &mut self.nodes[usize::from(pod.node)].cores;
        let done = pod.serve(now, &self.svcs[s as usize].service_time, cores);
        self.series.served(pod.node, now);
        let _ = sched.schedule_at(done, Ev::PodDone(key));
    }

    pub(super) fn pod_done(&mut self, key: Key, sched: &mut Scheduler<Ev>) {
        let Some(req) = self.reqs.get(key) else {
            return;
        };
        let Some((p, s)) = self
            .conns
            .get(req.conn)
            .and_then(|c| c.pod().map(|p| (p, c.service)))
        else {
            return;
        };
        let pod = &self.pods[p as usize];
        if !pod.alive || pod.epoch != req.pod_epoch {
            return; // the pod died with the request in it
        }
        if self.proxy.as_ref().is_some_and(|x| x.is_tier(s)) {
            // An ingress pod: its processing is done, now the backend (proxy.rs).
            self.proxy_request(key, p, s, sched);
            return;
        }
        let node = pod.node;
        self.respond(key, node, Reply::Response, sched);
    }

    /// A pod on `pod_node` sends `reply` to request `key`: back through the node that took the
    /// request in (it SNATed it) to the client.
    pub(super) fn respond(
        &mut self,
        key: Key,
        pod_node: u16,
        reply: Reply,
        sched: &mut Scheduler<Ev>,
    ) {
        let now = sched.now();
        let Some(req) = self.reqs.get(key) else {
            return;
        };
        let (ingress, c) = (req.ingress, req.client as usize);
        let bytes = match reply {
            Reply::Response => self.clients[c].response_bytes,
            // nginx's own error page: headers and a short body.
            _ => self.clients[c].response_bytes.min(500),
        };
        let mut t = Some(now);
        if pod_node != ingress {
            // Back to the node that SNATed it.
            let path = [
                self.nodes[usize::from(pod_node)].uplink,
                self.nodes[usize::from(ingress)].downlink,
            ];
            t = self.topo.send(&path, now, bytes);
        }
        self.l2_reply_seen(ingress, c as u32, now);
        let node = &mut self.nodes[usize::from(ingress)];
        let Some(t) = t.filter(|_| node.up) else {
            return;
        };
        let t = node.cpu(now, t, self.packet_cost);
        let path = [node.uplink, self.clients[c].downlink];
        if let Some(at) = self.topo.send(&path, t, bytes) {
            let _ = sched.schedule_at(at, Ev::AtClient(key, reply));
        }
    }

    pub(super) fn at_client(&mut self, key: Key, reply: Reply, sched: &mut Scheduler<Ev>) {
        let Some(req) = self.reqs.remove(key) else {
            return;
        };
        let outcome = match reply {
            Reply::Response => Ok(()),
            Reply::Reset => Err(ErrorKind::Reset),
            Reply::Refused => Err(ErrorKind::Refused),
            Reply::Gateway { timeout } => Err(ErrorKind::Gateway { timeout }),
        };
        self.finish(req, outcome, sched);
    }
}
