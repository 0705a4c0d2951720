//! The model's properties as a test suite: one test per (property, CI preset) pair. Each
//! preset is explored once (the first of its tests to run does it; the others wait and
//! read the same report), so the suite costs one exploration per preset. Every core
//! mutation is asserted caught, and `RESULTS.md` is regenerated and compared.
//!
//! The `deep` and `standard` presets are `#[ignore]`d here: run them with the command in
//! their doc comment.

use std::sync::OnceLock;

use assoc_core::mutation::{Mutation, Mutations};
use assoc_model::check::{self, Options, Outcome, Report};
use assoc_model::mutants::{self, MutantResult};
use assoc_model::preset::{self, Preset};
use assoc_model::properties::{self, NO_STUCK_STATE};
use assoc_proofs::{explore, results_markdown, BLESS, CI_PRESETS};

static REPORTS: [OnceLock<Report>; CI_PRESETS.len()] = [const { OnceLock::new() }; CI_PRESETS.len()];
static MUTANTS: [OnceLock<MutantResult>; Mutation::ALL.len()] =
    [const { OnceLock::new() }; Mutation::ALL.len()];

fn report(name: &str) -> &'static Report {
    let i = CI_PRESETS.iter().position(|p| p.name == name).expect("a CI preset");
    REPORTS[i].get_or_init(|| explore(CI_PRESETS[i]))
}

/// The result of mutation `m`, computed once (each mutation in its own cell, so that
/// the tests run them in parallel).
fn mutant(m: Mutation) -> &'static MutantResult {
    let i = Mutation::ALL.iter().position(|x| *x == m).expect("listed in ALL");
    MUTANTS[i].get_or_init(|| mutants::run_one(m))
}

/// Asserts that property `property` of preset `preset` holds (or, for `sometimes`, is
/// reached).
fn holds(preset: &str, property: &str) {
    let r = report(preset);
    let row = r.row(property).unwrap_or_else(|| panic!("{preset} has no row {property:?}"));
    assert!(!row.outcome.failed(), "{}", r.table());
}

macro_rules! pairs {
    ($($test:ident: $preset:literal, $property:expr;)*) => {
        $(
            #[test]
            fn $test() {
                holds($preset, $property);
            }
        )*
        /// Every (preset, property) pair with a test above.
        const PAIRS: &[(&str, &str)] = &[$(($preset, $property)),*];
    };
}

const AGREEMENT: &str = "association agreement";
const REMOTE_FOLLOWS_PROOF: &str = "the peer's remote moves only on proof of the key";
const MONOTONE: &str = "epochs monotone";
const NOT_BELOW_DISK: &str = "session epoch >= durable epoch";
const RECORDED: &str = "association epoch <= session epoch";
const ESTABLISHED: &str = "association established";
const REESTABLISHED: &str = "re-established after a disruption";
const COLLISION: &str = "collision";
const NO_DUP: &str = "no duplicate delivery";
const AS_SUBMITTED: &str = "delivered = submitted, in msn order";
const ONE_OUTCOME: &str = "one outcome, agreeing with the receiver";
const ACKS: &str = "acks never ahead of durable state";
const DISK_BACKED: &str = "outcomes backed by the receiver's disk";
const ABORT_FATE: &str = "abort never changes a message's fate";
const WINDOWS: &str = "windows respected";
const NO_NDR: &str = "release never creates an NDR";
const ALL_DELIVERED: &str = "every message delivered";
const RESUMED: &str = "resumed from a checkpoint";
const RESETS: &str = "resets only for a lost association";
const APP_ID_ONCE: &str = "an application id is delivered at most once";

pairs! {
    ci_agreement: "ci", AGREEMENT;
    ci_monotone: "ci", MONOTONE;
    ci_not_below_disk: "ci", NOT_BELOW_DISK;
    ci_recorded: "ci", RECORDED;
    ci_established: "ci", ESTABLISHED;
    ci_reestablished: "ci", REESTABLISHED;
    ci_no_stuck_state: "ci", NO_STUCK_STATE;
    ci_resets: "ci", RESETS;

    ci_peer_crash_agreement: "ci-peer-crash", AGREEMENT;
    ci_peer_crash_monotone: "ci-peer-crash", MONOTONE;
    ci_peer_crash_not_below_disk: "ci-peer-crash", NOT_BELOW_DISK;
    ci_peer_crash_recorded: "ci-peer-crash", RECORDED;
    ci_peer_crash_established: "ci-peer-crash", ESTABLISHED;
    ci_peer_crash_reestablished: "ci-peer-crash", REESTABLISHED;
    ci_peer_crash_resets: "ci-peer-crash", RESETS;

    ci_collide_agreement: "ci-collide", AGREEMENT;
    ci_collide_monotone: "ci-collide", MONOTONE;
    ci_collide_not_below_disk: "ci-collide", NOT_BELOW_DISK;
    ci_collide_recorded: "ci-collide", RECORDED;
    ci_collide_established: "ci-collide", ESTABLISHED;
    ci_collide_collision: "ci-collide", COLLISION;
    ci_collide_no_stuck_state: "ci-collide", NO_STUCK_STATE;

    ci_lossy_agreement: "ci-lossy", AGREEMENT;
    ci_lossy_monotone: "ci-lossy", MONOTONE;
    ci_lossy_not_below_disk: "ci-lossy", NOT_BELOW_DISK;
    ci_lossy_recorded: "ci-lossy", RECORDED;
    ci_lossy_established: "ci-lossy", ESTABLISHED;
    ci_lossy_reestablished: "ci-lossy", REESTABLISHED;
    ci_lossy_no_stuck_state: "ci-lossy", NO_STUCK_STATE;
    ci_lossy_resets: "ci-lossy", RESETS;

    ci_msg_agreement: "ci-msg", AGREEMENT;
    ci_msg_monotone: "ci-msg", MONOTONE;
    ci_msg_not_below_disk: "ci-msg", NOT_BELOW_DISK;
    ci_msg_recorded: "ci-msg", RECORDED;
    ci_msg_no_dup: "ci-msg", NO_DUP;
    ci_msg_app_id_once: "ci-msg", APP_ID_ONCE;
    ci_msg_as_submitted: "ci-msg", AS_SUBMITTED;
    ci_msg_one_outcome: "ci-msg", ONE_OUTCOME;
    ci_msg_disk_backed: "ci-msg", DISK_BACKED;
    ci_msg_acks: "ci-msg", ACKS;
    ci_msg_windows: "ci-msg", WINDOWS;
    ci_msg_no_ndr: "ci-msg", NO_NDR;
    ci_msg_all_delivered: "ci-msg", ALL_DELIVERED;
    ci_msg_established: "ci-msg", ESTABLISHED;
    ci_msg_no_stuck_state: "ci-msg", NO_STUCK_STATE;

    ci_resume_agreement: "ci-resume", AGREEMENT;
    ci_resume_monotone: "ci-resume", MONOTONE;
    ci_resume_not_below_disk: "ci-resume", NOT_BELOW_DISK;
    ci_resume_recorded: "ci-resume", RECORDED;
    ci_resume_no_dup: "ci-resume", NO_DUP;
    ci_resume_app_id_once: "ci-resume", APP_ID_ONCE;
    ci_resume_as_submitted: "ci-resume", AS_SUBMITTED;
    ci_resume_one_outcome: "ci-resume", ONE_OUTCOME;
    ci_resume_disk_backed: "ci-resume", DISK_BACKED;
    ci_resume_acks: "ci-resume", ACKS;
    ci_resume_windows: "ci-resume", WINDOWS;
    ci_resume_no_ndr: "ci-resume", NO_NDR;
    ci_resume_all_delivered: "ci-resume", ALL_DELIVERED;
    ci_resume_resumed: "ci-resume", RESUMED;
    ci_resume_established: "ci-resume", ESTABLISHED;
    ci_resume_reestablished: "ci-resume", REESTABLISHED;
    ci_resume_no_stuck_state: "ci-resume", NO_STUCK_STATE;
    ci_resume_resets: "ci-resume", RESETS;

    ci_expiry_agreement: "ci-expiry", AGREEMENT;
    ci_expiry_monotone: "ci-expiry", MONOTONE;
    ci_expiry_not_below_disk: "ci-expiry", NOT_BELOW_DISK;
    ci_expiry_recorded: "ci-expiry", RECORDED;
    ci_expiry_no_dup: "ci-expiry", NO_DUP;
    ci_expiry_app_id_once: "ci-expiry", APP_ID_ONCE;
    ci_expiry_as_submitted: "ci-expiry", AS_SUBMITTED;
    ci_expiry_one_outcome: "ci-expiry", ONE_OUTCOME;
    ci_expiry_disk_backed: "ci-expiry", DISK_BACKED;
    ci_expiry_acks: "ci-expiry", ACKS;
    ci_expiry_windows: "ci-expiry", WINDOWS;
    ci_expiry_no_ndr: "ci-expiry", NO_NDR;
    ci_expiry_all_delivered: "ci-expiry", ALL_DELIVERED;
    ci_expiry_established: "ci-expiry", ESTABLISHED;
    ci_expiry_no_stuck_state: "ci-expiry", NO_STUCK_STATE;

    ci_release_agreement: "ci-release", AGREEMENT;
    ci_release_monotone: "ci-release", MONOTONE;
    ci_release_not_below_disk: "ci-release", NOT_BELOW_DISK;
    ci_release_recorded: "ci-release", RECORDED;
    ci_release_no_dup: "ci-release", NO_DUP;
    ci_release_app_id_once: "ci-release", APP_ID_ONCE;
    ci_release_as_submitted: "ci-release", AS_SUBMITTED;
    ci_release_one_outcome: "ci-release", ONE_OUTCOME;
    ci_release_disk_backed: "ci-release", DISK_BACKED;
    ci_release_acks: "ci-release", ACKS;
    ci_release_windows: "ci-release", WINDOWS;
    ci_release_no_ndr: "ci-release", NO_NDR;
    ci_release_all_delivered: "ci-release", ALL_DELIVERED;
    ci_release_established: "ci-release", ESTABLISHED;
    ci_release_no_stuck_state: "ci-release", NO_STUCK_STATE;

    ci_reset_agreement: "ci-reset", AGREEMENT;
    ci_reset_monotone: "ci-reset", MONOTONE;
    ci_reset_not_below_disk: "ci-reset", NOT_BELOW_DISK;
    ci_reset_recorded: "ci-reset", RECORDED;
    ci_reset_established: "ci-reset", ESTABLISHED;
    ci_reset_reestablished: "ci-reset", REESTABLISHED;
    ci_reset_resets: "ci-reset", RESETS;
    ci_reset_no_stuck_state: "ci-reset", NO_STUCK_STATE;
    ci_two_agreement: "ci-two", AGREEMENT;
    ci_two_monotone: "ci-two", MONOTONE;
    ci_two_not_below_disk: "ci-two", NOT_BELOW_DISK;
    ci_two_recorded: "ci-two", RECORDED;
    ci_two_no_dup: "ci-two", NO_DUP;
    ci_two_as_submitted: "ci-two", AS_SUBMITTED;
    ci_two_one_outcome: "ci-two", ONE_OUTCOME;
    ci_two_disk_backed: "ci-two", DISK_BACKED;
    ci_two_acks: "ci-two", ACKS;
    ci_two_windows: "ci-two", WINDOWS;
    ci_two_no_ndr: "ci-two", NO_NDR;
    ci_two_all_delivered: "ci-two", ALL_DELIVERED;
    ci_two_established: "ci-two", ESTABLISHED;
    ci_two_no_stuck_state: "ci-two", NO_STUCK_STATE;
    ci_recv_crash_agreement: "ci-recv-crash", AGREEMENT;
    ci_recv_crash_monotone: "ci-recv-crash", MONOTONE;
    ci_recv_crash_not_below_disk: "ci-recv-crash", NOT_BELOW_DISK;
    ci_recv_crash_recorded: "ci-recv-crash", RECORDED;
    ci_recv_crash_no_dup: "ci-recv-crash", NO_DUP;
    ci_recv_crash_as_submitted: "ci-recv-crash", AS_SUBMITTED;
    ci_recv_crash_one_outcome: "ci-recv-crash", ONE_OUTCOME;
    ci_recv_crash_disk_backed: "ci-recv-crash", DISK_BACKED;
    ci_recv_crash_acks: "ci-recv-crash", ACKS;
    ci_recv_crash_windows: "ci-recv-crash", WINDOWS;
    ci_recv_crash_no_ndr: "ci-recv-crash", NO_NDR;
    ci_recv_crash_all_delivered: "ci-recv-crash", ALL_DELIVERED;
    ci_recv_crash_established: "ci-recv-crash", ESTABLISHED;
    ci_recv_crash_reestablished: "ci-recv-crash", REESTABLISHED;
    ci_abort_agreement: "ci-abort", AGREEMENT;
    ci_abort_monotone: "ci-abort", MONOTONE;
    ci_abort_not_below_disk: "ci-abort", NOT_BELOW_DISK;
    ci_abort_recorded: "ci-abort", RECORDED;
    ci_abort_no_dup: "ci-abort", NO_DUP;
    ci_abort_as_submitted: "ci-abort", AS_SUBMITTED;
    ci_abort_one_outcome: "ci-abort", ONE_OUTCOME;
    ci_abort_disk_backed: "ci-abort", DISK_BACKED;
    ci_abort_acks: "ci-abort", ACKS;
    ci_abort_windows: "ci-abort", WINDOWS;
    ci_abort_no_ndr: "ci-abort", NO_NDR;
    ci_abort_abort_fate: "ci-abort", ABORT_FATE;
    ci_abort_all_delivered: "ci-abort", ALL_DELIVERED;
    ci_abort_established: "ci-abort", ESTABLISHED;
    ci_abort_no_stuck_state: "ci-abort", NO_STUCK_STATE;
    ci_two_app_id_once: "ci-two", APP_ID_ONCE;
    ci_recv_crash_app_id_once: "ci-recv-crash", APP_ID_ONCE;
    ci_recv_crash_resets: "ci-recv-crash", RESETS;
    ci_abort_app_id_once: "ci-abort", APP_ID_ONCE;
    ci_attacker_agreement: "ci-attacker", AGREEMENT;
    ci_attacker_monotone: "ci-attacker", MONOTONE;
    ci_attacker_not_below_disk: "ci-attacker", NOT_BELOW_DISK;
    ci_attacker_recorded: "ci-attacker", RECORDED;
    ci_attacker_established: "ci-attacker", ESTABLISHED;
    ci_attacker_reestablished: "ci-attacker", REESTABLISHED;
    ci_attacker_resets: "ci-attacker", RESETS;
    ci_attacker_no_stuck_state: "ci-attacker", NO_STUCK_STATE;
    ci_attacker_remote_follows_proof: "ci-attacker", REMOTE_FOLLOWS_PROOF;
}

/// The pairs above are exactly the rows the CI presets check: a property added to the
/// model (or one that starts applying to a preset) needs its test here.
#[test]
fn every_pair_has_a_test() {
    for p in CI_PRESETS {
        let applicable: Vec<&str> = properties::ALL
            .iter()
            .filter(|x| (x.applies)(p))
            .map(|x| x.name)
            .chain(p.agef.then_some(NO_STUCK_STATE))
            .collect();
        let tested: Vec<&str> = PAIRS.iter().filter(|(q, _)| *q == p.name).map(|(_, x)| *x).collect();
        for name in &applicable {
            assert!(tested.contains(name), "no test for ({}, {name:?})", p.name);
        }
        for name in &tested {
            assert!(applicable.contains(name), "({}, {name:?}) does not apply", p.name);
        }
    }
}

macro_rules! caught {
    ($($test:ident: $m:expr;)*) => {
        $(
            #[test]
            fn $test() {
                let r = mutant($m);
                assert!(r.caught.is_some(), "{} missed:\n{}", $m.name(), r.report.table());
            }
        )*
    };
}

caught! {
    responder_keyed_by_peer_is_caught: Mutation::ResponderKeyedByPeer;
    no_epoch_check_is_caught: Mutation::NoEpochCheck;
    ack_before_fsync_is_caught: Mutation::AckBeforeFsync;
    resume_from_own_offset_is_caught: Mutation::ResumeFromOwnOffset;
    ndr_in_doubt_on_timer_is_caught: Mutation::NdrInDoubtOnTimer;
    no_duplicate_suppression_is_caught: Mutation::NoDuplicateSuppression;
    release_drops_in_flight_is_caught: Mutation::ReleaseDropsInFlight;
    assume_in_order_is_caught: Mutation::AssumeInOrder;
    ignore_idempotency_key_is_caught: Mutation::IgnoreIdempotencyKey;
    ignore_reset_is_caught: Mutation::IgnoreReset;
    accept_unverified_reset_is_caught: Mutation::AcceptUnverifiedReset;
    msn_not_durable_before_data_is_caught: Mutation::MsnNotDurableBeforeData;
    watermark_off_by_one_is_caught: Mutation::WatermarkOffByOne;
    ack_before_checkpoint_durable_is_caught: Mutation::AckBeforeCheckpointDurable;
    cancel_answer_before_record_is_caught: Mutation::CancelAnswerBeforeRecord;
    responder_epoch_not_recorded_is_caught: Mutation::ResponderEpochNotRecorded;
    epoch_not_adopted_is_caught: Mutation::EpochNotAdopted;
    deliver_out_of_order_is_caught: Mutation::DeliverOutOfOrder;
    abort_drops_in_flight_is_caught: Mutation::AbortDropsInFlight;
    swapped_initiator_tags_is_caught: Mutation::SwappedInitiatorTags;
    remote_follows_any_accepted_is_caught: Mutation::RemoteFollowsAnyAccepted;
}

/// `RESULTS.md` is what the CI presets and the mutations give today.
#[test]
fn results_table_is_fresh() {
    let reports: Vec<(&Preset, &Report)> = CI_PRESETS.iter().map(|p| (*p, report(p.name))).collect();
    let mutants: Vec<MutantResult> = Mutation::ALL.iter().map(|m| mutant(*m).clone()).collect();
    let fresh = results_markdown(&reports, &mutants);
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/RESULTS.md");
    if std::env::var_os("ASSOC_BLESS").is_some() {
        std::fs::write(path, &fresh).expect("write RESULTS.md");
        return;
    }
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        committed == fresh,
        "proofs/RESULTS.md is stale; regenerate it with:\n  {BLESS}\n\nfresh:\n{fresh}"
    );
}

fn deep_check(p: &Preset) {
    let opts = Options { stateright: false, ..Options::default() };
    let r = check::run(p, Mutations::NONE, &opts);
    assert!(!r.failed(), "{}", r.table());
    if p.agef {
        assert_eq!(r.row(NO_STUCK_STATE).map(|row| &row.outcome), Some(&Outcome::Holds));
    }
}

/// The default preset: minutes in release.
/// `cargo test --release -p assoc-proofs --test model standard -- --ignored`
/// (or `cargo run --release -p assoc-model -- check`).
#[test]
#[ignore = "minutes in release; see the doc comment for the command"]
fn standard() {
    deep_check(&preset::STANDARD);
}

/// The association-level preset without messages (lossy, dial failures): minutes.
/// `cargo run --release -p assoc-model -- check --preset assoc`
#[test]
#[ignore = "minutes in release; see the doc comment for the command"]
fn assoc() {
    deep_check(&preset::ASSOC);
}

/// The deep preset: hours, if it fits in memory.
/// `cargo run --release -p assoc-model -- check --preset deep --graph-only`
#[test]
#[ignore = "hours; see the doc comment for the command"]
fn deep() {
    deep_check(&preset::DEEP);
}
