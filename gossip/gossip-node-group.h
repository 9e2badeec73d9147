/* gossip-node-group.h — live set of nodes matching metadata criteria.
 *
 * SPDX-License-Identifier: MIT
 */
#pragma once

#if !defined(__GOSSIP_H_INSIDE__) && !defined(GOSSIP_COMPILATION)
#error "Only <gossip/gossip.h> can be included directly."
#endif

#include <gossip/gossip-cluster.h>

G_BEGIN_DECLS

#define GOSSIP_TYPE_NODE_GROUP (gossip_node_group_get_type ())
G_DECLARE_FINAL_TYPE (GossipNodeGroup, gossip_node_group, GOSSIP, NODE_GROUP, GObject)

gboolean         gossip_criteria_check          (GHashTable *criteria, const char *param_name, GError **error);
gboolean         gossip_criteria_match          (GHashTable *criteria, GossipNode *node);

GossipNodeGroup *gossip_node_group_new          (GossipCluster *cluster, GHashTable *criteria, GError **error);
void             gossip_node_group_start        (GossipNodeGroup *group);
GossipCluster   *gossip_node_group_get_cluster  (GossipNodeGroup *group);
GPtrArray       *gossip_node_group_get_nodes    (GossipNodeGroup *group);
gboolean         gossip_node_group_contains     (GossipNodeGroup *group, const char *node_id);
guint            gossip_node_group_count        (GossipNodeGroup *group);
gboolean         gossip_node_group_send_to_peers(GossipNodeGroup *group, guint type, GVariant *payload,
                                                 GossipSendFlags flags, GError **error);
void             gossip_node_group_close        (GossipNodeGroup *group);
gboolean         gossip_node_group_is_closed    (GossipNodeGroup *group);

G_END_DECLS
