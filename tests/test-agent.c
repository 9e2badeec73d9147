/* test-agent.c — the gossip-agent command line program, end to end: agents
 * are spawned with GSubprocess on loopback (port 0 for the cluster and the
 * control socket, real addresses read from the startup line) and driven
 * with the client commands, as a user or a script would.
 *
 * The agent is found through $GOSSIP_AGENT (set by `make check`), else
 * next to the tests in the build tree.
 *
 * SPDX-License-Identifier: MIT
 */
#include "config.h"

#include <signal.h>
#include <string.h>

#include <json-glib/json-glib.h>

#include <gossip/gossip.h>
#include "gossip-config-private.h"

#define WAIT_TIMEOUT_S 30

static char *agent_path;

/* Fast failure detection, with enough slack for a loaded CI machine. */
static const char * const fast_options[] = {
  "--health-check-interval", "250ms",
  "--suspect-timeout", "1s",
  "--suspect-retry-interval", "250ms",
  "--dead-node-timeout", "2s",
  "--metadata-gossip-interval", "100ms",
  "--state-gossip-interval", "2s",
  NULL
};

/* --- running commands ------------------------------------------------------ */

typedef struct {
  gboolean done;
  char    *out;
  char    *err;
  GError  *error;
} Communicate;

static void
on_communicated (GObject      *source,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  Communicate *c = user_data;

  g_subprocess_communicate_utf8_finish (G_SUBPROCESS (source), result, &c->out, &c->err, &c->error);
  c->done = TRUE;
}

/* Runs gossip-agent with @args; returns its exit status (-1 if killed by a
 * signal). The main context keeps running meanwhile, so that the agents'
 * output pipes keep being drained. */
static int
run_cli (const char * const *args,
         char              **out,
         char              **err)
{
  g_autoptr(GPtrArray) argv = g_ptr_array_new ();
  g_autoptr(GSubprocess) proc = NULL;
  g_autoptr(GError) error = NULL;
  Communicate c = { FALSE };
  int status;

  g_ptr_array_add (argv, agent_path);
  for (guint i = 0; args[i] != NULL; i++)
    g_ptr_array_add (argv, (char *) args[i]);
  g_ptr_array_add (argv, NULL);

  proc = g_subprocess_newv ((const char * const *) argv->pdata,
                            G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE, &error);
  g_assert_no_error (error);
  g_subprocess_communicate_utf8_async (proc, NULL, NULL, on_communicated, &c);
  while (!c.done)
    g_main_context_iteration (NULL, TRUE);
  g_assert_no_error (c.error);
  /* communicate returns on EOF; the exit status may come a little later. */
  g_subprocess_wait (proc, NULL, &error);
  g_assert_no_error (error);

  status = g_subprocess_get_if_exited (proc) ? g_subprocess_get_exit_status (proc) : -1;
  if (out != NULL)
    *out = g_steal_pointer (&c.out);
  if (err != NULL)
    *err = g_steal_pointer (&c.err);
  g_free (c.out);
  g_free (c.err);
  return status;
}

#define RUN(out, err, ...) run_cli ((const char * const []) { __VA_ARGS__, NULL }, out, err)

/* --- agents ---------------------------------------------------------------- */

typedef struct {
  GSubprocess      *proc;
  GDataInputStream *out;
  GCancellable     *cancellable;
  GPtrArray        *lines;     /* every stdout line so far */
  gboolean          eof;
  gboolean          reading;
  gboolean          json;
  char             *id;
  char             *addr;
  char             *rpc;
} Agent;

static void agent_read (Agent *agent);

static void
on_agent_line (GObject      *source,
               GAsyncResult *result,
               gpointer      user_data)
{
  Agent *agent = user_data;
  g_autoptr(GError) error = NULL;
  char *line;

  line = g_data_input_stream_read_line_finish_utf8 (G_DATA_INPUT_STREAM (source), result, NULL, &error);
  agent->reading = FALSE;
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  if (line == NULL)
    {
      agent->eof = TRUE;
      return;
    }
  if (g_test_verbose ())
    g_test_message ("agent %p: %s", agent, line);
  g_ptr_array_add (agent->lines, line);
  agent_read (agent);
}

static void
agent_read (Agent *agent)
{
  agent->reading = TRUE;
  g_data_input_stream_read_line_async (agent->out, G_PRIORITY_DEFAULT, agent->cancellable,
                                       on_agent_line, agent);
}

typedef gboolean (*Condition) (gpointer data);

/* Iterates the main context until @cond holds or @timeout_s passed. */
static gboolean
wait_for_timeout (Condition cond,
                  gpointer  data,
                  double    timeout_s)
{
  gint64 deadline = g_get_monotonic_time () + (gint64) (timeout_s * G_USEC_PER_SEC);

  while (!cond (data))
    {
      if (g_get_monotonic_time () > deadline)
        return cond (data);
      while (g_main_context_iteration (NULL, FALSE))
        ;
      g_usleep (20000);
    }
  return TRUE;
}

static gboolean
wait_for (Condition cond,
          gpointer  data)
{
  return wait_for_timeout (cond, data, WAIT_TIMEOUT_S);
}

static gboolean
agent_has_output (gpointer data)
{
  Agent *agent = data;
  return agent->lines->len > 0 || agent->eof;
}

/* Reads the startup line: "TIME agent-start ID ADDR rpc=RPC" or its JSON. */
static void
agent_parse_start (Agent *agent)
{
  const char *line;

  g_assert_true (wait_for (agent_has_output, agent));
  g_assert_cmpuint (agent->lines->len, >, 0);
  line = agent->lines->pdata[0];

  if (agent->json)
    {
      g_autoptr(JsonParser) parser = json_parser_new ();
      g_autoptr(GError) error = NULL;
      JsonObject *event, *node;

      g_assert_true (json_parser_load_from_data (parser, line, -1, &error));
      g_assert_no_error (error);
      event = json_node_get_object (json_parser_get_root (parser));
      g_assert_cmpstr (json_object_get_string_member (event, "event"), ==, "agent-start");
      node = json_object_get_object_member (event, "node");
      agent->id = g_strdup (json_object_get_string_member (node, "id"));
      agent->addr = g_strdup (json_object_get_string_member (node, "addr"));
      agent->rpc = g_strdup (json_object_get_string_member (event, "rpc_addr"));
    }
  else
    {
      g_auto(GStrv) fields = g_strsplit (line, " ", -1);

      g_assert_cmpuint (g_strv_length (fields), ==, 5);
      g_assert_true (g_str_has_suffix (fields[0], "Z"));
      g_assert_cmpstr (fields[1], ==, "agent-start");
      g_assert_true (g_str_has_prefix (fields[4], "rpc="));
      agent->id = g_strdup (fields[2]);
      agent->addr = g_strdup (fields[3]);
      agent->rpc = g_strdup (fields[4] + 4);
    }
  /* Port 0 was replaced by the real ports. */
  g_assert_true (g_str_has_prefix (agent->addr, "127.0.0.1:"));
  g_assert_cmpstr (agent->addr, !=, "127.0.0.1:0");
  g_assert_true (g_str_has_prefix (agent->rpc, "127.0.0.1:"));
  g_assert_cmpstr (agent->rpc, !=, "127.0.0.1:0");
}

/* Starts `gossip-agent agent` on loopback port 0 with @extra options. */
static Agent *
agent_start (gboolean            json,
             const char * const *extra)
{
  g_autoptr(GPtrArray) argv = g_ptr_array_new ();
  g_autoptr(GError) error = NULL;
  Agent *agent = g_new0 (Agent, 1);

  g_ptr_array_add (argv, agent_path);
  g_ptr_array_add (argv, (char *) "agent");
  g_ptr_array_add (argv, (char *) "--bind");
  g_ptr_array_add (argv, (char *) "127.0.0.1:0");
  g_ptr_array_add (argv, (char *) "--rpc-addr");
  g_ptr_array_add (argv, (char *) "127.0.0.1:0");
  if (json)
    g_ptr_array_add (argv, (char *) "--json");
  for (guint i = 0; fast_options[i] != NULL; i++)
    g_ptr_array_add (argv, (char *) fast_options[i]);
  for (guint i = 0; extra != NULL && extra[i] != NULL; i++)
    g_ptr_array_add (argv, (char *) extra[i]);
  g_ptr_array_add (argv, NULL);

  /* stderr is inherited: agent warnings end up in the test log. */
  agent->proc = g_subprocess_newv ((const char * const *) argv->pdata, G_SUBPROCESS_FLAGS_STDOUT_PIPE,
                                   &error);
  g_assert_no_error (error);
  agent->out = g_data_input_stream_new (g_subprocess_get_stdout_pipe (agent->proc));
  agent->cancellable = g_cancellable_new ();
  agent->lines = g_ptr_array_new_with_free_func (g_free);
  agent->json = json;
  agent_read (agent);
  agent_parse_start (agent);
  return agent;
}

static gboolean
agent_exited (gpointer data)
{
  Agent *agent = data;
  return agent->eof && g_subprocess_get_identifier (agent->proc) == NULL;
}

typedef struct {
  gboolean done;
} WaitCheck;

static void
on_waited (GObject      *source,
           GAsyncResult *result,
           gpointer      user_data)
{
  WaitCheck *w = user_data;

  g_subprocess_wait_finish (G_SUBPROCESS (source), result, NULL);
  w->done = TRUE;
}

static gboolean
wait_done (gpointer data)
{
  return ((WaitCheck *) data)->done;
}

/* Waits for the agent process to end; returns its exit status, or -1 when
 * it was killed by a signal. */
static int
agent_wait (Agent *agent)
{
  WaitCheck w = { FALSE };

  g_subprocess_wait_async (agent->proc, NULL, on_waited, &w);
  g_assert_true (wait_for (wait_done, &w));
  /* The last lines it printed. */
  g_assert_true (wait_for (agent_exited, agent));
  return g_subprocess_get_if_exited (agent->proc) ? g_subprocess_get_exit_status (agent->proc) : -1;
}

static void
agent_free (Agent *agent)
{
  if (agent == NULL)
    return;
  if (g_subprocess_get_identifier (agent->proc) != NULL)
    {
      g_subprocess_force_exit (agent->proc);
      agent_wait (agent);
    }
  g_cancellable_cancel (agent->cancellable);
  while (agent->reading)
    g_main_context_iteration (NULL, TRUE);
  g_object_unref (agent->cancellable);
  g_object_unref (agent->out);
  g_object_unref (agent->proc);
  g_ptr_array_unref (agent->lines);
  g_free (agent->id);
  g_free (agent->addr);
  g_free (agent->rpc);
  g_free (agent);
}

/* Whether the agent printed a line containing every one of @parts. */
static gboolean
agent_printed (Agent              *agent,
               const char * const *parts)
{
  for (guint i = 0; i < agent->lines->len; i++)
    {
      const char *line = agent->lines->pdata[i];
      gboolean all = TRUE;

      for (guint j = 0; parts[j] != NULL && all; j++)
        all = strstr (line, parts[j]) != NULL;
      if (all)
        return TRUE;
    }
  return FALSE;
}

typedef struct {
  Agent              *agent;
  const char * const *parts;
} PrintWait;

static gboolean
printed_cond (gpointer data)
{
  PrintWait *w = data;
  return agent_printed (w->agent, w->parts);
}

#define WAIT_PRINTED(agent_, ...) \
  wait_for (printed_cond, &(PrintWait) { agent_, (const char * const []) { __VA_ARGS__, NULL } })

/* `members --json` of @agent, parsed. */
static JsonArray *
agent_members (Agent *agent)
{
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GError) error = NULL;
  JsonNode *root;
  int status;

  status = RUN (&out, &err, "members", "--rpc-addr", agent->rpc, "--json");
  if (status != 0)
    g_test_message ("members failed (%d): %s", status, err);
  g_assert_cmpint (status, ==, 0);
  g_assert_true (json_parser_load_from_data (parser, out, -1, &error));
  g_assert_no_error (error);
  root = json_parser_get_root (parser);
  g_assert_true (JSON_NODE_HOLDS_ARRAY (root));
  return json_array_ref (json_node_get_array (root));
}

static JsonObject *
find_member (JsonArray  *members,
             const char *id)
{
  for (guint i = 0; i < json_array_get_length (members); i++)
    {
      JsonObject *node = json_array_get_object_element (members, i);
      if (g_strcmp0 (json_object_get_string_member (node, "id"), id) == 0)
        return node;
    }
  return NULL;
}

typedef struct {
  Agent      *agent;
  const char *id;
  const char *key;
  const char *value;   /* NULL: absent */
} MetaWait;

static gboolean
sees_metadata (gpointer data)
{
  MetaWait *w = data;
  g_autoptr(JsonArray) members = agent_members (w->agent);
  JsonObject *node = find_member (members, w->id);
  JsonObject *metadata;

  if (node == NULL)
    return FALSE;
  metadata = json_object_get_object_member (node, "metadata");
  if (!json_object_has_member (metadata, w->key))
    return w->value == NULL;
  return g_strcmp0 (json_object_get_string_member (metadata, w->key), w->value) == 0;
}

/* --- fixture: three agents ------------------------------------------------- */

typedef struct {
  Agent *a;   /* human output, the seed */
  Agent *b;   /* JSON output */
  Agent *c;   /* JSON output */
} Cluster;

typedef struct {
  Agent      **agents;
  guint        n;
  const char  *id;
  const char  *state;   /* NULL: any state but alive */
} StateWait;

static gboolean
all_see_state (gpointer data)
{
  StateWait *w = data;

  for (guint i = 0; i < w->n; i++)
    {
      g_autoptr(JsonArray) members = agent_members (w->agents[i]);
      JsonObject *node = find_member (members, w->id);
      const char *state = node != NULL ? json_object_get_string_member (node, "state") : NULL;

      if (state == NULL)
        return FALSE;
      if (w->state != NULL ? g_strcmp0 (state, w->state) != 0 : g_strcmp0 (state, "alive") == 0)
        return FALSE;
    }
  return TRUE;
}

typedef struct {
  Agent **agents;
  guint   n;
  guint   expect;
} AliveWait;

static gboolean
all_see_alive (gpointer data)
{
  AliveWait *w = data;

  for (guint i = 0; i < w->n; i++)
    {
      g_autoptr(JsonArray) members = agent_members (w->agents[i]);
      guint alive = 0;

      for (guint j = 0; j < json_array_get_length (members); j++)
        if (g_strcmp0 (json_object_get_string_member (json_array_get_object_element (members, j),
                                                      "state"), "alive") == 0)
          alive++;
      if (alive != w->expect)
        return FALSE;
    }
  return TRUE;
}

static void
cluster_setup (Cluster      *cl,
               gconstpointer data)
{
  Agent *all[3];

  cl->a = agent_start (FALSE, (const char * const []) {
                         "--tag", "web", "--meta", "role=seed", "--handle", "200", NULL });
  cl->b = agent_start (TRUE, (const char * const []) {
                         "--join", cl->a->addr, "--tag", "db", "--meta", "role=worker",
                         "--meta", "zone=eu", "--handle", "200", NULL });
  cl->c = agent_start (TRUE, (const char * const []) {
                         "--join", cl->a->addr, "--tags", "db,cache", "--handle", "200",
                         "--handle", "300", NULL });

  all[0] = cl->a;
  all[1] = cl->b;
  all[2] = cl->c;
  g_assert_true (wait_for (all_see_alive, &(AliveWait) { all, 3, 3 }));
}

static void
cluster_teardown (Cluster      *cl,
                  gconstpointer data)
{
  agent_free (cl->a);
  agent_free (cl->b);
  agent_free (cl->c);
}

/* --- tests ------------------------------------------------------------------- */

static void
test_help_version (void)
{
  static const char * const commands[] = {
    "agent", "members", "monitor", "send", "request", "leave", "set-meta", "delete-meta", "leader",
    "forget", "stats", NULL
  };
  g_autofree char *out = NULL;
  g_autofree char *expected = g_strdup_printf ("gossip-agent (%s) %s\n", PACKAGE_NAME, PACKAGE_VERSION);

  g_assert_cmpint (RUN (&out, NULL, "--help"), ==, 0);
  for (guint i = 0; commands[i] != NULL; i++)
    g_assert_nonnull (strstr (out, commands[i]));
  g_clear_pointer (&out, g_free);

  g_assert_cmpint (RUN (&out, NULL, "--version"), ==, 0);
  g_assert_cmpstr (out, ==, expected);
  g_clear_pointer (&out, g_free);
  g_assert_cmpint (RUN (&out, NULL, "agent", "--version"), ==, 0);
  g_assert_cmpstr (out, ==, expected);
  g_clear_pointer (&out, g_free);
  g_assert_cmpint (RUN (&out, NULL, "members", "-V"), ==, 0);
  g_assert_cmpstr (out, ==, expected);
  g_clear_pointer (&out, g_free);

  for (guint i = 0; commands[i] != NULL; i++)
    {
      g_assert_cmpint (RUN (&out, NULL, commands[i], "--help"), ==, 0);
      g_assert_nonnull (strstr (out, "Usage:"));
      g_clear_pointer (&out, g_free);
    }
  g_assert_cmpint (RUN (&out, NULL, "help", "send"), ==, 0);
  g_assert_nonnull (strstr (out, "PAYLOAD_JSON"));
}

/* Every library setting has an agent option, in --help and in the man page. */
static void
test_generated_options (void)
{
  static const struct { const char *param, *option; } renamed[] = {
    { "bind_addr", "bind" }, { "advertise_addr", "advertise" },
    { "encryption_key", "encrypt-key" }, { "tags", "tag" },
  };
  g_autofree char *help = NULL;
  g_autofree char *man = NULL;
  g_autofree char *man_path = g_test_build_filename (G_TEST_DIST, "..", "data", "gossip-agent.1", NULL);
  g_autoptr(GError) error = NULL;
  const GossipConfigParamInfo *info;

  g_assert_cmpint (RUN (&help, NULL, "agent", "--help"), ==, 0);
  g_assert_true (g_file_get_contents (man_path, &man, NULL, &error));
  g_assert_no_error (error);

  for (guint i = 0; (info = gossip_config_param_nth (i)) != NULL; i++)
    {
      g_autofree char *option = g_strdelimit (g_strdup (info->name), "_", '-');
      g_autofree char *in_help = NULL;
      g_auto(GStrv) parts = NULL;
      g_autofree char *in_man = NULL;

      for (gsize j = 0; j < G_N_ELEMENTS (renamed); j++)
        if (strcmp (renamed[j].param, info->name) == 0)
          {
            g_free (option);
            option = g_strdup (renamed[j].option);
          }
      in_help = g_strdup_printf ("--%s", option);
      /* troff spells "-" as "\-" in option names. */
      parts = g_strsplit (in_help, "-", -1);
      in_man = g_strjoinv ("\\-", parts);

      if (strstr (help, in_help) == NULL)
        g_error ("gossip-agent agent --help does not list %s", in_help);
      if (strstr (man, in_man) == NULL)
        g_error ("gossip-agent.1 does not document %s", in_help);
    }
}

static void
test_bad_usage (void)
{
  static const char * const cases[][6] = {
    { "agent", "--no-such-option" },
    { "--no-such-option" },
    { "agent", "--health-check-interval", "soon" },
    { "agent", "--indirect-checks", "99" },
    { "agent", "--meta", "novalue" },
    { "agent", "--rpc-addr", "192.0.2.1:7373" },
    { "agent", "--join", "nohost" },
    { "agent", "--encrypt-key", "short" },
    { "agent", "--handle", "12" },
    { "agent", "--election", "--quorum", "0" },
    { "agent", "--election", "--quorum", "101" },
    { "agent", "--election", "--quorum", "most" },
    { "agent", "--quorum", "50" },
    { "agent", "--election", "--election-check-interval", "0s" },
    { "agent", "--election", "--election-leader-timeout", "soon" },
    { "agent", "--election", "--election-check-interval", "2s", "--election-leader-timeout", "1s" },
    { "agent", "--election", "--election-criteria", "=db" },
    { "agent", "--election-criteria", "role=db" },
    { "agent", "unexpected" },
    { "no-such-command" },
    { "members", "--status", "zombie" },
    { "members", "extra" },
    { "send", "200" },
    { "send", "12", "{}" },
    { "send", "200", "{not json" },
    { "send", "--tag=x", "--to=y", "200", "1" },
    { "request", "some-id", "200" },
    { "request", "--timeout", "later", "id", "200", "1" },
    { "set-meta", "key" },
    { "delete-meta" },
    { "leader", "extra" },
    { "forget" },
    { "forget", "id", "extra" },
    { "monitor", "--rpc-addr", "nowhere" },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *out = NULL;
      g_autofree char *err = NULL;
      const char *args[7] = { NULL };
      int status;

      for (guint j = 0; j < 6 && cases[i][j] != NULL; j++)
        args[j] = cases[i][j];
      status = run_cli (args, &out, &err);
      g_test_message ("%s %s: %d %s", args[0], args[1] ? args[1] : "", status, err);
      g_assert_cmpint (status, ==, 2);
      g_assert_cmpstr (out, ==, "");
      /* One clear line. */
      g_assert_true (g_str_has_prefix (err, "gossip-agent"));
      g_assert_true (g_str_has_suffix (err, "\n"));
      g_assert_true (strchr (err, '\n') == err + strlen (err) - 1);
    }

  /* No command at all. */
  {
    g_autofree char *err = NULL;
    g_assert_cmpint (run_cli ((const char * const []) { NULL }, NULL, &err), ==, 2);
    g_assert_nonnull (strstr (err, "--help"));
  }
}

/* A loopback port nobody listens on. */
static guint16
free_port (void)
{
  g_autoptr(GSocket) socket = NULL;
  g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) any = g_inet_socket_address_new (loopback, 0);
  g_autoptr(GSocketAddress) bound = NULL;
  g_autoptr(GError) error = NULL;

  socket = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, &error);
  g_assert_no_error (error);
  g_assert_true (g_socket_bind (socket, any, FALSE, &error));
  bound = g_socket_get_local_address (socket, &error);
  g_assert_no_error (error);
  return g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound));
}

static void
test_no_agent (void)
{
  static const char * const commands[] = { "members", "monitor", "leave", NULL };
  g_autofree char *rpc = g_strdup_printf ("127.0.0.1:%u", free_port ());

  for (guint i = 0; commands[i] != NULL; i++)
    {
      g_autofree char *err = NULL;

      g_assert_cmpint (RUN (NULL, &err, commands[i], "--rpc-addr", rpc), ==, 1);
      g_assert_nonnull (strstr (err, "no agent listens on"));
    }
  /* The environment variable is the default address. */
  {
    g_autofree char *err = NULL;
    g_autofree char *out = NULL;
    const char *args[] = { agent_path, "members", NULL };
    g_autoptr(GSubprocessLauncher) launcher =
      g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE);
    g_autoptr(GSubprocess) proc = NULL;
    g_autoptr(GError) error = NULL;

    g_subprocess_launcher_setenv (launcher, "GOSSIP_RPC_ADDR", rpc, TRUE);
    proc = g_subprocess_launcher_spawnv (launcher, args, &error);
    g_assert_no_error (error);
    g_assert_true (g_subprocess_communicate_utf8 (proc, NULL, NULL, &out, &err, &error));
    g_assert_no_error (error);
    g_assert_true (g_subprocess_wait (proc, NULL, &error));
    g_assert_cmpint (g_subprocess_get_exit_status (proc), ==, 1);
    g_assert_nonnull (strstr (err, rpc));
  }
}

/* An agent whose control port is taken fails at once (exit 1), naming it. */
static void
test_rpc_port_busy (void)
{
  g_autoptr(GSocket) socket = NULL;
  g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) any = g_inet_socket_address_new (loopback, 0);
  g_autoptr(GSocketAddress) bound = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *rpc = NULL;
  g_autofree char *err = NULL;

  /* Hold a control port: the agent must report it and exit 1. */
  socket = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, &error);
  g_assert_no_error (error);
  g_assert_true (g_socket_bind (socket, any, FALSE, &error));
  g_assert_true (g_socket_listen (socket, &error));
  bound = g_socket_get_local_address (socket, &error);
  g_assert_no_error (error);
  rpc = g_strdup_printf ("127.0.0.1:%u", g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound)));

  g_assert_cmpint (RUN (NULL, &err, "agent", "--bind", "127.0.0.1:0", "--rpc-addr", rpc), ==, 1);
  g_assert_nonnull (strstr (err, rpc));
}

static void
test_converge (Cluster      *cl,
               gconstpointer data)
{
  Agent *all[] = { cl->a, cl->b, cl->c };
  g_autofree char *table = NULL;

  for (guint i = 0; i < G_N_ELEMENTS (all); i++)
    {
      g_autoptr(JsonArray) members = agent_members (all[i]);
      JsonObject *a, *b, *c;
      JsonArray *tags;
      g_autoptr(GList) keys = NULL;

      g_assert_cmpuint (json_array_get_length (members), ==, 3);
      a = find_member (members, cl->a->id);
      b = find_member (members, cl->b->id);
      c = find_member (members, cl->c->id);
      g_assert_nonnull (a);
      g_assert_nonnull (b);
      g_assert_nonnull (c);

      /* The documented shape, exactly. */
      keys = json_object_get_members (b);
      g_assert_cmpuint (g_list_length (keys), ==, 5);
      g_assert_cmpstr (json_object_get_string_member (b, "addr"), ==, cl->b->addr);
      g_assert_cmpstr (json_object_get_string_member (b, "state"), ==, "alive");
      g_assert_cmpstr (json_object_get_string_member (json_object_get_object_member (b, "metadata"),
                                                      "role"), ==, "worker");
      g_assert_cmpstr (json_object_get_string_member (json_object_get_object_member (b, "metadata"),
                                                      "zone"), ==, "eu");
      g_assert_cmpstr (json_object_get_string_member (json_object_get_object_member (a, "metadata"),
                                                      "role"), ==, "seed");
      g_assert_cmpuint (json_object_get_size (json_object_get_object_member (c, "metadata")), ==, 0);
      tags = json_object_get_array_member (c, "tags");
      g_assert_cmpuint (json_array_get_length (tags), ==, 2);
      g_assert_cmpstr (json_array_get_string_element (tags, 0), ==, "db");
      g_assert_cmpstr (json_array_get_string_element (tags, 1), ==, "cache");
    }

  /* The seed printed both joins; the others how many peers answered. */
  g_assert_true (WAIT_PRINTED (cl->a, " member-join ", cl->b->id, cl->b->addr));
  g_assert_true (WAIT_PRINTED (cl->a, " member-join ", cl->c->id, cl->c->addr));
  g_assert_true (WAIT_PRINTED (cl->b, "\"event\":\"agent-join\"", "\"answered\":1", "\"peers\":1"));

  /* The human table and the status filter. */
  g_assert_cmpint (RUN (&table, NULL, "members", "--rpc-addr", cl->b->rpc), ==, 0);
  g_assert_true (g_str_has_prefix (table, "ID"));
  g_assert_nonnull (strstr (table, cl->a->id));
  g_assert_nonnull (strstr (table, "role=worker,zone=eu"));
  g_assert_nonnull (strstr (table, "db,cache"));
  g_clear_pointer (&table, g_free);
  g_assert_cmpint (RUN (&table, NULL, "members", "--rpc-addr", cl->b->rpc, "--json",
                        "--status", "dead"), ==, 0);
  g_assert_cmpstr (table, ==, "[]\n");
  g_clear_pointer (&table, g_free);

  /* Without --election there is no leader, which is not an error. */
  g_assert_cmpint (RUN (&table, NULL, "leader", "--rpc-addr", cl->a->rpc), ==, 0);
  g_assert_cmpstr (table, ==, "none\n");
  g_clear_pointer (&table, g_free);
  g_assert_cmpint (RUN (&table, NULL, "leader", "--rpc-addr", cl->a->rpc, "--json"), ==, 0);
  g_assert_cmpstr (table, ==, "{\"enabled\":false,\"leader\":null,\"is_leader\":false,\"term\":0,"
                             "\"eligible\":0,\"quorum\":0}\n");
  g_clear_pointer (&table, g_free);
  /* Nothing to forget without one. */
  g_assert_cmpint (RUN (NULL, &table, "forget", "--rpc-addr", cl->a->rpc, cl->b->id), ==, 1);
  g_assert_nonnull (strstr (table, "no election"));
  g_clear_pointer (&table, g_free);

  /* The counters: every one named, a converged node has received frames
   * and refused none. */
  g_assert_cmpint (RUN (&table, NULL, "stats", "--rpc-addr", cl->a->rpc, "--json"), ==, 0);
  {
    g_autoptr(JsonParser) parser = json_parser_new ();
    JsonObject *o;

    g_assert_true (json_parser_load_from_data (parser, table, -1, NULL));
    o = json_node_get_object (json_parser_get_root (parser));
    g_assert_cmpint (json_object_get_int_member (o, "frames_received"), >, 0);
    g_assert_cmpint (json_object_get_int_member (o, "auth_rejected"), ==, 0);
    g_assert_cmpint (json_object_get_int_member (o, "frames_fenced"), ==, 0);
    g_assert_cmpint (json_object_get_int_member (o, "frames_replayed"), ==, 0);
    g_assert_true (json_object_has_member (o, "streams_refused"));
    g_assert_true (json_object_has_member (o, "local_health"));
  }
  g_clear_pointer (&table, g_free);
  g_assert_cmpint (RUN (&table, NULL, "stats", "--rpc-addr", cl->a->rpc), ==, 0);
  g_assert_nonnull (strstr (table, "frames_received "));
}

static void
test_messaging (Cluster      *cl,
                gconstpointer data)
{
  Agent *others[] = { cl->b, cl->c };
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  g_autoptr(GSubprocess) monitor = NULL;
  g_autoptr(GError) error = NULL;

  /* Broadcast: everyone but the sender prints it. */
  g_assert_cmpint (RUN (NULL, NULL, "send", "--rpc-addr", cl->a->rpc, "200",
                        "{\"hello\": [1, 2.0, null, true]}"), ==, 0);
  for (guint i = 0; i < G_N_ELEMENTS (others); i++)
    g_assert_true (WAIT_PRINTED (others[i], "\"event\":\"user-message\"", "\"type\":200",
                                 cl->a->id, "\"payload_text\":\"{\\\"hello\\\":[1,2.0,null,true]}\""));

  /* Reliable, to one node; the human form of the event. */
  g_assert_cmpint (RUN (NULL, NULL, "send", "--rpc-addr", cl->b->rpc, "--reliable", "--to", cl->a->id,
                        "200", "\"direct\""), ==, 0);
  g_assert_true (WAIT_PRINTED (cl->a, " user-message type=200 from=", cl->b->id, " payload=\"direct\""));

  /* By tag: only c carries "cache". A negative payload goes after "--". */
  g_assert_cmpint (RUN (NULL, NULL, "send", "--rpc-addr", cl->a->rpc, "--tag", "cache",
                        "--", "200", "-7"), ==, 0);
  g_assert_true (WAIT_PRINTED (cl->c, "\"event\":\"user-message\"", "\"payload\":-7"));

  /* Request and reply: the echo of a handled type. */
  g_assert_cmpint (RUN (&out, &err, "request", "--rpc-addr", cl->a->rpc, "--timeout", "5s",
                        cl->c->id, "300", "{\"n\": 42}"), ==, 0);
  g_assert_true (g_str_has_prefix (out, "{"));
  g_assert_nonnull (strstr (out, "\"echo\":{\"n\":42}"));
  g_assert_nonnull (strstr (out, cl->c->id));
  g_assert_true (WAIT_PRINTED (cl->c, "\"event\":\"user-request\"", "\"type\":300"));
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);

  /* Nobody handles 301 on b: a prompt error, exit 1. */
  g_assert_cmpint (RUN (&out, &err, "request", "--rpc-addr", cl->a->rpc, cl->b->id, "301", "1"), ==, 1);
  g_assert_cmpstr (out, ==, "");
  g_assert_nonnull (strstr (err, "gossip-agent request: "));
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);

  /* Unknown node: the agent's error, exit 1. */
  g_assert_cmpint (RUN (NULL, &err, "send", "--rpc-addr", cl->a->rpc, "--to",
                        "01234567-89ab-7def-8123-456789abcdef", "200", "1"), ==, 1);
  g_clear_pointer (&err, g_free);

  /* A monitor on a sees b's metadata change. It only sees events after it
   * registered: change the value until one shows up. */
  monitor = g_subprocess_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE, &error, agent_path, "monitor",
                              "--rpc-addr", cl->a->rpc, "--json", NULL);
  g_assert_no_error (error);
  {
    Agent view = { 0 };
    gboolean seen = FALSE;

    view.proc = monitor;
    view.out = g_data_input_stream_new (g_subprocess_get_stdout_pipe (monitor));
    view.cancellable = g_cancellable_new ();
    view.lines = g_ptr_array_new_with_free_func (g_free);
    agent_read (&view);
    for (guint attempt = 0; attempt < 20 && !seen; attempt++)
      {
        g_autofree char *value = g_strdup_printf ("v%u", attempt);
        g_autofree char *expect = g_strdup_printf ("\"version\":\"v%u\"", attempt);

        g_assert_cmpint (RUN (NULL, NULL, "set-meta", "--rpc-addr", cl->b->rpc, "version", value), ==, 0);
        seen = wait_for_timeout (printed_cond, &(PrintWait) { &view, (const char * const []) {
                                   "\"event\":\"member-update\"", cl->b->id, expect, NULL } }, 2.0);
        if (seen)
          g_assert_true (wait_for (sees_metadata, &(MetaWait) { cl->c, cl->b->id, "version", value }));
      }
    g_assert_true (seen);

    g_subprocess_send_signal (monitor, SIGINT);
    g_assert_true (g_subprocess_wait (monitor, NULL, &error));
    g_assert_no_error (error);
    g_assert_true (g_subprocess_get_if_exited (monitor));
    g_assert_cmpint (g_subprocess_get_exit_status (monitor), ==, 0);

    g_cancellable_cancel (view.cancellable);
    while (view.reading)
      g_main_context_iteration (NULL, TRUE);
    g_object_unref (view.cancellable);
    g_object_unref (view.out);
    g_ptr_array_unref (view.lines);
  }

  /* delete-meta spreads too. */
  g_assert_cmpint (RUN (NULL, NULL, "delete-meta", "--rpc-addr", cl->b->rpc, "version"), ==, 0);
  g_assert_true (wait_for (sees_metadata, &(MetaWait) { cl->a, cl->b->id, "version", NULL }));
  g_assert_true (wait_for (sees_metadata, &(MetaWait) { cl->c, cl->b->id, "role", "worker" }));
}

static void
test_leave (Cluster      *cl,
            gconstpointer data)
{
  Agent *observers[] = { cl->a, cl->b };
  g_autofree char *out = NULL;

  /* SIGTERM: a graceful leave, exit 0. */
  g_subprocess_send_signal (cl->c->proc, SIGTERM);
  g_assert_cmpint (agent_wait (cl->c), ==, 0);
  g_assert_true (agent_printed (cl->c, (const char * const []) { "\"event\":\"agent-leave\"", NULL }));
  g_assert_true (wait_for (all_see_state, &(StateWait) { observers, 2, cl->c->id, "leaving" }));
  g_assert_true (WAIT_PRINTED (cl->a, " member-leave ", cl->c->id));

  /* The leave command: the agent leaves, answers, then exits 0. */
  g_assert_cmpint (RUN (&out, NULL, "leave", "--rpc-addr", cl->b->rpc), ==, 0);
  g_assert_cmpint (agent_wait (cl->b), ==, 0);
  g_assert_true (wait_for (all_see_state, &(StateWait) { observers, 1, cl->b->id, "leaving" }));
  g_assert_true (WAIT_PRINTED (cl->a, " member-leave ", cl->b->id));
}

static void
test_crash (Cluster      *cl,
            gconstpointer data)
{
  Agent *observers[] = { cl->a, cl->b };

  /* SIGKILL: no leave; the survivors must detect it. */
  g_subprocess_force_exit (cl->c->proc);
  g_assert_cmpint (agent_wait (cl->c), ==, -1);
  g_assert_true (wait_for (all_see_state, &(StateWait) { observers, 2, cl->c->id, NULL }));
  g_assert_true (wait_for (all_see_state, &(StateWait) { observers, 2, cl->c->id, "dead" }));
  g_assert_true (WAIT_PRINTED (cl->a, " member-failed ", cl->c->id));
  g_assert_true (WAIT_PRINTED (cl->b, "\"event\":\"member-failed\"", cl->c->id));
  /* Suspicion comes first (unless a probe round was missed entirely). */
  if (!agent_printed (cl->a, (const char * const []) { " member-suspect ", cl->c->id, NULL }))
    g_test_message ("a went straight to member-failed");
}

/* --- leader election ----------------------------------------------------------- */

/* Short election periods; the leader timeout leaves room for a loaded
 * machine, failure detection (fast_options) does the rest. */
#define ELECTION_OPTIONS \
  "--election", "--election-check-interval", "200ms", "--election-leader-timeout", "1s"

typedef struct {
  gboolean  enabled;
  char     *leader;     /* NULL: none */
  gboolean  is_leader;
  gint64    term;
  gint64    eligible;   /* the remembered eligible set: the quorum's denominator */
  gint64    quorum;     /* alive eligible nodes a leader needs */
} LeaderState;

static void
leader_state_clear (LeaderState *state)
{
  g_clear_pointer (&state->leader, g_free);
}

/* `leader --json` of @agent, parsed and checked for the documented shape. */
static void
agent_leader (Agent       *agent,
              LeaderState *state)
{
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GError) error = NULL;
  JsonObject *object;
  JsonNode *leader;
  int status;

  status = RUN (&out, &err, "leader", "--rpc-addr", agent->rpc, "--json");
  if (status != 0)
    g_test_message ("leader failed (%d): %s", status, err);
  g_assert_cmpint (status, ==, 0);
  g_assert_true (json_parser_load_from_data (parser, out, -1, &error));
  g_assert_no_error (error);
  object = json_node_get_object (json_parser_get_root (parser));
  g_assert_cmpuint (json_object_get_size (object), ==, 6);
  state->enabled = json_object_get_boolean_member (object, "enabled");
  leader = json_object_get_member (object, "leader");
  g_assert_nonnull (leader);
  state->leader = JSON_NODE_HOLDS_NULL (leader) ? NULL : g_strdup (json_node_get_string (leader));
  state->is_leader = json_object_get_boolean_member (object, "is_leader");
  state->term = json_object_get_int_member (object, "term");
  g_assert_true (json_object_has_member (object, "eligible"));
  g_assert_true (json_object_has_member (object, "quorum"));
  state->eligible = json_object_get_int_member (object, "eligible");
  state->quorum = json_object_get_int_member (object, "quorum");
}

typedef struct {
  Agent      **agents;
  guint        n;
  const char  *leader;
  gint64       term;     /* out: the term all of them see */
} LeaderWait;

/* Every agent of @w names @w->leader, only the leader itself claims to
 * lead, and all are in the same term. */
static gboolean
all_agree_on_leader (gpointer data)
{
  LeaderWait *w = data;
  gint64 term = -1;

  for (guint i = 0; i < w->n; i++)
    {
      LeaderState state = { FALSE };
      gboolean ok;

      agent_leader (w->agents[i], &state);
      g_assert_true (state.enabled);
      ok = g_strcmp0 (state.leader, w->leader) == 0 &&
           state.is_leader == (g_strcmp0 (w->agents[i]->id, w->leader) == 0) &&
           (term < 0 || state.term == term);
      term = state.term;
      leader_state_clear (&state);
      if (!ok)
        return FALSE;
    }
  w->term = term;
  return TRUE;
}

static Agent *
lowest_id (Agent **agents,
           guint   n)
{
  Agent *lowest = NULL;

  for (guint i = 0; i < n; i++)
    if (agents[i] != NULL && (lowest == NULL || strcmp (agents[i]->id, lowest->id) < 0))
      lowest = agents[i];
  return lowest;
}

typedef struct {
  Agent      *agent;
  const char *id;
} Forget;

/* `forget` succeeds (it fails while the member is still suspect). */
static gboolean
forgets (gpointer data)
{
  Forget *f = data;
  return RUN (NULL, NULL, "forget", "--rpc-addr", f->agent->rpc, f->id) == 0;
}

static void
test_election (void)
{
  Agent *all[3];
  Agent *survivors[2];
  Agent *leader, *next, *last;
  g_autofree char *out = NULL;
  gint64 first_term;
  guint n = 0;

  /* a seeds (human output), b and c print JSON. */
  all[0] = agent_start (FALSE, (const char * const []) { ELECTION_OPTIONS, NULL });
  all[1] = agent_start (TRUE, (const char * const []) { "--join", all[0]->addr, ELECTION_OPTIONS, NULL });
  all[2] = agent_start (TRUE, (const char * const []) { "--join", all[0]->addr, ELECTION_OPTIONS, NULL });
  g_assert_true (wait_for (all_see_alive, &(AliveWait) { all, 3, 3 }));

  /* The lowest id leads (UUIDv7 ids follow start order: the seed), and
   * everyone agrees. */
  leader = lowest_id (all, 3);
  {
    LeaderWait w = { all, 3, leader->id, 0 };

    g_assert_true (wait_for (all_agree_on_leader, &w));
    first_term = w.term;
    g_assert_cmpint (first_term, >=, 1);
  }
  g_assert_cmpint (RUN (&out, NULL, "leader", "--rpc-addr", all[1]->rpc), ==, 0);
  g_assert_cmpstr (g_strchomp (out), ==, leader->id);
  g_clear_pointer (&out, g_free);

  /* The events, in both forms. */
  for (guint i = 0; i < 3; i++)
    {
      if (all[i] == leader)
        g_assert_true (WAIT_PRINTED (leader, all[i]->json ? "\"event\":\"became-leader\"" : " became-leader ",
                                     leader->id));
      else if (all[i]->json)
        g_assert_true (WAIT_PRINTED (all[i], "\"event\":\"leader-elected\"", leader->id, "\"term\":"));
      else
        g_assert_true (WAIT_PRINTED (all[i], " leader-elected ", leader->id, " term="));
    }

  /* SIGKILL the leader: the survivors elect the next lowest id. */
  for (guint i = 0; i < 3; i++)
    if (all[i] != leader)
      survivors[n++] = all[i];
  g_subprocess_force_exit (leader->proc);
  g_assert_cmpint (agent_wait (leader), ==, -1);
  next = lowest_id (survivors, 2);
  last = survivors[0] == next ? survivors[1] : survivors[0];
  {
    LeaderWait w = { survivors, 2, next->id, 0 };

    /* Suspicion (1s) plus an election check, with slack. */
    g_assert_true (wait_for_timeout (all_agree_on_leader, &w, 15.0));
    g_assert_cmpint (w.term, >, first_term);
  }
  g_assert_true (WAIT_PRINTED (last, last->json ? "leader-lost" : " leader-lost ", leader->id));
  g_assert_true (WAIT_PRINTED (next, "became-leader", next->id));

  /* SIGTERM the new leader: the election stops before the leave, so it
   * steps down, then leaves; the last node sees the leader go. */
  g_subprocess_send_signal (next->proc, SIGTERM);
  g_assert_cmpint (agent_wait (next), ==, 0);
  g_assert_true (agent_printed (next, (const char * const []) { "stepped-down", next->id, NULL }));
  g_assert_true (WAIT_PRINTED (last, "leader-lost", next->id));

  /* The last node: 1 alive of 2 eligible (the killed leader still counts,
   * the one that left does not), no leader, until the killed one is
   * forgotten, once it is dead; an id it never knew is refused. */
  {
    LeaderState state = { 0 };

    agent_leader (last, &state);
    g_assert_null (state.leader);
    g_assert_cmpint (state.eligible, ==, 2);
    g_assert_cmpint (state.quorum, ==, 2);
    leader_state_clear (&state);
  }
  g_assert_cmpint (RUN (NULL, &out, "forget", "--rpc-addr", last->rpc, "00000000-0000-7000-8000-000000000001"),
                   ==, 1);
  g_assert_nonnull (strstr (out, "not in the eligible set"));
  g_clear_pointer (&out, g_free);
  g_assert_true (wait_for (forgets, &(Forget) { last, leader->id }));
  g_assert_true (wait_for (all_agree_on_leader, &(LeaderWait) { &last, 1, last->id, 0 }));
  {
    LeaderState state = { 0 };

    agent_leader (last, &state);
    g_assert_cmpint (state.eligible, ==, 1);
    g_assert_cmpint (state.quorum, ==, 1);
    leader_state_clear (&state);
  }

  for (guint i = 0; i < 3; i++)
    agent_free (all[i]);
}

/* Only nodes matching --election-criteria may lead: the seed, whose id is
 * the lowest, does not match, so the other node leads, for both. */
static void
test_election_criteria (void)
{
  Agent *all[2];

  all[0] = agent_start (FALSE, (const char * const []) {
                          "--meta", "role=web", ELECTION_OPTIONS, "--election-criteria", "role=db", NULL });
  all[1] = agent_start (TRUE, (const char * const []) {
                          "--join", all[0]->addr, "--meta", "role=db", ELECTION_OPTIONS,
                          "--election-criteria", "role=db", NULL });
  g_assert_true (wait_for (all_see_alive, &(AliveWait) { all, 2, 2 }));
  if (lowest_id (all, 2) != all[0])
    g_test_message ("the seed does not have the lowest id; the check still holds");
  g_assert_true (wait_for (all_agree_on_leader, &(LeaderWait) { all, 2, all[1]->id, 0 }));
  g_assert_true (WAIT_PRINTED (all[0], " leader-elected ", all[1]->id));

  for (guint i = 0; i < 2; i++)
    agent_free (all[i]);
}

int
main (int argc, char **argv)
{
  int ret;

  g_test_init (&argc, &argv, NULL);
  /* The checks read English messages; the children inherit this. */
  g_setenv ("LC_ALL", "C.UTF-8", TRUE);
  g_unsetenv ("LANGUAGE");

  agent_path = g_strdup (g_getenv ("GOSSIP_AGENT"));
  if (agent_path == NULL || *agent_path == '\0')
    {
      g_free (agent_path);
      agent_path = g_test_build_filename (G_TEST_BUILT, "..", "gossip", "gossip-agent", NULL);
    }

  g_test_add_func ("/agent/cli/help-version", test_help_version);
  g_test_add_func ("/agent/cli/generated-options", test_generated_options);
  g_test_add_func ("/agent/cli/bad-usage", test_bad_usage);
  g_test_add_func ("/agent/cli/no-agent", test_no_agent);
  g_test_add_func ("/agent/cli/rpc-port-busy", test_rpc_port_busy);
  g_test_add ("/agent/cluster/converge", Cluster, NULL, cluster_setup, test_converge, cluster_teardown);
  g_test_add ("/agent/cluster/messaging", Cluster, NULL, cluster_setup, test_messaging, cluster_teardown);
  g_test_add ("/agent/cluster/leave", Cluster, NULL, cluster_setup, test_leave, cluster_teardown);
  g_test_add ("/agent/cluster/crash", Cluster, NULL, cluster_setup, test_crash, cluster_teardown);
  g_test_add_func ("/agent/election/leader", test_election);
  g_test_add_func ("/agent/election/criteria", test_election_criteria);

  ret = g_test_run ();
  g_free (agent_path);
  return ret;
}
