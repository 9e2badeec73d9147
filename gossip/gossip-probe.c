/* gossip-probe.c — the failure detector: probes, indirect probes through
 * relays, suspicions and local health.
 *
 * Failure detection follows SWIM (Das et al.) with Lifeguard's local health
 * (Dadgar et al.): every probe period one member, taken round-robin from a
 * shuffled list, gets a direct ping; without an ack in a third of the probe
 * deadline, k other members are asked to ping it (PING_REQ) and a stream
 * ping is tried as well; without any ack by the deadline it becomes
 * suspect, or at once if the stream ping is refused (nothing listens at
 * the target's address any more). Suspicion spreads by gossip; the suspect refutes by raising its
 * incarnation; unrefuted suspicion becomes death after dead_node_timeout,
 * sooner as distinct members confirm it. A node that misses acks itself
 * (nacks missing, suspected itself) raises its local health multiplier,
 * which stretches its probe period, probe deadline and the suspicion
 * timeouts it starts.
 *
 * SPDX-License-Identifier: MIT
 */
#include "config.h"

#include <math.h>
#include <string.h>

#include "gossip-private.h"

/* Probe timing (PROTOCOL.md, "Failure detection (timing)"). */
#define PROBES_PER_INTERVAL   4
#define PROBE_RTT_FACTOR      8
#define PROBE_DEADLINE_FLOOR  (300 * G_TIME_SPAN_MILLISECOND)

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

static void schedule_probe (GossipCluster *self);
static gint64 probe_period (GossipCluster *self);
static void start_probe (GossipCluster *self, GossipMember *target);
static void probe_conclude (GossipCluster *self, GossipProbe *p, gboolean refused);

static gint64
now (GossipCluster *self)
{
  return gossip_clock_now (self->clock);
}

void
_gossip_probe_free (gpointer data)
{
  GossipProbe *p = data;

  g_free (p->origin_addr);
  g_free (p);
}

/* Records that a packet from @uuid arrived: members heard from recently are
 * preferred as relays of indirect probes, because they can reach us. */
void
_gossip_probe_heard (GossipCluster *self,
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

/* ------------------------------------------------------------------------ */
/* Suspicions (Lifeguard)                                                    */
/* ------------------------------------------------------------------------ */

/* A suspicion in progress (Lifeguard): its timer, and who accused the
 * member, the first accuser included. Each distinct accuser after the first
 * is a confirmation and shortens the timeout. */
#define MAX_ACCUSERS 8

typedef struct _GossipSuspicion GossipSuspicion;
struct _GossipSuspicion {
  guint   timer;
  guint   confirm_timer;             /* our own confirming probe, pending */
  gboolean shown;                    /* confirmed enough to be shown (latched) */
  guint   n_accusers;
  guint8  accusers[MAX_ACCUSERS][GOSSIP_UUID_SIZE];
};

static gboolean member_heard_within (GossipCluster *self, GossipMember *m, gint64 window);

/* The members that can confirm a suspicion: those we hear from (within two
 * health check intervals), the local node included, other than the
 * accused and its first accuser. Counting the silent ones too would make
 * the small side of a partition wait for confirmations that cannot come. */
static guint
possible_confirmers (GossipCluster *self)
{
  guint n = 1;

  for (guint i = 0; i < self->live->len; i++)
    if (member_heard_within (self, self->live->pdata[i], 2 * self->config->health_check_interval))
      n++;
  return n > 2 ? n - 2 : 0;
}

/* How many confirmations a suspicion can expect: one per indirect check,
 * fewer in a small cluster. */
static guint
expected_confirmations (GossipCluster *self)
{
  guint k = (guint) MAX (self->config->indirect_checks, 1);

  return MIN (MIN (k, possible_confirmers (self)), MAX_ACCUSERS - 1);
}

/* Lifeguard's dynamic suspicion timeout: dead_node_timeout without
 * confirmations, shrinking with the log of the distinct confirmations down
 * to max(dead_node_timeout / 10, suspect_retry_interval, 2 probe periods)
 * when all the expected ones arrived: a live suspect gets suspect-retry
 * pings, each carrying the suspicion, from every accuser to refute it.
 * Both ends stretch with our local health. */
static gint64
suspicion_timeout (GossipCluster *self,
                   GossipMember  *m)
{
  const GossipConfig *c = self->config;
  gint64 health = 1 + (gint64) self->local_health;
  gint64 max = c->dead_node_timeout * health;
  gint64 min = MIN (max, MAX (MAX (c->dead_node_timeout / 10, c->suspect_retry_interval),
                              2 * probe_period (self)) * health);
  guint k = expected_confirmations (self);
  guint confirmations = m->suspicion != NULL ? m->suspicion->n_accusers - 1 : 0;
  double frac;

  if (k == 0 || confirmations == 0)
    return max;
  frac = MIN (1.0, log ((double) confirmations + 1.0) / log ((double) k + 1.0));
  return MAX (min, max - (gint64) ((double) (max - min) * frac));
}

/* Lifeguard keeps a suspicion internal until others confirm it: a member
 * is shown suspect (nodes(), on_state_change, groups, elections) only once
 * independent accusers stand behind the first one, up to two of them when
 * the cluster is large enough to have them, and shown alive before. A
 * probe that failed for loss alone rarely finds others failing too before
 * the suspect refutes; a crashed member fails them all. */
static guint
visible_accusers (GossipCluster *self)
{
  return 1 + MIN (2, expected_confirmations (self));
}

/* Latched: once shown, a suspicion stays shown until it ends (refuted or
 * dead), even if fewer confirmations are expected later on. */
gboolean
_gossip_suspicion_visible (GossipCluster *self,
                           GossipMember  *m)
{
  if (m->suspicion == NULL)
    return FALSE;
  if (!m->suspicion->shown && m->suspicion->n_accusers >= visible_accusers (self))
    m->suspicion->shown = TRUE;
  return m->suspicion->shown;
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
      _gossip_membership_set_state (self, m, GOSSIP_NODE_DEAD);
      _gossip_update_from_member (m, GOSSIP_UPDATE_DEAD, self->local_uuid, &u);
      _gossip_dissemination_spread (self, &u, NULL);
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
void
_gossip_suspicion_start (GossipCluster *self,
                         GossipMember  *m,
                         const guint8  *accuser)
{
  guint k = expected_confirmations (self);

  _gossip_suspicion_clear (self, m);
  m->suspicion = g_new0 (GossipSuspicion, 1);
  memcpy (m->suspicion->accusers[0], accuser, GOSSIP_UUID_SIZE);
  m->suspicion->n_accusers = 1;
  arm_suspicion (self, m);
  /* With nobody to confirm it (a cluster of two), shown at once. */
  if (m->state == GOSSIP_NODE_SUSPECT)
    _gossip_membership_show_state (self, m);

  if (k > 0 && memcmp (accuser, self->local_uuid, GOSSIP_UUID_SIZE) != 0 &&
      /* k > 0: there is at least one possible confirmer. */
      g_rand_double (self->rand) * (double) possible_confirmers (self) < 2.0 * k)
    m->suspicion->confirm_timer =
      gossip_clock_add_timeout (self->clock,
                                (gint64) (g_rand_double (self->rand) * (double) self->config->suspect_retry_interval),
                                confirm_probe_fire, suspicion_data_new (self, m), g_free);
}

/* Adds @accuser to @m's suspicion. Returns TRUE when it is a new distinct
 * accuser (a confirmation), which shortens the timeout. */
gboolean
_gossip_suspicion_confirm (GossipCluster *self,
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
  /* Confirmed enough: now shown. */
  if (m->state == GOSSIP_NODE_SUSPECT && s->n_accusers == visible_accusers (self))
    _gossip_membership_show_state (self, m);
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

void
_gossip_suspicion_clear (GossipCluster *self,
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

/* ------------------------------------------------------------------------ */
/* Probing                                                                   */
/* ------------------------------------------------------------------------ */

/* One member is probed every probe period: health_check_interval / 4, so
 * that each health_check_interval the scan covers four members and a
 * crashed one is probed by someone within about half a second on average
 * at the defaults (memberlist probes every second). */
static gint64
probe_period (GossipCluster *self)
{
  return MAX (self->config->health_check_interval / PROBES_PER_INTERVAL, 10 * G_TIME_SPAN_MILLISECOND);
}

/* How long a probe waits for an ack: a multiple of the round trip measured
 * on acks (a LAN answers in well under a millisecond, so the floor decides
 * there), never beyond min(suspect_timeout, probe period × 4); all of it
 * stretched by local health. Until a round trip is measured, the ceiling. */
static gint64
probe_deadline (GossipCluster *self)
{
  gint64 ceiling = MIN (self->config->suspect_timeout, self->config->health_check_interval);
  gint64 d = ceiling;

  if (self->srtt > 0)
    d = CLAMP (PROBE_RTT_FACTOR * (self->srtt + 4 * self->rttvar), MIN (PROBE_DEADLINE_FLOOR, ceiling), ceiling);
  return d * (gint64) (1 + self->local_health);
}

/* Jacobson/Karels smoothing of the round trips of direct acks. */
static void
rtt_sample (GossipCluster *self,
            gint64         rtt)
{
  if (rtt <= 0)
    rtt = 1;
  if (self->srtt == 0)
    {
      self->srtt = rtt;
      self->rttvar = rtt / 2;
    }
  else
    {
      gint64 err = rtt - self->srtt;

      self->srtt += err / 8;
      self->rttvar += (ABS (err) - self->rttvar) / 4;
    }
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
  GBytes *view = target ? _gossip_dissemination_view_of (self, target) : NULL;

  if (view)
    g_ptr_array_add (extra, view);
  _gossip_cluster_begin_body (self, &w, GOSSIP_PACKET_PING, stream_reply);
  gossip_writer_put_u32 (&w, seq);
  gossip_writer_put_raw (&w, target ? target->uuid : self->local_uuid, GOSSIP_UUID_SIZE);
  gossip_writer_put_raw (&w, self->local_uuid, GOSSIP_UUID_SIZE);
  gossip_writer_put_string (&w, self->local->snapshot->address);
  _gossip_dissemination_write_piggyback (self, &w, GOSSIP_PIGGYBACK_BUDGET, extra);
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
             GossipProbe   *p,
             gboolean       direct)
{
  if (p->kind == PROBE_DIRECT)
    {
      p->acked = TRUE;
      if (self->local_health > 0)
        self->local_health--;
      /* Only a direct ack measures the path to the target. */
      if (direct)
        rtt_sample (self, now (self) - p->started);
      probe_finish (self, p);
    }
  else
    {
      /* Relay: tell the member that asked us. */
      GossipWriter w;

      _gossip_cluster_begin_body (self, &w, GOSSIP_PACKET_ACK, FALSE);
      gossip_writer_put_u32 (&w, p->origin_seq);
      gossip_writer_put_raw (&w, p->target, GOSSIP_UUID_SIZE);
      _gossip_dissemination_write_piggyback (self, &w, GOSSIP_PIGGYBACK_BUDGET, NULL);
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
      GossipReader r;
      g_autoptr(GBytes) body = _gossip_cluster_open (self, reply, TRUE, GOSSIP_PACKET_ACK, &r,
                                                     NULL, NULL, NULL);

      guint32 seq = 0;
      const guint8 *sender = NULL;

      if (body != NULL && gossip_reader_get_u32 (&r, &seq) &&
          gossip_reader_get_raw (&r, GOSSIP_UUID_SIZE, &sender))
        {
          g_autoptr(GPtrArray) news = _gossip_membership_read_updates (self, &r, NULL);
          probe_acked (self, p, FALSE);
        }
      _gossip_cluster_flush_events (self);
    }
  else if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED) &&
           self->lifecycle == GOSSIP_LIFECYCLE_RUNNING &&
           (p = probe_lookup (self, ref->seq)) != NULL && p->kind == PROBE_DIRECT)
    {
      probe_conclude (self, p, TRUE);
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
      _gossip_dissemination_write_piggyback (self, &w, GOSSIP_PIGGYBACK_BUDGET, NULL);
      _gossip_cluster_send_body (self, relay->snapshot->address, &w, FALSE);
      gossip_writer_clear (&w);
      self->stats.indirect_probes_sent++;
    }

  /* Also try a stream ping, which survives datagram loss (memberlist's
   * TCP fallback). */
  send_ping (self, p->seq, target, target->snapshot->address, TRUE, stream_ping_done, probe_ref (self, p->seq));
}

/* The verdict of a direct probe that got no ack: the target is suspect.
 * @refused: the target's host refused the stream ping, which proves that
 * nothing listens at the target's address any more (a crashed or killed
 * process) and that we can reach that host: no need to wait for the
 * deadline, and nothing to hold against our own health. */
static void
probe_conclude (GossipCluster *self,
                GossipProbe   *p,
                gboolean       refused)
{
  GossipMember *target = _gossip_membership_lookup (self, p->target);

  /* Lifeguard: if none of the relays even nacked, the fault is likely
   * ours. A single nack proves we can still talk to the cluster (behind a
   * partition only part of the relays can answer), so it is not counted. */
  if (!refused && p->nacks_expected > 0 && p->nacks == 0)
    self->local_health = MIN (self->local_health + 1, GOSSIP_MAX_LOCAL_HEALTH);
  else if (refused || p->nacks > 0)
    {
      /* We are healthy and the target is not: several members may have
       * gone at once (a rack, a partition), so for a while probes overlap,
       * eight per period, on the silent members. Only failures speed
       * probing up: a healthy cluster keeps its constant load. */
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

      self->stats.suspicions_raised++;
      _gossip_membership_set_state (self, target, GOSSIP_NODE_SUSPECT);
      _gossip_suspicion_start (self, target, self->local_uuid);
      _gossip_update_from_member (target, GOSSIP_UPDATE_SUSPECT, self->local_uuid, &u);
      _gossip_dissemination_spread (self, &u, NULL);
    }
  else if (target != NULL && target->state == GOSSIP_NODE_SUSPECT &&
           _gossip_suspicion_confirm (self, target, self->local_uuid))
    {
      /* Our own full probe of a suspect failed: a confirmation, ours. */
      GossipUpdate u;

      self->stats.suspicions_raised++;
      _gossip_update_from_member (target, GOSSIP_UPDATE_SUSPECT, self->local_uuid, &u);
      _gossip_dissemination_spread (self, &u, NULL);
    }
  probe_finish (self, p);
  /* Clock timers and stream callbacks: nobody else flushes what it raised. */
  _gossip_cluster_flush_events (self);
}

static void
probe_deadline_fire (gpointer data)
{
  ProbeRef *ref = data;
  GossipCluster *self = ref->self;
  GossipProbe *p = probe_lookup (self, ref->seq);

  if (p == NULL)
    return;
  p->deadline_timer = 0;
  probe_conclude (self, p, FALSE);
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
        _gossip_membership_live_swap (self, i - 1, (guint) g_rand_int_range (self->rand, 0, (gint32) i));
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

void
_gossip_probe_timer_fire (gpointer data)
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
  gint64 period = probe_period (self) * (gint64) (1 + self->local_health);

  if (gossip_clock_now (self->clock) < self->fast_probe_until)
    period = probe_period (self) / 2;
  if (self->timers[GOSSIP_TIMER_PROBE] == 0)
    self->timers[GOSSIP_TIMER_PROBE] = _gossip_cluster_timer (self, period, _gossip_probe_timer_fire);
}

/* Suspects get an extra ping every suspect_retry_interval carrying the
 * suspicion, so that a live one hears of it and refutes quickly. */
void
_gossip_probe_suspect_retry_fire (gpointer data)
{
  GossipCluster *self = data;

  self->timers[GOSSIP_TIMER_SUSPECT_RETRY] =
    _gossip_cluster_timer (self, self->config->suspect_retry_interval, _gossip_probe_suspect_retry_fire);
  for (guint i = 0; i < self->live->len; i++)
    {
      GossipMember *m = self->live->pdata[i];
      if (m->state == GOSSIP_NODE_SUSPECT)
        {
          send_ping (self, ++self->next_seq, m, m->snapshot->address, FALSE, NULL, NULL);
          /* The confirmations to expect follow who can still reach us:
           * on the small side of a partition they shrink, and so do the
           * timeout and the accusers needed to show the suspicion. */
          if (m->suspicion != NULL && m->suspicion->timer != 0)
            arm_suspicion (self, m);
          _gossip_membership_show_state (self, m);
        }
    }
  _gossip_cluster_flush_events (self);
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
  _gossip_dissemination_write_piggyback (self, &w, GOSSIP_PIGGYBACK_BUDGET, NULL);
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

void
_gossip_probe_handle_ping (GossipCluster        *self,
                           GossipReader         *r,
                           GossipTransportReply *reply)
{
  guint32 seq = 0;
  const guint8 *target = NULL, *sender = NULL;
  g_autofree char *addr = NULL;
  g_autoptr(GPtrArray) news = NULL;
  gboolean stale = FALSE;
  GossipInbound *in = self->inbound;
  gboolean stranger = in != NULL && !in->trusted;

  if (!gossip_reader_get_u32 (r, &seq) ||
      !gossip_reader_get_raw (r, GOSSIP_UUID_SIZE, &target) ||
      !gossip_reader_get_raw (r, GOSSIP_UUID_SIZE, &sender) ||
      !gossip_reader_get_string (r, 1024, &addr))
    {
      self->stats.frames_dropped++;
      return;
    }
  /* A stranger's ping is answered (a joiner needs that), but what it
   * piggybacks is not applied, and the ack goes nowhere but back to the
   * stranger's own host: a ping cannot be reflected at a third party. */
  if (stranger)
    {
      if (!_gossip_membership_skip_updates (r))
        {
          self->stats.frames_dropped++;
          return;
        }
      if (!_gossip_membership_is_local (self, target) ||
          (reply == NULL && !_gossip_address_same_host (addr, in->from)))
        {
          self->stats.frames_fenced++;
          return;
        }
      send_ack (self, seq, addr, reply);
      return;
    }
  if (_gossip_cluster_inbound_refused (self, sender))
    return;
  if ((news = _gossip_membership_read_updates (self, r, &stale)) == NULL)
    {
      self->stats.frames_dropped++;
      return;
    }
  /* A ping meant for a previous owner of our address is not ours to ack. */
  if (!_gossip_membership_is_local (self, target))
    return;
  _gossip_probe_heard (self, sender);
  if (stale)
    _gossip_dissemination_correct_stale_view (self, addr);
  _gossip_dissemination_queue_news (self, news);
  send_ack (self, seq, addr, reply);
}

void
_gossip_probe_handle_ack (GossipCluster *self,
                          GossipReader  *r)
{
  guint32 seq = 0;
  const guint8 *sender = NULL;
  g_autoptr(GPtrArray) news = NULL;
  GossipProbe *p;

  if (!gossip_reader_get_u32 (r, &seq) ||
      !gossip_reader_get_raw (r, GOSSIP_UUID_SIZE, &sender) ||
      (news = _gossip_membership_read_updates (self, r, NULL)) == NULL)
    {
      self->stats.frames_dropped++;
      return;
    }
  p = probe_lookup (self, seq);
  if (p != NULL && memcmp (p->target, sender, GOSSIP_UUID_SIZE) == 0)
    probe_acked (self, p, self->inbound != NULL && self->inbound->sender.present &&
                          memcmp (self->inbound->sender.id, sender, GOSSIP_UUID_SIZE) == 0);
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

void
_gossip_probe_handle_ping_req (GossipCluster *self,
                               GossipReader  *r)
{
  guint32 seq = 0;
  const guint8 *target = NULL, *requester = NULL;
  g_autofree char *target_addr = NULL, *requester_addr = NULL;
  g_autoptr(GPtrArray) news = NULL;
  GossipProbe *p;
  GossipMember *tm, *rm;

  if (!gossip_reader_get_u32 (r, &seq) ||
      !gossip_reader_get_raw (r, GOSSIP_UUID_SIZE, &target) ||
      !gossip_reader_get_string (r, 1024, &target_addr) ||
      !gossip_reader_get_raw (r, GOSSIP_UUID_SIZE, &requester) ||
      !gossip_reader_get_string (r, 1024, &requester_addr))
    {
      self->stats.frames_dropped++;
      return;
    }
  /* Malformed first, then the fence (the updates are read twice). */
  {
    GossipReader check = *r;

    if (!_gossip_membership_skip_updates (&check))
      {
        self->stats.frames_dropped++;
        return;
      }
  }
  /* Only a member asks for itself, and only about a member we know: we
   * ping the target and answer the requester at the addresses in our
   * table, never at ones the packet names (no reflection, no DNS). */
  if (_gossip_cluster_inbound_refused (self, requester))
    return;
  tm = _gossip_membership_lookup (self, target);
  rm = _gossip_membership_lookup (self, requester);
  if (tm == NULL || tm->is_local || rm == NULL || rm->is_local)
    {
      self->stats.frames_fenced++;
      return;
    }
  if ((news = _gossip_membership_read_updates (self, r, NULL)) == NULL)
    {
      self->stats.frames_dropped++;
      return;
    }
  /* Helping others is bounded: the requester takes silence for a nack. */
  if (g_hash_table_size (self->probes) >= (guint) self->config->max_probes)
    {
      self->stats.probes_refused++;
      return;
    }

  p = g_new0 (GossipProbe, 1);
  p->kind = PROBE_RELAY;
  p->seq = ++self->next_seq;
  memcpy (p->target, target, GOSSIP_UUID_SIZE);
  p->origin_seq = seq;
  p->origin_addr = g_strdup (rm->snapshot->address);
  g_hash_table_insert (self->probes, GUINT_TO_POINTER (p->seq), p);
  /* The asker waits 2/3 of its deadline for the indirect round; our nack
   * has to reach it before that ends, or a healthy asker takes the lost
   * nacks for its own fault (Lifeguard) whenever a member really died. */
  p->relay_timer = gossip_clock_add_timeout (self->clock, probe_deadline (self) / 2,
                                             relay_timeout, probe_ref (self, p->seq), g_free);

  send_ping (self, p->seq, tm, tm->snapshot->address, FALSE, NULL, NULL);
}

void
_gossip_probe_handle_nack (GossipCluster *self,
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
  if (_gossip_cluster_inbound_refused (self, sender))
    return;
  _gossip_probe_heard (self, sender);
  p = probe_lookup (self, seq);
  if (p != NULL && p->kind == PROBE_DIRECT)
    p->nacks++;
}

/* The sender of a suspicion, or NULL: hearsay is passed on in its name. */
const guint8 *
_gossip_suspicion_first_accuser (GossipMember *m)
{
  return m->suspicion != NULL ? m->suspicion->accusers[0] : NULL;
}

/* Cancels every probe and suspicion (the cluster stops). */
void
_gossip_probe_stop (GossipCluster *self)
{
  GHashTableIter iter;
  gpointer value;

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
      _gossip_suspicion_clear (self, value);
    }
}
