/* gossip-socket-transport.c — UDP + TCP on one port (GSocket): the object,
 * binding, address resolution and datagrams. The TCP streams are in
 * gossip-socket-stream.c.
 *
 * SPDX-License-Identifier: MIT
 */
#include "config.h"

#include <errno.h>
#include <glib/gi18n-lib.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "gossip-socket-transport-private.h"

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
#define RESOLVE_CACHE_TTL_US       (10 * G_USEC_PER_SEC)
#define RESOLVE_CACHE_MAX          4096
#define LISTEN_BACKLOG             128
/* With port 0, how often to retry when UDP cannot get the port TCP got. */
#define BIND_ATTEMPTS              20

static void gossip_socket_transport_iface_init (GossipTransportInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (GossipSocketTransport, gossip_socket_transport, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (GOSSIP_TYPE_TRANSPORT,
                                                      gossip_socket_transport_iface_init))

/* ---------------------------------------------------------------------------
 * Small helpers
 * ------------------------------------------------------------------------- */

GSource *
_gossip_socket_source_attach (GMainContext     *context,
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

void
_gossip_socket_clear (GSocket **socket)
{
  if (*socket != NULL)
    {
      /* Errors on close only matter for the fd, which is gone either way. */
      g_socket_close (*socket, NULL);
      g_clear_object (socket);
    }
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

char *
_gossip_socket_format_address (GSocketAddress *address)
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
gboolean
_gossip_socket_split_address (const char  *address,
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
GPtrArray *
_gossip_socket_targets_from_addresses (GList    *addresses,
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

void
_gossip_socket_cache_store (GossipSocketTransport *self,
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
GPtrArray *
_gossip_socket_lookup_targets_now (GossipSocketTransport  *self,
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

  if (!_gossip_socket_split_address (address, &host, &port, error))
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

typedef struct {
  GWeakRef            self;
  GAsyncReadyCallback callback;
  gpointer            data;
} LookupWrap;

static void
lookup_done_cb (GObject      *source,
                GAsyncResult *result,
                gpointer      data)
{
  LookupWrap *wrap = data;
  g_autoptr(GossipSocketTransport) self = g_weak_ref_get (&wrap->self);

  if (self != NULL && self->pending_lookups > 0)
    self->pending_lookups--;
  wrap->callback (source, result, wrap->data);
  g_weak_ref_clear (&wrap->self);
  g_free (wrap);
}

gboolean
_gossip_socket_start_lookup (GossipSocketTransport *self,
                             const char            *host,
                             GCancellable          *cancellable,
                             GAsyncReadyCallback    callback,
                             gpointer               data)
{
  LookupWrap *wrap;

  /* Names to resolve come from members' addresses, but a flood of them
   * (or a slow resolver) must not pile up lookups without end. */
  if (self->pending_lookups >= self->limits.max_lookups)
    {
      self->lookups_refused++;
      return FALSE;
    }
  self->pending_lookups++;
  wrap = g_new0 (LookupWrap, 1);
  g_weak_ref_init (&wrap->self, self);
  wrap->callback = callback;
  wrap->data = data;
  /* GResolver completes on the thread-default context of the caller. */
  g_main_context_push_thread_default (self->context);
  g_resolver_lookup_by_name_with_flags_async (self->resolver, host,
                                              G_RESOLVER_NAME_LOOKUP_FLAGS_DEFAULT,
                                              cancellable, lookup_done_cb, wrap);
  g_main_context_pop_thread_default (self->context);
  return TRUE;
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
      from = _gossip_socket_format_address (from_address);
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

          _gossip_socket_split_address (lookup->address, NULL, &port, NULL);
          targets = _gossip_socket_targets_from_addresses (addresses, port, self->prefer_ipv6);
          _gossip_socket_cache_store (self, lookup->address, targets);
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
      _gossip_socket_send_stream (self, address, frame, FALSE, DEFAULT_STREAM_TIMEOUT_US, NULL, NULL);
      return;
    }

  targets = _gossip_socket_lookup_targets_now (self, address, &host, &port, &error);
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
      if (!_gossip_socket_start_lookup (self, host, self->cancellable, datagram_resolved_cb, lookup))
        {
          self->datagrams_dropped++;
          g_debug ("datagram to %s dropped: too many DNS lookups in flight", address);
          datagram_lookup_free (lookup);
        }
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
  _gossip_socket_send_stream (GOSSIP_SOCKET_TRANSPORT (transport), address, frame, want_reply,
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
  g_autofree char *text = _gossip_socket_format_address (G_SOCKET_ADDRESS (address));
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

  targets = _gossip_socket_targets_from_addresses (addresses, 0, self->prefer_ipv6);
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
          _gossip_socket_clear (&tcp);
          return FALSE;
        }
      if (self->reliable_only)
        break;

      port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (local));
      udp_address = G_INET_SOCKET_ADDRESS (g_inet_socket_address_new (host, port));
      udp = bind_socket (udp_address, G_SOCKET_TYPE_DATAGRAM, "UDP", &udp_error);
      if (udp != NULL)
        break;

      _gossip_socket_clear (&tcp);
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

  _gossip_socket_watch_listener (self);
  if (self->udp != NULL)
    {
      self->udp_buffer = g_malloc (UDP_RECEIVE_BUFFER);
      self->udp_source = _gossip_socket_source_attach (self->context, self->udp, G_IO_IN,
                                                       "GossipSocketTransport UDP", udp_readable_cb, self);
    }

  return TRUE;
}

static void
gossip_socket_transport_stop (GossipTransport *transport)
{
  GossipSocketTransport *self = GOSSIP_SOCKET_TRANSPORT (transport);
  g_autoptr(GossipSocketTransport) hold = g_object_ref (self);

  if (self->started)
    {
      self->started = FALSE;
      g_cancellable_cancel (self->cancellable);
      g_clear_object (&self->cancellable);
      _gossip_transport_source_clear (&self->tcp_source);
      _gossip_transport_source_clear (&self->accept_backoff_source);
      _gossip_transport_source_clear (&self->udp_source);
      _gossip_socket_clear (&self->tcp);
      _gossip_socket_clear (&self->udp);
      g_clear_object (&self->local_address);
      g_clear_pointer (&self->udp_buffer, g_free);

      _gossip_socket_close_incoming (self);

      g_hash_table_remove_all (self->resolve_cache);
      g_clear_pointer (&self->context, g_main_context_unref);
    }

  /* Completed synchronously, as documented on gossip_transport_stop(). */
  _gossip_socket_cancel_outgoing (self);
}

static char *
gossip_socket_transport_get_local_address (GossipTransport *transport)
{
  GossipSocketTransport *self = GOSSIP_SOCKET_TRANSPORT (transport);

  if (!self->started)
    return NULL;
  return _gossip_socket_format_address (G_SOCKET_ADDRESS (self->local_address));
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
  self->limits = (GossipTransportLimits) GOSSIP_TRANSPORT_LIMITS_DEFAULT;
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

  if (!_gossip_socket_split_address (bind_address, &host, &port, error))
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
