/* gossip-transport-util.c — helpers shared by the socket and HTTP
 * transports (see gossip-transport-private.h).
 *
 * SPDX-License-Identifier: MIT
 */
#include "config.h"

#include "gossip-transport-private.h"
#include "gossip-frame-private.h"

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
