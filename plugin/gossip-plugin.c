/* gossip-plugin.c — the scriptling.net.gossip plugin: registration, the
 * event queues and their delivery, blocking operations, pump and shutdown.
 *
 * SPDX-License-Identifier: MIT
 *
 * How events reach scripts.  A script callback can only be called while
 * the call that carried it is in flight (plugin protocol §10), so the
 * plugin never keeps handlers.  The wrapper (gossip-wrapper.sl) keeps them
 * and passes one dispatcher function into every call (keyword `_dispatch`).
 * The engine thread turns every signal and message into a GpEvent on its
 * cluster's FIFO and wakes the host up; the script thread hands queued
 * events to the dispatcher:
 *
 *  - at the end of every call that carries a dispatcher;
 *  - from the pump hook, while a deferred call (join, leave, stop,
 *    send_request, election stop, run_events/wait_events) is in flight,
 *    through that call's dispatcher.
 *
 * Deliveries never nest: a handler that calls into the module does not
 * receive further events until it returned.  A handler that raises is
 * reported through the host log and delivery goes on.
 */
#include "config.h"

#include <string.h>

#include "gossip-plugin-private.h"
#include "gossip-wrapper-source.h"

const ScriptlingHostApi *gp_api;
ScriptlingHost *gp_host;
ScriptlingClass *gp_cluster_class;
ScriptlingClass *gp_group_class;
ScriptlingClass *gp_election_class;
GMutex gp_lock;
GPtrArray *gp_clusters;

static GPtrArray *gp_ops;            /* GpOp*, in flight (script thread) */
static gboolean gp_shutting_down;    /* under gp_lock */
static gboolean gp_delivering;       /* script thread */
static gboolean gp_pump_again;       /* an op completion was postponed */
static guint gp_key_counter;

guint
gp_next_key (void)
{
  return ++gp_key_counter;
}

static void
wakeup_locked (void)
{
  /* The host handle is only valid until the shutdown hook returned. */
  if (!gp_shutting_down && gp_api != NULL)
    gp_api->wakeup (gp_host);
}

void
gp_wakeup (void)
{
  g_mutex_lock (&gp_lock);
  wakeup_locked ();
  g_mutex_unlock (&gp_lock);
}

static void
gp_log (ScriptlingLogLevel  level,
        const char         *format,
        ...) G_GNUC_PRINTF (2, 3);

static void
gp_log (ScriptlingLogLevel  level,
        const char         *format,
        ...)
{
  va_list ap;
  g_autofree char *message = NULL;

  va_start (ap, format);
  message = g_strdup_vprintf (format, ap);
  va_end (ap);
  gp_api->log (gp_host, level, message, NULL);
}

/* ---- events ------------------------------------------------------------------ */

void
gp_event_free (GpEvent *ev)
{
  if (ev == NULL)
    return;
  gp_node_snap_free (ev->node);
  g_clear_pointer (&ev->payload, g_variant_unref);
  /* An unanswered request fails at the requester when dropped. */
  g_clear_object (&ev->request);
  g_clear_pointer (&ev->tick, gossip_tick_unref);
  g_free (ev->node_id);
  g_free (ev);
}

static void
event_reject (GpCluster  *c,
              GpEvent    *ev,
              const char *reason)
{
  if (ev->request != NULL)
    gossip_message_reply_error (ev->request, reason);
  if (ev->kind == GP_EVENT_TICK)
    {
      g_mutex_lock (&gp_lock);
      c->tick_pending = FALSE;
      g_mutex_unlock (&gp_lock);
    }
  gp_event_free (ev);
}

/* Any thread (normally the engine thread). Takes @ev. */
void
gp_cluster_push_event (GpCluster *c,
                       GpEvent   *ev)
{
  const char *reason = NULL;

  g_mutex_lock (&gp_lock);
  if (c->closed || gp_shutting_down)
    reason = "cluster is stopped";
  else if (c->events.length >= GP_MAX_EVENTS)
    {
      c->n_dropped++;
      reason = "the script's event queue is full";
    }
  else
    {
      g_queue_push_tail (&c->events, ev);
      wakeup_locked ();
    }
  g_mutex_unlock (&gp_lock);

  if (reason != NULL)
    event_reject (c, ev, reason);
}

/* Script thread: refuses further events and fails what is queued. */
void
gp_cluster_close_events (GpCluster  *c,
                         const char *reason)
{
  GQueue pending = G_QUEUE_INIT;
  GpEvent *ev;

  g_mutex_lock (&gp_lock);
  c->closed = TRUE;
  pending = c->events;
  g_queue_init (&c->events);
  c->tick_pending = FALSE;
  g_mutex_unlock (&gp_lock);

  while ((ev = g_queue_pop_head (&pending)) != NULL)
    {
      if (ev->request != NULL)
        gossip_message_reply_error (ev->request, reason);
      gp_event_free (ev);
    }
}

static const char *
event_kind_name (GpEventKind kind)
{
  switch (kind)
    {
    case GP_EVENT_MESSAGE: return "message";
    case GP_EVENT_STATE: return "state";
    case GP_EVENT_METADATA: return "metadata";
    case GP_EVENT_TICK: return "tick";
    case GP_EVENT_NODE_ADDED: return "node_added";
    case GP_EVENT_NODE_REMOVED: return "node_removed";
    case GP_EVENT_ELECTION: return "election";
    default: return "unknown";
    }
}

/* The event as the wrapper's dispatcher receives it (see gossip-wrapper.sl). */
static ScriptlingValue *
event_to_value (GpCluster *c,
                GpEvent   *ev)
{
  ScriptlingValue *d = gp_api->value_new_dict ();

  gp_api->dict_set (d, "kind", gp_api->value_new_string (event_kind_name (ev->kind)));
  gp_api->dict_set (d, "cluster", gp_api->value_new_int (c->key));
  switch (ev->kind)
    {
    case GP_EVENT_MESSAGE:
      {
        ScriptlingValue *msg = gp_api->value_new_dict ();

        gp_api->dict_set (msg, "type", gp_api->value_new_int (ev->msg_type));
        gp_api->dict_set (msg, "sender", gp_node_snap_to_value (ev->node));
        gp_api->dict_set (msg, "payload", gp_payload_to_value (ev->payload));
        gp_api->dict_set (d, "type", gp_api->value_new_int (ev->msg_type));
        gp_api->dict_set (d, "request", gp_api->value_new_bool (ev->request != NULL));
        gp_api->dict_set (d, "message", msg);
      }
      break;
    case GP_EVENT_STATE:
      gp_api->dict_set (d, "node_id", gp_api->value_new_string (ev->node->id));
      gp_api->dict_set (d, "state", gp_api->value_new_string (ev->state));
      break;
    case GP_EVENT_METADATA:
      gp_api->dict_set (d, "node", gp_node_snap_to_value (ev->node));
      break;
    case GP_EVENT_TICK:
      break;
    case GP_EVENT_NODE_ADDED:
    case GP_EVENT_NODE_REMOVED:
      gp_api->dict_set (d, "group", gp_api->value_new_int (ev->sub_key));
      gp_api->dict_set (d, "node", gp_node_snap_to_value (ev->node));
      break;
    case GP_EVENT_ELECTION:
      gp_api->dict_set (d, "election", gp_api->value_new_int (ev->sub_key));
      gp_api->dict_set (d, "event", gp_api->value_new_string (ev->election_event));
      gp_api->dict_set (d, "node_id", gp_api->value_new_string (ev->node_id));
      break;
    default:
      break;
    }
  return d;
}

static char *
describe_handler (GpEvent *ev)
{
  switch (ev->kind)
    {
    case GP_EVENT_MESSAGE:
      return g_strdup_printf ("the handler of message type %u", ev->msg_type);
    case GP_EVENT_STATE:
      return g_strdup ("an on_state_change handler");
    case GP_EVENT_METADATA:
      return g_strdup ("an on_metadata_change handler");
    case GP_EVENT_TICK:
      return g_strdup ("an on_gossip_interval handler");
    case GP_EVENT_NODE_ADDED:
      return g_strdup ("an on_node_added handler");
    case GP_EVENT_NODE_REMOVED:
      return g_strdup ("an on_node_removed handler");
    case GP_EVENT_ELECTION:
      return g_strdup_printf ("an election \"%s\" handler", ev->election_event);
    default:
      return g_strdup ("a handler");
    }
}

/* The dispatcher returns None, {"error": text} when a handler raised, or
 * {"reply": value} for a request handled by handle_with_reply(). */
static void
deliver_one (GpCluster             *c,
             GpEvent               *ev,
             const ScriptlingValue *dispatch)
{
  g_autofree char *error_text = NULL;
  g_autofree char *who = describe_handler (ev);
  ScriptlingValue *arg = event_to_value (c, ev);
  ScriptlingValue *r;
  const ScriptlingValue *raised = NULL;

  r = gp_api->callback_call (dispatch, 1, (const ScriptlingValue *const *) &arg, NULL, &error_text);
  gp_api->value_unref (arg);

  if (r == NULL)
    {
      gp_log (SCRIPTLING_LOG_ERROR, "gossip: cannot run %s: %s", who, error_text ? error_text : "unknown error");
      if (ev->request != NULL)
        {
          g_autofree char *reason = g_strdup_printf ("handler failed: %s", error_text ? error_text : "unknown error");
          gossip_message_reply_error (ev->request, reason);
        }
      gp_api->free (g_steal_pointer (&error_text));
      return;
    }

  if (gp_api->value_get_type (r) == SCRIPTLING_VALUE_DICT)
    raised = gp_api->dict_lookup (r, "error");
  if (raised != NULL && gp_api->value_get_type (raised) != SCRIPTLING_VALUE_NULL)
    {
      const char *text = gp_api->value_get_string (raised, NULL);

      gp_log (SCRIPTLING_LOG_WARNING, "gossip: %s raised: %s", who, text ? text : "(no message)");
      if (ev->request != NULL)
        {
          g_autofree char *reason = g_strdup_printf ("handler raised: %s", text ? text : "(no message)");
          gossip_message_reply_error (ev->request, reason);
        }
    }
  else if (ev->request != NULL)
    {
      const ScriptlingValue *reply = NULL;
      bool has_reply = gp_api->value_get_type (r) == SCRIPTLING_VALUE_DICT &&
                       (reply = gp_api->dict_lookup (r, "reply")) != NULL;

      if (!has_reply)
        {
          g_autofree char *reason = g_strdup_printf ("no handler for message type %u", ev->msg_type);
          gossip_message_reply_error (ev->request, reason);
        }
      else
        {
          g_autoptr(GError) error = NULL;
          g_autoptr(GVariant) payload = gp_value_to_payload (reply, "the reply", &error);

          if (payload == NULL)
            {
              g_autofree char *reason = g_strdup_printf ("invalid reply: %s", error->message);
              gp_log (SCRIPTLING_LOG_WARNING, "gossip: %s returned an invalid reply: %s", who, error->message);
              gossip_message_reply_error (ev->request, reason);
            }
          else if (!gossip_message_reply (ev->request, payload, &error))
            gp_log (SCRIPTLING_LOG_WARNING, "gossip: cannot send the reply of %s: %s", who, error->message);
        }
    }
  gp_api->value_unref (r);
}

gboolean
gp_in_handler (void)
{
  return gp_delivering;
}

guint
gp_deliver_events (const ScriptlingValue *dispatch)
{
  g_autoptr(GPtrArray) clusters = NULL;
  guint delivered = 0;

  if (dispatch == NULL || gp_delivering || gp_clusters == NULL)
    return 0;
  gp_delivering = TRUE;

  /* Handlers may create, stop or release clusters: work on a snapshot. */
  clusters = g_ptr_array_new_with_free_func ((GDestroyNotify) gp_cluster_unref);
  for (guint i = 0; i < gp_clusters->len; i++)
    g_ptr_array_add (clusters, gp_cluster_ref (g_ptr_array_index (gp_clusters, i)));

  for (guint i = 0; i < clusters->len; i++)
    {
      GpCluster *c = g_ptr_array_index (clusters, i);
      guint budget, dropped;

      /* Only what is queued now: events raised by handlers wait for the
       * next delivery, so a chatty handler cannot starve the caller. */
      g_mutex_lock (&gp_lock);
      budget = c->events.length;
      dropped = c->n_dropped;
      c->n_dropped = 0;
      g_mutex_unlock (&gp_lock);
      if (dropped > 0)
        gp_log (SCRIPTLING_LOG_WARNING,
                "gossip: %u events of node %s were dropped because the script did not take them "
                "(at most %d are queued; call run_events() or any cluster method regularly)",
                dropped, gossip_cluster_get_node_id (c->cluster), GP_MAX_EVENTS);

      while (budget-- > 0)
        {
          GpEvent *ev;

          g_mutex_lock (&gp_lock);
          ev = g_queue_pop_head (&c->events);
          g_mutex_unlock (&gp_lock);
          if (ev == NULL)
            break;
          deliver_one (c, ev, dispatch);
          if (ev->kind == GP_EVENT_TICK)
            {
              g_mutex_lock (&gp_lock);
              c->tick_pending = FALSE;
              g_mutex_unlock (&gp_lock);
            }
          /* Dropping the tick lets the engine schedule the next one. */
          gp_event_free (ev);
          delivered++;
        }
    }

  gp_delivering = FALSE;
  if (gp_pump_again)
    {
      gp_pump_again = FALSE;
      gp_wakeup ();
    }
  return delivered;
}

/* ---- blocking operations ------------------------------------------------------ */

GpOp *
gp_op_new (GpOpKind               kind,
           ScriptlingCall        *call,
           const ScriptlingValue *dispatch)
{
  GpOp *op = g_new0 (GpOp, 1);

  op->kind = kind;
  op->call = call;
  op->dispatch = dispatch != NULL ? gp_api->value_ref (dispatch) : NULL;
  g_cond_init (&op->cond);
  return op;
}

static void
op_free (GpOp *op)
{
  if (op->thread != NULL)
    g_thread_join (op->thread);
  g_clear_pointer (&op->dispatch, gp_api->value_unref);
  g_clear_object (&op->cluster);
  g_clear_object (&op->election);
  g_clear_pointer (&op->owner, gp_cluster_unref);
  g_strfreev (op->peers);
  g_free (op->node_id);
  g_clear_pointer (&op->payload, g_variant_unref);
  g_clear_pointer (&op->result, g_variant_unref);
  g_clear_error (&op->error);
  g_cond_clear (&op->cond);
  g_free (op);
}

static gpointer
op_thread (gpointer data)
{
  GpOp *op = data;
  GError *error = NULL;
  GVariant *result = NULL;
  gint n = 0;

  switch (op->kind)
    {
    case GP_OP_JOIN:
      n = gossip_cluster_join (op->cluster, (const char * const *) op->peers, &error);
      break;
    case GP_OP_LEAVE:
      gossip_cluster_leave (op->cluster, &error);
      break;
    case GP_OP_STOP:
      gp_cluster_stop_once (op->cluster);
      break;
    case GP_OP_REQUEST:
      result = gossip_cluster_send_request (op->cluster, op->node_id, op->msg_type, op->payload,
                                            op->timeout_us, NULL, &error);
      break;
    case GP_OP_ELECTION_STOP:
      gossip_leader_election_stop (op->election);
      break;
    case GP_OP_WAIT:
      g_mutex_lock (&gp_lock);
      while (!op->cancelled && g_get_monotonic_time () < op->deadline)
        g_cond_wait_until (&op->cond, &gp_lock, op->deadline);
      g_mutex_unlock (&gp_lock);
      break;
    default:
      g_assert_not_reached ();
    }

  g_mutex_lock (&gp_lock);
  op->error = error;
  op->result = result;
  op->n_joined = n;
  op->done = TRUE;
  wakeup_locked ();
  g_mutex_unlock (&gp_lock);
  return NULL;
}

/* Completes the deferred call of a finished @op. */
static void
op_complete (GpOp *op)
{
  ScriptlingCall *call = op->call;

  op->call = NULL;
  if (call == NULL)
    return;
  if (op->error != NULL)
    {
      gp_raise_error (call, op->error);
      return;
    }
  switch (op->kind)
    {
    case GP_OP_REQUEST:
      gp_api->call_return (call, gp_payload_to_value (op->result));
      break;
    case GP_OP_WAIT:
      gp_api->call_return (call, gp_api->value_new_int (op->delivered));
      break;
    case GP_OP_JOIN:
    case GP_OP_LEAVE:
    case GP_OP_STOP:
    case GP_OP_ELECTION_STOP:
    default:
      gp_api->call_return (call, NULL);
      break;
    }
}

gboolean
gp_op_start (GpOp *op)
{
  /* Hosts that cannot defer get a blocking call rather than none. */
  if (op->call != NULL && !gp_api->call_defer (op->call))
    {
      op->thread = g_thread_new ("gossip-plugin-op", op_thread, op);
      g_thread_join (g_steal_pointer (&op->thread));
      if (op->kind == GP_OP_WAIT && op->dispatch != NULL)
        op->delivered += gp_deliver_events (op->dispatch);
      op_complete (op);
      op_free (op);
      return TRUE;
    }
  g_ptr_array_add (gp_ops, op);
  op->thread = g_thread_new ("gossip-plugin-op", op_thread, op);
  return TRUE;
}

void
gp_ops_abandon_for (GossipCluster *cluster,
                    const char    *reason)
{
  for (guint i = 0; gp_ops != NULL && i < gp_ops->len; i++)
    {
      GpOp *op = g_ptr_array_index (gp_ops, i);
      ScriptlingCall *call = op->call;

      if (call == NULL || op->cluster != cluster)
        continue;
      op->call = NULL;
      gp_api->call_raise (call, SCRIPTLING_ERROR_RUNTIME, reason);
    }
}

/* The pump hook: runs on the script thread after wakeup(). */
static void
pump (void *user_data)
{
  GpOp *carrier = NULL;
  g_autoptr(GPtrArray) finished = NULL;

  if (gp_ops == NULL)
    return;

  /* 1. Hand queued events to the newest deferred call that has a
   *    dispatcher (they all carry the same wrapper function). */
  for (guint i = gp_ops->len; i > 0 && carrier == NULL; i--)
    {
      GpOp *op = g_ptr_array_index (gp_ops, i - 1);
      if (op->call != NULL && op->dispatch != NULL)
        carrier = op;
    }
  if (carrier != NULL && !gp_delivering)
    {
      guint n;

      carrier->busy++;
      n = gp_deliver_events (carrier->dispatch);
      carrier->busy--;
      if (carrier->kind == GP_OP_WAIT)
        carrier->delivered += n;
    }

  /* 2. Complete what finished, unless its dispatcher is in use right now
   *    (a nested pump during a handler); then we come back later. */
  finished = g_ptr_array_new ();
  g_mutex_lock (&gp_lock);
  for (guint i = 0; i < gp_ops->len; i++)
    {
      GpOp *op = g_ptr_array_index (gp_ops, i);
      if (op->done)
        g_ptr_array_add (finished, op);
    }
  g_mutex_unlock (&gp_lock);

  for (guint i = 0; i < finished->len; i++)
    {
      GpOp *op = g_ptr_array_index (finished, i);

      if (op->busy > 0 || (gp_delivering && op->dispatch != NULL && op->call != NULL))
        {
          gp_pump_again = TRUE;
          continue;
        }
      g_ptr_array_remove (gp_ops, op);
      /* Events that arrived meanwhile (a request to ourselves, say) run
       * before the call returns, as part of it. */
      if (op->call != NULL && op->dispatch != NULL && !gp_delivering)
        {
          guint n = gp_deliver_events (op->dispatch);
          if (op->kind == GP_OP_WAIT)
            op->delivered += n;
        }
      op_complete (op);
      op_free (op);
    }
}

/* ---- module functions ----------------------------------------------------------- */

/* run_events(timeout=0): runs queued events now and, for a positive
 * timeout, keeps running them as they arrive until it elapses. Returns how
 * many events were handled. */
static ScriptlingValue *
fn_run_events (ScriptlingCall               *call,
               size_t                        n_args,
               const ScriptlingValue *const *args,
               const ScriptlingValue        *kwargs,
               void                         *user_data)
{
  static const char * const names[] = { "timeout", NULL };
  const ScriptlingValue *v[1];
  const ScriptlingValue *dispatch;
  gint64 timeout = 0;
  guint n;
  GpOp *op;

  if (!gp_parse_args (call, "run_events", n_args, args, kwargs, names, 0, v, &dispatch))
    return NULL;
  if (v[0] != NULL && gp_api->value_get_type (v[0]) != SCRIPTLING_VALUE_NULL)
    {
      int64_t i;
      double d;

      /* Zero is allowed here: it means "only what is queued now". */
      if ((gp_api->value_get_int (v[0], &i) && i == 0) || (gp_api->value_get_float (v[0], &d) && d == 0))
        timeout = 0;
      else if (!gp_get_duration (call, "timeout", v[0], &timeout))
        return NULL;
    }

  n = gp_deliver_events (dispatch);
  if (timeout == 0)
    return gp_api->value_new_int (n);

  op = gp_op_new (GP_OP_WAIT, call, dispatch);
  op->deadline = g_get_monotonic_time () + timeout;
  op->delivered = n;
  gp_op_start (op);
  return NULL;
}

/* ---- hooks and registration ----------------------------------------------------------- */

static void
shutdown_hook (void *user_data)
{
  /* 1. No more wake-ups, and waits end now. */
  g_mutex_lock (&gp_lock);
  gp_shutting_down = TRUE;
  for (guint i = 0; i < gp_ops->len; i++)
    {
      GpOp *op = g_ptr_array_index (gp_ops, i);
      op->cancelled = TRUE;
      g_cond_broadcast (&op->cond);
    }
  g_mutex_unlock (&gp_lock);

  /* 2. Every cluster stops: sockets closed, timers cancelled, pending
   *    requests failed, so every worker finishes promptly. */
  while (gp_clusters->len > 0)
    {
      GpCluster *c = g_ptr_array_steal_index (gp_clusters, gp_clusters->len - 1);
      gp_cluster_shutdown (c);
      gp_cluster_unref (c);
    }

  /* 3. Workers are joined; their calls are forgotten (the host fails them). */
  while (gp_ops->len > 0)
    {
      GpOp *op = g_ptr_array_steal_index (gp_ops, gp_ops->len - 1);
      op->call = NULL;
      op_free (op);
    }
  g_clear_pointer (&gp_ops, g_ptr_array_unref);
  g_clear_pointer (&gp_clusters, g_ptr_array_unref);
}

static bool
gossip_plugin_init (const ScriptlingHostApi *api,
                    ScriptlingHost          *host)
{
  ScriptlingModule *module;
  ScriptlingFunction *fn;

  if (api->abi_version != SCRIPTLING_PLUGIN_ABI_VERSION || !SCRIPTLING_HOST_API_HAS (api, free))
    return false;

  gp_api = api;
  gp_host = host;
  g_mutex_lock (&gp_lock);
  gp_shutting_down = FALSE;
  g_mutex_unlock (&gp_lock);
  gp_clusters = g_ptr_array_new ();
  gp_ops = g_ptr_array_new ();

  bindtextdomain (GETTEXT_PACKAGE, LOCALEDIR);
  bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");

  module = api->register_module (host, GP_MODULE_NAME,
                                 "Gossip protocol cluster membership and messaging with automatic failure "
                                 "detection, metadata propagation, tag-based routing, node groups, leader "
                                 "election, encryption, and compression.");
  if (module == NULL)
    return false;

  /* create() is pure wrapper source: it constructs the wrapper classes,
   * which hold the native objects and the script handlers. */
  fn = api->module_add_function (module, "create", "create(bind_addr=\"127.0.0.1:8000\", **options) - "
                                 "Create a gossip cluster node", NULL, NULL, NULL);
  if (fn == NULL || !api->function_set_source (fn, gossip_wrapper_source))
    return false;
  fn = api->module_add_function (module, "run_events",
                                 "run_events(timeout=0) - Run queued event handlers, waiting up to "
                                 "timeout for more; returns how many ran", fn_run_events, NULL, NULL);
  if (fn == NULL || !api->function_set_source (fn, gossip_wrapper_run_events_source))
    return false;

  gp_register_cluster_class (module);
  gp_register_group_classes (module);
  if (gp_cluster_class == NULL || gp_group_class == NULL || gp_election_class == NULL)
    return false;

  api->set_pump_func (host, pump, NULL);
  api->set_shutdown_func (host, shutdown_hook, NULL);
  return true;
}

SCRIPTLING_PLUGIN_DEFINE ("gossip", PACKAGE_VERSION,
                          "Gossip cluster membership and messaging (scriptling.net.gossip)",
                          gossip_plugin_init);
