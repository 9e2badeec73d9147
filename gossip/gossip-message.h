/* gossip-message.h — a received user message, possibly awaiting a reply.
 *
 * SPDX-License-Identifier: MIT
 */
#pragma once

#if !defined(__GOSSIP_H_INSIDE__) && !defined(GOSSIP_COMPILATION)
#error "Only <gossip/gossip.h> can be included directly."
#endif

#include <glib-object.h>
#include <gossip/gossip-node.h>

G_BEGIN_DECLS

/**
 * GOSSIP_MSG_USER:
 *
 * The smallest user message type. Types below are reserved for the library
 * (64..127 may be claimed by leader elections for heartbeats).
 */
#define GOSSIP_MSG_USER 128

/**
 * GOSSIP_MAX_PAYLOAD_SIZE:
 *
 * Largest encoded payload accepted for sending (4 MiB minus framing room).
 * Larger payloads are refused with %GOSSIP_CLUSTER_ERROR_PAYLOAD_TOO_LARGE.
 */
#define GOSSIP_MAX_PAYLOAD_SIZE (4 * 1024 * 1024 - 4096)

#define GOSSIP_TYPE_MESSAGE (gossip_message_get_type ())
G_DECLARE_FINAL_TYPE (GossipMessage, gossip_message, GOSSIP, MESSAGE, GObject)

guint16      gossip_message_get_message_type (GossipMessage *message);
GossipNode  *gossip_message_get_sender       (GossipMessage *message);
GVariant    *gossip_message_get_payload      (GossipMessage *message);
gboolean     gossip_message_expects_reply    (GossipMessage *message);
gint64       gossip_message_get_deadline     (GossipMessage *message);

gboolean     gossip_message_reply            (GossipMessage *message, GVariant *payload, GError **error);
gboolean     gossip_message_reply_error      (GossipMessage *message, const char *reason);

G_END_DECLS
