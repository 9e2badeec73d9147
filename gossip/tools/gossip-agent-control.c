/* gossip-agent-control.c — the control socket of a running agent.
 *
 * Protocol (also in gossip-agent(1), CONTROL PROTOCOL): newline-delimited
 * JSON over a loopback TCP connection (default 127.0.0.1:7373). The client
 * sends one JSON object per line, {"cmd": NAME, ...arguments}; the agent
 * answers each with one line, {"ok": true, ...results} or
 * {"ok": false, "error": MESSAGE}. Requests on one connection are answered
 * in order. Commands:
 *
 *   {"cmd":"members"[,"status":STATE]}
 *       -> {"ok":true,"members":[NODE...]}, NODE being
 *          {"id","addr","state","metadata":{KEY:VALUE},"tags":[TAG]}
 *   {"cmd":"monitor"}
 *       -> {"ok":true}, then one event object per line until either side
 *          closes; further input is ignored
 *   {"cmd":"send","type":N,"payload":JSON_TEXT[,"tag":T|"to":ID][,"reliable":B]}
 *       -> {"ok":true}
 *   {"cmd":"request","to":ID,"type":N,"payload":JSON_TEXT[,"timeout_us":N]}
 *       -> {"ok":true,"reply":JSON,"reply_text":TEXT}
 *   {"cmd":"leave"}
 *       -> {"ok":true} once the leave went out; the agent then exits
 *   {"cmd":"set-meta","key":K,"value":V}, {"cmd":"delete-meta","key":K}
 *       -> {"ok":true}
 *   {"cmd":"leader"}
 *       -> {"ok":true,"enabled":B,"leader":ID|null,"is_leader":B,"term":N,
 *           "eligible":N,"quorum":N}
 *          ("enabled" false, "leader" null and zeros without --election)
 *   {"cmd":"forget","node":ID}
 *       -> {"ok":true}
 *   {"cmd":"stats"}
 *       -> {"ok":true,"stats":{NAME:N...}}, the cluster's counters
 *          (GossipClusterStats, gossip-agent(1) STATS)
 *
 * "payload" is the payload's JSON text as a string, parsed by the agent
 * with gossip_payload_from_json(): embedding it as a JSON value would lose
 * the difference between 2 and 2.0 through json-glib. Absent means null.
 *
 * Everything here runs on the main context; cluster calls are thread-safe
 * and asynchronous ones complete on the main context too.
 *
 * SPDX-License-Identifier: MIT
 */
#include "config.h"

#include <string.h>

#include "gossip-agent-private.h"
#include "gossip-payload-private.h"

/* A monitor that reads slower than events arrive is dropped rather than
 * buffered without bound. */
#define MONITOR_MAX_BACKLOG (64 * 1024 * 1024)
/* Loopback only, but still bounded. */
#define MAX_CONNECTIONS 256
#define READ_CHUNK 65536

struct _AgentControl
{
  GSocketService *service;
  GossipCluster  *cluster;
  GossipLeaderElection *election;   /* NULL without --election */
  AgentLeaveFunc  leave;
  gpointer        agent;
  GList          *conns;      /* Conn*, one reference each */
  guint           live;       /* Conn objects not yet finalized */
  gboolean        stopped;
};

typedef struct {
  gint               ref_count;
  AgentControl      *control;
  GSocketConnection *connection;
  GCancellable      *cancellable;
  GByteArray        *in;
  GQueue             out;          /* GBytes*, head being written */
  gsize              out_bytes;
  gboolean           reading;
  gboolean           writing;
  gboolean           eof;          /* the client closed its side */
  gboolean           busy;         /* an asynchronous command is running */
  gboolean           monitor;
  gboolean           closing;      /* close once the replies are out */
  gboolean           closed;
} Conn;

static void conn_pump (Conn *c);

static Conn *
conn_ref (Conn *c)
{
  c->ref_count++;
  return c;
}

static void
conn_unref (Conn *c)
{
  if (--c->ref_count > 0)
    return;
  c->control->live--;
  g_object_unref (c->connection);
  g_object_unref (c->cancellable);
  g_byte_array_unref (c->in);
  g_queue_clear_full (&c->out, (GDestroyNotify) g_bytes_unref);
  g_free (c);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Conn, conn_unref)

/* Forgets the connection: pending reads and writes are cancelled and the
 * socket closes when the last operation lets go of it. */
static void
conn_close (Conn *c)
{
  GList *link;

  if (c->closed)
    return;
  c->closed = TRUE;
  g_cancellable_cancel (c->cancellable);
  link = g_list_find (c->control->conns, c);
  if (link != NULL)
    {
      c->control->conns = g_list_delete_link (c->control->conns, link);
      conn_unref (c);
    }
}

static void conn_write_next (Conn *c);

static void
on_written (GObject      *source,
            GAsyncResult *result,
            gpointer      user_data)
{
  g_autoptr(Conn) c = user_data;
  g_autoptr(GError) error = NULL;
  GBytes *done;

  c->writing = FALSE;
  if (!g_output_stream_write_all_finish (G_OUTPUT_STREAM (source), result, NULL, &error))
    {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        g_debug ("control connection: write failed: %s", error->message);
      conn_close (c);
      return;
    }
  done = g_queue_pop_head (&c->out);
  c->out_bytes -= g_bytes_get_size (done);
  g_bytes_unref (done);
  conn_write_next (c);
}

static void
conn_write_next (Conn *c)
{
  GBytes *bytes;
  GOutputStream *out;

  if (c->closed || c->writing)
    return;
  bytes = g_queue_peek_head (&c->out);
  if (bytes == NULL)
    {
      if (c->closing && !c->busy)
        conn_close (c);
      return;
    }
  c->writing = TRUE;
  out = g_io_stream_get_output_stream (G_IO_STREAM (c->connection));
  /* The head of the queue keeps the data alive until the write is done. */
  g_output_stream_write_all_async (out, g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes),
                                   G_PRIORITY_DEFAULT, c->cancellable, on_written, conn_ref (c));
}

static void
conn_send_line (Conn       *c,
                const char *text)
{
  gsize len = strlen (text);
  char *line;

  if (c->closed)
    return;
  if (c->monitor && c->out_bytes + len + 1 > MONITOR_MAX_BACKLOG)
    {
      g_message (_("dropping a monitor of the control socket that does not keep up"));
      conn_close (c);
      return;
    }
  line = g_malloc (len + 1);
  memcpy (line, text, len);
  line[len] = '\n';
  g_queue_push_tail (&c->out, g_bytes_new_take (line, len + 1));
  c->out_bytes += len + 1;
  conn_write_next (c);
}

static void
conn_send_object (Conn       *c,
                  JsonObject *object)
{
  g_autoptr(JsonNode) node = json_node_init_object (json_node_alloc (), object);
  g_autofree char *text = agent_json_to_string (node);

  conn_send_line (c, text);
}

/* Answers {"ok":true} plus the members of @results (may be NULL). */
static void
reply_ok (Conn       *c,
          JsonObject *results)
{
  g_autoptr(JsonObject) reply = json_object_new ();

  json_object_set_boolean_member (reply, "ok", TRUE);
  if (results != NULL)
    {
      /* In the order the results were set: the documented one. */
      g_autoptr(GList) names = json_object_get_members (results);

      for (GList *l = names; l != NULL; l = l->next)
        json_object_set_member (reply, l->data,
                                json_node_copy (json_object_get_member (results, l->data)));
    }
  conn_send_object (c, reply);
}

static void
reply_error (Conn       *c,
             const char *message)
{
  g_autoptr(JsonObject) reply = json_object_new ();

  json_object_set_boolean_member (reply, "ok", FALSE);
  json_object_set_string_member (reply, "error", message);
  conn_send_object (c, reply);
}

/* --- argument access --------------------------------------------------- */

static gboolean
arg_string (JsonObject  *request,
            const char  *name,
            gboolean     required,
            const char **out,
            GError     **error)
{
  JsonNode *node = json_object_get_member (request, name);

  *out = NULL;
  if (node == NULL || JSON_NODE_HOLDS_NULL (node))
    {
      if (!required)
        return TRUE;
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                   _("missing argument \"%s\""), name);
      return FALSE;
    }
  if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_STRING)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                   _("argument \"%s\" must be a string"), name);
      return FALSE;
    }
  *out = json_node_get_string (node);
  return TRUE;
}

static gboolean
arg_int (JsonObject *request,
         const char *name,
         gboolean    required,
         gint64      fallback,
         gint64     *out,
         GError    **error)
{
  JsonNode *node = json_object_get_member (request, name);

  *out = fallback;
  if (node == NULL || JSON_NODE_HOLDS_NULL (node))
    {
      if (!required)
        return TRUE;
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                   _("missing argument \"%s\""), name);
      return FALSE;
    }
  if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_INT64)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                   _("argument \"%s\" must be an integer"), name);
      return FALSE;
    }
  *out = json_node_get_int (node);
  return TRUE;
}

static gboolean
arg_boolean (JsonObject *request,
             const char *name,
             gboolean   *out,
             GError    **error)
{
  JsonNode *node = json_object_get_member (request, name);

  *out = FALSE;
  if (node == NULL || JSON_NODE_HOLDS_NULL (node))
    return TRUE;
  if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_BOOLEAN)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                   _("argument \"%s\" must be true or false"), name);
      return FALSE;
    }
  *out = json_node_get_boolean (node);
  return TRUE;
}

static gboolean
arg_type (JsonObject *request,
          guint      *out,
          GError    **error)
{
  gint64 type;

  if (!arg_int (request, "type", TRUE, 0, &type, error))
    return FALSE;
  if (type < 0 || type > G_MAXUINT)
    type = G_MAXUINT;   /* reported as out of range below */
  if (!gossip_cluster_check_message_type ((guint) type, error))
    return FALSE;
  *out = (guint) type;
  return TRUE;
}

/* The payload as an owned GVariant; an absent payload is None. */
static GVariant *
arg_payload (JsonObject *request,
             GError    **error)
{
  const char *text;

  if (!arg_string (request, "payload", FALSE, &text, error))
    return NULL;
  if (text == NULL)
    return g_variant_ref_sink (gossip_payload_none ());
  return gossip_payload_from_json (text, error);
}

/* --- commands ---------------------------------------------------------- */

static gboolean
cmd_members (Conn       *c,
             JsonObject *request,
             GError    **error)
{
  g_autoptr(GPtrArray) nodes = gossip_cluster_get_nodes (c->control->cluster);
  g_autoptr(JsonObject) results = json_object_new ();
  JsonArray *members = json_array_new ();
  GossipNodeState state = GOSSIP_NODE_ALIVE;
  const char *status;

  json_object_set_array_member (results, "members", members);
  if (!arg_string (request, "status", FALSE, &status, error))
    return FALSE;
  if (status != NULL && !agent_parse_state (status, &state, error))
    return FALSE;

  agent_sort_nodes (nodes);
  for (guint i = 0; i < nodes->len; i++)
    {
      GossipNode *node = nodes->pdata[i];

      if (status == NULL || gossip_node_get_state (node) == state)
        json_array_add_element (members, agent_node_to_json (node));
    }
  reply_ok (c, results);
  return TRUE;
}

static gboolean
cmd_monitor (Conn       *c,
             JsonObject *request,
             GError    **error)
{
  reply_ok (c, NULL);
  c->monitor = TRUE;
  return TRUE;
}

static gboolean
cmd_send (Conn       *c,
          JsonObject *request,
          GError    **error)
{
  GossipCluster *cluster = c->control->cluster;
  g_autoptr(GVariant) payload = NULL;
  const char *tag, *to;
  gboolean reliable, ok;
  GossipSendFlags flags;
  guint type;

  if (!arg_type (request, &type, error) ||
      !arg_string (request, "tag", FALSE, &tag, error) ||
      !arg_string (request, "to", FALSE, &to, error) ||
      !arg_boolean (request, "reliable", &reliable, error))
    return FALSE;
  if (tag != NULL && to != NULL)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                           _("\"tag\" and \"to\" cannot be used together"));
      return FALSE;
    }
  payload = arg_payload (request, error);
  if (payload == NULL)
    return FALSE;

  flags = reliable ? GOSSIP_SEND_RELIABLE : GOSSIP_SEND_NONE;
  if (to != NULL)
    ok = gossip_cluster_send_to (cluster, to, type, payload, flags, error);
  else if (tag != NULL)
    ok = gossip_cluster_send_tagged (cluster, tag, type, payload, flags, error);
  else
    ok = gossip_cluster_send (cluster, type, payload, flags, error);
  if (!ok)
    return FALSE;
  reply_ok (c, NULL);
  return TRUE;
}

static void
on_request_done (GObject      *source,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  g_autoptr(Conn) c = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(JsonObject) results = NULL;
  g_autofree char *text = NULL;

  reply = gossip_cluster_send_request_finish (GOSSIP_CLUSTER (source), result, &error);
  c->busy = FALSE;
  if (c->closed)
    return;
  if (reply == NULL)
    reply_error (c, error->message);
  else
    {
      results = json_object_new ();
      text = gossip_payload_to_string (reply);
      json_object_set_member (results, "reply", agent_payload_to_json (reply));
      json_object_set_string_member (results, "reply_text", text);
      reply_ok (c, results);
    }
  conn_pump (c);
}

static gboolean
cmd_request (Conn       *c,
             JsonObject *request,
             GError    **error)
{
  g_autoptr(GVariant) payload = NULL;
  const char *to;
  gint64 timeout_us;
  guint type;

  if (!arg_string (request, "to", TRUE, &to, error) ||
      !arg_type (request, &type, error) ||
      !arg_int (request, "timeout_us", FALSE, 0, &timeout_us, error))
    return FALSE;
  if (timeout_us < 0)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                           _("\"timeout_us\" must not be negative"));
      return FALSE;
    }
  payload = arg_payload (request, error);
  if (payload == NULL)
    return FALSE;

  /* Later requests on this connection wait, so replies stay in order. */
  c->busy = TRUE;
  gossip_cluster_send_request_async (c->control->cluster, to, type, payload, timeout_us,
                                     c->cancellable, on_request_done, conn_ref (c));
  return TRUE;
}

static void
on_leave_done (gpointer      user_data,
               const GError *error)
{
  g_autoptr(Conn) c = user_data;

  c->busy = FALSE;
  if (c->closed)
    return;
  if (error != NULL)
    reply_error (c, error->message);
  else
    reply_ok (c, NULL);
  conn_pump (c);
}

static gboolean
cmd_leave (Conn       *c,
           JsonObject *request,
           GError    **error)
{
  c->busy = TRUE;
  c->control->leave (c->control->agent, on_leave_done, conn_ref (c));
  return TRUE;
}

static gboolean
cmd_set_meta (Conn       *c,
              JsonObject *request,
              GError    **error)
{
  const char *key, *value;

  if (!arg_string (request, "key", TRUE, &key, error) ||
      !arg_string (request, "value", TRUE, &value, error) ||
      !gossip_cluster_set_metadata (c->control->cluster, key, value, error))
    return FALSE;
  reply_ok (c, NULL);
  return TRUE;
}

static gboolean
cmd_delete_meta (Conn       *c,
                 JsonObject *request,
                 GError    **error)
{
  const char *key;

  if (!arg_string (request, "key", TRUE, &key, error) ||
      !gossip_cluster_delete_metadata (c->control->cluster, key, error))
    return FALSE;
  reply_ok (c, NULL);
  return TRUE;
}

static gboolean
cmd_leader (Conn       *c,
            JsonObject *request,
            GError    **error)
{
  GossipLeaderElection *election = c->control->election;
  g_autoptr(JsonObject) results = json_object_new ();
  g_autofree char *leader = NULL;
  GossipLeaderElectionStats stats = { 0 };
  guint64 term = 0;

  if (election != NULL)
    {
      leader = gossip_leader_election_get_leader_id (election);
      term = gossip_leader_election_get_term (election);
      gossip_leader_election_get_stats (election, &stats);
    }
  json_object_set_boolean_member (results, "enabled", election != NULL);
  if (leader != NULL)
    json_object_set_string_member (results, "leader", leader);
  else
    json_object_set_null_member (results, "leader");
  /* Derived from the same reading as "leader", so that the answer never
   * names another leader while claiming to be it. */
  json_object_set_boolean_member (results, "is_leader",
                                  leader != NULL &&
                                  strcmp (leader, gossip_cluster_get_node_id (c->control->cluster)) == 0);
  json_object_set_int_member (results, "term", (gint64) MIN (term, (guint64) G_MAXINT64));
  json_object_set_int_member (results, "eligible", stats.eligible);
  json_object_set_int_member (results, "quorum", stats.quorum);
  reply_ok (c, results);
  return TRUE;
}

static gboolean
cmd_forget (Conn       *c,
            JsonObject *request,
            GError    **error)
{
  const char *node;

  if (!arg_string (request, "node", TRUE, &node, error))
    return FALSE;
  if (c->control->election == NULL)
    {
      g_set_error_literal (error, GOSSIP_CLUSTER_ERROR, GOSSIP_CLUSTER_ERROR_FAILED,
                           _("the agent takes part in no election (start it with --election)"));
      return FALSE;
    }
  if (!gossip_leader_election_forget (c->control->election, node, error))
    return FALSE;
  reply_ok (c, NULL);
  return TRUE;
}

static gboolean
cmd_stats (Conn       *c,
           JsonObject *request,
           GError    **error)
{
  g_autoptr(JsonObject) results = json_object_new ();
  JsonObject *counters = json_object_new ();
  GossipClusterStats st;

  gossip_cluster_get_stats (c->control->cluster, &st);
  {
    const struct { const char *name; guint64 value; } rows[] = {
#define ROW(f) { #f, st.f }
      ROW (frames_received), ROW (frames_dropped), ROW (frames_rejected), ROW (auth_rejected),
      ROW (frames_replayed), ROW (frames_fenced), ROW (updates_refused), ROW (members_refused),
      ROW (broadcasts_dropped), ROW (dedup_evicted), ROW (probes_refused), ROW (lookups_refused),
      ROW (streams_refused), ROW (messages_delivered), ROW (bytes_sent), ROW (bytes_received),
      ROW (probes_sent), ROW (indirect_probes_sent), ROW (suspicions_raised),
#undef ROW
    };

    for (gsize i = 0; i < G_N_ELEMENTS (rows); i++)
      json_object_set_int_member (counters, rows[i].name, (gint64) MIN (rows[i].value, (guint64) G_MAXINT64));
  }
  json_object_set_int_member (counters, "local_health", st.local_health);
  json_object_set_object_member (results, "stats", counters);
  reply_ok (c, results);
  return TRUE;
}

static const struct {
  const char *name;
  gboolean (*run) (Conn *c, JsonObject *request, GError **error);
} control_commands[] = {
  { "members",     cmd_members },
  { "monitor",     cmd_monitor },
  { "send",        cmd_send },
  { "request",     cmd_request },
  { "leave",       cmd_leave },
  { "set-meta",    cmd_set_meta },
  { "delete-meta", cmd_delete_meta },
  { "leader",      cmd_leader },
  { "forget",      cmd_forget },
  { "stats",       cmd_stats },
};

static void
conn_handle_line (Conn       *c,
                  const char *line,
                  gsize       len)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) request = NULL;
  const char *cmd;

  if (len == 0)
    return;   /* blank lines keep interactive use (nc) forgiving */
  request = agent_json_parse_object (line, (gssize) len, &error);
  if (request == NULL)
    {
      g_autofree char *message = g_strdup_printf (_("malformed request: %s"), error->message);
      reply_error (c, message);
      return;
    }
  if (!arg_string (request, "cmd", TRUE, &cmd, &error))
    {
      reply_error (c, error->message);
      return;
    }
  for (gsize i = 0; i < G_N_ELEMENTS (control_commands); i++)
    if (strcmp (control_commands[i].name, cmd) == 0)
      {
        if (!control_commands[i].run (c, request, &error))
          reply_error (c, error->message);
        return;
      }
  g_set_error (&error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED, _("unknown command \"%s\""), cmd);
  reply_error (c, error->message);
}

static void conn_read (Conn *c);

/* Handles the complete lines received, one at a time so that an
 * asynchronous command holds back the next, then reads more. */
static void
conn_pump (Conn *c)
{
  while (!c->closed && !c->closing && !c->busy && !c->monitor)
    {
      guint8 *nl = memchr (c->in->data, '\n', c->in->len);
      gsize len;
      g_autofree char *line = NULL;

      if (nl == NULL)
        break;
      len = nl - c->in->data;
      line = g_strndup ((const char *) c->in->data, len);
      g_byte_array_remove_range (c->in, 0, len + 1);
      if (len > 0 && line[len - 1] == '\r')
        line[--len] = '\0';
      conn_handle_line (c, line, len);
    }

  if (c->closed || c->busy)
    return;
  if (c->closing)
    {
      conn_write_next (c);   /* closes once the queue is empty */
      return;
    }
  if (c->monitor)
    g_byte_array_set_size (c->in, 0);   /* a monitor's input means nothing */
  else if (c->in->len >= AGENT_MAX_LINE)
    {
      reply_error (c, _("request line too long"));
      c->closing = TRUE;
      conn_write_next (c);
      return;
    }
  if (c->eof)
    {
      c->closing = TRUE;
      conn_write_next (c);
      return;
    }
  conn_read (c);
}

static void
on_read (GObject      *source,
         GAsyncResult *result,
         gpointer      user_data)
{
  g_autoptr(Conn) c = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) bytes = NULL;

  bytes = g_input_stream_read_bytes_finish (G_INPUT_STREAM (source), result, &error);
  c->reading = FALSE;
  if (c->closed)
    return;
  if (bytes == NULL)
    {
      g_debug ("control connection: read failed: %s", error->message);
      conn_close (c);
      return;
    }
  if (g_bytes_get_size (bytes) == 0)
    {
      /* A monitor ends with its client; a plain client may have
       * half-closed after its last request, which still gets answered. */
      if (c->monitor)
        {
          conn_close (c);
          return;
        }
      c->eof = TRUE;
    }
  else
    g_byte_array_append (c->in, g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes));
  conn_pump (c);
}

static void
conn_read (Conn *c)
{
  GInputStream *in;

  if (c->reading || c->closed)
    return;
  c->reading = TRUE;
  in = g_io_stream_get_input_stream (G_IO_STREAM (c->connection));
  g_input_stream_read_bytes_async (in, READ_CHUNK, G_PRIORITY_DEFAULT, c->cancellable,
                                   on_read, conn_ref (c));
}

static gboolean
on_incoming (GSocketService    *service,
             GSocketConnection *connection,
             GObject           *source_object,
             gpointer           user_data)
{
  AgentControl *control = user_data;
  Conn *c;

  if (control->stopped || g_list_length (control->conns) >= MAX_CONNECTIONS)
    {
      g_message (_("refusing a control connection: too many connections"));
      return TRUE;   /* dropping our reference closes it */
    }

  c = g_new0 (Conn, 1);
  c->ref_count = 1;
  c->control = control;
  c->connection = g_object_ref (connection);
  c->cancellable = g_cancellable_new ();
  c->in = g_byte_array_new ();
  g_queue_init (&c->out);
  control->live++;
  control->conns = g_list_prepend (control->conns, c);
  conn_read (c);
  return TRUE;
}

AgentControl *
agent_control_new (GossipCluster        *cluster,
                   GossipLeaderElection *election,
                   AgentLeaveFunc        leave,
                   gpointer              agent)
{
  AgentControl *control = g_new0 (AgentControl, 1);

  control->cluster = g_object_ref (cluster);
  control->election = election != NULL ? g_object_ref (election) : NULL;
  control->leave = leave;
  control->agent = agent;
  return control;
}

gboolean
agent_control_listen (AgentControl   *control,
                      GSocketAddress *address,
                      char          **out_bound,
                      GError        **error)
{
  g_autoptr(GSocketAddress) effective = NULL;
  g_autoptr(GError) local_error = NULL;
  g_autofree char *host = NULL;
  GInetSocketAddress *inet;

  g_return_val_if_fail (control->service == NULL, FALSE);

  control->service = g_socket_service_new ();
  if (!g_socket_listener_add_address (G_SOCKET_LISTENER (control->service), address,
                                      G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP,
                                      NULL, &effective, &local_error))
    {
      g_autofree char *wanted = NULL;

      inet = G_INET_SOCKET_ADDRESS (address);
      host = g_inet_address_to_string (g_inet_socket_address_get_address (inet));
      wanted = g_strdup_printf (strchr (host, ':') ? "[%s]:%u" : "%s:%u", host,
                                g_inet_socket_address_get_port (inet));
      g_set_error (error, local_error->domain, local_error->code,
                   _("cannot listen on the control address %s: %s"), wanted, local_error->message);
      g_clear_object (&control->service);
      return FALSE;
    }

  inet = G_INET_SOCKET_ADDRESS (effective);
  host = g_inet_address_to_string (g_inet_socket_address_get_address (inet));
  *out_bound = g_strdup_printf (strchr (host, ':') ? "[%s]:%u" : "%s:%u", host,
                                g_inet_socket_address_get_port (inet));
  g_signal_connect (control->service, "incoming", G_CALLBACK (on_incoming), control);
  g_socket_service_start (control->service);
  return TRUE;
}

void
agent_control_broadcast (AgentControl *control,
                         const char   *line)
{
  g_autoptr(GPtrArray) monitors = g_ptr_array_new_with_free_func ((GDestroyNotify) conn_unref);

  /* Sending may drop a slow monitor, which edits the list: walk a copy. */
  for (GList *l = control->conns; l != NULL; l = l->next)
    {
      Conn *c = l->data;
      if (c->monitor && !c->closed)
        g_ptr_array_add (monitors, conn_ref (c));
    }
  for (guint i = 0; i < monitors->len; i++)
    conn_send_line (monitors->pdata[i], line);
}

void
agent_control_stop (AgentControl *control)
{
  g_autoptr(GPtrArray) conns = g_ptr_array_new_with_free_func ((GDestroyNotify) conn_unref);

  if (control->stopped)
    return;
  control->stopped = TRUE;
  if (control->service != NULL)
    {
      g_socket_service_stop (control->service);
      g_socket_listener_close (G_SOCKET_LISTENER (control->service));
    }

  for (GList *l = control->conns; l != NULL; l = l->next)
    g_ptr_array_add (conns, conn_ref (l->data));
  for (guint i = 0; i < conns->len; i++)
    {
      Conn *c = conns->pdata[i];

      c->closing = TRUE;
      conn_write_next (c);
    }
}

gboolean
agent_control_is_idle (AgentControl *control)
{
  return control->conns == NULL && control->live == 0;
}

void
agent_control_free (AgentControl *control)
{
  if (control == NULL)
    return;
  /* Connections point back to us: only free once they are gone. */
  g_return_if_fail (agent_control_is_idle (control));
  if (control->service != NULL)
    {
      g_signal_handlers_disconnect_by_data (control->service, control);
      g_socket_service_stop (control->service);
      g_socket_listener_close (G_SOCKET_LISTENER (control->service));
      g_object_unref (control->service);
    }
  g_clear_object (&control->election);
  g_object_unref (control->cluster);
  g_free (control);
}
