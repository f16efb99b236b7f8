//! A hostile channel subscriber: a bare agent that joins alice's channel through its relay
//! (bob, a chat relay) and then sends what only the channel's owner may - a post, an edit and
//! a deletion as the channel itself. The relay refuses the post and the edit with a clear
//! error, the deletion of a post that is not the subscriber's changes nothing: the channel's
//! post stays as its owner wrote it. Its reactions are counted once; its announcement of a
//! "new relay" (its own address) is refused, not passed on.

mod common;

use agent::agent::{Agent, AgentEvent};
use chat_core::chat::{Event, Response};
use chat_core::protocol::{ChatEvent, ChatMessage, MsgContainer, MsgContent, MsgUpdate, B64};
use common::{agent_event, msg, owner_and_relay, profile, relay, until};
use smp_client::ConnectOptions;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_cannot_post_edit_or_delete_as_the_channel() {
    // On the heap: the scenario's future is larger than a test thread's stack in debug builds.
    Box::pin(scenario()).await
}

async fn scenario() {
    let (_relay, server) = relay().await;
    let dir = tempfile::tempdir().expect("tmp");
    let ((alice, mut a_ev), (bob, mut b_ev)) = owner_and_relay(
        dir.path(),
        &server,
        chat_core::channels::DEFAULT_MAX_CHANNELS,
    )
    .await;
    let created = alice
        .execute_line(r#"/_public group 1 1 {"displayName": "news", "fullName": ""}"#)
        .await
        .expect("/_public group");
    let Response::PublicGroupCreated(_, link, _) = created else {
        panic!("{created:?}")
    };
    until(&mut a_ev, |e| {
        matches!(e, Event::GroupRelayUpdated(_, r)
            if r.status == chat_core::channels::RelayStatus::Active)
        .then_some(())
    })
    .await;

    // mallory subscribes through the relay.
    let (mallory, mut m_ev) = Agent::start(server, ConnectOptions::default());
    let data = mallory.read_address(&link).await.expect("the link's data");
    let relay_link = data.relays.first().expect("a relay").clone();
    let conn = mallory
        .join(
            &relay_link,
            &msg(ChatEvent::Member {
                profile: profile("mallory"),
                new_member_id: B64(vec![7; 12]),
                // A client that gives no key (ours before keys): taken as before.
                new_member_key: None,
            }),
        )
        .await
        .expect("join");
    match agent_event(&mut m_ev).await {
        AgentEvent::Confirmation { conn: c, .. } if c == conn => mallory
            .allow(
                conn,
                &msg(ChatEvent::Info {
                    profile: profile("mallory"),
                }),
            )
            .await
            .expect("allow"),
        other => panic!("{other:?}"),
    }

    // alice posts as the channel; the relay forwards it to mallory without an author.
    alice
        .execute_line(
            r#"/_send #1(as_group=on) json [{"msgContent": {"type": "text", "text": "from the channel"}}]"#,
        )
        .await
        .expect("a post as the channel");
    let shared = loop {
        match agent_event(&mut m_ev).await {
            AgentEvent::Message {
                conn: c,
                msg_id,
                body,
                ..
            } if c == conn => {
                mallory.ack(c, msg_id).await.expect("ack");
                let Ok(m) = ChatMessage::decode(&body) else {
                    continue;
                };
                if let ChatEvent::GrpMsgForward {
                    member_id: None,
                    msg,
                    ..
                } = m.event
                {
                    break msg.msg_id.expect("the post's shared id");
                }
            }
            _ => {}
        }
    };

    // mallory as the channel: a post, an edit of alice's post, its deletion.
    let mut post = MsgContainer::simple(MsgContent::text("mallory as the channel"));
    post.as_group = Some(true);
    let post = ChatMessage::new(Some(B64(vec![9; 12])), ChatEvent::MsgNew(post)).encode();
    mallory.send(conn, &post).await.expect("send");
    until(&mut b_ev, |e| {
        matches!(e, Event::Error(s) if s.contains("only a channel's owner posts as the channel"))
            .then_some(())
    })
    .await;
    let mut edit = MsgUpdate::new(shared.clone(), MsgContent::text("edited by mallory"));
    edit.as_group = Some(true);
    mallory
        .send(conn, &msg(ChatEvent::MsgUpdate(edit)))
        .await
        .expect("send");
    until(&mut b_ev, |e| {
        matches!(e, Event::Error(s)
            if s.contains("only a channel's owner edits a post as the channel"))
        .then_some(())
    })
    .await;
    mallory
        .send(
            conn,
            &msg(ChatEvent::MsgDel {
                msg_id: shared.clone(),
                member_id: None,
                scope: None,
            }),
        )
        .await
        .expect("send");
    // The relay handles a connection's messages in order: once what follows is taken, the
    // deletion was handled.
    let later = ChatMessage::new(
        Some(B64(vec![8; 12])),
        ChatEvent::MsgNew({
            let mut c = MsgContainer::simple(MsgContent::text("later"));
            c.as_group = Some(true);
            c
        }),
    )
    .encode();
    mallory.send(conn, &later).await.expect("send");
    until(&mut b_ev, |e| {
        matches!(e, Event::Error(s) if s.contains("only a channel's owner posts as the channel"))
            .then_some(())
    })
    .await;

    // The channel's post at the relay: as alice wrote it, not deleted; nothing of mallory's.
    let Response::GroupItems(_, items) = bob.execute_line("/tail #news").await.expect("/tail")
    else {
        panic!("items")
    };
    let posts: Vec<_> = items
        .iter()
        .filter(|(_, i)| i.info.is_none())
        .map(|(_, i)| (i.content.text_shown(), i.deleted))
        .collect();
    assert_eq!(
        posts,
        [("from the channel".to_string(), false)],
        "{items:?}"
    );

    // Reactions: the relay forwards only those it counted - a removal of a reaction mallory
    // never made and a second 👍 would take away or add to others' counts at the subscribers,
    // who are not told who reacted; the owner is told who did.
    let react = |emoji: &str, add: bool| {
        msg(ChatEvent::MsgReact {
            msg_id: shared.clone(),
            member_id: None,
            scope: None,
            reaction: serde_json::json!({"type": "emoji", "emoji": emoji}),
            add,
        })
    };
    for (emoji, add) in [("👍", false), ("👍", true), ("👍", true), ("🚀", true)] {
        mallory.send(conn, &react(emoji, add)).await.expect("send");
    }
    let mut told = Vec::new();
    until(&mut a_ev, |e| {
        if let Event::GroupReaction {
            member,
            reaction,
            added,
            ..
        } = e
        {
            let emoji = reaction["emoji"].as_str().unwrap_or_default().to_string();
            let by = member.as_ref().map(|m| m.local_name.clone());
            told.push((emoji.clone(), *added, by));
            return (emoji == "🚀").then_some(());
        }
        None
    })
    .await;
    let mallory_name = Some("mallory".to_string());
    assert_eq!(
        told,
        [
            ("👍".to_string(), true, mallory_name.clone()),
            ("🚀".to_string(), true, mallory_name)
        ]
    );

    // mallory announces a "new relay" of its own (a subscriber following it would join
    // through mallory's address): the relay refuses it, nothing is passed on.
    let (_, fake) = mallory.create_address().await.expect("address");
    mallory
        .send(conn, &msg(ChatEvent::GrpRelayNew { relay_link: fake }))
        .await
        .expect("send");
    until(&mut b_ev, |e| {
        matches!(e, Event::Error(s) if s.contains("x.grp.relay.new from mallory, who is no owner"))
            .then_some(())
    })
    .await;
}
