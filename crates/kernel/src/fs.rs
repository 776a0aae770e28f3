//! The data directory holds password hashes (`accounts.db`), live reset codes (`mail/*.eml`)
//! and the token key: only the service's own user may read it, whatever the umask.

use std::path::Path;

use anyhow::Context as _;

/// Creates `dir` (0700), makes every file this process creates from now on private (umask
/// 077: SQLite's databases with their `-wal`/`-shm`, mail files, media), and tightens what an
/// earlier start left readable: the directory, its direct subdirectories (0700) and the files
/// in them (0600).
pub fn prepare_private_dir(dir: &Path) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        let _previous = rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let private = |path: &Path, mode: u32| {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
                .with_context(|| format!("cannot make {} private", path.display()))
        };
        private(dir, 0o700)?;
        for entry in std::fs::read_dir(dir)? {
            let path = entry?.path();
            if path.is_dir() {
                private(&path, 0o700)?;
                for inner in std::fs::read_dir(&path)? {
                    let inner = inner?.path();
                    if inner.is_file() {
                        private(&inner, 0o600)?;
                    }
                }
            } else if path.is_file() {
                private(&path, 0o600)?;
            }
        }
    }
    #[cfg(not(unix))]
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn earlier_files_are_tightened() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("data");
        std::fs::create_dir_all(dir.join("mail")).unwrap();
        std::fs::write(dir.join("accounts.db"), b"x").unwrap();
        std::fs::write(dir.join("mail/a.eml"), b"x").unwrap();
        for p in [dir.join("accounts.db"), dir.join("mail/a.eml")] {
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        }
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        super::prepare_private_dir(&dir).unwrap();
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join("mail")), 0o700);
        assert_eq!(mode(&dir.join("accounts.db")), 0o600);
        assert_eq!(mode(&dir.join("mail/a.eml")), 0o600);
        std::fs::write(dir.join("new.db"), b"x").unwrap();
        assert_eq!(mode(&dir.join("new.db")), 0o600, "the umask covers new files");
    }
}
