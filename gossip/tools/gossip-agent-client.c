/* gossip-agent-client.c — the commands that talk to a running agent over
 * its control socket (protocol in gossip-agent-control.c).
 *
 * SPDX-License-Identifier: MIT
 */
#include "config.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <glib-unix.h>

#include "gossip-agent-private.h"
#include "gossip-payload-private.h"

/* How long a command waits for the agent; requests add their own timeout. */
#define CLIENT_TIMEOUT_S 30

typedef struct {
  const char        *command;
  char              *rpc_addr;     /* as given, or the default */
  char              *target;       /* rpc_addr resolved to "host:port" */
  char             **args;         /* the arguments after the options */
  GSocketConnection *connection;
  GDataInputStream  *in;
} Client;

static void
client_clear (Client *client)
{
  g_clear_object (&client->in);
  g_clear_object (&client->connection);
  g_clear_pointer (&client->rpc_addr, g_free);
  g_clear_pointer (&client->target, g_free);
  g_clear_pointer (&client->args, g_strfreev);
}

/* Parses the command line of a client command into @client->args.
 * Returns -1 to go on, or the exit status. */
static int
parse_options (Client             *client,
               const char         *parameters,
               const char         *summary,
               const GOptionEntry *entries,
               guint               min_args,
               guint               max_args,
               int                 argc,
               char              **argv)
{
  g_autoptr(GOptionContext) context = g_option_context_new (parameters);
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocketAddress) address = NULL;
  /* G_OPTION_REMAINING collects the arguments, "--" handled: a payload
   * such as -5 goes after "--". */
  const GOptionEntry common[] = {
    { "rpc-addr", 'r', 0, G_OPTION_ARG_STRING, &client->rpc_addr,
      N_("Control address of the agent (default: $GOSSIP_RPC_ADDR or 127.0.0.1:7373)"),
      N_("HOST:PORT") },
    { "version", 'V', G_OPTION_FLAG_NO_ARG, G_OPTION_ARG_CALLBACK, (gpointer) agent_version_option,
      N_("Show the version and exit"), NULL },
    { G_OPTION_REMAINING, 0, 0, G_OPTION_ARG_STRING_ARRAY, &client->args, NULL, NULL },
    { NULL }
  };
  guint n_args;

  g_option_context_set_translation_domain (context, GETTEXT_PACKAGE);
  g_option_context_set_summary (context, summary);
  g_option_context_add_main_entries (context, common, GETTEXT_PACKAGE);
  if (entries != NULL)
    g_option_context_add_main_entries (context, entries, GETTEXT_PACKAGE);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    return agent_usage_error (client->command, "%s", error->message);

  n_args = client->args != NULL ? g_strv_length (client->args) : 0;
  if (n_args < min_args)
    return agent_usage_error (client->command, _("missing arguments: %s"), parameters);
  if (n_args > max_args)
    return agent_usage_error (client->command, _("unexpected argument \"%s\""), client->args[max_args]);

  if (client->rpc_addr == NULL)
    {
      const char *env = g_getenv (AGENT_RPC_ADDR_ENV);
      client->rpc_addr = g_strdup (env != NULL && *env != '\0' ? env : AGENT_DEFAULT_RPC_ADDR);
    }
  if (!agent_parse_rpc_addr (client->rpc_addr, FALSE, &client->target, NULL, &error))
    return agent_usage_error (client->command, "%s", error->message);
  return -1;
}

static gboolean
client_connect (Client  *client,
                guint    timeout_s,
                GError **error)
{
  g_autoptr(GSocketClient) socket_client = g_socket_client_new ();
  g_autoptr(GError) local_error = NULL;
  const char *target = client->target;

  /* The timeout also bounds every read and write on the connection. */
  g_socket_client_set_timeout (socket_client, timeout_s);
  client->connection = g_socket_client_connect_to_host (socket_client, target, 0, NULL, &local_error);
  if (client->connection == NULL)
    {
      if (g_error_matches (local_error, G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED))
        g_set_error (error, local_error->domain, local_error->code,
                     _("no agent listens on %s (start one with 'gossip-agent agent', "
                       "or use --rpc-addr)"), target);
      else
        g_set_error (error, local_error->domain, local_error->code,
                     _("cannot connect to the agent at %s: %s"), target, local_error->message);
      return FALSE;
    }
  client->in = g_data_input_stream_new (g_io_stream_get_input_stream (G_IO_STREAM (client->connection)));
  g_data_input_stream_set_newline_type (client->in, G_DATA_STREAM_NEWLINE_TYPE_LF);
  return TRUE;
}

static gboolean
client_send (Client     *client,
             JsonObject *request,
             GError    **error)
{
  g_autoptr(JsonNode) node = json_node_init_object (json_node_alloc (), request);
  g_autofree char *text = agent_json_to_string (node);
  g_autofree char *line = g_strconcat (text, "\n", NULL);
  GOutputStream *out = g_io_stream_get_output_stream (G_IO_STREAM (client->connection));

  if (!g_output_stream_write_all (out, line, strlen (line), NULL, NULL, error))
    {
      g_prefix_error (error, _("cannot send to the agent at %s: "), client->target);
      return FALSE;
    }
  return TRUE;
}

/* Reads one response; fails with the agent's message when "ok" is false. */
static JsonObject *
client_receive (Client  *client,
                GError **error)
{
  g_autoptr(GError) local_error = NULL;
  g_autofree char *line = NULL;
  g_autoptr(JsonObject) response = NULL;
  JsonNode *ok;
  gsize len = 0;

  line = g_data_input_stream_read_line (client->in, &len, NULL, &local_error);
  if (line == NULL)
    {
      if (local_error != NULL)
        g_set_error (error, local_error->domain, local_error->code,
                     _("no answer from the agent at %s: %s"), client->target, local_error->message);
      else
        g_set_error (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED,
                     _("the agent at %s closed the connection"), client->target);
      return NULL;
    }
  response = agent_json_parse_object (line, (gssize) len, &local_error);
  if (response == NULL)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   _("malformed answer from the agent at %s: %s"), client->target,
                   local_error->message);
      return NULL;
    }
  ok = json_object_get_member (response, "ok");
  if (ok == NULL || !JSON_NODE_HOLDS_VALUE (ok) || json_node_get_value_type (ok) != G_TYPE_BOOLEAN ||
      !json_node_get_boolean (ok))
    {
      const char *message = agent_json_get_string (response, "error");
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_FAILED,
                           message != NULL ? message : _("the agent refused the request"));
      return NULL;
    }
  return g_steal_pointer (&response);
}

/* Connects, sends @request and returns the successful response. */
static JsonObject *
client_call (Client     *client,
             JsonObject *request,
             guint       timeout_s,
             GError    **error)
{
  if (!client_connect (client, timeout_s, error) || !client_send (client, request, error))
    return NULL;
  return client_receive (client, error);
}

static JsonObject *
new_request (const char *cmd)
{
  JsonObject *request = json_object_new ();

  json_object_set_string_member (request, "cmd", cmd);
  return request;
}

/* --- members ------------------------------------------------------------- */

static char *
join_tags (JsonObject *node)
{
  JsonArray *tags = agent_json_get_array (node, "tags");
  GString *out = g_string_new (NULL);

  for (guint i = 0; tags != NULL && i < json_array_get_length (tags); i++)
    {
      JsonNode *element = json_array_get_element (tags, i);
      const char *tag = JSON_NODE_HOLDS_VALUE (element) ? json_node_get_string (element) : NULL;
      if (tag == NULL)
        continue;
      if (out->len > 0)
        g_string_append_c (out, ',');
      g_string_append (out, tag);
    }
  return g_string_free (out, FALSE);
}

static char *
join_metadata (JsonObject *node)
{
  JsonObject *metadata = agent_json_get_object (node, "metadata");
  g_autoptr(GList) keys = NULL;
  GString *out = g_string_new (NULL);

  if (metadata != NULL)
    keys = g_list_sort (json_object_get_members (metadata), (GCompareFunc) strcmp);
  for (GList *l = keys; l != NULL; l = l->next)
    {
      const char *value = agent_json_get_string (metadata, l->data);
      if (out->len > 0)
        g_string_append_c (out, ',');
      g_string_append_printf (out, "%s=%s", (const char *) l->data, value != NULL ? value : "");
    }
  return g_string_free (out, FALSE);
}

static const char *
non_null (const char *text)
{
  return text != NULL ? text : "";
}

static void
print_cell (GString    *line,
            const char *text,
            guint       width,
            gboolean    last)
{
  g_string_append (line, text);
  if (!last)
    for (glong pad = (glong) width - g_utf8_strlen (text, -1) + 2; pad > 0; pad--)
      g_string_append_c (line, ' ');
}

static void
print_members_table (JsonArray *members)
{
  enum { COL_ID, COL_ADDR, COL_STATUS, COL_TAGS, COL_META, N_COLS };
  const char *headers[N_COLS] = {
    _("ID"), _("Address"), _("Status"), _("Tags"), _("Metadata"),
  };
  guint n = json_array_get_length (members);
  g_autoptr(GPtrArray) cells = g_ptr_array_new_with_free_func (g_free);
  guint width[N_COLS];

  for (guint c = 0; c < N_COLS; c++)
    width[c] = g_utf8_strlen (headers[c], -1);
  for (guint i = 0; i < n; i++)
    {
      JsonNode *element = json_array_get_element (members, i);
      JsonObject *node = JSON_NODE_HOLDS_OBJECT (element) ? json_node_get_object (element) : NULL;
      char *row[N_COLS];

      if (node == NULL)
        continue;
      row[COL_ID] = g_strdup (non_null (agent_json_get_string (node, "id")));
      row[COL_ADDR] = g_strdup (non_null (agent_json_get_string (node, "addr")));
      row[COL_STATUS] = g_strdup (non_null (agent_json_get_string (node, "state")));
      row[COL_TAGS] = join_tags (node);
      row[COL_META] = join_metadata (node);
      for (guint c = 0; c < N_COLS; c++)
        {
          width[c] = MAX (width[c], (guint) g_utf8_strlen (row[c], -1));
          g_ptr_array_add (cells, row[c]);
        }
    }

  for (guint r = 0; r <= cells->len / N_COLS; r++)
    {
      g_autoptr(GString) line = g_string_new (NULL);

      for (guint c = 0; c < N_COLS; c++)
        print_cell (line, r == 0 ? headers[c] : cells->pdata[(r - 1) * N_COLS + c], width[c],
                    c == N_COLS - 1);
      printf ("%s\n", line->str);
    }
}

int
agent_command_members (int argc, char **argv)
{
  Client client = { "members" };
  g_autofree char *status = NULL;
  gboolean json = FALSE;
  const GOptionEntry entries[] = {
    { "json", 0, 0, G_OPTION_ARG_NONE, &json,
      N_("Print a JSON array of {\"id\",\"addr\",\"state\",\"metadata\",\"tags\"} objects"), NULL },
    { "status", 's', 0, G_OPTION_ARG_STRING, &status,
      N_("Only members in this state: alive, suspect, dead or leaving"), N_("STATE") },
    { NULL }
  };
  g_autoptr(JsonObject) request = new_request ("members");
  g_autoptr(JsonObject) response = NULL;
  g_autoptr(GError) error = NULL;
  GossipNodeState state;
  JsonArray *members;
  int ret;

  ret = parse_options (&client, "", _("Lists the members known to a running agent, sorted by id."),
                       entries, 0, 0, argc, argv);
  if (ret >= 0)
    goto out;
  if (status != NULL)
    {
      if (!agent_parse_state (status, &state, &error))
        {
          ret = agent_usage_error (client.command, "--status: %s", error->message);
          goto out;
        }
      json_object_set_string_member (request, "status", status);
    }

  response = client_call (&client, request, CLIENT_TIMEOUT_S, &error);
  if (response == NULL)
    {
      ret = agent_fail (client.command, "%s", error->message);
      goto out;
    }
  members = agent_json_get_array (response, "members");
  if (members == NULL)
    {
      ret = agent_fail (client.command, _("malformed answer from the agent at %s: no members"),
                        client.target);
      goto out;
    }

  if (json)
    {
      g_autoptr(JsonNode) node = json_node_init_array (json_node_alloc (), members);
      g_autofree char *text = agent_json_to_string (node);
      printf ("%s\n", text);
    }
  else
    print_members_table (members);
  ret = AGENT_EXIT_OK;

out:
  client_clear (&client);
  return ret;
}

/* --- monitor ------------------------------------------------------------- */

typedef struct {
  Client      *client;
  GMainLoop   *loop;
  GCancellable *cancellable;
  gboolean     json;
  int          status;
} Monitor;

static void monitor_read (Monitor *monitor);

static void
on_monitor_line (GObject      *source,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  Monitor *monitor = user_data;
  g_autoptr(GError) error = NULL;
  g_autofree char *line = NULL;
  g_autoptr(JsonObject) event = NULL;
  g_autofree char *text = NULL;
  gsize len = 0;

  line = g_data_input_stream_read_line_finish (G_DATA_INPUT_STREAM (source), result, &len, &error);
  if (line == NULL)
    {
      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        return;   /* interrupted: the loop is already quitting */
      if (error != NULL)
        monitor->status = agent_fail (monitor->client->command, _("lost the agent at %s: %s"),
                                      monitor->client->target, error->message);
      else
        monitor->status = agent_fail (monitor->client->command, _("the agent at %s closed the connection"),
                                      monitor->client->target);
      g_main_loop_quit (monitor->loop);
      return;
    }

  event = agent_json_parse_object (line, (gssize) len, &error);
  if (event == NULL)
    g_warning (_("ignoring a malformed event from the agent: %s"), error->message);
  else
    {
      text = agent_event_format (event, monitor->json);
      printf ("%s\n", text);
      fflush (stdout);
    }
  monitor_read (monitor);
}

static void
monitor_read (Monitor *monitor)
{
  g_data_input_stream_read_line_async (monitor->client->in, G_PRIORITY_DEFAULT, monitor->cancellable,
                                       on_monitor_line, monitor);
}

static gboolean
on_monitor_signal (gpointer user_data)
{
  Monitor *monitor = user_data;

  g_cancellable_cancel (monitor->cancellable);
  g_main_loop_quit (monitor->loop);
  return G_SOURCE_CONTINUE;
}

int
agent_command_monitor (int argc, char **argv)
{
  Client client = { "monitor" };
  gboolean json = FALSE;
  const GOptionEntry entries[] = {
    { "json", 0, 0, G_OPTION_ARG_NONE, &json, N_("Print events as JSON lines"), NULL },
    { NULL }
  };
  g_autoptr(JsonObject) request = new_request ("monitor");
  g_autoptr(JsonObject) response = NULL;
  g_autoptr(GError) error = NULL;
  Monitor monitor = { &client };
  guint sigint_id, sigterm_id;
  int ret;

  ret = parse_options (&client, "",
                       _("Prints the events of a running agent, one per line, until interrupted."),
                       entries, 0, 0, argc, argv);
  if (ret >= 0)
    goto out;

  response = client_call (&client, request, CLIENT_TIMEOUT_S, &error);
  if (response == NULL)
    {
      ret = agent_fail (client.command, "%s", error->message);
      goto out;
    }
  /* Events may be rare: no read timeout from here on. */
  g_socket_set_timeout (g_socket_connection_get_socket (client.connection), 0);

  setvbuf (stdout, NULL, _IOLBF, 0);
  monitor.loop = g_main_loop_new (NULL, FALSE);
  monitor.cancellable = g_cancellable_new ();
  monitor.json = json;
  monitor.status = AGENT_EXIT_OK;
  sigint_id = g_unix_signal_add (SIGINT, on_monitor_signal, &monitor);
  sigterm_id = g_unix_signal_add (SIGTERM, on_monitor_signal, &monitor);
  monitor_read (&monitor);
  g_main_loop_run (monitor.loop);
  g_source_remove (sigint_id);
  g_source_remove (sigterm_id);
  /* Let the cancelled read call back before its data goes away. */
  while (g_main_context_iteration (NULL, FALSE))
    ;
  ret = monitor.status;
  g_main_loop_unref (monitor.loop);
  g_object_unref (monitor.cancellable);

out:
  client_clear (&client);
  return ret;
}

/* --- send and request ------------------------------------------------------ */

/* Checks TYPE and PAYLOAD_JSON here, so that mistakes are usage errors
 * with a message naming the argument, before the agent is contacted. */
static int
check_message (Client     *client,
               const char *type_text,
               const char *payload_text,
               guint      *out_type)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) payload = NULL;

  if (!agent_parse_message_type (type_text, out_type, &error))
    return agent_usage_error (client->command, "TYPE: %s", error->message);
  payload = gossip_payload_from_json (payload_text, &error);
  if (payload == NULL)
    return agent_usage_error (client->command, "PAYLOAD_JSON: %s", error->message);
  return -1;
}

int
agent_command_send (int argc, char **argv)
{
  Client client = { "send" };
  g_autofree char *tag = NULL;
  g_autofree char *to = NULL;
  gboolean reliable = FALSE;
  const GOptionEntry entries[] = {
    { "tag", 't', 0, G_OPTION_ARG_STRING, &tag, N_("Only to the nodes carrying this tag"), N_("TAG") },
    { "to", 0, 0, G_OPTION_ARG_STRING, &to, N_("Only to this node"), N_("NODE_ID") },
    { "reliable", 0, 0, G_OPTION_ARG_NONE, &reliable,
      N_("Send over streams (TCP) rather than best-effort datagrams"), NULL },
    { NULL }
  };
  g_autoptr(JsonObject) request = new_request ("send");
  g_autoptr(JsonObject) response = NULL;
  g_autoptr(GError) error = NULL;
  guint type = 0;
  int ret;

  ret = parse_options (&client, "TYPE PAYLOAD_JSON",
                       _("Sends a user message (TYPE 128–65535, payload as JSON) through a running\n"
                         "agent: to every alive node by default."),
                       entries, 2, 2, argc, argv);
  if (ret >= 0)
    goto out;
  if (tag != NULL && to != NULL)
    {
      ret = agent_usage_error (client.command, _("--tag and --to cannot be used together"));
      goto out;
    }
  ret = check_message (&client, client.args[0], client.args[1], &type);
  if (ret >= 0)
    goto out;

  json_object_set_int_member (request, "type", type);
  json_object_set_string_member (request, "payload", client.args[1]);
  if (tag != NULL)
    json_object_set_string_member (request, "tag", tag);
  if (to != NULL)
    json_object_set_string_member (request, "to", to);
  json_object_set_boolean_member (request, "reliable", reliable);

  response = client_call (&client, request, CLIENT_TIMEOUT_S, &error);
  if (response == NULL)
    ret = agent_fail (client.command, "%s", error->message);
  else
    ret = AGENT_EXIT_OK;

out:
  client_clear (&client);
  return ret;
}

int
agent_command_request (int argc, char **argv)
{
  Client client = { "request" };
  g_autofree char *timeout_text = NULL;
  const GOptionEntry entries[] = {
    { "timeout", 'T', 0, G_OPTION_ARG_STRING, &timeout_text,
      N_("How long to wait for the reply (default: the agent's request_timeout, 5s)"),
      N_("DURATION") },
    { NULL }
  };
  g_autoptr(JsonObject) request = new_request ("request");
  g_autoptr(JsonObject) response = NULL;
  g_autoptr(GError) error = NULL;
  gint64 timeout_us = 0;
  guint type = 0;
  guint io_timeout_s;
  JsonNode *reply;
  int ret;

  ret = parse_options (&client, "NODE_ID TYPE PAYLOAD_JSON",
                       _("Sends a request to one node through a running agent and prints the reply\n"
                         "as JSON. Agents started with --handle TYPE answer with\n"
                         "{\"echo\": PAYLOAD, \"node\": ID}."),
                       entries, 3, 3, argc, argv);
  if (ret >= 0)
    goto out;
  if (timeout_text != NULL &&
      (!gossip_parse_duration (timeout_text, &timeout_us, &error) || timeout_us <= 0))
    {
      if (error != NULL)
        ret = agent_usage_error (client.command, "--timeout: %s", error->message);
      else
        ret = agent_usage_error (client.command, _("--timeout must be positive (got \"%s\")"),
                                 timeout_text);
      goto out;
    }
  ret = check_message (&client, client.args[1], client.args[2], &type);
  if (ret >= 0)
    goto out;

  json_object_set_string_member (request, "to", client.args[0]);
  json_object_set_int_member (request, "type", type);
  json_object_set_string_member (request, "payload", client.args[2]);
  if (timeout_us > 0)
    json_object_set_int_member (request, "timeout_us", timeout_us);

  /* The agent enforces the request deadline; only wait longer than it. */
  io_timeout_s = CLIENT_TIMEOUT_S + (guint) MIN (timeout_us / G_USEC_PER_SEC, G_MAXINT / 2);
  response = client_call (&client, request, io_timeout_s, &error);
  if (response == NULL)
    {
      ret = agent_fail (client.command, "%s", error->message);
      goto out;
    }
  reply = json_object_get_member (response, "reply");
  if (reply == NULL)
    {
      ret = agent_fail (client.command, _("malformed answer from the agent at %s: no reply"),
                        client.target);
      goto out;
    }
  {
    g_autofree char *text = agent_json_to_string (reply);
    printf ("%s\n", text);
  }
  ret = AGENT_EXIT_OK;

out:
  client_clear (&client);
  return ret;
}

/* --- leave and metadata ---------------------------------------------------- */

int
agent_command_leave (int argc, char **argv)
{
  Client client = { "leave" };
  g_autoptr(JsonObject) request = new_request ("leave");
  g_autoptr(JsonObject) response = NULL;
  g_autoptr(GError) error = NULL;
  int ret;

  ret = parse_options (&client, "",
                       _("Makes a running agent leave the cluster gracefully, then exit."),
                       NULL, 0, 0, argc, argv);
  if (ret >= 0)
    goto out;
  response = client_call (&client, request, CLIENT_TIMEOUT_S, &error);
  if (response == NULL)
    ret = agent_fail (client.command, "%s", error->message);
  else
    {
      printf ("%s\n", _("The agent left the cluster and is shutting down."));
      ret = AGENT_EXIT_OK;
    }

out:
  client_clear (&client);
  return ret;
}

int
agent_command_set_meta (int argc, char **argv)
{
  Client client = { "set-meta" };
  g_autoptr(JsonObject) request = new_request ("set-meta");
  g_autoptr(JsonObject) response = NULL;
  g_autoptr(GError) error = NULL;
  int ret;

  ret = parse_options (&client, "KEY VALUE",
                       _("Sets a metadata key of a running agent's node; it spreads to the cluster."),
                       NULL, 2, 2, argc, argv);
  if (ret >= 0)
    goto out;
  if (client.args[0][0] == '\0')
    {
      ret = agent_usage_error (client.command, _("KEY must not be empty"));
      goto out;
    }
  json_object_set_string_member (request, "key", client.args[0]);
  json_object_set_string_member (request, "value", client.args[1]);
  response = client_call (&client, request, CLIENT_TIMEOUT_S, &error);
  if (response == NULL)
    ret = agent_fail (client.command, "%s", error->message);
  else
    ret = AGENT_EXIT_OK;

out:
  client_clear (&client);
  return ret;
}

int
agent_command_delete_meta (int argc, char **argv)
{
  Client client = { "delete-meta" };
  g_autoptr(JsonObject) request = new_request ("delete-meta");
  g_autoptr(JsonObject) response = NULL;
  g_autoptr(GError) error = NULL;
  int ret;

  ret = parse_options (&client, "KEY",
                       _("Deletes a metadata key of a running agent's node; it spreads to the cluster."),
                       NULL, 1, 1, argc, argv);
  if (ret >= 0)
    goto out;
  json_object_set_string_member (request, "key", client.args[0]);
  response = client_call (&client, request, CLIENT_TIMEOUT_S, &error);
  if (response == NULL)
    ret = agent_fail (client.command, "%s", error->message);
  else
    ret = AGENT_EXIT_OK;

out:
  client_clear (&client);
  return ret;
}

/* --- forget ---------------------------------------------------------------- */

int
agent_command_forget (int argc, char **argv)
{
  Client client = { "forget" };
  g_autoptr(JsonObject) request = new_request ("forget");
  g_autoptr(JsonObject) response = NULL;
  g_autoptr(GError) error = NULL;
  int ret;

  ret = parse_options (&client, "NODE_ID",
                       _("Removes a member that crashed and will never come back from the agent's\n"
                         "eligible set, the quorum's denominator. Run it on every agent."),
                       NULL, 1, 1, argc, argv);
  if (ret >= 0)
    goto out;
  json_object_set_string_member (request, "node", client.args[0]);
  response = client_call (&client, request, CLIENT_TIMEOUT_S, &error);
  if (response == NULL)
    ret = agent_fail (client.command, "%s", error->message);
  else
    ret = AGENT_EXIT_OK;

out:
  client_clear (&client);
  return ret;
}

/* --- leader ---------------------------------------------------------------- */

int
agent_command_leader (int argc, char **argv)
{
  Client client = { "leader" };
  gboolean json = FALSE;
  const GOptionEntry entries[] = {
    { "json", 0, 0, G_OPTION_ARG_NONE, &json,
      N_("Print {\"enabled\",\"leader\",\"is_leader\",\"term\",\"eligible\",\"quorum\"} as JSON"), NULL },
    { NULL }
  };
  g_autoptr(JsonObject) request = new_request ("leader");
  g_autoptr(JsonObject) response = NULL;
  g_autoptr(GError) error = NULL;
  JsonNode *enabled;
  int ret;

  ret = parse_options (&client, "",
                       _("Prints the id of the leader a running agent recognises, or \"none\"\n"
                         "(no leader right now, or the agent runs without --election)."),
                       entries, 0, 0, argc, argv);
  if (ret >= 0)
    goto out;

  response = client_call (&client, request, CLIENT_TIMEOUT_S, &error);
  if (response == NULL)
    {
      ret = agent_fail (client.command, "%s", error->message);
      goto out;
    }
  enabled = json_object_get_member (response, "enabled");
  if (enabled == NULL || !JSON_NODE_HOLDS_VALUE (enabled) ||
      json_node_get_value_type (enabled) != G_TYPE_BOOLEAN)
    {
      ret = agent_fail (client.command, _("malformed answer from the agent at %s: no election state"),
                        client.target);
      goto out;
    }

  if (json)
    {
      g_autoptr(JsonObject) state = json_object_new ();
      g_autoptr(JsonNode) node = NULL;
      g_autofree char *text = NULL;
      g_autoptr(GList) names = json_object_get_members (response);

      /* "ok" only matters on the wire; the rest is the election state, in
       * the agent's order. The parsed answer is immutable: copy. */
      for (GList *l = names; l != NULL; l = l->next)
        if (strcmp (l->data, "ok") != 0)
          json_object_set_member (state, l->data,
                                  json_node_copy (json_object_get_member (response, l->data)));
      node = json_node_init_object (json_node_alloc (), state);
      text = agent_json_to_string (node);
      printf ("%s\n", text);
    }
  else
    {
      const char *leader = agent_json_get_string (response, "leader");

      printf ("%s\n", leader != NULL ? leader : "none");
      if (!json_node_get_boolean (enabled))
        g_printerr ("%s\n", _("gossip-agent leader: the agent takes part in no election "
                              "(start it with --election)"));
    }
  ret = AGENT_EXIT_OK;

out:
  client_clear (&client);
  return ret;
}

/* --- stats ------------------------------------------------------------------ */

int
agent_command_stats (int argc, char **argv)
{
  Client client = { "stats" };
  gboolean json = FALSE;
  const GOptionEntry entries[] = {
    { "json", 0, 0, G_OPTION_ARG_NONE, &json, N_("Print the counters as one JSON object"), NULL },
    { NULL }
  };
  g_autoptr(JsonObject) request = new_request ("stats");
  g_autoptr(JsonObject) response = NULL;
  g_autoptr(GError) error = NULL;
  JsonNode *stats;
  int ret;

  ret = parse_options (&client, "",
                       _("Prints a running agent's counters: frames received and refused (and why),\n"
                         "bounds reached, bytes and probes sent."),
                       entries, 0, 0, argc, argv);
  if (ret >= 0)
    goto out;

  response = client_call (&client, request, CLIENT_TIMEOUT_S, &error);
  if (response == NULL)
    {
      ret = agent_fail (client.command, "%s", error->message);
      goto out;
    }
  stats = json_object_get_member (response, "stats");
  if (stats == NULL || !JSON_NODE_HOLDS_OBJECT (stats))
    {
      ret = agent_fail (client.command, _("malformed answer from the agent at %s: no counters"),
                        client.target);
      goto out;
    }
  if (json)
    {
      g_autofree char *text = agent_json_to_string (stats);
      printf ("%s\n", text);
    }
  else
    {
      JsonObject *o = json_node_get_object (stats);
      g_autoptr(GList) names = json_object_get_members (o);

      for (GList *l = names; l != NULL; l = l->next)
        printf ("%-22s %" G_GINT64_FORMAT "\n", (const char *) l->data, json_object_get_int_member (o, l->data));
    }
  ret = AGENT_EXIT_OK;

out:
  client_clear (&client);
  return ret;
}
