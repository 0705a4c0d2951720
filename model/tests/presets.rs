//! The CI presets: every property holds, and the exact number of unique states is pinned.
//! Each preset is explored twice: by the graph pass on the compact model (the default
//! engine of `check`) and by stateright's own checker on full states (`--cross-check`);
//! both must count the same unique states, so that the compact model is the same model.
//!
//! If a deliberate change of the core moves a count, re-run
//! `cargo run --release -p assoc-model -- check --cross-check --preset <P>` and update the
//! number.

use assoc_core::mutation::Mutations;
use assoc_model::check::{self, Options, Outcome, Strategy};
use assoc_model::preset::{self, Preset};

fn check_preset(p: &Preset, unique: usize) {
    let report = check::run(p, Mutations::NONE, &Options { stateright: true, ..Options::default() });
    let table = report.table();
    assert!(!report.failed(), "{table}");
    let sr = report.stateright.expect("stateright ran");
    let graph = report.graph.expect("graph pass ran");
    assert_eq!(sr.unique, graph.unique, "stateright and the graph pass disagree\n{table}");
    assert_eq!(sr.unique, unique, "unique states of preset {} changed\n{table}", p.name);
    assert_eq!(preset::expected_unique(p), Some(unique), "model/expected.toml is stale for {}", p.name);
    if p.agef {
        let row = report.row("no stuck state").expect("AG EF ran");
        assert_eq!(row.outcome, Outcome::Holds, "{table}");
    }
}

#[test]
fn ci_attacker() {
    check_preset(&preset::CI_ATTACKER, 21462);
}

#[test]
fn ci() {
    check_preset(&preset::CI, 3651);
}

#[test]
fn ci_peer_crash() {
    check_preset(&preset::CI_PEER_CRASH, 15290);
}

#[test]
fn ci_collide() {
    check_preset(&preset::CI_COLLIDE, 2758);
}

#[test]
fn ci_msg() {
    check_preset(&preset::CI_MSG, 8_747);
}

#[test]
fn ci_reset() {
    check_preset(&preset::CI_RESET, 22_170);
}

#[test]
fn ci_expiry() {
    check_preset(&preset::CI_EXPIRY, 21_068);
}

#[test]
fn ci_two() {
    check_preset(&preset::CI_TWO, 230_399);
}

#[test]
fn ci_recv_crash() {
    check_preset(&preset::CI_RECV_CRASH, 124_254);
}

#[test]
fn ci_abort() {
    check_preset(&preset::CI_ABORT, 31_957);
}

/// A larger preset checked by the graph pass alone (every property, AG EF included).
fn graph_check(p: &Preset, unique: usize) {
    let opts = Options { stateright: false, ..Options::default() };
    let report = check::run(p, Mutations::NONE, &opts);
    let table = report.table();
    assert!(!report.failed(), "{table}");
    assert_eq!(
        report.graph.expect("graph pass ran").unique,
        unique,
        "unique states of preset {} changed\n{table}",
        p.name
    );
}

#[test]
fn ci_cancel() {
    graph_check(&preset::CI_CANCEL, 613_014);
}

#[test]
fn ci_msg_crash() {
    graph_check(&preset::CI_MSG_CRASH, 674_672);
}

#[test]
fn ci_lossy() {
    check_preset(&preset::CI_LOSSY, 92_658);
}

#[test]
fn ci_resume() {
    check_preset(&preset::CI_RESUME, 132_058);
}

#[test]
fn ci_release() {
    check_preset(&preset::CI_RELEASE, 164_765);
}

#[test]
fn dfs_and_two_threads_see_the_same_space() {
    let n = check::stateright_unique(&preset::CI, Strategy::Dfs, 2);
    assert_eq!(n, 3651);
}

#[test]
#[ignore = "seconds in release, longer in the test profile; run with --ignored --release"]
fn standard() {
    let report = check::run(&preset::STANDARD, Mutations::NONE, &Options::default());
    assert!(!report.failed(), "{}", report.table());
}

#[test]
#[ignore = "a deep run; use the CLI: check --preset deep"]
fn deep() {
    let report = check::run(&preset::DEEP, Mutations::NONE, &Options::default());
    assert!(!report.failed(), "{}", report.table());
}

/// Every dimension of issue #21 in one preset: does not finish with today's engine.
#[test]
#[ignore = "does not finish; use the CLI: check --preset coverage --graph-only"]
fn coverage() {
    let opts = Options { stateright: false, ..Options::default() };
    let report = check::run(&preset::COVERAGE, Mutations::NONE, &opts);
    assert!(!report.failed(), "{}", report.table());
}

/// Guided walks reach what uniform ones do not: every message delivered (same preset,
/// seed and number of steps).
#[test]
fn guided_walks_reach_delivery_where_uniform_ones_do_not() {
    use assoc_model::walk::{simulate, simulate_guided, Guide};
    let model = preset::STANDARD.model(Mutations::NONE);
    let delivered = |r: &assoc_model::walk::WalkReport| {
        r.reached.iter().any(|(name, hit)| *name == "every message delivered" && *hit)
    };
    let uniform = simulate(&model, 1, 20_000, 80);
    let guided = simulate_guided(&model, 1, 20_000, 80, Guide::Progress { fault_pct: 5 });
    assert!(uniform.violation.is_none() && guided.violation.is_none());
    assert!(!delivered(&uniform), "uniform walks now reach delivery: make this test harder");
    assert!(delivered(&guided));
}

#[test]
fn random_walks_find_no_violation() {
    let model = preset::STANDARD.model(Mutations::NONE);
    let r = assoc_model::walk::simulate(&model, 7, 3_000, 60);
    assert!(r.violation.is_none());
    assert!(r.reached.iter().any(|(_, hit)| *hit));
}
