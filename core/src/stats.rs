//! Counters. Kept out of `Eq`/`Hash` so they never split model-checked states.

use crate::input::DropReason;

/// What happened so far, for operators and tests. Counters saturate.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    /// Datagrams handed to `handle_input`.
    pub datagrams_in: u64,
    /// Datagrams queued for transmission.
    pub datagrams_out: u64,
    /// Datagrams not sent because no peer remote was known yet.
    pub unrouted: u64,
    /// Datagrams that did not decode.
    pub undecodable: u64,
    /// Drops by reason, indexed like [`DropReason::ALL`].
    pub dropped: [u64; DropReason::ALL.len()],
    /// INIT or CONFIRM retransmissions.
    pub handshake_retransmits: u64,
    /// Packets declared lost.
    pub packets_lost: u64,
    /// Loss declarations found spurious: the peer acknowledged the packet after it was
    /// declared lost (it was reordered). Each raises the reordering thresholds.
    pub spurious_losses: u64,
    /// Probe timeouts fired.
    pub probes: u64,
    /// Associations established.
    pub associations: u64,
    /// Open attempts that failed.
    pub open_failures: u64,
    /// INITs whose MAC did not verify under our PSK (answered anyway; see `AuthStage::Init`).
    pub init_auth_failures: u64,
    /// RESETs sent: answers to PACKETs for an association this side does not have.
    pub resets_sent: u64,
    /// Authentic RESETs that ended the current association (the peer had lost it).
    pub resets_received: u64,
    /// [`Event::WrongKey`](crate::Event::WrongKey) reports: opening stopped on a wrong PSK.
    pub wrong_key: u64,
    /// Messages delivered to the application.
    pub delivered: u64,
    /// Handshakes whose peer summary went backwards ([`Event::PeerStateLost`](crate::Event::PeerStateLost)).
    pub peer_state_lost: u64,
    /// Payload bytes sent in DATA frames, retransmissions included.
    pub data_bytes_sent: u64,
    /// DATA frames for resolved messages or already durable bytes.
    pub data_duplicate: u64,
    /// DATA frames outside the message window.
    pub data_outside_window: u64,
    /// DATA frames beyond the declared length or the checkpoint window.
    pub data_out_of_bounds: u64,
    /// DATA frames disagreeing with bytes already received at the same offset.
    pub data_conflicting: u64,
}

impl Stats {
    /// How many PDUs were dropped for `reason`.
    pub fn dropped(&self, reason: DropReason) -> u64 {
        self.dropped[reason.index()]
    }

    pub(crate) fn count_drop(&mut self, reason: DropReason) {
        let c = &mut self.dropped[reason.index()];
        *c = c.saturating_add(1);
    }
}

/// A wrapper that makes its contents invisible to `PartialEq` and `Hash`.
#[derive(Clone, Debug, Default)]
pub(crate) struct Unobserved<T>(pub(crate) T);

impl<T> PartialEq for Unobserved<T> {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}
impl<T> Eq for Unobserved<T> {}
impl<T> core::hash::Hash for Unobserved<T> {
    fn hash<H: core::hash::Hasher>(&self, _: &mut H) {}
}
