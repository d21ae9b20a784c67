//! The revision a store file last reached, noted beside it
//! (`<file>-revision`). SQLite keeps recent commits in the `-wal` file until
//! a checkpoint folds them in: a store whose `-wal` was deleted while no
//! server ran (or a file put back from an older copy) opens at an older
//! revision without any error. The note lets the next start say so, loudly.
//! It is written after each commit without an fsync: a note behind the
//! file (a crash) never warns; only a file behind its note does.

use std::path::{Path, PathBuf};

fn path_of(store: &Path) -> PathBuf {
    let mut name = store.as_os_str().to_owned();
    name.push("-revision");
    PathBuf::from(name)
}

/// Note `revision` as reached (best effort: a note that cannot be written
/// only costs the warning).
pub(super) fn note(store: &Path, revision: u64) {
    let _ = std::fs::write(path_of(store), revision.to_string());
}

/// What to say when the store is behind the revision noted for it.
pub(super) fn check(store: &Path, revision: u64) -> Option<String> {
    let noted: u64 = std::fs::read_to_string(path_of(store))
        .ok()?
        .trim()
        .parse()
        .ok()?;
    (revision < noted).then(|| {
        format!(
            "{} is at revision {revision}, but revision {noted} was committed to it before: the changes after {revision} are gone (its -wal file was deleted or lost while no server ran, or the file was replaced by an older copy); restore the -wal or a backup if they matter",
            store.display()
        )
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_store_behind_its_note_is_reported_and_one_ahead_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("s.gpkg");
        assert_eq!(super::check(&store, 5), None, "no note yet");
        super::note(&store, 92);
        let w = super::check(&store, 42).expect("behind");
        assert!(w.contains("revision 42") && w.contains("92"), "{w}");
        assert_eq!(super::check(&store, 92), None);
        assert_eq!(
            super::check(&store, 93),
            None,
            "a note behind (a crash) is fine"
        );
    }
}
