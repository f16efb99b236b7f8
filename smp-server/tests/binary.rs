//! The `smp-server` binary as an operator runs it: init, start, the printed address, the
//! store log across a kill -9, and strict config errors.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

mod common;

use simplex_crypto::{generate, KeyAlgorithm};
use smp_proto::command::{NewQueue, QueueRequest};
use smp_proto::{BrokerMsg, Command};

use common::bin::{key_hash, run, run_ok, smp_server, start, terminate};

#[tokio::test]
async fn init_start_and_a_queue_that_survives_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let (cfg, log) = (dir.path().join("cfg"), dir.path().join("log"));
    let text = common::bin::init(&cfg, &log);
    let fp = std::fs::read_to_string(cfg.join("fingerprint")).unwrap();
    assert!(
        text.contains(&format!("Server address: smp://{}@127.0.0.1", fp.trim())),
        "{text}"
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(cfg.join("smp-server.ini"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o077, 0, "the ini is private");
    // A second init refuses to overwrite.
    assert!(!smp_server(&cfg, &log)
        .arg("init")
        .output()
        .unwrap()
        .status
        .success());

    let (mut child, addr, address) = start(&cfg, &log);
    assert!(address.starts_with("Server address: smp://"), "{address}");
    let kh = key_hash(&cfg);
    let (rk_pub, rk) = generate(KeyAlgorithm::Ed25519).unwrap();
    let dh_pub = generate(KeyAlgorithm::X25519).unwrap().0;
    let new = Command::New(NewQueue {
        rcv_auth_key: rk_pub,
        rcv_dh_key: dh_pub,
        basic_auth: None,
        subscribe: false,
        request: Some(QueueRequest::Messaging(None)),
        ntf_creds: None,
    });
    let ids = {
        let mut c = common::connect(addr, &kh, true).await;
        let BrokerMsg::Ids(ids) = c.call(Some(&rk), b"", &new).await else {
            panic!()
        };
        ids
    };
    // Answered IDS means the CREATE record is on disk: kill -9 loses nothing.
    child.kill().unwrap();
    child.wait().unwrap();
    let (mut child, addr, _) = start(&cfg, &log);
    let mut c = common::connect(addr, &kh, true).await;
    assert_eq!(
        c.call(Some(&rk), &ids.rcv_id, &Command::Sub).await,
        BrokerMsg::Sok(None)
    );
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn a_bad_setting_is_named_and_nothing_starts() {
    let dir = tempfile::tempdir().unwrap();
    let (cfg, log) = (dir.path().join("cfg"), dir.path().join("log"));
    run_ok(&cfg, &log, &["init"]);
    let ini = cfg.join("smp-server.ini");
    let text = std::fs::read_to_string(&ini).unwrap();
    std::fs::write(&ini, text.replace("new_queues = on", "new_queues = maybe")).unwrap();
    let (ok, err) = run(&cfg, &log, &["start", "--bind", "127.0.0.1:0"]);
    assert!(!ok);
    assert!(err.contains("[AUTH] new_queues"), "{err}");
}

/// Sends SIGTERM and waits for a clean exit.

#[tokio::test]
async fn messages_survive_a_graceful_restart_and_acknowledged_ones_do_not_come_back() {
    let dir = tempfile::tempdir().unwrap();
    let (cfg, log) = (dir.path().join("cfg"), dir.path().join("log"));
    run_ok(&cfg, &log, &["init", "-l", "-a", "ED25519"]);
    let kh = key_hash(&cfg);
    let (rk_pub, rk) = generate(KeyAlgorithm::Ed25519).unwrap();
    let (dh_pub, dh) = generate(KeyAlgorithm::X25519).unwrap();
    let new = Command::New(NewQueue {
        rcv_auth_key: rk_pub,
        rcv_dh_key: dh_pub,
        basic_auth: None,
        subscribe: false,
        request: Some(QueueRequest::Messaging(None)),
        ntf_creds: None,
    });
    let send = |b: &[u8]| Command::Send {
        notification: false,
        body: b.to_vec(),
    };
    let (child, addr, _) = start(&cfg, &log);
    let ids = {
        let mut c = common::connect(addr, &kh, true).await;
        let BrokerMsg::Ids(ids) = c.call(Some(&rk), b"", &new).await else {
            panic!()
        };
        for b in [&b"one"[..], b"two", b"three"] {
            assert_eq!(c.call(None, &ids.snd_id, &send(b)).await, BrokerMsg::Ok);
        }
        ids
    };
    terminate(child);
    assert!(log.join("smp-server-messages.log").exists());

    // After the restart the three messages are there, in order; "one" is acknowledged.
    let (child, addr, _) = start(&cfg, &log);
    let open = |m: &BrokerMsg| {
        let BrokerMsg::Msg(id, enc) = m else {
            panic!("{m:?}")
        };
        let key = simplex_crypto::cryptobox::shared_key(&dh, &ids.srv_dh_key).unwrap();
        let nonce = simplex_crypto::SbNonce(id.clone().try_into().unwrap());
        let padded = simplex_crypto::cryptobox::open(&key, &nonce, enc).unwrap();
        let body = simplex_codec::encoding::unpad(&padded).unwrap()[10..].to_vec();
        (id.clone(), body)
    };
    {
        let mut c = common::connect(addr, &kh, true).await;
        let t = c.transmission(Some(&rk), &ids.rcv_id, &Command::Sub);
        c.send_block(&[t]).await;
        let got = c.recv_block().await;
        let (id, body) = open(&got[1].2);
        assert_eq!(body, b"one");
        let (_, body) = open(&c.call(Some(&rk), &ids.rcv_id, &Command::Ack(id)).await);
        assert_eq!(body, b"two");
    }
    terminate(child);
    // "one" was acknowledged: it never comes back; "two" (delivered, not acknowledged) does.
    let (child, addr, _) = start(&cfg, &log);
    let mut c = common::connect(addr, &kh, true).await;
    let t = c.transmission(Some(&rk), &ids.rcv_id, &Command::Sub);
    c.send_block(&[t]).await;
    let got = c.recv_block().await;
    let (id, body) = open(&got[1].2);
    assert_eq!(body, b"two");
    let (_, body) = open(&c.call(Some(&rk), &ids.rcv_id, &Command::Ack(id)).await);
    assert_eq!(body, b"three");
    terminate(child);
}

fn set_store_messages(cfg: &std::path::Path, mode: &str) {
    let ini = cfg.join("smp-server.ini");
    let text = std::fs::read_to_string(&ini).unwrap();
    let text = text
        .lines()
        .map(|l| {
            if l.starts_with("store_messages") {
                format!("store_messages = {mode}")
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(&ini, text).unwrap();
}

#[tokio::test]
async fn journaled_messages_survive_kill_9_and_move_to_the_snapshot_and_back() {
    let dir = tempfile::tempdir().unwrap();
    let (cfg, log) = (dir.path().join("cfg"), dir.path().join("log"));
    run_ok(&cfg, &log, &["init", "-l", "-a", "ED25519"]);
    set_store_messages(&cfg, "journal");
    let kh = key_hash(&cfg);
    let (rk_pub, rk) = generate(KeyAlgorithm::Ed25519).unwrap();
    let (dh_pub, dh) = generate(KeyAlgorithm::X25519).unwrap();
    let new = Command::New(NewQueue {
        rcv_auth_key: rk_pub,
        rcv_dh_key: dh_pub,
        basic_auth: None,
        subscribe: false,
        request: Some(QueueRequest::Messaging(None)),
        ntf_creds: None,
    });
    let send = |i: usize| Command::Send {
        notification: false,
        body: format!("message {i}").into_bytes(),
    };
    let open = |srv_dh: &simplex_crypto::PublicKey, m: &BrokerMsg| {
        let BrokerMsg::Msg(id, enc) = m else {
            panic!("{m:?}")
        };
        let key = simplex_crypto::cryptobox::shared_key(&dh, srv_dh).unwrap();
        let nonce = simplex_crypto::SbNonce(id.clone().try_into().unwrap());
        let padded = simplex_crypto::cryptobox::open(&key, &nonce, enc).unwrap();
        let body = simplex_codec::encoding::unpad(&padded).unwrap()[10..].to_vec();
        (id.clone(), String::from_utf8(body).unwrap())
    };
    // Receives after SUB and ACKs `n` messages; returns the body of the next one.
    async fn take(
        c: &mut common::TestClient,
        rk: &simplex_crypto::PrivateKey,
        rid: &[u8],
        n: usize,
        open: &dyn Fn(&BrokerMsg) -> (Vec<u8>, String),
    ) -> Vec<String> {
        let t = c.transmission(Some(rk), rid, &Command::Sub);
        c.send_block(&[t]).await;
        let got = c.recv_block().await;
        assert_eq!(got.len(), 2, "SOK and the first message: {got:?}");
        let mut m = got[1].2.clone();
        let mut bodies = Vec::new();
        for _ in 0..n {
            let (id, body) = open(&m);
            bodies.push(body);
            m = c.call(Some(rk), rid, &Command::Ack(id)).await;
        }
        bodies.push(open(&m).1);
        bodies
    }

    let (mut child, addr, _) = start(&cfg, &log);
    assert!(log.join("messages").is_dir());
    let mut c = common::connect(addr, &kh, true).await;
    let BrokerMsg::Ids(ids) = c.call(Some(&rk), b"", &new).await else {
        panic!()
    };
    let open = |m: &BrokerMsg| open(&ids.srv_dh_key, m);
    for i in 0..100 {
        assert_eq!(c.call(None, &ids.snd_id, &send(i)).await, BrokerMsg::Ok);
    }
    let got = take(&mut c, &rk, &ids.rcv_id, 30, &open).await;
    assert_eq!(got[29], "message 29");
    assert_eq!(got[30], "message 30");
    // Every answered SEND and ACK is on disk: kill -9 loses none and repeats none.
    child.kill().unwrap();
    child.wait().unwrap();
    drop(c);

    let (mut child, addr, _) = start(&cfg, &log);
    let mut c = common::connect(addr, &kh, true).await;
    let got = take(&mut c, &rk, &ids.rcv_id, 10, &open).await;
    assert_eq!(got.first().map(String::as_str), Some("message 30"));
    assert_eq!(got.last().map(String::as_str), Some("message 40"));
    child.kill().unwrap();
    child.wait().unwrap();
    drop(c);

    // A relay set to `memory` refuses to start beside a journal; export moves the messages.
    set_store_messages(&cfg, "memory");
    let (ok, err) = run(&cfg, &log, &["start", "--bind", "127.0.0.1:0"]);
    assert!(!ok);
    assert!(err.contains("journal export"), "{err}");
    for args in [["journal", "export", "-y"], ["journal", "delete", "-y"]] {
        run_ok(&cfg, &log, &args);
    }
    let (child, addr, _) = start(&cfg, &log);
    let mut c = common::connect(addr, &kh, true).await;
    let got = take(&mut c, &rk, &ids.rcv_id, 1, &open).await;
    assert_eq!(got, ["message 40", "message 41"]);
    terminate(child);
    drop(c);

    // ... and import moves them back.
    run_ok(&cfg, &log, &["journal", "import", "-y"]);
    set_store_messages(&cfg, "journal");
    let (mut child, addr, _) = start(&cfg, &log);
    let mut c = common::connect(addr, &kh, true).await;
    let got = take(&mut c, &rk, &ids.rcv_id, 58, &open).await;
    assert_eq!(got.first().map(String::as_str), Some("message 41"));
    assert_eq!(got.last().map(String::as_str), Some("message 99"));
    child.kill().unwrap();
    child.wait().unwrap();
}
