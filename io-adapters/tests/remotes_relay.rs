//! Issue 14 over real sockets, with a relay between the two ends (the blocking driver):
//!
//! - an authentic CONFIRM or ACCEPT, recorded on the relay and replayed later from a third
//!   address (over TCP: a CONFIRM on a third connection), does not move the peer: none of the association's traffic goes to the
//!   replaying address (at most a stateless answer to the replayed PDU), and the transfer
//!   does not stall;
//! - an authentic peer that really moves — the relay's outbound source port changes
//!   mid-transfer, as a NAT rebinding does — is followed after its first authenticated
//!   PACKET: the transfer completes, the receiver's traffic reaches the new port, and
//!   nothing it sends after it has heard from the new port goes to the old one.
//!
//! The relay orders what it sees across its sockets by the PDUs' cleartext header (epoch,
//! packet number), never by time, so the assertions hold on a loaded machine.
#![cfg(feature = "std")]
mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use assoc_core::wire::{PduType, RawPdu};
use assoc_core::Priority;
use assoc_io::blocking::{Deliveries, Endpoint};
use assoc_io::{frame, Bearer, Options, Store};
use bytes::Bytes;
use common::*;

/// Which way a datagram crossed the relay.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Dir {
    /// From the initiator (behind the relay) towards the listener.
    Out,
    /// From the listener back towards the initiator.
    In,
}

/// One datagram the relay saw.
#[derive(Clone, Debug)]
struct Seen {
    dir: Dir,
    /// For `In`: the outbound socket (0 = the first port, 1 = after the rebinding) it
    /// arrived on. For `Out`: the socket it left on.
    port: usize,
    /// Whether the relay had rebound before it saw this datagram.
    after_rebind: bool,
    bytes: Bytes,
}

impl Seen {
    fn raw(&self) -> RawPdu {
        RawPdu::parse(&self.bytes).expect("the endpoints send well-formed PDUs")
    }
}

/// A UDP relay in front of the listener: the initiator sends to `front`; the relay passes
/// that on to the listener from its current outbound socket and passes the listener's
/// answers back. [`Relay::rebind`] moves to a fresh outbound socket (a new source port);
/// whatever arrives on an older one afterwards is logged and dropped, as a NAT that
/// forgot the old mapping would.
struct Relay {
    front: SocketAddr,
    log: Arc<Mutex<Vec<Seen>>>,
    rebind: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Relay {
    fn start(listener: SocketAddr) -> Relay {
        let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let front = UdpSocket::bind(any).unwrap();
        let front_addr = front.local_addr().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let rebind = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (log2, rebind2, stop2) = (log.clone(), rebind.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            front.set_nonblocking(true).unwrap();
            let outbound = || {
                let s = UdpSocket::bind(any).unwrap();
                s.set_nonblocking(true).unwrap();
                s
            };
            let mut backs = vec![outbound()];
            let mut initiator: Option<SocketAddr> = None;
            let mut buf = vec![0u8; 65_536];
            while !stop2.load(Ordering::Relaxed) {
                while backs.len() <= rebind2.load(Ordering::Relaxed) {
                    backs.push(outbound());
                }
                let current = backs.len() - 1;
                let mut idle = true;
                match front.recv_from(&mut buf) {
                    Ok((n, from)) => {
                        idle = false;
                        initiator = Some(from);
                        let bytes = Bytes::copy_from_slice(&buf[..n]);
                        let _ = backs[current].send_to(&bytes, listener);
                        let after_rebind = current > 0;
                        let seen = Seen { dir: Dir::Out, port: current, after_rebind, bytes };
                        log2.lock().unwrap().push(seen);
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                    Err(_) => {}
                }
                for (port, back) in backs.iter().enumerate() {
                    match back.recv_from(&mut buf) {
                        Ok((n, _)) => {
                            idle = false;
                            let bytes = Bytes::copy_from_slice(&buf[..n]);
                            // Traffic to a port the relay gave up is dropped.
                            if let Some(a) = initiator.filter(|_| port == current) {
                                let _ = front.send_to(&bytes, a);
                            }
                            let after_rebind = current > 0;
                            let seen = Seen { dir: Dir::In, port, after_rebind, bytes };
                            log2.lock().unwrap().push(seen);
                        }
                        Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                        Err(_) => {}
                    }
                }
                if idle {
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        });
        Relay { front: front_addr, log, rebind, stop, thread: Some(thread) }
    }

    /// Moves to a fresh outbound socket (the listener sees a new source port).
    fn rebind(&self) {
        self.rebind.fetch_add(1, Ordering::Relaxed);
    }

    fn seen(&self) -> Vec<Seen> {
        self.log.lock().unwrap().clone()
    }

    /// The first PDU of type `ty` that crossed in direction `dir`.
    fn first(&self, dir: Dir, ty: PduType) -> Bytes {
        self.seen()
            .into_iter()
            .find(|s| s.dir == dir && s.raw().ty == ty)
            .unwrap_or_else(|| panic!("the relay saw no {ty:?} going {dir:?}"))
            .bytes
    }
}

impl Relay {
    /// The TCP relay: every connection alpha makes to `front` is piped to a new
    /// connection to the listener, each frame logged (`port` 0; it never rebinds).
    fn start_tcp(listener: SocketAddr) -> Relay {
        let front = TcpListener::bind("127.0.0.1:0").unwrap();
        let front_addr = front.local_addr().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let log2 = log.clone();
        // Detached: it ends with the test process; its pipes end with their connections.
        std::thread::spawn(move || {
            for inbound in front.incoming() {
                let Ok(inbound) = inbound else { continue };
                let Ok(outbound) = TcpStream::connect(listener) else { continue };
                for (dir, from, to) in [
                    (Dir::Out, inbound.try_clone().unwrap(), outbound.try_clone().unwrap()),
                    (Dir::In, outbound, inbound),
                ] {
                    let log = log2.clone();
                    std::thread::spawn(move || pipe(dir, from, to, &log));
                }
            }
        });
        let (rebind, stop) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicBool::new(false)));
        Relay { front: front_addr, log, rebind, stop, thread: None }
    }
}

/// Copies `from` to `to` until either closes, logging each frame that crosses.
fn pipe(dir: Dir, mut from: TcpStream, mut to: TcpStream, log: &Mutex<Vec<Seen>>) {
    let mut frames = frame::Decoder::new();
    let mut buf = vec![0u8; 65_536];
    while let Ok(n @ 1..) = from.read(&mut buf) {
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
        frames.extend(&buf[..n]);
        while let Ok(Some(bytes)) = frames.next_frame() {
            log.lock().unwrap().push(Seen { dir, port: 0, after_rebind: false, bytes });
        }
    }
    let _ = to.shutdown(Shutdown::Both);
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The replaying party's own socket: a UDP port, or its own TCP connection.
enum Replayer {
    Udp(UdpSocket),
    Tcp(TcpStream, frame::Decoder),
}

impl Replayer {
    fn new(tcp: bool, target: SocketAddr) -> Replayer {
        if tcp {
            Replayer::Tcp(TcpStream::connect(target).unwrap(), frame::Decoder::new())
        } else {
            let s = UdpSocket::bind("127.0.0.1:0").unwrap();
            s.connect(target).unwrap();
            Replayer::Udp(s)
        }
    }

    fn send(&mut self, pdu: &[u8]) {
        match self {
            Replayer::Udp(s) => drop(s.send(pdu).unwrap()),
            Replayer::Tcp(s, _) => s.write_all(&frame::encode(pdu)).unwrap(),
        }
    }

    /// Every PDU that reaches the replayer within `wait`.
    fn overheard(&mut self, wait: Duration) -> Vec<Bytes> {
        let end = Instant::now() + wait;
        let mut got = Vec::new();
        let mut buf = vec![0u8; 65_536];
        while Instant::now() < end {
            match self {
                Replayer::Udp(s) => {
                    s.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
                    if let Ok(n) = s.recv(&mut buf) {
                        got.push(Bytes::copy_from_slice(&buf[..n]));
                    }
                }
                Replayer::Tcp(s, frames) => {
                    s.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
                    match s.read(&mut buf) {
                        Ok(0) => break,
                        Ok(n) => frames.extend(&buf[..n]),
                        Err(_) => {}
                    }
                    while let Ok(Some(f)) = frames.next_frame() {
                        got.push(f);
                    }
                }
            }
        }
        got
    }
}

/// The pair: beta listens with no fixed peer (the CLI's `serve`), alpha sends to the relay
/// in front of it. Returns once the association is up and one message went each way.
struct Pair {
    _dir: TempDir,
    relay: Relay,
    a: Endpoint,
    a_in: Deliveries,
    b: Endpoint,
    b_in: Deliveries,
}

impl Pair {
    /// `keepalive` for both ends: a quiet end sends nothing unprompted before it.
    fn start(tag: &str, tcp: bool, keepalive: assoc_core::Duration) -> Pair {
        trace();
        let dir = TempDir::new(tag);
        let (mut ca, mut cb) = configs();
        ca.keepalive = Some(keepalive);
        cb.keepalive = Some(keepalive);
        let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let store = |name: &str| Store::open(dir.join(name)).unwrap();
        let bearer_b = if tcp {
            Bearer::Tcp { listen: Some(any), peer: None }
        } else {
            Bearer::Udp { bind: any, peer: None }
        };
        let (b, b_in, _) = Endpoint::start(Options::new(cb, bearer_b), store("b.redb")).unwrap();
        let b_addr = b.local_addr().unwrap();
        let relay = if tcp { Relay::start_tcp(b_addr) } else { Relay::start(b_addr) };
        let bearer_a = if tcp {
            Bearer::Tcp { listen: None, peer: Some(relay.front) }
        } else {
            Bearer::Udp { bind: any, peer: Some(relay.front) }
        };
        let (a, a_in, _) = Endpoint::start(Options::new(ca, bearer_a), store("a.redb")).unwrap();
        a.open().unwrap();
        a.submit("alpha, before", Priority::Normal).unwrap();
        assert_eq!(delivered(&b_in, 1, Duration::from_secs(20)), 1, "association up, alpha → beta");
        b.submit("beta, before", Priority::Normal).unwrap();
        assert_eq!(delivered(&a_in, 1, Duration::from_secs(20)), 1, "beta → alpha");
        // Let the acknowledgements and receive summaries of that exchange go by: the
        // association is quiet when the test begins (not needed for correctness).
        std::thread::sleep(Duration::from_millis(500));
        Pair { _dir: dir, relay, a, a_in, b, b_in }
    }

    fn stop(self) {
        self.a.shutdown().unwrap();
        self.b.shutdown().unwrap();
    }
}

/// Replays the recorded `ty` (CONFIRM to beta, ACCEPT to alpha) from a third address;
/// then the end it was replayed to talks first.
fn replay(ty: PduType, tcp: bool) {
    // No keepalive within the test: a PDU from the real peer would move a misled end back
    // before it talks, and hide the mistake.
    let pair = Pair::start(&format!("relay-replay-{ty:?}-{tcp}"), tcp, assoc_core::Duration::from_secs(60));
    let (dir, target) = match ty {
        PduType::Confirm => (Dir::Out, pair.b.local_addr().unwrap()),
        _ => (Dir::In, pair.a.local_addr().unwrap()),
    };
    let (talker, listener) = match ty {
        PduType::Confirm => (&pair.b, &pair.a_in),
        _ => (&pair.a, &pair.b_in),
    };
    let recorded = pair.relay.first(dir, ty);
    let mut replayer = Replayer::new(tcp, target);
    for _ in 0..3 {
        replayer.send(&recorded);
    }
    // Let the replays land before anyone talks (a replayed CONFIRM is answered; a
    // replayed ACCEPT is not), so the talker's first packets go wherever it now takes the
    // peer to be; its messages and (after 1 s of quiet) keepalives would follow them.
    let mut stolen = replayer.overheard(Duration::from_millis(500));
    for i in 0..5 {
        talker.submit(format!("after the replay {i}"), Priority::Normal).unwrap();
    }
    let got = delivered(listener, 5, Duration::from_secs(20));
    stolen.extend(replayer.overheard(Duration::from_millis(2500)));
    let traffic: Vec<PduType> = stolen
        .iter()
        .map(|d| RawPdu::parse(d).expect("a well-formed PDU").ty)
        .filter(|t| !matches!(t, PduType::Accept | PduType::Stale))
        .collect();
    assert!(
        traffic.is_empty(),
        "the replaying address received the association's traffic: {traffic:?} (of {} datagrams)",
        stolen.len()
    );
    assert!(stolen.len() <= 3, "more answers than replayed PDUs: {}", stolen.len());
    assert_eq!(got, 5, "the transfer stalled after the replay");
    pair.stop();
}

#[test]
fn udp_a_replayed_confirm_from_a_third_address_moves_nothing() {
    replay(PduType::Confirm, false);
}

/// Over TCP the replay comes on a third connection. (An ACCEPT cannot be replayed to the
/// dialling end over TCP: it has no listener to connect to.)
#[test]
fn tcp_a_replayed_confirm_on_a_third_connection_moves_nothing() {
    replay(PduType::Confirm, true);
}

#[test]
fn udp_a_replayed_accept_from_a_third_address_moves_nothing() {
    replay(PduType::Accept, false);
}

#[test]
fn udp_a_peer_that_moves_is_followed_after_its_first_authenticated_packet() {
    let pair = Pair::start("relay-rebind", false, assoc_core::Duration::from_secs(1));
    let total = 40;
    for i in 0..total / 2 {
        pair.a.submit(message(0, i), Priority::Normal).unwrap();
    }
    let first_half = delivered(&pair.b_in, 10, Duration::from_secs(20));
    assert_eq!(first_half, 10, "the transfer got going");
    // Mid-transfer: the relay's outbound port changes; beta's answers to the old one are lost.
    pair.relay.rebind();
    for i in total / 2..total {
        pair.a.submit(message(0, i), Priority::Normal).unwrap();
    }
    let rest = delivered(&pair.b_in, (total - 10) as usize, Duration::from_secs(30));
    assert_eq!(rest, (total - 10) as usize, "the transfer stalled after the rebinding");
    // beta talks on its own too, after the move.
    for i in 0..5 {
        pair.b.submit(message(1, i), Priority::Normal).unwrap();
    }
    assert_eq!(delivered(&pair.a_in, 5, Duration::from_secs(20)), 5, "beta → alpha after the move");
    // Keepalives after a quiet second go to the new port too.
    std::thread::sleep(Duration::from_millis(1500));

    let seen = pair.relay.seen();
    let from_beta = |port: usize| {
        seen.iter()
            .filter(move |s| s.dir == Dir::In && s.port == port && s.after_rebind)
            .map(|s| s.raw())
            .collect::<Vec<_>>()
    };
    let new_port = from_beta(1);
    let old_port = from_beta(0);
    assert!(new_port.iter().any(|r| r.ty == PduType::Packet), "beta's traffic never reached the new port");
    assert!(
        old_port.iter().all(|r| r.ty == PduType::Packet),
        "beta started a handshake towards the old port: {:?}",
        old_port.iter().map(|r| r.ty).collect::<Vec<_>>()
    );
    // Ordered by beta's own (epoch, packet number): whatever went to the old port after the
    // rebinding left before beta's first packet to the new one (it was already in flight).
    let key = |r: &RawPdu| (r.header.epoch, r.header.pn);
    let first_new = new_port.iter().filter(|r| r.ty == PduType::Packet).map(key).min().unwrap();
    let late: Vec<_> = old_port.iter().map(key).filter(|k| *k > first_new).collect();
    assert!(
        late.is_empty(),
        "beta sent {} packets to the old port after its first to the new one ({first_new:?}): {late:?}",
        late.len()
    );
    pair.stop();
}
