#!/usr/bin/env bash
# Benchmarks vault's release binary and prints a markdown table: every figure is a measured
# number and its ratio to a baseline measured in the same run. It prints figures only and never
# fails on a threshold (the goal column is for the reader). Usage: bash bench/run.sh
# Knobs: BENCH_RUNS (hyperfine runs, default 5), BENCH_WARMUP (default 1), BENCH_FAST_RUNS (runs
# of the millisecond-scale agent overhead pair, default 300: 5 runs cannot resolve a 3 ms goal),
# BENCH_ONLY (figures to
# run, space-separated names without fig_, e.g. BENCH_ONLY="scale backends"; default all; agent
# reuses the files of paths, so name both).
# Progress goes to stderr; the report (system, then the table) to stdout at the end.
# The STS figures run against moto's server mode on loopback (tests/sts_server.py, as the tests
# and the demo do), never AWS; the comparison with awsume pip-installs it when it is missing.
# The backend figures set up real pass + GnuPG, a private D-Bus bus with gnome-keyring and the
# kernel keyring (under `keyctl session -`), all headless; cleanup ends them and empties both
# keyrings of the bench's items.
# The floor figure (fig_floor) builds bench/floor.c and bench/interleave.c with the system cc at
# bench time and counts instructions with valgrind's callgrind; the bench installs gcc and
# valgrind itself when they are missing (the tests do not need them). It runs BENCH_FAST_RUNS
# interleaved rounds.
set -euo pipefail
shopt -s inherit_errexit
cd "$(dirname "$0")/.." || exit 1
bash scripts/setup.sh
# The bench's own tools, beyond what the tests need: a C compiler for the floor (bench/floor.c)
# and valgrind for instruction counts (fig_floor).
bench_apt=()
command -v cc >/dev/null 2>&1 || bench_apt+=(gcc libc6-dev)
command -v valgrind >/dev/null 2>&1 || bench_apt+=(valgrind)
if [ ${#bench_apt[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${bench_apt[@]}" >/dev/null || printf 'bench: could not install %s\n' "${bench_apt[*]}" >&2
fi
cargo build --release --locked -q
VAULT=$PWD/target/release/vault CORE=$PWD/target/release/vault-core
RUNS=${BENCH_RUNS:-5} WARMUP=${BENCH_WARMUP:-1} FAST_RUNS=${BENCH_FAST_RUNS:-300}
STARTED=$(date -u '+%Y-%m-%d %H:%M:%S UTC') LOAD=$(cut -d' ' -f1-3 /proc/loadavg)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/vault-bench.XXXXXX")
STS_PID="" GPG_DIR="" KEYRING_PID="" KEYRING_IN="" FLOOR_PID=""
# stop PID: ends a background job of this script and reaps it.
stop() {
  kill "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}
cleanup() {
  local d
  # fig_backends' vaults that a failed run left behind: move a keyutils vault's items out of the
  # user's persistent kernel keyring, and stop their agents.
  for d in "$WORK"/be-*/; do
    [ -d "$d" ] || continue
    d=${d%/} # the agent's socket is named after the vault dir exactly as it was given
    if [[ $d == */be-keychain-keyutils ]]; then
      VAULT_DIR=$d keyctl session - "$VAULT" migrate --to file >/dev/null 2>&1 || true
    fi
    VAULT_DIR=$d "$VAULT" lock --stop >/dev/null 2>&1 || true
  done
  if [ -n "$STS_PID" ]; then stop "$STS_PID"; fi
  if [ -n "$FLOOR_PID" ]; then stop "$FLOOR_PID"; fi
  if [ -n "$KEYRING_PID" ]; then # EOF on its stdin: rp_keyring_serve ends both daemons
    exec {KEYRING_IN}>&- 2>/dev/null || true
    wait "$KEYRING_PID" 2>/dev/null || true
  fi
  if [ -n "$GPG_DIR" ]; then
    GNUPGHOME=$GPG_DIR/g gpgconf --kill gpg-agent 2>/dev/null || true
    rm -rf "$GPG_DIR"
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT
umask 077
# Every figure measures an in-process unlock (one Argon2id run per command): no unlock agent is
# used or started (VAULT_NO_AGENT is ignored by builds without one), and any socket dir is ours.
export VAULT_NO_AGENT=1 XDG_RUNTIME_DIR=$WORK/run
mkdir "$XDG_RUNTIME_DIR"
printf 'bench passphrase\n' >"$WORK/pass" # from a file, never argv
export VAULT_PASSPHRASE_FILE=$WORK/pass
export VAULT_DIR=$WORK/none # each figure points it at its own vault
# No ~/.aws: the AWS config and credentials files are missing, hence empty.
export AWS_CONFIG_FILE=$WORK/aws-config AWS_SHARED_CREDENTIALS_FILE=$WORK/aws-credentials
SALT=benchsalt16bytes       # the argon2 CLI's salt: 16 bytes, as vault's random one
PY=$(python3 -c 'import sys; print(sys.executable)') # the interpreter itself, not a pyenv shim
KEY_ID=AKIAIOSFODNN7EXAMPLE SECRET=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY # fake, for moto

# --- helpers -------------------------------------------------------------------------------

say() { printf 'bench: %s\n' "$*" >&2; }
q() { printf '%q' "$1"; }
# qa WORD...: the words quoted and joined by spaces, for hyperfine's command strings.
qa() {
  local w s=""
  for w in "$@"; do s+="${s:+ }$(q "$w")"; done
  printf '%s' "$s"
}

# hf NAME [hyperfine options] COMMAND...: prints "mean sd" in ms for each command, one a line.
hf() {
  local name=$1
  shift
  hyperfine --style none --warmup "$WARMUP" --runs "$RUNS" --export-json "$WORK/$name.json" "$@" >&2
  python3 - "$WORK/$name.json" <<'PY'
import json, sys
for r in json.load(open(sys.argv[1]))["results"]:
    print(f'{r["mean"] * 1e3:.6g} {(r["stddev"] or 0) * 1e3:.6g}')
PY
}

# rss COMMAND...: peak RSS of one run in MiB (stdin: the passphrase file; stdout discarded).
rss() {
  /usr/bin/time -f %M -o "$WORK/rss" "$@" <"$WORK/pass" >/dev/null
  awk 'END { printf "%.1f\n", $1 / 1024 }' "$WORK/rss"
}

# argon2_cmd MIB: Debian's reference argon2 CLI at m=MIB MiB, t=3, p=4, 32-byte raw output.
argon2_cmd() { printf 'argon2 %s -id -t 3 -k %d -p 4 -l 32 -r' "$SALT" $(($1 * 1024)); }

# vault_with MIB: makes (once) a vault at m=MIB MiB, t=3, p=4 holding one fake key under the
# profile "bench", and prints its directory.
vault_with() {
  local dir=$WORK/vault-$1
  if [ ! -d "$dir" ]; then
    VAULT_DIR=$dir "$VAULT" init --kdf-memory "$1" --kdf-time 3 --kdf-parallelism 4
    VAULT_DIR=$dir AWS_ACCESS_KEY_ID=$KEY_ID AWS_SECRET_ACCESS_KEY=$SECRET "$VAULT" add bench --env
  fi
  printf '%s\n' "$dir"
}

# row FIGURE UNIT VALUE BASELINE BASELINE_VALUE [GOAL]: prints one table row. VALUE and
# BASELINE_VALUE are "mean" or "mean sd"; the ratio is VALUE / BASELINE_VALUE on the means.
row() {
  awk -v f="$1" -v u="$2" -v v="$3" -v b="$4" -v bv="$5" -v g="${6:--}" '
    function num(x) { return sprintf(x >= 100 ? "%.0f" : x >= 10 ? "%.1f" : "%.2f", x) }
    function val(x) { return x ~ /^[0-9]+$/ ? x : num(x) } # counts stay integers
    function show(s,  p, n) { n = split(s, p, " "); return val(p[1]) (n > 1 ? " ± " val(p[2]) : "") " " u }
    BEGIN { split(v, a, " "); split(bv, c, " ")
      printf "| %s | %s | %s: %s | %s | %s |\n", f, show(v), b, show(bv), c[1] == 0 ? "-" : num(a[1] / c[1]), g }'
}

# skip_row FIGURE WHY: a row for a figure that could not be measured in this run.
skip_row() { printf '| %s | not measured: %s | - | - | - |\n' "$1" "$2"; }

# ms_diff A B: A - B in ms, rounded like `row` does.
ms_diff() { awk -v a="${1%% *}" -v b="${2%% *}" 'BEGIN { d = a - b; x = d < 0 ? -d : d
  printf(x >= 100 ? "%.0f" : x >= 10 ? "%.1f" : "%.2f", d) }'; }

# --- the STS emulator and the vaults that use it ---------------------------------------------

STS_LOG=$WORK/sts-calls.jsonl STS_CONFIG=$WORK/sts-config STS_URL=""
cat >"$STS_CONFIG" <<'CONF'
[profile demo-src]
region = us-east-1

[profile demo]
source_profile = demo-src
role_arn = arn:aws:iam::123456789012:role/demo

[profile hop2]
source_profile = demo
role_arn = arn:aws:iam::123456789012:role/hop2
CONF

# sts_start: starts moto's server mode on a free loopback port (killed by cleanup) and sets
# STS_URL. It appends one JSON line per API call to STS_LOG.
sts_start() {
  : >"$STS_LOG"
  "$PY" tests/sts_server.py "$STS_LOG" >"$WORK/sts-port" 2>"$WORK/sts-stderr" &
  STS_PID=$!
  local _
  for _ in $(seq 600); do
    [ -s "$WORK/sts-port" ] && break
    if ! kill -0 "$STS_PID" 2>/dev/null; then
      cat "$WORK/sts-stderr" >&2
      say "the STS emulator (tests/sts_server.py) exited before printing its port"
      exit 1
    fi
    sleep 0.1
  done
  [ -s "$WORK/sts-port" ] || { say "the STS emulator printed no port in 60 s"; exit 1; }
  STS_URL=http://127.0.0.1:$(head -1 "$WORK/sts-port")
  say "STS emulator: $STS_URL (pid $STS_PID)"
}

# sts_calls: GetSessionToken and AssumeRole calls the emulator has served so far.
sts_calls() { grep -c '"Action": "\(GetSessionToken\|AssumeRole\)"' "$STS_LOG" || true; }

# calls_of COMMAND...: runs COMMAND (stdout to stderr) and prints the STS calls it made.
calls_of() {
  local n
  n=$(sts_calls)
  "$@" >&2
  echo $(($(sts_calls) - n))
}

# sts_vault MIB: makes (once) a vault at m=MIB MiB, t=3, p=4 holding the fake key of profile
# "demo-src", and prints its directory. Use it with AWS_CONFIG_FILE=$STS_CONFIG.
sts_vault() {
  local dir=$WORK/sts-vault-$1
  if [ ! -d "$dir" ]; then
    VAULT_DIR=$dir "$VAULT" init --kdf-memory "$1" --kdf-time 3 --kdf-parallelism 4 >&2
    VAULT_DIR=$dir AWS_ACCESS_KEY_ID=$KEY_ID AWS_SECRET_ACCESS_KEY=$SECRET \
      "$VAULT" add demo-src --env >&2
  fi
  printf '%s\n' "$dir"
}

# --- real backends for fig_backends ---------------------------------------------------------
# Each *_setup function runs in this shell (it sets globals that cleanup uses); when the part is
# missing or does not start, it sets WHY and returns 1, and its backends are not measured.
WHY=""

# The setup of pass + GnuPG, the helper and gnome-keyring is the tests' own
# (scripts/lib/real-parts.sh); these wrappers export what the figures need and record what
# cleanup must stop.
# shellcheck source=../scripts/lib/real-parts.sh
. scripts/lib/real-parts.sh

# gpg_setup: a throwaway GnuPG home under /tmp (gpg-agent's socket path must fit 108 bytes)
# with an unprotected key and a git-tracked password store for it; exports GNUPGHOME and
# PASSWORD_STORE_DIR.
gpg_setup() {
  GPG_DIR=$(mktemp -d /tmp/vb.XXXXXX)
  rp_pass_store "$GPG_DIR" || { WHY=$RP_WHY; return 1; }
  export GNUPGHOME=$GPG_DIR/g PASSWORD_STORE_DIR=$GPG_DIR/s
}

# helper_setup: vault-backend-pass -> Debian's docker-credential-pass, on PATH (the helper:pass
# backend; it also needs gpg_setup's store).
helper_setup() {
  rp_helper_link "$WORK" || { WHY=$RP_WHY; return 1; }
  export PATH=$WORK/bin:$PATH
}

# keyring_setup: rp_keyring_serve as a coprocess (a private D-Bus bus and gnome-keyring's Secret
# Service, its login keyring in $WORK/kr); exports DBUS_SESSION_BUS_ADDRESS. Cleanup closes the
# coprocess's stdin, which ends both daemons.
keyring_setup() {
  local address=""
  coproc KEYRING { rp_keyring_serve "$WORK/kr" bench-keyring-pw || echo "fail $RP_WHY"; }
  KEYRING_PID=$KEYRING_PID KEYRING_IN=${KEYRING[1]}
  read -r -t 30 address <&"${KEYRING[0]}" || true
  if [[ $address != unix:* ]]; then
    WHY=${address#fail }
    WHY=${WHY:-"the Secret Service did not start in 30 s"}
    return 1
  fi
  export DBUS_SESSION_BUS_ADDRESS=$address
}

# keyutils_setup: checks that `keyctl session -` works here (some containers forbid keyrings).
keyutils_setup() {
  command -v keyctl >/dev/null || { WHY="\`keyctl\` is missing"; return 1; }
  keyctl session - true 2>/dev/null || { WHY="\`keyctl session - true\` failed"; return 1; }
}

# --- figures: one function each, printing its rows with `row` ---------------------------------

# Unlock: `vault recover` runs exactly one Argon2id KDF at KdfParams::DEFAULT (m=256 MiB, t=3,
# p=4) and one age decrypt; the baseline is the reference argon2 CLI at the same parameters.
# Both run through hyperfine's shell (the CLI reads the password on stdin), which it subtracts.
fig_unlock() {
  local -x VAULT_DIR
  VAULT_DIR=$(vault_with 256)
  say "unlock: vault recover vs argon2 CLI, m=256 MiB t=3 p=4"
  local out
  out=$(hf unlock "$(q "$VAULT") recover" "$(argon2_cmd 256) < $(q "$WORK/pass")")
  row "unlock: \`vault recover\`, Argon2id m=256 MiB t=3 p=4" ms "${out%%$'\n'*}" \
    "\`argon2\` CLI, same params" "${out##*$'\n'}" "≤ 0.90"
}

# Export at m=MIB MiB: wall time of `vault export --format credential-process` (no shell) vs
# plain `true`, and its peak RSS vs the argon2 CLI's at the same parameters. Where export gets an
# STS session by default, --no-session keeps it offline: one unlock, then the stored key.
EXPORT=(export bench --format credential-process)
[[ $("$VAULT" export --help) == *--no-session* ]] && EXPORT+=(--no-session)
fig_export() {
  local mib=$1 out vault_rss argon2_rss label="\`vault ${EXPORT[*]}\`"
  local -x VAULT_DIR
  VAULT_DIR=$(vault_with "$mib")
  say "export: m=$mib MiB, wall time and peak RSS"
  out=$(hf "export-$mib" -N "$(q "$VAULT") ${EXPORT[*]}" true)
  # shellcheck disable=SC2046 # argon2_cmd's words are meant to split
  argon2_rss=$(rss $(argon2_cmd "$mib"))
  vault_rss=$(rss "$VAULT" "${EXPORT[@]}")
  row "$label wall time, m=$mib MiB" ms "${out%%$'\n'*}" "\`true\`" "${out##*$'\n'}"
  row "$label peak RSS, m=$mib MiB" MiB "$vault_rss" "\`argon2\` CLI, same params" "$argon2_rss"
}

# Warm exec at m=MIB MiB: `vault exec demo -- true` (demo = AssumeRole from demo-src's stored
# key) after one cold exec filled the session cache, vs plain `true`, both without a shell; and
# its peak RSS (vault execs into `true`; the kernel keeps the high-water mark across exec). No
# agent, so each exec still unlocks in-process: one Argon2id run at m=MIB MiB.
fig_exec() {
  local mib=$1 out before calls vault_ms true_ms
  local -x VAULT_DIR AWS_CONFIG_FILE=$STS_CONFIG AWS_ENDPOINT_URL_STS=$STS_URL
  VAULT_DIR=$(sts_vault "$mib")
  say "exec: warm \`vault exec demo -- true\` vs \`true\`, m=$mib MiB"
  "$VAULT" exec demo -- true # cold: GetSessionToken + AssumeRole, sealed into the cache
  before=$(sts_calls)
  out=$(hf "exec-$mib" -N "$(q "$VAULT") exec demo -- true" true)
  calls=$(($(sts_calls) - before))
  vault_ms=${out%%$'\n'*} true_ms=${out##*$'\n'}
  row "warm \`vault exec demo -- true\`, no agent: Argon2id m=$mib MiB per exec; overhead vs \`true\` $(ms_diff "$vault_ms" "$true_ms") ms; $calls STS calls while timed" \
    ms "$vault_ms" "\`true\`" "$true_ms"
  row "warm \`vault exec demo -- true\` peak RSS, m=$mib MiB" MiB "$(rss "$VAULT" exec demo -- true)" \
    "\`true\`" "$(rss true)"
}

# STS calls per exec, counted from the emulator's log (GetSessionToken + AssumeRole), in the m=64
# vault: cold (after `vault clear`) and warm, for demo (one hop) and hop2 (demo's role, then
# hop2's); then 20 concurrent cold `vault exec demo -- true`, which the per-session file lock
# should collapse into one refresh. The baseline of a cold count is the chain's STS steps.
fig_sts() {
  local cold1 warm1 cold2 warm2 n i ok=0 par pids=()
  local -x VAULT_DIR AWS_CONFIG_FILE=$STS_CONFIG AWS_ENDPOINT_URL_STS=$STS_URL
  VAULT_DIR=$(sts_vault 64)
  say "sts: STS calls per exec, cold and warm, one and two hops, 20 in parallel"
  "$VAULT" clear >&2
  cold1=$(calls_of "$VAULT" exec demo -- true)
  warm1=$(calls_of "$VAULT" exec demo -- true)
  "$VAULT" clear >&2
  cold2=$(calls_of "$VAULT" exec hop2 -- true)
  warm2=$(calls_of "$VAULT" exec hop2 -- true)
  "$VAULT" clear >&2
  n=$(sts_calls)
  for i in $(seq 20); do
    "$VAULT" exec demo -- true 2>"$WORK/parallel-$i.err" &
    pids+=($!)
  done
  for i in "${!pids[@]}"; do
    if wait "${pids[$i]}"; then
      ok=$((ok + 1))
    else
      say "parallel exec $((i + 1)) failed: $(cat "$WORK/parallel-$((i + 1)).err")"
    fi
  done
  par=$(($(sts_calls) - n))
  row "STS calls, cold \`vault exec demo\` (after \`vault clear\`)" calls "$cold1" \
    "chain steps (GetSessionToken + AssumeRole)" 2 "2"
  row "STS calls, warm \`vault exec demo\`" calls "$warm1" "cold, same run" "$cold1" "0"
  row "STS calls, cold \`vault exec hop2\` (two-hop chain)" calls "$cold2" \
    "chain steps (GetSessionToken + 2 AssumeRole)" 3 "3"
  row "STS calls, warm \`vault exec hop2\`" calls "$warm2" "cold, same run" "$cold2" "0"
  row "STS calls, 20 parallel cold \`vault exec demo -- true\` (per-session lock)" calls "$par" \
    "one cold exec, same run" "$cold1" "2"
  row "of those 20 parallel execs, exited 0" execs "$ok" "started" 20 "20"
}

# The endpoint of `vault exec --server` (issue 17): 50 concurrent clients (bench/endpoint.py: 50
# processes, each a request every 20 ms on a new connection, as SDKs make) GET /credentials for
# 10 s, then to the next new
# session, across the refreshes of a 12 s AssumeRole session (its margin by the cache's rule:
# half its life; the endpoint renews a lead of 3 s before that), against moto. Every answer
# should be a 200 from memory, no credentials with less than the margin left, and the STS calls
# the refreshes (counted in vault's -v log), not the requests.
fig_endpoint() {
  local before calls refreshes margin f=()
  local -x VAULT_DIR AWS_CONFIG_FILE=$STS_CONFIG AWS_ENDPOINT_URL_STS=$STS_URL
  VAULT_DIR=$(sts_vault 64)
  say "endpoint: 50 clients on \`vault exec --server\` across the refreshes of a 12 s session"
  "$VAULT" exec demo -- true >&2 # the 8 h source session cached: a refresh is one AssumeRole
  before=$(sts_calls)
  if ! "$VAULT" -v exec demo --server --duration 12 -- \
    "$PY" bench/endpoint.py 50 10 "$WORK/endpoint.json" 2>"$WORK/endpoint.log"; then
    cat "$WORK/endpoint.log" >&2
    skip_row "\`vault exec --server\`, 50 clients" "the run failed"
    return 0
  fi
  calls=$(($(sts_calls) - before))
  refreshes=$(grep -c 'credential endpoint: new credentials' "$WORK/endpoint.log" || true)
  margin=$(grep -o 'margin [0-9.]* s' "$WORK/endpoint.log" | awk '{ print $2 }' | sort -n | tail -1)
  read -r -a f < <("$PY" -c 'import json, sys; d = json.load(open(sys.argv[1]))
print(d["responses"], d["ok"], d["p50_ms"], d["p99_ms"], d["max_ms"], d["min_left_s"], d["sessions"])' \
    "$WORK/endpoint.json")
  local label="\`vault exec demo --server --duration 12\`, 50 concurrent clients, ${f[0]} requests, $refreshes fetches (the first and the refreshes), ${f[6]} sessions seen"
  row "$label: responses 200" responses "${f[1]}" "responses" "${f[0]}" "all"
  row "$label: p99 latency (max $(printf '%.1f' "${f[4]}") ms)" ms "${f[3]}" "p50, same run" "${f[2]}" "p99 ≤ 50 ms"
  row "$label: least lifetime left of any credentials handed out" s "${f[5]}" \
    "the cache's refresh margin (largest of the sessions')" "${margin:-0}" "≥ margin (ratio ≥ 1)"
  row "$label: STS calls" calls "$calls" "fetches (vault -v log)" "$refreshes" "= fetches"
}

# awsume_setup: installs awsume from PyPI if it is missing, gives it a home of its own (HOME,
# ~/.aws/config, a plaintext ~/.aws/credentials with demo-src's key, mfa_serial on demo-src so its
# session cache applies), warms that cache with one run, and writes $WORK/awsume-run.sh, which
# sources awsume's shell script as a user's shell does (`awsume demo -s`: prints export lines).
# When awsume cannot be used, prints why on stdout and returns 1.
awsume_setup() {
  local bin home=$WORK/awsume-home out
  if ! "$PY" -c 'import awsume' 2>/dev/null; then
    say "awsume: missing, pip install awsume"
    if ! "$PY" -m pip install -q --disable-pip-version-check awsume >&2; then
      echo "\`pip install awsume\` failed"
      return 1
    fi
  fi
  # The scripts directory itself (not a pyenv shim), so awsume's script finds awsumepy directly.
  bin=$("$PY" -c '
import os, sysconfig
for d in (sysconfig.get_path("scripts"), sysconfig.get_path("scripts", f"{os.name}_user")):
    if all(os.access(os.path.join(d, n), os.X_OK) for n in ("awsume", "awsumepy")):
        print(d)
        break
')
  if [ -z "$bin" ]; then
    echo "awsume is installed but its scripts (awsume, awsumepy) were not found"
    return 1
  fi
  mkdir -p "$home/.aws"
  printf '%s\n' '[profile demo-src]' 'region = us-east-1' \
    'mfa_serial = arn:aws:iam::123456789012:mfa/bench' '' '[profile demo]' \
    'source_profile = demo-src' 'role_arn = arn:aws:iam::123456789012:role/demo' \
    >"$home/.aws/config"
  printf '[demo-src]\naws_access_key_id = %s\naws_secret_access_key = %s\n' "$KEY_ID" "$SECRET" \
    >"$home/.aws/credentials"
  # shellcheck disable=SC2016 # $PATH and $HOME are for awsume-run.sh to expand
  {
    printf 'export HOME=%s PATH=%s:"$PATH" AWS_ENDPOINT_URL_STS=%s\n' \
      "$(q "$home")" "$(q "$bin")" "$(q "$STS_URL")"
    printf '%s\n' 'export AWS_CONFIG_FILE=$HOME/.aws/config AWS_SHARED_CREDENTIALS_FILE=$HOME/.aws/credentials' \
      'unset AWS_PROFILE AWS_DEFAULT_PROFILE AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN'
    printf '. %s demo -s "$@"\n' "$(q "$bin/awsume")"
  } >"$WORK/awsume-run.sh"
  # Cold: GetSessionToken with an MFA code (moto takes any), cached in ~/.awsume/cache.
  if ! out=$(bash "$WORK/awsume-run.sh" --mfa-token 123456 </dev/null 2>&1) ||
    [[ $out != *"export AWS_ACCESS_KEY_ID=ASIA"* ]]; then
    printf '%s\n' "$out" >&2
    echo "\`awsume demo -s\` against the emulator printed no session credentials"
    return 1
  fi
}

# Today's two paths vs warm `vault exec demo -- true` (m=64 and m=256 MiB vaults, both warm), all
# in one hyperfine run: (a) a boto3 script that reads a plaintext JSON session file (from
# `vault export demo --format json`) and checks it with GetCallerIdentity against the emulator;
# (b) awsume with its cache warm, sourced as a shell does. Needs fig_exec's warm vaults.
fig_paths() {
  local v64 v256 out why awsume_calls="" r=() cmds=()
  local -x AWS_CONFIG_FILE=$STS_CONFIG AWS_ENDPOINT_URL_STS=$STS_URL
  v64=$(sts_vault 64)
  v256=$(sts_vault 256)
  say "paths: boto3 + plaintext session file, awsume, vs warm vault exec"
  VAULT_DIR=$v64 "$VAULT" export demo --format json >"$WORK/session.json" # plaintext, 0600
  printf '%s\n' 'import json, sys' 'import boto3' 'c = json.load(open(sys.argv[1]))' \
    'sts = boto3.session.Session(aws_access_key_id=c["AWS_ACCESS_KEY_ID"],' \
    '    aws_secret_access_key=c["AWS_SECRET_ACCESS_KEY"],' \
    '    aws_session_token=c["AWS_SESSION_TOKEN"], region_name="us-east-1").client("sts")' \
    'arn = sts.get_caller_identity()["Arn"]' \
    'if ":assumed-role/demo/" not in arn:' '    sys.exit(f"unexpected identity: {arn}")' \
    >"$WORK/check.py"
  "$PY" "$WORK/check.py" "$WORK/session.json" # fails the run if the session does not work
  BOTO3_VERSION=$("$PY" -c 'import boto3; print(boto3.__version__)')
  cmds=("$(q "$PY") $(q "$WORK/check.py") $(q "$WORK/session.json")"
    "$(q "$VAULT") --vault-dir $(q "$v64") exec demo -- true"
    "$(q "$VAULT") --vault-dir $(q "$v256") exec demo -- true")
  if why=$(awsume_setup); then
    AWSUME_VERSION=$("$PY" -c 'import importlib.metadata as m; print(m.version("awsume"))')
    awsume_calls=$(calls_of bash "$WORK/awsume-run.sh" </dev/null 2>/dev/null) # one warm run
    cmds+=("bash $(q "$WORK/awsume-run.sh")")
  fi
  out=$(hf paths -N "${cmds[@]}")
  mapfile -t r <<<"$out"
  local label="boto3 $BOTO3_VERSION script: plaintext JSON session file + GetCallerIdentity"
  row "$label" ms "${r[0]}" "warm \`vault exec demo -- true\`, m=64 MiB" "${r[1]}"
  row "$label" ms "${r[0]}" "warm \`vault exec demo -- true\`, m=256 MiB" "${r[2]}"
  if [ -n "$awsume_calls" ]; then
    label="awsume $AWSUME_VERSION \`awsume demo -s\` (sourced), MFA session cache warm, plaintext key; STS calls per run: $awsume_calls (it caches no role session)"
    row "$label" ms "${r[3]}" "warm \`vault exec demo -- true\`, m=64 MiB" "${r[1]}"
    row "$label" ms "${r[3]}" "warm \`vault exec demo -- true\`, m=256 MiB" "${r[2]}"
  else
    skip_row "awsume \`awsume demo -s\`, cache warm" "$why"
  fi
}

# The agent (issue 4): warm `vault exec demo -- true` with the agent unlocked (no KDF, the
# session cached) against `true`, and the same run's boto3 and awsume paths against it. Every
# command runs under `env -u VAULT_NO_AGENT`, baselines too, so the wrapper costs the same.
fig_agent() {
  local out r=() cmds=() label
  local -x VAULT_DIR AWS_CONFIG_FILE=$STS_CONFIG AWS_ENDPOINT_URL_STS=$STS_URL
  VAULT_DIR=$(sts_vault 256)
  say "agent: warm exec through the unlocked agent, m=256 MiB"
  env -u VAULT_NO_AGENT "$VAULT" unlock >&2
  env -u VAULT_NO_AGENT VAULT_PASSPHRASE_FILE=/nonexistent "$VAULT" exec demo -- true # warm, no passphrase
  cmds=("env -u VAULT_NO_AGENT $(q "$VAULT") exec demo -- true" "env -u VAULT_NO_AGENT true"
    "env -u VAULT_NO_AGENT $(q "$PY") $(q "$WORK/check.py") $(q "$WORK/session.json")")
  [ -f "$WORK/awsume-run.sh" ] && cmds+=("env -u VAULT_NO_AGENT bash $(q "$WORK/awsume-run.sh")")
  # The AWS CLI's own path: a plaintext key in the credentials file, its assume-role result
  # cached as plaintext JSON under ~/.aws/cli/cache; warm, each run makes one GetCallerIdentity.
  local cli_calls="" cli
  if cli=$(command -v aws); then
    mkdir -p "$WORK/cli-home"
    printf '[demo-src]\naws_access_key_id = %s\naws_secret_access_key = %s\n' "$KEY_ID" "$SECRET" >"$WORK/cli-credentials"
    cli="env -u VAULT_NO_AGENT HOME=$(q "$WORK/cli-home") AWS_DEFAULT_REGION=us-east-1 AWS_SHARED_CREDENTIALS_FILE=$(q "$WORK/cli-credentials") $(q "$cli") sts get-caller-identity --profile demo --query Arn --output text"
    bash -c "$cli" >&2 # fills the CLI's cache (one AssumeRole)
    cli_calls=$(calls_of bash -c "$cli")
    AWSCLI_VERSION=$("$PY" -c 'import importlib.metadata as m; print(m.version("awscli"))')
    cmds+=("$cli")
  fi
  # The overhead pair on its own, over many runs: a few milliseconds, which 5 runs cannot resolve.
  out=$(RUNS=$FAST_RUNS WARMUP=20 hf agent-overhead -N "${cmds[@]:0:2}")
  mapfile -t r <<<"$out"
  row "warm \`vault exec demo -- true\` through the unlocked agent ($FAST_RUNS runs); overhead vs \`true\` $(ms_diff "${r[0]}" "${r[1]}") ms" \
    ms "${r[0]}" "\`true\`" "${r[1]}" "overhead <= 3 ms"
  out=$(hf agent -N "${cmds[@]}")
  mapfile -t r <<<"$out"
  row "warm \`vault exec demo -- true\` through the agent, peak RSS" MiB \
    "$(rss env -u VAULT_NO_AGENT "$VAULT" exec demo -- true)" "\`true\`" "$(rss true)" "<= 10 MiB"
  label="warm \`vault exec\` through the agent"
  row "boto3 ${BOTO3_VERSION:-?} script: plaintext JSON session file + GetCallerIdentity" ms "${r[2]}" "$label" "${r[0]}" ">= 50"
  if [ -f "$WORK/awsume-run.sh" ]; then
    row "awsume ${AWSUME_VERSION:-?} \`awsume demo -s\`, cache warm" ms "${r[3]}" "$label" "${r[0]}" ">= 50"
  fi
  if [ -n "$cli_calls" ]; then
    row "AWS CLI ${AWSCLI_VERSION:-?} \`aws sts get-caller-identity --profile demo\`, its plaintext assume-role cache warm; AssumeRole calls per run: $cli_calls, plus the GetCallerIdentity it runs" \
      ms "${r[-1]}" "$label" "${r[0]}" ">= 50"
  else
    skip_row "AWS CLI, assume-role cache warm" "no aws on PATH"
  fi
  "$VAULT" lock --stop >&2 || true
}

# Scale: `vault list` and warm `vault exec` (through the agent) with 1,000 profiles in the AWS
# config and 1,000 stored keys, against the same commands on a vault with 1 of each.
fig_scale() {
  local big=$WORK/scale-1000 small=$WORK/scale-1 r=() out i n
  say "scale: 1,000 profiles and 1,000 stored keys vs 1"
  for n in 1 1000; do
    local dir=$WORK/scale-$n
    VAULT_DIR=$dir "$VAULT" init --kdf-memory 64 >&2
    for i in $(seq "$n"); do printf '[profile p%d]\nregion = us-east-1\n' "$i"; done >"$dir.config"
    VAULT_DIR=$dir env -u VAULT_NO_AGENT "$VAULT" unlock >&2
    for i in $(seq "$n"); do
      VAULT_DIR=$dir AWS_ACCESS_KEY_ID=AKIASCALE$i AWS_SECRET_ACCESS_KEY=s \
        env -u VAULT_NO_AGENT "$VAULT" add "p$i" --env 2>/dev/null
    done
    VAULT_DIR=$dir AWS_CONFIG_FILE=$dir.config AWS_ENDPOINT_URL_STS=$STS_URL \
      env -u VAULT_NO_AGENT "$VAULT" exec p1 -- true >&2
  done
  local run="env -u VAULT_NO_AGENT AWS_ENDPOINT_URL_STS=$STS_URL"
  out=$(hf scale -N "$run VAULT_DIR=$big $(q "$VAULT") list" "$run VAULT_DIR=$small $(q "$VAULT") list" \
    "$run VAULT_DIR=$big AWS_CONFIG_FILE=$big.config $(q "$VAULT") exec p1 -- true" \
    "$run VAULT_DIR=$small AWS_CONFIG_FILE=$small.config $(q "$VAULT") exec p1 -- true")
  mapfile -t r <<<"$out"
  row "\`vault list\`, 1,000 keys (agent unlocked: shows session expiry)" ms "${r[0]}" "1 key" "${r[1]}"
  row "warm \`vault exec p1 -- true\` through the agent, 1,000 profiles + 1,000 keys" ms "${r[2]}" "1 of each" "${r[3]}"
  row "\`vault list\` peak RSS, 1,000 keys" MiB "$(rss env -u VAULT_NO_AGENT VAULT_DIR="$big" "$VAULT" list)" \
    "1 key" "$(rss env -u VAULT_NO_AGENT VAULT_DIR="$small" "$VAULT" list)"
  for n in 1 1000; do VAULT_DIR=$WORK/scale-$n "$VAULT" lock --stop >&2 || true; done
}

# Backends: warm `vault exec p1 -- true` and `vault list`, both through the unlocked agent, with
# 100 stored keys, on each backend (only the keys and the passphrase slot live in the backend;
# sessions stay sealed in local files), against the same command on the file backend (measured
# first, so its rows are 1.00). Real parts: pass + GnuPG, Debian's docker-credential-pass as
# helper:pass, gnome-keyring's Secret Service as keychain, the kernel keyring as
# keychain:keyutils (every command under `keyctl session -`, whose start-up is measured too). A
# missing part skips its backend's rows. The keychain vaults move back to file at the end, so
# nothing stays in a keyring.
fig_backends() {
  local b name dir i out why pre=() cmds=() r=() file_r=() note
  local gpg_why="" helper_why="" keyring_why="" keyutils_why=""
  local -x AWS_CONFIG_FILE=$WORK/be-config AWS_ENDPOINT_URL_STS=$STS_URL
  local -x VAULT_KEYCHAIN_SERVICE=vault-bench-$$ # apart from any vault of the user's
  say "backends: warm exec and list with 100 keys, on file, pass, helper:pass, keychain, keychain:keyutils"
  gpg_setup || gpg_why=$WHY
  if [ -n "$gpg_why" ]; then helper_why=$gpg_why; else helper_setup || helper_why=$WHY; fi
  keyring_setup || keyring_why=$WHY
  keyutils_setup || keyutils_why=$WHY
  printf '[profile p1]\nregion = us-east-1\n' >"$AWS_CONFIG_FILE"
  for b in file pass helper:pass keychain keychain:keyutils; do
    case $b in
      pass) why=$gpg_why ;;
      helper:pass) why=$helper_why ;;
      keychain) why=$keyring_why ;;
      keychain:keyutils) why=$keyutils_why ;;
      *) why="" ;;
    esac
    if [ -n "$why" ]; then
      skip_row "warm \`vault exec p1 -- true\` through the agent, 100 keys on $b" "$why"
      skip_row "\`vault list\`, agent unlocked, 100 keys on $b" "$why"
      continue
    fi
    name=be-${b//:/-} dir=$WORK/be-${b//:/-}
    pre=(env -u VAULT_NO_AGENT "VAULT_DIR=$dir")
    [ "$b" = keychain:keyutils ] && pre+=(keyctl session -)
    say "backends: $b: init, 100 keys, one cold exec"
    "${pre[@]}" "$VAULT" --backend "$b" init --kdf-memory 64 >&2
    "${pre[@]}" "$VAULT" unlock >&2
    for i in $(seq 100); do
      AWS_ACCESS_KEY_ID=AKIABE$i AWS_SECRET_ACCESS_KEY=s "${pre[@]}" "$VAULT" add "p$i" --env \
        2>"$WORK/add.err" || { cat "$WORK/add.err" >&2; return 1; }
    done
    "${pre[@]}" "$VAULT" exec p1 -- true >&2 # cold: the session is sealed into the local cache
    cmds=("$(qa "${pre[@]}" "$VAULT") exec p1 -- true" "$(qa "${pre[@]}" "$VAULT") list")
    [ "$b" = keychain:keyutils ] && cmds+=("env -u VAULT_NO_AGENT keyctl session - true")
    out=$(hf "$name" -N "${cmds[@]}")
    mapfile -t r <<<"$out"
    [ "$b" = file ] && file_r=("${r[@]}")
    note=""
    [ "$b" = keychain:keyutils ] &&
      note=", run under \`keyctl session -\` (included; alone $(ms_diff "${r[2]}" 0) ms)"
    row "warm \`vault exec p1 -- true\` through the agent, 100 keys on $b$note" ms "${r[0]}" \
      "file backend" "${file_r[0]}"
    row "\`vault list\`, agent unlocked, 100 keys on $b$note" ms "${r[1]}" "file backend" "${file_r[1]}"
    [[ $b == keychain* ]] && "${pre[@]}" "$VAULT" migrate --to file >&2 # empties the keyring
    "${pre[@]}" "$VAULT" lock --stop >&2 || true
    rm -rf "$dir"
  done
}

# --- the C floor (issue 17) ------------------------------------------------------------------

# floor_build: compiles bench/floor.c (dynamic, and -static when static glibc links) and
# bench/interleave.c into $WORK with the system cc; sets WHY and returns 1 when it cannot.
floor_build() {
  command -v cc >/dev/null || { WHY="no C compiler (\`cc\`)"; return 1; }
  cc -O2 -o "$WORK/floor" bench/floor.c 2>"$WORK/cc.err" &&
    cc -O2 -o "$WORK/interleave" bench/interleave.c -lm 2>>"$WORK/cc.err" ||
    { cat "$WORK/cc.err" >&2; WHY="\`cc bench/floor.c\` failed"; return 1; }
  cc -O2 -static -o "$WORK/floor-static" bench/floor.c 2>/dev/null || rm -f "$WORK/floor-static"
}

# instructions COMMAND...: "INSTRUCTIONS EXECVES": instructions (callgrind's Ir) of one run of
# COMMAND in its own process, up to the execve of its child when it execs one (callgrind dumps
# before every execve call), else to its exit; and how many execve calls it made (the failing
# ones of a PATH walk too). Prints "- -" without valgrind.
instructions() {
  command -v valgrind >/dev/null || { echo - -; return 0; }
  rm -f "$WORK"/cg.out*
  valgrind --tool=callgrind --dump-before='*execve*' --callgrind-out-file="$WORK/cg.out" \
    "$@" </dev/null >/dev/null 2>"$WORK/cg.err" || { cat "$WORK/cg.err" >&2; echo - -; return 0; }
  cat "$WORK"/cg.out* | awk '/^summary:/ { n += $2 } /^desc: Trigger: --dump-before/ { e++ }
    END { print n + 0, e + 0 }'
}

# The physical floor of the warm path, against vault, in one interleaved run (DESIGN.md §9,
# issue 17): warm `vault exec demo -- true` and `vault export demo --format credential-process`
# through the unlocked agent, and `vault --version`, against a C program doing the least any tool
# can (bench/floor.c: read the same sealed session file vault reads, one ~1 KiB round trip to a
# trivial Unix-socket echo server this bench starts, resolve `true` on PATH with stat, execve it;
# or print the reply), dynamic and -static, and against `true`. bench/interleave.c runs every
# command once per round in rotating order (FAST_RUNS rounds after 20 warmup rounds) and reads
# each process's page faults from wait4; callgrind counts instructions in one more run each.
fig_floor() {
  local item="" i out r=() cmds=() names=() fields=() before calls static=1 label
  local -x VAULT_DIR AWS_CONFIG_FILE=$STS_CONFIG AWS_ENDPOINT_URL_STS=$STS_URL
  VAULT_DIR=$(sts_vault 256)
  say "floor: warm exec, credential_process and --version vs the C floor and \`true\`"
  if ! floor_build; then
    skip_row "warm \`vault exec demo -- true\` vs the C floor" "$WHY"
    return 0
  fi
  [ -x "$WORK/floor-static" ] || static=""
  env -u VAULT_NO_AGENT "$VAULT" unlock >&2
  env -u VAULT_NO_AGENT VAULT_PASSPHRASE_FILE=/nonexistent "$VAULT" exec demo -- true # warm
  # The sealed item the warm exec reads: seen with strace when it is there, else the one
  # session file of profile demo.
  if command -v strace >/dev/null; then
    env -u VAULT_NO_AGENT strace -f -qq -e trace=openat -o "$WORK/warm.strace" \
      "$VAULT" exec demo -- true >&2
    item=$(grep -o "$VAULT_DIR/session\.demo\.[0-9a-f]*\.age" "$WORK/warm.strace" | head -1) || true
  fi
  [ -n "$item" ] || item=$(find "$VAULT_DIR" -maxdepth 1 -name 'session.demo.*.age' | head -1)
  if [ ! -f "$item" ]; then
    skip_row "warm \`vault exec demo -- true\` vs the C floor" "no session item of demo found"
    return 0
  fi
  say "floor: the warm path's item: $item ($(wc -c <"$item") bytes)"
  "$WORK/floor" serve "$WORK/floor.sock" >"$WORK/floor-ready" &
  FLOOR_PID=$!
  for i in $(seq 100); do [ -s "$WORK/floor-ready" ] && break; sleep 0.05; done
  names=(vexec fexec sexec true vcp fcp scp vver vcore)
  cmds=("$VAULT" exec demo -- true :: "$WORK/floor" exec "$item" "$WORK/floor.sock" true)
  [ -n "$static" ] && cmds+=(:: "$WORK/floor-static" exec "$item" "$WORK/floor.sock" true)
  cmds+=(:: true :: "$VAULT" export demo --format credential-process
    :: "$WORK/floor" print "$item" "$WORK/floor.sock")
  [ -n "$static" ] && cmds+=(:: "$WORK/floor-static" print "$item" "$WORK/floor.sock")
  cmds+=(:: "$VAULT" --version :: "$CORE" --version)
  [ -n "$static" ] || names=(vexec fexec true vcp fcp vver vcore)
  before=$(sts_calls)
  out=$(env -u VAULT_NO_AGENT "$WORK/interleave" "$FAST_RUNS" 20 "${cmds[@]}")
  calls=$(($(sts_calls) - before))
  mapfile -t r <<<"$out"
  local -A t=() m=() f=() n=() e=()
  for i in "${!names[@]}"; do
    read -r -a fields <<<"${r[$i]}"
    t[${names[$i]}]="${fields[0]} ${fields[1]}" # mean sd
    m[${names[$i]}]=${fields[2]}                 # median
    f[${names[$i]}]=${fields[3]}                 # minor faults, mean
  done
  say "floor: instruction counts (callgrind)"
  read -r "n[vexec]" "e[vexec]" < <(unset VAULT_NO_AGENT; instructions "$VAULT" exec demo -- true)
  read -r "n[vcp]" _ < <(unset VAULT_NO_AGENT; instructions "$VAULT" export demo --format credential-process)
  read -r "n[vcore]" _ < <(instructions "$CORE" --version)
  read -r "n[fexec]" "e[fexec]" < <(instructions "$WORK/floor" exec "$item" "$WORK/floor.sock" true)
  read -r "n[fcp]" _ < <(instructions "$WORK/floor" print "$item" "$WORK/floor.sock")
  read -r "n[true]" _ < <(instructions true)
  if [ -n "$static" ]; then
    read -r "n[sexec]" _ < <(instructions "$WORK/floor-static" exec "$item" "$WORK/floor.sock" true)
  fi
  label="interleaved, $FAST_RUNS rounds, through the unlocked agent, m=256 MiB; $calls STS calls while timed"
  row "warm \`vault exec demo -- true\` ($label); overhead vs \`true\` $(ms_diff "${t[vexec]}" "${t[true]}") ms" \
    ms "${t[vexec]}" "\`true\`" "${t[true]}" "overhead ≤ 1.0 ms"
  row "C floor, dynamic (bench/floor.c exec: read the item, 1 KiB socket round trip, execve); overhead vs \`true\` $(ms_diff "${t[fexec]}" "${t[true]}") ms" \
    ms "${t[fexec]}" "\`true\`" "${t[true]}"
  [ -n "$static" ] && row "C floor, -static; overhead vs \`true\` $(ms_diff "${t[sexec]}" "${t[true]}") ms" \
    ms "${t[sexec]}" "\`true\`" "${t[true]}"
  row "warm \`vault exec demo -- true\` overhead over \`true\` (medians: $(ms_diff "${m[vexec]}" "${m[true]}") ms vs the floor's $(ms_diff "${m[fexec]}" "${m[true]}") ms)" ms "$(ms_diff "${t[vexec]}" "${t[true]}")" \
    "C floor's overhead (dynamic)" "$(ms_diff "${t[fexec]}" "${t[true]}")" "≤ 1.6"
  row "warm \`vault export demo --format credential-process\` (same run); overhead vs \`true\` $(ms_diff "${t[vcp]}" "${t[true]}") ms" \
    ms "${t[vcp]}" "C floor, dynamic, print mode" "${t[fcp]}"
  row "warm \`vault export --format credential-process\` overhead over \`true\` (medians: $(ms_diff "${m[vcp]}" "${m[true]}") ms vs the floor's $(ms_diff "${m[fcp]}" "${m[true]}") ms)" ms "$(ms_diff "${t[vcp]}" "${t[true]}")" \
    "C floor's overhead (dynamic, print)" "$(ms_diff "${t[fcp]}" "${t[true]}")" "≤ 1.6"
  row "\`vault --version\` (same run: the front hands it to vault-core)" ms "${t[vver]}" "\`true\`" "${t[true]}"
  row "\`vault-core --version\` (same run: the full CLI's start-up)" ms "${t[vcore]}" "\`true\`" "${t[true]}"
  row "minor page faults, warm \`vault exec demo -- true\` (with its child \`true\`)" faults "${f[vexec]}" \
    "C floor, dynamic" "${f[fexec]}"
  [ -n "$static" ] && row "minor page faults, C floor -static exec" faults "${f[sexec]}" "\`true\`" "${f[true]}"
  row "minor page faults, warm \`vault export --format credential-process\`" faults "${f[vcp]}" \
    "C floor, dynamic, print" "${f[fcp]}"
  row "minor page faults, \`vault-core --version\`" faults "${f[vcore]}" "\`true\`" "${f[true]}"
  row "instructions (callgrind), warm \`vault exec demo -- true\`, up to the child's execve; execve calls: vault ${e[vexec]}, floor ${e[fexec]}" instr "${n[vexec]}" \
    "C floor, dynamic" "${n[fexec]}"
  [ -n "$static" ] && row "instructions, C floor -static exec" instr "${n[sexec]}" "\`true\` (whole run)" "${n[true]}"
  row "instructions, warm \`vault export --format credential-process\`" instr "${n[vcp]}" \
    "C floor, dynamic, print" "${n[fcp]}"
  row "instructions, \`vault-core --version\`" instr "${n[vcore]}" "\`true\` (whole run)" "${n[true]}"
  stop "$FLOOR_PID"
  FLOOR_PID=""
  "$VAULT" lock --stop >&2 || true
}

# fig NAME [ARGS]: runs fig_NAME ARGS, unless BENCH_ONLY is set and does not name NAME.
fig() {
  [ -z "${BENCH_ONLY:-}" ] || [[ " $BENCH_ONLY " == *" $1 "* ]] || return 0
  "fig_$1" "${@:2}"
}

# Figures in table order. To add one (`vault list` with 1,000 items, exec through the agent),
# write a fig_NAME function above that prints rows with `row`; call it here with `fig NAME`.
figures() {
  fig unlock
  fig export 256 # KdfParams::DEFAULT
  fig export 64  # KdfParams::FLOOR
  fig exec 64    # fig_sts and fig_paths reuse these two warm vaults
  fig exec 256
  fig sts
  fig endpoint
  fig paths
  fig agent # after fig_paths: reuses its boto3 and awsume scripts
  fig floor
  fig scale
  fig backends
}
for only in ${BENCH_ONLY:-}; do # a typo would silently measure nothing
  declare -F "fig_$only" >/dev/null || { say "BENCH_ONLY: no figure \"$only\" (fig_$only)"; exit 2; }
done

# --- report --------------------------------------------------------------------------------

sts_start
figures >"$WORK/rows"
cpu=$(awk -F': *' '/^(model name|Hardware|cpu model)/ { print $2; exit }' /proc/cpuinfo)
commit=$(git describe --always --dirty 2>/dev/null || echo unknown)
argon2_version=$(dpkg-query -W -f "\${Version}" argon2 2>/dev/null || echo unknown)
cat <<EOF
## vault benchmarks

- date: $STARTED
- system: $(uname -srm)
- CPU: ${cpu:-unknown}, nproc $(nproc); load average at start: $LOAD (other work skews every figure)
- vault: $commit (release build), no agent (every command runs the KDF) except the rows that say so; baselines: Debian argon2 $argon2_version, \`true\`, boto3 ${BOTO3_VERSION:-?}, awsume ${AWSUME_VERSION:-not run}, AWS CLI ${AWSCLI_VERSION:-not run}
- STS: moto $("$PY" -c 'import moto; print(moto.__version__)') server mode on loopback (tests/sts_server.py), never AWS
- hyperfine $(hyperfine --version | awk '{ print $2 }'): $RUNS runs after $WARMUP warmup, mean ± σ; RSS: one run, \`/usr/bin/time -f %M\`
- this script took ${SECONDS} s

| figure | vault | baseline | vault / baseline | goal |
| --- | --- | --- | --- | --- |
EOF
cat "$WORK/rows"
