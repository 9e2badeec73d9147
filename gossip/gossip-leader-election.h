/* gossip-leader-election.h — quorum-based leader election over a cluster.
 *
 * SPDX-License-Identifier: MIT
 */
#pragma once

#if !defined(__GOSSIP_H_INSIDE__) && !defined(GOSSIP_COMPILATION)
#error "Only <gossip/gossip.h> can be included directly."
#endif

#include <gossip/gossip-cluster.h>

G_BEGIN_DECLS

#define GOSSIP_TYPE_LEADER_ELECTION (gossip_leader_election_get_type ())
G_DECLARE_FINAL_TYPE (GossipLeaderElection, gossip_leader_election, GOSSIP, LEADER_ELECTION, GObject)

/**
 * GOSSIP_ELECTION_DEFAULT_HEARTBEAT_TYPE:
 *
 * The default heartbeat message type (in the range reserved for the library).
 */
#define GOSSIP_ELECTION_DEFAULT_HEARTBEAT_TYPE 65

GossipLeaderElection *gossip_leader_election_new      (GossipCluster *cluster,
                                                       gint64         check_interval_us,
                                                       gint64         leader_timeout_us,
                                                       guint          heartbeat_type,
                                                       guint          quorum_percentage,
                                                       GHashTable    *metadata_criteria,
                                                       GError       **error);
gboolean     gossip_leader_election_start           (GossipLeaderElection *election, GError **error);
void         gossip_leader_election_stop            (GossipLeaderElection *election);
gboolean     gossip_leader_election_is_leader       (GossipLeaderElection *election);
gboolean     gossip_leader_election_has_leader      (GossipLeaderElection *election);
char        *gossip_leader_election_get_leader_id   (GossipLeaderElection *election);
guint64      gossip_leader_election_get_term        (GossipLeaderElection *election);
gboolean     gossip_leader_election_send_to_peers   (GossipLeaderElection *election, guint type,
                                                     GVariant *payload, GossipSendFlags flags,
                                                     GError **error);
GossipCluster *gossip_leader_election_get_cluster   (GossipLeaderElection *election);

G_END_DECLS
