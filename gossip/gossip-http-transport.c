/* gossip-http-transport.c — frames as HTTP POSTs (libsoup 3).
 *
 * SPDX-License-Identifier: MIT
 */
#include "config.h"

#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <glib/gi18n-lib.h>
#include <libsoup/soup.h>

#include "gossip-http-transport.h"
#include "gossip-crypto-private.h"
#include "gossip-address-private.h"
#include "gossip-frame-private.h"
#include "gossip-transport-private.h"

/**
 * GossipHttpTransport:
 *
 * The #GossipTransport of frames carried in HTTP POST requests, created
 * with gossip_http_transport_new().
 */

/**
 * SECTION:gossip-http-transport
 * @title: GossipHttpTransport
 * @short_description: frames as HTTP/1.1 POSTs
 *
 * Every node serves HTTP/1.1 on its bind address and accepts `POST` on any
 * path. The request body is one frame (`Content-Type:
 * application/octet-stream`, 1 byte to 8 MiB, always with a
 * `Content-Length`). Request headers:
 *
 * - `Authorization: Bearer <token>` when a bearer token is configured
 *   (gossip_http_transport_set_bearer_token());
 * - `X-Gossip-Reply: 1` when the sender waits for a reply frame;
 * - `X-Gossip-Datagram: 1` for best-effort frames (delivered with
 *   @reliable %FALSE), absent for streams;
 * - `X-Gossip-Timeout-Ms: <n>` with a request: how long the sender waits,
 *   so that the server does not hold the exchange longer.
 *
 * Responses:
 *
 * |[
 * 401  missing or wrong bearer token (checked first; the body is discarded
 *      without being looked at; counted by gossip_http_transport_get_auth_rejected())
 * 405  a method other than POST
 * 411  no Content-Length (chunked bodies are not accepted)
 * 413  body larger than 8 MiB (rejected from the headers, never truncated)
 * 400  empty body
 * 204  one-way frame handed to the engine; or a request the handler
 *      declined or dropped ("no reply")
 * 200  reply frame in the body
 * 504  the handler did not answer before the server-side deadline
 * 503  too many requests already wait for their replies
 * ]|
 *
 * Rejections other than 401 are counted by
 * gossip_http_transport_get_requests_rejected(). The client reports 401 as
 * %G_IO_ERROR_PERMISSION_DENIED, 413 as %G_IO_ERROR_MESSAGE_TOO_LARGE, 504
 * as %G_IO_ERROR_TIMED_OUT, 503 as %G_IO_ERROR_BUSY, a 204 to a request as
 * %G_IO_ERROR_CONNECTION_CLOSED ("no reply") and other statuses as
 * %G_IO_ERROR_FAILED.
 *
 * The client keeps connections alive between exchanges (frames are marked
 * idempotent so that libsoup reuses idle connections for POSTs), bounds
 * every exchange by its own deadline, reads at most 8 MiB of reply, and
 * talks to `https://` peers through glib-networking, verifying certificates
 * unless insecure_skip_verify was given. Proxies are never used: peers are
 * cluster members, not web sites. Serving HTTPS is not supported (no
 * certificate can be configured).
 *
 * Everything runs on the #GMainContext that is thread-default when
 * gossip_transport_start() is called: the #SoupServer listens and the
 * #SoupSession is created there. The transport starts no threads.
 */

#define HEADER_AUTHORIZATION "Authorization"
#define HEADER_REPLY         "X-Gossip-Reply"
#define HEADER_DATAGRAM      "X-Gossip-Datagram"
#define HEADER_TIMEOUT       "X-Gossip-Timeout-Ms"
#define FRAME_CONTENT_TYPE   "application/octet-stream"

/* How long a handler may take to answer before the server gives up with
 * 504; the requester's own deadline (X-Gossip-Timeout-Ms) shortens it. */
#define DEFAULT_REPLY_TIMEOUT_US   (30 * G_USEC_PER_SEC)
/* For send_stream() without a positive timeout. */
#define DEFAULT_STREAM_TIMEOUT_US  (10 * G_USEC_PER_SEC)
/* Datagrams are best effort: give up early rather than pile up. */
#define DATAGRAM_TIMEOUT_US        (2 * G_USEC_PER_SEC)
/* Bodies of rejected requests up to this size are read and discarded so the
 * client sees the status; larger ones get the connection shut down. */
#define MAX_DISCARD_SIZE           (4 * GOSSIP_MAX_FRAME_SIZE)
#define READ_CHUNK                 (64 * 1024)
/* Held requests (replies pending) each occupy a connection, so the libsoup
 * defaults (2 per host) would stall probes behind slow handlers. */
/* Requests held for a reply beyond this are refused with 503, so that a
 * flood cannot pile up paused messages (and their connections). */
#define MAX_HELD_REQUESTS          256
#define LISTEN_BACKLOG             128
#define MAX_CONNS                  256
#define MAX_CONNS_PER_HOST         32

typedef struct _OutExchange OutExchange;
typedef struct _InRequest   InRequest;
typedef struct _HttpConn    HttpConn;

struct _GossipHttpTransport
{
  GObject        parent_instance;

  /* Configuration. */
  char          *bind_host;          /* NULL: every IPv4 address */
  guint16        bind_port;
  char          *bind_path;          /* "/" unless the bind address was a URL */
  gboolean       prefer_ipv6;
  gboolean       insecure_skip_verify;
  char          *bearer_token;       /* NULL: no authentication */
  gint64         reply_timeout_us;

  GResolver     *resolver;

  /* Running state, touched only on the context's thread. */
  gboolean       started;
  GMainContext  *context;
  SoupServer    *server;
  SoupSession   *session;
  char          *local_address;
  GQueue         outgoing;           /* OutExchange*, one ref each */
  GQueue         incoming;           /* InRequest*, one ref each */
  GQueue         conns;              /* HttpConn*, open server connections */
  GossipTransportLimits limits;

  /* Counters, atomic: read from any thread. */
  gsize          auth_rejected;
  gsize          requests_rejected;
  gsize          datagrams_dropped;
  gsize          streams_refused;
};

static void gossip_http_transport_iface_init (GossipTransportInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (GossipHttpTransport, gossip_http_transport, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (GOSSIP_TYPE_TRANSPORT,
                                                      gossip_http_transport_iface_init))

/* ---------------------------------------------------------------------------
 * Small helpers
 * ------------------------------------------------------------------------- */

static void
counter_inc (gsize *counter)
{
  g_atomic_pointer_add (counter, 1);
}

static guint64
counter_get (gsize *counter)
{
  return (guint64) (gsize) g_atomic_pointer_get (counter);
}

/* IPv4-mapped IPv6 addresses are shown as the IPv4 address they carry. */
static char *
format_inet_address (GInetAddress *address)
{
  if (g_inet_address_get_family (address) == G_SOCKET_FAMILY_IPV6)
    {
      const guint8 *b = g_inet_address_to_bytes (address);
      static const guint8 mapped_prefix[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

      if (memcmp (b, mapped_prefix, sizeof mapped_prefix) == 0)
        return g_strdup_printf ("%u.%u.%u.%u", b[12], b[13], b[14], b[15]);
    }

  return g_inet_address_to_string (address);
}

/* "host:port" or "[v6]:port". */
static char *
format_socket_address (GSocketAddress *address)
{
  GInetSocketAddress *inet;
  g_autofree char *host = NULL;

  if (address == NULL || !G_IS_INET_SOCKET_ADDRESS (address))
    return g_strdup ("unknown");

  inet = G_INET_SOCKET_ADDRESS (address);
  host = format_inet_address (g_inet_socket_address_get_address (inet));
  return gossip_address_format (host, g_inet_socket_address_get_port (inet));
}

/* Address parse errors come in the config domain; transports report
 * G_IO_ERROR_INVALID_ARGUMENT. */
static void
set_invalid_argument (GError **error,
                      GError  *parse_error)
{
  g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, parse_error->message);
}

static gboolean
header_is_set (SoupMessageHeaders *headers,
               const char         *name)
{
  return g_strcmp0 (soup_message_headers_get_one (headers, name), "1") == 0;
}

/* ---------------------------------------------------------------------------
 * Incoming requests
 * ------------------------------------------------------------------------- */

/* A request waiting for its reply. Shared with the reply handle, which may
 * live on other threads: the atomic reference count makes that safe, and
 * every other field is touched only on the transport's thread. */
struct _InRequest
{
  gatomicrefcount      ref_count;
  GossipHttpTransport *self;              /* NULL once finished */
  GMainContext        *context;
  GList               *link;              /* in self->incoming */
  SoupServerMessage   *msg;               /* paused; NULL once finished */
  gulong               finished_id;
  GSource             *deadline_source;
};

static InRequest *
in_request_ref (InRequest *req)
{
  g_atomic_ref_count_inc (&req->ref_count);
  return req;
}

static void
in_request_unref (InRequest *req)
{
  if (!g_atomic_ref_count_dec (&req->ref_count))
    return;

  /* The transport holds a reference until the request is finished. */
  g_assert (req->msg == NULL);
  g_main_context_unref (req->context);
  g_free (req);
}

/* Ends the exchange. With @status 0 the message is left alone (its
 * connection is gone or the server is shutting down); otherwise the response
 * is set and the message resumed. */
static void
in_request_finish (InRequest *req,
                   guint      status,
                   GBytes    *body)
{
  g_autoptr(SoupServerMessage) msg = NULL;
  GossipHttpTransport *self = req->self;

  if (req->msg == NULL)
    return;

  msg = g_steal_pointer (&req->msg);
  _gossip_transport_source_clear (&req->deadline_source);
  g_clear_signal_handler (&req->finished_id, msg);
  g_queue_delete_link (&self->incoming, req->link);
  req->link = NULL;
  req->self = NULL;

  if (status != 0)
    {
      if (body != NULL)
        {
          soup_message_headers_set_content_type (soup_server_message_get_response_headers (msg),
                                                 FRAME_CONTENT_TYPE, NULL);
          soup_message_body_append_bytes (soup_server_message_get_response_body (msg), body);
        }
      soup_server_message_set_status (msg, status, NULL);
      soup_server_message_unpause (msg);
    }

  in_request_unref (req);
}

static void
in_request_message_finished_cb (SoupServerMessage *msg,
                                gpointer           data)
{
  InRequest *req = data;

  /* The connection went away (or the server was disconnected) while the
   * request waited: nobody is left to answer. */
  in_request_finish (req, 0, NULL);
}

static gboolean
in_request_deadline_cb (gpointer data)
{
  InRequest *req = data;

  g_clear_pointer (&req->deadline_source, g_source_unref);
  g_debug ("HTTP request: no reply before the deadline, answering 504");
  in_request_finish (req, SOUP_STATUS_GATEWAY_TIMEOUT, NULL);
  return G_SOURCE_REMOVE;
}

/* Runs on the transport's thread. */
static void
in_request_answer (gpointer  data,
                   GBytes   *frame)
{
  InRequest *req = data;

  if (frame != NULL)
    in_request_finish (req, SOUP_STATUS_OK, frame);
  else
    in_request_finish (req, SOUP_STATUS_NO_CONTENT, NULL);
}

/* The GossipTransportReplyFunc: any thread. Never touches libsoup objects
 * from another thread than the transport's. */
static void
in_request_reply_func (GBytes   *frame_or_null,
                       gpointer  data)
{
  InRequest *req = data;

  _gossip_transport_answer_in_context (req->context, "GossipHttpTransport reply", "HTTP body limit",
                                       frame_or_null, in_request_answer, in_request_ref (req),
                                       (GDestroyNotify) in_request_unref);
}

/* Takes the server's decision from the headers alone: nothing of the body
 * is looked at, and a rejected body is discarded, not accumulated. */
static void
reject_request (GossipHttpTransport *self,
                SoupServerMessage   *msg,
                guint                status,
                const char          *reason)
{
  SoupMessageHeaders *response_headers = soup_server_message_get_response_headers (msg);
  SoupMessageHeaders *request_headers = soup_server_message_get_request_headers (msg);
  SoupEncoding encoding;

  soup_message_body_set_accumulate (soup_server_message_get_request_body (msg), FALSE);
  soup_message_headers_replace (response_headers, "Connection", "close");
  soup_server_message_set_status (msg, status, reason);

  /* A body we would have to swallow for ever (or nearly) is not read: the
   * connection is shut down instead, and the peer sees it closed. */
  encoding = soup_message_headers_get_encoding (request_headers);
  if (encoding == SOUP_ENCODING_CHUNKED || encoding == SOUP_ENCODING_EOF ||
      (encoding == SOUP_ENCODING_CONTENT_LENGTH &&
       soup_message_headers_get_content_length (request_headers) > MAX_DISCARD_SIZE))
    {
      GSocket *socket = soup_server_message_get_socket (msg);

      if (socket != NULL)
        g_socket_shutdown (socket, TRUE, FALSE, NULL);
    }

  g_debug ("HTTP request rejected: %u %s", status, reason);
}

/* libsoup (3.2) decides keep-alive from the response headers alone, and a
 * 204 carries no Content-Length: it takes the response for one delimited by
 * closing the connection, and both ends close. Declaring the empty body once
 * the headers are written (server) or read (client) keeps the connection
 * without changing what goes over the wire. */
static void
server_wrote_headers_cb (SoupServerMessage *msg,
                         gpointer           data)
{
  SoupMessageHeaders *headers = soup_server_message_get_response_headers (msg);

  if (soup_server_message_get_status (msg) == SOUP_STATUS_NO_CONTENT &&
      soup_message_headers_get_encoding (headers) == SOUP_ENCODING_EOF)
    soup_message_headers_set_content_length (headers, 0);
}

static void
client_got_headers_cb (SoupMessage *msg,
                       gpointer     data)
{
  SoupMessageHeaders *headers = soup_message_get_response_headers (msg);

  if (soup_message_get_status (msg) == SOUP_STATUS_NO_CONTENT &&
      soup_message_headers_get_encoding (headers) == SOUP_ENCODING_EOF)
    soup_message_headers_set_content_length (headers, 0);
}

/* Request headers and body go out in separate writes: with Nagle's
 * algorithm the body would wait for the peer's (delayed) ACK of the headers.
 * libsoup sets TCP_NODELAY on the server side only. */
static void
client_network_event_cb (SoupMessage        *msg,
                         GSocketClientEvent  event,
                         GIOStream          *connection,
                         gpointer            data)
{
  if (event == G_SOCKET_CLIENT_CONNECTED && G_IS_SOCKET_CONNECTION (connection))
    g_socket_set_option (g_socket_connection_get_socket (G_SOCKET_CONNECTION (connection)),
                         IPPROTO_TCP, TCP_NODELAY, 1, NULL);
}

/* ---------------------------------------------------------------------------
 * Incoming connections, bounded in number (in total and per host) and
 * closed when a request does not arrive within limits.read_timeout_us
 * (headers and body) or the connection idles that long between requests.
 * libsoup accepts them and announces each with request-started (also for
 * every later request on a persistent connection): one over a bound is
 * shut down there, before anything of it is read.
 * ------------------------------------------------------------------------- */

struct _HttpConn
{
  GossipHttpTransport *self;
  GSocket             *socket;           /* ref: libsoup closes it when done */
  char                *host;
  GSource             *deadline;
  guint                active;           /* requests being read or served */
  GList               *link;             /* in self->conns */
};

/* Forgets @conn (libsoup has closed its socket, or is about to). */
static void
http_conn_drop (HttpConn *conn)
{
  _gossip_transport_source_clear (&conn->deadline);
  g_queue_delete_link (&conn->self->conns, conn->link);
  g_clear_object (&conn->socket);
  g_free (conn->host);
  g_free (conn);
}

/* Forgets the connections libsoup has closed since. */
static void
http_conns_prune (GossipHttpTransport *self)
{
  GList *l = self->conns.head;

  while (l != NULL)
    {
      HttpConn *conn = l->data;

      l = l->next;
      if (g_socket_is_closed (conn->socket))
        http_conn_drop (conn);
    }
}

static gboolean
http_conn_deadline_cb (gpointer data)
{
  HttpConn *conn = data;

  g_clear_pointer (&conn->deadline, g_source_unref);
  g_debug ("closing HTTP connection from %s: %s", conn->host,
           conn->active > 0 ? "request not received in time" : "idle");
  /* libsoup sees the end of the stream and lets the connection go. */
  if (!g_socket_is_closed (conn->socket))
    g_socket_shutdown (conn->socket, TRUE, TRUE, NULL);
  http_conn_drop (conn);
  return G_SOURCE_REMOVE;
}

static void
http_conn_set_deadline (HttpConn *conn,
                        gboolean  on)
{
  _gossip_transport_source_clear (&conn->deadline);
  if (on)
    conn->deadline = _gossip_transport_deadline_source_attach (conn->self->context,
                                                               _gossip_transport_deadline_after (conn->self->limits.read_timeout_us),
                                                               "GossipHttpTransport connection deadline",
                                                               http_conn_deadline_cb, conn, NULL);
}

static HttpConn *
http_conn_for (GossipHttpTransport *self,
               SoupServerMessage   *msg)
{
  GSocket *socket = soup_server_message_get_socket (msg);

  for (GList *l = self->conns.head; l != NULL && socket != NULL; l = l->next)
    if (((HttpConn *) l->data)->socket == socket)
      return l->data;
  return NULL;
}

/* A connection libsoup just accepted: tracked, or shut down when over a
 * bound. NULL when refused. */
static HttpConn *
http_conn_admit (GossipHttpTransport *self,
                 SoupServerMessage   *msg)
{
  GSocket *socket = soup_server_message_get_socket (msg);
  GSocketAddress *remote = soup_server_message_get_remote_address (msg);
  g_autofree char *host = NULL;
  guint from_host = 0, open;
  HttpConn *conn;

  if (socket == NULL)
    return NULL;
  http_conns_prune (self);
  if (remote != NULL && G_IS_INET_SOCKET_ADDRESS (remote))
    host = g_inet_address_to_string (g_inet_socket_address_get_address (G_INET_SOCKET_ADDRESS (remote)));
  for (GList *l = self->conns.head; l != NULL && host != NULL; l = l->next)
    if (g_strcmp0 (((HttpConn *) l->data)->host, host) == 0)
      from_host++;
  open = g_queue_get_length (&self->conns);
  /* The per-host bound applies once the listener is half full: nodes
   * sharing a host (a test cluster on one machine) are not limited until
   * connections run short, and then no single host can hold the rest. */
  if (open >= self->limits.max_incoming ||
      (open >= self->limits.max_incoming / 2 && from_host >= self->limits.max_incoming_per_peer))
    {
      counter_inc (&self->streams_refused);
      g_debug ("refusing HTTP connection from %s: %u open, %u from that host",
               host != NULL ? host : "?", open, from_host);
      g_socket_shutdown (socket, TRUE, TRUE, NULL);
      return NULL;
    }

  conn = g_new0 (HttpConn, 1);
  conn->self = self;
  conn->socket = g_object_ref (socket);
  conn->host = g_steal_pointer (&host);
  g_queue_push_tail (&self->conns, conn);
  conn->link = self->conns.tail;
  return conn;
}

static void
server_request_started_cb (SoupServer        *server,
                           SoupServerMessage *msg,
                           gpointer           data)
{
  GossipHttpTransport *self = data;
  HttpConn *conn = http_conn_for (self, msg);

  if (conn == NULL)
    conn = http_conn_admit (self, msg);
  if (conn != NULL)
    {
      conn->active++;
      http_conn_set_deadline (conn, TRUE);
    }
}

static void
server_request_read_cb (SoupServer        *server,
                        SoupServerMessage *msg,
                        gpointer           data)
{
  HttpConn *conn = http_conn_for (data, msg);

  /* Read in full: serving it has deadlines of its own. */
  if (conn != NULL)
    http_conn_set_deadline (conn, FALSE);
}

static void
server_request_done_cb (SoupServer        *server,
                        SoupServerMessage *msg,
                        gpointer           data)
{
  HttpConn *conn = http_conn_for (data, msg);

  if (conn != NULL)
    {
      if (conn->active > 0)
        conn->active--;
      if (conn->active == 0)
        http_conn_set_deadline (conn, TRUE);
    }
}

void
_gossip_http_transport_set_limits (GossipHttpTransport         *self,
                                   const GossipTransportLimits *limits)
{
  self->limits = *limits;
}

void
_gossip_http_transport_get_refusals (GossipHttpTransport *self,
                                     guint64             *streams_refused,
                                     guint64             *lookups_refused)
{
  *streams_refused = counter_get (&self->streams_refused);
  *lookups_refused = 0;
}

static void
server_early_cb (SoupServer        *server,
                 SoupServerMessage *msg,
                 const char        *path,
                 GHashTable        *query,
                 gpointer           data)
{
  GossipHttpTransport *self = data;
  SoupMessageHeaders *headers = soup_server_message_get_request_headers (msg);
  goffset length;

  g_signal_connect (msg, "wrote-headers", G_CALLBACK (server_wrote_headers_cb), NULL);

  /* The token is checked before anything else, the method included. */
  if (self->bearer_token != NULL)
    {
      const char *authorization = soup_message_headers_get_one (headers, HEADER_AUTHORIZATION);
      const char *reason = NULL;

      if (authorization == NULL)
        reason = "Authorization header required";
      else if (g_ascii_strncasecmp (authorization, "Bearer ", 7) != 0)
        reason = "Invalid authorization format";
      else if (!gossip_secret_equal (authorization + 7, self->bearer_token))
        reason = "Invalid bearer token";

      if (reason != NULL)
        {
          counter_inc (&self->auth_rejected);
          soup_message_headers_replace (soup_server_message_get_response_headers (msg),
                                        "WWW-Authenticate", "Bearer");
          reject_request (self, msg, SOUP_STATUS_UNAUTHORIZED, reason);
          return;
        }
    }

  if (soup_server_message_get_method (msg) != SOUP_METHOD_POST)
    {
      counter_inc (&self->requests_rejected);
      soup_message_headers_replace (soup_server_message_get_response_headers (msg), "Allow", "POST");
      reject_request (self, msg, SOUP_STATUS_METHOD_NOT_ALLOWED, NULL);
      return;
    }

  if (soup_message_headers_get_encoding (headers) != SOUP_ENCODING_CONTENT_LENGTH)
    {
      counter_inc (&self->requests_rejected);
      reject_request (self, msg, SOUP_STATUS_LENGTH_REQUIRED, NULL);
      return;
    }

  length = soup_message_headers_get_content_length (headers);
  if (length > GOSSIP_MAX_FRAME_SIZE)
    {
      counter_inc (&self->requests_rejected);
      reject_request (self, msg, SOUP_STATUS_REQUEST_ENTITY_TOO_LARGE, NULL);
      return;
    }
  if (length <= 0)
    {
      counter_inc (&self->requests_rejected);
      reject_request (self, msg, SOUP_STATUS_BAD_REQUEST, "Empty frame");
      return;
    }
}

static void
server_request_cb (SoupServer        *server,
                   SoupServerMessage *msg,
                   const char        *path,
                   GHashTable        *query,
                   gpointer           data)
{
  GossipHttpTransport *self = data;
  /* The receive function may stop the transport, which drops the server. */
  g_autoptr(GossipHttpTransport) hold = g_object_ref (self);
  g_autoptr(SoupServer) hold_server = g_object_ref (server);
  SoupMessageHeaders *headers = soup_server_message_get_request_headers (msg);
  g_autoptr(GBytes) frame = NULL;
  g_autofree char *from = NULL;
  GossipTransportReply *reply;
  InRequest *req;
  gint64 timeout_us = self->reply_timeout_us;
  const char *hint;
  guint64 hint_ms = 0;
  gsize len;

  frame = soup_message_body_flatten (soup_server_message_get_request_body (msg));
  len = g_bytes_get_size (frame);
  /* Checked on the headers already; libsoup reads exactly Content-Length. */
  if (len == 0 || len > GOSSIP_MAX_FRAME_SIZE)
    {
      counter_inc (&self->requests_rejected);
      soup_server_message_set_status (msg, len == 0 ? SOUP_STATUS_BAD_REQUEST
                                                    : SOUP_STATUS_REQUEST_ENTITY_TOO_LARGE, NULL);
      return;
    }

  from = format_socket_address (soup_server_message_get_remote_address (msg));

  if (!header_is_set (headers, HEADER_REPLY))
    {
      soup_server_message_set_status (msg, SOUP_STATUS_NO_CONTENT, NULL);
      gossip_transport_deliver (GOSSIP_TRANSPORT (self), frame,
                                !header_is_set (headers, HEADER_DATAGRAM), from, NULL);
      return;
    }

  if (g_queue_get_length (&self->incoming) >= MAX_HELD_REQUESTS)
    {
      counter_inc (&self->requests_rejected);
      g_debug ("HTTP request from %s refused: %u requests already wait for replies",
               from, MAX_HELD_REQUESTS);
      soup_server_message_set_status (msg, SOUP_STATUS_SERVICE_UNAVAILABLE, "Server busy");
      return;
    }

  /* The requester gives up after its own timeout: hold no longer. */
  hint = soup_message_headers_get_one (headers, HEADER_TIMEOUT);
  if (hint != NULL && g_ascii_string_to_unsigned (hint, 10, 1, G_MAXINT64 / 1000, &hint_ms, NULL))
    timeout_us = MIN (timeout_us, (gint64) hint_ms * 1000);

  req = g_new0 (InRequest, 1);
  g_atomic_ref_count_init (&req->ref_count);
  req->self = self;
  req->context = g_main_context_ref (self->context);
  req->msg = g_object_ref (msg);
  g_queue_push_tail (&self->incoming, req);
  req->link = self->incoming.tail;
  req->finished_id = g_signal_connect (msg, "finished", G_CALLBACK (in_request_message_finished_cb), req);
  req->deadline_source = _gossip_transport_deadline_source_attach (self->context, _gossip_transport_deadline_after (timeout_us),
                                                 "GossipHttpTransport reply deadline",
                                                 in_request_deadline_cb, req, NULL);
  soup_server_message_pause (msg);

  reply = gossip_transport_reply_new (in_request_reply_func, in_request_ref (req),
                                      (GDestroyNotify) in_request_unref);
  gossip_transport_deliver (GOSSIP_TRANSPORT (self), frame, TRUE, from, reply);
  gossip_transport_reply_unref (reply);
}

/* ---------------------------------------------------------------------------
 * Outgoing exchanges
 * ------------------------------------------------------------------------- */

struct _OutExchange
{
  GossipOutExchange          base;        /* first: the queue holds one
                                           * reference, each pending libsoup
                                           * operation another */
  GossipHttpTransport       *self;        /* borrowed, as base.transport */
  gboolean                   datagram;

  SoupMessage               *msg;
  GInputStream              *stream;
  GByteArray                *body;
};

static OutExchange *
exchange_ref (OutExchange *ex)
{
  return (OutExchange *) _gossip_out_exchange_ref (&ex->base);
}

static void
exchange_unref (OutExchange *ex)
{
  _gossip_out_exchange_unref (&ex->base);
}

static void
exchange_finalize (GossipOutExchange *base)
{
  OutExchange *ex = (OutExchange *) base;

  g_clear_object (&ex->msg);
  g_clear_object (&ex->stream);
  g_clear_pointer (&ex->body, g_byte_array_unref);
}

/* At completion: pending libsoup operations were cancelled; they still
 * hold their references and find the exchange done. */
static void
exchange_release (GossipOutExchange *base,
                  const GError      *error)
{
  OutExchange *ex = (OutExchange *) base;

  if (error != NULL && ex->datagram)
    counter_inc (&ex->self->datagrams_dropped);
  ex->self = NULL;
}

#define exchange_complete(ex, reply, error) _gossip_out_exchange_complete (&(ex)->base, (reply), (error))
#define exchange_fail(ex, ...) _gossip_out_exchange_fail (&(ex)->base, __VA_ARGS__)

/* Maps the final status to the outcome the interface documents. */
static void
exchange_finish_response (OutExchange *ex)
{
  guint status = soup_message_get_status (ex->msg);
  const char *phrase = soup_message_get_reason_phrase (ex->msg);

  switch (status)
    {
    case SOUP_STATUS_OK:
      if (!ex->base.want_reply)
        exchange_complete (ex, NULL, NULL);
      else if (ex->body->len == 0)
        exchange_fail (ex, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED,
                       _("%s sent no reply"), ex->base.address);
      else
        {
          g_autoptr(GBytes) reply = g_byte_array_free_to_bytes (g_steal_pointer (&ex->body));

          exchange_complete (ex, reply, NULL);
        }
      break;

    case SOUP_STATUS_NO_CONTENT:
      if (ex->base.want_reply)
        exchange_fail (ex, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED,
                       _("%s sent no reply"), ex->base.address);
      else
        exchange_complete (ex, NULL, NULL);
      break;

    case SOUP_STATUS_UNAUTHORIZED:
      exchange_fail (ex, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED,
                     _("%s refused the bearer token (HTTP 401 %s)"), ex->base.address, phrase);
      break;

    case SOUP_STATUS_REQUEST_ENTITY_TOO_LARGE:
      exchange_fail (ex, G_IO_ERROR, G_IO_ERROR_MESSAGE_TOO_LARGE,
                     _("%s refused a frame of %zu bytes as too large (HTTP 413)"),
                     ex->base.address, g_bytes_get_size (ex->base.frame));
      break;

    case SOUP_STATUS_SERVICE_UNAVAILABLE:
      exchange_fail (ex, G_IO_ERROR, G_IO_ERROR_BUSY,
                     _("%s is too busy to take the frame (HTTP 503)"), ex->base.address);
      break;

    case SOUP_STATUS_GATEWAY_TIMEOUT:
      exchange_fail (ex, G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                     _("%s got no reply from its handler in time (HTTP 504)"), ex->base.address);
      break;

    default:
      exchange_fail (ex, G_IO_ERROR, G_IO_ERROR_FAILED,
                     _("%s answered HTTP %u %s"), ex->base.address, status, phrase);
      break;
    }
}

static void exchange_read_next (OutExchange *ex);

static void
exchange_read_cb (GObject      *source,
                  GAsyncResult *result,
                  gpointer      data)
{
  OutExchange *ex = data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) chunk = NULL;

  chunk = g_input_stream_read_bytes_finish (G_INPUT_STREAM (source), result, &error);
  if (ex->base.done)
    goto out;

  if (chunk == NULL)
    {
      g_prefix_error (&error, _("reading the response from %s: "), ex->base.address);
      exchange_complete (ex, NULL, error);
    }
  else if (g_bytes_get_size (chunk) == 0)
    {
      exchange_finish_response (ex);
    }
  else if (ex->body->len + g_bytes_get_size (chunk) > GOSSIP_MAX_FRAME_SIZE)
    {
      exchange_fail (ex, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                     _("the response from %s is larger than the limit of %u bytes"),
                     ex->base.address, (guint) GOSSIP_MAX_FRAME_SIZE);
    }
  else
    {
      g_byte_array_append (ex->body, g_bytes_get_data (chunk, NULL), g_bytes_get_size (chunk));
      exchange_read_next (ex);
    }

out:
  exchange_unref (ex);
}

static void
exchange_read_next (OutExchange *ex)
{
  /* Async results come back on the thread-default context of the caller:
   * make sure that is the transport's, whoever iterates it. */
  g_main_context_push_thread_default (ex->base.context);
  g_input_stream_read_bytes_async (ex->stream, READ_CHUNK, G_PRIORITY_DEFAULT, ex->base.cancellable,
                                   exchange_read_cb, exchange_ref (ex));
  g_main_context_pop_thread_default (ex->base.context);
}

static void
exchange_sent_cb (GObject      *source,
                  GAsyncResult *result,
                  gpointer      data)
{
  OutExchange *ex = data;
  g_autoptr(GError) error = NULL;
  GInputStream *stream;
  goffset length;

  stream = soup_session_send_finish (SOUP_SESSION (source), result, &error);
  if (ex->base.done)
    {
      g_clear_object (&stream);
      goto out;
    }

  if (stream == NULL)
    {
      g_prefix_error (&error, _("cannot POST to %s: "), ex->base.address);
      exchange_complete (ex, NULL, error);
      goto out;
    }

  ex->stream = stream;
  length = soup_message_headers_get_content_length (soup_message_get_response_headers (ex->msg));
  if (length > GOSSIP_MAX_FRAME_SIZE)
    {
      exchange_fail (ex, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                     _("the response from %s is larger than the limit of %u bytes"),
                     ex->base.address, (guint) GOSSIP_MAX_FRAME_SIZE);
      goto out;
    }

  /* Read even empty bodies to the end: that returns the connection to the
   * pool for the next exchange. */
  ex->body = g_byte_array_sized_new (length > 0 ? (guint) length : 0);
  exchange_read_next (ex);

out:
  exchange_unref (ex);
}

static gboolean
accept_any_certificate_cb (SoupMessage          *msg,
                           GTlsCertificate      *certificate,
                           GTlsCertificateFlags  errors,
                           gpointer              data)
{
  return TRUE;
}

/* "host:port" means http://host:port/; URLs are used as given. */
static GUri *
peer_uri (const char  *address,
          GError     **error)
{
  g_autoptr(GError) parse_error = NULL;
  g_autofree char *scheme = NULL;
  g_autofree char *host = NULL;
  g_autofree char *path = NULL;
  guint16 port = 0;

  if (!gossip_address_parse (address, "peer address", TRUE, &scheme, &host, &port, &path, &parse_error))
    {
      set_invalid_argument (error, parse_error);
      return NULL;
    }

  if (scheme != NULL)
    return g_uri_parse (address, SOUP_HTTP_URI_FLAGS, error);

  if (port == 0)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                   _("invalid address “%s”: cannot send to port 0"), address);
      return NULL;
    }

  /* ":port" means this host. */
  return g_uri_build (SOUP_HTTP_URI_FLAGS, "http", NULL, host != NULL ? host : "127.0.0.1",
                      port, "/", NULL, NULL);
}

static void
exchange_start (GossipOutExchange *base)
{
  OutExchange *ex = (OutExchange *) base;
  GossipHttpTransport *self = ex->self;
  g_autoptr(GError) error = NULL;
  g_autoptr(GUri) uri = NULL;
  g_autofree char *bearer = NULL;
  SoupMessageHeaders *headers;

  uri = peer_uri (ex->base.address, &error);
  if (uri == NULL)
    {
      exchange_complete (ex, NULL, error);
      return;
    }
  if (g_strcmp0 (g_uri_get_scheme (uri), "https") == 0 &&
      !g_tls_backend_supports_tls (g_tls_backend_get_default ()))
    {
      exchange_fail (ex, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
                     _("cannot reach the https peer %s: TLS is not available "
                       "(install glib-networking)"), ex->base.address);
      return;
    }

  ex->msg = soup_message_new_from_uri (SOUP_METHOD_POST, uri);
  soup_message_set_request_body_from_bytes (ex->msg, FRAME_CONTENT_TYPE, ex->base.frame);
  /* POSTs otherwise always open a new connection. A frame that libsoup
   * resends after a kept-alive connection failed is at worst a duplicate,
   * which the protocol tolerates. */
  soup_message_add_flags (ex->msg, SOUP_MESSAGE_IDEMPOTENT);

  headers = soup_message_get_request_headers (ex->msg);
  if (self->bearer_token != NULL)
    {
      bearer = g_strconcat ("Bearer ", self->bearer_token, NULL);
      soup_message_headers_replace (headers, HEADER_AUTHORIZATION, bearer);
    }
  if (ex->base.want_reply)
    {
      g_autofree char *timeout_ms = g_strdup_printf ("%" G_GINT64_FORMAT,
                                                     MAX (ex->base.timeout_us / 1000, 1));

      soup_message_headers_replace (headers, HEADER_REPLY, "1");
      soup_message_headers_replace (headers, HEADER_TIMEOUT, timeout_ms);
    }
  if (ex->datagram)
    soup_message_headers_replace (headers, HEADER_DATAGRAM, "1");

  g_signal_connect (ex->msg, "got-headers", G_CALLBACK (client_got_headers_cb), NULL);
  g_signal_connect (ex->msg, "network-event", G_CALLBACK (client_network_event_cb), NULL);
  if (self->insecure_skip_verify)
    g_signal_connect (ex->msg, "accept-certificate", G_CALLBACK (accept_any_certificate_cb), NULL);

  ex->base.cancellable = g_cancellable_new ();
  g_main_context_push_thread_default (ex->base.context);
  soup_session_send_async (self->session, ex->msg, G_PRIORITY_DEFAULT, ex->base.cancellable,
                           exchange_sent_cb, exchange_ref (ex));
  g_main_context_pop_thread_default (ex->base.context);
}

static const GossipOutExchangeClass exchange_class = {
  .start_name = "GossipHttpTransport exchange start",
  .timeout_name = "GossipHttpTransport exchange timeout",
  .too_large_format = N_("frame of %zu bytes exceeds the HTTP body limit of %u bytes"),
  .timeout_format = N_("HTTP exchange with %s timed out"),
  .start = exchange_start,
  .release = exchange_release,
  .finalize = exchange_finalize,
};

static void
send_internal (GossipHttpTransport       *self,
               const char                *address,
               GBytes                    *frame,
               gboolean                   want_reply,
               gboolean                   datagram,
               gint64                     timeout_us,
               GossipTransportStreamFunc  func,
               gpointer                   user_data)
{
  OutExchange *ex = g_new0 (OutExchange, 1);

  ex->self = self;
  ex->datagram = datagram;
  _gossip_out_exchange_init (&ex->base, &exchange_class, G_OBJECT (self), &self->outgoing,
                             self->started ? self->context : NULL, address, frame, want_reply,
                             timeout_us > 0 ? timeout_us : DEFAULT_STREAM_TIMEOUT_US, func, user_data);
}

/* ---------------------------------------------------------------------------
 * GossipTransport implementation
 * ------------------------------------------------------------------------- */

static void
gossip_http_transport_send_datagram (GossipTransport *transport,
                                     const char      *address,
                                     GBytes          *frame)
{
  GossipHttpTransport *self = GOSSIP_HTTP_TRANSPORT (transport);

  if (!self->started || g_bytes_get_size (frame) == 0)
    {
      counter_inc (&self->datagrams_dropped);
      return;
    }

  send_internal (self, address, frame, FALSE, TRUE, DATAGRAM_TIMEOUT_US, NULL, NULL);
}

static void
gossip_http_transport_send_stream (GossipTransport           *transport,
                                   const char                *address,
                                   GBytes                    *frame,
                                   gboolean                   want_reply,
                                   gint64                     timeout_us,
                                   GossipTransportStreamFunc  func,
                                   gpointer                   user_data)
{
  send_internal (GOSSIP_HTTP_TRANSPORT (transport), address, frame, want_reply, FALSE,
                 timeout_us, func, user_data);
}

static GInetAddress *
resolve_bind_host (GossipHttpTransport  *self,
                   GError              **error)
{
  g_autoptr(GError) local_error = NULL;
  GInetAddress *address = NULL;
  GSocketFamily first = self->prefer_ipv6 ? G_SOCKET_FAMILY_IPV6 : G_SOCKET_FAMILY_IPV4;
  GList *addresses;

  if (self->bind_host == NULL)
    return g_inet_address_new_any (G_SOCKET_FAMILY_IPV4);

  address = g_inet_address_new_from_string (self->bind_host);
  if (address != NULL)
    return address;

  /* Starting is synchronous; a bind host name is resolved once, here. */
  addresses = g_resolver_lookup_by_name (self->resolver, self->bind_host, NULL, &local_error);
  if (addresses == NULL)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_HOST_NOT_FOUND,
                   _("cannot resolve the bind address “%s”: %s"), self->bind_host, local_error->message);
      return NULL;
    }

  for (GList *l = addresses; l != NULL && address == NULL; l = l->next)
    if (g_inet_address_get_family (l->data) == first)
      address = g_object_ref (l->data);
  if (address == NULL)
    address = g_object_ref (addresses->data);
  g_resolver_free_addresses (addresses);
  return address;
}

/* Binds and listens ourselves rather than through soup_server_listen(),
 * whose GLib default backlog of 10 resets connections when a few dozen
 * peers (a join storm, held requests) connect at once. */
static GSocket *
listen_on (GossipHttpTransport  *self,
           GInetAddress         *host,
           GError              **error)
{
  g_autoptr(GSocketAddress) address = g_inet_socket_address_new (host, self->bind_port);
  g_autoptr(GSocket) socket = NULL;
  g_autoptr(GError) local_error = NULL;
  g_autofree char *text = format_socket_address (address);
  GSocketFamily family = g_inet_address_get_family (host);

  socket = g_socket_new (family, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, &local_error);
  if (socket != NULL)
    {
      /* "[::]" accepts IPv4 peers too, like the socket transport. */
      if (family == G_SOCKET_FAMILY_IPV6)
        g_socket_set_option (socket, IPPROTO_IPV6, IPV6_V6ONLY, 0, NULL);
      g_socket_set_listen_backlog (socket, LISTEN_BACKLOG);
      if (!g_socket_bind (socket, address, TRUE, &local_error) ||
          !g_socket_listen (socket, &local_error))
        {
          g_socket_close (socket, NULL);
          g_clear_object (&socket);
        }
    }

  if (socket == NULL)
    {
      g_set_error (error, G_IO_ERROR, local_error->code,
                   _("cannot bind the HTTP listener to %s: %s"), text, local_error->message);
      return NULL;
    }
  return g_steal_pointer (&socket);
}

static gboolean
gossip_http_transport_start (GossipTransport  *transport,
                             GError          **error)
{
  GossipHttpTransport *self = GOSSIP_HTTP_TRANSPORT (transport);
  g_autoptr(GInetAddress) host = NULL;
  g_autoptr(SoupServer) server = NULL;
  g_autoptr(GSocketAddress) local = NULL;
  g_autoptr(GSocket) listener = NULL;
  g_autofree char *host_text = NULL;
  g_autofree char *authority = NULL;

  if (self->started)
    return TRUE;

  host = resolve_bind_host (self, error);
  if (host == NULL)
    return FALSE;

  listener = listen_on (self, host, error);
  if (listener == NULL)
    return FALSE;
  local = g_socket_get_local_address (listener, error);
  if (local == NULL)
    {
      g_socket_close (listener, NULL);
      return FALSE;
    }

  /* libsoup attaches its sources to the thread-default context of the
   * thread that creates the session and starts listening: ours. */
  server = soup_server_new ("server-header", PACKAGE_NAME "/" PACKAGE_VERSION, NULL);
  soup_server_add_early_handler (server, NULL, server_early_cb, self, NULL);
  soup_server_add_handler (server, NULL, server_request_cb, self, NULL);
  g_signal_connect (server, "request-started", G_CALLBACK (server_request_started_cb), self);
  g_signal_connect (server, "request-read", G_CALLBACK (server_request_read_cb), self);
  g_signal_connect (server, "request-finished", G_CALLBACK (server_request_done_cb), self);
  g_signal_connect (server, "request-aborted", G_CALLBACK (server_request_done_cb), self);
  if (!soup_server_listen_socket (server, listener, 0, error))
    {
      g_socket_close (listener, NULL);
      return FALSE;
    }

  self->context = g_main_context_ref_thread_default ();
  self->server = g_steal_pointer (&server);
  /* Bound to one address, a node connects from it too, so that its
   * requests come from the host it advertises (PROTOCOL.md, "Strangers"). */
  {
    GInetAddress *bound = g_inet_socket_address_get_address (G_INET_SOCKET_ADDRESS (local));
    g_autoptr(GSocketAddress) source = g_inet_address_get_is_any (bound) ? NULL
                                       : g_inet_socket_address_new (bound, 0);

    self->session = soup_session_new_with_options ("max-conns", MAX_CONNS,
                                                   "max-conns-per-host", MAX_CONNS_PER_HOST,
                                                   "user-agent", PACKAGE_NAME "/" PACKAGE_VERSION,
                                                   "local-address", source,
                                                   NULL);
  }
  /* Peers are cluster members: never go through an HTTP proxy from the
   * environment. */
  soup_session_set_proxy_resolver (self->session, NULL);

  host_text = format_inet_address (g_inet_socket_address_get_address (G_INET_SOCKET_ADDRESS (local)));
  authority = gossip_address_format (host_text, g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (local)));
  self->local_address = g_strconcat ("http://", authority, self->bind_path, NULL);
  self->started = TRUE;

  return TRUE;
}

static void
gossip_http_transport_stop (GossipTransport *transport)
{
  GossipHttpTransport *self = GOSSIP_HTTP_TRANSPORT (transport);
  g_autoptr(GossipHttpTransport) hold = g_object_ref (self);
  g_autoptr(SoupServer) server = NULL;
  g_autoptr(SoupSession) session = NULL;
  InRequest *req;

  if (self->started)
    {
      self->started = FALSE;
      server = g_steal_pointer (&self->server);
      session = g_steal_pointer (&self->session);

      /* Held requests are forgotten, not answered: their connections are
       * closed below. Late replies find them finished. */
      while ((req = g_queue_peek_head (&self->incoming)) != NULL)
        in_request_finish (req, 0, NULL);
      g_signal_handlers_disconnect_by_data (server, self);
      while (self->conns.head != NULL)
        http_conn_drop (self->conns.head->data);
      soup_server_disconnect (server);
    }

  /* Completed synchronously, as documented on gossip_transport_stop(), and
   * before libsoup is told to abort, so that its (cancelled) callbacks find
   * them done. */
  _gossip_out_exchange_cancel_all (&self->outgoing);

  if (session != NULL)
    soup_session_abort (session);
  g_clear_pointer (&self->local_address, g_free);
  g_clear_pointer (&self->context, g_main_context_unref);
}

static char *
gossip_http_transport_get_local_address (GossipTransport *transport)
{
  GossipHttpTransport *self = GOSSIP_HTTP_TRANSPORT (transport);

  return self->started ? g_strdup (self->local_address) : NULL;
}

static gsize
gossip_http_transport_get_max_datagram (GossipTransport *transport)
{
  /* Every frame is a POST: size does not change how it travels. */
  return GOSSIP_MAX_FRAME_SIZE;
}

static void
gossip_http_transport_dispose (GObject *object)
{
  gossip_http_transport_stop (GOSSIP_TRANSPORT (object));

  G_OBJECT_CLASS (gossip_http_transport_parent_class)->dispose (object);
}

static void
gossip_http_transport_finalize (GObject *object)
{
  GossipHttpTransport *self = GOSSIP_HTTP_TRANSPORT (object);

  g_free (self->bind_host);
  g_free (self->bind_path);
  g_free (self->bearer_token);
  g_clear_object (&self->resolver);

  G_OBJECT_CLASS (gossip_http_transport_parent_class)->finalize (object);
}

static void
gossip_http_transport_class_init (GossipHttpTransportClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = gossip_http_transport_dispose;
  object_class->finalize = gossip_http_transport_finalize;
}

static void
gossip_http_transport_iface_init (GossipTransportInterface *iface)
{
  iface->start = gossip_http_transport_start;
  iface->stop = gossip_http_transport_stop;
  iface->get_local_address = gossip_http_transport_get_local_address;
  iface->get_max_datagram = gossip_http_transport_get_max_datagram;
  iface->send_datagram = gossip_http_transport_send_datagram;
  iface->send_stream = gossip_http_transport_send_stream;
}

static void
gossip_http_transport_init (GossipHttpTransport *self)
{
  self->reply_timeout_us = DEFAULT_REPLY_TIMEOUT_US;
  self->resolver = g_resolver_get_default ();
  g_queue_init (&self->outgoing);
  g_queue_init (&self->incoming);
  g_queue_init (&self->conns);
  self->limits = (GossipTransportLimits) GOSSIP_TRANSPORT_LIMITS_DEFAULT;
}

/* ---------------------------------------------------------------------------
 * Public API
 * ------------------------------------------------------------------------- */

/**
 * gossip_http_transport_new:
 * @bind_address: where to serve HTTP: "ip:port", "[ipv6]:port", "host:port"
 *   (resolved when starting), ":port" (every IPv4 address) or an
 *   "http://host:port/path" URL (the path only shapes the local address:
 *   POSTs are accepted on any path); port 0 picks a free port
 * @prefer_ipv6: when @bind_address names a host, bind its IPv6 address if it
 *   has one
 * @insecure_skip_verify: accept any certificate from `https://` peers
 * @error: return location for a #GError
 *
 * Creates a transport that carries frames as HTTP/1.1 POSTs. Nothing is
 * bound until gossip_transport_start(); the local address is then
 * "http://host:port/" (with the path of a URL @bind_address).
 *
 * Returns: (transfer full) (nullable): a new #GossipTransport, or %NULL with
 *   %G_IO_ERROR_INVALID_ARGUMENT if @bind_address is malformed or an
 *   https:// URL (serving TLS is not supported)
 */
GossipTransport *
gossip_http_transport_new (const char  *bind_address,
                           gboolean     prefer_ipv6,
                           gboolean     insecure_skip_verify,
                           GError     **error)
{
  GossipHttpTransport *self;
  g_autoptr(GError) parse_error = NULL;
  g_autofree char *scheme = NULL;
  g_autofree char *host = NULL;
  g_autofree char *path = NULL;
  guint16 port = 0;

  g_return_val_if_fail (bind_address != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (!gossip_address_parse (bind_address, "bind_addr", TRUE, &scheme, &host, &port, &path, &parse_error))
    {
      set_invalid_argument (error, parse_error);
      return NULL;
    }
  if (g_strcmp0 (scheme, "https") == 0)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                   _("cannot serve %s: serving HTTPS is not supported (use http:// or host:port)"),
                   bind_address);
      return NULL;
    }

  self = g_object_new (GOSSIP_TYPE_HTTP_TRANSPORT, NULL);
  self->bind_host = g_steal_pointer (&host);
  self->bind_port = port;
  self->bind_path = path != NULL && path[0] == '/' ? g_steal_pointer (&path) : g_strdup ("/");
  self->prefer_ipv6 = !!prefer_ipv6;
  self->insecure_skip_verify = !!insecure_skip_verify;

  return GOSSIP_TRANSPORT (self);
}

/**
 * gossip_http_transport_set_bearer_token:
 * @self: a #GossipHttpTransport
 * @token: (nullable): the shared secret; %NULL or "" turns authentication off
 *
 * With a token, every POST carries `Authorization: Bearer <token>`, and the
 * server answers 401 to requests without that exact header, before their
 * body is looked at. Rejections are counted by
 * gossip_http_transport_get_auth_rejected().
 *
 * Thread: the transport's thread, or before it is started.
 */
void
gossip_http_transport_set_bearer_token (GossipHttpTransport *self,
                                        const char          *token)
{
  g_return_if_fail (GOSSIP_IS_HTTP_TRANSPORT (self));

  g_clear_pointer (&self->bearer_token, g_free);
  if (token != NULL && token[0] != '\0')
    self->bearer_token = g_strdup (token);
}

/**
 * gossip_http_transport_set_reply_timeout:
 * @self: a #GossipHttpTransport
 * @timeout_us: how long, in microseconds, the server holds a request whose
 *   handler has not answered yet (30 s by default; at least 1 ms)
 *
 * Past this deadline, or the requester's own (sent in
 * `X-Gossip-Timeout-Ms`) if shorter, the server answers 504.
 *
 * Thread: the transport's thread, or before it is started.
 */
void
gossip_http_transport_set_reply_timeout (GossipHttpTransport *self,
                                         gint64               timeout_us)
{
  g_return_if_fail (GOSSIP_IS_HTTP_TRANSPORT (self));

  self->reply_timeout_us = MAX (timeout_us, 1000);
}

/**
 * gossip_http_transport_get_auth_rejected:
 * @self: a #GossipHttpTransport
 *
 * Thread: any.
 *
 * Returns: how many requests were answered 401 (missing, malformed or wrong
 *   bearer token) since creation
 */
guint64
gossip_http_transport_get_auth_rejected (GossipHttpTransport *self)
{
  g_return_val_if_fail (GOSSIP_IS_HTTP_TRANSPORT (self), 0);

  return counter_get (&self->auth_rejected);
}

/**
 * gossip_http_transport_get_requests_rejected:
 * @self: a #GossipHttpTransport
 *
 * Thread: any.
 *
 * Returns: how many requests were refused for another reason than the
 *   token: wrong method (405), no length (411), body too large (413),
 *   empty (400), or too many held for replies (503)
 */
guint64
gossip_http_transport_get_requests_rejected (GossipHttpTransport *self)
{
  g_return_val_if_fail (GOSSIP_IS_HTTP_TRANSPORT (self), 0);

  return counter_get (&self->requests_rejected);
}

/**
 * gossip_http_transport_get_datagrams_dropped:
 * @self: a #GossipHttpTransport
 *
 * Counts best-effort frames that did not make it: the transport was not
 * started, the address was malformed, the POST failed or was refused, or it
 * timed out.
 *
 * Thread: any.
 *
 * Returns: the number of datagrams dropped since creation
 */
guint64
gossip_http_transport_get_datagrams_dropped (GossipHttpTransport *self)
{
  g_return_val_if_fail (GOSSIP_IS_HTTP_TRANSPORT (self), 0);

  return counter_get (&self->datagrams_dropped);
}
