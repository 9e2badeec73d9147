/* gossip-message.c — a received user message, possibly awaiting a reply.
 *
 * SPDX-License-Identifier: MIT
 */
#include "config.h"

#include "gossip-message.h"
#include "gossip-error.h"
#include "gossip-payload-private.h"
#include "gossip-private.h"

/**
 * SECTION:gossip-message
 * @title: GossipMessage
 * @short_description: a received user message, possibly awaiting a reply
 *
 * Handlers registered with gossip_cluster_handle() receive each user
 * message as a #GossipMessage: its type, the node that sent it and its
 * #GVariant payload. A request made with gossip_cluster_send_request() is
 * answered with gossip_message_reply() or gossip_message_reply_error().
 */

/**
 * GossipMessage:
 *
 * A user message as handed to a handler: its type, a snapshot of the
 * original sender and the decoded payload. When the sender waits for a reply
 * (gossip_cluster_send_request()), exactly one reply can be given with
 * gossip_message_reply() or gossip_message_reply_error(), from any thread,
 * before gossip_message_get_deadline(). If the last reference is dropped
 * without a reply, the requester gets a "no reply" error at once, so a
 * handler that fails never leaves its requester hanging.
 */
struct _GossipMessage
{
  GObject          parent_instance;
  guint16          type;
  GossipNode      *sender;
  GVariant        *payload;
  gint64           deadline;
  GossipReplyFunc  reply_func;
  gpointer         reply_data;
  GDestroyNotify   reply_notify;
  gint             replied;           /* atomic */
};

G_DEFINE_FINAL_TYPE (GossipMessage, gossip_message, G_TYPE_OBJECT)

static void
gossip_message_finalize (GObject *object)
{
  GossipMessage *self = GOSSIP_MESSAGE (object);

  if (self->reply_func != NULL && g_atomic_int_compare_and_exchange (&self->replied, 0, 1))
    self->reply_func (self, NULL, "no reply", self->reply_data);
  if (self->reply_notify)
    self->reply_notify (self->reply_data);
  g_clear_pointer (&self->sender, gossip_node_unref);
  g_clear_pointer (&self->payload, g_variant_unref);

  G_OBJECT_CLASS (gossip_message_parent_class)->finalize (object);
}

static void
gossip_message_class_init (GossipMessageClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = gossip_message_finalize;
}

static void
gossip_message_init (GossipMessage *self)
{
}

GossipMessage *
_gossip_message_new (guint16          type,
                     GossipNode      *sender,
                     GVariant        *payload,
                     gint64           deadline,
                     GossipReplyFunc  reply_func,
                     gpointer         reply_data,
                     GDestroyNotify   reply_notify)
{
  GossipMessage *self = g_object_new (GOSSIP_TYPE_MESSAGE, NULL);

  self->type = type;
  self->sender = gossip_node_ref (sender);
  self->payload = g_variant_ref_sink (payload);
  self->deadline = deadline;
  self->reply_func = reply_func;
  self->reply_data = reply_data;
  self->reply_notify = reply_notify;

  return self;
}

/**
 * gossip_message_get_message_type:
 * @message: a #GossipMessage
 *
 * Gets the message type.
 *
 * Returns: the message type (128..65535 for user messages).
 */
guint16
gossip_message_get_message_type (GossipMessage *message)
{
  g_return_val_if_fail (GOSSIP_IS_MESSAGE (message), 0);
  return message->type;
}

/**
 * gossip_message_get_sender:
 * @message: a #GossipMessage
 *
 * Gets the node that sent the message.
 *
 * Returns: (transfer none): a snapshot of the node that originally sent the
 *   message (not the relay it arrived from).
 */
GossipNode *
gossip_message_get_sender (GossipMessage *message)
{
  g_return_val_if_fail (GOSSIP_IS_MESSAGE (message), NULL);
  return message->sender;
}

/**
 * gossip_message_get_payload:
 * @message: a #GossipMessage
 *
 * Gets the payload of the message.
 *
 * Returns: (transfer none): the payload, a #GVariant of the payload types
 *   ("()" for None, "b", "x", "d", "s", "ay", "av", "a{sv}").
 */
GVariant *
gossip_message_get_payload (GossipMessage *message)
{
  g_return_val_if_fail (GOSSIP_IS_MESSAGE (message), NULL);
  return message->payload;
}

/**
 * gossip_message_expects_reply:
 * @message: a #GossipMessage
 *
 * Tells whether the message is a request still waiting for its reply.
 *
 * Returns: whether the sender waits for a reply that has not been given yet.
 */
gboolean
gossip_message_expects_reply (GossipMessage *message)
{
  g_return_val_if_fail (GOSSIP_IS_MESSAGE (message), FALSE);
  return message->reply_func != NULL && g_atomic_int_get (&message->replied) == 0;
}

/**
 * gossip_message_get_deadline:
 * @message: a #GossipMessage
 *
 * Gets the deadline of the reply.
 *
 * Returns: the monotonic time (g_get_monotonic_time() scale, or the cluster's
 *   clock) after which a reply is useless; 0 when no reply is expected.
 */
gint64
gossip_message_get_deadline (GossipMessage *message)
{
  g_return_val_if_fail (GOSSIP_IS_MESSAGE (message), 0);
  return message->deadline;
}

/**
 * gossip_message_reply:
 * @message: a #GossipMessage that expects a reply
 * @payload: (nullable): the reply payload; %NULL or "()" means None
 * @error: return location for a #GError
 *
 * Sends the reply. Thread-safe. Fails with
 * %GOSSIP_CLUSTER_ERROR_INVALID_TYPE for a payload of unsupported types and
 * %GOSSIP_CLUSTER_ERROR_PAYLOAD_TOO_LARGE when it is too large; in both cases
 * the requester is told that the handler failed. Replying twice, or to a
 * message that expects no reply, is a no-op returning %TRUE.
 *
 * Returns: %TRUE on success
 */
gboolean
gossip_message_reply (GossipMessage *message,
                      GVariant      *payload,
                      GError       **error)
{
  g_autoptr(GVariant) owned = NULL;
  g_autoptr(GBytes) bytes = NULL;
  g_autoptr(GError) local_error = NULL;

  g_return_val_if_fail (GOSSIP_IS_MESSAGE (message), FALSE);

  /* Floating payloads are consumed whatever happens. */
  owned = g_variant_ref_sink (payload ? payload : g_variant_new_tuple (NULL, 0));
  payload = owned;

  if (message->reply_func == NULL)
    return TRUE;

  bytes = gossip_payload_encode (payload, GOSSIP_MAX_PAYLOAD_SIZE, &local_error);
  if (!g_atomic_int_compare_and_exchange (&message->replied, 0, 1))
    return TRUE;

  if (bytes == NULL)
    {
      g_autofree char *reason = g_strdup_printf ("invalid reply: %s", local_error->message);
      message->reply_func (message, NULL, reason, message->reply_data);
      g_propagate_error (error, g_steal_pointer (&local_error));
      return FALSE;
    }

  message->reply_func (message, bytes, NULL, message->reply_data);
  return TRUE;
}

/**
 * gossip_message_reply_error:
 * @message: a #GossipMessage that expects a reply
 * @reason: why no reply can be given (shown to the requester)
 *
 * Fails the request: the requester's gossip_cluster_send_request() raises
 * %GOSSIP_CLUSTER_ERROR_NO_REPLY mentioning @reason. Thread-safe.
 *
 * Returns: %TRUE if this was the reply, %FALSE if one was already given
 */
gboolean
gossip_message_reply_error (GossipMessage *message,
                            const char    *reason)
{
  g_return_val_if_fail (GOSSIP_IS_MESSAGE (message), FALSE);

  if (message->reply_func == NULL ||
      !g_atomic_int_compare_and_exchange (&message->replied, 0, 1))
    return FALSE;

  message->reply_func (message, NULL, reason ? reason : "handler failed", message->reply_data);
  return TRUE;
}
