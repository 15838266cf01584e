#!/usr/bin/env bash
# Writes the hand-made seeds of every target into fuzz/corpus/<target>/ (seed-* files), from
# tests/testdata's fixtures and a few well-formed and broken inputs. Fuzzing grows the corpus
# from these; `cargo fuzz cmin` keeps it small (fuzz/README.md). Needs python3 and the age CLI.
set -euo pipefail
cd "$(dirname "$0")"
exec python3 - <<'PY'
import base64, json, os, pathlib, subprocess

corpus = pathlib.Path("corpus")
testdata = pathlib.Path("../tests/testdata")
# The public half of vault::fuzzing::ITEM_FILE_IDENTITY.
RECIPIENT = "age1dk9kxx2ggk7qdmxlssvscp65ux2c0hqz5ezsj0xt7g094aq505nqq0valr"

def seed(target, name, data):
    d = corpus / target
    d.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    (d / f"seed-{name}").write_bytes(data)

# slot_params: whole slot files; slot_stanza: "TAG ARGS...\n" + the raw body.
for fixture in sorted(testdata.iterdir()):
    slot = fixture / "slot.passphrase.age"
    if not slot.is_file():
        continue
    raw = slot.read_bytes()
    seed("slot_params", fixture.name, raw)
    lines = raw.split(b"\n")
    for i, line in enumerate(lines):
        if line.startswith(b"-> vault-argon2id"):
            body = base64.b64decode(lines[i + 1] + b"=" * (-len(lines[i + 1]) % 4))
            seed("slot_stanza", fixture.name, line[3:] + b"\n" + body)
seed("slot_stanza", "leading-zero", "vault-argon2id v19 AAAAAAAAAAAAAAAAAAAAAA 065536 3 4\n")
seed("slot_stanza", "huge", "vault-argon2id v19 AAAAAAAAAAAAAAAAAAAAAA 99999999999 3 4\n")
seed("slot_stanza", "grease", "x-grease a b\n")

# item: the plaintexts of the fixtures' items; item_file: the same, sealed to the fuzz identity.
items = json.loads((testdata / "v1.expected.json").read_text())
for name, item in items.items():
    kind = name.split(".")[0]
    text = json.dumps(item, separators=(",", ":"))
    seed("item", kind, text)
    sealed = subprocess.run(["age", "-r", RECIPIENT], input=text.encode(),
                            capture_output=True, check=True).stdout
    seed("item_file", kind, sealed)
key = items["key.prod"]
seed("item", "v2", json.dumps({**key, "v": 2}))
seed("item", "mismatch", json.dumps({**key, "kind": "session"}))
seed("item", "rotated-mfa", json.dumps({**key, "key": {**key["key"],
    "mfa_serial": "arn:aws:iam::123456789012:mfa/bob", "rotated": "2026-01-02T03:04:05Z"}}))

# agent frames: the first byte picks the read buffer's size.
def frames(target, name, msgs, size=255):
    seed(target, name, bytes([size]) + b"".join(json.dumps(m).encode() + b"\n" for m in msgs))
frames("agent_request", "session", [
    {"op": "hello", "version": 3}, {"op": "unlock", "passphrase": "correct horse"},
    {"op": "unlock-keychain"}, {"op": "open", "name": "key.prod", "ciphertext": "YWdl"},
    {"op": "seal", "plaintext": "e30="}, {"op": "lock"}, {"op": "status"}, {"op": "touch"},
    {"op": "stop"}])
frames("agent_request", "small-buffer", [{"op": "hello", "version": 3}], size=3)
seed("agent_request", "partial", b"\xff{\"op\":\"hel")
frames("agent_response", "session", [
    {"r": "hello", "version": 3, "pid": 42, "unlocked": True}, {"r": "ok"},
    {"r": "plaintext", "data": "e30="}, {"r": "ciphertext", "data": "YWdl"},
    {"r": "status", "unlocked": True, "idle_left_secs": 900, "vault_dir": "/v", "pid": 42},
    {"r": "error", "kind": "wrong-passphrase", "message": "no"},
    {"r": "error", "kind": "not-found", "message": "no"}])
frames("agent_response", "small-buffer", [{"r": "hello", "version": 3, "pid": 1}], size=0)

# helper replies: get and list answers of docker credential helpers.
secret = base64.b64encode(b"age-encryption.org/v1\n").decode()
seed("helper_reply", "get", json.dumps({"ServerURL": "vault://key.prod", "Username": "vault", "Secret": secret}))
seed("helper_reply", "get-empty", '{"ServerURL":"","Username":"","Secret":""}')
seed("helper_reply", "get-not-base64", '{"Username":"vault","Secret":"%%%"}')
seed("helper_reply", "list", json.dumps({"vault://key.prod": "vault", "vault://session.prod.0123456789abcdef": "vault",
                                         "vault://key.a%2Fb": "vault", "https://index.docker.io/v1/": "me"}))
seed("helper_reply", "array", "[1,2]")

# credentials files, as `vault import` reads them.
seed("credentials_file", "two", "[default]\naws_access_key_id = AKIAIOSFODNN7EXAMPLE\naws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\nregion = us-east-1\n\n[prod]\naws_access_key_id=AKIAI44QH8DHBEXAMPLE\naws_secret_access_key=je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY\naws_session_token = x\n")
seed("credentials_file", "odd", "; comment\n[ prod ] # c\n  AWS_Access_Key_ID = A ; not a comment\n\t continued\n# between\n  more\n[profile p]\naws_secret_access_key = s\r\n[broken\nkey\n")
seed("credentials_file", "crlf", "[a]\r\naws_access_key_id = A\r\naws_secret_access_key = S\r\n")

# ECS requests to 127.0.0.1:4242 with token 0123456789abcdef (vault::fuzzing::ecs_request).
seed("ecs_request", "ok", "GET /credentials HTTP/1.1\r\nHost: 127.0.0.1:4242\r\nAuthorization: 0123456789abcdef\r\n\r\n")
seed("ecs_request", "bearer", "GET /credentials HTTP/1.1\r\nhost: localhost:4242\r\nauthorization: Bearer 0123456789abcdef\r\nUser-Agent: aws-sdk\r\n\r\n")
seed("ecs_request", "rebinding", "GET /credentials HTTP/1.1\r\nHost: evil.example:4242\r\nAuthorization: 0123456789abcdef\r\n\r\n")
seed("ecs_request", "post", "POST /credentials HTTP/1.0\r\nHost: 127.0.0.1:4242\r\nContent-Length: 2\r\n\r\n{}")
seed("ecs_request", "partial", "GET /cred")
PY
