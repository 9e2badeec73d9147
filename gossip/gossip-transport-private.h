/* gossip-transport-private.h — helpers shared by the transports' stream
 * machinery (socket and HTTP): one-shot deadline sources, handing a reply
 * from any thread over to the transport's context, and the bookkeeping of
 * outgoing exchanges (GossipOutExchange).
 *
 * SPDX-License-Identifier: MIT
 */
#pragma once

#include <gio/gio.h>

#include "gossip-transport.h"

G_BEGIN_DECLS

/* What peers can make a transport hold (PROTOCOL.md, "Limits"); set by
 * the cluster from its configuration before the transport starts. */
typedef struct {
  guint   max_incoming;             /* incoming connections open at once */
  guint   max_incoming_per_peer;    /* ... from one host */
  guint   max_lookups;              /* DNS lookups in flight */
  gint64  read_timeout_us;          /* a request must arrive within; HTTP idle too */
} GossipTransportLimits;

/* The configuration's defaults (max_incoming_streams and so on). */
#define GOSSIP_TRANSPORT_LIMITS_DEFAULT { 512, 32, 64, 10 * G_USEC_PER_SEC }

/* Applies @limits to a socket or HTTP transport (others have none). */
void     _gossip_transport_set_limits              (GossipTransport *transport,
                                                    const GossipTransportLimits *limits);
/* Incoming connections refused and lookups refused so far (0 for
 * transports without limits). */
void     _gossip_transport_get_refusals            (GossipTransport *transport,
                                                    guint64 *streams_refused,
                                                    guint64 *lookups_refused);

typedef struct _GossipHttpTransport GossipHttpTransport;
void     _gossip_http_transport_set_limits         (GossipHttpTransport *self,
                                                    const GossipTransportLimits *limits);
void     _gossip_http_transport_get_refusals       (GossipHttpTransport *self,
                                                    guint64 *streams_refused,
                                                    guint64 *lookups_refused);

GSource *_gossip_transport_deadline_source_attach (GMainContext   *context,
                                                   gint64          ready_time,
                                                   const char     *static_name,
                                                   GSourceFunc     func,
                                                   gpointer        data,
                                                   GDestroyNotify  notify);
gint64   _gossip_transport_deadline_after         (gint64          timeout_us);
void     _gossip_transport_source_clear           (GSource       **source);

GError  *_gossip_transport_check_send           (gboolean        started,
                                                   const char     *address,
                                                   gsize           len,
                                                   const char     *too_large_format);

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

/* An outgoing gossip_transport_send_stream() exchange: the part every
 * transport shares. A transport's own exchange struct starts with it.
 *
 * _gossip_out_exchange_init() queues the exchange and attaches two sources
 * on the exchange's context: one that starts it (so the callback never runs
 * inside send_stream(); an early error, such as a stopped transport or a
 * bad frame, is reported from there) and its deadline. Whatever happens
 * first ends it through _gossip_out_exchange_complete(), exactly once: the
 * sources are removed, the cancellable is cancelled, the class's release()
 * frees what the transport holds, and the callback runs. The queue holds
 * one reference; each pending asynchronous operation holds another and,
 * when it returns, finds the exchange done if it was completed meanwhile. */
typedef struct _GossipOutExchange GossipOutExchange;

typedef struct
{
  const char *start_name;      /* static names of the two sources */
  const char *timeout_name;
  const char *too_large_format; /* N_() messages: a %zu size and a %u limit, */
  const char *timeout_format;   /* and one %s, the address */
  /* Begins the exchange (no early error). */
  void (*start)    (GossipOutExchange *ex);
  /* At completion, before the callback: releases the transport's I/O
   * resources; @error is the outcome. */
  void (*release)  (GossipOutExchange *ex, const GError *error);
  /* With the last reference: frees the transport's own fields. */
  void (*finalize) (GossipOutExchange *ex);
} GossipOutExchangeClass;

struct _GossipOutExchange
{
  const GossipOutExchangeClass *klass;
  gint                       ref_count;
  gboolean                   done;
  GObject                   *transport;   /* borrowed: stop(), run by dispose,
                                           * completes every exchange */
  GQueue                    *queue;       /* the transport's outgoing queue */
  GList                     *link;        /* in @queue */
  GMainContext              *context;

  char                      *address;
  GBytes                    *frame;
  gboolean                   want_reply;
  gint64                     timeout_us;
  GossipTransportStreamFunc  func;
  gpointer                   user_data;
  GError                    *early_error; /* reported by the start source */

  GSource                   *start_source;
  GSource                   *timeout_source;
  GCancellable              *cancellable; /* NULL until the transport sets it */
};

void               _gossip_out_exchange_init       (GossipOutExchange            *ex,
                                                    const GossipOutExchangeClass *klass,
                                                    GObject                      *transport,
                                                    GQueue                       *queue,
                                                    GMainContext                 *context_or_null,
                                                    const char                   *address,
                                                    GBytes                       *frame,
                                                    gboolean                      want_reply,
                                                    gint64                        timeout_us,
                                                    GossipTransportStreamFunc     func,
                                                    gpointer                      user_data);
GossipOutExchange *_gossip_out_exchange_ref        (GossipOutExchange            *ex);
void               _gossip_out_exchange_unref      (GossipOutExchange            *ex);
void               _gossip_out_exchange_complete   (GossipOutExchange            *ex,
                                                    GBytes                       *reply,
                                                    const GError                 *error);
void               _gossip_out_exchange_fail       (GossipOutExchange            *ex,
                                                    GQuark                        domain,
                                                    gint                          code,
                                                    const char                   *format,
                                                    ...) G_GNUC_PRINTF (4, 5);
void               _gossip_out_exchange_cancel_all (GQueue                       *queue);

G_END_DECLS
