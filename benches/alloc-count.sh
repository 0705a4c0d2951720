#!/usr/bin/env bash
# Heap allocations per message of one core transfer workload, counted by callgrind (only
# inside `run_profile`, like the instruction counts):
#
#   benches/alloc-count.sh BENCH_BINARY sym,5000,64
#
# Prints instructions, malloc+realloc calls, and both per message (and per byte).
set -euo pipefail
bin=$1 spec=$2
out=$(mktemp)
ASSOC_PROFILE=$spec valgrind --tool=callgrind --callgrind-out-file="$out" \
    --toggle-collect='*run_profile*' "$bin" 2>&1 | grep -v '^==' || true
ir=$(callgrind_annotate "$out" 2>/dev/null | sed -n 's/^ *\([0-9,]*\) .*PROGRAM TOTALS.*/\1/p' | tr -d ,)
calls=$(callgrind_annotate --tree=caller "$out" 2>/dev/null | python3 -c '
import re, sys
total, callers = 0, []
for line in sys.stdin:
    if "<" in line:  # a caller of the function on the next "*" line
        m = re.search(r"\(([\d,]+)x\)", line)
        callers.append(int(m.group(1).replace(",", "")) if m else 0)
        continue
    if re.search(r"\*\s+\S*:(malloc|realloc) ", line):
        total += sum(callers)
    callers = []
print(total)')
n=$(cut -d, -f2 <<<"$spec") size=$(cut -d, -f3 <<<"$spec")
rm -f "$out"
python3 -c "ir,c,n,s=$ir,$calls,$n,$size; print(f'{ir} instr, {c} allocations; per message {ir/n:.0f} instr, {c/n:.2f} allocations; {ir/(n*s):.2f} instr/byte')"
