#!/usr/bin/env python3
"""Timing driver of bench/tools.sh: WASM tools through their files under a ClawFS mount,
against the native command doing the same job, from the same process.

  tools_bench.py calls      --mnt MNT --json OUT [--warmup N] [--calls N] [--cpu-calls N]
  tools_bench.py cli        --mnt MNT --json OUT --clawfs CMD [--calls N]
  tools_bench.py throughput --mnt MNT --json OUT --raw FILE --mib N [--fallback-mib N] [--rounds N]
  tools_bench.py report     --out FILE.md PASSDIR...

Every measurement records the load average before it (os.getloadavg, as uptime shows it) and
the server's CPU seconds (utime + stime of all its threads, /proc/PID/stat) where that says
something. Timing is time.perf_counter_ns around the whole call, in this process.
"""
import argparse
import errno
import json
import os
import statistics
import subprocess
import sys
import time

HZ = os.sysconf("SC_CLK_TCK")
MIB = 1 << 20
# 100 bytes of text: 3 lines, 21 words
SMALL_INPUT = (b"the quick brown fox jumps over the lazy dog\n" * 3)[:99] + b"\n"
NATIVE_ENV = dict(os.environ, LC_ALL="C")


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def load():
    return "%.2f %.2f %.2f" % os.getloadavg()


def server_pid(mnt):
    with open(os.path.join(mnt, "system/status")) as f:
        for line in f:
            if line.startswith("pid:"):
                return int(line.split()[1])
    raise SystemExit("no pid: in system/status")


def cpu_s(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / HZ


def stats(ms):
    s = sorted(ms)
    if not s:
        return {}
    p90 = s[min(len(s) - 1, max(0, -(-9 * len(s) // 10) - 1))]  # nearest rank
    return {"n": len(s), "median": statistics.median(s), "p90": p90, "mean": statistics.fmean(s),
            "min": s[0], "max": s[-1]}


def ms_since(t0):
    return (time.perf_counter_ns() - t0) / 1e6


# ------------------------------------------------------------------ the four ways of a small call

def read_to_eof(fd, size=65536):
    parts = []
    while True:
        b = os.read(fd, size)
        if not b:
            return b"".join(parts)
        parts.append(b)


def call_run(path, data):
    """One raw transaction: open O_RDWR, write stdin, read stdout to EOF, close."""
    fd = os.open(path, os.O_RDWR)
    try:
        os.write(fd, data)
        return read_to_eof(fd)
    finally:
        os.close(fd)


def call_run_json(path, data):
    fd = os.open(path, os.O_RDWR)
    try:
        os.write(fd, json.dumps({"stdin": data.decode()}).encode())
        reply = json.loads(read_to_eof(fd))
    finally:
        os.close(fd)
    if reply.get("outcome") != "EXITED" or reply.get("exit") != 0:
        raise RuntimeError(f"run.json: {reply.get('outcome')} {reply.get('message')}")
    return reply["stdout"].encode()


def call_native(argv, data):
    return subprocess.run(argv, input=data, stdout=subprocess.PIPE, check=True, env=NATIVE_ENV).stdout


def call_plain(path, data):
    """The FUSE floor: the same open/write/read/close on an ordinary 100-byte file in the mount."""
    fd = os.open(path, os.O_RDWR)
    try:
        os.write(fd, data)
        os.lseek(fd, 0, os.SEEK_SET)
        return read_to_eof(fd)
    finally:
        os.close(fd)


def cmd_calls(a):
    mnt = a.mnt
    run = os.path.join(mnt, "tools/wordcount/run")
    run_json = os.path.join(mnt, "tools/wordcount/run.json")
    plain = os.path.join(mnt, "workspaces/bench/small.txt")
    os.makedirs(os.path.dirname(plain), exist_ok=True)
    with open(plain, "wb") as f:
        f.write(SMALL_INPUT)
    pid = server_pid(mnt)
    expected = call_native(["wc"], SMALL_INPUT)
    modes = {
        "run": lambda: call_run(run, SMALL_INPUT),
        "run.json": lambda: call_run_json(run_json, SMALL_INPUT),
        "native wc": lambda: call_native(["wc"], SMALL_INPUT),
        "plain file": lambda: call_plain(plain, SMALL_INPUT),
    }
    checked = {"run", "run.json", "native wc"}
    out = {"input_bytes": len(SMALL_INPUT), "expected": expected.decode(), "load": {}, "failures": {},
           "warmup": {}, "calls": {}, "server_cpu_ms_per_call": {}, "mismatches": 0}

    def one(mode, into):
        t0 = time.perf_counter_ns()
        try:
            got = modes[mode]()
        except (OSError, RuntimeError, subprocess.CalledProcessError) as e:
            out["failures"][mode] = out["failures"].get(mode, 0) + 1
            if out["failures"][mode] <= 3:
                log(f"  {mode}: call failed: {e}")
            return
        ms = ms_since(t0)
        if mode in checked and got != expected:
            out["mismatches"] += 1
            if out["mismatches"] <= 3:
                log(f"  {mode}: output {got!r} differs from wc's {expected!r}")
        into.setdefault(mode, []).append(ms)

    names = list(modes)
    out["load"]["warmup"] = load()
    log(f"small calls: warm-up, {a.warmup} of each (load {out['load']['warmup']})")
    for i in range(a.warmup):
        for k in range(len(names)):
            one(names[(i + k) % len(names)], out["warmup"])
    out["load"]["calls"] = load()
    log(f"small calls: {a.calls} of each, interleaved (load {out['load']['calls']})")
    for i in range(a.calls):
        for k in range(len(names)):
            one(names[(i + k) % len(names)], out["calls"])
    # server CPU per call, each mode alone (the interleaved loop cannot split it)
    out["load"]["cpu"] = load()
    for mode in ("run", "run.json", "plain file"):
        c0 = cpu_s(pid)
        t0 = time.perf_counter_ns()
        for _ in range(a.cpu_calls):
            one(mode, {})
        out["server_cpu_ms_per_call"][mode] = {"cpu": (cpu_s(pid) - c0) * 1000 / a.cpu_calls,
                                               "wall": ms_since(t0) / a.cpu_calls}
    out["stats"] = {m: stats(v) for m, v in out["calls"].items()}
    block = max(50, a.warmup // 10)
    out["warmup_block"] = block
    out["warmup_blocks"] = {m: [statistics.median(v[i:i + block]) for i in range(0, len(v), block)]
                            for m, v in out["warmup"].items()}
    out["warmup_first_ms"] = {m: v[0] for m, v in out["warmup"].items() if v}
    for m, s in out["stats"].items():
        log(f"  {m:10s} median {s['median']:.2f} ms, p90 {s['p90']:.2f} ms (n={s['n']})")
    with open(a.json, "w") as f:
        json.dump(out, f, indent=1)
    return 1 if out["mismatches"] else 0


def cmd_cli(a):
    """`clawfs tool run MNT wordcount` (a JVM start per call) against the same wc fork."""
    expected = call_native(["wc"], SMALL_INPUT)
    out = {"load": load(), "calls": {}, "failures": 0, "mismatches": 0}
    log(f"clawfs tool run: {a.calls} calls and as many wc (load {out['load']})")
    for i in range(a.calls):
        for mode in (("clawfs tool run", "native wc") if i % 2 == 0 else ("native wc", "clawfs tool run")):
            argv = [a.clawfs, "tool", "run", a.mnt, "wordcount"] if mode != "native wc" else ["wc"]
            t0 = time.perf_counter_ns()
            r = subprocess.run(argv, input=SMALL_INPUT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               env=NATIVE_ENV)
            ms = ms_since(t0)
            if r.returncode != 0:
                out["failures"] += 1
                log(f"  {mode}: exit {r.returncode}: {r.stderr.decode(errors='replace').strip()[:200]}")
                continue
            if r.stdout != expected:
                out["mismatches"] += 1
            out["calls"].setdefault(mode, []).append(ms)
    out["stats"] = {m: stats(v) for m, v in out["calls"].items()}
    for m, s in out["stats"].items():
        log(f"  {m:16s} median {s['median']:.1f} ms, p90 {s['p90']:.1f} ms (n={s['n']})")
    with open(a.json, "w") as f:
        json.dump(out, f, indent=1)
    return 1 if out["mismatches"] else 0


# ------------------------------------------------------------------ throughput

def copy_prefix(src, dst, nbytes):
    buf = bytearray(MIB)
    with open(src, "rb", buffering=0) as fi, open(dst, "wb", buffering=0) as fo:
        left = nbytes
        while left > 0:
            n = fi.readinto(memoryview(buf)[:min(MIB, left)])
            if n <= 0:
                raise SystemExit(f"{src} is shorter than {nbytes} bytes")
            fo.write(memoryview(buf)[:n])
            left -= n


def sha256sum(path):
    t0 = time.perf_counter_ns()
    r = subprocess.run(["sha256sum", path], stdout=subprocess.PIPE, check=True, env=NATIVE_ENV)
    return ms_since(t0), r.stdout.split()[0].decode()


def cat_mount(path):
    t0 = time.perf_counter_ns()
    subprocess.run(["cat", path], stdout=subprocess.DEVNULL, check=True)
    return ms_since(t0), None


def last_run(mnt, tool):
    with open(os.path.join(mnt, "tools", tool, "log"), "rb") as f:
        lines = f.read().splitlines()
    return json.loads(lines[-1]) if lines else {}


def stream_tool(mnt, src):
    """The mount file copied into sha256/run in 1 MiB writes, then its stdout read to EOF."""
    run = os.path.join(mnt, "tools/sha256/run")
    buf = bytearray(MIB)
    outcome = "EXITED 0"
    stdout = b""
    t0 = time.perf_counter_ns()
    fd = os.open(run, os.O_RDWR)
    try:
        with open(src, "rb", buffering=0) as fi:
            while True:
                n = fi.readinto(buf)
                if not n:
                    break
                view = memoryview(buf)[:n]
                try:
                    while view:
                        view = view[os.write(fd, view):]
                except OSError as e:  # EPIPE: the tool ended (a limit) before all input was in
                    outcome = "write: " + errno.errorcode.get(e.errno, str(e.errno))
                    break
        try:
            stdout = read_to_eof(fd)
        except OSError as e:
            outcome = errno.errorcode.get(e.errno, str(e.errno)) + (f" (after {outcome})" if "write" in outcome else "")
    finally:
        os.close(fd)
    ms = ms_since(t0)
    h = stdout.split()[0].decode() if stdout.split() else None
    return ms, h, outcome


def throughput_size(a, pid, mib, label, results):
    nbytes = mib * MIB
    mfile = os.path.join(a.mnt, f"workspaces/bench/random-{mib}m")
    rfile = os.path.join(os.path.dirname(a.raw), f"random-{mib}m")
    os.makedirs(os.path.dirname(mfile), exist_ok=True)
    if not os.path.exists(rfile):
        copy_prefix(a.raw, rfile, nbytes)
    t0 = time.perf_counter_ns()
    copy_prefix(rfile, mfile, nbytes)
    log(f"throughput {mib} MiB ({label}): copied into the mount in {ms_since(t0) / 1000:.1f} s")
    _, expected = sha256sum(rfile)
    size = {"mib": mib, "label": label, "expected": expected, "samples": [], "hash_mismatch": 0}
    results["sizes"].append(size)
    steps = [
        ("tool: mount file -> sha256/run", lambda: stream_tool(a.mnt, mfile)),
        ("sha256sum of the mount file", lambda: sha256sum(mfile)),
        ("sha256sum of the raw-disk file", lambda: sha256sum(rfile)),
        ("cat of the mount file > /dev/null", lambda: cat_mount(mfile)),
    ]
    tool_stopped = False
    for r in range(1, a.rounds + 1):
        for k in range(len(steps)):
            name, fn = steps[(r - 1 + k) % len(steps)]
            is_tool = name.startswith("tool")
            if is_tool and tool_stopped:
                log(f"  round {r}: {name}: skipped (a limit stopped round 1; each try costs the full wall time)")
                continue
            ld = load()
            c0 = cpu_s(pid)
            res = fn()
            cpu = cpu_s(pid) - c0
            ms, h = res[0], res[1]
            s = {"round": r, "step": name, "ms": ms, "mib_s": mib / (ms / 1000), "server_cpu_s": cpu, "load": ld}
            if is_tool:
                s["outcome"] = res[2]
                rec = last_run(a.mnt, "sha256")
                s["tool_log"] = {k: rec.get(k) for k in ("outcome", "limit", "duration_ms", "bytes_in", "message")}
                if res[2] != "EXITED 0":
                    tool_stopped = True
                    bi = rec.get("bytes_in") or 0
                    dur = rec.get("duration_ms") or 1
                    s["consumed_mib_s"] = bi / MIB / (dur / 1000)
            if h is not None:
                s["hash"] = h
                if h != expected:
                    size["hash_mismatch"] += 1
                    log(f"  HASH MISMATCH: {name}: {h} != {expected}")
            size["samples"].append(s)
            extra = f", {s['outcome']}" if is_tool else ""
            if is_tool and "consumed_mib_s" in s:
                extra += f" after {s['tool_log']['bytes_in'] / MIB:.1f} MiB in ({s['consumed_mib_s']:.2f} MiB/s)"
            log(f"  round {r}: {name}: {ms / 1000:.2f} s = {s['mib_s']:.1f} MiB/s, server CPU {cpu:.2f} s"
                f" (load {ld}){extra}")
    os.unlink(mfile)
    return tool_stopped


def cmd_throughput(a):
    pid = server_pid(a.mnt)
    results = {"sizes": [], "load_start": load()}
    stopped = throughput_size(a, pid, a.mib, "requested size", results)
    if stopped and a.fallback_mib and a.fallback_mib < a.mib:
        log(f"the tool did not finish {a.mib} MiB; measuring {a.fallback_mib} MiB as well")
        throughput_size(a, pid, a.fallback_mib, "fallback: fits the limits", results)
    with open(a.json, "w") as f:
        json.dump(results, f, indent=1)
    return 1 if any(s["hash_mismatch"] for s in results["sizes"]) else 0


# ------------------------------------------------------------------ report

def fmt_ms(v):
    return f"{v:.2f}" if v < 100 else f"{v:.0f}"


def report_pass(p, lines):
    lines.append(f"### {p['title']}")
    lines.append("")
    for k in ("note", "engine"):
        if p.get(k):
            lines.append(f"- {k}: {p[k]}")
    lines.append("")
    c = p.get("calls")
    if c:
        nat = c["stats"]["native wc"]["median"]
        lines.append(f"Small call: `wordcount` on {c['input_bytes']} bytes ({c['stats']['run']['n']} calls of each way,"
                     f" interleaved, after {len(c['warmup'].get('run', []))} warm-up calls of each;"
                     f" load before: {c['load']['calls']}).")
        lines.append("")
        lines.append("| way | median ms | p90 ms | mean ms | min ms | max ms | median / native |")
        lines.append("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
        for m in ("run", "run.json", "plain file", "native wc"):
            s = c["stats"].get(m)
            if not s:
                continue
            lines.append(f"| {m} | {fmt_ms(s['median'])} | {fmt_ms(s['p90'])} | {fmt_ms(s['mean'])} | "
                         f"{fmt_ms(s['min'])} | {fmt_ms(s['max'])} | {s['median'] / nat:.2f} |")
        cl = p.get("cli")
        if cl and "clawfs tool run" in cl["stats"]:
            s = cl["stats"]["clawfs tool run"]
            n2 = cl["stats"]["native wc"]["median"]
            lines.append(f"| `clawfs tool run` (new JVM each; {s['n']} calls, load {cl['load']}) | {fmt_ms(s['median'])} |"
                         f" {fmt_ms(s['p90'])} | {fmt_ms(s['mean'])} | {fmt_ms(s['min'])} | {fmt_ms(s['max'])} |"
                         f" {s['median'] / n2:.0f} (vs wc {n2:.2f} ms in that loop) |")
        lines.append("")
        cpu = c["server_cpu_ms_per_call"]
        lines.append("Server CPU per call (each way alone, " + ", ".join(
            f"{m}: {v['cpu']:.2f} ms CPU / {v['wall']:.2f} ms wall" for m, v in cpu.items()) + ").")
        wb = c["warmup_blocks"]
        lines.append(f"Warm-up (first call; then medians of blocks of {c.get('warmup_block', 50)} calls): " + "; ".join(
            f"{m}: {c['warmup_first_ms'][m]:.0f} ms, then " + " / ".join(fmt_ms(x) for x in wb[m])
            for m in ("run", "run.json") if m in wb) + ".")
        if c["failures"]:
            lines.append(f"Failed calls: {c['failures']}.")
        lines.append("")
    t = p.get("throughput")
    if t:
        for size in t["sizes"]:
            lines.append(f"SHA-256 of {size['mib']} MiB of random data ({size['label']}); median of the rounds that ran:")
            lines.append("")
            lines.append("| way | rounds | median s | MiB/s | server CPU s | vs sha256sum raw disk (speed) | vs sha256sum via mount (speed) | outcome |")
            lines.append("| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
            by = {}
            for s in size["samples"]:
                by.setdefault(s["step"], []).append(s)
            def med(step, key):
                v = [s[key] for s in by.get(step, [])]
                return statistics.median(v) if v else None
            raw = med("sha256sum of the raw-disk file", "mib_s")
            via = med("sha256sum of the mount file", "mib_s")
            for step, ss in by.items():
                m = med(step, "mib_s")
                outc = ""
                if step.startswith("tool"):
                    o = [s["outcome"] for s in ss]
                    outc = ", ".join(sorted(set(o)))
                    for s in ss:
                        if "consumed_mib_s" in s:
                            tl = s["tool_log"]
                            outc += (f": {tl.get('message')}; {tl['bytes_in'] / MIB:.1f} MiB consumed in "
                                     f"{tl['duration_ms'] / 1000:.1f} s = {s['consumed_mib_s']:.2f} MiB/s")
                            break
                ok_rate = m if not outc or outc.startswith("EXITED 0") or not step.startswith("tool") else None
                r1 = f"{ok_rate / raw:.3f}" if ok_rate and raw else "n/a"
                r2 = f"{ok_rate / via:.3f}" if ok_rate and via and step != "sha256sum of the mount file" else ("1" if step == "sha256sum of the mount file" else "n/a")
                rate = f"{m:.1f}" if ok_rate or not step.startswith("tool") else "stopped"
                lines.append(f"| {step} | {len(ss)} | {med(step, 'ms') / 1000:.2f} | {rate} | "
                             f"{med(step, 'server_cpu_s'):.2f} | {r1} | {r2} | {outc} |")
            loads = sorted({s["load"] for s in size["samples"]})
            lines.append("")
            lines.append(f"Hashes equal to sha256sum of the raw file in every round that finished: "
                         f"{'yes' if not size['hash_mismatch'] else 'NO (' + str(size['hash_mismatch']) + ' mismatches)'}."
                         f" Load before each step: {', '.join(loads)}.")
            lines.append("")


def load_pass(d):
    """A pass directory: meta.json (title, note, engine) and calls/cli/throughput.json when they ran."""
    p = {}
    for name in ("meta", "calls", "cli", "throughput"):
        path = os.path.join(d, name + ".json")
        if os.path.exists(path):
            with open(path) as f:
                v = json.load(f)
            if name == "meta":
                p.update(v)
            else:
                p[name] = v
    return p


def cmd_report(a):
    lines = []
    for d in a.passes:
        report_pass(load_pass(d), lines)
    text = "\n".join(lines) + "\n"
    with open(a.out, "w") as f:
        f.write(text)
    print(text)
    return 0


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("calls")
    c.add_argument("--mnt", required=True)
    c.add_argument("--json", required=True)
    c.add_argument("--warmup", type=int, default=1000)
    c.add_argument("--calls", type=int, default=300)
    c.add_argument("--cpu-calls", type=int, default=100)
    c = sub.add_parser("cli")
    c.add_argument("--mnt", required=True)
    c.add_argument("--json", required=True)
    c.add_argument("--clawfs", required=True)
    c.add_argument("--calls", type=int, default=20)
    c = sub.add_parser("throughput")
    c.add_argument("--mnt", required=True)
    c.add_argument("--json", required=True)
    c.add_argument("--raw", required=True)
    c.add_argument("--mib", type=int, default=100)
    c.add_argument("--fallback-mib", type=int, default=8)
    c.add_argument("--rounds", type=int, default=3)
    c = sub.add_parser("report")
    c.add_argument("--out", required=True)
    c.add_argument("passes", nargs="+", help="directories with meta.json and the measurements' JSON")
    a = ap.parse_args()
    return {"calls": cmd_calls, "cli": cmd_cli, "throughput": cmd_throughput, "report": cmd_report}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
