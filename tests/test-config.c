/* test-config.c — configuration, durations, node ids and addresses.
 *
 * SPDX-License-Identifier: MIT
 */
#include "config.h"

#include <math.h>
#include <string.h>

#include "gossip-address-private.h"
#include "gossip-config-private.h"
#include "gossip-error.h"
#include "gossip-uuid-private.h"

#define SEC G_GINT64_CONSTANT (1000000)
#define MICRO "\xc2\xb5"      /* U+00B5 MICRO SIGN */
#define MU "\xce\xbc"         /* U+03BC GREEK SMALL LETTER MU */

/* --- helpers ---------------------------------------------------------------- */

/* Logs @what with @text quoted, so that invalid UTF-8 does not garble TAP. */
static void
note (const char *what,
      const char *text)
{
  g_autofree char *quoted = gossip_config_quote (text);

  g_test_message ("%s %s", what, quoted);
}

typedef enum {
  SET_STRING,
  SET_BYTES,
  SET_INT,
  SET_DOUBLE,
  SET_BOOLEAN,
  SET_STRV,
  N_SETTERS
} Setter;

static const char * const setter_names[] = {
  "set_string", "set_bytes", "set_int", "set_double", "set_boolean", "set_strv",
};

/* The setter that takes each kind natively (durations also take numbers). */
static gboolean
setter_accepts_kind (Setter          setter,
                     GossipParamKind kind)
{
  switch (setter)
    {
    case SET_STRING:
      return kind == GOSSIP_PARAM_STRING || kind == GOSSIP_PARAM_BYTES || kind == GOSSIP_PARAM_DURATION;
    case SET_BYTES:
      return kind == GOSSIP_PARAM_BYTES;
    case SET_INT:
    case SET_DOUBLE:
      return kind == GOSSIP_PARAM_INT || kind == GOSSIP_PARAM_DOUBLE || kind == GOSSIP_PARAM_DURATION;
    case SET_BOOLEAN:
      return kind == GOSSIP_PARAM_BOOLEAN;
    case SET_STRV:
      return kind == GOSSIP_PARAM_STRV;
    case N_SETTERS:
    default:
      g_assert_not_reached ();
    }
}

typedef struct {
  const char *name;
  Setter setter;
  const char *s;               /* SET_STRING, SET_BYTES (with len) */
  gsize len;
  gint64 i;
  double d;
  gboolean b;
  const char * const *v;       /* SET_STRV */
} Assignment;

static gboolean
apply (GossipConfig     *config,
       const Assignment *a,
       GError          **error)
{
  switch (a->setter)
    {
    case SET_STRING:
      return gossip_config_set_string (config, a->name, a->s, error);
    case SET_BYTES:
      return gossip_config_set_bytes (config, a->name, (const guint8 *) a->s, a->len, error);
    case SET_INT:
      return gossip_config_set_int (config, a->name, a->i, error);
    case SET_DOUBLE:
      return gossip_config_set_double (config, a->name, a->d, error);
    case SET_BOOLEAN:
      return gossip_config_set_boolean (config, a->name, a->b, error);
    case SET_STRV:
      return gossip_config_set_strv (config, a->name, a->v, error);
    case N_SETTERS:
    default:
      g_assert_not_reached ();
    }
}

static gboolean
bytes_equal0 (GBytes *a,
              GBytes *b)
{
  if (a == NULL || b == NULL)
    return a == b;
  return g_bytes_equal (a, b);
}

/* Compares every parameter through the public getters, plus the keys. */
static void
assert_configs_equal (const GossipConfig *a,
                      const GossipConfig *b)
{
  const GossipConfigParamInfo *info;

  for (guint i = 0; (info = gossip_config_param_nth (i)) != NULL; i++)
    {
      switch (info->kind)
        {
        case GOSSIP_PARAM_STRING:
          g_assert_cmpstr (gossip_config_get_string (a, info->name), ==,
                           gossip_config_get_string (b, info->name));
          break;
        case GOSSIP_PARAM_BYTES:
          g_assert_true (bytes_equal0 (a->encryption_key, b->encryption_key));
          break;
        case GOSSIP_PARAM_INT:
          g_assert_cmpint (gossip_config_get_int (a, info->name), ==, gossip_config_get_int (b, info->name));
          break;
        case GOSSIP_PARAM_DOUBLE:
          g_assert_cmpfloat (gossip_config_get_double (a, info->name), ==,
                             gossip_config_get_double (b, info->name));
          break;
        case GOSSIP_PARAM_BOOLEAN:
          g_assert_cmpint (gossip_config_get_boolean (a, info->name), ==,
                           gossip_config_get_boolean (b, info->name));
          break;
        case GOSSIP_PARAM_STRV:
          g_assert_true (g_strv_equal ((const char * const *) gossip_config_get_strv (a, info->name),
                                       (const char * const *) gossip_config_get_strv (b, info->name)));
          break;
        case GOSSIP_PARAM_DURATION:
          g_assert_cmpint (gossip_config_get_duration (a, info->name), ==,
                           gossip_config_get_duration (b, info->name));
          break;
        case GOSSIP_PARAM_UNKNOWN:
        default:
          g_assert_not_reached ();
        }
    }
  g_assert_cmpuint (a->secondary_keys->len, ==, b->secondary_keys->len);
  for (guint i = 0; i < a->secondary_keys->len; i++)
    g_assert_true (g_bytes_equal (g_ptr_array_index (a->secondary_keys, i),
                                  g_ptr_array_index (b->secondary_keys, i)));
  g_assert_cmpint (a->transport, ==, b->transport);
}

/* --- defaults and the parameter table -------------------------------------- */

static void
test_defaults (void)
{
  g_autoptr(GossipConfig) config = gossip_config_new ();
  g_autoptr(GError) error = NULL;
  static const struct {
    const char *name;
    gint64 usec;
  } durations[] = {
    { "gossip_interval", 5 * SEC },
    { "gossip_max_interval", 20 * SEC },
    { "metadata_gossip_interval", 500000 },
    { "state_gossip_interval", 45 * SEC },
    { "node_cleanup_interval", 20 * SEC },
    { "node_retention_time", 3600 * SEC },
    { "leaving_node_timeout", 30 * SEC },
    { "health_check_interval", 2 * SEC },
    { "suspect_timeout", 1500000 },
    { "suspect_retry_interval", 1 * SEC },
    { "dead_node_timeout", 15 * SEC },
    { "peer_recovery_interval", 30 * SEC },
    { "request_timeout", 5 * SEC },
  };

  g_assert_cmpstr (gossip_config_get_string (config, "bind_addr"), ==, "127.0.0.1:8000");
  g_assert_cmpstr (gossip_config_get_string (config, "node_id"), ==, "");
  g_assert_cmpstr (gossip_config_get_string (config, "advertise_addr"), ==, "");
  g_assert_null (config->encryption_key);
  g_assert_cmpuint (config->secondary_keys->len, ==, 0);
  g_assert_nonnull (gossip_config_get_strv (config, "tags"));
  g_assert_null (gossip_config_get_strv (config, "tags")[0]);
  g_assert_false (gossip_config_get_boolean (config, "compression"));
  g_assert_cmpstr (gossip_config_get_string (config, "bearer_token"), ==, "");
  g_assert_cmpstr (gossip_config_get_string (config, "app_version"), ==, "");
  g_assert_cmpstr (gossip_config_get_string (config, "transport"), ==, "socket");
  g_assert_cmpint (config->transport, ==, GOSSIP_TRANSPORT_SOCKET);
  g_assert_cmpint (gossip_config_get_int (config, "compress_min_size"), ==, 256);
  g_assert_cmpfloat (gossip_config_get_double (config, "fan_out_multiplier"), ==, 1.0);
  g_assert_cmpfloat (gossip_config_get_double (config, "ttl_multiplier"), ==, 1.0);
  g_assert_cmpfloat (gossip_config_get_double (config, "state_exchange_multiplier"), ==, 0.8);
  g_assert_false (gossip_config_get_boolean (config, "force_reliable_transport"));
  g_assert_false (gossip_config_get_boolean (config, "prefer_ipv6"));
  g_assert_false (gossip_config_get_boolean (config, "insecure_skip_verify"));
  g_assert_cmpint (gossip_config_get_int (config, "indirect_checks"), ==, 3);
  g_assert_cmpint (gossip_config_get_int (config, "udp_max_packet_size"), ==, 1400);
  for (gsize i = 0; i < G_N_ELEMENTS (durations); i++)
    g_assert_cmpint (gossip_config_get_duration (config, durations[i].name), ==, durations[i].usec);

  /* The struct agrees with the getters. */
  g_assert_cmpint (config->gossip_interval, ==, 5 * SEC);
  g_assert_cmpint (config->suspect_timeout, ==, 1500000);
  g_assert_cmpint (config->request_timeout, ==, 5 * SEC);

  g_assert_true (gossip_config_validate (config, &error));
  g_assert_no_error (error);
}

static void
test_param_table (void)
{
  static const char * const expected_names[] = {
    "bind_addr", "node_id", "advertise_addr", "encryption_key", "tags", "compression",
    "bearer_token", "app_version", "transport", "compress_min_size", "gossip_interval",
    "gossip_max_interval", "metadata_gossip_interval", "state_gossip_interval",
    "fan_out_multiplier", "ttl_multiplier", "state_exchange_multiplier",
    "force_reliable_transport", "prefer_ipv6", "node_cleanup_interval", "node_retention_time",
    "leaving_node_timeout", "health_check_interval", "suspect_timeout", "suspect_retry_interval",
    "dead_node_timeout", "peer_recovery_interval", "insecure_skip_verify",
    "indirect_checks", "request_timeout", "udp_max_packet_size",
    "max_members", "max_broadcast_bytes", "max_dedup_entries", "max_probes", "max_pending_lookups",
    "max_incoming_streams", "max_incoming_streams_per_peer", "stream_read_timeout", "state_page_max_bytes",
    NULL,
  };
  static const struct {
    const char *name;
    GossipParamKind kind;
  } kinds[] = {
    { "bind_addr", GOSSIP_PARAM_STRING },
    { "node_id", GOSSIP_PARAM_STRING },
    { "advertise_addr", GOSSIP_PARAM_STRING },
    { "encryption_key", GOSSIP_PARAM_BYTES },
    { "tags", GOSSIP_PARAM_STRV },
    { "compression", GOSSIP_PARAM_BOOLEAN },
    { "bearer_token", GOSSIP_PARAM_STRING },
    { "app_version", GOSSIP_PARAM_STRING },
    { "transport", GOSSIP_PARAM_STRING },
    { "compress_min_size", GOSSIP_PARAM_INT },
    { "gossip_interval", GOSSIP_PARAM_DURATION },
    { "fan_out_multiplier", GOSSIP_PARAM_DOUBLE },
    { "prefer_ipv6", GOSSIP_PARAM_BOOLEAN },
    { "indirect_checks", GOSSIP_PARAM_INT },
    { "request_timeout", GOSSIP_PARAM_DURATION },
    { "udp_max_packet_size", GOSSIP_PARAM_INT },
    { "max_members", GOSSIP_PARAM_INT },
    { "stream_read_timeout", GOSSIP_PARAM_DURATION },
    { "foo", GOSSIP_PARAM_UNKNOWN },
    { "", GOSSIP_PARAM_UNKNOWN },
    { "Bind_addr", GOSSIP_PARAM_UNKNOWN },
  };
  const char * const *names = gossip_config_list_params ();
  const GossipConfigParamInfo *info;
  g_autoptr(GossipConfig) defaults = gossip_config_new ();
  g_autoptr(GossipConfig) config = gossip_config_new ();
  guint n_extra = 0;

  g_assert_true (g_strv_equal (names, expected_names));
  g_assert_true (names == gossip_config_list_params ());
  g_assert_cmpuint (gossip_config_n_params (), ==, g_strv_length ((char **) expected_names));
  g_assert_null (gossip_config_param_nth (gossip_config_n_params ()));
  g_assert_null (gossip_config_param_lookup ("nope"));

  for (gsize i = 0; i < G_N_ELEMENTS (kinds); i++)
    g_assert_cmpint (gossip_config_param_kind (kinds[i].name), ==, kinds[i].kind);

  for (guint i = 0; (info = gossip_config_param_nth (i)) != NULL; i++)
    {
      g_autoptr(GError) error = NULL;

      g_assert_cmpstr (info->name, ==, names[i]);
      g_assert_true (gossip_config_param_lookup (info->name) == info);
      g_assert_cmpint (gossip_config_param_kind (info->name), ==, info->kind);
      g_assert_nonnull (info->default_text);
      g_assert_nonnull (info->description);
      g_assert_cmpuint (strlen (info->description), >, 10);
      g_assert_null (strchr (info->description, '\n'));
      g_assert_nonnull (info->allowed);
      g_assert_cmpuint (strlen (info->allowed), >, 3);
      if (info->kind == GOSSIP_PARAM_INT)
        g_assert_cmpint (info->min, <=, info->max);
      if (!info->create_kwarg)
        n_extra++;

      /* The default text is accepted and yields the default value. */
      g_assert_true (gossip_config_set_from_text (config, info->name, info->default_text, &error));
      g_assert_no_error (error);
    }
  g_assert_cmpuint (n_extra, ==, 12);
  g_assert_false (gossip_config_param_lookup ("indirect_checks")->create_kwarg);
  g_assert_false (gossip_config_param_lookup ("request_timeout")->create_kwarg);
  g_assert_false (gossip_config_param_lookup ("udp_max_packet_size")->create_kwarg);
  g_assert_true (gossip_config_param_lookup ("bind_addr")->create_kwarg);
  g_assert_cmpstr (gossip_config_param_lookup ("gossip_interval")->default_text, ==, "5s");
  g_assert_cmpstr (gossip_config_param_lookup ("suspect_timeout")->default_text, ==, "1.5s");
  g_assert_cmpint (gossip_config_param_lookup ("indirect_checks")->min, ==, 1);
  g_assert_cmpint (gossip_config_param_lookup ("indirect_checks")->max, ==, 16);
  g_assert_cmpint (gossip_config_param_lookup ("udp_max_packet_size")->min, ==, 512);
  g_assert_cmpint (gossip_config_param_lookup ("udp_max_packet_size")->max, ==, 65000);
  assert_configs_equal (config, defaults);
}

static void
test_boxed (void)
{
  g_autoptr(GossipConfig) config = gossip_config_new ();
  g_autoptr(GossipConfig) copy = NULL;
  GossipConfig *boxed;
  g_autoptr(GError) error = NULL;
  static const char * const tags[] = { "web", "worker", NULL };
  const guint8 key2[16] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 };

  g_assert_true (G_TYPE_IS_BOXED (GOSSIP_TYPE_CONFIG));
  g_assert_cmpstr (g_type_name (GOSSIP_TYPE_CONFIG), ==, "GossipConfig");

  g_assert_true (gossip_config_set_string (config, "bind_addr", "0.0.0.0:9000", &error));
  g_assert_true (gossip_config_set_string (config, "node_id", "0190C5E2-7A40-7B3C-8D2E-0123456789AB", &error));
  g_assert_true (gossip_config_set_string (config, "encryption_key", "0123456789abcdef", &error));
  g_assert_true (gossip_config_add_secondary_key (config, key2, sizeof key2, &error));
  g_assert_true (gossip_config_set_strv (config, "tags", tags, &error));
  g_assert_true (gossip_config_set_string (config, "transport", "http", &error));
  g_assert_true (gossip_config_set_double (config, "ttl_multiplier", 2.5, &error));
  g_assert_true (gossip_config_set_string (config, "bearer_token", "secret", &error));
  g_assert_no_error (error);

  copy = gossip_config_copy (config);
  assert_configs_equal (config, copy);
  g_assert_true (copy->bind_addr != config->bind_addr);
  g_assert_true (copy->tags != config->tags);
  g_assert_true (copy->secondary_keys != config->secondary_keys);

  /* Independent: changing the original leaves the copy alone. */
  g_assert_true (gossip_config_set_string (config, "bind_addr", ":1", &error));
  g_assert_true (gossip_config_set_strv (config, "tags", NULL, &error));
  g_assert_true (gossip_config_set_string (config, "encryption_key", "", &error));
  g_assert_true (gossip_config_set_string (config, "bearer_token", "other", &error));
  g_assert_no_error (error);
  g_assert_cmpstr (gossip_config_get_string (copy, "bind_addr"), ==, "0.0.0.0:9000");
  g_assert_cmpstr (gossip_config_get_strv (copy, "tags")[1], ==, "worker");
  g_assert_nonnull (copy->encryption_key);
  g_assert_cmpstr (gossip_config_get_string (copy, "bearer_token"), ==, "secret");
  g_assert_cmpstr (gossip_config_get_string (copy, "node_id"), ==, "0190c5e2-7a40-7b3c-8d2e-0123456789ab");
  g_assert_cmpstr (gossip_config_get_string (copy, "transport"), ==, "http");

  boxed = g_boxed_copy (GOSSIP_TYPE_CONFIG, copy);
  assert_configs_equal (boxed, copy);
  g_boxed_free (GOSSIP_TYPE_CONFIG, boxed);

  gossip_config_free (NULL);
}

/* --- valid values ------------------------------------------------------------ */

static void
test_set_valid (void)
{
  g_autoptr(GossipConfig) config = gossip_config_new ();
  g_autoptr(GError) error = NULL;
  static const char * const tags[] = { "web", "wörker", "web", NULL };
  static const char * const empty[] = { NULL };
  static const guint8 raw_key[24] = { 0xff, 0x00, 0xfe, 0x80 };

  /* strings */
  g_assert_true (gossip_config_set_string (config, "bind_addr", ":0", &error));
  g_assert_cmpstr (gossip_config_get_string (config, "bind_addr"), ==, ":0");
  g_assert_true (gossip_config_set_string (config, "bind_addr", "[::1]:8000", &error));
  g_assert_true (gossip_config_set_string (config, "bind_addr", "node-1.example.com:65535", &error));
  g_assert_true (gossip_config_set_string (config, "bind_addr", "http://0.0.0.0:8080/gossip", &error));
  g_assert_cmpstr (gossip_config_get_string (config, "bind_addr"), ==, "http://0.0.0.0:8080/gossip");
  g_assert_true (gossip_config_set_string (config, "advertise_addr", "10.0.0.5:8000", &error));
  g_assert_true (gossip_config_set_string (config, "advertise_addr", "https://gossip.example.com/x", &error));
  g_assert_true (gossip_config_set_string (config, "advertise_addr", "[2001:db8::1]:7946", &error));
  /* ":port" is the local host and port 0 the bound port, as for peers */
  g_assert_true (gossip_config_set_string (config, "advertise_addr", ":9000", &error));
  g_assert_true (gossip_config_set_string (config, "advertise_addr", "node.example.com:0", &error));
  g_assert_true (gossip_config_set_string (config, "advertise_addr", "[fe80::1%eth0]:1", &error));
  g_assert_true (gossip_config_set_string (config, "advertise_addr", "", &error));
  g_assert_cmpstr (gossip_config_get_string (config, "advertise_addr"), ==, "");
  g_assert_true (gossip_config_set_string (config, "bearer_token", "t\xc3\xb6ken with spaces", &error));
  g_assert_cmpstr (gossip_config_get_string (config, "bearer_token"), ==, "t\xc3\xb6ken with spaces");
  g_assert_true (gossip_config_set_string (config, "app_version", "1.2.3", &error));
  g_assert_cmpstr (gossip_config_get_string (config, "app_version"), ==, "1.2.3");
  g_assert_true (gossip_config_set_string (config, "app_version", "", &error));
  g_assert_cmpstr (gossip_config_get_string (config, "app_version"), ==, "");
  g_assert_true (gossip_config_set_string (config, "transport", "http", &error));
  g_assert_cmpint (config->transport, ==, GOSSIP_TRANSPORT_HTTP);
  g_assert_cmpstr (gossip_config_get_string (config, "transport"), ==, "http");
  g_assert_true (gossip_config_set_string (config, "transport", "socket", &error));
  g_assert_cmpint (config->transport, ==, GOSSIP_TRANSPORT_SOCKET);

  /* node ids: stored canonical */
  g_assert_true (gossip_config_set_string (config, "node_id", "{0190C5E2-7A40-7B3C-8D2E-0123456789AB}", &error));
  g_assert_cmpstr (gossip_config_get_string (config, "node_id"), ==, "0190c5e2-7a40-7b3c-8d2e-0123456789ab");
  g_assert_true (gossip_config_set_string (config, "node_id", "urn:uuid:6ba7b810-9dad-11d1-80b4-00c04fd430c8", &error));
  g_assert_cmpstr (gossip_config_get_string (config, "node_id"), ==, "6ba7b810-9dad-11d1-80b4-00c04fd430c8");
  g_assert_true (gossip_config_set_string (config, "node_id", "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF", &error));
  g_assert_cmpstr (gossip_config_get_string (config, "node_id"), ==, "ffffffff-ffff-ffff-ffff-ffffffffffff");
  g_assert_true (gossip_config_set_string (config, "node_id", "", &error));
  g_assert_cmpstr (gossip_config_get_string (config, "node_id"), ==, "");

  /* keys */
  g_assert_true (gossip_config_set_string (config, "encryption_key", "0123456789abcdef", &error));
  g_assert_cmpuint (g_bytes_get_size (config->encryption_key), ==, 16);
  g_assert_true (gossip_config_set_string (config, "encryption_key", "0123456789abcdef01234567", &error));
  g_assert_cmpuint (g_bytes_get_size (config->encryption_key), ==, 24);
  g_assert_true (gossip_config_set_string (config, "encryption_key", "0123456789abcdef0123456789abcdef", &error));
  g_assert_cmpuint (g_bytes_get_size (config->encryption_key), ==, 32);
  /* 14 characters, 16 UTF-8 bytes: the byte length counts */
  g_assert_true (gossip_config_set_string (config, "encryption_key", "\xc3\xa9\xc3\xa9" "0123456789ab", &error));
  g_assert_cmpuint (g_bytes_get_size (config->encryption_key), ==, 16);
  g_assert_true (gossip_config_set_bytes (config, "encryption_key", raw_key, sizeof raw_key, &error));
  g_assert_cmpuint (g_bytes_get_size (config->encryption_key), ==, 24);
  g_assert_cmpmem (g_bytes_get_data (config->encryption_key, NULL), 24, raw_key, 24);
  g_assert_true (gossip_config_set_bytes (config, "encryption_key", NULL, 0, &error));
  g_assert_null (config->encryption_key);
  g_assert_true (gossip_config_set_string (config, "encryption_key", "0123456789abcdef", &error));
  g_assert_true (gossip_config_set_string (config, "encryption_key", "", &error));
  g_assert_null (config->encryption_key);

  /* lists: kept as given */
  g_assert_true (gossip_config_set_strv (config, "tags", tags, &error));
  g_assert_true (g_strv_equal (gossip_config_get_strv (config, "tags"), tags));
  g_assert_true (gossip_config_set_strv (config, "tags", empty, &error));
  g_assert_cmpuint (g_strv_length ((char **) gossip_config_get_strv (config, "tags")), ==, 0);
  g_assert_true (gossip_config_set_strv (config, "tags", NULL, &error));
  g_assert_cmpuint (g_strv_length ((char **) gossip_config_get_strv (config, "tags")), ==, 0);

  /* bools */
  for (gsize i = 0; i < 2; i++)
    {
      static const char * const bools[] = {
        "compression", "force_reliable_transport", "prefer_ipv6", "insecure_skip_verify",
      };

      for (gsize j = 0; j < G_N_ELEMENTS (bools); j++)
        {
          g_assert_true (gossip_config_set_boolean (config, bools[j], i == 0 ? 42 : FALSE, &error));
          g_assert_cmpint (gossip_config_get_boolean (config, bools[j]), ==, i == 0 ? TRUE : FALSE);
        }
    }

  /* ints, with integral doubles accepted */
  g_assert_true (gossip_config_set_int (config, "compress_min_size", 0, &error));
  g_assert_cmpint (gossip_config_get_int (config, "compress_min_size"), ==, 0);
  g_assert_true (gossip_config_set_int (config, "compress_min_size", G_MAXINT64, &error));
  g_assert_cmpint (gossip_config_get_int (config, "compress_min_size"), ==, G_MAXINT64);
  g_assert_true (gossip_config_set_double (config, "compress_min_size", 1024.0, &error));
  g_assert_cmpint (gossip_config_get_int (config, "compress_min_size"), ==, 1024);
  g_assert_true (gossip_config_set_double (config, "compress_min_size", -0.0, &error));
  g_assert_cmpint (gossip_config_get_int (config, "compress_min_size"), ==, 0);
  g_assert_true (gossip_config_set_int (config, "indirect_checks", 1, &error));
  g_assert_true (gossip_config_set_int (config, "indirect_checks", 16, &error));
  g_assert_cmpint (gossip_config_get_int (config, "indirect_checks"), ==, 16);
  g_assert_true (gossip_config_set_int (config, "udp_max_packet_size", 512, &error));
  g_assert_true (gossip_config_set_double (config, "udp_max_packet_size", 65000.0, &error));
  g_assert_cmpint (gossip_config_get_int (config, "udp_max_packet_size"), ==, 65000);

  /* doubles, with ints accepted */
  g_assert_true (gossip_config_set_double (config, "fan_out_multiplier", 2.5, &error));
  g_assert_cmpfloat (gossip_config_get_double (config, "fan_out_multiplier"), ==, 2.5);
  g_assert_true (gossip_config_set_int (config, "ttl_multiplier", 3, &error));
  g_assert_cmpfloat (gossip_config_get_double (config, "ttl_multiplier"), ==, 3.0);
  g_assert_true (gossip_config_set_double (config, "state_exchange_multiplier", 1e-9, &error));
  g_assert_cmpfloat (gossip_config_get_double (config, "state_exchange_multiplier"), ==, 1e-9);
  g_assert_true (gossip_config_set_double (config, "state_exchange_multiplier", G_MAXDOUBLE, &error));

  /* durations: Go strings and numbers of seconds */
  g_assert_true (gossip_config_set_string (config, "gossip_interval", "1.5s", &error));
  g_assert_cmpint (gossip_config_get_duration (config, "gossip_interval"), ==, 1500000);
  g_assert_true (gossip_config_set_string (config, "gossip_interval", "1h30m", &error));
  g_assert_cmpint (gossip_config_get_duration (config, "gossip_interval"), ==, 5400 * SEC);
  g_assert_true (gossip_config_set_string (config, "gossip_interval", "+500ms", &error));
  g_assert_cmpint (gossip_config_get_duration (config, "gossip_interval"), ==, 500000);
  g_assert_true (gossip_config_set_string (config, "gossip_interval", "1" MICRO "s", &error));
  g_assert_cmpint (gossip_config_get_duration (config, "gossip_interval"), ==, 1);
  g_assert_true (gossip_config_set_string (config, "gossip_interval", "1999ns", &error));
  g_assert_cmpint (gossip_config_get_duration (config, "gossip_interval"), ==, 1);
  g_assert_true (gossip_config_set_int (config, "gossip_interval", 7, &error));
  g_assert_cmpint (gossip_config_get_duration (config, "gossip_interval"), ==, 7 * SEC);
  g_assert_true (gossip_config_set_int (config, "gossip_interval", 9223372036, &error));
  g_assert_cmpint (gossip_config_get_duration (config, "gossip_interval"), ==, 9223372036 * SEC);
  g_assert_true (gossip_config_set_double (config, "gossip_interval", 0.3, &error));
  g_assert_cmpint (gossip_config_get_duration (config, "gossip_interval"), ==, 300000);
  g_assert_true (gossip_config_set_double (config, "gossip_interval", 2.5, &error));
  g_assert_cmpint (gossip_config_get_duration (config, "gossip_interval"), ==, 2500000);
  g_assert_true (gossip_config_set_double (config, "gossip_interval", 6e-7, &error));
  g_assert_cmpint (gossip_config_get_duration (config, "gossip_interval"), ==, 1);
  g_assert_true (gossip_config_set_string (config, "node_retention_time", "2562047h47m16.854775807s", &error));
  g_assert_cmpint (gossip_config_get_duration (config, "node_retention_time"), ==, G_MAXINT64 / 1000);
  g_assert_true (gossip_config_set_double (config, "node_retention_time", 9223372036.0, &error));
  g_assert_cmpint (gossip_config_get_duration (config, "node_retention_time"), ==, 9223372036 * SEC);
  g_assert_no_error (error);
}

/* --- bad values: a long table ----------------------------------------------- */

typedef struct {
  Assignment a;
  GossipConfigError code;
  const char *message;      /* exact message; NULL: only check the name appears */
} BadCase;

#define S(n, v) { .name = n, .setter = SET_STRING, .s = v }
#define BY(n, v, l) { .name = n, .setter = SET_BYTES, .s = v, .len = l }
#define I(n, v) { .name = n, .setter = SET_INT, .i = v }
#define D(n, v) { .name = n, .setter = SET_DOUBLE, .d = v }
#define B(n, v) { .name = n, .setter = SET_BOOLEAN, .b = v }
#define V(n, ...) { .name = n, .setter = SET_STRV, .v = (const char * const[]) { __VA_ARGS__, NULL } }

#define VALUE GOSSIP_CONFIG_ERROR_INVALID_VALUE
#define TYPE GOSSIP_CONFIG_ERROR_INVALID_TYPE
#define UNKNOWN GOSSIP_CONFIG_ERROR_UNKNOWN_KEY

static const BadCase bad_cases[] = {
  /* unknown names, every setter */
  { S ("foo", "x"), UNKNOWN, "unknown parameter 'foo'" },
  { BY ("foo", "x", 1), UNKNOWN, "unknown parameter 'foo'" },
  { I ("foo", 1), UNKNOWN, "unknown parameter 'foo'" },
  { D ("foo", 1), UNKNOWN, "unknown parameter 'foo'" },
  { B ("foo", TRUE), UNKNOWN, "unknown parameter 'foo'" },
  { V ("foo", "x"), UNKNOWN, "unknown parameter 'foo'" },
  { S ("", "x"), UNKNOWN, "unknown parameter ''" },
  { S ("BIND_ADDR", "x"), UNKNOWN, "unknown parameter 'BIND_ADDR'" },
  { S ("encrypt_key", "x"), UNKNOWN, "unknown parameter 'encrypt_key'" },

  /* wrong kinds */
  { S ("compression", "true"), TYPE, "compression must be a bool" },
  { I ("compression", 1), TYPE, "compression must be a bool" },
  { D ("prefer_ipv6", 0), TYPE, "prefer_ipv6 must be a bool" },
  { V ("insecure_skip_verify", "x"), TYPE, "insecure_skip_verify must be a bool" },
  { B ("compress_min_size", TRUE), TYPE, "compress_min_size must be an integer" },
  { S ("compress_min_size", "256"), TYPE, "compress_min_size must be an integer" },
  { D ("compress_min_size", 1.5), TYPE, "compress_min_size must be an integer (got 1.5)" },
  { D ("indirect_checks", 3.0000000000000004), TYPE, "indirect_checks must be an integer (got 3.0000000000000004)" },
  { D ("udp_max_packet_size", NAN), TYPE, "udp_max_packet_size must be an integer (got nan)" },
  { D ("udp_max_packet_size", INFINITY), TYPE, "udp_max_packet_size must be an integer (got inf)" },
  { S ("fan_out_multiplier", "1.0"), TYPE, "fan_out_multiplier must be a number" },
  { B ("ttl_multiplier", TRUE), TYPE, "ttl_multiplier must be a number" },
  { I ("bind_addr", 8000), TYPE, "bind_addr must be a string" },
  { BY ("bearer_token", "x", 1), TYPE, "bearer_token must be a string" },
  { V ("node_id", "x"), TYPE, "node_id must be a string" },
  { B ("transport", TRUE), TYPE, "transport must be a string" },
  { I ("encryption_key", 16), TYPE, "encryption_key must be a string or bytes" },
  { V ("encryption_key", "0123456789abcdef"), TYPE, "encryption_key must be a string or bytes" },
  { S ("tags", "web"), TYPE, "tags must be a list of strings" },
  { BY ("tags", "web", 3), TYPE, "tags must be a list of strings" },
  { B ("gossip_interval", TRUE), TYPE, "gossip_interval must be a duration string such as \"5s\" or a number of seconds" },
  { V ("request_timeout", "5s"), TYPE, "request_timeout must be a duration string such as \"5s\" or a number of seconds" },
  { BY ("suspect_timeout", "5s", 2), TYPE, "suspect_timeout must be a duration string such as \"5s\" or a number of seconds" },

  /* durations */
  { S ("gossip_interval", "-5s"), VALUE, "gossip_interval must be a positive duration such as \"5s\" or a number of seconds (got \"-5s\")" },
  { S ("gossip_interval", "0"), VALUE, "gossip_interval must be a positive duration such as \"5s\" or a number of seconds (got \"0\")" },
  { S ("gossip_interval", "0s"), VALUE, NULL },
  { S ("gossip_interval", "-0"), VALUE, NULL },
  { S ("gossip_interval", "5"), VALUE, "gossip_interval must be a positive duration such as \"5s\" or a number of seconds (got \"5\")" },
  { S ("gossip_interval", "5 seconds"), VALUE, "gossip_interval must be a positive duration such as \"5s\" or a number of seconds (got \"5 seconds\")" },
  { S ("gossip_interval", ""), VALUE, "gossip_interval must be a positive duration such as \"5s\" or a number of seconds (got \"\")" },
  { S ("gossip_interval", " 5s"), VALUE, NULL },
  { S ("gossip_interval", "5s "), VALUE, NULL },
  { S ("gossip_interval", "5S"), VALUE, NULL },
  { S ("gossip_interval", "1d"), VALUE, NULL },
  { S ("gossip_interval", "."), VALUE, NULL },
  { S ("gossip_interval", "\xff" "5s"), VALUE, "gossip_interval must be a positive duration such as \"5s\" or a number of seconds (got (invalid UTF-8))" },
  { S ("gossip_interval", "a\"b\n"), VALUE, "gossip_interval must be a positive duration such as \"5s\" or a number of seconds (got \"a\\\"b\\x0a\")" },
  { S ("suspect_timeout", "500ns"), VALUE, "suspect_timeout must be at least 1" MICRO "s (got \"500ns\")" },
  { S ("suspect_timeout", "999ns"), VALUE, NULL },
  { S ("dead_node_timeout", "3000000h"), VALUE, "dead_node_timeout must be at most 2562047h47m16.854775s (got \"3000000h\")" },
  { S ("dead_node_timeout", "9223372036854775808ns"), VALUE, NULL },
  { I ("gossip_interval", 0), VALUE, "gossip_interval must be a positive duration such as \"5s\" or a number of seconds (got 0)" },
  { I ("gossip_interval", -5), VALUE, "gossip_interval must be a positive duration such as \"5s\" or a number of seconds (got -5)" },
  { I ("gossip_interval", G_MININT64), VALUE, NULL },
  { I ("node_retention_time", 9223372037), VALUE, "node_retention_time must be at most 2562047h47m16.854775s (got 9223372037)" },
  { I ("node_retention_time", G_MAXINT64), VALUE, NULL },
  { D ("gossip_interval", 0.0), VALUE, "gossip_interval must be a positive duration such as \"5s\" or a number of seconds (got 0)" },
  { D ("gossip_interval", -0.5), VALUE, "gossip_interval must be a positive duration such as \"5s\" or a number of seconds (got -0.5)" },
  { D ("gossip_interval", NAN), VALUE, "gossip_interval must be a positive duration such as \"5s\" or a number of seconds (got nan)" },
  { D ("gossip_interval", INFINITY), VALUE, NULL },
  { D ("gossip_interval", -INFINITY), VALUE, NULL },
  { D ("health_check_interval", 1e-7), VALUE, "health_check_interval must be at least 1" MICRO "s (got 1e-07)" },
  { D ("node_retention_time", 1e13), VALUE, "node_retention_time must be at most 2562047h47m16.854775s (got 10000000000000)" },
  { D ("node_retention_time", 9223372036.8547759), VALUE, NULL },

  /* ints */
  { I ("compress_min_size", -1), VALUE, "compress_min_size must be >= 0 (got -1)" },
  { D ("compress_min_size", -1.0), VALUE, "compress_min_size must be >= 0 (got -1)" },
  { I ("compress_min_size", G_MININT64), VALUE, NULL },
  { D ("compress_min_size", 1e19), VALUE, "compress_min_size is out of range (got 1e+19)" },
  { D ("compress_min_size", -1e19), VALUE, NULL },
  { D ("compress_min_size", 9223372036854775808.0), VALUE, NULL },
  { I ("indirect_checks", 0), VALUE, "indirect_checks must be from 1 to 16 (got 0)" },
  { I ("indirect_checks", 17), VALUE, "indirect_checks must be from 1 to 16 (got 17)" },
  { I ("indirect_checks", -3), VALUE, NULL },
  { I ("udp_max_packet_size", 511), VALUE, "udp_max_packet_size must be from 512 to 65000 (got 511)" },
  { I ("udp_max_packet_size", 65001), VALUE, "udp_max_packet_size must be from 512 to 65000 (got 65001)" },
  { D ("udp_max_packet_size", 70000.0), VALUE, NULL },

  /* doubles */
  { D ("fan_out_multiplier", 0.0), VALUE, "fan_out_multiplier must be a finite number > 0 (got 0)" },
  { D ("fan_out_multiplier", -1.0), VALUE, "fan_out_multiplier must be a finite number > 0 (got -1)" },
  { D ("ttl_multiplier", NAN), VALUE, "ttl_multiplier must be a finite number > 0 (got nan)" },
  { D ("ttl_multiplier", INFINITY), VALUE, "ttl_multiplier must be a finite number > 0 (got inf)" },
  { D ("state_exchange_multiplier", -INFINITY), VALUE, "state_exchange_multiplier must be a finite number > 0 (got -inf)" },
  { D ("state_exchange_multiplier", -0.0), VALUE, NULL },
  { I ("state_exchange_multiplier", 0), VALUE, "state_exchange_multiplier must be a finite number > 0 (got 0)" },
  { I ("fan_out_multiplier", -2), VALUE, NULL },

  /* node_id */
  { S ("node_id", "xyz"), VALUE, "node_id must be a UUID (got \"xyz\")" },
  { S ("node_id", "0190c5e2-7a40-7b3c-8d2e-0123456789a"), VALUE, NULL },
  { S ("node_id", "0190c5e2-7a40-7b3c-8d2e-0123456789abc"), VALUE, NULL },
  { S ("node_id", "0190c5e27a40-7b3c-8d2e-0123456789ab-"), VALUE, NULL },
  { S ("node_id", "g190c5e2-7a40-7b3c-8d2e-0123456789ab"), VALUE, NULL },
  { S ("node_id", " 0190c5e2-7a40-7b3c-8d2e-0123456789ab"), VALUE, NULL },
  { S ("node_id", "{0190c5e27a407b3c8d2e0123456789ab}"), VALUE, NULL },
  { S ("node_id", "00000000-0000-0000-0000-000000000000"), VALUE,
    "node_id must not be the nil UUID, which means \"unknown node\" (got \"00000000-0000-0000-0000-000000000000\")" },
  { S ("node_id", "\xfe"), VALUE, "node_id must be valid UTF-8" },

  /* encryption_key */
  { S ("encryption_key", "32-byte-key-here-1234567890ab"), VALUE, "encryption_key must be 16, 24 or 32 bytes (got 29)" },
  { S ("encryption_key", "32-byte-key-for-aes-256!!!"), VALUE, "encryption_key must be 16, 24 or 32 bytes (got 26)" },
  { S ("encryption_key", "k"), VALUE, "encryption_key must be 16, 24 or 32 bytes (got 1)" },
  { S ("encryption_key", "0123456789abcdef0123456789abcdef0"), VALUE, "encryption_key must be 16, 24 or 32 bytes (got 33)" },
  { S ("encryption_key", "\xc3\xa9" "0123456789abcde"), VALUE, "encryption_key must be 16, 24 or 32 bytes (got 17)" },
  { S ("encryption_key", "\xff" "123456789abcdef"), VALUE, "encryption_key must be valid UTF-8" },
  { BY ("encryption_key", "0123456789abcde", 15), VALUE, "encryption_key must be 16, 24 or 32 bytes (got 15)" },
  { BY ("encryption_key", "0123456789abcdef0123456789abcdef\0", 33), VALUE, NULL },

  /* transport */
  { S ("transport", "tcp"), VALUE, "unknown transport: tcp (use 'socket' or 'http')" },
  { S ("transport", "HTTP"), VALUE, "unknown transport: HTTP (use 'socket' or 'http')" },
  { S ("transport", ""), VALUE, "unknown transport:  (use 'socket' or 'http')" },
  { S ("transport", "socket "), VALUE, NULL },
  { S ("transport", "\xc0"), VALUE, "transport must be valid UTF-8" },

  /* tags */
  { V ("tags", "web", ""), VALUE, "tags[1] must be a non-empty string" },
  { V ("tags", ""), VALUE, "tags[0] must be a non-empty string" },
  { V ("tags", "ok", "\xff"), VALUE, "tags[1] must be valid UTF-8" },

  /* other strings */
  { S ("bearer_token", "\xff"), VALUE, "bearer_token must be valid UTF-8" },
  { S ("app_version", "1.0\x80"), VALUE, "app_version must be valid UTF-8" },

  /* bind_addr: forms (reasons) */
  { S ("bind_addr", ""), VALUE, "bind_addr must be host:port, [IPv6]:port, :port or an http(s):// URL (got \"\": the address is empty)" },
  { S ("bind_addr", "localhost"), VALUE, "bind_addr must be host:port, [IPv6]:port, :port or an http(s):// URL (got \"localhost\": port must be specified)" },
  { S ("bind_addr", "127.0.0.1"), VALUE, NULL },
  { S ("bind_addr", "8000"), VALUE, "bind_addr must be host:port, [IPv6]:port, :port or an http(s):// URL (got \"8000\": write a port alone as :port)" },
  { S ("bind_addr", "host:"), VALUE, NULL },
  { S ("bind_addr", "host:65536"), VALUE, "bind_addr must be host:port, [IPv6]:port, :port or an http(s):// URL (got \"host:65536\": port must be a number from 0 to 65535)" },
  { S ("bind_addr", "host:-1"), VALUE, NULL },
  { S ("bind_addr", "host:+80"), VALUE, NULL },
  { S ("bind_addr", "host:80a"), VALUE, NULL },
  { S ("bind_addr", "host:http"), VALUE, NULL },
  { S ("bind_addr", "::1:8000"), VALUE, "bind_addr must be host:port, [IPv6]:port, :port or an http(s):// URL (got \"::1:8000\": IPv6 addresses must be in brackets, as in [::1]:8000)" },
  { S ("bind_addr", "[::1]"), VALUE, NULL },
  { S ("bind_addr", "[::1"), VALUE, NULL },
  { S ("bind_addr", "[::1]8000"), VALUE, NULL },
  { S ("bind_addr", "[1.2.3.4]:80"), VALUE, NULL },
  { S ("bind_addr", "[nope]:80"), VALUE, NULL },
  { S ("bind_addr", "ho st:80"), VALUE, NULL },
  { S ("bind_addr", "-bad:80"), VALUE, NULL },
  { S ("bind_addr", "bad-:80"), VALUE, NULL },
  { S ("bind_addr", "a..b:80"), VALUE, NULL },
  { S ("bind_addr", "1.2.3:80"), VALUE, NULL },
  { S ("bind_addr", "256.1.1.1:80"), VALUE, NULL },
  { S ("bind_addr", "\xff:80"), VALUE, "bind_addr must be valid UTF-8" },
  { S ("bind_addr", "ftp://host:21/"), VALUE, NULL },
  { S ("bind_addr", "srv+https://host/"), VALUE, NULL },
  { S ("bind_addr", "http://user@host:80/"), VALUE, NULL },
  { S ("bind_addr", "http://host:80/#frag"), VALUE, NULL },
  { S ("bind_addr", "http:///path"), VALUE, NULL },
  { S ("bind_addr", "http://host/a b"), VALUE, NULL },
  { S ("bind_addr", "https://host:8443/"), VALUE,
    "bind_addr cannot be an https:// URL because serving TLS is not supported (got \"https://host:8443/\"; use http:// or host:port)" },

  /* advertise_addr */
  { S ("advertise_addr", "0.0.0.0:8000"), VALUE,
    "advertise_addr cannot be a wildcard address such as 0.0.0.0 or [::], which peers cannot connect to (got \"0.0.0.0:8000\")" },
  { S ("advertise_addr", "[::]:8000"), VALUE, NULL },
  { S ("advertise_addr", "[0:0::0]:0"), VALUE, NULL },
  { S ("advertise_addr", "http://0.0.0.0/"), VALUE, NULL },
  { S ("advertise_addr", "8000"), VALUE, NULL },
  { S ("advertise_addr", "nope"), VALUE, NULL },
  { S ("advertise_addr", "[fe80::1"), VALUE, NULL },
};

static void
test_set_bad (void)
{
  for (gsize i = 0; i < G_N_ELEMENTS (bad_cases); i++)
    {
      const BadCase *c = &bad_cases[i];
      g_autoptr(GossipConfig) config = gossip_config_new ();
      g_autoptr(GossipConfig) before = NULL;
      g_autoptr(GError) error = NULL;

      /* Non-default starting values, to see that nothing is reset. */
      g_assert_true (gossip_config_set_string (config, "encryption_key", "0123456789abcdef", NULL));
      g_assert_true (gossip_config_set_string (config, "node_id", "0190c5e2-7a40-7b3c-8d2e-0123456789ab", NULL));
      g_assert_true (gossip_config_set_string (config, "advertise_addr", "10.1.1.1:1", NULL));
      before = gossip_config_copy (config);

      g_test_message ("case %" G_GSIZE_FORMAT ": %s (%s)", i, c->a.name, setter_names[c->a.setter]);
      g_assert_false (apply (config, &c->a, &error));
      g_assert_error (error, GOSSIP_CONFIG_ERROR, (gint) c->code);
      if (c->message != NULL)
        g_assert_cmpstr (error->message, ==, c->message);
      else if (c->a.name[0] != '\0')
        g_assert_nonnull (strstr (error->message, c->a.name));
      assert_configs_equal (config, before);

      /* A NULL error is allowed too. */
      g_assert_false (apply (config, &c->a, NULL));
    }
}

/* Every parameter rejects every setter of another kind with INVALID_TYPE,
 * naming the parameter. */
static void
test_type_matrix (void)
{
  const GossipConfigParamInfo *info;
  static const char * const strv[] = { "x", NULL };
  guint n_checked = 0;

  for (guint i = 0; (info = gossip_config_param_nth (i)) != NULL; i++)
    for (Setter s = 0; s < N_SETTERS; s++)
      {
        g_autoptr(GossipConfig) config = NULL;
        g_autoptr(GError) error = NULL;
        Assignment a = { .name = info->name, .setter = s, .s = "x", .len = 1, .i = 1, .d = 1, .b = TRUE, .v = strv };
        g_autofree char *prefix = NULL;

        if (setter_accepts_kind (s, info->kind))
          continue;
        config = gossip_config_new ();
        g_assert_false (apply (config, &a, &error));
        g_assert_error (error, GOSSIP_CONFIG_ERROR, GOSSIP_CONFIG_ERROR_INVALID_TYPE);
        prefix = g_strconcat (info->name, " must be ", NULL);
        g_assert_true (g_str_has_prefix (error->message, prefix));
        n_checked++;
      }
  g_assert_cmpuint (n_checked, >, 100);
}

/* Every duration parameter: positive only; every number parameter: > 0. */
static void
test_every_duration_and_number (void)
{
  const GossipConfigParamInfo *info;
  static const char * const bad_strings[] = { "0", "-1s", "-0", "5", "1ns", "", "abc", "1y", NULL };
  static const double bad_doubles[] = { 0.0, -0.0, -1.0, NAN, INFINITY, -INFINITY, 1e-9 };
  static const gint64 bad_ints[] = { 0, -1, G_MININT64 };

  for (guint i = 0; (info = gossip_config_param_nth (i)) != NULL; i++)
    {
      g_autoptr(GossipConfig) config = gossip_config_new ();

      if (info->kind == GOSSIP_PARAM_DURATION)
        {
          g_autoptr(GError) error = NULL;

          for (guint j = 0; bad_strings[j] != NULL; j++)
            {
              g_autoptr(GError) e = NULL;

              g_assert_false (gossip_config_set_string (config, info->name, bad_strings[j], &e));
              g_assert_error (e, GOSSIP_CONFIG_ERROR, GOSSIP_CONFIG_ERROR_INVALID_VALUE);
              g_assert_true (g_str_has_prefix (e->message, info->name));
            }
          for (gsize j = 0; j < G_N_ELEMENTS (bad_doubles); j++)
            {
              g_autoptr(GError) e = NULL;

              g_assert_false (gossip_config_set_double (config, info->name, bad_doubles[j], &e));
              g_assert_error (e, GOSSIP_CONFIG_ERROR, GOSSIP_CONFIG_ERROR_INVALID_VALUE);
              g_assert_true (g_str_has_prefix (e->message, info->name));
            }
          for (gsize j = 0; j < G_N_ELEMENTS (bad_ints); j++)
            {
              g_autoptr(GError) e = NULL;

              g_assert_false (gossip_config_set_int (config, info->name, bad_ints[j], &e));
              g_assert_error (e, GOSSIP_CONFIG_ERROR, GOSSIP_CONFIG_ERROR_INVALID_VALUE);
              g_assert_true (g_str_has_prefix (e->message, info->name));
            }
          g_assert_true (gossip_config_set_string (config, info->name, "250ms", &error));
          g_assert_cmpint (gossip_config_get_duration (config, info->name), ==, 250000);
          g_assert_true (gossip_config_set_int (config, info->name, 2, &error));
          g_assert_cmpint (gossip_config_get_duration (config, info->name), ==, 2 * SEC);
          g_assert_no_error (error);
        }
      else if (info->kind == GOSSIP_PARAM_DOUBLE)
        {
          for (gsize j = 0; j < G_N_ELEMENTS (bad_doubles) - 1; j++)
            {
              g_autoptr(GError) e = NULL;

              g_assert_false (gossip_config_set_double (config, info->name, bad_doubles[j], &e));
              g_assert_error (e, GOSSIP_CONFIG_ERROR, GOSSIP_CONFIG_ERROR_INVALID_VALUE);
              g_assert_true (g_str_has_prefix (e->message, info->name));
            }
        }
      else if (info->kind == GOSSIP_PARAM_INT)
        {
          g_autoptr(GError) e1 = NULL;
          g_autoptr(GError) e2 = NULL;

          g_assert_false (gossip_config_set_int (config, info->name, info->min - 1, &e1));
          g_assert_error (e1, GOSSIP_CONFIG_ERROR, GOSSIP_CONFIG_ERROR_INVALID_VALUE);
          g_assert_true (gossip_config_set_int (config, info->name, info->min, NULL));
          g_assert_true (gossip_config_set_int (config, info->name, info->max, NULL));
          if (info->max < G_MAXINT64)
            {
              g_assert_false (gossip_config_set_int (config, info->name, info->max + 1, &e2));
              g_assert_error (e2, GOSSIP_CONFIG_ERROR, GOSSIP_CONFIG_ERROR_INVALID_VALUE);
            }
        }
    }
}

static void
test_from_text (void)
{
  g_autoptr(GossipConfig) config = gossip_config_new ();
  g_autoptr(GError) error = NULL;
  static const struct {
    const char *name;
    const char *text;
    GossipConfigError code;
    const char *message;
  } bad[] = {
    { "nope", "1", GOSSIP_CONFIG_ERROR_UNKNOWN_KEY, "unknown parameter 'nope'" },
    { "compress_min_size", "12x", GOSSIP_CONFIG_ERROR_INVALID_VALUE, "compress_min_size must be an integer (got \"12x\")" },
    { "compress_min_size", "", GOSSIP_CONFIG_ERROR_INVALID_VALUE, "compress_min_size must be an integer (got \"\")" },
    { "compress_min_size", "-1", GOSSIP_CONFIG_ERROR_INVALID_VALUE, "compress_min_size must be >= 0 (got -1)" },
    { "indirect_checks", "99999999999999999999", GOSSIP_CONFIG_ERROR_INVALID_VALUE, NULL },
    { "fan_out_multiplier", "two", GOSSIP_CONFIG_ERROR_INVALID_VALUE, "fan_out_multiplier must be a number (got \"two\")" },
    { "fan_out_multiplier", "", GOSSIP_CONFIG_ERROR_INVALID_VALUE, "fan_out_multiplier must be a number (got \"\")" },
    { "fan_out_multiplier", " 1", GOSSIP_CONFIG_ERROR_INVALID_VALUE, NULL },
    { "fan_out_multiplier", "1.5x", GOSSIP_CONFIG_ERROR_INVALID_VALUE, NULL },
    { "fan_out_multiplier", "nan", GOSSIP_CONFIG_ERROR_INVALID_VALUE, "fan_out_multiplier must be a finite number > 0 (got nan)" },
    { "compression", "yes", GOSSIP_CONFIG_ERROR_INVALID_VALUE, "compression must be true or false (got \"yes\")" },
    { "compression", "1", GOSSIP_CONFIG_ERROR_INVALID_VALUE, NULL },
    { "compression", "TRUE", GOSSIP_CONFIG_ERROR_INVALID_VALUE, NULL },
    { "gossip_interval", "0", GOSSIP_CONFIG_ERROR_INVALID_VALUE, NULL },
    { "gossip_interval", "-2", GOSSIP_CONFIG_ERROR_INVALID_VALUE, "gossip_interval must be a positive duration such as \"5s\" or a number of seconds (got -2)" },
    { "gossip_interval", " 2", GOSSIP_CONFIG_ERROR_INVALID_VALUE, NULL },
    { "gossip_interval", "", GOSSIP_CONFIG_ERROR_INVALID_VALUE, NULL },
    { "gossip_interval", "2 s", GOSSIP_CONFIG_ERROR_INVALID_VALUE, NULL },
    { "tags", "a,,b", GOSSIP_CONFIG_ERROR_INVALID_VALUE, "tags[1] must be a non-empty string" },
    { "tags", ",", GOSSIP_CONFIG_ERROR_INVALID_VALUE, "tags[0] must be a non-empty string" },
    { "transport", "udp", GOSSIP_CONFIG_ERROR_INVALID_VALUE, "unknown transport: udp (use 'socket' or 'http')" },
    { "encryption_key", "short", GOSSIP_CONFIG_ERROR_INVALID_VALUE, "encryption_key must be 16, 24 or 32 bytes (got 5)" },
  };

  g_assert_true (gossip_config_set_from_text (config, "compress_min_size", "1024", &error));
  g_assert_cmpint (gossip_config_get_int (config, "compress_min_size"), ==, 1024);
  g_assert_true (gossip_config_set_from_text (config, "fan_out_multiplier", "2.25", &error));
  g_assert_cmpfloat (gossip_config_get_double (config, "fan_out_multiplier"), ==, 2.25);
  g_assert_true (gossip_config_set_from_text (config, "fan_out_multiplier", "3", &error));
  g_assert_cmpfloat (gossip_config_get_double (config, "fan_out_multiplier"), ==, 3.0);
  g_assert_true (gossip_config_set_from_text (config, "compression", "true", &error));
  g_assert_true (gossip_config_get_boolean (config, "compression"));
  g_assert_true (gossip_config_set_from_text (config, "compression", "false", &error));
  g_assert_false (gossip_config_get_boolean (config, "compression"));
  g_assert_true (gossip_config_set_from_text (config, "gossip_interval", "2h45m30.5s", &error));
  g_assert_cmpint (gossip_config_get_duration (config, "gossip_interval"), ==, 9930500000);
  g_assert_true (gossip_config_set_from_text (config, "gossip_interval", "2.5", &error));
  g_assert_cmpint (gossip_config_get_duration (config, "gossip_interval"), ==, 2500000);
  g_assert_true (gossip_config_set_from_text (config, "gossip_interval", "10", &error));
  g_assert_cmpint (gossip_config_get_duration (config, "gossip_interval"), ==, 10 * SEC);
  g_assert_true (gossip_config_set_from_text (config, "tags", "a,b c,d", &error));
  g_assert_cmpuint (g_strv_length ((char **) gossip_config_get_strv (config, "tags")), ==, 3);
  g_assert_cmpstr (gossip_config_get_strv (config, "tags")[1], ==, "b c");
  g_assert_true (gossip_config_set_from_text (config, "tags", "", &error));
  g_assert_cmpuint (g_strv_length ((char **) gossip_config_get_strv (config, "tags")), ==, 0);
  g_assert_true (gossip_config_set_from_text (config, "encryption_key", "0123456789abcdef", &error));
  g_assert_cmpuint (g_bytes_get_size (config->encryption_key), ==, 16);
  g_assert_true (gossip_config_set_from_text (config, "transport", "http", &error));
  g_assert_cmpstr (gossip_config_get_string (config, "transport"), ==, "http");
  g_assert_true (gossip_config_set_from_text (config, "bind_addr", "[::]:0", &error));
  g_assert_cmpstr (gossip_config_get_string (config, "bind_addr"), ==, "[::]:0");
  g_assert_no_error (error);

  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr(GError) e = NULL;

      note (bad[i].name, bad[i].text);
      g_assert_false (gossip_config_set_from_text (config, bad[i].name, bad[i].text, &e));
      g_assert_error (e, GOSSIP_CONFIG_ERROR, (gint) bad[i].code);
      if (bad[i].message != NULL)
        g_assert_cmpstr (e->message, ==, bad[i].message);
      else
        g_assert_nonnull (strstr (e->message, bad[i].name));
    }
}

static void
test_secondary_keys (void)
{
  g_autoptr(GossipConfig) config = gossip_config_new ();
  g_autoptr(GError) error = NULL;
  const guint8 key16[16] = { 1 };
  const guint8 key24[24] = { 2 };
  const guint8 key32[32] = { 3 };
  const guint8 key29[29] = { 4 };

  g_assert_true (gossip_config_add_secondary_key (config, key16, sizeof key16, &error));
  g_assert_true (gossip_config_add_secondary_key (config, key24, sizeof key24, &error));
  g_assert_true (gossip_config_add_secondary_key (config, key32, sizeof key32, &error));
  g_assert_true (gossip_config_add_secondary_key (config, key16, sizeof key16, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (config->secondary_keys->len, ==, 3);

  g_assert_false (gossip_config_add_secondary_key (config, key29, sizeof key29, &error));
  g_assert_error (error, GOSSIP_CONFIG_ERROR, GOSSIP_CONFIG_ERROR_INVALID_VALUE);
  g_assert_cmpstr (error->message, ==, "secondary key must be 16, 24 or 32 bytes (got 29)");
  g_clear_error (&error);
  g_assert_false (gossip_config_add_secondary_key (config, NULL, 0, &error));
  g_assert_error (error, GOSSIP_CONFIG_ERROR, GOSSIP_CONFIG_ERROR_INVALID_VALUE);
  g_assert_cmpstr (error->message, ==, "secondary key must be 16, 24 or 32 bytes (got 0)");
  g_clear_error (&error);
  g_assert_cmpuint (config->secondary_keys->len, ==, 3);

  /* Secondary keys need a primary one. */
  g_assert_false (gossip_config_validate (config, &error));
  g_assert_error (error, GOSSIP_CONFIG_ERROR, GOSSIP_CONFIG_ERROR_INCONSISTENT);
  g_assert_cmpstr (error->message, ==, "secondary keys require an encryption_key");
  g_clear_error (&error);
  g_assert_true (gossip_config_set_bytes (config, "encryption_key", key32, sizeof key32, &error));
  g_assert_true (gossip_config_validate (config, &error));
  g_assert_no_error (error);
}

static void
test_validate (void)
{
  static const struct {
    const Assignment set[3];
    GossipConfigError code;
    const char *message;
  } cases[] = {
    { { S ("gossip_max_interval", "1s") }, GOSSIP_CONFIG_ERROR_INCONSISTENT,
      "gossip_max_interval (1s) must be >= gossip_interval (5s)" },
    { { S ("gossip_interval", "1m30s"), S ("gossip_max_interval", "1m29.5s") }, GOSSIP_CONFIG_ERROR_INCONSISTENT,
      "gossip_max_interval (1m29.5s) must be >= gossip_interval (1m30s)" },
    { { S ("bind_addr", "http://127.0.0.1:8080/") }, GOSSIP_CONFIG_ERROR_INCONSISTENT,
      "bind_addr \"http://127.0.0.1:8080/\" is a URL, which needs transport \"http\" (transport is \"socket\")" },
    { { S ("advertise_addr", "https://node.example.com/gossip") }, GOSSIP_CONFIG_ERROR_INCONSISTENT,
      "advertise_addr \"https://node.example.com/gossip\" is a URL, which needs transport \"http\" (transport is \"socket\")" },
    { { S ("transport", "http"), S ("bind_addr", "http://127.0.0.1:8080/"), S ("transport", "socket") },
      GOSSIP_CONFIG_ERROR_INCONSISTENT, NULL },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GossipConfig) config = gossip_config_new ();
      g_autoptr(GError) error = NULL;

      for (gsize j = 0; j < G_N_ELEMENTS (cases[i].set) && cases[i].set[j].name != NULL; j++)
        {
          g_assert_true (apply (config, &cases[i].set[j], &error));
          g_assert_no_error (error);
        }
      g_assert_false (gossip_config_validate (config, &error));
      g_assert_error (error, GOSSIP_CONFIG_ERROR, (gint) cases[i].code);
      if (cases[i].message != NULL)
        g_assert_cmpstr (error->message, ==, cases[i].message);
      g_assert_false (gossip_config_validate (config, NULL));
    }

  /* Valid combinations. */
  {
    g_autoptr(GossipConfig) config = gossip_config_new ();
    g_autoptr(GError) error = NULL;

    /* equal intervals are fine */
    g_assert_true (gossip_config_set_string (config, "gossip_max_interval", "5s", &error));
    g_assert_true (gossip_config_validate (config, &error));
    /* URLs with the HTTP transport, in either setting order */
    g_assert_true (gossip_config_set_string (config, "bind_addr", "http://127.0.0.1:8080/g", &error));
    g_assert_true (gossip_config_set_string (config, "advertise_addr", "https://node.example.com/g", &error));
    g_assert_true (gossip_config_set_string (config, "transport", "http", &error));
    g_assert_true (gossip_config_validate (config, &error));
    /* host:port with HTTP too */
    g_assert_true (gossip_config_set_string (config, "bind_addr", ":8080", &error));
    g_assert_true (gossip_config_set_string (config, "advertise_addr", "node:8080", &error));
    g_assert_true (gossip_config_validate (config, &error));
    /* harmless combinations are not errors */
    g_assert_true (gossip_config_set_string (config, "transport", "socket", &error));
    g_assert_true (gossip_config_set_boolean (config, "insecure_skip_verify", TRUE, &error));
    g_assert_true (gossip_config_set_string (config, "dead_node_timeout", "1ms", &error));
    g_assert_true (gossip_config_set_int (config, "compress_min_size", 0, &error));
    g_assert_true (gossip_config_validate (config, &error));
    g_assert_no_error (error);

    /* A field corrupted behind the setters' back is reported, not accepted. */
    g_free (config->bind_addr);
    config->bind_addr = g_strdup ("no port");
    g_assert_false (gossip_config_validate (config, &error));
    g_assert_error (error, GOSSIP_CONFIG_ERROR, GOSSIP_CONFIG_ERROR_INVALID_VALUE);
    g_assert_nonnull (strstr (error->message, "bind_addr"));
  }
}

static void
test_getter_misuse (void)
{
  g_autoptr(GossipConfig) config = gossip_config_new ();

  if (g_test_undefined ())
    {
      g_test_expect_message ("Gossip", G_LOG_LEVEL_CRITICAL, "*gossip_config_get_string*row != NULL*");
      g_assert_null (gossip_config_get_string (config, "nope"));
      g_test_assert_expected_messages ();

      g_test_expect_message ("Gossip", G_LOG_LEVEL_CRITICAL, "*gossip_config_get_string*row != NULL*");
      g_assert_null (gossip_config_get_string (config, "encryption_key"));
      g_test_assert_expected_messages ();

      g_test_expect_message ("Gossip", G_LOG_LEVEL_CRITICAL, "*gossip_config_get_int*row != NULL*");
      g_assert_cmpint (gossip_config_get_int (config, "gossip_interval"), ==, 0);
      g_test_assert_expected_messages ();

      g_test_expect_message ("Gossip", G_LOG_LEVEL_CRITICAL, "*gossip_config_get_double*row != NULL*");
      g_assert_cmpfloat (gossip_config_get_double (config, "compress_min_size"), ==, 0.0);
      g_test_assert_expected_messages ();

      g_test_expect_message ("Gossip", G_LOG_LEVEL_CRITICAL, "*gossip_config_get_boolean*row != NULL*");
      g_assert_false (gossip_config_get_boolean (config, "tags"));
      g_test_assert_expected_messages ();

      g_test_expect_message ("Gossip", G_LOG_LEVEL_CRITICAL, "*gossip_config_get_strv*row != NULL*");
      g_assert_null (gossip_config_get_strv (config, "compression"));
      g_test_assert_expected_messages ();

      g_test_expect_message ("Gossip", G_LOG_LEVEL_CRITICAL, "*gossip_config_get_duration*row != NULL*");
      g_assert_cmpint (gossip_config_get_duration (config, "bind_addr"), ==, 0);
      g_test_assert_expected_messages ();

      g_test_expect_message ("Gossip", G_LOG_LEVEL_CRITICAL, "*gossip_config_set_string*value != NULL*");
      g_assert_false (gossip_config_set_string (config, "bind_addr", NULL, NULL));
      g_test_assert_expected_messages ();
    }
}

/* --- durations ---------------------------------------------------------------- */

static void
test_duration_parse_valid (void)
{
  static const struct {
    const char *text;
    gint64 usec;
  } vectors[] = {
    /* the brief and the API text */
    { "1h30m", 5400 * SEC },
    { "1.5s", 1500000 },
    { "500ms", 500000 },
    { "300us", 300 },
    { "1" MICRO "s", 1 },
    { "1" MU "s", 1 },
    { ".5s", 500000 },
    { "1.s", 1 * SEC },
    { "-5s", -5 * SEC },
    { "2h45m30.5s", 9930500000 },
    /* Go's time_test.go parseDurationTests */
    { "0", 0 },
    { "5s", 5 * SEC },
    { "30s", 30 * SEC },
    { "1478s", 1478 * SEC },
    { "-5s", -5 * SEC },
    { "+5s", 5 * SEC },
    { "-0", 0 },
    { "+0", 0 },
    { "5.0s", 5 * SEC },
    { "5.6s", 5600000 },
    { "5.s", 5 * SEC },
    { ".5s", 500000 },
    { "1.0s", 1 * SEC },
    { "1.00s", 1 * SEC },
    { "1.004s", 1004000 },
    { "1.0040s", 1004000 },
    { "100.00100s", 100001000 },
    { "10ns", 0 },
    { "11us", 11 },
    { "12" MICRO "s", 12 },
    { "12" MU "s", 12 },
    { "13ms", 13000 },
    { "14s", 14 * SEC },
    { "15m", 900 * SEC },
    { "16h", 57600 * SEC },
    { "3h30m", 12600 * SEC },
    { "10.5s4m", 250500000 },
    { "-2m3.4s", -123400000 },
    { "1h2m3s4ms5us6ns", 3723004005 },
    { "39h9m14.425s", 140954425000 },
    { "52763797000ns", 52763797 },
    { "0.3333333333333333333h", 1200 * SEC },
    { "9007199254740993ns", 9007199254740 },
    { "9223372036854775807ns", G_MAXINT64 / 1000 },
    { "9223372036854775.807us", G_MAXINT64 / 1000 },
    { "9223372036s854ms775us807ns", G_MAXINT64 / 1000 },
    { "-9223372036854775808ns", G_MININT64 / 1000 },
    { "-9223372036854775.808us", G_MININT64 / 1000 },
    { "-9223372036s854ms775us808ns", G_MININT64 / 1000 },
    { "-9223372036854775807ns", -(G_MAXINT64 / 1000) },
    { "0.100000000000000000000h", 360 * SEC },
    { "0.830103483285477580700h", 2988372539 },
    /* more */
    { "0s", 0 },
    { "0.000001s", 1 },
    { "1.5" MICRO "s", 1 },
    { "-1ns", 0 },
    { "1h1h", 7200 * SEC },
    { "00s", 0 },
    { "1.000000000000000000001s", 1 * SEC },
    { "0.9223372036854775809s", 922337 },
    { "007s", 7 * SEC },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (vectors); i++)
    {
      g_autoptr(GError) error = NULL;
      gint64 usec = G_MININT64 + 12345;

      note ("parse", vectors[i].text);
      g_assert_true (gossip_parse_duration (vectors[i].text, &usec, &error));
      g_assert_no_error (error);
      g_assert_cmpint (usec, ==, vectors[i].usec);
      g_assert_true (gossip_parse_duration (vectors[i].text, NULL, NULL));
    }
}

static void
test_duration_parse_invalid (void)
{
  static const struct {
    const char *text;
    const char *message;
  } vectors[] = {
    /* Go's parseDurationErrorTests and friends */
    { "", "invalid duration \"\"" },
    { "3", "missing unit in duration \"3\" (use ns, us, ms, s, m or h)" },
    { "5", "missing unit in duration \"5\" (use ns, us, ms, s, m or h)" },
    { "-", "invalid duration \"-\"" },
    { "+", "invalid duration \"+\"" },
    { "s", "invalid duration \"s\"" },
    { ".", "invalid duration \".\"" },
    { "-.", "invalid duration \"-.\"" },
    { ".s", "invalid duration \".s\"" },
    { "+.s", "invalid duration \"+.s\"" },
    { "1d", "unknown unit \"d\" in duration \"1d\" (use ns, us, ms, s, m or h)" },
    { "5 seconds", "unknown unit \" seconds\" in duration \"5 seconds\" (use ns, us, ms, s, m or h)" },
    { "\x85\x85", "invalid duration (invalid UTF-8)" },
    { "\xff" "ff", "invalid duration (invalid UTF-8)" },
    { "hello \xff" "ff world", NULL },
    { "9223372036854775810ns", "duration \"9223372036854775810ns\" is out of range" },
    { "9223372036854775808ns", "duration \"9223372036854775808ns\" is out of range" },
    { "-9223372036854775809ns", "duration \"-9223372036854775809ns\" is out of range" },
    { "9223372036854775.808us", NULL },
    { "9223372036854ms775us808ns", NULL },
    { "3000000h", NULL },
    { "99999999999999999999s", NULL },
    { "5124095576030431.000000000001h", NULL },
    { "2562048h", NULL },
    { "2562047.789h", "duration \"2562047.789h\" is out of range" },
    { "9223372036854775807ns2ns", "duration \"9223372036854775807ns2ns\" is out of range" },
    { "1.5.5s", "missing unit in duration \"1.5.5s\" (use ns, us, ms, s, m or h)" },
    { "00", NULL },
    { " 1s", NULL },
    { "1s ", NULL },
    { "1 s", NULL },
    { "1S", NULL },
    { "1H", NULL },
    { "1ss", NULL },
    { "1" MICRO, NULL },
    { "1sec", NULL },
    { "1e3s", NULL },
    { "0x10s", NULL },
    { "+-5s", NULL },
    { "--5s", NULL },
    { "1h-5m", NULL },
    { "1s5", NULL },
    { "inf", NULL },
    { "nan", NULL },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (vectors); i++)
    {
      g_autoptr(GError) error = NULL;
      gint64 usec = 4242;

      note ("parse", vectors[i].text);
      g_assert_false (gossip_parse_duration (vectors[i].text, &usec, &error));
      g_assert_error (error, GOSSIP_CONFIG_ERROR, GOSSIP_CONFIG_ERROR_INVALID_VALUE);
      g_assert_cmpint (usec, ==, 4242);
      if (vectors[i].message != NULL)
        g_assert_cmpstr (error->message, ==, vectors[i].message);
      g_assert_false (gossip_parse_duration (vectors[i].text, NULL, NULL));
    }
}

static void
test_duration_format (void)
{
  static const struct {
    gint64 usec;
    const char *text;
  } vectors[] = {
    { 0, "0s" },
    { 1, "1" MICRO "s" },
    { 999, "999" MICRO "s" },
    { 1000, "1ms" },
    { 1001, "1.001ms" },
    { 1500, "1.5ms" },
    { 500000, "500ms" },
    { 999999, "999.999ms" },
    { 1 * SEC, "1s" },
    { 1500000, "1.5s" },
    { 1000001, "1.000001s" },
    { 59 * SEC, "59s" },
    { 60 * SEC, "1m0s" },
    { 90 * SEC, "1m30s" },
    { 3600 * SEC, "1h0m0s" },
    { 5400 * SEC, "1h30m0s" },
    { 9930500000, "2h45m30.5s" },
    { -5 * SEC, "-5s" },
    { -1, "-1" MICRO "s" },
    { G_MAXINT64 / 1000, "2562047h47m16.854775s" },
    { G_MININT64 / 1000, "-2562047h47m16.854775s" },
    { G_MAXINT64, "2562047788h0m54.775807s" },
    { G_MININT64, "-2562047788h0m54.775808s" },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (vectors); i++)
    {
      g_autofree char *text = gossip_format_duration (vectors[i].usec);

      g_assert_cmpstr (text, ==, vectors[i].text);

      /* Round trip through the parser (within Go's range). */
      if (vectors[i].usec >= G_MININT64 / 1000 && vectors[i].usec <= G_MAXINT64 / 1000)
        {
          gint64 back = 0;

          g_assert_true (gossip_parse_duration (text, &back, NULL));
          g_assert_cmpint (back, ==, vectors[i].usec);
        }
    }
}

static void
test_quote (void)
{
  static const struct {
    const char *in;
    const char *out;
  } vectors[] = {
    { "", "\"\"" },
    { "abc", "\"abc\"" },
    { "a\"b", "\"a\\\"b\"" },
    { "a\\b", "\"a\\\\b\"" },
    { "tab\there\x7f", "\"tab\\x09here\\x7f\"" },
    { "\xc2\xb5s", "\"\xc2\xb5s\"" },
    { "\xff", "(invalid UTF-8)" },
    { "0123456789012345678901234567890123456789012345678901234567890123",
      "\"0123456789012345678901234567890123456789012345678901234567890123\"" },
    { "0123456789012345678901234567890123456789012345678901234567890123X",
      "\"0123456789012345678901234567890123456789012345678901234567890123\xe2\x80\xa6\"" },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (vectors); i++)
    {
      g_autofree char *q = gossip_config_quote (vectors[i].in);

      g_assert_cmpstr (q, ==, vectors[i].out);
    }
  {
    g_autofree char *q = gossip_config_quote (NULL);

    g_assert_cmpstr (q, ==, "(null)");
  }
}

/* --- UUIDs -------------------------------------------------------------------- */

static guint64
uuid_ms (const guint8 u[GOSSIP_UUID_SIZE])
{
  guint64 ms = 0;

  for (guint i = 0; i < 6; i++)
    ms = ms << 8 | u[i];
  return ms;
}

static void
assert_v7 (const guint8 u[GOSSIP_UUID_SIZE])
{
  g_assert_cmpuint (u[6] >> 4, ==, 7);          /* version */
  g_assert_cmpuint (u[8] >> 6, ==, 2);          /* variant 10 */
}

#define N_UUIDS 10000

static void
test_uuid_v7 (void)
{
  g_autofree guint8 *ids = g_malloc (N_UUIDS * GOSSIP_UUID_SIZE);
  guint64 before_ms = (guint64) (g_get_real_time () / 1000);
  guint64 after_ms;
  g_autoptr(GHashTable) seen = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autofree char *prev_text = NULL;

  for (guint i = 0; i < N_UUIDS; i++)
    gossip_uuid_generate_v7 (ids + i * GOSSIP_UUID_SIZE);
  after_ms = (guint64) (g_get_real_time () / 1000);

  for (guint i = 0; i < N_UUIDS; i++)
    {
      const guint8 *u = ids + i * GOSSIP_UUID_SIZE;
      g_autofree char *text = gossip_uuid_to_string (u);
      guint8 back[GOSSIP_UUID_SIZE];

      assert_v7 (u);
      /* The timestamp is the real time, possibly advanced by counter
       * overflow (at most one ms per 2048 ids). */
      g_assert_cmpuint (uuid_ms (u), >=, before_ms);
      g_assert_cmpuint (uuid_ms (u), <=, after_ms + N_UUIDS / 2048 + 1);

      g_assert_cmpuint (strlen (text), ==, 36);
      g_assert_cmpint (text[14], ==, '7');
      g_assert_true (strchr ("89ab", text[19]) != NULL);
      g_assert_true (gossip_uuid_parse (text, back));
      g_assert_cmpmem (back, sizeof back, u, GOSSIP_UUID_SIZE);

      /* Strictly increasing, as bytes and as text. */
      if (i > 0)
        {
          g_assert_cmpint (memcmp (u - GOSSIP_UUID_SIZE, u, GOSSIP_UUID_SIZE), <, 0);
          g_assert_cmpstr (prev_text, <, text);
        }
      g_assert_true (g_hash_table_add (seen, g_strdup (text)));
      g_free (prev_text);
      prev_text = g_steal_pointer (&text);
    }
}

/* Same millisecond, clock stepping back, counter overflow: with the time
 * stuck in the past, the timestamp stays at the last one used and advances
 * by one millisecond each time the 12-bit counter overflows. */
static void
test_uuid_v7_same_ms (void)
{
  guint8 prev[GOSSIP_UUID_SIZE];
  guint8 cur[GOSSIP_UUID_SIZE];
  guint64 start_ms;
  guint n_bumps = 0;

  gossip_uuid_generate_v7 (prev);
  start_ms = uuid_ms (prev);
  for (guint i = 0; i < 3 * 4096; i++)
    {
      gossip_uuid_generate_v7_at (i % 2 == 0 ? 0 : start_ms, cur);
      assert_v7 (cur);
      g_assert_cmpint (memcmp (prev, cur, GOSSIP_UUID_SIZE), <, 0);
      if (uuid_ms (cur) != uuid_ms (prev))
        {
          /* Only a counter overflow moves the timestamp, by exactly 1ms,
           * and the counter restarts in its lower half. */
          g_assert_cmpuint (uuid_ms (cur), ==, uuid_ms (prev) + 1);
          g_assert_cmpuint (prev[6] & 0x0f, ==, 0x0f);
          g_assert_cmpuint (prev[7], ==, 0xff);
          g_assert_cmpuint (cur[6] & 0x08, ==, 0);
          n_bumps++;
        }
      memcpy (prev, cur, sizeof cur);
    }
  /* 12288 ids at >= 2048 and <= 4096 per ms. */
  g_assert_cmpuint (n_bumps, >=, 2);
  g_assert_cmpuint (n_bumps, <=, 6);

  /* The real clock takes over again once it passes the borrowed time. */
  gossip_uuid_generate_v7_at (uuid_ms (prev) + 2, cur);
  g_assert_cmpuint (uuid_ms (cur), ==, uuid_ms (prev) + 2);
  g_assert_cmpuint (cur[6] & 0x08, ==, 0);
  g_assert_cmpint (memcmp (prev, cur, GOSSIP_UUID_SIZE), <, 0);
}

#define N_THREADS 4
#define N_PER_THREAD 2500

static gpointer
generate_thread (gpointer data)
{
  guint8 *out = data;

  for (guint i = 0; i < N_PER_THREAD; i++)
    {
      gossip_uuid_generate_v7 (out + i * GOSSIP_UUID_SIZE);
      if (i > 0)
        g_assert_cmpint (memcmp (out + (i - 1) * GOSSIP_UUID_SIZE, out + i * GOSSIP_UUID_SIZE, GOSSIP_UUID_SIZE), <, 0);
    }
  return NULL;
}

static int
compare_uuid (gconstpointer a,
              gconstpointer b)
{
  return memcmp (a, b, GOSSIP_UUID_SIZE);
}

static void
test_uuid_v7_threads (void)
{
  g_autofree guint8 *ids = g_malloc (N_THREADS * N_PER_THREAD * GOSSIP_UUID_SIZE);
  GThread *threads[N_THREADS];

  for (guint t = 0; t < N_THREADS; t++)
    threads[t] = g_thread_new ("uuid", generate_thread, ids + t * N_PER_THREAD * GOSSIP_UUID_SIZE);
  for (guint t = 0; t < N_THREADS; t++)
    g_thread_join (threads[t]);

  qsort (ids, N_THREADS * N_PER_THREAD, GOSSIP_UUID_SIZE, compare_uuid);
  for (guint i = 1; i < N_THREADS * N_PER_THREAD; i++)
    g_assert_cmpint (memcmp (ids + (i - 1) * GOSSIP_UUID_SIZE, ids + i * GOSSIP_UUID_SIZE, GOSSIP_UUID_SIZE), <, 0);
}

static void
test_uuid_parse (void)
{
  static const char * const canonical = "0190c5e2-7a40-7b3c-8d2e-0123456789ab";
  static const char * const good[] = {
    "0190c5e2-7a40-7b3c-8d2e-0123456789ab",
    "0190C5E2-7A40-7B3C-8D2E-0123456789AB",
    "0190c5e2-7A40-7b3C-8d2E-0123456789aB",
    "0190c5e27a407b3c8d2e0123456789ab",
    "0190C5E27A407B3C8D2E0123456789AB",
    "{0190c5e2-7a40-7b3c-8d2e-0123456789ab}",
    "{0190C5E2-7A40-7B3C-8D2E-0123456789AB}",
    "urn:uuid:0190c5e2-7a40-7b3c-8d2e-0123456789ab",
    "URN:UUID:0190C5E2-7A40-7B3C-8D2E-0123456789AB",
    "Urn:Uuid:0190c5e2-7a40-7b3c-8d2e-0123456789ab",
  };
  static const char * const bad[] = {
    "",
    "0",
    "0190c5e2-7a40-7b3c-8d2e-0123456789a",        /* 35 */
    "0190c5e2-7a40-7b3c-8d2e-0123456789abc",      /* 37 */
    "0190c5e27a407b3c8d2e0123456789a",            /* 31 */
    "0190c5e27a407b3c8d2e0123456789abc",          /* 33 */
    "0190c5e2_7a40-7b3c-8d2e-0123456789ab",
    "0190c5e-27a40-7b3c-8d2e-0123456789ab",
    "0190c5e2-7a40-7b3c-8d2e0-123456789ab",
    "0190c5e2-7a40-7b3c-8d2e-0123456789ag",
    "g190c5e2-7a40-7b3c-8d2e-0123456789ab",
    "0190c5e2-7a40-7b3c-8d2e-0123456789a ",
    " 190c5e2-7a40-7b3c-8d2e-0123456789ab",
    "0190c5e27a407b3c8d2e0123456789a-",
    "0190c5e27a407b3c8d2e0123456789+b",
    "{0190c5e2-7a40-7b3c-8d2e-0123456789ab",
    "0190c5e2-7a40-7b3c-8d2e-0123456789ab}",
    "{0190c5e2-7a40-7b3c-8d2e-0123456789ab]",
    "(0190c5e2-7a40-7b3c-8d2e-0123456789ab)",
    "{0190c5e27a407b3c8d2e0123456789ab}",
    "urn:uuid:0190c5e27a407b3c8d2e0123456789ab",
    "urn:uuid:{0190c5e2-7a40-7b3c-8d2e-0123456789ab}",
    "urn:uid::0190c5e2-7a40-7b3c-8d2e-0123456789ab",
    "uuid:0190c5e2-7a40-7b3c-8d2e-0123456789ab",
    "0190c5e2-7a40-7b3c-8d2e-0123456789ab\n",
    "0x190c5e27a407b3c8d2e0123456789ab",
    "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff"
    "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff",
  };
  const guint8 expected[GOSSIP_UUID_SIZE] = {
    0x01, 0x90, 0xc5, 0xe2, 0x7a, 0x40, 0x7b, 0x3c, 0x8d, 0x2e, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab,
  };

  for (gsize i = 0; i < G_N_ELEMENTS (good); i++)
    {
      guint8 u[GOSSIP_UUID_SIZE];
      g_autofree char *text = NULL;
      g_autofree char *norm = NULL;

      note ("good", good[i]);
      g_assert_true (gossip_uuid_parse (good[i], u));
      g_assert_true (gossip_uuid_parse (good[i], NULL));
      g_assert_cmpmem (u, sizeof u, expected, sizeof expected);
      text = gossip_uuid_to_string (u);
      g_assert_cmpstr (text, ==, canonical);
      norm = gossip_uuid_normalize (good[i]);
      g_assert_cmpstr (norm, ==, canonical);
    }
  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      guint8 u[GOSSIP_UUID_SIZE];

      memset (u, 0x5a, sizeof u);
      note ("bad", bad[i]);
      g_assert_false (gossip_uuid_parse (bad[i], u));
      for (guint j = 0; j < sizeof u; j++)
        g_assert_cmpuint (u[j], ==, 0x5a);
      g_assert_null (gossip_uuid_normalize (bad[i]));
    }

  /* All byte values format correctly. */
  {
    guint8 all[GOSSIP_UUID_SIZE] = { 0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77,
                                     0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff };
    g_autofree char *text = gossip_uuid_to_string (all);

    g_assert_cmpstr (text, ==, "00112233-4455-6677-8899-aabbccddeeff");
  }
}

/* --- addresses ----------------------------------------------------------------- */

static void
test_address_parse_valid (void)
{
  static const struct {
    const char *text;
    gboolean allow_url;
    const char *scheme;
    const char *host;
    guint16 port;
    const char *path;
  } vectors[] = {
    { "127.0.0.1:8000", FALSE, NULL, "127.0.0.1", 8000, NULL },
    { "0.0.0.0:0", FALSE, NULL, "0.0.0.0", 0, NULL },
    { ":8000", FALSE, NULL, NULL, 8000, NULL },
    { ":0", FALSE, NULL, NULL, 0, NULL },
    { "localhost:65535", FALSE, NULL, "localhost", 65535, NULL },
    { "node-1.example.com:7946", FALSE, NULL, "node-1.example.com", 7946, NULL },
    { "example.com.:80", FALSE, NULL, "example.com.", 80, NULL },
    { "_gossip._tcp.example.com:80", FALSE, NULL, "_gossip._tcp.example.com", 80, NULL },
    { "1node:80", FALSE, NULL, "1node", 80, NULL },
    { "a.1b:80", FALSE, NULL, "a.1b", 80, NULL },
    { "host:08000", FALSE, NULL, "host", 8000, NULL },
    { "[::1]:8000", FALSE, NULL, "::1", 8000, NULL },
    { "[::]:8000", FALSE, NULL, "::", 8000, NULL },
    { "[2001:db8::1]:443", FALSE, NULL, "2001:db8::1", 443, NULL },
    { "[fe80::1%eth0]:7946", FALSE, NULL, "fe80::1%eth0", 7946, NULL },
    { "[::ffff:10.0.0.1]:80", FALSE, NULL, "::ffff:10.0.0.1", 80, NULL },
    { "127.0.0.1:8000", TRUE, NULL, "127.0.0.1", 8000, NULL },
    { ":8000", TRUE, NULL, NULL, 8000, NULL },
    { "http://host:8080/gossip", TRUE, "http", "host", 8080, "/gossip" },
    { "http://host:8080", TRUE, "http", "host", 8080, "/" },
    { "http://host", TRUE, "http", "host", 80, "/" },
    { "https://host", TRUE, "https", "host", 443, "/" },
    { "https://host/", TRUE, "https", "host", 443, "/" },
    { "HTTPS://Host.Example.com:8443/a/b?x=1&y=2", TRUE, "https", "Host.Example.com", 8443, "/a/b?x=1&y=2" },
    { "http://host?x=1", TRUE, "http", "host", 80, "/?x=1" },
    { "http://[::1]:8080/g", TRUE, "http", "::1", 8080, "/g" },
    { "http://[::1]/g", TRUE, "http", "::1", 80, "/g" },
    { "http://10.0.0.1:0/", TRUE, "http", "10.0.0.1", 0, "/" },
    { "http://h/%20x", TRUE, "http", "h", 80, "/%20x" },
    { "http://h/caf\xc3\xa9", TRUE, "http", "h", 80, "/caf\xc3\xa9" },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (vectors); i++)
    {
      g_autofree char *scheme = NULL;
      g_autofree char *host = NULL;
      g_autofree char *path = NULL;
      g_autoptr(GError) error = NULL;
      guint16 port = 1;

      note ("address", vectors[i].text);
      g_assert_true (gossip_address_parse (vectors[i].text, "bind_addr", vectors[i].allow_url,
                                           &scheme, &host, &port, &path, &error));
      g_assert_no_error (error);
      g_assert_cmpstr (scheme, ==, vectors[i].scheme);
      g_assert_cmpstr (host, ==, vectors[i].host);
      g_assert_cmpuint (port, ==, vectors[i].port);
      g_assert_cmpstr (path, ==, vectors[i].path);
      g_assert_true (gossip_address_parse (vectors[i].text, NULL, vectors[i].allow_url,
                                           NULL, NULL, NULL, NULL, NULL));

      /* host:port forms round-trip through gossip_address_format(). */
      if (vectors[i].scheme == NULL)
        {
          g_autofree char *formatted = gossip_address_format (host, port);
          g_autofree char *host2 = NULL;
          guint16 port2 = 0;

          g_assert_true (gossip_address_parse (formatted, NULL, FALSE, NULL, &host2, &port2, NULL, NULL));
          g_assert_cmpstr (host2, ==, host);
          g_assert_cmpuint (port2, ==, port);
        }
    }
}

static void
test_address_parse_invalid (void)
{
  static const struct {
    const char *text;
    gboolean allow_url;
    const char *reason;
  } vectors[] = {
    { "", FALSE, "the address is empty" },
    { "localhost", FALSE, "port must be specified" },
    { "127.0.0.1", FALSE, "port must be specified" },
    { "[::1]", FALSE, "port must be specified" },
    { "host:", FALSE, "port must be specified" },
    { "[::1]:", FALSE, "port must be specified" },
    { "8000", FALSE, "write a port alone as :port" },
    { "8000", TRUE, "write a port alone as :port" },
    { "host:65536", FALSE, "port must be a number from 0 to 65535" },
    { "host:99999999999999999999", FALSE, "port must be a number from 0 to 65535" },
    { "host:-1", FALSE, "port must be a number from 0 to 65535" },
    { "host:+1", FALSE, "port must be a number from 0 to 65535" },
    { "host: 1", FALSE, "port must be a number from 0 to 65535" },
    { "host:1 ", FALSE, "port must be a number from 0 to 65535" },
    { "host:http", FALSE, "port must be a number from 0 to 65535" },
    { "::1:8000", FALSE, "IPv6 addresses must be in brackets, as in [::1]:8000" },
    { "::1", FALSE, "IPv6 addresses must be in brackets, as in [::1]:8000" },
    { "host:80:80", FALSE, "IPv6 addresses must be in brackets, as in [::1]:8000" },
    { "[::1", FALSE, "missing ']'" },
    { "[::1]8000", FALSE, "expected ':' and a port after ']'" },
    { "[::1]]:80", FALSE, "expected ':' and a port after ']'" },
    { "[1.2.3.4]:80", FALSE, "invalid IPv6 address in brackets" },
    { "[]:80", FALSE, "invalid IPv6 address in brackets" },
    { "[host]:80", FALSE, "invalid IPv6 address in brackets" },
    { "[1::2::3]:80", FALSE, "invalid IPv6 address in brackets" },
    { "ho st:80", FALSE, "invalid host name" },
    { " host:80", FALSE, "invalid host name" },
    { "-host:80", FALSE, "invalid host name" },
    { "host-:80", FALSE, "invalid host name" },
    { "a..b:80", FALSE, "invalid host name" },
    { ".host:80", FALSE, "invalid host name" },
    { ".:80", FALSE, "invalid host name" },
    { "host..:80", FALSE, "invalid host name" },
    { "h\xc3\xb6st:80", FALSE, "invalid host name" },
    { "srv+name:80", FALSE, "invalid host name" },
    { "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.com:80", FALSE, "invalid host name" },
    { "1.2.3:80", FALSE, "invalid IPv4 address" },
    { "256.1.1.1:80", FALSE, "invalid IPv4 address" },
    { "01.2.3.4:80", FALSE, "invalid IPv4 address" },
    { "1.2.3.4.5:80", FALSE, "invalid IPv4 address" },
    { "http://host:80/", FALSE, "URLs are allowed only with transport \"http\"" },
    { "ftp://host:21/", TRUE, "only http:// and https:// URLs are supported" },
    { "srv+https://host/", TRUE, "only http:// and https:// URLs are supported" },
    { "://host/", TRUE, "only http:// and https:// URLs are supported" },
    { "http://user@host/", TRUE, "user information is not allowed in URLs" },
    { "http://user:pw@host:80/", TRUE, "user information is not allowed in URLs" },
    { "http://host/#frag", TRUE, "URL fragments are not allowed" },
    { "http://host#frag", TRUE, "URL fragments are not allowed" },
    { "http:///path", TRUE, "the URL has no host" },
    { "http://", TRUE, "the URL has no host" },
    { "http://:80/", TRUE, "the URL has no host" },
    { "http://host/a b", TRUE, "the URL path contains spaces or control characters" },
    { "http://host/a\tb", TRUE, "the URL path contains spaces or control characters" },
    { "http://host:/", TRUE, "port must be specified" },
    { "http://host:99999/", TRUE, "port must be a number from 0 to 65535" },
    { "http://::1:80/", TRUE, "IPv6 addresses must be in brackets, as in [::1]:8000" },
    { "http://[::1/", TRUE, "missing ']'" },
    { "http://bad_host!:80/", TRUE, "invalid host name" },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (vectors); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autofree char *quoted = gossip_config_quote (vectors[i].text);
      g_autofree char *expected = NULL;
      char *host = (char *) "untouched";
      guint16 port = 4242;

      if (vectors[i].allow_url)
        expected = g_strdup_printf ("peer must be host:port, [IPv6]:port, :port or an http(s):// URL (got %s: %s)",
                                    quoted, vectors[i].reason);
      else
        expected = g_strdup_printf ("peer must be host:port, [IPv6]:port or :port (got %s: %s)",
                                    quoted, vectors[i].reason);

      note ("address", vectors[i].text);
      g_assert_false (gossip_address_parse (vectors[i].text, "peer", vectors[i].allow_url,
                                            NULL, &host, &port, NULL, &error));
      g_assert_error (error, GOSSIP_CONFIG_ERROR, GOSSIP_CONFIG_ERROR_INVALID_VALUE);
      g_assert_cmpstr (error->message, ==, expected);
      g_assert_cmpstr (host, ==, "untouched");
      g_assert_cmpuint (port, ==, 4242);
      g_assert_false (gossip_address_parse (vectors[i].text, NULL, vectors[i].allow_url,
                                            NULL, NULL, NULL, NULL, NULL));
    }

  /* Without a parameter name, and with invalid UTF-8. */
  {
    g_autoptr(GError) error = NULL;

    g_assert_false (gossip_address_parse ("nope", NULL, FALSE, NULL, NULL, NULL, NULL, &error));
    g_assert_cmpstr (error->message, ==,
                     "address must be host:port, [IPv6]:port or :port (got \"nope\": port must be specified)");
    g_clear_error (&error);
    g_assert_false (gossip_address_parse ("h\xff:80", "peer", TRUE, NULL, NULL, NULL, NULL, &error));
    g_assert_error (error, GOSSIP_CONFIG_ERROR, GOSSIP_CONFIG_ERROR_INVALID_VALUE);
    g_assert_cmpstr (error->message, ==, "peer must be valid UTF-8");
  }
}

static void
test_address_format (void)
{
  static const struct {
    const char *host;
    guint16 port;
    const char *text;
  } vectors[] = {
    { "127.0.0.1", 8000, "127.0.0.1:8000" },
    { "example.com", 0, "example.com:0" },
    { "::1", 8000, "[::1]:8000" },
    { "fe80::1%eth0", 1, "[fe80::1%eth0]:1" },
    { NULL, 8000, ":8000" },
    { "", 65535, ":65535" },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (vectors); i++)
    {
      g_autofree char *text = gossip_address_format (vectors[i].host, vectors[i].port);

      g_assert_cmpstr (text, ==, vectors[i].text);
    }
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/config/defaults", test_defaults);
  g_test_add_func ("/config/param-table", test_param_table);
  g_test_add_func ("/config/boxed", test_boxed);
  g_test_add_func ("/config/set/valid", test_set_valid);
  g_test_add_func ("/config/set/bad", test_set_bad);
  g_test_add_func ("/config/set/type-matrix", test_type_matrix);
  g_test_add_func ("/config/set/ranges", test_every_duration_and_number);
  g_test_add_func ("/config/set/from-text", test_from_text);
  g_test_add_func ("/config/secondary-keys", test_secondary_keys);
  g_test_add_func ("/config/validate", test_validate);
  g_test_add_func ("/config/getter-misuse", test_getter_misuse);
  g_test_add_func ("/config/quote", test_quote);
  g_test_add_func ("/duration/parse/valid", test_duration_parse_valid);
  g_test_add_func ("/duration/parse/invalid", test_duration_parse_invalid);
  g_test_add_func ("/duration/format", test_duration_format);
  g_test_add_func ("/uuid/v7", test_uuid_v7);
  g_test_add_func ("/uuid/v7-same-ms", test_uuid_v7_same_ms);
  g_test_add_func ("/uuid/v7-threads", test_uuid_v7_threads);
  g_test_add_func ("/uuid/parse", test_uuid_parse);
  g_test_add_func ("/address/parse/valid", test_address_parse_valid);
  g_test_add_func ("/address/parse/invalid", test_address_parse_invalid);
  g_test_add_func ("/address/format", test_address_format);

  return g_test_run ();
}
