/* gossip-config.c — validated configuration of a GossipCluster.
 *
 * SPDX-License-Identifier: MIT
 */
#include "config.h"

#include <inttypes.h>
#include <math.h>
#include <string.h>

#include <gio/gio.h>
#include <glib/gi18n-lib.h>

#include "gossip-address-private.h"
#include "gossip-config-private.h"
#include "gossip-private.h"
#include "gossip-error.h"
#include "gossip-uuid-private.h"

/**
 * SECTION:gossip-config
 * @title: GossipConfig
 * @short_description: validated parameters of a cluster
 *
 * A #GossipConfig holds every parameter of a cluster under the name the
 * script API uses, with the same defaults. Setters check the value and fail
 * with a %GOSSIP_CONFIG_ERROR that names the parameter and what it accepts;
 * gossip_config_validate() checks the rules between parameters.
 * gossip_config_list_params() lists the names and gossip_config_param_kind()
 * tells which setter a parameter takes. Durations are given as Go duration
 * strings ("1.5s", "500ms") or seconds and read back in microseconds with
 * gossip_config_get_duration().
 */

/* Go's time.Duration holds at most 2^63-1 ns; durations are limited to what
 * it can hold so that every value has a Go-syntax spelling. */
#define MAX_DURATION_NS   G_MAXINT64
#define MAX_DURATION_USEC (G_MAXINT64 / 1000)
#define USEC_PER_SEC      G_GINT64_CONSTANT (1000000)

/* How a parameter is stored beyond the plain C type of its kind. */
typedef enum {
  STORE_PLAIN,
  STORE_NODE_ID,
  STORE_BIND_ADDR,
  STORE_ADVERTISE_ADDR,
  STORE_TRANSPORT,
} Storage;

typedef struct {
  GossipConfigParamInfo info;
  gsize offset;
  Storage storage;
} ParamRow;

#define ROW(name_, kind_, default_, description_, allowed_, kwarg_, min_, max_, field_, storage_) \
  { { #name_, GOSSIP_PARAM_##kind_, default_, description_, allowed_, kwarg_, min_, max_ }, \
    G_STRUCT_OFFSET (GossipConfig, field_), storage_ }
#define STRING_ROW(name_, default_, description_, allowed_, storage_) \
  ROW (name_, STRING, default_, description_, allowed_, TRUE, 0, 0, name_, storage_)
#define BOOL_ROW(name_, description_) \
  ROW (name_, BOOLEAN, "false", description_, N_("a bool"), TRUE, 0, 0, name_, STORE_PLAIN)
#define DURATION_ROW(name_, default_, description_, kwarg_) \
  ROW (name_, DURATION, default_, description_, \
       N_("a positive duration such as \"5s\" or a number of seconds"), kwarg_, 0, 0, name_, STORE_PLAIN)
#define MULTIPLIER_ROW(name_, default_, description_) \
  ROW (name_, DOUBLE, default_, description_, N_("a finite number > 0"), TRUE, 0, 0, name_, STORE_PLAIN)

/* The single source of truth for parameter names, kinds, defaults and help.
 * Order: create()'s documentation, then the additions. */
static const ParamRow params[] = {
  STRING_ROW (bind_addr, "127.0.0.1:8000",
              N_("Address to bind to; port 0 picks a free port"),
              N_("host:port, [IPv6]:port or :port; with transport \"http\" also an http:// URL"),
              STORE_BIND_ADDR),
  STRING_ROW (node_id, "",
              N_("Unique node ID (a UUIDv7 is generated when empty)"),
              N_("a UUID, or empty to generate one"),
              STORE_NODE_ID),
  STRING_ROW (advertise_addr, "",
              N_("Address advertised to peers (default: the bound address)"),
              N_("empty, or host:port, [IPv6]:port or :port with a host that is not a wildcard "
                 "address; with transport \"http\" also an http(s):// URL"),
              STORE_ADVERTISE_ADDR),
  ROW (encryption_key, BYTES, "",
       N_("AES-GCM encryption key (empty: no encryption)"),
       N_("16, 24 or 32 bytes, or empty"),
       TRUE, 0, 0, encryption_key, STORE_PLAIN),
  ROW (tags, STRV, "",
       N_("Tags for tag-based message routing"),
       N_("a list of non-empty strings"),
       TRUE, 0, 0, tags, STORE_PLAIN),
  BOOL_ROW (compression, N_("Compress messages with Snappy")),
  STRING_ROW (bearer_token, "",
              N_("Shared secret that authenticates every frame with an HMAC; never sent (empty: none)"),
              N_("a string"), STORE_PLAIN),
  STRING_ROW (app_version, "",
              N_("Application version; when set, peers with another version are rejected"),
              N_("a string"), STORE_PLAIN),
  ROW (transport, STRING, "socket",
       N_("Transport: UDP and TCP sockets, or HTTP POSTs"),
       N_("\"socket\" or \"http\""),
       TRUE, 0, 0, transport, STORE_TRANSPORT),
  ROW (compress_min_size, INT, "256",
       N_("Minimum payload size in bytes considered for compression"),
       N_("an integer >= 0"),
       TRUE, 0, G_MAXINT64, compress_min_size, STORE_PLAIN),
  DURATION_ROW (gossip_interval, "5s", N_("Period of the gossip-interval handlers"), TRUE),
  DURATION_ROW (gossip_max_interval, "20s",
                N_("Longest adaptive gossip-interval period (>= gossip_interval)"), TRUE),
  DURATION_ROW (metadata_gossip_interval, "500ms", N_("Period of the metadata gossip"), TRUE),
  DURATION_ROW (state_gossip_interval, "45s",
                N_("Base period of the push-pull state exchange with one random member"), TRUE),
  MULTIPLIER_ROW (fan_out_multiplier, "1.0", N_("Scaling factor of the broadcast fan-out")),
  MULTIPLIER_ROW (ttl_multiplier, "1.0", N_("Scaling factor of the broadcast TTL")),
  MULTIPLIER_ROW (state_exchange_multiplier, "0.8",
                  N_("Above 160 times this many known members, the push-pull period grows in proportion "
                     "to the membership (larger: more frequent exchanges in large clusters)")),
  BOOL_ROW (force_reliable_transport, N_("Send every message over TCP")),
  BOOL_ROW (prefer_ipv6, N_("Try IPv6 addresses first after DNS resolution")),
  DURATION_ROW (node_cleanup_interval, "20s", N_("Period of the dead and leaving node cleanup"), TRUE),
  DURATION_ROW (node_retention_time, "1h", N_("How long dead nodes are remembered"), TRUE),
  DURATION_ROW (leaving_node_timeout, "30s", N_("Time before a leaving node is considered dead"), TRUE),
  DURATION_ROW (health_check_interval, "2s", N_("Period of the liveness scan"), TRUE),
  DURATION_ROW (suspect_timeout, "1.5s", N_("Silence after which a node is probed"), TRUE),
  DURATION_ROW (suspect_retry_interval, "1s", N_("Period of the probes of suspect nodes"), TRUE),
  DURATION_ROW (dead_node_timeout, "15s", N_("Time before a suspect node is considered dead"), TRUE),
  DURATION_ROW (peer_recovery_interval, "30s", N_("Period of the peer recovery check"), TRUE),
  BOOL_ROW (insecure_skip_verify, N_("Skip TLS certificate verification for https peers")),
  ROW (indirect_checks, INT, "3",
       N_("Members asked to probe a silent node indirectly"),
       N_("an integer from 1 to 16"),
       FALSE, 1, 16, indirect_checks, STORE_PLAIN),
  DURATION_ROW (request_timeout, "5s", N_("Default deadline of send_request()"), FALSE),
  ROW (udp_max_packet_size, INT, "1400",
       N_("Largest frame sent by UDP; larger frames go by stream"),
       N_("an integer from 512 to 65000"),
       FALSE, 512, 65000, udp_max_packet_size, STORE_PLAIN),
  /* Bounds on what peers can make a node hold (PROTOCOL.md, "Limits"). */
  ROW (max_members, INT, "100000",
       N_("Most members kept in the table; newcomers beyond it are refused"),
       N_("an integer from 2 to 10000000"),
       FALSE, 2, 10000000, max_members, STORE_PLAIN),
  ROW (max_broadcast_bytes, INT, "4194304",
       N_("Most bytes of updates queued for piggybacking; the oldest are dropped beyond it"),
       N_("an integer from 4096 to 1073741824"),
       FALSE, 4096, 1073741824, max_broadcast_bytes, STORE_PLAIN),
  ROW (max_dedup_entries, INT, "65536",
       N_("Most message ids remembered to drop duplicates; the oldest are forgotten beyond it"),
       N_("an integer from 1024 to 10000000"),
       FALSE, 1024, 10000000, max_dedup_entries, STORE_PLAIN),
  ROW (max_probes, INT, "1024",
       N_("Most probes in flight, indirect ones for other members included"),
       N_("an integer from 16 to 1000000"),
       FALSE, 16, 1000000, max_probes, STORE_PLAIN),
  ROW (max_pending_lookups, INT, "64",
       N_("Most DNS lookups of peer addresses in flight"),
       N_("an integer from 1 to 4096"),
       FALSE, 1, 4096, max_pending_lookups, STORE_PLAIN),
  ROW (max_incoming_streams, INT, "512",
       N_("Most incoming TCP or HTTP connections open at once"),
       N_("an integer from 4 to 65536"),
       FALSE, 4, 65536, max_incoming_streams, STORE_PLAIN),
  ROW (max_incoming_streams_per_peer, INT, "32",
       N_("Most incoming TCP or HTTP connections open at once from one host, once half of "
          "max_incoming_streams are open"),
       N_("an integer from 1 to 65536"),
       FALSE, 1, 65536, max_incoming_streams_per_peer, STORE_PLAIN),
  DURATION_ROW (stream_read_timeout, "10s",
                N_("Time an incoming stream request or HTTP request (headers and body) has to arrive, "
                   "and an idle HTTP connection stays open"), FALSE),
  ROW (state_page_max_bytes, INT, "262144",
       N_("Largest page of a state exchange; larger state is sent in several pages"),
       N_("an integer from 4096 to 8388608"),
       FALSE, 4096, 8388608, state_page_max_bytes, STORE_PLAIN),
};

static const char * const transport_names[] = {
  [GOSSIP_TRANSPORT_SOCKET] = "socket",
  [GOSSIP_TRANSPORT_HTTP] = "http",
};

G_DEFINE_BOXED_TYPE (GossipConfig, gossip_config, gossip_config_copy, gossip_config_free)

/* --- parameter table ------------------------------------------------------ */

static const ParamRow *
lookup (const char *name)
{
  for (gsize i = 0; i < G_N_ELEMENTS (params); i++)
    if (strcmp (params[i].info.name, name) == 0)
      return &params[i];
  return NULL;
}

/*
 * gossip_config_n_params:
 *
 * Returns: the number of configuration parameters
 */
guint
gossip_config_n_params (void)
{
  return G_N_ELEMENTS (params);
}

/*
 * gossip_config_param_nth:
 * @index: a row number
 *
 * Iterates the parameter table:
 * |[<!-- language="C" -->
 * const GossipConfigParamInfo *info;
 * for (guint i = 0; (info = gossip_config_param_nth (i)) != NULL; i++)
 *   g_print ("--%s (default %s): %s\n", info->name, info->default_text,
 *            g_dgettext (GETTEXT_PACKAGE, info->description));
 * ]|
 *
 * Returns: (nullable): the @index-th parameter, or %NULL past the end
 */
const GossipConfigParamInfo *
gossip_config_param_nth (guint index)
{
  if (index >= G_N_ELEMENTS (params))
    return NULL;
  return &params[index].info;
}

/*
 * gossip_config_param_lookup:
 * @name: a parameter name
 *
 * Returns: (nullable): the parameter called @name, or %NULL if there is none
 */
const GossipConfigParamInfo *
gossip_config_param_lookup (const char *name)
{
  const ParamRow *row;

  g_return_val_if_fail (name != NULL, NULL);

  row = lookup (name);
  return row != NULL ? &row->info : NULL;
}

/**
 * gossip_config_param_kind:
 * @name: a parameter name
 *
 * Tells what kind of value the parameter @name takes, so that a front end can
 * pick the matching setter.
 *
 * Returns: the kind, or %GOSSIP_PARAM_UNKNOWN if there is no such parameter
 */
GossipParamKind
gossip_config_param_kind (const char *name)
{
  const ParamRow *row;

  g_return_val_if_fail (name != NULL, GOSSIP_PARAM_UNKNOWN);

  row = lookup (name);
  return row != NULL ? row->info.kind : GOSSIP_PARAM_UNKNOWN;
}

/**
 * gossip_config_list_params:
 *
 * Lists the parameter names: the keywords of the script API's create() in
 * their documented order (bind_addr first), then the additions
 * (indirect_checks, request_timeout, udp_max_packet_size).
 *
 * Returns: (transfer none) (array zero-terminated=1): the names; static
 */
const char * const *
gossip_config_list_params (void)
{
  static const char *names[G_N_ELEMENTS (params) + 1];
  static gsize initialized = 0;

  if (g_once_init_enter (&initialized))
    {
      for (gsize i = 0; i < G_N_ELEMENTS (params); i++)
        names[i] = params[i].info.name;
      names[G_N_ELEMENTS (params)] = NULL;
      g_once_init_leave (&initialized, 1);
    }
  return names;
}

/* --- message helpers ------------------------------------------------------ */

#define QUOTE_MAX_CHARS 64

/*
 * gossip_config_quote:
 * @value: (nullable): a string from the user
 *
 * Quotes @value for an error message.
 *
 * Returns: (transfer full): the quoted value
 */
char *
gossip_config_quote (const char *value)
{
  GString *s;
  guint n = 0;

  if (value == NULL)
    return g_strdup ("(null)");
  if (!g_utf8_validate (value, -1, NULL))
    return g_strdup (_("(invalid UTF-8)"));

  s = g_string_new ("\"");
  for (const char *p = value; *p != '\0'; p = g_utf8_next_char (p), n++)
    {
      gunichar c = g_utf8_get_char (p);

      if (n == QUOTE_MAX_CHARS)
        {
          g_string_append (s, "\xe2\x80\xa6");
          break;
        }
      if (c == '"' || c == '\\')
        g_string_append_printf (s, "\\%c", (char) c);
      else if (c < 0x20 || c == 0x7f)
        g_string_append_printf (s, "\\x%02x", (guint) c);
      else
        g_string_append_unichar (s, c);
    }
  g_string_append_c (s, '"');
  return g_string_free (s, FALSE);
}

static char *
format_double (double value)
{
  char buf[G_ASCII_DTOSTR_BUF_SIZE];

  if (isnan (value))
    return g_strdup ("nan");
  if (isinf (value))
    return g_strdup (value > 0 ? "inf" : "-inf");
  /* The shortest of %.15g and %.17g that reads back as @value, so that 0.1
   * shows as "0.1" but 1.0000000000000002 is not shown as "1". */
  g_ascii_formatd (buf, sizeof buf, "%.15g", value);
  if (g_ascii_strtod (buf, NULL) != value)
    g_ascii_formatd (buf, sizeof buf, "%.17g", value);
  return g_strdup (buf);
}

/* --- construction --------------------------------------------------------- */

/**
 * gossip_config_new:
 *
 * Creates a configuration holding the defaults of the script API's create():
 * bind_addr "127.0.0.1:8000", transport "socket", gossip_interval 5s, … (see
 * gossip_config_list_params()).
 *
 * Returns: (transfer full): a new #GossipConfig
 */
GossipConfig *
gossip_config_new (void)
{
  GossipConfig *config = g_new0 (GossipConfig, 1);

  _gossip_i18n_init ();

  config->bind_addr = g_strdup ("");
  config->node_id = g_strdup ("");
  config->advertise_addr = g_strdup ("");
  config->bearer_token = g_strdup ("");
  config->app_version = g_strdup ("");
  config->tags = g_new0 (char *, 1);
  config->secondary_keys = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);

  for (gsize i = 0; i < G_N_ELEMENTS (params); i++)
    {
      g_autoptr(GError) error = NULL;

      if (!gossip_config_set_from_text (config, params[i].info.name, params[i].info.default_text, &error))
        g_error ("default of %s is invalid: %s", params[i].info.name, error->message);
    }
  return config;
}

/**
 * gossip_config_copy:
 * @config: a #GossipConfig
 *
 * Makes an independent deep copy of @config (keys are immutable #GBytes and
 * are shared).
 *
 * Returns: (transfer full): the copy
 */
GossipConfig *
gossip_config_copy (const GossipConfig *config)
{
  GossipConfig *copy;

  g_return_val_if_fail (config != NULL, NULL);

  copy = g_memdup2 (config, sizeof *config);
  copy->bind_addr = g_strdup (config->bind_addr);
  copy->node_id = g_strdup (config->node_id);
  copy->advertise_addr = g_strdup (config->advertise_addr);
  copy->encryption_key = config->encryption_key != NULL ? g_bytes_ref (config->encryption_key) : NULL;
  copy->secondary_keys = g_ptr_array_new_full (config->secondary_keys->len, (GDestroyNotify) g_bytes_unref);
  for (guint i = 0; i < config->secondary_keys->len; i++)
    g_ptr_array_add (copy->secondary_keys, g_bytes_ref (g_ptr_array_index (config->secondary_keys, i)));
  copy->tags = g_strdupv (config->tags);
  copy->bearer_token = g_strdup (config->bearer_token);
  copy->app_version = g_strdup (config->app_version);
  return copy;
}

/**
 * gossip_config_free:
 * @config: (nullable): a #GossipConfig
 *
 * Frees @config.
 */
void
gossip_config_free (GossipConfig *config)
{
  if (config == NULL)
    return;

  g_free (config->bind_addr);
  g_free (config->node_id);
  g_free (config->advertise_addr);
  g_clear_pointer (&config->encryption_key, g_bytes_unref);
  g_ptr_array_unref (config->secondary_keys);
  g_strfreev (config->tags);
  g_free (config->bearer_token);
  g_free (config->app_version);
  g_free (config);
}

/* --- setters -------------------------------------------------------------- */

static const ParamRow *
lookup_for_set (const char  *name,
                GError     **error)
{
  const ParamRow *row = lookup (name);

  if (row == NULL)
    {
      g_set_error (error, GOSSIP_CONFIG_ERROR, GOSSIP_CONFIG_ERROR_UNKNOWN_KEY,
                   _("unknown parameter '%s'"), name);
    }
  return row;
}

static gboolean
type_error (const ParamRow  *row,
            GError         **error)
{
  const char *name = row->info.name;

  switch (row->info.kind)
    {
    case GOSSIP_PARAM_STRING:
      g_set_error (error, GOSSIP_CONFIG_ERROR, GOSSIP_CONFIG_ERROR_INVALID_TYPE,
                   _("%s must be a string"), name);
      break;
    case GOSSIP_PARAM_BYTES:
      g_set_error (error, GOSSIP_CONFIG_ERROR, GOSSIP_CONFIG_ERROR_INVALID_TYPE,
                   _("%s must be a string or bytes"), name);
      break;
    case GOSSIP_PARAM_INT:
      g_set_error (error, GOSSIP_CONFIG_ERROR, GOSSIP_CONFIG_ERROR_INVALID_TYPE,
                   _("%s must be an integer"), name);
      break;
    case GOSSIP_PARAM_DOUBLE:
      g_set_error (error, GOSSIP_CONFIG_ERROR, GOSSIP_CONFIG_ERROR_INVALID_TYPE,
                   _("%s must be a number"), name);
      break;
    case GOSSIP_PARAM_BOOLEAN:
      g_set_error (error, GOSSIP_CONFIG_ERROR, GOSSIP_CONFIG_ERROR_INVALID_TYPE,
                   _("%s must be a bool"), name);
      break;
    case GOSSIP_PARAM_STRV:
      g_set_error (error, GOSSIP_CONFIG_ERROR, GOSSIP_CONFIG_ERROR_INVALID_TYPE,
                   _("%s must be a list of strings"), name);
      break;
    case GOSSIP_PARAM_DURATION:
      g_set_error (error, GOSSIP_CONFIG_ERROR, GOSSIP_CONFIG_ERROR_INVALID_TYPE,
                   _("%s must be a duration string such as \"5s\" or a number of seconds"), name);
      break;
    case GOSSIP_PARAM_UNKNOWN:
    default:
      g_assert_not_reached ();
    }
  return FALSE;
}

static gboolean
check_utf8 (const ParamRow  *row,
            const char      *value,
            GError         **error)
{
  if (g_utf8_validate (value, -1, NULL))
    return TRUE;
  g_set_error (error, GOSSIP_CONFIG_ERROR, GOSSIP_CONFIG_ERROR_INVALID_VALUE,
               _("%s must be valid UTF-8"), row->info.name);
  return FALSE;
}

static void
replace_string (GossipConfig   *config,
                const ParamRow *row,
                char           *value)
{
  char **field = &G_STRUCT_MEMBER (char *, config, row->offset);

  g_free (*field);
  *field = value;
}

/* @got is the offending value as the user wrote it, already quoted if text. */
static gboolean
duration_error (const ParamRow  *row,
                const char      *got,
                gint64           ns,
                gboolean         overflow,
                GError         **error)
{
  const char *name = row->info.name;

  if (overflow)
    {
      g_autofree char *max = gossip_format_duration (MAX_DURATION_USEC);

      g_set_error (error, GOSSIP_CONFIG_ERROR, GOSSIP_CONFIG_ERROR_INVALID_VALUE,
                   _("%s must be at most %s (got %s)"), name, max, got);
    }
  else if (ns > 0)
    {
      g_set_error (error, GOSSIP_CONFIG_ERROR, GOSSIP_CONFIG_ERROR_INVALID_VALUE,
                   _("%s must be at least 1\xc2\xb5s (got %s)"), name, got);
    }
  else
    {
      g_set_error (error, GOSSIP_CONFIG_ERROR, GOSSIP_CONFIG_ERROR_INVALID_VALUE,
                   _("%s must be a positive duration such as \"5s\" or a number of seconds (got %s)"),
                   name, got);
    }
  return FALSE;
}

static gboolean
set_duration_usec (GossipConfig   *config,
                   const ParamRow *row,
                   gint64          usec)
{
  G_STRUCT_MEMBER (gint64, config, row->offset) = usec;
  return TRUE;
}

static gboolean
set_duration_text (GossipConfig    *config,
                   const ParamRow  *row,
                   const char      *value,
                   GError         **error)
{
  g_autofree char *quoted = gossip_config_quote (value);
  GossipDurationStatus status;
  gint64 ns = 0;

  status = _gossip_parse_duration_ns (value, &ns, NULL);
  if (status == GOSSIP_DURATION_OVERFLOW)
    return duration_error (row, quoted, 0, TRUE, error);
  if (status != GOSSIP_DURATION_OK || ns < 1000)
    return duration_error (row, quoted, status == GOSSIP_DURATION_OK ? ns : 0, FALSE, error);
  return set_duration_usec (config, row, ns / 1000);
}

static gboolean
set_duration_seconds (GossipConfig    *config,
                      const ParamRow  *row,
                      double           seconds,
                      GError         **error)
{
  g_autofree char *got = format_double (seconds);
  double usec;

  if (!isfinite (seconds) || seconds <= 0)
    return duration_error (row, got, 0, FALSE, error);
  usec = round (seconds * (double) USEC_PER_SEC);
  /* Compare as integers: MAX_DURATION_USEC is not exact as a double. */
  if (usec >= 1e16 || (gint64) usec > MAX_DURATION_USEC)
    return duration_error (row, got, 0, TRUE, error);
  if (usec < 1)
    return duration_error (row, got, 1, FALSE, error);
  return set_duration_usec (config, row, (gint64) usec);
}

static gboolean
set_key (GossipConfig  *config,
         const guint8  *data,
         gsize          len,
         GError       **error)
{
  if (len == 0)
    {
      g_clear_pointer (&config->encryption_key, g_bytes_unref);
      return TRUE;
    }
  if (len != 16 && len != 24 && len != 32)
    {
      g_set_error (error, GOSSIP_CONFIG_ERROR, GOSSIP_CONFIG_ERROR_INVALID_VALUE,
                   _("encryption_key must be 16, 24 or 32 bytes (got %zu)"), len);
      return FALSE;
    }
  g_clear_pointer (&config->encryption_key, g_bytes_unref);
  config->encryption_key = g_bytes_new (data, len);
  return TRUE;
}

static gboolean
is_unspecified_host (const char *host)
{
  g_autoptr(GInetAddress) address = NULL;

  if (!g_hostname_is_ip_address (host))
    return FALSE;
  address = g_inet_address_new_from_string (host);
  return address != NULL && g_inet_address_get_is_any (address);
}

/* Checks the transport-independent rules of bind_addr and advertise_addr;
 * whether a URL is allowed depends on the transport and is checked by
 * gossip_config_validate(). */
static gboolean
check_address (const ParamRow  *row,
               const char      *value,
               GError         **error)
{
  g_autofree char *scheme = NULL;
  g_autofree char *host = NULL;
  g_autofree char *quoted = NULL;

  if (!gossip_address_parse (value, row->info.name, TRUE, &scheme, &host, NULL, NULL, error))
    return FALSE;

  quoted = gossip_config_quote (value);
  if (row->storage == STORE_BIND_ADDR)
    {
      /* No certificate can be configured, so TLS cannot be served. */
      if (g_strcmp0 (scheme, "https") == 0)
        {
          g_set_error (error, GOSSIP_CONFIG_ERROR, GOSSIP_CONFIG_ERROR_INVALID_VALUE,
                       _("bind_addr cannot be an https:// URL because serving TLS is not supported "
                         "(got %s; use http:// or host:port)"), quoted);
          return FALSE;
        }
      return TRUE;
    }

  /* Peers connect to the advertised address, and a wildcard address names no
   * host to connect to. (":port" means the local host, as for peers, and port
   * 0 stands for the bound port; both are accepted.) */
  if (host != NULL && is_unspecified_host (host))
    {
      g_set_error (error, GOSSIP_CONFIG_ERROR, GOSSIP_CONFIG_ERROR_INVALID_VALUE,
                   _("advertise_addr cannot be a wildcard address such as 0.0.0.0 or [::], "
                     "which peers cannot connect to (got %s)"), quoted);
      return FALSE;
    }
  return TRUE;
}

/**
 * gossip_config_set_string:
 * @config: a #GossipConfig
 * @name: a parameter name
 * @value: a UTF-8 string
 * @error: return location for a #GError
 *
 * Sets a string, bytes or duration parameter from a string:
 *
 * - bind_addr: `host:port`, `[IPv6]:port` or `:port`, or an `http://` URL
 *   (allowed only with transport "http", checked by gossip_config_validate());
 * - advertise_addr: "" (the bound address), or as bind_addr but not a
 *   wildcard host (0.0.0.0, [::]), `https://` URLs allowed;
 * - node_id: "" (generate a UUIDv7 at creation) or a UUID in the
 *   `8-4-4-4-12` form, as 32 hex digits, in braces or prefixed with
 *   `urn:uuid:` (any case), stored in canonical lowercase form;
 * - encryption_key: its UTF-8 bytes, 16, 24 or 32 of them; "" disables
 *   encryption;
 * - transport: "socket" or "http";
 * - durations: Go syntax (see gossip_parse_duration()), positive and at least
 *   1µs;
 * - bearer_token, app_version: any UTF-8 string.
 *
 * On failure @config is unchanged.
 *
 * Errors: %GOSSIP_CONFIG_ERROR_UNKNOWN_KEY, %GOSSIP_CONFIG_ERROR_INVALID_TYPE
 * for an int, double, bool or list parameter, %GOSSIP_CONFIG_ERROR_INVALID_VALUE.
 *
 * Returns: %TRUE on success
 */
gboolean
gossip_config_set_string (GossipConfig  *config,
                          const char    *name,
                          const char    *value,
                          GError       **error)
{
  const ParamRow *row;

  g_return_val_if_fail (config != NULL, FALSE);
  g_return_val_if_fail (name != NULL, FALSE);
  g_return_val_if_fail (value != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  row = lookup_for_set (name, error);
  if (row == NULL)
    return FALSE;

  switch (row->info.kind)
    {
    case GOSSIP_PARAM_BYTES:
      if (!check_utf8 (row, value, error))
        return FALSE;
      return set_key (config, (const guint8 *) value, strlen (value), error);

    case GOSSIP_PARAM_DURATION:
      return set_duration_text (config, row, value, error);

    case GOSSIP_PARAM_STRING:
      break;

    case GOSSIP_PARAM_INT:
    case GOSSIP_PARAM_DOUBLE:
    case GOSSIP_PARAM_BOOLEAN:
    case GOSSIP_PARAM_STRV:
    case GOSSIP_PARAM_UNKNOWN:
    default:
      return type_error (row, error);
    }

  if (!check_utf8 (row, value, error))
    return FALSE;

  switch (row->storage)
    {
    case STORE_NODE_ID:
      if (value[0] == '\0')
        {
          replace_string (config, row, g_strdup (""));
        }
      else
        {
          guint8 uuid[GOSSIP_UUID_SIZE];
          static const guint8 nil[GOSSIP_UUID_SIZE] = { 0 };
          g_autofree char *quoted = gossip_config_quote (value);

          if (!gossip_uuid_parse (value, uuid))
            {
              g_set_error (error, GOSSIP_CONFIG_ERROR, GOSSIP_CONFIG_ERROR_INVALID_VALUE,
                           _("node_id must be a UUID (got %s)"), quoted);
              return FALSE;
            }
          /* The nil UUID means "unknown node" on the wire. */
          if (memcmp (uuid, nil, sizeof nil) == 0)
            {
              g_set_error (error, GOSSIP_CONFIG_ERROR, GOSSIP_CONFIG_ERROR_INVALID_VALUE,
                           _("node_id must not be the nil UUID, which means \"unknown node\" (got %s)"),
                           quoted);
              return FALSE;
            }
          replace_string (config, row, gossip_uuid_to_string (uuid));
        }
      return TRUE;

    case STORE_BIND_ADDR:
      if (!check_address (row, value, error))
        return FALSE;
      replace_string (config, row, g_strdup (value));
      return TRUE;

    case STORE_ADVERTISE_ADDR:
      if (value[0] != '\0' && !check_address (row, value, error))
        return FALSE;
      replace_string (config, row, g_strdup (value));
      return TRUE;

    case STORE_TRANSPORT:
      for (gsize i = 0; i < G_N_ELEMENTS (transport_names); i++)
        if (strcmp (value, transport_names[i]) == 0)
          {
            config->transport = (GossipTransportKind) i;
            return TRUE;
          }
      g_set_error (error, GOSSIP_CONFIG_ERROR, GOSSIP_CONFIG_ERROR_INVALID_VALUE,
                   _("unknown transport: %s (use 'socket' or 'http')"), value);
      return FALSE;

    case STORE_PLAIN:
    default:
      replace_string (config, row, g_strdup (value));
      return TRUE;
    }
}

/**
 * gossip_config_set_bytes:
 * @config: a #GossipConfig
 * @name: a parameter name; only "encryption_key" takes bytes
 * @data: (array length=len) (nullable): the bytes
 * @len: the length of @data
 * @error: return location for a #GError
 *
 * Sets the encryption key from raw bytes: 16, 24 or 32 bytes select AES-128,
 * AES-192 or AES-256; 0 bytes disable encryption.
 *
 * Errors: %GOSSIP_CONFIG_ERROR_UNKNOWN_KEY, %GOSSIP_CONFIG_ERROR_INVALID_TYPE
 * for any other parameter, %GOSSIP_CONFIG_ERROR_INVALID_VALUE for another
 * length.
 *
 * Returns: %TRUE on success
 */
gboolean
gossip_config_set_bytes (GossipConfig  *config,
                         const char    *name,
                         const guint8  *data,
                         gsize          len,
                         GError       **error)
{
  const ParamRow *row;

  g_return_val_if_fail (config != NULL, FALSE);
  g_return_val_if_fail (name != NULL, FALSE);
  g_return_val_if_fail (data != NULL || len == 0, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  row = lookup_for_set (name, error);
  if (row == NULL)
    return FALSE;
  if (row->info.kind != GOSSIP_PARAM_BYTES)
    return type_error (row, error);
  return set_key (config, data, len, error);
}

static gboolean
set_int_checked (GossipConfig    *config,
                 const ParamRow  *row,
                 gint64           value,
                 GError         **error)
{
  if (value < row->info.min || value > row->info.max)
    {
      if (row->info.max == G_MAXINT64)
        g_set_error (error, GOSSIP_CONFIG_ERROR, GOSSIP_CONFIG_ERROR_INVALID_VALUE,
                     _("%s must be >= %" PRId64 " (got %" PRId64 ")"),
                     row->info.name, row->info.min, value);
      else
        g_set_error (error, GOSSIP_CONFIG_ERROR, GOSSIP_CONFIG_ERROR_INVALID_VALUE,
                     _("%s must be from %" PRId64 " to %" PRId64
                       " (got %" PRId64 ")"),
                     row->info.name, row->info.min, row->info.max, value);
      return FALSE;
    }
  G_STRUCT_MEMBER (gint64, config, row->offset) = value;
  return TRUE;
}

static gboolean
set_double_checked (GossipConfig    *config,
                    const ParamRow  *row,
                    double           value,
                    GError         **error)
{
  if (!isfinite (value) || value <= 0)
    {
      g_autofree char *got = format_double (value);

      g_set_error (error, GOSSIP_CONFIG_ERROR, GOSSIP_CONFIG_ERROR_INVALID_VALUE,
                   _("%s must be a finite number > 0 (got %s)"), row->info.name, got);
      return FALSE;
    }
  G_STRUCT_MEMBER (double, config, row->offset) = value;
  return TRUE;
}

/**
 * gossip_config_set_int:
 * @config: a #GossipConfig
 * @name: a parameter name
 * @value: the value
 * @error: return location for a #GError
 *
 * Sets an integer, number or duration parameter. For a duration @value is a
 * number of seconds. Ranges: compress_min_size >= 0, indirect_checks 1..16,
 * udp_max_packet_size 512..65000, multipliers > 0, durations > 0 and at most
 * Go's maximum (about 292 years).
 *
 * Errors: %GOSSIP_CONFIG_ERROR_UNKNOWN_KEY, %GOSSIP_CONFIG_ERROR_INVALID_TYPE
 * for a string, bytes, bool or list parameter,
 * %GOSSIP_CONFIG_ERROR_INVALID_VALUE when out of range.
 *
 * Returns: %TRUE on success
 */
gboolean
gossip_config_set_int (GossipConfig  *config,
                       const char    *name,
                       gint64         value,
                       GError       **error)
{
  const ParamRow *row;

  g_return_val_if_fail (config != NULL, FALSE);
  g_return_val_if_fail (name != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  row = lookup_for_set (name, error);
  if (row == NULL)
    return FALSE;

  switch (row->info.kind)
    {
    case GOSSIP_PARAM_INT:
      return set_int_checked (config, row, value, error);
    case GOSSIP_PARAM_DOUBLE:
      return set_double_checked (config, row, (double) value, error);
    case GOSSIP_PARAM_DURATION:
      if (value > 0 && value > MAX_DURATION_USEC / USEC_PER_SEC)
        {
          g_autofree char *got = g_strdup_printf ("%" G_GINT64_FORMAT, value);

          return duration_error (row, got, 0, TRUE, error);
        }
      if (value <= 0)
        {
          g_autofree char *got = g_strdup_printf ("%" G_GINT64_FORMAT, value);

          return duration_error (row, got, 0, FALSE, error);
        }
      return set_duration_usec (config, row, value * USEC_PER_SEC);
    case GOSSIP_PARAM_STRING:
    case GOSSIP_PARAM_BYTES:
    case GOSSIP_PARAM_BOOLEAN:
    case GOSSIP_PARAM_STRV:
    case GOSSIP_PARAM_UNKNOWN:
    default:
      return type_error (row, error);
    }
}

/**
 * gossip_config_set_double:
 * @config: a #GossipConfig
 * @name: a parameter name
 * @value: the value
 * @error: return location for a #GError
 *
 * Sets a number, integer or duration parameter. An integer parameter accepts
 * only an integral @value; a duration takes @value seconds, rounded to the
 * nearest microsecond. NaN and infinities are never accepted.
 *
 * Errors: %GOSSIP_CONFIG_ERROR_UNKNOWN_KEY, %GOSSIP_CONFIG_ERROR_INVALID_TYPE
 * for a string, bytes, bool or list parameter and for a non-integral value of
 * an integer parameter, %GOSSIP_CONFIG_ERROR_INVALID_VALUE when out of range.
 *
 * Returns: %TRUE on success
 */
gboolean
gossip_config_set_double (GossipConfig  *config,
                          const char    *name,
                          double         value,
                          GError       **error)
{
  const ParamRow *row;

  g_return_val_if_fail (config != NULL, FALSE);
  g_return_val_if_fail (name != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  row = lookup_for_set (name, error);
  if (row == NULL)
    return FALSE;

  switch (row->info.kind)
    {
    case GOSSIP_PARAM_INT:
      if (!isfinite (value) || value != trunc (value))
        {
          g_autofree char *got = format_double (value);

          g_set_error (error, GOSSIP_CONFIG_ERROR, GOSSIP_CONFIG_ERROR_INVALID_TYPE,
                       _("%s must be an integer (got %s)"), row->info.name, got);
          return FALSE;
        }
      /* 2^63 is exact as a double; every integral double below it fits. */
      if (value >= 9223372036854775808.0 || value < -9223372036854775808.0)
        {
          g_autofree char *got = format_double (value);

          g_set_error (error, GOSSIP_CONFIG_ERROR, GOSSIP_CONFIG_ERROR_INVALID_VALUE,
                       _("%s is out of range (got %s)"), row->info.name, got);
          return FALSE;
        }
      return set_int_checked (config, row, (gint64) value, error);
    case GOSSIP_PARAM_DOUBLE:
      return set_double_checked (config, row, value, error);
    case GOSSIP_PARAM_DURATION:
      return set_duration_seconds (config, row, value, error);
    case GOSSIP_PARAM_STRING:
    case GOSSIP_PARAM_BYTES:
    case GOSSIP_PARAM_BOOLEAN:
    case GOSSIP_PARAM_STRV:
    case GOSSIP_PARAM_UNKNOWN:
    default:
      return type_error (row, error);
    }
}

/**
 * gossip_config_set_boolean:
 * @config: a #GossipConfig
 * @name: a parameter name
 * @value: the value
 * @error: return location for a #GError
 *
 * Sets a bool parameter. Bools are never accepted for other kinds
 * (no truthiness, no bool-as-int).
 *
 * Errors: %GOSSIP_CONFIG_ERROR_UNKNOWN_KEY, %GOSSIP_CONFIG_ERROR_INVALID_TYPE.
 *
 * Returns: %TRUE on success
 */
gboolean
gossip_config_set_boolean (GossipConfig  *config,
                           const char    *name,
                           gboolean       value,
                           GError       **error)
{
  const ParamRow *row;

  g_return_val_if_fail (config != NULL, FALSE);
  g_return_val_if_fail (name != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  row = lookup_for_set (name, error);
  if (row == NULL)
    return FALSE;
  if (row->info.kind != GOSSIP_PARAM_BOOLEAN)
    return type_error (row, error);
  G_STRUCT_MEMBER (gboolean, config, row->offset) = value ? TRUE : FALSE;
  return TRUE;
}

/**
 * gossip_config_set_strv:
 * @config: a #GossipConfig
 * @name: a parameter name; only "tags" takes a list
 * @value: (array zero-terminated=1) (nullable): the strings; %NULL is the empty list
 * @error: return location for a #GError
 *
 * Sets a list parameter. Every item must be a non-empty UTF-8 string. The
 * list is stored as given (order and duplicates kept).
 *
 * Errors: %GOSSIP_CONFIG_ERROR_UNKNOWN_KEY, %GOSSIP_CONFIG_ERROR_INVALID_TYPE
 * for any other parameter, %GOSSIP_CONFIG_ERROR_INVALID_VALUE for a bad item.
 *
 * Returns: %TRUE on success
 */
gboolean
gossip_config_set_strv (GossipConfig        *config,
                        const char          *name,
                        const char * const  *value,
                        GError             **error)
{
  static const char * const empty[] = { NULL };
  const ParamRow *row;
  char ***field;

  g_return_val_if_fail (config != NULL, FALSE);
  g_return_val_if_fail (name != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  row = lookup_for_set (name, error);
  if (row == NULL)
    return FALSE;
  if (row->info.kind != GOSSIP_PARAM_STRV)
    return type_error (row, error);

  if (value == NULL)
    value = empty;
  for (guint i = 0; value[i] != NULL; i++)
    {
      if (!g_utf8_validate (value[i], -1, NULL))
        {
          g_set_error (error, GOSSIP_CONFIG_ERROR, GOSSIP_CONFIG_ERROR_INVALID_VALUE,
                       _("%s[%u] must be valid UTF-8"), row->info.name, i);
          return FALSE;
        }
      if (value[i][0] == '\0')
        {
          g_set_error (error, GOSSIP_CONFIG_ERROR, GOSSIP_CONFIG_ERROR_INVALID_VALUE,
                       _("%s[%u] must be a non-empty string"), row->info.name, i);
          return FALSE;
        }
    }

  field = &G_STRUCT_MEMBER (char **, config, row->offset);
  g_strfreev (*field);
  *field = g_strdupv ((char **) value);
  return TRUE;
}

/*
 * gossip_config_set_from_text:
 * @config: a #GossipConfig
 * @name: a parameter name
 * @text: the value as text, in the form of #GossipConfigParamInfo.default_text
 * @error: return location for a #GError
 *
 * Sets a parameter from its text form, as given on a command line: strings
 * and keys verbatim; integers in decimal; numbers in C-locale notation;
 * "true" or "false"; durations in Go syntax or as a plain number of seconds;
 * lists comma-separated ("" is the empty list). The value then goes through
 * the matching typed setter and its checks.
 *
 * Errors: %GOSSIP_CONFIG_ERROR_UNKNOWN_KEY, %GOSSIP_CONFIG_ERROR_INVALID_VALUE.
 *
 * Returns: %TRUE on success
 */
gboolean
gossip_config_set_from_text (GossipConfig  *config,
                             const char    *name,
                             const char    *text,
                             GError       **error)
{
  const ParamRow *row;
  g_autofree char *quoted = NULL;
  char *end = NULL;

  g_return_val_if_fail (config != NULL, FALSE);
  g_return_val_if_fail (name != NULL, FALSE);
  g_return_val_if_fail (text != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  row = lookup_for_set (name, error);
  if (row == NULL)
    return FALSE;

  switch (row->info.kind)
    {
    case GOSSIP_PARAM_STRING:
    case GOSSIP_PARAM_BYTES:
      return gossip_config_set_string (config, name, text, error);

    case GOSSIP_PARAM_DURATION:
      {
        double seconds;

        if (text[0] != '\0' && !g_ascii_isspace (text[0]))
          {
            seconds = g_ascii_strtod (text, &end);
            if (end != text && *end == '\0')
              return gossip_config_set_double (config, name, seconds, error);
          }
        return gossip_config_set_string (config, name, text, error);
      }

    case GOSSIP_PARAM_INT:
      {
        gint64 value;

        if (!g_ascii_string_to_signed (text, 10, G_MININT64, G_MAXINT64, &value, NULL))
          {
            quoted = gossip_config_quote (text);
            g_set_error (error, GOSSIP_CONFIG_ERROR, GOSSIP_CONFIG_ERROR_INVALID_VALUE,
                         _("%s must be an integer (got %s)"), name, quoted);
            return FALSE;
          }
        return gossip_config_set_int (config, name, value, error);
      }

    case GOSSIP_PARAM_DOUBLE:
      {
        double value = 0;

        if (text[0] != '\0' && !g_ascii_isspace (text[0]))
          value = g_ascii_strtod (text, &end);
        if (end == NULL || end == text || *end != '\0')
          {
            quoted = gossip_config_quote (text);
            g_set_error (error, GOSSIP_CONFIG_ERROR, GOSSIP_CONFIG_ERROR_INVALID_VALUE,
                         _("%s must be a number (got %s)"), name, quoted);
            return FALSE;
          }
        return gossip_config_set_double (config, name, value, error);
      }

    case GOSSIP_PARAM_BOOLEAN:
      if (strcmp (text, "true") == 0)
        return gossip_config_set_boolean (config, name, TRUE, error);
      if (strcmp (text, "false") == 0)
        return gossip_config_set_boolean (config, name, FALSE, error);
      quoted = gossip_config_quote (text);
      g_set_error (error, GOSSIP_CONFIG_ERROR, GOSSIP_CONFIG_ERROR_INVALID_VALUE,
                   _("%s must be true or false (got %s)"), name, quoted);
      return FALSE;

    case GOSSIP_PARAM_STRV:
      {
        g_auto(GStrv) items = NULL;

        if (text[0] == '\0')
          return gossip_config_set_strv (config, name, NULL, error);
        items = g_strsplit (text, ",", -1);
        return gossip_config_set_strv (config, name, (const char * const *) items, error);
      }

    case GOSSIP_PARAM_UNKNOWN:
    default:
      g_assert_not_reached ();
    }
}

/**
 * gossip_config_add_secondary_key:
 * @config: a #GossipConfig
 * @key: (array length=len): an AES key
 * @len: its length: 16, 24 or 32
 * @error: return location for a #GError
 *
 * Adds a key accepted for decryption besides encryption_key, to rotate keys
 * without downtime. Adding a key already present does nothing. Secondary keys
 * require an encryption_key (checked by gossip_config_validate()).
 *
 * Errors: %GOSSIP_CONFIG_ERROR_INVALID_VALUE for another length.
 *
 * Returns: %TRUE on success
 */
gboolean
gossip_config_add_secondary_key (GossipConfig  *config,
                                 const guint8  *key,
                                 gsize          len,
                                 GError       **error)
{
  g_autoptr(GBytes) bytes = NULL;

  g_return_val_if_fail (config != NULL, FALSE);
  g_return_val_if_fail (key != NULL || len == 0, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (len != 16 && len != 24 && len != 32)
    {
      g_set_error (error, GOSSIP_CONFIG_ERROR, GOSSIP_CONFIG_ERROR_INVALID_VALUE,
                   _("secondary key must be 16, 24 or 32 bytes (got %zu)"), len);
      return FALSE;
    }

  bytes = g_bytes_new (key, len);
  for (guint i = 0; i < config->secondary_keys->len; i++)
    if (g_bytes_equal (g_ptr_array_index (config->secondary_keys, i), bytes))
      return TRUE;
  g_ptr_array_add (config->secondary_keys, g_steal_pointer (&bytes));
  return TRUE;
}

/* --- validation ----------------------------------------------------------- */

static gboolean
validate_address_for_transport (const GossipConfig  *config,
                                const char          *name,
                                const char          *value,
                                GError             **error)
{
  g_autoptr(GError) local_error = NULL;
  gboolean allow_url = config->transport == GOSSIP_TRANSPORT_HTTP;

  if (gossip_address_parse (value, name, allow_url, NULL, NULL, NULL, NULL, &local_error))
    return TRUE;

  if (!allow_url && gossip_address_parse (value, name, TRUE, NULL, NULL, NULL, NULL, NULL))
    {
      g_autofree char *quoted = gossip_config_quote (value);

      g_set_error (error, GOSSIP_CONFIG_ERROR, GOSSIP_CONFIG_ERROR_INCONSISTENT,
                   _("%s %s is a URL, which needs transport \"http\" (transport is \"%s\")"),
                   name, quoted, transport_names[config->transport]);
      return FALSE;
    }

  g_propagate_error (error, g_steal_pointer (&local_error));
  return FALSE;
}

/**
 * gossip_config_validate:
 * @config: a #GossipConfig
 * @error: return location for a #GError
 *
 * Checks the rules that involve several parameters, which setters cannot
 * check because parameters may be set in any order:
 *
 * - gossip_max_interval must be >= gossip_interval (the adaptive period
 *   ranges between them);
 * - bind_addr and advertise_addr may be URLs only with transport "http";
 * - secondary keys require an encryption_key (a keyring without a key to
 *   encrypt with would accept encrypted traffic while sending plaintext).
 *
 * Deliberately not errors, because the combination is harmless:
 * insecure_skip_verify or force_reliable_transport with a transport that
 * ignores them, compress_min_size without compression, and timeouts in any
 * order relative to each other (each timer works on its own).
 *
 * Errors: %GOSSIP_CONFIG_ERROR_INCONSISTENT, or
 * %GOSSIP_CONFIG_ERROR_INVALID_VALUE if a field was corrupted behind the
 * setters' back.
 *
 * Returns: %TRUE if @config is usable
 */
gboolean
gossip_config_validate (const GossipConfig  *config,
                        GError             **error)
{
  g_return_val_if_fail (config != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (config->gossip_max_interval < config->gossip_interval)
    {
      g_autofree char *max = gossip_format_duration (config->gossip_max_interval);
      g_autofree char *interval = gossip_format_duration (config->gossip_interval);

      g_set_error (error, GOSSIP_CONFIG_ERROR, GOSSIP_CONFIG_ERROR_INCONSISTENT,
                   _("gossip_max_interval (%s) must be >= gossip_interval (%s)"), max, interval);
      return FALSE;
    }

  if (!validate_address_for_transport (config, "bind_addr", config->bind_addr, error))
    return FALSE;
  if (config->advertise_addr[0] != '\0' &&
      !validate_address_for_transport (config, "advertise_addr", config->advertise_addr, error))
    return FALSE;

  if (config->secondary_keys->len > 0 && config->encryption_key == NULL)
    {
      g_set_error (error, GOSSIP_CONFIG_ERROR, GOSSIP_CONFIG_ERROR_INCONSISTENT,
                   _("secondary keys require an encryption_key"));
      return FALSE;
    }

  return TRUE;
}

/* --- getters -------------------------------------------------------------- */

static const ParamRow *
lookup_kind (const char      *name,
             GossipParamKind  kind)
{
  const ParamRow *row = lookup (name);

  return row != NULL && row->info.kind == kind ? row : NULL;
}

/**
 * gossip_config_get_string:
 * @config: a #GossipConfig
 * @name: the name of a string parameter
 *
 * Gets the value of a string parameter.
 *
 * Returns: (transfer none): the value; node_id is "" until generated, or
 *   canonical; transport is "socket" or "http"
 */
const char *
gossip_config_get_string (const GossipConfig *config,
                          const char         *name)
{
  const ParamRow *row;

  g_return_val_if_fail (config != NULL, NULL);
  g_return_val_if_fail (name != NULL, NULL);
  row = lookup_kind (name, GOSSIP_PARAM_STRING);
  g_return_val_if_fail (row != NULL /* unknown or not a string parameter */, NULL);

  if (row->storage == STORE_TRANSPORT)
    return transport_names[config->transport];
  return G_STRUCT_MEMBER (const char *, config, row->offset);
}

/**
 * gossip_config_get_int:
 * @config: a #GossipConfig
 * @name: the name of an integer parameter
 *
 * Gets the value of an integer parameter.
 *
 * Returns: the value
 */
gint64
gossip_config_get_int (const GossipConfig *config,
                       const char         *name)
{
  const ParamRow *row;

  g_return_val_if_fail (config != NULL, 0);
  g_return_val_if_fail (name != NULL, 0);
  row = lookup_kind (name, GOSSIP_PARAM_INT);
  g_return_val_if_fail (row != NULL /* unknown or not an integer parameter */, 0);

  return G_STRUCT_MEMBER (gint64, config, row->offset);
}

/**
 * gossip_config_get_double:
 * @config: a #GossipConfig
 * @name: the name of a number parameter
 *
 * Gets the value of a number parameter.
 *
 * Returns: the value
 */
double
gossip_config_get_double (const GossipConfig *config,
                          const char         *name)
{
  const ParamRow *row;

  g_return_val_if_fail (config != NULL, 0.0);
  g_return_val_if_fail (name != NULL, 0.0);
  row = lookup_kind (name, GOSSIP_PARAM_DOUBLE);
  g_return_val_if_fail (row != NULL /* unknown or not a number parameter */, 0.0);

  return G_STRUCT_MEMBER (double, config, row->offset);
}

/**
 * gossip_config_get_boolean:
 * @config: a #GossipConfig
 * @name: the name of a bool parameter
 *
 * Gets the value of a bool parameter.
 *
 * Returns: the value
 */
gboolean
gossip_config_get_boolean (const GossipConfig *config,
                           const char         *name)
{
  const ParamRow *row;

  g_return_val_if_fail (config != NULL, FALSE);
  g_return_val_if_fail (name != NULL, FALSE);
  row = lookup_kind (name, GOSSIP_PARAM_BOOLEAN);
  g_return_val_if_fail (row != NULL /* unknown or not a bool parameter */, FALSE);

  return G_STRUCT_MEMBER (gboolean, config, row->offset);
}

/**
 * gossip_config_get_strv:
 * @config: a #GossipConfig
 * @name: the name of a list parameter
 *
 * Gets the value of a list parameter.
 *
 * Returns: (transfer none) (array zero-terminated=1): the list, never %NULL
 */
const char * const *
gossip_config_get_strv (const GossipConfig *config,
                        const char         *name)
{
  const ParamRow *row;

  g_return_val_if_fail (config != NULL, NULL);
  g_return_val_if_fail (name != NULL, NULL);
  row = lookup_kind (name, GOSSIP_PARAM_STRV);
  g_return_val_if_fail (row != NULL /* unknown or not a list parameter */, NULL);

  return (const char * const *) G_STRUCT_MEMBER (char **, config, row->offset);
}

/**
 * gossip_config_get_duration:
 * @config: a #GossipConfig
 * @name: the name of a duration parameter
 *
 * Gets the value of a duration parameter.
 *
 * Returns: the duration in microseconds, always > 0
 */
gint64
gossip_config_get_duration (const GossipConfig *config,
                            const char         *name)
{
  const ParamRow *row;

  g_return_val_if_fail (config != NULL, 0);
  g_return_val_if_fail (name != NULL, 0);
  row = lookup_kind (name, GOSSIP_PARAM_DURATION);
  g_return_val_if_fail (row != NULL /* unknown or not a duration parameter */, 0);

  return G_STRUCT_MEMBER (gint64, config, row->offset);
}
