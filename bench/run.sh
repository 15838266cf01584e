#!/usr/bin/env bash
# Benchmarks vault's release binary and prints a markdown table: every figure is a measured
# number and its ratio to a baseline measured in the same run. It prints figures only and never
# fails on a threshold (the goal column is for the reader). Usage: bash bench/run.sh
# Knobs: BENCH_RUNS (hyperfine runs, default 5), BENCH_WARMUP (default 1).
# Progress goes to stderr; the report (system, then the table) to stdout at the end.
set -euo pipefail
shopt -s inherit_errexit
cd "$(dirname "$0")/.." || exit 1
bash scripts/setup.sh
cargo build --release --locked -q
VAULT=$PWD/target/release/vault
RUNS=${BENCH_RUNS:-5} WARMUP=${BENCH_WARMUP:-1}
STARTED=$(date -u '+%Y-%m-%d %H:%M:%S UTC') LOAD=$(cut -d' ' -f1-3 /proc/loadavg)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/vault-bench.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
umask 077
printf 'bench passphrase\n' >"$WORK/pass" # from a file, never argv
export VAULT_PASSPHRASE_FILE=$WORK/pass
export VAULT_DIR=$WORK/none # each figure points it at its own vault
# No ~/.aws: the AWS config and credentials files are missing, hence empty.
export AWS_CONFIG_FILE=$WORK/aws-config AWS_SHARED_CREDENTIALS_FILE=$WORK/aws-credentials
SALT=benchsalt16bytes       # the argon2 CLI's salt: 16 bytes, as vault's random one

# --- helpers -------------------------------------------------------------------------------

say() { printf 'bench: %s\n' "$*" >&2; }
q() { printf '%q' "$1"; }

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
    VAULT_DIR=$dir AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE \
      AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY "$VAULT" add bench --env
  fi
  printf '%s\n' "$dir"
}

# row FIGURE UNIT VALUE BASELINE BASELINE_VALUE [GOAL]: prints one table row. VALUE and
# BASELINE_VALUE are "mean" or "mean sd"; the ratio is VALUE / BASELINE_VALUE on the means.
row() {
  awk -v f="$1" -v u="$2" -v v="$3" -v b="$4" -v bv="$5" -v g="${6:--}" '
    function num(x) { return sprintf(x >= 100 ? "%.0f" : x >= 10 ? "%.1f" : "%.2f", x) }
    function show(s,  p, n) { n = split(s, p, " "); return num(p[1]) (n > 1 ? " ± " num(p[2]) : "") " " u }
    BEGIN { split(v, a, " "); split(bv, c, " ")
      printf "| %s | %s | %s: %s | %s | %s |\n", f, show(v), b, show(bv), num(a[1] / c[1]), g }'
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

# Figures in table order. To add one (warm `vault exec`, STS calls against moto, `vault list`
# with 1,000 items), write a fig_NAME function above that prints rows with `row`; call it here.
figures() {
  fig_unlock
  fig_export 256 # KdfParams::DEFAULT
  fig_export 64  # KdfParams::FLOOR
}

# --- report --------------------------------------------------------------------------------

figures >"$WORK/rows"
cpu=$(awk -F': *' '/^(model name|Hardware|cpu model)/ { print $2; exit }' /proc/cpuinfo)
commit=$(git describe --always --dirty 2>/dev/null || echo unknown)
argon2_version=$(dpkg-query -W -f "\${Version}" argon2 2>/dev/null || echo unknown)
cat <<EOF
## vault benchmarks

- date: $STARTED
- system: $(uname -srm)
- CPU: ${cpu:-unknown}, nproc $(nproc); load average at start: $LOAD (other work skews every figure)
- vault: $commit (release build); baselines: Debian argon2 $argon2_version, \`true\`
- hyperfine $(hyperfine --version | awk '{ print $2 }'): $RUNS runs after $WARMUP warmup, mean ± σ; RSS: one run, \`/usr/bin/time -f %M\`
- this script took ${SECONDS} s

| figure | vault | baseline | vault / baseline | goal |
| --- | --- | --- | --- | --- |
EOF
cat "$WORK/rows"
