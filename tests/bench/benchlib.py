# benchlib.py — shared parts of the agent benchmark (bench-agents.py) and the
# network fault suite (../faults/run-faults.py): launching gossip-agent and
# serf agents, polling their membership over their control sockets, reading
# /proc, entering network namespaces, statistics.
#
# Python 3 standard library only. serf's RPC speaks msgpack, so a small
# msgpack codec is included.
#
# SPDX-License-Identifier: MIT

import ctypes
import json
import math
import os
import shutil
import signal
import socket
import struct
import subprocess
import time

# --------------------------------------------------------------------------
# statistics
# --------------------------------------------------------------------------


def percentile(values, q):
    """Linear-interpolated percentile (q in 0..100) of a list; None if empty."""
    vals = sorted(v for v in values if v is not None)
    if not vals:
        return None
    if len(vals) == 1:
        return vals[0]
    k = (len(vals) - 1) * q / 100.0
    lo = math.floor(k)
    hi = math.ceil(k)
    return vals[lo] + (vals[hi] - vals[lo]) * (k - lo)


def median(values):
    return percentile(values, 50)


def fmt(v, digits=3, unit=""):
    if v is None:
        return "n/a"
    return f"{v:.{digits}f}{unit}"


# --------------------------------------------------------------------------
# msgpack (the subset serf's RPC uses)
# --------------------------------------------------------------------------


class NeedMore(Exception):
    pass


def mp_pack(obj):
    if obj is None:
        return b"\xc0"
    if obj is True:
        return b"\xc3"
    if obj is False:
        return b"\xc2"
    if isinstance(obj, int):
        if 0 <= obj < 128:
            return bytes([obj])
        if 0 <= obj < 2**16:
            return b"\xcd" + struct.pack(">H", obj)
        if 0 <= obj < 2**32:
            return b"\xce" + struct.pack(">I", obj)
        if obj >= 0:
            return b"\xcf" + struct.pack(">Q", obj)
        if obj >= -32:
            return struct.pack("b", obj)
        return b"\xd3" + struct.pack(">q", obj)
    if isinstance(obj, str):
        b = obj.encode()
        if len(b) < 32:
            return bytes([0xA0 | len(b)]) + b
        return b"\xda" + struct.pack(">H", len(b)) + b  # raw16: understood by old codecs too
    if isinstance(obj, (bytes, bytearray)):
        return b"\xda" + struct.pack(">H", len(obj)) + bytes(obj)
    if isinstance(obj, (list, tuple)):
        head = bytes([0x90 | len(obj)]) if len(obj) < 16 else b"\xdc" + struct.pack(">H", len(obj))
        return head + b"".join(mp_pack(x) for x in obj)
    if isinstance(obj, dict):
        head = bytes([0x80 | len(obj)]) if len(obj) < 16 else b"\xde" + struct.pack(">H", len(obj))
        return head + b"".join(mp_pack(k) + mp_pack(v) for k, v in obj.items())
    raise TypeError(type(obj))


def mp_unpack(buf, pos=0):
    """Decodes one object at buf[pos:]; returns (obj, new_pos) or raises NeedMore."""
    n = len(buf)

    def need(k):
        if pos + k > n:
            raise NeedMore()

    need(1)
    b = buf[pos]
    pos += 1
    if b <= 0x7F:
        return b, pos
    if b >= 0xE0:
        return b - 0x100, pos
    if 0xA0 <= b <= 0xBF:
        ln = b & 0x1F
        need(ln)
        return bytes(buf[pos:pos + ln]).decode("utf-8", "replace"), pos + ln
    if 0x90 <= b <= 0x9F:
        return _mp_array(buf, pos, b & 0x0F)
    if 0x80 <= b <= 0x8F:
        return _mp_map(buf, pos, b & 0x0F)
    if b == 0xC0:
        return None, pos
    if b == 0xC2:
        return False, pos
    if b == 0xC3:
        return True, pos
    fixed = {0xCC: ">B", 0xCD: ">H", 0xCE: ">I", 0xCF: ">Q", 0xD0: ">b", 0xD1: ">h",
             0xD2: ">i", 0xD3: ">q", 0xCA: ">f", 0xCB: ">d"}
    if b in fixed:
        fmt_ = fixed[b]
        sz = struct.calcsize(fmt_)
        need(sz)
        return struct.unpack_from(fmt_, buf, pos)[0], pos + sz
    if b in (0xD9, 0xDA, 0xDB, 0xC4, 0xC5, 0xC6):
        lfmt = {0xD9: ">B", 0xDA: ">H", 0xDB: ">I", 0xC4: ">B", 0xC5: ">H", 0xC6: ">I"}[b]
        sz = struct.calcsize(lfmt)
        need(sz)
        ln = struct.unpack_from(lfmt, buf, pos)[0]
        pos += sz
        need(ln)
        raw = bytes(buf[pos:pos + ln])
        if b in (0xD9, 0xDA, 0xDB):
            try:
                return raw.decode("utf-8"), pos + ln
            except UnicodeDecodeError:
                return raw, pos + ln
        return raw, pos + ln
    if b in (0xDC, 0xDD):
        sz = 2 if b == 0xDC else 4
        need(sz)
        cnt = struct.unpack_from(">H" if sz == 2 else ">I", buf, pos)[0]
        return _mp_array(buf, pos + sz, cnt)
    if b in (0xDE, 0xDF):
        sz = 2 if b == 0xDE else 4
        need(sz)
        cnt = struct.unpack_from(">H" if sz == 2 else ">I", buf, pos)[0]
        return _mp_map(buf, pos + sz, cnt)
    if b in (0xD4, 0xD5, 0xD6, 0xD7, 0xD8):  # fixext
        ln = {0xD4: 1, 0xD5: 2, 0xD6: 4, 0xD7: 8, 0xD8: 16}[b]
        need(1 + ln)
        return bytes(buf[pos + 1:pos + 1 + ln]), pos + 1 + ln
    raise ValueError(f"msgpack: unsupported type byte 0x{b:02x}")


def _mp_array(buf, pos, cnt):
    out = []
    for _ in range(cnt):
        v, pos = mp_unpack(buf, pos)
        out.append(v)
    return out, pos


def _mp_map(buf, pos, cnt):
    out = {}
    for _ in range(cnt):
        k, pos = mp_unpack(buf, pos)
        v, pos = mp_unpack(buf, pos)
        if isinstance(k, bytes):
            k = k.decode("utf-8", "replace")
        out[k] = v
    return out, pos


# --------------------------------------------------------------------------
# control-socket clients; both return [(gossip_addr, state)] with state one
# of alive / suspect / dead / leaving / left / failed
# --------------------------------------------------------------------------


class RPCError(Exception):
    pass


class GossipRPC:
    """gossip-agent's control socket: newline-delimited JSON."""

    def __init__(self, addr, timeout=2.0, sock=None):
        host, port = addr.rsplit(":", 1)
        self.sock = sock or socket.create_connection((host, int(port)), timeout=timeout)
        self.sock.settimeout(timeout)
        self.buf = b""

    def call(self, obj):
        self.sock.sendall(json.dumps(obj).encode() + b"\n")
        while b"\n" not in self.buf:
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise RPCError("connection closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        reply = json.loads(line)
        if not reply.get("ok"):
            raise RPCError(reply.get("error", "error"))
        return reply

    def members(self):
        return [(m["addr"], m["state"]) for m in self.call({"cmd": "members"})["members"]]

    def members_full(self):
        return self.call({"cmd": "members"})["members"]

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


class SerfRPC:
    """serf agent's RPC: msgpack header (+ body) frames on one TCP stream."""

    def __init__(self, addr, timeout=2.0, sock=None):
        host, port = addr.rsplit(":", 1)
        self.sock = sock or socket.create_connection((host, int(port)), timeout=timeout)
        self.sock.settimeout(timeout)
        self.buf = bytearray()
        self.seq = 0
        self._request("handshake", {"Version": 1}, has_body=False)

    def _read_obj(self):
        while True:
            try:
                obj, pos = mp_unpack(self.buf, 0)
                del self.buf[:pos]
                return obj
            except NeedMore:
                chunk = self.sock.recv(1 << 20)
                if not chunk:
                    raise RPCError("connection closed")
                self.buf += chunk

    def _request(self, command, body=None, has_body=True):
        seq = self.seq
        self.seq += 1
        msg = mp_pack({"Command": command, "Seq": seq})
        if body is not None:
            msg += mp_pack(body)
        self.sock.sendall(msg)
        header = self._read_obj()
        if header.get("Error"):
            raise RPCError(header["Error"])
        return self._read_obj() if has_body else None

    def members(self):
        out = []
        for m in self._request("members")["Members"]:
            addr = m.get("Addr")
            if isinstance(addr, bytes):
                if len(addr) == 16 and addr[:12] == b"\0" * 10 + b"\xff\xff":
                    addr = socket.inet_ntoa(addr[12:])
                elif len(addr) == 4:
                    addr = socket.inet_ntoa(addr)
                else:
                    addr = socket.inet_ntop(socket.AF_INET6, addr)
            out.append((f"{addr}:{m.get('Port')}", m.get("Status")))
        return out

    def members_full(self):
        return self._request("members")["Members"]

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


ALIVE_STATES = {"alive"}


def is_alive(state):
    return state in ALIVE_STATES


# --------------------------------------------------------------------------
# /proc
# --------------------------------------------------------------------------


def proc_status(pid):
    """{'VmRSS': kB, 'RssAnon': kB, ...} or {} if the process is gone."""
    out = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                key, _, rest = line.partition(":")
                if key in ("VmRSS", "RssAnon", "RssFile", "RssShmem", "Threads", "VmHWM"):
                    out[key] = int(rest.split()[0])
    except (FileNotFoundError, ProcessLookupError):
        pass
    return out


def fd_count(pid):
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except (FileNotFoundError, PermissionError):
        return None


def netdev_bytes(iface=None):
    """(tx_bytes, tx_packets) summed over interfaces (or one) of the current netns."""
    tx_b = tx_p = 0
    with open("/proc/net/dev") as f:
        for line in f.readlines()[2:]:
            name, _, rest = line.partition(":")
            name = name.strip()
            if iface is not None and name != iface:
                continue
            cols = rest.split()
            tx_b += int(cols[8])
            tx_p += int(cols[9])
    return tx_b, tx_p


# --------------------------------------------------------------------------
# network namespaces (the caller must be root)
# --------------------------------------------------------------------------

CLONE_NEWNET = 0x40000000
_libc = None


def _setns(fd):
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


class InNetns:
    """with InNetns("gsp-x"): sockets created inside belong to that netns.
    (setns applies to the calling thread; use from the main thread only.)"""

    def __init__(self, name):
        self.name = name

    def __enter__(self):
        if self.name is None:
            return self
        self.orig = os.open("/proc/self/ns/net", os.O_RDONLY)
        fd = os.open(f"/var/run/netns/{self.name}", os.O_RDONLY)
        try:
            _setns(fd)
        finally:
            os.close(fd)
        return self

    def __exit__(self, *exc):
        if self.name is None:
            return False
        try:
            _setns(self.orig)
        finally:
            os.close(self.orig)
        return False


def connect_rpc(kind, addr, netns=None, timeout=2.0):
    with InNetns(netns):
        host, port = addr.rsplit(":", 1)
        sock = socket.create_connection((host, int(port)), timeout=timeout)
    return GossipRPC(addr, timeout, sock) if kind == "gossip" else SerfRPC(addr, timeout, sock)


def run(cmd, check=True, quiet=False):
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: {r.stderr.strip()}")
    return r


# --------------------------------------------------------------------------
# agents
# --------------------------------------------------------------------------

# serf's LAN profile (memberlist DefaultLANConfig), for the "matched" mapping.
SERF_LAN = {
    "probe_interval": 1.0,     # ProbeInterval
    "probe_timeout": 0.5,      # ProbeTimeout
    "suspicion_mult": 4,       # SuspicionMult: timeout = mult * log10(max(1, n)) * probe_interval
    "gossip_interval": 0.2,    # GossipInterval
    "push_pull": 30,           # PushPullInterval
    "indirect_checks": 3,      # IndirectChecks
}


def matched_settings(n):
    """gossip-agent options equal to serf's LAN profile for a cluster of n."""
    susp = SERF_LAN["suspicion_mult"] * math.log10(max(1, n)) * SERF_LAN["probe_interval"]
    return {
        # gossip-agent probes four members per health_check_interval.
        "health-check-interval": f"{int(SERF_LAN['probe_interval'] * 4000)}ms",
        "suspect-timeout": f"{int(SERF_LAN['probe_timeout'] * 1000)}ms",
        "indirect-checks": str(SERF_LAN["indirect_checks"]),
        "metadata-gossip-interval": f"{int(SERF_LAN['gossip_interval'] * 1000)}ms",
        "state-gossip-interval": f"{SERF_LAN['push_pull']}s",
        "dead-node-timeout": f"{int(round(susp * 1000))}ms",
        "suspect-retry-interval": f"{int(SERF_LAN['probe_interval'] * 1000)}ms",
    }


def use_build_tree_modules(agent):
    """An uninstalled gossip-agent (a build tree's gossip/gossip-agent) loads
    libgossip's crypto module from that tree's .libs unless told otherwise."""
    path = shutil.which(agent) or agent
    libs = os.path.join(os.path.dirname(os.path.abspath(path)), ".libs")
    if not os.environ.get("GOSSIP_MODULE_DIR") and os.path.exists(os.path.join(libs, "crypto-openssl.so")):
        os.environ["GOSSIP_MODULE_DIR"] = libs


def gossip_cmd(agent, bind, rpc, join=None, settings=None, key=None, meta=None, tags=None):
    cmd = [agent, "agent", "--bind", bind, "--rpc-addr", rpc, "--json", "--log-level", "warning"]
    for j in ([join] if isinstance(join, str) else (join or [])):
        cmd += ["--join", j]
    for k, v in (settings or {}).items():
        cmd += [f"--{k}", v]
    if key:
        cmd += ["--encrypt-key", key]
    for k, v in (meta or {}).items():
        cmd += ["--meta", f"{k}={v}"]
    for t in tags or []:
        cmd += ["--tag", t]
    return cmd


def serf_cmd(serf, name, bind, rpc, join=None, key_b64=None, profile="lan", meta=None):
    cmd = [serf, "agent", f"-node={name}", f"-bind={bind}", f"-rpc-addr={rpc}",
           f"-profile={profile}", "-log-level=info"]
    for j in ([join] if isinstance(join, str) else (join or [])):
        cmd.append(f"-join={j}")
    if key_b64:
        cmd.append(f"-encrypt={key_b64}")
    for k, v in (meta or {}).items():
        cmd += ["-tag", f"{k}={v}"]
    return cmd


def spawn(cmd, netns=None, stdout=None, stderr=None):
    if netns is not None:
        cmd = ["ip", "netns", "exec", netns] + cmd
    return subprocess.Popen(cmd, stdout=stdout or subprocess.DEVNULL, stderr=stderr or subprocess.DEVNULL,
                            stdin=subprocess.DEVNULL, start_new_session=True)


def kill_hard(proc):
    """SIGKILL one process we started (by its pid) and reap it."""
    if proc.poll() is None:
        try:
            os.kill(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass


def stop_all(procs, grace=2.0):
    """SIGTERM then SIGKILL the given processes (ours only, by pid)."""
    for p in procs:
        if p.poll() is None:
            try:
                os.kill(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
    deadline = time.monotonic() + grace
    for p in procs:
        try:
            p.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            kill_hard(p)


def free_port_pair(host="127.0.0.1"):
    """A port free for both TCP and UDP on host (best effort)."""
    for _ in range(200):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
            t.bind((host, 0))
            port = t.getsockname()[1]
            try:
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
                    u.bind((host, port))
                return port
            except OSError:
                continue
    raise RuntimeError("no free port")
