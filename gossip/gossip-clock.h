/* gossip-clock.h — injectable time source and timer service.
 *
 * SPDX-License-Identifier: MIT
 */
#pragma once

#if !defined(__GOSSIP_H_INSIDE__) && !defined(GOSSIP_COMPILATION)
#error "Only <gossip/gossip.h> can be included directly."
#endif

#include <glib-object.h>

G_BEGIN_DECLS

#define GOSSIP_TYPE_CLOCK (gossip_clock_get_type ())
G_DECLARE_INTERFACE (GossipClock, gossip_clock, GOSSIP, CLOCK, GObject)

/**
 * GossipTimeoutFunc:
 * @user_data: data given to gossip_clock_add_timeout()
 *
 * A one-shot timer callback.
 */
typedef void (*GossipTimeoutFunc) (gpointer user_data);

/**
 * GossipClockInterface:
 * @parent_iface: the parent interface
 * @now: monotonic time in microseconds
 * @add_timeout: arm a one-shot timer firing @delay_us from now; returns a non-zero id
 * @cancel: disarm a timer that has not fired yet (unknown ids are ignored);
 *   the destroy notify runs either way exactly once
 *
 * Every engine timer goes through a #GossipClock so that tests can run a
 * whole cluster on virtual time. Implementations dispatch timers on one
 * thread: the system clock on the #GMainContext it was created for, the
 * virtual clock on whichever thread calls gossip_virtual_clock_advance().
 * Timers with equal deadlines fire in the order they were added.
 */
struct _GossipClockInterface
{
  GTypeInterface parent_iface;

  gint64 (*now)         (GossipClock       *clock);
  guint  (*add_timeout) (GossipClock       *clock,
                         gint64             delay_us,
                         GossipTimeoutFunc  func,
                         gpointer           user_data,
                         GDestroyNotify     notify);
  void   (*cancel)      (GossipClock       *clock,
                         guint              id);
};

gint64 gossip_clock_now         (GossipClock *clock);
guint  gossip_clock_add_timeout (GossipClock *clock, gint64 delay_us, GossipTimeoutFunc func, gpointer user_data, GDestroyNotify notify);
void   gossip_clock_cancel      (GossipClock *clock, guint id);

G_END_DECLS
