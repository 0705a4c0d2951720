#!/usr/bin/env python3
"""A userspace packet relay that impairs every IP packet between two TUN devices alike.

The kernel here has no sch_netem, so `benches/impair/netns.sh` joins two network
namespaces through two TUN devices whose file descriptors this process holds: every packet
one namespace sends to the other (TCP, UDP, QUIC, in both directions) passes through here
and suffers the same impairment, per direction:

  1. loss: dropped with probability --loss-pct;
  2. a bottleneck of --rate-kbit with a drop-tail queue of --queue-ms worth of bytes;
  3. propagation delay --delay-ms;
  4. reordering: --reorder-pct of packets are held --reorder-ms longer (uniform in
     [reorder_ms/2, reorder_ms]) so later packets overtake them;
  5. duplication: --dup-pct of packets are delivered twice.

Counters go to stderr when the relay ends (SIGTERM/SIGINT).
"""

import argparse
import fcntl
import heapq
import os
import random
import select
import signal
import struct
import sys
import time

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000


def open_tun(name):
    fd = os.open("/dev/net/tun", os.O_RDWR)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
    os.set_blocking(fd, False)
    return fd


class Direction:
    def __init__(self, name, out_fd, args, rng):
        self.name, self.out_fd, self.args, self.rng = name, out_fd, args, rng
        self.link_free = 0.0
        self.stats = dict(packets=0, bytes=0, lost=0, queue_drops=0, reordered=0, duplicated=0, delivered=0)

    def arrive(self, now, pkt, heap, seq):
        a, s = self.args, self.stats
        s["packets"] += 1
        s["bytes"] += len(pkt)
        if self.rng.random() * 100 < a.loss_pct:
            s["lost"] += 1
            return seq
        start = max(now, self.link_free)
        if start - now > a.queue_ms / 1000.0:
            s["queue_drops"] += 1
            return seq
        self.link_free = start + len(pkt) * 8 / (a.rate_kbit * 1000.0)
        at = self.link_free + a.delay_ms / 1000.0
        if self.rng.random() * 100 < a.reorder_pct:
            s["reordered"] += 1
            at += self.rng.uniform(a.reorder_ms / 2, a.reorder_ms) / 1000.0
        copies = 1
        if self.rng.random() * 100 < a.dup_pct:
            s["duplicated"] += 1
            copies = 2
        for k in range(copies):
            seq += 1
            heapq.heappush(heap, (at + k * 0.0005, seq, self, pkt))
        return seq


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tun-a", required=True)
    p.add_argument("--tun-b", required=True)
    p.add_argument("--delay-ms", type=float, default=50)
    p.add_argument("--reorder-pct", type=float, default=25)
    p.add_argument("--reorder-ms", type=float, default=40)
    p.add_argument("--loss-pct", type=float, default=2)
    p.add_argument("--dup-pct", type=float, default=1)
    p.add_argument("--rate-kbit", type=float, default=1000)
    p.add_argument("--queue-ms", type=float, default=500)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--ready-file", help="touched once both devices are attached")
    args = p.parse_args()

    fa, fb = open_tun(args.tun_a), open_tun(args.tun_b)
    rng = random.Random(args.seed)
    dirs = {fa: Direction(f"{args.tun_a}->{args.tun_b}", fb, args, rng),
            fb: Direction(f"{args.tun_b}->{args.tun_a}", fa, args, rng)}
    heap, seq = [], 0
    running = [True]

    def stop(*_):
        running[0] = False

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if args.ready_file:
        open(args.ready_file, "w").close()
    while running[0]:
        now = time.monotonic()
        while heap and heap[0][0] <= now:
            _, _, d, pkt = heapq.heappop(heap)
            try:
                os.write(d.out_fd, pkt)
                d.stats["delivered"] += 1
            except OSError:
                pass  # device down or its queue full: lost like any other
        timeout = max(0.0, heap[0][0] - now) if heap else 0.5
        try:
            ready, _, _ = select.select([fa, fb], [], [], timeout)
        except InterruptedError:
            continue
        now = time.monotonic()
        for fd in ready:
            for _ in range(64):
                try:
                    pkt = os.read(fd, 65536)
                except (BlockingIOError, OSError):
                    break
                seq = dirs[fd].arrive(now, pkt, heap, seq)
    for d in dirs.values():
        print(f"relay {d.name}: " + " ".join(f"{k}={v}" for k, v in d.stats.items()), file=sys.stderr)


if __name__ == "__main__":
    main()
