//! Chunks on an S3-compatible store: a real Garage (single node, started by the tests) on
//! 127.0.0.1, real relay processes. The rest of the suite runs with its chunks in Garage too
//! with `XFTP_TEST_CHUNKS=s3` (`.ci/run` does, with the records in PostgreSQL).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

mod common;

use std::time::{Duration, Instant};

use bytes::Bytes;
use common::garage;
use common::{ed25519, noise, one_chunk, registered, relay_err, InitOpts, TestRelay};
use simplex_codec::base64url;
use xftp_client::ClientError;
use xftp_proto::command::XftpError;

/// A relay with its chunks in a fresh bucket (and its records in the database, as several
/// relay nodes would have them, when `shared`).
fn relay(shared: bool) -> (TestRelay, String) {
    relay_on(garage::server(), shared)
}

fn relay_on(g: &garage::Garage, shared: bool) -> (TestRelay, String) {
    let mut relay = TestRelay::init(&InitOpts::default());
    let bucket = relay.use_s3_on(g);
    relay.set_ini("FILES", "s3_timeout", "3");
    if shared {
        relay.use_database();
    }
    relay.start();
    (relay, bucket)
}

/// Waits (at most 30 s) until `f` holds.
fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !f() {
        assert!(Instant::now() < deadline, "{what}: not within 30 s");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[tokio::test]
async fn chunks_are_objects_uploaded_whole_after_their_digest_and_read_back_in_ranges() {
    let (relay, bucket) = relay(true);
    let g = garage::server();
    let c = relay.connect().await;
    // 4 MiB: read back in four range reads.
    let (sid, skey, rid, rkey, data) = registered(&c, 4 << 20, 3).await;
    if let Err(e) = c.upload(&sid, &skey, Bytes::from(data.clone())).await {
        panic!("{e:?}: {}", relay.logged());
    }
    assert_eq!(
        g.objects(&bucket),
        vec![base64url::encode(&sid)],
        "one object, named by the sender ID"
    );
    assert_eq!(c.download(&rid, &rkey, 4 << 20).await.unwrap(), data);
    // A body that does not match its digest is refused and leaves nothing behind.
    let (_, skey2) = ed25519();
    let (rpub2, _) = ed25519();
    let bad = c
        .create(&skey2, 65536, [9; 32], vec![rpub2], None)
        .await
        .unwrap();
    assert_eq!(
        relay_err(
            c.upload(&bad.sender_id, &skey2, Bytes::from(noise(65536, 4)))
                .await
        ),
        XftpError::Digest
    );
    assert_eq!(g.objects(&bucket).len(), 1);
    // FDEL removes the object.
    c.delete(&sid, &skey).await.unwrap();
    assert!(g.objects(&bucket).is_empty());
}

#[tokio::test]
async fn the_store_stopped_gives_retriable_errors_and_a_failed_delete_is_retried_until_done() {
    // A Garage of its own: stopping the shared one would fail the other tests.
    let g = &garage::own();
    let (relay, bucket) = relay_on(g, true);
    let c = relay.connect().await;
    let (sid, skey, rid, rkey, data) = one_chunk(&c, 1).await;
    let (sid2, skey2, rid2, rkey2, data2) = registered(&c, 65536, 2).await;

    g.freeze();
    let put = c.upload(&sid2, &skey2, Bytes::from(data2.clone())).await;
    let get = c.download(&rid, &rkey, 65536).await;
    // The record goes at once; the object when the store is back.
    let del = c.delete(&sid, &skey).await;
    g.thaw();
    for r in [put.map(|_| ()), get.map(|_| ())] {
        let e = r.expect_err("nothing is acknowledged while the store is gone");
        assert!(
            matches!(&e, ClientError::Relay(XftpError::FileIo)) && e.is_retriable(),
            "{e:?}"
        );
    }
    del.unwrap();
    eventually("the failed delete is retried", || {
        !g.objects(&bucket).contains(&base64url::encode(&sid))
    });
    // The same relay serves again: the retried upload and the other chunk.
    c.upload(&sid2, &skey2, Bytes::from(data2.clone()))
        .await
        .unwrap();
    assert_eq!(c.download(&rid2, &rkey2, 65536).await.unwrap(), data2);
    let _ = data;
    assert!(relay.logged().contains("retrying in the background"));
}

#[tokio::test]
async fn an_object_without_a_record_is_moved_aside_at_start_not_deleted() {
    let (mut relay, bucket) = relay(false);
    let g = garage::server();
    let c = relay.connect().await;
    let (_, _, rid, rkey, data) = one_chunk(&c, 5).await;
    relay.stop();
    // An object the relay's records do not know (a crash between a delete's two steps, or
    // somebody else's).
    let stray = base64url::encode(&[5; 16]);
    put_object(&bucket, &stray, b"stray");
    relay.start();
    let objects = g.objects(&bucket);
    assert!(
        objects.contains(&format!("quarantine/{stray}")) && !objects.contains(&stray),
        "{objects:?}"
    );
    let c = relay.connect().await;
    assert_eq!(c.download(&rid, &rkey, 65536).await.unwrap(), data);
}

#[tokio::test]
async fn credentials_readable_by_others_or_missing_stop_the_start() {
    use std::os::unix::fs::PermissionsExt;
    let relay = TestRelay::init(&InitOpts::default());
    let mut r = relay;
    r.use_s3();
    let creds = r.cfg().join("s3-credentials");
    std::fs::set_permissions(&creds, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = std::process::Command::new(common::bin())
        .env("XFTP_SERVER_CFG_PATH", r.cfg())
        .env("XFTP_SERVER_LOG_PATH", r.log())
        .args(["start", "--bind", "127.0.0.1:0"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("chmod o-rwx"),
        "{err}"
    );
    assert!(!err.contains(garage::SECRET));
    std::fs::remove_file(&creds).unwrap();
    let out = std::process::Command::new(common::bin())
        .env("XFTP_SERVER_CFG_PATH", r.cfg())
        .env("XFTP_SERVER_LOG_PATH", r.log())
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("XFTP_S3_ACCESS_KEY_ID")
        .args(["start", "--bind", "127.0.0.1:0"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("s3_credentials"),
        "{err}"
    );
    // From the environment instead.
    r.set_ini("FILES", "s3_credentials", "");
    let mut child = std::process::Command::new(common::bin())
        .env("XFTP_SERVER_CFG_PATH", r.cfg())
        .env("XFTP_SERVER_LOG_PATH", r.log())
        .env("XFTP_S3_ACCESS_KEY_ID", garage::KEY_ID)
        .env("XFTP_S3_SECRET_ACCESS_KEY", garage::SECRET)
        .args(["start", "--bind", "127.0.0.1:0"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert!(line.starts_with("Listening on"), "{line}");
}

/// Writes an object straight into a bucket.
fn put_object(bucket: &str, name: &str, data: &'static [u8]) {
    let (endpoint, bucket, name) = (
        garage::server().endpoint(),
        bucket.to_string(),
        name.to_string(),
    );
    std::thread::spawn(move || {
        use object_store::ObjectStoreExt;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let store = garage::client(&endpoint, &bucket);
            store
                .put(
                    &object_store::path::Path::from(name),
                    object_store::PutPayload::from_static(data),
                )
                .await
                .unwrap();
        });
    })
    .join()
    .unwrap();
}

/// A second node on the same database and bucket: the first one's configuration folder copied,
/// with its own state and files folders.
fn second_node(first: &TestRelay) -> TestRelay {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("cfg")).unwrap();
    for e in std::fs::read_dir(first.cfg()).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), dir.path().join("cfg").join(e.file_name())).unwrap();
    }
    let ini = dir.path().join("cfg/file-server.ini");
    common::ini::set_ini(
        &ini,
        "FILES",
        "path",
        dir.path().join("files").to_str().unwrap(),
    );
    common::ini::set_ini(
        &ini,
        "FILES",
        "s3_credentials",
        dir.path().join("cfg/s3-credentials").to_str().unwrap(),
    );
    let mut node = TestRelay::with_dir(dir);
    node.bucket = first.bucket.clone();
    node
}

#[tokio::test]
async fn nodes_on_one_database_and_bucket_share_the_quota_and_expiry() {
    let mut a = TestRelay::init(&InitOpts::default());
    a.use_s3();
    a.use_database();
    // Room for four 64 KiB chunks in all.
    a.set_ini("FILES", "storage_quota", "256kb");
    a.start();
    let mut b = second_node(&a);
    let (ca, cb) = (a.connect().await, b.connect().await);
    // Registered through one node, uploaded through the other, downloaded through the first.
    let (sid, skey, rid, rkey, data) = registered(&ca, 65536, 40).await;
    cb.upload(&sid, &skey, Bytes::from(data.clone()))
        .await
        .unwrap();
    assert_eq!(ca.download(&rid, &rkey, 65536).await.unwrap(), data);
    // Three more through the first node fill the quota ...
    let mut kept = vec![(rid, rkey, data)];
    for seed in 41..44 {
        let (_, _, rid, rkey, data) = one_chunk(&ca, seed).await;
        kept.push((rid, rkey, data));
    }
    // ... and the second node refuses more once its reading of the total is due again (2 s).
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let (sid, skey, _, _, data) = registered(&cb, 65536, 50).await;
    assert_eq!(
        relay_err(cb.upload(&sid, &skey, Bytes::from(data)).await),
        XftpError::Quota
    );
    // Two days on, the second node's expiry removes what the first one stored: the first one
    // no longer serves it, and the objects are gone.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    // (The node runs its expiry at start.)
    let (handle, _clock, _c) = common::in_process_with_clock(&mut b, now + 51 * 3600).await;
    let expired = handle
        .relay
        .stats
        .expired
        .load(std::sync::atomic::Ordering::Relaxed);
    assert!(expired >= 4, "{expired} expired");
    for (rid, rkey, _) in &kept {
        assert_eq!(
            relay_err(ca.download(rid, rkey, 65536).await),
            XftpError::Auth
        );
    }
    assert!(a.chunk_files().is_empty(), "{:?}", a.chunk_files());
    handle.shutdown().await;
}
