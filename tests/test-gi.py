#!/usr/bin/env python3
# libgossip through GObject introspection (PyGObject), TAP output.
#
# Two clusters on loopback join each other, then exchange a message, a
# request/reply and a metadata update, all through the Gossip-1.0 typelib.
# make check runs it with GI_TYPELIB_PATH and LD_LIBRARY_PATH pointing at the
# build tree (tests/Makefile.am); it skips when introspection was not built
# (GOSSIP_GIR_BUILT=no) or PyGObject is missing (apt-get install python3-gi).
# Run by hand against an installed library: python3 tests/test-gi.py
#
# SPDX-License-Identifier: MIT

import os
import sys
import time

TESTS = 9


def skip_all(reason):
    print("1..0 # SKIP %s" % reason)
    sys.exit(0)


if os.environ.get("GOSSIP_GIR_BUILT", "yes") != "yes":
    skip_all("introspection is not built (configure --enable-introspection)")
try:
    import gi
except ImportError:
    skip_all("PyGObject is not installed (apt-get install python3-gi)")
try:
    gi.require_version("Gossip", "1.0")
    gi.require_version("GLib", "2.0")
    from gi.repository import GLib, Gossip
except (ImportError, ValueError) as e:
    print("1..%d" % TESTS)
    print("not ok 1 - import gi.repository.Gossip 1.0 # %s" % e)
    print("# GI_TYPELIB_PATH=%s" % os.environ.get("GI_TYPELIB_PATH", ""))
    sys.exit(1)

print("1..%d" % TESTS)
n = 0
failed = 0


def check(cond, what, diag=None):
    global n, failed
    n += 1
    if cond:
        print("ok %d - %s" % (n, what))
    else:
        failed += 1
        print("not ok %d - %s" % (n, what))
        if diag:
            for line in str(diag).splitlines():
                print("#   %s" % line)
    sys.stdout.flush()
    return cond


def iterate_until(pred, timeout=15.0):
    """Runs the default main context until pred() is true or timeout."""
    ctx = GLib.MainContext.default()
    deadline = time.monotonic() + timeout
    while not pred() and time.monotonic() < deadline:
        while ctx.pending():
            ctx.iteration(False)
        if pred():
            break
        ctx.iteration(False)
        time.sleep(0.01)
    return pred()


def new_cluster(tags):
    config = Gossip.Config.new()
    config.set_string("bind_addr", "127.0.0.1:0")
    config.set_strv("tags", tags)
    # Fast failure detection keeps the test short.
    config.set_string("health_check_interval", "200ms")
    cluster = Gossip.Cluster.new(config)
    cluster.start()
    return cluster


check(Gossip.Cluster.__gtype__.name == "GossipCluster",
      "Gossip-1.0 typelib loads (%s)" % Gossip.__file__ if hasattr(Gossip, "__file__")
      else "Gossip-1.0 typelib loads")

# Errors map to GLib.Error with the library's domain and code.
config = Gossip.Config.new()
try:
    config.set_int("no_such_parameter", 1)
    check(False, "an unknown parameter raises GLib.Error")
except GLib.Error as e:
    check(e.domain == GLib.quark_to_string(Gossip.config_error_quark()) and
          e.code == Gossip.ConfigError.UNKNOWN_KEY,
          "an unknown parameter raises GLib.Error %s/%d: %s" % (e.domain, e.code, e.message))

a = new_cluster(["alpha"])
b = new_cluster(["beta"])
a_addr = a.get_advertise_address()
check(a.is_running() and b.is_running() and a_addr.startswith("127.0.0.1:"),
      "two clusters started (a at %s)" % a_addr)

# b joins a; join() blocks this thread while the engine threads work.
joined = b.join([a_addr])
check(joined >= 1, "b joined a (%d peer(s) accepted)" % joined)

both = iterate_until(lambda: a.count_all() == 2 and b.count_all() == 2)
check(both and sorted(node.get_id() for node in a.get_nodes()) ==
      sorted([a.get_node_id(), b.get_node_id()]),
      "both clusters see both nodes",
      "a sees %d, b sees %d" % (a.count_all(), b.count_all()))

# A one-way message from b to a, handled in this thread's main context.
MSG_TYPE = Gossip.MSG_USER + 1
received = []


def on_message(cluster, message):
    received.append((message.get_sender().get_id(), message.get_message_type(),
                     message.get_payload().unpack()))


a.handle(MSG_TYPE, False, None, on_message)
b.send_to(a.get_node_id(), MSG_TYPE, GLib.Variant("s", "hello from b"),
          Gossip.SendFlags.RELIABLE)
iterate_until(lambda: received)
check(received == [(b.get_node_id(), MSG_TYPE, "hello from b")],
      "a received b's message through its handler", repr(received))

# Request/reply: a answers, b waits asynchronously.
REQ_TYPE = Gossip.MSG_USER + 2


def on_request(cluster, message):
    question = message.get_payload().unpack()
    message.reply(GLib.Variant("s", question.upper()))


a.handle(REQ_TYPE, True, None, on_request)
replies = []


def on_reply(cluster, result):
    try:
        replies.append(cluster.send_request_finish(result).unpack())
    except GLib.Error as e:
        replies.append(e)


b.send_request_async(a.get_node_id(), REQ_TYPE, GLib.Variant("s", "ping"), 5 * 1000 * 1000,
                     None, on_reply)
iterate_until(lambda: replies)
check(replies == ["PING"], "b's request was answered by a", repr(replies))

# Metadata spreads to the other node.
a.set_metadata("role", "primary")
seen = iterate_until(lambda: b.get_node(a.get_node_id()) is not None and
                     b.get_node(a.get_node_id()).get_metadata_value("role") == "primary")
check(seen, "a's metadata reached b")

b.stop()
a.stop()
check(a.is_stopped() and b.is_stopped(), "both clusters stopped")

sys.exit(1 if failed else 0)
