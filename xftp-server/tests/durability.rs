//! The relay never loses an acknowledged upload: a second start by mistake, a missing or
//! damaged store log, a stale upload racing a finished one, a full log disk, a damaged chunk
//! file. Real relay processes on 127.0.0.1 (and an in-process relay where a race must be
//! driven deterministically). These are the store log's tests: they keep records there even
//! when the suite runs on the database (whose own are in `database.rs`).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use bytes::Bytes;
use common::{ed25519, noise, one_chunk, relay_err, InitOpts, TestRelay};
use simplex_codec::base64url;
use xftp_proto::command::{FileInfo, Response, XftpError};
use xftp_server::config::{parse_ini, Config};
use xftp_server::relay::{BodySource, Relay, SystemClock};
use xftp_server::storage::DirStorage;
use xftp_server::store::{FileRec, MemoryStore, Status, Store};

const LOG: &str = "file-server-store.log";

/// Runs `xftp-server start` on the relay's folders with extra arguments; returns its exit
/// status and stderr (it is expected to exit by itself, within 30 s).
fn start_once(relay: &TestRelay, log_dir: &Path, args: &[&str]) -> (bool, String) {
    let mut child = Command::new(common::bin())
        .env("XFTP_SERVER_CFG_PATH", relay.cfg())
        .env("XFTP_SERVER_LOG_PATH", log_dir)
        .args(["start", "--bind", "127.0.0.1:0"])
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
            return (status.success(), err);
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("xftp-server start did not exit within 30 s");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Names and contents of the files in a folder (what a start may not change).
fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = common::list(dir)
        .into_iter()
        .filter(|p| p.is_file())
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn a_second_start_touches_nothing_and_the_first_relay_loses_nothing() {
    let mut relay = TestRelay::with_store_log(InitOpts::default());
    let c = relay.connect().await;
    let (_, _, rid, rkey, data) = one_chunk(&c, 1).await;
    let before = snapshot(&relay.log());
    let log_inode =
        std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(relay.log().join(LOG)).unwrap());

    let (ok, err) = start_once(&relay, &relay.log(), &[]);
    assert!(!ok, "a second relay on the same folders must not start");
    assert!(
        err.contains("locked by another running xftp-server"),
        "{err}"
    );
    assert_eq!(
        snapshot(&relay.log()),
        before,
        "the second start changed the log folder"
    );
    let inode_now =
        std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(relay.log().join(LOG)).unwrap());
    assert_eq!(inode_now, log_inode, "the live log was replaced");

    // The running relay keeps acknowledging uploads, and they survive its restart.
    let (_, _, rid2, rkey2, data2) = one_chunk(&c, 2).await;
    relay.stop();
    relay.start();
    let c = relay.connect().await;
    assert_eq!(c.download(&rid, &rkey, 65536).await.unwrap(), data);
    assert_eq!(c.download(&rid2, &rkey2, 65536).await.unwrap(), data2);
}

#[tokio::test]
async fn a_missing_store_log_stops_the_start_and_chunks_are_quarantined_not_deleted() {
    let mut relay = TestRelay::with_store_log(InitOpts::default());
    let c = relay.connect().await;
    let (sid, _, rid, rkey, data) = one_chunk(&c, 3).await;
    relay.stop();
    let chunk = relay.files().join(base64url::encode(&sid));
    assert!(chunk.exists());

    // A wrong XFTP_SERVER_LOG_PATH: an empty folder.
    let wrong = relay.dir.path().join("wrong-log");
    let (ok, err) = start_once(&relay, &wrong, &[]);
    assert!(!ok);
    assert!(
        err.contains("store log") && err.contains("--allow-missing-store-log"),
        "{err}"
    );
    assert_eq!(
        std::fs::read(&chunk).unwrap(),
        data,
        "the chunk was touched"
    );
    assert!(
        !wrong.join(LOG).exists(),
        "no empty log was left to be trusted next time"
    );

    // Told to start anyway: the unknown chunk is moved aside, not deleted.
    let mut child = Command::new(common::bin())
        .env("XFTP_SERVER_CFG_PATH", relay.cfg())
        .env("XFTP_SERVER_LOG_PATH", &wrong)
        .args([
            "start",
            "--bind",
            "127.0.0.1:0",
            "--allow-missing-store-log",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut out = std::io::BufRead::lines(std::io::BufReader::new(child.stdout.take().unwrap()));
    let started = out.any(|l| l.unwrap().starts_with("Server address: "));
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        started,
        "the relay did not start with --allow-missing-store-log"
    );
    assert!(!chunk.exists());
    let kept = relay
        .files()
        .join("quarantine")
        .join(base64url::encode(&sid));
    assert_eq!(std::fs::read(&kept).unwrap(), data, "quarantined intact");

    // The original log still knows the chunk: moving it back restores it.
    std::fs::rename(&kept, &chunk).unwrap();
    relay.start();
    let c = relay.connect().await;
    assert_eq!(c.download(&rid, &rkey, 65536).await.unwrap(), data);
}

#[tokio::test]
async fn a_damaged_record_quarantines_its_chunk_and_a_lost_upload_line_is_recovered() {
    let mut relay = TestRelay::with_store_log(InitOpts::default());
    let c = relay.connect().await;
    let (sid_a, _, _, _, data_a) = one_chunk(&c, 5).await;
    let (sid_b, _, rid_b, rkey_b, data_b) = one_chunk(&c, 6).await;
    relay.stop();
    let log = relay.log().join(LOG);
    let text = std::fs::read_to_string(&log).unwrap();
    let (a, b) = (base64url::encode(&sid_a), base64url::encode(&sid_b));
    let damaged: Vec<String> = text
        .lines()
        .filter(|l| !l.starts_with(&format!("FPUT {b}"))) // B's upload line is lost
        .map(|l| {
            if l.starts_with(&format!("FNEW {a}")) {
                // One corrupted field in A's record: the size.
                let mut w: Vec<&str> = l.split(' ').collect();
                w[3] = "65x36";
                w.join(" ")
            } else {
                l.to_string()
            }
        })
        .collect();
    std::fs::write(&log, damaged.join("\n") + "\n").unwrap();
    // Room for exactly one 64 KiB chunk: B's, once it is recovered.
    relay.set_ini("FILES", "storage_quota", "64kb");
    relay.start();
    // A's record is unusable: its chunk is kept aside, not deleted.
    let kept = relay.files().join("quarantine").join(&a);
    assert_eq!(std::fs::read(kept).unwrap(), data_a);
    // B's bytes match its record: it is recovered and downloadable, and counted in the quota.
    let c = relay.connect().await;
    assert_eq!(c.download(&rid_b, &rkey_b, 65536).await.unwrap(), data_b);
    let (_, skey) = ed25519();
    let (rpub, _) = ed25519();
    let data = noise(65536, 7);
    let ids = c
        .create(&skey, 65536, openssl::sha::sha256(&data), vec![rpub], None)
        .await
        .unwrap();
    assert_eq!(
        relay_err(c.upload(&ids.sender_id, &skey, Bytes::from(data)).await),
        XftpError::Quota
    );
}

/// Request-body bytes from memory.
struct Pieces(Vec<Bytes>);

impl BodySource for Pieces {
    async fn next_piece(&mut self) -> Result<Option<Bytes>, String> {
        Ok((!self.0.is_empty()).then(|| self.0.remove(0)))
    }
}

#[tokio::test]
async fn a_stale_upload_cannot_overwrite_or_delete_a_finished_chunk() {
    let dir = tempfile::tempdir().unwrap();
    let files = dir.path().join("files");
    let ini = format!("[FILES]\npath = {}\n", files.display());
    let config = Config::from_ini(&parse_ini(&ini, Path::new("t.ini")).unwrap()).unwrap();
    let storage = Arc::new(DirStorage::new(&files).unwrap());
    let relay = Relay::new(
        config,
        Arc::new(MemoryStore::new(Store::new(None))),
        storage,
        Arc::new(SystemClock),
    )
    .unwrap();
    let data = noise(65536, 7);
    let rec = FileRec {
        sender_id: vec![7; 16],
        info: FileInfo {
            sender_key: ed25519().0,
            size: 65536,
            digest: openssl::sha::sha256(&data).to_vec(),
        },
        path: None,
        recipients: BTreeSet::new(),
        created_at: 0,
        status: Status::Active,
    };
    relay.store.add_file(rec.clone()).await.unwrap();
    // Both FPUTs were authorized while the chunk was not uploaded yet (`rec` is that
    // snapshot); the first finishes, then the second runs with its stale snapshot and a
    // truncated body.
    let (first, _) = relay
        .put(rec.clone(), &mut Pieces(vec![Bytes::from(data.clone())]))
        .await
        .unwrap();
    assert!(matches!(first, Response::Ok));
    let second = relay
        .put(rec, &mut Pieces(vec![Bytes::from(vec![0u8; 1000])]))
        .await;
    assert!(second.is_ok(), "{second:?}");
    let path: PathBuf = files.join(base64url::encode(&[7; 16]));
    assert_eq!(
        std::fs::read(path).unwrap(),
        data,
        "the finished chunk changed"
    );
    assert!(relay
        .store
        .file(&[7; 16])
        .await
        .unwrap()
        .unwrap()
        .path
        .is_some());
}

#[tokio::test]
async fn a_truncated_chunk_file_is_refused_with_an_error_not_a_stream_reset() {
    let relay = TestRelay::with_store_log(InitOpts::default());
    let c = relay.connect().await;
    let (sid, _, rid, rkey, _) = one_chunk(&c, 8).await;
    let chunk = relay.files().join(base64url::encode(&sid));
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&chunk)
        .unwrap();
    f.set_len(1000).unwrap();
    assert_eq!(
        relay_err(c.download(&rid, &rkey, 65536).await),
        XftpError::FileIo
    );
    let logged = relay.logged();
    assert!(logged.contains("not served (damaged on disk)"), "{logged}");
    // The connection is still good.
    let (_, _, rid2, rkey2, data2) = one_chunk(&c, 9).await;
    assert_eq!(c.download(&rid2, &rkey2, 65536).await.unwrap(), data2);
}

/// A tmpfs of `size` mounted at `dir` for the life of the value (needs root).
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Option<Self> {
        std::fs::create_dir_all(dir).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Self(dir.to_path_buf()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[tokio::test]
async fn a_full_log_disk_refuses_changes_and_loses_no_acknowledged_upload() {
    let mut relay = TestRelay::with_store_log(InitOpts::default());
    relay.stop();
    // The state folder on a 64 KiB tmpfs, with the existing log moved onto it.
    let saved = relay.dir.path().join("log-saved");
    std::fs::rename(relay.log(), &saved).unwrap();
    let Some(_tmpfs) = Tmpfs::mount(&relay.log(), "64k") else {
        eprintln!("skipped: mounting a tmpfs needs root (CI runs this test as root)");
        return;
    };
    for entry in std::fs::read_dir(&saved).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), relay.log().join(entry.file_name())).unwrap();
    }
    relay.start();
    let c = relay.connect().await;
    // Fill the disk, leaving less than a record.
    let filler = relay.log().join("filler");
    let mut size = 64 * 1024;
    while size > 0 {
        if std::fs::write(&filler, vec![0u8; size]).is_ok() {
            break;
        }
        size -= 512;
    }
    let mut refused = 0;
    let mut acked = Vec::new();
    // A page of the log may still have room: enough records to need more.
    for seed in 0..40u64 {
        let (_, skey) = ed25519();
        let (rpub, rkey) = ed25519();
        let data = noise(65536, 100 + seed);
        match c
            .create(&skey, 65536, openssl::sha::sha256(&data), vec![rpub], None)
            .await
        {
            Ok(ids) => acked.push((ids, skey, rkey, data)),
            Err(e) => {
                assert_eq!(relay_err::<()>(Err(e)), XftpError::FileIo);
                refused += 1;
            }
        }
    }
    assert!(refused > 0, "the full disk refused nothing");
    // The cause is logged with the operation.
    let logged = relay.logged();
    assert!(
        logged.contains("FNEW: store log") || logged.contains("FADD: store log"),
        "{logged}"
    );
    assert!(logged.contains("No space left on device"), "{logged}");
    // Space again: the next changes are acknowledged ...
    std::fs::remove_file(&filler).unwrap();
    let (_, _, rid, rkey, data) = one_chunk(&c, 200).await;
    relay.stop();
    // ... and survive a restart (no record glued to a torn one, no chunk deleted).
    relay.start();
    let c = relay.connect().await;
    assert_eq!(c.download(&rid, &rkey, 65536).await.unwrap(), data);
    for (ids, skey, rkey, data) in acked {
        c.upload(&ids.sender_id, &skey, Bytes::from(data.clone()))
            .await
            .unwrap();
        assert_eq!(
            c.download(&ids.recipient_ids[0], &rkey, 65536)
                .await
                .unwrap(),
            data
        );
    }
    relay.stop();
}

#[test]
fn files_holding_secrets_are_not_readable_by_others() {
    use std::os::unix::fs::PermissionsExt;
    let mut relay = TestRelay::with_store_log(InitOpts {
        password: Some("s3cret"),
        ..InitOpts::default()
    });
    relay.stop();
    let mode = |p: PathBuf| std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(relay.cfg().join("file-server.ini")), 0o600);
    assert_eq!(mode(relay.cfg().join("server.key")), 0o600);
    assert_eq!(mode(relay.cfg().join("ca.key")), 0o600);
    assert_eq!(mode(relay.log().join(LOG)) & 0o007, 0);
    // An ini made readable by others is warned about at start.
    std::fs::set_permissions(
        relay.cfg().join("file-server.ini"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    relay.start();
    relay.stop();
    let logged = relay.logged();
    assert!(
        logged.contains("file-server.ini is readable by every user"),
        "{logged}"
    );
}
