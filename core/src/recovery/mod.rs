//! Loss detection, RTT estimation and the receiver's packet-number record (RFC 9002 style).
//!
//! Three independent, clock-free pieces, one per file:
//!
//! - [`rtt`]: [`RttEstimator`], RFC 9002 §5 in integer microseconds.
//! - [`ranges`]: [`RangeSet`], the receiver's bounded record of received packet numbers;
//!   it produces ACK ranges and doubles as the replay window.
//! - [`loss`]: [`LossDetector`], RFC 9002 §6 loss detection and probe timeouts for one
//!   direction of one association.
//!
//! Everything here is plain data (`Clone + Debug + Eq + Hash`) so that it can live inside
//! model-checked state, uses no floats, and saturates instead of panicking on any input.

pub(crate) mod loss;
pub(crate) mod ranges;
pub(crate) mod rtt;

pub(crate) use loss::{AckError, LossDetector, SentPacket, TimeoutAction};
pub(crate) use ranges::{Insert, RangeSet};
