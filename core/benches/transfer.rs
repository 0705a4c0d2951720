//! Core benchmarks: the protocol machinery alone, on virtual time, no sockets.
//!
//! ```text
//! cargo bench -p assoc-core --bench transfer
//! ```
//!
//! Each transfer benchmark moves N messages from one in-memory session to another through
//! a lean loop (records are durable at once, datagrams go through a queue that can reorder
//! and lose). Throughput = items / wall time. Baselines in the same run: `memcpy` of the
//! same sizes (the limit of the machinery) and, with the real suite, the AEAD primitive.

use std::collections::VecDeque;

use assoc_core::wire::{Body, DataFrame, FirstSegment, Frame, Header, Pdu, PnRange, Priority as P};
use assoc_core::{
    Config, Event, Input, Instant, Output, PeerName, Priority, Psk, Session, Submission, Suite,
};
use bytes::Bytes;
use divan::counter::{BytesCount, ItemsCount};
use divan::Bencher;

fn main() {
    divan::main();
}

/// A datagram network that reorders `reorder_pct` % and loses `loss_pct` % (seeded).
struct Net {
    queue: VecDeque<(usize, Bytes)>,
    reorder_pct: u64,
    loss_pct: u64,
    rng: u64,
}

impl Net {
    fn roll(&mut self) -> u64 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.rng % 100
    }

    fn push(&mut self, to: usize, d: Bytes) {
        if self.roll() < self.loss_pct {
            return;
        }
        if self.roll() < self.reorder_pct && !self.queue.is_empty() {
            let back = self.queue.len().min(3);
            self.queue.insert(self.queue.len() - back, (to, d));
        } else {
            self.queue.push_back((to, d));
        }
    }
}

fn configs(suite: Suite) -> (Config, Config) {
    let psk = Psk::new(b"benchmark psk 16").expect("16 bytes");
    let (a, b) = (PeerName::new(b"a").expect("name"), PeerName::new(b"b").expect("name"));
    let mut ca = Config::new(a, b, psk.clone());
    let mut cb = Config::new(b, a, psk);
    for c in [&mut ca, &mut cb] {
        c.suite = suite;
        c.max_queued_messages = 1_000_000;
        c.max_queued_bytes = 1 << 34;
        c.params.max_datagram = 1400;
        c.params.msg_window = 512;
        c.max_packets_in_flight = 256;
        c.keepalive = None;
    }
    (ca, cb)
}

/// Moves `n` messages of `size` bytes from side 0 to side 1; returns the number delivered.
fn transfer(suite: Suite, n: usize, size: usize, reorder_pct: u64, loss_pct: u64) -> usize {
    let (ca, cb) = configs(suite);
    let mut s = [Session::new(ca, 1).expect("config"), Session::new(cb, 2).expect("config")];
    let mut now = Instant::ZERO;
    let mut net = Net { queue: VecDeque::new(), reorder_pct, loss_pct, rng: 0x9E37_79B9_7F4A_7C15 };
    let payload = Bytes::from(vec![0x5a; size]);
    for side in &mut s {
        side.handle_input(now, Input::LinkUp).expect("link up");
    }
    for app_id in 0..n as u64 {
        let m = Submission { app_id, priority: Priority::Normal, deadline: None, bytes: payload.clone() };
        s[0].handle_input(now, Input::Submit(m)).expect("queue has room");
    }
    let mut delivered = 0;
    while delivered < n {
        for (i, side) in s.iter_mut().enumerate() {
            while let Some(out) = side.poll_output() {
                match out {
                    Output::Persist { seq, .. } => {
                        let _ = side.handle_input(now, Input::Persisted { upto: seq });
                    }
                    Output::Transmit(t) => net.push(1 - i, t.datagram),
                    Output::Event(Event::Delivered { .. }) => delivered += 1,
                    _ => {}
                }
            }
        }
        match net.queue.pop_front() {
            Some((to, d)) => {
                let _ = s[to].handle_input(now, Input::Datagram(d));
            }
            None => {
                let Some(t) = s.iter().filter_map(Session::poll_timeout).min() else { break };
                now = now.max(t);
                for side in &mut s {
                    side.handle_timeout(now);
                }
            }
        }
    }
    delivered
}

const SUITES: [Suite; 1] = [Suite::Symbolic];

#[divan::bench(args = SUITES, sample_count = 10)]
fn messages_64b(b: Bencher<'_, '_>, suite: Suite) {
    let n = 20_000;
    b.counter(ItemsCount::new(n)).bench(|| assert_eq!(transfer(suite, n, 64, 0, 0), n));
}

#[divan::bench(args = SUITES, sample_count = 10)]
fn messages_1kib(b: Bencher<'_, '_>, suite: Suite) {
    let n = 5_000;
    b.counter(ItemsCount::new(n)).bench(|| assert_eq!(transfer(suite, n, 1024, 0, 0), n));
}

#[divan::bench(args = SUITES, sample_count = 10)]
fn bytes_1mib(b: Bencher<'_, '_>, suite: Suite) {
    let n = 8;
    b.counter(BytesCount::new(n << 20)).bench(|| assert_eq!(transfer(suite, n, 1 << 20, 0, 0), n));
}

#[divan::bench(args = SUITES, sample_count = 10)]
fn messages_1kib_reorder25_loss5(b: Bencher<'_, '_>, suite: Suite) {
    let n = 2_000;
    b.counter(ItemsCount::new(n)).bench(|| assert_eq!(transfer(suite, n, 1024, 25, 5), n));
}

#[divan::bench(args = SUITES, sample_count = 10)]
fn bytes_1mib_reorder25_loss5(b: Bencher<'_, '_>, suite: Suite) {
    let n = 4;
    b.counter(BytesCount::new(n << 20)).bench(|| assert_eq!(transfer(suite, n, 1 << 20, 25, 5), n));
}

/// Baseline: copying the same bytes once (the limit of any protocol machinery).
#[divan::bench(args = [64, 1024, 1 << 20])]
fn memcpy_baseline(b: Bencher<'_, '_>, size: usize) {
    let src = vec![0x5au8; size];
    let mut dst = vec![0u8; size];
    b.counter(BytesCount::new(size)).bench_local(|| {
        dst.copy_from_slice(divan::black_box(&src));
        divan::black_box(&dst);
    });
}

fn data_packet(len: usize) -> Pdu {
    let first = Some(FirstSegment { total_len: len as u64, priority: P::Normal, app_id: 7 });
    let data = DataFrame { msn: 3, offset: 0, fin: true, first, bytes: Bytes::from(vec![1u8; len]) };
    let ack = Frame::Ack { ranges: vec![PnRange { smallest: 1, largest: 40 }], ack_delay_us: 0 };
    Pdu {
        header: Header { sid: 1, dst_tag: 9, epoch: 2, pn: 41 },
        body: Body::Packet(vec![ack, Frame::Data(data)]),
        auth: Default::default(),
    }
}

#[divan::bench(args = [64, 1024])]
fn codec_encode(b: Bencher<'_, '_>, len: usize) {
    let pdu = data_packet(len);
    b.bench_local(|| divan::black_box(&pdu).to_bytes());
}

#[divan::bench(args = [64, 1024])]
fn codec_decode(b: Bencher<'_, '_>, len: usize) {
    let bytes = data_packet(len).to_bytes();
    b.bench_local(|| Pdu::decode(divan::black_box(&bytes)).expect("valid"));
}

/// `poll_timeout` on an idle established session: must be O(1) (a cached minimum).
#[divan::bench]
fn poll_timeout_idle(b: Bencher<'_, '_>) {
    let (ca, _) = configs(Suite::Symbolic);
    let mut s = Session::new(ca, 1).expect("config");
    let _ = s.handle_input(Instant::ZERO, Input::LinkUp);
    let _ = s.handle_input(Instant::ZERO, Input::Open);
    b.bench_local(|| divan::black_box(&s).poll_timeout());
}
