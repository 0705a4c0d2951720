//! The blocking driver loop: one thread owns the session and the store, blocks on its
//! channel until the next deadline, and moves bytes and time. See the module docs of
//! [`crate::blocking`].

use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;

use assoc_core::{BearerRequest, Input, Instant, Remote, Verdict};
use bytes::Bytes;

use super::net::{self, Msg, StdConn};
use crate::api::{Bearer, BearerState, Error, IoStats, Options, Snapshot};
use crate::clock::{to_std, Clock};
use crate::engine::{Command, Effect, Engine};
use crate::frame;
use crate::links::Links;
use crate::send_log::SendLog;
use crate::shim::Shim;

/// Inputs handled before one flush (one commit covers them all).
const BATCH: usize = 256;

enum Net {
    Udp { socket: UdpSocket, peer: Option<SocketAddr> },
    Tcp { links: Links<StdConn>, peer: Option<SocketAddr> },
}

pub(crate) struct Driver {
    engine: Engine,
    options: Options,
    clock: Clock,
    rx: Receiver<Msg>,
    tx: SyncSender<Msg>,
    net: Net,
    shim: Option<Shim<Remote>>,
    io: IoStats,
    send_log: SendLog,
    stop: Arc<AtomicBool>,
    ids: Arc<AtomicU64>,
    threads: Vec<JoinHandle<()>>,
    shutdown_at: Option<Instant>,
    effects: Vec<Effect>,
}

impl Driver {
    /// Binds the bearer and starts its helper threads; returns the driver and the local
    /// address (UDP socket or TCP listener).
    pub(crate) fn new(
        engine: Engine,
        options: Options,
        rx: Receiver<Msg>,
        tx: SyncSender<Msg>,
    ) -> Result<(Driver, Option<SocketAddr>), Error> {
        let stop = Arc::new(AtomicBool::new(false));
        let ids = Arc::new(AtomicU64::new(1));
        let mut threads = Vec::new();
        let (net, local) = match options.bearer {
            Bearer::Udp { bind, peer } => {
                let socket = UdpSocket::bind(bind).map_err(|source| Error::Bind { addr: bind, source })?;
                let local = socket.local_addr()?;
                threads.extend(net::udp_reader(socket.try_clone()?, tx.clone(), stop.clone()));
                (Net::Udp { socket, peer }, Some(local))
            }
            Bearer::Tcp { listen, peer } => {
                let mut local = None;
                if let Some(addr) = listen {
                    let listener = TcpListener::bind(addr).map_err(|source| Error::Bind { addr, source })?;
                    local = Some(listener.local_addr()?);
                    threads.extend(net::acceptor(listener, tx.clone(), stop.clone(), ids.clone()));
                }
                (Net::Tcp { links: Links::new(options.max_connections), peer }, local)
            }
        };
        let shim = options.impairment.clone().map(Shim::new);
        let driver = Driver {
            engine,
            options,
            clock: Clock::new(),
            rx,
            tx,
            net,
            shim,
            io: IoStats::default(),
            send_log: SendLog::default(),
            stop,
            ids,
            threads,
            shutdown_at: None,
            effects: Vec::new(),
        };
        Ok((driver, local))
    }

    /// Runs until shut down; returns the final snapshot.
    pub(crate) fn run(mut self) -> Result<Snapshot, Error> {
        let result = self.run_loop();
        self.engine.close();
        self.stop.store(true, Ordering::Relaxed);
        if let Net::Tcp { links, .. } = &mut self.net {
            links.close_all();
        }
        // Helper threads notice the stop flag within their poll interval; keep draining the
        // channel meanwhile so none stays blocked on a full queue.
        let give_up = std::time::Instant::now() + std::time::Duration::from_secs(2);
        while self.threads.iter().any(|t| !t.is_finished()) && std::time::Instant::now() < give_up {
            while self.rx.try_recv().is_ok() {}
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        for t in self.threads.drain(..).filter(|t| t.is_finished()) {
            let _ = t.join();
        }
        result.map(|()| self.snapshot())
    }

    fn snapshot(&self) -> Snapshot {
        let bearer = match &self.net {
            Net::Udp { .. } => {
                BearerState { connections: 0, current: self.engine.peer_remote().is_some(), dialing: false }
            }
            Net::Tcp { links, .. } => links.state(),
        };
        self.engine.snapshot(self.clock.now(), self.io, self.shim.as_ref().map(Shim::stats), bearer)
    }

    fn run_loop(&mut self) -> Result<(), Error> {
        if let Net::Udp { peer, .. } = self.net {
            self.engine.input(self.clock.now(), Input::LinkUp { peer: peer.map(Remote::Addr) });
        }
        loop {
            let now = self.clock.now();
            self.pump(now)?;
            if self.shutdown_at.is_some_and(|t| now >= t || self.engine.is_quiet()) {
                return Ok(());
            }
            let wake = [
                self.engine.poll_timeout(),
                self.shim.as_ref().and_then(Shim::next_release),
                self.shutdown_at,
            ]
            .into_iter()
            .flatten()
            .min();
            let first = match wake {
                Some(t) => match self.rx.recv_timeout(to_std(t.saturating_duration_since(now))) {
                    Ok(m) => Some(m),
                    Err(RecvTimeoutError::Timeout) => None,
                    Err(RecvTimeoutError::Disconnected) => return Ok(()),
                },
                None => match self.rx.recv() {
                    Ok(m) => Some(m),
                    Err(_) => return Ok(()),
                },
            };
            // Check the clock rather than trusting the wait.
            let now = self.clock.now();
            if let Some(m) = first {
                self.handle(now, m)?;
                for _ in 0..BATCH {
                    match self.rx.try_recv() {
                        Ok(m) => self.handle(now, m)?,
                        Err(_) => break,
                    }
                }
            }
            self.engine.tick(now);
        }
    }

    /// Releases due shim PDUs, then drains the session and carries out its requests until
    /// nothing is left.
    fn pump(&mut self, now: Instant) -> Result<(), Error> {
        while let Some((to, pdu)) = self.shim.as_mut().and_then(|s| s.pop_due_to(now)) {
            self.send_now(to, pdu);
        }
        loop {
            self.engine.flush(now, &mut self.effects)?;
            if self.effects.is_empty() {
                return Ok(());
            }
            let effects = std::mem::take(&mut self.effects);
            for e in effects {
                self.effect(now, e);
            }
        }
    }

    fn effect(&mut self, now: Instant, effect: Effect) {
        match effect {
            Effect::Transmit { to, pdu } => match self.shim.as_mut() {
                Some(shim) => shim.push_to(now, to, pdu),
                None => self.send_now(to, pdu),
            },
            Effect::Bearer(BearerRequest::Dial) => match &mut self.net {
                Net::Udp { peer, .. } => {
                    let peer = peer.map(Remote::Addr);
                    self.engine.input(now, Input::LinkUp { peer });
                }
                Net::Tcp { links, peer } => match peer {
                    Some(to) if links.start_dial() => {
                        let conn = self.ids.fetch_add(1, Ordering::Relaxed);
                        tracing::debug!(conn, %to, "dialing");
                        net::dial(conn, *to, self.tx.clone());
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

    fn send_now(&mut self, to: Remote, pdu: Bytes) {
        let sent = match (&mut self.net, to) {
            (Net::Udp { socket, .. }, Remote::Addr(to)) => match socket.send_to(&pdu, to) {
                Ok(_) => true,
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

    fn handle(&mut self, now: Instant, msg: Msg) -> Result<(), Error> {
        match msg {
            Msg::Cmd(cmd) => {
                if let Some(cmd) = self.engine.command(now, cmd)? {
                    self.driver_command(now, cmd);
                }
            }
            Msg::Datagram { from, bytes } => {
                self.io.pdus_in += 1;
                let verdict = self.engine.pdu(now, Remote::Addr(from), bytes);
                if !matches!(verdict, Some(Verdict::Accepted | Verdict::Answered)) {
                    self.io.pdus_refused += 1;
                }
            }
            Msg::Frame { conn, bytes } => {
                self.io.pdus_in += 1;
                let verdict = self.engine.pdu(now, Remote::Conn(conn), bytes);
                if !matches!(verdict, Some(Verdict::Accepted | Verdict::Answered)) {
                    self.io.pdus_refused += 1;
                }
                let peer = self.engine.peer_remote();
                if let Net::Tcp { links, .. } = &mut self.net {
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
            }
            Msg::Accepted { conn, stream } => {
                self.io.accepted += 1;
                let idle = self.options.idle_timeout;
                match net::connection(conn, stream, self.tx.clone(), self.stop.clone(), idle) {
                    Ok((handle, threads)) => {
                        self.threads.extend(threads);
                        if let Net::Tcp { links, .. } = &mut self.net {
                            if let Some(i) = links.accepted(conn, handle) {
                                self.engine.input(now, i);
                            }
                        }
                    }
                    Err(e) => tracing::warn!(conn, "accepted connection unusable: {e}"),
                }
            }
            Msg::Dialed { conn, result } => {
                let idle = self.options.idle_timeout;
                let handle = result.and_then(|stream| {
                    net::connection(conn, stream, self.tx.clone(), self.stop.clone(), idle)
                });
                if let Net::Tcp { links, .. } = &mut self.net {
                    let input = match handle {
                        Ok((handle, threads)) => {
                            self.io.dialed += 1;
                            self.threads.extend(threads);
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
            }
            Msg::Closed { conn, garbage } => {
                if garbage {
                    self.io.connections_dropped += 1;
                }
                if let Net::Tcp { links, .. } = &mut self.net {
                    if let Some(i) = links.closed(conn) {
                        self.engine.input(now, i);
                    }
                }
            }
        }
        // Joined threads of closed connections are reaped here so the list stays short.
        if self.threads.len() > 64 {
            let (done, running): (Vec<_>, Vec<_>) = self.threads.drain(..).partition(|t| t.is_finished());
            for t in done {
                let _ = t.join();
            }
            self.threads = running;
        }
        Ok(())
    }

    fn driver_command(&mut self, now: Instant, cmd: Command) {
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
            Command::Snapshot(reply) => reply(self.snapshot()),
            Command::Shutdown if self.shutdown_at.is_none() => {
                tracing::info!("shutting down");
                self.engine.input(now, Input::Release);
                let grace = u64::try_from(self.options.shutdown_grace.as_micros()).unwrap_or(u64::MAX);
                self.shutdown_at = Some(now + assoc_core::Duration::from_micros(grace));
            }
            // The engine handles every other command itself.
            _ => {}
        }
    }
}
