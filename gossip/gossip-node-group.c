/* gossip-node-group.c — live set of nodes matching metadata criteria.
 *
 * SPDX-License-Identifier: MIT
 */
#include "config.h"

#include <string.h>

#include "gossip-node-group.h"
#include "gossip-error.h"
#include "gossip-private.h"

/**
 * SECTION:gossip-node-group
 * @title: GossipNodeGroup
 * @short_description: the live set of nodes matching metadata criteria
 *
 * A #GossipNodeGroup follows the members of a cluster whose metadata
 * matches criteria and tells when nodes enter or leave the set.
 * gossip_criteria_check() and gossip_criteria_match() expose the matching
 * rules to other users of criteria, such as #GossipLeaderElection.
 */

/**
 * GossipNodeGroup:
 *
 * Tracks the alive or suspect nodes (the local one included) whose metadata
 * matches a set of criteria: for each key, "*" means the key is present,
 * "~text" that its value contains text, anything else that its value
 * equals it. #GossipNodeGroup::node-added fires once when a node enters the
 * group (for the initial members too, when the group starts) and
 * #GossipNodeGroup::node-removed once when it leaves; nothing fires for
 * changes that do not move a node in or out. Signals are emitted on the
 * cluster's engine thread. After gossip_node_group_close() no signal fires
 * and the group is empty.
 */
struct _GossipNodeGroup
{
  GObject        parent_instance;
  GossipCluster *cluster;
  GHashTable    *criteria;          /* str -> str, owned copy */
  GMutex         lock;
  GHashTable    *members;           /* id -> GossipNode*, under @lock */
  gulong         state_handler;
  gulong         meta_handler;
  gboolean       started;
  gboolean       closed;            /* under @lock */
};

enum {
  SIGNAL_NODE_ADDED,
  SIGNAL_NODE_REMOVED,
  N_SIGNALS
};
static guint signals[N_SIGNALS];

G_DEFINE_FINAL_TYPE (GossipNodeGroup, gossip_node_group, G_TYPE_OBJECT)

/**
 * gossip_criteria_check:
 * @criteria: (element-type utf8 utf8): metadata criteria
 * @param_name: the parameter name used in the error message
 * @error: return location for a #GError
 *
 * Validates metadata criteria given for a parameter, as gossip_node_group_new() and gossip_leader_election_new() do.
 *
 * Returns: %TRUE if @criteria is a non-empty map of non-empty UTF-8 keys to
 *   UTF-8 values; otherwise %FALSE with %GOSSIP_CONFIG_ERROR_INVALID_VALUE
 */
gboolean
gossip_criteria_check (GHashTable  *criteria,
                       const char  *param_name,
                       GError     **error)
{
  GHashTableIter iter;
  gpointer k, v;

  if (criteria == NULL || g_hash_table_size (criteria) == 0)
    {
      g_set_error (error, GOSSIP_CONFIG_ERROR, GOSSIP_CONFIG_ERROR_INVALID_VALUE,
                   _("%s must be a non-empty dict"), param_name);
      return FALSE;
    }
  g_hash_table_iter_init (&iter, criteria);
  while (g_hash_table_iter_next (&iter, &k, &v))
    if (k == NULL || *(const char *) k == '\0' || !g_utf8_validate (k, -1, NULL) ||
        v == NULL || !g_utf8_validate (v, -1, NULL))
      {
        g_set_error (error, GOSSIP_CONFIG_ERROR, GOSSIP_CONFIG_ERROR_INVALID_VALUE,
                     _("%s keys must be non-empty strings and values strings"), param_name);
        return FALSE;
      }
  return TRUE;
}

/**
 * gossip_criteria_match:
 * @criteria: (element-type utf8 utf8): metadata criteria
 * @node: a node
 *
 * Tells whether a node's metadata satisfies criteria.
 *
 * Returns: whether every criterion holds for @node's metadata (its state is
 *   not considered)
 */
gboolean
gossip_criteria_match (GHashTable *criteria,
                       GossipNode *node)
{
  GHashTableIter iter;
  gpointer k, v;

  g_hash_table_iter_init (&iter, criteria);
  while (g_hash_table_iter_next (&iter, &k, &v))
    {
      const char *pattern = v;
      const char *value = gossip_node_get_metadata_value (node, k);

      if (value == NULL)
        return FALSE;
      if (g_str_equal (pattern, "*"))
        continue;
      if (pattern[0] == '~')
        {
          if (strstr (value, pattern + 1) == NULL)
            return FALSE;
        }
      else if (!g_str_equal (value, pattern))
        return FALSE;
    }
  return TRUE;
}

static gboolean
is_member_state (GossipNodeState s)
{
  return s == GOSSIP_NODE_ALIVE || s == GOSSIP_NODE_SUSPECT;
}

/* Engine thread: re-evaluates one node and fires exactly the transitions. */
static void
reconsider (GossipNodeGroup *self,
            GossipNode      *node)
{
  gboolean should = is_member_state (gossip_node_get_state (node)) &&
                    gossip_criteria_match (self->criteria, node);
  gboolean was;

  g_mutex_lock (&self->lock);
  if (self->closed)
    {
      g_mutex_unlock (&self->lock);
      return;
    }
  was = g_hash_table_contains (self->members, gossip_node_get_id (node));
  if (should)
    g_hash_table_replace (self->members, g_strdup (gossip_node_get_id (node)), gossip_node_ref (node));
  else if (was)
    g_hash_table_remove (self->members, gossip_node_get_id (node));
  g_mutex_unlock (&self->lock);

  if (should && !was)
    g_signal_emit (self, signals[SIGNAL_NODE_ADDED], 0, node);
  else if (!should && was)
    g_signal_emit (self, signals[SIGNAL_NODE_REMOVED], 0, node);
}

static void
on_state_changed (GossipCluster *cluster, GossipNode *node, int old_state, int new_state, gpointer data)
{
  reconsider (data, node);
}

static void
on_metadata_changed (GossipCluster *cluster, GossipNode *node, gboolean is_local, gpointer data)
{
  reconsider (data, node);
}

static gboolean
engine_start (gpointer data)
{
  GossipNodeGroup *self = data;
  g_autoptr(GPtrArray) nodes = NULL;

  self->state_handler = g_signal_connect (self->cluster, "node-state-changed",
                                          G_CALLBACK (on_state_changed), self);
  self->meta_handler = g_signal_connect (self->cluster, "node-metadata-changed",
                                         G_CALLBACK (on_metadata_changed), self);
  /* The current view: initial members fire node-added once each. */
  nodes = gossip_cluster_get_nodes (self->cluster);
  {
    g_autoptr(GossipNode) local = gossip_cluster_get_local_node (self->cluster);
    gboolean have_local = FALSE;
    for (guint i = 0; i < nodes->len; i++)
      have_local |= gossip_node_is_local (nodes->pdata[i]);
    if (!have_local)
      g_ptr_array_add (nodes, g_steal_pointer (&local));
  }
  for (guint i = 0; i < nodes->len; i++)
    reconsider (self, nodes->pdata[i]);
  return G_SOURCE_REMOVE;
}

/**
 * gossip_node_group_start:
 * @group: a #GossipNodeGroup
 *
 * Starts tracking: the current matching nodes are added (each firing
 * #GossipNodeGroup::node-added) before this returns, and changes are
 * followed from then on. Connect to the signals first. Idempotent.
 */
void
gossip_node_group_start (GossipNodeGroup *group)
{
  g_return_if_fail (GOSSIP_IS_NODE_GROUP (group));
  if (group->started || group->closed)
    return;
  group->started = TRUE;
  _gossip_cluster_invoke_sync (group->cluster, engine_start, group);
}

static gboolean
engine_close (gpointer data)
{
  GossipNodeGroup *self = data;

  g_clear_signal_handler (&self->state_handler, self->cluster);
  g_clear_signal_handler (&self->meta_handler, self->cluster);
  return G_SOURCE_REMOVE;
}

/**
 * gossip_node_group_close:
 * @group: a #GossipNodeGroup
 *
 * Stops tracking and empties the group. Idempotent; no signal fires after
 * it returns. Also called when the cluster stops.
 */
void
gossip_node_group_close (GossipNodeGroup *group)
{
  g_return_if_fail (GOSSIP_IS_NODE_GROUP (group));

  g_mutex_lock (&group->lock);
  if (group->closed)
    {
      g_mutex_unlock (&group->lock);
      return;
    }
  group->closed = TRUE;
  g_hash_table_remove_all (group->members);
  g_mutex_unlock (&group->lock);

  /* Disconnect on the engine thread, so no emission is in flight after. */
  _gossip_cluster_invoke_sync (group->cluster, engine_close, group);
  _gossip_cluster_remove_child (group->cluster, G_OBJECT (group));
}

static void
child_stop (GObject *child)
{
  gossip_node_group_close (GOSSIP_NODE_GROUP (child));
}

/**
 * gossip_node_group_is_closed:
 * @group: a #GossipNodeGroup
 *
 * Tells whether gossip_node_group_close() was called.
 *
 * Returns: whether the group was closed
 */
gboolean
gossip_node_group_is_closed (GossipNodeGroup *group)
{
  gboolean closed;

  g_return_val_if_fail (GOSSIP_IS_NODE_GROUP (group), TRUE);
  g_mutex_lock (&group->lock);
  closed = group->closed;
  g_mutex_unlock (&group->lock);
  return closed;
}

static void
gossip_node_group_dispose (GObject *object)
{
  GossipNodeGroup *self = GOSSIP_NODE_GROUP (object);

  if (self->cluster != NULL)
    gossip_node_group_close (self);
  G_OBJECT_CLASS (gossip_node_group_parent_class)->dispose (object);
}

static void
gossip_node_group_finalize (GObject *object)
{
  GossipNodeGroup *self = GOSSIP_NODE_GROUP (object);

  g_clear_object (&self->cluster);
  g_clear_pointer (&self->criteria, g_hash_table_unref);
  g_clear_pointer (&self->members, g_hash_table_unref);
  g_mutex_clear (&self->lock);
  G_OBJECT_CLASS (gossip_node_group_parent_class)->finalize (object);
}

static void
gossip_node_group_class_init (GossipNodeGroupClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = gossip_node_group_dispose;
  object_class->finalize = gossip_node_group_finalize;

  /**
   * GossipNodeGroup::node-added:
   * @group: the group
   * @node: the node that entered the group
   *
   * Emitted on the engine thread.
   */
  signals[SIGNAL_NODE_ADDED] =
    g_signal_new ("node-added", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 1, GOSSIP_TYPE_NODE);

  /**
   * GossipNodeGroup::node-removed:
   * @group: the group
   * @node: the node that left the group (its new state or metadata)
   *
   * Emitted on the engine thread.
   */
  signals[SIGNAL_NODE_REMOVED] =
    g_signal_new ("node-removed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 1, GOSSIP_TYPE_NODE);
}

static void
gossip_node_group_init (GossipNodeGroup *self)
{
  g_mutex_init (&self->lock);
  self->members = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                         (GDestroyNotify) gossip_node_unref);
}

/**
 * gossip_node_group_new:
 * @cluster: a #GossipCluster
 * @criteria: (element-type utf8 utf8): non-empty metadata criteria (copied)
 * @error: return location for a #GError
 *
 * Creates a group. Connect to its signals, then call
 * gossip_node_group_start().
 *
 * Returns: (transfer full): a new group, or %NULL with %GOSSIP_CONFIG_ERROR
 *   for bad criteria or %GOSSIP_CLUSTER_ERROR_STOPPED
 */
GossipNodeGroup *
gossip_node_group_new (GossipCluster *cluster,
                       GHashTable    *criteria,
                       GError       **error)
{
  GossipNodeGroup *self;
  GHashTableIter iter;
  gpointer k, v;

  g_return_val_if_fail (GOSSIP_IS_CLUSTER (cluster), NULL);

  if (!gossip_criteria_check (criteria, "criteria", error))
    return NULL;
  if (gossip_cluster_is_stopped (cluster))
    {
      g_set_error_literal (error, GOSSIP_CLUSTER_ERROR, GOSSIP_CLUSTER_ERROR_STOPPED,
                           _("cluster is stopped"));
      return NULL;
    }

  self = g_object_new (GOSSIP_TYPE_NODE_GROUP, NULL);
  self->cluster = g_object_ref (cluster);
  self->criteria = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  g_hash_table_iter_init (&iter, criteria);
  while (g_hash_table_iter_next (&iter, &k, &v))
    g_hash_table_insert (self->criteria, g_strdup (k), g_strdup (v));
  _gossip_cluster_add_child (cluster, G_OBJECT (self), child_stop);
  return self;
}

/**
 * gossip_node_group_get_cluster:
 * @group: a #GossipNodeGroup
 *
 * Gets the cluster the group watches.
 *
 * Returns: (transfer none): the cluster
 */
GossipCluster *
gossip_node_group_get_cluster (GossipNodeGroup *group)
{
  g_return_val_if_fail (GOSSIP_IS_NODE_GROUP (group), NULL);
  return group->cluster;
}

/**
 * gossip_node_group_get_nodes:
 * @group: a #GossipNodeGroup
 *
 * Lists the members of the group.
 *
 * Returns: (transfer container) (element-type GossipNode): the current members
 */
GPtrArray *
gossip_node_group_get_nodes (GossipNodeGroup *group)
{
  GPtrArray *out = g_ptr_array_new_with_free_func ((GDestroyNotify) gossip_node_unref);
  GHashTableIter iter;
  gpointer v;

  g_return_val_if_fail (GOSSIP_IS_NODE_GROUP (group), out);
  g_mutex_lock (&group->lock);
  g_hash_table_iter_init (&iter, group->members);
  while (g_hash_table_iter_next (&iter, NULL, &v))
    g_ptr_array_add (out, gossip_node_ref (v));
  g_mutex_unlock (&group->lock);
  return out;
}

/**
 * gossip_node_group_contains:
 * @group: a #GossipNodeGroup
 * @node_id: a node id in any UUID spelling
 *
 * Tells whether a node is a member of the group.
 *
 * Returns: whether the node is a member (%FALSE for malformed ids)
 */
gboolean
gossip_node_group_contains (GossipNodeGroup *group,
                            const char      *node_id)
{
  g_autofree char *canon = NULL;
  gboolean r;

  g_return_val_if_fail (GOSSIP_IS_NODE_GROUP (group), FALSE);
  if (node_id == NULL || (canon = gossip_uuid_normalize (node_id)) == NULL)
    return FALSE;
  g_mutex_lock (&group->lock);
  r = g_hash_table_contains (group->members, canon);
  g_mutex_unlock (&group->lock);
  return r;
}

/**
 * gossip_node_group_count:
 * @group: a #GossipNodeGroup
 *
 * Counts the members of the group.
 *
 * Returns: the number of members
 */
guint
gossip_node_group_count (GossipNodeGroup *group)
{
  guint n;

  g_return_val_if_fail (GOSSIP_IS_NODE_GROUP (group), 0);
  g_mutex_lock (&group->lock);
  n = g_hash_table_size (group->members);
  g_mutex_unlock (&group->lock);
  return n;
}

/**
 * gossip_node_group_send_to_peers:
 * @group: a #GossipNodeGroup
 * @type: a user message type (128..65535)
 * @payload: (nullable): the payload
 * @flags: #GossipSendFlags
 * @error: return location for a #GError
 *
 * Sends directly to every member other than the local node, in random
 * order. Members that vanished meanwhile are skipped.
 *
 * Returns: %TRUE, or %FALSE with "node group is closed", a type, payload or
 *   lifecycle error
 */
gboolean
gossip_node_group_send_to_peers (GossipNodeGroup *group,
                                 guint            type,
                                 GVariant        *payload,
                                 GossipSendFlags  flags,
                                 GError         **error)
{
  g_autoptr(GPtrArray) nodes = NULL;
  g_autoptr(GVariant) owned = payload ? g_variant_ref_sink (payload) : NULL;

  g_return_val_if_fail (GOSSIP_IS_NODE_GROUP (group), FALSE);
  if (gossip_node_group_is_closed (group))
    {
      g_set_error_literal (error, GOSSIP_CLUSTER_ERROR, GOSSIP_CLUSTER_ERROR_FAILED,
                           _("node group is closed"));
      return FALSE;
    }
  if (!gossip_cluster_check_message_type (type, error))
    return FALSE;

  nodes = gossip_node_group_get_nodes (group);
  for (guint i = nodes->len; i > 1; i--)
    {
      guint j = g_random_int_range (0, (gint32) i);
      gpointer tmp = nodes->pdata[i - 1];
      nodes->pdata[i - 1] = nodes->pdata[j];
      nodes->pdata[j] = tmp;
    }
  for (guint i = 0; i < nodes->len; i++)
    {
      g_autoptr(GError) local_error = NULL;
      GossipNode *n = nodes->pdata[i];

      if (gossip_node_is_local (n))
        continue;
      if (!gossip_cluster_send_to (group->cluster, gossip_node_get_id (n), type, owned, flags, &local_error))
        {
          if (g_error_matches (local_error, GOSSIP_CLUSTER_ERROR, GOSSIP_CLUSTER_ERROR_NODE_NOT_FOUND))
            continue;
          g_propagate_error (error, g_steal_pointer (&local_error));
          return FALSE;
        }
    }
  return TRUE;
}
