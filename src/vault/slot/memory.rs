//! What a slot's KDF may cost on this machine (issue 13, point 15). The bounds in
//! [`KdfParams::check`] allow 4 GiB, t = 10, p = 16, about a minute and 4.2 GB per unlock
//! attempt: a forged slot at those bounds is a denial of service. Two more limits, both
//! checked from the stanza before any KDF work:
//!
//! - **memory**: a slot asking for more than half of this machine's physical memory
//!   (`MemTotal` in `/proc/meminfo`) is refused outright, whatever the user says;
//! - **cost**: a slot whose memory times passes is more than [`FAR_ABOVE`] times the most
//!   `vault init` calibrates (256 MiB, t = 3) runs only once confirmed at a terminal or
//!   allowed by `VAULT_ALLOW_SLOW_KDF=1` ([`crate::vault::Vault::gate_kdf`]).

use super::{CryptoError, KdfParams};

/// How many times init's most expensive calibrated cost a slot may ask for unasked.
pub const FAR_ABOVE: u64 = 4;

/// Memory times passes (KiB-passes).
fn cost(params: &KdfParams) -> u64 {
    u64::from(params.m_kib) * u64::from(params.t)
}

/// Whether `params` is far above what `vault init` picks (see the module docs).
pub fn far_above_init(params: &KdfParams) -> bool {
    cost(params) > FAR_ABOVE * cost(&KdfParams::DEFAULT)
}

/// This machine's physical memory in KiB, when known.
pub fn physical_kib() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Refuses a slot that asks for more than half of this machine's memory.
pub fn check(params: &KdfParams) -> Result<(), CryptoError> {
    match physical_kib() {
        Some(total) if u64::from(params.m_kib) > total / 2 => Err(CryptoError::KdfBounds(format!(
            "memory {} MiB is more than half of this machine's {} MiB",
            params.m_kib / 1024,
            total / 1024
        ))),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_choices_are_not_far_above_and_the_bounds_are() {
        assert!(!far_above_init(&KdfParams::DEFAULT));
        assert!(!far_above_init(&KdfParams::FLOOR));
        let max = KdfParams {
            m_kib: KdfParams::MAX_M_KIB,
            t: KdfParams::MAX_T,
            p: KdfParams::MAX_P,
        };
        assert!(far_above_init(&max));
        assert!(check(&KdfParams::FLOOR).is_ok());
        let all = KdfParams {
            m_kib: u32::MAX,
            ..KdfParams::FLOOR
        };
        if physical_kib().is_some_and(|k| k < u64::from(u32::MAX) * 2) {
            assert!(check(&all).is_err());
        }
    }
}
