//! The blocking driver loop: one thread owns the session and the store, blocks on its
//! channel until the next deadline, and moves bytes and time. See the module docs of
//! [`crate::blocking`]; everything that is not about threads and sockets is the shared
//! [`Pump`].

use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;

use assoc_core::Instant;

use super::net::{self, Msg, StdConn};
use crate::api::{Bearer, Error, Options, Snapshot};
use crate::clock::Clock;
use crate::engine::Engine;
use crate::pump::{Pump, Sockets};

/// Inputs handled before one flush (one commit covers them all).
const BATCH: usize = 256;

/// The driver's sockets and helper threads, as the pump uses them.
struct StdSockets {
    udp: Option<UdpSocket>,
    tx: SyncSender<Msg>,
    ids: Arc<AtomicU64>,
}

impl Sockets for StdSockets {
    fn send_udp(&mut self, to: SocketAddr, pdu: &[u8]) -> std::io::Result<()> {
        match &self.udp {
            Some(s) => s.send_to(pdu, to).map(drop),
            None => Err(std::io::ErrorKind::NotConnected.into()),
        }
    }
    fn dial(&mut self, conn: u64, to: SocketAddr) {
        net::dial(conn, to, self.tx.clone());
    }
    fn next_conn(&mut self) -> u64 {
        self.ids.fetch_add(1, Ordering::Relaxed)
    }
}

pub(crate) struct Driver {
    pump: Pump<StdConn>,
    sockets: StdSockets,
    idle_timeout: std::time::Duration,
    clock: Clock,
    rx: Receiver<Msg>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
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
        let (udp, local) = match options.bearer {
            Bearer::Udp { bind, .. } => {
                let socket = UdpSocket::bind(bind).map_err(|source| Error::Bind { addr: bind, source })?;
                let local = socket.local_addr()?;
                let tx = tx.clone();
                threads.extend(net::udp_reader(socket.try_clone()?, stop.clone(), move |from, bytes| {
                    tx.send(Msg::Datagram { from, bytes }).is_ok()
                }));
                (Some(socket), Some(local))
            }
            Bearer::Tcp { listen, .. } => {
                let mut local = None;
                if let Some(addr) = listen {
                    let listener = TcpListener::bind(addr).map_err(|source| Error::Bind { addr, source })?;
                    local = Some(listener.local_addr()?);
                    let tx = tx.clone();
                    threads.extend(net::acceptor(
                        listener,
                        stop.clone(),
                        ids.clone(),
                        move |conn, stream| tx.send(Msg::Accepted { conn, stream }).is_ok(),
                    ));
                }
                (None, local)
            }
        };
        let driver = Driver {
            pump: Pump::new(engine, &options),
            sockets: StdSockets { udp, tx, ids },
            idle_timeout: options.idle_timeout,
            clock: Clock::new(),
            rx,
            stop,
            threads,
        };
        Ok((driver, local))
    }

    /// Runs until shut down; returns the final snapshot.
    pub(crate) fn run(mut self) -> Result<Snapshot, Error> {
        let result = self.run_loop();
        self.pump.close();
        self.stop.store(true, Ordering::Relaxed);
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
        result.map(|()| self.pump.snapshot(self.clock.now()))
    }

    fn run_loop(&mut self) -> Result<(), Error> {
        self.pump.start(self.clock.now());
        loop {
            let now = self.clock.now();
            self.pump.pump(now, &mut self.sockets)?;
            if self.pump.done(now) {
                return Ok(());
            }
            let Ok(first) = net::wait(&self.rx, now, self.pump.wake_at()) else { return Ok(()) };
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
            self.pump.tick(now);
        }
    }

    fn handle(&mut self, now: Instant, msg: Msg) -> Result<(), Error> {
        let (tx, stop, idle) = (&self.sockets.tx, &self.stop, self.idle_timeout);
        match msg {
            Msg::Cmd(cmd) => self.pump.command(now, cmd)?,
            Msg::Datagram { from, bytes } => self.pump.datagram(now, from, bytes),
            Msg::Frame { conn, bytes } => self.pump.frame(now, conn, bytes),
            Msg::Accepted { conn, stream } => {
                match net::connection(conn, stream, stop.clone(), idle, to_driver(tx, conn)) {
                    Ok((handle, threads)) => {
                        self.threads.extend(threads);
                        self.pump.accepted(now, conn, handle);
                    }
                    Err(e) => tracing::warn!(conn, "accepted connection unusable: {e}"),
                }
            }
            Msg::Dialed { conn, result } => {
                let handle = result.and_then(|stream| {
                    net::connection(conn, stream, stop.clone(), idle, to_driver(tx, conn))
                });
                let handle = handle.map(|(handle, threads)| {
                    self.threads.extend(threads);
                    handle
                });
                self.pump.dialed(now, conn, handle);
            }
            Msg::Closed { conn, garbage } => self.pump.closed(now, conn, garbage),
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
}

/// A connection reader's events as this driver's messages.
fn to_driver(tx: &SyncSender<Msg>, conn: u64) -> impl FnMut(net::ConnEvent) -> bool + Send + 'static {
    let tx = tx.clone();
    move |event| {
        let msg = match event {
            net::ConnEvent::Frame(bytes) => Msg::Frame { conn, bytes },
            net::ConnEvent::Closed { garbage } => Msg::Closed { conn, garbage },
        };
        tx.send(msg).is_ok()
    }
}
