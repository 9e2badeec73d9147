/* test-sim.c — deterministic simulations of the engine on virtual time:
 * convergence, failure detection, refutation, leave, metadata, tags, loss,
 * partitions, Lifeguard, messaging and hostile input, over the in-memory
 * network (tests/sim-harness.c).
 *
 * Every wait is a predicate with a virtual deadline; nothing sleeps. Times
 * printed with g_test_message() are virtual unless marked "wall".
 *
 * Environment: SIM_SEED=k replays every scenario with other network draws
 * (latency, loss); SIM_VERBOSE=1 prints the state changes of some
 * scenarios. The 1000-member convergence runs with -m slow.
 *
 * SPDX-License-Identifier: MIT
 */
#include "config.h"

#include <string.h>

#include "sim-harness.h"
#include "gossip-private.h"
#include "gossip-payload-private.h"

#define SEC   G_USEC_PER_SEC
#define MSEC  G_TIME_SPAN_MILLISECOND
#define MSG_TYPE 200
/* Setting a cluster up: simultaneous joins converge within seconds except
 * for a rare tail, which the first push-pull repairs (test_convergence). */
#define SETUP_BOUND (60 * SEC)

static GossipClusterStats stats_of (SimHarness *sim, guint index);

static double
secs (gint64 us)
{
  return (double) us / (double) SEC;
}

static gint64
config_us (const GossipConfig *c, const char *name)
{
  return gossip_config_get_duration (c, name);
}

/* First event at or after @since where @observer (-1: any) sees @subject in
 * @state; -1 when none. */
static gint64
first_event (SimHarness *sim, gint observer, gint subject, GossipNodeState state, gint64 since)
{
  GArray *events = sim_state_events (sim);

  for (guint i = 0; i < events->len; i++)
    {
      SimStateEvent *ev = &g_array_index (events, SimStateEvent, i);
      if (ev->time >= since && ev->new_state == state && ev->subject == subject &&
          (observer < 0 || (guint) observer == ev->observer))
        return ev->time;
    }
  return -1;
}

/* Prints the recorded state changes from @since on (of @subject, or all
 * when -1): called when an assertion is about to fail, or with
 * SIM_VERBOSE set in the environment. */
static void
dump_events (SimHarness *sim, gint64 since, gint subject)
{
  GArray *events = sim_state_events (sim);

  for (guint i = 0; i < events->len; i++)
    {
      SimStateEvent *ev = &g_array_index (events, SimStateEvent, i);
      if (ev->time >= since && (subject < 0 || ev->subject == subject))
        g_test_message ("%.6f: %u sees %d %s -> %s (incarnation %" G_GUINT64_FORMAT ")", secs (ev->time), ev->observer, ev->subject,
                        gossip_node_state_to_string (ev->old_state),
                        gossip_node_state_to_string (ev->new_state), ev->incarnation);
    }
}

typedef struct {
  guint           subject;
  GossipNodeState state;
  gint            skip;      /* observer to skip, or -1 */
} AllSee;

/* Every running node other than @skip sees @subject in @state. */
static gboolean
all_see (SimHarness *sim, gpointer data)
{
  AllSee *a = data;

  for (guint i = 0; i < sim_n_nodes (sim); i++)
    if (sim_node (sim, i)->running && (gint) i != a->skip && i != a->subject &&
        sim_state (sim, i, a->subject) != (gint) a->state)
      return FALSE;
  return TRUE;
}

static gboolean
any_sees (SimHarness *sim, gpointer data)
{
  AllSee *a = data;

  for (guint i = 0; i < sim_n_nodes (sim); i++)
    if (sim_node (sim, i)->running && i != a->subject && sim_state (sim, i, a->subject) == (gint) a->state)
      return TRUE;
  return FALSE;
}

static gboolean
joins_done (SimHarness *sim, gpointer data)
{
  for (guint i = 1; i < sim_n_nodes (sim); i++)
    if (!sim_node (sim, i)->join_done)
      return FALSE;
  return TRUE;
}

/* Builds an n-node cluster joined through node 0 and waits until it has
 * converged; returns the virtual time it took. */
static gint64
converge (SimHarness *sim, guint n, const GossipConfig *config, gint64 bound)
{
  gint64 t0 = sim_now (sim);
  gboolean ok;

  sim_add_nodes (sim, n, config);
  ok = sim_run_until (sim, sim_converged, NULL, bound);
  if (!ok)
    {
      for (guint i = 0; i < n; i++)
        for (guint j = 0; j < n; j++)
          if (sim_state (sim, i, j) != GOSSIP_NODE_ALIVE)
            g_test_message ("node %u sees node %u as %d", i, j, sim_state (sim, i, j));
    }
  g_assert_true (ok);
  g_assert_true (sim_run_until (sim, joins_done, NULL, 10 * SEC));
  for (guint i = 1; i < n; i++)
    g_assert_cmpint (sim_node (sim, i)->join_accepted, ==, 1);
  return sim_now (sim) - t0;
}

/* ------------------------------------------------------------------------ */
/* 1. Convergence                                                            */
/* ------------------------------------------------------------------------ */

/* Pairs (observer, subject) where the observer sees the subject alive. */
static guint64
alive_pairs (SimHarness *sim)
{
  guint64 pairs = 0;

  for (guint i = 0; i < sim_n_nodes (sim); i++)
    pairs += gossip_cluster_count (sim_node (sim, i)->cluster, GOSSIP_NODE_ALIVE);
  return pairs;
}

/* All n-1 nodes join node 0 at the same instant. Each joiner learns the
 * seed's state at once; the others learn of it from the seed's fan-out,
 * relayed with a TTL and retransmitted by piggybacking. During the burst
 * most members know only part of the cluster, so that epidemic leaves a
 * small tail (e^-retransmits per pair) which the periodic push-pull
 * repairs: its first round comes within state_gossip_interval. Checked:
 * 99.9% of the pairs within 10 s (before any push-pull can run), all of
 * them within state_gossip_interval + 5 s. */
static void
test_convergence (gconstpointer data)
{
  guint n = GPOINTER_TO_UINT (data);
  g_autoptr(SimHarness) sim = sim_new (n);
  g_autoptr(GossipConfig) config = sim_config_new ();
  gint64 sgi = config_us (config, "state_gossip_interval");
  gint64 wall = g_get_monotonic_time ();
  gint64 t0, took;
  gboolean early;
  double fraction;

  if (n > 300)
    {
      if (!g_test_slow ())
        {
          g_test_skip ("large simulation: run with -m slow");
          return;
        }
      sim_set_record_events (sim, FALSE);
      sim_set_step (sim, 50 * MSEC);
    }

  t0 = sim_now (sim);
  sim_add_nodes (sim, n, config);
  early = sim_run_until (sim, sim_converged, NULL, 10 * SEC);
  fraction = (double) alive_pairs (sim) / ((double) n * n);
  if (!early)
    g_assert_true (sim_run_until (sim, sim_converged, NULL, sgi + 5 * SEC - (sim_now (sim) - t0)));
  took = sim_now (sim) - t0;
  wall = g_get_monotonic_time () - wall;
  g_test_message ("%u members: %.3f%% of the pairs alive at %.2f s; all see all alive after "
                  "%.2f s virtual (%.2f s wall)",
                  n, 100.0 * fraction, secs (MIN (took, 10 * SEC)), secs (took), secs (wall));
  g_assert_cmpfloat (fraction, >=, 0.999);
  g_assert_true (sim_run_until (sim, joins_done, NULL, 10 * SEC));
  for (guint i = 1; i < n; i++)
    g_assert_cmpint (sim_node (sim, i)->join_accepted, ==, 1);

  /* Stable: nothing is suspected afterwards. */
  if (n <= 300)
    {
      gint64 t = sim_now (sim);
      sim_advance (sim, 10 * SEC);
      g_assert_cmpuint (sim_count_transitions (sim, -1, -1, GOSSIP_NODE_SUSPECT, t), ==, 0);
      g_assert_true (sim_converged (sim, NULL));
    }
}

/* State exchanges each node initiated, minus @since (may be NULL). */
static void
push_pulls_started (SimHarness *sim, const guint64 *since, guint64 *started)
{
  for (guint i = 0; i < sim_n_nodes (sim); i++)
    started[i] = sim_node (sim, i)->cluster->push_pulls_started - (since ? since[i] : 0);
}

/* Counts the state exchanges each node initiates over @periods periods of
 * @period and checks them: one (with one member) per period, give or take
 * two for the phase of a node's timer and its ±25 % jitter, and on average
 * within 10 % (a fixed period would give 3× as many at the larger size). */
static void
check_push_pull_rate (SimHarness *sim, gint64 period, guint periods, const char *what)
{
  guint n = sim_n_nodes (sim);
  g_autofree guint64 *before = g_new0 (guint64, n);
  g_autofree guint64 *started = g_new0 (guint64, n);
  guint64 total = 0;
  double mean;

  push_pulls_started (sim, NULL, before);
  sim_advance (sim, periods * period);
  push_pulls_started (sim, before, started);
  for (guint i = 0; i < n; i++)
    total += started[i];
  mean = (double) total / n;
  g_test_message ("%s: %u members, period %.1f s: %.2f exchanges per member in %u periods",
                  what, n, secs (period), mean, periods);
  for (guint i = 0; i < n; i++)
    {
      g_assert_cmpuint (started[i], >=, periods - 2);
      g_assert_cmpuint (started[i], <=, periods + 2);
    }
  g_assert_cmpfloat (mean, >=, periods * 0.9);
  g_assert_cmpfloat (mean, <=, periods * 1.1);
}

/* Push-pull load flat in N: one exchange with one member per period, the
 * period being state_gossip_interval × max(1, known / N0) with N0 =
 * round(160 × state_exchange_multiplier). With a multiplier of 0.05
 * (N0 = 8), 6 members exchange every state_gossip_interval; once 18 more
 * have joined, every member, the first 6 included (the period is
 * recomputed at each round), exchanges every 3 intervals. */
static void
test_push_pull_period (void)
{
  const guint small = 6, large = 24, periods = 10;
  g_autoptr(SimHarness) sim = sim_new (16);
  g_autoptr(GossipConfig) config = sim_config_fast ();
  gint64 sgi, p_small, p_large;

  sim_config_set (config, "state_exchange_multiplier", "0.05");
  sgi = config_us (config, "state_gossip_interval");
  p_small = _gossip_push_pull_period_for (sgi, small, 0.05);
  p_large = _gossip_push_pull_period_for (sgi, large, 0.05);
  g_assert_cmpint (p_small, ==, sgi);
  g_assert_cmpint (p_large, ==, 3 * sgi);
  /* The defaults: N0 = 128. */
  g_assert_cmpint (_gossip_push_pull_period_for (45 * SEC, 100, 0.8), ==, 45 * SEC);
  g_assert_cmpint (_gossip_push_pull_period_for (45 * SEC, 128, 0.8), ==, 45 * SEC);
  g_assert_cmpint (_gossip_push_pull_period_for (45 * SEC, 1280, 0.8), ==, 450 * SEC);
  g_assert_cmpint (_gossip_push_pull_period_for (45 * SEC, 10000, 1.6), ==, (gint64) 45 * SEC * 10000 / 256);
  /* Extreme multipliers stay finite and never shorten the period. */
  g_assert_cmpint (_gossip_push_pull_period_for (45 * SEC, 1000, 1e-9), ==, (gint64) 45 * SEC * 1000);
  g_assert_cmpint (_gossip_push_pull_period_for (45 * SEC, 1000, G_MAXDOUBLE), ==, 45 * SEC);
  g_assert_cmpint (_gossip_push_pull_period_for (G_MAXINT64 / 1000, 1000, 0.05), ==, G_MAXINT64 / 1000);

  converge (sim, small, config, SETUP_BOUND);
  /* Past the post-join exchanges, whose next round may be computed from a
   * partial view. */
  sim_advance (sim, 2 * p_small);
  check_push_pull_rate (sim, p_small, periods, "below N0");

  sim_add_nodes (sim, large - small, config);
  sim_join (sim, small, 0);
  g_assert_true (sim_run_until (sim, sim_converged, NULL, SETUP_BOUND));
  g_assert_cmpuint (sim_n_nodes (sim), ==, large);
  sim_advance (sim, 2 * p_large);
  check_push_pull_rate (sim, p_large, periods, "above N0");
  g_assert_true (sim_converged (sim, NULL));
}

/* ------------------------------------------------------------------------ */
/* 2. Failure detection                                                      */
/* ------------------------------------------------------------------------ */

/* Wraps a predicate and records the highest local health of any running
 * node at every step. */
typedef struct {
  SimPredicate pred;
  gpointer     data;
  guint        max_health;
} WatchHealth;

static gboolean
watch_health (SimHarness *sim, gpointer data)
{
  WatchHealth *w = data;

  for (guint i = 0; i < sim_n_nodes (sim); i++)
    if (sim_node (sim, i)->running)
      w->max_health = MAX (w->max_health, stats_of (sim, i).local_health);
  return w->pred (sim, w->data);
}

static void
test_failure_detection (void)
{
  const guint n = 10, victim = 7;
  g_autoptr(SimHarness) sim = sim_new (2);
  g_autoptr(GossipConfig) config = sim_config_new ();
  gint64 hci = config_us (config, "health_check_interval");
  gint64 deadline = MIN (config_us (config, "suspect_timeout"), hci);
  gint64 dnt = config_us (config, "dead_node_timeout");
  gint64 t_kill, first_suspect = G_MAXINT64, last_suspect = 0, first_dead = G_MAXINT64, last_dead = 0;
  AllSee dead = { victim, GOSSIP_NODE_DEAD, -1 };

  converge (sim, n, config, SETUP_BOUND);
  sim_advance (sim, 5 * SEC);
  t_kill = sim_now (sim);
  sim_kill (sim, victim);

  /* Every survivor probes one member per period, round-robin over a
   * shuffled list: some survivor reaches the victim within one round of
   * n-1 periods; its suspicion then spreads by gossip, and a few
   * survivors probe the victim themselves to confirm it. Death follows
   * between max(dead_node_timeout/4, 2 probe periods) (Lifeguard, all the
   * expected confirmations) and dead_node_timeout (none) after the first
   * suspicion. */
  {
    WatchHealth watch = { all_see, &dead, 0 };
    g_assert_true (sim_run_until (sim, watch_health, &watch, (n - 1) * hci + deadline + dnt + 5 * SEC));
    /* Healthy survivors never blame themselves: the relays' nacks reach
     * them in time, so a dead peer does not raise their local health. */
    g_assert_cmpuint (watch.max_health, ==, 0);
  }

  for (guint o = 0; o < n; o++)
    {
      gint64 ts, td;
      GossipClusterStats stats;

      if (o == victim)
        continue;
      ts = first_event (sim, (gint) o, victim, GOSSIP_NODE_SUSPECT, t_kill);
      td = first_event (sim, (gint) o, victim, GOSSIP_NODE_DEAD, t_kill);
      g_assert_cmpint (ts, >=, 0);
      g_assert_cmpint (td, >, ts);
      /* A survivor's own timer fires within dead_node_timeout of its
       * suspicion; news of an earlier death may come sooner. */
      g_assert_cmpint (td - ts, <=, dnt + 1 * SEC);
      first_suspect = MIN (first_suspect, ts);
      last_suspect = MAX (last_suspect, ts);
      first_dead = MIN (first_dead, td);
      last_dead = MAX (last_dead, td);
      gossip_cluster_get_stats (sim_node (sim, o)->cluster, &stats);
      g_assert_cmpuint (stats.local_health, ==, 0);
    }

  g_test_message ("victim killed at %.2f s: first suspect +%.2f s, all suspect +%.2f s, "
                  "first dead +%.2f s, all dead +%.2f s",
                  secs (t_kill), secs (first_suspect - t_kill), secs (last_suspect - t_kill),
                  secs (first_dead - t_kill), secs (last_dead - t_kill));

  if (g_getenv ("SIM_VERBOSE"))
    dump_events (sim, t_kill, -1);
  g_assert_cmpint (first_suspect - t_kill, <=, (n - 1) * hci + deadline);
  g_assert_cmpint (last_suspect - first_suspect, <=, 1 * SEC);
  /* Shown suspect only once confirmed, dead no sooner than the shortest
   * (fully confirmed) suspicion after the first, internal accusation. */
  g_assert_cmpint (first_dead - t_kill, >=,
                   MAX (MAX (dnt / 10, config_us (config, "suspect_retry_interval")), 2 * (hci / 4)));
  g_assert_cmpint (first_dead - first_suspect, <=, dnt + 100 * MSEC);
  g_assert_cmpint (last_dead - first_dead, <=, 1 * SEC);

  /* Nobody else was suspected along the way. */
  for (guint s = 0; s < n; s++)
    if (s != victim)
      {
        g_assert_cmpuint (sim_count_transitions (sim, -1, (gint) s, GOSSIP_NODE_SUSPECT, 0), ==, 0);
        g_assert_cmpuint (sim_count_transitions (sim, -1, (gint) s, GOSSIP_NODE_DEAD, 0), ==, 0);
      }
}

/* ------------------------------------------------------------------------ */
/* 3. Refutation                                                             */
/* ------------------------------------------------------------------------ */

typedef struct {
  guint   subject;
  guint64 above;
} AliveAbove;

static gboolean
all_see_alive_above (SimHarness *sim, gpointer data)
{
  AliveAbove *a = data;

  for (guint i = 0; i < sim_n_nodes (sim); i++)
    if (sim_node (sim, i)->running && i != a->subject &&
        (sim_state (sim, i, a->subject) != GOSSIP_NODE_ALIVE || sim_incarnation (sim, i, a->subject) <= a->above))
      return FALSE;
  return TRUE;
}

/* Datagram loss alone cannot make a live node suspect: the probe's stream
 * ping (memberlist's TCP fallback) still reaches it. A short partition
 * isolating the node does (streams vanish too); once it heals, the
 * suspect-retry pings carry the suspicion to the node, which refutes. */
static void
test_refute (void)
{
  const guint n = 10, x = 4;
  g_autoptr(SimHarness) sim = sim_new (3);
  g_autoptr(GossipConfig) config = sim_config_new ();
  gint64 hci = config_us (config, "health_check_interval");
  gint64 t_heal, t_part, took;
  guint64 inc0;
  AllSee suspected = { x, GOSSIP_NODE_SUSPECT, -1 };
  AliveAbove refuted;
  g_autoptr(GossipNode) local = NULL;

  converge (sim, n, config, SETUP_BOUND);
  sim_advance (sim, 3 * SEC);
  inc0 = sim_incarnation (sim, 0, x);
  for (guint i = 0; i < n; i++)
    g_assert_cmpuint (sim_incarnation (sim, i, x), ==, inc0);

  /* First, datagram loss into x only: nobody suspects it. */
  t_part = sim_now (sim);
  sim_set_inbound_loss (sim, x, 1.0);
  sim_advance (sim, 2 * (n - 1) * hci);
  g_assert_cmpuint (sim_count_transitions (sim, -1, x, GOSSIP_NODE_SUSPECT, t_part), ==, 0);
  sim_heal (sim);

  /* Then isolate it until somebody suspects it, and heal at once. */
  t_part = sim_now (sim);
  sim_partition (sim, x, 1);
  g_assert_true (sim_run_until (sim, any_sees, &suspected, 2 * (n - 1) * hci));
  sim_heal (sim);
  t_heal = sim_now (sim);

  refuted.subject = x;
  refuted.above = inc0;
  g_assert_true (sim_run_until (sim, all_see_alive_above, &refuted, 5 * SEC));
  took = sim_now (sim) - t_heal;
  g_assert_true (sim_run_until (sim, sim_converged, NULL, 10 * SEC));
  sim_advance (sim, 30 * SEC);
  g_assert_true (sim_converged (sim, NULL));

  local = gossip_cluster_get_local_node (sim_node (sim, x)->cluster);
  g_test_message ("isolated for %.2f s; refuted everywhere %.2f s after the heal "
                  "(incarnation %" G_GUINT64_FORMAT " -> %" G_GUINT64_FORMAT "); %u suspicion events of it",
                  secs (t_heal - t_part), secs (took), inc0, gossip_node_get_incarnation (local),
                  sim_count_transitions (sim, -1, x, GOSSIP_NODE_SUSPECT, 0));
  g_assert_cmpuint (gossip_node_get_incarnation (local), >, inc0);
  g_assert_cmpuint (sim_count_transitions (sim, -1, -1, GOSSIP_NODE_DEAD, 0), ==, 0);
  /* Refuting changes the incarnation, not the metadata. */
  for (guint i = 0; i < sim_meta_events (sim)->len; i++)
    g_assert_cmpint (((SimMetaEvent *) g_ptr_array_index (sim_meta_events (sim), i))->subject, !=, (gint) x);
}

/* ------------------------------------------------------------------------ */
/* 4. Leave                                                                  */
/* ------------------------------------------------------------------------ */

static gboolean
leave_done (SimHarness *sim, gpointer data)
{
  return sim_node (sim, GPOINTER_TO_UINT (data))->leave_done;
}

static void
test_leave (void)
{
  const guint n = 6, x = 2;
  g_autoptr(SimHarness) sim = sim_new (4);
  g_autoptr(GossipConfig) config = sim_config_new ();
  gint64 lnt = config_us (config, "leaving_node_timeout");
  gint64 nci = config_us (config, "node_cleanup_interval");
  gint64 t_leave, t_all_leaving, t_all_dead;
  AllSee leaving = { x, GOSSIP_NODE_LEAVING, -1 };
  AllSee dead = { x, GOSSIP_NODE_DEAD, -1 };
  g_autoptr(GossipNode) local = NULL;

  converge (sim, n, config, SETUP_BOUND);
  sim_advance (sim, 2 * SEC);
  t_leave = sim_now (sim);
  sim_leave (sim, x);
  local = gossip_cluster_get_local_node (sim_node (sim, x)->cluster);
  g_assert_cmpint (gossip_node_get_state (local), ==, GOSSIP_NODE_LEAVING);
  g_clear_pointer (&local, gossip_node_unref);
  g_assert_cmpuint (sim_count_transitions (sim, x, x, GOSSIP_NODE_LEAVING, t_leave), ==, 1);

  g_assert_true (sim_run_until (sim, all_see, &leaving, 1 * SEC));
  t_all_leaving = sim_now (sim) - t_leave;
  g_assert_true (sim_run_until (sim, leave_done, GUINT_TO_POINTER (x), 1 * SEC));

  if (!sim_run_until (sim, all_see, &dead, lnt + nci + 2 * SEC))
    dump_events (sim, t_leave, x);
  g_assert_true (all_see (sim, &dead));
  t_all_dead = sim_now (sim) - t_leave;
  for (guint o = 0; o < n; o++)
    {
      gint64 tl, td;
      if (o == x)
        continue;
      tl = first_event (sim, (gint) o, x, GOSSIP_NODE_LEAVING, t_leave);
      td = first_event (sim, (gint) o, x, GOSSIP_NODE_DEAD, t_leave);
      g_assert_cmpint (tl, >=, 0);
      g_assert_cmpint (td - tl, >=, lnt);
      g_assert_cmpint (td - tl, <=, lnt + nci);
    }

  /* It stays dead on the peers (the leaver keeps running, and keeps
   * answering JOINs and state exchanges with its own "leaving" record),
   * and leaving locally. */
  sim_advance (sim, 180 * SEC);
  g_test_message ("leave seen everywhere after %.3f s, dead everywhere after %.2f s; "
                  "leaving events after death: %u",
                  secs (t_all_leaving), secs (t_all_dead),
                  sim_count_transitions (sim, -1, x, GOSSIP_NODE_LEAVING, t_leave + t_all_dead));
  for (guint o = 0; o < n; o++)
    if (o != x)
      g_assert_cmpint (sim_state (sim, o, x), ==, GOSSIP_NODE_DEAD);
  g_assert_cmpuint (sim_count_transitions (sim, -1, x, GOSSIP_NODE_LEAVING, t_leave + t_all_dead), ==, 0);
  g_assert_cmpuint (sim_count_transitions (sim, -1, x, GOSSIP_NODE_ALIVE, t_leave), ==, 0);
  local = gossip_cluster_get_local_node (sim_node (sim, x)->cluster);
  g_assert_cmpint (gossip_node_get_state (local), ==, GOSSIP_NODE_LEAVING);
  g_assert_cmpuint (sim_count_transitions (sim, x, x, GOSSIP_NODE_DEAD, 0), ==, 0);
  /* The others are unaffected. */
  for (guint s = 0; s < n; s++)
    if (s != x)
      g_assert_cmpuint (sim_count_transitions (sim, -1, (gint) s, GOSSIP_NODE_SUSPECT, 0), ==, 0);
}

/* ------------------------------------------------------------------------ */
/* 5. Metadata                                                               */
/* ------------------------------------------------------------------------ */

typedef struct {
  guint       subject;
  const char *key;
  const char *value;   /* NULL: the key must be absent */
} MetaSeen;

static gboolean
all_see_meta (SimHarness *sim, gpointer data)
{
  MetaSeen *m = data;

  for (guint i = 0; i < sim_n_nodes (sim); i++)
    {
      g_autoptr(GossipNode) node = NULL;

      if (!sim_node (sim, i)->running)
        continue;
      node = gossip_cluster_get_node (sim_node (sim, i)->cluster, sim_node (sim, m->subject)->id);
      if (node == NULL || g_strcmp0 (gossip_node_get_metadata_value (node, m->key), m->value) != 0)
        return FALSE;
    }
  return TRUE;
}

/* Metadata events of @subject seen by @observer (remote or local). */
static guint
count_meta (SimHarness *sim, gint observer, gint subject, gint64 since)
{
  GPtrArray *events = sim_meta_events (sim);
  guint count = 0;

  for (guint i = 0; i < events->len; i++)
    {
      SimMetaEvent *ev = g_ptr_array_index (events, i);
      if (ev->time >= since && ev->subject == subject && (observer < 0 || (guint) observer == ev->observer))
        count++;
    }
  return count;
}

static void
test_metadata (void)
{
  const guint n = 8, x = 3;
  g_autoptr(SimHarness) sim = sim_new (5);
  g_autoptr(GossipConfig) config = sim_config_new ();
  g_autoptr(GError) error = NULL;
  GossipCluster *cx;
  MetaSeen seen = { x, "role", "primary" };
  gint64 t, took_set, took_del, took_burst;
  char value[16];
  GPtrArray *events;

  converge (sim, n, config, SETUP_BOUND);
  sim_advance (sim, 2 * SEC);
  cx = sim_node (sim, x)->cluster;

  /* set: announced at once, so it is everywhere within a round trip or
   * two; one event on every node, the local one included. */
  t = sim_now (sim);
  g_assert_true (gossip_cluster_set_metadata (cx, "role", "primary", &error));
  g_assert_no_error (error);
  g_assert_cmpuint (count_meta (sim, x, x, t), ==, 1);
  g_assert_true (sim_run_until (sim, all_see_meta, &seen, 1 * SEC));
  took_set = sim_now (sim) - t;
  sim_advance (sim, 5 * SEC);
  for (guint o = 0; o < n; o++)
    g_assert_cmpuint (count_meta (sim, (gint) o, x, t), ==, 1);

  /* Setting the same value again is no change: no event anywhere. */
  t = sim_now (sim);
  g_assert_true (gossip_cluster_set_metadata (cx, "role", "primary", &error));
  g_assert_true (gossip_cluster_delete_metadata (cx, "missing", &error));
  sim_advance (sim, 5 * SEC);
  g_assert_cmpuint (count_meta (sim, -1, -1, t), ==, 0);

  /* delete */
  t = sim_now (sim);
  g_assert_true (gossip_cluster_delete_metadata (cx, "role", &error));
  seen.value = NULL;
  g_assert_true (sim_run_until (sim, all_see_meta, &seen, 1 * SEC));
  took_del = sim_now (sim) - t;
  sim_advance (sim, 5 * SEC);
  for (guint o = 0; o < n; o++)
    g_assert_cmpuint (count_meta (sim, (gint) o, x, t), ==, 1);

  /* A burst of changes with jittery latency (updates overtake each
   * other): the newest wins everywhere, and versions never go back. */
  sim_set_latency (sim, 1 * MSEC, 40 * MSEC);
  t = sim_now (sim);
  for (guint i = 1; i <= 20; i++)
    {
      g_snprintf (value, sizeof value, "v%u", i);
      g_assert_true (gossip_cluster_set_metadata (cx, "counter", value, &error));
      sim_advance (sim, 1 * MSEC);
    }
  seen.key = "counter";
  seen.value = "v20";
  g_assert_true (sim_run_until (sim, all_see_meta, &seen, 2 * SEC));
  took_burst = sim_now (sim) - t;
  sim_advance (sim, 10 * SEC);
  g_assert_true (all_see_meta (sim, &seen));
  g_assert_cmpuint (count_meta (sim, x, x, t), ==, 20);

  events = sim_meta_events (sim);
  for (guint o = 0; o < n; o++)
    {
      guint64 last = 0;
      guint count = 0;
      for (guint i = 0; i < events->len; i++)
        {
          SimMetaEvent *ev = g_ptr_array_index (events, i);
          if (ev->observer != o || ev->subject != (gint) x || ev->time < t)
            continue;
          g_assert_cmpuint (ev->meta_version, >, last);
          last = ev->meta_version;
          count++;
        }
      g_assert_cmpuint (count, >=, 1);
      g_assert_cmpuint (count, <=, 20);
    }

  /* Concurrent changes from several nodes are independent. */
  for (guint i = 0; i < n; i++)
    {
      g_snprintf (value, sizeof value, "n%u", i);
      g_assert_true (gossip_cluster_set_metadata (sim_node (sim, i)->cluster, "name", value, &error));
    }
  for (guint i = 0; i < n; i++)
    {
      MetaSeen each = { i, "name", NULL };
      g_snprintf (value, sizeof value, "n%u", i);
      each.value = value;
      g_assert_true (sim_run_until (sim, all_see_meta, &each, 2 * SEC));
    }
  g_test_message ("metadata set seen everywhere in %.3f s, delete in %.3f s, "
                  "newest of 20 quick changes in %.3f s",
                  secs (took_set), secs (took_del), secs (took_burst));
  g_assert_cmpuint (sim_count_transitions (sim, -1, -1, GOSSIP_NODE_SUSPECT, 0), ==, 0);
}

/* ------------------------------------------------------------------------ */
/* 6. Tags                                                                   */
/* ------------------------------------------------------------------------ */

static const char *tag_sets[] = { "web", "web", "web,db", "db", "", "web,cache" };

static gboolean
has_tag_in_set (guint i, const char *tag)
{
  g_auto(GStrv) tags = g_strsplit (tag_sets[i], ",", -1);
  return g_strv_contains ((const char * const *) tags, tag);
}

static SimHarness *
tagged_cluster (guint32 seed)
{
  SimHarness *sim = sim_new (seed);

  for (guint i = 0; i < G_N_ELEMENTS (tag_sets); i++)
    {
      g_autoptr(GossipConfig) config = sim_config_new ();
      sim_config_set (config, "tags", tag_sets[i]);
      sim_add_node (sim, config);
    }
  sim_join_all (sim, 0);
  g_assert_true (sim_run_until (sim, sim_converged, NULL, SETUP_BOUND));
  return sim;
}

static void
test_tags (void)
{
  g_autoptr(SimHarness) sim = tagged_cluster (6);
  const char *probe_tags[] = { "web", "db", "cache", "none" };
  const guint n = G_N_ELEMENTS (tag_sets);

  for (guint o = 0; o < n; o++)
    {
      GossipCluster *c = sim_node (sim, o)->cluster;

      for (guint s = 0; s < n; s++)
        {
          g_autoptr(GossipNode) node = gossip_cluster_get_node (c, sim_node (sim, s)->id);
          g_auto(GStrv) want = g_strsplit (tag_sets[s], ",", -1);
          const char * const *tags = gossip_node_get_tags (node);

          g_assert_nonnull (node);
          if (tag_sets[s][0] == '\0')
            g_assert_true (tags == NULL || tags[0] == NULL);
          else
            {
              g_assert_nonnull (tags);
              g_assert_cmpuint (g_strv_length ((char **) tags), ==, g_strv_length (want));
              for (guint k = 0; want[k] != NULL; k++)
                g_assert_true (gossip_node_has_tag (node, want[k]));
            }
        }
      for (guint t = 0; t < G_N_ELEMENTS (probe_tags); t++)
        {
          g_autoptr(GPtrArray) by_tag = gossip_cluster_get_nodes_by_tag (c, probe_tags[t]);
          guint expect = 0;

          for (guint s = 0; s < n; s++)
            expect += has_tag_in_set (s, probe_tags[t]) ? 1 : 0;
          g_assert_cmpuint (by_tag->len, ==, expect);
          for (guint k = 0; k < by_tag->len; k++)
            g_assert_true (has_tag_in_set ((guint) sim_index_of (sim, gossip_node_get_id (by_tag->pdata[k])),
                                           probe_tags[t]));
        }
    }
}

/* ------------------------------------------------------------------------ */
/* 7. Loss                                                                   */
/* ------------------------------------------------------------------------ */

/* No running node is ever seen dead, whatever suspicions happened. */
static guint
false_deaths (SimHarness *sim, gint64 since)
{
  GArray *events = sim_state_events (sim);
  guint count = 0;

  for (guint i = 0; i < events->len; i++)
    {
      SimStateEvent *ev = &g_array_index (events, SimStateEvent, i);
      if (ev->time >= since && ev->new_state == GOSSIP_NODE_DEAD && ev->subject >= 0 &&
          sim_node (sim, (guint) ev->subject)->running)
        {
          g_test_message ("node %u saw live node %d dead at %.2f s", ev->observer, ev->subject, secs (ev->time));
          count++;
        }
    }
  return count;
}

static void
test_loss (void)
{
  const guint n = 20;
  g_autoptr(SimHarness) sim = sim_new (7);
  g_autoptr(GossipConfig) config = sim_config_new ();
  gint64 t0;
  guint suspicions;
  guint64 probes = 0, indirect = 0;

  converge (sim, n, config, SETUP_BOUND);
  t0 = sim_now (sim);
  sim_set_step (sim, 100 * MSEC);
  sim_set_loss_all (sim, 0.10);
  sim_advance (sim, 300 * SEC);
  sim_heal (sim);

  suspicions = sim_count_transitions (sim, -1, -1, GOSSIP_NODE_SUSPECT, t0);
  for (guint i = 0; i < n; i++)
    {
      GossipClusterStats stats;
      gossip_cluster_get_stats (sim_node (sim, i)->cluster, &stats);
      probes += stats.probes_sent;
      indirect += stats.indirect_probes_sent;
    }
  g_test_message ("10%% datagram loss, %u nodes, 300 s: %u suspicion events, %" G_GUINT64_FORMAT
                  " probes, %" G_GUINT64_FORMAT " indirect probe requests",
                  n, suspicions, probes, indirect);
  g_assert_cmpuint (false_deaths (sim, t0), ==, 0);
  sim_set_step (sim, 10 * MSEC);
  g_assert_true (sim_run_until (sim, sim_converged, NULL, 10 * SEC));
}

/* ------------------------------------------------------------------------ */
/* 8. Partition and heal                                                     */
/* ------------------------------------------------------------------------ */

typedef struct {
  guint split;      /* nodes < split are on side A, the others on side B */
  gint  observers;  /* 0: both sides; 1: side A only; 2: side B only */
} Split;

static gboolean
sides_apart (SimHarness *sim, gpointer data)
{
  Split *s = data;

  for (guint o = 0; o < sim_n_nodes (sim); o++)
    {
      if ((s->observers == 1 && o >= s->split) || (s->observers == 2 && o < s->split))
        continue;
      for (guint x = 0; x < sim_n_nodes (sim); x++)
        if ((o < s->split) != (x < s->split) && sim_state (sim, o, x) == GOSSIP_NODE_ALIVE)
          return FALSE;
    }
  return TRUE;
}

static gboolean
converged_with_meta (SimHarness *sim, gpointer data)
{
  if (!sim_converged (sim, NULL))
    return FALSE;
  for (guint s = 0; s < sim_n_nodes (sim); s++)
    {
      char value[16];
      MetaSeen m = { s, "epoch", value };
      g_snprintf (value, sizeof value, "p%u", s);
      if (!all_see_meta (sim, &m))
        return FALSE;
    }
  return TRUE;
}

/* A 7/3 split. The majority (healthy, local health 0) suspects each
 * member of the minority within one probe round. The minority loses most
 * of its probes, nacks included, so Lifeguard raises its local health and
 * stretches its probe period (up to 9x): it takes longer, and its own
 * suspicions mostly gossip into the void. The partition lasts 30 s, or
 * until both sides see the other non-alive if that takes longer. After the
 * heal, dead members that hear of their death refute it, and a member
 * revived from the dead gets a full state exchange at once: the cluster,
 * metadata changed on both sides included, is whole again within seconds. */
static void
test_partition (void)
{
  const guint n = 10;
  Split majority = { 7, 1 }, both = { 7, 0 };
  g_autoptr(SimHarness) sim = sim_new (8);
  g_autoptr(GossipConfig) config = sim_config_new ();
  g_autoptr(GError) error = NULL;
  gint64 hci = config_us (config, "health_check_interval");
  gint64 t_part, t_heal, t_majority, t_apart, took;
  guint max_health = 0;

  converge (sim, n, config, SETUP_BOUND);
  sim_advance (sim, 2 * SEC);

  t_part = sim_now (sim);
  for (guint i = both.split; i < n; i++)
    sim_partition (sim, i, 1);
  /* Metadata changes on both sides while apart. */
  for (guint i = 0; i < n; i++)
    {
      char value[16];
      g_snprintf (value, sizeof value, "p%u", i);
      g_assert_true (gossip_cluster_set_metadata (sim_node (sim, i)->cluster, "epoch", value, &error));
    }
  g_assert_true (sim_run_until (sim, sides_apart, &majority, (n - 1) * hci + 2 * SEC));
  t_majority = sim_now (sim) - t_part;
  g_assert_true (sim_run_until (sim, sides_apart, &both, 120 * SEC - t_majority));
  t_apart = sim_now (sim) - t_part;
  if (t_apart < 30 * SEC)
    sim_advance (sim, 30 * SEC - t_apart);
  g_assert_true (sides_apart (sim, &both));
  for (guint i = 0; i < n; i++)
    max_health = MAX (max_health, stats_of (sim, i).local_health);

  sim_heal (sim);
  t_heal = sim_now (sim);
  if (!sim_run_until (sim, converged_with_meta, NULL, 2 * SEC))
    {
      for (guint o = 0; o < n; o++)
        for (guint x = 0; x < n; x++)
          if (sim_state (sim, o, x) != GOSSIP_NODE_ALIVE)
            g_test_message ("%u sees %u as %d, incarnation %" G_GUINT64_FORMAT, o, x, sim_state (sim, o, x),
                            sim_incarnation (sim, o, x));
      dump_events (sim, t_heal - 5 * SEC, -1);
    }
  took = sim_now (sim) - t_heal;
  g_test_message ("7/3 partition: the majority saw the minority non-alive after %.2f s, both sides "
                  "after %.2f s (minority local health up to %u); healed after %.2f s apart, "
                  "reconverged (all alive, metadata consistent) %.2f s after the heal",
                  secs (t_majority), secs (t_apart), max_health, secs (t_heal - t_part), secs (took));
  g_assert_true (converged_with_meta (sim, NULL));
  sim_advance (sim, 60 * SEC);
  g_assert_true (converged_with_meta (sim, NULL));
  g_assert_cmpuint (false_deaths (sim, t_heal + took), ==, 0);
}

/* ------------------------------------------------------------------------ */
/* 9. Lifeguard                                                              */
/* ------------------------------------------------------------------------ */

static void
test_lifeguard (void)
{
  const guint n = 12, x = 5;
  g_autoptr(SimHarness) sim = sim_new (9);
  g_autoptr(GossipConfig) config = sim_config_new ();
  GossipClusterStats stats;
  gint64 t0;
  guint max_health = 0, killed = 0, suspected = 0, by_x = 0;
  AllSee x_dead = { x, GOSSIP_NODE_DEAD, -1 };
  GArray *events;

  converge (sim, n, config, SETUP_BOUND);
  sim_advance (sim, 2 * SEC);

  /* Deaf: nothing reaches x (datagrams or streams), while it can still
   * send. It misses every ack and nack, so it raises its local health and
   * probes, and suspects, more slowly; the others keep refuting its
   * suspicions, so none of them dies. */
  t0 = sim_now (sim);
  sim_set_deaf (sim, x, TRUE);
  for (guint i = 0; i < 120; i++)
    {
      sim_advance (sim, 1 * SEC);
      gossip_cluster_get_stats (sim_node (sim, x)->cluster, &stats);
      max_health = MAX (max_health, stats.local_health);
    }

  events = sim_state_events (sim);
  for (guint i = 0; i < events->len; i++)
    {
      SimStateEvent *ev = &g_array_index (events, SimStateEvent, i);
      if (ev->time < t0 || ev->subject == (gint) x)
        continue;
      if (ev->observer == x)
        by_x += ev->new_state == GOSSIP_NODE_SUSPECT;
      else if (ev->new_state == GOSSIP_NODE_SUSPECT)
        suspected++;
      else if (ev->new_state == GOSSIP_NODE_DEAD)
        killed++;
    }
  for (guint o = 0; o < n; o++)
    if (o != x)
      {
        gossip_cluster_get_stats (sim_node (sim, o)->cluster, &stats);
        g_assert_cmpuint (stats.local_health, ==, 0);
      }
  g_test_message ("deaf node for 120 s: max local health %u; it suspected others %u times; "
                  "others saw %u suspicions and %u deaths of healthy nodes",
                  max_health, by_x, suspected, killed);
  g_assert_cmpuint (max_health, >, 0);
  /* Unthrottled, it would probe (and so suspect) someone every
   * health_check_interval: 60 times in 120 s. */
  g_assert_cmpuint (by_x, <, 30);
  g_assert_cmpuint (killed, ==, 0);
  /* The others, who hear nothing from x, declare it dead. */
  g_assert_true (all_see (sim, &x_dead));

  /* Heard again, it comes back. */
  sim_set_deaf (sim, x, FALSE);
  g_assert_true (sim_run_until (sim, sim_converged, NULL, 60 * SEC));
  g_test_message ("undeafened node back in %.2f s", secs (sim_now (sim) - t0 - 120 * SEC));
}

/* ------------------------------------------------------------------------ */
/* 10. Messaging                                                             */
/* ------------------------------------------------------------------------ */

typedef enum {
  REPLY_ECHO,
  REPLY_NONE,
  REPLY_HOLD,
} ReplyMode;

typedef struct {
  guint      *counts;     /* per node */
  GPtrArray  *payloads;   /* per node: last payload (GVariant*) */
  GPtrArray  *held;       /* GossipMessage* kept unanswered */
  ReplyMode   mode;
} Inbox;

typedef struct {
  Inbox *inbox;
  guint  index;
} Mailbox;

static Inbox *
inbox_new (guint n)
{
  Inbox *in = g_new0 (Inbox, 1);
  in->counts = g_new0 (guint, n);
  in->payloads = g_ptr_array_new_full (n, (GDestroyNotify) g_variant_unref);
  for (guint i = 0; i < n; i++)
    g_ptr_array_add (in->payloads, g_variant_ref_sink (g_variant_new_tuple (NULL, 0)));
  in->held = g_ptr_array_new_with_free_func (g_object_unref);
  return in;
}

static void
inbox_free (Inbox *in)
{
  g_free (in->counts);
  g_ptr_array_unref (in->payloads);
  g_ptr_array_unref (in->held);
  g_free (in);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC (Inbox, inbox_free)

static void
inbox_clear (Inbox *in, guint n)
{
  memset (in->counts, 0, n * sizeof (guint));
}

static void
on_message (GossipCluster *cluster, GossipMessage *message, gpointer user_data)
{
  Mailbox *mb = user_data;
  Inbox *in = mb->inbox;
  GVariant *payload = gossip_message_get_payload (message);
  GVariant *old = g_ptr_array_index (in->payloads, mb->index);

  in->counts[mb->index]++;
  g_ptr_array_index (in->payloads, mb->index) = g_variant_ref (payload);
  g_variant_unref (old);
  if (!gossip_message_expects_reply (message))
    return;
  switch (in->mode)
    {
    case REPLY_ECHO:
      {
        g_autoptr(GError) error = NULL;
        gint64 v = g_variant_is_of_type (payload, G_VARIANT_TYPE_INT64) ? g_variant_get_int64 (payload) : -1;
        g_assert_true (gossip_message_reply (message, g_variant_new_int64 (v * 2 + (gint64) mb->index), &error));
        g_assert_no_error (error);
      }
      break;
    case REPLY_NONE:
      g_assert_true (gossip_message_reply (message, NULL, NULL));
      break;
    case REPLY_HOLD:
      g_ptr_array_add (in->held, g_object_ref (message));
      break;
    }
}

static void
register_handlers (SimHarness *sim, Inbox *in, guint type, gboolean with_reply)
{
  for (guint i = 0; i < sim_n_nodes (sim); i++)
    {
      Mailbox *mb = g_new0 (Mailbox, 1);
      GossipCluster *c = sim_node (sim, i)->cluster;
      g_autoptr(GError) error = NULL;

      mb->inbox = in;
      mb->index = i;
      g_assert_true (gossip_cluster_handle (c, type, with_reply, gossip_cluster_get_context (c),
                                            on_message, mb, g_free, &error));
      g_assert_no_error (error);
    }
}

typedef struct {
  Inbox      *inbox;
  guint       expect;
  const char *tag;       /* only nodes with this tag count */
  gint        skip;
} Delivered;

static gboolean
all_delivered (SimHarness *sim, gpointer data)
{
  Delivered *d = data;

  for (guint i = 0; i < sim_n_nodes (sim); i++)
    if ((gint) i != d->skip && (d->tag == NULL || has_tag_in_set (i, d->tag)) && d->inbox->counts[i] < d->expect)
      return FALSE;
  return TRUE;
}

static void
test_broadcast (void)
{
  const guint n = 10, from = 3;
  g_autoptr(SimHarness) sim = sim_new (10);
  g_autoptr(GossipConfig) config = sim_config_new ();
  g_autoptr(Inbox) in = inbox_new (n);
  g_autoptr(GError) error = NULL;
  Delivered d = { in, 1, NULL, from };
  guint missed = 0;

  converge (sim, n, config, SETUP_BOUND);
  register_handlers (sim, in, MSG_TYPE, FALSE);

  /* Best effort on a clean network. Every delivery happens at most once.
   * Reaching everyone is likely, not certain: like the original, each node
   * relays a broadcast once, on first receipt, to a fan-out of random
   * members (4 of 9 here), so a node is missed when no relay picks it. */
  for (guint round = 0; round < 100; round++)
    {
      guint sender = round % n;

      inbox_clear (in, n);
      g_assert_true (gossip_cluster_send (sim_node (sim, sender)->cluster, MSG_TYPE,
                                          g_variant_new_int64 (round), GOSSIP_SEND_NONE, &error));
      g_assert_no_error (error);
      /* Never delivered to the sender, nor inside the caller's stack. */
      for (guint i = 0; i < n; i++)
        g_assert_cmpuint (in->counts[i], ==, 0);
      sim_advance (sim, 2 * SEC);
      for (guint i = 0; i < n; i++)
        {
          g_assert_cmpuint (in->counts[i], <=, 1);
          if (i == sender)
            g_assert_cmpuint (in->counts[i], ==, 0);
          else if (in->counts[i] == 0)
            missed++;
          else
            g_assert_cmpint (g_variant_get_int64 (g_ptr_array_index (in->payloads, i)), ==, round);
        }
    }
  g_test_message ("best-effort broadcast, 10 nodes, clean network: %u of 900 deliveries missed", missed);
  g_assert_cmpuint (missed, <=, 9);

  /* Reliable with 30% datagram loss on every link: still everyone, once. */
  sim_set_loss_all (sim, 0.30);
  for (guint round = 0; round < 5; round++)
    {
      inbox_clear (in, n);
      g_assert_true (gossip_cluster_send (sim_node (sim, from)->cluster, MSG_TYPE,
                                          g_variant_new_int64 (100 + round), GOSSIP_SEND_RELIABLE, &error));
      g_assert_true (sim_run_until (sim, all_delivered, &d, 1 * SEC));
      sim_advance (sim, 3 * SEC);
      for (guint i = 0; i < n; i++)
        g_assert_cmpuint (in->counts[i], ==, i == from ? 0 : 1);
    }
  sim_heal (sim);

  /* send_to: only the target, once; to ourselves, our own handler. */
  inbox_clear (in, n);
  g_assert_true (gossip_cluster_send_to (sim_node (sim, from)->cluster, sim_node (sim, 8)->id, MSG_TYPE,
                                         g_variant_new_int64 (7), GOSSIP_SEND_NONE, &error));
  g_assert_true (gossip_cluster_send_to (sim_node (sim, from)->cluster, sim_node (sim, 1)->id, MSG_TYPE,
                                         g_variant_new_int64 (8), GOSSIP_SEND_RELIABLE, &error));
  g_assert_true (gossip_cluster_send_to (sim_node (sim, from)->cluster, sim_node (sim, from)->id, MSG_TYPE,
                                         g_variant_new_int64 (9), GOSSIP_SEND_NONE, &error));
  g_assert_no_error (error);
  /* Never delivered inside the caller's stack. */
  g_assert_cmpuint (in->counts[from], ==, 0);
  sim_advance (sim, 2 * SEC);
  for (guint i = 0; i < n; i++)
    g_assert_cmpuint (in->counts[i], ==, (i == 8 || i == 1 || i == from) ? 1 : 0);
  g_assert_cmpint (g_variant_get_int64 (g_ptr_array_index (in->payloads, 8)), ==, 7);
  g_assert_cmpint (g_variant_get_int64 (g_ptr_array_index (in->payloads, 1)), ==, 8);
  g_assert_cmpint (g_variant_get_int64 (g_ptr_array_index (in->payloads, from)), ==, 9);

  /* Unknown target. */
  g_assert_false (gossip_cluster_send_to (sim_node (sim, from)->cluster, "00000000-0000-0000-0000-00000000dead",
                                          MSG_TYPE, NULL, GOSSIP_SEND_NONE, &error));
  g_assert_error (error, GOSSIP_CLUSTER_ERROR, GOSSIP_CLUSTER_ERROR_NODE_NOT_FOUND);
}

/* With four nodes or fewer the fan-out covers every other node: a best
 * effort broadcast reaches each exactly once. */
static void
test_broadcast_small (void)
{
  g_autoptr(SimHarness) small = sim_new (100);
  g_autoptr(GossipConfig) config = sim_config_new ();
  g_autoptr(Inbox) in4 = inbox_new (4);
  g_autoptr(GError) error = NULL;

  converge (small, 4, config, SETUP_BOUND);
  register_handlers (small, in4, MSG_TYPE, FALSE);
  for (guint round = 0; round < 20; round++)
    {
      inbox_clear (in4, 4);
      g_assert_true (gossip_cluster_send (sim_node (small, round % 4)->cluster, MSG_TYPE, NULL,
                                          GOSSIP_SEND_NONE, &error));
      g_assert_no_error (error);
      sim_advance (small, 1 * SEC);
      for (guint i = 0; i < 4; i++)
        g_assert_cmpuint (in4->counts[i], ==, i == round % 4 ? 0 : 1);
    }
}

static void
test_tagged (void)
{
  g_autoptr(SimHarness) sim = tagged_cluster (11);
  const guint n = G_N_ELEMENTS (tag_sets);
  g_autoptr(Inbox) in = inbox_new (n);
  g_autoptr(GError) error = NULL;
  const char *tags[] = { "web", "db", "cache" };

  register_handlers (sim, in, MSG_TYPE, FALSE);
  for (guint from = 0; from < n; from++)
    for (guint t = 0; t < G_N_ELEMENTS (tags); t++)
      for (guint reliable = 0; reliable < 2; reliable++)
        {
          Delivered d = { in, 1, tags[t], (gint) from };

          inbox_clear (in, n);
          g_assert_true (gossip_cluster_send_tagged (sim_node (sim, from)->cluster, tags[t], MSG_TYPE,
                                                     g_variant_new_string (tags[t]),
                                                     reliable ? GOSSIP_SEND_RELIABLE : GOSSIP_SEND_NONE, &error));
          g_assert_no_error (error);
          g_assert_true (sim_run_until (sim, all_delivered, &d, 1 * SEC));
          sim_advance (sim, 2 * SEC);
          for (guint i = 0; i < n; i++)
            g_assert_cmpuint (in->counts[i], ==, (i != from && has_tag_in_set (i, tags[t])) ? 1 : 0);
        }
}

typedef struct {
  gboolean  done;
  GVariant *value;
  GError   *error;
  gint64    at;
  SimHarness *sim;
} ReqResult;

static void
request_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  ReqResult *r = user_data;

  g_assert_false (r->done);
  r->value = gossip_cluster_send_request_finish (GOSSIP_CLUSTER (source), result, &r->error);
  r->done = TRUE;
  r->at = sim_now (r->sim);
}

static void
req_result_clear (ReqResult *r)
{
  g_clear_pointer (&r->value, g_variant_unref);
  g_clear_error (&r->error);
  r->done = FALSE;
}

static gboolean
req_done (SimHarness *sim, gpointer data)
{
  return ((ReqResult *) data)->done;
}

typedef struct {
  ReqResult *results;
  guint      n;
} ReqBatch;

static gboolean
batch_done (SimHarness *sim, gpointer data)
{
  ReqBatch *b = data;
  for (guint i = 0; i < b->n; i++)
    if (!b->results[i].done)
      return FALSE;
  return TRUE;
}

static void
test_requests (void)
{
  const guint n = 6;
  g_autoptr(SimHarness) sim = sim_new (12);
  g_autoptr(GossipConfig) config = sim_config_new ();
  g_autoptr(Inbox) echo = inbox_new (n);
  g_autoptr(Inbox) none = inbox_new (n);
  g_autoptr(Inbox) hold = inbox_new (n);
  GossipCluster *c0;
  ReqResult r = { 0 };
  ReqResult many[20] = { { 0 } };
  ReqBatch batch = { many, G_N_ELEMENTS (many) };
  gint64 t;

  r.sim = sim;
  converge (sim, n, config, SETUP_BOUND);
  echo->mode = REPLY_ECHO;
  none->mode = REPLY_NONE;
  hold->mode = REPLY_HOLD;
  register_handlers (sim, echo, MSG_TYPE, TRUE);
  register_handlers (sim, none, MSG_TYPE + 1, TRUE);
  register_handlers (sim, hold, MSG_TYPE + 2, TRUE);
  c0 = sim_node (sim, 0)->cluster;

  /* A reply. */
  gossip_cluster_send_request_async (c0, sim_node (sim, 4)->id, MSG_TYPE, g_variant_new_int64 (21),
                                     2 * SEC, NULL, request_cb, &r);
  g_assert_true (sim_run_until (sim, req_done, &r, 3 * SEC));
  g_assert_no_error (r.error);
  g_assert_cmpint (g_variant_get_int64 (r.value), ==, 21 * 2 + 4);
  req_result_clear (&r);

  /* The handler replies None: "()" */
  gossip_cluster_send_request_async (c0, sim_node (sim, 2)->id, MSG_TYPE + 1, NULL, 2 * SEC, NULL, request_cb, &r);
  g_assert_true (sim_run_until (sim, req_done, &r, 3 * SEC));
  g_assert_no_error (r.error);
  g_assert_true (g_variant_is_of_type (r.value, G_VARIANT_TYPE_UNIT));
  req_result_clear (&r);

  /* The handler keeps the message and never answers: the deadline. */
  t = sim_now (sim);
  gossip_cluster_send_request_async (c0, sim_node (sim, 3)->id, MSG_TYPE + 2, NULL, 2 * SEC, NULL, request_cb, &r);
  g_assert_true (sim_run_until (sim, req_done, &r, 5 * SEC));
  g_assert_error (r.error, GOSSIP_CLUSTER_ERROR, GOSSIP_CLUSTER_ERROR_TIMED_OUT);
  g_assert_cmpint (r.at - t, >=, 2 * SEC);
  g_assert_cmpint (r.at - t, <=, 2 * SEC + 20 * MSEC);
  g_assert_cmpuint (hold->held->len, ==, 1);
  req_result_clear (&r);

  /* No handler for the type. */
  gossip_cluster_send_request_async (c0, sim_node (sim, 5)->id, MSG_TYPE + 3, NULL, 2 * SEC, NULL, request_cb, &r);
  g_assert_true (sim_run_until (sim, req_done, &r, 3 * SEC));
  g_assert_error (r.error, GOSSIP_CLUSTER_ERROR, GOSSIP_CLUSTER_ERROR_NO_REPLY);
  g_assert_cmpint (r.at - t, <, 3 * SEC);
  req_result_clear (&r);

  /* To ourselves: our own handler, never inside the call. */
  gossip_cluster_send_request_async (c0, sim_node (sim, 0)->id, MSG_TYPE, g_variant_new_int64 (5), 2 * SEC, NULL,
                                     request_cb, &r);
  g_assert_false (r.done);
  g_assert_true (sim_run_until (sim, req_done, &r, 3 * SEC));
  g_assert_no_error (r.error);
  g_assert_cmpint (g_variant_get_int64 (r.value), ==, 10);
  req_result_clear (&r);
  gossip_cluster_send_request_async (c0, sim_node (sim, 0)->id, MSG_TYPE + 2, NULL, 1 * SEC, NULL, request_cb, &r);
  g_assert_true (sim_run_until (sim, req_done, &r, 3 * SEC));
  g_assert_error (r.error, GOSSIP_CLUSTER_ERROR, GOSSIP_CLUSTER_ERROR_TIMED_OUT);
  req_result_clear (&r);
  gossip_cluster_send_request_async (c0, sim_node (sim, 0)->id, MSG_TYPE + 3, NULL, 1 * SEC, NULL, request_cb, &r);
  g_assert_true (sim_run_until (sim, req_done, &r, 3 * SEC));
  g_assert_error (r.error, GOSSIP_CLUSTER_ERROR, GOSSIP_CLUSTER_ERROR_NO_REPLY);
  req_result_clear (&r);

  /* Unknown node. */
  gossip_cluster_send_request_async (c0, "00000000-0000-0000-0000-00000000dead", MSG_TYPE, NULL, 1 * SEC, NULL,
                                     request_cb, &r);
  g_assert_true (sim_run_until (sim, req_done, &r, 1 * SEC));
  g_assert_error (r.error, GOSSIP_CLUSTER_ERROR, GOSSIP_CLUSTER_ERROR_NODE_NOT_FOUND);
  req_result_clear (&r);

  /* 20 in flight at once, to every node, ourselves included, with jitter
   * so that replies come back out of order. */
  sim_set_latency (sim, 1 * MSEC, 50 * MSEC);
  for (guint i = 0; i < G_N_ELEMENTS (many); i++)
    {
      many[i].sim = sim;
      gossip_cluster_send_request_async (c0, sim_node (sim, i % n)->id, MSG_TYPE, g_variant_new_int64 (1000 + i),
                                         2 * SEC, NULL, request_cb, &many[i]);
    }
  g_assert_true (sim_run_until (sim, batch_done, &batch, 3 * SEC));
  for (guint i = 0; i < G_N_ELEMENTS (many); i++)
    {
      g_assert_no_error (many[i].error);
      g_assert_cmpint (g_variant_get_int64 (many[i].value), ==, (1000 + (gint64) i) * 2 + (gint64) (i % n));
      req_result_clear (&many[i]);
    }

  /* The held message, answered late, goes nowhere. */
  g_assert_true (gossip_message_reply (g_ptr_array_index (hold->held, 0), NULL, NULL));
  g_ptr_array_set_size (hold->held, 0);
  sim_advance (sim, 1 * SEC);
}

static void
test_large_reliable (void)
{
  const guint n = 5, from = 1;
  const gsize size = 1024 * 1024;
  g_autoptr(SimHarness) sim = sim_new (13);
  g_autoptr(GossipConfig) config = sim_config_new ();
  g_autoptr(Inbox) in = inbox_new (n);
  g_autoptr(GError) error = NULL;
  g_autofree guint8 *data = g_malloc (size);
  Delivered d = { in, 1, NULL, from };
  GRand *rand = g_rand_new_with_seed (42);

  for (gsize i = 0; i < size; i++)
    data[i] = (guint8) g_rand_int (rand);
  g_rand_free (rand);

  converge (sim, n, config, SETUP_BOUND);
  register_handlers (sim, in, MSG_TYPE, FALSE);
  sim_set_loss_all (sim, 0.30);
  g_assert_true (gossip_cluster_send (sim_node (sim, from)->cluster, MSG_TYPE,
                                      gossip_payload_new_bytes (data, size), GOSSIP_SEND_RELIABLE, &error));
  g_assert_no_error (error);
  g_assert_true (sim_run_until (sim, all_delivered, &d, 2 * SEC));
  sim_advance (sim, 3 * SEC);
  for (guint i = 0; i < n; i++)
    {
      GVariant *v;
      gsize len = 0;
      const guint8 *got;

      g_assert_cmpuint (in->counts[i], ==, i == from ? 0 : 1);
      if (i == from)
        continue;
      v = g_ptr_array_index (in->payloads, i);
      g_assert_true (g_variant_is_of_type (v, G_VARIANT_TYPE_BYTESTRING));
      got = g_variant_get_fixed_array (v, &len, 1);
      g_assert_cmpuint (len, ==, size);
      g_assert_true (memcmp (got, data, size) == 0);
    }
  /* Also best effort: too big for a datagram, so it goes over streams. */
  sim_heal (sim);
  inbox_clear (in, n);
  g_assert_true (gossip_cluster_send (sim_node (sim, from)->cluster, MSG_TYPE,
                                      gossip_payload_new_bytes (data, size), GOSSIP_SEND_NONE, &error));
  g_assert_true (sim_run_until (sim, all_delivered, &d, 2 * SEC));
  sim_advance (sim, 3 * SEC);
  for (guint i = 0; i < n; i++)
    g_assert_cmpuint (in->counts[i], ==, i == from ? 0 : 1);
}

/* ------------------------------------------------------------------------ */
/* 11. Hostile input                                                         */
/* ------------------------------------------------------------------------ */

typedef struct {
  guint sent;
  guint null_replies;
} ReplySink;

static void
reply_sink_func (GBytes *frame, gpointer user_data)
{
  ReplySink *s = user_data;
  if (frame == NULL)
    s->null_replies++;
  else
    s->sent++;
}

/* Delivers @frame to node @index as if from member @from. */
static void
inject_from (SimHarness *sim, guint index, guint from, GBytes *frame, gboolean reliable, ReplySink *sink)
{
  GossipTransportReply *reply = NULL;

  if (sink != NULL)
    reply = gossip_transport_reply_new (reply_sink_func, sink, NULL);
  sim_deliver_from (sim, index, from, frame, reliable, reply);
  if (reply != NULL)
    gossip_transport_reply_unref (reply);
}

/* Delivers @frame to node @index as if from the network (a stranger). */
static void
inject (SimHarness *sim, guint index, GBytes *frame, gboolean reliable, ReplySink *sink)
{
  SimNode *node = sim_node (sim, index);
  GossipTransportReply *reply = NULL;

  if (sink != NULL)
    reply = gossip_transport_reply_new (reply_sink_func, sink, NULL);
  gossip_transport_deliver (GOSSIP_TRANSPORT (node->transport), frame, reliable, "10.250.0.1:7946", reply);
  if (reply != NULL)
    gossip_transport_reply_unref (reply);
  sim_iterate (sim);
}

static GossipClusterStats
stats_of (SimHarness *sim, guint index)
{
  GossipClusterStats s;
  gossip_cluster_get_stats (sim_node (sim, index)->cluster, &s);
  return s;
}

static void
test_garbage_frames (void)
{
  const guint n = 4, target = 1;
  g_autoptr(SimHarness) sim = sim_new (14);
  g_autoptr(GossipConfig) config = sim_config_new ();
  g_autoptr(GossipCodec) codec = gossip_codec_new (NULL, FALSE, 0);
  GRand *rand = g_rand_new_with_seed (1234);
  guint64 expect_dropped = 0, expect_rejected = 0, opened = 0;
  GossipClusterStats before, after;
  ReplySink sink = { 0 };

  converge (sim, n, config, SETUP_BOUND);
  before = stats_of (sim, target);

  for (guint i = 0; i < 3000; i++)
    {
      gsize len;
      guint8 *buf;
      g_autoptr(GBytes) frame = NULL;
      g_autoptr(GBytes) body = NULL;
      g_autoptr(GError) error = NULL;
      guint shape = i % 6;

      switch (shape)
        {
        case 0: len = 0; break;
        case 1: len = 1; break;
        default: len = (gsize) g_rand_int_range (rand, 2, 3000); break;
        }
      buf = g_malloc (MAX (len, 1));
      for (gsize k = 0; k < len; k++)
        buf[k] = (guint8) g_rand_int (rand);
      /* Mostly plausible headers, so that the inner decoders see garbage. */
      if (len >= 2 && shape >= 3)
        {
          buf[0] = GOSSIP_FRAME_VERSION;
          buf[1] = shape == 5 ? GOSSIP_FRAME_FLAG_COMPRESSED : 0;
          if (len >= 3 && shape == 4)
            buf[2] = (guint8) (1 + g_rand_int_range (rand, 0, 10));
        }
      frame = g_bytes_new_take (buf, len);
      body = gossip_codec_open (codec, g_bytes_get_data (frame, NULL), len, &error);
      if (body == NULL)
        {
          if (g_error_matches (error, GOSSIP_WIRE_ERROR, GOSSIP_WIRE_ERROR_DECRYPT) ||
              g_error_matches (error, GOSSIP_WIRE_ERROR, GOSSIP_WIRE_ERROR_NOT_ENCRYPTED))
            expect_rejected++;
          else
            expect_dropped++;
        }
      else
        opened++;
      inject (sim, target, frame, g_rand_boolean (rand), g_rand_boolean (rand) ? &sink : NULL);
      if (i % 100 == 0)
        sim_advance (sim, 10 * MSEC);
    }

  /* Oversized: one byte over the frame limit, with a valid header. */
  {
    gsize len = GOSSIP_MAX_FRAME_SIZE + 1;
    guint8 *buf = g_malloc0 (len);
    g_autoptr(GBytes) frame = NULL;

    buf[0] = GOSSIP_FRAME_VERSION;
    frame = g_bytes_new_take (buf, len);
    inject (sim, target, frame, TRUE, NULL);
    expect_dropped++;
  }

  after = stats_of (sim, target);
  g_test_message ("3001 garbage frames: %" G_GUINT64_FORMAT " undecodable frames, %" G_GUINT64_FORMAT
                  " opened; node counted %" G_GUINT64_FORMAT " dropped, %" G_GUINT64_FORMAT " rejected",
                  expect_dropped, opened, after.frames_dropped - before.frames_dropped,
                  after.frames_rejected - before.frames_rejected);
  g_assert_cmpuint (after.frames_received - before.frames_received, >=, 3001);
  g_assert_cmpuint (after.frames_rejected - before.frames_rejected, ==, expect_rejected);
  /* Every undecodable frame is dropped, and so is nearly every opened one
   * (random bytes rarely form a packet). */
  g_assert_cmpuint (after.frames_dropped - before.frames_dropped, >=, expect_dropped);
  g_assert_cmpuint (after.frames_dropped - before.frames_dropped, <=, expect_dropped + opened);
  g_assert_cmpuint (after.messages_delivered, ==, before.messages_delivered);
  g_rand_free (rand);

  /* Still a healthy member. */
  sim_advance (sim, 20 * SEC);
  g_assert_true (sim_converged (sim, NULL));
  g_assert_cmpuint (sim_count_transitions (sim, -1, -1, GOSSIP_NODE_SUSPECT, 0), ==, 0);
}

/* ---- well-formed frames holding malformed packets ---- */

static const guint8 fake_a[GOSSIP_UUID_SIZE] = { 0xfa, 0xce, 1, [15] = 1 };
static const guint8 fake_b[GOSSIP_UUID_SIZE] = { 0xfa, 0xce, 2, [15] = 2 };
static const guint8 no_cursor[GOSSIP_UUID_SIZE] = { 0 };

static void
put_updates (GossipWriter *w)
{
  GossipUpdate u = { 0 };
  g_autoptr(GHashTable) md = _gossip_metadata_new ();
  GossipStrv *tags;
  const char *tag_list[] = { "t1", "t2", NULL };

  g_hash_table_insert (md, g_strdup ("k"), g_strdup ("v"));
  tags = _gossip_strv_new (tag_list);
  gossip_writer_put_u16 (w, 4);
  /* An ALIVE without address about an unknown node is ignored; the rest
   * concern unknown nodes too: all well-formed, all without effect. */
  u.kind = GOSSIP_UPDATE_ALIVE;
  memcpy (u.id, fake_a, GOSSIP_UUID_SIZE);
  u.incarnation = 3;
  u.address = (char *) "";
  u.meta_version = 9;
  u.metadata = md;
  u.tags = tags;
  u.app_version = (char *) "1.0";
  _gossip_update_write (w, &u);
  u.kind = GOSSIP_UPDATE_SUSPECT;
  memcpy (u.from, fake_b, GOSSIP_UUID_SIZE);
  _gossip_update_write (w, &u);
  u.kind = GOSSIP_UPDATE_DEAD;
  _gossip_update_write (w, &u);
  u.kind = GOSSIP_UPDATE_LEAVE;
  _gossip_update_write (w, &u);
  _gossip_strv_unref (tags);
}

static void
put_record (GossipWriter *w, const guint8 *id)
{
  GossipUpdate u = { 0 };

  u.kind = GOSSIP_UPDATE_ALIVE;
  memcpy (u.id, id, GOSSIP_UUID_SIZE);
  u.incarnation = 1;
  u.address = (char *) "";
  u.app_version = (char *) "";
  _gossip_update_write (w, &u);
  gossip_writer_put_u8 (w, GOSSIP_NODE_ALIVE);
}

typedef struct {
  const char *name;
  guint8      kind;
  gboolean    stream;      /* deliver over a stream with a reply handle */
} PacketSpec;

/* @sender: the node the packet claims to be from (sender, requester,
 * origin, the joiner's record); members' packets are only taken from
 * themselves. */
static GBytes *
build_packet (const PacketSpec *spec, const guint8 *target_uuid, const guint8 *sender)
{
  GossipWriter w;
  guint8 payload[] = { 'h', 'i', 0, 's' };

  gossip_writer_init (&w);
  gossip_writer_put_u8 (&w, spec->kind);
  gossip_writer_put_u8 (&w, 0);
  switch (spec->kind)
    {
    case GOSSIP_PACKET_PING:
      gossip_writer_put_u32 (&w, 77);
      gossip_writer_put_raw (&w, target_uuid, GOSSIP_UUID_SIZE);
      gossip_writer_put_raw (&w, sender, GOSSIP_UUID_SIZE);
      gossip_writer_put_string (&w, "10.250.0.1:7946");
      put_updates (&w);
      break;
    case GOSSIP_PACKET_ACK:
      gossip_writer_put_u32 (&w, 77);
      gossip_writer_put_raw (&w, sender, GOSSIP_UUID_SIZE);
      put_updates (&w);
      break;
    case GOSSIP_PACKET_PING_REQ:
      gossip_writer_put_u32 (&w, 77);
      gossip_writer_put_raw (&w, fake_b, GOSSIP_UUID_SIZE);
      gossip_writer_put_string (&w, "10.250.0.2:7946");
      gossip_writer_put_raw (&w, sender, GOSSIP_UUID_SIZE);
      gossip_writer_put_string (&w, "10.250.0.1:7946");
      put_updates (&w);
      break;
    case GOSSIP_PACKET_NACK:
      gossip_writer_put_u32 (&w, 77);
      gossip_writer_put_raw (&w, sender, GOSSIP_UUID_SIZE);
      break;
    case GOSSIP_PACKET_GOSSIP:
      gossip_writer_put_raw (&w, sender, GOSSIP_UUID_SIZE);
      gossip_writer_put_u8 (&w, 3);
      put_updates (&w);
      break;
    case GOSSIP_PACKET_JOIN:
      gossip_writer_put_u8 (&w, GOSSIP_PROTOCOL_VERSION);
      gossip_writer_put_string (&w, "");
      put_record (&w, sender);
      break;
    case GOSSIP_PACKET_JOIN_REPLY:
      gossip_writer_put_u8 (&w, 0);
      gossip_writer_put_string (&w, "");
      /* One page: flags, cursor (none), records. */
      gossip_writer_put_u8 (&w, 0);
      gossip_writer_put_raw (&w, no_cursor, GOSSIP_UUID_SIZE);
      gossip_writer_put_u32 (&w, 1);
      put_record (&w, sender);
      break;
    case GOSSIP_PACKET_PUSH_PULL:
      gossip_writer_put_raw (&w, sender, GOSSIP_UUID_SIZE);
      gossip_writer_put_u8 (&w, 0);   /* an exchange */
      gossip_writer_put_u8 (&w, 0);
      gossip_writer_put_raw (&w, no_cursor, GOSSIP_UUID_SIZE);
      gossip_writer_put_u32 (&w, 2);
      /* In increasing id order. */
      put_record (&w, memcmp (sender, fake_b, GOSSIP_UUID_SIZE) < 0 ? sender : fake_b);
      put_record (&w, memcmp (sender, fake_b, GOSSIP_UUID_SIZE) < 0 ? fake_b : sender);
      break;
    case GOSSIP_PACKET_USER:
      gossip_writer_put_u8 (&w, GOSSIP_USER_FLAG_WANT_REPLY | GOSSIP_USER_FLAG_RELIABLE | GOSSIP_USER_FLAG_TARGET |
                                GOSSIP_USER_FLAG_TAG | GOSSIP_USER_FLAG_BROADCAST);
      gossip_writer_put_u16 (&w, MSG_TYPE);
      gossip_writer_put_raw (&w, sender, GOSSIP_UUID_SIZE);
      gossip_writer_put_u64 (&w, 0x1122334455667788ULL);
      gossip_writer_put_u8 (&w, 3);
      gossip_writer_put_u32 (&w, 1000);
      gossip_writer_put_raw (&w, target_uuid, GOSSIP_UUID_SIZE);
      gossip_writer_put_string (&w, "web");
      gossip_writer_put_blob (&w, payload, sizeof payload);
      break;
    case GOSSIP_PACKET_REPLY:
      gossip_writer_put_u64 (&w, 5);
      gossip_writer_put_u8 (&w, 0);
      gossip_writer_put_string (&w, "");
      gossip_writer_put_blob (&w, payload, sizeof payload);
      break;
    default:
      gossip_writer_put_u32 (&w, 0);
      break;
    }
  return gossip_writer_steal_bytes (&w);
}

static const PacketSpec packet_specs[] = {
  { "ping", GOSSIP_PACKET_PING, FALSE },
  { "ping/stream", GOSSIP_PACKET_PING, TRUE },
  { "ack", GOSSIP_PACKET_ACK, FALSE },
  { "ping-req", GOSSIP_PACKET_PING_REQ, FALSE },
  { "nack", GOSSIP_PACKET_NACK, FALSE },
  { "gossip", GOSSIP_PACKET_GOSSIP, FALSE },
  { "join", GOSSIP_PACKET_JOIN, TRUE },
  { "join-reply", GOSSIP_PACKET_JOIN_REPLY, TRUE },
  { "push-pull", GOSSIP_PACKET_PUSH_PULL, TRUE },
  { "user", GOSSIP_PACKET_USER, TRUE },
  { "user/datagram", GOSSIP_PACKET_USER, FALSE },
  { "reply", GOSSIP_PACKET_REPLY, TRUE },
  { "kind-0", 0, FALSE },
  { "kind-11", 11, TRUE },
  { "kind-255", 255, FALSE },
};

static void
test_malformed_packets (void)
{
  const guint n = 3, target = 1;
  g_autoptr(SimHarness) sim = sim_new (15);
  g_autoptr(GossipConfig) config = sim_config_new ();
  g_autoptr(GossipCodec) codec = NULL;
  guint8 target_uuid[GOSSIP_UUID_SIZE], sender_uuid[GOSSIP_UUID_SIZE];
  const guint sender = 0;
  guint total = 0;

  converge (sim, n, config, SETUP_BOUND);
  g_assert_true (gossip_uuid_parse (sim_node (sim, target)->id, target_uuid));
  /* From a member, in its name: a stranger's packets would be refused
   * before most of them is read (test-hostile-fence.c). */
  g_assert_true (gossip_uuid_parse (sim_node (sim, sender)->id, sender_uuid));
  codec = sim_codec_as (sim, sender, NULL);

  /* Every proper prefix of every packet kind is dropped and counted,
   * inside a well-formed frame, over datagrams and streams. */
  for (guint p = 0; p < G_N_ELEMENTS (packet_specs); p++)
    {
      const PacketSpec *spec = &packet_specs[p];
      g_autoptr(GBytes) body = build_packet (spec, target_uuid, sender_uuid);
      gsize len;
      const guint8 *data = g_bytes_get_data (body, &len);

      for (gsize cut = 0; cut < len; cut++)
        {
          g_autoptr(GBytes) frame = gossip_codec_seal (codec, data, cut, NULL);
          GossipClusterStats before = stats_of (sim, target), after;
          ReplySink sink = { 0 };

          inject_from (sim, target, sender, frame, spec->stream, spec->stream ? &sink : NULL);
          after = stats_of (sim, target);
          if (after.frames_dropped != before.frames_dropped + 1)
            g_error ("%s cut at %" G_GSIZE_FORMAT "/%" G_GSIZE_FORMAT ": frames_dropped %+d",
                     spec->name, cut, len, (int) (after.frames_dropped - before.frames_dropped));
          /* Nothing is answered to a packet that could not be read. */
          g_assert_cmpuint (sink.sent, ==, 0);
          g_assert_cmpuint (after.messages_delivered, ==, before.messages_delivered);
          total++;
        }
      sim_advance (sim, 10 * MSEC);
    }

  /* Corrupt single bytes of each packet (0x00 and 0xff): whatever it
   * turns into, nothing crashes. */
  for (guint p = 0; p < G_N_ELEMENTS (packet_specs); p++)
    {
      const PacketSpec *spec = &packet_specs[p];
      g_autoptr(GBytes) body = build_packet (spec, target_uuid, sender_uuid);
      gsize len;
      const guint8 *data = g_bytes_get_data (body, &len);
      g_autofree guint8 *copy = g_memdup2 (data, len);

      for (gsize pos = 0; pos < len; pos++)
        for (guint v = 0; v < 2; v++)
          {
            g_autoptr(GBytes) frame = NULL;
            guint8 saved = copy[pos];
            ReplySink sink = { 0 };

            copy[pos] = v ? 0xff : 0x00;
            frame = gossip_codec_seal (codec, copy, len, NULL);
            copy[pos] = saved;
            inject_from (sim, target, sender, frame, spec->stream, spec->stream ? &sink : NULL);
            total++;
          }
      sim_advance (sim, 10 * MSEC);
    }
  g_test_message ("%u malformed packets injected", total);

  /* Still a healthy member; whatever fake members the corrupted packets
   * introduced are never alive for long. */
  sim_advance (sim, 60 * SEC);
  g_assert_true (sim_converged (sim, NULL));
  for (guint i = 0; i < n; i++)
    for (guint s = 0; s < n; s++)
      g_assert_cmpint (sim_state (sim, i, s), ==, GOSSIP_NODE_ALIVE);
}

static void
flag_join_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  gint *accepted = user_data;
  g_autoptr(GError) error = NULL;

  *accepted = gossip_cluster_join_finish (GOSSIP_CLUSTER (source), result, &error);
  g_assert_no_error (error);
}

static gboolean
int_set (SimHarness *sim, gpointer data)
{
  return *(gint *) data >= 0;
}

/* A fake peer that answers every JOIN with a truncated JOIN_REPLY. */
typedef struct {
  GBytes *reply_body;
  gsize   cut;
  GBytes *raw;          /* when set: sent as is, not a frame */
  guint   joins;
  GossipCodec *codec;
} FakePeer;

static void
fake_peer_receive (GossipTransport *transport, GBytes *frame, gboolean reliable, const char *from,
                   GossipTransportReply *reply, gpointer user_data)
{
  FakePeer *fp = user_data;
  g_autoptr(GBytes) body = gossip_codec_open (fp->codec, g_bytes_get_data (frame, NULL), g_bytes_get_size (frame), NULL);
  g_autoptr(GBytes) out = NULL;

  if (reply == NULL || body == NULL || ((const guint8 *) g_bytes_get_data (body, NULL))[0] != GOSSIP_PACKET_JOIN)
    return;
  fp->joins++;
  if (fp->raw != NULL)
    out = g_bytes_ref (fp->raw);
  else
    out = gossip_codec_seal (fp->codec, g_bytes_get_data (fp->reply_body, NULL), fp->cut, NULL);
  gossip_transport_reply_send (reply, out);
}

static void
test_bad_join_replies (void)
{
  const guint n = 3, target = 1;
  g_autoptr(SimHarness) sim = sim_new (16);
  g_autoptr(GossipConfig) config = sim_config_new ();
  g_autoptr(GossipTransport) fake = NULL;
  g_autoptr(GError) error = NULL;
  FakePeer fp = { 0 };
  PacketSpec spec = { "join-reply", GOSSIP_PACKET_JOIN_REPLY, TRUE };
  guint8 target_uuid[GOSSIP_UUID_SIZE];
  const char *fake_addr = "10.250.0.9:7946";
  const char *peers[] = { fake_addr, NULL };
  gsize len;

  converge (sim, n, config, SETUP_BOUND);
  g_assert_true (gossip_uuid_parse (sim_node (sim, target)->id, target_uuid));
  fp.codec = gossip_codec_new (NULL, FALSE, 0);
  fp.reply_body = build_packet (&spec, target_uuid, fake_a);
  len = g_bytes_get_size (fp.reply_body);
  fake = gossip_memory_transport_new (sim_get_network (sim), fake_addr);
  gossip_transport_set_receive_func (fake, fake_peer_receive, &fp, NULL);
  g_assert_true (gossip_transport_start (fake, &error));

  for (fp.cut = 0; fp.cut < len; fp.cut++)
    {
      GossipClusterStats before = stats_of (sim, target), after;
      gint accepted = -1;

      gossip_cluster_join_async (sim_node (sim, target)->cluster, peers, NULL, flag_join_cb, &accepted);
      g_assert_true (sim_run_until (sim, int_set, &accepted, 5 * SEC));
      g_assert_cmpint (accepted, ==, 0);
      after = stats_of (sim, target);
      if (after.frames_dropped != before.frames_dropped + 1)
        g_error ("join reply cut at %" G_GSIZE_FORMAT "/%" G_GSIZE_FORMAT ": frames_dropped %+d, rejected %+d",
                 fp.cut, len, (int) (after.frames_dropped - before.frames_dropped),
                 (int) (after.frames_rejected - before.frames_rejected));
      g_assert_cmpuint (after.frames_rejected, ==, before.frames_rejected);
    }
  g_assert_cmpuint (fp.joins, ==, len);

  /* Replies that are not frames at all: dropped (malformed), not counted
   * as failed authentication. */
  {
    static const guint8 bad_version[] = { 1, 0, GOSSIP_PACKET_JOIN_REPLY, 0, 0, 0 };
    static const guint8 bad_flags[] = { GOSSIP_FRAME_VERSION, 0x80, GOSSIP_PACKET_JOIN_REPLY, 0, 0, 0 };
    static const guint8 short_frame[] = { GOSSIP_FRAME_VERSION };
    static const guint8 bad_snappy[] = { GOSSIP_FRAME_VERSION, GOSSIP_FRAME_FLAG_COMPRESSED, 0, 0, 0, 9, 0xff, 0xff };
    const struct { const guint8 *data; gsize len; } raws[] = {
      { bad_version, sizeof bad_version }, { bad_flags, sizeof bad_flags },
      { short_frame, sizeof short_frame }, { bad_snappy, sizeof bad_snappy },
    };

    for (guint i = 0; i < G_N_ELEMENTS (raws); i++)
      {
        GossipClusterStats before = stats_of (sim, target), after;
        gint accepted = -1;

        fp.raw = g_bytes_new_static (raws[i].data, raws[i].len);
        gossip_cluster_join_async (sim_node (sim, target)->cluster, peers, NULL, flag_join_cb, &accepted);
        g_assert_true (sim_run_until (sim, int_set, &accepted, 5 * SEC));
        g_assert_cmpint (accepted, ==, 0);
        after = stats_of (sim, target);
        g_clear_pointer (&fp.raw, g_bytes_unref);
        if (after.frames_dropped != before.frames_dropped + 1 || after.frames_rejected != before.frames_rejected)
          g_error ("raw join reply %u: frames_dropped %+d, rejected %+d", i,
                   (int) (after.frames_dropped - before.frames_dropped),
                   (int) (after.frames_rejected - before.frames_rejected));
      }
  }
  gossip_transport_stop (fake);
  g_bytes_unref (fp.reply_body);
  gossip_codec_unref (fp.codec);
  sim_advance (sim, 10 * SEC);
  g_assert_true (sim_converged (sim, NULL));
}

/* A fake member answering requests with every truncation of a valid
 * REPLY: each request fails with "no reply"; only the whole one succeeds. */
typedef struct {
  GossipCodec *codec;
  gsize        cut;
  gsize        full_len;
  guint        requests;
} FakeResponder;

static GBytes *
build_reply_body (guint64 msg_id)
{
  GossipWriter w;
  g_autoptr(GBytes) payload = gossip_payload_encode (g_variant_new_int64 (42), GOSSIP_MAX_PAYLOAD_SIZE, NULL);
  gsize len;
  const guint8 *data = g_bytes_get_data (payload, &len);

  gossip_writer_init (&w);
  gossip_writer_put_u8 (&w, GOSSIP_PACKET_REPLY);
  gossip_writer_put_u8 (&w, 0);
  gossip_writer_put_u64 (&w, msg_id);
  gossip_writer_put_u8 (&w, GOSSIP_REPLY_OK);
  gossip_writer_put_string (&w, "");
  gossip_writer_put_blob (&w, data, len);
  return gossip_writer_steal_bytes (&w);
}

static void
fake_responder_receive (GossipTransport *transport, GBytes *frame, gboolean reliable, const char *from,
                        GossipTransportReply *reply, gpointer user_data)
{
  FakeResponder *fr = user_data;
  g_autoptr(GBytes) body = gossip_codec_open (fr->codec, g_bytes_get_data (frame, NULL), g_bytes_get_size (frame), NULL);
  g_autoptr(GBytes) out = NULL;
  g_autoptr(GBytes) reply_body = NULL;
  GossipReader r;
  guint8 kind = 0, hflags = 0, flags = 0;
  guint16 type = 0;
  const guint8 *origin = NULL;
  guint64 msg_id = 0;

  if (reply == NULL || body == NULL)
    return;
  gossip_reader_init (&r, g_bytes_get_data (body, NULL), g_bytes_get_size (body));
  if (!gossip_reader_get_u8 (&r, &kind) || kind != GOSSIP_PACKET_USER || !gossip_reader_get_u8 (&r, &hflags) ||
      !gossip_reader_get_u8 (&r, &flags) || !gossip_reader_get_u16 (&r, &type) ||
      !gossip_reader_get_raw (&r, GOSSIP_UUID_SIZE, &origin) || !gossip_reader_get_u64 (&r, &msg_id))
    return;
  fr->requests++;
  reply_body = build_reply_body (msg_id);
  fr->full_len = g_bytes_get_size (reply_body);
  out = gossip_codec_seal (fr->codec, g_bytes_get_data (reply_body, NULL), MIN (fr->cut, fr->full_len), NULL);
  gossip_transport_reply_send (reply, out);
}

static void
test_bad_request_replies (void)
{
  const guint n = 2;
  g_autoptr(SimHarness) sim = sim_new (17);
  g_autoptr(GossipConfig) config = sim_config_new ();
  g_autoptr(GossipTransport) fake = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) join = NULL;
  g_autoptr(GBytes) join_frame = NULL;
  FakeResponder fr = { 0 };
  const char *fake_addr = "10.250.0.7:7946";
  const char *fake_id = "fa7e0000-0000-4000-8000-000000000007";
  guint8 fake_uuid[GOSSIP_UUID_SIZE];
  GossipCluster *c0;
  GossipWriter w;
  GossipUpdate u = { 0 };
  ReqResult r = { 0 };

  converge (sim, n, config, SETUP_BOUND);
  c0 = sim_node (sim, 0)->cluster;
  fr.codec = gossip_codec_new (NULL, FALSE, 0);
  fake = gossip_memory_transport_new (sim_get_network (sim), fake_addr);
  gossip_transport_set_receive_func (fake, fake_responder_receive, &fr, NULL);
  g_assert_true (gossip_transport_start (fake, &error));

  /* The fake joins node 0, so that node 0 knows it. */
  g_assert_true (gossip_uuid_parse (fake_id, fake_uuid));
  gossip_writer_init (&w);
  gossip_writer_put_u8 (&w, GOSSIP_PACKET_JOIN);
  gossip_writer_put_u8 (&w, 0);
  gossip_writer_put_u8 (&w, GOSSIP_PROTOCOL_VERSION);
  gossip_writer_put_string (&w, "");
  u.kind = GOSSIP_UPDATE_ALIVE;
  memcpy (u.id, fake_uuid, GOSSIP_UUID_SIZE);
  u.incarnation = 1;
  u.address = (char *) fake_addr;
  u.app_version = (char *) "";
  _gossip_update_write (&w, &u);
  gossip_writer_put_u8 (&w, GOSSIP_NODE_ALIVE);
  join = gossip_writer_steal_bytes (&w);
  join_frame = gossip_codec_seal (fr.codec, g_bytes_get_data (join, NULL), g_bytes_get_size (join), NULL);
  gossip_transport_send_stream (fake, sim_node (sim, 0)->address, join_frame, TRUE, 1 * SEC, NULL, NULL);
  sim_advance (sim, 100 * MSEC);
  g_assert_cmpint (sim_index_of (sim, fake_id), ==, -1);
  {
    g_autoptr(GossipNode) node = gossip_cluster_get_node (c0, fake_id);
    g_assert_nonnull (node);
    g_assert_cmpint (gossip_node_get_state (node), ==, GOSSIP_NODE_ALIVE);
  }

  r.sim = sim;
  for (fr.cut = 0; fr.requests == 0 || fr.cut <= fr.full_len; fr.cut++)
    {
      gossip_cluster_send_request_async (c0, fake_id, MSG_TYPE, NULL, 1 * SEC, NULL, request_cb, &r);
      g_assert_true (sim_run_until (sim, req_done, &r, 2 * SEC));
      if (fr.cut < fr.full_len)
        g_assert_error (r.error, GOSSIP_CLUSTER_ERROR, GOSSIP_CLUSTER_ERROR_NO_REPLY);
      else
        {
          g_assert_no_error (r.error);
          g_assert_cmpint (g_variant_get_int64 (r.value), ==, 42);
        }
      req_result_clear (&r);
    }
  g_assert_cmpuint (fr.requests, ==, fr.full_len + 1);
  gossip_transport_stop (fake);
  gossip_codec_unref (fr.codec);
}

/* ------------------------------------------------------------------------ */

/* A suspicion counts each accuser once: repeats, and accusations without an
 * accuser (relayed from state exchanges), confirm nothing; each distinct
 * accuser shortens the timeout, down to max(dead_node_timeout / 4, 2 probe
 * periods) with k = indirect_checks confirmations. */
static void
inject_suspect (SimHarness *sim, guint to, const guint8 *subject, guint64 incarnation, const guint8 *from)
{
  /* Relayed by member 1 (only members' gossip is taken), in its name. */
  const guint relay = 1;
  g_autoptr(GossipCodec) codec = sim_codec_as (sim, relay, NULL);
  g_autoptr(GBytes) body = NULL, frame = NULL;
  guint8 relay_id[GOSSIP_UUID_SIZE];
  GossipWriter w;
  GossipUpdate u = { 0 };

  g_assert_true (gossip_uuid_parse (sim_node (sim, relay)->id, relay_id));
  gossip_writer_init (&w);
  gossip_writer_put_u8 (&w, GOSSIP_PACKET_GOSSIP);
  gossip_writer_put_u8 (&w, 0);
  gossip_writer_put_raw (&w, relay_id, GOSSIP_UUID_SIZE);
  gossip_writer_put_u8 (&w, 1);
  gossip_writer_put_u16 (&w, 1);
  u.kind = GOSSIP_UPDATE_SUSPECT;
  memcpy (u.id, subject, GOSSIP_UUID_SIZE);
  u.incarnation = incarnation;
  memcpy (u.from, from, GOSSIP_UUID_SIZE);
  _gossip_update_write (&w, &u);
  body = gossip_writer_steal_bytes (&w);
  frame = gossip_codec_seal (codec, g_bytes_get_data (body, NULL), g_bytes_get_size (body), NULL);
  sim_deliver_from (sim, to, relay, frame, FALSE, NULL);
}

static gboolean
any_suspects_internally (SimHarness *sim, gpointer data)
{
  guint victim = GPOINTER_TO_UINT (data);
  guint8 uuid[GOSSIP_UUID_SIZE];

  g_assert_true (gossip_uuid_parse (sim_node (sim, victim)->id, uuid));
  for (guint i = 0; i < sim_n_nodes (sim); i++)
    {
      guint accusers = 0;
      gint64 timeout = 0;

      if (i != victim && sim_node (sim, i)->running &&
          _gossip_membership_suspicion_info (sim_node (sim, i)->cluster, uuid, &accusers, &timeout))
        return TRUE;
    }
  return FALSE;
}

/* Runs one 6-node cluster to a fault of member 4 and returns when the
 * first survivor suspected it. @kill: the process is gone, so its address
 * refuses streams; otherwise it is black-holed (partitioned away), and
 * every probe of it only times out. */
static gint64
first_suspicion_after_fault (gboolean kill,
                             gint64  *t_fault,
                             guint   *max_health)
{
  const guint n = 6, victim = 4;
  g_autoptr(SimHarness) sim = sim_new (31);
  g_autoptr(GossipConfig) config = sim_config_new ();
  AllSee suspect = { victim, GOSSIP_NODE_SUSPECT, -1 };

  gint64 t_suspect;

  converge (sim, n, config, SETUP_BOUND);
  sim_advance (sim, 3 * SEC);
  *t_fault = sim_now (sim);
  if (kill)
    sim_kill (sim, victim);
  else
    sim_partition (sim, victim, 1);
  /* The first suspicion is internal (shown once confirmed). */
  g_assert_true (sim_run_until (sim, any_suspects_internally, GUINT_TO_POINTER (victim), 30 * SEC));
  t_suspect = sim_now (sim);
  g_assert_true (sim_run_until (sim, any_sees, &suspect, 30 * SEC));
  /* The survivors' health (a black-holed victim blames itself). */
  *max_health = 0;
  for (guint i = 0; i < n; i++)
    if (i != victim)
      *max_health = MAX (*max_health, stats_of (sim, i).local_health);
  return t_suspect;
}

/* A probe whose stream ping is refused concludes at once: nothing listens
 * at the target's address, and its host said so. Two runs from the same
 * seed probe the victim on the same schedule; the killed victim is
 * suspected a good second before the black-holed one, which waits for the
 * probe deadline, and neither raises anyone's local health. */
static void
test_refused (void)
{
  /* The probe deadline on the simulated network (1 ms round trips): its
   * floor, 300 ms (gossip-probe.c). */
  gint64 deadline = 300 * G_TIME_SPAN_MILLISECOND;
  gint64 t_kill, t_cut, s_kill, s_cut;
  guint health_kill, health_cut;

  s_kill = first_suspicion_after_fault (TRUE, &t_kill, &health_kill);
  s_cut = first_suspicion_after_fault (FALSE, &t_cut, &health_cut);
  g_assert_cmpint (t_kill, ==, t_cut);
  g_test_message ("first suspicion %.3f s after a kill, %.3f s after a black hole",
                  secs (s_kill - t_kill), secs (s_cut - t_cut));
  g_assert_cmpint (s_kill, >, t_kill);
  g_assert_cmpint (s_cut - s_kill, >=, deadline / 2);
  /* The refused probe still gave the target a third of the deadline to
   * answer the direct ping. */
  g_assert_cmpint (s_cut - s_kill, <=, deadline - deadline / 3 + 100 * G_TIME_SPAN_MILLISECOND);
  g_assert_cmpuint (health_kill, ==, 0);
  g_assert_cmpuint (health_cut, ==, 0);
}

static void
test_distinct_accusers (void)
{
  const guint n = 6, observer = 0, subject = 5;
  g_autoptr(SimHarness) sim = sim_new (21);
  g_autoptr(GossipConfig) config = sim_config_new ();
  gint64 dnt = config_us (config, "dead_node_timeout");
  gint64 hci = config_us (config, "health_check_interval");
  gint64 sri = config_us (config, "suspect_retry_interval");
  gint64 min = MAX (MAX (dnt / 10, sri), 2 * (hci / 4)), timeout = 0, previous;
  GossipCluster *c;
  guint8 uuid[GOSSIP_UUID_SIZE], accuser[GOSSIP_UUID_SIZE] = { 0xac, [15] = 1 };
  static const guint8 nobody[GOSSIP_UUID_SIZE] = { 0 };
  guint32 inc;
  guint accusers = 0;

  converge (sim, n, config, SETUP_BOUND);
  /* A few probe rounds: the observer has heard from everyone lately, so
   * all of them count as possible confirmers. */
  sim_advance (sim, 5 * SEC);
  c = sim_node (sim, observer)->cluster;
  g_assert_true (gossip_uuid_parse (sim_node (sim, subject)->id, uuid));
  inc = sim_incarnation (sim, observer, subject);
  g_assert_false (_gossip_membership_suspicion_info (c, uuid, &accusers, &timeout));

  /* The first accusation: suspect, full timeout, but not shown yet: an
   * unconfirmed suspicion stays internal (Lifeguard). */
  inject_suspect (sim, observer, uuid, inc, accuser);
  g_assert_cmpint (sim_state (sim, observer, subject), ==, GOSSIP_NODE_ALIVE);
  g_assert_true (_gossip_membership_suspicion_info (c, uuid, &accusers, &timeout));
  g_assert_cmpuint (accusers, ==, 1);
  g_assert_cmpint (timeout, ==, dnt);

  /* The same accuser again, and an anonymous accusation: no change. */
  for (guint i = 0; i < 3; i++)
    inject_suspect (sim, observer, uuid, inc, accuser);
  inject_suspect (sim, observer, uuid, inc, nobody);
  g_assert_true (_gossip_membership_suspicion_info (c, uuid, &accusers, &timeout));
  g_assert_cmpuint (accusers, ==, 1);
  g_assert_cmpint (timeout, ==, dnt);

  /* Each distinct accuser shortens it, down to the minimum at k = 3. */
  previous = timeout;
  for (guint i = 2; i <= 4; i++)
    {
      accuser[15] = (guint8) i;
      inject_suspect (sim, observer, uuid, inc, accuser);
      g_assert_true (_gossip_membership_suspicion_info (c, uuid, &accusers, &timeout));
      g_assert_cmpuint (accusers, ==, i);
      g_assert_cmpint (timeout, <, previous);
      g_assert_cmpint (timeout, >=, min);
      /* Shown once two independent accusers stand behind the first. */
      g_assert_cmpint (sim_state (sim, observer, subject), ==,
                       i >= 3 ? GOSSIP_NODE_SUSPECT : GOSSIP_NODE_ALIVE);
      previous = timeout;
    }
  g_assert_cmpint (timeout, ==, min);

  /* More accusers than are remembered: no harm, still the minimum. */
  for (guint i = 5; i <= 20; i++)
    {
      accuser[15] = (guint8) i;
      inject_suspect (sim, observer, uuid, inc, accuser);
    }
  g_assert_true (_gossip_membership_suspicion_info (c, uuid, &accusers, &timeout));
  g_assert_cmpuint (accusers, ==, 8);
  g_assert_cmpint (timeout, ==, min);

  /* The subject is alive: it hears of the suspicion and refutes it. */
  g_assert_true (sim_run_until (sim, sim_converged, NULL, min));
  g_assert_false (_gossip_membership_suspicion_info (c, uuid, &accusers, &timeout));
  g_assert_cmpuint (sim_count_transitions (sim, -1, (gint) subject, GOSSIP_NODE_DEAD, 0), ==, 0);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_data_func ("/sim/convergence/3", GUINT_TO_POINTER (3), test_convergence);
  g_test_add_data_func ("/sim/convergence/10", GUINT_TO_POINTER (10), test_convergence);
  g_test_add_data_func ("/sim/convergence/100", GUINT_TO_POINTER (100), test_convergence);
  g_test_add_data_func ("/sim/convergence/250", GUINT_TO_POINTER (250), test_convergence);
  g_test_add_func ("/sim/push-pull/period", test_push_pull_period);
  g_test_add_func ("/sim/failure/detection", test_failure_detection);
  g_test_add_func ("/sim/failure/accusers", test_distinct_accusers);
  g_test_add_func ("/sim/failure/refused", test_refused);
  g_test_add_func ("/sim/failure/refute", test_refute);
  g_test_add_func ("/sim/leave", test_leave);
  g_test_add_func ("/sim/metadata", test_metadata);
  g_test_add_func ("/sim/tags", test_tags);
  g_test_add_func ("/sim/loss", test_loss);
  g_test_add_func ("/sim/partition", test_partition);
  g_test_add_func ("/sim/lifeguard", test_lifeguard);
  g_test_add_func ("/sim/messaging/broadcast", test_broadcast);
  g_test_add_func ("/sim/messaging/broadcast-small", test_broadcast_small);
  g_test_add_func ("/sim/messaging/tagged", test_tagged);
  g_test_add_func ("/sim/messaging/requests", test_requests);
  g_test_add_func ("/sim/messaging/large-reliable", test_large_reliable);
  g_test_add_func ("/sim/garbage/frames", test_garbage_frames);
  g_test_add_func ("/sim/garbage/packets", test_malformed_packets);
  g_test_add_func ("/sim/garbage/join-replies", test_bad_join_replies);
  g_test_add_func ("/sim/garbage/request-replies", test_bad_request_replies);
  g_test_add_data_func ("/sim/convergence/1000", GUINT_TO_POINTER (1000), test_convergence);

  return g_test_run ();
}
