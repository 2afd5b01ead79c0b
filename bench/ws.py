#!/usr/bin/env python3
"""WebSocket channels: mockrig beside a bare actix-ws reference, in one run.

Builds release binaries (mockrig, the `reference-ws` example and the `wsbench` load
generator), then for mockrig and the reference alike, on 127.0.0.1 only:
  - holds N idle connections (default 10,000) and reports the server's RSS per connection;
  - echo round trips over one connection, one message at a time (p50, p99);
  - broadcast fan-out: one publisher, S subscribers (default 1,000), M messages each,
    as deliveries per second.
The echo and fan-out runs alternate mockrig and the reference (A B A B ...); medians.

    bench/ws.py [--connections 10000] [--subscribers 1000] [--messages 200] [--pairs 3]
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "bench"))
RELEASE = os.path.join(ROOT, "target", "release")
WSBENCH = os.path.join(RELEASE, "examples", "wsbench")
REFERENCE_WS = os.path.join(RELEASE, "examples", "reference-ws")

SPEC = """websockets:
  - { path: /ws/echo }
  - { path: /ws/fan, mode: broadcast, include_sender: false }
"""


def load_run():
    """bench/run's Proc and helpers, without copying them."""
    import importlib.machinery
    import importlib.util

    loader = importlib.machinery.SourceFileLoader("bench_run", os.path.join(ROOT, "bench", "run"))
    spec = importlib.util.spec_from_loader("bench_run", loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def ws_url(server, path):
    url = server.url.replace("http://", "ws://", 1) + path
    if not url.startswith("ws://127.0.0.1:"):
        sys.exit(f"refusing {url}: loopback only")
    return url


def wsbench(*args, timeout=300):
    out = subprocess.run([WSBENCH, *map(str, args)], capture_output=True, text=True, timeout=timeout, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def settled_rss(pid, limit=10.0):
    """RSS once it stops changing: two samples 100 ms apart within 16 KiB (bounded wait).
    The reference has no endpoint that counts its connections, so memory itself is the signal
    that the server has finished setting them up."""
    deadline = time.monotonic() + limit
    last = rss_kib(pid)
    while time.monotonic() < deadline:
        time.sleep(0.1)
        now = rss_kib(pid)
        if abs(now - last) <= 16:
            return now
        last = now
    return last


def hold(server, n):
    """RSS growth of `server` while `n` idle connections are open, in KiB per connection."""
    before = settled_rss(server.p.pid)
    client = subprocess.Popen([WSBENCH, "hold", ws_url(server, "/ws/echo"), str(n)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    line = client.stdout.readline()
    if json.loads(line).get("held") != n:
        sys.exit(f"held {line!r}")
    after = settled_rss(server.p.pid)
    client.stdin.close()
    client.wait(timeout=120)
    return (after - before) / n


def measure(connections=10_000, subscribers=1_000, messages=200, echoes=20_000, pairs=3, report=print):
    """Runs every measurement; returns the raw results and the medians bench/run's table uses."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = connections + 1000
    if hard < need:
        sys.exit(f"the open-file limit {hard} is below {need}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, need), hard))

    run = load_run()
    subprocess.run(
        ["cargo", "build", "--release", "--quiet", "--bin", "mockrig", "--example", "reference-ws", "--example", "wsbench"],
        cwd=ROOT, check=True,
    )
    work = tempfile.mkdtemp(prefix="mockrig-ws-bench-")
    spec = run.write(os.path.join(work, "ws.yaml"), SPEC)
    servers = {
        "mockrig": lambda: run.mockrig(spec),
        "reference": lambda: run.Proc([REFERENCE_WS]),
    }
    report(f"{os.cpu_count()} cores; {connections} idle connections, echo x{echoes}, "
           f"fan-out {subscribers} subscribers x {messages} messages; {pairs} pairs")

    results = {name: {"hold": [], "echo": [], "fan": []} for name in servers}
    for _ in range(pairs):
        for name, start in servers.items():
            server = start()
            try:
                results[name]["echo"].append(wsbench("echo", ws_url(server, "/ws/echo"), echoes))
                results[name]["fan"].append(
                    wsbench("fanout", ws_url(server, "/ws/fan"), subscribers, messages))
            finally:
                server.stop()
    for name, start in servers.items():
        server = start()
        try:
            results[name]["hold"].append(hold(server, connections))
        finally:
            server.stop()

    def med(name, kind, key):
        return statistics.median(r[key] for r in results[name][kind])

    return {
        "results": results,
        "med": med,
        "echo_p50_ratio": med("mockrig", "echo", "p50_us") / med("reference", "echo", "p50_us"),
        "broadcast_ratio": med("mockrig", "fan", "per_sec") / med("reference", "fan", "per_sec"),
        "kib_per_connection": results["mockrig"]["hold"][0],
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=10_000)
    parser.add_argument("--subscribers", type=int, default=1_000)
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--echoes", type=int, default=20_000)
    parser.add_argument("--pairs", type=int, default=3)
    args = parser.parse_args()
    m = measure(args.connections, args.subscribers, args.messages, args.echoes, args.pairs)
    results, med = m["results"], m["med"]

    print(f"\n{'':<34} {'mockrig':>12} {'reference':>12} {'ratio':>7}")
    rows = [
        ("RSS per idle connection (KiB)", "hold", None),
        ("echo round trip p50 (us)", "echo", "p50_us"),
        ("echo round trip p99 (us)", "echo", "p99_us"),
        ("broadcast deliveries/s", "fan", "per_sec"),
    ]
    for label, kind, key in rows:
        if key is None:
            m, r = results["mockrig"]["hold"][0], results["reference"]["hold"][0]
        else:
            m, r = med("mockrig", kind, key), med("reference", kind, key)
        print(f"{label:<34} {m:>12.1f} {r:>12.1f} {m / r if r else float('nan'):>7.2f}")
    per_conn = results["mockrig"]["hold"][0]
    fan = med("mockrig", "fan", "per_sec")
    print(f"\ntargets: <= 20 KiB per idle connection: {per_conn:.1f} KiB "
          f"({'met' if per_conn <= 20 else 'MISSED'}); >= 200,000 broadcast deliveries/s: "
          f"{fan:,.0f} ({'met' if fan >= 200_000 else 'MISSED'})")
    print("fan-out runs (deliveries/s): mockrig",
          [round(x["per_sec"]) for x in results["mockrig"]["fan"]],
          "reference", [round(x["per_sec"]) for x in results["reference"]["fan"]])


if __name__ == "__main__":
    main()
