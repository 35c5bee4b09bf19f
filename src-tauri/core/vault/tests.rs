//! Vault tests on real Stronghold snapshots in temporary directories.

use super::*;
use crate::seal::{self, RowBinding};

const PASS: &str = "canary-passphrase-Zq81-orbit-velvet";

fn pass(s: &str) -> Passphrase {
    Passphrase::new(s.to_string())
}

fn fresh() -> (tempfile::TempDir, VaultPaths) {
    snapshot::use_fast_encryption_for_tests();
    let dir = tempfile::tempdir().unwrap();
    let paths = VaultPaths::in_dir(dir.path());
    (dir, paths)
}

/// Every file in the dir, with its bytes: "nothing changed on disk" is checked against this.
fn disk(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap();
            (p, bytes)
        })
        .collect();
    files.sort();
    files
}

fn same_master(a: &MasterSecret, b: &MasterSecret) -> bool {
    // Compare through sealing rather than exposing bytes in assertions.
    let row = RowBinding { row_id: "r", provider: "p" };
    seal::open(b, row, &seal::seal(a, row, b"x")).is_ok()
}

#[test]
fn a_created_vault_opens_with_its_passphrase_and_keeps_its_master_secret() {
    let (_d, paths) = fresh();
    let master = create(&paths, &pass(PASS), KdfParams::FAST_FOR_TESTS).unwrap().contents.master;
    let opened = open(&paths, &pass(PASS)).unwrap();
    assert!(same_master(&master, opened.master()));
    assert!(opened.settled_header.is_none());
}

#[test]
fn a_wrong_passphrase_is_refused_and_changes_nothing_on_disk() {
    let (d, paths) = fresh();
    create(&paths, &pass(PASS), KdfParams::FAST_FOR_TESTS).unwrap();
    let before = disk(d.path());
    let err = open(&paths, &pass("not the passphrase at all")).err().unwrap();
    assert!(matches!(err, VaultError::WrongPassphrase), "{err}");
    assert_eq!(err.to_string(), "Wrong passphrase. The vault stays locked and nothing was changed.");
    assert_eq!(disk(d.path()), before);
}

#[test]
fn creating_over_an_existing_vault_is_refused() {
    let (d, paths) = fresh();
    create(&paths, &pass(PASS), KdfParams::FAST_FOR_TESTS).unwrap();
    let before = disk(d.path());
    let err = create(&paths, &pass("another long passphrase"), KdfParams::FAST_FOR_TESTS).err().unwrap();
    assert!(matches!(err, VaultError::AlreadyExists { .. }), "{err}");
    assert_eq!(disk(d.path()), before);
    // a half vault counts as a vault too
    std::fs::remove_file(&paths.header).unwrap();
    assert!(matches!(create(&paths, &pass(PASS), KdfParams::FAST_FOR_TESTS), Err(VaultError::AlreadyExists { .. })));
}

#[test]
fn a_truncated_or_corrupt_snapshot_is_reported_and_left_as_it_was() {
    let (d, paths) = fresh();
    create(&paths, &pass(PASS), KdfParams::FAST_FOR_TESTS).unwrap();
    let whole = std::fs::read(&paths.snapshot).unwrap();
    let mut flipped = whole.clone();
    let mid = flipped.len() / 2;
    flipped[mid] ^= 0x40;
    for damaged in [whole[..whole.len() / 2].to_vec(), flipped, Vec::new(), b"garbage".to_vec()] {
        std::fs::write(&paths.snapshot, &damaged).unwrap();
        let before = disk(d.path());
        let err = open(&paths, &pass(PASS)).err().unwrap();
        assert!(matches!(err, VaultError::CorruptSnapshot { .. }), "{err}");
        assert!(err.to_string().contains("damaged or truncated"), "{err}");
        assert!(!err.to_string().contains(PASS));
        assert_eq!(disk(d.path()), before, "the damaged file must be left as it was");
    }
}

#[test]
fn missing_or_damaged_files_are_named() {
    let (d, paths) = fresh();
    assert!(matches!(open(&paths, &pass(PASS)), Err(VaultError::NotCreated { .. })));
    create(&paths, &pass(PASS), KdfParams::FAST_FOR_TESTS).unwrap();
    std::fs::write(&paths.header, b"{ not json").unwrap();
    let err = open(&paths, &pass(PASS)).err().unwrap();
    assert!(err.to_string().contains("vault header"), "{err}");
    std::fs::remove_file(&paths.header).unwrap();
    assert!(matches!(open(&paths, &pass(PASS)), Err(VaultError::HeaderMissing { .. })));
    let (_d2, paths2) = fresh();
    create(&paths2, &pass(PASS), KdfParams::FAST_FOR_TESTS).unwrap();
    std::fs::remove_file(&paths2.snapshot).unwrap();
    assert!(matches!(open(&paths2, &pass(PASS)), Err(VaultError::SnapshotMissing { .. })));
    drop(d);
}

#[test]
fn changing_the_passphrase_keeps_the_master_secret_and_retires_the_old_one() {
    let (_d, paths) = fresh();
    let master = create(&paths, &pass(PASS), KdfParams::FAST_FOR_TESTS).unwrap().contents.master;
    let new = "a brand new passphrase 42";
    let err =
        change_passphrase(&paths, &pass("wrong old passphrase"), &pass(new), KdfParams::FAST_FOR_TESTS).err().unwrap();
    assert!(matches!(err, VaultError::NotTheCurrentPassphrase));
    let err = change_passphrase(&paths, &pass(PASS), &pass("short"), KdfParams::FAST_FOR_TESTS).err().unwrap();
    assert!(matches!(err, VaultError::Passphrase(PassphraseError::TooShort { .. })));
    let err = change_passphrase(&paths, &pass(PASS), &pass(PASS), KdfParams::FAST_FOR_TESTS).err().unwrap();
    assert!(matches!(err, VaultError::Passphrase(PassphraseError::Unchanged)));

    let steps = std::cell::RefCell::new(Vec::new());
    change_passphrase_reporting(&paths, &pass(PASS), &pass(new), KdfParams::FAST_FOR_TESTS, &|s| {
        steps.borrow_mut().push(s)
    })
    .unwrap();
    let steps = steps.into_inner();
    assert_eq!(steps, [VaultStep::CheckingPassphrase, VaultStep::SealingUnderNewPassphrase]);
    assert_eq!(steps.len() as u32, VaultStep::IN_A_CHANGE);
    assert!(matches!(open(&paths, &pass(PASS)), Err(VaultError::WrongPassphrase)));
    let opened = open(&paths, &pass(new)).unwrap();
    assert!(same_master(&master, opened.master()));
    assert_eq!(Header::read(&paths.header).unwrap().slots.len(), 1);
}

#[test]
fn an_interrupted_passphrase_change_still_opens_and_says_which_passphrase() {
    let (_d, paths) = fresh();
    let master = create(&paths, &pass(PASS), KdfParams::FAST_FOR_TESTS).unwrap().contents.master;
    let old_slot = Header::read(&paths.header).unwrap().slots[0].clone();
    // Crash after the header gained the pending slot, before the snapshot was replaced.
    let (mut pending, _key) = new_slot(&pass("the new passphrase 77"), KdfParams::FAST_FOR_TESTS).unwrap();
    pending.pending = true;
    Header::new(vec![pending, old_slot]).write(&paths.header).unwrap();

    let err = open(&paths, &pass("the new passphrase 77")).err().unwrap();
    assert!(matches!(err, VaultError::InterruptedChange { which: "previous" }), "{err}");
    let opened = open(&paths, &pass(PASS)).unwrap();
    assert!(same_master(&master, opened.master()));
    let settled = opened.settled_header.expect("the header should be settled");
    settled.write(&paths.header).unwrap();
    assert_eq!(Header::read(&paths.header).unwrap().slots.len(), 1);
    assert!(open(&paths, &pass(PASS)).is_ok());
}

#[test]
fn neither_file_contains_the_passphrase_or_the_master_secret() {
    let (_d, paths) = fresh();
    let master = create(&paths, &pass(PASS), KdfParams::FAST_FOR_TESTS).unwrap().contents.master;
    for file in [&paths.snapshot, &paths.header] {
        let bytes = std::fs::read(file).unwrap();
        assert!(!bytes.windows(PASS.len()).any(|w| w == PASS.as_bytes()), "{file:?}");
        assert!(!bytes.windows(32).any(|w| w == master.expose()), "{file:?}");
    }
}
