//! Queue rotation: mid-conversation, Alice moves her receiving queue to a second relay (QADD,
//! QKEY, KEY, QUSE, QTEST); Bob's messages then arrive through the new relay, the old queue is
//! deleted once empty, and the conversation goes on both ways - also after Bob, who keeps his
//! state in a store, restarts.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use agent::agent::{Agent, AgentEvent, IntegrityError, QueueDirection, SwitchPhase};
use smp_client::ConnectOptions;
use tokio::sync::mpsc::Receiver;

mod common;
use common::{next, relay};

/// The next message (acknowledged); switch events on the way are collected.
async fn message(
    agent: &Agent,
    events: &mut Receiver<AgentEvent>,
    switches: &mut Vec<(QueueDirection, SwitchPhase)>,
) -> (Vec<u8>, Option<IntegrityError>) {
    loop {
        match next(events).await {
            AgentEvent::Message {
                conn,
                msg_id,
                body,
                integrity,
                notified: false,
            } => {
                agent.ack(conn, msg_id).await.unwrap();
                return (body, integrity);
            }
            AgentEvent::Switch {
                direction, phase, ..
            } => switches.push((direction, phase)),
            other => panic!("unexpected {other:?}"),
        }
    }
}

async fn until_switch(
    events: &mut Receiver<AgentEvent>,
    switches: &mut Vec<(QueueDirection, SwitchPhase)>,
    want: (QueueDirection, SwitchPhase),
) {
    while !switches.contains(&want) {
        match next(events).await {
            AgentEvent::Switch {
                direction, phase, ..
            } => switches.push((direction, phase)),
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_connection_moves_to_a_second_relay_mid_conversation() {
    let dir = tempfile::tempdir().unwrap();
    let (relay1, server1) = relay().await;
    let (relay2, server2) = relay().await;
    let bob_db = dir.path().join("bob.db");
    let open = || agent::store::Store::open(&bob_db, Some("bob's key")).unwrap();
    let (alice, mut ae) = Agent::start(server1.clone(), ConnectOptions::default());
    let (bob, mut be) = Agent::open(server1.clone(), ConnectOptions::default(), open())
        .await
        .unwrap();
    let (ca, cb) = common::connect(&alice, &mut ae, &bob, &mut be).await;
    let (mut a_sw, mut b_sw) = (Vec::new(), Vec::new());
    bob.send(cb, b"before").await.unwrap();
    assert_eq!(
        message(&alice, &mut ae, &mut a_sw).await,
        (b"before".to_vec(), None)
    );
    let queues_on_1 = relay1.relay.queue_count();
    assert_eq!(relay2.relay.queue_count(), 0);

    // Alice moves her receiving queue to relay 2; Bob writes while it happens.
    alice.switch_connection(ca, server2.clone()).await.unwrap();
    assert_eq!(relay2.relay.queue_count(), 1);
    // (Enough of them that some wait in the old queue when the new one takes over: the first
    // message on the new queue is then held back until the old queue is empty.)
    for i in 0..30 {
        bob.send(cb, format!("during {i}").as_bytes())
            .await
            .unwrap();
    }
    let mut got = Vec::new();
    while got.len() < 30 {
        let (body, integrity) = message(&alice, &mut ae, &mut a_sw).await;
        assert_eq!(integrity, None, "{}", String::from_utf8_lossy(&body));
        got.push(body);
    }
    let want: Vec<Vec<u8>> = (0..30)
        .map(|i| format!("during {i}").into_bytes())
        .collect();
    assert_eq!(got, want);
    until_switch(
        &mut be,
        &mut b_sw,
        (QueueDirection::Sending, SwitchPhase::Completed),
    )
    .await;
    until_switch(
        &mut ae,
        &mut a_sw,
        (QueueDirection::Receiving, SwitchPhase::Completed),
    )
    .await;
    assert_eq!(
        a_sw,
        [
            (QueueDirection::Receiving, SwitchPhase::Started),
            (QueueDirection::Receiving, SwitchPhase::Confirmed),
            (QueueDirection::Receiving, SwitchPhase::Secured),
            (QueueDirection::Receiving, SwitchPhase::Completed),
        ]
    );
    assert!(b_sw.contains(&(QueueDirection::Sending, SwitchPhase::Started)));
    // Alice's old queue is gone from relay 1 (Bob's receiving queue stays there).
    assert_eq!(relay1.relay.queue_count(), queues_on_1 - 1);
    assert_eq!(relay2.relay.queue_count(), 1);

    // After the move, both ways - and after Bob restarts from his store.
    bob.send(cb, b"after").await.unwrap();
    assert_eq!(
        message(&alice, &mut ae, &mut a_sw).await,
        (b"after".to_vec(), None)
    );
    alice.send(ca, b"reply").await.unwrap();
    let (body, integrity) = message(&bob, &mut be, &mut b_sw).await;
    assert_eq!((body.as_slice(), integrity), (&b"reply"[..], None));
    bob.close().await;
    drop(bob);
    drop(be);
    let (bob, mut be) = Agent::open(server1.clone(), ConnectOptions::default(), open())
        .await
        .unwrap();
    bob.send(cb, b"after a restart").await.unwrap();
    assert_eq!(
        message(&alice, &mut ae, &mut a_sw).await,
        (b"after a restart".to_vec(), None)
    );
    alice.send(ca, b"still here").await.unwrap();
    assert_eq!(message(&bob, &mut be, &mut b_sw).await.0, b"still here");
    // Relay 1 can stop: Alice needs only relay 2 now, Bob's queue is on relay 1 still.
    relay2.stop();
    relay1.stop();
}
