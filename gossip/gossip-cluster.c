/* gossip-cluster.c — GossipCluster: lifecycle, threading, snapshots, signals.
 *
 * The protocol itself lives in gossip-membership.c (the member table, join
 * and state exchange), gossip-probe.c (SWIM failure detection),
 * gossip-dissemination.c (spreading updates) and gossip-messaging.c (user
 * messages and requests). This file owns the object and the boundary
 * between callers on any thread and the engine; the queries and the local
 * metadata are in gossip-cluster-queries.c, the ticks in gossip-tick.c, the
 * shared engine thread in gossip-engine.c.
 *
 * SPDX-License-Identifier: MIT
 */
#include "config.h"

#include <math.h>
#include <string.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include "gossip-cluster.h"
#include "gossip-error.h"
#include "gossip-system-clock.h"
#include "gossip-socket-transport.h"
#include "gossip-http-transport.h"
#include "gossip-address-private.h"
#include "gossip-crypto-private.h"
#include "gossip-transport-private.h"
#include "gossip-private.h"

/**
 * SECTION:gossip-cluster
 * @title: GossipCluster
 * @short_description: a cluster member: membership, failure detection, messaging
 *
 * A #GossipCluster is the local node of a gossip cluster. Create one from a
 * #GossipConfig with gossip_cluster_new(), start it with
 * gossip_cluster_start() and join existing members with
 * gossip_cluster_join(). From then on it keeps a view of every member
 * (gossip_cluster_get_nodes()), detects failures with SWIM probes, spreads
 * the local metadata (gossip_cluster_set_metadata()) and delivers user
 * messages sent with gossip_cluster_send(), gossip_cluster_send_tagged(),
 * gossip_cluster_send_to() and gossip_cluster_send_request() to the handlers
 * registered with gossip_cluster_handle(). gossip_cluster_leave() announces
 * a graceful departure; gossip_cluster_stop() leaves and shuts down.
 */

/**
 * GossipCluster:
 *
 * One member of a gossip cluster. All protocol work runs on an engine
 * thread: by default a process-wide worker thread with its own
 * #GMainContext shared by every cluster, or a #GMainContext given to
 * gossip_cluster_new_full() (tests drive it with a #GossipVirtualClock and a
 * #GossipMemoryTransport).
 *
 * Every public method is thread-safe. Queries read a snapshot published
 * under a short lock. Signals are emitted on the engine thread, never while
 * an internal lock is held; handlers must not block (hand work to your own
 * thread instead: the plugin queues snapshots for the script thread).
 */

enum {
  SIGNAL_NODE_STATE_CHANGED,
  SIGNAL_NODE_METADATA_CHANGED,
  SIGNAL_GOSSIP_INTERVAL,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

G_DEFINE_FINAL_TYPE (GossipCluster, gossip_cluster, G_TYPE_OBJECT)

/* ------------------------------------------------------------------------ */
/* Engine-thread helpers                                                     */
/* ------------------------------------------------------------------------ */

gboolean
_gossip_cluster_on_engine (GossipCluster *self)
{
  return g_main_context_is_owner (self->context);
}

/* Whether the caller may run engine code inline: it is the engine thread,
 * or (injected contexts only, e.g. tests on virtual time) it can own the
 * context right now. On success the context is acquired: release it. */
static gboolean
try_own_engine (GossipCluster *self)
{
  if (self->engine != NULL && !g_main_context_is_owner (self->context))
    return FALSE;
  return g_main_context_acquire (self->context);
}

typedef struct {
  GossipCluster *self;
  GSourceFunc    func;
  gpointer       data;
  GMutex         mutex;
  GCond          cond;
  gboolean       done;
} SyncCall;

static gboolean
sync_call_cb (gpointer user_data)
{
  SyncCall *call = user_data;

  call->func (call->data);
  _gossip_cluster_flush_events (call->self);

  g_mutex_lock (&call->mutex);
  call->done = TRUE;
  g_cond_signal (&call->cond);
  g_mutex_unlock (&call->mutex);
  return G_SOURCE_REMOVE;
}

/* Runs @func(@data) on the engine thread and waits for it. Inline when the
 * caller already is the engine thread (or may become its owner). */
void
_gossip_cluster_invoke_sync (GossipCluster *self,
                             GSourceFunc    func,
                             gpointer       data)
{
  SyncCall call = { self, func, data };

  if (try_own_engine (self))
    {
      func (data);
      _gossip_cluster_flush_events (self);
      g_main_context_release (self->context);
      return;
    }

  g_mutex_init (&call.mutex);
  g_cond_init (&call.cond);
  g_main_context_invoke (self->context, sync_call_cb, &call);
  g_mutex_lock (&call.mutex);
  while (!call.done)
    g_cond_wait (&call.cond, &call.mutex);
  g_mutex_unlock (&call.mutex);
  g_mutex_clear (&call.mutex);
  g_cond_clear (&call.cond);
}

typedef struct {
  GossipCluster    *self;
  GossipTimeoutFunc func;
} TimerData;

static void
timer_trampoline (gpointer user_data)
{
  TimerData *td = user_data;
  GossipCluster *self = g_object_ref (td->self);

  td->func (self);
  _gossip_cluster_flush_events (self);
  g_object_unref (self);
}

/* Arms a one-shot engine timer calling @func(self). Events raised by @func
 * are flushed afterwards. */
guint
_gossip_cluster_timer (GossipCluster    *self,
                       gint64            delay_us,
                       GossipTimeoutFunc func)
{
  TimerData *td = g_new (TimerData, 1);

  td->self = self;
  td->func = func;
  return gossip_clock_add_timeout (self->clock, MAX (delay_us, 0), timer_trampoline, td, g_free);
}

/* A random delay in [0, period/divisor), so that periodic tasks of many
 * nodes started together do not fire in lockstep. */
gint64
_gossip_cluster_jitter (GossipCluster *self,
                        gint64         period,
                        guint          divisor)
{
  gint64 span = period / MAX (divisor, 1u);

  if (span <= 1)
    return 0;
  return (gint64) (g_rand_double (self->rand) * (double) span);
}

/* ------------------------------------------------------------------------ */
/* Events: queued while processing, emitted afterwards, never under a lock   */
/* ------------------------------------------------------------------------ */

typedef enum {
  EVENT_STATE,
  EVENT_METADATA,
  EVENT_TICK,
} EventKind;

typedef struct {
  GList            link;              /* in GossipCluster.events */
  EventKind        kind;
  GossipNode      *node;
  GossipNodeState  old_state;
  GossipTick      *tick;
} Event;

static void
event_free (Event *ev)
{
  g_clear_pointer (&ev->node, gossip_node_unref);
  g_clear_pointer (&ev->tick, gossip_tick_unref);
  g_free (ev);
}

/* Events are linked through their own list cell: a burst of them (a state
 * exchange that teaches thousands of members) costs no list allocations,
 * which GLib's slice allocator would keep cached afterwards. */
static Event *
event_queue (GossipCluster *self,
             EventKind      kind)
{
  Event *ev = g_new0 (Event, 1);

  ev->kind = kind;
  ev->link.data = ev;
  g_queue_push_tail_link (&self->events, &ev->link);
  return ev;
}

/* Drops the queued events without emitting them. */
void
_gossip_cluster_discard_events (GossipCluster *self)
{
  GList *link;

  while ((link = g_queue_pop_head_link (&self->events)) != NULL)
    event_free (link->data);
}

void
_gossip_cluster_emit_state (GossipCluster   *self,
                            GossipNode      *node,
                            GossipNodeState  old_state)
{
  Event *ev = event_queue (self, EVENT_STATE);

  ev->node = gossip_node_ref (node);
  ev->old_state = old_state;
}

void
_gossip_cluster_emit_metadata (GossipCluster *self,
                               GossipNode    *node)
{
  event_queue (self, EVENT_METADATA)->node = gossip_node_ref (node);
}

void
_gossip_cluster_emit_tick (GossipCluster *self,
                           GossipTick    *tick)
{
  event_queue (self, EVENT_TICK)->tick = gossip_tick_ref (tick);
}

void
_gossip_cluster_flush_events (GossipCluster *self)
{
  GList *link;

  if (self->flushing)
    return;
  self->flushing = TRUE;
  g_object_ref (self);
  while ((link = g_queue_pop_head_link (&self->events)) != NULL)
    {
      Event *ev = link->data;

      switch (ev->kind)
        {
        case EVENT_STATE:
          g_signal_emit (self, signals[SIGNAL_NODE_STATE_CHANGED], 0,
                         ev->node, ev->old_state, gossip_node_get_state (ev->node));
          break;
        case EVENT_METADATA:
          g_signal_emit (self, signals[SIGNAL_NODE_METADATA_CHANGED], 0,
                         ev->node, gossip_node_is_local (ev->node));
          break;
        case EVENT_TICK:
          g_signal_emit (self, signals[SIGNAL_GOSSIP_INTERVAL], 0, ev->tick);
          break;
        }
      event_free (ev);
    }
  self->flushing = FALSE;
  g_object_unref (self);
}

/* ------------------------------------------------------------------------ */
/* Snapshot publication                                                      */
/* ------------------------------------------------------------------------ */

/* Publishes a new snapshot of @m: its state and incarnation, with what
 * @info (an alive update) says of its address, app version, tags and
 * metadata, or else what its current snapshot says. The first publication
 * adds @m to the members set. */
void
_gossip_cluster_publish (GossipCluster      *self,
                         GossipMember       *m,
                         const GossipUpdate *info)
{
  GossipNode *old = m->snapshot;
  GossipNode *fresh;

  GossipNodeState shown = _gossip_member_shown_state (self, m);

  g_assert (info != NULL || old != NULL);
  if (info != NULL)
    fresh = _gossip_node_new (m->uuid, info->address, shown, m->incarnation, info->app_version,
                              info->tags, info->metadata, info->meta_version, m->is_local);
  else
    fresh = _gossip_node_new (m->uuid, old->address, shown, m->incarnation, old->app_version,
                              old->tags, old->metadata, old->metadata_version, m->is_local);

  g_mutex_lock (&self->lock);
  if (old != NULL)
    self->snap_counts[old->state]--;
  else
    g_hash_table_add (self->members, m);
  self->snap_counts[fresh->state]++;
  m->snapshot = fresh;
  if (m->is_local)
    {
      g_clear_pointer (&self->snap_local, gossip_node_unref);
      self->snap_local = gossip_node_ref (fresh);
    }
  g_mutex_unlock (&self->lock);

  if (old != NULL)
    gossip_node_unref (old);
}

/* Takes @m out of the members set; the caller frees it. */
void
_gossip_cluster_unpublish (GossipCluster *self,
                           GossipMember  *m)
{
  g_mutex_lock (&self->lock);
  self->snap_counts[m->snapshot->state]--;
  g_hash_table_steal (self->members, m);
  g_mutex_unlock (&self->lock);
}

/* ------------------------------------------------------------------------ */
/* Frames in and out                                                         */
/* ------------------------------------------------------------------------ */

/* Starts a packet body: kind and header flags. */
void
_gossip_cluster_begin_body (GossipCluster    *self,
                            GossipWriter     *w,
                            GossipPacketKind  kind,
                            gboolean          stream)
{
  (void) self;
  (void) stream;
  gossip_writer_init (w);
  gossip_writer_put_u8 (w, kind);
  gossip_writer_put_u8 (w, 0);
}

GBytes *
_gossip_cluster_seal (GossipCluster *self,
                      GossipWriter  *body)
{
  g_autoptr(GError) error = NULL;
  GBytes *frame;

  frame = gossip_codec_seal (self->codec, body->data->data, body->data->len, &error);
  if (frame == NULL)
    g_warning ("cannot seal frame: %s", error->message);
  else
    self->stats.bytes_sent += g_bytes_get_size (frame);
  return frame;
}

/* Sends @body to @address as a datagram, or one-way over a stream when
 * @reliable, when reliable transport is forced, or when the frame is too
 * large for one datagram (or its body above GOSSIP_MAX_DATAGRAM_BODY). */
void
_gossip_cluster_send_body (GossipCluster *self,
                           const char    *address,
                           GossipWriter  *body,
                           gboolean       reliable)
{
  g_autoptr(GBytes) frame = NULL;
  gboolean stream;

  if (self->lifecycle != GOSSIP_LIFECYCLE_RUNNING || address == NULL || *address == '\0')
    return;

  stream = reliable || self->config->force_reliable_transport;
  frame = _gossip_cluster_seal (self, body);
  if (frame == NULL)
    return;
  if (!stream && (g_bytes_get_size (frame) > (gsize) self->config->udp_max_packet_size ||
                  body->data->len > GOSSIP_MAX_DATAGRAM_BODY ||
                  g_bytes_get_size (frame) > gossip_transport_get_max_datagram (self->transport)))
    stream = TRUE;

  if (stream)
    gossip_transport_send_stream (self->transport, address, frame, FALSE,
                                  2 * G_USEC_PER_SEC, NULL, NULL);
  else
    gossip_transport_send_datagram (self->transport, address, frame);
}

/* The notice a node answers a stream request with when the request fails
 * authentication: a bare frame header with every flag set, which no
 * sealed frame has. Unauthenticated by nature, it only turns a timeout
 * into a clear error. */
static const guint8 auth_failed_notice[2] = { GOSSIP_FRAME_VERSION, 0xff };

/* The wall clock of sender blocks and of the replay window: real time, or
 * an injected clock's time (simulations share one). */
static gint64
cluster_wall_ms (gpointer data)
{
  GossipCluster *self = data;

  if (self->clock == NULL || GOSSIP_IS_SYSTEM_CLOCK (self->clock))
    return g_get_real_time () / 1000;
  return gossip_clock_now (self->clock) / 1000;
}

GBytes *
_gossip_cluster_open (GossipCluster     *self,
                      GBytes            *frame,
                      gboolean           reliable,
                      guint8             expected,
                      GossipReader      *r,
                      guint8            *kind_out,
                      GossipFrameSender *sender_out,
                      GossipOpenResult  *result)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) body = NULL;
  GossipFrameSender local_sender;
  GossipFrameSender *sender = sender_out != NULL ? sender_out : &local_sender;
  GossipOpenResult dummy;
  guint8 kind = 0, hflags = 0;
  gsize len;
  const guint8 *data = g_bytes_get_data (frame, &len);

  if (result == NULL)
    result = &dummy;

  if (len == sizeof auth_failed_notice && memcmp (data, auth_failed_notice, len) == 0)
    {
      *result = GOSSIP_OPEN_PEER_REFUSED;
      return NULL;
    }

  /* A datagram's body is bounded far below a stream's, compressed or not
   * (PROTOCOL.md, "Carriers"): the 21x expansion of a Snappy block must
   * not make a few datagrams cost megabytes. */
  body = gossip_codec_open_full (self->codec, data, len,
                                 reliable ? GOSSIP_MAX_FRAME_SIZE : GOSSIP_MAX_DATAGRAM_BODY,
                                 sender, &error);
  if (body == NULL)
    {
      if (g_error_matches (error, GOSSIP_WIRE_ERROR, GOSSIP_WIRE_ERROR_DECRYPT) ||
          g_error_matches (error, GOSSIP_WIRE_ERROR, GOSSIP_WIRE_ERROR_NOT_ENCRYPTED))
        {
          self->stats.frames_rejected++;
          *result = GOSSIP_OPEN_UNAUTHENTICATED;
        }
      else if (g_error_matches (error, GOSSIP_WIRE_ERROR, GOSSIP_WIRE_ERROR_UNAUTHENTICATED))
        {
          self->stats.auth_rejected++;
          *result = GOSSIP_OPEN_UNAUTHENTICATED;
        }
      else
        {
          self->stats.frames_dropped++;
          *result = GOSSIP_OPEN_DROPPED;
        }
      g_debug ("dropped frame: %s", error->message);
      return NULL;
    }

  /* With a key or a token every frame names its sender, and the replay
   * window refuses a captured frame sent again. */
  if (gossip_codec_is_authenticated (self->codec))
    {
      if (!sender->present)
        {
          self->stats.auth_rejected++;
          *result = GOSSIP_OPEN_UNAUTHENTICATED;
          return NULL;
        }
      if (gossip_replay_window_check (self->replay, sender->id, sender->epoch, sender->seq,
                                      sender->wall_ms, cluster_wall_ms (self)) != GOSSIP_REPLAY_FRESH)
        {
          self->stats.frames_replayed++;
          *result = GOSSIP_OPEN_REPLAYED;
          return NULL;
        }
    }

  gossip_reader_init (r, g_bytes_get_data (body, NULL), g_bytes_get_size (body));
  if (!gossip_reader_get_u8 (r, &kind) || !gossip_reader_get_u8 (r, &hflags) || hflags != 0 ||
      (expected != 0 && kind != expected))
    {
      self->stats.frames_dropped++;
      *result = GOSSIP_OPEN_DROPPED;
      return NULL;
    }

  if (kind_out != NULL)
    *kind_out = kind;
  *result = GOSSIP_OPEN_OK;
  return g_steal_pointer (&body);
}

static void
on_frame_received (GossipTransport      *transport,
                   GBytes               *frame,
                   gboolean              reliable,
                   const char           *from,
                   GossipTransportReply *reply,
                   gpointer              user_data)
{
  GossipCluster *self = user_data;
  g_autoptr(GBytes) body = NULL;
  GossipReader r;
  GossipOpenResult result;
  GossipInbound inbound = { from, { 0 }, NULL, FALSE };
  guint8 kind = 0;

  if (self->lifecycle != GOSSIP_LIFECYCLE_RUNNING)
    return;

  g_object_ref (self);
  self->stats.frames_received++;
  self->stats.bytes_received += g_bytes_get_size (frame);

  body = _gossip_cluster_open (self, frame, reliable, 0, &r, &kind, &inbound.sender, &result);
  if (body == NULL)
    {
      /* A request that fails authentication (a joiner with the wrong
       * token or key) is told so rather than left to time out. */
      if (result == GOSSIP_OPEN_UNAUTHENTICATED && reply != NULL)
        {
          g_autoptr(GBytes) notice = g_bytes_new_static (auth_failed_notice, sizeof auth_failed_notice);

          gossip_transport_reply_send (reply, notice);
        }
      g_debug ("dropped frame from %s", from);
      goto out;
    }

  /* Who is it from? A member is a node in our table whose id the sender
   * block names: proven by the MAC or tag with a key or token, and at the
   * member's recorded address without. Anyone else is a stranger, who may
   * only join, ask for state by stream and ping us (PROTOCOL.md,
   * "Strangers"). */
  if (inbound.sender.present)
    {
      GossipMember *m = _gossip_membership_lookup (self, inbound.sender.id);

      if (m != NULL && !m->is_local &&
          (inbound.sender.authenticated || _gossip_address_same_host (m->snapshot->address, from)))
        inbound.member = m;
    }
  inbound.trusted = inbound.member != NULL || inbound.sender.authenticated;
  /* Whatever a member sends shows it can reach us: preferred as a relay,
   * counted as a possible confirmer of suspicions (gossip-probe.c). */
  if (inbound.member != NULL)
    _gossip_probe_heard (self, inbound.member->uuid);
  if (!inbound.trusted &&
      !(kind == GOSSIP_PACKET_JOIN || kind == GOSSIP_PACKET_PING ||
        (kind == GOSSIP_PACKET_PUSH_PULL && reliable)))
    {
      self->stats.frames_fenced++;
      g_debug ("refused packet kind %u from a stranger at %s", kind, from);
      goto out;
    }
  self->inbound = &inbound;

  switch (kind)
    {
    case GOSSIP_PACKET_PING:
    case GOSSIP_PACKET_ACK:
    case GOSSIP_PACKET_PING_REQ:
    case GOSSIP_PACKET_NACK:
    case GOSSIP_PACKET_GOSSIP:
    case GOSSIP_PACKET_JOIN:
    case GOSSIP_PACKET_PUSH_PULL:
      _gossip_membership_receive (self, kind, &r, reliable, reply);
      break;
    case GOSSIP_PACKET_USER:
      _gossip_messaging_receive (self, kind, &r, reliable, reply);
      break;
    default:
      self->stats.frames_dropped++;
      g_debug ("dropped frame from %s: unknown packet kind %u", from, kind);
      break;
    }

out:
  self->inbound = NULL;
  _gossip_cluster_flush_events (self);
  g_object_unref (self);
}

gboolean
_gossip_cluster_inbound_refused (GossipCluster *self,
                                 const guint8  *claimed)
{
  GossipInbound *in = self->inbound;

  /* Not handling a received frame (a test calling a handler directly):
   * nothing to check against. */
  if (in == NULL)
    return FALSE;
  if (!in->trusted ||
      (claimed != NULL && in->sender.present && memcmp (claimed, in->sender.id, GOSSIP_UUID_SIZE) != 0))
    {
      self->stats.frames_fenced++;
      return TRUE;
    }
  return FALSE;
}

gboolean
_gossip_address_same_host (const char *a,
                           const char *b)
{
  g_autofree char *ha = NULL, *hb = NULL;
  g_autoptr(GInetAddress) ia = NULL, ib = NULL;

  if (a == NULL || b == NULL ||
      !gossip_address_parse (a, NULL, TRUE, NULL, &ha, NULL, NULL, NULL) ||
      !gossip_address_parse (b, NULL, TRUE, NULL, &hb, NULL, NULL, NULL) ||
      ha == NULL || hb == NULL)
    return FALSE;
  ia = g_inet_address_new_from_string (ha);
  ib = g_inet_address_new_from_string (hb);
  /* A member that advertises a host name is matched by its id alone:
   * resolving names here would let any sender make us query DNS. */
  if (ia == NULL || ib == NULL)
    return TRUE;
  if (g_inet_address_equal (ia, ib))
    return TRUE;
  /* An IPv4 peer seen on a dual-stack socket: ::ffff:a.b.c.d. */
  {
    GInetAddress *v6 = g_inet_address_get_family (ia) == G_SOCKET_FAMILY_IPV6 ? ia : ib;
    GInetAddress *v4 = v6 == ia ? ib : ia;

    if (g_inet_address_get_family (v4) == G_SOCKET_FAMILY_IPV4 &&
        g_inet_address_get_family (v6) == G_SOCKET_FAMILY_IPV6)
      {
        const guint8 *b6 = g_inet_address_to_bytes (v6);
        static const guint8 prefix[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

        return memcmp (b6, prefix, 12) == 0 && memcmp (b6 + 12, g_inet_address_to_bytes (v4), 4) == 0;
      }
  }
  return FALSE;
}

/* ------------------------------------------------------------------------ */
/* GObject                                                                   */
/* ------------------------------------------------------------------------ */

static void engine_teardown (GossipCluster *self, gboolean leave);
static void stop_children (GossipCluster *self);

static void
gossip_cluster_dispose (GObject *object)
{
  GossipCluster *self = GOSSIP_CLUSTER (object);

  /* A cluster dropped while running behaves as if stop() was called. */
  gossip_cluster_stop (self);

  G_OBJECT_CLASS (gossip_cluster_parent_class)->dispose (object);
}

static void
gossip_cluster_finalize (GObject *object)
{
  GossipCluster *self = GOSSIP_CLUSTER (object);

  _gossip_registry_remove (self);
  _gossip_messaging_finalize (self);
  _gossip_membership_finalize (self);

  _gossip_cluster_discard_events (self);
  g_clear_pointer (&self->handlers, g_hash_table_unref);
  g_clear_pointer (&self->snap_local, gossip_node_unref);
  g_clear_pointer (&self->local_metadata, g_hash_table_unref);
  g_clear_pointer (&self->local_tags, _gossip_strv_unref);
  g_clear_pointer (&self->seeds, g_ptr_array_unref);
  g_clear_pointer (&self->children, g_ptr_array_unref);
  if (self->transport)
    gossip_transport_set_receive_func (self->transport, NULL, NULL, NULL);
  g_clear_object (&self->transport);
  g_clear_object (&self->clock);
  g_clear_pointer (&self->codec, gossip_codec_unref);
  g_clear_pointer (&self->replay, gossip_replay_window_free);
  g_clear_pointer (&self->rand, g_rand_free);
  g_clear_pointer (&self->config, gossip_config_free);
  g_clear_pointer (&self->context, g_main_context_unref);
  g_clear_pointer (&self->engine, _gossip_engine_release);
  g_free (self->local_id);
  g_free (self->advertise);
  g_mutex_clear (&self->lock);

  G_OBJECT_CLASS (gossip_cluster_parent_class)->finalize (object);
}

static void
gossip_cluster_class_init (GossipClusterClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = gossip_cluster_dispose;
  object_class->finalize = gossip_cluster_finalize;

  _gossip_i18n_init ();

  /**
   * GossipCluster::node-state-changed:
   * @cluster: the cluster
   * @node: snapshot of the node, already in its new state
   * @old_state: the previous state (equal to the new one when the node was
   *   just discovered)
   * @new_state: the new state
   *
   * A node was discovered, or changed state; the local node too (its
   * leave). Not emitted when a dead node is finally reaped. Emitted on the
   * engine thread.
   */
  signals[SIGNAL_NODE_STATE_CHANGED] =
    g_signal_new ("node-state-changed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 3,
                  GOSSIP_TYPE_NODE, G_TYPE_INT, G_TYPE_INT);

  /**
   * GossipCluster::node-metadata-changed:
   * @cluster: the cluster
   * @node: snapshot of the node with its new metadata
   * @is_local: whether it is the local node (set_metadata/delete_metadata)
   *
   * A node's metadata changed. Emitted on the engine thread.
   */
  signals[SIGNAL_NODE_METADATA_CHANGED] =
    g_signal_new ("node-metadata-changed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 2,
                  GOSSIP_TYPE_NODE, G_TYPE_BOOLEAN);

  /**
   * GossipCluster::gossip-interval:
   * @cluster: the cluster
   * @tick: the tick; keep a reference while handlers run elsewhere
   *
   * The periodic gossip-interval tick (every gossip_interval after start,
   * stretched up to gossip_max_interval by slow consumers). Ticks never
   * overlap: the next one is scheduled when the last reference to @tick is
   * dropped. Emitted on the engine thread.
   */
  signals[SIGNAL_GOSSIP_INTERVAL] =
    g_signal_new ("gossip-interval", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 1, GOSSIP_TYPE_TICK);
}

static void
gossip_cluster_init (GossipCluster *self)
{
  g_mutex_init (&self->lock);
  g_queue_init (&self->events);
  self->handlers = g_hash_table_new_full (NULL, NULL, NULL, (GDestroyNotify) _gossip_handler_unref);
  self->seeds = g_ptr_array_new_with_free_func (g_free);
  self->children = g_ptr_array_new_with_free_func (g_free);
}

/* ------------------------------------------------------------------------ */
/* Construction                                                              */
/* ------------------------------------------------------------------------ */

static GossipCodec *
codec_from_config (const GossipConfig *config,
                   GError            **error)
{
  g_autoptr(GossipKeyring) ring = NULL;
  g_autoptr(GossipCodec) codec = NULL;

  if (config->encryption_key != NULL)
    {
      gsize len;
      const guint8 *key = g_bytes_get_data (config->encryption_key, &len);

      ring = gossip_keyring_new (key, len, error);
      if (ring == NULL)
        return NULL;
      for (guint i = 0; config->secondary_keys != NULL && i < config->secondary_keys->len; i++)
        {
          GBytes *k = g_ptr_array_index (config->secondary_keys, i);
          gsize klen;
          const guint8 *kdata = g_bytes_get_data (k, &klen);

          if (!gossip_keyring_add_secondary (ring, kdata, klen, error))
            return NULL;
        }
    }

  codec = gossip_codec_new (ring, config->compression, (gsize) config->compress_min_size);
  if (!gossip_codec_set_token (codec, config->bearer_token, error))
    return NULL;
  return g_steal_pointer (&codec);
}

/**
 * gossip_cluster_new:
 * @config: the configuration (copied)
 * @error: return location for a #GError
 *
 * Creates a cluster member on the shared engine thread with the real clock
 * and the transport named by the configuration. Nothing is bound until
 * gossip_cluster_start().
 *
 * Returns: (transfer full): a new #GossipCluster, or %NULL with @error set
 *   (%GOSSIP_CONFIG_ERROR for bad configuration,
 *   %GOSSIP_CLUSTER_ERROR_ID_IN_USE when another live cluster of this
 *   process has the same node id)
 */
GossipCluster *
gossip_cluster_new (const GossipConfig *config,
                    GError            **error)
{
  return gossip_cluster_new_full (config, NULL, NULL, NULL, error);
}

/**
 * gossip_cluster_new_full:
 * @config: the configuration (copied)
 * @context: (nullable): the engine context; %NULL for the shared engine thread
 * @clock: (nullable): the clock; %NULL for the system clock on the engine context
 * @transport: (nullable): the transport; %NULL to create the one the configuration names
 * @error: return location for a #GError
 *
 * Creates a cluster member with injected engine context, clock and
 * transport. With a #GossipVirtualClock and a #GossipMemoryTransport, the
 * caller drives time and owns @context (it must be the caller's thread's
 * context).
 *
 * Returns: (transfer full): a new #GossipCluster, or %NULL with @error set
 */
GossipCluster *
gossip_cluster_new_full (const GossipConfig *config,
                         GMainContext       *context,
                         GossipClock        *clock,
                         GossipTransport    *transport,
                         GError            **error)
{
  g_autoptr(GossipCluster) self = NULL;
  guint32 seed = 0;

  g_return_val_if_fail (config != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (!gossip_config_validate (config, error))
    return NULL;

  self = g_object_new (GOSSIP_TYPE_CLUSTER, NULL);
  self->config = gossip_config_copy (config);

  if (self->config->node_id == NULL || self->config->node_id[0] == '\0')
    {
      gossip_uuid_generate_v7 (self->local_uuid);
      self->local_id = gossip_uuid_to_string (self->local_uuid);
    }
  else
    {
      if (!gossip_uuid_parse (self->config->node_id, self->local_uuid))
        {
          g_set_error (error, GOSSIP_CONFIG_ERROR, GOSSIP_CONFIG_ERROR_INVALID_VALUE,
                       _("node_id must be a UUID (got \"%s\")"), self->config->node_id);
          return NULL;
        }
      self->local_id = gossip_uuid_to_string (self->local_uuid);
    }

  self->codec = codec_from_config (self->config, error);
  if (self->codec == NULL)
    return NULL;
  /* The epoch tells this run's sequence numbers from an earlier run's. */
  gossip_codec_set_sender (self->codec, self->local_uuid,
                           ((guint64) g_random_int () << 32) | g_random_int (),
                           cluster_wall_ms, self);
  self->replay = gossip_replay_window_new (GOSSIP_REPLAY_MAX_ENTRIES, GOSSIP_REPLAY_SKEW_MS);

  if (context != NULL)
    self->context = g_main_context_ref (context);
  else
    {
      self->engine = _gossip_engine_acquire ();
      self->context = g_main_context_ref (_gossip_engine_get_context (self->engine));
    }

  self->clock = clock != NULL ? g_object_ref (clock) : gossip_system_clock_new (self->context);

  if (transport != NULL)
    self->transport = g_object_ref (transport);
  else if (self->config->transport == GOSSIP_TRANSPORT_SOCKET)
    {
      self->transport = gossip_socket_transport_new (self->config->bind_addr,
                                                     self->config->prefer_ipv6,
                                                     self->config->force_reliable_transport,
                                                     error);
      if (self->transport == NULL)
        return NULL;
    }
  else
    {
      self->transport = gossip_http_transport_new (self->config->bind_addr,
                                                   self->config->prefer_ipv6,
                                                   self->config->insecure_skip_verify,
                                                   error);
      if (self->transport == NULL)
        return NULL;
      /* HTTP's own check sees a value derived from the token, never the
       * token itself (every frame inside is MAC'd as well). */
      if (self->config->bearer_token[0] != '\0')
        {
          guint8 derived[32];
          g_autofree char *bearer = NULL;

          if (!gossip_crypto_derive (self->config->bearer_token, "http-bearer v2",
                                     derived, sizeof derived, error))
            return NULL;
          bearer = g_base64_encode (derived, sizeof derived);
          gossip_http_transport_set_bearer_token (GOSSIP_HTTP_TRANSPORT (self->transport), bearer);
        }
    }

  {
    GossipTransportLimits limits = {
      (guint) self->config->max_incoming_streams,
      (guint) self->config->max_incoming_streams_per_peer,
      (guint) self->config->max_pending_lookups,
      self->config->stream_read_timeout,
    };

    _gossip_transport_set_limits (self->transport, &limits);
  }

  /* Randomness only steers peer selection and jitter; seeding from the node
   * id keeps simulations with fixed ids reproducible. */
  if (clock != NULL)
    seed = g_str_hash (self->local_id);
  else
    seed = g_random_int ();   /* GLib seeds it from /dev/urandom */
  self->rand = g_rand_new_with_seed (seed);

  self->local_tags = _gossip_strv_new ((const char * const *) self->config->tags);
  self->local_metadata = _gossip_metadata_new ();
  self->local_meta_version = 0;

  if (!_gossip_registry_add (self, error))
    return NULL;

  _gossip_membership_init (self);
  _gossip_messaging_init (self);

  return g_steal_pointer (&self);
}

/**
 * gossip_cluster_get_context:
 * @cluster: a #GossipCluster
 *
 * Gets the #GMainContext of the engine thread.
 *
 * Returns: (transfer none): the engine's #GMainContext. Handlers registered
 *   with it run on the engine thread and must not block.
 */
GMainContext *
gossip_cluster_get_context (GossipCluster *cluster)
{
  g_return_val_if_fail (GOSSIP_IS_CLUSTER (cluster), NULL);
  return cluster->context;
}

/* ------------------------------------------------------------------------ */
/* Lifecycle                                                                 */
/* ------------------------------------------------------------------------ */

static gboolean
is_unspecified_host (const char *host)
{
  return host == NULL || *host == '\0' || g_str_equal (host, "0.0.0.0") ||
         g_str_equal (host, "::") || g_str_equal (host, "[::]");
}

/* For a wildcard bind, advertise the first non-loopback IPv4 address of the
 * machine (as memberlist does), falling back to loopback. */
static char *
pick_host_address (void)
{
  struct ifaddrs *ifa = NULL, *i;
  char buf[INET_ADDRSTRLEN];
  char *result = NULL;

  if (getifaddrs (&ifa) != 0)
    return g_strdup ("127.0.0.1");
  for (i = ifa; i != NULL && result == NULL; i = i->ifa_next)
    {
      if (i->ifa_addr == NULL || i->ifa_addr->sa_family != AF_INET)
        continue;
      struct sockaddr_in *sin = (struct sockaddr_in *) i->ifa_addr;
      if ((ntohl (sin->sin_addr.s_addr) >> 24) == 127)
        continue;
      if (inet_ntop (AF_INET, &sin->sin_addr, buf, sizeof buf) != NULL)
        result = g_strdup (buf);
    }
  freeifaddrs (ifa);
  return result ? result : g_strdup ("127.0.0.1");
}

static char *
compute_advertise_address (GossipCluster *self)
{
  g_autofree char *bound = gossip_transport_get_local_address (self->transport);
  g_autofree char *host = NULL;
  g_autofree char *picked = NULL;
  guint16 port = 0;

  if (self->config->advertise_addr != NULL && self->config->advertise_addr[0] != '\0')
    {
      /* An advertise address with port 0 takes the bound port. */
      if (gossip_address_parse (self->config->advertise_addr, "advertise_addr", TRUE,
                                NULL, &host, &port, NULL, NULL) && port == 0 && bound != NULL)
        {
          guint16 bport = 0;
          if (gossip_address_parse (bound, "bind_addr", TRUE, NULL, NULL, &bport, NULL, NULL))
            return gossip_address_format (host ? host : "127.0.0.1", bport);
        }
      return g_strdup (self->config->advertise_addr);
    }

  if (bound == NULL)
    return g_strdup (self->config->bind_addr);
  if (!gossip_address_parse (bound, "bind_addr", TRUE, NULL, &host, &port, NULL, NULL))
    return g_strdup (bound);
  if (is_unspecified_host (host))
    {
      picked = pick_host_address ();
      return gossip_address_format (picked, port);
    }
  return g_steal_pointer (&bound);
}

/* With transport "http" peers POST to the advertised address, so a computed
 * "host:port" (wildcard bind, advertise_addr with port 0) becomes the URL
 * "http://host:port/". An advertise_addr given in full is used as given. */
static char *
compute_advertise (GossipCluster *self)
{
  char *address = compute_advertise_address (self);

  if (self->config->transport == GOSSIP_TRANSPORT_HTTP &&
      !g_str_has_prefix (address, "http://") && !g_str_has_prefix (address, "https://") &&
      g_strcmp0 (address, self->config->advertise_addr) != 0)
    {
      char *url = g_strconcat ("http://", address, "/", NULL);

      g_free (address);
      return url;
    }
  return address;
}

typedef struct {
  GossipCluster *self;
  GError        *error;
  gboolean       ok;
} StartCall;

static gboolean
engine_start (gpointer data)
{
  StartCall *call = data;
  GossipCluster *self = call->self;

  gossip_transport_set_receive_func (self->transport, on_frame_received, self, NULL);
  if (!gossip_transport_start (self->transport, &call->error))
    {
      g_prefix_error (&call->error, _("cannot bind %s: "), self->config->bind_addr);
      if (call->error->domain != GOSSIP_CLUSTER_ERROR)
        {
          GError *e = g_error_new_literal (GOSSIP_CLUSTER_ERROR, GOSSIP_CLUSTER_ERROR_BIND_FAILED,
                                           call->error->message);
          g_error_free (call->error);
          call->error = e;
        }
      gossip_transport_set_receive_func (self->transport, NULL, NULL, NULL);
      return G_SOURCE_REMOVE;
    }

  g_mutex_lock (&self->lock);
  g_free (self->advertise);
  self->advertise = compute_advertise (self);
  self->lifecycle = GOSSIP_LIFECYCLE_RUNNING;
  g_mutex_unlock (&self->lock);

  _gossip_membership_start (self);
  call->ok = TRUE;
  return G_SOURCE_REMOVE;
}

/**
 * gossip_cluster_start:
 * @cluster: a #GossipCluster
 * @error: return location for a #GError
 *
 * Binds the transport (with port 0, one ephemeral port for every listener,
 * advertised as bound) and starts failure detection and gossip. A second
 * call is a no-op. Fails with %GOSSIP_CLUSTER_ERROR_BIND_FAILED naming the
 * address and the OS error (nothing stays half-open), or
 * %GOSSIP_CLUSTER_ERROR_STOPPED after gossip_cluster_stop().
 *
 * Returns: %TRUE on success
 */
gboolean
gossip_cluster_start (GossipCluster *cluster,
                      GError       **error)
{
  StartCall call = { cluster, NULL, FALSE };
  GossipLifecycle lc;

  g_return_val_if_fail (GOSSIP_IS_CLUSTER (cluster), FALSE);

  g_mutex_lock (&cluster->lock);
  lc = cluster->lifecycle;
  g_mutex_unlock (&cluster->lock);

  if (lc == GOSSIP_LIFECYCLE_STOPPED)
    {
      g_set_error_literal (error, GOSSIP_CLUSTER_ERROR, GOSSIP_CLUSTER_ERROR_STOPPED,
                           _("cluster is stopped"));
      return FALSE;
    }
  if (lc == GOSSIP_LIFECYCLE_RUNNING)
    return TRUE;

  _gossip_cluster_invoke_sync (cluster, engine_start, &call);
  if (!call.ok)
    {
      g_propagate_error (error, call.error);
      return FALSE;
    }
  return TRUE;
}

gboolean
_gossip_cluster_check_running (GossipCluster *self,
                               gboolean       allow_new,
                               GError       **error)
{
  GossipLifecycle lc;

  g_mutex_lock (&self->lock);
  lc = self->lifecycle;
  g_mutex_unlock (&self->lock);

  if (lc == GOSSIP_LIFECYCLE_STOPPED)
    {
      g_set_error_literal (error, GOSSIP_CLUSTER_ERROR, GOSSIP_CLUSTER_ERROR_STOPPED,
                           _("cluster is stopped"));
      return FALSE;
    }
  if (lc == GOSSIP_LIFECYCLE_NEW && !allow_new)
    {
      g_set_error_literal (error, GOSSIP_CLUSTER_ERROR, GOSSIP_CLUSTER_ERROR_FAILED,
                           _("cluster is not started"));
      return FALSE;
    }
  return TRUE;
}

typedef struct {
  GossipCluster *self;
  char         **peers;
  GTask         *task;
} JoinCall;

static gboolean
engine_join (gpointer data)
{
  JoinCall *call = data;

  _gossip_membership_join (call->self, call->peers, call->task);
  g_strfreev (call->peers);
  g_object_unref (call->task);
  g_object_unref (call->self);
  g_free (call);
  return G_SOURCE_REMOVE;
}

typedef struct {
  GossipCluster *self;
  GSourceFunc    func;
  gpointer       data;
} AsyncCall;

static gboolean
async_call_cb (gpointer user_data)
{
  AsyncCall *call = user_data;

  call->func (call->data);
  _gossip_cluster_flush_events (call->self);
  g_object_unref (call->self);
  g_free (call);
  return G_SOURCE_REMOVE;
}

/* Runs @func(@data) on the engine thread without waiting (inline when the
 * caller can own the engine context), then flushes the events it raised. */
void
_gossip_cluster_invoke_async (GossipCluster *self,
                              GSourceFunc    func,
                              gpointer       data)
{
  AsyncCall *call;

  if (try_own_engine (self))
    {
      func (data);
      _gossip_cluster_flush_events (self);
      g_main_context_release (self->context);
      return;
    }
  call = g_new (AsyncCall, 1);
  call->self = g_object_ref (self);
  call->func = func;
  call->data = data;
  g_main_context_invoke (self->context, async_call_cb, call);
}

/**
 * gossip_cluster_join_async:
 * @cluster: a #GossipCluster
 * @peers: (array zero-terminated=1): addresses of known members
 * @cancellable: (nullable): a #GCancellable
 * @callback: called when every peer answered, refused or timed out
 * @user_data: data for @callback
 *
 * Contacts every peer in parallel. Peers that do not answer (not up yet,
 * unreachable) are not an error: they are kept as seeds and retried in the
 * background. Joining before gossip_cluster_start() is allowed: the join
 * then happens when the cluster starts, and reports 0 peers.
 */
void
gossip_cluster_join_async (GossipCluster      *cluster,
                           const char * const *peers,
                           GCancellable       *cancellable,
                           GAsyncReadyCallback callback,
                           gpointer            user_data)
{
  g_autoptr(GTask) task = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) list = NULL;
  JoinCall *call;

  g_return_if_fail (GOSSIP_IS_CLUSTER (cluster));

  task = g_task_new (cluster, cancellable, callback, user_data);
  g_task_set_source_tag (task, gossip_cluster_join_async);

  if (!_gossip_cluster_check_running (cluster, TRUE, &error))
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }

  list = g_ptr_array_new_with_free_func (g_free);
  for (guint i = 0; peers != NULL && peers[i] != NULL; i++)
    {
      g_autofree char *host = NULL;
      guint16 port = 0;

      if (!gossip_address_parse (peers[i], "peers",
                                 cluster->config->transport == GOSSIP_TRANSPORT_HTTP,
                                 NULL, &host, &port, NULL, &error))
        {
          g_task_return_new_error (task, GOSSIP_CLUSTER_ERROR, GOSSIP_CLUSTER_ERROR_INVALID_ARGUMENT,
                                   _("invalid peer address \"%s\": %s"), peers[i], error->message);
          return;
        }
      g_ptr_array_add (list, g_strdup (peers[i]));
    }
  if (list->len == 0)
    {
      g_task_return_new_error (task, GOSSIP_CLUSTER_ERROR, GOSSIP_CLUSTER_ERROR_INVALID_ARGUMENT,
                               _("join failed: no peers provided"));
      return;
    }
  g_ptr_array_add (list, NULL);

  call = g_new0 (JoinCall, 1);
  call->self = g_object_ref (cluster);
  call->peers = (char **) g_ptr_array_free (g_steal_pointer (&list), FALSE);
  call->task = g_steal_pointer (&task);
  _gossip_cluster_invoke_async (cluster, engine_join, call);
}

/**
 * gossip_cluster_join_finish:
 * @cluster: a #GossipCluster
 * @result: the #GAsyncResult
 * @error: return location for a #GError
 *
 * Finishes gossip_cluster_join_async().
 *
 * Returns: how many peers accepted us (0 is not an error), or -1 with
 *   @error set for malformed addresses, an empty list or a stopped cluster
 */
gint
gossip_cluster_join_finish (GossipCluster *cluster,
                            GAsyncResult  *result,
                            GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, cluster), -1);
  return (gint) g_task_propagate_int (G_TASK (result), error);
}

typedef struct {
  GAsyncResult *result;
} SyncResult;

static void
sync_result_cb (GObject      *source,
                GAsyncResult *result,
                gpointer      user_data)
{
  SyncResult *sr = user_data;
  sr->result = g_object_ref (result);
}

static gboolean
refuse_engine_thread (GossipCluster *self,
                      const char    *what,
                      GError       **error)
{
  if (g_main_context_is_owner (self->context))
    {
      g_set_error (error, GOSSIP_CLUSTER_ERROR, GOSSIP_CLUSTER_ERROR_FAILED,
                   _("%s cannot block the engine thread; use the asynchronous variant"), what);
      return TRUE;
    }
  return FALSE;
}

/* Runs an async operation to completion on a private context. */
#define RUN_SYNC(self, sr, call_expr)                                   \
  G_STMT_START {                                                        \
    GMainContext *_ctx = g_main_context_new ();                         \
    g_main_context_push_thread_default (_ctx);                          \
    call_expr;                                                          \
    while ((sr).result == NULL)                                         \
      g_main_context_iteration (_ctx, TRUE);                            \
    g_main_context_pop_thread_default (_ctx);                           \
    g_main_context_unref (_ctx);                                        \
  } G_STMT_END

/**
 * gossip_cluster_join:
 * @cluster: a #GossipCluster
 * @peers: (array zero-terminated=1): addresses of known members
 * @error: return location for a #GError
 *
 * Synchronous gossip_cluster_join_async(). Must not be called on the
 * engine thread.
 *
 * Returns: how many peers accepted us, or -1 with @error set
 */
gint
gossip_cluster_join (GossipCluster      *cluster,
                     const char * const *peers,
                     GError            **error)
{
  SyncResult sr = { NULL };
  gint n;

  g_return_val_if_fail (GOSSIP_IS_CLUSTER (cluster), -1);
  if (refuse_engine_thread (cluster, "join", error))
    return -1;

  RUN_SYNC (cluster, sr, gossip_cluster_join_async (cluster, peers, NULL, sync_result_cb, &sr));
  n = gossip_cluster_join_finish (cluster, sr.result, error);
  g_object_unref (sr.result);
  return n;
}

typedef struct {
  GossipCluster *self;
  GTask         *task;
} LeaveCall;

static gboolean
engine_leave (gpointer data)
{
  LeaveCall *call = data;

  _gossip_membership_leave (call->self, call->task);
  g_object_unref (call->task);
  g_object_unref (call->self);
  g_free (call);
  return G_SOURCE_REMOVE;
}

/**
 * gossip_cluster_leave:
 * @cluster: a #GossipCluster
 * @error: return location for a #GError
 *
 * Announces a graceful leave: the local node becomes "leaving" here and on
 * every peer, and stays so while the cluster keeps running. Returns once
 * the announcement went out (bounded by about a second). Leaving twice is a
 * no-op; leaving a cluster that never started only marks it left.
 *
 * Returns: %TRUE, or %FALSE with %GOSSIP_CLUSTER_ERROR_STOPPED
 */
gboolean
gossip_cluster_leave (GossipCluster *cluster,
                      GError       **error)
{
  SyncResult sr = { NULL };
  LeaveCall *call;
  gboolean ok;

  g_return_val_if_fail (GOSSIP_IS_CLUSTER (cluster), FALSE);
  if (!_gossip_cluster_check_running (cluster, TRUE, error))
    return FALSE;
  if (refuse_engine_thread (cluster, "leave", error))
    return FALSE;

  RUN_SYNC (cluster, sr, {
    call = g_new0 (LeaveCall, 1);
    call->self = g_object_ref (cluster);
    call->task = g_task_new (cluster, NULL, sync_result_cb, &sr);
    _gossip_cluster_invoke_async (cluster, engine_leave, call);
  });
  ok = g_task_propagate_boolean (G_TASK (sr.result), error);
  g_object_unref (sr.result);
  return ok;
}

static void
engine_teardown (GossipCluster *self,
                 gboolean       leave)
{
  if (leave && !self->left && self->local != NULL)
    _gossip_membership_leave (self, NULL);

  _gossip_messaging_stop (self);
  _gossip_membership_stop (self);
  gossip_transport_stop (self->transport);
  gossip_transport_set_receive_func (self->transport, NULL, NULL, NULL);
}

typedef struct {
  GossipCluster *self;
  gboolean       leave;
} StopCall;

static gboolean
engine_stop (gpointer data)
{
  StopCall *call = data;
  engine_teardown (call->self, call->leave);
  return G_SOURCE_REMOVE;
}

static void
do_stop (GossipCluster *self,
         gboolean       leave)
{
  StopCall call = { self, leave };
  gboolean was_running;

  g_mutex_lock (&self->lock);
  if (self->lifecycle == GOSSIP_LIFECYCLE_STOPPED)
    {
      g_mutex_unlock (&self->lock);
      return;
    }
  was_running = self->lifecycle == GOSSIP_LIFECYCLE_RUNNING;
  g_mutex_unlock (&self->lock);

  g_object_ref (self);
  stop_children (self);
  /* A graceful stop leaves first and gives the announcement its grace
   * period, unless we are on the engine thread (a handler called stop()),
   * where nothing may block: the leave then goes out best effort. */
  if (was_running && leave && !g_main_context_is_owner (self->context))
    {
      gboolean left;
      g_mutex_lock (&self->lock);
      left = self->left;
      g_mutex_unlock (&self->lock);
      if (!left)
        gossip_cluster_leave (self, NULL);
    }
  if (was_running)
    _gossip_cluster_invoke_sync (self, engine_stop, &call);

  g_mutex_lock (&self->lock);
  self->lifecycle = GOSSIP_LIFECYCLE_STOPPED;
  g_mutex_unlock (&self->lock);

  _gossip_registry_remove (self);
  g_object_unref (self);
}

/**
 * gossip_cluster_stop:
 * @cluster: a #GossipCluster
 *
 * Leaves (unless already left), fails pending requests, cancels every
 * timer and closes the transport. Idempotent; safe from a handler. After
 * it, network operations fail with %GOSSIP_CLUSTER_ERROR_STOPPED and
 * queries return the last known view.
 */
void
gossip_cluster_stop (GossipCluster *cluster)
{
  g_return_if_fail (GOSSIP_IS_CLUSTER (cluster));
  do_stop (cluster, TRUE);
}

/**
 * gossip_cluster_hard_stop:
 * @cluster: a #GossipCluster
 *
 * Stops without leaving, as a crash would: peers have to detect the failure.
 * For tests and benchmarks.
 */
void
gossip_cluster_hard_stop (GossipCluster *cluster)
{
  g_return_if_fail (GOSSIP_IS_CLUSTER (cluster));
  do_stop (cluster, FALSE);
}

/**
 * gossip_cluster_is_running:
 * @cluster: a #GossipCluster
 *
 * Tells whether the cluster is running.
 *
 * Returns: whether the cluster is started and not stopped
 */
gboolean
gossip_cluster_is_running (GossipCluster *cluster)
{
  gboolean r;

  g_return_val_if_fail (GOSSIP_IS_CLUSTER (cluster), FALSE);
  g_mutex_lock (&cluster->lock);
  r = cluster->lifecycle == GOSSIP_LIFECYCLE_RUNNING;
  g_mutex_unlock (&cluster->lock);
  return r;
}

/**
 * gossip_cluster_is_stopped:
 * @cluster: a #GossipCluster
 *
 * Tells whether the cluster was stopped.
 *
 * Returns: whether gossip_cluster_stop() was called
 */
gboolean
gossip_cluster_is_stopped (GossipCluster *cluster)
{
  gboolean r;

  g_return_val_if_fail (GOSSIP_IS_CLUSTER (cluster), FALSE);
  g_mutex_lock (&cluster->lock);
  r = cluster->lifecycle == GOSSIP_LIFECYCLE_STOPPED;
  g_mutex_unlock (&cluster->lock);
  return r;
}

/* ------------------------------------------------------------------------ */
/* Children: groups and elections stopped with the cluster                   */
/* ------------------------------------------------------------------------ */

typedef struct {
  GObject         *child;
  GossipChildStop  stop;
} ChildEntry;

void
_gossip_cluster_add_child (GossipCluster   *self,
                           GObject         *child,
                           GossipChildStop  stop)
{
  ChildEntry *e = g_new (ChildEntry, 1);

  e->child = child;   /* weak: children remove themselves when they stop */
  e->stop = stop;
  g_mutex_lock (&self->lock);
  g_ptr_array_add (self->children, e);
  g_mutex_unlock (&self->lock);
}

void
_gossip_cluster_remove_child (GossipCluster *self,
                              GObject       *child)
{
  g_mutex_lock (&self->lock);
  for (guint i = 0; i < self->children->len; i++)
    if (((ChildEntry *) self->children->pdata[i])->child == child)
      {
        g_ptr_array_remove_index (self->children, i);
        break;
      }
  g_mutex_unlock (&self->lock);
}

/* Stops every child; each removes itself. Runs outside the lock, since
 * stopping a child calls back into the cluster. */
static void
stop_children (GossipCluster *self)
{
  for (;;)
    {
      GObject *child = NULL;
      GossipChildStop stop = NULL;

      g_mutex_lock (&self->lock);
      if (self->children->len > 0)
        {
          ChildEntry *e = self->children->pdata[self->children->len - 1];
          child = g_object_ref (e->child);
          stop = e->stop;
        }
      g_mutex_unlock (&self->lock);
      if (child == NULL)
        return;
      stop (child);
      /* Make progress even if a child failed to remove itself. */
      _gossip_cluster_remove_child (self, child);
      g_object_unref (child);
    }
}

GossipClock *
_gossip_cluster_get_clock (GossipCluster *self)
{
  return self->clock;
}
