#!/usr/bin/env python3
"""A/B of two mockrig binaries on the static route: alternated wrk runs, medians and ratio.

    python3 bench/ab.py NEW_BINARY BASE_BINARY [--pairs 9] [-- extra serve flags]

For a change whose cost is near the machine's noise: the same scenario as bench/run's (a),
without the reference, so more pairs fit in the same time. Needs wrk.
"""
import argparse
import os
import re
import statistics
import subprocess
import tempfile


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("new")
    ap.add_argument("base")
    ap.add_argument("--pairs", type=int, default=9)
    ap.add_argument("--seconds", type=int, default=3)
    ap.add_argument("extra", nargs="*", help="flags for `mockrig serve`, after --")
    args = ap.parse_args()
    spec = os.path.join(tempfile.mkdtemp(), "api.yaml")
    with open(spec, "w") as f:
        f.write("routes:\n  - path: /health\n    response: { body: { status: ok } }\n")

    def run(binary):
        p = subprocess.Popen(
            [binary, "serve", "--port", "0", "--quiet", "--no-watch", *args.extra, spec],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )
        url = p.stdout.readline().strip().split()[-1] + "/health"
        subprocess.run(["wrk", "-t2", "-c32", "-d1s", url], capture_output=True)
        out = subprocess.run(
            ["wrk", "-t2", "-c32", f"-d{args.seconds}s", url], capture_output=True, text=True
        ).stdout
        p.kill()
        p.wait()
        return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))

    runs = {"new": [], "base": []}
    for _ in range(args.pairs):
        runs["new"].append(run(args.new))
        runs["base"].append(run(args.base))
    for name, values in runs.items():
        print(f"{name:5} median {statistics.median(values):>9,.0f} req/s  "
              f"min-max {min(values):,.0f}-{max(values):,.0f}")
    print(f"ratio new/base {statistics.median(runs['new']) / statistics.median(runs['base']):.3f}")


if __name__ == "__main__":
    main()
