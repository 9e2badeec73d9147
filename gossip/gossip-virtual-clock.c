/* gossip-virtual-clock.c — deterministic virtual time for tests and simulations.
 *
 * SPDX-License-Identifier: MIT
 */
#include "config.h"

#include "gossip-virtual-clock.h"

/**
 * GossipVirtualClock:
 *
 * A #GossipClock whose time only moves when gossip_virtual_clock_advance()
 * or gossip_virtual_clock_step() is called.
 */

/**
 * SECTION:gossip-virtual-clock
 * @title: GossipVirtualClock
 * @short_description: deterministic virtual time
 *
 * Time only moves when gossip_virtual_clock_step() or
 * gossip_virtual_clock_advance() is called, and timers fire from inside
 * those calls, on the calling thread, in (deadline, insertion order) order.
 * A whole cluster of engines and #GossipMemoryTransport instances can thus
 * run on one thread, reproducibly, far faster than real time.
 *
 * Pending timers live in a binary min-heap keyed by (deadline, sequence
 * number); each timer remembers its heap slot and a hash table maps ids to
 * timers, so adding, firing and cancelling are all O(log n). Simulations of
 * thousands of members keep 100k+ timers pending.
 *
 * A virtual clock is not thread-safe: use it from one thread.
 */

typedef struct
{
  gint64             deadline;
  guint64            seq;       /* tie-break: FIFO among equal deadlines */
  guint              id;
  guint              heap_index;
  GossipTimeoutFunc  func;
  gpointer           user_data;
  GDestroyNotify     notify;
} Timer;

struct _GossipVirtualClock
{
  GObject     parent_instance;

  gint64      now;
  guint64     next_seq;
  guint       next_id;
  GPtrArray  *heap;     /* Timer*, min-heap */
  GHashTable *by_id;    /* guint id -> Timer* (borrowed from heap) */
};

static void gossip_virtual_clock_iface_init (GossipClockInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (GossipVirtualClock, gossip_virtual_clock, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (GOSSIP_TYPE_CLOCK,
                                                      gossip_virtual_clock_iface_init))

static inline gboolean
timer_before (const Timer *a,
              const Timer *b)
{
  if (a->deadline != b->deadline)
    return a->deadline < b->deadline;
  return a->seq < b->seq;
}

static inline Timer *
heap_at (GossipVirtualClock *self,
         guint               i)
{
  return g_ptr_array_index (self->heap, i);
}

static inline void
heap_set (GossipVirtualClock *self,
          guint               i,
          Timer              *timer)
{
  g_ptr_array_index (self->heap, i) = timer;
  timer->heap_index = i;
}

static void
heap_sift_up (GossipVirtualClock *self,
              guint               i)
{
  Timer *timer = heap_at (self, i);

  while (i > 0)
    {
      guint parent = (i - 1) / 2;
      Timer *p = heap_at (self, parent);

      if (!timer_before (timer, p))
        break;
      heap_set (self, i, p);
      i = parent;
    }
  heap_set (self, i, timer);
}

static void
heap_sift_down (GossipVirtualClock *self,
                guint               i)
{
  guint n = self->heap->len;
  Timer *timer = heap_at (self, i);

  for (;;)
    {
      guint left = 2 * i + 1;
      guint smallest;

      if (left >= n)
        break;
      smallest = left;
      if (left + 1 < n && timer_before (heap_at (self, left + 1), heap_at (self, left)))
        smallest = left + 1;
      if (!timer_before (heap_at (self, smallest), timer))
        break;
      heap_set (self, i, heap_at (self, smallest));
      i = smallest;
    }
  heap_set (self, i, timer);
}

/* Unlinks the timer at slot @i from the heap and the id table; the caller
 * owns it afterwards. */
static Timer *
heap_remove (GossipVirtualClock *self,
             guint               i)
{
  Timer *timer = heap_at (self, i);
  guint last = self->heap->len - 1;

  if (i != last)
    {
      Timer *moved = heap_at (self, last);

      heap_set (self, i, moved);
      g_ptr_array_set_size (self->heap, last);
      /* The moved timer may belong above or below slot i. */
      if (i > 0 && timer_before (moved, heap_at (self, (i - 1) / 2)))
        heap_sift_up (self, i);
      else
        heap_sift_down (self, i);
    }
  else
    {
      g_ptr_array_set_size (self->heap, last);
    }

  g_hash_table_remove (self->by_id, GUINT_TO_POINTER (timer->id));
  return timer;
}

static void
timer_free (Timer *timer)
{
  if (timer->notify != NULL)
    timer->notify (timer->user_data);
  g_free (timer);
}

static gint64
gossip_virtual_clock_now (GossipClock *clock)
{
  return GOSSIP_VIRTUAL_CLOCK (clock)->now;
}

static guint
gossip_virtual_clock_add_timeout (GossipClock       *clock,
                                  gint64             delay_us,
                                  GossipTimeoutFunc  func,
                                  gpointer           user_data,
                                  GDestroyNotify     notify)
{
  GossipVirtualClock *self = GOSSIP_VIRTUAL_CLOCK (clock);
  Timer *timer = g_new (Timer, 1);
  guint id;

  do
    id = ++self->next_id;
  while (id == 0 || g_hash_table_contains (self->by_id, GUINT_TO_POINTER (id)));

  timer->deadline = delay_us > G_MAXINT64 - self->now ? G_MAXINT64 : self->now + delay_us;
  timer->seq = self->next_seq++;
  timer->id = id;
  timer->func = func;
  timer->user_data = user_data;
  timer->notify = notify;

  g_ptr_array_add (self->heap, timer);
  heap_sift_up (self, self->heap->len - 1);
  g_hash_table_insert (self->by_id, GUINT_TO_POINTER (id), timer);

  return id;
}

static void
gossip_virtual_clock_cancel (GossipClock *clock,
                             guint        id)
{
  GossipVirtualClock *self = GOSSIP_VIRTUAL_CLOCK (clock);
  Timer *timer;

  timer = g_hash_table_lookup (self->by_id, GUINT_TO_POINTER (id));
  if (timer == NULL)
    return;

  timer_free (heap_remove (self, timer->heap_index));
}

static void
gossip_virtual_clock_dispose (GObject *object)
{
  GossipVirtualClock *self = GOSSIP_VIRTUAL_CLOCK (object);

  /* Destroy notifies may re-enter (cancel other timers, even add new ones),
   * so unlink one timer at a time until none is left. */
  while (self->heap != NULL && self->heap->len > 0)
    timer_free (heap_remove (self, self->heap->len - 1));

  G_OBJECT_CLASS (gossip_virtual_clock_parent_class)->dispose (object);
}

static void
gossip_virtual_clock_finalize (GObject *object)
{
  GossipVirtualClock *self = GOSSIP_VIRTUAL_CLOCK (object);

  g_clear_pointer (&self->heap, g_ptr_array_unref);
  g_clear_pointer (&self->by_id, g_hash_table_unref);

  G_OBJECT_CLASS (gossip_virtual_clock_parent_class)->finalize (object);
}

static void
gossip_virtual_clock_class_init (GossipVirtualClockClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = gossip_virtual_clock_dispose;
  object_class->finalize = gossip_virtual_clock_finalize;
}

static void
gossip_virtual_clock_iface_init (GossipClockInterface *iface)
{
  iface->now = gossip_virtual_clock_now;
  iface->add_timeout = gossip_virtual_clock_add_timeout;
  iface->cancel = gossip_virtual_clock_cancel;
}

static void
gossip_virtual_clock_init (GossipVirtualClock *self)
{
  self->heap = g_ptr_array_new ();
  self->by_id = g_hash_table_new (NULL, NULL);
}

/**
 * gossip_virtual_clock_new:
 * @start_us: the initial virtual time in microseconds
 *
 * Creates a virtual clock standing still at @start_us.
 *
 * Returns: (transfer full): a new #GossipVirtualClock
 */
GossipVirtualClock *
gossip_virtual_clock_new (gint64 start_us)
{
  GossipVirtualClock *self = g_object_new (GOSSIP_TYPE_VIRTUAL_CLOCK, NULL);

  self->now = start_us;
  return self;
}

/* Fires the earliest timer; time moves to its deadline (never backwards). */
static void
fire_earliest (GossipVirtualClock *self)
{
  Timer *timer = heap_remove (self, 0);

  self->now = MAX (self->now, timer->deadline);
  timer->func (timer->user_data);
  timer_free (timer);
}

/**
 * gossip_virtual_clock_step:
 * @clock: a #GossipVirtualClock
 *
 * Fires the earliest pending timer, first moving the virtual time to its
 * deadline. Timers the callback adds are not fired by this call.
 *
 * Returns: %TRUE if a timer fired, %FALSE if none was pending
 */
gboolean
gossip_virtual_clock_step (GossipVirtualClock *clock)
{
  g_return_val_if_fail (GOSSIP_IS_VIRTUAL_CLOCK (clock), FALSE);

  if (clock->heap->len == 0)
    return FALSE;

  fire_earliest (clock);
  return TRUE;
}

/**
 * gossip_virtual_clock_advance:
 * @clock: a #GossipVirtualClock
 * @delta_us: how far to move time, in microseconds (negative counts as 0)
 *
 * Moves the virtual time forward by @delta_us, firing in order every timer
 * whose deadline falls within the new time, including timers added by the
 * callbacks while advancing. During each callback gossip_clock_now() returns
 * that timer's deadline. Afterwards the time is exactly the old time plus
 * @delta_us.
 *
 * Returns: the number of timers fired
 */
guint
gossip_virtual_clock_advance (GossipVirtualClock *clock,
                              gint64              delta_us)
{
  gint64 target;
  guint fired = 0;

  g_return_val_if_fail (GOSSIP_IS_VIRTUAL_CLOCK (clock), 0);

  delta_us = MAX (delta_us, 0);
  target = delta_us > G_MAXINT64 - clock->now ? G_MAXINT64 : clock->now + delta_us;

  while (clock->heap->len > 0 && heap_at (clock, 0)->deadline <= target)
    {
      fire_earliest (clock);
      fired++;
    }

  /* A callback may itself have advanced the clock further. */
  clock->now = MAX (clock->now, target);
  return fired;
}

/**
 * gossip_virtual_clock_next_deadline:
 * @clock: a #GossipVirtualClock
 *
 * Gets the deadline of the next timer.
 *
 * Returns: the deadline of the earliest pending timer, or %G_MAXINT64 when
 *   no timer is pending
 */
gint64
gossip_virtual_clock_next_deadline (GossipVirtualClock *clock)
{
  g_return_val_if_fail (GOSSIP_IS_VIRTUAL_CLOCK (clock), G_MAXINT64);

  if (clock->heap->len == 0)
    return G_MAXINT64;
  return heap_at (clock, 0)->deadline;
}

/**
 * gossip_virtual_clock_pending:
 * @clock: a #GossipVirtualClock
 *
 * Counts the pending timers.
 *
 * Returns: the number of timers armed and not yet fired or cancelled
 */
guint
gossip_virtual_clock_pending (GossipVirtualClock *clock)
{
  g_return_val_if_fail (GOSSIP_IS_VIRTUAL_CLOCK (clock), 0);

  return clock->heap->len;
}
