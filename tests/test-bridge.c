/* test-bridge.c — plays the Scriptling host against scriptling-plugin-bridge
 * serving tests/test-echo-plugin.c.
 *
 * Copyright the scriptling-gossip authors.
 * SPDX-License-Identifier: MIT
 *
 * Every test starts a bridge process with pipes on stdin/stdout/stderr and
 * talks newline-delimited JSON-RPC to it.  Every line the bridge writes to
 * stdout is checked to be one strict JSON-RPC message.  Waits have
 * deadlines; nothing sleeps for a fixed time.
 *
 * Environment:
 *   BRIDGE_TEST_WRAPPER   command prefix for the bridge, e.g.
 *                         "valgrind --leak-check=full --error-exitcode=99"
 *   BRIDGE_TEST_TIMEOUT   seconds per wait (default 20)
 *   BRIDGE_TEST_BRIDGE    path of the bridge (default ../glue/...)
 */

#include "config.h"

#include <math.h>
#include <string.h>
#include <unistd.h>

#include <gio/gio.h>
#include <json-glib/json-glib.h>

#include "bridge-json.h"

/* ---- the host side ---------------------------------------------------------- */

typedef struct {
  JsonNode *node;
  char *line;
} Message;

typedef struct {
  GSubprocess *process;
  GOutputStream *to_bridge;
  GThread *stdout_thread;
  GThread *stderr_thread;
  GAsyncQueue *lines;          /* char *, or EOF_MARK */
  GMutex lock;
  GString *stderr_text;        /* under lock */
  GPtrArray *bad_lines;        /* under lock: stdout lines that are not protocol */
  GPtrArray *stash;            /* Message, received but not consumed yet */
  gboolean stdout_eof;
  gboolean stdin_closed;
  gint64 next_id;
  gboolean answer_logs;        /* answer host.log requests automatically */
  GPtrArray *logs;             /* "level: message" of host.log requests seen */
  GPtrArray *log_args;         /* JsonNode args of the host.log requests seen */
} Bridge;

static char EOF_MARK[] = "EOF";

/* See glue/bridge-server.c: GAsyncQueue hand-offs are invisible to
 * ThreadSanitizer without these. */
#if defined(__SANITIZE_THREAD__)
void __tsan_acquire (void *addr);
void __tsan_release (void *addr);
#define tsan_acquire(p) __tsan_acquire (p)
#define tsan_release(p) __tsan_release (p)
#else
#define tsan_acquire(p) ((void) 0)
#define tsan_release(p) ((void) 0)
#endif

static void
message_free (Message *message)
{
  json_node_unref (message->node);
  g_free (message->line);
  g_free (message);
}

static gint64
timeout_us (void)
{
  const char *env = g_getenv ("BRIDGE_TEST_TIMEOUT");
  gint64 seconds = env != NULL ? g_ascii_strtoll (env, NULL, 10) : 20;

  return (seconds > 0 ? seconds : 20) * G_USEC_PER_SEC;
}

static char *
bridge_binary (void)
{
  const char *env = g_getenv ("BRIDGE_TEST_BRIDGE");

  if (env != NULL)
    return g_strdup (env);
  return g_test_build_filename (G_TEST_BUILT, "..", "glue", "scriptling-plugin-bridge", NULL);
}

static char *
plugin_path (const char *name)
{
  g_autofree char *file = g_strconcat (name, ".so", NULL);

  return g_test_build_filename (G_TEST_BUILT, ".libs", file, NULL);
}

/* A line must be exactly one JSON-RPC 2.0 message (or batch of them). */
static gboolean
line_is_protocol (const char *line)
{
  g_autoptr(JsonNode) node = NULL;
  JsonArray *array;

  if (strchr (line, '\r') != NULL)
    return FALSE;
  node = bridge_json_parse (line, strlen (line), NULL);
  if (node == NULL)
    return FALSE;
  if (JSON_NODE_HOLDS_OBJECT (node))
    return g_strcmp0 (json_object_get_string_member_with_default (json_node_get_object (node),
                                                                  "jsonrpc", ""), "2.0") == 0;
  if (!JSON_NODE_HOLDS_ARRAY (node))
    return FALSE;
  array = json_node_get_array (node);
  if (json_array_get_length (array) == 0)
    return FALSE;
  for (guint i = 0; i < json_array_get_length (array); i++)
    {
      JsonNode *e = json_array_get_element (array, i);
      if (!JSON_NODE_HOLDS_OBJECT (e) ||
          g_strcmp0 (json_object_get_string_member_with_default (json_node_get_object (e), "jsonrpc", ""),
                     "2.0") != 0)
        return FALSE;
    }
  return TRUE;
}

static gpointer
stdout_reader (gpointer data)
{
  Bridge *b = data;
  g_autoptr(GDataInputStream) in =
    g_data_input_stream_new (g_subprocess_get_stdout_pipe (b->process));

  g_data_input_stream_set_newline_type (in, G_DATA_STREAM_NEWLINE_TYPE_LF);
  for (;;)
    {
      gsize length;
      char *line = g_data_input_stream_read_line (in, &length, NULL, NULL);

      if (line == NULL)
        break;
      if (!line_is_protocol (line))
        {
          g_mutex_lock (&b->lock);
          tsan_acquire (&b->lock);
          g_ptr_array_add (b->bad_lines, g_strdup (line));
          tsan_release (&b->lock);
          g_mutex_unlock (&b->lock);
        }
      tsan_release (b->lines);
      g_async_queue_push (b->lines, line);
    }
  tsan_release (b->lines);
  g_async_queue_push (b->lines, EOF_MARK);
  return NULL;
}

static gpointer
stderr_reader (gpointer data)
{
  Bridge *b = data;
  GInputStream *in = g_subprocess_get_stderr_pipe (b->process);
  char buffer[4096];

  for (;;)
    {
      gssize n = g_input_stream_read (in, buffer, sizeof buffer, NULL, NULL);
      if (n <= 0)
        break;
      g_mutex_lock (&b->lock);
      tsan_acquire (&b->lock);
      g_string_append_len (b->stderr_text, buffer, n);
      tsan_release (&b->lock);
      g_mutex_unlock (&b->lock);
      if (g_test_verbose ())
        g_printerr ("%.*s", (int) n, buffer);
    }
  return NULL;
}

/* Starts the bridge as argv (argv[0] is the program to run). */
static Bridge *
bridge_start_argv (const char *const *argv,
                   const char *const *extra_env)
{
  g_autoptr(GSubprocessLauncher) launcher =
    g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                               G_SUBPROCESS_FLAGS_STDERR_PIPE);
  g_autoptr(GPtrArray) full = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GError) error = NULL;
  const char *wrapper = g_getenv ("BRIDGE_TEST_WRAPPER");
  Bridge *b = g_new0 (Bridge, 1);

  if (wrapper != NULL && wrapper[0] != '\0')
    {
      g_auto(GStrv) parts = NULL;
      g_assert_true (g_shell_parse_argv (wrapper, NULL, &parts, NULL));
      for (guint i = 0; parts[i] != NULL; i++)
        g_ptr_array_add (full, g_strdup (parts[i]));
    }
  for (guint i = 0; argv[i] != NULL; i++)
    g_ptr_array_add (full, g_strdup (argv[i]));
  g_ptr_array_add (full, NULL);

  g_subprocess_launcher_unsetenv (launcher, "SCRIPTLING_PLUGIN_MODULE_PATH");
  g_subprocess_launcher_unsetenv (launcher, "SCRIPTLING_BRIDGE_DEBUG");
  for (guint i = 0; extra_env != NULL && extra_env[i] != NULL; i += 2)
    g_subprocess_launcher_setenv (launcher, extra_env[i], extra_env[i + 1], TRUE);

  b->process = g_subprocess_launcher_spawnv (launcher, (const char *const *) full->pdata, &error);
  g_assert_no_error (error);
  b->to_bridge = g_subprocess_get_stdin_pipe (b->process);
  b->lines = g_async_queue_new ();
  g_mutex_init (&b->lock);
  b->stderr_text = g_string_new (NULL);
  b->bad_lines = g_ptr_array_new_with_free_func (g_free);
  b->stash = g_ptr_array_new_with_free_func ((GDestroyNotify) message_free);
  b->next_id = 1;
  b->answer_logs = TRUE;
  b->logs = g_ptr_array_new_with_free_func (g_free);
  b->log_args = g_ptr_array_new_with_free_func ((GDestroyNotify) json_node_unref);
  b->stdout_thread = g_thread_new ("test-stdout", stdout_reader, b);
  b->stderr_thread = g_thread_new ("test-stderr", stderr_reader, b);
  return b;
}

static Bridge *
bridge_start_plugin (const char *plugin_name,
                     const char *const *extra_env)
{
  g_autofree char *binary = bridge_binary ();
  g_autofree char *plugin = plugin_path (plugin_name);
  const char *argv[] = { binary, plugin, NULL };

  return bridge_start_argv (argv, extra_env);
}

static Bridge *
bridge_start (void)
{
  return bridge_start_plugin ("test-echo-plugin", NULL);
}

static void
bridge_send_raw (Bridge *b,
                 const char *text)
{
  g_autoptr(GError) error = NULL;

  g_output_stream_write_all (b->to_bridge, text, strlen (text), NULL, NULL, &error);
  g_assert_no_error (error);
  g_output_stream_flush (b->to_bridge, NULL, &error);
  g_assert_no_error (error);
}

static void
bridge_send_line (Bridge *b,
                  const char *line)
{
  g_autofree char *text = g_strconcat (line, "\n", NULL);

  bridge_send_raw (b, text);
}

static void
bridge_close_stdin (Bridge *b)
{
  b->stdin_closed = TRUE;
  g_output_stream_close (b->to_bridge, NULL, NULL);
}

/* Text of the request; @params is JSON text or NULL. */
static char *
request_text (gint64 id,
              const char *method,
              const char *params)
{
  if (params == NULL)
    return g_strdup_printf ("{\"jsonrpc\":\"2.0\",\"id\":%" G_GINT64_FORMAT ",\"method\":\"%s\"}", id, method);
  return g_strdup_printf ("{\"jsonrpc\":\"2.0\",\"id\":%" G_GINT64_FORMAT ",\"method\":\"%s\",\"params\":%s}",
                          id, method, params);
}

static gint64
bridge_request (Bridge *b,
                const char *method,
                const char *params)
{
  gint64 id = b->next_id++;
  g_autofree char *text = request_text (id, method, params);

  bridge_send_line (b, text);
  return id;
}

static void
bridge_answer (Bridge *b,
               JsonNode *id,
               const char *result)
{
  g_autofree char *id_text = bridge_json_to_string (id, NULL);
  g_autofree char *text = g_strdup_printf ("{\"jsonrpc\":\"2.0\",\"id\":%s,\"result\":%s}", id_text, result);

  bridge_send_line (b, text);
}

static void
bridge_answer_error (Bridge *b,
                     JsonNode *id,
                     const char *message)
{
  g_autofree char *id_text = bridge_json_to_string (id, NULL);
  g_autofree char *text =
    g_strdup_printf ("{\"jsonrpc\":\"2.0\",\"id\":%s,\"error\":{\"code\":-32000,\"message\":\"%s\"}}",
                     id_text, message);

  bridge_send_line (b, text);
}

static JsonObject *
msg_object (Message *m)
{
  return JSON_NODE_HOLDS_OBJECT (m->node) ? json_node_get_object (m->node) : NULL;
}

static const char *
msg_method (Message *m)
{
  JsonObject *o = msg_object (m);

  return o != NULL ? json_object_get_string_member_with_default (o, "method", NULL) : NULL;
}

/* Reads one more line into the stash; FALSE at EOF.  Fails the test at the
 * deadline. */
static gboolean
bridge_read_more (Bridge *b,
                  gint64 deadline)
{
  char *line;
  Message *m;
  gint64 now = g_get_monotonic_time ();

  if (b->stdout_eof)
    return FALSE;
  line = g_async_queue_timeout_pop (b->lines, MAX (deadline - now, 1));
  tsan_acquire (b->lines);
  if (line == NULL)
    g_error ("timed out waiting for the bridge; stderr so far:\n%s", b->stderr_text->str);
  if (line == EOF_MARK)
    {
      b->stdout_eof = TRUE;
      return FALSE;
    }

  m = g_new0 (Message, 1);
  m->line = line;
  m->node = bridge_json_parse (line, strlen (line), NULL);
  if (m->node == NULL)
    {
      /* Recorded as a bad line by the reader; keep going. */
      g_free (m->line);
      g_free (m);
      return TRUE;
    }

  if (g_strcmp0 (msg_method (m), "host.log") == 0)
    {
      JsonObject *params = json_object_get_object_member (msg_object (m), "params");
      g_ptr_array_add (b->logs, g_strdup_printf ("%s: %s",
                                                 json_object_get_string_member (params, "level"),
                                                 json_object_get_string_member (params, "message")));
      if (json_object_has_member (params, "args"))
        g_ptr_array_add (b->log_args, json_node_copy (json_object_get_member (params, "args")));
      if (b->answer_logs || b->stdin_closed)
        {
          if (!b->stdin_closed)
            bridge_answer (b, json_object_get_member (msg_object (m), "id"), "{\"type\":\"null\"}");
          message_free (m);
          return TRUE;
        }
    }
  g_ptr_array_add (b->stash, m);
  return TRUE;
}

typedef gboolean (*MessageMatch) (Message *m, gconstpointer data);

static Message *
bridge_wait_for (Bridge *b,
                 MessageMatch match,
                 gconstpointer data)
{
  gint64 deadline = g_get_monotonic_time () + timeout_us ();
  guint checked = 0;

  for (;;)
    {
      for (; checked < b->stash->len; checked++)
        {
          Message *m = g_ptr_array_index (b->stash, checked);
          if (match (m, data))
            return g_ptr_array_steal_index (b->stash, checked);
        }
      if (!bridge_read_more (b, deadline))
        return NULL;
    }
}

static gboolean
match_response (Message *m,
                gconstpointer data)
{
  JsonObject *o = msg_object (m);
  JsonNode *id;

  if (o == NULL || json_object_has_member (o, "method"))
    return FALSE;
  id = json_object_get_member (o, "id");
  return id != NULL && JSON_NODE_HOLDS_VALUE (id) && json_node_get_value_type (id) == G_TYPE_INT64 &&
         json_node_get_int (id) == *(const gint64 *) data;
}

static gboolean
match_method (Message *m,
              gconstpointer data)
{
  return g_strcmp0 (msg_method (m), data) == 0;
}

static gboolean
match_null_id_error (Message *m,
                     gconstpointer data)
{
  JsonObject *o = msg_object (m);
  JsonNode *id;

  if (o == NULL || !json_object_has_member (o, "error"))
    return FALSE;
  id = json_object_get_member (o, "id");
  return id != NULL && JSON_NODE_HOLDS_NULL (id);
}

static gboolean
match_array (Message *m,
             gconstpointer data)
{
  return JSON_NODE_HOLDS_ARRAY (m->node);
}

static Message *
bridge_wait_response (Bridge *b,
                      gint64 id)
{
  Message *m = bridge_wait_for (b, match_response, &id);

  if (m == NULL)
    g_error ("the bridge closed stdout before answering request %" G_GINT64_FORMAT "; stderr:\n%s",
             id, b->stderr_text->str);
  return m;
}

static Message *
bridge_wait_request (Bridge *b,
                     const char *method)
{
  Message *m = bridge_wait_for (b, match_method, method);

  if (m == NULL)
    g_error ("the bridge closed stdout while a %s request was expected", method);
  return m;
}

/* The result of a successful response; the message is kept in *keep. */
static JsonNode *
response_result (Message *m)
{
  JsonObject *o = msg_object (m);

  if (json_object_has_member (o, "error"))
    g_error ("unexpected error response: %s", m->line);
  g_assert_true (json_object_has_member (o, "result"));
  return json_object_get_member (o, "result");
}

static JsonObject *
response_error (Message *m)
{
  JsonObject *o = msg_object (m);

  if (!json_object_has_member (o, "error"))
    g_error ("expected an error response: %s", m->line);
  g_assert_false (json_object_has_member (o, "result"));
  return json_object_get_object_member (o, "error");
}

/* Calls and expects success; returns the result (a copy). */
static JsonNode *
bridge_call (Bridge *b,
             const char *method,
             const char *params)
{
  gint64 id = bridge_request (b, method, params);
  Message *m = bridge_wait_response (b, id);
  JsonNode *result = json_node_copy (response_result (m));

  message_free (m);
  return result;
}

/* Calls and expects an error; returns its message and sets *code. */
static char *
bridge_call_error (Bridge *b,
                   const char *method,
                   const char *params,
                   gint64 *code)
{
  gint64 id = bridge_request (b, method, params);
  Message *m = bridge_wait_response (b, id);
  JsonObject *error = response_error (m);
  char *message = g_strdup (json_object_get_string_member (error, "message"));

  if (code != NULL)
    *code = json_object_get_int_member (error, "code");
  message_free (m);
  return message;
}

static JsonNode *
bridge_fn (Bridge *b,
           const char *name,
           const char *args)
{
  g_autofree char *params = g_strdup_printf ("{\"name\":\"%s\",\"args\":[%s]}", name, args);

  return bridge_call (b, "function.call", params);
}

static char *
bridge_fn_error (Bridge *b,
                 const char *name,
                 const char *args,
                 gint64 *code)
{
  g_autofree char *params = g_strdup_printf ("{\"name\":\"%s\",\"args\":[%s]}", name, args);

  return bridge_call_error (b, "function.call", params, code);
}

static char *
bridge_stderr (Bridge *b)
{
  char *text;

  g_mutex_lock (&b->lock);
  tsan_acquire (&b->lock);
  text = g_strdup (b->stderr_text->str);
  tsan_release (&b->lock);
  g_mutex_unlock (&b->lock);
  return text;
}

static gboolean
bridge_has_log (Bridge *b,
                const char *text)
{
  for (guint i = 0; i < b->logs->len; i++)
    if (strstr (g_ptr_array_index (b->logs, i), text) != NULL)
      return TRUE;
  return FALSE;
}

static void
on_exited (GObject *source,
           GAsyncResult *result,
           gpointer data)
{
  gboolean *done = data;

  g_subprocess_wait_finish (G_SUBPROCESS (source), result, NULL);
  *done = TRUE;
}

static gboolean
on_deadline (gpointer data)
{
  gboolean *expired = data;

  *expired = TRUE;
  return G_SOURCE_REMOVE;
}

/* Reads the rest of stdout, waits for the process, returns its exit
 * status. */
static int
bridge_wait_exit (Bridge *b)
{
  gint64 deadline = g_get_monotonic_time () + timeout_us ();
  gboolean done = FALSE, expired = FALSE;
  guint timer;

  while (bridge_read_more (b, deadline))
    ;
  g_subprocess_wait_async (b->process, NULL, on_exited, &done);
  timer = g_timeout_add ((guint) ((deadline - g_get_monotonic_time ()) / 1000 + 1), on_deadline, &expired);
  while (!done && !expired)
    g_main_context_iteration (NULL, TRUE);
  if (!expired)
    g_source_remove (timer);
  if (!done)
    g_error ("the bridge did not exit; stderr:\n%s", b->stderr_text->str);
  g_assert_true (g_subprocess_get_if_exited (b->process));
  /* The process is gone: collect all of its stderr before anyone looks. */
  if (b->stderr_thread != NULL)
    {
      g_thread_join (b->stderr_thread);
      b->stderr_thread = NULL;
    }
  return g_subprocess_get_exit_status (b->process);
}

static void
bridge_free (Bridge *b)
{
  if (!b->stdout_eof || !g_subprocess_get_if_exited (b->process))
    {
      g_subprocess_force_exit (b->process);
      bridge_close_stdin (b);
      g_subprocess_wait (b->process, NULL, NULL);
    }
  g_thread_join (b->stdout_thread);
  if (b->stderr_thread != NULL)
    g_thread_join (b->stderr_thread);

  /* Nothing but protocol may ever appear on stdout. */
  for (guint i = 0; i < b->bad_lines->len; i++)
    g_test_message ("non-protocol stdout line: %s", (char *) g_ptr_array_index (b->bad_lines, i));
  g_assert_cmpuint (b->bad_lines->len, ==, 0);

  {
    char *line;
    while ((line = g_async_queue_try_pop (b->lines)) != NULL)
      if (line != EOF_MARK)
        g_free (line);
  }
  g_async_queue_unref (b->lines);
  g_ptr_array_unref (b->stash);
  g_ptr_array_unref (b->bad_lines);
  g_ptr_array_unref (b->logs);
  g_ptr_array_unref (b->log_args);
  g_string_free (b->stderr_text, TRUE);
  g_mutex_clear (&b->lock);
  g_object_unref (b->process);
  g_free (b);
}

/* Closes stdin, expects a clean exit and frees. */
static void
bridge_finish (Bridge *b,
               int expected_status)
{
  bridge_close_stdin (b);
  g_assert_cmpint (bridge_wait_exit (b), ==, expected_status);
  bridge_free (b);
}

static void
bridge_handshake (Bridge *b)
{
  g_autoptr(JsonNode) result = bridge_call (b, "scriptling.handshake",
    "{\"protocol\":\"1.0\",\"host\":\"scriptling\",\"host_version\":\"dev\","
    "\"transports\":[\"json\"],\"capabilities\":[\"remote_objects\"]}");

  g_assert_cmpstr (json_object_get_string_member (json_node_get_object (result), "protocol"), ==, "1.0");
}

/* ---- transport value helpers ------------------------------------------------ */

static const char *
tv_type (JsonNode *v)
{
  g_assert_true (JSON_NODE_HOLDS_OBJECT (v));
  return json_object_get_string_member (json_node_get_object (v), "type");
}

static gint64
tv_int (JsonNode *v)
{
  JsonNode *value;

  g_assert_cmpstr (tv_type (v), ==, "int");
  value = json_object_get_member (json_node_get_object (v), "value");
  g_assert_cmpint (json_node_get_value_type (value), ==, G_TYPE_INT64);
  return json_node_get_int (value);
}

static double
tv_float (JsonNode *v)
{
  g_assert_cmpstr (tv_type (v), ==, "float");
  return json_node_get_double (json_object_get_member (json_node_get_object (v), "value"));
}

static const char *
tv_str (JsonNode *v)
{
  g_assert_cmpstr (tv_type (v), ==, "string");
  return json_object_get_string_member (json_node_get_object (v), "value");
}

static gboolean
tv_bool (JsonNode *v)
{
  g_assert_cmpstr (tv_type (v), ==, "bool");
  return json_object_get_boolean_member (json_node_get_object (v), "value");
}

static guint
tv_len (JsonNode *v)
{
  JsonObject *o = json_node_get_object (v);

  if (g_str_equal (tv_type (v), "list"))
    return json_object_has_member (o, "items") ? json_array_get_length (json_object_get_array_member (o, "items")) : 0;
  g_assert_cmpstr (tv_type (v), ==, "dict");
  return json_object_has_member (o, "entries") ? json_object_get_size (json_object_get_object_member (o, "entries")) : 0;
}

static JsonNode *
tv_item (JsonNode *v,
         guint i)
{
  g_assert_cmpstr (tv_type (v), ==, "list");
  return json_array_get_element (json_object_get_array_member (json_node_get_object (v), "items"), i);
}

static JsonNode *
tv_get (JsonNode *v,
        const char *key)
{
  JsonNode *member;

  g_assert_cmpstr (tv_type (v), ==, "dict");
  member = json_object_get_member (json_object_get_object_member (json_node_get_object (v), "entries"), key);
  g_assert_nonnull (member);
  return member;
}

/* ---- tests -------------------------------------------------------------------- */

static JsonObject *
find_named (JsonArray *array,
            const char *name)
{
  for (guint i = 0; i < json_array_get_length (array); i++)
    {
      JsonObject *o = json_array_get_object_element (array, i);
      if (g_strcmp0 (json_object_get_string_member (o, "name"), name) == 0)
        return o;
    }
  g_error ("no schema entry named %s", name);
  return NULL;
}

static void
test_handshake (void)
{
  Bridge *b = bridge_start ();
  g_autoptr(JsonNode) result = NULL;
  g_autofree char *err = NULL;
  JsonObject *r, *library, *schema, *fn, *counter, *opaque, *prop;
  JsonArray *functions, *classes, *constants, *methods, *properties;

  /* Later hosts add members such as "policy"; they are ignored. */
  result = bridge_call (b, "scriptling.handshake",
    "{\"protocol\":\"1.0\",\"host\":\"scriptling\",\"host_version\":\"0.23.0\","
    "\"transports\":[\"json\"],\"capabilities\":[\"remote_objects\"],"
    "\"policy\":{\"allowed_paths\":[\"/tmp\"],\"network\":{}}}");
  r = json_node_get_object (result);
  g_assert_cmpstr (json_object_get_string_member (r, "protocol"), ==, "1.0");
  g_assert_cmpstr (json_object_get_string_member (r, "transport"), ==, "json");
  library = json_object_get_object_member (r, "library");
  g_assert_cmpstr (json_object_get_string_member (library, "name"), ==, "scriptling.test.echo");
  g_assert_cmpstr (json_object_get_string_member (library, "version"), ==, "1.2.3");
  g_assert_cmpstr (json_object_get_string_member (library, "description"), ==, "ABI test plugin");
  g_assert_cmpstr (json_array_get_string_element (json_object_get_array_member (r, "capabilities"), 0),
                   ==, "remote_objects");

  schema = json_object_get_object_member (r, "schema");
  functions = json_object_get_array_member (schema, "functions");
  fn = find_named (functions, "echo");
  g_assert_cmpstr (json_object_get_string_member (fn, "description"), ==,
                   "echo(*args, **kwargs) - returns its arguments");
  g_assert_false (json_object_has_member (fn, "source"));
  fn = find_named (functions, "make_values");
  g_assert_false (json_object_has_member (fn, "description"));
  fn = find_named (functions, "wrapped");
  g_assert_true (g_str_has_prefix (json_object_get_string_member (fn, "source"), "def wrapped(x):\n"));
  fn = find_named (functions, "script_only");
  g_assert_nonnull (json_object_get_string_member (fn, "source"));
  /* Registration order is kept; refused registrations are absent. */
  g_assert_cmpstr (json_object_get_string_member (json_array_get_object_element (functions, 0), "name"),
                   ==, "echo");
  g_assert_cmpuint (json_array_get_length (functions), ==, 22);

  classes = json_object_get_array_member (schema, "classes");
  g_assert_cmpuint (json_array_get_length (classes), ==, 2);
  counter = find_named (classes, "Counter");
  g_assert_cmpstr (json_object_get_string_member (json_object_get_object_member (counter, "constructor"), "name"),
                   ==, "Counter");
  methods = json_object_get_array_member (counter, "methods");
  g_assert_cmpuint (json_array_get_length (methods), ==, 3);
  g_assert_cmpstr (json_object_get_string_member (find_named (methods, "inc"), "description"), ==, "inc(n=step)");
  find_named (methods, "get");
  find_named (methods, "call_with");
  properties = json_object_get_array_member (counter, "properties");
  g_assert_cmpuint (json_array_get_length (properties), ==, 3);
  prop = find_named (properties, "value");
  g_assert_true (json_object_get_boolean_member (prop, "settable"));
  g_assert_cmpstr (json_object_get_string_member (prop, "description"), ==, "current value");
  g_assert_true (json_object_get_boolean_member (find_named (properties, "step"), "settable"));
  g_assert_false (json_object_has_member (find_named (properties, "label"), "settable"));
  opaque = find_named (classes, "Opaque");
  g_assert_cmpstr (json_object_get_string_member (opaque, "source"), ==, "class Opaque:\n    pass\n");

  constants = json_object_get_array_member (schema, "constants");
  g_assert_cmpuint (json_array_get_length (constants), ==, 5);
  g_assert_cmpint (tv_int (json_object_get_member (find_named (constants, "ANSWER"), "value")), ==, 42);
  g_assert_cmpfloat (tv_float (json_object_get_member (find_named (constants, "TWO"), "value")), ==, 2.0);
  g_assert_cmpstr (tv_str (json_object_get_member (find_named (constants, "NAME"), "value")), ==, "echo");
  g_assert_cmpuint (tv_len (json_object_get_member (find_named (constants, "PRIMES"), "value")), ==, 3);
  g_assert_true (tv_bool (tv_get (json_object_get_member (find_named (constants, "CONFIG"), "value"), "a")));

  /* A second handshake is answered the same way. */
  g_clear_pointer (&result, json_node_unref);
  result = bridge_call (b, "scriptling.handshake", NULL);
  g_assert_cmpstr (json_object_get_string_member (json_node_get_object (result), "transport"), ==, "json");

  /* Unsupported protocol or transport: refused with a reason. */
  err = bridge_call_error (b, "scriptling.handshake", "{\"protocol\":\"2.0\"}", NULL);
  g_assert_nonnull (strstr (err, "unsupported protocol \"2.0\""));
  g_clear_pointer (&err, g_free);
  err = bridge_call_error (b, "scriptling.handshake", "{\"protocol\":\"1.0\",\"transports\":[\"msgpack\"]}", NULL);
  g_assert_nonnull (strstr (err, "json"));

  bridge_finish (b, 0);
}

static void
test_values_roundtrip (void)
{
  Bridge *b = bridge_start ();
  g_autoptr(JsonNode) r = NULL;
  g_autoptr(JsonNode) types = NULL;
  JsonNode *args, *kwargs;
  gint64 id;
  Message *m;
  g_autofree char *err = NULL;
  gint64 code = 0;
  const char *all =
    "{\"type\":\"null\"},"
    "{\"type\":\"bool\",\"value\":true},"
    "{\"type\":\"int\",\"value\":9223372036854775807},"
    "{\"type\":\"int\",\"value\":-9223372036854775808},"
    "{\"type\":\"float\",\"value\":2},"
    "{\"type\":\"float\",\"value\":-0},"
    "{\"type\":\"float\",\"value\":100000000000000000000},"
    "{\"type\":\"float\",\"value\":1e-7},"
    "{\"type\":\"string\",\"value\":\"\\u003ca\\u0026b\\u003e \\u2028 \\ud83d\\ude00 \xc3\xa9 \\\"\\\\\\n\"},"
    "{\"type\":\"list\"},"
    "{\"type\":\"dict\"},"
    "{\"type\":\"list\",\"items\":[{\"type\":\"int\",\"value\":1},{\"type\":\"dict\",\"entries\":{\"k\":{\"type\":\"float\",\"value\":1.5}}}]},"
    "{},"
    "{\"type\":\"int\",\"value\":1e3},"
    "{\"type\":\"remote\",\"remote\":{\"library\":\"plugin.scriptling.test.echo\",\"class\":\"Counter\",\"id\":\"77\"}}";

  bridge_handshake (b);

  types = bridge_fn (b, "types", all);
  {
    const char *expected[] = { "NoneType", "bool", "int", "int", "float", "float", "float", "float",
                               "str", "list", "dict", "list", "NoneType", "int", "object" };
    g_assert_cmpuint (tv_len (types), ==, G_N_ELEMENTS (expected));
    for (guint i = 0; i < G_N_ELEMENTS (expected); i++)
      g_assert_cmpstr (tv_str (tv_item (types, i)), ==, expected[i]);
  }

  {
    g_autofree char *params = g_strdup_printf (
      "{\"name\":\"echo\",\"args\":[%s],\"kwargs\":{\"a\":{\"type\":\"int\",\"value\":1},"
      "\"b\":{\"type\":\"string\",\"value\":\"x\"}}}", all);
    id = bridge_request (b, "function.call", params);
  }
  m = bridge_wait_response (b, id);
  r = json_node_copy (response_result (m));
  /* Exact int64 limits and float forms on the wire. */
  g_assert_nonnull (strstr (m->line, "{\"type\":\"int\",\"value\":9223372036854775807}"));
  g_assert_nonnull (strstr (m->line, "{\"type\":\"int\",\"value\":-9223372036854775808}"));
  g_assert_nonnull (strstr (m->line, "{\"type\":\"float\",\"value\":2.0}"));
  g_assert_nonnull (strstr (m->line, "{\"type\":\"float\",\"value\":-0.0}"));
  g_assert_nonnull (strstr (m->line, "{\"type\":\"float\",\"value\":1e+20}"));
  g_assert_nonnull (strstr (m->line, "{\"type\":\"float\",\"value\":1e-07}"));
  g_assert_nonnull (strstr (m->line, "{\"type\":\"int\",\"value\":1000}"));
  message_free (m);

  args = tv_get (r, "args");
  kwargs = tv_get (r, "kwargs");
  g_assert_cmpstr (tv_type (tv_item (args, 0)), ==, "null");
  g_assert_true (tv_bool (tv_item (args, 1)));
  g_assert_cmpint (tv_int (tv_item (args, 2)), ==, G_MAXINT64);
  g_assert_cmpint (tv_int (tv_item (args, 3)), ==, G_MININT64);
  g_assert_cmpfloat (tv_float (tv_item (args, 4)), ==, 2.0);
  g_assert_cmpfloat (tv_float (tv_item (args, 5)), ==, 0.0);
  g_assert_true (signbit (tv_float (tv_item (args, 5))));
  g_assert_cmpfloat (tv_float (tv_item (args, 6)), ==, 1e20);
  g_assert_cmpfloat (tv_float (tv_item (args, 7)), ==, 1e-7);
  g_assert_cmpstr (tv_str (tv_item (args, 8)), ==,
                   "<a&b> \xe2\x80\xa8 \xf0\x9f\x98\x80 \xc3\xa9 \"\\\n");
  g_assert_cmpuint (tv_len (tv_item (args, 9)), ==, 0);
  g_assert_cmpuint (tv_len (tv_item (args, 10)), ==, 0);
  g_assert_cmpint (tv_int (tv_item (tv_item (args, 11), 0)), ==, 1);
  g_assert_cmpfloat (tv_float (tv_get (tv_item (tv_item (args, 11), 1), "k")), ==, 1.5);
  g_assert_cmpstr (tv_type (tv_item (args, 12)), ==, "null");
  g_assert_cmpint (tv_int (tv_item (args, 13)), ==, 1000);
  /* Object references go back with the library name as registered. */
  {
    JsonObject *remote = json_object_get_object_member (json_node_get_object (tv_item (args, 14)), "remote");
    g_assert_cmpstr (tv_type (tv_item (args, 14)), ==, "remote");
    g_assert_cmpstr (json_object_get_string_member (remote, "library"), ==, "scriptling.test.echo");
    g_assert_cmpstr (json_object_get_string_member (remote, "class"), ==, "Counter");
    g_assert_cmpstr (json_object_get_string_member (remote, "id"), ==, "77");
  }
  g_assert_cmpuint (tv_len (kwargs), ==, 2);
  g_assert_cmpint (tv_int (tv_get (kwargs, "a")), ==, 1);
  g_assert_cmpstr (tv_str (tv_get (kwargs, "b")), ==, "x");

  /* Malformed transport values are invalid params, reported by path. */
  err = bridge_fn_error (b, "echo", "{\"type\":\"int\",\"value\":1.5}", &code);
  g_assert_cmpint (code, ==, -32602);
  g_assert_nonnull (strstr (err, "args[0]"));
  g_clear_pointer (&err, g_free);
  err = bridge_fn_error (b, "echo", "{\"type\":\"int\",\"value\":1e20}", &code);
  g_assert_cmpint (code, ==, -32602);
  g_assert_nonnull (strstr (err, "out of the 64-bit range"));
  g_clear_pointer (&err, g_free);
  err = bridge_fn_error (b, "echo", "{\"type\":\"int\",\"value\":9223372036854775808}", &code);
  g_assert_cmpint (code, ==, -32602);
  g_clear_pointer (&err, g_free);
  err = bridge_fn_error (b, "echo", "{\"type\":\"int\",\"value\":\"5\"}", &code);
  g_assert_cmpint (code, ==, -32602);
  g_clear_pointer (&err, g_free);
  err = bridge_fn_error (b, "echo", "{\"type\":\"bool\",\"value\":\"x\"}", &code);
  g_assert_nonnull (strstr (err, "invalid bool transport value"));
  g_clear_pointer (&err, g_free);
  err = bridge_fn_error (b, "echo", "{\"type\":\"string\",\"value\":5}", &code);
  g_assert_nonnull (strstr (err, "invalid string transport value"));
  g_clear_pointer (&err, g_free);
  err = bridge_fn_error (b, "echo", "{\"type\":\"list\",\"items\":[{\"type\":\"bytes\"}]}", &code);
  g_assert_nonnull (strstr (err, "args[0][0]"));
  g_assert_nonnull (strstr (err, "unsupported transport value type \"bytes\""));
  g_clear_pointer (&err, g_free);
  err = bridge_fn_error (b, "echo", "5", &code);
  g_assert_cmpint (code, ==, -32602);
  g_clear_pointer (&err, g_free);
  /* NUL cannot travel into the plugin: the whole line is refused, and
   * then its id is unknown. */
  bridge_send_line (b, "{\"jsonrpc\":\"2.0\",\"id\":500,\"method\":\"function.call\",\"params\":"
                       "{\"name\":\"echo\",\"args\":[{\"type\":\"string\",\"value\":\"a\\u0000b\"}]}}");
  m = bridge_wait_for (b, match_null_id_error, NULL);
  g_assert_nonnull (m);
  g_assert_cmpint (json_object_get_int_member (response_error (m), "code"), ==, -32700);
  g_assert_nonnull (strstr (json_object_get_string_member (response_error (m), "message"), "NUL"));
  message_free (m);
  err = bridge_fn_error (b, "echo",
                         "{\"type\":\"remote\",\"remote\":{\"library\":\"other\",\"class\":\"Counter\",\"id\":\"1\"}}",
                         &code);
  g_assert_cmpint (code, ==, -32602);
  g_assert_nonnull (strstr (err, "does not belong"));
  g_clear_pointer (&err, g_free);

  /* Callbacks cannot be sent back to the host. */
  err = bridge_fn_error (b, "echo", "{\"type\":\"callback\",\"callback\":{\"id\":\"cb-1\"}}", &code);
  g_assert_cmpint (code, ==, -32000);
  g_assert_nonnull (strstr (err, "callback cannot be sent back"));

  bridge_finish (b, 0);
}

static void
test_values_encode (void)
{
  Bridge *b = bridge_start ();
  g_autoptr(JsonNode) v = NULL;
  g_autofree char *err = NULL;
  gint64 id;
  Message *m;
  JsonObject *entries;
  JsonObjectIter iter;
  const char *key;
  const char *order[] = { "null", "true", "false", "int_max", "int_min", "float_two", "neg_zero", "big",
                          "tiny", "third", "text", "bad_utf8", "empty_list", "empty_dict", "nested" };
  guint i = 0;

  bridge_handshake (b);
  id = bridge_request (b, "function.call", "{\"name\":\"make_values\"}");
  m = bridge_wait_response (b, id);
  v = json_node_copy (response_result (m));
  g_assert_nonnull (strstr (m->line, "{\"type\":\"int\",\"value\":9223372036854775807}"));
  g_assert_nonnull (strstr (m->line, "{\"type\":\"int\",\"value\":-9223372036854775808}"));
  g_assert_nonnull (strstr (m->line, "{\"type\":\"float\",\"value\":2.0}"));
  g_assert_nonnull (strstr (m->line, "{\"type\":\"float\",\"value\":-0.0}"));
  g_assert_nonnull (strstr (m->line, "{\"type\":\"float\",\"value\":1e+300}"));
  g_assert_nonnull (strstr (m->line, "{\"type\":\"float\",\"value\":5e-324}"));
  g_assert_nonnull (strstr (m->line, "{\"type\":\"float\",\"value\":0.3333333333333333}"));
  /* Control characters escaped, other text raw UTF-8. */
  g_assert_nonnull (strstr (m->line, "h\xc3\xa9llo \\\"q\\\" \\\\ <&> \\n\\t\\u0001 \xe2\x80\xa8 \xf0\x9f\x98\x80"));
  g_assert_nonnull (strstr (m->line, "\"empty_list\":{\"type\":\"list\",\"items\":[]}"));
  g_assert_nonnull (strstr (m->line, "\"empty_dict\":{\"type\":\"dict\",\"entries\":{}}"));
  message_free (m);

  /* Insertion order, with a replaced key keeping its place. */
  entries = json_object_get_object_member (json_node_get_object (v), "entries");
  json_object_iter_init_ordered (&iter, entries);
  while (json_object_iter_next_ordered (&iter, &key, NULL))
    g_assert_cmpstr (key, ==, order[i++]);
  g_assert_cmpuint (i, ==, G_N_ELEMENTS (order));

  g_assert_cmpstr (tv_type (tv_get (v, "null")), ==, "null");
  g_assert_true (tv_bool (tv_get (v, "true")));
  g_assert_false (tv_bool (tv_get (v, "false")));
  g_assert_cmpint (tv_int (tv_get (v, "int_max")), ==, G_MAXINT64);
  g_assert_cmpint (tv_int (tv_get (v, "int_min")), ==, G_MININT64);
  g_assert_true (signbit (tv_float (tv_get (v, "neg_zero"))));
  g_assert_cmpfloat (tv_float (tv_get (v, "tiny")), ==, 5e-324);
  g_assert_cmpfloat (tv_float (tv_get (v, "third")), ==, 1.0 / 3.0);
  /* Invalid UTF-8 replaced, embedded NUL ends the string. */
  g_assert_cmpstr (tv_str (tv_get (v, "bad_utf8")), ==, "ab\xef\xbf\xbd" "c");
  g_assert_cmpfloat (tv_float (tv_item (tv_item (tv_get (v, "nested"), 1), 0)), ==, 2.5);
  g_assert_cmpstr (tv_str (tv_get (tv_item (tv_item (tv_get (v, "nested"), 1), 1), "k")), ==, "v");

  /* NaN has no JSON form: the call fails instead of writing bad JSON. */
  err = bridge_fn_error (b, "nan", "", NULL);
  g_assert_nonnull (strstr (err, "nan returned a value that cannot be sent"));
  g_assert_nonnull (strstr (err, "NaN"));

  bridge_finish (b, 0);
}

static void
test_functions_and_errors (void)
{
  Bridge *b = bridge_start ();
  g_autoptr(JsonNode) r = NULL;
  gint64 id, code = 0;
  Message *m;
  JsonObject *error;
  char *err;

  bridge_handshake (b);

  r = bridge_fn (b, "add", "{\"type\":\"int\",\"value\":2},{\"type\":\"int\",\"value\":3}");
  g_assert_cmpint (tv_int (r), ==, 5);
  g_clear_pointer (&r, json_node_unref);
  r = bridge_call (b, "function.call",
                   "{\"name\":\"add\",\"kwargs\":{\"a\":{\"type\":\"int\",\"value\":20},\"b\":{\"type\":\"int\",\"value\":22}}}");
  g_assert_cmpint (tv_int (r), ==, 42);
  g_clear_pointer (&r, json_node_unref);
  r = bridge_call (b, "function.call",
                   "{\"name\":\"add\",\"args\":[{\"type\":\"int\",\"value\":1}],\"kwargs\":{\"b\":{\"type\":\"int\",\"value\":2}}}");
  g_assert_cmpint (tv_int (r), ==, 3);
  g_clear_pointer (&r, json_node_unref);
  /* Explicit nulls for args and kwargs are accepted. */
  r = bridge_call (b, "function.call", "{\"name\":\"destroyed\",\"args\":null,\"kwargs\":null}");
  g_assert_cmpint (tv_int (r), ==, 0);

  /* Error kinds: the message carries them so Scriptling can classify. */
  id = bridge_request (b, "function.call", "{\"name\":\"add\",\"args\":[{\"type\":\"string\",\"value\":\"x\"}]}");
  m = bridge_wait_response (b, id);
  error = response_error (m);
  g_assert_cmpint (json_object_get_int_member (error, "code"), ==, -32000);
  g_assert_cmpstr (json_object_get_string_member (error, "message"), ==,
                   "type error: add() argument 'a' must be an int, not str");
  g_assert_cmpstr (json_object_get_string_member (json_object_get_object_member (error, "data"), "type"),
                   ==, "TypeError");
  message_free (m);

  id = bridge_request (b, "function.call",
                       "{\"name\":\"fail\",\"args\":[{\"type\":\"string\",\"value\":\"value\"},{\"type\":\"string\",\"value\":\"bad value\"}]}");
  m = bridge_wait_response (b, id);
  error = response_error (m);
  g_assert_cmpstr (json_object_get_string_member (error, "message"), ==, "value error: bad value");
  g_assert_cmpstr (json_object_get_string_member (json_object_get_object_member (error, "data"), "type"),
                   ==, "ValueError");
  message_free (m);

  id = bridge_request (b, "function.call",
                       "{\"name\":\"fail\",\"args\":[{\"type\":\"string\",\"value\":\"runtime\"},{\"type\":\"string\",\"value\":\"boom\"}]}");
  m = bridge_wait_response (b, id);
  error = response_error (m);
  g_assert_cmpstr (json_object_get_string_member (error, "message"), ==, "boom");
  g_assert_cmpstr (json_object_get_string_member (json_object_get_object_member (error, "data"), "type"),
                   ==, "RuntimeError");
  message_free (m);

  err = bridge_fn_error (b, "fail", "{\"type\":\"string\",\"value\":\"type\"},{\"type\":\"string\",\"value\":\"t\"}", NULL);
  g_assert_cmpstr (err, ==, "type error: t");
  g_free (err);

  /* Scriptling classifies by the text alone, so only the prefix may match
   * its phrases: in the message proper their space is a no-break space
   * (a script's own error text quoted by a runtime error stays an
   * Exception, a value error quoting "type mismatch" a ValueError). */
  err = bridge_fn_error (b, "fail",
                         "{\"type\":\"string\",\"value\":\"runtime\"},"
                         "{\"type\":\"string\",\"value\":\"handler raised: name 'x' is not defined, "
                         "invalid value, value error, identifier not found\"}", NULL);
  g_assert_cmpstr (err, ==, "handler raised: name 'x' is not\u00a0defined, invalid\u00a0value, "
                   "value\u00a0error, identifier\u00a0not found");
  g_free (err);
  err = bridge_fn_error (b, "fail",
                         "{\"type\":\"string\",\"value\":\"runtime\"},"
                         "{\"type\":\"string\",\"value\":\"type error: import error\"}", NULL);
  g_assert_cmpstr (err, ==, "type\u00a0error: import\u00a0error");
  g_free (err);
  err = bridge_fn_error (b, "fail",
                         "{\"type\":\"string\",\"value\":\"value\"},"
                         "{\"type\":\"string\",\"value\":\"type mismatch, type mismatch\"}", NULL);
  g_assert_cmpstr (err, ==, "value error: type\u00a0mismatch, type\u00a0mismatch");
  g_free (err);
  err = bridge_fn_error (b, "fail",
                         "{\"type\":\"string\",\"value\":\"type\"},"
                         "{\"type\":\"string\",\"value\":\"value error\"}", NULL);
  g_assert_cmpstr (err, ==, "type error: value\u00a0error");
  g_free (err);

  err = bridge_call_error (b, "function.call",
                           "{\"name\":\"add\",\"args\":[{\"type\":\"int\",\"value\":1}],\"kwargs\":{\"c\":{\"type\":\"int\",\"value\":2}}}",
                           NULL);
  g_assert_cmpstr (err, ==, "type error: add() got an unexpected keyword argument 'c'");
  g_free (err);

  err = bridge_fn_error (b, "no_such_function", "", &code);
  g_assert_cmpint (code, ==, -32000);
  g_assert_nonnull (strstr (err, "unknown function 'no_such_function'"));
  g_free (err);

  err = bridge_call_error (b, "function.call", "{\"args\":[]}", &code);
  g_assert_cmpint (code, ==, -32602);
  g_free (err);

  err = bridge_call_error (b, "function.call", "{\"name\":\"echo\",\"args\":{}}", &code);
  g_assert_cmpint (code, ==, -32602);
  g_free (err);

  err = bridge_call_error (b, "function.call", "{\"name\":\"echo\",\"kwargs\":[]}", &code);
  g_assert_cmpint (code, ==, -32602);
  g_free (err);

  err = bridge_fn_error (b, "script_only", "", &code);
  g_assert_nonnull (strstr (err, "wrapper source"));
  g_free (err);

  /* Wrapper functions still have their native implementation. */
  g_clear_pointer (&r, json_node_unref);
  r = bridge_fn (b, "wrapped", "{\"type\":\"string\",\"value\":\"w\"}");
  g_assert_cmpstr (tv_str (r), ==, "w");

  /* A deferred call completed inside its own function. */
  g_clear_pointer (&r, json_node_unref);
  r = bridge_fn (b, "defer_and_return", "{\"type\":\"int\",\"value\":7}");
  g_assert_cmpint (tv_int (r), ==, 7);

  /* A deferred call completed with an error from the pump. */
  err = bridge_fn_error (b, "fail_later", "", NULL);
  g_assert_cmpstr (err, ==, "value error: failed later");
  g_free (err);

  bridge_finish (b, 0);
}

static char *
counter_new (Bridge *b,
             const char *params)
{
  g_autoptr(JsonNode) ref = bridge_call (b, "object.new", params);
  JsonObject *o = json_node_get_object (ref);
  JsonNode *id = json_object_get_member (o, "id");

  g_assert_cmpstr (json_object_get_string_member (o, "library"), ==, "scriptling.test.echo");
  g_assert_cmpstr (json_object_get_string_member (o, "class"), ==, "Counter");
  /* The host decodes the id as a string and fails on a number. */
  g_assert_cmpint (json_node_get_value_type (id), ==, G_TYPE_STRING);
  return g_strdup (json_node_get_string (id));
}

static JsonNode *
method_call (Bridge *b,
             const char *object_id,
             const char *method,
             const char *args)
{
  g_autofree char *params = args != NULL
    ? g_strdup_printf ("{\"object_id\":\"%s\",\"method\":\"%s\",\"args\":[%s]}", object_id, method, args)
    : g_strdup_printf ("{\"object_id\":\"%s\",\"method\":\"%s\"}", object_id, method);

  return bridge_call (b, "object.call_method", params);
}

static char *
method_error (Bridge *b,
              const char *object_id,
              const char *method,
              const char *args)
{
  g_autofree char *params = args != NULL
    ? g_strdup_printf ("{\"object_id\":\"%s\",\"method\":\"%s\",\"args\":[%s]}", object_id, method, args)
    : g_strdup_printf ("{\"object_id\":\"%s\",\"method\":\"%s\"}", object_id, method);

  return bridge_call_error (b, "object.call_method", params, NULL);
}

static void
test_objects (void)
{
  Bridge *b = bridge_start ();
  g_autofree char *c1 = NULL;
  g_autofree char *c2 = NULL;
  JsonNode *r;
  char *err;
  gint64 code = 0;

  bridge_handshake (b);

  c1 = counter_new (b, "{\"class\":\"Counter\",\"args\":[{\"type\":\"int\",\"value\":10}],"
                       "\"kwargs\":{\"step\":{\"type\":\"int\",\"value\":2}}}");
  c2 = counter_new (b, "{\"class\":\"Counter\"}");
  g_assert_cmpstr (c1, !=, c2);

#define CHECK_INT(expr, expected) \
  G_STMT_START { r = (expr); g_assert_cmpint (tv_int (r), ==, (expected)); json_node_unref (r); } G_STMT_END

  CHECK_INT (method_call (b, c1, "inc", NULL), 12);
  CHECK_INT (method_call (b, c1, "inc", "{\"type\":\"int\",\"value\":5}"), 17);
  CHECK_INT (method_call (b, c1, "get", NULL), 17);
  CHECK_INT (method_call (b, c2, "get", NULL), 0);

  /* Properties: get with no args, set with one. */
  CHECK_INT (method_call (b, c1, "value", NULL), 17);
  r = method_call (b, c1, "value", "{\"type\":\"int\",\"value\":3}");
  g_assert_cmpstr (tv_type (r), ==, "null");
  json_node_unref (r);
  CHECK_INT (method_call (b, c1, "value", NULL), 3);
  CHECK_INT (method_call (b, c1, "step", NULL), 2);
  err = method_error (b, c1, "step", "{\"type\":\"int\",\"value\":0}");
  g_assert_cmpstr (err, ==, "value error: step must be a non-zero int");
  g_free (err);
  err = method_error (b, c1, "value", "{\"type\":\"string\",\"value\":\"x\"}");
  g_assert_cmpstr (err, ==, "type error: value must be an int");
  g_free (err);
  r = method_call (b, c1, "label", NULL);
  g_assert_cmpstr (tv_str (r), ==, "counter-10");
  json_node_unref (r);
  err = method_error (b, c1, "label", "{\"type\":\"string\",\"value\":\"x\"}");
  g_assert_cmpstr (err, ==, "can't set attribute 'label': property is read-only");
  g_free (err);
  err = method_error (b, c1, "value", "{\"type\":\"int\",\"value\":1},{\"type\":\"int\",\"value\":2}");
  g_assert_true (g_str_has_prefix (err, "type error: "));
  g_free (err);
  err = method_error (b, c1, "nope", NULL);
  g_assert_cmpstr (err, ==, "'Counter' object has no attribute 'nope'");
  g_free (err);
  err = bridge_call_error (b, "object.call_method", "{\"object_id\":\"1\"}", &code);
  g_assert_cmpint (code, ==, -32602);
  g_free (err);

  /* Object references as arguments, with either library spelling. */
  {
    g_autofree char *a1 = g_strdup_printf (
      "{\"type\":\"remote\",\"remote\":{\"library\":\"scriptling.test.echo\",\"class\":\"Counter\",\"id\":\"%s\"}}", c1);
    g_autofree char *a2 = g_strdup_printf (
      "{\"type\":\"remote\",\"remote\":{\"library\":\"plugin.scriptling.test.echo\",\"class\":\"Counter\",\"id\":\"%s\"}}", c1);
    g_autofree char *a3 = g_strdup_printf (
      "{\"type\":\"remote\",\"remote\":{\"library\":\"scriptling.test.echo\",\"class\":\"Opaque\",\"id\":\"%s\"}}", c1);

    CHECK_INT (bridge_fn (b, "counter_value", a1), 3);
    CHECK_INT (bridge_fn (b, "counter_value", a2), 3);
    err = bridge_fn_error (b, "counter_value", a3, NULL);
    g_assert_cmpstr (err, ==, "type error: counter_value() needs a live Counter");
    g_free (err);
  }

  /* Classes that cannot be made, unknown classes, bad arguments. */
  err = bridge_call_error (b, "object.new", "{\"class\":\"Opaque\"}", NULL);
  g_assert_cmpstr (err, ==, "type error: cannot create 'Opaque' instances");
  g_free (err);
  err = bridge_call_error (b, "object.new", "{\"class\":\"Nope\"}", NULL);
  g_assert_nonnull (strstr (err, "unknown class 'Nope'"));
  g_free (err);
  err = bridge_call_error (b, "object.new", "{\"class\":\"Counter\",\"args\":[{\"type\":\"string\",\"value\":\"x\"}]}", NULL);
  g_assert_cmpstr (err, ==, "type error: Counter() argument 'start' must be an int, not str");
  g_free (err);
  err = bridge_call_error (b, "object.new", "{}", &code);
  g_assert_cmpint (code, ==, -32602);
  g_free (err);

  /* A callback may release the object while its method runs: the
   * destructor waits until the method has returned. */
  {
    g_autofree char *params = g_strdup_printf (
      "{\"object_id\":\"%s\",\"method\":\"call_with\",\"args\":[{\"type\":\"callback\",\"callback\":{\"id\":\"cb-9\"}}]}", c2);
    g_autofree char *destroy = g_strdup_printf ("{\"object_id\":\"%s\"}", c2);
    gint64 id = bridge_request (b, "object.call_method", params);
    Message *cb = bridge_wait_request (b, "callback.call");
    JsonNode *v;

    v = bridge_call (b, "object.destroy", destroy);
    json_node_unref (v);
    /* Still alive until the method returns. */
    CHECK_INT (bridge_fn (b, "destroyed", ""), 0);
    bridge_answer (b, json_object_get_member (msg_object (cb), "id"), "{\"type\":\"string\",\"value\":\"ok\"}");
    message_free (cb);
    {
      Message *m = bridge_wait_response (b, id);
      g_assert_cmpstr (tv_str (response_result (m)), ==, "ok");
      message_free (m);
    }
    CHECK_INT (bridge_fn (b, "destroyed", ""), 1);
  }

  /* Destroy is idempotent; the object is gone afterwards. */
  {
    g_autofree char *destroy = g_strdup_printf ("{\"object_id\":\"%s\"}", c1);

    r = bridge_call (b, "object.destroy", destroy);
    g_assert_true (JSON_NODE_HOLDS_NULL (r));
    json_node_unref (r);
    r = bridge_call (b, "object.destroy", destroy);
    g_assert_true (JSON_NODE_HOLDS_NULL (r));
    json_node_unref (r);
    r = bridge_call (b, "object.destroy", "{\"object_id\":\"999\"}");
    g_assert_true (JSON_NODE_HOLDS_NULL (r));
    json_node_unref (r);
    err = bridge_call_error (b, "object.destroy", "{}", &code);
    g_assert_cmpint (code, ==, -32602);
    g_free (err);
  }
  err = method_error (b, c1, "get", NULL);
  g_assert_nonnull (strstr (err, "unknown object id"));
  g_free (err);
  CHECK_INT (bridge_fn (b, "destroyed", ""), 2);
  g_assert_true (bridge_has_log (b, "debug: destroyed counter-10"));
  g_assert_true (bridge_has_log (b, "debug: destroyed counter-0"));

  /* New ids are never reused. */
  {
    g_autofree char *c3 = counter_new (b, "{\"class\":\"Counter\"}");
    g_assert_cmpstr (c3, ==, "3");
  }

#undef CHECK_INT
  bridge_finish (b, 0);
}

static void
test_callbacks (void)
{
  Bridge *b = bridge_start ();
  gint64 id;
  Message *m;
  char *err;
  JsonNode *r;

  bridge_handshake (b);

  /* Three calls, each answered before the next is sent. */
  id = bridge_request (b, "function.call",
                       "{\"name\":\"call_n\",\"args\":[{\"type\":\"callback\",\"callback\":{\"id\":\"cb-1\"}},"
                       "{\"type\":\"int\",\"value\":3}]}");
  for (int i = 0; i < 3; i++)
    {
      Message *cb = bridge_wait_request (b, "callback.call");
      JsonObject *params = json_object_get_object_member (msg_object (cb), "params");
      JsonNode *cb_id = json_object_get_member (msg_object (cb), "id");
      g_autofree char *answer = g_strdup_printf ("{\"type\":\"int\",\"value\":%d}", i * 10);

      g_assert_cmpint (json_node_get_value_type (cb_id), ==, G_TYPE_INT64);
      g_assert_cmpstr (json_object_get_string_member (params, "id"), ==, "cb-1");
      g_assert_cmpint (tv_int (json_array_get_element (json_object_get_array_member (params, "args"), 0)), ==, i);
      g_assert_cmpint (tv_int (json_object_get_member (json_object_get_object_member (params, "kwargs"), "total")),
                       ==, 3);
      /* Nothing else goes out while a callback is outstanding. */
      g_assert_cmpuint (b->stash->len, ==, 0);
      bridge_answer (b, cb_id, answer);
      message_free (cb);
    }
  m = bridge_wait_response (b, id);
  r = response_result (m);
  g_assert_cmpuint (tv_len (r), ==, 3);
  g_assert_cmpint (tv_int (tv_item (r, 2)), ==, 20);
  message_free (m);

  /* A failing callback fails the call with the script's message. */
  id = bridge_request (b, "function.call",
                       "{\"name\":\"call_n\",\"args\":[{\"type\":\"callback\",\"callback\":{\"id\":\"cb-2\"}},"
                       "{\"type\":\"int\",\"value\":2}]}");
  m = bridge_wait_request (b, "callback.call");
  bridge_answer_error (b, json_object_get_member (msg_object (m), "id"), "boom in script");
  message_free (m);
  m = bridge_wait_response (b, id);
  g_assert_cmpstr (json_object_get_string_member (response_error (m), "message"), ==,
                   "callback failed: boom in script");
  message_free (m);

  /* A bare null result is accepted like the host accepts it. */
  id = bridge_request (b, "function.call",
                       "{\"name\":\"call_n\",\"args\":[{\"type\":\"callback\",\"callback\":{\"id\":\"cb-3\"}}]}");
  m = bridge_wait_request (b, "callback.call");
  bridge_answer (b, json_object_get_member (msg_object (m), "id"), "null");
  message_free (m);
  m = bridge_wait_response (b, id);
  g_assert_cmpstr (tv_type (tv_item (response_result (m), 0)), ==, "null");
  message_free (m);

  /* An invalid callback result fails the callback (a runtime error: the
   * phrase "invalid value" must not make Scriptling call it a ValueError). */
  id = bridge_request (b, "function.call",
                       "{\"name\":\"call_n\",\"args\":[{\"type\":\"callback\",\"callback\":{\"id\":\"cb-4\"}}]}");
  m = bridge_wait_request (b, "callback.call");
  bridge_answer (b, json_object_get_member (msg_object (m), "id"), "{\"type\":\"callback\",\"callback\":{\"id\":\"x\"}}");
  message_free (m);
  m = bridge_wait_response (b, id);
  g_assert_nonnull (strstr (json_object_get_string_member (response_error (m), "message"), "returned an invalid\u00a0value"));
  message_free (m);

  /* A callback kept beyond its call cannot be used, and nothing is sent. */
  r = bridge_fn (b, "keep", "{\"type\":\"callback\",\"callback\":{\"id\":\"cb-5\"}}");
  json_node_unref (r);
  r = bridge_fn (b, "call_kept", "");
  g_assert_nonnull (strstr (tv_str (r), "cb-5 can no longer be called"));
  json_node_unref (r);
  g_assert_cmpuint (b->stash->len, ==, 0);

  /* Re-entrance: while its callback is outstanding, the host calls the
   * plugin again (as a callback calling into the plugin does) and gets
   * the answer before it answers the callback. */
  id = bridge_request (b, "function.call",
                       "{\"name\":\"call_n\",\"args\":[{\"type\":\"callback\",\"callback\":{\"id\":\"cb-6\"}}]}");
  m = bridge_wait_request (b, "callback.call");
  r = bridge_fn (b, "add", "{\"type\":\"int\",\"value\":20},{\"type\":\"int\",\"value\":22}");
  g_assert_cmpint (tv_int (r), ==, 42);
  json_node_unref (r);
  {
    /* Even a nested call that itself calls back. */
    gint64 inner = bridge_request (b, "function.call",
                                   "{\"name\":\"call_n\",\"args\":[{\"type\":\"callback\",\"callback\":{\"id\":\"cb-7\"}}]}");
    Message *m2 = bridge_wait_request (b, "callback.call");
    Message *r2;

    g_assert_cmpstr (json_object_get_string_member (json_object_get_object_member (msg_object (m2), "params"), "id"),
                     ==, "cb-7");
    bridge_answer (b, json_object_get_member (msg_object (m2), "id"), "{\"type\":\"int\",\"value\":7}");
    message_free (m2);
    r2 = bridge_wait_response (b, inner);
    g_assert_cmpint (tv_int (tv_item (response_result (r2), 0)), ==, 7);
    message_free (r2);
  }
  bridge_answer (b, json_object_get_member (msg_object (m), "id"), "{\"type\":\"int\",\"value\":6}");
  message_free (m);
  m = bridge_wait_response (b, id);
  g_assert_cmpint (tv_int (tv_item (response_result (m), 0)), ==, 6);
  message_free (m);

  /* Callbacks are not allowed in callback results or where no call owns
   * them; callback ids of a finished call are rejected by the plugin. */
  err = bridge_fn_error (b, "call_n", "{\"type\":\"int\",\"value\":1}", NULL);
  g_assert_cmpstr (err, ==, "type error: call_n() argument 'callback' must be callable");
  g_free (err);

  bridge_finish (b, 0);
}

static void
test_events (void)
{
  Bridge *b = bridge_start ();
  gint64 wait_id, id;
  Message *m;
  JsonNode *r;

  bridge_handshake (b);

  /* A deferred call stays in flight while other requests are served. */
  wait_id = bridge_request (b, "function.call",
                            "{\"name\":\"wait_events\",\"args\":[{\"type\":\"callback\",\"callback\":{\"id\":\"cb-w\"}},"
                            "{\"type\":\"int\",\"value\":3}]}");
  r = bridge_fn (b, "add", "{\"type\":\"int\",\"value\":1},{\"type\":\"int\",\"value\":1}");
  g_assert_cmpint (tv_int (r), ==, 2);
  json_node_unref (r);

  /* A plugin thread queues events and wakes the host; the pump delivers
   * them through the deferred call's callback. */
  id = bridge_request (b, "function.call", "{\"name\":\"fire\",\"args\":[{\"type\":\"int\",\"value\":3}]}");
  for (int i = 1; i <= 3; i++)
    {
      Message *cb = bridge_wait_request (b, "callback.call");
      JsonObject *params = json_object_get_object_member (msg_object (cb), "params");
      g_autofree char *answer = NULL;
      gint64 event;

      g_assert_cmpstr (json_object_get_string_member (params, "id"), ==, "cb-w");
      event = tv_int (json_array_get_element (json_object_get_array_member (params, "args"), 0));
      g_assert_cmpint (event, ==, i);
      answer = g_strdup_printf ("{\"type\":\"int\",\"value\":%" G_GINT64_FORMAT "}", event * 100);
      bridge_answer (b, json_object_get_member (msg_object (cb), "id"), answer);
      message_free (cb);
    }
  m = bridge_wait_response (b, id);
  g_assert_cmpstr (tv_type (response_result (m)), ==, "null");
  message_free (m);
  m = bridge_wait_response (b, wait_id);
  r = response_result (m);
  g_assert_cmpuint (tv_len (r), ==, 3);
  g_assert_cmpint (tv_int (tv_item (r, 0)), ==, 100);
  g_assert_cmpint (tv_int (tv_item (r, 2)), ==, 300);
  message_free (m);

  /* Events queued with no waiter are delivered during the next call. */
  r = bridge_fn (b, "fire", "{\"type\":\"int\",\"value\":2}");
  json_node_unref (r);
  wait_id = bridge_request (b, "function.call",
                            "{\"name\":\"wait_events\",\"args\":[{\"type\":\"callback\",\"callback\":{\"id\":\"cb-x\"}},"
                            "{\"type\":\"int\",\"value\":2}]}");
  for (int i = 1; i <= 2; i++)
    {
      Message *cb = bridge_wait_request (b, "callback.call");
      bridge_answer (b, json_object_get_member (msg_object (cb), "id"), "{\"type\":\"bool\",\"value\":true}");
      message_free (cb);
    }
  m = bridge_wait_response (b, wait_id);
  g_assert_cmpuint (tv_len (response_result (m)), ==, 2);
  message_free (m);

  /* A deferred call completed while one of its callbacks is still running
   * in the host: its reply waits until that callback has returned. */
  wait_id = bridge_request (b, "function.call",
                            "{\"name\":\"wait_events\",\"args\":[{\"type\":\"callback\",\"callback\":{\"id\":\"cb-y\"}},"
                            "{\"type\":\"int\",\"value\":100}]}");
  id = bridge_request (b, "function.call",
                       "{\"name\":\"call_waiter\",\"args\":[{\"type\":\"string\",\"value\":\"hi\"}]}");
  {
    Message *cb = bridge_wait_request (b, "callback.call");
    JsonObject *params = json_object_get_object_member (msg_object (cb), "params");

    g_assert_cmpstr (json_object_get_string_member (params, "id"), ==, "cb-y");
    r = bridge_fn (b, "complete_waiter", "");
    json_node_unref (r);
    /* Everything written before complete_waiter's reply has been read. */
    for (guint i = 0; i < b->stash->len; i++)
      g_assert_false (match_response (g_ptr_array_index (b->stash, i), &wait_id));
    bridge_answer (b, json_object_get_member (msg_object (cb), "id"), "{\"type\":\"string\",\"value\":\"ho\"}");
    message_free (cb);
  }
  m = bridge_wait_response (b, wait_id);
  g_assert_cmpuint (tv_len (response_result (m)), ==, 0);
  message_free (m);
  m = bridge_wait_response (b, id);
  g_assert_cmpstr (tv_str (response_result (m)), ==, "ho");
  message_free (m);

  bridge_finish (b, 0);
}

static void
test_pipelining (void)
{
  Bridge *b = bridge_start ();
  g_autoptr(GString) burst = g_string_new (NULL);
  const char *requests[] = {
    "{\"name\":\"add\",\"args\":[{\"type\":\"int\",\"value\":1},{\"type\":\"int\",\"value\":1}]}",
    "{\"name\":\"call_n\",\"args\":[{\"type\":\"callback\",\"callback\":{\"id\":\"cb-p\"}},{\"type\":\"int\",\"value\":2}]}",
    "{\"name\":\"add\",\"args\":[{\"type\":\"int\",\"value\":2},{\"type\":\"int\",\"value\":2}]}",
    "{\"name\":\"echo\",\"args\":[{\"type\":\"string\",\"value\":\"x\"}]}",
    "{\"name\":\"add\",\"args\":[{\"type\":\"int\",\"value\":3},{\"type\":\"int\",\"value\":3}]}",
  };
  gint64 first = 100;
  Message *m;

  bridge_handshake (b);
  /* Everything in one write, before reading anything. */
  for (guint i = 0; i < G_N_ELEMENTS (requests); i++)
    {
      g_autofree char *text = request_text (first + i, "function.call", requests[i]);
      g_string_append_printf (burst, "%s\n", text);
    }
  {
    g_autofree char *obj = request_text (first + 5, "object.new", "{\"class\":\"Counter\"}");
    g_string_append_printf (burst, "%s\n", obj);
  }
  bridge_send_raw (b, burst->str);

  for (int i = 0; i < 2; i++)
    {
      Message *cb = bridge_wait_request (b, "callback.call");
      bridge_answer (b, json_object_get_member (msg_object (cb), "id"), "{\"type\":\"null\"}");
      message_free (cb);
    }
  for (gint64 id = first + 5; id >= first; id--)
    {
      m = bridge_wait_response (b, id);
      response_result (m);
      message_free (m);
    }
  bridge_finish (b, 0);
}

static void
test_protocol_errors (void)
{
  Bridge *b = bridge_start ();
  Message *m;
  JsonObject *error;
  g_autoptr(GString) deep = g_string_new (NULL);

  bridge_handshake (b);

#define EXPECT_ERROR(id_, code_) \
  G_STMT_START { \
    gint64 expected_id = (id_); \
    m = bridge_wait_response (b, expected_id); \
    error = response_error (m); \
    g_assert_cmpint (json_object_get_int_member (error, "code"), ==, (code_)); \
    message_free (m); \
  } G_STMT_END
#define EXPECT_NULL_ID_ERROR(code_) \
  G_STMT_START { \
    m = bridge_wait_for (b, match_null_id_error, NULL); \
    g_assert_nonnull (m); \
    error = response_error (m); \
    g_assert_cmpint (json_object_get_int_member (error, "code"), ==, (code_)); \
    message_free (m); \
  } G_STMT_END

  bridge_send_line (b, "this is not json");
  EXPECT_NULL_ID_ERROR (-32700);
  bridge_send_line (b, "{\"jsonrpc\":\"2.0\",\"id\":1000,\"method\":\"function.call\"} trailing");
  EXPECT_NULL_ID_ERROR (-32700);
  bridge_send_line (b, "{'jsonrpc':'2.0'}");
  EXPECT_NULL_ID_ERROR (-32700);
  bridge_send_line (b, "{\"jsonrpc\":\"1.0\",\"id\":1001,\"method\":\"function.call\"}");
  EXPECT_ERROR (1001, -32600);
  bridge_send_line (b, "{\"id\":1002,\"method\":\"function.call\"}");
  EXPECT_ERROR (1002, -32600);
  bridge_send_line (b, "{\"jsonrpc\":\"2.0\",\"id\":1003}");
  EXPECT_ERROR (1003, -32600);
  bridge_send_line (b, "{\"jsonrpc\":\"2.0\",\"id\":1004,\"method\":5}");
  EXPECT_ERROR (1004, -32600);
  bridge_send_line (b, "{\"jsonrpc\":\"2.0\",\"id\":1005,\"method\":\"no.such.method\"}");
  EXPECT_ERROR (1005, -32601);
  bridge_send_line (b, "{\"jsonrpc\":\"2.0\",\"id\":1006,\"method\":\"function.call\",\"params\":[1]}");
  EXPECT_ERROR (1006, -32602);
  bridge_send_line (b, "{\"jsonrpc\":\"2.0\",\"id\":{\"a\":1},\"method\":\"function.call\"}");
  EXPECT_NULL_ID_ERROR (-32600);
  bridge_send_line (b, "42");
  EXPECT_NULL_ID_ERROR (-32600);
  bridge_send_line (b, "[]");
  EXPECT_NULL_ID_ERROR (-32600);
  for (int i = 0; i < 300; i++)
    g_string_append_c (deep, '[');
  for (int i = 0; i < 300; i++)
    g_string_append_c (deep, ']');
  bridge_send_line (b, deep->str);
  EXPECT_NULL_ID_ERROR (-32700);
  {
    g_autofree char *text = request_text (1007, "object.call_method",
                                          "{\"object_id\":\"12345\",\"method\":\"get\"}");
    bridge_send_line (b, text);
    EXPECT_ERROR (1007, -32000);
  }

  bridge_finish (b, 0);
#undef EXPECT_ERROR
#undef EXPECT_NULL_ID_ERROR
}

static gboolean
match_string_id (Message *m,
                 gconstpointer data)
{
  JsonObject *o = msg_object (m);
  JsonNode *id = o != NULL ? json_object_get_member (o, "id") : NULL;

  return id != NULL && JSON_NODE_HOLDS_VALUE (id) && json_node_get_value_type (id) == G_TYPE_STRING &&
         g_str_equal (json_node_get_string (id), data);
}

static void
test_protocol_batches (void)
{
  Bridge *b = bridge_start ();
  Message *m;
  JsonArray *array;
  JsonNode *r;
  gboolean seen_20 = FALSE, seen_21 = FALSE;
  guint null_ids = 0;

  bridge_handshake (b);

  /* String ids, CRLF line ends and blank lines. */
  bridge_send_raw (b, "\n  \n{\"jsonrpc\":\"2.0\",\"id\":\"abc\",\"method\":\"no.such.method\"}\r\n");
  m = bridge_wait_for (b, match_string_id, "abc");
  g_assert_nonnull (m);
  g_assert_cmpint (json_object_get_int_member (response_error (m), "code"), ==, -32601);
  message_free (m);

  /* Notifications get no reply, but run. */
  bridge_send_line (b, "{\"jsonrpc\":\"2.0\",\"method\":\"object.new\",\"params\":{\"class\":\"Counter\"}}");
  bridge_send_line (b, "{\"jsonrpc\":\"2.0\",\"method\":\"no.such.method\"}");
  r = bridge_call (b, "object.call_method", "{\"object_id\":\"1\",\"method\":\"get\"}");
  g_assert_cmpint (tv_int (r), ==, 0);
  json_node_unref (r);

  /* A mixed batch gets one array answer, without the notification. */
  bridge_send_line (b, "["
    "{\"jsonrpc\":\"2.0\",\"id\":20,\"method\":\"function.call\",\"params\":{\"name\":\"add\",\"args\":[{\"type\":\"int\",\"value\":1},{\"type\":\"int\",\"value\":2}]}},"
    "{\"jsonrpc\":\"2.0\",\"method\":\"function.call\",\"params\":{\"name\":\"add\",\"args\":[{\"type\":\"int\",\"value\":1}]}},"
    "{\"foo\":1},"
    "\"x\","
    "{\"jsonrpc\":\"2.0\",\"id\":21,\"method\":\"function.call\",\"params\":{\"name\":\"nope\"}}"
    "]");
  m = bridge_wait_for (b, match_array, NULL);
  g_assert_nonnull (m);
  array = json_node_get_array (m->node);
  g_assert_cmpuint (json_array_get_length (array), ==, 4);
  for (guint i = 0; i < 4; i++)
    {
      JsonObject *o = json_array_get_object_element (array, i);
      JsonNode *id = json_object_get_member (o, "id");

      if (JSON_NODE_HOLDS_NULL (id))
        {
          null_ids++;
          g_assert_cmpint (json_object_get_int_member (json_object_get_object_member (o, "error"), "code"),
                           ==, -32600);
        }
      else if (json_node_get_int (id) == 20)
        {
          seen_20 = TRUE;
          g_assert_cmpint (tv_int (json_object_get_member (o, "result")), ==, 3);
        }
      else if (json_node_get_int (id) == 21)
        {
          seen_21 = TRUE;
          g_assert_true (json_object_has_member (o, "error"));
        }
    }
  g_assert_true (seen_20 && seen_21);
  g_assert_cmpuint (null_ids, ==, 2);
  message_free (m);

  /* A batch of notifications only: no reply at all. */
  bridge_send_line (b, "[{\"jsonrpc\":\"2.0\",\"method\":\"function.call\",\"params\":{\"name\":\"destroyed\"}}]");
  r = bridge_call (b, "environment.open", NULL);
  g_assert_true (JSON_NODE_HOLDS_NULL (r));
  json_node_unref (r);
  r = bridge_call (b, "environment.close", "{}");
  g_assert_true (JSON_NODE_HOLDS_NULL (r));
  json_node_unref (r);
  g_assert_cmpuint (b->stash->len, ==, 0);

  /* A response to nothing is ignored. */
  bridge_send_line (b, "{\"jsonrpc\":\"2.0\",\"id\":424242,\"result\":null}");
  bridge_send_line (b, "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32700,\"message\":\"x\"}}");
  r = bridge_fn (b, "destroyed", "");
  g_assert_cmpint (tv_int (r), ==, 0);
  json_node_unref (r);

  bridge_finish (b, 0);
}

static void
test_logging (void)
{
  Bridge *b = bridge_start ();
  g_autofree char *err_text = NULL;
  JsonNode *r;
  Message *log;
  JsonObject *params;
  JsonArray *args;
  gint64 id;

  bridge_handshake (b);
  /* The bridge does not wait for host.log replies. */
  b->answer_logs = FALSE;
  id = bridge_request (b, "function.call",
                       "{\"name\":\"log\",\"args\":[{\"type\":\"string\",\"value\":\"warn\"},{\"type\":\"string\",\"value\":\"hello\"}]}");
  {
    Message *m = bridge_wait_response (b, id);
    message_free (m);
  }
  log = bridge_wait_request (b, "host.log");
  params = json_object_get_object_member (msg_object (log), "params");
  g_assert_cmpstr (json_object_get_string_member (params, "level"), ==, "warn");
  g_assert_cmpstr (json_object_get_string_member (params, "message"), ==, "hello");
  args = json_object_get_array_member (params, "args");
  g_assert_cmpstr (tv_str (json_array_get_element (args, 0)), ==, "key");
  g_assert_cmpstr (tv_str (json_array_get_element (args, 1)), ==, "value");
  bridge_answer (b, json_object_get_member (msg_object (log), "id"), "{\"type\":\"null\"}");
  message_free (log);
  b->answer_logs = TRUE;

  r = bridge_fn (b, "log", "{\"type\":\"string\",\"value\":\"trace\"},{\"type\":\"string\",\"value\":\"t\"}");
  json_node_unref (r);
  r = bridge_fn (b, "log", "{\"type\":\"string\",\"value\":\"error\"},{\"type\":\"string\",\"value\":\"e\"}");
  json_node_unref (r);
  r = bridge_fn (b, "log_from_thread", "{\"type\":\"string\",\"value\":\"from a thread\"}");
  json_node_unref (r);
  /* The log was written before the reply, so it has been read already. */
  g_assert_true (bridge_has_log (b, "trace: t"));
  g_assert_true (bridge_has_log (b, "error: e"));
  g_assert_true (bridge_has_log (b, "info: from a thread"));

  /* The host answering a log with an error is only reported. */
  b->answer_logs = FALSE;
  r = bridge_fn (b, "log", "{\"type\":\"string\",\"value\":\"info\"},{\"type\":\"string\",\"value\":\"x\"}");
  json_node_unref (r);
  log = bridge_wait_request (b, "host.log");
  bridge_answer_error (b, json_object_get_member (msg_object (log), "id"), "logger broken");
  message_free (log);
  b->answer_logs = TRUE;
  r = bridge_fn (b, "destroyed", "");
  json_node_unref (r);

  bridge_close_stdin (b);
  g_assert_cmpint (bridge_wait_exit (b), ==, 0);
  /* Logs from before the handshake went to stderr. */
  err_text = bridge_stderr (b);
  g_assert_nonnull (strstr (err_text, "[info] echo plugin initialised"));
  g_assert_nonnull (strstr (err_text, "logger broken"));
  bridge_free (b);
}

static void
test_stdout_clean (void)
{
  Bridge *b = bridge_start ();
  g_autofree char *err_text = NULL;
  JsonNode *r;

  bridge_handshake (b);
  r = bridge_fn (b, "print_stdout", "{\"type\":\"string\",\"value\":\"STRAY-OUTPUT\"}");
  json_node_unref (r);
  r = bridge_fn (b, "add", "{\"type\":\"int\",\"value\":1}");
  g_assert_cmpint (tv_int (r), ==, 1);
  json_node_unref (r);
  bridge_close_stdin (b);
  g_assert_cmpint (bridge_wait_exit (b), ==, 0);

  err_text = bridge_stderr (b);
  g_assert_nonnull (strstr (err_text, "STRAY-OUTPUT (printf)"));
  g_assert_nonnull (strstr (err_text, "STRAY-OUTPUT (write)"));
  /* bridge_free asserts that no stdout line was anything but protocol. */
  bridge_free (b);
}

static void
test_shutdown (void)
{
  Bridge *b = bridge_start ();
  g_autofree char *c1 = NULL;
  g_autofree char *c2 = NULL;
  g_autofree char *err = NULL;
  gint64 wait_id, shutdown_id;
  Message *m;
  JsonNode *r;
  guint log_destroyed_2 = G_MAXUINT, log_destroyed_1 = G_MAXUINT, log_hook = G_MAXUINT;

  bridge_handshake (b);
  c1 = counter_new (b, "{\"class\":\"Counter\",\"args\":[{\"type\":\"int\",\"value\":1}]}");
  c2 = counter_new (b, "{\"class\":\"Counter\",\"args\":[{\"type\":\"int\",\"value\":2}]}");
  wait_id = bridge_request (b, "function.call",
                            "{\"name\":\"wait_events\",\"args\":[{\"type\":\"callback\",\"callback\":{\"id\":\"cb-s\"}},"
                            "{\"type\":\"int\",\"value\":5}]}");
  shutdown_id = bridge_request (b, "plugin.shutdown", NULL);

  /* Pending deferred calls fail; objects are destroyed newest first, then
   * the hook runs, and all of it before the shutdown reply. */
  m = bridge_wait_response (b, wait_id);
  g_assert_cmpstr (json_object_get_string_member (response_error (m), "message"), ==,
                   "the plugin shut down before the call completed");
  message_free (m);
  m = bridge_wait_response (b, shutdown_id);
  g_assert_true (JSON_NODE_HOLDS_NULL (response_result (m)));
  message_free (m);
  for (guint i = 0; i < b->logs->len; i++)
    {
      const char *line = g_ptr_array_index (b->logs, i);
      if (strstr (line, "destroyed counter-2"))
        log_destroyed_2 = i;
      else if (strstr (line, "destroyed counter-1"))
        log_destroyed_1 = i;
      else if (strstr (line, "shutdown hook ran, 2 counters destroyed"))
        log_hook = i;
    }
  g_assert_cmpuint (log_destroyed_2, <, log_destroyed_1);
  g_assert_cmpuint (log_destroyed_1, <, log_hook);
  g_assert_cmpuint (log_hook, !=, G_MAXUINT);

  /* After shutdown: calls are refused, shutdown and destroy still answer. */
  err = bridge_fn_error (b, "add", "{\"type\":\"int\",\"value\":1}", NULL);
  g_assert_cmpstr (err, ==, "the plugin has been shut down");
  r = bridge_call (b, "plugin.shutdown", NULL);
  g_assert_true (JSON_NODE_HOLDS_NULL (r));
  json_node_unref (r);
  r = bridge_call (b, "object.destroy", "{\"object_id\":\"1\"}");
  json_node_unref (r);

  bridge_finish (b, 0);
}

static void
test_eof (void)
{
  Bridge *b = bridge_start ();
  g_autofree char *c1 = NULL;

  bridge_handshake (b);
  c1 = counter_new (b, "{\"class\":\"Counter\",\"args\":[{\"type\":\"int\",\"value\":7}]}");
  /* Several requests in flight at EOF are still answered. */
  bridge_send_raw (b,
    "{\"jsonrpc\":\"2.0\",\"id\":50,\"method\":\"function.call\",\"params\":{\"name\":\"destroyed\"}}\n"
    "{\"jsonrpc\":\"2.0\",\"id\":51,\"method\":\"function.call\",\"params\":{\"name\":\"destroyed\"}}");
  bridge_close_stdin (b);
  g_assert_cmpint (bridge_wait_exit (b), ==, 0);
  message_free (bridge_wait_response (b, 50));
  message_free (bridge_wait_response (b, 51));
  /* Objects were destroyed and the hook ran on EOF. */
  g_assert_true (bridge_has_log (b, "destroyed counter-7"));
  g_assert_true (bridge_has_log (b, "shutdown hook ran, 1 counters destroyed"));
  bridge_free (b);
}

static void
test_eof_during_callback (void)
{
  Bridge *b = bridge_start ();

  bridge_handshake (b);
  bridge_request (b, "function.call",
                  "{\"name\":\"call_n\",\"args\":[{\"type\":\"callback\",\"callback\":{\"id\":\"cb-e\"}}]}");
  message_free (bridge_wait_request (b, "callback.call"));
  /* The host goes away while a callback is outstanding. */
  bridge_close_stdin (b);
  g_assert_cmpint (bridge_wait_exit (b), ==, 0);
  bridge_free (b);
}

static void
test_nesting_limit (void)
{
  Bridge *b = bridge_start ();
  g_autoptr(GPtrArray) callbacks = g_ptr_array_new_with_free_func ((GDestroyNotify) message_free);
  g_autoptr(GArray) ids = g_array_new (FALSE, FALSE, sizeof (gint64));
  const char *params = "{\"name\":\"call_n\",\"args\":[{\"type\":\"callback\",\"callback\":{\"id\":\"cb-n\"}}]}";
  gint64 refused;
  Message *m;

  bridge_handshake (b);
  /* Each callback calls into the plugin again, stacking plugin calls on
   * the script thread, until the bridge refuses one. */
  for (guint level = 0; level < 64; level++)
    {
      gint64 id = bridge_request (b, "function.call", params);

      g_array_append_val (ids, id);
      g_ptr_array_add (callbacks, bridge_wait_request (b, "callback.call"));
    }
  refused = bridge_request (b, "function.call", params);
  m = bridge_wait_response (b, refused);
  g_assert_nonnull (strstr (json_object_get_string_member (response_error (m), "message"),
                            "too many nested calls into the plugin (the limit is 64)"));
  message_free (m);

  /* Unwind: the innermost callback first. */
  for (guint i = callbacks->len; i > 0; i--)
    {
      Message *cb = g_ptr_array_index (callbacks, i - 1);

      bridge_answer (b, json_object_get_member (msg_object (cb), "id"), "{\"type\":\"int\",\"value\":1}");
      m = bridge_wait_response (b, g_array_index (ids, gint64, i - 1));
      g_assert_cmpuint (tv_len (response_result (m)), ==, 1);
      message_free (m);
    }
  bridge_finish (b, 0);
}

static void
test_abi_mismatch (void)
{
  Bridge *b = bridge_start_plugin ("test-echo-plugin-badabi", NULL);
  g_autofree char *err = NULL;
  g_autofree char *err2 = NULL;
  g_autofree char *err_text = NULL;

  /* The handshake carries the reason, so Scriptling's load warning shows it. */
  err = bridge_call_error (b, "scriptling.handshake", "{\"protocol\":\"1.0\"}", NULL);
  g_assert_nonnull (strstr (err, "was built for Scriptling plugin ABI version 999"));
  g_assert_nonnull (strstr (err, "supports only ABI version 1"));
  err2 = bridge_fn_error (b, "add", "", NULL);
  g_assert_cmpstr (err, ==, err2);
  bridge_close_stdin (b);
  g_assert_cmpint (bridge_wait_exit (b), ==, 1);
  err_text = bridge_stderr (b);
  g_assert_nonnull (strstr (err_text, "ABI version 999"));
  bridge_free (b);
}

static void
test_not_a_plugin (void)
{
  Bridge *b = bridge_start_plugin ("test-echo-plugin-nodesc", NULL);
  g_autofree char *err = NULL;

  err = bridge_call_error (b, "scriptling.handshake", NULL, NULL);
  g_assert_nonnull (strstr (err, "is not a Scriptling plugin"));
  g_assert_nonnull (strstr (err, "scriptling_plugin_descriptor"));
  bridge_finish (b, 1);

  {
    g_autofree char *binary = bridge_binary ();
    g_autofree char *source = g_test_build_filename (G_TEST_DIST, "test-bridge.c", NULL);
    const char *argv[] = { binary, source, NULL };
    g_autofree char *err3 = NULL;

    b = bridge_start_argv (argv, NULL);
    err3 = bridge_call_error (b, "scriptling.handshake", NULL, NULL);
    g_assert_nonnull (strstr (err3, "cannot load plugin"));
    bridge_finish (b, 1);
  }
}

static void
test_init_failure (void)
{
  const char *env[] = { "TEST_ECHO_FAIL_INIT", "1", NULL };
  Bridge *b = bridge_start_plugin ("test-echo-plugin", env);
  g_autofree char *err = NULL;

  err = bridge_call_error (b, "scriptling.handshake", NULL, NULL);
  g_assert_nonnull (strstr (err, "plugin 'echo'"));
  g_assert_nonnull (strstr (err, "failed to initialise"));
  bridge_finish (b, 1);
}

static void
test_launcher (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("bridge-test-XXXXXX", &error);
  g_autofree char *binary = bridge_binary ();
  g_autofree char *link = NULL;
  g_autofree char *missing = NULL;
  g_autofree char *modules = g_test_build_filename (G_TEST_BUILT, ".libs", NULL);
  g_autofree char *search = NULL;
  g_autofree char *err = NULL;
  Bridge *b;

  g_assert_no_error (error);
  if (!g_path_is_absolute (binary))
    {
      g_autofree char *cwd = g_get_current_dir ();
      g_autofree char *abs = g_build_filename (cwd, binary, NULL);
      g_free (binary);
      binary = g_steal_pointer (&abs);
    }
  link = g_build_filename (dir, "test-echo-plugin", NULL);
  missing = g_build_filename (dir, "missing-plugin", NULL);
  g_assert_cmpint (symlink (binary, link), ==, 0);
  g_assert_cmpint (symlink (binary, missing), ==, 0);
  /* The first directory does not exist; the search goes on. */
  search = g_strdup_printf ("/nonexistent-dir:%s", modules);

  {
    /* Started like Scriptling does: no arguments, the link's name picks
     * the plugin. */
    const char *argv[] = { link, NULL };
    const char *env[] = { "SCRIPTLING_PLUGIN_MODULE_PATH", search, NULL };
    b = bridge_start_argv (argv, env);
    bridge_handshake (b);
    bridge_finish (b, 0);
  }
  {
    /* A name as argument. */
    const char *argv[] = { binary, "test-echo-plugin", NULL };
    const char *env[] = { "SCRIPTLING_PLUGIN_MODULE_PATH", modules, NULL };
    b = bridge_start_argv (argv, env);
    bridge_handshake (b);
    bridge_finish (b, 0);
  }
  {
    const char *argv[] = { missing, NULL };
    const char *env[] = { "SCRIPTLING_PLUGIN_MODULE_PATH", modules, NULL };
    b = bridge_start_argv (argv, env);
    err = bridge_call_error (b, "scriptling.handshake", NULL, NULL);
    g_assert_nonnull (strstr (err, "plugin 'missing-plugin' not found"));
    g_assert_nonnull (strstr (err, "SCRIPTLING_PLUGIN_MODULE_PATH"));
    bridge_finish (b, 1);
  }
  {
    /* The bridge itself without a plugin explains what it needs. */
    const char *argv[] = { binary, NULL };
    g_autofree char *err2 = NULL;
    b = bridge_start_argv (argv, NULL);
    err2 = bridge_call_error (b, "scriptling.handshake", NULL, NULL);
    g_assert_nonnull (strstr (err2, "no plugin given"));
    bridge_finish (b, 1);
  }

  g_assert_cmpint (unlink (link), ==, 0);
  g_assert_cmpint (unlink (missing), ==, 0);
  g_assert_cmpint (rmdir (dir), ==, 0);
}

static void
test_describe (void)
{
  g_autofree char *binary = bridge_binary ();
  g_autofree char *plugin = plugin_path ("test-echo-plugin");
  const char *argv[] = { binary, "--describe", plugin, NULL };
  Bridge *b = bridge_start_argv (argv, NULL);
  Message *m;

  /* --describe prints the handshake result, then exits. */
  bridge_close_stdin (b);
  g_assert_cmpint (bridge_wait_exit (b), ==, 0);
  g_assert_cmpuint (b->bad_lines->len, ==, 1);
  g_assert_nonnull (strstr (g_ptr_array_index (b->bad_lines, 0), "\"name\":\"scriptling.test.echo\""));
  g_ptr_array_set_size (b->bad_lines, 0);
  m = bridge_wait_for (b, match_array, NULL);
  g_assert_null (m);
  bridge_free (b);
}

int
main (int argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_summary ("scriptling-plugin-bridge speaks the Scriptling plugin protocol for a plugin .so");

  g_test_add_func ("/bridge/handshake", test_handshake);
  g_test_add_func ("/bridge/values/roundtrip", test_values_roundtrip);
  g_test_add_func ("/bridge/values/encode", test_values_encode);
  g_test_add_func ("/bridge/functions-and-errors", test_functions_and_errors);
  g_test_add_func ("/bridge/objects", test_objects);
  g_test_add_func ("/bridge/callbacks", test_callbacks);
  g_test_add_func ("/bridge/events", test_events);
  g_test_add_func ("/bridge/pipelining", test_pipelining);
  g_test_add_func ("/bridge/protocol/errors", test_protocol_errors);
  g_test_add_func ("/bridge/protocol/batches", test_protocol_batches);
  g_test_add_func ("/bridge/logging", test_logging);
  g_test_add_func ("/bridge/stdout-clean", test_stdout_clean);
  g_test_add_func ("/bridge/shutdown", test_shutdown);
  g_test_add_func ("/bridge/eof", test_eof);
  g_test_add_func ("/bridge/eof-during-callback", test_eof_during_callback);
  g_test_add_func ("/bridge/nesting-limit", test_nesting_limit);
  g_test_add_func ("/bridge/load/abi-mismatch", test_abi_mismatch);
  g_test_add_func ("/bridge/load/not-a-plugin", test_not_a_plugin);
  g_test_add_func ("/bridge/load/init-failure", test_init_failure);
  g_test_add_func ("/bridge/load/launcher", test_launcher);
  g_test_add_func ("/bridge/describe", test_describe);

  return g_test_run ();
}
