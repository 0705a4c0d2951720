//! Every hidden mutation of the core must make the checker fail: a counterexample to a
//! safety property or a stuck state (AG EF). Each mutation is tried on the presets in
//! [`MUTANT_PRESETS`] order until one catches it.

use assoc_core::mutation::{Mutation, Mutations};

use crate::check::{self, Options, Outcome, Report};
use crate::preset::{Preset, CI, CI_COLLIDE, CI_LOSSY, CI_PEER_CRASH};

/// Presets tried, in order, for each mutation.
pub const MUTANT_PRESETS: [&Preset; 4] = [&CI, &CI_PEER_CRASH, &CI_COLLIDE, &CI_LOSSY];

/// How one mutation fared.
#[derive(Clone, Debug)]
pub struct MutantResult {
    /// The mutation.
    pub mutation: Mutation,
    /// The preset that caught it, the failing property and the minimal trace length.
    pub caught: Option<(&'static str, &'static str, usize)>,
    /// The report of the catching preset (or of the last one tried).
    pub report: Report,
}

/// Runs the checker on `preset` with `mutation` active (graph pass only: minimal traces).
pub fn check_mutant(preset: &Preset, mutation: Mutation) -> Report {
    let opts = Options { stateright: false, ..Options::default() };
    check::run(preset, Mutations::NONE.with(mutation), &opts)
}

/// The first failure of a report: property name and trace length. Safety failures come
/// before AG EF; among them the shortest trace wins.
pub fn first_failure(r: &Report) -> Option<(&'static str, usize)> {
    let fails = |stuck: bool| {
        r.rows
            .iter()
            .filter(|row| matches!(row.outcome, Outcome::Stuck { .. }) == stuck)
            .filter_map(|row| match &row.outcome {
                Outcome::Counterexample { len, .. } | Outcome::Stuck { len, .. } => Some((row.name, *len)),
                _ => None,
            })
            .min_by_key(|(_, len)| *len)
    };
    fails(false).or_else(|| fails(true))
}

/// Tries `mutation` on each preset until caught.
pub fn run_one(mutation: Mutation) -> MutantResult {
    let mut last = None;
    for preset in MUTANT_PRESETS {
        let report = check_mutant(preset, mutation);
        if let Some((prop, len)) = first_failure(&report) {
            return MutantResult { mutation, caught: Some((preset.name, prop, len)), report };
        }
        last = Some(report);
    }
    MutantResult { mutation, caught: None, report: last.expect("at least one preset") }
}

/// The mutations this model can see: those of the association layer. Message-layer
/// mutations need the message workload, which the model does not have yet.
pub const MODELLED: [Mutation; 4] = [
    Mutation::ResponderKeyedByPeer,
    Mutation::NoEpochCheck,
    Mutation::AckBeforeFsync,
    Mutation::AssumeInOrder,
];

/// Whether the model can see mutation `m`.
pub fn is_modelled(m: Mutation) -> bool {
    MODELLED.contains(&m)
}

/// Runs every modelled mutation.
pub fn run_all() -> Vec<MutantResult> {
    MODELLED.iter().map(|m| run_one(*m)).collect()
}
