/* gossip-cluster-queries.c — GossipCluster's queries (nodes, counts,
 * stats) and the local metadata.
 *
 * Queries read the snapshots published under GossipCluster.lock and may be
 * called from any thread; metadata changes are stored under the lock, then
 * announced by the engine.
 *
 * SPDX-License-Identifier: MIT
 */
#include "config.h"

#include <string.h>

#include "gossip-cluster.h"
#include "gossip-error.h"
#include "gossip-http-transport.h"
#include "gossip-private.h"
#include "gossip-transport-private.h"

/* ------------------------------------------------------------------------ */
/* Queries                                                                   */
/* ------------------------------------------------------------------------ */

typedef gboolean (*NodeFilter) (GossipNode *node, gconstpointer data);

static GPtrArray *
collect_nodes (GossipCluster *self,
               NodeFilter     filter,
               gconstpointer  data)
{
  GPtrArray *out = g_ptr_array_new_with_free_func ((GDestroyNotify) gossip_node_unref);
  GHashTableIter iter;
  gpointer key;
  gboolean started;

  g_mutex_lock (&self->lock);
  g_hash_table_iter_init (&iter, self->members);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    {
      GossipNode *node = ((GossipMember *) key)->snapshot;
      if (filter == NULL || filter (node, data))
        g_ptr_array_add (out, gossip_node_ref (node));
    }
  started = self->snap_local != NULL;
  g_mutex_unlock (&self->lock);

  if (!started)
    {
      /* Not started yet: the local node as configured is still a member. */
      GossipNode *local = gossip_cluster_get_local_node (self);
      if (filter == NULL || filter (local, data))
        g_ptr_array_add (out, local);
      else
        gossip_node_unref (local);
    }

  return out;
}

/**
 * gossip_cluster_get_nodes:
 * @cluster: a #GossipCluster
 *
 * Lists every known node.
 *
 * Returns: (transfer container) (element-type GossipNode): every known node in
 *   any state, the local node included
 */
GPtrArray *
gossip_cluster_get_nodes (GossipCluster *cluster)
{
  g_return_val_if_fail (GOSSIP_IS_CLUSTER (cluster), NULL);
  return collect_nodes (cluster, NULL, NULL);
}

static gboolean
filter_alive (GossipNode *node, gconstpointer data)
{
  return node->state == GOSSIP_NODE_ALIVE;
}

/**
 * gossip_cluster_get_alive_nodes:
 * @cluster: a #GossipCluster
 *
 * Lists the nodes currently seen alive.
 *
 * Returns: (transfer container) (element-type GossipNode): the alive nodes, the
 *   local node included
 */
GPtrArray *
gossip_cluster_get_alive_nodes (GossipCluster *cluster)
{
  g_return_val_if_fail (GOSSIP_IS_CLUSTER (cluster), NULL);
  return collect_nodes (cluster, filter_alive, NULL);
}

static gboolean
filter_tag (GossipNode *node, gconstpointer data)
{
  return (node->state == GOSSIP_NODE_ALIVE || node->state == GOSSIP_NODE_SUSPECT) &&
         gossip_node_has_tag (node, data);
}

/**
 * gossip_cluster_get_nodes_by_tag:
 * @cluster: a #GossipCluster
 * @tag: a tag
 *
 * Lists the reachable nodes that carry a tag.
 *
 * Returns: (transfer container) (element-type GossipNode): alive or suspect nodes
 *   carrying @tag, the local node included
 */
GPtrArray *
gossip_cluster_get_nodes_by_tag (GossipCluster *cluster,
                                 const char    *tag)
{
  g_return_val_if_fail (GOSSIP_IS_CLUSTER (cluster), NULL);
  g_return_val_if_fail (tag != NULL, NULL);
  return collect_nodes (cluster, filter_tag, tag);
}

/**
 * gossip_cluster_get_node:
 * @cluster: a #GossipCluster
 * @node_id: a node id in any UUID spelling
 *
 * Looks a node up by its id.
 *
 * Returns: (transfer full) (nullable): the node, or %NULL when unknown or
 *   when @node_id is not a UUID
 */
GossipNode *
gossip_cluster_get_node (GossipCluster *cluster,
                         const char    *node_id)
{
  guint8 uuid[GOSSIP_UUID_SIZE];
  GossipMember *m;
  GossipNode *node = NULL;

  g_return_val_if_fail (GOSSIP_IS_CLUSTER (cluster), NULL);
  if (node_id == NULL || !gossip_uuid_parse (node_id, uuid))
    return NULL;

  g_mutex_lock (&cluster->lock);
  m = g_hash_table_lookup (cluster->members, uuid);
  if (m != NULL)
    node = gossip_node_ref (m->snapshot);
  g_mutex_unlock (&cluster->lock);

  return node;
}

/**
 * gossip_cluster_get_local_node:
 * @cluster: a #GossipCluster
 *
 * Gets a snapshot of the local node.
 *
 * Returns: (transfer full): the local node. Before start, a snapshot of the
 *   configured identity in state alive.
 */
GossipNode *
gossip_cluster_get_local_node (GossipCluster *cluster)
{
  GossipNode *node;

  g_return_val_if_fail (GOSSIP_IS_CLUSTER (cluster), NULL);

  g_mutex_lock (&cluster->lock);
  if (cluster->snap_local != NULL)
    node = gossip_node_ref (cluster->snap_local);
  else
    node = _gossip_node_new (cluster->local_uuid,
                             cluster->advertise ? cluster->advertise :
                             (cluster->config->advertise_addr[0] ? cluster->config->advertise_addr
                                                                 : cluster->config->bind_addr),
                             cluster->left ? GOSSIP_NODE_LEAVING : GOSSIP_NODE_ALIVE,
                             0, cluster->config->app_version, cluster->local_tags,
                             cluster->local_metadata, cluster->local_meta_version, TRUE);
  g_mutex_unlock (&cluster->lock);

  return node;
}

/**
 * gossip_cluster_get_candidates:
 * @cluster: a #GossipCluster
 *
 * Picks the nodes a message would be gossiped to right now.
 *
 * Returns: (transfer container) (element-type GossipNode): a random sample of
 *   alive or suspect nodes other than the local one, of the current fan-out
 *   size; empty on a lone node
 */
GPtrArray *
gossip_cluster_get_candidates (GossipCluster *cluster)
{
  g_autoptr(GPtrArray) all = NULL;
  GPtrArray *out;
  guint fanout;

  g_return_val_if_fail (GOSSIP_IS_CLUSTER (cluster), NULL);

  all = collect_nodes (cluster, NULL, NULL);
  out = g_ptr_array_new_with_free_func ((GDestroyNotify) gossip_node_unref);

  /* Keep only alive/suspect remote nodes, then shuffle and cut. */
  for (guint i = 0; i < all->len; i++)
    {
      GossipNode *n = g_ptr_array_index (all, i);
      if (!n->is_local && (n->state == GOSSIP_NODE_ALIVE || n->state == GOSSIP_NODE_SUSPECT))
        g_ptr_array_add (out, gossip_node_ref (n));
    }
  fanout = _gossip_fanout_for (out->len + 1, cluster->config->fan_out_multiplier);
  for (guint i = out->len; i > 1; i--)
    {
      guint j = g_random_int_range (0, (gint32) i);
      gpointer tmp = out->pdata[i - 1];
      out->pdata[i - 1] = out->pdata[j];
      out->pdata[j] = tmp;
    }
  if (out->len > fanout)
    g_ptr_array_set_size (out, fanout);
  return out;
}

/**
 * gossip_cluster_count:
 * @cluster: a #GossipCluster
 * @state: a state
 *
 * Counts the known nodes in one state.
 *
 * Returns: how many known nodes (the local one included) are in @state
 */
guint
gossip_cluster_count (GossipCluster   *cluster,
                      GossipNodeState  state)
{
  guint n;

  g_return_val_if_fail (GOSSIP_IS_CLUSTER (cluster), 0);
  g_return_val_if_fail (state <= GOSSIP_NODE_LEAVING, 0);

  g_mutex_lock (&cluster->lock);
  n = cluster->snap_counts[state];
  if (cluster->snap_local == NULL && state == (cluster->left ? GOSSIP_NODE_LEAVING : GOSSIP_NODE_ALIVE))
    n++;
  g_mutex_unlock (&cluster->lock);
  return n;
}

/**
 * gossip_cluster_count_all:
 * @cluster: a #GossipCluster
 *
 * Counts every known node, whatever its state.
 *
 * Returns: how many nodes are known in any state, the local one included
 */
guint
gossip_cluster_count_all (GossipCluster *cluster)
{
  guint n;

  g_return_val_if_fail (GOSSIP_IS_CLUSTER (cluster), 0);
  g_mutex_lock (&cluster->lock);
  n = g_hash_table_size (cluster->members);
  if (cluster->snap_local == NULL)
    n++;
  g_mutex_unlock (&cluster->lock);
  return n;
}

/**
 * gossip_cluster_get_node_id:
 * @cluster: a #GossipCluster
 *
 * Gets the id of the local node.
 *
 * Returns: the local node id, a canonical lowercase UUID
 */
const char *
gossip_cluster_get_node_id (GossipCluster *cluster)
{
  g_return_val_if_fail (GOSSIP_IS_CLUSTER (cluster), NULL);
  return cluster->local_id;
}

/**
 * gossip_cluster_is_local:
 * @cluster: a #GossipCluster
 * @node_id: a node id in any UUID spelling
 *
 * Tells whether a node id is the local node's.
 *
 * Returns: whether @node_id is the local node's id (%FALSE for malformed ids)
 */
gboolean
gossip_cluster_is_local (GossipCluster *cluster,
                         const char    *node_id)
{
  guint8 uuid[GOSSIP_UUID_SIZE];

  g_return_val_if_fail (GOSSIP_IS_CLUSTER (cluster), FALSE);
  return node_id != NULL && gossip_uuid_parse (node_id, uuid) &&
         memcmp (uuid, cluster->local_uuid, GOSSIP_UUID_SIZE) == 0;
}

/**
 * gossip_cluster_get_advertise_address:
 * @cluster: a #GossipCluster
 *
 * Gets the address advertised to peers.
 *
 * Returns: (transfer full): the address peers use to reach us (after start,
 *   with the real port when bound to port 0)
 */
char *
gossip_cluster_get_advertise_address (GossipCluster *cluster)
{
  char *addr;

  g_return_val_if_fail (GOSSIP_IS_CLUSTER (cluster), NULL);
  g_mutex_lock (&cluster->lock);
  addr = g_strdup (cluster->advertise ? cluster->advertise :
                   (cluster->config->advertise_addr[0] ? cluster->config->advertise_addr
                                                       : cluster->config->bind_addr));
  g_mutex_unlock (&cluster->lock);
  return addr;
}

/**
 * gossip_cluster_get_stats:
 * @cluster: a #GossipCluster
 * @stats: (out caller-allocates): where to store the counters
 *
 * Copies the counters. They are updated on the engine thread; a copy taken
 * elsewhere is a consistent-enough approximation.
 */
void
gossip_cluster_get_stats (GossipCluster      *cluster,
                          GossipClusterStats *stats)
{
  g_return_if_fail (GOSSIP_IS_CLUSTER (cluster));
  g_return_if_fail (stats != NULL);
  *stats = cluster->stats;
  stats->local_health = cluster->local_health;
  /* Over HTTP a wrong token is answered 401 by the transport, before the
   * engine sees the frame. */
  if (GOSSIP_IS_HTTP_TRANSPORT (cluster->transport))
    stats->auth_rejected += gossip_http_transport_get_auth_rejected (GOSSIP_HTTP_TRANSPORT (cluster->transport));
  _gossip_transport_get_refusals (cluster->transport, &stats->streams_refused, &stats->lookups_refused);
}

/* ------------------------------------------------------------------------ */
/* Local metadata                                                            */
/* ------------------------------------------------------------------------ */

static gboolean
engine_local_changed (gpointer data)
{
  GossipCluster *self = data;

  if (self->local != NULL)
    _gossip_membership_local_changed (self);
  return G_SOURCE_REMOVE;
}

/* Replaces the local map under the lock (so a following get sees it at
 * once, from any thread), then lets the engine announce it. */
static void
replace_local_metadata (GossipCluster *self,
                        GHashTable    *fresh)
{
  g_mutex_lock (&self->lock);
  g_clear_pointer (&self->local_metadata, g_hash_table_unref);
  self->local_metadata = fresh;
  self->local_meta_version++;
  g_mutex_unlock (&self->lock);

  _gossip_cluster_invoke_sync (self, engine_local_changed, self);
}

static GHashTable *
copy_local_metadata (GossipCluster *self)
{
  GHashTable *copy = _gossip_metadata_new ();
  GHashTableIter iter;
  gpointer k, v;

  g_hash_table_iter_init (&iter, self->local_metadata);
  while (g_hash_table_iter_next (&iter, &k, &v))
    g_hash_table_insert (copy, g_strdup (k), g_strdup (v));
  return copy;
}

/**
 * gossip_cluster_set_metadata:
 * @cluster: a #GossipCluster
 * @key: a non-empty UTF-8 key
 * @value: the value, already in its string form
 * @error: return location for a #GError
 *
 * Sets a local metadata value and announces it at once. Setting the value
 * a key already has is a no-op. Allowed before start and after leave; after
 * stop it fails with %GOSSIP_CLUSTER_ERROR_STOPPED.
 *
 * Returns: %TRUE on success
 */
gboolean
gossip_cluster_set_metadata (GossipCluster *cluster,
                             const char    *key,
                             const char    *value,
                             GError       **error)
{
  GHashTable *fresh;
  const char *cur;

  g_return_val_if_fail (GOSSIP_IS_CLUSTER (cluster), FALSE);
  g_return_val_if_fail (key != NULL && value != NULL, FALSE);

  if (!_gossip_cluster_check_running (cluster, TRUE, error))
    return FALSE;
  if (*key == '\0' || !g_utf8_validate (key, -1, NULL) || strlen (key) > 65535)
    {
      g_set_error_literal (error, GOSSIP_CLUSTER_ERROR, GOSSIP_CLUSTER_ERROR_INVALID_ARGUMENT,
                           _("metadata key must be a non-empty string"));
      return FALSE;
    }
  if (!g_utf8_validate (value, -1, NULL) || strlen (value) > 65535)
    {
      g_set_error_literal (error, GOSSIP_CLUSTER_ERROR, GOSSIP_CLUSTER_ERROR_INVALID_ARGUMENT,
                           _("metadata value must be a UTF-8 string of at most 65535 bytes"));
      return FALSE;
    }

  g_mutex_lock (&cluster->lock);
  cur = g_hash_table_lookup (cluster->local_metadata, key);
  if (cur != NULL && g_str_equal (cur, value))
    {
      g_mutex_unlock (&cluster->lock);
      return TRUE;
    }
  if (cur == NULL && g_hash_table_size (cluster->local_metadata) >= 1024)
    {
      g_mutex_unlock (&cluster->lock);
      g_set_error_literal (error, GOSSIP_CLUSTER_ERROR, GOSSIP_CLUSTER_ERROR_INVALID_ARGUMENT,
                           _("too many metadata keys (at most 1024)"));
      return FALSE;
    }
  fresh = copy_local_metadata (cluster);
  g_mutex_unlock (&cluster->lock);

  g_hash_table_replace (fresh, g_strdup (key), g_strdup (value));
  replace_local_metadata (cluster, fresh);
  return TRUE;
}

/**
 * gossip_cluster_get_metadata:
 * @cluster: a #GossipCluster
 * @key: a key
 *
 * Gets one metadata value of the local node.
 *
 * Returns: (transfer full) (nullable): the local value of @key, or %NULL
 */
char *
gossip_cluster_get_metadata (GossipCluster *cluster,
                             const char    *key)
{
  char *v;

  g_return_val_if_fail (GOSSIP_IS_CLUSTER (cluster), NULL);
  g_return_val_if_fail (key != NULL, NULL);
  g_mutex_lock (&cluster->lock);
  v = g_strdup (g_hash_table_lookup (cluster->local_metadata, key));
  g_mutex_unlock (&cluster->lock);
  return v;
}

/**
 * gossip_cluster_get_all_metadata:
 * @cluster: a #GossipCluster
 *
 * Gets all metadata of the local node.
 *
 * Returns: (transfer full) (element-type utf8 utf8): a copy of the local metadata
 */
GHashTable *
gossip_cluster_get_all_metadata (GossipCluster *cluster)
{
  GHashTable *copy;

  g_return_val_if_fail (GOSSIP_IS_CLUSTER (cluster), NULL);
  g_mutex_lock (&cluster->lock);
  copy = copy_local_metadata (cluster);
  g_mutex_unlock (&cluster->lock);
  return copy;
}

/**
 * gossip_cluster_delete_metadata:
 * @cluster: a #GossipCluster
 * @key: a key
 * @error: return location for a #GError
 *
 * Deletes a local key and announces it; deleting a missing key is a no-op
 * (nothing is sent).
 *
 * Returns: %TRUE on success
 */
gboolean
gossip_cluster_delete_metadata (GossipCluster *cluster,
                                const char    *key,
                                GError       **error)
{
  GHashTable *fresh;

  g_return_val_if_fail (GOSSIP_IS_CLUSTER (cluster), FALSE);
  g_return_val_if_fail (key != NULL, FALSE);

  if (!_gossip_cluster_check_running (cluster, TRUE, error))
    return FALSE;

  g_mutex_lock (&cluster->lock);
  if (!g_hash_table_contains (cluster->local_metadata, key))
    {
      g_mutex_unlock (&cluster->lock);
      return TRUE;
    }
  fresh = copy_local_metadata (cluster);
  g_mutex_unlock (&cluster->lock);

  g_hash_table_remove (fresh, key);
  replace_local_metadata (cluster, fresh);
  return TRUE;
}
