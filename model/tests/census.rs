//! The census (`assoc-model census`, [`assoc_model::census`]) counts what the graph pass
//! counts: on every CI preset its unique count is the pinned one, it does not depend on the
//! thread count, it finds a mutant's safety violation at the depth of the graph pass's
//! minimal counterexample, and it stops cleanly at its memory limit.

use assoc_core::mutation::{Mutation, Mutations};
use assoc_model::census::{self, Census, CensusOptions, End};
use assoc_model::check::{self, Options, Outcome};
use assoc_model::preset::{self, Preset};

fn census(p: &Preset, m: Mutations, threads: usize, max_rss: Option<u64>) -> Census {
    let opts =
        CensusOptions { threads, scratch: std::env::temp_dir(), max_rss, max_time: None, progress: None };
    census::run(p, m, &opts).expect("the scratch directory is writable")
}

#[test]
fn census_counts_every_ci_preset_as_pinned() {
    let ci: Vec<_> = preset::ALL.iter().filter(|p| p.name.starts_with("ci")).collect();
    assert!(ci.len() >= 10, "the CI presets are found by name");
    for p in ci {
        let pinned = preset::expected_unique(p).expect("every CI preset is pinned");
        let c = census(p, Mutations::NONE, 2, None);
        // Exact: at ~10^5 states a fingerprint collision has probability < 10^-9.
        assert_eq!(c.unique, pinned as u64, "preset {}\n{}", p.name, c.render());
        assert_eq!(c.end, End::Complete, "{}", c.render());
        assert_eq!(c.levels.iter().sum::<u64>(), c.unique);
        assert!(c.states >= c.unique);
    }
}

#[test]
fn census_results_do_not_depend_on_the_thread_count() {
    let one = census(&preset::CI_LOSSY, Mutations::NONE, 1, None);
    let three = census(&preset::CI_LOSSY, Mutations::NONE, 3, None);
    assert_eq!((one.unique, one.states, &one.levels), (three.unique, three.states, &three.levels));
}

#[test]
fn census_finds_a_mutants_violation_at_the_minimal_depth() {
    let m = Mutations::NONE.with(Mutation::NoEpochCheck);
    let c = census(&preset::CI, m, 2, None);
    let End::Violation { property, depth, state } = &c.end else {
        panic!("the mutant was not caught:\n{}", c.render());
    };
    assert!(state.contains("VIOLATION"), "{state}");
    let report = check::run(&preset::CI, m, &Options::default());
    let row = report.row(property).expect("the property is checked");
    match row.outcome {
        Outcome::Counterexample { len, .. } => assert_eq!(*depth, len + 1, "{}", report.table()),
        ref o => panic!("the graph pass found no counterexample to {property}: {o:?}"),
    }
    // The census stops after the violating level.
    assert_eq!(c.depth(), *depth);
    // The same violation whatever the thread count (packed ids are not compared).
    let one = census(&preset::CI, m, 1, None);
    assert_eq!(one.end, c.end);
}

#[test]
fn census_stops_cleanly_at_its_memory_limit() {
    let c = census(&preset::CI, Mutations::NONE, 2, Some(1));
    assert_eq!(c.end, End::MemoryLimit);
    assert!(c.unique < preset::expected_unique(&preset::CI).expect("pinned") as u64);
    assert!(c.render().contains("at least"), "{}", c.render());
}

#[test]
fn census_stops_cleanly_at_its_time_limit() {
    let opts = CensusOptions {
        threads: 2,
        scratch: std::env::temp_dir(),
        max_rss: None,
        max_time: Some(std::time::Duration::ZERO),
        progress: None,
    };
    let c = census::run(&preset::CI, Mutations::NONE, &opts).expect("the scratch directory is writable");
    assert_eq!(c.end, End::TimeLimit);
    assert!(c.unique < preset::expected_unique(&preset::CI).expect("pinned") as u64);
    assert!(c.render().contains("stopped at the time limit"), "{}", c.render());
}
