/* bench-sim.c — in-process scale simulation of libgossip on the in-memory
 * transport and a virtual clock (not a test: run by `make bench`).
 *
 * For each size N it reports how membership convergence, the spread of one
 * update, the detection and spread of one death, the steady-state traffic and
 * the memory grow with N:
 *
 *  - convergence: N nodes start (spread over 2 s, so that their probe timers
 *    are not in lockstep), then all join node 0 at the same instant t0; time
 *    (virtual seconds, and 500 ms gossip rounds) until 50 %, 95 % and all of
 *    the nodes see all N alive, and the curve of that fraction over time.
 *  - update spread: one node changes its metadata; time and hops until every
 *    node has it. The network has a fixed one-way latency L (1 ms), and
 *    processing takes no virtual time, so a node reached by the immediate
 *    relay wave is reached at exactly k·L: k is its hop count. Nodes reached
 *    later (by a periodic gossip round or a piggyback) are counted apart.
 *  - death: one node is killed (hard stop, no leave); time until the first
 *    node suspects it, until every survivor sees it non-alive (suspect or
 *    dead) and until every survivor sees it dead; the suspicion's spread in
 *    hops from the first suspicion.
 *  - load: bytes sent per member per second over a steady-state window (in
 *    full views, a whole number of push-pull periods), with datagram (probe,
 *    ack, gossip) and stream (push-pull) shares, and how it grows with N.
 *  - memory: bytes of heap (mallinfo2) per known-peer entry, measured on one
 *    cluster fed 10,000 synthetic members, without and with metadata; and
 *    the process RSS per entry of the whole simulation.
 *
 * Full view up to --full-max members (default 1000): every node learns every
 * other through the real join/gossip/push-pull protocol, i.e. N² member
 * entries in this process. Above it (10,000 members: 10⁸ entries, about
 * (bytes per entry) × 10⁸ — tens of GB, more than this machine has) a
 * partial view is used: every node is given, by one state page merged directly,
 * the records of --view random peers plus the two tracked nodes (announcer,
 * victim); fan_out_multiplier is scaled so that the fan-out equals the one a
 * full view of N gives (the TTL is at its cap of 8 in both cases), and the
 * periodic push-pull is disabled (state_gossip_interval = 1h) so that views
 * stay partial. Dissemination on a random graph of degree K with the same
 * fan-out and TTL is what the full view does; what differs is reported:
 * no convergence run, push-pull load computed from the measured record size,
 * and the victim is probed by ~N/K nodes per period instead of ~1.
 *
 * Options: --sizes=100,1000,10000 --full-max=1000 --view=128 --window=90
 *          --seed=1 --out-dir=DIR --quick (smaller window, no 10k)
 *
 * SPDX-License-Identifier: MIT
 */
#include "config.h"

#include <malloc.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <gossip/gossip.h>
#include "gossip-private.h"

#define LATENCY_US        1000                      /* fixed one-way latency L */
#define STEP_US           (10 * G_TIME_SPAN_MILLISECOND)
#define CURVE_STEP_US     (50 * G_TIME_SPAN_MILLISECOND)
#define MEM_ENTRIES       10000
#define N_KINDS           11

/* ------------------------------------------------------------------------ */
/* CountingTransport: forwards to a memory transport, counts bytes by kind    */
/* ------------------------------------------------------------------------ */

#define COUNTING_TYPE_TRANSPORT (counting_transport_get_type ())
G_DECLARE_FINAL_TYPE (CountingTransport, counting_transport, COUNTING, TRANSPORT, GObject)

struct _CountingTransport
{
  GObject          parent_instance;
  GossipTransport *inner;
  guint64          dgram_bytes[N_KINDS];
  guint64          stream_bytes[N_KINDS];
};

static void counting_transport_iface_init (GossipTransportInterface *iface);
G_DEFINE_FINAL_TYPE_WITH_CODE (CountingTransport, counting_transport, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (GOSSIP_TYPE_TRANSPORT, counting_transport_iface_init))

static guint
frame_kind (GBytes *frame)
{
  gsize len;
  const guint8 *d = g_bytes_get_data (frame, &len);

  /* Plain frames only: [version][flags: SENDER at most][sender block][kind]... */
  if (len >= 3 && d[1] == 0 && d[2] < N_KINDS)
    return d[2];
  if (len >= 3 + GOSSIP_FRAME_SENDER_SIZE && d[1] == GOSSIP_FRAME_FLAG_SENDER &&
      d[2 + GOSSIP_FRAME_SENDER_SIZE] < N_KINDS)
    return d[2 + GOSSIP_FRAME_SENDER_SIZE];
  return 0;
}

static void
inner_receive (GossipTransport *inner, GBytes *frame, gboolean reliable, const char *from,
               GossipTransportReply *reply, gpointer user_data)
{
  gossip_transport_deliver (GOSSIP_TRANSPORT (user_data), frame, reliable, from, reply);
}

static gboolean
ct_start (GossipTransport *t, GError **error)
{
  return gossip_transport_start (COUNTING_TRANSPORT (t)->inner, error);
}

static void
ct_stop (GossipTransport *t)
{
  gossip_transport_stop (COUNTING_TRANSPORT (t)->inner);
}

static char *
ct_get_local_address (GossipTransport *t)
{
  return gossip_transport_get_local_address (COUNTING_TRANSPORT (t)->inner);
}

static gsize
ct_get_max_datagram (GossipTransport *t)
{
  return gossip_transport_get_max_datagram (COUNTING_TRANSPORT (t)->inner);
}

static void
ct_send_datagram (GossipTransport *t, const char *address, GBytes *frame)
{
  CountingTransport *self = COUNTING_TRANSPORT (t);

  self->dgram_bytes[frame_kind (frame)] += g_bytes_get_size (frame);
  gossip_transport_send_datagram (self->inner, address, frame);
}

static void
ct_send_stream (GossipTransport *t, const char *address, GBytes *frame, gboolean want_reply,
                gint64 timeout_us, GossipTransportStreamFunc func, gpointer user_data)
{
  CountingTransport *self = COUNTING_TRANSPORT (t);

  self->stream_bytes[frame_kind (frame)] += g_bytes_get_size (frame);
  gossip_transport_send_stream (self->inner, address, frame, want_reply, timeout_us, func, user_data);
}

static void
counting_transport_dispose (GObject *object)
{
  CountingTransport *self = COUNTING_TRANSPORT (object);

  if (self->inner != NULL)
    gossip_transport_set_receive_func (self->inner, NULL, NULL, NULL);
  g_clear_object (&self->inner);
  G_OBJECT_CLASS (counting_transport_parent_class)->dispose (object);
}

static void
counting_transport_class_init (CountingTransportClass *klass)
{
  G_OBJECT_CLASS (klass)->dispose = counting_transport_dispose;
}

static void
counting_transport_iface_init (GossipTransportInterface *iface)
{
  iface->start = ct_start;
  iface->stop = ct_stop;
  iface->get_local_address = ct_get_local_address;
  iface->get_max_datagram = ct_get_max_datagram;
  iface->send_datagram = ct_send_datagram;
  iface->send_stream = ct_send_stream;
}

static void
counting_transport_init (CountingTransport *self)
{
}

static CountingTransport *
counting_transport_new (GossipTransport *inner)
{
  CountingTransport *self = g_object_new (COUNTING_TYPE_TRANSPORT, NULL);

  self->inner = g_object_ref (inner);
  gossip_transport_set_receive_func (inner, inner_receive, self, NULL);
  return self;
}

/* ------------------------------------------------------------------------ */
/* Simulation                                                                */
/* ------------------------------------------------------------------------ */

typedef struct _Sim Sim;

typedef struct {
  Sim               *sim;
  guint              index;
  char              *id;
  char              *address;
  GossipCluster     *cluster;
  CountingTransport *transport;
  gboolean           running;
  gint64             t_all_alive;   /* first time it saw all N alive */
  gint64             t_meta;        /* saw the announcer's new metadata */
  gint64             t_nonalive;    /* saw the victim suspect or dead */
  gint64             t_dead;        /* saw the victim dead */
} Node;

struct _Sim
{
  GossipVirtualClock  *clock;
  GossipMemoryNetwork *net;
  GMainContext        *ctx;
  Node                *nodes;
  guint                n;
  gint64               start;
  guint                target_alive;
  const char          *announcer_id;
  const char          *victim_id;
  guint32              seed;
  GRand               *rand;
};

static char *
node_id_for (guint index)
{
  return g_strdup_printf ("00000000-0000-7000-8000-%012x", index + 1);
}

/* In-memory addresses only (no packet ever leaves the process); spelled in
 * 127/8 so that nothing even looks like a remote address. */
static char *
address_for (guint index)
{
  guint v = index + 1;
  return g_strdup_printf ("127.%u.%u.%u:7946", (v >> 16) & 0xff, (v >> 8) & 0xff, v & 0xff);
}

static gint64
sim_now (Sim *sim)
{
  return gossip_clock_now (GOSSIP_CLOCK (sim->clock)) - sim->start;
}

static void
sim_iterate (Sim *sim)
{
  for (guint i = 0; i < 100000 && g_main_context_iteration (sim->ctx, FALSE); i++)
    ;
}

static void
sim_advance (Sim *sim, gint64 delta)
{
  gint64 target = sim_now (sim) + delta;

  sim_iterate (sim);
  while (sim_now (sim) < target)
    {
      gossip_virtual_clock_advance (sim->clock, MIN (STEP_US, target - sim_now (sim)));
      sim_iterate (sim);
    }
}

static void
on_state_changed (GossipCluster *cluster, GossipNode *node, gint old_state, gint new_state, gpointer data)
{
  Node *n = data;
  Sim *sim = n->sim;
  gint64 t = sim_now (sim);

  if (new_state == GOSSIP_NODE_ALIVE)
    {
      if (n->t_all_alive < 0 && sim->target_alive > 0 &&
          gossip_cluster_count (cluster, GOSSIP_NODE_ALIVE) >= sim->target_alive)
        n->t_all_alive = t;
    }
  else if (sim->victim_id != NULL && strcmp (gossip_node_get_id (node), sim->victim_id) == 0)
    {
      if (n->t_nonalive < 0)
        n->t_nonalive = t;
      if (new_state == GOSSIP_NODE_DEAD && n->t_dead < 0)
        n->t_dead = t;
    }
}

static void
on_metadata_changed (GossipCluster *cluster, GossipNode *node, gboolean is_local, gpointer data)
{
  Node *n = data;
  Sim *sim = n->sim;

  if (n->t_meta < 0 && sim->announcer_id != NULL &&
      strcmp (gossip_node_get_id (node), sim->announcer_id) == 0 &&
      gossip_node_get_metadata_value (node, "bench") != NULL)
    n->t_meta = sim_now (sim);
}

static void
config_set (GossipConfig *c, const char *name, const char *value)
{
  g_autoptr(GError) error = NULL;

  if (!gossip_config_set_from_text (c, name, value, &error))
    g_error ("config %s=%s: %s", name, value, error->message);
}

static Sim *
sim_new (guint n, guint32 seed, const GossipConfig *base)
{
  Sim *sim = g_new0 (Sim, 1);

  sim->start = 1000 * G_USEC_PER_SEC;
  sim->clock = gossip_virtual_clock_new (sim->start);
  sim->net = gossip_memory_network_new (sim->clock, seed);
  gossip_memory_network_set_latency (sim->net, LATENCY_US, LATENCY_US);
  sim->ctx = g_main_context_ref (g_main_context_default ());
  sim->n = n;
  sim->seed = seed;
  sim->rand = g_rand_new_with_seed (seed);
  sim->nodes = g_new0 (Node, n);

  for (guint i = 0; i < n; i++)
    {
      Node *node = &sim->nodes[i];
      g_autoptr(GossipConfig) c = gossip_config_copy (base);
      g_autoptr(GossipTransport) mem = NULL;
      g_autoptr(GError) error = NULL;

      node->sim = sim;
      node->index = i;
      node->id = node_id_for (i);
      node->address = address_for (i);
      node->t_all_alive = node->t_meta = node->t_nonalive = node->t_dead = -1;
      config_set (c, "node_id", node->id);
      config_set (c, "bind_addr", node->address);
      mem = gossip_memory_transport_new (sim->net, node->address);
      node->transport = counting_transport_new (mem);
      node->cluster = gossip_cluster_new_full (c, sim->ctx, GOSSIP_CLOCK (sim->clock),
                                               GOSSIP_TRANSPORT (node->transport), &error);
      if (node->cluster == NULL)
        g_error ("node %u: %s", i, error->message);
      g_signal_connect (node->cluster, "node-state-changed", G_CALLBACK (on_state_changed), node);
      g_signal_connect (node->cluster, "node-metadata-changed", G_CALLBACK (on_metadata_changed), node);
    }

  /* Processes never start in the same microsecond: spread the starts
   * over one probe period so that probe timers are not in lockstep. */
  {
    g_autofree gint64 *offset = g_new (gint64, n);
    g_autofree guint *order = g_new (guint, n);
    gint64 t = sim_now (sim);

    for (guint i = 0; i < n; i++)
      {
        offset[i] = (gint64) g_rand_int_range (sim->rand, 0, 2000) * G_TIME_SPAN_MILLISECOND;
        order[i] = i;
      }
    for (guint i = 0; i < n; i++)      /* insertion sort by offset is fine up to 10k */
      for (guint j = i; j > 0 && offset[order[j]] < offset[order[j - 1]]; j--)
        {
          guint tmp = order[j];
          order[j] = order[j - 1];
          order[j - 1] = tmp;
        }
    for (guint k = 0; k < n; k++)
      {
        Node *node = &sim->nodes[order[k]];
        g_autoptr(GError) error = NULL;

        if (t + offset[order[k]] > sim_now (sim))
          gossip_virtual_clock_advance (sim->clock, t + offset[order[k]] - sim_now (sim));
        if (!gossip_cluster_start (node->cluster, &error))
          g_error ("node %u: start: %s", order[k], error->message);
        node->running = TRUE;
      }
    sim_advance (sim, t + 2 * G_USEC_PER_SEC - sim_now (sim));
  }
  return sim;
}

static void
sim_free (Sim *sim)
{
  for (guint i = 0; i < sim->n; i++)
    if (sim->nodes[i].running)
      gossip_cluster_hard_stop (sim->nodes[i].cluster);
  sim_iterate (sim);
  for (guint i = 0; i < sim->n; i++)
    {
      Node *node = &sim->nodes[i];
      g_signal_handlers_disconnect_by_data (node->cluster, node);
      g_clear_object (&node->cluster);
      g_clear_object (&node->transport);
      g_free (node->id);
      g_free (node->address);
    }
  g_free (sim->nodes);
  g_object_unref (sim->net);
  g_object_run_dispose (G_OBJECT (sim->clock));
  g_object_unref (sim->clock);
  sim_iterate (sim);
  g_main_context_unref (sim->ctx);
  g_rand_free (sim->rand);
  g_free (sim);
}

static guint64
sim_bytes_total (Sim *sim)
{
  guint64 sum = 0;

  for (guint i = 0; i < sim->n; i++)
    if (sim->nodes[i].running)
      sum += gossip_memory_network_get_bytes_sent (sim->net, sim->nodes[i].address);
  return sum;
}

static void
sim_bytes_split (Sim *sim, guint64 *dgram, guint64 *stream)
{
  *dgram = *stream = 0;
  for (guint i = 0; i < sim->n; i++)
    {
      if (!sim->nodes[i].running)
        continue;
      for (guint k = 0; k < N_KINDS; k++)
        {
          *dgram += sim->nodes[i].transport->dgram_bytes[k];
          *stream += sim->nodes[i].transport->stream_bytes[k];
        }
    }
}

/* ------------------------------------------------------------------------ */
/* Synthetic state (partial views, memory measurement)                       */
/* ------------------------------------------------------------------------ */

static void
write_record (GossipWriter *w, guint index, guint n_meta)
{
  GossipUpdate u;
  g_autofree char *id = node_id_for (index);
  g_autofree char *addr = address_for (index);
  g_autoptr(GHashTable) md = NULL;

  memset (&u, 0, sizeof u);
  u.kind = GOSSIP_UPDATE_ALIVE;
  gossip_uuid_parse (id, u.id);
  u.incarnation = 0;
  u.address = addr;
  u.app_version = (char *) "";
  if (n_meta > 0)
    {
      md = _gossip_metadata_new ();
      for (guint i = 0; i < n_meta; i++)
        g_hash_table_insert (md, g_strdup_printf ("key%u", i), g_strdup_printf ("value-%010u", index));
      u.metadata = md;
      u.meta_version = 1;
    }
  _gossip_update_write (w, &u);
  gossip_writer_put_u8 (w, GOSSIP_NODE_ALIVE);
}

static int
cmp_uint (const void *a, const void *b)
{
  guint x = *(const guint *) a, y = *(const guint *) b;

  return x < y ? -1 : x > y;
}

/* A state page with the records of @indices (sorted here: ids increase
 * with the index), merged into @cluster as if a member had sent it. A
 * node knowing nobody takes nothing from a stranger's state (PROTOCOL.md,
 * "Strangers"), so views are seeded this way rather than by frames. */
static void
merge_records (GossipCluster *cluster, guint *indices, guint count, guint n_meta)
{
  static const guint8 no_cursor[GOSSIP_UUID_SIZE] = { 0 };
  GossipWriter w;
  GossipReader r;

  qsort (indices, count, sizeof *indices, cmp_uint);
  gossip_writer_init (&w);
  gossip_writer_put_u8 (&w, 0);
  gossip_writer_put_raw (&w, no_cursor, GOSSIP_UUID_SIZE);
  gossip_writer_put_u32 (&w, count);
  for (guint i = 0; i < count; i++)
    write_record (&w, indices[i], n_meta);
  gossip_reader_init (&r, w.data->data, w.data->len);
  if (!_gossip_membership_merge_page (cluster, &r))
    g_error ("seeding a view: the page was refused");
  gossip_writer_clear (&w);
}

static gsize
record_size (guint n_meta)
{
  GossipWriter w;
  gsize len;

  gossip_writer_init (&w);
  write_record (&w, 4242, n_meta);
  len = gossip_writer_len (&w);
  gossip_writer_clear (&w);
  return len;
}

/* ------------------------------------------------------------------------ */
/* Memory per known-peer entry                                               */
/* ------------------------------------------------------------------------ */

static gsize
heap_in_use (void)
{
  struct mallinfo2 mi = mallinfo2 ();
  return mi.uordblks + mi.hblkhd;
}

static long
rss_kb (const char *field)
{
  FILE *f = fopen ("/proc/self/status", "r");
  char line[256];
  long v = -1;
  gsize flen = strlen (field);

  if (f == NULL)
    return -1;
  while (fgets (line, sizeof line, f))
    if (strncmp (line, field, flen) == 0 && line[flen] == ':')
      {
        v = strtol (line + flen + 1, NULL, 10);
        break;
      }
  fclose (f);
  return v;
}

typedef struct {
  double bytes_per_entry;
  double bytes_per_entry_meta;
  guint  meta_keys;
  gsize  meta_wire_bytes;
  double cluster_base_bytes;
} MemResult;

/* One cluster fed @count synthetic members; returns heap bytes per entry. */
static double
measure_entries (guint count, guint n_meta, double *base_out)
{
  GossipVirtualClock *clock = gossip_virtual_clock_new (1000 * G_USEC_PER_SEC);
  GossipMemoryNetwork *net = gossip_memory_network_new (clock, 7);
  g_autoptr(GossipConfig) c = gossip_config_new ();
  g_autoptr(GossipTransport) mem = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree guint *idx = g_new (guint, count);
  g_autofree char *addr = address_for (0x100000);
  g_autofree char *id = node_id_for (0x100000);
  GossipCluster *cluster;
  gsize before, after_start, after;

  /* Long probe period: the synthetic members never answer, and what is
   * measured is the steady cost of knowing them. */
  config_set (c, "node_id", id);
  config_set (c, "bind_addr", addr);
  config_set (c, "state_gossip_interval", "1h");
  malloc_trim (0);
  before = heap_in_use ();
  mem = gossip_memory_transport_new (net, addr);
  cluster = gossip_cluster_new_full (c, g_main_context_default (), GOSSIP_CLOCK (clock), mem, &error);
  if (cluster == NULL || !gossip_cluster_start (cluster, &error))
    g_error ("memory probe cluster: %s", error->message);
  gossip_virtual_clock_advance (clock, 3 * G_USEC_PER_SEC);
  while (g_main_context_iteration (NULL, FALSE))
    ;
  after_start = heap_in_use ();
  if (base_out)
    *base_out = (double) after_start - (double) before;

  for (guint i = 0; i < count; i++)
    idx[i] = 0x200000 + i;
  merge_records (cluster, idx, count, n_meta);
  /* Delivery, then one probe period so that a probe round over everyone
   * has started. */
  gossip_virtual_clock_advance (clock, 2500 * G_TIME_SPAN_MILLISECOND);
  while (g_main_context_iteration (NULL, FALSE))
    ;
  if (gossip_cluster_count_all (cluster) < count)
    g_error ("memory probe: only %u of %u members merged", gossip_cluster_count_all (cluster), count);
  after = heap_in_use ();

  gossip_cluster_hard_stop (cluster);
  g_object_unref (cluster);
  g_object_unref (net);
  g_object_run_dispose (G_OBJECT (clock));
  g_object_unref (clock);
  while (g_main_context_iteration (NULL, FALSE))
    ;
  return ((double) after - (double) after_start) / count;
}

static void
measure_memory (MemResult *res)
{
  res->meta_keys = 4;
  res->meta_wire_bytes = record_size (res->meta_keys) - record_size (0);
  res->bytes_per_entry = measure_entries (MEM_ENTRIES, 0, &res->cluster_base_bytes);
  res->bytes_per_entry_meta = measure_entries (MEM_ENTRIES, res->meta_keys, NULL);
}

/* ------------------------------------------------------------------------ */
/* One size                                                                  */
/* ------------------------------------------------------------------------ */

typedef struct {
  guint   n;
  gboolean full;
  guint   view;
  guint   fanout;
  guint   ttl;
  double  log2n;
  /* convergence */
  double  conv_s;          /* -1: not measured / not reached */
  double  conv_rounds;
  double  conv50_s;        /* half of the nodes see everyone */
  double  conv95_s;
  double  upd_reached;     /* share of nodes the update reached */
  /* update spread */
  double  upd_all_s;
  double  upd_wave_frac;
  guint   upd_wave_hops;
  double  upd_p50_s;
  /* death */
  double  det_first_s;
  double  det_all_s;
  double  det_spread_s;
  guint   det_wave_hops;
  double  det_wave_frac;
  double  dead_all_s;
  /* load */
  double  bps_total;
  double  bps_dgram;
  double  bps_stream;
  double  bps_pushpull_est;
  double  bps_with_pushpull;  /* total, push-pull included (estimated where disabled) */
  double  window_s;
  double  pushpull_period_s;  /* at default settings with a full view of N */
  /* memory */
  double  rss_per_entry;
  long    rss_kb;
  double  wall_s;
} SizeResult;

static int
cmp_i64 (const void *a, const void *b)
{
  gint64 x = *(const gint64 *) a, y = *(const gint64 *) b;
  return x < y ? -1 : x > y;
}

/* Spread statistics of per-node times @t (µs, -1 = never) relative to
 * @origin: wave fraction and depth (exact multiples of L), time to all. */
static void
spread_stats (Sim *sim, gint64 (*get) (Node *), gint64 origin, gint exclude,
              double *all_s, double *p50_s, double *wave_frac, guint *wave_hops, FILE *cdf, const char *label)
{
  g_autofree gint64 *d = g_new (gint64, sim->n);
  guint m = 0, wave = 0, missing = 0;
  guint hops = 0;

  for (guint i = 0; i < sim->n; i++)
    {
      Node *node = &sim->nodes[i];
      gint64 t;
      if (!node->running || (gint) i == exclude)
        continue;
      t = get (node);
      if (t < 0)
        {
          missing++;
          continue;
        }
      d[m++] = t - origin;
      if ((t - origin) >= 0 && (t - origin) % LATENCY_US == 0 && (t - origin) / LATENCY_US <= 32)
        {
          wave++;
          hops = MAX (hops, (guint) ((t - origin) / LATENCY_US));
        }
      if (cdf)
        fprintf (cdf, "%u,%s,%.6f\n", sim->n, label, (double) (t - origin) / G_USEC_PER_SEC);
    }
  qsort (d, m, sizeof *d, cmp_i64);
  *all_s = missing > 0 || m == 0 ? -1.0 : (double) d[m - 1] / G_USEC_PER_SEC;
  if (p50_s)
    *p50_s = m > 0 ? (double) d[m / 2] / G_USEC_PER_SEC : -1.0;
  *wave_frac = (m + missing) > 0 ? (double) wave / (m + missing) : 0.0;
  *wave_hops = hops;
}

static gint64 get_meta (Node *n) { return n->t_meta; }
static gint64 get_nonalive (Node *n) { return n->t_nonalive; }
static gint64 get_dead (Node *n) { return n->t_dead; }

static gboolean
all_running_have (Sim *sim, gint64 (*get) (Node *), gint exclude)
{
  for (guint i = 0; i < sim->n; i++)
    if (sim->nodes[i].running && (gint) i != exclude && get (&sim->nodes[i]) < 0)
      return FALSE;
  return TRUE;
}

static void
build_partial_views (Sim *sim, guint view, guint announcer, guint victim)
{
  g_autofree guint *idx = g_new (guint, view + 2);

  for (guint i = 0; i < sim->n; i++)
    {
      guint count = 0;

      idx[count++] = announcer;
      idx[count++] = victim;
      while (count < view + 2)
        {
          guint j = (guint) g_rand_int_range (sim->rand, 0, (gint32) sim->n);
          gboolean dup = j == i;
          for (guint k = 0; k < count && !dup; k++)
            dup = idx[k] == j;
          if (!dup)
            idx[count++] = j;
        }
      /* A node does not list itself. */
      for (guint k = 0; k < count; k++)
        if (idx[k] == i)
          idx[k] = idx[--count];
      merge_records (sim->nodes[i].cluster, idx, count, 0);
      if (i % 1000 == 999)
        sim_advance (sim, 0);
    }
  sim_advance (sim, 100 * G_TIME_SPAN_MILLISECOND);
}

static void
run_size (guint n, gboolean full, guint view, gint64 window, guint32 seed,
          FILE *curve, FILE *cdf, SizeResult *r)
{
  g_autoptr(GossipConfig) base = gossip_config_new ();
  gint64 wall0 = g_get_monotonic_time ();
  guint announcer = n / 2, victim = n / 3;
  Sim *sim;
  guint64 b0, b1, d0, d1, s0, s1;
  gint64 t0, t1, t2;
  double dummy;
  guint dummy_hops;
  long rss_before = rss_kb ("VmRSS");

  memset (r, 0, sizeof *r);
  r->n = n;
  r->full = full;
  r->view = full ? n - 1 : view;
  r->log2n = log2 ((double) n);
  r->conv_s = r->conv50_s = r->conv95_s = r->upd_all_s = r->det_first_s = r->det_all_s = r->dead_all_s = -1;

  if (!full)
    {
      /* Same fan-out as a full view of N; views stay partial. */
      double fm = log2 ((double) n) / log2 ((double) view + 3.0);
      g_autofree char *fms = g_strdup_printf ("%.4f", fm);
      config_set (base, "fan_out_multiplier", fms);
      config_set (base, "state_gossip_interval", "1h");
    }

  sim = sim_new (n, seed, base);

  /* 1. convergence */
  if (full)
    {
      const char *peers[] = { sim->nodes[0].address, NULL };
      gint64 deadline;
      guint debug_done = 0;

      sim->target_alive = n;
      t0 = sim_now (sim);
      for (guint i = 1; i < n; i++)
        gossip_cluster_join_async (sim->nodes[i].cluster, peers, NULL, NULL, NULL);
      deadline = t0 + 300 * G_USEC_PER_SEC;
      for (;;)
        {
          guint done = 0;
          for (guint i = 0; i < n; i++)
            done += sim->nodes[i].t_all_alive >= 0;
          if (curve)
            fprintf (curve, "%u,%.3f,%.5f\n", n, (double) (sim_now (sim) - t0) / G_USEC_PER_SEC,
                     (double) done / n);
          if (done == n || sim_now (sim) >= deadline)
            break;
          /* BENCH_SIM_DEBUG=1: who misses whom one second after the joins. */
          if (g_getenv ("BENCH_SIM_DEBUG") && sim_now (sim) - t0 >= G_USEC_PER_SEC && !debug_done++)
            for (guint i = 0; i < n; i++)
              if (sim->nodes[i].t_all_alive < 0)
                {
                  GString *miss = g_string_new (NULL);
                  for (guint j = 0; j < n; j++)
                    {
                      g_autoptr(GossipNode) nd = gossip_cluster_get_node (sim->nodes[i].cluster, sim->nodes[j].id);
                      if (nd == NULL || gossip_node_get_state (nd) != GOSSIP_NODE_ALIVE)
                        g_string_append_printf (miss, " %u%s", j, nd == NULL ? "?" : "!");
                    }
                  g_printerr ("debug: node %u sees %u alive, missing:%s\n", i,
                              gossip_cluster_count (sim->nodes[i].cluster, GOSSIP_NODE_ALIVE), miss->str);
                  g_string_free (miss, TRUE);
                }
          {
            /* Fine samples while most of it happens, coarse afterwards. */
            gint64 since = sim_now (sim) - t0;
            sim_advance (sim, since < 100 * G_TIME_SPAN_MILLISECOND ? G_TIME_SPAN_MILLISECOND :
                              since < G_USEC_PER_SEC ? 10 * G_TIME_SPAN_MILLISECOND : CURVE_STEP_US);
          }
        }
      {
        gint64 worst = -1;
        gboolean ok = TRUE;
        for (guint i = 0; i < n; i++)
          {
            if (sim->nodes[i].t_all_alive < 0)
              ok = FALSE;
            worst = MAX (worst, sim->nodes[i].t_all_alive);
          }
        {
          g_autofree gint64 *d = g_new (gint64, n);
          guint m = 0;
          for (guint i = 0; i < n; i++)
            if (sim->nodes[i].t_all_alive >= 0)
              d[m++] = sim->nodes[i].t_all_alive - t0;
          qsort (d, m, sizeof *d, cmp_i64);
          r->conv50_s = m > n / 2 ? (double) d[n / 2] / G_USEC_PER_SEC : -1;
          r->conv95_s = m > (n * 95) / 100 ? (double) d[(n * 95) / 100] / G_USEC_PER_SEC : -1;
        }
        if (ok)
          {
            r->conv_s = (double) (worst - t0) / G_USEC_PER_SEC;
            r->conv_rounds = (double) (worst - t0) / (500 * G_TIME_SPAN_MILLISECOND);
          }
      }
      sim->target_alive = 0;
    }
  else
    build_partial_views (sim, view, announcer, victim);

  {
    GossipCluster *c = sim->nodes[1].cluster;
    r->fanout = _gossip_membership_fanout (c);
    r->ttl = _gossip_membership_ttl (c);
  }

  /* 2. steady-state load. Push-pull rounds are rare and, after the
   * simultaneous joins, in step: a full view measures a whole number of
   * push-pull periods, so that every node's exchanges are counted once per
   * period (a shorter window would catch all of them or none). */
  {
    g_autoptr(GossipConfig) defaults = gossip_config_new ();
    gint64 period = _gossip_push_pull_period_for (gossip_config_get_duration (defaults, "state_gossip_interval"), n,
                                                  gossip_config_get_double (defaults, "state_exchange_multiplier"));

    r->pushpull_period_s = (double) period / G_USEC_PER_SEC;
    if (full)
      window = ((window + period - 1) / period) * period;
    r->window_s = (double) window / G_USEC_PER_SEC;
    /* Push-pull at default settings with a full view of N: one exchange
     * per period, which carries the full state of N records both ways; a
     * node also answers one exchange per period on average. The period
     * grows in proportion to N beyond N0 = 128, so this is flat there:
     * 2 × min(N, 128) × record / 45 s. */
    r->bps_pushpull_est = 2.0 * (double) n * (double) record_size (0) / r->pushpull_period_s;
  }
  sim_advance (sim, 5 * G_USEC_PER_SEC);
  b0 = sim_bytes_total (sim);
  sim_bytes_split (sim, &d0, &s0);
  t1 = sim_now (sim);
  sim_advance (sim, window);
  b1 = sim_bytes_total (sim);
  sim_bytes_split (sim, &d1, &s1);
  {
    double secs = (double) (sim_now (sim) - t1) / G_USEC_PER_SEC;
    r->bps_total = (double) (b1 - b0) / secs / n;
    r->bps_dgram = (double) (d1 - d0) / secs / n;
    r->bps_stream = r->bps_total - r->bps_dgram;
    /* Partial views run without push-pull: add what it would cost. */
    r->bps_with_pushpull = full ? r->bps_total : r->bps_total + r->bps_pushpull_est;
  }

  /* 3. update spread */
  sim->announcer_id = sim->nodes[announcer].id;
  t1 = sim_now (sim);
  {
    g_autoptr(GError) error = NULL;
    if (!gossip_cluster_set_metadata (sim->nodes[announcer].cluster, "bench", "1", &error))
      g_error ("set_metadata: %s", error->message);
  }
  sim->nodes[announcer].t_meta = t1;
  for (guint k = 0; k < 3000 && !all_running_have (sim, get_meta, -1); k++)
    sim_advance (sim, STEP_US);
  spread_stats (sim, get_meta, t1, (gint) announcer, &r->upd_all_s, &r->upd_p50_s, &r->upd_wave_frac,
                &r->upd_wave_hops, cdf, "update");
  {
    guint got = 0, tot = 0;
    for (guint i = 0; i < n; i++)
      if (sim->nodes[i].running && i != announcer)
        {
          tot++;
          got += sim->nodes[i].t_meta >= 0;
        }
    r->upd_reached = (double) got / MAX (tot, 1u);
  }

  /* 4. death */
  sim_advance (sim, 2 * G_USEC_PER_SEC);
  sim->victim_id = sim->nodes[victim].id;
  t2 = sim_now (sim);
  gossip_cluster_hard_stop (sim->nodes[victim].cluster);
  sim->nodes[victim].running = FALSE;
  for (guint k = 0; k < 9000 && !all_running_have (sim, get_dead, -1); k++)
    sim_advance (sim, STEP_US);
  {
    gint64 first = -1;
    for (guint i = 0; i < n; i++)
      if (sim->nodes[i].running && sim->nodes[i].t_nonalive >= 0 &&
          (first < 0 || sim->nodes[i].t_nonalive < first))
        first = sim->nodes[i].t_nonalive;
    if (first >= 0)
      {
        r->det_first_s = (double) (first - t2) / G_USEC_PER_SEC;
        spread_stats (sim, get_nonalive, first, -1, &r->det_spread_s, NULL, &r->det_wave_frac,
                      &r->det_wave_hops, NULL, NULL);
        if (r->det_spread_s >= 0)
          r->det_all_s = r->det_first_s + r->det_spread_s;
      }
    spread_stats (sim, get_nonalive, t2, -1, &dummy, NULL, &dummy, &dummy_hops, cdf, "nonalive");
    spread_stats (sim, get_dead, t2, -1, &r->dead_all_s, NULL, &dummy, &dummy_hops, cdf, "dead");
  }

  r->rss_kb = rss_kb ("VmRSS");
  {
    double entries = full ? (double) n * n : (double) n * (view + 2);
    r->rss_per_entry = (double) (r->rss_kb - rss_before) * 1024.0 / entries;
  }
  sim_free (sim);
  malloc_trim (0);
  r->wall_s = (double) (g_get_monotonic_time () - wall0) / G_USEC_PER_SEC;
}

/* ------------------------------------------------------------------------ */
/* Output                                                                    */
/* ------------------------------------------------------------------------ */

static char *
fmt_s (double v)
{
  return v < 0 ? g_strdup ("n/a") : g_strdup_printf ("%.3f", v);
}

/* How the per-member load grows with N, on a like-for-like basis at every
 * size: the measured datagram load plus the push-pull load a full view
 * costs at default settings (pushpull_est; partial-view runs cannot measure
 * it, and a full view's measured share depends on the exchanges' phase in
 * the window). The exponent k of N^k from each size to the next and from
 * the smallest to the largest (0: flat, 1: linear). Results are in the
 * order of --sizes. */
static double
model_load (const SizeResult *r)
{
  return r->bps_dgram + r->bps_pushpull_est;
}

static double
growth_exponent (const SizeResult *a, const SizeResult *b)
{
  return log (model_load (b) / model_load (a)) / log ((double) b->n / a->n);
}

static void
print_growth (SizeResult *rs, guint count)
{
  double k;

  for (guint i = 0; i < count; i++)
    if (model_load (&rs[i]) <= 0 || (i > 0 && rs[i].n <= rs[i - 1].n))
      return;
  if (count < 2)
    return;
  printf ("\nper-member load as N grows (datagram measured + pushpull_est):\n");
  for (guint i = 1; i < count; i++)
    printf ("  N=%u -> %u: %.0f -> %.0f B/s, x%.2f for x%.0f members (N^%.2f)\n",
            rs[i - 1].n, rs[i].n, model_load (&rs[i - 1]), model_load (&rs[i]),
            model_load (&rs[i]) / model_load (&rs[i - 1]), (double) rs[i].n / rs[i - 1].n,
            growth_exponent (&rs[i - 1], &rs[i]));
  k = growth_exponent (&rs[0], &rs[count - 1]);
  printf ("  overall N^%.2f: %s. Below N0 = 128 members the push-pull share grows with N up to\n"
          "  2 x 128 x record / 45 s, then stays there (its period grows with N instead).\n",
          k, k < 0.15 ? "flat in N" : k < 0.6 ? "sublinear in N" : "growing about linearly with N or faster");
}

static void
print_results (SizeResult *rs, guint count, const MemResult *mem, FILE *csv, FILE *json)
{
  printf ("\n== In-process simulation (memory transport, virtual time, one-way latency %d us)\n", LATENCY_US);
  printf ("\n-- convergence and dissemination (virtual seconds)\n");
  printf ("%6s %5s %5s %5s %4s %4s | %8s %8s %8s %7s | %8s %5s %7s %8s | %8s %8s %8s %5s %8s\n",
          "N", "view", "K", "log2N", "ttl", "fan", "conv50", "conv95", "conv100", "rounds",
          "upd_all", "hops", "wave%", "reached%",
          "det1st", "detall", "spread", "hops", "deadall");
  for (guint i = 0; i < count; i++)
    {
      SizeResult *r = &rs[i];
      g_autofree char *c5 = fmt_s (r->conv50_s), *c9 = fmt_s (r->conv95_s), *c = fmt_s (r->conv_s),
                      *u = fmt_s (r->upd_all_s), *d1 = fmt_s (r->det_first_s),
                      *da = fmt_s (r->det_all_s), *sp = fmt_s (r->det_spread_s), *dd = fmt_s (r->dead_all_s);
      g_autofree char *rounds = r->conv_s >= 0 ? g_strdup_printf ("%.1f", r->conv_rounds) : g_strdup ("n/a");
      printf ("%6u %5s %5u %5.1f %4u %4u | %8s %8s %8s %7s | %8s %5u %6.2f%% %7.2f%% | %8s %8s %8s %5u %8s\n",
              r->n, r->full ? "full" : "part", r->view, r->log2n, r->ttl, r->fanout,
              c5, c9, c, rounds, u, r->upd_wave_hops, 100.0 * r->upd_wave_frac, 100.0 * r->upd_reached,
              d1, da, sp, r->det_wave_hops, dd);
    }
  printf ("\n-- load and memory\n");
  printf ("%6s %5s %7s | %10s %10s %10s | %7s %12s | %10s | %12s %8s\n",
          "N", "view", "window", "B/s/member", "datagram", "stream", "pp_per", "pushpull_est", "with_pp",
          "RSS/entry", "wall_s");
  for (guint i = 0; i < count; i++)
    {
      SizeResult *r = &rs[i];
      printf ("%6u %5s %7.1f | %10.0f %10.0f %10.0f | %7.1f %12.0f | %10.0f | %12.0f %8.1f\n",
              r->n, r->full ? "full" : "part", r->window_s, r->bps_total, r->bps_dgram, r->bps_stream,
              r->pushpull_period_s, r->bps_pushpull_est, r->bps_with_pushpull, r->rss_per_entry, r->wall_s);
      if (csv)
        fprintf (csv, "%u,%s,%u,%.3f,%u,%u,%.4f,%.4f,%.4f,%.2f,%.4f,%u,%.5f,%.5f,%.4f,%.4f,%.4f,%u,%.4f,%.1f,%.1f,%.1f,%.1f,%.1f,%.1f,"
                 "%.1f,%.1f,%.1f\n",
                 r->n, r->full ? "full" : "partial", r->view, r->log2n, r->ttl, r->fanout,
                 r->conv50_s, r->conv95_s, r->conv_s, r->conv_rounds, r->upd_all_s, r->upd_wave_hops,
                 r->upd_wave_frac, r->upd_reached,
                 r->det_first_s, r->det_all_s, r->det_spread_s, r->det_wave_hops, r->dead_all_s,
                 r->bps_total, r->bps_dgram, r->bps_stream, r->bps_pushpull_est, r->rss_per_entry, r->wall_s,
                 r->bps_with_pushpull, r->window_s, r->pushpull_period_s);
      if (json)
        fprintf (json,
                 "%s\n    {\"n\": %u, \"view\": \"%s\", \"view_size\": %u, \"log2n\": %.3f, \"ttl\": %u, \"fanout\": %u,"
                 " \"converge50_s\": %.4f, \"converge95_s\": %.4f, \"converge_s\": %.4f, \"converge_rounds\": %.2f,"
                 " \"update_all_s\": %.4f, \"update_wave_hops\": %u, \"update_wave_fraction\": %.5f,"
                 " \"update_reached\": %.5f, \"detect_first_s\": %.4f, \"detect_all_s\": %.4f,"
                 " \"suspicion_spread_s\": %.4f, \"suspicion_wave_hops\": %u, \"dead_all_s\": %.4f,"
                 " \"bytes_per_member_s\": %.1f, \"datagram_bytes_per_member_s\": %.1f,"
                 " \"stream_bytes_per_member_s\": %.1f, \"pushpull_full_view_estimate\": %.1f,"
                 " \"rss_bytes_per_entry\": %.1f, \"wall_s\": %.1f,"
                 " \"bytes_per_member_s_with_pushpull\": %.1f, \"window_s\": %.1f, \"pushpull_period_s\": %.1f}",
                 i == 0 ? "" : ",", r->n, r->full ? "full" : "partial", r->view, r->log2n, r->ttl, r->fanout,
                 r->conv50_s, r->conv95_s, r->conv_s, r->conv_rounds, r->upd_all_s, r->upd_wave_hops,
                 r->upd_wave_frac, r->upd_reached,
                 r->det_first_s, r->det_all_s, r->det_spread_s, r->det_wave_hops, r->dead_all_s,
                 r->bps_total, r->bps_dgram, r->bps_stream, r->bps_pushpull_est, r->rss_per_entry, r->wall_s,
                 r->bps_with_pushpull, r->window_s, r->pushpull_period_s);
    }
  print_growth (rs, count);
  printf ("\nconv50/95/100: time until 50%%/95%%/all of the N nodes see all N alive, after simultaneous\n"
          "  joins to one seed (rounds = conv100 / 500 ms periodic gossip round). n/a: not simulated.\n"
          "upd_all: a metadata change reaches every node (n/a: not all within 30 s); hops = depth of the\n"
          "  immediate relay wave (arrival at an exact multiple of the latency L), wave%% = share of\n"
          "  nodes it reached, reached%% = share reached at all within 30 s.\n"
          "det1st: first suspicion after the kill; detall: every survivor sees it non-alive;\n"
          "  spread = detall - det1st (hops: wave depth); deadall: every survivor sees it dead.\n"
          "B/s/member: frames sent per member per second in a steady window (datagram: probes, acks,\n"
          "  gossip; stream: push-pull and stream replies); a full view's window is a whole number of\n"
          "  push-pull periods. pp_per: push-pull period at default settings, 45 s x max(1, N/128).\n"
          "  pushpull_est: push-pull bytes/s/member a full view of N costs at default settings,\n"
          "  2 x N x record / pp_per = 2 x min(N, 128) x record / 45 s. with_pp: B/s/member with\n"
          "  push-pull (measured in full views; partial-view runs disable it, the estimate is added).\n");

  printf ("\n== Memory per known-peer entry (one cluster fed %u synthetic members, heap via mallinfo2)\n", MEM_ENTRIES);
  printf ("  without metadata:            %8.1f bytes/entry\n", mem->bytes_per_entry);
  printf ("  with %u metadata keys:        %8.1f bytes/entry (metadata: %.1f bytes in memory, %zu bytes on the wire)\n",
          mem->meta_keys, mem->bytes_per_entry_meta, mem->bytes_per_entry_meta - mem->bytes_per_entry,
          mem->meta_wire_bytes);
  printf ("  an empty started cluster:    %8.0f bytes of heap\n", mem->cluster_base_bytes);
  printf ("  struct sizes: GossipMember %zu, GossipNode %zu, GossipUpdate %zu; record on the wire %zu bytes\n",
          sizeof (GossipMember), sizeof (GossipNode), sizeof (GossipUpdate), record_size (0));
  printf ("  target <= 256 bytes/entry plus metadata: %s\n",
          mem->bytes_per_entry <= 256.0 ? "MET" : "MISSED");
  printf ("  a full view at N=10,000 holds 10^8 entries: %.1f GB of heap (machine: 24 GB)\n",
          mem->bytes_per_entry * 1e8 / 1e9);
  if (json)
    fprintf (json, "\n  ],\n  \"memory\": {\"bytes_per_entry\": %.1f, \"bytes_per_entry_with_metadata\": %.1f,"
             " \"metadata_keys\": %u, \"metadata_wire_bytes\": %zu, \"cluster_base_bytes\": %.0f,"
             " \"record_wire_bytes\": %zu}\n}\n",
             mem->bytes_per_entry, mem->bytes_per_entry_meta, mem->meta_keys, mem->meta_wire_bytes,
             mem->cluster_base_bytes, record_size (0));
}

int
main (int argc, char **argv)
{
  g_autofree char *sizes_opt = NULL, *out_dir = NULL;
  gint full_max = 1000, view = 128, window_s = 90, seed = 1;
  gboolean quick = FALSE, memory_only = FALSE;
  GOptionEntry entries[] = {
    { "sizes", 0, 0, G_OPTION_ARG_STRING, &sizes_opt, "Comma-separated sizes (default 100,1000,10000)", "LIST" },
    { "full-max", 0, 0, G_OPTION_ARG_INT, &full_max, "Largest size simulated with full views (default 1000)", "N" },
    { "view", 0, 0, G_OPTION_ARG_INT, &view, "Peers per node in partial-view runs (default 128)", "K" },
    { "window", 0, 0, G_OPTION_ARG_INT, &window_s, "Steady-state window in virtual seconds (default 90)", "S" },
    { "seed", 0, 0, G_OPTION_ARG_INT, &seed, "Random seed (default 1)", "S" },
    { "out-dir", 0, 0, G_OPTION_ARG_FILENAME, &out_dir, "Write sim-*.csv and sim-results.json here", "DIR" },
    { "quick", 0, 0, G_OPTION_ARG_NONE, &quick, "Sizes 100,1000 and a 50 s window (full views: whole push-pull periods)", NULL },
    { "memory-only", 0, 0, G_OPTION_ARG_NONE, &memory_only, "Only measure the memory per known-peer entry", NULL },
    { NULL }
  };
  g_autoptr(GOptionContext) octx = g_option_context_new ("— libgossip scale simulation");
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) sizes = NULL;
  g_autoptr(GArray) results = g_array_new (FALSE, TRUE, sizeof (SizeResult));
  FILE *csv = NULL, *json = NULL, *curve = NULL, *cdf = NULL;
  MemResult mem;
  gint64 wall0 = g_get_monotonic_time ();

  g_option_context_add_main_entries (octx, entries, NULL);
  if (!g_option_context_parse (octx, &argc, &argv, &error))
    {
      g_printerr ("bench-sim: %s\n", error->message);
      return 2;
    }
  if (quick)
    {
      if (sizes_opt == NULL)
        sizes_opt = g_strdup ("100,1000");
      window_s = MIN (window_s, 50);
    }
  sizes = g_strsplit (sizes_opt ? sizes_opt : "100,1000,10000", ",", -1);
  /* The engine logs joins and timeouts at debug level only; keep quiet. */
  g_log_set_handler ("Gossip", G_LOG_LEVEL_MESSAGE | G_LOG_LEVEL_INFO, g_log_default_handler, NULL);

  if (out_dir)
    {
      g_autofree char *p1 = g_build_filename (out_dir, "sim-results.csv", NULL);
      g_autofree char *p2 = g_build_filename (out_dir, "sim-results.json", NULL);
      g_autofree char *p3 = g_build_filename (out_dir, "sim-convergence.csv", NULL);
      g_autofree char *p4 = g_build_filename (out_dir, "sim-spread.csv", NULL);
      g_mkdir_with_parents (out_dir, 0755);
      csv = fopen (p1, "w");
      json = fopen (p2, "w");
      curve = fopen (p3, "w");
      cdf = fopen (p4, "w");
      if (!csv || !json || !curve || !cdf)
        {
          g_printerr ("bench-sim: cannot write to %s\n", out_dir);
          return 1;
        }
      fprintf (csv, "n,view,view_size,log2n,ttl,fanout,converge50_s,converge95_s,converge_s,converge_rounds,"
               "update_all_s,update_wave_hops,update_wave_fraction,update_reached,detect_first_s,detect_all_s,suspicion_spread_s,suspicion_wave_hops,dead_all_s,"
               "bytes_per_member_s,datagram_bytes_per_member_s,stream_bytes_per_member_s,pushpull_full_estimate,"
               "rss_bytes_per_entry,wall_s,bytes_per_member_s_with_pushpull,window_s,pushpull_period_s\n");
      fprintf (curve, "n,t_s,fraction_seeing_all\n");
      fprintf (cdf, "n,what,t_s\n");
      fprintf (json, "{\n  \"latency_us\": %d,\n  \"sizes\": [", LATENCY_US);
    }

  measure_memory (&mem);
  g_printerr ("bench-sim: memory per entry %.1f bytes (%.1f with %u metadata keys)\n",
              mem.bytes_per_entry, mem.bytes_per_entry_meta, mem.meta_keys);
  if (memory_only)
    {
      printf ("memory per known-peer entry: %.1f bytes, %.1f with %u metadata keys; "
              "GossipMember %zu, GossipNode %zu bytes; target <= 256: %s\n",
              mem.bytes_per_entry, mem.bytes_per_entry_meta, mem.meta_keys,
              sizeof (GossipMember), sizeof (GossipNode),
              mem.bytes_per_entry <= 256.0 ? "MET" : "MISSED");
      return 0;
    }

  for (guint i = 0; sizes[i] != NULL; i++)
    {
      SizeResult r;
      guint n = (guint) g_ascii_strtoull (sizes[i], NULL, 10);
      gboolean full;

      if (n < 4 || n > 100000)
        {
          g_printerr ("bench-sim: bad size \"%s\"\n", sizes[i]);
          return 2;
        }
      full = n <= (guint) full_max;
      if (!full && (guint) view + 2 >= n)
        full = TRUE;
      g_printerr ("bench-sim: N=%u (%s view)...\n", n, full ? "full" : "partial");
      run_size (n, full, (guint) view, (gint64) window_s * G_USEC_PER_SEC, (guint32) seed, curve, cdf, &r);
      g_printerr ("bench-sim: N=%u done in %.1f s (RSS %ld kB)\n", n, r.wall_s, r.rss_kb);
      g_array_append_val (results, r);
    }

  print_results ((SizeResult *) results->data, results->len, &mem, csv, json);
  printf ("\nwall time: %.1f s\n", (double) (g_get_monotonic_time () - wall0) / G_USEC_PER_SEC);
  if (csv) fclose (csv);
  if (json) fclose (json);
  if (curve) fclose (curve);
  if (cdf) fclose (cdf);
  return 0;
}
