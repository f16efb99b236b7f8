//! `store_queues = database`: queue records in a real PostgreSQL server (Debian's, started
//! by the tests on 127.0.0.1), in the reference's schema; restarts, kill -9, import and
//! export, and the database stopping under a command.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

mod common;

use std::path::Path;
use std::time::Duration;

use common::bin::{key_hash, run, start, terminate};
use common::ini::set_ini;
use common::pg;
use simplex_crypto::{generate, KeyAlgorithm, PrivateKey, PublicKey};
use smp_proto::command::{NewQueue, QueueRequest};
use smp_proto::{BrokerMsg, Command, ErrorType};
use store_log::LogState;

fn new_queue(rk: &PublicKey, dh: &PublicKey) -> Command {
    Command::New(NewQueue {
        rcv_auth_key: rk.clone(),
        rcv_dh_key: dh.clone(),
        basic_auth: None,
        subscribe: false,
        request: Some(QueueRequest::Messaging(None)),
        ntf_creds: None,
    })
}

fn send(body: &[u8]) -> Command {
    Command::Send {
        notification: false,
        body: body.to_vec(),
    }
}

/// `smp-server init` in `dir`, with the store log on; returns (cfg, log).
fn init(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let (cfg, log) = (dir.join("cfg"), dir.join("log"));
    common::bin::init(&cfg, &log);
    (cfg, log)
}

/// Points the ini at `schema` on the test server; with `queues_in_db`, also switches the
/// queues to the database (and the messages to the journal, which it needs).
fn use_database(cfg: &Path, schema: &str, queues_in_db: bool) {
    let ini = cfg.join("smp-server.ini");
    set_ini(
        &ini,
        "STORE_LOG",
        "db_connection",
        &pg::server().connection(),
    );
    set_ini(&ini, "STORE_LOG", "db_schema", schema);
    if queues_in_db {
        set_ini(&ini, "STORE_LOG", "store_queues", "database");
        set_ini(&ini, "STORE_LOG", "store_messages", "journal");
    }
}

/// A queue created and secured through the relay at `addr`: (ids, recipient key, sender key).
async fn secured_queue(
    addr: std::net::SocketAddr,
    kh: &[u8; 32],
) -> (smp_proto::response::QueueIds, PrivateKey, PrivateKey) {
    let (rk_pub, rk) = generate(KeyAlgorithm::Ed25519).unwrap();
    let dh_pub = generate(KeyAlgorithm::X25519).unwrap().0;
    let (sk_pub, sk) = generate(KeyAlgorithm::Ed25519).unwrap();
    let mut c = common::connect(addr, kh, true).await;
    let BrokerMsg::Ids(ids) = c.call(Some(&rk), b"", &new_queue(&rk_pub, &dh_pub)).await else {
        panic!()
    };
    assert_eq!(
        c.call(Some(&sk), &ids.snd_id, &Command::Skey(sk_pub)).await,
        BrokerMsg::Ok
    );
    (ids, rk, sk)
}

#[tokio::test]
async fn queues_in_postgresql_survive_kill_9_in_the_references_rows_and_deletion_is_kept_then_compacted(
) {
    let dir = tempfile::tempdir().unwrap();
    let (cfg, log) = init(dir.path());
    let schema = pg::server().schema();
    use_database(&cfg, &schema, true);
    let (mut child, addr, _) = start(&cfg, &log);
    let kh = key_hash(&cfg);
    let (ids, rk, sk) = secured_queue(addr, &kh).await;
    let (gone, gone_rk, _) = secured_queue(addr, &kh).await;
    let mut c = common::connect(addr, &kh, true).await;
    assert_eq!(
        c.call(Some(&sk), &ids.snd_id, &send(b"kept")).await,
        BrokerMsg::Ok
    );
    assert_eq!(
        c.call(Some(&gone_rk), &gone.rcv_id, &Command::Del).await,
        BrokerMsg::Ok
    );
    // Every answer came after the commit: kill -9 loses nothing, and no store log was made.
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(!log.join("smp-server-store.log").exists());
    // The rows are the reference's: a one-key list, mode M, active, secured; the deleted
    // queue kept with its deletion day.
    let q = format!("{schema}.msg_queues");
    let row = pg::server()
        .psql(&format!(
            "SELECT get_byte(recipient_keys, 0), get_byte(recipient_keys, 1) = length(recipient_keys) - 2, \
             queue_mode, status, sender_key IS NOT NULL, length(rcv_dh_secret), deleted_at IS NULL \
             FROM {q} ORDER BY deleted_at NULLS FIRST"
        ))
        .unwrap();
    assert_eq!(row, "1|t|M|active|t|32|t\n1|t|M|active|t|32|f", "{row}");
    let migrations = pg::server()
        .psql(&format!("SELECT count(*) FROM {schema}.migrations"))
        .unwrap();
    assert_eq!(migrations, "5");

    let (mut child, addr, _) = start(&cfg, &log);
    let mut r = common::connect(addr, &kh, true).await;
    let t = r.transmission(Some(&rk), &ids.rcv_id, &Command::Sub);
    r.send_block(&[t]).await;
    let mut got = r.recv_block().await;
    if got.len() < 2 {
        got.extend(r.recv_block().await);
    }
    assert!(matches!(got[1].2, BrokerMsg::Msg(..)), "{got:?}");
    assert_eq!(
        r.call(Some(&gone_rk), &gone.rcv_id, &Command::Sub).await,
        BrokerMsg::Err(ErrorType::Auth)
    );
    let mut s = common::connect(addr, &kh, true).await;
    assert_eq!(
        s.call(None, &ids.snd_id, &send(b"unsigned")).await,
        BrokerMsg::Err(ErrorType::Auth),
        "still secured"
    );
    child.kill().unwrap();
    child.wait().unwrap();
    // With db_deleted_ttl = 0 the next start removes the deleted queue's row.
    set_ini(
        &cfg.join("smp-server.ini"),
        "STORE_LOG",
        "db_deleted_ttl",
        "0",
    );
    let (child, _, _) = start(&cfg, &log);
    let left = pg::server()
        .psql(&format!("SELECT count(*) FROM {q}"))
        .unwrap();
    assert_eq!(left, "1");
    terminate(child);
    // The journal tools read the queues from the database too: the unacknowledged message
    // is exported.
    let (ok, text) = run(&cfg, &log, &["journal", "export", "-y"]);
    assert!(ok, "{text}");
    assert!(text.contains("Export completed: 1 messages"), "{text}");
}

/// The queues of a store log, as the compacted log would list them.
fn queues_of(path: &Path) -> Vec<String> {
    let mut store = smp_server::storelog::QueueStore::default();
    let replay = store_log::replay_file(&mut store, path).unwrap();
    assert!(replay.skipped.is_empty(), "{:?}", replay.skipped);
    store.snapshot_lines()
}

#[tokio::test]
async fn import_then_export_gives_back_the_store_logs_queues_and_the_relay_refuses_a_log_beside_the_database(
) {
    let dir = tempfile::tempdir().unwrap();
    let (cfg, log) = init(dir.path());
    let store_log = log.join("smp-server-store.log");
    // No message snapshot at shutdown: the journal comes later and refuses one.
    set_ini(
        &cfg.join("smp-server.ini"),
        "STORE_LOG",
        "restore_messages",
        "off",
    );
    // Queues in the store log first: secured, plain, deleted.
    let (child, addr, _) = start(&cfg, &log);
    let kh = key_hash(&cfg);
    let (ids, _, sk) = secured_queue(addr, &kh).await;
    let (_plain, _, _) = secured_queue(addr, &kh).await;
    let (gone, gone_rk, _) = secured_queue(addr, &kh).await;
    let mut c = common::connect(addr, &kh, true).await;
    assert_eq!(
        c.call(Some(&gone_rk), &gone.rcv_id, &Command::Del).await,
        BrokerMsg::Ok
    );
    terminate(child);
    let before = queues_of(&store_log);
    assert_eq!(before.len(), 2);

    let schema = pg::server().schema_name();
    use_database(&cfg, &schema, false);
    let (ok, text) = run(&cfg, &log, &["database", "import", "-y"]);
    assert!(ok, "{text}");
    assert!(text.contains("Import completed: 2 queues"), "{text}");
    assert!(!store_log.exists(), "the log moved aside");
    assert!(log.join("smp-server-store.log.bak").exists());
    // A second import finds the schema there and changes nothing.
    std::fs::copy(log.join("smp-server-store.log.bak"), &store_log).unwrap();
    let (ok, text) = run(&cfg, &log, &["database", "import", "-y"]);
    assert!(!ok && text.contains("already exists"), "{text}");
    // The relay on the database while the store log is still there: refused, as the reference.
    use_database(&cfg, &schema, true);
    let (ok, text) = run(&cfg, &log, &["start", "--bind", "127.0.0.1:0"]);
    assert!(!ok, "{text}");
    assert!(text.contains("smp-server database import"), "{text}");
    std::fs::remove_file(&store_log).unwrap();

    // On the database: the secured queue still takes its sender's messages only.
    let (child, addr, _) = start(&cfg, &log);
    let mut s = common::connect(addr, &kh, true).await;
    assert_eq!(
        s.call(Some(&sk), &ids.snd_id, &send(b"x")).await,
        BrokerMsg::Ok
    );
    assert_eq!(
        s.call(None, &ids.snd_id, &send(b"x")).await,
        BrokerMsg::Err(ErrorType::Auth)
    );
    terminate(child);

    let (ok, text) = run(&cfg, &log, &["database", "export", "-y"]);
    assert!(ok, "{text}");
    assert!(text.contains("Export completed: 2 queues"), "{text}");
    assert_eq!(queues_of(&store_log), before);
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&store_log).unwrap().permissions().mode();
    assert_eq!(
        mode & 0o777,
        0o640,
        "the exported log holds secrets: as the store log"
    );
    // Export refuses to overwrite.
    let (ok, text) = run(&cfg, &log, &["database", "export", "-y"]);
    assert!(!ok && text.contains("already exists"), "{text}");
    // Messages are never in this relay's database.
    let (ok, text) = run(
        &cfg,
        &log,
        &["database", "export", "--table", "messages", "-y"],
    );
    assert!(!ok && text.contains("journal"), "{text}");
}

#[tokio::test]
async fn the_database_stopped_under_a_command_delays_its_answer_and_loses_nothing() {
    let own = pg::own();
    let schema = own.schema();
    let (identity, _) =
        transport::Identity::generate(transport::SignAlgorithm::Ed25519, "localhost").unwrap();
    let kh = identity.key_hash().unwrap();
    let opts = smp_server::StartOptions {
        database: Some(common::database_on(&own, schema.clone())),
        ..Default::default()
    };
    let addrs: [std::net::SocketAddr; 1] = ["127.0.0.1:0".parse().unwrap()];
    let start =
        || smp_server::start_on(&addrs, &identity, smp_server::RelayConfig::default(), &opts);
    let running = start().await.unwrap();
    let (rk_pub, rk) = generate(KeyAlgorithm::Ed25519).unwrap();
    let dh_pub = generate(KeyAlgorithm::X25519).unwrap().0;
    let mut c = common::connect(running.addr, &kh, true).await;
    assert!(matches!(
        c.call(Some(&rk), b"", &new_queue(&rk_pub, &dh_pub)).await,
        BrokerMsg::Ids(_)
    ));
    own.freeze();
    let t = c.transmission(Some(&rk), b"", &new_queue(&rk_pub, &dh_pub));
    c.send_block(&[t]).await;
    // Nothing is answered while the change is not committed...
    let early = tokio::time::timeout(Duration::from_secs(2), c.recv_block()).await;
    assert!(early.is_err(), "answered before the commit: {early:?}");
    // ... and the answer comes once the database is back.
    own.thaw();
    let got = c.recv_block().await;
    let BrokerMsg::Ids(late) = &got[0].2 else {
        panic!("{got:?}")
    };
    running.stop();
    let running = start().await.unwrap();
    assert_eq!(running.relay.queue_count(), 2);
    let mut c = common::connect(running.addr, &kh, true).await;
    assert_eq!(
        c.call(Some(&rk), &late.rcv_id, &Command::Sub).await,
        BrokerMsg::Sok(None)
    );
    running.stop();
}

/// Why a relay on `schema` of the test server does not start.
async fn refusal(schema: String) -> String {
    let (identity, _) =
        transport::Identity::generate(transport::SignAlgorithm::Ed25519, "localhost").unwrap();
    let opts = smp_server::StartOptions {
        database: Some(common::database(schema)),
        ..Default::default()
    };
    smp_server::start_on(
        &["127.0.0.1:0".parse().unwrap()],
        &identity,
        smp_server::RelayConfig::default(),
        &opts,
    )
    .await
    .unwrap_err()
    .to_string()
}

#[tokio::test]
async fn a_schema_the_relay_cannot_use_is_refused_with_what_to_do() {
    let missing = pg::server().schema_name();
    let e = refusal(missing.clone()).await;
    assert!(e.contains(&missing) && e.contains("database import"), "{e}");
    // A schema a newer relay migrated.
    let schema = pg::server().schema();
    let pg = pg::server();
    pg.psql(&format!(
        "CREATE TABLE {schema}.migrations (name TEXT NOT NULL PRIMARY KEY, ts TIMESTAMP NOT NULL, down TEXT); \
         INSERT INTO {schema}.migrations VALUES ('29990101_future', now(), NULL)"
    ))
    .unwrap();
    let e = refusal(schema).await;
    assert!(e.contains("29990101_future"), "{e}");
}
