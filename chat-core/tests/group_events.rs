//! The x.grp.* events the reference's tests do not pin (testdata/chat-ours/group_events.json,
//! written from the reference's encoder): each decodes to the event its description states
//! and, where marked `both`, re-encodes to equal JSON.

use chat_core::protocol::{ChatEvent, ChatMessage, GroupMemberRole, MsgContent, B64};
use serde_json::Value;

fn cases() -> Vec<Value> {
    let path = format!(
        "{}/../testdata/chat-ours/group_events.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let doc: Value = serde_json::from_str(&text).expect("JSON");
    doc["cases"].as_array().expect("cases").clone()
}

fn id1234() -> B64 {
    B64(vec![1, 2, 3, 4])
}

fn check_meaning(id: &str, m: &ChatMessage) {
    let ev = &m.event;
    match id {
        "x.grp.mem.role" => assert!(matches!(ev,
            ChatEvent::GrpMemRole { member_id, role }
                if *member_id == id1234() && *role == GroupMemberRole::Observer)),
        "x.grp.mem.restrict blocked" | "x.grp.mem.restrict unrestricted" => {
            let want = id.rsplit(' ').next().expect("word");
            assert!(matches!(ev,
                ChatEvent::GrpMemRestrict { member_id, member_restrictions }
                    if *member_id == id1234() && member_restrictions.restriction == want));
        }
        "x.grp.mem.del with messages" => assert!(matches!(ev,
            ChatEvent::GrpMemDel { member_id, messages: true } if *member_id == id1234())),
        "x.grp.info" => match ev {
            ChatEvent::GrpInfo { group_profile: p } => {
                assert_eq!(p.display_name, "team");
                assert_eq!(p.full_name, "Our Team");
                assert_eq!(p.description.as_deref(), Some("Welcome!"));
                let prefs = p.group_preferences.as_ref().expect("preferences");
                assert_eq!(prefs["history"]["enable"], "on");
                assert_eq!(prefs["files"]["role"], "admin");
            }
            other => panic!("{id}: {other:?}"),
        },
        "x.grp.prefs" => match ev {
            ChatEvent::GrpPrefs {
                group_preferences: p,
            } => {
                assert_eq!(p["files"]["enable"], "off");
                assert_eq!(p["directMessages"]["role"], "moderator");
            }
            other => panic!("{id}: {other:?}"),
        },
        "x.grp.msg.forward x.msg.new" => match ev {
            ChatEvent::GrpMsgForward {
                member_id,
                member_name,
                msg,
                msg_ts,
            } => {
                assert_eq!(member_id.as_ref(), Some(&id1234()));
                assert_eq!(member_name.as_deref(), Some("bob"));
                assert_eq!(msg.msg_id, Some(B64((1..=12).collect())));
                assert!(matches!(&msg.event,
                    ChatEvent::MsgNew(c) if c.content == MsgContent::text("hi there")));
                assert_eq!(msg_ts.to_string(), "2026-12-03T08:00:00.000000001Z");
            }
            other => panic!("{id}: {other:?}"),
        },
        "x.grp.msg.forward x.grp.leave" => assert!(matches!(ev,
            ChatEvent::GrpMsgForward { member_id: Some(m), member_name: None, msg, .. }
                if *m == id1234() && matches!(msg.event, ChatEvent::GrpLeave))),
        "x.grp.msg.forward from the channel" => assert!(matches!(ev,
            ChatEvent::GrpMsgForward { member_id: None, member_name: None, msg, .. }
                if matches!(msg.event, ChatEvent::MsgNew(_)))),
        "x.grp.link.inv" => match ev {
            ChatEvent::GrpLinkInv(inv) => {
                assert_eq!(inv.from_member.member_id, id1234());
                assert_eq!(inv.from_member.member_role, GroupMemberRole::Admin);
                assert_eq!(inv.from_member_name, "alice");
                assert_eq!(inv.invited_member.member_id, B64(vec![5, 6, 7, 8]));
                assert_eq!(inv.invited_member.member_role, GroupMemberRole::Member);
                assert_eq!(inv.group_profile.display_name, "team");
                assert_eq!(inv.accepted.as_deref(), Some("accepted"));
                assert_eq!(inv.group_size, Some(2));
            }
            other => panic!("{id}: {other:?}"),
        },
        "x.grp.link.acpt" => assert!(matches!(ev,
            ChatEvent::GrpLinkAcpt { acceptance, role: GroupMemberRole::Member, member_id }
                if acceptance == "accepted" && *member_id == id1234())),
        "x.grp.link.mem" => assert!(matches!(ev,
            ChatEvent::GrpLinkMem { profile } if profile.display_name == "alice"
                && profile.full_name == "Alice")),
        "x.member with its key" => match ev {
            ChatEvent::Member {
                profile,
                new_member_id,
                new_member_key: Some(k),
            } => {
                assert_eq!(profile.display_name, "alice");
                assert_eq!(*new_member_id, id1234());
                let der = chat_core::group_keys::parse_key(k).expect("an Ed25519 key");
                assert_eq!(&der[12..], (1..=32).collect::<Vec<u8>>().as_slice());
            }
            other => panic!("{id}: {other:?}"),
        },
        "x.grp.relay.test answer" => assert!(matches!(ev,
            ChatEvent::GrpRelayTest { challenge, signature: Some(s) }
                if *challenge == id1234() && s.0 == [5, 6, 7, 8])),
        other => panic!("no meaning written for case {other:?}"),
    }
}

#[test]
fn every_case_decodes_and_re_encodes() {
    let cases = cases();
    assert_eq!(cases.len(), 14);
    for c in cases {
        let id = c["id"].as_str().expect("id");
        let json = c["json"].as_str().expect("json");
        let m = ChatMessage::decode(json.as_bytes()).unwrap_or_else(|e| panic!("{id}: {e}"));
        assert_eq!(m.event.name(), c["event"].as_str().expect("event"), "{id}");
        check_meaning(id, &m);
        if c["direction"] == "both" {
            let again: Value = serde_json::from_slice(&m.encode()).expect("JSON");
            let want: Value = serde_json::from_str(json).expect("JSON");
            assert_eq!(again, want, "{id}");
        }
    }
}

/// A forwarded message cannot carry another forwarded message (the reference's parser
/// refuses nesting; a hostile host gains nothing by trying).
#[test]
fn nested_forwards_are_refused() {
    let json = r#"{"v":"1-16","event":"x.grp.msg.forward","params":{"memberId":"AQIDBA==","msg":{"v":"1-16","event":"x.grp.msg.forward","params":{"memberId":"BQYHCA==","msg":{"v":"1","event":"x.grp.leave","params":{}},"msgTs":"2026-12-03T08:00:01Z"}},"msgTs":"2026-12-03T08:00:01Z"}}"#;
    assert!(ChatMessage::decode(json.as_bytes()).is_err());
}
