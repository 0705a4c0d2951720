//! Core benchmarks: the protocol machinery alone, on virtual time, no sockets.
//!
//! ```text
//! cargo bench -p assoc-core --bench transfer
//! ```
//!
//! Each transfer benchmark moves N messages from one in-memory session to another through
//! a lean loop (records are durable at once, datagrams go through a queue that can reorder
//! and lose). Throughput = items / wall time. Every transfer runs with both suites. Baselines
//! in the same run: `memcpy` of the same sizes (the limit of the machinery) and the AEAD
//! primitive's own seal+open of the same bytes (the limit with encryption on), both whole and
//! cut into datagram-sized pieces as the protocol must.

use std::collections::VecDeque;

use assoc_core::wire::{Body, DataFrame, FirstSegment, Frame, Header, Pdu, PnRange, Priority as P};
use assoc_core::{
    Config, Event, Input, Instant, Output, PeerName, Priority, Psk, Remote, Session, Submission, Suite,
};
use bytes::Bytes;
use divan::counter::{BytesCount, ItemsCount};
use divan::Bencher;

fn main() {
    // `ASSOC_PROFILE=WHAT,N,SIZE[,REORDER%,LOSS%]` runs one workload and exits, for
    // `valgrind --tool=callgrind --toggle-collect='*run_profile*'` (instruction counts
    // repeat exactly). WHAT: `sym` or `chacha` (a transfer of N messages of SIZE bytes),
    // `aead` (seal+open of N × SIZE bytes in datagram-sized pieces), `memcpy` (N copies).
    // It prints, on stderr, what the transfer cost besides instructions (Persist records,
    // datagrams and how full the data packets were); allocations are `malloc` calls in the
    // callgrind profile (`benches/alloc-count.sh`).
    if let Ok(spec) = std::env::var("ASSOC_PROFILE") {
        if let Some(t) = run_profile(&spec) {
            t.print();
        }
        return;
    }
    divan::main();
}

#[inline(never)]
fn run_profile(spec: &str) -> Option<Tally> {
    let f: Vec<&str> = spec.split(',').collect();
    let num = |i: usize| {
        f.get(i).map_or(0, |v| v.parse::<usize>().expect("ASSOC_PROFILE=WHAT,N,SIZE,REORDER,LOSS"))
    };
    let (n, size) = (num(1), num(2));
    match f[0] {
        "aead" => {
            use chacha20poly1305::{aead::AeadInPlace, ChaCha20Poly1305, KeyInit};
            let aead = ChaCha20Poly1305::new(&[7u8; 32].into());
            let mut buf = vec![0x5au8; size];
            for _ in 0..n {
                for piece in buf.chunks_mut(DATAGRAM - 60) {
                    let tag =
                        aead.encrypt_in_place_detached(&[0u8; 12].into(), b"header", piece).expect("seal");
                    aead.decrypt_in_place_detached(&[0u8; 12].into(), b"header", piece, &tag).expect("open");
                }
            }
            divan::black_box(&buf);
        }
        "memcpy" => {
            let src = vec![0x5au8; size];
            let mut dst = vec![0u8; size];
            for _ in 0..n {
                dst.copy_from_slice(divan::black_box(&src));
                divan::black_box(&dst);
            }
        }
        what => {
            let suite = if what == "sym" { Suite::Symbolic } else { Suite::ChaCha20Poly1305 };
            let t = transfer(suite, n, size, num(3) as u64, num(4) as u64);
            assert_eq!(t.delivered, n);
            return Some(t);
        }
    }
    None
}

/// What one transfer did, for the figures besides instruction counts.
struct Tally {
    delivered: usize,
    size: usize,
    /// Persist records per side.
    records: [u64; 2],
    /// `Persisted` inputs per side.
    persisted_inputs: [u64; 2],
    /// Datagrams sent per side.
    datagrams: [u64; 2],
    /// Payload bytes the sender put in DATA frames.
    data_bytes: u64,
    /// Sender datagrams of at least 200 bytes (ACKs and summaries are smaller: these carry
    /// DATA) and their total size.
    big: (u64, u64),
}

impl Tally {
    fn print(&self) {
        let n = self.delivered as f64;
        let mib = (self.delivered * self.size) as f64 / f64::from(1u32 << 20);
        let room = (DATAGRAM - Pdu::PACKET_OVERHEAD) as f64;
        eprintln!(
            "messages {} x {} B: persist records/msg sender {:.2} receiver {:.2}; \
             Persisted inputs/msg {:.2} {:.2}; datagrams sender {} receiver {} (per MiB {:.0} / {:.0}); \
             data packet fill {:.1} % (payload bytes / (sender datagrams x {} B)); \
             sender datagrams >= 200 B: {} of mean size {:.0} B ({:.1} % of {} B)",
            self.delivered,
            self.size,
            self.records[0] as f64 / n,
            self.records[1] as f64 / n,
            self.persisted_inputs[0] as f64 / n,
            self.persisted_inputs[1] as f64 / n,
            self.datagrams[0],
            self.datagrams[1],
            self.datagrams[0] as f64 / mib,
            self.datagrams[1] as f64 / mib,
            100.0 * self.data_bytes as f64 / (self.datagrams[0] as f64 * room),
            room,
            self.big.0,
            self.big.1 as f64 / self.big.0 as f64,
            100.0 * self.big.1 as f64 / (self.big.0 as f64 * DATAGRAM as f64),
            DATAGRAM,
        );
    }
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
        c.params.max_datagram = DATAGRAM as u16;
        c.params.msg_window = 512;
        c.max_packets_in_flight = 256;
        c.keepalive = None;
        // RFC 9000's ACK frequency (every second packet); `ASSOC_ACK_FREQUENCY=1` measures
        // the default (every packet).
        c.ack_frequency = std::env::var("ASSOC_ACK_FREQUENCY").map_or(2, |v| v.parse().expect("1..=16"));
    }
    (ca, cb)
}

/// Moves `n` messages of `size` bytes from side 0 to side 1; returns what it took.
fn transfer(suite: Suite, n: usize, size: usize, reorder_pct: u64, loss_pct: u64) -> Tally {
    let (ca, cb) = configs(suite);
    let mut s = [Session::new(ca, 1).expect("config"), Session::new(cb, 2).expect("config")];
    let mut now = Instant::ZERO;
    let mut net = Net { queue: VecDeque::new(), reorder_pct, loss_pct, rng: 0x9E37_79B9_7F4A_7C15 };
    let payload = Bytes::from(vec![0x5a; size]);
    for (i, side) in s.iter_mut().enumerate() {
        side.handle_input(now, Input::LinkUp { peer: Some(Remote::Conn(1 - i as u64)) }).expect("link up");
    }
    for app_id in 0..n as u64 {
        let m = Submission { app_id, priority: Priority::Normal, deadline: None, bytes: payload.clone() };
        s[0].handle_input(now, Input::Submit(m)).expect("queue has room");
    }
    let mut delivered = 0;
    let (mut records, mut persisted_inputs, mut big) = ([0u64; 2], [0u64; 2], (0, 0));
    let mut deadlines = [None; 2];
    while delivered < n {
        for (i, side) in s.iter_mut().enumerate() {
            // One `Persisted { upto }` per drain (what a driver that commits a batch does),
            // then drain again what it released.
            loop {
                let mut last = None;
                loop {
                    match side.poll_output() {
                        Output::Wait { until } => {
                            deadlines[i] = until;
                            break;
                        }
                        Output::Persist { seq, .. } => {
                            records[i] += 1;
                            last = Some(seq);
                        }
                        Output::Transmit(t) => {
                            if i == 0 && t.datagram.len() >= 200 {
                                big = (big.0 + 1, big.1 + t.datagram.len() as u64);
                            }
                            net.push(1 - i, t.datagram);
                        }
                        Output::Event(Event::Delivered { .. }) => delivered += 1,
                        _ => {}
                    }
                }
                let Some(upto) = last else { break };
                persisted_inputs[i] += 1;
                let _ = side.handle_input(now, Input::Persisted { upto });
            }
        }
        match net.queue.pop_front() {
            Some((to, d)) => {
                let _ = s[to]
                    .handle_input(now, Input::Datagram { from: Remote::Conn(1 - to as u64), datagram: d });
            }
            None => {
                // Both sides were just drained and nothing reached them since.
                let Some(t) = deadlines.iter().flatten().min().copied() else { break };
                now = now.max(t);
                for side in &mut s {
                    let _ = side.handle_input(now, Input::Timeout);
                }
            }
        }
    }
    let (s0, s1) = (s[0].stats(), s[1].stats());
    Tally {
        delivered,
        size,
        records,
        persisted_inputs,
        datagrams: [s0.datagrams_out, s1.datagrams_out],
        data_bytes: s0.data_bytes_sent,
        big,
    }
}

const SUITES: [Suite; 2] = [Suite::Symbolic, Suite::ChaCha20Poly1305];

#[divan::bench(args = SUITES, sample_count = 10)]
fn messages_64b(b: Bencher<'_, '_>, suite: Suite) {
    let n = 20_000;
    b.counter(ItemsCount::new(n)).bench(|| assert_eq!(transfer(suite, n, 64, 0, 0).delivered, n));
}

#[divan::bench(args = SUITES, sample_count = 10)]
fn messages_1kib(b: Bencher<'_, '_>, suite: Suite) {
    let n = 5_000;
    b.counter(ItemsCount::new(n)).bench(|| assert_eq!(transfer(suite, n, 1024, 0, 0).delivered, n));
}

#[divan::bench(args = SUITES, sample_count = 10)]
fn bytes_1mib(b: Bencher<'_, '_>, suite: Suite) {
    let n = 8;
    b.counter(BytesCount::new(n << 20)).bench(|| assert_eq!(transfer(suite, n, 1 << 20, 0, 0).delivered, n));
}

#[divan::bench(args = SUITES, sample_count = 10)]
fn messages_1kib_reorder25_loss5(b: Bencher<'_, '_>, suite: Suite) {
    let n = 2_000;
    b.counter(ItemsCount::new(n)).bench(|| assert_eq!(transfer(suite, n, 1024, 25, 5).delivered, n));
}

#[divan::bench(args = SUITES, sample_count = 10)]
fn bytes_1mib_reorder25_loss5(b: Bencher<'_, '_>, suite: Suite) {
    let n = 4;
    b.counter(BytesCount::new(n << 20)).bench(|| assert_eq!(transfer(suite, n, 1 << 20, 25, 5).delivered, n));
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

/// The datagram budget the transfer benchmarks use (`params.max_datagram`).
const DATAGRAM: usize = 1400;

/// Baseline: ChaCha20-Poly1305 seal then open of `size` bytes in one piece, in place
/// (the primitive alone: no allocation, no framing).
#[divan::bench(args = [64, 1024, 1 << 20])]
fn aead_seal_open(b: Bencher<'_, '_>, size: usize) {
    use chacha20poly1305::{aead::AeadInPlace, ChaCha20Poly1305, KeyInit};
    let aead = ChaCha20Poly1305::new(&[7u8; 32].into());
    let mut buf = vec![0x5au8; size];
    let nonce = [0u8; 12].into();
    b.counter(BytesCount::new(size)).bench_local(|| {
        let tag = aead.encrypt_in_place_detached(&nonce, b"header", &mut buf).expect("seal");
        aead.decrypt_in_place_detached(&nonce, b"header", &mut buf, &tag).expect("open");
        divan::black_box(&buf);
    });
}

/// Baseline: the same seal+open of `size` bytes cut into pieces that fit a datagram (what
/// any datagram protocol must do at least: one AEAD call per packet).
#[divan::bench(args = [1 << 20])]
fn aead_seal_open_per_datagram(b: Bencher<'_, '_>, size: usize) {
    use chacha20poly1305::{aead::AeadInPlace, ChaCha20Poly1305, KeyInit};
    let aead = ChaCha20Poly1305::new(&[7u8; 32].into());
    let mut buf = vec![0x5au8; size];
    let nonce = [0u8; 12].into();
    b.counter(BytesCount::new(size)).bench_local(|| {
        for piece in buf.chunks_mut(DATAGRAM - 60) {
            let tag = aead.encrypt_in_place_detached(&nonce, b"header", piece).expect("seal");
            aead.decrypt_in_place_detached(&nonce, b"header", piece, &tag).expect("open");
        }
        divan::black_box(&buf);
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

/// The wire codec alone (cleartext PDU to bytes); the suite's packet protection is part of
/// the transfer benchmarks.
#[divan::bench(args = [64, 1024])]
fn codec_encode(b: Bencher<'_, '_>, len: usize) {
    let pdu = data_packet(len);
    b.bench_local(|| divan::black_box(&pdu).to_bytes());
}

/// The wire codec alone (bytes to a cleartext PDU).
#[divan::bench(args = [64, 1024])]
fn codec_decode(b: Bencher<'_, '_>, len: usize) {
    let bytes = data_packet(len).to_bytes();
    b.bench_local(|| Pdu::decode(divan::black_box(&bytes)).expect("valid"));
}

/// `poll_output` on an established session with nothing to send (it returns
/// `Output::Wait` with the next deadline): must be O(1) (a cached minimum).
#[divan::bench(args = SUITES)]
fn poll_output_idle(b: Bencher<'_, '_>, suite: Suite) {
    let (ca, cb) = configs(suite);
    let mut s = [Session::new(ca, 1).expect("config"), Session::new(cb, 2).expect("config")];
    let mut now = Instant::ZERO;
    for (i, side) in s.iter_mut().enumerate() {
        side.handle_input(now, Input::LinkUp { peer: Some(Remote::Conn(1 - i as u64)) }).expect("link up");
    }
    s[0].handle_input(now, Input::Open).expect("open");
    // Run the handshake to completion, then measure the idle session.
    let mut deadlines = [None; 2];
    for _ in 0..1000 {
        let mut moved = false;
        for i in 0..2 {
            loop {
                match s[i].poll_output() {
                    Output::Wait { until } => {
                        deadlines[i] = until;
                        break;
                    }
                    Output::Persist { seq, .. } => {
                        let _ = s[i].handle_input(now, Input::Persisted { upto: seq });
                    }
                    Output::Transmit(t) => {
                        moved = true;
                        let from = Remote::Conn(i as u64);
                        let _ = s[1 - i].handle_input(now, Input::Datagram { from, datagram: t.datagram });
                    }
                    _ => {}
                }
            }
        }
        if !moved {
            match deadlines.iter().flatten().min().copied() {
                Some(t) if s[0].state() != assoc_core::SessionState::Established => {
                    now = now.max(t);
                    s.iter_mut().for_each(|x| {
                        let _ = x.handle_input(now, Input::Timeout);
                    });
                }
                _ => break,
            }
        }
    }
    assert_eq!(s[0].state(), assoc_core::SessionState::Established);
    assert!(matches!(s[0].poll_output(), Output::Wait { until: Some(_) }), "idle, a timer armed");
    b.bench_local(|| divan::black_box(&mut s[0]).poll_output());
}
