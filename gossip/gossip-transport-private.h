/* gossip-transport-private.h — helpers shared by the transports' stream
 * machinery (socket and HTTP): one-shot deadline sources, and handing a
 * reply from any thread over to the transport's context.
 *
 * SPDX-License-Identifier: MIT
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

GSource *_gossip_transport_deadline_source_attach (GMainContext   *context,
                                                   gint64          ready_time,
                                                   const char     *static_name,
                                                   GSourceFunc     func,
                                                   gpointer        data,
                                                   GDestroyNotify  notify);
gint64   _gossip_transport_deadline_after         (gint64          timeout_us);
void     _gossip_transport_source_clear           (GSource       **source);

/* Answers one incoming request: runs on the transport's context. */
typedef void (*GossipTransportAnswerFunc) (gpointer  target,
                                           GBytes   *frame_or_null);

void     _gossip_transport_answer_in_context      (GMainContext              *context,
                                                   const char                *static_name,
                                                   const char                *limit_name,
                                                   GBytes                    *frame_or_null,
                                                   GossipTransportAnswerFunc  answer,
                                                   gpointer                   target,
                                                   GDestroyNotify             target_unref);

G_END_DECLS
