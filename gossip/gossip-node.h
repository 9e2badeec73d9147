/* gossip-node.h — immutable snapshot of one cluster member.
 *
 * SPDX-License-Identifier: MIT
 */
#pragma once

#if !defined(__GOSSIP_H_INSIDE__) && !defined(GOSSIP_COMPILATION)
#error "Only <gossip/gossip.h> can be included directly."
#endif

#include <glib-object.h>

G_BEGIN_DECLS

/**
 * GossipNodeState:
 * @GOSSIP_NODE_ALIVE: healthy
 * @GOSSIP_NODE_SUSPECT: failed a probe, not yet confirmed dead
 * @GOSSIP_NODE_DEAD: confirmed failed (kept as a tombstone until reaped)
 * @GOSSIP_NODE_LEAVING: announced a graceful leave
 *
 * The states a node can be seen in. There is no "unknown" state: a node
 * that is reaped simply disappears.
 */
typedef enum {
  GOSSIP_NODE_ALIVE,
  GOSSIP_NODE_SUSPECT,
  GOSSIP_NODE_DEAD,
  GOSSIP_NODE_LEAVING,
} GossipNodeState;

const char *gossip_node_state_to_string (GossipNodeState state);

#define GOSSIP_TYPE_NODE (gossip_node_get_type ())

/**
 * GossipNode:
 *
 * A reference-counted, immutable snapshot of what the local node knows about
 * one member at one moment. Safe to share between threads.
 */
typedef struct _GossipNode GossipNode;

GType            gossip_node_get_type          (void) G_GNUC_CONST;
GossipNode      *gossip_node_ref               (GossipNode *node);
void             gossip_node_unref             (GossipNode *node);

const char      *gossip_node_get_id            (const GossipNode *node);
const char      *gossip_node_get_address       (const GossipNode *node);
GossipNodeState  gossip_node_get_state         (const GossipNode *node);
guint64          gossip_node_get_incarnation   (const GossipNode *node);
const char      *gossip_node_get_app_version   (const GossipNode *node);
const char * const *gossip_node_get_tags       (const GossipNode *node);
gboolean         gossip_node_has_tag           (const GossipNode *node, const char *tag);
GHashTable      *gossip_node_get_metadata      (const GossipNode *node);
const char      *gossip_node_get_metadata_value(const GossipNode *node, const char *key);
guint64          gossip_node_get_metadata_version (const GossipNode *node);
gboolean         gossip_node_is_local          (const GossipNode *node);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (GossipNode, gossip_node_unref)

G_END_DECLS
