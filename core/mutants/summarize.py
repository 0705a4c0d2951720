#!/usr/bin/env python3
"""Summarises cargo-mutants outcomes.json files per source file: caught / missed / timeout /
unviable, and the kill rate over viable mutants (caught + timeout count as killed).

Usage: python3 core/mutants/summarize.py [--current LIST] DIR/mutants.out/outcomes.json [...]
Later files win for a mutant that appears in more than one (re-runs of targeted mutants).
With `--current LIST` (the output of `cargo mutants -p assoc-core --list` on the tree being
reported), only mutants of that tree count: outcomes of mutants whose name no longer exists
(code changed since) are dropped, and mutants of a reported file that no run tested are
counted as "not run".
"""
import collections
import json
import sys

KINDS = {
    "CaughtMutant": "caught",
    "MissedMutant": "missed",
    "Timeout": "timeout",
    "Unviable": "unviable",
}

args = sys.argv[1:]
current = None
if args[:1] == ["--current"]:
    current = {line.strip() for line in open(args[1]) if line.strip()}
    args = args[2:]

result = {}
for path in args:
    for o in json.load(open(path))["outcomes"]:
        m = o["scenario"]
        if not isinstance(m, dict) or "Mutant" not in m:
            continue  # the baseline
        m = m["Mutant"]
        kind = KINDS.get(o["summary"], o["summary"])
        result[m["name"]] = (m["file"], kind)

if current is not None:
    result = {n: v for n, v in result.items() if n in current}
    files = {f for f, _ in result.values()}
    for n in current:
        f = n.split(":")[0]
        if f in files and n not in result:
            result[n] = (f, "not run")

per_file = collections.defaultdict(collections.Counter)
for file, kind in result.values():
    per_file[file][kind] += 1
total = collections.Counter()
print("| file | caught | missed | timeout | unviable | not run | kill rate (viable) |")
print("|---|---:|---:|---:|---:|---:|---:|")
for file in sorted(per_file):
    c = per_file[file]
    total.update(c)
    viable = c["caught"] + c["missed"] + c["timeout"]
    rate = f"{100 * (c['caught'] + c['timeout']) / viable:.1f} %" if viable else "-"
    print(
        f"| `{file}` | {c['caught']} | {c['missed']} | {c['timeout']} | {c['unviable']} "
        f"| {c['not run']} | {rate} |"
    )
viable = total["caught"] + total["missed"] + total["timeout"]
rate = f"{100 * (total['caught'] + total['timeout']) / viable:.1f} %" if viable else "-"
print(
    f"| **total** | {total['caught']} | {total['missed']} | {total['timeout']} | {total['unviable']} "
    f"| {total['not run']} | {rate} |"
)
for kind in ["missed", "timeout", "not run"]:
    names = sorted(n for n, (_, k) in result.items() if k == kind)
    if names:
        print(f"\n{kind.capitalize()}:")
        for n in names:
            print(f"- {n}")
