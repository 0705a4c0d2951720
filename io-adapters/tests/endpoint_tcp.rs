//! The many-peer server over TCP (`assoc_io::multi`, `Transport::Tcp`, issue #17): one
//! listener, two driver threads; two senders (the one-session blocking driver dialing over
//! TCP) deliver every message exactly once through it, and a third sender whose session id
//! no peer of the table has gets nothing routed: no delivery, no answer, only counted.
#![cfg(feature = "std")]
mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use assoc_core::{Config, Outcome, PeerName, Priority, Psk};
use assoc_io::blocking::Endpoint;
use assoc_io::multi::{Incoming, PeerEntry, Server, ServerOptions, Transport};
use assoc_io::{Bearer, Database, Options, Store};
use common::*;

fn psk(i: usize) -> Psk {
    Psk::new(format!("tcp-peer-{i:04}-pre-shared-key").as_bytes()).unwrap()
}

fn name(i: usize) -> PeerName {
    PeerName::new(format!("mta-{i}").as_bytes()).unwrap()
}

fn hub() -> PeerName {
    PeerName::new(b"hub").unwrap()
}

#[test]
fn two_peers_deliver_through_one_listener_and_an_unknown_one_gets_nothing_routed() {
    trace();
    let (peers, per_peer) = (2usize, 8u64);
    let dir = TempDir::new("endpoint-tcp");
    let db = Database::open(dir.join("hub.redb")).unwrap();
    db.set_sync(sync_mode());
    let table = (0..peers)
        .map(|i| {
            let mut config = tune(Config::new(hub(), name(i), psk(i)));
            config.sid = i as u32 + 1;
            PeerEntry { config, addr: None }
        })
        .collect();
    let mut options = ServerOptions::new("127.0.0.1:0".parse().unwrap(), table);
    options.transport = Transport::TCP;
    options.threads = 2;
    let (server, incomings) = Server::start(options, db).unwrap();
    let addr = server.local_addr();
    // Senders 0 and 1 are in the table; sender 2 (session id 99) is not.
    let clients: Vec<_> = (0..=peers)
        .map(|i| {
            let mut config = tune(Config::new(name(i), hub(), psk(i)));
            config.sid = if i < peers { i as u32 + 1 } else { 99 };
            let bearer = Bearer::Tcp { listen: None, peer: Some(addr) };
            let mut store = Store::open(dir.join(format!("client-{i}.redb"))).unwrap();
            store.set_sync(sync_mode());
            let client = Endpoint::start(Options::new(config, bearer), store).unwrap();
            for k in 0..per_peer {
                client.0.submit(message(i, k), Priority::Normal).unwrap();
            }
            client
        })
        .collect();
    for (i, (_, _, outcomes)) in clients.iter().take(peers).enumerate() {
        for n in 0..per_peer {
            let report = outcomes
                .recv_timeout(Duration::from_secs(60))
                .unwrap_or_else(|_| panic!("sender {i}: {n} of {per_peer} outcomes"));
            assert_eq!(report.outcome, Outcome::Delivered, "sender {i}");
            report.ack();
        }
    }
    let mut by_sid: BTreeMap<u32, Vec<bytes::Bytes>> = BTreeMap::new();
    let quiet_until = Instant::now() + Duration::from_secs(1);
    while Instant::now() < quiet_until {
        if let Ok(Incoming::Delivery { sid, delivery }) = incomings.recv_timeout(Duration::from_millis(100)) {
            by_sid.entry(sid).or_default().push(delivery.bytes.clone());
            delivery.ack();
        }
    }
    for i in 0..peers {
        let mut got = by_sid.remove(&(i as u32 + 1)).unwrap_or_default();
        got.sort();
        let mut expected: Vec<_> = (0..per_peer).map(|k| message(i, k)).collect();
        expected.sort();
        assert_eq!(got, expected, "peer {i}: each message exactly once");
    }
    assert!(by_sid.is_empty(), "deliveries for sessions not in the table: {:?}", by_sid.keys());
    let stranger = &clients[peers];
    assert!(stranger.2.recv_timeout(Duration::from_millis(100)).is_err(), "the stranger learned an outcome");
    let stats = server.shutdown().unwrap();
    assert!(stats.endpoint.unknown_session > 0, "the stranger's INITs reached no session: {stats:?}");
    assert_eq!(stats.delivered, peers as u64 * per_peer, "{stats:?}");
    assert!(stats.endpoint.restores >= 2 && stats.send_failures == 0, "{stats:?}");
    for (client, _, _) in clients {
        let _ = client.shutdown();
    }
}
