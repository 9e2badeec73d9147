/* gossip-cluster.h — a cluster member: membership, failure detection, messaging.
 *
 * SPDX-License-Identifier: MIT
 */
#pragma once

#if !defined(__GOSSIP_H_INSIDE__) && !defined(GOSSIP_COMPILATION)
#error "Only <gossip/gossip.h> can be included directly."
#endif

#include <gio/gio.h>
#include <gossip/gossip-config.h>
#include <gossip/gossip-node.h>
#include <gossip/gossip-message.h>
#include <gossip/gossip-clock.h>
#include <gossip/gossip-transport.h>

G_BEGIN_DECLS

#define GOSSIP_TYPE_CLUSTER (gossip_cluster_get_type ())
G_DECLARE_FINAL_TYPE (GossipCluster, gossip_cluster, GOSSIP, CLUSTER, GObject)

/**
 * GossipSendFlags:
 * @GOSSIP_SEND_NONE: best effort (UDP gossip, relayed with a TTL)
 * @GOSSIP_SEND_RELIABLE: use streams (TCP/HTTP); relayed reliably to every alive node
 *
 * Flags for the send functions.
 */
typedef enum {
  GOSSIP_SEND_NONE     = 0,
  GOSSIP_SEND_RELIABLE = 1 << 0,
} GossipSendFlags;

/**
 * GossipMessageFunc:
 * @cluster: the cluster
 * @message: the message; if it expects a reply, reply with
 *   gossip_message_reply() now or later from any thread, before its deadline
 * @user_data: data given at registration
 *
 * A message handler. It runs in the #GMainContext given at registration.
 */
typedef void (*GossipMessageFunc) (GossipCluster *cluster, GossipMessage *message, gpointer user_data);

/**
 * GossipTick:
 *
 * Passed with #GossipCluster::gossip-interval. The next tick is scheduled
 * only when the last reference to the tick is dropped, and the time it was
 * held stretches the period (up to gossip_max_interval). A consumer that
 * runs its handlers later, on another thread, keeps a reference until they
 * finished.
 */
typedef struct _GossipTick GossipTick;
#define GOSSIP_TYPE_TICK (gossip_tick_get_type ())
GType       gossip_tick_get_type (void) G_GNUC_CONST;
GossipTick *gossip_tick_ref      (GossipTick *tick);
void        gossip_tick_unref    (GossipTick *tick);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (GossipTick, gossip_tick_unref)

GossipCluster *gossip_cluster_new        (const GossipConfig *config, GError **error);
GossipCluster *gossip_cluster_new_full   (const GossipConfig *config,
                                          GMainContext       *context,
                                          GossipClock        *clock,
                                          GossipTransport    *transport,
                                          GError            **error);

GMainContext  *gossip_cluster_get_context (GossipCluster *cluster);

gboolean       gossip_cluster_start      (GossipCluster *cluster, GError **error);
void           gossip_cluster_join_async (GossipCluster *cluster, const char * const *peers,
                                          GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data);
gint           gossip_cluster_join_finish(GossipCluster *cluster, GAsyncResult *result, GError **error);
gint           gossip_cluster_join       (GossipCluster *cluster, const char * const *peers, GError **error);
gboolean       gossip_cluster_leave      (GossipCluster *cluster, GError **error);
void           gossip_cluster_stop       (GossipCluster *cluster);
void           gossip_cluster_hard_stop  (GossipCluster *cluster);
gboolean       gossip_cluster_is_running (GossipCluster *cluster);
gboolean       gossip_cluster_is_stopped (GossipCluster *cluster);

/* Messaging */
gboolean       gossip_cluster_check_message_type (guint type, GError **error);
gboolean       gossip_cluster_send        (GossipCluster *cluster, guint type, GVariant *payload,
                                           GossipSendFlags flags, GError **error);
gboolean       gossip_cluster_send_tagged (GossipCluster *cluster, const char *tag, guint type,
                                           GVariant *payload, GossipSendFlags flags, GError **error);
gboolean       gossip_cluster_send_to     (GossipCluster *cluster, const char *node_id, guint type,
                                           GVariant *payload, GossipSendFlags flags, GError **error);
void           gossip_cluster_send_request_async  (GossipCluster *cluster, const char *node_id, guint type,
                                                   GVariant *payload, gint64 timeout_us,
                                                   GCancellable *cancellable,
                                                   GAsyncReadyCallback callback, gpointer user_data);
GVariant      *gossip_cluster_send_request_finish (GossipCluster *cluster, GAsyncResult *result, GError **error);
GVariant      *gossip_cluster_send_request        (GossipCluster *cluster, const char *node_id, guint type,
                                                   GVariant *payload, gint64 timeout_us,
                                                   GCancellable *cancellable, GError **error);

gboolean       gossip_cluster_handle      (GossipCluster *cluster, guint type, gboolean with_reply,
                                           GMainContext *context, GossipMessageFunc func,
                                           gpointer user_data, GDestroyNotify notify, GError **error);
gboolean       gossip_cluster_unhandle    (GossipCluster *cluster, guint type, gboolean *removed, GError **error);

/* Queries (thread-safe snapshots) */
GPtrArray     *gossip_cluster_get_nodes        (GossipCluster *cluster);
GPtrArray     *gossip_cluster_get_alive_nodes  (GossipCluster *cluster);
GPtrArray     *gossip_cluster_get_nodes_by_tag (GossipCluster *cluster, const char *tag);
GossipNode    *gossip_cluster_get_node         (GossipCluster *cluster, const char *node_id);
GossipNode    *gossip_cluster_get_local_node   (GossipCluster *cluster);
GPtrArray     *gossip_cluster_get_candidates   (GossipCluster *cluster);
guint          gossip_cluster_count            (GossipCluster *cluster, GossipNodeState state);
guint          gossip_cluster_count_all        (GossipCluster *cluster);
const char    *gossip_cluster_get_node_id      (GossipCluster *cluster);
gboolean       gossip_cluster_is_local         (GossipCluster *cluster, const char *node_id);
char          *gossip_cluster_get_advertise_address (GossipCluster *cluster);

/* Local metadata */
gboolean       gossip_cluster_set_metadata     (GossipCluster *cluster, const char *key, const char *value, GError **error);
char          *gossip_cluster_get_metadata     (GossipCluster *cluster, const char *key);
GHashTable    *gossip_cluster_get_all_metadata (GossipCluster *cluster);
gboolean       gossip_cluster_delete_metadata  (GossipCluster *cluster, const char *key, GError **error);

/**
 * GossipClusterStats:
 * @frames_received: frames handed to the engine
 * @frames_dropped: frames dropped as malformed, truncated, oversized, wrong version
 * @frames_rejected: frames that failed decryption or arrived in plaintext when a key is set
 * @auth_rejected: frames without a valid bearer-token MAC (or with one where no
 *   token is configured), and joins refused for their app version
 * @frames_replayed: authenticated frames refused by the replay window: stamped
 *   more than 30 s from this node's clock, or seen before
 * @updates_refused: membership updates refused for an implausible incarnation
 *   (more than 2^32 above what this node knows of the member, or of itself)
 * @members_refused: newcomers not taken in because the table holds max_members
 * @broadcasts_dropped: queued updates dropped unsent: the queue exceeded
 *   max_broadcast_bytes, or one update was too large to piggyback
 * @dedup_evicted: message ids forgotten early because max_dedup_entries were held
 * @probes_refused: indirect probes not run because max_probes were in flight
 * @lookups_refused: sends dropped because max_pending_lookups DNS lookups were in flight
 * @streams_refused: incoming connections closed at once: max_incoming_streams in
 *   total or max_incoming_streams_per_peer from the host were open
 * @suspicions_raised: suspicions this node raised or confirmed itself, after a
 *   failed probe (internal: shown only once confirmed)
 * @frames_fenced: frames refused because they came from a stranger (neither a
 *   member at its recorded address nor authenticated) or named another
 *   sender than their frame's
 * @messages_delivered: user messages handed to handlers
 * @bytes_sent: frame bytes sent
 * @bytes_received: frame bytes received
 * @probes_sent: direct probes sent
 * @indirect_probes_sent: indirect probe requests sent
 * @local_health: Lifeguard local health multiplier (0 = healthy)
 *
 * Counters of one cluster, for tests, monitoring and benchmarks.
 */
typedef struct {
  guint64 frames_received;
  guint64 frames_dropped;
  guint64 frames_rejected;
  guint64 auth_rejected;
  guint64 messages_delivered;
  guint64 bytes_sent;
  guint64 bytes_received;
  guint64 probes_sent;
  guint64 indirect_probes_sent;
  guint   local_health;
  guint64 frames_replayed;
  guint64 frames_fenced;
  guint64 updates_refused;
  guint64 members_refused;
  guint64 broadcasts_dropped;
  guint64 dedup_evicted;
  guint64 probes_refused;
  guint64 lookups_refused;
  guint64 streams_refused;
  guint64 suspicions_raised;
} GossipClusterStats;

void           gossip_cluster_get_stats        (GossipCluster *cluster, GossipClusterStats *stats);

G_END_DECLS
