/* gossip-socket-transport-private.h — GossipSocketTransport's instance
 * structure and the helpers shared by gossip-socket-transport.c (the
 * object, binding, resolution, datagrams) and gossip-socket-stream.c (the
 * TCP streams).
 *
 * SPDX-License-Identifier: MIT
 */
#pragma once

#include <gio/gio.h>

#include "gossip-socket-transport.h"
#include "gossip-transport-private.h"

G_BEGIN_DECLS

/* For send_stream() without a positive timeout, and for oversized
 * datagrams rerouted to a stream. */
#define DEFAULT_STREAM_TIMEOUT_US  (10 * G_USEC_PER_SEC)

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

  GossipTransportLimits limits;
  guint               pending_lookups;
  guint64             streams_refused;
  guint64             lookups_refused;
};

/* gossip-socket-transport.c */

GSource   *_gossip_socket_source_attach          (GMainContext           *context,
                                                  GSocket                *socket,
                                                  GIOCondition            condition,
                                                  const char             *static_name,
                                                  GSocketSourceFunc       func,
                                                  gpointer                data);
void       _gossip_socket_clear                  (GSocket               **socket);
char      *_gossip_socket_format_address         (GSocketAddress         *address);
gboolean   _gossip_socket_split_address          (const char             *address,
                                                  char                  **host_out,
                                                  guint16                *port_out,
                                                  GError                **error);
GPtrArray *_gossip_socket_targets_from_addresses (GList                  *addresses,
                                                  guint16                 port,
                                                  gboolean                prefer_ipv6);
void       _gossip_socket_cache_store            (GossipSocketTransport  *self,
                                                  const char             *address,
                                                  GPtrArray              *targets);
GPtrArray *_gossip_socket_lookup_targets_now     (GossipSocketTransport  *self,
                                                  const char             *address,
                                                  char                  **host_out,
                                                  guint16                *port_out,
                                                  GError                **error);
/* FALSE (and counted) when max_lookups are in flight: @callback is not
 * called then. */
gboolean   _gossip_socket_start_lookup           (GossipSocketTransport  *self,
                                                  const char             *host,
                                                  GCancellable           *cancellable,
                                                  GAsyncReadyCallback     callback,
                                                  gpointer                data);

/* gossip-socket-stream.c */

void       _gossip_socket_send_stream            (GossipSocketTransport     *self,
                                                  const char                *address,
                                                  GBytes                    *frame,
                                                  gboolean                   want_reply,
                                                  gint64                     timeout_us,
                                                  GossipTransportStreamFunc  func,
                                                  gpointer                   user_data);
void       _gossip_socket_watch_listener         (GossipSocketTransport     *self);
void       _gossip_socket_close_incoming         (GossipSocketTransport     *self);
void       _gossip_socket_cancel_outgoing        (GossipSocketTransport     *self);

G_END_DECLS
