//! The agent's checks against the vault (issue 13, points 2 and 4): the slot it unlocks is
//! opened through [`crate::vault::Vault`] with the client's record of the newest generation,
//! and before every seal the slot's generation is re-read; once it changed (a rekey through
//! another agent or none), the agent locks itself and refuses.

use std::path::PathBuf;

use super::{Agent, ErrorKind, Response};
use crate::error::{Error, Result};
use crate::settings::BackendSpec;
use crate::vault::{generation, Vault};

impl Agent {
    /// Keeps `master` of `generation`, read from `backend` (in locked memory), and starts the
    /// idle timer; refuses a generation older than one this agent unlocked before.
    pub(super) fn hold(
        &self,
        master: crate::vault::crypto::MasterIdentity,
        generation: u64,
        backend: crate::settings::BackendSpec,
    ) -> Response {
        let master = std::sync::Arc::new(master);
        crate::agent::harden::lock_memory(&*master);
        let mut inner = self.inner();
        if generation < inner.newest {
            return Response::Error {
                kind: ErrorKind::RolledBack,
                message: format!(
                    "it is generation {generation}, and this agent unlocked generation {} before",
                    inner.newest
                ),
                state: Some("the running agent (`vault lock --stop`)".into()),
                hint: None,
            };
        }
        inner.newest = generation;
        inner.forget();
        inner.master = Some(master);
        inner.generation = generation;
        inner.backend = Some(backend);
        inner.deadline = Some((self.clock)() + self.idle);
        tracing::info!("unlocked at generation {generation}");
        Response::Unlocked { generation }
    }

    /// The vault in `backend`, checking the generation against `state_dir`'s record. The
    /// agent never asks at a terminal: the client ran the KDF gate (`allow_slow_kdf`).
    pub(super) fn vault(
        &self,
        backend: &BackendSpec,
        state_dir: Option<PathBuf>,
        allow_slow_kdf: bool,
    ) -> Result<Vault> {
        let vault = crate::vault::open_backend(&self.vault_dir, backend, false).map(Vault::new)?;
        Ok(vault.with_policy(generation::Policy {
            seen: state_dir.map(|d| generation::Seen::new(&d, &self.vault_dir)),
            allow_slow_kdf,
            can_ask: false,
            confirmed: Default::default(),
        }))
    }

    /// `None` when the held identity is still the slot's; otherwise the refusal to send,
    /// after locking (a retired identity is dropped, not kept).
    pub(super) fn check_current(&self) -> Option<Response> {
        let (generation, backend) = {
            let inner = self.inner();
            (inner.generation, inner.backend.clone()?)
        };
        let checked = crate::vault::open_backend(&self.vault_dir, &backend, false)
            .map(Vault::new)
            .and_then(|v| v.ensure_current(generation));
        match checked {
            Ok(()) => None,
            Err(e @ Error::StaleIdentity(_)) => {
                let mut inner = self.inner();
                inner.forget();
                inner.backend = None;
                inner.deadline = None;
                tracing::info!("the vault was rekeyed: locked");
                Some(error_response(e))
            }
            Err(e) => Some(error_response(e)),
        }
    }
}

/// The answer for a vault error: its kind, so the client reports the same error and exit code.
pub(super) fn error_response(e: Error) -> Response {
    // A failure of the vault's own (an unsafe path, a backend error) keeps its next step.
    let hint = e.hint().into_owned();
    let (kind, message, state) = match e {
        Error::WrongPassphrase => (ErrorKind::WrongPassphrase, e.to_string(), None),
        Error::NotInitialized(_) | Error::SlotMissing { .. } => {
            (ErrorKind::NotFound, "no vault here".into(), None)
        }
        Error::Tampered { detail, .. } => (ErrorKind::Tampered, detail, None),
        Error::SlotBounds(m) => (ErrorKind::Tampered, m, None),
        Error::StaleIdentity(m) => (ErrorKind::Stale, m, None),
        Error::SlowKdf(m) => (ErrorKind::SlowKdf, m, None),
        Error::RolledBack { detail, state, .. } => (ErrorKind::RolledBack, detail, Some(state)),
        other => (ErrorKind::Other, other.to_string(), None),
    };
    Response::Error {
        kind,
        message,
        state,
        hint: (kind == ErrorKind::Other).then_some(hint),
    }
}
