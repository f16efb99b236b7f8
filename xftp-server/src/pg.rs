//! Chunk records in PostgreSQL, in the reference relay's schema (`files`, `recipients` and its
//! `migrations` table), so that either relay runs over a database the other created. Several
//! relay processes can share one database: every change is one statement (or one transaction)
//! committed before the call returns, and nothing is cached but the used-bytes total.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use deadpool_postgres::Pool;
use futures_util::{pin_mut, TryStreamExt};
use relay_db::describe;
pub use relay_db::{DbError, DbOptions, Migrate};
use simplex_crypto::PublicKey;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;
use tokio_postgres::Row;
use xftp_proto::command::{BlockingInfo, FileInfo};

use crate::store::{
    self, FileRec, Id, MetadataStore, Recipient, Status, Store, StoreError, StoreLog,
};

/// The reference's default connection string.
pub const DEFAULT_CONNECTION: &str = "postgresql://xftp@/xftp_server_store";
/// The reference's default schema.
pub const DEFAULT_SCHEMA: &str = "xftp_server";
/// The reference's default pool size.
pub const DEFAULT_POOL_SIZE: usize = 10;
/// How long one database call may take before the request fails (retriable for the client).
const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the used-bytes total of a shared database is reused before it is read again.
const USED_REFRESH: Duration = Duration::from_secs(2);

/// The schema migrations, in order: the reference's names and statements, so that its
/// `migrations` table and ours agree.
const MIGRATIONS: &[(&str, &str)] = &[(
    "20260325_initial",
    "
CREATE TABLE files (
  sender_id BYTEA NOT NULL PRIMARY KEY,
  file_size INTEGER NOT NULL,
  file_digest BYTEA NOT NULL,
  sender_key BYTEA NOT NULL,
  file_path TEXT,
  created_at BIGINT NOT NULL,
  status TEXT NOT NULL DEFAULT 'active'
);

CREATE TABLE recipients (
  recipient_id BYTEA NOT NULL PRIMARY KEY,
  sender_id BYTEA NOT NULL REFERENCES files ON DELETE CASCADE,
  recipient_key BYTEA NOT NULL
);

CREATE INDEX idx_recipients_sender_id ON recipients (sender_id);
CREATE INDEX idx_files_created_at ON files (created_at);
",
)];

/// The relay's schema: the reference's migrations.
const SCHEMA: relay_db::Schema = relay_db::Schema {
    tool: "xftp-server",
    migrations: MIGRATIONS,
};

/// The reference's defaults for the `db_*` settings.
pub fn default_options() -> DbOptions {
    DbOptions {
        connection: DEFAULT_CONNECTION.to_string(),
        schema: DEFAULT_SCHEMA.to_string(),
        pool_size: DEFAULT_POOL_SIZE,
    }
}

/// Chunk records in PostgreSQL.
pub struct PgStore {
    pool: Pool,
    /// Bytes of uploaded chunks as last read, plus this relay's changes since.
    used: AtomicU64,
    /// When `used` was last read from the database.
    used_read: Mutex<Option<Instant>>,
    /// `db_store_log = on`: committed changes also appended to the store log (not waited
    /// for, failures only logged, as the reference).
    log: Option<Mutex<StoreLog>>,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore").finish_non_exhaustive()
    }
}

impl PgStore {
    /// Connects, checks the schema (creating it if `create_schema`) and its migrations.
    pub async fn open(
        opts: &DbOptions,
        create_schema: bool,
        migrate: Migrate,
        log: Option<StoreLog>,
    ) -> Result<Self, DbError> {
        let pool = relay_db::pool(opts, SCHEMA.tool, CALL_TIMEOUT)?;
        SCHEMA.prepare(opts, create_schema, migrate).await?;
        let store = Self {
            pool,
            used: AtomicU64::new(0),
            used_read: Mutex::new(None),
            log: log.map(Mutex::new),
        };
        store
            .read_used()
            .await
            .map_err(|e| DbError::Db(e.to_string()))?;
        Ok(store)
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        self.pool
            .get()
            .await
            .map_err(|e| StoreError::Db(e.to_string()))
    }

    /// Runs one database call with the call timeout.
    async fn call<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        F: std::future::Future<Output = Result<T, StoreError>>,
    {
        tokio::time::timeout(CALL_TIMEOUT, f)
            .await
            .unwrap_or_else(|_| Err(StoreError::Db("the database did not answer in time".into())))
    }

    async fn read_used(&self) -> Result<u64, StoreError> {
        let total: i64 = self
            .call(async {
                let c = self.client().await?;
                let row = c
                    .query_one(
                        "SELECT COALESCE(SUM(file_size::BIGINT), 0)::BIGINT FROM files \
                         WHERE file_path IS NOT NULL",
                        &[],
                    )
                    .await
                    .map_err(db)?;
                Ok(row.get(0))
            })
            .await?;
        let total = u64::try_from(total).unwrap_or(0);
        self.used.store(total, Ordering::Relaxed);
        *self.used_read.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
        Ok(total)
    }

    /// Appends committed changes to the parallel store log, if there is one.
    fn log(&self, line: impl FnOnce() -> String) {
        if let Some(log) = &self.log {
            let line = line();
            let written = log.lock().unwrap_or_else(|p| p.into_inner()).append(&line);
            if let Err(e) = written {
                tracing::warn!("db_store_log: {e}");
            }
        }
    }

    async fn exec(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<u64, StoreError> {
        self.call(async {
            let c = self.client().await?;
            let stmt = c.prepare_cached(sql).await.map_err(db)?;
            c.execute(&stmt, params).await.map_err(db)
        })
        .await
    }

    async fn query(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, StoreError> {
        self.call(async {
            let c = self.client().await?;
            let stmt = c.prepare_cached(sql).await.map_err(db)?;
            c.query(&stmt, params).await.map_err(db)
        })
        .await
    }
}

/// A database error as a store error: a taken ID is [`StoreError::Duplicate`], a missing chunk
/// [`StoreError::NotFound`].
fn db(e: tokio_postgres::Error) -> StoreError {
    match e.code() {
        Some(c) if *c == SqlState::UNIQUE_VIOLATION => StoreError::Duplicate,
        Some(c) if *c == SqlState::FOREIGN_KEY_VIOLATION => StoreError::NotFound,
        _ => StoreError::Db(describe(&e)),
    }
}

const FILE_COLUMNS: &str =
    "sender_id, file_size, file_digest, sender_key, file_path, created_at, status";

fn bad(what: &str) -> StoreError {
    StoreError::Db(format!("a stored record has {what}"))
}

/// A `files` row (columns in [`FILE_COLUMNS`] order, from `at`).
fn file_row(row: &Row, at: usize) -> Result<FileRec, StoreError> {
    let size: i32 = row.try_get(at + 1).map_err(db)?;
    let key: Vec<u8> = row.try_get(at + 3).map_err(db)?;
    let path: Option<String> = row.try_get(at + 4).map_err(db)?;
    let created_at: i64 = row.try_get(at + 5).map_err(db)?;
    let status: String = row.try_get(at + 6).map_err(db)?;
    Ok(FileRec {
        sender_id: row.try_get(at).map_err(db)?,
        info: FileInfo {
            sender_key: PublicKey::from_der(&key).map_err(|_| bad("a bad sender key"))?,
            size: u32::try_from(size).map_err(|_| bad("a negative size"))?,
            digest: row.try_get(at + 2).map_err(db)?,
        },
        path: path.map(PathBuf::from),
        recipients: BTreeSet::new(),
        created_at: u64::try_from(created_at).map_err(|_| bad("a negative time"))?,
        status: store::parse_status(&status).map_err(bad)?,
    })
}

fn size_param(size: u32) -> Result<i32, StoreError> {
    i32::try_from(size).map_err(|_| StoreError::Db("chunk size out of range".into()))
}

fn time_param(t: u64) -> i64 {
    i64::try_from(t).unwrap_or(i64::MAX)
}

#[async_trait::async_trait]
impl MetadataStore for PgStore {
    async fn file(&self, sender_id: &[u8]) -> Result<Option<FileRec>, StoreError> {
        let rows = self
            .query(
                &format!("SELECT {FILE_COLUMNS} FROM files WHERE sender_id = $1"),
                &[&sender_id],
            )
            .await?;
        rows.first().map(|r| file_row(r, 0)).transpose()
    }

    async fn recipient(&self, rid: &[u8]) -> Result<Option<(Recipient, FileRec)>, StoreError> {
        let rows = self
            .query(
                "SELECT r.recipient_key, f.sender_id, f.file_size, f.file_digest, f.sender_key, \
                 f.file_path, f.created_at, f.status \
                 FROM recipients r JOIN files f ON f.sender_id = r.sender_id \
                 WHERE r.recipient_id = $1",
                &[&rid],
            )
            .await?;
        let Some(row) = rows.first() else {
            return Ok(None);
        };
        let key: Vec<u8> = row.try_get(0).map_err(db)?;
        let f = file_row(row, 1)?;
        let r = Recipient {
            sender_id: f.sender_id.clone(),
            key: PublicKey::from_der(&key).map_err(|_| bad("a bad recipient key"))?,
        };
        Ok(Some((r, f)))
    }

    async fn add_file(&self, rec: FileRec) -> Result<(), StoreError> {
        self.exec(
            "INSERT INTO files (sender_id, file_size, file_digest, sender_key, file_path, \
             created_at, status) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &[
                &rec.sender_id,
                &size_param(rec.info.size)?,
                &rec.info.digest,
                &rec.info.sender_key.to_der(),
                &rec.path.as_ref().map(|p| p.to_string_lossy().into_owned()),
                &time_param(rec.created_at),
                &store::status_text(&rec.status),
            ],
        )
        .await?;
        self.log(|| store::fnew_line(&rec));
        Ok(())
    }

    async fn add_recipients(
        &self,
        sender_id: &[u8],
        rcps: Vec<(Id, PublicKey)>,
    ) -> Result<(), StoreError> {
        let ids: Vec<&[u8]> = rcps.iter().map(|(id, _)| id.as_slice()).collect();
        let keys: Vec<Vec<u8>> = rcps.iter().map(|(_, k)| k.to_der()).collect();
        // One statement: all of them or none.
        self.exec(
            "INSERT INTO recipients (recipient_id, sender_id, recipient_key) \
             SELECT r, $2, k FROM UNNEST($1::BYTEA[], $3::BYTEA[]) AS t(r, k)",
            &[&ids, &sender_id, &keys],
        )
        .await?;
        self.log(|| store::fadd_line(sender_id, &rcps));
        Ok(())
    }

    async fn set_path(&self, sender_id: &[u8], path: PathBuf) -> Result<(), StoreError> {
        let text = path.to_string_lossy().into_owned();
        let rows = self
            .query(
                "UPDATE files SET file_path = $1 WHERE sender_id = $2 AND file_path IS NULL \
                 AND status = 'active' RETURNING file_size",
                &[&text, &sender_id],
            )
            .await?;
        match rows.first() {
            Some(row) => {
                let size: i32 = row.try_get(0).map_err(db)?;
                self.used
                    .fetch_add(u64::try_from(size).unwrap_or(0), Ordering::Relaxed);
                self.log(|| store::fput_line(sender_id, &path));
                Ok(())
            }
            // Uploaded already (through this relay or another), or gone.
            None => match self.file(sender_id).await? {
                Some(f) if f.path.is_some() => Ok(()),
                _ => Err(StoreError::NotFound),
            },
        }
    }

    async fn delete_file(&self, sender_id: &[u8]) -> Result<FileRec, StoreError> {
        let rows = self
            .query(
                &format!("DELETE FROM files WHERE sender_id = $1 RETURNING {FILE_COLUMNS}"),
                &[&sender_id],
            )
            .await?;
        let rec = file_row(rows.first().ok_or(StoreError::NotFound)?, 0)?;
        if rec.path.is_some() {
            let _ = self
                .used
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |u| {
                    Some(u.saturating_sub(u64::from(rec.info.size)))
                });
        }
        self.log(|| store::fdel_line(sender_id));
        Ok(rec)
    }

    async fn block_file(&self, sender_id: &[u8], info: BlockingInfo) -> Result<(), StoreError> {
        let status = store::status_text(&Status::Blocked(info.clone()));
        let n = self
            .exec(
                "UPDATE files SET status = $1 WHERE sender_id = $2",
                &[&status, &sender_id],
            )
            .await?;
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        self.log(|| store::fblk_line(sender_id, &info));
        Ok(())
    }

    async fn ack(&self, rid: &[u8]) -> Result<(), StoreError> {
        let n = self
            .exec("DELETE FROM recipients WHERE recipient_id = $1", &[&rid])
            .await?;
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        self.log(|| store::fack_line(rid));
        Ok(())
    }

    async fn used(&self) -> Result<u64, StoreError> {
        let fresh = self
            .used_read
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some_and(|at| at.elapsed() < USED_REFRESH);
        if fresh {
            return Ok(self.used.load(Ordering::Relaxed));
        }
        match self.read_used().await {
            Ok(u) => Ok(u),
            Err(e) => {
                // The last reading with this relay's changes since: an upload in progress is
                // not refused as over quota because the database is slow; its record will
                // fail on its own if the database is gone.
                tracing::warn!("used bytes not read again: {e}");
                Ok(self.used.load(Ordering::Relaxed))
            }
        }
    }

    async fn count(&self) -> Result<u64, StoreError> {
        let rows = self.query("SELECT COUNT(*) FROM files", &[]).await?;
        let n: i64 = rows
            .first()
            .ok_or_else(|| StoreError::Db("no count".into()))?
            .try_get(0)
            .map_err(db)?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn expired(
        &self,
        before: u64,
        unuploaded_before: u64,
        limit: usize,
    ) -> Result<Vec<(Id, u64)>, StoreError> {
        let rows = self
            .query(
                "SELECT sender_id, file_size FROM files WHERE created_at < $1 \
                 OR (created_at < $2 AND file_path IS NULL) ORDER BY created_at LIMIT $3",
                &[
                    &time_param(before),
                    &time_param(unuploaded_before),
                    &i64::try_from(limit).unwrap_or(i64::MAX),
                ],
            )
            .await?;
        rows.iter()
            .map(|r| {
                let size: i32 = r.try_get(1).map_err(db)?;
                Ok((r.try_get(0).map_err(db)?, u64::try_from(size).unwrap_or(0)))
            })
            .collect()
    }

    fn persistent(&self) -> bool {
        true
    }

    fn shared(&self) -> bool {
        true
    }
}

/// What `database import` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Imported {
    /// Chunks imported.
    pub files: u64,
    /// Recipients imported.
    pub recipients: u64,
    /// Store-log lines that could not be applied (reported, not imported).
    pub skipped: usize,
}

/// Rows per insert statement of an import.
const IMPORT_BATCH: usize = 1000;

/// Reads the store log at `log_path` and inserts its records into the database (creating the
/// schema), refusing a database that already has chunks; the log is left as it is (the caller
/// renames it). `progress` gets the counts as they grow.
pub async fn import(
    log_path: &Path,
    opts: &DbOptions,
    mut progress: impl FnMut(u64, u64),
) -> Result<Imported, DbError> {
    let mut mem = Store::new(None);
    let replay = store_log::replay_file(&mut mem, log_path)
        .map_err(|e| DbError::Db(format!("cannot read {}: {e}", log_path.display())))?;
    SCHEMA.prepare(opts, true, Migrate::Up).await?;
    let mut client = relay_db::connect(&relay_db::pg_config(opts, SCHEMA.tool)?).await?;
    let existing: i64 = client
        .query_one("SELECT COUNT(*) FROM files", &[])
        .await?
        .get(0);
    if existing > 0 {
        return Err(DbError::Db(format!(
            "the database already has {existing} chunks: import only into an empty schema"
        )));
    }
    let tx = client.transaction().await?;
    let files: Vec<&FileRec> = mem.files().collect();
    let (mut nf, mut nr) = (0u64, 0u64);
    for batch in files.chunks(IMPORT_BATCH) {
        let ids: Vec<&[u8]> = batch.iter().map(|f| f.sender_id.as_slice()).collect();
        let sizes: Vec<i32> = batch
            .iter()
            .map(|f| i32::try_from(f.info.size).unwrap_or(i32::MAX))
            .collect();
        let digests: Vec<&[u8]> = batch.iter().map(|f| f.info.digest.as_slice()).collect();
        let keys: Vec<Vec<u8>> = batch.iter().map(|f| f.info.sender_key.to_der()).collect();
        let paths: Vec<Option<String>> = batch
            .iter()
            .map(|f| f.path.as_ref().map(|p| p.to_string_lossy().into_owned()))
            .collect();
        let times: Vec<i64> = batch.iter().map(|f| time_param(f.created_at)).collect();
        let statuses: Vec<String> = batch
            .iter()
            .map(|f| store::status_text(&f.status))
            .collect();
        tx.execute(
            "INSERT INTO files (sender_id, file_size, file_digest, sender_key, file_path, \
             created_at, status) SELECT * FROM UNNEST($1::BYTEA[], $2::INTEGER[], $3::BYTEA[], \
             $4::BYTEA[], $5::TEXT[], $6::BIGINT[], $7::TEXT[])",
            &[&ids, &sizes, &digests, &keys, &paths, &times, &statuses],
        )
        .await?;
        nf += batch.len() as u64;
        progress(nf, nr);
    }
    let rcps: Vec<(Id, Recipient)> = mem.recipients();
    for batch in rcps.chunks(IMPORT_BATCH) {
        let ids: Vec<&[u8]> = batch.iter().map(|(id, _)| id.as_slice()).collect();
        let senders: Vec<&[u8]> = batch.iter().map(|(_, r)| r.sender_id.as_slice()).collect();
        let keys: Vec<Vec<u8>> = batch.iter().map(|(_, r)| r.key.to_der()).collect();
        tx.execute(
            "INSERT INTO recipients (recipient_id, sender_id, recipient_key) \
             SELECT * FROM UNNEST($1::BYTEA[], $2::BYTEA[], $3::BYTEA[])",
            &[&ids, &senders, &keys],
        )
        .await?;
        nr += batch.len() as u64;
        progress(nf, nr);
    }
    tx.commit().await?;
    Ok(Imported {
        files: nf,
        recipients: nr,
        skipped: replay.skipped.len(),
    })
}

/// What `database export` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exported {
    /// Chunks written.
    pub files: u64,
    /// Recipients written.
    pub recipients: u64,
}

/// Writes every record of the database to a new store log at `log_path` (which must not
/// exist): per chunk its FNEW (with its status) and FPUT, then each chunk's recipients in
/// FADD lines; streamed, synced before it returns.
pub async fn export(log_path: &Path, opts: &DbOptions) -> Result<Exported, DbError> {
    use std::io::Write;
    SCHEMA.prepare(opts, false, Migrate::Refuse).await?;
    let client = relay_db::connect(&relay_db::pg_config(opts, SCHEMA.tool)?).await?;
    let file = {
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o640)
            .open(log_path)
            .map_err(|e| DbError::Db(format!("cannot create {}: {e}", log_path.display())))?
    };
    let mut out = std::io::BufWriter::new(file);
    let write_err = |e: std::io::Error| DbError::Db(format!("writing {}: {e}", log_path.display()));
    let mut nf = 0u64;
    let no_params: [&(dyn ToSql + Sync); 0] = [];
    let rows = client
        .query_raw(
            &format!("SELECT {FILE_COLUMNS} FROM files ORDER BY created_at, sender_id"),
            no_params,
        )
        .await?;
    pin_mut!(rows);
    while let Some(row) = rows.try_next().await? {
        let f = file_row(&row, 0).map_err(|e| DbError::Db(e.to_string()))?;
        writeln!(out, "{}", store::fnew_line(&f)).map_err(write_err)?;
        if let Some(p) = &f.path {
            writeln!(out, "{}", store::fput_line(&f.sender_id, p)).map_err(write_err)?;
        }
        nf += 1;
    }
    let rows = client
        .query_raw(
            "SELECT sender_id, recipient_id, recipient_key FROM recipients \
             ORDER BY sender_id, recipient_id",
            no_params,
        )
        .await?;
    pin_mut!(rows);
    let mut nr = 0u64;
    let mut batch: Vec<(Id, PublicKey)> = Vec::new();
    let mut current: Option<Id> = None;
    while let Some(row) = rows.try_next().await? {
        let sid: Vec<u8> = row.try_get(0)?;
        let rid: Vec<u8> = row.try_get(1)?;
        let key: Vec<u8> = row.try_get(2)?;
        let key = PublicKey::from_der(&key)
            .map_err(|_| DbError::Db("a stored record has a bad recipient key".into()))?;
        if current.as_ref() != Some(&sid) || batch.len() == 64 {
            if let Some(prev) = &current {
                if !batch.is_empty() {
                    writeln!(out, "{}", store::fadd_line(prev, &batch)).map_err(write_err)?;
                }
            }
            batch.clear();
            current = Some(sid);
        }
        batch.push((rid, key));
        nr += 1;
    }
    if let (Some(prev), false) = (&current, batch.is_empty()) {
        writeln!(out, "{}", store::fadd_line(prev, &batch)).map_err(write_err)?;
    }
    let file = out.into_inner().map_err(|e| write_err(e.into_error()))?;
    file.sync_all().map_err(write_err)?;
    Ok(Exported {
        files: nf,
        recipients: nr,
    })
}
