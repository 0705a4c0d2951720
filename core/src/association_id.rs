//! Which association: the one identity type the session, the handshake, the endpoint and
//! the model checker share.

/// Which association: its epoch, both sides' tags and which side opened it.
///
/// The tags and the epoch are what a PDU's header carries (`dst_tag` is the receiver's
/// `local_tag`), so they alone address an association on the wire; the role says which side
/// sent INIT. The two sides of one association hold mirrored identities
/// ([`AssociationId::mirrors`]). Ordered by epoch first: a later association of a session
/// has a higher epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AssociationId {
    /// Its epoch.
    pub epoch: u64,
    /// This side's tag (the peer puts it in `dst_tag`).
    pub local_tag: u64,
    /// The peer's tag.
    pub peer_tag: u64,
    /// Which side opened it.
    pub role: Role,
}

impl AssociationId {
    /// Whether `other` is the peer's view of this same association: same epoch, the tags
    /// swapped, the other role.
    pub fn mirrors(&self, other: &AssociationId) -> bool {
        self.epoch == other.epoch
            && self.local_tag == other.peer_tag
            && self.peer_tag == other.local_tag
            && self.role != other.role
    }
}

/// Which side opened an association.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// This side sent INIT.
    Initiator,
    /// The peer sent INIT.
    Responder,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_peers_view_of_the_same_association_mirrors_it() {
        let a = AssociationId { epoch: 3, local_tag: 1, peer_tag: 2, role: Role::Initiator };
        let b = AssociationId { epoch: 3, local_tag: 2, peer_tag: 1, role: Role::Responder };
        assert!(a.mirrors(&b) && b.mirrors(&a));
        assert!(!a.mirrors(&a), "one side's own view");
        assert!(!a.mirrors(&AssociationId { epoch: 4, ..b }), "another epoch");
        assert!(!a.mirrors(&AssociationId { role: Role::Initiator, ..b }), "the same role");
        assert!(!a.mirrors(&AssociationId { local_tag: 9, ..b }), "another tag");
    }
}
