"""A hostile STS on a free loopback port: answers every GetSessionToken and AssumeRole the way
MODE says, to test what vault does with what an endpoint it does not trust returns.

Usage: python3 tests/hostile_sts.py MODE [ARG]
Prints the port on the first stdout line, then serves until killed. Modes:
  field NAME VALUE  well-formed credentials, except that field NAME (AccessKeyId,
                    SecretAccessKey, SessionToken) is VALUE (e.g. `$(touch /tmp/x)`)
  expiry WHEN       well-formed credentials expiring at WHEN (e.g. 9999-12-31T23:59:59Z)
  error CODE        an ErrorResponse (HTTP 403) whose Code is CODE (e.g. with a newline)
"""
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs
from xml.sax.saxutils import escape

mode = sys.argv[1]
args = sys.argv[2:]

GOOD = {
    "AccessKeyId": "ASIAHOSTILE000000001",
    "SecretAccessKey": "c2VjcmV0L3NlY3JldCtzZWNyZXQ9c2VjcmV0MDAw",
    "SessionToken": "FQoGZXIvYXdzEBYaDHostile+Token/Base64==",
}


def later(seconds):
    import datetime

    t = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=seconds)
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def answer(action):
    if mode == "error":
        body = (
            '<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error>'
            f"<Type>Sender</Type><Code>{escape(args[0])}</Code><Message>no</Message>"
            "</Error><RequestId>1</RequestId></ErrorResponse>"
        )
        return 403, body
    creds = dict(GOOD)
    expiration = later(3600)
    if mode == "field":
        creds[args[0]] = args[1]
    elif mode == "expiry":
        expiration = args[0]
    fields = "".join(f"<{k}>{escape(v)}</{k}>" for k, v in creds.items())
    role = ""
    if action == "AssumeRole":
        role = (
            "<AssumedRoleUser><AssumedRoleId>AROAHOSTILE:s</AssumedRoleId>"
            "<Arn>arn:aws:sts::123456789012:assumed-role/r/s</Arn></AssumedRoleUser>"
        )
    body = (
        f'<{action}Response xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
        f"<{action}Result><Credentials>{fields}<Expiration>{expiration}</Expiration>"
        f"</Credentials>{role}</{action}Result>"
        f"<ResponseMetadata><RequestId>1</RequestId></ResponseMetadata></{action}Response>"
    )
    return 200, body


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        params = parse_qs(self.rfile.read(length).decode("utf-8", "replace"))
        action = params.get("Action", ["GetSessionToken"])[0]
        status, body = answer(action)
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/xml")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *a):
        pass


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_port, flush=True)
server.serve_forever()
