#!/usr/bin/env python3
# test-wrapper.py: runs the scriptling.net.gossip wrapper source (the code
# the Scriptling host compiles) under CPython, against the real bridge
# serving the real gossip.so, and runs the API document's examples with
# "import scriptling.net.gossip as gossip" served by tests/scriptling_shim.py,
# which models the real host: its built-in Go library of the same name, the
# plugin names of v0.20.x ("plugin." prefix) and v0.23+ (dotted names kept,
# shadowing refused), --disable-lib, --libpath and the classification of
# errors by their text.  Scripts run with the command lines README.md
# documents; the --libpath library file is plugin/scriptling/net/gossip.py.
# Several bridge processes form clusters on loopback (port 0).  TAP output.
#
# SPDX-License-Identifier: MIT

import io
import os
import socket
import sys
import time
import traceback
import contextlib

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import scriptling_shim  # noqa: E402

BUILD = os.environ.get("G_TEST_BUILDDIR") or os.getcwd()
BRIDGE = os.path.join(BUILD, "..", "glue", "scriptling-plugin-bridge")
PLUGIN = os.path.join(BUILD, "..", "plugin", ".libs", "gossip.so")
# The --libpath directory: it holds scriptling/net/gossip.py.
LIBPATH = os.path.join(HERE, "..", "plugin")
GOSSIP = scriptling_shim.GOSSIP

# README.md's command lines: both disable the built-in library; v0.20.x
# needs the library file on --libpath (the v0.20 line works for both).
DOCUMENTED = {
    "v0.20": dict(version=(0, 20), disable_libs=[GOSSIP], libpath=[LIBPATH]),
    "v0.23": dict(version=(0, 23), disable_libs=[GOSSIP]),
}

results = []


def test(fn):
    results.append(fn)
    return fn


def host(config="v0.20", **options):
    """A host started with one of the documented command lines, or with
    explicit options (version, disable_libs, libpath)."""
    return scriptling_shim.Host(BRIDGE, PLUGIN, **(options or DOCUMENTED[config]))


def unused_address():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return "127.0.0.1:%d" % port


def wait_until(gossip, cond, timeout=15.0):
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            raise AssertionError("timed out")
        gossip.run_events(0.05)


def expect_error(kind, text, fn, *args, **kwargs):
    """fn raises exactly kind (Exception: what "except RuntimeError" and the
    typed excepts do not catch) with text in its message."""
    try:
        fn(*args, **kwargs)
    except Exception as e:
        assert type(e) is kind, "expected %s, got %s(%r)" % (kind.__name__, type(e).__name__, str(e))
        assert text in str(e), "expected %r in %r" % (text, str(e))
        return str(e)
    raise AssertionError("expected %s(%r)" % (kind.__name__, text))


def run_script(h, code, **env):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        scope = h.run(code, env)
    return out.getvalue(), scope


# ---- schema and module ------------------------------------------------------

@test
def module_schema():
    h = host()
    try:
        hs = h.bridge.handshake
        assert hs["library"]["name"] == "scriptling.net.gossip"
        names = [f["name"] for f in hs["schema"]["functions"]]
        assert names == ["create", "run_events"], names
        assert all(f.get("source") for f in hs["schema"]["functions"])
        classes = [c["name"] for c in hs["schema"]["classes"]]
        assert classes == ["_Cluster", "_NodeGroup", "_LeaderElection"], classes
        g = h.module
        assert g.MSG_USER == 128 and type(g.MSG_USER) is int
        for name in ("create", "run_events", "Cluster", "NodeGroup", "LeaderElection"):
            assert hasattr(g, name), name
    finally:
        h.close()


# ---- the API document's examples -------------------------------------------

@test
def example_create_and_lifecycle():
    h = host()
    try:
        nobody, nobody2 = unused_address(), unused_address()
        out, scope = run_script(h, """
import scriptling.net.gossip as gossip
cluster = gossip.create(
    bind_addr="127.0.0.1:0",
    tags=["web"],
    encryption_key="0123456789abcdef"
)
cluster.start()
cluster.join(NOBODY)
cluster.join([NOBODY, NOBODY2])
cluster.leave()
state = cluster.local_node()["state"]
cluster.stop()
""", NOBODY=nobody, NOBODY2=nobody2)
        assert scope["state"] == "leaving"
    finally:
        h.close()


@test
def example_basic_cluster():
    h = host("v0.23")
    try:
        out, _ = run_script(h, """
import scriptling.net.gossip as gossip
cluster = gossip.create(bind_addr="127.0.0.1:0")
cluster.start()
cluster.join([NOBODY])
cluster.handle(128, lambda msg: print(msg["payload"]))
cluster.send(128, "Hello!")
cluster.stop()
""", NOBODY=unused_address())
    finally:
        h.close()


@test
def example_three_nodes_with_tags():
    h = host()
    try:
        out, scope = run_script(h, """
import scriptling.net.gossip as gossip
web = gossip.create(bind_addr="127.0.0.1:0", tags=["web"])
web.start()
WEB = web.local_node()["addr"]
worker = gossip.create(bind_addr="127.0.0.1:0", tags=["worker"])
worker.start()
worker.join([WEB])
hybrid = gossip.create(bind_addr="127.0.0.1:0", tags=["web", "worker"])
hybrid.start()
hybrid.join([WEB])
got = {"web": [], "worker": [], "hybrid": []}
web.handle(128, lambda m: got["web"].append(m["payload"]))
worker.handle(128, lambda m: got["worker"].append(m["payload"]))
hybrid.handle(128, lambda m: print("hybrid got", m["payload"]) or got["hybrid"].append(m["payload"]))
for i in range(300):
    if web.num_alive() == 3 and worker.num_alive() == 3 and hybrid.num_alive() == 3:
        break
    gossip.run_events(0.05)
# Only web-tagged nodes receive this
web.send_tagged("web", 128, "Hello web nodes!")
for i in range(300):
    if got["hybrid"]:
        break
    gossip.run_events(0.05)
gossip.run_events(0.3)
web_tagged = [n["id"] for n in web.nodes_by_tag("web")]
for c in (web, worker, hybrid):
    c.stop()
""")
        got = scope["got"]
        assert got["hybrid"] == ["Hello web nodes!"], got
        assert got["worker"] == [] and got["web"] == [], got
        assert len(scope["web_tagged"]) == 2
        assert "hybrid got Hello web nodes!" in out
    finally:
        h.close()


@test
def example_metadata_and_state():
    h = host("v0.23")
    try:
        out, scope = run_script(h, """
import scriptling.net.gossip as gossip
cluster = gossip.create(bind_addr="127.0.0.1:0")
cluster.set_metadata("role", "leader")
cluster.set_metadata("version", 2)
cluster.start()
cluster.on_state_change(lambda node_id, state:
    print(f"Node {node_id} -> {state}")
)
cluster.on_metadata_change(lambda node:
    print(f"Node {node['id']} metadata changed")
)
cluster.join([NOBODY])
for node in cluster.alive_nodes():
    print(f"{node['id']}: {node['metadata']}")
md = cluster.alive_nodes()[0]["metadata"]
cluster.stop()
""", NOBODY=unused_address())
        assert scope["md"] == {"role": "leader", "version": "2"}, scope["md"]
    finally:
        h.close()


@test
def example_request_reply():
    h = host()
    try:
        out, scope = run_script(h, """
import scriptling.net.gossip as gossip
cluster = gossip.create(bind_addr="127.0.0.1:0")
cluster.start()
cluster.handle_with_reply(128, lambda msg: {"echo": msg["payload"]})
replies = []
for node in cluster.alive_nodes():
    reply = cluster.send_request(node["id"], 128, "ping")
    print(f"Reply from {node['id']}: {reply}")
    replies.append(reply)
cluster.stop()
""")
        assert scope["replies"] == [{"echo": "ping"}], scope["replies"]
    finally:
        h.close()


@test
def example_node_groups():
    h = host("v0.23")
    try:
        out, scope = run_script(h, """
import scriptling.net.gossip as gossip
cluster = gossip.create(bind_addr="127.0.0.1:0")
cluster.set_metadata("role", "coordinator")
cluster.start()
cluster.join([NOBODY])
workers = cluster.create_node_group(
    criteria={"role": "worker"},
    on_node_added=lambda n: print(f"Worker online: {n['id']}"),
    on_node_removed=lambda n: print(f"Worker offline: {n['id']}")
)
workers.send_to_peers(128, {"task": "process_data"})
count = workers.count()
print(f"Active workers: {workers.count()}")
workers.close()
cluster.stop()
""", NOBODY=unused_address())
        assert scope["count"] == 0
    finally:
        h.close()


@test
def example_leader_election():
    h = host()
    try:
        out, scope = run_script(h, """
import scriptling.net.gossip as gossip
cluster = gossip.create(bind_addr="127.0.0.1:0")
cluster.start()
cluster.join([NOBODY, NOBODY2])
election = cluster.create_leader_election(quorum_percentage=51)
election.on_event("became_leader", lambda e, n: print("I became the leader!"))
election.on_event("stepped_down", lambda e, n: print("I stepped down"))
election.on_event("elected", lambda e, n: print(f"Leader elected: {n}"))
election.on_event("lost", lambda e, n: print("Leader lost"))
election.start()
leader = election.is_leader()
if election.is_leader():
    print("Performing leader-only tasks")
cluster.stop()
""", NOBODY=unused_address(), NOBODY2=unused_address())
        assert scope["leader"] is True
        assert "I became the leader!" in out and "Leader elected:" in out, out
    finally:
        h.close()


@test
def example_encrypted_cluster():
    h = host("v0.23")
    try:
        expect_error(ValueError, "encryption_key must be 16, 24 or 32 bytes (got 29)", run_script, h, """
import scriptling.net.gossip as gossip
cluster = gossip.create(
    bind_addr="0.0.0.0:8000",
    encryption_key="32-byte-key-here-1234567890ab",
    compression=True,
    bearer_token="secret-token"
)
""")
    finally:
        h.close()


# ---- several bridge processes ------------------------------------------------

FAST = dict(bind_addr="127.0.0.1:0", health_check_interval="200ms", suspect_timeout="300ms",
            suspect_retry_interval="100ms", metadata_gossip_interval="100ms", gossip_interval="200ms")


@test
def three_processes():
    # One cluster of scripts run by both documented hosts.
    hosts = [host(config) for config in ("v0.20", "v0.23", "v0.20")]
    try:
        g = [h.module for h in hosts]
        c = [g[k].create(**FAST) for k in range(3)]
        for k in range(3):
            c[k].set_metadata("role", "worker" if k else "coordinator")
            c[k].start()
        states, metas, added = [], [], []
        c[0].on_state_change(lambda node_id, state: states.append((node_id, state)))
        c[0].on_metadata_change(lambda node: metas.append(node["id"]))
        seen = []
        c[1].handle(128, lambda m: seen.append(m["payload"]))
        c[2].handle_with_reply(129, lambda m: {"from": 2, "echo": m["payload"]})
        # A handler failing with a NameError's text ("name ... is not
        # defined"): quoted by a runtime error, it must not make that one
        # a NameError under the host's text rule.
        c[2].handle_with_reply(130, lambda m: undefined_in_handler)  # noqa: F821
        addr = c[0].local_node()["addr"]
        c[1].join(addr)
        c[2].join([addr])
        wait_until(g[0], lambda: c[0].num_alive() == 3)
        wait_until(g[1], lambda: c[1].num_alive() == 3)
        wait_until(g[2], lambda: c[2].num_alive() == 3)
        ids = [x.node_id() for x in c]
        # on_state_change got the NEW state of both peers.
        wait_until(g[0], lambda: (ids[1], "alive") in states and (ids[2], "alive") in states)
        # Broadcast (reliable positional) reaches the other process.
        c[0].send(128, {"n": 1}, True)
        wait_until(g[1], lambda: seen == [{"n": 1}])
        # Request/reply across processes: c[2] answers while its process
        # waits in run_events (a background-free script must pump).
        import threading
        result = {}

        def pump2():
            end = time.monotonic() + 5
            while time.monotonic() < end and "reply" not in result:
                g[2].run_events(0.1)
        # Requests are answered by the target's script thread: drive it
        # in turns (the shim is single-threaded per process).
        reply_holder = []
        t = threading.Thread(target=lambda: reply_holder.append(
            _catch(lambda: c[0].send_request(ids[2], 129, [1, "two"], timeout="5s"))))
        t.start()
        pump2_end = time.monotonic() + 10
        while t.is_alive() and time.monotonic() < pump2_end:
            g[2].run_events(0.1)
        t.join()
        assert reply_holder[0] == {"from": 2, "echo": [1, "two"]}, reply_holder
        t = threading.Thread(target=lambda: reply_holder.append(
            _catch(lambda: c[0].send_request(ids[2], 130, None))))
        t.start()
        while t.is_alive():
            g[2].run_events(0.1)
        t.join()
        assert type(reply_holder[1]) is Exception, reply_holder
        assert "handler raised: name 'undefined_in_handler' is not\u00a0defined" in str(reply_holder[1]), reply_holder
        assert any("raised" in (m or "") for _, m in hosts[2].bridge.logs), hosts[2].bridge.logs
        # Node group across processes, and remote metadata changes.
        added_ids = []
        workers = c[0].create_node_group({"role": "worker"}, lambda n: added_ids.append(n["id"]))
        wait_until(g[0], lambda: sorted(added_ids) == sorted(ids[1:]))
        assert workers.count() == 2 and workers.contains(ids[1]) and not workers.contains(ids[0])
        c[1].set_metadata("role", "idle")
        wait_until(g[0], lambda: ids[1] in metas and workers.count() == 1)
        workers.close()
        assert workers.count() == 0
        expect_error(Exception, "node group is closed", workers.send_to_peers, 128, "x")
        # Stop from inside a handler: returns, and the node leaves.
        c[1].unhandle(128)
        c[1].handle(128, lambda m: c[1].stop())
        c[0].send_to(ids[1], 128, "stop please")
        wait_until(g[1], lambda: c[1].local_node()["state"] in ("leaving", "dead") or _stopped(c[1]))
        wait_until(g[0], lambda: (ids[1], "leaving") in states or (ids[1], "dead") in states)
        for x in c:
            x.stop()
    finally:
        for h in hosts:
            h.close()


def _catch(fn):
    try:
        return fn()
    except Exception as e:
        return e


def _stopped(cluster):
    try:
        cluster.send(128, "probe")
    except Exception as e:
        return "cluster is stopped" in str(e)
    return False


# ---- wrapper behaviour ----------------------------------------------------------

@test
def wrapper_behaviour():
    h = host()
    try:
        g = h.module
        c = g.create("127.0.0.1:0")
        c.start()
        expect_error(TypeError, "unexpected keyword argument 'foo'", g.create, foo=1)
        expect_error(TypeError, "handler must be callable, not int", c.handle, 128, 5)
        expect_error(ValueError, "message type 12 is reserved", c.send, 12, "x")
        expect_error(TypeError, "reliable must be a bool", c.send, 128, "x", "yes")
        expect_error(TypeError, "send() takes at most 3 arguments", c.send, 128, "x", True, 1)
        expect_error(TypeError, "value must be a str, int, float or bool", c.set_metadata, "k", None)
        expect_error(ValueError, "unknown event type: won", c.create_leader_election().on_event, "won", print)
        order = []
        got = []
        c.handle(128, lambda m: got.append(m) or (1 / 0))
        c.send_to(c.node_id(), 128, "self")
        # The raising handler is logged and does not fail the delivering call.
        wait_until(g, lambda: len(got) == 1)
        assert any("raised" in (m or "") for _, m in h.bridge.logs)
        assert c.unhandle(128) is True and c.unhandle(128) is False
        e = c.create_leader_election(check_interval=0.5, leader_timeout="2s", heartbeat_msg_type=70)
        e.on_event("became_leader", lambda ev, n: order.append(("first", ev, n)))
        e.on_event("became_leader", lambda ev, n: order.append(("second", ev, n)))
        e.start()
        assert [o[0] for o in order] == ["first", "second"], order
        assert order[0][1] == "became_leader" and order[0][2] == c.node_id()
        assert e.get_leader_id() == c.node_id() and e.has_leader()
        e.stop()
        expect_error(Exception, "election is stopped", e.start)
        ticks = []
        c.on_gossip_interval(lambda: ticks.append(1))
        assert isinstance(c.wait_events(0.1), int)
        c.stop()
        expect_error(Exception, "cluster is stopped", c.send, 128, "x")
        assert g.run_events(0) == 0
    finally:
        h.close()


# ---- how a script of the real host reaches this plugin ---------------------------

API_NAMES = ("MSG_USER", "create", "run_events", "Cluster", "NodeGroup", "LeaderElection")

DOCUMENTED_SCRIPT = """
import scriptling.net.gossip as gossip
cluster = gossip.create("127.0.0.1:0")
cluster.start()
alive = cluster.num_alive()
cluster.stop()
"""


@test
def documented_import_reaches_plugin():
    for config in ("v0.20", "v0.23"):
        h = host(config)
        try:
            assert h.warnings == [], h.warnings
            _, scope = run_script(h, DOCUMENTED_SCRIPT)
            assert scope["alive"] == 1, (config, scope["alive"])
            assert scope["gossip"].MSG_USER == 128
            # v0.20.x: the plugin is "plugin.scriptling.net.gossip" and the
            # documented name is the --libpath file; v0.23: the plugin itself.
            expected = "plugin.scriptling.net.gossip" if config == "v0.20" else GOSSIP
            assert h.bridge.registered == expected, (config, h.bridge.registered)
            plugin = h.import_module(expected)
            for name in API_NAMES:
                assert getattr(scope["gossip"], name) is getattr(plugin, name), (config, name)
        finally:
            assert h.close() == 0


@test
def library_file_reexport():
    h = host("v0.20")
    try:
        lib = h.import_module(GOSSIP)
        plugin = h.import_module("plugin.scriptling.net.gossip")
        assert lib is not plugin
        public = sorted(n for n in vars(lib) if not n.startswith("_"))
        assert public == sorted(API_NAMES), public
        assert not hasattr(lib, "_plugin")      # imports are not exported
        for name in API_NAMES:
            assert getattr(lib, name) is getattr(plugin, name), name
        # Classes and errors behave the same through the re-export.
        c = lib.create("127.0.0.1:0")
        assert isinstance(c, lib.Cluster)
        expect_error(TypeError, "handler must be callable, not int", c.handle, 128, 5)
        c.stop()
    finally:
        h.close()


@test
def wrong_library_without_the_documented_flags():
    # v0.20.x without --disable-lib: the documented name is the built-in Go
    # library; the plugin is there under "plugin." only.
    h = host(version=(0, 20), libpath=[LIBPATH])
    try:
        assert isinstance(h.module, scriptling_shim.BuiltinGossip)
        expect_error(Exception, "built-in Go library", run_script, h, DOCUMENTED_SCRIPT)
        _, scope = run_script(h, DOCUMENTED_SCRIPT.replace("import scriptling.net.gossip",
                                                           "import plugin.scriptling.net.gossip"))
        assert scope["alive"] == 1
    finally:
        h.close()
    # v0.20.x with the built-in disabled but no library file: no such library.
    h = host(version=(0, 20), disable_libs=[GOSSIP])
    try:
        expect_error(ImportError, "import error: library scriptling.net.gossip not found",
                     run_script, h, DOCUMENTED_SCRIPT)
    finally:
        h.close()
    # v0.23 without --disable-lib: the plugin's name is taken, it is refused
    # and shut down; the library file changes nothing (a registered library
    # comes first).
    h = host(version=(0, 23), libpath=[LIBPATH])
    try:
        assert h.bridge.registered is None
        assert any("library name already registered" in w for w in h.warnings), h.warnings
        assert h.status == 0
        expect_error(Exception, "built-in Go library", run_script, h, DOCUMENTED_SCRIPT)
        expect_error(ImportError, "plugin.scriptling.net.gossip", run_script, h,
                     "import plugin.scriptling.net.gossip")
    finally:
        h.close()


@test
def error_classes_as_the_host_gives_them():
    # The host's rule on a message alone.
    table = [
        ("type error: x must be an int", TypeError),
        ("got a type mismatch", TypeError),
        ("value error: message type 12 is reserved", ValueError),
        ("an invalid value", ValueError),
        ("identifier not found: x", NameError),
        ("name 'x' is not defined", NameError),
        ("import error: no module x", ImportError),
        ("cluster is stopped", Exception),
        ("Type error: capitalised", Exception),
        ("send_request failed: no reply", Exception),
    ]
    for message, kind in table:
        assert scriptling_shim.classify(message) is kind, (message, kind)
    # What a script catches, by the names the host has.
    h = host("v0.20")
    try:
        _, scope = run_script(h, """
import scriptling.net.gossip as gossip
caught = []
c = gossip.create("127.0.0.1:0")
try:
    c.send(128, "x", "yes")
except TypeError as e:
    caught.append("TypeError")
try:
    c.send(12, "x")
except ValueError as e:
    caught.append("ValueError")
c.stop()
try:
    try:
        c.send(128, "x")
    except RuntimeError:
        caught.append("RuntimeError")
except Exception as e:
    caught.append("Exception")
    text = str(e)
""")
        assert scope["caught"] == ["TypeError", "ValueError", "Exception"], scope["caught"]
        assert scope["text"] == "cluster is stopped", scope["text"]
    finally:
        h.close()


@test
def readme_example():
    # README.md's example and command lines, as a user types them.
    with open(os.path.join(HERE, "..", "README.md"), encoding="utf-8") as f:
        readme = f.read()
    section = readme[readme.index("## The Scriptling plugin"):readme.index("## The CLI agent")]
    for flags in ("--disable-lib scriptling.net.gossip script.py",
                  "--disable-lib scriptling.net.gossip \\\n               --libpath /usr/share/scriptling/lib script.py"):
        assert flags in section, flags
    code = section[section.index("```python\n") + 10:section.index("```\n", section.index("```python\n"))]
    code = code.replace('run_events("5s")', 'run_events("0.1s")')
    for config in ("v0.20", "v0.23"):
        h = host(config)
        try:
            out, _ = run_script(h, code)
            assert out == "value error: message type 12 is reserved (user types are 128\u201365535)\n" \
                          "cluster is stopped\n", (config, out)
        finally:
            h.close()


def main():
    if not os.path.exists(BRIDGE) or not os.path.exists(PLUGIN):
        print("1..0 # SKIP the bridge or the plugin is not built (%s, %s)" % (BRIDGE, PLUGIN))
        return 0
    print("1..%d" % len(results))
    failed = 0
    for n, fn in enumerate(results, 1):
        try:
            fn()
            print("ok %d %s" % (n, fn.__name__))
        except Exception:
            failed += 1
            print("not ok %d %s" % (n, fn.__name__))
            for line in traceback.format_exc().splitlines():
                print("# " + line)
        sys.stdout.flush()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
