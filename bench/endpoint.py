"""The endpoint figure's client (bench/run.sh, fig_endpoint): run as the child of
`vault -v exec PROFILE --server --duration SECONDS`, it starts CLIENTS threads that GET
/credentials with the token as fast as they can (a new connection each, as SDKs do) for at least
SECONDS seconds, then stops at the first new session it sees (so no refresh is in flight when
vault's child exits and STS calls can be set against refreshes). Standard library only.

Usage: python3 bench/endpoint.py CLIENTS SECONDS OUTFILE
Writes one JSON object to OUTFILE: responses, ok (status 200), p50_ms, p99_ms, max_ms,
min_left_s (the least time to expiry of any credentials handed out, counted from when the
request was sent, so transit cannot make it look shorter), sessions (distinct expiries seen).
"""
import datetime
import http.client
import json
import os
import sys
import threading
import time
import urllib.parse

clients, seconds, outfile = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
url = urllib.parse.urlparse(os.environ["AWS_CONTAINER_CREDENTIALS_FULL_URI"])
token = os.environ["AWS_CONTAINER_AUTHORIZATION_TOKEN"]
lock = threading.Lock()
latencies, statuses, lefts, sessions = [], [], [], set()
go, stop = threading.Barrier(clients + 1), threading.Event()
deadline = [None]


def client():
    go.wait()
    while not stop.is_set():
        sent = datetime.datetime.now(datetime.timezone.utc)
        t = time.monotonic()
        try:
            c = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
            c.request("GET", url.path, headers={"Authorization": token})
            r = c.getresponse()
            status, body = r.status, r.read()
            c.close()
        except OSError:
            status, body = 0, b""
        took = time.monotonic() - t
        exp = None
        if status == 200:
            exp = json.loads(body)["Expiration"]
            left = datetime.datetime.fromisoformat(exp.replace("Z", "+00:00")) - sent
        with lock:
            latencies.append(took)
            statuses.append(status)
            if exp is not None:
                lefts.append(left.total_seconds())
                if exp not in sessions:
                    sessions.add(exp)
                    if deadline[0] is not None and time.monotonic() > deadline[0]:
                        stop.set()  # a new session after the run's length: stop here


threads = [threading.Thread(target=client) for _ in range(clients)]
for t in threads:
    t.start()
go.wait()
deadline[0] = time.monotonic() + seconds
for t in threads:
    t.join(timeout=seconds + 120)
stop.set()
latencies.sort()


def pct(p):
    return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1e3


json.dump(
    {
        "responses": len(statuses),
        "ok": statuses.count(200),
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
        "max_ms": latencies[-1] * 1e3,
        "min_left_s": min(lefts) if lefts else None,
        "sessions": len(sessions),
    },
    open(outfile, "w"),
)
