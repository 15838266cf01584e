//! The passphrase slot: an age file whose plaintext is the master identity and whose only
//! stanza is a custom recipient type, `vault-argon2id`, wrapping the file key under a key
//! derived from the passphrase with Argon2id:
//!
//! ```text
//! -> vault-argon2id v19 <base64 salt (16 bytes)> <m KiB> <t> <p> [g<generation>]
//! <base64 ChaCha20-Poly1305(key, file key)>
//! ```
//!
//! The generation (issue 13, points 2 and 4) counts rekeys: absent (older slots, and every
//! slot until the first rekey) it is 0, so a release without it still opens those; `vault
//! rekey` writes `g1`, `g2`, ... It is in the header, so it is read without the passphrase (an
//! agent re-checks it before every seal) and authenticated by the header MAC once the slot
//! is opened.
//!
//! The Argon2 salt is a fixed label followed by the random salt, as age's scrypt stanza does.
//! The parameters are bounds-checked before the KDF runs, because a tampered stanza can only
//! be detected after it.

use std::collections::HashSet;
use std::str::FromStr;
use std::time::{Duration, Instant};

use crate::secret::Secret;
use age_core::format::{FileKey, Stanza, FILE_KEY_BYTES};
use age_core::primitives::{aead_decrypt, aead_encrypt};
use base64::prelude::{Engine as _, BASE64_STANDARD_NO_PAD};
use rand::RngCore;
use secrecy::ExposeSecret;
use zeroize::Zeroizing;

use super::crypto::{encrypt, header_error, read_plaintext, CryptoError, MasterIdentity};

/// The stanza tag of the passphrase slot.
pub const SLOT_TAG: &str = "vault-argon2id";
/// The Argon2 version in the stanza (0x13 = 19, Argon2 v1.3).
const SLOT_VERSION: &str = "v19";
const SALT_LABEL: &[u8] = b"vault/v1/argon2id-slot";
const SALT_LEN: usize = 16;
const WRAPPED_LEN: usize = FILE_KEY_BYTES + 16;

/// Argon2id cost parameters of a passphrase slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KdfParams {
    /// Memory in KiB.
    pub m_kib: u32,
    /// Passes over memory.
    pub t: u32,
    /// Lanes.
    pub p: u32,
}

impl KdfParams {
    /// RFC 9106's second recommended option: the floor vault never goes below.
    pub const FLOOR: KdfParams = KdfParams {
        m_kib: 64 * 1024,
        t: 3,
        p: 4,
    };
    /// DESIGN.md's default when calibration does not lower it.
    pub const DEFAULT: KdfParams = KdfParams {
        m_kib: 256 * 1024,
        t: 3,
        p: 4,
    };
    /// The most a slot may ask for: checked before any KDF work.
    pub const MAX_M_KIB: u32 = 4 * 1024 * 1024;
    /// Upper bound on passes.
    pub const MAX_T: u32 = 10;
    /// Upper bound on lanes.
    pub const MAX_P: u32 = 16;

    /// Checks the bounds: at least the floor's memory, time and lanes, at most 4 GiB, t 10, p 16.
    pub fn check(&self) -> Result<(), CryptoError> {
        let bad = |what: String| Err(CryptoError::KdfBounds(what));
        if self.m_kib > Self::MAX_M_KIB {
            return bad(format!(
                "memory {} KiB is above 4096 MiB ({} KiB)",
                self.m_kib,
                Self::MAX_M_KIB
            ));
        }
        if self.t > Self::MAX_T {
            return bad(format!("time cost {} is above {}", self.t, Self::MAX_T));
        }
        if self.p > Self::MAX_P {
            return bad(format!("parallelism {} is above {}", self.p, Self::MAX_P));
        }
        if self.m_kib < Self::FLOOR.m_kib || self.t < Self::FLOOR.t || self.p < 1 {
            return bad(format!(
                "m={} MiB t={} p={} is below the floor of 64 MiB, t=3",
                self.m_kib / 1024,
                self.t,
                self.p
            ));
        }
        if self.m_kib < 8 * self.p {
            return bad(format!(
                "memory must be at least 8 KiB per lane (p={})",
                self.p
            ));
        }
        Ok(())
    }

    /// Picks memory so that one derivation takes about `target` on this machine, between the
    /// floor (64 MiB) and the default (256 MiB), keeping t = 3 and p = 4.
    pub fn calibrate(target: Duration) -> KdfParams {
        let probe = KdfParams::FLOOR;
        let start = Instant::now();
        let mut out = Zeroizing::new([0u8; 32]);
        if derive_slot_key(&probe, b"calibration", &[0u8; SALT_LEN], &mut out).is_err() {
            return KdfParams::DEFAULT;
        }
        let per_mib = start.elapsed().as_secs_f64() / 64.0;
        let mib = if per_mib > 0.0 {
            (target.as_secs_f64() / per_mib) as u32
        } else {
            256
        };
        let mib = mib.clamp(64, 256);
        KdfParams {
            m_kib: mib * 1024,
            ..KdfParams::DEFAULT
        }
    }
}

impl std::fmt::Display for KdfParams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Argon2id v1.3 m={} MiB t={} p={}",
            self.m_kib / 1024,
            self.t,
            self.p
        )
    }
}

fn derive_slot_key(
    params: &KdfParams,
    passphrase: &[u8],
    salt: &[u8; SALT_LEN],
    out: &mut [u8; 32],
) -> Result<(), CryptoError> {
    let argon_params = argon2::Params::new(params.m_kib, params.t, params.p, Some(32))
        .map_err(|e| CryptoError::KdfBounds(e.to_string()))?;
    let argon = argon2::Argon2::new(
        argon2::Algorithm::Argon2id,
        argon2::Version::V0x13,
        argon_params,
    );
    let mut full_salt = [0u8; SALT_LABEL.len() + SALT_LEN];
    full_salt[..SALT_LABEL.len()].copy_from_slice(SALT_LABEL);
    full_salt[SALT_LABEL.len()..].copy_from_slice(salt);
    argon
        .hash_password_into(passphrase, &full_salt, out)
        .map_err(|e| CryptoError::KdfBounds(e.to_string()))
}

/// The age recipient that wraps a file key under an Argon2id-derived key.
struct SlotRecipient<'a> {
    passphrase: &'a Secret,
    params: KdfParams,
    generation: u64,
}

impl age::Recipient for SlotRecipient<'_> {
    fn wrap_file_key(
        &self,
        file_key: &FileKey,
    ) -> Result<(Vec<Stanza>, HashSet<String>), age::EncryptError> {
        let mut salt = [0u8; SALT_LEN];
        rand::rngs::OsRng.fill_bytes(&mut salt);
        let mut key = Zeroizing::new([0u8; 32]);
        derive_slot_key(
            &self.params,
            self.passphrase.expose().as_bytes(),
            &salt,
            &mut key,
        )
        .map_err(|e| age::EncryptError::Io(std::io::Error::other(e.to_string())))?;
        let body = aead_encrypt(&key, file_key.expose_secret());
        let mut args = vec![
            SLOT_VERSION.into(),
            BASE64_STANDARD_NO_PAD.encode(salt),
            self.params.m_kib.to_string(),
            self.params.t.to_string(),
            self.params.p.to_string(),
        ];
        if self.generation > 0 {
            args.push(format!("g{}", self.generation));
        }
        let stanza = Stanza {
            tag: SLOT_TAG.into(),
            args,
            body,
        };
        // A unique label keeps this stanza alone in its file, as age does for scrypt.
        let mut label = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut label);
        let label = vault_backends::fs::hex(&label);
        Ok((vec![stanza], HashSet::from([label])))
    }
}

/// A parsed `vault-argon2id` stanza.
#[derive(Debug, PartialEq, Eq)]
pub struct SlotStanza {
    /// Random salt.
    pub salt: [u8; SALT_LEN],
    /// Cost parameters (bounds not yet checked).
    pub params: KdfParams,
    /// How many rekeys made this slot (0 when the stanza has no `g` argument).
    pub generation: u64,
}

impl SlotStanza {
    /// Parses the stanza's arguments strictly (canonical decimal, exact base64, known version).
    pub fn parse(stanza: &Stanza) -> Result<Self, CryptoError> {
        let bad = |what: &str| CryptoError::Malformed(format!("passphrase slot: {what}"));
        if stanza.tag != SLOT_TAG {
            return Err(bad("not a vault-argon2id stanza"));
        }
        let (version, salt, m, t, p, generation) = match stanza.args.as_slice() {
            [version, salt, m, t, p] => (version, salt, m, t, p, None),
            [version, salt, m, t, p, g] => (version, salt, m, t, p, Some(g)),
            _ => return Err(bad("wrong number of stanza arguments")),
        };
        if version != SLOT_VERSION {
            return Err(bad("unknown Argon2 version"));
        }
        let salt_bytes = BASE64_STANDARD_NO_PAD
            .decode(salt)
            .map_err(|_| bad("salt is not base64"))?;
        let salt: [u8; SALT_LEN] = salt_bytes
            .try_into()
            .map_err(|_| bad("salt is not 16 bytes"))?;
        let num = |s: &str| -> Result<u32, CryptoError> {
            if s.is_empty() || s.len() > 10 || !s.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad("a KDF parameter is not a decimal number"));
            }
            if s.len() > 1 && s.starts_with('0') {
                return Err(bad("a KDF parameter has a leading zero"));
            }
            u32::from_str(s).map_err(|_| bad("a KDF parameter is too large"))
        };
        let generation = match generation {
            None => 0,
            Some(g) => g
                .strip_prefix('g')
                .filter(|d| !d.is_empty() && d.len() <= 19 && !d.starts_with('0'))
                .filter(|d| d.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|d| u64::from_str(d).ok())
                .ok_or_else(|| bad("wrong number of stanza arguments (a sixth must be a generation: g1, g2, ...)"))?,
        };
        Ok(SlotStanza {
            salt,
            params: KdfParams {
                m_kib: num(m)?,
                t: num(t)?,
                p: num(p)?,
            },
            generation,
        })
    }
}

/// The identity side of the slot: the passphrase.
struct SlotIdentity<'a> {
    passphrase: &'a Secret,
    /// What went wrong, in more detail than age's error type carries.
    failure: std::cell::RefCell<Option<CryptoError>>,
    /// The parameters of the slot, once parsed.
    params: std::cell::Cell<Option<KdfParams>>,
}

impl SlotIdentity<'_> {
    fn fail(&self, e: CryptoError) -> Option<Result<FileKey, age::DecryptError>> {
        let age_err = match e {
            CryptoError::WrongPassphrase => age::DecryptError::DecryptionFailed,
            _ => age::DecryptError::InvalidHeader,
        };
        *self.failure.borrow_mut() = Some(e);
        Some(Err(age_err))
    }
}

impl age::Identity for SlotIdentity<'_> {
    fn unwrap_stanza(&self, stanza: &Stanza) -> Option<Result<FileKey, age::DecryptError>> {
        self.unwrap_stanzas(std::slice::from_ref(stanza))
    }

    fn unwrap_stanzas(&self, stanzas: &[Stanza]) -> Option<Result<FileKey, age::DecryptError>> {
        // age adds a random "grease" stanza to every header; only ours counts, and there must
        // be exactly one of it.
        let mut ours = stanzas.iter().filter(|s| s.tag == SLOT_TAG);
        let (Some(stanza), None) = (ours.next(), ours.next()) else {
            return self.fail(CryptoError::Malformed(
                "passphrase slot: expected exactly one vault-argon2id stanza".into(),
            ));
        };
        let parsed = match SlotStanza::parse(stanza) {
            Ok(p) => p,
            Err(e) => return self.fail(e),
        };
        // Bounds before any KDF work: a tampered stanza is only detectable after the KDF.
        if let Err(e) = parsed
            .params
            .check()
            .and_then(|()| memory::check(&parsed.params))
        {
            return self.fail(e);
        }
        if stanza.body.len() != WRAPPED_LEN {
            return self.fail(CryptoError::Malformed(
                "passphrase slot: wrapped key has the wrong length".into(),
            ));
        }
        self.params.set(Some(parsed.params));
        let mut key = Zeroizing::new([0u8; 32]);
        if let Err(e) = derive_slot_key(
            &parsed.params,
            self.passphrase.expose().as_bytes(),
            &parsed.salt,
            &mut key,
        ) {
            return self.fail(e);
        }
        match aead_decrypt(&key, FILE_KEY_BYTES, &stanza.body) {
            Ok(mut pt) => {
                let fk = FileKey::init_with_mut(|k| k.copy_from_slice(&pt));
                zeroize::Zeroize::zeroize(&mut pt);
                Some(Ok(fk))
            }
            Err(_) => self.fail(CryptoError::WrongPassphrase),
        }
    }
}

impl MasterIdentity {
    /// Seals this identity into a passphrase slot of generation 0.
    pub fn seal_slot(
        &self,
        passphrase: &Secret,
        params: KdfParams,
    ) -> Result<Vec<u8>, CryptoError> {
        self.seal_slot_at(passphrase, params, 0)
    }

    /// Seals this identity into a passphrase slot of `generation`.
    pub fn seal_slot_at(
        &self,
        passphrase: &Secret,
        params: KdfParams,
        generation: u64,
    ) -> Result<Vec<u8>, CryptoError> {
        params.check()?;
        let recipient = SlotRecipient {
            passphrase,
            params,
            generation,
        };
        let secret = self.to_secret();
        encrypt(&recipient, secret.expose().as_bytes())
            .map_err(|e| CryptoError::Malformed(format!("sealing the slot: {e}")))
    }

    /// Opens a passphrase slot, returning the master identity and the slot's parameters.
    pub fn open_slot(slot: &[u8], passphrase: &Secret) -> Result<(Self, KdfParams), CryptoError> {
        super::crypto::precheck(slot)?;
        let decryptor = age::Decryptor::new_buffered(slot).map_err(header_error)?;
        let identity = SlotIdentity {
            passphrase,
            failure: Default::default(),
            params: Default::default(),
        };
        let reader = match decryptor.decrypt(std::iter::once(&identity as &dyn age::Identity)) {
            Ok(r) => r,
            Err(e) => return Err(identity.failure.take().unwrap_or_else(|| header_error(e))),
        };
        let plaintext = read_plaintext(reader)?;
        let text = std::str::from_utf8(&plaintext)
            .map_err(|_| CryptoError::Malformed("the slot does not hold an age identity".into()))?;
        let master = MasterIdentity::parse(text)?;
        let params = identity.params.get().unwrap_or(KdfParams::DEFAULT);
        Ok((master, params))
    }

    /// Reads the KDF parameters of a slot without running the KDF (for `vault status`).
    pub fn slot_params(slot: &[u8]) -> Result<KdfParams, CryptoError> {
        Ok(Self::slot_header(slot)?.params)
    }

    /// Reads the generation of a slot without running the KDF. Unauthenticated until the
    /// slot is opened: enough to notice that a slot changed under a holder of the identity.
    pub fn slot_generation(slot: &[u8]) -> Result<u64, CryptoError> {
        Ok(Self::slot_header(slot)?.generation)
    }

    /// Parses a slot's stanza line without running the KDF.
    pub fn slot_header(slot: &[u8]) -> Result<SlotStanza, CryptoError> {
        let header = slot
            .split(|&b| b == b'\n')
            .find(|l| l.starts_with(b"-> "))
            .ok_or_else(|| CryptoError::Malformed("passphrase slot: no stanza".into()))?;
        let line = std::str::from_utf8(&header[3..])
            .map_err(|_| CryptoError::Malformed("passphrase slot: bad stanza".into()))?;
        let mut parts = line.split(' ');
        let tag = parts.next().unwrap_or_default().to_owned();
        let stanza = Stanza {
            tag,
            args: parts.map(str::to_owned).collect(),
            body: vec![],
        };
        SlotStanza::parse(&stanza)
    }
}

pub mod memory;
#[cfg(test)]
mod tests;
