/* sim-harness.h — run many clusters on one virtual clock and one in-memory
 * network, from the test thread, reproducibly.
 *
 * Every node gets a fixed id and address derived from its index, so a run
 * replays identically for a given seed (SIM_SEED=k in the environment
 * varies every network seed, to explore other interleavings). Nodes use the test thread's default
 * GMainContext as their engine context; time only moves in sim_advance() and
 * sim_run_until(), which also iterate that context so that GTask completions
 * (join, leave, requests) dispatch.
 *
 * Each node's transport is a SimTransport wrapping its GossipMemoryTransport:
 * it forwards everything, and can make the node "deaf" (every inbound frame
 * dropped, datagrams and streams alike, and its own outgoing streams never
 * connect), which the memory network cannot express with per-link datagram
 * loss alone.
 *
 * SPDX-License-Identifier: MIT
 */
#pragma once

#include <gossip/gossip.h>

G_BEGIN_DECLS

#define SIM_TYPE_TRANSPORT (sim_transport_get_type ())
G_DECLARE_FINAL_TYPE (SimTransport, sim_transport, SIM, TRANSPORT, GObject)

GossipTransport *sim_transport_new      (GossipTransport *inner, GossipClock *clock);
GossipTransport *sim_transport_get_inner (SimTransport *self);
void             sim_transport_set_deaf (SimTransport *self, gboolean deaf);
guint64          sim_transport_get_dropped (SimTransport *self);
/* Sees every frame the node receives, before it is handled (attack tests
 * capture frames with it). */
typedef void   (*SimTapFunc)             (GBytes *frame, gboolean reliable, const char *from, gpointer user_data);
void             sim_transport_set_tap   (SimTransport *self, SimTapFunc tap, gpointer user_data);

typedef struct _SimHarness SimHarness;

typedef struct {
  SimHarness      *sim;
  guint            index;
  char            *id;
  char            *address;
  GossipCluster   *cluster;
  SimTransport    *transport;
  gboolean         running;          /* started and not stopped */
  gboolean         join_done;
  gint             join_accepted;    /* join_finish() result, -1 on error */
  gboolean         leave_done;
} SimNode;

/* One node-state-changed emission, as seen by @observer. */
typedef struct {
  gint64          time;              /* virtual µs since sim_new() */
  guint           observer;
  gint            subject;           /* node index, or -1 for an id the harness does not know */
  GossipNodeState old_state;
  GossipNodeState new_state;
  guint64         incarnation;
} SimStateEvent;

/* One node-metadata-changed emission. */
typedef struct {
  gint64      time;
  guint       observer;
  gint        subject;
  gboolean    is_local;
  guint64     meta_version;
  guint64     incarnation;
  GossipNode *node;                  /* the snapshot (owned) */
} SimMetaEvent;

typedef gboolean (*SimPredicate) (SimHarness *sim, gpointer data);

SimHarness   *sim_new               (guint32 seed);
void          sim_free              (SimHarness *sim);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (SimHarness, sim_free)

GossipVirtualClock  *sim_get_clock   (SimHarness *sim);
GossipMemoryNetwork *sim_get_network (SimHarness *sim);
/* How far sim_run_until() advances between two checks (default 10 ms). */
void          sim_set_step          (SimHarness *sim, gint64 step_us);
/* Events are recorded unless disabled (large simulations). */
void          sim_set_record_events (SimHarness *sim, gboolean record);

/* Default configuration (the create() defaults) / a faster one for quick
 * tests. The harness sets node_id and bind_addr per node. */
GossipConfig *sim_config_new        (void);
GossipConfig *sim_config_fast       (void);
void          sim_config_set        (GossipConfig *config, const char *name, const char *text);

char         *sim_node_id_for       (guint index);
char         *sim_address_for       (guint index);

/* Creates and starts node number sim_n_nodes(); @config may be NULL. */
SimNode      *sim_add_node          (SimHarness *sim, const GossipConfig *config);
/* Adds @n nodes with @config, then has every one but the first join the first. */
void          sim_add_nodes         (SimHarness *sim, guint n, const GossipConfig *config);
SimNode      *sim_node              (SimHarness *sim, guint index);
guint         sim_n_nodes           (SimHarness *sim);
guint         sim_n_running         (SimHarness *sim);
gint          sim_index_of          (SimHarness *sim, const char *node_id);

void          sim_join              (SimHarness *sim, guint index, guint seed_index);
void          sim_join_all          (SimHarness *sim, guint seed_index);
void          sim_kill              (SimHarness *sim, guint index);
/* gossip_cluster_leave() blocks until virtual time passes, which only the
 * test thread can make happen: start the leave on the engine instead. */
void          sim_leave             (SimHarness *sim, guint index);

/* Time */
gint64        sim_now               (SimHarness *sim);
void          sim_iterate           (SimHarness *sim);
void          sim_advance           (SimHarness *sim, gint64 delta_us);
gboolean      sim_run_until         (SimHarness *sim, SimPredicate pred, gpointer data, gint64 timeout_us);

/* Network */
void          sim_set_latency       (SimHarness *sim, gint64 min_us, gint64 max_us);
void          sim_set_loss_all      (SimHarness *sim, double loss);
void          sim_set_inbound_loss  (SimHarness *sim, guint index, double loss);
void          sim_set_deaf          (SimHarness *sim, guint index, gboolean deaf);
void          sim_partition         (SimHarness *sim, guint index, guint group);
void          sim_heal              (SimHarness *sim);

/* Views */
/* @observer's state of @subject, or -1 when unknown */
/* Attack and garbage tests: a codec that seals frames as node @index
 * would (its id in the sender block, the virtual clock's stamp, @token if
 * not NULL), and delivery of a frame as if it came from node @from's
 * address. */
struct _GossipCodec *sim_codec_as (SimHarness *sim, guint index, const char *token);
/* The nodes' wall clock in ms (the virtual clock), for sender blocks;
 * @sim is the harness. */
gint64        sim_wall_ms           (gpointer sim);
void          sim_deliver_from      (SimHarness *sim, guint to, guint from, GBytes *frame, gboolean reliable,
                                     GossipTransportReply *reply);

gint          sim_state             (SimHarness *sim, guint observer, guint subject);
guint64       sim_incarnation       (SimHarness *sim, guint observer, guint subject);
/* Every running node sees every running node alive, and nothing else alive. */
gboolean      sim_converged         (SimHarness *sim, gpointer unused);

/* Recorded events */
GArray       *sim_state_events      (SimHarness *sim);   /* SimStateEvent */
GPtrArray    *sim_meta_events       (SimHarness *sim);   /* SimMetaEvent* */
void          sim_clear_events      (SimHarness *sim);
/* Number of recorded events putting @subject (-1: any) in @state (a
 * discovery in that state included), seen by @observer (-1: any observer),
 * from @since on. */
guint         sim_count_transitions (SimHarness *sim, gint observer, gint subject,
                                     GossipNodeState state, gint64 since);

G_END_DECLS
