#!/usr/bin/env python3
# run-faults.py — network fault suite for gossip-agent, with serf measured the
# same way in the same run.
#
# Builds a private network: one namespace per node (gsp-TAG-nI, address
# 10.99.0.(10+I)/24 on its eth0) whose veth peers sit on a bridge in a hub
# namespace (gsp-TAG-hub). Nothing is added to the host's own namespace and
# no packet is sent anywhere but to those addresses. Faults are nftables
# rules in each node's namespace (table inet gspfault, input hook): loss is
# "numgen random mod 100 < P drop", a partition drops what comes from across
# the cut, one-way loss drops everything a node receives. Every node runs one
# gossip-agent (port 7946) and one serf agent (port 7947) side by side, so
# both see exactly the same faults; the orchestrator reaches their control
# sockets (127.0.0.1 inside each namespace) through sockets opened in that
# namespace with setns(2).
#
# Scenarios (durations: full / --short):
#   loss10     10% loss on every node (300 s / 40 s): no live node ever
#              reported non-alive (suspect or dead) in 1 s polls
#   loss30     30% loss on every node (120 s / 30 s): likewise; internal
#              suspicions (gossip-agent stats, serf's "Suspect ... has
#              failed" log lines) printed beside
#   partition  7/3 partition (30 s), metadata changed on both sides
#              meanwhile: each side, the minority too, sees the other side
#              non-alive within PARTITION_DETECT_S; after healing everything
#              is alive with consistent metadata within 2 s; no flap inside
#              a side, during the partition or when it heals
#   oneway     one node receives nothing (60 s / 20 s): healthy nodes never
#              report each other dead; everything alive again within 10 s of
#              healing
#   kill       (issue 15) one node's agents
#              killed -9 (both implementations at the same instant) and its
#              namespace made deaf at once, as a dead host is (no refusal
#              of the probes' connections); a fresh cluster per run
#              (--kill-runs, 5 / 3): time until the first survivor lists it
#              non-alive and until every survivor lists it dead, median and
#              p90 of each implementation and the gossip/serf ratios;
#              asserted: medians <= KILL_FIRST_S / KILL_DEAD_S, p90 within
#              twice that, and both <= KILL_RATIO x serf's
#   churn      a node (never one of the 3 anchors) killed -9 every 4 s and
#              restarted 2 s later (120 s / 40 s): within 30 s after the churn
#              every agent lists exactly the running nodes alive; the anchors'
#              fd count and RssAnon do not grow (<= 2 fds, <= 1 MiB)
# With encryption: full mode runs every scenario twice (plain, encrypted);
# --short runs partition and churn encrypted, the others plain.
#
# The assertions apply to gossip-agent; serf's numbers are printed beside
# them (and its flaps counted the same way: serf's EventMemberFailed, our
# member-failed event, about a node that was live for the observer).
#
# Exit status: 0 all assertions passed, or skipped (not root, no ip/nft, no
# namespaces) with a message; 1 an assertion failed; 2 usage or setup error.
#
# SPDX-License-Identifier: MIT

import argparse
import base64
import datetime
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.join(HERE, "..", "bench"))
import benchlib as bl  # noqa: E402

GOSSIP_PORT, GOSSIP_RPC = 7946, 7373
SERF_PORT, SERF_RPC = 7947, 7374
SUBNET = "10.99.0.0/24"
PARTITION_DETECT_S = 10.0   # "within a few seconds", at default settings
KILL_FIRST_S = 2.5          # issue 15: median time to the first survivor's non-alive
KILL_DEAD_S = 5.0           # ... and to every survivor's dead
KILL_RATIO = 0.6            # ... both at most this fraction of serf's
HEAL_S = 2.0
ONEWAY_HEAL_S = 10.0
CHURN_SETTLE_S = 30.0
LEAK_FDS = 2
LEAK_RSSANON_KB = 1024

KEY = "0123456789abcdef0123456789abcdef"


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def skip(msg):
    print(f"SKIP: fault suite: {msg}")
    sys.exit(0)


# --------------------------------------------------------------------------
# the private network
# --------------------------------------------------------------------------


class Net:
    def __init__(self, tag, n):
        self.tag, self.n = tag, n
        self.hub = f"gsp-{tag}-hub"
        self.ns = [f"gsp-{tag}-n{i}" for i in range(n)]
        self.ip = [f"10.99.0.{10 + i}" for i in range(n)]
        self.created = []

    # The kernel's ARP table is one for all namespaces (gc_thresh3 = 1024
    # entries by default): a full mesh of 50 nodes needs 2450, and past the
    # threshold new neighbours are refused ("neighbor table overflow") and
    # nodes cannot reach each other. Raised for the run, restored after.
    NEIGH_SYSCTLS = ("net.ipv4.neigh.default.gc_thresh2", "net.ipv4.neigh.default.gc_thresh3")

    def raise_neigh_limits(self):
        need = 2 * self.n * self.n + 1024
        self.saved_neigh = {}
        for key in self.NEIGH_SYSCTLS:
            path = "/proc/sys/" + key.replace(".", "/")
            try:
                with open(path) as f:
                    cur = int(f.read().strip())
                if cur < need:
                    with open(path, "w") as f:
                        f.write(str(need))
                    self.saved_neigh[path] = cur
            except (OSError, ValueError):
                pass

    def restore_neigh_limits(self):
        for path, value in getattr(self, "saved_neigh", {}).items():
            try:
                with open(path, "w") as f:
                    f.write(str(value))
            except OSError:
                pass
        self.saved_neigh = {}

    def create(self):
        self.raise_neigh_limits()
        bl.run(["ip", "netns", "add", self.hub])
        self.created.append(self.hub)
        bl.run(["ip", "-n", self.hub, "link", "add", "br0", "type", "bridge"])
        bl.run(["ip", "-n", self.hub, "link", "set", "br0", "up"])
        for i, ns in enumerate(self.ns):
            bl.run(["ip", "netns", "add", ns])
            self.created.append(ns)
            bl.run(["ip", "-n", ns, "link", "set", "lo", "up"])
            bl.run(["ip", "-n", self.hub, "link", "add", f"v{i}", "type", "veth", "peer", "name", "eth0",
                    "netns", ns])
            bl.run(["ip", "-n", self.hub, "link", "set", f"v{i}", "master", "br0", "up"])
            bl.run(["ip", "-n", ns, "addr", "add", f"{self.ip[i]}/24", "dev", "eth0"])
            bl.run(["ip", "-n", ns, "link", "set", "eth0", "up"])
        for i in range(self.n):
            self.rules(i, [])

    def destroy(self):
        for ns in reversed(self.created):
            subprocess.run(["ip", "netns", "del", ns], stderr=subprocess.DEVNULL)
        self.created = []
        self.restore_neigh_limits()

    def rules(self, i, input_rules):
        script = ("table inet gspfault\ndelete table inet gspfault\n"
                  "table inet gspfault {\n  chain input {\n"
                  "    type filter hook input priority 0; policy accept;\n"
                  + "".join(f"    {r}\n" for r in input_rules) + "  }\n}\n")
        r = subprocess.run(["ip", "netns", "exec", self.ns[i], "nft", "-f", "-"], input=script,
                           text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if r.returncode != 0:
            raise RuntimeError(f"nft in {self.ns[i]}: {r.stderr.strip()}")

    def clear(self):
        for i in range(self.n):
            self.rules(i, [])

    def loss(self, pct):
        for i in range(self.n):
            self.rules(i, [f"ip saddr {SUBNET} numgen random mod 100 < {pct} drop"])

    def partition(self, side_a, side_b):
        for side, other in ((side_a, side_b), (side_b, side_a)):
            addrs = ", ".join(self.ip[j] for j in other)
            for i in side:
                self.rules(i, [f"ip saddr {{ {addrs} }} drop"])

    def deafen(self, i):
        self.rules(i, [f"ip saddr {SUBNET} drop"])


# --------------------------------------------------------------------------
# agents
# --------------------------------------------------------------------------


class Agents:
    """One gossip-agent and (optionally) one serf agent per node."""

    def __init__(self, net, args, impls, encrypt, logdir):
        self.net, self.args, self.impls, self.encrypt = net, args, impls, encrypt
        # One directory per scenario run, so that no log overwrites another.
        Agents.serial = getattr(Agents, "serial", 0) + 1
        self.logdir = f"{logdir}-{'encrypted' if encrypt else 'plain'}"
        if os.path.exists(self.logdir):
            self.logdir += f"-{Agents.serial}"
        os.makedirs(self.logdir, exist_ok=True)
        self.procs = {}      # (impl, i) -> Popen
        self.outfiles = {}   # (impl, i) -> [paths] (one per incarnation)
        self.clients = {}
        self.meta = {}       # (impl, i) -> expected metadata of node i

    def addr(self, impl, i):
        return f"{self.net.ip[i]}:{GOSSIP_PORT if impl == 'gossip' else SERF_PORT}"

    def start(self, impl, i):
        seed = None if i == 0 else self.addr(impl, 0)
        meta = {"node": f"n{i}"}
        self.meta[(impl, i)] = dict(meta)
        k = len(self.outfiles.get((impl, i), []))
        path = os.path.join(self.logdir, f"{impl}-n{i}-{k}.log")
        self.outfiles.setdefault((impl, i), []).append(path)
        out = open(path, "w")
        if impl == "gossip":
            cmd = bl.gossip_cmd(self.args.agent, self.addr(impl, i), f"127.0.0.1:{GOSSIP_RPC}", seed, {},
                                KEY if self.encrypt else None, meta)
        else:
            cmd = bl.serf_cmd(self.args.serf, f"n{i}", self.addr(impl, i), f"127.0.0.1:{SERF_RPC}", seed,
                              base64.b64encode(KEY.encode()).decode() if self.encrypt else None, meta=meta)
        self.procs[(impl, i)] = bl.spawn(cmd, netns=self.net.ns[i], stdout=out, stderr=subprocess.STDOUT)
        out.close()

    def running(self, impl, i):
        p = self.procs.get((impl, i))
        return p is not None and p.poll() is None

    def kill(self, impl, i):
        c = self.clients.pop((impl, i), None)
        if c:
            c.close()
        p = self.procs.get((impl, i))
        if p:
            bl.kill_hard(p)

    def stop_all(self):
        for key in list(self.procs):
            self.kill(*key)

    def client(self, impl, i):
        c = self.clients.get((impl, i))
        if c is None:
            port = GOSSIP_RPC if impl == "gossip" else SERF_RPC
            c = bl.connect_rpc(impl, f"127.0.0.1:{port}", netns=self.net.ns[i], timeout=3.0)
            self.clients[(impl, i)] = c
        return c

    def members(self, impl, i, full=False):
        if not self.running(impl, i):
            return None
        try:
            c = self.client(impl, i)
            return c.members_full() if full else c.members()
        except (OSError, bl.RPCError, ValueError):
            c = self.clients.pop((impl, i), None)
            if c:
                c.close()
            return None

    def suspicions_raised(self):
        """Suspicions the running gossip agents raised after their own failed
        probes, summed (internal ones included: gossip-agent stats)."""
        total = 0
        for i in range(self.net.n):
            if not self.running("gossip", i):
                continue
            try:
                r = self.client("gossip", i).call({"cmd": "stats"})
                total += int(r["stats"]["suspicions_raised"])
            except (OSError, bl.RPCError, ValueError, KeyError, TypeError):
                pass
        return total

    def set_meta(self, impl, i, key, value):
        c = self.client(impl, i)
        if impl == "gossip":
            c.call({"cmd": "set-meta", "key": key, "value": value})
        else:
            c._request("tags", {"Tags": {key: value}, "DeleteTags": []}, has_body=False)
        self.meta[(impl, i)][key] = value

    def pid(self, impl, i):
        return self.procs[(impl, i)].pid

    # -- views -------------------------------------------------------------

    def all_alive(self, impl, nodes):
        """Every node in @nodes lists exactly @nodes alive (one entry each)."""
        want = sorted(self.addr(impl, j) for j in nodes)
        for i in nodes:
            ms = self.members(impl, i)
            if ms is None:
                return False
            if sorted(a for a, s in ms if bl.is_alive(s)) != want:
                return False
        return True

    def meta_consistent(self, impl, nodes):
        for i in nodes:
            ms = self.members(impl, i, full=True)
            if ms is None:
                return False
            seen = {}
            for m in ms:
                if impl == "gossip":
                    if m["state"] == "alive":
                        seen[m["addr"]] = m.get("metadata") or {}
                else:
                    if m.get("Status") == "alive":
                        seen[self._serf_addr(m)] = m.get("Tags") or {}
            for j in nodes:
                if seen.get(self.addr(impl, j)) != self.meta[(impl, j)]:
                    return False
        return True

    @staticmethod
    def _serf_addr(m):
        a = m.get("Addr")
        if isinstance(a, bytes):
            a = bl.socket.inet_ntoa(a[-4:])
        return f"{a}:{m.get('Port')}"

    def sees_nonalive(self, impl, observers, subjects):
        for i in observers:
            ms = self.members(impl, i)
            if ms is None:
                return False
            d = dict(ms)
            for j in subjects:
                st = d.get(self.addr(impl, j))
                if st is not None and bl.is_alive(st):
                    return False
        return True

    # -- events --------------------------------------------------------------

    def failed_events(self, impl, i):
        """[(unix_time, subject_index, kind)] of failed/suspect events node i printed."""
        out = []
        by_addr = {self.addr(impl, j): j for j in range(self.net.n)}
        for path in self.outfiles.get((impl, i), []):
            try:
                with open(path, errors="replace") as f:
                    lines = f.readlines()
            except FileNotFoundError:
                continue
            for line in lines:
                if impl == "gossip":
                    if not line.startswith("{"):
                        continue
                    try:
                        ev = json.loads(line)
                    except ValueError:
                        continue
                    kind = ev.get("event")
                    if kind not in ("member-failed", "member-suspect"):
                        continue
                    t = datetime.datetime.strptime(ev["time"], "%Y-%m-%dT%H:%M:%S.%fZ")
                    t = t.replace(tzinfo=datetime.timezone.utc).timestamp()
                    j = by_addr.get((ev.get("node") or {}).get("addr"))
                    out.append((t, j, "failed" if kind == "member-failed" else "suspect"))
                else:
                    m = re.search(r"(\d{4}/\d\d/\d\d \d\d:\d\d:\d\d) \[INFO\] "
                                  r"(?:serf: EventMemberFailed: n(\d+)|memberlist: Suspect n(\d+) has failed)", line)
                    if not m:
                        continue
                    t = time.mktime(time.strptime(m.group(1), "%Y/%m/%d %H:%M:%S"))
                    if m.group(2) is not None:
                        out.append((t, int(m.group(2)), "failed"))
                    else:
                        out.append((t, int(m.group(3)), "suspect"))
        return out


def wait_until(pred, timeout, step=0.1):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if pred():
            return time.monotonic() - t0
        time.sleep(step)
    return None


# --------------------------------------------------------------------------
# scenarios
# --------------------------------------------------------------------------


def boot(net, args, impls, encrypt, logdir):
    ag = Agents(net, args, impls, encrypt, logdir)
    net.clear()
    for impl in impls:
        ag.start(impl, 0)
    for impl in impls:
        if wait_until(lambda: ag.members(impl, 0) is not None, 10, 0.02) is None:
            raise RuntimeError(f"{impl} seed did not start")
    for i in range(1, net.n):
        for impl in impls:
            ag.start(impl, i)
    nodes = list(range(net.n))
    for impl in impls:
        if wait_until(lambda: ag.all_alive(impl, nodes), 30, 0.1) is None:
            raise RuntimeError(f"{impl}: the cluster did not converge in 30 s")
    time.sleep(args.settle)
    return ag


def flaps(ag, impl, t_from, t_to, live_pairs):
    """Failed events at observer i about subject j within [t_from, t_to]
    (1 s slack for serf's second-resolution logs) where live_pairs(i, j)."""
    n = 0
    susp = 0
    slack = 1.0 if impl == "serf" else 0.0
    for i in range(ag.net.n):
        for t, j, kind in ag.failed_events(impl, i):
            if j is None or not (t_from - slack <= t <= t_to + slack) or not live_pairs(i, j):
                continue
            if kind == "failed":
                n += 1
            else:
                susp += 1
    return n, susp


def sc_loss(net, args, impls, encrypt, logdir, pct, dur):
    ag = boot(net, args, impls, encrypt, logdir)
    res = {}
    try:
        t0 = time.time()
        net.loss(pct)
        end = time.monotonic() + dur
        raised0 = ag.suspicions_raised() if "gossip" in impls else 0
        nonalive_seen = {impl: 0 for impl in impls}
        while time.monotonic() < end:
            for impl in impls:
                for i in range(net.n):
                    ms = ag.members(impl, i)
                    if ms:
                        # Issue 15: a live node shown suspect is a flap too.
                        nonalive_seen[impl] += sum(1 for a, s in ms if not bl.is_alive(s))
            time.sleep(1.0)
        net.clear()
        time.sleep(3)
        t1 = time.time()
        for impl in impls:
            f, s = flaps(ag, impl, t0, t1, lambda i, j: True)
            internal = (ag.suspicions_raised() - raised0) if impl == "gossip" else s
            res[impl] = {"flaps": f, "suspicions_shown": s, "suspicions_internal": internal,
                         "nonalive_observations": nonalive_seen[impl],
                         "ok": f == 0 and nonalive_seen[impl] == 0}
            res[impl]["detail"] = (f"flaps {f}, non-alive in polled views {nonalive_seen[impl]}, "
                                   f"suspicions internal {internal}"
                                   + (f", shown {s}" if impl == "gossip" else ""))
    finally:
        ag.stop_all()
    return res


def sc_partition(net, args, impls, encrypt, logdir, dur):
    ag = boot(net, args, impls, encrypt, logdir)
    a = list(range(0, 7 * net.n // 10))
    b = list(range(7 * net.n // 10, net.n))
    res = {impl: {} for impl in impls}
    try:
        t0 = time.time()
        tp = time.monotonic()
        net.partition(a, b)
        for impl in impls:
            ag.set_meta(impl, a[1], "phase", "split-a")
            ag.set_meta(impl, b[1], "phase", "split-b")
        det = {impl: {"majority": None, "minority": None} for impl in impls}
        while time.monotonic() - tp < dur:
            for impl in impls:
                for side, obs, subj in (("majority", a, b), ("minority", b, a)):
                    if det[impl][side] is None and ag.sees_nonalive(impl, obs, subj):
                        det[impl][side] = time.monotonic() - tp
            time.sleep(0.2)
        th = time.monotonic()
        t_heal = time.time()     # healing starts with the first rule removed
        net.clear()
        nodes = list(range(net.n))
        heal = {impl: None for impl in impls}
        while time.monotonic() - th < 30 and None in heal.values():
            for impl in impls:
                if heal[impl] is None and ag.all_alive(impl, nodes) and ag.meta_consistent(impl, nodes):
                    heal[impl] = time.monotonic() - th
            time.sleep(0.05)
        time.sleep(2)
        t1 = time.time()
        same_side = lambda i, j: (i in a) == (j in a)  # noqa: E731
        for impl in impls:
            f_in, s_in = flaps(ag, impl, t0, t_heal, same_side)
            # Right after healing, the other side's verdicts must not make
            # nodes that never lost sight of a subject report it dead (they
            # did before state merges turned a remote "dead" into a
            # suspicion). Counted apart, asserted too.
            f_heal, _ = flaps(ag, impl, t_heal, t_heal + HEAL_S + 1, same_side)
            f_after, _ = flaps(ag, impl, t_heal + HEAL_S + 1, t1, lambda i, j: True)
            d = det[impl]
            ok = (d["majority"] is not None and d["majority"] <= PARTITION_DETECT_S and
                  d["minority"] is not None and d["minority"] <= PARTITION_DETECT_S and
                  heal[impl] is not None and heal[impl] <= HEAL_S and f_in == 0 and f_heal == 0 and f_after == 0)
            res[impl] = {"majority_detect_s": d["majority"], "minority_detect_s": d["minority"],
                         "heal_s": heal[impl], "flaps_within_side": f_in, "flaps_after_heal": f_after,
                         "transient_on_heal": f_heal, "ok": ok,
                         "detail": (f"cut seen by {len(a)}-side {bl.fmt(d['majority'], 1)} s, {len(b)}-side "
                                    f"{bl.fmt(d['minority'], 1)} s (<= {PARTITION_DETECT_S:.0f}); healed+meta "
                                    f"{bl.fmt(heal[impl], 2)} s (<= {HEAL_S:.0f}); flaps in-side {f_in}, later {f_after};"
                                    f" same-side dead on heal {f_heal}")}
    finally:
        ag.stop_all()
    return res


def sc_oneway(net, args, impls, encrypt, logdir, dur):
    ag = boot(net, args, impls, encrypt, logdir)
    x = net.n // 2
    healthy = [i for i in range(net.n) if i != x]
    res = {}
    try:
        t0 = time.time()
        ts = time.monotonic()
        net.deafen(x)
        seen = {impl: None for impl in impls}
        while time.monotonic() - ts < dur:
            for impl in impls:
                if seen[impl] is None and ag.sees_nonalive(impl, healthy, [x]):
                    seen[impl] = time.monotonic() - ts
            time.sleep(0.25)
        th = time.monotonic()
        t_heal = time.time()     # healing starts with the first rule removed
        net.clear()
        nodes = list(range(net.n))
        heal = {impl: None for impl in impls}
        while time.monotonic() - th < 30 and None in heal.values():
            for impl in impls:
                if heal[impl] is None and ag.all_alive(impl, nodes):
                    heal[impl] = time.monotonic() - th
            time.sleep(0.1)
        time.sleep(1)
        hh = lambda i, j: i != x and j != x  # noqa: E731
        for impl in impls:
            f, s = flaps(ag, impl, t0, time.time(), hh)
            ok = f == 0 and heal[impl] is not None and heal[impl] <= ONEWAY_HEAL_S
            res[impl] = {"flaps_healthy": f, "suspicions_healthy": s, "deaf_node_nonalive_s": seen[impl],
                         "heal_s": heal[impl], "ok": ok,
                         "detail": (f"deaf node non-alive to all after {bl.fmt(seen[impl], 1)} s; healthy flaps {f}"
                                    f" (suspicions {s}); healed {bl.fmt(heal[impl], 2)} s")}
    finally:
        ag.stop_all()
    return res


def sc_kill(net, args, impls, encrypt, logdir, runs):
    rng = random.Random(args.seed)
    first = {impl: [] for impl in impls}
    dead = {impl: [] for impl in impls}
    for _ in range(runs):
        ag = boot(net, args, impls, encrypt, logdir)
        try:
            victim = rng.randrange(1, net.n)
            # A random phase of the probe periods (2 s gossip-agent, 1 s serf).
            time.sleep(rng.uniform(0.0, 2.0))
            net.deafen(victim)
            for impl in impls:
                ag.kill(impl, victim)
            tk = time.monotonic()
            survivors = [i for i in range(net.n) if i != victim]
            seen = {impl: {} for impl in impls}
            gone = {impl: {} for impl in impls}
            while time.monotonic() - tk < 60 and any(len(gone[impl]) < len(survivors) for impl in impls):
                for impl in impls:
                    vaddr = ag.addr(impl, victim)
                    for i in survivors:
                        if i in gone[impl]:
                            continue
                        ms = ag.members(impl, i)
                        if ms is None:
                            continue
                        st = dict(ms).get(vaddr)
                        t = time.monotonic() - tk
                        if st is None or not bl.is_alive(st):
                            seen[impl].setdefault(i, t)
                        if st in (None, "dead", "failed", "left"):
                            gone[impl][i] = t
                time.sleep(0.02)
            for impl in impls:
                first[impl].append(min(seen[impl].values()) if seen[impl] else None)
                dead[impl].append(max(gone[impl].values()) if len(gone[impl]) == len(survivors) else None)
        finally:
            ag.stop_all()
            net.clear()
    res = {}
    med = {impl: (bl.median(first[impl]), bl.median(dead[impl])) for impl in impls}
    for impl in impls:
        f, d = med[impl]
        detail = (f"{runs} runs: first survivor non-alive median {bl.fmt(f, 2)} s (p90 "
                  f"{bl.fmt(bl.percentile(first[impl], 90), 2)}; {' '.join(bl.fmt(v, 2) for v in first[impl])}), "
                  f"all dead median {bl.fmt(d, 2)} s (p90 {bl.fmt(bl.percentile(dead[impl], 90), 2)}; "
                  f"{' '.join(bl.fmt(v, 2) for v in dead[impl])})")
        ok = True
        if impl == "gossip":
            # Issue 15: medians within KILL_FIRST_S / KILL_DEAD_S and at most
            # KILL_RATIO of serf's in the same run; p90 bounded too.
            p90f, p90d = bl.percentile(first[impl], 90), bl.percentile(dead[impl], 90)
            ok = (None not in (f, d, p90f, p90d) and f <= KILL_FIRST_S and d <= KILL_DEAD_S
                  and p90f <= 2 * KILL_FIRST_S and p90d <= 2 * KILL_DEAD_S)
            if "serf" in med and None not in med["serf"] + med["gossip"]:
                rf, rd = f / med["serf"][0], d / med["serf"][1]
                detail += f"; ratio to serf {rf:.2f} / {rd:.2f} (<= {KILL_RATIO})"
                ok = ok and rf <= KILL_RATIO and rd <= KILL_RATIO
            detail += f"; bounds: median <= {KILL_FIRST_S} s / {KILL_DEAD_S} s"
        res[impl] = {"first_nonalive_s": first[impl], "all_dead_s": dead[impl], "ok": ok, "detail": detail}
    return res


def sc_churn(net, args, impls, encrypt, logdir, dur):
    ag = boot(net, args, impls, encrypt, logdir)
    anchors = [0, 1, 2]
    rng = random.Random(args.seed)
    res = {}
    try:
        before = {(impl, i): (bl.fd_count(ag.pid(impl, i)), bl.proc_status(ag.pid(impl, i)).get("RssAnon"))
                  for impl in impls for i in anchors}
        t_end = time.monotonic() + dur
        kills = 0
        down = []   # (restart_at, node)
        next_kill = time.monotonic() + 1
        for _ in range(100000):
            now = time.monotonic()
            if now >= t_end and not down:
                break
            for item in list(down):
                if now >= item[0]:
                    for impl in impls:
                        ag.start(impl, item[1])
                    down.remove(item)
            if now < t_end and now >= next_kill:
                candidates = [i for i in range(len(anchors), net.n) if all(i != d[1] for d in down)]
                i = rng.choice(candidates)
                for impl in impls:
                    ag.kill(impl, i)
                down.append((now + 2.0, i))
                kills += 1
                next_kill = now + 4.0
            time.sleep(0.05)
        nodes = list(range(net.n))
        settle = {}
        ts = time.monotonic()
        while time.monotonic() - ts < CHURN_SETTLE_S and len(settle) < len(impls):
            for impl in impls:
                if impl not in settle and ag.all_alive(impl, nodes):
                    settle[impl] = time.monotonic() - ts
            time.sleep(0.2)
        time.sleep(2)
        for impl in impls:
            dfd = max((bl.fd_count(ag.pid(impl, i)) or 0) - (before[(impl, i)][0] or 0) for i in anchors)
            drss = max((bl.proc_status(ag.pid(impl, i)).get("RssAnon") or 0) - (before[(impl, i)][1] or 0)
                       for i in anchors)
            s = settle.get(impl)
            ok = s is not None and dfd <= LEAK_FDS and drss <= LEAK_RSSANON_KB
            res[impl] = {"kills": kills, "settle_s": s, "anchor_fd_growth": dfd, "anchor_rssanon_growth_kb": drss,
                         "ok": ok,
                         "detail": (f"{kills} kill/restarts; exact membership after {bl.fmt(s, 1)} s;"
                                    f" anchor growth: fds {dfd:+d}, RssAnon {drss:+d} kB")}
    finally:
        ag.stop_all()
    return res


# --------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--short", action="store_true", help="CI version, under 5 minutes")
    ap.add_argument("--agent", default=os.environ.get("GOSSIP_AGENT", "gossip-agent"))
    ap.add_argument("--serf", default=os.environ.get("SERF", "serf"))
    ap.add_argument("--no-serf", action="store_true")
    ap.add_argument("--nodes", type=int, default=10)
    ap.add_argument("--only", default="", help="comma-separated scenarios")
    ap.add_argument("--encrypt", choices=("auto", "off", "on", "both"), default="auto")
    ap.add_argument("--settle", type=float, default=2.0)
    ap.add_argument("--kill-runs", type=int, default=0, help="runs of the kill scenario (default 5, --short 3)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", default="faults-summary.txt")
    ap.add_argument("--logdir", default=None)
    ap.add_argument("--allow-fail", default="",
                    help="comma-separated scenarios whose failure is reported as XFAIL (known engine issues)")
    args = ap.parse_args()
    bl.use_build_tree_modules(args.agent)

    if os.geteuid() != 0:
        skip("needs root (network namespaces and nftables)")
    for tool in ("ip", "nft"):
        if shutil.which(tool) is None:
            skip(f"'{tool}' is not installed (apt-get install iproute2 nftables)")
    agent = shutil.which(args.agent) or (args.agent if os.access(args.agent, os.X_OK) else None)
    if agent is None:
        print(f"run-faults: gossip-agent not found ({args.agent})", file=sys.stderr)
        return 2
    args.agent = os.path.abspath(agent)
    impls = ["gossip"]
    if not args.no_serf:
        if shutil.which(args.serf):
            args.serf = shutil.which(args.serf)
            impls.append("serf")
        else:
            log("run-faults: serf not installed: gossip-agent only (apt-get install serf to compare)")
    if args.nodes < 5 or args.nodes > 200:
        print("run-faults: --nodes must be 5..200", file=sys.stderr)
        return 2

    tag = f"{os.getpid() % 100000}"
    net = Net(tag, args.nodes)
    probe = f"gsp-{tag}-probe"
    if subprocess.run(["ip", "netns", "add", probe], stderr=subprocess.DEVNULL).returncode != 0:
        skip("cannot create network namespaces here")
    ok_nft = subprocess.run(["ip", "netns", "exec", probe, "nft", "add", "table", "inet", "t"],
                            stderr=subprocess.DEVNULL).returncode == 0
    subprocess.run(["ip", "netns", "del", probe], stderr=subprocess.DEVNULL)
    if not ok_nft:
        skip("nftables does not work in a network namespace here")

    logdir = args.logdir or f"faults-logs-{tag}"
    os.makedirs(logdir, exist_ok=True)

    short = args.short
    d = (lambda full, s: s if short else full)  # noqa: E731
    plan = [
        ("loss10", lambda e: sc_loss(net, args, impls, e, os.path.join(logdir, "loss10"), 10, d(300, 40)), "10% loss everywhere"),
        ("loss30", lambda e: sc_loss(net, args, impls, e, os.path.join(logdir, "loss30"), 30, d(120, 30)), "30% loss everywhere"),
        ("partition", lambda e: sc_partition(net, args, impls, e, os.path.join(logdir, "partition"), 30), "7/3 partition, heal"),
        ("oneway", lambda e: sc_oneway(net, args, impls, e, os.path.join(logdir, "oneway"), d(60, 20)), "one node hears nothing"),
        ("kill", lambda e: sc_kill(net, args, impls, e, os.path.join(logdir, "kill"), args.kill_runs or d(5, 3)),
         "kill -9 of a node whose host goes deaf"),
        ("churn", lambda e: sc_churn(net, args, impls, e, os.path.join(logdir, "churn"), d(120, 40)), "kill -9/restart every 4 s"),
    ]
    only = set(s for s in args.only.split(",") if s)
    enc_mode = args.encrypt
    if enc_mode == "auto":
        enc_mode = "short" if short else "both"

    def enc_passes(name):
        if enc_mode == "off":
            return [False]
        if enc_mode == "on":
            return [True]
        if enc_mode == "both":
            return [False, True]
        return [name in ("partition", "churn")]

    interrupted = []

    def on_signal(signum, frame):
        interrupted.append(signum)
        raise KeyboardInterrupt()

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)

    results = []
    wall0 = time.monotonic()
    status = 0
    try:
        net.create()
        log(f"run-faults: {args.nodes} nodes in namespaces gsp-{tag}-n*, implementations: {', '.join(impls)}"
            f"{' (short)' if short else ''}")
        for name, fn, desc in plan:
            if only and name not in only:
                continue
            for enc in enc_passes(name):
                t = time.monotonic()
                log(f"run-faults: {name}{' (encrypted)' if enc else ''}: {desc}...")
                try:
                    res = fn(enc)
                except RuntimeError as e:
                    res = {impl: {"ok": False, "detail": f"error: {e}"} for impl in impls}
                wall = time.monotonic() - t
                for impl in impls:
                    r = res.get(impl, {"ok": False, "detail": "no result"})
                    results.append({"scenario": name, "encrypted": enc, "impl": impl, "wall_s": wall, **r})
                    verdict = ("PASS" if r["ok"] else "FAIL") if impl == "gossip" else ("ok  " if r["ok"] else "bad ")
                    log(f"    {impl:<6} {verdict}  {r['detail']}")
    except KeyboardInterrupt:
        log("run-faults: interrupted")
        status = 130
    finally:
        net.destroy()

    allowed = set(s for s in args.allow_fail.split(",") if s)
    lines = [f"== fault suite ({'short' if short else 'full'}; {args.nodes} nodes; gossip-agent asserted, serf measured)",
             f"{'scenario':<10} {'enc':<4} {'impl':<7} {'result':<6} detail"]
    for r in results:
        verdict = ("PASS" if r["ok"] else "XFAIL" if r["scenario"] in allowed else "FAIL") \
            if r["impl"] == "gossip" else ("ok" if r["ok"] else "bad")
        lines.append(f"{r['scenario']:<10} {'on' if r['encrypted'] else 'off':<4} {r['impl']:<7} {verdict:<6} "
                     f"{r['detail']}  [{r['wall_s']:.0f} s]")
    failed = [r for r in results if r["impl"] == "gossip" and not r["ok"] and r["scenario"] not in allowed]
    xfailed = [r for r in results if r["impl"] == "gossip" and not r["ok"] and r["scenario"] in allowed]
    passed = [r for r in results if r["impl"] == "gossip" and r["ok"]]
    lines.append("")
    lines.append(f"wall time: {time.monotonic() - wall0:.0f} s; logs in {logdir}")
    lines.append(f"{len(passed)} passed, {len(failed)} failed" + (f", {len(xfailed)} skipped" if xfailed else ""))
    text = "\n".join(lines)
    print(text)
    with open(args.out, "w") as f:
        f.write(text + "\n")
    with open(os.path.splitext(args.out)[0] + ".json", "w") as f:
        json.dump(results, f, indent=1)
    if status:
        return status
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
