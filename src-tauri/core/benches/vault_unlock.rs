//! Time to unlock the vault with the shipped parameters (Argon2id 64 MiB/t=3 + Stronghold's
//! snapshot decryption), the wait a user sees after typing the passphrase.
//! Run: `cargo bench --bench vault_unlock`.

use criterion::{criterion_group, criterion_main, Criterion};
use keyhold_core::passphrase::Passphrase;
use keyhold_core::vault::{self, kdf::KdfParams, VaultPaths};

fn unlock(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let paths = VaultPaths::in_dir(dir.path());
    let pass = Passphrase::new("bench passphrase orbit velvet".into());
    let created = vault::create(&paths, &pass, KdfParams::DEFAULT).expect("create vault");
    let mut group = c.benchmark_group("vault");
    group.sample_size(10);
    group.bench_function("unlock (Argon2id + Stronghold snapshot)", |b| {
        b.iter(|| vault::open(&paths, &pass).expect("unlock"))
    });
    // What each configuration change adds: the snapshot rewritten with its manifest (200
    // signed records), under the key kept while unlocked.
    let entries = (0..200)
        .map(|i| {
            let e = keyhold_core::manifest::Entry { tag: "ab".repeat(32), name: format!("record {i}") };
            (("key".to_string(), format!("k_{i:04}")), e)
        })
        .collect();
    let manifest = keyhold_core::manifest::Manifest(entries).to_bytes();
    let contents = vault::Contents { manifest: Some(manifest), ..created.contents };
    group.bench_function("snapshot rewrite with a 200-record manifest", |b| {
        b.iter(|| vault::rewrite(&paths, &created.key, &contents).expect("rewrite"))
    });
    group.bench_function("argon2id derive only", |b| {
        b.iter(|| vault::kdf::derive(&pass, b"0123456789abcdef", KdfParams::DEFAULT).expect("derive"))
    });
    group.finish();
}

criterion_group!(benches, unlock);
criterion_main!(benches);
