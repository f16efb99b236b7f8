//! The relay stops mid-conversation (its tasks aborted, as in a crash) and starts again on the
//! same address from its store log and message journal: both agents see their connections go
//! down and come back up, re-subscribe by themselves, and nothing is lost - messages sent while
//! the relay was away go out when it is back, in order, intact.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use std::net::SocketAddr;
use std::time::Duration;

use agent::agent::{Agent, AgentEvent, IntegrityError};
use smp_client::ConnectOptions;
use tokio::sync::mpsc::Receiver;

mod common;

async fn next(events: &mut Receiver<AgentEvent>) -> AgentEvent {
    loop {
        let e = tokio::time::timeout(Duration::from_secs(30), events.recv())
            .await
            .expect("an agent event in time")
            .expect("events open");
        match e {
            // Retries while the relay is away are reported; they are expected here.
            AgentEvent::Sent { .. } | AgentEvent::Error { .. } => {}
            e => return e,
        }
    }
}

/// The next message; an `Up` on the way is counted in `ups`.
async fn message_counting(
    events: &mut Receiver<AgentEvent>,
    ups: &mut usize,
) -> (i64, Vec<u8>, Option<IntegrityError>) {
    loop {
        match next(events).await {
            AgentEvent::Message {
                msg_id,
                body,
                integrity,
                ..
            } => return (msg_id, body, integrity),
            AgentEvent::Up { conns, .. } => {
                assert_eq!(conns.len(), 1);
                *ups += 1;
            }
            // A message the relay handed out again after its restart (its ACK was lost with
            // the restart): dropped by the agent, not handed out twice.
            AgentEvent::Duplicate { .. } => {}
            other => panic!("unexpected {other:?}"),
        }
    }
}

async fn message(events: &mut Receiver<AgentEvent>) -> (i64, Vec<u8>, Option<IntegrityError>) {
    let mut ups = 0;
    let m = message_counting(events, &mut ups).await;
    assert_eq!(ups, 0, "an Up event without a Down");
    m
}

#[tokio::test(flavor = "multi_thread")]
async fn a_relay_restarted_mid_conversation_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (identity, _) =
        transport::Identity::generate(transport::SignAlgorithm::Ed25519, "localhost").unwrap();
    let opts = smp_server::StartOptions {
        store_log: Some(dir.path().join("smp-server-store.log")),
        journal: Some(dir.path().join("messages")),
        ..Default::default()
    };
    let start = |addr: SocketAddr| {
        let (identity, opts) = (&identity, &opts);
        async move {
            let config = smp_server::RelayConfig::default();
            smp_server::start_on(&[addr], identity, config, opts).await
        }
    };
    let relay = start("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let addr = relay.addr;
    let server: smp_proto::address::SmpServer = format!(
        "smp://{}@127.0.0.1:{}",
        simplex_codec::base64url::encode(&identity.key_hash().unwrap()),
        addr.port()
    )
    .parse()
    .unwrap();
    let db = dir.path().join("bob.db");
    let store = agent::store::Store::open(&db, Some("bob's key")).unwrap();
    let (alice, mut ae) = Agent::start(server.clone(), ConnectOptions::default());
    let (bob, mut be) = Agent::open(server.clone(), ConnectOptions::default(), store)
        .await
        .unwrap();
    let (ca, cb) = common::connect(&alice, &mut ae, &bob, &mut be).await;

    // A conversation, with one message to Bob left unacknowledged at the relay.
    for i in 2..7i64 {
        alice.send(ca, format!("a{i}").as_bytes()).await.unwrap();
        assert_eq!(
            message(&mut be).await,
            (i, format!("a{i}").into_bytes(), None)
        );
        bob.ack(cb, i).await.unwrap();
        bob.send(cb, format!("b{i}").as_bytes()).await.unwrap();
        assert_eq!(
            message(&mut ae).await,
            (i, format!("b{i}").into_bytes(), None)
        );
        alice.ack(ca, i).await.unwrap();
    }
    alice.send(ca, b"a7").await.unwrap();
    assert_eq!(message(&mut be).await, (7, b"a7".to_vec(), None));

    // The relay goes away: both sides are told.
    relay.stop();
    for events in [&mut ae, &mut be] {
        match next(events).await {
            AgentEvent::Down { conns, .. } => assert_eq!(conns.len(), 1),
            other => panic!("unexpected {other:?}"),
        }
    }
    // Meanwhile both send; the sends are committed and wait for the relay.
    for i in 8..12i64 {
        assert_eq!(alice.send(ca, format!("a{i}").as_bytes()).await.unwrap(), i);
    }
    assert_eq!(bob.send(cb, b"b7").await.unwrap(), 7);

    // Back on the same address, from its store log and journal.
    let relay = {
        let mut tries = 0;
        loop {
            // The aborted tasks release the port and the folder lock as they are dropped.
            match start(addr).await {
                Ok(r) => break r,
                Err(e) => {
                    tries += 1;
                    assert!(tries < 100, "the relay did not start again: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    };
    // Bob's unacknowledged message comes again (same id: he de-duplicates), then the rest.
    bob.ack(cb, 7).await.ok();
    let (mut alice_up, mut bob_up) = (0, 0);
    let mut got = Vec::new();
    while got.last().map(|(id, _, _)| *id) != Some(11) {
        let (id, body, integrity) = message_counting(&mut be, &mut bob_up).await;
        assert_eq!(integrity, None, "message {id}");
        assert_eq!(body, format!("a{id}").into_bytes());
        bob.ack(cb, id).await.ok();
        if got.last().map(|(last, _, _)| *last) != Some(id) {
            got.push((id, body, integrity));
        }
    }
    let ids: Vec<i64> = got.iter().map(|(id, _, _)| *id).collect();
    assert!(
        ids == [8, 9, 10, 11] || ids == [7, 8, 9, 10, 11],
        "Bob got {ids:?}"
    );
    assert_eq!(
        message_counting(&mut ae, &mut alice_up).await,
        (7, b"b7".to_vec(), None)
    );
    alice.ack(ca, 7).await.unwrap();
    // Each side was told once that its connection is up again (perhaps after the messages).
    for (events, ups) in [(&mut ae, &mut alice_up), (&mut be, &mut bob_up)] {
        while *ups == 0 {
            match next(events).await {
                AgentEvent::Up { .. } => *ups += 1,
                other => panic!("unexpected {other:?}"),
            }
        }
    }
    assert_eq!((alice_up, bob_up), (1, 1));
    relay.stop();
}
