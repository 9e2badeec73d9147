/* gossip-membership.c — SWIM membership: the member table and its states,
 * applying updates, join, push-pull state exchange, leave and cleanup.
 *
 * The failure detector (probes, suspicions, local health) is in
 * gossip-probe.c; updates spread as described in gossip-dissemination.c,
 * and a periodic push-pull exchange of the full state over a stream
 * repairs what gossip missed.
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

/* State pages (PROTOCOL.md, "State pages"). */
#define STATE_PAGE_MORE         GOSSIP_STATE_PAGE_MORE
#define MAX_STATE_PAGES         4096   /* per exchange, pulled or pushed */

/* PUSH_PULL modes. */
enum {
  PUSH_PULL_EXCHANGE = 0,              /* request: the sender's first page; reply: PAGE */
  PUSH_PULL_PUSH     = 1,              /* one-way: a later page of the sender's state */
  PUSH_PULL_PULL     = 2,              /* request: "your page after this cursor"; reply: PAGE */
  PUSH_PULL_PAGE     = 3,              /* reply: one page of the responder's state */
};
#define JOIN_TIMEOUT            (4 * G_USEC_PER_SEC)
#define PUSH_PULL_TIMEOUT       (5 * G_USEC_PER_SEC)
#define DEAD_GOSSIP_WINDOW      (30 * G_USEC_PER_SEC)
#define LEAVE_GRACE             (100 * G_TIME_SPAN_MILLISECOND)

static void push_pull_fire (gpointer data);
static void push_pull_with (GossipCluster *self, const char *address);

/* ------------------------------------------------------------------------ */
/* Helpers                                                                   */
/* ------------------------------------------------------------------------ */

static gint64
now (GossipCluster *self)
{
  return gossip_clock_now (self->clock);
}

static void
member_free (GossipMember *m)
{
  g_clear_pointer (&m->snapshot, gossip_node_unref);
  g_free (m->suspicion);   /* its timers are cancelled by set_state() and stop */
  g_free (m);
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

gboolean
_gossip_membership_is_local (GossipCluster *self,
                             const guint8  *uuid)
{
  return memcmp (uuid, self->local_uuid, GOSSIP_UUID_SIZE) == 0;
}

guint
_gossip_membership_count_alive_suspect (GossipCluster *self)
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
  return _gossip_fanout_for (_gossip_membership_count_alive_suspect (self), self->config->fan_out_multiplier);
}

/* ttl = max(1, min(ceil(log2 A × ttl_multiplier) + 2, 8)), A = alive nodes. */
guint
_gossip_membership_ttl (GossipCluster *self)
{
  guint a = self->live->len + 1;
  double t = ceil (log2 ((double) a) * self->config->ttl_multiplier) + 2.0;

  return (guint) MAX (1.0, MIN (t, (double) GOSSIP_MAX_TTL));
}

/* GossipCluster.live is also the probe rotation: the members before
 * probe_index were probed this round, the others wait their turn. Adding
 * and removing keep both parts (memberlist's node list works the same). */
void
_gossip_membership_live_swap (GossipCluster *self,
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
      _gossip_membership_live_swap (self, self->probe_index, last);
      self->probe_index++;
    }
  else
    _gossip_membership_live_swap (self, at, last);
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
      _gossip_membership_live_swap (self, i, self->probe_index - 1);
      i = --self->probe_index;
    }
  _gossip_membership_live_swap (self, i, self->live->len - 1);
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

void
_gossip_membership_set_state (GossipCluster   *self,
                              GossipMember    *m,
                              GossipNodeState  state)
{
  GossipNodeState old = m->state;
  GossipNodeState old_shown = m->snapshot->state;

  if (old == state)
    return;
  m->state = state;
  m->state_time = now (self);
  if (state == GOSSIP_NODE_ALIVE || state == GOSSIP_NODE_SUSPECT)
    live_add (self, m);
  else
    live_remove (self, m);
  if (state != GOSSIP_NODE_SUSPECT)
    _gossip_suspicion_clear (self, m);

  /* An unconfirmed suspicion is not shown (gossip-probe.c): nothing to
   * publish nor emit until it is, or until it ends. */
  if (_gossip_member_shown_state (self, m) != old_shown)
    {
      _gossip_cluster_publish (self, m, NULL);
      _gossip_cluster_emit_state (self, m->snapshot, old_shown);
    }

  /* A node coming back from the dead gets a full state exchange, so that
   * a healed partition converges within a round trip. */
  if (old == GOSSIP_NODE_DEAD && state == GOSSIP_NODE_ALIVE && !m->is_local)
    push_pull_with (self, m->snapshot->address);
}

GossipNodeState
_gossip_member_shown_state (GossipCluster *self,
                            GossipMember  *m)
{
  if (m->state == GOSSIP_NODE_SUSPECT && !_gossip_suspicion_visible (self, m))
    return GOSSIP_NODE_ALIVE;
  return (GossipNodeState) m->state;
}

void
_gossip_membership_show_state (GossipCluster *self,
                               GossipMember  *m)
{
  GossipNodeState old_shown = m->snapshot->state;

  if (_gossip_member_shown_state (self, m) == old_shown)
    return;
  _gossip_cluster_publish (self, m, NULL);
  _gossip_cluster_emit_state (self, m->snapshot, old_shown);
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
  m->is_local = _gossip_membership_is_local (self, u->id);

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
  _gossip_suspicion_clear (self, m);
  _gossip_cluster_unpublish (self, m);
  member_free (m);
}

/* Whether one more member fits under max_members; counts the refusal. */
static gboolean
member_room (GossipCluster *self)
{
  if (g_hash_table_size (self->members) < (guint) self->config->max_members)
    return TRUE;
  self->stats.members_refused++;
  return FALSE;
}

/* ------------------------------------------------------------------------ */
/* Applying updates                                                          */
/* ------------------------------------------------------------------------ */

/* One more than @inc, saturating (with bounded jumps the end is 2^32
 * forged steps away; a refutation there still ties, it never wraps). */
static guint64
incarnation_next (guint64 inc)
{
  return inc == G_MAXUINT64 ? inc : inc + 1;
}

/* A claim further above what we know than any node gets to by itself. */
static gboolean
incarnation_implausible (guint64 known,
                         guint64 claimed)
{
  return claimed > known && claimed - known > GOSSIP_MAX_INCARNATION_JUMP;
}

static void
refute (GossipCluster *self,
        guint64        accused_incarnation)
{
  if (self->left || self->local == NULL)
    return;
  self->local->incarnation = incarnation_next (MAX (self->local->incarnation, accused_incarnation));
  self->local_health = MIN (self->local_health + 1, GOSSIP_MAX_LOCAL_HEALTH);
  _gossip_cluster_publish (self, self->local, NULL);
  _gossip_dissemination_announce_local (self);
}

/* Applies one update. Returns TRUE when it was news (changed our view), in
 * which case it is worth passing on. */
static gboolean
apply_update (GossipCluster      *self,
              const GossipUpdate *u)
{
  GossipMember *m;
  gboolean new_metadata;

  if (_gossip_membership_is_local (self, u->id))
    {
      if (self->local == NULL)
        return FALSE;
      /* A forged accusation at a huge incarnation is not outbid: nobody
       * who knows us believes it either. */
      if (incarnation_implausible (self->local->incarnation, u->incarnation))
        {
          self->stats.updates_refused++;
          return FALSE;
        }
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
  if (m != NULL && incarnation_implausible (m->incarnation, u->incarnation))
    {
      self->stats.updates_refused++;
      return FALSE;
    }

  switch (u->kind)
    {
    case GOSSIP_UPDATE_ALIVE:
      if (m == NULL)
        {
          if (u->address == NULL || *u->address == '\0')
            return FALSE;
          if (!member_room (self))
            return FALSE;
          member_new (self, u, GOSSIP_NODE_ALIVE);
          return TRUE;
        }
      if (u->incarnation <= m->incarnation)
        return FALSE;
      m->incarnation = u->incarnation;
      new_metadata = member_learn (self, m, u);
      if (m->state != GOSSIP_NODE_ALIVE)
        _gossip_membership_set_state (self, m, GOSSIP_NODE_ALIVE);
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
          return _gossip_suspicion_confirm (self, m, u->from);
        }
      if (m->state != GOSSIP_NODE_ALIVE)
        return FALSE;
      m->incarnation = u->incarnation;
      _gossip_membership_set_state (self, m, GOSSIP_NODE_SUSPECT);
      _gossip_suspicion_start (self, m, u->from);
      return TRUE;

    case GOSSIP_UPDATE_DEAD:
      if (m == NULL || u->incarnation < m->incarnation ||
          m->state == GOSSIP_NODE_DEAD || m->state == GOSSIP_NODE_LEAVING)
        return FALSE;
      m->incarnation = u->incarnation;
      _gossip_membership_set_state (self, m, GOSSIP_NODE_DEAD);
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
      _gossip_membership_set_state (self, m, GOSSIP_NODE_LEAVING);
      return TRUE;
    }
  return FALSE;
}

gboolean
_gossip_membership_skip_updates (GossipReader *r)
{
  guint16 count = 0;

  if (!gossip_reader_get_u16 (r, &count) || count > GOSSIP_MAX_PIGGYBACK_UPDATES)
    return FALSE;
  for (guint i = 0; i < count; i++)
    {
      GossipUpdate u;

      if (!_gossip_update_read (r, &u))
        return FALSE;
      _gossip_update_clear (&u);
    }
  return TRUE;
}

/* Reads "u16 count + updates", applies them and returns the encodings of
 * those that were news (for relaying), or NULL on malformed input.
 * @stale_about_us (optional) tells whether the sender still suspects us,
 * or thinks us dead, at an incarnation we already refuted. */
GPtrArray *
_gossip_membership_read_updates (GossipCluster *self,
                                 GossipReader  *r,
                                 gboolean      *stale_about_us)
{
  guint16 count = 0;
  g_autoptr(GPtrArray) news = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);

  if (!gossip_reader_get_u16 (r, &count) || count > GOSSIP_MAX_PIGGYBACK_UPDATES)
    return NULL;
  for (guint i = 0; i < count; i++)
    {
      GossipUpdate u;
      gsize start = r->pos;

      if (!_gossip_update_read (r, &u))
        return NULL;
      if (stale_about_us != NULL && self->local != NULL && !self->left &&
          _gossip_membership_is_local (self, u.id) &&
          (u.kind == GOSSIP_UPDATE_SUSPECT || u.kind == GOSSIP_UPDATE_DEAD) &&
          u.incarnation < self->local->incarnation)
        *stale_about_us = TRUE;
      if (apply_update (self, &u))
        g_ptr_array_add (news, g_bytes_new (r->data + start, r->pos - start));
      _gossip_update_clear (&u);
    }
  return g_steal_pointer (&news);
}

/* ------------------------------------------------------------------------ */
/* Full state: join and push-pull                                            */
/* ------------------------------------------------------------------------ */

static void
write_record (GossipWriter *w,
              GossipMember *m)
{
  GossipUpdate u;

  _gossip_update_from_member (m, GOSSIP_UPDATE_ALIVE, NULL, &u);
  _gossip_update_write (w, &u);
  gossip_writer_put_u8 (w, m->state);
}

static gint
member_uuid_cmp (gconstpointer a,
                 gconstpointer b)
{
  const GossipMember *x = *(GossipMember * const *) a, *y = *(GossipMember * const *) b;

  return memcmp (x->uuid, y->uuid, GOSSIP_UUID_SIZE);
}

/* Writes one page of the state (PROTOCOL.md, "State pages"): the members
 * whose ids follow @after (NULL: from the first) in increasing id order,
 * as many as fit in state_page_max_bytes (at least one), MORE set when
 * some are left. Returns MORE; @last (optional) receives the last id
 * written, @n_written (optional) how many. */
static gboolean
write_page (GossipCluster *self,
            GossipWriter  *w,
            const guint8  *after,
            guint8        *last,
            guint32       *n_written)
{
  static const guint8 zero[GOSSIP_UUID_SIZE] = { 0 };
  g_autoptr(GPtrArray) sorted = g_ptr_array_sized_new (g_hash_table_size (self->members));
  GHashTableIter iter;
  gpointer value;
  gsize flags_at, count_at, start;
  guint32 count = 0;
  gboolean more = FALSE;
  guint i;

  if (after == NULL)
    after = zero;
  g_hash_table_iter_init (&iter, self->members);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    if (memcmp (((GossipMember *) value)->uuid, after, GOSSIP_UUID_SIZE) > 0)
      g_ptr_array_add (sorted, value);
  g_ptr_array_sort (sorted, member_uuid_cmp);

  flags_at = gossip_writer_len (w);
  gossip_writer_put_u8 (w, 0);
  gossip_writer_put_raw (w, after, GOSSIP_UUID_SIZE);
  count_at = gossip_writer_len (w);
  gossip_writer_put_u32 (w, 0);
  start = gossip_writer_len (w);
  for (i = 0; i < sorted->len; i++)
    {
      gsize before = gossip_writer_len (w);

      write_record (w, sorted->pdata[i]);
      if (count > 0 && gossip_writer_len (w) - start > (gsize) self->config->state_page_max_bytes)
        {
          g_byte_array_set_size (w->data, (guint) before);
          more = TRUE;
          break;
        }
      count++;
    }
  w->data->data[flags_at] = more ? STATE_PAGE_MORE : 0;
  w->data->data[count_at] = (guint8) (count >> 24);
  w->data->data[count_at + 1] = (guint8) (count >> 16);
  w->data->data[count_at + 2] = (guint8) (count >> 8);
  w->data->data[count_at + 3] = (guint8) count;
  if (last != NULL && count > 0)
    memcpy (last, ((GossipMember *) sorted->pdata[count - 1])->uuid, GOSSIP_UUID_SIZE);
  if (n_written != NULL)
    *n_written = count;
  return more;
}

static void
merge_record (GossipCluster *self,
              GossipRecord  *rec)
{
  GossipUpdate *u = &rec->alive;
  GossipMember *m;
  gboolean news;

  if (_gossip_membership_is_local (self, u->id))
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
      /* A dead or departed node we never knew (or have reaped) is not taken
       * in, as memberlist does: tombstones passed back and forth would
       * otherwise be re-created with a fresh clock at every exchange and
       * never be reaped, and fake ids would fill the table. */
      if (rec->state == GOSSIP_NODE_DEAD || rec->state == GOSSIP_NODE_LEAVING)
        return;
      if (!member_room (self))
        return;
      if (rec->state == GOSSIP_NODE_SUSPECT)
        {
          /* No accuser on record: the sender of the state stands in. */
          m = member_new (self, u, GOSSIP_NODE_SUSPECT);
          _gossip_suspicion_start (self, m, u->from);
        }
      else
        member_new (self, u, GOSSIP_NODE_ALIVE);
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
        case GOSSIP_NODE_ALIVE:   _gossip_update_from_member (m, GOSSIP_UPDATE_ALIVE, NULL, &q); break;
        case GOSSIP_NODE_SUSPECT:
          /* Passed on in the first accuser's name: hearsay must not count
           * as a confirmation. */
          _gossip_update_from_member (m, GOSSIP_UPDATE_SUSPECT,
                                      _gossip_suspicion_first_accuser (m), &q);
          break;
        case GOSSIP_NODE_DEAD:    _gossip_update_from_member (m, GOSSIP_UPDATE_DEAD, self->local_uuid, &q); break;
        case GOSSIP_NODE_LEAVING:
        default:                  _gossip_update_from_member (m, GOSSIP_UPDATE_LEAVE, NULL, &q); break;
        }
      enc = _gossip_update_encode (&q);
      _gossip_dissemination_queue (self, m->uuid, enc);
    }
}

/* Whether a stranger's own record may be taken in: a new id, or one whose
 * member is gone (dead or left, a restart elsewhere). A live member's id
 * claimed from another address is a hijack. */
static gboolean
may_introduce (GossipCluster      *self,
               const GossipUpdate *u)
{
  GossipMember *m = _gossip_membership_lookup (self, u->id);

  if (m == NULL)
    return TRUE;
  if (m->is_local)
    return FALSE;
  if (m->state == GOSSIP_NODE_DEAD || m->state == GOSSIP_NODE_LEAVING)
    return TRUE;
  return g_strcmp0 (m->snapshot->address, u->address) == 0;
}

/* Reads one page and merges its records, or with @only just the record of
 * that id, if may_introduce() allows it. A page is refused (FALSE) when
 * malformed, when its records are not in strictly increasing id order
 * after its cursor, or when MORE is set on an empty page; records before
 * the fault are merged (each is valid on its own). @last (optional)
 * receives the last id, the cursor of the next page; @more whether one
 * follows. */
typedef struct {
  GossipCluster *self;
  const guint8  *only;
} PageMerge;

static void
merge_page_record (GossipRecord *rec,
                   gpointer      data)
{
  PageMerge *pm = data;

  if (pm->only == NULL || (memcmp (rec->alive.id, pm->only, GOSSIP_UUID_SIZE) == 0 &&
                           may_introduce (pm->self, &rec->alive)))
    merge_record (pm->self, rec);
}

static gboolean
merge_page (GossipCluster *self,
            GossipReader  *r,
            const guint8  *only,
            guint8        *last,
            gboolean      *more)
{
  PageMerge pm = { self, only };

  return _gossip_state_page_read (r, last, more, merge_page_record, &pm);
}

gboolean
_gossip_membership_merge_page (GossipCluster *self,
                               GossipReader  *r)
{
  gboolean ok = merge_page (self, r, NULL, NULL, NULL);

  _gossip_cluster_flush_events (self);
  return ok;
}

/* ---- pulling the rest of a peer's state, page by page ------------------ */

typedef struct _JoinState JoinState;
static void join_state_unref (JoinState *js);

typedef struct {
  GossipCluster *self;
  char          *address;
  guint8         cursor[GOSSIP_UUID_SIZE];
  guint          pages;
  JoinState     *js;                   /* held until the last page, or NULL */
} StatePull;

static void state_pull_next (StatePull *pull);

static void
state_pull_free (StatePull *pull)
{
  if (pull->js != NULL)
    join_state_unref (pull->js);
  g_object_unref (pull->self);
  g_free (pull->address);
  g_free (pull);
}

static void
state_pull_done (GBytes       *reply,
                 const GError *error,
                 gpointer      user_data)
{
  StatePull *pull = user_data;
  GossipCluster *self = pull->self;
  GossipReader r;
  g_autoptr(GBytes) body = NULL;
  const guint8 *sender = NULL;
  guint8 mode = 0, last[GOSSIP_UUID_SIZE];
  gboolean more = FALSE;

  if (error != NULL || reply == NULL || self->lifecycle != GOSSIP_LIFECYCLE_RUNNING)
    {
      if (error != NULL)
        g_debug ("state page from %s: %s", pull->address, error->message);
      state_pull_free (pull);
      return;
    }
  body = _gossip_cluster_open (self, reply, TRUE, GOSSIP_PACKET_PUSH_PULL, &r, NULL, NULL, NULL);
  if (body == NULL)
    {
      state_pull_free (pull);
      return;
    }
  if (!gossip_reader_get_raw (&r, GOSSIP_UUID_SIZE, &sender) || !gossip_reader_get_u8 (&r, &mode) ||
      mode != PUSH_PULL_PAGE || !merge_page (self, &r, NULL, last, &more) ||
      /* The cursor only moves forward, and the page is the one asked for. */
      (more && memcmp (last, pull->cursor, GOSSIP_UUID_SIZE) <= 0))
    {
      self->stats.frames_dropped++;
      _gossip_cluster_flush_events (self);
      state_pull_free (pull);
      return;
    }
  _gossip_cluster_flush_events (self);
  if (!more)
    {
      state_pull_free (pull);
      return;
    }
  if (++pull->pages >= MAX_STATE_PAGES)
    {
      g_message ("state exchange with %s stopped after %u pages", pull->address, pull->pages);
      state_pull_free (pull);
      return;
    }
  memcpy (pull->cursor, last, GOSSIP_UUID_SIZE);
  state_pull_next (pull);
}

static void
state_pull_next (StatePull *pull)
{
  GossipCluster *self = pull->self;
  GossipWriter w;
  g_autoptr(GBytes) frame = NULL;

  if (self->lifecycle != GOSSIP_LIFECYCLE_RUNNING)
    {
      state_pull_free (pull);
      return;
    }
  _gossip_cluster_begin_body (self, &w, GOSSIP_PACKET_PUSH_PULL, TRUE);
  gossip_writer_put_raw (&w, self->local_uuid, GOSSIP_UUID_SIZE);
  gossip_writer_put_u8 (&w, PUSH_PULL_PULL);
  /* The request's page is empty; its cursor says where to go on. */
  gossip_writer_put_u8 (&w, 0);
  gossip_writer_put_raw (&w, pull->cursor, GOSSIP_UUID_SIZE);
  gossip_writer_put_u32 (&w, 0);
  frame = _gossip_cluster_seal (self, &w);
  gossip_writer_clear (&w);
  if (frame == NULL)
    {
      state_pull_free (pull);
      return;
    }
  gossip_transport_send_stream (self->transport, pull->address, frame, TRUE, PUSH_PULL_TIMEOUT,
                                state_pull_done, pull);
}

/* Pulls the pages of @address's state after @cursor; @js (optional) is
 * held until the last one. */
static void
state_pull_start (GossipCluster *self,
                  const char    *address,
                  const guint8  *cursor,
                  JoinState     *js)
{
  StatePull *pull = g_new0 (StatePull, 1);

  pull->self = g_object_ref (self);
  pull->address = g_strdup (address);
  memcpy (pull->cursor, cursor, GOSSIP_UUID_SIZE);
  pull->pages = 1;     /* the first page came with the join or exchange */
  pull->js = js;
  state_pull_next (pull);
}

/* Sends the pages of our state after the first one to @address, one-way. */
static void
state_push_rest (GossipCluster *self,
                 const char    *address,
                 const guint8  *cursor)
{
  guint8 after[GOSSIP_UUID_SIZE];
  gboolean more = TRUE;

  memcpy (after, cursor, GOSSIP_UUID_SIZE);
  for (guint pages = 1; more && pages < MAX_STATE_PAGES; pages++)
    {
      GossipWriter w;
      guint32 count = 0;

      _gossip_cluster_begin_body (self, &w, GOSSIP_PACKET_PUSH_PULL, TRUE);
      gossip_writer_put_raw (&w, self->local_uuid, GOSSIP_UUID_SIZE);
      gossip_writer_put_u8 (&w, PUSH_PULL_PUSH);
      more = write_page (self, &w, after, after, &count);
      if (count == 0)
        {
          gossip_writer_clear (&w);
          break;
        }
      _gossip_cluster_send_body (self, address, &w, TRUE);
      gossip_writer_clear (&w);
    }
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
  if (!_gossip_record_read (r, &rec))
    {
      self->stats.frames_dropped++;
      return;
    }
  if (_gossip_membership_is_local (self, rec.alive.id))
    {
      _gossip_update_clear (&rec.alive);
      _gossip_membership_reject_join (self, reply, "unable to join self");
      return;
    }
  /* A joiner introduces itself, and cannot take over a live member's id
   * from another address unless it proves to be that node (key or token). */
  if (self->inbound != NULL && self->inbound->sender.present &&
      memcmp (self->inbound->sender.id, rec.alive.id, GOSSIP_UUID_SIZE) != 0)
    {
      self->stats.frames_fenced++;
      _gossip_update_clear (&rec.alive);
      _gossip_membership_reject_join (self, reply, "the record is not the joiner's own");
      return;
    }
  if (!may_introduce (self, &rec.alive) &&
      !(self->inbound != NULL && self->inbound->sender.authenticated))
    {
      GossipMember *m = _gossip_membership_lookup (self, rec.alive.id);
      g_autofree char *reason = g_strdup_printf ("node id %s is in use by a live member at %s",
                                                 m->snapshot->id, m->snapshot->address);

      self->stats.frames_fenced++;
      _gossip_update_clear (&rec.alive);
      _gossip_membership_reject_join (self, reply, reason);
      return;
    }
  if (_gossip_membership_lookup (self, rec.alive.id) == NULL && !member_room (self))
    {
      g_autofree char *reason = g_strdup_printf ("the cluster is full (max_members %" G_GINT64_FORMAT ")",
                                                 self->config->max_members);

      _gossip_update_clear (&rec.alive);
      _gossip_membership_reject_join (self, reply, reason);
      return;
    }
  merge_record (self, &rec);
  {
    /* A joiner we saw as dead or leaving is back: believe it. */
    GossipMember *m = _gossip_membership_lookup (self, rec.alive.id);
    if (m != NULL && rec.state == GOSSIP_NODE_ALIVE && m->state != GOSSIP_NODE_ALIVE &&
        m->incarnation <= rec.alive.incarnation &&
        !incarnation_implausible (m->incarnation, rec.alive.incarnation))
      {
        m->incarnation = rec.alive.incarnation;
        _gossip_membership_set_state (self, m, GOSSIP_NODE_ALIVE);
      }
    if (m != NULL)
      {
        GossipUpdate u;
        _gossip_update_from_member (m, GOSSIP_UPDATE_ALIVE, NULL, &u);
        _gossip_dissemination_spread (self, &u, m->uuid);
      }
  }
  _gossip_update_clear (&rec.alive);

  _gossip_cluster_begin_body (self, &w, GOSSIP_PACKET_JOIN_REPLY, TRUE);
  gossip_writer_put_u8 (&w, 0);
  gossip_writer_put_string (&w, "");
  /* The first page; a joiner pulls the rest (PROTOCOL.md, "State pages"). */
  write_page (self, &w, NULL, NULL, NULL);
  frame = _gossip_cluster_seal (self, &w);
  gossip_writer_clear (&w);
  if (frame)
    gossip_transport_reply_send (reply, frame);
}

struct _JoinState {
  GossipCluster *self;
  GTask         *task;
  guint          pending;
  gint           accepted;
};

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
            GossipReader     *r,
            GossipOpenResult *result)
{
  return _gossip_cluster_open (self, reply, TRUE, expected, r, NULL, NULL, result);
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
          GossipOpenResult result;
          g_autoptr(GBytes) body = open_reply (self, reply, GOSSIP_PACKET_JOIN_REPLY, &r, &result);
          guint8 status = 0, last[GOSSIP_UUID_SIZE];
          gboolean more = FALSE;
          g_autofree char *reason = NULL;

          if (body == NULL && result == GOSSIP_OPEN_PEER_REFUSED)
            {
              self->stats.auth_rejected++;
              g_message ("join %s refused: authentication failed (the bearer token or encryption key differs)",
                         ja->address);
            }
          else if (body == NULL)
            g_message ("join %s failed: the peer's reply could not be authenticated (wrong key or token?)",
                       ja->address);
          else if (!gossip_reader_get_u8 (&r, &status) || !gossip_reader_get_string (&r, 4096, &reason))
            self->stats.frames_dropped++;
          else if (status != 0)
            g_message ("join %s rejected: %s", ja->address, reason);
          else if (merge_page (self, &r, NULL, last, &more))
            {
              js->accepted++;
              /* Larger state comes in pages: the join completes with the
               * last one. */
              if (more)
                {
                  js->pending++;
                  state_pull_start (self, ja->address, last, js);
                }
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

/* PUSH_PULL: [16 sender][u8 mode][page] (PROTOCOL.md, "State pages"). */
static void
handle_push_pull (GossipCluster        *self,
                  GossipReader         *r,
                  GossipTransportReply *reply)
{
  const guint8 *sender = NULL;
  GossipWriter w;
  g_autoptr(GBytes) frame = NULL;
  gboolean stranger;
  guint8 mode = 0, cursor[GOSSIP_UUID_SIZE];

  if (!gossip_reader_get_raw (r, GOSSIP_UUID_SIZE, &sender) || !gossip_reader_get_u8 (r, &mode) ||
      mode > PUSH_PULL_PULL || (mode == PUSH_PULL_PUSH) != (reply == NULL))
    {
      self->stats.frames_dropped++;
      return;
    }
  /* A stranger (a node we reaped, one that joined through another seed)
   * may exchange state by stream, but only its own record is taken: what
   * it says of others is not its to say. */
  stranger = self->inbound != NULL && !self->inbound->trusted;
  if (stranger && reply == NULL)
    {
      self->stats.frames_fenced++;
      return;
    }
  if (!stranger && _gossip_cluster_inbound_refused (self, sender))
    return;
  if (mode == PUSH_PULL_PULL)
    {
      /* An empty page whose cursor says where to go on. */
      guint8 flags = 0;
      const guint8 *after = NULL;
      guint32 count = 1;

      if (!gossip_reader_get_u8 (r, &flags) || flags != 0 ||
          !gossip_reader_get_raw (r, GOSSIP_UUID_SIZE, &after) ||
          !gossip_reader_get_u32 (r, &count) || count != 0)
        {
          self->stats.frames_dropped++;
          return;
        }
      memcpy (cursor, after, GOSSIP_UUID_SIZE);
    }
  else if (!merge_page (self, r, stranger ? sender : NULL, NULL, NULL))
    {
      self->stats.frames_dropped++;
      return;
    }
  if (reply == NULL)
    return;
  _gossip_cluster_begin_body (self, &w, GOSSIP_PACKET_PUSH_PULL, TRUE);
  gossip_writer_put_raw (&w, self->local_uuid, GOSSIP_UUID_SIZE);
  gossip_writer_put_u8 (&w, PUSH_PULL_PAGE);
  write_page (self, &w, mode == PUSH_PULL_PULL ? cursor : NULL, NULL, NULL);
  frame = _gossip_cluster_seal (self, &w);
  gossip_writer_clear (&w);
  if (frame)
    gossip_transport_reply_send (reply, frame);
}

typedef struct {
  GossipCluster *self;
  char          *address;
} PushPull;

static void
push_pull_done (GBytes       *reply,
                const GError *error,
                gpointer      user_data)
{
  PushPull *pp = user_data;
  GossipCluster *self = pp->self;

  if (error == NULL && reply != NULL && self->lifecycle == GOSSIP_LIFECYCLE_RUNNING)
    {
      GossipReader r;
      g_autoptr(GBytes) body = open_reply (self, reply, GOSSIP_PACKET_PUSH_PULL, &r, NULL);
      const guint8 *sender = NULL;
      guint8 mode = 0, last[GOSSIP_UUID_SIZE];
      gboolean more = FALSE;

      if (body != NULL)
        {
          if (!gossip_reader_get_raw (&r, GOSSIP_UUID_SIZE, &sender) || !gossip_reader_get_u8 (&r, &mode) ||
              mode != PUSH_PULL_PAGE || !merge_page (self, &r, NULL, last, &more))
            self->stats.frames_dropped++;
          else if (more)
            state_pull_start (self, pp->address, last, NULL);
        }
      _gossip_cluster_flush_events (self);
    }
  g_object_unref (self);
  g_free (pp->address);
  g_free (pp);
}

static void
push_pull_with (GossipCluster *self,
                const char    *address)
{
  GossipWriter w;
  g_autoptr(GBytes) frame = NULL;
  guint8 last[GOSSIP_UUID_SIZE];
  gboolean more;

  if (self->lifecycle != GOSSIP_LIFECYCLE_RUNNING || self->local == NULL)
    return;
  _gossip_cluster_begin_body (self, &w, GOSSIP_PACKET_PUSH_PULL, TRUE);
  gossip_writer_put_raw (&w, self->local_uuid, GOSSIP_UUID_SIZE);
  gossip_writer_put_u8 (&w, PUSH_PULL_EXCHANGE);
  more = write_page (self, &w, NULL, last, NULL);
  frame = _gossip_cluster_seal (self, &w);
  gossip_writer_clear (&w);
  if (frame)
    {
      PushPull *pp = g_new0 (PushPull, 1);

      pp->self = g_object_ref (self);
      pp->address = g_strdup (address);
      self->push_pulls_started++;
      gossip_transport_send_stream (self->transport, address, frame, TRUE, PUSH_PULL_TIMEOUT,
                                    push_pull_done, pp);
      /* The rest of ours follows, page by page; theirs we pull. */
      if (more)
        state_push_rest (self, address, last);
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
  /* write_page() sends every member, dead and leaving ones included. */
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
        _gossip_membership_set_state (self, m, GOSSIP_NODE_DEAD);
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
    case GOSSIP_PACKET_PING:      _gossip_probe_handle_ping (self, r, reply); break;
    case GOSSIP_PACKET_ACK:       _gossip_probe_handle_ack (self, r); break;
    case GOSSIP_PACKET_PING_REQ:  _gossip_probe_handle_ping_req (self, r); break;
    case GOSSIP_PACKET_NACK:      _gossip_probe_handle_nack (self, r); break;
    case GOSSIP_PACKET_GOSSIP:    _gossip_dissemination_handle_gossip (self, r); break;
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
  self->local->incarnation = incarnation_next (self->local->incarnation);
  _gossip_update_from_member (self->local, GOSSIP_UPDATE_ALIVE, NULL, &info);
  info.metadata = md;
  info.meta_version = version;
  _gossip_cluster_publish (self, self->local, &info);
  g_hash_table_unref (md);
  _gossip_cluster_emit_metadata (self, self->local->snapshot);
  if (self->lifecycle == GOSSIP_LIFECYCLE_RUNNING)
    _gossip_dissemination_announce_local (self);
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

  self->local->incarnation = incarnation_next (self->local->incarnation);
  _gossip_membership_set_state (self, self->local, GOSSIP_NODE_LEAVING);
  _gossip_dissemination_announce_local (self);

  /* Tell a few peers over streams as well, so the leave survives loss. */
  {
    g_autoptr(GPtrArray) peers = _gossip_membership_pick (self, 3, NULL, NULL, NULL, GOSSIP_PICK_ALIVE_ONLY);
    GossipUpdate u;
    g_autoptr(GBytes) enc = NULL;

    _gossip_update_from_member (self->local, GOSSIP_UPDATE_LEAVE, NULL, &u);
    enc = _gossip_update_encode (&u);
    for (guint i = 0; i < peers->len; i++)
      {
        GossipWriter w;
        g_autoptr(GPtrArray) extra = g_ptr_array_new ();
        g_ptr_array_add (extra, enc);
        _gossip_cluster_begin_body (self, &w, GOSSIP_PACKET_GOSSIP, TRUE);
        gossip_writer_put_raw (&w, self->local_uuid, GOSSIP_UUID_SIZE);
        gossip_writer_put_u8 (&w, (guint8) _gossip_membership_ttl (self));
        _gossip_dissemination_write_piggyback (self, &w, 0, extra);
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
  self->probes = g_hash_table_new_full (NULL, NULL, NULL, _gossip_probe_free);
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
    _gossip_cluster_timer (self, _gossip_cluster_jitter (self, c->health_check_interval, 1),
                           _gossip_probe_timer_fire);
  self->timers[GOSSIP_TIMER_GOSSIP] =
    _gossip_cluster_timer (self, _gossip_cluster_jitter (self, c->metadata_gossip_interval, 4),
                           _gossip_dissemination_timer_fire);
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
    _gossip_cluster_timer (self, c->suspect_retry_interval, _gossip_probe_suspect_retry_fire);
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
  for (guint i = 0; i < G_N_ELEMENTS (self->timers); i++)
    if (self->timers[i] != 0)
      {
        gossip_clock_cancel (self->clock, self->timers[i]);
        self->timers[i] = 0;
      }

  _gossip_probe_stop (self);
}

void
_gossip_membership_finalize (GossipCluster *self)
{
  g_queue_clear_full (&self->broadcasts, (GDestroyNotify) _gossip_broadcast_free);
  self->broadcast_bytes = 0;
  g_clear_pointer (&self->probes, g_hash_table_unref);
  g_clear_pointer (&self->live, g_ptr_array_unref);
  g_clear_pointer (&self->members, g_hash_table_unref);
}
