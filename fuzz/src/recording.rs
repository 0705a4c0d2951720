//! `recording`: flight recordings (`assoc_io::recorder`) from any bytes.
//!
//! Decoding never panics: any bytes are a recording or a typed `RecordingError`. What
//! decodes is replayed through a fresh core with the seeds' PSK: a replay ends in
//! success or a typed `ReplayError` (wrong key, refused config, divergence), never a
//! panic, however the entries were mangled.

use assoc_core::Psk;
use assoc_io::recorder::{self, Recording};

/// The PSK of the seed recordings in `corpus/recording/` (raw bytes).
pub const PSK: &[u8] = b"fuzz-recording-psk-of-32-bytes!!";

/// Runs one input (raw bytes, as libFuzzer hands them over).
pub fn run(data: &[u8]) {
    let rec = match Recording::decode(&[data]) {
        Ok(rec) => rec,
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    let Ok(psk) = Psk::new(PSK) else { return };
    let mut steps = 0u64;
    match recorder::replay(&rec, &psk, None, |step| {
        steps += 1;
        if steps % 64 == 0 {
            let _ = recorder::describe(step.session);
        }
    }) {
        Ok(sum) => assert_eq!(sum.incarnations, rec.incarnations.len(), "every incarnation replayed"),
        Err(e) => {
            let _ = e.to_string();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The seeds are real recordings made with [`PSK`]: they replay identically, so the
    /// fuzzer starts from inputs that reach deep into the replay.
    #[test]
    fn the_seed_recordings_replay_identically() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/recording");
        let psk = Psk::new(PSK).unwrap();
        for name in ["sender-one-incarnation", "receiver-two-incarnations"] {
            let bytes = std::fs::read(dir.join(name)).unwrap();
            let rec = Recording::decode(&[&bytes]).unwrap();
            let sum = recorder::replay(&rec, &psk, None, |_| {}).unwrap();
            assert!(sum.inputs > 5, "{name}: {sum:?}");
        }
    }
}
