//! Persistence: records, the one fold that applies them, and the write barrier.
//!
//! The core never writes storage. It emits [`Output::Persist`](crate::Output::Persist) records
//! numbered 1, 2, 3, …; the driver makes them durable in order and reports
//! [`Input::Persisted`](crate::Input::Persisted) `{ upto }`. Every transmit and event queued
//! after a record is held back until that record is durable, so nothing the peer or the
//! application sees can depend on state a crash could lose.

use alloc::collections::VecDeque;

use crate::io::Output;

/// One durable fact. Records are idempotent and monotone: applying a record twice, or an
/// older record after a newer one, never moves state backwards.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Record {
    /// The session's epoch is at least this value.
    Epoch(u64),
}

/// The persistent state of one session: what survives crashes.
///
/// [`SessionStore::apply`] is the only way records change it — used by the core for its
/// volatile copy, by drivers' durable stores, and by the model.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct SessionStore {
    /// The highest epoch ever used or seen for this session.
    pub epoch: u64,
}

impl SessionStore {
    /// Folds one record into the state. Idempotent and monotone.
    pub fn apply(&mut self, record: &Record) {
        match record {
            Record::Epoch(e) => self.epoch = self.epoch.max(*e),
        }
    }
}

/// Outputs waiting for the driver, with the write barrier.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub(crate) struct Outbox {
    /// Records not yet handed to the driver, with their sequence numbers.
    records: VecDeque<(u64, Record)>,
    /// Other outputs, each with the record sequence number it must wait for.
    queue: VecDeque<(u64, Output)>,
    /// Sequence number of the last record issued (0: none).
    issued: u64,
    /// All records up to this sequence number are durable.
    durable: u64,
}

impl Outbox {
    /// Queues a record; everything queued after it waits until it is durable.
    pub(crate) fn persist(&mut self, record: Record) {
        self.issued += 1;
        self.records.push_back((self.issued, record));
    }

    /// Queues an output behind every record issued so far.
    pub(crate) fn push(&mut self, output: Output) {
        self.queue.push_back((self.issued, output));
    }

    /// The driver reports records up to `upto` durable. Claims beyond what was issued are
    /// clamped: a driver bug must not release outputs early.
    pub(crate) fn persisted(&mut self, upto: u64) {
        self.durable = self.durable.max(upto.min(self.issued));
    }

    /// Whether every issued record is durable.
    #[cfg(test)]
    pub(crate) fn all_durable(&self) -> bool {
        self.durable == self.issued
    }

    /// Next output: records first (they never wait), then the oldest output whose barrier
    /// is durable. Outputs leave in the order they were queued.
    pub(crate) fn pop(&mut self) -> Option<Output> {
        if let Some((seq, record)) = self.records.pop_front() {
            return Some(Output::Persist { seq, record });
        }
        match self.queue.front() {
            Some((barrier, _)) if *barrier <= self.durable => self.queue.pop_front().map(|(_, o)| o),
            _ => None,
        }
    }

    /// Treats every issued record as durable. Only the `AckBeforeFsync` mutation does this.
    pub(crate) fn assume_durable(&mut self) {
        self.durable = self.issued;
    }

    /// Number of outputs (including records) not yet drained.
    pub(crate) fn len(&self) -> usize {
        self.records.len() + self.queue.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::{BearerRequest, Output};

    #[test]
    fn apply_is_idempotent_and_monotone() {
        let mut s = SessionStore::default();
        s.apply(&Record::Epoch(5));
        s.apply(&Record::Epoch(3));
        s.apply(&Record::Epoch(5));
        assert_eq!(s.epoch, 5);
    }

    #[test]
    fn outputs_wait_for_the_records_before_them() {
        let mut o = Outbox::default();
        o.push(Output::Bearer(BearerRequest::Dial));
        o.persist(Record::Epoch(1));
        o.push(Output::Bearer(BearerRequest::HangUp));
        assert_eq!(o.pop(), Some(Output::Persist { seq: 1, record: Record::Epoch(1) }));
        assert_eq!(o.pop(), Some(Output::Bearer(BearerRequest::Dial)));
        assert_eq!(o.pop(), None, "held back until record 1 is durable");
        o.persisted(7);
        assert!(o.all_durable());
        assert_eq!(o.pop(), Some(Output::Bearer(BearerRequest::HangUp)));
        assert_eq!(o.pop(), None);
    }
}
