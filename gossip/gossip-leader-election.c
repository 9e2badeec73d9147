/* gossip-leader-election.c — quorum-based leader election.
 *
 * Every node runs the same deterministic rule on its own view: among the
 * eligible nodes that are alive, the lowest id leads. A node that elects
 * itself raises its term and sends heartbeats every check_interval; others
 * follow the leader whose heartbeats they accept (without a leader, the
 * first heard; else higher term wins; on equal terms the lower id). A node
 * never takes another one as leader before hearing its heartbeat, so no
 * node announces a leader that is dead but not yet detected or that is on
 * the other side of a partition. A healthy incumbent is kept: a node only
 * elects when it has no valid leader (heartbeat older than leader_timeout,
 * leader not alive or not eligible, or no quorum), it takes back a leader
 * heard within leader_timeout that is usable again rather than a lower id,
 * and a node that starts beside other eligible nodes, or regains the quorum
 * (a partition healed), first listens for one leader_timeout. A leader
 * whose heartbeats timed out is no candidate until it is heard again, even
 * while the failure detector still sees it alive: the crash of a leader is
 * followed by a new one within leader_timeout + check_interval.
 *
 * Quorum (fixing the original's self-comparison): a leader needs at least
 * max(1, ceil(eligible × quorum_percentage / 100)) eligible alive nodes.
 * "Eligible" is a set each node remembers (see Eligible below), not the
 * member table: a member joins it when it is seen alive or suspect and
 * matching the criteria, and stays in it after it dies and after its record
 * is reaped (node_retention_time); it leaves the set only by a graceful
 * leave, by no longer matching the criteria, or by
 * gossip_leader_election_forget(). With a quorum above 50%, the minority
 * side of a partition can never elect or keep a leader, however long the
 * partition lasts; once views converge at most one leader remains (ties
 * resolve by term, then lowest id).
 *
 * Terms are fenced: a heartbeat whose term is more than
 * GOSSIP_ELECTION_MAX_TERM_JUMP above the highest term this node knows is
 * refused (and counted), and terms saturate at G_MAXINT64 instead of
 * wrapping, so no single heartbeat can push the cluster to the end of the
 * term space, and at the end the lowest id still wins ties.
 *
 * SPDX-License-Identifier: MIT
 */
#include "config.h"

#include <math.h>
#include <string.h>

#include "gossip-leader-election.h"
#include "gossip-node-group.h"
#include "gossip-error.h"
#include "gossip-private.h"

/**
 * SECTION:gossip-leader-election
 * @title: GossipLeaderElection
 * @short_description: quorum-based leader election over a cluster
 *
 * A #GossipLeaderElection elects one leader among the alive nodes of a
 * cluster (optionally only those whose metadata matches criteria). The
 * lowest eligible node id leads while it sends heartbeats and a quorum of
 * the eligible nodes is alive; a healthy leader is kept when nodes join.
 * Signals tell when the local node becomes or stops being the leader and
 * when another node is elected.
 *
 * The quorum is max(1, ceil(eligible × quorum_percentage / 100)) alive
 * members of the eligible set. That set is every member the election has
 * seen alive (or suspect) while it matched the criteria; it does not
 * shrink when a member crashes, nor when its record is reaped after
 * node_retention_time, so the minority side of a partition never leads
 * however long the partition lasts. A member leaves the set when it leaves
 * the cluster gracefully (gossip_cluster_leave()), when its metadata stops
 * matching the criteria, when another eligible member is seen at its
 * address (it restarted under a new id), or when
 * gossip_leader_election_forget() removes it: call that on every node for
 * a member that crashed and will never come back, otherwise the smaller
 * cluster may never reach the quorum again. Dead members that this node
 * never saw alive (records learned from peers, for instance after this
 * node restarted) count only while their records last. The set holds at
 * most %GOSSIP_ELECTION_MAX_ELIGIBLE members.
 *
 * Terms grow by one with every election won and saturate at %G_MAXINT64.
 * A heartbeat whose term is more than %GOSSIP_ELECTION_MAX_TERM_JUMP above
 * the highest term the node knows is refused and counted (it raises the
 * term known by that bound, so that a node left behind catches up with
 * the next leader's heartbeats); gossip_leader_election_get_stats() reports
 * the set's size, the quorum and the counters.
 */

/**
 * GossipLeaderElection:
 *
 * A leader election running on a #GossipCluster. Create it with
 * gossip_leader_election_new() and start it with
 * gossip_leader_election_start(); its signals are emitted on the cluster's
 * engine thread.
 */

struct _GossipLeaderElection
{
  GObject        parent_instance;
  GossipCluster *cluster;
  gint64         check_interval;
  gint64         leader_timeout;
  guint          heartbeat_type;
  guint          quorum_percentage;
  GHashTable    *criteria;           /* NULL = every node is eligible */

  GMutex         lock;               /* guards the fields below for readers */
  char          *leader_id;
  gboolean       has_leader;
  gboolean       is_leader;
  guint64        term;               /* highest term seen or used */
  guint64        leader_term;        /* the current leader's term */
  gint64         leader_time;        /* ts carried by the accepted heartbeat */
  gint64         last_heartbeat;     /* local clock */
  char          *heard_id;           /* sender of the last accepted heartbeat */
  gint64         heard_time;         /* local clock */
  gboolean       started;
  gboolean       stopped;

  GHashTable    *eligible;           /* id -> Eligible: the quorum's denominator */
  GHashTable    *eligible_at;        /* address -> id of the counted entry there */
  guint          eligible_counted;   /* entries that count (not departed) */
  guint          eligible_max;
  guint          eligible_left_out;  /* at the last check, the set being full */
  guint64        terms_refused;

  /* engine thread only */
  guint          timer;
  gint64         listen_until;
  gboolean       quorum_lost;        /* the last check found no quorum */
  guint          generation;         /* of the last pass over the member table */
  gulong         state_handler;
  gboolean       handler_registered;
};

enum {
  SIGNAL_ELECTED,
  SIGNAL_LOST,
  SIGNAL_BECAME_LEADER,
  SIGNAL_STEPPED_DOWN,
  N_SIGNALS
};
static guint signals[N_SIGNALS];

G_DEFINE_FINAL_TYPE (GossipLeaderElection, gossip_leader_election, G_TYPE_OBJECT)

/* ------------------------------------------------------------------------ */

static gint64
now (GossipLeaderElection *self)
{
  return gossip_clock_now (_gossip_cluster_get_clock (self->cluster));
}

static gboolean
eligible_meta (GossipLeaderElection *self,
               GossipNode           *node)
{
  return self->criteria == NULL || gossip_criteria_match (self->criteria, node);
}

/* The eligible set. A member enters it as SEEN when this node sees it alive
 * or suspect while it matches the criteria, and stays in it, dead or
 * reaped: only then does a partition's minority keep counting the nodes on
 * the other side once their records are gone. A dead member never seen
 * alive here (a record learned from a peer, say after this node
 * restarted) counts as HEARSAY while its record is in the member table.
 * A member that leaves gracefully, is forgotten, or whose address is taken
 * by another eligible node (a restart under a new id: two processes cannot
 * hold one address) is DEPARTED, which does not count and keeps a dead
 * record from bringing it back as hearsay; departed entries are dropped
 * with the record, so they are bounded by the member table. */
typedef enum {
  ELIGIBLE_SEEN,
  ELIGIBLE_HEARSAY,
  ELIGIBLE_DEPARTED,
} EligibleKind;

typedef struct {
  EligibleKind kind;
  char        *address;
  guint        generation;   /* the last pass that found its record */
} Eligible;

static void
eligible_free (Eligible *e)
{
  g_free (e->address);
  g_free (e);
}

/* Stops counting @id (@e: its entry, or NULL for none yet), keeping a
 * departed mark while it has a record. */
static void
eligible_depart_locked (GossipLeaderElection *self,
                        const char           *id,
                        Eligible             *e)
{
  if (e == NULL)
    {
      e = g_new0 (Eligible, 1);
      e->kind = ELIGIBLE_DEPARTED;
      e->generation = self->generation;
      g_hash_table_insert (self->eligible, g_strdup (id), e);
      return;
    }
  if (e->kind == ELIGIBLE_DEPARTED)
    return;
  if (e->address != NULL && g_strcmp0 (g_hash_table_lookup (self->eligible_at, e->address), id) == 0)
    g_hash_table_remove (self->eligible_at, e->address);
  e->kind = ELIGIBLE_DEPARTED;
  self->eligible_counted--;
}

static void
eligible_drop_locked (GossipLeaderElection *self,
                      const char           *id,
                      Eligible             *e)
{
  eligible_depart_locked (self, id, e);
  g_hash_table_remove (self->eligible, id);
}

/* Makes @node (eligible, alive or suspect: @kind SEEN; dead: HEARSAY)
 * count, unless the set is full. An entry with @node's address held by a
 * node no longer alive or suspect is superseded. */
static void
eligible_admit_locked (GossipLeaderElection *self,
                       GossipNode           *node,
                       Eligible             *e,
                       EligibleKind          kind)
{
  const char *id = gossip_node_get_id (node);
  const char *address = gossip_node_get_address (node);
  const char *holder;

  if (e != NULL && e->kind != ELIGIBLE_DEPARTED)
    {
      /* Counted already: SEEN stays SEEN, HEARSAY becomes SEEN once alive. */
      if (kind == ELIGIBLE_SEEN)
        e->kind = ELIGIBLE_SEEN;
    }
  else if (self->eligible_counted >= self->eligible_max)
    {
      self->eligible_left_out++;
      return;
    }
  else
    {
      if (e == NULL)
        {
          e = g_new0 (Eligible, 1);
          g_hash_table_insert (self->eligible, g_strdup (id), e);
        }
      e->kind = kind;
      e->generation = self->generation;
      self->eligible_counted++;
    }

  if (g_strcmp0 (e->address, address) != 0)
    {
      if (e->address != NULL && g_strcmp0 (g_hash_table_lookup (self->eligible_at, e->address), id) == 0)
        g_hash_table_remove (self->eligible_at, e->address);
      g_free (e->address);
      e->address = g_strdup (address);
    }
  if (address == NULL || *address == '\0')
    return;
  holder = g_hash_table_lookup (self->eligible_at, address);
  if (holder != NULL && !g_str_equal (holder, id))
    {
      g_autoptr(GossipNode) other = gossip_cluster_get_node (self->cluster, holder);
      GossipNodeState s = other != NULL ? gossip_node_get_state (other) : GOSSIP_NODE_DEAD;
      gboolean holder_live = s == GOSSIP_NODE_ALIVE || s == GOSSIP_NODE_SUSPECT;

      if (kind == ELIGIBLE_SEEN && !holder_live)
        {
          g_debug ("election: %s took the address %s of %s, which no longer counts", id, address, holder);
          eligible_depart_locked (self, holder, g_hash_table_lookup (self->eligible, holder));
        }
      else
        {
          /* A dead record at a live node's address: an earlier life. */
          if (kind == ELIGIBLE_HEARSAY && holder_live)
            eligible_depart_locked (self, id, e);
          /* Otherwise both may be live (for now), or both are dead. */
          return;
        }
    }
  g_hash_table_insert (self->eligible_at, g_strdup (address), g_strdup (id));
}

/* One pass over the member table (engine thread, each check): admits the
 * eligible members, marks the leaves, drops what is no longer eligible and
 * what only counted while its record existed. */
static void
learn_eligible_locked (GossipLeaderElection *self,
                       GPtrArray            *nodes)
{
  GHashTableIter iter;
  gpointer key, value;

  self->generation++;
  self->eligible_left_out = 0;
  for (guint i = 0; i < nodes->len; i++)
    {
      GossipNode *n = nodes->pdata[i];
      const char *id = gossip_node_get_id (n);
      Eligible *e = g_hash_table_lookup (self->eligible, id);

      if (e != NULL)
        e->generation = self->generation;
      if (!eligible_meta (self, n))
        {
          /* Its own metadata says it is no candidate any more. */
          if (e != NULL)
            eligible_drop_locked (self, id, e);
          continue;
        }
      switch (gossip_node_get_state (n))
        {
        case GOSSIP_NODE_ALIVE:
          eligible_admit_locked (self, n, e, ELIGIBLE_SEEN);
          break;
        case GOSSIP_NODE_SUSPECT:
          if (e == NULL || e->kind != ELIGIBLE_DEPARTED)
            eligible_admit_locked (self, n, e, ELIGIBLE_SEEN);
          break;
        case GOSSIP_NODE_DEAD:
          if (e == NULL)
            eligible_admit_locked (self, n, e, ELIGIBLE_HEARSAY);
          break;
        case GOSSIP_NODE_LEAVING:
        default:
          eligible_depart_locked (self, id, e);
          break;
        }
    }

  g_hash_table_iter_init (&iter, self->eligible);
  while (g_hash_table_iter_next (&iter, &key, &value))
    {
      Eligible *e = value;

      if (e->generation == self->generation || e->kind == ELIGIBLE_SEEN)
        continue;
      eligible_depart_locked (self, key, e);
      g_hash_table_iter_remove (&iter);
    }
}

static gboolean
counts_locked (GossipLeaderElection *self,
               const char           *id)
{
  Eligible *e = g_hash_table_lookup (self->eligible, id);
  return e != NULL && e->kind != ELIGIBLE_DEPARTED;
}

typedef struct {
  guint  known;
  guint  alive;
  char  *lowest;       /* lowest eligible alive id */
  gboolean local_eligible;
} View;

/* @silent (nullable): a node whose heartbeats timed out, no candidate.
 * @learn: update the eligible set first (engine thread only). */
static void
compute_view (GossipLeaderElection *self,
              const char           *silent,
              gboolean              learn,
              View                 *v)
{
  g_autoptr(GPtrArray) nodes = gossip_cluster_get_nodes (self->cluster);

  memset (v, 0, sizeof *v);
  g_mutex_lock (&self->lock);
  if (learn)
    learn_eligible_locked (self, nodes);
  v->known = self->eligible_counted;
  for (guint i = 0; i < nodes->len; i++)
    {
      GossipNode *n = nodes->pdata[i];
      const char *id = gossip_node_get_id (n);

      if (gossip_node_get_state (n) != GOSSIP_NODE_ALIVE || !eligible_meta (self, n))
        continue;
      if (gossip_node_is_local (n))
        v->local_eligible = TRUE;
      if (!counts_locked (self, id))
        continue;
      v->alive++;
      if (g_strcmp0 (id, silent) == 0)
        continue;
      if (v->lowest == NULL || strcmp (id, v->lowest) < 0)
        {
          g_free (v->lowest);
          v->lowest = g_strdup (id);
        }
    }
  g_mutex_unlock (&self->lock);
}

static guint
quorum_required (GossipLeaderElection *self,
                 guint                 known)
{
  return (guint) MAX (1.0, ceil ((double) known * self->quorum_percentage / 100.0));
}

static gboolean
quorum_ok (GossipLeaderElection *self,
           const View           *v)
{
  return v->alive >= quorum_required (self, v->known);
}

/* A node we can follow: alive, eligible and counted. */
static gboolean
leader_usable_locked (GossipLeaderElection *self,
                      const char           *leader_id)
{
  g_autoptr(GossipNode) node = gossip_cluster_get_node (self->cluster, leader_id);

  return node != NULL && gossip_node_get_state (node) == GOSSIP_NODE_ALIVE &&
         eligible_meta (self, node) && counts_locked (self, leader_id);
}

/* §21.5: has-leader flag, quorum, fresh heartbeat, leader alive and eligible. */
static gboolean
valid_leader_locked (GossipLeaderElection *self,
                     const View           *v)
{
  return self->has_leader && quorum_ok (self, v) &&
         now (self) - self->last_heartbeat <= self->leader_timeout &&
         leader_usable_locked (self, self->leader_id);
}

typedef struct {
  guint  signal;
  char  *id;
} Pending;

static void
queue_event (GPtrArray *events, guint signal, const char *id)
{
  Pending *p = g_new (Pending, 1);
  p->signal = signal;
  p->id = g_strdup (id);
  g_ptr_array_add (events, p);
}

static void
pending_free (Pending *p)
{
  g_free (p->id);
  g_free (p);
}

/* Events are emitted after the lock is released, in order. */
static void
emit_events (GossipLeaderElection *self,
             GPtrArray            *events)
{
  for (guint i = 0; i < events->len; i++)
    {
      Pending *p = events->pdata[i];
      gboolean stopped;

      g_mutex_lock (&self->lock);
      stopped = self->stopped;
      g_mutex_unlock (&self->lock);
      if (stopped)
        break;
      g_signal_emit (self, signals[p->signal], 0, p->id);
    }
}

/* @reliable: over streams to every alive node. The first heartbeat of a
 * term goes that way: followers take a new leader only once they hear it,
 * and a best-effort broadcast misses a node now and then. */
static void
send_heartbeat (GossipLeaderElection *self,
                gboolean              reliable)
{
  GVariantBuilder b;
  g_autoptr(GError) error = NULL;
  guint64 term;
  gint64 ts = now (self);

  g_mutex_lock (&self->lock);
  term = self->term;
  self->leader_time = ts;
  self->last_heartbeat = ts;
  g_mutex_unlock (&self->lock);

  g_variant_builder_init (&b, G_VARIANT_TYPE ("a{sv}"));
  g_variant_builder_add (&b, "{sv}", "term", g_variant_new_int64 ((gint64) term));
  g_variant_builder_add (&b, "{sv}", "ts", g_variant_new_int64 (ts));
  if (!_gossip_cluster_send_internal (self->cluster, NULL, self->heartbeat_type, g_variant_builder_end (&b),
                                      reliable ? GOSSIP_SEND_RELIABLE : GOSSIP_SEND_NONE, &error))
    g_debug ("heartbeat not sent: %s", error->message);
}

/* Sets the leader (or clears it with @id NULL) and queues the events. */
static void
set_leader_locked (GossipLeaderElection *self,
                   const char           *id,
                   GPtrArray            *events)
{
  const char *local = gossip_cluster_get_node_id (self->cluster);
  gboolean was_leader = self->is_leader;
  gboolean changed = g_strcmp0 (id, self->has_leader ? self->leader_id : NULL) != 0;
  g_autofree char *old = self->has_leader ? g_strdup (self->leader_id) : NULL;

  g_free (self->leader_id);
  self->leader_id = g_strdup (id);
  self->has_leader = id != NULL;
  self->is_leader = id != NULL && g_str_equal (id, local);

  if (was_leader && !self->is_leader)
    queue_event (events, SIGNAL_STEPPED_DOWN, local);
  if (id == NULL && old != NULL)
    queue_event (events, SIGNAL_LOST, old);
  if (self->is_leader && !was_leader)
    queue_event (events, SIGNAL_BECAME_LEADER, local);
  if (id != NULL && changed)
    queue_event (events, SIGNAL_ELECTED, id);
}

static void
check (GossipLeaderElection *self)
{
  g_autoptr(GPtrArray) events = g_ptr_array_new_with_free_func ((GDestroyNotify) pending_free);
  const char *local = gossip_cluster_get_node_id (self->cluster);
  g_autofree char *silent = NULL;
  g_autofree char *heard = NULL;
  const char *candidate;
  View v;
  gboolean heartbeat = FALSE;
  gboolean new_term = FALSE;

  /* A followed leader silent for longer than leader_timeout: re-electing it
   * because the failure detector has not noticed yet would keep a dead
   * leader (and refresh its timeout) for as long as detection takes. */
  g_mutex_lock (&self->lock);
  if (self->has_leader && !self->is_leader && now (self) - self->last_heartbeat > self->leader_timeout)
    silent = g_strdup (self->leader_id);
  if (self->heard_id != NULL && now (self) - self->heard_time <= self->leader_timeout)
    heard = g_strdup (self->heard_id);
  g_mutex_unlock (&self->lock);
  compute_view (self, silent, TRUE, &v);

  g_mutex_lock (&self->lock);
  if (self->stopped)
    {
      g_mutex_unlock (&self->lock);
      g_free (v.lowest);
      return;
    }

  if (self->criteria != NULL && !v.local_eligible && self->is_leader)
    {
      /* We stopped matching: step down, let the others elect. */
      self->is_leader = FALSE;
      self->has_leader = FALSE;
      queue_event (events, SIGNAL_STEPPED_DOWN, local);
      queue_event (events, SIGNAL_LOST, local);
    }
  else if (valid_leader_locked (self, &v))
    {
      heartbeat = self->is_leader;
      self->quorum_lost = FALSE;
    }
  else if (!quorum_ok (self, &v) || v.lowest == NULL)
    {
      if (self->has_leader)
        set_leader_locked (self, NULL, events);
      self->quorum_lost = TRUE;
    }
  else if (self->quorum_lost && !self->has_leader && v.alive > 1)
    {
      /* The quorum is back (a partition healed): as at start, listen for
       * the incumbent of the side that kept it before electing. */
      self->quorum_lost = FALSE;
      self->listen_until = now (self) + self->leader_timeout;
    }
  else if (now (self) < self->listen_until && !self->has_leader)
    {
      /* Just started beside others: give an incumbent a chance to be heard. */
    }
  else
    {
      /* The lowest id, unless a leader heard within leader_timeout (one
       * that dropped out of alive for a moment, say) is usable again:
       * the incumbent is kept rather than replaced by a lower id. */
      candidate = v.lowest;
      if (heard != NULL && !g_str_equal (heard, local) && leader_usable_locked (self, heard))
        candidate = heard;
      self->quorum_lost = FALSE;
      if (self->has_leader && !g_str_equal (self->leader_id, candidate))
        set_leader_locked (self, NULL, events);
      if (g_str_equal (candidate, local))
        {
          if (!self->is_leader)
            {
              /* Saturates: at the end of the term space the lowest id
               * still wins the ties (see on_heartbeat). */
              if (self->term < G_MAXINT64)
                self->term++;
              new_term = TRUE;
            }
          self->leader_term = self->term;
          heartbeat = TRUE;
          set_leader_locked (self, candidate, events);
        }
      else if (candidate == heard)
        {
          set_leader_locked (self, candidate, events);
          self->last_heartbeat = self->heard_time;
        }
      /* Otherwise the candidate leads once its heartbeat arrives. Taking
       * it as leader now would announce a node that never leads: one dead
       * but not yet detected, or one on the other side of a partition. */
    }
  g_mutex_unlock (&self->lock);
  g_free (v.lowest);

  if (heartbeat)
    send_heartbeat (self, new_term);
  emit_events (self, events);
}

static void
timer_fire (gpointer data)
{
  GossipLeaderElection *self = data;

  self->timer = 0;
  g_object_ref (self);
  check (self);
  if (!self->stopped)
    self->timer = gossip_clock_add_timeout (_gossip_cluster_get_clock (self->cluster),
                                            self->check_interval, timer_fire, self, NULL);
  g_object_unref (self);
}

/* Heartbeat handler, on the engine thread (§21.7 acceptance with our
 * tie-break: higher term wins, then the lower id). */
static void
on_heartbeat (GossipCluster *cluster,
              GossipMessage *message,
              gpointer       user_data)
{
  GossipLeaderElection *self = user_data;
  g_autoptr(GPtrArray) events = g_ptr_array_new_with_free_func ((GDestroyNotify) pending_free);
  GossipNode *sender = gossip_message_get_sender (message);
  GVariant *payload = gossip_message_get_payload (message);
  const char *sid = gossip_node_get_id (sender);
  gint64 term = 0, ts = 0;
  gboolean accept;

  if (!g_variant_is_of_type (payload, G_VARIANT_TYPE ("a{sv}")) ||
      !g_variant_lookup (payload, "term", "x", &term) || !g_variant_lookup (payload, "ts", "x", &ts) ||
      term < 0)
    return;

  g_mutex_lock (&self->lock);
  /* Only from a counted, alive and eligible node: a leader we could not
   * keep anyway (§21.5) would be accepted and lost on every check. */
  if (self->stopped || !self->started || !leader_usable_locked (self, sid))
    {
      g_mutex_unlock (&self->lock);
      return;
    }
  /* Both terms are at most G_MAXINT64: the sum cannot overflow. */
  if ((guint64) term > self->term + GOSSIP_ELECTION_MAX_TERM_JUMP)
    {
      /* No election raises the term by that much (one per election won):
       * a forged or corrupt term, which would take the leadership and
       * bring every later term to the end of the term space. Refused;
       * but the term known moves up by the bound, so that a node left
       * behind by a jump the others took (one forged heartbeat within the
       * bound that only some received) follows their next leader from its
       * next heartbeat on, instead of never again. */
      guint64 known = self->term;

      self->term += GOSSIP_ELECTION_MAX_TERM_JUMP;
      self->terms_refused++;
      g_mutex_unlock (&self->lock);
      g_debug ("election: heartbeat from %s refused: term %" G_GINT64_FORMAT " is more than %" G_GUINT64_FORMAT
               " above %" G_GUINT64_FORMAT, sid, term, (guint64) GOSSIP_ELECTION_MAX_TERM_JUMP, known);
      return;
    }
  if (!self->has_leader || g_strcmp0 (sid, self->leader_id) == 0)
    /* Without a leader, the first one heard, whatever its term (ours may
     * have grown on another side of a partition); our own leader always. */
    accept = TRUE;
  else if ((guint64) term != self->leader_term)
    accept = (guint64) term > self->leader_term;
  else
    accept = strcmp (sid, self->leader_id) < 0;

  if (accept)
    {
      self->term = MAX (self->term, (guint64) term);
      self->leader_term = (guint64) term;
      self->leader_time = ts;
      self->last_heartbeat = now (self);
      g_free (self->heard_id);
      self->heard_id = g_strdup (sid);
      self->heard_time = self->last_heartbeat;
      if (g_strcmp0 (sid, self->leader_id) != 0 || !self->has_leader)
        {
          if (self->has_leader)
            set_leader_locked (self, NULL, events);
          set_leader_locked (self, sid, events);
        }
    }
  g_mutex_unlock (&self->lock);

  emit_events (self, events);
}

static void
on_state_changed (GossipCluster *cluster,
                  GossipNode    *node,
                  int            old_state,
                  int            new_state,
                  gpointer       user_data)
{
  GossipLeaderElection *self = user_data;
  g_autoptr(GPtrArray) events = g_ptr_array_new_with_free_func ((GDestroyNotify) pending_free);
  const char *id = gossip_node_get_id (node);

  g_mutex_lock (&self->lock);
  if (new_state == GOSSIP_NODE_LEAVING)
    /* At once: with a check_interval above leaving_node_timeout the next
     * check could find it dead only, which does not end its count. */
    eligible_depart_locked (self, id, g_hash_table_lookup (self->eligible, id));
  if (!self->stopped && self->started && self->has_leader &&
      g_strcmp0 (self->leader_id, id) == 0 && new_state != GOSSIP_NODE_ALIVE)
    set_leader_locked (self, NULL, events);
  g_mutex_unlock (&self->lock);

  emit_events (self, events);
}

/* ------------------------------------------------------------------------ */

static void
gossip_leader_election_dispose (GObject *object)
{
  GossipLeaderElection *self = GOSSIP_LEADER_ELECTION (object);

  if (self->cluster != NULL)
    gossip_leader_election_stop (self);
  G_OBJECT_CLASS (gossip_leader_election_parent_class)->dispose (object);
}

static void
gossip_leader_election_finalize (GObject *object)
{
  GossipLeaderElection *self = GOSSIP_LEADER_ELECTION (object);

  g_clear_object (&self->cluster);
  g_clear_pointer (&self->criteria, g_hash_table_unref);
  g_clear_pointer (&self->eligible, g_hash_table_unref);
  g_clear_pointer (&self->eligible_at, g_hash_table_unref);
  g_free (self->leader_id);
  g_free (self->heard_id);
  g_mutex_clear (&self->lock);
  G_OBJECT_CLASS (gossip_leader_election_parent_class)->finalize (object);
}

static void
gossip_leader_election_class_init (GossipLeaderElectionClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = gossip_leader_election_dispose;
  object_class->finalize = gossip_leader_election_finalize;

  /**
   * GossipLeaderElection::elected:
   * @election: the election
   * @leader_id: the new leader
   *
   * A (new) leader is recognised. Emitted on the engine thread.
   */
  signals[SIGNAL_ELECTED] = g_signal_new ("elected", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                                          0, NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_STRING);
  /**
   * GossipLeaderElection::lost:
   * @election: the election
   * @leader_id: the leader that was lost (not alive, heartbeat timed out, quorum lost)
   *
   * Emitted on the engine thread.
   */
  signals[SIGNAL_LOST] = g_signal_new ("lost", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                                       0, NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_STRING);
  /**
   * GossipLeaderElection::became-leader:
   * @election: the election
   * @node_id: the local node id
   *
   * Emitted on the engine thread.
   */
  signals[SIGNAL_BECAME_LEADER] = g_signal_new ("became-leader", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                                                0, NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_STRING);
  /**
   * GossipLeaderElection::stepped-down:
   * @election: the election
   * @node_id: the local node id
   *
   * The local node stopped being the leader (another won, quorum lost, or
   * it no longer matches the criteria). Emitted on the engine thread.
   */
  signals[SIGNAL_STEPPED_DOWN] = g_signal_new ("stepped-down", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                                               0, NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_STRING);
}

static void
gossip_leader_election_init (GossipLeaderElection *self)
{
  g_mutex_init (&self->lock);
  self->eligible = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify) eligible_free);
  self->eligible_at = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  self->eligible_max = GOSSIP_ELECTION_MAX_ELIGIBLE;
}

static void
child_stop (GObject *child)
{
  gossip_leader_election_stop (GOSSIP_LEADER_ELECTION (child));
}

/**
 * gossip_leader_election_new:
 * @cluster: a #GossipCluster
 * @check_interval_us: time between checks (> 0)
 * @leader_timeout_us: heartbeat silence after which the leader is lost (>= @check_interval_us)
 * @heartbeat_type: message type of heartbeats (64..65535, not already handled)
 * @quorum_percentage: 1..100
 * @metadata_criteria: (nullable) (element-type utf8 utf8): criteria limiting
 *   eligible nodes (non-empty when given)
 * @error: return location for a #GError
 *
 * Creates an election and claims its heartbeat type. Connect to the
 * signals, then call gossip_leader_election_start().
 *
 * Returns: (transfer full): a new election, or %NULL with a
 *   %GOSSIP_CONFIG_ERROR for bad parameters,
 *   %GOSSIP_CLUSTER_ERROR_HANDLER_EXISTS when the type is taken, or
 *   %GOSSIP_CLUSTER_ERROR_STOPPED
 */
GossipLeaderElection *
gossip_leader_election_new (GossipCluster *cluster,
                            gint64         check_interval_us,
                            gint64         leader_timeout_us,
                            guint          heartbeat_type,
                            guint          quorum_percentage,
                            GHashTable    *metadata_criteria,
                            GError       **error)
{
  GossipLeaderElection *self;

  g_return_val_if_fail (GOSSIP_IS_CLUSTER (cluster), NULL);

  if (check_interval_us <= 0)
    {
      g_set_error_literal (error, GOSSIP_CONFIG_ERROR, GOSSIP_CONFIG_ERROR_INVALID_VALUE,
                           _("check_interval must be a positive duration"));
      return NULL;
    }
  if (leader_timeout_us <= 0)
    {
      g_set_error_literal (error, GOSSIP_CONFIG_ERROR, GOSSIP_CONFIG_ERROR_INVALID_VALUE,
                           _("leader_timeout must be a positive duration"));
      return NULL;
    }
  if (leader_timeout_us < check_interval_us)
    {
      g_set_error_literal (error, GOSSIP_CONFIG_ERROR, GOSSIP_CONFIG_ERROR_INCONSISTENT,
                           _("leader_timeout must be >= check_interval"));
      return NULL;
    }
  if (heartbeat_type < 64 || heartbeat_type > 65535)
    {
      g_set_error (error, GOSSIP_CONFIG_ERROR, GOSSIP_CONFIG_ERROR_INVALID_VALUE,
                   _("heartbeat_msg_type must be between 64 and 65535 (got %u)"), heartbeat_type);
      return NULL;
    }
  if (quorum_percentage < 1 || quorum_percentage > 100)
    {
      g_set_error (error, GOSSIP_CONFIG_ERROR, GOSSIP_CONFIG_ERROR_INVALID_VALUE,
                   _("quorum_percentage must be between 1 and 100 (got %u)"), quorum_percentage);
      return NULL;
    }
  if (metadata_criteria != NULL && !gossip_criteria_check (metadata_criteria, "metadata_criteria", error))
    return NULL;
  if (gossip_cluster_is_stopped (cluster))
    {
      g_set_error_literal (error, GOSSIP_CLUSTER_ERROR, GOSSIP_CLUSTER_ERROR_STOPPED,
                           _("cluster is stopped"));
      return NULL;
    }

  self = g_object_new (GOSSIP_TYPE_LEADER_ELECTION, NULL);
  self->cluster = g_object_ref (cluster);
  self->check_interval = check_interval_us;
  self->leader_timeout = leader_timeout_us;
  self->heartbeat_type = heartbeat_type;
  self->quorum_percentage = quorum_percentage;
  if (metadata_criteria != NULL)
    {
      GHashTableIter iter;
      gpointer k, v;

      self->criteria = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
      g_hash_table_iter_init (&iter, metadata_criteria);
      while (g_hash_table_iter_next (&iter, &k, &v))
        g_hash_table_insert (self->criteria, g_strdup (k), g_strdup (v));
    }

  if (!_gossip_cluster_handle_internal (cluster, heartbeat_type, TRUE, FALSE,
                                        gossip_cluster_get_context (cluster),
                                        on_heartbeat, self, NULL, error))
    {
      g_clear_object (&self->cluster);
      g_object_unref (self);
      return NULL;
    }
  self->handler_registered = TRUE;
  _gossip_cluster_add_child (cluster, G_OBJECT (self), child_stop);
  return self;
}

void
_gossip_leader_election_set_max_eligible (GossipLeaderElection *election,
                                          guint                 max)
{
  g_return_if_fail (GOSSIP_IS_LEADER_ELECTION (election) && !election->started);
  election->eligible_max = max;
}

void
_gossip_leader_election_set_term (GossipLeaderElection *election,
                                  guint64               term)
{
  g_return_if_fail (GOSSIP_IS_LEADER_ELECTION (election) && term <= G_MAXINT64);
  g_mutex_lock (&election->lock);
  election->term = term;
  g_mutex_unlock (&election->lock);
}

static gboolean
engine_start (gpointer data)
{
  GossipLeaderElection *self = data;
  View v;

  self->state_handler = g_signal_connect (self->cluster, "node-state-changed",
                                          G_CALLBACK (on_state_changed), self);
  compute_view (self, NULL, TRUE, &v);
  /* Beside other eligible nodes, listen for an incumbent's heartbeat first. */
  self->listen_until = v.alive > 1 ? now (self) + self->leader_timeout : 0;
  g_free (v.lowest);
  check (self);
  if (!self->stopped)
    self->timer = gossip_clock_add_timeout (_gossip_cluster_get_clock (self->cluster),
                                            self->check_interval, timer_fire, self, NULL);
  return G_SOURCE_REMOVE;
}

/**
 * gossip_leader_election_start:
 * @election: a #GossipLeaderElection
 * @error: return location for a #GError
 *
 * Runs the first check synchronously (a lone eligible node with quorum is
 * the leader when this returns), then one every check_interval. A second
 * call is a no-op.
 *
 * Returns: %TRUE, or %FALSE with "election is stopped" after stop, or
 *   "cluster is stopped"
 */
gboolean
gossip_leader_election_start (GossipLeaderElection *election,
                              GError              **error)
{
  g_return_val_if_fail (GOSSIP_IS_LEADER_ELECTION (election), FALSE);

  g_mutex_lock (&election->lock);
  if (election->stopped)
    {
      g_mutex_unlock (&election->lock);
      g_set_error_literal (error, GOSSIP_CLUSTER_ERROR, GOSSIP_CLUSTER_ERROR_STOPPED,
                           _("election is stopped"));
      return FALSE;
    }
  if (election->started)
    {
      g_mutex_unlock (&election->lock);
      return TRUE;
    }
  election->started = TRUE;
  g_mutex_unlock (&election->lock);

  if (!gossip_cluster_is_running (election->cluster))
    {
      g_set_error_literal (error, GOSSIP_CLUSTER_ERROR,
                           gossip_cluster_is_stopped (election->cluster) ? GOSSIP_CLUSTER_ERROR_STOPPED
                                                                         : GOSSIP_CLUSTER_ERROR_FAILED,
                           gossip_cluster_is_stopped (election->cluster) ? _("cluster is stopped")
                                                                         : _("cluster is not started"));
      g_mutex_lock (&election->lock);
      election->started = FALSE;
      g_mutex_unlock (&election->lock);
      return FALSE;
    }
  _gossip_cluster_invoke_sync (election->cluster, engine_start, election);
  return TRUE;
}

static gboolean
engine_stop (gpointer data)
{
  GossipLeaderElection *self = data;

  if (self->timer)
    {
      gossip_clock_cancel (_gossip_cluster_get_clock (self->cluster), self->timer);
      self->timer = 0;
    }
  g_clear_signal_handler (&self->state_handler, self->cluster);
  if (self->handler_registered)
    {
      _gossip_cluster_unhandle_internal (self->cluster, self->heartbeat_type);
      self->handler_registered = FALSE;
    }
  return G_SOURCE_REMOVE;
}

/**
 * gossip_leader_election_stop:
 * @election: a #GossipLeaderElection
 *
 * Stops checking, releases the heartbeat type and clears leadership
 * without firing events. Idempotent. Also called when the cluster stops.
 */
void
gossip_leader_election_stop (GossipLeaderElection *election)
{
  g_return_if_fail (GOSSIP_IS_LEADER_ELECTION (election));

  g_mutex_lock (&election->lock);
  if (election->stopped)
    {
      g_mutex_unlock (&election->lock);
      return;
    }
  election->stopped = TRUE;
  election->is_leader = FALSE;
  election->has_leader = FALSE;
  g_mutex_unlock (&election->lock);

  _gossip_cluster_invoke_sync (election->cluster, engine_stop, election);
  _gossip_cluster_remove_child (election->cluster, G_OBJECT (election));
}

/**
 * gossip_leader_election_is_leader:
 * @election: a #GossipLeaderElection
 *
 * Tells whether the local node is the leader.
 *
 * Returns: whether the local node is the leader
 */
gboolean
gossip_leader_election_is_leader (GossipLeaderElection *election)
{
  gboolean r;

  g_return_val_if_fail (GOSSIP_IS_LEADER_ELECTION (election), FALSE);
  g_mutex_lock (&election->lock);
  r = election->is_leader && !election->stopped;
  g_mutex_unlock (&election->lock);
  return r;
}

/**
 * gossip_leader_election_has_leader:
 * @election: a #GossipLeaderElection
 *
 * Evaluates now whether there is a valid leader: one was elected or
 * accepted, the quorum holds, its heartbeat is fresh, and it is alive and
 * eligible.
 *
 * Returns: whether a valid leader exists
 */
gboolean
gossip_leader_election_has_leader (GossipLeaderElection *election)
{
  View v;
  gboolean r;

  g_return_val_if_fail (GOSSIP_IS_LEADER_ELECTION (election), FALSE);
  compute_view (election, NULL, FALSE, &v);
  g_mutex_lock (&election->lock);
  r = !election->stopped && valid_leader_locked (election, &v);
  g_mutex_unlock (&election->lock);
  g_free (v.lowest);
  return r;
}

/**
 * gossip_leader_election_get_leader_id:
 * @election: a #GossipLeaderElection
 *
 * Gets the id of the current leader.
 *
 * Returns: (transfer full) (nullable): the leader's id when
 *   gossip_leader_election_has_leader() holds, else %NULL
 */
char *
gossip_leader_election_get_leader_id (GossipLeaderElection *election)
{
  char *id = NULL;

  g_return_val_if_fail (GOSSIP_IS_LEADER_ELECTION (election), NULL);
  if (!gossip_leader_election_has_leader (election))
    return NULL;
  g_mutex_lock (&election->lock);
  if (election->has_leader)
    id = g_strdup (election->leader_id);
  g_mutex_unlock (&election->lock);
  return id;
}

/**
 * gossip_leader_election_get_term:
 * @election: a #GossipLeaderElection
 *
 * Gets the highest election term this node knows, which grows with every
 * new leader (and saturates at %G_MAXINT64).
 *
 * Returns: the current term
 */
guint64
gossip_leader_election_get_term (GossipLeaderElection *election)
{
  guint64 t;

  g_return_val_if_fail (GOSSIP_IS_LEADER_ELECTION (election), 0);
  g_mutex_lock (&election->lock);
  t = election->term;
  g_mutex_unlock (&election->lock);
  return t;
}

/**
 * gossip_leader_election_forget:
 * @election: a #GossipLeaderElection
 * @node_id: the id of a member that will never come back
 * @error: return location for a #GError
 *
 * Removes a member from the eligible set, the quorum's denominator. The set
 * keeps every eligible member this node has seen, after it crashed and
 * after its record was reaped (node_retention_time): otherwise the minority
 * side of a long partition would regain a quorum. Members that leave
 * gracefully go out of it by themselves; call this for one that crashed
 * and will not return (a host decommissioned, say), on every node, so that
 * a smaller cluster can elect again. The member counts again if it is
 * seen alive later.
 *
 * Forgetting a member that is merely on the other side of a partition
 * shrinks the denominator on this side only, and can let both sides lead.
 *
 * Returns: %TRUE, or %FALSE with %GOSSIP_CLUSTER_ERROR_NODE_NOT_FOUND when
 *   @node_id is not in the eligible set, or
 *   %GOSSIP_CLUSTER_ERROR_INVALID_ARGUMENT when it is alive or suspect
 */
gboolean
gossip_leader_election_forget (GossipLeaderElection *election,
                               const char           *node_id,
                               GError              **error)
{
  g_autoptr(GossipNode) node = NULL;
  GossipNodeState state;
  Eligible *e;

  g_return_val_if_fail (GOSSIP_IS_LEADER_ELECTION (election), FALSE);
  g_return_val_if_fail (node_id != NULL, FALSE);

  node = gossip_cluster_get_node (election->cluster, node_id);
  state = node != NULL ? gossip_node_get_state (node) : GOSSIP_NODE_DEAD;
  g_mutex_lock (&election->lock);
  e = g_hash_table_lookup (election->eligible, node_id);
  if (e == NULL || e->kind == ELIGIBLE_DEPARTED)
    {
      g_mutex_unlock (&election->lock);
      g_set_error (error, GOSSIP_CLUSTER_ERROR, GOSSIP_CLUSTER_ERROR_NODE_NOT_FOUND,
                   _("node %s is not in the eligible set"), node_id);
      return FALSE;
    }
  if (state == GOSSIP_NODE_ALIVE || state == GOSSIP_NODE_SUSPECT)
    {
      g_mutex_unlock (&election->lock);
      g_set_error (error, GOSSIP_CLUSTER_ERROR, GOSSIP_CLUSTER_ERROR_INVALID_ARGUMENT,
                   _("node %s is %s: only a member that is gone can be forgotten"), node_id,
                   gossip_node_state_to_string (state));
      return FALSE;
    }
  /* A record still in the table keeps the mark, so that it does not come
   * back as hearsay; without one the entry goes at once. */
  if (node != NULL)
    eligible_depart_locked (election, node_id, e);
  else
    eligible_drop_locked (election, node_id, e);
  g_mutex_unlock (&election->lock);
  return TRUE;
}

/**
 * gossip_leader_election_get_stats:
 * @election: a #GossipLeaderElection
 * @stats: (out caller-allocates): where to store the figures
 *
 * Copies the election's counters and the size of its eligible set.
 */
void
gossip_leader_election_get_stats (GossipLeaderElection      *election,
                                  GossipLeaderElectionStats *stats)
{
  g_return_if_fail (GOSSIP_IS_LEADER_ELECTION (election));
  g_return_if_fail (stats != NULL);

  g_mutex_lock (&election->lock);
  stats->eligible = election->eligible_counted;
  stats->quorum = quorum_required (election, election->eligible_counted);
  stats->eligible_left_out = election->eligible_left_out;
  stats->terms_refused = election->terms_refused;
  g_mutex_unlock (&election->lock);
}

/**
 * gossip_leader_election_get_cluster:
 * @election: a #GossipLeaderElection
 *
 * Gets the cluster the election runs on.
 *
 * Returns: (transfer none): the cluster
 */
GossipCluster *
gossip_leader_election_get_cluster (GossipLeaderElection *election)
{
  g_return_val_if_fail (GOSSIP_IS_LEADER_ELECTION (election), NULL);
  return election->cluster;
}

/**
 * gossip_leader_election_send_to_peers:
 * @election: a #GossipLeaderElection
 * @type: a user message type (128..65535)
 * @payload: (nullable): the payload
 * @flags: #GossipSendFlags
 * @error: return location for a #GError
 *
 * With metadata criteria: directly to every eligible alive or suspect node
 * other than us. Without: an ordinary cluster broadcast.
 *
 * Returns: %TRUE, or %FALSE with a type, payload or lifecycle error
 */
gboolean
gossip_leader_election_send_to_peers (GossipLeaderElection *election,
                                      guint                 type,
                                      GVariant             *payload,
                                      GossipSendFlags       flags,
                                      GError              **error)
{
  g_autoptr(GVariant) owned = payload ? g_variant_ref_sink (payload) : NULL;
  g_autoptr(GPtrArray) nodes = NULL;

  g_return_val_if_fail (GOSSIP_IS_LEADER_ELECTION (election), FALSE);
  if (!gossip_cluster_check_message_type (type, error))
    return FALSE;
  if (election->criteria == NULL)
    return gossip_cluster_send (election->cluster, type, owned, flags, error);

  nodes = gossip_cluster_get_nodes (election->cluster);
  for (guint i = 0; i < nodes->len; i++)
    {
      GossipNode *n = nodes->pdata[i];
      GossipNodeState s = gossip_node_get_state (n);
      g_autoptr(GError) local_error = NULL;

      if (gossip_node_is_local (n) || (s != GOSSIP_NODE_ALIVE && s != GOSSIP_NODE_SUSPECT) ||
          !gossip_criteria_match (election->criteria, n))
        continue;
      if (!gossip_cluster_send_to (election->cluster, gossip_node_get_id (n), type, owned, flags, &local_error))
        {
          if (g_error_matches (local_error, GOSSIP_CLUSTER_ERROR, GOSSIP_CLUSTER_ERROR_NODE_NOT_FOUND))
            continue;
          g_propagate_error (error, g_steal_pointer (&local_error));
          return FALSE;
        }
    }
  return TRUE;
}
