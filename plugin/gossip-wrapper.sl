# scriptling.net.gossip: the script-side half of the gossip plugin.
#
# The Scriptling host compiles this source as the body of the module (it is
# attached to create() in the plugin schema; the host puts
# "import scriptling.plugin" before it).  Plugin functions cannot return
# objects and callbacks only live as long as the call that carried them,
# so:
#   * create(), create_node_group() and create_leader_election() construct
#     the native objects (_Cluster, _NodeGroup, _LeaderElection) through
#     scriptling.plugin._new_object and wrap them in the classes below;
#   * handlers stay here, in the wrapper objects; the plugin only learns
#     which events are wanted;
#   * every call into the plugin carries the dispatcher _dispatch (a plain
#     function: hosts cannot pass bound methods), through which the plugin
#     hands over queued events; the dispatcher runs the handlers, catches
#     what they raise and reports it back, so a failing handler never
#     fails the call that delivered it.
#
# Only the Python-compatible subset of Scriptling is used, so that this
# file runs unchanged under CPython for the tests (tests/test-wrapper.py).

MSG_USER = 128

_LIB = "scriptling.net.gossip"

# cluster key -> Cluster wrapper (None once stopped).  A running cluster is
# kept alive by this table until stop(), as the API asks scripts to call.
_clusters = {}


def _dispatch(ev):
    cluster = _clusters.get(str(ev["cluster"]))
    if cluster is None:
        if ev["kind"] == "message" and ev["request"]:
            return {"error": "no handler for message type " + str(ev["type"])}
        return None
    return cluster._deliver(ev)


def _run_handlers(handlers, args):
    errors = []
    if handlers is None:
        return None
    for handler in handlers:
        try:
            handler(*args)
        except Exception as e:
            errors.append(str(e))
    if len(errors) > 0:
        return {"error": "; ".join(errors)}
    return None


def _kw(kwargs):
    kw = {}
    for name in kwargs:
        kw[name] = kwargs[name]
    kw["_dispatch"] = _dispatch
    return kw


def _arg(args, kwargs, index, name):
    if len(args) > index:
        return args[index]
    if name in kwargs:
        return kwargs[name]
    return None


def create(*args, **kwargs):
    # create(bind_addr="127.0.0.1:8000", **options) - Create a gossip cluster node.
    remote = scriptling.plugin._new_object(_LIB, "_Cluster", *args, **kwargs)
    return Cluster(remote)


class Cluster:
    # A gossip cluster node, returned by create().

    def __init__(self, remote):
        self._remote = remote
        self._key = str(scriptling.plugin.call_method(remote, "key"))
        self._handlers = {}
        self._state_handlers = []
        self._metadata_handlers = []
        self._tick_handlers = []
        self._groups = {}
        self._elections = {}
        _clusters[self._key] = self

    def __del__(self):
        scriptling.plugin.release(self._remote)

    def _call(self, method, args, kwargs):
        return scriptling.plugin.call_method(self._remote, method, *args, **_kw(kwargs))

    def _deliver(self, ev):
        kind = ev["kind"]
        if kind == "message":
            entry = self._handlers.get(str(ev["type"]))
            if entry is None:
                if ev["request"]:
                    return {"error": "no handler for message type " + str(ev["type"])}
                return None
            try:
                result = entry[0](ev["message"])
            except Exception as e:
                return {"error": str(e)}
            if entry[1]:
                return {"reply": result}
            return None
        if kind == "state":
            return _run_handlers(self._state_handlers, [ev["node_id"], ev["state"]])
        if kind == "metadata":
            return _run_handlers(self._metadata_handlers, [ev["node"]])
        if kind == "tick":
            return _run_handlers(self._tick_handlers, [])
        if kind == "node_added" or kind == "node_removed":
            group = self._groups.get(str(ev["group"]))
            if group is None:
                return None
            return group._deliver(ev)
        if kind == "election":
            election = self._elections.get(str(ev["election"]))
            if election is None:
                return None
            return election._deliver(ev)
        return None

    # -- lifecycle --------------------------------------------------------

    def start(self, *args, **kwargs):
        # start() - Start the cluster node.
        return self._call("start", args, kwargs)

    def join(self, *args, **kwargs):
        # join(peers) - Join an existing cluster (a peer address or a list of them).
        return self._call("join", args, kwargs)

    def leave(self, *args, **kwargs):
        # leave() - Gracefully leave the cluster.
        return self._call("leave", args, kwargs)

    def stop(self, *args, **kwargs):
        # stop() - Stop the cluster and clean up.
        result = self._call("stop", args, kwargs)
        _clusters[self._key] = None
        return result

    def wait_events(self, timeout=0):
        # wait_events(timeout=0) - Run event handlers for up to timeout; see run_events().
        return scriptling.plugin.call_function(_LIB, "run_events", timeout, _dispatch=_dispatch)

    # -- messaging --------------------------------------------------------

    def send(self, *args, **kwargs):
        # send(message_type, data, reliable=False) - Broadcast to all nodes.
        return self._call("send", args, kwargs)

    def send_tagged(self, *args, **kwargs):
        # send_tagged(tag, message_type, data, reliable=False) - Send to nodes with the tag.
        return self._call("send_tagged", args, kwargs)

    def send_to(self, *args, **kwargs):
        # send_to(node_id, message_type, data, reliable=False) - Send to one node.
        return self._call("send_to", args, kwargs)

    def send_request(self, *args, **kwargs):
        # send_request(node_id, message_type, data, timeout="5s") - Send a request, wait for the reply.
        return self._call("send_request", args, kwargs)

    def handle(self, *args, **kwargs):
        # handle(message_type, handler) - Register a message handler.
        message_type = self._call("handle", args, kwargs)
        self._handlers[str(message_type)] = [_arg(args, kwargs, 1, "handler"), False]
        return None

    def handle_with_reply(self, *args, **kwargs):
        # handle_with_reply(message_type, handler) - Register a request/reply handler.
        message_type = self._call("handle_with_reply", args, kwargs)
        self._handlers[str(message_type)] = [_arg(args, kwargs, 1, "handler"), True]
        return None

    def unhandle(self, *args, **kwargs):
        # unhandle(message_type) - Remove a handler; True if one was removed.
        removed = self._call("unhandle", args, kwargs)
        self._handlers[str(_arg(args, kwargs, 0, "message_type"))] = None
        return removed

    def on_state_change(self, *args, **kwargs):
        # on_state_change(handler) - handler(node_id, new_state) on every state change.
        self._call("on_state_change", args, kwargs)
        self._state_handlers.append(_arg(args, kwargs, 0, "handler"))
        return None

    def on_metadata_change(self, *args, **kwargs):
        # on_metadata_change(handler) - handler(node) when a remote node's metadata changes.
        self._call("on_metadata_change", args, kwargs)
        self._metadata_handlers.append(_arg(args, kwargs, 0, "handler"))
        return None

    def on_gossip_interval(self, *args, **kwargs):
        # on_gossip_interval(handler) - handler() at every gossip interval.
        self._call("on_gossip_interval", args, kwargs)
        self._tick_handlers.append(_arg(args, kwargs, 0, "handler"))
        return None

    # -- queries ----------------------------------------------------------

    def nodes(self, *args, **kwargs):
        # nodes() - All known nodes.
        return self._call("nodes", args, kwargs)

    def alive_nodes(self, *args, **kwargs):
        # alive_nodes() - All alive nodes.
        return self._call("alive_nodes", args, kwargs)

    def nodes_by_tag(self, *args, **kwargs):
        # nodes_by_tag(tag) - Alive or suspect nodes with the tag.
        return self._call("nodes_by_tag", args, kwargs)

    def get_node(self, *args, **kwargs):
        # get_node(node_id) - A node dict, or None.
        return self._call("get_node", args, kwargs)

    def local_node(self, *args, **kwargs):
        # local_node() - The local node dict.
        return self._call("local_node", args, kwargs)

    def num_nodes(self, *args, **kwargs):
        # num_nodes() - Number of known nodes.
        return self._call("num_nodes", args, kwargs)

    def num_alive(self, *args, **kwargs):
        # num_alive() - Number of alive nodes.
        return self._call("num_alive", args, kwargs)

    def num_suspect(self, *args, **kwargs):
        # num_suspect() - Number of suspect nodes.
        return self._call("num_suspect", args, kwargs)

    def num_dead(self, *args, **kwargs):
        # num_dead() - Number of dead nodes.
        return self._call("num_dead", args, kwargs)

    def node_id(self, *args, **kwargs):
        # node_id() - The local node's UUID.
        return self._call("node_id", args, kwargs)

    def is_local(self, *args, **kwargs):
        # is_local(node_id) - Whether the id is the local node's.
        return self._call("is_local", args, kwargs)

    def candidates(self, *args, **kwargs):
        # candidates() - A random subset of peers for gossiping.
        return self._call("candidates", args, kwargs)

    # -- local metadata ---------------------------------------------------

    def set_metadata(self, *args, **kwargs):
        # set_metadata(key, value) - Set a local metadata value (str, int, float or bool).
        return self._call("set_metadata", args, kwargs)

    def get_metadata(self, *args, **kwargs):
        # get_metadata(key) - A local metadata value as a string, or None.
        return self._call("get_metadata", args, kwargs)

    def all_metadata(self, *args, **kwargs):
        # all_metadata() - All local metadata (values as strings).
        return self._call("all_metadata", args, kwargs)

    def delete_metadata(self, *args, **kwargs):
        # delete_metadata(key) - Delete a local metadata key.
        return self._call("delete_metadata", args, kwargs)

    # -- groups and elections ---------------------------------------------

    def create_node_group(self, *args, **kwargs):
        # create_node_group(criteria, on_node_added=None, on_node_removed=None) - A node group.
        remote = scriptling.plugin._new_object(_LIB, "_NodeGroup", self._remote, *args, **kwargs)
        group = NodeGroup(self, remote, _arg(args, kwargs, 1, "on_node_added"),
                          _arg(args, kwargs, 2, "on_node_removed"))
        scriptling.plugin.call_method(remote, "start", _dispatch=_dispatch)
        return group

    def create_leader_election(self, *args, **kwargs):
        # create_leader_election(check_interval="1s", leader_timeout="3s", heartbeat_msg_type=65,
        #                        quorum_percentage=60, metadata_criteria=None)
        remote = scriptling.plugin._new_object(_LIB, "_LeaderElection", self._remote, *args, **kwargs)
        return LeaderElection(self, remote)


class NodeGroup:
    # Nodes whose metadata match criteria, returned by Cluster.create_node_group().

    def __init__(self, cluster, remote, on_node_added, on_node_removed):
        self._cluster = cluster
        self._remote = remote
        self._on_added = on_node_added
        self._on_removed = on_node_removed
        self._key = str(scriptling.plugin.call_method(remote, "key"))
        cluster._groups[self._key] = self

    def __del__(self):
        scriptling.plugin.release(self._remote)

    def _call(self, method, args, kwargs):
        return scriptling.plugin.call_method(self._remote, method, *args, **_kw(kwargs))

    def _deliver(self, ev):
        handler = self._on_added
        if ev["kind"] == "node_removed":
            handler = self._on_removed
        if handler is None:
            return None
        return _run_handlers([handler], [ev["node"]])

    def nodes(self, *args, **kwargs):
        # nodes() - The members.
        return self._call("nodes", args, kwargs)

    def contains(self, *args, **kwargs):
        # contains(node_id) - Whether the node is a member.
        return self._call("contains", args, kwargs)

    def count(self, *args, **kwargs):
        # count() - Number of members.
        return self._call("count", args, kwargs)

    def send_to_peers(self, *args, **kwargs):
        # send_to_peers(message_type, data, reliable=False) - Send to every member but us.
        return self._call("send_to_peers", args, kwargs)

    def close(self, *args, **kwargs):
        # close() - Stop tracking and release resources.
        result = self._call("close", args, kwargs)
        self._cluster._groups[self._key] = None
        return result


class LeaderElection:
    # Quorum-based leader election, returned by Cluster.create_leader_election().

    def __init__(self, cluster, remote):
        self._cluster = cluster
        self._remote = remote
        self._handlers = {"elected": [], "lost": [], "became_leader": [], "stepped_down": []}
        self._key = str(scriptling.plugin.call_method(remote, "key"))
        cluster._elections[self._key] = self

    def __del__(self):
        scriptling.plugin.release(self._remote)

    def _call(self, method, args, kwargs):
        return scriptling.plugin.call_method(self._remote, method, *args, **_kw(kwargs))

    def _deliver(self, ev):
        return _run_handlers(self._handlers.get(ev["event"]), [ev["event"], ev["node_id"]])

    def start(self, *args, **kwargs):
        # start() - Start the election process.
        return self._call("start", args, kwargs)

    def stop(self, *args, **kwargs):
        # stop() - Stop the election process.
        return self._call("stop", args, kwargs)

    def is_leader(self, *args, **kwargs):
        # is_leader() - Whether this node is the leader.
        return self._call("is_leader", args, kwargs)

    def has_leader(self, *args, **kwargs):
        # has_leader() - Whether a valid leader exists.
        return self._call("has_leader", args, kwargs)

    def get_leader_id(self, *args, **kwargs):
        # get_leader_id() - The leader's node id, or None.
        return self._call("get_leader_id", args, kwargs)

    def send_to_peers(self, *args, **kwargs):
        # send_to_peers(message_type, data, reliable=False) - Send to eligible peers.
        return self._call("send_to_peers", args, kwargs)

    def on_event(self, *args, **kwargs):
        # on_event(event_type, handler): handler(event_type, node_id) for "elected", "lost",
        # "became_leader" or "stepped_down"; several handlers run in registration order.
        self._call("on_event", args, kwargs)
        self._handlers[_arg(args, kwargs, 0, "event_type")].append(_arg(args, kwargs, 1, "handler"))
        return None
