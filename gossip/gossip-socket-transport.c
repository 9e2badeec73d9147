/* gossip-socket-transport.c — UDP + TCP on one port (GSocket).
 *
 * SPDX-License-Identifier: MIT
 */
#include "config.h"

#include <errno.h>
#include <glib/gi18n-lib.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>

#include "gossip-socket-transport.h"
#include "gossip-frame-private.h"

/**
 * GossipSocketTransport:
 *
 * The #GossipTransport of UDP datagrams and TCP streams on one port,
 * created with gossip_socket_transport_new().
 */

/**
 * SECTION:gossip-socket-transport
 * @title: GossipSocketTransport
 * @short_description: UDP and TCP on one port
 *
 * Datagrams travel as single UDP datagrams, sent from the listening UDP
 * socket. Streams use one TCP connection per exchange, framed as follows
 * (all integers big-endian):
 *
 * |[
 * request:  [u8 kind][u32 len][len bytes: frame]
 *           kind 0 = one-way, 1 = request (the sender waits for a reply)
 *           1 <= len <= GOSSIP_MAX_FRAME_SIZE (8 MiB)
 * reply:    [u32 len][len bytes: frame]      (only after kind 1)
 *           len 0 = "no reply" (the handler declined or dropped the handle)
 * ]|
 *
 * After a one-way frame the sender closes the connection; after a request
 * the responder writes one reply and closes. Anything else — an unknown kind,
 * len 0 or len over the limit in a request, a reply length over the limit —
 * makes the reader close the connection without answering.
 *
 * Everything runs on the #GMainContext that is thread-default when
 * gossip_transport_start() is called: sockets are non-blocking and watched
 * by sources attached to that context. The transport starts no threads
 * (host name lookups use #GResolver, which may).
 */

/* Go's UDPMaxPacketSize; frames of this size and more go by TCP. */
#define DEFAULT_MAX_DATAGRAM       1400
/* The largest UDP payload over IPv4. */
#define MAX_UDP_PAYLOAD            65507
#define UDP_RECEIVE_BUFFER         65536
/* Enough to drain a burst without starving other sources. */
#define MAX_DATAGRAMS_PER_DISPATCH 64
#define MAX_ACCEPTS_PER_DISPATCH   32
/* Incoming connections beyond this are closed at once, so a flood cannot
 * exhaust file descriptors. */
#define MAX_INCOMING               256
/* An incoming request must arrive completely within this time (slowloris). */
#define INCOMING_READ_TIMEOUT_US   (10 * G_USEC_PER_SEC)
/* How long a handler may take to answer, plus writing the answer; the
 * requester gives up long before with the engine's timeouts. */
#define INCOMING_REPLY_TIMEOUT_US  (30 * G_USEC_PER_SEC)
/* For send_stream() without a positive timeout, and for oversized
 * datagrams rerouted to a stream. */
#define DEFAULT_STREAM_TIMEOUT_US  (10 * G_USEC_PER_SEC)
/* When accept() fails for lack of resources, pause before retrying rather
 * than spin on a listener that stays readable. */
#define ACCEPT_BACKOFF_US          (100 * 1000)
#define RESOLVE_CACHE_TTL_US       (10 * G_USEC_PER_SEC)
#define RESOLVE_CACHE_MAX          4096
#define LISTEN_BACKLOG             128
/* With port 0, how often to retry when UDP cannot get the port TCP got. */
#define BIND_ATTEMPTS              20

#define STREAM_KIND_ONE_WAY 0
#define STREAM_KIND_REQUEST 1
#define REQUEST_HEADER_SIZE 5
#define REPLY_HEADER_SIZE   4

typedef struct _OutExchange OutExchange;
typedef struct _InConn      InConn;

struct _GossipSocketTransport
{
  GObject             parent_instance;

  /* Configuration, immutable after construction except max_datagram. */
  char               *bind_host;        /* NULL: any IPv4 address */
  guint16             bind_port;
  gboolean            prefer_ipv6;
  gboolean            reliable_only;
  gsize               max_datagram;

  GResolver          *resolver;
  GHashTable         *resolve_cache;    /* address string -> CacheEntry */

  /* Running state, touched only on the context's thread. */
  gboolean            started;
  GMainContext       *context;
  GCancellable       *cancellable;      /* this run's datagram lookups */
  GSocket            *tcp;
  GSource            *tcp_source;
  GSource            *accept_backoff_source;
  GSocket            *udp;
  GSource            *udp_source;
  GInetSocketAddress *local_address;
  guint8             *udp_buffer;
  GQueue              outgoing;         /* OutExchange*, one ref each */
  GQueue              incoming;         /* InConn*, one ref each */

  guint64             datagrams_dropped;
};

static void gossip_socket_transport_iface_init (GossipTransportInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (GossipSocketTransport, gossip_socket_transport, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (GOSSIP_TYPE_TRANSPORT,
                                                      gossip_socket_transport_iface_init))

/* ---------------------------------------------------------------------------
 * Small helpers
 * ------------------------------------------------------------------------- */

static gboolean
deadline_source_dispatch (GSource     *source,
                          GSourceFunc  callback,
                          gpointer     user_data)
{
  return callback != NULL ? callback (user_data) : G_SOURCE_REMOVE;
}

static GSourceFuncs deadline_source_funcs = {
  .dispatch = deadline_source_dispatch,
};

/* A source that fires once @ready_time (monotonic µs) has passed; 0 fires
 * on the next iteration. Microsecond precision, unlike g_timeout_source_new().
 * Returns the caller's reference; the context holds another. */
static GSource *
deadline_source_attach (GMainContext   *context,
                        gint64          ready_time,
                        const char     *static_name,
                        GSourceFunc     func,
                        gpointer        data,
                        GDestroyNotify  notify)
{
  GSource *source = g_source_new (&deadline_source_funcs, sizeof (GSource));

  g_source_set_static_name (source, static_name);
  g_source_set_ready_time (source, ready_time);
  g_source_set_callback (source, func, data, notify);
  g_source_attach (source, context);
  return source;
}

static GSource *
socket_source_attach (GMainContext     *context,
                      GSocket          *socket,
                      GIOCondition      condition,
                      const char       *static_name,
                      GSocketSourceFunc func,
                      gpointer          data)
{
  GSource *source = g_socket_create_source (socket, condition, NULL);

  g_source_set_static_name (source, static_name);
  g_source_set_callback (source, (GSourceFunc) (void (*) (void)) func, data, NULL);
  g_source_attach (source, context);
  return source;
}

static void
source_clear (GSource **source)
{
  if (*source != NULL)
    {
      g_source_destroy (*source);
      g_clear_pointer (source, g_source_unref);
    }
}

static void
socket_clear (GSocket **socket)
{
  if (*socket != NULL)
    {
      /* Errors on close only matter for the fd, which is gone either way. */
      g_socket_close (*socket, NULL);
      g_clear_object (socket);
    }
}

static gint64
deadline_after (gint64 timeout_us)
{
  gint64 now = g_get_monotonic_time ();

  return timeout_us > G_MAXINT64 - now ? G_MAXINT64 : now + timeout_us;
}

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

/* IPv4-mapped IPv6 addresses (seen on dual-stack sockets) are shown as the
 * IPv4 address they carry, so that peers are named consistently. */
static char *
format_inet_address (GInetAddress *address)
{
  if (g_inet_address_get_family (address) == G_SOCKET_FAMILY_IPV6 &&
      g_inet_address_get_is_any (address) == FALSE)
    {
      const guint8 *b = g_inet_address_to_bytes (address);
      static const guint8 mapped_prefix[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

      if (memcmp (b, mapped_prefix, sizeof mapped_prefix) == 0)
        return g_strdup_printf ("%u.%u.%u.%u", b[12], b[13], b[14], b[15]);
    }

  return g_inet_address_to_string (address);
}

static char *
format_socket_address (GSocketAddress *address)
{
  GInetSocketAddress *inet;
  g_autofree char *host = NULL;
  guint16 port;

  if (address == NULL || !G_IS_INET_SOCKET_ADDRESS (address))
    return g_strdup ("unknown");

  inet = G_INET_SOCKET_ADDRESS (address);
  host = format_inet_address (g_inet_socket_address_get_address (inet));
  port = g_inet_socket_address_get_port (inet);

  if (strchr (host, ':') != NULL)
    return g_strdup_printf ("[%s]:%u", host, port);
  return g_strdup_printf ("%s:%u", host, port);
}

/* Splits "host:port", "[v6]:port" and ":port". *host is NULL for ":port".
 * Errors are G_IO_ERROR_INVALID_ARGUMENT naming @address. */
static gboolean
split_address (const char  *address,
               char       **host_out,
               guint16     *port_out,
               GError     **error)
{
  g_autofree char *host = NULL;
  const char *port_text;
  guint64 port;

  if (address[0] == '[')
    {
      const char *end = strchr (address, ']');

      if (end == NULL || end[1] != ':')
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                       _("invalid address “%s”: expected “[ipv6]:port”"), address);
          return FALSE;
        }
      host = g_strndup (address + 1, end - address - 1);
      port_text = end + 2;
    }
  else
    {
      const char *colon = strrchr (address, ':');

      if (colon == NULL)
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                       _("invalid address “%s”: the port must be specified (“host:port”)"), address);
          return FALSE;
        }
      if (memchr (address, ':', colon - address) != NULL)
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                       _("invalid address “%s”: IPv6 addresses must be written “[addr]:port”"), address);
          return FALSE;
        }
      if (colon > address)
        host = g_strndup (address, colon - address);
      port_text = colon + 1;
    }

  if (host != NULL && host[0] == '\0')
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                   _("invalid address “%s”: empty host"), address);
      return FALSE;
    }

  if (!g_ascii_string_to_unsigned (port_text, 10, 0, G_MAXUINT16, &port, NULL))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                   _("invalid address “%s”: the port must be a number from 0 to 65535"), address);
      return FALSE;
    }

  if (host_out != NULL)
    *host_out = g_steal_pointer (&host);
  if (port_out != NULL)
    *port_out = port;
  return TRUE;
}

/* Stable partition of resolved addresses: IPv4 first unless @prefer_ipv6. */
static GPtrArray *
targets_from_addresses (GList    *addresses,
                        guint16   port,
                        gboolean  prefer_ipv6)
{
  GPtrArray *targets = g_ptr_array_new_with_free_func (g_object_unref);
  GSocketFamily first = prefer_ipv6 ? G_SOCKET_FAMILY_IPV6 : G_SOCKET_FAMILY_IPV4;

  for (int pass = 0; pass < 2; pass++)
    for (GList *l = addresses; l != NULL; l = l->next)
      {
        GInetAddress *address = l->data;
        gboolean is_first = g_inet_address_get_family (address) == first;

        if (is_first == (pass == 0))
          g_ptr_array_add (targets, g_inet_socket_address_new (address, port));
      }

  return targets;
}

/* ---------------------------------------------------------------------------
 * Resolution cache
 * ------------------------------------------------------------------------- */

typedef struct
{
  GPtrArray *targets;   /* GInetSocketAddress* */
  gint64     expires;
} CacheEntry;

static void
cache_entry_free (CacheEntry *entry)
{
  g_ptr_array_unref (entry->targets);
  g_free (entry);
}

static void
cache_store (GossipSocketTransport *self,
             const char            *address,
             GPtrArray             *targets)
{
  CacheEntry *entry;
  gint64 now = g_get_monotonic_time ();

  if (g_hash_table_size (self->resolve_cache) >= RESOLVE_CACHE_MAX)
    {
      GHashTableIter iter;
      gpointer value;

      g_hash_table_iter_init (&iter, self->resolve_cache);
      while (g_hash_table_iter_next (&iter, NULL, &value))
        if (((CacheEntry *) value)->expires <= now)
          g_hash_table_iter_remove (&iter);

      /* Still full of live entries: a cache this size is not helping. */
      if (g_hash_table_size (self->resolve_cache) >= RESOLVE_CACHE_MAX)
        g_hash_table_remove_all (self->resolve_cache);
    }

  entry = g_new (CacheEntry, 1);
  entry->targets = g_ptr_array_ref (targets);
  entry->expires = now + RESOLVE_CACHE_TTL_US;
  g_hash_table_insert (self->resolve_cache, g_strdup (address), entry);
}

/* Resolves @address without blocking when possible: IP literals and fresh
 * cache entries give targets at once. Returns NULL with @error set for a
 * malformed address, or NULL with *host_out set when a lookup is needed. */
static GPtrArray *
lookup_targets_now (GossipSocketTransport  *self,
                    const char             *address,
                    char                  **host_out,
                    guint16                *port_out,
                    GError                **error)
{
  g_autofree char *host = NULL;
  g_autoptr(GInetAddress) inet = NULL;
  CacheEntry *entry;
  GPtrArray *targets;
  guint16 port;

  if (!split_address (address, &host, &port, error))
    return NULL;
  if (port == 0)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                   _("invalid address “%s”: cannot send to port 0"), address);
      return NULL;
    }

  /* ":port" means this host. */
  inet = g_inet_address_new_from_string (host != NULL ? host : "127.0.0.1");
  if (inet != NULL)
    {
      targets = g_ptr_array_new_with_free_func (g_object_unref);
      g_ptr_array_add (targets, g_inet_socket_address_new (inet, port));
      return targets;
    }

  entry = g_hash_table_lookup (self->resolve_cache, address);
  if (entry != NULL && entry->expires > g_get_monotonic_time ())
    return g_ptr_array_ref (entry->targets);
  if (entry != NULL)
    g_hash_table_remove (self->resolve_cache, address);

  *host_out = g_steal_pointer (&host);
  *port_out = port;
  return NULL;
}

static void
start_lookup (GossipSocketTransport *self,
              const char            *host,
              GCancellable          *cancellable,
              GAsyncReadyCallback    callback,
              gpointer               data)
{
  /* GResolver completes on the thread-default context of the caller. */
  g_main_context_push_thread_default (self->context);
  g_resolver_lookup_by_name_with_flags_async (self->resolver, host,
                                              G_RESOLVER_NAME_LOOKUP_FLAGS_DEFAULT,
                                              cancellable, callback, data);
  g_main_context_pop_thread_default (self->context);
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
 * what it sent, so MAX_INCOMING idle peers cannot pin gigabytes. */
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
  gint                       ref_count;   /* the queue, plus a pending lookup */
  ExState                    state;
  GossipSocketTransport     *self;        /* borrowed: stop(), run by dispose,
                                           * completes every exchange */
  GMainContext              *context;
  GList                     *link;        /* in self->outgoing */

  char                      *address;
  GBytes                    *frame;
  gboolean                   want_reply;
  GossipTransportStreamFunc  func;
  gpointer                   user_data;
  GError                    *early_error; /* reported by the start source */

  GSource                   *start_source;
  GSource                   *timeout_source;
  GSource                   *io_source;
  GCancellable              *cancellable;

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
  ex->ref_count++;
  return ex;
}

static void
exchange_unref (OutExchange *ex)
{
  if (--ex->ref_count > 0)
    return;

  g_assert (ex->state == EX_DONE);
  g_free (ex->address);
  g_bytes_unref (ex->frame);
  g_clear_error (&ex->early_error);
  g_clear_error (&ex->connect_error);
  g_clear_object (&ex->cancellable);
  g_clear_pointer (&ex->targets, g_ptr_array_unref);
  g_free (ex->reply);
  g_main_context_unref (ex->context);
  g_free (ex);
}

/* Ends the exchange: releases every resource, then runs the callback.
 * Callers must not touch @ex afterwards. */
static void
exchange_complete (OutExchange  *ex,
                   GBytes       *reply,
                   const GError *error)
{
  g_autoptr(GossipSocketTransport) self = NULL;

  if (ex->state == EX_DONE)
    return;
  ex->state = EX_DONE;

  /* Kept alive through the callback, which may drop the last reference. */
  self = g_object_ref (g_steal_pointer (&ex->self));
  if (ex->link != NULL)
    {
      g_queue_delete_link (&self->outgoing, ex->link);
      ex->link = NULL;
    }

  source_clear (&ex->start_source);
  source_clear (&ex->timeout_source);
  source_clear (&ex->io_source);
  g_cancellable_cancel (ex->cancellable);
  socket_clear (&ex->socket);

  if (error != NULL && ex->targets_cached)
    {
      /* The cached addresses may be stale: look them up afresh next time. */
      g_hash_table_remove (self->resolve_cache, ex->address);
    }

  if (ex->func != NULL)
    ex->func (reply, error, ex->user_data);
  else if (error != NULL)
    g_debug ("one-way stream to %s failed: %s", ex->address, error->message);

  exchange_unref (ex);
}

static void
exchange_fail (OutExchange *ex,
               GQuark       domain,
               gint         code,
               const char  *format,
               ...) G_GNUC_PRINTF (4, 5);

static void
exchange_fail (OutExchange *ex,
               GQuark       domain,
               gint         code,
               const char  *format,
               ...)
{
  g_autoptr(GError) error = NULL;
  va_list args;

  va_start (args, format);
  error = g_error_new_valist (domain, code, format, args);
  va_end (args);

  exchange_complete (ex, NULL, error);
}

static void
exchange_watch (OutExchange       *ex,
                GIOCondition       condition,
                GSocketSourceFunc  func)
{
  source_clear (&ex->io_source);
  ex->io_source = socket_source_attach (ex->context, ex->socket, condition,
                                        "GossipSocketTransport outgoing stream", func, ex);
}

static gboolean
exchange_timeout_cb (gpointer data)
{
  OutExchange *ex = data;

  g_clear_pointer (&ex->timeout_source, g_source_unref);
  exchange_fail (ex, G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                 _("stream exchange with %s timed out"), ex->address);
  return G_SOURCE_REMOVE;
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
                         _("%s sent no reply"), ex->address);
          return G_SOURCE_REMOVE;
        }
      if (len > GOSSIP_MAX_FRAME_SIZE)
        {
          exchange_fail (ex, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                         _("reply from %s is %u bytes, more than the limit of %u"),
                         ex->address, len, (guint) GOSSIP_MAX_FRAME_SIZE);
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
                 _("%s closed the connection without replying"), ex->address);
  return G_SOURCE_REMOVE;

failed:
  g_prefix_error (&error, _("reading the reply from %s: "), ex->address);
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
  const guint8 *frame = g_bytes_get_data (ex->frame, &frame_len);

  if (!send_two_parts (ex->socket, ex->header, sizeof ex->header, frame, frame_len,
                       &ex->written, &error))
    {
      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
        {
          if (ex->io_source == NULL)
            exchange_watch (ex, G_IO_OUT, exchange_writable_cb);
          return G_SOURCE_CONTINUE;
        }
      g_prefix_error (&error, _("sending to %s: "), ex->address);
      exchange_complete (ex, NULL, error);
      return G_SOURCE_REMOVE;
    }

  if (!ex->want_reply)
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
  source_clear (&ex->io_source);
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
  source_clear (&ex->io_source);
  socket_clear (&ex->socket);
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
                           _("“%s” resolved to no address"), ex->address);
    else
      g_prefix_error (&error, _("cannot connect to %s: "), ex->address);
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
          g_autoptr(GError) lookup = lookup_error (ex->address, error);

          exchange_complete (ex, NULL, lookup);
        }
      else
        {
          guint16 port = 0;

          split_address (ex->address, NULL, &port, NULL);
          ex->targets = targets_from_addresses (addresses, port, ex->self->prefer_ipv6);
          cache_store (ex->self, ex->address, ex->targets);
          ex->targets_cached = TRUE;
          exchange_try_connect (ex);
        }
    }

  g_resolver_free_addresses (addresses);
  exchange_unref (ex);
}

static gboolean
exchange_start_cb (gpointer data)
{
  OutExchange *ex = data;
  GossipSocketTransport *self = ex->self;
  g_autoptr(GError) error = NULL;
  g_autofree char *host = NULL;
  guint16 port = 0;

  g_clear_pointer (&ex->start_source, g_source_unref);

  if (ex->early_error != NULL)
    {
      exchange_complete (ex, NULL, ex->early_error);
      return G_SOURCE_REMOVE;
    }

  ex->targets = lookup_targets_now (self, ex->address, &host, &port, &error);
  if (ex->targets != NULL)
    {
      ex->targets_cached = (host == NULL && g_hash_table_contains (self->resolve_cache, ex->address));
      exchange_try_connect (ex);
    }
  else if (error != NULL)
    {
      exchange_complete (ex, NULL, error);
    }
  else
    {
      ex->state = EX_RESOLVING;
      ex->cancellable = g_cancellable_new ();
      start_lookup (self, host, ex->cancellable, exchange_resolved_cb, exchange_ref (ex));
    }

  return G_SOURCE_REMOVE;
}

static void
send_stream_internal (GossipSocketTransport     *self,
                      const char                *address,
                      GBytes                    *frame,
                      gboolean                   want_reply,
                      gint64                     timeout_us,
                      GossipTransportStreamFunc  func,
                      gpointer                   user_data)
{
  OutExchange *ex = g_new0 (OutExchange, 1);
  gsize len = g_bytes_get_size (frame);

  ex->ref_count = 1;
  ex->state = EX_STARTING;
  ex->self = self;
  ex->context = self->started ? g_main_context_ref (self->context)
                              : g_main_context_ref_thread_default ();
  ex->address = g_strdup (address);
  ex->frame = g_bytes_ref (frame);
  ex->want_reply = want_reply;
  ex->func = func;
  ex->user_data = user_data;

  ex->header[0] = want_reply ? STREAM_KIND_REQUEST : STREAM_KIND_ONE_WAY;
  put_u32_be (ex->header + 1, (guint32) MIN (len, G_MAXUINT32));

  if (!self->started)
    ex->early_error = g_error_new (G_IO_ERROR, G_IO_ERROR_NOT_CONNECTED,
                                   _("cannot send to %s: the transport is not started"), address);
  else if (len == 0)
    ex->early_error = g_error_new (G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                                   _("cannot send an empty frame to %s"), address);
  else if (len > GOSSIP_MAX_FRAME_SIZE)
    ex->early_error = g_error_new (G_IO_ERROR, G_IO_ERROR_MESSAGE_TOO_LARGE,
                                   _("frame of %zu bytes exceeds the stream limit of %u bytes"),
                                   len, (guint) GOSSIP_MAX_FRAME_SIZE);

  g_queue_push_tail (&self->outgoing, ex);
  ex->link = self->outgoing.tail;

  /* Everything, errors included, starts from a source so that the callback
   * never runs inside send_stream(). */
  ex->start_source = deadline_source_attach (ex->context, 0, "GossipSocketTransport stream start",
                                             exchange_start_cb, ex, NULL);
  ex->timeout_source = deadline_source_attach (ex->context,
                                               deadline_after (timeout_us > 0 ? timeout_us
                                                                              : DEFAULT_STREAM_TIMEOUT_US),
                                               "GossipSocketTransport stream timeout",
                                               exchange_timeout_cb, ex, NULL);
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

  source_clear (&conn->io_source);
  source_clear (&conn->timeout_source);
  socket_clear (&conn->socket);
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
  source_clear (&conn->timeout_source);
  conn->timeout_source = deadline_source_attach (conn->context, deadline_after (timeout_us),
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
            conn->io_source = socket_source_attach (conn->context, conn->socket, G_IO_OUT,
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
in_conn_write_reply (InConn *conn,
                     GBytes *frame)
{
  if (conn->state != IN_WAITING_REPLY)
    return;   /* closed meanwhile (deadline, stop) */

  conn->state = IN_WRITING_REPLY;
  conn->reply = frame != NULL ? g_bytes_ref (frame) : NULL;
  put_u32_be (conn->reply_header, frame != NULL ? (guint32) g_bytes_get_size (frame) : 0);
  in_conn_writable_cb (conn->socket, G_IO_OUT, conn);
}

typedef struct
{
  InConn *conn;
  GBytes *frame;
} ReplyJob;

static void
reply_job_free (ReplyJob *job)
{
  in_conn_unref (job->conn);
  g_clear_pointer (&job->frame, g_bytes_unref);
  g_free (job);
}

static gboolean
reply_job_cb (gpointer data)
{
  ReplyJob *job = data;

  in_conn_write_reply (job->conn, job->frame);
  return G_SOURCE_REMOVE;
}

/* The GossipTransportReplyFunc: any thread. */
static void
in_conn_reply_func (GBytes   *frame_or_null,
                    gpointer  data)
{
  InConn *conn = data;
  ReplyJob *job;
  GSource *source;

  if (frame_or_null != NULL && g_bytes_get_size (frame_or_null) > GOSSIP_MAX_FRAME_SIZE)
    {
      g_warning ("reply of %" G_GSIZE_FORMAT " bytes exceeds the stream limit; sending none",
                 g_bytes_get_size (frame_or_null));
      frame_or_null = NULL;
    }

  /* Already dispatching on the transport's thread (typically a synchronous
   * reply from the receive function): write at once. Otherwise hand over to
   * that thread; unlike g_main_context_invoke() this never runs the write on
   * the calling thread, which would race with the engine's own calls. */
  if (g_main_context_is_owner (conn->context))
    {
      in_conn_write_reply (conn, frame_or_null);
      return;
    }

  job = g_new0 (ReplyJob, 1);
  job->conn = in_conn_ref (conn);
  job->frame = frame_or_null != NULL ? g_bytes_ref (frame_or_null) : NULL;
  source = deadline_source_attach (conn->context, 0, "GossipSocketTransport reply",
                                   reply_job_cb, job, (GDestroyNotify) reply_job_free);
  g_source_unref (source);
}

static void
in_conn_deliver (InConn *conn)
{
  g_autoptr(GossipSocketTransport) self = g_object_ref (conn->self);
  g_autoptr(GBytes) frame = g_bytes_new_take (g_steal_pointer (&conn->frame), conn->frame_len);
  g_autofree char *from = g_strdup (conn->from);
  GossipTransportReply *reply = NULL;

  source_clear (&conn->io_source);

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

  if (g_queue_get_length (&self->incoming) >= MAX_INCOMING)
    {
      g_debug ("refusing stream: %u connections already open", MAX_INCOMING);
      g_socket_close (socket, NULL);
      return;
    }

  g_socket_set_blocking (socket, FALSE);
  remote = g_socket_get_remote_address (socket, NULL);

  conn = g_new0 (InConn, 1);
  g_atomic_ref_count_init (&conn->ref_count);
  conn->state = IN_READING_HEADER;
  conn->self = self;
  conn->context = g_main_context_ref (self->context);
  conn->socket = g_object_ref (socket);
  conn->from = format_socket_address (remote);

  g_queue_push_tail (&self->incoming, conn);
  conn->link = self->incoming.tail;

  conn->io_source = socket_source_attach (self->context, socket, G_IO_IN,
                                          "GossipSocketTransport incoming stream",
                                          in_conn_readable_cb, conn);
  in_conn_set_deadline (conn, INCOMING_READ_TIMEOUT_US);
}

static gboolean listener_cb (GSocket *socket, GIOCondition condition, gpointer data);

static void
watch_listener (GossipSocketTransport *self)
{
  self->tcp_source = socket_source_attach (self->context, self->tcp, G_IO_IN,
                                           "GossipSocketTransport TCP listener",
                                           listener_cb, self);
}

static gboolean
accept_backoff_cb (gpointer data)
{
  GossipSocketTransport *self = data;

  g_clear_pointer (&self->accept_backoff_source, g_source_unref);
  watch_listener (self);
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
        deadline_source_attach (self->context, deadline_after (ACCEPT_BACKOFF_US),
                                "GossipSocketTransport accept backoff",
                                accept_backoff_cb, self, NULL);
      return G_SOURCE_REMOVE;
    }

  return G_SOURCE_CONTINUE;
}

/* ---------------------------------------------------------------------------
 * Datagrams
 * ------------------------------------------------------------------------- */

static gboolean
udp_readable_cb (GSocket      *socket,
                 GIOCondition  condition,
                 gpointer      data)
{
  GossipSocketTransport *self = data;
  g_autoptr(GossipSocketTransport) hold = g_object_ref (self);

  for (guint i = 0; i < MAX_DATAGRAMS_PER_DISPATCH && self->udp != NULL; i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(GSocketAddress) from_address = NULL;
      g_autoptr(GBytes) frame = NULL;
      g_autofree char *from = NULL;
      gssize got;

      got = g_socket_receive_from (self->udp, &from_address, (char *) self->udp_buffer,
                                   UDP_RECEIVE_BUFFER, NULL, &error);
      if (got < 0)
        {
          if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
            break;
          /* e.g. a queued ICMP error; the socket itself is fine. */
          g_debug ("UDP receive error: %s", error->message);
          continue;
        }
      if (got == 0)
        continue;

      frame = g_bytes_new (self->udp_buffer, got);
      from = format_socket_address (from_address);
      gossip_transport_deliver (GOSSIP_TRANSPORT (self), frame, FALSE, from, NULL);
    }

  return G_SOURCE_CONTINUE;
}

/* Picks the first target the UDP socket can reach. An IPv6 (dual-stack)
 * socket reaches IPv4 targets through IPv4-mapped addresses. */
static GSocketAddress *
udp_destination (GossipSocketTransport *self,
                 GPtrArray             *targets)
{
  GSocketFamily family = g_socket_get_family (self->udp);

  for (guint i = 0; i < targets->len; i++)
    {
      GInetSocketAddress *target = g_ptr_array_index (targets, i);
      GInetAddress *address = g_inet_socket_address_get_address (target);
      GSocketFamily target_family = g_inet_address_get_family (address);

      if (target_family == family)
        return g_object_ref (G_SOCKET_ADDRESS (target));

      /* Only a wildcard bind is dual-stack; "::1" cannot reach IPv4. */
      if (family == G_SOCKET_FAMILY_IPV6 && target_family == G_SOCKET_FAMILY_IPV4 &&
          g_inet_address_get_is_any (g_inet_socket_address_get_address (self->local_address)))
        {
          guint8 mapped[16] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
          g_autoptr(GInetAddress) v6 = NULL;

          memcpy (mapped + 12, g_inet_address_to_bytes (address), 4);
          v6 = g_inet_address_new_from_bytes (mapped, G_SOCKET_FAMILY_IPV6);
          return g_inet_socket_address_new (v6, g_inet_socket_address_get_port (target));
        }
    }

  return NULL;
}

static void
send_datagram_to (GossipSocketTransport *self,
                  const char            *address,
                  GPtrArray             *targets,
                  GBytes                *frame)
{
  g_autoptr(GSocketAddress) destination = udp_destination (self, targets);
  g_autoptr(GError) error = NULL;
  gsize len;
  const char *data = g_bytes_get_data (frame, &len);

  if (destination == NULL)
    {
      self->datagrams_dropped++;
      g_debug ("datagram to %s dropped: no address of a usable family", address);
      return;
    }

  if (g_socket_send_to (self->udp, destination, data, len, NULL, &error) < 0)
    {
      self->datagrams_dropped++;
      g_debug ("datagram to %s dropped: %s", address, error->message);
    }
}

typedef struct
{
  GWeakRef  self;
  char     *address;
  GBytes   *frame;
} DatagramLookup;

static void
datagram_lookup_free (DatagramLookup *lookup)
{
  g_weak_ref_clear (&lookup->self);
  g_free (lookup->address);
  g_bytes_unref (lookup->frame);
  g_free (lookup);
}

static void
datagram_resolved_cb (GObject      *source,
                      GAsyncResult *result,
                      gpointer      data)
{
  DatagramLookup *lookup = data;
  g_autoptr(GossipSocketTransport) self = g_weak_ref_get (&lookup->self);
  g_autoptr(GError) error = NULL;
  GList *addresses;

  addresses = g_resolver_lookup_by_name_with_flags_finish (G_RESOLVER (source), result, &error);
  if (self != NULL && self->started && self->udp != NULL)
    {
      if (addresses == NULL)
        {
          self->datagrams_dropped++;
          g_debug ("datagram to %s dropped: %s", lookup->address, error->message);
        }
      else
        {
          g_autoptr(GPtrArray) targets = NULL;
          guint16 port = 0;

          split_address (lookup->address, NULL, &port, NULL);
          targets = targets_from_addresses (addresses, port, self->prefer_ipv6);
          cache_store (self, lookup->address, targets);
          send_datagram_to (self, lookup->address, targets, lookup->frame);
        }
    }

  g_resolver_free_addresses (addresses);
  datagram_lookup_free (lookup);
}

/* ---------------------------------------------------------------------------
 * GossipTransport implementation
 * ------------------------------------------------------------------------- */

static void
gossip_socket_transport_send_datagram (GossipTransport *transport,
                                       const char      *address,
                                       GBytes          *frame)
{
  GossipSocketTransport *self = GOSSIP_SOCKET_TRANSPORT (transport);
  g_autoptr(GPtrArray) targets = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *host = NULL;
  guint16 port = 0;
  gsize len = g_bytes_get_size (frame);

  if (!self->started || len == 0)
    {
      self->datagrams_dropped++;
      return;
    }

  /* The engine routes large frames to streams itself; this guards against
   * IP fragmentation (or EMSGSIZE) if it does not. */
  if (self->udp == NULL || len > self->max_datagram)
    {
      send_stream_internal (self, address, frame, FALSE, DEFAULT_STREAM_TIMEOUT_US, NULL, NULL);
      return;
    }

  targets = lookup_targets_now (self, address, &host, &port, &error);
  if (targets != NULL)
    {
      send_datagram_to (self, address, targets, frame);
    }
  else if (error != NULL)
    {
      self->datagrams_dropped++;
      g_debug ("datagram dropped: %s", error->message);
    }
  else
    {
      DatagramLookup *lookup = g_new0 (DatagramLookup, 1);

      g_weak_ref_init (&lookup->self, self);
      lookup->address = g_strdup (address);
      lookup->frame = g_bytes_ref (frame);
      start_lookup (self, host, self->cancellable, datagram_resolved_cb, lookup);
    }
}

static void
gossip_socket_transport_send_stream (GossipTransport           *transport,
                                     const char                *address,
                                     GBytes                    *frame,
                                     gboolean                   want_reply,
                                     gint64                     timeout_us,
                                     GossipTransportStreamFunc  func,
                                     gpointer                   user_data)
{
  send_stream_internal (GOSSIP_SOCKET_TRANSPORT (transport), address, frame, want_reply,
                        timeout_us, func, user_data);
}

static GSocket *
bind_socket (GInetSocketAddress  *address,
             GSocketType          type,
             const char          *what,
             GError             **error)
{
  g_autoptr(GSocket) socket = NULL;
  g_autoptr(GError) local_error = NULL;
  g_autofree char *text = format_socket_address (G_SOCKET_ADDRESS (address));
  GSocketFamily family = g_socket_address_get_family (G_SOCKET_ADDRESS (address));
  struct sockaddr_storage native;
  gssize native_len = g_socket_address_get_native_size (G_SOCKET_ADDRESS (address));

  socket = g_socket_new (family, type, G_SOCKET_PROTOCOL_DEFAULT, &local_error);
  if (socket == NULL)
    {
      g_set_error (error, G_IO_ERROR, local_error->code,
                   _("cannot bind the %s listener to %s: %s"), what, text, local_error->message);
      return NULL;
    }

  g_socket_set_blocking (socket, FALSE);
  /* Accept IPv4 peers on an IPv6 wildcard bind too. */
  if (family == G_SOCKET_FAMILY_IPV6)
    g_socket_set_option (socket, IPPROTO_IPV6, IPV6_V6ONLY, 0, NULL);
  /* SO_REUSEADDR lets TCP rebind over TIME_WAIT leftovers; it never lets
   * two listeners share a port on Linux. UDP gets nothing: SO_REUSEPORT
   * (which g_socket_bind() would add) would let two nodes share a port. */
  if (type == G_SOCKET_TYPE_STREAM)
    g_socket_set_option (socket, SOL_SOCKET, SO_REUSEADDR, 1, NULL);

  /* bind(2) directly rather than g_socket_bind(), to report the OS error
   * itself instead of GLib's message, which repeats the address. */
  if (native_len <= 0 || (gsize) native_len > sizeof native ||
      !g_socket_address_to_native (G_SOCKET_ADDRESS (address), &native, sizeof native, &local_error))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                   _("cannot bind the %s listener to %s: unsupported address"), what, text);
      g_socket_close (socket, NULL);
      return NULL;
    }
  if (bind (g_socket_get_fd (socket), (struct sockaddr *) &native, native_len) != 0)
    {
      int saved_errno = errno;

      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved_errno),
                   _("cannot bind the %s listener to %s: %s"), what, text, g_strerror (saved_errno));
      g_socket_close (socket, NULL);
      return NULL;
    }

  /* GLib's default backlog of 10 drops connects during a join storm. */
  if (type == G_SOCKET_TYPE_STREAM)
    g_socket_set_listen_backlog (socket, LISTEN_BACKLOG);
  if (type == G_SOCKET_TYPE_STREAM && !g_socket_listen (socket, &local_error))
    {
      g_set_error (error, G_IO_ERROR, local_error->code,
                   _("cannot listen on %s: %s"), text, local_error->message);
      g_socket_close (socket, NULL);
      return NULL;
    }

  return g_steal_pointer (&socket);
}

static GInetAddress *
resolve_bind_host (GossipSocketTransport  *self,
                   GError                **error)
{
  g_autoptr(GError) local_error = NULL;
  g_autoptr(GPtrArray) targets = NULL;
  GInetAddress *address;
  GList *addresses;

  if (self->bind_host == NULL)
    return g_inet_address_new_any (G_SOCKET_FAMILY_IPV4);

  address = g_inet_address_new_from_string (self->bind_host);
  if (address != NULL)
    return address;

  /* Starting is synchronous; a bind host name is resolved once, here. */
  addresses = g_resolver_lookup_by_name (self->resolver, self->bind_host, NULL, &local_error);
  if (addresses == NULL)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_HOST_NOT_FOUND,
                   _("cannot resolve the bind address “%s”: %s"), self->bind_host, local_error->message);
      return NULL;
    }

  targets = targets_from_addresses (addresses, 0, self->prefer_ipv6);
  g_resolver_free_addresses (addresses);
  return g_object_ref (g_inet_socket_address_get_address (g_ptr_array_index (targets, 0)));
}

static gboolean
gossip_socket_transport_start (GossipTransport  *transport,
                               GError          **error)
{
  GossipSocketTransport *self = GOSSIP_SOCKET_TRANSPORT (transport);
  g_autoptr(GInetAddress) host = NULL;
  g_autoptr(GSocket) tcp = NULL;
  g_autoptr(GSocket) udp = NULL;
  g_autoptr(GSocketAddress) local = NULL;

  if (self->started)
    return TRUE;

  host = resolve_bind_host (self, error);
  if (host == NULL)
    return FALSE;

  for (guint attempt = 1; ; attempt++)
    {
      g_autoptr(GInetSocketAddress) tcp_address = G_INET_SOCKET_ADDRESS (g_inet_socket_address_new (host, self->bind_port));
      g_autoptr(GInetSocketAddress) udp_address = NULL;
      g_autoptr(GError) udp_error = NULL;
      guint16 port;

      tcp = bind_socket (tcp_address, G_SOCKET_TYPE_STREAM, "TCP", error);
      if (tcp == NULL)
        return FALSE;

      g_clear_object (&local);
      local = g_socket_get_local_address (tcp, error);
      if (local == NULL)
        {
          socket_clear (&tcp);
          return FALSE;
        }
      if (self->reliable_only)
        break;

      port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (local));
      udp_address = G_INET_SOCKET_ADDRESS (g_inet_socket_address_new (host, port));
      udp = bind_socket (udp_address, G_SOCKET_TYPE_DATAGRAM, "UDP", &udp_error);
      if (udp != NULL)
        break;

      socket_clear (&tcp);
      /* With port 0 the kernel chose a TCP port whose UDP twin is taken:
       * pick another one. A fixed port has no second chance. */
      if (self->bind_port != 0 || attempt >= BIND_ATTEMPTS ||
          !g_error_matches (udp_error, G_IO_ERROR, G_IO_ERROR_ADDRESS_IN_USE))
        {
          g_propagate_error (error, g_steal_pointer (&udp_error));
          return FALSE;
        }
    }

  self->context = g_main_context_ref_thread_default ();
  self->cancellable = g_cancellable_new ();
  self->tcp = g_steal_pointer (&tcp);
  self->udp = g_steal_pointer (&udp);
  self->local_address = G_INET_SOCKET_ADDRESS (g_steal_pointer (&local));
  self->started = TRUE;

  watch_listener (self);
  if (self->udp != NULL)
    {
      self->udp_buffer = g_malloc (UDP_RECEIVE_BUFFER);
      self->udp_source = socket_source_attach (self->context, self->udp, G_IO_IN,
                                               "GossipSocketTransport UDP", udp_readable_cb, self);
    }

  return TRUE;
}

static void
gossip_socket_transport_stop (GossipTransport *transport)
{
  GossipSocketTransport *self = GOSSIP_SOCKET_TRANSPORT (transport);
  g_autoptr(GossipSocketTransport) hold = g_object_ref (self);
  GQueue outgoing = G_QUEUE_INIT;
  g_autoptr(GError) cancelled = NULL;
  OutExchange *ex;
  InConn *conn;

  if (self->started)
    {
      self->started = FALSE;
      g_cancellable_cancel (self->cancellable);
      g_clear_object (&self->cancellable);
      source_clear (&self->tcp_source);
      source_clear (&self->accept_backoff_source);
      source_clear (&self->udp_source);
      socket_clear (&self->tcp);
      socket_clear (&self->udp);
      g_clear_object (&self->local_address);
      g_clear_pointer (&self->udp_buffer, g_free);

      while ((conn = g_queue_peek_head (&self->incoming)) != NULL)
        in_conn_close (conn);

      g_hash_table_remove_all (self->resolve_cache);
      g_clear_pointer (&self->context, g_main_context_unref);
    }

  /* Completed synchronously, as documented on gossip_transport_stop(). The
   * queue is taken first: callbacks may start new exchanges, which then
   * fail with "not started" on their own. */
  outgoing = self->outgoing;
  g_queue_init (&self->outgoing);
  cancelled = g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CANCELLED, _("the transport was stopped"));
  while ((ex = g_queue_pop_head (&outgoing)) != NULL)
    {
      ex->link = NULL;
      exchange_complete (ex, NULL, cancelled);
    }
}

static char *
gossip_socket_transport_get_local_address (GossipTransport *transport)
{
  GossipSocketTransport *self = GOSSIP_SOCKET_TRANSPORT (transport);

  if (!self->started)
    return NULL;
  return format_socket_address (G_SOCKET_ADDRESS (self->local_address));
}

static gsize
gossip_socket_transport_get_max_datagram (GossipTransport *transport)
{
  return GOSSIP_SOCKET_TRANSPORT (transport)->max_datagram;
}

static void
gossip_socket_transport_dispose (GObject *object)
{
  gossip_socket_transport_stop (GOSSIP_TRANSPORT (object));

  G_OBJECT_CLASS (gossip_socket_transport_parent_class)->dispose (object);
}

static void
gossip_socket_transport_finalize (GObject *object)
{
  GossipSocketTransport *self = GOSSIP_SOCKET_TRANSPORT (object);

  g_free (self->bind_host);
  g_clear_object (&self->resolver);
  g_clear_pointer (&self->resolve_cache, g_hash_table_unref);

  G_OBJECT_CLASS (gossip_socket_transport_parent_class)->finalize (object);
}

static void
gossip_socket_transport_class_init (GossipSocketTransportClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = gossip_socket_transport_dispose;
  object_class->finalize = gossip_socket_transport_finalize;
}

static void
gossip_socket_transport_iface_init (GossipTransportInterface *iface)
{
  iface->start = gossip_socket_transport_start;
  iface->stop = gossip_socket_transport_stop;
  iface->get_local_address = gossip_socket_transport_get_local_address;
  iface->get_max_datagram = gossip_socket_transport_get_max_datagram;
  iface->send_datagram = gossip_socket_transport_send_datagram;
  iface->send_stream = gossip_socket_transport_send_stream;
}

static void
gossip_socket_transport_init (GossipSocketTransport *self)
{
  self->max_datagram = DEFAULT_MAX_DATAGRAM;
  self->resolver = g_resolver_get_default ();
  self->resolve_cache = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                               (GDestroyNotify) cache_entry_free);
  g_queue_init (&self->outgoing);
  g_queue_init (&self->incoming);
}

/**
 * gossip_socket_transport_new:
 * @bind_address: where to listen: "ip:port", "[ipv6]:port", "host:port"
 *   (resolved when starting) or ":port" (every IPv4 address); port 0 picks
 *   a free port shared by UDP and TCP
 * @prefer_ipv6: try IPv6 addresses of host names before IPv4 ones
 * @reliable_only: open no UDP socket; datagrams are sent over streams
 * @error: return location for a #GError
 *
 * Creates a transport speaking UDP and TCP on one port. Nothing is bound
 * until gossip_transport_start().
 *
 * Returns: (transfer full) (nullable): a new #GossipTransport, or %NULL with
 *   %G_IO_ERROR_INVALID_ARGUMENT if @bind_address is malformed
 */
GossipTransport *
gossip_socket_transport_new (const char  *bind_address,
                             gboolean     prefer_ipv6,
                             gboolean     reliable_only,
                             GError     **error)
{
  GossipSocketTransport *self;
  g_autofree char *host = NULL;
  guint16 port;

  g_return_val_if_fail (bind_address != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (!split_address (bind_address, &host, &port, error))
    return NULL;

  self = g_object_new (GOSSIP_TYPE_SOCKET_TRANSPORT, NULL);
  self->bind_host = g_steal_pointer (&host);
  self->bind_port = port;
  self->prefer_ipv6 = !!prefer_ipv6;
  self->reliable_only = !!reliable_only;

  return GOSSIP_TRANSPORT (self);
}

/**
 * gossip_socket_transport_set_max_datagram:
 * @self: a #GossipSocketTransport
 * @max_datagram: the largest frame sent as one UDP datagram, in bytes
 *   (clamped to 1..65507)
 *
 * Changes the datagram size limit (1400 by default, which fits a typical
 * path MTU without fragmentation). Larger datagrams are sent as one-way
 * streams.
 *
 * Thread: the transport's thread.
 */
void
gossip_socket_transport_set_max_datagram (GossipSocketTransport *self,
                                          gsize                  max_datagram)
{
  g_return_if_fail (GOSSIP_IS_SOCKET_TRANSPORT (self));

  self->max_datagram = CLAMP (max_datagram, 1, MAX_UDP_PAYLOAD);
}

/**
 * gossip_socket_transport_get_datagrams_dropped:
 * @self: a #GossipSocketTransport
 *
 * Counts datagrams that could not be sent: the transport was stopped, the
 * address was malformed or did not resolve, or the kernel refused them.
 *
 * Thread: the transport's thread.
 *
 * Returns: the number of datagrams dropped on sending since creation
 */
guint64
gossip_socket_transport_get_datagrams_dropped (GossipSocketTransport *self)
{
  g_return_val_if_fail (GOSSIP_IS_SOCKET_TRANSPORT (self), 0);

  return self->datagrams_dropped;
}
