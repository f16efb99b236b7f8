//! Every chat-message case of `testdata/chat/protocol_json.json` (from the reference's
//! `tests/ProtocolTests.hs`) and every batching case (`tests/MessageBatching.hs`).

use chat_core::batch;
use chat_core::protocol::{
    parse_chat_messages, ChatEvent, ChatMessage, GroupMemberRole, MsgContent, B64,
};
use serde_json::Value;
use simplex_codec::time::UtcTime;

fn vectors() -> Value {
    let path = format!(
        "{}/../testdata/chat/protocol_json.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).expect("vector file is JSON")
}

fn id1234() -> B64 {
    B64(vec![1, 2, 3, 4])
}

/// What each case must decode to, beyond "it decodes": the event and the facts its
/// description states.
fn check_meaning(id: &str, m: &ChatMessage) {
    let ev = &m.event;
    match id {
        "x.msg.new simple text" => {
            assert_eq!(m.msg_id, None);
            assert!(
                matches!(ev, ChatEvent::MsgNew(c) if c.content == MsgContent::text("hello") && c.file.is_none() && !c.forward)
            );
        }
        "x.msg.new simple text - timed message TTL" => {
            assert!(matches!(ev, ChatEvent::MsgNew(c) if c.ttl == Some(3600)))
        }
        "x.msg.new simple text - live message" => {
            assert!(matches!(ev, ChatEvent::MsgNew(c) if c.live == Some(true)))
        }
        "x.msg.new simple link" => assert!(
            matches!(ev, ChatEvent::MsgNew(c) if matches!(&c.content, MsgContent::Link { preview, .. } if preview.title == "SimpleX Chat" && preview.uri == "https://simplex.chat"))
        ),
        "x.msg.new simple image with text" => assert!(
            matches!(ev, ChatEvent::MsgNew(c) if matches!(&c.content, MsgContent::Image { text, image } if text == "here's an image" && image.starts_with("data:image/png;base64,")))
        ),
        "x.msg.new chat message" => assert_eq!(m.msg_id, Some(id1234())),
        "x.msg.new chat message with chat version range" => {
            assert_eq!((m.versions.min, m.versions.max), (1, 16))
        }
        "x.msg.new quote" => {
            let ChatEvent::MsgNew(c) = ev else {
                panic!("not x.msg.new")
            };
            let q = c.quote.as_ref().expect("quote");
            assert_eq!(q.msg_ref.msg_id, Some(B64(vec![5, 6, 7, 8])));
            assert_eq!(q.msg_ref.sent_at, UtcTime { secs: 1, nanos: 1 });
            assert!(q.msg_ref.sent);
            assert_eq!(q.content, MsgContent::text("hello there!"));
        }
        "x.msg.new forward" => assert!(matches!(ev, ChatEvent::MsgNew(c) if c.forward)),
        "x.msg.new simple file with file" => assert!(
            matches!(ev, ChatEvent::MsgNew(c) if c.content.tag() == "file" && c.file.as_ref().is_some_and(|f| f.file_name == "file.txt" && f.file_size == 12345))
        ),
        "x.msg.new report" => assert!(
            matches!(ev, ChatEvent::MsgNew(c) if matches!(&c.content, MsgContent::Report { reason, .. } if reason == "spam") && c.quote.is_some())
        ),
        "x.msg.update" => {
            assert!(
                matches!(ev, ChatEvent::MsgUpdate(u) if u.msg_id == id1234() && u.content == MsgContent::text("hello"))
            )
        }
        "x.msg.del" => assert!(
            matches!(ev, ChatEvent::MsgDel { msg_id, member_id: None, .. } if *msg_id == id1234())
        ),
        "x.msg.deleted" => assert_eq!(ev, &ChatEvent::MsgDeleted),
        "x.file" => assert!(
            matches!(ev, ChatEvent::File(f) if f.file_conn_req.as_deref().is_some_and(|r| r.starts_with("simplex:/invitation#")))
        ),
        "x.file.acpt" => {
            assert!(matches!(ev, ChatEvent::FileAcpt { file_name } if file_name == "photo.jpg"))
        }
        "x.file.acpt.inv #2" => assert!(matches!(
            ev,
            ChatEvent::FileAcptInv {
                file_conn_req: None,
                ..
            }
        )),
        "x.file.cancel" => {
            assert!(matches!(ev, ChatEvent::FileCancel { msg_id } if *msg_id == id1234()))
        }
        "x.info" => assert!(
            matches!(ev, ChatEvent::Info { profile } if profile.display_name == "alice" && profile.full_name == "Alice" && profile.image.is_some() && profile.preferences.is_some())
        ),
        "x.info with empty full name" => assert!(
            matches!(ev, ChatEvent::Info { profile } if profile.full_name.is_empty() && profile.image.is_none())
        ),
        "x.contact with xContactId" => assert!(
            matches!(ev, ChatEvent::Contact { contact_req_id: Some(r), request_msg: None, .. } if *r == id1234())
        ),
        "x.contact with content null" => assert!(matches!(
            ev,
            ChatEvent::Contact {
                request_msg: None,
                contact_req_id: None,
                ..
            }
        )),
        "x.contact with content" => assert!(
            matches!(ev, ChatEvent::Contact { request_msg: Some((id, c)), .. } if *id == id1234() && *c == MsgContent::text("hello"))
        ),
        "x.grp.inv" => assert!(
            matches!(ev, ChatEvent::GrpInv(g) if g.from_member.member_role == GroupMemberRole::Admin && g.invited_member.member_role == GroupMemberRole::Member && g.group_profile.display_name == "team" && g.group_link_id.is_none())
        ),
        "x.grp.inv with group link id" => {
            assert!(matches!(ev, ChatEvent::GrpInv(g) if g.group_link_id == Some(id1234())))
        }
        "x.grp.mem.new with member chat version range" => assert!(
            matches!(ev, ChatEvent::GrpMemNew { member_info, .. } if member_info.v.is_some_and(|v| (v.0.min, v.0.max) == (1, 16)))
        ),
        "x.grp.mem.intro with member restrictions" => assert!(
            matches!(ev, ChatEvent::GrpMemIntro { member_restrictions: Some(r), .. } if r.restriction == "blocked")
        ),
        "x.grp.mem.inv w/t directConnReq" => assert!(
            matches!(ev, ChatEvent::GrpMemInv { member_intro, .. } if member_intro.direct_conn_req.is_none())
        ),
        "x.grp.mem.del" => assert!(matches!(
            ev,
            ChatEvent::GrpMemDel {
                messages: false,
                ..
            }
        )),
        "x.grp.leave" => assert_eq!(ev, &ChatEvent::GrpLeave),
        "x.grp.del" => assert_eq!(ev, &ChatEvent::GrpDel),
        "x.grp.direct.inv" => assert!(
            matches!(ev, ChatEvent::GrpDirectInv { content: Some(c), .. } if *c == MsgContent::text("hello"))
        ),
        "x.info.probe.check" => assert!(
            matches!(ev, ChatEvent::InfoProbeCheck { probe_hash } if *probe_hash == id1234())
        ),
        "x.ok" => assert_eq!(ev, &ChatEvent::Ok),
        _ => {}
    }
    // No case of the file is an event we would not know.
    assert!(
        !matches!(ev, ChatEvent::Unknown { .. }),
        "{id}: decoded as unknown"
    );
}

#[test]
fn every_chat_message_case_decodes_and_re_encodes() {
    let v = vectors();
    let cases = v["cases"].as_array().expect("cases");
    assert_eq!(cases.len(), 58);
    let mut both = 0;
    for case in cases {
        let id = case["id"].as_str().expect("id");
        let json = case["json"].as_str().expect("json");
        let direction = case["direction"].as_str().expect("direction");
        let m = ChatMessage::decode(json.as_bytes()).unwrap_or_else(|e| panic!("{id}: {e}"));
        check_meaning(id, &m);
        // The agent-body parser reads the same bytes as one element.
        let parsed = parse_chat_messages(json.as_bytes());
        assert_eq!(parsed.len(), 1, "{id}");
        assert_eq!(parsed[0].as_ref().expect(id).msg, m, "{id}");
        if direction == "both" {
            both += 1;
            let expected: Value = serde_json::from_str(json).expect("json");
            let encoded: Value = serde_json::from_slice(&m.encode()).expect("our JSON");
            assert_eq!(encoded, expected, "{id}");
            // And what we write reads back to the same message.
            assert_eq!(ChatMessage::decode(&m.encode()).expect(id), m, "{id}");
        }
    }
    assert_eq!(both, 53);
}

#[test]
fn every_batching_case_packs_as_the_reference() {
    let v = vectors();
    let b = &v["batching"];
    for case in b["cases"].as_array().expect("cases") {
        let max = case["maxLen"].as_u64().expect("maxLen") as usize;
        let strings = |k: &str| -> Vec<Vec<u8>> {
            case[k]
                .as_array()
                .expect(k)
                .iter()
                .map(|s| s.as_str().expect("string").as_bytes().to_vec())
                .collect()
        };
        let messages = strings("messages");
        let packed = batch::pack(max, &messages);
        assert_eq!(packed.bodies, strings("batches"), "{case}");
        let too_large: Vec<Vec<u8>> = packed
            .too_large
            .iter()
            .map(|&i| messages[i].clone())
            .collect();
        assert_eq!(too_large, strings("tooLarge"), "{case}");
    }
    // testImageFitsSingleBatch.
    let one = vec![1u8; 14_300];
    let two = vec![2u8; 800];
    let packed = batch::pack(
        chat_core::protocol::MAX_ENCODED_MSG_LEN,
        &[one.clone(), two.clone()],
    );
    let expected = [&b"["[..], &one, b",", &two, b"]"].concat();
    assert_eq!(packed.bodies, vec![expected]);
    assert!(packed.too_large.is_empty());
}

#[test]
fn batches_parse_back_element_by_element() {
    let msgs: Vec<ChatMessage> = (0u8..3)
        .map(|i| {
            ChatMessage::new(
                Some(B64(vec![i; 12])),
                ChatEvent::MsgNew(chat_core::MsgContainer::simple(MsgContent::text(format!(
                    "message {i}"
                )))),
            )
        })
        .collect();
    let encoded: Vec<Vec<u8>> = msgs.iter().map(ChatMessage::encode).collect();
    let packed = batch::pack(chat_core::protocol::MAX_ENCODED_MSG_LEN, &encoded);
    assert_eq!(packed.bodies.len(), 1);
    let parsed: Vec<ChatMessage> = parse_chat_messages(&packed.bodies[0])
        .into_iter()
        .map(|r| r.expect("element").msg)
        .collect();
    assert_eq!(parsed, msgs);
}

/// Compressed bodies (`'X'` NonEmpty(Compressed), as the reference sends large messages with
/// post-quantum encryption): a zstd item holding a batch and a raw item, each parsed; a frame
/// over the limit, a nested compressed body and bytes after the items refused.
#[test]
fn compressed_bodies_parse_item_by_item() {
    let msg = |i: u8, text: &str| {
        ChatMessage::new(
            Some(B64(vec![i; 12])),
            ChatEvent::MsgNew(chat_core::MsgContainer::simple(MsgContent::text(text))),
        )
    };
    let long = "a long message that compresses well ".repeat(100);
    let (one, two, three) = (msg(1, &long), msg(2, &long), msg(3, "short"));
    let batch = [&b"["[..], &one.encode(), b",", &two.encode(), b"]"].concat();
    let frame = chat_core::compress::compress(&batch).expect("compress");
    assert!(frame.len() < batch.len() / 4);
    let raw = three.encode();
    let mut body = vec![b'X', 2, b'1'];
    body.extend((frame.len() as u16).to_be_bytes());
    body.extend(&frame);
    body.extend([b'0', raw.len() as u8]);
    body.extend(&raw);
    let parsed: Vec<ChatMessage> = parse_chat_messages(&body)
        .into_iter()
        .map(|r| r.expect("element").msg)
        .collect();
    assert_eq!(parsed, vec![one, two, three.clone()]);

    let item = |tag: u8, data: &[u8]| {
        let mut v = vec![b'X', 1, tag];
        v.extend((data.len() as u16).to_be_bytes());
        v.extend(data);
        v
    };
    // 1 MiB of zeros in a few bytes: not decompressed.
    let bomb = chat_core::compress::compress(&vec![0u8; 1 << 20]).expect("compress");
    assert!(parse_chat_messages(&item(b'1', &bomb))[0].is_err());
    // Compressed again inside: refused.
    let inner = chat_core::compress::compress(&item(b'1', &frame)).expect("compress");
    assert!(parse_chat_messages(&item(b'1', &inner))[0].is_err());
    // Bytes after the items, an unknown tag, nothing at all: errors, the good item kept.
    let mut trailing = vec![b'X', 1, b'0', raw.len() as u8];
    trailing.extend(&raw);
    trailing.push(0);
    let results = parse_chat_messages(&trailing);
    assert_eq!(results[0].as_ref().expect("kept").msg, three);
    assert!(results[1].is_err());
    assert!(parse_chat_messages(&[b'X', 1, b'7', 0])[0].is_err());
    assert!(parse_chat_messages(b"X")[0].is_err());
    assert!(parse_chat_messages(&[b'X', 0])[0].is_err());
}

/// Every example command of the bot API's documentation (`testdata/chat/bot_api.json`, each
/// documented command's examples as the reference's libraries render them) parses.
#[test]
fn every_documented_command_example_parses() {
    let path = format!(
        "{}/../testdata/chat/bot_api.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let doc: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    let commands = doc["commands"].as_array().expect("commands");
    let mut checked = 0;
    let mut failed = Vec::new();
    for c in commands {
        for ex in c["examples"].as_array().into_iter().flatten() {
            let cmd = ex["cmd"].as_str().expect("cmd");
            checked += 1;
            if let Err(e) = chat_core::command::parse(cmd) {
                failed.push(format!("{}: {cmd}: {e}", c["name"]));
            }
        }
    }
    assert!(checked >= commands.len(), "{checked} examples");
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}

/// Ids are written in the reference's base64url (its parser refuses `+` and `/`, failing the
/// whole message), padded; both alphabets and the unpadded form are read.
#[test]
fn ids_are_base64url() {
    use chat_core::protocol::B64;
    let id = B64(vec![0xfb, 0xff, 0xfe, 0x01]);
    assert_eq!(serde_json::to_value(&id).unwrap(), "-__-AQ==");
    for written in ["-__-AQ==", "+//+AQ==", "-__-AQ"] {
        let read: B64 = serde_json::from_value(serde_json::json!(written)).unwrap();
        assert_eq!(read, id, "{written}");
    }
    assert!(serde_json::from_value::<B64>(serde_json::json!("-_/+AQ==")).is_err());
}
