#!/usr/bin/env bash
# The main job, from nothing: build vault, start a local STS emulator (moto's server mode on
# loopback), make a vault in a temp dir, add a key, write a temp AWS config with a role, and
# run `vault exec demo -- aws sts get-caller-identity` for real.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --demo
echo "== building vault (the demo profile: release with thin LTO; the first build takes several minutes on a small machine)"
cargo build --profile demo --locked
VAULT=$PWD/target/demo/vault
WORK=$(mktemp -d "${TMPDIR:-/tmp}/vault-demo.XXXXXX")
STS_PID=""
cleanup() {
  [ -n "$STS_PID" ] && kill "$STS_PID" 2>/dev/null
  "$VAULT" lock --stop >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT
umask 077

echo "== starting the STS emulator (moto) on loopback"
python3 tests/sts_server.py "$WORK/sts-calls.jsonl" > "$WORK/port" 2>/dev/null &
STS_PID=$!
for _ in $(seq 100); do [ -s "$WORK/port" ] && break; sleep 0.1; done
export AWS_ENDPOINT_URL_STS="http://127.0.0.1:$(head -1 "$WORK/port")"
echo "   AWS_ENDPOINT_URL_STS=$AWS_ENDPOINT_URL_STS"

mkdir -m 700 "$WORK/run"
export XDG_RUNTIME_DIR=$WORK/run      # the demo's own agent socket directory
export VAULT_DIR=$WORK/vault AWS_CONFIG_FILE=$WORK/config AWS_SHARED_CREDENTIALS_FILE=$WORK/credentials
printf 'demo passphrase\n' > "$WORK/pass"      # a file the demo owns; never argv
export VAULT_PASSPHRASE_FILE=$WORK/pass
cat > "$AWS_CONFIG_FILE" <<CONF
[profile demo-src]
region = us-east-1

[profile demo]
source_profile = demo-src
role_arn = arn:aws:iam::123456789012:role/demo
CONF
: > "$AWS_SHARED_CREDENTIALS_FILE"

echo "== vault init"
"$VAULT" init --kdf-memory 64
echo "== vault add demo-src --env"
AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY \
  "$VAULT" add demo-src --env
echo "== vault unlock   (the agent, started on demand by add, already holds the key)"
"$VAULT" unlock
unset VAULT_PASSPHRASE_FILE
echo "== vault status"
"$VAULT" status
echo "== vault exec demo -- aws sts get-caller-identity   (cold: GetSessionToken + AssumeRole)"
"$VAULT" -v exec demo -- aws sts get-caller-identity --output json
echo "== again, warm: answered from the sealed session cache"
"$VAULT" -v exec demo -- aws sts get-caller-identity --query Arn --output text
echo "== STS calls the emulator served: $(grep -c '"Action": "\(GetSessionToken\|AssumeRole\)"' "$WORK/sts-calls.jsonl")"
echo "== vault list"
"$VAULT" list
echo "== on disk: age ciphertext only"
ls -l "$VAULT_DIR"
