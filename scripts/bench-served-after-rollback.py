#!/usr/bin/env python3
"""How soon the console's served shares tell the truth after a rollback, on
the default demo in real time, beside its anchor: how soon the routers apply
the rollback (the header's "applied 3/3"), which no figure can beat.

Each round: every cell at 50 % RunPod (shift from the command line), wait
until the console shows the routers serving about half, press X X, then
time (tmux capture every 50 ms) until "applied 3/3" and until every cell's
"served" figure reads 5 % or less. Reports the median of each and of the
per-round differences.

usage: scripts/bench-served-after-rollback.py BINARY [--rounds N]
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time


def tmux(socket, *args):
    out = subprocess.run(["tmux", "-L", socket, *args], capture_output=True, text=True)
    return out.stdout


def served(screen):
    shares = []
    for part in screen.split("served ")[1:]:
        try:
            shares.append(float(part.split("%")[0].strip()))
        except ValueError:
            pass
    return shares


def wait(socket, done, limit=120):
    end = time.monotonic() + limit
    while time.monotonic() < end:
        screen = tmux(socket, "capture-pane", "-p")
        if done(screen):
            return time.monotonic()
        time.sleep(0.05)
    raise SystemExit("timed out:\n" + screen)


def round_once(binary, state, socket):
    env = {**os.environ, "BEACON_OPERATOR": "bench"}
    subprocess.run([binary, "--state-dir", state, "shift", "--all", "--to", "50", "--yes",
                    "--reason", "bench"], check=True, capture_output=True, env=env)
    wait(socket, lambda s: len(served(s)) == 9 and all(25 <= v <= 75 for v in served(s)))
    tmux(socket, "send-keys", "X")
    tmux(socket, "send-keys", "X")
    pressed = time.monotonic()
    applied = wait(socket, lambda s: "ROLLED BACK" in s and "applied 3/3" in s)
    truthful = wait(socket, lambda s: len(served(s)) == 9 and all(v <= 5 for v in served(s)))
    return applied - pressed, truthful - pressed


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("--rounds", type=int, default=5)
    a = ap.parse_args()
    state = tempfile.mkdtemp(prefix="beacon-bench-")
    socket = f"beacon-bench-{os.getpid()}"
    tmux(socket, "-f", "/dev/null", "new-session", "-d", "-x", "80", "-y", "24",
         f"LC_ALL=C.UTF-8 BEACON_OPERATOR=bench {a.binary} --state-dir {state}")
    try:
        wait(socket, lambda s: "ROLLBACK" in s)
        rounds = [round_once(a.binary, state, socket) for _ in range(a.rounds)]
    finally:
        tmux(socket, "kill-server")
        shutil.rmtree(state, ignore_errors=True)
    applied = [r[0] for r in rounds]
    truthful = [r[1] for r in rounds]
    print(json.dumps({
        "rounds": a.rounds,
        "x_x_to_applied_3_of_3_s": round(statistics.median(applied), 2),
        "x_x_to_every_served_share_at_most_5_percent_s": round(statistics.median(truthful), 2),
        "median_lag_after_applied_s": round(statistics.median(t - p for p, t in rounds), 2),
        "max_s": round(max(truthful), 2),
    }, indent=2))


if __name__ == "__main__":
    main()
