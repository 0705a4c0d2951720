#!/usr/bin/env bash
# Two network namespaces joined only through benches/impair/relay.py (TUN devices), so
# every protocol's packets suffer the same impairment. Needs root.
#
#   netns.sh up [relay options...]   # e.g. --delay-ms 50 --reorder-pct 25 --loss-pct 2 --dup-pct 1 --rate-kbit 1000
#   netns.sh down
#
# Namespace abench-src holds 10.77.0.1 (device abt-src), abench-dst holds 10.77.0.2
# (device abt-dst). The relay's pid is in $STATE/relay.pid, its counters in $STATE/relay.log.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
STATE="${ASSOC_IMPAIR_STATE:-/tmp/assoc-impair}"
NS_SRC=abench-src NS_DST=abench-dst TUN_SRC=abt-src TUN_DST=abt-dst

down() {
    if [[ -f "$STATE/relay.pid" ]]; then
        kill "$(cat "$STATE/relay.pid")" 2>/dev/null || true
        sleep 0.3
        rm -f "$STATE/relay.pid"
    fi
    ip netns del "$NS_SRC" 2>/dev/null || true
    ip netns del "$NS_DST" 2>/dev/null || true
    ip link del "$TUN_SRC" 2>/dev/null || true
    ip link del "$TUN_DST" 2>/dev/null || true
}

up() {
    down
    mkdir -p "$STATE"
    ip netns add "$NS_SRC"
    ip netns add "$NS_DST"
    ip tuntap add dev "$TUN_SRC" mode tun
    ip tuntap add dev "$TUN_DST" mode tun
    rm -f "$STATE/ready"
    # The relay attaches to both devices here, then they move into the namespaces (the
    # open file descriptors stay valid across the move).
    python3 "$here/relay.py" --tun-a "$TUN_SRC" --tun-b "$TUN_DST" --ready-file "$STATE/ready" "$@" \
        2>"$STATE/relay.log" &
    echo $! >"$STATE/relay.pid"
    for _ in $(seq 50); do [[ -f "$STATE/ready" ]] && break; sleep 0.1; done
    [[ -f "$STATE/ready" ]] || { echo "relay did not start:" >&2; cat "$STATE/relay.log" >&2; exit 1; }
    ip link set "$TUN_SRC" netns "$NS_SRC"
    ip link set "$TUN_DST" netns "$NS_DST"
    ip -n "$NS_SRC" link set lo up
    ip -n "$NS_DST" link set lo up
    ip -n "$NS_SRC" addr add 10.77.0.1/24 dev "$TUN_SRC"
    ip -n "$NS_DST" addr add 10.77.0.2/24 dev "$TUN_DST"
    ip -n "$NS_SRC" link set "$TUN_SRC" up
    ip -n "$NS_DST" link set "$TUN_DST" up
    ip netns exec "$NS_SRC" ping -c 1 -W 3 10.77.0.2 >/dev/null 2>&1 ||
        ip netns exec "$NS_SRC" ping -c 1 -W 3 10.77.0.2 >/dev/null ||
        { echo "no path through the relay" >&2; exit 1; }
}

case "${1:-}" in
    up) shift; up "$@" ;;
    down) down ;;
    *) echo "usage: $0 up [relay options] | down" >&2; exit 2 ;;
esac
