/* gossip-plugin-group.c — the native classes _NodeGroup and _LeaderElection
 * behind the wrapper's NodeGroup and LeaderElection.
 *
 * SPDX-License-Identifier: MIT
 *
 * Their signals are queued on the owning cluster's FIFO, tagged with the
 * object's key, so that cluster, group and election events reach the
 * script in the order they happened.
 */
#include "config.h"

#include <inttypes.h>
#include <string.h>

#include "gossip-plugin-private.h"

#define METHOD(name) \
  static ScriptlingValue *name (ScriptlingCall *call, void *instance, size_t n_args, \
                                const ScriptlingValue *const *args, const ScriptlingValue *kwargs, \
                                void *user_data)

static ScriptlingValue *
finish (const ScriptlingValue *dispatch,
        ScriptlingValue       *result)
{
  gp_deliver_events (dispatch);
  return result;
}

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

/* send_to_peers(message_type, data, reliable=False) of groups and elections. */
static gboolean
parse_send (ScriptlingCall                *call,
            size_t                         n_args,
            const ScriptlingValue *const  *args,
            const ScriptlingValue         *kwargs,
            guint                         *type,
            GVariant                     **payload,
            gboolean                      *reliable,
            const ScriptlingValue        **dispatch)
{
  static const char * const names[] = { "message_type", "data", "reliable", NULL };
  const ScriptlingValue *v[3];
  g_autoptr(GError) error = NULL;

  if (!gp_parse_args (call, "send_to_peers", n_args, args, kwargs, names, 2, v, dispatch) ||
      !gp_get_message_type (call, "message_type", v[0], type) ||
      !gp_get_bool (call, "reliable", v[2], FALSE, reliable))
    return FALSE;
  *payload = gp_value_to_payload (v[1], "data", &error);
  if (*payload == NULL)
    {
      gp_raise_error (call, error);
      return FALSE;
    }
  return TRUE;
}

/* ==== _NodeGroup ======================================================================= */

typedef struct {
  guint            key;
  GpCluster       *owner;
  GossipNodeGroup *group;
  gboolean         want_added;
  gboolean         want_removed;
  gulong           added_id;
  gulong           removed_id;
} GpGroup;

static void
push_group_event (GpGroup     *g,
                  GpEventKind  kind,
                  GossipNode  *node)
{
  GpEvent *ev = g_new0 (GpEvent, 1);

  ev->kind = kind;
  ev->sub_key = g->key;
  ev->node = gp_node_snap_new (node);
  gp_cluster_push_event (g->owner, ev);
}

static void
on_node_added (GossipNodeGroup *group,
               GossipNode      *node,
               gpointer         data)
{
  GpGroup *g = data;

  if (g->want_added)
    push_group_event (g, GP_EVENT_NODE_ADDED, node);
}

static void
on_node_removed (GossipNodeGroup *group,
                 GossipNode      *node,
                 gpointer         data)
{
  GpGroup *g = data;

  if (g->want_removed)
    push_group_event (g, GP_EVENT_NODE_REMOVED, node);
}

/* _NodeGroup(cluster, criteria, on_node_added=None, on_node_removed=None) */
static void *
group_new (ScriptlingCall               *call,
           size_t                        n_args,
           const ScriptlingValue *const *args,
           const ScriptlingValue        *kwargs,
           void                         *user_data)
{
  static const char * const names[] = { "criteria", "on_node_added", "on_node_removed", NULL };
  const ScriptlingValue *v[3], *dispatch;
  g_autoptr(GHashTable) criteria = NULL;
  g_autoptr(GError) error = NULL;
  gboolean want_added = FALSE, want_removed = FALSE;
  GossipNodeGroup *group;
  GpCluster *owner;
  GpGroup *g;

  owner = gp_cluster_from_value (call, "create_node_group", n_args > 0 ? args[0] : NULL);
  if (owner == NULL)
    return NULL;
  if (!gp_parse_args (call, "create_node_group", n_args - 1, args + 1, kwargs, names, 1, v, &dispatch) ||
      (criteria = gp_get_criteria (call, "criteria", v[0])) == NULL ||
      (v[1] != NULL && !gp_get_callable (call, "on_node_added", v[1], TRUE, &want_added)) ||
      (v[2] != NULL && !gp_get_callable (call, "on_node_removed", v[2], TRUE, &want_removed)))
    return NULL;
  if (owner->stopping)
    {
      gp_api->call_raise (call, SCRIPTLING_ERROR_RUNTIME, _("cluster is stopped"));
      return NULL;
    }

  group = gossip_node_group_new (owner->cluster, criteria, &error);
  if (group == NULL)
    {
      gp_raise_error (call, error);
      return NULL;
    }
  g = g_new0 (GpGroup, 1);
  g->key = gp_next_key ();
  g->owner = gp_cluster_ref (owner);
  g->group = group;
  g->want_added = want_added;
  g->want_removed = want_removed;
  /* Closing the group (here, or when the cluster stops) disconnects these
   * on the engine thread before returning, so @g outlives every emission. */
  g->added_id = g_signal_connect (group, "node-added", G_CALLBACK (on_node_added), g);
  g->removed_id = g_signal_connect (group, "node-removed", G_CALLBACK (on_node_removed), g);
  return g;
}

static void
group_free (void *instance,
            void *user_data)
{
  GpGroup *g = instance;

  gossip_node_group_close (g->group);
  g_clear_signal_handler (&g->added_id, g->group);
  g_clear_signal_handler (&g->removed_id, g->group);
  g_object_unref (g->group);
  gp_cluster_unref (g->owner);
  g_free (g);
}

METHOD (g_key)
{
  GpGroup *g = instance;
  const ScriptlingValue *dispatch;

  if (!no_args (call, "key", n_args, args, kwargs, &dispatch))
    return NULL;
  return gp_api->value_new_int (g->key);
}

/* Starts tracking once the wrapper is ready to route the group's events;
 * the initial members' on_node_added run before this returns. */
METHOD (g_start)
{
  GpGroup *g = instance;
  const ScriptlingValue *dispatch;

  if (!no_args (call, "start", n_args, args, kwargs, &dispatch))
    return finish (dispatch, NULL);
  gossip_node_group_start (g->group);
  return finish (dispatch, NULL);
}

METHOD (g_nodes)
{
  GpGroup *g = instance;
  const ScriptlingValue *dispatch;
  g_autoptr(GPtrArray) nodes = NULL;

  if (!no_args (call, "nodes", n_args, args, kwargs, &dispatch))
    return finish (dispatch, NULL);
  nodes = gossip_node_group_get_nodes (g->group);
  return finish (dispatch, gp_node_list_to_value (nodes));
}

METHOD (g_contains)
{
  static const char * const names[] = { "node_id", NULL };
  GpGroup *g = instance;
  const ScriptlingValue *v[1], *dispatch;
  const char *id;

  if (!gp_parse_args (call, "contains", n_args, args, kwargs, names, 1, v, &dispatch) ||
      !gp_get_string (call, "node_id", v[0], &id))
    return finish (dispatch, NULL);
  return finish (dispatch, gp_api->value_new_bool (gossip_node_group_contains (g->group, id)));
}

METHOD (g_count)
{
  GpGroup *g = instance;
  const ScriptlingValue *dispatch;

  if (!no_args (call, "count", n_args, args, kwargs, &dispatch))
    return finish (dispatch, NULL);
  return finish (dispatch, gp_api->value_new_int (gossip_node_group_count (g->group)));
}

METHOD (g_send_to_peers)
{
  GpGroup *g = instance;
  const ScriptlingValue *dispatch;
  g_autoptr(GVariant) payload = NULL;
  g_autoptr(GError) error = NULL;
  gboolean reliable;
  guint type;

  if (!parse_send (call, n_args, args, kwargs, &type, &payload, &reliable, &dispatch))
    return finish (dispatch, NULL);
  if (gossip_node_group_is_closed (g->group))
    {
      gp_api->call_raise (call, SCRIPTLING_ERROR_RUNTIME, _("node group is closed"));
      return finish (dispatch, NULL);
    }
  if (g->owner->stopping)
    {
      gp_api->call_raise (call, SCRIPTLING_ERROR_RUNTIME, _("cluster is stopped"));
      return finish (dispatch, NULL);
    }
  if (!gossip_node_group_send_to_peers (g->group, type, payload,
                                        reliable ? GOSSIP_SEND_RELIABLE : 0, &error))
    gp_raise_error (call, error);
  return finish (dispatch, NULL);
}

METHOD (g_close)
{
  GpGroup *g = instance;
  const ScriptlingValue *dispatch;

  if (!no_args (call, "close", n_args, args, kwargs, &dispatch))
    return finish (dispatch, NULL);
  gossip_node_group_close (g->group);
  return finish (dispatch, NULL);
}

/* ==== _LeaderElection ===================================================================== */

static const char * const election_events[] = { "elected", "lost", "became_leader", "stepped_down" };
static const char * const election_signals[] = { "elected", "lost", "became-leader", "stepped-down" };

typedef struct {
  guint                 key;
  GpCluster            *owner;
  GossipLeaderElection *election;
  gulong                ids[4];
  guint                 wanted;      /* bit per event, under gp_lock */
} GpElection;

typedef struct {
  GpElection *e;
  guint       index;
} ElectionSignal;

static void
on_election_event (GossipLeaderElection *election,
                   const char           *node_id,
                   gpointer              data)
{
  ElectionSignal *s = data;
  GpElection *e = s->e;
  GpEvent *ev;
  gboolean want;

  g_mutex_lock (&gp_lock);
  want = (e->wanted & (1u << s->index)) != 0;
  g_mutex_unlock (&gp_lock);
  if (!want)
    return;
  ev = g_new0 (GpEvent, 1);
  ev->kind = GP_EVENT_ELECTION;
  ev->sub_key = e->key;
  ev->election_event = election_events[s->index];
  ev->node_id = g_strdup (node_id);
  gp_cluster_push_event (e->owner, ev);
}

static void
election_signal_free (gpointer  data,
                      GClosure *closure)
{
  g_free (data);
}

/* _LeaderElection(cluster, check_interval="1s", leader_timeout="3s",
 *                 heartbeat_msg_type=65, quorum_percentage=60, metadata_criteria=None) */
static void *
election_new (ScriptlingCall               *call,
              size_t                        n_args,
              const ScriptlingValue *const *args,
              const ScriptlingValue        *kwargs,
              void                         *user_data)
{
  static const char * const names[] = {
    "check_interval", "leader_timeout", "heartbeat_msg_type", "quorum_percentage", "metadata_criteria", NULL
  };
  const ScriptlingValue *v[5], *dispatch;
  g_autoptr(GHashTable) criteria = NULL;
  g_autoptr(GError) error = NULL;
  gint64 check_interval = G_USEC_PER_SEC, leader_timeout = 3 * G_USEC_PER_SEC;
  gint64 heartbeat = GOSSIP_ELECTION_DEFAULT_HEARTBEAT_TYPE, quorum = 60;
  GossipLeaderElection *election;
  GpCluster *owner;
  GpElection *e;

  owner = gp_cluster_from_value (call, "create_leader_election", n_args > 0 ? args[0] : NULL);
  if (owner == NULL)
    return NULL;
  if (!gp_parse_args (call, "create_leader_election", n_args - 1, args + 1, kwargs, names, 0, v, &dispatch) ||
      (v[0] != NULL && !gp_get_duration (call, "check_interval", v[0], &check_interval)) ||
      (v[1] != NULL && !gp_get_duration (call, "leader_timeout", v[1], &leader_timeout)) ||
      (v[2] != NULL && !gp_get_int (call, "heartbeat_msg_type", v[2], &heartbeat)) ||
      (v[3] != NULL && !gp_get_int (call, "quorum_percentage", v[3], &quorum)))
    return NULL;
  if (heartbeat < 64 || heartbeat > 65535)
    {
      gp_raise (call, SCRIPTLING_ERROR_VALUE,
                _("heartbeat_msg_type must be between 64 and 65535 (got %" PRId64 ")"), heartbeat);
      return NULL;
    }
  if (quorum < 1 || quorum > 100)
    {
      gp_raise (call, SCRIPTLING_ERROR_VALUE,
                _("quorum_percentage must be between 1 and 100 (got %" PRId64 ")"), quorum);
      return NULL;
    }
  if (v[4] != NULL && gp_api->value_get_type (v[4]) != SCRIPTLING_VALUE_NULL &&
      (criteria = gp_get_criteria (call, "metadata_criteria", v[4])) == NULL)
    return NULL;
  if (owner->stopping)
    {
      gp_api->call_raise (call, SCRIPTLING_ERROR_RUNTIME, _("cluster is stopped"));
      return NULL;
    }

  election = gossip_leader_election_new (owner->cluster, check_interval, leader_timeout, (guint) heartbeat,
                                         (guint) quorum, criteria, &error);
  if (election == NULL)
    {
      gp_raise_error (call, error);
      return NULL;
    }
  e = g_new0 (GpElection, 1);
  e->key = gp_next_key ();
  e->owner = gp_cluster_ref (owner);
  e->election = election;
  for (guint i = 0; i < G_N_ELEMENTS (election_signals); i++)
    {
      ElectionSignal *s = g_new0 (ElectionSignal, 1);

      s->e = e;
      s->index = i;
      e->ids[i] = g_signal_connect_data (election, election_signals[i], G_CALLBACK (on_election_event),
                                         s, election_signal_free, 0);
    }
  return e;
}

static void
election_free (void *instance,
               void *user_data)
{
  GpElection *e = instance;

  /* Stopping on the engine thread ends every emission before we go on. */
  gossip_leader_election_stop (e->election);
  for (guint i = 0; i < G_N_ELEMENTS (e->ids); i++)
    g_clear_signal_handler (&e->ids[i], e->election);
  g_object_unref (e->election);
  gp_cluster_unref (e->owner);
  g_free (e);
}

METHOD (e_key)
{
  GpElection *e = instance;
  const ScriptlingValue *dispatch;

  if (!no_args (call, "key", n_args, args, kwargs, &dispatch))
    return NULL;
  return gp_api->value_new_int (e->key);
}

METHOD (e_start)
{
  GpElection *e = instance;
  const ScriptlingValue *dispatch;
  g_autoptr(GError) error = NULL;

  if (!no_args (call, "start", n_args, args, kwargs, &dispatch))
    return finish (dispatch, NULL);
  if (e->owner->stopping)
    {
      gp_api->call_raise (call, SCRIPTLING_ERROR_RUNTIME, _("cluster is stopped"));
      return finish (dispatch, NULL);
    }
  if (!gossip_leader_election_start (e->election, &error))
    gp_raise_error (call, error);
  return finish (dispatch, NULL);
}

METHOD (e_stop)
{
  GpElection *e = instance;
  const ScriptlingValue *dispatch;
  GpOp *op;

  if (!no_args (call, "stop", n_args, args, kwargs, &dispatch))
    return finish (dispatch, NULL);
  gp_deliver_events (dispatch);
  op = gp_op_new (GP_OP_ELECTION_STOP, gp_in_handler () ? NULL : call, gp_in_handler () ? NULL : dispatch);
  op->election = g_object_ref (e->election);
  gp_op_start (op);
  return NULL;
}

METHOD (e_is_leader)
{
  GpElection *e = instance;
  const ScriptlingValue *dispatch;

  if (!no_args (call, "is_leader", n_args, args, kwargs, &dispatch))
    return finish (dispatch, NULL);
  return finish (dispatch, gp_api->value_new_bool (gossip_leader_election_is_leader (e->election)));
}

METHOD (e_has_leader)
{
  GpElection *e = instance;
  const ScriptlingValue *dispatch;

  if (!no_args (call, "has_leader", n_args, args, kwargs, &dispatch))
    return finish (dispatch, NULL);
  return finish (dispatch, gp_api->value_new_bool (gossip_leader_election_has_leader (e->election)));
}

METHOD (e_get_leader_id)
{
  GpElection *e = instance;
  const ScriptlingValue *dispatch;
  g_autofree char *id = NULL;

  if (!no_args (call, "get_leader_id", n_args, args, kwargs, &dispatch))
    return finish (dispatch, NULL);
  id = gossip_leader_election_get_leader_id (e->election);
  return finish (dispatch, id != NULL ? gp_api->value_new_string (id) : NULL);
}

METHOD (e_send_to_peers)
{
  GpElection *e = instance;
  const ScriptlingValue *dispatch;
  g_autoptr(GVariant) payload = NULL;
  g_autoptr(GError) error = NULL;
  gboolean reliable;
  guint type;

  if (!parse_send (call, n_args, args, kwargs, &type, &payload, &reliable, &dispatch))
    return finish (dispatch, NULL);
  if (e->owner->stopping)
    {
      gp_api->call_raise (call, SCRIPTLING_ERROR_RUNTIME, _("cluster is stopped"));
      return finish (dispatch, NULL);
    }
  if (!gossip_leader_election_send_to_peers (e->election, type, payload,
                                             reliable ? GOSSIP_SEND_RELIABLE : 0, &error))
    gp_raise_error (call, error);
  return finish (dispatch, NULL);
}

METHOD (e_on_event)
{
  static const char * const names[] = { "event_type", "handler", NULL };
  GpElection *e = instance;
  const ScriptlingValue *v[2], *dispatch;
  const char *event;
  gboolean present;
  guint i;

  if (!gp_parse_args (call, "on_event", n_args, args, kwargs, names, 2, v, &dispatch) ||
      !gp_get_string (call, "event_type", v[0], &event))
    return finish (dispatch, NULL);
  for (i = 0; i < G_N_ELEMENTS (election_events); i++)
    if (g_str_equal (event, election_events[i]))
      break;
  if (i == G_N_ELEMENTS (election_events))
    {
      gp_raise (call, SCRIPTLING_ERROR_VALUE,
                _("unknown event type: %s (use: elected, lost, became_leader, stepped_down)"), event);
      return finish (dispatch, NULL);
    }
  if (!gp_get_callable (call, "handler", v[1], FALSE, &present))
    return finish (dispatch, NULL);
  g_mutex_lock (&gp_lock);
  e->wanted |= 1u << i;
  g_mutex_unlock (&gp_lock);
  return finish (dispatch, NULL);
}

void
gp_register_group_classes (ScriptlingModule *module)
{
  static const struct {
    const char *name;
    ScriptlingMethodFunc func;
  } group_methods[] = {
    { "key", g_key },
    { "start", g_start },
    { "nodes", g_nodes },
    { "contains", g_contains },
    { "count", g_count },
    { "send_to_peers", g_send_to_peers },
    { "close", g_close },
  }, election_methods[] = {
    { "key", e_key },
    { "start", e_start },
    { "stop", e_stop },
    { "is_leader", e_is_leader },
    { "has_leader", e_has_leader },
    { "get_leader_id", e_get_leader_id },
    { "send_to_peers", e_send_to_peers },
    { "on_event", e_on_event },
  };

  gp_group_class = gp_api->module_add_class (module, "_NodeGroup",
                                             "Native node group behind Cluster.create_node_group()",
                                             group_new, group_free, NULL, NULL);
  for (gsize i = 0; gp_group_class != NULL && i < G_N_ELEMENTS (group_methods); i++)
    if (!gp_api->class_add_method (gp_group_class, group_methods[i].name, NULL, group_methods[i].func, NULL, NULL))
      gp_group_class = NULL;

  gp_election_class = gp_api->module_add_class (module, "_LeaderElection",
                                                "Native leader election behind Cluster.create_leader_election()",
                                                election_new, election_free, NULL, NULL);
  for (gsize i = 0; gp_election_class != NULL && i < G_N_ELEMENTS (election_methods); i++)
    if (!gp_api->class_add_method (gp_election_class, election_methods[i].name, NULL,
                                   election_methods[i].func, NULL, NULL))
      gp_election_class = NULL;
}
