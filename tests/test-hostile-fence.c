/* test-hostile-fence.c — what a stranger can do (issue 14).
 *
 * A stranger is a sender that is neither a member at its recorded address
 * nor authenticated by a key or token (PROTOCOL.md, "Strangers"). It may
 * join, exchange state by stream (only its own record is taken) and have
 * its pings answered at its own host; everything else it sends is dropped
 * and counted in frames_fenced. A member may not speak in another node's
 * name, and PING_REQ only makes a node ping members at the addresses it
 * has on record.
 *
 * Each attack of issue 14 from a plain, unauthenticated sender is replayed
 * here on virtual time against a converged cluster without key or token
 * (the weakest configuration), with a control showing the same packet
 * sent by a member is taken.
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
#define SETUP_BOUND (60 * SEC)
#define MSG_TYPE 201
#define ATTACKER "10.250.0.66:7946"
#define VICTIM   "10.250.0.77:7946"

static const guint8 fake_id[GOSSIP_UUID_SIZE] = { 0x0b, 0xad, [6] = 0x70, [8] = 0x80, [15] = 0x66 };
static const guint8 no_cursor[GOSSIP_UUID_SIZE] = { 0 };

typedef struct {
  SimHarness      *sim;
  guint            n;
  guint8           ids[8][GOSSIP_UUID_SIZE];
  GossipTransport *attacker;          /* a listener at ATTACKER */
  GossipTransport *victim;            /* a listener at VICTIM */
  guint            attacker_heard;
  guint            victim_heard;
  guint            delivered;         /* MSG_TYPE at node 1 */
} Fixture;

static void
count_frames (GossipTransport *transport, GBytes *frame, gboolean reliable, const char *from,
              GossipTransportReply *reply, gpointer user_data)
{
  (*(guint *) user_data)++;
}

static void
count_message (GossipCluster *cluster, GossipMessage *message, gpointer user_data)
{
  (*(guint *) user_data)++;
}

static gboolean
converged (SimHarness *sim, gpointer data)
{
  return sim_converged (sim, NULL);
}

static GossipClusterStats
stats_of (Fixture *f, guint index)
{
  GossipClusterStats s;
  gossip_cluster_get_stats (sim_node (f->sim, index)->cluster, &s);
  return s;
}

static void
fixture_init (Fixture *f, guint32 seed)
{
  g_autoptr(GossipConfig) config = sim_config_fast ();
  g_autoptr(GError) error = NULL;

  memset (f, 0, sizeof *f);
  f->sim = sim_new (seed);
  f->n = 4;
  sim_add_nodes (f->sim, f->n, config);
  g_assert_true (sim_run_until (f->sim, converged, NULL, SETUP_BOUND));
  for (guint i = 0; i < f->n; i++)
    g_assert_true (gossip_uuid_parse (sim_node (f->sim, i)->id, f->ids[i]));
  f->attacker = gossip_memory_transport_new (sim_get_network (f->sim), ATTACKER);
  gossip_transport_set_receive_func (f->attacker, count_frames, &f->attacker_heard, NULL);
  g_assert_true (gossip_transport_start (f->attacker, &error));
  f->victim = gossip_memory_transport_new (sim_get_network (f->sim), VICTIM);
  gossip_transport_set_receive_func (f->victim, count_frames, &f->victim_heard, NULL);
  g_assert_true (gossip_transport_start (f->victim, &error));
  g_assert_no_error (error);
  g_assert_true (gossip_cluster_handle (sim_node (f->sim, 1)->cluster, MSG_TYPE, FALSE,
                                        gossip_cluster_get_context (sim_node (f->sim, 1)->cluster),
                                        count_message, &f->delivered, NULL, &error));
  g_assert_no_error (error);
}

static void
fixture_clear (Fixture *f)
{
  gossip_transport_stop (f->attacker);
  gossip_transport_stop (f->victim);
  g_clear_object (&f->attacker);
  g_clear_object (&f->victim);
  g_clear_pointer (&f->sim, sim_free);
}

/* A codec sealing frames whose sender block names @id. */
static GossipCodec *
codec_for (Fixture *f, const guint8 *id)
{
  GossipCodec *codec = gossip_codec_new (NULL, FALSE, 0);

  gossip_codec_set_sender (codec, id, 0xa77ac, sim_wall_ms, f->sim);
  return codec;
}

static GBytes *
seal (GossipCodec *codec, GBytes *body)
{
  GBytes *frame = gossip_codec_seal (codec, g_bytes_get_data (body, NULL), g_bytes_get_size (body), NULL);

  g_assert_nonnull (frame);
  return frame;
}

typedef struct {
  GBytes *frame;
} ReplyCapture;

static void
capture_reply (GBytes *frame, gpointer user_data)
{
  ReplyCapture *c = user_data;

  g_clear_pointer (&c->frame, g_bytes_unref);
  if (frame != NULL)
    c->frame = g_bytes_ref (frame);
}

/* Delivers @body to node @to from @from_addr, sealed with a sender block
 * naming @claimed_id. Returns the reply frame, if asked for one. */
static GBytes *
send_as (Fixture *f, guint to, const char *from_addr, const guint8 *claimed_id, GBytes *body,
         gboolean reliable, gboolean want_reply)
{
  g_autoptr(GossipCodec) codec = codec_for (f, claimed_id);
  g_autoptr(GBytes) frame = seal (codec, body);
  ReplyCapture capture = { NULL };
  GossipTransportReply *reply = want_reply ? gossip_transport_reply_new (capture_reply, &capture, NULL) : NULL;

  gossip_transport_deliver (GOSSIP_TRANSPORT (sim_node (f->sim, to)->transport), frame, reliable,
                            from_addr, reply);
  if (reply != NULL)
    gossip_transport_reply_unref (reply);
  sim_iterate (f->sim);
  sim_advance (f->sim, 50 * MSEC);
  return capture.frame;
}

static void
put_alive (GossipWriter *w, const guint8 *id, guint64 incarnation, const char *address, const char *meta_value)
{
  GossipUpdate u = { 0 };
  g_autoptr(GHashTable) md = _gossip_metadata_new ();

  if (meta_value != NULL)
    g_hash_table_insert (md, g_strdup ("role"), g_strdup (meta_value));
  u.kind = GOSSIP_UPDATE_ALIVE;
  memcpy (u.id, id, GOSSIP_UUID_SIZE);
  u.incarnation = incarnation;
  u.address = (char *) address;
  u.meta_version = 1000;
  u.metadata = md;
  u.app_version = (char *) "";
  _gossip_update_write (w, &u);
}

/* GOSSIP from @sender: one ALIVE update. */
static GBytes *
gossip_body (const guint8 *sender, const guint8 *id, guint64 incarnation, const char *address, const char *meta)
{
  GossipWriter w;

  gossip_writer_init (&w);
  gossip_writer_put_u8 (&w, GOSSIP_PACKET_GOSSIP);
  gossip_writer_put_u8 (&w, 0);
  gossip_writer_put_raw (&w, sender, GOSSIP_UUID_SIZE);
  gossip_writer_put_u8 (&w, 1);
  gossip_writer_put_u16 (&w, 1);
  put_alive (&w, id, incarnation, address, meta);
  return gossip_writer_steal_bytes (&w);
}

static char *
address_seen (Fixture *f, guint observer, guint subject)
{
  g_autoptr(GossipNode) node = gossip_cluster_get_node (sim_node (f->sim, observer)->cluster,
                                                        sim_node (f->sim, subject)->id);

  return node != NULL ? g_strdup (gossip_node_get_address (node)) : NULL;
}

/* Issue 14: "One datagram injected a fake member". */
static void
test_fake_member (void)
{
  Fixture f;
  g_autoptr(GBytes) body = NULL;
  GossipClusterStats before, after;

  fixture_init (&f, 31);
  body = gossip_body (fake_id, fake_id, 1, ATTACKER, NULL);

  /* From the stranger, in its own name and in member 0's. */
  before = stats_of (&f, 1);
  g_assert_null (send_as (&f, 1, ATTACKER, fake_id, body, FALSE, FALSE));
  {
    g_autoptr(GBytes) as_zero = gossip_body (f.ids[0], fake_id, 1, ATTACKER, NULL);
    g_assert_null (send_as (&f, 1, ATTACKER, f.ids[0], as_zero, FALSE, FALSE));
  }
  after = stats_of (&f, 1);
  g_assert_cmpuint (after.frames_fenced - before.frames_fenced, ==, 2);
  g_assert_cmpuint (gossip_cluster_count_all (sim_node (f.sim, 1)->cluster), ==, f.n);

  /* ACK and NACK from the stranger (an ack could keep a dead member
   * alive): refused before they are read. */
  {
    GossipWriter w;
    g_autoptr(GBytes) ack = NULL, nack = NULL;

    gossip_writer_init (&w);
    gossip_writer_put_u8 (&w, GOSSIP_PACKET_ACK);
    gossip_writer_put_u8 (&w, 0);
    gossip_writer_put_u32 (&w, 1);
    gossip_writer_put_raw (&w, f.ids[2], GOSSIP_UUID_SIZE);
    gossip_writer_put_u16 (&w, 0);
    ack = gossip_writer_steal_bytes (&w);
    gossip_writer_init (&w);
    gossip_writer_put_u8 (&w, GOSSIP_PACKET_NACK);
    gossip_writer_put_u8 (&w, 0);
    gossip_writer_put_u32 (&w, 1);
    gossip_writer_put_raw (&w, f.ids[2], GOSSIP_UUID_SIZE);
    nack = gossip_writer_steal_bytes (&w);
    before = stats_of (&f, 1);
    g_assert_null (send_as (&f, 1, ATTACKER, f.ids[2], ack, FALSE, FALSE));
    g_assert_null (send_as (&f, 1, ATTACKER, f.ids[2], nack, FALSE, FALSE));
    after = stats_of (&f, 1);
    g_assert_cmpuint (after.frames_fenced - before.frames_fenced, ==, 2);
  }

  /* A member relaying the same news in its own name: taken. */
  {
    g_autoptr(GBytes) relayed = gossip_body (f.ids[0], fake_id, 1, ATTACKER, NULL);
    g_assert_null (send_as (&f, 1, sim_node (f.sim, 0)->address, f.ids[0], relayed, FALSE, FALSE));
  }
  g_assert_cmpuint (gossip_cluster_count_all (sim_node (f.sim, 1)->cluster), ==, f.n + 1);
  /* ... but not in another member's name. */
  {
    g_autoptr(GBytes) other = gossip_body (f.ids[2], fake_id, 2, ATTACKER, NULL);
    before = stats_of (&f, 1);
    g_assert_null (send_as (&f, 1, sim_node (f.sim, 0)->address, f.ids[0], other, FALSE, FALSE));
    after = stats_of (&f, 1);
    g_assert_cmpuint (after.frames_fenced - before.frames_fenced, ==, 1);
  }
  fixture_clear (&f);
}

static GBytes *
join_body (const guint8 *id, const char *address)
{
  GossipWriter w;

  gossip_writer_init (&w);
  gossip_writer_put_u8 (&w, GOSSIP_PACKET_JOIN);
  gossip_writer_put_u8 (&w, 0);
  gossip_writer_put_u8 (&w, GOSSIP_PROTOCOL_VERSION);
  gossip_writer_put_string (&w, "");
  put_alive (&w, id, 50, address, "evil");
  gossip_writer_put_u8 (&w, GOSSIP_NODE_ALIVE);
  return gossip_writer_steal_bytes (&w);
}

static GBytes *
push_pull_body (const guint8 *sender, const char *sender_address, const guint8 *other, const char *other_address)
{
  GossipWriter w;

  gossip_writer_init (&w);
  gossip_writer_put_u8 (&w, GOSSIP_PACKET_PUSH_PULL);
  gossip_writer_put_u8 (&w, 0);
  gossip_writer_put_raw (&w, sender, GOSSIP_UUID_SIZE);
  gossip_writer_put_u8 (&w, 0);          /* an exchange */
  gossip_writer_put_u8 (&w, 0);          /* one page, no cursor */
  gossip_writer_put_raw (&w, no_cursor, GOSSIP_UUID_SIZE);
  gossip_writer_put_u32 (&w, 2);
  /* Records in increasing id order. */
  if (memcmp (sender, other, GOSSIP_UUID_SIZE) < 0)
    {
      put_alive (&w, sender, 1, sender_address, NULL);
      gossip_writer_put_u8 (&w, GOSSIP_NODE_ALIVE);
      put_alive (&w, other, 60, other_address, "evil");
      gossip_writer_put_u8 (&w, GOSSIP_NODE_ALIVE);
    }
  else
    {
      put_alive (&w, other, 60, other_address, "evil");
      gossip_writer_put_u8 (&w, GOSSIP_NODE_ALIVE);
      put_alive (&w, sender, 1, sender_address, NULL);
      gossip_writer_put_u8 (&w, GOSSIP_NODE_ALIVE);
    }
  return gossip_writer_steal_bytes (&w);
}

/* Reads a JOIN_REPLY: status and reason. */
static guint8
join_reply_status (GBytes *frame, char **reason)
{
  g_autoptr(GossipCodec) codec = gossip_codec_new (NULL, FALSE, 0);
  g_autoptr(GBytes) body = gossip_codec_open (codec, g_bytes_get_data (frame, NULL), g_bytes_get_size (frame), NULL);
  GossipReader r;
  guint8 kind = 0, flags = 0, status = 0xff;

  g_assert_nonnull (body);
  gossip_reader_init (&r, g_bytes_get_data (body, NULL), g_bytes_get_size (body));
  g_assert_true (gossip_reader_get_u8 (&r, &kind) && kind == GOSSIP_PACKET_JOIN_REPLY);
  g_assert_true (gossip_reader_get_u8 (&r, &flags) && gossip_reader_get_u8 (&r, &status));
  g_assert_true (gossip_reader_get_string (&r, 4096, reason));
  return status;
}

/* Issue 14: "one hijacked a live node's address and metadata". */
static void
test_hijack (void)
{
  Fixture f;
  g_autofree char *before_addr = NULL;
  GossipClusterStats before, after;
  const guint victim = 2, observer = 1;
  guint32 inc;

  fixture_init (&f, 32);
  before_addr = address_seen (&f, observer, victim);
  inc = sim_incarnation (f.sim, observer, victim);

  /* 1. Gossip about node 2 at a higher incarnation and a new address,
   *    from the stranger (in its own name, and in node 2's). */
  before = stats_of (&f, observer);
  {
    g_autoptr(GBytes) b1 = gossip_body (fake_id, f.ids[victim], inc + 5, ATTACKER, "evil");
    g_autoptr(GBytes) b2 = gossip_body (f.ids[victim], f.ids[victim], inc + 5, ATTACKER, "evil");
    g_assert_null (send_as (&f, observer, ATTACKER, fake_id, b1, FALSE, FALSE));
    g_assert_null (send_as (&f, observer, ATTACKER, f.ids[victim], b2, FALSE, FALSE));
  }
  after = stats_of (&f, observer);
  g_assert_cmpuint (after.frames_fenced - before.frames_fenced, ==, 2);

  /* 2. A JOIN in node 2's name from another address: refused, with the
   *    reason. */
  {
    g_autoptr(GBytes) body = join_body (f.ids[victim], ATTACKER);
    g_autoptr(GBytes) reply = send_as (&f, observer, ATTACKER, f.ids[victim], body, TRUE, TRUE);
    g_autofree char *reason = NULL;

    g_assert_nonnull (reply);
    g_assert_cmpuint (join_reply_status (reply, &reason), ==, 1);
    g_assert_nonnull (strstr (reason, "is in use by a live member"));
  }
  /* ... and a JOIN whose record is someone else's than the sender's. */
  {
    g_autoptr(GBytes) body = join_body (f.ids[victim], ATTACKER);
    g_autoptr(GBytes) reply = send_as (&f, observer, ATTACKER, fake_id, body, TRUE, TRUE);
    g_autofree char *reason = NULL;

    g_assert_nonnull (reply);
    g_assert_cmpuint (join_reply_status (reply, &reason), ==, 1);
    g_assert_cmpstr (reason, ==, "the record is not the joiner's own");
  }

  /* 3. A state exchange from the stranger: its own record is taken (a
   *    node may introduce itself), what it says of node 2 is not. */
  {
    g_autoptr(GBytes) body = push_pull_body (fake_id, ATTACKER, f.ids[victim], ATTACKER);
    g_autoptr(GBytes) reply = send_as (&f, observer, ATTACKER, fake_id, body, TRUE, TRUE);

    g_assert_nonnull (reply);
    g_assert_cmpuint (gossip_cluster_count_all (sim_node (f.sim, observer)->cluster), ==, f.n + 1);
  }

  /* 4. The same by datagram: refused outright. */
  {
    g_autoptr(GBytes) body = push_pull_body (fake_id, ATTACKER, f.ids[victim], ATTACKER);
    before = stats_of (&f, 3);
    g_assert_null (send_as (&f, 3, ATTACKER, fake_id, body, FALSE, FALSE));
    after = stats_of (&f, 3);
    g_assert_cmpuint (after.frames_fenced - before.frames_fenced, ==, 1);
    g_assert_cmpuint (gossip_cluster_count_all (sim_node (f.sim, 3)->cluster), ==, f.n);
  }

  /* Node 2 is where it was, with its metadata, everywhere. */
  sim_advance (f.sim, 5 * SEC);
  for (guint i = 0; i < f.n; i++)
    if (i != victim)
      {
        g_autofree char *addr = address_seen (&f, i, victim);
        g_autoptr(GossipNode) node = gossip_cluster_get_node (sim_node (f.sim, i)->cluster,
                                                              sim_node (f.sim, victim)->id);

        g_assert_cmpstr (addr, ==, before_addr);
        g_assert_null (gossip_node_get_metadata_value (node, "role"));
        g_assert_cmpint (sim_state (f.sim, i, victim), ==, GOSSIP_NODE_ALIVE);
      }
  fixture_clear (&f);
}

/* A best-effort USER packet from @origin, direct or a broadcast. */
static GBytes *
user_body (const guint8 *origin, guint64 msg_id, gboolean broadcast)
{
  return test_user_packet (origin, MSG_TYPE, msg_id, broadcast, g_variant_new_string ("forged"));
}

/* Issue 14: "a forged user message was delivered as coming from another
 * node". */
static void
test_forged_user (void)
{
  Fixture f;
  GossipClusterStats before, after;

  fixture_init (&f, 33);
  before = stats_of (&f, 1);
  {
    /* The stranger, as node 2, by datagram and stream. */
    g_autoptr(GBytes) b1 = user_body (f.ids[2], 1, FALSE);
    g_autoptr(GBytes) b2 = user_body (f.ids[2], 2, TRUE);
    g_assert_null (send_as (&f, 1, ATTACKER, f.ids[2], b1, FALSE, FALSE));
    g_assert_null (send_as (&f, 1, ATTACKER, f.ids[2], b2, TRUE, FALSE));
    /* Member 0, as node 2, direct. */
    g_autoptr(GBytes) b3 = user_body (f.ids[2], 3, FALSE);
    g_assert_null (send_as (&f, 1, sim_node (f.sim, 0)->address, f.ids[0], b3, FALSE, FALSE));
  }
  after = stats_of (&f, 1);
  g_assert_cmpuint (after.frames_fenced - before.frames_fenced, ==, 3);
  g_assert_cmpuint (f.delivered, ==, 0);
  g_assert_cmpuint (after.messages_delivered, ==, before.messages_delivered);

  /* Controls: member 0 in its own name; member 0 relaying node 2's
   * broadcast (relays are how broadcasts travel). */
  {
    g_autoptr(GBytes) own = user_body (f.ids[0], 4, FALSE);
    g_autoptr(GBytes) relayed = user_body (f.ids[2], 5, TRUE);
    g_assert_null (send_as (&f, 1, sim_node (f.sim, 0)->address, f.ids[0], own, FALSE, FALSE));
    g_assert_null (send_as (&f, 1, sim_node (f.sim, 0)->address, f.ids[0], relayed, FALSE, FALSE));
  }
  g_assert_cmpuint (f.delivered, ==, 2);
  fixture_clear (&f);
}

static GBytes *
ping_body (guint32 seq, const guint8 *target, const guint8 *sender, const char *reply_addr)
{
  GossipWriter w;

  gossip_writer_init (&w);
  gossip_writer_put_u8 (&w, GOSSIP_PACKET_PING);
  gossip_writer_put_u8 (&w, 0);
  gossip_writer_put_u32 (&w, seq);
  gossip_writer_put_raw (&w, target, GOSSIP_UUID_SIZE);
  gossip_writer_put_raw (&w, sender, GOSSIP_UUID_SIZE);
  gossip_writer_put_string (&w, reply_addr);
  gossip_writer_put_u16 (&w, 0);
  return gossip_writer_steal_bytes (&w);
}


/* Issue 14: "PING_REQ reflects pings and NACKs (with the node id) to any
 * address or host name". */
static void
test_reflection (void)
{
  Fixture f;
  GossipClusterStats before, after;
  const guint node = 1;

  fixture_init (&f, 34);

  /* A stranger's ping is answered at its own host only. */
  {
    g_autoptr(GBytes) to_victim = ping_body (7, f.ids[node], fake_id, VICTIM);
    g_autoptr(GBytes) to_self = ping_body (8, f.ids[node], fake_id, ATTACKER);

    before = stats_of (&f, node);
    g_assert_null (send_as (&f, node, ATTACKER, fake_id, to_victim, FALSE, FALSE));
    sim_advance (f.sim, SEC);
    g_assert_cmpuint (f.victim_heard, ==, 0);
    after = stats_of (&f, node);
    g_assert_cmpuint (after.frames_fenced - before.frames_fenced, ==, 1);
    g_assert_null (send_as (&f, node, ATTACKER, fake_id, to_self, FALSE, FALSE));
    sim_advance (f.sim, SEC);
    g_assert_cmpuint (f.attacker_heard, ==, 1);
  }

  /* PING_REQ from a stranger: refused. */
  {
    g_autoptr(GBytes) body = test_ping_req_packet (9, f.ids[2], VICTIM, fake_id, VICTIM);
    before = stats_of (&f, node);
    g_assert_null (send_as (&f, node, ATTACKER, fake_id, body, FALSE, FALSE));
    after = stats_of (&f, node);
    g_assert_cmpuint (after.frames_fenced - before.frames_fenced, ==, 1);
  }
  /* From member 0: about a node nobody knows, at the victim's address:
   * refused; about member 2 at the victim's address: member 2 is pinged
   * where it is, and the answer goes to member 0's recorded address. */
  {
    g_autoptr(GBytes) unknown = test_ping_req_packet (10, fake_id, VICTIM, f.ids[0], VICTIM);
    g_autoptr(GBytes) known = test_ping_req_packet (11, f.ids[2], VICTIM, f.ids[0], VICTIM);
    const char *zero = sim_node (f.sim, 0)->address;
    GossipClusterStats two_before = stats_of (&f, 2), two_after;

    before = stats_of (&f, node);
    g_assert_null (send_as (&f, node, zero, f.ids[0], unknown, FALSE, FALSE));
    after = stats_of (&f, node);
    g_assert_cmpuint (after.frames_fenced - before.frames_fenced, ==, 1);
    g_assert_null (send_as (&f, node, zero, f.ids[0], known, FALSE, FALSE));
    sim_advance (f.sim, 2 * SEC);
    two_after = stats_of (&f, 2);
    g_assert_cmpuint (two_after.frames_received, >, two_before.frames_received);
  }
  sim_advance (f.sim, 2 * SEC);
  g_assert_cmpuint (f.victim_heard, ==, 0);
  g_test_message ("victim received %u frames, attacker %u", f.victim_heard, f.attacker_heard);
  g_assert_true (sim_converged (f.sim, NULL));
  fixture_clear (&f);
}

/* GOSSIP from @sender: DEAD(@id, @incarnation). */
static GBytes *
dead_body (const guint8 *sender, const guint8 *id, guint64 incarnation)
{
  GossipWriter w;
  GossipUpdate u = { 0 };

  gossip_writer_init (&w);
  gossip_writer_put_u8 (&w, GOSSIP_PACKET_GOSSIP);
  gossip_writer_put_u8 (&w, 0);
  gossip_writer_put_raw (&w, sender, GOSSIP_UUID_SIZE);
  gossip_writer_put_u8 (&w, 1);
  gossip_writer_put_u16 (&w, 1);
  u.kind = GOSSIP_UPDATE_DEAD;
  memcpy (u.id, id, GOSSIP_UUID_SIZE);
  u.incarnation = incarnation;
  memcpy (u.from, sender, GOSSIP_UUID_SIZE);
  _gossip_update_write (&w, &u);
  return gossip_writer_steal_bytes (&w);
}

typedef struct {
  Fixture *f;
  guint    subject;
  guint64  above;
} AliveAbove;

static gboolean
all_see_alive_above (SimHarness *sim, gpointer data)
{
  AliveAbove *a = data;

  for (guint i = 0; i < a->f->n; i++)
    if (sim_state (sim, i, a->subject) != GOSSIP_NODE_ALIVE ||
        sim_incarnation (sim, i, a->subject) <= a->above)
      return FALSE;
  return TRUE;
}

/* Issue 14: "Incarnation wraps: one DEAD(B, 0xFFFFFFFF) keeps a live B
 * dead everywhere until reaped". Incarnations are 64-bit, refutation
 * saturates, and a claim more than 2^32 above what is known is refused. */
static void
test_incarnation (void)
{
  Fixture f;
  GossipClusterStats before, after;
  const guint b = 2, relay = 0, observer = 1;
  const char *relay_addr;
  guint64 inc;

  fixture_init (&f, 35);
  relay_addr = sim_node (f.sim, relay)->address;
  inc = sim_incarnation (f.sim, observer, b);

  /* The old wrap: DEAD at 0xFFFFFFFF, relayed by a member. It is believed
   * (within the bound), reaches B, and B refutes above 2^32: alive
   * everywhere again. */
  {
    g_autoptr(GBytes) body = dead_body (f.ids[relay], f.ids[b], G_MAXUINT32);
    AliveAbove a = { &f, b, G_MAXUINT32 };
    gint64 t0 = sim_now (f.sim);

    g_assert_null (send_as (&f, observer, relay_addr, f.ids[relay], body, FALSE, FALSE));
    g_assert_true (sim_run_until (f.sim, all_see_alive_above, &a, 10 * SEC));
    g_test_message ("DEAD(B, 0xFFFFFFFF): B alive at incarnation %" G_GUINT64_FORMAT " everywhere %.2f s later",
                    sim_incarnation (f.sim, observer, b), (sim_now (f.sim) - t0) / 1e6);
    inc = sim_incarnation (f.sim, observer, b);
  }

  /* Far beyond what B could have reached: refused and counted, at the
   * observer about B and at B about itself; B is never seen dead. */
  {
    g_autoptr(GBytes) far = dead_body (f.ids[relay], f.ids[b], inc + GOSSIP_MAX_INCARNATION_JUMP + 1);
    g_autoptr(GBytes) top = dead_body (f.ids[relay], f.ids[b], G_MAXUINT64);
    guint deaths = sim_count_transitions (f.sim, -1, b, GOSSIP_NODE_DEAD, 0);
    GossipClusterStats b_before = stats_of (&f, b), b_after;

    before = stats_of (&f, observer);
    g_assert_null (send_as (&f, observer, relay_addr, f.ids[relay], far, FALSE, FALSE));
    g_assert_null (send_as (&f, observer, relay_addr, f.ids[relay], top, FALSE, FALSE));
    g_assert_null (send_as (&f, b, relay_addr, f.ids[relay], top, FALSE, FALSE));
    after = stats_of (&f, observer);
    b_after = stats_of (&f, b);
    g_assert_cmpuint (after.updates_refused - before.updates_refused, ==, 2);
    g_assert_cmpuint (b_after.updates_refused - b_before.updates_refused, ==, 1);
    sim_advance (f.sim, 5 * SEC);
    g_assert_cmpuint (sim_count_transitions (f.sim, -1, b, GOSSIP_NODE_DEAD, 0), ==, deaths);
    g_assert_cmpuint (sim_incarnation (f.sim, b, b), ==, inc);
  }
  g_assert_true (sim_converged (f.sim, NULL));
  fixture_clear (&f);
}

typedef struct {
  const char *from;                   /* the relay's address */
  guint       user_seen, gossip_seen;
  guint       max_user_ttl, max_gossip_ttl;
} TtlTap;

static void
ttl_tap (GBytes *frame, gboolean reliable, const char *from, gpointer user_data)
{
  TtlTap *t = user_data;
  g_autoptr(GossipCodec) codec = gossip_codec_new (NULL, FALSE, 0);
  g_autoptr(GBytes) body = NULL;
  const guint8 *d;
  gsize len;

  if (g_strcmp0 (from, t->from) != 0)
    return;
  body = gossip_codec_open (codec, g_bytes_get_data (frame, NULL), g_bytes_get_size (frame), NULL);
  if (body == NULL)
    return;
  d = g_bytes_get_data (body, &len);
  /* USER: kind, 0, flags, u16 type, origin, u64 id, u8 ttl. */
  if (len > 30 && d[0] == GOSSIP_PACKET_USER && d[3] == (MSG_TYPE >> 8) && d[4] == (MSG_TYPE & 0xff))
    {
      t->user_seen++;
      t->max_user_ttl = MAX (t->max_user_ttl, d[29]);
    }
  /* GOSSIP: kind, 0, sender, u8 ttl. */
  if (len > 18 && d[0] == GOSSIP_PACKET_GOSSIP)
    {
      t->gossip_seen++;
      t->max_gossip_ttl = MAX (t->max_gossip_ttl, d[18]);
    }
}

/* Issue 14: "Forged reliable broadcasts are relayed by every member ...
 * (TTL not clamped)". A broadcast or a GOSSIP packet with TTL 255 is
 * relayed with at most the formula's maximum less one. */
static void
test_ttl_clamp (void)
{
  Fixture f;
  TtlTap tap = { NULL, 0, 0, 0, 0 };
  const guint relay = 1;

  fixture_init (&f, 36);
  tap.from = sim_node (f.sim, relay)->address;
  for (guint i = 0; i < f.n; i++)
    if (i != relay)
      sim_transport_set_tap (sim_node (f.sim, i)->transport, ttl_tap, &tap);
  {
    g_autoptr(GBytes) user = user_body (f.ids[0], 77, TRUE);
    g_autoptr(GBytes) news = gossip_body (f.ids[0], fake_id, 1, ATTACKER, NULL);
    guint8 *u = (guint8 *) g_bytes_get_data (user, NULL);
    guint8 *g = (guint8 *) g_bytes_get_data (news, NULL);

    u[29] = 255;
    g[18] = 255;
    g_assert_null (send_as (&f, relay, sim_node (f.sim, 0)->address, f.ids[0], user, TRUE, FALSE));
    g_assert_null (send_as (&f, relay, sim_node (f.sim, 0)->address, f.ids[0], news, FALSE, FALSE));
  }
  sim_advance (f.sim, 2 * SEC);
  g_test_message ("relayed %u broadcast and %u gossip packets, TTL at most %u and %u",
                  tap.user_seen, tap.gossip_seen, tap.max_user_ttl, tap.max_gossip_ttl);
  g_assert_cmpuint (tap.user_seen, >, 0);
  g_assert_cmpuint (tap.gossip_seen, >, 0);
  g_assert_cmpuint (tap.max_user_ttl, ==, GOSSIP_MAX_TTL - 1);
  g_assert_cmpuint (tap.max_gossip_ttl, <=, GOSSIP_MAX_TTL - 1);
  for (guint i = 0; i < f.n; i++)
    sim_transport_set_tap (sim_node (f.sim, i)->transport, NULL, NULL);
  fixture_clear (&f);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/hostile/fence/fake-member", test_fake_member);
  g_test_add_func ("/hostile/fence/hijack", test_hijack);
  g_test_add_func ("/hostile/fence/forged-user", test_forged_user);
  g_test_add_func ("/hostile/fence/reflection", test_reflection);
  g_test_add_func ("/hostile/fence/incarnation", test_incarnation);
  g_test_add_func ("/hostile/fence/ttl-clamp", test_ttl_clamp);

  return g_test_run ();
}
