//! Arbitrary bytes into every chat decoder: an error or a message, never a panic; what we
//! encode reads back as itself.

use chat_core::batch;
use chat_core::protocol::{
    parse_chat_messages, ChatEvent, ChatMessage, MsgContainer, MsgContent, B64,
};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn body_parser_is_total(prefix in prop_oneof![
            Just(&b""[..]), Just(&b"{"[..]), Just(&b"["[..]), Just(&b"="[..]), Just(&b">M"[..]),
            Just(&b"/G"[..]), Just(&b"X"[..]), Just(&b"F"[..]),
        ],
        rest in proptest::collection::vec(any::<u8>(), 0..400)) {
        let body = [prefix, &rest[..]].concat();
        for p in parse_chat_messages(&body).into_iter().flatten() {
            // Whatever parsed encodes, and reads back the same.
            prop_assert_eq!(ChatMessage::decode(&p.msg.encode()).ok(), Some(p.msg));
        }
    }

    #[test]
    fn json_shaped_input_is_total(event in prop_oneof![
            Just("x.msg.new"), Just("x.msg.update"), Just("x.msg.del"), Just("x.msg.react"),
            Just("x.msg.file.descr"), Just("x.file"), Just("x.info"), Just("x.contact"),
            Just("x.grp.inv"), Just("x.grp.mem.fwd"), Just("x.grp.msg.forward"), Just("x.unknown"),
        ],
        key in "[a-zA-Z]{1,12}",
        value in prop_oneof![
            Just("null".to_string()), Just("1".to_string()), Just("\"AQIDBA==\"".to_string()),
            Just("{}".to_string()), Just("[]".to_string()), Just("true".to_string()),
            Just("{\"type\":\"text\",\"text\":\"x\"}".to_string()),
            "\"[ -~]{0,20}\"",
        ]) {
        let json = format!(r#"{{"v":"1-16","event":"{event}","params":{{"{key}":{value},"content":{value},"msgId":{value}}}}}"#);
        if let Ok(m) = ChatMessage::decode(json.as_bytes()) {
            prop_assert_eq!(ChatMessage::decode(&m.encode()).ok(), Some(m));
        }
    }

    #[test]
    fn texts_round_trip(text in "\\PC{0,200}", id in proptest::collection::vec(any::<u8>(), 0..16)) {
        let m = ChatMessage::new(Some(B64(id)), ChatEvent::MsgNew(MsgContainer::simple(MsgContent::text(text))));
        prop_assert_eq!(ChatMessage::decode(&m.encode()).expect("ours"), m);
    }

    #[test]
    fn batches_never_exceed_the_limit(lens in proptest::collection::vec(1usize..30, 0..20), max in 1usize..40) {
        let msgs: Vec<Vec<u8>> = lens.iter().map(|&n| vec![b'a'; n]).collect();
        let packed = batch::pack(max, &msgs);
        let mut sent = 0;
        for b in &packed.bodies {
            prop_assert!(b.len() <= max);
            sent += if b[0] == b'[' { b.split(|c| *c == b',').count() } else { 1 };
        }
        prop_assert_eq!(sent + packed.too_large.len(), msgs.len());
        for &i in &packed.too_large {
            prop_assert!(msgs[i].len() > max);
        }
    }
}
