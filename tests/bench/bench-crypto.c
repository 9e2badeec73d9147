/* bench-crypto.c — what encryption (AES-GCM) and compression (Snappy) cost:
 * request/reply round trips and reliable send throughput between two nodes
 * on loopback, with both off and both on, in the same run.
 *
 *   bench-crypto [-n REQUESTS] [-m MESSAGES] [-s SIZES] [-w WINDOW] [-r ROUNDS]
 *                [-t socket|http]
 *
 * For each payload size, two pairs of nodes are started and joined, one
 * with encryption and compression off, one with both on. In each of ROUNDS
 * interleaved rounds, node A of each pair sends REQUESTS/ROUNDS sequential
 * requests to its B (whose handler answers at once with the same payload)
 * and MESSAGES/ROUNDS reliable one-way messages with at most WINDOW in
 * flight (throughput counts what B's handler saw). The codec column times
 * gossip_codec_seal() + gossip_codec_open() of one body alone. Payloads are
 * JSON-like text, so compression has something to work with.
 *
 * SPDX-License-Identifier: MIT
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <gossip/gossip.h>
#include "gossip-frame-private.h"

#define TYPE_REQUEST 150
#define TYPE_MESSAGE 151
#define KEY_32       "bench-key-0123456789abcdefghijkl"
#define WARMUP       50

typedef struct
{
  GossipCluster *a;
  GossipCluster *b;
  GMutex         lock;
  GCond          cond;
  guint64        received;      /* messages seen by B's handler */
} Pair;

typedef struct
{
  const char *mode;
  gsize       size;
  double      p50_us;
  double      p99_us;
  double      mean_us;
  double      msgs_per_s;
  double      mib_per_s;
  double      wire_bytes_per_msg;
  double      codec_us;
} Result;

static gint opt_requests = 2000;
static gint opt_messages = 5000;
static gint opt_window = 32;
static gint opt_rounds = 5;
static char *opt_sizes = NULL;
static char *opt_transport = NULL;

static GOptionEntry entries[] = {
  { "requests", 'n', 0, G_OPTION_ARG_INT, &opt_requests, "Request/reply round trips per case (2000)", "N" },
  { "messages", 'm', 0, G_OPTION_ARG_INT, &opt_messages, "Reliable messages per case (5000)", "N" },
  { "window", 'w', 0, G_OPTION_ARG_INT, &opt_window, "Messages in flight at most (32)", "N" },
  { "rounds", 'r', 0, G_OPTION_ARG_INT, &opt_rounds, "Interleaved rounds per case (5)", "N" },
  { "sizes", 's', 0, G_OPTION_ARG_STRING, &opt_sizes, "Payload sizes in bytes (64,1024,16384)", "LIST" },
  { "transport", 't', 0, G_OPTION_ARG_STRING, &opt_transport, "socket or http (socket)", "NAME" },
  { NULL }
};

static void
on_request (GossipCluster *cluster, GossipMessage *message, gpointer user_data)
{
  gossip_message_reply (message, gossip_message_get_payload (message), NULL);
}

static void
on_message (GossipCluster *cluster, GossipMessage *message, gpointer user_data)
{
  Pair *pair = user_data;

  g_mutex_lock (&pair->lock);
  pair->received++;
  g_cond_signal (&pair->cond);
  g_mutex_unlock (&pair->lock);
}

static GossipCluster *
start_node (const char *transport,
            gboolean    secure)
{
  g_autoptr(GossipConfig) config = gossip_config_new ();
  g_autoptr(GError) error = NULL;
  GossipCluster *node;

  if (!gossip_config_set_string (config, "transport", transport, &error) ||
      !gossip_config_set_string (config, "bind_addr", "127.0.0.1:0", &error) ||
      (secure && !gossip_config_set_string (config, "encryption_key", KEY_32, &error)) ||
      !gossip_config_set_boolean (config, "compression", secure, &error))
    g_error ("configuration: %s", error->message);

  node = gossip_cluster_new (config, &error);
  if (node == NULL || !gossip_cluster_start (node, &error))
    g_error ("cannot start a node: %s", error->message);
  return node;
}

static Pair *
pair_new (const char *transport,
          gboolean    secure)
{
  Pair *pair = g_new0 (Pair, 1);
  g_autoptr(GError) error = NULL;
  g_autofree char *seed = NULL;
  const char *peers[2] = { NULL, NULL };
  gint64 deadline;

  g_mutex_init (&pair->lock);
  g_cond_init (&pair->cond);
  pair->a = start_node (transport, secure);
  pair->b = start_node (transport, secure);

  seed = gossip_cluster_get_advertise_address (pair->b);
  peers[0] = seed;
  if (gossip_cluster_join (pair->a, peers, &error) != 1)
    g_error ("join failed%s%s", error ? ": " : "", error ? error->message : "");

  deadline = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;
  while (gossip_cluster_count (pair->a, GOSSIP_NODE_ALIVE) != 2 ||
         gossip_cluster_count (pair->b, GOSSIP_NODE_ALIVE) != 2)
    {
      if (g_get_monotonic_time () > deadline)
        g_error ("the two nodes did not converge");
      g_usleep (1000);
    }

  if (!gossip_cluster_handle (pair->b, TYPE_REQUEST, TRUE, gossip_cluster_get_context (pair->b),
                              on_request, NULL, NULL, &error) ||
      !gossip_cluster_handle (pair->b, TYPE_MESSAGE, FALSE, gossip_cluster_get_context (pair->b),
                              on_message, pair, NULL, &error))
    g_error ("handle: %s", error->message);
  return pair;
}

static void
pair_free (Pair *pair)
{
  gossip_cluster_stop (pair->a);
  gossip_cluster_stop (pair->b);
  g_object_unref (pair->a);
  g_object_unref (pair->b);
  g_mutex_clear (&pair->lock);
  g_cond_clear (&pair->cond);
  g_free (pair);
}

/* JSON-like text of exactly @size bytes. */
static char *
make_payload (gsize size)
{
  GString *s = g_string_sized_new (size + 128);

  for (guint i = 0; s->len < size; i++)
    g_string_append_printf (s, "{\"id\":%u,\"name\":\"node-%u\",\"state\":\"alive\",\"load\":%u.%02u},",
                            i, i % 97, (i * 7919) % 100, (i * 104729) % 100);
  g_string_truncate (s, size);
  return g_string_free (s, FALSE);
}

static int
compare_gint64 (gconstpointer a, gconstpointer b)
{
  gint64 x = *(const gint64 *) a, y = *(const gint64 *) b;

  return x < y ? -1 : x > y;
}

static double
percentile (const gint64 *sorted, guint n, double p)
{
  guint index = (guint) (p * (n - 1) + 0.5);

  return (double) sorted[MIN (index, n - 1)];
}

static int
compare_double (gconstpointer a, gconstpointer b)
{
  double x = *(const double *) a, y = *(const double *) b;

  return x < y ? -1 : x > y;
}

/* @count round trips, appended to @rtt. */
static void
measure_rtt (Pair     *pair,
             GVariant *payload,
             guint     count,
             GArray   *rtt)
{
  const char *b_id = gossip_cluster_get_node_id (pair->b);

  for (guint i = 0; i < count; i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(GVariant) reply = NULL;
      gint64 t0 = g_get_monotonic_time ();
      gint64 elapsed;

      reply = gossip_cluster_send_request (pair->a, b_id, TYPE_REQUEST, payload,
                                           5 * G_USEC_PER_SEC, NULL, &error);
      if (reply == NULL)
        g_error ("request failed: %s", error->message);
      elapsed = g_get_monotonic_time () - t0;
      g_array_append_val (rtt, elapsed);
    }
}

/* @count reliable one-way messages, at most opt_window in flight. Returns
 * messages per second; adds the frame bytes sent to *@wire_bytes. */
static double
measure_throughput (Pair     *pair,
                    GVariant *payload,
                    guint     count,
                    guint64  *wire_bytes)
{
  const char *b_id = gossip_cluster_get_node_id (pair->b);
  GossipClusterStats before, after;
  guint64 base, sent = 0;
  gint64 start, elapsed;

  gossip_cluster_get_stats (pair->a, &before);
  start = g_get_monotonic_time ();
  g_mutex_lock (&pair->lock);
  base = pair->received;
  while (pair->received - base < count)
    {
      /* The condition is checked again after every send, which drops the
       * lock: a wake-up missed meanwhile is not waited for. */
      if (sent < count && sent - (pair->received - base) < (guint64) opt_window)
        {
          g_autoptr(GError) error = NULL;

          g_mutex_unlock (&pair->lock);
          if (!gossip_cluster_send_to (pair->a, b_id, TYPE_MESSAGE, payload, GOSSIP_SEND_RELIABLE, &error))
            g_error ("send_to: %s", error->message);
          g_mutex_lock (&pair->lock);
          sent++;
        }
      else if (!g_cond_wait_until (&pair->cond, &pair->lock, g_get_monotonic_time () + 10 * G_USEC_PER_SEC))
        g_error ("messages stopped arriving (%" G_GUINT64_FORMAT " of %u)", pair->received - base, count);
    }
  g_mutex_unlock (&pair->lock);
  elapsed = g_get_monotonic_time () - start;
  gossip_cluster_get_stats (pair->a, &after);

  *wire_bytes += after.bytes_sent - before.bytes_sent;
  return count / (elapsed / (double) G_USEC_PER_SEC);
}

/* Seal + open of one body of @size bytes, in µs: the codec's own cost,
 * without network or engine. */
static double
measure_codec (gboolean secure,
               gsize    size)
{
  g_autoptr(GossipKeyring) ring = secure ? gossip_keyring_new ((const guint8 *) KEY_32, 32, NULL) : NULL;
  g_autoptr(GossipCodec) codec = gossip_codec_new (ring, secure, 256);
  g_autofree char *body = make_payload (size);
  const guint rounds = 20000;
  gint64 start = g_get_monotonic_time ();

  for (guint i = 0; i < rounds; i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(GBytes) frame = gossip_codec_seal (codec, (const guint8 *) body, size, &error);
      g_autoptr(GBytes) opened = NULL;

      if (frame == NULL)
        g_error ("seal: %s", error->message);
      opened = gossip_codec_open (codec, g_bytes_get_data (frame, NULL), g_bytes_get_size (frame), &error);
      if (opened == NULL)
        g_error ("open: %s", error->message);
    }
  return (g_get_monotonic_time () - start) / (double) rounds;
}

/* Both modes for one payload size, interleaved over opt_rounds rounds (the
 * order alternating) so that drift on the machine — TIME_WAIT sockets piling
 * up, frequency scaling, other load — hits both alike. Round trips are
 * pooled; throughput is the median of the rounds. */
static void
run_size (const char *transport,
          gsize       size,
          Result      results[2])
{
  g_autofree char *text = make_payload (size);
  g_autoptr(GVariant) payload = g_variant_ref_sink (g_variant_new_string (text));
  Pair *pairs[2];
  GArray *rtt[2];
  double *rates[2];
  guint64 wire[2] = { 0, 0 };
  guint rtt_per_round = MAX (1, opt_requests / opt_rounds);
  guint msgs_per_round = MAX (1, opt_messages / opt_rounds);

  for (guint m = 0; m < 2; m++)
    {
      pairs[m] = pair_new (transport, m == 1);
      rtt[m] = g_array_new (FALSE, FALSE, sizeof (gint64));
      rates[m] = g_new0 (double, opt_rounds);
      /* Warm-up: connections, caches, the handler's first run. */
      measure_rtt (pairs[m], payload, WARMUP, rtt[m]);
      g_array_set_size (rtt[m], 0);
    }

  for (gint round = 0; round < opt_rounds; round++)
    for (guint k = 0; k < 2; k++)
      {
        guint m = (round % 2 == 0) ? k : 1 - k;

        measure_rtt (pairs[m], payload, rtt_per_round, rtt[m]);
        rates[m][round] = measure_throughput (pairs[m], payload, msgs_per_round, &wire[m]);
      }

  for (guint m = 0; m < 2; m++)
    {
      Result *r = &results[m];
      gint64 *samples = (gint64 *) (void *) rtt[m]->data;
      double total = 0;

      g_array_sort (rtt[m], compare_gint64);
      for (guint i = 0; i < rtt[m]->len; i++)
        total += samples[i];
      qsort (rates[m], opt_rounds, sizeof (double), compare_double);

      r->mode = m == 1 ? "aes-gcm+snappy" : "plain";
      r->size = size;
      r->p50_us = percentile (samples, rtt[m]->len, 0.50);
      r->p99_us = percentile (samples, rtt[m]->len, 0.99);
      r->mean_us = total / rtt[m]->len;
      r->msgs_per_s = rates[m][opt_rounds / 2];
      r->mib_per_s = r->msgs_per_s * size / (1024.0 * 1024.0);
      r->wire_bytes_per_msg = (double) wire[m] / (msgs_per_round * (double) opt_rounds);
      r->codec_us = measure_codec (m == 1, size);

      g_array_unref (rtt[m]);
      g_free (rates[m]);
      pair_free (pairs[m]);
    }
}

static double
relative (double secure, double plain)
{
  return plain > 0 ? 100.0 * (secure - plain) / plain : 0;
}

int
main (int argc, char **argv)
{
  g_autoptr(GOptionContext) context = g_option_context_new ("— cost of encryption and compression");
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) sizes = NULL;
  const char *transport;

  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      g_printerr ("%s\n", error->message);
      return 2;
    }
  if (opt_requests < 1 || opt_messages < 1 || opt_window < 1 || opt_rounds < 1)
    {
      g_printerr ("requests, messages, window and rounds must be positive\n");
      return 2;
    }
  transport = opt_transport != NULL ? opt_transport : "socket";
  sizes = g_strsplit (opt_sizes != NULL ? opt_sizes : "64,1024,16384", ",", -1);

  g_print ("bench-crypto: transport %s; per case %d round trips and %d reliable messages "
           "(window %d), in %d interleaved rounds\n",
           transport, opt_requests, opt_messages, opt_window, opt_rounds);
  g_print ("rtt: request/reply through the engine; msgs/s: median of the rounds; "
           "codec: seal+open of one frame alone\n\n");
  g_print ("%-15s %8s %9s %9s %9s %9s %9s %10s %10s\n",
           "mode", "payload", "rtt p50", "rtt p99", "rtt mean", "msgs/s", "MiB/s", "wire B/msg", "codec us");

  for (guint i = 0; sizes[i] != NULL; i++)
    {
      guint64 size = 0;
      Result r[2];

      if (!g_ascii_string_to_unsigned (sizes[i], 10, 1, GOSSIP_MAX_PAYLOAD_SIZE / 2, &size, &error))
        {
          g_printerr ("bad size “%s”: %s\n", sizes[i], error->message);
          return 2;
        }
      run_size (transport, size, r);
      for (guint m = 0; m < 2; m++)
        g_print ("%-15s %7" G_GSIZE_FORMAT "B %7.0fus %7.0fus %7.0fus %9.0f %9.2f %10.0f %10.2f\n",
                 r[m].mode, r[m].size, r[m].p50_us, r[m].p99_us, r[m].mean_us,
                 r[m].msgs_per_s, r[m].mib_per_s, r[m].wire_bytes_per_msg, r[m].codec_us);
      g_print ("%-15s %7" G_GSIZE_FORMAT "B %+8.1f%% %+8.1f%% %+8.1f%% %+8.1f%% %+8.1f%% %+9.1f%% %+9.2fus\n\n",
               "relative cost", (gsize) size,
               relative (r[1].p50_us, r[0].p50_us), relative (r[1].p99_us, r[0].p99_us),
               relative (r[1].mean_us, r[0].mean_us), relative (r[1].msgs_per_s, r[0].msgs_per_s),
               relative (r[1].mib_per_s, r[0].mib_per_s),
               relative (r[1].wire_bytes_per_msg, r[0].wire_bytes_per_msg),
               r[1].codec_us - r[0].codec_us);
    }

  g_free (opt_sizes);
  g_free (opt_transport);
  return 0;
}
