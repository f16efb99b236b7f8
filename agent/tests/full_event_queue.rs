//! The application acknowledges a message while its own event queue is full - a burst of
//! delivery reports it has not read yet. The relay answers the ACK with the next message; the
//! acknowledgement must return at once (the next message waits in the queue), not wait for
//! the application to read events it cannot read while it is waiting: that was a deadlock
//! a group host hit with 50 members.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use agent::agent::{Agent, AgentEvent};
use common::next;
use smp_client::ConnectOptions;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledging_with_a_full_event_queue_returns() {
    let (relay, server) = common::relay().await;
    let (alice, mut ae) = Agent::start(server.clone(), ConnectOptions::default());
    let (bob, mut be) = Agent::start(server, ConnectOptions::default());
    let (ca, cb) = common::connect(&alice, &mut ae, &bob, &mut be).await;

    // bob sends two messages; alice takes the first and does not acknowledge it yet.
    bob.send(cb, b"one").await.expect("send");
    bob.send(cb, b"two").await.expect("send");
    let first = loop {
        if let AgentEvent::Message {
            conn, msg_id, body, ..
        } = next(&mut ae).await
        {
            assert_eq!(conn, ca);
            assert_eq!(body, b"one");
            break msg_id;
        }
    };

    // bob reads everything alice sends (so the relay keeps taking it).
    let got = Arc::new(AtomicUsize::new(0));
    let reader = {
        let (bob, got) = (bob.clone(), got.clone());
        tokio::spawn(async move {
            while let Some(e) = be.recv().await {
                if let AgentEvent::Message { conn, msg_id, .. } = e {
                    let _ = bob.ack(conn, msg_id).await;
                    got.fetch_add(1, Ordering::Relaxed);
                }
            }
        })
    };
    // alice sends more than her event queue holds, reading none of her events: the delivery
    // reports (and any QUOTA notices while bob catches up) fill it.
    const SENT: usize = 1_100;
    for i in 0..SENT {
        alice
            .send(ca, format!("{i}").as_bytes())
            .await
            .expect("send");
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    while ae.capacity() > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "alice's queue has room for {} (bob got {} of {SENT})",
            ae.capacity(),
            got.load(Ordering::Relaxed)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // The queue is full now; the acknowledgement returns all the same.
    tokio::time::timeout(Duration::from_secs(10), alice.ack(ca, first))
        .await
        .expect("the ACK returns while the event queue is full")
        .expect("ack");
    // Reading the queue, alice finds the second message after the reports.
    let second = loop {
        match tokio::time::timeout(Duration::from_secs(20), ae.recv())
            .await
            .expect("events in time")
            .expect("events open")
        {
            AgentEvent::Message { body, .. } => break body,
            _ => continue,
        }
    };
    assert_eq!(second, b"two");
    reader.abort();
    relay.stop();
}
