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

criterion_group!(benches, stream, mac, secretbox, hashes);
criterion_main!(benches);
