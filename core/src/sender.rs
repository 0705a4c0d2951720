//! The sending side of a session: per message QUEUED → IN-FLIGHT → DELIVERED or
//! NON-DELIVERED, with exactly one outcome each.
//!
//! | state | event | next | record |
//! |---|---|---|---|
//! | QUEUED (no msn) | first transmission | IN-FLIGHT | `Assigned` (before the DATA leaves) |
//! | QUEUED | expiry, cancel, open retries exhausted | NON-DELIVERED | `Finished` |
//! | IN-FLIGHT | receiver resolves it (summary, RESOLVED, REJECT) | DELIVERED / NON-DELIVERED | `Finished` |
//! | IN-FLIGHT | expiry, transfer timeout, cancel | IN-FLIGHT, cancelling | `CancelRequested` |
//! | cancelling | receiver resolves it either way | DELIVERED / NON-DELIVERED | `Finished` |
//!
//! An in-flight message is in doubt — the receiver may have taken custody — so it is never
//! given up unilaterally: only the receiver's word resolves it.
//!
//! The sender keeps indexes over the store — one entry per message in flight, in msn order
//! (a ring: msns are assigned in increasing order and resolved mostly in order), the unsent
//! messages per priority class in submission order, and the deadlines — so that every
//! per-packet operation costs O(1) or O(log n) in the queue length, or O(W) in the window,
//! never O(queue). They are derived from the store: [`Sender::observe`] updates exactly the
//! entries a record touches, [`Sender::rebuild`] recreates them after a restore.

use alloc::collections::{BTreeSet, VecDeque};
use alloc::vec::Vec;

use crate::config::Config;
use crate::message::{MessageId, NonDelivery, Outcome, Submission, SubmitError};
use crate::persist::{Record, SessionStore, StoredMessage};
use crate::time::Instant;
use crate::wire::{AbortReason, DataFrame, FirstSegment, Frame, Params, Resolution, Summary};

/// Bytes a DATA frame needs besides its payload (first segment / later segment).
const DATA_OVERHEAD_FIRST: usize = 39;
const DATA_OVERHEAD: usize = 22;
/// Bytes of a CANCEL frame.
const CANCEL_LEN: usize = 9;

/// Per-association transfer progress of one message.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
struct Progress {
    /// Next byte offset to send in this association.
    next: u64,
    /// The receiver's durable prefix, as reported (only grows).
    acked: u64,
    /// The one segment of an empty message went out in this association.
    empty_sent: bool,
    /// When the first byte was first sent (transfer timeout).
    first_sent: Option<Instant>,
    /// The transfer deadline derived from `first_sent`, as indexed in `timeouts`.
    timeout_at: Option<Instant>,
}

/// A message with an msn that is not resolved yet (in doubt).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct InFlight {
    msn: u64,
    id: MessageId,
    /// It may have bytes to send in this association.
    ready: bool,
    /// Its transfer progress, once it has any in this session.
    progress: Option<Progress>,
}

/// What the sender needs besides the store: progress and indexes over the store.
///
/// Invariants: `assigned` is sorted by msn and holds exactly the store's unresolved
/// messages that have an msn; `unassigned[c]` is sorted by id and holds exactly the unsent,
/// not cancelled messages of class `c`; `cancels` ⊆ msns in `assigned`; `ready` counts the
/// ready entries of `assigned`. Every collection is
/// a function of what it holds (no cursor or capacity shows in `Eq`/`Hash`), so equal
/// logical states compare equal for the model checker.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub(crate) struct Sender {
    /// Unresolved messages with an msn, by msn.
    assigned: VecDeque<InFlight>,
    /// Unsent (no msn), not cancelled messages per priority class, oldest first.
    unassigned: [VecDeque<MessageId>; 3],
    /// Deadlines of messages not being cancelled.
    deadlines: BTreeSet<(Instant, MessageId)>,
    /// Transfer deadlines of sent messages not being cancelled.
    timeouts: BTreeSet<(Instant, MessageId)>,
    /// msns whose CANCEL is due in this association.
    cancels: BTreeSet<u64>,
    /// How many entries of `assigned` are `ready` (so `fill` skips the scan when none is).
    ready: usize,
}

/// An outcome to record (`Record::Finished`) and report (`Event::Outcome`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Finished {
    /// The message.
    pub(crate) id: MessageId,
    /// The application's id for it.
    pub(crate) app_id: u64,
    /// What happened to it.
    pub(crate) outcome: Outcome,
}

impl Sender {
    /// Validates a submission and returns the message's id and what the `Submitted` record
    /// that takes custody of it holds.
    ///
    /// A message holds its place in the queue (`max_queued_messages`) until the application
    /// has acknowledged its outcome.
    pub(crate) fn submit(
        cfg: &Config,
        store: &SessionStore,
        now: Instant,
        s: Submission,
    ) -> Result<(MessageId, StoredMessage), SubmitError> {
        if store.outbound.len().saturating_add(store.outcomes.len()) >= cfg.max_queued_messages as usize {
            return Err(SubmitError::QueueFull { limit: cfg.max_queued_messages });
        }
        let len = s.bytes.len() as u64;
        if len > cfg.max_message_len {
            return Err(SubmitError::TooLarge { len, max: cfg.max_message_len });
        }
        let queued = store.queued_bytes;
        if queued.saturating_add(len) > cfg.max_queued_bytes {
            return Err(SubmitError::QueueBytesFull { queued, limit: cfg.max_queued_bytes });
        }
        let expiry = now + cfg.expiry[s.priority as usize];
        let deadline = match s.deadline {
            Some(d) if d <= now => return Err(SubmitError::DeadlineInPast),
            Some(d) => d.min(expiry),
            None => expiry,
        };
        let message = StoredMessage {
            app_id: s.app_id,
            priority: s.priority,
            submitted: now,
            deadline,
            bytes: s.bytes,
            msn: None,
            cancel: None,
        };
        Ok((MessageId(store.next_id), message))
    }

    /// Recreates the indexes from a restored store.
    pub(crate) fn rebuild(store: &SessionStore) -> Sender {
        let mut s = Sender::default();
        for (id, m) in &store.outbound {
            match m.msn {
                Some(msn) => s.assigned.push_back(InFlight { msn, id: *id, ready: false, progress: None }),
                None if m.cancel.is_none() => s.unassigned[m.priority as usize].push_back(*id),
                None => {}
            }
            if m.cancel.is_none() {
                s.deadlines.insert((m.deadline, *id));
            }
        }
        s.assigned.make_contiguous().sort_unstable_by_key(|e| e.msn);
        s
    }

    /// Marks the entry at position `i` ready or not, keeping the count.
    fn set_ready(&mut self, i: usize, ready: bool) {
        let e = &mut self.assigned[i];
        if e.ready != ready {
            e.ready = ready;
            if ready {
                self.ready += 1;
            } else {
                self.ready -= 1;
            }
        }
    }

    /// The position of `msn` in `assigned`.
    fn find(&self, msn: u64) -> Option<usize> {
        self.assigned.binary_search_by_key(&msn, |e| e.msn).ok()
    }

    /// The in-flight entry of `msn`.
    fn entry(&self, msn: u64) -> Option<&InFlight> {
        self.find(msn).map(|i| &self.assigned[i])
    }

    /// Removes `id` from its class's unsent queue, if there.
    fn remove_unassigned(&mut self, id: MessageId, m: &StoredMessage) {
        let q = &mut self.unassigned[m.priority as usize];
        if q.front() == Some(&id) {
            q.pop_front();
        } else if let Ok(i) = q.binary_search(&id) {
            q.remove(i);
        }
    }

    /// Keeps the indexes in step with `record`; call it just before the store applies it.
    /// Touches only the entries of the record's message.
    pub(crate) fn observe(&mut self, store: &SessionStore, record: &Record) {
        match record {
            // Only a submission the store takes (see `SessionStore::apply`).
            Record::Submitted { id, message } if id.0 >= store.next_id && id.0 < u64::MAX => {
                if message.msn.is_none() && message.cancel.is_none() {
                    // Ids grow: the back of its class.
                    self.unassigned[message.priority as usize].push_back(*id);
                } else if let Some(msn) = message.msn {
                    self.insert_in_flight(msn, *id);
                }
                if message.cancel.is_none() {
                    self.deadlines.insert((message.deadline, *id));
                }
            }
            Record::Assigned { id, msn } => {
                let Some(m) = store.outbound.get(id) else { return };
                if m.msn.is_some() {
                    return; // the first assignment stands
                }
                self.remove_unassigned(*id, m);
                let i = self.insert_in_flight(*msn, *id);
                self.set_ready(i, true);
                let e = &mut self.assigned[i];
                // Kept as it was (the model's state counts pin it): the `Assigned` record
                // disarms the transfer timeout its first DATA armed, so in practice only
                // the expiry gives up on a sent message. Reported on issue #16.
                if let Some(t) = e.progress.as_mut().and_then(|p| p.timeout_at.take()) {
                    self.timeouts.remove(&(t, *id));
                }
            }
            Record::CancelRequested { id, reason: _ } => {
                let Some(m) = store.outbound.get(id) else { return };
                if m.cancel.is_some() {
                    return; // the first reason stands
                }
                self.remove_unassigned(*id, m);
                self.deadlines.remove(&(m.deadline, *id));
                if let Some(i) = m.msn.and_then(|msn| self.find(msn)) {
                    self.set_ready(i, false);
                    let e = &mut self.assigned[i];
                    if let Some(t) = e.progress.as_mut().and_then(|p| p.timeout_at.take()) {
                        self.timeouts.remove(&(t, *id));
                    }
                    self.cancels.insert(e.msn);
                }
            }
            Record::Finished { id, .. } => {
                let Some(m) = store.outbound.get(id) else { return };
                self.remove_unassigned(*id, m);
                self.deadlines.remove(&(m.deadline, *id));
                if let Some(msn) = m.msn {
                    self.cancels.remove(&msn);
                    if let Some(i) = self.find(msn) {
                        self.set_ready(i, false);
                        let e = if i == 0 { self.assigned.pop_front() } else { self.assigned.remove(i) };
                        if let Some(t) = e.and_then(|e| e.progress).and_then(|p| p.timeout_at) {
                            self.timeouts.remove(&(t, *id));
                        }
                    }
                }
            }
            _ => {}
        }
    }

    /// The entry of `msn` for message `id`, added in msn order if new; returns its position.
    fn insert_in_flight(&mut self, msn: u64, id: MessageId) -> usize {
        match self.assigned.back() {
            Some(last) if last.msn == msn => self.assigned.len() - 1,
            Some(last) if last.msn > msn => match self.assigned.binary_search_by_key(&msn, |e| e.msn) {
                Ok(i) => i,
                Err(i) => {
                    self.assigned.insert(i, InFlight { msn, id, ready: false, progress: None });
                    i
                }
            },
            _ => {
                self.assigned.push_back(InFlight { msn, id, ready: false, progress: None });
                self.assigned.len() - 1
            }
        }
    }

    /// A new association is up: every message resumes from the receiver's durable offset as
    /// last reported (the handshake's summary updates it at once); CANCELs are sent again.
    pub(crate) fn on_association_up(&mut self, cfg: &Config, store: &SessionStore) {
        let keep_own_offset = mutated!(cfg, ResumeFromOwnOffset);
        self.cancels.clear();
        self.ready = 0;
        for e in &mut self.assigned {
            if let Some(p) = e.progress.as_mut() {
                if !keep_own_offset {
                    p.next = p.acked;
                }
                p.empty_sent = false;
            }
            e.ready = false;
            match store.outbound.get(&e.id).map(|m| m.cancel.is_some()) {
                Some(true) => {
                    self.cancels.insert(e.msn);
                }
                Some(false) => {
                    e.ready = true;
                    self.ready += 1;
                }
                None => {}
            }
        }
    }

    /// Whether any message is unresolved.
    pub(crate) fn has_work(store: &SessionStore) -> bool {
        !store.outbound.is_empty()
    }

    /// Every msn below this is resolved by the receiver's word: the smallest msn in doubt,
    /// or the next msn to assign when none is.
    pub(crate) fn resolved_below(&self, store: &SessionStore) -> u64 {
        self.assigned.front().map_or(store.next_msn, |e| e.msn)
    }

    /// Whether a message was sent and is unresolved (in doubt).
    pub(crate) fn has_in_doubt(&self) -> bool {
        !self.assigned.is_empty()
    }

    /// Applies the receiver's summary. Returns the outcomes it settles, or the reason to
    /// abort if it claims something impossible (a msn never sent, an offset past the end).
    pub(crate) fn on_summary(
        &mut self,
        store: &SessionStore,
        s: &Summary,
    ) -> Result<Vec<Finished>, AbortReason> {
        if s.resolved_below > store.next_msn
            || s.resolved.iter().any(|e| e.msn >= store.next_msn)
            || s.partial.iter().any(|e| e.msn >= store.next_msn)
        {
            return Err(AbortReason::ProtocolViolation);
        }
        let mut done = Vec::new();
        // Below the watermark, an unlisted msn was delivered.
        for &InFlight { msn, id, .. } in self.assigned.iter().take_while(|e| e.msn < s.resolved_below) {
            if !s.resolved.iter().any(|e| e.msn == msn) {
                if let Some(m) = store.outbound.get(&id) {
                    done.push(Finished { id, app_id: m.app_id, outcome: Outcome::Delivered });
                }
            }
        }
        for e in &s.resolved {
            if let Some(m) = self.entry(e.msn).and_then(|f| store.outbound.get(&f.id).map(|m| (f.id, m))) {
                done.push(Finished {
                    id: m.0,
                    app_id: m.1.app_id,
                    outcome: outcome_of(e.resolution, m.1.cancel),
                });
            }
        }
        for p in &s.partial {
            let Some(i) = self.find(p.msn) else { continue };
            let Some(m) = store.outbound.get(&self.assigned[i].id) else { continue };
            let e = &mut self.assigned[i];
            if p.durable > m.bytes.len() as u64 {
                return Err(AbortReason::ProtocolViolation);
            }
            let progress = e.progress.get_or_insert_with(Progress::default);
            if p.durable > progress.acked {
                progress.acked = p.durable;
                progress.next = progress.next.max(progress.acked);
                if m.cancel.is_none() {
                    self.set_ready(i, true); // the checkpoint window moved
                }
            }
        }
        Ok(done)
    }

    /// A RESOLVED or REJECT frame: the receiver's final word on one msn.
    pub(crate) fn on_resolution(
        &self,
        store: &SessionStore,
        msn: u64,
        r: Resolution,
    ) -> Result<Option<Finished>, AbortReason> {
        if msn >= store.next_msn {
            return Err(AbortReason::ProtocolViolation);
        }
        let found = self.entry(msn).and_then(|e| store.outbound.get(&e.id).map(|m| (e.id, m)));
        Ok(found.map(|(id, m)| Finished { id, app_id: m.app_id, outcome: outcome_of(r, m.cancel) }))
    }

    /// For each message with known progress: its id and the receiver's reported durable
    /// prefix (where a new association resumes it).
    pub(crate) fn resume_points(&self) -> impl Iterator<Item = (MessageId, u64)> + '_ {
        self.assigned.iter().filter_map(|e| e.progress.as_ref().map(|p| (e.id, p.acked)))
    }

    /// The earliest instant at which some message expires or times out, if any.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        let expiry = self.deadlines.first().map(|(d, _)| *d);
        let transfer = self.timeouts.first().map(|(d, _)| *d);
        match (expiry, transfer) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The expiry timer fired for `at` (trusted: the clock is not consulted). Never-sent
    /// messages due by `at` become non-delivered; sent ones start cancelling.
    pub(crate) fn expire(
        &self,
        cfg: &Config,
        store: &SessionStore,
        at: Instant,
    ) -> (Vec<Record>, Vec<Finished>) {
        let (mut records, mut done) = (Vec::new(), Vec::new());
        let due_in = |set: &BTreeSet<(Instant, MessageId)>| {
            set.iter().take_while(|(d, _)| *d <= at).map(|(_, id)| *id).collect::<Vec<_>>()
        };
        let due: BTreeSet<MessageId> =
            due_in(&self.deadlines).into_iter().chain(due_in(&self.timeouts)).collect();
        for id in due {
            let Some(m) = store.outbound.get(&id).filter(|m| m.cancel.is_none()) else { continue };
            if m.msn.is_none() || mutated!(cfg, NdrInDoubtOnTimer) {
                done.push(Finished {
                    id,
                    app_id: m.app_id,
                    outcome: Outcome::NonDelivered(NonDelivery::Expired),
                });
            } else {
                records.push(Record::CancelRequested { id, reason: NonDelivery::Expired });
            }
        }
        (records, done)
    }

    /// Opening failed for good: messages never sent become non-delivered (in-doubt ones
    /// stay, to be reconciled with the receiver later).
    pub(crate) fn open_failed(store: &SessionStore) -> Vec<Finished> {
        store
            .outbound
            .iter()
            .filter(|(_, m)| m.msn.is_none())
            .map(|(id, m)| Finished {
                id: *id,
                app_id: m.app_id,
                outcome: Outcome::NonDelivered(NonDelivery::OpenFailed),
            })
            .collect()
    }

    /// Fills a packet: CANCELs first, then DATA of in-flight messages in msn order, then new
    /// messages by effective priority (aging promotes one class per `aging_interval`
    /// waited), within the message window and each message's checkpoint window. Returns the
    /// records the frames depend on (msn assignments), which the caller must persist before
    /// queueing the packet.
    pub(crate) fn fill(
        &mut self,
        cfg: &Config,
        store: &SessionStore,
        params: &Params,
        now: Instant,
        budget: &mut usize,
        frames: &mut Vec<Frame>,
    ) -> Vec<Record> {
        let mut records = Vec::new();
        while *budget >= CANCEL_LEN {
            let Some(msn) = self.cancels.pop_first() else { break };
            frames.push(Frame::Cancel { msn });
            *budget -= CANCEL_LEN;
        }
        let in_flight_limit = u64::from(params.checkpoint_window) * u64::from(params.checkpoint_size);
        let mut i = 0;
        let mut left = self.ready;
        while left > 0 && i < self.assigned.len() {
            if *budget <= DATA_OVERHEAD_FIRST {
                return records;
            }
            i += 1;
            if !self.assigned[i - 1].ready {
                continue;
            }
            left -= 1;
            let i = i - 1;
            let Some(m) = store.outbound.get(&self.assigned[i].id).filter(|m| m.cancel.is_none()) else {
                continue;
            };
            self.send_bytes(cfg, i, m, in_flight_limit, now, budget, frames);
        }
        let lowest_unresolved = self.resolved_below(store);
        let mut window_end = lowest_unresolved.saturating_add(u64::from(params.msg_window));
        if mutated!(cfg, MsgWindowExceeded) {
            window_end += 1;
        }
        let mut next_msn = store.next_msn;
        while next_msn < window_end && *budget > DATA_OVERHEAD_FIRST {
            let Some((class, id)) = self.best_unassigned(cfg, store, now) else { break };
            // Taken now; the `Assigned` record the caller persists before the packet leaves
            // finds the entry made here.
            self.unassigned[class].pop_front();
            let Some(m) = store.outbound.get(&id) else { continue };
            records.push(Record::Assigned { id, msn: next_msn });
            let i = self.insert_in_flight(next_msn, id);
            self.set_ready(i, true);
            self.send_bytes(cfg, i, m, in_flight_limit, now, budget, frames);
            next_msn += 1;
        }
        records
    }

    /// The unsent message to assign next and its class: the best effective priority among
    /// the oldest unsent message of each class.
    fn best_unassigned(
        &self,
        cfg: &Config,
        store: &SessionStore,
        now: Instant,
    ) -> Option<(usize, MessageId)> {
        let aging = cfg.aging_interval.as_micros().max(1);
        self.unassigned
            .iter()
            .enumerate()
            .filter_map(|(class, q)| q.front().map(|id| (class, id)))
            .filter_map(|(class, id)| store.outbound.get(id).map(|m| (class, id, m)))
            .map(|(class, id, m)| {
                let steps = now.saturating_duration_since(m.submitted).as_micros() / aging;
                ((m.priority as u64).saturating_sub(steps), *id, class)
            })
            .min()
            .map(|(_, id, class)| (class, id))
    }

    /// DATA frames for the in-flight message at position `i` (stored as `m`) within its
    /// checkpoint window and the budget.
    #[allow(clippy::too_many_arguments)]
    fn send_bytes(
        &mut self,
        cfg: &Config,
        i: usize,
        m: &StoredMessage,
        in_flight_limit: u64,
        now: Instant,
        budget: &mut usize,
        frames: &mut Vec<Frame>,
    ) {
        let e = &mut self.assigned[i];
        let (msn, id) = (e.msn, e.id);
        let p = e.progress.get_or_insert_with(Progress::default);
        let total = m.bytes.len() as u64;
        let limit = total.min(p.acked.saturating_add(in_flight_limit));
        // An empty message still needs its one (empty, final) segment.
        while (p.next < limit || (total == 0 && !p.empty_sent)) && *budget > DATA_OVERHEAD_FIRST {
            let overhead = if p.next == 0 { DATA_OVERHEAD_FIRST } else { DATA_OVERHEAD };
            let room = (*budget - overhead) as u64;
            let len = (limit - p.next).min(room);
            if len == 0 && total != 0 {
                break;
            }
            let start = p.next as usize;
            let bytes = m.bytes.slice(start..start + len as usize);
            let first = (p.next == 0).then_some(FirstSegment {
                total_len: total,
                priority: m.priority,
                app_id: m.app_id,
            });
            frames.push(Frame::Data(DataFrame {
                msn,
                offset: p.next,
                fin: p.next + len == total,
                first,
                bytes,
            }));
            *budget -= overhead + len as usize;
            p.next += len;
            p.empty_sent = true;
            if p.first_sent.is_none() {
                p.first_sent = Some(now);
                let kib = total.div_ceil(1024).max(1);
                let at = now + cfg.transfer_timeout_per_kib[m.priority as usize].saturating_mul(kib);
                p.timeout_at = Some(at);
                self.timeouts.insert((at, id));
            }
        }
        if p.next >= limit && (total > 0 || p.empty_sent) {
            self.set_ready(i, false); // back when the receiver's checkpoints open the window
        }
    }

    /// Whether a DATA or CANCEL frame queued for retransmission still matters.
    pub(crate) fn still_needed(&self, store: &SessionStore, frame: &Frame) -> bool {
        let live = |msn: &u64| self.entry(*msn).and_then(|e| store.outbound.get(&e.id));
        match frame {
            Frame::Data(d) => live(&d.msn).is_some_and(|m| m.cancel.is_none()),
            Frame::Cancel { msn } => live(msn).is_some(),
            _ => true,
        }
    }
}

/// The outcome a receiver's resolution means for the sender.
fn outcome_of(r: Resolution, cancel: Option<NonDelivery>) -> Outcome {
    match r {
        Resolution::Delivered => Outcome::Delivered,
        Resolution::Cancelled => Outcome::NonDelivered(cancel.unwrap_or(NonDelivery::Cancelled)),
        Resolution::Rejected(reason) => Outcome::NonDelivered(NonDelivery::Rejected(reason)),
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::crypto::Psk;
    use crate::message::Submission;
    use crate::wire::{PeerName, Priority};

    fn cfg() -> Config {
        Config::new(
            PeerName::new(b"alpha").unwrap(),
            PeerName::new(b"beta").unwrap(),
            Psk::new(&[7u8; 16]).unwrap(),
        )
    }

    fn params(checkpoint_window: u16, checkpoint_size: u32) -> Params {
        Params { max_datagram: 1200, msg_window: 64, checkpoint_size, checkpoint_window }
    }

    /// A sender and store holding `sizes.len()` submitted messages of these sizes.
    fn queued(cfg: &Config, sizes: &[usize]) -> (Sender, SessionStore) {
        let (mut sender, mut store) = (Sender::default(), SessionStore::default());
        for (i, &len) in sizes.iter().enumerate() {
            let s = Submission {
                app_id: i as u64,
                priority: Priority::Normal,
                deadline: None,
                bytes: Bytes::from(alloc::vec![0xA5; len]),
            };
            let (id, message) = Sender::submit(cfg, &store, Instant::ZERO, s).unwrap();
            let record = Record::Submitted { id, message };
            apply(&mut sender, &mut store, &record);
        }
        (sender, store)
    }

    fn apply(sender: &mut Sender, store: &mut SessionStore, record: &Record) {
        sender.observe(store, record);
        store.apply(record);
        assert_indexes_match(sender, store);
    }

    /// The invariants written above `Sender`, against the store as the oracle.
    fn assert_indexes_match(sender: &Sender, store: &SessionStore) {
        let in_flight: Vec<(u64, MessageId)> =
            store.outbound.iter().filter_map(|(id, m)| m.msn.map(|msn| (msn, *id))).collect();
        let mut sorted = in_flight.clone();
        sorted.sort_unstable();
        let indexed: Vec<(u64, MessageId)> = sender.assigned.iter().map(|e| (e.msn, e.id)).collect();
        assert_eq!(indexed, sorted, "assigned = the store's messages with an msn, by msn");
        for class in 0..3 {
            let unsent: Vec<MessageId> = store
                .outbound
                .iter()
                .filter(|(_, m)| m.msn.is_none() && m.cancel.is_none() && m.priority as usize == class)
                .map(|(id, _)| *id)
                .collect();
            assert!(sender.unassigned[class].iter().eq(unsent.iter()), "unassigned[{class}]");
        }
        assert_eq!(sender.ready, sender.assigned.iter().filter(|e| e.ready).count(), "ready count");
        assert!(sender.cancels.iter().all(|msn| sender.entry(*msn).is_some()), "cancels ⊆ assigned");
        let rebuilt = Sender::rebuild(store);
        assert_eq!(rebuilt.unassigned, sender.unassigned, "rebuild agrees on the unsent queues");
        assert_eq!(rebuilt.deadlines, sender.deadlines, "rebuild agrees on the deadlines");
    }

    /// One `fill` with `budget` bytes; the store takes the records it returns.
    fn fill(
        sender: &mut Sender,
        store: &mut SessionStore,
        p: &Params,
        budget: usize,
    ) -> (Vec<Frame>, usize, usize) {
        let (mut budget, mut frames) = (budget, Vec::new());
        let records = sender.fill(&cfg(), store, p, Instant::ZERO, &mut budget, &mut frames);
        // `fill` indexes what it assigns before the records are applied: the invariants hold
        // again once they all are.
        for r in &records {
            sender.observe(store, r);
            store.apply(r);
        }
        assert_indexes_match(sender, store);
        (frames, budget, records.len())
    }

    fn data_bytes(frames: &[Frame]) -> u64 {
        frames.iter().map(|f| if let Frame::Data(d) = f { d.bytes.len() as u64 } else { 0 }).sum()
    }

    #[test]
    fn cancels_fill_the_budget_exactly() {
        let cfg = cfg();
        let p = params(8, 1024);
        let (mut sender, mut store) = queued(&cfg, &[8; 5]);
        let (frames, _, assigned) = fill(&mut sender, &mut store, &p, 10_000);
        assert_eq!((frames.len(), assigned), (5, 5), "each message goes out whole");
        for id in store.outbound.keys().copied().collect::<Vec<_>>() {
            apply(&mut sender, &mut store, &Record::CancelRequested { id, reason: NonDelivery::Cancelled });
        }
        // Room for three CANCELs and four spare bytes: three go out, the budget keeps 4.
        let (frames, left, _) = fill(&mut sender, &mut store, &p, 3 * CANCEL_LEN + 4);
        assert_eq!(frames, (0..3).map(|msn| Frame::Cancel { msn }).collect::<Vec<_>>());
        assert_eq!(left, 4);
        let (frames, left, _) = fill(&mut sender, &mut store, &p, 10_000);
        assert_eq!(frames, (3..5).map(|msn| Frame::Cancel { msn }).collect::<Vec<_>>());
        assert_eq!(left, 10_000 - 2 * CANCEL_LEN);
    }

    #[test]
    fn in_flight_bytes_stop_at_the_checkpoint_window() {
        let cfg = cfg();
        let p = params(2, 1024); // 2 × 1024 bytes may be unacknowledged
        let (mut sender, mut store) = queued(&cfg, &[10_000]);
        let (frames, _, _) = fill(&mut sender, &mut store, &p, 100_000);
        assert_eq!(data_bytes(&frames), 2048);
        let (frames, _, _) = fill(&mut sender, &mut store, &p, 100_000);
        assert!(frames.is_empty(), "nothing more until a checkpoint is acknowledged: {frames:?}");
    }

    #[test]
    fn a_budget_of_exactly_the_first_segment_overhead_assigns_nothing() {
        let cfg = cfg();
        let p = params(8, 1024);
        let (mut sender, mut store) = queued(&cfg, &[8]);
        let (frames, left, assigned) = fill(&mut sender, &mut store, &p, DATA_OVERHEAD_FIRST);
        assert_eq!((frames.len(), left, assigned, store.next_msn), (0, DATA_OVERHEAD_FIRST, 0, 0));
        let (frames, _, assigned) = fill(&mut sender, &mut store, &p, DATA_OVERHEAD_FIRST + 8);
        assert_eq!((data_bytes(&frames), assigned, store.next_msn), (8, 1, 1));
    }

    fn submit_at(
        sender: &mut Sender,
        store: &mut SessionStore,
        at: Instant,
        priority: Priority,
        len: usize,
    ) -> MessageId {
        let s = Submission { app_id: 0, priority, deadline: None, bytes: Bytes::from(alloc::vec![1; len]) };
        let (id, message) = Sender::submit(&cfg(), store, at, s).unwrap();
        apply(sender, store, &Record::Submitted { id, message });
        id
    }

    /// Waiting promotes a message one class per `aging_interval` waited, no faster: one
    /// second in, an older non-urgent message still goes after a new urgent one; after two
    /// intervals it has caught up and, being older, goes first.
    #[test]
    fn aging_promotes_one_class_per_interval() {
        let p = params(8, 1024);
        let aging = cfg().aging_interval;
        for (wait, want_first) in [
            (crate::time::Duration::from_secs(1), Priority::Urgent),
            (aging.saturating_mul(2), Priority::NonUrgent),
        ] {
            let (mut sender, mut store) = (Sender::default(), SessionStore::default());
            let old = submit_at(&mut sender, &mut store, Instant::ZERO, Priority::NonUrgent, 8);
            let new = submit_at(&mut sender, &mut store, Instant::ZERO + wait, Priority::Urgent, 8);
            let (mut budget, mut frames) = (10_000, Vec::new());
            let records = sender.fill(&cfg(), &store, &p, Instant::ZERO + wait, &mut budget, &mut frames);
            let order: Vec<MessageId> = records
                .iter()
                .filter_map(|r| if let Record::Assigned { id, .. } = r { Some(*id) } else { None })
                .collect();
            let first = if want_first == Priority::Urgent { new } else { old };
            assert_eq!(order.first(), Some(&first), "after {wait:?}: {order:?}");
        }
    }

    /// An empty message is one empty, final first segment — exactly one.
    #[test]
    fn an_empty_message_is_sent_as_one_empty_segment() {
        let p = params(8, 1024);
        let (mut sender, mut store) = (Sender::default(), SessionStore::default());
        submit_at(&mut sender, &mut store, Instant::ZERO, Priority::Normal, 0);
        let (frames, _, _) = fill(&mut sender, &mut store, &p, 10_000);
        assert_eq!(frames.len(), 1, "{frames:?}");
        assert!(matches!(&frames[0], Frame::Data(d) if d.fin && d.bytes.is_empty() && d.first.is_some()));
        let (frames, _, _) = fill(&mut sender, &mut store, &p, 10_000);
        assert!(frames.is_empty());
    }

    /// A queued retransmission is dropped once it no longer matters: DATA once its message
    /// is being cancelled or resolved, CANCEL once resolved; other frames always go.
    #[test]
    fn retransmissions_are_needed_only_while_their_message_is_live() {
        let p = params(8, 1024);
        let (mut sender, mut store) = queued(&cfg(), &[8]);
        let (frames, _, _) = fill(&mut sender, &mut store, &p, 10_000);
        let data = frames[0].clone();
        let cancel = Frame::Cancel { msn: 0 };
        assert!(sender.still_needed(&store, &data) && sender.still_needed(&store, &cancel));
        assert!(sender.still_needed(&store, &Frame::Ping));
        let id = *store.outbound.keys().next().unwrap();
        apply(&mut sender, &mut store, &Record::CancelRequested { id, reason: NonDelivery::Cancelled });
        assert!(!sender.still_needed(&store, &data), "no more DATA for a message being cancelled");
        assert!(sender.still_needed(&store, &cancel));
        apply(
            &mut sender,
            &mut store,
            &Record::Finished { id, outcome: Outcome::NonDelivered(NonDelivery::Cancelled) },
        );
        assert!(!sender.still_needed(&store, &cancel), "resolved: the CANCEL is moot");
        assert!(!sender.still_needed(&store, &data));
    }
}
