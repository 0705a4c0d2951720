//! What the stateful targets share: fuzzer-chosen configs, time steps, and the checks of
//! the driver contract and the memory bounds that hold for every session at every step.

use std::collections::{BTreeMap, BTreeSet};

use arbitrary::Arbitrary;
use assoc_core::persist::MAX_MSG_WINDOW;
use assoc_core::{
    Config, Duration, Event, Input, Instant, MessageId, Output, PeerName, Psk, Record, Session, SessionStore,
    StoredInbound, Suite,
};
use bytes::Bytes;

/// The two peers every stateful target uses: index 0 is `alpha`, 1 is `beta`.
pub fn names() -> [PeerName; 2] {
    [name(b"alpha"), name(b"beta")]
}

fn name(raw: &[u8]) -> PeerName {
    match PeerName::new(raw) {
        Ok(n) => n,
        Err(e) => panic!("test name {raw:?} is invalid: {e}"),
    }
}

/// The pre-shared key of the pair.
pub fn psk() -> Psk {
    match Psk::new(b"fuzzing-psk-0123") {
        Ok(p) => p,
        Err(e) => panic!("test psk is invalid: {e}"),
    }
}

/// Config knobs the fuzzer chooses, each mapped into its valid range and kept small so
/// that the limits (windows, queues, in-flight packets) are actually reached.
#[derive(Arbitrary, Clone, Copy, Debug, Default)]
pub struct Knobs {
    msg_window: u8,
    checkpoint_kib: u8,
    checkpoint_window: u8,
    max_datagram: u16,
    ack_ranges: u8,
    packets_in_flight: u8,
    queued_messages: u8,
    message_len: u16,
    keepalive: bool,
    handshake_retransmits: u8,
    max_probes: u8,
    drain_ptos: u8,
    open_retries: u8,
}

impl Knobs {
    /// The config of side `side` (0: alpha, 1: beta) with these knobs; always valid, and
    /// always on the deterministic `Symbolic` suite.
    pub fn config(&self, side: usize) -> Config {
        let [a, b] = names();
        let (local, peer) = if side == 0 { (a, b) } else { (b, a) };
        let mut c = Config::new(local, peer, psk());
        c.suite = Suite::Symbolic;
        c.params.msg_window = 1 + u16::from(self.msg_window % 8);
        c.params.checkpoint_size = 1024 * (1 + u32::from(self.checkpoint_kib % 4));
        c.params.checkpoint_window = 1 + u16::from(self.checkpoint_window % 3);
        c.params.max_datagram = 512 + self.max_datagram % 1000;
        c.ack_ranges = 1 + u16::from(self.ack_ranges % 8);
        c.max_packets_in_flight = 1 + u32::from(self.packets_in_flight % 16);
        c.max_queued_messages = 1 + u32::from(self.queued_messages % 8);
        c.max_message_len = u64::from(self.message_len % 12_000);
        c.max_queued_bytes = 3 * c.max_message_len + 1;
        c.keepalive = self.keepalive.then(|| Duration::from_secs(30));
        c.handshake_retransmits = u32::from(self.handshake_retransmits % 5);
        c.max_probes = 1 + u32::from(self.max_probes % 6);
        c.drain_ptos = 1 + u32::from(self.drain_ptos % 3);
        c.max_open_retries = 1 + u32::from(self.open_retries % 32);
        c.open_interval = Duration::from_secs(5);
        c.lifetime = Duration::from_secs(60);
        c.disconnect_delay = Duration::from_secs(30);
        c
    }
}

/// How far the clock moves before a step: orders of magnitude, so that both
/// retransmission timers (ms) and expiry (days) are reachable.
#[derive(Arbitrary, Clone, Copy, Debug)]
pub enum Advance {
    /// The clock stays.
    None,
    /// Microseconds.
    Micros(u16),
    /// Milliseconds.
    Millis(u16),
    /// Seconds.
    Secs(u16),
    /// Hours.
    Hours(u8),
}

impl Advance {
    /// The span.
    pub fn duration(self) -> Duration {
        match self {
            Advance::None => Duration::ZERO,
            Advance::Micros(n) => Duration::from_micros(n.into()),
            Advance::Millis(n) => Duration::from_millis(n.into()),
            Advance::Secs(n) => Duration::from_secs(n.into()),
            Advance::Hours(n) => Duration::from_secs(3600 * u64::from(n)),
        }
    }
}

/// Deterministic message content of `len` bytes for application id `app_id` (no input
/// bytes spent on content; equal content for equal ids).
pub fn content(app_id: u64, len: usize) -> Bytes {
    let mut x = app_id.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// The earliest armed deadline: what the `Output::Wait` that ends a drain carries
/// ([`check_drained`] checks they agree), read without polling so a harness may look at it
/// between an input and its drain.
pub fn next_deadline(s: &Session) -> Option<Instant> {
    s.armed_timers().map(|(_, d)| d).min()
}

/// Memory is within the config's bounds (`PROTOCOL.md`, "Memory bound per session").
pub fn check_session(s: &Session) -> Result<(), String> {
    check_store(s.config(), s.store())
}

/// The persistent state is within the bounds the config promises.
pub fn check_store(c: &Config, st: &SessionStore) -> Result<(), String> {
    if st.outbound.len() as u64 > u64::from(c.max_queued_messages) {
        return Err(format!("{} outbound messages, limit {}", st.outbound.len(), c.max_queued_messages));
    }
    if st.queued_bytes > c.max_queued_bytes {
        return Err(format!("{} bytes queued, limit {}", st.queued_bytes, c.max_queued_bytes));
    }
    let sum: u64 = st.outbound.values().map(|m| m.bytes.len() as u64).sum();
    if st.queued_bytes != sum {
        return Err(format!("queued_bytes {} but the outbound messages hold {sum}", st.queued_bytes));
    }
    for (id, m) in &st.outbound {
        if m.bytes.len() as u64 > c.max_message_len {
            return Err(format!(
                "{id:?} holds {} bytes, max_message_len {}",
                m.bytes.len(),
                c.max_message_len
            ));
        }
        if id.0 >= st.next_id {
            return Err(format!("{id:?} at or above next_id {}", st.next_id));
        }
        if m.msn.is_some_and(|msn| msn >= st.next_msn) {
            return Err(format!("{id:?} has msn {:?} at or above next_msn {}", m.msn, st.next_msn));
        }
    }
    let w = u64::from(c.params.msg_window);
    if st.inbound.len() as u64 > w {
        return Err(format!("{} inbound messages above the watermark, window {w}", st.inbound.len()));
    }
    for (&msn, m) in &st.inbound {
        if msn < st.watermark || msn >= st.watermark.saturating_add(w) {
            return Err(format!("inbound msn {msn} outside [{}, +{w})", st.watermark));
        }
        if let StoredInbound::Partial { first, bytes } = m {
            if bytes.len() as u64 > c.max_message_len {
                return Err(format!("inbound msn {msn} holds {} bytes", bytes.len()));
            }
            if first.is_some_and(|f| bytes.len() as u64 > f.total_len) {
                return Err(format!("inbound msn {msn} holds more than its declared length"));
            }
        }
    }
    if st.recent_non_delivered.len() as u64 > MAX_MSG_WINDOW {
        return Err(format!("{} remembered non-deliveries", st.recent_non_delivered.len()));
    }
    if let Some((&lo, _)) = st.recent_non_delivered.first_key_value() {
        let hi = st.recent_non_delivered.last_key_value().map_or(lo, |(&m, _)| m);
        if lo < st.watermark.saturating_sub(MAX_MSG_WINDOW) || hi >= st.watermark {
            return Err(format!("remembered non-deliveries {lo}..={hi}, watermark {}", st.watermark));
        }
    }
    Ok(())
}

/// The documented bound on outputs waiting for the driver (`PROTOCOL.md`, "Memory bound per
/// session"): `P + 16` for what the peer's packets make us send, `W` deliveries, and the
/// application's own events (`Queued` and `Outcome`, two per message it may have queued)
/// plus a few bearer and association events.
pub fn output_queue_bound(c: &Config) -> usize {
    c.max_packets_in_flight as usize
        + 16
        + usize::from(c.params.msg_window)
        + 2 * c.max_queued_messages as usize
        + 4
}

/// After draining: polling again ends the drain again, with the earliest armed deadline,
/// and at most [`output_queue_bound`] outputs are held back by the write barrier.
pub fn check_drained(s: &mut Session) -> Result<(), String> {
    match s.poll_output() {
        Output::Wait { until } if until == next_deadline(s) => {}
        Output::Wait { until } => {
            return Err(format!(
                "Wait until {until:?} but the earliest armed timer is {:?}",
                next_deadline(s)
            ))
        }
        o => return Err(format!("poll_output returned {o:?} after returning Wait")),
    }
    let cap = output_queue_bound(s.config());
    if s.pending_outputs() > cap {
        return Err(format!(
            "{} outputs waiting for the driver, bound {cap}: {:?}",
            s.pending_outputs(),
            held_outputs(s)
        ));
    }
    Ok(())
}

/// The outputs `s` holds behind its write barrier (found by draining a durable copy).
pub fn held_outputs(s: &Session) -> Vec<Output> {
    let mut copy = s.clone();
    let upto = copy.records_issued();
    let _ = copy.handle_input(Instant::ZERO, Input::Persisted { upto });
    std::iter::from_fn(|| match copy.poll_output() {
        Output::Wait { .. } => None,
        o => Some(o),
    })
    .collect()
}

/// Where two values' pretty `Debug` forms first differ, with a little context.
pub fn debug_diff<T: std::fmt::Debug>(before: &T, after: &T) -> String {
    let (a, b) = (format!("{before:#?}"), format!("{after:#?}"));
    let (a, b): (Vec<&str>, Vec<&str>) = (a.lines().collect(), b.lines().collect());
    let Some(at) = (0..a.len().max(b.len())).find(|&i| a.get(i) != b.get(i)) else {
        return "no difference in Debug".to_string();
    };
    let from = at.saturating_sub(3);
    let show =
        |v: &[&str]| v.iter().skip(from).take(at - from + 4).map(|l| l.trim()).collect::<Vec<_>>().join(" ");
    format!("before: …{} …\nafter:  …{} …", show(&a), show(&b))
}

/// The counters that must never go backwards.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    epoch: u64,
    next_id: u64,
    next_msn: u64,
    watermark: u64,
}

impl Progress {
    /// The counters of `st`.
    pub fn of(st: &SessionStore) -> Progress {
        Progress { epoch: st.epoch, next_id: st.next_id, next_msn: st.next_msn, watermark: st.watermark }
    }

    /// Fails if any counter of `now` is below `self`'s.
    pub fn check_advanced(&self, now: Progress) -> Result<(), String> {
        if now.epoch < self.epoch
            || now.next_id < self.next_id
            || now.next_msn < self.next_msn
            || now.watermark < self.watermark
        {
            return Err(format!("persistent counters went backwards: {self:?} -> {now:?}"));
        }
        Ok(())
    }
}

/// `base` with `records` applied in order: what a store holding `base` becomes.
pub fn fold<'a>(base: &SessionStore, records: impl IntoIterator<Item = &'a Record>) -> SessionStore {
    let mut st = base.clone();
    for r in records {
        st.apply(r);
    }
    st
}

/// Per-side event checks that hold whatever the peer does (even an authentic liar):
/// queued ids are unique, each queued message gets at most one outcome and nothing else
/// does, deliveries are in strictly increasing msn order.
#[derive(Clone, Debug, Default)]
pub struct LocalLedger {
    queued: BTreeMap<MessageId, u64>,
    finished: BTreeSet<MessageId>,
    last_delivered: Option<u64>,
}

impl LocalLedger {
    /// Observes one event of this side.
    pub fn observe(&mut self, e: &Event) -> Result<(), String> {
        match e {
            Event::Queued { id, app_id } => {
                let previous = self.queued.insert(*id, *app_id);
                if previous.is_some() {
                    return Err(format!("{id:?} queued twice"));
                }
            }
            Event::Outcome { id, app_id, outcome } => {
                if self.queued.get(id) != Some(app_id) {
                    return Err(format!(
                        "outcome {outcome:?} for {id:?} (app {app_id}) never queued as such"
                    ));
                }
                if !self.finished.insert(*id) {
                    return Err(format!("second outcome {outcome:?} for {id:?}"));
                }
            }
            Event::Delivered { msn, .. } => {
                if self.last_delivered.is_some_and(|last| *msn <= last) {
                    return Err(format!("msn {msn} delivered after msn {:?}", self.last_delivered));
                }
                self.last_delivered = Some(*msn);
            }
            _ => {}
        }
        Ok(())
    }

    /// Queued ids without an outcome yet.
    pub fn unresolved(&self) -> impl Iterator<Item = MessageId> + '_ {
        self.queued.keys().filter(|id| !self.finished.contains(id)).copied()
    }

    /// Every queued id, in order.
    pub fn queued_ids(&self) -> impl Iterator<Item = MessageId> + '_ {
        self.queued.keys().copied()
    }
}
