//! The compact model ([`assoc_model::compact`]) is the same model as the full-state one:
//! on small presets, the graph pass over each finds the same states, the same shortest
//! traces (action indices found on the compact model replay on the full one) and the same
//! AG EF figures, with and without a mutation of the core.

use assoc_core::mutation::{Mutation, Mutations};
use assoc_model::check::{self, Options, Report};
use assoc_model::preset::{self, Preset};

fn both(p: &Preset, m: Mutations) -> (Report, Report) {
    let compact = check::run(p, m, &Options::default());
    let full = check::run(p, m, &Options { full_states: true, ..Options::default() });
    (compact, full)
}

fn same(p: &Preset, m: Mutations) {
    let (c, f) = both(p, m);
    let (cg, fg) = (c.graph.expect("graph pass ran"), f.graph.expect("graph pass ran"));
    assert_eq!((cg.states, cg.unique, cg.depth), (fg.states, fg.unique, fg.depth), "{}", c.table());
    assert_eq!(c.agef_detail, f.agef_detail, "{}", c.table());
    assert_eq!(c.rows.len(), f.rows.len());
    for (a, b) in c.rows.iter().zip(&f.rows) {
        assert_eq!(a.outcome, b.outcome, "{}: compact\n{}\nfull\n{}", a.name, c.table(), f.table());
    }
    assert!(c.parts.is_some() && f.parts.is_none());
}

#[test]
fn ci_presets_explore_the_same_graph() {
    for p in [&preset::CI, &preset::CI_COLLIDE, &preset::CI_MSG, &preset::CI_PEER_CRASH] {
        same(p, Mutations::NONE);
    }
}

#[test]
fn counterexamples_are_the_same_traces() {
    same(&preset::CI, Mutations::NONE.with(Mutation::NoEpochCheck));
    same(&preset::CI_MSG, Mutations::NONE.with(Mutation::NoDuplicateSuppression));
    same(&preset::CI, Mutations::NONE.with(Mutation::ResponderKeyedByPeer));
}

/// A compact state stands for exactly one full state, and the session was stepped far
/// fewer times than there are states (the point of the step cache).
#[test]
fn steps_are_cached() {
    let c = check::run(&preset::CI_RESUME, Mutations::NONE, &Options::default());
    let parts = c.parts.expect("compact pass");
    let graph = c.graph.expect("graph pass ran");
    assert!(parts.session_steps * 10 < graph.states as u64, "{parts:?} vs {graph:?}");
}

/// The graph pass expands each level on several threads and merges in order: every
/// count, trace and AG EF figure is the same whatever the thread count.
#[test]
fn results_do_not_depend_on_the_thread_count() {
    for (p, m) in [
        (&preset::CI_LOSSY, Mutations::NONE),
        (&preset::CI_MSG, Mutations::NONE),
        (&preset::CI_LOSSY, Mutations::NONE.with(Mutation::AssumeInOrder)),
    ] {
        let one = check::run(p, m, &Options::default());
        let three = check::run(p, m, &Options { threads: 3, ..Options::default() });
        let (a, b) = (one.graph.expect("ran"), three.graph.expect("ran"));
        assert_eq!((a.states, a.unique, a.depth), (b.states, b.unique, b.depth), "{}", three.table());
        assert_eq!(one.agef_detail, three.agef_detail);
        for (x, y) in one.rows.iter().zip(&three.rows) {
            assert_eq!(x.outcome, y.outcome, "{}", x.name);
        }
    }
}
