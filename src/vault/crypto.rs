//! The master identity: a random age X25519 identity. Every item is a standard age file
//! encrypted to it, so `age -d -i master.txt item.age` recovers any item. This file and
//! `slot.rs` (the passphrase slot) are the only ones that touch age and Argon2id.

use std::io::{Read, Write};
use std::str::FromStr;

use secrecy::ExposeSecret;

use crate::secret::Secret;
use zeroize::Zeroizing;

/// Longest plaintext an item may decrypt to; far above any real item, far below trouble.
const MAX_PLAINTEXT: u64 = 1 << 20;

/// Most recipient stanzas a vault file may have: items and slots have one. age's header
/// parser is quadratic in the stanza count (16k empty stanzas took 30 s), so more are refused
/// before it runs (issue 13, point 11).
pub const MAX_STANZAS: usize = 4;

/// Refuses, before age parses anything, a file larger than any vault file
/// ([`vault_backends::MAX_ITEM`]) or whose header has more than [`MAX_STANZAS`] stanzas.
pub fn precheck(file: &[u8]) -> Result<(), CryptoError> {
    if file.len() as u64 > vault_backends::MAX_ITEM {
        return Err(CryptoError::Malformed(format!(
            "it is {} bytes, more than a vault file can be (64 KiB)",
            file.len()
        )));
    }
    let stanzas = file
        .split(|&b| b == b'\n')
        .take_while(|line| !line.starts_with(b"---"))
        .filter(|line| line.starts_with(b"->"))
        .count();
    if stanzas > MAX_STANZAS {
        return Err(CryptoError::Malformed(format!(
            "it has {stanzas} recipient stanzas; a vault file has one"
        )));
    }
    Ok(())
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
    pub fn to_secret(&self) -> Secret {
        Secret::new(self.0.to_string().expose_secret().to_owned())
    }

    /// Parses an `AGE-SECRET-KEY-1...` string.
    pub fn parse(s: &str) -> Result<Self, CryptoError> {
        age::x25519::Identity::from_str(s.trim())
            .map(MasterIdentity)
            .map_err(|_| CryptoError::Malformed("the slot does not hold an age identity".into()))
    }

    /// The recipient string, as secret as the identity (tests look for leaks of it).
    #[cfg(test)]
    pub(super) fn recipient_text(&self) -> String {
        self.0.to_public().to_string()
    }

    /// Seals an item's plaintext as a standard age file to this identity's recipient.
    pub fn seal(&self, plaintext: &[u8]) -> Vec<u8> {
        let recipient = self.0.to_public();
        encrypt(&recipient, plaintext).expect("X25519 encryption to a Vec cannot fail")
    }

    /// Opens an item sealed by [`MasterIdentity::seal`].
    pub fn open(&self, ciphertext: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        precheck(ciphertext)?;
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
}

pub(super) fn encrypt(
    recipient: &dyn age::Recipient,
    plaintext: &[u8],
) -> Result<Vec<u8>, age::EncryptError> {
    let encryptor = age::Encryptor::with_recipients(std::iter::once(recipient))?;
    let mut out = Vec::with_capacity(plaintext.len() + 256);
    let mut writer = encryptor.wrap_output(&mut out)?;
    writer.write_all(plaintext)?;
    writer.finish()?;
    Ok(out)
}

pub(super) fn read_plaintext(reader: impl Read) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
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

pub(super) fn header_error(e: age::DecryptError) -> CryptoError {
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

    #[test]
    fn many_stanzas_and_huge_files_are_refused_before_parsing() {
        let mut many = b"age-encryption.org/v1\n".to_vec();
        for _ in 0..5 {
            many.extend_from_slice(b"-> x\n\n");
        }
        many.extend_from_slice(b"--- AAAA\n");
        let e = MasterIdentity::generate().open(&many).unwrap_err();
        assert!(e.to_string().contains("5 recipient stanzas"), "{e}");
        let huge = vec![b'a'; 64 * 1024 + 1];
        let e = MasterIdentity::generate().open(&huge).unwrap_err();
        assert!(e.to_string().contains("64 KiB"), "{e}");
    }

    proptest! {
        #[test]
        fn item_opener_never_panics_on_garbage(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let _ = MasterIdentity::generate().open(&bytes);
        }
    }
}
