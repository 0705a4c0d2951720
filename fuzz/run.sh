#!/usr/bin/env bash
# Fuzzing assoc: how to run each target on the nightly toolchain, and how to get coverage.
#
#   fuzz/run.sh list                      the targets
#   fuzz/run.sh run TARGET [SECONDS]      fuzz one target (default 600 s)
#   fuzz/run.sh all [SECONDS]             fuzz every target in turn (default 600 s each)
#   fuzz/run.sh coverage TARGET           line coverage of the target's corpus (best effort)
#   fuzz/run.sh replay                    the stable replay test, internal targets included
#
# What it runs, per target (from the repository root):
#
#   cargo +nightly fuzz run TARGET fuzz/target/corpus/TARGET fuzz/corpus/TARGET \
#       -- -max_total_time=SECONDS -print_final_stats=1
#
# libFuzzer reads both corpus directories and writes what it finds to the first one
# (fuzz/target/…, not checked in), so the checked-in seed corpus in fuzz/corpus/ stays
# small. Crashes land in fuzz/artifacts/TARGET/; reproduce one with
# `cargo +nightly fuzz run TARGET fuzz/artifacts/TARGET/crash-…`, shrink it with
# `cargo +nightly fuzz tmin TARGET fuzz/artifacts/TARGET/crash-…`, print it decoded with
# `cargo +nightly fuzz fmt TARGET FILE`, then check it in under fuzz/regressions/TARGET/ so
# that the stable test `fuzz/tests/replay.rs` keeps replaying it.
#
# The builds use AddressSanitizer (cargo-fuzz's default) and debug assertions, so integer
# overflow panics too. `cargo fuzz` sets `--cfg fuzzing`, which also compiles the core
# internals that `replay_window` and `reassembly` need (`assoc_core::fuzz_internals`).
#
# Environment: FUZZ_TARGET_DIR (cargo target dir, default fuzz/target), FUZZ_JOBS
# (parallel libFuzzer processes, default: one, in the foreground), FUZZ_ARGS (more
# libFuzzer flags, e.g. "-max_len=8192").
set -euo pipefail
cd "$(dirname "$0")/.."

TARGETS=(decode session pair endpoint store replay_window reassembly recording)
TARGET_DIR=${FUZZ_TARGET_DIR:-fuzz/target}

need_tools() {
    if ! rustup toolchain list | grep -q '^nightly'; then
        rustup toolchain install nightly --profile minimal
    fi
    if ! command -v cargo-fuzz >/dev/null; then
        cargo install --locked cargo-fuzz
    fi
}

check_target() {
    local t
    for t in "${TARGETS[@]}"; do [ "$t" = "$1" ] && return 0; done
    echo "unknown target '$1'; one of: ${TARGETS[*]}" >&2
    exit 2
}

fuzz_one() {
    local t=$1 secs=$2
    check_target "$t"
    mkdir -p "fuzz/target/corpus/$t" "fuzz/corpus/$t"
    echo "== $t for ${secs}s"
    local jobs=()
    [ -n "${FUZZ_JOBS:-}" ] && jobs=(-jobs="$FUZZ_JOBS" -workers="$FUZZ_JOBS")
    # shellcheck disable=SC2086
    cargo +nightly fuzz run --target-dir "$TARGET_DIR" "$t" "fuzz/target/corpus/$t" "fuzz/corpus/$t" -- \
        -max_total_time="$secs" -print_final_stats=1 "${jobs[@]}" ${FUZZ_ARGS:-}
}

coverage() {
    local t=$1
    check_target "$t"
    rustup component add --toolchain nightly llvm-tools-preview >/dev/null 2>&1 \
        || echo "could not add llvm-tools-preview; trying with what is installed" >&2
    mkdir -p "fuzz/target/corpus/$t"
    # A separate target dir: the coverage build must not replace the fuzzing build.
    local cov_dir="$TARGET_DIR/coverage-build"
    cargo +nightly fuzz coverage --target-dir "$cov_dir" "$t" "fuzz/corpus/$t" "fuzz/target/corpus/$t"
    local sysroot host llvm_cov bin
    sysroot=$(rustc +nightly --print sysroot)
    host=$(rustc +nightly -vV | sed -n 's/^host: //p')
    llvm_cov="$sysroot/lib/rustlib/$host/bin/llvm-cov"
    bin="$cov_dir/$host/release/$t"
    [ -x "$bin" ] || bin="$cov_dir/$host/coverage/$host/release/$t"
    if [ ! -x "$llvm_cov" ]; then
        echo "no llvm-cov in the nightly toolchain (llvm-tools-preview missing); profile data is in fuzz/coverage/$t" >&2
        exit 1
    fi
    "$llvm_cov" report "$bin" -instr-profile="fuzz/coverage/$t/coverage.profdata" \
        -ignore-filename-regex='(\.cargo/registry|/rustc/|/library/)'
    echo "per-line view: $llvm_cov show $bin -instr-profile=fuzz/coverage/$t/coverage.profdata -format=html > cov.html"
}

case "${1:-list}" in
    list) printf '%s\n' "${TARGETS[@]}" ;;
    run)
        need_tools
        fuzz_one "${2:?usage: run.sh run TARGET [SECONDS]}" "${3:-600}"
        ;;
    all)
        need_tools
        for t in "${TARGETS[@]}"; do fuzz_one "$t" "${2:-600}"; done
        ;;
    coverage)
        need_tools
        coverage "${2:?usage: run.sh coverage TARGET}"
        ;;
    replay)
        RUSTFLAGS="--cfg fuzzing" CARGO_TARGET_DIR=target/cfg-fuzzing cargo test -p assoc-fuzz --test replay
        ;;
    *)
        sed -n '2,9p' "$0"
        exit 2
        ;;
esac
