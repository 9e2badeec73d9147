/* test-security.c — encryption, key rotation, bearer tokens, application
 * versions, compression interoperability and IPv6, with real clusters on
 * loopback sockets (port 0) on the shared engine thread.
 *
 * SPDX-License-Identifier: MIT
 */
#include "config.h"

#include <string.h>

#include <gossip/gossip.h>

#include "test-util.h"
#include "gossip-frame-private.h"

#define WAIT_TIMEOUT_S 20

/* Keys of each AES size. */
#define K16 "0123456789abcdef"
#define K24 "abcdefghijklmnopqrstuvwx"
#define K32 "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"

/* ---------------------------------------------------------------------------
 * Helpers (after test-cluster.c)
 * ------------------------------------------------------------------------- */


static GossipConfig *
keyed_config (const char *primary,
              const char *secondary)
{
  g_autoptr(GError) error = NULL;
  GossipConfig *c = fast_config ();

  if (primary != NULL)
    g_assert_true (gossip_config_set_string (c, "encryption_key", primary, &error));
  if (secondary != NULL)
    g_assert_true (gossip_config_add_secondary_key (c, (const guint8 *) secondary, strlen (secondary), &error));
  g_assert_no_error (error);
  return c;
}

static GossipCluster *
start_node (GossipConfig *config)
{
  g_autoptr(GError) error = NULL;
  GossipCluster *c = gossip_cluster_new (config, &error);

  g_assert_no_error (error);
  g_assert_true (gossip_cluster_start (c, &error));
  g_assert_no_error (error);
  return c;
}

static void
stop_node (GossipCluster *node)
{
  if (node != NULL)
    {
      gossip_cluster_stop (node);
      g_object_unref (node);
    }
}

static gint
join_one (GossipCluster *node,
          GossipCluster *seed)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *address = gossip_cluster_get_advertise_address (seed);
  const char *peers[] = { address, NULL };
  gint joined = gossip_cluster_join (node, peers, &error);

  g_assert_no_error (error);
  return joined;
}

static GossipClusterStats
stats_of (GossipCluster *node)
{
  GossipClusterStats stats;

  gossip_cluster_get_stats (node, &stats);
  return stats;
}

typedef struct {
  GossipCluster **nodes;
  guint           n;
  guint           expect;
} Group;

static gboolean
all_see_alive (gpointer data)
{
  Group *g = data;
  for (guint i = 0; i < g->n; i++)
    if (g->nodes[i] != NULL && gossip_cluster_count (g->nodes[i], GOSSIP_NODE_ALIVE) != g->expect)
      return FALSE;
  return TRUE;
}

static void
assert_converged (GossipCluster **nodes,
                  guint           n)
{
  Group g = { nodes, n, n };

  g_assert_true (wait_for (all_see_alive, &g, WAIT_TIMEOUT_S));
}

static GossipCluster **
make_cluster (guint n, GossipConfig *config)
{
  GossipCluster **nodes = g_new0 (GossipCluster *, n + 1);

  for (guint i = 0; i < n; i++)
    {
      nodes[i] = start_node (config);
      if (i > 0)
        g_assert_cmpint (join_one (nodes[i], nodes[0]), ==, 1);
    }
  return nodes;
}

static void
free_cluster (GossipCluster **nodes, guint n)
{
  for (guint i = 0; i < n; i++)
    stop_node (nodes[i]);
  g_free (nodes);
}

/* Messages, counted per receiver and kept (engine thread writes, test
 * thread reads under the lock). */
typedef struct {
  GMutex     lock;
  guint      count;
  GPtrArray *payloads;   /* GVariant* */
} Inbox;

static void
inbox_init (Inbox *inbox)
{
  memset (inbox, 0, sizeof *inbox);
  g_mutex_init (&inbox->lock);
  inbox->payloads = g_ptr_array_new_with_free_func ((GDestroyNotify) g_variant_unref);
}

static void
inbox_clear (Inbox *inbox)
{
  g_ptr_array_unref (inbox->payloads);
  g_mutex_clear (&inbox->lock);
}

static guint
inbox_count (Inbox *inbox)
{
  guint n;

  g_mutex_lock (&inbox->lock);
  n = inbox->count;
  g_mutex_unlock (&inbox->lock);
  return n;
}

static void
on_message (GossipCluster *cluster, GossipMessage *message, gpointer user_data)
{
  Inbox *inbox = user_data;

  g_mutex_lock (&inbox->lock);
  inbox->count++;
  g_ptr_array_add (inbox->payloads, g_variant_ref (gossip_message_get_payload (message)));
  g_mutex_unlock (&inbox->lock);
}

typedef struct {
  Inbox *inboxes;
  guint  n;
  guint  expect;
} InboxWait;

static gboolean
inboxes_reached (gpointer data)
{
  InboxWait *w = data;

  for (guint i = 0; i < w->n; i++)
    if (inbox_count (&w->inboxes[i]) < w->expect)
      return FALSE;
  return TRUE;
}

static void
handle (GossipCluster *node,
        guint          type,
        Inbox         *inbox)
{
  g_autoptr(GError) error = NULL;

  g_assert_true (gossip_cluster_handle (node, type, FALSE, gossip_cluster_get_context (node),
                                        on_message, inbox, NULL, &error));
  g_assert_no_error (error);
}

static gboolean
ipv6_loopback_available (void)
{
  g_autoptr(GSocket) socket = g_socket_new (G_SOCKET_FAMILY_IPV6, G_SOCKET_TYPE_STREAM,
                                            G_SOCKET_PROTOCOL_DEFAULT, NULL);
  g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV6);
  g_autoptr(GSocketAddress) address = g_inet_socket_address_new (loopback, 0);
  gboolean ok;

  if (socket == NULL)
    return FALSE;
  ok = g_socket_bind (socket, address, FALSE, NULL);
  g_socket_close (socket, NULL);
  return ok;
}

/* ---------------------------------------------------------------------------
 * Encryption
 * ------------------------------------------------------------------------- */

static void
test_encrypted_cluster (void)
{
  const guint n = 5;
  g_autoptr(GossipConfig) config = keyed_config (K32, NULL);
  GossipCluster **nodes = make_cluster (n, config);
  Inbox inboxes[5];
  InboxWait w = { inboxes + 1, n - 1, 2 };
  g_autoptr(GError) error = NULL;

  assert_converged (nodes, n);
  for (guint i = 0; i < n; i++)
    {
      inbox_init (&inboxes[i]);
      handle (nodes[i], 200, &inboxes[i]);
    }
  g_assert_true (gossip_cluster_send (nodes[0], 200, g_variant_new_string ("gossiped"),
                                      GOSSIP_SEND_NONE, &error));
  g_assert_true (gossip_cluster_send (nodes[0], 200, g_variant_new_string ("reliable"),
                                      GOSSIP_SEND_RELIABLE, &error));
  g_assert_no_error (error);
  g_assert_true (wait_for (inboxes_reached, &w, WAIT_TIMEOUT_S));

  for (guint i = 0; i < n; i++)
    {
      GossipClusterStats stats = stats_of (nodes[i]);

      g_assert_cmpuint (stats.frames_rejected, ==, 0);
      g_assert_cmpuint (stats.frames_received, >, 0);
    }
  free_cluster (nodes, n);
  for (guint i = 0; i < n; i++)
    inbox_clear (&inboxes[i]);
}

typedef struct {
  GossipCluster *node;
  guint64        above;
} RejectedWait;

static gboolean
rejected_above (gpointer data)
{
  RejectedWait *w = data;

  return stats_of (w->node).frames_rejected > w->above;
}

static void
test_wrong_key (void)
{
  g_autoptr(GossipConfig) config = keyed_config (K16, NULL);
  g_autoptr(GossipConfig) other_key = keyed_config (K24, NULL);
  g_autoptr(GossipConfig) no_key = fast_config ();
  GossipCluster **nodes = make_cluster (3, config);
  GossipCluster *intruder, *plain;
  RejectedWait w = { nodes[0], 0 };

  assert_converged (nodes, 3);

  /* A node with another key: its join cannot be read, so it gets no reply. */
  w.above = stats_of (nodes[0]).frames_rejected;
  intruder = start_node (other_key);
  g_assert_cmpint (join_one (intruder, nodes[0]), ==, 0);
  g_assert_true (wait_for (rejected_above, &w, WAIT_TIMEOUT_S));

  /* A node without a key: plaintext is refused when a key is set. */
  w.above = stats_of (nodes[0]).frames_rejected;
  plain = start_node (no_key);
  g_assert_cmpint (join_one (plain, nodes[0]), ==, 0);
  g_assert_true (wait_for (rejected_above, &w, WAIT_TIMEOUT_S));

  /* No harm done: the cluster keeps its three members, all alive, and the
   * outsiders see only themselves. */
  g_usleep (G_USEC_PER_SEC);
  for (guint i = 0; i < 3; i++)
    {
      g_assert_cmpuint (gossip_cluster_count_all (nodes[i]), ==, 3);
      g_assert_cmpuint (gossip_cluster_count (nodes[i], GOSSIP_NODE_ALIVE), ==, 3);
      g_assert_true (gossip_cluster_is_running (nodes[i]));
    }
  g_assert_cmpuint (gossip_cluster_count_all (intruder), ==, 1);
  g_assert_cmpuint (gossip_cluster_count_all (plain), ==, 1);

  stop_node (intruder);
  stop_node (plain);
  free_cluster (nodes, 3);
}

static void
test_key_rotation (void)
{
  g_autoptr(GossipConfig) staged = keyed_config (K16, K32);     /* new key installed as secondary */
  g_autoptr(GossipConfig) switched = keyed_config (K32, K16);   /* new key in use, old one kept */
  g_autoptr(GossipConfig) new_only = keyed_config (K32, NULL);  /* old key removed */
  GossipCluster *nodes[3] = { NULL };
  GossipCluster *late;
  Inbox inboxes[3];
  InboxWait w = { inboxes, 3, 2 };
  g_autoptr(GError) error = NULL;
  guint64 rejected;

  /* A and C encrypt with K1 and accept K2; B encrypts with K2 and accepts
   * K1: the middle of a rotation, where everything must keep working. */
  nodes[0] = start_node (staged);
  nodes[1] = start_node (switched);
  nodes[2] = start_node (staged);
  g_assert_cmpint (join_one (nodes[1], nodes[0]), ==, 1);
  g_assert_cmpint (join_one (nodes[2], nodes[1]), ==, 1);
  assert_converged (nodes, 3);

  for (guint i = 0; i < 3; i++)
    {
      inbox_init (&inboxes[i]);
      handle (nodes[i], 210, &inboxes[i]);
    }
  /* Everybody hears everybody. */
  for (guint i = 0; i < 3; i++)
    g_assert_true (gossip_cluster_send (nodes[i], 210, g_variant_new_int64 (i),
                                        GOSSIP_SEND_RELIABLE, &error));
  g_assert_no_error (error);
  g_assert_true (wait_for (inboxes_reached, &w, WAIT_TIMEOUT_S));
  for (guint i = 0; i < 3; i++)
    g_assert_cmpuint (stats_of (nodes[i]).frames_rejected, ==, 0);

  /* A node that knows only K2: A reads its frames (secondary key) but it
   * cannot read A's, sealed with A's primary K1, so joining A fails. This
   * is why the old key stays as a secondary until every node switched. */
  rejected = stats_of (nodes[0]).frames_rejected;
  late = start_node (new_only);
  g_assert_cmpint (join_one (late, nodes[0]), ==, 0);
  g_assert_cmpuint (stats_of (late).frames_rejected, >=, 1);
  g_assert_cmpuint (stats_of (nodes[0]).frames_rejected, ==, rejected);
  /* Joining B, whose primary is K2, works. */
  g_assert_cmpint (join_one (late, nodes[1]), ==, 1);
  stop_node (late);

  for (guint i = 0; i < 3; i++)
    stop_node (nodes[i]);
  for (guint i = 0; i < 3; i++)
    inbox_clear (&inboxes[i]);
}

static void
test_bad_key_lengths (void)
{
  static const gsize bad[] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15,
                               17, 23, 25, 31, 33, 29 };
  g_autoptr(GossipConfig) config = gossip_config_new ();
  g_autoptr(GError) error = NULL;
  guint8 key[64];

  memset (key, 'k', sizeof key);
  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autofree char *expected = g_strdup_printf ("encryption_key must be 16, 24 or 32 bytes (got %"
                                                   G_GSIZE_FORMAT ")", bad[i]);
      g_autofree char *expected_secondary = g_strdup_printf ("secondary key must be 16, 24 or 32 bytes (got %"
                                                             G_GSIZE_FORMAT ")", bad[i]);
      g_autofree char *text = g_strndup ((const char *) key, bad[i]);

      g_assert_false (gossip_config_set_bytes (config, "encryption_key", key, bad[i], &error));
      g_assert_error (error, GOSSIP_CONFIG_ERROR, GOSSIP_CONFIG_ERROR_INVALID_VALUE);
      g_assert_cmpstr (error->message, ==, expected);
      g_clear_error (&error);

      /* A string is taken as its UTF-8 bytes. */
      g_assert_false (gossip_config_set_string (config, "encryption_key", text, &error));
      g_assert_error (error, GOSSIP_CONFIG_ERROR, GOSSIP_CONFIG_ERROR_INVALID_VALUE);
      g_assert_cmpstr (error->message, ==, expected);
      g_clear_error (&error);

      g_assert_false (gossip_config_add_secondary_key (config, key, bad[i], &error));
      g_assert_error (error, GOSSIP_CONFIG_ERROR, GOSSIP_CONFIG_ERROR_INVALID_VALUE);
      g_assert_cmpstr (error->message, ==, expected_secondary);
      g_clear_error (&error);
    }

  /* The documented examples that never worked (D5). */
  g_assert_false (gossip_config_set_string (config, "encryption_key", "32-byte-key-here-1234567890ab", &error));
  g_assert_cmpstr (error->message, ==, "encryption_key must be 16, 24 or 32 bytes (got 29)");
  g_clear_error (&error);
  g_assert_false (gossip_config_set_string (config, "encryption_key", "32-byte-key-for-aes-256!!!", &error));
  g_assert_cmpstr (error->message, ==, "encryption_key must be 16, 24 or 32 bytes (got 26)");
  g_clear_error (&error);

  /* Each valid size creates a cluster; "" turns encryption off. */
  for (gsize len = 16; len <= 32; len += 8)
    {
      g_autoptr(GossipCluster) cluster = NULL;

      g_assert_true (gossip_config_set_bytes (config, "encryption_key", key, len, &error));
      g_assert_no_error (error);
      cluster = gossip_cluster_new (config, &error);
      g_assert_no_error (error);
      g_assert_nonnull (cluster);
    }
  g_assert_true (gossip_config_set_string (config, "encryption_key", "", &error));
  g_assert_no_error (error);
}

/* ---------------------------------------------------------------------------
 * Bearer token and application version
 * ------------------------------------------------------------------------- */

typedef struct {
  GossipCluster *node;
  guint64        above;
} AuthWait;

static gboolean
auth_rejected_above (gpointer data)
{
  AuthWait *w = data;

  return stats_of (w->node).auth_rejected > w->above;
}

static void
test_bearer_token (void)
{
  g_autoptr(GossipConfig) config = fast_config ();
  g_autoptr(GossipConfig) wrong = fast_config ();
  g_autoptr(GossipConfig) none = fast_config ();
  g_autoptr(GError) error = NULL;
  GossipCluster *nodes[2] = { NULL };
  GossipCluster *bad, *anonymous, *open_seed, *carrier;
  AuthWait w;

  g_assert_true (gossip_config_set_string (config, "bearer_token", "correct horse", &error));
  g_assert_true (gossip_config_set_string (wrong, "bearer_token", "battery staple", &error));
  g_assert_no_error (error);

  nodes[0] = start_node (config);
  w = (AuthWait) { nodes[0], stats_of (nodes[0]).auth_rejected };

  bad = start_node (wrong);
  g_assert_cmpint (join_one (bad, nodes[0]), ==, 0);
  g_assert_true (wait_for (auth_rejected_above, &w, WAIT_TIMEOUT_S));

  w.above = stats_of (nodes[0]).auth_rejected;
  anonymous = start_node (none);
  g_assert_cmpint (join_one (anonymous, nodes[0]), ==, 0);
  g_assert_true (wait_for (auth_rejected_above, &w, WAIT_TIMEOUT_S));
  g_assert_cmpuint (gossip_cluster_count_all (nodes[0]), ==, 1);

  /* The right token gets in. */
  nodes[1] = start_node (config);
  g_assert_cmpint (join_one (nodes[1], nodes[0]), ==, 1);
  assert_converged (nodes, 2);

  /* A joiner with a token refuses a seed that cannot prove it knows it. */
  open_seed = start_node (none);
  carrier = start_node (config);
  w = (AuthWait) { carrier, stats_of (carrier).auth_rejected };
  g_assert_cmpint (join_one (carrier, open_seed), ==, 0);
  g_assert_true (wait_for (auth_rejected_above, &w, WAIT_TIMEOUT_S));

  /* The outsiders never got in. */
  g_usleep (500000);
  g_assert_cmpuint (gossip_cluster_count_all (nodes[0]), ==, 2);
  g_assert_cmpuint (gossip_cluster_count_all (nodes[1]), ==, 2);
  g_assert_cmpuint (gossip_cluster_count_all (bad), ==, 1);
  g_assert_cmpuint (gossip_cluster_count_all (anonymous), ==, 1);

  stop_node (carrier);
  stop_node (open_seed);
  stop_node (bad);
  stop_node (anonymous);
  stop_node (nodes[0]);
  stop_node (nodes[1]);
}

/* Log capture: the joiner logs why it was rejected. */
typedef struct {
  GMutex     lock;
  GPtrArray *messages;
} LogCapture;

static void
capture_log_cb (const char     *log_domain,
                GLogLevelFlags  log_level,
                const char     *message,
                gpointer        data)
{
  LogCapture *capture = data;

  g_mutex_lock (&capture->lock);
  g_ptr_array_add (capture->messages, g_strdup (message));
  g_mutex_unlock (&capture->lock);
}

static gboolean
capture_contains (LogCapture *capture,
                  const char *needle)
{
  gboolean found = FALSE;

  g_mutex_lock (&capture->lock);
  for (guint i = 0; i < capture->messages->len && !found; i++)
    found = strstr (g_ptr_array_index (capture->messages, i), needle) != NULL;
  g_mutex_unlock (&capture->lock);
  return found;
}

static void
test_app_version (void)
{
  g_autoptr(GossipConfig) v1 = fast_config ();
  g_autoptr(GossipConfig) v2 = fast_config ();
  g_autoptr(GossipConfig) unversioned = fast_config ();
  g_autoptr(GError) error = NULL;
  GossipCluster *nodes[2] = { NULL };
  GossipCluster *other, *open_seed;
  LogCapture capture;
  AuthWait w;
  guint handler;

  g_mutex_init (&capture.lock);
  capture.messages = g_ptr_array_new_with_free_func (g_free);
  handler = g_log_set_handler ("Gossip", G_LOG_LEVEL_MESSAGE, capture_log_cb, &capture);

  g_assert_true (gossip_config_set_string (v1, "app_version", "1.4.2", &error));
  g_assert_true (gossip_config_set_string (v2, "app_version", "2.0.0", &error));
  g_assert_no_error (error);

  nodes[0] = start_node (v1);
  w = (AuthWait) { nodes[0], stats_of (nodes[0]).auth_rejected };
  other = start_node (v2);
  g_assert_cmpint (join_one (other, nodes[0]), ==, 0);
  g_assert_true (capture_contains (&capture, "incompatible application version: 2.0.0"));
  g_assert_true (wait_for (auth_rejected_above, &w, WAIT_TIMEOUT_S));
  g_assert_cmpuint (gossip_cluster_count_all (nodes[0]), ==, 1);
  g_assert_cmpuint (gossip_cluster_count_all (other), ==, 1);

  /* Same version: accepted. */
  nodes[1] = start_node (v1);
  g_assert_cmpint (join_one (nodes[1], nodes[0]), ==, 1);
  assert_converged (nodes, 2);

  /* A node without app_version checks nothing. */
  open_seed = start_node (unversioned);
  stop_node (other);
  other = start_node (v2);
  g_assert_cmpint (join_one (other, open_seed), ==, 1);

  g_log_remove_handler ("Gossip", handler);
  g_ptr_array_unref (capture.messages);
  g_mutex_clear (&capture.lock);
  stop_node (other);
  stop_node (open_seed);
  stop_node (nodes[0]);
  stop_node (nodes[1]);
}

/* ---------------------------------------------------------------------------
 * Compression
 * ------------------------------------------------------------------------- */

static GossipConfig *
compression_config (gboolean on)
{
  g_autoptr(GError) error = NULL;
  GossipConfig *c = fast_config ();

  g_assert_true (gossip_config_set_boolean (c, "compression", on, &error));
  g_assert_true (gossip_config_set_int (c, "compress_min_size", 256, &error));
  g_assert_no_error (error);
  return c;
}

/* A compressible string of exactly @len bytes, tagged with @len. */
static char *
compressible_text (gsize len)
{
  char *text = g_malloc (len + 1);
  int tag = g_snprintf (text, len + 1, "%" G_GSIZE_FORMAT ":", len);

  for (gsize i = MIN ((gsize) tag, len); i < len; i++)
    text[i] = "abcd"[(i / 16) % 4];
  text[len] = '\0';
  return text;
}

static gboolean
inbox_has_text (Inbox      *inbox,
                const char *text)
{
  gboolean found = FALSE;

  g_mutex_lock (&inbox->lock);
  for (guint i = 0; i < inbox->payloads->len && !found; i++)
    {
      GVariant *v = g_ptr_array_index (inbox->payloads, i);

      found = g_variant_is_of_type (v, G_VARIANT_TYPE_STRING) &&
              g_str_equal (g_variant_get_string (v, NULL), text);
    }
  g_mutex_unlock (&inbox->lock);
  return found;
}

typedef struct {
  Inbox *inbox;
  guint  expect;
} CountWait;

static gboolean
count_reached (gpointer data)
{
  CountWait *w = data;

  return inbox_count (w->inbox) >= w->expect;
}

/* Sends @text from @from to @to reliably; returns the sender's bytes_sent
 * growth until it arrived. */
static guint64
send_and_measure (GossipCluster *from,
                  GossipCluster *to,
                  Inbox         *to_inbox,
                  const char    *text)
{
  g_autoptr(GError) error = NULL;
  CountWait w = { to_inbox, inbox_count (to_inbox) + 1 };
  guint64 before = stats_of (from).bytes_sent;

  g_assert_true (gossip_cluster_send_to (from, gossip_cluster_get_node_id (to), 220,
                                         g_variant_new_string (text), GOSSIP_SEND_RELIABLE, &error));
  g_assert_no_error (error);
  g_assert_true (wait_for (count_reached, &w, WAIT_TIMEOUT_S));
  g_assert_true (inbox_has_text (to_inbox, text));
  return stats_of (from).bytes_sent - before;
}

static void
test_compression_mixed (void)
{
  g_autoptr(GossipConfig) on = compression_config (TRUE);
  g_autoptr(GossipConfig) off = compression_config (FALSE);
  GossipCluster *nodes[3];
  Inbox inboxes[3];
  g_autofree char *big = compressible_text (64 * 1024);
  g_autoptr(GError) error = NULL;
  InboxWait w = { inboxes, 3, 0 };
  guint64 compressed, plain;

  nodes[0] = start_node (on);
  nodes[1] = start_node (off);
  nodes[2] = start_node (on);
  g_assert_cmpint (join_one (nodes[1], nodes[0]), ==, 1);
  g_assert_cmpint (join_one (nodes[2], nodes[1]), ==, 1);
  assert_converged (nodes, 3);
  for (guint i = 0; i < 3; i++)
    {
      inbox_init (&inboxes[i]);
      handle (nodes[i], 220, &inboxes[i]);
    }

  /* On -> off and off -> on, intact. Receivers always decompress (D8). */
  compressed = send_and_measure (nodes[0], nodes[1], &inboxes[1], big);
  plain = send_and_measure (nodes[1], nodes[0], &inboxes[0], big);
  send_and_measure (nodes[2], nodes[1], &inboxes[1], big);
  send_and_measure (nodes[1], nodes[2], &inboxes[2], big);

  /* Compression really happened on the way out of the node that has it on
   * (background probes add a few hundred bytes at most). */
  g_test_message ("64 KiB payload: %" G_GUINT64_FORMAT " bytes sent compressed, %"
                  G_GUINT64_FORMAT " plain", compressed, plain);
  g_assert_cmpuint (compressed, <, 16 * 1024);
  g_assert_cmpuint (plain, >=, 64 * 1024);

  /* Gossip (unreliable, relayed) across the mixed cluster. */
  g_assert_true (gossip_cluster_send (nodes[1], 220, g_variant_new_string ("from the plain node"),
                                      GOSSIP_SEND_NONE, &error));
  g_assert_no_error (error);
  w = (InboxWait) { inboxes, 1, 2 };
  g_assert_true (wait_for (inboxes_reached, &w, WAIT_TIMEOUT_S));
  g_assert_true (inbox_has_text (&inboxes[0], "from the plain node"));
  w = (InboxWait) { inboxes + 2, 1, 2 };
  g_assert_true (wait_for (inboxes_reached, &w, WAIT_TIMEOUT_S));
  g_assert_true (inbox_has_text (&inboxes[2], "from the plain node"));

  for (guint i = 0; i < 3; i++)
    g_assert_cmpuint (stats_of (nodes[i]).frames_dropped, ==, 0);
  for (guint i = 0; i < 3; i++)
    stop_node (nodes[i]);
  for (guint i = 0; i < 3; i++)
    inbox_clear (&inboxes[i]);
}

static gboolean
frame_is_compressed (GBytes *frame)
{
  g_assert_cmpuint (g_bytes_get_size (frame), >=, 2);
  return (((const guint8 *) g_bytes_get_data (frame, NULL))[1] & GOSSIP_FRAME_FLAG_COMPRESSED) != 0;
}

static void
test_compress_threshold (void)
{
  const gsize min = 256;
  g_autoptr(GossipCodec) codec = gossip_codec_new (NULL, TRUE, min);
  g_autoptr(GossipKeyring) ring = gossip_keyring_new ((const guint8 *) K16, 16, NULL);
  g_autoptr(GossipCodec) sealed_codec = gossip_codec_new (ring, TRUE, min);
  g_autoptr(GossipConfig) on = compression_config (TRUE);
  g_autoptr(GossipConfig) off = compression_config (FALSE);
  GossipCluster *nodes[2];
  Inbox inbox;
  guint64 first_min, last_min;
  gsize crossing = 0;

  /* Codec level: the threshold applies to the body, exactly. */
  for (gsize len = min - 2; len <= min + 2; len++)
    {
      g_autofree char *body = compressible_text (len);
      g_autoptr(GError) error = NULL;
      g_autoptr(GBytes) frame = gossip_codec_seal (codec, (const guint8 *) body, len, &error);
      g_autoptr(GBytes) encrypted = gossip_codec_seal (sealed_codec, (const guint8 *) body, len, &error);
      g_autoptr(GBytes) opened = NULL;
      g_autoptr(GBytes) decrypted = NULL;

      g_assert_no_error (error);
      g_assert_cmpint (frame_is_compressed (frame), ==, len >= min);
      g_assert_cmpint (frame_is_compressed (encrypted), ==, len >= min);
      if (len >= min)
        g_assert_cmpuint (g_bytes_get_size (frame), <, len);
      opened = gossip_codec_open (codec, g_bytes_get_data (frame, NULL), g_bytes_get_size (frame), &error);
      g_assert_no_error (error);
      g_assert_cmpmem (g_bytes_get_data (opened, NULL), g_bytes_get_size (opened), body, len);
      decrypted = gossip_codec_open (sealed_codec, g_bytes_get_data (encrypted, NULL),
                                     g_bytes_get_size (encrypted), &error);
      g_assert_no_error (error);
      g_assert_cmpmem (g_bytes_get_data (decrypted, NULL), g_bytes_get_size (decrypted), body, len);
    }

  /* Cluster level: payloads on both sides of the threshold (whatever the
   * packet overhead, the body crosses it somewhere in this range) arrive
   * intact at a node with compression off. */
  nodes[0] = start_node (on);
  nodes[1] = start_node (off);
  g_assert_cmpint (join_one (nodes[1], nodes[0]), ==, 1);
  assert_converged (nodes, 2);
  inbox_init (&inbox);
  handle (nodes[1], 220, &inbox);
  first_min = last_min = G_MAXUINT64;
  for (gsize len = min - 96; len <= min + 16; len++)
    {
      g_autofree char *text = compressible_text (len);
      guint64 sent = send_and_measure (nodes[0], nodes[1], &inbox, text);

      /* Minima, because a probe may add to any one measurement. */
      if (len < min - 86)
        first_min = MIN (first_min, sent);
      if (len > min + 6)
        last_min = MIN (last_min, sent);
      if (crossing == 0 && len >= min - 86 && sent < first_min * 3 / 5)
        crossing = len;
    }
  g_assert_cmpuint (inbox_count (&inbox), ==, 113);
  /* The smaller payloads went plain, the larger ones compressed (to well
   * under 3/5: the frame header and its 40-byte sender block do not
   * compress). */
  g_test_message ("payload of %" G_GSIZE_FORMAT " bytes: first compressed frame; "
                  "plain frames >= %" G_GUINT64_FORMAT " bytes, compressed ones >= %" G_GUINT64_FORMAT,
                  crossing, first_min, last_min);
  g_assert_cmpuint (last_min, <, first_min * 3 / 5);
  g_assert_cmpuint (stats_of (nodes[1]).frames_dropped, ==, 0);

  stop_node (nodes[0]);
  stop_node (nodes[1]);
  inbox_clear (&inbox);
}

/* ---------------------------------------------------------------------------
 * IPv6
 * ------------------------------------------------------------------------- */

static void
test_ipv6_cluster (gconstpointer data)
{
  const char *transport = data;
  g_autoptr(GossipConfig) config = fast_config ();
  g_autoptr(GError) error = NULL;
  GossipCluster **nodes;
  Inbox inboxes[3];
  InboxWait w = { inboxes + 1, 2, 1 };
  gboolean http = g_str_equal (transport, "http");

  if (!ipv6_loopback_available ())
    {
      g_test_skip ("no IPv6 loopback on this machine");
      return;
    }

  g_assert_true (gossip_config_set_string (config, "transport", transport, &error));
  g_assert_true (gossip_config_set_string (config, "bind_addr", "[::1]:0", &error));
  g_assert_true (gossip_config_set_string (config, "encryption_key", K16, &error));
  g_assert_no_error (error);
  nodes = make_cluster (3, config);
  for (guint i = 0; i < 3; i++)
    {
      g_autofree char *advertise = gossip_cluster_get_advertise_address (nodes[i]);

      g_assert_true (g_str_has_prefix (advertise, http ? "http://[::1]:" : "[::1]:"));
      inbox_init (&inboxes[i]);
      handle (nodes[i], 230, &inboxes[i]);
    }
  assert_converged (nodes, 3);
  g_assert_true (gossip_cluster_send (nodes[0], 230, g_variant_new_string ("v6"), GOSSIP_SEND_NONE, &error));
  g_assert_no_error (error);
  g_assert_true (wait_for (inboxes_reached, &w, WAIT_TIMEOUT_S));
  free_cluster (nodes, 3);
  for (guint i = 0; i < 3; i++)
    inbox_clear (&inboxes[i]);
}

static gboolean
localhost_has_ipv6 (void)
{
  g_autoptr(GResolver) resolver = g_resolver_get_default ();
  GList *addresses = g_resolver_lookup_by_name (resolver, "localhost", NULL, NULL);
  gboolean found = FALSE;

  for (GList *l = addresses; l != NULL; l = l->next)
    found |= g_inet_address_get_family (l->data) == G_SOCKET_FAMILY_IPV6;
  g_resolver_free_addresses (addresses);
  return found;
}

static void
test_prefer_ipv6 (gconstpointer data)
{
  const char *transport = data;
  gboolean http = g_str_equal (transport, "http");
  g_autoptr(GossipConfig) v6 = fast_config ();
  g_autoptr(GossipConfig) v4 = fast_config ();
  g_autoptr(GError) error = NULL;
  GossipCluster *nodes[2];
  GossipCluster *plain;
  g_autofree char *advertise = NULL;
  g_autofree char *advertise4 = NULL;
  g_autofree char *by_name = NULL;
  const char *peers[2] = { NULL, NULL };

  if (!ipv6_loopback_available () || !localhost_has_ipv6 ())
    {
      g_test_skip ("“localhost” has no usable IPv6 address here");
      return;
    }

  for (guint i = 0; i < 2; i++)
    {
      GossipConfig *c = i == 0 ? v6 : v4;

      g_assert_true (gossip_config_set_string (c, "transport", transport, &error));
      g_assert_true (gossip_config_set_string (c, "bind_addr", "localhost:0", &error));
      g_assert_true (gossip_config_set_boolean (c, "prefer_ipv6", i == 0, &error));
      g_assert_no_error (error);
    }

  /* The name resolves to ::1 when IPv6 is preferred, 127.0.0.1 otherwise. */
  nodes[0] = start_node (v6);
  advertise = gossip_cluster_get_advertise_address (nodes[0]);
  g_assert_true (g_str_has_prefix (advertise, http ? "http://[::1]:" : "[::1]:"));
  plain = start_node (v4);
  advertise4 = gossip_cluster_get_advertise_address (plain);
  g_assert_true (g_str_has_prefix (advertise4, http ? "http://127.0.0.1:" : "127.0.0.1:"));
  stop_node (plain);

  /* Peers named "localhost:port" are reached over ::1. */
  nodes[1] = start_node (v6);
  by_name = g_strdup_printf ("localhost:%s", strrchr (advertise, ':') + 1);
  if (http)
    by_name[strlen (by_name) - 1] = '\0';   /* the URL's trailing "/" */
  peers[0] = by_name;
  g_assert_cmpint (gossip_cluster_join (nodes[1], peers, &error), ==, 1);
  g_assert_no_error (error);
  assert_converged (nodes, 2);

  stop_node (nodes[0]);
  stop_node (nodes[1]);
}

/* Without the crypto module an encrypted cluster cannot be made, and says
 * why; a wrong key length is still reported as such. Runs in a subprocess:
 * the module stays loaded once a keyring was made. */
static void
test_missing_crypto_module (void)
{
  if (g_test_subprocess ())
    {
      g_autoptr(GossipConfig) config = NULL;
      g_autoptr(GossipConfig) plain = fast_config ();
      g_autoptr(GError) error = NULL;
      GossipCluster *cluster;

      g_setenv ("GOSSIP_MODULE_DIR", "/nonexistent/gossip-modules", TRUE);
      config = keyed_config (K16, NULL);
      cluster = gossip_cluster_new (config, &error);
      g_assert_null (cluster);
      g_assert_error (error, GOSSIP_CLUSTER_ERROR, GOSSIP_CLUSTER_ERROR_FAILED);
      g_assert_true (g_str_has_prefix (error->message, "encryption is unavailable: cannot load libgossip's crypto module: "));
      g_assert_nonnull (strstr (error->message, "/nonexistent/gossip-modules/crypto-openssl.so"));
      g_clear_error (&error);

      /* An unencrypted cluster needs no module. */
      cluster = gossip_cluster_new (plain, &error);
      g_assert_no_error (error);
      g_object_unref (cluster);
      return;
    }
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_passed ();
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/security/encryption/cluster", test_encrypted_cluster);
  g_test_add_func ("/security/encryption/wrong-key", test_wrong_key);
  g_test_add_func ("/security/encryption/key-rotation", test_key_rotation);
  g_test_add_func ("/security/encryption/bad-key-lengths", test_bad_key_lengths);
  g_test_add_func ("/security/encryption/missing-module", test_missing_crypto_module);
  g_test_add_func ("/security/bearer-token", test_bearer_token);
  g_test_add_func ("/security/app-version", test_app_version);
  g_test_add_func ("/security/compression/mixed", test_compression_mixed);
  g_test_add_func ("/security/compression/threshold", test_compress_threshold);
  g_test_add_data_func ("/security/ipv6/cluster/socket", "socket", test_ipv6_cluster);
  g_test_add_data_func ("/security/ipv6/cluster/http", "http", test_ipv6_cluster);
  g_test_add_data_func ("/security/ipv6/prefer-ipv6/socket", "socket", test_prefer_ipv6);
  g_test_add_data_func ("/security/ipv6/prefer-ipv6/http", "http", test_prefer_ipv6);

  return g_test_run ();
}
