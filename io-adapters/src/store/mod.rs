//! The durable session store: a [`redb`] database holding one session's
//! [`SessionStore`], the application's inbox of delivered messages and its outcome log.
//!
//! Records from the core are applied with [`SessionStore::apply`] — the only fold of
//! records — to an in-memory copy of the *durable* state, and every key that fold touched is
//! written through to the tables, all in **one write transaction per write barrier**
//! ([`Store::commit`]). Values are encoded with the core's record codec
//! ([`assoc_core::record_codec`]).
//!
//! The inbox of unacknowledged deliveries, the unacknowledged outcomes and the idempotency
//! keys (application ids) are part of the core's session state: the session reports what the
//! application has not acknowledged again after a restart, and finds a resubmitted
//! application id itself. The application acknowledges what it has processed ([`Ack`],
//! through the session, as a record).
//!
//! | table | key | value |
//! |---|---|---|
//! | `meta` | field name | epoch, next id, next msn, watermark, highest app id |
//! | `outbound` | message id | [`assoc_core::StoredMessage`] |
//! | `inbound` | msn | head of a partial or resolved inbound message |
//! | `chunks` | (msn, offset) | bytes of a partial inbound message |
//! | `recent` | msn | recent non-delivered resolutions below the watermark |
//! | `inbox` | msn | delivered message not yet acknowledged by the application |
//! | `outcomes` | message id | outcome not yet acknowledged by the application |
//! | `remembered` | message id | acknowledged outcome within the idempotency window |
//! | `app_ids` | app id | message id (the session's idempotency keys) |
//! | `app_meta` | name | free `u64` values for applications (the CLI's transfer jobs) |

pub(crate) mod codec;

use std::path::{Path, PathBuf};

use assoc_core::record_codec as rc;
pub use assoc_core::Ack;
use assoc_core::{MessageId, MessageState, Outcome, Record, SessionStore, StoredInbound, MAX_MSG_WINDOW};
use bytes::Bytes;
use redb::{Database, Durability, ReadableTable, Table, TableDefinition, WriteTransaction};

pub use codec::Corrupt;
use codec::{corrupt, InboundHead};

const META: TableDefinition<'_, &str, u64> = TableDefinition::new("meta");
const OUTBOUND: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("outbound");
const INBOUND: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("inbound");
const CHUNKS: TableDefinition<'_, (u64, u64), &[u8]> = TableDefinition::new("chunks");
const RECENT: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("recent");
const INBOX: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("inbox");
const OUTCOMES: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("outcomes");
const REMEMBERED: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("remembered");
const APP_IDS: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("app_ids");
const APP_META: TableDefinition<'_, &str, u64> = TableDefinition::new("app_meta");

/// Version of the table layout, kept in `meta` (2: values in the core's record codec).
const FORMAT: u64 = 2;

/// Why the store failed. Any failure to commit is fatal for the driver: it cannot report
/// records durable, so it stops rather than let the session run ahead of its disk.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database reported an error (I/O, lock held by another process, …).
    #[error("database: {0}")]
    Db(Box<redb::Error>),
    /// A stored value does not decode.
    #[error(transparent)]
    Corrupt(#[from] Corrupt),
    /// The file was written by an incompatible version of this crate.
    #[error("store format {found} is not supported (expected {FORMAT})")]
    Format {
        /// The version found in the file.
        found: u64,
    },
}

macro_rules! from_redb {
    ($($t:ty),*) => {$(
        impl From<$t> for StoreError {
            fn from(e: $t) -> Self {
                StoreError::Db(Box::new(e.into()))
            }
        }
    )*};
}
from_redb!(
    redb::Error,
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);

/// How hard a commit works to be durable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum SyncMode {
    /// `fsync` before a commit returns: survives power loss (the default).
    #[default]
    Full,
    /// Hand the pages to the OS without waiting for `fsync`: survives a process crash
    /// (even `SIGKILL`), not a power loss. For tests and demos on slow disks.
    Os,
}

/// A delivered message waiting in the inbox.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InboxEntry {
    /// Its msn: unique, and increasing in delivery order.
    pub msn: u64,
    /// The sending application's id.
    pub app_id: u64,
    /// The content.
    pub bytes: Bytes,
}

/// An outcome waiting in the outcome log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutcomeEntry {
    /// The message.
    pub id: MessageId,
    /// The application's id for it.
    pub app_id: u64,
    /// What happened.
    pub outcome: Outcome,
}

/// What happened to a message the application submitted with a given app id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AppIdStatus {
    /// The session's id for it.
    pub id: MessageId,
    /// Its outcome, once it has one.
    pub outcome: Option<Outcome>,
}

/// A redb-backed durable store for one session.
pub struct Store {
    db: Database,
    path: PathBuf,
    /// The durable state: exactly what the tables hold, as a [`SessionStore`].
    durable: SessionStore,
    /// Highest app id ever submitted through this store.
    max_app_id: u64,
    sync: SyncMode,
    commits: u64,
    records: u64,
    ops: std::cell::Cell<u64>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).field("commits", &self.commits).finish()
    }
}

impl Store {
    /// Opens (or creates) the store at `path` and loads the durable session state.
    ///
    /// Fails if another process holds the store open.
    pub fn open(path: impl AsRef<Path>) -> Result<Store, StoreError> {
        let path = path.as_ref().to_path_buf();
        let db = Database::create(&path)?;
        let txn = db.begin_write()?;
        {
            let mut meta = txn.open_table(META)?;
            let found = meta.get("format")?.map(|v| v.value());
            match found {
                None => {
                    meta.insert("format", FORMAT)?;
                }
                Some(FORMAT) => {}
                Some(found) => return Err(StoreError::Format { found }),
            }
            txn.open_table(OUTBOUND)?;
            txn.open_table(INBOUND)?;
            txn.open_table(CHUNKS)?;
            txn.open_table(RECENT)?;
            txn.open_table(INBOX)?;
            txn.open_table(OUTCOMES)?;
            txn.open_table(REMEMBERED)?;
            txn.open_table(APP_IDS)?;
            txn.open_table(APP_META)?;
        }
        txn.commit()?;
        let mut store = Store {
            db,
            path,
            durable: SessionStore::default(),
            max_app_id: 0,
            sync: SyncMode::Full,
            commits: 0,
            records: 0,
            ops: std::cell::Cell::new(0),
        };
        store.load()?;
        Ok(store)
    }

    /// Where the store lives.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Chooses how commits are made durable (default [`SyncMode::Full`]).
    pub fn set_sync(&mut self, sync: SyncMode) {
        self.sync = sync;
    }

    /// The durable session state, for [`assoc_core::Session::restore`].
    pub fn session_store(&self) -> &SessionStore {
        &self.durable
    }

    /// Highest application id ever submitted through this store (0: none).
    pub fn max_app_id(&self) -> u64 {
        self.max_app_id
    }

    /// Write transactions committed and records applied since this store was opened.
    pub fn counters(&self) -> (u64, u64) {
        (self.commits, self.records)
    }

    /// B-tree operations (table inserts and removes) made by commits since this store was
    /// opened.
    pub fn ops(&self) -> u64 {
        self.ops.get()
    }

    fn load(&mut self) -> Result<(), StoreError> {
        let (state, max_app_id) = self.read_state()?;
        self.durable = state;
        self.max_app_id = max_app_id;
        Ok(())
    }

    fn read_state(&self) -> Result<(SessionStore, u64), StoreError> {
        let txn = self.db.begin_read()?;
        let meta = txn.open_table(META)?;
        let get = |k: &str| -> Result<u64, StoreError> { Ok(meta.get(k)?.map(|v| v.value()).unwrap_or(0)) };
        // Outbound messages go in through `apply`, so whatever it derives from them (byte
        // totals, say) is derived the same way as in the session.
        let mut s = SessionStore::default();
        s.apply(&Record::Epoch(get("epoch")?));
        for row in txn.open_table(OUTBOUND)?.iter()? {
            let (k, v) = row?;
            let message = rc::decode_message(v.value()).map_err(corrupt("outbound message"))?;
            s.apply(&Record::Submitted { id: MessageId(k.value()), message });
        }
        s.next_id = s.next_id.max(get("next_id")?);
        s.next_msn = s.next_msn.max(get("next_msn")?);
        s.watermark = get("watermark")?;
        let max_app_id = get("max_app_id")?;
        let chunks = txn.open_table(CHUNKS)?;
        for row in txn.open_table(INBOUND)?.iter()? {
            let (k, v) = row?;
            let msn = k.value();
            let entry = match codec::decode_head(v.value())? {
                InboundHead::Resolved(r) => StoredInbound::Resolved(r),
                InboundHead::Partial { first, len } => {
                    let mut bytes = Vec::new();
                    for c in chunks.range((msn, 0)..=(msn, u64::MAX))? {
                        let (ck, cv) = c?;
                        if ck.value().1 != bytes.len() as u64 {
                            return Err(chunk_gap());
                        }
                        bytes.extend_from_slice(cv.value());
                    }
                    if bytes.len() as u64 != len {
                        return Err(chunk_gap());
                    }
                    StoredInbound::Partial { first, bytes: Bytes::from(bytes) }
                }
            };
            s.inbound.insert(msn, entry);
        }
        for row in txn.open_table(RECENT)?.iter()? {
            let (k, v) = row?;
            let r = rc::decode_resolution(v.value()).map_err(corrupt("resolution"))?;
            s.recent_non_delivered.insert(k.value(), r);
        }
        for row in txn.open_table(OUTCOMES)?.iter()? {
            let (k, v) = row?;
            let f = rc::decode_finished(v.value()).map_err(corrupt("outcome"))?;
            s.outcomes.insert(MessageId(k.value()), f);
        }
        for row in txn.open_table(REMEMBERED)?.iter()? {
            let (k, v) = row?;
            let f = rc::decode_finished(v.value()).map_err(corrupt("remembered outcome"))?;
            s.remembered.insert(MessageId(k.value()), f);
        }
        s.app_ids.clear();
        for row in txn.open_table(APP_IDS)?.iter()? {
            let (k, v) = row?;
            s.app_ids.insert(k.value(), codec::decode_id(v.value())?);
        }
        for row in txn.open_table(INBOX)?.iter()? {
            let (k, v) = row?;
            let d = rc::decode_delivery(v.value()).map_err(corrupt("inbox"))?;
            s.inbox_bytes = s.inbox_bytes.saturating_add(d.bytes.len() as u64);
            s.inbox.insert(k.value(), d);
        }
        Ok((s, max_app_id))
    }

    /// Delivered messages the application has not acknowledged, in msn order (the session
    /// reports them again after a restart).
    pub fn inbox(&self) -> Result<Vec<InboxEntry>, StoreError> {
        let inbox = self.durable.inbox.iter();
        Ok(inbox.map(|(msn, d)| InboxEntry { msn: *msn, app_id: d.app_id, bytes: d.bytes.clone() }).collect())
    }

    /// Outcomes the application has not acknowledged, in message id order (the session
    /// reports them again after a restart).
    pub fn outcomes(&self) -> Result<Vec<OutcomeEntry>, StoreError> {
        let outcomes = self.durable.outcomes.iter();
        Ok(outcomes.map(|(id, f)| OutcomeEntry { id: *id, app_id: f.app_id, outcome: f.outcome }).collect())
    }

    /// What became of the message submitted with `app_id`, if the session still holds it
    /// (unresolved, or finished within its idempotency window).
    pub fn app_id_status(&self, app_id: u64) -> Result<Option<AppIdStatus>, StoreError> {
        Ok(self.durable.submitted(app_id).map(|(id, state)| AppIdStatus {
            id,
            outcome: match state {
                MessageState::Finished { outcome, .. } => Some(outcome),
                _ => None,
            },
        }))
    }

    /// An application value stored under `key` (see the `app_meta` table).
    pub fn app_meta(&self, key: &str) -> Result<Option<u64>, StoreError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(APP_META)?;
        let v = table.get(key)?.map(|v| v.value());
        Ok(v)
    }

    /// Durably sets the application values `pairs` in one transaction.
    pub fn set_app_meta(&mut self, pairs: &[(&str, u64)]) -> Result<(), StoreError> {
        let txn = self.begin()?;
        {
            let mut table = txn.open_table(APP_META)?;
            for (k, v) in pairs {
                table.insert(*k, *v)?;
            }
        }
        txn.commit()?;
        Ok(())
    }

    fn begin(&self) -> Result<WriteTransaction, StoreError> {
        let mut txn = self.db.begin_write()?;
        txn.set_durability(match self.sync {
            SyncMode::Full => Durability::Immediate,
            SyncMode::Os => Durability::Eventual,
        });
        Ok(txn)
    }

    /// Applies `records` (in sequence order) in one write transaction and commits it. When
    /// this returns `Ok`, every record is durable: report [`assoc_core::Input::Persisted`].
    ///
    /// On `Err` nothing was committed and the in-memory view may be ahead of the disk: the
    /// store must not be used any further (drop it and open it again).
    pub fn commit(&mut self, records: &[Record]) -> Result<(), StoreError> {
        if records.is_empty() {
            return Ok(());
        }
        let txn = self.begin()?;
        {
            let mut t = Tables::open(&txn)?;
            for record in records {
                self.write_record(&mut t, record)?;
            }
            let d = &self.durable;
            for (k, v) in [
                ("epoch", d.epoch),
                ("next_id", d.next_id),
                ("next_msn", d.next_msn),
                ("watermark", d.watermark),
                ("max_app_id", self.max_app_id),
            ] {
                {
                    self.ops.set(self.ops.get() + 1);
                    &mut t.meta
                }
                .insert(k, v)?;
            }
        }
        txn.commit()?;
        self.commits += 1;
        self.records += records.len() as u64;
        Ok(())
    }

    /// Folds one record into the durable view and writes through every key it touched.
    fn write_record(&mut self, t: &mut Tables<'_>, record: &Record) -> Result<(), StoreError> {
        let before_wm = self.durable.watermark;
        match record {
            Record::Epoch(_) => self.durable.apply(record),
            Record::Submitted { id, message } => {
                let fresh = id.0 >= self.durable.next_id;
                self.durable.apply(record);
                if fresh {
                    self.write_outbound(t, *id)?;
                    self.max_app_id = self.max_app_id.max(message.app_id);
                    self.write_app_id(t, message.app_id)?;
                }
            }
            Record::Assigned { id, .. } | Record::CancelRequested { id, .. } => {
                self.durable.apply(record);
                self.write_outbound(t, *id)?;
            }
            Record::Finished { id, .. } => {
                self.durable.apply(record);
                {
                    self.ops.set(self.ops.get() + 1);
                    &mut t.outbound
                }
                .remove(id.0)?;
                self.write_finished(t, *id)?;
            }
            Record::Acknowledged(Ack::Delivery(msn)) => {
                self.durable.apply(record);
                {
                    self.ops.set(self.ops.get() + 1);
                    &mut t.inbox
                }
                .remove(*msn)?;
            }
            Record::Acknowledged(Ack::Outcome(id)) | Record::Forgotten { id } => {
                let app_id = self.durable.remembered.get(id).map(|f| f.app_id);
                self.durable.apply(record);
                self.write_finished(t, *id)?;
                if let Some(app_id) = app_id {
                    self.write_app_id(t, app_id)?;
                }
            }
            Record::Chunk { msn, .. } => {
                let before = partial_len(&self.durable, *msn);
                self.durable.apply(record);
                let after = partial_len(&self.durable, *msn);
                if let (Some(StoredInbound::Partial { first, bytes }), Some(after)) =
                    (self.durable.inbound.get(msn), after)
                {
                    let from = before.unwrap_or(0);
                    if after > from {
                        {
                            self.ops.set(self.ops.get() + 1);
                            &mut t.chunks
                        }
                        .insert((*msn, from), &bytes[from as usize..])?;
                    }
                    let head = InboundHead::Partial { first: *first, len: after };
                    {
                        self.ops.set(self.ops.get() + 1);
                        &mut t.inbound
                    }
                    .insert(*msn, codec::encode_head(&head).as_slice())?;
                }
            }
            Record::Delivered { msn, .. } => {
                let had = self.durable.inbox.contains_key(msn);
                self.durable.apply(record);
                match self.durable.inbox.get(msn) {
                    Some(d) if !had => {
                        self.ops.set(self.ops.get() + 1);
                        &mut t.inbox
                    }
                    .insert(*msn, rc::encode_delivery(d).as_slice())
                    .map(|_| ())?,
                    _ => {}
                }
                self.write_resolution(t, *msn, before_wm)?;
            }
            Record::Resolved { msn, .. } => {
                self.durable.apply(record);
                self.write_resolution(t, *msn, before_wm)?;
            }
            // A record kind this version does not know: fold it and rewrite everything.
            _ => {
                self.durable.apply(record);
                self.rewrite_all(t)?;
            }
        }
        Ok(())
    }

    fn write_outbound(&self, t: &mut Tables<'_>, id: MessageId) -> Result<(), StoreError> {
        match self.durable.outbound.get(&id) {
            Some(m) => {
                self.ops.set(self.ops.get() + 1);
                &mut t.outbound
            }
            .insert(id.0, rc::encode_message(m).as_slice())?,
            None => {
                self.ops.set(self.ops.get() + 1);
                &mut t.outbound
            }
            .remove(id.0)?,
        };
        Ok(())
    }

    /// Makes the outcome tables' rows for `id` equal the durable view's.
    fn write_finished(&self, t: &mut Tables<'_>, id: MessageId) -> Result<(), StoreError> {
        match self.durable.outcomes.get(&id) {
            Some(f) => {
                self.ops.set(self.ops.get() + 1);
                &mut t.outcomes
            }
            .insert(id.0, rc::encode_finished(f).as_slice())?,
            None => {
                self.ops.set(self.ops.get() + 1);
                &mut t.outcomes
            }
            .remove(id.0)?,
        };
        match self.durable.remembered.get(&id) {
            Some(f) => {
                self.ops.set(self.ops.get() + 1);
                &mut t.remembered
            }
            .insert(id.0, rc::encode_finished(f).as_slice())?,
            None => {
                self.ops.set(self.ops.get() + 1);
                &mut t.remembered
            }
            .remove(id.0)?,
        };
        Ok(())
    }

    /// Makes the `app_ids` row of `app_id` equal the durable view's idempotency key.
    fn write_app_id(&self, t: &mut Tables<'_>, app_id: u64) -> Result<(), StoreError> {
        match self.durable.app_ids.get(&app_id) {
            Some(id) => {
                self.ops.set(self.ops.get() + 1);
                &mut t.app_ids
            }
            .insert(app_id, codec::encode_id(*id).as_slice())?,
            None => {
                self.ops.set(self.ops.get() + 1);
                &mut t.app_ids
            }
            .remove(app_id)?,
        };
        Ok(())
    }

    /// Writes through an inbound resolution of `msn` that may have moved the watermark from
    /// `before_wm`: the msn's own entry, every entry the watermark passed, and the recent
    /// non-deliveries it added or pruned.
    fn write_resolution(&self, t: &mut Tables<'_>, msn: u64, before_wm: u64) -> Result<(), StoreError> {
        let after_wm = self.durable.watermark;
        let passed = before_wm..after_wm;
        for m in passed.clone().chain(std::iter::once(msn).filter(|m| !passed.contains(m))) {
            self.write_inbound(t, m)?;
        }
        let (old_keep, new_keep) =
            (before_wm.saturating_sub(MAX_MSG_WINDOW), after_wm.saturating_sub(MAX_MSG_WINDOW));
        for m in old_keep..new_keep {
            {
                self.ops.set(self.ops.get() + 1);
                &mut t.recent
            }
            .remove(m)?;
        }
        for m in passed {
            if let Some(r) = self.durable.recent_non_delivered.get(&m) {
                {
                    self.ops.set(self.ops.get() + 1);
                    &mut t.recent
                }
                .insert(m, rc::encode_resolution(*r).as_slice())?;
            }
        }
        Ok(())
    }

    /// Makes the tables' entry for inbound `msn` equal the durable view's.
    fn write_inbound(&self, t: &mut Tables<'_>, msn: u64) -> Result<(), StoreError> {
        match self.durable.inbound.get(&msn) {
            None => {
                {
                    self.ops.set(self.ops.get() + 1);
                    &mut t.inbound
                }
                .remove(msn)?;
                {
                    self.ops.set(self.ops.get() + 1);
                    &mut t.chunks
                }
                .retain_in((msn, 0)..=(msn, u64::MAX), |_, _| false)?;
            }
            Some(StoredInbound::Resolved(r)) => {
                {
                    self.ops.set(self.ops.get() + 1);
                    &mut t.inbound
                }
                .insert(msn, codec::encode_head(&InboundHead::Resolved(*r)).as_slice())?;
                {
                    self.ops.set(self.ops.get() + 1);
                    &mut t.chunks
                }
                .retain_in((msn, 0)..=(msn, u64::MAX), |_, _| false)?;
            }
            Some(StoredInbound::Partial { first, bytes }) => {
                {
                    self.ops.set(self.ops.get() + 1);
                    &mut t.chunks
                }
                .retain_in((msn, 0)..=(msn, u64::MAX), |_, _| false)?;
                if !bytes.is_empty() {
                    {
                        self.ops.set(self.ops.get() + 1);
                        &mut t.chunks
                    }
                    .insert((msn, 0), bytes.as_ref())?;
                }
                let head = InboundHead::Partial { first: *first, len: bytes.len() as u64 };
                {
                    self.ops.set(self.ops.get() + 1);
                    &mut t.inbound
                }
                .insert(msn, codec::encode_head(&head).as_slice())?;
            }
        }
        Ok(())
    }

    /// Rewrites the session tables from the durable view (for record kinds added later).
    fn rewrite_all(&self, t: &mut Tables<'_>) -> Result<(), StoreError> {
        {
            self.ops.set(self.ops.get() + 1);
            &mut t.outbound
        }
        .retain(|_, _| false)?;
        for id in self.durable.outbound.keys() {
            self.write_outbound(t, *id)?;
        }
        {
            self.ops.set(self.ops.get() + 1);
            &mut t.inbound
        }
        .retain(|_, _| false)?;
        {
            self.ops.set(self.ops.get() + 1);
            &mut t.chunks
        }
        .retain(|_, _| false)?;
        for msn in self.durable.inbound.keys() {
            self.write_inbound(t, *msn)?;
        }
        {
            self.ops.set(self.ops.get() + 1);
            &mut t.outcomes
        }
        .retain(|_, _| false)?;
        {
            self.ops.set(self.ops.get() + 1);
            &mut t.remembered
        }
        .retain(|_, _| false)?;
        for id in self.durable.outcomes.keys().chain(self.durable.remembered.keys()) {
            self.write_finished(t, *id)?;
        }
        {
            self.ops.set(self.ops.get() + 1);
            &mut t.app_ids
        }
        .retain(|_, _| false)?;
        for app_id in self.durable.app_ids.keys() {
            self.write_app_id(t, *app_id)?;
        }
        {
            self.ops.set(self.ops.get() + 1);
            &mut t.inbox
        }
        .retain(|_, _| false)?;
        for (msn, d) in &self.durable.inbox {
            {
                self.ops.set(self.ops.get() + 1);
                &mut t.inbox
            }
            .insert(*msn, rc::encode_delivery(d).as_slice())?;
        }
        {
            self.ops.set(self.ops.get() + 1);
            &mut t.recent
        }
        .retain(|_, _| false)?;
        for (m, r) in &self.durable.recent_non_delivered {
            {
                self.ops.set(self.ops.get() + 1);
                &mut t.recent
            }
            .insert(*m, rc::encode_resolution(*r).as_slice())?;
        }
        Ok(())
    }

    /// Re-reads the whole state from disk and compares it with the in-memory durable view:
    /// `Ok(true)` when the tables hold exactly what the fold of the committed records says.
    pub fn verify(&self) -> Result<bool, StoreError> {
        let (state, max_app_id) = self.read_state()?;
        Ok(state == self.durable && max_app_id == self.max_app_id)
    }
}

fn chunk_gap() -> StoreError {
    let why = assoc_core::RecordDecodeError::Truncated("inbound chunks");
    StoreError::Corrupt(Corrupt { what: "inbound chunk", why })
}

fn partial_len(s: &SessionStore, msn: u64) -> Option<u64> {
    match s.inbound.get(&msn) {
        Some(StoredInbound::Partial { bytes, .. }) => Some(bytes.len() as u64),
        _ => None,
    }
}

/// The session tables opened in one write transaction.
struct Tables<'t> {
    meta: Table<'t, &'static str, u64>,
    outbound: Table<'t, u64, &'static [u8]>,
    inbound: Table<'t, u64, &'static [u8]>,
    chunks: Table<'t, (u64, u64), &'static [u8]>,
    recent: Table<'t, u64, &'static [u8]>,
    inbox: Table<'t, u64, &'static [u8]>,
    outcomes: Table<'t, u64, &'static [u8]>,
    remembered: Table<'t, u64, &'static [u8]>,
    app_ids: Table<'t, u64, &'static [u8]>,
}

impl<'t> Tables<'t> {
    fn open(txn: &'t WriteTransaction) -> Result<Self, StoreError> {
        Ok(Tables {
            meta: txn.open_table(META)?,
            outbound: txn.open_table(OUTBOUND)?,
            inbound: txn.open_table(INBOUND)?,
            chunks: txn.open_table(CHUNKS)?,
            recent: txn.open_table(RECENT)?,
            inbox: txn.open_table(INBOX)?,
            outcomes: txn.open_table(OUTCOMES)?,
            remembered: txn.open_table(REMEMBERED)?,
            app_ids: txn.open_table(APP_IDS)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use assoc_core::rng::Rng;
    use assoc_core::wire::{FirstSegment, RejectReason, Resolution};
    use assoc_core::{Instant, NonDelivery, Priority, StoredMessage};

    fn temp(name: &str) -> PathBuf {
        let p = std::env::temp_dir().join(format!("assoc-store-{name}-{}", std::process::id()));
        let _ = std::fs::remove_file(&p);
        p
    }

    /// A random but plausible record stream: submissions, assignments, cancels, outcomes,
    /// chunked inbound messages, deliveries and resolutions, with repeats and stale ones.
    #[derive(Default)]
    struct Gen {
        next_id: u64,
        next_msn: u64,
        inbound_msn: u64,
        partial: std::collections::BTreeMap<u64, u64>,
    }

    fn records(g: &mut Gen, rng: &mut Rng, n: usize) -> Vec<Record> {
        let Gen { next_id, next_msn, inbound_msn, partial } = g;
        let mut out = Vec::new();
        for _ in 0..n {
            let r = match rng.next_u64() % 12 {
                0 => Record::Epoch(rng.next_u64() % 50),
                1 | 2 => {
                    *next_id += 1;
                    Record::Submitted {
                        id: MessageId(*next_id - 1),
                        message: StoredMessage {
                            app_id: rng.next_u64() % 1000 + 1,
                            priority: Priority::Normal,
                            submitted: Instant::from_micros(5),
                            deadline: Instant::from_micros(1 << 40),
                            bytes: Bytes::from(vec![7u8; (rng.next_u64() % 50) as usize]),
                            msn: None,
                            cancel: None,
                        },
                    }
                }
                3 => {
                    *next_msn += 1;
                    Record::Assigned { id: MessageId(rng.next_u64() % (*next_id).max(1)), msn: *next_msn - 1 }
                }
                4 => Record::CancelRequested {
                    id: MessageId(rng.next_u64() % (*next_id).max(1)),
                    reason: NonDelivery::Rejected(RejectReason::Refused),
                },
                5 => Record::Finished {
                    id: MessageId(rng.next_u64() % (*next_id).max(1)),
                    outcome: if rng.next_u64() % 2 == 0 {
                        Outcome::Delivered
                    } else {
                        Outcome::NonDelivered(NonDelivery::Expired)
                    },
                },
                6 | 7 => {
                    let msn = *inbound_msn + rng.next_u64() % 4;
                    let have = partial.entry(msn).or_default();
                    let len = rng.next_u64() % 20 + 1;
                    // Mostly extending chunks, sometimes a stale or gapped one.
                    let offset = if rng.next_u64() % 5 == 0 { *have + 3 } else { *have };
                    if offset == *have {
                        *have += len;
                    }
                    Record::Chunk {
                        msn,
                        offset,
                        first: (offset == 0).then_some(FirstSegment {
                            total_len: 999,
                            priority: Priority::Urgent,
                            app_id: msn,
                        }),
                        bytes: Bytes::from(vec![msn as u8; len as usize]),
                    }
                }
                10 => Record::Acknowledged(if rng.next_u64() % 2 == 0 {
                    Ack::Delivery(inbound_msn.saturating_sub(rng.next_u64() % 4))
                } else {
                    Ack::Outcome(MessageId(rng.next_u64() % (*next_id).max(1)))
                }),
                11 => Record::Forgotten { id: MessageId(rng.next_u64() % (*next_id).max(1)) },
                8 => {
                    let msn = *inbound_msn + rng.next_u64() % 3;
                    if msn == *inbound_msn {
                        *inbound_msn += 1;
                    }
                    Record::Delivered { msn, app_id: msn + 100, bytes: Bytes::from(vec![1u8; 3]) }
                }
                _ => {
                    let msn = (*inbound_msn).saturating_sub(1) + rng.next_u64() % 3;
                    Record::Resolved { msn, resolution: Resolution::Cancelled }
                }
            };
            out.push(r);
        }
        out
    }

    #[test]
    fn tables_always_equal_the_fold_and_survive_reopening() {
        let path = temp("fold");
        let mut rng = Rng::new(3);
        let mut fold = SessionStore::default();
        let mut g = Gen::default();
        {
            let mut store = Store::open(&path).unwrap();
            store.set_sync(SyncMode::Os);
            for batch in 0..200 {
                let recs = records(&mut g, &mut rng, (batch % 7) + 1);
                for r in &recs {
                    fold.apply(r);
                }
                store.commit(&recs).unwrap();
                assert_eq!(store.session_store(), &fold, "batch {batch}");
                if batch % 20 == 0 {
                    assert!(store.verify().unwrap(), "batch {batch}: tables differ from the fold");
                }
            }
            assert!(store.verify().unwrap());
            let inbox = store.inbox().unwrap();
            assert!(!inbox.is_empty());
            let acks: Vec<Record> =
                inbox.iter().map(|e| Record::Acknowledged(Ack::Delivery(e.msn))).collect();
            for r in &acks {
                fold.apply(r);
            }
            store.commit(&acks).unwrap();
            assert!(store.inbox().unwrap().is_empty());
            assert!(store.verify().unwrap());
        }
        let reopened = Store::open(&path).unwrap();
        assert_eq!(reopened.session_store(), &fold);
        assert!(fold.watermark > 10 && fold.outbound.len() > 5, "the stream exercised the tables: {fold:?}");
        assert!(!fold.remembered.is_empty(), "acknowledgements were exercised: {fold:?}");
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn outcomes_and_app_ids_are_recorded_with_the_finished_record() {
        let path = temp("outcomes");
        let mut store = Store::open(&path).unwrap();
        let message = StoredMessage {
            app_id: 77,
            priority: Priority::Urgent,
            submitted: Instant::from_micros(1),
            deadline: Instant::from_micros(2),
            bytes: Bytes::from_static(b"x"),
            msn: None,
            cancel: None,
        };
        store.commit(&[Record::Submitted { id: MessageId(0), message }]).unwrap();
        assert_eq!(store.app_id_status(77).unwrap(), Some(AppIdStatus { id: MessageId(0), outcome: None }));
        assert_eq!(store.max_app_id(), 77);
        store.commit(&[Record::Finished { id: MessageId(0), outcome: Outcome::Delivered }]).unwrap();
        assert_eq!(
            store.outcomes().unwrap(),
            vec![OutcomeEntry { id: MessageId(0), app_id: 77, outcome: Outcome::Delivered }]
        );
        assert_eq!(store.app_id_status(77).unwrap().and_then(|s| s.outcome), Some(Outcome::Delivered));
        store.commit(&[Record::Acknowledged(Ack::Outcome(MessageId(0)))]).unwrap();
        assert!(store.outcomes().unwrap().is_empty());
        assert!(store.app_id_status(77).unwrap().is_some(), "app ids are kept for idempotent submission");
        assert!(store.verify().unwrap());
        store.commit(&[Record::Forgotten { id: MessageId(0) }]).unwrap();
        assert_eq!(store.app_id_status(77).unwrap(), None, "forgotten once out of the window");
        drop(store);
        let reopened = Store::open(&path).unwrap();
        assert_eq!(reopened.app_id_status(77).unwrap(), None);
        drop(reopened);
        let _ = std::fs::remove_file(&path);
    }
}
