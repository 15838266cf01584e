#!/usr/bin/env bash
# The whole test suite, set up from nothing: installs the real parts, then runs every test.
# Usage: bash scripts/test.sh [extra cargo test args]
# As root, the multi-user tests create Unix users named vaulttest-* (a real second user is
# the only honest attacker: root bypasses permission checks); the ones this run created are
# removed when it ends.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
existing=$(getent passwd | cut -d: -f1 | grep '^vaulttest-' || true)
remove_test_users() {
  local u
  for u in $(getent passwd | cut -d: -f1 | grep '^vaulttest-' || true); do
    grep -qx "$u" <<<"$existing" || userdel "$u" 2>/dev/null || true
  done
}
[ "$(id -u)" = 0 ] && trap remove_test_users EXIT
cargo test --workspace --locked "$@"
