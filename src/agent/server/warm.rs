//! The agent's side of the front binary's `warm` request (issue 17), and the plaintexts it
//! keeps so a repeated warm command costs no X25519 unwrap.

use std::sync::Arc;

use zeroize::Zeroizing;

use super::{Agent, Inner, Response, VERSION};
use crate::vault::crypto::{CryptoError, MasterIdentity};

/// Items whose plaintext is kept ([`Inner::opened`]): a few profiles' sessions.
const OPENED: usize = 32;

impl Inner {
    /// Drops the identity and every plaintext kept with it.
    pub(super) fn forget(&mut self) {
        self.master = None;
        self.opened.clear();
    }
}

impl Agent {
    /// Opens `ct` with `master`, from [`Inner::opened`] when the same ciphertext was opened
    /// with the identity still held.
    pub(super) fn open_cached(
        &self,
        master: &Arc<MasterIdentity>,
        ct: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        use sha2::Digest;
        let digest: [u8; 32] = sha2::Sha256::digest(ct).into();
        {
            let inner = self.inner();
            let current = inner
                .master
                .as_ref()
                .is_some_and(|m| Arc::ptr_eq(m, master));
            if let Some((_, pt)) = inner.opened.iter().find(|(d, _)| current && *d == digest) {
                return Ok(pt.clone());
            }
        }
        let pt = master.open(ct)?;
        let mut inner = self.inner();
        if inner
            .master
            .as_ref()
            .is_some_and(|m| Arc::ptr_eq(m, master))
        {
            if inner.opened.len() >= OPENED {
                inner.opened.remove(0);
            }
            inner.opened.push((digest, pt.clone()));
        }
        Ok(pt)
    }

    /// Answers a `warm` request ([`crate::cli::warm`]).
    pub(super) fn warm(
        &self,
        version: u32,
        argv: Vec<String>,
        env: Vec<(String, String)>,
    ) -> Response {
        if version != VERSION {
            return Response::Cold {
                why: format!("protocol v{version}, the agent speaks v{VERSION}"),
            };
        }
        let (master, generation, backend) = {
            let inner = self.inner();
            match (&inner.master, &inner.backend) {
                (Some(m), Some(b)) => (Arc::clone(m), inner.generation, b.clone()),
                _ => {
                    return Response::Cold {
                        why: "the agent is locked".into(),
                    }
                }
            }
        };
        let open = |ct: &[u8]| self.open_cached(&master, ct);
        let held = crate::cli::warm::Held {
            open: &open,
            generation,
            vault_dir: &self.vault_dir,
            backend: &backend,
        };
        let answer = crate::cli::warm::answer(held, argv, env);
        match &answer {
            Response::Cold { why } => tracing::info!("warm request answered cold: {why}"),
            _ => self.touch(),
        }
        answer
    }
}
