/* gossip-transport-util.c — helpers shared by the socket and HTTP
 * transports (see gossip-transport-private.h).
 *
 * SPDX-License-Identifier: MIT
 */
#include "config.h"

#include <glib/gi18n-lib.h>

#include "gossip-transport-private.h"
#include "gossip-frame-private.h"
#include "gossip-http-transport.h"
#include "gossip-socket-transport-private.h"

static gboolean
deadline_source_dispatch (GSource     *source,
                          GSourceFunc  callback,
                          gpointer     user_data)
{
  return callback != NULL ? callback (user_data) : G_SOURCE_REMOVE;
}

static GSourceFuncs deadline_source_funcs = {
  .dispatch = deadline_source_dispatch,
};

/* A source that fires once @ready_time (monotonic µs) has passed; 0 fires
 * on the next iteration. Microsecond precision, unlike g_timeout_source_new().
 * Returns the caller's reference; the context holds another. */
GSource *
_gossip_transport_deadline_source_attach (GMainContext   *context,
                                          gint64          ready_time,
                                          const char     *static_name,
                                          GSourceFunc     func,
                                          gpointer        data,
                                          GDestroyNotify  notify)
{
  GSource *source = g_source_new (&deadline_source_funcs, sizeof (GSource));

  g_source_set_static_name (source, static_name);
  g_source_set_ready_time (source, ready_time);
  g_source_set_callback (source, func, data, notify);
  g_source_attach (source, context);
  return source;
}

/* The monotonic time @timeout_us from now, saturated. */
gint64
_gossip_transport_deadline_after (gint64 timeout_us)
{
  gint64 now = g_get_monotonic_time ();

  return timeout_us > G_MAXINT64 - now ? G_MAXINT64 : now + timeout_us;
}

/* Destroys and drops a source the caller holds a reference to, if any. */
void
_gossip_transport_source_clear (GSource **source)
{
  if (*source != NULL)
    {
      g_source_destroy (*source);
      g_clear_pointer (source, g_source_unref);
    }
}

/* The errors every transport reports for a send before trying it: not
 * started, an empty frame, a frame over the limit (@too_large_format, an
 * N_() message with a %zu size and a %u limit). NULL if none applies. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
GError *
_gossip_transport_check_send (gboolean    started,
                              const char *address,
                              gsize       len,
                              const char *too_large_format)
{
  if (!started)
    return g_error_new (G_IO_ERROR, G_IO_ERROR_NOT_CONNECTED,
                        _("cannot send to %s: the transport is not started"), address);
  if (len == 0)
    return g_error_new (G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                        _("cannot send an empty frame to %s"), address);
  if (len > GOSSIP_MAX_FRAME_SIZE)
    return g_error_new (G_IO_ERROR, G_IO_ERROR_MESSAGE_TOO_LARGE,
                        _(too_large_format), len, (guint) GOSSIP_MAX_FRAME_SIZE);
  return NULL;
}
#pragma GCC diagnostic pop

typedef struct
{
  GossipTransportAnswerFunc  answer;
  gpointer                   target;
  GDestroyNotify             target_unref;
  GBytes                    *frame;
} AnswerJob;

static void
answer_job_free (AnswerJob *job)
{
  job->target_unref (job->target);
  g_clear_pointer (&job->frame, g_bytes_unref);
  g_free (job);
}

static gboolean
answer_job_cb (gpointer data)
{
  AnswerJob *job = data;

  job->answer (job->target, job->frame);
  return G_SOURCE_REMOVE;
}

/* The body of a GossipTransportReplyFunc, callable on any thread: a reply
 * over the frame limit becomes no reply (with a warning naming
 * @limit_name), then @answer runs on @context. @target comes with a
 * reference, dropped with @target_unref once answered. Already dispatching
 * there (typically a synchronous reply from the receive function), @answer
 * runs at once; otherwise the reply is handed over to @context: unlike g_main_context_invoke() this never runs @answer on the calling
 * thread, which would race with the transport's own work. */
void
_gossip_transport_answer_in_context (GMainContext              *context,
                                     const char                *static_name,
                                     const char                *limit_name,
                                     GBytes                    *frame_or_null,
                                     GossipTransportAnswerFunc  answer,
                                     gpointer                   target,
                                     GDestroyNotify             target_unref)
{
  AnswerJob *job;
  GSource *source;

  if (frame_or_null != NULL && g_bytes_get_size (frame_or_null) > GOSSIP_MAX_FRAME_SIZE)
    {
      g_warning ("reply of %" G_GSIZE_FORMAT " bytes exceeds the %s; sending none",
                 g_bytes_get_size (frame_or_null), limit_name);
      frame_or_null = NULL;
    }

  if (g_main_context_is_owner (context))
    {
      answer (target, frame_or_null);
      target_unref (target);
      return;
    }

  job = g_new0 (AnswerJob, 1);
  job->answer = answer;
  job->target = target;
  job->target_unref = target_unref;
  job->frame = frame_or_null != NULL ? g_bytes_ref (frame_or_null) : NULL;
  source = _gossip_transport_deadline_source_attach (context, 0, static_name, answer_job_cb, job,
                                                     (GDestroyNotify) answer_job_free);
  g_source_unref (source);
}

/* ---------------------------------------------------------------------------
 * Outgoing exchanges
 * ------------------------------------------------------------------------- */

static gboolean
out_exchange_start_cb (gpointer data)
{
  GossipOutExchange *ex = data;

  g_clear_pointer (&ex->start_source, g_source_unref);
  if (ex->early_error != NULL)
    _gossip_out_exchange_complete (ex, NULL, ex->early_error);
  else
    ex->klass->start (ex);
  return G_SOURCE_REMOVE;
}

/* The class's messages are N_() literals of the transports, checked there
 * by xgettext's c-format flag and here by the argument types. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
static gboolean
out_exchange_timeout_cb (gpointer data)
{
  GossipOutExchange *ex = data;

  g_clear_pointer (&ex->timeout_source, g_source_unref);
  _gossip_out_exchange_fail (ex, G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                             _(ex->klass->timeout_format), ex->address);
  return G_SOURCE_REMOVE;
}
#pragma GCC diagnostic pop

/* Sets up @ex (zeroed, as allocated by the transport) and queues it.
 * @context_or_null is the started transport's context; NULL (not started)
 * takes the caller's thread-default context, where the "not started" error
 * is then reported. */
void
_gossip_out_exchange_init (GossipOutExchange            *ex,
                           const GossipOutExchangeClass *klass,
                           GObject                      *transport,
                           GQueue                       *queue,
                           GMainContext                 *context_or_null,
                           const char                   *address,
                           GBytes                       *frame,
                           gboolean                      want_reply,
                           gint64                        timeout_us,
                           GossipTransportStreamFunc     func,
                           gpointer                      user_data)
{
  ex->klass = klass;
  ex->ref_count = 1;
  ex->transport = transport;
  ex->queue = queue;
  ex->context = context_or_null != NULL ? g_main_context_ref (context_or_null)
                                        : g_main_context_ref_thread_default ();
  ex->address = g_strdup (address);
  ex->frame = g_bytes_ref (frame);
  ex->want_reply = want_reply;
  ex->timeout_us = timeout_us;
  ex->func = func;
  ex->user_data = user_data;

  ex->early_error = _gossip_transport_check_send (context_or_null != NULL, address,
                                                 g_bytes_get_size (frame), klass->too_large_format);

  g_queue_push_tail (queue, ex);
  ex->link = queue->tail;

  ex->start_source = _gossip_transport_deadline_source_attach (ex->context, 0, klass->start_name,
                                                               out_exchange_start_cb, ex, NULL);
  ex->timeout_source = _gossip_transport_deadline_source_attach (ex->context,
                                                                 _gossip_transport_deadline_after (timeout_us),
                                                                 klass->timeout_name,
                                                                 out_exchange_timeout_cb, ex, NULL);
}

GossipOutExchange *
_gossip_out_exchange_ref (GossipOutExchange *ex)
{
  ex->ref_count++;
  return ex;
}

void
_gossip_out_exchange_unref (GossipOutExchange *ex)
{
  if (--ex->ref_count > 0)
    return;

  g_assert (ex->done);
  ex->klass->finalize (ex);
  g_free (ex->address);
  g_bytes_unref (ex->frame);
  g_clear_error (&ex->early_error);
  g_clear_object (&ex->cancellable);
  g_main_context_unref (ex->context);
  g_free (ex);
}

/* Ends the exchange and runs the callback; the second and later calls do
 * nothing. Callers must not touch @ex afterwards unless they hold a
 * reference of their own. */
void
_gossip_out_exchange_complete (GossipOutExchange *ex,
                               GBytes            *reply,
                               const GError      *error)
{
  g_autoptr(GObject) transport = NULL;

  if (ex->done)
    return;
  ex->done = TRUE;

  /* Kept alive through the callback, which may drop the last reference. */
  transport = g_object_ref (g_steal_pointer (&ex->transport));
  if (ex->link != NULL)
    {
      g_queue_delete_link (ex->queue, ex->link);
      ex->link = NULL;
    }

  _gossip_transport_source_clear (&ex->start_source);
  _gossip_transport_source_clear (&ex->timeout_source);
  if (ex->cancellable != NULL)
    g_cancellable_cancel (ex->cancellable);
  ex->klass->release (ex, error);

  if (ex->func != NULL)
    ex->func (reply, error, ex->user_data);
  else if (error != NULL)
    g_debug ("one-way send to %s failed: %s", ex->address, error->message);

  _gossip_out_exchange_unref (ex);
}

void
_gossip_out_exchange_fail (GossipOutExchange *ex,
                           GQuark             domain,
                           gint               code,
                           const char        *format,
                           ...)
{
  g_autoptr(GError) error = NULL;
  va_list args;

  va_start (args, format);
  error = g_error_new_valist (domain, code, format, args);
  va_end (args);

  _gossip_out_exchange_complete (ex, NULL, error);
}

/* Completes every exchange of @queue with G_IO_ERROR_CANCELLED. The queue
 * is taken first: callbacks may start new exchanges, which then fail with
 * "not started" on their own. */
void
_gossip_out_exchange_cancel_all (GQueue *queue)
{
  GQueue pending = *queue;
  g_autoptr(GError) cancelled = NULL;
  GossipOutExchange *ex;

  g_queue_init (queue);
  cancelled = g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CANCELLED, _("the transport was stopped"));
  while ((ex = g_queue_pop_head (&pending)) != NULL)
    {
      ex->link = NULL;
      _gossip_out_exchange_complete (ex, NULL, cancelled);
    }
}

void
_gossip_transport_set_limits (GossipTransport             *transport,
                              const GossipTransportLimits *limits)
{
  if (GOSSIP_IS_SOCKET_TRANSPORT (transport))
    GOSSIP_SOCKET_TRANSPORT (transport)->limits = *limits;
  else if (GOSSIP_IS_HTTP_TRANSPORT (transport))
    _gossip_http_transport_set_limits (GOSSIP_HTTP_TRANSPORT (transport), limits);
}

void
_gossip_transport_get_refusals (GossipTransport *transport,
                                guint64         *streams_refused,
                                guint64         *lookups_refused)
{
  *streams_refused = *lookups_refused = 0;
  if (GOSSIP_IS_SOCKET_TRANSPORT (transport))
    {
      *streams_refused = GOSSIP_SOCKET_TRANSPORT (transport)->streams_refused;
      *lookups_refused = GOSSIP_SOCKET_TRANSPORT (transport)->lookups_refused;
    }
  else if (GOSSIP_IS_HTTP_TRANSPORT (transport))
    _gossip_http_transport_get_refusals (GOSSIP_HTTP_TRANSPORT (transport), streams_refused, lookups_refused);
}
