#!/usr/bin/env bash
# Runs every benchmark of the project and writes the results, as markdown tables with the
# machine they ran on, into benches/RESULTS.md and into README.md (between the
# `bench-table` markers). Installs what it needs with apt (python3, valgrind, time,
# iproute2, iputils-ping).
#
#   benches/run.sh [--quick] [--only PARTS] [--repeat N] [--model-deep]
#
# --quick    small workloads, fewer repeats, only the fast model presets (a few minutes)
# --only     run only these parts: core,callgrind,loopback,impaired,model,stall (the tables
#            of the others are left out)
# --repeat   runs per adapter figure (default 3; impaired: 1, at 1 Mbit/s)
# --model-deep  also the `deep` model preset, compact engine only (cut off after
#            $ASSOC_MODEL_LIMIT s, 600 by default, and at $ASSOC_MODEL_MEM_GB GiB of address
#            space, 12 by default)
#
# The impaired-link part needs root, TUN devices and network namespaces; without them it is
# skipped with a message. Raw outputs stay in target/bench-results/.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
OUT="$ROOT/target/bench-results"
QUICK=0
ONLY="core,callgrind,loopback,impaired,model,stall"
REPEAT=3
DEEP=0
while [[ $# -gt 0 ]]; do
    case "$1" in
        --quick) QUICK=1 ;;
        --only) ONLY="$2"; shift ;;
        --repeat) REPEAT="$2"; shift ;;
        --model-deep) DEEP=1 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
want() { [[ ",$ONLY," == *",$1,"* ]]; }
step() { printf '\n== %s (%ss elapsed)\n' "$1" "$SECONDS" >&2; }
[[ $QUICK == 1 && $REPEAT == 3 ]] && REPEAT=1

apt_need() { # command package
    command -v "$1" >/dev/null 2>&1 && return 0
    if [[ $(id -u) == 0 ]]; then
        (apt-get install -y "$2" >/dev/null 2>&1 || { apt-get update >/dev/null 2>&1 && apt-get install -y "$2" >/dev/null 2>&1; }) ||
            echo "could not install $2" >&2
    fi
    command -v "$1" >/dev/null 2>&1
}
apt_need python3 python3 || { echo "python3 is required" >&2; exit 1; }

rm -rf "$OUT"
mkdir -p "$OUT"
{
    echo "date: $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')$( [[ $QUICK == 1 ]] && echo ' (quick run)')"
    echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores visible"
    echo "memory: $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
    echo "kernel: $(uname -sr); $(. /etc/os-release 2>/dev/null && echo "$PRETTY_NAME")"
    echo "toolchain: $(rustc --version)"
    echo "load average when starting: $(cut -d' ' -f1-3 /proc/loadavg) (other jobs on the machine skew wall-clock figures)"
} >"$OUT/machine.txt"

# --- core ------------------------------------------------------------------------------
if want core; then
    step "core benchmarks (divan)"
    samples=$([[ $QUICK == 1 ]] && echo 5 || echo 20)
    nice cargo bench -p assoc-core --bench transfer -- --sample-count "$samples" | tee "$OUT/core.txt"
    # Heap bytes of the many-peer endpoint (issue 17): exact counts, not timings.
    nice cargo bench -p assoc-core --bench endpoint_memory | tee "$OUT/endpoint-memory.txt"
fi

# --- core, instruction counts (exactly repeatable, unlike wall-clock time) --------------
if want callgrind; then
    step "core instruction counts (callgrind)"
    if apt_need valgrind valgrind; then
        nice cargo bench -p assoc-core --bench transfer --no-run 2>&1 | tee "$OUT/callgrind-build.txt" >&2
        bin=$(sed -n 's/.*Executable benches\/transfer.rs (\(.*\))/\1/p' "$OUT/callgrind-build.txt" | tail -1)
        : >"$OUT/callgrind.tsv"
        for spec in sym,5000,64 chacha,5000,64 sym,2000,1024 chacha,2000,1024 sym,4,1048576 chacha,4,1048576 \
            aead,4,1048576 memcpy,4,1048576 aead,5000,64 aead,2000,1024 memcpy,5000,64 memcpy,2000,1024; do
            ir=$(ASSOC_PROFILE=$spec valgrind --tool=callgrind --callgrind-out-file=/dev/null \
                --toggle-collect='*run_profile*' "$bin" 2>&1 | sed -n 's/.*refs: *\([0-9,]*\).*/\1/p' | tr -d ,)
            printf '%s\t%s\n' "$spec" "$ir" | tee -a "$OUT/callgrind.tsv"
        done
    else
        echo "valgrind unavailable: no instruction counts" >&2
    fi
fi

# --- adapters --------------------------------------------------------------------------
BENCH="${CARGO_TARGET_DIR:-$ROOT/benches/adapters/target}/release/assoc-bench"
if want loopback || want impaired; then
    step "building benches/adapters (quinn, rustls)"
    nice cargo build --release --manifest-path benches/adapters/Cargo.toml
fi

if want loopback; then
    if [[ $QUICK == 1 ]]; then small=2000 big=20; else small=10000 big=100; fi
    step "loopback: $small x 1 KiB"
    "$BENCH" loopback --messages "$small" --size 1024 --repeat "$REPEAT" | tee "$OUT/loopback-1-small.md"
    step "loopback: $big x 1 MiB"
    "$BENCH" loopback --messages "$big" --size 1048576 --repeat "$REPEAT" | tee "$OUT/loopback-2-large.md"
    peers=$([[ $QUICK == 1 ]] && echo 200 || echo 1000)
    # The one-session figure, the many-peer server at 1 and at 2 driver threads (interleaved
    # in every repeat), handshakes/s and the 2-vs-1 ratio, all in the same run.
    step "loopback: $peers peers x 10 x 1 KiB to one many-peer endpoint, 1 and 2 threads"
    "$BENCH" peers --peers "$peers" --messages 10 --size 1024 --repeat "$REPEAT" --threads 1,2 |
        tee "$OUT/loopback-3-peers.md"
fi

if want impaired; then
    step "impaired link (two namespaces through a TUN relay)"
    DELAY=50 REORDER=25 LOSS=2 DUP=1 RATE=1000
    if [[ $(id -u) != 0 ]]; then
        echo "not root: skipping the impaired link" | tee "$OUT/impaired-setup.txt"
    elif ! apt_need ip iproute2 || ! apt_need ping iputils-ping; then
        echo "iproute2/ping missing: skipping the impaired link" | tee "$OUT/impaired-setup.txt"
    else
        trap 'bash "$ROOT/benches/impair/netns.sh" down' EXIT
        if bash benches/impair/netns.sh up --delay-ms $DELAY --reorder-pct $REORDER --loss-pct $LOSS \
            --dup-pct $DUP --rate-kbit $RATE; then
            if [[ $QUICK == 1 ]]; then small=100 big=1; else small=500 big=3; fi
            protos=kernel-tcp,quinn,assoc-tokio-udp,assoc-tokio-tcp
            cat >"$OUT/impaired-setup.txt" <<EOF
Two network namespaces joined only through \`benches/impair/relay.py\`, a userspace relay
holding one TUN device in each (this kernel has no \`sch_netem\`), so every protocol's packets
— data and acknowledgements, both directions — suffer the same impairment: ${DELAY} ms delay
each way, ${REORDER} % of packets held 20–40 ms longer (overtaken by later ones), ${LOSS} % loss,
${DUP} % duplication, a ${RATE} kbit/s bottleneck with a 500 ms drop-tail queue. Goodput =
payload bytes / time from starting the sending process to the receiving application holding
every message (handshakes included). Workloads are smaller than on loopback ($small × 1 KiB and
$big × 1 MiB: the full ones would take minutes per transport at 1 Mbit/s); the std drivers are
left out here (same core, same bearers as the tokio ones). One run per figure.
EOF
            # The assoc std drivers share the tokio drivers' core and bearers; left out to save time.
            "$BENCH" impaired --ns-src abench-src --ns-dst abench-dst --dst-ip 10.77.0.2 --protos $protos \
                --messages "$small" --size 1024 --repeat 1 | tee "$OUT/impaired-1-small.md"
            "$BENCH" impaired --ns-src abench-src --ns-dst abench-dst --dst-ip 10.77.0.2 --protos $protos \
                --messages "$big" --size 1048576 --repeat 1 --limit-secs 400 | tee "$OUT/impaired-2-large.md"
        else
            echo "could not set up the namespaces and the TUN relay: skipping" | tee "$OUT/impaired-setup.txt"
        fi
        bash benches/impair/netns.sh down
        cp /tmp/assoc-impair/relay.log "$OUT/impaired-relay.log" 2>/dev/null || true
        trap - EXIT
    fi
fi

# --- stall after a receiver restart (issue #15) ----------------------------------------
if want stall; then
    step "stall after SIGKILL + restart of the receiver (loopback UDP)"
    nice cargo build --release -p assoc-io --features cli --bin assoc
    kills=$([[ $QUICK == 1 ]] && echo 3 || echo 5)
    CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}" python3 benches/stall.py --kills "$kills" |
        tee "$OUT/stall.txt" || echo "stall run failed" | tee -a "$OUT/stall.txt"
fi

# --- model ----------------------------------------------------------------------------
# Each preset twice in the same run: the default `check` (one graph pass over compact
# states) and the old engines on the same semantics (`check --cross-check --full-states`:
# stateright's checker and then the graph pass, both on full states, timely timers as the
# preset says), each under /usr/bin/time for CPU seconds (user + sys: the machine is
# shared, wall time is not comparable) and peak RSS. Then `ci-lossy` with the semantics of
# the issue's baseline (free timers, optimistic AG EF: 2.2 M unique states instead of
# 6,845, big enough to time), with both engines: states per CPU-second comparable with the
# baseline's 163 k (stateright's pass on ci-lossy before timely timers).
if want model; then
    step "model checking throughput"
    apt_need /usr/bin/time time || true
    nice cargo build --release -p assoc-model
    model_bin="${CARGO_TARGET_DIR:-target}/release/assoc-model"
    presets=$("$model_bin" presets | awk 'NF==0 {exit} {print $1}')
    limit=${ASSOC_MODEL_LIMIT:-600}
    if [[ $QUICK == 1 ]]; then presets=$(echo "$presets" | grep '^ci'); limit=300; fi
    [[ $DEEP == 1 ]] || presets=$(echo "$presets" | grep -vx deep)
    mem_kib=$(( ${ASSOC_MODEL_MEM_GB:-12} * 1024 * 1024 ))
    : >"$OUT/model.tsv"
    runs=()
    for p in $presets; do
        runs+=("$p compact")
        # The old engine cannot explore `deep` (it stopped at 9 GB at depth 16).
        [[ $p == deep ]] || runs+=("$p old")
    done
    runs+=("ci-lossy compact-free")
    # The old engines store full states: ~5 GB and minutes of CPU for ci-lossy's 2.2 M states.
    [[ $QUICK == 1 ]] || runs+=("ci-lossy old-free")
    for run in "${runs[@]}"; do
        read -r p engine <<<"$run"
        step "model preset $p ($engine)"
        args=(check --preset "$p" --every 30)
        case $engine in
            old) args+=(--cross-check --full-states) ;;
            compact-free) args+=(--free-timers --optimistic-agef) ;;
            old-free) args+=(--free-timers --optimistic-agef --cross-check --full-states) ;;
        esac
        log="$OUT/model-$p-$engine.txt"
        status=ok
        # A memory cap, so a big preset cannot push the machine into swapping or the OOM killer.
        (ulimit -v "$mem_kib"; exec /usr/bin/time -f '%U %S %M' -o "$OUT/model-$p-$engine.time" \
            timeout "$limit" "$model_bin" "${args[@]}") >"$log" 2>&1 || status="exit $?"
        line=$(grep -m1 'graph pass: states=' "$log" || true)
        if [[ -z $line ]]; then
            # Not finished: the last progress line says how far it got.
            line=$(grep 'graph pass… unique=' "$log" | tail -1 || true)
            status="not finished in ${limit}s (partial figures)"
        fi
        states=$(sed -n 's/.*states=\([0-9]*\).*/\1/p' <<<"$line")
        unique=$(sed -n 's/.*unique=\([0-9]*\).*/\1/p' <<<"$line")
        read -r user sys rss < <(tail -1 "$OUT/model-$p-$engine.time" 2>/dev/null || echo "– – –")
        cpu=$(awk -v u="$user" -v s="$sys" 'BEGIN { if (u ~ /^[0-9.]+$/) printf "%.2f", u + s; else print "–" }')
        grep -q 'CROSS-CHECK FAILED' "$log" && status="cross-check failed"
        printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$p" "$engine" "${states:-–}" "${unique:-–}" "$cpu" \
            "${rss:-–}" "$status" | tee -a "$OUT/model.tsv"
    done
fi

step "report"
python3 benches/report.py "$OUT" >/dev/null
echo "wrote benches/RESULTS.md and the README table (raw outputs in $OUT)" >&2
