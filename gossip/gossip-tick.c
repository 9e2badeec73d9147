/* gossip-tick.c — GossipTick and the gossip-interval ticks: a cluster
 * emits GossipCluster::gossip-interval with a tick, and schedules the next
 * one when the last reference to it is dropped, adapting the period to how
 * long the handlers took.
 *
 * SPDX-License-Identifier: MIT
 */
#include "config.h"

#include "gossip-private.h"

/* ------------------------------------------------------------------------ */
/* Gossip-interval ticks                                                     */
/* ------------------------------------------------------------------------ */

struct _GossipTick
{
  gint           ref_count;
  GossipCluster *cluster;
};

G_DEFINE_BOXED_TYPE (GossipTick, gossip_tick, gossip_tick_ref, gossip_tick_unref)

/**
 * gossip_tick_ref:
 * @tick: a #GossipTick
 *
 * Takes a reference on a tick, delaying the next one until it is dropped.
 *
 * Returns: (transfer full): @tick
 */
GossipTick *
gossip_tick_ref (GossipTick *tick)
{
  g_atomic_int_inc (&tick->ref_count);
  return tick;
}

static void schedule_tick (GossipCluster *self, gint64 delay);

static gboolean
engine_tick_done (gpointer data)
{
  GossipCluster *self = data;
  gint64 d, cur, interval, max;

  self->tick = NULL;
  if (self->lifecycle != GOSSIP_LIFECYCLE_RUNNING)
    {
      g_object_unref (self);
      return G_SOURCE_REMOVE;
    }

  /* Adaptive period (gossip-protocol.md §16). */
  d = gossip_clock_now (self->clock) - self->tick_emitted_at;
  cur = self->tick_period;
  interval = self->config->gossip_interval;
  max = self->config->gossip_max_interval;
  if (d > cur)
    cur = MIN ((gint64) (1.25 * (double) d), max);
  else if (cur > interval && (double) d < 0.8 * (double) cur)
    cur = MAX (interval, (d + cur) / 2);
  self->tick_period = cur;
  schedule_tick (self, MAX (0, cur - d));
  g_object_unref (self);
  return G_SOURCE_REMOVE;
}

/**
 * gossip_tick_unref:
 * @tick: (transfer full): a #GossipTick
 *
 * Drops a reference. When the last one goes, the tick is over: the cluster
 * measures how long it took and schedules the next one. Thread-safe.
 */
void
gossip_tick_unref (GossipTick *tick)
{
  if (!g_atomic_int_dec_and_test (&tick->ref_count))
    return;
  /* The tick's reference on the cluster keeps it alive until the engine ran. */
  _gossip_cluster_invoke_async (tick->cluster, engine_tick_done, tick->cluster);
  g_free (tick);
}

static void
tick_fire (gpointer data)
{
  GossipCluster *self = data;
  GossipTick *tick;

  self->timers[GOSSIP_TIMER_TICK] = 0;
  if (self->lifecycle != GOSSIP_LIFECYCLE_RUNNING || self->tick != NULL)
    return;

  tick = g_new0 (GossipTick, 1);
  tick->ref_count = 1;
  tick->cluster = g_object_ref (self);
  self->tick = tick;
  self->tick_emitted_at = gossip_clock_now (self->clock);
  _gossip_cluster_emit_tick (self, tick);
  gossip_tick_unref (tick);
}

static void
schedule_tick (GossipCluster *self,
               gint64         delay)
{
  if (self->timers[GOSSIP_TIMER_TICK] != 0)
    return;
  self->timers[GOSSIP_TIMER_TICK] = _gossip_cluster_timer (self, delay, tick_fire);
}

/* Called by membership start. */
void
_gossip_cluster_start_ticks (GossipCluster *self)
{
  self->tick_period = self->config->gossip_interval;
  schedule_tick (self, _gossip_cluster_jitter (self, self->config->gossip_interval, 2));
}
