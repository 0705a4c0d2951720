//! The tokio driver task: one task owns the session and the store and `select!`s over the
//! UDP socket (or the TCP listener and the connections' frames), application commands,
//! and a single reusable sleep set to the next deadline. After every wake-up it reads the
//! clock instead of trusting the sleep. Everything that is not about tasks and sockets is
//! the shared [`Pump`].

use std::net::SocketAddr;
use std::time::Duration as StdDuration;

use assoc_core::Instant;
use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::mpsc;
use tokio::task::AbortHandle;

use crate::api::{Bearer, Error, Options, Snapshot};
use crate::clock::Clock;
use crate::engine::{Command, Effect, Engine};
use crate::frame;
use crate::links::ConnHandle;
use crate::pump::{Pump, Sockets};

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

enum Wake {
    Cmd(Option<Command>),
    Net(Option<NetMsg>),
    Udp(std::io::Result<(usize, SocketAddr)>),
    Accept(std::io::Result<(TcpStream, SocketAddr)>),
    Timer,
}

/// The driver's sockets and tasks, as the pump uses them.
struct TokioSockets {
    udp: Option<UdpSocket>,
    listener: Option<TcpListener>,
    net_tx: mpsc::Sender<NetMsg>,
    next_conn: u64,
}

impl Sockets for TokioSockets {
    fn send_udp(&mut self, to: SocketAddr, pdu: &[u8]) -> std::io::Result<()> {
        match &self.udp {
            Some(s) => s.try_send_to(pdu, to).map(drop),
            None => Err(std::io::ErrorKind::NotConnected.into()),
        }
    }
    fn dial(&mut self, conn: u64, to: SocketAddr) {
        let tx = self.net_tx.clone();
        tokio::spawn(async move {
            let result = match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(to)).await {
                Ok(r) => r,
                Err(_) => Err(std::io::ErrorKind::TimedOut.into()),
            };
            let _ = tx.send(NetMsg::Dialed { conn, result }).await;
        });
    }
    fn next_conn(&mut self) -> u64 {
        self.next_conn += 1;
        self.next_conn
    }
    fn flush(&mut self, engine: &mut Engine, now: Instant, effects: &mut Vec<Effect>) -> Result<(), Error> {
        flush_blocking(engine, now, effects)
    }
}

pub(crate) struct Driver {
    pump: Pump<TokioConn>,
    sockets: TokioSockets,
    idle_timeout: StdDuration,
    clock: Clock,
    cmds: mpsc::UnboundedReceiver<Command>,
    net_rx: mpsc::Receiver<NetMsg>,
}

impl Driver {
    pub(crate) async fn new(
        engine: Engine,
        options: Options,
        cmds: mpsc::UnboundedReceiver<Command>,
    ) -> Result<(Driver, Option<SocketAddr>), Error> {
        let (udp, listener) = match options.bearer {
            Bearer::Udp { bind, .. } => {
                let socket =
                    UdpSocket::bind(bind).await.map_err(|source| Error::Bind { addr: bind, source })?;
                (Some(socket), None)
            }
            Bearer::Tcp { listen, .. } => match listen {
                Some(addr) => (
                    None,
                    Some(TcpListener::bind(addr).await.map_err(|source| Error::Bind { addr, source })?),
                ),
                None => (None, None),
            },
        };
        let local = match (&udp, &listener) {
            (Some(s), _) => Some(s.local_addr()?),
            (None, Some(l)) => Some(l.local_addr()?),
            (None, None) => None,
        };
        let (net_tx, net_rx) = mpsc::channel(4096);
        let driver = Driver {
            pump: Pump::new(engine, &options),
            sockets: TokioSockets { udp, listener, net_tx, next_conn: 1 },
            idle_timeout: options.idle_timeout,
            clock: Clock::new(),
            cmds,
            net_rx,
        };
        Ok((driver, local))
    }

    /// Runs until shut down; returns the final snapshot.
    pub(crate) async fn run(mut self) -> Result<Snapshot, Error> {
        let result = self.run_loop().await;
        self.pump.close();
        result.map(|()| self.pump.snapshot(self.clock.now()))
    }

    async fn run_loop(&mut self) -> Result<(), Error> {
        self.pump.start(self.clock.now());
        let far = || tokio::time::Instant::now() + StdDuration::from_secs(86_400);
        let sleep = tokio::time::sleep_until(far());
        tokio::pin!(sleep);
        let mut buf = vec![0u8; 65_536];
        loop {
            let now = self.clock.now();
            self.pump.pump(now, &mut self.sockets)?;
            if self.pump.done(now) {
                return Ok(());
            }
            let wake = self.pump.wake_at();
            sleep.as_mut().reset(wake.map_or_else(far, |t| self.clock.to_std(t).into()));
            let woke = tokio::select! {
                biased;
                c = self.cmds.recv() => Wake::Cmd(c),
                m = self.net_rx.recv() => Wake::Net(m),
                r = recv_udp(self.sockets.udp.as_ref(), &mut buf) => Wake::Udp(r),
                r = accept(self.sockets.listener.as_ref()) => Wake::Accept(r),
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
                } else if let Some(socket) = &self.sockets.udp {
                    match socket.try_recv_from(&mut buf) {
                        Ok(r) => Wake::Udp(Ok(r)),
                        Err(_) => break,
                    }
                } else {
                    break;
                };
                self.wake(now, more, &buf)?;
            }
            self.pump.tick(now);
        }
    }

    fn wake(&mut self, now: Instant, woke: Wake, buf: &[u8]) -> Result<(), Error> {
        match woke {
            Wake::Cmd(Some(cmd)) => self.pump.command(now, cmd)?,
            // Every handle is gone: stop as if asked to.
            Wake::Cmd(None) => self.pump.shutdown(now),
            Wake::Net(Some(NetMsg::Frame { conn, bytes })) => self.pump.frame(now, conn, bytes),
            Wake::Net(Some(NetMsg::Dialed { conn, result })) => {
                let handle = result.map(|stream| self.connection(conn, stream));
                self.pump.dialed(now, conn, handle);
            }
            Wake::Net(Some(NetMsg::Closed { conn, garbage })) => self.pump.closed(now, conn, garbage),
            Wake::Net(None) | Wake::Timer => {}
            Wake::Udp(Ok((n, from))) => self.pump.datagram(now, from, Bytes::copy_from_slice(&buf[..n])),
            Wake::Udp(Err(e)) => {
                // ICMP errors from earlier sends surface here; nothing to do.
                tracing::trace!("udp receive: {e}");
            }
            Wake::Accept(Ok((stream, from))) => {
                let conn = self.sockets.next_conn();
                tracing::debug!(conn, %from, "accepted");
                let handle = self.connection(conn, stream);
                self.pump.accepted(now, conn, handle);
            }
            Wake::Accept(Err(e)) => tracing::warn!("accept: {e}"),
        }
        Ok(())
    }

    /// Starts a connection's reader and writer tasks.
    fn connection(&self, conn: u64, stream: TcpStream) -> TokioConn {
        let _ = stream.set_nodelay(true);
        let (rd, wr) = stream.into_split();
        let (queue, rx) = mpsc::channel(WRITE_QUEUE);
        let reader = tokio::spawn(read_frames(conn, rd, self.sockets.net_tx.clone(), self.idle_timeout));
        let writer = tokio::spawn(write_frames(wr, rx));
        TokioConn { queue, reader: reader.abort_handle(), writer: writer.abort_handle() }
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
