/* gossip-virtual-clock.h — deterministic virtual time for tests and simulations.
 *
 * SPDX-License-Identifier: MIT
 */
#pragma once

#if !defined(__GOSSIP_H_INSIDE__) && !defined(GOSSIP_COMPILATION)
#error "Only <gossip/gossip.h> can be included directly."
#endif

#include <gossip/gossip-clock.h>

G_BEGIN_DECLS

#define GOSSIP_TYPE_VIRTUAL_CLOCK (gossip_virtual_clock_get_type ())
G_DECLARE_FINAL_TYPE (GossipVirtualClock, gossip_virtual_clock, GOSSIP, VIRTUAL_CLOCK, GObject)

GossipVirtualClock *gossip_virtual_clock_new            (gint64 start_us);
gboolean            gossip_virtual_clock_step           (GossipVirtualClock *clock);
guint               gossip_virtual_clock_advance        (GossipVirtualClock *clock, gint64 delta_us);
gint64              gossip_virtual_clock_next_deadline  (GossipVirtualClock *clock);
guint               gossip_virtual_clock_pending        (GossipVirtualClock *clock);

G_END_DECLS
