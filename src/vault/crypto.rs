//! The one module that touches age and Argon2id.
//!
//! - The *master identity* is a random age X25519 identity. Every item is a standard age file
//!   encrypted to it, so `age -d -i master.txt item.age` recovers any item.
//! - The *passphrase slot* is an age file whose plaintext is the master identity and whose only
//!   stanza is a custom recipient type, `vault-argon2id`, wrapping the file key under a key
//!   derived from the passphrase with Argon2id:
//!
//!   ```text
//!   -> vault-argon2id v19 <base64 salt (16 bytes)> <m KiB> <t> <p>
//!   <base64 ChaCha20-Poly1305(key, file key)>
//!   ```
//!
//!   The Argon2 salt is a fixed label followed by the random salt, as age's scrypt stanza does.
//!   The parameters are bounds-checked before the KDF runs, because a tampered stanza can only
//!   be detected after it.

use std::collections::HashSet;
use std::io::{Read, Write};
use std::str::FromStr;
use std::time::{Duration, Instant};

use age_core::format::{FileKey, Stanza, FILE_KEY_BYTES};
use age_core::primitives::{aead_decrypt, aead_encrypt};
use base64::prelude::{Engine as _, BASE64_STANDARD_NO_PAD};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use zeroize::Zeroizing;

/// The stanza tag of the passphrase slot.
pub const SLOT_TAG: &str = "vault-argon2id";
/// The Argon2 version in the stanza (0x13 = 19, Argon2 v1.3).
const SLOT_VERSION: &str = "v19";
const SALT_LABEL: &[u8] = b"vault/v1/argon2id-slot";
const SALT_LEN: usize = 16;
const WRAPPED_LEN: usize = FILE_KEY_BYTES + 16;

/// Longest plaintext an item may decrypt to; far above any real item, far below trouble.
const MAX_PLAINTEXT: u64 = 1 << 20;

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
                "memory {} MiB is above 4096 MiB",
                self.m_kib / 1024
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
        if derive(&probe, b"calibration", &[0u8; SALT_LEN], &mut out).is_err() {
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

/// Errors of sealing and opening.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CryptoError {
    /// The passphrase does not open the slot (or the slot's salt/parameters were altered,
    /// which is indistinguishable by design).
    #[error("wrong passphrase")]
    WrongPassphrase,
    /// The slot asks for KDF parameters out of bounds.
    #[error("the passphrase slot's KDF parameters are out of bounds: {0}")]
    KdfBounds(String),
    /// The bytes are not a well-formed age file of the expected shape.
    #[error("{0}")]
    Malformed(String),
    /// The age file is well-formed but fails authentication.
    #[error("{0}")]
    Tampered(String),
}

fn derive(
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
    passphrase: &'a SecretString,
    params: KdfParams,
}

impl age::Recipient for SlotRecipient<'_> {
    fn wrap_file_key(
        &self,
        file_key: &FileKey,
    ) -> Result<(Vec<Stanza>, HashSet<String>), age::EncryptError> {
        let mut salt = [0u8; SALT_LEN];
        rand::rngs::OsRng.fill_bytes(&mut salt);
        let mut key = Zeroizing::new([0u8; 32]);
        derive(
            &self.params,
            self.passphrase.expose_secret().as_bytes(),
            &salt,
            &mut key,
        )
        .map_err(|e| age::EncryptError::Io(std::io::Error::other(e.to_string())))?;
        let body = aead_encrypt(&key, file_key.expose_secret());
        let stanza = Stanza {
            tag: SLOT_TAG.into(),
            args: vec![
                SLOT_VERSION.into(),
                BASE64_STANDARD_NO_PAD.encode(salt),
                self.params.m_kib.to_string(),
                self.params.t.to_string(),
                self.params.p.to_string(),
            ],
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
}

impl SlotStanza {
    /// Parses the stanza's arguments strictly (canonical decimal, exact base64, known version).
    pub fn parse(stanza: &Stanza) -> Result<Self, CryptoError> {
        let bad = |what: &str| CryptoError::Malformed(format!("passphrase slot: {what}"));
        if stanza.tag != SLOT_TAG {
            return Err(bad("not a vault-argon2id stanza"));
        }
        let [version, salt, m, t, p] = stanza.args.as_slice() else {
            return Err(bad("wrong number of stanza arguments"));
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
        Ok(SlotStanza {
            salt,
            params: KdfParams {
                m_kib: num(m)?,
                t: num(t)?,
                p: num(p)?,
            },
        })
    }
}

/// The identity side of the slot: the passphrase.
struct SlotIdentity<'a> {
    passphrase: &'a SecretString,
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
        if let Err(e) = parsed.params.check() {
            return self.fail(e);
        }
        if stanza.body.len() != WRAPPED_LEN {
            return self.fail(CryptoError::Malformed(
                "passphrase slot: wrapped key has the wrong length".into(),
            ));
        }
        self.params.set(Some(parsed.params));
        let mut key = Zeroizing::new([0u8; 32]);
        if let Err(e) = derive(
            &parsed.params,
            self.passphrase.expose_secret().as_bytes(),
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

/// The master identity: decrypts every item. Zeroed on drop (age's X25519 secret is).
pub struct MasterIdentity(age::x25519::Identity);

impl std::fmt::Debug for MasterIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterIdentity([REDACTED])")
    }
}

impl MasterIdentity {
    /// A fresh random identity.
    pub fn generate() -> Self {
        MasterIdentity(age::x25519::Identity::generate())
    }

    /// The `AGE-SECRET-KEY-1...` string, for the recovery command only.
    pub fn to_secret_string(&self) -> SecretString {
        SecretString::from(self.0.to_string().expose_secret().to_owned())
    }

    /// Parses an `AGE-SECRET-KEY-1...` string.
    pub fn parse(s: &str) -> Result<Self, CryptoError> {
        age::x25519::Identity::from_str(s.trim())
            .map(MasterIdentity)
            .map_err(|_| CryptoError::Malformed("the slot does not hold an age identity".into()))
    }

    /// Seals an item's plaintext as a standard age file to this identity's recipient.
    pub fn seal(&self, plaintext: &[u8]) -> Vec<u8> {
        let recipient = self.0.to_public();
        encrypt(&recipient, plaintext).expect("X25519 encryption to a Vec cannot fail")
    }

    /// Opens an item sealed by [`MasterIdentity::seal`].
    pub fn open(&self, ciphertext: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        let decryptor = age::Decryptor::new_buffered(ciphertext).map_err(header_error)?;
        let reader = decryptor
            .decrypt(std::iter::once(&self.0 as &dyn age::Identity))
            .map_err(|e| match e {
                age::DecryptError::NoMatchingKeys => CryptoError::Tampered(
                    "it was not sealed to this vault's master key (or its header was altered)"
                        .into(),
                ),
                other => header_error(other),
            })?;
        read_plaintext(reader)
    }

    /// Seals this identity into a passphrase slot.
    pub fn seal_slot(
        &self,
        passphrase: &SecretString,
        params: KdfParams,
    ) -> Result<Vec<u8>, CryptoError> {
        params.check()?;
        let recipient = SlotRecipient { passphrase, params };
        let secret = self.0.to_string();
        encrypt(&recipient, secret.expose_secret().as_bytes())
            .map_err(|e| CryptoError::Malformed(format!("sealing the slot: {e}")))
    }

    /// Opens a passphrase slot, returning the master identity and the slot's parameters.
    pub fn open_slot(
        slot: &[u8],
        passphrase: &SecretString,
    ) -> Result<(Self, KdfParams), CryptoError> {
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
        Ok(SlotStanza::parse(&stanza)?.params)
    }
}

fn encrypt(recipient: &dyn age::Recipient, plaintext: &[u8]) -> Result<Vec<u8>, age::EncryptError> {
    let encryptor = age::Encryptor::with_recipients(std::iter::once(recipient))?;
    let mut out = Vec::with_capacity(plaintext.len() + 256);
    let mut writer = encryptor.wrap_output(&mut out)?;
    writer.write_all(plaintext)?;
    writer.finish()?;
    Ok(out)
}

fn read_plaintext(reader: impl Read) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let mut out = Zeroizing::new(Vec::with_capacity(4096));
    reader
        .take(MAX_PLAINTEXT + 1)
        .read_to_end(&mut out)
        .map_err(|e| {
            CryptoError::Tampered(format!(
                "its payload fails authentication or is truncated ({e})"
            ))
        })?;
    if out.len() as u64 > MAX_PLAINTEXT {
        return Err(CryptoError::Malformed(
            "the item is larger than 1 MiB".into(),
        ));
    }
    Ok(out)
}

fn header_error(e: age::DecryptError) -> CryptoError {
    match e {
        age::DecryptError::InvalidMac => {
            CryptoError::Tampered("its header MAC does not match (the file was altered)".into())
        }
        age::DecryptError::DecryptionFailed | age::DecryptError::KeyDecryptionFailed => {
            CryptoError::Tampered("it fails authentication (the file was altered)".into())
        }
        age::DecryptError::InvalidHeader | age::DecryptError::UnknownFormat => {
            CryptoError::Malformed("it is not a well-formed age file".into())
        }
        age::DecryptError::Io(e) => {
            CryptoError::Malformed(format!("it is truncated or not an age file ({e})"))
        }
        other => CryptoError::Malformed(format!("it cannot be decrypted: {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn pass(s: &str) -> SecretString {
        SecretString::from(s.to_owned())
    }

    #[test]
    fn slot_round_trip_and_wrong_passphrase() {
        let master = MasterIdentity::generate();
        let slot = master
            .seal_slot(&pass("hunter2"), KdfParams::FLOOR)
            .unwrap();
        let (opened, params) = MasterIdentity::open_slot(&slot, &pass("hunter2")).unwrap();
        assert_eq!(params, KdfParams::FLOOR);
        assert_eq!(
            opened.to_secret_string().expose_secret(),
            master.to_secret_string().expose_secret()
        );
        assert!(matches!(
            MasterIdentity::open_slot(&slot, &pass("hunter3")),
            Err(CryptoError::WrongPassphrase)
        ));
        assert_eq!(
            MasterIdentity::slot_params(&slot).unwrap(),
            KdfParams::FLOOR
        );
    }

    #[test]
    fn slot_text_does_not_contain_the_identity() {
        let master = MasterIdentity::generate();
        let slot = master.seal_slot(&pass("pw"), KdfParams::FLOOR).unwrap();
        let secret = master.to_secret_string();
        let needle = secret.expose_secret().as_bytes();
        assert!(!slot.windows(needle.len()).any(|w| w == needle));
        // Nor the recipient, which is as secret as the identity.
        let recipient = master.0.to_public().to_string();
        assert!(!slot
            .windows(recipient.len())
            .any(|w| w == recipient.as_bytes()));
    }

    #[test]
    fn oversized_params_are_refused_before_the_kdf() {
        let master = MasterIdentity::generate();
        let slot = master.seal_slot(&pass("pw"), KdfParams::FLOOR).unwrap();
        // Rewrite m=65536 into 5 GiB: must fail at once.
        let at = slot.windows(7).position(|w| w == b" 65536 ").unwrap();
        let forged = [&slot[..at], &b" 5242880 "[..], &slot[at + 7..]].concat();
        let start = Instant::now();
        let err = MasterIdentity::open_slot(&forged, &pass("pw")).unwrap_err();
        assert!(matches!(err, CryptoError::KdfBounds(_)), "{err:?}");
        assert!(start.elapsed() < Duration::from_millis(50));
    }

    #[test]
    fn bounds() {
        assert!(KdfParams::FLOOR.check().is_ok());
        assert!(KdfParams::DEFAULT.check().is_ok());
        for bad in [
            KdfParams {
                m_kib: 32 * 1024,
                ..KdfParams::FLOOR
            },
            KdfParams {
                t: 2,
                ..KdfParams::FLOOR
            },
            KdfParams {
                p: 0,
                ..KdfParams::FLOOR
            },
            KdfParams {
                t: 11,
                ..KdfParams::FLOOR
            },
            KdfParams {
                p: 17,
                ..KdfParams::FLOOR
            },
            KdfParams {
                m_kib: KdfParams::MAX_M_KIB + 1,
                ..KdfParams::FLOOR
            },
        ] {
            assert!(bad.check().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn every_flipped_or_truncated_item_byte_is_refused() {
        let master = MasterIdentity::generate();
        let item = master.seal(br#"{"v":1,"kind":"long-term-key"}"#);
        for i in 0..item.len() {
            for bit in [0x01u8, 0x80] {
                let mut bad = item.clone();
                bad[i] ^= bit;
                assert!(master.open(&bad).is_err(), "flip {bit:#x} at {i} accepted");
            }
        }
        for len in 0..item.len() {
            assert!(
                master.open(&item[..len]).is_err(),
                "truncation at {len} accepted"
            );
        }
        // A different vault's key does not open it.
        assert!(MasterIdentity::generate().open(&item).is_err());
    }

    proptest! {
        #[test]
        fn stanza_parser_never_panics(args in proptest::collection::vec("[ -~]{0,30}", 0..8),
                                      tag in "[a-z-]{0,20}") {
            let _ = SlotStanza::parse(&Stanza { tag, args, body: vec![] });
        }

        #[test]
        fn stanza_parser_round_trips(salt in any::<[u8; 16]>(), m in 0u32.., t in 0u32.., p in 0u32..) {
            let stanza = Stanza {
                tag: SLOT_TAG.into(),
                args: vec![SLOT_VERSION.into(), BASE64_STANDARD_NO_PAD.encode(salt),
                           m.to_string(), t.to_string(), p.to_string()],
                body: vec![],
            };
            let parsed = SlotStanza::parse(&stanza).unwrap();
            prop_assert_eq!(parsed, SlotStanza { salt, params: KdfParams { m_kib: m, t, p } });
        }

        #[test]
        fn slot_opener_never_panics_on_garbage(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let _ = MasterIdentity::open_slot(&bytes, &pass("pw"));
        }

        #[test]
        fn item_opener_never_panics_on_garbage(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let _ = MasterIdentity::generate().open(&bytes);
        }
    }
}
