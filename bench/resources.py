#!/usr/bin/env python3
"""Resource throughput beside a static route, in the same run.

Builds the release binary, serves one spec with a static JSON route and a `users` resource of
10,000 records on 127.0.0.1, and loads each endpoint with wrk (installed from apt if missing):
static route, GET by id, a filtered list, and POST. Prints requests/s, latency and each
figure's ratio to the static route, as medians over alternating rounds.

    python3 bench/resources.py [--seconds 5] [--rounds 3] [--connections 32]
"""

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BINARY = os.path.join(ROOT, "target", "release", "mockrig")

POST_LUA = """
wrk.method = "POST"
wrk.body = '{"name": "bench", "role": "user", "age": 30}'
wrk.headers["Content-Type"] = "application/json"
"""


def ensure_wrk():
    if shutil.which("wrk"):
        return
    subprocess.run(["apt-get", "install", "-y", "wrk"], check=False, capture_output=True)
    if not shutil.which("wrk"):
        subprocess.run(["apt-get", "update"], check=True, capture_output=True)
        subprocess.run(["apt-get", "install", "-y", "wrk"], check=True, capture_output=True)


def write_spec(workdir, records):
    users = [
        {"id": i, "name": f"user {i}", "role": "admin" if i % 10 == 0 else "user", "age": 20 + i % 50}
        for i in range(1, records + 1)
    ]
    with open(os.path.join(workdir, "users.json"), "w") as f:
        json.dump(users, f)
    path = os.path.join(workdir, "bench.yaml")
    with open(path, "w") as f:
        f.write("routes:\n  - { path: /static, response: { body: { id: 1, name: user 1, role: user, age: 21 } } }\n")
        f.write("resources:\n  users:\n    seed_file: users.json\n")
    return path


def wrk(url, seconds, connections, script=None):
    cmd = ["wrk", "-t", "2", "-c", str(connections), "-d", f"{seconds}s", "--latency"]
    if script:
        cmd += ["-s", script]
    out = subprocess.run(cmd + [url], check=True, capture_output=True, text=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p50 = re.search(r"50%\s+([\d.]+\w+)", out).group(1)
    p99 = re.search(r"99%\s+([\d.]+\w+)", out).group(1)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors:
        sys.exit(f"{url}: {errors.group(1)} error responses")
    return rps, p50, p99


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--records", type=int, default=10000)
    args = parser.parse_args()
    ensure_wrk()
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    with tempfile.TemporaryDirectory() as workdir:
        spec = write_spec(workdir, args.records)
        lua = os.path.join(workdir, "post.lua")
        with open(lua, "w") as f:
            f.write(POST_LUA)
        proc = subprocess.Popen(
            [BINARY, "serve", spec, "--host", "127.0.0.1", "--port", "0", "--log", "warn", "--no-watch"],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            base = proc.stdout.readline().strip().removeprefix("mockrig listening on ")
            scenarios = [
                ("static route", f"{base}/static", None),
                ("GET by id", f"{base}/users/5000", None),
                (f"list, filter over {args.records}", f"{base}/users?role=admin&age_gte=60&_limit=10", None),
                ("POST", f"{base}/users", lua),
            ]
            results = {name: [] for name, _, _ in scenarios}
            for _ in range(args.rounds):
                for name, url, script in scenarios:
                    # POST grows the collection; every scenario starts from the same 10,000.
                    urllib.request.urlopen(urllib.request.Request(f"{base}/__mockrig/reset", method="POST"))
                    results[name].append(wrk(url, args.seconds, args.connections, script))
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    base_rps = statistics.median(r[0] for r in results["static route"])
    print(f"{os.cpu_count()} cores, wrk -t2 -c{args.connections}, {args.seconds} s x {args.rounds} rounds (median, min-max)")
    print(f"{'scenario':<28} {'req/s':>10} {'min-max':>17} {'p50':>9} {'p99':>9} {'vs static':>9}")
    for name, runs in results.items():
        rps = [r[0] for r in runs]
        med = statistics.median(rps)
        mid = runs[sorted(range(len(runs)), key=lambda i: rps[i])[len(runs) // 2]]
        print(
            f"{name:<28} {med:>10.0f} {min(rps):>8.0f}-{max(rps):<8.0f} {mid[1]:>9} {mid[2]:>9} {med / base_rps:>9.2f}"
        )


if __name__ == "__main__":
    main()
