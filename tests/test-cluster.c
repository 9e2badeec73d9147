/* test-cluster.c — membership, failure detection and messaging over real
 * loopback sockets (port 0), driven through the public API from the test
 * thread while the clusters run on the shared engine thread.
 *
 * SPDX-License-Identifier: MIT
 */
#include "config.h"

#include <gossip/gossip.h>

#include "test-util.h"

#define WAIT_TIMEOUT_S 20


static GossipCluster *
start_node (GossipConfig *config)
{
  g_autoptr(GError) error = NULL;
  GossipCluster *c = gossip_cluster_new (config, &error);

  g_assert_no_error (error);
  g_assert_true (gossip_cluster_start (c, &error));
  g_assert_no_error (error);
  return c;
}

typedef struct {
  GossipCluster **nodes;
  guint           n;
  guint           expect;
} Group;

static gboolean
all_see_alive (gpointer data)
{
  Group *g = data;
  for (guint i = 0; i < g->n; i++)
    if (g->nodes[i] != NULL && gossip_cluster_count (g->nodes[i], GOSSIP_NODE_ALIVE) != g->expect)
      return FALSE;
  return TRUE;
}

static GossipCluster **
make_cluster (guint n, GossipConfig *config)
{
  GossipCluster **nodes = g_new0 (GossipCluster *, n + 1);
  g_autofree char *seed = NULL;

  for (guint i = 0; i < n; i++)
    {
      nodes[i] = start_node (config);
      if (i == 0)
        seed = gossip_cluster_get_advertise_address (nodes[0]);
      else
        {
          g_autoptr(GError) error = NULL;
          const char *peers[] = { seed, NULL };
          gint joined = gossip_cluster_join (nodes[i], peers, &error);
          g_assert_no_error (error);
          g_assert_cmpint (joined, ==, 1);
        }
    }
  return nodes;
}

static void
free_cluster (GossipCluster **nodes, guint n)
{
  for (guint i = 0; i < n; i++)
    if (nodes[i])
      {
        gossip_cluster_stop (nodes[i]);
        g_object_unref (nodes[i]);
      }
  g_free (nodes);
}

static void
test_convergence (gconstpointer data)
{
  guint n = GPOINTER_TO_UINT (data);
  g_autoptr(GossipConfig) config = fast_config ();
  GossipCluster **nodes = make_cluster (n, config);
  Group g = { nodes, n, n };

  g_assert_true (wait_for (all_see_alive, &g, WAIT_TIMEOUT_S));
  for (guint i = 0; i < n; i++)
    {
      g_assert_cmpuint (gossip_cluster_count_all (nodes[i]), ==, n);
      g_assert_cmpuint (gossip_cluster_count (nodes[i], GOSSIP_NODE_DEAD), ==, 0);
    }
  free_cluster (nodes, n);
}

typedef struct {
  GossipCluster **nodes;
  guint           n;
  const char     *id;
  GossipNodeState state;
} StateWait;

static gboolean
all_see_state (gpointer data)
{
  StateWait *w = data;
  for (guint i = 0; i < w->n; i++)
    {
      g_autoptr(GossipNode) node = NULL;
      if (w->nodes[i] == NULL)
        continue;
      node = gossip_cluster_get_node (w->nodes[i], w->id);
      if (node == NULL || gossip_node_get_state (node) != w->state)
        return FALSE;
    }
  return TRUE;
}

static void
test_failure_detection (void)
{
  g_autoptr(GossipConfig) config = fast_config ();
  GossipCluster **nodes = make_cluster (4, config);
  Group g = { nodes, 4, 4 };
  g_autofree char *victim = NULL;
  StateWait w;

  g_assert_true (wait_for (all_see_alive, &g, WAIT_TIMEOUT_S));
  victim = g_strdup (gossip_cluster_get_node_id (nodes[3]));
  gossip_cluster_hard_stop (nodes[3]);
  g_clear_object (&nodes[3]);

  w = (StateWait) { nodes, 3, victim, GOSSIP_NODE_SUSPECT };
  /* Suspect first (or already dead), then dead everywhere. */
  w.state = GOSSIP_NODE_DEAD;
  g_assert_true (wait_for (all_see_state, &w, WAIT_TIMEOUT_S));
  for (guint i = 0; i < 3; i++)
    g_assert_cmpuint (gossip_cluster_count (nodes[i], GOSSIP_NODE_ALIVE), ==, 3);
  free_cluster (nodes, 3);
}

static void
test_leave (void)
{
  g_autoptr(GossipConfig) config = fast_config ();
  GossipCluster **nodes = make_cluster (3, config);
  Group g = { nodes, 3, 3 };
  g_autoptr(GError) error = NULL;
  StateWait w;

  g_assert_true (wait_for (all_see_alive, &g, WAIT_TIMEOUT_S));
  g_assert_true (gossip_cluster_leave (nodes[2], &error));
  g_assert_no_error (error);
  w = (StateWait) { nodes, 3, gossip_cluster_get_node_id (nodes[2]), GOSSIP_NODE_LEAVING };
  g_assert_true (wait_for (all_see_state, &w, WAIT_TIMEOUT_S));
  free_cluster (nodes, 3);
}

typedef struct {
  GossipCluster **nodes;
  guint           n;
  const char     *id;
  const char     *key;
  const char     *value;   /* NULL = absent */
} MetaWait;

static gboolean
all_see_meta (gpointer data)
{
  MetaWait *w = data;
  for (guint i = 0; i < w->n; i++)
    {
      g_autoptr(GossipNode) node = gossip_cluster_get_node (w->nodes[i], w->id);
      if (node == NULL || g_strcmp0 (gossip_node_get_metadata_value (node, w->key), w->value) != 0)
        return FALSE;
    }
  return TRUE;
}

static void
test_metadata (void)
{
  g_autoptr(GossipConfig) config = fast_config ();
  GossipCluster **nodes = make_cluster (3, config);
  Group g = { nodes, 3, 3 };
  g_autoptr(GError) error = NULL;
  MetaWait w;

  g_assert_true (wait_for (all_see_alive, &g, WAIT_TIMEOUT_S));
  g_assert_true (gossip_cluster_set_metadata (nodes[1], "role", "worker", &error));
  w = (MetaWait) { nodes, 3, gossip_cluster_get_node_id (nodes[1]), "role", "worker" };
  g_assert_true (wait_for (all_see_meta, &w, WAIT_TIMEOUT_S));
  g_assert_true (gossip_cluster_delete_metadata (nodes[1], "role", &error));
  w.value = NULL;
  g_assert_true (wait_for (all_see_meta, &w, WAIT_TIMEOUT_S));
  free_cluster (nodes, 3);
}

typedef struct {
  gint count;
  GVariant *last;
} Received;

static void
on_message (GossipCluster *cluster, GossipMessage *message, gpointer user_data)
{
  Received *r = user_data;
  g_atomic_int_inc (&r->count);
  if (r->last == NULL)
    r->last = g_variant_ref (gossip_message_get_payload (message));
}

typedef struct {
  Received *recv;
  guint     n;
  gint      expect;
} RecvWait;

static gboolean
all_received (gpointer data)
{
  RecvWait *w = data;
  for (guint i = 0; i < w->n; i++)
    if (g_atomic_int_get (&w->recv[i].count) < w->expect)
      return FALSE;
  return TRUE;
}

static void
test_broadcast (gconstpointer data)
{
  gboolean reliable = GPOINTER_TO_INT (data);
  const guint n = 6;
  g_autoptr(GossipConfig) config = fast_config ();
  GossipCluster **nodes = make_cluster (n, config);
  Group g = { nodes, n, n };
  Received recv[6] = { 0 };
  g_autoptr(GError) error = NULL;
  RecvWait w = { recv + 1, n - 1, 1 };

  g_assert_true (wait_for (all_see_alive, &g, WAIT_TIMEOUT_S));
  for (guint i = 0; i < n; i++)
    g_assert_true (gossip_cluster_handle (nodes[i], 200, FALSE, gossip_cluster_get_context (nodes[i]),
                                          on_message, &recv[i], NULL, &error));
  g_assert_true (gossip_cluster_send (nodes[0], 200, g_variant_new_string ("hello"),
                                      reliable ? GOSSIP_SEND_RELIABLE : GOSSIP_SEND_NONE, &error));
  g_assert_no_error (error);
  if (!wait_for (all_received, &w, WAIT_TIMEOUT_S))
    {
      for (guint i = 0; i < n; i++)
        {
          GossipClusterStats st;

          gossip_cluster_get_stats (nodes[i], &st);
          g_printerr ("node %u: received %d, alive %u, fenced %" G_GUINT64_FORMAT ", dropped %" G_GUINT64_FORMAT
                      ", delivered %" G_GUINT64_FORMAT ", dedup %" G_GUINT64_FORMAT "\n", i,
                      g_atomic_int_get (&recv[i].count), gossip_cluster_count (nodes[i], GOSSIP_NODE_ALIVE),
                      st.frames_fenced, st.frames_dropped, st.messages_delivered, st.dedup_evicted);
        }
      g_assert_not_reached ();
    }
  /* Give duplicates a chance to show up, then check exactly-once. */
  g_usleep (300000);
  g_assert_cmpint (recv[0].count, ==, 0);
  for (guint i = 1; i < n; i++)
    {
      g_assert_cmpint (recv[i].count, ==, 1);
      g_assert_cmpstr (g_variant_get_string (recv[i].last, NULL), ==, "hello");
    }
  free_cluster (nodes, n);
  for (guint i = 0; i < n; i++)
    g_clear_pointer (&recv[i].last, g_variant_unref);
}

static void
on_request (GossipCluster *cluster, GossipMessage *message, gpointer user_data)
{
  g_autoptr(GVariantBuilder) b = g_variant_builder_new (G_VARIANT_TYPE ("a{sv}"));
  g_variant_builder_add (b, "{sv}", "echo", gossip_message_get_payload (message));
  gossip_message_reply (message, g_variant_builder_end (b), NULL);
}

static void
test_request_reply (void)
{
  g_autoptr(GossipConfig) config = fast_config ();
  GossipCluster **nodes = make_cluster (2, config);
  Group g = { nodes, 2, 2 };
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GVariant) echo = NULL;

  g_assert_true (wait_for (all_see_alive, &g, WAIT_TIMEOUT_S));
  g_assert_true (gossip_cluster_handle (nodes[1], 300, TRUE, gossip_cluster_get_context (nodes[1]),
                                        on_request, NULL, NULL, &error));
  reply = gossip_cluster_send_request (nodes[0], gossip_cluster_get_node_id (nodes[1]), 300,
                                       g_variant_new_int64 (42), 0, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (reply);
  echo = g_variant_lookup_value (reply, "echo", NULL);
  g_assert_nonnull (echo);
  g_assert_cmpint (g_variant_get_int64 (echo), ==, 42);

  /* No handler: a clear, prompt error. */
  g_clear_pointer (&reply, g_variant_unref);
  reply = gossip_cluster_send_request (nodes[0], gossip_cluster_get_node_id (nodes[1]), 301,
                                       g_variant_new_int64 (1), 0, NULL, &error);
  g_assert_error (error, GOSSIP_CLUSTER_ERROR, GOSSIP_CLUSTER_ERROR_NO_REPLY);
  g_assert_null (reply);
  g_clear_error (&error);

  /* To ourselves: the local handler answers. */
  g_assert_true (gossip_cluster_handle (nodes[0], 300, TRUE, gossip_cluster_get_context (nodes[0]),
                                        on_request, NULL, NULL, &error));
  reply = gossip_cluster_send_request (nodes[0], gossip_cluster_get_node_id (nodes[0]), 300,
                                       g_variant_new_string ("me"), 0, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (reply);
  free_cluster (nodes, 2);
}

/* A handler that blocks for 5 s on its own context must not stall the
 * engine: its node keeps answering probes and is never suspected. */
typedef struct {
  GMainContext *context;
  GMainLoop    *loop;
  gint          entered;
  gint          finished;
} SlowConsumer;

static gpointer
slow_consumer_thread (gpointer data)
{
  SlowConsumer *sc = data;
  g_main_context_push_thread_default (sc->context);
  g_main_loop_run (sc->loop);
  g_main_context_pop_thread_default (sc->context);
  return NULL;
}

static void
on_slow_message (GossipCluster *cluster, GossipMessage *message, gpointer user_data)
{
  SlowConsumer *sc = user_data;
  g_atomic_int_set (&sc->entered, 1);
  g_usleep (5 * G_USEC_PER_SEC);
  g_atomic_int_set (&sc->finished, 1);
}

static gboolean
slow_entered (gpointer data)
{
  return g_atomic_int_get (&((SlowConsumer *) data)->entered) == 1;
}

static gboolean
slow_finished (gpointer data)
{
  return g_atomic_int_get (&((SlowConsumer *) data)->finished) == 1;
}

static void
on_state_count_suspect (GossipCluster *cluster, GossipNode *node, int old_state, int new_state, gpointer data)
{
  if (new_state != GOSSIP_NODE_ALIVE)
    g_atomic_int_inc ((gint *) data);
}

static void
test_slow_handler (void)
{
  g_autoptr(GossipConfig) config = fast_config ();
  GossipCluster **nodes = make_cluster (3, config);
  Group g = { nodes, 3, 3 };
  SlowConsumer sc = { 0 };
  GThread *thread;
  g_autoptr(GError) error = NULL;
  gint non_alive = 0;

  g_assert_true (wait_for (all_see_alive, &g, WAIT_TIMEOUT_S));
  sc.context = g_main_context_new ();
  sc.loop = g_main_loop_new (sc.context, FALSE);
  thread = g_thread_new ("slow-consumer", slow_consumer_thread, &sc);
  g_assert_true (gossip_cluster_handle (nodes[2], 210, FALSE, sc.context, on_slow_message, &sc, NULL, &error));
  g_signal_connect (nodes[0], "node-state-changed", G_CALLBACK (on_state_count_suspect), &non_alive);
  g_signal_connect (nodes[1], "node-state-changed", G_CALLBACK (on_state_count_suspect), &non_alive);

  g_assert_true (gossip_cluster_send_to (nodes[0], gossip_cluster_get_node_id (nodes[2]), 210,
                                         g_variant_new_string ("block"), GOSSIP_SEND_RELIABLE, &error));
  g_assert_true (wait_for (slow_entered, &sc, WAIT_TIMEOUT_S));
  /* While the handler sleeps (25 probe periods), probes keep being answered. */
  g_assert_true (wait_for (slow_finished, &sc, WAIT_TIMEOUT_S));
  g_assert_cmpint (g_atomic_int_get (&non_alive), ==, 0);
  g_assert_cmpuint (gossip_cluster_count (nodes[0], GOSSIP_NODE_ALIVE), ==, 3);

  g_signal_handlers_disconnect_by_data (nodes[0], &non_alive);
  g_signal_handlers_disconnect_by_data (nodes[1], &non_alive);
  free_cluster (nodes, 3);
  g_main_loop_quit (sc.loop);
  g_thread_join (thread);
  g_main_loop_unref (sc.loop);
  g_main_context_unref (sc.context);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_data_func ("/cluster/convergence/3", GUINT_TO_POINTER (3), test_convergence);
  g_test_add_data_func ("/cluster/convergence/10", GUINT_TO_POINTER (10), test_convergence);
  g_test_add_func ("/cluster/failure-detection", test_failure_detection);
  g_test_add_func ("/cluster/leave", test_leave);
  g_test_add_func ("/cluster/metadata", test_metadata);
  g_test_add_data_func ("/cluster/broadcast/unreliable", GINT_TO_POINTER (FALSE), test_broadcast);
  g_test_add_data_func ("/cluster/broadcast/reliable", GINT_TO_POINTER (TRUE), test_broadcast);
  g_test_add_func ("/cluster/request-reply", test_request_reply);
  g_test_add_func ("/cluster/slow-handler", test_slow_handler);

  return g_test_run ();
}
