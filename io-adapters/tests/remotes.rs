//! Issue 14 over real sockets: a third party without the key sends an INIT to an endpoint
//! that has no fixed peer (the CLI's `serve`), receives a CHALLENGE with a genuine cookie,
//! and answers with a CONFIRM carrying that cookie and a wrong proof. It must never receive
//! one datagram of the association's traffic, and the transfer must not stall. Over UDP
//! (the attacker's own port) and over TCP (the attacker's own connection).
#![cfg(feature = "std")]
mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use assoc_core::wire::{AuthTag, Body, Confirm, Header, Init, Nonce, Pdu, Summary};
use assoc_core::{Config, Priority};
use assoc_io::blocking::Endpoint;
use assoc_io::{frame, Bearer, Options, Store};
use bytes::Bytes;
use common::*;

/// An INIT from someone without the PSK, addressed to `responder`.
fn forged_init(responder: &Config) -> Bytes {
    let init = Init {
        tag_i: 0x5151,
        nonce_i: Nonce([9; 16]),
        initiator: responder.peer_name,
        responder: responder.local_name,
        params: responder.params,
        padding: Init::min_padding(&responder.peer_name, &responder.local_name),
    };
    let header = Header { sid: responder.sid, dst_tag: 0, epoch: 1, pn: 0 };
    Pdu { header, body: Body::Init(init), auth: AuthTag([1; 16]) }.to_bytes()
}

/// The CONFIRM an attacker builds from a CHALLENGE: the genuine cookie, a made-up proof.
fn forged_confirm(responder: &Config, challenge: &Bytes) -> Bytes {
    let pdu = Pdu::decode(challenge).expect("a CHALLENGE decodes (its body is cleartext)");
    let Body::Challenge(ch) = pdu.body else { panic!("not a CHALLENGE: {pdu:?}") };
    let header = Header { sid: responder.sid, dst_tag: ch.tag_r, epoch: ch.cookie.epoch, pn: 0 };
    let confirm = Confirm {
        cookie: ch.cookie,
        initiator: responder.peer_name,
        proof_i: AuthTag([7; 16]),
        summary: Summary::default(),
    };
    Pdu { header, body: Body::Confirm(confirm), auth: AuthTag([3; 16]) }.to_bytes()
}

/// The attacker's side of the bearer.
trait Wire {
    fn send(&mut self, pdu: &[u8]);
    /// Every PDU that arrives within `wait`.
    fn receive(&mut self, wait: Duration) -> Vec<Bytes>;
}

struct Udp(UdpSocket, SocketAddr);

impl Wire for Udp {
    fn send(&mut self, pdu: &[u8]) {
        self.0.send_to(pdu, self.1).unwrap();
    }
    fn receive(&mut self, wait: Duration) -> Vec<Bytes> {
        let end = Instant::now() + wait;
        let mut got = Vec::new();
        let mut buf = [0u8; 65_536];
        while Instant::now() < end {
            self.0.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
            if let Ok(n) = self.0.recv(&mut buf) {
                got.push(Bytes::copy_from_slice(&buf[..n]));
            }
        }
        got
    }
}

struct Tcp(TcpStream, frame::Decoder);

impl Wire for Tcp {
    fn send(&mut self, pdu: &[u8]) {
        self.0.write_all(&frame::encode(pdu)).unwrap();
    }
    fn receive(&mut self, wait: Duration) -> Vec<Bytes> {
        let end = Instant::now() + wait;
        let mut got = Vec::new();
        let mut buf = [0u8; 65_536];
        while Instant::now() < end {
            self.0.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
            match self.0.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => self.1.extend(&buf[..n]),
                Err(_) => {}
            }
            while let Ok(Some(f)) = self.1.next_frame() {
                got.push(f);
            }
        }
        got
    }
}

fn attack(tcp: bool) {
    trace();
    let dir = TempDir::new(if tcp { "remotes-tcp" } else { "remotes-udp" });
    let (ca, cb) = configs();
    let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let store = |name: &str| Store::open(dir.join(name)).unwrap();
    // beta is the CLI's `serve`: no fixed peer.
    let bearer_b = if tcp {
        Bearer::Tcp { listen: Some(any), peer: None }
    } else {
        Bearer::Udp { bind: any, peer: None }
    };
    let (b, b_in, _b_out) = Endpoint::start(Options::new(cb.clone(), bearer_b), store("b.redb")).unwrap();
    let addr = b.local_addr().unwrap();
    let bearer_a = if tcp {
        Bearer::Tcp { listen: None, peer: Some(addr) }
    } else {
        Bearer::Udp { bind: any, peer: Some(addr) }
    };
    let (a, a_in, _a_out) = Endpoint::start(Options::new(ca, bearer_a), store("a.redb")).unwrap();
    a.open().unwrap();
    a.submit("before the attack", Priority::Normal).unwrap();
    assert_eq!(delivered(&b_in, 1, Duration::from_secs(10)), 1, "association up and a message through");

    let mut wire: Box<dyn Wire> = if tcp {
        Box::new(Tcp(TcpStream::connect(addr).unwrap(), frame::Decoder::new()))
    } else {
        let s = UdpSocket::bind(any).unwrap();
        Box::new(Udp(s, addr))
    };
    wire.send(&forged_init(&cb));
    let answers = wire.receive(Duration::from_millis(500));
    assert_eq!(answers.len(), 1, "the INIT is answered with one CHALLENGE");
    wire.send(&forged_confirm(&cb, &answers[0]));
    // beta talks first after the attack: its messages, then (after keepalive's 1 s of
    // quiet) its PINGs, would go to whoever it takes for the peer.
    let started = Instant::now();
    for i in 0..3 {
        b.submit(format!("after the attack {i}"), Priority::Normal).unwrap();
    }
    let got = delivered(&a_in, 3, Duration::from_secs(10));
    let took = started.elapsed();
    let stolen = wire.receive(Duration::from_millis(2500));
    assert!(
        stolen.is_empty(),
        "the attacker received {} datagrams of the association's traffic",
        stolen.len()
    );
    assert_eq!(got, 3, "the transfer stalled after the attack");
    assert!(took < Duration::from_secs(3), "delivery after the attack took {took:?}");
    a.shutdown().unwrap();
    b.shutdown().unwrap();
}

#[test]
fn udp_a_forged_confirm_from_a_third_address_diverts_nothing() {
    attack(false);
}

#[test]
fn tcp_a_forged_confirm_on_a_third_connection_diverts_nothing() {
    attack(true);
}
