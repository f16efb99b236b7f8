//! Bad input to the decryptor: every failure is a typed error and leaves no file behind.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

mod common;

use std::path::Path;

use chunker::{
    encrypt_file_to_vec, ChunkerError, DecryptOptions, DecryptParams, Decryptor, EncryptOptions,
    EncryptedFile, SbKey, SbNonce,
};
use common::{noise, vector_key_nonce};

struct Fixture {
    _dir: tempfile::TempDir,
    out: std::path::PathBuf,
    summary: EncryptedFile,
    chunks: Vec<Vec<u8>>,
    content: Vec<u8>,
}

/// A `len`-byte file of noise encrypted with the vector key, cut into its chunks.
fn fixture(len: usize) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("photo.jpg");
    let content = noise(len, 42);
    std::fs::write(&src, &content).unwrap();
    let (key, nonce) = vector_key_nonce();
    let (summary, enc) =
        encrypt_file_to_vec(&src, &key, &nonce, &EncryptOptions::default()).unwrap();
    let mut chunks = Vec::new();
    let mut at = 0;
    for &s in summary.plan.chunk_sizes() {
        chunks.push(enc[at..at + s as usize].to_vec());
        at += s as usize;
    }
    assert!(chunks.len() >= 2, "the fixture needs several chunks");
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    Fixture {
        _dir: dir,
        out,
        summary,
        chunks,
        content,
    }
}

fn params(f: &Fixture, key: SbKey, nonce: SbNonce) -> DecryptParams {
    DecryptParams {
        key,
        nonce,
        chunk_sizes: f.summary.plan.chunk_sizes().to_vec(),
        digest: f.summary.digest,
        chunk_digests: None,
    }
}

fn decrypt(
    f: &Fixture,
    params: DecryptParams,
    chunks: Vec<Vec<u8>>,
) -> Result<chunker::DecryptedFile, ChunkerError> {
    let mut dec = Decryptor::new(params, DecryptOptions::new(&f.out))?;
    for c in chunks {
        dec.push(c)?;
    }
    dec.finish()
}

fn assert_empty(dir: &Path) {
    let left: Vec<_> = std::fs::read_dir(dir).unwrap().collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[test]
fn the_fixture_itself_decrypts() {
    let f = fixture(600_000);
    let (key, nonce) = vector_key_nonce();
    let done = decrypt(&f, params(&f, key, nonce), f.chunks.clone()).unwrap();
    assert_eq!(std::fs::read(done.path).unwrap(), f.content);
}

#[test]
fn wrong_key_fails_on_the_tag() {
    let f = fixture(600_000);
    let (_, nonce) = vector_key_nonce();
    let err = decrypt(
        &f,
        params(&f, SbKey::from_bytes([9; 32]), nonce),
        f.chunks.clone(),
    )
    .unwrap_err();
    // The length prefix decrypts to garbage first, or the tag fails at the end.
    assert!(
        matches!(err, ChunkerError::AuthTag | ChunkerError::BadPayload(_)),
        "{err:?}"
    );
    assert_empty(&f.out);
}

#[test]
fn wrong_nonce_fails() {
    let f = fixture(300_000);
    let (key, _) = vector_key_nonce();
    let err = decrypt(&f, params(&f, key, SbNonce([1; 24])), f.chunks.clone()).unwrap_err();
    assert!(
        matches!(err, ChunkerError::AuthTag | ChunkerError::BadPayload(_)),
        "{err:?}"
    );
    assert_empty(&f.out);
}

#[test]
fn flipped_bit_fails_on_the_digest() {
    let f = fixture(600_000);
    let (key, nonce) = vector_key_nonce();
    for (chunk, byte) in [(0usize, 100usize), (1, 5), (0, 0)] {
        let mut chunks = f.chunks.clone();
        chunks[chunk][byte] ^= 0x10;
        let err = decrypt(&f, params(&f, key.clone(), nonce), chunks).unwrap_err();
        assert!(matches!(err, ChunkerError::DigestMismatch), "{err:?}");
        assert_empty(&f.out);
    }
}

#[test]
fn flipped_bit_with_a_matching_digest_fails_on_the_tag() {
    // A forger who also replaces the digest still cannot pass the Poly1305 tag.
    let f = fixture(600_000);
    let (key, nonce) = vector_key_nonce();
    let mut chunks = f.chunks.clone();
    chunks[1][7] ^= 1;
    let mut p = params(&f, key, nonce);
    p.digest = simplex_crypto::digest::sha512(&chunks.concat());
    let err = decrypt(&f, p, chunks).unwrap_err();
    assert!(matches!(err, ChunkerError::AuthTag), "{err:?}");
    assert_empty(&f.out);
}

#[test]
fn flipped_tag_fails() {
    let f = fixture(100_000);
    let (key, nonce) = vector_key_nonce();
    let mut chunks = f.chunks.clone();
    let last = chunks.last_mut().unwrap();
    let n = last.len();
    last[n - 1] ^= 0x80;
    let mut p = params(&f, key, nonce);
    p.digest = simplex_crypto::digest::sha512(&chunks.concat());
    let err = decrypt(&f, p, chunks).unwrap_err();
    assert!(matches!(err, ChunkerError::AuthTag), "{err:?}");
    assert_empty(&f.out);
}

#[test]
fn truncated_chunk_is_refused_at_once() {
    let f = fixture(600_000);
    let (key, nonce) = vector_key_nonce();
    let mut chunks = f.chunks.clone();
    chunks[0].truncate(1000);
    let err = decrypt(&f, params(&f, key, nonce), chunks).unwrap_err();
    assert!(
        matches!(
            err,
            ChunkerError::ChunkSize {
                index: 0,
                actual: 1000,
                ..
            }
        ),
        "{err:?}"
    );
    assert_empty(&f.out);
}

#[test]
fn swapped_chunks_fail() {
    let f = fixture(600_000);
    let (key, nonce) = vector_key_nonce();
    let mut chunks = f.chunks.clone();
    assert_eq!(chunks[0].len(), chunks[1].len());
    chunks.swap(0, 1);
    let err = decrypt(&f, params(&f, key.clone(), nonce), chunks.clone()).unwrap_err();
    assert!(matches!(err, ChunkerError::DigestMismatch), "{err:?}");
    assert_empty(&f.out);
    // With per-chunk digests the swap is caught at the first chunk.
    let mut p = params(&f, key, nonce);
    p.chunk_digests = Some(f.summary.chunk_digests.clone());
    let err = decrypt(&f, p, chunks).unwrap_err();
    assert!(
        matches!(err, ChunkerError::ChunkDigest { index: 0 }),
        "{err:?}"
    );
    assert_empty(&f.out);
}

#[test]
fn wrong_digest_fails() {
    let f = fixture(600_000);
    let (key, nonce) = vector_key_nonce();
    let mut p = params(&f, key, nonce);
    p.digest[0] ^= 1;
    let err = decrypt(&f, p, f.chunks.clone()).unwrap_err();
    assert!(matches!(err, ChunkerError::DigestMismatch), "{err:?}");
    assert_empty(&f.out);
}

#[test]
fn missing_and_extra_chunks() {
    let f = fixture(600_000);
    let (key, nonce) = vector_key_nonce();
    let mut chunks = f.chunks.clone();
    chunks.pop();
    let err = decrypt(&f, params(&f, key.clone(), nonce), chunks).unwrap_err();
    assert!(matches!(err, ChunkerError::MissingChunks { .. }), "{err:?}");
    assert_empty(&f.out);
    let mut chunks = f.chunks.clone();
    chunks.push(f.chunks[0].clone());
    let err = decrypt(&f, params(&f, key, nonce), chunks).unwrap_err();
    assert!(matches!(err, ChunkerError::TooManyChunks { .. }), "{err:?}");
    assert_empty(&f.out);
}

#[test]
fn dropping_a_decryptor_midway_leaves_nothing() {
    let f = fixture(600_000);
    let (key, nonce) = vector_key_nonce();
    let mut dec = Decryptor::new(params(&f, key, nonce), DecryptOptions::new(&f.out)).unwrap();
    dec.push(f.chunks[0].clone()).unwrap();
    drop(dec);
    assert_empty(&f.out);
}

#[test]
fn impossible_layouts_are_refused_before_allocating() {
    let f = fixture(100_000);
    let (key, nonce) = vector_key_nonce();
    for sizes in [
        vec![],
        vec![0],
        vec![u32::MAX],
        vec![8],
        vec![65536; 200_000],
    ] {
        let mut p = params(&f, key.clone(), nonce);
        p.chunk_sizes = sizes;
        let err = Decryptor::new(p, DecryptOptions::new(&f.out)).unwrap_err();
        assert!(
            matches!(
                err,
                ChunkerError::BadLayout(_) | ChunkerError::FileTooLarge { .. }
            ),
            "{err:?}"
        );
    }
    assert_empty(&f.out);
}

#[test]
fn size_limit_applies_to_the_content() {
    let f = fixture(600_000);
    let (key, nonce) = vector_key_nonce();
    let mut opts = DecryptOptions::new(&f.out);
    opts.max_file_size = 500_000;
    let mut dec = Decryptor::new(params(&f, key, nonce), opts).unwrap();
    let mut res = Ok(());
    for c in f.chunks.clone() {
        res = res.and_then(|_| dec.push(c));
    }
    let err = res.and_then(|_| dec.finish().map(|_| ())).unwrap_err();
    assert!(
        matches!(err, ChunkerError::FileTooLarge { size: 600_000, .. }),
        "{err:?}"
    );
    assert_empty(&f.out);
}

#[test]
fn received_files_never_overwrite_and_names_are_sanitized() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    std::fs::write(out.join("passwd"), b"precious").unwrap();
    let (key, nonce) = vector_key_nonce();
    for hostile in ["../../etc/passwd", "/etc/passwd", "a/passwd"] {
        let (sizes, digest, enc) = hostile_encrypt(b"payload", &key, &nonce, hostile);
        let p = DecryptParams {
            key: key.clone(),
            nonce,
            chunk_sizes: sizes.clone(),
            digest,
            chunk_digests: None,
        };
        let mut dec = Decryptor::new(p, DecryptOptions::new(&out)).unwrap();
        let mut at = 0;
        for s in sizes {
            dec.push(enc[at..at + s as usize].to_vec()).unwrap();
            at += s as usize;
        }
        let done = dec.finish().unwrap();
        assert_eq!(done.header.name, hostile);
        assert_eq!(done.path.parent().unwrap(), out.as_path());
        let name = done.path.file_name().unwrap().to_str().unwrap().to_string();
        assert!(name.starts_with("passwd_"), "{name}");
        assert_eq!(std::fs::read(&done.path).unwrap(), b"payload");
    }
    assert_eq!(std::fs::read(out.join("passwd")).unwrap(), b"precious");
    assert!(!dir.path().join("etc").exists());
}

/// Encrypts `content` under a raw, unsanitized header name, the way a hostile sender would
/// (our encryptor sanitizes names): returns chunk sizes, digest and the encrypted file.
fn hostile_encrypt(
    content: &[u8],
    key: &SbKey,
    nonce: &SbNonce,
    name: &str,
) -> (Vec<u32>, [u8; 64], Vec<u8>) {
    use chunker::plan::{ChunkMode, FilePlan};
    let header = chunker::FileHeader::new(name);
    let plan = FilePlan::new(&header, content.len() as u64, 1 << 30, ChunkMode::Split).unwrap();
    let mut plain = plan.payload_len().to_be_bytes().to_vec();
    plain.extend(header.encode().unwrap());
    plain.extend(content);
    plain.resize(plan.stream_len() as usize, b'#');
    let mut s = chunker::SecretBoxStream::new(key, nonce);
    s.encrypt_in_place(&mut plain);
    plain.extend(s.tag());
    let digest = simplex_crypto::digest::sha512(&plain);
    (plan.chunk_sizes().to_vec(), digest, plain)
}

#[test]
fn an_interrupted_decryption_resumes_after_the_chunks_on_disk() {
    let f = fixture(9_000_000); // 3 chunks: 4 MiB, 4 MiB, 1 MiB
    let (key, nonce) = vector_key_nonce();
    let opts = || DecryptOptions {
        resume_name: Some(".xftp-test.part".into()),
        ..DecryptOptions::new(&f.out)
    };
    // First run: two chunks, then the process "dies" (the decryptor is dropped).
    let mut dec = Decryptor::new(params(&f, key.clone(), nonce), opts()).unwrap();
    assert_eq!(dec.resumed_chunks(), 0);
    dec.push(f.chunks[0].clone()).unwrap();
    dec.push(f.chunks[1].clone()).unwrap();
    drop(dec);
    assert!(
        f.out.join(".xftp-test.part").exists(),
        "the partial output is kept"
    );
    assert!(f.out.join(".xftp-test.part.state").exists());
    // Second run: only the last chunk is needed.
    let mut dec = Decryptor::new(params(&f, key.clone(), nonce), opts()).unwrap();
    assert_eq!(dec.resumed_chunks(), 2);
    dec.push(f.chunks[2].clone()).unwrap();
    let done = dec.finish().unwrap();
    assert_eq!(std::fs::read(&done.path).unwrap(), f.content);
    let names: Vec<_> = std::fs::read_dir(&f.out)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(
        names.len(),
        1,
        "state and partial output are gone: {names:?}"
    );
}

#[test]
fn every_pushed_buffer_goes_back_to_the_recycler_but_no_replayed_one() {
    use std::sync::{Arc, Mutex};
    let f = fixture(9_000_000); // 3 chunks
    let (key, nonce) = vector_key_nonce();
    let back: Arc<Mutex<Vec<(usize, usize)>>> = Arc::default();
    let opts = || {
        let back = back.clone();
        DecryptOptions {
            resume_name: Some(".xftp-test.part".into()),
            recycle: Some(chunker::Recycler::new(move |b: Vec<u8>| {
                back.lock().unwrap().push((b.as_ptr() as usize, b.len()))
            })),
            ..DecryptOptions::new(&f.out)
        }
    };
    // A first run hands back both of its buffers, the very allocations pushed.
    let mut dec = Decryptor::new(params(&f, key.clone(), nonce), opts()).unwrap();
    let (a, b) = (f.chunks[0].clone(), f.chunks[1].clone());
    let pushed = [
        (a.as_ptr() as usize, a.len()),
        (b.as_ptr() as usize, b.len()),
    ];
    dec.push(a).unwrap();
    dec.push(b).unwrap();
    drop(dec); // joins the writer: both buffers are through
    assert_eq!(*back.lock().unwrap(), pushed);
    // The resumed run replays two chunks from disk (its own allocations: not handed over)
    // and hands back only the one pushed.
    back.lock().unwrap().clear();
    let mut dec = Decryptor::new(params(&f, key, nonce), opts()).unwrap();
    assert_eq!(dec.resumed_chunks(), 2);
    let c = f.chunks[2].clone();
    let last = (c.as_ptr() as usize, c.len());
    dec.push(c).unwrap();
    let done = dec.finish().unwrap();
    assert_eq!(std::fs::read(&done.path).unwrap(), f.content);
    assert_eq!(*back.lock().unwrap(), [last]);
}

#[test]
fn a_corrupted_partial_output_fails_verification_and_is_discarded() {
    let f = fixture(9_000_000);
    let (key, nonce) = vector_key_nonce();
    let opts = || DecryptOptions {
        resume_name: Some(".xftp-test.part".into()),
        ..DecryptOptions::new(&f.out)
    };
    let mut dec = Decryptor::new(params(&f, key.clone(), nonce), opts()).unwrap();
    dec.push(f.chunks[0].clone()).unwrap();
    dec.push(f.chunks[1].clone()).unwrap();
    drop(dec);
    // Damage a byte of what is on disk.
    let part = f.out.join(".xftp-test.part");
    let mut bytes = std::fs::read(&part).unwrap();
    bytes[1000] ^= 1;
    std::fs::write(&part, bytes).unwrap();
    let mut dec = Decryptor::new(params(&f, key, nonce), opts()).unwrap();
    assert_eq!(dec.resumed_chunks(), 2);
    dec.push(f.chunks[2].clone()).unwrap();
    let err = dec.finish().unwrap_err();
    assert!(matches!(err, ChunkerError::DigestMismatch), "{err:?}");
    assert_empty(&f.out);
}
