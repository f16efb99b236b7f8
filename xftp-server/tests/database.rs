//! Chunk records in PostgreSQL (`store_files = database`): a real PostgreSQL server on
//! 127.0.0.1 (Debian's package, started by the tests), real relay processes. The rest of the
//! suite runs against the database too with `XFTP_TEST_STORE=database` (`.ci/run` does).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Stdio};

use common::pg;
use common::{ed25519, noise, one_chunk, registered, relay_err, InitOpts, TestRelay};
use xftp_client::ClientError;
use xftp_proto::command::XftpError;
use xftp_server::store::Store;

const LOG: &str = "file-server-store.log";

/// Runs `xftp-server <args>` on the relay's folders; (success, stdout + stderr).
fn run(relay: &TestRelay, args: &[&str]) -> (bool, String) {
    let out = Command::new(common::bin())
        .env("XFTP_SERVER_CFG_PATH", relay.cfg())
        .env("XFTP_SERVER_LOG_PATH", relay.log())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// The state a store log replays to, as a set of lines (order-free).
fn replayed(path: &Path) -> BTreeSet<String> {
    let mut s = Store::new(None);
    let r = store_log::replay_file(&mut s, path).unwrap();
    assert!(r.skipped.is_empty(), "{:?}", r.skipped);
    s.snapshot_lines().into_iter().collect()
}

/// A relay with the store log and a few chunks in every state: uploaded with recipients, one
/// recipient acknowledged, registered and never uploaded, blocked, deleted.
async fn relay_with_history() -> (
    TestRelay,
    Vec<(Vec<u8>, simplex_crypto::PrivateKey, Vec<u8>)>,
) {
    let mut relay = TestRelay::init(&InitOpts::default());
    let port = free_port();
    relay.set_ini("TRANSPORT", "control_port", &port.to_string());
    relay.set_ini("AUTH", "control_port_admin_password", "pw");
    relay.start();
    let c = relay.connect().await;
    let mut kept = Vec::new();
    for seed in 0..5 {
        let (_, _, rid, rkey, data) = one_chunk(&c, seed).await;
        kept.push((rid, rkey, data));
    }
    // Three recipients, one of them acknowledged.
    let (_, skey) = ed25519();
    let keys: Vec<_> = (0..3).map(|_| ed25519()).collect();
    let data = noise(65536, 77);
    let ids = c
        .create(
            &skey,
            65536,
            openssl::sha::sha256(&data),
            keys.iter().map(|k| k.0.clone()).collect(),
            None,
        )
        .await
        .unwrap();
    c.upload(&ids.sender_id, &skey, bytes::Bytes::from(data.clone()))
        .await
        .unwrap();
    c.ack(&ids.recipient_ids[0], &keys[0].1).await.unwrap();
    kept.push((ids.recipient_ids[1].clone(), keys[1].1.clone(), data));
    // Never uploaded.
    let (rpub, _) = ed25519();
    c.create(&skey, 65536, [1; 32], vec![rpub], None)
        .await
        .unwrap();
    // Deleted.
    let (sid, skey2, _, _, _) = one_chunk(&c, 99).await;
    c.delete(&sid, &skey2).await.unwrap();
    // Blocked through the control port.
    let (_, _, brid, _, _) = one_chunk(&c, 98).await;
    let answers = control(
        port,
        &[
            "auth pw",
            &format!(
                "block {} reason=spam",
                simplex_codec::base64url::encode(&brid)
            ),
        ],
    );
    assert_eq!(
        answers.last().map(String::as_str),
        Some("ok"),
        "{answers:?}"
    );
    (relay, kept)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Sends control-port lines; the answers after the greeting.
fn control(port: u16, lines: &[&str]) -> Vec<String> {
    use std::io::{BufRead, BufReader, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    let mut greeting = String::new();
    r.read_line(&mut greeting).unwrap();
    r.read_line(&mut greeting).unwrap();
    let mut out = Vec::new();
    for l in lines {
        writeln!(s, "{l}").unwrap();
        let mut a = String::new();
        r.read_line(&mut a).unwrap();
        out.push(a.trim().to_string());
    }
    out
}

#[tokio::test]
async fn import_then_export_gives_back_an_equivalent_store_log_and_the_chunks_stay_served() {
    let pg = pg::server();
    let (mut relay, kept) = relay_with_history().await;
    relay.stop();
    let log = relay.log().join(LOG);
    let before = replayed(&log);
    assert!(before.iter().any(|l| l.contains("blocked,reason=spam")));

    // Import into a schema that does not exist yet: it is created.
    let schema = pg.schema_name();
    relay.set_ini("STORE_LOG", "db_connection", &pg.connection());
    relay.set_ini("STORE_LOG", "db_schema", &schema);
    let (ok, out) = run(&relay, &["database", "import", "-y"]);
    assert!(ok, "{out}");
    assert!(out.contains("Imported 8 files, 9 recipients."), "{out}");
    assert!(!log.exists(), "the store log is renamed after the import");
    let bak = relay.log().join("file-server-store.log.bak");
    assert_eq!(replayed(&bak), before);
    // The reference's schema and migrations table.
    assert_eq!(
        pg.psql(&format!("SELECT name FROM {schema}.migrations"))
            .unwrap(),
        "20260325_initial"
    );
    assert_eq!(
        pg.psql(&format!(
            "SELECT count(*) FROM {schema}.files WHERE file_path IS NOT NULL"
        ))
        .unwrap(),
        "7"
    );
    // A second import refuses a database that has chunks.
    std::fs::copy(&bak, &log).unwrap();
    let (ok, out) = run(&relay, &["database", "import", "-y"]);
    assert!(!ok && out.contains("already has 8 chunks"), "{out}");
    // The relay refuses to start on the database while a store log is there ...
    relay.set_ini("STORE_LOG", "store_files", "database");
    let (ok, out) = run(&relay, &["start", "--bind", "127.0.0.1:0"]);
    assert!(!ok && out.contains("database import"), "{out}");
    std::fs::remove_file(&log).unwrap();
    // ... and serves every chunk from it without one.
    relay.start();
    let c = relay.connect().await;
    for (rid, rkey, data) in &kept {
        assert_eq!(&c.download(rid, rkey, 65536).await.unwrap(), data);
    }
    relay.stop();

    // Export refuses to overwrite a store log, then writes an equivalent one.
    std::fs::write(&log, b"").unwrap();
    let (ok, out) = run(&relay, &["database", "export", "-y"]);
    assert!(!ok && out.contains("already exists"), "{out}");
    std::fs::remove_file(&log).unwrap();
    let (ok, out) = run(&relay, &["database", "export", "-y"]);
    assert!(ok, "{out}");
    assert!(out.contains("Exported 8 files, 9 recipients"), "{out}");
    assert_eq!(replayed(&log), before);
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&log).unwrap().permissions().mode();
    assert_eq!(
        mode & 0o007,
        0,
        "the exported log holds keys: mode {mode:o}"
    );

    // Back on the store log: the same chunks.
    relay.set_ini("STORE_LOG", "store_files", "memory");
    relay.start();
    let c = relay.connect().await;
    for (rid, rkey, data) in &kept {
        assert_eq!(&c.download(rid, rkey, 65536).await.unwrap(), data);
    }
}

#[tokio::test]
async fn a_missing_schema_or_unknown_migrations_stop_the_start_with_what_to_do() {
    let pg = pg::server();
    let relay = TestRelay::init(&InitOpts::default());
    let schema = pg.schema_name();
    relay.set_ini("STORE_LOG", "store_files", "database");
    relay.set_ini("STORE_LOG", "db_connection", &pg.connection());
    relay.set_ini("STORE_LOG", "db_schema", &schema);
    let (ok, out) = run(&relay, &["start", "--bind", "127.0.0.1:0"]);
    assert!(!ok, "{out}");
    assert!(
        out.contains(&format!("CREATE SCHEMA {schema}")) && out.contains("database import"),
        "{out}"
    );
    // A schema a newer relay migrated.
    pg.psql(&format!(
        "CREATE SCHEMA {schema}; CREATE TABLE {schema}.migrations \
         (name TEXT NOT NULL PRIMARY KEY, ts TIMESTAMP NOT NULL, down TEXT); \
         INSERT INTO {schema}.migrations VALUES ('20990101_future', now(), NULL)"
    ))
    .unwrap();
    let (ok, out) = run(&relay, &["start", "--bind", "127.0.0.1:0"]);
    assert!(!ok && out.contains("20990101_future"), "{out}");
    // A bad connection string is named, and a password in it is not printed.
    relay.set_ini("STORE_LOG", "db_connection", "postgresql://u:secret@[bad");
    let (ok, out) = run(&relay, &["start", "--bind", "127.0.0.1:0"]);
    assert!(!ok && out.contains("db_connection"), "{out}");
    assert!(!out.contains("secret"), "{out}");
}

#[tokio::test]
async fn a_relay_killed_on_the_database_loses_nothing_acknowledged() {
    let mut relay = TestRelay::init(&InitOpts::default());
    relay.use_database();
    relay.start();
    let c = relay.connect().await;
    let mut kept = Vec::new();
    for seed in 0..20 {
        let (_, _, rid, rkey, data) = one_chunk(&c, seed).await;
        kept.push((rid, rkey, data));
    }
    let (_, _, rid, rkey, _) = one_chunk(&c, 50).await;
    c.ack(&rid, &rkey).await.unwrap();
    relay.kill9();
    relay.start();
    let c = relay.connect().await;
    for (rid, rkey, data) in &kept {
        assert_eq!(&c.download(rid, rkey, 65536).await.unwrap(), data);
    }
    assert_eq!(
        relay_err(c.download(&rid, &rkey, 65536).await),
        XftpError::Auth,
        "an acknowledged recipient stays gone"
    );
}

#[tokio::test]
async fn the_database_stopped_during_an_upload_gives_a_retriable_error_and_the_relay_recovers() {
    // A server of its own: stopping the shared one would fail the other tests.
    let pg = &pg::own();
    let mut relay = TestRelay::init(&InitOpts::default());
    relay.use_database_on(pg);
    relay.start();
    let c = relay.connect().await;
    let (sid, skey, rid, rkey, data) = registered(&c, 65536, 5).await;
    pg.freeze();
    let started = std::time::Instant::now();
    let put = c
        .upload(&sid, &skey, bytes::Bytes::from(data.clone()))
        .await;
    pg.thaw();
    let err = put.expect_err("an upload while the database is gone is not acknowledged");
    assert!(
        matches!(&err, ClientError::Relay(XftpError::Internal)) && err.is_retriable(),
        "{err:?}"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
    // The database is back: the same relay process takes the retry and serves the chunk.
    c.upload(&sid, &skey, bytes::Bytes::from(data.clone()))
        .await
        .unwrap();
    assert_eq!(c.download(&rid, &rkey, 65536).await.unwrap(), data);
    assert!(relay.logged().contains("did not answer in time"));
}

#[tokio::test]
async fn db_store_log_writes_the_committed_changes_beside_the_database() {
    let pg = pg::server();
    let mut relay = TestRelay::init(&InitOpts::default());
    relay.use_database();
    relay.set_ini("STORE_LOG", "db_store_log", "on");
    relay.start();
    let c = relay.connect().await;
    let (_, _, rid, rkey, _) = one_chunk(&c, 1).await;
    let (sid, skey, _, _, _) = one_chunk(&c, 2).await;
    c.ack(&rid, &rkey).await.unwrap();
    c.delete(&sid, &skey).await.unwrap();
    relay.stop();
    // The parallel log replays to what the database holds.
    let parallel = replayed(&relay.log().join(LOG));
    std::fs::rename(relay.log().join(LOG), relay.log().join("parallel.log")).unwrap();
    let (ok, out) = run(&relay, &["database", "export", "-y"]);
    assert!(ok, "{out}");
    assert_eq!(replayed(&relay.log().join(LOG)), parallel);
    assert_eq!(parallel.len(), 2, "FNEW and FPUT of the one chunk left");
    let _ = pg;
}
