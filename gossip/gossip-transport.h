/* gossip-transport.h — the transport interface used by the engine.
 *
 * SPDX-License-Identifier: MIT
 */
#pragma once

#if !defined(__GOSSIP_H_INSIDE__) && !defined(GOSSIP_COMPILATION)
#error "Only <gossip/gossip.h> can be included directly."
#endif

#include <gio/gio.h>

G_BEGIN_DECLS

#define GOSSIP_TYPE_TRANSPORT (gossip_transport_get_type ())
G_DECLARE_INTERFACE (GossipTransport, gossip_transport, GOSSIP, TRANSPORT, GObject)

/**
 * GossipTransportReply:
 *
 * Handle to answer one incoming stream frame that expects a reply. Send at
 * most one reply with gossip_transport_reply_send(); dropping the last
 * reference without replying closes the exchange, and the requester sees
 * "no reply". May be used from any thread; the reply is written on the
 * transport's thread.
 */
typedef struct _GossipTransportReply GossipTransportReply;

#define GOSSIP_TYPE_TRANSPORT_REPLY (gossip_transport_reply_get_type ())
GType                 gossip_transport_reply_get_type (void) G_GNUC_CONST;
GossipTransportReply *gossip_transport_reply_ref      (GossipTransportReply *reply);
void                  gossip_transport_reply_unref    (GossipTransportReply *reply);
void                  gossip_transport_reply_send     (GossipTransportReply *reply, GBytes *frame);

/**
 * GossipTransportReplyFunc:
 * @frame_or_null: (nullable): the reply frame, or %NULL when the last
 *   reference to the #GossipTransportReply was dropped unanswered
 * @user_data: data given to gossip_transport_reply_new()
 *
 * For transport implementations: sends the reply of one exchange. Called at
 * most once, on any thread; the implementation must marshal to its own
 * thread.
 */
typedef void (*GossipTransportReplyFunc) (GBytes *frame_or_null, gpointer user_data);
GossipTransportReply *gossip_transport_reply_new (GossipTransportReplyFunc send_func, gpointer user_data, GDestroyNotify notify);

/**
 * GossipTransportReceiveFunc:
 * @transport: the transport
 * @frame: the received frame, as sent by the peer
 * @reliable: %TRUE if it came over a stream (TCP/HTTP), %FALSE for a datagram
 * @from: the peer's transport address (informational; never used to route replies)
 * @reply: (nullable): non-%NULL when the sender waits for a reply
 * @user_data: data given to gossip_transport_set_receive_func()
 *
 * Called on the transport's thread for every frame received.
 */
typedef void (*GossipTransportReceiveFunc) (GossipTransport      *transport,
                                            GBytes               *frame,
                                            gboolean              reliable,
                                            const char           *from,
                                            GossipTransportReply *reply,
                                            gpointer              user_data);

/**
 * GossipTransportStreamFunc:
 * @reply: (nullable): the reply frame when one was requested and arrived
 * @error: (nullable): why the exchange failed (timeout, refused, no reply, cancelled)
 * @user_data: data given to gossip_transport_send_stream()
 *
 * Completion of gossip_transport_send_stream(), called exactly once on the
 * transport's thread, never from inside gossip_transport_send_stream() itself.
 */
typedef void (*GossipTransportStreamFunc) (GBytes       *reply,
                                           const GError *error,
                                           gpointer      user_data);

/**
 * GossipTransportInterface:
 * @parent_iface: the parent interface
 * @start: bind listeners; with port 0 pick one port for every listener
 * @stop: close listeners; pending stream exchanges complete with %G_IO_ERROR_CANCELLED
 * @get_local_address: the bound address as "host:port" (IPv6 as "[addr]:port"), or a URL
 * @get_max_datagram: largest frame sent as a datagram; larger frames must use a stream
 * @send_datagram: best-effort, fire and forget
 * @send_stream: reliable delivery of one frame, optionally waiting for one reply frame
 *
 * A transport moves opaque frames between addresses. It knows nothing of the
 * frames' content (encryption and compression happen above it). All methods
 * are called, and all callbacks run, on the thread of the #GMainContext that
 * was thread-default when start() was called (or on the virtual clock's
 * thread for in-memory transports).
 */
struct _GossipTransportInterface
{
  GTypeInterface parent_iface;

  gboolean (*start)             (GossipTransport *transport, GError **error);
  void     (*stop)              (GossipTransport *transport);
  char    *(*get_local_address) (GossipTransport *transport);
  gsize    (*get_max_datagram)  (GossipTransport *transport);
  void     (*send_datagram)     (GossipTransport *transport, const char *address, GBytes *frame);
  void     (*send_stream)       (GossipTransport *transport, const char *address, GBytes *frame,
                                 gboolean want_reply, gint64 timeout_us,
                                 GossipTransportStreamFunc func, gpointer user_data);
};

gboolean gossip_transport_start             (GossipTransport *transport, GError **error);
void     gossip_transport_stop              (GossipTransport *transport);
char    *gossip_transport_get_local_address (GossipTransport *transport);
gsize    gossip_transport_get_max_datagram  (GossipTransport *transport);
void     gossip_transport_send_datagram     (GossipTransport *transport, const char *address, GBytes *frame);
void     gossip_transport_send_stream       (GossipTransport *transport, const char *address, GBytes *frame,
                                             gboolean want_reply, gint64 timeout_us,
                                             GossipTransportStreamFunc func, gpointer user_data);

void     gossip_transport_set_receive_func  (GossipTransport *transport, GossipTransportReceiveFunc func,
                                             gpointer user_data, GDestroyNotify notify);
void     gossip_transport_deliver           (GossipTransport *transport, GBytes *frame, gboolean reliable,
                                             const char *from, GossipTransportReply *reply);

G_END_DECLS
