//! The encoding against the reference's own test literals (`testdata/smp/encoding.json`, from
//! simplexmq 6.5.5's EncodingTests and CryptoTests): Int64, timestamps, pad / unPad.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use serde_json::Value;
use simplex_codec::encoding::{pad, unpad};
use simplex_codec::{Decode, Encode};

fn vectors() -> Value {
    let p = concat!(env!("CARGO_MANIFEST_DIR"), "/../testdata/smp/encoding.json");
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

fn unhex(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap()
}

#[test]
fn int64_and_timestamps() {
    let v = vectors();
    let i = &v["int64"];
    let mut cases = vec![(i["value"].as_i64().unwrap(), i["hex"].as_str().unwrap())];
    for e in i["extra"].as_array().unwrap() {
        cases.push((e["value"].as_i64().unwrap(), e["hex"].as_str().unwrap()));
    }
    for (value, hex) in cases {
        assert_eq!(value.to_bytes().unwrap(), unhex(hex), "{value}");
        assert_eq!(i64::from_bytes(&unhex(hex)).unwrap(), value);
    }
    // A timestamp is the Int64 of its whole seconds.
    let t = &v["systemTime"];
    let secs = t["seconds"].as_i64().unwrap();
    assert_eq!(secs.to_bytes().unwrap(), unhex(t["hex"].as_str().unwrap()));
}

/// `'a' x 65533` and the like, as the cases write their messages.
fn message(spec: &str) -> Vec<u8> {
    match spec.split_once("' x ") {
        Some((ch, n)) => vec![ch.trim_start_matches('\'').as_bytes()[0]; n.parse().unwrap()],
        None => spec.as_bytes().to_vec(),
    }
}

#[test]
fn pad_and_unpad_like_the_reference() {
    let v = vectors();
    let cases = v["padding"]["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 10);
    for c in cases {
        let what = c.to_string();
        match c["op"].as_str().unwrap() {
            op @ ("pad" | "pad+unPad") => {
                let msg = message(c["msg"].as_str().unwrap());
                let n = c["paddedLen"].as_u64().unwrap() as usize;
                let padded = pad(&msg, n);
                match c.get("resultHex").and_then(Value::as_str) {
                    Some(hex) => assert_eq!(padded.unwrap(), unhex(hex), "{what}"),
                    None if c["result"] == "CryptoLargeMsgError" => {
                        assert!(padded.is_err(), "{what}")
                    }
                    None => {
                        assert_eq!(op, "pad+unPad");
                        assert_eq!(c["result"], "round-trips");
                        let padded = padded.unwrap();
                        assert_eq!(padded.len(), n);
                        assert_eq!(unpad(&padded).unwrap(), &msg[..], "{what}");
                    }
                }
            }
            "unPad" => {
                let input = unhex(c["inputHex"].as_str().unwrap());
                match c.get("resultHex").and_then(Value::as_str) {
                    Some(hex) => assert_eq!(unpad(&input).unwrap(), &unhex(hex)[..], "{what}"),
                    None => {
                        assert_eq!(c["result"], "CryptoInvalidMsgError");
                        assert!(unpad(&input).is_err(), "{what}");
                    }
                }
            }
            other => panic!("unknown op {other}"),
        }
    }
}
