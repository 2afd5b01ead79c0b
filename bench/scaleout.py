"""Rows of bench/run for `--state redis://`: resource GET by id and POST with the data in
Redis, one replica and two replicas (each loaded by its own wrk with half the connections: a
round-robin client at the connection level), as ratios to the same spec served in memory in
the same rounds. Redis is Debian's redis-server, started here without persistence (the
fsync of `appendfsync always` would measure the disk, not mockrig).
"""

import argparse
import os
import shutil
import socket
import subprocess
import sys
import threading
import urllib.request


class Redis:
    def __init__(self, work):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.p = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", work, "--logfile", ""],
            stdout=subprocess.PIPE,
            text=True,
        )
        # Its log says when it is ready; it ends (EOF) if redis exits first.
        for line in self.p.stdout:
            if "Ready to accept connections" in line:
                break
        else:
            sys.exit("redis-server did not start")
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def stop(self):
        self.p.terminate()
        self.p.wait(timeout=10)


def load(servers, path, args, wrk, script):
    """Every server loaded at once, each by a wrk of its own with its share of the
    connections: the requests/s summed, the latencies of the slowest."""
    out = [None] * len(servers)

    def one(i, server):
        out[i] = wrk(server.url + path, args.seconds, max(1, args.connections // len(servers)), script)

    threads = [threading.Thread(target=one, args=(i, s)) for i, s in enumerate(servers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if None in out:
        # wrk() exits on error answers; in a thread that ends only the thread.
        sys.exit(f"{path}: a load run failed (error answers?)")
    return {
        "rps": sum(r["rps"] for r in out),
        "p50": max(r["p50"] for r in out),
        "p99": max(r["p99"] for r in out),
    }


def rows(args, work, spec, post_lua, mockrig, wrk):
    """(i) rows: in memory (the reference of these rows), Redis with one replica, with two."""
    redis = Redis(work)
    results = []
    try:
        for name, path, script in (
            ("(i) resource GET by id, data in Redis", "/users/5000", None),
            ("(i) resource POST, data in Redis", "/users", post_lua),
        ):
            memory = mockrig(spec)
            one = mockrig(spec, "--state", redis.url)
            two = [mockrig(spec, "--state", redis.url), mockrig(spec, "--state", redis.url)]
            plan = [("in memory, reference", [memory]), ("Redis, 1 replica", [one]), ("Redis, 2 replicas", two)]
            runs = {label: [] for label, _ in plan}
            try:
                for _ in range(args.pairs):
                    for label, servers in plan:
                        if script:
                            # Every run starts from the seed (for Redis: for both replicas),
                            # then a second of the same load, not measured: for about a second
                            # after a reset the Redis-backed POST's tail is ten times its
                            # steady one (p99 30-45 ms against 3.5-4.5; throughput alike), and
                            # these rows measure the steady state.
                            reset = f"{servers[0].url}/__mockrig/reset"
                            urllib.request.urlopen(urllib.request.Request(reset, method="POST"), timeout=10)
                            load(servers, path, argparse.Namespace(**{**vars(args), "seconds": 1}), wrk, script)
                        runs[label].append(load(servers, path, args, wrk, script))
                rss = {label: sum(s.rss_kib("VmHWM") for s in servers) for label, servers in plan}
                results.append((name, runs, rss))
            finally:
                for s in [memory, one, *two]:
                    s.stop()
            print(f"  done: {name}", file=sys.stderr)
    finally:
        redis.stop()
    return results


def main():
    """Only the (i) rows: `python3 bench/scaleout.py [--seconds 3] [--pairs 5]`."""
    import importlib.machinery
    import importlib.util
    import json
    import tempfile

    here = os.path.dirname(os.path.abspath(__file__))
    loader = importlib.machinery.SourceFileLoader("bench_run", os.path.join(here, "run"))
    run = importlib.util.module_from_spec(importlib.util.spec_from_loader("bench_run", loader))
    loader.exec_module(run)
    parser = argparse.ArgumentParser(description="bench/run's (i) rows alone")
    parser.add_argument("--seconds", type=int, default=3)
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--no-pin", action="store_true", help="servers and wrk share all cores")
    parser.add_argument("--binary", help="this mockrig instead of the one built here (an A/B)")
    args = parser.parse_args()
    if args.binary:
        run.MOCKRIG = os.path.abspath(args.binary)
    # As bench/run measures them: mockrig on core 0, wrk on core 1, Redis where it may.
    if not args.no_pin and (os.cpu_count() or 1) >= 2 and shutil.which("taskset"):
        run.SERVER_PIN, run.CLIENT_PIN, run.WRK_THREADS = ["taskset", "-c", "0"], ["taskset", "-c", "1"], 1
    run.ensure_wrk()
    subprocess.run(["cargo", "build", "--release", "--quiet", "--bin", "mockrig"], cwd=run.ROOT, check=True)
    work = tempfile.mkdtemp(prefix="mockrig-bench-")
    users = [{"id": i, "name": f"user {i}", "role": "user", "age": 20 + i % 50} for i in range(1, 10_001)]
    run.write(os.path.join(work, "users.json"), json.dumps(users))
    spec = run.write(os.path.join(work, "res.yaml"), "resources:\n  users:\n    seed_file: users.json\n")
    post_lua = run.write(
        os.path.join(work, "post.lua"),
        f'wrk.method = "POST"\nwrk.body = \'{run.compact(run.POST_BODY)}\'\n'
        'wrk.headers["Content-Type"] = "application/json"\n',
    )
    pinned = "mockrig on core 0, wrk on core 1" if run.SERVER_PIN else "all share the cores"
    print(f"{os.cpu_count()} cores, {pinned}; wrk -t{run.WRK_THREADS} -c{args.connections} (split over the replicas), "
          f"{args.seconds} s per run, {args.pairs} rounds; medians")
    run.print_table(rows(args, work, spec, post_lua, run.mockrig, run.wrk))


if __name__ == "__main__":
    main()
