//! The file under the database, with the sync that [`SyncMode`] asks for.
//!
//! redb makes a commit durable by writing its pages and then its header with `pwrite`, and
//! calling the backend's `sync_data` between and after. In [`SyncMode::Full`] that is
//! `fdatasync`: the commit survives a power loss. In [`SyncMode::Os`] `sync_data` does
//! nothing: every page and the header are still written to the file (the kernel's page cache)
//! before the commit returns, so a process crash — even `SIGKILL` — loses nothing committed,
//! but a power loss or kernel crash may lose recent commits (never half of one: redb's
//! header checksums make it fall back to the previous commit).
//!
//! redb's own `Durability::Eventual` still calls `fdatasync`, and `Durability::None` keeps the
//! commit's header in memory only (lost in a process crash): neither gives `Os`'s guarantee
//! without `fsync`, hence this backend.

use std::fs::File;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use redb::backends::FileBackend;
use redb::StorageBackend;

use super::SyncMode;

/// A shared switch between [`SyncMode::Full`] (the default) and [`SyncMode::Os`].
#[derive(Clone, Debug, Default)]
pub(crate) struct SyncSwitch(Arc<AtomicBool>);

impl SyncSwitch {
    pub(crate) fn set(&self, mode: SyncMode) {
        self.0.store(mode == SyncMode::Os, Ordering::Release);
    }

    pub(crate) fn get(&self) -> SyncMode {
        if self.0.load(Ordering::Acquire) {
            SyncMode::Os
        } else {
            SyncMode::Full
        }
    }
}

/// redb's file backend (which also holds the file lock), syncing only in `Full` mode.
#[derive(Debug)]
pub(crate) struct Backend {
    file: FileBackend,
    sync: SyncSwitch,
}

impl Backend {
    pub(crate) fn new(file: File, sync: SyncSwitch) -> Result<Backend, redb::DatabaseError> {
        Ok(Backend { file: FileBackend::new(file)?, sync })
    }
}

impl StorageBackend for Backend {
    fn len(&self) -> Result<u64, io::Error> {
        self.file.len()
    }

    fn read(&self, offset: u64, len: usize) -> Result<Vec<u8>, io::Error> {
        self.file.read(offset, len)
    }

    fn set_len(&self, len: u64) -> Result<(), io::Error> {
        self.file.set_len(len)
    }

    fn sync_data(&self, eventual: bool) -> Result<(), io::Error> {
        match self.sync.get() {
            SyncMode::Full => self.file.sync_data(eventual),
            // The writes are in the page cache already (`write` is `pwrite`): a process crash
            // cannot lose them.
            SyncMode::Os => Ok(()),
        }
    }

    fn write(&self, offset: u64, data: &[u8]) -> Result<(), io::Error> {
        self.file.write(offset, data)
    }
}
