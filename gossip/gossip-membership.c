/* gossip-membership.c — SWIM membership: probing, suspicion, dissemination,
 * join, push-pull state exchange, leave and cleanup.
 *
 * Failure detection follows SWIM (Das et al.) with Lifeguard's local health
 * (Dadgar et al.): every probe period one member, taken round-robin from a
 * shuffled list, gets a direct ping; without an ack in a third of the probe
 * deadline, k other members are asked to ping it (PING_REQ) and a stream
 * ping is tried as well; without any ack by the deadline it becomes
 * suspect. Suspicion spreads by gossip; the suspect refutes by raising its
 * incarnation; unrefuted suspicion becomes death after dead_node_timeout.
 * A node that misses acks itself (nacks missing, suspected itself) raises
 * its local health multiplier, which stretches its probe period, probe
 * deadline and the suspicion timeouts it starts.
 *
 * Updates spread at once to a fan-out of peers with a TTL, are piggybacked
 * on probes and acks, and are re-sent from a bounded retransmit queue; a
 * periodic push-pull exchange of the full state over a stream repairs what
 * gossip missed.
 *
 * SPDX-License-Identifier: MIT
 */
#include "config.h"

#include <math.h>
#include <string.h>

#include "gossip-error.h"
#include "gossip-address-private.h"
#include "gossip-crypto-private.h"
#include "gossip-private.h"

#define MAX_LOCAL_HEALTH        8
#define MAX_STATE_RECORDS       100000
#define MAX_PIGGYBACK_UPDATES   1024
#define PIGGYBACK_BUDGET        900    /* bytes of updates added to a datagram */
#define JOIN_TIMEOUT            (4 * G_USEC_PER_SEC)
#define PUSH_PULL_TIMEOUT       (5 * G_USEC_PER_SEC)
#define DEAD_GOSSIP_WINDOW      (30 * G_USEC_PER_SEC)
#define LEAVE_GRACE             (100 * G_TIME_SPAN_MILLISECOND)

typedef enum {
  PROBE_DIRECT,
  PROBE_RELAY,
} ProbeKind;

typedef struct {
  ProbeKind  kind;
  guint32    seq;
  guint8     target[GOSSIP_UUID_SIZE];
  /* direct probes */
  gboolean   acked;
  guint      nacks;
  guint      nacks_expected;
  guint      indirect_timer;
  guint      deadline_timer;
  gint64     started;
  /* relayed probes: whom to answer */
  guint32    origin_seq;
  char      *origin_addr;
  guint      relay_timer;
} GossipProbe;

typedef struct {
  guint8   id[GOSSIP_UUID_SIZE];
  GBytes  *encoded;
  guint    transmits;   /* times sent so far */
} GossipBroadcast;

static void probe_timer_fire (gpointer data);
static void push_pull_fire (gpointer data);
static void schedule_probe (GossipCluster *self);
static void membership_send_gossip (GossipCluster *self, GPtrArray *updates_encoded, guint ttl,
                                    const guint8 *exclude);
static void push_pull_with (GossipCluster *self, const char *address);
static void suspicion_clear (GossipCluster *self, GossipMember *m);
static void start_probe (GossipCluster *self, GossipMember *target);

/* ------------------------------------------------------------------------ */
/* Helpers                                                                   */
/* ------------------------------------------------------------------------ */

static gint64
now (GossipCluster *self)
{
  return gossip_clock_now (self->clock);
}

static void
probe_free (GossipProbe *p)
{
  g_free (p->origin_addr);
  g_free (p);
}

static void
broadcast_free (GossipBroadcast *b)
{
  g_bytes_unref (b->encoded);
  g_free (b);
}

/* A suspicion in progress (Lifeguard): its timer, and who accused the
 * member, the first accuser included. Each distinct accuser after the first
 * is a confirmation and shortens the timeout. */
#define MAX_ACCUSERS 8

typedef struct _GossipSuspicion GossipSuspicion;
struct _GossipSuspicion {
  guint   timer;
  guint   confirm_timer;             /* our own confirming probe, pending */
  guint   n_accusers;
  guint8  accusers[MAX_ACCUSERS][GOSSIP_UUID_SIZE];
};

static void
member_free (GossipMember *m)
{
  g_clear_pointer (&m->snapshot, gossip_node_unref);
  g_free (m->suspicion);   /* its timers are cancelled by set_state() and stop */
  g_free (m);
}

/* Records that a packet from @uuid arrived: members heard from recently are
 * preferred as relays of indirect probes, because they can reach us. */
static void
member_heard (GossipCluster *self,
              const guint8  *uuid)
{
  GossipMember *m = _gossip_membership_lookup (self, uuid);

  if (m != NULL)
    m->heard_ms = (guint32) (now (self) / 1000) | 1;
}

static gboolean
member_heard_within (GossipCluster *self,
                     GossipMember  *m,
                     gint64         window)
{
  return m->heard_ms != 0 &&
         (gint64) (guint32) ((guint32) (now (self) / 1000) - m->heard_ms) * 1000 <= window;
}

/* GossipCluster.members is a set of members hashed and compared by their
 * first field, the uuid: a bare uuid looks a member up. */
G_STATIC_ASSERT (G_STRUCT_OFFSET (GossipMember, uuid) == 0);

GossipMember *
_gossip_membership_lookup (GossipCluster *self,
                           const guint8  *uuid)
{
  return g_hash_table_lookup (self->members, uuid);
}

static gboolean
is_local_uuid (GossipCluster *self,
               const guint8  *uuid)
{
  return memcmp (uuid, self->local_uuid, GOSSIP_UUID_SIZE) == 0;
}

static guint
count_alive_suspect (GossipCluster *self)
{
  return self->live->len + 1;
}

/* fanout = min(T, max(3, min(ceil(log2 T × fan_out_multiplier), 10))),
 * T = alive + suspect nodes, local included (gossip-protocol.md §9.1). */
guint
_gossip_fanout_for (guint  t,
                    double multiplier)
{
  double f = ceil (log2 ((double) t) * multiplier);

  return (guint) MIN ((double) t, MAX (3.0, MIN (f, 10.0)));
}

guint
_gossip_membership_fanout (GossipCluster *self)
{
  return _gossip_fanout_for (count_alive_suspect (self), self->config->fan_out_multiplier);
}

/* ttl = max(1, min(ceil(log2 A × ttl_multiplier) + 2, 8)), A = alive nodes. */
guint
_gossip_membership_ttl (GossipCluster *self)
{
  guint a = self->live->len + 1;
  double t = ceil (log2 ((double) a) * self->config->ttl_multiplier) + 2.0;

  return (guint) MAX (1.0, MIN (t, 8.0));
}

/* GossipCluster.live is also the probe rotation: the members before
 * probe_index were probed this round, the others wait their turn. Adding
 * and removing keep both parts (memberlist's node list works the same). */
static void
live_swap (GossipCluster *self,
           guint          i,
           guint          j)
{
  GossipMember *a = self->live->pdata[i];
  GossipMember *b = self->live->pdata[j];

  self->live->pdata[i] = b;
  b->live_index = (gint) i;
  self->live->pdata[j] = a;
  a->live_index = (gint) j;
}

/* New members join the rotation at a random position: before probe_index
 * they wait for the next round. */
static void
live_add (GossipCluster *self,
          GossipMember  *m)
{
  guint last = self->live->len;
  guint at;

  if (m->live_index >= 0 || m->is_local)
    return;
  m->live_index = (gint) last;
  g_ptr_array_add (self->live, m);
  at = (guint) g_rand_int_range (self->rand, 0, (gint32) last + 1);
  if (at < self->probe_index)
    {
      /* The first waiting member moves to the end, @m takes its place
       * among the probed ones. */
      live_swap (self, self->probe_index, last);
      self->probe_index++;
    }
  else
    live_swap (self, at, last);
}

static void
live_remove (GossipCluster *self,
             GossipMember  *m)
{
  guint i = (guint) m->live_index;

  if (m->live_index < 0)
    return;
  if (i < self->probe_index)
    {
      /* Leave the probed part through its last slot. */
      live_swap (self, i, self->probe_index - 1);
      i = --self->probe_index;
    }
  live_swap (self, i, self->live->len - 1);
  g_ptr_array_set_size (self->live, self->live->len - 1);
  m->live_index = -1;
}

static gboolean
excluded (GossipMember *m,
          const char   *tag,
          const guint8 *exclude1,
          const guint8 *exclude2)
{
  if (exclude1 && memcmp (m->uuid, exclude1, GOSSIP_UUID_SIZE) == 0)
    return TRUE;
  if (exclude2 && memcmp (m->uuid, exclude2, GOSSIP_UUID_SIZE) == 0)
    return TRUE;
  if (tag && !gossip_node_has_tag (m->snapshot, tag))
    return TRUE;
  return FALSE;
}

/* Up to @n distinct random members (borrowed pointers), alive or suspect,
 * never the local node; optionally also members dead for less than the
 * dead-gossip window, so that a healed partition hears from us. */
GPtrArray *
_gossip_membership_pick (GossipCluster *self,
                         guint          n,
                         const char    *tag,
                         const guint8  *exclude1,
                         const guint8  *exclude2,
                         GossipPickFlags flags)
{
  gboolean include_recent_dead = (flags & GOSSIP_PICK_RECENT_DEAD) != 0;
  gboolean alive_only = (flags & GOSSIP_PICK_ALIVE_ONLY) != 0;
  GPtrArray *out = g_ptr_array_new ();
  guint len = self->live->len;

  /* n == 0 still picks a recently dead member when asked: the periodic
   * gossip round talks to one even with nothing queued. */
  if (n == 0)
    len = 0;

  if (tag == NULL && n > 0 && len > 4 * n)
    {
      /* Large membership: rejection sampling, O(n). */
      guint tries = 0;
      while (out->len < n && tries++ < 8 * n)
        {
          GossipMember *m = g_ptr_array_index (self->live, g_rand_int_range (self->rand, 0, (gint32) len));
          gboolean dup = FALSE;
          if (excluded (m, NULL, exclude1, exclude2) || (alive_only && m->state != GOSSIP_NODE_ALIVE))
            continue;
          for (guint i = 0; i < out->len && !dup; i++)
            dup = out->pdata[i] == m;
          if (!dup)
            g_ptr_array_add (out, m);
        }
    }
  else
    {
      /* Reservoir sampling over the live members. */
      guint seen = 0;
      for (guint i = 0; i < len; i++)
        {
          GossipMember *m = g_ptr_array_index (self->live, i);
          if (excluded (m, tag, exclude1, exclude2) || (alive_only && m->state != GOSSIP_NODE_ALIVE))
            continue;
          seen++;
          if (out->len < n)
            g_ptr_array_add (out, m);
          else
            {
              guint j = (guint) g_rand_int_range (self->rand, 0, (gint32) seen);
              if (j < n)
                out->pdata[j] = m;
            }
        }
    }

  if (include_recent_dead)
    {
      gint64 t = now (self);
      GHashTableIter iter;
      gpointer value;
      GossipMember *pick = NULL;
      guint seen = 0;

      /* One recently dead member per round is enough to merge partitions. */
      g_hash_table_iter_init (&iter, self->members);
      while (g_hash_table_iter_next (&iter, NULL, &value))
        {
          GossipMember *m = value;
          if (m->state != GOSSIP_NODE_DEAD || m->is_local || t - m->state_time > DEAD_GOSSIP_WINDOW ||
              excluded (m, tag, exclude1, exclude2))
            continue;
          if (g_rand_int_range (self->rand, 0, (gint32) ++seen) == 0)
            pick = m;
        }
      if (pick != NULL)
        g_ptr_array_add (out, pick);
    }

  return out;
}

/* ------------------------------------------------------------------------ */
/* Member state                                                              */
/* ------------------------------------------------------------------------ */

static void
set_state (GossipCluster   *self,
           GossipMember    *m,
           GossipNodeState  state)
{
  GossipNodeState old = m->state;

  if (old == state)
    return;
  m->state = state;
  m->state_time = now (self);
  if (state == GOSSIP_NODE_ALIVE || state == GOSSIP_NODE_SUSPECT)
    live_add (self, m);
  else
    live_remove (self, m);
  if (state != GOSSIP_NODE_SUSPECT)
    suspicion_clear (self, m);

  _gossip_cluster_publish (self, m, NULL);
  _gossip_cluster_emit_state (self, m->snapshot, old);

  /* A node coming back from the dead gets a full state exchange, so that
   * a healed partition converges within a round trip. */
  if (old == GOSSIP_NODE_DEAD && state == GOSSIP_NODE_ALIVE && !m->is_local)
    push_pull_with (self, m->snapshot->address);
}

static GossipMember *
member_new (GossipCluster      *self,
            const GossipUpdate *u,
            GossipNodeState     state)
{
  GossipMember *m = g_new0 (GossipMember, 1);

  memcpy (m->uuid, u->id, GOSSIP_UUID_SIZE);
  m->state = state;
  m->incarnation = u->incarnation;
  m->state_time = now (self);
  m->live_index = -1;
  /* Known before live_add(): the local node is never a live peer. */
  m->is_local = is_local_uuid (self, u->id);

  _gossip_cluster_publish (self, m, u);
  if (state == GOSSIP_NODE_ALIVE || state == GOSSIP_NODE_SUSPECT)
    live_add (self, m);

  _gossip_cluster_emit_state (self, m->snapshot, state);
  if (g_hash_table_size (m->snapshot->metadata) > 0)
    _gossip_cluster_emit_metadata (self, m->snapshot);
  return m;
}

/* Publishes what an alive update at a new incarnation says of @m besides
 * its state: its address (unless empty), app version, tags (learned once)
 * and metadata (when its version changed). Returns whether the metadata
 * changed. */
static gboolean
member_learn (GossipCluster      *self,
              GossipMember       *m,
              const GossipUpdate *u)
{
  GossipNode *cur = m->snapshot;
  gboolean new_metadata = u->metadata != NULL && u->meta_version != cur->metadata_version;
  GossipUpdate info = { 0 };   /* borrowed */

  info.address = u->address != NULL && *u->address != '\0' ? u->address : cur->address;
  info.app_version = u->app_version != NULL ? u->app_version : cur->app_version;
  info.tags = cur->tags != NULL ? cur->tags : u->tags;
  info.metadata = new_metadata ? u->metadata : cur->metadata;
  info.meta_version = new_metadata ? u->meta_version : cur->metadata_version;
  _gossip_cluster_publish (self, m, &info);
  return new_metadata;
}

static void
member_reap (GossipCluster *self,
             GossipMember  *m)
{
  live_remove (self, m);
  suspicion_clear (self, m);
  _gossip_cluster_unpublish (self, m);
  member_free (m);
}

/* ------------------------------------------------------------------------ */
/* Encoding the local node and the retransmit queue                          */
/* ------------------------------------------------------------------------ */

static void
update_from_member (GossipMember     *m,
                    GossipUpdateKind  kind,
                    const guint8     *from,
                    GossipUpdate     *u)
{
  memset (u, 0, sizeof *u);
  u->kind = kind;
  memcpy (u->id, m->uuid, GOSSIP_UUID_SIZE);
  u->incarnation = m->incarnation;
  if (from)
    memcpy (u->from, from, GOSSIP_UUID_SIZE);
  /* Borrowed: only written, never cleared. */
  u->address = m->snapshot->address;
  u->meta_version = m->snapshot->metadata_version;
  u->metadata = m->snapshot->metadata;
  u->tags = m->snapshot->tags;
  u->app_version = m->snapshot->app_version;
}

static GBytes *
encode_update (const GossipUpdate *u)
{
  GossipWriter w;

  gossip_writer_init (&w);
  _gossip_update_write (&w, u);
  return gossip_writer_steal_bytes (&w);
}

static guint
retransmit_limit (GossipCluster *self)
{
  return _gossip_membership_ttl (self) + 1;
}

/* Queues an encoded update for piggybacking; it replaces any older queued
 * update about the same node. */
static void
queue_broadcast (GossipCluster *self,
                 const guint8  *id,
                 GBytes        *encoded)
{
  GList *l, *next;
  GossipBroadcast *b;

  for (l = self->broadcasts.head; l != NULL; l = next)
    {
      next = l->next;
      b = l->data;
      if (memcmp (b->id, id, GOSSIP_UUID_SIZE) == 0)
        {
          broadcast_free (b);
          g_queue_delete_link (&self->broadcasts, l);
        }
    }
  b = g_new0 (GossipBroadcast, 1);
  memcpy (b->id, id, GOSSIP_UUID_SIZE);
  b->encoded = g_bytes_ref (encoded);
  b->transmits = 0;
  g_queue_push_tail (&self->broadcasts, b);
}

/* Queues updates read from the network that were news to us. Each encoding
 * was validated by read_updates() and starts with [u8 kind][16 id]. */
static void
queue_news (GossipCluster *self,
            GPtrArray     *news)
{
  for (guint i = 0; i < news->len; i++)
    {
      gsize len;
      const guint8 *data = g_bytes_get_data (news->pdata[i], &len);

      if (len >= 1 + GOSSIP_UUID_SIZE)
        queue_broadcast (self, data + 1, news->pdata[i]);
    }
}

/* Spreads an update: fan-out now with a TTL, and queue it for piggybacking. */
static void
disseminate (GossipCluster      *self,
             const GossipUpdate *u,
             const guint8       *exclude)
{
  g_autoptr(GBytes) enc = encode_update (u);
  g_autoptr(GPtrArray) list = g_ptr_array_new ();

  queue_broadcast (self, u->id, enc);
  g_ptr_array_add (list, enc);
  membership_send_gossip (self, list, _gossip_membership_ttl (self), exclude);
}

static void
announce_local (GossipCluster *self)
{
  GossipUpdate u;

  update_from_member (self->local, self->left ? GOSSIP_UPDATE_LEAVE : GOSSIP_UPDATE_ALIVE, NULL, &u);
  disseminate (self, &u, NULL);
}

/* Appends "u16 count + updates" taken from the retransmit queue, within
 * @budget bytes; @extra (if any) goes first and is not counted. */
static void
write_piggyback (GossipCluster *self,
                 GossipWriter  *w,
                 gsize          budget,
                 GPtrArray     *extra)
{
  gsize count_at = gossip_writer_len (w);
  guint16 count = 0;
  gsize used = 0;
  GList *l, *next;
  /* Taken from the current membership, not the one at queueing time (as
   * memberlist does): an update heard before our join completed, while we
   * knew nobody, still gets the retransmits a full cluster needs. */
  guint limit = retransmit_limit (self);

  gossip_writer_put_u16 (w, 0);
  for (guint i = 0; extra != NULL && i < extra->len; i++)
    {
      gsize len;
      const guint8 *data = g_bytes_get_data (extra->pdata[i], &len);
      gossip_writer_put_raw (w, data, len);
      count++;
    }
  for (l = self->broadcasts.head; l != NULL && count < MAX_PIGGYBACK_UPDATES; l = next)
    {
      GossipBroadcast *b = l->data;
      gsize len;
      const guint8 *data = g_bytes_get_data (b->encoded, &len);

      next = l->next;
      if (used + len > budget)
        continue;
      /* Already in this packet (the fan-out of a fresh update carries it
       * as @extra): sending it twice would only use up its retransmits. */
      if (extra != NULL && g_ptr_array_find_with_equal_func (extra, b->encoded, g_bytes_equal, NULL))
        continue;
      gossip_writer_put_raw (w, data, len);
      used += len;
      count++;
      if (++b->transmits >= limit)
        {
          broadcast_free (b);
          g_queue_delete_link (&self->broadcasts, l);
        }
    }
  gossip_writer_patch_u16 (w, count_at, count);
}

/* What we think of @m, when that is something it should hear (it is
 * suspected or dead here): sending it lets it refute. */
static GBytes *
view_of (GossipCluster *self,
         GossipMember  *m)
{
  GossipUpdate u;

  if (m->state == GOSSIP_NODE_SUSPECT)
    update_from_member (m, GOSSIP_UPDATE_SUSPECT, self->local_uuid, &u);
  else if (m->state == GOSSIP_NODE_DEAD)
    update_from_member (m, GOSSIP_UPDATE_DEAD, self->local_uuid, &u);
  else
    return NULL;
  return encode_update (&u);
}

/* ------------------------------------------------------------------------ */
/* Applying updates                                                          */
/* ------------------------------------------------------------------------ */

static void
refute (GossipCluster *self,
        guint32        accused_incarnation)
{
  if (self->left || self->local == NULL)
    return;
  self->local->incarnation = MAX (self->local->incarnation, accused_incarnation) + 1;
  self->local_health = MIN (self->local_health + 1, MAX_LOCAL_HEALTH);
  _gossip_cluster_publish (self, self->local, NULL);
  announce_local (self);
}

/* How many confirmations a suspicion can expect: one per indirect check,
 * fewer in a small cluster, where only the members other than the accused
 * and its first accuser can confirm. */
static guint
expected_confirmations (GossipCluster *self)
{
  guint others = count_alive_suspect (self);
  guint k = (guint) MAX (self->config->indirect_checks, 1);

  others = others > 2 ? others - 2 : 0;
  return MIN (MIN (k, others), MAX_ACCUSERS - 1);
}

/* Lifeguard's dynamic suspicion timeout: dead_node_timeout without
 * confirmations, shrinking with the log of the distinct confirmations down
 * to max(dead_node_timeout / 4, 2 probe periods) when all the expected ones
 * arrived. Both ends stretch with our local health. */
static gint64
suspicion_timeout (GossipCluster *self,
                   GossipMember  *m)
{
  const GossipConfig *c = self->config;
  gint64 health = 1 + (gint64) self->local_health;
  gint64 max = c->dead_node_timeout * health;
  gint64 min = MIN (max, MAX (c->dead_node_timeout / 4, 2 * c->health_check_interval) * health);
  guint k = expected_confirmations (self);
  guint confirmations = m->suspicion != NULL ? m->suspicion->n_accusers - 1 : 0;
  double frac;

  if (k == 0 || confirmations == 0)
    return max;
  frac = MIN (1.0, log ((double) confirmations + 1.0) / log ((double) k + 1.0));
  return MAX (min, max - (gint64) ((double) (max - min) * frac));
}

typedef struct {
  GossipCluster *self;
  guint8         uuid[GOSSIP_UUID_SIZE];
} SuspicionData;

static SuspicionData *
suspicion_data_new (GossipCluster *self,
                    GossipMember  *m)
{
  SuspicionData *sd = g_new0 (SuspicionData, 1);

  sd->self = self;
  memcpy (sd->uuid, m->uuid, GOSSIP_UUID_SIZE);
  return sd;
}

static void
suspicion_expired (gpointer data)
{
  SuspicionData *sd = data;
  GossipCluster *self = g_object_ref (sd->self);
  GossipMember *m = _gossip_membership_lookup (self, sd->uuid);

  if (m != NULL && m->state == GOSSIP_NODE_SUSPECT && m->suspicion != NULL)
    {
      GossipUpdate u;

      m->suspicion->timer = 0;
      set_state (self, m, GOSSIP_NODE_DEAD);
      update_from_member (m, GOSSIP_UPDATE_DEAD, self->local_uuid, &u);
      disseminate (self, &u, NULL);
    }
  _gossip_cluster_flush_events (self);
  g_object_unref (self);
}

/* (Re)arms the timer for the current number of confirmations, counted from
 * the start of the suspicion. */
static void
arm_suspicion (GossipCluster *self,
               GossipMember  *m)
{
  gint64 elapsed = now (self) - m->state_time;

  if (m->suspicion->timer != 0)
    gossip_clock_cancel (self->clock, m->suspicion->timer);
  m->suspicion->timer = gossip_clock_add_timeout (self->clock,
                                                  MAX (0, suspicion_timeout (self, m) - elapsed),
                                                  suspicion_expired, suspicion_data_new (self, m), g_free);
}

static void
confirm_probe_fire (gpointer data)
{
  SuspicionData *sd = data;
  GossipCluster *self = sd->self;
  GossipMember *m = _gossip_membership_lookup (self, sd->uuid);

  if (m == NULL || m->suspicion == NULL)
    return;
  m->suspicion->confirm_timer = 0;
  if (m->state == GOSSIP_NODE_SUSPECT && self->lifecycle == GOSSIP_LIFECYCLE_RUNNING)
    start_probe (self, m);
}

/* @m just became suspect on @accuser's word. When someone else accused it,
 * a few members (2k of the cluster, whatever its size) check for themselves
 * with a full probe within suspect_retry_interval: their failures are the
 * independent confirmations that let a dead member be declared dead sooner,
 * and a live one is not hurt by being probed. */
static void
suspicion_start (GossipCluster *self,
                 GossipMember  *m,
                 const guint8  *accuser)
{
  guint k = expected_confirmations (self);
  guint others = count_alive_suspect (self);

  suspicion_clear (self, m);
  m->suspicion = g_new0 (GossipSuspicion, 1);
  memcpy (m->suspicion->accusers[0], accuser, GOSSIP_UUID_SIZE);
  m->suspicion->n_accusers = 1;
  arm_suspicion (self, m);

  if (k > 0 && memcmp (accuser, self->local_uuid, GOSSIP_UUID_SIZE) != 0 &&
      g_rand_double (self->rand) * (double) (others > 2 ? others - 2 : 1) < 2.0 * k)
    m->suspicion->confirm_timer =
      gossip_clock_add_timeout (self->clock,
                                (gint64) (g_rand_double (self->rand) * (double) self->config->suspect_retry_interval),
                                confirm_probe_fire, suspicion_data_new (self, m), g_free);
}

/* Adds @accuser to @m's suspicion. Returns TRUE when it is a new distinct
 * accuser (a confirmation), which shortens the timeout. */
static gboolean
suspicion_confirm (GossipCluster *self,
                   GossipMember  *m,
                   const guint8  *accuser)
{
  GossipSuspicion *s = m->suspicion;

  static const guint8 nobody[GOSSIP_UUID_SIZE] = { 0 };

  /* An accusation without an accuser (relayed from a state exchange)
   * confirms nothing. */
  if (s == NULL || s->n_accusers >= MAX_ACCUSERS || memcmp (accuser, nobody, GOSSIP_UUID_SIZE) == 0)
    return FALSE;
  for (guint i = 0; i < s->n_accusers; i++)
    if (memcmp (s->accusers[i], accuser, GOSSIP_UUID_SIZE) == 0)
      return FALSE;
  memcpy (s->accusers[s->n_accusers++], accuser, GOSSIP_UUID_SIZE);
  arm_suspicion (self, m);
  return TRUE;
}

/* For tests (engine thread): whether the member is under suspicion here,
 * by how many distinct accusers, and the timeout they give it. */
gboolean
_gossip_membership_suspicion_info (GossipCluster *self,
                                   const guint8  *uuid,
                                   guint         *accusers,
                                   gint64        *timeout)
{
  GossipMember *m = _gossip_membership_lookup (self, uuid);

  if (m == NULL || m->state != GOSSIP_NODE_SUSPECT || m->suspicion == NULL)
    return FALSE;
  *accusers = m->suspicion->n_accusers;
  *timeout = suspicion_timeout (self, m);
  return TRUE;
}

static void
suspicion_clear (GossipCluster *self,
                 GossipMember  *m)
{
  if (m->suspicion == NULL)
    return;
  if (m->suspicion->timer != 0)
    gossip_clock_cancel (self->clock, m->suspicion->timer);
  if (m->suspicion->confirm_timer != 0)
    gossip_clock_cancel (self->clock, m->suspicion->confirm_timer);
  g_clear_pointer (&m->suspicion, g_free);
}

/* Applies one update. Returns TRUE when it was news (changed our view), in
 * which case it is worth passing on. */
static gboolean
apply_update (GossipCluster      *self,
              const GossipUpdate *u)
{
  GossipMember *m;
  gboolean new_metadata;

  if (is_local_uuid (self, u->id))
    {
      if (self->local == NULL)
        return FALSE;
      switch (u->kind)
        {
        case GOSSIP_UPDATE_ALIVE:
          /* Someone remembers us with a higher incarnation (a previous
           * life): outbid it. */
          if (u->incarnation > self->local->incarnation)
            refute (self, u->incarnation);
          return FALSE;
        case GOSSIP_UPDATE_SUSPECT:
        case GOSSIP_UPDATE_DEAD:
        case GOSSIP_UPDATE_LEAVE:
          if (u->incarnation >= self->local->incarnation && !self->left)
            refute (self, u->incarnation);
          return FALSE;
        }
      return FALSE;
    }

  m = _gossip_membership_lookup (self, u->id);

  switch (u->kind)
    {
    case GOSSIP_UPDATE_ALIVE:
      if (m == NULL)
        {
          if (u->address == NULL || *u->address == '\0')
            return FALSE;
          member_new (self, u, GOSSIP_NODE_ALIVE);
          return TRUE;
        }
      if (u->incarnation <= m->incarnation)
        return FALSE;
      m->incarnation = u->incarnation;
      new_metadata = member_learn (self, m, u);
      if (m->state != GOSSIP_NODE_ALIVE)
        set_state (self, m, GOSSIP_NODE_ALIVE);
      if (new_metadata)
        _gossip_cluster_emit_metadata (self, m->snapshot);
      return TRUE;

    case GOSSIP_UPDATE_SUSPECT:
      if (m == NULL || u->incarnation < m->incarnation)
        return FALSE;
      if (m->state == GOSSIP_NODE_SUSPECT)
        {
          if (u->incarnation > m->incarnation)
            {
              m->incarnation = u->incarnation;
              return TRUE;
            }
          /* Another member confirms: a distinct accuser shortens the
           * timeout (Lifeguard) and is passed on, so that others count
           * it too. */
          return suspicion_confirm (self, m, u->from);
        }
      if (m->state != GOSSIP_NODE_ALIVE)
        return FALSE;
      m->incarnation = u->incarnation;
      set_state (self, m, GOSSIP_NODE_SUSPECT);
      suspicion_start (self, m, u->from);
      return TRUE;

    case GOSSIP_UPDATE_DEAD:
      if (m == NULL || u->incarnation < m->incarnation ||
          m->state == GOSSIP_NODE_DEAD || m->state == GOSSIP_NODE_LEAVING)
        return FALSE;
      m->incarnation = u->incarnation;
      set_state (self, m, GOSSIP_NODE_DEAD);
      return TRUE;

    case GOSSIP_UPDATE_LEAVE:
      /* Dead at the same incarnation is where a leave ends up (cleanup
       * after leaving_node_timeout): the leave itself, still gossiped or
       * exchanged, must not bring it back. A new leave has a new
       * incarnation. */
      if (m == NULL || u->incarnation < m->incarnation || m->state == GOSSIP_NODE_LEAVING ||
          (m->state == GOSSIP_NODE_DEAD && u->incarnation == m->incarnation))
        return FALSE;
      m->incarnation = u->incarnation;
      set_state (self, m, GOSSIP_NODE_LEAVING);
      return TRUE;
    }
  return FALSE;
}

/* Reads "u16 count + updates", applies them and returns the encodings of
 * those that were news (for relaying), or NULL on malformed input.
 * @stale_about_us (optional) tells whether the sender still suspects us,
 * or thinks us dead, at an incarnation we already refuted. */
static GPtrArray *
read_updates_full (GossipCluster *self,
                   GossipReader  *r,
                   gboolean      *stale_about_us)
{
  guint16 count = 0;
  g_autoptr(GPtrArray) news = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);

  if (!gossip_reader_get_u16 (r, &count) || count > MAX_PIGGYBACK_UPDATES)
    return NULL;
  for (guint i = 0; i < count; i++)
    {
      GossipUpdate u;
      gsize start = r->pos;

      if (!_gossip_update_read (r, &u))
        return NULL;
      if (stale_about_us != NULL && self->local != NULL && !self->left && is_local_uuid (self, u.id) &&
          (u.kind == GOSSIP_UPDATE_SUSPECT || u.kind == GOSSIP_UPDATE_DEAD) &&
          u.incarnation < self->local->incarnation)
        *stale_about_us = TRUE;
      if (apply_update (self, &u))
        g_ptr_array_add (news, g_bytes_new (r->data + start, r->pos - start));
      _gossip_update_clear (&u);
    }
  return g_steal_pointer (&news);
}

static GPtrArray *
read_updates (GossipCluster *self,
              GossipReader  *r)
{
  return read_updates_full (self, r, NULL);
}

/* A peer still accuses us at an incarnation we already refuted: our
 * refutation missed it (it went to our live members and the gossip tail
 * ended), and nothing else would correct it before a state exchange. The
 * accuser keeps telling us (suspect-retry pings, gossip to the recently
 * dead), so answer it directly with our current alive update. */
static void
correct_stale_view (GossipCluster *self,
                    const char    *address)
{
  g_autoptr(GPtrArray) extra = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  GossipWriter w;
  GossipUpdate u;

  if (address == NULL || *address == '\0')
    return;
  update_from_member (self->local, GOSSIP_UPDATE_ALIVE, NULL, &u);
  g_ptr_array_add (extra, encode_update (&u));
  _gossip_cluster_begin_body (self, &w, GOSSIP_PACKET_GOSSIP, FALSE);
  gossip_writer_put_raw (&w, self->local_uuid, GOSSIP_UUID_SIZE);
  gossip_writer_put_u8 (&w, 0);
  write_piggyback (self, &w, PIGGYBACK_BUDGET, extra);
  _gossip_cluster_send_body (self, address, &w, FALSE);
  gossip_writer_clear (&w);
}

/* ------------------------------------------------------------------------ */
/* Gossip packets                                                            */
/* ------------------------------------------------------------------------ */

/* GOSSIP: [16 sender][u8 ttl][updates]. Sent to a fan-out of peers; the
 * receiver relays what was news to it with ttl - 1. */
static void
membership_send_gossip (GossipCluster *self,
                        GPtrArray     *updates,
                        guint          ttl,
                        const guint8  *exclude)
{
  g_autoptr(GPtrArray) targets = NULL;

  if (self->lifecycle != GOSSIP_LIFECYCLE_RUNNING)
    return;

  /* Like memberlist, gossip goes to alive members: suspects are likely
   * unreachable (they hear about their suspicion from the retry pings). */
  targets = _gossip_membership_pick (self, _gossip_membership_fanout (self), NULL, exclude, NULL,
                                     GOSSIP_PICK_ALIVE_ONLY);
  for (guint i = 0; i < targets->len; i++)
    {
      GossipMember *m = targets->pdata[i];
      GossipWriter w;
      g_autoptr(GPtrArray) extra = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
      GBytes *view = view_of (self, m);

      for (guint j = 0; j < updates->len; j++)
        g_ptr_array_add (extra, g_bytes_ref (updates->pdata[j]));
      if (view)
        g_ptr_array_add (extra, view);

      _gossip_cluster_begin_body (self, &w, GOSSIP_PACKET_GOSSIP, FALSE);
      gossip_writer_put_raw (&w, self->local_uuid, GOSSIP_UUID_SIZE);
      gossip_writer_put_u8 (&w, (guint8) MIN (ttl, 255u));
      write_piggyback (self, &w, PIGGYBACK_BUDGET, extra);
      _gossip_cluster_send_body (self, m->snapshot->address, &w, FALSE);
      gossip_writer_clear (&w);
    }
}

static void
handle_gossip (GossipCluster *self,
               GossipReader  *r)
{
  const guint8 *sender = NULL;
  guint8 ttl = 0;
  g_autoptr(GPtrArray) news = NULL;
  gboolean stale = FALSE;

  if (!gossip_reader_get_raw (r, GOSSIP_UUID_SIZE, &sender) || !gossip_reader_get_u8 (r, &ttl))
    goto bad;
  news = read_updates_full (self, r, &stale);
  if (news == NULL)
    goto bad;
  member_heard (self, sender);
  if (stale)
    {
      GossipMember *from = _gossip_membership_lookup (self, sender);
      if (from != NULL && !from->is_local)
        correct_stale_view (self, from->snapshot->address);
    }
  queue_news (self, news);
  if (news->len > 0 && ttl > 1)
    {
      guint8 from[GOSSIP_UUID_SIZE];
      memcpy (from, sender, GOSSIP_UUID_SIZE);
      membership_send_gossip (self, news, ttl - 1, from);
    }
  return;

bad:
  self->stats.frames_dropped++;
}

static void
gossip_timer_fire (gpointer data)
{
  GossipCluster *self = data;
  g_autoptr(GPtrArray) targets = NULL;

  self->timers[GOSSIP_TIMER_GOSSIP] =
    _gossip_cluster_timer (self, self->config->metadata_gossip_interval, gossip_timer_fire);

  /* Periodic round: retransmit queued updates to a fan-out of peers, and
   * always talk to one recently dead member so partitions heal. */
  targets = _gossip_membership_pick (self, self->broadcasts.length > 0 ? _gossip_membership_fanout (self) : 0,
                                     NULL, NULL, NULL, GOSSIP_PICK_RECENT_DEAD | GOSSIP_PICK_ALIVE_ONLY);
  for (guint i = 0; i < targets->len; i++)
    {
      GossipMember *m = targets->pdata[i];
      GossipWriter w;
      g_autoptr(GPtrArray) extra = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
      GBytes *view = view_of (self, m);
      GossipUpdate lu;

      if (m->state == GOSSIP_NODE_DEAD)
        {
          update_from_member (self->local, self->left ? GOSSIP_UPDATE_LEAVE : GOSSIP_UPDATE_ALIVE, NULL, &lu);
          g_ptr_array_add (extra, encode_update (&lu));
        }
      if (view)
        g_ptr_array_add (extra, view);
      _gossip_cluster_begin_body (self, &w, GOSSIP_PACKET_GOSSIP, FALSE);
      gossip_writer_put_raw (&w, self->local_uuid, GOSSIP_UUID_SIZE);
      gossip_writer_put_u8 (&w, 0);
      write_piggyback (self, &w, PIGGYBACK_BUDGET, extra);
      _gossip_cluster_send_body (self, m->snapshot->address, &w, FALSE);
      gossip_writer_clear (&w);
    }
}

/* ------------------------------------------------------------------------ */
/* Probing                                                                   */
/* ------------------------------------------------------------------------ */

static gint64
probe_deadline (GossipCluster *self)
{
  gint64 d = MIN (self->config->suspect_timeout, self->config->health_check_interval);
  return d * (gint64) (1 + self->local_health);
}

static void
send_ping (GossipCluster *self,
           guint32        seq,
           GossipMember  *target,
           const char    *address,
           gboolean       stream_reply,
           GossipTransportStreamFunc func,
           gpointer       user_data)
{
  GossipWriter w;
  g_autoptr(GPtrArray) extra = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  GBytes *view = target ? view_of (self, target) : NULL;

  if (view)
    g_ptr_array_add (extra, view);
  _gossip_cluster_begin_body (self, &w, GOSSIP_PACKET_PING, stream_reply);
  gossip_writer_put_u32 (&w, seq);
  gossip_writer_put_raw (&w, target ? target->uuid : self->local_uuid, GOSSIP_UUID_SIZE);
  gossip_writer_put_raw (&w, self->local_uuid, GOSSIP_UUID_SIZE);
  gossip_writer_put_string (&w, self->local->snapshot->address);
  write_piggyback (self, &w, PIGGYBACK_BUDGET, extra);
  self->stats.probes_sent++;

  if (stream_reply)
    {
      g_autoptr(GBytes) frame = _gossip_cluster_seal (self, &w);
      if (frame)
        gossip_transport_send_stream (self->transport, address, frame, TRUE,
                                      MAX (probe_deadline (self) / 2, 100 * G_TIME_SPAN_MILLISECOND),
                                      func, user_data);
    }
  else
    _gossip_cluster_send_body (self, address, &w, FALSE);
  gossip_writer_clear (&w);
}

static GossipProbe *
probe_lookup (GossipCluster *self,
              guint32        seq)
{
  return g_hash_table_lookup (self->probes, GUINT_TO_POINTER (seq));
}

static void
probe_finish (GossipCluster *self,
              GossipProbe   *p)
{
  if (p->indirect_timer)
    gossip_clock_cancel (self->clock, p->indirect_timer);
  if (p->deadline_timer)
    gossip_clock_cancel (self->clock, p->deadline_timer);
  if (p->relay_timer)
    gossip_clock_cancel (self->clock, p->relay_timer);
  g_hash_table_remove (self->probes, GUINT_TO_POINTER (p->seq));
}

typedef struct {
  GossipCluster *self;
  guint32        seq;
} ProbeRef;

static ProbeRef *
probe_ref (GossipCluster *self, guint32 seq)
{
  ProbeRef *ref = g_new (ProbeRef, 1);
  ref->self = self;
  ref->seq = seq;
  return ref;
}

static void
probe_acked (GossipCluster *self,
             GossipProbe   *p)
{
  if (p->kind == PROBE_DIRECT)
    {
      p->acked = TRUE;
      if (self->local_health > 0)
        self->local_health--;
      probe_finish (self, p);
    }
  else
    {
      /* Relay: tell the member that asked us. */
      GossipWriter w;

      _gossip_cluster_begin_body (self, &w, GOSSIP_PACKET_ACK, FALSE);
      gossip_writer_put_u32 (&w, p->origin_seq);
      gossip_writer_put_raw (&w, p->target, GOSSIP_UUID_SIZE);
      write_piggyback (self, &w, PIGGYBACK_BUDGET, NULL);
      _gossip_cluster_send_body (self, p->origin_addr, &w, FALSE);
      gossip_writer_clear (&w);
      probe_finish (self, p);
    }
}

static void
stream_ping_done (GBytes       *reply,
                  const GError *error,
                  gpointer      user_data)
{
  ProbeRef *ref = user_data;
  GossipCluster *self = ref->self;
  GossipProbe *p;

  /* The probe may be over (acked or failed) and the cluster stopping. */
  if (error == NULL && reply != NULL && self->lifecycle == GOSSIP_LIFECYCLE_RUNNING &&
      (p = probe_lookup (self, ref->seq)) != NULL)
    {
      g_autoptr(GBytes) body = gossip_codec_open (self->codec, g_bytes_get_data (reply, NULL),
                                                  g_bytes_get_size (reply), NULL);
      GossipReader r;
      guint8 kind = 0, hflags = 0;

      if (body != NULL)
        {
          gossip_reader_init (&r, g_bytes_get_data (body, NULL), g_bytes_get_size (body));
          if (gossip_reader_get_u8 (&r, &kind) && kind == GOSSIP_PACKET_ACK &&
              gossip_reader_get_u8 (&r, &hflags) && hflags == 0)
            {
              guint32 seq = 0;
              const guint8 *sender = NULL;
              if (gossip_reader_get_u32 (&r, &seq) && gossip_reader_get_raw (&r, GOSSIP_UUID_SIZE, &sender))
                {
                  g_autoptr(GPtrArray) news = read_updates (self, &r);
                  probe_acked (self, p);
                }
            }
        }
      _gossip_cluster_flush_events (self);
    }
  g_free (ref);
}

/* Relays for an indirect probe: alive members only (as memberlist does),
 * never the target. Suspects are likely unreachable themselves. Members
 * heard from within the last probe period come first: they can reach us,
 * so their nacks come back even when we are on the small side of a
 * partition, and Lifeguard does not take the target's silence for ours. */
static GPtrArray *
pick_relays (GossipCluster *self,
             guint          n,
             const guint8  *target)
{
  GPtrArray *out = g_ptr_array_new ();
  gint64 window = self->config->health_check_interval;

  for (guint pass = 0; pass < 2 && out->len < n; pass++)
    {
      guint first = out->len, seen = 0;

      for (guint i = 0; i < self->live->len; i++)
        {
          GossipMember *m = self->live->pdata[i];
          if (m->state != GOSSIP_NODE_ALIVE || memcmp (m->uuid, target, GOSSIP_UUID_SIZE) == 0 ||
              member_heard_within (self, m, window) != (pass == 0))
            continue;
          /* Reservoir sampling of the n - first places left. */
          seen++;
          if (out->len < n)
            g_ptr_array_add (out, m);
          else
            {
              guint j = (guint) g_rand_int_range (self->rand, 0, (gint32) seen);
              if (j < n - first)
                out->pdata[first + j] = m;
            }
        }
    }
  return out;
}

static void
probe_indirect (gpointer data)
{
  ProbeRef *ref = data;
  GossipCluster *self = ref->self;
  GossipProbe *p = probe_lookup (self, ref->seq);
  GossipMember *target;
  g_autoptr(GPtrArray) relays = NULL;

  if (p == NULL)
    return;
  p->indirect_timer = 0;
  target = _gossip_membership_lookup (self, p->target);
  if (target == NULL)
    return;

  relays = pick_relays (self, (guint) self->config->indirect_checks, p->target);
  p->nacks_expected = relays->len;
  for (guint i = 0; i < relays->len; i++)
    {
      GossipMember *relay = relays->pdata[i];
      GossipWriter w;

      _gossip_cluster_begin_body (self, &w, GOSSIP_PACKET_PING_REQ, FALSE);
      gossip_writer_put_u32 (&w, p->seq);
      gossip_writer_put_raw (&w, target->uuid, GOSSIP_UUID_SIZE);
      gossip_writer_put_string (&w, target->snapshot->address);
      gossip_writer_put_raw (&w, self->local_uuid, GOSSIP_UUID_SIZE);
      gossip_writer_put_string (&w, self->local->snapshot->address);
      write_piggyback (self, &w, PIGGYBACK_BUDGET, NULL);
      _gossip_cluster_send_body (self, relay->snapshot->address, &w, FALSE);
      gossip_writer_clear (&w);
      self->stats.indirect_probes_sent++;
    }

  /* Also try a stream ping, which survives datagram loss (memberlist's
   * TCP fallback). */
  send_ping (self, p->seq, target, target->snapshot->address, TRUE, stream_ping_done, probe_ref (self, p->seq));
}

static void
probe_deadline_fire (gpointer data)
{
  ProbeRef *ref = data;
  GossipCluster *self = ref->self;
  GossipProbe *p = probe_lookup (self, ref->seq);
  GossipMember *target;

  if (p == NULL)
    return;
  p->deadline_timer = 0;
  target = _gossip_membership_lookup (self, p->target);

  /* Lifeguard: if none of the relays even nacked, the fault is likely
   * ours. A single nack proves we can still talk to the cluster (behind a
   * partition only part of the relays can answer), so it is not counted. */
  if (p->nacks_expected > 0 && p->nacks == 0)
    self->local_health = MIN (self->local_health + 1, MAX_LOCAL_HEALTH);
  else if (p->nacks > 0)
    {
      /* We are healthy and the target is not: several members may have
       * gone at once (a rack, a partition), so for a while probes overlap,
       * four per period. Only failures speed probing up: a healthy cluster
       * keeps its constant load. */
      self->fast_probe_until = gossip_clock_now (self->clock) + 2 * self->config->health_check_interval;
      if (self->timers[GOSSIP_TIMER_PROBE] != 0)
        {
          gossip_clock_cancel (self->clock, self->timers[GOSSIP_TIMER_PROBE]);
          self->timers[GOSSIP_TIMER_PROBE] = 0;
        }
      schedule_probe (self);
    }

  if (target != NULL && target->state == GOSSIP_NODE_ALIVE)
    {
      GossipUpdate u;

      set_state (self, target, GOSSIP_NODE_SUSPECT);
      suspicion_start (self, target, self->local_uuid);
      update_from_member (target, GOSSIP_UPDATE_SUSPECT, self->local_uuid, &u);
      disseminate (self, &u, NULL);
    }
  else if (target != NULL && target->state == GOSSIP_NODE_SUSPECT &&
           suspicion_confirm (self, target, self->local_uuid))
    {
      /* Our own full probe of a suspect failed: a confirmation, ours. */
      GossipUpdate u;

      update_from_member (target, GOSSIP_UPDATE_SUSPECT, self->local_uuid, &u);
      disseminate (self, &u, NULL);
    }
  probe_finish (self, p);
  /* A plain clock timer: nobody else flushes what it raised. */
  _gossip_cluster_flush_events (self);
}

static GossipMember *
next_probe_target (GossipCluster *self)
{
  /* While probes fail (fast probing), members heard from within the last
   * period are passed over too: they just proved to be alive, and the
   * probes are better spent on the silent ones, which after a partition
   * or a rack failure are the ones gone. */
  gboolean quiet_only = gossip_clock_now (self->clock) < self->fast_probe_until;

  for (guint attempts = 0; attempts < 2; attempts++)
    {
      /* Suspects are passed over: they get the suspect-retry pings. */
      while (self->probe_index < self->live->len)
        {
          GossipMember *m = g_ptr_array_index (self->live, self->probe_index++);
          if (m->state == GOSSIP_NODE_ALIVE &&
              !(quiet_only && member_heard_within (self, m, self->config->health_check_interval)))
            return m;
        }
      /* End of the round: reshuffle the live members. */
      for (guint i = self->live->len; i > 1; i--)
        live_swap (self, i - 1, (guint) g_rand_int_range (self->rand, 0, (gint32) i));
      self->probe_index = 0;
    }
  return NULL;
}

/* A full probe: a ping, then indirect pings and a stream ping, then the
 * verdict at the deadline. */
static void
start_probe (GossipCluster *self,
             GossipMember  *target)
{
  GossipProbe *p;
  gint64 deadline;

  p = g_new0 (GossipProbe, 1);
  p->kind = PROBE_DIRECT;
  p->seq = ++self->next_seq;
  memcpy (p->target, target->uuid, GOSSIP_UUID_SIZE);
  p->started = now (self);
  g_hash_table_insert (self->probes, GUINT_TO_POINTER (p->seq), p);

  deadline = probe_deadline (self);
  p->indirect_timer = gossip_clock_add_timeout (self->clock, deadline / 3, probe_indirect,
                                                probe_ref (self, p->seq), g_free);
  p->deadline_timer = gossip_clock_add_timeout (self->clock, deadline, probe_deadline_fire,
                                                probe_ref (self, p->seq), g_free);
  send_ping (self, p->seq, target, target->snapshot->address, FALSE, NULL, NULL);
}

static void
probe_timer_fire (gpointer data)
{
  GossipCluster *self = data;
  GossipMember *target;

  self->timers[GOSSIP_TIMER_PROBE] = 0;
  schedule_probe (self);

  target = next_probe_target (self);
  if (target != NULL)
    start_probe (self, target);
}

static void
schedule_probe (GossipCluster *self)
{
  gint64 period = self->config->health_check_interval * (gint64) (1 + self->local_health);

  if (gossip_clock_now (self->clock) < self->fast_probe_until)
    period = self->config->health_check_interval / 4;
  if (self->timers[GOSSIP_TIMER_PROBE] == 0)
    self->timers[GOSSIP_TIMER_PROBE] = _gossip_cluster_timer (self, period, probe_timer_fire);
}

/* Suspects get an extra ping every suspect_retry_interval carrying the
 * suspicion, so that a live one hears of it and refutes quickly. */
static void
suspect_retry_fire (gpointer data)
{
  GossipCluster *self = data;

  self->timers[GOSSIP_TIMER_SUSPECT_RETRY] =
    _gossip_cluster_timer (self, self->config->suspect_retry_interval, suspect_retry_fire);
  for (guint i = 0; i < self->live->len; i++)
    {
      GossipMember *m = self->live->pdata[i];
      if (m->state == GOSSIP_NODE_SUSPECT)
        send_ping (self, ++self->next_seq, m, m->snapshot->address, FALSE, NULL, NULL);
    }
}

static void
send_ack (GossipCluster        *self,
          guint32               seq,
          const char           *address,
          GossipTransportReply *reply)
{
  GossipWriter w;

  _gossip_cluster_begin_body (self, &w, GOSSIP_PACKET_ACK, FALSE);
  gossip_writer_put_u32 (&w, seq);
  gossip_writer_put_raw (&w, self->local_uuid, GOSSIP_UUID_SIZE);
  write_piggyback (self, &w, PIGGYBACK_BUDGET, NULL);
  if (reply != NULL)
    {
      g_autoptr(GBytes) frame = _gossip_cluster_seal (self, &w);
      if (frame)
        gossip_transport_reply_send (reply, frame);
    }
  else
    _gossip_cluster_send_body (self, address, &w, FALSE);
  gossip_writer_clear (&w);
}

static void
handle_ping (GossipCluster        *self,
             GossipReader         *r,
             GossipTransportReply *reply)
{
  guint32 seq = 0;
  const guint8 *target = NULL, *sender = NULL;
  g_autofree char *addr = NULL;
  g_autoptr(GPtrArray) news = NULL;
  gboolean stale = FALSE;

  if (!gossip_reader_get_u32 (r, &seq) ||
      !gossip_reader_get_raw (r, GOSSIP_UUID_SIZE, &target) ||
      !gossip_reader_get_raw (r, GOSSIP_UUID_SIZE, &sender) ||
      !gossip_reader_get_string (r, 1024, &addr) ||
      (news = read_updates_full (self, r, &stale)) == NULL)
    {
      self->stats.frames_dropped++;
      return;
    }
  /* A ping meant for a previous owner of our address is not ours to ack. */
  if (!is_local_uuid (self, target))
    return;
  member_heard (self, sender);
  if (stale)
    correct_stale_view (self, addr);
  queue_news (self, news);
  send_ack (self, seq, addr, reply);
}

static void
handle_ack (GossipCluster *self,
            GossipReader  *r)
{
  guint32 seq = 0;
  const guint8 *sender = NULL;
  g_autoptr(GPtrArray) news = NULL;
  GossipProbe *p;

  if (!gossip_reader_get_u32 (r, &seq) ||
      !gossip_reader_get_raw (r, GOSSIP_UUID_SIZE, &sender) ||
      (news = read_updates (self, r)) == NULL)
    {
      self->stats.frames_dropped++;
      return;
    }
  p = probe_lookup (self, seq);
  if (p != NULL && memcmp (p->target, sender, GOSSIP_UUID_SIZE) == 0)
    probe_acked (self, p);
}

static void
relay_timeout (gpointer data)
{
  ProbeRef *ref = data;
  GossipCluster *self = ref->self;
  GossipProbe *p = probe_lookup (self, ref->seq);
  GossipWriter w;

  if (p == NULL)
    return;
  p->relay_timer = 0;
  /* Lifeguard nack: "I am alive, but could not reach the target." */
  _gossip_cluster_begin_body (self, &w, GOSSIP_PACKET_NACK, FALSE);
  gossip_writer_put_u32 (&w, p->origin_seq);
  gossip_writer_put_raw (&w, self->local_uuid, GOSSIP_UUID_SIZE);
  _gossip_cluster_send_body (self, p->origin_addr, &w, FALSE);
  gossip_writer_clear (&w);
  probe_finish (self, p);
}

static void
handle_ping_req (GossipCluster *self,
                 GossipReader  *r)
{
  guint32 seq = 0;
  const guint8 *target = NULL, *requester = NULL;
  g_autofree char *target_addr = NULL, *requester_addr = NULL;
  g_autoptr(GPtrArray) news = NULL;
  GossipProbe *p;
  GossipMember *tm;

  if (!gossip_reader_get_u32 (r, &seq) ||
      !gossip_reader_get_raw (r, GOSSIP_UUID_SIZE, &target) ||
      !gossip_reader_get_string (r, 1024, &target_addr) ||
      !gossip_reader_get_raw (r, GOSSIP_UUID_SIZE, &requester) ||
      !gossip_reader_get_string (r, 1024, &requester_addr) ||
      (news = read_updates (self, r)) == NULL)
    {
      self->stats.frames_dropped++;
      return;
    }

  p = g_new0 (GossipProbe, 1);
  p->kind = PROBE_RELAY;
  p->seq = ++self->next_seq;
  memcpy (p->target, target, GOSSIP_UUID_SIZE);
  p->origin_seq = seq;
  p->origin_addr = g_strdup (requester_addr);
  g_hash_table_insert (self->probes, GUINT_TO_POINTER (p->seq), p);
  /* The asker waits 2/3 of its deadline for the indirect round; our nack
   * has to reach it before that ends, or a healthy asker takes the lost
   * nacks for its own fault (Lifeguard) whenever a member really died. */
  p->relay_timer = gossip_clock_add_timeout (self->clock, probe_deadline (self) / 2,
                                             relay_timeout, probe_ref (self, p->seq), g_free);

  tm = _gossip_membership_lookup (self, target);
  if (tm != NULL)
    send_ping (self, p->seq, tm, target_addr, FALSE, NULL, NULL);
  else
    {
      /* Unknown to us: ping by address, addressed to the id we were given. */
      GossipWriter w;
      _gossip_cluster_begin_body (self, &w, GOSSIP_PACKET_PING, FALSE);
      gossip_writer_put_u32 (&w, p->seq);
      gossip_writer_put_raw (&w, target, GOSSIP_UUID_SIZE);
      gossip_writer_put_raw (&w, self->local_uuid, GOSSIP_UUID_SIZE);
      gossip_writer_put_string (&w, self->local->snapshot->address);
      gossip_writer_put_u16 (&w, 0);
      _gossip_cluster_send_body (self, target_addr, &w, FALSE);
      gossip_writer_clear (&w);
    }
}

static void
handle_nack (GossipCluster *self,
             GossipReader  *r)
{
  guint32 seq = 0;
  const guint8 *sender = NULL;
  GossipProbe *p;

  if (!gossip_reader_get_u32 (r, &seq) || !gossip_reader_get_raw (r, GOSSIP_UUID_SIZE, &sender))
    {
      self->stats.frames_dropped++;
      return;
    }
  member_heard (self, sender);
  p = probe_lookup (self, seq);
  if (p != NULL && p->kind == PROBE_DIRECT)
    p->nacks++;
}

/* ------------------------------------------------------------------------ */
/* Full state: join and push-pull                                            */
/* ------------------------------------------------------------------------ */

static void
write_record (GossipWriter *w,
              GossipMember *m)
{
  GossipUpdate u;

  update_from_member (m, GOSSIP_UPDATE_ALIVE, NULL, &u);
  _gossip_update_write (w, &u);
  gossip_writer_put_u8 (w, m->state);
}

static void
write_state (GossipCluster *self,
             GossipWriter  *w)
{
  GHashTableIter iter;
  gpointer value;

  gossip_writer_put_u32 (w, g_hash_table_size (self->members));
  g_hash_table_iter_init (&iter, self->members);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    write_record (w, value);
}

static gboolean
read_record (GossipReader *r,
             GossipRecord *rec)
{
  guint8 state = 0;

  if (!_gossip_update_read (r, &rec->alive) || rec->alive.kind != GOSSIP_UPDATE_ALIVE)
    {
      _gossip_update_clear (&rec->alive);
      return FALSE;
    }
  if (!gossip_reader_get_u8 (r, &state) || state > GOSSIP_NODE_LEAVING)
    {
      _gossip_update_clear (&rec->alive);
      return FALSE;
    }
  rec->state = state;
  return TRUE;
}

static void
merge_record (GossipCluster *self,
              GossipRecord  *rec)
{
  GossipUpdate *u = &rec->alive;
  GossipMember *m;
  gboolean news;

  if (is_local_uuid (self, u->id))
    {
      /* What the peer thinks of us: refute anything but alive at our incarnation. */
      GossipUpdate view = *u;
      view.kind = rec->state == GOSSIP_NODE_ALIVE ? GOSSIP_UPDATE_ALIVE :
                  rec->state == GOSSIP_NODE_SUSPECT ? GOSSIP_UPDATE_SUSPECT :
                  rec->state == GOSSIP_NODE_DEAD ? GOSSIP_UPDATE_DEAD : GOSSIP_UPDATE_LEAVE;
      apply_update (self, &view);
      return;
    }

  m = _gossip_membership_lookup (self, u->id);
  if (m == NULL)
    {
      if (u->address == NULL || *u->address == '\0')
        return;
      if (rec->state == GOSSIP_NODE_SUSPECT)
        {
          /* No accuser on record: the sender of the state stands in. */
          m = member_new (self, u, GOSSIP_NODE_SUSPECT);
          suspicion_start (self, m, u->from);
        }
      else
        member_new (self, u, rec->state);
      return;
    }

  news = apply_update (self, u);
  if (rec->state != GOSSIP_NODE_ALIVE)
    {
      GossipUpdate s = *u;
      /* A remote "dead" for a member we know is only a suspicion here (as
       * memberlist's state merge does): after a partition heals, the other
       * side's verdicts about our own side must not kill live nodes
       * before they get the chance to refute. */
      s.kind = rec->state == GOSSIP_NODE_SUSPECT || rec->state == GOSSIP_NODE_DEAD ? GOSSIP_UPDATE_SUSPECT
                                                                                 : GOSSIP_UPDATE_LEAVE;
      memset (s.from, 0, sizeof s.from);
      news = apply_update (self, &s) || news;
    }

  /* What a state exchange taught us about a member we knew (a revival
   * after a partition, a refutation, a death) is passed on like gossip, as
   * memberlist does: otherwise only the two ends of the exchange know it
   * until their peers' own exchanges, up to a push-pull period later. */
  if (news)
    {
      GossipUpdate q;
      g_autoptr(GBytes) enc = NULL;

      switch (m->state)
        {
        case GOSSIP_NODE_ALIVE:   update_from_member (m, GOSSIP_UPDATE_ALIVE, NULL, &q); break;
        case GOSSIP_NODE_SUSPECT:
          /* Passed on in the first accuser's name: hearsay must not count
           * as a confirmation. */
          update_from_member (m, GOSSIP_UPDATE_SUSPECT,
                              m->suspicion != NULL ? m->suspicion->accusers[0] : NULL, &q);
          break;
        case GOSSIP_NODE_DEAD:    update_from_member (m, GOSSIP_UPDATE_DEAD, self->local_uuid, &q); break;
        case GOSSIP_NODE_LEAVING:
        default:                  update_from_member (m, GOSSIP_UPDATE_LEAVE, NULL, &q); break;
        }
      enc = encode_update (&q);
      queue_broadcast (self, m->uuid, enc);
    }
}

/* Reads "u32 count + records" and merges them. FALSE on malformed input
 * (records before the fault are merged: each is valid on its own). */
static gboolean
merge_state (GossipCluster *self,
             GossipReader  *r)
{
  guint32 count = 0;

  if (!gossip_reader_get_u32 (r, &count) || count > MAX_STATE_RECORDS)
    return FALSE;
  for (guint32 i = 0; i < count; i++)
    {
      GossipRecord rec;
      if (!read_record (r, &rec))
        return FALSE;
      merge_record (self, &rec);
      _gossip_update_clear (&rec.alive);
    }
  return TRUE;
}

void
_gossip_membership_reject_join (GossipCluster        *self,
                                GossipTransportReply *reply,
                                const char           *reason)
{
  GossipWriter w;
  g_autoptr(GBytes) frame = NULL;

  _gossip_cluster_begin_body (self, &w, GOSSIP_PACKET_JOIN_REPLY, TRUE);
  gossip_writer_put_u8 (&w, 1);
  gossip_writer_put_string (&w, reason);
  frame = _gossip_cluster_seal (self, &w);
  gossip_writer_clear (&w);
  if (frame)
    gossip_transport_reply_send (reply, frame);
}

/* JOIN: [u8 protocol version][string app_version][record of the joiner].
 * JOIN_REPLY: [u8 status][string reason][state if accepted]. */
static void
handle_join (GossipCluster        *self,
             GossipReader         *r,
             GossipTransportReply *reply)
{
  guint8 version = 0;
  g_autofree char *app_version = NULL;
  GossipRecord rec;
  GossipWriter w;
  g_autoptr(GBytes) frame = NULL;

  if (reply == NULL)
    return;
  if (!gossip_reader_get_u8 (r, &version) ||
      !gossip_reader_get_string (r, 1024, &app_version))
    {
      self->stats.frames_dropped++;
      return;
    }
  if (version != GOSSIP_PROTOCOL_VERSION)
    {
      g_autofree char *reason = g_strdup_printf ("incompatible protocol version: %u != %u",
                                                 version, GOSSIP_PROTOCOL_VERSION);
      _gossip_membership_reject_join (self, reply, reason);
      return;
    }
  if (self->config->app_version[0] != '\0' && g_strcmp0 (app_version, self->config->app_version) != 0)
    {
      g_autofree char *reason = g_strdup_printf ("incompatible application version: %s", app_version);
      self->stats.auth_rejected++;
      _gossip_membership_reject_join (self, reply, reason);
      return;
    }
  if (!read_record (r, &rec))
    {
      self->stats.frames_dropped++;
      return;
    }
  if (is_local_uuid (self, rec.alive.id))
    {
      _gossip_update_clear (&rec.alive);
      _gossip_membership_reject_join (self, reply, "unable to join self");
      return;
    }
  merge_record (self, &rec);
  {
    /* A joiner we saw as dead or leaving is back: believe it. */
    GossipMember *m = _gossip_membership_lookup (self, rec.alive.id);
    if (m != NULL && rec.state == GOSSIP_NODE_ALIVE && m->state != GOSSIP_NODE_ALIVE &&
        m->incarnation <= rec.alive.incarnation)
      {
        m->incarnation = rec.alive.incarnation;
        set_state (self, m, GOSSIP_NODE_ALIVE);
      }
    if (m != NULL)
      {
        GossipUpdate u;
        update_from_member (m, GOSSIP_UPDATE_ALIVE, NULL, &u);
        disseminate (self, &u, m->uuid);
      }
  }
  _gossip_update_clear (&rec.alive);

  _gossip_cluster_begin_body (self, &w, GOSSIP_PACKET_JOIN_REPLY, TRUE);
  gossip_writer_put_u8 (&w, 0);
  gossip_writer_put_string (&w, "");
  write_state (self, &w);
  frame = _gossip_cluster_seal (self, &w);
  gossip_writer_clear (&w);
  if (frame)
    gossip_transport_reply_send (reply, frame);
}

typedef struct {
  GossipCluster *self;
  GTask         *task;
  guint          pending;
  gint           accepted;
} JoinState;

typedef struct {
  JoinState *js;
  char      *address;
} JoinAttempt;

static void
join_state_unref (JoinState *js)
{
  if (--js->pending > 0)
    return;
  if (js->task != NULL)
    {
      g_task_return_int (js->task, js->accepted);
      g_object_unref (js->task);
    }
  g_object_unref (js->self);
  g_free (js);
}

/* Opens a stream reply frame and checks its header. Returns a reader on
 * the body, positioned after the header, or NULL. */
static GBytes *
open_reply (GossipCluster    *self,
            GBytes           *reply,
            GossipPacketKind  expected,
            GossipReader     *r)
{
  g_autoptr(GError) error = NULL;
  GBytes *body;
  guint8 kind = 0, hflags = 0;
  g_autofree char *token = NULL;

  body = gossip_codec_open (self->codec, g_bytes_get_data (reply, NULL), g_bytes_get_size (reply), &error);
  if (body == NULL)
    {
      /* Counted as on_frame_received() does: only key trouble is a rejection. */
      if (g_error_matches (error, GOSSIP_WIRE_ERROR, GOSSIP_WIRE_ERROR_DECRYPT) ||
          g_error_matches (error, GOSSIP_WIRE_ERROR, GOSSIP_WIRE_ERROR_NOT_ENCRYPTED))
        self->stats.frames_rejected++;
      else
        self->stats.frames_dropped++;
      return NULL;
    }
  gossip_reader_init (r, g_bytes_get_data (body, NULL), g_bytes_get_size (body));
  if (!gossip_reader_get_u8 (r, &kind) || kind != expected || !gossip_reader_get_u8 (r, &hflags) ||
      (hflags & ~GOSSIP_HEADER_FLAG_TOKEN) ||
      ((hflags & GOSSIP_HEADER_FLAG_TOKEN) && !gossip_reader_get_string (r, 4096, &token)))
    {
      self->stats.frames_dropped++;
      g_bytes_unref (body);
      return NULL;
    }
  /* The responder must prove it knows the token too. */
  if (self->config->bearer_token[0] != '\0' && !gossip_secret_equal (token, self->config->bearer_token))
    {
      self->stats.auth_rejected++;
      g_bytes_unref (body);
      return NULL;
    }
  return body;
}

static void
join_done (GBytes       *reply,
           const GError *error,
           gpointer      user_data)
{
  JoinAttempt *ja = user_data;
  JoinState *js = ja->js;
  GossipCluster *self = js->self;

  if (self->lifecycle == GOSSIP_LIFECYCLE_RUNNING)
    {
      if (error != NULL)
        g_debug ("join %s: %s", ja->address, error->message);
      else if (reply != NULL)
        {
          GossipReader r;
          g_autoptr(GBytes) body = open_reply (self, reply, GOSSIP_PACKET_JOIN_REPLY, &r);
          guint8 status = 0;
          g_autofree char *reason = NULL;

          if (body == NULL)
            g_message ("join %s failed: the peer's reply could not be authenticated (wrong key or token?)",
                       ja->address);
          else if (!gossip_reader_get_u8 (&r, &status) || !gossip_reader_get_string (&r, 4096, &reason))
            self->stats.frames_dropped++;
          else if (status != 0)
            g_message ("join %s rejected: %s", ja->address, reason);
          else if (merge_state (self, &r))
            {
              js->accepted++;
              /* Nodes that joined together may each have missed a few of
               * the others' announcements: one early state exchange repairs
               * that instead of waiting for the first periodic round. */
              if (!self->early_push_pull)
                {
                  self->early_push_pull = TRUE;
                  if (self->timers[GOSSIP_TIMER_PUSH_PULL] != 0)
                    gossip_clock_cancel (self->clock, self->timers[GOSSIP_TIMER_PUSH_PULL]);
                  self->timers[GOSSIP_TIMER_PUSH_PULL] =
                    _gossip_cluster_timer (self, G_USEC_PER_SEC + _gossip_cluster_jitter (self, G_USEC_PER_SEC, 1),
                                           push_pull_fire);
                }
            }
          else
            self->stats.frames_dropped++;
        }
      _gossip_cluster_flush_events (self);
    }
  join_state_unref (js);
  g_free (ja->address);
  g_free (ja);
}

static void
send_join (GossipCluster *self,
           const char    *address,
           JoinState     *js)
{
  GossipWriter w;
  g_autoptr(GBytes) frame = NULL;
  JoinAttempt *ja;

  _gossip_cluster_begin_body (self, &w, GOSSIP_PACKET_JOIN, TRUE);
  gossip_writer_put_u8 (&w, GOSSIP_PROTOCOL_VERSION);
  gossip_writer_put_string (&w, self->config->app_version);
  write_record (&w, self->local);
  frame = _gossip_cluster_seal (self, &w);
  gossip_writer_clear (&w);
  if (frame == NULL)
    return;

  ja = g_new0 (JoinAttempt, 1);
  ja->js = js;
  ja->address = g_strdup (address);
  js->pending++;
  gossip_transport_send_stream (self->transport, address, frame, TRUE, JOIN_TIMEOUT, join_done, ja);
}

static void
add_seed (GossipCluster *self,
          const char    *address)
{
  for (guint i = 0; i < self->seeds->len; i++)
    if (g_str_equal (self->seeds->pdata[i], address))
      return;
  g_ptr_array_add (self->seeds, g_strdup (address));
}

void
_gossip_membership_join (GossipCluster *self,
                         char         **peers,
                         GTask         *task)
{
  JoinState *js = g_new0 (JoinState, 1);

  js->self = g_object_ref (self);
  js->task = task ? g_object_ref (task) : NULL;
  js->pending = 1;   /* held while sending */

  for (guint i = 0; peers[i] != NULL; i++)
    {
      if (self->local != NULL && g_str_equal (peers[i], self->local->snapshot->address))
        continue;
      add_seed (self, peers[i]);
      if (self->lifecycle == GOSSIP_LIFECYCLE_RUNNING && self->local != NULL)
        send_join (self, peers[i], js);
    }
  join_state_unref (js);
}

/* PUSH_PULL: [16 sender][state]; the reply is a PUSH_PULL with the
 * responder's state. */
static void
handle_push_pull (GossipCluster        *self,
                  GossipReader         *r,
                  GossipTransportReply *reply)
{
  const guint8 *sender = NULL;
  GossipWriter w;
  g_autoptr(GBytes) frame = NULL;

  if (!gossip_reader_get_raw (r, GOSSIP_UUID_SIZE, &sender) || !merge_state (self, r))
    {
      self->stats.frames_dropped++;
      return;
    }
  if (reply == NULL)
    return;
  _gossip_cluster_begin_body (self, &w, GOSSIP_PACKET_PUSH_PULL, TRUE);
  gossip_writer_put_raw (&w, self->local_uuid, GOSSIP_UUID_SIZE);
  write_state (self, &w);
  frame = _gossip_cluster_seal (self, &w);
  gossip_writer_clear (&w);
  if (frame)
    gossip_transport_reply_send (reply, frame);
}

static void
push_pull_done (GBytes       *reply,
                const GError *error,
                gpointer      user_data)
{
  GossipCluster *self = user_data;

  if (error == NULL && reply != NULL && self->lifecycle == GOSSIP_LIFECYCLE_RUNNING)
    {
      GossipReader r;
      g_autoptr(GBytes) body = open_reply (self, reply, GOSSIP_PACKET_PUSH_PULL, &r);
      const guint8 *sender = NULL;

      if (body != NULL && (!gossip_reader_get_raw (&r, GOSSIP_UUID_SIZE, &sender) || !merge_state (self, &r)))
        self->stats.frames_dropped++;
      _gossip_cluster_flush_events (self);
    }
  g_object_unref (self);
}

static void
push_pull_with (GossipCluster *self,
                const char    *address)
{
  GossipWriter w;
  g_autoptr(GBytes) frame = NULL;

  if (self->lifecycle != GOSSIP_LIFECYCLE_RUNNING || self->local == NULL)
    return;
  _gossip_cluster_begin_body (self, &w, GOSSIP_PACKET_PUSH_PULL, TRUE);
  gossip_writer_put_raw (&w, self->local_uuid, GOSSIP_UUID_SIZE);
  write_state (self, &w);
  frame = _gossip_cluster_seal (self, &w);
  gossip_writer_clear (&w);
  if (frame)
    {
      self->push_pulls_started++;
      gossip_transport_send_stream (self->transport, address, frame, TRUE, PUSH_PULL_TIMEOUT,
                                    push_pull_done, g_object_ref (self));
    }
}

/* The push-pull period: @interval × max(1, known / N0), N0 =
 * max(1, round(160 × @multiplier)), known = the records a state carries.
 * An exchange moves the full state both ways, so stretching the period in
 * proportion to its size keeps what a member sends and receives for
 * push-pull near 2 × N0 × record size / @interval per second, flat in N
 * (memberlist's pushPullScale stretches by log2(N / 32) + 1 only, so its
 * cost still grows as N / log N). */
gint64
_gossip_push_pull_period_for (gint64 interval,
                              guint  known,
                              double multiplier)
{
  double n0 = MAX (1.0, round (160.0 * multiplier));
  double period;

  if ((double) known <= n0)
    return interval;
  period = (double) interval * ((double) known / n0);
  /* Durations are at most G_MAXINT64 / 1000 µs: keep the clock's sums finite. */
  if (period >= (double) (G_MAXINT64 / 1000))
    return MAX (interval, G_MAXINT64 / 1000);
  return (gint64) period;
}

/* One exchange with one random alive member per period; the period is
 * recomputed at every round, as the membership changes, and jittered by
 * ±25 % so that members that joined together do not exchange in step. */
static void
push_pull_fire (gpointer data)
{
  GossipCluster *self = data;
  g_autoptr(GPtrArray) peers = NULL;
  /* write_state() sends every member, dead and leaving ones included. */
  guint known = g_hash_table_size (self->members);
  gint64 period = _gossip_push_pull_period_for (self->config->state_gossip_interval, known,
                                                self->config->state_exchange_multiplier);

  self->timers[GOSSIP_TIMER_PUSH_PULL] =
    _gossip_cluster_timer (self, period - period / 4 + _gossip_cluster_jitter (self, period, 2),
                           push_pull_fire);

  peers = _gossip_membership_pick (self, 1, NULL, NULL, NULL, GOSSIP_PICK_ALIVE_ONLY);
  if (peers->len > 0)
    push_pull_with (self, ((GossipMember *) peers->pdata[0])->snapshot->address);
}

/* ------------------------------------------------------------------------ */
/* Cleanup, recovery                                                         */
/* ------------------------------------------------------------------------ */

static void
cleanup_fire (gpointer data)
{
  GossipCluster *self = data;
  g_autoptr(GPtrArray) reap = g_ptr_array_new ();
  GHashTableIter iter;
  gpointer value;
  gint64 t = now (self);

  self->timers[GOSSIP_TIMER_CLEANUP] =
    _gossip_cluster_timer (self, self->config->node_cleanup_interval, cleanup_fire);

  g_hash_table_iter_init (&iter, self->members);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      GossipMember *m = value;
      if (m->is_local)
        continue;
      if (m->state == GOSSIP_NODE_LEAVING && t - m->state_time > self->config->leaving_node_timeout)
        set_state (self, m, GOSSIP_NODE_DEAD);
      else if (m->state == GOSSIP_NODE_DEAD && t - m->state_time > self->config->node_retention_time)
        g_ptr_array_add (reap, m);
    }
  for (guint i = 0; i < reap->len; i++)
    member_reap (self, reap->pdata[i]);
}

static void
recovery_fire (gpointer data)
{
  GossipCluster *self = data;
  GHashTableIter iter;
  gpointer value;
  gint64 t = now (self);
  JoinState *js;

  /* The first two rounds come quickly (3-5 s after start, then 5-7 s
   * later), so that nodes started in any order find each other. */
  self->recovery_rounds++;
  self->timers[GOSSIP_TIMER_RECOVERY] =
    _gossip_cluster_timer (self, self->recovery_rounds < 2
                                 ? MIN (self->config->peer_recovery_interval,
                                        5 * G_USEC_PER_SEC + _gossip_cluster_jitter (self, 2 * G_USEC_PER_SEC, 1))
                                 : self->config->peer_recovery_interval,
                           recovery_fire);

  js = g_new0 (JoinState, 1);
  js->self = g_object_ref (self);
  js->pending = 1;

  /* Seeds, while we know few members (started before our peers). */
  if (self->live->len + 1 <= (self->seeds->len + 1) / 2 + 1)
    for (guint i = 0; i < self->seeds->len; i++)
      send_join (self, self->seeds->pdata[i], js);

  /* Dead members beyond the gossip window: their address may be back. */
  g_hash_table_iter_init (&iter, self->members);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      GossipMember *m = value;
      if (!m->is_local && m->state == GOSSIP_NODE_DEAD && t - m->state_time > DEAD_GOSSIP_WINDOW)
        send_join (self, m->snapshot->address, js);
    }
  join_state_unref (js);
}

/* ------------------------------------------------------------------------ */
/* Entry points                                                              */
/* ------------------------------------------------------------------------ */

void
_gossip_membership_receive (GossipCluster        *self,
                            GossipPacketKind      kind,
                            GossipReader         *r,
                            gboolean              reliable,
                            GossipTransportReply *reply)
{
  if (self->local == NULL)
    return;
  switch (kind)
    {
    case GOSSIP_PACKET_PING:      handle_ping (self, r, reply); break;
    case GOSSIP_PACKET_ACK:       handle_ack (self, r); break;
    case GOSSIP_PACKET_PING_REQ:  handle_ping_req (self, r); break;
    case GOSSIP_PACKET_NACK:      handle_nack (self, r); break;
    case GOSSIP_PACKET_GOSSIP:    handle_gossip (self, r); break;
    case GOSSIP_PACKET_JOIN:      handle_join (self, r, reply); break;
    case GOSSIP_PACKET_PUSH_PULL: handle_push_pull (self, r, reply); break;
    default:
      self->stats.frames_dropped++;
      break;
    }
}

void
_gossip_membership_local_changed (GossipCluster *self)
{
  GHashTable *md;
  guint64 version;
  GossipUpdate info;

  g_mutex_lock (&self->lock);
  md = g_hash_table_ref (self->local_metadata);
  version = self->local_meta_version;
  g_mutex_unlock (&self->lock);

  /* A metadata change is a new incarnation of ourselves: newest wins. */
  self->local->incarnation++;
  update_from_member (self->local, GOSSIP_UPDATE_ALIVE, NULL, &info);
  info.metadata = md;
  info.meta_version = version;
  _gossip_cluster_publish (self, self->local, &info);
  g_hash_table_unref (md);
  _gossip_cluster_emit_metadata (self, self->local->snapshot);
  if (self->lifecycle == GOSSIP_LIFECYCLE_RUNNING)
    announce_local (self);
}

typedef struct {
  GossipCluster *self;
  GTask         *task;
} LeaveWait;

static void
leave_grace_done (gpointer data)
{
  LeaveWait *lw = data;

  g_task_return_boolean (lw->task, TRUE);
  g_object_unref (lw->task);
  g_free (lw);
}

void
_gossip_membership_leave (GossipCluster *self,
                          GTask         *task)
{
  if (self->left || self->local == NULL)
    {
      if (self->local == NULL)
        {
          g_mutex_lock (&self->lock);
          self->left = TRUE;
          g_mutex_unlock (&self->lock);
        }
      if (task)
        g_task_return_boolean (task, TRUE);
      return;
    }

  g_mutex_lock (&self->lock);
  self->left = TRUE;
  g_mutex_unlock (&self->lock);

  self->local->incarnation++;
  set_state (self, self->local, GOSSIP_NODE_LEAVING);
  announce_local (self);

  /* Tell a few peers over streams as well, so the leave survives loss. */
  {
    g_autoptr(GPtrArray) peers = _gossip_membership_pick (self, 3, NULL, NULL, NULL, GOSSIP_PICK_ALIVE_ONLY);
    GossipUpdate u;
    g_autoptr(GBytes) enc = NULL;

    update_from_member (self->local, GOSSIP_UPDATE_LEAVE, NULL, &u);
    enc = encode_update (&u);
    for (guint i = 0; i < peers->len; i++)
      {
        GossipWriter w;
        g_autoptr(GPtrArray) extra = g_ptr_array_new ();
        g_ptr_array_add (extra, enc);
        _gossip_cluster_begin_body (self, &w, GOSSIP_PACKET_GOSSIP, TRUE);
        gossip_writer_put_raw (&w, self->local_uuid, GOSSIP_UUID_SIZE);
        gossip_writer_put_u8 (&w, (guint8) _gossip_membership_ttl (self));
        write_piggyback (self, &w, 0, extra);
        _gossip_cluster_send_body (self, ((GossipMember *) peers->pdata[i])->snapshot->address, &w, TRUE);
        gossip_writer_clear (&w);
      }
  }

  if (task)
    {
      LeaveWait *lw = g_new0 (LeaveWait, 1);
      lw->self = self;
      lw->task = g_object_ref (task);
      gossip_clock_add_timeout (self->clock, LEAVE_GRACE, leave_grace_done, lw, NULL);
    }
}

void
_gossip_membership_init (GossipCluster *self)
{
  self->members = g_hash_table_new_full (gossip_uuid_hash, gossip_uuid_equal, (GDestroyNotify) member_free, NULL);
  self->live = g_ptr_array_new ();
  self->probes = g_hash_table_new_full (NULL, NULL, NULL, (GDestroyNotify) probe_free);
  g_queue_init (&self->broadcasts);
}

void
_gossip_membership_start (GossipCluster *self)
{
  GossipUpdate u = { 0 };
  char *advertise;
  const GossipConfig *c = self->config;

  g_mutex_lock (&self->lock);
  advertise = g_strdup (self->advertise);
  memset (&u, 0, sizeof u);
  u.kind = GOSSIP_UPDATE_ALIVE;
  memcpy (u.id, self->local_uuid, GOSSIP_UUID_SIZE);
  u.address = advertise;
  u.metadata = g_hash_table_ref (self->local_metadata);
  u.meta_version = self->local_meta_version;
  u.tags = _gossip_strv_ref (self->local_tags);
  u.app_version = g_strdup (c->app_version);
  g_mutex_unlock (&self->lock);

  self->local = member_new (self, &u, self->left ? GOSSIP_NODE_LEAVING : GOSSIP_NODE_ALIVE);
  self->local->is_local = TRUE;
  _gossip_update_clear (&u);
  _gossip_cluster_publish (self, self->local, NULL);
  /* Our own appearance is not an event. */
  _gossip_cluster_discard_events (self);

  /* A random first probe: nodes started together do not probe in lockstep. */
  self->timers[GOSSIP_TIMER_PROBE] =
    _gossip_cluster_timer (self, _gossip_cluster_jitter (self, c->health_check_interval, 1), probe_timer_fire);
  self->timers[GOSSIP_TIMER_GOSSIP] =
    _gossip_cluster_timer (self, _gossip_cluster_jitter (self, c->metadata_gossip_interval, 4), gossip_timer_fire);
  self->timers[GOSSIP_TIMER_PUSH_PULL] =
    _gossip_cluster_timer (self, _gossip_cluster_jitter (self, c->state_gossip_interval, 2) + c->state_gossip_interval / 2,
                           push_pull_fire);
  self->timers[GOSSIP_TIMER_CLEANUP] =
    _gossip_cluster_timer (self, _gossip_cluster_jitter (self, c->node_cleanup_interval, 4) + c->node_cleanup_interval / 2,
                           cleanup_fire);
  self->timers[GOSSIP_TIMER_RECOVERY] =
    _gossip_cluster_timer (self, MIN (c->peer_recovery_interval, 3 * G_USEC_PER_SEC) +
                           _gossip_cluster_jitter (self, 2 * G_USEC_PER_SEC, 1), recovery_fire);
  self->timers[GOSSIP_TIMER_SUSPECT_RETRY] =
    _gossip_cluster_timer (self, c->suspect_retry_interval, suspect_retry_fire);
  _gossip_cluster_start_ticks (self);
  _gossip_messaging_start (self);

  /* Peers given to join() before start. */
  if (self->seeds->len > 0)
    {
      JoinState *js = g_new0 (JoinState, 1);
      js->self = g_object_ref (self);
      js->pending = 1;
      for (guint i = 0; i < self->seeds->len; i++)
        send_join (self, self->seeds->pdata[i], js);
      join_state_unref (js);
    }
}

void
_gossip_membership_stop (GossipCluster *self)
{
  GHashTableIter iter;
  gpointer value;

  for (guint i = 0; i < G_N_ELEMENTS (self->timers); i++)
    if (self->timers[i] != 0)
      {
        gossip_clock_cancel (self->clock, self->timers[i]);
        self->timers[i] = 0;
      }

  g_hash_table_iter_init (&iter, self->probes);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      GossipProbe *p = value;
      if (p->indirect_timer)
        gossip_clock_cancel (self->clock, p->indirect_timer);
      if (p->deadline_timer)
        gossip_clock_cancel (self->clock, p->deadline_timer);
      if (p->relay_timer)
        gossip_clock_cancel (self->clock, p->relay_timer);
    }
  g_hash_table_remove_all (self->probes);

  g_hash_table_iter_init (&iter, self->members);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      suspicion_clear (self, value);
    }
}

void
_gossip_membership_finalize (GossipCluster *self)
{
  g_queue_clear_full (&self->broadcasts, (GDestroyNotify) broadcast_free);
  g_clear_pointer (&self->probes, g_hash_table_unref);
  g_clear_pointer (&self->live, g_ptr_array_unref);
  g_clear_pointer (&self->members, g_hash_table_unref);
}
