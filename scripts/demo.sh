#!/usr/bin/env bash
# The main job, from nothing: build vault, make a vault in a temp dir, add a key, use it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cargo build --release --locked -q
VAULT=$PWD/target/release/vault
WORK=$(mktemp -d "${TMPDIR:-/tmp}/vault-demo.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
export VAULT_DIR=$WORK/vault
umask 077
printf 'demo passphrase\n' > "$WORK/pass"      # a file the demo owns; never argv
export VAULT_PASSPHRASE_FILE=$WORK/pass

echo "== vault init"
"$VAULT" init --kdf-memory 64
echo "== vault add demo --env"
AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY \
  "$VAULT" add demo --env
echo "== vault list"
"$VAULT" list
echo "== on disk (age ciphertext only)"
ls -l "$VAULT_DIR"; head -c 120 "$VAULT_DIR/key.demo.age" | head -2; echo
echo "== vault export demo --format credential-process"
"$VAULT" export demo --format credential-process | sed -E 's/("SecretAccessKey":")[^"]{4}[^"]*/\1xxxx.../'
