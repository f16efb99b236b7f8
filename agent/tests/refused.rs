//! A user's message the relay refuses with AUTH once the connection is established - the
//! peer deleted it, its queue is gone: dropped and reported (`Refused`, the reference's `MERR`
//! with `SMP AUTH`), not retried for ever, and the messages after it tried in turn.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use agent::agent::{Agent, AgentEvent};
use smp_client::ConnectOptions;

mod common;
use common::{connect, next, relay};

#[tokio::test(flavor = "multi_thread")]
async fn messages_to_a_deleted_queue_are_refused_one_by_one() {
    let (relay, server) = relay().await;
    let (alice, mut ae) = Agent::start(server.clone(), ConnectOptions::default());
    let (bob, mut be) = Agent::start(server.clone(), ConnectOptions::default());
    let (ca, cb) = connect(&alice, &mut ae, &bob, &mut be).await;
    alice.send(ca, b"before").await.unwrap();
    assert!(
        matches!(next(&mut be).await, AgentEvent::Message { ref body, .. } if body == b"before")
    );

    // Bob deletes the connection: his queue goes from the relay.
    bob.delete_connection(cb).await.unwrap();
    let first = alice.send(ca, b"one").await.unwrap();
    let second = alice.send(ca, b"two").await.unwrap();
    for id in [first, second] {
        loop {
            match next(&mut ae).await {
                AgentEvent::Refused { conn, msg_id } => {
                    assert_eq!((conn, msg_id), (ca, id));
                    break;
                }
                // A refusal is not an error to retry.
                AgentEvent::Error { error, .. } => panic!("{error}"),
                _ => {}
            }
        }
    }
    relay.stop();
}
