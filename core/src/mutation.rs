//! Deliberately broken variants of the protocol, for proving that the model checker and the
//! tests can fail. Each [`Mutation`] re-introduces one historical bug at its exact decision
//! point in the shipping code.
//!
//! This module, `Config::mutations` and every hook exist only with the `mutations` cargo
//! feature: without it each hook (`mutated!` in the crate root) is the literal `false`, so
//! the shipping build holds neither the switches nor the broken branches. The adapters
//! never enable the feature (CI checks this). Hidden from the public docs.

/// One historical bug.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum Mutation {
    /// The seed failure: the responder keys its state by peer name only, so a CONFIRM of a
    /// new attempt is taken as a duplicate of the association it already has.
    ResponderKeyedByPeer = 0,
    /// A CONFIRM is accepted without comparing its epoch to the persisted one.
    NoEpochCheck = 1,
    /// Outputs leave before the records they depend on are durable (ack before fsync).
    AckBeforeFsync = 2,
    /// A new association resumes each message from the sender's own offset instead of the
    /// receiver's durable one.
    ResumeFromOwnOffset = 3,
    /// An expired in-doubt message is given up (non-delivered) without the receiver's word.
    NdrInDoubtOnTimer = 4,
    /// The receiver hands a re-sent message below its watermark to the application again.
    NoDuplicateSuppression = 5,
    /// An orderly release gives up the messages in flight (non-delivered).
    ReleaseDropsInFlight = 6,
    /// The naive session that assumes the bearer keeps order (the seed failure as a
    /// variant): an initiator waiting for ACCEPT takes the next ACCEPT it receives as the
    /// answer to its current CONFIRM, without checking its tag, epoch or authenticator.
    /// Hooks: the session's `confirming_for` and the ACCEPT authenticator check.
    AssumeInOrder = 7,
    /// A DATA packet leaves before the `Assigned` record of the msn it carries is durable:
    /// after a sender crash the message looks never sent and may be given up while the
    /// receiver delivers it. Hook: the session's flush (packet vs. its records).
    MsnNotDurableBeforeData = 8,
    /// The receiver's summary reports its watermark one too high (`resolved_below` is the
    /// first *unresolved* msn, not one past it): the sender takes the msn at the watermark
    /// as delivered. Hook: `Receiver::summary`.
    WatermarkOffByOne = 9,
    /// The packet carrying the receiver's summary leaves without waiting for the checkpoint
    /// (`Chunk`) it reports: a resume point acknowledged for bytes not yet durable. Hook:
    /// the session's flush.
    AckBeforeCheckpointDurable = 10,
    /// On the cancellation path only, the receiver's RESOLVED answer leaves before its
    /// `Resolved` record is durable: after a receiver crash the sender has an outcome the
    /// receiver never recorded. Hook: the session's handling of a CANCEL frame.
    CancelAnswerBeforeRecord = 11,
    /// The responder establishes an accepted association without recording its epoch.
    /// Hook: the session's `on_confirm`.
    ResponderEpochNotRecorded = 12,
    /// A new epoch is written to disk but not adopted in memory: the session runs below its
    /// durable epoch. Hook: the session's `persist`.
    EpochNotAdopted = 13,
    /// The receiver delivers any complete message, not only the one at its watermark.
    /// Hook: `Receiver::deliverable`.
    DeliverOutOfOrder = 14,
    /// An application abort gives up the messages in flight (non-delivered). Hook: the
    /// session's `Input::Abort`.
    AbortDropsInFlight = 15,
    /// The initiator records the association's tags the wrong way round. Hook: the
    /// session's `on_accept`.
    SwappedInitiatorTags = 16,
    /// The loser's simultaneous-open tie-break is inverted, so both sides think they win:
    /// each ignores the other's INIT while its own attempt is pending and refuses the
    /// other's CONFIRM at equal epochs; colliding attempts fail together and are retried at
    /// higher epochs. Hooks: the session's `on_init` and `on_confirm` (`peer_wins`).
    InvertedTieBreak = 17,
    /// The sender assigns one msn beyond its message window (`lowest unresolved +
    /// msg_window`): the receiver may have to hold more messages than it agreed to. Hook:
    /// `Sender`'s assignment loop.
    MsgWindowExceeded = 18,
    /// A submission is never matched against the application ids the session holds: a
    /// resubmission after a crash before `Event::Queued` queues the message a second time.
    IgnoreIdempotencyKey = 30,
    /// A verified RESET is ignored: the side keeps an association its peer lost and notices
    /// only when its probes run out. Hook: the session's `on_reset`.
    IgnoreReset = 40,
    /// A RESET is acted on without checking that it names the current association or that
    /// its trailer verifies: a late RESET of an earlier association, or a forged one,
    /// tears down an association the peer still holds. Hook: the session's `on_reset`.
    AcceptUnverifiedReset = 41,
    /// The peer's remote follows the source of any datagram the session did not drop —
    /// an INIT it answered, a CONFIRM whose failed proof it reported, a replayed CONFIRM —
    /// not only one that proved the key (the drivers' inference from `Ok` of issue 14).
    /// Hook: the session's `handle_input`.
    RemoteFollowsAnyAccepted = 50,
}

impl Mutation {
    /// Every mutation.
    pub const ALL: [Mutation; 23] = [
        Mutation::ResponderKeyedByPeer,
        Mutation::NoEpochCheck,
        Mutation::AckBeforeFsync,
        Mutation::ResumeFromOwnOffset,
        Mutation::NdrInDoubtOnTimer,
        Mutation::NoDuplicateSuppression,
        Mutation::ReleaseDropsInFlight,
        Mutation::AssumeInOrder,
        Mutation::MsnNotDurableBeforeData,
        Mutation::WatermarkOffByOne,
        Mutation::AckBeforeCheckpointDurable,
        Mutation::CancelAnswerBeforeRecord,
        Mutation::ResponderEpochNotRecorded,
        Mutation::EpochNotAdopted,
        Mutation::DeliverOutOfOrder,
        Mutation::AbortDropsInFlight,
        Mutation::SwappedInitiatorTags,
        Mutation::InvertedTieBreak,
        Mutation::MsgWindowExceeded,
        Mutation::IgnoreIdempotencyKey,
        Mutation::IgnoreReset,
        Mutation::AcceptUnverifiedReset,
        Mutation::RemoteFollowsAnyAccepted,
    ];

    /// A stable name, for command lines and reports.
    pub fn name(self) -> &'static str {
        match self {
            Mutation::ResponderKeyedByPeer => "responder-keyed-by-peer",
            Mutation::NoEpochCheck => "no-epoch-check",
            Mutation::AckBeforeFsync => "ack-before-fsync",
            Mutation::ResumeFromOwnOffset => "resume-from-own-offset",
            Mutation::NdrInDoubtOnTimer => "ndr-in-doubt-on-timer",
            Mutation::NoDuplicateSuppression => "no-duplicate-suppression",
            Mutation::ReleaseDropsInFlight => "release-drops-in-flight",
            Mutation::AssumeInOrder => "assume-in-order",
            Mutation::MsnNotDurableBeforeData => "msn-not-durable-before-data",
            Mutation::WatermarkOffByOne => "watermark-off-by-one",
            Mutation::AckBeforeCheckpointDurable => "ack-before-checkpoint-durable",
            Mutation::CancelAnswerBeforeRecord => "cancel-answer-before-record",
            Mutation::ResponderEpochNotRecorded => "responder-epoch-not-recorded",
            Mutation::EpochNotAdopted => "epoch-not-adopted",
            Mutation::DeliverOutOfOrder => "deliver-out-of-order",
            Mutation::AbortDropsInFlight => "abort-drops-in-flight",
            Mutation::SwappedInitiatorTags => "swapped-initiator-tags",
            Mutation::InvertedTieBreak => "inverted-tie-break",
            Mutation::MsgWindowExceeded => "msg-window-exceeded",
            Mutation::IgnoreIdempotencyKey => "ignore-idempotency-key",
            Mutation::IgnoreReset => "ignore-reset",
            Mutation::AcceptUnverifiedReset => "accept-unverified-reset",
            Mutation::RemoteFollowsAnyAccepted => "remote-follows-any-accepted",
        }
    }
}

/// A set of active mutations. Empty by default.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Mutations(u64);

impl Mutations {
    /// No mutation: the shipping protocol.
    pub const NONE: Mutations = Mutations(0);

    /// The set with `m` added.
    pub fn with(self, m: Mutation) -> Mutations {
        Mutations(self.0 | 1 << (m as u64))
    }

    /// Whether `m` is active.
    pub fn is_active(self, m: Mutation) -> bool {
        self.0 & (1 << (m as u64)) != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique() {
        for (i, a) in Mutation::ALL.iter().enumerate() {
            for b in &Mutation::ALL[i + 1..] {
                assert_ne!(a.name(), b.name());
            }
        }
    }

    #[test]
    fn switches_are_independent() {
        let set = Mutations::NONE.with(Mutation::NoEpochCheck);
        assert!(set.is_active(Mutation::NoEpochCheck));
        assert!(!set.is_active(Mutation::AckBeforeFsync));
    }
}
