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

/**
 * GOSSIP_ELECTION_MAX_TERM_JUMP:
 *
 * How far above the highest term a node knows a heartbeat's term may be
 * (2^32). A term grows by one per election won, so no cluster gets near
 * it; a heartbeat beyond it is refused and counted
 * (#GossipLeaderElectionStats.terms_refused), so that no single message
 * can bring the terms to the end of their range (terms saturate at
 * %G_MAXINT64 rather than wrap).
 */
#define GOSSIP_ELECTION_MAX_TERM_JUMP (G_GINT64_CONSTANT (1) << 32)

/**
 * GOSSIP_ELECTION_MAX_ELIGIBLE:
 *
 * The most members an election's eligible set (its quorum's denominator)
 * holds. Members seen once it is full neither count nor lead
 * (#GossipLeaderElectionStats.eligible_left_out), so fake members cannot
 * grow it without bound.
 */
#define GOSSIP_ELECTION_MAX_ELIGIBLE 10000

/**
 * GossipLeaderElectionStats:
 * @eligible: members in the eligible set: the quorum's denominator
 * @quorum: eligible alive members needed for a leader
 * @eligible_left_out: eligible members left out of the set at the last
 *   check, the set being full (%GOSSIP_ELECTION_MAX_ELIGIBLE)
 * @terms_refused: heartbeats refused for a term more than
 *   %GOSSIP_ELECTION_MAX_TERM_JUMP above the highest one known
 *
 * Figures of one election, for tests and monitoring.
 */
typedef struct {
  guint   eligible;
  guint   quorum;
  guint   eligible_left_out;
  guint64 terms_refused;
} GossipLeaderElectionStats;

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
gboolean     gossip_leader_election_forget          (GossipLeaderElection *election, const char *node_id,
                                                     GError **error);
void         gossip_leader_election_get_stats       (GossipLeaderElection *election,
                                                     GossipLeaderElectionStats *stats);
GossipCluster *gossip_leader_election_get_cluster   (GossipLeaderElection *election);

G_END_DECLS
