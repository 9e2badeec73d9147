/* gossip-replay.c — the replay window (PROTOCOL.md, "Replay window").
 *
 * Every authenticated frame carries (sender id, epoch, seq, wall ms). A
 * frame is fresh when its stamp is within the skew of the receiver's clock
 * and (sender, epoch, seq) has not been seen. Seen triples are kept until
 * their stamp is older than the skew, after which the stamp check alone
 * refuses them. When more than max_entries are kept the oldest is dropped
 * and its sender's floor raised: nothing at or below the floor is fresh,
 * so a flood of genuine frames costs at most late, reordered frames of
 * that sender, never a replay.
 *
 * SPDX-License-Identifier: MIT
 */
#include "config.h"

#include <string.h>

#include "gossip-replay-private.h"

typedef struct {
  guint8      id[16];
  guint64     epoch;
  guint64     floor;        /* seq <= floor is refused */
  gint64      last_wall;    /* newest stamp seen */
  GHashTable *seen;         /* set of seq (guint64*, owned by the entries) */
} Sender;

typedef struct {
  GList    link;            /* in window->order; data is the entry */
  Sender  *sender;
  guint64  seq;
  gint64   expires;         /* wall ms after which the stamp check suffices */
} Entry;

struct _GossipReplayWindow {
  guint       max_entries;
  gint64      skew_ms;
  GHashTable *senders;      /* Sender* (keyed by id and epoch), owned */
  GQueue      order;        /* Entry links, oldest first */
  guint       checks;
};

static guint
sender_hash (gconstpointer p)
{
  const Sender *s = p;
  guint h;

  memcpy (&h, s->id + 12, sizeof h);
  return h ^ (guint) s->epoch ^ (guint) (s->epoch >> 32);
}

static gboolean
sender_equal (gconstpointer a, gconstpointer b)
{
  const Sender *x = a, *y = b;

  return x->epoch == y->epoch && memcmp (x->id, y->id, 16) == 0;
}

static void
sender_free (gpointer p)
{
  Sender *s = p;

  g_hash_table_unref (s->seen);
  g_free (s);
}

GossipReplayWindow *
gossip_replay_window_new (guint  max_entries,
                          gint64 skew_ms)
{
  GossipReplayWindow *w = g_new0 (GossipReplayWindow, 1);

  w->max_entries = MAX (max_entries, 1);
  w->skew_ms = skew_ms;
  w->senders = g_hash_table_new_full (sender_hash, sender_equal, sender_free, NULL);
  g_queue_init (&w->order);
  return w;
}

void
gossip_replay_window_free (GossipReplayWindow *w)
{
  GList *l;

  if (w == NULL)
    return;
  while ((l = g_queue_pop_head_link (&w->order)) != NULL)
    g_free (l->data);
  g_hash_table_unref (w->senders);
  g_free (w);
}

static void
forget_oldest (GossipReplayWindow *w, gboolean raise_floor)
{
  GList *l = g_queue_pop_head_link (&w->order);
  Entry *e = l->data;

  g_hash_table_remove (e->sender->seen, &e->seq);
  if (raise_floor)
    e->sender->floor = MAX (e->sender->floor, e->seq);
  g_free (e);
}

/* Senders with nothing remembered and no stamp within the skew are gone:
 * any frame of theirs would be stale. */
static void
sweep_senders (GossipReplayWindow *w, gint64 now_ms)
{
  GHashTableIter iter;
  gpointer key;

  g_hash_table_iter_init (&iter, w->senders);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    {
      Sender *s = key;

      if (g_hash_table_size (s->seen) == 0 && s->last_wall + w->skew_ms < now_ms)
        g_hash_table_iter_remove (&iter);
    }
}

GossipReplayVerdict
gossip_replay_window_check (GossipReplayWindow *w,
                            const guint8       *sender_id,
                            guint64             epoch,
                            guint64             seq,
                            gint64              wall_ms,
                            gint64              now_ms)
{
  Sender probe, *s;
  Entry *e;

  g_return_val_if_fail (w != NULL && sender_id != NULL, GOSSIP_REPLAY_STALE);

  /* Forget what the stamp check now covers. */
  while (w->order.head != NULL && ((Entry *) w->order.head->data)->expires < now_ms)
    forget_oldest (w, FALSE);
  if (++w->checks % 1024 == 0)
    sweep_senders (w, now_ms);

  if (wall_ms < now_ms - w->skew_ms || wall_ms > now_ms + w->skew_ms)
    return GOSSIP_REPLAY_STALE;

  memcpy (probe.id, sender_id, 16);
  probe.epoch = epoch;
  s = g_hash_table_lookup (w->senders, &probe);
  if (s == NULL)
    {
      s = g_new0 (Sender, 1);
      memcpy (s->id, sender_id, 16);
      s->epoch = epoch;
      s->seen = g_hash_table_new (g_int64_hash, g_int64_equal);
      g_hash_table_add (w->senders, s);
    }
  if (seq <= s->floor || g_hash_table_contains (s->seen, &seq))
    return GOSSIP_REPLAY_REPEATED;

  if (g_queue_get_length (&w->order) >= w->max_entries)
    forget_oldest (w, TRUE);

  e = g_new0 (Entry, 1);
  e->link.data = e;
  e->sender = s;
  e->seq = seq;
  /* Entries leave in arrival order; a stamp older than the head's keeps
   * its entry a little longer, which is only safer. */
  e->expires = wall_ms + w->skew_ms;
  g_hash_table_add (s->seen, &e->seq);
  s->last_wall = MAX (s->last_wall, wall_ms);
  g_queue_push_tail_link (&w->order, &e->link);
  return GOSSIP_REPLAY_FRESH;
}

guint
gossip_replay_window_size (GossipReplayWindow *w,
                           guint              *senders)
{
  if (senders != NULL)
    *senders = g_hash_table_size (w->senders);
  return g_queue_get_length (&w->order);
}
