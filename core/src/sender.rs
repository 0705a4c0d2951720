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
//! The sender keeps indexes over the store (per-priority queues of unsent messages, msn →
//! message, deadlines) so that every per-packet operation costs O(log n) in the queue
//! length, or O(W) in the window — never O(queue). They are derived from the store:
//! [`Sender::observe`] keeps them in step with every record, [`Sender::rebuild`] recreates
//! them after a restore.

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::vec::Vec;

use crate::config::Config;
use crate::message::{MessageId, NonDelivery, Outcome, Submission, SubmitError};
use crate::mutation::Mutation;
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

/// What the sender needs besides the store: progress and indexes over the store.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub(crate) struct Sender {
    progress: BTreeMap<MessageId, Progress>,
    /// Unsent (no msn), not cancelled messages per priority class, oldest first.
    unassigned: [BTreeSet<MessageId>; 3],
    /// Unresolved messages with an msn.
    assigned: BTreeMap<u64, MessageId>,
    /// Deadlines of messages not being cancelled.
    deadlines: BTreeSet<(Instant, MessageId)>,
    /// Transfer deadlines of sent messages not being cancelled.
    timeouts: BTreeSet<(Instant, MessageId)>,
    /// msns that may have bytes to send in this association.
    ready: BTreeSet<u64>,
    /// msns whose CANCEL is due in this association.
    cancels: BTreeSet<u64>,
}

/// An outcome to record and report.
pub(crate) type Finished = (MessageId, u64, Outcome);

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
            s.index(*id, m);
        }
        s
    }

    fn index(&mut self, id: MessageId, m: &StoredMessage) {
        match m.msn {
            Some(msn) => {
                self.assigned.insert(msn, id);
            }
            None if m.cancel.is_none() => {
                self.unassigned[m.priority as usize].insert(id);
            }
            None => {}
        }
        if m.cancel.is_none() {
            self.deadlines.insert((m.deadline, id));
        }
    }

    fn unindex(&mut self, id: MessageId, m: &StoredMessage) {
        if let Some(msn) = m.msn {
            self.assigned.remove(&msn);
            self.ready.remove(&msn);
            self.cancels.remove(&msn);
        }
        if let Some(t) = self.progress.get_mut(&id).and_then(|p| p.timeout_at.take()) {
            self.timeouts.remove(&(t, id));
        }
        self.unassigned[m.priority as usize].remove(&id);
        self.deadlines.remove(&(m.deadline, id));
    }

    /// Keeps the indexes in step with `record`; call it just before the store applies it.
    pub(crate) fn observe(&mut self, store: &SessionStore, record: &Record) {
        let (id, before) = match record {
            Record::Submitted { id, message } => {
                if id.0 >= store.next_id {
                    self.index(*id, message);
                }
                return;
            }
            Record::Assigned { id, .. }
            | Record::CancelRequested { id, .. }
            | Record::Finished { id, .. } => match store.outbound.get(id) {
                Some(m) => (*id, m),
                None => return,
            },
            _ => return,
        };
        self.unindex(id, before);
        let mut after = before.clone();
        match record {
            Record::Assigned { msn, .. } => {
                after.msn.get_or_insert(*msn);
                self.ready.insert(*msn);
            }
            Record::CancelRequested { reason, .. } => {
                after.cancel.get_or_insert(*reason);
                if let Some(msn) = after.msn {
                    self.cancels.insert(msn);
                }
            }
            _ => {
                self.progress.remove(&id);
                return; // Finished: gone
            }
        }
        self.index(id, &after);
    }

    /// A new association is up: every message resumes from the receiver's durable offset as
    /// last reported (the handshake's summary updates it at once); CANCELs are sent again.
    pub(crate) fn on_association_up(&mut self, cfg: &Config, store: &SessionStore) {
        let keep_own_offset = cfg.mutations.is_active(Mutation::ResumeFromOwnOffset);
        for p in self.progress.values_mut() {
            if !keep_own_offset {
                p.next = p.acked;
            }
            p.empty_sent = false;
        }
        self.ready.clear();
        self.cancels.clear();
        for (&msn, id) in &self.assigned {
            match store.outbound.get(id).map(|m| m.cancel.is_some()) {
                Some(true) => self.cancels.insert(msn),
                Some(false) => self.ready.insert(msn),
                None => false,
            };
        }
    }

    /// Whether any message is unresolved.
    pub(crate) fn has_work(store: &SessionStore) -> bool {
        !store.outbound.is_empty()
    }

    /// Every msn below this is resolved by the receiver's word: the smallest msn in doubt,
    /// or the next msn to assign when none is.
    pub(crate) fn resolved_below(&self, store: &SessionStore) -> u64 {
        self.assigned.keys().next().copied().unwrap_or(store.next_msn)
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
        for (&msn, &id) in self.assigned.range(..s.resolved_below) {
            if !s.resolved.iter().any(|e| e.msn == msn) {
                if let Some(m) = store.outbound.get(&id) {
                    done.push((id, m.app_id, Outcome::Delivered));
                }
            }
        }
        for e in &s.resolved {
            if let Some(m) = self.assigned.get(&e.msn).and_then(|id| store.outbound.get(id).map(|m| (*id, m)))
            {
                done.push((m.0, m.1.app_id, outcome_of(e.resolution, m.1.cancel)));
            }
        }
        for p in &s.partial {
            let Some(&id) = self.assigned.get(&p.msn) else { continue };
            let Some(m) = store.outbound.get(&id) else { continue };
            if p.durable > m.bytes.len() as u64 {
                return Err(AbortReason::ProtocolViolation);
            }
            let progress = self.progress.entry(id).or_default();
            if p.durable > progress.acked {
                progress.acked = p.durable;
                progress.next = progress.next.max(progress.acked);
                if m.cancel.is_none() {
                    self.ready.insert(p.msn); // the checkpoint window moved
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
        let found = self.assigned.get(&msn).and_then(|id| store.outbound.get(id).map(|m| (*id, m)));
        Ok(found.map(|(id, m)| (id, m.app_id, outcome_of(r, m.cancel))))
    }

    /// For each message with known progress: its id and the receiver's reported durable
    /// prefix (where a new association resumes it).
    pub(crate) fn resume_points(&self) -> impl Iterator<Item = (MessageId, u64)> + '_ {
        self.progress.iter().map(|(id, p)| (*id, p.acked))
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
            if m.msn.is_none() || cfg.mutations.is_active(Mutation::NdrInDoubtOnTimer) {
                done.push((id, m.app_id, Outcome::NonDelivered(NonDelivery::Expired)));
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
            .map(|(id, m)| (*id, m.app_id, Outcome::NonDelivered(NonDelivery::OpenFailed)))
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
        let ready: Vec<u64> = self.ready.iter().copied().collect();
        for msn in ready {
            if *budget <= DATA_OVERHEAD_FIRST {
                return records;
            }
            let Some(&id) = self.assigned.get(&msn) else { continue };
            let Some(m) = store.outbound.get(&id).filter(|m| m.cancel.is_none()) else { continue };
            self.send_bytes(cfg, msn, id, m, in_flight_limit, now, budget, frames);
        }
        let lowest_unresolved = self.assigned.keys().next().copied().unwrap_or(store.next_msn);
        let mut window_end = lowest_unresolved.saturating_add(u64::from(params.msg_window));
        if cfg.mutations.is_active(Mutation::MsgWindowExceeded) {
            window_end += 1;
        }
        let mut next_msn = store.next_msn;
        let mut taken: Vec<MessageId> = Vec::new();
        while next_msn < window_end && *budget > DATA_OVERHEAD_FIRST {
            let Some(id) = self.best_unassigned(cfg, store, now, &taken) else { break };
            taken.push(id);
            let Some(m) = store.outbound.get(&id) else { continue };
            records.push(Record::Assigned { id, msn: next_msn });
            self.ready.insert(next_msn);
            self.send_bytes(cfg, next_msn, id, m, in_flight_limit, now, budget, frames);
            next_msn += 1;
        }
        records
    }

    /// The unsent message to assign next: the best effective priority among the oldest
    /// unsent message of each class, skipping `taken`.
    fn best_unassigned(
        &self,
        cfg: &Config,
        store: &SessionStore,
        now: Instant,
        taken: &[MessageId],
    ) -> Option<MessageId> {
        let aging = cfg.aging_interval.as_micros().max(1);
        self.unassigned
            .iter()
            .filter_map(|q| q.iter().find(|id| !taken.contains(id)))
            .filter_map(|id| store.outbound.get(id).map(|m| (id, m)))
            .map(|(id, m)| {
                let steps = now.saturating_duration_since(m.submitted).as_micros() / aging;
                ((m.priority as u64).saturating_sub(steps), *id)
            })
            .min()
            .map(|(_, id)| id)
    }

    /// DATA frames for message `id` (msn `msn`) within its checkpoint window and the budget.
    #[allow(clippy::too_many_arguments)]
    fn send_bytes(
        &mut self,
        cfg: &Config,
        msn: u64,
        id: MessageId,
        m: &StoredMessage,
        in_flight_limit: u64,
        now: Instant,
        budget: &mut usize,
        frames: &mut Vec<Frame>,
    ) {
        let p = self.progress.entry(id).or_default();
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
            self.ready.remove(&msn); // back when the receiver's checkpoints open the window
        }
    }

    /// Whether a DATA or CANCEL frame queued for retransmission still matters.
    pub(crate) fn still_needed(&self, store: &SessionStore, frame: &Frame) -> bool {
        let live = |msn: &u64| self.assigned.get(msn).and_then(|id| store.outbound.get(id));
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
        for r in &records {
            apply(sender, store, r);
        }
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
