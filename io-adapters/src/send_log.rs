//! Send failures made visible: a datagram the kernel refuses (an IPv4 socket sending to an
//! IPv6 address, an unreachable network) is otherwise only a counter, and a transfer that
//! sends nothing looks exactly like a silent peer.

use std::io::ErrorKind;
use std::net::SocketAddr;

/// Remembers which kinds of send error were already reported: the first of each kind is a
/// warning, repeats are debug lines. A full socket buffer (`WouldBlock`) is never a warning.
#[derive(Debug, Default)]
pub(crate) struct SendLog {
    warned: Vec<ErrorKind>,
}

impl SendLog {
    /// Reports that sending a datagram to `to` failed with `error`.
    pub(crate) fn failed(&mut self, to: SocketAddr, error: &std::io::Error) {
        let kind = error.kind();
        if kind == ErrorKind::WouldBlock || self.warned.contains(&kind) {
            tracing::debug!(%to, "cannot send: {error}");
        } else {
            self.warned.push(kind);
            tracing::warn!(%to, "cannot send: {error} (further errors of this kind are logged at debug level)");
        }
    }
}
