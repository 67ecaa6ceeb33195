#!/usr/bin/env python3
"""Send MetalLB's gratuitous ARP for an IP from one interface (stdlib raw socket).

MetalLB (internal/layer2/arp.go, arpResponder.Gratuitous) sends, for each announcement, an ARP
request and then an ARP reply, both broadcast, sender = target = the service IP, sender MAC =
the interface's MAC, target MAC = ff:ff:ff:ff:ff:ff; on taking an IP over, its announcer repeats
this (spamLoop) every 1.1 s for 5 s. --count N sends N rounds 1.1 s apart (MetalLB: 5).

The wall-clock time of the first frame is appended to faults.csv as kind `garp`.
"""
import argparse
import socket
import struct
import sys
import time


def mac_of(dev):
    with open(f"/sys/class/net/{dev}/address") as f:
        return bytes.fromhex(f.read().strip().replace(":", ""))


def frame(op, mac, ip):
    bcast = b"\xff" * 6
    eth = bcast + mac + struct.pack("!H", 0x0806)
    arp = struct.pack("!HHBBH", 1, 0x0800, 6, 4, op) + mac + ip + bcast + ip
    return eth + arp


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--dev", required=True)
    ap.add_argument("--ip", required=True)
    ap.add_argument("--count", type=int, default=1)
    ap.add_argument("--faults", help="faults.csv to append the send time to")
    ap.add_argument("--node", default="")
    ap.add_argument("--detail", default="")
    a = ap.parse_args()
    if not 1 <= a.count <= 10:
        sys.exit("garp.py: --count must be 1..10")
    mac = mac_of(a.dev)
    ip = socket.inet_aton(a.ip)
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((a.dev, 0))
    first = None
    for k in range(a.count):
        if k:
            time.sleep(1.1)
        for op in (1, 2):  # request, then reply
            s.send(frame(op, mac, ip))
            if first is None:
                first = time.time()
    s.close()
    if a.faults:
        detail = f"request+reply x{a.count} from {mac.hex(':')}"
        if a.detail:
            detail = a.detail + "; " + detail
        with open(a.faults, "a") as f:
            f.write(f"{first:.6f},garp,{a.node},{detail.replace(',', ';')}\n")
    print(f"{first:.6f}")


if __name__ == "__main__":
    main()
