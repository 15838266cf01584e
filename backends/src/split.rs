//! A backend that keeps cached sessions in local files and everything else in another store.
//!
//! Sessions are refreshed often; in `pass` every write is a git commit, and in a keychain or
//! helper each write is a round trip. They are age ciphertext like every item, so keeping them
//! in the private local directory loses nothing and keeps the password store's history to a
//! small constant.

use crate::{Backend, Error, FileBackend, LockGuard};

/// Names with this prefix go to the local files.
pub const SESSION_PREFIX: &str = "session.";

/// `main` for keys and the slot, `local` for sessions.
#[derive(Debug)]
pub struct Split {
    main: Box<dyn Backend>,
    local: FileBackend,
}

impl Split {
    /// Combines a store and the local directory.
    pub fn new(main: Box<dyn Backend>, local: FileBackend) -> Self {
        Split { main, local }
    }

    fn pick(&self, name: &str) -> &dyn Backend {
        if name.starts_with(SESSION_PREFIX) {
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
            .filter(|n| !n.starts_with(SESSION_PREFIX))
            .collect();
        names.extend(
            self.local
                .list()?
                .into_iter()
                .filter(|n| n.starts_with(SESSION_PREFIX)),
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
