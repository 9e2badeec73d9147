/* test-election.c — node groups and leader election over loopback sockets.
 *
 * SPDX-License-Identifier: MIT
 */
#include "config.h"

#include <string.h>
#include <gossip/gossip.h>

#include "test-util.h"

#define WAIT_S 20.0


typedef struct {
  GossipCluster **nodes;
  guint           n;
} Cluster;

static gboolean
converged (gpointer data)
{
  Cluster *c = data;
  for (guint i = 0; i < c->n; i++)
    if (c->nodes[i] && gossip_cluster_count (c->nodes[i], GOSSIP_NODE_ALIVE) != c->n)
      return FALSE;
  return TRUE;
}

static Cluster *
cluster_new (guint n)
{
  g_autoptr(GossipConfig) config = fast_config ();
  Cluster *c = g_new0 (Cluster, 1);
  g_autofree char *seed = NULL;

  c->n = n;
  c->nodes = g_new0 (GossipCluster *, n);
  for (guint i = 0; i < n; i++)
    {
      g_autoptr(GError) error = NULL;
      c->nodes[i] = gossip_cluster_new (config, &error);
      g_assert_no_error (error);
      g_assert_true (gossip_cluster_start (c->nodes[i], &error));
      if (i == 0)
        seed = gossip_cluster_get_advertise_address (c->nodes[0]);
      else
        {
          const char *peers[] = { seed, NULL };
          g_assert_cmpint (gossip_cluster_join (c->nodes[i], peers, &error), ==, 1);
        }
    }
  g_assert_true (wait_for (converged, c, WAIT_S));
  return c;
}

static void
cluster_free (Cluster *c)
{
  for (guint i = 0; i < c->n; i++)
    if (c->nodes[i])
      {
        gossip_cluster_stop (c->nodes[i]);
        g_object_unref (c->nodes[i]);
      }
  g_free (c->nodes);
  g_free (c);
}

/* ---- groups --------------------------------------------------------------- */

typedef struct {
  gint added;
  gint removed;
} Counts;

static void on_added (GossipNodeGroup *g, GossipNode *n, Counts *c) { g_atomic_int_inc (&c->added); }
static void on_removed (GossipNodeGroup *g, GossipNode *n, Counts *c) { g_atomic_int_inc (&c->removed); }

static gboolean one_removed (gpointer data)
{
  return g_atomic_int_get (&((Counts *) data)->removed) >= 1;
}

typedef struct { GossipNodeGroup *group; guint count; } GroupWait;
static gboolean group_count_is (gpointer data)
{
  GroupWait *w = data;
  return gossip_node_group_count (w->group) == w->count;
}

static GHashTable *
criteria (const char *k, const char *v)
{
  GHashTable *h = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  g_hash_table_insert (h, g_strdup (k), g_strdup (v));
  return h;
}

static void
test_group_tracking (void)
{
  Cluster *c = cluster_new (3);
  g_autoptr(GHashTable) crit = criteria ("role", "worker");
  g_autoptr(GError) error = NULL;
  g_autoptr(GossipNodeGroup) group = NULL;
  Counts counts = { 0 };
  GroupWait w;

  /* Node 0 is a worker before the group exists: an initial member. */
  g_assert_true (gossip_cluster_set_metadata (c->nodes[0], "role", "worker", &error));
  group = gossip_node_group_new (c->nodes[0], crit, &error);
  g_assert_no_error (error);
  g_signal_connect (group, "node-added", G_CALLBACK (on_added), &counts);
  g_signal_connect (group, "node-removed", G_CALLBACK (on_removed), &counts);
  gossip_node_group_start (group);
  g_assert_cmpint (counts.added, ==, 1);
  g_assert_true (gossip_node_group_contains (group, gossip_cluster_get_node_id (c->nodes[0])));

  g_assert_true (gossip_cluster_set_metadata (c->nodes[1], "role", "worker", &error));
  w = (GroupWait) { group, 2 };
  g_assert_true (wait_for (group_count_is, &w, WAIT_S));
  /* An unrelated metadata change of a member is not an event. */
  g_assert_true (gossip_cluster_set_metadata (c->nodes[1], "zone", "a", &error));
  g_assert_true (gossip_cluster_set_metadata (c->nodes[2], "role", "web", &error));
  g_assert_true (gossip_cluster_set_metadata (c->nodes[1], "role", "web", &error));
  /* The member set changes before the signal is emitted (outside the
   * group's lock), so wait for the signal itself, then check both. */
  g_assert_true (wait_for (one_removed, &counts, WAIT_S));
  g_assert_cmpuint (gossip_node_group_count (group), ==, 1);
  g_assert_cmpint (counts.added, ==, 2);
  g_assert_cmpint (counts.removed, ==, 1);
  g_assert_false (gossip_node_group_contains (group, "not-a-uuid"));

  gossip_node_group_close (group);
  gossip_node_group_close (group);
  g_assert_cmpuint (gossip_node_group_count (group), ==, 0);
  g_assert_false (gossip_node_group_send_to_peers (group, 128, g_variant_new_string ("x"), 0, &error));
  g_assert_error (error, GOSSIP_CLUSTER_ERROR, GOSSIP_CLUSTER_ERROR_FAILED);
  g_assert_cmpstr (error->message, ==, "node group is closed");
  cluster_free (c);
}

static void
test_group_bad_criteria (void)
{
  Cluster *c = cluster_new (1);
  g_autoptr(GHashTable) empty = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr(GError) error = NULL;
  GossipNodeGroup *g = gossip_node_group_new (c->nodes[0], empty, &error);

  g_assert_null (g);
  g_assert_error (error, GOSSIP_CONFIG_ERROR, GOSSIP_CONFIG_ERROR_INVALID_VALUE);
  cluster_free (c);
}

/* ---- elections ------------------------------------------------------------ */

typedef struct {
  GossipLeaderElection **e;
  guint                  n;
  char                  *expect;   /* NULL = any, but all agree */
} Agree;

static gboolean
all_agree (gpointer data)
{
  Agree *a = data;
  g_autofree char *first = NULL;
  guint leaders = 0;

  for (guint i = 0; i < a->n; i++)
    {
      g_autofree char *id = NULL;
      if (a->e[i] == NULL)
        continue;
      id = gossip_leader_election_get_leader_id (a->e[i]);
      if (id == NULL)
        return FALSE;
      if (first == NULL)
        first = g_strdup (id);
      else if (!g_str_equal (first, id))
        return FALSE;
      leaders += gossip_leader_election_is_leader (a->e[i]);
    }
  return leaders == 1 && (a->expect == NULL || g_strcmp0 (first, a->expect) == 0);
}

static const char *
lowest_id (Cluster *c, gint skip)
{
  const char *best = NULL;
  for (guint i = 0; i < c->n; i++)
    if ((gint) i != skip && c->nodes[i] &&
        (best == NULL || strcmp (gossip_cluster_get_node_id (c->nodes[i]), best) < 0))
      best = gossip_cluster_get_node_id (c->nodes[i]);
  return best;
}

static void
test_election_failover (void)
{
  const guint n = 5;
  Cluster *c = cluster_new (n);
  GossipLeaderElection *e[5] = { NULL };
  g_autoptr(GError) error = NULL;
  Agree a = { e, n, NULL };
  gint leader = -1;
  gint64 t0, t1;

  for (guint i = 0; i < n; i++)
    {
      e[i] = gossip_leader_election_new (c->nodes[i], 100 * 1000, 400 * 1000, 65, 60, NULL, &error);
      g_assert_no_error (error);
      g_assert_true (gossip_leader_election_start (e[i], &error));
    }
  a.expect = g_strdup (lowest_id (c, -1));
  g_assert_true (wait_for (all_agree, &a, WAIT_S));
  for (guint i = 0; i < n; i++)
    if (gossip_leader_election_is_leader (e[i]))
      leader = (gint) i;
  g_assert_cmpint (leader, >=, 0);

  /* Kill the leader: a new one, the next lowest id, everywhere. */
  g_free (a.expect);
  a.expect = g_strdup (lowest_id (c, leader));
  t0 = g_get_monotonic_time ();
  gossip_leader_election_stop (e[leader]);
  gossip_cluster_hard_stop (c->nodes[leader]);
  g_clear_object (&e[leader]);
  g_clear_object (&c->nodes[leader]);
  g_assert_true (wait_for (all_agree, &a, WAIT_S));
  t1 = g_get_monotonic_time ();
  g_test_message ("failover took %.0f ms", (t1 - t0) / 1000.0);

  for (guint i = 0; i < n; i++)
    if (e[i])
      {
        gossip_leader_election_stop (e[i]);
        g_object_unref (e[i]);
      }
  g_free (a.expect);
  cluster_free (c);
}

static void
test_election_lone_node (void)
{
  Cluster *c = cluster_new (1);
  g_autoptr(GError) error = NULL;
  g_autoptr(GossipLeaderElection) e =
    gossip_leader_election_new (c->nodes[0], 1000000, 3000000, 65, 60, NULL, &error);
  g_autofree char *id = NULL;

  g_assert_no_error (error);
  g_assert_true (gossip_leader_election_start (e, &error));
  /* The first check ran synchronously. */
  g_assert_true (gossip_leader_election_is_leader (e));
  id = gossip_leader_election_get_leader_id (e);
  g_assert_cmpstr (id, ==, gossip_cluster_get_node_id (c->nodes[0]));

  /* A second election on the same heartbeat type is refused cleanly. */
  g_assert_null (gossip_leader_election_new (c->nodes[0], 1000000, 3000000, 65, 60, NULL, &error));
  g_assert_error (error, GOSSIP_CLUSTER_ERROR, GOSSIP_CLUSTER_ERROR_HANDLER_EXISTS);
  g_clear_error (&error);

  /* Its type cannot be unhandled while it runs (only user types anyway). */
  gossip_leader_election_stop (e);
  gossip_leader_election_stop (e);
  g_assert_false (gossip_leader_election_start (e, &error));
  g_assert_error (error, GOSSIP_CLUSTER_ERROR, GOSSIP_CLUSTER_ERROR_STOPPED);
  g_assert_cmpstr (error->message, ==, "election is stopped");
  cluster_free (c);
}

static void
test_election_validation (void)
{
  Cluster *c = cluster_new (1);
  g_autoptr(GHashTable) empty = g_hash_table_new (g_str_hash, g_str_equal);
  struct { gint64 ci, lt; guint type, pct; GHashTable *crit; } cases[] = {
    { 0, 1000, 65, 60, NULL },
    { 1000, 0, 65, 60, NULL },
    { 2000, 1000, 65, 60, NULL },
    { 1000, 2000, 63, 60, NULL },
    { 1000, 2000, 65536, 60, NULL },
    { 1000, 2000, 65, 0, NULL },
    { 1000, 2000, 65, 101, NULL },
    { 1000, 2000, 65, 60, empty },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GError) error = NULL;
      GossipLeaderElection *e = gossip_leader_election_new (c->nodes[0], cases[i].ci, cases[i].lt,
                                                            cases[i].type, cases[i].pct, cases[i].crit, &error);
      g_assert_null (e);
      g_assert_true (error != NULL && error->domain == GOSSIP_CONFIG_ERROR);
    }
  cluster_free (c);
}

typedef struct { GossipLeaderElection *e; } NoLeader;
static gboolean no_leader (gpointer data)
{
  return !gossip_leader_election_has_leader (((NoLeader *) data)->e) &&
         !gossip_leader_election_is_leader (((NoLeader *) data)->e);
}

typedef struct { GossipCluster *observer; const char *id; } Gone;
static gboolean is_gone (gpointer data)
{
  Gone *g = data;
  g_autoptr(GossipNode) n = gossip_cluster_get_node (g->observer, g->id);
  return n == NULL || gossip_node_get_state (n) == GOSSIP_NODE_DEAD;
}

static gboolean leads (gpointer data)
{
  return gossip_leader_election_is_leader (data);
}

/* 3 nodes, two crash: with quorum 60 the survivor (1 of 3 known) must not
 * lead, until both are forgotten. */
static void
test_election_quorum_loss (void)
{
  Cluster *c = cluster_new (3);
  g_autoptr(GError) error = NULL;
  GossipLeaderElection *e[3];
  g_auto(GStrv) ids = g_new0 (char *, 4);
  NoLeader nl;

  for (guint i = 0; i < 3; i++)
    {
      e[i] = gossip_leader_election_new (c->nodes[i], 100000, 400000, 65, 60, NULL, &error);
      g_assert_true (gossip_leader_election_start (e[i], &error));
    }
  for (guint i = 0; i < 3; i++)
    ids[i] = g_strdup (gossip_cluster_get_node_id (c->nodes[i]));
  for (guint i = 1; i < 3; i++)
    {
      gossip_leader_election_stop (e[i]);
      g_clear_object (&e[i]);
      gossip_cluster_hard_stop (c->nodes[i]);
      g_clear_object (&c->nodes[i]);
    }
  nl.e = e[0];
  {
    Cluster survivor = { c->nodes, 1 };
    /* Survivor sees the others non-alive (suspect or dead): 1 alive of 3 known. */
    g_assert_true (wait_for (converged, &survivor, WAIT_S));
  }
  g_assert_true (wait_for (no_leader, &nl, WAIT_S));
  /* Still none a while later (quorum cannot come back). */
  g_usleep (500000);
  g_assert_true (no_leader (&nl));

  /* Once the survivor holds them dead, the operator forgets the two for
   * good: 1 of 1, it leads. */
  for (guint i = 0; i < 2; i++)
    {
      Gone gone = { c->nodes[0], ids[i + 1] };
      g_assert_true (wait_for (is_gone, &gone, WAIT_S));
      g_assert_true (gossip_leader_election_forget (e[0], ids[i + 1], &error));
      g_assert_no_error (error);
    }
  g_assert_true (wait_for (leads, e[0], WAIT_S));
  gossip_leader_election_stop (e[0]);
  g_object_unref (e[0]);
  cluster_free (c);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/group/tracking", test_group_tracking);
  g_test_add_func ("/group/bad-criteria", test_group_bad_criteria);
  g_test_add_func ("/election/lone-node", test_election_lone_node);
  g_test_add_func ("/election/validation", test_election_validation);
  g_test_add_func ("/election/failover", test_election_failover);
  g_test_add_func ("/election/quorum-loss", test_election_quorum_loss);
  return g_test_run ();
}
