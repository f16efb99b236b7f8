//! The relay over real TLS on 127.0.0.1: handshake (ALPN, legacy, wrong identity), block
//! encryption, a queue's life between two connections, batched subscriptions, bad input.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

mod common;

use common::{connect, relay, V};
use simplex_codec::encoding::unpad;
use simplex_crypto::{cryptobox, generate, KeyAlgorithm, SbNonce};
use smp_proto::command::{NewQueue, QueueRequest};
use smp_proto::{BrokerMsg, Command, ErrorType};
use transport::SignAlgorithm;

fn new_cmd(
    rk: &simplex_crypto::PublicKey,
    dh: &simplex_crypto::PublicKey,
    subscribe: bool,
) -> Command {
    Command::New(NewQueue {
        rcv_auth_key: rk.clone(),
        rcv_dh_key: dh.clone(),
        basic_auth: None,
        subscribe,
        request: Some(QueueRequest::Messaging(None)),
        ntf_creds: None,
    })
}

#[tokio::test]
async fn a_message_crosses_the_relay_on_ed448_and_ed25519() {
    for alg in [SignAlgorithm::Ed448, SignAlgorithm::Ed25519] {
        let (running, key_hash) = relay(alg).await;
        let mut r = connect(running.addr, &key_hash, true).await;
        let mut s = connect(running.addr, &key_hash, true).await;
        assert_eq!((r.version, r.server_range.max), (V, 18));
        let (rk_pub, rk) = generate(KeyAlgorithm::Ed25519).unwrap();
        let (dh_pub, dh) = generate(KeyAlgorithm::X25519).unwrap();
        let BrokerMsg::Ids(ids) = r
            .call(Some(&rk), b"", &new_cmd(&rk_pub, &dh_pub, true))
            .await
        else {
            panic!("no IDS")
        };
        assert_eq!(
            s.call(
                None,
                &ids.snd_id,
                &Command::Send {
                    notification: true,
                    body: b"hi".to_vec()
                }
            )
            .await,
            BrokerMsg::Ok
        );
        let got = r.recv_block().await;
        let (corr, entity, BrokerMsg::Msg(id, enc)) = &got[0] else {
            panic!("{got:?}")
        };
        assert!(corr.is_empty());
        assert_eq!(entity, &ids.rcv_id);
        let key = cryptobox::shared_key(&dh, &ids.srv_dh_key).unwrap();
        let padded = cryptobox::open(&key, &SbNonce(id.clone().try_into().unwrap()), enc).unwrap();
        assert_eq!(&unpad(&padded).unwrap()[8..], b"T hi");
        assert_eq!(
            r.call(Some(&rk), &ids.rcv_id, &Command::Ack(id.clone()))
                .await,
            BrokerMsg::Ok
        );
        assert_eq!(r.call(None, b"", &Command::Ping).await, BrokerMsg::Pong);
        running.stop();
    }
}

#[tokio::test]
async fn ten_thousand_subscriptions_travel_in_batches() {
    let (running, key_hash) = relay(SignAlgorithm::Ed25519).await;
    let mut c = connect(running.addr, &key_hash, true).await;
    let n = 10_000usize;
    let (rk_pub, rk) = generate(KeyAlgorithm::Ed25519).unwrap();
    let dh_pub = generate(KeyAlgorithm::X25519).unwrap().0;
    // Create the queues, 50 NEWs per block.
    let mut ids = Vec::with_capacity(n);
    for _ in 0..n / 50 {
        let ts: Vec<_> = (0..50)
            .map(|_| c.transmission(Some(&rk), b"", &new_cmd(&rk_pub, &dh_pub, false)))
            .collect();
        c.send_block(&ts).await;
        let mut got = 0;
        while got < 50 {
            for (_, _, m) in c.recv_block().await {
                let BrokerMsg::Ids(q) = m else {
                    panic!("{m:?}")
                };
                ids.push(q.rcv_id);
                got += 1;
            }
        }
    }
    assert_eq!(running.relay.queue_count(), n);
    // SUB all of them, packed as the reference packs them: at most 75 blocks.
    let subs: Vec<_> = ids
        .iter()
        .map(|id| c.transmission(Some(&rk), id, &Command::Sub))
        .collect();
    let lengths: Vec<usize> = subs.iter().map(|t| t.encode(V).unwrap().len()).collect();
    let plan = smp_proto::pack(&lengths);
    assert!(plan.len() <= 75, "{} blocks", plan.len());
    for p in plan {
        let smp_proto::Packed::Block { first, count } = p else {
            panic!()
        };
        c.send_block(&subs[first..first + count]).await;
    }
    let mut answered = 0;
    while answered < n {
        for (_, _, m) in c.recv_block().await {
            assert_eq!(m, BrokerMsg::Sok(None));
            answered += 1;
        }
    }
    running.stop();
}

#[tokio::test]
async fn legacy_clients_without_alpn_get_version_6() {
    let (running, key_hash) = relay(SignAlgorithm::Ed25519).await;
    let mut c = connect(running.addr, &key_hash, false).await;
    assert_eq!((c.server_range.min, c.server_range.max), (6, 6));
    assert_eq!(c.version, 6);
    assert_eq!(c.call(None, b"", &Command::Ping).await, BrokerMsg::Pong);
    running.stop();
}

#[tokio::test]
async fn bad_input_gets_an_error_or_a_closed_connection_and_others_keep_working() {
    let (running, key_hash) = relay(SignAlgorithm::Ed25519).await;
    // Garbage instead of TLS.
    {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut tcp = tokio::net::TcpStream::connect(running.addr).await.unwrap();
        tcp.write_all(&[0x42; 4096]).await.unwrap();
        let mut buf = [0u8; 16];
        let n = tokio::time::timeout(std::time::Duration::from_secs(10), tcp.read(&mut buf)).await;
        assert!(matches!(n, Ok(Ok(_)) | Ok(Err(_))), "closed, not hanging");
    }
    // A client whose hello pins another relay is dropped after its hello.
    let mut wrong = common::connect_pinning(running.addr, &key_hash, &[7; 32], true).await;
    assert!(wrong.closed().await);
    let mut c = connect(running.addr, &key_hash, true).await;
    // A block that does not decrypt ends the connection.
    c.send_raw(&[0u8; 16384]).await.unwrap();
    assert!(c.closed().await);
    // A transmission with a bad authorization length: ERR BLOCK; an unknown command: UNKNOWN.
    let mut c = connect(running.addr, &key_hash, true).await;
    let mut t = c.transmission(None, b"q", &Command::Sub);
    t.authorization = vec![1; 10];
    c.send_block(&[t]).await;
    let got = c.recv_block().await;
    assert_eq!(got[0].2, BrokerMsg::Err(ErrorType::Block));
    let mut t = c.transmission(None, b"", &Command::Ping);
    t.command = b"HELLO".to_vec();
    c.send_block(&[t]).await;
    assert_eq!(
        c.recv_block().await[0].2,
        BrokerMsg::Err(ErrorType::Cmd(smp_proto::CommandError::Unknown))
    );
    // Everyone else is still served.
    let mut other = connect(running.addr, &key_hash, true).await;
    assert_eq!(other.call(None, b"", &Command::Ping).await, BrokerMsg::Pong);
    running.stop();
}

#[tokio::test]
async fn queues_and_keys_survive_a_restart_with_the_store_log() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("smp-server-store.log");
    let (identity, _) = transport::Identity::generate(SignAlgorithm::Ed25519, "localhost").unwrap();
    let key_hash = identity.key_hash().unwrap();
    let start = || {
        common::start_with_log(
            "127.0.0.1:0".parse().unwrap(),
            &identity,
            smp_server::RelayConfig::default(),
            Some(&log),
        )
    };
    let running = start().await.unwrap();
    let (rk_pub, rk) = generate(KeyAlgorithm::Ed25519).unwrap();
    let (dh_pub, dh) = generate(KeyAlgorithm::X25519).unwrap();
    let (sk_pub, sk) = generate(KeyAlgorithm::Ed448).unwrap();
    let ids = {
        let mut r = connect(running.addr, &key_hash, true).await;
        let mut s = connect(running.addr, &key_hash, true).await;
        let BrokerMsg::Ids(ids) = r
            .call(Some(&rk), b"", &new_cmd(&rk_pub, &dh_pub, false))
            .await
        else {
            panic!()
        };
        assert_eq!(
            s.call(Some(&sk), &ids.snd_id, &Command::Skey(sk_pub.clone()))
                .await,
            BrokerMsg::Ok
        );
        // A second queue, deleted: it must not come back.
        let BrokerMsg::Ids(gone) = r
            .call(Some(&rk), b"", &new_cmd(&rk_pub, &dh_pub, false))
            .await
        else {
            panic!()
        };
        assert_eq!(
            r.call(Some(&rk), &gone.rcv_id, &Command::Del).await,
            BrokerMsg::Ok
        );
        ids
    };
    running.stop();
    let running = start().await.unwrap();
    assert_eq!(running.relay.queue_count(), 1);
    let mut r = connect(running.addr, &key_hash, true).await;
    let mut s = connect(running.addr, &key_hash, true).await;
    // The queue is still secured with the sender's key, and the recipient's key still works.
    assert_eq!(
        s.call(
            None,
            &ids.snd_id,
            &Command::Send {
                notification: false,
                body: b"x".to_vec()
            }
        )
        .await,
        BrokerMsg::Err(ErrorType::Auth)
    );
    assert_eq!(
        s.call(
            Some(&sk),
            &ids.snd_id,
            &Command::Send {
                notification: false,
                body: b"after".to_vec()
            }
        )
        .await,
        BrokerMsg::Ok
    );
    let t = r.transmission(Some(&rk), &ids.rcv_id, &Command::Sub);
    r.send_block(&[t]).await;
    let mut got = r.recv_block().await;
    if got.len() < 2 {
        got.extend(r.recv_block().await);
    }
    let BrokerMsg::Msg(id, enc) = &got[1].2 else {
        panic!("{got:?}")
    };
    // The relay's DH secret survived too: the message decrypts with the recipient's key.
    let key = cryptobox::shared_key(&dh, &ids.srv_dh_key).unwrap();
    let padded = cryptobox::open(&key, &SbNonce(id.clone().try_into().unwrap()), enc).unwrap();
    assert_eq!(&unpad(&padded).unwrap()[8..], b"F after");
    // The previous log is kept beside the compacted one (with a store log).
    if common::database_mode() {
        running.stop();
        return;
    }
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        names
            .iter()
            .filter(|n| n.starts_with("smp-server-store.log."))
            .count()
            >= 1,
        "{names:?}"
    );
    running.stop();
}

#[tokio::test]
async fn a_second_relay_on_the_same_state_folder_is_refused_before_touching_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("smp-server-store.log");
    let (identity, _) = transport::Identity::generate(SignAlgorithm::Ed25519, "localhost").unwrap();
    let start = || {
        smp_server::start_with_log(
            "127.0.0.1:0".parse().unwrap(),
            &identity,
            smp_server::RelayConfig::default(),
            Some(&log),
        )
    };
    let first = start().await.unwrap();
    let before: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    let inode = std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&log).unwrap());
    // Another port, the same folder: refused, and the live log is not compacted or renamed.
    let e = start().await.unwrap_err();
    assert!(matches!(e, smp_server::StartError::Locked(_)), "{e}");
    let after: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(before, after);
    assert_eq!(
        inode,
        std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&log).unwrap())
    );
    first.stop();
    // Once the first has stopped, the folder is free again: its aborted tasks release the
    // lock as they are dropped, which may take a moment (bounded here).
    let mut tries = 0;
    loop {
        match start().await {
            Ok(r) => break r.stop(),
            Err(smp_server::StartError::Locked(_)) if tries < 100 => {
                tries += 1;
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            Err(e) => panic!("the folder is not free after the first relay stopped: {e}"),
        }
    }
}

async fn relay_with(opts: smp_server::StartOptions) -> (smp_server::Running, [u8; 32]) {
    let (identity, _) =
        transport::Identity::generate(transport::SignAlgorithm::Ed25519, "localhost").unwrap();
    let kh = identity.key_hash().unwrap();
    let r = common::start_on(
        &["127.0.0.1:0".parse().unwrap()],
        &identity,
        smp_server::RelayConfig::default(),
        &opts,
    )
    .await
    .unwrap();
    (r, kh)
}

#[tokio::test]
async fn inactive_connections_without_subscriptions_are_closed_and_subscribed_ones_kept() {
    use smp_client::{ConnectOptions, SmpClient};
    let ttl = std::time::Duration::from_millis(300);
    let (relay, kh) = relay_with(smp_server::StartOptions {
        inactive_ttl: Some(ttl),
        ..Default::default()
    })
    .await;
    let (idle, _) = SmpClient::connect(relay.addr, &kh, ConnectOptions::default())
        .await
        .unwrap();
    let (subscribed, _) = SmpClient::connect(relay.addr, &kh, ConnectOptions::default())
        .await
        .unwrap();
    let (rk_pub, rk) = simplex_crypto::generate(simplex_crypto::KeyAlgorithm::Ed25519).unwrap();
    let dh = simplex_crypto::generate(simplex_crypto::KeyAlgorithm::X25519)
        .unwrap()
        .0;
    let new = smp_proto::Command::New(smp_proto::command::NewQueue {
        rcv_auth_key: rk_pub,
        rcv_dh_key: dh,
        basic_auth: None,
        subscribe: true,
        request: Some(smp_proto::command::QueueRequest::Messaging(None)),
        ntf_creds: None,
    });
    assert!(matches!(
        subscribed.call(Some(&rk), b"", &new).await.unwrap(),
        smp_proto::BrokerMsg::Ids(_)
    ));
    tokio::time::timeout(std::time::Duration::from_secs(10), idle.closed())
        .await
        .expect("the idle connection without subscriptions was closed");
    // Several inactivity periods later the subscribed one is still served.
    tokio::time::sleep(ttl * 3).await;
    assert_eq!(
        subscribed
            .call(None, b"", &smp_proto::Command::Ping)
            .await
            .unwrap(),
        smp_proto::BrokerMsg::Pong
    );
    relay.stop();
}

#[tokio::test]
async fn connections_beyond_the_limit_are_closed_at_accept() {
    use smp_client::{ConnectOptions, SmpClient};
    let (relay, kh) = relay_with(smp_server::StartOptions {
        max_connections: Some(2),
        ..Default::default()
    })
    .await;
    let opts = || ConnectOptions {
        connect_timeout: std::time::Duration::from_secs(5),
        ..ConnectOptions::default()
    };
    let (a, _) = SmpClient::connect(relay.addr, &kh, opts()).await.unwrap();
    let (b, _) = SmpClient::connect(relay.addr, &kh, opts()).await.unwrap();
    assert!(SmpClient::connect(relay.addr, &kh, opts()).await.is_err());
    assert_eq!(
        b.call(None, b"", &smp_proto::Command::Ping).await.unwrap(),
        smp_proto::BrokerMsg::Pong
    );
    // A closed connection frees its place.
    drop(a);
    let mut third = None;
    for _ in 0..100 {
        if let Ok(c) = SmpClient::connect(relay.addr, &kh, opts()).await {
            third = Some(c);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(third.is_some(), "the freed place was not reused");
    relay.stop();
}
