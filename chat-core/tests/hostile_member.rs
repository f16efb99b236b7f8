//! A hostile group member: a bare agent that joins alice's group as an ordinary member and then
//! sends what only admins, owners or hosts may - an introduction of an owner, a message
//! "forwarded" from bob, bob's removal, bob blocked for all, the group's deletion, a role change,
//! a new group profile, a file while the owner prohibits files - and malformed group events.
//! alice refuses each with a clear error and changes nothing; bob stays an admin; the group
//! keeps working. Removed, mallory can no longer reach the group.

mod common;

use agent::agent::{Agent, AgentEvent, ConnId};
use chat_core::chat::{Event, Response};
use chat_core::group_store::MemberStatus;
use chat_core::protocol::{
    ChatEvent, ChatMessage, ChatVersions, GroupMemberRole, MemberInfo, MsgContainer, MsgContent,
    B64, CHAT_VERSIONS,
};
use common::{agent_event, msg, open, profile, relay, until};
use smp_client::ConnectOptions;

fn text(id: &[u8], t: &str) -> ChatMessage {
    ChatMessage::new(
        Some(B64(id.to_vec())),
        ChatEvent::MsgNew(MsgContainer::simple(MsgContent::text(t))),
    )
}

/// A batch (`=`) of one binary forward element (`>`): sender `M` (member id, name), the
/// time in seconds, then the message's JSON - the reference's encoding.
fn binary_forward(member_id: &[u8], name: &str, inner: &ChatMessage) -> Vec<u8> {
    let mut element = vec![b'>', b'M', member_id.len() as u8];
    element.extend_from_slice(member_id);
    element.push(name.len() as u8);
    element.extend_from_slice(name.as_bytes());
    element.extend_from_slice(&1_700_000_000i64.to_be_bytes());
    element.extend_from_slice(&inner.encode());
    let mut body = vec![b'=', 1];
    body.extend_from_slice(&(element.len() as u16).to_be_bytes());
    body.extend_from_slice(&element);
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_beyond_its_role_changes_nothing() {
    // On the heap: the scenario's future is larger than a test thread's stack in debug builds.
    Box::pin(scenario()).await
}

async fn scenario() {
    let (relay, server) = relay().await;
    let dir = tempfile::tempdir().expect("tmp");
    let (alice, mut a_ev) = open(dir.path(), "alice", &server).await;
    let (bob, mut b_ev) = open(dir.path(), "bob", &server).await;
    let (mallory, mut m_ev) = Agent::start(server, ConnectOptions::default());

    // bob and mallory are alice's contacts.
    let Response::Invitation { link, .. } = alice.execute_line("/c").await.expect("/c") else {
        panic!("an invitation")
    };
    bob.execute_line(&format!("/c {link}")).await.expect("join");
    until(&mut a_ev, |e| {
        matches!(e, Event::ContactConnected(_)).then_some(())
    })
    .await;
    until(&mut b_ev, |e| {
        matches!(e, Event::ContactConnected(_)).then_some(())
    })
    .await;
    let Response::Invitation { link, .. } = alice.execute_line("/c").await.expect("/c") else {
        panic!("an invitation")
    };
    let contact_conn: ConnId = mallory
        .join(
            &link,
            &msg(ChatEvent::Info {
                profile: profile("mallory"),
            }),
        )
        .await
        .expect("join");
    assert!(matches!(
        agent_event(&mut m_ev).await,
        AgentEvent::Info { .. }
    ));
    assert!(matches!(
        agent_event(&mut m_ev).await,
        AgentEvent::Connected { .. }
    ));
    until(&mut a_ev, |e| {
        matches!(e, Event::ContactConnected(c) if c.local_name == "mallory").then_some(())
    })
    .await;

    // The group: bob an admin, mallory a member.
    alice.execute_line("/g team").await.expect("/g");
    alice
        .execute_line("/a team bob admin")
        .await
        .expect("/a bob");
    until(&mut b_ev, |e| {
        matches!(e, Event::GroupInvited { .. }).then_some(())
    })
    .await;
    bob.execute_line("/j team").await.expect("/j");
    until(&mut a_ev, |e| {
        matches!(e, Event::MemberJoined(..)).then_some(())
    })
    .await;
    until(&mut b_ev, |e| {
        matches!(e, Event::UserJoinedGroup(..)).then_some(())
    })
    .await;
    alice
        .execute_line("/a team mallory")
        .await
        .expect("/a mallory");
    let inv = match agent_event(&mut m_ev).await {
        AgentEvent::Message {
            conn,
            msg_id,
            body,
            notified,
            ..
        } if conn == contact_conn => {
            // An invitation wakes the invitee's app (the SEND's notification flag), as the
            // reference's.
            assert!(notified, "x.grp.inv notifies");
            mallory.ack(conn, msg_id).await.expect("ack");
            match ChatMessage::decode(&body).expect("chat message").event {
                ChatEvent::GrpInv(inv) => inv,
                other => panic!("{other:?}"),
            }
        }
        other => panic!("{other:?}"),
    };
    assert_eq!(inv.invited_member.member_role, GroupMemberRole::Member);
    let mallory_id = inv.invited_member.member_id.clone();
    let alice_id = inv.from_member.member_id.clone();
    let conn = mallory
        .join(
            &inv.conn_request,
            &msg(ChatEvent::GrpAcpt {
                member_id: mallory_id.clone(),
            }),
        )
        .await
        .expect("join the group");
    assert!(matches!(
        agent_event(&mut m_ev).await,
        AgentEvent::Info { .. }
    ));
    assert!(matches!(
        agent_event(&mut m_ev).await,
        AgentEvent::Connected { .. }
    ));
    until(&mut a_ev, |e| {
        matches!(e, Event::MemberJoined(_, m) if m.local_name == "mallory").then_some(())
    })
    .await;
    // bob learns of mallory from alice; his member id is in the introduction to mallory.
    until(&mut b_ev, |e| {
        matches!(e, Event::MemberAnnounced { .. }).then_some(())
    })
    .await;
    let bob_id = loop {
        match agent_event(&mut m_ev).await {
            AgentEvent::Message {
                conn: c,
                msg_id,
                body,
                notified,
                ..
            } if c == conn => {
                mallory.ack(c, msg_id).await.expect("ack");
                if let Ok(m) = ChatMessage::decode(&body) {
                    if let ChatEvent::GrpMemIntro { member_info, .. } = m.event {
                        assert!(!notified, "an introduction does not notify");
                        break member_info.member_id;
                    }
                }
            }
            other => panic!("{other:?}"),
        }
    };

    // Files are off in the group (the owner's x.grp.info reaches bob and mallory).
    let r = alice
        .execute_line("/set files #team off")
        .await
        .expect("/set files");
    assert!(matches!(r, Response::GroupUpdated { .. }), "{r:?}");
    let r = alice
        .execute_line("/set voice #team off")
        .await
        .expect("/set voice");
    assert!(matches!(r, Response::GroupUpdated { .. }), "{r:?}");
    // The owner's changes are items of the group's chat, reported before the answers.
    until(&mut a_ev, |e| {
        matches!(e, Event::GroupInfoItem(_, None, i)
            if i.content.text_shown() == "Voice messages: off")
        .then_some(())
    })
    .await;

    // What a member may not do, then one message it may send.
    let fake_owner = MemberInfo {
        member_id: B64(vec![9; 12]),
        member_role: GroupMemberRole::Owner,
        v: Some(ChatVersions(CHAT_VERSIONS)),
        profile: profile("eve"),
        member_key: None,
    };
    let hostile: Vec<Vec<u8>> = vec![
        msg(ChatEvent::GrpMemNew {
            member_info: fake_owner,
            scope: None,
        }),
        msg(ChatEvent::GrpMsgForward {
            member_id: Some(bob_id.clone()),
            member_name: Some("bob".into()),
            msg: Box::new(text(b"not-from-bob", "bob never wrote this")),
            msg_ts: simplex_codec::time::UtcTime::from_millis(0),
        }),
        msg(ChatEvent::GrpMemDel {
            member_id: bob_id.clone(),
            messages: false,
        }),
        msg(ChatEvent::GrpDel),
        msg(ChatEvent::GrpMemRestrict {
            member_id: bob_id.clone(),
            member_restrictions: chat_core::protocol::MemberRestrictions {
                restriction: "blocked".into(),
            },
        }),
        // A member nobody knows, blocked by a member: refused before anything is recorded.
        msg(ChatEvent::GrpMemRestrict {
            member_id: B64(vec![7; 12]),
            member_restrictions: chat_core::protocol::MemberRestrictions {
                restriction: "blocked".into(),
            },
        }),
        msg(ChatEvent::GrpMemRole {
            member_id: bob_id.clone(),
            role: GroupMemberRole::Observer,
        }),
        msg(ChatEvent::GrpMemRole {
            member_id: alice_id.clone(),
            role: GroupMemberRole::Observer,
        }),
        br#"{"v":"1","event":"x.grp.mem.intro","params":{}}"#.to_vec(),
        br#"{"v":"1","event":"x.grp.mem.del","params":{"memberId":7}}"#.to_vec(),
        // A file while files are prohibited; the group's profile changed by a member.
        br#"{"v":"1","msgId":"AQID","event":"x.msg.new","params":{"content":{"type":"file","text":""},"file":{"fileName":"x.bin","fileSize":10,"fileDescr":{"fileDescrText":"","fileDescrPartNo":0,"fileDescrComplete":false}}}}"#.to_vec(),
        br#"{"v":"1","event":"x.grp.info","params":{"groupProfile":{"displayName":"team","fullName":"","groupPreferences":{"files":{"enable":"on"}}}}}"#.to_vec(),
        br#"{"v":"1","msgId":"BAUG","event":"x.msg.new","params":{"content":{"type":"voice","text":"","duration":3}}}"#.to_vec(),
        // The binary form of a forward "from bob" (a batch of one `>` element): refused as
        // the JSON one is, not taken as mallory's own message.
        binary_forward(&bob_id.0, "bob", &text(b"bin-not-bob", "bob never wrote this either")),
        text(b"mallory-says", "just a member").encode(),
    ];
    for body in hostile {
        mallory.send(conn, &body).await.expect("send");
    }
    let ((), seen) = until(&mut a_ev, |e| {
        matches!(e, Event::GroupReceived(_, m, i) if m.local_name == "mallory"
            && i.content.text_shown() == "just a member")
        .then_some(())
    })
    .await;
    let errors = seen.iter().filter(|e| matches!(e, Event::Error(_))).count();
    assert_eq!(errors, 14, "one clear error per refused event: {seen:?}");
    assert!(
        seen.iter().any(|e| matches!(e, Event::Error(t)
            if t.contains("Files and media: received, prohibited"))),
        "{seen:?}"
    );
    assert!(
        seen.iter().any(|e| matches!(e, Event::Error(t)
            if t.contains("Voice messages: received, prohibited"))),
        "{seen:?}"
    );
    // No file was recorded, and files are still off.
    assert!(alice.execute_line("/fs 1").await.is_err());
    let r = alice
        .execute_line("/f #team Cargo.toml")
        .await
        .expect_err("files are off");
    assert_eq!(
        r.to_string(),
        "bad chat command: feature not allowed Files and media"
    );
    assert!(
        seen.iter().all(|e| matches!(e, Event::Error(_))),
        "nothing else happened: {seen:?}"
    );
    let Response::Members(g, members) = alice.execute_line("/ms team").await.expect("/ms") else {
        panic!("members")
    };
    assert_eq!(g.status, MemberStatus::Creator);
    assert_eq!(g.role, GroupMemberRole::Owner);
    let roles: Vec<_> = members
        .iter()
        .map(|m| (m.local_name.as_str(), m.role, m.status))
        .collect();
    assert_eq!(
        roles,
        [
            ("bob", GroupMemberRole::Admin, MemberStatus::Connected),
            ("mallory", GroupMemberRole::Member, MemberStatus::Connected)
        ]
    );
    // The group works: bob hears alice.
    alice.execute_line("#team still here").await.expect("send");
    let (heard, _) = until(&mut b_ev, |e| match e {
        Event::GroupReceived(_, m, i) if m.local_name == "alice" => Some(i.content.text_shown()),
        _ => None,
    })
    .await;
    assert_eq!(heard, "still here");
    // A reaction in the group reaches the author, once.
    let r = bob.execute_line("+1 #team still").await.expect("react");
    assert!(
        matches!(r, Response::GroupReaction { added: true, .. }),
        "{r:?}"
    );
    let (emoji, _) = until(&mut a_ev, |e| match e {
        Event::GroupReaction {
            member,
            reaction,
            item,
            added: true,
            ..
        } if member.as_ref().is_some_and(|m| m.local_name == "bob")
            && item.content.text_shown() == "still here" =>
        {
            reaction["emoji"].as_str().map(str::to_string)
        }
        _ => None,
    })
    .await;
    assert_eq!(emoji, "👍");

    // A flood of mentions: hundreds in the message's map (as many as a message holds), a dozen
    // names in its text, one member under several names. Only names in the text are kept,
    // each member once, at most five; alice is told she is mentioned.
    let mut flood = MsgContainer::simple(MsgContent::text(
        "@a0 @a1 @b0 @ghost @c0 @c1 @c2 @c3 @c4 @c5 @c6 look",
    ));
    for i in 0..250u32 {
        let id = match i % 3 {
            0 => alice_id.clone(),
            1 => bob_id.clone(),
            _ => B64(i.to_be_bytes().to_vec()),
        };
        flood.mentions.insert(
            format!("x{i}"),
            chat_core::protocol::MsgMention { member_id: id },
        );
    }
    for (name, id) in [("a0", &alice_id), ("a1", &alice_id), ("b0", &bob_id)] {
        flood.mentions.insert(
            name.into(),
            chat_core::protocol::MsgMention {
                member_id: id.clone(),
            },
        );
    }
    for i in 0..7u8 {
        flood.mentions.insert(
            format!("c{i}"),
            chat_core::protocol::MsgMention {
                member_id: B64(vec![9, i]),
            },
        );
    }
    let body = ChatMessage::new(Some(B64(b"flood".to_vec())), ChatEvent::MsgNew(flood)).encode();
    mallory.send(conn, &body).await.expect("send");
    let (item, _) = until(&mut a_ev, |e| match e {
        Event::GroupReceived(_, m, i) if m.local_name == "mallory" => Some(i.clone()),
        _ => None,
    })
    .await;
    assert!(item.user_mention, "{item:?}");
    let Response::GroupChat(g, _) = alice
        .execute_line("/_get chat #1 count=1")
        .await
        .expect("/_get chat")
    else {
        panic!("the chat")
    };
    let json = chat_core::api::group_chat_item(&alice, &g, None, &item);
    let kept = json["chatItem"]["mentions"]
        .as_object()
        .expect("mentions")
        .keys()
        .cloned()
        .collect::<Vec<_>>();
    assert_eq!(kept, ["a0", "b0", "c0", "c1", "c2"], "{json:#}");

    // A member's new profile (its x.info in the group) is kept, and an item of the group's
    // chat says so.
    let mut renamed = profile("mallory");
    renamed.full_name = "Mallory Mal".into();
    mallory
        .send(
            conn,
            &msg(ChatEvent::Info {
                profile: renamed.clone(),
            }),
        )
        .await
        .expect("send");
    let (item, _) = until(&mut a_ev, |e| match e {
        Event::GroupInfoItem(_, Some(m), i)
            if m.local_name == "mallory" && i.content.text_shown() == "updated profile" =>
        {
            Some(i.clone())
        }
        _ => None,
    })
    .await;
    let info = item.info.expect("an informational item");
    assert_eq!(info["rcvGroupEvent"]["type"], "memberProfileUpdated");
    assert_eq!(info["rcvGroupEvent"]["fromProfile"]["fullName"], "");
    assert_eq!(
        info["rcvGroupEvent"]["toProfile"]["fullName"],
        "Mallory Mal"
    );
    let (to, _) = until(&mut a_ev, |e| match e {
        Event::GroupMemberUpdated { to, .. } => Some(to.clone()),
        _ => None,
    })
    .await;
    assert_eq!(to.profile, renamed);
    assert_eq!(to.local_name, "mallory");

    // A moderator blocks a member alice does not know (as the reference's): recorded as an
    // unknown member, blocked, once - the same block again changes nothing.
    alice
        .execute_line("/mr team mallory moderator")
        .await
        .expect("/mr");
    let block = msg(ChatEvent::GrpMemRestrict {
        member_id: B64(vec![7; 12]),
        member_restrictions: chat_core::protocol::MemberRestrictions {
            restriction: "blocked".into(),
        },
    });
    mallory.send(conn, &block).await.expect("send");
    mallory.send(conn, &block).await.expect("send");
    mallory
        .send(conn, &text(b"after-blocks", "blocked one").encode())
        .await
        .expect("send");
    let ((), seen) = until(&mut a_ev, |e| {
        matches!(e, Event::GroupReceived(_, m, i) if m.local_name == "mallory"
            && i.content.text_shown() == "blocked one")
        .then_some(())
    })
    .await;
    let blocks: Vec<_> = seen
        .iter()
        .filter_map(|e| match e {
            Event::MemberBlockedBy { by, member, .. } => Some((by, member)),
            _ => None,
        })
        .collect();
    assert_eq!(blocks.len(), 1, "{seen:?}");
    let (by, unknown) = blocks[0];
    assert_eq!(by.local_name, "mallory");
    assert_eq!(unknown.status, MemberStatus::Unknown);
    assert_eq!(unknown.member_id, B64(vec![7; 12]));
    assert!(unknown.blocked_by_admin);
    assert!(
        !seen.iter().any(|e| matches!(e, Event::Error(_))),
        "{seen:?}"
    );

    // Removed, mallory's connection is gone: what it sends reaches no one.
    alice.execute_line("/rm team mallory").await.expect("/rm");
    loop {
        match agent_event(&mut m_ev).await {
            AgentEvent::Message {
                conn: c,
                msg_id,
                body,
                ..
            } if c == conn => {
                let _ = mallory.ack(c, msg_id).await;
                if matches!(
                    ChatMessage::decode(&body).map(|m| m.event),
                    Ok(ChatEvent::GrpMemDel { .. })
                ) {
                    break;
                }
            }
            AgentEvent::Message {
                conn: c, msg_id, ..
            } => {
                let _ = mallory.ack(c, msg_id).await;
            }
            _ => {}
        }
    }
    let _ = mallory
        .send(conn, &text(b"after-removal", "still here?").encode())
        .await;
    bob.execute_line("#team after mallory").await.expect("send");
    let (heard, skipped) = until(&mut a_ev, |e| match e {
        Event::GroupReceived(_, m, i) if m.local_name == "bob" => Some(i.content.text_shown()),
        _ => None,
    })
    .await;
    assert_eq!(heard, "after mallory");
    assert!(
        !skipped
            .iter()
            .any(|e| matches!(e, Event::GroupReceived(_, m, _) if m.local_name == "mallory")),
        "{skipped:?}"
    );
    let Response::Members(_, members) = alice.execute_line("/ms team").await.expect("/ms") else {
        panic!("members")
    };
    assert!(members.iter().any(|m| m.local_name == "mallory"
        && m.status == MemberStatus::Removed
        && m.conn_id.is_none()));
    alice.close().await;
    bob.close().await;
    mallory.close().await;
    relay.stop();
}
