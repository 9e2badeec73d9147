/* test-sim-election.c — leader election and node groups on virtual time,
 * over the in-memory network (tests/sim-harness.c).
 *
 * Every scenario counts the events exactly: "elected", "lost",
 * "became-leader" and "stepped-down" per node, "node-added" and
 * "node-removed" per group and per subject. Waits are predicates with
 * virtual deadlines; the "never" assertions sample every node on every
 * simulation step (10 ms virtual). Elections run with the defaults of
 * create_leader_election() (check_interval 1 s, leader_timeout 3 s) unless
 * a scenario says otherwise; clusters use sim_config_fast() unless the
 * scenario is about the default failure detector. Times printed with
 * g_test_message() are virtual.
 *
 * One thing is counted rather than forbidden: right after a partition
 * heals, a majority node may take a stale death rumour about the incumbent
 * from the other side for news until the incumbent refutes it (tens of
 * milliseconds; gossip-membership.c applies a remote "dead" at once). The
 * election must then report exactly one "lost" and one "elected" of that
 * same incumbent per such drop, and nothing else (see drops()).
 *
 * SPDX-License-Identifier: MIT
 */
#include "config.h"

#include <string.h>

#include "sim-harness.h"
#include "gossip-private.h"

#define SEC        G_USEC_PER_SEC
#define MSEC       G_TIME_SPAN_MILLISECOND
#define MAX_NODES  8
#define CHECK      (1 * SEC)
#define TIMEOUT    (3 * SEC)
#define HB_TYPE    GOSSIP_ELECTION_DEFAULT_HEARTBEAT_TYPE
/* Slack on top of the protocol bounds: message latency (<= 2 ms per hop),
 * timer granularity and one simulation step. */
#define MARGIN     (500 * MSEC)

static double
secs (gint64 us)
{
  return (double) us / (double) SEC;
}

/* ------------------------------------------------------------------------ */
/* Elections with exact event counts                                        */
/* ------------------------------------------------------------------------ */

typedef struct {
  guint elected;
  guint lost;
  guint became;
  guint stepped;
  gint  last_elected;       /* node index, -1 none */
  gint  last_lost;
  guint elected_of[MAX_NODES];
} Counts;

typedef struct _World World;

typedef struct {
  World *w;
  guint  index;
} Slot;

struct _World {
  SimHarness           *sim;
  guint                 n;
  GossipLeaderElection *e[MAX_NODES];
  Counts                c[MAX_NODES];
  Slot                  slot[MAX_NODES];
  /* Sampling (see sample_step) */
  guint                 steps;
  guint                 violations;
  char                 *first_violation;
};

static gint
index_of (World *w, const char *id)
{
  gint i = sim_index_of (w->sim, id);
  g_assert_cmpint (i, >=, 0);
  return i;
}

static void
on_elected (GossipLeaderElection *e, const char *id, Slot *s)
{
  Counts *c = &s->w->c[s->index];
  c->elected++;
  c->last_elected = index_of (s->w, id);
  c->elected_of[c->last_elected]++;
  if (g_getenv ("SIM_VERBOSE"))
    g_test_message ("%.3f: node %u: elected %d", secs (sim_now (s->w->sim)), s->index, c->last_elected);
}

static void
on_lost (GossipLeaderElection *e, const char *id, Slot *s)
{
  Counts *c = &s->w->c[s->index];
  c->lost++;
  c->last_lost = index_of (s->w, id);
  if (g_getenv ("SIM_VERBOSE"))
    g_test_message ("%.3f: node %u: lost %d", secs (sim_now (s->w->sim)), s->index, c->last_lost);
}

static void
on_became (GossipLeaderElection *e, const char *id, Slot *s)
{
  g_assert_cmpint (index_of (s->w, id), ==, (gint) s->index);
  s->w->c[s->index].became++;
  if (g_getenv ("SIM_VERBOSE"))
    g_test_message ("%.3f: node %u: became leader", secs (sim_now (s->w->sim)), s->index);
}

static void
on_stepped (GossipLeaderElection *e, const char *id, Slot *s)
{
  g_assert_cmpint (index_of (s->w, id), ==, (gint) s->index);
  s->w->c[s->index].stepped++;
  if (g_getenv ("SIM_VERBOSE"))
    g_test_message ("%.3f: node %u: stepped down", secs (sim_now (s->w->sim)), s->index);
}

static gboolean
joins_done (SimHarness *sim, gpointer data)
{
  for (guint i = 1; i < sim_n_nodes (sim); i++)
    if (!sim_node (sim, i)->join_done)
      return FALSE;
  return TRUE;
}

/* @n nodes joined through node 0, converged. */
static World *
world_new (guint32 seed, guint n, const GossipConfig *config)
{
  World *w = g_new0 (World, 1);
  g_autoptr(GossipConfig) fast = sim_config_fast ();

  g_assert_cmpuint (n, <=, MAX_NODES);
  w->sim = sim_new (seed);
  w->n = n;
  sim_add_nodes (w->sim, n, config != NULL ? config : fast);
  g_assert_true (sim_run_until (w->sim, sim_converged, NULL, 30 * SEC));
  g_assert_true (sim_run_until (w->sim, joins_done, NULL, 10 * SEC));
  for (guint i = 0; i < n; i++)
    {
      w->slot[i] = (Slot) { w, i };
      w->c[i].last_elected = w->c[i].last_lost = -1;
    }
  return w;
}

/* Creates node @i's election (not started). */
static void
world_elect (World *w, guint i, guint pct, GHashTable *criteria)
{
  g_autoptr(GError) error = NULL;

  w->e[i] = gossip_leader_election_new (sim_node (w->sim, i)->cluster, CHECK, TIMEOUT, HB_TYPE, pct,
                                        criteria, &error);
  g_assert_no_error (error);
  g_signal_connect (w->e[i], "elected", G_CALLBACK (on_elected), &w->slot[i]);
  g_signal_connect (w->e[i], "lost", G_CALLBACK (on_lost), &w->slot[i]);
  g_signal_connect (w->e[i], "became-leader", G_CALLBACK (on_became), &w->slot[i]);
  g_signal_connect (w->e[i], "stepped-down", G_CALLBACK (on_stepped), &w->slot[i]);
}

static void
world_start (World *w, guint i)
{
  g_autoptr(GError) error = NULL;

  g_assert_true (gossip_leader_election_start (w->e[i], &error));
  g_assert_no_error (error);
}

/* Elections on every node, all started at the same virtual instant. */
static void
world_elect_all (World *w, guint pct, GHashTable *criteria)
{
  for (guint i = 0; i < w->n; i++)
    world_elect (w, i, pct, criteria);
  for (guint i = 0; i < w->n; i++)
    world_start (w, i);
}

static void
world_free (World *w)
{
  for (guint i = 0; i < w->n; i++)
    if (w->e[i] != NULL)
      {
        gossip_leader_election_stop (w->e[i]);
        g_object_unref (w->e[i]);
      }
  sim_free (w->sim);
  g_free (w->first_violation);
  g_free (w);
}

static gboolean
alive (World *w, guint i)
{
  return sim_node (w->sim, i)->running && w->e[i] != NULL;
}

/* The leader node @i recognises now (valid leader test), or -1. */
static gint
leader_of (World *w, guint i)
{
  g_autofree char *id = gossip_leader_election_get_leader_id (w->e[i]);
  return id != NULL ? index_of (w, id) : -1;
}

typedef struct {
  World *w;
  gint   expect;        /* expected leader, -1: any */
  guint  mask;          /* nodes considered (bit per index); 0: every running one */
} Agree;

static gboolean
in_mask (const Agree *a, guint i)
{
  return a->mask == 0 || (a->mask & (1u << i)) != 0;
}

/* Every considered node has a valid leader, the same, and exactly one of
 * them (the leader) says it is the leader. */
static gboolean
all_agree (SimHarness *sim, gpointer data)
{
  Agree *a = data;
  World *w = a->w;
  gint first = -2;
  guint leaders = 0;

  for (guint i = 0; i < w->n; i++)
    {
      gint l;
      if (!alive (w, i) || !in_mask (a, i))
        continue;
      l = leader_of (w, i);
      if (l < 0 || (first != -2 && l != first))
        return FALSE;
      first = l;
      if (gossip_leader_election_is_leader (w->e[i]))
        {
          if ((gint) i != l)
            return FALSE;
          leaders++;
        }
    }
  return first >= 0 && leaders == 1 && (a->expect < 0 || first == a->expect);
}

static void
dump_world (World *w, const char *what)
{
  g_test_message ("%s at %.3f s:", what, secs (sim_now (w->sim)));
  for (guint i = 0; i < w->n; i++)
    if (w->e[i] != NULL)
      g_test_message ("  node %u%s: leader %d, is_leader %d, term %" G_GUINT64_FORMAT
                      ", elected %u lost %u became %u stepped %u",
                      i, sim_node (w->sim, i)->running ? "" : " (dead)",
                      sim_node (w->sim, i)->running ? leader_of (w, i) : -9,
                      gossip_leader_election_is_leader (w->e[i]), gossip_leader_election_get_term (w->e[i]),
                      w->c[i].elected, w->c[i].lost, w->c[i].became, w->c[i].stepped);
}

/* With SIM_VERBOSE: the state changes seen from @since on. */
static void
dump_states (World *w, gint64 since)
{
  GArray *events = sim_state_events (w->sim);

  if (!g_getenv ("SIM_VERBOSE"))
    return;
  for (guint i = 0; i < events->len; i++)
    {
      SimStateEvent *ev = &g_array_index (events, SimStateEvent, i);
      if (ev->time >= since)
        g_test_message ("%.3f: %u sees %d %s -> %s (incarnation %" G_GUINT64_FORMAT ")", secs (ev->time), ev->observer, ev->subject,
                        gossip_node_state_to_string (ev->old_state), gossip_node_state_to_string (ev->new_state),
                        ev->incarnation);
    }
}

static void
assert_agree_within (World *w, Agree *a, gint64 bound, gint64 *took)
{
  gint64 t0 = sim_now (w->sim);
  gboolean ok = sim_run_until (w->sim, all_agree, a, bound);

  if (!ok)
    dump_world (w, "no agreement");
  g_assert_true (ok);
  if (took != NULL)
    *took = sim_now (w->sim) - t0;
}

static void
assert_counts (World *w, guint i, guint elected, guint lost, guint became, guint stepped)
{
  Counts *c = &w->c[i];

  if (c->elected != elected || c->lost != lost || c->became != became || c->stepped != stepped)
    {
      dump_world (w, "unexpected event counts");
      g_test_message ("node %u: expected elected %u lost %u became %u stepped %u", i, elected, lost, became,
                      stepped);
    }
  g_assert_cmpuint (c->elected, ==, elected);
  g_assert_cmpuint (c->lost, ==, lost);
  g_assert_cmpuint (c->became, ==, became);
  g_assert_cmpuint (c->stepped, ==, stepped);
}

/* How many times @observer saw @subject leave the alive state from @since
 * on (a false suspicion or a stale death rumour after a heal included). */
static guint
drops (World *w, guint observer, guint subject, gint64 since)
{
  GArray *events = sim_state_events (w->sim);
  guint count = 0;

  for (guint i = 0; i < events->len; i++)
    {
      SimStateEvent *ev = &g_array_index (events, SimStateEvent, i);
      if (ev->time >= since && ev->observer == observer && ev->subject == (gint) subject &&
          ev->old_state == GOSSIP_NODE_ALIVE && ev->new_state != GOSSIP_NODE_ALIVE)
        count++;
    }
  return count;
}

/* ---- sampling on every step ------------------------------------------------ */

typedef gboolean (*StepCheck) (World *w, GString *why, gpointer data);

typedef struct {
  World     *w;
  StepCheck  check;
  gpointer   data;
} Sampler;

static gboolean
sample_step (SimHarness *sim, gpointer data)
{
  Sampler *s = data;
  g_autoptr(GString) why = g_string_new (NULL);

  s->w->steps++;
  if (!s->check (s->w, why, s->data))
    {
      if (s->w->violations++ == 0)
        s->w->first_violation = g_strdup_printf ("%.3f s: %s", secs (sim_now (sim)), why->str);
    }
  return FALSE;   /* run to the deadline */
}

/* Runs @duration, checking @check on every step; fails on any violation. */
static void
observe (World *w, gint64 duration, StepCheck check, gpointer data)
{
  Sampler s = { w, check, data };

  w->steps = 0;
  w->violations = 0;
  g_clear_pointer (&w->first_violation, g_free);
  sim_run_until (w->sim, sample_step, &s, duration);
  if (w->violations > 0)
    {
      dump_world (w, "violation");
      g_test_message ("%u violations in %u steps, the first at %s", w->violations, w->steps, w->first_violation);
    }
  g_assert_cmpuint (w->violations, ==, 0);
  g_assert_cmpuint (w->steps, >=, duration / (10 * MSEC));
}

/* Nodes of @mask (all running ones when 0) agree on @expect on this step. */
static gboolean
check_agree (World *w, GString *why, gpointer data)
{
  Agree *a = data;

  if (all_agree (w->sim, a))
    return TRUE;
  g_string_printf (why, "the nodes of mask 0x%x do not agree on %d", a->mask, a->expect);
  return FALSE;
}

/* No node of the mask has any leader nor is one. */
static gboolean
check_none (World *w, GString *why, gpointer data)
{
  Agree *a = data;

  for (guint i = 0; i < w->n; i++)
    {
      if (!alive (w, i) || !in_mask (a, i))
        continue;
      if (gossip_leader_election_has_leader (w->e[i]) || gossip_leader_election_is_leader (w->e[i]))
        {
          g_string_printf (why, "node %u has leader %d (is_leader %d)", i, leader_of (w, i),
                           gossip_leader_election_is_leader (w->e[i]));
          return FALSE;
        }
    }
  return TRUE;
}

/* ------------------------------------------------------------------------ */
/* 1. Five nodes elect exactly one leader                                   */
/* ------------------------------------------------------------------------ */

/* All five start at the same instant. Beside other nodes each listens for
 * one leader_timeout first, then the lowest id (node 0) elects itself: one
 * "elected" per node, one "became-leader" on node 0, nothing else, and it
 * stays that way. */
static void
test_five_agree (void)
{
  World *w = world_new (101, 5, NULL);
  Agree a = { w, 0, 0 };
  gint64 took;

  world_elect_all (w, 60, NULL);
  for (guint i = 0; i < w->n; i++)
    {
      /* Listening: nobody has a leader when start() returns. */
      g_assert_false (gossip_leader_election_is_leader (w->e[i]));
      g_assert_false (gossip_leader_election_has_leader (w->e[i]));
    }
  assert_agree_within (w, &a, TIMEOUT + CHECK + MARGIN, &took);
  g_test_message ("5 nodes: all agree on node 0 after %.3f s (listen period %.1f s)", secs (took),
                  secs (TIMEOUT));
  g_assert_cmpint (took, >=, TIMEOUT - MARGIN);

  observe (w, 20 * SEC, check_agree, &a);
  for (guint i = 0; i < w->n; i++)
    {
      assert_counts (w, i, 1, 0, i == 0, 0);
      g_assert_cmpint (w->c[i].last_elected, ==, 0);
      g_assert_cmpuint (gossip_leader_election_get_term (w->e[i]), ==, 1);
    }
  world_free (w);
}

/* ------------------------------------------------------------------------ */
/* 2. Failover                                                              */
/* ------------------------------------------------------------------------ */

/* Kills the leader (node 0) of an agreed 5-node election; the survivors
 * agree on node 1 within leader_timeout + check_interval + margin, with
 * exactly one "lost" (node 0) and one "elected" (node 1) each, and node 1
 * "became-leader" once. @config NULL: the fast failure detector (the leader
 * is suspected long before its heartbeats time out); otherwise that one. */
static gint64
failover (guint32 seed, const GossipConfig *config)
{
  World *w = world_new (seed, 5, config);
  Agree a = { w, 0, 0 };
  gint64 took;

  world_elect_all (w, 60, NULL);
  assert_agree_within (w, &a, TIMEOUT + CHECK + MARGIN, NULL);
  sim_advance (w->sim, 5 * SEC);

  sim_kill (w->sim, 0);
  a.expect = 1;
  assert_agree_within (w, &a, TIMEOUT + CHECK + MARGIN, &took);
  observe (w, 20 * SEC, check_agree, &a);
  for (guint i = 1; i < w->n; i++)
    {
      assert_counts (w, i, 2, 1, i == 1, 0);
      g_assert_cmpint (w->c[i].last_lost, ==, 0);
      g_assert_cmpint (w->c[i].last_elected, ==, 1);
      g_assert_cmpuint (gossip_leader_election_get_term (w->e[i]), ==, 2);
    }
  world_free (w);
  return took;
}

static void
test_failover_fast_fd (void)
{
  gint64 took = failover (102, NULL);

  g_test_message ("failover (fast failure detector): survivors agree on node 1 %.3f s after the kill "
                  "(bound %.1f s)", secs (took), secs (TIMEOUT + CHECK + MARGIN));
}

/* With the default failure detector (health_check_interval 2 s, suspect
 * timeout 1.5 s) the leader may still be alive in everybody's view when its
 * heartbeats time out: the election itself must not keep a silent leader. */
static void
test_failover_default_fd (void)
{
  g_autoptr(GossipConfig) config = sim_config_new ();
  gint64 took = failover (103, config);

  g_test_message ("failover (default failure detector): survivors agree on node 1 %.3f s after the "
                  "kill (bound %.1f s)", secs (took), secs (TIMEOUT + CHECK + MARGIN));
}

/* With a failure detector slower than the election (a liveness scan every
 * 30 s), the dead leader stays alive in every view long after its
 * heartbeats stopped: the heartbeat timeout alone must move the survivors
 * to a new leader within the same bound. */
static void
test_failover_slow_fd (void)
{
  g_autoptr(GossipConfig) config = sim_config_new ();
  gint64 took;

  sim_config_set (config, "health_check_interval", "30s");
  took = failover (104, config);
  g_test_message ("failover (failure detector slower than the election): survivors agree on node 1 "
                  "%.3f s after the kill (bound %.1f s)", secs (took), secs (TIMEOUT + CHECK + MARGIN));
}

/* ------------------------------------------------------------------------ */
/* 3. Partition 3/2 and heal                                                 */
/* ------------------------------------------------------------------------ */

typedef struct {
  Agree    majority;       /* nodes 0..2 agree on node 0 */
  Agree    minority;       /* nodes 3, 4 */
  gint64   t_part;
  gint64   stale_until;    /* last step a minority node still believed the incumbent */
} Split;

/* During the partition: the majority agrees on the incumbent on every step;
 * no minority node is ever leader, and the only leader a minority node may
 * still believe in is the incumbent, until its heartbeats time out or the
 * failure detector removes it (measured); after that, none at all. */
static gboolean
check_split (World *w, GString *why, gpointer data)
{
  Split *s = data;

  if (!all_agree (w->sim, &s->majority))
    {
      g_string_assign (why, "the majority does not agree on the incumbent");
      return FALSE;
    }
  for (guint i = 3; i < 5; i++)
    {
      gint l = leader_of (w, i);

      if (gossip_leader_election_is_leader (w->e[i]))
        {
          g_string_printf (why, "minority node %u is leader", i);
          return FALSE;
        }
      if (l >= 0 && l != 0)
        {
          g_string_printf (why, "minority node %u follows node %d", i, l);
          return FALSE;
        }
      if (l == 0)
        {
          s->stale_until = sim_now (w->sim);
          if (sim_now (w->sim) - s->t_part > TIMEOUT + CHECK)
            {
              g_string_printf (why, "minority node %u still follows the incumbent", i);
              return FALSE;
            }
        }
    }
  return TRUE;
}

/* After the heal: never two leaders, nobody follows anyone but node 0. */
static gboolean
check_heal (World *w, GString *why, gpointer data)
{
  guint leaders = 0;

  for (guint i = 0; i < w->n; i++)
    {
      gint l = leader_of (w, i);
      leaders += gossip_leader_election_is_leader (w->e[i]);
      if (l >= 0 && l != 0)
        {
          g_string_printf (why, "node %u follows node %d", i, l);
          return FALSE;
        }
    }
  if (leaders != 1 || !gossip_leader_election_is_leader (w->e[0]))
    {
      g_string_printf (why, "%u leaders", leaders);
      return FALSE;
    }
  return TRUE;
}

static void
test_partition_heal (void)
{
  World *w = world_new (104, 5, NULL);
  Split s = { { w, 0, 0x07 }, { w, -1, 0x18 }, 0, 0 };
  Agree everyone = { w, 0, 0 };
  gint64 t_heal, took;
  guint64 term;

  world_elect_all (w, 60, NULL);
  assert_agree_within (w, &everyone, TIMEOUT + CHECK + MARGIN, NULL);
  sim_advance (w->sim, 3 * SEC);
  term = gossip_leader_election_get_term (w->e[0]);
  for (guint i = 0; i < w->n; i++)
    assert_counts (w, i, 1, 0, i == 0, 0);

  /* 0, 1, 2 | 3, 4 for 30 s: the majority keeps its quorum (3 of 5), the
   * minority has 2 of 5 < ceil(5 x 0.6) = 3. */
  s.t_part = sim_now (w->sim);
  for (guint i = 0; i < w->n; i++)
    sim_partition (w->sim, i, i < 3 ? 1 : 2);
  observe (w, 30 * SEC, check_split, &s);
  g_test_message ("3/2 partition: the minority dropped the incumbent %.3f s after the split "
                  "(bound %.1f s), then had no leader for the remaining %.1f s of the partition",
                  secs (s.stale_until - s.t_part), secs (TIMEOUT + CHECK), secs (sim_now (w->sim) - s.stale_until));
  for (guint i = 0; i < 3; i++)
    assert_counts (w, i, 1, 0, i == 0, 0);
  for (guint i = 3; i < 5; i++)
    {
      assert_counts (w, i, 1, 1, 0, 0);
      g_assert_cmpint (w->c[i].last_lost, ==, 0);
      /* Still a known member: the minority counts the majority as dead. */
      g_assert_cmpint (sim_state (w->sim, i, 0), ==, GOSSIP_NODE_DEAD);
    }

  /* Heal: everybody follows the incumbent again, which never changed. */
  sim_heal (w->sim);
  t_heal = sim_now (w->sim);
  assert_agree_within (w, &everyone, 30 * SEC, &took);
  observe (w, 20 * SEC, check_heal, NULL);
  g_test_message ("heal: all 5 agree on the incumbent %.3f s after the heal", secs (took));
  g_assert_true (sim_converged (w->sim, NULL));
  g_assert_cmpuint (gossip_leader_election_get_term (w->e[0]), ==, term);
  /* The majority: nothing new, unless the membership itself made a
   * follower see the incumbent leave alive for a moment (a stale death
   * rumour from the other side): then exactly one "lost" and one
   * "elected" of the same incumbent per such drop, never another node. */
  for (guint i = 0; i < 3; i++)
    {
      guint d = i == 0 ? 0 : drops (w, i, 0, t_heal);
      if (d > 0)
        g_test_message ("majority node %u saw the incumbent leave alive %u times after the heal", i, d);
      assert_counts (w, i, 1 + d, d, i == 0, 0);
      g_assert_cmpuint (w->c[i].elected_of[0], ==, w->c[i].elected);
    }
  for (guint i = 3; i < 5; i++)
    {
      /* Back to the incumbent: exactly one more "elected" (node 0). */
      assert_counts (w, i, 2, 1, 0, 0);
      g_assert_cmpuint (w->c[i].elected_of[0], ==, 2);
      g_assert_cmpuint (gossip_leader_election_get_term (w->e[i]), ==, term);
    }
  world_free (w);
}


static gboolean
none_pred (SimHarness *sim, gpointer data)
{
  Agree *a = data;
  g_autoptr(GString) why = g_string_new (NULL);
  return check_none (a->w, why, a);
}

typedef struct {
  Agree majority;
  Agree minority;
} Sides;

static gboolean
check_sides (World *w, GString *why, gpointer data)
{
  Sides *s = data;
  return check_agree (w, why, &s->majority) && check_none (w, why, &s->minority);
}

/* The incumbent (node 0) ends up on the minority side {0, 4}: it steps
 * down (2 of 5 < 3) and the minority never has a leader from then on; the
 * majority {1, 2, 3} elects node 1 (its lowest id, so every follower's own
 * choice and node 1's agree: exact counts). After the heal node 0, the
 * lowest id, is back: node 1, whose quorum never lapsed, must be kept. */
static void
test_partition_incumbent_in_minority (void)
{
  World *w = world_new (105, 5, NULL);
  Agree everyone = { w, 0, 0 };
  Sides sides = { { w, 1, 0x0e }, { w, -1, 0x11 } };
  gint64 t_part, t_major, t_minor, t_heal, took;
  gint winner;

  world_elect_all (w, 60, NULL);
  assert_agree_within (w, &everyone, TIMEOUT + CHECK + MARGIN, NULL);
  sim_advance (w->sim, 3 * SEC);

  t_part = sim_now (w->sim);
  for (guint i = 0; i < w->n; i++)
    sim_partition (w->sim, i, (i == 0 || i == 4) ? 1 : 2);
  g_assert_true (sim_run_until (w->sim, none_pred, &sides.minority, TIMEOUT + CHECK + MARGIN));
  t_minor = sim_now (w->sim) - t_part;
  assert_agree_within (w, &sides.majority, TIMEOUT + CHECK + MARGIN, NULL);
  t_major = sim_now (w->sim) - t_part;
  observe (w, 25 * SEC, check_sides, &sides);
  g_test_message ("incumbent in the minority: it stepped down %.3f s after the split, the majority "
                  "agreed on node 1 after %.3f s", secs (t_minor), secs (t_major));
  assert_counts (w, 0, 1, 1, 1, 1);
  assert_counts (w, 4, 1, 1, 0, 0);
  for (guint i = 1; i < 4; i++)
    {
      assert_counts (w, i, 2, 1, i == 1, 0);
      g_assert_cmpint (w->c[i].last_elected, ==, 1);
    }

  sim_heal (w->sim);
  t_heal = sim_now (w->sim);
  everyone.expect = -1;
  assert_agree_within (w, &everyone, 30 * SEC, &took);
  observe (w, 20 * SEC, check_agree, &everyone);
  winner = leader_of (w, 0);
  g_test_message ("heal: all 5 agree on node %d %.3f s after the heal", winner, secs (took));
  dump_states (w, t_heal);
  /* Node 1, whose quorum never lapsed, is kept although node 0 has the
   * lower id: node 0 and node 4 listened once their quorum came back. */
  g_assert_cmpint (winner, ==, 1);
  g_assert_cmpuint (gossip_leader_election_get_term (w->e[1]), ==, 2);
  for (guint i = 1; i < 4; i++)
    {
      guint d = i == 1 ? 0 : drops (w, i, 1, t_heal);
      if (d > 0)
        g_test_message ("majority node %u saw the incumbent leave alive %u times after the heal", i, d);
      assert_counts (w, i, 2 + d, 1 + d, i == 1, 0);
      g_assert_cmpuint (w->c[i].elected_of[1], ==, 1 + d);
    }
  assert_counts (w, 0, 2, 1, 1, 1);
  assert_counts (w, 4, 2, 1, 0, 0);
  for (guint i = 0; i < 5; i += 4)
    g_assert_cmpuint (w->c[i].elected_of[1], ==, 1);
  world_free (w);
}

/* ------------------------------------------------------------------------ */
/* 4. A lone node                                                           */
/* ------------------------------------------------------------------------ */

typedef struct {
  guint  observer;
  guint  subject;
  gint   state;
} Sees;

static gboolean
sees (SimHarness *sim, gpointer data)
{
  Sees *s = data;
  return sim_state (sim, s->observer, s->subject) == s->state;
}

/* A 3-node membership, two crash: with quorum 60 the survivor (1 alive of
 * 3 known, 2 required) elects no one, when started after the crash as well
 * as when it was the leader (it steps down). Once the dead records are
 * reaped (node_retention_time) the membership it knows is itself: 1 of 1,
 * it leads (D21). */
static void
test_lone_node_after_crash (void)
{
  g_autoptr(GossipConfig) config = sim_config_fast ();
  World *w;
  Agree lone = { NULL, -1, 0x01 };
  Sees dead1 = { 0, 1, GOSSIP_NODE_DEAD }, dead2 = { 0, 2, GOSSIP_NODE_DEAD };

  sim_config_set (config, "node_retention_time", "40s");
  w = world_new (106, 3, config);
  lone.w = w;
  sim_kill (w->sim, 1);
  sim_kill (w->sim, 2);
  g_assert_true (sim_run_until (w->sim, sees, &dead1, 20 * SEC));
  g_assert_true (sim_run_until (w->sim, sees, &dead2, 20 * SEC));

  world_elect (w, 0, 60, NULL);
  world_start (w, 0);
  /* The first check ran: alone among 3 known, no listening, no leader. */
  g_assert_false (gossip_leader_election_is_leader (w->e[0]));
  g_assert_false (gossip_leader_election_has_leader (w->e[0]));
  observe (w, 20 * SEC, check_none, &lone);
  assert_counts (w, 0, 0, 0, 0, 0);

  /* The dead are forgotten 40 s after they died: now 1 of 1 known. */
  lone.expect = 0;
  assert_agree_within (w, &lone, 40 * SEC, NULL);
  g_assert_cmpuint (gossip_cluster_count_all (sim_node (w->sim, 0)->cluster), ==, 1);
  assert_counts (w, 0, 1, 0, 1, 0);
  world_free (w);
}

/* The same with the lone node leading when the others crash: it steps down
 * ("stepped-down" then "lost", once each) and stays without a leader. */
static void
test_lone_leader_steps_down (void)
{
  World *w = world_new (107, 3, NULL);
  Agree all = { w, 0, 0 }, lone = { w, -1, 0x01 };
  gint64 t0;

  world_elect_all (w, 60, NULL);
  assert_agree_within (w, &all, TIMEOUT + CHECK + MARGIN, NULL);
  t0 = sim_now (w->sim);
  sim_kill (w->sim, 1);
  sim_kill (w->sim, 2);
  g_assert_true (sim_run_until (w->sim, none_pred, &lone, 30 * SEC));
  g_test_message ("lone leader: stepped down %.3f s after the crash of the other two", secs (sim_now (w->sim) - t0));
  observe (w, 20 * SEC, check_none, &lone);
  assert_counts (w, 0, 1, 1, 1, 1);
  g_assert_cmpint (w->c[0].last_lost, ==, 0);
  world_free (w);
}

/* Graceful leaves do not count (D21): after the two others left, the
 * leader (2 then 1 of 1 known) keeps leading without any event. */
static gboolean
left_done (SimHarness *sim, gpointer data)
{
  return sim_node (sim, 1)->leave_done && sim_node (sim, 2)->leave_done;
}

static void
test_graceful_leave_keeps_quorum (void)
{
  World *w = world_new (108, 3, NULL);
  Agree all = { w, 0, 0 }, lone = { w, 0, 0x01 };

  world_elect_all (w, 60, NULL);
  assert_agree_within (w, &all, TIMEOUT + CHECK + MARGIN, NULL);
  gossip_leader_election_stop (w->e[1]);
  gossip_leader_election_stop (w->e[2]);
  sim_leave (w->sim, 1);
  sim_leave (w->sim, 2);
  g_assert_true (sim_run_until (w->sim, left_done, NULL, 30 * SEC));
  sim_kill (w->sim, 1);
  sim_kill (w->sim, 2);
  observe (w, 30 * SEC, check_agree, &lone);
  assert_counts (w, 0, 1, 0, 1, 0);
  world_free (w);
}

/* ------------------------------------------------------------------------ */
/* 4b. The eligible set outlives the member table                           */
/* ------------------------------------------------------------------------ */

static void
get_stats (World *w, guint i, GossipLeaderElectionStats *st)
{
  gossip_leader_election_get_stats (w->e[i], st);
}

static void
assert_eligible (World *w, guint i, guint eligible, guint quorum)
{
  GossipLeaderElectionStats st;

  get_stats (w, i, &st);
  if (st.eligible != eligible || st.quorum != quorum)
    dump_world (w, "unexpected eligible set");
  g_assert_cmpuint (st.eligible, ==, eligible);
  g_assert_cmpuint (st.quorum, ==, quorum);
}

typedef struct {
  guint   minority;          /* mask */
  gint    incumbent;
  gint    successor;         /* the majority's leader once settled */
  gint64  t_part;
  guint   max_leaders;
} LongSplit;

/* At most one node says it leads, at every instant; from
 * leader_timeout + check_interval after the split on, no minority node
 * leads or follows anyone; from twice that on, the majority agrees on its
 * leader. */
static gboolean
check_long_split (World *w, GString *why, gpointer data)
{
  LongSplit *ls = data;
  gint64 since = sim_now (w->sim) - ls->t_part;
  Agree majority = { w, ls->successor, 0x1f & ~ls->minority };
  guint leaders = 0;

  for (guint i = 0; i < w->n; i++)
    leaders += gossip_leader_election_is_leader (w->e[i]);
  ls->max_leaders = MAX (ls->max_leaders, leaders);
  if (leaders > 1)
    {
      g_string_printf (why, "%u leaders", leaders);
      return FALSE;
    }
  for (guint i = 0; i < w->n; i++)
    if ((ls->minority & (1u << i)) != 0 && since > TIMEOUT + CHECK &&
        (gossip_leader_election_is_leader (w->e[i]) || gossip_leader_election_has_leader (w->e[i])))
      {
        g_string_printf (why, "minority node %u has leader %d (is_leader %d)", i, leader_of (w, i),
                         gossip_leader_election_is_leader (w->e[i]));
        return FALSE;
      }
  if (since > 2 * (TIMEOUT + CHECK) && !all_agree (w->sim, &majority))
    {
      g_string_printf (why, "the majority does not agree on node %d", ls->successor);
      return FALSE;
    }
  return TRUE;
}

static gboolean
forgotten (SimHarness *sim, gpointer data)
{
  /* Every minority node has reaped the majority's records. */
  LongSplit *ls = data;

  for (guint i = 0; i < sim_n_nodes (sim); i++)
    for (guint j = 0; j < sim_n_nodes (sim); j++)
      if ((ls->minority & (1u << i)) != 0 && (ls->minority & (1u << j)) == 0 && sim_state (sim, i, j) != -1)
        return FALSE;
  return TRUE;
}

/* 5 nodes split 2|3 for 60 s with node_retention_time 10 s: each side
 * reaps the other's records some 15 s into the split, and the minority
 * would then count 2 of 2. It must never lead: the eligible set still
 * holds all 5 (quorum 3). The heal brings back one leader: the incumbent
 * when it was in the majority, else the majority's successor, whose quorum
 * never lapsed. */
static void
long_partition (guint32 seed, gboolean incumbent_in_minority)
{
  g_autoptr(GossipConfig) config = sim_config_fast ();
  World *w;
  Agree everyone = { NULL, 0, 0 };
  LongSplit ls = { incumbent_in_minority ? 0x11 : 0x18, 0, incumbent_in_minority ? 1 : 0, 0, 0 };
  gint64 t_forgotten, took;
  guint64 term;

  sim_config_set (config, "node_retention_time", "10s");
  w = world_new (seed, 5, config);
  everyone.w = w;
  world_elect_all (w, 60, NULL);
  assert_agree_within (w, &everyone, TIMEOUT + CHECK + MARGIN, NULL);
  sim_advance (w->sim, 3 * SEC);
  term = gossip_leader_election_get_term (w->e[0]);
  for (guint i = 0; i < w->n; i++)
    assert_eligible (w, i, 5, 3);

  ls.t_part = sim_now (w->sim);
  for (guint i = 0; i < w->n; i++)
    sim_partition (w->sim, i, (ls.minority & (1u << i)) != 0 ? 1 : 2);
  g_assert_true (sim_run_until (w->sim, forgotten, &ls, 40 * SEC));
  t_forgotten = sim_now (w->sim) - ls.t_part;
  observe (w, 60 * SEC - t_forgotten, check_long_split, &ls);
  g_test_message ("2|3 split, incumbent in the %s: the minority reaped the majority's records %.3f s "
                  "into the split and still had no leader %.3f s in; at most %u leader at any step",
                  incumbent_in_minority ? "minority" : "majority", secs (t_forgotten),
                  secs (sim_now (w->sim) - ls.t_part), ls.max_leaders);
  for (guint i = 0; i < w->n; i++)
    {
      g_assert_cmpuint (gossip_cluster_count_all (sim_node (w->sim, i)->cluster), ==,
                        (ls.minority & (1u << i)) != 0 ? 2 : 3);
      assert_eligible (w, i, 5, 3);
    }

  /* Each side has forgotten the other: seeds bring them together (the
   * minority's nodes rejoin by themselves when node 0 is on the other
   * side; otherwise the majority is joined to node 0 here). */
  sim_heal (w->sim);
  if (incumbent_in_minority)
    for (guint i = 1; i < 4; i++)
      sim_join (w->sim, i, 0);
  everyone.expect = ls.successor;
  assert_agree_within (w, &everyone, 30 * SEC, &took);
  observe (w, 20 * SEC, check_agree, &everyone);
  g_test_message ("heal: all 5 agree on node %d %.3f s after the heal", ls.successor, secs (took));
  for (guint i = 0; i < w->n; i++)
    {
      assert_eligible (w, i, 5, 3);
      g_assert_cmpuint (gossip_leader_election_get_term (w->e[i]), ==, term + (incumbent_in_minority ? 1 : 0));
      /* Nobody ever followed a minority node. */
      for (guint j = 0; j < w->n; j++)
        if ((ls.minority & (1u << j)) != 0 && (gint) j != ls.incumbent)
          g_assert_cmpuint (w->c[i].elected_of[j], ==, 0);
    }
  for (guint i = 0; i < w->n; i++)
    if ((ls.minority & (1u << i)) != 0)
      g_assert_cmpuint (w->c[i].became, ==, (gint) i == ls.incumbent);
  world_free (w);
}

static void
test_long_partition_majority (void)
{
  long_partition (111, FALSE);
}

static void
test_long_partition_minority (void)
{
  long_partition (112, TRUE);
}

/* Three of five leave gracefully... two, here: the set shrinks to 3 as
 * each is seen leaving (quorum 2), and stays so once they are reaped. A
 * crash after that leaves 2 of 3: a leader still. Then the crashed node is
 * reaped and keeps counting (2 of 3 still). */
static gboolean
two_left (SimHarness *sim, gpointer data)
{
  return sim_node (sim, 3)->leave_done && sim_node (sim, 4)->leave_done;
}

static void
test_leave_shrinks (void)
{
  g_autoptr(GossipConfig) config = sim_config_fast ();
  World *w;
  Agree all = { NULL, 0, 0 }, rest = { NULL, 0, 0x03 };
  Sees gone = { 0, 4, -1 }, gone2 = { 0, 2, -1 };

  sim_config_set (config, "node_retention_time", "10s");
  w = world_new (113, 5, config);
  all.w = rest.w = w;
  world_elect_all (w, 60, NULL);
  assert_agree_within (w, &all, TIMEOUT + CHECK + MARGIN, NULL);
  assert_eligible (w, 0, 5, 3);

  for (guint i = 3; i < 5; i++)
    {
      gossip_leader_election_stop (w->e[i]);
      sim_leave (w->sim, i);
    }
  g_assert_true (sim_run_until (w->sim, two_left, NULL, 30 * SEC));
  sim_kill (w->sim, 3);
  sim_kill (w->sim, 4);
  for (guint i = 0; i < 3; i++)
    assert_eligible (w, i, 3, 2);
  g_assert_true (sim_run_until (w->sim, sees, &gone, 40 * SEC));
  for (guint i = 0; i < 3; i++)
    assert_eligible (w, i, 3, 2);

  /* 2 of 3 alive: the leader stays, through the reaping of the crashed node. */
  sim_kill (w->sim, 2);
  observe (w, 5 * SEC, check_agree, &rest);
  g_assert_true (sim_run_until (w->sim, sees, &gone2, 40 * SEC));
  observe (w, 10 * SEC, check_agree, &rest);
  for (guint i = 0; i < 2; i++)
    {
      assert_eligible (w, i, 3, 2);
      assert_counts (w, i, 1, 0, i == 0, 0);
    }
  world_free (w);
}

/* A 3-node election loses two members to crashes: the survivor steps down
 * and, unlike a member table, its eligible set does not forget them when
 * their records are reaped. gossip_leader_election_forget() is how an
 * operator shrinks it: one forgotten, 1 of 2 (quorum 2), no leader; both,
 * 1 of 1, it leads. */
static void
test_forget (void)
{
  g_autoptr(GossipConfig) config = sim_config_fast ();
  g_autoptr(GError) error = NULL;
  World *w;
  Agree all = { NULL, 0, 0 }, lone = { NULL, -1, 0x01 };
  Sees gone1 = { 0, 1, -1 }, gone2 = { 0, 2, -1 };
  const char *id0, *id1, *id2;
  gint64 took;

  sim_config_set (config, "node_retention_time", "10s");
  w = world_new (114, 3, config);
  all.w = lone.w = w;
  id0 = sim_node (w->sim, 0)->id;
  id1 = sim_node (w->sim, 1)->id;
  id2 = sim_node (w->sim, 2)->id;
  world_elect_all (w, 60, NULL);
  assert_agree_within (w, &all, TIMEOUT + CHECK + MARGIN, NULL);

  /* A member alive or suspect cannot be forgotten, nor an unknown id. */
  g_assert_false (gossip_leader_election_forget (w->e[0], id1, &error));
  g_assert_error (error, GOSSIP_CLUSTER_ERROR, GOSSIP_CLUSTER_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  g_assert_false (gossip_leader_election_forget (w->e[0], id0, &error));
  g_assert_error (error, GOSSIP_CLUSTER_ERROR, GOSSIP_CLUSTER_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  g_assert_false (gossip_leader_election_forget (w->e[0], "00000000-0000-7000-8000-0000000000ff", &error));
  g_assert_error (error, GOSSIP_CLUSTER_ERROR, GOSSIP_CLUSTER_ERROR_NODE_NOT_FOUND);
  g_clear_error (&error);

  sim_kill (w->sim, 1);
  sim_kill (w->sim, 2);
  g_assert_true (sim_run_until (w->sim, sees, &gone1, 40 * SEC));
  g_assert_true (sim_run_until (w->sim, sees, &gone2, 40 * SEC));
  g_assert_cmpuint (gossip_cluster_count_all (sim_node (w->sim, 0)->cluster), ==, 1);
  observe (w, 30 * SEC, check_none, &lone);
  assert_eligible (w, 0, 3, 2);
  assert_counts (w, 0, 1, 1, 1, 1);

  g_assert_true (gossip_leader_election_forget (w->e[0], id1, &error));
  g_assert_no_error (error);
  g_assert_false (gossip_leader_election_forget (w->e[0], id1, &error));
  g_assert_error (error, GOSSIP_CLUSTER_ERROR, GOSSIP_CLUSTER_ERROR_NODE_NOT_FOUND);
  g_clear_error (&error);
  assert_eligible (w, 0, 2, 2);
  observe (w, 5 * SEC, check_none, &lone);

  g_assert_true (gossip_leader_election_forget (w->e[0], id2, &error));
  g_assert_no_error (error);
  assert_eligible (w, 0, 1, 1);
  lone.expect = 0;
  assert_agree_within (w, &lone, CHECK + MARGIN, &took);
  g_test_message ("forget: the lone survivor leads %.3f s after the second forget", secs (took));
  observe (w, 10 * SEC, check_agree, &lone);
  assert_counts (w, 0, 2, 1, 2, 1);
  world_free (w);
}

/* The set is capped: with room for 3, node 0 counts 3 of the 5 members
 * (quorum 2) and reports the 2 left out at every check. */
static void
test_eligible_cap (void)
{
  World *w = world_new (115, 5, NULL);
  GossipLeaderElectionStats st;

  for (guint i = 0; i < w->n; i++)
    world_elect (w, i, 60, NULL);
  _gossip_leader_election_set_max_eligible (w->e[0], 3);
  for (guint i = 0; i < w->n; i++)
    world_start (w, i);
  sim_advance (w->sim, 3 * CHECK);
  get_stats (w, 0, &st);
  g_assert_cmpuint (st.eligible, ==, 3);
  g_assert_cmpuint (st.quorum, ==, 2);
  g_assert_cmpuint (st.eligible_left_out, ==, 2);
  get_stats (w, 1, &st);
  g_assert_cmpuint (st.eligible, ==, 5);
  g_assert_cmpuint (st.eligible_left_out, ==, 0);
  world_free (w);
}

/* ------------------------------------------------------------------------ */
/* 4c. Term fencing                                                         */
/* ------------------------------------------------------------------------ */

/* A heartbeat in node @from's name (what a forger, or a corrupt member,
 * would send), reliably to every member. */
static void
forge_heartbeat (World *w, guint from, guint64 term)
{
  g_autoptr(GError) error = NULL;
  GVariantBuilder b;

  g_variant_builder_init (&b, G_VARIANT_TYPE ("a{sv}"));
  g_variant_builder_add (&b, "{sv}", "term", g_variant_new_int64 ((gint64) term));
  g_variant_builder_add (&b, "{sv}", "ts", g_variant_new_int64 (sim_now (w->sim)));
  g_assert_true (_gossip_cluster_send_internal (sim_node (w->sim, from)->cluster, NULL, HB_TYPE,
                                                g_variant_builder_end (&b), GOSSIP_SEND_RELIABLE, &error));
  g_assert_no_error (error);
}

static guint64
refused (World *w, guint i)
{
  GossipLeaderElectionStats st;

  get_stats (w, i, &st);
  return st.terms_refused;
}

static gboolean
followed_3 (SimHarness *sim, gpointer data)
{
  World *w = data;

  for (guint i = 0; i < w->n; i++)
    if (i != 3 && w->c[i].elected_of[3] == 0)
      return FALSE;
  return TRUE;
}

/* Five nodes follow node 0. A heartbeat in node 3's name with term
 * G_MAXINT64, then one just above the bound: both refused and counted by
 * every receiver, nobody changes leader. One exactly at the bound is
 * accepted (node 3 "leads" and stays silent); the election regains exactly
 * one leader, node 0, under a higher term, node 3 included (it never got
 * the forged heartbeat, and catches up on the refused jump). */
static void
test_forged_terms (void)
{
  World *w = world_new (116, 5, NULL);
  Agree all = { w, 0, 0 };
  guint64 term, known;
  gint64 took;

  world_elect_all (w, 60, NULL);
  assert_agree_within (w, &all, TIMEOUT + CHECK + MARGIN, NULL);
  term = gossip_leader_election_get_term (w->e[0]);

  forge_heartbeat (w, 3, G_MAXINT64);
  observe (w, 10 * SEC, check_agree, &all);
  for (guint i = 0; i < w->n; i++)
    {
      if (i != 3)
        g_assert_cmpuint (refused (w, i), ==, 1);
      assert_counts (w, i, 1, 0, i == 0, 0);
      g_assert_cmpuint (gossip_leader_election_get_term (w->e[i]), <, G_MAXINT64 / 2);
    }

  known = gossip_leader_election_get_term (w->e[1]);
  forge_heartbeat (w, 3, known + GOSSIP_ELECTION_MAX_TERM_JUMP + 1);
  observe (w, 10 * SEC, check_agree, &all);
  for (guint i = 0; i < w->n; i++)
    {
      if (i != 3)
        g_assert_cmpuint (refused (w, i), ==, 2);
      assert_counts (w, i, 1, 0, i == 0, 0);
    }

  known = gossip_leader_election_get_term (w->e[1]);
  forge_heartbeat (w, 3, known + GOSSIP_ELECTION_MAX_TERM_JUMP);
  g_assert_true (sim_run_until (w->sim, followed_3, w, SEC));
  assert_agree_within (w, &all, 2 * (TIMEOUT + CHECK) + MARGIN, &took);
  observe (w, 10 * SEC, check_agree, &all);
  g_test_message ("forged terms: G_MAXINT64 and bound + 1 refused; after one at the bound, all agree on "
                  "node 0 again %.3f s later, at term %" G_GUINT64_FORMAT " (was %" G_GUINT64_FORMAT ")",
                  secs (took), gossip_leader_election_get_term (w->e[0]), term);
  for (guint i = 0; i < w->n; i++)
    {
      g_assert_cmpuint (gossip_leader_election_get_term (w->e[i]), >, known);
      g_assert_cmpuint (gossip_leader_election_get_term (w->e[i]), <, G_MAXINT64 / 2);
      if (i != 3)
        {
          g_assert_cmpuint (refused (w, i), ==, 2);
          g_assert_cmpuint (w->c[i].elected_of[3], ==, 1);
        }
    }
  g_assert_cmpuint (w->c[0].became, ==, 2);
  world_free (w);
}

/* Terms at the end of their range (set here: no sequence of heartbeats
 * within the bound gets there): the leader dies, node 1 takes over at
 * G_MAXINT64 (saturated, not wrapped negative, which every follower would
 * refuse), then node 1 dies and node 2 takes over at the same term, the
 * ties going by id. */
static void
test_term_saturates (void)
{
  World *w = world_new (117, 5, NULL);
  Agree all = { w, 0, 0 };

  world_elect_all (w, 60, NULL);
  for (guint i = 0; i < w->n; i++)
    _gossip_leader_election_set_term (w->e[i], G_MAXINT64 - 1);
  assert_agree_within (w, &all, TIMEOUT + CHECK + MARGIN, NULL);
  for (guint k = 0; k < 2; k++)
    {
      sim_kill (w->sim, k);
      all.expect = k + 1;
      assert_agree_within (w, &all, TIMEOUT + CHECK + MARGIN, NULL);
      observe (w, 10 * SEC, check_agree, &all);
      for (guint i = k + 1; i < w->n; i++)
        g_assert_cmpuint (gossip_leader_election_get_term (w->e[i]), ==, G_MAXINT64);
    }
  world_free (w);
}

/* ------------------------------------------------------------------------ */
/* 5. Quorum edges                                                          */
/* ------------------------------------------------------------------------ */

typedef struct {
  guint n;          /* known membership */
  guint crashed;    /* nodes 0 .. crashed-1 crash (the leader among them) */
  guint pct;
} Edge;

/* max(1, ceil(known x pct / 100)), in integers. */
static guint
required_for (guint known, guint pct)
{
  return MAX (1u, (known * pct + 99) / 100);
}

static void
test_quorum_edge (gconstpointer data)
{
  const Edge *edge = data;
  World *w = world_new (200 + edge->n * 10 + edge->crashed + edge->pct * 100, edge->n, NULL);
  guint survivors = edge->n - edge->crashed;
  guint required = required_for (edge->n, edge->pct);
  gboolean expect_leader = survivors >= required;
  Agree all = { w, 0, 0 };
  Agree rest = { w, expect_leader ? (gint) edge->crashed : -1, 0 };

  g_assert_cmpuint (edge->n, >, edge->crashed);
  world_elect_all (w, edge->pct, NULL);
  assert_agree_within (w, &all, TIMEOUT + CHECK + MARGIN, NULL);
  for (guint i = 0; i < edge->crashed; i++)
    sim_kill (w->sim, i);

  if (expect_leader)
    {
      gint64 took = 0;
      if (edge->crashed > 0)
        assert_agree_within (w, &rest, TIMEOUT + CHECK + MARGIN, &took);
      observe (w, 15 * SEC, check_agree, &rest);
      g_test_message ("quorum %u%%, %u known, %u crashed: %u alive >= %u required: node %u leads "
                      "(after %.3f s)", edge->pct, edge->n, edge->crashed, survivors, required, edge->crashed,
                      secs (took));
    }
  else
    {
      g_assert_true (sim_run_until (w->sim, none_pred, &rest, TIMEOUT + CHECK + MARGIN));
      observe (w, 15 * SEC, check_none, &rest);
      g_test_message ("quorum %u%%, %u known, %u crashed: %u alive < %u required: no leader",
                      edge->pct, edge->n, edge->crashed, survivors, required);
    }

  for (guint i = edge->crashed; i < edge->n; i++)
    {
      if (edge->crashed == 0)
        assert_counts (w, i, 1, 0, i == 0, 0);
      else if (expect_leader)
        assert_counts (w, i, 2, 1, i == edge->crashed, 0);
      else
        assert_counts (w, i, 1, 1, 0, 0);
    }
  world_free (w);
}

/* ------------------------------------------------------------------------ */
/* 6. Metadata criteria                                                     */
/* ------------------------------------------------------------------------ */

typedef struct {
  const char *key;
  const char *value;    /* NULL: absent */
  guint       subject;
} MetaSeen;

/* Every running node sees @subject's @key as @value. */
static gboolean
meta_seen (SimHarness *sim, gpointer data)
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

static void
set_meta (SimHarness *sim, guint i, const char *key, const char *value)
{
  g_autoptr(GError) error = NULL;
  MetaSeen m = { key, value, i };

  g_assert_true (gossip_cluster_set_metadata (sim_node (sim, i)->cluster, key, value, &error));
  g_assert_no_error (error);
  g_assert_true (sim_run_until (sim, meta_seen, &m, 10 * SEC));
}

static GHashTable *
criteria_new (const char *key, const char *value)
{
  GHashTable *h = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  g_hash_table_insert (h, g_strdup (key), g_strdup (value));
  return h;
}

/* Nodes 2, 3, 4 are candidates, 0 and 1 are not: everybody follows node 2
 * (the lowest eligible), the ineligible nodes never lead. Node 2 stops
 * matching: it steps down, everybody moves to node 3. Node 2 matches again:
 * the incumbent, node 3, is kept. */
static void
test_criteria (void)
{
  World *w = world_new (109, 5, NULL);
  g_autoptr(GHashTable) crit = criteria_new ("role", "~candidate");
  Agree a = { w, 2, 0 };
  gint64 took;

  for (guint i = 2; i < 5; i++)
    set_meta (w->sim, i, "role", i == 4 ? "candidate-b" : "candidate");
  set_meta (w->sim, 0, "role", "observer");
  world_elect_all (w, 60, crit);
  assert_agree_within (w, &a, TIMEOUT + CHECK + MARGIN, NULL);
  observe (w, 10 * SEC, check_agree, &a);
  for (guint i = 0; i < 5; i++)
    assert_counts (w, i, 1, 0, i == 2, 0);

  /* The leader stops matching. */
  g_assert_true (gossip_cluster_set_metadata (sim_node (w->sim, 2)->cluster, "role", "retired", NULL));
  a.expect = 3;
  assert_agree_within (w, &a, CHECK + MARGIN, &took);
  g_test_message ("criteria: node 2 stopped matching; all follow node 3 %.3f s later", secs (took));
  observe (w, 10 * SEC, check_agree, &a);
  for (guint i = 0; i < 5; i++)
    {
      assert_counts (w, i, 2, 1, (i == 2) + (i == 3), i == 2);
      g_assert_cmpint (w->c[i].last_lost, ==, 2);
      g_assert_cmpint (w->c[i].last_elected, ==, 3);
    }

  /* It matches again, with a lower id than the incumbent: no change. */
  set_meta (w->sim, 2, "role", "candidate");
  observe (w, 15 * SEC, check_agree, &a);
  for (guint i = 0; i < 5; i++)
    assert_counts (w, i, 2, 1, (i == 2) + (i == 3), i == 2);
  world_free (w);
}

/* ------------------------------------------------------------------------ */
/* 7. Node groups                                                           */
/* ------------------------------------------------------------------------ */

typedef struct _Groups Groups;

typedef struct {
  Groups *gs;
  guint   observer;
} GroupSlot;

struct _Groups {
  SimHarness      *sim;
  GossipNodeGroup *group[MAX_NODES];
  guint            added[MAX_NODES][MAX_NODES];     /* [observer][subject] */
  guint            removed[MAX_NODES][MAX_NODES];
  GroupSlot        slot[MAX_NODES];
};

static void
on_group_added (GossipNodeGroup *g, GossipNode *node, GroupSlot *slot)
{
  gint s = sim_index_of (slot->gs->sim, gossip_node_get_id (node));

  g_assert_cmpint (s, >=, 0);
  slot->gs->added[slot->observer][s]++;
}

static void
on_group_removed (GossipNodeGroup *g, GossipNode *node, GroupSlot *slot)
{
  gint s = sim_index_of (slot->gs->sim, gossip_node_get_id (node));

  g_assert_cmpint (s, >=, 0);
  slot->gs->removed[slot->observer][s]++;
}

/* Observer @o's counts for every subject: added @add[s], removed @rem[s]. */
static void
assert_group (Groups *gs, guint o, guint n, const guint *add, const guint *rem)
{
  for (guint s = 0; s < n; s++)
    {
      if (gs->added[o][s] != add[s] || gs->removed[o][s] != rem[s])
        g_test_message ("observer %u, subject %u: added %u (expected %u), removed %u (expected %u)", o, s,
                        gs->added[o][s], add[s], gs->removed[o][s], rem[s]);
      g_assert_cmpuint (gs->added[o][s], ==, add[s]);
      g_assert_cmpuint (gs->removed[o][s], ==, rem[s]);
    }
}

typedef struct {
  Groups *gs;
  guint   count[MAX_NODES];     /* expected group size per running observer */
} GroupSizes;

static gboolean
group_sizes (SimHarness *sim, gpointer data)
{
  GroupSizes *g = data;

  for (guint o = 0; o < sim_n_nodes (sim); o++)
    if (sim_node (sim, o)->running && gossip_node_group_count (g->gs->group[o]) != g->count[o])
      return FALSE;
  return TRUE;
}

static void
wait_sizes (Groups *gs, guint n, guint count, gint64 bound)
{
  GroupSizes g = { gs, { 0 } };

  for (guint o = 0; o < n; o++)
    g.count[o] = count;
  g_assert_true (sim_run_until (gs->sim, group_sizes, &g, bound));
}

/* Five nodes, a group {role: worker} on each. Workers: 0, 1, 4 at first.
 *   - node 1 deaf until suspected, then heard again: suspect -> alive, no event;
 *   - node 2 becomes a worker: added once; an unrelated key changes: nothing;
 *   - node 1 stops being a worker: removed once;
 *   - node 4 leaves gracefully: removed once, nothing when it turns dead
 *     and is reaped;
 *   - node 2 crashes: nothing while suspect, removed once when dead, nothing
 *     when it is reaped;
 *   - node 3 (never a member) crashes: nothing;
 *   - node 0 (local to one group) leaves the group and comes back by metadata. */
static void
test_groups (void)
{
  g_autoptr(GossipConfig) config = sim_config_fast ();
  g_autoptr(GHashTable) crit = criteria_new ("role", "worker");
  g_autoptr(SimHarness) sim = NULL;
  Groups *gs = g_new0 (Groups, 1);
  const guint n = 5;
  Sees suspect = { 0, 1, GOSSIP_NODE_SUSPECT };
  guint add[MAX_NODES] = { 0 }, rem[MAX_NODES] = { 0 };
  guint suspicions, deaths;

  sim_config_set (config, "node_retention_time", "10s");
  sim_config_set (config, "leaving_node_timeout", "3s");
  /* A confirmed suspicion lasts at least dead_node_timeout / 8: long enough
   * for node 1 to refute once it hears again. */
  sim_config_set (config, "dead_node_timeout", "10s");
  sim = sim_new (110);
  gs->sim = sim;
  sim_add_nodes (sim, n, config);
  g_assert_true (sim_run_until (sim, sim_converged, NULL, 30 * SEC));
  g_assert_true (sim_run_until (sim, joins_done, NULL, 10 * SEC));
  set_meta (sim, 0, "role", "worker");
  set_meta (sim, 1, "role", "worker");
  set_meta (sim, 4, "role", "worker");

  for (guint o = 0; o < n; o++)
    {
      g_autoptr(GError) error = NULL;

      gs->slot[o] = (GroupSlot) { gs, o };
      gs->group[o] = gossip_node_group_new (sim_node (sim, o)->cluster, crit, &error);
      g_assert_no_error (error);
      g_signal_connect (gs->group[o], "node-added", G_CALLBACK (on_group_added), &gs->slot[o]);
      g_signal_connect (gs->group[o], "node-removed", G_CALLBACK (on_group_removed), &gs->slot[o]);
      gossip_node_group_start (gs->group[o]);
      /* The initial members fired before start() returned. */
      g_assert_cmpuint (gossip_node_group_count (gs->group[o]), ==, 3);
    }
  add[0] = add[1] = add[4] = 1;
  for (guint o = 0; o < n; o++)
    assert_group (gs, o, n, add, rem);

  /* suspect -> alive */
  sim_clear_events (sim);
  sim_set_deaf (sim, 1, TRUE);
  g_assert_true (sim_run_until (sim, sees, &suspect, 10 * SEC));
  sim_set_deaf (sim, 1, FALSE);
  g_assert_true (sim_run_until (sim, sim_converged, NULL, 10 * SEC));
  sim_advance (sim, 2 * SEC);
  suspicions = sim_count_transitions (sim, -1, 1, GOSSIP_NODE_SUSPECT, 0);
  deaths = sim_count_transitions (sim, -1, -1, GOSSIP_NODE_DEAD, 0);
  g_test_message ("groups: node 1 was suspected %u times and came back alive, %u deaths", suspicions, deaths);
  g_assert_cmpuint (suspicions, >=, 1);
  g_assert_cmpuint (deaths, ==, 0);
  g_assert_true (sim_converged (sim, NULL));
  for (guint o = 0; o < n; o++)
    assert_group (gs, o, n, add, rem);

  /* metadata in, unrelated metadata change */
  set_meta (sim, 2, "role", "worker");
  set_meta (sim, 2, "zone", "a");
  set_meta (sim, 0, "zone", "b");
  add[2] = 1;
  wait_sizes (gs, n, 4, 5 * SEC);
  for (guint o = 0; o < n; o++)
    assert_group (gs, o, n, add, rem);

  /* metadata out */
  set_meta (sim, 1, "role", "web");
  rem[1] = 1;
  wait_sizes (gs, n, 3, 5 * SEC);
  for (guint o = 0; o < n; o++)
    assert_group (gs, o, n, add, rem);

  /* graceful leave of a member; leaving -> dead -> reaped */
  sim_leave (sim, 4);
  {
    Sees leaving = { 0, 4, GOSSIP_NODE_LEAVING };
    g_assert_true (sim_run_until (sim, sees, &leaving, 5 * SEC));
  }
  sim_kill (sim, 4);
  rem[4] = 1;
  {
    Sees gone = { 0, 4, -1 };
    g_assert_true (sim_run_until (sim, sees, &gone, 40 * SEC));
  }
  for (guint o = 0; o < 4; o++)
    assert_group (gs, o, n, add, rem);

  /* crash of a member: suspect (nothing), dead (removed), reaped (nothing) */
  sim_clear_events (sim);
  sim_kill (sim, 2);
  {
    Sees gone = { 0, 2, -1 };
    g_assert_true (sim_run_until (sim, sees, &gone, 60 * SEC));
  }
  g_assert_cmpuint (sim_count_transitions (sim, 0, 2, GOSSIP_NODE_SUSPECT, 0), >=, 1);
  g_assert_cmpuint (sim_count_transitions (sim, 0, 2, GOSSIP_NODE_DEAD, 0), ==, 1);
  rem[2] = 1;
  for (guint o = 0; o < 4; o++)
    if (o != 2)
      assert_group (gs, o, n, add, rem);

  /* crash of a non-member */
  sim_kill (sim, 3);
  {
    Sees dead = { 0, 3, GOSSIP_NODE_DEAD };
    g_assert_true (sim_run_until (sim, sees, &dead, 30 * SEC));
  }
  sim_advance (sim, 15 * SEC);
  for (guint o = 0; o < 2; o++)
    assert_group (gs, o, n, add, rem);

  /* the local node leaves its own group and comes back */
  set_meta (sim, 0, "role", "none");
  rem[0] = 1;
  for (guint o = 0; o < 2; o++)
    assert_group (gs, o, n, add, rem);
  set_meta (sim, 0, "role", "worker");
  add[0] = 2;
  sim_advance (sim, 2 * SEC);
  for (guint o = 0; o < 2; o++)
    assert_group (gs, o, n, add, rem);
  g_assert_cmpuint (gossip_node_group_count (gs->group[0]), ==, 1);
  g_assert_cmpuint (gossip_node_group_count (gs->group[1]), ==, 1);

  for (guint o = 0; o < n; o++)
    {
      gossip_node_group_close (gs->group[o]);
      g_object_unref (gs->group[o]);
    }
  g_free (gs);
}

int
main (int argc, char **argv)
{
  static const Edge edges[] = {
    { 3, 0, 100 },
    { 2, 1, 1 }, { 2, 1, 50 }, { 2, 1, 51 }, { 2, 1, 100 },
    { 3, 1, 1 }, { 3, 1, 50 }, { 3, 1, 51 }, { 3, 1, 100 },
    { 4, 2, 1 }, { 4, 2, 50 }, { 4, 2, 51 }, { 4, 2, 100 },
    { 5, 2, 1 }, { 5, 2, 50 }, { 5, 2, 51 }, { 5, 2, 100 },
  };

  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/sim-election/five-agree", test_five_agree);
  g_test_add_func ("/sim-election/failover/fast-fd", test_failover_fast_fd);
  g_test_add_func ("/sim-election/failover/default-fd", test_failover_default_fd);
  g_test_add_func ("/sim-election/failover/slow-fd", test_failover_slow_fd);
  g_test_add_func ("/sim-election/partition/incumbent-in-majority", test_partition_heal);
  g_test_add_func ("/sim-election/partition/incumbent-in-minority", test_partition_incumbent_in_minority);
  g_test_add_func ("/sim-election/lone/after-crash", test_lone_node_after_crash);
  g_test_add_func ("/sim-election/lone/leader-steps-down", test_lone_leader_steps_down);
  g_test_add_func ("/sim-election/lone/graceful-leaves", test_graceful_leave_keeps_quorum);
  g_test_add_func ("/sim-election/eligible/long-partition/incumbent-in-majority", test_long_partition_majority);
  g_test_add_func ("/sim-election/eligible/long-partition/incumbent-in-minority", test_long_partition_minority);
  g_test_add_func ("/sim-election/eligible/leave-shrinks", test_leave_shrinks);
  g_test_add_func ("/sim-election/eligible/forget", test_forget);
  g_test_add_func ("/sim-election/eligible/cap", test_eligible_cap);
  g_test_add_func ("/sim-election/term/forged", test_forged_terms);
  g_test_add_func ("/sim-election/term/saturates", test_term_saturates);
  for (guint i = 0; i < G_N_ELEMENTS (edges); i++)
    {
      g_autofree char *path = g_strdup_printf ("/sim-election/quorum/%u-known-%u-crashed-%u-pct",
                                               edges[i].n, edges[i].crashed, edges[i].pct);
      g_test_add_data_func (path, &edges[i], test_quorum_edge);
    }
  g_test_add_func ("/sim-election/criteria", test_criteria);
  g_test_add_func ("/group/exact-counts", test_groups);
  return g_test_run ();
}
