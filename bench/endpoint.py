"""The endpoint figure's client (bench/run.sh, fig_endpoint): run as the child of
`vault -v exec PROFILE --server --duration SECONDS`, it starts CLIENTS client *processes* (not
threads: 50 threads of one interpreter share its lock, and their queueing for it showed as
endpoint latency) that each GET /credentials with the token every PACE_MS milliseconds (a new
connection each, as SDKs do) for at least SECONDS seconds, then stop at the first new session
any of them sees (so no refresh is in flight when vault's child exits and STS calls can be set
against refreshes). Standard library only.

Usage: python3 bench/endpoint.py CLIENTS SECONDS OUTFILE [PACE_MS, default 20]
Writes one JSON object to OUTFILE: responses, ok (status 200), p50_ms, p99_ms, max_ms,
min_left_s (the least time to expiry of any credentials handed out, counted from when the
request was sent, so transit cannot make it look shorter), sessions (distinct expiries seen).
"""
import datetime
import http.client
import json
import multiprocessing as mp
import os
import sys
import time
import urllib.parse


def client(go, stop, deadline, pace, out):
    url = urllib.parse.urlparse(os.environ["AWS_CONTAINER_CREDENTIALS_FULL_URI"])
    token = os.environ["AWS_CONTAINER_AUTHORIZATION_TOKEN"]
    latencies, statuses, lefts, sessions = [], [], [], set()
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
        latencies.append(took)
        statuses.append(status)
        if status == 200:
            exp = json.loads(body)["Expiration"]
            left = datetime.datetime.fromisoformat(exp.replace("Z", "+00:00")) - sent
            lefts.append(left.total_seconds())
            if exp not in sessions:
                if sessions and deadline.value and time.monotonic() > deadline.value:
                    stop.set()  # a new session after the run's length: stop here
                sessions.add(exp)
        time.sleep(max(0.0, pace - (time.monotonic() - t)))
    out.put((latencies, statuses, lefts, sorted(sessions)))


def main():
    clients, seconds, outfile = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
    pace = (float(sys.argv[4]) if len(sys.argv) > 4 else 20.0) / 1e3
    go, stop = mp.Barrier(clients + 1), mp.Event()
    deadline, out = mp.Value("d", 0.0), mp.Queue()
    procs = [
        mp.Process(target=client, args=(go, stop, deadline, pace, out)) for _ in range(clients)
    ]
    for p in procs:
        p.start()
    go.wait()
    deadline.value = time.monotonic() + seconds
    results = [out.get(timeout=seconds + 120) for _ in procs]
    for p in procs:
        p.join(timeout=10)
    latencies = sorted(x for r in results for x in r[0])
    statuses = [x for r in results for x in r[1]]
    lefts = [x for r in results for x in r[2]]
    sessions = {x for r in results for x in r[3]}

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


if __name__ == "__main__":
    main()
