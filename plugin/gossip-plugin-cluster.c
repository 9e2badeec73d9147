/* gossip-plugin-cluster.c — the native class _Cluster behind the wrapper's
 * Cluster (create() and every cluster method of the API).
 *
 * SPDX-License-Identifier: MIT
 */
#include "config.h"

#include <string.h>

#include "gossip-plugin-private.h"

/* Serialises gossip_cluster_stop() between the script thread and a stop
 * worker, so a cluster is torn down exactly once. */
static GMutex stop_lock;

/* The types this plugin registered handlers for, per cluster (script thread). */
static GHashTable *handled_types;   /* GpCluster* -> GHashTable(type set) */

GpCluster *
gp_cluster_ref (GpCluster *c)
{
  g_atomic_int_inc (&c->ref_count);
  return c;
}

void
gp_cluster_unref (GpCluster *c)
{
  if (c == NULL || !g_atomic_int_dec_and_test (&c->ref_count))
    return;
  g_queue_clear_full (&c->events, (GDestroyNotify) gp_event_free);
  g_clear_object (&c->cluster);
  g_free (c);
}

static void
closure_unref (gpointer  data,
               GClosure *closure)
{
  gp_cluster_unref (data);
}

/* ---- engine-thread handlers: snapshot, queue, wake up ------------------------------ */

static void
on_state_changed (GossipCluster *cluster,
                  GossipNode    *node,
                  int            old_state,
                  int            new_state,
                  gpointer       data)
{
  GpCluster *c = data;
  GpEvent *ev;
  gboolean want;

  g_mutex_lock (&gp_lock);
  want = c->want_state;
  g_mutex_unlock (&gp_lock);
  if (!want)
    return;
  ev = g_new0 (GpEvent, 1);
  ev->kind = GP_EVENT_STATE;
  ev->node = gp_node_snap_new (node);
  ev->state = gossip_node_state_to_string ((GossipNodeState) new_state);
  gp_cluster_push_event (c, ev);
}

static void
on_metadata_changed (GossipCluster *cluster,
                     GossipNode    *node,
                     gboolean       is_local,
                     gpointer       data)
{
  GpCluster *c = data;
  GpEvent *ev;
  gboolean want;

  /* The API reports remote nodes only (behaviour doc D15). */
  if (is_local)
    return;
  g_mutex_lock (&gp_lock);
  want = c->want_metadata;
  g_mutex_unlock (&gp_lock);
  if (!want)
    return;
  ev = g_new0 (GpEvent, 1);
  ev->kind = GP_EVENT_METADATA;
  ev->node = gp_node_snap_new (node);
  gp_cluster_push_event (c, ev);
}

static void
on_gossip_interval (GossipCluster *cluster,
                    GossipTick    *tick,
                    gpointer       data)
{
  GpCluster *c = data;
  GpEvent *ev;

  /* Holding the tick until the script's handlers ran keeps ticks from
   * piling up and lets slow handlers stretch the period (D20). */
  g_mutex_lock (&gp_lock);
  if (!c->want_tick || c->tick_pending || c->closed)
    {
      g_mutex_unlock (&gp_lock);
      return;
    }
  c->tick_pending = TRUE;
  g_mutex_unlock (&gp_lock);

  ev = g_new0 (GpEvent, 1);
  ev->kind = GP_EVENT_TICK;
  ev->tick = gossip_tick_ref (tick);
  gp_cluster_push_event (c, ev);
}

static void
on_message (GossipCluster *cluster,
            GossipMessage *message,
            gpointer       data)
{
  GpCluster *c = data;
  GpEvent *ev = g_new0 (GpEvent, 1);

  ev->kind = GP_EVENT_MESSAGE;
  ev->msg_type = gossip_message_get_message_type (message);
  ev->node = gp_node_snap_new (gossip_message_get_sender (message));
  ev->payload = g_variant_ref (gossip_message_get_payload (message));
  /* The request waits, with its deadline, until the script answers. */
  if (gossip_message_expects_reply (message))
    ev->request = g_object_ref (message);
  gp_cluster_push_event (c, ev);
}

/* ---- lifetime -------------------------------------------------------------------------- */

void
gp_cluster_stop_once (GossipCluster *cluster)
{
  g_mutex_lock (&stop_lock);
  gossip_cluster_stop (cluster);
  g_mutex_unlock (&stop_lock);
}

/* Script thread: stops the cluster for good and drops every link the
 * engine holds to @c (signal handlers, message handlers). */
void
gp_cluster_shutdown (GpCluster *c)
{
  GHashTable *types;

  c->stopping = TRUE;
  gp_cluster_close_events (c, "cluster is stopped");
  for (guint i = 0; i < G_N_ELEMENTS (c->signal_ids); i++)
    if (c->signal_ids[i] != 0)
      {
        g_signal_handler_disconnect (c->cluster, c->signal_ids[i]);
        c->signal_ids[i] = 0;
      }
  gp_cluster_stop_once (c->cluster);

  types = handled_types != NULL ? g_hash_table_lookup (handled_types, c) : NULL;
  if (types != NULL)
    {
      GHashTableIter iter;
      gpointer key;

      g_hash_table_iter_init (&iter, types);
      while (g_hash_table_iter_next (&iter, &key, NULL))
        gossip_cluster_unhandle (c->cluster, GPOINTER_TO_UINT (key), NULL, NULL);
      g_hash_table_remove (handled_types, c);
    }
  if (gp_clusters != NULL && g_ptr_array_remove (gp_clusters, c))
    gp_cluster_unref (c);
}

static gboolean
set_param (ScriptlingCall                *call,
           GossipConfig                  *config,
           const GossipConfigParamInfo   *info,
           const ScriptlingValue         *v)
{
  g_autoptr(GError) error = NULL;
  const char *name = info->name;
  const char *s;
  int64_t i;
  double d;
  bool b;
  gboolean ok;

  switch (info->kind)
    {
    case GOSSIP_PARAM_STRING:
    case GOSSIP_PARAM_BYTES:
      if (!gp_get_string (call, name, v, &s))
        return FALSE;
      ok = gossip_config_set_string (config, name, s, &error);
      break;
    case GOSSIP_PARAM_INT:
      if (!gp_get_int (call, name, v, &i))
        return FALSE;
      ok = gossip_config_set_int (config, name, i, &error);
      break;
    case GOSSIP_PARAM_DOUBLE:
      if (gp_api->value_get_int (v, &i))
        ok = gossip_config_set_int (config, name, i, &error);
      else if (gp_api->value_get_float (v, &d))
        ok = gossip_config_set_double (config, name, d, &error);
      else
        {
          gp_raise (call, SCRIPTLING_ERROR_TYPE, _("%s must be a number, not %s"), name, gp_type_name (v));
          return FALSE;
        }
      break;
    case GOSSIP_PARAM_BOOLEAN:
      if (!gp_api->value_get_bool (v, &b))
        {
          gp_raise (call, SCRIPTLING_ERROR_TYPE, _("%s must be a bool, not %s"), name, gp_type_name (v));
          return FALSE;
        }
      ok = gossip_config_set_boolean (config, name, b, &error);
      break;
    case GOSSIP_PARAM_STRV:
      {
        g_autoptr(GPtrArray) items = NULL;
        size_t n;

        if (gp_api->value_get_type (v) != SCRIPTLING_VALUE_LIST)
          {
            gp_raise (call, SCRIPTLING_ERROR_TYPE, _("%s must be a list of strings, not %s"), name, gp_type_name (v));
            return FALSE;
          }
        n = gp_api->list_get_length (v);
        items = g_ptr_array_new ();
        for (size_t k = 0; k < n; k++)
          {
            const ScriptlingValue *item = gp_api->list_get_item (v, k);
            const char *text = gp_api->value_get_string (item, NULL);

            if (text == NULL)
              {
                gp_raise (call, SCRIPTLING_ERROR_TYPE, _("%s[%zu] must be a string, not %s"),
                          name, k, gp_type_name (item));
                return FALSE;
              }
            g_ptr_array_add (items, (gpointer) text);
          }
        g_ptr_array_add (items, NULL);
        ok = gossip_config_set_strv (config, name, (const char * const *) items->pdata, &error);
      }
      break;
    case GOSSIP_PARAM_DURATION:
      if ((s = gp_api->value_get_string (v, NULL)) != NULL)
        ok = gossip_config_set_string (config, name, s, &error);
      else if (gp_api->value_get_int (v, &i))
        ok = gossip_config_set_int (config, name, i, &error);
      else if (gp_api->value_get_float (v, &d))
        ok = gossip_config_set_double (config, name, d, &error);
      else
        {
          gp_raise (call, SCRIPTLING_ERROR_TYPE,
                    _("%s must be a duration string such as \"5s\" or a number of seconds, not %s"),
                    name, gp_type_name (v));
          return FALSE;
        }
      break;
    case GOSSIP_PARAM_UNKNOWN:
    default:
      gp_raise (call, SCRIPTLING_ERROR_TYPE, _("create() got an unexpected keyword argument '%s'"), name);
      return FALSE;
    }
  if (!ok)
    {
      gp_raise_error (call, error);
      return FALSE;
    }
  return TRUE;
}

/* _Cluster(bind_addr="127.0.0.1:8000", **options): create(). */
static void *
cluster_new (ScriptlingCall               *call,
             size_t                        n_args,
             const ScriptlingValue *const *args,
             const ScriptlingValue        *kwargs,
             void                         *user_data)
{
  g_autoptr(GossipConfig) config = gossip_config_new ();
  g_autoptr(GError) error = NULL;
  GossipCluster *cluster;
  GpCluster *c;

  if (n_args > 1)
    {
      gp_raise (call, SCRIPTLING_ERROR_TYPE,
                _("create() takes at most 1 positional argument (%zu given); options are keyword-only"), n_args);
      return NULL;
    }
  if (n_args == 1 && !set_param (call, config, gossip_config_param_lookup ("bind_addr"), args[0]))
    return NULL;

  for (size_t k = 0; k < gp_api->dict_get_size (kwargs); k++)
    {
      const char *key = NULL;
      const ScriptlingValue *value = NULL;
      const GossipConfigParamInfo *info;

      gp_api->dict_get_entry (kwargs, k, &key, &value);
      if (g_str_equal (key, "_dispatch"))
        continue;
      info = gossip_config_param_lookup (key);
      if (info == NULL || !info->create_kwarg)
        {
          gp_raise (call, SCRIPTLING_ERROR_TYPE, _("create() got an unexpected keyword argument '%s'"), key);
          return NULL;
        }
      if (n_args == 1 && g_str_equal (key, "bind_addr"))
        {
          gp_raise (call, SCRIPTLING_ERROR_TYPE, _("create() got multiple values for argument 'bind_addr'"));
          return NULL;
        }
      if (!set_param (call, config, info, value))
        return NULL;
    }

  cluster = gossip_cluster_new (config, &error);
  if (cluster == NULL)
    {
      gp_raise_error (call, error);
      return NULL;
    }

  c = g_new0 (GpCluster, 1);
  c->ref_count = 1;                 /* the host's instance */
  c->key = gp_next_key ();
  c->cluster = cluster;
  g_queue_init (&c->events);
  c->signal_ids[0] = g_signal_connect_data (cluster, "node-state-changed", G_CALLBACK (on_state_changed),
                                            gp_cluster_ref (c), closure_unref, 0);
  c->signal_ids[1] = g_signal_connect_data (cluster, "node-metadata-changed", G_CALLBACK (on_metadata_changed),
                                            gp_cluster_ref (c), closure_unref, 0);
  c->signal_ids[2] = g_signal_connect_data (cluster, "gossip-interval", G_CALLBACK (on_gossip_interval),
                                            gp_cluster_ref (c), closure_unref, 0);
  g_ptr_array_add (gp_clusters, gp_cluster_ref (c));
  return c;
}

static void
cluster_free (void *instance,
              void *user_data)
{
  GpCluster *c = instance;

  c->destroyed = TRUE;
  /* A released cluster can no longer be used: stop it, and fail the calls
   * still waiting on it (the ABI asks destructors to complete them). */
  gp_ops_abandon_for (c->cluster, "the cluster object was released");
  gp_cluster_shutdown (c);
  gp_cluster_unref (c);
}

GpCluster *
gp_cluster_from_value (ScriptlingCall        *call,
                       const char            *fn,
                       const ScriptlingValue *v)
{
  GpCluster *c = v != NULL ? gp_api->object_get_instance (v, gp_cluster_class) : NULL;

  if (c == NULL)
    gp_raise (call, SCRIPTLING_ERROR_TYPE, _("%s() needs a cluster created by create(), not %s"),
              fn, v != NULL ? gp_type_name (v) : "nothing");
  return c;
}

/* ---- method helpers ----------------------------------------------------------------------- */

#define METHOD(name) \
  static ScriptlingValue *name (ScriptlingCall *call, void *instance, size_t n_args, \
                                const ScriptlingValue *const *args, const ScriptlingValue *kwargs, \
                                void *user_data)

/* Every call delivers the queued events before it returns. */
static ScriptlingValue *
finish (const ScriptlingValue *dispatch,
        ScriptlingValue       *result)
{
  gp_deliver_events (dispatch);
  return result;
}

static gboolean
check_not_stopping (ScriptlingCall *call,
                    GpCluster      *c)
{
  if (c->stopping)
    {
      gp_api->call_raise (call, SCRIPTLING_ERROR_RUNTIME, _("cluster is stopped"));
      return FALSE;
    }
  return TRUE;
}

/* Methods without parameters. */
static gboolean
no_args (ScriptlingCall                *call,
         const char                    *fn,
         size_t                         n_args,
         const ScriptlingValue *const  *args,
         const ScriptlingValue         *kwargs,
         const ScriptlingValue        **dispatch)
{
  return gp_parse_args (call, fn, n_args, args, kwargs, NULL, 0, NULL, dispatch);
}

static const char * const one_node_id[] = { "node_id", NULL };
static const char * const one_key[] = { "key", NULL };
static const char * const one_handler[] = { "handler", NULL };
static const char * const one_type[] = { "message_type", NULL };

/* ---- lifecycle -------------------------------------------------------------------------------- */

METHOD (m_start)
{
  GpCluster *c = instance;
  const ScriptlingValue *dispatch;
  g_autoptr(GError) error = NULL;

  if (!no_args (call, "start", n_args, args, kwargs, &dispatch) || !check_not_stopping (call, c))
    return finish (dispatch, NULL);
  if (!gossip_cluster_start (c->cluster, &error))
    gp_raise_error (call, error);
  return finish (dispatch, NULL);
}

METHOD (m_join)
{
  static const char * const names[] = { "peers", NULL };
  GpCluster *c = instance;
  const ScriptlingValue *v[1], *dispatch;
  g_autoptr(GPtrArray) peers = g_ptr_array_new_with_free_func (g_free);
  const char *s;
  GpOp *op;

  if (!gp_parse_args (call, "join", n_args, args, kwargs, names, 1, v, &dispatch) ||
      !check_not_stopping (call, c))
    return finish (dispatch, NULL);

  if ((s = gp_api->value_get_string (v[0], NULL)) != NULL)
    g_ptr_array_add (peers, g_strdup (s));
  else if (gp_api->value_get_type (v[0]) == SCRIPTLING_VALUE_LIST)
    {
      for (size_t k = 0; k < gp_api->list_get_length (v[0]); k++)
        {
          const ScriptlingValue *item = gp_api->list_get_item (v[0], k);

          if ((s = gp_api->value_get_string (item, NULL)) == NULL)
            {
              gp_raise (call, SCRIPTLING_ERROR_TYPE, _("peers[%zu] must be a string, not %s"), k, gp_type_name (item));
              return finish (dispatch, NULL);
            }
          g_ptr_array_add (peers, g_strdup (s));
        }
    }
  else
    {
      gp_raise (call, SCRIPTLING_ERROR_TYPE, _("peers must be a string or a list of strings, not %s"),
                gp_type_name (v[0]));
      return finish (dispatch, NULL);
    }
  if (peers->len == 0)
    {
      gp_api->call_raise (call, SCRIPTLING_ERROR_VALUE, _("join failed: no peers provided"));
      return finish (dispatch, NULL);
    }
  g_ptr_array_add (peers, NULL);

  gp_deliver_events (dispatch);
  op = gp_op_new (GP_OP_JOIN, call, dispatch);
  op->cluster = g_object_ref (c->cluster);
  op->peers = (char **) g_ptr_array_free (g_steal_pointer (&peers), FALSE);
  gp_op_start (op);
  return NULL;
}

METHOD (m_leave)
{
  GpCluster *c = instance;
  const ScriptlingValue *dispatch;
  GpOp *op;

  if (!no_args (call, "leave", n_args, args, kwargs, &dispatch) || !check_not_stopping (call, c))
    return finish (dispatch, NULL);
  gp_deliver_events (dispatch);
  op = gp_op_new (GP_OP_LEAVE, call, dispatch);
  op->cluster = g_object_ref (c->cluster);
  gp_op_start (op);
  return NULL;
}

METHOD (m_stop)
{
  GpCluster *c = instance;
  const ScriptlingValue *dispatch;
  GpOp *op;

  if (!no_args (call, "stop", n_args, args, kwargs, &dispatch) || c->stopping)
    return finish (dispatch, NULL);

  /* From now on the cluster is stopped for the script: later network
   * calls fail, queued requests fail now, no more events are delivered. */
  c->stopping = TRUE;
  gp_cluster_close_events (c, "cluster is stopped");

  op = gp_op_new (GP_OP_STOP, NULL, NULL);
  op->cluster = g_object_ref (c->cluster);
  op->owner = gp_cluster_ref (c);
  if (gp_in_handler ())
    {
      /* Called by a handler: the teardown never waits for the dispatcher
       * and finishes in the background, after this handler. */
      gp_op_start (op);
      return NULL;
    }
  op->call = call;
  op->dispatch = dispatch != NULL ? gp_api->value_ref (dispatch) : NULL;
  gp_op_start (op);
  return NULL;
}

/* ---- messaging ---------------------------------------------------------------------------------- */

static ScriptlingValue *
do_send (ScriptlingCall               *call,
         GpCluster                    *c,
         const char                   *fn,
         int                           target_kind,   /* 0 broadcast, 1 tagged, 2 direct */
         size_t                        n_args,
         const ScriptlingValue *const *args,
         const ScriptlingValue        *kwargs)
{
  static const char * const send_names[] = { "message_type", "data", "reliable", NULL };
  static const char * const tagged_names[] = { "tag", "message_type", "data", "reliable", NULL };
  static const char * const to_names[] = { "node_id", "message_type", "data", "reliable", NULL };
  const char * const *names = target_kind == 0 ? send_names : target_kind == 1 ? tagged_names : to_names;
  guint off = target_kind == 0 ? 0 : 1;
  const ScriptlingValue *v[4], *dispatch;
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) payload = NULL;
  const char *target = NULL;
  gboolean reliable;
  guint type;
  gboolean ok;

  if (!gp_parse_args (call, fn, n_args, args, kwargs, names, 2 + off, v, &dispatch))
    return finish (dispatch, NULL);
  if (off == 1 && !gp_get_string (call, target_kind == 1 ? "tag" : "node_id", v[0], &target))
    return finish (dispatch, NULL);
  if (!gp_get_message_type (call, "message_type", v[off], &type) ||
      !gp_get_bool (call, "reliable", v[off + 2], FALSE, &reliable) ||
      !check_not_stopping (call, c))
    return finish (dispatch, NULL);
  payload = gp_value_to_payload (v[off + 1], "data", &error);
  if (payload == NULL)
    {
      gp_raise_error (call, error);
      return finish (dispatch, NULL);
    }

  switch (target_kind)
    {
    case 0:
      ok = gossip_cluster_send (c->cluster, type, payload, reliable ? GOSSIP_SEND_RELIABLE : 0, &error);
      break;
    case 1:
      ok = gossip_cluster_send_tagged (c->cluster, target, type, payload, reliable ? GOSSIP_SEND_RELIABLE : 0, &error);
      break;
    default:
      ok = gossip_cluster_send_to (c->cluster, target, type, payload, reliable ? GOSSIP_SEND_RELIABLE : 0, &error);
      break;
    }
  if (!ok)
    gp_raise_error (call, error);
  return finish (dispatch, NULL);
}

METHOD (m_send)
{
  return do_send (call, instance, "send", 0, n_args, args, kwargs);
}

METHOD (m_send_tagged)
{
  return do_send (call, instance, "send_tagged", 1, n_args, args, kwargs);
}

METHOD (m_send_to)
{
  return do_send (call, instance, "send_to", 2, n_args, args, kwargs);
}

METHOD (m_send_request)
{
  static const char * const names[] = { "node_id", "message_type", "data", "timeout", NULL };
  GpCluster *c = instance;
  const ScriptlingValue *v[4], *dispatch;
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) payload = NULL;
  const char *node_id;
  gint64 timeout = 0;
  guint type;
  g_autoptr(GossipNode) node = NULL;
  GpOp *op;

  if (!gp_parse_args (call, "send_request", n_args, args, kwargs, names, 3, v, &dispatch) ||
      !gp_get_string (call, "node_id", v[0], &node_id) ||
      !gp_get_message_type (call, "message_type", v[1], &type) ||
      (v[3] != NULL && gp_api->value_get_type (v[3]) != SCRIPTLING_VALUE_NULL &&
       !gp_get_duration (call, "timeout", v[3], &timeout)) ||
      !check_not_stopping (call, c))
    return finish (dispatch, NULL);
  payload = gp_value_to_payload (v[2], "data", &error);
  if (payload == NULL)
    {
      gp_raise_error (call, error);
      return finish (dispatch, NULL);
    }
  /* Checked here too, so that a bad target fails at once. */
  node = gossip_cluster_get_node (c->cluster, node_id);
  if (node == NULL || gossip_node_get_state (node) == GOSSIP_NODE_DEAD)
    {
      gp_raise (call, SCRIPTLING_ERROR_RUNTIME, _("node not found: %s"), node_id);
      return finish (dispatch, NULL);
    }

  gp_deliver_events (dispatch);
  op = gp_op_new (GP_OP_REQUEST, call, dispatch);
  op->cluster = g_object_ref (c->cluster);
  op->node_id = g_strdup (node_id);
  op->msg_type = type;
  op->payload = g_steal_pointer (&payload);
  op->timeout_us = timeout;
  gp_op_start (op);
  return NULL;
}

static ScriptlingValue *
do_handle (ScriptlingCall               *call,
           GpCluster                    *c,
           gboolean                      with_reply,
           size_t                        n_args,
           const ScriptlingValue *const *args,
           const ScriptlingValue        *kwargs)
{
  static const char * const names[] = { "message_type", "handler", NULL };
  const char *fn = with_reply ? "handle_with_reply" : "handle";
  const ScriptlingValue *v[2], *dispatch;
  g_autoptr(GError) error = NULL;
  GHashTable *types;
  gboolean present;
  guint type;

  if (!gp_parse_args (call, fn, n_args, args, kwargs, names, 2, v, &dispatch) ||
      !gp_get_message_type (call, "message_type", v[0], &type) ||
      !gp_get_callable (call, "handler", v[1], FALSE, &present))
    return finish (dispatch, NULL);

  /* Handlers run on the engine thread: they only queue the message. */
  if (!gossip_cluster_handle (c->cluster, type, with_reply, gossip_cluster_get_context (c->cluster),
                              on_message, gp_cluster_ref (c), (GDestroyNotify) gp_cluster_unref, &error))
    {
      /* A refused registration does not take the reference. */
      gp_cluster_unref (c);
      gp_raise_error (call, error);
      return finish (dispatch, NULL);
    }
  if (handled_types == NULL)
    handled_types = g_hash_table_new_full (NULL, NULL, NULL, (GDestroyNotify) g_hash_table_unref);
  types = g_hash_table_lookup (handled_types, c);
  if (types == NULL)
    {
      types = g_hash_table_new (NULL, NULL);
      g_hash_table_insert (handled_types, c, types);
    }
  g_hash_table_add (types, GUINT_TO_POINTER (type));
  /* The wrapper keeps the handler; it learns the checked type from here. */
  return finish (dispatch, gp_api->value_new_int (type));
}

METHOD (m_handle)
{
  return do_handle (call, instance, FALSE, n_args, args, kwargs);
}

METHOD (m_handle_with_reply)
{
  return do_handle (call, instance, TRUE, n_args, args, kwargs);
}

METHOD (m_unhandle)
{
  GpCluster *c = instance;
  const ScriptlingValue *v[1], *dispatch;
  g_autoptr(GError) error = NULL;
  gboolean removed = FALSE;
  GHashTable *types;
  guint type;

  if (!gp_parse_args (call, "unhandle", n_args, args, kwargs, one_type, 1, v, &dispatch) ||
      !gp_get_message_type (call, "message_type", v[0], &type))
    return finish (dispatch, NULL);
  if (!gossip_cluster_unhandle (c->cluster, type, &removed, &error))
    {
      gp_raise_error (call, error);
      return finish (dispatch, NULL);
    }
  types = handled_types != NULL ? g_hash_table_lookup (handled_types, c) : NULL;
  if (types != NULL)
    g_hash_table_remove (types, GUINT_TO_POINTER (type));
  return finish (dispatch, gp_api->value_new_bool (removed));
}

static ScriptlingValue *
do_on (ScriptlingCall               *call,
       GpCluster                    *c,
       const char                   *fn,
       gboolean                     *flag,
       size_t                        n_args,
       const ScriptlingValue *const *args,
       const ScriptlingValue        *kwargs)
{
  const ScriptlingValue *v[1], *dispatch;
  gboolean present;

  if (!gp_parse_args (call, fn, n_args, args, kwargs, one_handler, 1, v, &dispatch) ||
      !gp_get_callable (call, "handler", v[0], FALSE, &present))
    return finish (dispatch, NULL);
  g_mutex_lock (&gp_lock);
  *flag = TRUE;
  g_mutex_unlock (&gp_lock);
  return finish (dispatch, NULL);
}

METHOD (m_on_state_change)
{
  GpCluster *c = instance;
  return do_on (call, c, "on_state_change", &c->want_state, n_args, args, kwargs);
}

METHOD (m_on_metadata_change)
{
  GpCluster *c = instance;
  return do_on (call, c, "on_metadata_change", &c->want_metadata, n_args, args, kwargs);
}

METHOD (m_on_gossip_interval)
{
  GpCluster *c = instance;
  return do_on (call, c, "on_gossip_interval", &c->want_tick, n_args, args, kwargs);
}

/* ---- queries ------------------------------------------------------------------------------------------ */

typedef GPtrArray *(*NodesFunc) (GossipCluster *cluster);

static ScriptlingValue *
do_nodes (ScriptlingCall               *call,
          GpCluster                    *c,
          const char                   *fn,
          NodesFunc                     func,
          size_t                        n_args,
          const ScriptlingValue *const *args,
          const ScriptlingValue        *kwargs)
{
  const ScriptlingValue *dispatch;
  g_autoptr(GPtrArray) nodes = NULL;

  if (!no_args (call, fn, n_args, args, kwargs, &dispatch))
    return finish (dispatch, NULL);
  nodes = func (c->cluster);
  return finish (dispatch, gp_node_list_to_value (nodes));
}

METHOD (m_nodes)
{
  return do_nodes (call, instance, "nodes", gossip_cluster_get_nodes, n_args, args, kwargs);
}

METHOD (m_alive_nodes)
{
  return do_nodes (call, instance, "alive_nodes", gossip_cluster_get_alive_nodes, n_args, args, kwargs);
}

METHOD (m_candidates)
{
  return do_nodes (call, instance, "candidates", gossip_cluster_get_candidates, n_args, args, kwargs);
}

METHOD (m_nodes_by_tag)
{
  static const char * const names[] = { "tag", NULL };
  GpCluster *c = instance;
  const ScriptlingValue *v[1], *dispatch;
  g_autoptr(GPtrArray) nodes = NULL;
  const char *tag;

  if (!gp_parse_args (call, "nodes_by_tag", n_args, args, kwargs, names, 1, v, &dispatch) ||
      !gp_get_string (call, "tag", v[0], &tag))
    return finish (dispatch, NULL);
  nodes = gossip_cluster_get_nodes_by_tag (c->cluster, tag);
  return finish (dispatch, gp_node_list_to_value (nodes));
}

METHOD (m_get_node)
{
  GpCluster *c = instance;
  const ScriptlingValue *v[1], *dispatch;
  g_autoptr(GossipNode) node = NULL;
  const char *id;

  if (!gp_parse_args (call, "get_node", n_args, args, kwargs, one_node_id, 1, v, &dispatch) ||
      !gp_get_string (call, "node_id", v[0], &id))
    return finish (dispatch, NULL);
  node = gossip_cluster_get_node (c->cluster, id);
  return finish (dispatch, node != NULL ? gp_node_to_value (node) : NULL);
}

METHOD (m_local_node)
{
  GpCluster *c = instance;
  const ScriptlingValue *dispatch;
  g_autoptr(GossipNode) node = NULL;

  if (!no_args (call, "local_node", n_args, args, kwargs, &dispatch))
    return finish (dispatch, NULL);
  node = gossip_cluster_get_local_node (c->cluster);
  return finish (dispatch, gp_node_to_value (node));
}

static ScriptlingValue *
do_count (ScriptlingCall               *call,
          GpCluster                    *c,
          const char                   *fn,
          int                           state,   /* -1: all */
          size_t                        n_args,
          const ScriptlingValue *const *args,
          const ScriptlingValue        *kwargs)
{
  const ScriptlingValue *dispatch;
  guint n;

  if (!no_args (call, fn, n_args, args, kwargs, &dispatch))
    return finish (dispatch, NULL);
  n = state < 0 ? gossip_cluster_count_all (c->cluster) : gossip_cluster_count (c->cluster, (GossipNodeState) state);
  return finish (dispatch, gp_api->value_new_int (n));
}

METHOD (m_num_nodes)
{
  return do_count (call, instance, "num_nodes", -1, n_args, args, kwargs);
}

METHOD (m_num_alive)
{
  return do_count (call, instance, "num_alive", GOSSIP_NODE_ALIVE, n_args, args, kwargs);
}

METHOD (m_num_suspect)
{
  return do_count (call, instance, "num_suspect", GOSSIP_NODE_SUSPECT, n_args, args, kwargs);
}

METHOD (m_num_dead)
{
  return do_count (call, instance, "num_dead", GOSSIP_NODE_DEAD, n_args, args, kwargs);
}

METHOD (m_node_id)
{
  GpCluster *c = instance;
  const ScriptlingValue *dispatch;

  if (!no_args (call, "node_id", n_args, args, kwargs, &dispatch))
    return finish (dispatch, NULL);
  return finish (dispatch, gp_api->value_new_string (gossip_cluster_get_node_id (c->cluster)));
}

METHOD (m_is_local)
{
  GpCluster *c = instance;
  const ScriptlingValue *v[1], *dispatch;
  const char *id;

  if (!gp_parse_args (call, "is_local", n_args, args, kwargs, one_node_id, 1, v, &dispatch) ||
      !gp_get_string (call, "node_id", v[0], &id))
    return finish (dispatch, NULL);
  return finish (dispatch, gp_api->value_new_bool (gossip_cluster_is_local (c->cluster, id)));
}

/* ---- local metadata -------------------------------------------------------------------------------------- */

METHOD (m_set_metadata)
{
  static const char * const names[] = { "key", "value", NULL };
  GpCluster *c = instance;
  const ScriptlingValue *v[2], *dispatch;
  g_autoptr(GError) error = NULL;
  g_autofree char *text = NULL;
  const char *key;

  if (!gp_parse_args (call, "set_metadata", n_args, args, kwargs, names, 2, v, &dispatch) ||
      !gp_get_string (call, "key", v[0], &key) ||
      (text = gp_metadata_string (call, "value", v[1])) == NULL)
    return finish (dispatch, NULL);
  if (!gossip_cluster_set_metadata (c->cluster, key, text, &error))
    gp_raise_error (call, error);
  return finish (dispatch, NULL);
}

METHOD (m_get_metadata)
{
  GpCluster *c = instance;
  const ScriptlingValue *v[1], *dispatch;
  g_autofree char *value = NULL;
  const char *key;

  if (!gp_parse_args (call, "get_metadata", n_args, args, kwargs, one_key, 1, v, &dispatch) ||
      !gp_get_string (call, "key", v[0], &key))
    return finish (dispatch, NULL);
  value = gossip_cluster_get_metadata (c->cluster, key);
  return finish (dispatch, value != NULL ? gp_api->value_new_string (value) : NULL);
}

METHOD (m_all_metadata)
{
  GpCluster *c = instance;
  const ScriptlingValue *dispatch;
  g_autoptr(GHashTable) all = NULL;
  g_autofree gpointer *keys = NULL;
  ScriptlingValue *dict;
  guint n = 0;

  if (!no_args (call, "all_metadata", n_args, args, kwargs, &dispatch))
    return finish (dispatch, NULL);
  all = gossip_cluster_get_all_metadata (c->cluster);
  keys = g_hash_table_get_keys_as_array (all, &n);
  g_qsort_with_data (keys, (gint) n, sizeof (gpointer), gp_compare_strings, NULL);
  dict = gp_api->value_new_dict ();
  for (guint i = 0; i < n; i++)
    gp_api->dict_set (dict, keys[i], gp_api->value_new_string (g_hash_table_lookup (all, keys[i])));
  return finish (dispatch, dict);
}

METHOD (m_delete_metadata)
{
  GpCluster *c = instance;
  const ScriptlingValue *v[1], *dispatch;
  g_autoptr(GError) error = NULL;
  const char *key;

  if (!gp_parse_args (call, "delete_metadata", n_args, args, kwargs, one_key, 1, v, &dispatch) ||
      !gp_get_string (call, "key", v[0], &key))
    return finish (dispatch, NULL);
  if (!gossip_cluster_delete_metadata (c->cluster, key, &error))
    gp_raise_error (call, error);
  return finish (dispatch, NULL);
}

/* ---- wrapper support ---------------------------------------------------------------------------------------- */

METHOD (m_key)
{
  GpCluster *c = instance;
  const ScriptlingValue *dispatch;

  if (!no_args (call, "key", n_args, args, kwargs, &dispatch))
    return NULL;
  return gp_api->value_new_int (c->key);
}

void
gp_register_cluster_class (ScriptlingModule *module)
{
  static const struct {
    const char *name;
    ScriptlingMethodFunc func;
  } methods[] = {
    { "start", m_start },
    { "join", m_join },
    { "leave", m_leave },
    { "stop", m_stop },
    { "send", m_send },
    { "send_tagged", m_send_tagged },
    { "send_to", m_send_to },
    { "send_request", m_send_request },
    { "handle", m_handle },
    { "handle_with_reply", m_handle_with_reply },
    { "unhandle", m_unhandle },
    { "on_state_change", m_on_state_change },
    { "on_metadata_change", m_on_metadata_change },
    { "on_gossip_interval", m_on_gossip_interval },
    { "nodes", m_nodes },
    { "alive_nodes", m_alive_nodes },
    { "nodes_by_tag", m_nodes_by_tag },
    { "get_node", m_get_node },
    { "local_node", m_local_node },
    { "num_nodes", m_num_nodes },
    { "num_alive", m_num_alive },
    { "num_suspect", m_num_suspect },
    { "num_dead", m_num_dead },
    { "node_id", m_node_id },
    { "is_local", m_is_local },
    { "candidates", m_candidates },
    { "set_metadata", m_set_metadata },
    { "get_metadata", m_get_metadata },
    { "all_metadata", m_all_metadata },
    { "delete_metadata", m_delete_metadata },
    { "key", m_key },
  };

  gp_cluster_class = gp_api->module_add_class (module, "_Cluster",
                                               "Native cluster behind create(); use create()",
                                               cluster_new, cluster_free, NULL, NULL);
  if (gp_cluster_class == NULL)
    return;
  for (gsize i = 0; i < G_N_ELEMENTS (methods); i++)
    if (!gp_api->class_add_method (gp_cluster_class, methods[i].name, NULL, methods[i].func, NULL, NULL))
      {
        gp_cluster_class = NULL;
        return;
      }
}
