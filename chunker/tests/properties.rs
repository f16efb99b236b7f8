//! Property tests of the chunk engine: size-plan invariants, padding at lengths around every
//! boundary, seekable chunks equal to streamed ones, streaming MAC across any split.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

mod common;

use chunker::plan::{ChunkMode, FilePlan, ALLOWED_CHUNK_SIZES, LENGTH_PREFIX_LEN};
use chunker::{
    encrypt_file, encrypt_file_to_vec, prepare_chunk_sizes, ChunkSource, DecryptOptions,
    DecryptParams, Decryptor, EncryptOptions, FileHeader, SbKey, SbNonce, SecretBoxStream,
};
use common::noise;
use proptest::prelude::*;

const TAG: u64 = 16;

proptest! {
    #[test]
    fn size_plan_invariants(payload in 1u64..=(6u64 << 30)) {
        let sizes = prepare_chunk_sizes(payload);
        let total: u64 = sizes.iter().map(|&s| u64::from(s)).sum();
        prop_assert!(total >= payload);
        prop_assert!(sizes.iter().all(|s| ALLOWED_CHUNK_SIZES.contains(s)));
        prop_assert!(sizes.windows(2).all(|w| w[0] >= w[1]), "big chunks first");
        let mut distinct = sizes.clone();
        distinct.dedup();
        prop_assert!(distinct.len() <= 2);
        if distinct.len() == 2 {
            prop_assert_eq!(distinct[0], distinct[1] * 4, "two adjacent sizes");
        }
        // Waste is less than one small chunk, or a big chunk used for a remainder over 3/4.
        let smallest = u64::from(*sizes.last().unwrap());
        prop_assert!(total - payload < smallest.max(u64::from(sizes[0]) / 4));
    }

    #[test]
    fn file_plan_is_consistent(file_size in 0u64..(1u64 << 30), name_len in 1usize..=255) {
        let header = FileHeader::new("n".repeat(name_len));
        let plan = FilePlan::new(&header, file_size, 1 << 30, ChunkMode::Split).unwrap();
        let sum: u64 = plan.chunk_sizes().iter().map(|&s| u64::from(s)).sum();
        prop_assert_eq!(sum, plan.enc_size());
        prop_assert_eq!(
            plan.enc_size(),
            TAG + LENGTH_PREFIX_LEN + plan.payload_len() + plan.pad_len()
        );
        prop_assert_eq!(plan.payload_len(), header.encode().unwrap().len() as u64 + file_size);
        let mut at = 0;
        for (i, &s) in plan.chunk_sizes().iter().enumerate() {
            prop_assert_eq!(plan.chunk_offset(i), Some(at));
            at += u64::from(s);
        }
        prop_assert_eq!(plan.chunk_offset(plan.chunk_count()), None);
    }

    #[test]
    fn streaming_mac_equals_one_shot(
        data in proptest::collection::vec(any::<u8>(), 0..3000),
        cuts in proptest::collection::vec(0usize..3000, 0..8),
    ) {
        let key = SbKey::from_bytes([3; 32]);
        let nonce = SbNonce([4; 24]);
        let mut whole = data.clone();
        let mut s = SecretBoxStream::new(&key, &nonce);
        s.encrypt_in_place(&mut whole);
        let tag = s.tag();

        let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(data.len())).collect();
        cuts.sort_unstable();
        let mut pieces = data.clone();
        let mut s = SecretBoxStream::new(&key, &nonce);
        let mut start = 0;
        for cut in cuts.into_iter().chain([data.len()]) {
            s.encrypt_in_place(&mut pieces[start..cut]);
            start = cut;
        }
        prop_assert_eq!(&pieces, &whole);
        prop_assert_eq!(s.tag(), tag);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn seekable_chunks_equal_streamed_ones(
        len in 0usize..1_500_000,
        seed in any::<u64>(),
        window in 1usize..4,
        picks in proptest::collection::vec(any::<proptest::sample::Index>(), 1..4),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("f.bin");
        std::fs::write(&src, noise(len, seed)).unwrap();
        let key = SbKey::from_bytes([seed as u8; 32]);
        let nonce = SbNonce([(seed >> 8) as u8; 24]);
        let opts = EncryptOptions { window, ..EncryptOptions::default() };
        let (summary, streamed) = encrypt_file_to_vec(&src, &key, &nonce, &opts).unwrap();
        prop_assert_eq!(streamed.len() as u64, summary.plan.enc_size());
        let source = ChunkSource::open(&src, &key, &nonce, &opts).unwrap();
        let mut buf = Vec::new();
        for pick in picks {
            let i = pick.index(summary.plan.chunk_count());
            source.read_chunk(i, Some(&summary.tag), &mut buf).unwrap();
            let off = summary.plan.chunk_offset(i).unwrap() as usize;
            prop_assert_eq!(&buf[..], &streamed[off..off + buf.len()], "chunk {}", i);
            prop_assert_eq!(simplex_crypto::digest::sha256(&buf), summary.chunk_digests[i]);
        }
    }
}

/// File sizes that put the payload right around every 3/4 and chunk boundary round-trip, and
/// their padding is exactly what the plan says.
#[test]
fn padding_round_trips_around_every_boundary() {
    let dir = tempfile::tempdir().unwrap();
    let header_len = FileHeader::new("b.bin").encode().unwrap().len() as u64;
    let overhead = LENGTH_PREFIX_LEN + TAG + header_len;
    let key = SbKey::from_bytes([5; 32]);
    let nonce = SbNonce([6; 24]);
    let boundaries = [65_536u64, 196_608, 196_609, 262_144, 786_432, 1_048_576];
    let payloads: std::collections::BTreeSet<u64> =
        boundaries.iter().flat_map(|&b| (b - 2)..=(b + 2)).collect();
    let mut checked = 0;
    for payload in payloads {
        let Some(len) = payload.checked_sub(overhead) else {
            continue;
        };
        let src = dir.path().join("b.bin");
        let content = noise(len as usize, payload);
        std::fs::write(&src, &content).unwrap();
        let (summary, enc) =
            encrypt_file_to_vec(&src, &key, &nonce, &EncryptOptions::default()).unwrap();
        assert_eq!(
            summary.plan.chunk_sizes(),
            prepare_chunk_sizes(payload),
            "{payload}"
        );
        // Decrypt the stream by hand: the padding is '#' and exactly pad_len long.
        let mut plain = enc[..enc.len() - 16].to_vec();
        let mut s = SecretBoxStream::new(&key, &nonce);
        s.authenticate(&plain);
        s.keystream().apply_at(0, &mut plain);
        assert!(s.verify(&enc[enc.len() - 16..]));
        let pad = summary.plan.pad_len() as usize;
        assert!(plain[plain.len() - pad..].iter().all(|&b| b == b'#'));
        assert_eq!(
            &plain[(LENGTH_PREFIX_LEN + header_len) as usize..plain.len() - pad],
            &content[..]
        );
        // And the decryptor gives the content back.
        let out = dir.path().join(format!("o{payload}"));
        std::fs::create_dir(&out).unwrap();
        let done = common::decrypt_whole(&key, &nonce, &summary, &enc, &out);
        assert_eq!(std::fs::read(done.path).unwrap(), content);
        checked += 1;
    }
    assert!(checked >= 25);
}

/// A zero-byte file works end to end.
#[test]
fn empty_file() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("empty");
    std::fs::write(&src, b"").unwrap();
    let key = SbKey::generate();
    let nonce = SbNonce::generate();
    let (summary, enc) =
        encrypt_file_to_vec(&src, &key, &nonce, &EncryptOptions::default()).unwrap();
    assert_eq!(enc.len(), 65536);
    let params = DecryptParams {
        key,
        nonce,
        chunk_sizes: summary.plan.chunk_sizes().to_vec(),
        digest: summary.digest,
        chunk_digests: None,
    };
    let mut dec = Decryptor::new(params, DecryptOptions::new(dir.path())).unwrap();
    dec.push(enc).unwrap();
    let done = dec.finish().unwrap();
    assert_eq!(done.size, 0);
    assert_eq!(done.path, dir.path().join("empty_1"));
    assert_eq!(std::fs::read(done.path).unwrap(), b"");
}

/// The encryptor refuses files over the limit before reading them, and its pipeline stops
/// cleanly when the consumer walks away.
#[test]
fn limits_and_cancellation() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("big");
    let f = std::fs::File::create(&src).unwrap();
    f.set_len(3 << 20).unwrap();
    let key = SbKey::generate();
    let nonce = SbNonce::generate();
    let opts = EncryptOptions {
        max_file_size: 1 << 20,
        ..EncryptOptions::default()
    };
    let err = encrypt_file(&src, &key, &nonce, &opts).unwrap_err();
    assert!(
        matches!(err, chunker::ChunkerError::FileTooLarge { .. }),
        "{err:?}"
    );
    let mut enc = encrypt_file(
        &src,
        &key,
        &nonce,
        &EncryptOptions {
            window: 1,
            ..Default::default()
        },
    )
    .unwrap();
    let first = enc.next().unwrap().unwrap();
    assert_eq!(first.index, 0);
    drop(first);
    drop(enc); // must not hang
}
