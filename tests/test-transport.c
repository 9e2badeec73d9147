/* test-transport.c — GossipSocketTransport on loopback and GossipMemoryTransport.
 *
 * SPDX-License-Identifier: MIT
 */
#include "config.h"

#include <string.h>

#include <gossip/gossip.h>
#include "gossip-frame-private.h"

/* ---------------------------------------------------------------------------
 * Helpers shared by both transports
 * ------------------------------------------------------------------------- */

typedef enum
{
  REPLY_ECHO,       /* answer "echo:" + frame at once */
  REPLY_IGNORE,     /* drop the handle: the requester sees "no reply" */
  REPLY_DECLINE,    /* gossip_transport_reply_send (reply, NULL) */
  REPLY_KEEP,       /* keep the handle for the test to answer */
} ReplyMode;

typedef struct
{
  GBytes   *frame;
  gboolean  reliable;
  char     *from;
  gboolean  had_reply;
  gint64    time;
} Received;

typedef struct
{
  GPtrArray   *received;   /* Received* */
  GPtrArray   *kept;       /* GossipTransportReply* */
  ReplyMode    mode;
  GossipClock *clock;      /* for receive times; may be NULL */
} Receiver;

static void
received_free (gpointer data)
{
  Received *r = data;

  g_bytes_unref (r->frame);
  g_free (r->from);
  g_free (r);
}

static Receiver *
receiver_new (ReplyMode    mode,
              GossipClock *clock)
{
  Receiver *receiver = g_new0 (Receiver, 1);

  receiver->received = g_ptr_array_new_with_free_func (received_free);
  receiver->kept = g_ptr_array_new_with_free_func ((GDestroyNotify) gossip_transport_reply_unref);
  receiver->mode = mode;
  receiver->clock = clock;
  return receiver;
}

static void
receiver_free (gpointer data)
{
  Receiver *receiver = data;

  g_ptr_array_unref (receiver->received);
  g_ptr_array_unref (receiver->kept);
  g_free (receiver);
}

static GBytes *
bytes_printf (const char *format,
              ...) G_GNUC_PRINTF (1, 2);

static GBytes *
bytes_printf (const char *format,
              ...)
{
  va_list args;
  char *text;

  va_start (args, format);
  text = g_strdup_vprintf (format, args);
  va_end (args);
  return g_bytes_new_take (text, strlen (text));
}

static GBytes *
echo_of (GBytes *frame)
{
  gsize len;
  const guint8 *data = g_bytes_get_data (frame, &len);
  GByteArray *out = g_byte_array_sized_new (len + 5);

  g_byte_array_append (out, (const guint8 *) "echo:", 5);
  g_byte_array_append (out, data, len);
  return g_byte_array_free_to_bytes (out);
}

static void
receive_cb (GossipTransport      *transport,
            GBytes               *frame,
            gboolean              reliable,
            const char           *from,
            GossipTransportReply *reply,
            gpointer              user_data)
{
  Receiver *receiver = user_data;
  Received *r = g_new0 (Received, 1);

  r->frame = g_bytes_ref (frame);
  r->reliable = reliable;
  r->from = g_strdup (from);
  r->had_reply = reply != NULL;
  r->time = receiver->clock != NULL ? gossip_clock_now (receiver->clock) : g_get_monotonic_time ();
  g_ptr_array_add (receiver->received, r);

  if (reply == NULL)
    return;

  switch (receiver->mode)
    {
    case REPLY_ECHO:
      {
        g_autoptr(GBytes) answer = echo_of (frame);

        gossip_transport_reply_send (reply, answer);
      }
      break;
    case REPLY_DECLINE:
      gossip_transport_reply_send (reply, NULL);
      break;
    case REPLY_KEEP:
      g_ptr_array_add (receiver->kept, gossip_transport_reply_ref (reply));
      break;
    case REPLY_IGNORE:
    default:
      break;
    }
}

static Received *
received_at (Receiver *receiver,
             guint     i)
{
  g_assert_cmpuint (i, <, receiver->received->len);
  return g_ptr_array_index (receiver->received, i);
}

static void
assert_bytes_eq (GBytes     *bytes,
                 const char *text)
{
  gsize len;
  const char *data = g_bytes_get_data (bytes, &len);

  g_assert_nonnull (bytes);
  g_assert_cmpmem (data, len, text, strlen (text));
}

typedef struct
{
  gboolean     done;
  GBytes      *reply;
  GError      *error;
  gint64       time;
  GossipClock *clock;
} StreamResult;

static void
stream_result_clear (StreamResult *result)
{
  g_clear_pointer (&result->reply, g_bytes_unref);
  g_clear_error (&result->error);
  result->done = FALSE;
}

static void
stream_done_cb (GBytes       *reply,
                const GError *error,
                gpointer      user_data)
{
  StreamResult *result = user_data;

  g_assert_false (result->done);
  result->done = TRUE;
  result->reply = reply != NULL ? g_bytes_ref (reply) : NULL;
  result->error = error != NULL ? g_error_copy (error) : NULL;
  result->time = result->clock != NULL ? gossip_clock_now (result->clock) : g_get_monotonic_time ();
}

static gboolean
poll_wakeup_cb (gpointer data)
{
  return G_SOURCE_CONTINUE;
}

/* Iterates @context until @predicate holds or @timeout_us passes. A short
 * periodic wakeup lets predicates on state outside @context make progress. */
static gboolean
wait_until (GMainContext *context,
            gboolean    (*predicate) (gpointer data),
            gpointer      data,
            gint64        timeout_us)
{
  gint64 deadline = g_get_monotonic_time () + timeout_us;
  GSource *wakeup = g_timeout_source_new (10);
  gboolean ok;

  g_source_set_static_name (wakeup, "test wakeup");
  g_source_set_callback (wakeup, poll_wakeup_cb, NULL, NULL);
  g_source_attach (wakeup, context);

  while (!(ok = predicate (data)) && g_get_monotonic_time () < deadline)
    g_main_context_iteration (context, TRUE);

  g_source_destroy (wakeup);
  g_source_unref (wakeup);
  return ok;
}

static gboolean
stream_is_done (gpointer data)
{
  return ((StreamResult *) data)->done;
}

typedef struct
{
  Receiver *receiver;
  guint     count;
} ReceivedCount;

static gboolean
received_count_reached (gpointer data)
{
  ReceivedCount *rc = data;

  return rc->receiver->received->len >= rc->count;
}

static gboolean
wait_received (GMainContext *context,
               Receiver     *receiver,
               guint         count)
{
  ReceivedCount rc = { receiver, count };

  return wait_until (context, received_count_reached, &rc, 10 * G_USEC_PER_SEC);
}

/* Lets already-queued work (closing connections, deferred callbacks) run. */
static void
drain (GMainContext *context)
{
  for (int i = 0; i < 100 && g_main_context_iteration (context, FALSE); i++)
    ;
}

static guint16
port_of (const char *address)
{
  const char *colon = strrchr (address, ':');
  guint64 port = 0;

  g_assert_nonnull (colon);
  g_assert_true (g_ascii_string_to_unsigned (colon + 1, 10, 1, G_MAXUINT16, &port, NULL));
  return port;
}

static guint
count_open_fds (void)
{
  g_autoptr(GDir) dir = g_dir_open ("/proc/self/fd", 0, NULL);
  guint n = 0;

  if (dir == NULL)
    return 0;
  while (g_dir_read_name (dir) != NULL)
    n++;
  return n;
}

/* ---------------------------------------------------------------------------
 * Socket transport fixture: two started transports on 127.0.0.1:0
 * ------------------------------------------------------------------------- */

typedef struct
{
  GMainContext    *context;
  GossipTransport *a;
  GossipTransport *b;
  char            *addr_a;
  char            *addr_b;
  Receiver        *recv_a;
  Receiver        *recv_b;
} SocketFixture;

static GossipTransport *
start_socket_transport (const char *bind_address,
                        gboolean    reliable_only,
                        Receiver   *receiver)
{
  g_autoptr(GError) error = NULL;
  GossipTransport *transport;

  transport = gossip_socket_transport_new (bind_address, FALSE, reliable_only, &error);
  g_assert_no_error (error);
  g_assert_true (gossip_transport_start (transport, &error));
  g_assert_no_error (error);
  if (receiver != NULL)
    gossip_transport_set_receive_func (transport, receive_cb, receiver, NULL);
  return transport;
}

static void
socket_setup (SocketFixture *fixture,
              gconstpointer  data)
{
  fixture->context = g_main_context_new ();
  g_main_context_push_thread_default (fixture->context);

  fixture->recv_a = receiver_new (REPLY_ECHO, NULL);
  fixture->recv_b = receiver_new (REPLY_ECHO, NULL);
  fixture->a = start_socket_transport ("127.0.0.1:0", FALSE, fixture->recv_a);
  fixture->b = start_socket_transport ("127.0.0.1:0", FALSE, fixture->recv_b);
  fixture->addr_a = gossip_transport_get_local_address (fixture->a);
  fixture->addr_b = gossip_transport_get_local_address (fixture->b);
}

static void
socket_teardown (SocketFixture *fixture,
                 gconstpointer  data)
{
  gossip_transport_stop (fixture->a);
  gossip_transport_stop (fixture->b);
  drain (fixture->context);
  g_clear_object (&fixture->a);
  g_clear_object (&fixture->b);
  receiver_free (fixture->recv_a);
  receiver_free (fixture->recv_b);
  g_free (fixture->addr_a);
  g_free (fixture->addr_b);
  drain (fixture->context);
  g_main_context_pop_thread_default (fixture->context);
  g_main_context_unref (fixture->context);
}

static void
test_socket_local_address (SocketFixture *fixture,
                           gconstpointer  data)
{
  g_autoptr(GossipTransport) unstarted = gossip_socket_transport_new ("127.0.0.1:0", FALSE, FALSE, NULL);

  g_assert_true (g_str_has_prefix (fixture->addr_a, "127.0.0.1:"));
  g_assert_cmpuint (port_of (fixture->addr_a), !=, 0);
  g_assert_cmpuint (port_of (fixture->addr_a), !=, port_of (fixture->addr_b));
  g_assert_cmpuint (gossip_transport_get_max_datagram (fixture->a), ==, 1400);
  g_assert_null (gossip_transport_get_local_address (unstarted));
}

/* Binds a fresh socket to @host:@port and closes it again: TRUE if the
 * port was free for @type. */
static gboolean
try_bind (const char   *host,
          guint16       port,
          GSocketType   type,
          GError      **error)
{
  g_autoptr(GSocket) socket = NULL;
  g_autoptr(GInetAddress) inet = g_inet_address_new_from_string (host);
  g_autoptr(GSocketAddress) address = g_inet_socket_address_new (inet, port);
  g_autoptr(GError) local_error = NULL;
  gboolean bound;

  socket = g_socket_new (g_inet_address_get_family (inet), type, G_SOCKET_PROTOCOL_DEFAULT, &local_error);
  g_assert_no_error (local_error);
  bound = g_socket_bind (socket, address, FALSE, error);
  g_socket_close (socket, NULL);
  return bound;
}

/* Binding the transport's port again must fail for both protocols. */
static void
assert_port_taken (const char  *host,
                   guint16      port,
                   GSocketType  type,
                   gboolean     taken)
{
  g_autoptr(GError) error = NULL;
  gboolean bound = try_bind (host, port, type, &error);

  if (taken)
    {
      g_assert_false (bound);
      g_assert_error (error, G_IO_ERROR, G_IO_ERROR_ADDRESS_IN_USE);
    }
  else
    {
      g_assert_true (bound);
      g_assert_no_error (error);
    }
}

static void
test_socket_same_port (SocketFixture *fixture,
                       gconstpointer  data)
{
  g_autoptr(GossipTransport) reliable = NULL;
  g_autofree char *reliable_address = NULL;
  guint16 port = port_of (fixture->addr_a);

  g_test_summary ("Port 0 gives one port shared by the UDP and the TCP listener");
  assert_port_taken ("127.0.0.1", port, G_SOCKET_TYPE_STREAM, TRUE);
  assert_port_taken ("127.0.0.1", port, G_SOCKET_TYPE_DATAGRAM, TRUE);

  /* reliable_only opens no UDP socket. */
  reliable = start_socket_transport ("127.0.0.1:0", TRUE, NULL);
  reliable_address = gossip_transport_get_local_address (reliable);
  assert_port_taken ("127.0.0.1", port_of (reliable_address), G_SOCKET_TYPE_STREAM, TRUE);
  assert_port_taken ("127.0.0.1", port_of (reliable_address), G_SOCKET_TYPE_DATAGRAM, FALSE);
  gossip_transport_stop (reliable);
}

static void
test_socket_bind_conflict (SocketFixture *fixture,
                           gconstpointer  data)
{
  g_autoptr(GossipTransport) clash = NULL;
  g_autoptr(GError) error = NULL;
  guint fds = count_open_fds ();

  g_test_summary ("A bind conflict fails with the address in the message and leaves nothing bound");
  clash = gossip_socket_transport_new (fixture->addr_a, FALSE, FALSE, &error);
  g_assert_no_error (error);
  g_assert_false (gossip_transport_start (clash, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_ADDRESS_IN_USE);
  g_test_message ("bind error: %s", error->message);
  g_assert_nonnull (strstr (error->message, fixture->addr_a));
  g_assert_null (gossip_transport_get_local_address (clash));
  g_assert_cmpuint (count_open_fds (), ==, fds);
  g_clear_error (&error);

  /* The UDP half conflicting alone (TCP port free) also fails cleanly. */
  {
    g_autoptr(GSocket) udp = NULL;
    g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
    g_autoptr(GSocketAddress) any_port = g_inet_socket_address_new (loopback, 0);
    g_autoptr(GSocketAddress) bound = NULL;
    g_autoptr(GossipTransport) half = NULL;
    g_autofree char *address = NULL;

    /* The kernel picks the UDP port; its TCP twin may be in use by some
     * unrelated connection, in which case the transport would fail on TCP
     * first. Take another UDP port until the twin is free. */
    for (guint attempt = 0; ; attempt++)
      {
        g_assert_cmpuint (attempt, <, 100);
        g_clear_object (&udp);
        g_clear_object (&bound);
        udp = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_DATAGRAM, G_SOCKET_PROTOCOL_DEFAULT, NULL);
        g_assert_true (g_socket_bind (udp, any_port, FALSE, NULL));
        bound = g_socket_get_local_address (udp, NULL);
        if (try_bind ("127.0.0.1", g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound)),
                      G_SOCKET_TYPE_STREAM, NULL))
          break;
        g_socket_close (udp, NULL);
      }
    address = g_strdup_printf ("127.0.0.1:%u", g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound)));

    half = gossip_socket_transport_new (address, FALSE, FALSE, &error);
    g_assert_no_error (error);
    g_assert_false (gossip_transport_start (half, &error));
    g_assert_error (error, G_IO_ERROR, G_IO_ERROR_ADDRESS_IN_USE);
    g_assert_nonnull (strstr (error->message, address));
    g_assert_nonnull (strstr (error->message, "UDP"));
    /* The TCP listener bound first was closed again. */
    assert_port_taken ("127.0.0.1", port_of (address), G_SOCKET_TYPE_STREAM, FALSE);
    g_socket_close (udp, NULL);
  }
}

static void
test_socket_invalid_address (void)
{
  g_autoptr(GError) error = NULL;
  const char *bad[] = { "nonsense", "1.2.3.4:", "1.2.3.4:70000", "::1:80", "[::1]80", ":x", "" };

  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr(GossipTransport) transport = gossip_socket_transport_new (bad[i], FALSE, FALSE, &error);

      g_assert_null (transport);
      g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
      g_clear_error (&error);
    }
}

static void
test_socket_datagram (SocketFixture *fixture,
                      gconstpointer  data)
{
  g_autoptr(GBytes) frame = bytes_printf ("hello datagram");
  Received *r;

  gossip_transport_send_datagram (fixture->a, fixture->addr_b, frame);
  g_assert_true (wait_received (fixture->context, fixture->recv_b, 1));

  r = received_at (fixture->recv_b, 0);
  assert_bytes_eq (r->frame, "hello datagram");
  g_assert_false (r->reliable);
  g_assert_false (r->had_reply);
  /* Sent from the listening socket, so the source is a's own address. */
  g_assert_cmpstr (r->from, ==, fixture->addr_a);
  g_assert_cmpuint (gossip_socket_transport_get_datagrams_dropped (GOSSIP_SOCKET_TRANSPORT (fixture->a)), ==, 0);
}

static void
test_socket_datagram_forms (SocketFixture *fixture,
                            gconstpointer  data)
{
  g_autoptr(GBytes) frame = bytes_printf ("short form");
  g_autofree char *colon_port = g_strdup_printf (":%u", port_of (fixture->addr_b));
  GossipSocketTransport *a = GOSSIP_SOCKET_TRANSPORT (fixture->a);

  /* ":port" sends to this host. */
  gossip_transport_send_datagram (fixture->a, colon_port, frame);
  g_assert_true (wait_received (fixture->context, fixture->recv_b, 1));

  /* Malformed addresses and port 0 are dropped and counted. */
  gossip_transport_send_datagram (fixture->a, "no-port", frame);
  gossip_transport_send_datagram (fixture->a, "127.0.0.1:0", frame);
  g_assert_cmpuint (gossip_socket_transport_get_datagrams_dropped (a), ==, 2);
}

static void
test_socket_datagram_oversized (SocketFixture *fixture,
                                gconstpointer  data)
{
  g_autofree char *big = g_malloc (3000);
  g_autoptr(GBytes) frame = NULL;
  Received *r;

  g_test_summary ("A datagram larger than get_max_datagram() goes as a one-way stream");
  memset (big, 'x', 3000);
  frame = g_bytes_new (big, 3000);

  gossip_transport_send_datagram (fixture->a, fixture->addr_b, frame);
  g_assert_true (wait_received (fixture->context, fixture->recv_b, 1));
  r = received_at (fixture->recv_b, 0);
  g_assert_true (r->reliable);
  g_assert_false (r->had_reply);
  g_assert_true (g_bytes_equal (r->frame, frame));

  /* Raising the limit sends it as a datagram again. */
  gossip_socket_transport_set_max_datagram (GOSSIP_SOCKET_TRANSPORT (fixture->a), 4000);
  g_assert_cmpuint (gossip_transport_get_max_datagram (fixture->a), ==, 4000);
  gossip_transport_send_datagram (fixture->a, fixture->addr_b, frame);
  g_assert_true (wait_received (fixture->context, fixture->recv_b, 2));
  g_assert_false (received_at (fixture->recv_b, 1)->reliable);
}

static void
test_socket_reliable_only (SocketFixture *fixture,
                           gconstpointer  data)
{
  g_autoptr(GossipTransport) reliable = start_socket_transport ("127.0.0.1:0", TRUE, NULL);
  g_autoptr(GBytes) frame = bytes_printf ("over tcp");

  gossip_transport_send_datagram (reliable, fixture->addr_b, frame);
  g_assert_true (wait_received (fixture->context, fixture->recv_b, 1));
  g_assert_true (received_at (fixture->recv_b, 0)->reliable);
  assert_bytes_eq (received_at (fixture->recv_b, 0)->frame, "over tcp");
  gossip_transport_stop (reliable);
}

static void
test_socket_stream_one_way (SocketFixture *fixture,
                            gconstpointer  data)
{
  g_autoptr(GBytes) frame = bytes_printf ("one way");
  StreamResult result = { 0 };
  Received *r;

  gossip_transport_send_stream (fixture->a, fixture->addr_b, frame, FALSE, G_USEC_PER_SEC * 5,
                                stream_done_cb, &result);
  /* Never completed from inside send_stream(). */
  g_assert_false (result.done);
  g_assert_true (wait_until (fixture->context, stream_is_done, &result, 10 * G_USEC_PER_SEC));
  g_assert_no_error (result.error);
  g_assert_null (result.reply);

  g_assert_true (wait_received (fixture->context, fixture->recv_b, 1));
  r = received_at (fixture->recv_b, 0);
  assert_bytes_eq (r->frame, "one way");
  g_assert_true (r->reliable);
  g_assert_false (r->had_reply);
  g_assert_true (g_str_has_prefix (r->from, "127.0.0.1:"));
  stream_result_clear (&result);
}

static void
test_socket_stream_reply (SocketFixture *fixture,
                          gconstpointer  data)
{
  g_autoptr(GBytes) frame = bytes_printf ("ping");
  StreamResult result = { 0 };

  gossip_transport_send_stream (fixture->a, fixture->addr_b, frame, TRUE, G_USEC_PER_SEC * 5,
                                stream_done_cb, &result);
  g_assert_false (result.done);
  g_assert_true (wait_until (fixture->context, stream_is_done, &result, 10 * G_USEC_PER_SEC));
  g_assert_no_error (result.error);
  assert_bytes_eq (result.reply, "echo:ping");
  g_assert_true (received_at (fixture->recv_b, 0)->had_reply);
  stream_result_clear (&result);
}

static void
test_socket_stream_large (SocketFixture *fixture,
                          gconstpointer  data)
{
  const gsize size = 4 * 1024 * 1024;
  guint8 *big = g_malloc (size);
  g_autoptr(GBytes) frame = NULL;
  g_autoptr(GBytes) expected = NULL;
  StreamResult result = { 0 };

  g_test_summary ("Multi-megabyte frames survive partial non-blocking reads and writes both ways");
  for (gsize i = 0; i < size; i++)
    big[i] = (guint8) (i * 31 + 7);
  frame = g_bytes_new_take (big, size);
  expected = echo_of (frame);

  gossip_transport_send_stream (fixture->a, fixture->addr_b, frame, TRUE, G_USEC_PER_SEC * 30,
                                stream_done_cb, &result);
  g_assert_true (wait_until (fixture->context, stream_is_done, &result, 60 * G_USEC_PER_SEC));
  g_assert_no_error (result.error);
  g_assert_true (g_bytes_equal (result.reply, expected));
  stream_result_clear (&result);
}

static void
test_socket_concurrent (SocketFixture *fixture,
                        gconstpointer  data)
{
  const guint n = 40;
  g_autofree StreamResult *results = g_new0 (StreamResult, n);

  for (guint i = 0; i < n; i++)
    {
      g_autoptr(GBytes) frame = bytes_printf ("request %u", i);

      gossip_transport_send_stream (fixture->a, fixture->addr_b, frame, TRUE, G_USEC_PER_SEC * 10,
                                    stream_done_cb, &results[i]);
    }

  for (guint i = 0; i < n; i++)
    {
      g_autofree char *expected = g_strdup_printf ("echo:request %u", i);

      g_assert_true (wait_until (fixture->context, stream_is_done, &results[i], 20 * G_USEC_PER_SEC));
      g_assert_no_error (results[i].error);
      assert_bytes_eq (results[i].reply, expected);
      stream_result_clear (&results[i]);
    }
}

typedef struct
{
  GossipTransportReply *reply;
  GBytes               *frame;
} ThreadReply;

static gpointer
reply_thread (gpointer data)
{
  ThreadReply *job = data;

  gossip_transport_reply_send (job->reply, job->frame);
  gossip_transport_reply_unref (job->reply);
  return NULL;
}

static void
test_socket_reply_from_thread (SocketFixture *fixture,
                               gconstpointer  data)
{
  g_autoptr(GBytes) frame = bytes_printf ("ask");
  g_autoptr(GBytes) answer = bytes_printf ("answered from a thread");
  StreamResult result = { 0 };
  ThreadReply job;
  GThread *thread;

  g_test_summary ("A reply handle may be answered from another thread");
  fixture->recv_b->mode = REPLY_KEEP;
  gossip_transport_send_stream (fixture->a, fixture->addr_b, frame, TRUE, G_USEC_PER_SEC * 10,
                                stream_done_cb, &result);
  g_assert_true (wait_received (fixture->context, fixture->recv_b, 1));
  g_assert_cmpuint (fixture->recv_b->kept->len, ==, 1);

  job.reply = g_ptr_array_steal_index (fixture->recv_b->kept, 0);
  job.frame = answer;
  thread = g_thread_new ("reply", reply_thread, &job);
  g_thread_join (thread);

  g_assert_true (wait_until (fixture->context, stream_is_done, &result, 10 * G_USEC_PER_SEC));
  g_assert_no_error (result.error);
  assert_bytes_eq (result.reply, "answered from a thread");
  stream_result_clear (&result);
}

static void
test_socket_no_reply (SocketFixture *fixture,
                      gconstpointer  data)
{
  g_autoptr(GBytes) frame = bytes_printf ("anyone?");
  StreamResult result = { 0 };

  g_test_summary ("An unanswered or declined reply handle is \"no reply\" at the requester");

  fixture->recv_b->mode = REPLY_IGNORE;
  gossip_transport_send_stream (fixture->a, fixture->addr_b, frame, TRUE, G_USEC_PER_SEC * 10,
                                stream_done_cb, &result);
  g_assert_true (wait_until (fixture->context, stream_is_done, &result, 10 * G_USEC_PER_SEC));
  g_assert_error (result.error, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED);
  g_assert_null (result.reply);
  stream_result_clear (&result);

  fixture->recv_b->mode = REPLY_DECLINE;
  gossip_transport_send_stream (fixture->a, fixture->addr_b, frame, TRUE, G_USEC_PER_SEC * 10,
                                stream_done_cb, &result);
  g_assert_true (wait_until (fixture->context, stream_is_done, &result, 10 * G_USEC_PER_SEC));
  g_assert_error (result.error, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED);
  stream_result_clear (&result);

  /* A handle kept and dropped later, from another thread, also ends it. */
  fixture->recv_b->mode = REPLY_KEEP;
  gossip_transport_send_stream (fixture->a, fixture->addr_b, frame, TRUE, G_USEC_PER_SEC * 10,
                                stream_done_cb, &result);
  g_assert_true (wait_received (fixture->context, fixture->recv_b, 3));
  {
    GThread *thread = g_thread_new ("drop", (GThreadFunc) gossip_transport_reply_unref,
                                    g_ptr_array_steal_index (fixture->recv_b->kept, 0));
    g_thread_join (thread);
  }
  g_assert_true (wait_until (fixture->context, stream_is_done, &result, 10 * G_USEC_PER_SEC));
  g_assert_error (result.error, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED);
  stream_result_clear (&result);
}

/* A TCP listener that never accepts: connects complete in the backlog and
 * then nothing ever answers. */
static GSocket *
black_hole_new (char **address_out)
{
  g_autoptr(GSocket) socket = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM,
                                            G_SOCKET_PROTOCOL_DEFAULT, NULL);
  g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) any_port = g_inet_socket_address_new (loopback, 0);
  g_autoptr(GSocketAddress) bound = NULL;
  g_autoptr(GError) error = NULL;

  g_assert_true (g_socket_bind (socket, any_port, TRUE, &error));
  g_assert_true (g_socket_listen (socket, &error));
  g_assert_no_error (error);
  bound = g_socket_get_local_address (socket, &error);
  *address_out = g_strdup_printf ("127.0.0.1:%u", g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound)));
  return g_steal_pointer (&socket);
}

static void
test_socket_timeout (SocketFixture *fixture,
                     gconstpointer  data)
{
  g_autofree char *address = NULL;
  g_autoptr(GSocket) hole = black_hole_new (&address);
  g_autoptr(GBytes) frame = bytes_printf ("into the void");
  StreamResult result = { 0 };
  gint64 start = g_get_monotonic_time ();

  gossip_transport_send_stream (fixture->a, address, frame, TRUE, 200 * 1000, stream_done_cb, &result);
  g_assert_true (wait_until (fixture->context, stream_is_done, &result, 10 * G_USEC_PER_SEC));
  g_assert_error (result.error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT);
  g_assert_cmpint (result.time - start, >=, 200 * 1000);
  stream_result_clear (&result);
  g_socket_close (hole, NULL);
}

static void
test_socket_refused (SocketFixture *fixture,
                     gconstpointer  data)
{
  g_autofree char *address = NULL;
  g_autoptr(GBytes) frame = bytes_printf ("knock");
  StreamResult result = { 0 };

  /* A port that was just free. */
  {
    g_autoptr(GSocket) hole = black_hole_new (&address);

    g_socket_close (hole, NULL);
  }

  gossip_transport_send_stream (fixture->a, address, frame, TRUE, 5 * G_USEC_PER_SEC, stream_done_cb, &result);
  g_assert_false (result.done);
  g_assert_true (wait_until (fixture->context, stream_is_done, &result, 10 * G_USEC_PER_SEC));
  g_assert_error (result.error, G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED);
  g_assert_nonnull (strstr (result.error->message, address));
  stream_result_clear (&result);
}

static void
test_socket_early_errors (SocketFixture *fixture,
                          gconstpointer  data)
{
  g_autoptr(GossipTransport) unstarted = gossip_socket_transport_new ("127.0.0.1:0", FALSE, FALSE, NULL);
  g_autoptr(GBytes) frame = bytes_printf ("x");
  g_autoptr(GBytes) empty = g_bytes_new (NULL, 0);
  g_autoptr(GBytes) huge = NULL;
  StreamResult result = { 0 };

  g_test_summary ("Errors known at once are still reported from the context, not from send_stream()");

  gossip_transport_send_stream (unstarted, fixture->addr_b, frame, TRUE, G_USEC_PER_SEC, stream_done_cb, &result);
  g_assert_false (result.done);
  g_assert_true (wait_until (fixture->context, stream_is_done, &result, 10 * G_USEC_PER_SEC));
  g_assert_error (result.error, G_IO_ERROR, G_IO_ERROR_NOT_CONNECTED);
  stream_result_clear (&result);

  gossip_transport_send_stream (fixture->a, "bad address", frame, TRUE, G_USEC_PER_SEC, stream_done_cb, &result);
  g_assert_false (result.done);
  g_assert_true (wait_until (fixture->context, stream_is_done, &result, 10 * G_USEC_PER_SEC));
  g_assert_error (result.error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
  stream_result_clear (&result);

  gossip_transport_send_stream (fixture->a, fixture->addr_b, empty, TRUE, G_USEC_PER_SEC, stream_done_cb, &result);
  g_assert_true (wait_until (fixture->context, stream_is_done, &result, 10 * G_USEC_PER_SEC));
  g_assert_error (result.error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
  stream_result_clear (&result);

  huge = g_bytes_new_take (g_malloc0 (GOSSIP_MAX_FRAME_SIZE + 1), GOSSIP_MAX_FRAME_SIZE + 1);
  gossip_transport_send_stream (fixture->a, fixture->addr_b, huge, TRUE, G_USEC_PER_SEC, stream_done_cb, &result);
  g_assert_false (result.done);
  g_assert_true (wait_until (fixture->context, stream_is_done, &result, 10 * G_USEC_PER_SEC));
  g_assert_error (result.error, G_IO_ERROR, G_IO_ERROR_MESSAGE_TOO_LARGE);
  stream_result_clear (&result);
  g_assert_cmpuint (fixture->recv_b->received->len, ==, 0);
}

typedef struct
{
  GSocket  *socket;
  gboolean  closed;
} RawPeer;

/* TRUE once the transport closed the connection (EOF or reset). */
static gboolean
raw_peer_closed (gpointer data)
{
  RawPeer *peer = data;
  char buffer[64];
  g_autoptr(GError) error = NULL;
  gssize got;

  if (peer->closed)
    return TRUE;
  got = g_socket_receive (peer->socket, buffer, sizeof buffer, NULL, &error);
  if (got == 0 || (got < 0 && !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK)))
    peer->closed = TRUE;
  return peer->closed;
}

static gboolean
raw_peer_readable (gpointer data)
{
  return g_socket_condition_check (data, G_IO_IN) != 0;
}

static GSocket *
raw_connect (const char *address)
{
  g_autoptr(GSocket) socket = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM,
                                            G_SOCKET_PROTOCOL_DEFAULT, NULL);
  g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) target = g_inet_socket_address_new (loopback, port_of (address));
  g_autoptr(GError) error = NULL;

  /* Blocking connect on loopback completes from the kernel backlog. */
  g_assert_true (g_socket_connect (socket, target, NULL, &error));
  g_assert_no_error (error);
  g_socket_set_blocking (socket, FALSE);
  return g_steal_pointer (&socket);
}

static void
test_socket_incoming_limits (SocketFixture *fixture,
                             gconstpointer  data)
{
  const guint8 oversized[] = { 1, 0x00, 0x90, 0x00, 0x00 };   /* request, 9 MiB */
  const guint8 zero_len[] = { 1, 0, 0, 0, 0 };
  const guint8 bad_kind[] = { 7, 0, 0, 0, 4, 'a', 'b', 'c', 'd' };
  const struct { const guint8 *bytes; gsize len; } cases[] = {
    { oversized, sizeof oversized },
    { zero_len, sizeof zero_len },
    { bad_kind, sizeof bad_kind },
  };

  g_test_summary ("Malformed incoming streams (oversized, empty, unknown kind) are closed unanswered");

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      RawPeer peer = { raw_connect (fixture->addr_b), FALSE };

      g_assert_cmpint (g_socket_send (peer.socket, (const char *) cases[i].bytes, cases[i].len, NULL, NULL),
                       ==, (gssize) cases[i].len);
      g_assert_true (wait_until (fixture->context, raw_peer_closed, &peer, 10 * G_USEC_PER_SEC));
      g_socket_close (peer.socket, NULL);
      g_object_unref (peer.socket);
    }

  g_assert_cmpuint (fixture->recv_b->received->len, ==, 0);

  /* A well-formed request by hand gets the documented reply framing. */
  {
    const guint8 request[] = { 1, 0, 0, 0, 2, 'h', 'i' };
    const guint8 expected[] = { 0, 0, 0, 7, 'e', 'c', 'h', 'o', ':', 'h', 'i' };
    RawPeer peer = { raw_connect (fixture->addr_b), FALSE };
    guint8 reply[32];
    gsize have = 0;

    g_socket_send (peer.socket, (const char *) request, sizeof request, NULL, NULL);
    while (have < sizeof expected)
      {
        gssize got;

        /* The transport needs its context iterated to answer. */
        g_assert_true (wait_until (fixture->context, raw_peer_readable, peer.socket, 10 * G_USEC_PER_SEC));
        got = g_socket_receive (peer.socket, (char *) reply + have, sizeof reply - have, NULL, NULL);
        g_assert_cmpint (got, >, 0);
        have += got;
      }
    g_assert_cmpmem (reply, have, expected, sizeof expected);
    g_socket_close (peer.socket, NULL);
    g_object_unref (peer.socket);
  }
}

static void
test_socket_stop_cancels (SocketFixture *fixture,
                          gconstpointer  data)
{
  g_autofree char *address = NULL;
  g_autoptr(GSocket) hole = black_hole_new (&address);
  g_autoptr(GBytes) frame = bytes_printf ("pending");
  StreamResult to_hole = { 0 };
  StreamResult unanswered = { 0 };
  StreamResult restarted = { 0 };
  g_autoptr(GError) error = NULL;
  g_autofree char *new_address = NULL;

  g_test_summary ("stop() completes pending exchanges with CANCELLED before it returns");
  fixture->recv_b->mode = REPLY_KEEP;

  gossip_transport_send_stream (fixture->a, address, frame, TRUE, 60 * G_USEC_PER_SEC, stream_done_cb, &to_hole);
  gossip_transport_send_stream (fixture->a, fixture->addr_b, frame, TRUE, 60 * G_USEC_PER_SEC,
                                stream_done_cb, &unanswered);
  g_assert_true (wait_received (fixture->context, fixture->recv_b, 1));
  g_assert_false (to_hole.done);
  g_assert_false (unanswered.done);

  gossip_transport_stop (fixture->a);
  g_assert_true (to_hole.done);
  g_assert_error (to_hole.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_true (unanswered.done);
  g_assert_error (unanswered.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_null (gossip_transport_get_local_address (fixture->a));
  stream_result_clear (&to_hole);
  stream_result_clear (&unanswered);

  /* A late reply to a vanished requester is harmless. */
  {
    g_autoptr(GBytes) late = bytes_printf ("too late");
    GossipTransportReply *reply = g_ptr_array_steal_index (fixture->recv_b->kept, 0);

    gossip_transport_reply_send (reply, late);
    gossip_transport_reply_unref (reply);
    drain (fixture->context);
  }

  /* Stopping twice is fine, and a stopped transport starts again. */
  gossip_transport_stop (fixture->a);
  g_assert_true (gossip_transport_start (fixture->a, &error));
  g_assert_no_error (error);
  new_address = gossip_transport_get_local_address (fixture->a);
  g_assert_nonnull (new_address);
  fixture->recv_b->mode = REPLY_ECHO;
  gossip_transport_send_stream (fixture->a, fixture->addr_b, frame, TRUE, 10 * G_USEC_PER_SEC,
                                stream_done_cb, &restarted);
  g_assert_true (wait_until (fixture->context, stream_is_done, &restarted, 10 * G_USEC_PER_SEC));
  g_assert_no_error (restarted.error);
  stream_result_clear (&restarted);
  g_socket_close (hole, NULL);
}

static void
test_socket_unref_cancels (SocketFixture *fixture,
                           gconstpointer  data)
{
  g_autofree char *address = NULL;
  g_autoptr(GSocket) hole = black_hole_new (&address);
  g_autoptr(GBytes) frame = bytes_printf ("pending");
  GossipTransport *t = start_socket_transport ("127.0.0.1:0", FALSE, NULL);
  g_autofree char *t_address = gossip_transport_get_local_address (t);
  StreamResult result = { 0 };

  g_test_summary ("Dropping the last reference without stop() tears everything down at once");
  gossip_transport_send_stream (t, address, frame, TRUE, 60 * G_USEC_PER_SEC, stream_done_cb, &result);
  /* Let it connect and write before it is abandoned. */
  drain (fixture->context);
  g_object_unref (t);
  g_assert_true (result.done);
  g_assert_error (result.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  stream_result_clear (&result);
  assert_port_taken ("127.0.0.1", port_of (t_address), G_SOCKET_TYPE_STREAM, FALSE);
  assert_port_taken ("127.0.0.1", port_of (t_address), G_SOCKET_TYPE_DATAGRAM, FALSE);
  g_socket_close (hole, NULL);
}

static void
test_socket_hostname (SocketFixture *fixture,
                      gconstpointer  data)
{
  g_autofree char *address = g_strdup_printf ("localhost:%u", port_of (fixture->addr_b));
  g_autoptr(GBytes) frame = bytes_printf ("by name");
  StreamResult result = { 0 };

  gossip_transport_send_stream (fixture->a, address, frame, TRUE, 10 * G_USEC_PER_SEC, stream_done_cb, &result);
  g_assert_true (wait_until (fixture->context, stream_is_done, &result, 20 * G_USEC_PER_SEC));
  if (g_error_matches (result.error, G_IO_ERROR, G_IO_ERROR_HOST_NOT_FOUND))
    {
      g_test_skip ("“localhost” does not resolve here");
      stream_result_clear (&result);
      return;
    }
  g_assert_no_error (result.error);
  assert_bytes_eq (result.reply, "echo:by name");
  stream_result_clear (&result);

  /* Datagrams by name, the second from the resolution cache. */
  gossip_transport_send_datagram (fixture->a, address, frame);
  gossip_transport_send_datagram (fixture->a, address, frame);
  g_assert_true (wait_received (fixture->context, fixture->recv_b, 3));
  g_assert_false (received_at (fixture->recv_b, 2)->reliable);
}

static gboolean
ipv6_loopback_available (void)
{
  g_autoptr(GSocket) socket = g_socket_new (G_SOCKET_FAMILY_IPV6, G_SOCKET_TYPE_DATAGRAM,
                                            G_SOCKET_PROTOCOL_DEFAULT, NULL);
  g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV6);
  g_autoptr(GSocketAddress) address = g_inet_socket_address_new (loopback, 0);
  gboolean ok;

  if (socket == NULL)
    return FALSE;
  ok = g_socket_bind (socket, address, FALSE, NULL);
  g_socket_close (socket, NULL);
  return ok;
}

static void
test_socket_ipv6 (void)
{
  g_autoptr(GMainContext) context = NULL;
  Receiver *recv_a, *recv_b;
  GossipTransport *a, *b;
  g_autofree char *addr_a = NULL;
  g_autofree char *addr_b = NULL;
  g_autoptr(GBytes) frame = bytes_printf ("v6");
  StreamResult result = { 0 };

  if (!ipv6_loopback_available ())
    {
      g_test_skip ("no IPv6 loopback on this machine");
      return;
    }

  context = g_main_context_new ();
  g_main_context_push_thread_default (context);
  recv_a = receiver_new (REPLY_ECHO, NULL);
  recv_b = receiver_new (REPLY_ECHO, NULL);
  a = start_socket_transport ("[::1]:0", FALSE, recv_a);
  b = start_socket_transport ("[::1]:0", FALSE, recv_b);
  addr_a = gossip_transport_get_local_address (a);
  addr_b = gossip_transport_get_local_address (b);
  g_assert_true (g_str_has_prefix (addr_a, "[::1]:"));
  g_assert_cmpuint (port_of (addr_a), !=, 0);
  assert_port_taken ("::1", port_of (addr_a), G_SOCKET_TYPE_DATAGRAM, TRUE);

  gossip_transport_send_datagram (a, addr_b, frame);
  g_assert_true (wait_received (context, recv_b, 1));
  g_assert_cmpstr (received_at (recv_b, 0)->from, ==, addr_a);

  gossip_transport_send_stream (a, addr_b, frame, TRUE, 10 * G_USEC_PER_SEC, stream_done_cb, &result);
  g_assert_true (wait_until (context, stream_is_done, &result, 10 * G_USEC_PER_SEC));
  g_assert_no_error (result.error);
  assert_bytes_eq (result.reply, "echo:v6");
  stream_result_clear (&result);

  gossip_transport_stop (a);
  gossip_transport_stop (b);
  g_object_unref (a);
  g_object_unref (b);
  receiver_free (recv_a);
  receiver_free (recv_b);
  drain (context);
  g_main_context_pop_thread_default (context);
}

static void
test_socket_fd_leak (SocketFixture *fixture,
                     gconstpointer  data)
{
  g_autoptr(GBytes) frame = bytes_printf ("cycle");
  guint before, after;

  g_test_summary ("100 start/stop cycles, with traffic, leave the fd count unchanged");

  /* Warm up lazily created GLib state (wakeup fds, resolver). */
  {
    g_autoptr(GossipTransport) warm = start_socket_transport ("127.0.0.1:0", FALSE, NULL);
    StreamResult result = { 0 };

    gossip_transport_send_stream (warm, fixture->addr_b, frame, TRUE, 10 * G_USEC_PER_SEC, stream_done_cb, &result);
    g_assert_true (wait_until (fixture->context, stream_is_done, &result, 10 * G_USEC_PER_SEC));
    stream_result_clear (&result);
    gossip_transport_stop (warm);
    drain (fixture->context);
  }
  before = count_open_fds ();

  for (guint i = 0; i < 100; i++)
    {
      g_autoptr(GossipTransport) t = start_socket_transport ("127.0.0.1:0", FALSE, NULL);

      if (i % 10 == 0)
        {
          StreamResult result = { 0 };
          g_autofree char *self_address = gossip_transport_get_local_address (t);

          gossip_transport_send_datagram (t, fixture->addr_b, frame);
          gossip_transport_send_stream (t, fixture->addr_b, frame, TRUE, 10 * G_USEC_PER_SEC,
                                        stream_done_cb, &result);
          g_assert_true (wait_until (fixture->context, stream_is_done, &result, 10 * G_USEC_PER_SEC));
          g_assert_no_error (result.error);
          stream_result_clear (&result);

          /* And one left pending, cancelled by stop(). */
          gossip_transport_send_stream (t, self_address, frame, TRUE, 10 * G_USEC_PER_SEC,
                                        stream_done_cb, &result);
          gossip_transport_stop (t);
          g_assert_true (result.done);
          stream_result_clear (&result);
        }
      gossip_transport_stop (t);
    }

  /* Let b close the connections it served. */
  drain (fixture->context);
  wait_received (fixture->context, fixture->recv_b, 20);
  drain (fixture->context);
  after = count_open_fds ();
  g_assert_cmpuint (after, ==, before);
}

/* ---------------------------------------------------------------------------
 * Memory transport
 * ------------------------------------------------------------------------- */

typedef struct
{
  GossipVirtualClock  *clock;
  GossipMemoryNetwork *network;
  GossipTransport     *a;
  GossipTransport     *b;
  Receiver            *recv_a;
  Receiver            *recv_b;
} MemoryFixture;

static GossipTransport *
start_memory_transport (GossipMemoryNetwork *network,
                        const char          *address,
                        Receiver            *receiver)
{
  g_autoptr(GError) error = NULL;
  GossipTransport *transport = gossip_memory_transport_new (network, address);

  g_assert_true (gossip_transport_start (transport, &error));
  g_assert_no_error (error);
  if (receiver != NULL)
    gossip_transport_set_receive_func (transport, receive_cb, receiver, NULL);
  return transport;
}

static void
memory_setup (MemoryFixture *fixture,
              gconstpointer  data)
{
  fixture->clock = gossip_virtual_clock_new (0);
  fixture->network = gossip_memory_network_new (fixture->clock, 42);
  fixture->recv_a = receiver_new (REPLY_ECHO, GOSSIP_CLOCK (fixture->clock));
  fixture->recv_b = receiver_new (REPLY_ECHO, GOSSIP_CLOCK (fixture->clock));
  fixture->a = start_memory_transport (fixture->network, "10.0.0.1:7946", fixture->recv_a);
  fixture->b = start_memory_transport (fixture->network, "10.0.0.2:7946", fixture->recv_b);
}

static void
memory_teardown (MemoryFixture *fixture,
                 gconstpointer  data)
{
  gossip_transport_stop (fixture->a);
  gossip_transport_stop (fixture->b);
  /* Drops kept reply handles, which hold the network. */
  receiver_free (fixture->recv_a);
  receiver_free (fixture->recv_b);
  g_clear_object (&fixture->a);
  g_clear_object (&fixture->b);
  g_clear_object (&fixture->network);
  /* Nothing may stay armed once the network is gone. */
  g_assert_cmpuint (gossip_virtual_clock_pending (fixture->clock), ==, 0);
  g_clear_object (&fixture->clock);
}

static void
test_memory_datagram_latency (MemoryFixture *fixture,
                              gconstpointer  data)
{
  g_autoptr(GBytes) frame = bytes_printf ("hello");
  Received *r;

  gossip_memory_network_set_latency (fixture->network, 5000, 5000);
  gossip_transport_send_datagram (fixture->a, "10.0.0.2:7946", frame);
  g_assert_cmpuint (fixture->recv_b->received->len, ==, 0);

  gossip_virtual_clock_advance (fixture->clock, 4999);
  g_assert_cmpuint (fixture->recv_b->received->len, ==, 0);
  gossip_virtual_clock_advance (fixture->clock, 1);
  g_assert_cmpuint (fixture->recv_b->received->len, ==, 1);

  r = received_at (fixture->recv_b, 0);
  assert_bytes_eq (r->frame, "hello");
  g_assert_false (r->reliable);
  g_assert_false (r->had_reply);
  g_assert_cmpstr (r->from, ==, "10.0.0.1:7946");
  g_assert_cmpint (r->time, ==, 5000);

  /* A range: every delivery falls inside it, and both ends get used. */
  gossip_memory_network_set_latency (fixture->network, 1000, 3000);
  {
    gint64 start = gossip_clock_now (GOSSIP_CLOCK (fixture->clock));
    gint64 lo = G_MAXINT64, hi = 0;

    for (int i = 0; i < 1000; i++)
      gossip_transport_send_datagram (fixture->a, "10.0.0.2:7946", frame);
    gossip_virtual_clock_advance (fixture->clock, 10000);
    g_assert_cmpuint (fixture->recv_b->received->len, ==, 1001);
    for (guint i = 1; i < 1001; i++)
      {
        gint64 latency = received_at (fixture->recv_b, i)->time - start;

        g_assert_cmpint (latency, >=, 1000);
        g_assert_cmpint (latency, <=, 3000);
        lo = MIN (lo, latency);
        hi = MAX (hi, latency);
      }
    g_assert_cmpint (lo, <, 1100);
    g_assert_cmpint (hi, >, 2900);
  }

  {
    g_autofree char *local = gossip_transport_get_local_address (fixture->a);

    g_assert_cmpstr (local, ==, "10.0.0.1:7946");
  }
}

static void
test_memory_loss (MemoryFixture *fixture,
                  gconstpointer  data)
{
  g_autoptr(GBytes) frame = bytes_printf ("0123456789");
  const guint n = 10000;
  guint got;

  g_test_summary ("10% loss over 10k datagrams with a fixed seed stays within statistical bounds");
  gossip_memory_network_set_loss (fixture->network, NULL, NULL, 0.1);
  for (guint i = 0; i < n; i++)
    gossip_transport_send_datagram (fixture->a, "10.0.0.2:7946", frame);
  gossip_virtual_clock_advance (fixture->clock, G_USEC_PER_SEC);

  got = fixture->recv_b->received->len;
  g_test_message ("%u of %u delivered", got, n);
  /* Binomial sd is 30: the bounds are over 10 sd wide. */
  g_assert_cmpuint (got, >=, 8700);
  g_assert_cmpuint (got, <=, 9300);

  /* Sent frames count whether lost or not. */
  g_assert_cmpuint (gossip_memory_network_get_packets_sent (fixture->network, "10.0.0.1:7946"), ==, n);
  g_assert_cmpuint (gossip_memory_network_get_bytes_sent (fixture->network, "10.0.0.1:7946"), ==, n * 10);
  g_assert_cmpuint (gossip_memory_network_get_packets_sent (fixture->network, "10.0.0.2:7946"), ==, 0);
  g_assert_cmpuint (gossip_memory_network_get_packets_sent (fixture->network, "nobody"), ==, 0);

  /* Streams are not lost. */
  {
    StreamResult result = { 0 };

    gossip_memory_network_set_loss (fixture->network, NULL, NULL, 1.0);
    gossip_transport_send_stream (fixture->a, "10.0.0.2:7946", frame, TRUE, G_USEC_PER_SEC, stream_done_cb, &result);
    gossip_virtual_clock_advance (fixture->clock, G_USEC_PER_SEC);
    g_assert_true (result.done);
    g_assert_no_error (result.error);
    stream_result_clear (&result);
  }
}

static void
test_memory_loss_rules (MemoryFixture *fixture,
                        gconstpointer  data)
{
  g_autoptr(GBytes) frame = bytes_printf ("x");

  gossip_memory_network_set_loss (fixture->network, NULL, NULL, 1.0);
  gossip_memory_network_set_loss (fixture->network, "10.0.0.2:7946", NULL, 0.0);
  gossip_memory_network_set_loss (fixture->network, "10.0.0.2:7946", "10.0.0.1:7946", 1.0);
  gossip_memory_network_set_loss (fixture->network, NULL, "10.0.0.2:7946", 0.0);

  /* a -> b: (any, b) = 0 wins over (any, any) = 1. */
  for (int i = 0; i < 100; i++)
    gossip_transport_send_datagram (fixture->a, "10.0.0.2:7946", frame);
  /* b -> a: the exact rule (b, a) = 1 wins over (b, any) = 0. */
  for (int i = 0; i < 100; i++)
    gossip_transport_send_datagram (fixture->b, "10.0.0.1:7946", frame);
  gossip_virtual_clock_advance (fixture->clock, 1000);
  g_assert_cmpuint (fixture->recv_b->received->len, ==, 100);
  g_assert_cmpuint (fixture->recv_a->received->len, ==, 0);

  gossip_memory_network_heal (fixture->network);
  gossip_transport_send_datagram (fixture->b, "10.0.0.1:7946", frame);
  gossip_virtual_clock_advance (fixture->clock, 1000);
  g_assert_cmpuint (fixture->recv_a->received->len, ==, 1);
}

static void
test_memory_partition (MemoryFixture *fixture,
                       gconstpointer  data)
{
  g_autoptr(GBytes) frame = bytes_printf ("across");
  g_autoptr(GossipTransport) c = start_memory_transport (fixture->network, "10.0.0.3:7946", NULL);
  StreamResult result = { 0 };
  gint64 start;

  g_test_summary ("Partitions block datagrams and streams (which time out); heal() restores them");
  result.clock = GOSSIP_CLOCK (fixture->clock);
  gossip_memory_network_set_latency (fixture->network, 1000, 1000);
  gossip_memory_network_set_partition (fixture->network, "10.0.0.2:7946", 1);
  gossip_memory_network_set_partition (fixture->network, "10.0.0.3:7946", 1);

  gossip_transport_send_datagram (fixture->a, "10.0.0.2:7946", frame);
  gossip_transport_send_datagram (c, "10.0.0.2:7946", frame);
  gossip_virtual_clock_advance (fixture->clock, 10000);
  /* Only c, in b's group, got through. */
  g_assert_cmpuint (fixture->recv_b->received->len, ==, 1);
  g_assert_cmpstr (received_at (fixture->recv_b, 0)->from, ==, "10.0.0.3:7946");

  start = gossip_clock_now (GOSSIP_CLOCK (fixture->clock));
  gossip_transport_send_stream (fixture->a, "10.0.0.2:7946", frame, TRUE, 500000, stream_done_cb, &result);
  gossip_virtual_clock_advance (fixture->clock, 499999);
  g_assert_false (result.done);
  gossip_virtual_clock_advance (fixture->clock, 1);
  g_assert_true (result.done);
  g_assert_error (result.error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT);
  g_assert_cmpint (result.time - start, ==, 500000);
  stream_result_clear (&result);
  g_assert_cmpuint (fixture->recv_b->received->len, ==, 1);

  gossip_memory_network_heal (fixture->network);
  gossip_transport_send_datagram (fixture->a, "10.0.0.2:7946", frame);
  gossip_transport_send_stream (fixture->a, "10.0.0.2:7946", frame, TRUE, 500000, stream_done_cb, &result);
  gossip_virtual_clock_advance (fixture->clock, 10000);
  g_assert_cmpuint (fixture->recv_b->received->len, ==, 3);
  g_assert_true (result.done);
  g_assert_no_error (result.error);
  assert_bytes_eq (result.reply, "echo:across");
  stream_result_clear (&result);
  gossip_transport_stop (c);
}

static void
test_memory_stream (MemoryFixture *fixture,
                    gconstpointer  data)
{
  g_autoptr(GBytes) frame = bytes_printf ("req");
  StreamResult result = { 0 };
  Received *r;

  result.clock = GOSSIP_CLOCK (fixture->clock);
  gossip_memory_network_set_latency (fixture->network, 2000, 2000);

  gossip_transport_send_stream (fixture->a, "10.0.0.2:7946", frame, TRUE, G_USEC_PER_SEC, stream_done_cb, &result);
  g_assert_false (result.done);
  gossip_virtual_clock_advance (fixture->clock, 2000);
  g_assert_cmpuint (fixture->recv_b->received->len, ==, 1);
  r = received_at (fixture->recv_b, 0);
  g_assert_true (r->reliable);
  g_assert_true (r->had_reply);
  g_assert_cmpstr (r->from, ==, "10.0.0.1:7946");
  g_assert_false (result.done);
  gossip_virtual_clock_advance (fixture->clock, 2000);
  g_assert_true (result.done);
  g_assert_no_error (result.error);
  assert_bytes_eq (result.reply, "echo:req");
  g_assert_cmpint (result.time, ==, 4000);
  stream_result_clear (&result);
  /* The reply is counted for b. */
  g_assert_cmpuint (gossip_memory_network_get_packets_sent (fixture->network, "10.0.0.2:7946"), ==, 1);
  g_assert_cmpuint (gossip_memory_network_get_bytes_sent (fixture->network, "10.0.0.2:7946"), ==, 8);

  /* One-way: done when delivered. */
  gossip_transport_send_stream (fixture->a, "10.0.0.2:7946", frame, FALSE, G_USEC_PER_SEC, stream_done_cb, &result);
  gossip_virtual_clock_advance (fixture->clock, 2000);
  g_assert_true (result.done);
  g_assert_no_error (result.error);
  g_assert_null (result.reply);
  g_assert_false (received_at (fixture->recv_b, 1)->had_reply);
  stream_result_clear (&result);

  /* Oversized datagrams become one-way streams. */
  {
    g_autoptr(GBytes) big = g_bytes_new_take (g_malloc0 (2000), 2000);

    gossip_transport_send_datagram (fixture->a, "10.0.0.2:7946", big);
    gossip_virtual_clock_advance (fixture->clock, 2000);
    g_assert_cmpuint (fixture->recv_b->received->len, ==, 3);
    g_assert_true (received_at (fixture->recv_b, 2)->reliable);
  }
}

static void
test_memory_no_reply (MemoryFixture *fixture,
                      gconstpointer  data)
{
  g_autoptr(GBytes) frame = bytes_printf ("req");
  StreamResult result = { 0 };

  fixture->recv_b->mode = REPLY_IGNORE;
  gossip_transport_send_stream (fixture->a, "10.0.0.2:7946", frame, TRUE, G_USEC_PER_SEC, stream_done_cb, &result);
  gossip_virtual_clock_advance (fixture->clock, 1000);
  g_assert_true (result.done);
  g_assert_error (result.error, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED);
  stream_result_clear (&result);

  /* A kept handle answers later; a second answer is refused. */
  fixture->recv_b->mode = REPLY_KEEP;
  gossip_transport_send_stream (fixture->a, "10.0.0.2:7946", frame, TRUE, G_USEC_PER_SEC, stream_done_cb, &result);
  gossip_virtual_clock_advance (fixture->clock, 1000);
  g_assert_false (result.done);
  {
    g_autoptr(GBytes) answer = bytes_printf ("later");
    GossipTransportReply *reply = g_ptr_array_steal_index (fixture->recv_b->kept, 0);

    gossip_virtual_clock_advance (fixture->clock, 5000);
    gossip_transport_reply_send (reply, answer);
    g_test_expect_message ("Gossip", G_LOG_LEVEL_CRITICAL, "*already sent*");
    gossip_transport_reply_send (reply, answer);
    g_test_assert_expected_messages ();
    gossip_transport_reply_unref (reply);
  }
  gossip_virtual_clock_advance (fixture->clock, 1000);
  g_assert_true (result.done);
  g_assert_no_error (result.error);
  assert_bytes_eq (result.reply, "later");
  stream_result_clear (&result);

  /* Answering after the requester timed out goes nowhere. */
  gossip_transport_send_stream (fixture->a, "10.0.0.2:7946", frame, TRUE, 10000, stream_done_cb, &result);
  gossip_virtual_clock_advance (fixture->clock, 20000);
  g_assert_error (result.error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT);
  stream_result_clear (&result);
  g_ptr_array_set_size (fixture->recv_b->kept, 0);
  gossip_virtual_clock_advance (fixture->clock, 20000);
  g_assert_false (result.done);
}

static void
test_memory_refused (MemoryFixture *fixture,
                     gconstpointer  data)
{
  g_autoptr(GBytes) frame = bytes_printf ("hello?");
  StreamResult result = { 0 };

  gossip_memory_network_set_latency (fixture->network, 1000, 1000);
  gossip_transport_send_stream (fixture->a, "10.0.0.99:7946", frame, TRUE, G_USEC_PER_SEC, stream_done_cb, &result);
  g_assert_false (result.done);
  gossip_virtual_clock_advance (fixture->clock, 0);
  g_assert_true (result.done);
  g_assert_error (result.error, G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED);
  stream_result_clear (&result);

  /* The destination stops while the request is in flight. */
  gossip_transport_send_stream (fixture->a, "10.0.0.2:7946", frame, TRUE, G_USEC_PER_SEC, stream_done_cb, &result);
  gossip_transport_stop (fixture->b);
  gossip_virtual_clock_advance (fixture->clock, 1000);
  g_assert_true (result.done);
  g_assert_error (result.error, G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED);
  stream_result_clear (&result);
  g_assert_cmpuint (fixture->recv_b->received->len, ==, 0);

  /* Datagrams to nowhere vanish. */
  gossip_transport_send_datagram (fixture->a, "10.0.0.2:7946", frame);
  gossip_virtual_clock_advance (fixture->clock, 1000);
  g_assert_cmpuint (fixture->recv_b->received->len, ==, 0);
}

static void
test_memory_stop_cancels (MemoryFixture *fixture,
                          gconstpointer  data)
{
  g_autoptr(GBytes) frame = bytes_printf ("pending");
  g_autoptr(GossipTransport) twin = gossip_memory_transport_new (fixture->network, "10.0.0.1:7946");
  g_autoptr(GError) error = NULL;
  StreamResult first = { 0 };
  StreamResult second = { 0 };
  StreamResult unstarted = { 0 };

  gossip_memory_network_set_latency (fixture->network, 1000, 1000);
  gossip_transport_send_stream (fixture->a, "10.0.0.2:7946", frame, TRUE, G_USEC_PER_SEC, stream_done_cb, &first);
  gossip_transport_send_stream (fixture->a, "10.0.0.2:7946", frame, FALSE, G_USEC_PER_SEC, stream_done_cb, &second);
  gossip_transport_stop (fixture->a);
  g_assert_true (first.done);
  g_assert_error (first.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_true (second.done);
  g_assert_error (second.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_null (gossip_transport_get_local_address (fixture->a));
  stream_result_clear (&first);
  stream_result_clear (&second);

  /* Abandoned exchanges do not deliver their requests. */
  gossip_virtual_clock_advance (fixture->clock, 10000);
  g_assert_cmpuint (fixture->recv_b->received->len, ==, 0);

  /* The address is free again; a second start of the same address fails. */
  g_assert_true (gossip_transport_start (twin, &error));
  g_assert_no_error (error);
  g_assert_false (gossip_transport_start (fixture->a, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_ADDRESS_IN_USE);
  g_assert_nonnull (strstr (error->message, "10.0.0.1:7946"));

  /* Sending from a stopped transport fails from a timer. */
  gossip_transport_send_stream (fixture->a, "10.0.0.2:7946", frame, TRUE, G_USEC_PER_SEC, stream_done_cb, &unstarted);
  g_assert_false (unstarted.done);
  gossip_virtual_clock_advance (fixture->clock, 0);
  g_assert_error (unstarted.error, G_IO_ERROR, G_IO_ERROR_NOT_CONNECTED);
  stream_result_clear (&unstarted);
  gossip_transport_stop (twin);
}

/* Runs a small random scenario and returns its trace. */
static char *
run_scenario (guint32 seed)
{
  g_autoptr(GossipVirtualClock) clock = gossip_virtual_clock_new (0);
  g_autoptr(GossipMemoryNetwork) network = gossip_memory_network_new (clock, seed);
  g_autoptr(GString) trace = g_string_new (NULL);
  GossipTransport *nodes[5];
  Receiver *receivers[5];
  g_autoptr(GRand) traffic = g_rand_new_with_seed (1);

  gossip_memory_network_set_latency (network, 100, 5000);
  gossip_memory_network_set_loss (network, NULL, NULL, 0.3);
  for (int i = 0; i < 5; i++)
    {
      g_autofree char *address = g_strdup_printf ("node%d:1", i);

      receivers[i] = receiver_new (REPLY_ECHO, GOSSIP_CLOCK (clock));
      nodes[i] = start_memory_transport (network, address, receivers[i]);
    }

  for (int i = 0; i < 500; i++)
    {
      g_autofree char *to = g_strdup_printf ("node%d:1", g_rand_int_range (traffic, 0, 5));
      g_autoptr(GBytes) frame = bytes_printf ("m%d", i);

      gossip_transport_send_datagram (nodes[g_rand_int_range (traffic, 0, 5)], to, frame);
      gossip_virtual_clock_advance (clock, g_rand_int_range (traffic, 0, 300));
    }
  gossip_virtual_clock_advance (clock, G_USEC_PER_SEC);

  for (int i = 0; i < 5; i++)
    {
      for (guint j = 0; j < receivers[i]->received->len; j++)
        {
          Received *r = received_at (receivers[i], j);

          g_string_append_printf (trace, "%d<%s@%" G_GINT64_FORMAT ":%.*s;", i, r->from, r->time,
                                  (int) g_bytes_get_size (r->frame), (const char *) g_bytes_get_data (r->frame, NULL));
        }
      gossip_transport_stop (nodes[i]);
      g_object_unref (nodes[i]);
      receiver_free (receivers[i]);
    }

  return g_string_free (g_steal_pointer (&trace), FALSE);
}

static void
test_memory_deterministic (void)
{
  g_autofree char *first = run_scenario (1234);
  g_autofree char *second = run_scenario (1234);
  g_autofree char *other = run_scenario (4321);

  g_test_summary ("The same seed replays the same deliveries at the same virtual times");
  g_assert_cmpuint (strlen (first), >, 0);
  g_assert_cmpstr (first, ==, second);
  g_assert_cmpstr (first, !=, other);
}

static void
test_memory_scale (void)
{
  const guint n = 10000;
  g_autoptr(GossipVirtualClock) clock = gossip_virtual_clock_new (0);
  g_autoptr(GossipMemoryNetwork) network = gossip_memory_network_new (clock, 9);
  g_autoptr(GPtrArray) transports = g_ptr_array_new_with_free_func (g_object_unref);
  g_autoptr(GBytes) frame = bytes_printf ("gossip");
  Receiver *receiver = receiver_new (REPLY_ECHO, NULL);
  gint64 started = g_get_monotonic_time ();
  guint replies = 0;

  g_test_summary ("10,000 transports on one network: every datagram and stream gets through");
  gossip_memory_network_set_latency (network, 1000, 20000);
  for (guint i = 0; i < n; i++)
    {
      g_autofree char *address = g_strdup_printf ("10.%u.%u.%u:7946", i >> 16, (i >> 8) & 0xff, i & 0xff);

      g_ptr_array_add (transports, start_memory_transport (network, address, receiver));
    }

  for (guint round = 0; round < 3; round++)
    for (guint i = 0; i < n; i++)
      {
        guint j = (i * 7919 + round * 104729 + 1) % n;
        g_autofree char *to = g_strdup_printf ("10.%u.%u.%u:7946", j >> 16, (j >> 8) & 0xff, j & 0xff);

        gossip_transport_send_datagram (g_ptr_array_index (transports, i), to, frame);
      }
  g_assert_cmpuint (gossip_virtual_clock_pending (clock), ==, 3 * n);
  gossip_virtual_clock_advance (clock, G_USEC_PER_SEC);
  g_assert_cmpuint (receiver->received->len, ==, 3 * n);

  /* Streams too; each completion is counted through a shared result. */
  {
    g_autofree StreamResult *results = g_new0 (StreamResult, n);

    for (guint i = 0; i < n; i++)
      {
        g_autofree char *to = g_strdup_printf ("10.%u.%u.%u:7946", ((i + 1) % n) >> 16,
                                               (((i + 1) % n) >> 8) & 0xff, ((i + 1) % n) & 0xff);

        gossip_transport_send_stream (g_ptr_array_index (transports, i), to, frame, TRUE, G_USEC_PER_SEC,
                                      stream_done_cb, &results[i]);
      }
    gossip_virtual_clock_advance (clock, G_USEC_PER_SEC);
    for (guint i = 0; i < n; i++)
      {
        replies += results[i].done && results[i].error == NULL;
        stream_result_clear (&results[i]);
      }
  }
  g_assert_cmpuint (replies, ==, n);

  for (guint i = 0; i < n; i++)
    gossip_transport_stop (g_ptr_array_index (transports, i));
  g_clear_pointer (&transports, g_ptr_array_unref);
  receiver_free (receiver);
  g_test_message ("10k transports simulated in %.3f s", (g_get_monotonic_time () - started) / 1e6);
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);

#define SOCKET_TEST(path, func) \
  g_test_add ("/transport/socket/" path, SocketFixture, NULL, socket_setup, func, socket_teardown)
#define MEMORY_TEST(path, func) \
  g_test_add ("/transport/memory/" path, MemoryFixture, NULL, memory_setup, func, memory_teardown)

  SOCKET_TEST ("local-address", test_socket_local_address);
  SOCKET_TEST ("same-port", test_socket_same_port);
  SOCKET_TEST ("bind-conflict", test_socket_bind_conflict);
  g_test_add_func ("/transport/socket/invalid-address", test_socket_invalid_address);
  SOCKET_TEST ("datagram", test_socket_datagram);
  SOCKET_TEST ("datagram-forms", test_socket_datagram_forms);
  SOCKET_TEST ("datagram-oversized", test_socket_datagram_oversized);
  SOCKET_TEST ("reliable-only", test_socket_reliable_only);
  SOCKET_TEST ("stream-one-way", test_socket_stream_one_way);
  SOCKET_TEST ("stream-reply", test_socket_stream_reply);
  SOCKET_TEST ("stream-large", test_socket_stream_large);
  SOCKET_TEST ("stream-concurrent", test_socket_concurrent);
  SOCKET_TEST ("reply-from-thread", test_socket_reply_from_thread);
  SOCKET_TEST ("no-reply", test_socket_no_reply);
  SOCKET_TEST ("timeout", test_socket_timeout);
  SOCKET_TEST ("refused", test_socket_refused);
  SOCKET_TEST ("early-errors", test_socket_early_errors);
  SOCKET_TEST ("incoming-limits", test_socket_incoming_limits);
  SOCKET_TEST ("stop-cancels", test_socket_stop_cancels);
  SOCKET_TEST ("unref-cancels", test_socket_unref_cancels);
  SOCKET_TEST ("hostname", test_socket_hostname);
  g_test_add_func ("/transport/socket/ipv6", test_socket_ipv6);
  SOCKET_TEST ("fd-leak", test_socket_fd_leak);

  MEMORY_TEST ("datagram-latency", test_memory_datagram_latency);
  MEMORY_TEST ("loss", test_memory_loss);
  MEMORY_TEST ("loss-rules", test_memory_loss_rules);
  MEMORY_TEST ("partition", test_memory_partition);
  MEMORY_TEST ("stream", test_memory_stream);
  MEMORY_TEST ("no-reply", test_memory_no_reply);
  MEMORY_TEST ("refused", test_memory_refused);
  MEMORY_TEST ("stop-cancels", test_memory_stop_cancels);
  g_test_add_func ("/transport/memory/deterministic", test_memory_deterministic);
  g_test_add_func ("/transport/memory/scale", test_memory_scale);

  return g_test_run ();
}
