//! The tokio driver task: one task owns the session and the store and `select!`s over the
//! UDP socket (or the TCP listener and the connections' frames), application commands,
//! and a single reusable sleep set to the next deadline. After every wake-up it reads the
//! clock instead of trusting the sleep.

use std::net::SocketAddr;
use std::time::Duration as StdDuration;

use assoc_core::{BearerRequest, Input, Instant, Remote, Verdict};
use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::mpsc;
use tokio::task::AbortHandle;

use crate::api::{Bearer, BearerState, Error, IoStats, Options, Snapshot};
use crate::clock::Clock;
use crate::engine::{Command, Effect, Engine};
use crate::frame;
use crate::links::{ConnHandle, Links};
use crate::send_log::SendLog;
use crate::shim::Shim;

/// Inputs handled before one flush (one commit covers them all).
const BATCH: usize = 256;
/// Frames queued per connection before new ones are dropped.
const WRITE_QUEUE: usize = 1024;
/// Longest a dial may take.
const CONNECT_TIMEOUT: StdDuration = StdDuration::from_secs(5);

/// What connection tasks report to the driver.
pub(crate) enum NetMsg {
    Frame { conn: u64, bytes: Bytes },
    Dialed { conn: u64, result: std::io::Result<TcpStream> },
    Closed { conn: u64, garbage: bool },
}

/// A connection's driver-side handle: its write queue and its two tasks.
pub(crate) struct TokioConn {
    queue: mpsc::Sender<Bytes>,
    reader: AbortHandle,
    writer: AbortHandle,
}

impl ConnHandle for TokioConn {
    fn send(&self, frame: Bytes) -> bool {
        self.queue.try_send(frame).is_ok()
    }
    fn close(&self) {
        self.reader.abort();
        self.writer.abort();
    }
}

enum Net {
    Udp { socket: UdpSocket, peer: Option<SocketAddr> },
    Tcp { listener: Option<TcpListener>, links: Links<TokioConn>, peer: Option<SocketAddr> },
}

enum Wake {
    Cmd(Option<Command>),
    Net(Option<NetMsg>),
    Udp(std::io::Result<(usize, SocketAddr)>),
    Accept(std::io::Result<(TcpStream, SocketAddr)>),
    Timer,
}

pub(crate) struct Driver {
    engine: Engine,
    options: Options,
    clock: Clock,
    cmds: mpsc::UnboundedReceiver<Command>,
    net_tx: mpsc::Sender<NetMsg>,
    net_rx: mpsc::Receiver<NetMsg>,
    net: Net,
    shim: Option<Shim<Remote>>,
    io: IoStats,
    send_log: SendLog,
    next_conn: u64,
    shutdown_at: Option<Instant>,
    effects: Vec<Effect>,
}

impl Driver {
    pub(crate) async fn new(
        engine: Engine,
        options: Options,
        cmds: mpsc::UnboundedReceiver<Command>,
    ) -> Result<(Driver, Option<SocketAddr>), Error> {
        let (net, local) = match options.bearer {
            Bearer::Udp { bind, peer } => {
                let socket =
                    UdpSocket::bind(bind).await.map_err(|source| Error::Bind { addr: bind, source })?;
                let local = socket.local_addr()?;
                (Net::Udp { socket, peer }, Some(local))
            }
            Bearer::Tcp { listen, peer } => {
                let listener = match listen {
                    Some(addr) => {
                        Some(TcpListener::bind(addr).await.map_err(|source| Error::Bind { addr, source })?)
                    }
                    None => None,
                };
                let local = listener.as_ref().map(TcpListener::local_addr).transpose()?;
                (Net::Tcp { listener, links: Links::new(options.max_connections), peer }, local)
            }
        };
        let (net_tx, net_rx) = mpsc::channel(4096);
        let shim = options.impairment.clone().map(Shim::new);
        let driver = Driver {
            engine,
            options,
            clock: Clock::new(),
            cmds,
            net_tx,
            net_rx,
            net,
            shim,
            io: IoStats::default(),
            send_log: SendLog::default(),
            next_conn: 1,
            shutdown_at: None,
            effects: Vec::new(),
        };
        Ok((driver, local))
    }

    /// Runs until shut down; returns the final snapshot.
    pub(crate) async fn run(mut self) -> Result<Snapshot, Error> {
        let result = self.run_loop().await;
        self.engine.close();
        if let Net::Tcp { links, .. } = &mut self.net {
            links.close_all();
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

    async fn run_loop(&mut self) -> Result<(), Error> {
        if let Net::Udp { peer, .. } = self.net {
            self.engine.input(self.clock.now(), Input::LinkUp { peer: peer.map(Remote::Addr) });
        }
        let far = || tokio::time::Instant::now() + StdDuration::from_secs(86_400);
        let sleep = tokio::time::sleep_until(far());
        tokio::pin!(sleep);
        let mut buf = vec![0u8; 65_536];
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
            sleep.as_mut().reset(wake.map_or_else(far, |t| self.clock.to_std(t).into()));
            let (udp, listener) = match &self.net {
                Net::Udp { socket, .. } => (Some(socket), None),
                Net::Tcp { listener, .. } => (None, listener.as_ref()),
            };
            let woke = tokio::select! {
                biased;
                c = self.cmds.recv() => Wake::Cmd(c),
                m = self.net_rx.recv() => Wake::Net(m),
                r = recv_udp(udp, &mut buf) => Wake::Udp(r),
                r = accept(listener) => Wake::Accept(r),
                () = &mut sleep => Wake::Timer,
            };
            // Check the clock rather than trusting the sleep.
            let now = self.clock.now();
            self.wake(now, woke, &buf)?;
            for _ in 0..BATCH {
                let more = if let Ok(c) = self.cmds.try_recv() {
                    Wake::Cmd(Some(c))
                } else if let Ok(m) = self.net_rx.try_recv() {
                    Wake::Net(Some(m))
                } else if let Net::Udp { socket, .. } = &self.net {
                    match socket.try_recv_from(&mut buf) {
                        Ok(r) => Wake::Udp(Ok(r)),
                        Err(_) => break,
                    }
                } else {
                    break;
                };
                self.wake(now, more, &buf)?;
            }
            self.engine.tick(now);
        }
    }

    fn wake(&mut self, now: Instant, woke: Wake, buf: &[u8]) -> Result<(), Error> {
        match woke {
            Wake::Cmd(Some(cmd)) => {
                if let Some(cmd) = self.engine.command(now, cmd)? {
                    self.driver_command(now, cmd);
                }
            }
            // Every handle is gone: stop as if asked to.
            Wake::Cmd(None) => self.driver_command(now, Command::Shutdown),
            Wake::Net(Some(msg)) => self.net_msg(now, msg),
            Wake::Net(None) | Wake::Timer => {}
            Wake::Udp(Ok((n, from))) => {
                self.io.pdus_in += 1;
                let bytes = Bytes::copy_from_slice(&buf[..n]);
                let verdict = self.engine.pdu(now, Remote::Addr(from), bytes);
                if !matches!(verdict, Some(Verdict::Accepted | Verdict::Answered)) {
                    self.io.pdus_refused += 1;
                }
            }
            Wake::Udp(Err(e)) => {
                // ICMP errors from earlier sends surface here; nothing to do.
                tracing::trace!("udp receive: {e}");
            }
            Wake::Accept(Ok((stream, from))) => {
                self.io.accepted += 1;
                let conn = self.next_conn();
                tracing::debug!(conn, %from, "accepted");
                let handle = self.connection(conn, stream);
                if let Net::Tcp { links, .. } = &mut self.net {
                    if let Some(i) = links.accepted(conn, handle) {
                        self.engine.input(now, i);
                    }
                }
            }
            Wake::Accept(Err(e)) => tracing::warn!("accept: {e}"),
        }
        Ok(())
    }

    fn next_conn(&mut self) -> u64 {
        self.next_conn += 1;
        self.next_conn
    }

    fn net_msg(&mut self, now: Instant, msg: NetMsg) {
        match msg {
            NetMsg::Frame { conn, bytes } => {
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
            NetMsg::Dialed { conn, result } => {
                let input = match result {
                    Ok(stream) => {
                        self.io.dialed += 1;
                        let handle = self.connection(conn, stream);
                        match &mut self.net {
                            Net::Tcp { links, .. } => links.dialed(conn, handle),
                            Net::Udp { .. } => None,
                        }
                    }
                    Err(e) => {
                        tracing::debug!(conn, "dial failed: {e}");
                        self.io.dial_failures += 1;
                        match &mut self.net {
                            Net::Tcp { links, .. } => links.dial_failed(),
                            Net::Udp { .. } => None,
                        }
                    }
                };
                if let Some(i) = input {
                    self.engine.input(now, i);
                }
            }
            NetMsg::Closed { conn, garbage } => {
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
    }

    /// Starts a connection's reader and writer tasks.
    fn connection(&self, conn: u64, stream: TcpStream) -> TokioConn {
        let _ = stream.set_nodelay(true);
        let (rd, wr) = stream.into_split();
        let (queue, rx) = mpsc::channel(WRITE_QUEUE);
        let reader = tokio::spawn(read_frames(conn, rd, self.net_tx.clone(), self.options.idle_timeout));
        let writer = tokio::spawn(write_frames(wr, rx));
        TokioConn { queue, reader: reader.abort_handle(), writer: writer.abort_handle() }
    }

    /// Releases due shim PDUs, then drains the session and carries out its requests until
    /// nothing is left.
    fn pump(&mut self, now: Instant) -> Result<(), Error> {
        while let Some((to, pdu)) = self.shim.as_mut().and_then(|s| s.pop_due_to(now)) {
            self.send_now(to, pdu);
        }
        loop {
            flush_blocking(&mut self.engine, now, &mut self.effects)?;
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
            Effect::Bearer(BearerRequest::Dial) => {
                let conn = self.next_conn();
                match &mut self.net {
                    Net::Udp { peer, .. } => {
                        let peer = peer.map(Remote::Addr);
                        self.engine.input(now, Input::LinkUp { peer });
                    }
                    Net::Tcp { links, peer, .. } => match peer {
                        Some(to) if links.start_dial() => {
                            tracing::debug!(conn, %to, "dialing");
                            let (to, tx) = (*to, self.net_tx.clone());
                            tokio::spawn(async move {
                                let result =
                                    match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(to)).await
                                    {
                                        Ok(r) => r,
                                        Err(_) => Err(std::io::ErrorKind::TimedOut.into()),
                                    };
                                let _ = tx.send(NetMsg::Dialed { conn, result }).await;
                            });
                        }
                        Some(_) => {}
                        None => self.engine.input(now, Input::DialFailed),
                    },
                }
            }
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
            (Net::Udp { socket, .. }, Remote::Addr(to)) => match socket.try_send_to(&pdu, to) {
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

/// Flushes the engine; the commit inside blocks on the disk, so on a multi-threaded
/// runtime the worker is handed over for the duration (`block_in_place`).
fn flush_blocking(engine: &mut Engine, now: Instant, effects: &mut Vec<Effect>) -> Result<(), Error> {
    use tokio::runtime::{Handle, RuntimeFlavor};
    let multi = Handle::try_current().is_ok_and(|h| h.runtime_flavor() == RuntimeFlavor::MultiThread);
    if multi {
        tokio::task::block_in_place(|| engine.flush(now, effects))
    } else {
        engine.flush(now, effects)
    }
}

async fn recv_udp(socket: Option<&UdpSocket>, buf: &mut [u8]) -> std::io::Result<(usize, SocketAddr)> {
    match socket {
        Some(s) => s.recv_from(buf).await,
        None => std::future::pending().await,
    }
}

async fn accept(listener: Option<&TcpListener>) -> std::io::Result<(TcpStream, SocketAddr)> {
    match listener {
        Some(l) => l.accept().await,
        None => std::future::pending().await,
    }
}

async fn read_frames(conn: u64, mut rd: OwnedReadHalf, tx: mpsc::Sender<NetMsg>, idle: StdDuration) {
    let mut decoder = frame::Decoder::new();
    let mut buf = vec![0u8; 32 * 1024];
    let mut deadline = tokio::time::Instant::now() + idle;
    let garbage = loop {
        let n = match tokio::time::timeout_at(deadline, rd.read(&mut buf)).await {
            Err(_) => {
                tracing::debug!(conn, "dropping connection: no complete frame for {idle:?}");
                break true;
            }
            Ok(Ok(0)) | Ok(Err(_)) => break false,
            Ok(Ok(n)) => n,
        };
        decoder.extend(&buf[..n]);
        let bad = loop {
            match decoder.next_frame() {
                Ok(Some(bytes)) => {
                    deadline = tokio::time::Instant::now() + idle;
                    if tx.send(NetMsg::Frame { conn, bytes }).await.is_err() {
                        return;
                    }
                }
                Ok(None) => break false,
                Err(e) => {
                    tracing::debug!(conn, "dropping connection: {e}");
                    break true;
                }
            }
        };
        if bad {
            break true;
        }
    };
    let _ = tx.send(NetMsg::Closed { conn, garbage }).await;
}

async fn write_frames(mut wr: OwnedWriteHalf, mut rx: mpsc::Receiver<Bytes>) {
    while let Some(frame) = rx.recv().await {
        if wr.write_all(&frame).await.is_err() {
            break;
        }
    }
    let _ = wr.shutdown().await;
}
