//! Every hidden mutation of the core must make the checker fail: a counterexample to a
//! safety property or a stuck state (AG EF). Each mutation is checked on the smallest
//! preset that reaches its decision point ([`preset_for`]); the graph pass stops at the
//! first safety violation (still of minimal depth), so a mutant costs a fraction of a
//! full check unless only AG EF can catch it.

use assoc_core::mutation::{Mutation, Mutations};

use crate::check::{self, Options, Outcome, Report};
use crate::preset::{
    Preset, CI, CI_ABORT, CI_ATTACKER, CI_CANCEL, CI_CRASH_MSG, CI_EXPIRY, CI_LOSSY, CI_MSG, CI_MSG_CRASH,
    CI_RELEASE, CI_RESET, CI_RESUME, CI_TWO,
};

/// The preset on which mutation `m` is checked: the smallest whose workload and
/// environment reach the decision point the mutation changes.
pub fn preset_for(m: Mutation) -> &'static Preset {
    match m {
        Mutation::ResponderKeyedByPeer | Mutation::NoEpochCheck | Mutation::AckBeforeFsync => &CI,
        // The previous association's ACCEPT must overtake a lost CONFIRM.
        Mutation::AssumeInOrder => &CI_LOSSY,
        // A message partly sent when the link drops.
        Mutation::ResumeFromOwnOffset => &CI_RESUME,
        // A sent message whose expiry fires.
        Mutation::NdrInDoubtOnTimer => &CI_EXPIRY,
        // A retransmission after delivery.
        Mutation::NoDuplicateSuppression => &CI_MSG,
        // A release while a message is in flight.
        Mutation::ReleaseDropsInFlight => &CI_RELEASE,
        // A crash after the message was queued, and the resubmission by app id.
        Mutation::IgnoreIdempotencyKey => &CI_CRASH_MSG,
        // A peer restarting under an established association.
        Mutation::IgnoreReset | Mutation::AcceptUnverifiedReset => &CI_RESET,
        // An attacker node that replays what it saw from its own remote.
        Mutation::RemoteFollowsAnyAccepted => &CI_ATTACKER,
        // Handshake and epoch bookkeeping: the association-level preset.
        Mutation::ResponderEpochNotRecorded | Mutation::EpochNotAdopted | Mutation::SwappedInitiatorTags => {
            &CI
        }
        // The sender crashes between a DATA leaving and its msn assignment being durable.
        Mutation::MsnNotDurableBeforeData => &CI_MSG_CRASH,
        // A summary while a later msn is in flight; a message completing before an earlier one.
        Mutation::WatermarkOffByOne | Mutation::DeliverOutOfOrder => &CI_TWO,
        // A checkpoint in the middle of a message.
        Mutation::AckBeforeCheckpointDurable => &CI_RESUME,
        // A CANCEL answered while its record is in fsync.
        Mutation::CancelAnswerBeforeRecord => &CI_CANCEL,
        // An abort with a message in flight.
        Mutation::AbortDropsInFlight => &CI_ABORT,
    }
}

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
    let opts = Options { stateright: false, stop_on_violation: true, ..Options::default() };
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

/// Checks `mutation` on its preset.
pub fn run_one(mutation: Mutation) -> MutantResult {
    let preset = preset_for(mutation);
    let report = check_mutant(preset, mutation);
    let caught = first_failure(&report).map(|(prop, len)| (preset.name, prop, len));
    MutantResult { mutation, caught, report }
}

/// Runs every mutation of the core.
pub fn run_all() -> Vec<MutantResult> {
    Mutation::ALL.iter().map(|m| run_one(*m)).collect()
}
