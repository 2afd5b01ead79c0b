#!/usr/bin/env python3
"""The Autobahn|Testsuite fuzzing client (sections 1-10) against a mockrig echo channel.

    python3 tests/autobahn/run.py [--wstest PATH] [--cases 1.* 2.* ...]

Autobahn's `wstest` runs on Python 2.7 only (`pip2 install autobahntestsuite`; with pyenv:
`pyenv install 2.7.18`, then `~/.pyenv/versions/2.7.18/bin/pip install autobahntestsuite`), so
this is not part of `cargo test` or CI: run it after a change to the WebSocket code. It builds
the release binary, serves an echo channel on a free port, runs the cases, prints the count
of each verdict and every case that is not OK, and exits 1 if any case FAILED. The reports
(HTML and JSON per case) are left in a temporary folder it names.

The channel allows 20 MB messages: section 9 sends messages of up to 16 MiB, which the default
limit (`max_message_bytes`, 1 MiB) closes with 1009, as a limit should.
"""
import argparse
import collections
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SPEC = """websockets:
  - path: /ws/echo
    mode: echo
    max_message_bytes: 20000000
"""


def find_wstest(given):
    for candidate in [given, shutil.which("wstest"),
                      os.path.expanduser("~/.pyenv/versions/2.7.18/bin/wstest")]:
        if candidate and os.path.exists(candidate):
            return candidate
    sys.exit("wstest not found: install autobahntestsuite under Python 2.7 (see this file's "
             "docstring), or pass --wstest PATH")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--wstest")
    ap.add_argument("--cases", nargs="+", default=[f"{n}.*" for n in range(1, 11)])
    args = ap.parse_args()
    wstest = find_wstest(args.wstest)
    subprocess.run(["cargo", "build", "--release", "--quiet", "--bin", "mockrig"], cwd=ROOT,
                   check=True)
    work = tempfile.mkdtemp(prefix="mockrig-autobahn-")
    spec = os.path.join(work, "ws.yaml")
    with open(spec, "w") as f:
        f.write(SPEC)
    # wstest needs the URL up front: a free port, taken by mockrig right after.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        [os.path.join(ROOT, "target", "release", "mockrig"), "serve", spec, "--port", str(port),
         "--no-watch", "--quiet"], stdout=subprocess.PIPE, text=True)
    try:
        # The first line says it listens.
        if "listening" not in server.stdout.readline():
            sys.exit("mockrig did not start")
        config = os.path.join(work, "fuzzingclient.json")
        with open(config, "w") as f:
            json.dump({
                "outdir": os.path.join(work, "reports"),
                "servers": [{"agent": "mockrig", "url": f"ws://127.0.0.1:{port}/ws/echo"}],
                "cases": args.cases,
                "exclude-cases": [],
                "exclude-agent-cases": {},
            }, f)
        subprocess.run([wstest, "-m", "fuzzingclient", "-s", config], cwd=work, check=True,
                       stdout=subprocess.DEVNULL)
    finally:
        server.kill()
        server.wait()
    with open(os.path.join(work, "reports", "index.json")) as f:
        cases = json.load(f)["mockrig"]
    verdicts = collections.Counter(c["behavior"] for c in cases.values())
    print(f"{len(cases)} cases: " + ", ".join(f"{n} {v}" for v, n in verdicts.most_common()))
    key = lambda kv: [int(p) for p in kv[0].split(".")]
    for name, c in sorted(cases.items(), key=key):
        if c["behavior"] not in ("OK", "INFORMATIONAL"):
            print(f"  {name}: {c['behavior']} (close: {c['behaviorClose']})")
    print(f"reports: {work}/reports/index.html")
    sys.exit(1 if verdicts.get("FAILED") else 0)


if __name__ == "__main__":
    main()
