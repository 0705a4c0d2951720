//! Bearer bookkeeping both drivers share: which TCP connection PDUs go out on, when the
//! session is told the link is up or down, and where UDP datagrams go. No protocol logic:
//! the only signal taken from the session is whether it accepted a PDU.
//!
//! TCP rules:
//! * a dialed connection becomes current at once (`LinkUp`);
//! * an accepted connection becomes current only if there is none, or once the session
//!   accepts a PDU from it — so a garbage client that connects cannot divert our traffic;
//! * older connections stay open and their frames still reach the session (it drops
//!   stale ones); they close when the peer closes them or they stall;
//! * `LinkDown` only when the current connection closes;
//! * a connection whose first PDUs are all refused is garbage and is dropped.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use crate::engine::Verdict;
use assoc_core::wire::{PduType, RawPdu};
use assoc_core::Input;
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
}

impl<H: ConnHandle> Links<H> {
    pub(crate) fn new(max: usize) -> Self {
        Links { conns: BTreeMap::new(), current: None, dialing: false, max: max.max(2) }
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
        Some(Input::LinkUp)
    }

    /// A dial failed.
    pub(crate) fn dial_failed(&mut self) -> Option<Input> {
        std::mem::replace(&mut self.dialing, false).then_some(Input::DialFailed)
    }

    /// A peer connected to us.
    pub(crate) fn accepted(&mut self, id: u64, handle: H) -> Option<Input> {
        self.make_room();
        self.conns.insert(id, Conn { handle, accepted: 0, refused: 0 });
        if self.current.is_none() {
            self.current = Some(id);
            return Some(Input::LinkUp);
        }
        None
    }

    /// A PDU from connection `id` was accepted (`true`) or refused by the session.
    /// Returns an input for the session, and whether the connection should be dropped.
    pub(crate) fn pdu(&mut self, id: u64, accepted: bool) -> (Option<Input>, bool) {
        let Some(c) = self.conns.get_mut(&id) else { return (None, false) };
        if accepted {
            c.accepted += 1;
            let was_down = self.current.is_none();
            self.current = Some(id);
            return (was_down.then_some(Input::LinkUp), false);
        }
        c.refused += 1;
        let garbage = c.accepted == 0 && c.refused >= MAX_REFUSED_BEFORE_ACCEPT && self.current != Some(id);
        (None, garbage)
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

    /// Sends on the current connection; `false` if there is none or its queue is full.
    pub(crate) fn send(&self, frame: Bytes) -> bool {
        self.current.and_then(|id| self.conns.get(&id)).is_some_and(|c| c.handle.send(frame))
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

/// Where UDP datagrams go: the configured peer, or else the source of the last
/// *authenticated* PDU the session accepted.
///
/// An INIT is accepted without authentication (the responder answers it statelessly), so
/// anyone who recorded one can replay it from any address. Its source therefore never
/// becomes the peer address; only the CHALLENGE answering it goes back there. CONFIRM,
/// ACCEPT, STALE and PACKET prove the key (or answer such a PDU), so their source does.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct UdpPeer {
    fixed: Option<SocketAddr>,
    learned: Option<SocketAddr>,
    /// Source of the last accepted INIT: where CHALLENGEs go.
    challenge_to: Option<SocketAddr>,
    /// Source of the last PACKET answered with a RESET: where RESETs go. Like an INIT's, it
    /// proves nothing, so it never becomes the peer address.
    reset_to: Option<SocketAddr>,
}

impl UdpPeer {
    pub(crate) fn new(fixed: Option<SocketAddr>) -> Self {
        UdpPeer { fixed, learned: None, challenge_to: None, reset_to: None }
    }

    /// Where the session's PDUs go, if anywhere.
    pub(crate) fn target(&self) -> Option<SocketAddr> {
        self.fixed.or(self.learned)
    }

    /// Where to send `pdu`: a CHALLENGE to the INIT it answers, a RESET to the PACKET it
    /// answers, anything else to [`target`].
    ///
    /// [`target`]: UdpPeer::target
    pub(crate) fn destination(&self, pdu: &Bytes) -> Option<SocketAddr> {
        if self.fixed.is_some() {
            return self.fixed;
        }
        match pdu_type(pdu) {
            Some(PduType::Challenge) if self.challenge_to.is_some() => self.challenge_to,
            Some(PduType::Reset) if self.reset_to.is_some() => self.reset_to,
            _ => self.target(),
        }
    }

    /// What the session made of the datagram `pdu` from `from`.
    pub(crate) fn after(&mut self, verdict: Verdict, from: SocketAddr, pdu: &Bytes) {
        match verdict {
            Verdict::Accepted => self.accepted_from(from, pdu),
            Verdict::Answered if self.fixed.is_none() => self.reset_to = Some(from),
            Verdict::Answered | Verdict::Refused => {}
        }
    }

    /// The session accepted the datagram `pdu` from `from`.
    pub(crate) fn accepted_from(&mut self, from: SocketAddr, pdu: &Bytes) {
        if self.fixed.is_some() {
            return;
        }
        match pdu_type(pdu) {
            Some(PduType::Init) => self.challenge_to = Some(from),
            // A CHALLENGE proves nothing either; we only get one after sending an INIT,
            // which needed a target already.
            Some(PduType::Challenge) | None => {}
            Some(_) => {
                if self.learned != Some(from) {
                    tracing::debug!(%from, "peer address learned");
                    self.learned = Some(from);
                }
            }
        }
    }
}

fn pdu_type(pdu: &Bytes) -> Option<PduType> {
    RawPdu::parse(pdu).ok().map(|raw| raw.ty)
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
        assert_eq!(l.accepted(1, real.clone()), Some(Input::LinkUp));
        assert_eq!(l.accepted(2, junk.clone()), None);
        assert!(l.send(Bytes::from_static(b"x")));
        assert_eq!(real.sent.borrow().len(), 1);
        assert!(junk.sent.borrow().is_empty());
        let mut dropped = false;
        for _ in 0..MAX_REFUSED_BEFORE_ACCEPT {
            dropped = l.pdu(2, false).1;
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
        assert_eq!(l.dialed(5, late.clone()), Some(Input::LinkUp), "reported once it completes");
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
    fn old_connections_stay_until_closed_and_the_newest_accepted_one_carries_traffic() {
        let mut l = Links::new(3);
        let a = Fake::default();
        assert!(l.start_dial());
        assert_eq!(l.dialed(1, a.clone()), Some(Input::LinkUp));
        let b = Fake::default();
        assert!(l.start_dial());
        assert_eq!(l.dialed(2, b.clone()), Some(Input::LinkUp));
        assert_eq!(l.pdu(1, true), (None, false), "a late frame on the old one switches back");
        assert!(l.send(Bytes::new()));
        assert_eq!(a.sent.borrow().len(), 1);
        assert_eq!(l.closed(2), None);
        assert_eq!(l.drop_current(), Some(Input::LinkDown));
        assert_eq!(l.len(), 0);
    }

    /// A datagram `RawPdu::parse` accepts as type `ty` (the body is never decoded here).
    fn pdu(ty: PduType) -> Bytes {
        let mut d = vec![assoc_core::wire::VERSION, ty as u8, 0, 0];
        d.extend_from_slice(&7u32.to_be_bytes()); // sid
        let dst_tag: u64 = if ty == PduType::Init { 0 } else { 9 };
        d.extend_from_slice(&dst_tag.to_be_bytes());
        d.extend_from_slice(&1u64.to_be_bytes()); // epoch
        d.extend_from_slice(&0u64.to_be_bytes()); // pn
        d.extend_from_slice(&0u32.to_be_bytes()); // body_len
        d.extend_from_slice(&[0; 16]); // auth
        let d = Bytes::from(d);
        assert_eq!(pdu_type(&d), Some(ty));
        d
    }

    #[test]
    fn a_replayed_init_gets_its_challenge_but_cannot_steer_the_peer_address() {
        let (peer, attacker): (SocketAddr, SocketAddr) =
            ("10.0.0.1:7400".parse().unwrap(), "10.6.6.6:9999".parse().unwrap());
        let mut p = UdpPeer::new(None);
        // First contact: the CHALLENGE answers the INIT's source; nothing else has a target.
        p.accepted_from(peer, &pdu(PduType::Init));
        assert_eq!(p.target(), None);
        assert_eq!(p.destination(&pdu(PduType::Challenge)), Some(peer));
        assert_eq!(p.destination(&pdu(PduType::Packet)), None);
        // The authentic CONFIRM makes its source the peer address.
        p.accepted_from(peer, &pdu(PduType::Confirm));
        assert_eq!(p.target(), Some(peer));
        // An INIT replayed from elsewhere: answered there, but data still goes to the peer.
        p.accepted_from(attacker, &pdu(PduType::Init));
        assert_eq!(p.destination(&pdu(PduType::Challenge)), Some(attacker));
        assert_eq!(p.destination(&pdu(PduType::Packet)), Some(peer));
        assert_eq!(p.destination(&pdu(PduType::Accept)), Some(peer));
        // The peer moving (a restart on a new port) is followed once it authenticates.
        let moved: SocketAddr = "10.0.0.1:7401".parse().unwrap();
        p.accepted_from(moved, &pdu(PduType::Packet));
        assert_eq!(p.target(), Some(moved));
    }

    #[test]
    fn a_reset_goes_back_to_the_packet_it_answers_which_never_becomes_the_peer() {
        let (peer, stranger): (SocketAddr, SocketAddr) =
            ("10.0.0.1:7400".parse().unwrap(), "10.6.6.6:9999".parse().unwrap());
        let mut p = UdpPeer::new(None);
        // A restarted endpoint: nothing learned yet; a PACKET it cannot place is answered.
        p.after(Verdict::Answered, stranger, &pdu(PduType::Packet));
        assert_eq!(p.target(), None, "an unauthenticated PACKET steers nothing");
        assert_eq!(p.destination(&pdu(PduType::Reset)), Some(stranger));
        assert_eq!(p.destination(&pdu(PduType::Packet)), None);
        p.after(Verdict::Accepted, peer, &pdu(PduType::Confirm));
        p.after(Verdict::Answered, stranger, &pdu(PduType::Packet));
        assert_eq!(p.target(), Some(peer));
        assert_eq!(p.destination(&pdu(PduType::Accept)), Some(peer));
        p.after(Verdict::Refused, stranger, &pdu(PduType::Packet));
        assert_eq!(p.target(), Some(peer));
    }

    #[test]
    fn a_fixed_peer_address_is_never_overridden() {
        let fixed: SocketAddr = "10.0.0.1:7400".parse().unwrap();
        let mut p = UdpPeer::new(Some(fixed));
        p.accepted_from("10.6.6.6:1".parse().unwrap(), &pdu(PduType::Init));
        p.accepted_from("10.6.6.6:2".parse().unwrap(), &pdu(PduType::Packet));
        assert_eq!(p.destination(&pdu(PduType::Challenge)), Some(fixed));
        assert_eq!(p.destination(&pdu(PduType::Packet)), Some(fixed));
    }
}
