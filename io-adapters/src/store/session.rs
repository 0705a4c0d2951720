//! One session's durable view, and how each record's effect is written through to its rows.
//!
//! The view is a [`SessionStore`] folded with [`SessionStore::apply`] — the core's only
//! fold — exactly as the session folds its own copy. For each record the store compares the
//! view before and after the fold and writes only what changed, so the rows always hold the
//! fold. The common case costs one B-tree operation per record:
//!
//! | record | rows |
//! |---|---|
//! | `Submitted` | `outbound[id] = Pending(message)` — the content, written once |
//! | `Assigned`, `CancelRequested` | `progress[id]` = msn and cancellation (no content) |
//! | `Finished` | `outbound[id] = Outcome` (overwrites, dropping the content) |
//! | `Acknowledged(Outcome)` | `outbound[id] = Remembered` |
//! | `Forgotten` | `outbound[id]` removed |
//! | `Chunk` | `chunks[(msn, offset)]` = the new bytes (and the head, once) |
//! | `Delivered` | none when its content is in its chunks and the watermark passes it (the chunks below the watermark are the inbox); else `inbox[msn]`: the content inline, or a reference to its chunks |
//! | `Acknowledged(Delivery)` | its chunks (and `inbox[msn]`) removed |
//! | `Resolved` | `inbound[msn]` head (only when above the watermark) |
//!
//! Removals that arrive in key order — forgotten outcomes, acknowledged deliveries, the
//! progress rows of finished messages — are gathered and made at the end of the commit as
//! one range removal each; the session's counters row is written once per commit, when it
//! changed. What the rows do not hold is derived when loading: the idempotency keys come
//! from the `outbound` rows (the newest id per app id), except for the app ids listed in
//! `app_id_gaps`; a partial message's length is its chunks'.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use assoc_core::wire::FirstSegment;
use assoc_core::{
    Ack, FinishedMessage, MessageId, NonDelivery, Record, SessionStore, StoredInbound, StoredMessage,
    UnacknowledgedDelivery, MAX_MSG_WINDOW,
};
use bytes::Bytes;
use redb::ReadTransaction;

use super::codec::{self, InboundHead, InboxRow, OutRow, SessionMeta};
use super::tables::{
    Kind, SessionTables, APP_ID_GAPS, CHUNKS, INBOUND, INBOX, OUTBOUND, PROGRESS, RECENT, SESSIONS,
};
use super::{Corrupt, StoreError};

/// Progress rows of finished messages kept (awaiting a range removal) at most.
const STALE_LIMIT: usize = 256;

/// A session's durable state as its rows hold it, and what the write-through needs to know
/// about those rows.
#[derive(Debug, Default)]
pub(crate) struct Durable {
    pub(crate) state: SessionStore,
    pub(crate) max_app_id: u64,
    /// Rows of `outbound` per app id.
    app_rows: HashMap<u64, u32>,
    /// App ids with an `app_id_gaps` row.
    gaps: BTreeSet<u64>,
    /// Pending ids with a `progress` row.
    progress: BTreeSet<u64>,
    /// Ids whose `progress` row outlived the message.
    stale: BTreeSet<u64>,
    /// Msns whose inbox content lives in chunk rows.
    in_chunks: BTreeSet<u64>,
    /// Of those, the ones without an inbox row: below the watermark, their first chunk's
    /// metadata says who sent them (see `write_resolution`).
    implicit: BTreeSet<u64>,
    /// Partial inbound msns with a head row (most have none: their first chunk carries the
    /// metadata).
    partial_heads: BTreeSet<u64>,
    /// Gathered during a commit, removed at its end.
    forgotten: Vec<u64>,
    acked: Vec<u64>,
    /// The counters row as last written.
    meta: SessionMeta,
}

/// Where an outbound message is, as far as its rows are concerned.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Loc {
    Absent,
    Pending { msn: Option<u64>, cancel: Option<NonDelivery> },
    Outcome(FinishedMessage),
    Remembered(FinishedMessage),
}

fn loc(s: &SessionStore, id: MessageId) -> Loc {
    if let Some(m) = s.outbound.get(&id) {
        Loc::Pending { msn: m.msn, cancel: m.cancel }
    } else if let Some(f) = s.outcomes.get(&id) {
        Loc::Outcome(*f)
    } else if let Some(f) = s.remembered.get(&id) {
        Loc::Remembered(*f)
    } else {
        Loc::Absent
    }
}

/// An inbound msn's state as its rows hold it.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Shape {
    Absent,
    Partial { first: Option<FirstSegment>, bytes: Bytes },
    Resolved,
}

fn shape(s: &SessionStore, msn: u64) -> Shape {
    match s.inbound.get(&msn) {
        None => Shape::Absent,
        Some(StoredInbound::Partial { first, bytes }) => {
            Shape::Partial { first: *first, bytes: bytes.clone() }
        }
        Some(StoredInbound::Resolved(_)) => Shape::Resolved,
    }
}

fn meta_of(d: &Durable) -> SessionMeta {
    let s = &d.state;
    SessionMeta {
        epoch: s.epoch,
        next_id: s.next_id,
        next_msn: s.next_msn,
        watermark: s.watermark,
        max_app_id: d.max_app_id,
        acked_below: acked_below(s),
    }
}

/// Every finished message below this id has an acknowledged outcome: the lowest id that is
/// pending or has an unacknowledged outcome (or the next id). It never decreases.
fn acked_below(s: &SessionStore) -> u64 {
    let firsts = [s.outbound.keys().next(), s.outcomes.keys().next()];
    firsts.into_iter().flatten().map(|id| id.0).fold(s.next_id, u64::min)
}

impl Durable {
    /// Folds `record` into the view and writes through what it changed.
    pub(crate) fn write(&mut self, t: &mut SessionTables<'_, '_>, record: &Record) -> Result<(), StoreError> {
        match record {
            Record::Epoch(_) => self.state.apply(record),
            Record::Submitted { id, .. }
            | Record::Assigned { id, .. }
            | Record::CancelRequested { id, .. }
            | Record::Finished { id, .. }
            | Record::Acknowledged(Ack::Outcome(id))
            | Record::Forgotten { id } => {
                let before = loc(&self.state, *id);
                self.state.apply(record);
                let after = loc(&self.state, *id);
                if before != after {
                    self.write_outbound(t, *id, before, after)?;
                }
            }
            Record::Acknowledged(Ack::Delivery(msn)) => {
                let had = self.state.inbox.contains_key(msn);
                self.state.apply(record);
                if had && !self.state.inbox.contains_key(msn) {
                    self.acked.push(*msn);
                }
            }
            Record::Chunk { msn, .. } => self.write_chunk(t, *msn, record)?,
            Record::Delivered { msn, .. } | Record::Resolved { msn, .. } => {
                self.write_resolution(t, *msn, record)?
            }
            // A record kind this version does not know: fold it and rewrite the session.
            _ => {
                self.state.apply(record);
                self.rewrite(t)?;
            }
        }
        Ok(())
    }

    fn write_outbound(
        &mut self,
        t: &mut SessionTables<'_, '_>,
        id: MessageId,
        before: Loc,
        after: Loc,
    ) -> Result<(), StoreError> {
        match (before, after) {
            (Loc::Absent, Loc::Pending { .. }) => {
                let Some(m) = self.state.outbound.get(&id) else { return Ok(()) };
                t.put(Kind::Outbound, id.0, &OutRow::Pending(m.clone()).encode())?;
                self.max_app_id = self.max_app_id.max(m.app_id);
                let app = m.app_id;
                *self.app_rows.entry(app).or_default() += 1;
                // The fold made it the app id's key: a gap no longer applies.
                if self.gaps.remove(&app) {
                    t.set_gap(app, false)?;
                }
            }
            (Loc::Pending { .. }, Loc::Pending { .. }) => {
                let Some(m) = self.state.outbound.get(&id) else { return Ok(()) };
                t.put(Kind::Progress, id.0, &codec::encode_progress(m))?;
                self.progress.insert(id.0);
            }
            (Loc::Pending { .. }, Loc::Outcome(f)) => {
                t.put(Kind::Outbound, id.0, &OutRow::Outcome(f).encode())?;
                if self.progress.remove(&id.0) {
                    self.stale.insert(id.0);
                }
            }
            (Loc::Outcome(_), Loc::Remembered(f)) => {
                // In id order, the counters row's `acked_below` says it: no row write.
                if id.0 >= acked_below(&self.state) {
                    t.put(Kind::Outbound, id.0, &OutRow::Remembered(f).encode())?;
                }
            }
            (Loc::Remembered(f), Loc::Absent) => {
                self.forgotten.push(id.0);
                let rows = self.app_rows.entry(f.app_id).or_default();
                *rows = rows.saturating_sub(1);
                let (rows, key) = (*rows, self.state.app_ids.contains_key(&f.app_id));
                if rows == 0 {
                    self.app_rows.remove(&f.app_id);
                }
                // An older row with this app id remains, but the fold dropped the key.
                let gap = rows > 0 && !key;
                if gap != self.gaps.contains(&f.app_id) {
                    t.set_gap(f.app_id, gap)?;
                    if gap {
                        self.gaps.insert(f.app_id);
                    } else {
                        self.gaps.remove(&f.app_id);
                    }
                }
            }
            // Not a transition the fold makes; write everything rather than guess.
            _ => self.rewrite(t)?,
        }
        Ok(())
    }

    fn write_chunk(
        &mut self,
        t: &mut SessionTables<'_, '_>,
        msn: u64,
        record: &Record,
    ) -> Result<(), StoreError> {
        let before = shape(&self.state, msn);
        self.state.apply(record);
        let Shape::Partial { first, bytes } = shape(&self.state, msn) else { return Ok(()) };
        let (existed, old_first, old_len) = match &before {
            Shape::Partial { first, bytes } => (true, *first, bytes.len()),
            _ => (false, None, 0),
        };
        if bytes.len() > old_len {
            if old_len == 0 {
                t.put_chunk(msn, 0, &codec::encode_chunk0(first, &bytes))?;
            } else {
                t.put_chunk(msn, old_len as u64, &bytes[old_len..])?;
            }
        }
        // A head row only for an entry without content, or metadata the first chunk lacks.
        if (!existed && bytes.is_empty()) || (existed && old_first != first) {
            t.put(Kind::Inbound, msn, &codec::encode_head(&InboundHead::Partial(first)))?;
            self.partial_heads.insert(msn);
        }
        Ok(())
    }

    fn write_resolution(
        &mut self,
        t: &mut SessionTables<'_, '_>,
        msn: u64,
        record: &Record,
    ) -> Result<(), StoreError> {
        let before_wm = self.state.watermark;
        let before = shape(&self.state, msn);
        if msn < before_wm || before == Shape::Resolved {
            return Ok(()); // the fold changes nothing
        }
        let recent_first = self.state.recent_non_delivered.keys().next().copied();
        let had_inbox = self.state.inbox.contains_key(&msn);
        self.state.apply(record);
        let after_wm = self.state.watermark;
        // The content: stays in its chunks when the delivery is exactly what they hold.
        let delivered = match self.state.inbox.get(&msn) {
            Some(d) if !had_inbox => Some(d.clone()),
            _ => None,
        };
        let (prefix, first) = match &before {
            Shape::Partial { bytes, first } if !bytes.is_empty() => (Some(bytes.clone()), *first),
            _ => (None, None),
        };
        let passed = before_wm..after_wm;
        let had_head = self.partial_heads.remove(&msn);
        match (delivered, prefix) {
            (Some(d), Some(p)) if d.bytes.starts_with(&p) => {
                if d.bytes.len() > p.len() {
                    t.put_chunk(msn, p.len() as u64, &d.bytes[p.len()..])?;
                }
                // Below the watermark, chunks are an unacknowledged delivery: no row needed
                // when the first chunk's metadata (no head overrides it) names its sender.
                let implicit =
                    passed.contains(&msn) && !had_head && first.is_some_and(|f| f.app_id == d.app_id);
                if implicit {
                    self.implicit.insert(msn);
                } else {
                    let row = InboxRow::InChunks { app_id: d.app_id, len: d.bytes.len() as u64 };
                    t.put(Kind::Inbox, msn, &row.encode())?;
                }
                self.in_chunks.insert(msn);
            }
            (d, p) => {
                if p.is_some() {
                    t.remove_chunks(msn)?;
                }
                if let Some(d) = d {
                    t.put(Kind::Inbox, msn, &InboxRow::Inline(d).encode())?;
                }
            }
        }
        // Heads: the msn's own, and those of the resolved msns the watermark passed.
        if passed.contains(&msn) {
            if had_head {
                t.remove(Kind::Inbound, msn)?;
            }
        } else if let Some(StoredInbound::Resolved(r)) = self.state.inbound.get(&msn) {
            t.put(Kind::Inbound, msn, &codec::encode_head(&InboundHead::Resolved(*r)))?;
        }
        for m in passed.clone().filter(|m| *m != msn) {
            t.remove(Kind::Inbound, m)?;
        }
        for m in passed {
            if let Some(r) = self.state.recent_non_delivered.get(&m) {
                t.put(Kind::Recent, m, &assoc_core::record_codec::encode_resolution(*r))?;
            }
        }
        let keep_from = after_wm.saturating_sub(MAX_MSG_WINDOW);
        if recent_first.is_some_and(|f| f < keep_from) {
            t.remove_below(Kind::Recent, keep_from)?;
        }
        Ok(())
    }

    /// Ends a commit: the gathered removals (in ranges where they are in key order) and the
    /// counters row.
    pub(crate) fn finish(&mut self, t: &mut SessionTables<'_, '_>) -> Result<(), StoreError> {
        let s = &self.state;
        if !self.forgotten.is_empty() {
            let firsts = [s.outbound.keys().next(), s.outcomes.keys().next(), s.remembered.keys().next()];
            let low = firsts.into_iter().flatten().map(|id| id.0).min().unwrap_or(u64::MAX);
            remove_in_ranges(t, Kind::Outbound, &std::mem::take(&mut self.forgotten), low)?;
        }
        if !self.stale.is_empty() {
            let low = s.outbound.keys().next().map_or(u64::MAX, |id| id.0);
            let below: Vec<u64> = self.stale.range(..low).copied().collect();
            remove_in_ranges(t, Kind::Progress, &below, low)?;
            self.stale.retain(|id| *id >= low);
            if self.stale.len() > STALE_LIMIT {
                for id in std::mem::take(&mut self.stale) {
                    t.remove(Kind::Progress, id)?;
                }
            }
        }
        if !self.acked.is_empty() {
            let acked = std::mem::take(&mut self.acked);
            // Rows exist for the deliveries that are not implicit.
            let low = s.inbox.keys().find(|m| !self.implicit.contains(m)).copied().unwrap_or(u64::MAX);
            let rows: Vec<u64> = acked.iter().copied().filter(|m| !self.implicit.remove(m)).collect();
            remove_in_ranges(t, Kind::Inbox, &rows, low)?;
            let chunked: Vec<u64> = acked.into_iter().filter(|m| self.in_chunks.remove(m)).collect();
            if !chunked.is_empty() {
                // Chunk rows belong to partial messages and to inbox entries in chunks.
                let partial = s.inbound.iter().find(|(_, e)| matches!(e, StoredInbound::Partial { .. }));
                let low = [partial.map(|(m, _)| *m), self.in_chunks.first().copied()]
                    .into_iter()
                    .flatten()
                    .min()
                    .unwrap_or(u64::MAX);
                let (below, above): (Vec<u64>, Vec<u64>) = chunked.into_iter().partition(|m| *m < low);
                if below.len() > 1 {
                    t.remove_chunks_below(low)?;
                } else {
                    for m in below {
                        t.remove_chunks(m)?;
                    }
                }
                for m in above {
                    t.remove_chunks(m)?;
                }
            }
        }
        let meta = meta_of(self);
        if meta != self.meta {
            t.put_meta(&meta.encode())?;
            self.meta = meta;
        }
        Ok(())
    }

    /// Replaces every row of the session with the view (for record kinds added later).
    fn rewrite(&mut self, t: &mut SessionTables<'_, '_>) -> Result<(), StoreError> {
        t.clear()?;
        let s = &self.state;
        self.app_rows.clear();
        for (id, m) in &s.outbound {
            t.put(Kind::Outbound, id.0, &OutRow::Pending(m.clone()).encode())?;
            *self.app_rows.entry(m.app_id).or_default() += 1;
        }
        for (id, f) in &s.outcomes {
            t.put(Kind::Outbound, id.0, &OutRow::Outcome(*f).encode())?;
            *self.app_rows.entry(f.app_id).or_default() += 1;
        }
        for (id, f) in &s.remembered {
            t.put(Kind::Outbound, id.0, &OutRow::Remembered(*f).encode())?;
            *self.app_rows.entry(f.app_id).or_default() += 1;
        }
        self.partial_heads.clear();
        self.gaps = self.app_rows.keys().filter(|a| !s.app_ids.contains_key(a)).copied().collect();
        for a in &self.gaps {
            t.set_gap(*a, true)?;
        }
        for (msn, e) in &s.inbound {
            match e {
                StoredInbound::Resolved(r) => {
                    t.put(Kind::Inbound, *msn, &codec::encode_head(&InboundHead::Resolved(*r)))?
                }
                StoredInbound::Partial { first, bytes } => {
                    t.put(Kind::Inbound, *msn, &codec::encode_head(&InboundHead::Partial(*first)))?;
                    self.partial_heads.insert(*msn);
                    if !bytes.is_empty() {
                        t.put_chunk(*msn, 0, &codec::encode_chunk0(*first, bytes))?;
                    }
                }
            }
        }
        for (msn, d) in &s.inbox {
            t.put(Kind::Inbox, *msn, &InboxRow::Inline(d.clone()).encode())?;
        }
        for (msn, r) in &s.recent_non_delivered {
            t.put(Kind::Recent, *msn, &assoc_core::record_codec::encode_resolution(*r))?;
        }
        self.progress.clear();
        self.stale.clear();
        self.in_chunks.clear();
        self.implicit.clear();
        self.forgotten.clear();
        self.acked.clear();
        self.meta = meta_of(self);
        t.put_meta(&self.meta.encode())?;
        Ok(())
    }

    /// Reads session `sid`'s rows.
    pub(crate) fn load(txn: &ReadTransaction, sid: u32) -> Result<Durable, StoreError> {
        let mut d = Durable::default();
        if let Some(v) = txn.open_table(SESSIONS)?.get(sid)? {
            d.meta = SessionMeta::decode(v.value())?;
        }
        let meta = d.meta;
        let all = (sid, 0)..=(sid, u64::MAX);
        let mut s = SessionStore::default();
        s.apply(&Record::Epoch(meta.epoch));
        let mut progress: BTreeMap<u64, StoredMessage> = BTreeMap::new();
        for row in txn.open_table(PROGRESS)?.range(all.clone())? {
            let (k, v) = row?;
            progress.insert(k.value().1, codec::decode_progress(v.value())?);
        }
        // Ascending ids: the newest id per app id ends up as its key, as in the fold.
        for row in txn.open_table(OUTBOUND)?.range(all.clone())? {
            let (k, v) = row?;
            let id = MessageId(k.value().1);
            let app = match OutRow::decode(v.value())? {
                OutRow::Pending(mut message) => {
                    if let Some(p) = progress.remove(&id.0) {
                        (message.msn, message.cancel) = (p.msn, p.cancel);
                        d.progress.insert(id.0);
                    }
                    let app = message.app_id;
                    s.apply(&Record::Submitted { id, message });
                    app
                }
                OutRow::Outcome(f) if id.0 < meta.acked_below => {
                    s.remembered.insert(id, f);
                    f.app_id
                }
                OutRow::Outcome(f) => {
                    s.outcomes.insert(id, f);
                    f.app_id
                }
                OutRow::Remembered(f) => {
                    s.remembered.insert(id, f);
                    f.app_id
                }
            };
            s.app_ids.insert(app, id);
            *d.app_rows.entry(app).or_default() += 1;
        }
        d.stale = progress.into_keys().collect();
        for row in txn.open_table(APP_ID_GAPS)?.range(all.clone())? {
            let app = row?.0.value().1;
            s.app_ids.remove(&app);
            d.gaps.insert(app);
        }
        s.next_id = s.next_id.max(meta.next_id);
        s.next_msn = s.next_msn.max(meta.next_msn);
        s.watermark = meta.watermark;
        d.max_app_id = meta.max_app_id;
        // Content, by msn, with the metadata its first chunk carries.
        let mut chunks: BTreeMap<u64, (Option<FirstSegment>, Vec<u8>)> = BTreeMap::new();
        for row in txn.open_table(CHUNKS)?.range((sid, 0, 0)..=(sid, u64::MAX, u64::MAX))? {
            let (k, v) = row?;
            let (_, msn, offset) = k.value();
            let (first, content) = chunks.entry(msn).or_default();
            if offset != content.len() as u64 {
                return Err(chunk_gap());
            }
            if offset == 0 {
                let (f, bytes) = codec::decode_chunk0(v.value())?;
                *first = f;
                content.extend_from_slice(bytes);
            } else {
                content.extend_from_slice(v.value());
            }
        }
        for row in txn.open_table(INBOX)?.range(all.clone())? {
            let (k, v) = row?;
            let msn = k.value().1;
            let delivery = match InboxRow::decode(v.value())? {
                InboxRow::Inline(delivery) => delivery,
                InboxRow::InChunks { app_id, len } => {
                    let (_, content) = chunks.remove(&msn).unwrap_or_default();
                    if content.len() as u64 != len {
                        return Err(chunk_gap());
                    }
                    d.in_chunks.insert(msn);
                    UnacknowledgedDelivery { app_id, bytes: Bytes::from(content) }
                }
            };
            s.inbox_bytes = s.inbox_bytes.saturating_add(delivery.bytes.len() as u64);
            s.inbox.insert(msn, delivery);
        }
        for row in txn.open_table(INBOUND)?.range(all.clone())? {
            let (k, v) = row?;
            let msn = k.value().1;
            let entry = match codec::decode_head(v.value())? {
                InboundHead::Resolved(r) => StoredInbound::Resolved(r),
                InboundHead::Partial(first) => {
                    d.partial_heads.insert(msn);
                    let (_, content) = chunks.remove(&msn).unwrap_or_default();
                    StoredInbound::Partial { first, bytes: Bytes::from(content) }
                }
            };
            s.inbound.insert(msn, entry);
        }
        // The other chunks: below the watermark, deliveries without an inbox row; at or
        // above it, partial messages without a head row.
        for (msn, (first, content)) in chunks {
            if s.inbound.contains_key(&msn) {
                return Err(chunk_gap()); // content nobody refers to
            }
            if msn < s.watermark {
                let Some(f) = first else { return Err(chunk_gap()) };
                let delivery = UnacknowledgedDelivery { app_id: f.app_id, bytes: Bytes::from(content) };
                s.inbox_bytes = s.inbox_bytes.saturating_add(delivery.bytes.len() as u64);
                s.inbox.insert(msn, delivery);
                d.in_chunks.insert(msn);
                d.implicit.insert(msn);
            } else {
                s.inbound.insert(msn, StoredInbound::Partial { first, bytes: Bytes::from(content) });
            }
        }
        for row in txn.open_table(RECENT)?.range(all)? {
            let (k, v) = row?;
            let r = assoc_core::record_codec::decode_resolution(v.value())
                .map_err(super::codec::corrupt("resolution"))?;
            s.recent_non_delivered.insert(k.value().1, r);
        }
        d.state = s;
        Ok(d)
    }
}

/// Removes `keys` of `kind`: the ones below `low` (every row below it is among them) with
/// one range removal when there are several, the others one by one.
fn remove_in_ranges(
    t: &mut SessionTables<'_, '_>,
    kind: Kind,
    keys: &[u64],
    low: u64,
) -> Result<(), StoreError> {
    let below = keys.iter().filter(|k| **k < low).count();
    if below > 1 {
        t.remove_below(kind, low)?;
    }
    for k in keys {
        if *k >= low || below == 1 {
            t.remove(kind, *k)?;
        }
    }
    Ok(())
}

fn chunk_gap() -> StoreError {
    let why = assoc_core::RecordDecodeError::Truncated("inbound chunks");
    StoreError::Corrupt(Corrupt { what: "inbound chunk", why })
}
