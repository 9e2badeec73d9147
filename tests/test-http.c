/* test-http.c — GossipHttpTransport on loopback (two transports on a test
 * context, raw libsoup requests for status codes, an HTTPS peer with a
 * throw-away certificate) and clusters speaking HTTP on the shared engine
 * thread.
 *
 * SPDX-License-Identifier: MIT
 */
#include "config.h"

#include <string.h>
#include <glib/gstdio.h>
#include <libsoup/soup.h>

#include <gossip/gossip.h>

#include "test-util.h"
#include "gossip-frame-private.h"
#include "gossip-transport-private.h"

/* ---------------------------------------------------------------------------
 * Receiving side
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
} Received;

typedef struct
{
  GPtrArray *received;   /* Received* */
  GPtrArray *kept;       /* GossipTransportReply* */
  ReplyMode  mode;
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
receiver_new (ReplyMode mode)
{
  Receiver *receiver = g_new0 (Receiver, 1);

  receiver->received = g_ptr_array_new_with_free_func (received_free);
  receiver->kept = g_ptr_array_new_with_free_func ((GDestroyNotify) gossip_transport_reply_unref);
  receiver->mode = mode;
  return receiver;
}

static void
receiver_free (Receiver *receiver)
{
  g_ptr_array_unref (receiver->received);
  g_ptr_array_unref (receiver->kept);
  g_free (receiver);
}

static GBytes *
bytes_of (const char *text)
{
  return g_bytes_new (text, strlen (text));
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
  const char *data;

  g_assert_nonnull (bytes);
  data = g_bytes_get_data (bytes, &len);
  g_assert_cmpmem (data, len, text, strlen (text));
}

/* ---------------------------------------------------------------------------
 * Sending side and waiting
 * ------------------------------------------------------------------------- */

typedef struct
{
  gboolean  done;
  GBytes   *reply;
  GError   *error;
  gint64    time;
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
  result->time = g_get_monotonic_time ();
}

static gboolean
poll_wakeup_cb (gpointer data)
{
  return G_SOURCE_CONTINUE;
}

/* Iterates @context until @predicate holds or @timeout_us passes. */
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

/* Sends one exchange and waits for its outcome. */
static void
exchange (GMainContext    *context,
          GossipTransport *transport,
          const char      *address,
          GBytes          *frame,
          gboolean         want_reply,
          gint64           timeout_us,
          StreamResult    *result)
{
  stream_result_clear (result);
  gossip_transport_send_stream (transport, address, frame, want_reply, timeout_us, stream_done_cb, result);
  /* Never from inside send_stream(). */
  g_assert_false (result->done);
  g_assert_true (wait_until (context, stream_is_done, result, 20 * G_USEC_PER_SEC));
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

static void
drain (GMainContext *context)
{
  for (int i = 0; i < 100 && g_main_context_iteration (context, FALSE); i++)
    ;
}

static guint16
port_of (const char *url)
{
  g_autoptr(GUri) uri = g_uri_parse (url, G_URI_FLAGS_NONE, NULL);

  g_assert_nonnull (uri);
  g_assert_cmpint (g_uri_get_port (uri), >, 0);
  return (guint16) g_uri_get_port (uri);
}

/* ---------------------------------------------------------------------------
 * Raw HTTP requests, for status codes the transport maps to errors
 * ------------------------------------------------------------------------- */

typedef struct
{
  gboolean  done;
  guint     status;
  GBytes   *body;
  GError   *error;
} RawResult;

static void
raw_done_cb (GObject      *source,
             GAsyncResult *result,
             gpointer      data)
{
  RawResult *raw = data;
  SoupMessage *msg = soup_session_get_async_result_message (SOUP_SESSION (source), result);

  raw->body = soup_session_send_and_read_finish (SOUP_SESSION (source), result, &raw->error);
  raw->status = soup_message_get_status (msg);
  raw->done = TRUE;
}

static gboolean
raw_is_done (gpointer data)
{
  return ((RawResult *) data)->done;
}

/* @headers: NULL-terminated name, value pairs. Returns the status. */
static guint
raw_request (GMainContext *context,
             const char   *method,
             const char   *url,
             GBytes       *body,
             const char   *first_header,
             ...)
{
  g_autoptr(SoupSession) session = soup_session_new ();
  g_autoptr(SoupMessage) msg = soup_message_new (method, url);
  RawResult raw = { 0 };
  const char *name;
  va_list args;

  g_assert_nonnull (msg);
  soup_session_set_proxy_resolver (session, NULL);
  if (body != NULL)
    soup_message_set_request_body_from_bytes (msg, "application/octet-stream", body);
  va_start (args, first_header);
  for (name = first_header; name != NULL; name = va_arg (args, const char *))
    soup_message_headers_replace (soup_message_get_request_headers (msg), name, va_arg (args, const char *));
  va_end (args);

  soup_session_send_and_read_async (session, msg, G_PRIORITY_DEFAULT, NULL, raw_done_cb, &raw);
  g_assert_true (wait_until (context, raw_is_done, &raw, 30 * G_USEC_PER_SEC));
  g_assert_no_error (raw.error);
  g_clear_pointer (&raw.body, g_bytes_unref);
  return raw.status;
}

/* ---------------------------------------------------------------------------
 * Fixture: two started transports on 127.0.0.1:0
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
} HttpFixture;

static GossipTransport *
start_http_transport (const char *bind_address,
                      gboolean    insecure,
                      Receiver   *receiver)
{
  g_autoptr(GError) error = NULL;
  GossipTransport *transport;

  transport = gossip_http_transport_new (bind_address, FALSE, insecure, &error);
  g_assert_no_error (error);
  g_assert_true (gossip_transport_start (transport, &error));
  g_assert_no_error (error);
  if (receiver != NULL)
    gossip_transport_set_receive_func (transport, receive_cb, receiver, NULL);
  return transport;
}

static void
http_setup (HttpFixture   *fixture,
            gconstpointer  data)
{
  fixture->context = g_main_context_new ();
  g_main_context_push_thread_default (fixture->context);

  fixture->recv_a = receiver_new (REPLY_ECHO);
  fixture->recv_b = receiver_new (REPLY_ECHO);
  fixture->a = start_http_transport ("127.0.0.1:0", FALSE, fixture->recv_a);
  fixture->b = start_http_transport ("127.0.0.1:0", FALSE, fixture->recv_b);
  fixture->addr_a = gossip_transport_get_local_address (fixture->a);
  fixture->addr_b = gossip_transport_get_local_address (fixture->b);
}

static void
http_teardown (HttpFixture   *fixture,
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

/* ---------------------------------------------------------------------------
 * Transport tests
 * ------------------------------------------------------------------------- */

static void
test_local_address (HttpFixture   *fixture,
                    gconstpointer  data)
{
  g_autoptr(GossipTransport) unstarted = gossip_http_transport_new ("127.0.0.1:0", FALSE, FALSE, NULL);
  g_autoptr(GossipTransport) with_path = NULL;
  g_autoptr(GossipTransport) bad = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *addr = NULL;

  g_assert_true (g_str_has_prefix (fixture->addr_a, "http://127.0.0.1:"));
  g_assert_true (g_str_has_suffix (fixture->addr_a, "/"));
  g_assert_cmpuint (port_of (fixture->addr_a), !=, port_of (fixture->addr_b));
  g_assert_null (gossip_transport_get_local_address (unstarted));
  g_assert_cmpuint (gossip_transport_get_max_datagram (fixture->a), ==, GOSSIP_MAX_FRAME_SIZE);

  /* The path of a URL bind address shapes the local address. */
  with_path = start_http_transport ("http://127.0.0.1:0/gossip/v1", FALSE, NULL);
  addr = gossip_transport_get_local_address (with_path);
  g_assert_true (g_str_has_prefix (addr, "http://127.0.0.1:"));
  g_assert_true (g_str_has_suffix (addr, "/gossip/v1"));
  gossip_transport_stop (with_path);

  /* Serving TLS is not possible: no certificate can be configured. */
  bad = gossip_http_transport_new ("https://127.0.0.1:0/", FALSE, FALSE, &error);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
  g_assert_null (bad);
  g_clear_error (&error);
  bad = gossip_http_transport_new ("no-port", FALSE, FALSE, &error);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
  g_assert_null (bad);
}

static void
test_one_way (HttpFixture   *fixture,
              gconstpointer  data)
{
  g_autoptr(GBytes) frame = bytes_of ("one-way");
  g_autoptr(GBytes) datagram = bytes_of ("datagram");
  g_autofree char *host_port = NULL;
  g_autofree char *colon_port = NULL;
  StreamResult result = { 0 };

  exchange (fixture->context, fixture->a, fixture->addr_b, frame, FALSE, G_USEC_PER_SEC, &result);
  g_assert_no_error (result.error);
  g_assert_null (result.reply);
  /* Delivered before the 204, so already there. */
  g_assert_cmpuint (fixture->recv_b->received->len, ==, 1);
  assert_bytes_eq (received_at (fixture->recv_b, 0)->frame, "one-way");
  g_assert_true (received_at (fixture->recv_b, 0)->reliable);
  g_assert_false (received_at (fixture->recv_b, 0)->had_reply);
  g_assert_true (g_str_has_prefix (received_at (fixture->recv_b, 0)->from, "127.0.0.1:"));

  gossip_transport_send_datagram (fixture->a, fixture->addr_b, datagram);
  g_assert_true (wait_received (fixture->context, fixture->recv_b, 2));
  assert_bytes_eq (received_at (fixture->recv_b, 1)->frame, "datagram");
  g_assert_false (received_at (fixture->recv_b, 1)->reliable);

  /* "host:port" means http://host:port/, ":port" this host. */
  host_port = g_strdup_printf ("127.0.0.1:%u", port_of (fixture->addr_b));
  exchange (fixture->context, fixture->a, host_port, frame, FALSE, G_USEC_PER_SEC, &result);
  g_assert_no_error (result.error);
  colon_port = g_strdup_printf (":%u", port_of (fixture->addr_b));
  exchange (fixture->context, fixture->a, colon_port, frame, FALSE, G_USEC_PER_SEC, &result);
  g_assert_no_error (result.error);
  g_assert_cmpuint (fixture->recv_b->received->len, ==, 4);
  g_assert_cmpuint (gossip_http_transport_get_datagrams_dropped (GOSSIP_HTTP_TRANSPORT (fixture->a)), ==, 0);
  stream_result_clear (&result);
}

typedef struct
{
  GossipTransportReply *reply;
  GBytes               *frame;
} ThreadReply;

static gpointer
reply_thread (gpointer data)
{
  ThreadReply *tr = data;

  g_usleep (50000);
  gossip_transport_reply_send (tr->reply, tr->frame);
  return NULL;
}

static void
test_request (HttpFixture   *fixture,
              gconstpointer  data)
{
  g_autoptr(GBytes) frame = bytes_of ("ping");
  g_autoptr(GBytes) late = bytes_of ("from a thread");
  g_autofree char *with_path = g_strconcat (fixture->addr_b, "any/path?x=1", NULL);
  StreamResult result = { 0 };
  ThreadReply tr;
  GThread *thread;

  exchange (fixture->context, fixture->a, fixture->addr_b, frame, TRUE, 5 * G_USEC_PER_SEC, &result);
  g_assert_no_error (result.error);
  assert_bytes_eq (result.reply, "echo:ping");
  g_assert_true (received_at (fixture->recv_b, 0)->had_reply);
  g_assert_true (received_at (fixture->recv_b, 0)->reliable);

  /* URLs are used as given, path included; any path is served. */
  exchange (fixture->context, fixture->a, with_path, frame, TRUE, 5 * G_USEC_PER_SEC, &result);
  g_assert_no_error (result.error);
  assert_bytes_eq (result.reply, "echo:ping");

  /* A reply from another thread, later. */
  fixture->recv_b->mode = REPLY_KEEP;
  stream_result_clear (&result);
  gossip_transport_send_stream (fixture->a, fixture->addr_b, frame, TRUE, 5 * G_USEC_PER_SEC,
                                stream_done_cb, &result);
  g_assert_true (wait_received (fixture->context, fixture->recv_b, 3));
  tr.reply = g_ptr_array_index (fixture->recv_b->kept, 0);
  tr.frame = late;
  thread = g_thread_new ("replier", reply_thread, &tr);
  g_assert_true (wait_until (fixture->context, stream_is_done, &result, 10 * G_USEC_PER_SEC));
  g_thread_join (thread);
  g_assert_no_error (result.error);
  assert_bytes_eq (result.reply, "from a thread");
  stream_result_clear (&result);
}

static void
test_keep_alive (HttpFixture   *fixture,
                 gconstpointer  data)
{
  g_autoptr(GBytes) frame = bytes_of ("again");
  StreamResult result = { 0 };

  /* Sequential exchanges reuse one connection: same source port. */
  for (guint i = 0; i < 5; i++)
    {
      exchange (fixture->context, fixture->a, fixture->addr_b, frame, i % 2 == 0, G_USEC_PER_SEC * 5, &result);
      g_assert_no_error (result.error);
      /* libsoup marks the connection idle just after the exchange ends. */
      drain (fixture->context);
    }
  for (guint i = 1; i < 5; i++)
    g_assert_cmpstr (received_at (fixture->recv_b, i)->from, ==, received_at (fixture->recv_b, 0)->from);
  stream_result_clear (&result);
}

static void
test_no_reply (HttpFixture   *fixture,
               gconstpointer  data)
{
  g_autoptr(GBytes) frame = bytes_of ("anyone?");
  StreamResult result = { 0 };
  guint status;

  fixture->recv_b->mode = REPLY_IGNORE;
  exchange (fixture->context, fixture->a, fixture->addr_b, frame, TRUE, 5 * G_USEC_PER_SEC, &result);
  g_assert_error (result.error, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED);
  g_assert_null (result.reply);

  fixture->recv_b->mode = REPLY_DECLINE;
  exchange (fixture->context, fixture->a, fixture->addr_b, frame, TRUE, 5 * G_USEC_PER_SEC, &result);
  g_assert_error (result.error, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED);

  /* On the wire that is a 204. */
  status = raw_request (fixture->context, "POST", fixture->addr_b, frame, "X-Gossip-Reply", "1", NULL);
  g_assert_cmpuint (status, ==, SOUP_STATUS_NO_CONTENT);
  g_assert_cmpuint (fixture->recv_b->received->len, ==, 3);
  stream_result_clear (&result);
}

static void
test_bearer_token (HttpFixture   *fixture,
                   gconstpointer  data)
{
  GossipHttpTransport *a = GOSSIP_HTTP_TRANSPORT (fixture->a);
  GossipHttpTransport *b = GOSSIP_HTTP_TRANSPORT (fixture->b);
  g_autoptr(GBytes) frame = bytes_of ("secret stuff");
  StreamResult result = { 0 };

  gossip_http_transport_set_bearer_token (b, "s3cret");

  /* No token. */
  exchange (fixture->context, fixture->a, fixture->addr_b, frame, TRUE, 5 * G_USEC_PER_SEC, &result);
  g_assert_error (result.error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED);
  g_assert_cmpuint (gossip_http_transport_get_auth_rejected (b), ==, 1);

  /* Wrong token, one-way and datagram. */
  gossip_http_transport_set_bearer_token (a, "guess");
  exchange (fixture->context, fixture->a, fixture->addr_b, frame, FALSE, 5 * G_USEC_PER_SEC, &result);
  g_assert_error (result.error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED);
  g_assert_cmpuint (gossip_http_transport_get_auth_rejected (b), ==, 2);
  /* A prefix of the token is not the token. */
  gossip_http_transport_set_bearer_token (a, "s3cre");
  exchange (fixture->context, fixture->a, fixture->addr_b, frame, FALSE, 5 * G_USEC_PER_SEC, &result);
  g_assert_error (result.error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED);
  g_assert_cmpuint (gossip_http_transport_get_auth_rejected (b), ==, 3);

  /* Other schemes and garbage: 401 on the wire, before the method is even
   * looked at. */
  g_assert_cmpuint (raw_request (fixture->context, "POST", fixture->addr_b, frame,
                                 "Authorization", "Basic czNjcmV0", NULL), ==, SOUP_STATUS_UNAUTHORIZED);
  g_assert_cmpuint (raw_request (fixture->context, "GET", fixture->addr_b, NULL, NULL), ==,
                    SOUP_STATUS_UNAUTHORIZED);
  g_assert_cmpuint (gossip_http_transport_get_auth_rejected (b), ==, 5);
  /* Nothing reached the engine. */
  g_assert_cmpuint (fixture->recv_b->received->len, ==, 0);

  /* The right token. */
  gossip_http_transport_set_bearer_token (a, "s3cret");
  exchange (fixture->context, fixture->a, fixture->addr_b, frame, TRUE, 5 * G_USEC_PER_SEC, &result);
  g_assert_no_error (result.error);
  assert_bytes_eq (result.reply, "echo:secret stuff");
  g_assert_cmpuint (raw_request (fixture->context, "POST", fixture->addr_b, frame,
                                 "Authorization", "Bearer s3cret", NULL), ==, SOUP_STATUS_NO_CONTENT);
  g_assert_cmpuint (fixture->recv_b->received->len, ==, 2);
  g_assert_cmpuint (gossip_http_transport_get_auth_rejected (b), ==, 5);
  stream_result_clear (&result);
}

static void
test_oversized (HttpFixture   *fixture,
                gconstpointer  data)
{
  GossipHttpTransport *b = GOSSIP_HTTP_TRANSPORT (fixture->b);
  g_autofree guint8 *big = g_malloc (GOSSIP_MAX_FRAME_SIZE + 1);
  g_autoptr(GBytes) too_big = NULL;
  g_autoptr(GBytes) limit = NULL;
  g_autoptr(GBytes) small = bytes_of ("x");
  g_autoptr(GBytes) empty = g_bytes_new (NULL, 0);
  StreamResult result = { 0 };

  for (gsize i = 0; i < GOSSIP_MAX_FRAME_SIZE + 1; i++)
    big[i] = (guint8) (i * 7 + (i >> 13));
  too_big = g_bytes_new_static (big, GOSSIP_MAX_FRAME_SIZE + 1);
  limit = g_bytes_new_static (big, GOSSIP_MAX_FRAME_SIZE);

  /* One byte over the limit: 413, and nothing delivered (not truncated). */
  g_assert_cmpuint (raw_request (fixture->context, "POST", fixture->addr_b, too_big, NULL), ==,
                    SOUP_STATUS_REQUEST_ENTITY_TOO_LARGE);
  g_assert_cmpuint (gossip_http_transport_get_requests_rejected (b), ==, 1);
  g_assert_cmpuint (fixture->recv_b->received->len, ==, 0);

  /* Other rejections. */
  g_assert_cmpuint (raw_request (fixture->context, "GET", fixture->addr_b, NULL, NULL), ==,
                    SOUP_STATUS_METHOD_NOT_ALLOWED);
  g_assert_cmpuint (raw_request (fixture->context, "POST", fixture->addr_b, empty, NULL), ==,
                    SOUP_STATUS_BAD_REQUEST);
  g_assert_cmpuint (gossip_http_transport_get_requests_rejected (b), ==, 3);
  g_assert_cmpuint (fixture->recv_b->received->len, ==, 0);

  /* The transport refuses to send it in the first place. */
  exchange (fixture->context, fixture->a, fixture->addr_b, too_big, FALSE, 5 * G_USEC_PER_SEC, &result);
  g_assert_error (result.error, G_IO_ERROR, G_IO_ERROR_MESSAGE_TOO_LARGE);

  /* Exactly the limit goes through, intact, both ways. */
  exchange (fixture->context, fixture->a, fixture->addr_b, limit, FALSE, 20 * G_USEC_PER_SEC, &result);
  g_assert_no_error (result.error);
  g_assert_cmpuint (fixture->recv_b->received->len, ==, 1);
  g_assert_true (g_bytes_equal (received_at (fixture->recv_b, 0)->frame, limit));

  fixture->recv_b->mode = REPLY_KEEP;
  stream_result_clear (&result);
  gossip_transport_send_stream (fixture->a, fixture->addr_b, small, TRUE, 20 * G_USEC_PER_SEC,
                                stream_done_cb, &result);
  g_assert_true (wait_received (fixture->context, fixture->recv_b, 2));
  gossip_transport_reply_send (g_ptr_array_index (fixture->recv_b->kept, 0), limit);
  g_assert_true (wait_until (fixture->context, stream_is_done, &result, 20 * G_USEC_PER_SEC));
  g_assert_no_error (result.error);
  g_assert_true (g_bytes_equal (result.reply, limit));
  stream_result_clear (&result);
}

static void
test_timeout (HttpFixture   *fixture,
              gconstpointer  data)
{
  g_autoptr(GBytes) frame = bytes_of ("slow");
  g_autoptr(GBytes) late = bytes_of ("too late");
  StreamResult result = { 0 };
  gint64 start;

  /* The client's own deadline. */
  fixture->recv_b->mode = REPLY_KEEP;
  start = g_get_monotonic_time ();
  exchange (fixture->context, fixture->a, fixture->addr_b, frame, TRUE, 200 * 1000, &result);
  g_assert_error (result.error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT);
  g_assert_cmpint (result.time - start, >=, 190 * 1000);
  g_assert_cmpint (result.time - start, <, 3 * G_USEC_PER_SEC);
  /* A late answer is harmless. */
  gossip_transport_reply_send (g_ptr_array_index (fixture->recv_b->kept, 0), late);
  drain (fixture->context);

  /* The server's deadline: 504, reported as a timeout. */
  gossip_http_transport_set_reply_timeout (GOSSIP_HTTP_TRANSPORT (fixture->b), 300 * 1000);
  start = g_get_monotonic_time ();
  exchange (fixture->context, fixture->a, fixture->addr_b, frame, TRUE, 10 * G_USEC_PER_SEC, &result);
  g_assert_error (result.error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT);
  g_assert_nonnull (strstr (result.error->message, "504"));
  g_assert_cmpint (result.time - start, <, 5 * G_USEC_PER_SEC);
  g_assert_cmpuint (fixture->recv_b->kept->len, ==, 2);
  gossip_transport_reply_send (g_ptr_array_index (fixture->recv_b->kept, 1), late);
  drain (fixture->context);

  /* Still works afterwards. */
  fixture->recv_b->mode = REPLY_ECHO;
  exchange (fixture->context, fixture->a, fixture->addr_b, frame, TRUE, 5 * G_USEC_PER_SEC, &result);
  g_assert_no_error (result.error);
  assert_bytes_eq (result.reply, "echo:slow");
  stream_result_clear (&result);
}

static gboolean
two_datagrams_dropped (gpointer data)
{
  return gossip_http_transport_get_datagrams_dropped (GOSSIP_HTTP_TRANSPORT (data)) >= 2;
}

static void
test_refused (HttpFixture   *fixture,
              gconstpointer  data)
{
  g_autoptr(GossipTransport) gone = start_http_transport ("127.0.0.1:0", FALSE, NULL);
  g_autofree char *addr = gossip_transport_get_local_address (gone);
  g_autoptr(GBytes) frame = bytes_of ("hello?");
  StreamResult result = { 0 };

  gossip_transport_stop (gone);
  exchange (fixture->context, fixture->a, addr, frame, TRUE, 5 * G_USEC_PER_SEC, &result);
  g_assert_error (result.error, G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED);

  /* Datagrams fail silently, but are counted. */
  gossip_transport_send_datagram (fixture->a, addr, frame);
  gossip_transport_send_datagram (fixture->a, "not an address", frame);
  g_assert_true (wait_until (fixture->context, two_datagrams_dropped, fixture->a, 10 * G_USEC_PER_SEC));
  g_assert_cmpuint (gossip_http_transport_get_datagrams_dropped (GOSSIP_HTTP_TRANSPORT (fixture->a)), ==, 2);

  /* Not started. */
  exchange (fixture->context, gone, fixture->addr_b, frame, TRUE, 5 * G_USEC_PER_SEC, &result);
  g_assert_error (result.error, G_IO_ERROR, G_IO_ERROR_NOT_CONNECTED);
  stream_result_clear (&result);
}

static void
test_stop_cancels (HttpFixture   *fixture,
                   gconstpointer  data)
{
  g_autoptr(GBytes) frame = bytes_of ("pending");
  g_autoptr(GBytes) answer = bytes_of ("nobody listens");
  StreamResult result = { 0 };
  g_autoptr(GError) error = NULL;

  fixture->recv_b->mode = REPLY_KEEP;
  gossip_transport_send_stream (fixture->a, fixture->addr_b, frame, TRUE, 10 * G_USEC_PER_SEC,
                                stream_done_cb, &result);
  g_assert_true (wait_received (fixture->context, fixture->recv_b, 1));

  /* Completed synchronously by stop(). */
  gossip_transport_stop (fixture->a);
  g_assert_true (result.done);
  g_assert_error (result.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  drain (fixture->context);

  /* The responder stopping with a request held; answering afterwards is
   * harmless. */
  stream_result_clear (&result);
  g_assert_true (gossip_transport_start (fixture->a, &error));
  g_assert_no_error (error);
  g_free (fixture->addr_a);
  fixture->addr_a = gossip_transport_get_local_address (fixture->a);
  gossip_transport_send_stream (fixture->a, fixture->addr_b, frame, TRUE, 10 * G_USEC_PER_SEC,
                                stream_done_cb, &result);
  g_assert_true (wait_received (fixture->context, fixture->recv_b, 2));
  gossip_transport_stop (fixture->b);
  gossip_transport_reply_send (g_ptr_array_index (fixture->recv_b->kept, 1), answer);
  g_assert_true (wait_until (fixture->context, stream_is_done, &result, 10 * G_USEC_PER_SEC));
  g_assert_nonnull (result.error);
  g_assert_null (result.reply);
  stream_result_clear (&result);
}

static void
test_busy (HttpFixture   *fixture,
           gconstpointer  data)
{
  g_autoptr(SoupSession) session = soup_session_new_with_options ("max-conns", 300,
                                                                  "max-conns-per-host", 300, NULL);
  g_autoptr(GBytes) frame = bytes_of ("hold me");
  RawResult held[256];
  const guint n = G_N_ELEMENTS (held);
  StreamResult result = { 0 };

  /* 256 requests wait for their replies (from one host: the per-host
   * connection bound is lifted for this)... */
  {
    GossipTransportLimits limits = { 1024, 1024, 64, 10 * G_USEC_PER_SEC };

    _gossip_transport_set_limits (fixture->b, &limits);
  }
  memset (held, 0, sizeof held);
  soup_session_set_proxy_resolver (session, NULL);
  fixture->recv_b->mode = REPLY_KEEP;
  for (guint i = 0; i < n; i++)
    {
      g_autoptr(SoupMessage) msg = soup_message_new ("POST", fixture->addr_b);

      soup_message_set_request_body_from_bytes (msg, "application/octet-stream", frame);
      soup_message_headers_replace (soup_message_get_request_headers (msg), "X-Gossip-Reply", "1");
      soup_session_send_and_read_async (session, msg, G_PRIORITY_DEFAULT, NULL, raw_done_cb, &held[i]);
    }
  if (!wait_received (fixture->context, fixture->recv_b, n))
    g_error ("only %u of %u requests arrived", fixture->recv_b->received->len, n);

  /* ...so the next one is refused at once, and counted. */
  exchange (fixture->context, fixture->a, fixture->addr_b, frame, TRUE, 5 * G_USEC_PER_SEC, &result);
  g_assert_error (result.error, G_IO_ERROR, G_IO_ERROR_BUSY);
  g_assert_cmpuint (gossip_http_transport_get_requests_rejected (GOSSIP_HTTP_TRANSPORT (fixture->b)), ==, 1);
  g_assert_cmpuint (fixture->recv_b->received->len, ==, n);

  /* Answering them frees the slots. */
  g_ptr_array_set_size (fixture->recv_b->kept, 0);
  for (guint i = 0; i < n; i++)
    {
      g_assert_true (wait_until (fixture->context, raw_is_done, &held[i], 10 * G_USEC_PER_SEC));
      g_assert_no_error (held[i].error);
      g_assert_cmpuint (held[i].status, ==, SOUP_STATUS_NO_CONTENT);
      g_clear_pointer (&held[i].body, g_bytes_unref);
    }
  fixture->recv_b->mode = REPLY_ECHO;
  exchange (fixture->context, fixture->a, fixture->addr_b, frame, TRUE, 5 * G_USEC_PER_SEC, &result);
  g_assert_no_error (result.error);
  stream_result_clear (&result);
}

/* ---------------------------------------------------------------------------
 * HTTPS peer: a throw-away SoupServer with a self-signed certificate
 * ------------------------------------------------------------------------- */

static void
tls_server_cb (SoupServer        *server,
               SoupServerMessage *msg,
               const char        *path,
               GHashTable        *query,
               gpointer           data)
{
  soup_server_message_set_response (msg, "application/octet-stream", SOUP_MEMORY_STATIC, "tls-ok", 6);
  soup_server_message_set_status (msg, SOUP_STATUS_OK, NULL);
}

/* Makes a key and a self-signed certificate for 127.0.0.1 in @dir with the
 * openssl command. Returns NULL (and skips the test) when impossible. */
static GTlsCertificate *
make_certificate (const char *dir)
{
  g_autofree char *openssl = g_find_program_in_path ("openssl");
  g_autofree char *cert = g_build_filename (dir, "cert.pem", NULL);
  g_autofree char *key = g_build_filename (dir, "key.pem", NULL);
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  g_autoptr(GError) error = NULL;
  GTlsCertificate *certificate;
  gint status = 0;
  const char *argv[] = {
    NULL, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
    "-keyout", key, "-out", cert, NULL
  };

  if (openssl == NULL)
    {
      g_test_skip ("the openssl command is not installed");
      return NULL;
    }
  argv[0] = openssl;
  if (!g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, &out, &err, &status, &error) ||
      !g_spawn_check_wait_status (status, &error))
    {
      g_test_message ("openssl failed: %s\n%s", error->message, err);
      g_test_skip ("cannot make a certificate with openssl");
      return NULL;
    }

  certificate = g_tls_certificate_new_from_files (cert, key, &error);
  g_assert_no_error (error);
  return certificate;
}

static void
remove_dir (const char *path)
{
  g_autoptr(GDir) dir = g_dir_open (path, 0, NULL);
  const char *name;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *file = g_build_filename (path, name, NULL);
      g_remove (file);
    }
  g_rmdir (path);
}

static void
test_https_peer (void)
{
  g_autoptr(GMainContext) context = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *dir = NULL;
  g_autoptr(GTlsCertificate) certificate = NULL;
  g_autoptr(SoupServer) server = NULL;
  g_autoptr(GInetAddress) loopback = NULL;
  g_autoptr(GSocketAddress) any_port = NULL;
  GSList *uris;
  g_autofree char *url = NULL;
  g_autoptr(GBytes) frame = bytes_of ("over tls");
  GossipTransport *trusting, *verifying;
  StreamResult result = { 0 };

  if (!g_tls_backend_supports_tls (g_tls_backend_get_default ()))
    {
      g_test_skip ("no TLS backend (glib-networking is not installed)");
      return;
    }

  dir = g_dir_make_tmp ("gossip-https-XXXXXX", &error);
  g_assert_no_error (error);
  certificate = make_certificate (dir);
  if (certificate == NULL)
    {
      remove_dir (dir);
      return;
    }

  context = g_main_context_new ();
  g_main_context_push_thread_default (context);

  server = soup_server_new ("tls-certificate", certificate, NULL);
  soup_server_add_handler (server, NULL, tls_server_cb, NULL, NULL);
  loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  any_port = g_inet_socket_address_new (loopback, 0);
  g_assert_true (soup_server_listen (server, any_port, SOUP_SERVER_LISTEN_HTTPS, &error));
  g_assert_no_error (error);
  uris = soup_server_get_uris (server);
  g_assert_nonnull (uris);
  url = g_uri_to_string (uris->data);
  g_slist_free_full (uris, (GDestroyNotify) g_uri_unref);
  g_assert_true (g_str_has_prefix (url, "https://127.0.0.1:"));

  trusting = start_http_transport ("127.0.0.1:0", TRUE, NULL);
  verifying = start_http_transport ("127.0.0.1:0", FALSE, NULL);

  /* insecure_skip_verify accepts the self-signed certificate. */
  exchange (context, trusting, url, frame, TRUE, 20 * G_USEC_PER_SEC, &result);
  g_assert_no_error (result.error);
  assert_bytes_eq (result.reply, "tls-ok");

  /* Without it, verification fails and nothing is exchanged. */
  exchange (context, verifying, url, frame, TRUE, 20 * G_USEC_PER_SEC, &result);
  g_assert_nonnull (result.error);
  g_test_message ("verification failure: %s", result.error->message);
  g_assert_true (result.error->domain == G_TLS_ERROR);
  g_assert_null (result.reply);
  stream_result_clear (&result);

  gossip_transport_stop (trusting);
  gossip_transport_stop (verifying);
  g_object_unref (trusting);
  g_object_unref (verifying);
  soup_server_disconnect (server);
  g_clear_object (&server);
  drain (context);
  g_main_context_pop_thread_default (context);
  remove_dir (dir);
}

/* ---------------------------------------------------------------------------
 * Clusters over HTTP (shared engine thread, polled from the test thread)
 * ------------------------------------------------------------------------- */

#define WAIT_TIMEOUT_S 20


static GossipConfig *
http_config (void)
{
  g_autoptr(GError) error = NULL;
  GossipConfig *c = gossip_config_new ();

  g_assert_true (gossip_config_set_string (c, "transport", "http", &error));
  g_assert_true (gossip_config_set_string (c, "bind_addr", "127.0.0.1:0", &error));
  g_assert_true (gossip_config_set_string (c, "health_check_interval", "200ms", &error));
  g_assert_true (gossip_config_set_string (c, "suspect_timeout", "150ms", &error));
  g_assert_true (gossip_config_set_string (c, "suspect_retry_interval", "100ms", &error));
  g_assert_true (gossip_config_set_string (c, "dead_node_timeout", "1s", &error));
  g_assert_true (gossip_config_set_string (c, "metadata_gossip_interval", "100ms", &error));
  g_assert_true (gossip_config_set_string (c, "state_gossip_interval", "2s", &error));
  g_assert_no_error (error);
  return c;
}

static GossipCluster *
start_node (GossipConfig *config)
{
  g_autoptr(GError) error = NULL;
  GossipCluster *c = gossip_cluster_new (config, &error);

  g_assert_no_error (error);
  g_assert_true (gossip_cluster_start (c, &error));
  g_assert_no_error (error);
  return c;
}

static gint
join_one (GossipCluster *node,
          const char    *peer)
{
  g_autoptr(GError) error = NULL;
  const char *peers[] = { peer, NULL };
  gint joined = gossip_cluster_join (node, peers, &error);

  g_assert_no_error (error);
  return joined;
}

typedef struct {
  GossipCluster **nodes;
  guint           n;
  guint           expect;
} Group;

static gboolean
all_see_alive (gpointer data)
{
  Group *g = data;
  for (guint i = 0; i < g->n; i++)
    if (g->nodes[i] != NULL && gossip_cluster_count (g->nodes[i], GOSSIP_NODE_ALIVE) != g->expect)
      return FALSE;
  return TRUE;
}

static GossipCluster **
make_cluster (guint n, GossipConfig *config)
{
  GossipCluster **nodes = g_new0 (GossipCluster *, n + 1);
  g_autofree char *seed = NULL;

  for (guint i = 0; i < n; i++)
    {
      nodes[i] = start_node (config);
      if (i == 0)
        seed = gossip_cluster_get_advertise_address (nodes[0]);
      else
        g_assert_cmpint (join_one (nodes[i], seed), ==, 1);
    }
  return nodes;
}

static void
free_cluster (GossipCluster **nodes, guint n)
{
  for (guint i = 0; i < n; i++)
    if (nodes[i])
      {
        gossip_cluster_stop (nodes[i]);
        g_object_unref (nodes[i]);
      }
  g_free (nodes);
}

static void
test_cluster_convergence (void)
{
  g_autoptr(GossipConfig) config = http_config ();
  GossipCluster **nodes = make_cluster (3, config);
  Group g = { nodes, 3, 3 };

  for (guint i = 0; i < 3; i++)
    {
      g_autofree char *advertise = gossip_cluster_get_advertise_address (nodes[i]);

      /* Peers POST to the advertised address: it is a URL. */
      g_assert_true (g_str_has_prefix (advertise, "http://127.0.0.1:"));
      g_assert_true (g_str_has_suffix (advertise, "/"));
      g_assert_cmpuint (port_of (advertise), !=, 0);
    }
  g_assert_true (wait_for (all_see_alive, &g, WAIT_TIMEOUT_S));
  for (guint i = 0; i < 3; i++)
    {
      g_assert_cmpuint (gossip_cluster_count_all (nodes[i]), ==, 3);
      g_assert_cmpuint (gossip_cluster_count (nodes[i], GOSSIP_NODE_DEAD), ==, 0);
    }
  free_cluster (nodes, 3);
}

static void
test_cluster_join_forms (void)
{
  g_autoptr(GossipConfig) config = http_config ();
  GossipCluster *seed = start_node (config);
  GossipCluster *b = start_node (config);
  GossipCluster *c = start_node (config);
  g_autofree char *seed_url = gossip_cluster_get_advertise_address (seed);
  g_autofree char *host_port = g_strdup_printf ("127.0.0.1:%u", port_of (seed_url));
  g_autofree char *with_path = g_strconcat (seed_url, "gossip", NULL);
  GossipCluster *nodes[] = { seed, b, c };
  Group g = { nodes, 3, 3 };

  /* "host:port" and a URL with a path reach the same node. */
  g_assert_cmpint (join_one (b, host_port), ==, 1);
  g_assert_cmpint (join_one (c, with_path), ==, 1);
  g_assert_true (wait_for (all_see_alive, &g, WAIT_TIMEOUT_S));
  for (guint i = 0; i < 3; i++)
    {
      gossip_cluster_stop (nodes[i]);
      g_object_unref (nodes[i]);
    }
}

typedef struct {
  gint      count;
  GVariant *last;
} Delivered;

static void
on_message (GossipCluster *cluster, GossipMessage *message, gpointer user_data)
{
  Delivered *d = user_data;

  if (g_atomic_int_add (&d->count, 1) == 0)
    d->last = g_variant_ref (gossip_message_get_payload (message));
}

typedef struct {
  Delivered *recv;
  guint      n;
  gint       expect;
} DeliveredWait;

static gboolean
all_delivered (gpointer data)
{
  DeliveredWait *w = data;
  for (guint i = 0; i < w->n; i++)
    if (g_atomic_int_get (&w->recv[i].count) < w->expect)
      return FALSE;
  return TRUE;
}

static void
test_cluster_broadcast (gconstpointer data)
{
  gboolean reliable = GPOINTER_TO_INT (data);
  const guint n = 4;
  g_autoptr(GossipConfig) config = http_config ();
  GossipCluster **nodes = make_cluster (n, config);
  Group g = { nodes, n, n };
  Delivered recv[4] = { 0 };
  g_autoptr(GError) error = NULL;
  DeliveredWait w = { recv + 1, n - 1, 1 };

  g_assert_true (wait_for (all_see_alive, &g, WAIT_TIMEOUT_S));
  for (guint i = 0; i < n; i++)
    g_assert_true (gossip_cluster_handle (nodes[i], 200, FALSE, gossip_cluster_get_context (nodes[i]),
                                          on_message, &recv[i], NULL, &error));
  g_assert_true (gossip_cluster_send (nodes[0], 200, g_variant_new_string ("over http"),
                                      reliable ? GOSSIP_SEND_RELIABLE : GOSSIP_SEND_NONE, &error));
  g_assert_no_error (error);
  g_assert_true (wait_for (all_delivered, &w, WAIT_TIMEOUT_S));
  /* Give duplicates a chance to show up, then check exactly-once. */
  g_usleep (300000);
  g_assert_cmpint (g_atomic_int_get (&recv[0].count), ==, 0);
  for (guint i = 1; i < n; i++)
    {
      g_assert_cmpint (g_atomic_int_get (&recv[i].count), ==, 1);
      g_assert_cmpstr (g_variant_get_string (recv[i].last, NULL), ==, "over http");
    }
  free_cluster (nodes, n);
  for (guint i = 0; i < n; i++)
    g_clear_pointer (&recv[i].last, g_variant_unref);
}

static void
on_request (GossipCluster *cluster, GossipMessage *message, gpointer user_data)
{
  g_autoptr(GVariantBuilder) b = g_variant_builder_new (G_VARIANT_TYPE ("a{sv}"));

  g_variant_builder_add (b, "{sv}", "echo", gossip_message_get_payload (message));
  gossip_message_reply (message, g_variant_builder_end (b), NULL);
}

static void
test_cluster_request_reply (void)
{
  g_autoptr(GossipConfig) config = http_config ();
  GossipCluster **nodes = make_cluster (2, config);
  Group g = { nodes, 2, 2 };
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GVariant) echo = NULL;

  g_assert_true (wait_for (all_see_alive, &g, WAIT_TIMEOUT_S));
  g_assert_true (gossip_cluster_handle (nodes[1], 300, TRUE, gossip_cluster_get_context (nodes[1]),
                                        on_request, NULL, NULL, &error));
  for (gint64 i = 0; i < 10; i++)
    {
      g_clear_pointer (&reply, g_variant_unref);
      g_clear_pointer (&echo, g_variant_unref);
      reply = gossip_cluster_send_request (nodes[0], gossip_cluster_get_node_id (nodes[1]), 300,
                                           g_variant_new_int64 (42 + i), 0, NULL, &error);
      g_assert_no_error (error);
      g_assert_nonnull (reply);
      echo = g_variant_lookup_value (reply, "echo", NULL);
      g_assert_nonnull (echo);
      g_assert_cmpint (g_variant_get_int64 (echo), ==, 42 + i);
    }

  /* No handler: a clear, prompt error. */
  g_clear_pointer (&reply, g_variant_unref);
  reply = gossip_cluster_send_request (nodes[0], gossip_cluster_get_node_id (nodes[1]), 301,
                                       g_variant_new_int64 (1), 0, NULL, &error);
  g_assert_error (error, GOSSIP_CLUSTER_ERROR, GOSSIP_CLUSTER_ERROR_NO_REPLY);
  g_assert_null (reply);
  free_cluster (nodes, 2);
}

typedef struct {
  GossipCluster **nodes;
  guint           n;
  const char     *id;
  GossipNodeState state;
} StateWait;

static gboolean
all_see_state (gpointer data)
{
  StateWait *w = data;
  for (guint i = 0; i < w->n; i++)
    {
      g_autoptr(GossipNode) node = NULL;
      if (w->nodes[i] == NULL)
        continue;
      node = gossip_cluster_get_node (w->nodes[i], w->id);
      if (node == NULL || gossip_node_get_state (node) != w->state)
        return FALSE;
    }
  return TRUE;
}

static void
test_cluster_failure_detection (void)
{
  g_autoptr(GossipConfig) config = http_config ();
  GossipCluster **nodes = make_cluster (4, config);
  Group g = { nodes, 4, 4 };
  g_autofree char *victim = NULL;
  StateWait w;

  g_assert_true (wait_for (all_see_alive, &g, WAIT_TIMEOUT_S));
  victim = g_strdup (gossip_cluster_get_node_id (nodes[3]));
  gossip_cluster_hard_stop (nodes[3]);
  g_clear_object (&nodes[3]);

  w = (StateWait) { nodes, 3, victim, GOSSIP_NODE_DEAD };
  g_assert_true (wait_for (all_see_state, &w, WAIT_TIMEOUT_S));
  /* The survivors all see each other alive: at once on an idle machine; a
   * slow one (valgrind) may suspect a live member with these 150 ms probe
   * deadlines for a moment, until it refutes. */
  g = (Group) { nodes, 3, 3 };
  g_assert_true (wait_for (all_see_alive, &g, WAIT_TIMEOUT_S));
  free_cluster (nodes, 3);
}

static void
test_cluster_bearer_token (void)
{
  g_autoptr(GossipConfig) config = http_config ();
  g_autoptr(GossipConfig) wrong = http_config ();
  g_autoptr(GossipConfig) none = http_config ();
  g_autoptr(GError) error = NULL;
  GossipCluster *seed, *good, *bad, *anonymous;
  g_autofree char *seed_url = NULL;
  GossipClusterStats stats;
  GossipCluster *nodes[2];
  Group g = { nodes, 2, 2 };

  g_assert_true (gossip_config_set_string (config, "bearer_token", "let-me-in", &error));
  g_assert_true (gossip_config_set_string (wrong, "bearer_token", "guessing", &error));
  g_assert_no_error (error);

  seed = start_node (config);
  seed_url = gossip_cluster_get_advertise_address (seed);
  bad = start_node (wrong);
  anonymous = start_node (none);
  g_assert_cmpint (join_one (bad, seed_url), ==, 0);
  g_assert_cmpint (join_one (anonymous, seed_url), ==, 0);
  gossip_cluster_get_stats (seed, &stats);
  g_assert_cmpuint (stats.auth_rejected, >=, 2);
  g_assert_cmpuint (gossip_cluster_count_all (seed), ==, 1);

  good = start_node (config);
  g_assert_cmpint (join_one (good, seed_url), ==, 1);
  nodes[0] = seed;
  nodes[1] = good;
  g_assert_true (wait_for (all_see_alive, &g, WAIT_TIMEOUT_S));
  /* The rejected nodes never got in. */
  g_assert_cmpuint (gossip_cluster_count_all (seed), ==, 2);
  g_assert_cmpuint (gossip_cluster_count_all (bad), ==, 1);

  for (guint i = 0; i < 2; i++)
    {
      gossip_cluster_stop (nodes[i]);
      g_object_unref (nodes[i]);
    }
  gossip_cluster_stop (bad);
  g_object_unref (bad);
  gossip_cluster_stop (anonymous);
  g_object_unref (anonymous);
}

static void
test_cluster_encrypted (void)
{
  g_autoptr(GossipConfig) config = http_config ();
  g_autoptr(GError) error = NULL;
  GossipCluster **nodes;
  Group g;
  Delivered recv[3] = { 0 };
  DeliveredWait w = { recv + 1, 2, 1 };

  g_assert_true (gossip_config_set_string (config, "encryption_key", "0123456789abcdef", &error));
  g_assert_true (gossip_config_set_boolean (config, "compression", TRUE, &error));
  g_assert_no_error (error);
  nodes = make_cluster (3, config);
  g = (Group) { nodes, 3, 3 };
  g_assert_true (wait_for (all_see_alive, &g, WAIT_TIMEOUT_S));
  for (guint i = 0; i < 3; i++)
    g_assert_true (gossip_cluster_handle (nodes[i], 201, FALSE, gossip_cluster_get_context (nodes[i]),
                                          on_message, &recv[i], NULL, &error));
  g_assert_true (gossip_cluster_send (nodes[0], 201, g_variant_new_string ("sealed"),
                                      GOSSIP_SEND_RELIABLE, &error));
  g_assert_no_error (error);
  g_assert_true (wait_for (all_delivered, &w, WAIT_TIMEOUT_S));
  free_cluster (nodes, 3);
  for (guint i = 0; i < 3; i++)
    g_clear_pointer (&recv[i].last, g_variant_unref);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

#define ADD(path, func) \
  g_test_add ("/http/transport/" path, HttpFixture, NULL, http_setup, func, http_teardown)
  ADD ("local-address", test_local_address);
  ADD ("one-way", test_one_way);
  ADD ("request", test_request);
  ADD ("keep-alive", test_keep_alive);
  ADD ("no-reply", test_no_reply);
  ADD ("bearer-token", test_bearer_token);
  ADD ("oversized", test_oversized);
  ADD ("timeout", test_timeout);
  ADD ("refused", test_refused);
  ADD ("stop-cancels", test_stop_cancels);
  ADD ("busy", test_busy);
#undef ADD
  g_test_add_func ("/http/transport/https-peer", test_https_peer);

  g_test_add_func ("/http/cluster/convergence", test_cluster_convergence);
  g_test_add_func ("/http/cluster/join-forms", test_cluster_join_forms);
  g_test_add_data_func ("/http/cluster/broadcast/unreliable", GINT_TO_POINTER (FALSE), test_cluster_broadcast);
  g_test_add_data_func ("/http/cluster/broadcast/reliable", GINT_TO_POINTER (TRUE), test_cluster_broadcast);
  g_test_add_func ("/http/cluster/request-reply", test_cluster_request_reply);
  g_test_add_func ("/http/cluster/failure-detection", test_cluster_failure_detection);
  g_test_add_func ("/http/cluster/bearer-token", test_cluster_bearer_token);
  g_test_add_func ("/http/cluster/encrypted", test_cluster_encrypted);

  return g_test_run ();
}
