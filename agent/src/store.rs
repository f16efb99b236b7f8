//! The agent's store: SQLite through rusqlite, built with SQLCipher so that a database key
//! encrypts the whole file. Every change a network action depends on is committed first
//! (`synchronous = FULL`), so a killed process resumes from what it last told the network.
//!
//! ```text
//! schema v1:  migrations(version)                       applied migrations
//!             connections(conn_id PRIMARY KEY, state)  one row per connection: its queues,
//!                                                       keys, ratchet and message counters
//!                                                       (the agent's versioned binary encoding)
//! ```

use std::path::Path;

use rusqlite::{params, Connection, OptionalExtension};

/// Why the store failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The file is not a database, or the key is wrong.
    #[error("cannot open the database (wrong key, or not an agent database): {0}")]
    Open(String),
    /// A query failed (disk full, I/O error, ...).
    #[error("database: {0}")]
    Db(#[from] rusqlite::Error),
    /// The file could not be created.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The database is from a newer version of this program.
    #[error("the database has schema version {0}, newer than this program's {1}")]
    TooNew(i64, i64),
    /// The copy of the database made before upgrading it failed (it is not upgraded).
    #[error("cannot back up the database to {0} before upgrading it: {1}")]
    Backup(String, std::io::Error),
}

/// Where the copy of a database goes before its schema is upgraded (the reference's
/// `--backup-directory` and `--disable-backup`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MigrationBackup {
    /// `<database file>.bak` beside the database (the default).
    Beside,
    /// `<database file name>.bak` in this directory.
    Into(std::path::PathBuf),
    /// No copy.
    Off,
}

/// What is done around the upgrade of an existing database: a copy first, `VACUUM` after
/// (the reference's `--disable-vacuum` turns it off). A new database is neither copied nor
/// vacuumed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationOptions {
    /// The copy made first.
    pub backup: MigrationBackup,
    /// `VACUUM` once upgraded.
    pub vacuum: bool,
}

static MIGRATION_OPTIONS: std::sync::RwLock<MigrationOptions> =
    std::sync::RwLock::new(MigrationOptions {
        backup: MigrationBackup::Beside,
        vacuum: true,
    });

/// Sets what is done around upgrades for the databases this process opens from now on.
pub fn set_migration_options(options: MigrationOptions) {
    *MIGRATION_OPTIONS.write().unwrap_or_else(|p| p.into_inner()) = options;
}

fn migration_options() -> MigrationOptions {
    MIGRATION_OPTIONS
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .clone()
}

/// Copies the database file at `db_path` to `<name>.bak` as `backup` says, through a
/// temporary file renamed into place (a link at the name is replaced, never followed);
/// created 0600 and synced. The database is checkpointed first, so the file alone holds it.
fn back_up(db: &Connection, db_path: &Path, backup: &MigrationBackup) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let Some(name) = db_path.file_name() else {
        return Ok(());
    };
    let mut bak_name = name.to_os_string();
    bak_name.push(".bak");
    let dest = match backup {
        MigrationBackup::Off => return Ok(()),
        MigrationBackup::Beside => db_path.with_file_name(&bak_name),
        MigrationBackup::Into(dir) => dir.join(&bak_name),
    };
    let shown = dest.display().to_string();
    let fail = |e: std::io::Error| StoreError::Backup(shown.clone(), e);
    // Everything into the file first: a copy of the file alone must be the whole database.
    let (busy, log, done): (i64, i64, i64) =
        db.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?;
    if busy != 0 || log != done {
        return Err(fail(std::io::Error::other(
            "the database is in use by another connection",
        )));
    }
    let mut tmp_name = bak_name.clone();
    tmp_name.push(".tmp");
    let tmp = dest.with_file_name(tmp_name);
    match std::fs::remove_file(&tmp) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(fail(e)),
        _ => {}
    }
    let mut src = std::fs::File::open(db_path).map_err(fail)?;
    let mut out = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(fail)?;
    let copied = std::io::copy(&mut src, &mut out)
        .and_then(|_| out.flush())
        .and_then(|_| out.sync_all())
        .and_then(|_| std::fs::rename(&tmp, &dest));
    if let Err(e) = copied {
        let _ = std::fs::remove_file(&tmp);
        return Err(fail(e));
    }
    if let Some(dir) = dest.parent().filter(|d| !d.as_os_str().is_empty()) {
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

type Result<T> = std::result::Result<T, StoreError>;

/// Schema migrations, in order; each runs in its own transaction.
const MIGRATIONS: &[&str] = &[
    // v1
    "CREATE TABLE connections (
        conn_id INTEGER PRIMARY KEY,
        state BLOB NOT NULL
     );",
    // v2: messages encrypted and committed, not yet accepted by the relay
    "CREATE TABLE pending_sends (
        conn_id INTEGER NOT NULL REFERENCES connections ON DELETE CASCADE,
        msg_id INTEGER NOT NULL,
        body BLOB NOT NULL,
        PRIMARY KEY (conn_id, msg_id)
     );",
    // v3: messages decrypted and handed to the user, not yet acknowledged by it
    "CREATE TABLE received (
        conn_id INTEGER NOT NULL REFERENCES connections ON DELETE CASCADE,
        relay_msg_id BLOB NOT NULL,
        msg_id INTEGER NOT NULL,
        body BLOB NOT NULL,
        integrity TEXT,
        PRIMARY KEY (conn_id, relay_msg_id)
     );",
    "ALTER TABLE received ADD COLUMN msg_hash BLOB;
     CREATE TABLE sent_hashes (
        conn_id INTEGER NOT NULL REFERENCES connections ON DELETE CASCADE,
        msg_id INTEGER NOT NULL,
        msg_hash BLOB NOT NULL,
        sent_at INTEGER NOT NULL,
        PRIMARY KEY (conn_id, msg_id)
     );",
    "CREATE TABLE requests (
        request_id INTEGER PRIMARY KEY,
        address INTEGER NOT NULL REFERENCES connections ON DELETE CASCADE,
        link TEXT NOT NULL,
        info BLOB NOT NULL
     );",
    "ALTER TABLE pending_sends ADD COLUMN snd_id BLOB;",
    // v7: invitation short links read (LKEY secures the queue with our key): the key, kept
    // for joining the invitation after its plan, by the link's id and the queue's sender id
    "CREATE TABLE inv_short_links (
        link_id BLOB PRIMARY KEY,
        host TEXT NOT NULL,
        link_key BLOB NOT NULL,
        snd_key BLOB NOT NULL,
        snd_id BLOB
     );
     CREATE INDEX inv_short_links_snd_id ON inv_short_links (snd_id);",
    // v8: the notification flag of a message's SEND: of a pending one (sent with it), of a
    // received one (as its sender set it)
    "ALTER TABLE pending_sends ADD COLUMN notify INTEGER NOT NULL DEFAULT 0;
     ALTER TABLE received ADD COLUMN notified INTEGER NOT NULL DEFAULT 0;",
];

/// An invitation short link read (LKEY): the relay's host, the link's key, the sender key
/// the queue is secured with (DER) and, once the relay answered, the queue's sender id.
#[derive(Clone)]
pub struct InvShortLink {
    /// The short link's first host.
    pub host: String,
    /// The link's key (from the link).
    pub link_key: Vec<u8>,
    /// The sender key (DER): LKEY secured the queue with it.
    pub snd_key: zeroize::Zeroizing<Vec<u8>>,
    /// The queue's sender id, once known.
    pub snd_id: Option<Vec<u8>>,
}

impl std::fmt::Debug for InvShortLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The keys stay out of logs.
        f.debug_struct("InvShortLink")
            .field("host", &self.host)
            .finish_non_exhaustive()
    }
}

/// How long the hash of a sent message is kept for the peer's delivery receipt.
pub const RECEIPT_WAIT_SECS: i64 = 30 * 86_400;

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// A received message waiting for the user's acknowledgement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// The relay's message id (what is ACKed).
    pub relay_msg_id: Vec<u8>,
    /// The sender's sequential id.
    pub msg_id: i64,
    /// The body.
    pub body: Vec<u8>,
    /// What was wrong with ids or hashes, if anything.
    pub integrity: Option<crate::agent::IntegrityError>,
    /// SHA-256 of the agent message (what a delivery receipt carries).
    pub msg_hash: Vec<u8>,
    /// Its sender set the notification flag.
    pub notified: bool,
}

/// A message committed to be sent, stored with its connection's state until the relay has it.
#[derive(Debug, Clone, Copy)]
pub struct NewPending<'a> {
    /// Its id.
    pub msg_id: i64,
    /// The sealed body.
    pub body: &'a [u8],
    /// A user's message: the hash its delivery receipt will carry.
    pub receipt_hash: Option<&'a [u8]>,
    /// The sender id of the queue it is sealed for.
    pub snd_id: &'a [u8],
    /// Its SEND carries the notification flag.
    pub notify: bool,
}

/// A request to an address kept until it is answered: id, address, the requester's
/// invitation link, its info.
pub type StoredRequest = (u64, u64, String, Vec<u8>);

/// A message not yet accepted by the relay: connection, message id, sealed body, the sender
/// id of its queue, whether it is a user's message (its hash kept for a receipt).
pub type PendingSend = (u64, i64, Vec<u8>, Option<Vec<u8>>, bool, bool);

/// Opens (creating, mode 0600) an SQLite database at `path`, encrypted with `key` when given
/// (SQLCipher), in WAL mode with `synchronous = FULL` and foreign keys on. A wrong key, or a
/// file that is not a database, is [`StoreError::Open`]. The chat database opens the same way.
pub fn open_connection(path: &Path, key: Option<&str>) -> Result<Connection> {
    if !path.exists() {
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)?;
    }
    let db = Connection::open(path)?;
    // A wrong key is reported by the error below; SQLCipher's own lines about it would go to
    // the terminal (stderr).
    let _ = db.query_row("PRAGMA cipher_log_level = NONE", [], |_| Ok(()));
    if let Some(k) = key {
        db.pragma_update(None, "key", k)?;
    }
    // The first read tells a wrong key (or a plain database opened with one).
    db.query_row("SELECT count(*) FROM sqlite_master", [], |r| {
        r.get::<_, i64>(0)
    })
    .map_err(|e| StoreError::Open(e.to_string()))?;
    db.pragma_update(None, "journal_mode", "WAL")?;
    db.pragma_update(None, "synchronous", "FULL")?;
    db.pragma_update(None, "foreign_keys", "ON")?;
    Ok(db)
}

/// The applied schema version of a database (0: none).
pub fn schema_version_of(db: &Connection) -> Result<i64> {
    Ok(db
        .query_row("SELECT max(version) FROM migrations", [], |r| {
            r.get::<_, Option<i64>>(0)
        })?
        .unwrap_or(0))
}

/// Applies the `migrations` not yet applied, in order, each in its own transaction; refuses a
/// database from a newer program ([`StoreError::TooNew`]). An existing database is copied
/// first and vacuumed after, as [`set_migration_options`] says.
pub fn migrate(db: &mut Connection, migrations: &[&str]) -> Result<()> {
    migrate_with(db, migrations, &migration_options())
}

/// [`migrate`] with these options.
pub fn migrate_with(
    db: &mut Connection,
    migrations: &[&str],
    options: &MigrationOptions,
) -> Result<()> {
    db.execute_batch("CREATE TABLE IF NOT EXISTS migrations (version INTEGER PRIMARY KEY);")?;
    let current = schema_version_of(db)?;
    let known = migrations.len() as i64;
    if current > known {
        return Err(StoreError::TooNew(current, known));
    }
    // An existing database to upgrade: copied first (the reference's backup), vacuumed after.
    let upgrade = current > 0 && current < known;
    if upgrade {
        if let Some(path) = db
            .path()
            .filter(|p| !p.is_empty())
            .map(std::path::PathBuf::from)
        {
            back_up(db, &path, &options.backup)?;
        }
    }
    for (i, sql) in migrations.iter().enumerate().skip(current as usize) {
        let tx = db.transaction()?;
        tx.execute_batch(sql)?;
        tx.execute(
            "INSERT INTO migrations (version) VALUES (?1)",
            [i as i64 + 1],
        )?;
        tx.commit()?;
    }
    // Best effort: VACUUM needs room for a copy of the database; failing (a full disk), it
    // leaves the database as it was, upgraded and whole, and the start goes on.
    if upgrade && options.vacuum {
        let _ = db.execute_batch("VACUUM");
    }
    Ok(())
}

/// The agent's database.
#[derive(Debug)]
pub struct Store {
    db: Connection,
    /// New connections and requests are numbered above this (0: from 1); see
    /// [`Store::set_id_base`].
    id_base: u64,
}

impl Store {
    /// Opens (creating, mode 0600) the database at `path`, encrypted with `key` when given.
    pub fn open(path: &Path, key: Option<&str>) -> Result<Self> {
        let mut db = open_connection(path, key)?;
        migrate(&mut db, MIGRATIONS)?;
        // SQLCipher's `secure_delete` stays on: freed pages (old ratchet states, acknowledged
        // messages) are overwritten, not left for whoever later holds the key (forward secrecy);
        // it costs ~30 us per deleted 16 KB message (measured with the agent bench).
        let store = Self { db, id_base: 0 };
        // Hashes of messages whose receipt never came.
        store.db.execute(
            "DELETE FROM sent_hashes WHERE sent_at < ?1",
            [now_secs() - RECEIPT_WAIT_SECS],
        )?;
        // A connection has at most one received message waiting for the user (the relay sends
        // the next only after the ACK): older rows are acknowledged ones whose unsynced
        // deletion was lost in a crash.
        store.db.execute(
            "DELETE FROM received WHERE EXISTS (SELECT 1 FROM received AS later
               WHERE later.conn_id = received.conn_id AND later.msg_id > received.msg_id)",
            [],
        )?;
        Ok(store)
    }

    /// Numbers the connections and requests made from now on above `base` (those stored
    /// keep their numbers): several agents whose numbers must not meet (the chat's users, each
    /// with its own database) are given ranges of their own. Set before [`crate::Agent`]
    /// opens the store.
    pub fn set_id_base(&mut self, base: u64) {
        self.id_base = base;
    }

    /// See [`Store::set_id_base`].
    pub fn id_base(&self) -> u64 {
        self.id_base
    }

    /// The applied schema version.
    pub fn schema_version(&self) -> Result<i64> {
        schema_version_of(&self.db)
    }

    /// The invitation short link with this id, as read before.
    pub fn inv_short_link(&self, link_id: &[u8]) -> Result<Option<InvShortLink>> {
        Ok(self
            .db
            .query_row(
                "SELECT host, link_key, snd_key, snd_id FROM inv_short_links WHERE link_id = ?1",
                [link_id],
                |r| {
                    Ok(InvShortLink {
                        host: r.get(0)?,
                        link_key: r.get(1)?,
                        snd_key: zeroize::Zeroizing::new(r.get(2)?),
                        snd_id: r.get(3)?,
                    })
                },
            )
            .optional()?)
    }

    /// Keeps an invitation short link's sender key (replacing one kept for the same id).
    pub fn save_inv_short_link(&self, link_id: &[u8], l: &InvShortLink) -> Result<()> {
        self.db.execute(
            "INSERT OR REPLACE INTO inv_short_links (link_id, host, link_key, snd_key, snd_id)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![link_id, l.host, l.link_key, l.snd_key.as_slice(), l.snd_id],
        )?;
        Ok(())
    }

    /// The invitation short links read whose queue has this sender id.
    pub fn inv_short_links_by_sender(&self, snd_id: &[u8]) -> Result<Vec<InvShortLink>> {
        let mut q = self.db.prepare(
            "SELECT host, link_key, snd_key, snd_id FROM inv_short_links WHERE snd_id = ?1",
        )?;
        let rows = q.query_map([snd_id], |r| {
            Ok(InvShortLink {
                host: r.get(0)?,
                link_key: r.get(1)?,
                snd_key: zeroize::Zeroizing::new(r.get(2)?),
                snd_id: r.get(3)?,
            })
        })?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }

    /// Forgets the invitation short links of the queue with this sender id (joined).
    pub fn delete_inv_short_links(&self, snd_id: &[u8]) -> Result<()> {
        self.db
            .execute("DELETE FROM inv_short_links WHERE snd_id = ?1", [snd_id])?;
        Ok(())
    }

    /// Stores a connection's state (replacing the previous one), durably.
    pub fn save(&self, conn_id: u64, state: &[u8]) -> Result<()> {
        self.db.execute(
            "INSERT INTO connections (conn_id, state) VALUES (?1, ?2)
             ON CONFLICT (conn_id) DO UPDATE SET state = excluded.state",
            params![conn_id as i64, state],
        )?;
        Ok(())
    }

    /// Stores a connection's state and a message to send, in one transaction (the message is
    /// sent after this, and again after a restart until the relay accepts it).
    pub fn save_with_pending(
        &mut self,
        conn_id: u64,
        state: &[u8],
        m: &NewPending<'_>,
    ) -> Result<()> {
        let NewPending {
            msg_id,
            body,
            receipt_hash,
            snd_id,
            notify,
        } = *m;
        let tx = self.db.transaction()?;
        tx.prepare_cached(
            "INSERT INTO connections (conn_id, state) VALUES (?1, ?2)
             ON CONFLICT (conn_id) DO UPDATE SET state = excluded.state",
        )?
        .execute(params![conn_id as i64, state])?;
        tx.prepare_cached(
            "INSERT OR REPLACE INTO pending_sends (conn_id, msg_id, body, snd_id, notify)
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )?
        .execute(params![conn_id as i64, msg_id, body, snd_id, notify])?;
        if let Some(hash) = receipt_hash {
            tx.prepare_cached(
                "INSERT OR REPLACE INTO sent_hashes (conn_id, msg_id, msg_hash, sent_at)
                 VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![conn_id as i64, msg_id, hash, now_secs()])?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Stores a connection's state with a message decrypted for the user, in one transaction
    /// (the relay is ACKed only once the user acknowledged it).
    pub fn save_with_received(&mut self, conn_id: u64, state: &[u8], r: &Received) -> Result<()> {
        let tx = self.db.transaction()?;
        tx.prepare_cached(
            "INSERT INTO connections (conn_id, state) VALUES (?1, ?2)
             ON CONFLICT (conn_id) DO UPDATE SET state = excluded.state",
        )?
        .execute(params![conn_id as i64, state])?;
        tx.prepare_cached(
            "INSERT OR REPLACE INTO received
             (conn_id, relay_msg_id, msg_id, body, integrity, msg_hash, notified)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?
        .execute(params![
            conn_id as i64,
            r.relay_msg_id,
            r.msg_id,
            r.body,
            r.integrity
                .as_ref()
                .map(crate::agent::IntegrityError::to_stored),
            r.msg_hash,
            r.notified
        ])?;
        // Older rows of the connection were acknowledged (the relay sends the next message only
        // after the ACK) and their deletion was lost or is still on its way.
        tx.prepare_cached("DELETE FROM received WHERE conn_id = ?1 AND relay_msg_id != ?2")?
            .execute(params![conn_id as i64, r.relay_msg_id])?;
        tx.commit()?;
        Ok(())
    }

    /// A received message by the relay's id (to hand it again after a restart).
    pub fn received(&self, conn_id: u64, relay_msg_id: &[u8]) -> Result<Option<Received>> {
        Ok(self
            .db
            .query_row(
                "SELECT msg_id, body, integrity, msg_hash, notified FROM received
                 WHERE conn_id = ?1 AND relay_msg_id = ?2",
                params![conn_id as i64, relay_msg_id],
                |r| {
                    Ok(Received {
                        relay_msg_id: relay_msg_id.to_vec(),
                        msg_id: r.get(0)?,
                        body: r.get(1)?,
                        integrity: r
                            .get::<_, Option<String>>(2)?
                            .and_then(|t| crate::agent::IntegrityError::from_stored(&t)),
                        // Stored before schema v4: no hash, so no receipt can match it.
                        msg_hash: r.get::<_, Option<Vec<u8>>>(3)?.unwrap_or_default(),
                        notified: r.get(4)?,
                    })
                },
            )
            .optional()?)
    }

    /// Runs `f` without waiting for the disk (`synchronous = NORMAL`: in WAL mode the commit is
    /// durable with the next synced one). Only for changes whose loss in a crash is harmless.
    fn unsynced<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        self.db
            .prepare_cached("PRAGMA synchronous = NORMAL")?
            .execute([])?;
        let r = f(&self.db);
        self.db
            .prepare_cached("PRAGMA synchronous = FULL")?
            .execute([])?;
        r
    }

    /// The user acknowledged a received message. Not synced: if the deletion is lost, the row
    /// stays behind but is never handed out (the relay was ACKed and does not send it again),
    /// and the next message's commit (or [`Store::open`]) removes it.
    pub fn acknowledged(&self, conn_id: u64, relay_msg_id: &[u8]) -> Result<()> {
        self.unsynced(|db| {
            db.prepare_cached("DELETE FROM received WHERE conn_id = ?1 AND relay_msg_id = ?2")?
                .execute(params![conn_id as i64, relay_msg_id])?;
            Ok(())
        })
    }

    /// The relay accepted a message: it is no longer pending. Not synced: if the deletion is
    /// lost, the message is sent again after a restart and the peer drops it as a duplicate
    /// (as when the process dies between the relay's OK and this call).
    pub fn sent(&self, conn_id: u64, msg_id: i64) -> Result<()> {
        self.unsynced(|db| {
            db.prepare_cached("DELETE FROM pending_sends WHERE conn_id = ?1 AND msg_id = ?2")?
                .execute(params![conn_id as i64, msg_id])?;
            Ok(())
        })
    }

    /// The hash of sent message `msg_id`, kept for the peer's delivery receipt.
    pub fn sent_hash(&self, conn_id: u64, msg_id: i64) -> Result<Option<Vec<u8>>> {
        Ok(self
            .db
            .query_row(
                "SELECT msg_hash FROM sent_hashes WHERE conn_id = ?1 AND msg_id = ?2",
                params![conn_id as i64, msg_id],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// The peer confirmed sent message `msg_id` with a matching hash: its hash goes.
    pub fn delivered(&self, conn_id: u64, msg_id: i64) -> Result<()> {
        self.db.execute(
            "DELETE FROM sent_hashes WHERE conn_id = ?1 AND msg_id = ?2",
            params![conn_id as i64, msg_id],
        )?;
        Ok(())
    }

    /// Keeps a request to an address until it is accepted or rejected.
    pub fn save_request(&self, id: u64, address: u64, link: &str, info: &[u8]) -> Result<()> {
        self.db.execute(
            "INSERT OR REPLACE INTO requests (request_id, address, link, info)
             VALUES (?1, ?2, ?3, ?4)",
            params![id as i64, address as i64, link, info],
        )?;
        Ok(())
    }

    /// A request was accepted or rejected.
    pub fn delete_request(&self, id: u64) -> Result<()> {
        self.db
            .execute("DELETE FROM requests WHERE request_id = ?1", [id as i64])?;
        Ok(())
    }

    /// Requests not yet accepted or rejected, oldest first.
    pub fn requests(&self) -> Result<Vec<StoredRequest>> {
        let mut q = self
            .db
            .prepare("SELECT request_id, address, link, info FROM requests ORDER BY request_id")?;
        let rows = q.query_map([], |r| {
            Ok((
                r.get::<_, i64>(0)? as u64,
                r.get::<_, i64>(1)? as u64,
                r.get(2)?,
                r.get(3)?,
            ))
        })?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }

    /// Messages not yet accepted by the relay, oldest first, with the sender id of the queue
    /// each is sealed for (`None`: stored before schema v6, the connection's queue).
    pub fn pending(&self) -> Result<Vec<PendingSend>> {
        let mut q = self.db.prepare(
            "SELECT p.conn_id, p.msg_id, p.body, p.snd_id,
                    EXISTS (SELECT 1 FROM sent_hashes h
                            WHERE h.conn_id = p.conn_id AND h.msg_id = p.msg_id),
                    p.notify
             FROM pending_sends p ORDER BY p.conn_id, p.msg_id",
        )?;
        let rows = q.query_map([], |r| {
            Ok((
                r.get::<_, i64>(0)? as u64,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
            ))
        })?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }

    /// Whether message `msg_id` of a connection still waits to be accepted by its relay.
    pub fn is_pending(&self, conn_id: u64, msg_id: i64) -> Result<bool> {
        Ok(self.db.query_row(
            "SELECT EXISTS (SELECT 1 FROM pending_sends WHERE conn_id = ?1 AND msg_id = ?2)",
            params![conn_id as i64, msg_id],
            |r| r.get(0),
        )?)
    }

    /// Deletes a connection.
    pub fn delete(&self, conn_id: u64) -> Result<()> {
        self.db.execute(
            "DELETE FROM connections WHERE conn_id = ?1",
            [conn_id as i64],
        )?;
        Ok(())
    }

    /// One connection's state.
    pub fn load(&self, conn_id: u64) -> Result<Option<Vec<u8>>> {
        Ok(self
            .db
            .query_row(
                "SELECT state FROM connections WHERE conn_id = ?1",
                [conn_id as i64],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Every connection, by id.
    pub fn load_all(&self) -> Result<Vec<(u64, Vec<u8>)>> {
        let mut q = self
            .db
            .prepare("SELECT conn_id, state FROM connections ORDER BY conn_id")?;
        let rows = q.query_map([], |r| Ok((r.get::<_, i64>(0)? as u64, r.get(1)?)))?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }

    /// Bytes of pages in use (the file also keeps freed pages for reuse).
    pub fn live_bytes(&self) -> Result<u64> {
        // SQLCipher answers some of these as text.
        let get = |p: &str| -> Result<i64> {
            let v: rusqlite::types::Value = self
                .db
                .query_row(&format!("PRAGMA {p}"), [], |r| r.get(0))?;
            Ok(match v {
                rusqlite::types::Value::Integer(i) => i,
                rusqlite::types::Value::Text(t) => t.trim().parse().unwrap_or(0),
                _ => 0,
            })
        };
        let used = get("page_count")? - get("freelist_count")?;
        Ok((used.max(0) * get("page_size")?) as u64)
    }

    /// Changes the database key (the whole file is re-encrypted).
    pub fn rekey(&self, new_key: &str) -> Result<()> {
        self.db.pragma_update(None, "rekey", new_key)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An existing database is copied to `<file>.bak` (0600, as it was: its version and rows)
    /// before an upgrade, beside it or into a directory, or not at all; a new one is not; a
    /// link at the backup's name is replaced, not followed.
    #[test]
    fn a_database_is_backed_up_before_an_upgrade() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let steps: [&str; 2] = [
            "CREATE TABLE t (x INTEGER);",
            "ALTER TABLE t ADD COLUMN y INTEGER;",
        ];
        let opts = |backup| MigrationOptions {
            backup,
            vacuum: true,
        };
        let old = |name: &str| {
            let path = dir.path().join(name);
            let mut db = open_connection(&path, Some("k")).unwrap();
            migrate_with(&mut db, &steps[..1], &opts(MigrationBackup::Beside)).unwrap();
            db.execute("INSERT INTO t (x) VALUES (7)", []).unwrap();
            (db, path)
        };
        // A new database: nothing to copy.
        assert!(!dir.path().join("a.db.bak").exists());
        let (mut db, _) = old("a.db");
        assert!(
            !dir.path().join("a.db.bak").exists(),
            "a new database is not copied"
        );
        // A link where the copy goes: replaced, its target untouched.
        let target = dir.path().join("target");
        std::fs::write(&target, b"mine").unwrap();
        std::os::unix::fs::symlink(&target, dir.path().join("a.db.bak")).unwrap();
        migrate_with(&mut db, &steps, &opts(MigrationBackup::Beside)).unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"mine");
        let bak = dir.path().join("a.db.bak");
        let meta = std::fs::symlink_metadata(&bak).unwrap();
        assert!(meta.file_type().is_file());
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        let copy = open_connection(&bak, Some("k")).unwrap();
        assert_eq!(schema_version_of(&copy).unwrap(), 1);
        let x: i64 = copy.query_row("SELECT x FROM t", [], |r| r.get(0)).unwrap();
        assert_eq!(x, 7);
        assert_eq!(schema_version_of(&db).unwrap(), 2);

        let elsewhere = dir.path().join("backups");
        std::fs::create_dir(&elsewhere).unwrap();
        let (mut db, _) = old("b.db");
        migrate_with(
            &mut db,
            &steps,
            &opts(MigrationBackup::Into(elsewhere.clone())),
        )
        .unwrap();
        assert!(elsewhere.join("b.db.bak").exists());
        assert!(!dir.path().join("b.db.bak").exists());

        let (mut db, _) = old("c.db");
        migrate_with(&mut db, &steps, &opts(MigrationBackup::Off)).unwrap();
        assert!(!dir.path().join("c.db.bak").exists());

        // A copy that cannot be made: the database is not upgraded.
        let (mut db, _) = old("d.db");
        let missing = dir.path().join("no such dir");
        let e = migrate_with(&mut db, &steps, &opts(MigrationBackup::Into(missing)));
        assert!(matches!(e, Err(StoreError::Backup(..))), "{e:?}");
        assert_eq!(schema_version_of(&db).unwrap(), 1);
    }

    #[test]
    fn encrypted_store_round_trip_wrong_key_and_rekey() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("agent.db");
        {
            let s = Store::open(&path, Some("first key")).unwrap();
            assert_eq!(s.schema_version().unwrap(), MIGRATIONS.len() as i64);
            s.save(1, b"state one").unwrap();
            s.save(2, b"state two").unwrap();
            s.save(1, b"state one, later").unwrap();
            s.delete(2).unwrap();
        }
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "the database is private");
        // The file holds no plaintext.
        let raw = std::fs::read(&path).unwrap();
        assert!(!raw.windows(9).any(|w| w == b"state one"));
        assert!(!raw.starts_with(b"SQLite format 3"));
        assert!(matches!(
            Store::open(&path, Some("wrong key")),
            Err(StoreError::Open(_))
        ));
        assert!(matches!(Store::open(&path, None), Err(StoreError::Open(_))));
        let s = Store::open(&path, Some("first key")).unwrap();
        assert_eq!(s.load_all().unwrap(), [(1, b"state one, later".to_vec())]);
        s.rekey("second key").unwrap();
        drop(s);
        assert!(Store::open(&path, Some("first key")).is_err());
        let s = Store::open(&path, Some("second key")).unwrap();
        assert_eq!(s.load(1).unwrap().unwrap(), b"state one, later");
    }

    #[test]
    fn a_version_3_database_is_migrated_keeping_its_messages() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("agent.db");
        {
            // What the previous version left: schema 3 with a message not yet acknowledged.
            let db = Connection::open(&path).unwrap();
            db.pragma_update(None, "key", "k").unwrap();
            db.execute_batch("CREATE TABLE migrations (version INTEGER PRIMARY KEY);")
                .unwrap();
            for (i, sql) in MIGRATIONS[..3].iter().enumerate() {
                db.execute_batch(sql).unwrap();
                db.execute("INSERT INTO migrations VALUES (?1)", [i as i64 + 1])
                    .unwrap();
            }
            db.execute("INSERT INTO connections VALUES (7, x'00')", [])
                .unwrap();
            db.execute(
                "INSERT INTO received VALUES (7, x'0102', 5, x'6869', NULL)",
                [],
            )
            .unwrap();
        }
        let mut s = Store::open(&path, Some("k")).unwrap();
        assert_eq!(s.schema_version().unwrap(), MIGRATIONS.len() as i64);
        let r = s.received(7, &[1, 2]).unwrap().unwrap();
        assert_eq!(
            (r.msg_id, r.body.as_slice(), r.msg_hash.len()),
            (5, &b"hi"[..], 0)
        );
        // The new table works: a hash kept with a pending message, gone once delivered.
        let pending = |msg_id, body, receipt_hash, notify| NewPending {
            msg_id,
            body,
            receipt_hash,
            snd_id: b"queue",
            notify,
        };
        s.save_with_pending(7, b"\x00", &pending(6, b"sealed", Some(&[9; 32]), true))
            .unwrap();
        // An agent's own message (no hash) beside it: the user's is known as such; whether
        // each notifies is kept for its SEND after a restart.
        s.save_with_pending(7, b"\x00", &pending(7, b"agent's", None, false))
            .unwrap();
        let users: Vec<(i64, bool, bool)> = s
            .pending()
            .unwrap()
            .iter()
            .map(|p| (p.1, p.4, p.5))
            .collect();
        assert_eq!(users, [(6, true, true), (7, false, false)]);
        s.sent(7, 7).unwrap();
        assert!(s.is_pending(7, 6).unwrap());
        assert!(!s.is_pending(7, 5).unwrap() && !s.is_pending(8, 6).unwrap());
        assert_eq!(s.sent_hash(7, 6).unwrap(), Some(vec![9; 32]));
        s.delivered(7, 6).unwrap();
        assert_eq!(s.sent_hash(7, 6).unwrap(), None);
        s.sent(7, 6).unwrap();
        assert!(!s.is_pending(7, 6).unwrap());
    }

    #[test]
    fn acknowledged_rows_left_by_a_crash_are_removed_at_open_but_the_waiting_one_stays() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("agent.db");
        let row = |id: u8| Received {
            relay_msg_id: vec![id],
            msg_id: i64::from(id),
            body: vec![id],
            integrity: None,
            msg_hash: vec![id; 32],
            notified: id == 6,
        };
        {
            let mut s = Store::open(&path, Some("k")).unwrap();
            s.save(1, b"one").unwrap();
            s.save(2, b"two").unwrap();
            // Connection 1: message 5 acknowledged (its deletion lost), 6 waiting.
            s.save_with_received(1, b"one", &row(5)).unwrap();
            s.save_with_received(1, b"one", &row(6)).unwrap();
            // Connection 2: message 3 waiting.
            s.save_with_received(2, b"two", &row(3)).unwrap();
        }
        let s = Store::open(&path, Some("k")).unwrap();
        assert_eq!(s.received(1, &[5]).unwrap(), None);
        assert_eq!(s.received(1, &[6]).unwrap(), Some(row(6)));
        assert_eq!(s.received(2, &[3]).unwrap(), Some(row(3)));
        // Deletions that do not wait for the disk still take effect.
        s.acknowledged(1, &[6]).unwrap();
        assert_eq!(s.received(1, &[6]).unwrap(), None);
    }
}
