/* gossip-socket-stream.c — GossipSocketTransport's TCP streams: outgoing
 * exchanges (connect, send a frame, read the reply) and incoming
 * connections (accept, read a frame, deliver it, write the reply). The wire
 * format is described in gossip-socket-transport.c.
 *
 * Reply handles may be used on any thread: in_conn_reply_func() hands the
 * reply over to the transport's context.
 *
 * SPDX-License-Identifier: MIT
 */
#include "config.h"

#include <glib/gi18n-lib.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include "gossip-socket-transport-private.h"
#include "gossip-frame-private.h"

#define MAX_ACCEPTS_PER_DISPATCH   32
/* Incoming connections beyond limits.max_incoming (or max_incoming_per_peer
 * from one host) are closed at once, so a flood cannot exhaust file
 * descriptors, and a request must arrive completely within
 * limits.read_timeout_us (slowloris). */
/* How long a handler may take to answer, plus writing the answer; the
 * requester gives up long before with the engine's timeouts. */
#define INCOMING_REPLY_TIMEOUT_US  (30 * G_USEC_PER_SEC)
/* When accept() fails for lack of resources, pause before retrying rather
 * than spin on a listener that stays readable. */
#define ACCEPT_BACKOFF_US          (100 * 1000)

#define STREAM_KIND_ONE_WAY 0
#define STREAM_KIND_REQUEST 1
#define REQUEST_HEADER_SIZE 5
#define REPLY_HEADER_SIZE   4

typedef struct _OutExchange OutExchange;
typedef struct _InConn      InConn;

/* ---------------------------------------------------------------------------
 * Small helpers
 * ------------------------------------------------------------------------- */

static void
put_u32_be (guint8  *out,
            guint32  value)
{
  out[0] = (value >> 24) & 0xff;
  out[1] = (value >> 16) & 0xff;
  out[2] = (value >> 8) & 0xff;
  out[3] = value & 0xff;
}

static guint32
get_u32_be (const guint8 *in)
{
  return ((guint32) in[0] << 24) | ((guint32) in[1] << 16) | ((guint32) in[2] << 8) | in[3];
}

static GError *
lookup_error (const char *address,
              GError     *error)
{
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return g_error_copy (error);
  return g_error_new (G_IO_ERROR, G_IO_ERROR_HOST_NOT_FOUND,
                      _("cannot resolve “%s”: %s"), address, error->message);
}

/* ---------------------------------------------------------------------------
 * Non-blocking I/O on two-part buffers
 * ------------------------------------------------------------------------- */

/* Writes [head][body] from *offset on. Returns FALSE with G_IO_ERROR_WOULD_BLOCK
 * when the socket is full, or another error. */
static gboolean
send_two_parts (GSocket       *socket,
                const guint8  *head,
                gsize          head_len,
                const guint8  *body,
                gsize          body_len,
                gsize         *offset,
                GError       **error)
{
  while (*offset < head_len + body_len)
    {
      GOutputVector vectors[2];
      gint n = 0;
      gssize written;

      if (*offset < head_len)
        {
          vectors[n].buffer = head + *offset;
          vectors[n].size = head_len - *offset;
          n++;
          if (body_len > 0)
            {
              vectors[n].buffer = body;
              vectors[n].size = body_len;
              n++;
            }
        }
      else
        {
          vectors[n].buffer = body + (*offset - head_len);
          vectors[n].size = head_len + body_len - *offset;
          n++;
        }

      written = g_socket_send_message (socket, NULL, vectors, n, NULL, 0, 0, NULL, error);
      if (written < 0)
        return FALSE;
      *offset += written;
    }

  return TRUE;
}

typedef enum
{
  READ_DONE,        /* the buffer is full */
  READ_AGAIN,       /* would block */
  READ_EOF,         /* the peer closed before the buffer was full */
  READ_ERROR,
} ReadResult;

static ReadResult
receive_into (GSocket  *socket,
              guint8   *buffer,
              gsize     size,
              gsize    *have,
              GError  **error)
{
  while (*have < size)
    {
      g_autoptr(GError) local_error = NULL;
      gssize got;

      got = g_socket_receive (socket, (char *) buffer + *have, size - *have, NULL, &local_error);
      if (got < 0)
        {
          if (g_error_matches (local_error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
            return READ_AGAIN;
          g_propagate_error (error, g_steal_pointer (&local_error));
          return READ_ERROR;
        }
      if (got == 0)
        return READ_EOF;
      *have += got;
    }

  return READ_DONE;
}

/* The first allocation for a frame body; see receive_growing(). */
#define FRAME_CHUNK (64 * 1024)

/* Like receive_into() for a frame body of @size bytes, but the buffer grows
 * with the bytes actually received instead of being allocated from the
 * declared length: a peer announcing 8 MiB and then trickling costs only
 * what it sent, so limits.max_incoming idle peers cannot pin gigabytes. */
static ReadResult
receive_growing (GSocket  *socket,
                 guint8  **buffer,
                 gsize    *capacity,
                 gsize     size,
                 gsize    *have,
                 GError  **error)
{
  for (;;)
    {
      ReadResult result;

      if (*have == *capacity && *capacity < size)
        {
          *capacity = MIN (size, MAX (*capacity * 2, FRAME_CHUNK));
          *buffer = g_realloc (*buffer, *capacity);
        }

      result = receive_into (socket, *buffer, *capacity, have, error);
      if (result != READ_DONE || *have == size)
        return result;
    }
}

/* ---------------------------------------------------------------------------
 * Outgoing stream exchanges
 * ------------------------------------------------------------------------- */

typedef enum
{
  EX_STARTING,
  EX_RESOLVING,
  EX_CONNECTING,
  EX_WRITING,
  EX_READING_LENGTH,
  EX_READING_REPLY,
  EX_DONE,
} ExState;

struct _OutExchange
{
  GossipOutExchange          base;        /* first: the queue holds one
                                           * reference, a pending lookup
                                           * another */
  ExState                    state;
  GossipSocketTransport     *self;        /* borrowed, as base.transport */

  GSource                   *io_source;

  GPtrArray                 *targets;     /* GInetSocketAddress* */
  guint                      next_target;
  gboolean                   targets_cached;
  GError                    *connect_error;
  GSocket                   *socket;

  guint8                     header[REQUEST_HEADER_SIZE];
  gsize                      written;
  guint8                     length[REPLY_HEADER_SIZE];
  gsize                      length_have;
  guint8                    *reply;
  gsize                      reply_capacity;
  gsize                      reply_len;
  gsize                      reply_have;
};

static void exchange_try_connect (OutExchange *ex);

static OutExchange *
exchange_ref (OutExchange *ex)
{
  return (OutExchange *) _gossip_out_exchange_ref (&ex->base);
}

static void
exchange_unref (OutExchange *ex)
{
  _gossip_out_exchange_unref (&ex->base);
}

static void
exchange_finalize (GossipOutExchange *base)
{
  OutExchange *ex = (OutExchange *) base;

  g_clear_error (&ex->connect_error);
  g_clear_pointer (&ex->targets, g_ptr_array_unref);
  g_free (ex->reply);
}

/* At completion: closes the socket; a failure forgets the cached
 * addresses, which may be stale: they are looked up afresh next time. */
static void
exchange_release (GossipOutExchange *base,
                  const GError      *error)
{
  OutExchange *ex = (OutExchange *) base;

  ex->state = EX_DONE;
  _gossip_transport_source_clear (&ex->io_source);
  _gossip_socket_clear (&ex->socket);
  if (error != NULL && ex->targets_cached)
    g_hash_table_remove (ex->self->resolve_cache, ex->base.address);
  ex->self = NULL;
}

#define exchange_complete(ex, reply, error) _gossip_out_exchange_complete (&(ex)->base, (reply), (error))
#define exchange_fail(ex, ...) _gossip_out_exchange_fail (&(ex)->base, __VA_ARGS__)

static void
exchange_watch (OutExchange       *ex,
                GIOCondition       condition,
                GSocketSourceFunc  func)
{
  _gossip_transport_source_clear (&ex->io_source);
  ex->io_source = _gossip_socket_source_attach (ex->base.context, ex->socket, condition,
                                                "GossipSocketTransport outgoing stream", func, ex);
}

static void
exchange_finish_reply (OutExchange *ex)
{
  g_autoptr(GBytes) reply = g_bytes_new_take (g_steal_pointer (&ex->reply), ex->reply_len);

  exchange_complete (ex, reply, NULL);
}

static gboolean
exchange_readable_cb (GSocket      *socket,
                      GIOCondition  condition,
                      gpointer      data)
{
  OutExchange *ex = data;
  g_autoptr(GError) error = NULL;
  ReadResult result;

  if (ex->state == EX_READING_LENGTH)
    {
      guint32 len;

      result = receive_into (ex->socket, ex->length, sizeof ex->length, &ex->length_have, &error);
      if (result == READ_AGAIN)
        return G_SOURCE_CONTINUE;
      if (result == READ_EOF)
        goto closed;
      if (result == READ_ERROR)
        goto failed;

      len = get_u32_be (ex->length);
      if (len == 0)
        {
          exchange_fail (ex, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED,
                         _("%s sent no reply"), ex->base.address);
          return G_SOURCE_REMOVE;
        }
      if (len > GOSSIP_MAX_FRAME_SIZE)
        {
          exchange_fail (ex, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                         _("reply from %s is %u bytes, more than the limit of %u"),
                         ex->base.address, len, (guint) GOSSIP_MAX_FRAME_SIZE);
          return G_SOURCE_REMOVE;
        }
      ex->reply_len = len;
      ex->state = EX_READING_REPLY;
    }

  result = receive_growing (ex->socket, &ex->reply, &ex->reply_capacity, ex->reply_len,
                            &ex->reply_have, &error);
  if (result == READ_AGAIN)
    return G_SOURCE_CONTINUE;
  if (result == READ_EOF)
    goto closed;
  if (result == READ_ERROR)
    goto failed;

  exchange_finish_reply (ex);
  return G_SOURCE_REMOVE;

closed:
  exchange_fail (ex, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED,
                 _("%s closed the connection without replying"), ex->base.address);
  return G_SOURCE_REMOVE;

failed:
  g_prefix_error (&error, _("reading the reply from %s: "), ex->base.address);
  exchange_complete (ex, NULL, error);
  return G_SOURCE_REMOVE;
}

static gboolean
exchange_writable_cb (GSocket      *socket,
                      GIOCondition  condition,
                      gpointer      data)
{
  OutExchange *ex = data;
  g_autoptr(GError) error = NULL;
  gsize frame_len;
  const guint8 *frame = g_bytes_get_data (ex->base.frame, &frame_len);

  if (!send_two_parts (ex->socket, ex->header, sizeof ex->header, frame, frame_len,
                       &ex->written, &error))
    {
      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
        {
          if (ex->io_source == NULL)
            exchange_watch (ex, G_IO_OUT, exchange_writable_cb);
          return G_SOURCE_CONTINUE;
        }
      g_prefix_error (&error, _("sending to %s: "), ex->base.address);
      exchange_complete (ex, NULL, error);
      return G_SOURCE_REMOVE;
    }

  if (!ex->base.want_reply)
    {
      exchange_complete (ex, NULL, NULL);
      return G_SOURCE_REMOVE;
    }

  ex->state = EX_READING_LENGTH;
  exchange_watch (ex, G_IO_IN, exchange_readable_cb);
  return G_SOURCE_REMOVE;
}

static void
exchange_connected (OutExchange *ex)
{
  ex->state = EX_WRITING;
  _gossip_transport_source_clear (&ex->io_source);
  exchange_writable_cb (ex->socket, G_IO_OUT, ex);
}

static void
exchange_next_target (OutExchange *ex,
                      GError      *error)
{
  /* Keep the first failure: with several addresses it is usually the most
   * telling (the preferred family). */
  if (ex->connect_error == NULL)
    ex->connect_error = g_steal_pointer (&error);
  g_clear_error (&error);
  _gossip_transport_source_clear (&ex->io_source);
  _gossip_socket_clear (&ex->socket);
  exchange_try_connect (ex);
}

static gboolean
exchange_connect_cb (GSocket      *socket,
                     GIOCondition  condition,
                     gpointer      data)
{
  OutExchange *ex = data;
  GError *error = NULL;

  if (!g_socket_check_connect_result (ex->socket, &error))
    {
      exchange_next_target (ex, error);
      return G_SOURCE_REMOVE;
    }

  exchange_connected (ex);
  return G_SOURCE_REMOVE;
}

static void
exchange_try_connect (OutExchange *ex)
{
  while (ex->next_target < ex->targets->len)
    {
      GSocketAddress *target = g_ptr_array_index (ex->targets, ex->next_target++);
      GError *error = NULL;

      ex->socket = g_socket_new (g_socket_address_get_family (target), G_SOCKET_TYPE_STREAM,
                                 G_SOCKET_PROTOCOL_TCP, &error);
      if (ex->socket == NULL)
        {
          if (ex->connect_error == NULL)
            ex->connect_error = error;
          else
            g_error_free (error);
          continue;
        }
      g_socket_set_blocking (ex->socket, FALSE);
      /* Frames are written whole; do not hold back the last segment. */
      g_socket_set_option (ex->socket, IPPROTO_TCP, TCP_NODELAY, 1, NULL);
      /* Bound to one address, a node connects from it too: its streams then
       * come from the host it advertises, as its datagrams do (receivers
       * match members by host, PROTOCOL.md "Strangers"). */
      if (ex->self->local_address != NULL)
        {
          GInetAddress *local = g_inet_socket_address_get_address (ex->self->local_address);

          if (!g_inet_address_get_is_any (local) &&
              g_inet_address_get_family (local) == g_socket_address_get_family (target))
            {
              g_autoptr(GSocketAddress) source = g_inet_socket_address_new (local, 0);

              g_autoptr(GError) bind_error = NULL;

              /* Best effort: unbound, the kernel picks the source. */
              if (!g_socket_bind (ex->socket, source, FALSE, &bind_error))
                g_debug ("connecting from any address: %s", bind_error->message);
            }
        }

      ex->state = EX_CONNECTING;
      if (g_socket_connect (ex->socket, target, NULL, &error))
        {
          exchange_connected (ex);
          return;
        }
      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_PENDING))
        {
          g_error_free (error);
          exchange_watch (ex, G_IO_OUT, exchange_connect_cb);
          return;
        }
      exchange_next_target (ex, error);
      return;
    }

  /* Every address failed. */
  {
    g_autoptr(GError) error = g_steal_pointer (&ex->connect_error);

    if (error == NULL)
      error = g_error_new (G_IO_ERROR, G_IO_ERROR_HOST_NOT_FOUND,
                           _("“%s” resolved to no address"), ex->base.address);
    else
      g_prefix_error (&error, _("cannot connect to %s: "), ex->base.address);
    exchange_complete (ex, NULL, error);
  }
}

static void
exchange_resolved_cb (GObject      *source,
                      GAsyncResult *result,
                      gpointer      data)
{
  OutExchange *ex = data;
  g_autoptr(GError) error = NULL;
  GList *addresses;

  addresses = g_resolver_lookup_by_name_with_flags_finish (G_RESOLVER (source), result, &error);
  if (ex->state == EX_RESOLVING)
    {
      if (addresses == NULL)
        {
          g_autoptr(GError) lookup = lookup_error (ex->base.address, error);

          exchange_complete (ex, NULL, lookup);
        }
      else
        {
          guint16 port = 0;

          _gossip_socket_split_address (ex->base.address, NULL, &port, NULL);
          ex->targets = _gossip_socket_targets_from_addresses (addresses, port, ex->self->prefer_ipv6);
          _gossip_socket_cache_store (ex->self, ex->base.address, ex->targets);
          ex->targets_cached = TRUE;
          exchange_try_connect (ex);
        }
    }

  g_resolver_free_addresses (addresses);
  exchange_unref (ex);
}

static void
exchange_start (GossipOutExchange *base)
{
  OutExchange *ex = (OutExchange *) base;
  GossipSocketTransport *self = ex->self;
  g_autoptr(GError) error = NULL;
  g_autofree char *host = NULL;
  guint16 port = 0;

  ex->targets = _gossip_socket_lookup_targets_now (self, ex->base.address, &host, &port, &error);
  if (ex->targets != NULL)
    {
      ex->targets_cached = (host == NULL && g_hash_table_contains (self->resolve_cache, ex->base.address));
      exchange_try_connect (ex);
    }
  else if (error != NULL)
    {
      exchange_complete (ex, NULL, error);
    }
  else
    {
      ex->state = EX_RESOLVING;
      ex->base.cancellable = g_cancellable_new ();
      if (!_gossip_socket_start_lookup (self, host, ex->base.cancellable, exchange_resolved_cb, exchange_ref (ex)))
        {
          g_autoptr(GError) busy = g_error_new (G_IO_ERROR, G_IO_ERROR_BUSY,
                                                _("cannot resolve %s: too many DNS lookups in flight"),
                                                ex->base.address);

          exchange_unref (ex);
          exchange_complete (ex, NULL, busy);
        }
    }
}

static const GossipOutExchangeClass exchange_class = {
  .start_name = "GossipSocketTransport stream start",
  .timeout_name = "GossipSocketTransport stream timeout",
  .too_large_format = N_("frame of %zu bytes exceeds the stream limit of %u bytes"),
  .timeout_format = N_("stream exchange with %s timed out"),
  .start = exchange_start,
  .release = exchange_release,
  .finalize = exchange_finalize,
};

void
_gossip_socket_send_stream (GossipSocketTransport     *self,
                            const char                *address,
                            GBytes                    *frame,
                            gboolean                   want_reply,
                            gint64                     timeout_us,
                            GossipTransportStreamFunc  func,
                            gpointer                   user_data)
{
  OutExchange *ex = g_new0 (OutExchange, 1);
  gsize len = g_bytes_get_size (frame);

  ex->state = EX_STARTING;
  ex->self = self;
  ex->header[0] = want_reply ? STREAM_KIND_REQUEST : STREAM_KIND_ONE_WAY;
  put_u32_be (ex->header + 1, (guint32) MIN (len, G_MAXUINT32));
  _gossip_out_exchange_init (&ex->base, &exchange_class, G_OBJECT (self), &self->outgoing,
                             self->started ? self->context : NULL, address, frame, want_reply,
                             timeout_us > 0 ? timeout_us : DEFAULT_STREAM_TIMEOUT_US, func, user_data);
}

/* Completes every outgoing exchange with G_IO_ERROR_CANCELLED. */
void
_gossip_socket_cancel_outgoing (GossipSocketTransport *self)
{
  _gossip_out_exchange_cancel_all (&self->outgoing);
}

/* ---------------------------------------------------------------------------
 * Incoming stream connections
 * ------------------------------------------------------------------------- */

typedef enum
{
  IN_READING_HEADER,
  IN_READING_FRAME,
  IN_WAITING_REPLY,
  IN_WRITING_REPLY,
  IN_CLOSED,
} InState;

/* Shared with reply handles, which may live on other threads: the atomic
 * reference count makes that safe, and every other field is touched only
 * on the transport's thread. */
struct _InConn
{
  gatomicrefcount        ref_count;
  InState                state;
  GossipSocketTransport *self;          /* NULL once closed */
  GMainContext          *context;
  GList                 *link;          /* in self->incoming */
  GSocket               *socket;
  GSource               *io_source;
  GSource               *timeout_source;
  char                  *from;
  char                  *host;          /* the peer's IP, for the per-host cap */

  guint8                 header[REQUEST_HEADER_SIZE];
  gsize                  header_have;
  guint8                 kind;
  guint8                *frame;
  gsize                  frame_capacity;
  gsize                  frame_len;
  gsize                  frame_have;

  guint8                 reply_header[REPLY_HEADER_SIZE];
  GBytes                *reply;
  gsize                  reply_written;
};

static InConn *
in_conn_ref (InConn *conn)
{
  g_atomic_ref_count_inc (&conn->ref_count);
  return conn;
}

static void
in_conn_unref (InConn *conn)
{
  if (!g_atomic_ref_count_dec (&conn->ref_count))
    return;

  /* The last reference may go on any thread, but by then the connection is
   * closed (the transport holds a reference until it closes it). */
  g_assert (conn->state == IN_CLOSED);
  g_main_context_unref (conn->context);
  g_free (conn->from);
  g_free (conn->host);
  g_free (conn->frame);
  g_clear_pointer (&conn->reply, g_bytes_unref);
  g_free (conn);
}

static void
in_conn_close (InConn *conn)
{
  GossipSocketTransport *self = conn->self;

  if (conn->state == IN_CLOSED)
    return;
  conn->state = IN_CLOSED;

  _gossip_transport_source_clear (&conn->io_source);
  _gossip_transport_source_clear (&conn->timeout_source);
  _gossip_socket_clear (&conn->socket);
  g_clear_pointer (&conn->frame, g_free);
  conn->self = NULL;

  g_queue_delete_link (&self->incoming, conn->link);
  conn->link = NULL;
  in_conn_unref (conn);
}

static void
in_conn_set_deadline (InConn *conn,
                      gint64  timeout_us);

static gboolean
in_conn_timeout_cb (gpointer data)
{
  InConn *conn = data;

  g_clear_pointer (&conn->timeout_source, g_source_unref);
  g_debug ("closing stream from %s: deadline passed", conn->from);
  in_conn_close (conn);
  return G_SOURCE_REMOVE;
}

static void
in_conn_set_deadline (InConn *conn,
                      gint64  timeout_us)
{
  _gossip_transport_source_clear (&conn->timeout_source);
  conn->timeout_source = _gossip_transport_deadline_source_attach (conn->context, _gossip_transport_deadline_after (timeout_us),
                                                 "GossipSocketTransport incoming deadline",
                                                 in_conn_timeout_cb, conn, NULL);
}

static gboolean
in_conn_writable_cb (GSocket      *socket,
                     GIOCondition  condition,
                     gpointer      data)
{
  InConn *conn = data;
  g_autoptr(GError) error = NULL;
  const guint8 *body = NULL;
  gsize body_len = 0;

  if (conn->reply != NULL)
    body = g_bytes_get_data (conn->reply, &body_len);

  if (!send_two_parts (conn->socket, conn->reply_header, sizeof conn->reply_header,
                       body, body_len, &conn->reply_written, &error))
    {
      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
        {
          if (conn->io_source == NULL)
            conn->io_source = _gossip_socket_source_attach (conn->context, conn->socket, G_IO_OUT,
                                                            "GossipSocketTransport incoming stream",
                                                            in_conn_writable_cb, conn);
          return G_SOURCE_CONTINUE;
        }
      g_debug ("cannot reply to %s: %s", conn->from, error->message);
    }

  in_conn_close (conn);
  return G_SOURCE_REMOVE;
}

/* Runs on the transport's thread. */
static void
in_conn_write_reply (gpointer  data,
                     GBytes   *frame)
{
  InConn *conn = data;

  if (conn->state != IN_WAITING_REPLY)
    return;   /* closed meanwhile (deadline, stop) */

  conn->state = IN_WRITING_REPLY;
  conn->reply = frame != NULL ? g_bytes_ref (frame) : NULL;
  put_u32_be (conn->reply_header, frame != NULL ? (guint32) g_bytes_get_size (frame) : 0);
  in_conn_writable_cb (conn->socket, G_IO_OUT, conn);
}

/* The GossipTransportReplyFunc: any thread. */
static void
in_conn_reply_func (GBytes   *frame_or_null,
                    gpointer  data)
{
  InConn *conn = data;

  _gossip_transport_answer_in_context (conn->context, "GossipSocketTransport reply", "stream limit",
                                       frame_or_null, in_conn_write_reply, in_conn_ref (conn),
                                       (GDestroyNotify) in_conn_unref);
}

static void
in_conn_deliver (InConn *conn)
{
  g_autoptr(GossipSocketTransport) self = g_object_ref (conn->self);
  g_autoptr(GBytes) frame = g_bytes_new_take (g_steal_pointer (&conn->frame), conn->frame_len);
  g_autofree char *from = g_strdup (conn->from);
  GossipTransportReply *reply = NULL;

  _gossip_transport_source_clear (&conn->io_source);

  if (conn->kind == STREAM_KIND_REQUEST)
    {
      conn->state = IN_WAITING_REPLY;
      in_conn_set_deadline (conn, INCOMING_REPLY_TIMEOUT_US);
      reply = gossip_transport_reply_new (in_conn_reply_func, in_conn_ref (conn),
                                          (GDestroyNotify) in_conn_unref);
    }
  else
    {
      /* Nothing more will be read or written. */
      in_conn_close (conn);
    }

  /* The connection may be closed by the time this returns (a synchronous
   * reply, a stop() from the receive function): do not touch it. */
  gossip_transport_deliver (GOSSIP_TRANSPORT (self), frame, TRUE, from, reply);
  if (reply != NULL)
    gossip_transport_reply_unref (reply);
}

static gboolean
in_conn_readable_cb (GSocket      *socket,
                     GIOCondition  condition,
                     gpointer      data)
{
  InConn *conn = data;
  g_autoptr(GError) error = NULL;
  ReadResult result;

  if (conn->state == IN_READING_HEADER)
    {
      guint32 len;

      result = receive_into (conn->socket, conn->header, sizeof conn->header, &conn->header_have, &error);
      if (result == READ_AGAIN)
        return G_SOURCE_CONTINUE;
      if (result != READ_DONE)
        goto close;

      conn->kind = conn->header[0];
      len = get_u32_be (conn->header + 1);
      if (conn->kind != STREAM_KIND_ONE_WAY && conn->kind != STREAM_KIND_REQUEST)
        {
          g_debug ("closing stream from %s: unknown kind %u", conn->from, conn->kind);
          goto close;
        }
      if (len == 0 || len > GOSSIP_MAX_FRAME_SIZE)
        {
          g_debug ("closing stream from %s: frame length %u outside 1..%u",
                   conn->from, len, (guint) GOSSIP_MAX_FRAME_SIZE);
          goto close;
        }
      conn->frame_len = len;
      conn->state = IN_READING_FRAME;
    }

  result = receive_growing (conn->socket, &conn->frame, &conn->frame_capacity, conn->frame_len,
                            &conn->frame_have, &error);
  if (result == READ_AGAIN)
    return G_SOURCE_CONTINUE;
  if (result != READ_DONE)
    goto close;

  in_conn_deliver (conn);
  return G_SOURCE_REMOVE;

close:
  if (error != NULL)
    g_debug ("closing stream from %s: %s", conn->from, error->message);
  in_conn_close (conn);
  return G_SOURCE_REMOVE;
}

static void
accept_one (GossipSocketTransport *self,
            GSocket               *socket)
{
  g_autoptr(GSocketAddress) remote = NULL;
  InConn *conn;

  guint from_host = 0;
  g_autofree char *host = NULL;

  remote = g_socket_get_remote_address (socket, NULL);
  if (remote != NULL && G_IS_INET_SOCKET_ADDRESS (remote))
    host = g_inet_address_to_string (g_inet_socket_address_get_address (G_INET_SOCKET_ADDRESS (remote)));
  for (GList *l = self->incoming.head; l != NULL && host != NULL; l = l->next)
    if (g_strcmp0 (((InConn *) l->data)->host, host) == 0)
      from_host++;
  /* Bounded in total and per host: one peer holding connections open (as
   * they time out, re-opened) must not lock out everyone else's joins. */
  /* The per-host bound applies once half the connections are taken: nodes
   * sharing a host are not limited until connections run short, and then
   * no single host can hold the rest. */
  if (g_queue_get_length (&self->incoming) >= self->limits.max_incoming ||
      (g_queue_get_length (&self->incoming) >= self->limits.max_incoming / 2 &&
       from_host >= self->limits.max_incoming_per_peer))
    {
      self->streams_refused++;
      g_debug ("refusing stream from %s: %u connections open, %u from that host",
               host != NULL ? host : "?", g_queue_get_length (&self->incoming), from_host);
      g_socket_close (socket, NULL);
      return;
    }

  g_socket_set_blocking (socket, FALSE);

  conn = g_new0 (InConn, 1);
  g_atomic_ref_count_init (&conn->ref_count);
  conn->state = IN_READING_HEADER;
  conn->self = self;
  conn->context = g_main_context_ref (self->context);
  conn->socket = g_object_ref (socket);
  conn->from = _gossip_socket_format_address (remote);
  conn->host = g_steal_pointer (&host);

  g_queue_push_tail (&self->incoming, conn);
  conn->link = self->incoming.tail;

  conn->io_source = _gossip_socket_source_attach (self->context, socket, G_IO_IN,
                                                  "GossipSocketTransport incoming stream",
                                                  in_conn_readable_cb, conn);
  in_conn_set_deadline (conn, self->limits.read_timeout_us);
}

static gboolean listener_cb (GSocket *socket, GIOCondition condition, gpointer data);

void
_gossip_socket_watch_listener (GossipSocketTransport *self)
{
  self->tcp_source = _gossip_socket_source_attach (self->context, self->tcp, G_IO_IN,
                                                   "GossipSocketTransport TCP listener",
                                                   listener_cb, self);
}

static gboolean
accept_backoff_cb (gpointer data)
{
  GossipSocketTransport *self = data;

  g_clear_pointer (&self->accept_backoff_source, g_source_unref);
  _gossip_socket_watch_listener (self);
  return G_SOURCE_REMOVE;
}

static gboolean
listener_cb (GSocket      *socket,
             GIOCondition  condition,
             gpointer      data)
{
  GossipSocketTransport *self = data;

  for (guint i = 0; i < MAX_ACCEPTS_PER_DISPATCH; i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(GSocket) accepted = g_socket_accept (self->tcp, NULL, &error);

      if (accepted != NULL)
        {
          accept_one (self, accepted);
          continue;
        }

      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
        break;

      /* Typically EMFILE: the listener stays readable, so back off. */
      g_warning ("cannot accept a stream connection: %s", error->message);
      g_clear_pointer (&self->tcp_source, g_source_unref);
      self->accept_backoff_source =
        _gossip_transport_deadline_source_attach (self->context, _gossip_transport_deadline_after (ACCEPT_BACKOFF_US),
                                "GossipSocketTransport accept backoff",
                                accept_backoff_cb, self, NULL);
      return G_SOURCE_REMOVE;
    }

  return G_SOURCE_CONTINUE;
}

/* Closes every incoming connection; pending reply handles then write nothing. */
void
_gossip_socket_close_incoming (GossipSocketTransport *self)
{
  InConn *conn;

  while ((conn = g_queue_peek_head (&self->incoming)) != NULL)
    in_conn_close (conn);
}
