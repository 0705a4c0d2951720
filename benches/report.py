#!/usr/bin/env python3
"""Turns the raw outputs of benches/run.sh into benches/RESULTS.md and the README table.

usage: report.py OUT_DIR
  OUT_DIR/machine.txt        machine description (free text, one fact per line)
  OUT_DIR/core.txt           `cargo bench -p assoc-core --bench transfer` output (divan)
  OUT_DIR/loopback-*.md      tables printed by `assoc-bench loopback`
  OUT_DIR/impaired-*.md      tables printed by `assoc-bench impaired` (+ impaired-setup.txt)
  OUT_DIR/model.tsv          preset, engine, states, unique, CPU seconds, peak RSS KiB, status
"""

import glob
import os
import re
import sys

UNITS = {"ps": 1e-12, "ns": 1e-9, "µs": 1e-6, "us": 1e-6, "ms": 1e-3, "s": 1.0}
RATE = {"": 1, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12}


def parse_divan(text):
    """{path: {"time": seconds, "rate": (value, unit)}} from divan's tree output (medians)."""
    out, stack, last = {}, [], None
    for line in text.splitlines():
        m = re.match(r"^([│ ]*)[├╰]─ (\S+)(.*)$", line)
        if m:
            depth = len(m.group(1)) // 3
            stack = stack[:depth] + [m.group(2)]
            cols = [c.strip() for c in m.group(3).split("│")]
            last = None
            if len(cols) >= 3 and cols[2]:
                t = re.match(r"([\d.]+) (\S+)", cols[2])
                if t:
                    last = "/".join(stack)
                    out[last] = {"time": float(t.group(1)) * UNITS[t.group(2)]}
            continue
        if last:
            cols = [c.strip() for c in line.split("│")]
            while cols and not cols[0]:
                cols.pop(0)  # the tree's drawing
            if len(cols) >= 3 and cols[2]:
                r = re.match(r"([\d.]+) ([KMGT]?)(\S+)", cols[2])
                if r:
                    out[last]["rate"] = float(r.group(1)) * RATE[r.group(2)]
                    out[last]["unit"] = r.group(3)
            last = None
    return out


def fmt_rate(v, unit):
    for p, f in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if v >= f:
            return f"{v / f:.3g} {p}{unit}"
    return f"{v:.3g} {unit}"


def fmt_time(s):
    for u, f in (("s", 1), ("ms", 1e-3), ("µs", 1e-6), ("ns", 1e-9)):
        if s >= f:
            return f"{s / f:.3g} {u}"
    return f"{s * 1e12:.3g} ps"


def core_table(d):
    rows = ["| benchmark | suite | median | throughput | baseline (same run) | baseline throughput | ratio | target |",
            "|---|---|---:|---:|---|---:|---:|---|"]
    suites = [("Symbolic", "symbolic"), ("ChaCha20Poly1305", "chacha20-poly1305")]

    def get(path):
        return d.get(path)

    transfers = [
        ("messages_64b", 64, "msg/s", "≥ 1 M msg/s"),
        ("messages_1kib", 1024, "msg/s", ""),
        ("messages_1kib_reorder25_loss5", 1024, "msg/s", ""),
        ("bytes_1mib", 1 << 20, "B/s", "chacha ≥ 0.8 × AEAD; symbolic ≥ 0.5 × memcpy"),
        ("bytes_1mib_reorder25_loss5", 1 << 20, "B/s", ""),
    ]
    for name, size, unit, target in transfers:
        for key, label in suites:
            b = get(f"{name}/{key}")
            if not b or "rate" not in b:
                continue
            if key == "Symbolic":
                base_name, base = f"memcpy {size} B", get(f"memcpy_baseline/{size}")
            elif size == 1 << 20:
                base_name, base = "AEAD seal+open, per 1340 B datagram", get(f"aead_seal_open_per_datagram/{size}")
            else:
                base_name, base = f"AEAD seal+open {size} B", get(f"aead_seal_open/{size}")
            if base and "rate" in base:
                # Baselines are measured in bytes/s; a message rate compares with operations/s.
                base_rate = base["rate"] / size if unit == "msg/s" else base["rate"]
                base_txt, ratio = fmt_rate(base_rate, "op/s" if unit == "msg/s" else unit), f"{b['rate'] / base_rate:.3g}"
            else:
                base_txt, ratio = "–", "–"
            rows.append(f"| {name} | {label} | {fmt_time(b['time'])} | {fmt_rate(b['rate'], unit)} | {base_name} | "
                        f"{base_txt} | {ratio} | {target if key == 'ChaCha20Poly1305' or size != 1 << 20 else target} |")
    for name in ("codec_encode", "codec_decode"):
        for size in (64, 1024):
            b = get(f"{name}/{size}")
            if b:
                rows.append(f"| {name} (one DATA PDU, {size} B payload) | – | {fmt_time(b['time'])} | – | – | – | – | |")
    for key, label in suites:
        b = get(f"poll_output_idle/{key}")
        if b:
            rows.append(f"| poll_output (returns Wait), idle established session | {label} | {fmt_time(b['time'])} | – | – | – | – | O(1) |")
    base = []
    for size in (64, 1024, 1 << 20):
        for n, k in ((f"memcpy {size} B", f"memcpy_baseline/{size}"), (f"AEAD seal+open {size} B", f"aead_seal_open/{size}")):
            b = get(k)
            if b and "rate" in b:
                base.append(f"| {n} | {fmt_time(b['time'])} | {fmt_rate(b['rate'], 'B/s')} |")
    b = get(f"aead_seal_open_per_datagram/{1 << 20}")
    if b and "rate" in b:
        base.append(f"| AEAD seal+open 1 MiB in 1340 B pieces | {fmt_time(b['time'])} | {fmt_rate(b['rate'], 'B/s')} |")
    return "\n".join(rows) + "\n\nBaselines:\n\n| baseline | median | throughput |\n|---|---:|---:|\n" + "\n".join(base)


def callgrind_table(path):
    ir = {}
    for line in open(path):
        f = line.split()
        if len(f) == 2 and f[1].isdigit():
            ir[f[0]] = int(f[1])
    rows = ["| workload | instructions | per message | baseline | baseline instructions | ratio (baseline / transfer) |",
            "|---|---:|---:|---|---:|---:|"]
    for spec, v in ir.items():
        what, n, size = spec.split(",")[:3]
        if what not in ("sym", "chacha"):
            continue
        base = ("memcpy" if what == "sym" else "aead") + f",{n},{size}"
        label = "memcpy" if what == "sym" else "AEAD seal+open per datagram"
        b = ir.get(base)
        suite = "symbolic" if what == "sym" else "chacha20-poly1305"
        rows.append(f"| {n} × {size} B, {suite} | {v:,} | {v // int(n):,} | {label} | "
                    + (f"{b:,} | {b / v:.3f} |" if b else "– | – |"))
    return "\n".join(rows)


def model_table(path):
    """One row per (preset, engine): the default compact engine and the old engines on the
    same semantics (stateright's pass + the full-state graph pass), then both on ci-lossy with
    the baseline's semantics (free timers), with the CPU-time ratios."""
    rows = ["| preset | engine | states | unique | CPU time | states/CPU-s | unique/CPU-s | peak RSS | bytes/unique | status |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    cpu = {}
    for line in open(path):
        f = line.rstrip("\n").split("\t")
        if len(f) < 7:
            continue
        preset, engine, states, unique, secs, rss, status = f[:7]
        try:
            cpu[(preset, engine)] = float(secs)
            rate = f"{int(states) / max(float(secs), 0.01):,.0f}"
            urate = f"{int(unique) / max(float(secs), 0.01):,.0f}"
            t = f"{float(secs):.2f} s"
        except (ValueError, ZeroDivisionError):
            rate, urate, t = "–", "–", secs
        try:
            mem = f"{int(rss) / 1024:.0f} MiB"
            per = f"{int(rss) * 1024 / int(unique):,.0f}"
        except (ValueError, ZeroDivisionError):
            mem, per = rss, "–"
        name = {"compact": "check (compact)",
                "old": "old engines, same semantics: --cross-check --full-states",
                "compact-free": "check --free-timers --optimistic-agef (baseline semantics)",
                "old-free": "old engines, baseline semantics: --free-timers --optimistic-agef --cross-check --full-states",
                }.get(engine, engine)
        rows.append(f"| {preset} | {name} | {states} | {unique} | {t} | {rate} | {urate} | {mem} | {per} | {status} |")
    ratios = []
    for (preset, engine), secs in cpu.items():
        old = cpu.get((preset, {"compact": "old", "compact-free": "old-free"}.get(engine, "")))
        if old:
            ratios.append(f"{preset}{' (free timers)' if engine == 'compact-free' else ''} {old / max(secs, 0.01):,.0f}×")
    if ratios:
        rows += ["", "CPU time of the old engines / the compact engine, same semantics: " + ", ".join(ratios) + "."]
    return "\n".join(rows)


def main():
    out = sys.argv[1]
    parts = ["# Benchmark results", "",
             "Written by `benches/run.sh`; every figure is a median of several runs, and every "
             "ratio is against a baseline measured in the same run on the same machine.", ""]
    machine = open(os.path.join(out, "machine.txt")).read().strip().splitlines()
    parts += ["## Machine", ""] + [f"- {m}" for m in machine] + [""]
    core = os.path.join(out, "core.txt")
    if os.path.exists(core):
        parts += ["## Core (in-memory pair, virtual time, no sockets)", "",
                  "`cargo bench -p assoc-core --bench transfer`. Messages/s and bytes/s of a whole "
                  "transfer between two sessions (handshake included, records durable at once). "
                  "Ratios: against memcpy of the same size with the symbolic suite (the limit of "
                  "the machinery), against the AEAD primitive's own seal+open with ChaCha20-Poly1305 "
                  "(the limit with encryption on). For messages, the baseline is one operation per "
                  "message.", "", core_table(parse_divan(open(core).read())), ""]
    cg = os.path.join(out, "callgrind.tsv")
    if os.path.exists(cg):
        parts += ["### Core, instructions (callgrind: exact, repeatable)", "",
                  "`ASSOC_PROFILE=WHAT,N,SIZE valgrind --tool=callgrind --toggle-collect='*run_profile*' "
                  "target/release/deps/transfer-…` — instructions for the whole workload (a transfer "
                  "includes its handshake), per message, and as a ratio: baseline instructions / "
                  "transfer instructions (the throughput ratio on a machine where instructions cost "
                  "alike).", "", callgrind_table(cg), ""]
    lb = sorted(glob.glob(os.path.join(out, "loopback-*.md")))
    if lb:
        parts += ["## Adapters on loopback", "",
                  "`assoc-bench loopback` (benches/adapters): sink and source in one process on "
                  "127.0.0.1, tokio runtime with 2 workers. assoc uses ChaCha20-Poly1305 and its "
                  "redb store without fsync (`SyncMode::Os`); kernel TCP moves length-prefixed "
                  "frames (no durability, no encryption); quinn moves one unidirectional stream "
                  "per message (TLS 1.3). Latency: from offering the message to the API to the "
                  "receiving application holding it — assoc takes custody of the whole batch at "
                  "once, so its latency includes queueing in the session.", ""]
        for f in lb:
            parts += [open(f).read().strip(), ""]
    imp = sorted(glob.glob(os.path.join(out, "impaired-*.md")))
    if imp:
        setup = os.path.join(out, "impaired-setup.txt")
        parts += ["## Impaired link", ""]
        if os.path.exists(setup):
            parts += [open(setup).read().strip(), ""]
        for f in imp:
            parts += [open(f).read().strip(), ""]
        relay = os.path.join(out, "impaired-relay.log")
        if os.path.exists(relay) and open(relay).read().strip():
            parts += ["The relay's counters over the whole impaired part:", "", "```",
                      open(relay).read().strip(), "```", ""]
    model = os.path.join(out, "model.tsv")
    if os.path.exists(model):
        parts += ["## Model checking", "",
                  "`assoc-model check --preset P` (the default: one graph pass over compact "
                  "states) beside the old engines on the same semantics in the same run "
                  "(`--cross-check --full-states`: stateright's checker, then the graph pass on full "
                  "states); then ci-lossy with the semantics of the issue's baseline (free timers, "
                  "optimistic AG EF), whose 2.2 M states are big enough to time. CPU time = user + sys "
                  "from `/usr/bin/time` (the machine is shared; wall time is not comparable); "
                  "states/CPU-s = states generated (with revisits) by the graph pass / CPU time of "
                  "the whole run; bytes/unique = peak RSS / unique states. The `deep` preset runs "
                  "only with `run.sh --model-deep`, compact engine only.", "",
                  model_table(model), ""]
    text = "\n".join(parts) + "\n"
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with open(os.path.join(root, "benches", "RESULTS.md"), "w") as f:
        f.write(text)
    readme = os.path.join(root, "README.md")
    body = open(readme).read()
    begin, end = "<!-- bench-table:begin -->", "<!-- bench-table:end -->"
    table = text.split("\n", 1)[1].strip()
    table = re.sub(r"^## ", "#### ", table, flags=re.M)
    block = f"{begin}\n{table}\n{end}"
    if begin in body and end in body:
        body = re.sub(re.escape(begin) + ".*?" + re.escape(end), lambda _: block, body, flags=re.S)
    else:
        body = body.rstrip("\n") + "\n\n## Benchmarks\n\nThe latest `benches/run.sh` results (also in "\
            "benches/RESULTS.md):\n\n" + block + "\n"
    with open(readme, "w") as f:
        f.write(body)
    print(text)


if __name__ == "__main__":
    main()
