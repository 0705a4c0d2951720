//! The part of a driver loop that does not depend on the runtime: both the blocking and
//! the tokio driver hold one [`Pump`] and call it for everything but reading sockets and
//! spawning threads or tasks. It feeds received PDUs and bearer events to the [`Engine`],
//! drains it, and carries out its effects through the driver's [`Sockets`]: a transmit goes
//! to the remote the core named (through the shim, if any), a `Dial` opens a connection or
//! answers `LinkUp` with the configured peer. No protocol logic and no PDU parsing: the
//! core decides every destination and says what it made of every PDU ([`Verdict`]).

use std::net::SocketAddr;

use assoc_core::{BearerRequest, Input, Instant, Remote, Verdict};
use bytes::Bytes;

use crate::api::{Bearer, BearerState, Error, IoStats, Options, Snapshot};
use crate::engine::{Command, Effect, Engine};
use crate::frame;
use crate::links::{ConnHandle, Links};
use crate::send_log::SendLog;
use assoc_core::impair::Shim;

/// What a driver's runtime does for the pump.
pub(crate) trait Sockets {
    /// Sends one datagram on the UDP socket.
    fn send_udp(&mut self, to: SocketAddr, pdu: &[u8]) -> std::io::Result<()>;
    /// Starts dialling `to` as connection `conn`; the result comes back as
    /// [`Pump::dialed`].
    fn dial(&mut self, conn: u64, to: SocketAddr);
    /// A fresh connection id.
    fn next_conn(&mut self) -> u64;
    /// Runs the engine's flush (the tokio driver hands its worker over while it commits).
    fn flush(&mut self, engine: &mut Engine, now: Instant, effects: &mut Vec<Effect>) -> Result<(), Error> {
        engine.flush(now, effects)
    }
}

/// The bearer as the pump holds it.
enum Net<H: ConnHandle> {
    Udp { peer: Option<SocketAddr> },
    Tcp { links: Links<H>, peer: Option<SocketAddr> },
}

/// The engine and everything around it both drivers share.
pub(crate) struct Pump<H: ConnHandle> {
    engine: Engine,
    net: Net<H>,
    shim: Option<Shim<Remote>>,
    /// Counters of the bearer.
    pub(crate) io: IoStats,
    send_log: SendLog,
    shutdown_at: Option<Instant>,
    shutdown_grace: std::time::Duration,
    effects: Vec<Effect>,
}

impl<H: ConnHandle> Pump<H> {
    /// A pump for `options.bearer`.
    pub(crate) fn new(engine: Engine, options: &Options) -> Self {
        let net = match options.bearer {
            Bearer::Udp { peer, .. } => Net::Udp { peer },
            Bearer::Tcp { peer, .. } => Net::Tcp { links: Links::new(options.max_connections), peer },
        };
        Pump {
            engine,
            net,
            shim: options.impairment.clone().map(|imp| Shim::new(imp, options.impairment_seed)),
            io: IoStats::default(),
            send_log: SendLog::default(),
            shutdown_at: None,
            shutdown_grace: options.shutdown_grace,
            effects: Vec::new(),
        }
    }

    /// The loop starts: a bound UDP socket is a bearer that is up at once.
    pub(crate) fn start(&mut self, now: Instant) {
        if let Net::Udp { peer } = self.net {
            self.engine.input(now, Input::LinkUp { peer: peer.map(Remote::Addr) });
        }
    }

    /// When the loop must wake at the latest: the session's deadline, the shim's next
    /// release or the end of the shutdown grace.
    pub(crate) fn wake_at(&self) -> Option<Instant> {
        [self.engine.deadline(), self.shim.as_ref().and_then(Shim::next_release), self.shutdown_at]
            .into_iter()
            .flatten()
            .min()
    }

    /// Whether a requested shutdown may end the loop now.
    pub(crate) fn done(&self, now: Instant) -> bool {
        self.shutdown_at.is_some_and(|t| now >= t || self.engine.is_quiet())
    }

    /// Fires the session's timers if the clock reached its deadline.
    pub(crate) fn tick(&mut self, now: Instant) {
        self.engine.tick(now);
    }

    /// Releases due shim PDUs, then drains the session and carries out its requests until
    /// nothing is left.
    pub(crate) fn pump(&mut self, now: Instant, sockets: &mut impl Sockets) -> Result<(), Error> {
        while let Some((to, pdu)) = self.shim.as_mut().and_then(|s| s.pop_due_to(now)) {
            self.send_now(to, pdu, sockets);
        }
        loop {
            sockets.flush(&mut self.engine, now, &mut self.effects)?;
            if self.effects.is_empty() {
                return Ok(());
            }
            for e in std::mem::take(&mut self.effects) {
                self.effect(now, e, sockets);
            }
        }
    }

    fn effect(&mut self, now: Instant, effect: Effect, sockets: &mut impl Sockets) {
        match effect {
            Effect::Transmit { to, pdu } => match self.shim.as_mut() {
                Some(shim) => shim.push_to(now, to, pdu),
                None => self.send_now(to, pdu, sockets),
            },
            Effect::Bearer(BearerRequest::Dial) => match &mut self.net {
                // A socket is always there: the configured peer, if any, is where to go.
                Net::Udp { peer } => {
                    let peer = peer.map(Remote::Addr);
                    self.engine.input(now, Input::LinkUp { peer });
                }
                Net::Tcp { links, peer } => match peer {
                    Some(to) if links.start_dial() => {
                        let conn = sockets.next_conn();
                        tracing::debug!(conn, %to, "dialing");
                        sockets.dial(conn, *to);
                    }
                    Some(_) => {}
                    None => self.engine.input(now, Input::DialFailed),
                },
            },
            Effect::Bearer(BearerRequest::HangUp) => {
                tracing::debug!("hanging up");
                if let Net::Tcp { links, .. } = &mut self.net {
                    links.hang_up();
                }
            }
        }
    }

    fn send_now(&mut self, to: Remote, pdu: Bytes, sockets: &mut impl Sockets) {
        let sent = match (&mut self.net, to) {
            (Net::Udp { .. }, Remote::Addr(to)) => match sockets.send_udp(to, &pdu) {
                Ok(()) => true,
                Err(e) => {
                    self.send_log.failed(to, &e);
                    false
                }
            },
            (Net::Udp { .. }, Remote::Conn(_)) => false,
            (Net::Tcp { links, .. }, to) => links.send(to, frame::encode(&pdu)),
        };
        if sent {
            self.io.pdus_out += 1;
        } else {
            self.io.send_failures += 1;
        }
    }

    /// A datagram arrived on the UDP socket.
    pub(crate) fn datagram(&mut self, now: Instant, from: SocketAddr, bytes: Bytes) {
        self.received(now, Remote::Addr(from), bytes);
    }

    fn received(&mut self, now: Instant, from: Remote, bytes: Bytes) -> Option<Verdict> {
        self.io.pdus_in += 1;
        let verdict = self.engine.pdu(now, from, bytes);
        if !matches!(verdict, Some(Verdict::Accepted | Verdict::Answered)) {
            self.io.pdus_refused += 1;
        }
        verdict
    }

    /// A frame arrived on TCP connection `conn`.
    pub(crate) fn frame(&mut self, now: Instant, conn: u64, bytes: Bytes) {
        let verdict = self.received(now, Remote::Conn(conn), bytes);
        let peer = self.engine.peer_remote();
        let Net::Tcp { links, .. } = &mut self.net else { return };
        let garbage = links.pdu(conn, verdict);
        let input = links.follow(peer);
        let closed = if garbage {
            tracing::debug!(conn, "dropping connection: only refused pdus");
            self.io.connections_dropped += 1;
            links.closed(conn)
        } else {
            None
        };
        for i in input.into_iter().chain(closed) {
            self.engine.input(now, i);
        }
    }

    /// A peer connected to us (the driver started its reader and writer as `handle`).
    pub(crate) fn accepted(&mut self, now: Instant, conn: u64, handle: H) {
        self.io.accepted += 1;
        let Net::Tcp { links, .. } = &mut self.net else { return };
        if let Some(i) = links.accepted(conn, handle) {
            self.engine.input(now, i);
        }
    }

    /// A dial finished: the connection's handle, or why it failed.
    pub(crate) fn dialed(&mut self, now: Instant, conn: u64, result: std::io::Result<H>) {
        let Net::Tcp { links, .. } = &mut self.net else { return };
        let input = match result {
            Ok(handle) => {
                self.io.dialed += 1;
                links.dialed(conn, handle)
            }
            Err(e) => {
                tracing::debug!(conn, "dial failed: {e}");
                self.io.dial_failures += 1;
                links.dial_failed()
            }
        };
        if let Some(i) = input {
            self.engine.input(now, i);
        }
    }

    /// Connection `conn` ended; `garbage` if it was dropped for a bad frame or stalling.
    pub(crate) fn closed(&mut self, now: Instant, conn: u64, garbage: bool) {
        if garbage {
            self.io.connections_dropped += 1;
        }
        let Net::Tcp { links, .. } = &mut self.net else { return };
        if let Some(i) = links.closed(conn) {
            self.engine.input(now, i);
        }
    }

    /// Hands an application command to the engine, and carries out the ones about the
    /// driver itself (drop the link, snapshot, shutdown).
    pub(crate) fn command(&mut self, now: Instant, cmd: Command) -> Result<(), Error> {
        let Some(cmd) = self.engine.command(now, cmd)? else { return Ok(()) };
        match cmd {
            Command::DropLink => {
                self.io.forced_drops += 1;
                let input = match &mut self.net {
                    Net::Udp { .. } => Some(Input::LinkDown),
                    Net::Tcp { links, .. } => links.drop_current(),
                };
                if let Some(i) = input {
                    tracing::info!("link dropped on request");
                    self.engine.input(now, i);
                }
            }
            Command::Snapshot(reply) => reply(self.snapshot(now)),
            Command::Shutdown => self.shutdown(now),
            // The engine handles every other command itself.
            _ => {}
        }
        Ok(())
    }

    /// Starts a graceful shutdown (once): release, then stop when quiet or after the grace.
    pub(crate) fn shutdown(&mut self, now: Instant) {
        if self.shutdown_at.is_some() {
            return;
        }
        tracing::info!("shutting down");
        self.engine.input(now, Input::Release);
        let grace = u64::try_from(self.shutdown_grace.as_micros()).unwrap_or(u64::MAX);
        self.shutdown_at = Some(now + assoc_core::Duration::from_micros(grace));
    }

    /// What the endpoint looks like now.
    pub(crate) fn snapshot(&self, now: Instant) -> Snapshot {
        let bearer = match &self.net {
            Net::Udp { .. } => {
                BearerState { connections: 0, current: self.engine.peer_remote().is_some(), dialing: false }
            }
            Net::Tcp { links, .. } => links.state(),
        };
        self.engine.snapshot(now, self.io, self.shim.as_ref().map(Shim::stats), bearer)
    }

    /// Stops: waiting callers learn it, and every connection is closed.
    pub(crate) fn close(&mut self) {
        self.engine.close();
        if let Net::Tcp { links, .. } = &mut self.net {
            links.close_all();
        }
    }
}
