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
  GossipWriter w;
  g_autofree guint8 *zeros = g_malloc0 (size);
  g_autoptr(GBytes) payload = gossip_payload_encode (gossip_payload_new_bytes (zeros, size),
                                                     GOSSIP_MAX_PAYLOAD_SIZE, NULL);
  gsize len;
  const guint8 *data = g_bytes_get_data (payload, &len);

  gossip_writer_init (&w);
  gossip_writer_put_u8 (&w, GOSSIP_PACKET_USER);
  gossip_writer_put_u8 (&w, 0);
  gossip_writer_put_u8 (&w, GOSSIP_USER_FLAG_BROADCAST);
  gossip_writer_put_u16 (&w, MSG_TYPE);
  gossip_writer_put_raw (&w, origin, GOSSIP_UUID_SIZE);
  gossip_writer_put_u64 (&w, message_id);
  gossip_writer_put_u8 (&w, 1);
  gossip_writer_put_blob (&w, data, len);
  return gossip_writer_steal_bytes (&w);
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

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/state-paging/datagram-expansion", test_datagram_expansion);

  return g_test_run ();
}
