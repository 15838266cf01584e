"""moto's server mode on a free loopback port, logging every API call it serves.

Usage: python3 tests/sts_server.py LOGFILE [CERTFILE]
Prints the port on the first stdout line, then serves until killed. With CERTFILE it serves
HTTPS with a fresh self-signed certificate for 127.0.0.1, written there as PEM (its key next
to it as CERTFILE.key), so a test can trust it or not. Each request whose form
body has an Action is appended to LOGFILE as one JSON line: the Action and its non-secret
parameters (Version, RoleArn, SerialNumber, TokenCode, DurationSeconds, ...), so tests count
STS calls and check what vault sent. moto does not validate MFA codes or trust policies.
With STS_DELAY=SECONDS in its environment, every such call is answered that much later (a slow
STS, for the tests of `vault exec --server`'s refresh ahead); moto makes the answer after the
wait, so the session's lifetime is unchanged.
"""
import io
import json
import os
import sys
import threading
import time
from urllib.parse import parse_qs

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import make_server

# Fidelity: moto answers GetFederationToken with one fixed AKIA key, secret and token for
# everyone; AWS issues fresh temporary (ASIA) credentials, the kind the console's federation
# endpoint takes (tests/federation_server.py checks the ASIA prefix), so each answer gets its own.
def _fresh_federation_credentials():
    import base64
    import os

    from moto.iam.utils import random_access_key
    from moto.sts.responses import TokenResponse
    from moto.sts.utils import random_session_token

    moto_answer = TokenResponse.get_federation_token

    def fresh(self):
        answer = moto_answer(self)
        creds = answer.result["Credentials"]
        creds["AccessKeyId"] = "ASIA" + random_access_key()
        creds["SecretAccessKey"] = base64.b64encode(os.urandom(30)).decode()
        creds["SessionToken"] = random_session_token()
        return answer

    TokenResponse.get_federation_token = fresh


_fresh_federation_credentials()
app = DomainDispatcherApplication(create_backend_app)
log = open(sys.argv[1], "a", buffering=1)
lock = threading.Lock()
delay = float(os.environ.get("STS_DELAY") or 0)


def logged(environ, start_response):
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"] = io.BytesIO(body)
    params = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
    if "Action" in params:
        auth = environ.get("HTTP_AUTHORIZATION", "")
        scope = auth.split("Credential=")[1].split(",")[0].split("/") if "Credential=" in auth else []
        params["_AccessKeyId"] = scope[0] if scope else ""
        # The region the request was signed for (the credential scope's third part).
        params["_Region"] = scope[2] if len(scope) > 2 else ""
        with lock:
            log.write(json.dumps(params) + "\n")
        time.sleep(delay)
    return app(environ, start_response)


def self_signed(cert_path):
    """A P-256 key and a one-day certificate for 127.0.0.1 (not a CA); returns both paths."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_path = cert_path + ".key"
    with open(key_path, "wb") as f:
        f.write(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    with open(cert_path, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    return cert_path, key_path


tls = self_signed(sys.argv[2]) if len(sys.argv) > 2 else None
server = make_server("127.0.0.1", 0, logged, threaded=True, ssl_context=tls)
print(server.server_port, flush=True)
server.serve_forever()
