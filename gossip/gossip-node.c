/* gossip-node.c — immutable member snapshots.
 *
 * SPDX-License-Identifier: MIT
 */
#include "config.h"

#include <string.h>

#include "gossip-node.h"
#include "gossip-private.h"

/**
 * SECTION:gossip-node
 * @title: GossipNode
 * @short_description: an immutable snapshot of one cluster member
 *
 * A #GossipNode describes what the local node knows about one member at
 * one moment: its id, address, state, incarnation, tags and metadata.
 * Snapshots never change; a #GossipCluster publishes a new one whenever it
 * learns something new, so a snapshot can be kept and shared between
 * threads freely.
 */

G_DEFINE_BOXED_TYPE (GossipNode, gossip_node, gossip_node_ref, gossip_node_unref)

static const char * const empty_tags[] = { NULL };

/**
 * gossip_node_state_to_string:
 * @state: a #GossipNodeState
 *
 * Names a node state.
 *
 * Returns: the script-visible name of @state: "alive", "suspect", "dead" or
 *   "leaving".
 */
const char *
gossip_node_state_to_string (GossipNodeState state)
{
  switch (state)
    {
    case GOSSIP_NODE_ALIVE:   return "alive";
    case GOSSIP_NODE_SUSPECT: return "suspect";
    case GOSSIP_NODE_DEAD:    return "dead";
    case GOSSIP_NODE_LEAVING: return "leaving";
    default:                  return "dead";
    }
}

/* Takes ownership of nothing: strings are copied (the app version is
 * interned), @metadata and @tags are referenced (both must never be modified
 * once published). */
GossipNode *
_gossip_node_new (const guint8    *uuid,
                  const char      *address,
                  GossipNodeState  state,
                  guint64          incarnation,
                  const char      *app_version,
                  GossipStrv      *tags,
                  GHashTable      *metadata,
                  guint64          metadata_version,
                  gboolean         is_local)
{
  gsize address_size = strlen (address ? address : "") + 1;
  GossipNode *node = g_malloc (G_STRUCT_OFFSET (GossipNode, address) + address_size);

  node->ref_count = 1;
  node->state = state;
  node->incarnation = incarnation;
  node->is_local = is_local;
  node->metadata_version = metadata_version;
  node->app_version = g_ref_string_new_intern (app_version ? app_version : "");
  node->tags = tags ? _gossip_strv_ref (tags) : NULL;
  node->metadata = metadata ? g_hash_table_ref (metadata) : _gossip_metadata_empty ();
  gossip_uuid_format (uuid, node->id);
  memcpy (node->address, address ? address : "", address_size);

  return node;
}

/**
 * gossip_node_ref:
 * @node: a #GossipNode
 *
 * Takes a reference on a node snapshot.
 *
 * Returns: (transfer full): @node, with one more reference.
 */
GossipNode *
gossip_node_ref (GossipNode *node)
{
  g_return_val_if_fail (node != NULL, NULL);
  g_atomic_int_inc (&node->ref_count);
  return node;
}

/**
 * gossip_node_unref:
 * @node: (transfer full): a #GossipNode
 *
 * Drops a reference; frees the snapshot when it was the last one.
 */
void
gossip_node_unref (GossipNode *node)
{
  g_return_if_fail (node != NULL);
  if (!g_atomic_int_dec_and_test (&node->ref_count))
    return;
  g_ref_string_release (node->app_version);
  if (node->tags)
    _gossip_strv_unref (node->tags);
  g_hash_table_unref (node->metadata);
  g_free (node);
}

/**
 * gossip_node_get_id:
 * @node: a #GossipNode
 *
 * Gets the id of the node.
 *
 * Returns: the node id, a canonical lowercase UUID.
 */
const char *
gossip_node_get_id (const GossipNode *node)
{
  return node->id;
}

/**
 * gossip_node_get_address:
 * @node: a #GossipNode
 *
 * Gets the address of the node.
 *
 * Returns: the address the node advertises, exactly as it advertises it.
 */
const char *
gossip_node_get_address (const GossipNode *node)
{
  return node->address;
}

/**
 * gossip_node_get_state:
 * @node: a #GossipNode
 *
 * Gets the state of the node.
 *
 * Returns: the state the local node sees this node in.
 */
GossipNodeState
gossip_node_get_state (const GossipNode *node)
{
  return node->state;
}

/**
 * gossip_node_get_incarnation:
 * @node: a #GossipNode
 *
 * Gets the incarnation number of the node.
 *
 * Returns: the SWIM incarnation number the node last announced (64 bits:
 *   a refutation always has a higher one to announce)
 */
guint64
gossip_node_get_incarnation (const GossipNode *node)
{
  return node->incarnation;
}

/**
 * gossip_node_get_app_version:
 * @node: a #GossipNode
 *
 * Gets the application version of the node.
 *
 * Returns: the application version the node announced ("" if none).
 */
const char *
gossip_node_get_app_version (const GossipNode *node)
{
  return node->app_version;
}

/**
 * gossip_node_get_tags:
 * @node: a #GossipNode
 *
 * Gets the tags of the node.
 *
 * Returns: (array zero-terminated=1) (transfer none): the node's tags.
 */
const char * const *
gossip_node_get_tags (const GossipNode *node)
{
  return node->tags ? (const char * const *) node->tags->strv : empty_tags;
}

/**
 * gossip_node_has_tag:
 * @node: a #GossipNode
 * @tag: a tag
 *
 * Tells whether the node carries a tag.
 *
 * Returns: whether the node carries @tag.
 */
gboolean
gossip_node_has_tag (const GossipNode *node,
                     const char       *tag)
{
  return node->tags != NULL && tag != NULL &&
         g_strv_contains ((const char * const *) node->tags->strv, tag);
}

/**
 * gossip_node_get_metadata:
 * @node: a #GossipNode
 *
 * Gets the metadata of the node.
 *
 * Returns: (transfer none) (element-type utf8 utf8): the node's metadata,
 *   every value in its string form. Do not modify.
 */
GHashTable *
gossip_node_get_metadata (const GossipNode *node)
{
  return node->metadata;
}

/**
 * gossip_node_get_metadata_value:
 * @node: a #GossipNode
 * @key: a metadata key
 *
 * Gets one metadata value of the node.
 *
 * Returns: (nullable): the value of @key, or %NULL.
 */
const char *
gossip_node_get_metadata_value (const GossipNode *node,
                                const char       *key)
{
  return g_hash_table_lookup (node->metadata, key);
}

/**
 * gossip_node_get_metadata_version:
 * @node: a #GossipNode
 *
 * Gets the version of the node's metadata.
 *
 * Returns: the version of the metadata map (newest wins).
 */
guint64
gossip_node_get_metadata_version (const GossipNode *node)
{
  return node->metadata_version;
}

/**
 * gossip_node_is_local:
 * @node: a #GossipNode
 *
 * Tells whether the node is the local node.
 *
 * Returns: whether this snapshot describes the local node.
 */
gboolean
gossip_node_is_local (const GossipNode *node)
{
  return node->is_local;
}

/* Shared, immutable string vectors: tags are identical on every snapshot of
 * a node, so they are shared rather than copied. */
GossipStrv *
_gossip_strv_new (const char * const *strv)
{
  GossipStrv *s = g_new0 (GossipStrv, 1);
  s->ref_count = 1;
  s->strv = g_strdupv ((char **) strv);
  return s;
}

GossipStrv *
_gossip_strv_ref (GossipStrv *s)
{
  g_atomic_int_inc (&s->ref_count);
  return s;
}

void
_gossip_strv_unref (GossipStrv *s)
{
  if (g_atomic_int_dec_and_test (&s->ref_count))
    {
      g_strfreev (s->strv);
      g_free (s);
    }
}

/* The empty tag list most members have, shared (never modified). */
GossipStrv *
_gossip_strv_empty (void)
{
  static GossipStrv *empty = NULL;

  if (g_once_init_enter (&empty))
    g_once_init_leave (&empty, _gossip_strv_new (empty_tags));
  return _gossip_strv_ref (empty);
}

/* A new, mutable metadata map: to fill before it is published. */
GHashTable *
_gossip_metadata_new (void)
{
  return g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
}

/* The empty metadata map most members have, shared by every snapshot and
 * update that needs one: never modified. */
GHashTable *
_gossip_metadata_empty (void)
{
  static GHashTable *empty = NULL;

  if (g_once_init_enter (&empty))
    g_once_init_leave (&empty, _gossip_metadata_new ());
  return g_hash_table_ref (empty);
}
