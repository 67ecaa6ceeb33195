#!/usr/bin/env python3
"""Headline figures of a reallab profile, each with the evidence it came from (stdlib only).

usage: summarize.py PROFILE_DIR   (prints a table; writes PROFILE_DIR/summary.csv)

This is reallab's own reading, for people and for cross-checking `sim profile`/`sim compare`;
the profile's raw files (docs/profile.md) are the data. Figures:
  failover_fib_s   fault -> the router's kernel route for the VIP loses the node (router_monitor.log)
  restore_fib_s    return -> the route has the node again
  ping_gap_s       longest gap between two answered pings around the fault (seed's ping log)
  hold_phase_s     crash - the node's last BGP message seen by the router (control.pcap)
  hold_after_last_s  FIB removal - that last message (hold time + the FIB delay)
  session_down_fib_s the router's NOTIFICATION (hold expiry) or BFD Down -> FIB removal
  resets_fraction  connections open at a route change that failed at their next request
  rps              wrk Requests/sec; garp_to_restore_s: GARP -> first answered 5 ms probe
"""
import csv
import datetime as dt
import json
import os
import re
import statistics
import struct
import sys

D = sys.argv[1]
P = lambda f: os.path.join(D, f)  # noqa: E731
rows = []  # metric, trial, value, unit, fault_time, evidence


def add(metric, trial, value, unit, t, evidence):
    rows.append([metric, trial, "" if value is None else f"{value:.6g}", unit, f"{t:.6f}" if t else "", evidence])


def load_json(f):
    try:
        return json.load(open(P(f)))
    except (OSError, ValueError):
        return None


lab = load_json("lab.json") or {}
nodes_ip = {n["ip"]: n["name"] for n in lab.get("nodes", [])}
vip = lab.get("vip_bgp", "198.18.1.250")
l2vip = lab.get("vip_l2", "198.18.1.240")
hold = (lab.get("bgp") or {}).get("hold_s", 9)

faults = []
if os.path.exists(P("faults.csv")):
    for r in csv.DictReader(open(P("faults.csv"))):
        faults.append((float(r["time"]), r["kind"], r["node"], r.get("detail") or ""))


# --- the router's FIB: VIP route changes ------------------------------------------------------------
def ts(s):
    return dt.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%f").replace(tzinfo=dt.timezone.utc).timestamp()


routes = []  # (t, frozenset(node names))
neigh = []  # (t, ip, lladdr, state)
if os.path.exists(P("router_monitor.log")):
    cur = None
    for line in open(P("router_monitor.log")):
        m = re.match(r"\[(\S+)\] (.*)", line)
        if m:
            if cur:
                routes.append((cur[0], frozenset(cur[1])))
                cur = None
            t, rest = ts(m.group(1)), m.group(2)
            if rest.startswith(vip + " ") or rest.startswith("Deleted " + vip + " "):
                hops = set()
                if not rest.startswith("Deleted"):
                    hops = {nodes_ip.get(g, g) for g in re.findall(r"via (\S+)", rest)}
                cur = (t, hops)
            nm = re.match(r"(Deleted )?(\S+) dev \S+ (lladdr (\S+) )?(\S+)", rest)
            if nm and not cur and nm.group(2).count(".") == 3:
                neigh.append((t, nm.group(2), nm.group(4) or "", ("deleted " if nm.group(1) else "") + nm.group(5)))
        elif cur and "nexthop via" in line:
            g = line.split("via")[1].split()[0]
            cur[1].add(nodes_ip.get(g, g))
    if cur:
        routes.append((cur[0], frozenset(cur[1])))


def fib_change(node, t0, present, limit=60.0):
    for t, hops in routes:
        if t0 <= t <= t0 + limit and ((node in hops) == present):
            return t
    return None


# --- pings ------------------------------------------------------------------------------------------
def ping_replies(f, dash_d=False):
    out = []
    if not os.path.exists(P(f)):
        return out
    for line in open(P(f), errors="replace"):
        if "bytes from" not in line:
            continue
        if dash_d:
            m = re.match(r"\[(\d+\.\d+)\]", line)
        else:
            m = re.match(r"(\d+\.\d+) ", line)
        if m:
            out.append(float(m.group(1)))
    return out


def longest_gap(times, t0, t1):
    ts_ = [t for t in times if t0 <= t <= t1]
    best = (0.0, None)
    for a, b in zip(ts_, ts_[1:]):
        if b - a > best[0]:
            best = (b - a, a)
    return best


bgp_ping = ping_replies("bgp_failover_results.txt")
l2_probe = ping_replies("l2_probe.txt", dash_d=True)


# --- control.pcap: BGP messages and BFD states ------------------------------------------------------
def pcap_packets(f):
    try:
        b = open(P(f), "rb").read()
    except OSError:
        return
    if len(b) < 24:
        return
    magic = struct.unpack("<I", b[:4])[0]
    end = "<" if magic in (0xA1B2C3D4, 0xA1B23C4D) else ">"
    nano = magic in (0xA1B23C4D, 0x4D3CB2A1)
    off = 24
    while off + 16 <= len(b):
        sec, frac, incl, _ = struct.unpack(end + "IIII", b[off:off + 16])
        data = b[off + 16:off + 16 + incl]
        off += 16 + incl
        yield sec + frac / (1e9 if nano else 1e6), data


garps = []  # (t, sender mac) of ARP frames with sender IP = target IP = the L2 VIP
bgp_msgs = []  # (t, src, dst, type)
bfd_pkts = []  # (t, src, dst, state)
for t, pkt in pcap_packets("control.pcap"):
    if len(pkt) >= 42 and pkt[12:14] == b"\x08\x06":
        a = pkt[14:]
        sip, tip = ".".join(map(str, a[14:18])), ".".join(map(str, a[24:28]))
        if sip == tip == l2vip:
            garps.append((t, a[8:14].hex(":")))
        continue
    if len(pkt) < 34 or pkt[12:14] != b"\x08\x00":
        continue
    ip = pkt[14:]
    ihl = (ip[0] & 15) * 4
    proto = ip[9]
    src = ".".join(map(str, ip[12:16]))
    dst = ".".join(map(str, ip[16:20]))
    l4 = ip[ihl:]
    if proto == 6 and len(l4) >= 20:
        sport, dport = struct.unpack("!HH", l4[:4])
        if 179 not in (sport, dport):
            continue
        pay = l4[(l4[12] >> 4) * 4:]
        k = 0
        while k + 19 <= len(pay) and pay[k:k + 16] == b"\xff" * 16:
            ln = struct.unpack("!H", pay[k + 16:k + 18])[0]
            bgp_msgs.append((t, src, dst, pay[k + 18]))
            k += max(ln, 19)
    elif proto == 17 and len(l4) >= 10:
        dport = struct.unpack("!H", l4[2:4])[0]
        if dport == 3784:
            bfd_pkts.append((t, src, dst, l4[8 + 1] >> 6))  # 0 AdminDown 1 Down 2 Init 3 Up


# --- frr_router.log: %ADJCHANGE lines (bgp log-neighbor-changes) ---------------------------------------
adj_down = []  # (t, neighbor ip, reason)
if os.path.exists(P("frr_router.log")):
    for line in open(P("frr_router.log"), errors="replace"):
        m = re.match(r"(\d{4})/(\d\d)/(\d\d) (\d\d:\d\d:\d\d\.\d+) .*ADJCHANGE: neighbor (\S+).* Down (.*)", line)
        if m:
            t = ts(f"{m.group(1)}-{m.group(2)}-{m.group(3)}T{m.group(4)}")
            adj_down.append((t, m.group(5), m.group(6).strip()))

# --- connections ----------------------------------------------------------------------------------------
conns = []
if os.path.exists(P("connections.csv")):
    conns = list(csv.DictReader(open(P("connections.csv"))))
FAILED = {"reset", "timeout", "eof", "error"}  # `closed` (a refresh) is not a failure
EVENT_KINDS = {"crash", "restore", "graceful_stop", "graceful_start", "bgpd_kill", "bgpd_start",
               "hang", "resume", "bfd_on", "bfd_off", "blackout", "conns_refresh"}


def conn_effect(i, own=None):
    """Connections open at fault i whose failed request was sent between this fault (less
    0.5 s: a request in flight) and the next fault, or the next route change after the fault's
    own (`own`): a failure after a later change belongs to that change."""
    t0 = faults[i][0]
    t1 = next((f[0] for f in faults[i + 1:] if f[1] in EVENT_KINDS or f[1] == "conns_closed"), t0 + 60)
    later = [t for t, _ in routes if t > (own or t0) + 0.001]
    if later:
        t1 = min(t1, later[0])
    open_at, failed, on_node = 0, 0, 0
    for c in conns:
        if not c["opened_t"] or not c["sport"]:
            continue
        opened = float(c["opened_t"])
        ended = float(c["fate_t"]) if c["fate_t"] else float("inf")
        if opened < t0 < ended:
            open_at += 1
            # stall_t: the failed request's send time; one in flight at the fault counts too.
            if c["fate"] in FAILED and c["stall_t"] and t0 - 0.5 <= float(c["stall_t"]) < t1:
                failed += 1
                on_node += c["nodes_seen"].split(">")[-1] == faults[i][2]
    return open_at, failed, on_node


def label(kind, detail):
    if kind == "crash":
        return "crash_hold" if detail.startswith("hold") else ("crash_l2" if "l2" in detail else "crash_bfd")
    if kind == "hang":
        return "hang_bgpd" if detail.strip() == "SIGSTOP bgpd" else "hang_all_frr"
    return kind


DOWN = {"crash", "graceful_stop", "bgpd_kill", "hang"}
UP = {"restore", "graceful_start", "bgpd_start", "resume"}
for i, (t, kind, node, detail) in enumerate(faults):
    lab_ = label(kind, detail)
    if kind in DOWN and lab_ != "crash_l2":
        tf = fib_change(node, t, False)
        add("failover_fib_s", lab_, tf - t if tf else None, "s", t, "faults.csv -> router_monitor.log")
        gap, at = longest_gap(bgp_ping, t - 0.5, (tf or t) + 2)
        if gap > 0.25:
            add("ping_gap_s", lab_, gap, "s", t, "bgp_failover_results.txt")
        ip = next((k for k, v in nodes_ip.items() if v == node), None)
        last = [m for m in bgp_msgs if m[1] == ip and m[0] <= t]
        if last and lab_ in ("crash_hold", "hang_bgpd"):
            tl = last[-1][0]
            add("hold_phase_s", lab_, t - tl, "s", t, "control.pcap: last BGP message from the node")
            if tf:
                add("hold_after_last_s", lab_, tf - tl, "s", t, "control.pcap -> router_monitor.log")
        if tf:
            downs = [m[0] for m in bgp_msgs if m[1] == "198.18.1.1" and m[2] == ip and m[3] == 3 and t <= m[0] <= tf]
            bfd = [b[0] for b in bfd_pkts if b[1] == "198.18.1.1" and b[2] == ip and b[3] == 1 and t <= b[0] <= tf]
            adj = [a for a in adj_down if a[1] == ip and t <= a[0] <= tf]
            if adj:
                add("session_down_fib_s", lab_, tf - adj[0][0], "s", t,
                    f"frr_router.log ADJCHANGE Down ({adj[0][2]}) -> router_monitor.log")
            elif downs + bfd:
                add("session_down_fib_s", lab_, tf - min(downs + bfd), "s", t,
                    "control.pcap (router's NOTIFICATION or BFD Down) -> router_monitor.log")
    if kind in UP and lab_ != "restore" or (kind == "restore" and "l2" not in detail):
        tf = fib_change(node, t, True)
        add("restore_fib_s", lab_, tf - t if tf else None, "s", t, "faults.csv -> router_monitor.log")
    if conns and kind in DOWN | UP and lab_ != "crash_l2" and "l2" not in detail:
        o, f, on = conn_effect(i, fib_change(node, t, kind in UP))
        if o:
            add("resets_fraction", lab_, f / o, "", t, f"connections.csv: {f} of {o} open failed ({on} were on {node})")
    if conns and kind == "blackout":
        o, f, on = conn_effect(i)
        if o:
            rh = detail.split("txrehash=")[-1][:1]
            add("resets_fraction", f"blackout_txrehash{rh}", f / o, "", t,
                f"connections.csv: {f} of {o} open failed after a 1.5 s blackout (no route change)")
    if kind == "garp" and "new leader" in detail:
        # The GARP's time on the router's wire (control.pcap) when captured; else garp.py's clock.
        g = [x[0] for x in garps if abs(x[0] - t) < 0.5]
        t = min(g) if g else t
        after = [x for x in l2_probe if x >= t]
        before = [x for x in l2_probe if x < t]
        if after:
            add("garp_to_restore_s", detail.split("arp_accept=")[-1][:1], after[0] - t, "s", t,
                "control.pcap GARP -> first answered probe in l2_probe.txt (ping -D -i 0.005: resolution one interval)")
        if before and after:
            add("l2_probe_gap_s", detail.split("arp_accept=")[-1][:1], after[0] - before[-1], "s", t, "l2_probe.txt")
        # The router may apply the GARP before garp.py reads the clock after sending it.
        nn = [n for n in neigh if n[1] == l2vip and n[0] >= t - 0.01]
        if nn:
            add("garp_to_neigh_update_s", detail.split("arp_accept=")[-1][:1], nn[0][0] - t, "s", t,
                f"router_monitor.log: {nn[0][2]} {nn[0][3]}")

# --- load --------------------------------------------------------------------------------------------------
for mode in ("l2", "bgp"):
    f = P(f"{mode}_wrk_results.txt")
    if os.path.exists(f):
        s = open(f).read()
        m = re.search(r"Requests/sec:\s+([\d.]+)", s)
        if m:
            add("rps", mode, float(m.group(1)), "1/s", None, f"{mode}_wrk_results.txt")
    j = load_json(f"{mode}_throughput.json")
    if j and "end" in j:
        add("gbit_s", mode, j["end"]["sum_received"]["bits_per_second"] / 1e9, "Gbit/s", None, f"{mode}_throughput.json")
    j = load_json(f"{mode}_latency.json")
    if j and "end" in j:
        add("tcp_mean_rtt_ms", mode, j["end"]["streams"][0]["sender"]["mean_rtt"] / 1000, "ms", None, f"{mode}_latency.json")
    f = P(f"{mode}_lowload_latency.csv")
    if os.path.exists(f):
        lat = sorted(float(r["latency_s"]) for r in csv.DictReader(open(f)))
        if lat:
            add("lowload_p50_ms", mode, 1000 * lat[len(lat) // 2], "ms", None, f"{mode}_lowload_latency.csv")
            add("lowload_p99_ms", mode, 1000 * lat[int(len(lat) * 0.99)], "ms", None, f"{mode}_lowload_latency.csv")

with open(P("summary.csv"), "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["metric", "trial", "value", "unit", "fault_time", "evidence"])
    w.writerows(rows)

by = {}
for r in rows:
    if r[2]:
        by.setdefault((r[0], r[1]), []).append(float(r[2]))
print(f"{'metric':<24} {'trial':<16} {'n':>3} {'min':>10} {'median':>10} {'max':>10}")
for (m, t), v in sorted(by.items()):
    print(f"{m:<24} {t:<16} {len(v):>3} {min(v):>10.4g} {statistics.median(v):>10.4g} {max(v):>10.4g}")
