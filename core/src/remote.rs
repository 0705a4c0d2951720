//! Where a datagram came from and where one goes: the driver's handle for the other end,
//! opaque to the core.
//!
//! The core never interprets a [`Remote`]; it only compares them, remembers the peer's
//! current one, and names one in every [`Transmit`](crate::Transmit). A UDP driver passes
//! the source address, a TCP driver the id of the connection a frame arrived on, the model
//! checker a node index (`Conn(i)`). Which remote is the peer's is a protocol decision
//! (`PROTOCOL.md`, "Remotes and address validation"): it moves only on a PDU that proved
//! the key.

use core::net::{IpAddr, SocketAddr};

/// The other end of one datagram, as the driver names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Remote {
    /// A network address (connectionless bearers: UDP).
    Addr(SocketAddr),
    /// A driver-chosen connection or node id (TCP connections, the model's nodes).
    Conn(u64),
}

impl Remote {
    /// The key per-source limits charge: the IP address for [`Remote::Addr`] (a port is
    /// free to choose, an address is not), the connection itself for [`Remote::Conn`].
    pub fn source(self) -> Source {
        match self {
            Remote::Addr(a) => Source::Ip(a.ip()),
            Remote::Conn(c) => Source::Conn(c),
        }
    }
}

impl From<SocketAddr> for Remote {
    fn from(addr: SocketAddr) -> Self {
        Remote::Addr(addr)
    }
}

/// What per-source limits key on ([`Remote::source`]): all ports of one IP address share a
/// budget.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Source {
    /// Every remote at this IP address.
    Ip(IpAddr),
    /// One connection or node.
    Conn(u64),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_of_one_address_share_a_source_connections_do_not() {
        let a: SocketAddr = "10.0.0.1:7400".parse().unwrap();
        let b: SocketAddr = "10.0.0.1:9999".parse().unwrap();
        let c: SocketAddr = "10.0.0.2:7400".parse().unwrap();
        assert_eq!(Remote::Addr(a).source(), Remote::Addr(b).source());
        assert_ne!(Remote::Addr(a).source(), Remote::Addr(c).source());
        assert_ne!(Remote::Conn(1).source(), Remote::Conn(2).source());
        assert_ne!(Remote::Addr(a), Remote::Addr(b), "the remote itself keeps the port");
    }
}
