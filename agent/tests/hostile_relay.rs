//! A hostile relay (our relay with the test-only `hostile` feature): it delivers a queue's
//! messages out of order and replays one. The recipient reports each case as the reference
//! does - a typed integrity error with the message still handed out, a replay dropped with an
//! error event - and the connection keeps working afterwards.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use std::time::Duration;

use agent::agent::{Agent, AgentEvent, IntegrityError};
use smp_client::ConnectOptions;

mod common;
use common::next;

#[tokio::test(flavor = "multi_thread")]
async fn reordered_and_replayed_messages_are_reported_and_the_connection_goes_on() {
    // The replay is reported as a duplicate (the reference's A_DUPLICATE), not an error.
    let dir = tempfile::tempdir().unwrap();
    let (relay, server) = common::relay().await;
    let db = dir.path().join("bob.db");
    let open = || agent::store::Store::open(&db, Some("bob's key")).unwrap();
    let (alice, mut ae) = Agent::start(server.clone(), ConnectOptions::default());
    let (bob, mut be) = Agent::open(server.clone(), ConnectOptions::default(), open())
        .await
        .unwrap();
    let (ca, cb) = common::connect(&alice, &mut ae, &bob, &mut be).await;

    // One message through, acknowledged: Bob's queue is empty before he goes away.
    alice.send(ca, b"hi").await.unwrap();
    assert!(matches!(
        next(&mut be).await,
        AgentEvent::Message { msg_id: 2, .. }
    ));
    bob.ack(cb, 2).await.unwrap();

    // Bob is away; Alice's three messages wait at the relay.
    bob.close().await;
    drop(bob);
    drop(be);
    for body in ["one", "two", "three"] {
        alice.send(ca, body.as_bytes()).await.unwrap();
    }
    let mut sent = 0;
    while sent < 3 {
        let e = tokio::time::timeout(Duration::from_secs(20), ae.recv()).await;
        if let Ok(Some(AgentEvent::Sent { msg_id: 3..=5, .. })) = e {
            sent += 1;
        }
    }
    // The relay turns hostile: the first two change places, the (new) first comes again last.
    assert_eq!(relay.relay.counts(), (2, 3), "two queues, three messages");
    assert_eq!(relay.relay.hostile_reorder(), 1);
    assert_eq!(relay.relay.hostile_replay(), 1);

    let (bob, mut be) = Agent::open(server.clone(), ConnectOptions::default(), open())
        .await
        .unwrap();
    let mut got = Vec::new();
    while got.len() < 4 {
        match next(&mut be).await {
            AgentEvent::Message {
                msg_id,
                body,
                integrity,
                ..
            } => {
                bob.ack(cb, msg_id).await.unwrap();
                got.push(format!(
                    "{msg_id} {} {integrity:?}",
                    String::from_utf8_lossy(&body)
                ));
            }
            AgentEvent::Error { error, .. } => got.push(format!("error: {error}")),
            AgentEvent::Duplicate { conn } => got.push(format!("duplicate on {}", conn == cb)),
            other => panic!("unexpected {other:?} after {got:?}"),
        }
    }
    let skipped = |from, to| Some(IntegrityError::Skipped { from, to });
    assert_eq!(
        got,
        [
            format!("4 two {:?}", skipped(3, 3)),
            format!("3 one {:?}", Some(IntegrityError::BadId(3))),
            format!("5 three {:?}", skipped(4, 4)),
            "duplicate on true".to_string(),
        ]
    );

    // The connection goes on, both ways, intact.
    alice.send(ca, b"four").await.unwrap();
    assert_eq!(
        next(&mut be).await,
        AgentEvent::Message {
            conn: cb,
            msg_id: 6,
            body: b"four".to_vec(),
            integrity: None,
            notified: false,
        }
    );
    bob.ack(cb, 6).await.unwrap();
    bob.send(cb, b"fine").await.unwrap();
    loop {
        if let AgentEvent::Message {
            body, integrity, ..
        } = next(&mut ae).await
        {
            assert_eq!((body.as_slice(), integrity), (&b"fine"[..], None));
            break;
        }
    }
    relay.stop();
}
