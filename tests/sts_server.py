"""moto's server mode on a free loopback port, logging every API call it serves.

Usage: python3 tests/sts_server.py LOGFILE
Prints the port on the first stdout line, then serves until killed. Each request whose form
body has an Action is appended to LOGFILE as one JSON line: the Action and its non-secret
parameters (Version, RoleArn, SerialNumber, TokenCode, DurationSeconds, ...), so tests count
STS calls and check what vault sent. moto does not validate MFA codes or trust policies.
"""
import io
import json
import sys
import threading
from urllib.parse import parse_qs

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import make_server

app = DomainDispatcherApplication(create_backend_app)
log = open(sys.argv[1], "a", buffering=1)
lock = threading.Lock()


def logged(environ, start_response):
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"] = io.BytesIO(body)
    params = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
    if "Action" in params:
        auth = environ.get("HTTP_AUTHORIZATION", "")
        key = auth.split("Credential=")[1].split("/")[0] if "Credential=" in auth else ""
        params["_AccessKeyId"] = key
        with lock:
            log.write(json.dumps(params) + "\n")
    return app(environ, start_response)


server = make_server("127.0.0.1", 0, logged, threaded=True)
print(server.server_port, flush=True)
server.serve_forever()
