"""Writes to one record from every replica at once (`--state redis://`): 3 replicas on one
Redis, each with 4 clients PATCHing /users/1 in a loop. Prints the answers by status, PATCH/s
and the latency p50/p99/max, then checks that the record holds every PATCH's field and a
revision that counted each once. Without turns (docs/scale-out.md) some PATCHes lost 32 times
in a row and answered 503.

    python3 bench/contention.py [--patches 300] [--binary target/release/mockrig]
"""

import argparse
import collections
import http.client
import json
import os
import subprocess
import sys
import tempfile
import threading
import time

from scaleout import Redis

SPEC = """resources:
  users:
    seed:
      - { id: 1, name: Ada }
    computed:
      revision: { value: "{{ (previous.revision or 0) + 1 }}", on: [create, update] }
"""


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patches", type=int, default=300, help="per client")
    parser.add_argument("--clients", type=int, default=4, help="per replica")
    parser.add_argument("--binary", default=os.path.join(root, "target/release/mockrig"))
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="mockrig-contention-")
    spec = os.path.join(work, "spec.yaml")
    with open(spec, "w") as f:
        f.write(SPEC)
    redis = Redis(work)
    replicas = []
    try:
        for _ in range(3):
            p = subprocess.Popen([args.binary, "serve", spec, "--port", "0", "--no-watch",
                                  "--log", "warn", "--state", redis.url],
                                 stdout=subprocess.PIPE, text=True)
            # The first line names the address once it listens.
            replicas.append((p, int(p.stdout.readline().rsplit(":", 1)[1])))
        statuses, latencies, lock = collections.Counter(), [], threading.Lock()

        def client(k):
            c = http.client.HTTPConnection("127.0.0.1", replicas[k % 3][1])
            for i in range(args.patches):
                started = time.perf_counter()
                c.request("PATCH", "/users/1", body=json.dumps({f"f{k}_{i}": i}),
                          headers={"Content-Type": "application/json"})
                r = c.getresponse()
                r.read()
                with lock:
                    statuses[r.status] += 1
                    latencies.append(time.perf_counter() - started)

        threads = [threading.Thread(target=client, args=(k,)) for k in range(3 * args.clients)]
        started = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - started
        latencies.sort()
        ms = lambda q: latencies[min(len(latencies) - 1, int(len(latencies) * q))] * 1000
        print(f"answers {dict(statuses)}; {len(latencies) / elapsed:.0f} PATCH/s; "
              f"p50 {ms(0.5):.1f} ms, p99 {ms(0.99):.1f} ms, max {latencies[-1] * 1000:.1f} ms")
        c = http.client.HTTPConnection("127.0.0.1", replicas[0][1])
        c.request("GET", "/users/1")
        user = json.loads(c.getresponse().read())
        fields = sum(1 for k in user if k.startswith("f"))
        print(f"record: {fields} fields, revision {user['revision']} (200s: {statuses[200]})")
        if fields != statuses[200] or user["revision"] != statuses[200]:
            sys.exit("a PATCH answered 200 is missing from the record")
    finally:
        for p, _ in replicas:
            p.kill()
            p.wait()
        redis.stop()


if __name__ == "__main__":
    main()
