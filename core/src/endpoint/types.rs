//! The endpoint's configuration, verdicts, errors and counters.

use crate::config::ConfigError;
use crate::crypto::InitBudget;
use crate::input::{DropReason, InputError, Verdict};
use crate::message::SubmitError;
use crate::output::Output;
use crate::source_limit::SourceLimits;
use crate::time::Instant;
use crate::wire::{DecodeError, PduType};

/// Bounds of an [`Endpoint`](super::Endpoint): what it may hold in memory whatever peers
/// and strangers send.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct EndpointConfig {
    /// Most sessions in memory at once (≥ 1). A restore beyond it first evicts a session
    /// that is idle but for its disconnect timer; if there is none it is refused
    /// ([`EndpointError::Full`]).
    pub max_live_sessions: usize,
    /// Most stateless answers (CHALLENGEs) waiting to be drained (≥ 1); beyond it INITs
    /// are dropped as [`DropReason::Backpressure`] (the initiator retransmits).
    pub max_queued_answers: usize,
    /// Endpoint-wide budget for INITs whose MAC fails, answered statelessly (so a peer
    /// holding another key learns of it) only while it lasts. Authentic INITs are never
    /// charged.
    pub unauthentic_init_budget: InitBudget,
    /// Per-source limits for INITs whose MAC fails, one limiter shared by every session
    /// (charged before the budget above, and before a session in memory sees the INIT).
    pub source_limits: SourceLimits,
    /// Endpoint-wide budget for RESETs answering PACKETs for sessions not in memory
    /// (each also charged to its source's bucket in `source_limits`). A session in memory
    /// answers with its own `Config::reset_budget`.
    pub reset_budget: InitBudget,
}

impl EndpointConfig {
    /// 1,024 sessions in memory, 256 queued answers, the session's default budgets and
    /// per-source limits.
    pub const DEFAULT: EndpointConfig = EndpointConfig {
        max_live_sessions: 1024,
        max_queued_answers: 256,
        unauthentic_init_budget: InitBudget::DEFAULT,
        source_limits: SourceLimits::DEFAULT,
        reset_budget: InitBudget::DEFAULT,
    };

    /// Checks the bounds.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |field, reason| Err(ConfigError::Invalid { field, reason });
        if self.max_live_sessions == 0 {
            return invalid("max_live_sessions", "must be at least 1");
        }
        if self.max_queued_answers == 0 {
            return invalid("max_queued_answers", "must be at least 1");
        }
        let b = self.unauthentic_init_budget;
        if b.burst == 0 || b.per_second == 0 {
            return invalid("unauthentic_init_budget", "burst and per_second must be at least 1");
        }
        let r = self.reset_budget;
        if r.burst == 0 || r.per_second == 0 {
            return invalid("reset_budget", "burst and per_second must be at least 1");
        }
        let s = self.source_limits;
        if s.budget.burst == 0 || s.budget.per_second == 0 || s.max_sources == 0 {
            return invalid("source_limits", "burst, per_second and max_sources must be at least 1");
        }
        if s.max_sources > crate::config::MAX_SOURCES {
            return invalid("source_limits.max_sources", "must be 1..=65536");
        }
        Ok(())
    }
}

impl Default for EndpointConfig {
    fn default() -> Self {
        EndpointConfig::DEFAULT
    }
}

/// What the endpoint did with a datagram it took.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
pub enum Routed {
    /// The session `sid` (in memory) took it, with this verdict.
    Session {
        /// Its session id.
        sid: u32,
        /// What the session made of it (accepted, answered, or dropped for a reason).
        verdict: Verdict,
    },
    /// An INIT for `sid`, whose session is not in memory, answered statelessly: a
    /// CHALLENGE waits in [`Endpoint::poll_output`](super::Endpoint::poll_output).
    Answered {
        /// Its session id.
        sid: u32,
        /// Whether the INIT's MAC verified. An unauthentic one is answered with a proof
        /// that never verifies (so a peer with another key learns of the mismatch) and is
        /// charged to [`EndpointConfig::unauthentic_init_budget`].
        authentic: bool,
    },
    /// A PACKET for `sid`, whose session is not in memory, answered statelessly with a
    /// RESET (smaller than the PACKET): the session would have answered so. It waits in
    /// [`Endpoint::poll_output`](super::Endpoint::poll_output).
    Reset {
        /// Its session id.
        sid: u32,
    },
    /// The session `sid` is not in memory and is needed: for an authentic CONFIRM, or (at
    /// most once per peer and process) for a PACKET while the endpoint does not know the
    /// session's persisted epoch, which decides whether it may be answered with a RESET.
    /// Load the session's store, give it to [`Endpoint::restore`](super::Endpoint::restore),
    /// then hand the same datagram in again: the session decides on it as a lone session
    /// would.
    NeedsSession {
        /// Its session id.
        sid: u32,
    },
}

/// One output drained with [`Endpoint::poll_output`](super::Endpoint::poll_output).
#[derive(Clone, Debug, PartialEq, Eq)]
#[must_use]
pub enum EndpointOutput {
    /// An output of session `sid`: a stateless answer, or what the session itself put
    /// out. Never a bearer request (the endpoint's socket is always up) and never
    /// [`Output::Wait`].
    Session {
        /// Its session id.
        sid: u32,
        /// The output.
        output: Output,
    },
    /// Every session is drained: the end of one drain. Call
    /// [`Endpoint::handle_timeout`](super::Endpoint::handle_timeout) when the clock
    /// reaches `until` (the earliest deadline of any session in memory), or wait for the
    /// next input when it is `None`.
    Wait {
        /// The earliest deadline of any session in memory, if one is armed.
        until: Option<Instant>,
    },
}

/// Why the endpoint did nothing with an input. Never fatal: the endpoint and every session
/// are unchanged apart from counters.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EndpointError {
    /// The bytes are not a PDU.
    #[error("undecodable datagram: {0}")]
    Decode(#[from] DecodeError),
    /// No configured peer has this session id.
    #[error("no peer with session id {sid}")]
    UnknownSession {
        /// The session id asked for.
        sid: u32,
    },
    /// The peer's session is not in memory and this PDU cannot start one.
    #[error("session {sid} is not in memory; a {ty:?} cannot start it")]
    NoSession {
        /// Its session id.
        sid: u32,
        /// The PDU's type.
        ty: PduType,
    },
    /// The endpoint's stateless handshake path refused the PDU.
    #[error("session {sid}: dropped: {reason}")]
    Dropped {
        /// Its session id.
        sid: u32,
        /// Why.
        reason: DropReason,
    },
    /// A CONFIRM with this endpoint's cookie whose proof does not verify under the peer's
    /// key: the sender does not hold it.
    #[error("session {sid}: confirm proof does not verify")]
    AuthFailed {
        /// Its session id.
        sid: u32,
    },
    /// The session in memory refused the input.
    #[error("session {sid}: {error}")]
    Input {
        /// Its session id.
        sid: u32,
        /// What the session said.
        error: InputError,
    },
    /// The session in memory refused the submission.
    #[error("session {sid}: {error}")]
    Submit {
        /// Its session id.
        sid: u32,
        /// What the session said.
        error: SubmitError,
    },
    /// The session is not in memory: [`Endpoint::restore`](super::Endpoint::restore) it first.
    #[error("session {sid} is not in memory")]
    NotInMemory {
        /// Its session id.
        sid: u32,
    },
    /// The session is already in memory (a restore would replace newer state).
    #[error("session {sid} is already in memory")]
    AlreadyInMemory {
        /// Its session id.
        sid: u32,
    },
    /// `max_live_sessions` are in memory and none is idle enough to evict.
    #[error("{live} sessions in memory, none idle: the limit is reached")]
    Full {
        /// Sessions in memory.
        live: usize,
    },
    /// A second peer with the same session id.
    #[error("a peer with session id {sid} is already configured")]
    DuplicateSession {
        /// The session id.
        sid: u32,
    },
    /// The peer's config is invalid.
    #[error("invalid config: {0}")]
    Config(ConfigError),
}

/// What the endpoint itself did, for operators and tests (each session has its own
/// [`Stats`](crate::Stats)).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EndpointStats {
    /// Datagrams handed to [`Endpoint::handle_datagram`](super::Endpoint::handle_datagram).
    pub datagrams_in: u64,
    /// Datagrams that did not decode as far as the header.
    pub undecodable: u64,
    /// Datagrams naming a session id no peer has.
    pub unknown_session: u64,
    /// Datagrams for a peer not in memory that cannot start a session.
    pub no_session: u64,
    /// INITs answered statelessly (authentic or not).
    pub inits_answered: u64,
    /// Of those, INITs whose MAC failed.
    pub inits_unauthentic: u64,
    /// PDUs the stateless path dropped (budget, backpressure, wrong peer, bad cookie, a
    /// PACKET the session would not answer, …).
    pub stateless_dropped: u64,
    /// CONFIRMs with a failed proof.
    pub auth_failures: u64,
    /// Datagrams that asked for a session: authentic CONFIRMs, and PACKETs for a session
    /// whose epoch the endpoint did not know yet.
    pub sessions_needed: u64,
    /// PACKETs for a session not in memory answered with a RESET.
    pub resets_sent: u64,
    /// Sessions restored into memory.
    pub restores: u64,
    /// Sessions evicted from memory.
    pub evictions: u64,
    /// Restores refused because memory was full of busy sessions.
    pub full: u64,
    /// Idle associations released to make room for a refused restore.
    pub released_for_room: u64,
}
