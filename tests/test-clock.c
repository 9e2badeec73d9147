/* test-clock.c — GossipVirtualClock and GossipSystemClock.
 *
 * SPDX-License-Identifier: MIT
 */
#include "config.h"

#include <gossip/gossip.h>

/* ---------------------------------------------------------------------------
 * Helpers
 * ------------------------------------------------------------------------- */

/* Records which timers fired, in order, and when. */
typedef struct
{
  GArray      *fired;     /* int tags */
  GArray      *times;     /* gint64 clock readings at fire time */
  GossipClock *clock;
  guint        notified;
} Log;

typedef struct
{
  Log *log;
  int  tag;
} Tagged;

static void
log_init (Log         *log,
          GossipClock *clock)
{
  log->fired = g_array_new (FALSE, FALSE, sizeof (int));
  log->times = g_array_new (FALSE, FALSE, sizeof (gint64));
  log->clock = clock;
  log->notified = 0;
}

static void
log_clear (Log *log)
{
  g_array_unref (log->fired);
  g_array_unref (log->times);
}

static void
tagged_fire (gpointer data)
{
  Tagged *t = data;
  gint64 now = gossip_clock_now (t->log->clock);

  g_array_append_val (t->log->fired, t->tag);
  g_array_append_val (t->log->times, now);
}

static void
tagged_free (gpointer data)
{
  Tagged *t = data;

  t->log->notified++;
  g_free (t);
}

static guint
add_tagged (GossipClock *clock,
            Log         *log,
            gint64       delay_us,
            int          tag)
{
  Tagged *t = g_new0 (Tagged, 1);

  t->log = log;
  t->tag = tag;
  return gossip_clock_add_timeout (clock, delay_us, tagged_fire, t, tagged_free);
}

static int
fired_at (Log   *log,
          guint  i)
{
  return g_array_index (log->fired, int, i);
}

static gboolean
poll_wakeup_cb (gpointer data)
{
  return G_SOURCE_CONTINUE;
}

/* Iterates @context until @predicate holds or @timeout_us passes. A short
 * periodic wakeup lets predicates on state outside @context make progress. */
static gboolean
wait_until (GMainContext *context,
            gboolean    (*predicate) (gpointer data),
            gpointer      data,
            gint64        timeout_us)
{
  gint64 deadline = g_get_monotonic_time () + timeout_us;
  GSource *wakeup = g_timeout_source_new (10);
  gboolean ok;

  g_source_set_static_name (wakeup, "test wakeup");
  g_source_set_callback (wakeup, poll_wakeup_cb, NULL, NULL);
  g_source_attach (wakeup, context);

  while (!(ok = predicate (data)) && g_get_monotonic_time () < deadline)
    g_main_context_iteration (context, TRUE);

  g_source_destroy (wakeup);
  g_source_unref (wakeup);
  return ok;
}

/* ---------------------------------------------------------------------------
 * Virtual clock
 * ------------------------------------------------------------------------- */

static void
test_virtual_basics (void)
{
  g_autoptr(GossipVirtualClock) vclock = gossip_virtual_clock_new (1000);
  GossipClock *clock = GOSSIP_CLOCK (vclock);
  Log log;

  log_init (&log, clock);

  g_assert_cmpint (gossip_clock_now (clock), ==, 1000);
  g_assert_cmpint (gossip_virtual_clock_next_deadline (vclock), ==, G_MAXINT64);
  g_assert_cmpuint (gossip_virtual_clock_pending (vclock), ==, 0);
  g_assert_false (gossip_virtual_clock_step (vclock));

  g_assert_cmpuint (add_tagged (clock, &log, 500, 1), !=, 0);
  /* Negative delays count as zero. */
  add_tagged (clock, &log, -20, 2);
  g_assert_cmpuint (gossip_virtual_clock_pending (vclock), ==, 2);
  g_assert_cmpint (gossip_virtual_clock_next_deadline (vclock), ==, 1000);
  /* Never fired from inside add_timeout(). */
  g_assert_cmpuint (log.fired->len, ==, 0);

  g_assert_true (gossip_virtual_clock_step (vclock));
  g_assert_cmpint (gossip_clock_now (clock), ==, 1000);
  g_assert_cmpint (fired_at (&log, 0), ==, 2);

  g_assert_true (gossip_virtual_clock_step (vclock));
  g_assert_cmpint (gossip_clock_now (clock), ==, 1500);
  g_assert_cmpint (fired_at (&log, 1), ==, 1);
  g_assert_cmpint (g_array_index (log.times, gint64, 1), ==, 1500);
  g_assert_cmpuint (log.notified, ==, 2);
  g_assert_false (gossip_virtual_clock_step (vclock));

  /* advance() lands exactly on now + delta even with no timers. */
  g_assert_cmpuint (gossip_virtual_clock_advance (vclock, 250), ==, 0);
  g_assert_cmpint (gossip_clock_now (clock), ==, 1750);

  log_clear (&log);
}

static void
test_virtual_ordering (void)
{
  g_autoptr(GossipVirtualClock) vclock = gossip_virtual_clock_new (0);
  GossipClock *clock = GOSSIP_CLOCK (vclock);
  const gint64 delays[] = { 50, 10, 40, 20, 30, 0, 60 };
  const int expected[] = { 5, 1, 3, 4, 2, 0, 6 };
  Log log;

  log_init (&log, clock);

  for (guint i = 0; i < G_N_ELEMENTS (delays); i++)
    add_tagged (clock, &log, delays[i], i);

  g_assert_cmpuint (gossip_virtual_clock_advance (vclock, 45), ==, 5);
  g_assert_cmpint (gossip_clock_now (clock), ==, 45);
  g_assert_cmpuint (gossip_virtual_clock_pending (vclock), ==, 2);
  g_assert_cmpint (gossip_virtual_clock_next_deadline (vclock), ==, 50);
  g_assert_cmpuint (gossip_virtual_clock_advance (vclock, 100), ==, 2);

  g_assert_cmpuint (log.fired->len, ==, G_N_ELEMENTS (expected));
  for (guint i = 0; i < G_N_ELEMENTS (expected); i++)
    {
      g_assert_cmpint (fired_at (&log, i), ==, expected[i]);
      /* During each callback, now() is that timer's deadline. */
      g_assert_cmpint (g_array_index (log.times, gint64, i), ==, delays[expected[i]]);
    }

  log_clear (&log);
}

static void
test_virtual_fifo (void)
{
  g_autoptr(GossipVirtualClock) vclock = gossip_virtual_clock_new (0);
  GossipClock *clock = GOSSIP_CLOCK (vclock);
  Log log;

  g_test_summary ("Timers with equal deadlines fire in the order they were added");
  log_init (&log, clock);

  for (int i = 0; i < 100; i++)
    add_tagged (clock, &log, (i % 2) ? 100 : 200, i);

  g_assert_cmpuint (gossip_virtual_clock_advance (vclock, 1000), ==, 100);
  for (int i = 0; i < 50; i++)
    {
      g_assert_cmpint (fired_at (&log, i), ==, 2 * i + 1);
      g_assert_cmpint (fired_at (&log, 50 + i), ==, 2 * i);
    }

  log_clear (&log);
}

static void
test_virtual_cancel (void)
{
  g_autoptr(GossipVirtualClock) vclock = gossip_virtual_clock_new (0);
  GossipClock *clock = GOSSIP_CLOCK (vclock);
  guint ids[10];
  Log log;

  log_init (&log, clock);

  for (int i = 0; i < 10; i++)
    ids[i] = add_tagged (clock, &log, 10 * (i + 1), i);

  /* The destroy notify runs exactly once, at cancel time. */
  gossip_clock_cancel (clock, ids[0]);
  gossip_clock_cancel (clock, ids[4]);
  gossip_clock_cancel (clock, ids[9]);
  g_assert_cmpuint (log.notified, ==, 3);
  g_assert_cmpuint (gossip_virtual_clock_pending (vclock), ==, 7);

  /* Cancelling again, an unknown id or 0 is harmless. */
  gossip_clock_cancel (clock, ids[4]);
  gossip_clock_cancel (clock, 0);
  gossip_clock_cancel (clock, 987654);
  g_assert_cmpuint (log.notified, ==, 3);

  g_assert_cmpint (gossip_virtual_clock_next_deadline (vclock), ==, 20);
  g_assert_cmpuint (gossip_virtual_clock_advance (vclock, 1000), ==, 7);
  g_assert_cmpuint (log.fired->len, ==, 7);
  {
    const int expected[] = { 1, 2, 3, 5, 6, 7, 8 };

    for (guint i = 0; i < G_N_ELEMENTS (expected); i++)
      g_assert_cmpint (fired_at (&log, i), ==, expected[i]);
  }
  g_assert_cmpuint (log.notified, ==, 10);

  /* Cancelling a fired timer does not run its notify a second time. */
  gossip_clock_cancel (clock, ids[1]);
  g_assert_cmpuint (log.notified, ==, 10);

  log_clear (&log);
}

typedef struct
{
  GossipVirtualClock *clock;
  Log                *log;
  int                 remaining;   /* how many more chained timers to add */
  gint64              delay;
  guint               victim;      /* a timer to cancel when firing */
} Chain;

static void
chain_fire (gpointer data)
{
  Chain *chain = data;
  int tag = 1000 + chain->remaining;

  g_array_append_val (chain->log->fired, tag);
  if (chain->victim != 0)
    {
      gossip_clock_cancel (GOSSIP_CLOCK (chain->clock), chain->victim);
      chain->victim = 0;
    }
  if (chain->remaining-- > 0)
    gossip_clock_add_timeout (GOSSIP_CLOCK (chain->clock), chain->delay, chain_fire, chain, NULL);
}

static void
test_virtual_add_while_firing (void)
{
  g_autoptr(GossipVirtualClock) vclock = gossip_virtual_clock_new (0);
  GossipClock *clock = GOSSIP_CLOCK (vclock);
  Chain chain = { vclock, NULL, 5, 10, 0 };
  Log log;

  g_test_summary ("advance() fires timers added by callbacks within the window, and counts them");
  log_init (&log, clock);
  chain.log = &log;

  /* Fires at 10, adds at 20, 30, 40, 50, 60. */
  gossip_clock_add_timeout (clock, 10, chain_fire, &chain, NULL);
  /* Cancelled by the first chained callback before it can fire. */
  chain.victim = add_tagged (clock, &log, 15, 99);

  g_assert_cmpuint (gossip_virtual_clock_advance (vclock, 45), ==, 4);
  g_assert_cmpint (gossip_clock_now (clock), ==, 45);
  g_assert_cmpuint (log.notified, ==, 1);
  g_assert_cmpuint (gossip_virtual_clock_pending (vclock), ==, 1);
  g_assert_cmpint (gossip_virtual_clock_next_deadline (vclock), ==, 50);

  g_assert_cmpuint (gossip_virtual_clock_advance (vclock, 100), ==, 2);
  g_assert_cmpuint (log.fired->len, ==, 6);
  for (guint i = 0; i < 6; i++)
    g_assert_cmpint (fired_at (&log, i), ==, 1005 - (int) i);

  /* A zero delay added while firing runs in the same advance(), after. */
  chain.remaining = 3;
  chain.delay = 0;
  gossip_clock_add_timeout (clock, 0, chain_fire, &chain, NULL);
  g_assert_cmpuint (gossip_virtual_clock_advance (vclock, 0), ==, 4);

  log_clear (&log);
}

static void
test_virtual_dispose (void)
{
  GossipVirtualClock *vclock = gossip_virtual_clock_new (0);
  Log log;

  log_init (&log, GOSSIP_CLOCK (vclock));
  for (int i = 0; i < 20; i++)
    add_tagged (GOSSIP_CLOCK (vclock), &log, i * 7, i);
  gossip_virtual_clock_advance (vclock, 30);
  g_assert_cmpuint (log.notified, ==, 5);

  g_object_unref (vclock);
  g_assert_cmpuint (log.notified, ==, 20);
  g_assert_cmpuint (log.fired->len, ==, 5);

  log_clear (&log);
}

typedef struct
{
  gint64  last_deadline;
  guint64 last_seq;
  guint   fired;
  gboolean in_order;
  GossipClock *clock;
} Perf;

typedef struct
{
  Perf   *perf;
  guint64 seq;
} PerfTimer;

static void
perf_fire (gpointer data)
{
  PerfTimer *t = data;
  Perf *perf = t->perf;
  gint64 now = gossip_clock_now (perf->clock);

  if (now < perf->last_deadline || (now == perf->last_deadline && t->seq < perf->last_seq))
    perf->in_order = FALSE;
  perf->last_deadline = now;
  perf->last_seq = t->seq;
  perf->fired++;
}

static void
test_virtual_many (void)
{
  const guint n = 200000;
  g_autoptr(GossipVirtualClock) vclock = gossip_virtual_clock_new (0);
  g_autoptr(GRand) rand = g_rand_new_with_seed (7);
  g_autofree guint *ids = g_new (guint, n);
  g_autofree PerfTimer *timers = g_new0 (PerfTimer, n);
  Perf perf = { G_MININT64, 0, 0, TRUE, GOSSIP_CLOCK (vclock) };
  guint cancelled = 0;
  gint64 started = g_get_monotonic_time ();

  g_test_summary ("200k pending timers: ordered firing and cheap cancellation (no timing asserted)");

  for (guint i = 0; i < n; i++)
    {
      timers[i].perf = &perf;
      timers[i].seq = i;
      /* Few distinct deadlines, so ties are common. */
      ids[i] = gossip_clock_add_timeout (GOSSIP_CLOCK (vclock), g_rand_int_range (rand, 0, 5000) * 1000,
                                         perf_fire, &timers[i], NULL);
    }
  g_assert_cmpuint (gossip_virtual_clock_pending (vclock), ==, n);

  for (guint i = 0; i < n; i += 3)
    {
      gossip_clock_cancel (GOSSIP_CLOCK (vclock), ids[i]);
      cancelled++;
    }
  g_assert_cmpuint (gossip_virtual_clock_pending (vclock), ==, n - cancelled);

  g_assert_cmpuint (gossip_virtual_clock_advance (vclock, 2500 * 1000), <, n - cancelled);
  g_assert_cmpuint (gossip_virtual_clock_advance (vclock, 5000 * 1000), >, 0);
  g_assert_cmpuint (perf.fired, ==, n - cancelled);
  g_assert_true (perf.in_order);
  g_assert_cmpuint (gossip_virtual_clock_pending (vclock), ==, 0);

  g_test_message ("200k timers added, a third cancelled, the rest fired in %.3f s",
                  (g_get_monotonic_time () - started) / 1e6);
}

/* ---------------------------------------------------------------------------
 * System clock
 * ------------------------------------------------------------------------- */

typedef struct
{
  Log   *log;
  guint  count;
} FiredCount;

static gboolean
fired_count_reached (gpointer data)
{
  FiredCount *fc = data;

  return fc->log->fired->len >= fc->count;
}

static void
test_system_fires_on_context (void)
{
  g_autoptr(GMainContext) context = g_main_context_new ();
  g_autoptr(GossipClock) clock = gossip_system_clock_new (context);
  FiredCount fc;
  gint64 t0;
  Log log;

  g_test_summary ("System clock timers are sources on the given context, in deadline then FIFO order");
  log_init (&log, clock);
  fc.log = &log;
  fc.count = 4;

  t0 = gossip_clock_now (clock);
  g_assert_cmpint (ABS (t0 - g_get_monotonic_time ()), <, G_USEC_PER_SEC);

  add_tagged (clock, &log, 30000, 3);
  add_tagged (clock, &log, 10000, 1);
  add_tagged (clock, &log, 10000, 2);
  add_tagged (clock, &log, 0, 0);

  /* Nothing runs from the global default context. */
  while (g_main_context_iteration (NULL, FALSE))
    ;
  g_assert_cmpuint (log.fired->len, ==, 0);

  g_assert_true (wait_until (context, fired_count_reached, &fc, 10 * G_USEC_PER_SEC));
  for (int i = 0; i < 4; i++)
    g_assert_cmpint (fired_at (&log, i), ==, i);
  /* Not early. */
  g_assert_cmpint (g_array_index (log.times, gint64, 3) - t0, >=, 30000);
  g_assert_cmpuint (log.notified, ==, 4);

  log_clear (&log);
}

static void
test_system_cancel (void)
{
  g_autoptr(GMainContext) context = g_main_context_new ();
  g_autoptr(GossipClock) clock = gossip_system_clock_new (context);
  FiredCount fc;
  guint id;
  Log log;

  log_init (&log, clock);
  fc.log = &log;
  fc.count = 1;

  id = add_tagged (clock, &log, 5000, 1);
  add_tagged (clock, &log, 20000, 2);
  gossip_clock_cancel (clock, id);
  g_assert_cmpuint (log.notified, ==, 1);
  gossip_clock_cancel (clock, id);
  gossip_clock_cancel (clock, 0);
  g_assert_cmpuint (log.notified, ==, 1);

  g_assert_true (wait_until (context, fired_count_reached, &fc, 10 * G_USEC_PER_SEC));
  g_assert_cmpint (fired_at (&log, 0), ==, 2);
  g_assert_cmpuint (log.notified, ==, 2);

  log_clear (&log);
}

typedef struct
{
  GossipClock *clock;
  guint        id;
} CancelJob;

static gpointer
cancel_thread (gpointer data)
{
  CancelJob *job = data;

  gossip_clock_cancel (job->clock, job->id);
  return NULL;
}

static void
test_system_cancel_other_thread (void)
{
  g_autoptr(GMainContext) context = g_main_context_new ();
  GossipClock *clock = gossip_system_clock_new (context);
  CancelJob job;
  GThread *thread;
  Log log;

  g_test_summary ("Timers can be cancelled, and the clock disposed, from another thread");
  log_init (&log, clock);

  job.clock = clock;
  job.id = add_tagged (clock, &log, 60 * G_USEC_PER_SEC, 1);
  add_tagged (clock, &log, 60 * G_USEC_PER_SEC, 2);
  add_tagged (clock, &log, 60 * G_USEC_PER_SEC, 3);

  thread = g_thread_new ("cancel", cancel_thread, &job);
  g_thread_join (thread);
  g_assert_cmpuint (log.notified, ==, 1);

  /* Finalizing on another thread cancels the rest. */
  thread = g_thread_new ("finalize", (GThreadFunc) g_object_unref, clock);
  g_thread_join (thread);
  g_assert_cmpuint (log.notified, ==, 3);
  g_assert_cmpuint (log.fired->len, ==, 0);

  /* The context no longer has their sources. */
  g_assert_false (g_main_context_pending (context));

  log_clear (&log);
}

static void
test_system_default_context (void)
{
  g_autoptr(GossipClock) clock = gossip_system_clock_new (NULL);
  FiredCount fc;
  Log log;

  log_init (&log, clock);
  fc.log = &log;
  fc.count = 1;

  add_tagged (clock, &log, 1000, 7);
  g_assert_true (wait_until (g_main_context_default (), fired_count_reached, &fc, 10 * G_USEC_PER_SEC));
  g_assert_cmpint (fired_at (&log, 0), ==, 7);

  log_clear (&log);
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/clock/virtual/basics", test_virtual_basics);
  g_test_add_func ("/clock/virtual/ordering", test_virtual_ordering);
  g_test_add_func ("/clock/virtual/fifo", test_virtual_fifo);
  g_test_add_func ("/clock/virtual/cancel", test_virtual_cancel);
  g_test_add_func ("/clock/virtual/add-while-firing", test_virtual_add_while_firing);
  g_test_add_func ("/clock/virtual/dispose", test_virtual_dispose);
  g_test_add_func ("/clock/virtual/many", test_virtual_many);
  g_test_add_func ("/clock/system/fires-on-context", test_system_fires_on_context);
  g_test_add_func ("/clock/system/cancel", test_system_cancel);
  g_test_add_func ("/clock/system/cancel-other-thread", test_system_cancel_other_thread);
  g_test_add_func ("/clock/system/default-context", test_system_default_context);

  return g_test_run ();
}
