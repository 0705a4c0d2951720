//! What an [`Endpoint`](crate::endpoint::Endpoint) needs to know to evict a session from
//! memory and to answer for it while it is out, and what it sets on the sessions it
//! restores: the cookie secret it answers INITs with while the session is not in memory,
//! and the volatile memory it kept for it (the last drained association).

use super::Session;
use crate::association::Phase;
use crate::crypto::Key;
use crate::sender::Sender;
use crate::timer::Timer;

/// How idle a session is: whether it can leave memory without losing anything.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Idleness {
    /// It holds volatile state (an association, an attempt, queued outputs, records not
    /// yet durable, messages, unacknowledged events, or a timer other than `Disconnect`).
    Busy,
    /// Nothing but its `Disconnect` timer: evictable when memory is short.
    Lingering,
    /// Nothing at all: its state of record is durable and nothing will happen until input
    /// arrives. Dropping it and restoring it from its store later loses nothing.
    Quiet,
}

impl Session {
    /// Replaces the cookie secret (an endpoint shares one across its sessions, so a cookie
    /// it issued statelessly verifies in the session created for the CONFIRM).
    pub(crate) fn use_cookie_secret(&mut self, secret: Key) {
        self.cookie_secret = secret;
    }

    /// The association released in order and drained last, as `(epoch, local_tag)`: kept
    /// by an endpoint while the session is out of memory, so that it absorbs that
    /// association's late packets as the session would.
    pub(crate) fn drained(&self) -> Option<(u64, u64)> {
        self.drained
    }

    /// Gives a restored session back the drained association [`Session::drained`] reported
    /// when it left memory.
    pub(crate) fn remember_drained(&mut self, drained: Option<(u64, u64)>) {
        self.drained = drained;
    }

    /// How idle the session is (see [`Idleness`]).
    pub(crate) fn idleness(&self) -> Idleness {
        let busy = self.assoc.is_some()
            || self.attempt.is_some()
            || self.hold_open
            || self.deferred_flush.is_some()
            || self.outbox.len() > 0
            || !self.outbox.all_durable()
            || Sender::has_work(&self.store)
            || !self.store.inbox.is_empty()
            || !self.store.outcomes.is_empty()
            || self.timers.armed().any(|t| t != Timer::Disconnect);
        if busy {
            Idleness::Busy
        } else if self.timers.is_armed(Timer::Disconnect) {
            Idleness::Lingering
        } else {
            Idleness::Quiet
        }
    }

    /// Whether the session only holds an established association nobody needs: not held
    /// open, nothing in flight, no message, no unacknowledged event, no queued output.
    /// Releasing it loses nothing (keepalives alone would hold it up for ever).
    pub(crate) fn releasable(&self) -> bool {
        self.assoc.as_ref().is_some_and(|a| a.phase == Phase::Established && !a.has_in_flight())
            && self.attempt.is_none()
            && !self.hold_open
            && self.outbox.len() == 0
            && !Sender::has_work(&self.store)
            && self.store.inbox.is_empty()
            && self.store.outcomes.is_empty()
    }
}
