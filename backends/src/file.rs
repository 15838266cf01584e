//! The `file` backend: one file per item in a private directory.
//!
//! Like sshd's StrictModes, it refuses to work when the directory or an item could be read or
//! replaced by another user: the directory must be a real directory (not a symlink) owned by us
//! with mode 0700 or stricter, and each item a regular file owned by us, 0600 or stricter.
//!
//! Writes are crash-safe ([`write_atomic`]): a writer killed at any point leaves either the
//! old or the new item; the temp file it leaves is removed by the next successful write.

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{ErrorKind, Read};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::fs::{
    check_owner_mode, decode_name, encode_name, open_lock_file, sweep_temps, write_atomic, Perms,
};
use crate::{Backend, Error, LockGuard};

const ITEM_SUFFIX: &str = ".age";
const LOCK_DIR: &str = ".locks";

/// Items stored as files in one private directory.
#[derive(Debug)]
pub struct FileBackend {
    dir: PathBuf,
    uid: u32,
}

impl FileBackend {
    /// Opens the backend at `dir`, creating it (0700) when `create` is set. Refuses a directory
    /// that another user could read or write, or a symlink in its place.
    pub fn open(dir: impl Into<PathBuf>, create: bool) -> Result<Self, Error> {
        let dir = dir.into();
        let uid = rustix::process::geteuid().as_raw();
        match fs::symlink_metadata(&dir) {
            Err(e) if e.kind() == ErrorKind::NotFound && create => {
                if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
                    DirBuilder::new()
                        .recursive(true)
                        .mode(0o700)
                        .create(parent)
                        .map_err(|e| Error::io("creating", parent, e))?;
                }
                DirBuilder::new()
                    .mode(0o700)
                    .create(&dir)
                    .map_err(|e| Error::io("creating", &dir, e))?;
            }
            Err(e) => return Err(Error::io("opening", &dir, e)),
            Ok(_) => {}
        }
        let backend = FileBackend { dir, uid };
        backend.check_dir()?;
        Ok(backend)
    }

    /// Whether a directory exists at `dir` (without checking it).
    pub fn exists(dir: &Path) -> bool {
        fs::symlink_metadata(dir).is_ok()
    }

    /// The directory this backend stores items in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn check_dir(&self) -> Result<(), Error> {
        let meta =
            fs::symlink_metadata(&self.dir).map_err(|e| Error::io("opening", &self.dir, e))?;
        let unsafe_dir = |problem: String, fix: String| Error::UnsafePermissions {
            path: self.dir.clone(),
            problem,
            fix,
        };
        if meta.file_type().is_symlink() {
            return Err(unsafe_dir(
                "it is a symlink".into(),
                "point --vault-dir (or VAULT_DIR) at the real directory, or replace the link with a directory".into(),
            ));
        }
        if !meta.is_dir() {
            return Err(unsafe_dir(
                "it is not a directory".into(),
                "choose another --vault-dir".into(),
            ));
        }
        check_owner_mode(&self.dir, &meta, self.uid, 0o077, "chmod 700")?;
        crate::fs::check_ancestors(&self.dir, self.uid)
    }

    fn item_path(&self, name: &str) -> Result<PathBuf, Error> {
        Ok(self.dir.join(encode_name(name)? + ITEM_SUFFIX))
    }

    /// Opens an item for reading without following symlinks or waiting (`O_NONBLOCK`: a FIFO
    /// planted as an item opens at once and is then refused), and checks it.
    fn open_item(&self, path: &Path) -> Result<Option<File>, Error> {
        let flags = rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK;
        let file = match OpenOptions::new()
            .read(true)
            .custom_flags(flags.bits() as i32)
            .open(path)
        {
            Ok(f) => f,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            // ELOOP: the final component is a symlink.
            Err(e) if e.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error()) => {
                return Err(Error::UnsafePermissions {
                    path: path.into(),
                    problem: "it is a symlink".into(),
                    fix: "remove the link; vault items must be regular files".into(),
                })
            }
            Err(e) => return Err(Error::io("opening", path, e)),
        };
        let meta = file.metadata().map_err(|e| Error::io("reading", path, e))?;
        if !meta.is_file() {
            return Err(Error::UnsafePermissions {
                path: path.into(),
                problem: "it is not a regular file".into(),
                fix: "remove it; vault items must be regular files".into(),
            });
        }
        check_owner_mode(path, &meta, self.uid, 0o077, "chmod 600")?;
        Ok(Some(file))
    }

    fn sync_dir(&self) -> Result<(), Error> {
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| Error::io("syncing", &self.dir, e))
    }
}

impl Backend for FileBackend {
    fn kind(&self) -> &'static str {
        "file"
    }

    fn location(&self) -> String {
        self.dir.display().to_string()
    }

    fn get(&self, name: &str) -> Result<Option<Vec<u8>>, Error> {
        let path = self.item_path(name)?;
        let Some(file) = self.open_item(&path)? else {
            return Ok(None);
        };
        let size = file
            .metadata()
            .map_err(|e| Error::io("reading", &path, e))?
            .len();
        crate::check_item_size(name, size)?;
        let mut buf = Vec::new();
        // Bounded even if the file grows after the check.
        file.take(crate::MAX_ITEM + 1)
            .read_to_end(&mut buf)
            .map_err(|e| Error::io("reading", &path, e))?;
        crate::check_item_size(name, buf.len() as u64)?;
        Ok(Some(buf))
    }

    fn set(&self, name: &str, value: &[u8]) -> Result<(), Error> {
        write_atomic(&self.item_path(name)?, value, Perms::Private)?;
        sweep_temps(&self.dir);
        Ok(())
    }

    fn remove(&self, name: &str) -> Result<bool, Error> {
        let path = self.item_path(name)?;
        match fs::remove_file(&path) {
            Ok(()) => {
                self.sync_dir()?;
                Ok(true)
            }
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
            Err(e) => Err(Error::io("removing", &path, e)),
        }
    }

    fn list(&self) -> Result<Vec<String>, Error> {
        self.check_dir()?;
        let mut names = Vec::new();
        let entries = fs::read_dir(&self.dir).map_err(|e| Error::io("listing", &self.dir, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| Error::io("listing", &self.dir, e))?;
            let file_name = entry.file_name();
            let Some(stem) = file_name
                .to_str()
                .filter(|n| !n.starts_with('.'))
                .and_then(|n| n.strip_suffix(ITEM_SUFFIX))
            else {
                continue;
            };
            let Some(name) = decode_name(stem) else {
                continue;
            };
            let path = entry.path();
            let meta = fs::symlink_metadata(&path).map_err(|e| Error::io("reading", &path, e))?;
            if meta.file_type().is_symlink() {
                return Err(Error::UnsafePermissions {
                    path,
                    problem: "it is a symlink".into(),
                    fix: "remove the link; vault items must be regular files".into(),
                });
            }
            check_owner_mode(&path, &meta, self.uid, 0o077, "chmod 600")?;
            names.push(name);
        }
        names.sort();
        Ok(names)
    }

    fn lock(&self, name: &str) -> Result<LockGuard, Error> {
        let (path, file) = self.lock_file(name)?;
        rustix::fs::flock(&file, rustix::fs::FlockOperation::LockExclusive)
            .map_err(|e| Error::io("locking", &path, e.into()))?;
        Ok(LockGuard(Some(file)))
    }

    fn try_lock(&self, name: &str) -> Result<Option<LockGuard>, Error> {
        let (path, file) = self.lock_file(name)?;
        match rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => Ok(Some(LockGuard(Some(file)))),
            Err(rustix::io::Errno::WOULDBLOCK) => Ok(None),
            Err(e) => Err(Error::io("locking", &path, e.into())),
        }
    }
}

impl FileBackend {
    /// Opens (creating) the lock file of `name` under the private lock directory.
    fn lock_file(&self, name: &str) -> Result<(PathBuf, fs::File), Error> {
        let dir = self.dir.join(LOCK_DIR);
        match DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
            Err(e) => return Err(Error::io("creating", &dir, e)),
        }
        let meta = fs::symlink_metadata(&dir).map_err(|e| Error::io("opening", &dir, e))?;
        if !meta.is_dir() {
            return Err(Error::UnsafePermissions {
                path: dir,
                problem: "it is not a directory".into(),
                fix: "remove it; vault recreates it".into(),
            });
        }
        check_owner_mode(&dir, &meta, self.uid, 0o077, "chmod 700")?;
        let path = dir.join(encode_name(name)?);
        let file = open_lock_file(&path).map_err(|e| Error::io("opening lock", &path, e))?;
        Ok((path, file))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn backend() -> (tempfile::TempDir, FileBackend) {
        let tmp = tempfile::tempdir().unwrap();
        let b = FileBackend::open(tmp.path().join("v"), true).unwrap();
        (tmp, b)
    }

    #[test]
    fn round_trip_and_list() {
        let (_t, b) = backend();
        assert_eq!(b.get("key.prod").unwrap(), None);
        b.set("key.prod", b"one").unwrap();
        b.set("key.prod", b"two").unwrap();
        b.set("key/odd name", b"x").unwrap();
        assert_eq!(b.get("key.prod").unwrap().as_deref(), Some(&b"two"[..]));
        assert_eq!(b.list().unwrap(), vec!["key.prod", "key/odd name"]);
        assert!(b.remove("key.prod").unwrap());
        assert!(!b.remove("key.prod").unwrap());
        assert_eq!(b.list().unwrap(), vec!["key/odd name"]);
    }

    #[test]
    fn try_lock_never_waits_for_a_held_lock() {
        let (_t, b) = backend();
        let held = b.lock("session.p.1").unwrap();
        assert!(
            b.try_lock("session.p.1").unwrap().is_none(),
            "held elsewhere"
        );
        assert!(
            b.try_lock("session.p.2").unwrap().is_some(),
            "another item's lock"
        );
        drop(held);
        assert!(b.try_lock("session.p.1").unwrap().is_some(), "released");
    }

    #[test]
    fn created_modes_are_private() {
        let (_t, b) = backend();
        b.set("a", b"x").unwrap();
        let dmode = fs::metadata(b.dir()).unwrap().permissions().mode() & 0o777;
        let fmode = fs::metadata(b.dir().join("a.age"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!((dmode, fmode), (0o700, 0o600));
    }

    #[test]
    fn loose_dir_and_file_modes_are_refused() {
        let (_t, b) = backend();
        b.set("a", b"x").unwrap();
        fs::set_permissions(b.dir().join("a.age"), fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(b.get("a"), Err(Error::UnsafePermissions { .. })));
        assert!(matches!(b.list(), Err(Error::UnsafePermissions { .. })));
        fs::set_permissions(b.dir(), fs::Permissions::from_mode(0o750)).unwrap();
        let again = FileBackend::open(b.dir(), false);
        assert!(matches!(again, Err(Error::UnsafePermissions { .. })));
    }

    #[test]
    fn symlinks_are_refused() {
        let (t, b) = backend();
        let target = t.path().join("elsewhere");
        fs::write(&target, b"x").unwrap();
        std::os::unix::fs::symlink(&target, b.dir().join("a.age")).unwrap();
        assert!(matches!(b.get("a"), Err(Error::UnsafePermissions { .. })));
        let link = t.path().join("link");
        std::os::unix::fs::symlink(b.dir(), &link).unwrap();
        assert!(matches!(
            FileBackend::open(&link, false),
            Err(Error::UnsafePermissions { .. })
        ));
    }

    #[test]
    fn an_item_over_the_cap_is_refused_unread() {
        let (_t, b) = backend();
        b.set("a", b"x").unwrap();
        let f = OpenOptions::new()
            .write(true)
            .open(b.dir().join("a.age"))
            .unwrap();
        f.set_len(crate::MAX_ITEM + 1).unwrap();
        assert!(matches!(b.get("a"), Err(Error::TooLarge { .. })));
        f.set_len(crate::MAX_ITEM).unwrap();
        assert_eq!(b.get("a").unwrap().unwrap().len() as u64, crate::MAX_ITEM);
    }

    #[test]
    fn stale_temp_files_are_swept() {
        let (_t, b) = backend();
        // pid 0x7fff_fff0 does not exist
        let stale = b
            .dir()
            .join(format!("{}2147483632.00.a", crate::fs::TEMP_PREFIX));
        fs::write(&stale, b"partial").unwrap();
        b.set("a", b"x").unwrap();
        assert!(!stale.exists());
    }
}
