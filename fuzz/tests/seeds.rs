//! Regenerates the `decode` seed corpus: real PDUs of every type and frame kind, captured
//! from two sessions wired back to back (handshake, transfer with several segments, a
//! cancellation, a rejection, an orderly release, an abort, a stale CONFIRM).
//!
//! `cargo test -p assoc-fuzz --test seeds -- --ignored` rewrites `corpus/decode/`; the
//! (not ignored) test checks that every checked-in file there still decodes, so a wire
//! format change shows up as a failing test rather than as a silently useless corpus.

use std::collections::BTreeMap;

use assoc_core::wire::{Body, Frame, Pdu};
use assoc_core::{
    Config, Duration, Input, Instant, MessageId, Output, PeerName, Priority, Psk, Session, Submission, Suite,
};
use bytes::Bytes;

fn config(local: &[u8], peer: &[u8], max_message_len: u64) -> Config {
    let psk = Psk::new(b"fuzzing-psk-0123").expect("16 bytes");
    let mut c = Config::new(PeerName::new(local).expect("name"), PeerName::new(peer).expect("name"), psk);
    c.suite = Suite::Symbolic;
    c.params.checkpoint_size = 1024;
    c.params.max_datagram = 600;
    c.max_message_len = max_message_len;
    c
}

struct Wire {
    s: [Session; 2],
    now: Instant,
    sent: Vec<(usize, Bytes)>,
    delivered: usize,
    /// The deadline each side's last drain ended with.
    until: [Option<Instant>; 2],
}

impl Wire {
    fn input(&mut self, i: usize, input: Input) {
        let _ = self.s[i].handle_input(self.now, input);
        loop {
            match self.s[i].poll_output() {
                Output::Wait { until } => {
                    self.until[i] = until;
                    break;
                }
                Output::Persist { seq, .. } => {
                    let _ = self.s[i].handle_input(self.now, Input::Persisted { upto: seq });
                }
                Output::Transmit(t) => self.sent.push((1 - i, t.datagram)),
                _ => {}
            }
        }
    }

    /// Delivers everything sent, in order, until quiet; then lets timers run for `secs`.
    fn run(&mut self, secs: u64) {
        let end = self.now + Duration::from_secs(secs);
        loop {
            while self.delivered < self.sent.len() {
                let (to, d) = self.sent[self.delivered].clone();
                self.delivered += 1;
                self.input(
                    to,
                    Input::Datagram { from: assoc_core::Remote::Conn(1 - to as u64), datagram: d },
                );
            }
            match self.until.iter().flatten().min().copied() {
                Some(t) if t <= end => {
                    self.now = self.now.max(t);
                    self.input(0, Input::Timeout);
                    self.input(1, Input::Timeout);
                }
                _ => break,
            }
        }
        self.now = self.now.max(end);
    }

    fn submit(&mut self, i: usize, app_id: u64, len: usize) {
        let bytes: Bytes = (0..len).map(|k| (k * 7 + app_id as usize) as u8).collect();
        let s = Submission { app_id, priority: Priority::Normal, deadline: None, bytes };
        self.input(i, Input::Submit(s));
    }
}

/// A name for a PDU's shape: its type and the kinds of frames it carries.
fn signature(pdu: &Pdu) -> String {
    match &pdu.body {
        Body::Packet(frames) => {
            let mut kinds: Vec<&str> = frames
                .iter()
                .map(|f| match f {
                    Frame::Ping => "ping",
                    Frame::Ack { .. } => "ack",
                    Frame::Summary(_) => "summary",
                    Frame::Data(d) if d.first.is_some() => "data-first",
                    Frame::Data(d) if d.fin => "data-fin",
                    Frame::Data(_) => "data",
                    Frame::Cancel { .. } => "cancel",
                    Frame::Resolved { .. } => "resolved",
                    Frame::Reject { .. } => "reject",
                    Frame::Close { .. } => "close",
                    Frame::CloseAck => "close-ack",
                    Frame::Abort { .. } => "abort",
                })
                .collect();
            kinds.sort_unstable();
            kinds.dedup();
            format!("packet-{}", kinds.join("-"))
        }
        other => format!("{:?}", other.pdu_type()).to_lowercase(),
    }
}

/// Every distinct PDU shape a scripted run of two sessions puts on the wire.
fn captured() -> BTreeMap<String, Bytes> {
    let mut w = Wire {
        s: [
            Session::new(config(b"alpha", b"beta", 8000), 1).expect("valid"),
            Session::new(config(b"beta", b"alpha", 4000), 2).expect("valid"),
        ],
        now: Instant::ZERO,
        sent: Vec::new(),
        delivered: 0,
        until: [None; 2],
    };
    w.input(0, Input::LinkUp { peer: Some(assoc_core::Remote::Conn(1)) });
    w.input(1, Input::LinkUp { peer: Some(assoc_core::Remote::Conn(0)) });
    w.input(0, Input::Open);
    w.run(1);
    let first_confirm =
        w.sent.iter().position(|(_, d)| matches!(Pdu::decode(d).map(|p| p.body), Ok(Body::Confirm(_))));
    // Abort and re-open at once, then replay the first CONFIRM: answered with STALE.
    w.input(1, Input::Abort);
    w.run(2);
    if let Some(k) = first_confirm {
        let (to, d) = w.sent[k].clone();
        w.input(to, Input::Datagram { from: assoc_core::Remote::Conn(1 - to as u64), datagram: d });
        w.run(1);
    }
    w.submit(0, 1, 100);
    w.submit(0, 2, 3000);
    w.submit(0, 3, 5000); // larger than the peer's max_message_len: rejected
    w.run(5);
    w.submit(1, 10, 50);
    // Submit, and cancel while in flight: CANCEL and RESOLVED.
    w.submit(0, 4, 2500);
    let id = MessageId(w.s[0].store().next_id - 1);
    w.input(0, Input::Cancel(id));
    w.run(5);
    w.run(40); // keepalive pings
    w.input(0, Input::Release); // CLOSE, CLOSE_ACK
    w.run(10);
    let mut out = BTreeMap::new();
    for (_, d) in &w.sent {
        if let Ok(pdu) = Pdu::decode(d) {
            out.entry(signature(&pdu)).or_insert_with(|| d.clone());
        }
    }
    out
}

fn corpus_dir() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("corpus").join("decode")
}

#[test]
#[ignore = "rewrites fuzz/corpus/decode"]
fn generate_decode_seeds() {
    let dir = corpus_dir();
    std::fs::create_dir_all(&dir).expect("corpus dir");
    for (name, d) in captured() {
        std::fs::write(dir.join(&name), &d).expect("write seed");
        println!("{name}: {} bytes", d.len());
    }
}

#[test]
fn decode_seeds_still_decode() {
    let Ok(entries) = std::fs::read_dir(corpus_dir()) else { return };
    for e in entries.flatten() {
        let d = Bytes::from(std::fs::read(e.path()).expect("readable"));
        assert!(Pdu::decode(&d).is_ok(), "{} no longer decodes", e.path().display());
    }
}

#[test]
fn the_scripted_run_covers_every_pdu_type() {
    let shapes = captured();
    for want in ["init", "challenge", "confirm", "accept", "stale"] {
        assert!(shapes.contains_key(want), "no {want} captured; got {:?}", shapes.keys());
    }
    let all: String = shapes.keys().cloned().collect::<Vec<_>>().join(" ");
    for frame in [
        "ping",
        "ack",
        "summary",
        "data-first",
        "data-fin",
        "cancel",
        "resolved",
        "reject",
        "close",
        "close-ack",
        "abort",
    ] {
        assert!(all.contains(frame), "no {frame} frame captured; got {all}");
    }
}
