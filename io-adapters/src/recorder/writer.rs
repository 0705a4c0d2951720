//! The recorder: appends entries to the recording file through a buffer, hands them to the
//! OS at every flush of the engine, and rotates the file when it reaches its size bound.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use assoc_core::{Config, Input, InputError, Instant, Output, SessionStore};

use super::digest::{result_code, Digest};
use super::format::{self, MAGIC};
use super::RecordOptions;

/// The files of a recording at `path`, oldest first: `path.N` … `path.1` that exist, then
/// `path`.
pub(crate) fn parts(path: &Path) -> Vec<PathBuf> {
    let mut rotated: Vec<PathBuf> = (1..).map(|n| rotated_name(path, n)).take_while(|p| p.exists()).collect();
    rotated.reverse();
    rotated.push(path.to_path_buf());
    rotated
}

fn rotated_name(path: &Path, n: u32) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(format!(".{n}"));
    PathBuf::from(s)
}

/// Records what one engine hands its session. A write failure stops the recording (logged
/// once as an error), never the endpoint.
pub(crate) struct Recorder {
    options: RecordOptions,
    file: Option<File>,
    /// Entries not yet handed to the OS.
    buf: Vec<u8>,
    /// Bytes already in the current file.
    written: u64,
    part: u64,
    last_at: u64,
    digest: Digest,
    outputs: u64,
    /// Inputs since the last drain entry.
    inputs_since_drain: u64,
    failed: bool,
}

impl Recorder {
    /// Opens (or continues) the recording and writes the session's start.
    pub(crate) fn start(
        options: &RecordOptions,
        seed: u64,
        config: &Config,
        store: &SessionStore,
    ) -> std::io::Result<Recorder> {
        let mut file = OpenOptions::new().create(true).read(true).append(true).open(&options.path)?;
        let written = file.metadata()?.len();
        let mut rec = Recorder {
            options: options.clone(),
            file: None,
            buf: Vec::with_capacity(64 * 1024),
            written,
            part: 0,
            last_at: 0,
            digest: Digest::default(),
            outputs: 0,
            inputs_since_drain: 0,
            failed: false,
        };
        if written == 0 {
            rec.buf.extend_from_slice(&format::header(0));
        } else {
            rec.part = current_part(&mut file)?;
        }
        rec.file = Some(file);
        format::start_entry(&mut rec.buf, seed, config, store);
        rec.flush();
        if rec.failed {
            return Err(std::io::Error::other("cannot write the recording's start"));
        }
        Ok(rec)
    }

    /// Records one input and the core's answer to it.
    pub(crate) fn input(
        &mut self,
        at: Instant,
        input: &Input,
        result: &Result<assoc_core::Verdict, InputError>,
    ) {
        if self.failed {
            return;
        }
        let delta = at.as_micros().wrapping_sub(self.last_at);
        self.last_at = at.as_micros();
        if !format::input_entry(&mut self.buf, delta, input, result_code(result)) {
            tracing::warn!(
                "recorder: an input of a kind this build cannot record; the replay will stop there"
            );
        }
        self.inputs_since_drain += 1;
    }

    /// Folds one polled output into the current digest.
    pub(crate) fn output(&mut self, output: &Output) {
        self.digest.add(output);
        self.outputs += 1;
    }

    /// Closes a drain: nothing more to poll; `deadline` is the session's next one.
    pub(crate) fn drained(&mut self, deadline: Option<Instant>) {
        if self.failed || (self.outputs == 0 && self.inputs_since_drain == 0) {
            return;
        }
        self.digest.add(&deadline);
        format::drain_entry(&mut self.buf, self.outputs, self.digest.value(), deadline);
        self.digest = Digest::default();
        self.outputs = 0;
        self.inputs_since_drain = 0;
        if self.buf.len() >= 256 * 1024 {
            self.flush();
        }
    }

    /// Hands buffered entries to the OS (no fsync: a killed process loses nothing written
    /// here), rotating first if the file would pass its bound.
    pub(crate) fn flush(&mut self) {
        if self.failed || self.buf.is_empty() {
            return;
        }
        if let Err(e) = self.write_out() {
            tracing::error!("recorder: writing {} failed, recording stops: {e}", self.options.path.display());
            self.failed = true;
            self.file = None;
        }
    }

    fn write_out(&mut self) -> std::io::Result<()> {
        if self.written > 0 && self.written + self.buf.len() as u64 > self.options.max_file_bytes {
            self.rotate()?;
        }
        let file = self.file.as_mut().ok_or_else(|| std::io::Error::other("no recording file"))?;
        file.write_all(&self.buf)?;
        self.written += self.buf.len() as u64;
        self.buf.clear();
        Ok(())
    }

    /// `path.K-1` → `path.K`, …, `path` → `path.1`; a fresh `path` with the next part number.
    /// Entries keep flowing: a replay reads the parts in order as one stream.
    fn rotate(&mut self) -> std::io::Result<()> {
        let path = &self.options.path;
        let keep = self.options.keep_files;
        if keep == 0 {
            std::fs::remove_file(path)?;
        } else {
            let _ = std::fs::remove_file(rotated_name(path, keep));
            for n in (1..keep).rev() {
                let from = rotated_name(path, n);
                if from.exists() {
                    std::fs::rename(&from, rotated_name(path, n + 1))?;
                }
            }
            std::fs::rename(path, rotated_name(path, 1))?;
        }
        let mut file = OpenOptions::new().create(true).truncate(true).write(true).open(path)?;
        self.part += 1;
        let header = format::header(self.part);
        file.write_all(&header)?;
        self.written = header.len() as u64;
        self.file = Some(file);
        Ok(())
    }
}

/// The part number in the header of an existing recording file.
fn current_part(file: &mut File) -> std::io::Result<u64> {
    let mut head = [0u8; 32];
    let mut n = 0;
    use std::io::Seek;
    file.seek(std::io::SeekFrom::Start(0))?;
    while n < head.len() {
        let k = file.read(&mut head[n..])?;
        if k == 0 {
            break;
        }
        n += k;
    }
    let bad = || std::io::Error::other("the recording file exists but is not a recording");
    if n < MAGIC.len() + 2 || &head[..MAGIC.len()] != MAGIC {
        return Err(bad());
    }
    let mut i = super::bytes::In::new(&head[MAGIC.len() + 1..n]);
    i.var("part").map_err(|_| bad())
}
