//! The chunk engine against the reference vectors in `testdata/xftp/`, byte for byte (the
//! transit encryption vector is checked in `simplex-crypto`).

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

mod common;

use chunker::{encrypt_file_to_vec, prepare_chunk_sizes, ChunkSource, EncryptOptions, FileHeader};
use common::{b64u, load_json, pattern, testdata, vector_key_nonce};
use simplex_crypto::digest::sha256;

#[test]
fn vector_files_are_the_reference_copies() {
    // The JSON must be the byte-identical copy of shared/vectors (checked loosely here by a
    // few fields; `cmp` in .ci/run checks the bytes when shared/ is present).
    let v = load_json("file_encryption.json");
    assert_eq!(
        v["keyHex"],
        "0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20"
    );
    assert!(testdata("chunk_sizes.json").exists());
}

#[test]
fn chunk_sizes_match_every_case() {
    let v = load_json("chunk_sizes.json");
    let cases = v["cases"].as_array().expect("cases");
    assert!(cases.len() >= 29);
    for case in cases {
        let payload = case["payloadSize"].as_u64().expect("payloadSize");
        let want: Vec<u32> = case["chunkSizes"]
            .as_array()
            .expect("chunkSizes")
            .iter()
            .map(|s| s.as_u64().expect("size") as u32)
            .collect();
        assert_eq!(prepare_chunk_sizes(payload), want, "payload {payload}");
    }
}

#[test]
fn file_encryption_matches_every_case_and_decrypts_back() {
    let v = load_json("file_encryption.json");
    let (key, nonce) = vector_key_nonce();
    assert_eq!(hex::encode(key.as_bytes()), v["keyHex"].as_str().unwrap());
    assert_eq!(hex::encode(nonce.0), v["nonceHex"].as_str().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let cases = v["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 6);
    let mut full_ciphertexts = 0;
    for case in cases {
        let name = case["fileName"].as_str().unwrap();
        let extra = case["fileExtra"].as_str().map(str::to_string);
        let len = case["contentLen"].as_u64().unwrap() as usize;
        let content = pattern(len);
        assert_eq!(
            hex::encode(sha256(&content)),
            case["contentSha256"].as_str().unwrap(),
            "{name}: content rule"
        );
        let header = FileHeader {
            name: name.to_string(),
            extra: extra.clone(),
        };
        assert_eq!(
            hex::encode(header.encode().unwrap()),
            case["headerHex"].as_str().unwrap(),
            "{name}: header"
        );

        let src = dir.path().join("source.bin");
        std::fs::write(&src, &content).unwrap();
        let opts = EncryptOptions {
            file_name: Some(name.to_string()),
            file_extra: extra.clone(),
            ..EncryptOptions::default()
        };
        let (summary, encrypted) = encrypt_file_to_vec(&src, &key, &nonce, &opts).unwrap();
        let enc_size = case["encSize"].as_u64().unwrap();
        assert_eq!(summary.plan.enc_size(), enc_size, "{name}: encSize");
        assert_eq!(encrypted.len() as u64, enc_size);
        let sizes: Vec<u64> = case["chunkSizes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_u64().unwrap())
            .collect();
        let ours: Vec<u64> = summary
            .plan
            .chunk_sizes()
            .iter()
            .map(|&s| u64::from(s))
            .collect();
        assert_eq!(ours, sizes, "{name}: chunk sizes");
        assert_eq!(
            summary.digest.to_vec(),
            b64u(case["encryptedSha512B64u"].as_str().unwrap()),
            "{name}: SHA-512"
        );
        let chunk_digests: Vec<Vec<u8>> = case["chunkSha256B64u"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| b64u(d.as_str().unwrap()))
            .collect();
        let ours: Vec<Vec<u8>> = summary.chunk_digests.iter().map(|d| d.to_vec()).collect();
        assert_eq!(ours, chunk_digests, "{name}: chunk SHA-256");
        assert_eq!(
            hex::encode(&encrypted[..64]),
            case["encryptedFirst64Hex"].as_str().unwrap(),
            "{name}: first bytes"
        );
        assert_eq!(
            hex::encode(&encrypted[encrypted.len() - 32..]),
            case["encryptedLast32Hex"].as_str().unwrap(),
            "{name}: last bytes"
        );
        if let Some(full) = case["encryptedHex"].as_str() {
            assert_eq!(hex::encode(&encrypted), full, "{name}: full ciphertext");
            full_ciphertexts += 1;
        }

        // Every chunk regenerates from the source alone.
        let source = ChunkSource::open(&src, &key, &nonce, &opts).unwrap();
        let mut buf = Vec::new();
        for (i, &off) in (0..summary.plan.chunk_count())
            .map(|i| summary.plan.chunk_offset(i).unwrap())
            .collect::<Vec<_>>()
            .iter()
            .enumerate()
        {
            source.read_chunk(i, Some(&summary.tag), &mut buf).unwrap();
            let end = off as usize + buf.len();
            assert_eq!(
                buf,
                encrypted[off as usize..end],
                "{name}: chunk {i} regenerated"
            );
        }

        // And decrypts back to the same content and header.
        let out = dir.path().join(format!("out-{len}"));
        std::fs::create_dir(&out).unwrap();
        let done = common::decrypt_whole(&key, &nonce, &summary, &encrypted, &out);
        assert_eq!(done.header.name, name);
        assert_eq!(done.header.extra, extra);
        assert_eq!(done.path, out.join(name));
        assert_eq!(
            std::fs::read(&done.path).unwrap(),
            content,
            "{name}: round trip"
        );
        assert_eq!(std::fs::read_dir(&out).unwrap().count(), 1, "no leftovers");
    }
    assert!(full_ciphertexts >= 3);
}
