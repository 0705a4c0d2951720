#!/usr/bin/env python3
"""Stall after a receiver restart: how long a sender moves nothing after its peer is
SIGKILLed and restarted at once on the same store (issue #15).

    benches/stall.py [--bin PATH] [--kills 5] [--messages 20000] [--max-probes N]

`assoc serve` (the receiver, writing each message to --out) and `assoc send` (the sender,
rate-limited so that the transfer outlives the kills) run on loopback UDP. During the
transfer the receiver is killed with SIGKILL `--kills` times and restarted immediately on
the same store. The stall of one kill is the time from the SIGKILL until the restarted
receiver hands over a message it did not already hold durably before the kill (messages
already in its store's inbox at the kill, which it hands over at start without any
network traffic, are counted out with `assoc queue`). So the stall includes the process
restart and is an upper bound on the sender's own stall.

At the end every message must be in the output directory exactly once with the bytes
sent (a duplicate delivery would be a second file for the same app id), and the sender
must exit 0. Prints one line per kill and a final `median` line; exits non-zero if a
check fails. Wall-clock figures on a shared machine: run it when the machine is quiet.
"""

import argparse
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time


def free_udp_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def files(out):
    try:
        return [n for n in os.listdir(out) if n.endswith(".msg") and not n.startswith(".")]
    except FileNotFoundError:
        return []


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin", default=None, help="the assoc binary (default: target/release/assoc)")
    ap.add_argument("--kills", type=int, default=5)
    ap.add_argument("--messages", type=int, default=9000, help="at most the queue limit, 10,000")
    ap.add_argument("--rate-kbps", type=int, default=800, help="sender's rate limit")
    ap.add_argument("--max-probes", type=int, default=None, help="--max-probes of both ends")
    ap.add_argument("--between", type=float, default=1.5, help="seconds of transfer between kills")
    ap.add_argument("--give-up", type=float, default=300.0, help="longest stall waited for")
    args = ap.parse_args()
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(root, "target"))
    binary = args.bin or os.path.join(target, "release", "assoc")
    if not os.path.exists(binary):
        sys.exit(f"{binary} missing: cargo build --release -p assoc-io --features cli --bin assoc")

    tmp = tempfile.mkdtemp(prefix="assoc-stall-")
    try:
        return run(args, binary, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run(args, binary, tmp):
    psk = os.path.join(tmp, "psk")
    with open(psk, "w") as f:
        f.write("00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n")
    out = os.path.join(tmp, "out")
    port = free_udp_port()
    probes = [] if args.max_probes is None else ["--max-probes", str(args.max_probes)]

    def common(name, peer, store):
        return ["--store", os.path.join(tmp, store), "--name", name, "--peer", peer, "--psk-file", psk] + probes

    def serve(round_):
        log = open(os.path.join(tmp, f"serve-{round_}.log"), "w")
        cmd = [binary, "serve", "--listen", f"127.0.0.1:{port}", "--out", out] + common("mta-b", "mta-a", "b.redb")
        return subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log)

    lines = [f"message {i:06d} " + "x" * (240 + i % 128) for i in range(args.messages)]
    receiver = serve(0)
    send_log = open(os.path.join(tmp, "send.log"), "w")
    sender = subprocess.Popen(
        [binary, "send", "--to", f"127.0.0.1:{port}", "--rate-kbps", str(args.rate_kbps)]
        + common("mta-a", "mta-b", "a.redb"),
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=send_log,
    )
    sender.stdin.write(("\n".join(lines) + "\n").encode())
    sender.stdin.close()

    stalls = []
    ok = True
    try:
        end = time.monotonic() + 60
        while len(files(out)) == 0 and time.monotonic() < end:
            time.sleep(0.01)
        for k in range(1, args.kills + 1):
            time.sleep(args.between)
            if sender.poll() is not None:
                print(f"kill {k}: the transfer already finished; use more --messages", file=sys.stderr)
                ok = False
                break
            receiver.send_signal(signal.SIGKILL)
            killed = time.monotonic()
            receiver.wait()
            held = len(files(out)) + inbox(binary, os.path.join(tmp, "b.redb"))
            receiver = serve(k)
            up = None
            while len(files(out)) <= held and time.monotonic() - killed < args.give_up:
                if up is None and "serving" in read(os.path.join(tmp, f"serve-{k}.log")):
                    up = time.monotonic() - killed
                time.sleep(0.005)
            stall = time.monotonic() - killed
            moved = len(files(out)) > held
            stalls.append(stall)
            listening = "" if up is None else f" (the restarted receiver was listening after {up:.3f} s)"
            print(f"kill {k}: data moving again after {stall:.3f} s{listening}" + ("" if moved else " (gave up)"),
                  flush=True)
        try:
            code = sender.wait(timeout=600)
        except subprocess.TimeoutExpired:
            code = None
        if code != 0:
            print(f"sender ended with {code}", file=sys.stderr)
            ok = False
        end = time.monotonic() + 60
        while len(files(out)) < len(lines) and time.monotonic() < end:
            time.sleep(0.05)
    finally:
        for p in (sender, receiver):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()
    ok &= check(out, lines)
    if stalls:
        print(f"median stall over {len(stalls)} kills: {statistics.median(stalls):.3f} s "
              f"(min {min(stalls):.3f}, max {max(stalls):.3f})")
    if not ok:
        for name in sorted(os.listdir(tmp)):
            if name.endswith(".log"):
                with open(os.path.join(tmp, name)) as f:
                    print(f"--- {name}\n" + "".join(f.readlines()[-15:]), file=sys.stderr)
    return 0 if ok else 1


def read(path):
    try:
        with open(path) as f:
            return f.read()
    except FileNotFoundError:
        return ""


def inbox(binary, store):
    """Messages durably delivered to the receiver but not yet written out."""
    text = subprocess.run([binary, "queue", "--store", store], capture_output=True, text=True).stdout
    m = re.search(r"inbox: (\d+) delivered", text)
    return int(m.group(1)) if m else 0


def check(out, lines):
    """Every message exactly once (one file per app id) with the bytes sent."""
    seen = {}
    for name in files(out):
        app_id = int(name[:-4].split("-")[1])
        if app_id in seen:
            print(f"app id {app_id} delivered twice", file=sys.stderr)
            return False
        with open(os.path.join(out, name), "rb") as f:
            seen[app_id] = f.read()
    if len(seen) != len(lines):
        print(f"{len(seen)} of {len(lines)} messages delivered", file=sys.stderr)
        return False
    first = min(seen)
    for app_id, data in seen.items():
        if data != lines[app_id - first].encode():
            print(f"app id {app_id}: wrong bytes", file=sys.stderr)
            return False
    print(f"all {len(lines)} messages delivered exactly once, bytes identical")
    return True


if __name__ == "__main__":
    sys.exit(main())
