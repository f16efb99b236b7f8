//! Each cryptographic primitive of the file layer, in the implementation we use and in the
//! pure-Rust alternative, on 4 MiB buffers (one chunk). `docs/PRIMITIVES.md` records results.
//!
//! cargo bench --bench primitives

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use simplex_crypto::digest;
use simplex_crypto::{Keystream, SbKey, SbNonce, SecretBoxStream};

const LEN: usize = 4 << 20;

fn stream(c: &mut Criterion) {
    let mut g = c.benchmark_group("xsalsa20_stream");
    g.throughput(Throughput::Bytes(LEN as u64));
    let mut buf = vec![0x5au8; LEN];
    let key = SbKey::from_bytes([1; 32]);
    let nonce = SbNonce([2; 24]);
    let ks = Keystream::new(&key, &nonce);
    g.bench_function("libsodium (seekable, used)", |b| {
        b.iter(|| ks.apply_at(black_box(4096), &mut buf))
    });
    g.bench_function("rustcrypto salsa20", |b| {
        use salsa20::cipher::{KeyIvInit, StreamCipher};
        b.iter(|| {
            let mut c = salsa20::XSalsa20::new(&[1u8; 32].into(), &[2u8; 24].into());
            c.apply_keystream(&mut buf);
        })
    });
    g.finish();
}

fn mac(c: &mut Criterion) {
    let mut g = c.benchmark_group("poly1305");
    g.throughput(Throughput::Bytes(LEN as u64));
    let buf = vec![0x5au8; LEN];
    g.bench_function("openssl streaming (used)", |b| {
        b.iter(|| {
            let mut m = simplex_crypto::mac::Poly1305::new(&[3; 32]);
            m.update(&buf);
            black_box(m.finalize())
        })
    });
    g.bench_function("libsodium streaming", |b| {
        b.iter(|| {
            let mut m = simplex_crypto::mac::Poly1305::libsodium(&[3; 32]);
            m.update(&buf);
            black_box(m.finalize())
        })
    });
    g.bench_function("rustcrypto poly1305", |b| {
        use poly1305::universal_hash::KeyInit;
        b.iter(|| {
            let m = poly1305::Poly1305::new(&[3u8; 32].into());
            black_box(m.compute_unpadded(&buf))
        })
    });
    g.finish();
}

fn secretbox(c: &mut Criterion) {
    let mut g = c.benchmark_group("secretbox_stream");
    g.throughput(Throughput::Bytes(LEN as u64));
    let mut buf = vec![0x5au8; LEN];
    g.bench_function("libsodium stream + openssl poly1305 (used)", |b| {
        b.iter(|| {
            let mut s = SecretBoxStream::new(&SbKey::from_bytes([1; 32]), &SbNonce([2; 24]));
            s.encrypt_in_place(&mut buf);
            black_box(s.tag())
        })
    });
    g.bench_function("rustcrypto salsa20 + poly1305", |b| {
        use poly1305::universal_hash::KeyInit;
        use salsa20::cipher::{KeyIvInit, StreamCipher};
        b.iter(|| {
            let mut c = salsa20::XSalsa20::new(&[1u8; 32].into(), &[2u8; 24].into());
            c.apply_keystream(&mut buf);
            let m = poly1305::Poly1305::new(&[3u8; 32].into());
            black_box(m.compute_unpadded(&buf))
        })
    });
    g.finish();
}

fn hashes(c: &mut Criterion) {
    let buf = vec![0x5au8; LEN];
    let mut g = c.benchmark_group("sha256");
    g.throughput(Throughput::Bytes(LEN as u64));
    g.bench_function("openssl (used)", |b| {
        b.iter(|| black_box(digest::sha256(&buf)))
    });
    g.bench_function("rustcrypto sha2", |b| {
        use sha2::Digest;
        b.iter(|| black_box(sha2::Sha256::digest(&buf)))
    });
    g.finish();
    let mut g = c.benchmark_group("sha512");
    g.throughput(Throughput::Bytes(LEN as u64));
    g.bench_function("openssl (used)", |b| {
        b.iter(|| black_box(digest::sha512(&buf)))
    });
    g.bench_function("rustcrypto sha2", |b| {
        use sha2::Digest;
        b.iter(|| black_box(sha2::Sha512::digest(&buf)))
    });
    g.finish();
}

/// Ed25519 verification of SMP commands: one signature, and a block of 135 (a batch of SUBs).
fn ed25519(c: &mut Criterion) {
    use simplex_crypto::{generate, sign, verify, KeyAlgorithm};
    let mut g = c.benchmark_group("ed25519_verify");
    let n = 135;
    let keys: Vec<_> = (0..n)
        .map(|_| generate(KeyAlgorithm::Ed25519).expect("key"))
        .collect();
    let msgs: Vec<Vec<u8>> = (0..n)
        .map(|i| format!("transmission {i}").into_bytes())
        .collect();
    let sigs: Vec<Vec<u8>> = keys
        .iter()
        .zip(&msgs)
        .map(|((_, k), m)| sign(k, m).expect("sign"))
        .collect();
    g.bench_function("openssl, one (used)", |b| {
        b.iter(|| black_box(verify(&keys[0].0, &msgs[0], &sigs[0])))
    });
    let vks: Vec<ed25519_dalek::VerifyingKey> = keys
        .iter()
        .map(|(p, _)| {
            ed25519_dalek::VerifyingKey::from_bytes(p.raw().try_into().expect("32")).expect("key")
        })
        .collect();
    let dsigs: Vec<ed25519_dalek::Signature> = sigs
        .iter()
        .map(|s| ed25519_dalek::Signature::from_slice(s).expect("sig"))
        .collect();
    g.bench_function("dalek, one", |b| {
        b.iter(|| black_box(vks[0].verify_strict(&msgs[0], &dsigs[0]).is_ok()))
    });
    g.bench_function("dalek, one (key decoded each time)", |b| {
        b.iter(|| {
            let k =
                ed25519_dalek::VerifyingKey::from_bytes(keys[0].0.raw().try_into().expect("32"))
                    .expect("key");
            black_box(k.verify_strict(&msgs[0], &dsigs[0]).is_ok())
        })
    });
    g.throughput(Throughput::Elements(n as u64));
    g.bench_function("dalek, batch of 135", |b| {
        let m: Vec<&[u8]> = msgs.iter().map(Vec::as_slice).collect();
        b.iter(|| black_box(ed25519_dalek::verify_batch(&m, &dsigs, &vks).is_ok()))
    });
    g.bench_function("openssl, 135 one by one", |b| {
        b.iter(|| {
            keys.iter()
                .zip(&msgs)
                .zip(&sigs)
                .all(|(((p, _), m), s)| verify(p, m, s))
        })
    });
    g.finish();
}

criterion_group!(benches, stream, mac, secretbox, hashes, ed25519);
criterion_main!(benches);
