/* gossip-messaging.c — user messages: broadcast, tagged, direct, reliable,
 * request/reply, and the handler registry.
 *
 * USER packets carry [u8 flags][u16 type][16 origin][u64 message id][u8 ttl]
 * [u32 timeout ms if a reply is wanted][16 target if targeted][string tag if
 * tagged][u32 length + payload]. Broadcasts are de-duplicated by (origin,
 * message id) and relayed with a TTL over the class they arrived on, so a
 * reliable broadcast stays reliable all the way (unlike the original, which
 * never relays what arrived over TCP). Requests go over a stream and are
 * answered on it with a REPLY packet.
 *
 * SPDX-License-Identifier: MIT
 */
#include "config.h"

#include <string.h>

#include "gossip-error.h"
#include "gossip-payload-private.h"
#include "gossip-private.h"

#define HISTORY_MAX_AGE      (30 * G_USEC_PER_SEC)
#define HISTORY_PRUNE_PERIOD (1 * G_USEC_PER_SEC)
#define HISTORY_KEY_SIZE     (GOSSIP_UUID_SIZE + 8)
/* Sends queued to the engine before callers have to wait for it. */
#define MAX_PENDING_SENDS    256

typedef struct {
  guint8 key[HISTORY_KEY_SIZE];
  gint64 time;
} HistoryEntry;

/* ------------------------------------------------------------------------ */
/* Dedup history                                                             */
/* ------------------------------------------------------------------------ */

static guint
history_hash (gconstpointer key)
{
  const guint8 *k = key;
  guint32 h = 2166136261u;
  for (guint i = 0; i < HISTORY_KEY_SIZE; i++)
    h = (h ^ k[i]) * 16777619u;
  return h;
}

static gboolean
history_equal (gconstpointer a, gconstpointer b)
{
  return memcmp (a, b, HISTORY_KEY_SIZE) == 0;
}

/* Returns TRUE if (origin, id) was new and is now recorded. */
static gboolean
history_record (GossipCluster *self,
                const guint8  *origin,
                guint64        msg_id)
{
  HistoryEntry *e = g_new (HistoryEntry, 1);

  memcpy (e->key, origin, GOSSIP_UUID_SIZE);
  for (guint i = 0; i < 8; i++)
    e->key[GOSSIP_UUID_SIZE + i] = (guint8) (msg_id >> (56 - 8 * i));
  if (g_hash_table_contains (self->history, e->key))
    {
      g_free (e);
      return FALSE;
    }
  /* Full: the oldest id is forgotten before its time (a duplicate of it
   * would now be delivered again, which is what a bound costs). */
  if (g_queue_get_length (&self->history_order) >= (guint) self->config->max_dedup_entries)
    {
      HistoryEntry *old = g_queue_pop_head (&self->history_order);

      g_hash_table_remove (self->history, old->key);
      g_free (old);
      self->stats.dedup_evicted++;
    }
  e->time = gossip_clock_now (self->clock);
  g_hash_table_add (self->history, e->key);
  g_queue_push_tail (&self->history_order, e);
  return TRUE;
}

static void
history_prune (gpointer data)
{
  GossipCluster *self = data;
  gint64 limit = gossip_clock_now (self->clock) - HISTORY_MAX_AGE;
  HistoryEntry *e;

  while ((e = g_queue_peek_head (&self->history_order)) != NULL && e->time < limit)
    {
      g_queue_pop_head (&self->history_order);
      g_hash_table_remove (self->history, e->key);
      g_free (e);
    }
  if (self->lifecycle == GOSSIP_LIFECYCLE_RUNNING)
    self->timers[GOSSIP_TIMER_HISTORY] = _gossip_cluster_timer (self, HISTORY_PRUNE_PERIOD, history_prune);
}

/* ------------------------------------------------------------------------ */
/* Handler registry                                                          */
/* ------------------------------------------------------------------------ */

static GossipHandler *
handler_lookup_ref (GossipCluster *self,
                    guint          type)
{
  GossipHandler *h;

  g_mutex_lock (&self->lock);
  h = g_hash_table_lookup (self->handlers, GUINT_TO_POINTER (type));
  if (h != NULL)
    g_atomic_int_inc (&h->ref_count);
  g_mutex_unlock (&self->lock);
  return h;
}

void
_gossip_handler_unref (GossipHandler *h)
{
  if (g_atomic_int_dec_and_test (&h->ref_count))
    {
      if (h->notify)
        h->notify (h->user_data);
      g_clear_pointer (&h->context, g_main_context_unref);
      g_free (h);
    }
}

/**
 * gossip_cluster_check_message_type:
 * @type: a message type
 * @error: return location for a #GError
 *
 * Checks that @type is a user message type (128..65535).
 *
 * Returns: %TRUE if it is; otherwise %FALSE with
 *   %GOSSIP_CLUSTER_ERROR_INVALID_ARGUMENT naming the allowed range
 */
gboolean
gossip_cluster_check_message_type (guint    type,
                                   GError **error)
{
  if (type < GOSSIP_MSG_USER)
    {
      g_set_error (error, GOSSIP_CLUSTER_ERROR, GOSSIP_CLUSTER_ERROR_INVALID_ARGUMENT,
                   _("message type %u is reserved (user types are 128–65535)"), type);
      return FALSE;
    }
  if (type > 65535)
    {
      g_set_error (error, GOSSIP_CLUSTER_ERROR, GOSSIP_CLUSTER_ERROR_INVALID_ARGUMENT,
                   _("message type %u is out of range (user types are 128–65535)"), type);
      return FALSE;
    }
  return TRUE;
}

gboolean
_gossip_cluster_handle_internal (GossipCluster     *self,
                                 guint              type,
                                 gboolean           internal,
                                 gboolean           with_reply,
                                 GMainContext      *context,
                                 GossipMessageFunc  func,
                                 gpointer           user_data,
                                 GDestroyNotify     notify,
                                 GError           **error)
{
  GossipHandler *h;

  g_mutex_lock (&self->lock);
  if (g_hash_table_contains (self->handlers, GUINT_TO_POINTER (type)))
    {
      g_mutex_unlock (&self->lock);
      g_set_error (error, GOSSIP_CLUSTER_ERROR, GOSSIP_CLUSTER_ERROR_HANDLER_EXISTS,
                   _("handler already registered for message type %u"), type);
      return FALSE;
    }
  h = g_new0 (GossipHandler, 1);
  h->ref_count = 1;
  h->type = (guint16) type;
  h->internal = internal;
  h->with_reply = with_reply;
  h->context = context ? g_main_context_ref (context) : g_main_context_ref_thread_default ();
  h->func = func;
  h->user_data = user_data;
  h->notify = notify;
  g_hash_table_insert (self->handlers, GUINT_TO_POINTER (type), h);
  g_mutex_unlock (&self->lock);
  return TRUE;
}

/**
 * gossip_cluster_handle:
 * @cluster: a #GossipCluster
 * @type: a user message type (128..65535)
 * @with_reply: whether the handler answers requests (it also receives plain
 *   messages of the type, which expect no reply)
 * @context: (nullable): where @func runs; %NULL for the caller's
 *   thread-default context, gossip_cluster_get_context() for the engine
 *   thread (then @func must not block)
 * @func: the handler
 * @user_data: data for @func
 * @notify: (nullable): frees @user_data when the handler is removed
 * @error: return location for a #GError
 *
 * Registers the handler of a message type. Messages from nodes we do not
 * know are never delivered. A request whose handler neither replies nor
 * keeps the #GossipMessage alive fails at once at the requester.
 *
 * Returns: %TRUE, or %FALSE with %GOSSIP_CLUSTER_ERROR_INVALID_ARGUMENT
 *   (type out of range) or %GOSSIP_CLUSTER_ERROR_HANDLER_EXISTS
 */
gboolean
gossip_cluster_handle (GossipCluster     *cluster,
                       guint              type,
                       gboolean           with_reply,
                       GMainContext      *context,
                       GossipMessageFunc  func,
                       gpointer           user_data,
                       GDestroyNotify     notify,
                       GError           **error)
{
  g_return_val_if_fail (GOSSIP_IS_CLUSTER (cluster), FALSE);
  g_return_val_if_fail (func != NULL, FALSE);

  if (!gossip_cluster_check_message_type (type, error))
    return FALSE;
  return _gossip_cluster_handle_internal (cluster, type, FALSE, with_reply, context, func,
                                         user_data, notify, error);
}

/**
 * gossip_cluster_unhandle:
 * @cluster: a #GossipCluster
 * @type: a message type (128..65535)
 * @removed: (out) (optional): whether a handler was removed
 * @error: return location for a #GError
 *
 * Removes the handler of @type. A type owned by a running leader election
 * cannot be removed this way.
 *
 * Returns: %TRUE, or %FALSE with %GOSSIP_CLUSTER_ERROR_INVALID_ARGUMENT or
 *   %GOSSIP_CLUSTER_ERROR_TYPE_OWNED
 */
gboolean
gossip_cluster_unhandle (GossipCluster *cluster,
                         guint          type,
                         gboolean      *removed,
                         GError       **error)
{
  GossipHandler *h;
  gboolean did = FALSE;

  g_return_val_if_fail (GOSSIP_IS_CLUSTER (cluster), FALSE);
  if (removed)
    *removed = FALSE;
  if (!gossip_cluster_check_message_type (type, error))
    return FALSE;

  g_mutex_lock (&cluster->lock);
  h = g_hash_table_lookup (cluster->handlers, GUINT_TO_POINTER (type));
  if (h != NULL && h->internal)
    {
      g_mutex_unlock (&cluster->lock);
      g_set_error (error, GOSSIP_CLUSTER_ERROR, GOSSIP_CLUSTER_ERROR_TYPE_OWNED,
                   _("message type %u is used by a running leader election"), type);
      return FALSE;
    }
  if (h != NULL)
    {
      /* Take it out under the lock, drop it outside (notify runs user code). */
      g_hash_table_steal (cluster->handlers, GUINT_TO_POINTER (type));
      did = TRUE;
    }
  g_mutex_unlock (&cluster->lock);

  if (h != NULL)
    _gossip_handler_unref (h);
  if (removed)
    *removed = did;
  return TRUE;
}

/* ------------------------------------------------------------------------ */
/* Delivery                                                                  */
/* ------------------------------------------------------------------------ */

typedef struct {
  GossipCluster *cluster;
  GossipHandler *handler;
  GossipMessage *message;
} Delivery;

static gboolean
delivery_run (gpointer data)
{
  Delivery *d = data;
  d->handler->func (d->cluster, d->message, d->handler->user_data);
  return G_SOURCE_REMOVE;
}

static void
delivery_free (gpointer data)
{
  Delivery *d = data;
  g_object_unref (d->message);
  _gossip_handler_unref (d->handler);
  g_object_unref (d->cluster);
  g_free (d);
}

static void
deliver (GossipCluster *self,
         GossipHandler *h,
         GossipMessage *message)
{
  Delivery *d = g_new (Delivery, 1);

  d->cluster = g_object_ref (self);
  d->handler = h;  /* reference transferred */
  d->message = g_object_ref (message);
  self->stats.messages_delivered++;
  if (h->context == self->context)
    {
      delivery_run (d);
      delivery_free (d);
    }
  else
    g_main_context_invoke_full (h->context, G_PRIORITY_DEFAULT, delivery_run, d, delivery_free);
}

/* Stream replies: [u64 message id][u8 status][string reason][u32 len + payload]. */
static GBytes *
build_reply_frame (GossipCluster     *self,
                   guint64            msg_id,
                   GossipReplyStatus  status,
                   const char        *reason,
                   GBytes            *payload)
{
  GossipWriter w;
  GBytes *frame;
  gsize len = 0;
  const guint8 *data = payload ? g_bytes_get_data (payload, &len) : NULL;

  _gossip_cluster_begin_body (self, &w, GOSSIP_PACKET_REPLY, TRUE);
  gossip_writer_put_u64 (&w, msg_id);
  gossip_writer_put_u8 (&w, status);
  gossip_writer_put_string (&w, reason ? reason : "");
  gossip_writer_put_blob (&w, data, len);
  frame = _gossip_cluster_seal (self, &w);
  gossip_writer_clear (&w);
  return frame;
}

typedef struct {
  GossipCluster        *cluster;
  GossipTransportReply *reply;
  guint64               msg_id;
} RemoteReply;

static void
remote_reply_free (gpointer data)
{
  RemoteReply *rr = data;
  gossip_transport_reply_unref (rr->reply);
  g_object_unref (rr->cluster);
  g_free (rr);
}

/* Runs on any thread, exactly once per request. */
static void
remote_reply (GossipMessage *message,
              GBytes        *payload,
              const char    *error,
              gpointer       user_data)
{
  RemoteReply *rr = user_data;
  g_autoptr(GBytes) frame = NULL;

  frame = build_reply_frame (rr->cluster, rr->msg_id,
                             error ? GOSSIP_REPLY_FAILED : GOSSIP_REPLY_OK, error, payload);
  if (frame)
    gossip_transport_reply_send (rr->reply, frame);
}

static void
reply_status (GossipCluster        *self,
              GossipTransportReply *reply,
              guint64               msg_id,
              GossipReplyStatus     status,
              const char           *reason)
{
  g_autoptr(GBytes) frame = build_reply_frame (self, msg_id, status, reason, NULL);
  if (frame)
    gossip_transport_reply_send (reply, frame);
}

static void
write_user (GossipCluster          *self,
            GossipWriter           *w,
            const GossipUserPacket *p,
            GBytes                 *payload,
            gboolean                stream)
{
  gsize len;
  const guint8 *data = g_bytes_get_data (payload, &len);

  _gossip_cluster_begin_body (self, w, GOSSIP_PACKET_USER, stream);
  gossip_writer_put_u8 (w, p->flags);
  gossip_writer_put_u16 (w, p->type);
  gossip_writer_put_raw (w, p->origin, GOSSIP_UUID_SIZE);
  gossip_writer_put_u64 (w, p->msg_id);
  gossip_writer_put_u8 (w, p->ttl);
  if (p->flags & GOSSIP_USER_FLAG_WANT_REPLY)
    gossip_writer_put_u32 (w, p->timeout_ms);
  if (p->flags & GOSSIP_USER_FLAG_TARGET)
    gossip_writer_put_raw (w, p->target, GOSSIP_UUID_SIZE);
  if (p->flags & GOSSIP_USER_FLAG_TAG)
    gossip_writer_put_string (w, p->tag);
  gossip_writer_put_blob (w, data, len);
}

static void
spread_user (GossipCluster          *self,
             const GossipUserPacket *p,
             GBytes                 *payload,
             guint                   fanout,
             gboolean                all_direct)
{
  gboolean reliable = (p->flags & GOSSIP_USER_FLAG_RELIABLE) != 0;
  g_autoptr(GPtrArray) targets = NULL;
  GossipWriter w;

  if (all_direct)
    {
      /* Reliable broadcast from its origin: a stream to every live member
       * (tag-filtered), plus TTL relaying for members we do not know. */
      targets = g_ptr_array_new ();
      for (guint i = 0; i < self->live->len; i++)
        {
          GossipMember *m = self->live->pdata[i];
          if (p->tag == NULL || gossip_node_has_tag (m->snapshot, p->tag))
            g_ptr_array_add (targets, m);
        }
    }
  else
    targets = _gossip_membership_pick (self, fanout, p->tag, p->origin, NULL, 0);

  write_user (self, &w, p, payload, reliable);
  for (guint i = 0; i < targets->len; i++)
    _gossip_cluster_send_body (self, ((GossipMember *) targets->pdata[i])->snapshot->address, &w, reliable);
  gossip_writer_clear (&w);
}

static void
handle_user (GossipCluster        *self,
             GossipReader         *r,
             gboolean              reliable,
             GossipTransportReply *reply)
{
  GossipUserPacket p = { 0 };
  const guint8 *raw = NULL;
  g_autofree char *tag = NULL;
  g_autoptr(GVariant) payload = NULL;
  g_autoptr(GError) error = NULL;
  GossipMember *sender;
  GossipHandler *h;
  gboolean want_reply;

  if (!gossip_reader_get_u8 (r, &p.flags) || !gossip_reader_get_u16 (r, &p.type) ||
      !gossip_reader_get_raw (r, GOSSIP_UUID_SIZE, &raw))
    goto bad;
  memcpy (p.origin, raw, GOSSIP_UUID_SIZE);
  if (!gossip_reader_get_u64 (r, &p.msg_id) || !gossip_reader_get_u8 (r, &p.ttl))
    goto bad;
  if ((p.flags & GOSSIP_USER_FLAG_WANT_REPLY) && !gossip_reader_get_u32 (r, &p.timeout_ms))
    goto bad;
  if (p.flags & GOSSIP_USER_FLAG_TARGET)
    {
      if (!gossip_reader_get_raw (r, GOSSIP_UUID_SIZE, &raw))
        goto bad;
      memcpy (p.target, raw, GOSSIP_UUID_SIZE);
    }
  if ((p.flags & GOSSIP_USER_FLAG_TAG) && !gossip_reader_get_string (r, 4096, &tag))
    goto bad;
  p.tag = tag;
  if (!gossip_reader_get_blob (r, GOSSIP_MAX_FRAME_SIZE, &p.payload, &p.payload_len))
    goto bad;

  want_reply = (p.flags & GOSSIP_USER_FLAG_WANT_REPLY) != 0 && reply != NULL;

  if (memcmp (p.origin, self->local_uuid, GOSSIP_UUID_SIZE) == 0)
    return;   /* our own broadcast came back */
  /* Only a broadcast is relayed, so only a broadcast may come from another
   * node than its origin, and then only from a member's relay: a direct
   * message in another node's name is a forgery. */
  if (_gossip_cluster_inbound_refused (self, (p.flags & GOSSIP_USER_FLAG_BROADCAST) ? NULL : p.origin))
    {
      if (want_reply)
        reply_status (self, reply, p.msg_id, GOSSIP_REPLY_REJECTED, "sender is not the origin");
      return;
    }
  if (!history_record (self, p.origin, p.msg_id))
    return;
  if ((p.flags & GOSSIP_USER_FLAG_TARGET) && memcmp (p.target, self->local_uuid, GOSSIP_UUID_SIZE) != 0)
    {
      if (want_reply)
        reply_status (self, reply, p.msg_id, GOSSIP_REPLY_REJECTED, "wrong target");
      return;
    }

  /* Relay broadcasts (whatever class they came over) before filtering. */
  if ((p.flags & GOSSIP_USER_FLAG_BROADCAST) && p.ttl > 1)
    {
      g_autoptr(GBytes) pl = g_bytes_new (p.payload, p.payload_len);
      GossipUserPacket relay = p;
      relay.ttl = MIN (p.ttl, GOSSIP_MAX_TTL) - 1;
      spread_user (self, &relay, pl, _gossip_membership_fanout (self), FALSE);
    }

  if (p.tag != NULL && !g_strv_contains ((const char * const *) self->local_tags->strv, p.tag))
    return;

  sender = _gossip_membership_lookup (self, p.origin);
  if (sender == NULL)
    {
      if (want_reply)
        reply_status (self, reply, p.msg_id, GOSSIP_REPLY_REJECTED, "unknown sender");
      return;
    }

  payload = gossip_payload_decode (p.payload, p.payload_len, &error);
  if (payload == NULL)
    {
      self->stats.frames_dropped++;
      if (want_reply)
        reply_status (self, reply, p.msg_id, GOSSIP_REPLY_FAILED, "undecodable payload");
      return;
    }

  h = handler_lookup_ref (self, p.type);
  if (h == NULL || (want_reply && !h->with_reply))
    {
      if (h != NULL)
        _gossip_handler_unref (h);
      if (want_reply)
        reply_status (self, reply, p.msg_id, GOSSIP_REPLY_NO_HANDLER, "no handler");
      return;
    }

  if (want_reply)
    {
      RemoteReply *rr = g_new (RemoteReply, 1);
      g_autoptr(GossipMessage) msg = NULL;

      rr->cluster = g_object_ref (self);
      rr->reply = gossip_transport_reply_ref (reply);
      rr->msg_id = p.msg_id;
      msg = _gossip_message_new (p.type, sender->snapshot, payload,
                                 gossip_clock_now (self->clock) + (gint64) p.timeout_ms * 1000,
                                 remote_reply, rr, remote_reply_free);
      deliver (self, h, msg);
    }
  else
    {
      g_autoptr(GossipMessage) msg = _gossip_message_new (p.type, sender->snapshot, payload, 0,
                                                          NULL, NULL, NULL);
      deliver (self, h, msg);
    }
  return;

bad:
  self->stats.frames_dropped++;
}

void
_gossip_messaging_receive (GossipCluster        *self,
                           GossipPacketKind      kind,
                           GossipReader         *r,
                           gboolean              reliable,
                           GossipTransportReply *reply)
{
  if (self->local == NULL)
    return;
  handle_user (self, r, reliable, reply);
}

/* ------------------------------------------------------------------------ */
/* Sending                                                                   */
/* ------------------------------------------------------------------------ */

typedef enum {
  SEND_BROADCAST,
  SEND_TAGGED,
  SEND_TO,
} SendKind;

typedef struct {
  GossipCluster  *self;
  SendKind        kind;
  guint16         type;
  GBytes         *payload;
  gboolean        reliable;
  char           *tag;
  guint8          target[GOSSIP_UUID_SIZE];
} SendCall;

static void
send_call_free (SendCall *call)
{
  g_bytes_unref (call->payload);
  g_free (call->tag);
  g_object_unref (call->self);
  g_free (call);
}

/* Loopback delivery to our own handler (send_to ourselves). */
static gboolean
deliver_local (GossipCluster *self,
               guint16        type,
               GBytes        *payload,
               GossipReplyFunc reply_func,
               gpointer       reply_data,
               GDestroyNotify reply_notify,
               gint64         deadline)
{
  g_autoptr(GVariant) value = gossip_payload_decode (g_bytes_get_data (payload, NULL),
                                                     g_bytes_get_size (payload), NULL);
  GossipHandler *h = handler_lookup_ref (self, type);
  g_autoptr(GossipNode) local = gossip_cluster_get_local_node (self);
  g_autoptr(GossipMessage) msg = NULL;

  if (value == NULL || h == NULL || (reply_func != NULL && !h->with_reply))
    {
      if (h)
        _gossip_handler_unref (h);
      if (reply_func)
        {
          reply_func (NULL, NULL, "no handler", reply_data);
          if (reply_notify)
            reply_notify (reply_data);
        }
      return FALSE;
    }
  msg = _gossip_message_new (type, local, value, deadline, reply_func, reply_data, reply_notify);
  deliver (self, h, msg);
  return TRUE;
}

static void
local_send_fire (gpointer data)
{
  SendCall *call = data;
  deliver_local (call->self, call->type, call->payload, NULL, NULL, NULL, 0);
}

static gboolean
engine_send (gpointer data)
{
  SendCall *call = data;
  GossipCluster *self = call->self;
  GossipUserPacket p = { 0 };

  g_atomic_int_add (&self->pending_sends, -1);

  if (self->lifecycle != GOSSIP_LIFECYCLE_RUNNING || self->local == NULL)
    {
      send_call_free (call);
      return G_SOURCE_REMOVE;
    }

  p.type = call->type;
  memcpy (p.origin, self->local_uuid, GOSSIP_UUID_SIZE);
  p.msg_id = ((guint64) g_rand_int (self->rand) << 32) | g_rand_int (self->rand);
  p.flags = call->reliable ? GOSSIP_USER_FLAG_RELIABLE : 0;
  history_record (self, p.origin, p.msg_id);

  switch (call->kind)
    {
    case SEND_BROADCAST:
    case SEND_TAGGED:
      p.flags |= GOSSIP_USER_FLAG_BROADCAST;
      p.ttl = (guint8) _gossip_membership_ttl (self);
      if (call->kind == SEND_TAGGED)
        {
          p.flags |= GOSSIP_USER_FLAG_TAG;
          p.tag = call->tag;
        }
      /* From its origin, a broadcast goes straight to every member when
       * that is at most twice the fan-out (a small cluster): relaying
       * alone misses a member now and then there. */
      spread_user (self, &p, call->payload, _gossip_membership_fanout (self),
                   call->reliable || self->live->len <= 2 * _gossip_membership_fanout (self));
      break;

    case SEND_TO:
      if (memcmp (call->target, self->local_uuid, GOSSIP_UUID_SIZE) == 0)
        {
          /* Asynchronous, like a real delivery: never inside the caller's stack. */
          SendCall *copy = g_new0 (SendCall, 1);
          *copy = *call;
          copy->self = g_object_ref (self);
          copy->payload = g_bytes_ref (call->payload);
          copy->tag = NULL;
          gossip_clock_add_timeout (self->clock, 0, local_send_fire, copy, (GDestroyNotify) send_call_free);
        }
      else
        {
          GossipMember *m = _gossip_membership_lookup (self, call->target);
          GossipWriter w;

          if (m == NULL)
            break;
          p.flags |= GOSSIP_USER_FLAG_TARGET;
          memcpy (p.target, call->target, GOSSIP_UUID_SIZE);
          p.ttl = 1;
          write_user (self, &w, &p, call->payload, call->reliable);
          _gossip_cluster_send_body (self, m->snapshot->address, &w, call->reliable);
          gossip_writer_clear (&w);
        }
      break;
    }

  send_call_free (call);
  return G_SOURCE_REMOVE;
}

static gboolean
check_can_send (GossipCluster *self,
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
  if (lc != GOSSIP_LIFECYCLE_RUNNING)
    {
      g_set_error_literal (error, GOSSIP_CLUSTER_ERROR, GOSSIP_CLUSTER_ERROR_FAILED,
                           _("cluster is not started"));
      return FALSE;
    }
  return TRUE;
}

static GBytes *
encode_payload (GVariant *payload,
                GError  **error)
{
  g_autoptr(GVariant) none = NULL;

  if (payload == NULL)
    payload = none = g_variant_ref_sink (g_variant_new_tuple (NULL, 0));
  return gossip_payload_encode (payload, GOSSIP_MAX_PAYLOAD_SIZE, error);
}

static gboolean queue_send_unchecked (GossipCluster *self, SendKind kind, const char *tag,
                                      const guint8 *target, guint type, GVariant *payload,
                                      GossipSendFlags flags, GError **error);

/* Validates on the caller's thread, then hands over to the engine. */
static gboolean
queue_send (GossipCluster *self,
            SendKind       kind,
            const char    *tag,
            const guint8  *target,
            guint          type,
            GVariant      *payload,
            GossipSendFlags flags,
            GError       **error)
{
  if (!gossip_cluster_check_message_type (type, error) || !check_can_send (self, error))
    return FALSE;
  return queue_send_unchecked (self, kind, tag, target, type, payload, flags, error);
}

static gboolean
queue_send_unchecked (GossipCluster *self,
                      SendKind       kind,
                      const char    *tag,
                      const guint8  *target,
                      guint          type,
                      GVariant      *payload,
                      GossipSendFlags flags,
                      GError       **error)
{
  SendCall *call;
  GBytes *bytes;

  bytes = encode_payload (payload, error);
  if (bytes == NULL)
    return FALSE;

  call = g_new0 (SendCall, 1);
  call->self = g_object_ref (self);
  call->kind = kind;
  call->type = (guint16) type;
  call->payload = bytes;
  call->reliable = (flags & GOSSIP_SEND_RELIABLE) != 0;
  call->tag = g_strdup (tag);
  if (target)
    memcpy (call->target, target, GOSSIP_UUID_SIZE);
  /* Ordered with other calls into the engine, without waiting for it;
   * but a caller that outruns the engine waits (backpressure), so a
   * flood neither grows memory without bound nor starves the engine. */
  if (g_atomic_int_add (&self->pending_sends, 1) < MAX_PENDING_SENDS)
    _gossip_cluster_invoke_async (self, engine_send, call);
  else
    _gossip_cluster_invoke_sync (self, engine_send, call);
  return TRUE;
}

/**
 * gossip_cluster_send:
 * @cluster: a #GossipCluster
 * @type: a user message type (128..65535)
 * @payload: (nullable): the payload (see #GossipMessage); %NULL means None
 * @flags: #GossipSendFlags
 * @error: return location for a #GError
 *
 * Broadcasts to every alive node (not to ourselves), de-duplicated so each
 * node delivers it once. Best effort over datagrams by default; with
 * %GOSSIP_SEND_RELIABLE over streams to every member and relayed reliably.
 * Payloads too large for a datagram go over streams automatically.
 *
 * Returns: %TRUE if queued; %FALSE with a type, payload or lifecycle error
 */
gboolean
gossip_cluster_send (GossipCluster  *cluster,
                     guint           type,
                     GVariant       *payload,
                     GossipSendFlags flags,
                     GError        **error)
{
  g_return_val_if_fail (GOSSIP_IS_CLUSTER (cluster), FALSE);
  return queue_send (cluster, SEND_BROADCAST, NULL, NULL, type, payload, flags, error);
}

/**
 * gossip_cluster_send_tagged:
 * @cluster: a #GossipCluster
 * @tag: the tag a node must carry to deliver the message
 * @type: a user message type (128..65535)
 * @payload: (nullable): the payload
 * @flags: #GossipSendFlags
 * @error: return location for a #GError
 *
 * Like gossip_cluster_send(), but only nodes carrying @tag deliver it
 * (routing goes through tagged nodes).
 *
 * Returns: %TRUE if queued
 */
gboolean
gossip_cluster_send_tagged (GossipCluster  *cluster,
                            const char     *tag,
                            guint           type,
                            GVariant       *payload,
                            GossipSendFlags flags,
                            GError        **error)
{
  g_return_val_if_fail (GOSSIP_IS_CLUSTER (cluster), FALSE);
  if (tag == NULL || *tag == '\0' || !g_utf8_validate (tag, -1, NULL))
    {
      g_set_error_literal (error, GOSSIP_CLUSTER_ERROR, GOSSIP_CLUSTER_ERROR_INVALID_ARGUMENT,
                           _("tag must be a non-empty string"));
      return FALSE;
    }
  return queue_send (cluster, SEND_TAGGED, tag, NULL, type, payload, flags, error);
}

static gboolean
resolve_target (GossipCluster *self,
                const char    *node_id,
                guint8         uuid[GOSSIP_UUID_SIZE],
                GError       **error)
{
  GossipMember *m;
  gboolean ok;

  if (node_id == NULL || !gossip_uuid_parse (node_id, uuid))
    {
      g_set_error (error, GOSSIP_CLUSTER_ERROR, GOSSIP_CLUSTER_ERROR_NODE_NOT_FOUND,
                   _("node not found: %s"), node_id ? node_id : "(null)");
      return FALSE;
    }
  g_mutex_lock (&self->lock);
  m = g_hash_table_lookup (self->members, uuid);
  ok = m != NULL && m->snapshot->state != GOSSIP_NODE_DEAD;
  g_mutex_unlock (&self->lock);
  if (!ok)
    g_set_error (error, GOSSIP_CLUSTER_ERROR, GOSSIP_CLUSTER_ERROR_NODE_NOT_FOUND,
                 _("node not found: %s"), node_id);
  return ok;
}

/**
 * gossip_cluster_send_to:
 * @cluster: a #GossipCluster
 * @node_id: the target node
 * @type: a user message type (128..65535)
 * @payload: (nullable): the payload
 * @flags: #GossipSendFlags
 * @error: return location for a #GError
 *
 * Sends directly to one node (never relayed). To the local node it is
 * delivered to the local handler, asynchronously.
 *
 * Returns: %TRUE if queued; %FALSE with %GOSSIP_CLUSTER_ERROR_NODE_NOT_FOUND
 *   for unknown or dead nodes
 */
gboolean
gossip_cluster_send_to (GossipCluster  *cluster,
                        const char     *node_id,
                        guint           type,
                        GVariant       *payload,
                        GossipSendFlags flags,
                        GError        **error)
{
  guint8 uuid[GOSSIP_UUID_SIZE];

  g_return_val_if_fail (GOSSIP_IS_CLUSTER (cluster), FALSE);
  if (!gossip_cluster_check_message_type (type, error) || !check_can_send (cluster, error))
    return FALSE;
  if (!resolve_target (cluster, node_id, uuid, error))
    return FALSE;
  return queue_send (cluster, SEND_TO, NULL, uuid, type, payload, flags, error);
}

/* ---- requests ------------------------------------------------------------ */

typedef struct {
  GossipCluster *self;
  GTask         *task;
  guint16        type;
  GBytes        *payload;
  guint8         target[GOSSIP_UUID_SIZE];
  char          *target_id;
  gint64         timeout_us;
  guint64        msg_id;
  guint          local_timer;
} RequestCall;

static void
request_call_free (RequestCall *rc)
{
  g_bytes_unref (rc->payload);
  g_free (rc->target_id);
  g_clear_object (&rc->task);
  g_object_unref (rc->self);
  g_free (rc);
}

static void
request_fail (RequestCall *rc,
              gint         code,
              const char  *detail)
{
  if (rc->task == NULL)
    return;
  g_task_return_new_error (rc->task, GOSSIP_CLUSTER_ERROR, code,
                           _("send_request failed: %s"), detail);
  g_clear_object (&rc->task);
}

static void
request_succeed (RequestCall *rc,
                 GVariant    *value)
{
  if (rc->task == NULL)
    return;
  g_task_return_pointer (rc->task, g_variant_ref_sink (value), (GDestroyNotify) g_variant_unref);
  g_clear_object (&rc->task);
}

static void
request_reply_cb (GBytes       *reply,
                  const GError *error,
                  gpointer      user_data)
{
  RequestCall *rc = user_data;
  GossipCluster *self = rc->self;

  if (error != NULL)
    {
      g_autofree char *detail = NULL;
      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        {
          g_task_return_new_error (rc->task, GOSSIP_CLUSTER_ERROR, GOSSIP_CLUSTER_ERROR_STOPPED,
                                   _("send_request failed: cluster is stopped"));
          g_clear_object (&rc->task);
        }
      else if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT))
        {
          detail = g_strdup_printf (_("timed out waiting for a reply from %s"), rc->target_id);
          request_fail (rc, GOSSIP_CLUSTER_ERROR_TIMED_OUT, detail);
        }
      else
        {
          detail = g_strdup_printf (_("no reply from %s (%s)"), rc->target_id, error->message);
          request_fail (rc, GOSSIP_CLUSTER_ERROR_NO_REPLY, detail);
        }
    }
  else
    {
      GossipReader r;
      g_autoptr(GBytes) body = _gossip_cluster_open (self, reply, TRUE, GOSSIP_PACKET_REPLY, &r,
                                                     NULL, NULL, NULL);
      guint8 status = 0;
      guint64 msg_id = 0;
      g_autofree char *reason = NULL;
      const guint8 *pl = NULL;
      gsize pl_len = 0;

      if (body == NULL || !gossip_reader_get_u64 (&r, &msg_id) || msg_id != rc->msg_id ||
          !gossip_reader_get_u8 (&r, &status) || !gossip_reader_get_string (&r, 4096, &reason) ||
          !gossip_reader_get_blob (&r, GOSSIP_MAX_FRAME_SIZE, &pl, &pl_len))
        {
          g_autofree char *detail = g_strdup_printf (_("no reply from %s (malformed reply)"), rc->target_id);
          request_fail (rc, GOSSIP_CLUSTER_ERROR_NO_REPLY, detail);
        }
      else if (status != GOSSIP_REPLY_OK)
        {
          g_autofree char *detail = g_strdup_printf (_("no reply from %s (%s)"), rc->target_id, reason);
          request_fail (rc, GOSSIP_CLUSTER_ERROR_NO_REPLY, detail);
        }
      else
        {
          g_autoptr(GVariant) value = gossip_payload_decode (pl, pl_len, NULL);
          if (value == NULL)
            {
              g_autofree char *detail = g_strdup_printf (_("no reply from %s (undecodable payload)"), rc->target_id);
              request_fail (rc, GOSSIP_CLUSTER_ERROR_NO_REPLY, detail);
            }
          else
            request_succeed (rc, value);
        }
    }
  request_call_free (rc);
}

/* Local requests: the handler replies through this, from any thread. */
typedef struct {
  gint         refs;
  GMutex       mutex;
  RequestCall *rc;     /* NULL once answered or timed out */
} LocalRequest;

static void
local_request_unref (LocalRequest *lr)
{
  if (!g_atomic_int_dec_and_test (&lr->refs))
    return;
  g_mutex_clear (&lr->mutex);
  g_free (lr);
}

static RequestCall *
local_request_take (LocalRequest *lr)
{
  RequestCall *rc;
  g_mutex_lock (&lr->mutex);
  rc = lr->rc;
  lr->rc = NULL;
  g_mutex_unlock (&lr->mutex);
  return rc;
}

static void
local_reply (GossipMessage *message,
             GBytes        *payload,
             const char    *error,
             gpointer       user_data)
{
  LocalRequest *lr = user_data;
  RequestCall *rc = local_request_take (lr);

  if (rc == NULL)
    return;
  if (error != NULL)
    {
      g_autofree char *detail = g_strdup_printf (_("no reply from %s (%s)"), rc->target_id, error);
      request_fail (rc, GOSSIP_CLUSTER_ERROR_NO_REPLY, detail);
    }
  else
    {
      g_autoptr(GVariant) value = gossip_payload_decode (g_bytes_get_data (payload, NULL),
                                                         g_bytes_get_size (payload), NULL);
      request_succeed (rc, value ? value : g_variant_new_tuple (NULL, 0));
    }
  /* The timer, if still armed, finds nothing to do. */
  request_call_free (rc);
}

static void
local_request_timeout (gpointer data)
{
  LocalRequest *lr = data;
  RequestCall *rc = local_request_take (lr);

  if (rc == NULL)
    return;
  {
    g_autofree char *detail = g_strdup_printf (_("timed out waiting for a reply from %s"), rc->target_id);
    request_fail (rc, GOSSIP_CLUSTER_ERROR_TIMED_OUT, detail);
  }
  request_call_free (rc);
}

static gboolean
engine_request (gpointer data)
{
  RequestCall *rc = data;
  GossipCluster *self = rc->self;

  if (self->lifecycle != GOSSIP_LIFECYCLE_RUNNING || self->local == NULL)
    {
      request_fail (rc, GOSSIP_CLUSTER_ERROR_STOPPED, _("cluster is stopped"));
      request_call_free (rc);
      return G_SOURCE_REMOVE;
    }

  rc->msg_id = ((guint64) g_rand_int (self->rand) << 32) | g_rand_int (self->rand);

  if (memcmp (rc->target, self->local_uuid, GOSSIP_UUID_SIZE) == 0)
    {
      LocalRequest *lr = g_new0 (LocalRequest, 1);
      gint64 deadline = gossip_clock_now (self->clock) + rc->timeout_us;

      lr->refs = 2;   /* the message's reply data and the timer */
      g_mutex_init (&lr->mutex);
      lr->rc = rc;
      gossip_clock_add_timeout (self->clock, rc->timeout_us, local_request_timeout, lr,
                                (GDestroyNotify) local_request_unref);
      deliver_local (self, rc->type, rc->payload, local_reply, lr,
                     (GDestroyNotify) local_request_unref, deadline);
      return G_SOURCE_REMOVE;
    }
  else
    {
      GossipMember *m = _gossip_membership_lookup (self, rc->target);
      GossipUserPacket p = { 0 };
      GossipWriter w;
      g_autoptr(GBytes) frame = NULL;

      if (m == NULL || m->state == GOSSIP_NODE_DEAD)
        {
          g_autofree char *detail = g_strdup_printf (_("node not found: %s"), rc->target_id);
          request_fail (rc, GOSSIP_CLUSTER_ERROR_NODE_NOT_FOUND, detail);
          request_call_free (rc);
          return G_SOURCE_REMOVE;
        }
      p.flags = GOSSIP_USER_FLAG_WANT_REPLY | GOSSIP_USER_FLAG_TARGET | GOSSIP_USER_FLAG_RELIABLE;
      p.type = rc->type;
      memcpy (p.origin, self->local_uuid, GOSSIP_UUID_SIZE);
      p.msg_id = rc->msg_id;
      p.ttl = 1;
      p.timeout_ms = (guint32) MIN (rc->timeout_us / 1000, (gint64) G_MAXUINT32);
      memcpy (p.target, rc->target, GOSSIP_UUID_SIZE);
      write_user (self, &w, &p, rc->payload, TRUE);
      frame = _gossip_cluster_seal (self, &w);
      gossip_writer_clear (&w);
      if (frame == NULL)
        {
          request_fail (rc, GOSSIP_CLUSTER_ERROR_FAILED, _("cannot encode the request"));
          request_call_free (rc);
          return G_SOURCE_REMOVE;
        }
      gossip_transport_send_stream (self->transport, m->snapshot->address, frame, TRUE, rc->timeout_us,
                                    request_reply_cb, rc);
    }
  return G_SOURCE_REMOVE;
}

/**
 * gossip_cluster_send_request_async:
 * @cluster: a #GossipCluster
 * @node_id: the node to ask (may be the local node)
 * @type: a user message type (128..65535)
 * @payload: (nullable): the request payload
 * @timeout_us: how long to wait for the reply; 0 for the configured
 *   request_timeout (5 s by default)
 * @cancellable: (nullable): a #GCancellable
 * @callback: completion callback
 * @user_data: data for @callback
 *
 * Sends a request over a stream and waits for the target's handler to
 * reply. Many requests may be in flight at once.
 */
void
gossip_cluster_send_request_async (GossipCluster      *cluster,
                                   const char         *node_id,
                                   guint               type,
                                   GVariant           *payload,
                                   gint64              timeout_us,
                                   GCancellable       *cancellable,
                                   GAsyncReadyCallback callback,
                                   gpointer            user_data)
{
  g_autoptr(GTask) task = NULL;
  g_autoptr(GError) error = NULL;
  RequestCall *rc;
  GBytes *bytes;
  guint8 uuid[GOSSIP_UUID_SIZE];

  g_return_if_fail (GOSSIP_IS_CLUSTER (cluster));

  task = g_task_new (cluster, cancellable, callback, user_data);
  g_task_set_source_tag (task, gossip_cluster_send_request_async);

  if (!gossip_cluster_check_message_type (type, &error) || !check_can_send (cluster, &error) ||
      !resolve_target (cluster, node_id, uuid, &error) || (bytes = encode_payload (payload, &error)) == NULL)
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  if (timeout_us < 0)
    {
      g_task_return_new_error (task, GOSSIP_CLUSTER_ERROR, GOSSIP_CLUSTER_ERROR_INVALID_ARGUMENT,
                               _("timeout must be a positive duration"));
      g_bytes_unref (bytes);
      return;
    }

  rc = g_new0 (RequestCall, 1);
  rc->self = g_object_ref (cluster);
  rc->task = g_steal_pointer (&task);
  rc->type = (guint16) type;
  rc->payload = bytes;
  memcpy (rc->target, uuid, GOSSIP_UUID_SIZE);
  rc->target_id = gossip_uuid_to_string (uuid);
  rc->timeout_us = timeout_us > 0 ? timeout_us : cluster->config->request_timeout;
  _gossip_cluster_invoke_async (cluster, engine_request, rc);
}

/**
 * gossip_cluster_send_request_finish:
 * @cluster: a #GossipCluster
 * @result: the #GAsyncResult
 * @error: return location for a #GError
 *
 * Finishes gossip_cluster_send_request_async().
 *
 * Returns: (transfer full): the reply payload ("()" for None), or %NULL with
 *   %GOSSIP_CLUSTER_ERROR_TIMED_OUT, %GOSSIP_CLUSTER_ERROR_NO_REPLY (no
 *   handler, handler failed), %GOSSIP_CLUSTER_ERROR_NODE_NOT_FOUND or
 *   %GOSSIP_CLUSTER_ERROR_STOPPED
 */
GVariant *
gossip_cluster_send_request_finish (GossipCluster *cluster,
                                    GAsyncResult  *result,
                                    GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, cluster), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}

typedef struct {
  GAsyncResult *result;
} RequestSync;

static void
request_sync_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  RequestSync *rs = user_data;
  rs->result = g_object_ref (result);
}

/**
 * gossip_cluster_send_request:
 * @cluster: a #GossipCluster
 * @node_id: the node to ask
 * @type: a user message type
 * @payload: (nullable): the request payload
 * @timeout_us: the deadline, 0 for the default
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for a #GError
 *
 * Synchronous gossip_cluster_send_request_async(). Must not be called on
 * the engine thread.
 *
 * Returns: (transfer full): the reply payload, or %NULL with @error set
 */
GVariant *
gossip_cluster_send_request (GossipCluster *cluster,
                             const char    *node_id,
                             guint          type,
                             GVariant      *payload,
                             gint64         timeout_us,
                             GCancellable  *cancellable,
                             GError       **error)
{
  RequestSync rs = { NULL };
  GMainContext *ctx;
  GVariant *value;

  g_return_val_if_fail (GOSSIP_IS_CLUSTER (cluster), NULL);
  if (g_main_context_is_owner (cluster->context))
    {
      g_set_error_literal (error, GOSSIP_CLUSTER_ERROR, GOSSIP_CLUSTER_ERROR_FAILED,
                           _("send_request cannot block the engine thread; use the asynchronous variant"));
      return NULL;
    }

  ctx = g_main_context_new ();
  g_main_context_push_thread_default (ctx);
  gossip_cluster_send_request_async (cluster, node_id, type, payload, timeout_us, cancellable,
                                     request_sync_cb, &rs);
  while (rs.result == NULL)
    g_main_context_iteration (ctx, TRUE);
  g_main_context_pop_thread_default (ctx);
  g_main_context_unref (ctx);

  value = gossip_cluster_send_request_finish (cluster, rs.result, error);
  g_object_unref (rs.result);
  return value;
}

/* ------------------------------------------------------------------------ */

gboolean
_gossip_cluster_send_internal (GossipCluster  *self,
                               const char     *node_id,
                               guint           type,
                               GVariant       *payload,
                               GossipSendFlags flags,
                               GError        **error)
{
  guint8 uuid[GOSSIP_UUID_SIZE];

  if (!check_can_send (self, error))
    return FALSE;
  if (node_id == NULL)
    return queue_send_unchecked (self, SEND_BROADCAST, NULL, NULL, type, payload, flags, error);
  if (!resolve_target (self, node_id, uuid, error))
    return FALSE;
  return queue_send_unchecked (self, SEND_TO, NULL, uuid, type, payload, flags, error);
}

gboolean
_gossip_cluster_unhandle_internal (GossipCluster *self,
                                   guint          type)
{
  GossipHandler *h;

  g_mutex_lock (&self->lock);
  h = g_hash_table_lookup (self->handlers, GUINT_TO_POINTER (type));
  if (h != NULL)
    g_hash_table_steal (self->handlers, GUINT_TO_POINTER (type));
  g_mutex_unlock (&self->lock);
  if (h != NULL)
    _gossip_handler_unref (h);
  return h != NULL;
}

void
_gossip_messaging_init (GossipCluster *self)
{
  g_queue_init (&self->history_order);
  self->history = g_hash_table_new (history_hash, history_equal);
}

void
_gossip_messaging_start (GossipCluster *self)
{
  self->timers[GOSSIP_TIMER_HISTORY] = _gossip_cluster_timer (self, HISTORY_PRUNE_PERIOD, history_prune);
}

void
_gossip_messaging_stop (GossipCluster *self)
{
}

void
_gossip_messaging_finalize (GossipCluster *self)
{
  g_clear_pointer (&self->history, g_hash_table_unref);
  g_queue_clear_full (&self->history_order, g_free);
}
