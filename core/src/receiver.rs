//! The receiving side of a session: per msn UNSEEN → PARTIAL(durable offset) → DELIVERED in
//! one atomic durable step, or CANCELLED / REJECTED; delivery to the application strictly
//! in msn order.
//!
//! | state | event | next | record |
//! |---|---|---|---|
//! | UNSEEN / PARTIAL | contiguous bytes reach the next checkpoint or the end | PARTIAL | `Chunk` |
//! | PARTIAL, complete, all lower msns resolved | — | DELIVERED | `Delivered` (bytes + app id) |
//! | UNSEEN / PARTIAL (not delivered) | CANCEL | CANCELLED | `Resolved(Cancelled)` |
//! | UNSEEN | first segment larger than `max_message_len` | REJECTED | `Resolved(Rejected)` |
//! | any resolved | DATA or CANCEL again | unchanged | — (summary answers) |
//!
//! Only msns in `[watermark, watermark + W)` are accepted, so de-duplication state is the
//! watermark plus at most `W` entries. Reassembly beyond the durable prefix is limited to
//! the checkpoint window, so memory per message in flight is bounded by the config.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use bytes::Bytes;

use crate::config::Config;
use crate::persist::{Record, SessionStore, StoredInbound};
use crate::wire::{
    DataFrame, FirstSegment, Frame, Params, PartialEntry, RejectReason, Resolution, ResolvedEntry, Summary,
};

/// Why a DATA frame was ignored (the packet itself was fine). Counted in stats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Ignored {
    /// The msn is already resolved or the bytes already durable.
    Duplicate,
    /// The msn is outside `[watermark, watermark + W)`.
    OutsideWindow,
    /// Bytes beyond the declared length, or beyond the checkpoint window.
    OutOfBounds,
    /// Different bytes than already received at the same offset.
    Conflicting,
}

/// Out-of-order segments beyond the durable prefix of one message.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
struct Reassembly {
    first: Option<FirstSegment>,
    /// Total length, from the first segment or a final one.
    total: Option<u64>,
    segments: BTreeMap<u64, Bytes>,
}

/// What the receiver needs to remember besides the store.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub(crate) struct Receiver {
    pending: BTreeMap<u64, Reassembly>,
    /// Our durable state changed since the last summary went out.
    pub(crate) summary_due: bool,
    /// RESOLVED / REJECT frames to send.
    answers: Vec<Frame>,
}

/// The effect of a DATA or CANCEL frame: records to persist (in order), messages delivered.
#[derive(Debug, Default)]
pub(crate) struct Effects {
    pub(crate) records: Vec<Record>,
    pub(crate) ignored: Option<Ignored>,
}

impl Receiver {
    /// Forgets reassembly of a message (association over; the durable prefix remains).
    /// A new association: reassembly restarts from the durable prefixes. Our summary went
    /// out in the handshake (CONFIRM or ACCEPT), so none is due yet.
    pub(crate) fn on_association_up(&mut self) {
        self.pending.clear();
        self.answers.clear();
        self.summary_due = false;
    }

    /// Processes one DATA frame against the store (which already holds every earlier record).
    /// `params` are the association's agreed parameters: the sender limits what it sends by
    /// them, so the receiver must checkpoint and window by the same values.
    pub(crate) fn on_data(
        &mut self,
        cfg: &Config,
        params: &Params,
        store: &SessionStore,
        d: &DataFrame,
    ) -> Effects {
        let mut fx = Effects::default();
        let w = u64::from(params.msg_window);
        let dedup_off = mutated!(cfg, NoDuplicateSuppression);
        if (d.msn < store.watermark && !dedup_off)
            || matches!(store.inbound.get(&d.msn), Some(StoredInbound::Resolved(_)))
        {
            self.summary_due = true;
            fx.ignored = Some(Ignored::Duplicate);
            return fx;
        }
        if d.msn >= store.watermark.saturating_add(w) {
            fx.ignored = Some(Ignored::OutsideWindow);
            return fx;
        }
        if let Some(first) = d.first {
            if first.total_len > cfg.max_message_len {
                let resolution = Resolution::Rejected(RejectReason::TooLarge);
                fx.records.push(Record::Resolved { msn: d.msn, resolution });
                self.pending.remove(&d.msn);
                self.answers.push(Frame::Reject { msn: d.msn, reason: RejectReason::TooLarge });
                self.summary_due = true;
                return fx;
            }
        }
        if dedup_off && d.msn < store.watermark {
            // The historical bug: a re-sent message below the watermark is handed over again.
            if let Some(f) = d.first.filter(|f| f.total_len == d.bytes.len() as u64) {
                fx.records.push(Record::Delivered { msn: d.msn, app_id: f.app_id, bytes: d.bytes.clone() });
            }
            return fx;
        }
        let (stored_first, durable) = match store.inbound.get(&d.msn) {
            Some(StoredInbound::Partial { first, bytes }) => (*first, bytes.clone()),
            _ => (None, Bytes::new()),
        };
        if stored_first.is_some_and(|f| f.total_len == durable.len() as u64) {
            fx.ignored = Some(Ignored::Duplicate); // complete, waiting for its turn
            self.summary_due = true;
            return fx;
        }
        let r = self.pending.entry(d.msn).or_default();
        r.first = r.first.or(stored_first).or(d.first);
        if let Some(f) = r.first {
            r.total = Some(f.total_len);
        }
        let end = d.offset.saturating_add(d.bytes.len() as u64);
        if d.fin {
            r.total = r.total.or(Some(end));
        }
        let window = u64::from(params.checkpoint_window) * u64::from(params.checkpoint_size);
        if r.total.is_some_and(|t| end > t) || end > (durable.len() as u64).saturating_add(window) {
            fx.ignored = Some(Ignored::OutOfBounds);
            return fx;
        }
        if conflicts(&durable, &r.segments, d.offset, &d.bytes) {
            fx.ignored = Some(Ignored::Conflicting);
            return fx;
        }
        if end <= durable.len() as u64 && !(d.bytes.is_empty() && durable.is_empty() && r.total == Some(0)) {
            fx.ignored = Some(Ignored::Duplicate);
            self.summary_due = true;
            return fx;
        }
        insert_new_parts(&mut r.segments, durable.len() as u64, d.offset, &d.bytes);
        self.checkpoint(params, d.msn, durable, &mut fx);
        fx
    }

    /// Turns the contiguous prefix into a `Chunk` record at a checkpoint or at the end.
    fn checkpoint(&mut self, params: &Params, msn: u64, durable: Bytes, fx: &mut Effects) {
        let Some(r) = self.pending.get_mut(&msn) else { return };
        let start = durable.len() as u64;
        // First find how far the contiguous prefix reaches; copy it only when it becomes a
        // record (copying on every segment made a message's cost quadratic in its size).
        let mut at = start;
        for (&off, seg) in &r.segments {
            if off > at {
                break;
            }
            at = at.max(off + seg.len() as u64);
        }
        let complete = r.total == Some(at);
        let reached_checkpoint = at - start >= u64::from(params.checkpoint_size);
        if !(complete || reached_checkpoint) {
            return;
        }
        if at == start && complete && start > 0 {
            return; // already durable in full
        }
        let bytes = match r.segments.first_key_value() {
            // One segment holds the whole new prefix (a small message, in order): share it.
            Some((&off, seg)) if off == start && off + seg.len() as u64 == at => seg.clone(),
            _ => {
                let mut contiguous: Vec<u8> = Vec::with_capacity((at - start) as usize);
                let mut copied = start;
                for (&off, seg) in r.segments.range(..at) {
                    let seg_end = off + seg.len() as u64;
                    if seg_end > copied {
                        contiguous.extend_from_slice(&seg[(copied - off) as usize..]);
                        copied = seg_end;
                    }
                }
                Bytes::from(contiguous)
            }
        };
        fx.records.push(Record::Chunk {
            msn,
            offset: start,
            first: if start == 0 { r.first } else { None },
            bytes,
        });
        r.segments.retain(|off, seg| off + seg.len() as u64 > at);
        self.summary_due = true;
        if complete {
            self.pending.remove(&msn);
        }
    }

    /// Delivers, in msn order, every complete message whose turn has come. Call after
    /// applying records; returns `Delivered` records (bytes and app id inside).
    pub(crate) fn deliverable(store: &SessionStore) -> Option<Record> {
        match store.inbound.get(&store.watermark) {
            Some(StoredInbound::Partial { first: Some(f), bytes }) if bytes.len() as u64 == f.total_len => {
                Some(Record::Delivered { msn: store.watermark, app_id: f.app_id, bytes: bytes.clone() })
            }
            _ => None,
        }
    }

    /// Any complete message, whatever its turn. Only the `DeliverOutOfOrder` mutation uses
    /// this.
    pub(crate) fn deliverable_any(store: &SessionStore) -> Option<Record> {
        store.inbound.iter().find_map(|(&msn, s)| match s {
            StoredInbound::Partial { first: Some(f), bytes } if bytes.len() as u64 == f.total_len => {
                Some(Record::Delivered { msn, app_id: f.app_id, bytes: bytes.clone() })
            }
            _ => None,
        })
    }

    /// The sender gives up on `msn`: cancel it unless it is already resolved.
    pub(crate) fn on_cancel(&mut self, params: &Params, store: &SessionStore, msn: u64) -> Option<Record> {
        self.summary_due = true;
        let resolved =
            msn < store.watermark || matches!(store.inbound.get(&msn), Some(StoredInbound::Resolved(_)));
        if resolved || msn >= store.watermark.saturating_add(u64::from(params.msg_window)) {
            if let Some(r) = resolution_of(store, msn) {
                self.answers.push(Frame::Resolved { msn, resolution: r });
            }
            return None;
        }
        self.pending.remove(&msn);
        self.answers.push(Frame::Resolved { msn, resolution: Resolution::Cancelled });
        Some(Record::Resolved { msn, resolution: Resolution::Cancelled })
    }

    /// Per msn being reassembled: bytes buffered beyond its durable prefix (for the fuzzers).
    #[cfg(fuzzing)]
    pub(crate) fn buffered(&self, store: &SessionStore) -> Vec<(u64, u64)> {
        let durable = |msn| match store.inbound.get(&msn) {
            Some(StoredInbound::Partial { bytes, .. }) => bytes.len() as u64,
            _ => 0,
        };
        let beyond = |msn, segments: &BTreeMap<u64, Bytes>| {
            let d = durable(msn);
            segments.iter().map(|(&off, b)| (off + b.len() as u64).saturating_sub(off.max(d))).sum()
        };
        self.pending.iter().map(|(&msn, r)| (msn, beyond(msn, &r.segments))).collect()
    }

    /// Frames answering CANCELs and rejections, to send in the next packet.
    pub(crate) fn take_answers(&mut self) -> Vec<Frame> {
        core::mem::take(&mut self.answers)
    }

    /// Our durable receive state as a summary of at most `budget` encoded bytes: only
    /// stable facts, so it can never move the sender backwards.
    pub(crate) fn summary(store: &SessionStore, budget: usize) -> Summary {
        let mut resolved: Vec<ResolvedEntry> = store
            .recent_non_delivered
            .iter()
            .map(|(&msn, &resolution)| ResolvedEntry { msn, resolution })
            .collect();
        for (&msn, s) in &store.inbound {
            if let StoredInbound::Resolved(resolution) = s {
                resolved.push(ResolvedEntry { msn, resolution: *resolution });
            }
        }
        let partial: Vec<PartialEntry> = store
            .inbound
            .iter()
            .filter_map(|(&msn, s)| match s {
                StoredInbound::Partial { bytes, .. } => {
                    Some(PartialEntry { msn, durable: bytes.len() as u64 })
                }
                StoredInbound::Resolved(_) => None,
            })
            .collect();
        let mut s = Summary { resolved_below: store.watermark, resolved, partial };
        // Too big: keep the watermark honest — every non-delivery below it must be listed —
        // by lowering it to the first entry that does not fit, and drop what is above.
        let mut fits = 13 + 10 * s.resolved.len() + 16 * s.partial.len() <= budget;
        while !fits {
            if s.partial.pop().is_none() {
                match s.resolved.pop() {
                    Some(e) => s.resolved_below = s.resolved_below.min(e.msn),
                    None => break,
                }
            }
            fits = 13 + 10 * s.resolved.len() + 16 * s.partial.len() <= budget;
        }
        s
    }
}

/// How `msn` was resolved, if it was (for answering a late CANCEL).
fn resolution_of(store: &SessionStore, msn: u64) -> Option<Resolution> {
    if let Some(StoredInbound::Resolved(r)) = store.inbound.get(&msn) {
        return Some(*r);
    }
    if msn < store.watermark {
        return Some(store.recent_non_delivered.get(&msn).copied().unwrap_or(Resolution::Delivered));
    }
    None
}

/// Buffers the parts of `bytes` at `offset` that are neither durable (below `durable`) nor
/// already buffered, as slices of `bytes` (no copy). The segments stay disjoint, so what
/// is buffered beyond the durable prefix never exceeds the checkpoint window however the
/// peer's segments overlap. (`conflicts` has checked that overlapping parts agree.)
fn insert_new_parts(segments: &mut BTreeMap<u64, Bytes>, durable: u64, offset: u64, bytes: &Bytes) {
    let end = offset + bytes.len() as u64;
    let mut at = offset.max(durable);
    // Only the last segment starting below `at` can cover it (segments are disjoint).
    if let Some((&off, seg)) = segments.range(..at).next_back() {
        at = at.max(off + seg.len() as u64);
    }
    if at >= end {
        return;
    }
    if segments.range(at..end).next().is_none() {
        // Nothing buffered overlaps (the common case): one new segment, no gap list.
        segments.insert(at, bytes.slice((at - offset) as usize..));
        return;
    }
    let mut gaps = Vec::new();
    for (&off, seg) in segments.range(at..end) {
        if off > at {
            gaps.push((at, off));
        }
        at = at.max(off + seg.len() as u64);
    }
    if at < end {
        gaps.push((at, end));
    }
    for (lo, hi) in gaps {
        segments.insert(lo, bytes.slice((lo - offset) as usize..(hi - offset) as usize));
    }
}

/// Whether `bytes` at `offset` disagree with what is already durable or buffered.
fn conflicts(durable: &Bytes, segments: &BTreeMap<u64, Bytes>, offset: u64, bytes: &Bytes) -> bool {
    let disagree = |base: u64, known: &[u8]| {
        let (lo, hi) = (offset.max(base), (offset + bytes.len() as u64).min(base + known.len() as u64));
        lo < hi
            && known[(lo - base) as usize..(hi - base) as usize]
                != bytes[(lo - offset) as usize..(hi - offset) as usize]
    };
    disagree(0, durable) || segments.iter().any(|(&off, seg)| disagree(off, seg))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn held(segments: &BTreeMap<u64, Bytes>) -> Vec<(u64, Vec<u8>)> {
        segments.iter().map(|(&off, b)| (off, b.to_vec())).collect()
    }

    /// Overlapping segments at different offsets are buffered once: only the parts neither
    /// durable nor held, so the buffer never exceeds the span the segments cover.
    #[test]
    fn overlapping_segments_are_buffered_once() {
        let msg: Vec<u8> = (0..64u8).collect();
        let seg = |lo: usize, hi: usize| Bytes::copy_from_slice(&msg[lo..hi]);
        let mut s = BTreeMap::new();
        insert_new_parts(&mut s, 8, 10, &seg(10, 20));
        insert_new_parts(&mut s, 8, 30, &seg(30, 40));
        // Covers a gap on both sides of 10..20, the gap 20..30, and overlaps 30..40.
        insert_new_parts(&mut s, 8, 4, &seg(4, 36));
        // Entirely held already: nothing changes.
        insert_new_parts(&mut s, 8, 12, &seg(12, 38));
        // Starts inside a held segment and runs past the last one.
        insert_new_parts(&mut s, 8, 35, &seg(35, 45));
        let want: Vec<(u64, Vec<u8>)> = [(8, 10), (10, 20), (20, 30), (30, 40), (40, 45)]
            .iter()
            .map(|&(lo, hi)| (lo as u64, msg[lo..hi].to_vec()))
            .collect();
        assert_eq!(held(&s), want);
        let total: usize = s.values().map(Bytes::len).sum();
        assert_eq!(total, 45 - 8);
        // A segment around one already held adds exactly the parts on either side.
        let mut s = BTreeMap::new();
        insert_new_parts(&mut s, 0, 2, &seg(2, 5));
        insert_new_parts(&mut s, 0, 0, &seg(0, 10));
        let want: Vec<(u64, Vec<u8>)> =
            [(0, 2), (2, 5), (5, 10)].iter().map(|&(lo, hi)| (lo as u64, msg[lo..hi].to_vec())).collect();
        assert_eq!(held(&s), want);
        // Below the durable prefix nothing is buffered; an empty segment adds nothing.
        let mut s = BTreeMap::new();
        insert_new_parts(&mut s, 20, 0, &seg(0, 20));
        insert_new_parts(&mut s, 0, 0, &Bytes::new());
        assert!(s.is_empty());
    }

    fn cfg() -> Config {
        use crate::crypto::Psk;
        use crate::wire::PeerName;
        Config::new(
            PeerName::new(b"beta").unwrap(),
            PeerName::new(b"alpha").unwrap(),
            Psk::new(&[7u8; 16]).unwrap(),
        )
    }

    fn params(checkpoint_size: u32) -> Params {
        Params { max_datagram: 1400, msg_window: 64, checkpoint_size, checkpoint_window: 8 }
    }

    fn segment(msn: u64, offset: u64, len: usize, total: u64) -> DataFrame {
        let first = (offset == 0).then_some(crate::wire::FirstSegment {
            total_len: total,
            priority: crate::wire::Priority::Normal,
            app_id: 9,
        });
        let bytes = Bytes::from(alloc::vec![(msn as u8) ^ 0x5A; len]);
        DataFrame { msn, offset, fin: offset + len as u64 == total, first, bytes }
    }

    /// Feeds `frames` in order, applying every record as the session would.
    fn feed(r: &mut Receiver, store: &mut SessionStore, p: &Params, frames: &[DataFrame]) -> Vec<Record> {
        let cfg = cfg();
        let mut all = Vec::new();
        for d in frames {
            for rec in r.on_data(&cfg, p, store, d).records {
                store.apply(&rec);
                all.push(rec);
            }
        }
        all
    }

    /// The receiver writes a checkpoint once `checkpoint_size` new bytes are contiguous (and
    /// at the end), never per segment; after each, nothing already durable stays buffered.
    #[test]
    fn checkpoints_come_every_checkpoint_size_bytes_and_release_their_segments() {
        let p = params(4096);
        let (mut r, mut store) = (Receiver::default(), SessionStore::default());
        let total = 20_000u64;
        let frames: Vec<DataFrame> = (0..total.div_ceil(1300))
            .map(|k| segment(0, k * 1300, 1300.min((total - k * 1300) as usize), total))
            .collect();
        let records = feed(&mut r, &mut store, &p, &frames);
        let chunks: Vec<u64> = records
            .iter()
            .filter_map(|rec| match rec {
                Record::Chunk { bytes, .. } => Some(bytes.len() as u64),
                _ => None,
            })
            .collect();
        assert_eq!(chunks.iter().sum::<u64>(), total);
        let (last, full) = chunks.split_last().unwrap();
        assert!(full.iter().all(|&c| c >= 4096) && *last > 0, "chunk sizes {chunks:?}");
        assert_eq!(chunks.len(), 4, "5,200 + 5,200 + 5,200 + 4,400 bytes: {chunks:?}");
        assert!(r.pending.is_empty(), "complete: nothing left to reassemble");
        // Half a message: the bytes behind the checkpoint are released, the rest kept.
        let (mut r, mut store) = (Receiver::default(), SessionStore::default());
        feed(&mut r, &mut store, &p, &frames[..5]);
        let held: Vec<u64> = r.pending[&0].segments.keys().copied().collect();
        assert_eq!(held, alloc::vec![5_200], "segments below the 5,200-byte checkpoint are released");
    }

    /// An empty segment inside what is already durable is a duplicate (only an empty
    /// message's single empty segment is news).
    #[test]
    fn an_empty_segment_is_a_duplicate_unless_it_is_an_empty_message() {
        let p = params(4096);
        let cfg = cfg();
        let (mut r, store) = (Receiver::default(), SessionStore::default());
        let empty_of_three = segment(0, 0, 0, 3);
        assert_eq!(r.on_data(&cfg, &p, &store, &empty_of_three).ignored, Some(Ignored::Duplicate));
        let empty_message = segment(1, 0, 0, 0);
        let fx = r.on_data(&cfg, &p, &store, &empty_message);
        assert_eq!(fx.ignored, None);
        assert!(matches!(fx.records.as_slice(), [Record::Chunk { msn: 1, .. }]), "{:?}", fx.records);
    }

    /// A summary keeps as many entries as its budget allows, counting each resolved entry at
    /// its largest encoding (10 bytes) and each partial one at 16, plus 13 fixed: partial
    /// entries go first, then resolved ones (lowering `resolved_below`).
    #[test]
    fn a_summary_keeps_what_fits_its_budget() {
        let mut store = SessionStore::default();
        for msn in 0..40u64 {
            let entry = if msn % 4 == 0 {
                StoredInbound::Resolved(Resolution::Rejected(RejectReason::TooLarge))
            } else {
                StoredInbound::Partial { first: None, bytes: Bytes::from_static(b"abc") }
            };
            store.inbound.insert(msn, entry);
        }
        for budget in [0usize, 12, 13, 50, 112, 113, 200, 333, 550, 592, 593, 1_000] {
            let s = Receiver::summary(&store, budget);
            let want = match budget {
                b if b >= 13 + 100 + 16 * 30 => (10, 30),
                b if b >= 13 + 100 => (10, (b - 113) / 16),
                b if b >= 13 => ((b - 13) / 10, 0),
                _ => (0, 0),
            };
            assert_eq!((s.resolved.len(), s.partial.len()), want, "budget {budget}");
            if budget >= 13 {
                assert!(Frame::Summary(s).encoded_len() <= budget, "budget {budget}");
            }
        }
        let all = Receiver::summary(&store, usize::MAX);
        assert_eq!((all.resolved.len(), all.partial.len()), (10, 30));
    }

    /// A CANCEL for something already resolved is answered with how it was resolved
    /// (delivered, or the remembered non-delivery); one for an unknown msn in the window
    /// cancels it; one beyond the window is ignored.
    #[test]
    fn a_cancel_is_answered_with_the_resolution_it_finds() {
        let p = params(4096);
        let w = u64::from(p.msg_window);
        let mut store = SessionStore { watermark: 5, ..SessionStore::default() };
        store.recent_non_delivered.insert(3, Resolution::Cancelled);
        store.inbound.insert(6, StoredInbound::Resolved(Resolution::Rejected(RejectReason::TooLarge)));
        let mut r = Receiver::default();
        let answer = |r: &mut Receiver, msn| {
            let record = r.on_cancel(&p, &store, msn);
            (record, r.take_answers())
        };
        assert_eq!(
            answer(&mut r, 2),
            (None, alloc::vec![Frame::Resolved { msn: 2, resolution: Resolution::Delivered }])
        );
        assert_eq!(
            answer(&mut r, 3),
            (None, alloc::vec![Frame::Resolved { msn: 3, resolution: Resolution::Cancelled }])
        );
        let rejected = Resolution::Rejected(RejectReason::TooLarge);
        assert_eq!(answer(&mut r, 6), (None, alloc::vec![Frame::Resolved { msn: 6, resolution: rejected }]));
        let cancelled = Resolution::Cancelled;
        assert_eq!(
            answer(&mut r, 7),
            (
                Some(Record::Resolved { msn: 7, resolution: cancelled }),
                alloc::vec![Frame::Resolved { msn: 7, resolution: cancelled }]
            )
        );
        assert_eq!(answer(&mut r, 5 + w), (None, alloc::vec![]));
    }
}
