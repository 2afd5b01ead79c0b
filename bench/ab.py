#!/usr/bin/env python3
"""A/B of two mockrig binaries on the static route: alternated wrk runs, medians and ratio.

    python3 bench/ab.py NEW_BINARY BASE_BINARY [--pairs 9] [-- extra serve flags]

For a change whose cost is near the machine's noise: the same scenario as bench/run's (a),
without the reference, so more pairs fit in the same time. Besides requests per second it
reports the server's own CPU time per request (utime + stime from /proc, over the measured
run): on a noisy machine that is the steadier of the two, as waiting for a core costs no CPU.
Needs wrk and Linux.
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

    tick = os.sysconf("SC_CLK_TCK")

    def cpu_seconds(pid):
        fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / tick

    def run(binary):
        p = subprocess.Popen(
            [binary, "serve", "--port", "0", "--quiet", "--no-watch", *args.extra, spec],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )
        url = p.stdout.readline().strip().split()[-1] + "/health"
        subprocess.run(["wrk", "-t2", "-c32", "-d1s", url], capture_output=True)
        before = cpu_seconds(p.pid)
        out = subprocess.run(
            ["wrk", "-t2", "-c32", f"-d{args.seconds}s", url], capture_output=True, text=True
        ).stdout
        used = cpu_seconds(p.pid) - before
        p.kill()
        p.wait()
        requests = int(re.search(r"(\d+) requests in", out).group(1))
        rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
        return rps, used * 1e6 / requests

    runs = {"new": [], "base": []}
    for _ in range(args.pairs):
        runs["new"].append(run(args.new))
        runs["base"].append(run(args.base))
    median = {}
    for name, values in runs.items():
        rps = [v[0] for v in values]
        cpu = [v[1] for v in values]
        median[name] = (statistics.median(rps), statistics.median(cpu))
        print(f"{name:5} median {median[name][0]:>9,.0f} req/s  min-max {min(rps):,.0f}-{max(rps):,.0f}"
              f"   CPU {median[name][1]:.2f} µs/request  min-max {min(cpu):.2f}-{max(cpu):.2f}")
    print(f"ratio new/base: req/s {median['new'][0] / median['base'][0]:.3f}, "
          f"CPU per request {median['new'][1] / median['base'][1]:.3f}")


if __name__ == "__main__":
    main()
