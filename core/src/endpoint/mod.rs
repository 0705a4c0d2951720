//! One endpoint, many peers (issue #17): a sans-IO [`Endpoint`] that serves every
//! configured peer's [`Session`] on one socket.
//!
//! The endpoint holds the peer table (session id → config, and the session when it is in
//! memory), routes every datagram by the identifiers in its header (`PROTOCOL.md`,
//! "Endpoint"; never by its source), answers INITs statelessly for peers whose session is
//! not in memory, and asks the driver for a session's store when an authentic CONFIRM
//! arrives for one. Sessions stay independent [`Session`]s: the endpoint only routes,
//! schedules and evicts.
//!
//! ## Methods by direction
//!
//! * **Configuration**: [`Endpoint::new`], [`Endpoint::add_peer`].
//! * **Inputs**: [`Endpoint::handle_datagram`] (a received datagram),
//!   [`Endpoint::handle_timeout`] (the clock reached [`Endpoint::poll_timeout`]),
//!   [`Endpoint::session_input`] and [`Endpoint::submit`] (the application and the
//!   driver's `Persisted` for one session), [`Endpoint::restore`] (a session's store, loaded
//!   on request or because the application needs the session).
//! * **Outputs**: [`Endpoint::poll_output`] until `None`, then [`Endpoint::poll_timeout`].
//!   Each output names its session id; `Persist` records go to that session's store, and
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
//! disconnect delay has passed). The endpoint keeps its config and persisted epoch; its
//! store stays with the driver. Memory holds at most
//! [`EndpointConfig::max_live_sessions`] sessions; when a restore finds them all busy it
//! is refused, and one session that holds nothing but an established association is
//! released so that a later try finds room.
//!
//! ## A run loop
//!
//! ```
//! use assoc_core::endpoint::{Endpoint, EndpointConfig, Routed};
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
//! while let Some((sid, out)) = endpoint.poll_output() {
//!     match out {
//!         Output::Persist { seq, .. } => {
//!             // Write the record to session `sid`'s store, durably, then:
//!             endpoint.session_input(now, sid, Input::Persisted { upto: seq }).unwrap();
//!         }
//!         Output::Transmit(_t) => { /* send _t.datagram to _t.to on the socket */ }
//!         _ => {}
//!     }
//! }
//! let _next_wakeup = endpoint.poll_timeout();
//! ```

mod route;
mod schedule;
mod stateless;
mod types;

pub use route::route_key;
pub use types::{EndpointConfig, EndpointError, EndpointStats, Routed};

use alloc::boxed::Box;
use alloc::collections::{BTreeMap, VecDeque};
use alloc::sync::Arc;
use bytes::Bytes;

use crate::config::Config;
use crate::crypto::{InitRateLimiter, Key};
use crate::io::{BearerRequest, DropReason, Input, Output, Transmit, Verdict};
use crate::message::{MessageId, Submission};
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
    /// With the driver's store only; `epoch` is its persisted epoch when it left memory
    /// (0: it was never in memory in this process).
    Stored { epoch: u64 },
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
        self.peers.insert(sid, Peer { cfg: Arc::new(config), remote, slot: Slot::Stored { epoch: 0 } });
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
            Slot::Stored { .. } => None,
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
        let (in_memory, epoch) = match &peer.slot {
            Slot::Live(_) => (true, 0),
            Slot::Stored { epoch } => (false, *epoch),
        };
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
        let (cfg, remote) = match self.peers.get(&sid) {
            None => return Err(EndpointError::UnknownSession { sid }),
            Some(Peer { slot: Slot::Live(_), .. }) => return Err(EndpointError::AlreadyInMemory { sid }),
            Some(p) => (p.cfg.clone(), p.remote),
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
        // A datagram socket is up as soon as it is bound.
        let _ = session.handle_input(now, Input::LinkUp { peer: remote });
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

    /// The clock reached [`Endpoint::poll_timeout`]: every session whose deadline is due
    /// handles its timers; no other session is touched.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.now = self.now.max(now);
        for sid in self.schedule.due(now) {
            if let Some(Peer { slot: Slot::Live(s), .. }) = self.peers.get_mut(&sid) {
                s.handle_timeout(now);
            }
            self.settle(sid, true);
        }
    }

    // ----- outputs -----

    /// The next output of any session, with its session id; `None` when every session is
    /// drained. Stateless answers come first. A session drained to its end is evicted if
    /// it is quiet (see the module docs).
    #[must_use]
    pub fn poll_output(&mut self) -> Option<(u32, Output)> {
        if let Some((sid, t)) = self.answers.pop_front() {
            return Some((sid, Output::Transmit(t)));
        }
        loop {
            let sid = self.schedule.first_ready()?;
            let now = self.now;
            let Some(Peer { slot: Slot::Live(s), remote, .. }) = self.peers.get_mut(&sid) else {
                self.schedule.clear_ready(sid);
                continue;
            };
            match s.poll_output() {
                // Without a configured or learned remote the session counts this as a
                // failed dial and backs off.
                Some(Output::Bearer(BearerRequest::Dial)) => {
                    let _ = s.handle_input(now, Input::LinkUp { peer: *remote });
                }
                Some(Output::Bearer(BearerRequest::HangUp)) => {}
                Some(out) => return Some((sid, out)),
                None => self.settle(sid, false),
            }
        }
    }

    /// The earliest deadline of any session in memory: call [`Endpoint::handle_timeout`]
    /// when the clock reaches it. O(log n).
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.schedule.next()
    }

    // ----- internals -----

    fn live_mut(&mut self, sid: u32) -> Result<&mut Session, EndpointError> {
        match self.peers.get_mut(&sid) {
            None => Err(EndpointError::UnknownSession { sid }),
            Some(Peer { slot: Slot::Stored { .. }, .. }) => Err(EndpointError::NotInMemory { sid }),
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
        self.schedule.set(sid, s.poll_timeout());
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
            p.slot = Slot::Stored { epoch: s.store().epoch };
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

    /// Evicts the session, idle but for its disconnect timer, whose timer is due first.
    fn evict_one_lingering(&mut self) -> bool {
        let victim = self.schedule.by_deadline().find(|sid| {
            !self.schedule.is_ready(*sid)
                && matches!(
                    self.peers.get(sid),
                    Some(Peer { slot: Slot::Live(s), .. }) if s.idleness() == Idleness::Lingering
                )
        });
        match victim {
            Some(sid) => {
                self.evict(sid);
                true
            }
            None => false,
        }
    }
}
