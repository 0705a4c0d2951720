//! Configuration: every tunable of the core, with defaults that mirror the Exchange 5.5 MTA
//! parameters they replace (their reasons are in PROTOCOL.md, "Timers" and "Opening,
//! bearers and retries"), and `validate()` with a typed error.

use crate::crypto::{InitBudget, Psk, PskError, Suite};
use crate::source_limit::SourceLimits;
use crate::time::Duration;
use crate::wire::{NameError, Params, PeerName, MAX_ACK_RANGES};

/// Everything a [`Session`](crate::Session) needs to know that is not state.
///
/// Build one with [`Config::new`], adjust fields, then call [`Config::validate`] (the
/// session constructor validates again and refuses an invalid config).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Config {
    /// This endpoint's canonical name.
    pub local_name: PeerName,
    /// The one peer this session talks to.
    pub peer_name: PeerName,
    /// Session id: demultiplexes sessions on one endpoint; both sides configure the same.
    pub sid: u32,
    /// Pre-shared key for this peer pair (at least 16 bytes).
    pub psk: Psk,
    /// Which crypto implementation protects the handshake and the packets. Defaults to
    /// [`Suite::recommended`]: the real suite, unless the crate was built without the
    /// `rustcrypto` feature. [`Suite::Symbolic`] is **insecure** (tests and model only).
    pub suite: Suite,
    /// How long a cookie stays valid after the responder issued it; cookie keys rotate at
    /// the same period (the current and the previous key are accepted). Must cover the
    /// initiator's CONFIRM retransmissions: with the defaults they end 15 s after the
    /// CHALLENGE (`handshake_rto × (2^handshake_retransmits − 1)`).
    pub cookie_lifetime: Duration,
    /// Budget for work done for handshake PDUs that fail authentication: INITs whose MAC
    /// fails are answered (so the peer learns of a PSK mismatch), and
    /// [`Event::AuthenticationFailed`](crate::Event::AuthenticationFailed) is reported, only
    /// while it lasts; beyond it they are dropped and counted as `BadAuth`. Authentic
    /// INITs are never charged. Each source has its own, smaller budget first
    /// (`source_limits`).
    pub init_budget: InitBudget,
    /// Per-source limits for INITs whose MAC fails: each source ([`Remote::source`]: an IP
    /// address, or a connection) has its own bucket, charged before `init_budget`, so a
    /// flood from a few sources cannot use up the answers every other source gets. At most
    /// `max_sources` buckets are kept (least recently used forgotten). Authentic INITs are
    /// never charged.
    ///
    /// [`Remote::source`]: crate::Remote::source
    pub source_limits: SourceLimits,
    /// Budget for stateless resets: a PACKET for an association this side does not have is
    /// answered with an authenticated RESET (`PROTOCOL.md`, "Stateless reset") only while
    /// it lasts, so a flood of such packets costs one header parse each beyond it.
    pub reset_budget: InitBudget,
    /// Authentication failures of our own open attempts in a row (the peer's CHALLENGE
    /// proof fails: it holds another PSK) after which the session stops opening and
    /// reports [`Event::WrongKey`](crate::Event::WrongKey). Queued messages stay queued.
    /// `0` never gives up.
    pub max_auth_failures: u32,
    /// Parameters this side proposes; the agreed values are the element-wise minimum.
    pub params: Params,
    /// Whether this side dials on demand or only answers (Exchange: "remotely initiated").
    pub dial: DialPolicy,
    /// Release an association idle this long with nothing in flight (Exchange: lifetime, 300 s).
    pub lifetime: Duration,
    /// Hang up the bearer after this long with no association (Exchange: disconnect delay, 120 s).
    pub disconnect_delay: Duration,
    /// Give up opening after this many consecutive failed attempts (Exchange: max open retries, 144).
    pub max_open_retries: u32,
    /// Longest wait between open attempts (Exchange: open interval, 600 s).
    pub open_interval: Duration,
    /// First wait between open attempts; doubles up to `open_interval`.
    pub open_backoff_start: Duration,
    /// Handshake retransmission timeout before any RTT sample; doubles per retransmission.
    pub handshake_rto: Duration,
    /// Retransmissions of one INIT or CONFIRM before the attempt counts as failed.
    pub handshake_retransmits: u32,
    /// RTT assumed before the first sample (RFC 9002 §6.2.2 suggests 333 ms); at most 60 s,
    /// the largest RTT sample the estimator takes.
    pub initial_rtt: Duration,
    /// Longest time a receiver delays an ACK; enters the probe timeout (RFC 9002 §5.3).
    pub max_ack_delay: Duration,
    /// Ack-eliciting packets received before the owed ACK goes out at once (1 to 16); a
    /// single one waits up to `max_ack_delay` for a packet to ride on, and one out of order
    /// is acknowledged at once (RFC 9000 §13.2). 1, the default, acknowledges every packet
    /// at once; 2 is RFC 9000's recommendation and halves the ACK datagrams of a bulk
    /// transfer (issue #16: the default moves to 2 once the tests pin the delayed ACKs).
    pub ack_frequency: u8,
    /// Consecutive probe timeouts without an ACK before the association is aborted.
    pub max_probes: u32,
    /// Send a PING after this long without receiving anything; `None` disables keepalive.
    pub keepalive: Option<Duration>,
    /// Packet-number ranges remembered per association (replay window and ACK size).
    pub ack_ranges: u16,
    /// How many draining probe-timeouts a released association keeps its tags for.
    pub drain_ptos: u32,
    /// Most outbound messages held at once: a message counts from its submission until the
    /// application acknowledges its `Outcome` ([`Ack::Outcome`](crate::Ack::Outcome)). Also
    /// the most inbound deliveries waiting for the application's acknowledgement.
    pub max_queued_messages: u32,
    /// Most bytes of unresolved outbound messages held at once.
    pub max_queued_bytes: u64,
    /// Largest message accepted for sending, and for receiving (larger ones are rejected).
    pub max_message_len: u64,
    /// How many acknowledged outcomes the session remembers for idempotent submission: a
    /// submission whose application id belongs to a message still queued, in flight,
    /// finished and unacknowledged, or among the last `idempotency_window` acknowledged ones
    /// returns that message instead of queuing a new one. Each remembered outcome costs a
    /// few dozen bytes of durable state; 0 forgets an application id once its outcome is
    /// acknowledged.
    pub idempotency_window: u32,
    /// Expiry after submission, per priority (urgent, normal, non-urgent)
    /// (Exchange: 2, 7 and 10 days).
    pub expiry: [Duration; 3],
    /// Transfer timeout per KiB once sending began, per priority
    /// (Exchange: 1000, 2000 and 3000 s per KiB).
    pub transfer_timeout_per_kib: [Duration; 3],
    /// A waiting message is promoted one priority class per this much waiting.
    pub aging_interval: Duration,
    /// Most packets in flight at once (a fixed congestion window).
    pub max_packets_in_flight: u32,
    /// Deliberate bugs for the model checker; inert without the `mutations` feature.
    #[doc(hidden)]
    #[cfg(feature = "mutations")]
    pub mutations: crate::mutation::Mutations,
}

/// Whether this side opens associations itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DialPolicy {
    /// Open an association (and ask the driver for a bearer) whenever one is wanted.
    OnDemand,
    /// Never initiate: only answer the peer (Exchange: "remotely initiated").
    RemoteOnly,
}

/// Smallest datagram the protocol can work with: an INIT with two 64-byte names fits.
pub const MIN_DATAGRAM: u16 = 512;

/// Most sources [`SourceLimits::max_sources`] may remember (a few MiB at most).
pub const MAX_SOURCES: u32 = 65_536;

/// A configuration value that cannot work, and why.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A field's value is outside what the protocol can honour.
    #[error("config field `{field}` is invalid: {reason}")]
    Invalid {
        /// The field's name as in [`Config`].
        field: &'static str,
        /// What is wrong and what would be accepted.
        reason: &'static str,
    },
    /// A peer name given as text is not acceptable ([`Config::from_text`]).
    #[error("config field `{field}` is invalid: {error}")]
    Name {
        /// `local_name` or `peer_name`.
        field: &'static str,
        /// Why the name was refused.
        error: NameError,
    },
    /// The pre-shared key given as text is not acceptable ([`Config::from_text`]).
    #[error("config field `psk` is invalid: {0}")]
    Psk(PskError),
}

fn invalid(field: &'static str, reason: &'static str) -> ConfigError {
    ConfigError::Invalid { field, reason }
}

impl Config {
    /// A configuration from text, as read from a configuration file: the two names
    /// (canonicalised by ASCII case folding) and the PSK as hex (at least 32 digits). The
    /// error names the field and says why; the result is also [validated](Config::validate).
    pub fn from_text(local_name: &str, peer_name: &str, psk_hex: &str) -> Result<Self, ConfigError> {
        let name = |field, text: &str| {
            PeerName::new(text.as_bytes()).map_err(|error| ConfigError::Name { field, error })
        };
        let local = name("local_name", local_name)?;
        let peer = name("peer_name", peer_name)?;
        let psk = Psk::from_hex(psk_hex).map_err(ConfigError::Psk)?;
        let config = Config::new(local, peer, psk);
        config.validate()?;
        Ok(config)
    }

    /// A configuration with the default parameters for the session `local` ↔ `peer`.
    pub fn new(local: PeerName, peer: PeerName, psk: Psk) -> Self {
        Config {
            local_name: local,
            peer_name: peer,
            sid: 1,
            psk,
            suite: Suite::recommended(),
            cookie_lifetime: Duration::from_secs(60),
            init_budget: InitBudget::DEFAULT,
            source_limits: SourceLimits::DEFAULT,
            reset_budget: InitBudget::DEFAULT,
            max_auth_failures: 3,
            params: Params {
                max_datagram: 1400,
                msg_window: 32,
                checkpoint_size: 30 * 1024,
                checkpoint_window: 5,
            },
            dial: DialPolicy::OnDemand,
            lifetime: Duration::from_secs(300),
            disconnect_delay: Duration::from_secs(120),
            max_open_retries: 144,
            open_interval: Duration::from_secs(600),
            open_backoff_start: Duration::from_secs(1),
            handshake_rto: Duration::from_secs(1),
            handshake_retransmits: 4,
            initial_rtt: Duration::from_millis(333),
            max_ack_delay: Duration::from_millis(25),
            ack_frequency: 1,
            max_probes: 8,
            keepalive: Some(Duration::from_secs(30)),
            ack_ranges: 16,
            drain_ptos: 3,
            max_queued_messages: 10_000,
            max_queued_bytes: 256 * 1024 * 1024,
            max_message_len: 64 * 1024 * 1024,
            idempotency_window: 1024,
            expiry: [
                Duration::from_secs(2 * 86_400),
                Duration::from_secs(7 * 86_400),
                Duration::from_secs(10 * 86_400),
            ],
            transfer_timeout_per_kib: [
                Duration::from_secs(1000),
                Duration::from_secs(2000),
                Duration::from_secs(3000),
            ],
            aging_interval: Duration::from_secs(300),
            max_packets_in_flight: 64,
            #[cfg(feature = "mutations")]
            mutations: crate::mutation::Mutations::NONE,
        }
    }

    /// Checks every value; the first problem found is returned.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.local_name == self.peer_name {
            return Err(invalid(
                "peer_name",
                "must differ from local_name (the collision tie-break needs an order)",
            ));
        }
        if self.psk.len() < 16 {
            return Err(invalid("psk", "must be at least 16 bytes (128 bits)"));
        }
        let p = &self.params;
        if p.max_datagram < MIN_DATAGRAM {
            return Err(invalid("params.max_datagram", "must be at least 512 bytes"));
        }
        if p.msg_window == 0 || u64::from(p.msg_window) > crate::persist::MAX_MSG_WINDOW {
            return Err(invalid(
                "params.msg_window",
                "must be between 1 and 512 (summaries list at most 2W entries)",
            ));
        }
        if p.checkpoint_size < 1024 {
            return Err(invalid("params.checkpoint_size", "must be at least 1024 bytes"));
        }
        if p.checkpoint_window == 0 {
            return Err(invalid("params.checkpoint_window", "must be at least 1"));
        }
        let positive: [(&'static str, Duration); 6] = [
            ("lifetime", self.lifetime),
            ("open_interval", self.open_interval),
            ("open_backoff_start", self.open_backoff_start),
            ("handshake_rto", self.handshake_rto),
            ("initial_rtt", self.initial_rtt),
            ("disconnect_delay", self.disconnect_delay),
        ];
        for (field, d) in positive {
            if d == Duration::ZERO {
                return Err(invalid(field, "must be greater than zero"));
            }
        }
        if self.initial_rtt > crate::recovery::rtt::MAX_RTT {
            return Err(invalid("initial_rtt", "must not exceed 60 s, the largest RTT the estimator takes"));
        }
        if self.open_backoff_start > self.open_interval {
            return Err(invalid("open_backoff_start", "must not exceed open_interval"));
        }
        if self.max_probes == 0 {
            return Err(invalid("max_probes", "must be at least 1"));
        }
        if self.keepalive == Some(Duration::ZERO) {
            return Err(invalid("keepalive", "must be greater than zero, or None to disable"));
        }
        if self.ack_ranges == 0 || self.ack_ranges as usize > MAX_ACK_RANGES {
            return Err(invalid("ack_ranges", "must be between 1 and 64"));
        }
        if self.ack_frequency == 0 || self.ack_frequency > 16 {
            return Err(invalid("ack_frequency", "must be between 1 and 16"));
        }
        if self.drain_ptos == 0 {
            return Err(invalid("drain_ptos", "must be at least 1"));
        }
        if self.max_queued_messages == 0 {
            return Err(invalid("max_queued_messages", "must be at least 1"));
        }
        if self.max_message_len > self.max_queued_bytes {
            return Err(invalid("max_message_len", "must not exceed max_queued_bytes"));
        }
        if self.expiry.contains(&Duration::ZERO) || self.transfer_timeout_per_kib.contains(&Duration::ZERO) {
            return Err(invalid("expiry", "expiry and transfer timeouts must be greater than zero"));
        }
        if self.aging_interval == Duration::ZERO {
            return Err(invalid("aging_interval", "must be greater than zero"));
        }
        if self.max_packets_in_flight == 0 {
            return Err(invalid("max_packets_in_flight", "must be at least 1"));
        }
        if self.cookie_lifetime < Duration::from_millis(1) {
            return Err(invalid("cookie_lifetime", "must be at least 1 ms"));
        }
        if self.init_budget.burst == 0 {
            return Err(invalid("init_budget.burst", "must be at least 1"));
        }
        if self.init_budget.per_second == 0 {
            return Err(invalid("init_budget.per_second", "must be at least 1"));
        }
        if self.source_limits.budget.burst == 0 {
            return Err(invalid("source_limits.budget.burst", "must be at least 1"));
        }
        if self.source_limits.budget.per_second == 0 {
            return Err(invalid("source_limits.budget.per_second", "must be at least 1"));
        }
        if self.source_limits.max_sources == 0 || self.source_limits.max_sources > MAX_SOURCES {
            return Err(invalid("source_limits.max_sources", "must be 1..=65536"));
        }
        if self.reset_budget.burst == 0 {
            return Err(invalid("reset_budget.burst", "must be at least 1"));
        }
        if self.reset_budget.per_second == 0 {
            return Err(invalid("reset_budget.per_second", "must be at least 1"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Config {
        Config::new(
            PeerName::new(b"alpha").unwrap(),
            PeerName::new(b"beta").unwrap(),
            Psk::new(&[7u8; 16]).unwrap(),
        )
    }

    #[test]
    fn defaults_are_valid_and_mirror_exchange() {
        let c = base();
        assert_eq!(c.validate(), Ok(()));
        assert_eq!(c.lifetime, Duration::from_secs(300));
        assert_eq!(c.disconnect_delay, Duration::from_secs(120));
        assert_eq!(c.max_open_retries, 144);
        assert_eq!(c.open_interval, Duration::from_secs(600));
        assert_eq!(c.params.checkpoint_size, 30 * 1024);
        assert_eq!(c.params.checkpoint_window, 5);
    }

    #[test]
    fn each_bad_value_names_its_field() {
        type Mutate = fn(&mut Config);
        let cases: [(&str, Mutate); 20] = [
            ("peer_name", |c| c.peer_name = c.local_name),
            ("params.max_datagram", |c| c.params.max_datagram = 100),
            ("params.msg_window", |c| c.params.msg_window = 0),
            ("params.checkpoint_size", |c| c.params.checkpoint_size = 10),
            ("params.checkpoint_window", |c| c.params.checkpoint_window = 0),
            ("lifetime", |c| c.lifetime = Duration::ZERO),
            ("open_backoff_start", |c| c.open_backoff_start = Duration::from_secs(601)),
            ("max_probes", |c| c.max_probes = 0),
            ("keepalive", |c| c.keepalive = Some(Duration::ZERO)),
            ("ack_ranges", |c| c.ack_ranges = 65),
            ("drain_ptos", |c| c.drain_ptos = 0),
            ("cookie_lifetime", |c| c.cookie_lifetime = Duration::ZERO),
            ("init_budget.burst", |c| c.init_budget.burst = 0),
            ("init_budget.per_second", |c| c.init_budget.per_second = 0),
            ("reset_budget.burst", |c| c.reset_budget.burst = 0),
            ("reset_budget.per_second", |c| c.reset_budget.per_second = 0),
            ("source_limits.budget.burst", |c| c.source_limits.budget.burst = 0),
            ("source_limits.budget.per_second", |c| c.source_limits.budget.per_second = 0),
            ("source_limits.max_sources", |c| c.source_limits.max_sources = 0),
            ("source_limits.max_sources", |c| c.source_limits.max_sources = MAX_SOURCES + 1),
        ];
        for (field, mutate) in cases {
            let mut c = base();
            mutate(&mut c);
            match c.validate() {
                Err(ConfigError::Invalid { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{field}: expected an error, got {other:?}"),
            }
        }
    }

    /// Every limit `validate` enforces, exactly: the boundary value is accepted and the
    /// first value past it is refused, naming the field (kills off-by-one and dropped checks).
    #[test]
    fn each_limit_accepts_its_boundary_and_refuses_one_past_it() {
        type Mutate = fn(&mut Config);
        fn us(v: u64) -> Duration {
            Duration::from_micros(v)
        }
        let cases: &[(&str, Mutate, Mutate)] = &[
            (
                "params.max_datagram",
                |c| c.params.max_datagram = MIN_DATAGRAM,
                |c| c.params.max_datagram = MIN_DATAGRAM - 1,
            ),
            ("params.msg_window", |c| c.params.msg_window = 1, |c| c.params.msg_window = 0),
            ("params.msg_window", |c| c.params.msg_window = 512, |c| c.params.msg_window = 513),
            (
                "params.checkpoint_size",
                |c| c.params.checkpoint_size = 1024,
                |c| c.params.checkpoint_size = 1023,
            ),
            (
                "params.checkpoint_window",
                |c| c.params.checkpoint_window = 1,
                |c| c.params.checkpoint_window = 0,
            ),
            ("lifetime", |c| c.lifetime = us(1), |c| c.lifetime = Duration::ZERO),
            (
                "open_interval",
                |c| (c.open_interval, c.open_backoff_start) = (us(1), us(1)),
                |c| c.open_interval = Duration::ZERO,
            ),
            (
                "open_backoff_start",
                |c| c.open_backoff_start = us(1),
                |c| c.open_backoff_start = Duration::ZERO,
            ),
            (
                "open_backoff_start",
                |c| c.open_backoff_start = c.open_interval,
                |c| c.open_backoff_start = c.open_interval + us(1),
            ),
            ("handshake_rto", |c| c.handshake_rto = us(1), |c| c.handshake_rto = Duration::ZERO),
            ("initial_rtt", |c| c.initial_rtt = us(1), |c| c.initial_rtt = Duration::ZERO),
            (
                "initial_rtt",
                |c| c.initial_rtt = Duration::from_secs(60),
                |c| c.initial_rtt = Duration::from_secs(60) + us(1),
            ),
            ("disconnect_delay", |c| c.disconnect_delay = us(1), |c| c.disconnect_delay = Duration::ZERO),
            ("max_probes", |c| c.max_probes = 1, |c| c.max_probes = 0),
            ("keepalive", |c| c.keepalive = Some(us(1)), |c| c.keepalive = Some(Duration::ZERO)),
            ("keepalive", |c| c.keepalive = None, |c| c.keepalive = Some(Duration::ZERO)),
            ("ack_ranges", |c| c.ack_ranges = 1, |c| c.ack_ranges = 0),
            ("ack_ranges", |c| c.ack_ranges = 64, |c| c.ack_ranges = 65),
            ("drain_ptos", |c| c.drain_ptos = 1, |c| c.drain_ptos = 0),
            ("max_queued_messages", |c| c.max_queued_messages = 1, |c| c.max_queued_messages = 0),
            (
                "max_message_len",
                |c| c.max_message_len = c.max_queued_bytes,
                |c| c.max_message_len = c.max_queued_bytes + 1,
            ),
            ("expiry", |c| c.expiry[0] = us(1), |c| c.expiry[0] = Duration::ZERO),
            ("expiry", |c| c.expiry[2] = us(1), |c| c.expiry[2] = Duration::ZERO),
            (
                "expiry",
                |c| c.transfer_timeout_per_kib[1] = us(1),
                |c| c.transfer_timeout_per_kib[1] = Duration::ZERO,
            ),
            ("aging_interval", |c| c.aging_interval = us(1), |c| c.aging_interval = Duration::ZERO),
            ("max_packets_in_flight", |c| c.max_packets_in_flight = 1, |c| c.max_packets_in_flight = 0),
            (
                "cookie_lifetime",
                |c| c.cookie_lifetime = Duration::from_millis(1),
                |c| c.cookie_lifetime = Duration::from_millis(1) - us(1),
            ),
            ("init_budget.burst", |c| c.init_budget.burst = 1, |c| c.init_budget.burst = 0),
            ("init_budget.per_second", |c| c.init_budget.per_second = 1, |c| c.init_budget.per_second = 0),
            ("reset_budget.burst", |c| c.reset_budget.burst = 1, |c| c.reset_budget.burst = 0),
            ("reset_budget.per_second", |c| c.reset_budget.per_second = 1, |c| c.reset_budget.per_second = 0),
            (
                "source_limits.max_sources",
                |c| c.source_limits.max_sources = 1,
                |c| c.source_limits.max_sources = 0,
            ),
            (
                "source_limits.max_sources",
                |c| c.source_limits.max_sources = MAX_SOURCES,
                |c| c.source_limits.max_sources = MAX_SOURCES + 1,
            ),
        ];
        // A PSK can only be built with at least 16 bytes; longer ones are fine too.
        let mut c = base();
        c.psk = Psk::new(&[9u8; 32]).unwrap();
        assert_eq!(c.validate(), Ok(()), "a 32-byte PSK");
        for (field, at_limit, past_limit) in cases {
            let mut c = base();
            at_limit(&mut c);
            assert_eq!(c.validate(), Ok(()), "{field} at its limit");
            past_limit(&mut c);
            match c.validate() {
                Err(ConfigError::Invalid { field: f, .. }) => assert_eq!(f, *field),
                other => panic!("{field} past its limit: expected an error, got {other:?}"),
            }
        }
    }

    #[test]
    fn the_real_suite_is_the_default_when_compiled_in() {
        assert_eq!(base().suite, Suite::recommended());
        assert_eq!(base().suite.is_secure(), cfg!(feature = "rustcrypto"));
    }

    #[test]
    fn text_configs_name_the_field_and_the_reason() {
        let key = "000102030405060708090a0b0c0d0e0f";
        let c = Config::from_text("MTA-A", "mta-b", key).unwrap();
        assert_eq!(c.local_name.as_str(), "mta-a", "names are case-folded");
        let err = |l: &str, p: &str, k: &str| {
            alloc::string::ToString::to_string(&Config::from_text(l, p, k).unwrap_err())
        };
        assert_eq!(
            err("mta a", "b", key),
            "config field `local_name` is invalid: peer name has byte 0x20 at 3; only ASCII letters, digits, '.', '-', '_' are allowed"
        );
        assert_eq!(err("a", "", key), "config field `peer_name` is invalid: peer name is empty");
        assert_eq!(
            err("a", "b", "0011"),
            "config field `psk` is invalid: pre-shared key is 2 bytes; at least 16 (128 bits) are required"
        );
        assert_eq!(
            err("a", "A", key),
            "config field `peer_name` is invalid: must differ from local_name (the collision tie-break needs an order)"
        );
    }
}
