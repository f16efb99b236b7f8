//! Full connection links against `testdata/smp/links.json` (from the reference's
//! `ConnectionRequestTests.hs`): every queue URI and connection request parses to the listed
//! values and, where the reference serializes it, writes back to the same string; the binary
//! forms encode to the listed bytes and decode back.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use agent::links::{ConnectionRequest, QueueMode, QueueUri, RequestKind};
use serde_json::Value;
use simplex_codec::Reader;

mod common;
use common::hx;

fn links() -> Value {
    common::load("smp/links.json")
}

fn range(r: simplex_codec::version::VersionRange) -> String {
    if r.min == r.max {
        r.min.to_string()
    } else {
        format!("{}-{}", r.min, r.max)
    }
}

fn check_queue(q: &QueueUri, d: &Value, what: &str) {
    assert_eq!(range(q.versions), d["clientVRange"], "{what}: versions");
    let hosts: Vec<&str> = d["server"]["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h.as_str().unwrap())
        .collect();
    assert_eq!(q.server.hosts, hosts, "{what}: hosts");
    assert_eq!(q.server.port, d["server"]["port"], "{what}: port");
    assert_eq!(
        q.server.key_hash,
        hx(&d["server"]["keyHashHex"]),
        "{what}: key hash"
    );
    assert_eq!(q.sender_id, hx(&d["senderIdHex"]), "{what}: sender id");
    assert_eq!(q.dh_key.to_der(), hx(&d["dhKeyDerHex"]), "{what}: dh key");
    let mode = d["queueMode"].as_str().unwrap();
    let want = if mode.starts_with("messaging") {
        Some(QueueMode::Messaging)
    } else if mode == "contact" {
        Some(QueueMode::Contact)
    } else {
        None
    };
    assert_eq!(q.mode, want, "{what}: mode");
}

#[test]
fn queue_uris() {
    let v = links();
    for (i, c) in v["queueUris"].as_array().unwrap().iter().enumerate() {
        let s = c["string"].as_str().unwrap();
        let what = format!("queue URI {i}");
        let q = QueueUri::parse(s).unwrap_or_else(|e| panic!("{what}: {e}: {s}"));
        check_queue(&q, &c["decoded"], &what);
        if c["assertion"] == "serialize+parse" {
            assert_eq!(q.to_uri(), s, "{what}");
        }
    }
}

#[test]
fn queue_uris_binary() {
    let v = links();
    for c in v["queueUrisBinary"].as_array().unwrap() {
        let what = c["name"].as_str().unwrap();
        let bytes = hx(&c["hex"]);
        let mut r = Reader::new(&bytes);
        let q = QueueUri::decode_from(&mut r).unwrap();
        assert_eq!(r.remaining(), 0, "{what}");
        let mut back = Vec::new();
        q.encode_into(&mut back).unwrap();
        assert_eq!(back, bytes, "{what}: re-encoded");
        if what == "queueContact" {
            // Written without a mode byte (min version < 3): it decodes as unknown.
            assert_eq!(q.mode, None);
            let mut contact = q.clone();
            contact.mode = Some(QueueMode::Contact);
            let mut enc = Vec::new();
            contact.encode_into(&mut enc).unwrap();
            assert_eq!(enc, bytes, "{what}: the contact mode is not written");
        } else {
            check_queue(&q, &c["decoded"], what);
        }
    }
}

#[test]
fn connection_requests() {
    let v = links();
    let mut strings = 0;
    for (i, c) in v["connectionRequests"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
    {
        let what = format!("request {i}");
        let d = &c["decoded"];
        let parsed = c["string"].as_str().map(|s| {
            strings += 1;
            let r = ConnectionRequest::parse(s).unwrap_or_else(|e| panic!("{what}: {e}"));
            if c["assertion"] == "serialize+parse" {
                assert_eq!(r.to_uri(), s, "{what}: written back");
            }
            r
        });
        let from_binary = c["binaryHex"].as_str().map(|h| {
            let bytes = hex::decode(h).unwrap();
            let r = ConnectionRequest::decode(&bytes).unwrap_or_else(|e| panic!("{what}: {e}"));
            assert_eq!(r.encode().unwrap(), bytes, "{what}: binary re-encoded");
            r
        });
        for r in parsed.iter().chain(from_binary.iter()) {
            assert_eq!(
                range(r.versions),
                d["agentVRange"],
                "{what}: agent versions"
            );
            assert_eq!(
                r.client_data.as_deref(),
                d["clientData"].as_str(),
                "{what}: data"
            );
            let queues = d["smpQueues"].as_array().unwrap();
            assert_eq!(r.queues.len(), queues.len(), "{what}: queues");
            match (&r.kind, d["mode"].as_str().unwrap()) {
                (RequestKind::Invitation(e2e), "invitation") => {
                    let w = &d["e2e"];
                    assert_eq!(range(e2e.versions), w["e2eVRange"], "{what}: e2e versions");
                    assert_eq!(e2e.key1.to_der(), hx(&w["x3dhKey1DerHex"]), "{what}: key 1");
                    assert_eq!(e2e.key2.to_der(), hx(&w["x3dhKey2DerHex"]), "{what}: key 2");
                    assert_eq!(
                        e2e.to_text(),
                        w["plain"].as_str().unwrap(),
                        "{what}: e2e text"
                    );
                }
                (RequestKind::Contact, "contact") => {}
                (k, m) => panic!("{what}: {k:?} vs {m}"),
            }
        }
        // The parsed string form carries the queues exactly (the binary form patches a
        // missing mode to contact).
        if let Some(r) = &parsed {
            for (j, (q, dq)) in r
                .queues
                .iter()
                .zip(d["smpQueues"].as_array().unwrap())
                .enumerate()
            {
                check_queue(q, dq, &format!("{what} queue {j}"));
            }
        }
    }
    assert!(strings >= 20);
}

#[test]
fn malformed_links_are_refused_not_panicked_on() {
    for bad in [
        "",
        "simplex:/invitation",
        "simplex:/other#/?v=2-7&smp=x",
        "simplex:/contact#/?v=2-7",
        "simplex:/contact#/?v=7-2&smp=x",
        "simplex:/contact#/?v=2-7&smp=smp%3A%2F%2F",
        "smp://@/#",
        "smp://1234-w==@h/3456-w==#/?v=1-4",
        "smp://1234-w==@h/3456-w==#/?v=1-4&dh=%ZZ",
        "smp://1234-w==@h/3456-w==#/?v=1-4&dh=AAAA",
    ] {
        assert!(
            ConnectionRequest::parse(bad).is_err() && QueueUri::parse(bad).is_err(),
            "{bad}"
        );
    }
    for bad in [&b""[..], b"I", b"C\x00\x02\x00\x07\x00", b"X\x00\x01"] {
        assert!(ConnectionRequest::decode(bad).is_err());
    }
}

fn server(d: &Value) -> agent::links::LinkServer {
    agent::links::LinkServer {
        hosts: d["hosts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h.as_str().unwrap().to_string())
            .collect(),
        port: d["port"].as_str().unwrap().to_string(),
        key_hash: hx(&d["keyHashHex"]),
    }
}

#[test]
fn short_links() {
    use agent::links::{ShortLink, ShortLinkKind};
    let v = links();
    for (i, c) in v["shortLinks"].as_array().unwrap().iter().enumerate() {
        let s = c["string"].as_str().unwrap();
        let what = format!("short link {i}");
        let d = &c["decoded"];
        let l = ShortLink::parse(s).unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(l.to_link(), s, "{what}: written back");
        assert_eq!(l.simplex_scheme, d["scheme"] == "simplex", "{what}");
        let kind = match d["type"].as_str().unwrap() {
            "contact" => ShortLinkKind::Contact,
            "group" => ShortLinkKind::Group,
            "invitation" => ShortLinkKind::Invitation,
            t => panic!("{t}"),
        };
        assert_eq!(l.kind, kind, "{what}");
        assert_eq!(l.server, server(&d["server"]), "{what}: server");
        assert_eq!(l.link_key, hx(&d["linkKeyHex"]), "{what}: key");
        assert_eq!(
            l.link_id.as_deref().map(hex::encode),
            d["linkIdHex"].as_str().map(str::to_string),
            "{what}: id"
        );
        let bytes = hx(&c["binaryHex"]);
        assert_eq!(l.encode().unwrap(), bytes, "{what}: binary");
        let back = ShortLink::decode(&bytes).unwrap();
        assert_eq!(
            (back.kind, &back.server, &back.link_id, &back.link_key),
            (l.kind, &l.server, &l.link_id, &l.link_key),
            "{what}: binary decoded"
        );
    }
    for bad in [
        "https://h/x#AAAA",
        "https://h/i#AAAA",
        "https://h/a#AA/AAAA",
        "simplex:/a#AAAA",
        "ftp://h/a#AAAA",
    ] {
        assert!(ShortLink::parse(bad).is_err(), "{bad}");
    }
}

#[test]
fn preset_servers_are_shortened_and_restored() {
    use agent::links::ShortLink;
    let v = links();
    let sr = &v["shortenRestore"];
    let named = |n: &Value| server(&sr["servers"][n.as_str().unwrap()]);
    for (i, c) in sr["cases"].as_array().unwrap().iter().enumerate() {
        let presets: Vec<_> = c["presets"].as_array().unwrap().iter().map(named).collect();
        let input = named(&c["in"]);
        let out = match c["op"].as_str().unwrap() {
            "shorten" => input.shorten(&presets),
            _ => input.restore(&presets),
        };
        assert_eq!(out, named(&c["out"]), "case {i}");
    }
    for (i, p) in sr["localhostPairs"].as_array().unwrap().iter().enumerate() {
        let preset: smp_address::Preset = p["preset"].as_str().unwrap().parse().unwrap();
        let presets = [preset.0];
        let full = ShortLink::parse(p["full"].as_str().unwrap()).unwrap();
        let mut short = full.clone();
        short.server = full.server.shorten(&presets);
        assert_eq!(short.to_link(), p["short"].as_str().unwrap(), "pair {i}");
        let mut restored = ShortLink::parse(p["short"].as_str().unwrap()).unwrap();
        restored.server = restored.server.restore(&presets);
        assert_eq!(restored.to_link(), p["full"].as_str().unwrap(), "pair {i}");
    }
}

/// A preset written as an `smp://` address.
mod smp_address {
    pub struct Preset(pub agent::links::LinkServer);

    impl std::str::FromStr for Preset {
        type Err = String;
        fn from_str(s: &str) -> Result<Self, String> {
            let a = simplex_codec::address::parse(s, "smp").map_err(str::to_string)?;
            Ok(Self(agent::links::LinkServer {
                hosts: a.hosts.iter().map(ToString::to_string).collect(),
                port: a.port,
                key_hash: a.key_hash,
            }))
        }
    }
}
