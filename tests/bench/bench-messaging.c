/* bench-messaging.c — messaging on loopback, next to raw sockets, in one run:
 *
 *   1. raw UDP ping-pong and raw TCP ping-pong (one connection, TCP_NODELAY),
 *      and raw TCP with a new connection per exchange (what the socket
 *      transport does for every stream), payload PAYLOAD bytes;
 *   2. gossip send_request() round trips between two clusters (p50, p99),
 *      with a breakdown of where the time goes;
 *   3. unreliable send_to() throughput, PAYLOAD-byte payloads (messages/s
 *      received, and the share lost);
 *   4. broadcast delivery latency to all of N nodes (from the send until the
 *      last node's handler ran), best effort and reliable.
 *
 *   bench-messaging [-n REQUESTS] [-w WARMUP] [-p PAYLOAD] [-d SECONDS]
 *                   [-N NODES] [-b BROADCASTS] [-a split|pin|free]
 *
 * All clusters of one process share one engine thread, so every exchange
 * between two of them crosses threads (caller, engine) but never processes.
 * Where the threads run changes loopback figures several times over (a
 * wake-up on another CPU costs tens of microseconds on virtual machines,
 * while the scheduler sometimes puts a ping-pong pair on one CPU), so the
 * placement is fixed: "split" (the default) runs the raw client and the
 * gossip caller on CPU 0, the raw echo thread and the gossip engine thread
 * on CPU 1; "pin" runs everything on CPU 0, which shows the cost of the
 * code paths alone; "free" leaves it to the scheduler.
 *
 * The raw ping-pongs use plain blocking sockets, an echo thread on the
 * other end; the gossip clusters use the default configuration (socket
 * transport, no encryption or compression) with handlers on their engine
 * context.
 *
 * SPDX-License-Identifier: MIT
 */
#include "config.h"

#include <errno.h>
#include <sched.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gossip/gossip.h>
#include "gossip-private.h"

#define TYPE_REQUEST   150
#define TYPE_MESSAGE   151
#define TYPE_BROADCAST 152

static gint opt_requests = 5000;
static gint opt_warmup = 500;
static gint opt_payload = 100;
static gint opt_seconds = 2;
static gint opt_nodes = 10;
static gint opt_broadcasts = 50;
static char *opt_affinity = NULL;
static gint remote_cpu = -1;      /* CPU of the echo and engine threads, -1: any */
static gint local_cpu = -1;       /* CPU of the caller */

static GOptionEntry entries[] = {
  { "requests", 'n', 0, G_OPTION_ARG_INT, &opt_requests, "Round trips per case (5000)", "N" },
  { "warmup", 'w', 0, G_OPTION_ARG_INT, &opt_warmup, "Warm-up round trips per case (500)", "N" },
  { "payload", 'p', 0, G_OPTION_ARG_INT, &opt_payload, "Payload bytes (100)", "BYTES" },
  { "seconds", 'd', 0, G_OPTION_ARG_INT, &opt_seconds, "Duration of the throughput test (2)", "S" },
  { "nodes", 'N', 0, G_OPTION_ARG_INT, &opt_nodes, "Nodes of the broadcast test (10)", "N" },
  { "broadcasts", 'b', 0, G_OPTION_ARG_INT, &opt_broadcasts, "Broadcasts per mode (50)", "N" },
  { "affinity", 'a', 0, G_OPTION_ARG_STRING, &opt_affinity, "split, pin or free (split)", "MODE" },
  { NULL }
};

/* ------------------------------------------------------------------------ */
/* Statistics                                                               */
/* ------------------------------------------------------------------------ */

typedef struct {
  double p50, p90, p99, mean, min, max;
  guint  n;
} Stats;

static int
compare_gint64 (gconstpointer a, gconstpointer b)
{
  gint64 x = *(const gint64 *) a, y = *(const gint64 *) b;
  return x < y ? -1 : x > y;
}

static double
percentile (const gint64 *sorted, guint n, double p)
{
  guint index = (guint) (p * (n - 1) + 0.5);
  return (double) sorted[MIN (index, n - 1)];
}

static Stats
stats_of (GArray *samples)
{
  Stats s = { 0 };
  gint64 *v = (gint64 *) (void *) samples->data;
  double total = 0;

  if (samples->len == 0)
    return s;
  g_array_sort (samples, compare_gint64);
  for (guint i = 0; i < samples->len; i++)
    total += v[i];
  s.n = samples->len;
  s.p50 = percentile (v, s.n, 0.50);
  s.p90 = percentile (v, s.n, 0.90);
  s.p99 = percentile (v, s.n, 0.99);
  s.mean = total / s.n;
  s.min = v[0];
  s.max = v[s.n - 1];
  return s;
}

/* ------------------------------------------------------------------------ */
/* Raw sockets                                                              */
/* ------------------------------------------------------------------------ */

static void
die_errno (const char *what)
{
  g_error ("%s: %s", what, g_strerror (errno));
}

/* Binds the calling thread (and the threads it creates from now on). */
static void
run_on (gint cpu)
{
  cpu_set_t set;

  if (cpu < 0)
    return;
  CPU_ZERO (&set);
  CPU_SET (cpu, &set);
  if (sched_setaffinity (0, sizeof set, &set) < 0)
    die_errno ("sched_setaffinity");
}

static int
socket_bound (int type, struct sockaddr_in *addr)
{
  socklen_t len = sizeof *addr;
  int fd = socket (AF_INET, type, 0);

  if (fd < 0)
    die_errno ("socket");
  memset (addr, 0, sizeof *addr);
  addr->sin_family = AF_INET;
  addr->sin_addr.s_addr = htonl (INADDR_LOOPBACK);
  if (bind (fd, (struct sockaddr *) addr, sizeof *addr) < 0 ||
      getsockname (fd, (struct sockaddr *) addr, &len) < 0)
    die_errno ("bind");
  return fd;
}

static gboolean
read_full (int fd, char *buf, gsize len)
{
  gsize got = 0;

  while (got < len)
    {
      ssize_t r = read (fd, buf + got, len - got);
      if (r < 0 && errno == EINTR)
        continue;
      if (r <= 0)
        return FALSE;
      got += (gsize) r;
    }
  return TRUE;
}

static gboolean
write_full (int fd, const char *buf, gsize len)
{
  gsize put = 0;

  while (put < len)
    {
      ssize_t r = write (fd, buf + put, len - put);
      if (r < 0 && errno == EINTR)
        continue;
      if (r <= 0)
        return FALSE;
      put += (gsize) r;
    }
  return TRUE;
}

static void
set_nodelay (int fd)
{
  int one = 1;
  setsockopt (fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

/* UDP echo: until a zero-length datagram. */
static gpointer
udp_echo (gpointer data)
{
  int fd = GPOINTER_TO_INT (data);
  char buf[65536];

  run_on (remote_cpu);
  for (;;)
    {
      struct sockaddr_in from;
      socklen_t len = sizeof from;
      ssize_t r = recvfrom (fd, buf, sizeof buf, 0, (struct sockaddr *) &from, &len);
      if (r < 0 && errno == EINTR)
        continue;
      if (r <= 0)
        break;
      sendto (fd, buf, (size_t) r, 0, (struct sockaddr *) &from, len);
    }
  return NULL;
}

static GArray *
raw_udp (guint count, guint warmup)
{
  struct sockaddr_in server, client;
  int sfd = socket_bound (SOCK_DGRAM, &server);
  int cfd = socket_bound (SOCK_DGRAM, &client);
  g_autofree char *buf = g_malloc0 (opt_payload);
  GArray *rtt = g_array_new (FALSE, FALSE, sizeof (gint64));
  GThread *echo = g_thread_new ("udp-echo", udp_echo, GINT_TO_POINTER (sfd));

  if (connect (cfd, (struct sockaddr *) &server, sizeof server) < 0)
    die_errno ("connect");
  for (guint i = 0; i < warmup + count; i++)
    {
      gint64 t0 = g_get_monotonic_time (), dt;

      if (send (cfd, buf, opt_payload, 0) != opt_payload || recv (cfd, buf, opt_payload, 0) != opt_payload)
        die_errno ("udp ping");
      dt = g_get_monotonic_time () - t0;
      if (i >= warmup)
        g_array_append_val (rtt, dt);
    }
  send (cfd, buf, 0, 0);
  g_thread_join (echo);
  close (cfd);
  close (sfd);
  return rtt;
}

typedef struct {
  int      listener;
  gboolean per_exchange;   /* accept, echo one message, close; repeat */
  guint    exchanges;
} TcpServer;

static gpointer
tcp_echo (gpointer data)
{
  TcpServer *s = data;
  g_autofree char *buf = g_malloc0 (opt_payload);

  run_on (remote_cpu);
  if (!s->per_exchange)
    {
      int fd = accept (s->listener, NULL, NULL);
      if (fd < 0)
        die_errno ("accept");
      set_nodelay (fd);
      while (read_full (fd, buf, opt_payload) && write_full (fd, buf, opt_payload))
        ;
      close (fd);
      return NULL;
    }
  for (guint i = 0; i < s->exchanges; i++)
    {
      int fd = accept (s->listener, NULL, NULL);
      if (fd < 0)
        die_errno ("accept");
      set_nodelay (fd);
      if (read_full (fd, buf, opt_payload))
        write_full (fd, buf, opt_payload);
      close (fd);
    }
  return NULL;
}

static GArray *
raw_tcp (guint count, guint warmup, gboolean per_exchange)
{
  struct sockaddr_in server;
  int lfd = socket_bound (SOCK_STREAM, &server);
  TcpServer s = { lfd, per_exchange, warmup + count };
  g_autofree char *buf = g_malloc0 (opt_payload);
  GArray *rtt = g_array_new (FALSE, FALSE, sizeof (gint64));
  GThread *echo;
  int cfd = -1;

  if (listen (lfd, 128) < 0)
    die_errno ("listen");
  echo = g_thread_new ("tcp-echo", tcp_echo, &s);
  for (guint i = 0; i < warmup + count; i++)
    {
      gint64 t0 = g_get_monotonic_time (), dt;

      if (cfd < 0)
        {
          cfd = socket (AF_INET, SOCK_STREAM, 0);
          if (cfd < 0 || connect (cfd, (struct sockaddr *) &server, sizeof server) < 0)
            die_errno ("connect");
          set_nodelay (cfd);
        }
      if (!write_full (cfd, buf, opt_payload) || !read_full (cfd, buf, opt_payload))
        die_errno ("tcp ping");
      if (per_exchange)
        {
          close (cfd);
          cfd = -1;
        }
      dt = g_get_monotonic_time () - t0;
      if (i >= warmup)
        g_array_append_val (rtt, dt);
    }
  if (cfd >= 0)
    close (cfd);
  g_thread_join (echo);
  close (lfd);
  return rtt;
}

/* ------------------------------------------------------------------------ */
/* Gossip                                                                   */
/* ------------------------------------------------------------------------ */

typedef struct {
  GMutex  lock;
  GCond   cond;
  guint64 received;
  gint64  first;            /* monotonic time of the first and last receipt */
  gint64  last;
  gint64  handler_time;     /* of the last request */
} Sink;

static void
on_request (GossipCluster *cluster, GossipMessage *message, gpointer user_data)
{
  Sink *sink = user_data;

  sink->handler_time = g_get_monotonic_time ();
  gossip_message_reply (message, gossip_message_get_payload (message), NULL);
}

static void
on_message (GossipCluster *cluster, GossipMessage *message, gpointer user_data)
{
  Sink *sink = user_data;
  gint64 t = g_get_monotonic_time ();

  g_mutex_lock (&sink->lock);
  if (sink->received++ == 0)
    sink->first = t;
  sink->last = t;
  g_cond_broadcast (&sink->cond);
  g_mutex_unlock (&sink->lock);
}

static GossipCluster *
start_node (void)
{
  g_autoptr(GossipConfig) config = gossip_config_new ();
  g_autoptr(GError) error = NULL;
  GossipCluster *node;

  if (!gossip_config_set_string (config, "bind_addr", "127.0.0.1:0", &error))
    g_error ("configuration: %s", error->message);
  node = gossip_cluster_new (config, &error);
  if (node == NULL || !gossip_cluster_start (node, &error))
    g_error ("cannot start a node: %s", error->message);
  return node;
}

static GossipCluster **
start_cluster (guint n)
{
  GossipCluster **nodes = g_new0 (GossipCluster *, n);
  g_autofree char *seed = NULL;
  gint64 deadline;
  gboolean done;

  for (guint i = 0; i < n; i++)
    {
      g_autoptr(GError) error = NULL;

      /* The first cluster starts the shared engine thread, which inherits
       * the placement of the thread that creates it. */
      if (i == 0)
        run_on (remote_cpu);
      nodes[i] = start_node ();
      if (i == 0)
        run_on (local_cpu);
      if (i == 0)
        seed = gossip_cluster_get_advertise_address (nodes[0]);
      else
        {
          const char *peers[] = { seed, NULL };
          if (gossip_cluster_join (nodes[i], peers, &error) != 1)
            g_error ("join failed%s%s", error ? ": " : "", error ? error->message : "");
        }
    }
  deadline = g_get_monotonic_time () + 30 * G_USEC_PER_SEC;
  do
    {
      done = TRUE;
      for (guint i = 0; i < n; i++)
        done &= gossip_cluster_count (nodes[i], GOSSIP_NODE_ALIVE) == n;
      if (!done)
        {
          if (g_get_monotonic_time () > deadline)
            g_error ("%u nodes did not converge", n);
          g_usleep (2000);
        }
    }
  while (!done);
  return nodes;
}

static void
stop_cluster (GossipCluster **nodes, guint n)
{
  for (guint i = 0; i < n; i++)
    {
      gossip_cluster_hard_stop (nodes[i]);
      g_object_unref (nodes[i]);
    }
  g_free (nodes);
}

static GVariant *
make_payload (void)
{
  g_autofree char *text = g_malloc (opt_payload + 1);

  memset (text, 'x', opt_payload);
  text[opt_payload] = '\0';
  return g_variant_ref_sink (g_variant_new_string (text));
}

/* Sequential send_request() round trips; also how long the request took to
 * reach the handler (request leg) and the reply to come back (reply leg). */
static void
gossip_rtt (GossipCluster *a, GossipCluster *b, Sink *sink, GVariant *payload, guint count, guint warmup,
            GArray *rtt, GArray *leg_in, GArray *leg_out)
{
  const char *target = gossip_cluster_get_node_id (b);

  for (guint i = 0; i < warmup + count; i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(GVariant) reply = NULL;
      gint64 t0 = g_get_monotonic_time (), t1;

      reply = gossip_cluster_send_request (a, target, TYPE_REQUEST, payload, 5 * G_USEC_PER_SEC, NULL, &error);
      if (reply == NULL)
        g_error ("request failed: %s", error->message);
      t1 = g_get_monotonic_time ();
      if (i < warmup)
        continue;
      {
        gint64 dt = t1 - t0, din = sink->handler_time - t0, dout = t1 - sink->handler_time;
        g_array_append_val (rtt, dt);
        if (leg_in != NULL)
          {
            g_array_append_val (leg_in, din);
            g_array_append_val (leg_out, dout);
          }
      }
    }
}

/* The async variant driven from one persistent caller context (no new
 * GMainContext per call, as the synchronous wrapper makes). */
typedef struct {
  GMainContext *ctx;
  GVariant     *reply;
  GError       *error;
  gboolean      done;
} AsyncWait;

static void
async_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  AsyncWait *w = user_data;
  w->reply = gossip_cluster_send_request_finish (GOSSIP_CLUSTER (source), result, &w->error);
  w->done = TRUE;
}

static void
gossip_rtt_async (GossipCluster *a, GossipCluster *b, GVariant *payload, guint count, guint warmup, GArray *rtt)
{
  const char *target = gossip_cluster_get_node_id (b);
  GMainContext *ctx = g_main_context_new ();

  g_main_context_push_thread_default (ctx);
  for (guint i = 0; i < warmup + count; i++)
    {
      AsyncWait w = { ctx, NULL, NULL, FALSE };
      gint64 t0 = g_get_monotonic_time (), dt;

      gossip_cluster_send_request_async (a, target, TYPE_REQUEST, payload, 5 * G_USEC_PER_SEC, NULL, async_cb, &w);
      while (!w.done)
        g_main_context_iteration (ctx, TRUE);
      if (w.reply == NULL)
        g_error ("request failed: %s", w.error->message);
      g_variant_unref (w.reply);
      dt = g_get_monotonic_time () - t0;
      if (i >= warmup)
        g_array_append_val (rtt, dt);
    }
  g_main_context_pop_thread_default (ctx);
  g_main_context_unref (ctx);
}

static gboolean
noop (gpointer data)
{
  return G_SOURCE_REMOVE;
}

/* Caller thread -> engine thread -> caller thread, doing nothing. */
static GArray *
engine_hop (GossipCluster *a, guint count, guint warmup)
{
  GArray *rtt = g_array_new (FALSE, FALSE, sizeof (gint64));

  for (guint i = 0; i < warmup + count; i++)
    {
      gint64 t0 = g_get_monotonic_time (), dt;
      _gossip_cluster_invoke_sync (a, noop, NULL);
      dt = g_get_monotonic_time () - t0;
      if (i >= warmup)
        g_array_append_val (rtt, dt);
    }
  return rtt;
}

/* Unreliable send_to for opt_seconds: sent and received per second. */
static void
throughput (GossipCluster *a, GossipCluster *b, Sink *sink, GVariant *payload,
            double *sent_per_s, double *recv_per_s, double *loss)
{
  const char *target = gossip_cluster_get_node_id (b);
  gint64 start = g_get_monotonic_time (), end = start + opt_seconds * G_USEC_PER_SEC, t;
  guint64 sent = 0, base, got;

  g_mutex_lock (&sink->lock);
  base = sink->received;
  sink->first = sink->last = 0;
  g_mutex_unlock (&sink->lock);
  while ((t = g_get_monotonic_time ()) < end)
    {
      g_autoptr(GError) error = NULL;
      if (!gossip_cluster_send_to (a, target, TYPE_MESSAGE, payload, GOSSIP_SEND_NONE, &error))
        g_error ("send_to: %s", error->message);
      sent++;
    }
  /* Let the receiver drain. */
  g_usleep (300 * 1000);
  g_mutex_lock (&sink->lock);
  got = sink->received - base;
  g_mutex_unlock (&sink->lock);
  *sent_per_s = sent / ((t - start) / (double) G_USEC_PER_SEC);
  *recv_per_s = got / ((t - start) / (double) G_USEC_PER_SEC);
  *loss = sent > 0 ? 100.0 * (double) (sent - got) / (double) sent : 0;
}

/* Broadcast latency: per broadcast, from the send until the last of the
 * n-1 other nodes ran its handler. */
typedef struct {
  GMutex  lock;
  GCond   cond;
  gint64  seq;              /* current broadcast */
  guint   seen;             /* receivers of it so far */
  gint64  last;
} Fan;

static void
on_broadcast (GossipCluster *cluster, GossipMessage *message, gpointer user_data)
{
  Fan *fan = user_data;
  gint64 t = g_get_monotonic_time ();
  gint64 seq = g_variant_get_int64 (gossip_message_get_payload (message));

  g_mutex_lock (&fan->lock);
  if (seq == fan->seq)
    {
      fan->seen++;
      fan->last = t;
      g_cond_broadcast (&fan->cond);
    }
  g_mutex_unlock (&fan->lock);
}

static Stats
broadcast_latency (GossipCluster **nodes, guint n, Fan *fan, GossipSendFlags flags, guint *incomplete)
{
  GArray *lat = g_array_new (FALSE, FALSE, sizeof (gint64));
  Stats s;

  *incomplete = 0;
  for (gint b = 0; b < opt_broadcasts; b++)
    {
      g_autoptr(GError) error = NULL;
      gint64 t0, deadline;
      gboolean complete;

      g_mutex_lock (&fan->lock);
      fan->seq++;
      fan->seen = 0;
      g_mutex_unlock (&fan->lock);
      t0 = g_get_monotonic_time ();
      if (!gossip_cluster_send (nodes[b % n], TYPE_BROADCAST, g_variant_new_int64 (fan->seq), flags, &error))
        g_error ("send: %s", error->message);
      deadline = t0 + 2 * G_USEC_PER_SEC;
      g_mutex_lock (&fan->lock);
      while (fan->seen < n - 1 && g_cond_wait_until (&fan->cond, &fan->lock, deadline))
        ;
      complete = fan->seen >= n - 1;
      if (complete)
        {
          gint64 dt = fan->last - t0;
          g_array_append_val (lat, dt);
        }
      g_mutex_unlock (&fan->lock);
      if (!complete)
        (*incomplete)++;
      g_usleep (20 * 1000);
    }
  s = stats_of (lat);
  g_array_unref (lat);
  return s;
}

/* ------------------------------------------------------------------------ */

static void
row (const char *name, GArray *samples, double raw_p50, double raw_p99)
{
  Stats s = stats_of (samples);

  g_print ("%-44s %8.1f %8.1f %8.1f %8.1f", name, s.p50, s.p90, s.p99, s.mean);
  if (raw_p50 > 0)
    g_print ("   %5.2fx  %5.2fx", s.p50 / raw_p50, s.p99 / raw_p99);
  g_print ("\n");
  g_array_unref (samples);
}

int
main (int argc, char **argv)
{
  g_autoptr(GOptionContext) context = g_option_context_new ("— messaging latency and throughput on loopback");
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) payload = NULL;
  GossipCluster **pair, **many;
  Sink sink = { 0 };
  Fan fan = { 0 };
  GArray *udp, *tcp, *tcp_conn, *rtt, *leg_in, *leg_out, *rtt_async, *hop, *local;
  Stats s_tcp, s_udp, s_rtt;
  double sent_per_s, recv_per_s, loss;
  guint incomplete;
  Stats bs;

  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      g_printerr ("%s\n", error->message);
      return 2;
    }
  if (opt_requests < 1 || opt_warmup < 0 || opt_payload < 1 || opt_payload > 1200 || opt_seconds < 1 ||
      opt_nodes < 2 || opt_broadcasts < 1)
    {
      g_printerr ("bad option values\n");
      return 2;
    }
  if (opt_affinity == NULL || g_str_equal (opt_affinity, "split"))
    {
      if (g_get_num_processors () >= 2)
        {
          local_cpu = 0;
          remote_cpu = 1;
        }
      else
        opt_affinity = (char *) "free";
    }
  else if (g_str_equal (opt_affinity, "pin"))
    local_cpu = remote_cpu = 0;
  else if (!g_str_equal (opt_affinity, "free"))
    {
      g_printerr ("affinity must be split, pin or free\n");
      return 2;
    }
  run_on (local_cpu);
  g_mutex_init (&sink.lock);
  g_cond_init (&sink.cond);
  g_mutex_init (&fan.lock);
  g_cond_init (&fan.cond);
  payload = make_payload ();

  g_print ("bench-messaging: loopback, %d-byte payloads, %d round trips per case after %d warm-up; %s\n\n",
           opt_payload, opt_requests, opt_warmup,
           remote_cpu != local_cpu ? "caller on CPU 0, echo and engine threads on CPU 1" :
           local_cpu == 0 ? "every thread on CPU 0" : "threads placed by the scheduler");

  /* 1. Raw baselines. */
  udp = raw_udp (opt_requests, opt_warmup);
  tcp = raw_tcp (opt_requests, opt_warmup, FALSE);
  tcp_conn = raw_tcp (opt_requests, opt_warmup, TRUE);
  s_udp = stats_of (udp);
  s_tcp = stats_of (tcp);

  /* 2. Requests. */
  pair = start_cluster (2);
  if (!gossip_cluster_handle (pair[1], TYPE_REQUEST, TRUE, gossip_cluster_get_context (pair[1]),
                              on_request, &sink, NULL, &error) ||
      !gossip_cluster_handle (pair[0], TYPE_REQUEST, TRUE, gossip_cluster_get_context (pair[0]),
                              on_request, &sink, NULL, &error) ||
      !gossip_cluster_handle (pair[1], TYPE_MESSAGE, FALSE, gossip_cluster_get_context (pair[1]),
                              on_message, &sink, NULL, &error))
    g_error ("handle: %s", error->message);
  rtt = g_array_new (FALSE, FALSE, sizeof (gint64));
  leg_in = g_array_new (FALSE, FALSE, sizeof (gint64));
  leg_out = g_array_new (FALSE, FALSE, sizeof (gint64));
  gossip_rtt (pair[0], pair[1], &sink, payload, opt_requests, opt_warmup, rtt, leg_in, leg_out);
  s_rtt = stats_of (rtt);
  rtt_async = g_array_new (FALSE, FALSE, sizeof (gint64));
  gossip_rtt_async (pair[0], pair[1], payload, opt_requests, opt_warmup, rtt_async);
  hop = engine_hop (pair[0], opt_requests, opt_warmup);
  local = g_array_new (FALSE, FALSE, sizeof (gint64));
  gossip_rtt (pair[0], pair[0], &sink, payload, opt_requests, opt_warmup, local, NULL, NULL);

  g_print ("%-44s %8s %8s %8s %8s   %6s  %6s\n", "round trip (us)", "p50", "p90", "p99", "mean",
           "p50/TCP", "p99/TCP");
  row ("raw UDP ping-pong", udp, s_tcp.p50, s_tcp.p99);
  row ("raw TCP ping-pong (one connection)", tcp, s_tcp.p50, s_tcp.p99);
  row ("raw TCP, new connection per exchange", tcp_conn, s_tcp.p50, s_tcp.p99);
  row ("gossip send_request (sync)", rtt, s_tcp.p50, s_tcp.p99);
  row ("gossip send_request_async, one caller ctx", rtt_async, s_tcp.p50, s_tcp.p99);
  g_print ("\nbreakdown of send_request (us)\n");
  row ("  request leg: call -> peer handler runs", leg_in, 0, 0);
  row ("  reply leg: handler -> caller returns", leg_out, 0, 0);
  row ("  caller -> engine -> caller, no-op", hop, 0, 0);
  row ("  send_request to the local node", local, 0, 0);
  g_print ("\nrequest p50 %.1f us = %.2fx raw TCP (target <= 2x), %.2fx raw UDP; p99 %.1f us (target <= 1000 us)\n",
           s_rtt.p50, s_rtt.p50 / s_tcp.p50, s_rtt.p50 / s_udp.p50, s_rtt.p99);

  /* 3. Throughput. */
  throughput (pair[0], pair[1], &sink, payload, &sent_per_s, &recv_per_s, &loss);
  g_print ("\nunreliable send_to, %d-byte payload, %d s: %.0f sent/s, %.0f received/s (%.2f%% lost)\n",
           opt_payload, opt_seconds, sent_per_s, recv_per_s, loss);
  stop_cluster (pair, 2);

  /* 4. Broadcast. */
  many = start_cluster (opt_nodes);
  for (gint i = 0; i < opt_nodes; i++)
    if (!gossip_cluster_handle (many[i], TYPE_BROADCAST, FALSE, gossip_cluster_get_context (many[i]),
                                on_broadcast, &fan, NULL, &error))
      g_error ("handle: %s", error->message);
  g_print ("\nbroadcast to all of N=%d (us, from send until the last handler ran; %d broadcasts)\n",
           opt_nodes, opt_broadcasts);
  g_print ("%-44s %8s %8s %8s %8s %8s\n", "mode", "p50", "p90", "p99", "max", "missed");
  bs = broadcast_latency (many, opt_nodes, &fan, GOSSIP_SEND_NONE, &incomplete);
  g_print ("%-44s %8.0f %8.0f %8.0f %8.0f %8u\n", "best effort (UDP gossip)", bs.p50, bs.p90, bs.p99, bs.max,
           incomplete);
  bs = broadcast_latency (many, opt_nodes, &fan, GOSSIP_SEND_RELIABLE, &incomplete);
  g_print ("%-44s %8.0f %8.0f %8.0f %8.0f %8u\n", "reliable (streams)", bs.p50, bs.p90, bs.p99, bs.max,
           incomplete);
  stop_cluster (many, opt_nodes);

  g_mutex_clear (&sink.lock);
  g_cond_clear (&sink.cond);
  g_mutex_clear (&fan.lock);
  g_cond_clear (&fan.cond);
  return 0;
}
