//! The `xftp` binary end to end against a relay on 127.0.0.1 (started in-process).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

mod common;
use common::{text, xftp};

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

async fn relay(dir: &Path) -> xftp_server::ServerHandle {
    let cfg = dir.join("cfg");
    std::fs::create_dir_all(&cfg).unwrap();
    let (id, ca) =
        transport::Identity::generate(transport::SignAlgorithm::Ed25519, "127.0.0.1").unwrap();
    id.write_new(&ca, &cfg).unwrap();
    let ini = xftp_server::config::default_ini(&dir.join("files"), "1gb", "127.0.0.1", true, None);
    std::fs::write(cfg.join("file-server.ini"), ini).unwrap();
    xftp_server::start(
        &cfg,
        &dir.join("log"),
        Arc::new(xftp_server::relay::SystemClock),
        Some("127.0.0.1:0".parse().unwrap()),
    )
    .await
    .unwrap()
}

fn noise(len: usize) -> Vec<u8> {
    let mut x = 0x1234_5678_9abc_def1u64;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn send_info_recv_del() {
    let dir = tempfile::tempdir().unwrap();
    let handle = RelayProcess::start(&dir.path().join("relay"), free_port());
    let addr = handle.address.clone();
    let p = |s: &str| dir.path().join(s);
    std::fs::create_dir_all(p("out")).unwrap();
    std::fs::create_dir_all(p("descs")).unwrap();

    for (name, len) in [
        ("empty.bin", 0usize),
        ("one.bin", 1),
        ("report.pdf", 5_000_000),
    ] {
        let src = p(name);
        let content = noise(len);
        std::fs::write(&src, &content).unwrap();
        let o = run(&[
            "send",
            src.to_str().unwrap(),
            p("descs").to_str().unwrap(),
            "-n",
            "3",
            "-s",
            &addr,
        ])
        .await;
        assert!(o.status.success(), "{}", text(&o));
        let out = text(&o);
        let d = p("descs").join(format!("{name}.xftp"));
        assert!(out.contains(&format!(
            "Sender file description: {}",
            d.join("snd.xftp.private").display()
        )));
        assert!(out.contains("Pass file descriptions to the recipient(s):"));
        for i in 1..=3 {
            assert!(d.join(format!("rcv{i}.xftp")).exists());
        }
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(d.join("snd.xftp.private"))
                .unwrap()
                .permissions(),
        );
        assert_eq!(mode & 0o777, 0o600);

        let rcv1 = d.join("rcv1.xftp");
        let o = xftp(&["info", rcv1.to_str().unwrap()]);
        assert!(o.status.success(), "{}", text(&o));
        assert!(
            text(&o).contains("File description for recipient"),
            "{}",
            text(&o)
        );

        // Receive with the web link printed by send (it carries rcv1's description), on the
        // line after its label as the reference prints it.
        let mut lines = out.lines();
        assert!(lines.any(|l| l == "Web link:"), "{out}");
        let link = lines.next().unwrap().to_string();
        assert!(link.starts_with("https://"), "{link}");
        let o = tokio::task::spawn_blocking({
            let out = p("out");
            move || xftp(&["recv", &link, out.to_str().unwrap()])
        })
        .await
        .unwrap();
        assert!(o.status.success(), "{}", text(&o));
        assert_eq!(std::fs::read(p("out").join(name)).unwrap(), content);

        // The link's recipient acknowledged its chunks: rcv1 no longer works, and with -y the
        // description is kept when the receive fails.
        let o = run(&[
            "recv",
            rcv1.to_str().unwrap(),
            p("out").to_str().unwrap(),
            "-y",
        ])
        .await;
        assert_eq!(o.status.code(), Some(4), "{}", text(&o));
        assert!(rcv1.exists());

        // The sender description is not for receiving.
        let snd = d.join("snd.xftp.private");
        let o = xftp(&["recv", snd.to_str().unwrap(), p("out").to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(3), "{}", text(&o));
        assert!(text(&o).contains("sender description"), "{}", text(&o));

        // rcv2 works, into a name that exists already; -y deletes the used description.
        let o = run(&[
            "recv",
            d.join("rcv2.xftp").to_str().unwrap(),
            p("out").to_str().unwrap(),
            "-y",
        ])
        .await;
        assert!(o.status.success(), "{}", text(&o));
        assert!(!d.join("rcv2.xftp").exists());
        assert_eq!(
            std::fs::read(p("out").join(chunker::name::numbered_name(name, 1))).unwrap(),
            content
        );

        // Delete; then the third recipient gets a clear error and no file.
        let o = tokio::task::spawn_blocking({
            let snd = snd.clone();
            move || xftp(&["del", snd.to_str().unwrap()])
        })
        .await
        .unwrap();
        assert!(o.status.success(), "{}", text(&o));
        assert!(text(&o).contains("File deleted!"));
        let before: Vec<PathBuf> = std::fs::read_dir(p("out"))
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .collect();
        let o = run(&[
            "recv",
            d.join("rcv3.xftp").to_str().unwrap(),
            p("out").to_str().unwrap(),
        ])
        .await;
        assert_eq!(o.status.code(), Some(4), "{}", text(&o));
        assert!(text(&o).contains("deleted or has expired"), "{}", text(&o));
        let after: Vec<PathBuf> = std::fs::read_dir(p("out"))
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .collect();
        assert_eq!(
            before.len(),
            after.len(),
            "a failed receive leaves nothing behind"
        );
    }
    drop(handle);
}

#[test]
fn reference_descriptions_are_read() {
    let fixture = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../testdata/xftp/reference_file_description.yaml"
    );
    let o = xftp(&["info", fixture]);
    assert!(o.status.success(), "{}", text(&o));
    let info = text(&o);
    assert!(info.contains("File description for recipient"), "{info}");
    assert!(info.contains("File download size: 26mb"), "{info}");
    assert!(info.contains("xftp://abc=@example1.com: 16mb"), "{info}");
    // Its digests are placeholders (3 bytes): recv refuses it before contacting anything.
    let dir = tempfile::tempdir().unwrap();
    let o = xftp(&["recv", fixture, dir.path().to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(
        text(&o).contains("cannot be used for a transfer"),
        "{}",
        text(&o)
    );
    let o = xftp(&[
        "info",
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../testdata/xftp/description.yaml"
        ),
    ]);
    assert!(
        text(&o).contains("File download size: 13mb"),
        "{}",
        text(&o)
    );
}

#[test]
fn bad_descriptions_and_no_servers() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.xftp");
    std::fs::write(&bad, "party: recipient\nsize: 1mb\n").unwrap();
    let o = xftp(&["recv", bad.to_str().unwrap(), dir.path().to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let o = xftp(&["info", "https://host/#not-deflate"]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let f = dir.path().join("f");
    std::fs::write(&f, b"x").unwrap();
    // An empty relay list is refused before anything is read or sent.
    let o = xftp(&["send", f.to_str().unwrap(), "-s", " ; "]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("no relays"), "{}", text(&o));
}

#[tokio::test(flavor = "multi_thread")]
async fn replicas_survive_a_stopped_relay_and_chunks_spread_over_relays() {
    let dir = tempfile::tempdir().unwrap();
    let mut relays = Vec::new();
    for i in 0..3 {
        let d = dir.path().join(format!("relay{i}"));
        std::fs::create_dir_all(&d).unwrap();
        relays.push(relay(&d).await);
    }
    let servers = relays
        .iter()
        .map(|r| r.address.clone())
        .collect::<Vec<_>>()
        .join(";");
    let src = dir.path().join("video.bin");
    let content = noise(9_000_000); // 3 chunks: 4 MiB, 4 MiB, 1 MiB
    std::fs::write(&src, &content).unwrap();
    let descs = dir.path().join("descs");
    std::fs::create_dir_all(&descs).unwrap();
    let o = run(&[
        "send",
        src.to_str().unwrap(),
        descs.to_str().unwrap(),
        "-s",
        &servers,
        "--replicas",
        "2",
    ])
    .await;
    assert!(o.status.success(), "{}", text(&o));
    let rcv = descs.join("video.bin.xftp/rcv1.xftp");
    let o = xftp(&["info", rcv.to_str().unwrap()]);
    let info = text(&o);
    for r in &relays {
        assert!(
            info.contains(&r.address[..30]),
            "every relay holds chunks: {info}"
        );
    }
    // Stop the relay that holds the first replica of chunk 1.
    let first = relays.remove(0);
    first.shutdown().await;
    let out = dir.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    let o = run(&[
        "recv",
        rcv.to_str().unwrap(),
        out.to_str().unwrap(),
        "-r",
        "1",
    ])
    .await;
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(std::fs::read(out.join("video.bin")).unwrap(), content);
    for r in relays {
        r.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn large_descriptions_go_through_a_redirect() {
    let dir = tempfile::tempdir().unwrap();
    let handle = RelayProcess::start(&dir.path().join("relay"), free_port());
    let src = dir.path().join("big.bin");
    let content = noise(9_000_000);
    std::fs::write(&src, &content).unwrap();
    let descs = dir.path().join("descs");
    std::fs::create_dir_all(&descs).unwrap();
    let o = run(&[
        "send",
        src.to_str().unwrap(),
        descs.to_str().unwrap(),
        "-s",
        &handle.address,
        "--link-limit",
        "300",
    ])
    .await;
    assert!(o.status.success(), "{}", text(&o));
    let rcv = descs.join("big.bin.xftp/rcv1.xftp");
    let yaml = std::fs::read_to_string(&rcv).unwrap();
    let small = xftp_proto::FileDescription::from_yaml(&yaml).unwrap();
    assert_eq!(small.chunks.len(), 1, "the redirect is one chunk: {yaml}");
    let redirect = small.redirect.expect("a redirect description");
    assert_eq!(
        redirect.size,
        9 << 20,
        "it points at the 9 MiB encrypted file"
    );
    let out = dir.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    let o = run(&["recv", rcv.to_str().unwrap(), out.to_str().unwrap()]).await;
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(std::fs::read(out.join("big.bin")).unwrap(), content);
    let left: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(
        left.len(),
        1,
        "only the file, no redirect leftovers: {left:?}"
    );
    drop(handle);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_interrupted_recv_resumes_without_downloading_verified_chunks_again() {
    use std::sync::atomic::Ordering;
    let dir = tempfile::tempdir().unwrap();
    let (a_dir, b_dir) = (dir.path().join("a"), dir.path().join("b"));
    std::fs::create_dir_all(&a_dir).unwrap();
    std::fs::create_dir_all(&b_dir).unwrap();
    let a = relay(&a_dir).await;
    let b = relay(&b_dir).await;
    let b_addr = b.addr;
    // 5 chunks of 4 MiB, alternating: A holds 1, 3, 5 and B holds 2 and 4.
    let src = dir.path().join("movie.bin");
    let content = noise(20_000_000);
    std::fs::write(&src, &content).unwrap();
    let descs = dir.path().join("descs");
    std::fs::create_dir_all(&descs).unwrap();
    let servers = format!("{};{}", a.address, b.address);
    let o = run(&[
        "send",
        src.to_str().unwrap(),
        descs.to_str().unwrap(),
        "-s",
        &servers,
    ])
    .await;
    assert!(o.status.success(), "{}", text(&o));
    let rcv = descs.join("movie.bin.xftp/rcv1.xftp");

    // B goes away: the download stops at chunk 2 with a network error, chunk 1 on disk.
    b.shutdown().await;
    let out = dir.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    let recv = {
        let (rcv, out) = (rcv.clone(), out.clone());
        move || {
            xftp(&[
                "recv",
                rcv.to_str().unwrap(),
                out.to_str().unwrap(),
                "-r",
                "1",
                "--parallel",
                "1",
            ])
        }
    };
    let o = tokio::task::spawn_blocking(recv.clone()).await.unwrap();
    assert_eq!(o.status.code(), Some(4), "{}", text(&o));
    let partial: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(partial.iter().any(|n| n.ends_with(".part")), "{partial:?}");

    // B is back (same store, same port): the second run continues after chunk 1.
    let b = xftp_server::start(
        &b_dir.join("cfg"),
        &b_dir.join("log"),
        Arc::new(xftp_server::relay::SystemClock),
        Some(b_addr),
    )
    .await
    .unwrap();
    let a_before = a.relay.stats.downloads.load(Ordering::SeqCst);
    let o = tokio::task::spawn_blocking(recv).await.unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(std::fs::read(out.join("movie.bin")).unwrap(), content);
    let a_second_run = a.relay.stats.downloads.load(Ordering::SeqCst) - a_before;
    assert_eq!(
        a_second_run, 2,
        "chunk 1 was not downloaded again, only chunks 3 and 5"
    );
    assert_eq!(b.relay.stats.downloads.load(Ordering::SeqCst), 2);
    let left: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(left.len(), 1, "no partial output or state left: {left:?}");
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_interrupted_send_resumes_without_creating_sent_chunks_again() {
    use std::sync::atomic::Ordering;
    let dir = tempfile::tempdir().unwrap();
    let (a_dir, b_dir) = (dir.path().join("a"), dir.path().join("b"));
    std::fs::create_dir_all(&a_dir).unwrap();
    std::fs::create_dir_all(&b_dir).unwrap();
    let a = relay(&a_dir).await;
    let b = relay(&b_dir).await;
    let b_addr = b.addr;
    let servers = format!("{};{}", a.address, b.address);
    b.shutdown().await;
    let src = dir.path().join("album.bin");
    let content = noise(20_000_000); // 5 chunks: A gets 1, 3, 5; B gets 2, 4
    std::fs::write(&src, &content).unwrap();
    let descs = dir.path().join("descs");
    std::fs::create_dir_all(&descs).unwrap();
    let send = {
        let (src, descs) = (src.clone(), descs.clone());
        move || {
            xftp(&[
                "send",
                src.to_str().unwrap(),
                descs.to_str().unwrap(),
                "-s",
                &servers,
                "-r",
                "1",
            ])
        }
    };
    let o = tokio::task::spawn_blocking(send.clone()).await.unwrap();
    assert_eq!(o.status.code(), Some(4), "{}", text(&o));
    let state = descs.join(".album.bin.xftp-send");
    assert!(state.exists(), "the send state is kept");
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&state).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600, "it holds keys");
    let created_first = a.relay.stats.files_created.load(Ordering::SeqCst);
    assert!(created_first >= 1, "some chunks reached A");

    let b = xftp_server::start(
        &b_dir.join("cfg"),
        &b_dir.join("log"),
        Arc::new(xftp_server::relay::SystemClock),
        Some(b_addr),
    )
    .await
    .unwrap();
    let o = tokio::task::spawn_blocking(send).await.unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert!(!state.exists(), "the state is removed after success");
    let created_total = a.relay.stats.files_created.load(Ordering::SeqCst);
    assert_eq!(
        created_total, 3,
        "A's chunks were created once: {created_first} then {created_total}"
    );
    assert_eq!(b.relay.stats.files_created.load(Ordering::SeqCst), 2);

    let out = dir.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    let o = run(&[
        "recv",
        descs.join("album.bin.xftp/rcv1.xftp").to_str().unwrap(),
        out.to_str().unwrap(),
    ])
    .await;
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(std::fs::read(out.join("album.bin")).unwrap(), content);
    a.shutdown().await;
    b.shutdown().await;
}

struct FakeClock(std::sync::atomic::AtomicU64);

impl xftp_server::relay::Clock for FakeClock {
    fn now(&self) -> u64 {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }
}

async fn relay_with_clock(dir: &Path, clock: Arc<FakeClock>) -> xftp_server::ServerHandle {
    let first = relay(dir).await; // writes certificates and config
    first.shutdown().await;
    xftp_server::start(
        &dir.join("cfg"),
        &dir.join("log"),
        clock,
        Some("127.0.0.1:0".parse().unwrap()),
    )
    .await
    .unwrap()
}

async fn send_one(dir: &Path, addr: &str, name: &str, content: &[u8]) -> PathBuf {
    let src = dir.join(name);
    std::fs::write(&src, content).unwrap();
    let descs = dir.join("descs");
    std::fs::create_dir_all(&descs).unwrap();
    let o = run(&[
        "send",
        src.to_str().unwrap(),
        descs.to_str().unwrap(),
        "-s",
        addr,
    ])
    .await;
    assert!(o.status.success(), "{}", text(&o));
    descs.join(format!("{name}.xftp/rcv1.xftp"))
}

async fn recv(rcv: &Path, out: &Path) -> Output {
    std::fs::create_dir_all(out).unwrap();
    let (rcv, out) = (rcv.to_path_buf(), out.to_path_buf());
    tokio::task::spawn_blocking(move || {
        xftp(&[
            "recv",
            rcv.to_str().unwrap(),
            out.to_str().unwrap(),
            "-r",
            "1",
        ])
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_corrupted_chunk_on_the_relay_fails_with_a_digest_error_and_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let handle = RelayProcess::start(&dir.path().join("relay"), free_port());
    let rcv = send_one(dir.path(), &handle.address, "data.bin", &noise(5_000_000)).await;
    // Flip one byte of one stored chunk (the folder also holds the relay's empty hidden lock
    // file, which `read_dir` may list first).
    let chunk = std::fs::read_dir(dir.path().join("relay/files"))
        .unwrap()
        .flatten()
        .find(|e| {
            !e.file_name().to_string_lossy().starts_with('.')
                && e.metadata().is_ok_and(|m| m.is_file() && m.len() > 12345)
        })
        .expect("a stored chunk")
        .path();
    let mut bytes = std::fs::read(&chunk).unwrap();
    bytes[12345] ^= 0x40;
    std::fs::write(&chunk, bytes).unwrap();
    let out = dir.path().join("out");
    let o = recv(&rcv, &out).await;
    assert_eq!(o.status.code(), Some(5), "{}", text(&o));
    assert!(text(&o).contains("digest"), "{}", text(&o));
    assert_eq!(
        std::fs::read_dir(&out).unwrap().count(),
        0,
        "no output, no partial file"
    );
    drop(handle);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_expired_file_gives_a_clear_message() {
    use std::sync::atomic::Ordering;
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(FakeClock(std::sync::atomic::AtomicU64::new(1_754_467_200)));
    let handle = relay_with_clock(dir.path(), clock.clone()).await;
    let rcv = send_one(dir.path(), &handle.address, "old.bin", &noise(100_000)).await;
    clock.0.fetch_add(50 * 3600, Ordering::SeqCst);
    assert_eq!(
        handle.relay.expire().await.0,
        2,
        "both 64 KiB chunks expired"
    );
    let out = dir.path().join("out");
    let o = recv(&rcv, &out).await;
    assert_eq!(o.status.code(), Some(4), "{}", text(&o));
    assert!(text(&o).contains("deleted or has expired"), "{}", text(&o));
    assert_eq!(std::fs::read_dir(&out).unwrap().count(), 0);
    handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_300_mb_file() {
    let dir = tempfile::tempdir().unwrap();
    let handle = RelayProcess::start(&dir.path().join("relay"), free_port());
    let content = noise(300_000_000);
    let rcv = send_one(dir.path(), &handle.address, "big.iso", &content).await;
    let out = dir.path().join("out");
    let o = recv(&rcv, &out).await;
    assert!(o.status.success(), "{}", text(&o));
    let got = std::fs::read(out.join("big.iso")).unwrap();
    assert!(got == content, "300 MB came back different");
    drop(handle);
}

#[tokio::test(flavor = "multi_thread")]
async fn json_output_for_scripts() {
    let dir = tempfile::tempdir().unwrap();
    let handle = RelayProcess::start(&dir.path().join("relay"), free_port());
    let src = dir.path().join("notes.txt");
    std::fs::write(&src, b"hello over xftp").unwrap();
    let descs = dir.path().join("descs");
    std::fs::create_dir_all(&descs).unwrap();
    let o = run(&[
        "--json",
        "send",
        src.to_str().unwrap(),
        descs.to_str().unwrap(),
        "-s",
        &handle.address,
        "-n",
        "2",
    ])
    .await;
    assert!(o.status.success(), "{}", text(&o));
    let v: serde_json::Value =
        serde_json::from_slice(&o.stdout).expect("stdout is one JSON object");
    assert_eq!(v["recipients"].as_array().unwrap().len(), 2);
    assert!(v["webLink"]
        .as_str()
        .unwrap()
        .starts_with("https://127.0.0.1/#"));
    let rcv = v["recipients"][0].as_str().unwrap().to_string();
    let o = xftp(&["--json", "info", &rcv]);
    let info: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(info["party"], "recipient");
    assert_eq!(info["size"], 65536);
    let out = dir.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    let o = tokio::task::spawn_blocking({
        let out = out.clone();
        move || xftp(&["--json", "recv", &rcv, out.to_str().unwrap(), "-y"])
    })
    .await
    .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(r["senderName"], "notes.txt");
    assert_eq!(r["descriptionDeleted"], true);
    assert_eq!(
        std::fs::read(r["file"].as_str().unwrap()).unwrap(),
        b"hello over xftp"
    );
    drop(handle);
}

/// The counter's value once it has not changed for 300 ms (at most 5 s).
fn settled(c: &std::sync::atomic::AtomicU64) -> u64 {
    use std::sync::atomic::Ordering;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let mut last = c.load(Ordering::SeqCst);
    loop {
        std::thread::sleep(std::time::Duration::from_millis(300));
        let now = c.load(Ordering::SeqCst);
        if now == last || std::time::Instant::now() > deadline {
            return now;
        }
        last = now;
    }
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// Runs `xftp args` in the background and kills it with SIGKILL once `ready()` holds (polled
/// for at most 20 s); returns whether `ready` was seen before the process ended.
fn kill9_when(args: &[&str], ready: impl Fn() -> bool) -> bool {
    let mut child = Command::new(env!("CARGO_BIN_EXE_xftp"))
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let seen = loop {
        if ready() {
            break true;
        }
        if child.try_wait().unwrap().is_some() || std::time::Instant::now() > deadline {
            break false;
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    };
    let _ = child.kill(); // SIGKILL
    let _ = child.wait();
    seen
}

#[tokio::test(flavor = "multi_thread")]
async fn sigkilled_recv_and_send_resume() {
    use std::sync::atomic::Ordering;
    let dir = tempfile::tempdir().unwrap();
    let (a_dir, b_dir) = (dir.path().join("a"), dir.path().join("b"));
    std::fs::create_dir_all(&a_dir).unwrap();
    std::fs::create_dir_all(&b_dir).unwrap();
    let a = relay(&a_dir).await;
    let b = relay(&b_dir).await;
    let b_addr = b.addr;
    let servers = format!("{};{}", a.address, b.address);
    let (b_cfg, b_log) = (b_dir.join("cfg"), b_dir.join("log"));
    let restart_b = || {
        xftp_server::start(
            &b_cfg,
            &b_log,
            Arc::new(xftp_server::relay::SystemClock),
            Some(b_addr),
        )
    };

    // send: B is down, so the run retries it with back-off while A's chunks are recorded;
    // it is killed then.
    b.shutdown().await;
    let src = dir.path().join("set.bin");
    let content = noise(20_000_000); // 5 chunks of 4 MiB: A gets 1, 3, 5
    std::fs::write(&src, &content).unwrap();
    let descs = dir.path().join("descs");
    std::fs::create_dir_all(&descs).unwrap();
    let state = descs.join(".set.bin.xftp-send");
    let send_args: Vec<String> = [
        "send",
        src.to_str().unwrap(),
        descs.to_str().unwrap(),
        "-s",
        &servers,
        "-r",
        "8",
    ]
    .map(String::from)
    .to_vec();
    let seen = tokio::task::spawn_blocking({
        let (args, state) = (send_args.clone(), state.clone());
        move || {
            kill9_when(&strs(&args), || {
                // Two complete commit lines (a line still being written does not count).
                std::fs::read_to_string(&state).is_ok_and(|s| {
                    s.split_inclusive('\n')
                        .filter(|l| l.starts_with("chunk ") && l.ends_with('\n'))
                        .count()
                        >= 2
                })
            })
        }
    })
    .await
    .unwrap();
    assert!(seen, "the send recorded chunks before it was killed");
    // What the killed run committed; requests it sent just before dying may still reach A, so
    // wait until A's counter is quiet before taking it.
    let state_text = std::fs::read_to_string(&state).unwrap_or_default();
    let committed: Vec<usize> = state_text
        .split_inclusive('\n')
        .filter_map(|l| l.strip_prefix("chunk ")?.split(' ').next()?.parse().ok())
        .collect();
    let created_before = settled(&a.relay.stats.files_created);
    let b = restart_b().await.unwrap();
    let o = tokio::task::spawn_blocking(move || xftp(&strs(&send_args)))
        .await
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let created_after = a.relay.stats.files_created.load(Ordering::SeqCst);
    // A holds chunks 0, 2 and 4; the rerun creates exactly those not committed.
    let expected = [0usize, 2, 4]
        .iter()
        .filter(|i| !committed.contains(i))
        .count();
    assert_eq!(
        (created_after - created_before) as usize,
        expected,
        "committed chunks {committed:?} were not created again"
    );

    // recv: B goes down again; the run gets chunk 1 from A, retries chunk 2, and is killed.
    b.shutdown().await;
    let rcv = descs.join("set.bin.xftp/rcv1.xftp");
    let out = dir.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    let recv_args: Vec<String> = [
        "recv",
        rcv.to_str().unwrap(),
        out.to_str().unwrap(),
        "-r",
        "8",
        "--parallel",
        "1",
    ]
    .map(String::from)
    .to_vec();
    let seen = tokio::task::spawn_blocking({
        let (args, out) = (recv_args.clone(), out.clone());
        move || {
            kill9_when(&strs(&args), || {
                // The whole content of chunk 1 is on disk: 4 MiB less the length prefix
                // and the header of "set.bin" (8 + 9 bytes).
                std::fs::read_dir(&out).unwrap().flatten().any(|e| {
                    let n = e.file_name().to_string_lossy().into_owned();
                    n.ends_with(".part") && e.metadata().is_ok_and(|m| m.len() >= 4_194_304 - 17)
                })
            })
        }
    })
    .await
    .unwrap();
    assert!(seen, "chunk 1 was on disk before the kill");
    let b = restart_b().await.unwrap();
    let a_before = settled(&a.relay.stats.downloads);
    let o = tokio::task::spawn_blocking(move || xftp(&strs(&recv_args)))
        .await
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(std::fs::read(out.join("set.bin")).unwrap(), content);
    let a_after = a.relay.stats.downloads.load(Ordering::SeqCst);
    assert_eq!(
        a_after - a_before,
        2,
        "only chunks 3 and 5 came from A again, not chunk 1"
    );
    a.shutdown().await;
    b.shutdown().await;
}

/// Runs `xftp args` on a blocking thread (the relay may live in this test's runtime).
async fn run(args: &[&str]) -> Output {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    tokio::task::spawn_blocking(move || xftp(&strs(&args)))
        .await
        .unwrap()
}

/// A real `xftp-server` process (built by `cargo test --workspace`, next to `xftp`).
struct RelayProcess {
    child: std::process::Child,
    address: String,
    cfg: PathBuf,
}

impl RelayProcess {
    fn start(dir: &Path, control_port: u16) -> Self {
        let bin = Path::new(env!("CARGO_BIN_EXE_xftp")).with_file_name("xftp-server");
        assert!(
            bin.exists(),
            "{} is missing: run `cargo test --workspace`",
            bin.display()
        );
        let (cfg, log) = (dir.join("cfg"), dir.join("log"));
        let o = Command::new(&bin)
            .env("XFTP_SERVER_CFG_PATH", &cfg)
            .env("XFTP_SERVER_LOG_PATH", &log)
            .args(["init", "-p"])
            .arg(dir.join("files"))
            .args(["--ip", "127.0.0.1", "-a", "ED25519"])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", text(&o));
        let ini = cfg.join("file-server.ini");
        let text = std::fs::read_to_string(&ini).unwrap().replace(
            "# control_port = 5226",
            &format!("control_port = {control_port}"),
        );
        std::fs::write(&ini, text).unwrap();
        let mut child = Command::new(&bin)
            .env("XFTP_SERVER_CFG_PATH", &cfg)
            .env("XFTP_SERVER_LOG_PATH", &log)
            .args(["start", "--bind", "127.0.0.1:0"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        use std::io::BufRead;
        let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
        let address = loop {
            let line = lines.next().expect("relay printed its address").unwrap();
            if let Some(a) = line.strip_prefix("Server address: ") {
                break a.to_string();
            }
        };
        Self {
            child,
            address,
            cfg,
        }
    }

    /// `fileDownloads` from the control port.
    fn downloads(port: u16) -> u64 {
        use std::io::{BufRead, Write};
        let mut tcp = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        tcp.set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        let mut r = std::io::BufReader::new(tcp.try_clone().unwrap());
        let mut line = String::new();
        for _ in 0..2 {
            line.clear();
            r.read_line(&mut line).unwrap();
        }
        tcp.write_all(b"stats\n").unwrap();
        line.clear();
        r.read_line(&mut line).unwrap();
        line.split(' ')
            .find_map(|kv| kv.strip_prefix("fileDownloads="))
            .and_then(|v| v.trim().parse().ok())
            .expect("stats line")
    }
}

impl Drop for RelayProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = &self.cfg;
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Both relays are real processes; the relay a recipient prefers is killed right after it
/// served its first chunk, and every other chunk comes from its second copy.
#[test]
fn a_relay_killed_during_recv_with_replicas() {
    let dir = tempfile::tempdir().unwrap();
    let ports = [free_port(), free_port()];
    let mut relays = vec![
        RelayProcess::start(&dir.path().join("a"), ports[0]),
        RelayProcess::start(&dir.path().join("b"), ports[1]),
    ];
    let src = dir.path().join("clip.bin");
    let content = noise(20_000_000); // 5 chunks, each on both relays
    std::fs::write(&src, &content).unwrap();
    let descs = dir.path().join("descs");
    std::fs::create_dir_all(&descs).unwrap();
    let servers = format!("{};{}", relays[0].address, relays[1].address);
    let o = xftp(&[
        "send",
        src.to_str().unwrap(),
        descs.to_str().unwrap(),
        "-s",
        &servers,
        "--replicas",
        "2",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let rcv = descs.join("clip.bin.xftp/rcv1.xftp");
    // The description lists replicas grouped by relay, so every chunk's first copy is on the
    // same relay: that is the one to kill.
    let desc =
        xftp_proto::FileDescription::from_yaml(&std::fs::read_to_string(&rcv).unwrap()).unwrap();
    let first = desc.chunks[0].replicas[0].server.to_string();
    let x = relays
        .iter()
        .position(|r| r.address == first)
        .expect("a relay of ours");
    let (px, py) = (ports[x], ports[1 - x]);
    let out = dir.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    let recv = Command::new(env!("CARGO_BIN_EXE_xftp"))
        .args([
            "recv",
            rcv.to_str().unwrap(),
            out.to_str().unwrap(),
            "--parallel",
            "1",
            "-r",
            "1",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while RelayProcess::downloads(px) == 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    let killed = relays.remove(x);
    drop(killed); // SIGKILL
    let o = recv.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(std::fs::read(out.join("clip.bin")).unwrap(), content);
    // The other relay holds only second copies: everything it served was a fallback, and the
    // chunks the killed relay had not served yet (at least the last ones) came from it.
    let from_y = RelayProcess::downloads(py);
    assert!(from_y >= 1, "no chunk fell back: {}", text(&o));
}

#[tokio::test(flavor = "multi_thread")]
async fn recv_never_writes_through_a_link_planted_at_its_resume_name() {
    let dir = tempfile::tempdir().unwrap();
    let handle = relay(dir.path()).await;
    let rcv = send_one(dir.path(), &handle.address, "data.bin", &noise(300_000)).await;
    let out = dir.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    // Someone who can write to the download folder plants the predictable resume name.
    let text_desc = std::fs::read_to_string(&rcv).unwrap();
    let desc = xftp_proto::ValidFileDescription::from_yaml(&text_desc).unwrap();
    let id: String = desc.digest[..12]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let victim = dir.path().join("victim.txt");
    std::fs::write(&victim, b"precious").unwrap();
    std::os::unix::fs::symlink(&victim, out.join(format!(".xftp-{id}.part"))).unwrap();
    let o = recv(&rcv, &out).await;
    assert!(!o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("refusing") || text(&o).contains("link"),
        "{}",
        text(&o)
    );
    assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
    handle.shutdown().await;
}

#[test]
fn info_reads_at_most_a_description_from_a_device() {
    let t = std::time::Instant::now();
    let o = xftp(&["info", "/dev/zero"]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(
        text(&o).contains("more than the 4194304 allowed"),
        "{}",
        text(&o)
    );
    // Bounded: 4 MiB read, not gigabytes (generous for a slow debug build).
    assert!(t.elapsed() < std::time::Duration::from_secs(10));
}

#[test]
fn a_closed_stdout_ends_quietly() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/xftp");
    let desc = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "yaml"))
        .expect("a reference description in testdata/xftp");
    for _ in 0..3 {
        let mut child = Command::new(env!("CARGO_BIN_EXE_xftp"))
            .args(["info", desc.to_str().unwrap()])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take()); // the reader is gone (`xftp info ... | true`)
        let o = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!err.contains("panicked"), "{err}");
        assert_eq!(o.status.code(), Some(0), "{err}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn received_names_lose_leading_dots_and_format_characters() {
    let dir = tempfile::tempdir().unwrap();
    let handle = relay(dir.path()).await;
    for (sent, saved) in [
        (".bashrc", "bashrc"),
        ("photo\u{202E}gpj.exe", "photogpj.exe"),
    ] {
        let rcv = send_one(dir.path(), &handle.address, sent, b"content").await;
        let out = dir.path().join(format!("out-{saved}"));
        let o = recv(&rcv, &out).await;
        assert!(o.status.success(), "{}", text(&o));
        let names: Vec<String> = std::fs::read_dir(&out)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, vec![saved.to_string()]);
    }
    handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn send_creates_its_folder_and_recv_saves_as_a_new_path() {
    let dir = tempfile::tempdir().unwrap();
    let handle = relay(dir.path()).await;
    let src = dir.path().join("report.pdf");
    std::fs::write(&src, noise(100_000)).unwrap();
    let descs = dir.path().join("a/b/descs");
    let o = run(&[
        "send",
        src.to_str().unwrap(),
        descs.to_str().unwrap(),
        "-n",
        "2",
        "-s",
        &handle.address,
    ])
    .await;
    assert!(o.status.success(), "{}", text(&o));
    // A path that does not exist: the file is saved as that path (its folder created).
    let target = dir.path().join("new/dir/copy.pdf");
    let rcv = descs.join("report.pdf.xftp/rcv1.xftp");
    let o = run(&["recv", rcv.to_str().unwrap(), target.to_str().unwrap()]).await;
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(std::fs::read(&target).unwrap(), noise(100_000));
    // An existing file at the path is never replaced.
    let rcv2 = descs.join("report.pdf.xftp/rcv2.xftp");
    let o = run(&["recv", rcv2.to_str().unwrap(), target.to_str().unwrap()]).await;
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(std::fs::read(&target).unwrap(), noise(100_000));
    assert_eq!(
        std::fs::read(dir.path().join("new/dir/copy_1.pdf")).unwrap(),
        noise(100_000)
    );
    handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_relay_out_of_disk_space_is_reported_as_such() {
    let dir = tempfile::tempdir().unwrap();
    let files = dir.path().join("files");
    std::fs::create_dir_all(&files).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
        .arg(&files)
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        eprintln!("skipped: mounting a tmpfs needs root (CI runs this test as root)");
        return;
    }
    let handle = relay(dir.path()).await;
    let src = dir.path().join("big.bin");
    std::fs::write(&src, noise(6_000_000)).unwrap();
    let o = run(&[
        "send",
        src.to_str().unwrap(),
        dir.path().to_str().unwrap(),
        "-s",
        &handle.address,
        "-r",
        "1",
    ])
    .await;
    handle.shutdown().await;
    let _ = Command::new("umount").arg("-l").arg(&files).status();
    assert_eq!(o.status.code(), Some(4), "{}", text(&o));
    assert!(text(&o).contains("FILE_IO"), "{}", text(&o));
    assert!(!text(&o).contains("stream closed"), "{}", text(&o));
}

#[tokio::test(flavor = "multi_thread")]
async fn send_and_recv_through_a_socks5_proxy() {
    let dir = tempfile::tempdir().unwrap();
    let handle = relay(dir.path()).await;
    let port = free_port();
    let mut proxy = Command::new("microsocks")
        .args(["-i", "127.0.0.1", "-p", &port.to_string()])
        .spawn()
        .expect("microsocks is needed for this test: apt-get install microsocks (.ci/run does)");
    let socks = format!("127.0.0.1:{port}");
    for _ in 0..200 {
        if std::net::TcpStream::connect(&socks).is_ok() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let content = noise(300_000);
    let src = dir.path().join("via-proxy.bin");
    std::fs::write(&src, &content).unwrap();
    let descs = dir.path().join("descs");
    std::fs::create_dir_all(&descs).unwrap();
    let o = run(&[
        "send",
        src.to_str().unwrap(),
        descs.to_str().unwrap(),
        "-s",
        &handle.address,
        "--socks-proxy",
        &socks,
    ])
    .await;
    assert!(o.status.success(), "{}", text(&o));
    let rcv = descs.join("via-proxy.bin.xftp/rcv1.xftp");
    // The proxy gone, a download through it fails as a relay problem and writes nothing...
    proxy.kill().unwrap();
    proxy.wait().unwrap();
    let out = dir.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    let o = run(&[
        "recv",
        rcv.to_str().unwrap(),
        out.to_str().unwrap(),
        "-r",
        "1",
        "--socks-proxy",
        &socks,
    ])
    .await;
    assert_eq!(o.status.code(), Some(4), "{}", text(&o));
    assert!(
        text(&o).contains("SOCKS5") || text(&o).contains(&socks),
        "{}",
        text(&o)
    );
    // ... and with the proxy back, it works.
    let mut proxy = Command::new("microsocks")
        .args(["-i", "127.0.0.1", "-p", &port.to_string()])
        .spawn()
        .unwrap();
    for _ in 0..200 {
        if std::net::TcpStream::connect(&socks).is_ok() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let o = run(&[
        "recv",
        rcv.to_str().unwrap(),
        out.to_str().unwrap(),
        "-y",
        "--socks-proxy",
        &socks,
    ])
    .await;
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(std::fs::read(out.join("via-proxy.bin")).unwrap(), content);
    proxy.kill().unwrap();
    proxy.wait().unwrap();
    handle.shutdown().await;
}
