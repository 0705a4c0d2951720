//! The endpoint's routing decision, as a table (`PROTOCOL.md`, "Endpoint").
//!
//! A datagram is routed by the `sid` in its header to the one configured peer with that
//! session id, never by its source. What happens next depends only on the PDU type and on
//! whether that peer's session is in memory:
//!
//! | PDU type                             | session in memory | session not in memory                  |
//! |--------------------------------------|-------------------|----------------------------------------|
//! | INIT                                 | the session       | answered statelessly (CHALLENGE)        |
//! | CONFIRM                              | the session       | verified statelessly; if authentic, the driver restores the session and hands it in again |
//! | PACKET                               | the session       | if the endpoint does not know the session's epoch, the driver restores it once; else answered statelessly (RESET) by the session's own rule, or dropped `Stale` |
//! | CHALLENGE, ACCEPT, STALE, RESET      | the session       | dropped, counted (`NoSession`)          |
//!
//! Within a session, the `dst_tag` and `epoch` select the attempt or association exactly
//! as for a lone [`Session`](crate::Session): a PDU carrying one session's `sid` and
//! another's tags meets the first session's checks and is dropped there.

use bytes::Bytes;

use crate::wire::{PduType, RawPdu};

/// The session id a datagram is routed by, if its header parses: the key a driver that
/// spreads sessions over several endpoints (one per thread) shards by, so each datagram
/// reaches the endpoint that holds its peer. `None` for bytes that are not a PDU (any
/// endpoint counts them as undecodable). Pure: no endpoint state, no authentication —
/// the owning endpoint still checks everything.
pub fn route_key(datagram: &Bytes) -> Option<u32> {
    RawPdu::parse(datagram).ok().map(|raw| raw.header.sid)
}

/// Where a datagram goes once its peer is known.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Route {
    /// To the peer's session, which is in memory.
    Session,
    /// An INIT for a peer whose session is not in memory: the endpoint answers it.
    AnswerInit,
    /// A CONFIRM for a peer whose session is not in memory: the endpoint verifies it and,
    /// if it is authentic, asks the driver for the session.
    VerifyConfirm,
    /// A PACKET for a peer whose session is not in memory: it names an association the
    /// session does not hold, so the endpoint answers it as the session would (a RESET).
    AnswerPacket,
    /// Anything else for a peer whose session is not in memory: nothing it could name
    /// exists, and nothing answers it, so it is dropped.
    NoSession,
}

/// The table above.
pub(crate) fn route(ty: PduType, in_memory: bool) -> Route {
    match (in_memory, ty) {
        (true, _) => Route::Session,
        (false, PduType::Init) => Route::AnswerInit,
        (false, PduType::Confirm) => Route::VerifyConfirm,
        (false, PduType::Packet) => Route::AnswerPacket,
        (false, PduType::Challenge | PduType::Accept | PduType::Stale | PduType::Reset) => Route::NoSession,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_init_confirm_and_packet_are_handled_without_a_session() {
        use PduType::*;
        let table = [
            (Init, Route::AnswerInit),
            (Challenge, Route::NoSession),
            (Confirm, Route::VerifyConfirm),
            (Accept, Route::NoSession),
            (Stale, Route::NoSession),
            (Packet, Route::AnswerPacket),
            (Reset, Route::NoSession),
        ];
        for (ty, without) in table {
            assert_eq!(route(ty, true), Route::Session, "{ty:?} with a session");
            assert_eq!(route(ty, false), without, "{ty:?} without a session");
        }
    }
}
