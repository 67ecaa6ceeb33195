#!/usr/bin/env python3
"""Issue 10 part 6: does the forwarding router hash the flow keys, as `ip route get` does?

For each connection open while all next hops were up (connclient.py --snapshot), ask the
router's kernel `ip route get VIP from SRC iif eth0 ipproto tcp sport S dport P` (an input
route lookup: fib_multipath_hash() on a synthetic skb, i.e. on the flow keys) and compare the
next hop with the ingress node the connection's answers named. Writes hashcheck.csv and
prints `agree total`.

usage: hashcheck.py NETNS|- SNAPSHOT.csv OUT.csv   (`-`: this host's own routing table, e.g.
on a real router; the client-facing interface must then be eth0 or given as IIF=<if> in the
environment)
"""
import os
import csv
import subprocess
import sys

ns, snap, out = sys.argv[1], sys.argv[2], sys.argv[3]
rows = list(csv.DictReader(open(snap)))
cmds = "".join(
    f"route get {r['dst']} from {r['src']} iif {os.environ.get('IIF', 'eth0')} ipproto tcp sport {r['sport']} dport {r['dport']}\n"
    for r in rows
)
res = subprocess.run(["ip"] + ([] if ns == "-" else ["-n", ns]) + ["-batch", "-"], input=cmds, capture_output=True, text=True, timeout=60)
lines = [l for l in res.stdout.splitlines() if " via " in l]
if len(lines) != len(rows):
    sys.exit(f"hashcheck.py: {len(rows)} lookups, {len(lines)} answers: {res.stderr[:200]}")
agree = 0
with open(out, "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["conn_id", "src", "sport", "dst", "dport", "node_observed", "node_route_get", "agree"])
    for r, l in zip(rows, lines):
        gw = l.split(" via ")[1].split()[0]
        node = f"node-{int(gw.split('.')[3]) - 10}"
        first = r["nodes_seen"].split(">")[0]
        ok = node == first
        agree += ok
        w.writerow([r["conn_id"], r["src"], r["sport"], r["dst"], r["dport"], first, node, int(ok)])
print(agree, len(rows))
