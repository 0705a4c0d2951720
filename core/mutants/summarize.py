#!/usr/bin/env python3
"""Summarises cargo-mutants outcomes.json files per source file: caught / missed / timeout /
unviable, and the kill rate over viable mutants (caught + timeout count as killed).

Usage: python3 core/mutants/summarize.py DIR/mutants.out/outcomes.json [...]
Later files win for a mutant that appears in more than one (re-runs of targeted mutants).
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

result = {}
for path in sys.argv[1:]:
    for o in json.load(open(path))["outcomes"]:
        m = o["scenario"]
        if not isinstance(m, dict) or "Mutant" not in m:
            continue  # the baseline
        m = m["Mutant"]
        kind = KINDS.get(o["summary"], o["summary"])
        result[m["name"]] = (m["file"], kind)

per_file = collections.defaultdict(collections.Counter)
for file, kind in result.values():
    per_file[file][kind] += 1
total = collections.Counter()
print("| file | caught | missed | timeout | unviable | kill rate (viable) |")
print("|---|---:|---:|---:|---:|---:|")
for file in sorted(per_file):
    c = per_file[file]
    total.update(c)
    viable = c["caught"] + c["missed"] + c["timeout"]
    rate = f"{100 * (c['caught'] + c['timeout']) / viable:.1f} %" if viable else "-"
    print(f"| `{file}` | {c['caught']} | {c['missed']} | {c['timeout']} | {c['unviable']} | {rate} |")
viable = total["caught"] + total["missed"] + total["timeout"]
rate = f"{100 * (total['caught'] + total['timeout']) / viable:.1f} %" if viable else "-"
print(f"| **total** | {total['caught']} | {total['missed']} | {total['timeout']} | {total['unviable']} | {rate} |")
missed = sorted(n for n, (_, k) in result.items() if k == "missed")
if missed:
    print("\nMissed:")
    for n in missed:
        print(f"- {n}")
