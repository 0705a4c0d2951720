//! A small deterministic generator for tags, nonces and secrets.
//!
//! The core never touches an entropy source: the driver supplies a seed (from the OS in
//! production, a constant in tests and the model). SplitMix64 is enough here because
//! unpredictability comes from the seed; with the real crypto suite the seed must be
//! secret and fresh per process start.

/// SplitMix64 state. `Clone + Eq + Hash` so it can live inside model-checked state.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Rng {
    state: u64,
}

impl Rng {
    /// A generator whose whole future output is a function of `seed`.
    pub const fn new(seed: u64) -> Self {
        Rng { state: seed }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A random value that is never zero (zero means "no tag" on the wire).
    pub fn next_nonzero_u64(&mut self) -> u64 {
        loop {
            let v = self.next_u64();
            if v != 0 {
                return v;
            }
        }
    }

    /// Fills `out` with random bytes.
    pub fn fill(&mut self, out: &mut [u8]) {
        for chunk in out.chunks_mut(8) {
            let bytes = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_sequence_different_seed_different_sequence() {
        let (mut a, mut b, mut c) = (Rng::new(7), Rng::new(7), Rng::new(8));
        let xa: [u64; 4] = core::array::from_fn(|_| a.next_u64());
        let xb: [u64; 4] = core::array::from_fn(|_| b.next_u64());
        let xc: [u64; 4] = core::array::from_fn(|_| c.next_u64());
        assert_eq!(xa, xb);
        assert_ne!(xa, xc);
    }

    /// The reference SplitMix64 (Vigna, `splitmix64.c`) from seed 1234567: the generator
    /// is exactly that function, so seeds recorded anywhere reproduce the same tags.
    #[test]
    fn matches_the_reference_splitmix64_sequence() {
        let mut r = Rng::new(1_234_567);
        let got: [u64; 5] = core::array::from_fn(|_| r.next_u64());
        let want = [
            6_457_827_717_110_365_317,
            3_203_168_211_198_807_973,
            9_817_491_932_198_370_423,
            4_593_380_528_125_082_431,
            16_408_922_859_458_223_821,
        ];
        assert_eq!(got, want);
    }

    /// From this seed SplitMix64's first output is 0 (the inverse of the mixer applied to
    /// 0): the non-zero variant skips exactly that value.
    #[test]
    fn nonzero_values_skip_only_zero() {
        const ZERO_FIRST: u64 = 0x61c8_8646_80b5_83eb;
        assert_eq!(Rng::new(ZERO_FIRST).next_u64(), 0);
        assert_eq!(Rng::new(ZERO_FIRST).next_nonzero_u64(), 16_294_208_416_658_607_535);
        assert_eq!(Rng::new(1_234_567).next_nonzero_u64(), 6_457_827_717_110_365_317);
    }

    #[test]
    fn fill_covers_odd_lengths() {
        let mut r = Rng::new(1);
        let mut buf = [0u8; 13];
        r.fill(&mut buf);
        assert!(buf[8..].iter().any(|&b| b != 0));
    }
}
