//! One endpoint, many peers (issue #17): a sans-IO [`Endpoint`] that serves every
//! configured peer's [`Session`] on one socket.
//!
//! The endpoint holds the peer table (session id → config, and the session when it is in
//! memory), routes every datagram by the identifiers in its header (`PROTOCOL.md`,
//! "Endpoint"; never by its source), answers INITs statelessly for peers whose session is
//! not in memory and PACKETs for them with a RESET where the session would, and asks the
//! driver for a session's store when an authentic CONFIRM arrives for one (or a PACKET
//! while it does not know the session's epoch). Sessions stay independent [`Session`]s:
//! the endpoint only routes, answers statelessly, schedules and evicts.
//!
//! ## Methods by direction
//!
//! * **Configuration**: [`Endpoint::new`], [`Endpoint::add_peer`].
//! * **Inputs**: [`Endpoint::handle_datagram`] (a received datagram),
//!   [`Endpoint::handle_timeout`] (the clock reached the deadline of the last
//!   [`EndpointOutput::Wait`]; the one way time comes in),
//!   [`Endpoint::session_input`] and [`Endpoint::submit`] (the application and the
//!   driver's `Persisted` for one session), [`Endpoint::restore`] (a session's store, loaded
//!   on request or because the application needs the session).
//! * **Outputs**: [`Endpoint::poll_output`] until it returns [`EndpointOutput::Wait`],
//!   which carries the earliest deadline of any session. Each other output names its
//!   session id; `Persist` records go to that session's store, and
//!   are reported back with [`Endpoint::session_input`]`(sid, Input::Persisted { .. })`.
//!
//! ## The bearer
//!
//! The endpoint serves a datagram socket that is always up: a session it brings into
//! memory gets [`Input::LinkUp`] at once, a `Dial` is answered with `LinkUp` inside the
//! endpoint, and a `HangUp` is absorbed. Neither reaches the driver.
//!
//! ## Eviction
//!
//! A session whose state of record is all durable and which has nothing to do — no
//! association, attempt, message, unacknowledged event, queued output or armed timer — is
//! dropped from memory when its outputs are drained (after a release, that is once its
//! disconnect delay has passed). The endpoint keeps its config, its persisted epoch, its
//! last drained association and where its peer last proved its key (handed back on
//! restore, so the session sends first to that remote); its store stays with the driver. Memory holds at most
//! [`EndpointConfig::max_live_sessions`] sessions; when a restore finds them all busy it
//! is refused, and one session that holds nothing but an established association is
//! released so that a later try finds room.
//!
//! ## A run loop
//!
//! ```
//! use assoc_core::endpoint::{Endpoint, EndpointConfig, EndpointOutput, Routed};
//! use assoc_core::{Config, Input, Instant, Output, PeerName, Psk, Remote, SessionStore};
//!
//! let me = PeerName::new(b"hub").unwrap();
//! let mut endpoint = Endpoint::new(EndpointConfig::default(), 7).unwrap();
//! for (sid, name) in [(1, "mta-a"), (2, "mta-b")] {
//!     let peer = PeerName::new(name.as_bytes()).unwrap();
//!     let mut cfg = Config::new(me, peer, Psk::new(b"sixteen byte key").unwrap());
//!     cfg.sid = sid;
//!     endpoint.add_peer(cfg, None).unwrap(); // its address is learned when it proves its key
//! }
//! let now = Instant::ZERO;
//! # let received: Vec<(Remote, bytes::Bytes)> = Vec::new();
//! for (from, datagram) in received {
//!     match endpoint.handle_datagram(now, from, datagram.clone()) {
//!         Ok(Routed::NeedsSession { sid }) => {
//!             // Load the session's store (an empty one if it never ran) and retry.
//!             endpoint.restore(now, sid, SessionStore::default()).unwrap();
//!             let _ = endpoint.handle_datagram(now, from, datagram);
//!         }
//!         Ok(_) => {}
//!         Err(_) => {} // counted and dropped; the error says why
//!     }
//! }
//! let next_wakeup = loop {
//!     match endpoint.poll_output() {
//!         EndpointOutput::Session { sid, output: Output::Persist { seq, .. } } => {
//!             // Write the record to session `sid`'s store, durably, then:
//!             endpoint.session_input(now, sid, Input::Persisted { upto: seq }).unwrap();
//!         }
//!         EndpointOutput::Session { output: Output::Transmit(_t), .. } => {
//!             // Send _t.datagram to _t.to on the socket.
//!         }
//!         EndpointOutput::Session { .. } => {} // events for the application
//!         EndpointOutput::Wait { until } => break until,
//!     }
//! };
//! // Sleep until `next_wakeup` or a datagram, whichever comes first; at the deadline:
//! # let next_wakeup = next_wakeup.unwrap_or(now);
//! endpoint.handle_timeout(next_wakeup);
//! ```

mod route;
mod schedule;
mod stateless;
mod types;

pub use route::route_key;
pub use types::{EndpointConfig, EndpointError, EndpointOutput, EndpointStats, Routed};

use alloc::boxed::Box;
use alloc::collections::{BTreeMap, VecDeque};
use alloc::sync::Arc;
use bytes::Bytes;

use crate::config::Config;
use crate::crypto::{InitRateLimiter, Key};
use crate::input::{DropReason, Input, Verdict};
use crate::message::{MessageId, Submission};
use crate::output::{BearerRequest, Output, Transmit};
use crate::persist::SessionStore;
use crate::remote::Remote;
use crate::rng::Rng;
use crate::session::{Idleness, Session};
use crate::source_limit::SourceLimiter;
use crate::time::Instant;
use crate::wire::{PduType, RawPdu};
use route::Route;
use schedule::Schedule;

/// One configured peer.
#[derive(Clone, Debug)]
struct Peer {
    cfg: Arc<Config>,
    /// Where the peer is, if configured (else learned from its authenticated PDUs).
    remote: Option<Remote>,
    slot: Slot,
}

/// Where a peer's session is.
#[derive(Clone, Debug)]
enum Slot {
    /// In memory.
    Live(Box<Session>),
    /// With the driver's store only.
    Stored(Absent),
}

/// What the endpoint keeps of a session not in memory: what it needs to answer for it
/// statelessly as the session would, and the volatile state it hands back on restore.
#[derive(Clone, Copy, Debug, Default)]
struct Absent {
    /// Its persisted epoch when it left memory; `None` while it has not been in memory
    /// since the endpoint started (only its store knows).
    epoch: Option<u64>,
    /// The association it released in order and drained last, as `(epoch, local_tag)`.
    drained: Option<(u64, u64)>,
    /// Where its peer last proved its key (or the configured remote it was given): it
    /// moves only inside the session, on proof of the key.
    remote: Option<Remote>,
    /// A PACKET already asked for the session to learn its epoch: PACKETs ask once.
    asked: bool,
}

/// A sans-IO endpoint serving many peers on one socket. See the module docs.
#[derive(Clone, Debug)]
pub struct Endpoint {
    cfg: EndpointConfig,
    rng: Rng,
    cookie_secret: Key,
    peers: BTreeMap<u32, Peer>,
    live: usize,
    schedule: Schedule,
    answers: VecDeque<(u32, Transmit)>,
    budget: InitRateLimiter,
    reset_budget: InitRateLimiter,
    sources: SourceLimiter,
    now: Instant,
    stats: EndpointStats,
}

impl Endpoint {
    /// An endpoint with no peers. `seed` must be fresh per process start (and secret with
    /// a real crypto suite): the cookie secret and every session's seed come from it.
    pub fn new(config: EndpointConfig, seed: u64) -> Result<Endpoint, EndpointError> {
        config.validate().map_err(EndpointError::Config)?;
        let mut rng = Rng::new(seed);
        let mut secret = [0u8; 32];
        rng.fill(&mut secret);
        Ok(Endpoint {
            cfg: config,
            rng,
            cookie_secret: Key(secret),
            peers: BTreeMap::new(),
            live: 0,
            schedule: Schedule::default(),
            answers: VecDeque::new(),
            budget: InitRateLimiter::new(config.unauthentic_init_budget),
            reset_budget: InitRateLimiter::new(config.reset_budget),
            sources: SourceLimiter::new(config.source_limits),
            now: Instant::ZERO,
            stats: EndpointStats::default(),
        })
    }

    /// Adds a peer (not in memory until needed). Its `sid` must be unique on the endpoint.
    /// `remote`: where the peer is, if known (its configured address); it is the peer's
    /// remote whenever its session enters memory. Without one, the session learns it from
    /// the peer's first authenticated PDU (`PROTOCOL.md`, "Remotes and address validation")
    /// and cannot open an association before.
    pub fn add_peer(&mut self, config: Config, remote: Option<Remote>) -> Result<(), EndpointError> {
        config.validate().map_err(EndpointError::Config)?;
        let sid = config.sid;
        if self.peers.contains_key(&sid) {
            return Err(EndpointError::DuplicateSession { sid });
        }
        self.peers.insert(sid, Peer { cfg: Arc::new(config), remote, slot: Slot::Stored(Absent::default()) });
        Ok(())
    }

    // ----- getters -----

    /// Configured peers.
    pub fn peers(&self) -> usize {
        self.peers.len()
    }
    /// Sessions in memory (at most `max_live_sessions`).
    pub fn live_sessions(&self) -> usize {
        self.live
    }
    /// The session `sid` if it is in memory.
    pub fn session(&self, sid: u32) -> Option<&Session> {
        match &self.peers.get(&sid)?.slot {
            Slot::Live(s) => Some(s),
            Slot::Stored(_) => None,
        }
    }
    /// The config of peer `sid`.
    pub fn peer_config(&self, sid: u32) -> Option<&Config> {
        self.peers.get(&sid).map(|p| &*p.cfg)
    }
    /// The endpoint's own counters.
    pub fn stats(&self) -> &EndpointStats {
        &self.stats
    }

    // ----- inputs -----

    /// Routes one datagram received from `from` (`PROTOCOL.md`, "Endpoint"). `Err` says why
    /// nothing was done with it; [`Routed::NeedsSession`] asks for a restore and the
    /// datagram again.
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        from: Remote,
        datagram: Bytes,
    ) -> Result<Routed, EndpointError> {
        self.now = self.now.max(now);
        self.stats.datagrams_in += 1;
        let raw = RawPdu::parse(&datagram).inspect_err(|_| self.stats.undecodable += 1)?;
        let sid = raw.header.sid;
        let Some(peer) = self.peers.get_mut(&sid) else {
            self.stats.unknown_session += 1;
            return Err(EndpointError::UnknownSession { sid });
        };
        let (in_memory, absent) = match &peer.slot {
            Slot::Live(_) => (true, Absent::default()),
            Slot::Stored(absent) => (false, *absent),
        };
        let epoch = absent.epoch.unwrap_or(0);
        // Per-source limits for INITs whose MAC fails, shared by every session: charged
        // before anything answers (an authentic INIT is never charged).
        let authentic_init = raw.ty == PduType::Init
            && peer.cfg.suite.verify_handshake(
                &crate::handshake::handshake_mac_key(&peer.cfg),
                &datagram,
                &raw,
            );
        if raw.ty == PduType::Init && !authentic_init && !self.sources.allow(now, from) {
            self.stats.stateless_dropped += 1;
            return Err(EndpointError::Dropped { sid, reason: DropReason::SourceLimited });
        }
        match route::route(raw.ty, in_memory) {
            Route::Session => self
                .feed_session(now, sid, Input::Datagram { from, datagram })
                .map(|verdict| Routed::Session { sid, verdict }),
            Route::AnswerPacket => self.answer_packet(now, from, sid, absent, &raw, datagram.len()),
            Route::NoSession => {
                self.stats.no_session += 1;
                Err(EndpointError::NoSession { sid, ty: raw.ty })
            }
            Route::AnswerInit => {
                if self.answers.len() >= self.cfg.max_queued_answers {
                    self.stats.stateless_dropped += 1;
                    return Err(EndpointError::Dropped { sid, reason: DropReason::Backpressure });
                }
                let ctx = stateless::Context {
                    cfg: &peer.cfg,
                    secret: &self.cookie_secret,
                    persisted_epoch: epoch,
                    now,
                };
                match stateless::answer_init(&ctx, &raw, &datagram, authentic_init, &mut self.budget) {
                    Ok((challenge, authentic)) => {
                        self.stats.inits_answered += 1;
                        self.stats.inits_unauthentic += u64::from(!authentic);
                        self.answers.push_back((sid, Transmit { to: from, datagram: challenge }));
                        Ok(Routed::Answered { sid, authentic })
                    }
                    Err(e) => Err(self.count_stateless(e)),
                }
            }
            Route::VerifyConfirm => {
                let ctx = stateless::Context {
                    cfg: &peer.cfg,
                    secret: &self.cookie_secret,
                    persisted_epoch: epoch,
                    now,
                };
                match stateless::verify_confirm(&ctx, &raw, &datagram) {
                    Ok(()) => {
                        self.stats.sessions_needed += 1;
                        Ok(Routed::NeedsSession { sid })
                    }
                    Err(e) => Err(self.count_stateless(e)),
                }
            }
        }
    }

    /// A PACKET for session `sid`, not in memory (`absent`): the session's own reset rule
    /// decides, with what the endpoint kept when it left. While the endpoint does not know
    /// its epoch, the session is asked for (once). A RESET is charged to the source's
    /// bucket and the endpoint's reset budget.
    fn answer_packet(
        &mut self,
        now: Instant,
        from: Remote,
        sid: u32,
        absent: Absent,
        raw: &RawPdu,
        received_len: usize,
    ) -> Result<Routed, EndpointError> {
        let Some(epoch) = absent.epoch else {
            // Only while there is room: a restore refused as `Full` would release someone's
            // association, which a PACKET (proving nothing) must never cause.
            let room = self.live < self.cfg.max_live_sessions || self.lingering_victim().is_some();
            if absent.asked || !room || !self.sources.allow(now, from) {
                self.stats.stateless_dropped += 1;
                return Err(EndpointError::Dropped { sid, reason: DropReason::Stale });
            }
            if let Some(Peer { slot: Slot::Stored(a), .. }) = self.peers.get_mut(&sid) {
                a.asked = true;
            }
            self.stats.sessions_needed += 1;
            return Ok(Routed::NeedsSession { sid });
        };
        let Some(peer) = self.peers.get(&sid) else {
            return Err(EndpointError::UnknownSession { sid });
        };
        let refused = |reason| EndpointError::Dropped { sid, reason };
        let reset = stateless::answer_packet(&peer.cfg, epoch, absent.drained, raw, received_len)
            .and_then(|reset| {
                if self.answers.len() >= self.cfg.max_queued_answers {
                    Err(refused(DropReason::Backpressure))
                } else if !self.sources.allow(now, from) {
                    Err(refused(DropReason::SourceLimited))
                } else if !self.reset_budget.try_acquire(now) {
                    Err(refused(DropReason::Stale))
                } else {
                    Ok(reset)
                }
            })
            .inspect_err(|_| self.stats.stateless_dropped += 1)?;
        self.stats.resets_sent += 1;
        self.answers.push_back((sid, Transmit { to: from, datagram: reset }));
        Ok(Routed::Reset { sid })
    }

    fn count_stateless(&mut self, e: EndpointError) -> EndpointError {
        match e {
            EndpointError::AuthFailed { .. } => self.stats.auth_failures += 1,
            EndpointError::Decode(_) => self.stats.undecodable += 1,
            _ => self.stats.stateless_dropped += 1,
        }
        e
    }

    /// Brings session `sid` into memory from `store` (its durable state; an empty store
    /// for a peer that never ran). The bearer counts as up at once. If
    /// `max_live_sessions` are in memory, one idle but for its disconnect timer (the one
    /// whose timer is due first) is evicted first; if none is, [`EndpointError::Full`].
    pub fn restore(&mut self, now: Instant, sid: u32, store: SessionStore) -> Result<(), EndpointError> {
        self.now = self.now.max(now);
        let (cfg, configured, absent) = match self.peers.get(&sid) {
            None => return Err(EndpointError::UnknownSession { sid }),
            Some(Peer { slot: Slot::Live(_), .. }) => return Err(EndpointError::AlreadyInMemory { sid }),
            Some(Peer { cfg, remote, slot: Slot::Stored(absent) }) => (cfg.clone(), *remote, *absent),
        };
        if self.live >= self.cfg.max_live_sessions && !self.evict_one_lingering() {
            // Make room for the next try: release one association nobody needs (it leaves
            // memory once drained and its disconnect delay has passed).
            self.release_one_idle(now);
            self.stats.full += 1;
            return Err(EndpointError::Full { live: self.live });
        }
        let mut session = Session::restore_validated(cfg, store, self.rng.next_u64());
        session.use_cookie_secret(self.cookie_secret);
        session.remember_drained(absent.drained);
        // A datagram socket is up as soon as it is bound. The peer is where it last proved
        // its key, else where it is configured to be.
        let _ = session.handle_input(now, Input::LinkUp { peer: absent.remote.or(configured) });
        if let Some(p) = self.peers.get_mut(&sid) {
            p.slot = Slot::Live(Box::new(session));
        }
        self.live += 1;
        self.stats.restores += 1;
        self.settle(sid, true);
        Ok(())
    }

    /// Feeds one input to session `sid`, which must be in memory (`Persisted`,
    /// `Acknowledge`, `Open`, `Release`, …), and says what the session made of it.
    pub fn session_input(&mut self, now: Instant, sid: u32, input: Input) -> Result<Verdict, EndpointError> {
        self.now = self.now.max(now);
        self.feed_session(now, sid, input)
    }

    /// [`Session::submit`] on session `sid`, which must be in memory.
    pub fn submit(
        &mut self,
        now: Instant,
        sid: u32,
        submission: Submission,
    ) -> Result<MessageId, EndpointError> {
        self.now = self.now.max(now);
        let session = self.live_mut(sid)?;
        let result = session.submit(now, submission).map_err(|error| EndpointError::Submit { sid, error });
        self.settle(sid, true);
        result
    }

    /// The clock reached the deadline of the last [`EndpointOutput::Wait`]: every session
    /// whose deadline is due handles its timers ([`Input::Timeout`]); no other session is
    /// touched. The endpoint's one time input.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.now = self.now.max(now);
        for sid in self.schedule.due(now) {
            if let Some(Peer { slot: Slot::Live(s), .. }) = self.peers.get_mut(&sid) {
                let _ = s.handle_input(now, Input::Timeout);
            }
            self.settle(sid, true);
        }
    }

    // ----- outputs -----

    /// The next output of any session, with its session id; [`EndpointOutput::Wait`] with
    /// the earliest deadline of any session in memory when every session is drained.
    /// Stateless answers come first. A session drained to its end is evicted if it is
    /// quiet (see the module docs). An idle call is O(log n).
    #[must_use = "an output is something to do; drain until `Wait`"]
    pub fn poll_output(&mut self) -> EndpointOutput {
        if let Some((sid, t)) = self.answers.pop_front() {
            return EndpointOutput::Session { sid, output: Output::Transmit(t) };
        }
        loop {
            let Some(sid) = self.schedule.first_ready() else {
                return EndpointOutput::Wait { until: self.schedule.next() };
            };
            let now = self.now;
            let Some(Peer { slot: Slot::Live(s), remote, .. }) = self.peers.get_mut(&sid) else {
                self.schedule.clear_ready(sid);
                continue;
            };
            match s.poll_output() {
                // The peer is where it last proved its key, else where it is configured to
                // be; with neither the session counts this as a failed dial and backs off.
                Output::Bearer(BearerRequest::Dial) => {
                    let peer = s.peer_remote().or(*remote);
                    let _ = s.handle_input(now, Input::LinkUp { peer });
                }
                Output::Bearer(BearerRequest::HangUp) => {}
                Output::Wait { .. } => self.settle(sid, false),
                output => return EndpointOutput::Session { sid, output },
            }
        }
    }

    // ----- internals -----

    /// The earliest deadline of any session in memory (what [`EndpointOutput::Wait`]
    /// carries), for the crate's simulators.
    #[cfg(feature = "sim")]
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.schedule.next()
    }

    fn live_mut(&mut self, sid: u32) -> Result<&mut Session, EndpointError> {
        match self.peers.get_mut(&sid) {
            None => Err(EndpointError::UnknownSession { sid }),
            Some(Peer { slot: Slot::Stored(_), .. }) => Err(EndpointError::NotInMemory { sid }),
            Some(Peer { slot: Slot::Live(s), .. }) => Ok(s),
        }
    }

    fn feed_session(&mut self, now: Instant, sid: u32, input: Input) -> Result<Verdict, EndpointError> {
        let session = self.live_mut(sid)?;
        let result = session.handle_input(now, input).map_err(|error| EndpointError::Input { sid, error });
        self.settle(sid, true);
        result
    }

    /// After session `sid` was touched: re-index its deadline; `may_have_output` marks it
    /// for draining; a session not marked for draining that is quiet leaves memory.
    fn settle(&mut self, sid: u32, may_have_output: bool) {
        let Some(Peer { slot: Slot::Live(s), .. }) = self.peers.get(&sid) else {
            self.schedule.remove(sid);
            return;
        };
        self.schedule.set(sid, s.next_deadline());
        if may_have_output {
            self.schedule.mark_ready(sid);
            return;
        }
        self.schedule.clear_ready(sid);
        if s.idleness() == Idleness::Quiet {
            self.evict(sid);
        }
    }

    fn evict(&mut self, sid: u32) {
        let Some(p) = self.peers.get_mut(&sid) else { return };
        if let Slot::Live(s) = &p.slot {
            p.slot = Slot::Stored(Absent {
                epoch: Some(s.store().epoch),
                drained: s.drained(),
                remote: s.peer_remote(),
                asked: false,
            });
            self.live -= 1;
            self.stats.evictions += 1;
        }
        self.schedule.remove(sid);
    }

    /// Releases the association of one session that holds nothing but it (the one whose
    /// deadline is due first), so that memory frees up when every session is busy.
    fn release_one_idle(&mut self, now: Instant) {
        let idle = self.schedule.by_deadline().find(
            |sid| matches!(self.peers.get(sid), Some(Peer { slot: Slot::Live(s), .. }) if s.releasable()),
        );
        if let Some(sid) = idle {
            self.stats.released_for_room += 1;
            let _ = self.feed_session(now, sid, Input::Release);
        }
    }

    /// The session, idle but for its disconnect timer, whose timer is due first.
    fn lingering_victim(&self) -> Option<u32> {
        self.schedule.by_deadline().find(|sid| {
            !self.schedule.is_ready(*sid)
                && matches!(
                    self.peers.get(sid),
                    Some(Peer { slot: Slot::Live(s), .. }) if s.idleness() == Idleness::Lingering
                )
        })
    }

    /// Evicts the [`Endpoint::lingering_victim`].
    fn evict_one_lingering(&mut self) -> bool {
        match self.lingering_victim() {
            Some(sid) => {
                self.evict(sid);
                true
            }
            None => false,
        }
    }
}
