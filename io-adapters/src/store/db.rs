//! The database file and the sessions in it: [`Database`] opens the file and commits
//! records of many sessions in one transaction; [`Store`] is one session's namespace.

use std::collections::BTreeSet;
use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use assoc_core::{MessageState, Record, SessionStore};
use redb::{Durability, ReadableTable, WriteTransaction};

use super::backend::{Backend, SyncSwitch};
use super::session::Durable;
use super::tables::{self, Tables, APP_META, META, SESSIONS};
use super::{AppIdStatus, InboxEntry, OutcomeEntry, StoreError, SyncMode, FORMAT};

/// A store file holding any number of sessions, each in its own namespace (keyed by its
/// session id), written in shared transactions: one `fdatasync` covers every session's
/// records of a group commit.
///
/// Cloning is cheap and shares the file. The file is locked: a second process opening it
/// gets [`StoreError::Db`].
#[derive(Clone)]
pub struct Database {
    inner: Arc<Inner>,
}

struct Inner {
    db: redb::Database,
    path: PathBuf,
    sync: SyncSwitch,
    /// Sessions with a live [`Store`]: at most one per namespace.
    open: Mutex<BTreeSet<u32>>,
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database").field("path", &self.inner.path).finish()
    }
}

impl Database {
    /// Opens (or creates) the store file at `path`, in [`SyncMode::Full`].
    ///
    /// Fails with [`StoreError::Format`] on a file of another store format, and with
    /// [`StoreError::Db`] if another process holds the file open.
    pub fn open(path: impl AsRef<Path>) -> Result<Database, StoreError> {
        let path = path.as_ref().to_path_buf();
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(redb::Error::Io)?;
        let sync = SyncSwitch::default();
        let db = redb::Builder::new().create_with_backend(Backend::new(file, sync.clone())?)?;
        Database::init(db, path, sync)
    }

    /// Checks the format (or writes it into a new file) and creates the tables.
    fn init(db: redb::Database, path: PathBuf, sync: SyncSwitch) -> Result<Database, StoreError> {
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
            Tables::open(&txn)?;
            txn.open_table(tables::APP_ID_GAPS)?;
            txn.open_table(APP_META)?;
        }
        txn.commit()?;
        Ok(Database { inner: Arc::new(Inner { db, path, sync, open: Mutex::new(BTreeSet::new()) }) })
    }

    /// A database in memory, for tests and fuzzing: nothing survives the process.
    pub fn in_memory() -> Result<Database, StoreError> {
        let db = redb::Builder::new().create_with_backend(redb::backends::InMemoryBackend::new())?;
        Database::init(db, PathBuf::new(), SyncSwitch::default())
    }

    /// Where the file is (empty for [`Database::in_memory`]).
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Chooses how commits are made durable, for every session of this database.
    pub fn set_sync(&self, mode: SyncMode) {
        self.inner.sync.set(mode);
    }

    /// How commits are made durable.
    pub fn sync(&self) -> SyncMode {
        self.inner.sync.get()
    }

    /// Opens session `sid`'s namespace and loads its durable state (empty for a new one).
    ///
    /// Fails with [`StoreError::SessionInUse`] while another [`Store`] of this session is
    /// alive (two would each think they know what is durable).
    pub fn session(&self, sid: u32) -> Result<Store, StoreError> {
        if !self.lock().insert(sid) {
            return Err(StoreError::SessionInUse { sid });
        }
        // From here on, dropping the store releases the claim (also when loading fails).
        let mut store = Store {
            db: self.clone(),
            sid,
            durable: Durable::default(),
            commits: 0,
            records: 0,
            ops: 0,
            poisoned: false,
        };
        store.durable = Durable::load(&self.inner.db.begin_read()?, sid)?;
        Ok(store)
    }

    /// Session ids with state in this file, ascending.
    pub fn sessions(&self) -> Result<Vec<u32>, StoreError> {
        let txn = self.inner.db.begin_read()?;
        let table = txn.open_table(SESSIONS)?;
        let mut out = Vec::new();
        for row in table.iter()? {
            out.push(row?.0.value());
        }
        Ok(out)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeSet<u32>> {
        // A panic while holding this lock leaves the set consistent (one insert or remove).
        self.inner.open.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn begin(&self) -> Result<WriteTransaction, StoreError> {
        let mut txn = self.inner.db.begin_write()?;
        // Always a durable commit: `SyncMode` decides in the backend whether it fsyncs.
        txn.set_durability(Durability::Immediate);
        Ok(txn)
    }

    /// Applies each session's records (in sequence order) and commits them all in **one**
    /// write transaction. When this returns `Ok`, every record is durable (in the sense of
    /// the [`SyncMode`]): report [`assoc_core::Input::Persisted`] to each session.
    ///
    /// On `Err` nothing was committed, and every store in `batch` refuses further commits
    /// ([`StoreError::Poisoned`]): its in-memory view may be ahead of the disk. Open the
    /// session again.
    pub fn commit(&self, batch: &mut [(&mut Store, &[Record])]) -> Result<(), StoreError> {
        if batch.iter().all(|(_, r)| r.is_empty()) {
            return Ok(());
        }
        for (store, _) in batch.iter() {
            if !Arc::ptr_eq(&store.db.inner, &self.inner) {
                return Err(StoreError::WrongDatabase { sid: store.sid });
            }
            if store.poisoned {
                return Err(StoreError::Poisoned);
            }
        }
        let result = self.commit_inner(batch);
        if result.is_err() {
            for (store, _) in batch.iter_mut() {
                store.poisoned = true;
            }
        }
        result
    }

    fn commit_inner(&self, batch: &mut [(&mut Store, &[Record])]) -> Result<(), StoreError> {
        let txn = self.begin()?;
        {
            let mut t = Tables::open(&txn)?;
            for (store, records) in batch.iter_mut() {
                if records.is_empty() {
                    continue;
                }
                let mut ops = 0;
                let mut st = t.session(store.sid, &mut ops);
                for record in records.iter() {
                    store.durable.write(&mut st, record)?;
                }
                store.durable.finish(&mut st)?;
                store.ops += ops;
            }
        }
        txn.commit()?;
        for (store, records) in batch.iter_mut() {
            if !records.is_empty() {
                store.commits += 1;
                store.records += records.len() as u64;
            }
        }
        Ok(())
    }
}

/// One session's durable store: its namespace in a [`Database`], and the durable session
/// state — exactly what its rows hold — as a [`SessionStore`].
pub struct Store {
    db: Database,
    sid: u32,
    durable: Durable,
    commits: u64,
    records: u64,
    ops: u64,
    poisoned: bool,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.db.inner.path)
            .field("sid", &self.sid)
            .field("commits", &self.commits)
            .finish()
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        self.db.lock().remove(&self.sid);
    }
}

impl Store {
    /// Opens (or creates) a store file holding one session (namespace 0) and loads its
    /// durable state. For many sessions in one file, see [`Database`].
    ///
    /// Fails if another process holds the store open, or on a file of another format.
    pub fn open(path: impl AsRef<Path>) -> Result<Store, StoreError> {
        Database::open(path)?.session(0)
    }

    /// Where the store lives.
    pub fn path(&self) -> &Path {
        self.db.path()
    }

    /// The session's namespace in its database.
    pub fn sid(&self) -> u32 {
        self.sid
    }

    /// The database this session lives in.
    pub fn database(&self) -> &Database {
        &self.db
    }

    /// Chooses how commits are made durable (default [`SyncMode::Full`]); the mode is the
    /// database's, shared by all its sessions.
    pub fn set_sync(&mut self, sync: SyncMode) {
        self.db.set_sync(sync);
    }

    /// The durable session state, for [`assoc_core::Session::restore`].
    pub fn session_store(&self) -> &SessionStore {
        &self.durable.state
    }

    /// Highest application id ever submitted through this store (0: none).
    pub fn max_app_id(&self) -> u64 {
        self.durable.max_app_id
    }

    /// Write transactions committed and records applied since this store was opened.
    pub fn counters(&self) -> (u64, u64) {
        (self.commits, self.records)
    }

    /// B-tree operations (row inserts, removes and range removals) made by commits since
    /// this store was opened.
    pub fn ops(&self) -> u64 {
        self.ops
    }

    /// Delivered messages the application has not acknowledged, in msn order (the session
    /// reports them again after a restart).
    pub fn inbox(&self) -> Result<Vec<InboxEntry>, StoreError> {
        let inbox = self.durable.state.inbox.iter();
        Ok(inbox.map(|(msn, d)| InboxEntry { msn: *msn, app_id: d.app_id, bytes: d.bytes.clone() }).collect())
    }

    /// Outcomes the application has not acknowledged, in message id order (the session
    /// reports them again after a restart).
    pub fn outcomes(&self) -> Result<Vec<OutcomeEntry>, StoreError> {
        let outcomes = self.durable.state.outcomes.iter();
        Ok(outcomes.map(|(id, f)| OutcomeEntry { id: *id, app_id: f.app_id, outcome: f.outcome }).collect())
    }

    /// What became of the message submitted with `app_id`, if the session still holds it
    /// (unresolved, or finished within its idempotency window).
    pub fn app_id_status(&self, app_id: u64) -> Result<Option<AppIdStatus>, StoreError> {
        Ok(self.durable.state.submitted(app_id).map(|(id, state)| AppIdStatus {
            id,
            outcome: match state {
                MessageState::Finished { outcome, .. } => Some(outcome),
                _ => None,
            },
        }))
    }

    /// An application value of this session stored under `key` (see [`Store::set_app_meta`]).
    pub fn app_meta(&self, key: &str) -> Result<Option<u64>, StoreError> {
        let txn = self.db.inner.db.begin_read()?;
        let table = txn.open_table(APP_META)?;
        let v = table.get((self.sid, key))?.map(|v| v.value());
        Ok(v)
    }

    /// Durably sets this session's application values `pairs` in one transaction.
    pub fn set_app_meta(&mut self, pairs: &[(&str, u64)]) -> Result<(), StoreError> {
        let txn = self.db.begin()?;
        {
            let mut table = txn.open_table(APP_META)?;
            for (k, v) in pairs {
                table.insert((self.sid, *k), *v)?;
            }
        }
        txn.commit()?;
        Ok(())
    }

    /// Applies `records` (in sequence order) in one write transaction and commits it. When
    /// this returns `Ok`, every record is durable: report [`assoc_core::Input::Persisted`].
    ///
    /// On `Err` nothing was committed and the in-memory view may be ahead of the disk: the
    /// store refuses further commits (drop it and open it again).
    pub fn commit(&mut self, records: &[Record]) -> Result<(), StoreError> {
        let db = self.db.clone();
        db.commit(&mut [(self, records)])
    }

    /// Re-reads the session from disk and compares it with the in-memory durable view:
    /// `Ok(true)` when the rows hold exactly what the fold of the committed records says.
    pub fn verify(&self) -> Result<bool, StoreError> {
        let d = Durable::load(&self.db.inner.db.begin_read()?, self.sid)?;
        Ok(d.state == self.durable.state && d.max_app_id == self.durable.max_app_id)
    }
}
