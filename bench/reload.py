#!/usr/bin/env python3
"""Reload latency: from the end of a spec write to the first response with the new body.

Builds the release binary, serves a 10-route and a 1,000-route spec on 127.0.0.1, saves each
spec 100 times (in place), and after each save polls the edited route over one keep-alive
connection until it answers with the new body. Prints p50/p99/max per spec size.

    python3 bench/reload.py [--edits 100]
"""

import argparse
import http.client
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BINARY = os.path.join(ROOT, "target", "release", "mockrig")


def spec_text(routes, marker):
    lines = ["routes:"]
    for i in range(routes - 1):
        lines.append(f"  - {{ path: /r/{i}, response: {{ body: {{ id: {i}, name: route {i} }} }} }}")
    lines.append(f"  - {{ path: /last, response: {{ text: \"{marker}\" }} }}")
    return "\n".join(lines) + "\n"


def percentile(sorted_values, p):
    k = min(len(sorted_values) - 1, max(0, round(p / 100 * (len(sorted_values) - 1))))
    return sorted_values[k]


def measure(routes, edits, workdir, binary=None):
    path = os.path.join(workdir, f"spec-{routes}.yaml")
    with open(path, "w") as f:
        f.write(spec_text(routes, "start"))
    proc = subprocess.Popen(
        [binary or BINARY, "serve", path, "--host", "127.0.0.1", "--port", "0", "--log", "warn"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline().strip()
        prefix = "mockrig listening on http://"
        if not line.startswith(prefix):
            sys.exit(f"unexpected first line: {line!r}")
        host, port = line[len(prefix):].rsplit(":", 1)
        conn = http.client.HTTPConnection(host, int(port), timeout=5)

        def body():
            conn.request("GET", "/last")
            return conn.getresponse().read().decode()

        assert body() == "start"
        latencies = []
        for n in range(edits):
            marker = f"edit-{n}"
            text = spec_text(routes, marker)
            with open(path, "w") as f:
                f.write(text)
            written = time.perf_counter()
            deadline = written + 5
            while body() != marker:
                if time.perf_counter() > deadline:
                    sys.exit(f"edit {n} not served after 5 s")
            latencies.append((time.perf_counter() - written) * 1000)
        latencies.sort()
        return latencies
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--edits", type=int, default=100)
    parser.add_argument("--routes", type=int, nargs="+", default=[10, 1000, 10000])
    parser.add_argument("--binary", help="another mockrig binary to measure instead")
    args = parser.parse_args()
    if not args.binary:
        subprocess.run(["cargo", "build", "--release", "--quiet", "--bin", "mockrig"], cwd=ROOT, check=True)
    print(f"reload latency, {args.edits} in-place saves each, {os.cpu_count()} cores")
    print(f"{'spec':>12} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    with tempfile.TemporaryDirectory() as workdir:
        for routes in args.routes:
            lat = measure(routes, args.edits, workdir, args.binary)
            print(
                f"{routes:>6} routes {percentile(lat, 50):8.1f} {percentile(lat, 99):8.1f} {lat[-1]:8.1f}"
            )


if __name__ == "__main__":
    main()
