//! Every hidden mutation of the core is caught, with the minimal trace length recorded:
//! the preset that catches it, the property that fails and the number of actions.

use assoc_core::mutation::Mutation;
use assoc_model::check::Outcome;
use assoc_model::mutants;

fn caught(m: Mutation, preset: &str, property: &str, len: usize) {
    let r = mutants::run_one(m);
    let table = r.report.table();
    assert_eq!(r.caught, Some((preset, property, len)), "{}: {table}", m.name());
}

/// The seed failure: the responder keeps the association it has and re-accepts the new
/// attempt's CONFIRM as a duplicate; the restarted initiator ends up alone at epoch 2.
#[test]
fn responder_keyed_by_peer_gets_stuck() {
    caught(Mutation::ResponderKeyedByPeer, "ci", "no stuck state", 12);
}

/// A replayed CONFIRM of an older attempt is accepted below the persisted epoch.
#[test]
fn no_epoch_check_regresses_the_epoch() {
    caught(Mutation::NoEpochCheck, "ci", "epochs monotone", 11);
}

/// The AssociationUp leaves before Epoch(1) is durable; after a crash the same epoch is
/// established and reported again.
#[test]
fn ack_before_fsync_reuses_an_epoch() {
    caught(Mutation::AckBeforeFsync, "ci", "epochs monotone", 8);
}

/// The naive session that assumes the bearer keeps order takes the previous
/// association's ACCEPT as the answer to its new CONFIRM (which was lost): it sits alone
/// on an association the peer never had. The printed trace ends stuck.
#[test]
fn assume_in_order_is_the_seed_failure() {
    let r = mutants::run_one(Mutation::AssumeInOrder);
    let row = r.report.row("no stuck state").expect("AG EF ran");
    match &row.outcome {
        Outcome::Stuck { len, trace, .. } => {
            assert_eq!(*len, 12, "{trace}");
            assert!(trace.contains("network loses alpha → CONFIRM"), "{trace}");
            assert!(trace.contains("beta → ACCEPT (dst_tag=92ce e1) → alpha"), "{trace}");
        }
        other => panic!("expected a stuck state, got {other:?}"),
    }
    assert_eq!(r.caught, Some(("ci-lossy", "no stuck state", 12)));
}

/// Resuming from the sender's own offset after a link drop skips the part the receiver
/// never made durable: the message can never complete.
#[test]
fn resume_from_own_offset_gets_stuck() {
    caught(Mutation::ResumeFromOwnOffset, "ci-resume", "no stuck state", 16);
}

/// The expiry timer gives up a message the receiver may already have: the sender is told
/// non-delivered while nothing on the receiver's disk says so (and 3 steps later the
/// receiver delivers it).
#[test]
fn ndr_in_doubt_on_timer_contradicts_the_receiver() {
    caught(Mutation::NdrInDoubtOnTimer, "ci-expiry", "outcomes backed by the receiver's disk", 10);
}

/// A retransmission that arrives after delivery is handed to the application again.
#[test]
fn no_duplicate_suppression_delivers_twice() {
    caught(Mutation::NoDuplicateSuppression, "ci-msg", "no duplicate delivery", 15);
}

/// Releasing the association cancels the message in flight.
#[test]
fn release_drops_in_flight_creates_an_ndr() {
    caught(Mutation::ReleaseDropsInFlight, "ci-release", "release never creates an NDR", 10);
}

/// The application resubmits its message by app id after a crash that came after custody
/// was durable; without the idempotency check the session queues it a second time and the
/// receiver delivers the same app id under two msns.
#[test]
fn ignore_idempotency_key_delivers_an_app_id_twice() {
    caught(Mutation::IgnoreIdempotencyKey, "ci-crash-msg", "an application id is delivered at most once", 19);
}

/// A side that ignores its restarted peer's RESET keeps the dead association until its
/// probes run out; with no probe timeouts (`ci-reset`) nothing else can end it: stuck.
#[test]
fn ignore_reset_gets_stuck_without_probe_exhaustion() {
    caught(Mutation::IgnoreReset, "ci-reset", "no stuck state", 7);
}

/// Taking any RESET as one for the current association: beta accepted alpha's CONFIRM at
/// e1 while alpha's attempt timed out, so alpha answers beta's PING with a (genuine) RESET
/// for e1; arriving late, it ends beta's new association e2 while alpha establishes e2.
#[test]
fn accept_unverified_reset_tears_down_a_live_association() {
    caught(Mutation::AcceptUnverifiedReset, "ci-reset", "resets only for a lost association", 17);
}

/// The DATA leaves before its msn assignment is durable; alpha crashes, the message looks
/// never sent and expires as non-delivered although beta has it.
#[test]
fn msn_not_durable_before_data_loses_the_assignment() {
    caught(Mutation::MsnNotDurableBeforeData, "ci-msg-crash", "outcomes backed by the receiver's disk", 11);
}

/// A summary claims the msn at the watermark resolved: alpha is told DELIVERED for a message
/// beta has only partly received.
#[test]
fn watermark_off_by_one_reports_a_delivery_that_did_not_happen() {
    caught(Mutation::WatermarkOffByOne, "ci-two", "one outcome, agreeing with the receiver", 14);
}

/// The summary acknowledging the 1024-byte checkpoint leaves while the checkpoint is still
/// in fsync: alpha's resume point is ahead of beta's disk.
#[test]
fn ack_before_checkpoint_durable_is_ahead_of_the_disk() {
    caught(Mutation::AckBeforeCheckpointDurable, "ci-resume", "acks never ahead of durable state", 10);
}

/// The RESOLVED answer to a CANCEL overtakes the record it reports: alpha learns a
/// non-delivery that beta's disk does not hold (a crash of beta now would undo it).
#[test]
fn cancel_answer_before_record_is_not_durable() {
    caught(Mutation::CancelAnswerBeforeRecord, "ci-cancel", "outcomes backed by the receiver's disk", 13);
}

/// The responder's association runs at an epoch it never recorded.
#[test]
fn responder_epoch_not_recorded_runs_above_the_session() {
    caught(Mutation::ResponderEpochNotRecorded, "ci", "association epoch <= session epoch", 4);
}

/// The first attempt's epoch reaches the disk but not the session.
#[test]
fn epoch_not_adopted_runs_below_the_disk() {
    caught(Mutation::EpochNotAdopted, "ci", "session epoch >= durable epoch", 1);
}

/// The second message completes first and is delivered before the first.
#[test]
fn deliver_out_of_order_breaks_msn_order() {
    caught(Mutation::DeliverOutOfOrder, "ci-two", "delivered = submitted, in msn order", 17);
}

/// Aborting the association gives up the message in flight.
#[test]
fn abort_drops_in_flight_changes_a_fate() {
    caught(Mutation::AbortDropsInFlight, "ci-abort", "abort never changes a message's fate", 11);
}

/// The initiator's tags are the wrong way round: the two sides hold different associations
/// at one epoch.
#[test]
fn swapped_initiator_tags_break_agreement() {
    caught(Mutation::SwappedInitiatorTags, "ci", "association agreement", 6);
}

/// The peer's remote follows anything not dropped (the drivers' old inference from `Ok`):
/// an INIT the attacker replays from its own address is answered, and the responder then
/// sends the association's traffic to the attacker.
#[test]
fn remote_follows_any_accepted_goes_to_the_attacker() {
    caught(
        Mutation::RemoteFollowsAnyAccepted,
        "ci-attacker",
        "the peer's remote moves only on proof of the key",
        3,
    );
}
