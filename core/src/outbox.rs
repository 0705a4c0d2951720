//! The output queue and its write barrier.
//!
//! Every transmit and event queued after a record is held back until that record is
//! durable ([`Input::Persisted`](crate::Input::Persisted)), so nothing the peer or the
//! application sees can depend on state a crash could lose. Records themselves leave first
//! and never wait.

use alloc::collections::VecDeque;

use crate::output::Output;
use crate::persist::Record;

/// Outputs waiting for the driver, with the write barrier.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub(crate) struct Outbox {
    /// Records not yet handed to the driver, with their sequence numbers.
    records: VecDeque<(u64, Record)>,
    /// Other outputs, each with the record sequence number it must wait for.
    queue: VecDeque<(u64, Output)>,
    /// Sequence number of the last record issued (0: none).
    issued: u64,
    /// Sequence number of the last record later outputs must wait for (0: none).
    barrier: u64,
    /// All records up to this sequence number are durable.
    durable: u64,
}

impl Outbox {
    /// Queues a record; everything queued after it waits until it is durable — unless
    /// nothing visible can depend on it: an acknowledgement lost in a crash only means its
    /// event is reported again, so `Acknowledged` and `Forgotten` hold nothing back.
    pub(crate) fn persist(&mut self, record: Record) {
        self.issued += 1;
        if !matches!(record, Record::Acknowledged(_) | Record::Forgotten { .. }) {
            self.barrier = self.issued;
        }
        self.records.push_back((self.issued, record));
    }

    /// Queues an output behind every record issued so far that outputs wait for.
    pub(crate) fn push(&mut self, output: Output) {
        self.queue.push_back((self.barrier, output));
    }

    /// The driver reports records up to `upto` durable. A claim beyond what was issued is a
    /// driver bug: it changes nothing (outputs must not be released early) and is reported
    /// with the highest sequence number issued.
    pub(crate) fn persisted(&mut self, upto: u64) -> Result<(), u64> {
        if upto > self.issued {
            return Err(self.issued);
        }
        self.durable = self.durable.max(upto);
        Ok(())
    }

    /// Sequence number of the last record issued (0: none).
    pub(crate) fn issued(&self) -> u64 {
        self.issued
    }

    /// Whether every issued record is durable.
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
            Some((barrier, _)) if *barrier <= self.durable => {
                let (_, output) = self.queue.pop_front()?;
                Some(output)
            }
            _ => None,
        }
    }

    /// Queues an output ahead of everything waiting, without a barrier: it leaves at the next
    /// poll whatever is still in fsync. Only mutations (outputs that overtake their
    /// records) do this.
    pub(crate) fn push_ahead(&mut self, output: Output) {
        self.queue.push_front((0, output));
    }

    /// Treats every issued record as durable. Only the `AckBeforeFsync` mutation does this.
    pub(crate) fn assume_durable(&mut self) {
        self.durable = self.issued;
    }

    /// Outputs (not records) waiting: held by the barrier or not yet polled.
    pub(crate) fn waiting(&self) -> usize {
        self.queue.len()
    }

    /// Number of outputs (including records) not yet drained.
    pub(crate) fn len(&self) -> usize {
        self.records.len() + self.queue.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::Ack;
    use crate::output::BearerRequest;

    #[test]
    fn acknowledgements_hold_nothing_back_but_keep_their_place_in_the_record_order() {
        let mut o = Outbox::default();
        o.persist(Record::Epoch(1));
        o.persist(Record::Acknowledged(Ack::Delivery(0)));
        o.push(Output::Bearer(BearerRequest::Dial));
        assert_eq!(o.pop(), Some(Output::Persist { seq: 1, record: Record::Epoch(1) }));
        assert_eq!(o.pop(), Some(Output::Persist { seq: 2, record: Record::Acknowledged(Ack::Delivery(0)) }));
        assert_eq!(o.pop(), None, "waits for the Epoch record");
        assert_eq!(o.persisted(1), Ok(()));
        assert_eq!(o.pop(), Some(Output::Bearer(BearerRequest::Dial)), "not for the acknowledgement");
        assert_eq!(o.issued(), 2);
    }

    #[test]
    fn outputs_wait_for_the_records_before_them() {
        let mut o = Outbox::default();
        o.push(Output::Bearer(BearerRequest::Dial));
        o.persist(Record::Epoch(1));
        o.push(Output::Bearer(BearerRequest::HangUp));
        assert_eq!((o.len(), o.waiting()), (3, 2), "one record, two outputs");
        assert_eq!(o.pop(), Some(Output::Persist { seq: 1, record: Record::Epoch(1) }));
        assert_eq!((o.len(), o.waiting()), (2, 2));
        assert_eq!(o.pop(), Some(Output::Bearer(BearerRequest::Dial)));
        assert_eq!(o.pop(), None, "held back until record 1 is durable");
        assert_eq!((o.len(), o.waiting()), (1, 1));
        assert_eq!(o.persisted(7), Err(1), "a claim beyond what was issued is refused");
        assert!(!o.all_durable());
        assert_eq!(o.persisted(1), Ok(()));
        assert!(o.all_durable());
        assert_eq!(o.pop(), Some(Output::Bearer(BearerRequest::HangUp)));
        assert_eq!(o.pop(), None);
    }
}
