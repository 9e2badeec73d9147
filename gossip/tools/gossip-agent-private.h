/* gossip-agent-private.h — shared parts of the gossip-agent command.
 *
 * gossip-agent is one program with subcommands: "agent" runs a cluster node
 * (gossip-agent-daemon.c, control socket in gossip-agent-control.c), the
 * others are clients of a running agent's control socket
 * (gossip-agent-client.c). Both sides share the event and node JSON forms
 * defined here (gossip-agent-common.c), so `monitor` prints exactly what the
 * agent prints.
 *
 * SPDX-License-Identifier: MIT
 */
#pragma once

#include <glib/gi18n-lib.h>
#include <json-glib/json-glib.h>

#include <gossip/gossip.h>

G_BEGIN_DECLS

/* Exit statuses, documented in gossip-agent(1). */
typedef enum {
  AGENT_EXIT_OK      = 0,
  AGENT_EXIT_FAILURE = 1,   /* runtime failure: bind, connect, agent error */
  AGENT_EXIT_USAGE   = 2,   /* bad options or arguments */
} AgentExit;

/* The control socket address of `agent` and of the client commands. */
#define AGENT_DEFAULT_RPC_ADDR "127.0.0.1:7373"
/* Environment variable overriding the clients' default --rpc-addr. */
#define AGENT_RPC_ADDR_ENV "GOSSIP_RPC_ADDR"

/* Longest control line accepted. A payload may encode to 4 MiB; its JSON
 * text, escaped again as a string inside the request, can be several times
 * larger, so leave room without letting a peer grow a buffer unbounded. */
#define AGENT_MAX_LINE (32 * 1024 * 1024)

/* Entry points of the subcommands. @argv[0] is the command name; each
 * returns an #AgentExit. */
int agent_command_agent       (int argc, char **argv);
int agent_command_members     (int argc, char **argv);
int agent_command_monitor     (int argc, char **argv);
int agent_command_send        (int argc, char **argv);
int agent_command_request     (int argc, char **argv);
int agent_command_leave       (int argc, char **argv);
int agent_command_set_meta    (int argc, char **argv);
int agent_command_delete_meta (int argc, char **argv);
int agent_command_leader      (int argc, char **argv);
int agent_command_stats       (int argc, char **argv);
int agent_command_forget      (int argc, char **argv);

/* Prints "gossip-agent COMMAND: MESSAGE (see 'gossip-agent COMMAND --help')"
 * on one line to stderr and returns AGENT_EXIT_USAGE. */
int   agent_usage_error  (const char *command, const char *format, ...) G_GNUC_PRINTF (2, 3);
/* Prints "gossip-agent COMMAND: MESSAGE" to stderr, returns AGENT_EXIT_FAILURE. */
int   agent_fail         (const char *command, const char *format, ...) G_GNUC_PRINTF (2, 3);

/* "gossip-agent (scriptling-gossip) VERSION" on stdout. */
void      agent_print_version      (void);
/* GOptionArgFunc of --version: prints the version and exits with 0. */
gboolean  agent_version_option     (const char *option_name, const char *value,
                                    gpointer data, GError **error);

/* Parses a user message type (128..65535). */
gboolean  agent_parse_message_type (const char *text, guint *out_type, GError **error);
/* Parses "alive", "suspect", "dead" or "leaving". */
gboolean  agent_parse_state        (const char *text, GossipNodeState *out_state, GError **error);

/* "2026-11-25T20:00:00.123Z" for @real_time_us (g_get_real_time()). */
char     *agent_format_time        (gint64 real_time_us);

/* {"id","addr","state","metadata":{str:str},"tags":[str]}: the node object
 * of `members --json` and of events. Metadata keys are sorted. */
JsonNode *agent_node_to_json       (GossipNode *node);
/* A payload as JSON: None is null, ints and finite doubles are numbers,
 * non-finite doubles the strings "NaN", "Infinity", "-Infinity", bytes
 * {"$bytes": BASE64}, lists arrays and dicts objects. */
JsonNode *agent_payload_to_json    (GVariant *payload);

/* A new event object {"time": @real_time_us, "event": @event[, "node": @node]}. */
JsonObject *agent_event_new        (const char *event, GossipNode *node, gint64 real_time_us);
/* An election event ("leader-elected", "leader-lost", "became-leader",
 * "stepped-down") about @node_id: {"time", "event", "node", "term"}, with
 * @node's object, or {"id": @node_id} when the node is not known (NULL). */
JsonObject *agent_election_event_new (const char *event, const char *node_id, GossipNode *node,
                                      guint64 term, gint64 real_time_us);
/* One output line (no newline) for an event object: compact JSON, or the
 * human form "TIME EVENT ID ADDR ...". */
char     *agent_event_format       (JsonObject *event, gboolean as_json);

/* Compact JSON text of @node (no newline). */
char     *agent_json_to_string     (JsonNode *node);
/* Parses one line holding a JSON object. */
JsonObject *agent_json_parse_object (const char *text, gssize len, GError **error);

/* Typed member access that tolerates a missing or mistyped member (NULL). */
const char *agent_json_get_string  (JsonObject *object, const char *name);
JsonObject *agent_json_get_object  (JsonObject *object, const char *name);
JsonArray  *agent_json_get_array   (JsonObject *object, const char *name);

/* Members are listed sorted by id: UUIDv7 ids then follow start order. */
void      agent_sort_nodes         (GPtrArray *nodes);

/* --- the control socket of a running agent (gossip-agent-control.c) --- */

typedef struct _AgentControl AgentControl;

/* Called once a "leave" command finished; @error is NULL on success. */
typedef void (*AgentLeaveReply) (gpointer reply_data, const GError *error);
/* Asks the agent to leave gracefully and shut down; @reply runs when the
 * leave is done, before the agent stops the control socket. */
typedef void (*AgentLeaveFunc)  (gpointer agent, AgentLeaveReply reply, gpointer reply_data);

/* @election (nullable) answers the "leader" command; NULL without --election. */
AgentControl *agent_control_new       (GossipCluster *cluster, GossipLeaderElection *election,
                                       AgentLeaveFunc leave, gpointer agent);
gboolean      agent_control_listen    (AgentControl *control, GSocketAddress *address,
                                       char **out_bound, GError **error);
/* Queues @line (one JSON event, no newline) to every monitor connection. */
void          agent_control_broadcast (AgentControl *control, const char *line);
/* Stops accepting and closes every connection once its replies are out. */
void          agent_control_stop      (AgentControl *control);
/* Whether every connection is gone, so agent_control_free() is safe. */
gboolean      agent_control_is_idle   (AgentControl *control);
void          agent_control_free      (AgentControl *control);

/* Parses a control address ("host:port", "[v6]:port", ":port" for
 * 127.0.0.1, "localhost:port"). With @loopback_only, other hosts are
 * refused: the control socket has no authentication. Returns the address
 * to connect to or bind, as text in @out_text and/or as a socket address. */
gboolean      agent_parse_rpc_addr    (const char *text, gboolean loopback_only, char **out_text,
                                       GSocketAddress **out_address, GError **error);

G_END_DECLS
