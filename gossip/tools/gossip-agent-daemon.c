/* gossip-agent-daemon.c — `gossip-agent agent`: runs one cluster node.
 *
 * Threads: the cluster runs on libgossip's engine thread, which emits
 * "node-state-changed" and "node-metadata-changed", and the signals of the
 * optional leader election (--election). Those handlers only queue a
 * snapshot; the main thread prints events, serves the control
 * socket (gossip-agent-control.c) and runs message handlers (registered on
 * the main context). Output must not depend on the engine thread's timing
 * beyond the order in which it raised the events, which the queue keeps.
 *
 * SPDX-License-Identifier: MIT
 */
#include "config.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <glib-unix.h>

#include "gossip-agent-private.h"
#include "gossip-address-private.h"
#include "gossip-config-private.h"
#include "gossip-payload-private.h"

/* How long shutdown waits for control clients to get their last replies. */
#define DRAIN_TIMEOUT_US (2 * G_USEC_PER_SEC)

/* Election defaults, documented in gossip-agent(1). A 60% quorum keeps the
 * minority side of a partition without a leader. */
#define ELECTION_DEFAULT_QUORUM          60
#define ELECTION_DEFAULT_CHECK_INTERVAL  (1 * G_USEC_PER_SEC)
#define ELECTION_DEFAULT_LEADER_TIMEOUT  (3 * G_USEC_PER_SEC)

/* --- options -------------------------------------------------------------- */

typedef struct {
  GossipConfig   *config;
  GPtrArray      *joins;          /* char* */
  GPtrArray      *tags;           /* char* */
  GPtrArray      *meta;           /* char*: key, value, key, value... */
  GArray         *handle_types;   /* guint */
  char           *rpc_addr;
  gboolean        json;
  GLogLevelFlags  log_threshold;  /* most verbose level shown */
  GPtrArray      *strings;        /* storage of generated option names and texts */
  char          **remaining;      /* arguments: none expected */

  /* --election and its settings */
  gboolean        election;
  guint           quorum;                   /* percentage */
  gint64          election_check_interval;  /* µs */
  gint64          election_leader_timeout;  /* µs */
  GHashTable     *election_criteria;        /* NULL: every node is eligible */
  char           *election_setting;         /* first election option given, for the
                                             * check that --election is there too */
} AgentOptions;

static void
agent_options_clear (AgentOptions *opts)
{
  g_clear_pointer (&opts->config, gossip_config_free);
  g_clear_pointer (&opts->joins, g_ptr_array_unref);
  g_clear_pointer (&opts->tags, g_ptr_array_unref);
  g_clear_pointer (&opts->meta, g_ptr_array_unref);
  g_clear_pointer (&opts->handle_types, g_array_unref);
  g_clear_pointer (&opts->rpc_addr, g_free);
  g_clear_pointer (&opts->strings, g_ptr_array_unref);
  g_clear_pointer (&opts->remaining, g_strfreev);
  g_clear_pointer (&opts->election_criteria, g_hash_table_unref);
  g_clear_pointer (&opts->election_setting, g_free);
}

/* Settings with an option name of their own instead of the generated one
 * (which stays accepted as a hidden alias). */
static const struct {
  const char *param;
  const char *option;
} renamed_params[] = {
  { "bind_addr",      "bind" },
  { "advertise_addr", "advertise" },
  { "encryption_key", "encrypt-key" },
  { "tags",           "tag" },
};

static const char *
renamed_option (const char *param)
{
  for (gsize i = 0; i < G_N_ELEMENTS (renamed_params); i++)
    if (strcmp (renamed_params[i].param, param) == 0)
      return renamed_params[i].option;
  return NULL;
}

/* "--health-check-interval" -> "health_check_interval" */
static char *
option_to_param (const char *option_name)
{
  char *name;

  while (*option_name == '-')
    option_name++;
  name = g_strdup (option_name);
  g_strdelimit (name, "-", '_');
  return name;
}

static gboolean
set_param (AgentOptions *opts,
           const char   *option_name,
           const char   *param,
           const char   *text,
           GError      **error)
{
  if (gossip_config_set_from_text (opts->config, param, text, error))
    return TRUE;
  g_prefix_error (error, "%s: ", option_name);
  return FALSE;
}

/* Every generated setting option, and the hidden aliases of renamed ones. */
static gboolean
on_param_option (const char *option_name,
                 const char *value,
                 gpointer    data,
                 GError    **error)
{
  AgentOptions *opts = data;
  g_autofree char *param = option_to_param (option_name);
  const GossipConfigParamInfo *info = gossip_config_param_lookup (param);
  const char *text = value;

  if (info == NULL && g_str_has_prefix (param, "no_"))
    {
      /* A boolean whose default is true is turned off by --no-NAME. */
      info = gossip_config_param_lookup (param + 3);
      g_assert (info != NULL && info->kind == GOSSIP_PARAM_BOOLEAN);
      return set_param (opts, option_name, info->name, "false", error);
    }
  g_assert (info != NULL);

  if (info->kind == GOSSIP_PARAM_BOOLEAN)
    text = "true";
  else if (info->kind == GOSSIP_PARAM_STRV && strcmp (info->name, "tags") == 0)
    {
      /* --tags A,B adds to the --tag list, so that both forms combine. */
      g_auto(GStrv) items = g_strsplit (value, ",", -1);
      for (guint i = 0; items[i] != NULL; i++)
        g_ptr_array_add (opts->tags, g_strdup (items[i]));
      return TRUE;
    }
  return set_param (opts, option_name, info->name, text, error);
}

static gboolean
on_bind (const char *option_name,
         const char *value,
         gpointer    data,
         GError    **error)
{
  return set_param (data, option_name, "bind_addr", value, error);
}

static gboolean
on_advertise (const char *option_name,
              const char *value,
              gpointer    data,
              GError    **error)
{
  return set_param (data, option_name, "advertise_addr", value, error);
}

static gboolean
on_encrypt_key (const char *option_name,
                const char *value,
                gpointer    data,
                GError    **error)
{
  return set_param (data, option_name, "encryption_key", value, error);
}

static gboolean
on_encrypt_key_file (const char *option_name,
                     const char *value,
                     gpointer    data,
                     GError    **error)
{
  AgentOptions *opts = data;
  g_autofree char *contents = NULL;
  gsize len = 0;

  if (!g_file_get_contents (value, &contents, &len, error))
    {
      g_prefix_error (error, "%s: ", option_name);
      return FALSE;
    }
  /* A key of a valid size is taken as is (it may be binary); otherwise the
   * newline an editor or `echo` appends is not part of the key. */
  if (len != 16 && len != 24 && len != 32 && len > 0 && contents[len - 1] == '\n')
    {
      len--;
      if (len > 0 && contents[len - 1] == '\r')
        len--;
    }
  if (!gossip_config_set_bytes (opts->config, "encryption_key", (const guint8 *) contents, len, error))
    {
      g_prefix_error (error, "%s %s: ", option_name, value);
      return FALSE;
    }
  return TRUE;
}

static gboolean
on_join (const char *option_name,
         const char *value,
         gpointer    data,
         GError    **error)
{
  AgentOptions *opts = data;

  g_ptr_array_add (opts->joins, g_strdup (value));
  return TRUE;
}

static gboolean
on_tag (const char *option_name,
        const char *value,
        gpointer    data,
        GError    **error)
{
  AgentOptions *opts = data;

  g_ptr_array_add (opts->tags, g_strdup (value));
  return TRUE;
}

/* Splits "KEY=VALUE" at the first "=": values may contain "=". */
static gboolean
split_key_value (const char  *option_name,
                 const char  *value,
                 char       **out_key,
                 char       **out_value,
                 GError     **error)
{
  const char *eq = strchr (value, '=');

  if (eq == NULL || eq == value)
    {
      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                   _("%s: expected KEY=VALUE with a non-empty key (got \"%s\")"), option_name, value);
      return FALSE;
    }
  *out_key = g_strndup (value, eq - value);
  *out_value = g_strdup (eq + 1);
  return TRUE;
}

static gboolean
on_meta (const char *option_name,
         const char *value,
         gpointer    data,
         GError    **error)
{
  AgentOptions *opts = data;
  char *key, *text;

  if (!split_key_value (option_name, value, &key, &text, error))
    return FALSE;
  g_ptr_array_add (opts->meta, key);
  g_ptr_array_add (opts->meta, text);
  return TRUE;
}

/* Remembers that an option only meaningful with --election was given. */
static void
note_election_setting (AgentOptions *opts,
                       const char   *option_name)
{
  if (opts->election_setting == NULL)
    opts->election_setting = g_strdup (option_name);
}

static gboolean
on_quorum (const char *option_name,
           const char *value,
           gpointer    data,
           GError    **error)
{
  AgentOptions *opts = data;
  guint64 pct;

  note_election_setting (opts, option_name);
  if (!g_ascii_string_to_unsigned (value, 10, 1, 100, &pct, NULL))
    {
      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                   _("%s: expected a percentage from 1 to 100 (got \"%s\")"), option_name, value);
      return FALSE;
    }
  opts->quorum = (guint) pct;
  return TRUE;
}

/* A positive duration: Go syntax ("1.5s", "500ms") or a number of seconds,
 * as the generated duration options take. */
static gboolean
parse_positive_duration (const char  *option_name,
                         const char  *value,
                         gint64      *out_usec,
                         GError     **error)
{
  gint64 usec = 0;
  char *end = NULL;
  double seconds;

  seconds = g_ascii_strtod (value, &end);
  if (value[0] != '\0' && !g_ascii_isspace (value[0]) && end != value && *end == '\0')
    {
      /* Bounded well below G_MAXINT64 µs so that the sums the election
       * makes with it cannot overflow. */
      if (seconds * G_USEC_PER_SEC >= 1.0 && seconds < 1e9)
        usec = (gint64) (seconds * G_USEC_PER_SEC);
    }
  else if (!gossip_parse_duration (value, &usec, NULL) || usec > (gint64) 1e9 * G_USEC_PER_SEC)
    usec = 0;

  if (usec <= 0)
    {
      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                   _("%s: expected a positive duration such as \"1s\" or \"500ms\" (got \"%s\")"),
                   option_name, value);
      return FALSE;
    }
  *out_usec = usec;
  return TRUE;
}

static gboolean
on_election_check_interval (const char *option_name,
                            const char *value,
                            gpointer    data,
                            GError    **error)
{
  AgentOptions *opts = data;

  note_election_setting (opts, option_name);
  return parse_positive_duration (option_name, value, &opts->election_check_interval, error);
}

static gboolean
on_election_leader_timeout (const char *option_name,
                            const char *value,
                            gpointer    data,
                            GError    **error)
{
  AgentOptions *opts = data;

  note_election_setting (opts, option_name);
  return parse_positive_duration (option_name, value, &opts->election_leader_timeout, error);
}

static gboolean
on_election_criteria (const char *option_name,
                      const char *value,
                      gpointer    data,
                      GError    **error)
{
  AgentOptions *opts = data;
  char *key, *text;

  note_election_setting (opts, option_name);
  if (!split_key_value (option_name, value, &key, &text, error))
    return FALSE;
  if (opts->election_criteria == NULL)
    opts->election_criteria = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  /* A key given twice: the last value counts, as for --meta. */
  g_hash_table_replace (opts->election_criteria, key, text);
  return TRUE;
}

/* The election settings together, once every option is parsed. */
static gboolean
check_election_options (AgentOptions  *opts,
                        GError       **error)
{
  if (!opts->election)
    {
      if (opts->election_setting == NULL)
        return TRUE;
      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                   _("%s only applies with --election"), opts->election_setting);
      return FALSE;
    }
  if (opts->election_leader_timeout < opts->election_check_interval)
    {
      g_autofree char *timeout = gossip_format_duration (opts->election_leader_timeout);
      g_autofree char *interval = gossip_format_duration (opts->election_check_interval);

      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                   _("--election-leader-timeout (%s) must not be shorter than "
                     "--election-check-interval (%s)"), timeout, interval);
      return FALSE;
    }
  if (opts->election_criteria != NULL &&
      !gossip_criteria_check (opts->election_criteria, "--election-criteria", error))
    return FALSE;
  return TRUE;
}

static gboolean
on_handle (const char *option_name,
           const char *value,
           gpointer    data,
           GError    **error)
{
  AgentOptions *opts = data;
  guint type;

  if (!agent_parse_message_type (value, &type, error))
    {
      g_prefix_error (error, "%s: ", option_name);
      return FALSE;
    }
  for (guint i = 0; i < opts->handle_types->len; i++)
    if (g_array_index (opts->handle_types, guint, i) == type)
      return TRUE;
  g_array_append_val (opts->handle_types, type);
  return TRUE;
}

static gboolean
on_log_level (const char *option_name,
              const char *value,
              gpointer    data,
              GError    **error)
{
  static const struct {
    const char     *name;
    GLogLevelFlags  level;
  } levels[] = {
    { "error",    G_LOG_LEVEL_ERROR },
    { "critical", G_LOG_LEVEL_CRITICAL },
    { "warning",  G_LOG_LEVEL_WARNING },
    { "message",  G_LOG_LEVEL_MESSAGE },
    { "info",     G_LOG_LEVEL_INFO },
    { "debug",    G_LOG_LEVEL_DEBUG },
  };
  AgentOptions *opts = data;

  for (gsize i = 0; i < G_N_ELEMENTS (levels); i++)
    if (g_ascii_strcasecmp (levels[i].name, value) == 0)
      {
        opts->log_threshold = levels[i].level;
        return TRUE;
      }
  g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
               _("%s: unknown level \"%s\" (use error, critical, warning, message, info or debug)"),
               option_name, value);
  return FALSE;
}

static const char *
keep (AgentOptions *opts,
      char         *text)
{
  g_ptr_array_add (opts->strings, text);
  return text;
}

static const char *
kind_placeholder (const GossipConfigParamInfo *info)
{
  if (strcmp (info->name, "node_id") == 0)
    return "UUID";
  switch (info->kind)
    {
    case GOSSIP_PARAM_INT:      return "N";
    case GOSSIP_PARAM_DOUBLE:   return "NUMBER";
    case GOSSIP_PARAM_DURATION: return "DURATION";
    case GOSSIP_PARAM_STRV:     return "LIST";
    case GOSSIP_PARAM_BYTES:    return "KEY";
    case GOSSIP_PARAM_STRING:
    case GOSSIP_PARAM_BOOLEAN:
    case GOSSIP_PARAM_UNKNOWN:
    default:                    return "STRING";
    }
}

#define CALLBACK_ENTRY(long_, short_, flags_, func_, desc_, arg_) \
  { long_, short_, flags_, G_OPTION_ARG_CALLBACK, (gpointer) func_, desc_, arg_ }

/* The option table: hand-written options first, then one option per
 * library setting, generated from the parameter table so that a new setting
 * needs no CLI change. */
static GArray *
build_entries (AgentOptions *opts)
{
  const GOptionEntry fixed[] = {
    CALLBACK_ENTRY ("bind", 'b', 0, on_bind,
                    N_("Address to bind to; port 0 picks a free port (default: 127.0.0.1:8000)"),
                    N_("ADDR")),
    CALLBACK_ENTRY ("advertise", 'a', 0, on_advertise,
                    N_("Address advertised to peers (default: the bound address)"), N_("ADDR")),
    CALLBACK_ENTRY ("join", 'j', 0, on_join,
                    N_("Join the cluster through this member (repeatable; retried in the background)"),
                    N_("ADDR")),
    CALLBACK_ENTRY ("tag", 't', 0, on_tag, N_("Tag of this node (repeatable)"), N_("TAG")),
    CALLBACK_ENTRY ("meta", 'm', 0, on_meta, N_("Metadata of this node (repeatable)"),
                    N_("KEY=VALUE")),
    CALLBACK_ENTRY ("encrypt-key", 'k', 0, on_encrypt_key,
                    N_("Encryption key: its 16, 24 or 32 bytes, taken as is"), N_("KEY")),
    CALLBACK_ENTRY ("encrypt-key-file", 0, G_OPTION_FLAG_FILENAME, on_encrypt_key_file,
                    N_("Read the encryption key from FILE (a trailing newline is ignored)"),
                    N_("FILE")),
    CALLBACK_ENTRY ("handle", 'H', 0, on_handle,
                    N_("Print messages of this type and answer its requests with an echo (repeatable)"),
                    N_("TYPE")),
    { "election", 0, 0, G_OPTION_ARG_NONE, &opts->election,
      N_("Take part in a leader election: the lowest eligible node id leads"), NULL },
    CALLBACK_ENTRY ("quorum", 0, 0, on_quorum,
                    N_("Percentage of the known eligible nodes that must be alive for a leader, "
                       "1 to 100 (default: 60)"), N_("PCT")),
    CALLBACK_ENTRY ("election-check-interval", 0, 0, on_election_check_interval,
                    N_("Period of the election checks and leader heartbeats (default: 1s)"),
                    N_("DURATION")),
    CALLBACK_ENTRY ("election-leader-timeout", 0, 0, on_election_leader_timeout,
                    N_("Heartbeat silence after which the leader is lost (default: 3s)"),
                    N_("DURATION")),
    CALLBACK_ENTRY ("election-criteria", 0, 0, on_election_criteria,
                    N_("Only nodes whose metadata matches may lead (repeatable; VALUE \"*\": the "
                       "key is present, \"~TEXT\": the value contains TEXT)"), N_("KEY=VALUE")),
    { "rpc-addr", 'r', 0, G_OPTION_ARG_STRING, &opts->rpc_addr,
      N_("Control socket address, or \"none\" (default: 127.0.0.1:7373)"), N_("HOST:PORT") },
    { "json", 0, 0, G_OPTION_ARG_NONE, &opts->json, N_("Print events as JSON lines"), NULL },
    CALLBACK_ENTRY ("log-level", 'l', 0, on_log_level,
                    N_("Least severe log messages shown on stderr: error, critical, warning, "
                       "message, info or debug (default: message)"), N_("LEVEL")),
    CALLBACK_ENTRY ("version", 'V', G_OPTION_FLAG_NO_ARG, agent_version_option,
                    N_("Show the version and exit"), NULL),
    { G_OPTION_REMAINING, 0, 0, G_OPTION_ARG_STRING_ARRAY, &opts->remaining, NULL, NULL },
  };
  GArray *entries = g_array_new (TRUE, TRUE, sizeof (GOptionEntry));
  const GossipConfigParamInfo *info;

  g_array_append_vals (entries, fixed, G_N_ELEMENTS (fixed));

  for (guint i = 0; (info = gossip_config_param_nth (i)) != NULL; i++)
    {
      GOptionEntry entry = { NULL };
      g_autofree char *option = g_strdelimit (g_strdup (info->name), "_", '-');
      const char *description = g_dgettext (GETTEXT_PACKAGE, info->description);

      entry.arg = G_OPTION_ARG_CALLBACK;
      entry.arg_data = (gpointer) on_param_option;
      entry.long_name = keep (opts, g_strdup (option));

      if (renamed_option (info->name) != NULL)
        {
          entry.flags = G_OPTION_FLAG_HIDDEN;
          entry.arg_description = kind_placeholder (info);
        }
      else if (info->kind == GOSSIP_PARAM_BOOLEAN)
        {
          entry.flags = G_OPTION_FLAG_NO_ARG;
          if (strcmp (info->default_text, "true") == 0)
            {
              entry.long_name = keep (opts, g_strconcat ("no-", option, NULL));
              description = keep (opts, g_strdup_printf (_("Turn off: %s"), description));
            }
        }
      else
        {
          entry.arg_description = kind_placeholder (info);
          if (info->default_text[0] != '\0')
            description = keep (opts, g_strdup_printf (_("%s (default: %s)"), description,
                                                        info->default_text));
        }
      entry.description = description;
      g_array_append_val (entries, entry);
    }
  return entries;
}

/* --- the running agent ---------------------------------------------------- */

typedef enum {
  PENDING_STATE,
  PENDING_METADATA,
  PENDING_ELECTION,
} PendingKind;

typedef struct {
  PendingKind  kind;
  GossipNode  *node;        /* NULL for an election event about an unknown node */
  int          old_state;
  int          new_state;
  const char  *event;       /* PENDING_ELECTION: the event name */
  char        *node_id;     /* PENDING_ELECTION: the node the event is about */
  guint64      term;        /* PENDING_ELECTION */
  gint64       time;
} Pending;

typedef struct {
  AgentLeaveReply func;
  gpointer        data;
} LeaveWaiter;

typedef struct {
  AgentOptions   *opts;
  GMainLoop      *loop;
  GossipCluster  *cluster;
  GossipLeaderElection *election; /* NULL without --election */
  gboolean        is_leader;      /* as the printed events tell */
  AgentControl   *control;
  char           *rpc_bound;      /* real control address, NULL for none */
  GCancellable   *cancellable;    /* the join */
  guint           n_pending_ops;  /* join and leave still to call back */

  /* Filled on the engine thread, drained on the main thread. */
  GMutex          lock;
  GQueue          pending;        /* Pending* */
  gboolean        flush_scheduled;

  gboolean        shutting_down;
  gboolean        left;
  GError         *leave_error;
  GArray         *leave_waiters;  /* LeaveWaiter */
  gint64          drain_deadline;
  int             exit_status;
} Agent;

static void
pending_free (Pending *p)
{
  g_clear_pointer (&p->node, gossip_node_unref);
  g_free (p->node_id);
  g_free (p);
}

static void
emit_event (Agent      *agent,
            JsonObject *event)
{
  g_autofree char *line = agent_event_format (event, agent->opts->json);

  /* Events are the agent's output: one line each, flushed at once so that
   * a pipe reader (a test, the demo, a log shipper) sees it now. */
  fputs (line, stdout);
  fputc ('\n', stdout);
  fflush (stdout);

  if (agent->control != NULL)
    {
      g_autofree char *json = agent->opts->json ? g_strdup (line) : agent_event_format (event, TRUE);
      agent_control_broadcast (agent->control, json);
    }
}

static const char *
state_event_name (int old_state,
                  int new_state)
{
  switch (new_state)
    {
    case GOSSIP_NODE_ALIVE:
      /* old == new: just discovered */
      return old_state == new_state ? "member-join" : "member-alive";
    case GOSSIP_NODE_SUSPECT:
      return "member-suspect";
    case GOSSIP_NODE_LEAVING:
      return "member-leave";
    case GOSSIP_NODE_DEAD:
    default:
      return "member-failed";
    }
}

static void
flush_pending (Agent *agent)
{
  for (;;)
    {
      g_autoptr(JsonObject) event = NULL;
      Pending *p;

      g_mutex_lock (&agent->lock);
      p = g_queue_pop_head (&agent->pending);
      g_mutex_unlock (&agent->lock);
      if (p == NULL)
        break;

      if (p->kind == PENDING_STATE)
        event = agent_event_new (state_event_name (p->old_state, p->new_state), p->node, p->time);
      else if (p->kind == PENDING_METADATA)
        event = agent_event_new ("member-update", p->node, p->time);
      else
        {
          event = agent_election_event_new (p->event, p->node_id, p->node, p->term, p->time);
          if (strcmp (p->event, "became-leader") == 0)
            agent->is_leader = TRUE;
          else if (strcmp (p->event, "stepped-down") == 0)
            agent->is_leader = FALSE;
        }
      emit_event (agent, event);
      pending_free (p);
    }
}

static gboolean
flush_pending_cb (gpointer user_data)
{
  Agent *agent = user_data;

  g_mutex_lock (&agent->lock);
  agent->flush_scheduled = FALSE;
  g_mutex_unlock (&agent->lock);
  flush_pending (agent);
  return G_SOURCE_REMOVE;
}

/* Engine thread: queue, and wake the main thread once per batch. A plain
 * g_main_context_invoke() could run the callback right here when the main
 * context happens to be free (before the loop runs), on the wrong thread. */
static void
push_pending (Agent   *agent,
              Pending *p)
{
  p->time = g_get_real_time ();

  g_mutex_lock (&agent->lock);
  g_queue_push_tail (&agent->pending, p);
  if (!agent->flush_scheduled)
    {
      GSource *source = g_idle_source_new ();

      g_source_set_priority (source, G_PRIORITY_DEFAULT);
      g_source_set_callback (source, flush_pending_cb, agent, NULL);
      g_source_set_static_name (source, "gossip-agent events");
      g_source_attach (source, NULL);
      g_source_unref (source);
      agent->flush_scheduled = TRUE;
    }
  g_mutex_unlock (&agent->lock);
}

static void
queue_pending (Agent      *agent,
               PendingKind kind,
               GossipNode *node,
               int         old_state,
               int         new_state)
{
  Pending *p = g_new0 (Pending, 1);

  p->kind = kind;
  p->node = gossip_node_ref (node);
  p->old_state = old_state;
  p->new_state = new_state;
  push_pending (agent, p);
}

/* Engine thread (or the thread that started or stopped the election, which
 * may run its first check itself): the election signals carry a node id. */
static void
queue_election (Agent      *agent,
                const char *event,
                const char *node_id)
{
  Pending *p = g_new0 (Pending, 1);

  p->kind = PENDING_ELECTION;
  p->event = event;
  p->node_id = g_strdup (node_id);
  /* A snapshot now: by the time the main thread prints, the node may have
   * changed state or be gone. */
  p->node = gossip_cluster_get_node (agent->cluster, node_id);
  p->term = gossip_leader_election_get_term (agent->election);
  push_pending (agent, p);
}

static void
on_leader_elected (GossipLeaderElection *election,
                   const char           *leader_id,
                   gpointer              user_data)
{
  queue_election (user_data, "leader-elected", leader_id);
}

static void
on_leader_lost (GossipLeaderElection *election,
                const char           *leader_id,
                gpointer              user_data)
{
  queue_election (user_data, "leader-lost", leader_id);
}

static void
on_became_leader (GossipLeaderElection *election,
                  const char           *node_id,
                  gpointer              user_data)
{
  queue_election (user_data, "became-leader", node_id);
}

static void
on_stepped_down (GossipLeaderElection *election,
                 const char           *node_id,
                 gpointer              user_data)
{
  queue_election (user_data, "stepped-down", node_id);
}

static void
on_node_state_changed (GossipCluster *cluster,
                       GossipNode    *node,
                       int            old_state,
                       int            new_state,
                       gpointer       user_data)
{
  queue_pending (user_data, PENDING_STATE, node, old_state, new_state);
}

static void
on_node_metadata_changed (GossipCluster *cluster,
                          GossipNode    *node,
                          gboolean       is_local,
                          gpointer       user_data)
{
  queue_pending (user_data, PENDING_METADATA, node, 0, 0);
}

/* Main context: handlers are registered there. */
static void
on_user_message (GossipCluster *cluster,
                 GossipMessage *message,
                 gpointer       user_data)
{
  Agent *agent = user_data;
  GossipNode *sender = gossip_message_get_sender (message);
  GVariant *payload = gossip_message_get_payload (message);
  gboolean is_request = gossip_message_expects_reply (message);
  g_autoptr(JsonObject) event = NULL;
  g_autofree char *text = gossip_payload_to_string (payload);

  event = agent_event_new (is_request ? "user-request" : "user-message", sender, g_get_real_time ());
  json_object_set_int_member (event, "type", gossip_message_get_message_type (message));
  json_object_set_member (event, "payload", agent_payload_to_json (payload));
  json_object_set_string_member (event, "payload_text", text);
  emit_event (agent, event);

  if (is_request)
    {
      g_autoptr(GError) error = NULL;
      GVariantBuilder builder;

      g_variant_builder_init (&builder, G_VARIANT_TYPE_VARDICT);
      g_variant_builder_add (&builder, "{sv}", "echo",
                             payload != NULL ? payload : gossip_payload_none ());
      g_variant_builder_add (&builder, "{sv}", "node",
                             g_variant_new_string (gossip_cluster_get_node_id (cluster)));
      if (!gossip_message_reply (message, g_variant_builder_end (&builder), &error))
        g_warning (_("cannot answer a request of type %u: %s"),
                   (guint) gossip_message_get_message_type (message), error->message);
    }
}

/* --- startup and shutdown ------------------------------------------------- */

/* Called once the node knows the members it could reach: a joining node
 * then sees other eligible nodes and listens for an incumbent's heartbeat
 * instead of electing itself alone, which would give every joiner a term of
 * its own to resolve. */
static void
start_election (Agent *agent)
{
  g_autoptr(GError) error = NULL;

  if (agent->election == NULL || agent->shutting_down)
    return;
  if (!gossip_leader_election_start (agent->election, &error))
    g_warning (_("cannot start the leader election: %s"), error->message);
}

static void
on_join_done (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  Agent *agent = user_data;
  g_autoptr(GError) error = NULL;
  gint answered;

  agent->n_pending_ops--;
  answered = gossip_cluster_join_finish (GOSSIP_CLUSTER (source), result, &error);
  if (answered < 0)
    {
      if (!agent->shutting_down)
        g_warning (_("join failed: %s"), error->message);
    }
  else if (!agent->shutting_down)
    {
      g_autoptr(JsonObject) event = agent_event_new ("agent-join", NULL, g_get_real_time ());

      json_object_set_int_member (event, "answered", answered);
      json_object_set_int_member (event, "peers", agent->opts->joins->len);
      emit_event (agent, event);
    }
  /* Even alone (nobody answered): a node that cannot reach its peers may
   * lead the side it is on while its quorum allows. */
  start_election (agent);
}

/* Stops the election before the leave, so that the node neither keeps nor
 * takes the leadership while it goes away; its peers elect another leader
 * as soon as they see it leaving. */
static void
stop_election (Agent *agent)
{
  g_autoptr(GossipNode) local = NULL;
  g_autoptr(JsonObject) event = NULL;

  if (agent->election == NULL)
    return;
  gossip_leader_election_stop (agent->election);
  /* The events raised before the stop come first. */
  flush_pending (agent);
  if (!agent->is_leader)
    return;
  /* The election stops silently; say that this leader is gone. */
  agent->is_leader = FALSE;
  local = gossip_cluster_get_local_node (agent->cluster);
  event = agent_election_event_new ("stepped-down", gossip_node_get_id (local), local,
                                    gossip_leader_election_get_term (agent->election),
                                    g_get_real_time ());
  emit_event (agent, event);
}

static gboolean
drain_cb (gpointer user_data)
{
  Agent *agent = user_data;

  flush_pending (agent);
  if ((agent->control == NULL || agent_control_is_idle (agent->control)) &&
      agent->n_pending_ops == 0)
    {
      g_main_loop_quit (agent->loop);
      return G_SOURCE_REMOVE;
    }
  if (g_get_monotonic_time () > agent->drain_deadline)
    {
      g_debug ("control clients still connected at exit");
      g_main_loop_quit (agent->loop);
      return G_SOURCE_REMOVE;
    }
  return G_SOURCE_CONTINUE;
}

static void
finish_shutdown (Agent *agent)
{
  gossip_cluster_stop (agent->cluster);
  g_cancellable_cancel (agent->cancellable);
  if (agent->control != NULL)
    agent_control_stop (agent->control);
  agent->drain_deadline = g_get_monotonic_time () + DRAIN_TIMEOUT_US;
  g_timeout_add (20, drain_cb, agent);
}

static void
leave_thread (GTask        *task,
              gpointer      source_object,
              gpointer      task_data,
              GCancellable *cancellable)
{
  GError *error = NULL;

  /* Blocks up to about a second while the announcement goes out; the main
   * thread keeps serving events and the control socket meanwhile. */
  if (gossip_cluster_leave (task_data, &error))
    g_task_return_boolean (task, TRUE);
  else
    g_task_return_error (task, error);
}

static void
on_leave_done (GObject      *source,
               GAsyncResult *result,
               gpointer      user_data)
{
  Agent *agent = user_data;

  agent->n_pending_ops--;
  agent->left = TRUE;
  if (!g_task_propagate_boolean (G_TASK (result), &agent->leave_error))
    g_warning (_("leave failed: %s"), agent->leave_error->message);

  /* Leave events first, then the replies of the "leave" commands. */
  flush_pending (agent);
  for (guint i = 0; i < agent->leave_waiters->len; i++)
    {
      LeaveWaiter *w = &g_array_index (agent->leave_waiters, LeaveWaiter, i);
      w->func (w->data, agent->leave_error);
    }
  g_array_set_size (agent->leave_waiters, 0);
  finish_shutdown (agent);
}

static void
begin_shutdown (Agent *agent)
{
  g_autoptr(GTask) task = NULL;
  g_autoptr(JsonObject) event = NULL;
  g_autoptr(GossipNode) local = NULL;

  if (agent->shutting_down)
    return;
  agent->shutting_down = TRUE;

  local = gossip_cluster_get_local_node (agent->cluster);
  event = agent_event_new ("agent-leave", local, g_get_real_time ());
  emit_event (agent, event);
  stop_election (agent);

  agent->n_pending_ops++;
  task = g_task_new (NULL, NULL, on_leave_done, agent);
  g_task_set_source_tag (task, begin_shutdown);
  g_task_set_task_data (task, g_object_ref (agent->cluster), g_object_unref);
  g_task_run_in_thread (task, leave_thread);
}

/* AgentLeaveFunc of the control socket's "leave" command. */
static void
control_leave (gpointer        data,
               AgentLeaveReply reply,
               gpointer        reply_data)
{
  Agent *agent = data;
  LeaveWaiter w = { reply, reply_data };

  if (agent->left)
    {
      reply (reply_data, agent->leave_error);
      return;
    }
  g_array_append_val (agent->leave_waiters, w);
  begin_shutdown (agent);
}

static gboolean
on_signal (gpointer user_data)
{
  Agent *agent = user_data;

  if (!agent->shutting_down)
    {
      begin_shutdown (agent);
      return G_SOURCE_CONTINUE;
    }
  /* A second signal: the user does not want to wait for the leave. */
  g_printerr ("%s\n", _("gossip-agent agent: interrupted again, exiting without a graceful leave"));
  fflush (stdout);
  _exit (AGENT_EXIT_FAILURE);
}

static GLogLevelFlags log_threshold = G_LOG_LEVEL_MESSAGE;

/* Log messages go to stderr, whatever their level: stdout carries events. */
static GLogWriterOutput
log_writer (GLogLevelFlags   log_level,
            const GLogField *fields,
            gsize            n_fields,
            gpointer         user_data)
{
  GLogLevelFlags level = log_level & G_LOG_LEVEL_MASK;
  g_autofree char *text = NULL;

  /* Lower bits are more severe. */
  if (level > log_threshold && !(log_level & G_LOG_FLAG_FATAL))
    return G_LOG_WRITER_HANDLED;
  text = g_log_writer_format_fields (log_level, fields, n_fields, FALSE);
  fprintf (stderr, "%s\n", text);
  fflush (stderr);
  return G_LOG_WRITER_HANDLED;
}

static gboolean
setup_cluster (Agent   *agent,
               GError **error)
{
  AgentOptions *opts = agent->opts;

  agent->cluster = gossip_cluster_new (opts->config, error);
  if (agent->cluster == NULL)
    return FALSE;
  g_signal_connect (agent->cluster, "node-state-changed", G_CALLBACK (on_node_state_changed), agent);
  g_signal_connect (agent->cluster, "node-metadata-changed",
                    G_CALLBACK (on_node_metadata_changed), agent);

  for (guint i = 0; i < opts->handle_types->len; i++)
    if (!gossip_cluster_handle (agent->cluster, g_array_index (opts->handle_types, guint, i), TRUE,
                                NULL, on_user_message, agent, NULL, error))
      return FALSE;

  /* Before start, so that the node joins with its metadata. */
  for (guint i = 0; i + 1 < opts->meta->len; i += 2)
    if (!gossip_cluster_set_metadata (agent->cluster, opts->meta->pdata[i], opts->meta->pdata[i + 1],
                                      error))
      {
        g_prefix_error (error, "--meta %s: ", (const char *) opts->meta->pdata[i]);
        return FALSE;
      }

  /* Created now, so that its heartbeat type is claimed before peers can
   * send heartbeats; started once the join is done (start_election()). */
  if (opts->election)
    {
      agent->election = gossip_leader_election_new (agent->cluster, opts->election_check_interval,
                                                    opts->election_leader_timeout,
                                                    GOSSIP_ELECTION_DEFAULT_HEARTBEAT_TYPE,
                                                    opts->quorum, opts->election_criteria, error);
      if (agent->election == NULL)
        {
          g_prefix_error (error, "--election: ");
          return FALSE;
        }
      g_signal_connect (agent->election, "elected", G_CALLBACK (on_leader_elected), agent);
      g_signal_connect (agent->election, "lost", G_CALLBACK (on_leader_lost), agent);
      g_signal_connect (agent->election, "became-leader", G_CALLBACK (on_became_leader), agent);
      g_signal_connect (agent->election, "stepped-down", G_CALLBACK (on_stepped_down), agent);
    }
  return TRUE;
}

static int
run_agent (AgentOptions   *opts,
           GSocketAddress *rpc_address)
{
  Agent agent = { NULL };
  g_autoptr(GError) error = NULL;
  g_autoptr(GossipNode) local = NULL;
  g_autoptr(JsonObject) start_event = NULL;
  guint sigint_id, sigterm_id;

  agent.opts = opts;
  agent.loop = g_main_loop_new (NULL, FALSE);
  agent.cancellable = g_cancellable_new ();
  agent.leave_waiters = g_array_new (FALSE, FALSE, sizeof (LeaveWaiter));
  agent.exit_status = AGENT_EXIT_OK;
  g_mutex_init (&agent.lock);
  g_queue_init (&agent.pending);
  /* From the start: a signal during startup is then a graceful stop once
   * the loop runs, not an abrupt exit without a leave. */
  sigint_id = g_unix_signal_add (SIGINT, on_signal, &agent);
  sigterm_id = g_unix_signal_add (SIGTERM, on_signal, &agent);

  if (!setup_cluster (&agent, &error))
    {
      agent.exit_status = agent_fail ("agent", "%s", error->message);
      goto out;
    }

  /* The control socket first: a busy port must not leave a node that
   * joined and immediately went away behind. */
  if (rpc_address != NULL)
    {
      agent.control = agent_control_new (agent.cluster, agent.election, control_leave, &agent);
      if (!agent_control_listen (agent.control, rpc_address, &agent.rpc_bound, &error))
        {
          agent.exit_status = agent_fail ("agent", "%s", error->message);
          goto out;
        }
    }

  if (!gossip_cluster_start (agent.cluster, &error))
    {
      agent.exit_status = agent_fail ("agent", "%s", error->message);
      goto out;
    }

  local = gossip_cluster_get_local_node (agent.cluster);
  start_event = agent_event_new ("agent-start", local, g_get_real_time ());
  if (agent.rpc_bound != NULL)
    json_object_set_string_member (start_event, "rpc_addr", agent.rpc_bound);
  else
    json_object_set_null_member (start_event, "rpc_addr");
  emit_event (&agent, start_event);

  if (opts->joins->len > 0)
    {
      g_ptr_array_add (opts->joins, NULL);
      agent.n_pending_ops++;
      gossip_cluster_join_async (agent.cluster, (const char * const *) opts->joins->pdata,
                                 agent.cancellable, on_join_done, &agent);
      g_ptr_array_set_size (opts->joins, opts->joins->len - 1);
    }
  else
    start_election (&agent);

  g_main_loop_run (agent.loop);

out:
  g_source_remove (sigint_id);
  g_source_remove (sigterm_id);
  if (agent.election != NULL)
    {
      /* Stopping the cluster stops the election too; after either, it
       * raises no more signals. */
      gossip_leader_election_stop (agent.election);
      g_signal_handlers_disconnect_by_data (agent.election, &agent);
    }
  if (agent.cluster != NULL)
    {
      gossip_cluster_stop (agent.cluster);
      g_signal_handlers_disconnect_by_data (agent.cluster, &agent);
    }
  /* Callbacks already queued on the main context reference the agent;
   * bounded, in case some source stays ready. */
  for (guint i = 0; i < 1000 && g_main_context_iteration (NULL, FALSE); i++)
    ;
  flush_pending (&agent);

  if (agent.control != NULL)
    {
      agent_control_stop (agent.control);
      if (agent_control_is_idle (agent.control))
        agent_control_free (agent.control);
      /* else: a client still holds a connection at exit; the process ends
       * anyway, and freeing would leave its callbacks dangling. */
    }
  g_clear_object (&agent.election);
  g_clear_object (&agent.cluster);
  g_clear_object (&agent.cancellable);
  g_clear_pointer (&agent.loop, g_main_loop_unref);
  g_clear_pointer (&agent.rpc_bound, g_free);
  g_clear_error (&agent.leave_error);
  g_array_unref (agent.leave_waiters);
  g_queue_clear_full (&agent.pending, (GDestroyNotify) pending_free);
  g_mutex_clear (&agent.lock);
  return agent.exit_status;
}

int
agent_command_agent (int argc, char **argv)
{
  AgentOptions opts = { NULL };
  g_autoptr(GOptionContext) context = NULL;
  g_autoptr(GArray) entries = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocketAddress) rpc_address = NULL;
  GOptionGroup *group;
  gboolean allow_url;
  int status;

  opts.config = gossip_config_new ();
  opts.joins = g_ptr_array_new_with_free_func (g_free);
  opts.tags = g_ptr_array_new_with_free_func (g_free);
  opts.meta = g_ptr_array_new_with_free_func (g_free);
  opts.handle_types = g_array_new (FALSE, FALSE, sizeof (guint));
  opts.strings = g_ptr_array_new_with_free_func (g_free);
  opts.log_threshold = G_LOG_LEVEL_MESSAGE;
  opts.quorum = ELECTION_DEFAULT_QUORUM;
  opts.election_check_interval = ELECTION_DEFAULT_CHECK_INTERVAL;
  opts.election_leader_timeout = ELECTION_DEFAULT_LEADER_TIMEOUT;

  context = g_option_context_new (NULL);
  g_option_context_set_translation_domain (context, GETTEXT_PACKAGE);
  g_option_context_set_summary (context,
    _("Runs one node of a gossip cluster, prints membership events (one per line) and\n"
      "serves the control socket used by the other gossip-agent commands. SIGINT or\n"
      "SIGTERM leave the cluster gracefully. Every library setting has an option;\n"
      "durations take Go syntax (\"1.5s\", \"500ms\", \"1h30m\")."));
  /* A main group of our own, so that option callbacks get the options. */
  group = g_option_group_new ("agent", NULL, NULL, &opts, NULL);
  g_option_group_set_translation_domain (group, GETTEXT_PACKAGE);
  entries = build_entries (&opts);
  g_option_group_add_entries (group, (const GOptionEntry *) entries->data);
  g_option_context_set_main_group (context, group);

  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      status = agent_usage_error ("agent", "%s", error->message);
      goto out;
    }
  if (opts.remaining != NULL && opts.remaining[0] != NULL)
    {
      status = agent_usage_error ("agent", _("unexpected argument \"%s\""), opts.remaining[0]);
      goto out;
    }
  if (!check_election_options (&opts, &error))
    {
      status = agent_usage_error ("agent", "%s", error->message);
      goto out;
    }

  if (opts.tags->len > 0)
    {
      g_ptr_array_add (opts.tags, NULL);
      if (!gossip_config_set_strv (opts.config, "tags", (const char * const *) opts.tags->pdata, &error))
        {
          status = agent_usage_error ("agent", "--tag: %s", error->message);
          goto out;
        }
    }

  allow_url = strcmp (gossip_config_get_string (opts.config, "transport"), "http") == 0;
  for (guint i = 0; i < opts.joins->len; i++)
    if (!gossip_address_parse (opts.joins->pdata[i], "--join", allow_url, NULL, NULL, NULL, NULL, &error))
      {
        status = agent_usage_error ("agent", "%s", error->message);
        goto out;
      }

  if (opts.rpc_addr == NULL)
    opts.rpc_addr = g_strdup (AGENT_DEFAULT_RPC_ADDR);
  if (strcmp (opts.rpc_addr, "none") != 0 &&
      !agent_parse_rpc_addr (opts.rpc_addr, TRUE, NULL, &rpc_address, &error))
    {
      status = agent_usage_error ("agent", "%s", error->message);
      goto out;
    }

  if (!gossip_config_validate (opts.config, &error))
    {
      status = agent_usage_error ("agent", "%s", error->message);
      goto out;
    }

  log_threshold = opts.log_threshold;
  g_log_set_writer_func (log_writer, NULL, NULL);
  /* Events must reach a pipe line by line. */
  setvbuf (stdout, NULL, _IOLBF, 0);

  status = run_agent (&opts, rpc_address);

out:
  agent_options_clear (&opts);
  return status;
}
