//! Malformed descriptions, links and addresses: a typed error each, never a panic.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use simplex_codec::base64url;
use xftp_proto::description::{decode_web_link, DescriptionError, MAX_DESCRIPTION_LEN};
use xftp_proto::{FileDescription, FileParty, ValidFileDescription};

fn fixture() -> String {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../testdata/xftp/description.yaml"
    );
    std::fs::read_to_string(path).unwrap()
}

fn parse(text: &str) -> Result<ValidFileDescription, DescriptionError> {
    ValidFileDescription::from_yaml(text)
}

#[test]
fn the_fixture_is_valid() {
    let d = parse(&fixture()).unwrap();
    d.check_transferable().unwrap();
}

#[test]
fn gap_in_chunk_numbers() {
    // Renumber chunk 3 to 5: chunks 1, 2, 4, 5.
    let text = fixture().replace("  - 3:Hh8g", "  - 5:Hh8g");
    assert_eq!(parse(&text).unwrap_err(), DescriptionError::NotSequential);
}

#[test]
fn size_mismatch() {
    let text = fixture().replace("size: 13mb", "size: 14mb");
    assert_eq!(
        parse(&text).unwrap_err(),
        DescriptionError::SizeMismatch {
            total: 13 << 20,
            size: 14 << 20
        }
    );
}

#[test]
fn missing_digest() {
    // Drop the digest of chunk 2 (its only replica).
    let text = fixture().replace(":AgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhscHR4fICE=\n", "\n");
    assert_eq!(parse(&text).unwrap_err(), DescriptionError::NoDigest(2));
}

#[test]
fn bad_base64_everywhere() {
    for (from, to, field) in [
        ("key: AQID", "key: A+ID", "key"),
        ("nonce: ZGVm", "nonce: Z!Vm", "nonce"),
        ("digest: AAEC", "digest: A AEC", "digest"),
    ] {
        let text = fixture().replace(from, to);
        let err = parse(&text).unwrap_err();
        assert!(
            matches!(err, DescriptionError::BadField { field: f, .. } if f == field),
            "{field}: {err:?}"
        );
    }
    let text = fixture().replace("- 1:CgsM", "- 1:C*sM");
    assert!(matches!(
        parse(&text).unwrap_err(),
        DescriptionError::BadReplica { .. }
    ));
}

#[test]
fn wrong_key_and_nonce_lengths() {
    let short_key = fixture().replace(
        "key: AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=",
        &format!("key: {}", base64url::encode(&[1; 31])),
    );
    assert!(matches!(
        parse(&short_key).unwrap_err(),
        DescriptionError::BadField { field: "key", .. }
    ));
    let long_nonce = fixture().replace(
        "nonce: ZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXp7",
        &format!("nonce: {}", base64url::encode(&[1; 25])),
    );
    assert!(matches!(
        parse(&long_nonce).unwrap_err(),
        DescriptionError::BadField { field: "nonce", .. }
    ));
}

#[test]
fn huge_input_is_refused_before_parsing() {
    let text = "a".repeat(MAX_DESCRIPTION_LEN + 1);
    assert!(matches!(
        parse(&text).unwrap_err(),
        DescriptionError::TooLarge { .. }
    ));
}

#[test]
fn missing_fields_and_wrong_shapes() {
    for key in [
        "chunkSize",
        "digest",
        "key",
        "nonce",
        "party",
        "replicas",
        "size",
    ] {
        let text: String = fixture()
            .lines()
            .filter(|l| !l.starts_with(&format!("{key}:")))
            .map(|l| format!("{l}\n"))
            .collect();
        let err = parse(&text).unwrap_err();
        // Without `replicas:` its items hang under the previous key: a shape or YAML error.
        assert!(
            matches!(
                err,
                DescriptionError::Missing(_)
                    | DescriptionError::Yaml(_)
                    | DescriptionError::Shape(_)
            ),
            "{key}: {err:?}"
        );
    }
    assert_eq!(
        parse("- a\n- b\n").unwrap_err(),
        DescriptionError::Shape("the description")
    );
    let text = fixture().replace("party: recipient", "party: [recipient]");
    assert_eq!(parse(&text).unwrap_err(), DescriptionError::Shape("party"));
    let text = fixture().replace("party: recipient", "party: owner");
    assert_eq!(
        parse(&text).unwrap_err(),
        DescriptionError::BadParty("owner".into())
    );
}

#[test]
fn bad_sizes_and_entries() {
    let text = fixture().replace("chunkSize: 4mb", "chunkSize: 4MB");
    assert!(matches!(
        parse(&text).unwrap_err(),
        DescriptionError::BadSize {
            field: "chunkSize",
            ..
        }
    ));
    for bad in [
        "0:CgsMDQ4PEBESExQVFhcYGRobHB0eHyAh:MC4CAQAwBQYDK2VwBCIEIDIzNDU2Nzg5Ojs8PT4_QEFCQ0RFRkdISUpLTE1OT1BR",
        "x:CgsM:MC4CAQAwBQYDK2VwBCIEIDIzNDU2Nzg5Ojs8PT4_QEFCQ0RFRkdISUpLTE1OT1BR",
        "1:CgsM",
        "1:CgsM:AAAA",
        "1:CgsM:MC4CAQAwBQYDK2VwBCIEIDIzNDU2Nzg5Ojs8PT4_QEFCQ0RFRkdISUpLTE1OT1BR:AQID:5XB",
        "1:CgsM:MC4CAQAwBQYDK2VwBCIEIDIzNDU2Nzg5Ojs8PT4_QEFCQ0RFRkdISUpLTE1OT1BR:AQID:1mb:x",
    ] {
        let text = fixture().replace(
            "1:CgsMDQ4PEBESExQVFhcYGRobHB0eHyAh:MC4CAQAwBQYDK2VwBCIEIDIzNDU2Nzg5Ojs8PT4_QEFCQ0RFRkdISUpLTE1OT1BR:AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=",
            bad,
        );
        assert!(
            matches!(parse(&text).unwrap_err(), DescriptionError::BadReplica { .. }),
            "{bad}"
        );
    }
}

#[test]
fn conflicting_replicas() {
    // A second replica of chunk 1 on another server with a different digest.
    let text = fixture().replace(
        "  - 2:FBUW",
        "  - 1:FBUWFxgZGhscHR4fICEiIyQlJicoKSor:MC4CAQAwBQYDK2VwBCIEIDIzNDU2Nzg5Ojs8PT4_QEFCQ0RFRkdISUpLTE1OT1BR:AAAA\n  - 2:FBUW",
    );
    assert_eq!(
        parse(&text).unwrap_err(),
        DescriptionError::ConflictingReplicas(1)
    );
}

#[test]
fn bad_server_and_bad_yaml() {
    let text = fixture().replace("server: xftp://AAEC", "server: smp://AAEC");
    assert!(matches!(
        parse(&text).unwrap_err(),
        DescriptionError::BadServer(_)
    ));
    for bad in [
        "a: [",
        "a: &x 1\nb: *x\n",
        "size: 1\nsize: 2\n",
        "key: 'open",
    ] {
        assert!(
            matches!(parse(bad).unwrap_err(), DescriptionError::Yaml(_)),
            "{bad:?}"
        );
    }
}

#[test]
fn wrong_party() {
    let d = parse(&fixture()).unwrap();
    assert_eq!(
        d.for_party(FileParty::Sender).unwrap_err(),
        DescriptionError::WrongParty {
            expected: "sender",
            actual: "recipient"
        }
    );
}

#[test]
fn reference_fixture_is_not_transferable() {
    // It parses (3-byte digests are carried) but a client must not try to download it.
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../testdata/xftp/reference_file_description.yaml"
    );
    let d = parse(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert!(matches!(
        d.check_transferable().unwrap_err(),
        DescriptionError::NotTransferable(_)
    ));
}

#[test]
fn quoted_scalars_are_accepted() {
    let text = fixture()
        .replace("size: 13mb", "size: '13mb'")
        .replace("party: recipient", "party: \"recipient\"")
        .replace("chunkSize: 4mb", "\"chunkSize\": 4mb");
    let d = parse(&text).unwrap();
    assert_eq!(d.to_yaml(), fixture());
    // Flow style is YAML too.
    let flow =
        "{chunkSize: 64kb, digest: AAAA, key: AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=, \
                nonce: ZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXp7, party: sender, replicas: [], size: 0gb}";
    let d = FileDescription::from_yaml(flow)
        .unwrap()
        .validate()
        .unwrap();
    assert_eq!(d.party, FileParty::Sender);
    assert!(d.to_yaml().contains("replicas: []\n"));
}

#[test]
fn bad_links() {
    for bad in [
        "ftp://host/#abc",
        "https://host/abc",
        "https://host/#!!!",
        "https://host/#AAAA",
    ] {
        assert!(
            matches!(
                decode_web_link(bad).unwrap_err(),
                DescriptionError::BadLink(_)
            ),
            "{bad}"
        );
    }
}

#[test]
fn deflate_bomb_is_stopped() {
    use std::io::Write;
    let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
    let zeros = vec![b'a'; 1 << 20];
    for _ in 0..8 {
        enc.write_all(&zeros).unwrap();
    }
    let link = format!("https://h/#{}", base64url::encode(&enc.finish().unwrap()));
    assert!(matches!(
        decode_web_link(&link).unwrap_err(),
        DescriptionError::TooLarge { .. }
    ));
}
