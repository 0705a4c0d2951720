//! TCP connection bookkeeping both drivers share: which connections are open, which one is
//! the session's peer (the core decides: [`Links::follow`] mirrors its peer remote), and
//! when the session is told the link is up or down. No protocol logic and no PDU parsing:
//! every transmit names its connection ([`Remote::Conn`]); the only signal taken from the
//! session is its verdict on each PDU.
//!
//! Rules:
//! * a dialed connection is reported `LinkUp { peer: Conn(id) }`: the core sends there;
//! * an accepted connection is reported `LinkUp { peer: None }` if no connection is
//!   current: the core answers INITs on it and makes it the peer's only once a PDU on it
//!   proves the key — so a garbage client that connects cannot divert our traffic;
//! * older connections stay open and their frames still reach the session (it drops
//!   stale ones); they close when the peer closes them or they stall;
//! * `LinkDown` only when the current connection closes;
//! * a connection whose first PDUs are all refused is garbage and is dropped.
//!
//! A many-session endpoint uses the same table through [`Links::for_endpoint`]: no
//! connection is ever current (each session's remote names its own connection, and the
//! endpoint's bearer is always up), so every connection is subject to the garbage rule and
//! to being the oldest unused one dropped at the limit.

use std::collections::BTreeMap;

use assoc_core::{Input, Remote, Verdict};
use bytes::Bytes;

/// Refused PDUs a connection may send before any accepted one, then it is dropped.
const MAX_REFUSED_BEFORE_ACCEPT: u64 = 16;

/// A connection as the driver holds it: a way to queue frames and to close it.
pub(crate) trait ConnHandle {
    /// Queues one framed PDU; `false` if it could not be queued.
    fn send(&self, frame: Bytes) -> bool;
    /// Closes the connection (both directions).
    fn close(&self);
}

struct Conn<H> {
    handle: H,
    accepted: u64,
    refused: u64,
}

/// The TCP connections of one endpoint.
pub(crate) struct Links<H: ConnHandle> {
    conns: BTreeMap<u64, Conn<H>>,
    current: Option<u64>,
    dialing: bool,
    max: usize,
    /// Serving many sessions: no connection becomes current.
    endpoint: bool,
}

impl<H: ConnHandle> Links<H> {
    pub(crate) fn new(max: usize) -> Self {
        Links { conns: BTreeMap::new(), current: None, dialing: false, max: max.max(2), endpoint: false }
    }

    /// The connections of a many-session endpoint, at most `max` (≥ 1) held at once.
    pub(crate) fn for_endpoint(max: usize) -> Self {
        Links { conns: BTreeMap::new(), current: None, dialing: false, max: max.max(1), endpoint: true }
    }

    /// The session asked to dial; `false` if a dial is already under way.
    pub(crate) fn start_dial(&mut self) -> bool {
        !std::mem::replace(&mut self.dialing, true)
    }

    /// A dial completed.
    pub(crate) fn dialed(&mut self, id: u64, handle: H) -> Option<Input> {
        if !std::mem::replace(&mut self.dialing, false) {
            // The driver is stopping: nobody wants this connection.
            handle.close();
            return None;
        }
        self.make_room();
        self.conns.insert(id, Conn { handle, accepted: 0, refused: 0 });
        self.current = Some(id);
        Some(Input::LinkUp { peer: Some(Remote::Conn(id)) })
    }

    /// A dial failed.
    pub(crate) fn dial_failed(&mut self) -> Option<Input> {
        std::mem::replace(&mut self.dialing, false).then_some(Input::DialFailed)
    }

    /// A peer connected to us.
    pub(crate) fn accepted(&mut self, id: u64, handle: H) -> Option<Input> {
        self.make_room();
        self.conns.insert(id, Conn { handle, accepted: 0, refused: 0 });
        if self.current.is_none() && !self.endpoint {
            self.current = Some(id);
            return Some(Input::LinkUp { peer: None });
        }
        None
    }

    /// The session's verdict on a PDU from connection `id` (`None`: not a PDU at all).
    /// Returns whether the connection should be dropped: its first PDUs were all refused.
    pub(crate) fn pdu(&mut self, id: u64, verdict: Option<Verdict>) -> bool {
        let Some(c) = self.conns.get_mut(&id) else { return false };
        match verdict {
            Some(Verdict::Accepted) => c.accepted += 1,
            // Answered statelessly: not garbage, not proof either.
            Some(Verdict::Answered) => {}
            _ => c.refused += 1,
        }
        c.accepted == 0 && c.refused >= MAX_REFUSED_BEFORE_ACCEPT && self.current != Some(id)
    }

    /// Mirrors the core's choice of peer remote: a connection it names becomes current.
    /// Returns `LinkUp` if none was (the session heard from a connection it now follows).
    pub(crate) fn follow(&mut self, peer: Option<Remote>) -> Option<Input> {
        let Some(Remote::Conn(id)) = peer else { return None };
        if !self.conns.contains_key(&id) || self.current == Some(id) {
            return None;
        }
        let was_down = self.current.is_none();
        self.current = Some(id);
        was_down.then_some(Input::LinkUp { peer: None })
    }

    /// Connection `id` closed (or is being dropped).
    pub(crate) fn closed(&mut self, id: u64) -> Option<Input> {
        let c = self.conns.remove(&id)?;
        c.handle.close();
        if self.current == Some(id) {
            self.current = None;
            return Some(Input::LinkDown);
        }
        None
    }

    /// Sends on the connection `to` names; `false` if it is not an open connection or its
    /// queue is full.
    pub(crate) fn send(&self, to: Remote, frame: Bytes) -> bool {
        let Remote::Conn(id) = to else { return false };
        self.conns.get(&id).is_some_and(|c| c.handle.send(frame))
    }

    /// Closes every connection (the session asked to hang up, or the driver stops).
    ///
    /// A dial in flight is *not* forgotten: when it completes it is reported as `LinkUp`.
    /// The session may want the bearer again by then (it can hang up while it is still
    /// waiting for its own dial, see the report on issue 7), and a bearer coming up is
    /// always safe to report — an unneeded one is hung up again after `disconnect_delay`.
    pub(crate) fn hang_up(&mut self) {
        self.current = None;
        for (_, c) in std::mem::take(&mut self.conns) {
            c.handle.close();
        }
    }

    /// Closes everything and forgets a dial in flight (the driver stops).
    pub(crate) fn close_all(&mut self) {
        self.dialing = false;
        self.hang_up();
    }

    /// Closes the current connection, as if the link dropped.
    pub(crate) fn drop_current(&mut self) -> Option<Input> {
        let id = self.current?;
        self.closed(id)
    }

    /// What the driver holds, for snapshots.
    pub(crate) fn state(&self) -> crate::api::BearerState {
        crate::api::BearerState {
            connections: self.conns.len(),
            current: self.current.is_some(),
            dialing: self.dialing,
        }
    }

    /// Connections held.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.conns.len()
    }

    /// At the limit, drops the oldest connection that is not current, preferring ones
    /// that never carried an accepted PDU.
    fn make_room(&mut self) {
        while self.conns.len() >= self.max {
            let current = self.current;
            let victim = self
                .conns
                .iter()
                .filter(|(id, _)| Some(**id) != current)
                .min_by_key(|(id, c)| (c.accepted > 0, **id))
                .map(|(id, _)| *id);
            match victim {
                Some(id) => {
                    tracing::debug!(conn = id, "too many connections: dropping the oldest unused one");
                    self.closed(id);
                }
                None => break,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::rc::Rc;

    #[derive(Clone, Default)]
    struct Fake {
        sent: Rc<RefCell<Vec<Bytes>>>,
        closed: Rc<RefCell<bool>>,
    }
    impl ConnHandle for Fake {
        fn send(&self, frame: Bytes) -> bool {
            self.sent.borrow_mut().push(frame);
            true
        }
        fn close(&self) {
            *self.closed.borrow_mut() = true;
        }
    }

    #[test]
    fn a_garbage_client_cannot_divert_traffic_and_is_dropped() {
        let mut l = Links::new(4);
        let (real, junk) = (Fake::default(), Fake::default());
        assert_eq!(l.accepted(1, real.clone()), Some(Input::LinkUp { peer: None }));
        assert_eq!(l.accepted(2, junk.clone()), None);
        assert!(l.send(Remote::Conn(1), Bytes::from_static(b"x")));
        assert!(!l.send(Remote::Conn(3), Bytes::from_static(b"x")), "no such connection");
        assert_eq!(real.sent.borrow().len(), 1);
        assert!(junk.sent.borrow().is_empty());
        let mut dropped = false;
        for i in 0..MAX_REFUSED_BEFORE_ACCEPT {
            // Answered INITs are not garbage; refusals and undecodable frames are.
            assert!(!l.pdu(2, Some(Verdict::Answered)));
            let refused =
                if i % 2 == 0 { None } else { Some(Verdict::Dropped(assoc_core::DropReason::BadAuth)) };
            dropped = l.pdu(2, refused);
        }
        assert!(dropped);
        assert_eq!(l.closed(2), None, "not current: the link stays up");
        assert!(*junk.closed.borrow());
        assert_eq!(l.closed(1), Some(Input::LinkDown));
    }

    #[test]
    fn dial_answers_once_and_outlives_a_hang_up_but_not_a_stop() {
        let mut l = Links::new(4);
        assert!(l.start_dial());
        assert!(!l.start_dial());
        l.hang_up();
        assert!(!l.start_dial(), "the dial in flight still answers");
        let late = Fake::default();
        assert_eq!(
            l.dialed(5, late.clone()),
            Some(Input::LinkUp { peer: Some(Remote::Conn(5)) }),
            "reported once it completes"
        );
        assert!(!*late.closed.borrow());
        assert!(l.start_dial());
        l.close_all();
        let stopped = Fake::default();
        assert_eq!(l.dialed(6, stopped.clone()), None);
        assert!(*stopped.closed.borrow(), "after a stop, a late dial is closed");
        assert!(l.start_dial());
        assert_eq!(l.dial_failed(), Some(Input::DialFailed));
        assert_eq!(l.dial_failed(), None);
    }

    #[test]
    fn old_connections_stay_until_closed_and_the_one_the_core_follows_is_current() {
        let mut l = Links::new(3);
        let a = Fake::default();
        assert!(l.start_dial());
        assert_eq!(l.dialed(1, a.clone()), Some(Input::LinkUp { peer: Some(Remote::Conn(1)) }));
        let b = Fake::default();
        assert!(l.start_dial());
        assert_eq!(l.dialed(2, b.clone()), Some(Input::LinkUp { peer: Some(Remote::Conn(2)) }));
        assert!(!l.pdu(1, Some(Verdict::Accepted)));
        assert_eq!(l.follow(Some(Remote::Conn(1))), None, "the core went back to the old one");
        assert_eq!(l.follow(Some(Remote::Conn(9))), None, "a connection we do not hold changes nothing");
        assert!(l.send(Remote::Conn(1), Bytes::new()));
        assert_eq!(a.sent.borrow().len(), 1);
        assert_eq!(l.closed(2), None);
        assert_eq!(l.drop_current(), Some(Input::LinkDown));
        assert_eq!(l.len(), 0);
    }

    #[test]
    fn an_endpoint_has_no_current_connection_so_any_garbage_one_is_dropped_and_the_oldest_unused_makes_room()
    {
        let mut l = Links::for_endpoint(2);
        let (a, b, c) = (Fake::default(), Fake::default(), Fake::default());
        assert_eq!(l.accepted(1, a.clone()), None, "the endpoint's bearer is always up");
        assert_eq!(l.accepted(2, b.clone()), None);
        assert!(!l.pdu(2, Some(Verdict::Accepted)));
        assert_eq!(l.accepted(3, c.clone()), None);
        assert_eq!(l.len(), 2);
        assert!(*a.closed.borrow(), "the oldest connection that carried nothing accepted made room");
        assert!(!*b.closed.borrow());
        let dropped = (0..MAX_REFUSED_BEFORE_ACCEPT).map(|_| l.pdu(3, None)).last();
        assert_eq!(dropped, Some(true), "even the first connection of an endpoint can be garbage");
        assert_eq!(l.closed(3), None, "no LinkDown for the endpoint");
        assert!(l.send(Remote::Conn(2), Bytes::new()));
    }
}
