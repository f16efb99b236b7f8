//! The SEND notification flag, which makes a relay wake the recipient's phone through its
//! notification server: a user's message carries it when the sender asks for it
//! (`send_with`, as the reference's chat does for new messages, invitations and calls), not
//! otherwise; the recipient sees the flag as its sender set it. (A pending message keeps its
//! flag across a restart: the store's unit test
//! `a_version_3_database_is_migrated_keeping_its_messages` round-trips it.)

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use agent::agent::{Agent, AgentEvent};
use smp_client::ConnectOptions;

mod common;

use common::{connect, next, relay};

async fn notified(events: &mut tokio::sync::mpsc::Receiver<AgentEvent>) -> (Vec<u8>, bool) {
    match next(events).await {
        AgentEvent::Message { body, notified, .. } => (body, notified),
        other => panic!("a message, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_notification_flag_goes_as_the_sender_sets_it() {
    let (relay, server) = relay().await;
    let dir = tempfile::tempdir().unwrap();
    let store = |name: &str| {
        agent::store::Store::open(&dir.path().join(format!("{name}.db")), None).unwrap()
    };
    let (alice, mut ae) = Agent::open(server.clone(), ConnectOptions::default(), store("alice"))
        .await
        .unwrap();
    let (bob, mut be) = Agent::open(server.clone(), ConnectOptions::default(), store("bob"))
        .await
        .unwrap();
    let (ca, cb) = connect(&alice, &mut ae, &bob, &mut be).await;

    let wake = alice.send_with(ca, b"wake", true).await.unwrap();
    let quiet = alice.send(ca, b"quiet").await.unwrap();
    assert_eq!(notified(&mut be).await, (b"wake".to_vec(), true));
    bob.ack(cb, wake).await.unwrap();
    assert_eq!(notified(&mut be).await, (b"quiet".to_vec(), false));
    bob.ack(cb, quiet).await.unwrap();

    alice.close().await;
    bob.close().await;
    relay.stop();
}
