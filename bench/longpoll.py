#!/usr/bin/env python3
"""Long polling and SSE replay, measured on a release build (127.0.0.1 only).

    python3 bench/longpoll.py [--waiters 1000 10000] [--replay 1000]

For each waiter count: that many requests held on one topic (each on its own connection),
the server's RSS per waiter, and the time from one publish to the last answer; beside it, what
a held request costs bare actix-web (bench/reference with REFERENCE_HOLD=1, whose handler
never answers), measured the same way in the same run. Then SSE
replay: a client reconnects with Last-Event-ID after that many events were pushed, and the
time until it has them all. Needs nothing but Python 3 (asyncio sockets).
"""
import argparse
import asyncio
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MOCKRIG = os.path.join(ROOT, "target", "release", "mockrig")
SPEC = """
routes:
  - path: /poll
    wait: { topic: t, timeout: 120s }
    response: { body: "{{ event }}" }
sse:
  - path: /feed
    replay: 1000
"""


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))


def get_json(url):
    import json
    with urllib.request.urlopen(url, timeout=30) as r:
        return json.loads(r.read())


def post(url, body=b'"go"'):
    req = urllib.request.Request(url, data=body, method="POST", headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return r.read()


async def waiter(host, port, started, done_times):
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(b"GET /poll HTTP/1.1\r\nHost: x\r\n\r\n")
    await writer.drain()
    started.append(1)
    await reader.readuntil(b"\r\n\r\n")
    done_times.append(time.perf_counter())
    writer.close()


async def start_waiters(base, n):
    """n waiting requests to `base`, each on its own connection: their tasks, and the list
    their answer times go to."""
    host, port = base.removeprefix("http://").split(":")
    started, done = [], []
    tasks = []
    for i in range(n):
        tasks.append(asyncio.create_task(waiter(host, int(port), started, done)))
        # In steps, so the listen backlog never overflows (a dropped SYN waits 1 s or more).
        if i % 200 == 199:
            await asyncio.sleep(0.05)
    return tasks, done


async def held(base, n):
    tasks, done = await start_waiters(base, n)
    deadline = time.time() + 120
    while time.time() < deadline:
        waiting = (await asyncio.to_thread(get_json, base + "/__mockrig/connections"))["waiting"].get("t", 0)
        if waiting == n:
            break
        await asyncio.sleep(0.05)
    else:
        sys.exit(f"only {waiting} of {n} waiters registered")
    return tasks, done


def bare_actix_per_request(n, seconds_to_settle=0.5):
    """RSS per request held by bare actix-web, in KiB: the floor under mockrig's waiters."""
    work = tempfile.mkdtemp()
    body = os.path.join(work, "body")
    with open(body, "w") as f:
        f.write("{}")
    p = subprocess.Popen([os.path.join(ROOT, "target", "release", "examples", "reference"), body],
                         stdout=subprocess.PIPE, text=True, env={**os.environ, "REFERENCE_HOLD": "1"})
    base = p.stdout.readline().split()[-1]
    fds = lambda: len(os.listdir(f"/proc/{p.pid}/fd"))
    try:
        before, idle_fds = rss_kib(p.pid), fds()

        async def run():
            tasks, _ = await start_waiters(base, n)
            # Every connection accepted (one descriptor each), bounded.
            deadline = time.time() + 120
            while fds() - idle_fds < n and time.time() < deadline:
                await asyncio.sleep(0.05)
            if fds() - idle_fds < n:
                sys.exit(f"the reference accepted only {fds() - idle_fds} of {n}")
            await asyncio.sleep(seconds_to_settle)
            during = rss_kib(p.pid)
            for t in tasks:
                t.cancel()
            return during
        return (asyncio.run(run()) - before) / n
    finally:
        p.kill()
        p.wait()


def measure(n, seconds_to_settle=0.5):
    work = tempfile.mkdtemp()
    spec = os.path.join(work, "lp.yaml")
    with open(spec, "w") as f:
        f.write(SPEC)
    p = subprocess.Popen([MOCKRIG, "serve", spec, "--port", "0", "--quiet", "--no-watch",
                          "--max-connections", str(n + 1000), "--journal", "0"],
                         stdout=subprocess.PIPE, text=True)
    base = p.stdout.readline().split()[-1]
    try:
        before = rss_kib(p.pid)

        async def run():
            tasks, done = await held(base, n)
            await asyncio.sleep(seconds_to_settle)
            during = rss_kib(p.pid)
            sent = time.perf_counter()
            await asyncio.to_thread(post, base + "/__mockrig/topics/send?topic=t")
            await asyncio.gather(*tasks)
            return during, (max(done) - sent) * 1000
        during, last_ms = asyncio.run(run())
        return (during - before) / n, last_ms
    finally:
        p.kill()
        p.wait()


async def sse_replay(base, events):
    host, port = base.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(b"GET /feed HTTP/1.1\r\nHost: x\r\n\r\n")
    await writer.drain()
    await reader.readuntil(b": mockrig\n")
    await asyncio.to_thread(post, base + "/__mockrig/sse/send?path=/feed", b'"first"')
    seen = (await reader.readuntil(b"data: first\n\n")).decode()
    last_id = re.findall(r"id: (\S+)\ndata: first", seen)[-1]
    writer.close()
    for i in range(events):
        await asyncio.to_thread(post, base + "/__mockrig/sse/send?path=/feed", f'"n{i}"'.encode())
    started = time.perf_counter()
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(f"GET /feed HTTP/1.1\r\nHost: x\r\nLast-Event-ID: {last_id}\r\n\r\n".encode())
    await writer.drain()
    await reader.readuntil(f"data: n{events - 1}\n\n".encode())
    writer.close()
    return (time.perf_counter() - started) * 1000


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--waiters", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--replay", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    # One descriptor per waiting request in mockrig and one in this client, plus headroom.
    want = max(args.waiters) * 3 + 1000
    if soft < want:
        try:
            # Root may raise the hard limit too; others get what the hard limit allows.
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, max(want, hard)))
        except (ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))
    subprocess.run(["cargo", "build", "--release", "--quiet", "--bin", "mockrig", "--example", "reference"],
                   cwd=ROOT, check=True)
    for n in args.waiters:
        runs, bare = [], []
        # Alternated, so both see the same machine.
        for _ in range(args.runs):
            runs.append(measure(n))
            bare.append(bare_actix_per_request(n))
        per = statistics.median(r[0] for r in runs)
        last = statistics.median(r[1] for r in runs)
        floor = statistics.median(bare)
        print(f"{n:>6} waiters on one topic: {per:5.1f} KiB RSS each (bare actix-web holding a "
              f"request: {floor:5.1f} KiB, ratio {per / floor:.2f}); one publish answers the last "
              f"in {last:6.1f} ms (median of {args.runs}; runs {', '.join(f'{r[1]:.0f}' for r in runs)} ms)")
    work = tempfile.mkdtemp()
    spec = os.path.join(work, "sse.yaml")
    with open(spec, "w") as f:
        f.write(SPEC)
    p = subprocess.Popen([MOCKRIG, "serve", spec, "--port", "0", "--quiet", "--no-watch", "--journal", "0"],
                         stdout=subprocess.PIPE, text=True)
    base = p.stdout.readline().split()[-1]
    try:
        times = [asyncio.run(sse_replay(base, args.replay)) for _ in range(args.runs)]
        print(f"SSE replay of {args.replay} missed events after Last-Event-ID: "
              f"{statistics.median(times):.1f} ms to the last (runs {', '.join(f'{t:.1f}' for t in times)})")
    finally:
        p.kill()
        p.wait()


if __name__ == "__main__":
    main()
