"""A loopback AWS console federation endpoint (the sign-in service's /federation), for tests.

Usage: python3 tests/federation_server.py LOGFILE
Prints the port on the first stdout line, then serves until killed.

It speaks the protocol of AWS's "Enable custom identity broker access to the AWS console":

  GET /federation?Action=getSigninToken&Session=JSON[&SessionDuration=N]
      JSON is {"sessionId", "sessionKey", "sessionToken"}: all three present, non-empty
      strings, the key id a temporary (ASIA) one; SessionDuration, when present, an integer
      in 900..=43200. Answers 200 {"SigninToken": "<random>"}, else 400.
  GET /federation?Action=login&Issuer=...&Destination=URL&SigninToken=T
      T must be a token this server issued less than 15 minutes ago and Destination an
      https:// URL; answers 302 to Destination, else 400.
  GET /_control?refuse=1|0
      From then on, refuse (400) every getSigninToken, or stop refusing.

POST with the same parameters as a form body works too, as at AWS. Each call is appended to
LOGFILE as one JSON line without secrets: {"Action", "has_session_duration",
"SessionDuration", "status"} (plus "Destination" for login), so tests check what vault sent.
"""
import json
import secrets
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

TOKEN_LIFETIME = 15 * 60

log = open(sys.argv[1], "a", buffering=1)
lock = threading.Lock()
state = {"refuse": False}
issued = {}  # token -> time issued


def record(entry):
    with lock:
        log.write(json.dumps(entry) + "\n")


def single(params, name):
    """The one value of a parameter, or None when it is missing or repeated."""
    values = params.get(name)
    if not values or len(values) != 1:
        return None
    return values[0]


def valid_session(text):
    try:
        session = json.loads(text)
    except ValueError:
        return False
    if not isinstance(session, dict):
        return False
    fields = [session.get(k) for k in ("sessionId", "sessionKey", "sessionToken")]
    if not all(isinstance(v, str) and v for v in fields):
        return False
    return fields[0].startswith("ASIA")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass  # the request line carries the session: never printed

    def answer(self, status, body=b"", content_type="text/plain", location=None):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if location:
            self.send_header("Location", location)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        url = urlsplit(self.path)
        self.handle_call(url.path, parse_qs(url.query, keep_blank_values=True))

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode("utf-8", "replace")
        self.handle_call(urlsplit(self.path).path, parse_qs(body, keep_blank_values=True))

    def handle_call(self, path, params):
        if path == "/_control":
            refuse = single(params, "refuse")
            if refuse not in ("0", "1"):
                return self.answer(400, b"refuse=0|1\n")
            state["refuse"] = refuse == "1"
            return self.answer(200, b"ok\n")
        if path != "/federation":
            return self.answer(404, b"not found\n")
        action = single(params, "Action")
        if action == "getSigninToken":
            self.get_signin_token(params)
        elif action == "login":
            self.login(params)
        else:
            record({"Action": action, "status": 400})
            self.answer(400, b"unknown Action\n")

    def get_signin_token(self, params):
        duration = single(params, "SessionDuration")
        has_duration = "SessionDuration" in params
        entry = {"Action": "getSigninToken", "has_session_duration": has_duration}
        ok = True
        if has_duration:
            try:
                entry["SessionDuration"] = int(duration)
                ok = 900 <= int(duration) <= 43200
            except (TypeError, ValueError):
                entry["SessionDuration"] = None
                ok = False
        else:
            entry["SessionDuration"] = None
        session = single(params, "Session")
        ok = ok and session is not None and valid_session(session)
        if ok and state["refuse"]:
            ok = False
        if not ok:
            entry["status"] = 400
            record(entry)
            return self.answer(400, b"Bad Request\n")
        token = secrets.token_urlsafe(192)
        with lock:
            issued[token] = time.time()
        entry["status"] = 200
        record(entry)
        body = json.dumps({"SigninToken": token}).encode()
        self.answer(200, body, "application/json")

    def login(self, params):
        token = single(params, "SigninToken")
        destination = single(params, "Destination")
        entry = {"Action": "login", "Destination": destination}
        with lock:
            when = issued.get(token) if token else None
        fresh = when is not None and time.time() - when < TOKEN_LIFETIME
        if not fresh or not destination or not destination.startswith("https://"):
            entry["status"] = 400
            record(entry)
            return self.answer(400, b"Bad Request\n")
        entry["status"] = 302
        record(entry)
        self.answer(302, location=destination)


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_port, flush=True)
server.serve_forever()
