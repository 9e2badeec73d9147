/* gossip-http-transport.h — frames as HTTP POSTs (libsoup 3).
 *
 * SPDX-License-Identifier: MIT
 */
#pragma once

#if !defined(__GOSSIP_H_INSIDE__) && !defined(GOSSIP_COMPILATION)
#error "Only <gossip/gossip.h> can be included directly."
#endif

#include <gossip/gossip-transport.h>

G_BEGIN_DECLS

#define GOSSIP_TYPE_HTTP_TRANSPORT (gossip_http_transport_get_type ())
G_DECLARE_FINAL_TYPE (GossipHttpTransport, gossip_http_transport, GOSSIP, HTTP_TRANSPORT, GObject)

GossipTransport *gossip_http_transport_new               (const char *bind_address,
                                                          gboolean    prefer_ipv6,
                                                          gboolean    insecure_skip_verify,
                                                          GError    **error);

void             gossip_http_transport_set_bearer_token  (GossipHttpTransport *self,
                                                          const char          *token);
void             gossip_http_transport_set_reply_timeout (GossipHttpTransport *self,
                                                          gint64               timeout_us);

guint64          gossip_http_transport_get_auth_rejected     (GossipHttpTransport *self);
guint64          gossip_http_transport_get_requests_rejected (GossipHttpTransport *self);
guint64          gossip_http_transport_get_datagrams_dropped (GossipHttpTransport *self);

G_END_DECLS
