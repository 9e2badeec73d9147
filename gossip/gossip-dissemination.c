/* gossip-dissemination.c — spreading membership updates: their encoding,
 * the retransmit queue and GOSSIP packets.
 *
 * Updates spread at once to a fan-out of peers with a TTL, are piggybacked
 * on probes and acks, and are re-sent from a bounded retransmit queue; a
 * periodic round also talks to a recently dead member, so that partitions
 * heal.
 *
 * SPDX-License-Identifier: MIT
 */
#include "config.h"

#include <string.h>

#include "gossip-private.h"

/* A queued update, piggybacked until sent retransmit_limit() times. */
struct _GossipBroadcast {
  guint8   id[GOSSIP_UUID_SIZE];
  GBytes  *encoded;
  guint    transmits;   /* times sent so far */
};

static void membership_send_gossip (GossipCluster *self, GPtrArray *updates_encoded, guint ttl,
                                    const guint8 *exclude);

void
_gossip_broadcast_free (GossipBroadcast *b)
{
  g_bytes_unref (b->encoded);
  g_free (b);
}

/* ------------------------------------------------------------------------ */
/* Encoding the local node and the retransmit queue                          */
/* ------------------------------------------------------------------------ */

void
_gossip_update_from_member (GossipMember     *m,
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

GBytes *
_gossip_update_encode (const GossipUpdate *u)
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

static void
broadcast_remove (GossipCluster *self,
                  GList         *link)
{
  GossipBroadcast *b = link->data;

  self->broadcast_bytes -= g_bytes_get_size (b->encoded);
  _gossip_broadcast_free (b);
  g_queue_delete_link (&self->broadcasts, link);
}

/* Queues an encoded update for piggybacking; it replaces any older queued
 * update about the same node. */
void
_gossip_dissemination_queue (GossipCluster *self,
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
          broadcast_remove (self, l);
        }
    }
  /* One that can never fit a datagram's piggyback budget would stay queued
   * for ever: it has been sent by itself already (the fan-out goes by
   * stream when large) and state exchanges carry it too. */
  if (g_bytes_get_size (encoded) > GOSSIP_PIGGYBACK_BUDGET)
    {
      self->stats.broadcasts_dropped++;
      return;
    }
  b = g_new0 (GossipBroadcast, 1);
  memcpy (b->id, id, GOSSIP_UUID_SIZE);
  b->encoded = g_bytes_ref (encoded);
  b->transmits = 0;
  g_queue_push_tail (&self->broadcasts, b);
  self->broadcast_bytes += g_bytes_get_size (encoded);
  /* Over the bound: the oldest go first (they have had the most sends). */
  while (self->broadcast_bytes > (gsize) self->config->max_broadcast_bytes && self->broadcasts.head != NULL)
    {
      broadcast_remove (self, self->broadcasts.head);
      self->stats.broadcasts_dropped++;
    }
}

/* Queues updates read from the network that were news to us. Each encoding
 * was validated by read_updates() and starts with [u8 kind][16 id]. */
void
_gossip_dissemination_queue_news (GossipCluster *self,
                                  GPtrArray     *news)
{
  for (guint i = 0; i < news->len; i++)
    {
      gsize len;
      const guint8 *data = g_bytes_get_data (news->pdata[i], &len);

      if (len >= 1 + GOSSIP_UUID_SIZE)
        _gossip_dissemination_queue (self, data + 1, news->pdata[i]);
    }
}

/* Spreads an update: fan-out now with a TTL, and queue it for piggybacking. */
void
_gossip_dissemination_spread (GossipCluster      *self,
                              const GossipUpdate *u,
                              const guint8       *exclude)
{
  g_autoptr(GBytes) enc = _gossip_update_encode (u);
  g_autoptr(GPtrArray) list = g_ptr_array_new ();

  _gossip_dissemination_queue (self, u->id, enc);
  g_ptr_array_add (list, enc);
  membership_send_gossip (self, list, _gossip_membership_ttl (self), exclude);
}

void
_gossip_dissemination_announce_local (GossipCluster *self)
{
  GossipUpdate u;

  _gossip_update_from_member (self->local, self->left ? GOSSIP_UPDATE_LEAVE : GOSSIP_UPDATE_ALIVE, NULL, &u);
  _gossip_dissemination_spread (self, &u, NULL);
}

/* Appends "u16 count + updates" taken from the retransmit queue, within
 * @budget bytes; @extra (if any) goes first and is not counted. */
void
_gossip_dissemination_write_piggyback (GossipCluster *self,
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
  for (l = self->broadcasts.head; l != NULL && count < GOSSIP_MAX_PIGGYBACK_UPDATES; l = next)
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
        broadcast_remove (self, l);
    }
  gossip_writer_patch_u16 (w, count_at, count);
}

/* What we think of @m, when that is something it should hear (it is
 * suspected or dead here): sending it lets it refute. */
GBytes *
_gossip_dissemination_view_of (GossipCluster *self,
                               GossipMember  *m)
{
  GossipUpdate u;

  if (m->state == GOSSIP_NODE_SUSPECT)
    _gossip_update_from_member (m, GOSSIP_UPDATE_SUSPECT, self->local_uuid, &u);
  else if (m->state == GOSSIP_NODE_DEAD)
    _gossip_update_from_member (m, GOSSIP_UPDATE_DEAD, self->local_uuid, &u);
  else
    return NULL;
  return _gossip_update_encode (&u);
}

/* A peer still accuses us at an incarnation we already refuted: our
 * refutation missed it (it went to our live members and the gossip tail
 * ended), and nothing else would correct it before a state exchange. The
 * accuser keeps telling us (suspect-retry pings, gossip to the recently
 * dead), so answer it directly with our current alive update. */
void
_gossip_dissemination_correct_stale_view (GossipCluster *self,
                                          const char    *address)
{
  g_autoptr(GPtrArray) extra = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  GossipWriter w;
  GossipUpdate u;

  if (address == NULL || *address == '\0')
    return;
  _gossip_update_from_member (self->local, GOSSIP_UPDATE_ALIVE, NULL, &u);
  g_ptr_array_add (extra, _gossip_update_encode (&u));
  _gossip_cluster_begin_body (self, &w, GOSSIP_PACKET_GOSSIP, FALSE);
  gossip_writer_put_raw (&w, self->local_uuid, GOSSIP_UUID_SIZE);
  gossip_writer_put_u8 (&w, 0);
  _gossip_dissemination_write_piggyback (self, &w, GOSSIP_PIGGYBACK_BUDGET, extra);
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
      GBytes *view = _gossip_dissemination_view_of (self, m);

      for (guint j = 0; j < updates->len; j++)
        g_ptr_array_add (extra, g_bytes_ref (updates->pdata[j]));
      if (view)
        g_ptr_array_add (extra, view);

      _gossip_cluster_begin_body (self, &w, GOSSIP_PACKET_GOSSIP, FALSE);
      gossip_writer_put_raw (&w, self->local_uuid, GOSSIP_UUID_SIZE);
      gossip_writer_put_u8 (&w, (guint8) MIN (ttl, 255u));
      _gossip_dissemination_write_piggyback (self, &w, GOSSIP_PIGGYBACK_BUDGET, extra);
      _gossip_cluster_send_body (self, m->snapshot->address, &w, FALSE);
      gossip_writer_clear (&w);
    }
}

void
_gossip_dissemination_handle_gossip (GossipCluster *self,
                                     GossipReader  *r)
{
  const guint8 *sender = NULL;
  guint8 ttl = 0;
  g_autoptr(GPtrArray) news = NULL;
  gboolean stale = FALSE;

  if (!gossip_reader_get_raw (r, GOSSIP_UUID_SIZE, &sender) || !gossip_reader_get_u8 (r, &ttl))
    goto bad;
  if (_gossip_cluster_inbound_refused (self, sender))
    return;
  news = _gossip_membership_read_updates (self, r, &stale);
  if (news == NULL)
    goto bad;
  _gossip_probe_heard (self, sender);
  if (stale)
    {
      GossipMember *from = _gossip_membership_lookup (self, sender);
      if (from != NULL && !from->is_local)
        _gossip_dissemination_correct_stale_view (self, from->snapshot->address);
    }
  _gossip_dissemination_queue_news (self, news);
  if (news->len > 0 && ttl > 1)
    {
      guint8 from[GOSSIP_UUID_SIZE];
      memcpy (from, sender, GOSSIP_UUID_SIZE);
      membership_send_gossip (self, news, MIN (ttl, GOSSIP_MAX_TTL) - 1, from);
    }
  return;

bad:
  self->stats.frames_dropped++;
}

void
_gossip_dissemination_timer_fire (gpointer data)
{
  GossipCluster *self = data;
  g_autoptr(GPtrArray) targets = NULL;

  self->timers[GOSSIP_TIMER_GOSSIP] =
    _gossip_cluster_timer (self, self->config->metadata_gossip_interval, _gossip_dissemination_timer_fire);

  /* Periodic round: retransmit queued updates to a fan-out of peers, and
   * always talk to one recently dead member so partitions heal. */
  targets = _gossip_membership_pick (self, self->broadcasts.length > 0 ? _gossip_membership_fanout (self) : 0,
                                     NULL, NULL, NULL, GOSSIP_PICK_RECENT_DEAD | GOSSIP_PICK_ALIVE_ONLY);
  for (guint i = 0; i < targets->len; i++)
    {
      GossipMember *m = targets->pdata[i];
      GossipWriter w;
      g_autoptr(GPtrArray) extra = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
      GBytes *view = _gossip_dissemination_view_of (self, m);
      GossipUpdate lu;

      if (m->state == GOSSIP_NODE_DEAD)
        {
          _gossip_update_from_member (self->local, self->left ? GOSSIP_UPDATE_LEAVE : GOSSIP_UPDATE_ALIVE, NULL, &lu);
          g_ptr_array_add (extra, _gossip_update_encode (&lu));
        }
      if (view)
        g_ptr_array_add (extra, view);
      _gossip_cluster_begin_body (self, &w, GOSSIP_PACKET_GOSSIP, FALSE);
      gossip_writer_put_raw (&w, self->local_uuid, GOSSIP_UUID_SIZE);
      gossip_writer_put_u8 (&w, 0);
      _gossip_dissemination_write_piggyback (self, &w, GOSSIP_PIGGYBACK_BUDGET, extra);
      _gossip_cluster_send_body (self, m->snapshot->address, &w, FALSE);
      gossip_writer_clear (&w);
    }
}
