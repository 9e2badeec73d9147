/* gossip-system-clock.h — the real monotonic clock, timers on a GMainContext.
 *
 * SPDX-License-Identifier: MIT
 */
#pragma once

#if !defined(__GOSSIP_H_INSIDE__) && !defined(GOSSIP_COMPILATION)
#error "Only <gossip/gossip.h> can be included directly."
#endif

#include <gossip/gossip-clock.h>

G_BEGIN_DECLS

#define GOSSIP_TYPE_SYSTEM_CLOCK (gossip_system_clock_get_type ())
G_DECLARE_FINAL_TYPE (GossipSystemClock, gossip_system_clock, GOSSIP, SYSTEM_CLOCK, GObject)

GossipClock *gossip_system_clock_new (GMainContext *context);

G_END_DECLS
