//! A request through a group link that the group's admins reject (`x.grp.link.reject`, as the
//! reference's hosts do for a name they refuse): as the reference's, the group is kept with
//! our membership `rejected` - a prepared group becomes it, a link joined with `/c` makes
//! one - `groupLinkConnecting` tells a bot, the reason is shown, and nothing more can be done
//! in it but deleting it; once deleted, the link can be joined again.

mod common;

use agent::agent::{Agent, AgentEvent};
use chat_core::chat::{Chat, Event, Response};
use chat_core::group_store::{Group, MemberStatus};
use chat_core::protocol::{ChatEvent, ChatMessage};
use common::{agent_event, open, relay, until};
use smp_client::ConnectOptions;
use tokio::sync::mpsc::Receiver;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_request_keeps_the_group_rejected() {
    // On the heap: the scenario's future is larger than a test thread's stack in debug builds.
    Box::pin(scenario()).await
}

/// The host's refusal of the request it was sent, for a name too long.
fn rejection() -> Vec<u8> {
    ChatMessage::new(
        None,
        ChatEvent::GrpLinkReject {
            group_link_rejection: serde_json::json!({
                "fromMember": {"memberId": "AQIDBAUGBwg=", "memberRole": "owner"},
                "invitedMember": {"memberId": "CQoLDA0ODxA=", "memberRole": "observer"},
                "groupProfile": {"displayName": "team", "fullName": "The team"},
                "rejectionReason": {"type": "longName"}
            }),
        },
    )
    .encode()
}

/// The events of a rejection: the group as `groupLinkConnecting` gives it, then the reason.
async fn rejected(alice: &Chat, a_ev: &mut Receiver<Event>) -> Group {
    let (g, _) = until(a_ev, |e| match e {
        Event::GroupLinkJoining(g, None) => Some(g.clone()),
        Event::Error(t) => panic!("an error instead of the rejection: {t}"),
        _ => None,
    })
    .await;
    assert_eq!(g.status, MemberStatus::Rejected);
    let api = chat_core::api::event(alice, &Event::GroupLinkJoining(g.clone(), None))
        .expect("an API event");
    assert_eq!(api["type"], "groupLinkConnecting", "{api}");
    assert_eq!(
        api["groupInfo"]["membership"]["memberStatus"], "rejected",
        "{api}"
    );
    assert_eq!(api["groupInfo"]["membership"]["memberRole"], "observer");
    assert_eq!(api["hostMember"]["memberRole"], "owner", "{api}");
    let (reason, _) = until(a_ev, |e| match e {
        Event::GroupLinkRejected { group, reason } => {
            assert_eq!(group.group_id, g.group_id);
            Some(reason.clone())
        }
        _ => None,
    })
    .await;
    assert_eq!(reason, "longName");
    g
}

async fn scenario() {
    let (relay, server) = relay().await;
    let dir = tempfile::tempdir().expect("tmp");
    let (alice, mut a_ev) = open(dir.path(), "alice", &server).await;
    // The host: a bare agent with an address, rejecting every request.
    let (host, mut h_ev) = Agent::start(server.clone(), ConnectOptions::default());
    let (_, link) = host.create_address().await.expect("address");

    // A prepared group becomes the rejected group.
    let data = r#"{"groupProfile":{"displayName":"team","fullName":""}}"#;
    let Response::PreparedGroup(prepared, _) = alice
        .execute_line(&format!("/_prepare group 1 {link} {data}"))
        .await
        .expect("prepare")
    else {
        panic!("a prepared group")
    };
    let connect = format!("/_connect group #{}", prepared.group_id);
    let started = alice.execute_line(&connect).await.expect("connect");
    assert!(
        matches!(started, Response::StartedConnectionToGroup(..)),
        "{started:?}"
    );
    let request = match agent_event(&mut h_ev).await {
        AgentEvent::Request { request, .. } => request,
        other => panic!("{other:?}"),
    };
    host.accept(request, &rejection()).await.expect("reject");
    let g = rejected(&alice, &mut a_ev).await;
    assert_eq!(g.group_id, prepared.group_id, "the prepared group itself");
    assert_eq!(g.profile.full_name, "The team", "the host's profile of it");
    // The host, known by a name from its member id.
    let Response::Members(_, members) = alice.execute_line("/ms team").await.expect("members")
    else {
        panic!("the members")
    };
    let host_member = members
        .iter()
        .find(|m| m.role == chat_core::protocol::GroupMemberRole::Owner)
        .expect("the host");
    assert_eq!(host_member.profile.display_name, "AQIDBAU");
    assert_eq!(host_member.conn_id, None);
    // Nothing more can be done in it: not joined again, nothing sent.
    let again = alice.execute_line(&connect).await;
    let e = again.expect_err("joined again").to_string();
    assert!(e.contains("rejected") && e.contains("/d #team"), "{e}");
    let sent = alice.execute_line("#team hello").await;
    assert!(
        sent.as_ref()
            .is_err_and(|e| e.to_string().contains("not current member")),
        "{sent:?}"
    );
    // Listed as rejected, after a restart too.
    alice.close().await;
    drop(a_ev);
    let (alice, mut a_ev) = open(dir.path(), "alice", &server).await;
    let Response::Groups(groups) = alice.execute_line("/gs").await.expect("groups") else {
        panic!("the groups")
    };
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0].0.status, MemberStatus::Rejected);
    assert_eq!(groups[0].1, 1, "only the host counts: we are not in it");

    // Deleted, the link is joined again (`/c`): a group made rejected.
    let deleted = alice.execute_line("/d #team").await.expect("delete");
    assert!(matches!(deleted, Response::GroupDeleted(..)), "{deleted:?}");
    let sent = alice
        .execute_line(&format!("/c {link}"))
        .await
        .expect("connect");
    assert!(matches!(sent, Response::RequestSent(..)), "{sent:?}");
    let request = match agent_event(&mut h_ev).await {
        AgentEvent::Request { request, .. } => request,
        other => panic!("{other:?}"),
    };
    host.accept(request, &rejection()).await.expect("reject");
    let g = rejected(&alice, &mut a_ev).await;
    assert_eq!(g.local_name, "team");
    assert_eq!(g.status, MemberStatus::Rejected);
    relay.stop();
}
