//! `reassembly`: the receiving side of a session (reassembly, checkpoints, in-order
//! delivery; `receiver::Receiver`) against the message contents as the oracle.
//!
//! Up to 8 messages with fuzzer-chosen lengths; their content is fixed. The fuzzer sends
//! segments of them in any order, overlapping, duplicated, beyond the windows, conflicting
//! segments and arbitrary DATA frames (which taint their message), cancellations, new
//! associations and restarts (volatile reassembly lost, durable store kept). Records are
//! applied to a [`SessionStore`] as the session does.
//!
//! After every step: every checkpoint extends the durable prefix exactly and (for untainted
//! messages) holds the content's bytes; deliveries happen in msn order, once, with the
//! exact content and application id, never after a cancellation; messages longer than
//! `max_message_len` are rejected, never stored; bytes buffered beyond the durable prefix
//! stay within `checkpoint_window × checkpoint_size` per message and `msg_window ×` that in
//! total (`PROTOCOL.md`, "Memory bound per session"); the store stays within its bounds.
//! At the end, sending every untainted message in order completes it.

use std::collections::{BTreeMap, BTreeSet};

use arbitrary::Arbitrary;
use assoc_core::fuzz_internals::Reassembler;
use assoc_core::wire::{DataFrame, FirstSegment, RejectReason, Resolution};
use assoc_core::{Config, Priority, Record, SessionStore, StoredInbound};
use bytes::Bytes;

use crate::common::{check_store, content, Knobs};

/// Messages per case.
const MESSAGES: usize = 8;
/// Most steps of one case.
const MAX_OPS: usize = 500;

/// One fuzz case.
#[derive(Arbitrary, Debug)]
pub struct Case {
    knobs: Knobs,
    lens: [u16; MESSAGES],
    ops: Vec<Op>,
}

/// One step.
#[derive(Arbitrary, Debug)]
pub enum Op {
    /// A correct segment `offset..offset+len` (clipped) of message `msn`.
    Segment {
        /// The message (modulo 8).
        msn: u8,
        /// Start (modulo length + 1).
        offset: u16,
        /// Length.
        len: u16,
    },
    /// Like `Segment`, but with wrong bytes: taints the message.
    Conflicting {
        /// The message (modulo 8).
        msn: u8,
        /// Start.
        offset: u16,
        /// Length.
        len: u16,
        /// XOR mask for the bytes (0 is turned into 1).
        xor: u8,
    },
    /// An arbitrary DATA frame (repaired to pass `Frame::check`): taints its message.
    Arbitrary(DataFrame),
    /// The sender cancels `msn`.
    Cancel {
        /// The message (modulo 8).
        msn: u8,
    },
    /// A new association: reassembly beyond the durable prefixes is forgotten.
    NewAssociation,
    /// The receiver restarts: volatile state lost, the (durable) store kept.
    Restart,
}

struct Harness {
    cfg: Config,
    lens: [u64; MESSAGES],
    contents: Vec<Bytes>,
    r: Reassembler,
    store: SessionStore,
    tainted: BTreeSet<u64>,
    /// How each msn was resolved, from the records.
    resolved: BTreeMap<u64, Resolution>,
}

impl Harness {
    fn content(&self, msn: u64) -> Bytes {
        self.contents[msn as usize].clone()
    }

    fn segment(&self, msn: u64, offset: u64, len: u64) -> DataFrame {
        let total = self.lens[msn as usize];
        let offset = offset % (total + 1);
        let end = offset.saturating_add(len).min(total);
        let bytes = self.content(msn).slice(offset as usize..end as usize);
        let first = (offset == 0).then_some(FirstSegment {
            total_len: total,
            priority: Priority::Normal,
            app_id: msn,
        });
        DataFrame { msn, offset, fin: end == total, first, bytes }
    }

    fn data(&mut self, d: &DataFrame) -> Result<(), String> {
        let (records, _) = self.r.on_data(&self.cfg, &self.store, d);
        self.apply(records)
    }

    fn apply(&mut self, records: Vec<Record>) -> Result<(), String> {
        for r in records {
            self.apply_one(r)?;
        }
        while let Some(r) = Reassembler::deliverable(&self.store) {
            if !matches!(r, Record::Delivered { .. }) {
                return Err(format!("deliverable returned {r:?}"));
            }
            self.apply_one(r)?;
        }
        Ok(())
    }

    fn apply_one(&mut self, r: Record) -> Result<(), String> {
        match &r {
            Record::Chunk { msn, offset, first, bytes } => {
                let m = *msn as usize;
                if m >= MESSAGES {
                    return Err(format!("chunk for msn {msn}, never sent"));
                }
                if self.resolved.contains_key(msn) {
                    return Err(format!("chunk for msn {msn}, already resolved {:?}", self.resolved[msn]));
                }
                if self.lens[m] > self.cfg.max_message_len && !self.tainted.contains(msn) {
                    return Err(format!(
                        "chunk of msn {msn}, {} bytes long: above max_message_len",
                        self.lens[m]
                    ));
                }
                let durable = match self.store.inbound.get(msn) {
                    Some(StoredInbound::Partial { bytes, .. }) => bytes.len() as u64,
                    _ => 0,
                };
                if *offset != durable {
                    return Err(format!("chunk of msn {msn} at {offset}, durable prefix is {durable}"));
                }
                if first.is_some() != (*offset == 0) {
                    return Err(format!("chunk of msn {msn} at {offset} with metadata {first:?}"));
                }
                if !self.tainted.contains(msn) {
                    let want = self.content(*msn);
                    let end = offset + bytes.len() as u64;
                    if end > want.len() as u64 || bytes[..] != want[*offset as usize..end as usize] {
                        return Err(format!("chunk of msn {msn} at {offset} holds other bytes than sent"));
                    }
                }
            }
            Record::Delivered { msn, app_id, bytes } => {
                if *msn != self.store.watermark {
                    return Err(format!("msn {msn} delivered, watermark {}", self.store.watermark));
                }
                if let Some(r) = self.resolved.get(msn) {
                    return Err(format!("msn {msn} delivered after being resolved {r:?}"));
                }
                if !self.tainted.contains(msn) && (*app_id != *msn || *bytes != self.content(*msn)) {
                    return Err(format!("msn {msn} delivered with other content or app id {app_id}"));
                }
                self.resolved.insert(*msn, Resolution::Delivered);
            }
            Record::Resolved { msn, resolution } => {
                if let Some(old) = self.resolved.insert(*msn, *resolution) {
                    return Err(format!("msn {msn} resolved {resolution:?} after {old:?}"));
                }
                let too_large =
                    (*msn as usize) < MESSAGES && self.lens[*msn as usize] > self.cfg.max_message_len;
                if *resolution == Resolution::Rejected(RejectReason::TooLarge)
                    && !too_large
                    && !self.tainted.contains(msn)
                {
                    return Err(format!(
                        "msn {msn} rejected as too large, it is {} bytes",
                        self.lens[*msn as usize]
                    ));
                }
            }
            other => return Err(format!("the receiver emitted {other:?}")),
        }
        self.store.apply(&r);
        Ok(())
    }

    fn check(&self) -> Result<(), String> {
        check_store(&self.cfg, &self.store)?;
        let per = u64::from(self.cfg.params.checkpoint_window) * u64::from(self.cfg.params.checkpoint_size);
        let mut total = 0u64;
        for (msn, b) in self.r.buffered(&self.store) {
            if b > per {
                return Err(format!("msn {msn}: {b} bytes buffered beyond the durable prefix, bound {per}"));
            }
            total += b;
        }
        let bound = per * u64::from(self.cfg.params.msg_window);
        if total > bound {
            return Err(format!("{total} bytes buffered in all, bound {bound}"));
        }
        Ok(())
    }

    fn op(&mut self, op: Op) -> Result<(), String> {
        match op {
            Op::Segment { msn, offset, len } => {
                let d = self.segment(u64::from(msn) % MESSAGES as u64, offset.into(), len.into());
                self.data(&d)
            }
            Op::Conflicting { msn, offset, len, xor } => {
                let mut d = self.segment(u64::from(msn) % MESSAGES as u64, offset.into(), len.into());
                d.bytes = d.bytes.iter().map(|b| b ^ xor.max(1)).collect();
                self.tainted.insert(d.msn);
                self.data(&d)
            }
            Op::Arbitrary(mut d) => {
                d.msn %= MESSAGES as u64;
                d.offset %= 1 << 20;
                if d.offset == 0 {
                    let f = d.first.get_or_insert(FirstSegment {
                        total_len: d.bytes.len() as u64,
                        priority: Priority::Normal,
                        app_id: d.msn,
                    });
                    f.total_len = f.total_len.max(d.bytes.len() as u64);
                    d.fin = f.total_len == d.bytes.len() as u64;
                } else {
                    d.first = None;
                }
                self.tainted.insert(d.msn);
                self.data(&d)
            }
            Op::Cancel { msn } => {
                let msn = u64::from(msn) % MESSAGES as u64;
                let r = self.r.on_cancel(&self.cfg, &self.store, msn);
                self.apply(r.into_iter().collect())
            }
            Op::NewAssociation => {
                self.r.on_association_up();
                Ok(())
            }
            Op::Restart => {
                self.r = Reassembler::default();
                Ok(())
            }
        }
    }

    /// Sends every message in order, in checkpoint-size pieces from its durable prefix,
    /// up to the first tainted one; each must end resolved.
    fn sweep(&mut self) -> Result<(), String> {
        let piece = u64::from(self.cfg.params.checkpoint_size);
        for msn in 0..MESSAGES as u64 {
            if self.tainted.contains(&msn) {
                return Ok(());
            }
            let total = self.lens[msn as usize];
            let mut at = match self.store.inbound.get(&msn) {
                Some(StoredInbound::Partial { bytes, .. }) => bytes.len() as u64,
                _ => 0,
            };
            loop {
                if self.resolved.contains_key(&msn) {
                    break;
                }
                let d = self.segment(msn, at, piece);
                self.data(&d)?;
                self.check()?;
                if d.fin {
                    break;
                }
                at += piece;
            }
            // An empty message, or one whose first segment was lost to a restart, gets its
            // first segment again.
            if !self.resolved.contains_key(&msn) {
                let d = self.segment(msn, 0, piece);
                self.data(&d)?;
            }
            if !self.resolved.contains_key(&msn) {
                return Err(format!("msn {msn} ({total} bytes) sent in full and in order, still unresolved"));
            }
        }
        Ok(())
    }
}

/// Runs one case; panics with a description on the first violated property.
pub fn run(case: Case) {
    let cfg = case.knobs.config(1);
    let max = cfg.max_message_len;
    let lens = case.lens.map(|l| u64::from(l) % (max + 64));
    let contents = (0..MESSAGES).map(|m| content(m as u64, lens[m] as usize)).collect();
    let mut h = Harness {
        cfg,
        lens,
        contents,
        r: Reassembler::default(),
        store: SessionStore::default(),
        tainted: BTreeSet::new(),
        resolved: BTreeMap::new(),
    };
    for (n, op) in case.ops.into_iter().take(MAX_OPS).enumerate() {
        let what = format!("{op:?}");
        if let Err(e) = h.op(op).and_then(|()| h.check()) {
            panic!("op {n} ({what}): {e}");
        }
    }
    if let Err(e) = h.sweep() {
        panic!("final in-order sweep: {e}");
    }
}
