//! The std bearers' helper threads. std has no `select`, so every blocking socket read
//! runs on its own small thread that forwards what it reads into the driver's channel; the
//! driver thread alone owns the session and blocks on that channel with a timeout taken
//! from the deadline its last drain ended with. Writes to TCP go through a bounded queue per connection, so a peer
//! that stops reading can never block the driver (a full queue drops the PDU; the protocol
//! recovers).

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvError, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::Arc;
use std::sync::Mutex;
use std::thread::JoinHandle;
use std::time::Duration;

use bytes::Bytes;

use crate::engine::Command;
use crate::frame;
use crate::links::ConnHandle;

/// How often blocked reads wake up to look at the stop flag.
const POLL: Duration = Duration::from_millis(100);
/// Frames queued per connection before new ones are dropped.
const WRITE_QUEUE: usize = 1024;
/// Longest a single write may block before the connection is given up.
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest a dial may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Everything that reaches the driver thread.
pub(crate) enum Msg {
    Cmd(Command),
    Datagram {
        from: SocketAddr,
        bytes: Bytes,
    },
    Frame {
        conn: u64,
        bytes: Bytes,
    },
    Accepted {
        conn: u64,
        stream: TcpStream,
    },
    Dialed {
        conn: u64,
        result: std::io::Result<TcpStream>,
    },
    /// A connection ended; `garbage` if it was dropped for a bad frame or stalling.
    Closed {
        conn: u64,
        garbage: bool,
    },
}

/// Waits for the driver's next message until `wake` (`None`: without a deadline);
/// `Ok(None)` when the deadline came first, `Err` once every sender is gone.
pub(crate) fn wait<M>(
    rx: &Receiver<M>,
    now: assoc_core::Instant,
    wake: Option<assoc_core::Instant>,
) -> Result<Option<M>, RecvError> {
    match wake {
        Some(t) => match rx.recv_timeout(crate::clock::to_std(t.saturating_duration_since(now))) {
            Ok(m) => Ok(Some(m)),
            Err(RecvTimeoutError::Timeout) => Ok(None),
            Err(RecvTimeoutError::Disconnected) => Err(RecvError),
        },
        None => rx.recv().map(Some),
    }
}

/// Waits for a driver thread started by a handle to end and returns its result (once:
/// [`Error::Stopped`](crate::Error::Stopped) for a second caller or a panicked thread).
pub(crate) fn join_driver<T>(
    thread: &Mutex<Option<JoinHandle<Result<T, crate::Error>>>>,
) -> Result<T, crate::Error> {
    let thread = thread.lock().ok().and_then(|mut t| t.take());
    match thread {
        Some(t) => t.join().unwrap_or(Err(crate::Error::Stopped)),
        None => Err(crate::Error::Stopped),
    }
}

/// Spawns a named helper thread, logging if the OS refuses.
fn spawn(name: &str, f: impl FnOnce() + Send + 'static) -> Option<JoinHandle<()>> {
    match std::thread::Builder::new().name(name.into()).spawn(f) {
        Ok(h) => Some(h),
        Err(e) => {
            tracing::error!("cannot spawn {name}: {e}");
            None
        }
    }
}

/// Reads datagrams from `socket` until `stop`, handing each to `deliver` (which puts it
/// into a driver's channel, blocking while that is full); stops early once `deliver`
/// returns `false` (nobody is listening). The one-session and the many-session drivers
/// share this.
pub(crate) fn udp_reader(
    socket: UdpSocket,
    stop: Arc<AtomicBool>,
    mut deliver: impl FnMut(SocketAddr, Bytes) -> bool + Send + 'static,
) -> Option<JoinHandle<()>> {
    spawn("assoc-udp-rx", move || {
        if let Err(e) = socket.set_read_timeout(Some(POLL)) {
            tracing::error!("udp read timeout: {e}");
        }
        let mut buf = vec![0u8; 65_536];
        while !stop.load(Ordering::Relaxed) {
            match socket.recv_from(&mut buf) {
                Ok((n, from)) => {
                    if !deliver(from, Bytes::copy_from_slice(&buf[..n])) {
                        break;
                    }
                }
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                // ICMP "port unreachable" from an earlier send shows up here on Linux.
                Err(e) if e.kind() == ErrorKind::ConnectionRefused => {}
                Err(e) => {
                    tracing::warn!("udp receive: {e}");
                    std::thread::sleep(POLL);
                }
            }
        }
    })
}

/// Accepts connections on `listener` until `stop`, handing each with its id (from `ids`)
/// to `deliver`; stops early once `deliver` returns `false`.
pub(crate) fn acceptor(
    listener: TcpListener,
    stop: Arc<AtomicBool>,
    ids: Arc<std::sync::atomic::AtomicU64>,
    mut deliver: impl FnMut(u64, TcpStream) -> bool + Send + 'static,
) -> Option<JoinHandle<()>> {
    spawn("assoc-tcp-accept", move || {
        if let Err(e) = listener.set_nonblocking(true) {
            tracing::error!("listener: {e}");
            return;
        }
        while !stop.load(Ordering::Relaxed) {
            match listener.accept() {
                Ok((stream, from)) => {
                    let conn = ids.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(conn, %from, "accepted");
                    if stream.set_nonblocking(false).is_err() {
                        continue;
                    }
                    if !deliver(conn, stream) {
                        break;
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => std::thread::sleep(Duration::from_millis(10)),
                Err(e) => {
                    tracing::warn!("accept: {e}");
                    std::thread::sleep(POLL);
                }
            }
        }
    })
}

/// Dials `to` on a helper thread and reports the result as `Dialed { conn }`.
pub(crate) fn dial(conn: u64, to: SocketAddr, tx: SyncSender<Msg>) {
    let _ = spawn("assoc-tcp-dial", move || {
        let result = TcpStream::connect_timeout(&to, CONNECT_TIMEOUT);
        let _ = tx.send(Msg::Dialed { conn, result });
    });
}

/// A TCP connection's driver-side handle: its write queue and a clone to shut it down.
pub(crate) struct StdConn {
    queue: SyncSender<Bytes>,
    stream: TcpStream,
}

impl ConnHandle for StdConn {
    fn send(&self, frame: Bytes) -> bool {
        match self.queue.try_send(frame) {
            Ok(()) => true,
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => false,
        }
    }

    fn close(&self) {
        let _ = self.stream.shutdown(Shutdown::Both);
    }
}

/// What a connection's reader reports.
pub(crate) enum ConnEvent {
    /// One complete frame (a PDU, not yet looked at).
    Frame(Bytes),
    /// The connection ended; `garbage` if it was dropped for a bad frame or stalling.
    Closed {
        /// Dropped for a bad frame or for no complete frame within the idle time.
        garbage: bool,
    },
}

/// Starts the reader and writer threads of connection `conn`; the reader hands what it
/// reads to `deliver` (blocking while the driver's channel is full) and stops early once
/// that returns `false`. A connection with no complete frame for `idle` is closed.
pub(crate) fn connection(
    conn: u64,
    stream: TcpStream,
    stop: Arc<AtomicBool>,
    idle: Duration,
    deliver: impl FnMut(ConnEvent) -> bool + Send + 'static,
) -> std::io::Result<(StdConn, Vec<JoinHandle<()>>)> {
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(POLL))?;
    stream.set_write_timeout(Some(WRITE_TIMEOUT))?;
    let (queue, rx) = std::sync::mpsc::sync_channel::<Bytes>(WRITE_QUEUE);
    let mut writer = stream.try_clone()?;
    let reader = stream.try_clone()?;
    let mut threads = Vec::new();
    threads.extend(spawn("assoc-tcp-tx", move || {
        for frame in rx {
            if writer.write_all(&frame).is_err() {
                let _ = writer.shutdown(Shutdown::Both);
                break;
            }
        }
    }));
    threads.extend(spawn("assoc-tcp-rx", move || read_frames(conn, reader, stop, idle, deliver)));
    Ok((StdConn { queue, stream }, threads))
}

fn read_frames(
    conn: u64,
    mut stream: TcpStream,
    stop: Arc<AtomicBool>,
    idle: Duration,
    mut deliver: impl FnMut(ConnEvent) -> bool,
) {
    let mut decoder = frame::Decoder::new();
    let mut buf = vec![0u8; 32 * 1024];
    let mut last_frame = std::time::Instant::now();
    let mut garbage = false;
    while !stop.load(Ordering::Relaxed) {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                decoder.extend(&buf[..n]);
                loop {
                    match decoder.next_frame() {
                        Ok(Some(bytes)) => {
                            last_frame = std::time::Instant::now();
                            if !deliver(ConnEvent::Frame(bytes)) {
                                return;
                            }
                        }
                        Ok(None) => break,
                        Err(e) => {
                            tracing::debug!(conn, "dropping connection: {e}");
                            garbage = true;
                            break;
                        }
                    }
                }
                if garbage {
                    break;
                }
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                if last_frame.elapsed() > idle {
                    tracing::debug!(conn, "dropping connection: no complete frame for {idle:?}");
                    garbage = true;
                    break;
                }
            }
            Err(_) => break,
        }
    }
    let _ = stream.shutdown(Shutdown::Both);
    deliver(ConnEvent::Closed { garbage });
}
