//! A prepared group whose host rejects the request (`x.grp.link.reject`, as the reference's
//! hosts do for a name they refuse): the error names the group and the reason, and the
//! prepared group stays, to be joined again - not stuck as started.

mod common;

use agent::agent::{Agent, AgentEvent};
use chat_core::chat::{Event, Response};
use chat_core::protocol::{ChatEvent, ChatMessage};
use common::{agent_event, open, relay, until};
use smp_client::ConnectOptions;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_prepared_group_can_be_joined_again() {
    // On the heap: the scenario's future is larger than a test thread's stack in debug builds.
    Box::pin(scenario()).await
}

async fn scenario() {
    let (relay, server) = relay().await;
    let dir = tempfile::tempdir().expect("tmp");
    let (alice, mut a_ev) = open(dir.path(), "alice", &server).await;
    // The host: a bare agent with an address, rejecting every request.
    let (host, mut h_ev) = Agent::start(server, ConnectOptions::default());
    let (_, link) = host.create_address().await.expect("address");
    let data = r#"{"groupProfile":{"displayName":"team","fullName":""}}"#;
    let Response::PreparedGroup(g, _) = alice
        .execute_line(&format!("/_prepare group 1 {link} {data}"))
        .await
        .expect("prepare")
    else {
        panic!("a prepared group")
    };
    let connect = format!("/_connect group #{}", g.group_id);
    let started = alice.execute_line(&connect).await.expect("connect");
    assert!(
        matches!(started, Response::StartedConnectionToGroup(..)),
        "{started:?}"
    );
    let request = match agent_event(&mut h_ev).await {
        AgentEvent::Request { request, .. } => request,
        other => panic!("{other:?}"),
    };
    let reject = ChatMessage::new(
        None,
        ChatEvent::GrpLinkReject {
            group_link_rejection: serde_json::json!({
                "fromMember": {"memberId": "AQID", "memberRole": "owner"},
                "invitedMember": {"memberId": "BAUG", "memberRole": "observer"},
                "groupProfile": {"displayName": "team", "fullName": ""},
                "rejectionReason": {"type": "longName"}
            }),
        },
    )
    .encode();
    host.accept(request, &reject).await.expect("reject");
    let (error, _) = until(&mut a_ev, |e| match e {
        Event::Error(t) if t.contains("rejected") => Some(t.clone()),
        _ => None,
    })
    .await;
    assert!(
        error.contains("#team: the group's admins rejected the request to join (longName)"),
        "{error}"
    );
    // Not stuck: joined again, a new request.
    let again = alice.execute_line(&connect).await.expect("connect again");
    assert!(
        matches!(again, Response::StartedConnectionToGroup(..)),
        "{again:?}"
    );
    assert!(matches!(
        agent_event(&mut h_ev).await,
        AgentEvent::Request { .. }
    ));
    relay.stop();
}
