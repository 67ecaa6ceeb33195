#!/usr/bin/env python3
"""Hold many keep-alive HTTP connections through a VIP and record each one's fate (stdlib only).

Each connection binds to one of the client's source addresses (round robin), opens, then sends
`GET /id` every --interval seconds (each connection at its own phase) and reads the answer,
`pod=<pod ip> peer=<address the pod saw>`, which names the ingress node (see node_of). A
connection that is reset, closed or unanswered for --timeout seconds is recorded and, with
--reconnect, replaced by a new one (a new row), so the pool stays full for the next fault.

Outputs (CSV, times in epoch seconds):
  --out        one row per connection (written at the end, and on SIGTERM/SIGINT)
  --latency-out  one row per answered request (t_sent, latency_s, conn_id)
  --refresh-trigger  a file holding a number; when it grows, every connection is closed (fate
               `closed`) and replaced at once, so the next route change meets a fresh pool
  --snapshot   the same columns for the connections open when the file --snapshot-trigger
               appears (the run script asks for it while all next hops are up)
Bounded: at most --duration seconds, at most --max-conns connections in all.
"""
import argparse
import asyncio
import csv
import ipaddress
import os
import signal
import socket
import sys
import time

FIELDS = [
    "conn_id", "src", "sport", "dst", "dport", "proto", "opened_t", "nodes_seen", "pod_first",
    "requests_ok", "last_ok_t", "slow_t", "stall_t", "fate", "fate_t", "error",
]


def node_of(pod, peer):
    """Ingress node from the answer: Cluster policy masquerades to the ingress node's address
    (198.18.1.(10+i) towards a remote pod, 198.18.(100+i).1 towards a local one); Local policy
    keeps the client's address and the pod is on the ingress node (198.18.(100+i).x)."""
    p = ipaddress.ip_address(peer)
    if p in ipaddress.ip_network("198.18.1.0/24"):
        return f"node-{int(peer.split('.')[3]) - 10}"
    o = [int(x) for x in peer.split(".")]
    if o[0] == 198 and o[1] == 18 and o[2] > 100 and o[3] == 1:
        return f"node-{o[2] - 100}"
    q = [int(x) for x in pod.split(".")]
    return f"node-{q[2] - 100}"


class Conn:
    def __init__(self, cid, src, dst, dport):
        self.row = dict.fromkeys(FIELDS, "")
        self.row.update(conn_id=cid, src=src, dst=dst, dport=dport, proto=6, requests_ok=0)
        self.nodes = []
        self.done = False

    def finish(self, fate, t, err=""):
        if not self.done:
            self.done = True
            self.row.update(fate=fate, fate_t=f"{t:.3f}", error=err)

    def out(self):
        r = dict(self.row)
        r["nodes_seen"] = ">".join(self.nodes)
        if not self.done:
            r["fate"] = "open"
        return r


async def read_answer(reader):
    head = await reader.readuntil(b"\r\n\r\n")
    n = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            n = int(line.split(b":")[1])
    body = await reader.readexactly(n)
    if not head.startswith(b"HTTP/1.1 200"):
        raise ValueError("status " + head.split(b"\r\n")[0].decode(errors="replace"))
    return body.decode()


async def run_conn(c, a, deadline, phase):
    gen = GEN
    src = c.row["src"]
    t0 = time.time()
    try:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        sock.bind((src, 0))
        await asyncio.wait_for(asyncio.get_running_loop().sock_connect(sock, (a.vip, a.port)), a.timeout)
        reader, writer = await asyncio.open_connection(sock=sock)
    except Exception as e:  # refused, unreachable, timeout
        c.row["opened_t"] = f"{t0:.3f}"
        c.finish("connect_failed", time.time(), type(e).__name__)
        return
    c.row["opened_t"] = f"{time.time():.3f}"
    c.row["sport"] = sock.getsockname()[1]
    req = f"GET /id HTTP/1.1\r\nHost: {a.vip}\r\n\r\n".encode()
    nxt = time.time() + phase
    sent = time.time()
    try:
        while time.time() < deadline and not STOP.is_set():
            await asyncio.sleep(max(0.0, nxt - time.time()))
            # A late event loop skips the slots it missed instead of sending them all at
            # once (a burst of 2,000 segments overflows a veth's backlog: drops, RTOs).
            while nxt + a.interval < time.time():
                nxt += a.interval
            if gen != GEN:
                c.finish("closed", time.time(), "refresh")
                break
            nxt += a.interval
            sent = time.time()
            writer.write(req)
            try:
                body = await asyncio.wait_for(read_answer(reader), a.timeout)
            except asyncio.TimeoutError:
                c.row["stall_t"] = f"{sent:.3f}"
                c.finish("timeout", time.time())
                break
            except asyncio.IncompleteReadError:
                c.row["stall_t"] = f"{sent:.3f}"
                c.finish("eof", time.time())
                break
            now = time.time()
            if LAT is not None:
                LAT.write(f"{sent:.6f},{now - sent:.6f},{c.row['conn_id']}\n")
            if now - sent > a.stall and not c.row["slow_t"]:
                c.row["slow_t"] = f"{sent:.3f}"
            kv = dict(x.split("=", 1) for x in body.split())
            node = node_of(kv["pod"], kv["peer"])
            if not c.nodes or c.nodes[-1] != node:
                c.nodes.append(node)
            if not c.row["pod_first"]:
                c.row["pod_first"] = kv["pod"]
            c.row["requests_ok"] += 1
            c.row["last_ok_t"] = f"{now:.3f}"
    except ConnectionResetError as e:
        c.row["stall_t"] = f"{sent:.3f}"
        c.finish("reset", time.time())
    except Exception as e:
        c.row["stall_t"] = f"{sent:.3f}"
        c.finish("error", time.time(), type(e).__name__ + ":" + str(e)[:60])
    finally:
        try:
            writer.close()
        except Exception:
            pass


STOP = None
LAT = None
GEN = 0  # pool generation: a refresh closes every connection of an older one


def write(path, conns):
    tmp = path + ".tmp"
    with open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, FIELDS)
        w.writeheader()
        for c in conns:
            w.writerow(c.out())
    os.replace(tmp, path)


async def main(a):
    global STOP, LAT, GEN
    STOP = asyncio.Event()
    if a.latency_out:
        LAT = open(a.latency_out, "w")
        LAT.write("t_sent,latency_s,conn_id\n")
    loop = asyncio.get_running_loop()
    for s in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(s, STOP.set)
    deadline = time.time() + a.duration
    srcs = a.sources
    conns, tasks = [], {}
    ident = 0

    def spawn(k):
        nonlocal ident
        c = Conn(ident, srcs[ident % len(srcs)], a.vip, a.port)
        ident += 1
        conns.append(c)
        # Phases spread the requests evenly over the interval.
        tasks[k] = asyncio.ensure_future(run_conn(c, a, deadline, (k / a.conns) * a.interval))

    for k in range(a.conns):  # ramp up at --rate connections per second
        spawn(k)
        if k % 50 == 49:
            await asyncio.sleep(50 / a.rate)
    snapped = False
    while not STOP.is_set() and time.time() < deadline:
        await asyncio.sleep(0.05)
        for k, t in list(tasks.items()):
            if t.done() and a.reconnect and ident < a.max_conns and not STOP.is_set():
                spawn(k)
        if a.refresh_trigger and os.path.exists(a.refresh_trigger):
            try:
                want = int(open(a.refresh_trigger).read().strip() or 0)
            except ValueError:
                want = GEN
            if want > GEN:
                GEN = want
        if a.snapshot and not snapped and os.path.exists(a.snapshot_trigger):
            write(a.snapshot, [c for c in conns if not c.done and c.row["sport"] != ""])
            snapped = True
    STOP.set()
    for t in tasks.values():
        t.cancel()
    await asyncio.gather(*tasks.values(), return_exceptions=True)
    write(a.out, conns)
    if LAT:
        LAT.close()


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--vip", required=True)
    ap.add_argument("--port", type=int, default=80)
    ap.add_argument("--conns", type=int, default=2000)
    ap.add_argument("--sources", required=True, help="comma-separated source addresses")
    ap.add_argument("--interval", type=float, default=1.0)
    ap.add_argument("--timeout", type=float, default=30.0, help="an unanswered request fails after this")
    ap.add_argument("--stall", type=float, default=0.5, help="an answer slower than this marks slow_t")
    ap.add_argument("--rate", type=float, default=1000.0, help="connections opened per second at start")
    ap.add_argument("--duration", type=float, required=True)
    ap.add_argument("--max-conns", type=int, default=20000)
    ap.add_argument("--reconnect", action="store_true")
    ap.add_argument("--out", required=True)
    ap.add_argument("--latency-out", help="CSV of every answered request: t_sent,latency_s,conn_id")
    ap.add_argument("--refresh-trigger", help="file holding a number: when it grows, every connection closes (FIN) and is replaced")
    ap.add_argument("--snapshot")
    ap.add_argument("--snapshot-trigger")
    a = ap.parse_args()
    a.sources = a.sources.split(",")
    if not (1 <= a.conns <= 10000 and 0 < a.duration <= 3600 and a.interval > 0):
        sys.exit("connclient.py: --conns 1..10000, --duration 0..3600 s, --interval > 0")
    asyncio.run(main(a))
