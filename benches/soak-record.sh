#!/usr/bin/env bash
# CLI soak with the flight recorder (issue 18): `assoc send` → impairing `assoc relay` →
# `assoc serve`, both ends recording (`--record`), each SIGKILLed at random moments and
# restarted on its store for ROUNDS rounds; then the sender must finish with every outcome,
# the receiver must hold every message exactly once, both recordings must replay
# identically (`assoc replay`) and pass the model's safety properties
# (`assoc-model trace-check`).
#
#   benches/soak-record.sh [ROUNDS] [MESSAGES]        (defaults: 10 rounds, 2000 messages)
#
# Environment: CARGO_TARGET_DIR (where the release binaries are built), SOAK_SEED (kill
# times), SOAK_KEEP=1 (keep the scratch directory with logs and recordings).
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-10}
MESSAGES=${2:-2000}
TGT=${CARGO_TARGET_DIR:-target}
cargo build --release -q -p assoc-io --bin assoc -p assoc-model --bin assoc-model
B="$TGT/release/assoc"
M="$TGT/release/assoc-model"
DIR=$(mktemp -d /tmp/assoc-soak-record.XXXXXX)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
    if [[ ${SOAK_KEEP:-0} == 1 ]]; then echo "kept $DIR"; else rm -rf "$DIR"; fi
}
trap cleanup EXIT
RANDOM=${SOAK_SEED:-18}
port() { python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
SERVE_PORT=$(port)
RELAY_PORT=$(port)
printf 'soak-record-psk-32-bytes-long!!!' >"$DIR/psk"
seq 1 "$MESSAGES" | awk '{ printf "soak message %d %s\n", $1, substr("abcdefghijklmnopqrstuvwxyz0123456789", 1, $1 % 36) }' >"$DIR/input"
common=(--psk-file "$DIR/psk" --max-probes 4)

"$B" relay --listen "127.0.0.1:$RELAY_PORT" --to "127.0.0.1:$SERVE_PORT" \
    --loss 3 --dup 2 --reorder 10 --jitter-ms 5 2>"$DIR/relay.log" &
PIDS+=($!)
serve() {
    "$B" serve --listen "127.0.0.1:$SERVE_PORT" --out "$DIR/out" --store "$DIR/b.redb" --name mta-b --peer mta-a \
        "${common[@]}" --record "$DIR/b.rec" 2>>"$DIR/serve.log" &
    SERVE=$!
    PIDS+=($SERVE)
}
send() {
    "$B" send --to "127.0.0.1:$RELAY_PORT" --store "$DIR/a.redb" --name mta-a --peer mta-b \
        "${common[@]}" --record "$DIR/a.rec" <"$DIR/input" >/dev/null 2>>"$DIR/send.log" &
    SEND=$!
    PIDS+=($SEND)
}
serve
send
kills=0
for round in $(seq 1 "$ROUNDS"); do
    sleep "0.$((RANDOM % 9 + 1))"
    if ((round % 2)); then
        kill -0 "$SEND" 2>/dev/null || break
        kill -9 "$SEND"; wait "$SEND" 2>/dev/null || true
        send
    else
        kill -9 "$SERVE"; wait "$SERVE" 2>/dev/null || true
        serve
    fi
    kills=$((kills + 1))
done
status=0
for _ in $(seq 1 1200); do
    kill -0 "$SEND" 2>/dev/null || break
    sleep 0.1
done
if kill -0 "$SEND" 2>/dev/null; then echo "FAIL: the sender did not finish in 120 s" >&2; status=1; fi
wait "$SEND" 2>/dev/null || { echo "FAIL: the sender exited with an error" >&2; status=1; }
# The receiver writes (and fsyncs) one file per message before acknowledging it: wait for
# the last ones, then kill it too.
for _ in $(seq 1 1200); do
    [[ $(find "$DIR/out" -name '*.msg' | wc -l) -ge $MESSAGES ]] && break
    sleep 0.1
done
kill -9 "$SERVE"; wait "$SERVE" 2>/dev/null || true
got=$(find "$DIR/out" -name '*.msg' | wc -l)
echo "kills: $kills (sender and receiver alternately), messages received: $got of $MESSAGES"
[[ $got == "$MESSAGES" ]] || { echo "FAIL: not every message arrived exactly once" >&2; status=1; }
for side in a b; do
    parts=$(ls "$DIR/$side.rec"* | wc -l)
    bytes=$(cat "$DIR/$side.rec"* | wc -c)
    echo "$side.rec: $parts file(s), $bytes bytes"
    "$B" replay "$DIR/$side.rec" --psk-file "$DIR/psk" || { echo "FAIL: $side.rec does not replay" >&2; status=1; }
done
"$M" trace-check --psk-file "$DIR/psk" "$DIR/a.rec" "$DIR/b.rec" || { echo "FAIL: trace check" >&2; status=1; }
if [[ $status == 0 ]]; then echo "soak-record: PASS"; else echo "soak-record: FAIL (logs in $DIR)"; SOAK_KEEP=1; fi
exit $status
