/* gossip-agent-common.c — JSON forms of nodes, payloads and events, and
 * small parsers shared by the agent and its clients.
 *
 * SPDX-License-Identifier: MIT
 */
#include "config.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gossip-agent-private.h"
#include "gossip-address-private.h"

static void
print_command_line (const char *command,
                    const char *message,
                    gboolean    usage)
{
  g_autofree char *prefix = command != NULL ? g_strdup_printf ("gossip-agent %s", command)
                                            : g_strdup ("gossip-agent");

  /* One line, so that scripts can show it as is. */
  if (usage)
    g_printerr (_("%s: %s (see '%s --help')\n"), prefix, message, prefix);
  else
    g_printerr ("%s: %s\n", prefix, message);
}

int
agent_usage_error (const char *command,
                   const char *format,
                   ...)
{
  g_autofree char *message = NULL;
  va_list args;

  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);
  print_command_line (command, message, TRUE);
  return AGENT_EXIT_USAGE;
}

int
agent_fail (const char *command,
            const char *format,
            ...)
{
  g_autofree char *message = NULL;
  va_list args;

  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);
  print_command_line (command, message, FALSE);
  return AGENT_EXIT_FAILURE;
}

void
agent_print_version (void)
{
  printf ("gossip-agent (%s) %s\n", PACKAGE_NAME, PACKAGE_VERSION);
}

gboolean
agent_version_option (const char *option_name,
                      const char *value,
                      gpointer    data,
                      GError    **error)
{
  /* Like --help: print and leave, whatever else is on the line. */
  agent_print_version ();
  exit (AGENT_EXIT_OK);
}

gboolean
agent_parse_message_type (const char *text,
                          guint      *out_type,
                          GError    **error)
{
  guint64 value;

  if (!g_ascii_string_to_unsigned (text, 10, 0, G_MAXUINT, &value, NULL))
    {
      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                   _("message type \"%s\" is not a number (user types are 128–65535)"), text);
      return FALSE;
    }
  if (!gossip_cluster_check_message_type ((guint) value, error))
    return FALSE;
  *out_type = (guint) value;
  return TRUE;
}

gboolean
agent_parse_state (const char      *text,
                   GossipNodeState *out_state,
                   GError         **error)
{
  static const GossipNodeState states[] = {
    GOSSIP_NODE_ALIVE, GOSSIP_NODE_SUSPECT, GOSSIP_NODE_DEAD, GOSSIP_NODE_LEAVING,
  };

  for (gsize i = 0; i < G_N_ELEMENTS (states); i++)
    if (g_strcmp0 (text, gossip_node_state_to_string (states[i])) == 0)
      {
        *out_state = states[i];
        return TRUE;
      }
  g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
               _("unknown status \"%s\" (use alive, suspect, dead or leaving)"), text);
  return FALSE;
}

char *
agent_format_time (gint64 real_time_us)
{
  g_autoptr(GDateTime) dt = g_date_time_new_from_unix_utc (real_time_us / G_USEC_PER_SEC);
  g_autofree char *seconds = NULL;

  if (dt == NULL)
    return g_strdup ("0000-00-00T00:00:00.000Z");
  seconds = g_date_time_format (dt, "%Y-%m-%dT%H:%M:%S");
  return g_strdup_printf ("%s.%03dZ", seconds, (int) ((real_time_us % G_USEC_PER_SEC) / 1000));
}

static int
compare_strings (gconstpointer a,
                 gconstpointer b)
{
  return strcmp (*(const char * const *) a, *(const char * const *) b);
}

JsonNode *
agent_node_to_json (GossipNode *node)
{
  g_autoptr(JsonBuilder) builder = json_builder_new_immutable ();
  GHashTable *metadata = gossip_node_get_metadata (node);
  const char * const *tags = gossip_node_get_tags (node);
  g_autofree const char **keys = NULL;
  guint n_keys = 0;

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "id");
  json_builder_add_string_value (builder, gossip_node_get_id (node));
  json_builder_set_member_name (builder, "addr");
  json_builder_add_string_value (builder, gossip_node_get_address (node));
  json_builder_set_member_name (builder, "state");
  json_builder_add_string_value (builder, gossip_node_state_to_string (gossip_node_get_state (node)));

  json_builder_set_member_name (builder, "metadata");
  json_builder_begin_object (builder);
  if (metadata != NULL)
    {
      keys = (const char **) g_hash_table_get_keys_as_array (metadata, &n_keys);
      qsort (keys, n_keys, sizeof (char *), compare_strings);
      for (guint i = 0; i < n_keys; i++)
        {
          json_builder_set_member_name (builder, keys[i]);
          json_builder_add_string_value (builder, g_hash_table_lookup (metadata, keys[i]));
        }
    }
  json_builder_end_object (builder);

  json_builder_set_member_name (builder, "tags");
  json_builder_begin_array (builder);
  for (guint i = 0; tags != NULL && tags[i] != NULL; i++)
    json_builder_add_string_value (builder, tags[i]);
  json_builder_end_array (builder);

  json_builder_end_object (builder);
  return json_builder_get_root (builder);
}

JsonNode *
agent_payload_to_json (GVariant *payload)
{
  JsonNode *node;

  if (payload == NULL)
    return json_node_new (JSON_NODE_NULL);

  if (g_variant_is_of_type (payload, G_VARIANT_TYPE_VARIANT))
    {
      g_autoptr(GVariant) inner = g_variant_get_variant (payload);
      return agent_payload_to_json (inner);
    }
  if (g_variant_is_of_type (payload, G_VARIANT_TYPE_BOOLEAN))
    return json_node_init_boolean (json_node_alloc (), g_variant_get_boolean (payload));
  if (g_variant_is_of_type (payload, G_VARIANT_TYPE_INT64))
    return json_node_init_int (json_node_alloc (), g_variant_get_int64 (payload));
  if (g_variant_is_of_type (payload, G_VARIANT_TYPE_DOUBLE))
    {
      double d = g_variant_get_double (payload);

      /* JSON has no NaN or infinities; spell them as JavaScript does. */
      if (isnan (d))
        return json_node_init_string (json_node_alloc (), "NaN");
      if (isinf (d))
        return json_node_init_string (json_node_alloc (), d > 0 ? "Infinity" : "-Infinity");
      return json_node_init_double (json_node_alloc (), d);
    }
  if (g_variant_is_of_type (payload, G_VARIANT_TYPE_STRING))
    return json_node_init_string (json_node_alloc (), g_variant_get_string (payload, NULL));
  if (g_variant_is_of_type (payload, G_VARIANT_TYPE_BYTESTRING))
    {
      JsonObject *object = json_object_new ();
      gsize len = 0;
      const guint8 *data = g_variant_get_fixed_array (payload, &len, 1);
      g_autofree char *b64 = g_base64_encode (data, len);

      json_object_set_string_member (object, "$bytes", b64);
      node = json_node_init_object (json_node_alloc (), object);
      json_object_unref (object);
      return node;
    }
  if (g_variant_is_of_type (payload, G_VARIANT_TYPE ("av")))
    {
      JsonArray *array = json_array_new ();
      gsize n = g_variant_n_children (payload);

      for (gsize i = 0; i < n; i++)
        {
          g_autoptr(GVariant) child = g_variant_get_child_value (payload, i);
          json_array_add_element (array, agent_payload_to_json (child));
        }
      node = json_node_init_array (json_node_alloc (), array);
      json_array_unref (array);
      return node;
    }
  if (g_variant_is_of_type (payload, G_VARIANT_TYPE_VARDICT))
    {
      JsonObject *object = json_object_new ();
      GVariantIter iter;
      const char *key;
      GVariant *value;

      g_variant_iter_init (&iter, payload);
      while (g_variant_iter_next (&iter, "{&sv}", &key, &value))
        {
          json_object_set_member (object, key, agent_payload_to_json (value));
          g_variant_unref (value);
        }
      node = json_node_init_object (json_node_alloc (), object);
      json_object_unref (object);
      return node;
    }
  /* "()" is None; anything else cannot come out of the payload decoder. */
  return json_node_new (JSON_NODE_NULL);
}

JsonObject *
agent_event_new (const char *event,
                 GossipNode *node,
                 gint64      real_time_us)
{
  JsonObject *object = json_object_new ();
  g_autofree char *time = agent_format_time (real_time_us);

  json_object_set_string_member (object, "time", time);
  json_object_set_string_member (object, "event", event);
  if (node != NULL)
    json_object_set_member (object, "node", agent_node_to_json (node));
  return object;
}

JsonObject *
agent_election_event_new (const char *event,
                          const char *node_id,
                          GossipNode *node,
                          guint64     term,
                          gint64      real_time_us)
{
  JsonObject *object = agent_event_new (event, node, real_time_us);

  /* A node we no longer know (it can happen to a lost leader) still has
   * its id, so that every election event names one. */
  if (node == NULL)
    {
      JsonObject *minimal = json_object_new ();

      json_object_set_string_member (minimal, "id", node_id);
      json_object_set_object_member (object, "node", minimal);
    }
  json_object_set_int_member (object, "term", (gint64) MIN (term, (guint64) G_MAXINT64));
  return object;
}

static gboolean
is_election_event (const char *name)
{
  return g_strcmp0 (name, "leader-elected") == 0 || g_strcmp0 (name, "leader-lost") == 0 ||
         g_strcmp0 (name, "became-leader") == 0 || g_strcmp0 (name, "stepped-down") == 0;
}

char *
agent_json_to_string (JsonNode *node)
{
  g_autoptr(JsonGenerator) generator = json_generator_new ();

  json_generator_set_root (generator, node);
  return json_generator_to_data (generator, NULL);
}

JsonObject *
agent_json_parse_object (const char *text,
                         gssize      len,
                         GError    **error)
{
  g_autoptr(JsonParser) parser = json_parser_new_immutable ();
  JsonNode *root;

  if (!json_parser_load_from_data (parser, text, len, error))
    return NULL;
  root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    {
      g_set_error_literal (error, JSON_PARSER_ERROR, JSON_PARSER_ERROR_INVALID_DATA,
                           _("expected a JSON object"));
      return NULL;
    }
  return json_object_ref (json_node_get_object (root));
}

const char *
agent_json_get_string (JsonObject *object,
                       const char *name)
{
  JsonNode *node;

  if (object == NULL || !json_object_has_member (object, name))
    return NULL;
  node = json_object_get_member (object, name);
  if (JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == G_TYPE_STRING)
    return json_node_get_string (node);
  return NULL;
}

JsonObject *
agent_json_get_object (JsonObject *object,
                       const char *name)
{
  JsonNode *node;

  if (object == NULL || !json_object_has_member (object, name))
    return NULL;
  node = json_object_get_member (object, name);
  return JSON_NODE_HOLDS_OBJECT (node) ? json_node_get_object (node) : NULL;
}

JsonArray *
agent_json_get_array (JsonObject *object,
                      const char *name)
{
  JsonNode *node;

  if (object == NULL || !json_object_has_member (object, name))
    return NULL;
  node = json_object_get_member (object, name);
  return JSON_NODE_HOLDS_ARRAY (node) ? json_node_get_array (node) : NULL;
}

static gint64
get_int (JsonObject *object,
         const char *name)
{
  JsonNode *node = json_object_get_member (object, name);

  if (node != NULL && JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == G_TYPE_INT64)
    return json_node_get_int (node);
  return 0;
}

static void
append_metadata (GString    *line,
                 JsonObject *metadata)
{
  g_autoptr(GList) members = NULL;

  if (metadata == NULL)
    return;
  members = json_object_get_members (metadata);
  members = g_list_sort (members, (GCompareFunc) strcmp);
  for (GList *l = members; l != NULL; l = l->next)
    {
      const char *value = agent_json_get_string (metadata, l->data);
      g_string_append_printf (line, " %s=%s", (const char *) l->data, value != NULL ? value : "");
    }
}

char *
agent_event_format (JsonObject *event,
                    gboolean    as_json)
{
  const char *name = agent_json_get_string (event, "event");
  JsonObject *node = agent_json_get_object (event, "node");
  const char *id = agent_json_get_string (node, "id");
  const char *addr = agent_json_get_string (node, "addr");
  GString *line;

  if (as_json)
    {
      g_autoptr(JsonNode) root = json_node_init_object (json_node_alloc (), event);
      return agent_json_to_string (root);
    }

  line = g_string_new (agent_json_get_string (event, "time"));
  g_string_append_printf (line, " %s", name != NULL ? name : "?");

  if (g_strcmp0 (name, "user-message") == 0 || g_strcmp0 (name, "user-request") == 0)
    {
      const char *text = agent_json_get_string (event, "payload_text");

      g_string_append_printf (line, " type=%" G_GINT64_FORMAT " from=%s payload=%s",
                              get_int (event, "type"),
                              id != NULL ? id : "?", text != NULL ? text : "null");
    }
  else if (g_strcmp0 (name, "agent-join") == 0)
    {
      g_string_append_printf (line, " answered=%" G_GINT64_FORMAT " peers=%" G_GINT64_FORMAT,
                              get_int (event, "answered"),
                              get_int (event, "peers"));
    }
  else
    {
      if (id != NULL)
        g_string_append_printf (line, " %s", id);
      if (id != NULL && addr != NULL)
        g_string_append_printf (line, " %s", addr);
      if (g_strcmp0 (name, "agent-start") == 0)
        {
          const char *rpc = agent_json_get_string (event, "rpc_addr");
          g_string_append_printf (line, " rpc=%s", rpc != NULL ? rpc : "none");
        }
      else if (g_strcmp0 (name, "member-update") == 0)
        append_metadata (line, agent_json_get_object (node, "metadata"));
      else if (is_election_event (name))
        g_string_append_printf (line, " term=%" G_GINT64_FORMAT, get_int (event, "term"));
    }

  return g_string_free (line, FALSE);
}

static int
compare_nodes (gconstpointer a,
               gconstpointer b)
{
  GossipNode *na = *(GossipNode * const *) a;
  GossipNode *nb = *(GossipNode * const *) b;

  return strcmp (gossip_node_get_id (na), gossip_node_get_id (nb));
}

void
agent_sort_nodes (GPtrArray *nodes)
{
  g_ptr_array_sort (nodes, compare_nodes);
}

gboolean
agent_parse_rpc_addr (const char      *text,
                      gboolean         loopback_only,
                      char           **out_text,
                      GSocketAddress **out_address,
                      GError         **error)
{
  g_autofree char *host = NULL;
  g_autoptr(GInetAddress) inet = NULL;
  guint16 port = 0;

  if (!gossip_address_parse (text, "--rpc-addr", FALSE, NULL, &host, &port, NULL, error))
    return FALSE;
  /* ":port" and "localhost" mean the IPv4 loopback, as for serf. */
  if (host == NULL || g_ascii_strcasecmp (host, "localhost") == 0)
    {
      g_free (host);
      host = g_strdup ("127.0.0.1");
    }

  inet = g_inet_address_new_from_string (host);
  if (inet == NULL)
    {
      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                   _("--rpc-addr must be an IP address and port such as 127.0.0.1:7373 (got \"%s\")"),
                   text);
      return FALSE;
    }
  if (loopback_only && !g_inet_address_get_is_loopback (inet))
    {
      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                   _("--rpc-addr must be a loopback address such as 127.0.0.1:7373, "
                     "since the control socket has no authentication (got \"%s\")"), text);
      return FALSE;
    }
  if (out_text != NULL)
    *out_text = gossip_address_format (host, port);
  if (out_address != NULL)
    *out_address = g_inet_socket_address_new (inet, port);
  return TRUE;
}
