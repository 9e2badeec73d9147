/* gossip-system-clock.c — the real monotonic clock, timers on a GMainContext.
 *
 * SPDX-License-Identifier: MIT
 */
#include "config.h"

#include "gossip-system-clock.h"

/**
 * GossipSystemClock:
 *
 * The #GossipClock of the real monotonic time, created with
 * gossip_system_clock_new().
 */

/**
 * SECTION:gossip-system-clock
 * @title: GossipSystemClock
 * @short_description: monotonic time and timers on a #GMainContext
 *
 * Time comes from g_get_monotonic_time(). Timers are kept in one queue
 * ordered by (deadline, insertion order) and dispatched by a single #GSource
 * attached to the context given to gossip_system_clock_new(), whose ready
 * time (microsecond precision) tracks the earliest deadline. One source
 * rather than one per timer keeps the firing order exact even when several
 * deadlines pass during one main loop iteration, and keeps the cost of an
 * iteration independent of the number of pending timers (GLib scans every
 * attached source on each iteration).
 *
 * The engine uses a clock from its own thread only, but timers may be
 * cancelled, and the clock finalized, from any thread: the queue is shared
 * with the source under a mutex.
 */

typedef struct
{
  gint64             deadline;
  guint64            seq;
  guint              id;
  GossipTimeoutFunc  func;
  gpointer           user_data;
  GDestroyNotify     notify;
  GSequenceIter     *iter;
} Timer;

/* Shared by the clock and its dispatch source, so that a dispatch running
 * while the clock is finalized on another thread never touches freed
 * memory. */
typedef struct
{
  GMutex      lock;
  GSequence  *queue;    /* Timer*, ordered by (deadline, seq); owns nothing */
  GHashTable *by_id;    /* guint id -> Timer* */
  guint64     next_seq;
  guint       next_id;
  GSource    *source;   /* borrowed: the source owns a reference to us */
} TimerQueue;

typedef struct
{
  GSource     source;
  TimerQueue *queue;
} DispatchSource;

struct _GossipSystemClock
{
  GObject       parent_instance;

  GMainContext *context;
  TimerQueue   *queue;
  GSource      *source;
};

static void gossip_system_clock_iface_init (GossipClockInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (GossipSystemClock, gossip_system_clock, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (GOSSIP_TYPE_CLOCK,
                                                      gossip_system_clock_iface_init))

static gint
timer_compare (gconstpointer a,
               gconstpointer b,
               gpointer      user_data)
{
  const Timer *x = a;
  const Timer *y = b;

  if (x->deadline != y->deadline)
    return x->deadline < y->deadline ? -1 : 1;
  return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static void
timer_free (Timer *timer)
{
  if (timer->notify != NULL)
    timer->notify (timer->user_data);
  g_free (timer);
}

static void
timer_queue_clear (TimerQueue *queue)
{
  /* Every timer was released by dispose or fired before the last ref. */
  g_sequence_free (queue->queue);
  g_hash_table_unref (queue->by_id);
  g_mutex_clear (&queue->lock);
}

static void
timer_queue_unref (TimerQueue *queue)
{
  g_atomic_rc_box_release_full (queue, (GDestroyNotify) timer_queue_clear);
}

/* Call with the lock held: wake the context for the earliest deadline. */
static void
timer_queue_update_ready_time_locked (TimerQueue *queue)
{
  GSequenceIter *first;

  if (queue->source == NULL)
    return;

  first = g_sequence_get_begin_iter (queue->queue);
  if (g_sequence_iter_is_end (first))
    g_source_set_ready_time (queue->source, -1);
  else
    g_source_set_ready_time (queue->source, ((Timer *) g_sequence_get (first))->deadline);
}

/* Unlinks @timer; call with the lock held. */
static void
timer_queue_unlink_locked (TimerQueue *queue,
                           Timer      *timer)
{
  g_sequence_remove (timer->iter);
  timer->iter = NULL;
  g_hash_table_remove (queue->by_id, GUINT_TO_POINTER (timer->id));
}

static gboolean
dispatch_source_dispatch (GSource     *source,
                          GSourceFunc  callback,
                          gpointer     user_data)
{
  TimerQueue *queue = ((DispatchSource *) source)->queue;
  gint64 now = g_get_monotonic_time ();
  guint64 seq_limit;

  g_mutex_lock (&queue->lock);
  /* Timers added by the callbacks wait for the next iteration, so a chain
   * of zero-delay timers cannot starve the rest of the context. */
  seq_limit = queue->next_seq;

  for (;;)
    {
      GSequenceIter *first = g_sequence_get_begin_iter (queue->queue);
      Timer *timer;

      if (g_sequence_iter_is_end (first))
        break;
      timer = g_sequence_get (first);
      if (timer->deadline > now || timer->seq >= seq_limit)
        break;

      timer_queue_unlink_locked (queue, timer);
      g_mutex_unlock (&queue->lock);

      timer->func (timer->user_data);
      timer_free (timer);

      g_mutex_lock (&queue->lock);
    }

  timer_queue_update_ready_time_locked (queue);
  g_mutex_unlock (&queue->lock);

  return G_SOURCE_CONTINUE;
}

static void
dispatch_source_finalize (GSource *source)
{
  g_clear_pointer (&((DispatchSource *) source)->queue, timer_queue_unref);
}

static GSourceFuncs dispatch_source_funcs = {
  .prepare = NULL,      /* the ready time alone decides */
  .check = NULL,
  .dispatch = dispatch_source_dispatch,
  .finalize = dispatch_source_finalize,
};

static gint64
gossip_system_clock_now (GossipClock *clock)
{
  return g_get_monotonic_time ();
}

static guint
gossip_system_clock_add_timeout (GossipClock       *clock,
                                 gint64             delay_us,
                                 GossipTimeoutFunc  func,
                                 gpointer           user_data,
                                 GDestroyNotify     notify)
{
  GossipSystemClock *self = GOSSIP_SYSTEM_CLOCK (clock);
  TimerQueue *queue = self->queue;
  Timer *timer = g_new0 (Timer, 1);
  gint64 now = g_get_monotonic_time ();

  /* Saturate instead of overflowing for "never" style delays. */
  timer->deadline = delay_us > G_MAXINT64 - now ? G_MAXINT64 : now + delay_us;
  timer->func = func;
  timer->user_data = user_data;
  timer->notify = notify;

  g_mutex_lock (&queue->lock);
  timer->seq = queue->next_seq++;
  /* Ids wrap after 2^32 timers; skip 0 and ids still pending. */
  do
    timer->id = ++queue->next_id;
  while (timer->id == 0 || g_hash_table_contains (queue->by_id, GUINT_TO_POINTER (timer->id)));
  g_hash_table_insert (queue->by_id, GUINT_TO_POINTER (timer->id), timer);
  timer->iter = g_sequence_insert_sorted (queue->queue, timer, timer_compare, NULL);
  if (g_sequence_iter_is_begin (timer->iter))
    timer_queue_update_ready_time_locked (queue);
  g_mutex_unlock (&queue->lock);

  return timer->id;
}

static void
gossip_system_clock_cancel (GossipClock *clock,
                            guint        id)
{
  GossipSystemClock *self = GOSSIP_SYSTEM_CLOCK (clock);
  TimerQueue *queue = self->queue;
  Timer *timer;

  g_mutex_lock (&queue->lock);
  timer = g_hash_table_lookup (queue->by_id, GUINT_TO_POINTER (id));
  if (timer != NULL)
    timer_queue_unlink_locked (queue, timer);
  /* The ready time may now be early: the spurious wakeup finds nothing due
   * and re-arms, which is cheaper than recomputing on every cancel. */
  g_mutex_unlock (&queue->lock);

  if (timer != NULL)
    timer_free (timer);
}

static void
gossip_system_clock_dispose (GObject *object)
{
  GossipSystemClock *self = GOSSIP_SYSTEM_CLOCK (object);
  g_autoptr(GPtrArray) pending = g_ptr_array_new ();

  if (self->source != NULL)
    {
      g_mutex_lock (&self->queue->lock);
      self->queue->source = NULL;
      while (!g_sequence_is_empty (self->queue->queue))
        {
          Timer *timer = g_sequence_get (g_sequence_get_begin_iter (self->queue->queue));

          timer_queue_unlink_locked (self->queue, timer);
          g_ptr_array_add (pending, timer);
        }
      g_mutex_unlock (&self->queue->lock);

      g_source_destroy (self->source);
      g_clear_pointer (&self->source, g_source_unref);

      /* Outside the lock: destroy notifies may call back into the clock. */
      for (guint i = 0; i < pending->len; i++)
        timer_free (g_ptr_array_index (pending, i));
    }

  G_OBJECT_CLASS (gossip_system_clock_parent_class)->dispose (object);
}

static void
gossip_system_clock_finalize (GObject *object)
{
  GossipSystemClock *self = GOSSIP_SYSTEM_CLOCK (object);

  g_clear_pointer (&self->queue, timer_queue_unref);
  g_clear_pointer (&self->context, g_main_context_unref);

  G_OBJECT_CLASS (gossip_system_clock_parent_class)->finalize (object);
}

static void
gossip_system_clock_class_init (GossipSystemClockClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = gossip_system_clock_dispose;
  object_class->finalize = gossip_system_clock_finalize;
}

static void
gossip_system_clock_iface_init (GossipClockInterface *iface)
{
  iface->now = gossip_system_clock_now;
  iface->add_timeout = gossip_system_clock_add_timeout;
  iface->cancel = gossip_system_clock_cancel;
}

static void
gossip_system_clock_init (GossipSystemClock *self)
{
  self->queue = g_atomic_rc_box_new0 (TimerQueue);
  g_mutex_init (&self->queue->lock);
  self->queue->queue = g_sequence_new (NULL);
  self->queue->by_id = g_hash_table_new (NULL, NULL);
}

/**
 * gossip_system_clock_new:
 * @context: (nullable): the context timers are dispatched on; %NULL for the
 *   global default context
 *
 * Creates a clock reading g_get_monotonic_time() whose timers are
 * dispatched by a source attached to @context. Disposing the clock cancels
 * every pending timer (their destroy notifies run, their callbacks do not).
 *
 * Returns: (transfer full): a new #GossipClock
 */
GossipClock *
gossip_system_clock_new (GMainContext *context)
{
  GossipSystemClock *self = g_object_new (GOSSIP_TYPE_SYSTEM_CLOCK, NULL);
  DispatchSource *source;

  self->context = g_main_context_ref (context != NULL ? context : g_main_context_default ());

  source = (DispatchSource *) g_source_new (&dispatch_source_funcs, sizeof (DispatchSource));
  source->queue = g_atomic_rc_box_acquire (self->queue);
  g_source_set_static_name (&source->source, "GossipSystemClock timers");
  g_source_set_priority (&source->source, G_PRIORITY_DEFAULT);
  self->source = &source->source;
  self->queue->source = self->source;
  g_source_attach (self->source, self->context);

  return GOSSIP_CLOCK (self);
}
