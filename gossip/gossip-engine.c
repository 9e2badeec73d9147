/* gossip-engine.c — process-wide state shared by every cluster: the
 * engine thread that runs clusters created without a context of their own,
 * and the registry that keeps node ids unique among running clusters.
 *
 * SPDX-License-Identifier: MIT
 */
#include "config.h"

#include "gossip-error.h"
#include "gossip-private.h"

/* ------------------------------------------------------------------------ */
/* The shared engine thread                                                  */
/* ------------------------------------------------------------------------ */

struct _GossipEngine
{
  gint          refs;
  GMainContext *context;
  GMainLoop    *loop;
  GThread      *thread;
  gboolean      running;   /* under engine_lock */
};

static GCond engine_cond;

static GMutex engine_lock;
static GossipEngine *shared_engine;

static gpointer
engine_thread_main (gpointer data)
{
  GossipEngine *engine = data;

  g_main_context_push_thread_default (engine->context);
  /* Owned from here on: callers can tell the engine thread by ownership. */
  g_mutex_lock (&engine_lock);
  engine->running = TRUE;
  g_cond_broadcast (&engine_cond);
  g_mutex_unlock (&engine_lock);
  g_main_loop_run (engine->loop);
  g_main_context_pop_thread_default (engine->context);

  g_main_loop_unref (engine->loop);
  g_main_context_unref (engine->context);
  g_free (engine);
  return NULL;
}

GossipEngine *
_gossip_engine_acquire (void)
{
  GossipEngine *engine;

  g_mutex_lock (&engine_lock);
  if (shared_engine == NULL)
    {
      shared_engine = g_new0 (GossipEngine, 1);
      shared_engine->context = g_main_context_new ();
      shared_engine->loop = g_main_loop_new (shared_engine->context, FALSE);
      shared_engine->thread = g_thread_new ("gossip-engine", engine_thread_main, shared_engine);
      while (!shared_engine->running)
        g_cond_wait (&engine_cond, &engine_lock);
    }
  engine = shared_engine;
  engine->refs++;
  g_mutex_unlock (&engine_lock);

  return engine;
}

static gboolean
engine_quit_cb (gpointer data)
{
  g_main_loop_quit (data);
  return G_SOURCE_REMOVE;
}

void
_gossip_engine_release (GossipEngine *engine)
{
  GThread *thread = NULL;

  g_mutex_lock (&engine_lock);
  if (--engine->refs == 0)
    {
      shared_engine = NULL;
      thread = engine->thread;
      g_main_context_invoke_full (engine->context, G_PRIORITY_DEFAULT, engine_quit_cb,
                                  g_main_loop_ref (engine->loop), (GDestroyNotify) g_main_loop_unref);
    }
  g_mutex_unlock (&engine_lock);

  if (thread != NULL)
    {
      /* The last cluster may die on the engine thread itself (a handler
       * dropped it); that thread then finishes on its own. */
      if (thread == g_thread_self ())
        g_thread_unref (thread);
      else
        g_thread_join (thread);
    }
}

GMainContext *
_gossip_engine_get_context (GossipEngine *engine)
{
  return engine->context;
}

/* ------------------------------------------------------------------------ */
/* Node-id registry: one running cluster per id in a process                 */
/* ------------------------------------------------------------------------ */

static GMutex registry_lock;
static GHashTable *registry;   /* id -> GossipCluster* (weak) */

gboolean
_gossip_registry_add (GossipCluster *self,
                      GError       **error)
{
  gboolean ok = TRUE;

  g_mutex_lock (&registry_lock);
  if (registry == NULL)
    registry = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  if (g_hash_table_contains (registry, self->local_id))
    {
      g_set_error (error, GOSSIP_CLUSTER_ERROR, GOSSIP_CLUSTER_ERROR_ID_IN_USE,
                   _("node_id %s is already used by another running cluster in this process"),
                   self->local_id);
      ok = FALSE;
    }
  else
    g_hash_table_insert (registry, g_strdup (self->local_id), self);
  g_mutex_unlock (&registry_lock);

  return ok;
}

void
_gossip_registry_remove (GossipCluster *self)
{
  g_mutex_lock (&registry_lock);
  if (registry != NULL && g_hash_table_lookup (registry, self->local_id) == self)
    g_hash_table_remove (registry, self->local_id);
  g_mutex_unlock (&registry_lock);
}
