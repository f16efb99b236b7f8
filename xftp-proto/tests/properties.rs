//! Property tests: encode/decode round trips, block padding at every length near the edges,
//! descriptions through YAML and links, addresses, and parsers that never panic.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use proptest::prelude::*;
use simplex_codec::encoding::{pad, unpad, Large, NonEmpty, ShortString};
use simplex_codec::{Decode, Encode};
use simplex_crypto::{KeyAlgorithm, PrivateKey, PublicKey};
use xftp_proto::description::{
    decode_web_link, encode_web_link, FileChunk, FileChunkReplica, FileKey,
};
use xftp_proto::size::{encode_file_size, parse_file_size};
use xftp_proto::{FileDescription, FileParty, ServerAddress, TransportHost, XftpServer};

fn alg() -> impl Strategy<Value = KeyAlgorithm> {
    prop_oneof![
        Just(KeyAlgorithm::Ed25519),
        Just(KeyAlgorithm::Ed448),
        Just(KeyAlgorithm::X25519),
        Just(KeyAlgorithm::X448),
    ]
}

fn host() -> impl Strategy<Value = TransportHost> {
    prop_oneof![
        any::<[u8; 4]>().prop_map(TransportHost::Ipv4),
        any::<[u16; 8]>().prop_map(TransportHost::Ipv6),
        "[a-z2-7]{16}".prop_map(|s| TransportHost::Onion(format!("{s}.onion"))),
        "[a-z][a-z0-9-]{0,12}(\\.[a-z]{2,5}){0,2}".prop_map(TransportHost::Domain),
    ]
}

fn server() -> impl Strategy<Value = XftpServer> {
    (
        proptest::collection::vec(any::<u8>(), 1..40),
        proptest::collection::vec(host(), 1..4),
        prop_oneof![Just(String::new()), (1u16..).prop_map(|p| p.to_string())],
    )
        .prop_map(|(key_hash, hosts, port)| XftpServer {
            key_hash,
            hosts,
            port,
        })
}

fn description() -> impl Strategy<Value = FileDescription> {
    let sizes = prop_oneof![Just(65536u64), Just(262144), Just(1048576), Just(4194304)];
    (
        prop_oneof![Just(FileParty::Sender), Just(FileParty::Recipient)],
        // Never empty: an empty base64 value is not a value (the reference agrees).
        proptest::collection::vec(any::<u8>(), 1..64),
        any::<[u8; 32]>(),
        any::<[u8; 24]>(),
        proptest::collection::vec(server(), 1..4),
        proptest::collection::vec(
            (
                sizes,
                proptest::collection::vec(any::<u8>(), 32),
                proptest::collection::vec(
                    (
                        any::<proptest::sample::Index>(),
                        proptest::collection::vec(any::<u8>(), 1..25),
                        alg(),
                        any::<[u8; 57]>(),
                    ),
                    1..3,
                ),
            ),
            0..6,
        ),
        proptest::option::of((any::<u32>(), proptest::collection::vec(any::<u8>(), 64))),
    )
        .prop_map(|(party, digest, key, nonce, servers, chunks, redirect)| {
            let chunks: Vec<FileChunk> = chunks
                .into_iter()
                .enumerate()
                .map(|(i, (chunk_size, digest, replicas))| {
                    // One replica per server at most, as a real upload has.
                    let mut used = std::collections::BTreeSet::new();
                    let replicas = replicas
                        .into_iter()
                        .filter_map(|(s, id, alg, raw)| {
                            let server = servers[s.index(servers.len())].clone();
                            used.insert(server.clone()).then(|| FileChunkReplica {
                                server,
                                replica_id: id,
                                replica_key: PrivateKey::from_raw(alg, &raw[..alg.key_len()])
                                    .expect("right length"),
                            })
                        })
                        .collect();
                    FileChunk {
                        chunk_no: i as u32 + 1,
                        chunk_size,
                        digest,
                        replicas,
                    }
                })
                .collect();
            FileDescription {
                party,
                size: chunks.iter().map(|c| c.chunk_size).sum(),
                digest,
                key: FileKey(key),
                nonce,
                chunk_size: chunks.first().map_or(65536, |c| c.chunk_size),
                chunks,
                redirect: redirect.map(|(size, digest)| {
                    xftp_proto::description::RedirectFileInfo {
                        size: u64::from(size),
                        digest,
                    }
                }),
            }
        })
}

proptest! {
    #[test]
    fn primitives_round_trip(
        a in any::<u16>(), b in any::<u32>(), c in any::<i64>(), d in any::<bool>(),
        s in proptest::collection::vec(any::<u8>(), 0..=255),
        l in proptest::collection::vec(any::<u8>(), 0..2000),
        items in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..20), 1..=255),
        m in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..=255)),
    ) {
        prop_assert_eq!(u16::from_bytes(&a.to_bytes().unwrap()).unwrap(), a);
        prop_assert_eq!(u32::from_bytes(&b.to_bytes().unwrap()).unwrap(), b);
        prop_assert_eq!(i64::from_bytes(&c.to_bytes().unwrap()).unwrap(), c);
        prop_assert_eq!(bool::from_bytes(&d.to_bytes().unwrap()).unwrap(), d);
        let short = ShortString(s);
        prop_assert_eq!(ShortString::from_bytes(&short.to_bytes().unwrap()).unwrap(), short);
        let large = Large(l);
        prop_assert_eq!(Large::from_bytes(&large.to_bytes().unwrap()).unwrap(), large);
        let list = NonEmpty(items.into_iter().map(ShortString).collect());
        prop_assert_eq!(NonEmpty::<ShortString>::from_bytes(&list.to_bytes().unwrap()).unwrap(), list);
        let maybe = m.map(ShortString);
        prop_assert_eq!(Option::<ShortString>::from_bytes(&maybe.to_bytes().unwrap()).unwrap(), maybe);
    }

    #[test]
    fn keys_round_trip(alg in alg(), raw in any::<[u8; 57]>()) {
        let raw = &raw[..alg.key_len()];
        let pk = PublicKey::from_raw(alg, raw).unwrap();
        prop_assert_eq!(PublicKey::from_bytes(&pk.to_bytes().unwrap()).unwrap(), pk.clone());
        prop_assert_eq!(PublicKey::from_der(&pk.to_der()).unwrap(), pk);
        let sk = PrivateKey::from_raw(alg, raw).unwrap();
        prop_assert_eq!(PrivateKey::from_der(&sk.to_der()).unwrap(), sk);
    }

    #[test]
    fn decoders_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = PublicKey::from_der(&bytes);
        let _ = PrivateKey::from_der(&bytes);
        let _ = NonEmpty::<ShortString>::from_bytes(&bytes);
        let _ = Option::<Large>::from_bytes(&bytes);
        let _ = unpad(&bytes);
    }

    #[test]
    fn sizes_round_trip(n in any::<u64>()) {
        prop_assert_eq!(parse_file_size(&encode_file_size(n)), Some(n));
    }

    #[test]
    fn addresses_round_trip(s in server(), password in proptest::option::of("[A-Za-z0-9!#$%&*+=?^_~.-]{1,20}")) {
        let a = ServerAddress { server: s, password };
        let text = a.to_string();
        prop_assert_eq!(text.parse::<ServerAddress>().unwrap(), a);
    }

    #[test]
    fn descriptions_round_trip(d in description()) {
        let yaml = d.to_yaml();
        let back = FileDescription::from_yaml(&yaml).unwrap();
        // Parsing lists a chunk's replicas in the order the YAML has them (grouped by server),
        // so when a chunk's first replica is not on the first server in that order the digest
        // moves to another replica: like the reference, the text is canonical after one pass.
        let canonical = back.to_yaml();
        prop_assert_eq!(FileDescription::from_yaml(&canonical).unwrap().to_yaml(), canonical.clone());
        let in_server_order = d.chunks.iter().all(|c| c.replicas.windows(2).all(|w| w[0].server <= w[1].server));
        if in_server_order {
            prop_assert_eq!(&canonical, &yaml);
        }
        prop_assert_eq!(back.chunks.len(), d.chunks.iter().filter(|c| !c.replicas.is_empty()).count());
        if d.chunks.iter().all(|c| !c.replicas.is_empty()) {
            let valid = back.clone().validate().unwrap();
            prop_assert_eq!(valid.size, d.size);
            prop_assert_eq!(&back.redirect, &d.redirect);
            prop_assert_eq!(back.party, d.party);
            for (a, b) in d.chunks.iter().zip(&back.chunks) {
                prop_assert_eq!(a.chunk_size, b.chunk_size);
                prop_assert_eq!(&a.digest, &b.digest);
                let mut ra: Vec<_> = a.replicas.iter().map(|r| (r.server.to_string(), r.replica_id.clone(), r.replica_key.to_der())).collect();
                let mut rb: Vec<_> = b.replicas.iter().map(|r| (r.server.to_string(), r.replica_id.clone(), r.replica_key.to_der())).collect();
                ra.sort();
                rb.sort();
                prop_assert_eq!(ra, rb);
            }
            if let Some(link) = encode_web_link(&back) {
                prop_assert_eq!(decode_web_link(&link).unwrap(), back);
            }
        }
    }

    #[test]
    fn description_parser_never_panics(text in "[ -~\\n]{0,400}") {
        let _ = FileDescription::from_yaml(&text);
        let _ = decode_web_link(&text);
    }
}

#[test]
fn pad_unpad_at_every_length_near_the_edges() {
    for block in [16usize, 256, 16384] {
        for len in (0..=block).filter(|&l| l < 40 || l + 40 > block) {
            let msg: Vec<u8> = (0..len).map(|i| i as u8).collect();
            match pad(&msg, block) {
                Ok(p) => {
                    assert!(len <= block - 2);
                    assert_eq!(p.len(), block);
                    assert!(p[2 + len..].iter().all(|&b| b == b'#'));
                    assert_eq!(unpad(&p).unwrap(), &msg[..]);
                }
                Err(_) => assert!(len > block - 2, "len {len} block {block}"),
            }
        }
    }
    // A block claiming more than it holds.
    assert!(unpad(&[0, 5, 1, 2]).is_err());
}
