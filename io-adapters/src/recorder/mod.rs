//! The flight recorder: every input a driver hands its session, with its time, the seed,
//! the configuration (without the PSK) and the restored store, in a compact, versioned,
//! append-only file bounded by size with rotation — and [`replay`], which re-runs a
//! recording through a fresh core and checks every output against the run's digests.
//!
//! Off by default; switched on per endpoint with [`Options::record`](crate::Options::record)
//! (CLI: `--record FILE`). The hook is the engine both drivers share, so the std and tokio
//! drivers record the same way. Entries reach the OS at every engine flush (one `write`,
//! no `fsync`), so a killed process leaves a complete recording up to its last flush.
//!
//! The format is described in [`format`](mod@format); the recording holds no key material (a PSK
//! fingerprint only), but it does hold message contents: treat it like the store.

mod bytes;
mod config;
mod digest;
pub mod format;
mod replay;
mod snapshot;
mod writer;

use std::path::PathBuf;

pub use digest::Digest;
pub use format::{Entry, Incarnation, Recording, RecordingError, Start};
pub use replay::{describe, input_of, redigest, replay, Divergence, ReplayError, Replayer, Step, Summary};
pub(crate) use writer::Recorder;

/// Where and how much to record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordOptions {
    /// The recording file (appended to; rotated parts are `path.1`, `path.2`, …).
    pub path: PathBuf,
    /// Rotate when the current file would grow past this many bytes.
    pub max_file_bytes: u64,
    /// Rotated parts kept besides the current file (older ones are deleted).
    pub keep_files: u32,
}

impl RecordOptions {
    /// Recording to `path`, 64 MiB per file, 4 rotated parts kept (at most 320 MiB).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        RecordOptions { path: path.into(), max_file_bytes: 64 * 1024 * 1024, keep_files: 4 }
    }
}

/// Reads a PSK file as `assoc serve`/`send` do: 32 or more hex digits are a hex key;
/// anything else is the key's raw bytes. Surrounding whitespace is ignored.
pub fn read_psk_file(path: &std::path::Path) -> Result<assoc_core::Psk, String> {
    let raw = std::fs::read(path).map_err(|e| format!("cannot read the PSK file {}: {e}", path.display()))?;
    let trimmed = raw.trim_ascii();
    let hex = std::str::from_utf8(trimmed)
        .ok()
        .filter(|t| t.len() >= 32 && t.bytes().all(|b| b.is_ascii_hexdigit()));
    match hex {
        Some(text) => assoc_core::Psk::from_hex(text),
        None => assoc_core::Psk::new(trimmed),
    }
    .map_err(|e| format!("{}: {e}", path.display()))
}
