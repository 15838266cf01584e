"""The IAM Identity Center emulator's fidelity, checked with botocore's OWN clients.

Usage: python3 tests/sso_fidelity.py URL LOGFILE
URL is a fresh tests/sso_server.py started with its default knobs (this script changes them
through /_control and puts them back), LOGFILE its log. boto3's `sso-oidc` and `sso` clients,
unsigned as the SDKs send these calls, run every flow vault uses: RegisterClient, the device
grant through SlowDown and AuthorizationPending (botocore raising its modelled exceptions proves
the error wire format), the refresh_token grant, the authorization_code grant with PKCE (the
/authorize redirect followed by hand, state checked), ListAccounts through botocore's paginator,
ListAccountRoles, GetRoleCredentials, Logout and the 401 after it, and every /_control knob.
Prints one `ok NAME` line per check and `SSO FIDELITY PASSED` at the end; any failure is a
traceback and a non-zero exit. tests/sso_emulator.rs runs it.
"""
import base64
import hashlib
import json
import secrets
import sys
import time
import urllib.error
import urllib.request
from urllib.parse import parse_qs, urlencode, urlsplit

import boto3
from botocore.config import Config

URL, LOGFILE = sys.argv[1], sys.argv[2]
DEVICE = "urn:ietf:params:oauth:grant-type:device_code"
cfg = Config(retries={"max_attempts": 1, "mode": "standard"})
oidc = boto3.client("sso-oidc", endpoint_url=URL, region_name="us-east-1", config=cfg)
sso = boto3.client("sso", endpoint_url=URL, region_name="us-east-1", config=cfg)


def ok(name):
    print("ok", name, flush=True)


def control(body):
    req = urllib.request.Request(URL + "/_control", json.dumps(body).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(req) as r:
        return json.load(r)


def raises(exc, fn, **kw):
    """Calls fn(**kw), which must raise botocore's modelled exception `exc`; returns it."""
    try:
        fn(**kw)
    except exc as e:
        return e
    raise AssertionError("expected %s from %s" % (exc.__name__, fn.__name__))


def code_of(e):
    return e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"]


# --- RegisterClient ------------------------------------------------------------------------
now = time.time()
reg = oidc.register_client(clientName="fidelity", clientType="public", scopes=["sso:account:access"])
cid, csec = reg["clientId"], reg["clientSecret"]
assert cid and len(csec) > 20, reg
assert abs(reg["clientIdIssuedAt"] - now) < 5, reg
assert abs(reg["clientSecretExpiresAt"] - (now + 90 * 86400)) < 5, reg
ok("register_client: clientId, clientSecret, issued at now, expires in 90 days (epoch seconds)")
e = raises(oidc.exceptions.InvalidRequestException, oidc.register_client, clientName="x", clientType="confidential")
ok("register_client: a non-public clientType is InvalidRequestException")

# --- the device grant ------------------------------------------------------------------------
control({"set": {"SLOW_DOWN": 1, "PENDING": 2}})
dev = oidc.start_device_authorization(clientId=cid, clientSecret=csec, startUrl=URL + "/start")
assert dev["interval"] == 1 and dev["expiresIn"] == 600, dev
assert dev["verificationUri"] == URL + "/device", dev
assert dev["userCode"] in dev["verificationUriComplete"], dev
ok("start_device_authorization: deviceCode, userCode, verification URIs, expiresIn 600, interval 1")
answers = []
while True:
    try:
        tok = oidc.create_token(clientId=cid, clientSecret=csec, grantType=DEVICE, deviceCode=dev["deviceCode"])
        break
    except oidc.exceptions.SlowDownException:
        answers.append("slow_down")
    except oidc.exceptions.AuthorizationPendingException as e:
        assert code_of(e) == ("AuthorizationPendingException", 400), e.response
        answers.append("pending")
    assert len(answers) < 10, answers
assert answers == ["slow_down", "pending", "pending"], answers
assert tok["tokenType"] == "Bearer" and tok["expiresIn"] == 3600, tok
assert tok["accessToken"] and tok["refreshToken"], tok
control({"set": {"SLOW_DOWN": 0, "PENDING": 1}})
ok("create_token device_code: SlowDownException, then AuthorizationPendingException x2, then a Bearer token")
raises(oidc.exceptions.InvalidGrantException, oidc.create_token, clientId=cid, clientSecret=csec, grantType=DEVICE, deviceCode=dev["deviceCode"])
ok("create_token device_code: a redeemed device code is InvalidGrantException")
e = raises(oidc.exceptions.InvalidClientException, oidc.create_token, clientId=cid, clientSecret=csec + "x", grantType=DEVICE, deviceCode="nope")
assert code_of(e) == ("InvalidClientException", 401), e.response
ok("create_token: a wrong client secret is InvalidClientException (401)")
raises(oidc.exceptions.UnsupportedGrantTypeException, oidc.create_token, clientId=cid, clientSecret=csec, grantType="password")
ok("create_token: an unknown grant is UnsupportedGrantTypeException")

# the raw error wire format, as the Rust SDK parses it too
req = urllib.request.Request(
    URL + "/token",
    json.dumps({"clientId": cid, "clientSecret": csec, "grantType": DEVICE, "deviceCode": "nope"}).encode(),
    {"Content-Type": "application/json"},
)
try:
    urllib.request.urlopen(req)
    raise AssertionError("an unknown device code was accepted")
except urllib.error.HTTPError as h:
    assert h.code == 400 and h.headers["x-amzn-ErrorType"] == "InvalidGrantException", h.headers
    body = json.load(h)
    assert body["error"] == "invalid_grant" and body["error_description"], body
ok("error wire format: 400, x-amzn-ErrorType header, {error, error_description} body")

# device code expiry, and approval by the verification page
control({"set": {"DEVICE_TTL": 1}})
dev2 = oidc.start_device_authorization(clientId=cid, clientSecret=csec, startUrl=URL + "/start")
time.sleep(1.2)
raises(oidc.exceptions.ExpiredTokenException, oidc.create_token, clientId=cid, clientSecret=csec, grantType=DEVICE, deviceCode=dev2["deviceCode"])
control({"set": {"DEVICE_TTL": 600, "DEVICE_APPROVE": "browser"}})
ok("create_token device_code: past expiresIn it is ExpiredTokenException")
dev3 = oidc.start_device_authorization(clientId=cid, clientSecret=csec, startUrl=URL + "/start")
for _ in range(3):
    raises(oidc.exceptions.AuthorizationPendingException, oidc.create_token, clientId=cid, clientSecret=csec, grantType=DEVICE, deviceCode=dev3["deviceCode"])
with urllib.request.urlopen(dev3["verificationUriComplete"]) as r:
    assert r.status == 200
oidc.create_token(clientId=cid, clientSecret=csec, grantType=DEVICE, deviceCode=dev3["deviceCode"])
control({"set": {"DEVICE_APPROVE": "auto"}})
ok("DEVICE_APPROVE=browser: pending until verificationUriComplete is opened")

# --- the refresh_token grant -----------------------------------------------------------------
ref = oidc.create_token(clientId=cid, clientSecret=csec, grantType="refresh_token", refreshToken=tok["refreshToken"])
assert ref["accessToken"] != tok["accessToken"] and ref["refreshToken"] != tok["refreshToken"], ref
again = oidc.create_token(clientId=cid, clientSecret=csec, grantType="refresh_token", refreshToken=tok["refreshToken"])
assert again["accessToken"] not in (tok["accessToken"], ref["accessToken"])
ok("create_token refresh_token: a new access and refresh token; the old refresh token stays valid")
raises(oidc.exceptions.InvalidGrantException, oidc.create_token, clientId=cid, clientSecret=csec, grantType="refresh_token", refreshToken="aor-unknown")
ok("create_token refresh_token: an unknown refresh token is InvalidGrantException")

# --- the authorization_code grant with PKCE ---------------------------------------------------
areg = oidc.register_client(
    clientName="fidelity-pkce",
    clientType="public",
    scopes=["sso:account:access"],
    grantTypes=["authorization_code", "refresh_token"],
    redirectUris=["http://127.0.0.1/oauth/callback"],
    issuerUrl=URL + "/start",
)
acid, acsec = areg["clientId"], areg["clientSecret"]


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *a, **kw):
        return None


opener = urllib.request.build_opener(NoRedirect)


def authorize(**over):
    """GET /authorize (redirects not followed): (status, Location or body, the PKCE verifier)."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    q = {
        "response_type": "code",
        "client_id": acid,
        "redirect_uri": "http://127.0.0.1:45678/oauth/callback",
        "state": "st-" + secrets.token_hex(8),
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "scopes": "sso:account:access",
    }
    q.update(over)
    q = {k: v for k, v in q.items() if v is not None}
    try:
        with opener.open(URL + "/authorize?" + urlencode(q)) as r:
            return r.status, r.read().decode(), verifier, q
    except urllib.error.HTTPError as h:
        return h.code, h.headers.get("Location") or h.read().decode(), verifier, q


def callback(location, q):
    u = urlsplit(location)
    assert "%s://%s%s" % (u.scheme, u.netloc, u.path) == q["redirect_uri"], location
    return {k: v[0] for k, v in parse_qs(u.query).items()}


status, loc, verifier, q = authorize()
assert status == 302, (status, loc)
cb = callback(loc, q)
assert cb["state"] == q["state"] and cb["code"], cb
ok("/authorize: 302 to redirect_uri with a code and the same state")
e = raises(oidc.exceptions.InvalidGrantException, oidc.create_token, clientId=acid, clientSecret=acsec, grantType="authorization_code", code=cb["code"], codeVerifier=verifier + "x", redirectUri=q["redirect_uri"])
ok("create_token authorization_code: a wrong code_verifier is InvalidGrantException")
raises(oidc.exceptions.InvalidGrantException, oidc.create_token, clientId=acid, clientSecret=acsec, grantType="authorization_code", code=cb["code"], codeVerifier=verifier, redirectUri=q["redirect_uri"])
ok("create_token authorization_code: a code is consumed by any attempt (single use)")
status, loc, verifier, q = authorize()
cb = callback(loc, q)
raises(oidc.exceptions.InvalidGrantException, oidc.create_token, clientId=acid, clientSecret=acsec, grantType="authorization_code", code=cb["code"], codeVerifier=verifier, redirectUri="http://127.0.0.1:1/oauth/callback")
status, loc, verifier, q = authorize()
cb = callback(loc, q)
pk = oidc.create_token(clientId=acid, clientSecret=acsec, grantType="authorization_code", code=cb["code"], codeVerifier=verifier, redirectUri=q["redirect_uri"])
assert pk["tokenType"] == "Bearer" and pk["accessToken"] and pk["refreshToken"], pk
raises(oidc.exceptions.InvalidGrantException, oidc.create_token, clientId=acid, clientSecret=acsec, grantType="authorization_code", code=cb["code"], codeVerifier=verifier, redirectUri=q["redirect_uri"])
ok("create_token authorization_code: the right verifier and redirectUri get a token, once")
oidc.create_token(clientId=acid, clientSecret=acsec, grantType="refresh_token", refreshToken=pk["refreshToken"])
ok("create_token refresh_token: works for an authorization-code login")
for bad in (
    {"client_id": "emu-unknown"},
    {"redirect_uri": "http://localhost:45678/oauth/callback"},
    {"redirect_uri": "https://127.0.0.1:45678/oauth/callback"},
    {"redirect_uri": "http://127.0.0.1:45678/other"},
    {"redirect_uri": "http://127.0.0.1/oauth/callback"},
    {"code_challenge_method": "plain"},
    {"code_challenge": None},
    {"response_type": "token"},
):
    status, body, _, _ = authorize(**bad)
    assert status == 400, (bad, status, body)
ok("/authorize: 400 for an unknown client, a non-loopback redirect, no S256 challenge")
control({"set": {"AUTHORIZE": "bad_state"}})
status, loc, _, q = authorize()
assert status == 302 and callback(loc, q)["state"] != q["state"], loc
control({"set": {"AUTHORIZE": "deny"}})
status, loc, _, q = authorize()
cb = callback(loc, q)
assert cb == {"error": "access_denied", "state": q["state"]}, cb
control({"set": {"AUTHORIZE": "approve"}})
ok("AUTHORIZE=bad_state: another state; AUTHORIZE=deny: error=access_denied")
dreg = oidc.register_client(clientName="dev-only", clientType="public", grantTypes=[DEVICE])
status, _, _, _ = authorize(client_id=dreg["clientId"])
assert status == 400, status
ok("/authorize: 400 for a client registered without authorization_code")

# --- the portal ------------------------------------------------------------------------------
at = ref["accessToken"]
pages = list(sso.get_paginator("list_accounts").paginate(accessToken=at))
assert len(pages) == 2 and [len(p["accountList"]) for p in pages] == [2, 1], pages
assert "nextToken" in pages[0] and "nextToken" not in pages[1], pages
ids = [a["accountId"] for p in pages for a in p["accountList"]]
assert ids == ["111111111111", "222222222222", "333333333333"], ids
a0 = pages[0]["accountList"][0]
assert a0["accountName"] and a0["emailAddress"], a0
ok("list_accounts: botocore's paginator walks 2 pages of SSO_EMU_PAGE=2, 3 accounts")
one = sso.list_accounts(accessToken=at, maxResults=5)
assert len(one["accountList"]) == 3 and "nextToken" not in one, one
ok("list_accounts: maxResults overrides the page size")
roles = [r for p in sso.get_paginator("list_account_roles").paginate(accessToken=at, accountId="222222222222") for r in p["roleList"]]
assert roles == [{"roleName": "ReadOnly", "accountId": "222222222222"}, {"roleName": "Admin", "accountId": "222222222222"}], roles
ok("list_account_roles: ReadOnly and Admin")
raises(sso.exceptions.ResourceNotFoundException, sso.list_account_roles, accessToken=at, accountId="999999999999")
ok("list_account_roles: an unassigned account is ResourceNotFoundException")
t0 = time.time()
rc = sso.get_role_credentials(accessToken=at, accountId="111111111111", roleName="Admin")["roleCredentials"]
assert rc["accessKeyId"].startswith("ASIA") and len(rc["accessKeyId"]) == 20, rc
assert len(rc["secretAccessKey"]) >= 40 and len(rc["sessionToken"]) > 100, rc
assert (t0 + 3590) * 1000 < rc["expiration"] < (t0 + 3610) * 1000, rc
ok("get_role_credentials: ASIA key, secret, session token, expiration in epoch ms")
raises(sso.exceptions.ResourceNotFoundException, sso.get_role_credentials, accessToken=at, accountId="111111111111", roleName="Nope")
ok("get_role_credentials: an unassigned role is ResourceNotFoundException")
raises(sso.exceptions.UnauthorizedException, sso.list_accounts, accessToken="aoa-unknown")
ok("portal: an unknown bearer token is UnauthorizedException")

# --- /_control -------------------------------------------------------------------------------
for status, exc in ((401, sso.exceptions.UnauthorizedException), (429, sso.exceptions.TooManyRequestsException)):
    control({"fail_role_credentials": status})
    e = raises(exc, sso.get_role_credentials, accessToken=at, accountId="111111111111", roleName="Admin")
    assert code_of(e)[1] == status, e.response
control({"fail_role_credentials": None})
sso.get_role_credentials(accessToken=at, accountId="111111111111", roleName="Admin")
ok("_control fail_role_credentials: 401 UnauthorizedException, 429 TooManyRequests, then cleared")
control({"expire_access_tokens": True})
e = raises(sso.exceptions.UnauthorizedException, sso.list_accounts, accessToken=at)
assert code_of(e) == ("UnauthorizedException", 401), e.response
fresh = oidc.create_token(clientId=cid, clientSecret=csec, grantType="refresh_token", refreshToken=ref["refreshToken"])
sso.list_accounts(accessToken=fresh["accessToken"])
ok("_control expire_access_tokens: every issued token gets 401; a refresh gets a working one")
knobs = control({"set": {"TOKEN_TTL": 5, "CRED_TTL": 60}})
assert knobs["TOKEN_TTL"] == "5", knobs
short = oidc.create_token(clientId=cid, clientSecret=csec, grantType="refresh_token", refreshToken=fresh["refreshToken"])
assert short["expiresIn"] == 5, short
rc = sso.get_role_credentials(accessToken=short["accessToken"], accountId="111111111111", roleName="Admin")["roleCredentials"]
assert rc["expiration"] < (time.time() + 61) * 1000, rc
control({"set": {"TOKEN_TTL": 3600, "CRED_TTL": 3600}})
ok("_control set TOKEN_TTL / CRED_TTL: expiresIn and expiration follow")
control({"set": {"TOKEN_DELAY_MS": 400}})
t0 = time.time()
oidc.create_token(clientId=cid, clientSecret=csec, grantType="refresh_token", refreshToken=fresh["refreshToken"])
assert time.time() - t0 >= 0.4
control({"set": {"TOKEN_DELAY_MS": 0}})
ok("_control set TOKEN_DELAY_MS: /token answers after the delay")

# --- Logout ----------------------------------------------------------------------------------
lo = oidc.create_token(clientId=acid, clientSecret=acsec, grantType="refresh_token", refreshToken=pk["refreshToken"])
sso.list_accounts(accessToken=lo["accessToken"])
sso.logout(accessToken=lo["accessToken"])
e = raises(sso.exceptions.UnauthorizedException, sso.list_accounts, accessToken=lo["accessToken"])
assert code_of(e) == ("UnauthorizedException", 401), e.response
raises(sso.exceptions.UnauthorizedException, sso.list_accounts, accessToken=pk["accessToken"])
raises(oidc.exceptions.InvalidGrantException, oidc.create_token, clientId=acid, clientSecret=acsec, grantType="refresh_token", refreshToken=pk["refreshToken"])
sso.list_accounts(accessToken=fresh["accessToken"])  # another sign-in session is untouched
ok("logout: that sign-in session's access and refresh tokens are revoked (401, InvalidGrant)")
control({"revoke_refresh_tokens": True})
raises(oidc.exceptions.InvalidGrantException, oidc.create_token, clientId=cid, clientSecret=csec, grantType="refresh_token", refreshToken=fresh["refreshToken"])
ok("_control revoke_refresh_tokens: the refresh grant is InvalidGrantException")

# --- the log ---------------------------------------------------------------------------------
calls = [json.loads(line) for line in open(LOGFILE)]
assert all({"path", "method", "status", "t"} <= c.keys() for c in calls), calls[:3]
assert all("?" not in c["path"] for c in calls)
grants = {c.get("grant_type") for c in calls if c["path"] == "/token"}
assert grants == {DEVICE, "refresh_token", "authorization_code", "password"}, grants
assert any(c.get("error_type") == "AuthorizationPendingException" for c in calls)
assert any(c.get("account_id") == "111111111111" and c.get("role_name") == "Admin" for c in calls)
log_text = open(LOGFILE).read()
issued = [s for s in open(LOGFILE + ".secrets").read().split("\n") if s]
for s in (csec, acsec, tok["accessToken"], tok["refreshToken"], dev["deviceCode"], rc["secretAccessKey"], rc["sessionToken"]):
    assert s in issued, "an issued secret is missing from LOGFILE.secrets"
assert not [s for s in issued if s in log_text], "a secret is in the log"
ok("log: one line per call with path, method, status, grant_type; every secret in .secrets, none in the log")
print("SSO FIDELITY PASSED", flush=True)
