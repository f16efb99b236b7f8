//! The pipelined encryptor and decryptor on a 256 MiB file, next to their floors measured in
//! the same run: SHA-512 of the same bytes (the one stage that cannot be split) and, for the
//! decryptor, writing a new file of that size.
//!
//! cargo bench --bench pipeline

use std::fs::File;
use std::hint::black_box;
use std::io::Write;
use std::os::unix::fs::FileExt;

use chunker::{
    encrypt_file, DecryptOptions, DecryptParams, Decryptor, EncryptOptions, SbKey, SbNonce,
};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use simplex_crypto::digest::Sha512;

const SIZE: usize = 256 << 20;
const PIECE: usize = 4 << 20;

fn pipeline(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let src = dir.path().join("source.bin");
    {
        let mut f = File::create(&src).expect("create source");
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut piece = vec![0u8; PIECE];
        for _ in 0..SIZE / PIECE {
            for w in piece.chunks_exact_mut(8) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                w.copy_from_slice(&x.to_le_bytes());
            }
            f.write_all(&piece).expect("write source");
        }
    }
    let key = SbKey::generate();
    let nonce = SbNonce::generate();
    let opts = EncryptOptions::default();

    let mut g = c.benchmark_group("pipeline_256MiB");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(SIZE as u64));

    g.bench_function("floor: read + SHA-512", |b| {
        let f = File::open(&src).expect("open");
        let mut buf = vec![0u8; PIECE];
        b.iter(|| {
            let mut h = Sha512::new();
            for i in 0..SIZE / PIECE {
                f.read_exact_at(&mut buf, (i * PIECE) as u64).expect("read");
                h.update(&buf);
            }
            black_box(h.finish())
        })
    });

    g.bench_function("encrypt (pipelined)", |b| {
        b.iter(|| {
            let mut enc = encrypt_file(&src, &key, &nonce, &opts).expect("encrypt");
            for chunk in enc.by_ref() {
                black_box(chunk.expect("chunk").data().len());
            }
            black_box(enc.finish().expect("finish"))
        })
    });

    // Chunks for the decryptor, kept in memory so that only decryption is measured.
    let mut enc = encrypt_file(&src, &key, &nonce, &opts).expect("encrypt");
    let chunks: Vec<Vec<u8>> = enc.by_ref().map(|c| c.expect("chunk").into_vec()).collect();
    let summary = enc.finish().expect("finish");
    let out = dir.path().join("out");
    std::fs::create_dir(&out).expect("out dir");
    let clear = || {
        for e in std::fs::read_dir(&out).expect("list").flatten() {
            let _ = std::fs::remove_file(e.path());
        }
    };

    g.bench_function("floor: write a new file", |b| {
        let piece = vec![7u8; PIECE];
        b.iter_batched(
            clear,
            |()| {
                let mut f = File::create(out.join("w.bin")).expect("create");
                for _ in 0..SIZE / PIECE {
                    f.write_all(&piece).expect("write");
                }
                f.sync_all().expect("sync");
            },
            BatchSize::PerIteration,
        )
    });

    for (name, check_chunks) in [
        ("decrypt (pipelined, chunk SHA-256 checked, fsync)", true),
        (
            "decrypt (pipelined, chunk SHA-256 checked upstream, fsync)",
            false,
        ),
    ] {
        g.bench_function(name, |b| {
            b.iter_batched(
                || {
                    clear();
                    chunks.clone()
                },
                |chunks| {
                    let params = DecryptParams {
                        key: key.clone(),
                        nonce,
                        chunk_sizes: summary.plan.chunk_sizes().to_vec(),
                        digest: summary.digest,
                        chunk_digests: check_chunks.then(|| summary.chunk_digests.clone()),
                    };
                    let mut dec = Decryptor::new(params, DecryptOptions::new(&out)).expect("new");
                    for c in chunks {
                        dec.push(c).expect("push");
                    }
                    black_box(dec.finish().expect("finish"))
                },
                BatchSize::PerIteration,
            )
        });
    }
    g.finish();
}

criterion_group!(benches, pipeline);
criterion_main!(benches);
