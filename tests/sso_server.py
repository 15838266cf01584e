"""An IAM Identity Center emulator: the OIDC API (sso-oidc) and the portal API (sso) on one port.

Usage: python3 tests/sso_server.py LOGFILE
Prints the port on the first stdout line, then serves plain HTTP on 127.0.0.1 until killed. moto
has no IAM Identity Center, so the project writes its own (DESIGN.md §8); its fidelity is tested
with botocore's own `sso-oidc` and `sso` clients (tests/sso_fidelity.py, run by
tests/sso_emulator.rs). Python stdlib only (http.server), so it needs nothing beyond python3.
Point `AWS_ENDPOINT_URL_SSO_OIDC` and `AWS_ENDPOINT_URL_SSO` (or a client's endpoint_url) at
`http://127.0.0.1:PORT`; requests are unsigned, as the SDKs send them (smithy noAuth).

OIDC API (botocore's sso-oidc model; JSON bodies, camelCase):
  POST /client/register       RegisterClient: clientName, clientType (must be "public"), optional
                              scopes, grantTypes, redirectUris, issuerUrl -> clientId,
                              clientSecret, clientIdIssuedAt, clientSecretExpiresAt (epoch s,
                              SSO_EMU_CLIENT_TTL ahead, default 90 days).
  POST /device_authorization  StartDeviceAuthorization: clientId, clientSecret, startUrl ->
                              deviceCode, userCode, verificationUri ({url}/device),
                              verificationUriComplete ({url}/device?user_code=..), expiresIn
                              (SSO_EMU_DEVICE_TTL, default 600), interval (SSO_EMU_INTERVAL, 1).
  GET  /authorize             ?response_type=code&client_id&redirect_uri&state&code_challenge
                              &code_challenge_method=S256&scopes -> 302 Location:
                              {redirect_uri}?code=..&state=.. ; 400 (text) when the client is
                              unknown, redirect_uri is not http://127.0.0.1:PORT/oauth/callback,
                              the method is not S256, response_type is not code, or no challenge.
  GET  /device?user_code=..   the verification page: approves that device authorization (needed
                              only with SSO_EMU_DEVICE_APPROVE=browser).
  POST /token                 CreateToken: clientId, clientSecret, grantType and
                                urn:ietf:params:oauth:grant-type:device_code: deviceCode
                                authorization_code: code, codeVerifier, redirectUri (must equal
                                  the authorize one; BASE64URL(SHA256(codeVerifier)) must equal
                                  the challenge; a code is single-use, consumed by any attempt,
                                  and lives 300 s)
                                refresh_token: refreshToken
                              -> accessToken, tokenType "Bearer", expiresIn (SSO_EMU_TOKEN_TTL),
                              refreshToken (a new one each time; the old one stays valid until
                              revoked by /_control or a Logout of its sign-in session).
  Errors as the service sends them: header `x-amzn-ErrorType: NAME`, JSON body
  {"error": "snake_name", "error_description": "..."}, and the model's status for NAME: 400 for
  AuthorizationPendingException, SlowDownException, ExpiredTokenException, InvalidGrantException,
  InvalidRequestException, UnsupportedGrantTypeException, UnauthorizedClientException; 401 for
  InvalidClientException (the model's httpStatusCode; the interface note said 400 — botocore and
  the Rust SDK key on the header, so either works, but this follows the model).
  A device code answers, in order: SlowDown once (SSO_EMU_SLOW_DOWN=1), AuthorizationPending
  SSO_EMU_PENDING times (default 1), then a token (SSO_EMU_DEVICE_APPROVE=auto, the default), or
  AuthorizationPending until GET /device?user_code= approved it (=browser); after expiresIn:
  ExpiredTokenException; once redeemed: InvalidGrantException.

Portal API (botocore's sso model; bearer token in header `x-amz-sso_bearer_token`):
  GET  /federation/credentials?role_name&account_id  GetRoleCredentials -> {"roleCredentials":
       {"accessKeyId" (random ASIA...), "secretAccessKey", "sessionToken", "expiration" (epoch
       MILLISECONDS, SSO_EMU_CRED_TTL ahead)}}; 404 ResourceNotFoundException for an account or
       role not assigned.
  GET  /assignment/accounts?next_token&max_result  ListAccounts -> {"accountList": [{"accountId",
       "accountName", "emailAddress"}], "nextToken"} (page: max_result, else SSO_EMU_PAGE)
  GET  /assignment/roles?account_id&next_token&max_result  ListAccountRoles -> {"roleList":
       [{"roleName", "accountId"}], "nextToken"}
  POST /logout  Logout -> 200; revokes the bearer token and its whole sign-in session (every
       access and refresh token descended from the same login), as the service does.
  An unknown, expired or revoked bearer token: 401 `x-amzn-ErrorType: UnauthorizedException`,
  body {"message": "..."} (the portal's error shape).

Knobs, from the environment at start (also settable at runtime with /_control "set"):
  SSO_EMU_ACCOUNTS   accounts and roles: a count N (accounts 111111111111, 222222222222, ...) or
                     a comma list of ID[:NAME][=ROLE+ROLE...]; default 3; roles default
                     ReadOnly and Admin. Example: "111111111111:prod=Admin,222222222222".
  SSO_EMU_PAGE       page size of both list calls when the client sends no max_result (2)
  SSO_EMU_TOKEN_TTL  access token lifetime, seconds (3600)
  SSO_EMU_CRED_TTL   role credentials lifetime, seconds (3600)
  SSO_EMU_PENDING    device-code polls answered AuthorizationPending before approval (1)
  SSO_EMU_SLOW_DOWN  1: a device code's first poll answers SlowDown (0)
  SSO_EMU_TOKEN_DELAY_MS  sleep in every /token call, outside the lock (0): makes races real
  SSO_EMU_INTERVAL   the device flow's interval, seconds (1)
  SSO_EMU_DEVICE_TTL the device code's expiresIn, seconds (600)
  SSO_EMU_CLIENT_TTL client registration lifetime, seconds (7776000 = 90 days)
  SSO_EMU_DEVICE_APPROVE  auto (default) | browser (see above)
  SSO_EMU_AUTHORIZE  approve (default) | deny (302 with error=access_denied&state=..) |
                     bad_state (302 with a code but a different state: the client must refuse)
POST /_control with a JSON object, answered with the current knobs as JSON:
  {"expire_access_tokens": true}   every access token issued so far is expired (-> 401)
  {"revoke_refresh_tokens": true}  every refresh token issued so far is revoked (-> 400
                                   InvalidGrantException)
  {"fail_role_credentials": 401}   GetRoleCredentials answers that status (401 Unauthorized,
                                   429 TooManyRequests, 404 ResourceNotFound, 400 InvalidRequest,
                                   else InternalServerException) until set to null or 0
  {"set": {"TOKEN_TTL": 5}}        change knobs (names without SSO_EMU_)
  {"approve_device": "USER-CODE"}  approve a device authorization, as GET /device does

Log: each request appended to LOGFILE as one JSON line {"path", "method", "status", "t" (epoch
seconds, float), "grant_type"?, "client_id"?, "account_id"?, "role_name"?, "error_type"?} —
never a secret. Every secret issued (client secrets, access and refresh tokens, device codes,
authorization codes, role secret keys, session tokens) is appended to LOGFILE.secrets, one a
line, so a test can scan for every one of them.
"""
import base64
import hashlib
import http.server
import json
import os
import secrets
import string
import sys
import threading
import time
from urllib.parse import parse_qs, urlencode, urlsplit

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
CODE_TTL = 300

KNOBS = {
    "ACCOUNTS": "3",
    "PAGE": "2",
    "TOKEN_TTL": "3600",
    "CRED_TTL": "3600",
    "PENDING": "1",
    "SLOW_DOWN": "0",
    "TOKEN_DELAY_MS": "0",
    "INTERVAL": "1",
    "DEVICE_TTL": "600",
    "CLIENT_TTL": str(90 * 86400),
    "DEVICE_APPROVE": "auto",
    "AUTHORIZE": "approve",
}
for _k in KNOBS:
    KNOBS[_k] = os.environ.get("SSO_EMU_" + _k, KNOBS[_k])

LOCK = threading.RLock()
LOG = open(sys.argv[1], "a", buffering=1)
SECRETS = open(sys.argv[1] + ".secrets", "a", buffering=1)

clients = {}  # clientId -> {secret, expires, grant_types, redirect_uris}
devices = {}  # deviceCode -> {client_id, user_code, expires, polls, slowed, approved, used}
user_codes = {}  # userCode -> deviceCode
codes = {}  # code -> {client_id, redirect_uri, challenge, expires}
access = {}  # accessToken -> {expires, session, revoked}
refresh = {}  # refreshToken -> {client_id, session, revoked}
revoked_sessions = set()
state = {"fail_role_credentials": None}


def knob(name):
    with LOCK:
        return KNOBS[name]


def iknob(name):
    return int(knob(name))


def issue(prefix, nbytes=32):
    """A fresh random secret, recorded in LOGFILE.secrets before anyone sees it."""
    s = prefix + secrets.token_urlsafe(nbytes)
    with LOCK:
        SECRETS.write(s + "\n")
    return s


def upper(n):
    return "".join(secrets.choice(string.ascii_uppercase + string.digits) for _ in range(n))


def accounts():
    """[(id, name, email, [roles])] from SSO_EMU_ACCOUNTS."""
    spec = knob("ACCOUNTS").strip()
    out = []
    if spec.isdigit():
        for i in range(1, int(spec) + 1):
            aid = str(i) * 12 if i < 10 else "9%011d" % i
            out.append((aid, "account-%d" % i, "aws+%s@example.invalid" % aid, ["ReadOnly", "Admin"]))
        return out
    for entry in filter(None, (e.strip() for e in spec.split(","))):
        head, _, roles = entry.partition("=")
        aid, _, name = head.partition(":")
        roles = [r for r in roles.split("+") if r] if roles else ["ReadOnly", "Admin"]
        out.append((aid, name or "account-" + aid, "aws+%s@example.invalid" % aid, roles))
    return out


class Reply(Exception):
    """An answer other than 200 JSON: status, error type and body (or a redirect)."""

    def __init__(self, status, error_type=None, body=None, headers=None):
        self.status, self.error_type, self.body, self.headers = status, error_type, body, headers or {}


OIDC_STATUS = {"InvalidClientException": 401, "InternalServerException": 500}


def oidc_error(name, description):
    snake = "".join("_" + c.lower() if c.isupper() else c for c in name[: -len("Exception")]).lstrip("_")
    return Reply(OIDC_STATUS.get(name, 400), name, {"error": snake, "error_description": description})


PORTAL_ERRORS = {
    400: "InvalidRequestException",
    401: "UnauthorizedException",
    404: "ResourceNotFoundException",
    429: "TooManyRequestsException",
}


def portal_error(status, message):
    return Reply(status, PORTAL_ERRORS.get(status, "InternalServerException"), {"message": message})


def check_client(body):
    cid, secret = body.get("clientId"), body.get("clientSecret")
    with LOCK:
        c = clients.get(cid)
    if c is None or not secrets.compare_digest(str(secret or ""), c["secret"]):
        raise oidc_error("InvalidClientException", "Invalid client credentials")
    if time.time() >= c["expires"]:
        raise oidc_error("InvalidClientException", "Client registration has expired")
    return cid, c


def new_tokens(client_id, session):
    at, rt = issue("aoa"), issue("aor")
    ttl = iknob("TOKEN_TTL")
    with LOCK:
        access[at] = {"expires": time.time() + ttl, "session": session, "revoked": False}
        refresh[rt] = {"client_id": client_id, "session": session, "revoked": False}
    return {"accessToken": at, "tokenType": "Bearer", "expiresIn": ttl, "refreshToken": rt}


def register(body, meta):
    if body.get("clientType") != "public":
        raise oidc_error("InvalidRequestException", "clientType must be public")
    if not body.get("clientName"):
        raise oidc_error("InvalidRequestException", "clientName is required")
    grants = body.get("grantTypes")
    for g in grants or []:
        if g not in ("authorization_code", "refresh_token", DEVICE_GRANT):
            raise oidc_error("UnsupportedGrantTypeException", "Unsupported grant type")
    cid = "emu-" + secrets.token_hex(10)
    now = int(time.time())
    c = {
        "secret": issue("ecs", 48),
        "expires": now + iknob("CLIENT_TTL"),
        "grant_types": grants,
        "redirect_uris": body.get("redirectUris"),
    }
    with LOCK:
        clients[cid] = c
    meta["client_id"] = cid
    return {
        "clientId": cid,
        "clientSecret": c["secret"],
        "clientIdIssuedAt": now,
        "clientSecretExpiresAt": c["expires"],
    }


def allows(c, grant):
    return c["grant_types"] is None or grant in c["grant_types"]


def device_authorization(body, meta, base):
    cid, c = check_client(body)
    meta["client_id"] = cid
    if not body.get("startUrl"):
        raise oidc_error("InvalidRequestException", "startUrl is required")
    if not allows(c, DEVICE_GRANT):
        raise oidc_error("UnauthorizedClientException", "Client is not registered for the device grant")
    dc = issue("dc", 32)
    uc = upper(4) + "-" + upper(4)
    ttl = iknob("DEVICE_TTL")
    with LOCK:
        devices[dc] = {
            "client_id": cid,
            "user_code": uc,
            "expires": time.time() + ttl,
            "polls": 0,
            "slowed": False,
            "approved": False,
            "used": False,
            "session": secrets.token_hex(8),
        }
        user_codes[uc] = dc
    return {
        "deviceCode": dc,
        "userCode": uc,
        "verificationUri": base + "/device",
        "verificationUriComplete": base + "/device?" + urlencode({"user_code": uc}),
        "expiresIn": ttl,
        "interval": iknob("INTERVAL"),
    }


def token(body, meta):
    delay = iknob("TOKEN_DELAY_MS")
    if delay:
        time.sleep(delay / 1000)
    grant = body.get("grantType")
    meta["grant_type"] = grant
    cid, c = check_client(body)
    meta["client_id"] = cid
    if grant not in ("authorization_code", "refresh_token", DEVICE_GRANT):
        raise oidc_error("UnsupportedGrantTypeException", "Unsupported grant type")
    if not allows(c, grant):
        raise oidc_error("UnauthorizedClientException", "Client is not registered for this grant")
    with LOCK:
        if grant == DEVICE_GRANT:
            d = devices.get(body.get("deviceCode"))
            if d is None or d["client_id"] != cid or d["used"]:
                raise oidc_error("InvalidGrantException", "Invalid device code provided")
            if time.time() >= d["expires"]:
                raise oidc_error("ExpiredTokenException", "Device code has expired")
            if knob("SLOW_DOWN") == "1" and not d["slowed"]:
                d["slowed"] = True
                raise oidc_error("SlowDownException", "Client is polling too fast")
            if not d["approved"]:
                if knob("DEVICE_APPROVE") == "auto" and d["polls"] >= iknob("PENDING"):
                    d["approved"] = True
                else:
                    d["polls"] += 1
                    raise oidc_error("AuthorizationPendingException", "Authorization is still pending")
            d["used"] = True
            session = d["session"]
        elif grant == "authorization_code":
            a = codes.pop(body.get("code"), None)  # single use: any attempt consumes it
            if a is None or a["client_id"] != cid:
                raise oidc_error("InvalidGrantException", "Invalid authorization code provided")
            if time.time() >= a["expires"]:
                raise oidc_error("InvalidGrantException", "Authorization code has expired")
            if body.get("redirectUri") != a["redirect_uri"]:
                raise oidc_error("InvalidGrantException", "redirectUri does not match the authorize request")
            verifier = str(body.get("codeVerifier") or "")
            digest = hashlib.sha256(verifier.encode()).digest()
            challenge = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
            if not verifier or not secrets.compare_digest(challenge, a["challenge"]):
                raise oidc_error("InvalidGrantException", "Code verifier does not match the code challenge")
            session = secrets.token_hex(8)
        else:
            r = refresh.get(body.get("refreshToken"))
            if r is None or r["client_id"] != cid or r["revoked"] or r["session"] in revoked_sessions:
                raise oidc_error("InvalidGrantException", "Invalid refresh token provided")
            session = r["session"]
    return new_tokens(cid, session)


def authorize(query, meta):
    q = {k: v[0] for k, v in parse_qs(query).items()}
    cid = q.get("client_id")
    meta["client_id"] = cid
    with LOCK:
        c = clients.get(cid)
    if c is None:
        raise Reply(400, "InvalidClientException", "unknown client_id\n")
    if not allows(c, "authorization_code"):
        raise Reply(400, "UnauthorizedClientException", "client not registered for authorization_code\n")
    redirect = q.get("redirect_uri", "")
    u = urlsplit(redirect)
    try:
        port = u.port
    except ValueError:
        port = None
    if u.scheme != "http" or u.hostname != "127.0.0.1" or not port or u.path != "/oauth/callback" or u.query:
        raise Reply(400, "InvalidRedirectUriException", "redirect_uri must be http://127.0.0.1:PORT/oauth/callback\n")
    if q.get("response_type") != "code":
        raise Reply(400, "UnsupportedResponseType", "response_type must be code\n")
    if q.get("code_challenge_method") != "S256" or not q.get("code_challenge"):
        raise Reply(400, "InvalidRequestException", "PKCE with code_challenge_method=S256 is required\n")
    mode = knob("AUTHORIZE")
    params = {}
    if mode == "deny":
        params["error"] = "access_denied"
    else:
        code = issue("ac", 24)
        with LOCK:
            codes[code] = {
                "client_id": cid,
                "redirect_uri": redirect,
                "challenge": q["code_challenge"],
                "expires": time.time() + CODE_TTL,
            }
        params["code"] = code
    if "state" in q:
        params["state"] = q["state"] + ("-tampered" if mode == "bad_state" else "")
    elif mode == "bad_state":
        params["state"] = "tampered"
    raise Reply(302, None, b"", {"Location": redirect + "?" + urlencode(params)})


def approve(user_code):
    with LOCK:
        d = devices.get(user_codes.get(user_code or ""))
        if d is None:
            return False
        d["approved"] = True
        return True


def bearer(headers):
    tok = headers.get("x-amz-sso_bearer_token")
    with LOCK:
        a = access.get(tok)
        if a is None or a["revoked"] or a["session"] in revoked_sessions or time.time() >= a["expires"]:
            raise portal_error(401, "Session token not found or invalid")
    return tok, a


def page(items, q):
    try:
        start = int(base64.urlsafe_b64decode(q["next_token"]).decode().split(":")[1]) if q.get("next_token") else 0
        size = int(q.get("max_result") or knob("PAGE"))
    except (ValueError, IndexError, UnicodeDecodeError):
        raise portal_error(400, "Invalid nextToken or maxResults")
    if size < 1 or start < 0:
        raise portal_error(400, "Invalid nextToken or maxResults")
    out = {"items": items[start : start + size]}
    if start + size < len(items):
        out["nextToken"] = base64.urlsafe_b64encode(("page:%d" % (start + size)).encode()).decode()
    return out


def find_account(aid):
    for a in accounts():
        if a[0] == aid:
            return a
    return None


def portal(path, q, headers, meta):
    q = {k: v[0] for k, v in parse_qs(q).items()}
    if "account_id" in q:
        meta["account_id"] = q["account_id"]
    if "role_name" in q:
        meta["role_name"] = q["role_name"]
    tok, a = bearer(headers)
    if path == "/logout":
        with LOCK:
            a["revoked"] = True
            revoked_sessions.add(a["session"])
        return {}
    if path == "/assignment/accounts":
        p = page([{"accountId": i, "accountName": n, "emailAddress": e} for i, n, e, _ in accounts()], q)
        out = {"accountList": p["items"]}
    elif path == "/assignment/roles":
        acct = find_account(q.get("account_id"))
        if acct is None:
            raise portal_error(404, "No access")
        p = page([{"roleName": r, "accountId": acct[0]} for r in acct[3]], q)
        out = {"roleList": p["items"]}
    else:  # /federation/credentials
        with LOCK:
            fail = state["fail_role_credentials"]
        if fail:
            raise portal_error(int(fail), "Injected failure (/_control fail_role_credentials)")
        acct = find_account(q.get("account_id"))
        if acct is None or q.get("role_name") not in acct[3]:
            raise portal_error(404, "No access")
        return {
            "roleCredentials": {
                "accessKeyId": "ASIA" + upper(16),
                "secretAccessKey": issue("", 30),
                "sessionToken": issue("IQoJ", 96),
                "expiration": int((time.time() + iknob("CRED_TTL")) * 1000),
            }
        }
    if "nextToken" in p:
        out["nextToken"] = p["nextToken"]
    return out


def control(body):
    with LOCK:
        now = time.time()
        if body.get("expire_access_tokens"):
            for a in access.values():
                a["expires"] = min(a["expires"], now)
        if body.get("revoke_refresh_tokens"):
            for r in refresh.values():
                r["revoked"] = True
        if "fail_role_credentials" in body:
            state["fail_role_credentials"] = body["fail_role_credentials"] or None
        for k, v in (body.get("set") or {}).items():
            k = k.upper().removeprefix("SSO_EMU_")
            if k not in KNOBS:
                raise Reply(400, "InvalidRequestException", {"message": "unknown knob " + k})
            KNOBS[k] = str(v)
        if body.get("approve_device") and not approve(body["approve_device"]):
            raise Reply(400, "InvalidRequestException", {"message": "unknown user code"})
        return dict(KNOBS, fail_role_credentials=state["fail_role_credentials"])


PORTAL = {
    ("GET", "/federation/credentials"),
    ("GET", "/assignment/accounts"),
    ("GET", "/assignment/roles"),
    ("POST", "/logout"),
}


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the SDKs' connection pools expect
    disable_nagle_algorithm = True  # headers and body go out as two writes: no 40 ms stall

    def log_message(self, *args):
        pass

    def handle_one(self, method):
        u = urlsplit(self.path)
        path = u.path
        meta = {"path": path, "method": method}
        status, error_type, body, headers = 200, None, None, {}
        try:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            jbody = {}
            if method == "POST" and raw:
                try:
                    jbody = json.loads(raw)
                except ValueError:
                    raise oidc_error("InvalidRequestException", "body is not JSON")
                if not isinstance(jbody, dict):
                    raise oidc_error("InvalidRequestException", "body is not a JSON object")
            base = "http://%s:%d" % self.server.server_address[:2]
            if (method, path) == ("POST", "/client/register"):
                body = register(jbody, meta)
            elif (method, path) == ("POST", "/device_authorization"):
                body = device_authorization(jbody, meta, base)
            elif (method, path) == ("POST", "/token"):
                body = token(jbody, meta)
            elif (method, path) == ("GET", "/authorize"):
                authorize(u.query, meta)
            elif (method, path) in PORTAL:
                body = portal(path, u.query, self.headers, meta)
            elif (method, path) == ("POST", "/_control"):
                body = control(jbody)
            elif (method, path) == ("GET", "/device"):
                uc = parse_qs(u.query).get("user_code", [""])[0]
                if not approve(uc):
                    raise Reply(400, None, "unknown user code\n")
                body = "Device approved. You can close this tab.\n"
            elif method == "GET" and path in ("/start", "/start/"):
                body = "IAM Identity Center emulator: the access portal.\n"
            else:
                raise Reply(404, "UnknownOperationException", {"message": "no such operation"})
        except Reply as r:
            status, error_type, body, headers = r.status, r.error_type, r.body, r.headers
        except Exception as e:  # a bug here must show as a 500, not a hung client
            status, error_type, body = 500, "InternalServerException", {"message": type(e).__name__}
        if isinstance(body, (dict, list)):
            data, ctype = json.dumps(body).encode(), "application/json"
        elif isinstance(body, str):
            data, ctype = body.encode(), "text/plain; charset=utf-8"
        else:
            data, ctype = body or b"", "text/plain"
        # Logged before the answer goes out, so a client that has its answer sees the line.
        meta["status"] = status
        meta["t"] = round(time.time(), 3)
        if error_type:
            meta["error_type"] = error_type
        meta = {k: v for k, v in meta.items() if v is not None}
        with LOCK:
            LOG.write(json.dumps(meta) + "\n")
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-amzn-RequestId", secrets.token_hex(16))
        if error_type:
            self.send_header("x-amzn-ErrorType", error_type)
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self.handle_one("GET")

    def do_POST(self):
        self.handle_one("POST")


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # 20+ parallel vaults connect at once


server = Server(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
