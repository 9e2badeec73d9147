#!/bin/sh
# Smoke test of an installed scriptling-gossip (TAP output), run from the
# installed paths only: by data/packaging/test-install.sh inside a throwaway
# root after installing the .debs, and by the Debian autopkgtest.
#
#   gossip-agent --version, its man page and German messages;
#   the Scriptling plugin entry /usr/lib/scriptling/plugins/gossip: a
#   JSON-RPC handshake through the launcher and the bridge, answered by
#   gossip.so with the scriptling.net.gossip schema;
#   the --libpath library file scriptling/net/gossip.py that re-exports the
#   plugin under its documented name for Scriptling 0.20.x;
#   an out-of-tree C program built with `pkg-config --cflags --libs gossip-1.0`;
#   two clusters exchanging a message from Python through the Gossip-1.0
#   typelib.
#
# Usage: smoke-test.sh [SOURCE-TREE]   (default: two levels above this script;
#        the C and Python tests come from SOURCE-TREE/tests)
set -u

here=$(cd "$(dirname "$0")" && pwd)
src=${1:-$here/../..}
plugindir=${SCRIPTLING_PLUGINDIR:-/usr/lib/scriptling/plugins}
PYTHON=${PYTHON:-python3}
# Nothing from a build tree.
unset LD_LIBRARY_PATH GI_TYPELIB_PATH SCRIPTLING_PLUGIN_MODULE_PATH PKG_CONFIG_PATH GOSSIP_MODULE_DIR
PATH=/usr/local/bin:/usr/bin:/bin
export PATH

tmp=$(mktemp -d "${TMPDIR:-/tmp}/smoke.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT

n=0
failed=0
ok () { n=$((n + 1)); echo "ok $n - $1"; }
not_ok () { n=$((n + 1)); failed=1; echo "not ok $n - $1"; [ -s "$tmp/out" ] && sed 's/^/#   /' "$tmp/out"; }

echo "1..10"

# 1. the agent
if gossip-agent --version > "$tmp/out" 2>&1 && grep -q '^gossip-agent .* [0-9]' "$tmp/out"; then
  ok "$(command -v gossip-agent) --version: $(cat "$tmp/out")"
else
  not_ok "gossip-agent --version"
fi

# 1b. encryption: the crypto module is found where the package put it
timeout 2 gossip-agent agent --bind 127.0.0.1:0 --rpc-addr none --encrypt-key 0123456789abcdef > "$tmp/out" 2>&1
if grep -q '^[^ ]* agent-start ' "$tmp/out" && ! grep -q 'unavailable' "$tmp/out"; then
  ok "an encrypting agent starts (crypto module loaded)"
else
  not_ok "an encrypting agent starts (crypto module loaded)"
fi

# 2. its man page
if man -w gossip-agent > "$tmp/out" 2>&1 || ls /usr/share/man/man1/gossip-agent.1* > "$tmp/out" 2>&1; then
  ok "man page: $(head -n 1 "$tmp/out")"
else
  not_ok "gossip-agent(1) is installed"
fi

# 3. translations: the German catalog is installed and used. gettext needs a
# German locale; without one, compile de_DE.UTF-8 into a private LOCPATH.
de_locale=$(locale -a 2>/dev/null | grep -i -m 1 '^de_.*utf-\{0,1\}8$' || true)
if [ -z "$de_locale" ] && mkdir -p "$tmp/locale" && localedef -i de_DE -f UTF-8 "$tmp/locale/de_DE.UTF-8" >/dev/null 2>&1; then
  de_locale=de_DE.UTF-8
  LOCPATH=$tmp/locale
  export LOCPATH
fi
if [ -z "$de_locale" ]; then
  n=$((n + 1)); echo "ok $n # SKIP no German locale and localedef cannot make one (apt-get install locales)"
else
  LC_ALL=$de_locale LANGUAGE=de gossip-agent > "$tmp/out" 2>&1
  if grep -q 'kein Befehl angegeben' "$tmp/out"; then
    ok "gossip-agent speaks German in $de_locale: $(head -n 1 "$tmp/out")"
  else
    not_ok "gossip-agent speaks German in $de_locale"
  fi
  unset LOCPATH
fi

# 4, 5. the plugin entry and a handshake through it
entry=$plugindir/gossip
if [ -x "$entry" ]; then
  ok "plugin entry $entry is executable"
else
  : > "$tmp/out"; not_ok "plugin entry $entry is executable"
fi
cat > "$tmp/handshake.py" <<'EOF'
import json, subprocess, sys
entry = sys.argv[1]
request = {"jsonrpc": "2.0", "id": 1, "method": "scriptling.handshake",
           "params": {"protocol": "1.0", "host": "scriptling", "host_version": "smoke-test",
                      "transports": ["json"], "capabilities": ["remote_objects"]}}
# Scriptling starts the entry without arguments and talks on stdin/stdout.
p = subprocess.run([entry], input=json.dumps(request) + "\n", capture_output=True,
                   text=True, timeout=30)
line = p.stdout.splitlines()[0] if p.stdout else ""
try:
    reply = json.loads(line)
except ValueError:
    sys.exit("no JSON reply (exit %d): %r\nstderr: %s" % (p.returncode, line, p.stderr))
if "error" in reply:
    sys.exit("handshake failed: %s\nstderr: %s" % (reply["error"], p.stderr))
result = reply["result"]
library = result.get("library", {})
functions = [f["name"] for f in result.get("schema", {}).get("functions", [])]
classes = [c["name"] for c in result.get("schema", {}).get("classes", [])]
if result.get("protocol") != "1.0" or library.get("name") != "scriptling.net.gossip":
    sys.exit("unexpected handshake result: %s" % json.dumps(result)[:500])
print("%s %s: %d functions, %d classes (%s)" % (library["name"], library.get("version", "?"),
      len(functions), len(classes), ", ".join(functions[:6])))
EOF
if $PYTHON "$tmp/handshake.py" "$entry" > "$tmp/out" 2>&1; then
  ok "handshake through $entry: $(tail -n 1 "$tmp/out")"
else
  not_ok "handshake through $entry"
fi

# 6. the bridge describes the plugin by name (the packaged module directory)
if scriptling-plugin-bridge --describe gossip > "$tmp/out" 2>&1 && grep -q '"scriptling.net.gossip"' "$tmp/out"; then
  ok "scriptling-plugin-bridge --describe gossip finds the packaged gossip.so"
else
  not_ok "scriptling-plugin-bridge --describe gossip"
fi

# 6b. the --libpath library file re-exports the plugin as Scriptling 0.20.x
# names it (tests/test-wrapper.py runs it through both host models)
libfile=${SCRIPTLING_LIBPATH:-/usr/share/scriptling/lib}/scriptling/net/gossip.py
if grep -q '^import plugin\.scriptling\.net\.gossip as _plugin$' "$libfile" > "$tmp/out" 2>&1 &&
   grep -q '^create = _plugin\.create$' "$libfile"; then
  ok "library file $libfile re-exports plugin.scriptling.net.gossip"
else
  not_ok "library file $libfile"
fi

# 7. C: build and run against the installed library with pkg-config only
if [ -f "$src/tests/test-pkgconfig.sh" ] && sh "$src/tests/test-pkgconfig.sh" --installed > "$tmp/out" 2>&1 &&
   ! grep -q '^not ok' "$tmp/out"; then
  ok "out-of-tree C program built with pkg-config gossip-1.0 runs ($(grep -c '^ok' "$tmp/out") checks)"
else
  not_ok "tests/test-pkgconfig.sh --installed"
fi

# 8. Python: two clusters through the installed typelib
if [ -f "$src/tests/test-gi.py" ] && $PYTHON "$src/tests/test-gi.py" > "$tmp/out" 2>&1 &&
   ! grep -q -E '^not ok|SKIP' "$tmp/out"; then
  ok "Python (PyGObject) exchanges messages through Gossip-1.0 ($(grep -c '^ok' "$tmp/out") checks)"
else
  not_ok "tests/test-gi.py against the installed typelib"
fi

exit "$failed"
