# scriptling_shim.py: a stand-in for the Scriptling interpreter's plugin host,
# enough to run the scriptling.net.gossip wrapper source under CPython.
#
# SPDX-License-Identifier: MIT
#
# It starts the real bridge (glue/scriptling-plugin-bridge) on the real
# plugin (plugin/.libs/gossip.so), performs the handshake, builds the module
# source exactly as the Scriptling host does (plugin/library.go
# buildLibrarySource: "import scriptling.plugin", then each function's source
# or a forwarding stub, then each class's source or a generated proxy class)
# and executes it as a Python module.  scriptling.plugin.call_function,
# call_method, _new_object and release become JSON-RPC requests to the
# bridge; Python functions passed as arguments become callback values whose
# callback.call requests are answered while the call is in flight, as the
# host does.
#
# What the real host does and this shim models, so that a test fails where
# a script under real Scriptling would:
#
# * Errors: the host drops error.data and classifies a plugin error by its
#   text alone (classify() below, the rule of Scriptling's try/except); a
#   runtime error is a plain Exception, which "except RuntimeError" does not
#   catch.
# * Library names (Host(version=...)): the CLI registers its own built-in Go
#   library "scriptling.net.gossip" (BuiltinGossip) unless --disable-lib
#   names it, before any plugin.  v0.20.x registers a plugin as "plugin." +
#   its name; v0.23 and later keep dotted names as they are and refuse a
#   plugin whose name is already registered.  call_function() and friends
#   find the plugin by the same rule.
# * Imports: a registered library first; else a file on --libpath
#   (DIR/a/b/c.py, DIR/a/b/c/__init__.py, DIR/a.b.c.py), run as a script
#   library that exports the names it defines but not those it imports.
#
# Only the standard library is used.

import json
import os
import subprocess
import sys
import types


class PluginError(RuntimeError):
    """The shim's own failures (the bridge went away): never a script error."""


def classify(message):
    """The exception class Scriptling's try/except gives an error that
    carries only a message (evaluator.go; ImportError in later hosts)."""
    if message.startswith("type error:") or "type mismatch" in message:
        return TypeError
    if "value error" in message or "invalid value" in message:
        return ValueError
    if "identifier not found" in message or ("name" in message and "not defined" in message):
        return NameError
    if message.startswith("import error"):
        return ImportError
    return Exception


GOSSIP = "scriptling.net.gossip"
PLUGIN_PREFIX = "plugin."


def plugin_library_name(name, version):
    """The name a host of @version registers (and looks up) plugin library
    @name under: plugin/client.go NormalizeLibraryName, and in v0.23 and
    later dotted names kept as they are."""
    if name.startswith(PLUGIN_PREFIX):
        return name
    if version >= (0, 23) and "." in name:
        return name
    return PLUGIN_PREFIX + name


class BuiltinGossip:
    """Scriptling's own Go library "scriptling.net.gossip" (extlibs/net/gossip,
    on paularlott/gossip): what a script imports under that name unless
    --disable-lib removes it.  It is not this plugin; using it says so."""

    def __init__(self):
        self.__name__ = GOSSIP

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        raise Exception("%s.%s: this is Scriptling's built-in Go library, not the gossip plugin"
                        % (GOSSIP, name))


class Remote:
    """A remote object reference, as the host keeps for object.new results."""

    def __init__(self, library, class_name, object_id):
        self.library = library
        self.class_name = class_name
        self.id = object_id


class Bridge:
    def __init__(self, bridge_path, plugin_path, stderr=None, wrapper=None):
        # plugin_path None: bridge_path is a plugin directory's entry.
        argv = list(wrapper or []) + [bridge_path] + ([plugin_path] if plugin_path else [])
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=stderr, bufsize=0)
        self.next_id = 1
        self.next_callback = 1
        self.callbacks = {}
        self.responses = {}
        self.logs = []
        self.handshake = self.request("scriptling.handshake",
                                      {"protocol": "1.0", "host": "scriptling", "host_version": "shim",
                                       "transports": ["json"], "capabilities": ["remote_objects"]},
                                      raw=True)
        self.library = self.handshake["library"]["name"]
        self.registered = None      # the name the host registered it under, if it did

    # ---- wire ------------------------------------------------------------

    def _send(self, message):
        line = json.dumps(message, separators=(",", ":"), allow_nan=False) + "\n"
        self.proc.stdin.write(line.encode("utf-8"))
        self.proc.stdin.flush()

    def _read(self):
        line = self.proc.stdout.readline()
        if not line:
            raise PluginError("the bridge closed its output (exit status %r)" % self.proc.poll())
        return json.loads(line)

    def request(self, method, params, raw=False):
        request_id = self.next_id
        self.next_id += 1
        self._send({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params})
        while request_id not in self.responses:
            message = self._read()
            if "method" in message:
                self._serve(message)
            else:
                self.responses[message.get("id")] = message
        response = self.responses.pop(request_id)
        if "error" in response and response["error"] is not None:
            message = response["error"].get("message", "error")
            raise classify(message)(message)
        return response.get("result")

    def _serve(self, message):
        method = message["method"]
        params = message.get("params") or {}
        if method == "host.log":
            self.logs.append((params.get("level"), params.get("message")))
            result = {"type": "null"}
        elif method == "callback.call":
            function = self.callbacks.get(params.get("id"))
            if function is None:
                self._send({"jsonrpc": "2.0", "id": message["id"],
                            "error": {"code": -32000, "message": "unknown callback " + str(params.get("id"))}})
                return
            try:
                args = [self.decode(v) for v in params.get("args") or []]
                kwargs = dict((k, self.decode(v)) for k, v in (params.get("kwargs") or {}).items())
                result = self.encode(function(*args, **kwargs), callbacks=None)
            except Exception as e:  # the host turns a raising callback into an error reply
                self._send({"jsonrpc": "2.0", "id": message["id"],
                            "error": {"code": -32000, "message": str(e)}})
                return
        else:
            self._send({"jsonrpc": "2.0", "id": message["id"],
                        "error": {"code": -32601, "message": "unknown method " + method}})
            return
        self._send({"jsonrpc": "2.0", "id": message["id"], "result": result})

    # ---- values ----------------------------------------------------------

    def encode(self, value, callbacks):
        if value is None:
            return {"type": "null"}
        if isinstance(value, bool):
            return {"type": "bool", "value": value}
        if isinstance(value, int):
            return {"type": "int", "value": value}
        if isinstance(value, float):
            if value != value or value in (float("inf"), float("-inf")):
                raise ValueError("unsupported plugin value: non-finite float")
            return {"type": "float", "value": value}
        if isinstance(value, str):
            return {"type": "string", "value": value}
        if isinstance(value, (list, tuple)):
            out = {"type": "list"}
            if value:
                out["items"] = [self.encode(v, callbacks) for v in value]
            return out
        if isinstance(value, dict):
            for k in value:
                if not isinstance(k, str):
                    raise TypeError("plugin transport only supports dicts with string keys")
            out = {"type": "dict"}
            if value:
                out["entries"] = dict((k, self.encode(value[k], callbacks)) for k in sorted(value))
            return out
        if isinstance(value, Remote):
            return {"type": "remote", "remote": {"library": self.registered, "class": value.class_name,
                                                 "id": value.id}}
        if callable(value) and callbacks is not None and not isinstance(value, type):
            callback_id = "cb-%d" % self.next_callback
            self.next_callback += 1
            callbacks.append(callback_id)
            self.callbacks[callback_id] = value
            return {"type": "callback", "callback": {"id": callback_id}}
        raise TypeError("unsupported plugin value type " + type(value).__name__)

    def decode(self, value):
        kind = value.get("type") if isinstance(value, dict) else None
        if kind in (None, "", "null"):
            return None
        if kind in ("bool", "string"):
            return value["value"]
        if kind == "int":
            return int(value["value"])
        if kind == "float":
            return float(value["value"])
        if kind == "list":
            return [self.decode(v) for v in value.get("items") or []]
        if kind == "dict":
            return dict((k, self.decode(v)) for k, v in (value.get("entries") or {}).items())
        raise ValueError("unsupported plugin transport value type %r" % kind)

    def call(self, method, params, args, kwargs):
        callbacks = []
        try:
            if args:
                params["args"] = [self.encode(a, callbacks) for a in args]
            if kwargs:
                params["kwargs"] = dict((k, self.encode(v, callbacks)) for k, v in kwargs.items())
            return self.request(method, params)
        finally:
            for callback_id in callbacks:
                self.callbacks.pop(callback_id, None)

    def close(self):
        try:
            self.request("plugin.shutdown", {}, raw=True)
        finally:
            self.proc.stdin.close()
            status = self.proc.wait(timeout=60)
            self.proc.stdout.close()
        return status


class PluginControl:
    """The parts of the scriptling.plugin control library wrappers use."""

    def __init__(self, bridge, version):
        self._bridge = bridge
        self._version = version

    def _client(self, library):
        """The plugin a library name reaches (plugin/client.go Manager.Get)."""
        b = self._bridge
        if b.registered is None or plugin_library_name(library, self._version) != b.registered:
            raise Exception("plugin library %s is not loaded" % library)
        return b

    def call_function(self, library, name, *args, **kwargs):
        b = self._client(library)
        return b.decode(b.call("function.call", {"name": name}, args, kwargs))

    def _new_object(self, library, class_name, *args, **kwargs):
        b = self._client(library)
        ref = b.call("object.new", {"class": class_name}, args, kwargs)
        return Remote(library, class_name, ref["id"])

    def call_method(self, remote, name, *args, **kwargs):
        if not isinstance(remote, Remote):
            raise RuntimeError("call_method() requires a plugin object")
        b = self._bridge
        return b.decode(b.call("object.call_method", {"object_id": remote.id, "method": name}, args, kwargs))

    def release(self, remote):
        if isinstance(remote, Remote) and self._bridge.proc.poll() is None and not self._bridge.proc.stdin.closed:
            try:
                self._bridge.request("object.destroy", {"object_id": remote.id})
            except Exception:
                pass


def library_source(handshake):
    """The module source, built as plugin/library.go buildLibrarySource does."""
    name = handshake["library"]["name"]
    schema = handshake.get("schema") or {}
    out = ["import scriptling.plugin\n\n"]
    for fn in schema.get("functions") or []:
        if fn.get("source"):
            out.append(fn["source"])
            if not fn["source"].endswith("\n"):
                out.append("\n")
            out.append("\n")
        else:
            out.append("def %s(*args, **kwargs):\n    return scriptling.plugin.call_function(%s, %s, *args, **kwargs)\n\n"
                       % (fn["name"], json.dumps(name), json.dumps(fn["name"])))
    for cls in schema.get("classes") or []:
        if cls.get("source"):
            out.append(cls["source"])
            if not cls["source"].endswith("\n"):
                out.append("\n")
            out.append("\n")
            continue
        out.append("class %s:\n" % cls["name"])
        out.append("    def __init__(self, *args, **kwargs):\n")
        out.append("        self._plugin_remote = scriptling.plugin._new_object(%s, %s, *args, **kwargs)\n"
                   % (json.dumps(name), json.dumps(cls["name"])))
        for m in cls.get("methods") or []:
            out.append("    def %s(self, *args, **kwargs):\n" % m["name"])
            out.append("        return scriptling.plugin.call_method(self._plugin_remote, %s, *args, **kwargs)\n"
                       % json.dumps(m["name"]))
        out.append("    def __del__(self):\n        scriptling.plugin.release(self._plugin_remote)\n\n")
    return "".join(out)


class _Package:
    """A dotted name's parent as an import binds it (scriptling, scriptling.net)."""


def _is_import(value):
    return isinstance(value, (types.ModuleType, _Package, BuiltinGossip, PluginControl))


class Host:
    """One interpreter of the Scriptling CLI with one plugin directory holding
    the gossip plugin (one bridge process).

    version: the host's (major, minor): (0, 20) or (0, 23).
    disable_libs: the --disable-lib names.  libpath: the --libpath
    directories (the CLI also searches the script's directory; scripts run
    here have none)."""

    def __init__(self, bridge_path, plugin_path, stderr=None, wrapper=None,
                 version=(0, 23), disable_libs=(), libpath=()):
        self.version = tuple(version)
        self.libpath = list(libpath)
        self.warnings = []
        self.bridge = Bridge(bridge_path, plugin_path, stderr=stderr, wrapper=wrapper)
        self.control = PluginControl(self.bridge, self.version)
        self.roots = {}
        # Registered libraries: name -> module, or a function making it on
        # first import (script libraries are evaluated lazily).
        self.libraries = {"scriptling.plugin": self.control}
        if GOSSIP not in disable_libs:
            self.libraries[GOSSIP] = BuiltinGossip()
        name = plugin_library_name(self.bridge.library, self.version)
        self.status = None
        if name in self.libraries:
            # v0.23+: refused and shut down; v0.20.x cannot collide (every
            # plugin is "plugin.*").
            self.warnings.append("plugin %s ignored: library name already registered" % plugin_path)
            self.status = self.bridge.close()
        else:
            self.bridge.registered = name
            self.source = library_source(self.bridge.handshake)
            self.libraries[name] = lambda: self._script_library(name, self.source,
                                                                "<%s wrapper>" % name)

    def _builtins(self):
        import builtins
        table = dict(vars(builtins))
        real_import = builtins.__import__

        def scriptling_import(name, globals=None, locals=None, fromlist=(), level=0):
            if (name not in self.libraries and name.split(".")[0] not in ("scriptling", "plugin")
                    and self._find_file(name) is None):
                return real_import(name, globals, locals, fromlist, level)   # json, time, ...
            module = self.import_module(name)
            if fromlist:
                return module
            root = name.split(".")[0]
            return self.roots[root] if root != name else module

        table["__import__"] = scriptling_import
        return table

    def _script_library(self, name, source, filename):
        env = {"__builtins__": self._builtins(), "__name__": name}
        exec(compile(source, filename, "exec"), env)
        exported = types.ModuleType(name)
        for key, value in env.items():
            if not key.startswith("__") and not _is_import(value):
                setattr(exported, key, value)
        return exported

    def _find_file(self, name):
        parts = name.split(".")
        for directory in self.libpath:
            for path in (os.path.join(directory, *parts) + ".py",
                         os.path.join(directory, *parts, "__init__.py"),
                         os.path.join(directory, name + ".py")):
                if os.path.isfile(path):
                    return path
        return None

    def import_module(self, name):
        """What "import NAME" gives a script of this host."""
        entry = self.libraries.get(name)
        if entry is None:
            path = self._find_file(name)
            if path is None:
                raise ImportError("import error: library %s not found" % name)
            with open(path, encoding="utf-8") as f:
                source = f.read()
            entry = lambda: self._script_library(name, source, path)  # noqa: E731
        if callable(entry) and not _is_import(entry):
            entry = entry()
        self.libraries[name] = entry
        parts = name.split(".")
        node = self.roots.setdefault(parts[0], _Package()) if len(parts) > 1 else None
        for part in parts[1:-1]:
            if not isinstance(getattr(node, part, None), _Package):
                setattr(node, part, _Package())
            node = getattr(node, part)
        if node is not None:
            setattr(node, parts[-1], entry)
        return entry

    @property
    def module(self):
        """What a script's "import scriptling.net.gossip" reaches."""
        return self.import_module(GOSSIP)

    def run(self, code, env=None):
        """Runs script code as this host would."""
        scope = {"__builtins__": self._builtins(), "__name__": "__script__"}
        if env:
            scope.update(env)
        exec(compile(code, "<script>", "exec"), scope)
        return scope

    def close(self):
        if self.status is None:
            self.status = self.bridge.close()
        return self.status


def main(argv):
    """Runs a script file the way the Scriptling CLI does, with its options:

    scriptling_shim.py [--host-version 0.20|0.23] --plugin-dir DIR
                       [--disable-lib NAME]... [--libpath DIR]... SCRIPT

    DIR must hold one plugin entry (an executable, as Scriptling starts it);
    the script's directory comes first on the library path."""
    import argparse
    parser = argparse.ArgumentParser(prog="scriptling_shim.py")
    parser.add_argument("--host-version", default="0.23", choices=("0.20", "0.23"))
    parser.add_argument("--plugin-dir", required=True)
    parser.add_argument("--disable-lib", action="append", default=[])
    parser.add_argument("--libpath", action="append", default=[])
    parser.add_argument("script")
    options = parser.parse_args(argv)
    entries = [os.path.join(options.plugin_dir, n) for n in sorted(os.listdir(options.plugin_dir))]
    entries = [e for e in entries if not os.path.isdir(e) and os.access(e, os.X_OK)]
    if len(entries) != 1:
        parser.error("%s must hold exactly one plugin entry" % options.plugin_dir)
    with open(options.script, encoding="utf-8") as f:
        code = f.read()
    h = Host(entries[0], None, version=tuple(int(x) for x in options.host_version.split(".")),
             disable_libs=options.disable_lib,
             libpath=[os.path.dirname(os.path.abspath(options.script))] + options.libpath)
    for warning in h.warnings:
        print("warning: " + warning, file=sys.stderr)
    try:
        h.run(code)
    finally:
        h.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
