/* gossip-socket-transport.h — UDP + TCP on one port (GSocket).
 *
 * SPDX-License-Identifier: MIT
 */
#pragma once

#if !defined(__GOSSIP_H_INSIDE__) && !defined(GOSSIP_COMPILATION)
#error "Only <gossip/gossip.h> can be included directly."
#endif

#include <gossip/gossip-transport.h>

G_BEGIN_DECLS

#define GOSSIP_TYPE_SOCKET_TRANSPORT (gossip_socket_transport_get_type ())
G_DECLARE_FINAL_TYPE (GossipSocketTransport, gossip_socket_transport, GOSSIP, SOCKET_TRANSPORT, GObject)

GossipTransport *gossip_socket_transport_new (const char *bind_address,
                                              gboolean    prefer_ipv6,
                                              gboolean    reliable_only,
                                              GError    **error);

void             gossip_socket_transport_set_max_datagram      (GossipSocketTransport *self,
                                                                gsize                  max_datagram);
guint64          gossip_socket_transport_get_datagrams_dropped (GossipSocketTransport *self);

G_END_DECLS
