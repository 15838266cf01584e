//! A backend that keeps cached sessions in local files and everything else in another store.
//!
//! Sessions are refreshed often; in `pass` every write is a git commit, and in a keychain or
//! helper each write is a round trip. They are age ciphertext like every item, so keeping them
//! in the private local directory loses nothing and keeps the password store's history to a
//! small constant. Which names are sessions is the vault's business: it passes their prefix.

use crate::{Backend, Error, FileBackend, LockGuard};

/// `main` for keys and the slot, `local` for sessions.
#[derive(Debug)]
pub struct Split {
    main: Box<dyn Backend>,
    local: FileBackend,
    session_prefix: String,
}

impl Split {
    /// Combines a store and the local directory: names that start with `session_prefix`
    /// (which must not be empty) go to `local`, all others to `main`.
    pub fn new(
        main: Box<dyn Backend>,
        local: FileBackend,
        session_prefix: impl Into<String>,
    ) -> Self {
        let session_prefix = session_prefix.into();
        assert!(!session_prefix.is_empty(), "an empty session prefix");
        Split {
            main,
            local,
            session_prefix,
        }
    }

    fn is_session(&self, name: &str) -> bool {
        name.starts_with(&self.session_prefix)
    }

    fn pick(&self, name: &str) -> &dyn Backend {
        if self.is_session(name) {
            &self.local
        } else {
            &*self.main
        }
    }
}

impl Backend for Split {
    fn kind(&self) -> &'static str {
        self.main.kind()
    }
    fn location(&self) -> String {
        format!(
            "{} (sessions in {})",
            self.main.location(),
            self.local.location()
        )
    }
    fn get(&self, name: &str) -> Result<Option<Vec<u8>>, Error> {
        self.pick(name).get(name)
    }
    fn contains(&self, name: &str) -> Result<bool, Error> {
        self.pick(name).contains(name)
    }
    fn set(&self, name: &str, value: &[u8]) -> Result<(), Error> {
        self.pick(name).set(name, value)
    }
    fn remove(&self, name: &str) -> Result<bool, Error> {
        self.pick(name).remove(name)
    }
    fn list(&self) -> Result<Vec<String>, Error> {
        let mut names: Vec<String> = self
            .main
            .list()?
            .into_iter()
            .filter(|n| !self.is_session(n))
            .collect();
        names.extend(
            self.local
                .list()?
                .into_iter()
                .filter(|n| self.is_session(n)),
        );
        names.sort();
        Ok(names)
    }
    fn lock(&self, name: &str) -> Result<LockGuard, Error> {
        // Locks always live in the local directory: they only coordinate this machine.
        self.local.lock(name)
    }
    fn try_lock(&self, name: &str) -> Result<Option<LockGuard>, Error> {
        self.local.try_lock(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_with_the_given_prefix_stay_local() {
        let tmp = tempfile::tempdir().unwrap();
        let main = FileBackend::open(tmp.path().join("main"), true).unwrap();
        let local = FileBackend::open(tmp.path().join("local"), true).unwrap();
        let split = Split::new(Box::new(main), local, "cache.");
        split.set("cache.p", b"s").unwrap();
        split.set("key.p", b"k").unwrap();
        split.set("session.p", b"x").unwrap();
        let main = FileBackend::open(tmp.path().join("main"), false).unwrap();
        let local = FileBackend::open(tmp.path().join("local"), false).unwrap();
        assert_eq!(main.list().unwrap(), vec!["key.p", "session.p"]);
        assert_eq!(local.list().unwrap(), vec!["cache.p"]);
        // A stray local item outside the prefix, or a main one inside it, is not listed.
        local.set("key.q", b"k").unwrap();
        main.set("cache.q", b"s").unwrap();
        assert_eq!(split.list().unwrap(), vec!["cache.p", "key.p", "session.p"]);
    }
}
