#!/usr/bin/env bash
# demo.sh — a five-node gossip cluster on this machine, step by step: nodes
# joining, metadata spreading, a broadcast, a tagged message and a request,
# a node killed with SIGKILL and detected as suspect then dead, a leader
# election (the leader killed, the survivors electing the next one), a
# Scriptling script joining with the documented "import scriptling.net.gossip",
# graceful leaves.
#
#   GOSSIP_AGENT=_build/gossip/gossip-agent bash data/demo.sh
#
# The agent is $GOSSIP_AGENT, else the one built next to this script
# (../gossip/gossip-agent for an in-tree build, ../_build/gossip/gossip-agent
# for the CI build), else gossip-agent from PATH (installed copy).
#
# The script runs under `scriptling` if one is on PATH (Scriptling 0.20.x's
# command line, which 0.23+ accepts too), else, in a build tree, under
# tests/scriptling_shim.py, which takes the same options and models that host.
#
# Everything runs on 127.0.0.1 with ports picked by the agents (port 0, read
# back from their startup lines). A trap stops every agent this script
# started, on success, error or interruption; logs are kept on failure.
#
# SPDX-License-Identifier: MIT
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
agent="${GOSSIP_AGENT:-}"
if [ -z "$agent" ]; then
  for candidate in "$here/../gossip/gossip-agent" "$here/../_build/gossip/gossip-agent"; do
    if [ -x "$candidate" ]; then
      agent="$candidate"
      break
    fi
  done
fi
if [ -z "$agent" ]; then
  agent="$(command -v gossip-agent || true)"
fi
if [ -z "$agent" ] || [ ! -x "$agent" ]; then
  echo "demo.sh: gossip-agent not found; build it (make) or set GOSSIP_AGENT" >&2
  exit 1
fi
# An uninstalled agent finds the crypto module in its build tree.
if [ -z "${GOSSIP_MODULE_DIR:-}" ] && [ -e "$(dirname "$agent")/.libs/crypto-openssl.so" ]; then
  GOSSIP_MODULE_DIR="$(cd "$(dirname "$agent")/.libs" && pwd)"
  export GOSSIP_MODULE_DIR
fi

N=5
# Fast failure detection, so that the demo takes seconds, not minutes.
FAST=(--health-check-interval 500ms --suspect-timeout 1s --suspect-retry-interval 500ms
      --dead-node-timeout 3s --metadata-gossip-interval 200ms --state-gossip-interval 5s)
# Every node takes part in the leader election from the start (step 5 shows
# it): a joining node first listens for the leader already in place. Faster
# than the defaults (1s, 3s) for the same reason as FAST.
ELECTION=(--election --election-check-interval 500ms --election-leader-timeout 2s)

work="$(mktemp -d "${TMPDIR:-/tmp}/gossip-demo.XXXXXX")"
declare -a pids ids addrs rpcs
status=1

cleanup() {
  local pid left=()
  trap - EXIT INT TERM
  for pid in "${pids[@]}"; do
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
      left+=("$pid")
    fi
  done
  # A graceful leave takes about a second; do not wait forever.
  for _ in $(seq 50); do
    local running=0
    for pid in "${left[@]}"; do
      kill -0 "$pid" 2>/dev/null && running=1
    done
    [ "$running" = 0 ] && break
    sleep 0.1
  done
  for pid in "${left[@]}"; do
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  if [ "$status" = 0 ]; then
    rm -rf "$work"
  else
    echo "demo.sh: failed; agent logs kept in $work" >&2
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'status=130; exit 130' INT TERM

say() {
  printf '\n=== %s\n' "$*"
}

die() {
  echo "demo.sh: $*" >&2
  exit 1
}

now_ms() {
  date +%s%3N
}

# start_node I [OPTION...]: starts agent I and reads its startup line
# ("TIME agent-start ID ADDR rpc=HOST:PORT").
start_node() {
  local i=$1 line _time event
  shift
  "$agent" agent --bind 127.0.0.1:0 --rpc-addr 127.0.0.1:0 "${FAST[@]}" "${ELECTION[@]}" "$@" \
    >"$work/node$i.log" 2>"$work/node$i.err" &
  pids[i]=$!
  for _ in $(seq 100); do
    if grep -q ' agent-start ' "$work/node$i.log" 2>/dev/null; then
      break
    fi
    kill -0 "${pids[i]}" 2>/dev/null || die "node$i did not start: $(cat "$work/node$i.err")"
    sleep 0.1
  done
  line="$(grep -m1 ' agent-start ' "$work/node$i.log")" || die "node$i printed no startup line"
  read -r _time event ids[i] addrs[i] rpcs[i] <<<"$line"
  rpcs[i]="${rpcs[i]#rpc=}"
  printf 'node%d  id %s  gossip %s  control %s\n' "$i" "${ids[i]}" "${addrs[i]}" "${rpcs[i]}"
}

members() {
  local i=$1
  shift
  "$agent" members --rpc-addr "${rpcs[i]}" "$@"
}

# The object of node ID in node I's `members --json`. The shape is fixed:
# {"id","addr","state","metadata":{...},"tags":[...]} with string values.
member_json() {
  members "$1" --json | grep -o "{\"id\":\"$2\"[^{]*{[^}]*},\"tags\":\[[^]]*\]}" || true
}

member_state() {
  member_json "$1" "$2" | sed -n 's/.*"state":"\([a-z]*\)".*/\1/p'
}

count_alive() {
  members "$1" --json | grep -o '"state":"alive"' | wc -l
}

# wait_until SECONDS COMMAND...: polls COMMAND every 100 ms.
wait_until() {
  local deadline=$(( $(now_ms) + $1 * 1000 ))
  shift
  until "$@"; do
    [ "$(now_ms)" -lt "$deadline" ] || return 1
    sleep 0.1
  done
}

all_see_n_alive() {
  local i
  for i in $(seq "$N"); do
    [ "$(count_alive "$i")" = "$N" ] || return 1
  done
}

others_see_version() {
  local i
  for i in $(seq "$N"); do
    [ "$i" = 3 ] && continue
    member_json "$i" "${ids[3]}" | grep -q '"version":"2.0"' || return 1
  done
}

printed_by() {   # printed_by PATTERN NODE...
  local pattern=$1 i
  shift
  for i in "$@"; do
    grep -q -- "$pattern" "$work/node$i.log" || return 1
  done
}

survivors_see() {   # survivors_see STATE... : every survivor sees node5 in one of STATE
  local i state
  for i in 1 2 3 4; do
    state="$(member_state "$i" "${ids[5]}")"
    [[ " $* " == *" $state "* ]] || return 1
  done
}

any_survivor_sees_suspect() {
  local i state
  for i in 1 2 3 4; do
    state="$(member_state "$i" "${ids[5]}")"
    [ "$state" = suspect ] || [ "$state" = dead ] && return 0
  done
  return 1
}

# leader_of I: the id of the leader node I recognises, or "none".
leader_of() {
  "$agent" leader --rpc-addr "${rpcs[$1]}"
}

# node_of ID: the number of the node with that id.
node_of() {
  local i
  for i in $(seq "$N"); do
    [ "${ids[i]}" = "$1" ] && { echo "$i"; return 0; }
  done
  echo "?"
}

# agree_on_leader NODE...: every NODE names the same leader, neither "none"
# nor $old_leader; it is left in $agreed.
old_leader=""
agreed=""
agree_on_leader() {
  local i l first=""
  for i in "$@"; do
    l="$(leader_of "$i")" || return 1
    [ "$l" != none ] && [ "$l" != "$old_leader" ] || return 1
    [ -z "$first" ] && first=$l
    [ "$l" = "$first" ] || return 1
  done
  agreed=$first
}

# lowest_id NODE...: the lowest id among NODE (the election's rule).
lowest_id() {
  local i
  for i in "$@"; do
    echo "${ids[i]}"
  done | LC_ALL=C sort | head -n 1
}

sees_leaving() {   # sees_leaving OBSERVER NODE
  [ "$(member_state "$1" "${ids[$2]}")" = leaving ]
}

echo "gossip-agent: $agent ($("$agent" --version))"
echo "logs: $work"

# ---------------------------------------------------------------------------
say "1. Five agents on 127.0.0.1 join through node1 (all with --election, see step 5)"
t0=$(now_ms)
start_node 1 --tag web --meta role=seed --handle 200
start_node 2 --join "${addrs[1]}" --tag web --meta role=frontend --handle 200
start_node 3 --join "${addrs[1]}" --tag db --meta role=primary --handle 200
start_node 4 --join "${addrs[1]}" --tag db --meta role=replica --handle 200
start_node 5 --join "${addrs[1]}" --tag cache --handle 200
wait_until 30 all_see_n_alive || die "the cluster did not converge within 30 s"
echo "converged: every node sees $N alive members after $(( $(now_ms) - t0 )) ms"
echo
echo "\$ gossip-agent members --rpc-addr ${rpcs[1]}"
members 1

# ---------------------------------------------------------------------------
say "2. Metadata set on node3 spreads to every node"
echo "\$ gossip-agent set-meta --rpc-addr ${rpcs[3]} version 2.0"
t0=$(now_ms)
"$agent" set-meta --rpc-addr "${rpcs[3]}" version 2.0
wait_until 30 others_see_version || die "metadata did not spread within 30 s"
echo "seen by the four other nodes after $(( $(now_ms) - t0 )) ms"
echo "node5's view of node3 (members --json, filtered):"
member_json 5 "${ids[3]}"

# ---------------------------------------------------------------------------
say "3. Messages: a broadcast, a tagged message, a request"
echo "\$ gossip-agent send --rpc-addr ${rpcs[1]} 200 '{\"greeting\": \"hello from node1\"}'"
"$agent" send --rpc-addr "${rpcs[1]}" 200 '{"greeting": "hello from node1"}'
wait_until 30 printed_by "user-message type=200 from=${ids[1]}" 2 3 4 5 ||
  die "the broadcast did not reach every node within 30 s"
for i in 2 3 4 5; do
  printf 'node%d: %s\n' "$i" "$(grep -m1 "user-message type=200 from=${ids[1]}" "$work/node$i.log")"
done

echo
echo "\$ gossip-agent send --rpc-addr ${rpcs[2]} --tag db 200 '\"to the databases\"'"
"$agent" send --rpc-addr "${rpcs[2]}" --tag db 200 '"to the databases"'
wait_until 30 printed_by 'payload="to the databases"' 3 4 || die "the tagged message did not arrive"
for i in 1 3 4 5; do
  if grep -q 'payload="to the databases"' "$work/node$i.log"; then
    printf 'node%d (tag %s): received\n' "$i" "$(member_json 1 "${ids[i]}" | sed -n 's/.*"tags":\[\([^]]*\)\].*/\1/p')"
  else
    printf 'node%d: not addressed\n' "$i"
  fi
done

echo
echo "\$ gossip-agent request --rpc-addr ${rpcs[1]} ${ids[4]} 200 '[1, 2.5, null]'"
"$agent" request --rpc-addr "${rpcs[1]}" --timeout 5s "${ids[4]}" 200 '[1, 2.5, null]'

# ---------------------------------------------------------------------------
say "4. node5 is killed (SIGKILL): the others detect it"
t0=$(now_ms)
# bash reports a job killed by a signal; that is the point here, not news.
{ kill -KILL "${pids[5]}" && wait "${pids[5]}"; } 2>/dev/null || true
pids[5]=""
if wait_until 30 any_survivor_sees_suspect; then
  echo "first suspected after $(( $(now_ms) - t0 )) ms"
else
  die "no survivor noticed the failure within 30 s"
fi
wait_until 30 survivors_see dead || die "node5 was not declared dead everywhere within 30 s"
echo "dead on all four survivors after $(( $(now_ms) - t0 )) ms"
echo "node1's events about node5:"
grep -E "member-(suspect|failed) ${ids[5]}" "$work/node1.log" || true
echo
members 1

# ---------------------------------------------------------------------------
say "5. Leader election: the survivors agree on a leader; killed, it is replaced"
# Rule: the lowest id among the alive eligible nodes leads, while a quorum
# (60% by default) of the known nodes is alive. node5, dead, still counts as
# known: 4 of 5 alive now, 3 of 5 after the leader dies, just enough.
survivors=(1 2 3 4)
t0=$(now_ms)
wait_until 15 agree_on_leader "${survivors[@]}" ||
  die "the survivors did not agree on a leader within 15 s"
leader=$(node_of "$agreed")
echo "all four survivors name node$leader ($agreed)"
if [ "$agreed" = "$(lowest_id "${survivors[@]}")" ]; then
  echo "node$leader has the lowest id of the alive nodes, as the rule says"
fi
for i in "${survivors[@]}"; do
  printf 'node%d$ gossip-agent leader --json\n%s\n' "$i" \
    "$("$agent" leader --rpc-addr "${rpcs[i]}" --json)"
done
echo "node$leader's election events:"
grep -E " (became-leader|leader-elected|stepped-down) " "$work/node$leader.log" || true

echo
echo "node$leader, the leader, is killed (SIGKILL)"
old_leader=$agreed
remaining=()
for i in "${survivors[@]}"; do
  [ "$i" = "$leader" ] || remaining+=("$i")
done
t0=$(now_ms)
{ kill -KILL "${pids[leader]}" && wait "${pids[leader]}"; } 2>/dev/null || true
pids[leader]=""
wait_until 20 agree_on_leader "${remaining[@]}" ||
  die "the survivors did not elect a new leader within 20 s"
new_leader=$(node_of "$agreed")
echo "nodes ${remaining[*]} agree on node$new_leader ($agreed) after $(( $(now_ms) - t0 )) ms"
echo "(quorum: 3 of the 5 known nodes, 60%, are alive; node$leader and node5 are dead)"
if [ "$agreed" = "$(lowest_id "${remaining[@]}")" ]; then
  echo "node$new_leader has the lowest id of the nodes left"
fi
observer=${remaining[0]}
[ "$observer" = "$new_leader" ] && observer=${remaining[1]}
echo "node$observer's events about the leaders:"
grep -E " leader-(lost|elected) ($old_leader|$agreed) " "$work/node$observer.log" | tail -n 2 || true
echo "node$new_leader: $(grep -m1 " became-leader " "$work/node$new_leader.log")"

# ---------------------------------------------------------------------------
say "6. A Scriptling script joins with the documented import and broadcasts"
# The plugin directory Scriptling starts the entry from: the installed one,
# or, in a build tree, an entry running the built bridge on the built module.
builddir="$(cd "$(dirname "$agent")/.." && pwd)"
plugindir=/usr/lib/scriptling/plugins
libpath=/usr/share/scriptling/lib
if [ -x "$builddir/glue/scriptling-plugin-bridge" ] && [ -e "$builddir/plugin/.libs/gossip.so" ]; then
  plugindir="$work/plugins"
  mkdir -p "$plugindir"
  printf '#!/usr/bin/env bash\nexec %q %q\n' "$builddir/glue/scriptling-plugin-bridge" \
    "$builddir/plugin/.libs/gossip.so" > "$plugindir/gossip"
  chmod +x "$plugindir/gossip"
  libpath="$(cd "$here/../plugin" && pwd)"
fi
watchers=("${remaining[@]}")
cat > "$work/join.py" <<EOF
import scriptling.net.gossip as gossip

cluster = gossip.create("127.0.0.1:0", tags=["script"])
cluster.start()
cluster.join("${addrs[${watchers[0]}]}")
for attempt in range(100):
    if cluster.num_alive() > ${#watchers[@]}:
        break
    gossip.run_events("0.1s")
print("script: node " + cluster.node_id() + " sees " + str(cluster.num_alive()) + " alive members")
cluster.send(200, {"greeting": "hello from a Scriptling script"})
gossip.run_events("0.5s")
cluster.leave()
cluster.stop()
EOF
command=(--plugin-dir "$plugindir" --disable-lib scriptling.net.gossip --libpath "$libpath" "$work/join.py")
if command -v scriptling >/dev/null 2>&1; then
  runner=(scriptling)
elif command -v python3 >/dev/null 2>&1 && [ -f "$here/../tests/scriptling_shim.py" ]; then
  runner=(python3 "$here/../tests/scriptling_shim.py" --host-version 0.20)
else
  runner=()
fi
echo "\$ scriptling ${command[*]}"
sed 's/^/    /' "$work/join.py"
if [ "${#runner[@]}" = 0 ]; then
  echo "(neither scriptling nor python3 with tests/scriptling_shim.py is available: not run)"
else
  [ "${runner[0]}" = scriptling ] ||
    echo "(no scriptling on PATH: run by tests/scriptling_shim.py, which models Scriptling 0.20.x)"
  "${runner[@]}" "${command[@]}" || die "the Scriptling script failed"
  wait_until 30 printed_by 'hello from a Scriptling script' "${watchers[@]}" ||
    die "the script's broadcast did not reach every agent within 30 s"
  for i in "${watchers[@]}"; do
    printf 'node%d: %s\n' "$i" "$(grep -m1 'hello from a Scriptling script' "$work/node$i.log")"
  done
fi

# ---------------------------------------------------------------------------
# The last of the nodes left leaves; the first one (which may be the new
# leader) watches, and the rest shut down.
leaver=${remaining[${#remaining[@]} - 1]}
watcher=${remaining[0]}
say "7. node$leaver leaves gracefully (SIGTERM); the rest shut down"
kill -TERM "${pids[leaver]}"
wait "${pids[leaver]}" || die "node$leaver did not exit cleanly"
pids[leaver]=""
wait_until 30 sees_leaving "$watcher" "$leaver" || die "node$watcher did not see node$leaver leave"
echo "node$watcher sees node$leaver as leaving:"
member_json "$watcher" "${ids[leaver]}"
rest=()
for i in "${remaining[@]}"; do
  [ "$i" = "$leaver" ] || rest+=("$i")
done
for i in "${rest[@]}"; do
  kill -TERM "${pids[i]}"
done
for i in "${rest[@]}"; do
  wait "${pids[i]}" || die "node$i did not exit cleanly"
  pids[i]=""
done
echo "all agents stopped"

status=0
echo
echo "demo finished"
