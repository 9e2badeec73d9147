/* sim-harness.c — many clusters on one virtual clock (see sim-harness.h).
 *
 * SPDX-License-Identifier: MIT
 */
#include "config.h"

#include <string.h>

#include "sim-harness.h"
#include "gossip-private.h"

/* ------------------------------------------------------------------------ */
/* SimTransport: a forwarding wrapper that can make a node deaf              */
/* ------------------------------------------------------------------------ */

typedef struct {
  SimTransport              *self;
  guint64                    id;
  guint                      timer;
  GossipTransportStreamFunc  func;
  gpointer                   user_data;
} DeafStream;

struct _SimTransport
{
  GObject          parent_instance;
  GossipTransport *inner;
  GossipClock     *clock;
  gboolean         deaf;
  GPtrArray       *held_replies;     /* GossipTransportReply*, unanswered while deaf */
  GHashTable      *deaf_streams;     /* id -> DeafStream* */
  guint64          next_id;
  guint64          dropped;
  SimTapFunc       tap;
  gpointer         tap_data;
};

static void sim_transport_iface_init (GossipTransportInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (SimTransport, sim_transport, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (GOSSIP_TYPE_TRANSPORT, sim_transport_iface_init))

static void
inner_receive (GossipTransport      *inner,
               GBytes               *frame,
               gboolean              reliable,
               const char           *from,
               GossipTransportReply *reply,
               gpointer              user_data)
{
  SimTransport *self = user_data;

  if (self->tap != NULL)
    self->tap (frame, reliable, from, self->tap_data);
  if (self->deaf)
    {
      /* Never answered: the requester times out, as a TCP connect into a
       * deaf host would. */
      self->dropped++;
      if (reply != NULL)
        g_ptr_array_add (self->held_replies, gossip_transport_reply_ref (reply));
      return;
    }
  gossip_transport_deliver (GOSSIP_TRANSPORT (self), frame, reliable, from, reply);
}

static void
deaf_stream_complete (SimTransport *self,
                      guint64       id,
                      gint          code,
                      const char   *message)
{
  DeafStream *ds = g_hash_table_lookup (self->deaf_streams, &id);
  g_autoptr(GError) error = NULL;
  GossipTransportStreamFunc func;
  gpointer user_data;

  if (ds == NULL)
    return;
  func = ds->func;
  user_data = ds->user_data;
  g_hash_table_remove (self->deaf_streams, &id);
  error = g_error_new_literal (G_IO_ERROR, code, message);
  if (func != NULL)
    func (NULL, error, user_data);
}

typedef struct {
  SimTransport *self;
  guint64       id;
} DeafTimeout;

static void
deaf_stream_timeout (gpointer data)
{
  DeafTimeout *dt = data;
  DeafStream *ds = g_hash_table_lookup (dt->self->deaf_streams, &dt->id);

  if (ds != NULL)
    ds->timer = 0;
  deaf_stream_complete (dt->self, dt->id, G_IO_ERROR_TIMED_OUT, "stream exchange timed out (deaf node)");
}

static gboolean
sim_transport_start (GossipTransport *transport, GError **error)
{
  SimTransport *self = SIM_TRANSPORT (transport);
  return gossip_transport_start (self->inner, error);
}

static void
sim_transport_stop (GossipTransport *transport)
{
  SimTransport *self = SIM_TRANSPORT (transport);

  gossip_transport_stop (self->inner);
  g_ptr_array_set_size (self->held_replies, 0);
  while (g_hash_table_size (self->deaf_streams) > 0)
    {
      GHashTableIter iter;
      gpointer key;
      guint64 id;

      g_hash_table_iter_init (&iter, self->deaf_streams);
      g_hash_table_iter_next (&iter, &key, NULL);
      id = *(guint64 *) key;
      deaf_stream_complete (self, id, G_IO_ERROR_CANCELLED, "the transport was stopped");
    }
}

static char *
sim_transport_get_local_address (GossipTransport *transport)
{
  return gossip_transport_get_local_address (SIM_TRANSPORT (transport)->inner);
}

static gsize
sim_transport_get_max_datagram (GossipTransport *transport)
{
  return gossip_transport_get_max_datagram (SIM_TRANSPORT (transport)->inner);
}

static void
sim_transport_send_datagram (GossipTransport *transport,
                             const char      *address,
                             GBytes          *frame)
{
  gossip_transport_send_datagram (SIM_TRANSPORT (transport)->inner, address, frame);
}

static void
sim_transport_send_stream (GossipTransport           *transport,
                           const char                *address,
                           GBytes                    *frame,
                           gboolean                   want_reply,
                           gint64                     timeout_us,
                           GossipTransportStreamFunc  func,
                           gpointer                   user_data)
{
  SimTransport *self = SIM_TRANSPORT (transport);
  DeafStream *ds;
  DeafTimeout *dt;

  if (!self->deaf)
    {
      gossip_transport_send_stream (self->inner, address, frame, want_reply, timeout_us, func, user_data);
      return;
    }

  /* A deaf node never hears the other side of the handshake. */
  ds = g_new0 (DeafStream, 1);
  ds->self = self;
  ds->id = ++self->next_id;
  ds->func = func;
  ds->user_data = user_data;
  g_hash_table_insert (self->deaf_streams, &ds->id, ds);
  dt = g_new0 (DeafTimeout, 1);
  dt->self = self;
  dt->id = ds->id;
  ds->timer = gossip_clock_add_timeout (self->clock, timeout_us > 0 ? timeout_us : 10 * G_USEC_PER_SEC,
                                        deaf_stream_timeout, dt, g_free);
}

static void
deaf_stream_free (gpointer data)
{
  DeafStream *ds = data;

  if (ds->timer != 0)
    gossip_clock_cancel (ds->self->clock, ds->timer);
  g_free (ds);
}

static void
sim_transport_dispose (GObject *object)
{
  SimTransport *self = SIM_TRANSPORT (object);

  if (self->inner != NULL)
    {
      sim_transport_stop (GOSSIP_TRANSPORT (self));
      gossip_transport_set_receive_func (self->inner, NULL, NULL, NULL);
    }
  g_clear_object (&self->inner);
  g_clear_object (&self->clock);
  G_OBJECT_CLASS (sim_transport_parent_class)->dispose (object);
}

static void
sim_transport_finalize (GObject *object)
{
  SimTransport *self = SIM_TRANSPORT (object);

  g_ptr_array_unref (self->held_replies);
  g_hash_table_unref (self->deaf_streams);
  G_OBJECT_CLASS (sim_transport_parent_class)->finalize (object);
}

static void
sim_transport_class_init (SimTransportClass *klass)
{
  G_OBJECT_CLASS (klass)->dispose = sim_transport_dispose;
  G_OBJECT_CLASS (klass)->finalize = sim_transport_finalize;
}

static void
sim_transport_iface_init (GossipTransportInterface *iface)
{
  iface->start = sim_transport_start;
  iface->stop = sim_transport_stop;
  iface->get_local_address = sim_transport_get_local_address;
  iface->get_max_datagram = sim_transport_get_max_datagram;
  iface->send_datagram = sim_transport_send_datagram;
  iface->send_stream = sim_transport_send_stream;
}

static void
sim_transport_init (SimTransport *self)
{
  self->held_replies = g_ptr_array_new_with_free_func ((GDestroyNotify) gossip_transport_reply_unref);
  self->deaf_streams = g_hash_table_new_full (g_int64_hash, g_int64_equal, NULL, deaf_stream_free);
}

GossipTransport *
sim_transport_new (GossipTransport *inner,
                   GossipClock     *clock)
{
  SimTransport *self = g_object_new (SIM_TYPE_TRANSPORT, NULL);

  self->inner = g_object_ref (inner);
  self->clock = g_object_ref (clock);
  gossip_transport_set_receive_func (inner, inner_receive, self, NULL);
  return GOSSIP_TRANSPORT (self);
}

GossipTransport *
sim_transport_get_inner (SimTransport *self)
{
  return self->inner;
}

void
sim_transport_set_deaf (SimTransport *self,
                        gboolean      deaf)
{
  self->deaf = deaf;
  if (!deaf)
    g_ptr_array_set_size (self->held_replies, 0);
}

void
sim_transport_set_tap (SimTransport *self,
                       SimTapFunc    tap,
                       gpointer      user_data)
{
  self->tap = tap;
  self->tap_data = user_data;
}

guint64
sim_transport_get_dropped (SimTransport *self)
{
  return self->dropped;
}

/* ------------------------------------------------------------------------ */
/* Harness                                                                   */
/* ------------------------------------------------------------------------ */

struct _SimHarness
{
  GossipVirtualClock  *clock;
  GossipMemoryNetwork *network;
  GMainContext        *context;
  GPtrArray           *nodes;        /* SimNode* */
  GHashTable          *index_by_id;  /* id -> GUINT_TO_POINTER (index + 1) */
  GArray              *state_events;
  GPtrArray           *meta_events;
  gboolean             record;
  gint64               start;
  gint64               step;
};

static void
meta_event_free (SimMetaEvent *ev)
{
  gossip_node_unref (ev->node);
  g_free (ev);
}

SimHarness *
sim_new (guint32 seed)
{
  SimHarness *sim = g_new0 (SimHarness, 1);
  const char *vary = g_getenv ("SIM_SEED");

  /* SIM_SEED=k replays every scenario with other network draws. */
  if (vary != NULL && *vary != '\0')
    seed = seed * 7919u + (guint32) g_ascii_strtoull (vary, NULL, 10);
  sim->start = 1000 * G_USEC_PER_SEC;
  sim->clock = gossip_virtual_clock_new (sim->start);
  sim->network = gossip_memory_network_new (sim->clock, seed);
  sim->context = g_main_context_ref (g_main_context_default ());
  sim->nodes = g_ptr_array_new ();
  sim->index_by_id = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  sim->state_events = g_array_new (FALSE, FALSE, sizeof (SimStateEvent));
  sim->meta_events = g_ptr_array_new_with_free_func ((GDestroyNotify) meta_event_free);
  sim->record = TRUE;
  sim->step = 10 * G_TIME_SPAN_MILLISECOND;
  /* A little latency so that message ordering is not trivial. */
  gossip_memory_network_set_latency (sim->network, 200, 2000);
  return sim;
}

void
sim_free (SimHarness *sim)
{
  if (sim == NULL)
    return;

  for (guint i = 0; i < sim->nodes->len; i++)
    {
      SimNode *n = g_ptr_array_index (sim->nodes, i);
      if (n->running)
        gossip_cluster_hard_stop (n->cluster);
      n->running = FALSE;
    }
  sim_iterate (sim);
  for (guint i = 0; i < sim->nodes->len; i++)
    {
      SimNode *n = g_ptr_array_index (sim->nodes, i);
      g_signal_handlers_disconnect_by_data (n->cluster, n);
      g_clear_object (&n->cluster);
      g_clear_object (&n->transport);
      g_free (n->id);
      g_free (n->address);
      g_free (n);
    }
  g_ptr_array_unref (sim->nodes);
  g_hash_table_unref (sim->index_by_id);
  g_array_unref (sim->state_events);
  g_ptr_array_unref (sim->meta_events);
  g_object_unref (sim->network);
  /* Pending timers (leave grace, local sends) hold no cluster references
   * the clock cannot release. */
  g_object_run_dispose (G_OBJECT (sim->clock));
  g_object_unref (sim->clock);
  sim_iterate (sim);
  g_main_context_unref (sim->context);
  g_free (sim);
}

GossipVirtualClock *
sim_get_clock (SimHarness *sim)
{
  return sim->clock;
}

GossipMemoryNetwork *
sim_get_network (SimHarness *sim)
{
  return sim->network;
}

void
sim_set_step (SimHarness *sim,
              gint64      step_us)
{
  sim->step = MAX (step_us, 1);
}

void
sim_set_record_events (SimHarness *sim,
                       gboolean    record)
{
  sim->record = record;
}

void
sim_config_set (GossipConfig *config,
                const char   *name,
                const char   *text)
{
  g_autoptr(GError) error = NULL;

  gossip_config_set_from_text (config, name, text, &error);
  g_assert_no_error (error);
}

GossipConfig *
sim_config_new (void)
{
  return gossip_config_new ();
}

GossipConfig *
sim_config_fast (void)
{
  GossipConfig *c = gossip_config_new ();

  sim_config_set (c, "health_check_interval", "500ms");
  sim_config_set (c, "suspect_timeout", "300ms");
  sim_config_set (c, "suspect_retry_interval", "250ms");
  sim_config_set (c, "dead_node_timeout", "3s");
  sim_config_set (c, "metadata_gossip_interval", "100ms");
  sim_config_set (c, "state_gossip_interval", "5s");
  sim_config_set (c, "leaving_node_timeout", "5s");
  sim_config_set (c, "node_cleanup_interval", "2s");
  sim_config_set (c, "peer_recovery_interval", "5s");
  return c;
}

char *
sim_node_id_for (guint index)
{
  return g_strdup_printf ("00000000-0000-7000-8000-%012x", index + 1);
}

char *
sim_address_for (guint index)
{
  return g_strdup_printf ("10.%u.%u.%u:7946", (index >> 16) & 0xff, (index >> 8) & 0xff, index & 0xff);
}

static gint
subject_index (SimHarness *sim,
               const char *id)
{
  gpointer v = g_hash_table_lookup (sim->index_by_id, id);
  return v != NULL ? (gint) GPOINTER_TO_UINT (v) - 1 : -1;
}

gint
sim_index_of (SimHarness *sim,
              const char *node_id)
{
  return subject_index (sim, node_id);
}

static void
on_state_changed (GossipCluster *cluster,
                  GossipNode    *node,
                  gint           old_state,
                  gint           new_state,
                  gpointer       user_data)
{
  SimNode *n = user_data;
  SimHarness *sim = n->sim;
  SimStateEvent ev;

  g_assert_cmpint (new_state, ==, gossip_node_get_state (node));
  if (!sim->record)
    return;
  ev.time = sim_now (sim);
  ev.observer = n->index;
  ev.subject = subject_index (sim, gossip_node_get_id (node));
  ev.old_state = old_state;
  ev.new_state = new_state;
  ev.incarnation = gossip_node_get_incarnation (node);
  g_array_append_val (sim->state_events, ev);
}

static void
on_metadata_changed (GossipCluster *cluster,
                     GossipNode    *node,
                     gboolean       is_local,
                     gpointer       user_data)
{
  SimNode *n = user_data;
  SimHarness *sim = n->sim;
  SimMetaEvent *ev;

  if (!sim->record)
    return;
  ev = g_new0 (SimMetaEvent, 1);
  ev->time = sim_now (sim);
  ev->observer = n->index;
  ev->subject = subject_index (sim, gossip_node_get_id (node));
  ev->is_local = is_local;
  ev->meta_version = gossip_node_get_metadata_version (node);
  ev->incarnation = gossip_node_get_incarnation (node);
  ev->node = gossip_node_ref (node);
  g_ptr_array_add (sim->meta_events, ev);
}

SimNode *
sim_add_node (SimHarness         *sim,
              const GossipConfig *config)
{
  g_autoptr(GossipConfig) c = config ? gossip_config_copy (config) : gossip_config_new ();
  g_autoptr(GossipTransport) memory = NULL;
  g_autoptr(GError) error = NULL;
  SimNode *n = g_new0 (SimNode, 1);

  n->sim = sim;
  n->index = sim->nodes->len;
  n->id = sim_node_id_for (n->index);
  n->address = sim_address_for (n->index);
  n->join_accepted = -1;
  sim_config_set (c, "node_id", n->id);
  sim_config_set (c, "bind_addr", n->address);

  memory = gossip_memory_transport_new (sim->network, n->address);
  n->transport = SIM_TRANSPORT (sim_transport_new (memory, GOSSIP_CLOCK (sim->clock)));
  n->cluster = gossip_cluster_new_full (c, sim->context, GOSSIP_CLOCK (sim->clock),
                                        GOSSIP_TRANSPORT (n->transport), &error);
  g_assert_no_error (error);
  g_assert_nonnull (n->cluster);
  g_hash_table_insert (sim->index_by_id, g_strdup (n->id), GUINT_TO_POINTER (n->index + 1));
  g_ptr_array_add (sim->nodes, n);

  g_signal_connect (n->cluster, "node-state-changed", G_CALLBACK (on_state_changed), n);
  g_signal_connect (n->cluster, "node-metadata-changed", G_CALLBACK (on_metadata_changed), n);

  g_assert_true (gossip_cluster_start (n->cluster, &error));
  g_assert_no_error (error);
  n->running = TRUE;
  return n;
}

void
sim_add_nodes (SimHarness         *sim,
               guint               count,
               const GossipConfig *config)
{
  guint first = sim->nodes->len;

  for (guint i = 0; i < count; i++)
    sim_add_node (sim, config);
  for (guint i = first + 1; i < first + count; i++)
    sim_join (sim, i, first);
}

SimNode *
sim_node (SimHarness *sim,
          guint       index)
{
  g_assert_cmpuint (index, <, sim->nodes->len);
  return g_ptr_array_index (sim->nodes, index);
}

gint64
sim_wall_ms (gpointer data)
{
  SimHarness *sim = data;

  return gossip_clock_now (GOSSIP_CLOCK (sim->clock)) / 1000;
}

GossipCodec *
sim_codec_as (SimHarness *sim,
              guint       index,
              const char *token)
{
  GossipCodec *codec = gossip_codec_new (NULL, FALSE, 0);
  guint8 id[GOSSIP_UUID_SIZE];

  g_assert_true (gossip_uuid_parse (sim_node (sim, index)->id, id));
  if (token != NULL)
    g_assert_true (gossip_codec_set_token (codec, token, NULL));
  gossip_codec_set_sender (codec, id, 0x5117, sim_wall_ms, sim);
  return codec;
}

void
sim_deliver_from (SimHarness           *sim,
                  guint                 to,
                  guint                 from,
                  GBytes               *frame,
                  gboolean              reliable,
                  GossipTransportReply *reply)
{
  gossip_transport_deliver (GOSSIP_TRANSPORT (sim_node (sim, to)->transport), frame, reliable,
                            sim_node (sim, from)->address, reply);
  sim_iterate (sim);
}

guint
sim_n_nodes (SimHarness *sim)
{
  return sim->nodes->len;
}

guint
sim_n_running (SimHarness *sim)
{
  guint r = 0;

  for (guint i = 0; i < sim->nodes->len; i++)
    r += ((SimNode *) g_ptr_array_index (sim->nodes, i))->running ? 1 : 0;
  return r;
}

static void
join_cb (GObject      *source,
         GAsyncResult *result,
         gpointer      user_data)
{
  SimNode *n = user_data;
  g_autoptr(GError) error = NULL;

  n->join_accepted = gossip_cluster_join_finish (GOSSIP_CLUSTER (source), result, &error);
  if (error != NULL)
    g_test_message ("node %u: join failed: %s", n->index, error->message);
  n->join_done = TRUE;
}

void
sim_join (SimHarness *sim,
          guint       index,
          guint       seed_index)
{
  SimNode *n = sim_node (sim, index);
  SimNode *seed = sim_node (sim, seed_index);
  const char *peers[] = { seed->address, NULL };

  n->join_done = FALSE;
  n->join_accepted = -1;
  gossip_cluster_join_async (n->cluster, peers, NULL, join_cb, n);
}

void
sim_join_all (SimHarness *sim,
              guint       seed_index)
{
  for (guint i = 0; i < sim->nodes->len; i++)
    if (i != seed_index && sim_node (sim, i)->running)
      sim_join (sim, i, seed_index);
}

void
sim_kill (SimHarness *sim,
          guint       index)
{
  SimNode *n = sim_node (sim, index);

  g_assert_true (n->running);
  gossip_cluster_hard_stop (n->cluster);
  n->running = FALSE;
}

static void
leave_cb (GObject      *source,
          GAsyncResult *result,
          gpointer      user_data)
{
  SimNode *n = user_data;
  g_autoptr(GError) error = NULL;

  g_assert_true (g_task_propagate_boolean (G_TASK (result), &error));
  g_assert_no_error (error);
  n->leave_done = TRUE;
}

void
sim_leave (SimHarness *sim,
           guint       index)
{
  SimNode *n = sim_node (sim, index);
  g_autoptr(GTask) task = g_task_new (n->cluster, NULL, leave_cb, n);

  /* What gossip_cluster_leave() does on the engine, minus the wait. */
  g_assert_true (g_main_context_acquire (sim->context));
  _gossip_membership_leave (n->cluster, task);
  _gossip_cluster_flush_events (n->cluster);
  g_main_context_release (sim->context);
}

gint64
sim_now (SimHarness *sim)
{
  return gossip_clock_now (GOSSIP_CLOCK (sim->clock)) - sim->start;
}

void
sim_iterate (SimHarness *sim)
{
  while (g_main_context_iteration (sim->context, FALSE))
    ;
}

void
sim_advance (SimHarness *sim,
             gint64      delta_us)
{
  gint64 target = sim_now (sim) + delta_us;

  sim_iterate (sim);
  while (sim_now (sim) < target)
    {
      gossip_virtual_clock_advance (sim->clock, MIN (sim->step, target - sim_now (sim)));
      sim_iterate (sim);
    }
}

gboolean
sim_run_until (SimHarness  *sim,
               SimPredicate pred,
               gpointer     data,
               gint64       timeout_us)
{
  gint64 deadline = sim_now (sim) + timeout_us;

  sim_iterate (sim);
  while (!pred (sim, data))
    {
      if (sim_now (sim) >= deadline)
        return FALSE;
      gossip_virtual_clock_advance (sim->clock, MIN (sim->step, deadline - sim_now (sim)));
      sim_iterate (sim);
    }
  return TRUE;
}

void
sim_set_latency (SimHarness *sim,
                 gint64      min_us,
                 gint64      max_us)
{
  gossip_memory_network_set_latency (sim->network, min_us, max_us);
}

void
sim_set_loss_all (SimHarness *sim,
                  double      loss)
{
  gossip_memory_network_set_loss (sim->network, NULL, NULL, loss);
}

void
sim_set_inbound_loss (SimHarness *sim,
                      guint       index,
                      double      loss)
{
  gossip_memory_network_set_loss (sim->network, NULL, sim_node (sim, index)->address, loss);
}

void
sim_set_deaf (SimHarness *sim,
              guint       index,
              gboolean    deaf)
{
  sim_transport_set_deaf (sim_node (sim, index)->transport, deaf);
}

void
sim_partition (SimHarness *sim,
               guint       index,
               guint       group)
{
  gossip_memory_network_set_partition (sim->network, sim_node (sim, index)->address, group);
}

void
sim_heal (SimHarness *sim)
{
  gossip_memory_network_heal (sim->network);
}

gint
sim_state (SimHarness *sim,
           guint       observer,
           guint       subject)
{
  g_autoptr(GossipNode) node = gossip_cluster_get_node (sim_node (sim, observer)->cluster,
                                                        sim_node (sim, subject)->id);
  return node != NULL ? (gint) gossip_node_get_state (node) : -1;
}

guint64
sim_incarnation (SimHarness *sim,
                 guint       observer,
                 guint       subject)
{
  g_autoptr(GossipNode) node = gossip_cluster_get_node (sim_node (sim, observer)->cluster,
                                                        sim_node (sim, subject)->id);
  return node != NULL ? gossip_node_get_incarnation (node) : 0;
}

gboolean
sim_converged (SimHarness *sim,
               gpointer    unused)
{
  guint running = sim_n_running (sim);

  /* Cheap test first; the full one only when the counts agree. */
  for (guint i = 0; i < sim->nodes->len; i++)
    {
      SimNode *n = g_ptr_array_index (sim->nodes, i);
      if (n->running && gossip_cluster_count (n->cluster, GOSSIP_NODE_ALIVE) != running)
        return FALSE;
    }
  for (guint i = 0; i < sim->nodes->len; i++)
    {
      SimNode *o = g_ptr_array_index (sim->nodes, i);
      if (!o->running)
        continue;
      for (guint j = 0; j < sim->nodes->len; j++)
        {
          SimNode *s = g_ptr_array_index (sim->nodes, j);
          if (s->running && sim_state (sim, i, j) != GOSSIP_NODE_ALIVE)
            return FALSE;
        }
    }
  return TRUE;
}

GArray *
sim_state_events (SimHarness *sim)
{
  return sim->state_events;
}

GPtrArray *
sim_meta_events (SimHarness *sim)
{
  return sim->meta_events;
}

void
sim_clear_events (SimHarness *sim)
{
  g_array_set_size (sim->state_events, 0);
  g_ptr_array_set_size (sim->meta_events, 0);
}

guint
sim_count_transitions (SimHarness     *sim,
                       gint            observer,
                       gint            subject,
                       GossipNodeState state,
                       gint64          since)
{
  guint count = 0;

  for (guint i = 0; i < sim->state_events->len; i++)
    {
      SimStateEvent *ev = &g_array_index (sim->state_events, SimStateEvent, i);
      if (ev->time < since || ev->new_state != state)
        continue;
      if ((observer < 0 || (guint) observer == ev->observer) && (subject < 0 || subject == ev->subject))
        count++;
    }
  return count;
}
