//! Queue records in PostgreSQL (`store_queues = database`), in the reference relay's schema
//! (`msg_queues` and its `migrations` table), with messages staying in the journal.
//!
//! ```text
//! start:   msg_queues (deleted_at IS NULL) ──load──► QueueStore (memory, as with the store log)
//! change:  relay ─► StoreLog::append(record) ─► DbLog: parsed, queued
//!          group commit ─► DbLog::sync: every queued record, in order, in one transaction
//!                         ─► commit ─► Durable ─► the command is answered
//! ```
//!
//! The relay works on its queues in memory exactly as with the store log; the database takes
//! the store log's place. A change is answered only after its transaction committed. When the
//! database is unreachable the commit is retried until it succeeds: answers wait (clients time
//! out and retry), nothing is answered that is not committed, and the relay carries on by
//! itself when the database returns. The records are written so that applying them twice
//! changes nothing (a retried commit whose first outcome was unknown is harmless).

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use futures_util::future::try_join_all;
use futures_util::{pin_mut, TryStreamExt};
use relay_db::describe;
pub use relay_db::{DbError, DbOptions, Migrate};
use simplex_crypto::{PublicKey, SbKey};
use smp_proto::command::LinkData;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Row, Statement};

use crate::queue::{Notifier, QueueMode, QueueRec};
use crate::storelog::{self, QueueStore, Record};

/// The reference's default connection string.
pub const DEFAULT_CONNECTION: &str = "postgresql://smp@/smp_server_store";
/// The reference's default schema.
pub const DEFAULT_SCHEMA: &str = "smp_server";
/// The reference's default pool size.
pub const DEFAULT_POOL_SIZE: usize = 10;
/// `db_deleted_ttl` by default: deleted queues are kept 21 days (the reference reads the
/// setting in seconds).
pub const DEFAULT_DELETED_TTL: u64 = 21 * 86_400;
/// Records waiting for the database at most; beyond this, changes are refused.
const MAX_PENDING: usize = 100_000;
/// How long one commit may take before it is abandoned and retried on a new connection.
const COMMIT_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest pause between two attempts to commit.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// The relay's schema: the reference's migrations.
pub const SCHEMA: relay_db::Schema = relay_db::Schema {
    tool: "smp-server",
    migrations: crate::pg_schema::MIGRATIONS,
};

/// The reference's defaults for the `db_*` settings.
pub fn default_options() -> DbOptions {
    DbOptions {
        connection: DEFAULT_CONNECTION.to_string(),
        schema: DEFAULT_SCHEMA.to_string(),
        pool_size: DEFAULT_POOL_SIZE,
    }
}

/// `recipient_keys`: the reference's `smpEncode` of a non-empty key list (a count byte, then
/// each key's DER with a length byte).
pub fn encode_keys(keys: &[PublicKey]) -> Vec<u8> {
    let mut out = vec![keys.len() as u8];
    for k in keys {
        let der = k.to_der();
        out.push(der.len() as u8);
        out.extend_from_slice(&der);
    }
    out
}

/// Reads `recipient_keys` as [`encode_keys`] writes it.
pub fn decode_keys(b: &[u8]) -> Result<Vec<PublicKey>, &'static str> {
    let (&n, mut rest) = b.split_first().ok_or("empty recipient_keys")?;
    if n == 0 {
        return Err("no recipient keys");
    }
    let mut keys = Vec::with_capacity(usize::from(n));
    for _ in 0..n {
        let (&len, r) = rest.split_first().ok_or("truncated recipient_keys")?;
        let len = usize::from(len);
        if r.len() < len {
            return Err("truncated recipient_keys");
        }
        keys.push(PublicKey::from_der(&r[..len]).map_err(|_| "bad recipient key")?);
        rest = &r[len..];
    }
    if !rest.is_empty() {
        return Err("bytes after recipient_keys");
    }
    Ok(keys)
}

fn mode_text(m: Option<QueueMode>) -> Option<&'static str> {
    m.map(|m| match m {
        QueueMode::Messaging => "M",
        QueueMode::Contact => "C",
    })
}

fn secret(b: &[u8], what: &'static str) -> Result<SbKey, &'static str> {
    let b: [u8; 32] = b.try_into().map_err(|_| what)?;
    Ok(SbKey::from_bytes(b))
}

/// The columns a queue is read with, in [`row_queue`]'s order.
const QUEUE_COLUMNS: &str = "recipient_id, recipient_keys, rcv_dh_secret, sender_id, \
     sender_key, queue_mode, notifier_id, notifier_key, rcv_ntf_dh_secret, status, updated_at, \
     link_id, fixed_data, user_data, rcv_service_id, ntf_service_id";

/// A `msg_queues` row as a queue record; the second value says the row named a service
/// (which this relay does not serve: the association is ignored).
fn row_queue(row: &Row) -> Result<(QueueRec, bool), String> {
    let get = |i: usize| -> Result<Option<Vec<u8>>, String> {
        row.try_get::<_, Option<Vec<u8>>>(i)
            .map_err(|e| e.to_string())
    };
    let need = |i: usize, what: &str| -> Result<Vec<u8>, String> {
        get(i)?.ok_or_else(|| format!("{what} is NULL"))
    };
    let rcv_id = need(0, "recipient_id")?;
    let bad = |why: &str| format!("queue {}: {why}", simplex_codec::base64url::encode(&rcv_id));
    let recipient_keys = decode_keys(&need(1, "recipient_keys")?).map_err(bad)?;
    let rcv_dh_secret = secret(&need(2, "rcv_dh_secret")?, "bad rcv_dh_secret").map_err(bad)?;
    let sender_id = need(3, "sender_id")?;
    let sender_key = match get(4)? {
        Some(k) => Some(PublicKey::from_der(&k).map_err(|_| bad("bad sender_key"))?),
        None => None,
    };
    let mode: Option<String> = row.try_get(5).map_err(|e| e.to_string())?;
    let mode = match mode.as_deref() {
        None => None,
        Some("M") => Some(QueueMode::Messaging),
        Some("C") => Some(QueueMode::Contact),
        Some(_) => return Err(bad("bad queue_mode")),
    };
    let notifier = match (get(6)?, get(7)?, get(8)?) {
        (Some(id), Some(k), Some(s)) => Some(Notifier {
            id,
            key: PublicKey::from_der(&k).map_err(|_| bad("bad notifier_key"))?,
            dh_secret: secret(&s, "bad rcv_ntf_dh_secret").map_err(bad)?,
        }),
        _ => None,
    };
    let status: String = row.try_get(9).map_err(|e| e.to_string())?;
    let status = storelog::parse_status_text(&status).map_err(bad)?;
    let updated_at: Option<i64> = row.try_get(10).map_err(|e| e.to_string())?;
    let link = match get(11)? {
        Some(l) => Some((
            l,
            LinkData {
                fixed: get(12)?.unwrap_or_default(),
                user: get(13)?.unwrap_or_default(),
            },
        )),
        None => None,
    };
    let service = get(14)?.is_some() || get(15)?.is_some();
    Ok((
        QueueRec {
            rcv_id,
            recipient_keys,
            rcv_dh_secret,
            sender_id,
            sender_key,
            mode,
            link,
            notifier,
            status,
            updated_at,
        },
        service,
    ))
}

/// What [`load`] found.
#[derive(Debug, Default)]
pub struct Loaded {
    /// The queues.
    pub store: QueueStore,
    /// Rows that could not be read, with why (kept in the database, not served).
    pub skipped: Vec<String>,
    /// Queues whose service association was ignored.
    pub services_ignored: usize,
}

/// Connects, checks the schema and its migrations, and reads every queue not deleted.
pub async fn load(opts: &DbOptions, migrate: Migrate) -> Result<Loaded, DbError> {
    SCHEMA.prepare(opts, false, migrate).await?;
    let client = relay_db::connect(&relay_db::pg_config(opts, SCHEMA.tool)?).await?;
    let no_params: [&(dyn ToSql + Sync); 0] = [];
    let rows = client
        .query_raw(
            &format!("SELECT {QUEUE_COLUMNS} FROM msg_queues WHERE deleted_at IS NULL"),
            no_params,
        )
        .await?;
    pin_mut!(rows);
    let mut loaded = Loaded::default();
    while let Some(row) = rows.try_next().await? {
        match row_queue(&row) {
            Ok((rec, service)) => {
                if loaded.store.queues.contains_key(&rec.rcv_id)
                    || loaded.store.by_sender.contains_key(&rec.sender_id)
                {
                    loaded.skipped.push("duplicate queue id".into());
                    continue;
                }
                loaded.services_ignored += usize::from(service);
                loaded.store.insert(rec);
            }
            Err(why) => loaded.skipped.push(why),
        }
    }
    Ok(loaded)
}

/// Creates the schema (if missing) with every migration: for tools and benchmarks that start
/// a relay on a new schema (the relay itself never creates one, as the reference).
pub async fn create(opts: &DbOptions) -> Result<(), DbError> {
    SCHEMA.prepare(opts, true, Migrate::Up).await
}

/// Removes queues deleted more than `ttl` seconds ago (the reference keeps them a while for
/// debugging); returns how many.
pub async fn compact(opts: &DbOptions, ttl: u64) -> Result<u64, DbError> {
    let client = relay_db::connect(&relay_db::pg_config(opts, SCHEMA.tool)?).await?;
    let old = now_seconds() - i64::try_from(ttl).unwrap_or(i64::MAX / 2);
    Ok(client
        .execute("DELETE FROM msg_queues WHERE deleted_at < $1", &[&old])
        .await?)
}

fn now_seconds() -> i64 {
    crate::relay::system_seconds()
}

/// The statements a record becomes, one prepared set per connection.
struct Statements {
    create: Statement,
    link: Statement,
    link_delete: Statement,
    secure: Statement,
    keys: Statement,
    notifier: Statement,
    status: Statement,
    delete: Statement,
    notifier_delete: Statement,
    time: Statement,
}

const LIVE: &str = "WHERE recipient_id = $1 AND deleted_at IS NULL";

impl Statements {
    async fn prepare(c: &Client) -> Result<Self, tokio_postgres::Error> {
        let update = |set: &str| format!("UPDATE msg_queues SET {set} {LIVE}");
        Ok(Self {
            // A retried commit may find the queue there already.
            create: c
                .prepare(
                    "INSERT INTO msg_queues (recipient_id, recipient_keys, rcv_dh_secret, \
                     sender_id, sender_key, queue_mode, notifier_id, notifier_key, \
                     rcv_ntf_dh_secret, status, updated_at, link_id, fixed_data, user_data) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) \
                     ON CONFLICT (recipient_id) DO NOTHING",
                )
                .await?,
            link: c
                .prepare(&update("link_id = $2, fixed_data = $3, user_data = $4"))
                .await?,
            link_delete: c
                .prepare(&update(
                    "link_id = NULL, fixed_data = NULL, user_data = NULL",
                ))
                .await?,
            secure: c.prepare(&update("sender_key = $2")).await?,
            keys: c.prepare(&update("recipient_keys = $2")).await?,
            notifier: c
                .prepare(&update(
                    "notifier_id = $2, notifier_key = $3, rcv_ntf_dh_secret = $4, \
                     ntf_service_id = NULL",
                ))
                .await?,
            status: c.prepare(&update("status = $2")).await?,
            delete: c.prepare(&update("deleted_at = $2")).await?,
            notifier_delete: c
                .prepare(&update(
                    "notifier_id = NULL, notifier_key = NULL, rcv_ntf_dh_secret = NULL, \
                     ntf_service_id = NULL",
                ))
                .await?,
            time: c.prepare(&update("updated_at = $2")).await?,
        })
    }
}

type Param = Box<dyn ToSql + Sync + Send>;

/// A record as its statement's parameters.
fn params<'s>(st: &'s Statements, r: &Record, today: i64) -> (&'s Statement, Vec<Param>) {
    fn b(v: impl ToSql + Sync + Send + 'static) -> Param {
        Box::new(v)
    }
    match r {
        Record::Create(q) => (
            &st.create,
            vec![
                b(q.rcv_id.clone()),
                b(encode_keys(&q.recipient_keys)),
                b(q.rcv_dh_secret.as_bytes().to_vec()),
                b(q.sender_id.clone()),
                b(q.sender_key.as_ref().map(PublicKey::to_der)),
                b(mode_text(q.mode)),
                b(q.notifier.as_ref().map(|n| n.id.clone())),
                b(q.notifier.as_ref().map(|n| n.key.to_der())),
                b(q.notifier.as_ref().map(|n| n.dh_secret.as_bytes().to_vec())),
                b(storelog::status_text(&q.status)),
                b(q.updated_at),
                b(q.link.as_ref().map(|(l, _)| l.clone())),
                b(q.link.as_ref().map(|(_, d)| d.fixed.clone())),
                b(q.link.as_ref().map(|(_, d)| d.user.clone())),
            ],
        ),
        Record::Link(rid, lid, d) => (
            &st.link,
            vec![
                b(rid.clone()),
                b(lid.clone()),
                b(d.fixed.clone()),
                b(d.user.clone()),
            ],
        ),
        Record::LinkDelete(rid) => (&st.link_delete, vec![b(rid.clone())]),
        Record::Secure(rid, k) => (&st.secure, vec![b(rid.clone()), b(k.to_der())]),
        Record::Keys(rid, ks) => (&st.keys, vec![b(rid.clone()), b(encode_keys(ks))]),
        Record::Notifier(rid, n) => (
            &st.notifier,
            vec![
                b(rid.clone()),
                b(n.id.clone()),
                b(n.key.to_der()),
                b(n.dh_secret.as_bytes().to_vec()),
            ],
        ),
        Record::Status(rid, s) => (
            &st.status,
            vec![b(rid.clone()), b(storelog::status_text(s))],
        ),
        // The reference stores the day of the deletion.
        Record::Delete(rid) => (&st.delete, vec![b(rid.clone()), b(today)]),
        Record::NotifierDelete(rid) => (&st.notifier_delete, vec![b(rid.clone())]),
        Record::Time(rid, t) => (&st.time, vec![b(rid.clone()), b(*t)]),
    }
}

/// Runs `records` in order in one transaction on `client` (statements pipelined); returns how
/// many changed no row (the database and the relay disagree about those queues).
async fn commit(
    client: &mut Client,
    st: &Statements,
    records: &[(Record, String)],
) -> Result<usize, tokio_postgres::Error> {
    let now = now_seconds();
    let today = now - now.rem_euclid(86_400);
    let all: Vec<(&Statement, Vec<Param>)> =
        records.iter().map(|(r, _)| params(st, r, today)).collect();
    let refs: Vec<Vec<&(dyn ToSql + Sync)>> = all
        .iter()
        .map(|(_, ps)| {
            ps.iter()
                .map(|p| p.as_ref() as &(dyn ToSql + Sync))
                .collect()
        })
        .collect();
    let tx = client.transaction().await?;
    let counts = try_join_all(
        all.iter()
            .zip(&refs)
            .map(|((stmt, _), ps)| tx.execute(*stmt, ps)),
    )
    .await?;
    tx.commit().await?;
    Ok(records
        .iter()
        .zip(counts)
        .filter(|((r, _), n)| *n == 0 && !matches!(r, Record::Create(_)))
        .count())
}

/// The connection the group commit uses, with its statements.
struct Connection {
    client: Client,
    statements: Statements,
}

/// The store log's place when queues are in the database: a [`store_log::LogFile`] whose
/// appended records are committed to PostgreSQL, in order, by the group committer's `sync`.
/// With `db_store_log = on`, committed records are also appended to the store log file (the
/// reference's parallel log; its failures are only logged).
pub struct DbLog {
    config: tokio_postgres::Config,
    /// Records appended and not yet taken by a commit, with their lines.
    pending: Mutex<Vec<(Record, String)>>,
    /// Used by the group-commit thread only.
    conn: Mutex<Option<Connection>>,
    /// Drives the connection on the group-commit thread (an `Option` only to be shut down
    /// in `Drop`, which may run on an async thread where a runtime cannot be dropped).
    rt: Option<tokio::runtime::Runtime>,
    /// `db_store_log = on`: the parallel store log.
    parallel: Option<std::fs::File>,
}

impl std::fmt::Debug for DbLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DbLog").finish_non_exhaustive()
    }
}

impl DbLog {
    /// A log into the database of `opts`, and into the store log at `parallel` if given (it
    /// must exist, as the reference requires).
    pub fn open(opts: &DbOptions, parallel: Option<&Path>) -> Result<Self, DbError> {
        let config = relay_db::pg_config(opts, SCHEMA.tool)?;
        let parallel = match parallel {
            Some(p) => Some(
                std::fs::OpenOptions::new()
                    .append(true)
                    .open(p)
                    .map_err(|e| DbError::Db(format!("db_store_log: {}: {e}", p.display())))?,
            ),
            None => None,
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| DbError::Db(e.to_string()))?;
        Ok(Self {
            config,
            pending: Mutex::new(Vec::new()),
            conn: Mutex::new(None),
            rt: Some(rt),
            parallel,
        })
    }

    fn lock_pending(&self) -> std::sync::MutexGuard<'_, Vec<(Record, String)>> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// One attempt: (re)connects if needed and commits `batch`.
    async fn attempt(
        &self,
        conn: &mut Option<Connection>,
        batch: &[(Record, String)],
    ) -> Result<usize, String> {
        if conn.is_none() {
            let client = relay_db::connect(&self.config)
                .await
                .map_err(|e| e.to_string())?;
            let statements = Statements::prepare(&client)
                .await
                .map_err(|e| describe(&e))?;
            *conn = Some(Connection { client, statements });
        }
        let Some(c) = conn.as_mut() else {
            return Err("no connection".into());
        };
        commit(&mut c.client, &c.statements, batch)
            .await
            .map_err(|e| describe(&e))
    }
}

impl Drop for DbLog {
    fn drop(&mut self) {
        // The connection goes with the runtime that drives it.
        self.conn
            .get_mut()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

impl store_log::LogFile for DbLog {
    fn append(&self, buf: &[u8]) -> io::Result<()> {
        let text = std::str::from_utf8(buf).map_err(io::Error::other)?;
        let mut records = Vec::new();
        for line in text.lines() {
            let r = storelog::parse_record(line)
                .map_err(|why| io::Error::other(format!("record not written: {why}")))?;
            records.push((r, line.to_string()));
        }
        let mut pending = self.lock_pending();
        if pending.len() + records.len() > MAX_PENDING {
            return Err(io::Error::other(format!(
                "{} changes are waiting for the database; refusing more",
                pending.len()
            )));
        }
        pending.extend(records);
        Ok(())
    }

    /// Commits everything appended so far, retrying until the database takes it.
    fn sync(&self) -> io::Result<()> {
        let batch = std::mem::take(&mut *self.lock_pending());
        if batch.is_empty() {
            return Ok(());
        }
        let rt = self
            .rt
            .as_ref()
            .ok_or_else(|| io::Error::other("the database log is closed"))?;
        let mut conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        let mut pause = Duration::from_millis(100);
        let mut failures = 0u32;
        loop {
            let attempt = rt.block_on(async {
                tokio::time::timeout(COMMIT_TIMEOUT, self.attempt(&mut conn, &batch))
                    .await
                    .unwrap_or_else(|_| Err("the database did not answer in time".into()))
            });
            match attempt {
                Ok(missing) => {
                    if failures > 0 {
                        tracing::warn!(
                            "database: {} changes committed after {failures} failed attempts",
                            batch.len()
                        );
                    }
                    if missing > 0 {
                        tracing::warn!(
                            "database: {missing} changes found no live queue (the database and the relay disagree)"
                        );
                    }
                    break;
                }
                Err(e) => {
                    *conn = None;
                    failures += 1;
                    tracing::error!(
                        "database: cannot commit {} changes ({e}); retrying in {} ms, answers wait",
                        batch.len(),
                        pause.as_millis()
                    );
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(MAX_BACKOFF);
                }
            }
        }
        if let Some(f) = &self.parallel {
            use std::io::Write;
            let mut text = String::new();
            for (_, line) in &batch {
                text.push_str(line);
                text.push('\n');
            }
            if let Err(e) = (&mut &*f).write_all(text.as_bytes()) {
                tracing::warn!("db_store_log: {e}");
            }
        }
        Ok(())
    }

    /// Nothing to cut back: an append that fails queues nothing.
    fn truncate(&self, _len: u64) -> io::Result<()> {
        Ok(())
    }
}

/// What `smp-server database import` did.
#[derive(Debug)]
pub struct Imported {
    /// Queues written to the database.
    pub queues: usize,
    /// Store log lines skipped, with why.
    pub skipped: Vec<(usize, &'static str)>,
    /// Where the store log was moved.
    pub backup: PathBuf,
}

/// Reads the store log at `log_path` into a new schema (created here, as the reference's
/// import does; it must not exist yet) and moves the log to `<log>.bak`.
pub async fn import(log_path: &Path, opts: &DbOptions) -> Result<Imported, DbError> {
    let mut store = QueueStore::default();
    let replay = store_log::replay_file(&mut store, log_path)
        .map_err(|e| DbError::Db(format!("cannot read {}: {e}", log_path.display())))?;
    let config = relay_db::pg_config(opts, SCHEMA.tool)?;
    {
        let client = relay_db::connect(&config).await?;
        if relay_db::schema_exists(&client, &opts.schema).await? {
            return Err(DbError::Db(format!(
                "the schema {} already exists in the database: drop it or choose another db_schema",
                opts.schema
            )));
        }
    }
    SCHEMA.prepare(opts, true, Migrate::Up).await?;
    let mut client = relay_db::connect(&config).await?;
    let statements = Statements::prepare(&client).await?;
    let mut recs: Vec<&QueueRec> = store.queues.values().map(|q| &q.rec).collect();
    recs.sort_by(|a, b| a.rcv_id.cmp(&b.rcv_id));
    let records: Vec<(Record, String)> = recs
        .into_iter()
        .map(|q| (Record::Create(Box::new(q.clone())), String::new()))
        .collect();
    for chunk in records.chunks(10_000) {
        commit(&mut client, &statements, chunk).await?;
    }
    // The log moves aside as `<log>.bak` (as the reference), never over an older backup.
    let mut backup = log_path.as_os_str().to_owned();
    backup.push(".bak");
    let mut backup = PathBuf::from(backup);
    if backup.exists() {
        let mut stamped = backup.into_os_string();
        stamped.push(format!(".{}", now_seconds()));
        backup = PathBuf::from(stamped);
    }
    std::fs::rename(log_path, &backup)
        .map_err(|e| DbError::Db(format!("cannot move {}: {e}", log_path.display())))?;
    Ok(Imported {
        queues: records.len(),
        skipped: replay.skipped,
        backup,
    })
}

/// Writes every queue of the database (not deleted) to a new store log at `log_path`
/// (created 0640 as the store log is: it holds the queues' secrets); returns how many, and
/// the rows skipped.
pub async fn export(log_path: &Path, opts: &DbOptions) -> Result<(usize, Vec<String>), DbError> {
    use std::io::Write;
    let loaded = load(opts, Migrate::Refuse).await?;
    let mut recs: Vec<&QueueRec> = loaded.store.queues.values().map(|q| &q.rec).collect();
    recs.sort_by(|a, b| a.rcv_id.cmp(&b.rcv_id));
    let mut text = String::new();
    for q in &recs {
        text.push_str(&storelog::create_line(q));
        text.push('\n');
    }
    let io = |e: io::Error| DbError::Db(format!("writing {}: {e}", log_path.display()));
    let mut f = store_log::private_file(log_path).map_err(io)?;
    f.write_all(text.as_bytes()).map_err(io)?;
    f.sync_all().map_err(io)?;
    Ok((recs.len(), loaded.skipped))
}

#[cfg(test)]
mod tests {
    use super::*;
    use simplex_crypto::{generate, KeyAlgorithm};

    #[test]
    fn recipient_keys_are_the_references_list_encoding() {
        let (a, _) = generate(KeyAlgorithm::Ed25519).unwrap_or_else(|e| panic!("{e}"));
        let (b, _) = generate(KeyAlgorithm::Ed448).unwrap_or_else(|e| panic!("{e}"));
        let enc = encode_keys(std::slice::from_ref(&a));
        // What the reference's migration makes of a single key: 0x01, its length, its DER.
        let der = a.to_der();
        let mut expected = vec![1, der.len() as u8];
        expected.extend_from_slice(&der);
        assert_eq!(enc, expected);
        let both = encode_keys(&[a.clone(), b.clone()]);
        assert_eq!(decode_keys(&both), Ok(vec![a, b]));
        for bad in [&[][..], &[0], &[1, 44], &both[..both.len() - 1]] {
            assert!(decode_keys(bad).is_err(), "{bad:?}");
        }
        let mut extra = both.clone();
        extra.push(0);
        assert!(decode_keys(&extra).is_err());
    }
}
