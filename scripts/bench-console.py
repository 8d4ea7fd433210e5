#!/usr/bin/env python3
"""The console's terminal figures, beside htop and btop as anchors, each in a
pseudo-terminal of the same size (80x24 by default):

- first frame: from spawn until the screen settles (no output for 150 ms
  after the first byte), simulator start-up included for the console;
- bytes per second written during steady updates (after a warm-up);
- peak RSS (VmHWM) at the end;
- for the console only: keypress-to-commit latency of `X X`, from the second
  X written to the pty until the rollback's audit line is on disk;
- for the console only: key-to-screen latency while another process holds
  the store lock for 4 s and a rollback waits for it, beside the same key's
  latency with the store free (alternate rounds; median of per-round ratios).

usage: scripts/bench-console.py BINARY [--seconds S] [--rollbacks N] [--lock-rounds N]
"""

import argparse
import fcntl
import json
import os
import pty
import select
import shutil
import signal
import statistics
import struct
import subprocess
import tempfile
import termios
import time


def spawn(argv, cols, rows, env=None):
    pid, fd = pty.fork()
    if pid == 0:
        os.environ.update(env or {})
        os.environ["TERM"] = "xterm-256color"
        os.environ.setdefault("LANG", "C.UTF-8")  # btop refuses to start without UTF-8
        try:
            os.execvp(argv[0], argv)
        finally:
            os._exit(127)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    return pid, fd


def read_for(fd, seconds):
    """Reads for `seconds`; returns [(time, nbytes)]."""
    chunks = []
    end = time.monotonic() + seconds
    while True:
        left = end - time.monotonic()
        if left <= 0:
            return chunks
        r, _, _ = select.select([fd], [], [], left)
        if r:
            try:
                data = os.read(fd, 65536)
            except OSError:
                return chunks
            if not data:
                return chunks
            chunks.append((time.monotonic(), len(data)))


def answer_queries(fd, data):
    # Terminal programs ask for the cursor position or device attributes;
    # a real terminal answers, so the harness does too.
    if b"\x1b[6n" in data:
        os.write(fd, b"\x1b[1;1R")
    if b"\x1b[c" in data or b"\x1b[0c" in data:
        os.write(fd, b"\x1b[?62;c")


def first_frame(fd, started, quiet=0.15, limit=10.0):
    first = None
    last = None
    total = 0
    while True:
        timeout = quiet if first is not None else limit
        r, _, _ = select.select([fd], [], [], timeout)
        if not r:
            if first is None:
                return None, 0
            return last - started, total
        try:
            data = os.read(fd, 65536)
        except OSError:
            data = b""
        if not data:
            return (last - started if last else None), total
        answer_queries(fd, data)
        now = time.monotonic()
        first = first or now
        last = now
        total += len(data)


def peak_rss_kb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def stop(pid, fd):
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    read_for(fd, 0.3)
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass
    os.close(fd)


def measure(name, argv, cols, rows, seconds, env=None):
    started = time.monotonic()
    pid, fd = spawn(argv, cols, rows, env)
    frame, frame_bytes = first_frame(fd, started)
    read_for(fd, 3.0)  # warm-up
    chunks = read_for(fd, seconds)
    rss = peak_rss_kb(pid)
    stop(pid, fd)
    steady = sum(n for _, n in chunks) / seconds
    return {
        "program": name,
        "first_frame_ms": round(frame * 1000, 1) if frame is not None else None,
        "first_frame_bytes": frame_bytes,
        "bytes_per_second": round(steady, 1),
        "peak_rss_mb": round(rss / 1024, 1) if rss else None,
    }


def rollback_latency(binary, cols, rows, rounds):
    state = tempfile.mkdtemp(prefix="beacon-bench-")
    audit = os.path.join(state, "audit", "beacon-audit.jsonl")
    env = {"BEACON_OPERATOR": "bench"}
    pid, fd = spawn([binary, "--state-dir", state], cols, rows, env)
    first_frame(fd, time.monotonic())
    latencies = []
    for _ in range(rounds):
        # Something to roll back, written by another process.
        subprocess.run(
            [binary, "--state-dir", state, "shift", "--all", "--to", "5", "--yes",
             "--reason", "bench"],
            check=True, capture_output=True, env={**os.environ, **env},
        )
        lines = sum(1 for _ in open(audit))
        os.write(fd, b"X")
        read_for(fd, 0.05)
        sent = time.monotonic()
        os.write(fd, b"X")
        while True:
            read_for(fd, 0.0005)
            if sum(1 for _ in open(audit)) > lines:
                latencies.append((time.monotonic() - sent) * 1000)
                break
            if time.monotonic() - sent > 10:
                raise SystemExit("no rollback within 10 s")
    stop(pid, fd)
    shutil.rmtree(state, ignore_errors=True)
    latencies.sort()
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    return {
        "rounds": rounds,
        "p50_ms": round(statistics.median(latencies), 2),
        "p99_ms": round(p99, 2),
        "max_ms": round(latencies[-1], 2),
    }


def key_to_output_ms(fd, key):
    """Writes `key`, returns ms until the console writes anything back."""
    read_for(fd, 0.2)  # drain the last frame
    sent = time.monotonic()
    os.write(fd, key)
    r, _, _ = select.select([fd], [], [], 10)
    if not r:
        return None
    os.read(fd, 65536)
    return (time.monotonic() - sent) * 1000


def lock_latency(binary, cols, rows, rounds):
    state = tempfile.mkdtemp(prefix="beacon-bench-")
    env = {"BEACON_OPERATOR": "bench"}
    shift = [binary, "--state-dir", state, "shift", "--all", "--to", "5", "--yes", "--reason", "bench"]
    subprocess.run(shift, check=True, capture_output=True, env={**os.environ, **env})
    pid, fd = spawn([binary, "--state-dir", state], cols, rows, env)
    first_frame(fd, time.monotonic())
    lock_path = os.path.join(state, "flags", "beacon-routes.json.lock")
    free, held, ratios = [], [], []
    for _ in range(rounds):
        # Anchor: `?` (help) and Esc with the store free.
        a = key_to_output_ms(fd, b"?")
        key_to_output_ms(fd, b"\x1b")
        # The same with the lock held by this process and a rollback waiting on it.
        with open(lock_path, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            held_from = time.monotonic()
            os.write(fd, b"X")
            read_for(fd, 0.05)
            os.write(fd, b"X")
            read_for(fd, 0.3)
            b = key_to_output_ms(fd, b"?")
            key_to_output_ms(fd, b"\x1b")
            time.sleep(max(0.0, 4.0 - (time.monotonic() - held_from)))
            fcntl.flock(lock, fcntl.LOCK_UN)
        read_for(fd, 0.5)
        subprocess.run(shift, check=True, capture_output=True, env={**os.environ, **env})
        if a is None or b is None:
            raise SystemExit("no answer to a key within 10 s")
        free.append(a)
        held.append(b)
        ratios.append(b / a)
    stop(pid, fd)
    shutil.rmtree(state, ignore_errors=True)
    return {
        "rounds": rounds,
        "store_free_p50_ms": round(statistics.median(free), 2),
        "lock_held_p50_ms": round(statistics.median(held), 2),
        "lock_held_max_ms": round(max(held), 2),
        "median_ratio": round(statistics.median(ratios), 2),
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--rollbacks", type=int, default=50)
    ap.add_argument("--lock-rounds", type=int, default=5)
    ap.add_argument("--cols", type=int, default=80)
    ap.add_argument("--rows", type=int, default=24)
    a = ap.parse_args()
    state = tempfile.mkdtemp(prefix="beacon-bench-")
    results = [
        measure("beacon-console", [a.binary, "--state-dir", state], a.cols, a.rows, a.seconds),
    ]
    # btop 1.2 takes its update interval from its config file only.
    btop_home = tempfile.mkdtemp(prefix="beacon-btop-")
    os.makedirs(os.path.join(btop_home, "btop"))
    with open(os.path.join(btop_home, "btop", "btop.conf"), "w") as f:
        f.write("update_ms = 1000\n")
    anchors = (
        ("htop -d 10", ["htop", "-d", "10"], None),
        ("btop (1 s updates)", ["btop"], {"XDG_CONFIG_HOME": btop_home}),
    )
    for name, argv, env in anchors:
        if shutil.which(argv[0]):
            results.append(measure(name, argv, a.cols, a.rows, a.seconds, env))
    shutil.rmtree(btop_home, ignore_errors=True)
    shutil.rmtree(state, ignore_errors=True)
    rollback = rollback_latency(a.binary, a.cols, a.rows, a.rollbacks)
    locked = lock_latency(a.binary, a.cols, a.rows, a.lock_rounds)
    print(json.dumps({"size": f"{a.cols}x{a.rows}", "programs": results,
                      "x_x_keypress_to_commit": rollback,
                      "key_to_screen_with_the_store_lock_held_4s": locked}, indent=2))


if __name__ == "__main__":
    main()
