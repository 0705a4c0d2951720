//! One shard's many-session driver loop: see the module docs of [`crate::multi`]. Its
//! thread, its use of the socket and its stores live here; every decision is the core
//! endpoint's.

use std::collections::{BTreeMap, HashMap};
use std::net::UdpSocket;
use std::sync::mpsc::{Receiver, Sender, SyncSender};
use std::sync::Arc;

use assoc_core::{
    Endpoint, EndpointError, EndpointOutput, Event, Input, Instant, MessageId, MessageState, Output, Record,
    Remote, Routed, Submission, Verdict,
};
use bytes::Bytes;

use super::{Incoming, Msg, PeerEntry, ServerStats};
use crate::api::{Acker, Delivery, Error, OutcomeReport};
use crate::blocking::net;
use crate::clock::Clock;
use crate::store::{Database, Store};

/// Inputs handled before one drain (one group commit covers them all).
const BATCH: usize = 512;

pub(super) struct Driver {
    endpoint: Endpoint,
    db: Database,
    /// The stores of the sessions in memory.
    stores: BTreeMap<u32, Store>,
    wire: Wire,
    clock: Clock,
    rx: Receiver<Msg>,
    tx: SyncSender<Msg>,
    incoming: Sender<Incoming>,
    stats: ServerStats,
    /// Submissions waiting for their `Queued` event.
    pending: HashMap<(u32, MessageId), Vec<Reply>>,
    /// Highest app id seen per session in memory (for fresh ones).
    max_app_id: BTreeMap<u32, u64>,
}

/// What one shard serves: its peers and its share of the endpoint's bounds.
pub(super) struct Shard {
    pub(super) peers: Vec<PeerEntry>,
    pub(super) endpoint: assoc_core::EndpointConfig,
    pub(super) seed: u64,
}

/// How a shard reaches peers: the server's UDP socket, or its TCP connections.
pub(super) enum Wire {
    Udp(UdpSocket),
    Tcp(super::tcp::Conns),
}

/// Where a submission's result goes.
type Reply = Sender<Result<MessageId, Error>>;

impl Driver {
    /// Builds the shard's endpoint and restores its sessions that owe the application
    /// something. `wire` is the server's, for sending; the server's reader feeds `rx`.
    pub(super) fn new(
        shard: Shard,
        db: Database,
        wire: Wire,
        rx: Receiver<Msg>,
        tx: SyncSender<Msg>,
        incoming: Sender<Incoming>,
    ) -> Result<Driver, Error> {
        let mut endpoint = Endpoint::new(shard.endpoint, shard.seed)?;
        for p in shard.peers {
            endpoint.add_peer(p.config, p.addr.map(Remote::Addr))?;
        }
        let mut driver = Driver {
            endpoint,
            db,
            stores: BTreeMap::new(),
            wire,
            clock: Clock::new(),
            rx,
            tx,
            incoming,
            stats: ServerStats::default(),
            pending: HashMap::new(),
            max_app_id: BTreeMap::new(),
        };
        driver.restore_owing()?;
        Ok(driver)
    }

    /// Restores every configured session whose store holds unacknowledged deliveries or
    /// outcomes: the core reports them again once it is in memory.
    fn restore_owing(&mut self) -> Result<(), Error> {
        let now = self.clock.now();
        for sid in self.db.sessions()? {
            if self.endpoint.peer_config(sid).is_none() {
                continue;
            }
            let store = self.db.session(sid)?;
            if store.inbox()?.is_empty() && store.outcomes()?.is_empty() {
                continue;
            }
            self.restore(now, sid, Some(store))?;
        }
        Ok(())
    }

    /// Brings session `sid` into memory from its store; `false` if the endpoint refused
    /// (memory full: counted by the endpoint).
    fn restore(&mut self, now: Instant, sid: u32, store: Option<Store>) -> Result<bool, Error> {
        // A session evicted since the last drain (a restore makes room by evicting one) still
        // has its store open here: all its records are durable, so it is current.
        let store = match store.or_else(|| self.stores.remove(&sid)) {
            Some(s) => s,
            None => self.db.session(sid)?,
        };
        match self.endpoint.restore(now, sid, store.session_store().clone()) {
            Ok(()) => {
                self.max_app_id.insert(sid, store.max_app_id());
                self.stores.insert(sid, store);
                Ok(true)
            }
            Err(e) => {
                tracing::debug!(sid, "restore refused: {e}");
                Ok(false)
            }
        }
    }

    /// Runs until shut down; returns the final counters. Dropping the driver at the end
    /// closes its channel, so the socket reader never waits on it.
    pub(super) fn run(mut self) -> Result<ServerStats, Error> {
        self.run_loop().map(|()| self.snapshot())
    }

    fn run_loop(&mut self) -> Result<(), Error> {
        loop {
            let now = self.clock.now();
            let until = self.drain(now)?;
            let Ok(first) = net::wait(&self.rx, now, until) else { return Ok(()) };
            // Check the clock rather than trusting the wait.
            let now = self.clock.now();
            if let Some(m) = first {
                if !self.handle(now, m)? {
                    return Ok(());
                }
                for _ in 0..BATCH {
                    match self.rx.try_recv() {
                        Ok(m) => {
                            if !self.handle(now, m)? {
                                return Ok(());
                            }
                        }
                        Err(_) => break,
                    }
                }
            }
            // Fires only the sessions whose deadline is due (none, if none is).
            self.endpoint.handle_timeout(now);
        }
    }

    /// Handles one message; `false` to stop.
    fn handle(&mut self, now: Instant, msg: Msg) -> Result<bool, Error> {
        match msg {
            Msg::Datagram { from, bytes } => drop(self.datagram(now, Remote::Addr(from), bytes)?),
            Msg::Frame { conn, bytes } => {
                let verdict = self.datagram(now, Remote::Conn(conn), bytes)?;
                if let Wire::Tcp(conns) = &self.wire {
                    let mut links = conns.lock();
                    if links.pdu(conn, verdict) {
                        tracing::debug!(conn, "dropping a connection whose first PDUs were all refused");
                        let _ = links.closed(conn);
                    }
                }
            }
            Msg::Ack { sid, ack } => {
                if self.endpoint.session(sid).is_some() || self.restore(now, sid, None)? {
                    // Refused only for something acknowledged already: nothing to do.
                    if let Err(e) = self.endpoint.session_input(now, sid, Input::Acknowledge(ack)) {
                        tracing::debug!(sid, "acknowledgement ignored: {e}");
                    }
                }
            }
            Msg::Submit { sid, submission, reply } => self.submit(now, sid, submission, reply)?,
            Msg::Stats(reply) => {
                let _ = reply.send(self.snapshot());
            }
            Msg::Shutdown => return Ok(false),
        }
        Ok(true)
    }

    fn submit(
        &mut self,
        now: Instant,
        sid: u32,
        mut submission: Submission,
        reply: Reply,
    ) -> Result<(), Error> {
        if self.endpoint.session(sid).is_none() && !self.restore(now, sid, None)? {
            let full = EndpointError::Full { live: self.endpoint.live_sessions() };
            let _ = reply.send(Err(full.into()));
            return Ok(());
        }
        let max = self.max_app_id.entry(sid).or_default();
        if submission.app_id == 0 {
            submission.app_id = *max + 1;
        }
        let app_id = submission.app_id;
        match self.endpoint.submit(now, sid, submission) {
            Ok(id) => {
                *max = (*max).max(app_id);
                let state = self.endpoint.session(sid).and_then(|s| s.submitted(app_id));
                match state {
                    // A resubmission of a finished message: no `Queued` comes.
                    Some((_, MessageState::Finished { .. })) => drop(reply.send(Ok(id))),
                    _ => self.pending.entry((sid, id)).or_default().push(reply),
                }
            }
            Err(EndpointError::Submit { error, .. }) => drop(reply.send(Err(Error::Submit(error)))),
            Err(e) => drop(reply.send(Err(e.into()))),
        }
        Ok(())
    }

    /// Hands one datagram (or TCP frame) to the endpoint, loading the session it asks for;
    /// what the core made of it (`None`: refused before any session judged it).
    fn datagram(&mut self, now: Instant, from: Remote, bytes: Bytes) -> Result<Option<Verdict>, Error> {
        let routed = match self.endpoint.handle_datagram(now, from, bytes.clone()) {
            Ok(Routed::NeedsSession { sid }) => {
                if !self.restore(now, sid, None)? {
                    return Ok(None);
                }
                self.endpoint.handle_datagram(now, from, bytes)
            }
            other => other,
        };
        Ok(match routed {
            Ok(Routed::Session { verdict, .. }) => Some(verdict),
            Ok(Routed::Answered { .. } | Routed::Reset { .. }) => Some(Verdict::Answered),
            Ok(Routed::NeedsSession { .. }) => None,
            // Counted by the endpoint; the error says why.
            Err(e) => {
                tracing::trace!(?from, "datagram dropped: {e}");
                None
            }
        })
    }

    /// Drains every session: transmits are sent, records of all sessions committed in one
    /// transaction per round then reported as `Persisted`, events handed to the application.
    /// Returns the earliest deadline the drain ended with.
    fn drain(&mut self, now: Instant) -> Result<Option<Instant>, Error> {
        let until = loop {
            let mut batch: BTreeMap<u32, (Vec<Record>, u64)> = BTreeMap::new();
            let until = loop {
                let (sid, output) = match self.endpoint.poll_output() {
                    EndpointOutput::Session { sid, output } => (sid, output),
                    EndpointOutput::Wait { until } => break until,
                };
                match output {
                    Output::Persist { seq, record } => {
                        let (records, upto) = batch.entry(sid).or_default();
                        records.push(record);
                        *upto = seq;
                    }
                    Output::Transmit(t) => self.send(t.to, &t.datagram),
                    Output::Event(e) => self.event(sid, e),
                    other => tracing::debug!(sid, "output ignored: {other:?}"),
                }
            };
            if batch.is_empty() {
                break until;
            }
            self.commit(&batch)?;
            for (sid, (_, upto)) in batch {
                if let Err(e) = self.endpoint.session_input(now, sid, Input::Persisted { upto }) {
                    tracing::error!(sid, "persisted refused: {e}");
                }
            }
        };
        // Sessions the endpoint evicted have all their state in the database. Every session
        // in memory has a store (it entered through `restore`), so a store more than there
        // are sessions means one was evicted: only then is the O(sessions) sweep needed.
        if self.stores.len() > self.endpoint.live_sessions() {
            let endpoint = &self.endpoint;
            self.stores.retain(|sid, _| endpoint.session(*sid).is_some());
            self.max_app_id.retain(|sid, _| endpoint.session(*sid).is_some());
        }
        Ok(until)
    }

    /// One transaction for the records of every session in `batch`.
    fn commit(&mut self, batch: &BTreeMap<u32, (Vec<Record>, u64)>) -> Result<(), Error> {
        for sid in batch.keys() {
            if !self.stores.contains_key(sid) {
                // Not expected (a session enters memory only through `restore`), but cheap.
                self.stores.insert(*sid, self.db.session(*sid)?);
            }
        }
        let mut parts: Vec<(&mut Store, &[Record])> = self
            .stores
            .iter_mut()
            .filter_map(|(sid, store)| batch.get(sid).map(|(records, _)| (store, records.as_slice())))
            .collect();
        self.db.commit(&mut parts)?;
        self.stats.commits += 1;
        self.stats.records += batch.values().map(|(r, _)| r.len() as u64).sum::<u64>();
        Ok(())
    }

    fn send(&mut self, to: Remote, datagram: &Bytes) {
        let sent = match (&self.wire, to) {
            (Wire::Udp(socket), Remote::Addr(addr)) => match socket.send_to(datagram, addr) {
                Ok(_) => true,
                Err(e) => {
                    tracing::debug!(%addr, "send: {e}");
                    false
                }
            },
            (Wire::Tcp(conns), Remote::Conn(_)) => conns.lock().send(to, crate::frame::encode(datagram)),
            // A remote of the other transport (a configured address over TCP): unreachable.
            _ => false,
        };
        if sent {
            self.stats.datagrams_out += 1;
        } else {
            self.stats.send_failures += 1;
        }
    }

    fn acker(&self, sid: u32) -> Acker {
        let tx = self.tx.clone();
        Acker(Arc::new(move |ack| {
            let _ = tx.send(Msg::Ack { sid, ack });
        }))
    }

    fn event(&mut self, sid: u32, event: Event) {
        let item = match event {
            Event::Queued { id, .. } => {
                for reply in self.pending.remove(&(sid, id)).unwrap_or_default() {
                    let _ = reply.send(Ok(id));
                }
                return;
            }
            Event::Delivered { msn, app_id, bytes } => {
                self.stats.delivered += 1;
                Incoming::Delivery { sid, delivery: Delivery { msn, app_id, bytes, acker: self.acker(sid) } }
            }
            Event::Outcome { id, app_id, outcome } => Incoming::Outcome {
                sid,
                report: OutcomeReport { id, app_id, outcome, acker: self.acker(sid) },
            },
            Event::AssociationUp { epoch, role } => {
                return tracing::info!(sid, epoch, ?role, "association up")
            }
            Event::AssociationDown { epoch, reason } => {
                return tracing::info!(sid, epoch, ?reason, "association down")
            }
            other => return tracing::debug!(sid, "event: {other:?}"),
        };
        let _ = self.incoming.send(item);
    }

    fn snapshot(&self) -> ServerStats {
        ServerStats {
            endpoint: self.endpoint.stats().clone(),
            live_sessions: self.endpoint.live_sessions(),
            ..self.stats.clone()
        }
    }
}

impl From<EndpointError> for Error {
    fn from(e: EndpointError) -> Self {
        Error::Endpoint(Box::new(e))
    }
}
