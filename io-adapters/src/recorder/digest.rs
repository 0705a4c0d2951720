//! The output digest: a fast, deterministic 64-bit hash of what the core produced.
//!
//! Not cryptographic: it only has to tell a replay that diverged from the run it replays,
//! on the same build (integers are hashed in native byte order).

use std::hash::{Hash, Hasher};

/// Multiplier of the FxHash family: one rotate, xor and multiply per 8-byte word.
const K: u64 = 0x517c_c1b7_2722_0a95;

/// A running digest; feed it with [`Digest::add`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Digest(u64);

impl Digest {
    /// Folds one hashable value in.
    pub fn add<T: Hash + ?Sized>(&mut self, value: &T) {
        value.hash(self);
    }

    /// The digest so far.
    pub fn value(&self) -> u64 {
        self.0
    }

    fn mix(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(K);
    }
}

impl Hasher for Digest {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.mix(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.mix(u64::from_le_bytes(w) ^ (rest.len() as u64) << 59);
        }
    }

    fn write_u64(&mut self, v: u64) {
        self.mix(v);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// A short code for the result of one input: 0 for `Ok(Verdict::Accepted)`, otherwise a
/// nonzero hash of the verdict or the refusal (so a replay that answers, drops or refuses
/// differently, or not at all, shows at that input).
pub(crate) fn result_code<E: std::fmt::Debug>(result: &Result<assoc_core::Verdict, E>) -> u64 {
    match result {
        Ok(assoc_core::Verdict::Accepted) => 0,
        other => {
            let mut d = Digest::default();
            d.add(format!("{other:?}").as_str());
            d.value() | 1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_values_agree_and_any_byte_changes_the_digest() {
        let base: Vec<u8> = (0..37u8).collect();
        let of = |b: &[u8]| {
            let mut d = Digest::default();
            d.add(b);
            d.value()
        };
        assert_eq!(of(&base), of(&base.clone()));
        for i in 0..base.len() {
            let mut changed = base.clone();
            changed[i] ^= 1;
            assert_ne!(of(&base), of(&changed), "byte {i}");
        }
        assert_ne!(of(&base[..36]), of(&base), "a shorter input differs");
    }

    #[test]
    fn results_code_to_zero_only_when_accepted() {
        use assoc_core::{DropReason, Verdict};
        assert_eq!(result_code::<u8>(&Ok(Verdict::Accepted)), 0);
        assert_ne!(result_code::<u8>(&Ok(Verdict::Answered)), 0);
        let dropped = |r| result_code::<u8>(&Ok(Verdict::Dropped(r)));
        assert_ne!(dropped(DropReason::Stale), dropped(DropReason::BadAuth), "drops differ by reason");
        assert_ne!(result_code(&Err(3u8)), 0);
        assert_ne!(result_code(&Err(3u8)), result_code(&Err(4u8)));
    }
}
