#!/usr/bin/env python3
# bench-agents.py — gossip-agent vs serf, as separate processes on loopback.
#
# For each implementation (gossip-agent; serf when installed), each setting
# (gossip-agent at its defaults and at settings matched to serf's LAN profile;
# serf at its defaults) and each cluster size N (10 and 50), repeated --runs
# times, one implementation after the other (never both at once: they would
# share the two cores):
#
#   convergence  start a seed, wait until its control socket answers, start
#                N-1 agents joining it; time from the last start until every
#                agent's `members` lists all N alive. Each agent is polled
#                over a persistent control connection (gossip-agent's JSON
#                lines, serf's msgpack RPC), about every 10 ms.
#   memory       VmRSS and RssAnon of every agent (/proc/PID/status) once the
#                cluster converged and settled.
#   bytes        in the first --bytes-runs repetitions: bytes sent per node
#                per second over a --window of steady state with no polling,
#                from the loopback interface's transmit counter of a network
#                namespace made for the benchmark (so it counts only these
#                agents; headers included). Needs root; "n/a" otherwise.
#   detection    kill -9 one agent (never the seed), after a random delay of
#                up to --kill-jitter (2 s, whole probe periods of both); time until every
#                survivor reports it non-alive (gossip-agent: suspect, dead
#                or leaving; serf: failed or left — serf exposes no suspect
#                state) and until every survivor reports it dead/failed.
#
# As root (with `ip`), the whole benchmark runs inside a private network
# namespace (gsp-bench-PID, loopback only) that it deletes on exit; without
# root it runs on the host's loopback and reports no byte counts. Traffic
# only ever goes to 127.0.0.1.
#
# Matched settings (serf's LAN profile, memberlist DefaultLANConfig):
#   ProbeInterval 1s          -> --health-check-interval 4s (four probes per
#                                interval: one a second)
#   ProbeTimeout 500ms        -> --suspect-timeout 500ms (the probe deadline's
#                                ceiling; it follows the round trip, >= 300 ms)
#   IndirectChecks 3          -> --indirect-checks 3
#   GossipInterval 200ms      -> --metadata-gossip-interval 200ms
#   PushPullInterval 30s      -> --state-gossip-interval 30s
#   SuspicionMult 4 (timeout 4·log10(N)·ProbeInterval, Lifeguard: starts at
#     6x that and shrinks to 1x with confirmations)
#                             -> --dead-node-timeout 4·log10(N) s (4 s at
#                                N=10, 6.8 s at N=50; ours shrinks to
#                                max(1/10, 1 suspect retry interval,
#                                2 probe periods) with confirmations)
#   (no equivalent)           -> --suspect-retry-interval 1s
#
# Writes to --out-dir: agents-summary.csv/.json/.txt (the table),
# agents-runs.csv (every run), agents-curves.csv (fraction of agents that
# see everyone, per run and poll), agents-detection.csv (per survivor) and
# agents-detection-cdf.csv (for plot.gp).
#
# SPDX-License-Identifier: MIT

import argparse
import base64
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402

POLL_SLEEP = 0.01


def log(msg):
    print(msg, file=sys.stderr, flush=True)


class Cluster:
    """N agents of one implementation, started and torn down by us."""

    def __init__(self, impl, n, args, setting, port_base, logdir):
        self.impl, self.n, self.args, self.setting = impl, n, args, setting
        self.procs, self.addrs, self.rpcs, self.clients = [], [], [], {}
        self.port_base = port_base
        self.logdir = logdir
        self.key = None
        if args.encrypt:
            self.key = "0123456789abcdef0123456789abcdef"  # 32 bytes, taken as is

    def _ports(self, i):
        if self.args.in_netns:
            return self.port_base + i, self.port_base + 500 + i
        return bl.free_port_pair(), bl.free_port_pair()

    def _cmd(self, i, bind, rpc, join):
        if self.impl == "gossip":
            settings = bl.matched_settings(self.n) if self.setting == "matched" else {}
            return bl.gossip_cmd(self.args.agent, bind, rpc, join, settings, self.key)
        key = base64.b64encode(self.key.encode()).decode() if self.key else None
        return bl.serf_cmd(self.args.serf, f"n{i}", bind, rpc, join, key)

    def start_one(self, i, join):
        gport, rport = self._ports(i)
        bind, rpc = f"127.0.0.1:{gport}", f"127.0.0.1:{rport}"
        err = open(os.path.join(self.logdir, f"{self.impl}-{i}.log"), "w") if self.logdir else None
        proc = bl.spawn(self._cmd(i, bind, rpc, join), stdout=subprocess.DEVNULL, stderr=err)
        if err:
            err.close()
        self.procs.append(proc)
        self.addrs.append(bind)
        self.rpcs.append(rpc)

    def client(self, i):
        c = self.clients.get(i)
        if c is None:
            c = bl.connect_rpc(self.impl, self.rpcs[i], timeout=2.0)
            self.clients[i] = c
        return c

    def members(self, i):
        """[(addr, state)] or None when the agent does not answer (yet)."""
        try:
            return self.client(i).members()
        except (OSError, bl.RPCError, ValueError):
            c = self.clients.pop(i, None)
            if c:
                c.close()
            return None

    def stop(self):
        for c in self.clients.values():
            c.close()
        self.clients = {}
        for p in self.procs:
            bl.kill_hard(p)


def wait_ready(cl, i, deadline):
    while time.monotonic() < deadline:
        if cl.procs[i].poll() is not None:
            raise RuntimeError(f"{cl.impl} agent {i} exited with {cl.procs[i].returncode}")
        if cl.members(i) is not None:
            return True
        time.sleep(0.005)
    return False


def one_run(impl, n, setting, rep, args, measure_bytes, port_base, out):
    cl = Cluster(impl, n, args, setting, port_base, args.logdir)
    res = {"impl": impl, "setting": setting, "n": n, "run": rep}
    curve = []
    try:
        cl.start_one(0, None)
        if not wait_ready(cl, 0, time.monotonic() + 10):
            raise RuntimeError(f"{impl} seed did not start")
        for i in range(1, n):
            cl.start_one(i, cl.addrs[0])
        t0 = time.monotonic()
        expected = set(cl.addrs)

        # -- convergence
        conv = [None] * n
        deadline = t0 + args.converge_timeout
        while time.monotonic() < deadline and None in conv:
            for i in range(n):
                if conv[i] is not None:
                    continue
                ms = cl.members(i)
                if ms is None:
                    continue
                alive = {a for a, s in ms if bl.is_alive(s)}
                if expected <= alive:
                    conv[i] = time.monotonic() - t0
            done = sum(c is not None for c in conv)
            curve.append((time.monotonic() - t0, done / n))
            time.sleep(POLL_SLEEP)
        res["converge_s"] = max(conv) if None not in conv else None
        res["converged_agents"] = sum(c is not None for c in conv)
        for t, f in curve:
            out["curves"].append((impl, setting, n, rep, t, f))

        # -- memory and bytes at steady state
        time.sleep(args.settle)
        mem = [bl.proc_status(p.pid) for p in cl.procs]
        res["rss_kb"] = [m.get("VmRSS") for m in mem]
        res["rssanon_kb"] = [m.get("RssAnon") for m in mem]
        if measure_bytes and args.in_netns:
            b0, p0 = bl.netdev_bytes("lo")
            tw = time.monotonic()
            time.sleep(args.window)
            b1, p1 = bl.netdev_bytes("lo")
            secs = time.monotonic() - tw
            res["bytes_per_node_s"] = (b1 - b0) / secs / n
            res["packets_per_node_s"] = (p1 - p0) / secs / n
            mem = [bl.proc_status(p.pid) for p in cl.procs]
            res["rssanon_after_window_kb"] = [m.get("RssAnon") for m in mem]

        # -- detection
        rng = random.Random(args.seed * 1000 + rep * 10 + n)
        victim = rng.randrange(1, n)
        # Kill at a random phase of the probe period: agents started together
        # may probe in lockstep, and a fixed delay since the start would pick
        # the same phase every run (2 s covers whole periods of both: 2 s
        # for gossip-agent, 1 s for serf).
        time.sleep(rng.uniform(0.0, args.kill_jitter))
        vaddr = cl.addrs[victim]
        cl.clients.pop(victim, None)
        bl.kill_hard(cl.procs[victim])
        tk = time.monotonic()
        survivors = [i for i in range(n) if i != victim]
        nonalive = {i: None for i in survivors}
        dead = {i: None for i in survivors}
        deadline = tk + args.detect_timeout
        while time.monotonic() < deadline and any(v is None for v in dead.values()):
            for i in survivors:
                if dead[i] is not None:
                    continue
                ms = cl.members(i)
                if ms is None:
                    continue
                st = dict(ms).get(vaddr)
                now = time.monotonic() - tk
                if st is None or not bl.is_alive(st):
                    if nonalive[i] is None:
                        nonalive[i] = now
                    if st in (None, "dead", "failed", "left"):
                        dead[i] = now
            time.sleep(POLL_SLEEP)
        res["detect_s"] = max(nonalive.values()) if None not in nonalive.values() else None
        res["dead_s"] = max(dead.values()) if None not in dead.values() else None
        for i in survivors:
            out["detections"].append((impl, setting, n, rep, i, nonalive[i], dead[i]))
    finally:
        cl.stop()
    return res


def summarize(runs, key_fn):
    groups = {}
    for r in runs:
        groups.setdefault(key_fn(r), []).append(r)
    rows = []
    for (impl, setting, n), rs in sorted(groups.items(), key=lambda kv: (kv[0][2], kv[0][0], kv[0][1])):
        def col(k):
            return [r.get(k) for r in rs]
        pooled = lambda k: [v for r in rs for v in (r.get(k) or []) if v is not None]  # noqa: E731
        conv = col("converge_s")
        det = col("detect_s")
        dead = col("dead_s")
        rss = pooled("rss_kb")
        anon = pooled("rssanon_kb")
        byt = [v for v in col("bytes_per_node_s") if v is not None]
        rows.append({
            "impl": impl, "setting": setting, "n": n, "runs": len(rs),
            "converge_median_s": bl.median(conv), "converge_p90_s": bl.percentile(conv, 90),
            "converge_failures": sum(v is None for v in conv),
            "detect_median_s": bl.median(det), "detect_p90_s": bl.percentile(det, 90),
            "detect_failures": sum(v is None for v in det),
            "dead_median_s": bl.median(dead), "dead_p90_s": bl.percentile(dead, 90),
            "rss_median_kb": bl.median(rss), "rss_p90_kb": bl.percentile(rss, 90),
            "rssanon_median_kb": bl.median(anon), "rssanon_p90_kb": bl.percentile(anon, 90),
            "bytes_per_node_s": bl.median(byt) if byt else None,
            "packets_per_node_s": bl.median([v for v in col("packets_per_node_s") if v is not None]),
        })
    return rows


def table(rows, args):
    lines = []
    hdr = (f"{'impl':<7} {'settings':<8} {'N':>3} {'runs':>4} | {'conv med':>8} {'p90':>7} | "
           f"{'detect med':>10} {'p90':>7} | {'dead med':>8} {'p90':>7} | {'RSS MB':>6} {'p90':>6} | "
           f"{'RssAnon MB':>10} {'p90':>6} | {'B/s/node':>9} {'pkt/s':>6}")
    lines.append(hdr)
    lines.append("-" * len(hdr))
    for r in rows:
        mb = lambda v: bl.fmt(v / 1024 if v is not None else None, 2)  # noqa: E731
        fails = ""
        if r["converge_failures"] or r["detect_failures"]:
            fails = f"  (timeouts: converge {r['converge_failures']}, detect {r['detect_failures']})"
        lines.append(
            f"{r['impl']:<7} {r['setting']:<8} {r['n']:>3} {r['runs']:>4} | "
            f"{bl.fmt(r['converge_median_s']):>8} {bl.fmt(r['converge_p90_s']):>7} | "
            f"{bl.fmt(r['detect_median_s']):>10} {bl.fmt(r['detect_p90_s']):>7} | "
            f"{bl.fmt(r['dead_median_s']):>8} {bl.fmt(r['dead_p90_s']):>7} | "
            f"{mb(r['rss_median_kb']):>6} {mb(r['rss_p90_kb']):>6} | "
            f"{mb(r['rssanon_median_kb']):>10} {mb(r['rssanon_p90_kb']):>6} | "
            f"{bl.fmt(r['bytes_per_node_s'], 0):>9} {bl.fmt(r['packets_per_node_s'], 1):>6}{fails}")
    lines.append("")
    lines.append("conv: last agent started -> every agent lists all N alive. detect: kill -9 of one agent ->")
    lines.append("every survivor lists it non-alive (gossip-agent: suspect/dead; serf: failed, its only")
    lines.append("non-alive state). dead: -> every survivor lists it dead (gossip-agent) / failed (serf).")
    lines.append("RSS/RssAnon: per agent, pooled over agents and runs. B/s/node: loopback bytes sent per")
    lines.append(f"node per second over a {args.window:.0f} s steady window (IP headers included).")
    lines.append("matched: gossip-agent configured like serf's LAN profile (see bench-agents.py).")
    return "\n".join(lines)


def targets(rows):
    by = {(r["impl"], r["setting"], r["n"]): r for r in rows}
    out = []

    def check(label, ok, detail):
        out.append(f"  [{'MET ' if ok else 'MISS' if ok is False else 'n/a '}] {label}: {detail}")

    g50 = by.get(("gossip", "default", 50))
    s50 = by.get(("serf", "default", 50))
    if g50:
        v = g50["converge_median_s"]
        check("issue A: N=50 convergence <= 0.5 s (median)", v is not None and v <= 0.5 if v is not None else False,
              bl.fmt(v, 3, " s"))
        v = g50["detect_median_s"]
        check("issue A: N=50 detection by all survivors <= 4 s median, defaults",
              v is not None and v <= 4.0 if v is not None else False, bl.fmt(v, 3, " s"))
        v = g50["rssanon_median_kb"]
        check("issue A: RssAnon <= 3 MB per agent", v is not None and v <= 3072, bl.fmt(v / 1024 if v else None, 2, " MB"))
    if g50 and s50:
        for k, name in (("converge_median_s", "convergence"), ("detect_median_s", "detection (non-alive)"),
                        ("dead_median_s", "detection (dead/failed)")):
            a, b = g50[k], s50[k]
            check(f"issue B: beat serf on {name} at N=50 (medians)", a is not None and b is not None and a < b,
                  f"gossip {bl.fmt(a, 3, ' s')} vs serf {bl.fmt(b, 3, ' s')}")
        a, b = g50["rssanon_median_kb"], s50["rssanon_median_kb"]
        check("issue B: RssAnon <= 1/4 of serf's", a is not None and b is not None and a * 4 <= b,
              f"gossip {bl.fmt(a / 1024 if a else None, 2, ' MB')} vs serf {bl.fmt(b / 1024 if b else None, 2, ' MB')}")
    return "\n".join(out)


# --------------------------------------------------------------------------


def reexec_in_netns(args):
    """Runs this script again inside a fresh private netns; deletes it after."""
    name = f"gsp-bench-{os.getpid()}"
    bl.run(["ip", "netns", "add", name])
    cleaned = []

    def cleanup(*_):
        if not cleaned:
            cleaned.append(1)
            subprocess.run(["ip", "netns", "del", name], stderr=subprocess.DEVNULL)

    child = None
    try:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, lambda s, f: (_ for _ in ()).throw(KeyboardInterrupt()))
        bl.run(["ip", "-n", name, "link", "set", "lo", "up"])
        # Listen ports are 20000-39999; keep ephemeral ports out of that range.
        bl.run(["ip", "netns", "exec", name, "sysctl", "-qw", "net.ipv4.ip_local_port_range=40000 60999"])
        env = dict(os.environ, GSP_BENCH_NETNS=name)
        child = subprocess.Popen(["ip", "netns", "exec", name, sys.executable] + sys.argv, env=env)
        return child.wait()
    except KeyboardInterrupt:
        if child and child.poll() is None:
            child.send_signal(signal.SIGTERM)
            try:
                child.wait(timeout=15)
            except subprocess.TimeoutExpired:
                child.kill()
        return 130
    finally:
        cleanup()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    ap.add_argument("--agent", default=os.environ.get("GOSSIP_AGENT", "gossip-agent"))
    ap.add_argument("--serf", default=os.environ.get("SERF", "serf"))
    ap.add_argument("--impls", default="gossip,serf")
    ap.add_argument("--sizes", default="10,50")
    ap.add_argument("--settings", default="default,matched", help="gossip-agent settings (serf: always its defaults)")
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--bytes-runs", type=int, default=1, help="repetitions that also measure steady-state bytes")
    ap.add_argument("--window", type=float, default=90.0, help="steady-state window for bytes (s)")
    ap.add_argument("--settle", type=float, default=2.0)
    ap.add_argument("--kill-jitter", type=float, default=2.0,
                    help="random delay before the kill, uniform in [0, S) (default 2)")
    ap.add_argument("--converge-timeout", type=float, default=60.0)
    ap.add_argument("--detect-timeout", type=float, default=90.0)
    ap.add_argument("--encrypt", action="store_true", help="run both with encryption")
    ap.add_argument("--no-netns", action="store_true")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out-dir", default="bench-results")
    ap.add_argument("--logdir", default=None, help="keep agents' stderr here")
    ap.add_argument("--quick", action="store_true", help="3 runs, 20 s window")
    args = ap.parse_args()
    bl.use_build_tree_modules(args.agent)

    if args.quick:
        args.runs = min(args.runs, 3)
        args.window = min(args.window, 20.0)

    args.in_netns = bool(os.environ.get("GSP_BENCH_NETNS"))
    if (not args.in_netns and not args.no_netns and os.geteuid() == 0 and shutil.which("ip")):
        return reexec_in_netns(args)

    impls = [s for s in args.impls.split(",") if s]
    if "gossip" in impls:
        agent = shutil.which(args.agent) or (args.agent if os.access(args.agent, os.X_OK) else None)
        if agent is None:
            log(f"bench-agents: gossip-agent not found ({args.agent})")
            return 1
        args.agent = os.path.abspath(agent)
    if "serf" in impls:
        serf = shutil.which(args.serf)
        if serf is None:
            log("bench-agents: serf not found (apt-get install serf); benchmarking gossip-agent alone")
            impls.remove("serf")
        else:
            args.serf = serf
    sizes = [int(s) for s in args.sizes.split(",") if s]
    settings = [s for s in args.settings.split(",") if s]
    os.makedirs(args.out_dir, exist_ok=True)
    if args.logdir:
        os.makedirs(args.logdir, exist_ok=True)

    combos = []
    for n in sizes:
        for impl in impls:
            for setting in (settings if impl == "gossip" else ["default"]):
                combos.append((impl, n, setting))
    log(f"bench-agents: {len(combos)} configurations x {args.runs} runs"
        f"{' in netns ' + os.environ['GSP_BENCH_NETNS'] if args.in_netns else ' on the host loopback (no byte counts)'}")

    out = {"curves": [], "detections": []}
    runs = []
    wall0 = time.monotonic()
    port_slot = 0
    for rep in range(args.runs):
        for impl, n, setting in combos:
            port_slot = (port_slot + 1) % 20
            t = time.monotonic()
            try:
                r = one_run(impl, n, setting, rep, args, rep < args.bytes_runs, 20000 + port_slot * 1000, out)
            except RuntimeError as e:
                log(f"bench-agents: {impl}/{setting}/N={n} run {rep}: {e}")
                r = {"impl": impl, "setting": setting, "n": n, "run": rep, "error": str(e)}
            r["wall_s"] = time.monotonic() - t
            runs.append(r)
            log(f"  run {rep} {impl:<6} {setting:<8} N={n:<3} conv {bl.fmt(r.get('converge_s'))} s"
                f"  detect {bl.fmt(r.get('detect_s'))} s  dead {bl.fmt(r.get('dead_s'))} s"
                f"  RssAnon {bl.fmt(bl.median(r.get('rssanon_kb') or []), 0)} kB"
                + (f"  {r['bytes_per_node_s']:.0f} B/s/node" if r.get("bytes_per_node_s") else "")
                + f"  ({r['wall_s']:.1f} s)")

    rows = summarize([r for r in runs if "error" not in r], lambda r: (r["impl"], r["setting"], r["n"]))
    text = table(rows, args)
    tgt = targets(rows)
    wall = time.monotonic() - wall0
    report = (f"== gossip-agent vs serf on loopback ({args.runs} runs per configuration"
              f"{', encrypted' if args.encrypt else ''})\n\n{text}\n\nTargets:\n{tgt}\n\nwall time: {wall:.0f} s\n")
    print(report)

    with open(os.path.join(args.out_dir, "agents-summary.txt"), "w") as f:
        f.write(report)
    with open(os.path.join(args.out_dir, "agents-summary.json"), "w") as f:
        json.dump({"rows": rows, "runs": runs, "encrypted": args.encrypt, "wall_s": wall}, f, indent=1)
    cols = list(rows[0].keys()) if rows else []
    with open(os.path.join(args.out_dir, "agents-summary.csv"), "w") as f:
        f.write(",".join(cols) + "\n")
        for r in rows:
            f.write(",".join("" if r[c] is None else str(r[c]) for c in cols) + "\n")
    with open(os.path.join(args.out_dir, "agents-runs.csv"), "w") as f:
        f.write("impl,setting,n,run,converge_s,detect_s,dead_s,rss_median_kb,rssanon_median_kb,bytes_per_node_s,wall_s,error\n")
        for r in runs:
            vals = [r["impl"], r["setting"], r["n"], r["run"], r.get("converge_s"), r.get("detect_s"), r.get("dead_s"),
                    bl.median(r.get("rss_kb") or []), bl.median(r.get("rssanon_kb") or []),
                    r.get("bytes_per_node_s"), r.get("wall_s"), r.get("error", "")]
            f.write(",".join("" if v is None else str(v) for v in vals) + "\n")
    with open(os.path.join(args.out_dir, "agents-curves.csv"), "w") as f:
        f.write("impl,setting,n,run,t_s,fraction\n")
        for c in out["curves"]:
            f.write(",".join(str(x) for x in c) + "\n")
    with open(os.path.join(args.out_dir, "agents-detection.csv"), "w") as f:
        f.write("impl,setting,n,run,observer,nonalive_s,dead_s\n")
        for d in out["detections"]:
            f.write(",".join("" if x is None else str(x) for x in d) + "\n")
    # Empirical CDFs of per-survivor detection times, one block per series.
    with open(os.path.join(args.out_dir, "agents-detection-cdf.csv"), "w") as f:
        f.write("series,t_s,fraction\n")
        series = {}
        for impl, setting, n, rep, obs, na, dd in out["detections"]:
            series.setdefault(f"{impl}-{setting}-N{n}", []).append(na)
        for name, vals in sorted(series.items()):
            vals = sorted(v for v in vals if v is not None)
            total = len(vals)
            for k, v in enumerate(vals):
                f.write(f"{name},{v:.4f},{(k + 1) / total:.4f}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
