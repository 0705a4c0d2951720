//! The tables of store format 3 and the one place that writes them: every insert and
//! remove goes through [`SessionTables`], which keys it by the session's namespace and
//! counts it (the B-tree operations per message the benchmark reports).
//!
//! Every session table is keyed by `(sid, …)`: one database holds many sessions, and a
//! session's rows are one contiguous key range in each table.

use redb::{Table, TableDefinition, WriteTransaction};

use super::StoreError;

/// File-level values: the format version.
pub(crate) const META: TableDefinition<'_, &str, u64> = TableDefinition::new("meta");
/// `sid` → the session's counters ([`super::codec::SessionMeta`]).
pub(crate) const SESSIONS: TableDefinition<'_, u32, &[u8]> = TableDefinition::new("sessions");
/// `(sid, id)` → an outbound message from submission until it is forgotten
/// ([`super::codec::OutRow`]).
pub(crate) const OUTBOUND: TableDefinition<'_, (u32, u64), &[u8]> = TableDefinition::new("outbound");
/// `(sid, id)` → a pending message's msn and cancellation, once it has either.
pub(crate) const PROGRESS: TableDefinition<'_, (u32, u64), &[u8]> = TableDefinition::new("progress");
/// `(sid, app id)` → nothing: the app id is *not* an idempotency key although a row has it.
pub(crate) const APP_ID_GAPS: TableDefinition<'_, (u32, u64), ()> = TableDefinition::new("app_id_gaps");
/// `(sid, msn)` → the head of an inbound message at or above the watermark.
pub(crate) const INBOUND: TableDefinition<'_, (u32, u64), &[u8]> = TableDefinition::new("inbound");
/// `(sid, msn, offset)` → received content (of a partial message or an inbox entry).
pub(crate) const CHUNKS: TableDefinition<'_, (u32, u64, u64), &[u8]> = TableDefinition::new("chunks");
/// `(sid, msn)` → a recent non-delivered resolution below the watermark.
pub(crate) const RECENT: TableDefinition<'_, (u32, u64), &[u8]> = TableDefinition::new("recent");
/// `(sid, msn)` → a delivery the application has not acknowledged.
pub(crate) const INBOX: TableDefinition<'_, (u32, u64), &[u8]> = TableDefinition::new("inbox");
/// `(sid, name)` → a free `u64` for applications (the CLI's transfer jobs).
pub(crate) const APP_META: TableDefinition<'_, (u32, &str), u64> = TableDefinition::new("app_meta");

/// The session tables of one write transaction.
pub(crate) struct Tables<'t> {
    sessions: Table<'t, u32, &'static [u8]>,
    outbound: Table<'t, (u32, u64), &'static [u8]>,
    progress: Table<'t, (u32, u64), &'static [u8]>,
    gaps: Table<'t, (u32, u64), ()>,
    inbound: Table<'t, (u32, u64), &'static [u8]>,
    chunks: Table<'t, (u32, u64, u64), &'static [u8]>,
    recent: Table<'t, (u32, u64), &'static [u8]>,
    inbox: Table<'t, (u32, u64), &'static [u8]>,
}

impl<'t> Tables<'t> {
    pub(crate) fn open(txn: &'t WriteTransaction) -> Result<Self, StoreError> {
        Ok(Tables {
            sessions: txn.open_table(SESSIONS)?,
            outbound: txn.open_table(OUTBOUND)?,
            progress: txn.open_table(PROGRESS)?,
            gaps: txn.open_table(APP_ID_GAPS)?,
            inbound: txn.open_table(INBOUND)?,
            chunks: txn.open_table(CHUNKS)?,
            recent: txn.open_table(RECENT)?,
            inbox: txn.open_table(INBOX)?,
        })
    }

    /// The tables seen through one session's namespace, counting into `ops`.
    pub(crate) fn session<'a>(&'a mut self, sid: u32, ops: &'a mut u64) -> SessionTables<'a, 't> {
        SessionTables { t: self, sid, ops }
    }
}

/// Which `(sid, u64)` → bytes table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Outbound,
    Progress,
    Inbound,
    Recent,
    Inbox,
}

/// One session's rows in a write transaction. Each method is one B-tree operation.
pub(crate) struct SessionTables<'a, 't> {
    t: &'a mut Tables<'t>,
    sid: u32,
    ops: &'a mut u64,
}

impl<'t> SessionTables<'_, 't> {
    fn table(&mut self, kind: Kind) -> &mut Table<'t, (u32, u64), &'static [u8]> {
        match kind {
            Kind::Outbound => &mut self.t.outbound,
            Kind::Progress => &mut self.t.progress,
            Kind::Inbound => &mut self.t.inbound,
            Kind::Recent => &mut self.t.recent,
            Kind::Inbox => &mut self.t.inbox,
        }
    }

    /// Inserts (or overwrites) `kind[(sid, key)]`.
    pub(crate) fn put(&mut self, kind: Kind, key: u64, value: &[u8]) -> Result<(), StoreError> {
        *self.ops += 1;
        let sid = self.sid;
        self.table(kind).insert((sid, key), value)?;
        Ok(())
    }

    /// Removes `kind[(sid, key)]`.
    pub(crate) fn remove(&mut self, kind: Kind, key: u64) -> Result<(), StoreError> {
        *self.ops += 1;
        let sid = self.sid;
        self.table(kind).remove((sid, key))?;
        Ok(())
    }

    /// Removes every row of `kind` with a key below `end`: one range operation.
    pub(crate) fn remove_below(&mut self, kind: Kind, end: u64) -> Result<(), StoreError> {
        *self.ops += 1;
        let sid = self.sid;
        self.table(kind).retain_in((sid, 0)..(sid, end), |_, _| false)?;
        Ok(())
    }

    /// Writes the session's counters row.
    pub(crate) fn put_meta(&mut self, value: &[u8]) -> Result<(), StoreError> {
        *self.ops += 1;
        self.t.sessions.insert(self.sid, value)?;
        Ok(())
    }

    /// Inserts the chunk `(msn, offset)`.
    pub(crate) fn put_chunk(&mut self, msn: u64, offset: u64, bytes: &[u8]) -> Result<(), StoreError> {
        *self.ops += 1;
        self.t.chunks.insert((self.sid, msn, offset), bytes)?;
        Ok(())
    }

    /// Removes every chunk of `msn`: one range operation.
    pub(crate) fn remove_chunks(&mut self, msn: u64) -> Result<(), StoreError> {
        *self.ops += 1;
        let sid = self.sid;
        self.t.chunks.retain_in((sid, msn, 0)..=(sid, msn, u64::MAX), |_, _| false)?;
        Ok(())
    }

    /// Removes every chunk of every msn below `end`: one range operation.
    pub(crate) fn remove_chunks_below(&mut self, end: u64) -> Result<(), StoreError> {
        *self.ops += 1;
        let sid = self.sid;
        self.t.chunks.retain_in((sid, 0, 0)..(sid, end, 0), |_, _| false)?;
        Ok(())
    }

    /// Marks `app_id` as not an idempotency key (`gap`), or clears the mark.
    pub(crate) fn set_gap(&mut self, app_id: u64, gap: bool) -> Result<(), StoreError> {
        *self.ops += 1;
        let key = (self.sid, app_id);
        if gap {
            self.t.gaps.insert(key, ())?;
        } else {
            self.t.gaps.remove(key)?;
        }
        Ok(())
    }

    /// Removes every row of this session from every table (before a rewrite).
    pub(crate) fn clear(&mut self) -> Result<(), StoreError> {
        for kind in [Kind::Outbound, Kind::Progress, Kind::Inbound, Kind::Recent, Kind::Inbox] {
            self.remove_below(kind, u64::MAX)?;
            self.remove(kind, u64::MAX)?;
        }
        *self.ops += 2;
        let sid = self.sid;
        self.t.chunks.retain_in((sid, 0, 0)..=(sid, u64::MAX, u64::MAX), |_, _| false)?;
        self.t.gaps.retain_in((sid, 0)..=(sid, u64::MAX), |_, _| false)?;
        Ok(())
    }
}
