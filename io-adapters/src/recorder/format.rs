//! The recording format, version 2 (version 1 had no remotes).
//!
//! A recording is one or more files (the current one and its rotated predecessors). Each
//! file starts with a header — the magic `ASSOCREC`, the format version (one byte) and the
//! file's part number (varint; consecutive across rotations) — followed by entries:
//!
//! ```text
//! entry  = tag:u8  len:varint  payload[len]
//! Start  (1) = seed:u64le  psk_fingerprint:u64le  config:blob  store…   a session (re)started
//! Input  (2) = at_delta:varint  result:varint  kind:u8  body…           one input handed to the core
//!
//! remote = 0 ip:4 port:u16le | 1 ip:16 port:u16le flowinfo:varint scope:varint | 2 conn:varint
//! Datagram body = remote bytes…;  LinkUp body = 0 | 1 remote
//! Drain  (3) = outputs:varint  digest:u64le  deadline:opt-varint        outputs drained until none
//! ```
//!
//! `at_delta` is the input's time in microseconds minus the previous input's, modulo 2^64
//! (the first input after a `Start` counts from zero; the running time carries across
//! rotated parts, so a part whose incarnation started in a part rotated away is skipped). `result` is 0 when
//! the core accepted the input, else a hash of its verdict or refusal. A `Drain`'s digest covers every
//! output polled since the previous drain and the deadline after it; replay recomputes it.
//! Integers in digests are hashed in native byte order: replay on the build that recorded.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

use assoc_core::{Ack, Config, Input, Instant, MessageId, Priority, Psk, Remote, SessionStore, Submission};

use super::bytes::{In, Malformed, Out};
use super::{config, snapshot};

/// The file magic.
pub const MAGIC: &[u8; 8] = b"ASSOCREC";
/// The format version this build writes and reads.
pub const VERSION: u8 = 2;

const TAG_START: u8 = 1;
const TAG_INPUT: u8 = 2;
const TAG_DRAIN: u8 = 3;

/// A recording that cannot be read. Never a panic, whatever the bytes.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RecordingError {
    /// A recording file could not be read.
    #[error("cannot read {path}: {error}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        error: std::io::Error,
    },
    /// The file does not start with the recording magic.
    #[error("not a recording (bad magic) in part {part}")]
    BadMagic {
        /// Which file of the recording, 0 = the oldest read.
        part: usize,
    },
    /// A format version this build does not read.
    #[error("recording format version {found} is not supported (this build reads {VERSION})")]
    UnsupportedVersion {
        /// The version found.
        found: u8,
    },
    /// The file ends inside an entry: the run stopped mid-write or the file was cut.
    #[error("recording truncated at byte {offset} of part {part} (inside {what})")]
    Truncated {
        /// Which file of the recording, 0 = the oldest read.
        part: usize,
        /// Where the incomplete entry starts.
        offset: usize,
        /// What was being read.
        what: &'static str,
    },
    /// An entry that does not decode.
    #[error("corrupt recording at byte {offset} of part {part}: bad {what}")]
    Corrupt {
        /// Which file of the recording, 0 = the oldest read.
        part: usize,
        /// Where the entry starts.
        offset: usize,
        /// What was bad.
        what: &'static str,
    },
    /// Rotated files are missing between two that were read.
    #[error("recording parts are not consecutive: part {found} follows part {after}")]
    Gap {
        /// The previous file's part number.
        after: u64,
        /// The next file's part number.
        found: u64,
    },
    /// No session start is left in the recording (rotated away): nothing to replay from.
    #[error("the recording holds no session start (the oldest part was rotated away?)")]
    NoStart,
}

/// How a session (re)started: enough to rebuild it exactly, except the PSK.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Start {
    /// The seed given to `Session::restore`.
    pub seed: u64,
    /// A fingerprint of the PSK (see [`super::Replayer`]).
    pub psk_fingerprint: u64,
    /// The configuration without its PSK, encoded; see [`Start::config`].
    config: Vec<u8>,
    /// The store the session was restored from.
    pub store: SessionStore,
}

impl Start {
    /// The configuration, completed with `psk`.
    pub fn config(&self, psk: Psk) -> Result<Config, RecordingError> {
        config::decode(&mut In::new(&self.config), psk).map_err(|Malformed(what)| RecordingError::Corrupt {
            part: 0,
            offset: 0,
            what,
        })
    }
}

/// One entry after a [`Start`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Entry {
    /// An input handed to the core.
    Input {
        /// The time given with it.
        at: Instant,
        /// The input.
        input: Input,
        /// 0 if the core accepted it, else a hash of the refusal.
        result: u64,
    },
    /// Every output was polled until `Output::Wait`.
    Drain {
        /// How many outputs were polled.
        outputs: u64,
        /// Their digest, with the deadline.
        digest: u64,
        /// The deadline the drain ended with (its `Output::Wait`, not counted in `outputs`).
        deadline: Option<Instant>,
    },
}

/// One session incarnation: its start and everything recorded after it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Incarnation {
    /// How it started.
    pub start: Start,
    /// Inputs and drains, in order.
    pub entries: Vec<Entry>,
}

/// A whole recording, decoded.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Recording {
    /// Incarnations in order.
    pub incarnations: Vec<Incarnation>,
    /// Entries before the first start still in the recording (its start was rotated away).
    pub orphaned: usize,
}

/// The bytes of a file header for `part`.
pub(crate) fn header(part: u64) -> Vec<u8> {
    let mut o = Out(MAGIC.to_vec());
    o.u8(VERSION);
    o.var(part);
    o.0
}

/// Appends one framed entry to `out`: the tag, the payload's length, the payload written by
/// `payload` in place (then shifted by the few bytes of its length: no scratch buffer).
fn entry(out: &mut Vec<u8>, tag: u8, payload: impl FnOnce(&mut Out)) {
    let mut o = Out(std::mem::take(out));
    o.u8(tag);
    let body = o.0.len();
    payload(&mut o);
    let (len, n) = super::bytes::var_bytes((o.0.len() - body) as u64);
    o.0.splice(body..body, len[..n].iter().copied());
    *out = o.0;
}

/// Encodes a `Start` entry.
pub(crate) fn start_entry(out: &mut Vec<u8>, seed: u64, cfg: &Config, store: &SessionStore) {
    entry(out, TAG_START, |p| {
        p.fixed(seed);
        p.fixed(config::psk_fingerprint(&cfg.psk));
        let mut c = Out::default();
        config::encode(cfg, &mut c);
        p.blob(&c.0);
        snapshot::encode_store(store, p);
    });
}

/// Encodes an `Input` entry; `false` if this input kind is unknown to the format.
pub(crate) fn input_entry(out: &mut Vec<u8>, at_delta: u64, input: &Input, result: u64) -> bool {
    let mut known = false;
    entry(out, TAG_INPUT, |p| {
        p.var(at_delta);
        p.var(result);
        known = encode_input(input, p);
    });
    known
}

/// Encodes a `Drain` entry.
pub(crate) fn drain_entry(out: &mut Vec<u8>, outputs: u64, digest: u64, deadline: Option<Instant>) {
    entry(out, TAG_DRAIN, |p| {
        p.var(outputs);
        p.fixed(digest);
        p.opt(deadline.map(Instant::as_micros));
    });
}

const KIND_UNKNOWN: u8 = 255;

fn encode_input(input: &Input, p: &mut Out) -> bool {
    match input {
        Input::Datagram { from, datagram } => {
            p.u8(0);
            encode_remote(*from, p);
            p.0.extend_from_slice(datagram);
        }
        Input::Timeout => p.u8(1),
        Input::Persisted { upto } => {
            p.u8(2);
            p.var(*upto);
        }
        Input::LinkUp { peer } => {
            p.u8(3);
            match peer {
                None => p.u8(0),
                Some(r) => {
                    p.u8(1);
                    encode_remote(*r, p);
                }
            }
        }
        Input::LinkDown => p.u8(4),
        Input::DialFailed => p.u8(5),
        Input::Open => p.u8(6),
        Input::Release => p.u8(7),
        Input::Abort => p.u8(8),
        Input::Submit(s) => {
            p.u8(9);
            p.var(s.app_id);
            p.u8(s.priority as u8);
            p.opt(s.deadline.map(Instant::as_micros));
            p.0.extend_from_slice(&s.bytes);
        }
        Input::Cancel(id) => {
            p.u8(10);
            p.var(id.0);
        }
        Input::Acknowledge(Ack::Delivery(msn)) => {
            p.u8(11);
            p.var(*msn);
        }
        Input::Acknowledge(Ack::Outcome(id)) => {
            p.u8(12);
            p.var(id.0);
        }
        _ => {
            p.u8(KIND_UNKNOWN);
            return false;
        }
    }
    true
}

fn encode_remote(r: Remote, p: &mut Out) {
    match r {
        Remote::Addr(SocketAddr::V4(a)) => {
            p.u8(0);
            p.0.extend_from_slice(&a.ip().octets());
            p.0.extend_from_slice(&a.port().to_le_bytes());
        }
        Remote::Addr(SocketAddr::V6(a)) => {
            p.u8(1);
            p.0.extend_from_slice(&a.ip().octets());
            p.0.extend_from_slice(&a.port().to_le_bytes());
            p.var(a.flowinfo().into());
            p.var(a.scope_id().into());
        }
        Remote::Conn(c) => {
            p.u8(2);
            p.var(c);
        }
    }
}

fn decode_remote(i: &mut In<'_>) -> Result<Remote, Malformed> {
    let port = |i: &mut In<'_>| -> Result<u16, Malformed> {
        let b = i.take(2, "remote port")?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    };
    Ok(match i.u8("remote")? {
        0 => {
            let ip: [u8; 4] =
                i.take(4, "remote address")?.try_into().map_err(|_| Malformed("remote address"))?;
            Remote::Addr(SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::from(ip), port(i)?)))
        }
        1 => {
            let ip: [u8; 16] =
                i.take(16, "remote address")?.try_into().map_err(|_| Malformed("remote address"))?;
            let port = port(i)?;
            let flow = i.var_u32("remote flowinfo")?;
            let scope = i.var_u32("remote scope")?;
            Remote::Addr(SocketAddr::V6(SocketAddrV6::new(Ipv6Addr::from(ip), port, flow, scope)))
        }
        2 => Remote::Conn(i.var("remote connection")?),
        _ => return Err(Malformed("remote")),
    })
}

fn decode_input(i: &mut In<'_>) -> Result<Input, Malformed> {
    let rest = |i: &mut In<'_>| bytes::Bytes::copy_from_slice(std::mem::take(&mut i.buf));
    Ok(match i.u8("input kind")? {
        0 => {
            let from = decode_remote(i)?;
            Input::Datagram { from, datagram: rest(i) }
        }
        1 => Input::Timeout,
        2 => Input::Persisted { upto: i.var("persisted")? },
        3 => Input::LinkUp {
            peer: match i.u8("link up")? {
                0 => None,
                1 => Some(decode_remote(i)?),
                _ => return Err(Malformed("link up")),
            },
        },
        4 => Input::LinkDown,
        5 => Input::DialFailed,
        6 => Input::Open,
        7 => Input::Release,
        8 => Input::Abort,
        9 => {
            let app_id = i.var("submission")?;
            let priority = match i.u8("priority")? {
                0 => Priority::Urgent,
                1 => Priority::Normal,
                2 => Priority::NonUrgent,
                _ => return Err(Malformed("priority")),
            };
            let deadline = i.opt("deadline")?.map(Instant::from_micros);
            Input::Submit(Submission { app_id, priority, deadline, bytes: rest(i) })
        }
        10 => Input::Cancel(MessageId(i.var("cancel")?)),
        11 => Input::Acknowledge(Ack::Delivery(i.var("acknowledged delivery")?)),
        12 => Input::Acknowledge(Ack::Outcome(MessageId(i.var("acknowledged outcome")?))),
        KIND_UNKNOWN => return Err(Malformed("input (a kind this build could not record)")),
        _ => return Err(Malformed("input kind")),
    })
}

/// Decodes one file's bytes: its part number and its entries (starts interleaved).
/// `last_at` is the running input time, carried from the previous part.
pub(crate) fn decode_file(
    buf: &[u8],
    part: usize,
    last_at: &mut u64,
) -> Result<(u64, Vec<Item>), RecordingError> {
    if buf.len() < MAGIC.len() || &buf[..MAGIC.len()] != MAGIC {
        return Err(RecordingError::BadMagic { part });
    }
    let mut i = In::new(&buf[MAGIC.len()..]);
    let truncated = |offset, what| RecordingError::Truncated { part, offset, what };
    let version = i.u8("header").map_err(|_| truncated(MAGIC.len(), "header"))?;
    if version != VERSION {
        return Err(RecordingError::UnsupportedVersion { found: version });
    }
    let number = i.var("header").map_err(|_| truncated(MAGIC.len(), "header"))?;
    let mut items = Vec::new();
    while !i.buf.is_empty() {
        let offset = buf.len() - i.buf.len();
        let tag = i.u8("entry").map_err(|_| truncated(offset, "entry"))?;
        let payload = i.blob("entry").map_err(|_| truncated(offset, "entry"))?;
        let corrupt = |Malformed(what)| RecordingError::Corrupt { part, offset, what };
        let mut p = In::new(payload);
        let item = match tag {
            TAG_START => {
                *last_at = 0;
                Item::Start(decode_start(&mut p).map_err(corrupt)?)
            }
            TAG_INPUT => {
                let delta = p.var("input time").map_err(corrupt)?;
                let result = p.var("input result").map_err(corrupt)?;
                let input = decode_input(&mut p).map_err(corrupt)?;
                *last_at = last_at.wrapping_add(delta);
                Item::Entry(Entry::Input { at: Instant::from_micros(*last_at), input, result })
            }
            TAG_DRAIN => {
                let outputs = p.var("drain").map_err(corrupt)?;
                let digest = p.fixed("drain").map_err(corrupt)?;
                let deadline = p.opt("drain").map_err(corrupt)?.map(Instant::from_micros);
                p.end("drain").map_err(corrupt)?;
                Item::Entry(Entry::Drain { outputs, digest, deadline })
            }
            _ => return Err(corrupt(Malformed("entry tag"))),
        };
        items.push(item);
    }
    Ok((number, items))
}

fn decode_start(p: &mut In<'_>) -> Result<Start, Malformed> {
    let seed = p.fixed("seed")?;
    let psk_fingerprint = p.fixed("psk fingerprint")?;
    let config = p.blob("config")?.to_vec();
    // Check the configuration decodes now (with a stand-in key), so a bad one is reported
    // as corruption at its entry rather than later.
    let stand_in = Psk::new(&[0; 16]).map_err(|_| Malformed("config"))?;
    config::decode(&mut In::new(&config), stand_in)?;
    let store = snapshot::decode_store(p)?;
    p.end("start")?;
    Ok(Start { seed, psk_fingerprint, config, store })
}

/// A decoded item of one file.
pub(crate) enum Item {
    Start(Start),
    Entry(Entry),
}

impl Recording {
    /// Decodes recording files given oldest first (each a whole file's bytes).
    pub fn decode<B: AsRef<[u8]>>(files: &[B]) -> Result<Recording, RecordingError> {
        let mut rec = Recording::default();
        let mut previous: Option<u64> = None;
        let mut last_at = 0;
        for (part, buf) in files.iter().enumerate() {
            let (number, items) = decode_file(buf.as_ref(), part, &mut last_at)?;
            if let Some(after) = previous {
                if after.checked_add(1) != Some(number) {
                    return Err(RecordingError::Gap { after, found: number });
                }
            }
            previous = Some(number);
            for item in items {
                match (item, rec.incarnations.last_mut()) {
                    (Item::Start(start), _) => {
                        rec.incarnations.push(Incarnation { start, entries: Vec::new() })
                    }
                    (Item::Entry(e), Some(inc)) => inc.entries.push(e),
                    (Item::Entry(_), None) => rec.orphaned += 1,
                }
            }
        }
        if rec.incarnations.is_empty() {
            return Err(RecordingError::NoStart);
        }
        Ok(rec)
    }

    /// Reads the recording at `path`: its rotated parts (`path.N` … `path.1`, oldest first)
    /// that exist, then `path` itself.
    pub fn open(path: &std::path::Path) -> Result<Recording, RecordingError> {
        let mut files = Vec::new();
        for p in super::writer::parts(path) {
            let bytes = std::fs::read(&p)
                .map_err(|error| RecordingError::Io { path: p.display().to_string(), error })?;
            files.push(bytes);
        }
        Recording::decode(&files)
    }
}
