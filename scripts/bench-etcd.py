#!/usr/bin/env python3
"""The etcd store's two benchmarks, each beside its anchor in the same run.

1. `rollback --all --yes` (whole process: start-up, profile, read, Txn with
   the document and its audit entry, local audit copy + fsync) against
   `etcdctl put KEY < doc` of the same rolled-back document (whole process),
   on 9 and 1,000 cells. Rounds alternate the two; the ratio reported is the
   median of the per-round ratios of medians. Goal: <= 1.5x etcdctl.
2. Commit -> acknowledged by all three syncs (separate processes, files on
   loopback): from the commit's time in the document to the third
   acknowledgement a watcher sees, over N commits (p50, p99; goal p99 <
   250 ms); beside etcd's own put -> watch latency (etcdctl put of a
   timestamp, seen by the same watcher).

usage: scripts/bench-etcd.py BINARY [--rounds R] [--runs N] [--commits C]
(BINARY built with `cargo build --release --features etcd`; needs etcd and
etcdctl: Debian etcd-server, etcd-client.)
"""

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Etcd:
    def __init__(self, work):
        self.client, peer = free_port(), free_port()
        self.url = f"http://127.0.0.1:{self.client}"
        self.proc = subprocess.Popen(
            ["etcd", "--name", "bench", "--data-dir", os.path.join(work, "etcd"),
             "--listen-client-urls", self.url, "--advertise-client-urls", self.url,
             "--listen-peer-urls", f"http://127.0.0.1:{peer}",
             "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
             "--initial-cluster", f"bench=http://127.0.0.1:{peer}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(200):
            if self.ctl("get", "/ping", check=False).returncode == 0:
                return
            time.sleep(0.05)
        sys.exit("etcd did not start")

    def ctl(self, *args, stdin=None, check=True):
        return subprocess.run(["etcdctl", f"--endpoints={self.url}", *args], input=stdin,
                              capture_output=True, check=check,
                              env={**os.environ, "ETCDCTL_API": "3"})

    def stop(self):
        self.proc.kill()
        self.proc.wait()


def write_profile(path, etcd, models, regions):
    m = ", ".join(f'{{ id = "model-{i:02d}" }}' for i in range(models))
    r = ", ".join(f'{{ id = "region-{i:02d}" }}' for i in range(regions))
    with open(path, "w") as f:
        f.write(f'''name = "bench"
environment = "staging"
fallback = "modal"
models = [{m}]
regions = [{r}]

[[providers]]
id = "modal"
kind = "modal"
price_per_second = 0.0003
url_template = "https://beacon--{{model}}-{{region}}.modal.run"

[[providers]]
id = "runpod"
kind = "runpod"
price_per_second = 0.000255
endpoint_template = "beacon-{{model}}-{{region}}"

[store]
kind = "etcd"
endpoints = ["{etcd.url}"]
key = "/bench-{models}x{regions}/routes"

[audit]
path = "audit-{models}x{regions}.jsonl"
''')


def timed(cmd, stdin=None):
    start = time.perf_counter()
    subprocess.run(cmd, input=stdin, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   check=True)
    return (time.perf_counter() - start) * 1000


def rollback_vs_etcdctl(binary, etcd, work, rounds, runs):
    print(f"{'cells':<7}{'rollback (ms)':>15}{'etcdctl put (ms)':>18}{'ratio':>8}{'doc bytes':>11}   rounds")
    for models, regions in [(3, 3), (50, 20)]:
        profile = os.path.join(work, f"p{models}x{regions}.toml")
        write_profile(profile, etcd, models, regions)
        key, prefix = f"/bench-{models}x{regions}/routes", f"/bench-{models}x{regions}/audit/"
        console = [binary, "--profile", profile]
        env_run = lambda *a: subprocess.run([*console, *a], check=True, capture_output=True,
                                            env={**os.environ, "BEACON_OPERATOR": "bench"})
        env_run("shift", "--all", "--to", "50", "--reason", "bench", "--yes")
        at_50 = etcd.ctl("get", key, "--print-value-only").stdout.rstrip(b"\n")
        env_run("rollback", "--all", "--yes")
        rolled = etcd.ctl("get", key, "--print-value-only").stdout.rstrip(b"\n")
        ratios, ours, theirs = [], [], []
        for _ in range(rounds):
            a, b = [], []
            for _ in range(runs):
                # Each rollback starts from the same shifted document, its
                # audit entries cleared (untimed).
                etcd.ctl("del", prefix, "--prefix")
                etcd.ctl("put", key, stdin=at_50)
                a.append(timed(console + ["rollback", "--all", "--yes"]))
                b.append(timed(["etcdctl", f"--endpoints={etcd.url}", "put", key], stdin=rolled))
            ours.append(statistics.median(a))
            theirs.append(statistics.median(b))
            ratios.append(ours[-1] / theirs[-1])
        print(f"{models * regions:<7}{statistics.median(ours):>15.2f}{statistics.median(theirs):>18.2f}"
              f"{statistics.median(ratios):>7.2f}x{len(rolled):>11}   "
              + ", ".join(f"{r:.2f}" for r in ratios))


def rfc3339_ms(text):
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000


class Watcher:
    """`etcdctl watch --prefix P`: each value seen, with when it was read."""

    def __init__(self, etcd, prefix):
        self.proc = subprocess.Popen(
            ["etcdctl", f"--endpoints={etcd.url}", "watch", "--prefix", prefix],
            stdout=subprocess.PIPE, env={**os.environ, "ETCDCTL_API": "3"})
        self.seen = []
        self.lock = threading.Condition()
        threading.Thread(target=self.read, daemon=True).start()

    def read(self):
        lines = iter(self.proc.stdout.readline, b"")
        for line in lines:
            if line.strip() == b"PUT":
                key = next(lines).decode().strip()
                value = next(lines).decode().strip()
                with self.lock:
                    self.seen.append((time.time() * 1000, key, value))
                    self.lock.notify_all()

    def wait(self, done, timeout=10):
        with self.lock:
            if not self.lock.wait_for(lambda: done(self.seen), timeout):
                sys.exit("timed out waiting for the watcher")

    def stop(self):
        self.proc.kill()


def commit_to_acknowledged(binary, etcd, work, commits):
    profile = os.path.join(work, "p3x3.toml")
    key = "/bench-3x3/routes"
    syncs = [subprocess.Popen([binary, "--profile", profile, "sync", "--region", f"region-{r:02d}",
                               "--to", os.path.join(work, f"r{r}.json")],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
             for r in range(3)]
    watcher = Watcher(etcd, "/bench-")
    try:
        time.sleep(1)
        ours, anchor = [], []
        for i in range(commits):
            pct = ["25", "50"][i % 2]
            subprocess.run([binary, "--profile", profile, "shift", "--cell", "model-00/region-00",
                            "--to", pct, "--reason", "bench", "--yes"], check=True, capture_output=True)
            doc = json.loads(etcd.ctl("get", key, "--print-value-only").stdout)
            revision = int(doc["metadata"]["version"])
            # When the console committed it (its clock, the same machine's).
            committed = rfc3339_ms(doc["metadata"]["updatedAt"])

            def acked(seen):
                regions = set()
                for _, k, v in seen:
                    if "/applied/" in k and json.loads(v).get("revision") == revision:
                        regions.add(k)
                return len(regions) == 3
            watcher.wait(acked)
            with watcher.lock:
                last = max(t for t, k, v in watcher.seen
                           if "/applied/" in k and json.loads(v).get("revision") == revision)
            ours.append(last - committed)
            # The anchor: etcd's own put -> watch, same watcher.
            sent = time.time() * 1000
            etcd.ctl("put", f"/bench-ping/{i}", str(sent))
            watcher.wait(lambda seen: any(k == f"/bench-ping/{i}" for _, k, _ in seen))
            with watcher.lock:
                got = next(t for t, k, _ in watcher.seen if k == f"/bench-ping/{i}")
            anchor.append(got - sent)
        q = lambda xs, p: sorted(xs)[min(len(xs) - 1, int(p * len(xs)))]
        print(f"commit -> acknowledged by 3 syncs over {len(ours)} commits: "
              f"p50 {statistics.median(ours):.1f} ms, p99 {q(ours, 0.99):.1f} ms, max {max(ours):.1f} ms")
        print(f"anchor, etcdctl put -> watch (process included): "
              f"p50 {statistics.median(anchor):.1f} ms, p99 {q(anchor, 0.99):.1f} ms")
    finally:
        watcher.stop()
        for s in syncs:
            s.kill()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--commits", type=int, default=200)
    args = ap.parse_args()
    binary = os.path.abspath(args.binary)
    for tool in ("etcd", "etcdctl"):
        if not shutil.which(tool):
            sys.exit(f"{tool} is not installed (Debian etcd-server, etcd-client)")
    work = tempfile.mkdtemp(prefix="bench-etcd-")
    etcd = Etcd(work)
    try:
        rollback_vs_etcdctl(binary, etcd, work, args.rounds, args.runs)
        commit_to_acknowledged(binary, etcd, work, args.commits)
    finally:
        etcd.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
