/* test-hostile-auth.c — frame authentication and the replay window (issue 14).
 *
 * With a bearer token every frame carries an HMAC-SHA256 under a key
 * derived from the token, over a sender block (id, epoch, sequence number,
 * wall-clock ms) and the body; with a key, AES-GCM covers the same. The
 * replay window refuses a frame stamped too far from now or seen before
 * (PROTOCOL.md, "Authentication", "Replay window").
 *
 * Each attack of issue 14 that concerns authentication is replayed here
 * against a converged cluster on virtual time and must be refused and
 * counted: forged datagrams and streams without the token or with the
 * wrong one, captured frames sent again (token mode and key mode), frames
 * stamped outside the window, the token itself on the wire. Each is
 * checked against a control: the same packet, properly sealed, is applied.
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
#include "test-util.h"
#include "gossip-private.h"

#define SEC      G_USEC_PER_SEC
#define MSEC     G_TIME_SPAN_MILLISECOND
#define SETUP_BOUND (60 * SEC)
#define TOKEN    "correct horse battery staple"

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

/* ---- codec ---------------------------------------------------------------- */

static gint64 fixed_wall_ms = 1000000;

static gint64
fixed_wall (gpointer data)
{
  return *(gint64 *) data;
}

static GossipCodec *
token_codec (const char *token, const guint8 *id)
{
  g_autoptr(GError) error = NULL;
  GossipCodec *codec = gossip_codec_new (NULL, TRUE, 64);

  g_assert_true (gossip_codec_set_token (codec, token, &error));
  g_assert_no_error (error);
  if (id != NULL)
    gossip_codec_set_sender (codec, id, 42, fixed_wall, &fixed_wall_ms);
  return codec;
}

static void
test_codec_token (void)
{
  const guint8 id[16] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 };
  g_autoptr(GossipCodec) signer = token_codec (TOKEN, id);
  g_autoptr(GossipCodec) verifier = token_codec (TOKEN, NULL);
  g_autoptr(GossipCodec) wrong = token_codec ("battery staple", NULL);
  g_autoptr(GossipCodec) open_codec = gossip_codec_new (NULL, FALSE, 0);
  const char body[] = "a packet body that is not secret but must not be forged";
  g_autoptr(GBytes) frame = NULL;
  g_autoptr(GBytes) second = NULL;
  g_autoptr(GBytes) plain = NULL;
  g_autoptr(GError) error = NULL;
  GossipFrameSender sender;
  const guint8 *data;
  gsize len;

  g_assert_true (gossip_codec_is_authenticated (signer));
  g_assert_false (gossip_codec_is_authenticated (open_codec));

  frame = gossip_codec_seal (signer, (const guint8 *) body, sizeof body, &error);
  g_assert_no_error (error);
  data = g_bytes_get_data (frame, &len);
  g_assert_cmpuint (data[0], ==, GOSSIP_FRAME_VERSION);
  g_assert_cmpuint (data[1], ==, GOSSIP_FRAME_FLAG_SIGNED | GOSSIP_FRAME_FLAG_SENDER);
  g_assert_cmpuint (len, ==, 2 + GOSSIP_FRAME_SENDER_SIZE + sizeof body + GOSSIP_MAC_SIZE);
  /* The token is never on the wire. */
  g_assert_null (memmem (data, len, TOKEN, strlen (TOKEN)));

  {
    g_autoptr(GBytes) opened = gossip_codec_open_full (verifier, data, len, GOSSIP_MAX_FRAME_SIZE,
                                                       &sender, &error);
    g_assert_no_error (error);
    g_assert_cmpmem (g_bytes_get_data (opened, NULL), g_bytes_get_size (opened), body, sizeof body);
    g_assert_true (sender.present);
    g_assert_true (sender.authenticated);
    g_assert_cmpmem (sender.id, 16, id, 16);
    g_assert_cmpuint (sender.epoch, ==, 42);
    g_assert_cmpuint (sender.seq, ==, 1);
    g_assert_cmpint (sender.wall_ms, ==, fixed_wall_ms);
  }

  /* Sequence numbers increase frame by frame. */
  second = gossip_codec_seal (signer, (const guint8 *) body, sizeof body, &error);
  g_assert_no_error (error);
  g_clear_pointer (&plain, g_bytes_unref);
  plain = gossip_codec_open_full (verifier, g_bytes_get_data (second, NULL), g_bytes_get_size (second),
                                  GOSSIP_MAX_FRAME_SIZE, &sender, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (sender.seq, ==, 2);

  /* Another token, no token, and a signed frame where none is expected. */
  g_assert_null (gossip_codec_open (wrong, data, len, &error));
  g_assert_error (error, GOSSIP_WIRE_ERROR, GOSSIP_WIRE_ERROR_UNAUTHENTICATED);
  g_clear_error (&error);
  g_assert_null (gossip_codec_open (open_codec, data, len, &error));
  g_assert_error (error, GOSSIP_WIRE_ERROR, GOSSIP_WIRE_ERROR_UNAUTHENTICATED);
  g_clear_error (&error);
  g_clear_pointer (&plain, g_bytes_unref);
  plain = gossip_codec_seal (open_codec, (const guint8 *) body, sizeof body, &error);
  g_assert_no_error (error);
  g_assert_null (gossip_codec_open (verifier, g_bytes_get_data (plain, NULL), g_bytes_get_size (plain), &error));
  g_assert_error (error, GOSSIP_WIRE_ERROR, GOSSIP_WIRE_ERROR_UNAUTHENTICATED);
  g_clear_error (&error);

  /* Any flipped bit anywhere (header, sender block, body, MAC) fails. */
  for (gsize i = 0; i < len; i++)
    {
      g_autofree guint8 *copy = g_memdup2 (data, len);
      g_autoptr(GBytes) opened = NULL;

      copy[i] ^= 0x10;
      opened = gossip_codec_open (verifier, copy, len, &error);
      g_assert_null (opened);
      g_assert_nonnull (error);
      g_clear_error (&error);
    }
  /* Truncated anywhere: fails too. */
  for (gsize cut = 0; cut < len; cut++)
    {
      g_autoptr(GBytes) opened = gossip_codec_open (verifier, data, cut, &error);

      g_assert_null (opened);
      g_assert_nonnull (error);
      g_clear_error (&error);
    }
}

/* With a key, the sender block is part of the AAD: claiming another
 * sender breaks the tag. */
static void
test_codec_key_sender (void)
{
  const guint8 id[16] = { 9 };
  const guint8 key[16] = "0123456789abcdef";
  g_autoptr(GError) error = NULL;
  g_autoptr(GossipKeyring) ring = gossip_keyring_new (key, sizeof key, &error);
  g_autoptr(GossipCodec) codec = gossip_codec_new (ring, FALSE, 0);
  g_autoptr(GBytes) frame = NULL;
  GossipFrameSender sender;
  const guint8 *data;
  gsize len;

  g_assert_no_error (error);
  gossip_codec_set_sender (codec, id, 7, fixed_wall, &fixed_wall_ms);
  frame = gossip_codec_seal (codec, (const guint8 *) "x", 1, &error);
  g_assert_no_error (error);
  data = g_bytes_get_data (frame, &len);
  g_assert_cmpuint (data[1], ==, GOSSIP_FRAME_FLAG_ENCRYPTED | GOSSIP_FRAME_FLAG_SENDER);
  {
    g_autoptr(GBytes) opened = gossip_codec_open_full (codec, data, len, 16, &sender, &error);
    g_assert_no_error (error);
    g_assert_true (sender.authenticated);
    g_assert_cmpuint (sender.epoch, ==, 7);
  }
  for (gsize i = 2; i < 2 + GOSSIP_FRAME_SENDER_SIZE; i++)
    {
      g_autofree guint8 *copy = g_memdup2 (data, len);
      g_autoptr(GBytes) opened = NULL;

      copy[i] ^= 1;
      opened = gossip_codec_open (codec, copy, len, &error);
      g_assert_null (opened);
      g_assert_error (error, GOSSIP_WIRE_ERROR, GOSSIP_WIRE_ERROR_DECRYPT);
      g_clear_error (&error);
    }
}

/* ---- replay window -------------------------------------------------------- */

static void
test_replay_window (void)
{
  const guint8 a[16] = { 0xa }, b[16] = { 0xb };
  g_autoptr(GossipReplayWindow) w = gossip_replay_window_new (4, 30000);
  guint senders = 0;
  gint64 now = 100000;

  g_assert_cmpint (gossip_replay_window_check (w, a, 1, 1, now, now), ==, GOSSIP_REPLAY_FRESH);
  g_assert_cmpint (gossip_replay_window_check (w, a, 1, 1, now, now), ==, GOSSIP_REPLAY_REPEATED);
  /* Out of order within the window is fine, once. */
  g_assert_cmpint (gossip_replay_window_check (w, a, 1, 3, now, now), ==, GOSSIP_REPLAY_FRESH);
  g_assert_cmpint (gossip_replay_window_check (w, a, 1, 2, now, now), ==, GOSSIP_REPLAY_FRESH);
  g_assert_cmpint (gossip_replay_window_check (w, a, 1, 2, now, now), ==, GOSSIP_REPLAY_REPEATED);
  /* Another epoch (a restart) and another sender are separate spaces. */
  g_assert_cmpint (gossip_replay_window_check (w, a, 2, 1, now, now), ==, GOSSIP_REPLAY_FRESH);
  /* Stamps outside the skew either way. */
  g_assert_cmpint (gossip_replay_window_check (w, b, 1, 1, now - 30001, now), ==, GOSSIP_REPLAY_STALE);
  g_assert_cmpint (gossip_replay_window_check (w, b, 1, 1, now + 30001, now), ==, GOSSIP_REPLAY_STALE);
  g_assert_cmpuint (gossip_replay_window_size (w, NULL), ==, 4);

  /* Full (4 entries): the oldest, (a, 1, 1), is forgotten and a's floor
   * raised to 1; seq 1 still cannot come back. */
  g_assert_cmpint (gossip_replay_window_check (w, b, 1, 1, now, now), ==, GOSSIP_REPLAY_FRESH);
  g_assert_cmpuint (gossip_replay_window_size (w, NULL), ==, 4);
  g_assert_cmpint (gossip_replay_window_check (w, a, 1, 1, now, now), ==, GOSSIP_REPLAY_REPEATED);
  /* Two more evictions: (a,1,3) and (a,1,2) leave, the floor is 3. */
  g_assert_cmpint (gossip_replay_window_check (w, b, 1, 2, now, now), ==, GOSSIP_REPLAY_FRESH);
  g_assert_cmpint (gossip_replay_window_check (w, b, 1, 3, now, now), ==, GOSSIP_REPLAY_FRESH);
  for (guint64 seq = 1; seq <= 3; seq++)
    g_assert_cmpint (gossip_replay_window_check (w, a, 1, seq, now, now), ==, GOSSIP_REPLAY_REPEATED);
  g_assert_cmpint (gossip_replay_window_check (w, a, 1, 4, now, now), ==, GOSSIP_REPLAY_FRESH);

  /* Later than the skew, everything seen is forgotten: the stamp check
   * alone refuses it now. */
  now += 30001;
  g_assert_cmpint (gossip_replay_window_check (w, a, 1, 4, now - 30001, now), ==, GOSSIP_REPLAY_STALE);
  g_assert_cmpuint (gossip_replay_window_size (w, NULL), ==, 0);
  /* Senders with nothing left are swept (every 1024 checks). */
  for (guint i = 0; i < 1024; i++)
    gossip_replay_window_check (w, b, 1, 1, 0, now);
  g_assert_cmpuint (gossip_replay_window_size (w, &senders), ==, 0);
  g_assert_cmpuint (senders, ==, 0);
}

/* ---- the cluster ------------------------------------------------------------ */

typedef struct {
  GPtrArray *datagrams;               /* GBytes*, from node 0 */
  GPtrArray *streams;
  const char *from;
  gboolean   token_seen;
  const char *token;
} Capture;

static void
capture_tap (GBytes *frame, gboolean reliable, const char *from, gpointer user_data)
{
  Capture *c = user_data;
  gsize len;
  const guint8 *data = g_bytes_get_data (frame, &len);

  if (c->token != NULL && memmem (data, len, c->token, strlen (c->token)) != NULL)
    c->token_seen = TRUE;
  if (g_strcmp0 (from, c->from) == 0)
    g_ptr_array_add (reliable ? c->streams : c->datagrams, g_bytes_ref (frame));
}

static void
deliver (SimHarness *sim, guint index, GBytes *frame, gboolean reliable)
{
  gossip_transport_deliver (GOSSIP_TRANSPORT (sim_node (sim, index)->transport), frame, reliable,
                            sim_node (sim, 0)->address, NULL);
  sim_iterate (sim);
}

/* A GOSSIP packet from @sender announcing a member that does not exist. */
static GBytes *
fake_member_body (const guint8 *sender, const guint8 *fake_id)
{
  GossipWriter w;
  GossipUpdate u = { 0 };

  u.kind = GOSSIP_UPDATE_ALIVE;
  memcpy (u.id, fake_id, GOSSIP_UUID_SIZE);
  u.incarnation = 1;
  u.address = (char *) "10.250.0.9:7946";
  gossip_writer_init (&w);
  gossip_writer_put_u8 (&w, GOSSIP_PACKET_GOSSIP);
  gossip_writer_put_u8 (&w, 0);
  gossip_writer_put_raw (&w, sender, GOSSIP_UUID_SIZE);
  gossip_writer_put_u8 (&w, 1);
  gossip_writer_put_u16 (&w, 1);
  _gossip_update_write (&w, &u);
  return gossip_writer_steal_bytes (&w);
}

static gint64
sim_wall (gpointer data)
{
  return sim_wall_ms (data);
}

static gint64
stale_wall (gpointer data)
{
  return sim_wall (data) - GOSSIP_REPLAY_SKEW_MS - 1000;
}

static GBytes *
seal_with (GossipCodec *codec, GBytes *body)
{
  g_autoptr(GError) error = NULL;
  GBytes *frame = gossip_codec_seal (codec, g_bytes_get_data (body, NULL), g_bytes_get_size (body), &error);

  g_assert_no_error (error);
  return frame;
}

/* Token mode: forged frames are refused and counted, captured ones
 * replayed are refused and counted, the token is never on the wire. */
static void
test_cluster_token (void)
{
  const guint n = 3;
  g_autoptr(SimHarness) sim = sim_new (21);
  g_autoptr(GossipConfig) config = sim_config_fast ();
  Capture cap = { g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref),
                  g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref), NULL, FALSE, TOKEN };
  guint8 node0_id[GOSSIP_UUID_SIZE], fake_id[GOSSIP_UUID_SIZE];
  g_autoptr(GBytes) body = NULL;
  GossipClusterStats before, after;

  sim_config_set (config, "bearer_token", TOKEN);
  for (guint i = 0; i < n; i++)
    sim_add_node (sim, config);
  cap.from = sim_node (sim, 0)->address;
  sim_transport_set_tap (sim_node (sim, 1)->transport, capture_tap, &cap);
  sim_join_all (sim, 0);
  g_assert_true (sim_run_until (sim, converged, NULL, SETUP_BOUND));
  sim_advance (sim, 10 * SEC);
  g_assert_cmpuint (cap.datagrams->len, >, 0);
  g_assert_cmpuint (cap.streams->len, >, 0);
  g_assert_false (cap.token_seen);
  g_test_message ("captured %u datagrams and %u stream frames from node 0; the token in none",
                  cap.datagrams->len, cap.streams->len);

  g_assert_true (gossip_uuid_parse (sim_node (sim, 0)->id, node0_id));
  g_assert_true (gossip_uuid_parse ("00000000-0000-7000-8000-0000000000ff", fake_id));
  body = fake_member_body (node0_id, fake_id);

  /* 1. Unsigned (what every attack of issue 14 sent), by datagram and by
   *    stream, and signed with another token: refused, counted. */
  {
    g_autoptr(GossipCodec) open_codec = gossip_codec_new (NULL, FALSE, 0);
    g_autoptr(GossipCodec) wrong = token_codec ("battery staple", node0_id);
    g_autoptr(GBytes) unsigned_frame = seal_with (open_codec, body);
    g_autoptr(GBytes) wrong_frame = seal_with (wrong, body);

    before = stats_of (sim, 1);
    deliver (sim, 1, unsigned_frame, FALSE);
    deliver (sim, 1, unsigned_frame, TRUE);
    deliver (sim, 1, wrong_frame, FALSE);
    sim_advance (sim, SEC);
    after = stats_of (sim, 1);
    g_assert_cmpuint (after.auth_rejected - before.auth_rejected, ==, 3);
    g_assert_cmpuint (gossip_cluster_count_all (sim_node (sim, 1)->cluster), ==, n);
  }

  /* 2. Captured frames sent again: refused by the replay window. */
  before = stats_of (sim, 1);
  for (guint i = 0; i < MIN (cap.datagrams->len, 20); i++)
    deliver (sim, 1, g_ptr_array_index (cap.datagrams, i), FALSE);
  for (guint i = 0; i < MIN (cap.streams->len, 5); i++)
    deliver (sim, 1, g_ptr_array_index (cap.streams, i), TRUE);
  after = stats_of (sim, 1);
  g_assert_cmpuint (after.frames_replayed - before.frames_replayed, ==,
                    MIN (cap.datagrams->len, 20) + MIN (cap.streams->len, 5));
  g_assert_cmpuint (after.auth_rejected, ==, before.auth_rejected);

  /* 3. Signed with the token but stamped outside the window. */
  {
    g_autoptr(GossipCodec) stale = token_codec (TOKEN, NULL);
    g_autoptr(GBytes) frame = NULL;

    gossip_codec_set_sender (stale, node0_id, 99, stale_wall, sim);
    frame = seal_with (stale, body);
    before = stats_of (sim, 1);
    deliver (sim, 1, frame, FALSE);
    after = stats_of (sim, 1);
    g_assert_cmpuint (after.frames_replayed - before.frames_replayed, ==, 1);
    g_assert_cmpuint (gossip_cluster_count_all (sim_node (sim, 1)->cluster), ==, n);
  }

  /* Control: the same packet sealed with the token and a fresh stamp is
   * applied, so the refusals above were the authentication's doing. */
  {
    g_autoptr(GossipCodec) insider = token_codec (TOKEN, NULL);
    g_autoptr(GBytes) frame = NULL;

    gossip_codec_set_sender (insider, node0_id, 100, sim_wall, sim);
    frame = seal_with (insider, body);
    before = stats_of (sim, 1);
    deliver (sim, 1, frame, FALSE);
    after = stats_of (sim, 1);
    g_assert_cmpuint (after.frames_replayed, ==, before.frames_replayed);
    g_assert_cmpuint (after.auth_rejected, ==, before.auth_rejected);
    g_assert_cmpuint (after.frames_dropped, ==, before.frames_dropped);
    g_assert_cmpuint (gossip_cluster_count_all (sim_node (sim, 1)->cluster), ==, n + 1);
  }

  g_ptr_array_unref (cap.datagrams);
  g_ptr_array_unref (cap.streams);
}

/* Key mode: GCM authenticates; captured frames sent again are refused. */
static void
test_cluster_key_replay (void)
{
  const guint n = 3;
  g_autoptr(SimHarness) sim = sim_new (22);
  g_autoptr(GossipConfig) config = sim_config_fast ();
  g_autoptr(GError) error = NULL;
  Capture cap = { g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref),
                  g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref), NULL, FALSE, NULL };
  GossipClusterStats before, after;
  guint replayed;

  g_assert_true (gossip_config_set_string (config, "encryption_key", "0123456789abcdef0123456789abcdef", &error));
  g_assert_no_error (error);
  for (guint i = 0; i < n; i++)
    sim_add_node (sim, config);
  cap.from = sim_node (sim, 0)->address;
  sim_transport_set_tap (sim_node (sim, 1)->transport, capture_tap, &cap);
  sim_join_all (sim, 0);
  g_assert_true (sim_run_until (sim, converged, NULL, SETUP_BOUND));
  sim_advance (sim, 5 * SEC);
  g_assert_cmpuint (cap.datagrams->len, >, 0);

  before = stats_of (sim, 1);
  replayed = MIN (cap.datagrams->len, 20);
  for (guint i = 0; i < replayed; i++)
    deliver (sim, 1, g_ptr_array_index (cap.datagrams, i), FALSE);
  after = stats_of (sim, 1);
  g_assert_cmpuint (after.frames_replayed - before.frames_replayed, ==, replayed);
  g_assert_cmpuint (after.frames_rejected, ==, before.frames_rejected);

  /* And a minute later, when the dedup window of 30 s has long passed:
   * still refused (by the stamp now). */
  sim_advance (sim, 60 * SEC);
  before = stats_of (sim, 1);
  for (guint i = 0; i < replayed; i++)
    deliver (sim, 1, g_ptr_array_index (cap.datagrams, i), FALSE);
  after = stats_of (sim, 1);
  g_assert_cmpuint (after.frames_replayed - before.frames_replayed, ==, replayed);
  g_assert_true (sim_converged (sim, NULL));

  g_ptr_array_unref (cap.datagrams);
  g_ptr_array_unref (cap.streams);
}

/* A joiner with the wrong token is told "authentication failed" at once
 * instead of timing out, and counts it. */
static void
test_join_wrong_token (void)
{
  g_autoptr(SimHarness) sim = sim_new (23);
  g_autoptr(GossipConfig) config = sim_config_fast ();
  g_autoptr(GossipConfig) wrong = sim_config_fast ();
  SimNode *joiner;
  gint64 start;

  sim_config_set (config, "bearer_token", TOKEN);
  sim_config_set (wrong, "bearer_token", "battery staple");
  sim_add_node (sim, config);
  joiner = sim_add_node (sim, wrong);
  start = sim_now (sim);
  sim_join (sim, 1, 0);
  while (!joiner->join_done && sim_now (sim) - start < 30 * SEC)
    sim_advance (sim, 10 * MSEC);
  g_assert_true (joiner->join_done);
  g_assert_cmpint (joiner->join_accepted, ==, 0);
  g_test_message ("wrong-token join ended after %.2f s", (sim_now (sim) - start) / 1e6);
  g_assert_cmpint (sim_now (sim) - start, <, 2 * SEC);
  g_assert_cmpuint (stats_of (sim, 1).auth_rejected, >=, 1);
  g_assert_cmpuint (stats_of (sim, 0).auth_rejected, >=, 1);
  g_assert_cmpuint (gossip_cluster_count_all (sim_node (sim, 0)->cluster), ==, 1);
}

/* ---- real sockets ---------------------------------------------------------- */

static struct sockaddr_in
inet_of (const char *address)
{
  struct sockaddr_in sa = { 0 };
  const char *colon = strrchr (address, ':');
  g_autofree char *host = g_strndup (address, colon - address);

  sa.sin_family = AF_INET;
  sa.sin_port = htons ((guint16) atoi (colon + 1));
  g_assert_cmpint (inet_pton (AF_INET, host, &sa.sin_addr), ==, 1);
  return sa;
}

typedef struct {
  GossipCluster *node;
  guint64        above;
} AuthWait;

static gboolean
auth_rejected_above (gpointer data)
{
  AuthWait *w = data;
  GossipClusterStats st;

  gossip_cluster_get_stats (w->node, &st);
  return st.auth_rejected > w->above;
}

/* The same attacks over UDP and TCP on loopback: forged datagrams without
 * the token or with another are refused and counted; a stream JOIN that
 * fails authentication is answered with the two-byte notice, nothing else. */
static void
test_sockets (void)
{
  g_autoptr(GossipConfig) config = fast_config ();
  g_autoptr(GError) error = NULL;
  GossipCluster *nodes[2];
  g_autofree char *address = NULL;
  struct sockaddr_in to;
  guint8 node0_id[GOSSIP_UUID_SIZE], fake[GOSSIP_UUID_SIZE];
  g_autoptr(GBytes) body = NULL;
  AuthWait w;
  GossipClusterStats st;
  int fd;

  g_assert_true (gossip_config_set_string (config, "bearer_token", TOKEN, &error));
  g_assert_no_error (error);
  for (guint i = 0; i < 2; i++)
    {
      nodes[i] = gossip_cluster_new (config, &error);
      g_assert_no_error (error);
      g_assert_true (gossip_cluster_start (nodes[i], &error));
    }
  address = gossip_cluster_get_advertise_address (nodes[0]);
  {
    const char *peers[] = { address, NULL };
    g_assert_cmpint (gossip_cluster_join (nodes[1], peers, &error), ==, 1);
  }
  to = inet_of (address);
  g_assert_true (gossip_uuid_parse (gossip_cluster_get_node_id (nodes[1]), node0_id));
  g_assert_true (gossip_uuid_parse ("00000000-0000-7000-8000-0000000000ff", fake));
  body = fake_member_body (node0_id, fake);

  /* Datagrams: unsigned, and signed with another token. */
  fd = socket (AF_INET, SOCK_DGRAM, 0);
  {
    g_autoptr(GossipCodec) open_codec = gossip_codec_new (NULL, FALSE, 0);
    g_autoptr(GossipCodec) wrong = token_codec ("battery staple", node0_id);
    g_autoptr(GBytes) f1 = seal_with (open_codec, body);
    g_autoptr(GBytes) f2 = seal_with (wrong, body);

    gossip_cluster_get_stats (nodes[0], &st);
    w = (AuthWait) { nodes[0], st.auth_rejected + 1 };
    g_assert_cmpint (sendto (fd, g_bytes_get_data (f1, NULL), g_bytes_get_size (f1), 0,
                             (struct sockaddr *) &to, sizeof to), >, 0);
    g_assert_cmpint (sendto (fd, g_bytes_get_data (f2, NULL), g_bytes_get_size (f2), 0,
                             (struct sockaddr *) &to, sizeof to), >, 0);
    g_assert_true (wait_for (auth_rejected_above, &w, 5));
  }
  close (fd);

  /* A stream JOIN without the token: the notice, and nothing else. */
  fd = socket (AF_INET, SOCK_STREAM, 0);
  g_assert_cmpint (connect (fd, (struct sockaddr *) &to, sizeof to), ==, 0);
  {
    g_autoptr(GossipCodec) open_codec = gossip_codec_new (NULL, FALSE, 0);
    GossipWriter jw;
    g_autoptr(GBytes) join = NULL, frame = NULL;
    guint8 header[5], reply[16];
    gsize len, have = 0;
    struct timeval tv = { 5, 0 };

    gossip_writer_init (&jw);
    gossip_writer_put_u8 (&jw, GOSSIP_PACKET_JOIN);
    gossip_writer_put_u8 (&jw, 0);
    gossip_writer_put_u8 (&jw, GOSSIP_PROTOCOL_VERSION);
    gossip_writer_put_string (&jw, "");
    join = gossip_writer_steal_bytes (&jw);
    frame = seal_with (open_codec, join);
    len = g_bytes_get_size (frame);
    header[0] = 1;
    header[1] = (guint8) (len >> 24);
    header[2] = (guint8) (len >> 16);
    header[3] = (guint8) (len >> 8);
    header[4] = (guint8) len;
    g_assert_cmpint (send (fd, header, sizeof header, 0), ==, sizeof header);
    g_assert_cmpint (send (fd, g_bytes_get_data (frame, NULL), len, 0), ==, (gssize) len);
    setsockopt (fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    for (;;)
      {
        ssize_t n = recv (fd, reply + have, sizeof reply - have, 0);
        if (n <= 0)
          break;
        have += (gsize) n;
      }
    /* [u32 2][02 ff], then the responder closes. */
    g_assert_cmpuint (have, ==, 6);
    g_assert_cmpmem (reply, 6, ((const guint8[]) { 0, 0, 0, 2, GOSSIP_FRAME_VERSION, 0xff }), 6);
  }
  close (fd);

  gossip_cluster_get_stats (nodes[0], &st);
  g_assert_cmpuint (st.auth_rejected, >=, 3);
  g_assert_cmpuint (gossip_cluster_count_all (nodes[0]), ==, 2);
  for (guint i = 0; i < 2; i++)
    {
      gossip_cluster_stop (nodes[i]);
      g_object_unref (nodes[i]);
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/hostile/auth/codec/token", test_codec_token);
  g_test_add_func ("/hostile/auth/codec/key-sender", test_codec_key_sender);
  g_test_add_func ("/hostile/auth/replay-window", test_replay_window);
  g_test_add_func ("/hostile/auth/cluster/token", test_cluster_token);
  g_test_add_func ("/hostile/auth/cluster/key-replay", test_cluster_key_replay);
  g_test_add_func ("/hostile/auth/join-wrong-token", test_join_wrong_token);
  g_test_add_func ("/hostile/auth/sockets", test_sockets);

  return g_test_run ();
}
