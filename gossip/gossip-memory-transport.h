/* gossip-memory-transport.h — in-memory network on virtual time.
 *
 * SPDX-License-Identifier: MIT
 */
#pragma once

#if !defined(__GOSSIP_H_INSIDE__) && !defined(GOSSIP_COMPILATION)
#error "Only <gossip/gossip.h> can be included directly."
#endif

#include <gossip/gossip-transport.h>
#include <gossip/gossip-virtual-clock.h>

G_BEGIN_DECLS

#define GOSSIP_TYPE_MEMORY_NETWORK (gossip_memory_network_get_type ())
G_DECLARE_FINAL_TYPE (GossipMemoryNetwork, gossip_memory_network, GOSSIP, MEMORY_NETWORK, GObject)

#define GOSSIP_TYPE_MEMORY_TRANSPORT (gossip_memory_transport_get_type ())
G_DECLARE_FINAL_TYPE (GossipMemoryTransport, gossip_memory_transport, GOSSIP, MEMORY_TRANSPORT, GObject)

GossipMemoryNetwork *gossip_memory_network_new            (GossipVirtualClock *clock, guint32 seed);
void                 gossip_memory_network_set_latency    (GossipMemoryNetwork *network, gint64 min_us, gint64 max_us);
void                 gossip_memory_network_set_loss       (GossipMemoryNetwork *network, const char *from, const char *to, double loss);
void                 gossip_memory_network_set_partition  (GossipMemoryNetwork *network, const char *address, guint group);
void                 gossip_memory_network_heal           (GossipMemoryNetwork *network);
guint64              gossip_memory_network_get_bytes_sent (GossipMemoryNetwork *network, const char *address);
guint64              gossip_memory_network_get_packets_sent (GossipMemoryNetwork *network, const char *address);

GossipTransport     *gossip_memory_transport_new          (GossipMemoryNetwork *network, const char *address);

G_END_DECLS
