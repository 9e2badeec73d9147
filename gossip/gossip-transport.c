/* gossip-transport.c — the transport interface used by the engine.
 *
 * SPDX-License-Identifier: MIT
 */
#include "config.h"

#include "gossip-transport.h"

/**
 * GossipTransport:
 *
 * Moves opaque frames between addresses; see #GossipTransportInterface.
 */

/**
 * SECTION:gossip-transport
 * @title: GossipTransport
 * @short_description: moves opaque frames between addresses
 *
 * The engine talks to the network only through this interface.
 * #GossipSocketTransport speaks UDP and TCP on one port;
 * #GossipMemoryTransport simulates a network on virtual time.
 *
 * Implementations hand every received frame to
 * gossip_transport_deliver(), which calls the function installed with
 * gossip_transport_set_receive_func(). That function is stored per instance
 * here, so implementations need no code for it.
 */

G_DEFINE_INTERFACE (GossipTransport, gossip_transport, G_TYPE_OBJECT)

static void
gossip_transport_default_init (GossipTransportInterface *iface)
{
}

/* ---------------------------------------------------------------------------
 * Receive function storage
 * ------------------------------------------------------------------------- */

/* Reference counted so that a receive function replaced (or removed) from
 * inside its own invocation stays valid until that invocation returns. */
typedef struct
{
  GossipTransportReceiveFunc func;
  gpointer                   user_data;
  GDestroyNotify             notify;
} ReceiveHandler;

static void
receive_handler_clear (ReceiveHandler *handler)
{
  if (handler->notify != NULL)
    handler->notify (handler->user_data);
}

static void
receive_handler_unref (ReceiveHandler *handler)
{
  g_rc_box_release_full (handler, (GDestroyNotify) receive_handler_clear);
}

static GQuark
receive_handler_quark (void)
{
  static GQuark quark;

  if (G_UNLIKELY (quark == 0))
    quark = g_quark_from_static_string ("gossip-transport-receive-handler");
  return quark;
}

/**
 * gossip_transport_set_receive_func:
 * @transport: a #GossipTransport
 * @func: (nullable): called for every received frame; %NULL drops frames
 * @user_data: data passed to @func
 * @notify: (nullable): frees @user_data when the function is replaced or
 *   the transport finalized
 *
 * Installs the function that receives frames, replacing the previous one.
 * It may be changed at any time from the transport's thread, including from
 * inside the receive function itself.
 *
 * Thread: the transport's thread.
 */
void
gossip_transport_set_receive_func (GossipTransport            *transport,
                                   GossipTransportReceiveFunc  func,
                                   gpointer                    user_data,
                                   GDestroyNotify              notify)
{
  ReceiveHandler *handler = NULL;

  g_return_if_fail (GOSSIP_IS_TRANSPORT (transport));

  if (func != NULL)
    {
      handler = g_rc_box_new0 (ReceiveHandler);
      handler->func = func;
      handler->user_data = user_data;
      handler->notify = notify;
    }
  else if (notify != NULL)
    {
      /* Nothing will ever use @user_data: release it at once. */
      notify (user_data);
    }

  g_object_set_qdata_full (G_OBJECT (transport), receive_handler_quark (),
                           handler, (GDestroyNotify) receive_handler_unref);
}

/**
 * gossip_transport_deliver:
 * @transport: a #GossipTransport
 * @frame: the received frame
 * @reliable: %TRUE if it came over a stream
 * @from: the peer's address, informational
 * @reply: (nullable): handle to answer with, when the peer waits for a reply
 *
 * For implementations: passes a received frame to the receive function. The
 * receive function takes its own reference on @reply if it answers later;
 * the caller keeps (and eventually drops) its own reference, so an ignored
 * @reply closes the exchange with "no reply". Without a receive function
 * the frame is dropped.
 *
 * Thread: the transport's thread.
 */
void
gossip_transport_deliver (GossipTransport      *transport,
                          GBytes               *frame,
                          gboolean              reliable,
                          const char           *from,
                          GossipTransportReply *reply)
{
  ReceiveHandler *handler;

  g_return_if_fail (GOSSIP_IS_TRANSPORT (transport));
  g_return_if_fail (frame != NULL);

  handler = g_object_get_qdata (G_OBJECT (transport), receive_handler_quark ());
  if (handler == NULL)
    return;

  g_rc_box_acquire (handler);
  handler->func (transport, frame, reliable, from, reply, handler->user_data);
  receive_handler_unref (handler);
}

/* ---------------------------------------------------------------------------
 * Interface wrappers
 * ------------------------------------------------------------------------- */

/**
 * gossip_transport_start:
 * @transport: a #GossipTransport
 * @error: return location for a #GError
 *
 * Binds the listeners. With port 0 one port is picked for every listener
 * (UDP and TCP share it). The #GMainContext that is thread-default now
 * becomes the transport's context: all I/O and callbacks happen there.
 * Starting a started transport does nothing and succeeds.
 *
 * Returns: %TRUE on success; on failure nothing stays bound and @error is
 *   set (%G_IO_ERROR, naming the address)
 */
gboolean
gossip_transport_start (GossipTransport  *transport,
                        GError          **error)
{
  GossipTransportInterface *iface;

  g_return_val_if_fail (GOSSIP_IS_TRANSPORT (transport), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  iface = GOSSIP_TRANSPORT_GET_IFACE (transport);
  g_return_val_if_fail (iface->start != NULL, FALSE);

  return iface->start (transport, error);
}

/**
 * gossip_transport_stop:
 * @transport: a #GossipTransport
 *
 * Closes every listener and connection. Pending gossip_transport_send_stream()
 * exchanges complete with %G_IO_ERROR_CANCELLED synchronously, before this
 * function returns. Stopping a stopped transport does nothing. A stopped
 * transport may be started again.
 *
 * Thread: the transport's thread.
 */
void
gossip_transport_stop (GossipTransport *transport)
{
  GossipTransportInterface *iface;

  g_return_if_fail (GOSSIP_IS_TRANSPORT (transport));

  iface = GOSSIP_TRANSPORT_GET_IFACE (transport);
  g_return_if_fail (iface->stop != NULL);

  iface->stop (transport);
}

/**
 * gossip_transport_get_local_address:
 * @transport: a #GossipTransport
 *
 * Gets the address the transport is bound to.
 *
 * Returns: (transfer full) (nullable): the bound address as "host:port"
 *   ("[addr]:port" for IPv6) or a URL, or %NULL when not started
 */
char *
gossip_transport_get_local_address (GossipTransport *transport)
{
  GossipTransportInterface *iface;

  g_return_val_if_fail (GOSSIP_IS_TRANSPORT (transport), NULL);

  iface = GOSSIP_TRANSPORT_GET_IFACE (transport);
  g_return_val_if_fail (iface->get_local_address != NULL, NULL);

  return iface->get_local_address (transport);
}

/**
 * gossip_transport_get_max_datagram:
 * @transport: a #GossipTransport
 *
 * Gets the largest frame the transport sends as a datagram.
 *
 * Returns: the largest frame, in bytes, that is sent as one datagram; larger
 *   frames must go through gossip_transport_send_stream()
 */
gsize
gossip_transport_get_max_datagram (GossipTransport *transport)
{
  GossipTransportInterface *iface;

  g_return_val_if_fail (GOSSIP_IS_TRANSPORT (transport), 0);

  iface = GOSSIP_TRANSPORT_GET_IFACE (transport);
  g_return_val_if_fail (iface->get_max_datagram != NULL, 0);

  return iface->get_max_datagram (transport);
}

/**
 * gossip_transport_send_datagram:
 * @transport: a #GossipTransport
 * @address: the destination address
 * @frame: the frame to send
 *
 * Sends @frame best-effort. Failures are counted and otherwise ignored.
 *
 * Thread: the transport's thread.
 */
void
gossip_transport_send_datagram (GossipTransport *transport,
                                const char      *address,
                                GBytes          *frame)
{
  GossipTransportInterface *iface;

  g_return_if_fail (GOSSIP_IS_TRANSPORT (transport));
  g_return_if_fail (address != NULL);
  g_return_if_fail (frame != NULL);

  iface = GOSSIP_TRANSPORT_GET_IFACE (transport);
  g_return_if_fail (iface->send_datagram != NULL);

  iface->send_datagram (transport, address, frame);
}

/**
 * gossip_transport_send_stream:
 * @transport: a #GossipTransport
 * @address: the destination address
 * @frame: the frame to send
 * @want_reply: whether to wait for one reply frame
 * @timeout_us: deadline for the whole exchange (connect, write and reply)
 * @func: (nullable) (scope async): called exactly once with the outcome
 * @user_data: data passed to @func
 *
 * Delivers @frame reliably. @func runs on the transport's thread, never from
 * inside this function, with the reply (when @want_reply) or an error:
 * %G_IO_ERROR_TIMED_OUT, %G_IO_ERROR_CONNECTION_REFUSED,
 * %G_IO_ERROR_CONNECTION_CLOSED ("no reply"), %G_IO_ERROR_CANCELLED (the
 * transport was stopped) and others for resolution and I/O failures.
 * %G_IO_ERROR_CONNECTION_REFUSED must mean that the destination's host
 * answered that nothing listens at @address: the failure detector takes it
 * as proof that the member there is gone and suspects it at once. Silence
 * (a lost connection attempt) is %G_IO_ERROR_TIMED_OUT.
 *
 * Thread: the transport's thread.
 */
void
gossip_transport_send_stream (GossipTransport           *transport,
                              const char                *address,
                              GBytes                    *frame,
                              gboolean                   want_reply,
                              gint64                     timeout_us,
                              GossipTransportStreamFunc  func,
                              gpointer                   user_data)
{
  GossipTransportInterface *iface;

  g_return_if_fail (GOSSIP_IS_TRANSPORT (transport));
  g_return_if_fail (address != NULL);
  g_return_if_fail (frame != NULL);

  iface = GOSSIP_TRANSPORT_GET_IFACE (transport);
  g_return_if_fail (iface->send_stream != NULL);

  iface->send_stream (transport, address, frame, want_reply, timeout_us, func, user_data);
}

/* ---------------------------------------------------------------------------
 * GossipTransportReply
 * ------------------------------------------------------------------------- */

struct _GossipTransportReply
{
  gatomicrefcount          ref_count;
  gint                     sent;        /* atomic: 0 until send_func ran */
  GossipTransportReplyFunc send_func;
  gpointer                 user_data;
  GDestroyNotify           notify;
};

G_DEFINE_BOXED_TYPE (GossipTransportReply, gossip_transport_reply,
                     gossip_transport_reply_ref, gossip_transport_reply_unref)

/**
 * gossip_transport_reply_new: (skip)
 * @send_func: called exactly once: with the reply frame, or with %NULL when
 *   the exchange ends without a reply
 * @user_data: data passed to @send_func
 * @notify: (nullable): frees @user_data after @send_func ran
 *
 * For implementations. @send_func may run on any thread (the one that
 * replies, or the one that drops the last reference) and must marshal to
 * the transport's thread itself.
 *
 * Returns: (transfer full): a reply handle with one reference
 */
GossipTransportReply *
gossip_transport_reply_new (GossipTransportReplyFunc send_func,
                            gpointer                 user_data,
                            GDestroyNotify           notify)
{
  GossipTransportReply *reply;

  g_return_val_if_fail (send_func != NULL, NULL);

  reply = g_new0 (GossipTransportReply, 1);
  g_atomic_ref_count_init (&reply->ref_count);
  reply->send_func = send_func;
  reply->user_data = user_data;
  reply->notify = notify;

  return reply;
}

/**
 * gossip_transport_reply_ref:
 * @reply: a #GossipTransportReply
 *
 * Thread: any.
 *
 * Returns: (transfer full): @reply
 */
GossipTransportReply *
gossip_transport_reply_ref (GossipTransportReply *reply)
{
  g_return_val_if_fail (reply != NULL, NULL);

  g_atomic_ref_count_inc (&reply->ref_count);
  return reply;
}

/* TRUE for exactly one caller over the handle's life. */
static gboolean
reply_claim (GossipTransportReply *reply)
{
  return g_atomic_int_compare_and_exchange (&reply->sent, 0, 1);
}

/**
 * gossip_transport_reply_unref:
 * @reply: (transfer full): a #GossipTransportReply
 *
 * Drops a reference. Dropping the last one without having replied ends the
 * exchange: the requester sees "no reply" (%G_IO_ERROR_CONNECTION_CLOSED).
 *
 * Thread: any.
 */
void
gossip_transport_reply_unref (GossipTransportReply *reply)
{
  g_return_if_fail (reply != NULL);

  if (!g_atomic_ref_count_dec (&reply->ref_count))
    return;

  if (reply_claim (reply))
    reply->send_func (NULL, reply->user_data);
  if (reply->notify != NULL)
    reply->notify (reply->user_data);
  g_free (reply);
}

/**
 * gossip_transport_reply_send:
 * @reply: a #GossipTransportReply
 * @frame: (nullable): the reply frame; %NULL or an empty frame declines to
 *   answer (the requester sees "no reply" at once)
 *
 * Answers the exchange. Only the first call counts; replying twice is a
 * programmer error and is reported with a critical warning.
 *
 * Thread: any; the frame is written on the transport's thread.
 */
void
gossip_transport_reply_send (GossipTransportReply *reply,
                             GBytes               *frame)
{
  g_return_if_fail (reply != NULL);

  if (!reply_claim (reply))
    {
      g_critical ("%s: the reply was already sent", G_STRFUNC);
      return;
    }

  if (frame != NULL && g_bytes_get_size (frame) == 0)
    frame = NULL;
  reply->send_func (frame, reply->user_data);
}
