/* gossip-clock.c — injectable time source and timer service.
 *
 * SPDX-License-Identifier: MIT
 */
#include "config.h"

#include "gossip-clock.h"

/**
 * GossipClock:
 *
 * A source of monotonic time and one-shot timers; see
 * #GossipClockInterface.
 */

/**
 * SECTION:gossip-clock
 * @title: GossipClock
 * @short_description: time source and one-shot timers
 *
 * The engine never asks GLib for the time or arms a #GSource directly: it
 * goes through a #GossipClock, so that the same code runs on the real
 * monotonic clock (#GossipSystemClock) and on deterministic virtual time
 * (#GossipVirtualClock) in tests and simulations.
 */

G_DEFINE_INTERFACE (GossipClock, gossip_clock, G_TYPE_OBJECT)

static void
gossip_clock_default_init (GossipClockInterface *iface)
{
}

/**
 * gossip_clock_now:
 * @clock: a #GossipClock
 *
 * Reads the clock. The value is monotonic and only meaningful relative to
 * other readings of the same clock.
 *
 * Thread: any thread for #GossipSystemClock; the dispatching thread for
 * #GossipVirtualClock.
 *
 * Returns: the current time in microseconds
 */
gint64
gossip_clock_now (GossipClock *clock)
{
  GossipClockInterface *iface;

  g_return_val_if_fail (GOSSIP_IS_CLOCK (clock), 0);

  iface = GOSSIP_CLOCK_GET_IFACE (clock);
  g_return_val_if_fail (iface->now != NULL, 0);

  return iface->now (clock);
}

/**
 * gossip_clock_add_timeout:
 * @clock: a #GossipClock
 * @delay_us: how long from now the timer fires, in microseconds; negative
 *   values are treated as 0
 * @func: (scope notified): called once when the timer fires
 * @user_data: data passed to @func
 * @notify: (nullable): called exactly once to free @user_data, after @func
 *   ran or when the timer is cancelled or the clock disposed
 *
 * Arms a one-shot timer. @func is never called from inside this function,
 * even with a zero delay. Timers with equal deadlines fire in the order they
 * were added.
 *
 * Returns: a non-zero timer id for gossip_clock_cancel()
 */
guint
gossip_clock_add_timeout (GossipClock       *clock,
                          gint64             delay_us,
                          GossipTimeoutFunc  func,
                          gpointer           user_data,
                          GDestroyNotify     notify)
{
  GossipClockInterface *iface;

  g_return_val_if_fail (GOSSIP_IS_CLOCK (clock), 0);
  g_return_val_if_fail (func != NULL, 0);

  iface = GOSSIP_CLOCK_GET_IFACE (clock);
  g_return_val_if_fail (iface->add_timeout != NULL, 0);

  return iface->add_timeout (clock, MAX (delay_us, 0), func, user_data, notify);
}

/**
 * gossip_clock_cancel:
 * @clock: a #GossipClock
 * @id: a timer id returned by gossip_clock_add_timeout(), or 0
 *
 * Disarms a timer that has not fired yet. The timer's destroy notify runs
 * before this function returns (unless the timer is being dispatched on
 * another thread at that moment, in which case it runs when the dispatch
 * ends). Ids of timers that already fired or were cancelled, and 0, are
 * ignored, so callers can cancel unconditionally.
 */
void
gossip_clock_cancel (GossipClock *clock,
                     guint        id)
{
  GossipClockInterface *iface;

  g_return_if_fail (GOSSIP_IS_CLOCK (clock));

  if (id == 0)
    return;

  iface = GOSSIP_CLOCK_GET_IFACE (clock);
  g_return_if_fail (iface->cancel != NULL);

  iface->cancel (clock, id);
}
