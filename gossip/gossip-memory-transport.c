/* gossip-memory-transport.c — in-memory network on virtual time.
 *
 * SPDX-License-Identifier: MIT
 */
#include "config.h"

#include <glib/gi18n-lib.h>
#include <math.h>

#include "gossip-memory-transport.h"
#include "gossip-frame-private.h"
#include "gossip-transport-private.h"

/**
 * GossipMemoryNetwork:
 *
 * A simulated network on a #GossipVirtualClock, with configurable latency,
 * loss and partitions, shared by the #GossipMemoryTransport instances
 * attached to it.
 */

/**
 * GossipMemoryTransport:
 *
 * A #GossipTransport on a #GossipMemoryNetwork, created with
 * gossip_memory_transport_new().
 */

/**
 * SECTION:gossip-memory-transport
 * @title: GossipMemoryTransport
 * @short_description: a simulated network on virtual time
 *
 * A #GossipMemoryNetwork connects any number of #GossipMemoryTransport
 * instances, each identified by its address string. Every delivery is a
 * timer on the network's #GossipVirtualClock, and every random choice
 * (latency, loss) comes from one #GRand seeded at creation, so a simulation
 * replays identically for a given seed and call sequence.
 *
 * The network model:
 *
 * - Latency: each datagram, stream request and stream reply takes a delay
 *   drawn uniformly from [min, max] (0 by default; delivery still happens
 *   from a timer, never inside the send call).
 * - Loss applies to datagrams only, as a probability per (from, to) pair;
 *   %NULL stands for "any" address and the most specific rule wins. Streams
 *   model TCP, which retransmits: they are never lost.
 * - Partitions: every address is in group 0 unless moved with
 *   gossip_memory_network_set_partition(); only addresses in the same group
 *   communicate. Datagrams across groups are dropped; stream requests and
 *   replies across groups vanish, so the exchange fails with
 *   %G_IO_ERROR_TIMED_OUT when its timeout expires, as a TCP connect into a
 *   black hole would. Partitions are checked when a frame is sent.
 * - A stream to an address no started transport has fails with
 *   %G_IO_ERROR_CONNECTION_REFUSED at once (on the next timer dispatch), or
 *   when the request arrives if the destination stopped meanwhile.
 *   Datagrams to such addresses are dropped on arrival.
 * - An unanswered reply handle ends the exchange with
 *   %G_IO_ERROR_CONNECTION_CLOSED ("no reply") after one latency.
 * - Counters: every datagram, stream request and reply frame counts as a
 *   packet sent by its sender, with its size in bytes, whether or not it is
 *   then lost.
 *
 * Lookups are hash tables keyed by address, so the cost per packet does not
 * grow with the number of transports (simulations run 10,000 of them).
 *
 * Everything, reply handles included, must be used on the thread that
 * advances the virtual clock.
 */

/* Same limit as the socket transport, so that the engine takes the same
 * datagram-or-stream decisions in simulations. */
#define MEMORY_MAX_DATAGRAM       1400
#define DEFAULT_STREAM_TIMEOUT_US (10 * G_USEC_PER_SEC)

typedef struct
{
  guint64 bytes;
  guint64 packets;
} Counters;

struct _GossipMemoryNetwork
{
  GObject             parent_instance;

  GossipVirtualClock *clock;
  GRand              *rand;
  gint64              latency_min;
  gint64              latency_max;
  GHashTable         *loss;             /* "from\nto" ("" = any) -> double* */
  GHashTable         *groups;           /* address -> GUINT_TO_POINTER (group) */
  GHashTable         *transports;       /* address -> GossipMemoryTransport* (started ones, borrowed) */
  GHashTable         *counters;         /* address -> Counters* */
  GHashTable         *events;           /* timer id -> Event* (pending, borrowed) */
  GHashTable         *exchanges;        /* guint64* id -> MemExchange* (borrowed) */
  guint64             next_exchange_id;
};

struct _GossipMemoryTransport
{
  GObject              parent_instance;

  GossipMemoryNetwork *network;
  char                *address;
  gboolean             started;
  GHashTable          *exchanges;       /* guint64* id -> MemExchange* (borrowed) */
};

static void gossip_memory_transport_iface_init (GossipTransportInterface *iface);

G_DEFINE_FINAL_TYPE (GossipMemoryNetwork, gossip_memory_network, G_TYPE_OBJECT)
G_DEFINE_FINAL_TYPE_WITH_CODE (GossipMemoryTransport, gossip_memory_transport, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (GOSSIP_TYPE_TRANSPORT,
                                                      gossip_memory_transport_iface_init))

/* ---------------------------------------------------------------------------
 * Stream exchanges (requester side)
 * ------------------------------------------------------------------------- */

typedef struct
{
  guint64                    id;
  GossipMemoryTransport     *transport;  /* borrowed: stop() completes every exchange */
  char                      *to;
  GossipTransportStreamFunc  func;
  gpointer                   user_data;
  guint                      timeout_timer;
} MemExchange;

/* ---------------------------------------------------------------------------
 * Events: everything in flight is a timer on the virtual clock
 * ------------------------------------------------------------------------- */

typedef enum
{
  EVENT_DATAGRAM,       /* from, to, frame */
  EVENT_REQUEST,        /* exchange_id, from, to, frame, want_reply */
  EVENT_REPLY,          /* exchange_id, frame (NULL: no reply) */
  EVENT_FAIL,           /* exchange_id, error */
  EVENT_TIMEOUT,        /* exchange_id */
} EventKind;

typedef struct
{
  GossipMemoryNetwork *network;         /* borrowed: its dispose cancels pending events */
  guint                timer_id;
  EventKind            kind;
  guint64              exchange_id;
  gboolean             want_reply;
  char                *from;
  char                *to;
  GBytes              *frame;
  GError              *error;
} Event;

static void event_fire (gpointer data);

static void
event_free (gpointer data)
{
  Event *event = data;

  g_free (event->from);
  g_free (event->to);
  g_clear_pointer (&event->frame, g_bytes_unref);
  g_clear_error (&event->error);
  g_free (event);
}

static Event *
event_new (GossipMemoryNetwork *network,
           EventKind            kind)
{
  Event *event = g_new0 (Event, 1);

  event->network = network;
  event->kind = kind;
  return event;
}

static guint
network_schedule (GossipMemoryNetwork *network,
                  Event               *event,
                  gint64               delay_us)
{
  event->timer_id = gossip_clock_add_timeout (GOSSIP_CLOCK (network->clock), delay_us,
                                              event_fire, event, event_free);
  g_hash_table_insert (network->events, GUINT_TO_POINTER (event->timer_id), event);
  return event->timer_id;
}

static void
network_cancel (GossipMemoryNetwork *network,
                guint                timer_id)
{
  if (timer_id != 0 && g_hash_table_remove (network->events, GUINT_TO_POINTER (timer_id)))
    gossip_clock_cancel (GOSSIP_CLOCK (network->clock), timer_id);
}

static gint64
network_draw_latency (GossipMemoryNetwork *network)
{
  gint64 span;

  if (network->latency_max <= network->latency_min)
    return network->latency_min;

  span = network->latency_max - network->latency_min;
  return network->latency_min + MIN (span, (gint64) (g_rand_double (network->rand) * ((double) span + 1.0)));
}

static double
network_get_loss (GossipMemoryNetwork *network,
                  const char          *from,
                  const char          *to)
{
  const char *candidates[4][2] = { { from, to }, { from, "" }, { "", to }, { "", "" } };

  if (g_hash_table_size (network->loss) == 0)
    return 0.0;

  for (guint i = 0; i < G_N_ELEMENTS (candidates); i++)
    {
      g_autofree char *key = g_strconcat (candidates[i][0], "\n", candidates[i][1], NULL);
      double *loss = g_hash_table_lookup (network->loss, key);

      if (loss != NULL)
        return *loss;
    }

  return 0.0;
}

static gboolean
network_connected (GossipMemoryNetwork *network,
                   const char          *a,
                   const char          *b)
{
  return g_hash_table_lookup (network->groups, a) == g_hash_table_lookup (network->groups, b);
}

static void
network_count (GossipMemoryNetwork *network,
               const char          *address,
               gsize                bytes)
{
  Counters *counters = g_hash_table_lookup (network->counters, address);

  if (counters == NULL)
    {
      counters = g_new0 (Counters, 1);
      g_hash_table_insert (network->counters, g_strdup (address), counters);
    }
  counters->bytes += bytes;
  counters->packets++;
}

static void
exchange_complete (GossipMemoryNetwork *network,
                   MemExchange         *ex,
                   GBytes              *reply,
                   const GError        *error)
{
  g_autoptr(GossipMemoryTransport) transport = g_object_ref (ex->transport);

  g_hash_table_remove (network->exchanges, &ex->id);
  g_hash_table_remove (transport->exchanges, &ex->id);
  network_cancel (network, ex->timeout_timer);

  if (ex->func != NULL)
    ex->func (reply, error, ex->user_data);

  g_free (ex->to);
  g_free (ex);
}

static void
exchange_fail_literal (GossipMemoryNetwork *network,
                       MemExchange         *ex,
                       gint                 code,
                       const char          *message)
{
  g_autoptr(GError) error = g_error_new_literal (G_IO_ERROR, code, message);

  exchange_complete (network, ex, NULL, error);
}

typedef struct
{
  GossipMemoryNetwork *network;         /* strong: the handle may outlive every transport */
  guint64              exchange_id;
  char                *responder;
  char                *requester;
} ReplyContext;

static void
reply_context_free (gpointer data)
{
  ReplyContext *ctx = data;

  g_object_unref (ctx->network);
  g_free (ctx->responder);
  g_free (ctx->requester);
  g_free (ctx);
}

static void
reply_send_func (GBytes   *frame_or_null,
                 gpointer  data)
{
  ReplyContext *ctx = data;
  GossipMemoryNetwork *network = ctx->network;
  Event *event;

  /* The requester gave up (timeout, stop) or the network is gone. */
  if (network->clock == NULL || !g_hash_table_contains (network->exchanges, &ctx->exchange_id))
    return;

  if (frame_or_null != NULL)
    network_count (network, ctx->responder, g_bytes_get_size (frame_or_null));

  if (!network_connected (network, ctx->responder, ctx->requester))
    return;   /* lost in the partition; the requester times out */

  event = event_new (network, EVENT_REPLY);
  event->exchange_id = ctx->exchange_id;
  event->frame = frame_or_null != NULL ? g_bytes_ref (frame_or_null) : NULL;
  network_schedule (network, event, network_draw_latency (network));
}

static void
deliver_request (GossipMemoryNetwork *network,
                 Event               *event)
{
  MemExchange *ex = g_hash_table_lookup (network->exchanges, &event->exchange_id);
  GossipMemoryTransport *destination;
  GossipTransportReply *reply = NULL;

  if (ex == NULL)
    return;   /* timed out or cancelled while in flight */

  destination = g_hash_table_lookup (network->transports, event->to);
  if (destination == NULL)
    {
      g_autofree char *message = g_strdup_printf (_("cannot connect to %s: connection refused"), event->to);

      exchange_fail_literal (network, ex, G_IO_ERROR_CONNECTION_REFUSED, message);
      return;
    }

  if (event->want_reply)
    {
      ReplyContext *ctx = g_new0 (ReplyContext, 1);

      ctx->network = g_object_ref (network);
      ctx->exchange_id = event->exchange_id;
      ctx->responder = g_strdup (event->to);
      ctx->requester = g_strdup (event->from);
      reply = gossip_transport_reply_new (reply_send_func, ctx, reply_context_free);
    }
  else
    {
      /* The write of a one-way stream is done once the peer has it. */
      exchange_complete (network, ex, NULL, NULL);
    }

  {
    g_autoptr(GossipMemoryTransport) hold = g_object_ref (destination);

    gossip_transport_deliver (GOSSIP_TRANSPORT (destination), event->frame, TRUE, event->from, reply);
  }
  if (reply != NULL)
    gossip_transport_reply_unref (reply);
}

static void
event_fire (gpointer data)
{
  Event *event = data;
  GossipMemoryNetwork *network = event->network;
  g_autoptr(GossipMemoryNetwork) hold = g_object_ref (network);
  MemExchange *ex;

  g_hash_table_remove (network->events, GUINT_TO_POINTER (event->timer_id));

  switch (event->kind)
    {
    case EVENT_DATAGRAM:
      {
        GossipMemoryTransport *destination = g_hash_table_lookup (network->transports, event->to);

        if (destination != NULL)
          {
            g_autoptr(GossipMemoryTransport) hold_destination = g_object_ref (destination);

            gossip_transport_deliver (GOSSIP_TRANSPORT (destination), event->frame, FALSE, event->from, NULL);
          }
      }
      break;

    case EVENT_REQUEST:
      deliver_request (network, event);
      break;

    case EVENT_REPLY:
      ex = g_hash_table_lookup (network->exchanges, &event->exchange_id);
      if (ex == NULL)
        break;
      if (event->frame != NULL)
        {
          exchange_complete (network, ex, event->frame, NULL);
        }
      else
        {
          g_autofree char *message = g_strdup_printf (_("%s sent no reply"), ex->to);

          exchange_fail_literal (network, ex, G_IO_ERROR_CONNECTION_CLOSED, message);
        }
      break;

    case EVENT_FAIL:
      ex = g_hash_table_lookup (network->exchanges, &event->exchange_id);
      if (ex != NULL)
        exchange_complete (network, ex, NULL, event->error);
      break;

    case EVENT_TIMEOUT:
      ex = g_hash_table_lookup (network->exchanges, &event->exchange_id);
      if (ex != NULL)
        {
          g_autofree char *message = g_strdup_printf (_("stream exchange with %s timed out"), ex->to);

          ex->timeout_timer = 0;   /* this very timer */
          exchange_fail_literal (network, ex, G_IO_ERROR_TIMED_OUT, message);
        }
      break;

    default:
      g_assert_not_reached ();
    }
}

/* ---------------------------------------------------------------------------
 * GossipMemoryNetwork
 * ------------------------------------------------------------------------- */

static void
gossip_memory_network_dispose (GObject *object)
{
  GossipMemoryNetwork *self = GOSSIP_MEMORY_NETWORK (object);

  /* Transports hold a reference on the network, so none is left; only
   * frames in flight remain, and they must not fire into a freed network. */
  if (self->clock != NULL)
    {
      g_autoptr(GList) ids = g_hash_table_get_keys (self->events);

      g_hash_table_remove_all (self->events);
      for (GList *l = ids; l != NULL; l = l->next)
        gossip_clock_cancel (GOSSIP_CLOCK (self->clock), GPOINTER_TO_UINT (l->data));
    }
  g_clear_object (&self->clock);

  G_OBJECT_CLASS (gossip_memory_network_parent_class)->dispose (object);
}

static void
gossip_memory_network_finalize (GObject *object)
{
  GossipMemoryNetwork *self = GOSSIP_MEMORY_NETWORK (object);

  g_rand_free (self->rand);
  g_hash_table_unref (self->loss);
  g_hash_table_unref (self->groups);
  g_hash_table_unref (self->transports);
  g_hash_table_unref (self->counters);
  g_hash_table_unref (self->events);
  g_hash_table_unref (self->exchanges);

  G_OBJECT_CLASS (gossip_memory_network_parent_class)->finalize (object);
}

static void
gossip_memory_network_class_init (GossipMemoryNetworkClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = gossip_memory_network_dispose;
  object_class->finalize = gossip_memory_network_finalize;
}

static void
gossip_memory_network_init (GossipMemoryNetwork *self)
{
  self->loss = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  self->groups = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  self->transports = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  self->counters = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  self->events = g_hash_table_new (NULL, NULL);
  self->exchanges = g_hash_table_new (g_int64_hash, g_int64_equal);
}

/**
 * gossip_memory_network_new:
 * @clock: the virtual clock every delivery is scheduled on
 * @seed: seed of the network's random generator (latency and loss)
 *
 * Creates an empty simulated network. Disposing it drops every frame still
 * in flight.
 *
 * Returns: (transfer full): a new #GossipMemoryNetwork
 */
GossipMemoryNetwork *
gossip_memory_network_new (GossipVirtualClock *clock,
                           guint32             seed)
{
  GossipMemoryNetwork *self;

  g_return_val_if_fail (GOSSIP_IS_VIRTUAL_CLOCK (clock), NULL);

  self = g_object_new (GOSSIP_TYPE_MEMORY_NETWORK, NULL);
  self->clock = g_object_ref (clock);
  self->rand = g_rand_new_with_seed (seed);
  return self;
}

/**
 * gossip_memory_network_set_latency:
 * @network: a #GossipMemoryNetwork
 * @min_us: the smallest one-way delay, in microseconds
 * @max_us: the largest one-way delay; values below @min_us count as @min_us
 *
 * Sets the delay of every datagram, stream request and reply, drawn
 * uniformly from [@min_us, @max_us] for each frame. It applies to frames
 * sent from now on.
 */
void
gossip_memory_network_set_latency (GossipMemoryNetwork *network,
                                   gint64               min_us,
                                   gint64               max_us)
{
  g_return_if_fail (GOSSIP_IS_MEMORY_NETWORK (network));
  g_return_if_fail (min_us >= 0);

  network->latency_min = min_us;
  network->latency_max = MAX (min_us, max_us);
}

/**
 * gossip_memory_network_set_loss:
 * @network: a #GossipMemoryNetwork
 * @from: (nullable): sender address, or %NULL for any sender
 * @to: (nullable): destination address, or %NULL for any destination
 * @loss: probability that a datagram is dropped, 0.0 to 1.0 (clamped)
 *
 * Sets the datagram loss rate of a path. The most specific rule applies:
 * (@from, @to), then (@from, any), then (any, @to), then (any, any). A rate
 * of 0 is kept as a rule, so it can exempt a path from a broader one.
 * Streams are never lost.
 */
void
gossip_memory_network_set_loss (GossipMemoryNetwork *network,
                                const char          *from,
                                const char          *to,
                                double               loss)
{
  double *value;

  g_return_if_fail (GOSSIP_IS_MEMORY_NETWORK (network));

  value = g_new (double, 1);
  *value = isnan (loss) ? 0.0 : CLAMP (loss, 0.0, 1.0);
  g_hash_table_insert (network->loss, g_strconcat (from != NULL ? from : "", "\n", to != NULL ? to : "", NULL),
                       value);
}

/**
 * gossip_memory_network_set_partition:
 * @network: a #GossipMemoryNetwork
 * @address: a transport address
 * @group: the partition group; every address starts in group 0
 *
 * Moves @address into @group. Only addresses in the same group exchange
 * frames; see the section description for what senders observe.
 */
void
gossip_memory_network_set_partition (GossipMemoryNetwork *network,
                                     const char          *address,
                                     guint                group)
{
  g_return_if_fail (GOSSIP_IS_MEMORY_NETWORK (network));
  g_return_if_fail (address != NULL);

  if (group == 0)
    g_hash_table_remove (network->groups, address);
  else
    g_hash_table_insert (network->groups, g_strdup (address), GUINT_TO_POINTER (group));
}

/**
 * gossip_memory_network_heal:
 * @network: a #GossipMemoryNetwork
 *
 * Puts every address back in group 0 and removes every loss rule. The
 * latency is kept.
 */
void
gossip_memory_network_heal (GossipMemoryNetwork *network)
{
  g_return_if_fail (GOSSIP_IS_MEMORY_NETWORK (network));

  g_hash_table_remove_all (network->groups);
  g_hash_table_remove_all (network->loss);
}

/**
 * gossip_memory_network_get_bytes_sent:
 * @network: a #GossipMemoryNetwork
 * @address: a transport address
 *
 * Counts the bytes one address sent over the network.
 *
 * Returns: the total size of every frame @address sent, lost ones included
 */
guint64
gossip_memory_network_get_bytes_sent (GossipMemoryNetwork *network,
                                      const char          *address)
{
  Counters *counters;

  g_return_val_if_fail (GOSSIP_IS_MEMORY_NETWORK (network), 0);
  g_return_val_if_fail (address != NULL, 0);

  counters = g_hash_table_lookup (network->counters, address);
  return counters != NULL ? counters->bytes : 0;
}

/**
 * gossip_memory_network_get_packets_sent:
 * @network: a #GossipMemoryNetwork
 * @address: a transport address
 *
 * Counts the frames one address sent over the network.
 *
 * Returns: the number of frames (datagrams, stream requests and replies)
 *   @address sent, lost ones included
 */
guint64
gossip_memory_network_get_packets_sent (GossipMemoryNetwork *network,
                                        const char          *address)
{
  Counters *counters;

  g_return_val_if_fail (GOSSIP_IS_MEMORY_NETWORK (network), 0);
  g_return_val_if_fail (address != NULL, 0);

  counters = g_hash_table_lookup (network->counters, address);
  return counters != NULL ? counters->packets : 0;
}

/* ---------------------------------------------------------------------------
 * GossipMemoryTransport
 * ------------------------------------------------------------------------- */

static gint
exchange_compare_id (gconstpointer a,
                     gconstpointer b)
{
  const MemExchange *x = *(MemExchange * const *) a;
  const MemExchange *y = *(MemExchange * const *) b;

  return x->id < y->id ? -1 : x->id > y->id;
}

static gboolean
gossip_memory_transport_start (GossipTransport  *transport,
                               GError          **error)
{
  GossipMemoryTransport *self = GOSSIP_MEMORY_TRANSPORT (transport);
  GossipMemoryNetwork *network = self->network;

  if (self->started)
    return TRUE;

  if (g_hash_table_contains (network->transports, self->address))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_ADDRESS_IN_USE,
                   _("cannot start the memory transport at %s: the address is already in use on this network"),
                   self->address);
      return FALSE;
    }

  g_hash_table_insert (network->transports, g_strdup (self->address), self);
  self->started = TRUE;
  return TRUE;
}

static void
gossip_memory_transport_stop (GossipTransport *transport)
{
  GossipMemoryTransport *self = GOSSIP_MEMORY_TRANSPORT (transport);
  g_autoptr(GossipMemoryTransport) hold = g_object_ref (self);
  g_autoptr(GPtrArray) pending = NULL;
  g_autoptr(GError) cancelled = NULL;
  GHashTableIter iter;
  gpointer value;

  if (self->started)
    {
      self->started = FALSE;
      g_hash_table_remove (self->network->transports, self->address);
    }

  if (g_hash_table_size (self->exchanges) == 0)
    return;

  /* Completed synchronously, as documented on gossip_transport_stop(). */
  pending = g_ptr_array_sized_new (g_hash_table_size (self->exchanges));
  g_hash_table_iter_init (&iter, self->exchanges);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    g_ptr_array_add (pending, value);
  /* Hash order is not reproducible across runs; completion order must be. */
  g_ptr_array_sort (pending, exchange_compare_id);
  cancelled = g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CANCELLED, _("the transport was stopped"));
  for (guint i = 0; i < pending->len; i++)
    exchange_complete (self->network, g_ptr_array_index (pending, i), NULL, cancelled);
}

static char *
gossip_memory_transport_get_local_address (GossipTransport *transport)
{
  GossipMemoryTransport *self = GOSSIP_MEMORY_TRANSPORT (transport);

  return self->started ? g_strdup (self->address) : NULL;
}

static gsize
gossip_memory_transport_get_max_datagram (GossipTransport *transport)
{
  return MEMORY_MAX_DATAGRAM;
}

static void
send_stream_internal (GossipMemoryTransport     *self,
                      const char                *address,
                      GBytes                    *frame,
                      gboolean                   want_reply,
                      gint64                     timeout_us,
                      GossipTransportStreamFunc  func,
                      gpointer                   user_data)
{
  GossipMemoryNetwork *network = self->network;
  MemExchange *ex = g_new0 (MemExchange, 1);
  gsize len = g_bytes_get_size (frame);
  Event *event;

  ex->id = ++network->next_exchange_id;
  ex->transport = self;
  ex->to = g_strdup (address);
  ex->func = func;
  ex->user_data = user_data;
  g_hash_table_insert (network->exchanges, &ex->id, ex);
  g_hash_table_insert (self->exchanges, &ex->id, ex);

  event = event_new (network, EVENT_TIMEOUT);
  event->exchange_id = ex->id;
  ex->timeout_timer = network_schedule (network, event,
                                        timeout_us > 0 ? timeout_us : DEFAULT_STREAM_TIMEOUT_US);

  /* Failures known now still complete from a timer, never inside the
   * send_stream() call. */
  event = event_new (network, EVENT_FAIL);
  event->exchange_id = ex->id;
  event->error = _gossip_transport_check_send (self->started, address, len,
                                               N_("frame of %zu bytes exceeds the stream limit of %u bytes"));
  if (event->error == NULL && !g_hash_table_contains (network->transports, address))
    event->error = g_error_new (G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED,
                                _("cannot connect to %s: connection refused"), address);

  if (self->started && len > 0 && len <= GOSSIP_MAX_FRAME_SIZE)
    network_count (network, self->address, len);

  if (event->error != NULL)
    {
      network_schedule (network, event, 0);
      return;
    }
  event_free (event);

  if (!network_connected (network, self->address, address))
    return;   /* the timeout will fire */

  event = event_new (network, EVENT_REQUEST);
  event->exchange_id = ex->id;
  event->want_reply = want_reply;
  event->from = g_strdup (self->address);
  event->to = g_strdup (address);
  event->frame = g_bytes_ref (frame);
  network_schedule (network, event, network_draw_latency (network));
}

static void
gossip_memory_transport_send_stream (GossipTransport           *transport,
                                     const char                *address,
                                     GBytes                    *frame,
                                     gboolean                   want_reply,
                                     gint64                     timeout_us,
                                     GossipTransportStreamFunc  func,
                                     gpointer                   user_data)
{
  send_stream_internal (GOSSIP_MEMORY_TRANSPORT (transport), address, frame, want_reply,
                        timeout_us, func, user_data);
}

static void
gossip_memory_transport_send_datagram (GossipTransport *transport,
                                       const char      *address,
                                       GBytes          *frame)
{
  GossipMemoryTransport *self = GOSSIP_MEMORY_TRANSPORT (transport);
  GossipMemoryNetwork *network = self->network;
  gsize len = g_bytes_get_size (frame);
  double loss;
  Event *event;

  if (!self->started || len == 0)
    return;

  /* Same guard as the socket transport: too big for one datagram. */
  if (len > MEMORY_MAX_DATAGRAM)
    {
      send_stream_internal (self, address, frame, FALSE, DEFAULT_STREAM_TIMEOUT_US, NULL, NULL);
      return;
    }

  network_count (network, self->address, len);

  if (!network_connected (network, self->address, address))
    return;

  loss = network_get_loss (network, self->address, address);
  if (loss > 0.0 && g_rand_double (network->rand) < loss)
    return;

  event = event_new (network, EVENT_DATAGRAM);
  event->from = g_strdup (self->address);
  event->to = g_strdup (address);
  event->frame = g_bytes_ref (frame);
  network_schedule (network, event, network_draw_latency (network));
}

static void
gossip_memory_transport_dispose (GObject *object)
{
  GossipMemoryTransport *self = GOSSIP_MEMORY_TRANSPORT (object);

  if (self->network != NULL)
    gossip_memory_transport_stop (GOSSIP_TRANSPORT (self));
  g_clear_object (&self->network);

  G_OBJECT_CLASS (gossip_memory_transport_parent_class)->dispose (object);
}

static void
gossip_memory_transport_finalize (GObject *object)
{
  GossipMemoryTransport *self = GOSSIP_MEMORY_TRANSPORT (object);

  g_free (self->address);
  g_hash_table_unref (self->exchanges);

  G_OBJECT_CLASS (gossip_memory_transport_parent_class)->finalize (object);
}

static void
gossip_memory_transport_class_init (GossipMemoryTransportClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = gossip_memory_transport_dispose;
  object_class->finalize = gossip_memory_transport_finalize;
}

static void
gossip_memory_transport_iface_init (GossipTransportInterface *iface)
{
  iface->start = gossip_memory_transport_start;
  iface->stop = gossip_memory_transport_stop;
  iface->get_local_address = gossip_memory_transport_get_local_address;
  iface->get_max_datagram = gossip_memory_transport_get_max_datagram;
  iface->send_datagram = gossip_memory_transport_send_datagram;
  iface->send_stream = gossip_memory_transport_send_stream;
}

static void
gossip_memory_transport_init (GossipMemoryTransport *self)
{
  self->exchanges = g_hash_table_new (g_int64_hash, g_int64_equal);
}

/**
 * gossip_memory_transport_new:
 * @network: the network to attach to
 * @address: the transport's address on @network, any string (by convention
 *   "host:port"); it is how peers reach it
 *
 * Creates a transport on @network. It receives frames sent to @address
 * while started; starting fails with %G_IO_ERROR_ADDRESS_IN_USE if another
 * started transport has the same address.
 *
 * Returns: (transfer full): a new #GossipTransport
 */
GossipTransport *
gossip_memory_transport_new (GossipMemoryNetwork *network,
                             const char          *address)
{
  GossipMemoryTransport *self;

  g_return_val_if_fail (GOSSIP_IS_MEMORY_NETWORK (network), NULL);
  g_return_val_if_fail (address != NULL && address[0] != '\0', NULL);

  self = g_object_new (GOSSIP_TYPE_MEMORY_TRANSPORT, NULL);
  self->network = g_object_ref (network);
  self->address = g_strdup (address);
  return GOSSIP_TRANSPORT (self);
}
