/* test-state-paging.c — large state and large datagrams (issue 14).
 *
 * A datagram's body is bounded after decompression (PROTOCOL.md,
 * "Carriers"): a compressed datagram that expands beyond
 * GOSSIP_MAX_DATAGRAM_BODY is refused and counted, the same frame over a
 * stream is not.
 *
 * On virtual time over the in-memory network (tests/sim-harness.c).
 *
 * SPDX-License-Identifier: MIT
 */
#include "config.h"

#include <string.h>

#include "sim-harness.h"
#include "test-packets.h"
#include "gossip-private.h"
#include "gossip-payload-private.h"

#define SEC      G_USEC_PER_SEC
#define MSEC     G_TIME_SPAN_MILLISECOND
#define MSG_TYPE 200
#define SETUP_BOUND (60 * SEC)

static GossipClusterStats
stats_of (SimHarness *sim, guint index)
{
  GossipClusterStats s;
  gossip_cluster_get_stats (sim_node (sim, index)->cluster, &s);
  return s;
}

static gboolean
converged (SimHarness *sim, gpointer data)
{
  return sim_converged (sim, NULL);
}

static void
count_message (GossipCluster *cluster, GossipMessage *message, gpointer user_data)
{
  (*(guint *) user_data)++;
}

/* A best-effort broadcast USER packet from @origin carrying @size zero
 * bytes: compresses about 21:1. */
static GBytes *
user_body (const guint8 *origin, guint64 message_id, gsize size)
{
  g_autofree guint8 *zeros = g_malloc0 (size);

  return test_user_packet (origin, MSG_TYPE, message_id, TRUE, gossip_payload_new_bytes (zeros, size));
}

static void
deliver_frame (SimHarness *sim, guint index, GBytes *frame, gboolean reliable)
{
  gossip_transport_deliver (GOSSIP_TRANSPORT (sim_node (sim, index)->transport), frame, reliable,
                            sim_node (sim, 0)->address, NULL);
  sim_iterate (sim);
}

/* 7 datagrams of 61 KB that each expanded 21x made a join fail: a
 * compressed datagram may not expand beyond GOSSIP_MAX_DATAGRAM_BODY. */
static void
test_datagram_expansion (void)
{
  const guint n = 2, target = 1;
  g_autoptr(SimHarness) sim = sim_new (41);
  g_autoptr(GossipConfig) config = sim_config_fast ();
  g_autoptr(GossipCodec) squeeze = gossip_codec_new (NULL, TRUE, 0);
  g_autoptr(GError) error = NULL;
  guint8 origin[GOSSIP_UUID_SIZE];
  guint delivered = 0;
  guint64 id = 0x5eed0000;
  const gsize sizes[] = { 60 * 1024, GOSSIP_MAX_DATAGRAM_BODY + 1, 1024 * 1024 };

  sim_add_nodes (sim, n, config);
  g_assert_true (sim_run_until (sim, converged, NULL, SETUP_BOUND));
  g_assert_true (gossip_uuid_parse (sim_node (sim, 0)->id, origin));
  /* Sealed as node 0 would: only members' messages are taken. */
  gossip_codec_set_sender (squeeze, origin, 0x5117, sim_wall_ms, sim);
  g_assert_true (gossip_cluster_handle (sim_node (sim, target)->cluster, MSG_TYPE, FALSE,
                                        gossip_cluster_get_context (sim_node (sim, target)->cluster),
                                        count_message, &delivered, NULL, &error));
  g_assert_no_error (error);

  for (guint i = 0; i < G_N_ELEMENTS (sizes); i++)
    {
      /* The payload is a little smaller than the body; size the body. */
      g_autoptr(GBytes) probe = user_body (origin, 0, sizes[i]);
      gsize over = g_bytes_get_size (probe) - sizes[i];
      g_autoptr(GBytes) body = user_body (origin, ++id, sizes[i] - over);
      g_autoptr(GBytes) frame = NULL;
      g_autoptr(GBytes) frame2 = NULL;
      g_autoptr(GBytes) body2 = NULL;
      GossipClusterStats before, after;
      gboolean fits = g_bytes_get_size (body) <= GOSSIP_MAX_DATAGRAM_BODY;

      g_assert_cmpuint (g_bytes_get_size (body), ==, sizes[i]);
      frame = gossip_codec_seal (squeeze, g_bytes_get_data (body, NULL), g_bytes_get_size (body), &error);
      g_assert_no_error (error);
      /* Small enough for one UDP datagram: what an attacker can send. */
      g_assert_cmpuint (g_bytes_get_size (frame), <=, 65507);
      g_test_message ("datagram of %" G_GSIZE_FORMAT " bytes expanding to %" G_GSIZE_FORMAT " (%.0fx)",
                      g_bytes_get_size (frame), sizes[i],
                      (double) sizes[i] / (double) g_bytes_get_size (frame));

      before = stats_of (sim, target);
      deliver_frame (sim, target, frame, FALSE);
      after = stats_of (sim, target);
      g_assert_cmpuint (after.frames_dropped - before.frames_dropped, ==, fits ? 0 : 1);
      g_assert_cmpuint (after.messages_delivered - before.messages_delivered, ==, fits ? 1 : 0);
      g_assert_cmpuint (delivered, ==, fits ? 1 : 0);
      delivered = 0;

      /* The same packet over a stream is fine (streams carry up to 8 MiB). */
      body2 = user_body (origin, ++id, sizes[i] - over);
      frame2 = gossip_codec_seal (squeeze, g_bytes_get_data (body2, NULL), g_bytes_get_size (body2), &error);
      g_assert_no_error (error);
      before = stats_of (sim, target);
      deliver_frame (sim, target, frame2, TRUE);
      after = stats_of (sim, target);
      g_assert_cmpuint (after.frames_dropped, ==, before.frames_dropped);
      g_assert_cmpuint (delivered, ==, 1);
      delivered = 0;
    }

  /* An uncompressed datagram body is bounded the same way. */
  {
    g_autoptr(GossipCodec) plain = gossip_codec_new (NULL, FALSE, 0);
    g_autofree guint8 *big = g_malloc0 (GOSSIP_MAX_DATAGRAM_BODY + 3);
    g_autoptr(GBytes) opened = NULL;

    big[0] = GOSSIP_FRAME_VERSION;
    opened = gossip_codec_open_max (plain, big, GOSSIP_MAX_DATAGRAM_BODY + 3, GOSSIP_MAX_DATAGRAM_BODY, &error);
    g_assert_error (error, GOSSIP_WIRE_ERROR, GOSSIP_WIRE_ERROR_TOO_LARGE);
    g_assert_null (opened);
    g_clear_error (&error);
    opened = gossip_codec_open_max (plain, big, GOSSIP_MAX_DATAGRAM_BODY + 2, GOSSIP_MAX_DATAGRAM_BODY, &error);
    g_assert_no_error (error);
    g_assert_cmpuint (g_bytes_get_size (opened), ==, GOSSIP_MAX_DATAGRAM_BODY);
  }

  /* Still healthy. */
  sim_advance (sim, 5 * SEC);
  g_assert_true (sim_converged (sim, NULL));
}

/* ---- state pages ---------------------------------------------------------- */

static const guint8 no_cursor[GOSSIP_UUID_SIZE] = { 0 };

static void
fake_id (guint i, guint8 *id)
{
  memset (id, 0, GOSSIP_UUID_SIZE);
  id[0] = 0xfa;
  id[6] = 0x70;
  id[8] = 0x80;
  id[13] = (guint8) (i >> 16);
  id[14] = (guint8) (i >> 8);
  id[15] = (guint8) i;
}

/* One record: ALIVE of fake member @i with @meta_bytes of metadata. */
static void
put_fake_record (GossipWriter *w, guint i, gsize meta_bytes)
{
  GossipUpdate u = { 0 };
  g_autoptr(GHashTable) md = _gossip_metadata_new ();
  g_autofree char *address = g_strdup_printf ("10.252.%u.%u:7946", (i >> 8) & 0xff, i & 0xff);

  if (meta_bytes > 0)
    g_hash_table_insert (md, g_strdup ("blob"), g_strnfill (meta_bytes, 'a' + (char) (i % 26)));
  u.kind = GOSSIP_UPDATE_ALIVE;
  fake_id (i, u.id);
  u.incarnation = 1;
  u.address = address;
  u.meta_version = 1;
  u.metadata = md;
  u.app_version = (char *) "";
  _gossip_update_write (w, &u);
  gossip_writer_put_u8 (w, GOSSIP_NODE_ALIVE);
}

/* Makes @cluster know @n fake members with @meta_bytes of metadata each. */
static void
seed_fake_members (GossipCluster *cluster, guint n, gsize meta_bytes)
{
  GossipWriter w;
  GossipReader r;

  gossip_writer_init (&w);
  gossip_writer_put_u8 (&w, 0);
  gossip_writer_put_raw (&w, no_cursor, GOSSIP_UUID_SIZE);
  gossip_writer_put_u32 (&w, n);
  for (guint i = 0; i < n; i++)
    put_fake_record (&w, i, meta_bytes);
  gossip_reader_init (&r, w.data->data, w.data->len);
  g_assert_true (_gossip_membership_merge_page (cluster, &r));
  gossip_writer_clear (&w);
}

/* Issue 14: "The whole state must fit one 8 MiB frame". A seed whose
 * state is about 9 MiB (300 members with 30 KB of metadata each) serves a
 * join page by page; the join completes after the last page, with every
 * member known. */
static void
test_join_large_state (void)
{
  g_autoptr(SimHarness) sim = sim_new (42);
  g_autoptr(GossipConfig) config = sim_config_fast ();
  const guint fakes = 300;
  SimNode *joiner;
  gint64 start;
  guint64 pulls_before;

  /* The fake members never answer probes: slow failure detection keeps
   * them alive for the length of the test. */
  sim_config_set (config, "suspect_timeout", "60s");
  sim_config_set (config, "health_check_interval", "60s");
  sim_add_node (sim, config);
  seed_fake_members (sim_node (sim, 0)->cluster, fakes, 30000);
  g_assert_cmpuint (gossip_cluster_count_all (sim_node (sim, 0)->cluster), ==, fakes + 1);

  joiner = sim_add_node (sim, config);
  pulls_before = stats_of (sim, 0).frames_received;
  start = sim_now (sim);
  sim_join (sim, joiner->index, 0);
  while (!joiner->join_done && sim_now (sim) - start < 30 * SEC)
    sim_advance (sim, 10 * MSEC);
  g_assert_true (joiner->join_done);
  g_assert_cmpint (joiner->join_accepted, ==, 1);
  /* Known when the join returns: the last page came before. */
  g_assert_cmpuint (gossip_cluster_count_all (joiner->cluster), ==, fakes + 2);
  g_test_message ("joined a 9 MB state in %" G_GUINT64_FORMAT " requests, %.2f s",
                  stats_of (sim, 0).frames_received - pulls_before, (sim_now (sim) - start) / 1e6);
  g_assert_cmpuint (stats_of (sim, 0).frames_received - pulls_before, >=, 30);
}

/* Small pages everywhere: joins and periodic exchanges still converge,
 * metadata included. */
static void
test_small_pages (void)
{
  g_autoptr(SimHarness) sim = sim_new (43);
  g_autoptr(GossipConfig) config = sim_config_fast ();
  const guint n = 40;

  sim_config_set (config, "state_page_max_bytes", "4096");
  sim_add_nodes (sim, n, config);
  g_assert_true (sim_run_until (sim, converged, NULL, SETUP_BOUND));
  /* A node that has seen nothing but state exchanges still learns all. */
  for (guint i = 0; i < n; i++)
    {
      g_autofree char *value = g_strnfill (600, 'x');
      g_autoptr(GError) error = NULL;

      g_assert_true (gossip_cluster_set_metadata (sim_node (sim, i)->cluster, "pad", value, &error));
    }
  sim_advance (sim, 20 * SEC);
  g_assert_true (sim_converged (sim, NULL));
}

/* A hostile seed: answers a join with a first page flagged MORE, then each
 * pull with @mode's misbehaviour. */
typedef enum {
  PAGES_STUCK,        /* the cursor does not advance */
  PAGES_EMPTY_MORE,   /* MORE on an empty page */
  PAGES_UNORDERED,    /* records out of order */
  PAGES_ENDLESS,      /* MORE for ever, cursor advancing */
} PagesMode;

typedef struct {
  PagesMode    mode;
  guint        pulls;
  GossipCodec *codec;
} HostileSeed;

static GBytes *
page_frame (HostileSeed *hs, guint8 kind, guint first, guint count, gboolean more, gboolean unordered,
            const guint8 *cursor)
{
  GossipWriter w;
  GBytes *frame;
  guint8 seed_id[GOSSIP_UUID_SIZE];

  fake_id (0xffff, seed_id);
  gossip_writer_init (&w);
  gossip_writer_put_u8 (&w, kind);
  gossip_writer_put_u8 (&w, 0);
  if (kind == GOSSIP_PACKET_JOIN_REPLY)
    {
      gossip_writer_put_u8 (&w, 0);
      gossip_writer_put_string (&w, "");
    }
  else
    {
      gossip_writer_put_raw (&w, seed_id, GOSSIP_UUID_SIZE);
      gossip_writer_put_u8 (&w, 3);   /* a page */
    }
  gossip_writer_put_u8 (&w, more ? 1 : 0);
  gossip_writer_put_raw (&w, cursor, GOSSIP_UUID_SIZE);
  gossip_writer_put_u32 (&w, count);
  for (guint i = 0; i < count; i++)
    put_fake_record (&w, unordered ? first + count - 1 - i : first + i, 0);
  frame = gossip_codec_seal (hs->codec, w.data->data, w.data->len, NULL);
  gossip_writer_clear (&w);
  return frame;
}

static void
hostile_seed_receive (GossipTransport *transport, GBytes *frame, gboolean reliable, const char *from,
                      GossipTransportReply *reply, gpointer user_data)
{
  HostileSeed *hs = user_data;
  g_autoptr(GBytes) body = gossip_codec_open (hs->codec, g_bytes_get_data (frame, NULL), g_bytes_get_size (frame), NULL);
  g_autoptr(GBytes) out = NULL;
  const guint8 *d;
  guint8 cursor[GOSSIP_UUID_SIZE];

  if (reply == NULL || body == NULL)
    return;
  d = g_bytes_get_data (body, NULL);
  if (d[0] == GOSSIP_PACKET_JOIN)
    {
      out = page_frame (hs, GOSSIP_PACKET_JOIN_REPLY, 1, 2, TRUE, FALSE, no_cursor);
    }
  else if (d[0] == GOSSIP_PACKET_PUSH_PULL && g_bytes_get_size (body) >= 2 + 16 + 1 + 1 + 16 && d[18] == 2)
    {
      hs->pulls++;
      memcpy (cursor, d + 2 + 16 + 1 + 1, GOSSIP_UUID_SIZE);
      switch (hs->mode)
        {
        case PAGES_STUCK:
          /* The first page again: its last id is the cursor asked for. */
          out = page_frame (hs, GOSSIP_PACKET_PUSH_PULL, 1, 2, TRUE, FALSE, no_cursor);
          break;
        case PAGES_EMPTY_MORE:
          out = page_frame (hs, GOSSIP_PACKET_PUSH_PULL, 0, 0, TRUE, FALSE, cursor);
          break;
        case PAGES_UNORDERED:
          out = page_frame (hs, GOSSIP_PACKET_PUSH_PULL, 10, 3, TRUE, TRUE, cursor);
          break;
        case PAGES_ENDLESS:
          out = page_frame (hs, GOSSIP_PACKET_PUSH_PULL, 10 + hs->pulls, 1, TRUE, FALSE, cursor);
          break;
        }
    }
  if (out != NULL)
    gossip_transport_reply_send (reply, out);
}

static void
test_hostile_pages (gconstpointer data)
{
  PagesMode mode = GPOINTER_TO_INT (data);
  g_autoptr(SimHarness) sim = sim_new (44);
  g_autoptr(GossipConfig) config = sim_config_fast ();
  g_autoptr(GossipTransport) fake = NULL;
  g_autoptr(GError) error = NULL;
  HostileSeed hs = { mode, 0, gossip_codec_new (NULL, FALSE, 0) };
  const char *fake_addr = "10.250.0.9:7946";
  SimNode *joiner;
  gint64 start;
  GossipClusterStats before;

  sim_config_set (config, "suspect_timeout", "60s");
  sim_config_set (config, "health_check_interval", "60s");
  fake = gossip_memory_transport_new (sim_get_network (sim), fake_addr);
  gossip_transport_set_receive_func (fake, hostile_seed_receive, &hs, NULL);
  g_assert_true (gossip_transport_start (fake, &error));
  joiner = sim_add_node (sim, config);
  before = stats_of (sim, 0);
  {
    const char *peers[] = { fake_addr, NULL };
    gossip_cluster_join_async (joiner->cluster, peers, NULL, NULL, NULL);
  }
  start = sim_now (sim);
  /* Each pull is a stream exchange of a few ms of virtual time. */
  sim_advance (sim, mode == PAGES_ENDLESS ? 120 * SEC : 5 * SEC);
  g_test_message ("%u pulls in %.1f s", hs.pulls, (sim_now (sim) - start) / 1e6);
  if (mode == PAGES_ENDLESS)
    {
      /* Stopped at the per-exchange cap. */
      g_assert_cmpuint (hs.pulls, ==, 4095);
    }
  else
    {
      g_assert_cmpuint (hs.pulls, ==, 1);
      g_assert_cmpuint (stats_of (sim, 0).frames_dropped, >, before.frames_dropped);
    }
  /* The first page's two records were taken, and of a bad page only
   * what came before the fault (one record of the unordered page). */
  g_assert_cmpuint (gossip_cluster_count_all (joiner->cluster), >=, 3);
  if (mode == PAGES_STUCK || mode == PAGES_EMPTY_MORE)
    g_assert_cmpuint (gossip_cluster_count_all (joiner->cluster), ==, 3);
  else if (mode == PAGES_UNORDERED)
    g_assert_cmpuint (gossip_cluster_count_all (joiner->cluster), ==, 4);
  gossip_transport_stop (fake);
  gossip_codec_unref (hs.codec);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/state-paging/datagram-expansion", test_datagram_expansion);
  g_test_add_func ("/state-paging/join-large-state", test_join_large_state);
  g_test_add_func ("/state-paging/small-pages", test_small_pages);
  g_test_add_data_func ("/state-paging/hostile/stuck", GINT_TO_POINTER (PAGES_STUCK), test_hostile_pages);
  g_test_add_data_func ("/state-paging/hostile/empty-more", GINT_TO_POINTER (PAGES_EMPTY_MORE), test_hostile_pages);
  g_test_add_data_func ("/state-paging/hostile/unordered", GINT_TO_POINTER (PAGES_UNORDERED), test_hostile_pages);
  g_test_add_data_func ("/state-paging/hostile/endless", GINT_TO_POINTER (PAGES_ENDLESS), test_hostile_pages);

  return g_test_run ();
}
