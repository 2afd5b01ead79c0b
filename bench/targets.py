"""bench/run's last table: every performance target of the project in one place, each measured
in this run (as a ratio to its reference where it has one), with whether it is met.

Also the measurements only this table needs: memory per stored record, a filtered list over
100,000 records, and the WebSocket rows (bench/ws.py).
"""

import json
import os
import statistics
import sys
import time
import urllib.request


def _get(url):
    with urllib.request.urlopen(url, timeout=30) as r:
        return r.status, r.headers, r.read()


def _settled_rss(server, limit=10.0):
    """RSS (KiB) once two samples 100 ms apart agree within 64 KiB (bounded wait): nothing
    else says that a server has finished freeing what a load left behind."""
    deadline = time.monotonic() + limit
    last = server.rss_kib("VmRSS")
    while time.monotonic() < deadline:
        time.sleep(0.1)
        now = server.rss_kib("VmRSS")
        if abs(now - last) <= 64:
            return now
        last = now
    return last


# ~80 bytes of JSON once stored with its id, as in the measurement.
RECORD = {"name": "bench user", "email": "bench@example.com", "role": "user", "age": 30}


def memory_per_record(run, work, seconds):
    """POSTs records for `seconds` into an empty collection, then the growth of the server's
    RSS per stored record, beside the size of a record's JSON. Returns (records, bytes per
    record in memory, bytes of JSON per record)."""
    spec = run.write(os.path.join(work, "empty.yaml"), "resources:\n  users:\n    seed: []\n")
    lua = run.write(
        os.path.join(work, "post80.lua"),
        f"wrk.method = \"POST\"\nwrk.body = '{run.compact(RECORD)}'\n"
        "wrk.headers[\"Content-Type\"] = \"application/json\"\n",
    )
    server = run.mockrig(spec, "--journal", "0")
    try:
        before = _settled_rss(server)
        run.wrk(server.url + "/users", seconds, 50, lua)
        after = _settled_rss(server)
        _, headers, body = _get(server.url + "/users?_page=1&_per_page=1")
        count = int(headers["X-Total-Count"])
        _, _, one = _get(server.url + "/users/1")
        json_bytes = len(run.compact(json.loads(one))) + 1  # and a comma in a list
        return count, (after - before) * 1024 / count, json_bytes
    finally:
        server.stop()


def list_filter(run, work, args):
    """Requests/s of a filtered list over 100,000 records (`?role=admin&_limit=10`: 1% match,
    10 shown, the total counted), median of `args.pairs` runs."""
    users = [
        {"id": i, "name": f"user {i}", "role": "admin" if i % 100 == 0 else "user", "age": 20 + i % 50}
        for i in range(1, 100_001)
    ]
    run.write(os.path.join(work, "users100k.json"), json.dumps(users))
    spec = run.write(os.path.join(work, "list.yaml"), "resources:\n  users:\n    seed_file: users100k.json\n")
    server = run.mockrig(spec)
    try:
        status, headers, _ = _get(server.url + "/users?role=admin&_limit=10")
        if status != 200 or headers.get("X-Total-Count") != "1000":
            sys.exit(f"list filter: {status} {headers}")
        runs = [run.wrk(server.url + "/users?role=admin&_limit=10", args.seconds, args.connections)["rps"]
                for _ in range(args.pairs)]
        return statistics.median(runs)
    finally:
        server.stop()


def websocket(root, pairs):
    """bench/ws.py's medians: (echo p50 ratio, broadcast ratio, KiB per idle connection)."""
    sys.path.insert(0, os.path.join(root, "bench"))
    import ws  # noqa: E402  (bench/ws.py)

    r = ws.measure(connections=10_000, subscribers=1_000, messages=200, echoes=20_000, pairs=pairs)
    return r["echo_p50_ratio"], r["broadcast_ratio"], r["kib_per_connection"]


def print_table(rows):
    """rows: (what, measured, target, met) with measured and target as text."""
    print(f"\n{'target':<58} {'measured':>14} {'goal':>10}  met")
    for what, measured, goal, met in rows:
        mark = "yes" if met else "NO" if met is not None else "-"
        print(f"{what:<58} {measured:>14} {goal:>10}  {mark}")
