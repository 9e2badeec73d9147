/* test-hostile-bounds.c — every table a peer can grow is bounded (issue 14).
 *
 * Each bound is a configuration parameter with a counter in
 * GossipClusterStats (PROTOCOL.md, "Limits"): members (max_members),
 * queued updates (max_broadcast_bytes, and updates too large to piggyback),
 * remembered message ids (max_dedup_entries), probes in flight
 * (max_probes), DNS lookups in flight (max_pending_lookups), incoming
 * connections in total and per host (max_incoming_streams,
 * max_incoming_streams_per_peer) and the time a request has to arrive
 * (stream_read_timeout). Each is pushed past its limit here, by a member on
 * virtual time or by raw connections on loopback, and must hold and count.
 *
 * SPDX-License-Identifier: MIT
 */
#include "config.h"

#include <string.h>
#include <errno.h>
#include <unistd.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include "sim-harness.h"
#include "test-packets.h"
#include "test-util.h"
#include "gossip-private.h"
#include "gossip-payload-private.h"
#include "gossip-socket-transport-private.h"

#define SEC      G_USEC_PER_SEC
#define MSEC     G_TIME_SPAN_MILLISECOND
#define SETUP_BOUND (60 * SEC)
#define MSG_TYPE 202

static GossipClusterStats
stats_of (GossipCluster *cluster)
{
  GossipClusterStats s;
  gossip_cluster_get_stats (cluster, &s);
  return s;
}

static gboolean
converged (SimHarness *sim, gpointer data)
{
  return sim_converged (sim, NULL);
}

/* A converged sim cluster of @n with @config; returns member 0's id. */
static SimHarness *
sim_cluster (guint32 seed, guint n, GossipConfig *config, guint8 *id0)
{
  SimHarness *sim = sim_new (seed);

  sim_add_nodes (sim, n, config);
  g_assert_true (sim_run_until (sim, converged, NULL, SETUP_BOUND));
  g_assert_true (gossip_uuid_parse (sim_node (sim, 0)->id, id0));
  return sim;
}

static void
fake_id (guint i, guint8 *id)
{
  memset (id, 0, GOSSIP_UUID_SIZE);
  id[0] = 0xfa;
  id[6] = 0x70;
  id[8] = 0x80;
  id[12] = (guint8) (i >> 24);
  id[13] = (guint8) (i >> 16);
  id[14] = (guint8) (i >> 8);
  id[15] = (guint8) i;
}

/* GOSSIP from @sender with @count ALIVE updates about fake members
 * @first.., each with @meta_bytes of metadata. */
static GBytes *
fake_members_body (const guint8 *sender, guint first, guint count, gsize meta_bytes)
{
  GossipWriter w;
  g_autoptr(GHashTable) md = _gossip_metadata_new ();
  g_autofree char *value = g_strnfill (meta_bytes, 'm');

  if (meta_bytes > 0)
    g_hash_table_insert (md, g_strdup ("k"), g_strdup (value));
  gossip_writer_init (&w);
  gossip_writer_put_u8 (&w, GOSSIP_PACKET_GOSSIP);
  gossip_writer_put_u8 (&w, 0);
  gossip_writer_put_raw (&w, sender, GOSSIP_UUID_SIZE);
  gossip_writer_put_u8 (&w, 1);
  gossip_writer_put_u16 (&w, count);
  for (guint i = 0; i < count; i++)
    {
      GossipUpdate u = { 0 };
      g_autofree char *address = g_strdup_printf ("10.251.%u.%u:7946", ((first + i) >> 8) & 0xff, (first + i) & 0xff);

      u.kind = GOSSIP_UPDATE_ALIVE;
      fake_id (first + i, u.id);
      u.incarnation = 1;
      u.address = address;
      u.meta_version = 1;
      u.metadata = md;
      u.app_version = (char *) "";
      _gossip_update_write (&w, &u);
    }
  return gossip_writer_steal_bytes (&w);
}

/* Delivers @body to node @to as member @from sends it. */
static void
send_from (SimHarness *sim, guint to, guint from, GBytes *body, gboolean reliable)
{
  g_autoptr(GossipCodec) codec = sim_codec_as (sim, from, NULL);
  g_autoptr(GBytes) frame = gossip_codec_seal (codec, g_bytes_get_data (body, NULL), g_bytes_get_size (body), NULL);

  g_assert_nonnull (frame);
  sim_deliver_from (sim, to, from, frame, reliable, NULL);
}

/* Issue 14: "Member table ... grow[s] without bound with fake ids". */
static void
test_members (void)
{
  g_autoptr(GossipConfig) config = sim_config_fast ();
  g_autoptr(SimHarness) sim = NULL;
  guint8 id0[GOSSIP_UUID_SIZE];
  GossipCluster *target;
  GossipClusterStats before, after;

  sim_config_set (config, "max_members", "6");
  sim = sim_cluster (51, 4, config, id0);
  target = sim_node (sim, 1)->cluster;

  before = stats_of (target);
  {
    g_autoptr(GBytes) body = fake_members_body (id0, 0, 5, 0);
    send_from (sim, 1, 0, body, FALSE);
  }
  after = stats_of (target);
  g_assert_cmpuint (gossip_cluster_count_all (target), ==, 6);
  g_assert_cmpuint (after.members_refused - before.members_refused, ==, 3);

  /* A join into the full table is told why. */
  {
    g_autoptr(GossipConfig) joiner_config = sim_config_fast ();
    SimNode *joiner = sim_add_node (sim, joiner_config);
    gint64 start = sim_now (sim);

    sim_join (sim, joiner->index, 1);
    while (!joiner->join_done && sim_now (sim) - start < 10 * SEC)
      sim_advance (sim, 10 * MSEC);
    g_assert_true (joiner->join_done);
    g_assert_cmpint (joiner->join_accepted, ==, 0);
    g_assert_cmpuint (gossip_cluster_count_all (target), <=, 6);
  }
}

/* Issue 14: "retransmit queue (entries over 900 B never leave)". */
static void
test_broadcast_queue (void)
{
  g_autoptr(GossipConfig) config = sim_config_fast ();
  g_autoptr(SimHarness) sim = NULL;
  guint8 id0[GOSSIP_UUID_SIZE];
  GossipCluster *target;
  GossipClusterStats before, after;
  gsize peak = 0;

  sim_config_set (config, "max_broadcast_bytes", "4096");
  sim = sim_cluster (52, 3, config, id0);
  target = sim_node (sim, 1)->cluster;

  /* 200 news of 60-odd bytes each: the queue stays under 4 KiB, the
   * oldest are dropped and counted. */
  before = stats_of (target);
  for (guint i = 0; i < 20; i++)
    {
      g_autoptr(GBytes) body = fake_members_body (id0, i * 10, 10, 0);

      send_from (sim, 1, 0, body, FALSE);
      peak = MAX (peak, target->broadcast_bytes);
    }
  after = stats_of (target);
  g_test_message ("queue peaked at %" G_GSIZE_FORMAT " bytes; %" G_GUINT64_FORMAT " updates dropped",
                  peak, after.broadcasts_dropped - before.broadcasts_dropped);
  g_assert_cmpuint (peak, <=, 4096);
  g_assert_cmpuint (after.broadcasts_dropped - before.broadcasts_dropped, >, 0);

  /* An update too large to piggyback is not queued (it went by itself,
   * and state exchanges carry it), and counted. */
  before = stats_of (target);
  {
    gsize queued = target->broadcast_bytes;
    g_autoptr(GBytes) body = fake_members_body (id0, 1000, 1, 2000);

    send_from (sim, 1, 0, body, TRUE);
    g_assert_cmpuint (target->broadcast_bytes, <=, queued);
  }
  after = stats_of (target);
  g_assert_cmpuint (after.broadcasts_dropped - before.broadcasts_dropped, ==, 1);
}

static GBytes *
broadcast_body (const guint8 *origin, guint64 msg_id)
{
  return test_user_packet (origin, MSG_TYPE, msg_id, TRUE, g_variant_new_int64 ((gint64) msg_id));
}

/* Issue 14: "dedup history ... grow[s] without bound". */
static void
test_dedup (void)
{
  g_autoptr(GossipConfig) config = sim_config_fast ();
  g_autoptr(SimHarness) sim = NULL;
  guint8 id0[GOSSIP_UUID_SIZE];
  GossipCluster *target;
  GossipClusterStats before, after;

  sim_config_set (config, "max_dedup_entries", "1024");
  sim = sim_cluster (53, 3, config, id0);
  target = sim_node (sim, 1)->cluster;

  before = stats_of (target);
  for (guint64 i = 0; i < 1500; i++)
    {
      g_autoptr(GBytes) body = broadcast_body (id0, 0xd0d0000 + i);
      send_from (sim, 1, 0, body, FALSE);
    }
  after = stats_of (target);
  g_assert_cmpuint (g_queue_get_length (&target->history_order), <=, 1024);
  g_assert_cmpuint (g_hash_table_size (target->history), ==, g_queue_get_length (&target->history_order));
  g_assert_cmpuint (after.dedup_evicted - before.dedup_evicted, >=, 1500 - 1024);
  /* A duplicate of a recent one is still dropped. */
  {
    g_autoptr(GBytes) body = broadcast_body (id0, 0xd0d0000 + 1499);
    before = stats_of (target);
    send_from (sim, 1, 0, body, FALSE);
    after = stats_of (target);
    g_assert_cmpuint (after.messages_delivered, ==, before.messages_delivered);
  }
}


/* Issue 14: "probe table grow[s] without bound". */
static void
test_probes (void)
{
  g_autoptr(GossipConfig) config = sim_config_fast ();
  g_autoptr(SimHarness) sim = NULL;
  guint8 id0[GOSSIP_UUID_SIZE], id2[GOSSIP_UUID_SIZE];
  GossipCluster *target;
  GossipClusterStats before, after;

  sim_config_set (config, "max_probes", "16");
  sim = sim_cluster (54, 3, config, id0);
  target = sim_node (sim, 1)->cluster;
  g_assert_true (gossip_uuid_parse (sim_node (sim, 2)->id, id2));
  /* Node 2 does not answer: every relayed probe stays in flight. */
  sim_set_deaf (sim, 2, TRUE);

  before = stats_of (target);
  for (guint i = 0; i < 40; i++)
    {
      g_autoptr(GBytes) body = test_ping_req_packet (1000 + i, id2, sim_node (sim, 2)->address, id0,
                                              sim_node (sim, 0)->address);
      g_autoptr(GossipCodec) codec = sim_codec_as (sim, 0, NULL);
      g_autoptr(GBytes) frame = gossip_codec_seal (codec, g_bytes_get_data (body, NULL),
                                                   g_bytes_get_size (body), NULL);

      gossip_transport_deliver (GOSSIP_TRANSPORT (sim_node (sim, 1)->transport), frame, FALSE,
                                sim_node (sim, 0)->address, NULL);
    }
  sim_iterate (sim);
  after = stats_of (target);
  g_test_message ("%u probes in flight, %" G_GUINT64_FORMAT " refused",
                  g_hash_table_size (target->probes), after.probes_refused - before.probes_refused);
  g_assert_cmpuint (g_hash_table_size (target->probes), <=, 16);
  g_assert_cmpuint (after.probes_refused - before.probes_refused, >=, 40 - 16);
  sim_set_deaf (sim, 2, FALSE);
}

/* ---- real sockets -------------------------------------------------------- */

/* A TCP connection to @address ("127.0.0.1:port") from @source_ip. */
static int
raw_connect (const char *address, const char *source_ip)
{
  g_autofree char *host = NULL;
  const char *colon = strrchr (address, ':');
  struct sockaddr_in to = { 0 }, from = { 0 };
  int fd = socket (AF_INET, SOCK_STREAM, 0);

  g_assert_cmpint (fd, >=, 0);
  host = g_strndup (address, colon - address);
  to.sin_family = AF_INET;
  to.sin_port = htons ((guint16) atoi (colon + 1));
  g_assert_cmpint (inet_pton (AF_INET, host, &to.sin_addr), ==, 1);
  from.sin_family = AF_INET;
  g_assert_cmpint (inet_pton (AF_INET, source_ip, &from.sin_addr), ==, 1);
  g_assert_cmpint (bind (fd, (struct sockaddr *) &from, sizeof from), ==, 0);
  g_assert_cmpint (connect (fd, (struct sockaddr *) &to, sizeof to), ==, 0);
  return fd;
}

/* Whether the peer closed @fd (EOF or reset), waiting up to @timeout_s. */
static gboolean
closed_within (int fd, double timeout_s)
{
  gint64 end = g_get_monotonic_time () + (gint64) (timeout_s * G_USEC_PER_SEC);
  struct timeval tv = { 0, 50000 };
  char c;

  setsockopt (fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  while (g_get_monotonic_time () < end)
    {
      ssize_t n = recv (fd, &c, 1, 0);

      if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK))
        return TRUE;
    }
  return FALSE;
}

typedef struct {
  GossipCluster *node;
  guint64        above;
} RefusedWait;

static gboolean
streams_refused_above (gpointer data)
{
  RefusedWait *w = data;

  return stats_of (w->node).streams_refused > w->above;
}

/* Issue 14: "256 idle connections re-opened as they time out block joins
 * (no per-peer cap)" and "HTTP transport: no connection cap and no
 * idle/header timeout". */
static void
test_connection_caps (gconstpointer data)
{
  const char *transport = data;
  gboolean http = g_strcmp0 (transport, "http") == 0;
  g_autoptr(GossipConfig) config = fast_config ();
  g_autoptr(GossipConfig) other = fast_config ();
  g_autoptr(GError) error = NULL;
  g_autoptr(GossipCluster) victim = NULL;
  g_autoptr(GossipCluster) joiner = NULL;
  g_autofree char *address = NULL;
  g_autofree char *hostport = NULL;
  int fds[8];
  int extra;
  RefusedWait w;

  g_assert_true (gossip_config_set_string (config, "transport", transport, &error));
  g_assert_true (gossip_config_set_int (config, "max_incoming_streams", 8, &error));
  g_assert_true (gossip_config_set_int (config, "max_incoming_streams_per_peer", 2, &error));
  g_assert_true (gossip_config_set_string (config, "stream_read_timeout", "1s", &error));
  g_assert_true (gossip_config_set_string (other, "transport", transport, &error));
  /* The joiner's connections come from another loopback address. */
  g_assert_true (gossip_config_set_string (other, "bind_addr", http ? "http://127.0.0.2:0" : "127.0.0.2:0", &error));
  g_assert_no_error (error);

  victim = gossip_cluster_new (config, &error);
  g_assert_no_error (error);
  g_assert_true (gossip_cluster_start (victim, &error));
  address = gossip_cluster_get_advertise_address (victim);
  hostport = g_str_has_prefix (address, "http://") ? g_strndup (address + 7, strcspn (address + 7, "/"))
                                                    : g_strdup (address);

  /* Half the slots (4) fill from one host; after that the host gets no
   * more than its 2 (it has 4): the next connection is closed at once. */
  for (guint i = 0; i < 4; i++)
    fds[i] = raw_connect (hostport, "127.0.0.1");
  /* Not a byte is sent on them: a connection counts from its accept. */

  g_usleep (200000);
  w = (RefusedWait) { victim, stats_of (victim).streams_refused };
  extra = raw_connect (hostport, "127.0.0.1");

  g_assert_true (wait_for (streams_refused_above, &w, 5));
  g_assert_true (closed_within (extra, 5));
  close (extra);

  /* Another host still gets in: a join from 127.0.0.2 works. */
  joiner = gossip_cluster_new (other, &error);
  g_assert_no_error (error);
  g_assert_true (gossip_cluster_start (joiner, &error));
  {
    g_autofree char *joiner_address = gossip_cluster_get_advertise_address (joiner);
    const char *peers[] = { address, NULL };

    g_test_message ("joiner at %s joins %s", joiner_address, address);
    g_assert_cmpint (gossip_cluster_join (joiner, peers, &error), ==, 1);
    g_assert_no_error (error);
  }

  /* The idle attacker connections are closed after stream_read_timeout. */
  for (guint i = 0; i < 4; i++)
    {
      g_assert_true (closed_within (fds[i], 5));
      close (fds[i]);
    }
  g_test_message ("%s: extra connection refused, idle ones closed after 1 s, join from another host accepted",
                  transport);

  gossip_cluster_stop (joiner);
  gossip_cluster_stop (victim);
}

typedef struct {
  GossipTransport *t;
} LookupWait;

/* Issue 14: "one DNS lookup each, unbounded". */
static void
test_lookups (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GossipTransport) t = gossip_socket_transport_new ("127.0.0.1:0", FALSE, FALSE, &error);
  GossipTransportLimits limits = { 16, 16, 2, 10 * G_USEC_PER_SEC };
  g_autoptr(GBytes) frame = g_bytes_new_static ("x", 1);
  guint64 streams = 0, lookups = 0;

  g_assert_no_error (error);
  _gossip_transport_set_limits (t, &limits);
  g_assert_true (gossip_transport_start (t, &error));
  /* Sent synchronously, resolved asynchronously: the first two are in
   * flight when the others are sent. */
  for (guint i = 0; i < 10; i++)
    {
      g_autofree char *name = g_strdup_printf ("host-%u.invalid:7946", i);
      gossip_transport_send_datagram (t, name, frame);
    }
  _gossip_transport_get_refusals (t, &streams, &lookups);
  g_assert_cmpuint (lookups, ==, 8);
  g_assert_cmpuint (GOSSIP_SOCKET_TRANSPORT (t)->pending_lookups, ==, 2);
  gossip_transport_stop (t);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/hostile/bounds/members", test_members);
  g_test_add_func ("/hostile/bounds/broadcast-queue", test_broadcast_queue);
  g_test_add_func ("/hostile/bounds/dedup", test_dedup);
  g_test_add_func ("/hostile/bounds/probes", test_probes);
  g_test_add_data_func ("/hostile/bounds/connections/socket", "socket", test_connection_caps);
  g_test_add_data_func ("/hostile/bounds/connections/http", "http", test_connection_caps);
  g_test_add_func ("/hostile/bounds/lookups", test_lookups);

  return g_test_run ();
}
