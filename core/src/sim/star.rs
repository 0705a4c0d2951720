//! A hub [`Endpoint`] and many remote [`Session`]s on a lossless, instant network on
//! virtual time: the harness for the endpoint's tests, fuzzer and memory bench.
//!
//! The star plays the drivers: the hub's records go to one [`SessionStore`] per session
//! id (durable at once), a datagram for a session not in memory that asks for it
//! ([`Routed::NeedsSession`]) is answered by restoring it from that store and handing the
//! datagram in again, and every delivery and
//! outcome is acknowledged on both sides as soon as it is reported.

use alloc::collections::{BTreeMap, VecDeque};
use alloc::format;
use alloc::vec::Vec;
use bytes::Bytes;

use crate::config::Config;
use crate::crypto::{Psk, Suite};
use crate::endpoint::{Endpoint, EndpointConfig, EndpointError, EndpointOutput, Routed};
use crate::input::{Ack, Input};
use crate::output::{BearerRequest, Event, Output};
use crate::persist::SessionStore;
use crate::remote::Remote;
use crate::rng::Rng;
use crate::session::Session;
use crate::time::{Duration, Instant};
use crate::wire::PeerName;

/// The hub's and the remote's config for `n` peers (see [`star_config`]).
pub fn star_configs(n: u32, suite: Suite) -> Vec<(Config, Config)> {
    (0..n).map(|i| star_config(i, suite)).collect()
}

/// The hub's and the remote's config for peer `i`: named `peer{i}`, session id `i + 1`, a
/// PSK of its own; the hub is named `hub`.
pub fn star_config(i: u32, suite: Suite) -> (Config, Config) {
    let hub = PeerName::new(b"hub").unwrap_or_else(|_| unreachable!("a valid literal name"));
    let name = format!("peer{i}");
    let peer = PeerName::new(name.as_bytes()).unwrap_or_else(|_| unreachable!("a valid name"));
    let key = format!("key-of-peer-{i:08}");
    let psk = Psk::new(key.as_bytes()).unwrap_or_else(|_| unreachable!("20 bytes or more"));
    let mut h = Config::new(hub, peer, psk.clone());
    let mut r = Config::new(peer, hub, psk);
    for c in [&mut h, &mut r] {
        c.sid = i + 1;
        c.suite = suite;
    }
    (h, r)
}

/// The hub's address on the star's network; remote `sid` is at `Remote::Conn(sid)`.
pub const HUB: Remote = Remote::Conn(0);

/// A hub endpoint, its remote peers' sessions and the network between them.
///
/// The hub learns each peer's address from its authenticated PDUs (no configured
/// remotes). Remote `sid` sits at `Remote::Conn(sid)`; anything the hub sends elsewhere
/// is recorded in [`Star::misdirected`] and goes nowhere.
#[derive(Clone, Debug)]
pub struct Star {
    /// The hub.
    pub endpoint: Endpoint,
    /// The remote sessions, by session id.
    pub remotes: BTreeMap<u32, Session>,
    /// The hub's durable store of each session, by session id.
    pub stores: BTreeMap<u32, SessionStore>,
    /// The virtual time.
    pub now: Instant,
    /// Events the hub's sessions reported, with the session id.
    pub hub_events: Vec<(u32, Event)>,
    /// Events the remote sessions reported, with the session id.
    pub remote_events: Vec<(u32, Event)>,
    /// Every datagram the remotes sent, in order, with the sender's session id.
    pub sent_by_remotes: Vec<(u32, Bytes)>,
    /// Hub verdicts that were errors (dropped datagrams), in order.
    pub hub_errors: Vec<EndpointError>,
    /// Datagrams the hub sent to a remote that is not a peer's (an injector's address).
    pub misdirected: Vec<(u32, Remote, Bytes)>,
    to_hub: VecDeque<(Remote, Bytes)>,
    to_remote: VecDeque<(u32, Bytes)>,
}

impl Star {
    /// A star of the given peers (hub-side config, remote config); nothing in memory on
    /// the hub, every remote's bearer up.
    ///
    /// # Panics
    /// If a config is invalid or two peers share a session id (a test bug).
    pub fn new(endpoint: EndpointConfig, peers: Vec<(Config, Config)>, seed: u64) -> Star {
        let mut rng = Rng::new(seed);
        #[allow(clippy::expect_used)]
        let mut hub = Endpoint::new(endpoint, rng.next_u64()).expect("a valid endpoint config");
        let mut remotes = BTreeMap::new();
        for (h, r) in peers {
            let sid = h.sid;
            #[allow(clippy::expect_used)]
            hub.add_peer(h, None).expect("valid, distinct peers");
            #[allow(clippy::expect_used)]
            let mut s = Session::new(r, rng.next_u64()).expect("a valid remote config");
            let _ = s.handle_input(Instant::ZERO, Input::LinkUp { peer: Some(HUB) });
            remotes.insert(sid, s);
        }
        Star {
            endpoint: hub,
            remotes,
            stores: BTreeMap::new(),
            now: Instant::ZERO,
            hub_events: Vec::new(),
            remote_events: Vec::new(),
            sent_by_remotes: Vec::new(),
            hub_errors: Vec::new(),
            misdirected: Vec::new(),
            to_hub: VecDeque::new(),
            to_remote: VecDeque::new(),
        }
    }

    /// Hands one datagram from `from` to the hub as its driver would: on
    /// [`Routed::NeedsSession`] the session is restored from its store and the datagram
    /// handed in again.
    pub fn deliver_to_hub(&mut self, from: Remote, datagram: Bytes) -> Result<Routed, EndpointError> {
        let now = self.now;
        let verdict = match self.endpoint.handle_datagram(now, from, datagram.clone()) {
            Ok(Routed::NeedsSession { sid }) => {
                let store = self.stores.get(&sid).cloned().unwrap_or_default();
                match self.endpoint.restore(now, sid, store) {
                    Ok(()) => self.endpoint.handle_datagram(now, from, datagram),
                    Err(e) => Err(e),
                }
            }
            other => other,
        };
        if let Err(e) = &verdict {
            self.hub_errors.push(e.clone());
        }
        verdict
    }

    /// The hub alone; everything else is dropped.
    pub fn into_endpoint(self) -> Endpoint {
        self.endpoint
    }

    /// Feeds `input` to remote `sid` now.
    pub fn remote_input(&mut self, sid: u32, input: Input) {
        if let Some(s) = self.remotes.get_mut(&sid) {
            let _ = s.handle_input(self.now, input);
        }
    }

    /// Drains every output on both sides and delivers every datagram, until nothing moves.
    /// Returns how many datagrams were delivered.
    pub fn settle(&mut self) -> usize {
        let mut delivered = 0;
        loop {
            self.drain_hub();
            self.drain_remotes();
            if self.to_hub.is_empty() && self.to_remote.is_empty() {
                return delivered;
            }
            while let Some((from, d)) = self.to_hub.pop_front() {
                delivered += 1;
                let _ = self.deliver_to_hub(from, d);
            }
            while let Some((sid, d)) = self.to_remote.pop_front() {
                delivered += 1;
                self.remote_input(sid, Input::Datagram { from: HUB, datagram: d });
            }
        }
    }

    /// The earliest deadline of the hub's sessions in memory: what the hub's next drain
    /// ends with ([`EndpointOutput::Wait`]), read without draining.
    pub fn hub_deadline(&self) -> Option<Instant> {
        self.endpoint.next_deadline()
    }

    /// Settles, then moves the clock to the next deadline on either side (at most `cap`
    /// ahead) and fires it. Returns `false` when nothing is armed anywhere.
    pub fn advance(&mut self, cap: Duration) -> bool {
        self.settle();
        let next = self
            .remotes
            .values()
            .filter_map(|s| s.next_deadline())
            .chain(self.endpoint.next_deadline())
            .min();
        let Some(next) = next else { return false };
        self.now = next.min(self.now + cap).max(self.now);
        let now = self.now;
        self.endpoint.handle_timeout(now);
        for s in self.remotes.values_mut() {
            if s.next_deadline().is_some_and(|t| t <= now) {
                let _ = s.handle_input(now, Input::Timeout);
            }
        }
        self.settle();
        true
    }

    /// Advances until `done` holds or `steps` deadlines have passed; whether it held.
    pub fn run_until(&mut self, steps: usize, mut done: impl FnMut(&Star) -> bool) -> bool {
        for _ in 0..steps {
            self.settle();
            if done(self) {
                return true;
            }
            if !self.advance(Duration::from_secs(3600)) {
                return done(self);
            }
        }
        done(self)
    }

    fn drain_hub(&mut self) {
        let now = self.now;
        while let EndpointOutput::Session { sid, output } = self.endpoint.poll_output() {
            match output {
                Output::Persist { seq, record } => {
                    self.stores.entry(sid).or_default().apply(&record);
                    let _ = self.endpoint.session_input(now, sid, Input::Persisted { upto: seq });
                }
                Output::Transmit(t) => match t.to {
                    Remote::Conn(k) if k > 0 && self.remotes.contains_key(&(k as u32)) => {
                        self.to_remote.push_back((k as u32, t.datagram))
                    }
                    to => self.misdirected.push((sid, to, t.datagram)),
                },
                Output::Event(e) => {
                    if let Some(ack) = ack_for(&e) {
                        let _ = self.endpoint.session_input(now, sid, Input::Acknowledge(ack));
                    }
                    self.hub_events.push((sid, e));
                }
                Output::Bearer(_) | Output::Wait { .. } => {}
            }
        }
    }

    fn drain_remotes(&mut self) {
        let now = self.now;
        for (&sid, s) in self.remotes.iter_mut() {
            loop {
                match s.poll_output() {
                    Output::Wait { .. } => break,
                    Output::Persist { seq, .. } => {
                        let _ = s.handle_input(now, Input::Persisted { upto: seq });
                    }
                    Output::Transmit(t) => {
                        self.sent_by_remotes.push((sid, t.datagram.clone()));
                        self.to_hub.push_back((Remote::Conn(u64::from(sid)), t.datagram));
                    }
                    Output::Event(e) => {
                        if let Some(ack) = ack_for(&e) {
                            let _ = s.handle_input(now, Input::Acknowledge(ack));
                        }
                        self.remote_events.push((sid, e));
                    }
                    Output::Bearer(BearerRequest::Dial) => {
                        let _ = s.handle_input(now, Input::LinkUp { peer: Some(HUB) });
                    }
                    Output::Bearer(BearerRequest::HangUp) => {}
                }
            }
        }
    }
}

/// The acknowledgement an application that commits at once gives an event.
fn ack_for(e: &Event) -> Option<Ack> {
    match e {
        Event::Delivered { msn, .. } => Some(Ack::Delivery(*msn)),
        Event::Outcome { id, .. } => Some(Ack::Outcome(*id)),
        _ => None,
    }
}
