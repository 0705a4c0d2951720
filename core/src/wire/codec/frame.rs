//! PACKET frames and the summary (a frame, and part of CONFIRM and ACCEPT).

use crate::wire::{
    AbortReason, CloseReason, DataFrame, DecodeError, FirstSegment, Frame, PartialEntry, PnRange, Priority,
    RejectReason, Resolution, ResolvedEntry, Summary, MAX_ACK_RANGES, MAX_SUMMARY_ENTRIES,
};
use alloc::vec::Vec;
use bytes::{BufMut, BytesMut};

use super::reader::{out_of_range, Reader};

/// Most frames one PACKET may carry.
pub(super) const MAX_FRAMES: usize = 1024;

/// Encoded length of an empty [`Summary`].
const SUMMARY_FIXED: usize = 8 + 2 + 2;
/// Encoded length of one [`PartialEntry`].
const PARTIAL_ENTRY_LEN: usize = 8 + 8;

// Frame type codes.
const FRAME_PING: u8 = 1;
const FRAME_ACK: u8 = 2;
const FRAME_SUMMARY: u8 = 3;
const FRAME_DATA: u8 = 4;
const FRAME_CANCEL: u8 = 5;
const FRAME_RESOLVED: u8 = 6;
const FRAME_REJECT: u8 = 7;
const FRAME_CLOSE: u8 = 8;
const FRAME_CLOSE_ACK: u8 = 9;
const FRAME_ABORT: u8 = 10;

// DATA flag bits.
const DATA_FIN: u8 = 0x01;
const DATA_FIRST: u8 = 0x02;

// Resolution codes.
const RES_DELIVERED: u8 = 1;
const RES_CANCELLED: u8 = 2;
const RES_REJECTED: u8 = 3;

impl Frame {
    /// The exact number of bytes this frame occupies inside a PACKET body.
    pub fn encoded_len(&self) -> usize {
        1 + match self {
            Frame::Ping | Frame::CloseAck => 0,
            Frame::Ack { ranges, .. } => 8 + 2 + 16 * ranges.len(),
            Frame::Summary(s) => s.encoded_len(),
            Frame::Data(d) => 8 + 8 + 1 + if d.first.is_some() { 8 + 1 + 8 } else { 0 } + 4 + d.bytes.len(),
            Frame::Cancel { .. } => 8,
            Frame::Resolved { resolution, .. } => 8 + resolution_len(resolution),
            Frame::Reject { .. } => 8 + 1,
            Frame::Close { .. } | Frame::Abort { .. } => 1,
        }
    }

    /// Checks the rules of `PROTOCOL.md` that a typed frame can break (ACK range order and
    /// count, DATA segment rules, summary rules).
    pub fn check(&self) -> Result<(), DecodeError> {
        match self {
            Frame::Ack { ranges, .. } => check_ack_ranges(ranges),
            Frame::Summary(s) => s.check(),
            Frame::Data(d) => check_data(d),
            Frame::Ping
            | Frame::Cancel { .. }
            | Frame::Resolved { .. }
            | Frame::Reject { .. }
            | Frame::Close { .. }
            | Frame::CloseAck
            | Frame::Abort { .. } => Ok(()),
        }
    }
}

impl Summary {
    /// The exact number of bytes this summary occupies on the wire.
    pub fn encoded_len(&self) -> usize {
        SUMMARY_FIXED
            + self.resolved.iter().map(|e| 8 + resolution_len(&e.resolution)).sum::<usize>()
            + PARTIAL_ENTRY_LEN * self.partial.len()
    }

    /// Checks the summary rules of `PROTOCOL.md`:
    ///
    /// - each list has at most [`MAX_SUMMARY_ENTRIES`] entries, strictly ascending by msn;
    /// - a `resolved` entry below `resolved_below` is not `Delivered` (those are implied by
    ///   the watermark; only non-delivered outcomes are repeated below it);
    /// - every `partial` entry is at or above `resolved_below` and not also in `resolved`.
    pub fn check(&self) -> Result<(), DecodeError> {
        if self.resolved.len() > MAX_SUMMARY_ENTRIES {
            return Err(out_of_range("summary.n_resolved"));
        }
        if self.partial.len() > MAX_SUMMARY_ENTRIES {
            return Err(out_of_range("summary.n_partial"));
        }
        let mut prev: Option<u64> = None;
        for e in &self.resolved {
            if prev.is_some_and(|p| e.msn <= p) {
                return Err(out_of_range("summary.resolved.msn"));
            }
            if e.msn < self.resolved_below && e.resolution == Resolution::Delivered {
                return Err(out_of_range("summary.resolved.resolution"));
            }
            prev = Some(e.msn);
        }
        let mut prev: Option<u64> = None;
        let mut resolved = self.resolved.iter().map(|e| e.msn).peekable();
        for e in &self.partial {
            if e.msn < self.resolved_below || prev.is_some_and(|p| e.msn <= p) {
                return Err(out_of_range("summary.partial.msn"));
            }
            // Both lists ascend: skip resolved msns below this one, then compare.
            while resolved.next_if(|&m| m < e.msn).is_some() {}
            if resolved.peek() == Some(&e.msn) {
                return Err(out_of_range("summary.partial.msn"));
            }
            prev = Some(e.msn);
        }
        Ok(())
    }
}

fn check_ack_ranges(ranges: &[PnRange]) -> Result<(), DecodeError> {
    if ranges.is_empty() || ranges.len() > MAX_ACK_RANGES {
        return Err(out_of_range("ack.n_ranges"));
    }
    let mut prev: Option<&PnRange> = None;
    for range in ranges {
        if range.smallest > range.largest {
            return Err(out_of_range("ack.smallest"));
        }
        if let Some(prev) = prev {
            // Descending with a gap of at least one pn: largest + 1 < prev.smallest.
            match range.largest.checked_add(1) {
                Some(next) if next < prev.smallest => {}
                _ => return Err(out_of_range("ack.largest")),
            }
        }
        prev = Some(range);
    }
    Ok(())
}

fn check_data(d: &DataFrame) -> Result<(), DecodeError> {
    if d.first.is_some() != (d.offset == 0) {
        return Err(out_of_range("data.first"));
    }
    let len = u32::try_from(d.bytes.len()).map_err(|_| out_of_range("data.len"))?;
    let len = u64::from(len);
    if d.offset.checked_add(len).is_none() {
        return Err(out_of_range("data.len"));
    }
    if let Some(first) = &d.first {
        // offset == 0 here, so the segment is bytes 0..len; it ends the message iff fin.
        if len > first.total_len || d.fin != (len == first.total_len) {
            return Err(out_of_range("data.len"));
        }
    }
    Ok(())
}

fn get_reject_reason(r: &mut Reader<'_>, field: &'static str) -> Result<RejectReason, DecodeError> {
    match r.u8(field)? {
        1 => Ok(RejectReason::TooLarge),
        2 => Ok(RejectReason::Refused),
        3 => Ok(RejectReason::Expired),
        _ => Err(out_of_range(field)),
    }
}

fn get_resolution(r: &mut Reader<'_>, field: &'static str) -> Result<Resolution, DecodeError> {
    match r.u8(field)? {
        RES_DELIVERED => Ok(Resolution::Delivered),
        RES_CANCELLED => Ok(Resolution::Cancelled),
        RES_REJECTED => Ok(Resolution::Rejected(get_reject_reason(r, field)?)),
        _ => Err(out_of_range(field)),
    }
}

fn get_priority(r: &mut Reader<'_>) -> Result<Priority, DecodeError> {
    match r.u8("data.priority")? {
        0 => Ok(Priority::Urgent),
        1 => Ok(Priority::Normal),
        2 => Ok(Priority::NonUrgent),
        _ => Err(out_of_range("data.priority")),
    }
}

fn get_close_reason(r: &mut Reader<'_>) -> Result<CloseReason, DecodeError> {
    match r.u8("close.reason")? {
        1 => Ok(CloseReason::Idle),
        2 => Ok(CloseReason::Requested),
        3 => Ok(CloseReason::Shutdown),
        _ => Err(out_of_range("close.reason")),
    }
}

fn get_abort_reason(r: &mut Reader<'_>) -> Result<AbortReason, DecodeError> {
    match r.u8("abort.reason")? {
        1 => Ok(AbortReason::Requested),
        2 => Ok(AbortReason::RetransmitsExhausted),
        3 => Ok(AbortReason::ProtocolViolation),
        4 => Ok(AbortReason::ResourceLimit),
        _ => Err(out_of_range("abort.reason")),
    }
}

/// Reads a list count and checks it against `max`.
fn get_count(r: &mut Reader<'_>, field: &'static str, min: usize, max: usize) -> Result<usize, DecodeError> {
    let n = usize::from(r.u16(field)?);
    if n < min || n > max {
        return Err(out_of_range(field));
    }
    Ok(n)
}

/// Capacity for a list of `n` entries of at least `min_entry_len` bytes each, bounded by
/// what the input can possibly hold so a lying count cannot make us allocate.
fn capacity(r: &Reader<'_>, n: usize, min_entry_len: usize) -> usize {
    n.min(r.remaining() / min_entry_len.max(1))
}

pub(super) fn get_summary(r: &mut Reader<'_>) -> Result<Summary, DecodeError> {
    let resolved_below = r.u64("summary.resolved_below")?;
    let n = get_count(r, "summary.n_resolved", 0, MAX_SUMMARY_ENTRIES)?;
    let mut resolved = Vec::with_capacity(capacity(r, n, 9));
    for _ in 0..n {
        let msn = r.u64("summary.resolved.msn")?;
        let resolution = get_resolution(r, "summary.resolved.resolution")?;
        resolved.push(ResolvedEntry { msn, resolution });
    }
    let n = get_count(r, "summary.n_partial", 0, MAX_SUMMARY_ENTRIES)?;
    let mut partial = Vec::with_capacity(capacity(r, n, PARTIAL_ENTRY_LEN));
    for _ in 0..n {
        let msn = r.u64("summary.partial.msn")?;
        let durable = r.u64("summary.partial.durable")?;
        partial.push(PartialEntry { msn, durable });
    }
    Ok(Summary { resolved_below, resolved, partial })
}

pub(super) fn get_frames(r: &mut Reader<'_>) -> Result<Vec<Frame>, DecodeError> {
    let n = get_count(r, "packet.frame_count", 1, MAX_FRAMES)?;
    let mut frames = Vec::with_capacity(capacity(r, n, 1));
    for _ in 0..n {
        frames.push(get_frame(r)?);
    }
    Ok(frames)
}

fn get_frame(r: &mut Reader<'_>) -> Result<Frame, DecodeError> {
    let code = r.u8("frame.type")?;
    Ok(match code {
        FRAME_PING => Frame::Ping,
        FRAME_ACK => get_ack(r)?,
        FRAME_SUMMARY => Frame::Summary(get_summary(r)?),
        FRAME_DATA => Frame::Data(get_data(r)?),
        FRAME_CANCEL => Frame::Cancel { msn: r.u64("cancel.msn")? },
        FRAME_RESOLVED => Frame::Resolved {
            msn: r.u64("resolved.msn")?,
            resolution: get_resolution(r, "resolved.resolution")?,
        },
        FRAME_REJECT => {
            Frame::Reject { msn: r.u64("reject.msn")?, reason: get_reject_reason(r, "reject.reason")? }
        }
        FRAME_CLOSE => Frame::Close { reason: get_close_reason(r)? },
        FRAME_CLOSE_ACK => Frame::CloseAck,
        FRAME_ABORT => Frame::Abort { reason: get_abort_reason(r)? },
        _ => return Err(DecodeError::UnknownFrame(code)),
    })
}

fn get_ack(r: &mut Reader<'_>) -> Result<Frame, DecodeError> {
    let ack_delay_us = r.u64("ack.ack_delay_us")?;
    let n = get_count(r, "ack.n_ranges", 1, MAX_ACK_RANGES)?;
    let mut ranges = Vec::with_capacity(capacity(r, n, 16));
    for _ in 0..n {
        let largest = r.u64("ack.largest")?;
        let smallest = r.u64("ack.smallest")?;
        ranges.push(PnRange { smallest, largest });
    }
    Ok(Frame::Ack { ranges, ack_delay_us })
}

fn get_data(r: &mut Reader<'_>) -> Result<DataFrame, DecodeError> {
    let msn = r.u64("data.msn")?;
    let offset = r.u64("data.offset")?;
    let flags = r.u8("data.flags")?;
    if flags & !(DATA_FIN | DATA_FIRST) != 0 {
        return Err(out_of_range("data.flags"));
    }
    let first = if flags & DATA_FIRST != 0 {
        Some(FirstSegment {
            total_len: r.u64("data.total_len")?,
            priority: get_priority(r)?,
            app_id: r.u64("data.app_id")?,
        })
    } else {
        None
    };
    let len = r.u32("data.len")?;
    let len = usize::try_from(len).map_err(|_| out_of_range("data.len"))?;
    let bytes = r.bytes(len, "data.bytes")?;
    Ok(DataFrame { msn, offset, fin: flags & DATA_FIN != 0, first, bytes })
}

fn resolution_len(resolution: &Resolution) -> usize {
    match resolution {
        Resolution::Delivered | Resolution::Cancelled => 1,
        Resolution::Rejected(_) => 2,
    }
}

fn put_resolution(out: &mut BytesMut, resolution: &Resolution) {
    match resolution {
        Resolution::Delivered => out.put_u8(RES_DELIVERED),
        Resolution::Cancelled => out.put_u8(RES_CANCELLED),
        Resolution::Rejected(reason) => {
            out.put_u8(RES_REJECTED);
            out.put_u8(*reason as u8);
        }
    }
}

pub(super) fn put_summary(out: &mut BytesMut, s: &Summary) {
    out.put_u64(s.resolved_below);
    out.put_u16(s.resolved.len() as u16);
    for e in &s.resolved {
        out.put_u64(e.msn);
        put_resolution(out, &e.resolution);
    }
    out.put_u16(s.partial.len() as u16);
    for e in &s.partial {
        out.put_u64(e.msn);
        out.put_u64(e.durable);
    }
}

pub(super) fn put_frame(out: &mut BytesMut, frame: &Frame) {
    match frame {
        Frame::Ping => out.put_u8(FRAME_PING),
        Frame::Ack { ranges, ack_delay_us } => {
            out.put_u8(FRAME_ACK);
            out.put_u64(*ack_delay_us);
            out.put_u16(ranges.len() as u16);
            for range in ranges {
                out.put_u64(range.largest);
                out.put_u64(range.smallest);
            }
        }
        Frame::Summary(s) => {
            out.put_u8(FRAME_SUMMARY);
            put_summary(out, s);
        }
        Frame::Data(d) => {
            out.put_u8(FRAME_DATA);
            out.put_u64(d.msn);
            out.put_u64(d.offset);
            let mut flags = 0;
            if d.fin {
                flags |= DATA_FIN;
            }
            if d.first.is_some() {
                flags |= DATA_FIRST;
            }
            out.put_u8(flags);
            if let Some(first) = &d.first {
                out.put_u64(first.total_len);
                out.put_u8(first.priority as u8);
                out.put_u64(first.app_id);
            }
            out.put_u32(d.bytes.len() as u32);
            out.put_slice(&d.bytes);
        }
        Frame::Cancel { msn } => {
            out.put_u8(FRAME_CANCEL);
            out.put_u64(*msn);
        }
        Frame::Resolved { msn, resolution } => {
            out.put_u8(FRAME_RESOLVED);
            out.put_u64(*msn);
            put_resolution(out, resolution);
        }
        Frame::Reject { msn, reason } => {
            out.put_u8(FRAME_REJECT);
            out.put_u64(*msn);
            out.put_u8(*reason as u8);
        }
        Frame::Close { reason } => {
            out.put_u8(FRAME_CLOSE);
            out.put_u8(*reason as u8);
        }
        Frame::CloseAck => out.put_u8(FRAME_CLOSE_ACK),
        Frame::Abort { reason } => {
            out.put_u8(FRAME_ABORT);
            out.put_u8(*reason as u8);
        }
    }
}
