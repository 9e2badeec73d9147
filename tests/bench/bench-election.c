/* bench-election.c — how long leader election takes:
 *
 *   first leader  from the start of every node's election (all at once, on
 *                 a converged cluster) until every node names the same
 *                 leader and exactly that one says it leads;
 *   failover      from the crash of that leader until every survivor names
 *                 the same new leader and exactly that one says it leads.
 *
 * Elections use the create_leader_election() defaults (check_interval 1 s,
 * leader_timeout 3 s, quorum 60 %), clusters the default configuration.
 * Each size is measured RUNS times, on the in-memory network on virtual
 * time (tests/sim-harness.c, 1 ms resolution, a new seed per run) and on
 * real loopback sockets (polled every millisecond); the crash comes at a
 * random phase of the heartbeat period. Prints the median and the 90th
 * percentile.
 *
 *   bench-election [-r RUNS] [-s SIZES] [-R REAL_SIZES]
 *
 * SIZES and REAL_SIZES are comma-separated node counts ("5,25" by
 * default); an empty REAL_SIZES skips the loopback runs.
 *
 * SPDX-License-Identifier: MIT
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "sim-harness.h"
#include "gossip-private.h"

#define CHECK_US     (1 * G_USEC_PER_SEC)
#define TIMEOUT_US   (3 * G_USEC_PER_SEC)
#define QUORUM       60
#define MSEC         G_TIME_SPAN_MILLISECOND

static gint opt_runs = 10;
static char *opt_sizes = NULL;
static char *opt_real_sizes = NULL;

static GOptionEntry entries[] = {
  { "runs", 'r', 0, G_OPTION_ARG_INT, &opt_runs, "Runs per size (10)", "N" },
  { "sizes", 's', 0, G_OPTION_ARG_STRING, &opt_sizes, "Cluster sizes on virtual time (5,25)", "LIST" },
  { "real-sizes", 'R', 0, G_OPTION_ARG_STRING, &opt_real_sizes,
    "Cluster sizes on loopback sockets (5,25; empty: none)", "LIST" },
  { NULL }
};

typedef struct {
  GArray *first;      /* gint64 µs */
  GArray *failover;
  guint   failed;     /* runs without agreement within the deadline */
} Series;

/* ------------------------------------------------------------------------ */
/* Agreement over a set of elections                                        */
/* ------------------------------------------------------------------------ */

/* @e[i] NULL: that node is gone. Returns the index of the agreed leader or
 * -1: every remaining node names it, it is among them and the only one to
 * say it leads. */
static gint
agreed_leader (GossipLeaderElection **e, GossipCluster **c, guint n)
{
  g_autofree char *first = NULL;
  gint leader = -1;
  guint leaders = 0;

  for (guint i = 0; i < n; i++)
    {
      g_autofree char *id = NULL;

      if (e[i] == NULL)
        continue;
      id = gossip_leader_election_get_leader_id (e[i]);
      if (id == NULL || (first != NULL && !g_str_equal (first, id)))
        return -1;
      if (first == NULL)
        first = g_steal_pointer (&id);
      if (gossip_leader_election_is_leader (e[i]))
        {
          leaders++;
          leader = (gint) i;
        }
    }
  if (leaders != 1 || first == NULL || !g_str_equal (first, gossip_cluster_get_node_id (c[leader])))
    return -1;
  return leader;
}

static GossipLeaderElection *
election_new (GossipCluster *cluster)
{
  g_autoptr(GError) error = NULL;
  GossipLeaderElection *e = gossip_leader_election_new (cluster, CHECK_US, TIMEOUT_US,
                                                        GOSSIP_ELECTION_DEFAULT_HEARTBEAT_TYPE, QUORUM,
                                                        NULL, &error);
  if (e == NULL)
    g_error ("election: %s", error->message);
  return e;
}

/* ------------------------------------------------------------------------ */
/* Virtual time                                                             */
/* ------------------------------------------------------------------------ */

typedef struct {
  GossipLeaderElection **e;
  GossipCluster        **c;
  guint                  n;
  gint                   leader;
} SimAgree;

static gboolean
sim_agreed (SimHarness *sim, gpointer data)
{
  SimAgree *a = data;
  a->leader = agreed_leader (a->e, a->c, a->n);
  return a->leader >= 0;
}

static gboolean
sim_joins_done (SimHarness *sim, gpointer data)
{
  for (guint i = 1; i < sim_n_nodes (sim); i++)
    if (!sim_node (sim, i)->join_done)
      return FALSE;
  return TRUE;
}

static void
run_virtual (guint n, guint run, Series *series)
{
  g_autoptr(SimHarness) sim = sim_new (1000 * n + run);
  g_autoptr(GossipConfig) config = sim_config_new ();
  g_autoptr(GRand) rand = g_rand_new_with_seed (run * 7919 + n);
  GossipLeaderElection **e = g_new0 (GossipLeaderElection *, n);
  GossipCluster **c = g_new0 (GossipCluster *, n);
  SimAgree a = { e, c, n, -1 };
  gint64 t0, dt;

  sim_set_record_events (sim, FALSE);
  sim_add_nodes (sim, n, config);
  if (!sim_run_until (sim, sim_converged, NULL, 120 * G_USEC_PER_SEC) ||
      !sim_run_until (sim, sim_joins_done, NULL, 10 * G_USEC_PER_SEC))
    g_error ("%u nodes did not converge on virtual time", n);
  sim_advance (sim, g_rand_int_range (rand, 0, 1000) * MSEC);

  for (guint i = 0; i < n; i++)
    {
      c[i] = sim_node (sim, i)->cluster;
      e[i] = election_new (c[i]);
    }
  sim_set_step (sim, 1 * MSEC);
  t0 = sim_now (sim);
  for (guint i = 0; i < n; i++)
    if (!gossip_leader_election_start (e[i], NULL))
      g_error ("start failed");
  if (!sim_run_until (sim, sim_agreed, &a, 60 * G_USEC_PER_SEC))
    {
      series->failed++;
      goto out;
    }
  dt = sim_now (sim) - t0;
  g_array_append_val (series->first, dt);

  /* Crash the leader at a random phase of its heartbeat period. */
  sim_advance (sim, 5 * G_USEC_PER_SEC + g_rand_int_range (rand, 0, 1000) * MSEC);
  if (agreed_leader (e, c, n) < 0)
    g_error ("the agreement did not last");
  {
    gint leader = agreed_leader (e, c, n);

    t0 = sim_now (sim);
    sim_kill (sim, (guint) leader);
    g_clear_object (&e[leader]);
  }
  if (!sim_run_until (sim, sim_agreed, &a, 60 * G_USEC_PER_SEC))
    {
      series->failed++;
      goto out;
    }
  dt = sim_now (sim) - t0;
  g_array_append_val (series->failover, dt);

out:
  for (guint i = 0; i < n; i++)
    if (e[i] != NULL)
      {
        gossip_leader_election_stop (e[i]);
        g_object_unref (e[i]);
      }
  g_free (e);
  g_free (c);
}

/* ------------------------------------------------------------------------ */
/* Loopback sockets                                                         */
/* ------------------------------------------------------------------------ */

static gint
wait_agreed (GossipLeaderElection **e, GossipCluster **c, guint n, gint64 timeout_us)
{
  gint64 deadline = g_get_monotonic_time () + timeout_us;
  gint leader;

  while ((leader = agreed_leader (e, c, n)) < 0)
    {
      if (g_get_monotonic_time () > deadline)
        return -1;
      g_usleep (1000);
    }
  return leader;
}

static void
run_real (guint n, guint run, Series *series)
{
  g_autoptr(GRand) rand = g_rand_new_with_seed (run * 104729 + n);
  GossipLeaderElection **e = g_new0 (GossipLeaderElection *, n);
  GossipCluster **c = g_new0 (GossipCluster *, n);
  g_autofree char *seed = NULL;
  gint64 t0, deadline;
  gint leader;
  gboolean done;

  for (guint i = 0; i < n; i++)
    {
      g_autoptr(GossipConfig) config = gossip_config_new ();
      g_autoptr(GError) error = NULL;

      if (!gossip_config_set_string (config, "bind_addr", "127.0.0.1:0", &error))
        g_error ("configuration: %s", error->message);
      c[i] = gossip_cluster_new (config, &error);
      if (c[i] == NULL || !gossip_cluster_start (c[i], &error))
        g_error ("cannot start a node: %s", error->message);
      if (i == 0)
        seed = gossip_cluster_get_advertise_address (c[0]);
      else
        {
          const char *peers[] = { seed, NULL };
          if (gossip_cluster_join (c[i], peers, &error) != 1)
            g_error ("join failed%s%s", error ? ": " : "", error ? error->message : "");
        }
    }
  deadline = g_get_monotonic_time () + 60 * G_USEC_PER_SEC;
  do
    {
      done = TRUE;
      for (guint i = 0; i < n; i++)
        done &= gossip_cluster_count (c[i], GOSSIP_NODE_ALIVE) == n;
      if (!done)
        {
          if (g_get_monotonic_time () > deadline)
            g_error ("%u nodes did not converge on loopback", n);
          g_usleep (5000);
        }
    }
  while (!done);

  for (guint i = 0; i < n; i++)
    e[i] = election_new (c[i]);
  t0 = g_get_monotonic_time ();
  for (guint i = 0; i < n; i++)
    if (!gossip_leader_election_start (e[i], NULL))
      g_error ("start failed");
  leader = wait_agreed (e, c, n, 30 * G_USEC_PER_SEC);
  if (leader < 0)
    {
      series->failed++;
      goto out;
    }
  {
    gint64 dt = g_get_monotonic_time () - t0;
    g_array_append_val (series->first, dt);
  }

  g_usleep (2 * G_USEC_PER_SEC + g_rand_int_range (rand, 0, 1000) * MSEC);
  leader = agreed_leader (e, c, n);
  if (leader < 0)
    g_error ("the agreement did not last");
  t0 = g_get_monotonic_time ();
  gossip_cluster_hard_stop (c[leader]);
  g_clear_object (&e[leader]);
  if (wait_agreed (e, c, n, 30 * G_USEC_PER_SEC) < 0)
    {
      series->failed++;
      goto out;
    }
  {
    gint64 dt = g_get_monotonic_time () - t0;
    g_array_append_val (series->failover, dt);
  }

out:
  for (guint i = 0; i < n; i++)
    {
      if (e[i] != NULL)
        {
          gossip_leader_election_stop (e[i]);
          g_object_unref (e[i]);
        }
      gossip_cluster_hard_stop (c[i]);
      g_object_unref (c[i]);
    }
  g_free (e);
  g_free (c);
}

/* ------------------------------------------------------------------------ */

static int
compare_gint64 (gconstpointer a, gconstpointer b)
{
  gint64 x = *(const gint64 *) a, y = *(const gint64 *) b;
  return x < y ? -1 : x > y;
}

/* Nearest rank. */
static double
percentile_s (GArray *samples, double p)
{
  gint64 *v = (gint64 *) (void *) samples->data;
  guint rank;

  if (samples->len == 0)
    return 0;
  g_array_sort (samples, compare_gint64);
  rank = (guint) MAX (1.0, (p * samples->len) + 0.999999);
  return (double) v[MIN (rank, samples->len) - 1] / G_USEC_PER_SEC;
}

static double
extreme_s (GArray *samples, gboolean max)
{
  gint64 *v = (gint64 *) (void *) samples->data;

  if (samples->len == 0)
    return 0;
  g_array_sort (samples, compare_gint64);
  return (double) v[max ? samples->len - 1 : 0] / G_USEC_PER_SEC;
}

static void
print_row (const char *mode, guint n, Series *s, double wall_s)
{
  g_print ("%-9s %4u %5u   %7.3f %7.3f %7.3f %7.3f   %7.3f %7.3f %7.3f %7.3f   %6u %8.1f\n",
           mode, n, s->first->len,
           percentile_s (s->first, 0.5), percentile_s (s->first, 0.9),
           extreme_s (s->first, FALSE), extreme_s (s->first, TRUE),
           percentile_s (s->failover, 0.5), percentile_s (s->failover, 0.9),
           extreme_s (s->failover, FALSE), extreme_s (s->failover, TRUE),
           s->failed, wall_s);
}

static void
measure (const char *mode, guint n)
{
  Series s = { g_array_new (FALSE, FALSE, sizeof (gint64)), g_array_new (FALSE, FALSE, sizeof (gint64)), 0 };
  gint64 wall = g_get_monotonic_time ();

  for (gint run = 0; run < opt_runs; run++)
    {
      if (g_str_equal (mode, "virtual"))
        run_virtual (n, (guint) run, &s);
      else
        run_real (n, (guint) run, &s);
    }
  print_row (mode, n, &s, (g_get_monotonic_time () - wall) / (double) G_USEC_PER_SEC);
  g_array_unref (s.first);
  g_array_unref (s.failover);
}

static gboolean
parse_sizes (const char *text, GArray *out, GError **error)
{
  g_auto(GStrv) parts = g_strsplit (text, ",", -1);

  for (guint i = 0; parts[i] != NULL; i++)
    {
      guint64 v;
      if (*g_strstrip (parts[i]) == '\0')
        continue;
      if (!g_ascii_string_to_unsigned (parts[i], 10, 2, 1000, &v, error))
        return FALSE;
      {
        guint n = (guint) v;
        g_array_append_val (out, n);
      }
    }
  return TRUE;
}

int
main (int argc, char **argv)
{
  g_autoptr(GOptionContext) context = g_option_context_new ("— leader election: first leader and failover");
  g_autoptr(GError) error = NULL;
  g_autoptr(GArray) sizes = g_array_new (FALSE, FALSE, sizeof (guint));
  g_autoptr(GArray) real_sizes = g_array_new (FALSE, FALSE, sizeof (guint));

  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error) ||
      !parse_sizes (opt_sizes != NULL ? opt_sizes : "5,25", sizes, &error) ||
      !parse_sizes (opt_real_sizes != NULL ? opt_real_sizes : "5,25", real_sizes, &error))
    {
      g_printerr ("%s\n", error->message);
      return 2;
    }
  if (opt_runs < 1)
    {
      g_printerr ("runs must be positive\n");
      return 2;
    }

  g_print ("bench-election: check_interval %.1f s, leader_timeout %.1f s, quorum %d %%, default cluster "
           "configuration; %d runs per size\n",
           CHECK_US / (double) G_USEC_PER_SEC, TIMEOUT_US / (double) G_USEC_PER_SEC, QUORUM, opt_runs);
  g_print ("first leader includes the listen period (one leader_timeout); failover counts from the crash "
           "(seconds; virtual: simulated time, real: loopback wall time)\n\n");
  g_print ("%-9s %4s %5s   %-31s   %-31s   %6s %8s\n", "", "", "", "first leader (s)", "failover (s)", "", "");
  g_print ("%-9s %4s %5s   %7s %7s %7s %7s   %7s %7s %7s %7s   %6s %8s\n", "mode", "N", "runs",
           "p50", "p90", "min", "max", "p50", "p90", "min", "max", "failed", "wall s");
  for (guint i = 0; i < sizes->len; i++)
    measure ("virtual", g_array_index (sizes, guint, i));
  for (guint i = 0; i < real_sizes->len; i++)
    measure ("loopback", g_array_index (real_sizes, guint, i));
  return 0;
}
