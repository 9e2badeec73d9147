/* bridge-rpc.c — the bridge's wire: message output, JSON-RPC envelopes,
 * and the reader thread.
 *
 * Copyright the scriptling-gossip authors.
 * SPDX-License-Identifier: MIT
 *
 * Everything here may run on any thread.  The reader thread answers what
 * needs no plugin code itself and queues the rest for the script thread.
 */

#include "config.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

#include "bridge-json.h"
#include "bridge-server-private.h"

void
bridge_event_free (gpointer data)
{
  BridgeEvent *event = data;

  g_clear_pointer (&event->node, json_node_unref);
  g_free (event->object_id);
  g_free (event);
}

void
bridge_push_event (BridgeServer *server,
                   BridgeEventType type,
                   JsonNode *node,
                   gint64 id,
                   const char *object_id)
{
  BridgeEvent *event = g_new0 (BridgeEvent, 1);

  event->type = type;
  event->node = node;
  event->id = id;
  event->object_id = g_strdup (object_id);
  tsan_release (server->events);
  g_async_queue_push (server->events, event);
}

const char *
bridge_member_string (JsonObject *object,
                      const char *name)
{
  JsonNode *node;

  if (object == NULL)
    return NULL;
  node = json_object_get_member (object, name);
  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node) ||
      json_node_get_value_type (node) != G_TYPE_STRING)
    return NULL;
  return json_node_get_string (node);
}

/* ---- output -------------------------------------------------------------- */

static gboolean
write_all (BridgeServer *server,
           const char *data,
           gsize length)
{
  while (length > 0)
    {
      ssize_t n = write (server->out_fd, data, length);

      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        {
          struct pollfd pfd = { server->out_fd, POLLOUT, 0 };
          (void) poll (&pfd, 1, -1);
          continue;
        }
      if (n <= 0)
        return FALSE;
      data += n;
      length -= (gsize) n;
    }
  return TRUE;
}

/* Writes one message as one line.  After a write error (the host went
 * away) output stops for good; the bridge keeps running until stdin EOF. */
gboolean
bridge_write_message (BridgeServer *server,
                      JsonNode *message)
{
  g_autoptr(GString) line = g_string_new (NULL);
  g_autoptr(GError) error = NULL;
  gboolean ok;

  if (!bridge_json_write (line, message, &error))
    {
      g_printerr ("scriptling-plugin-bridge: internal error: cannot encode a message: %s\n",
                  error->message);
      return FALSE;
    }
  if (server->debug)
    g_printerr ("scriptling-plugin-bridge: -> %s\n", line->str);
  g_string_append_c (line, '\n');

  g_mutex_lock (&server->write_lock);
  tsan_acquire (&server->write_lock);
  ok = !server->output_broken && write_all (server, line->str, line->len);
  if (!ok && !server->output_broken)
    {
      g_atomic_int_set (&server->output_broken, TRUE);
      g_printerr ("scriptling-plugin-bridge: cannot write to the host: %s\n", g_strerror (errno));
    }
  tsan_release (&server->write_lock);
  g_mutex_unlock (&server->write_lock);
  return ok;
}

static JsonNode *
id_or_null (JsonNode *id)
{
  return id != NULL ? json_node_copy (id) : json_node_init_null (json_node_alloc ());
}

JsonNode *
bridge_make_result (JsonNode *id,
                    JsonNode *result)
{
  JsonObject *object = json_object_new ();

  json_object_set_string_member (object, "jsonrpc", "2.0");
  json_object_set_member (object, "id", id_or_null (id));
  json_object_set_member (object, "result",
                          result != NULL ? result : json_node_init_null (json_node_alloc ()));
  return bridge_json_node_take_object (object);
}

/* Scriptling drops error.data and classifies a plugin error by its text
 * alone (its try/except, evaluator.go): a text starting with "type error:"
 * or containing "type mismatch" is a TypeError; one containing "value
 * error" or "invalid value" a ValueError; "identifier not found", or "name"
 * together with "not defined", a NameError; one starting with "import
 * error" an ImportError (later hosts); anything else a plain Exception.
 * So the kind is carried by a prefix of its own and by nothing else: in
 * the message proper, which may quote a script's error text or user data,
 * the space of every such phrase becomes a no-break space (U+00A0).  It
 * reads the same and matches none of them, and the prefix is added after,
 * outside any translation. */
static const char *const classified_phrases[] = {
  "type error", "type mismatch", "value error", "invalid value",
  "identifier not found", "not defined", "import error",
};

static char *
error_text (const char *error_type,
            const char *message)
{
  GString *text = g_string_new (NULL);
  gsize start;

  if (g_strcmp0 (error_type, "TypeError") == 0)
    g_string_append (text, "type error: ");
  else if (g_strcmp0 (error_type, "ValueError") == 0)
    g_string_append (text, "value error: ");
  start = text->len;
  g_string_append (text, message);

  for (gsize i = 0; i < G_N_ELEMENTS (classified_phrases); i++)
    {
      const char *phrase = classified_phrases[i];
      gsize space = strchr (phrase, ' ') - phrase;
      const char *hit;
      gsize from = start;

      while ((hit = strstr (text->str + from, phrase)) != NULL)
        {
          gsize at = hit - text->str + space;

          g_string_erase (text, at, 1);
          g_string_insert (text, at, "\xc2\xa0" /* U+00A0 in UTF-8 */);
          from = at;
        }
    }
  return g_string_free (text, FALSE);
}

JsonNode *
bridge_make_error (JsonNode *id,
                   int code,
                   const char *message,
                   const char *error_type)
{
  JsonObject *object = json_object_new ();
  JsonObject *error = json_object_new ();
  g_autofree char *text = error_text (error_type, message);

  json_object_set_int_member (error, "code", code);
  json_object_set_string_member (error, "message", text);
  if (error_type != NULL)
    {
      JsonObject *data = json_object_new ();

      json_object_set_string_member (data, "type", error_type);
      json_object_set_object_member (error, "data", data);
    }
  json_object_set_string_member (object, "jsonrpc", "2.0");
  json_object_set_member (object, "id", id_or_null (id));
  json_object_set_object_member (object, "error", error);
  return bridge_json_node_take_object (object);
}

BridgeBatch *
bridge_batch_new (void)
{
  BridgeBatch *batch = g_new0 (BridgeBatch, 1);

  batch->pending = 1;
  batch->responses = json_array_new ();
  return batch;
}

/* Drops one pending element; the last one sends the batch reply.  A batch
 * made only of notifications gets no reply at all. */
void
bridge_batch_release (BridgeServer *server,
                      BridgeBatch *batch)
{
  g_assert (batch->pending > 0);
  if (--batch->pending > 0)
    return;
  if (json_array_get_length (batch->responses) > 0)
    {
      g_autoptr(JsonNode) node = bridge_json_node_take_array (g_steal_pointer (&batch->responses));
      bridge_write_message (server, node);
    }
  g_clear_pointer (&batch->responses, json_array_unref);
  g_free (batch);
}

/* Sends @response (consumed) to the requester, unless the request was a
 * notification (@has_id FALSE).  Every dispatched request ends in exactly
 * one call of this function. */
void
bridge_reply (BridgeServer *server,
              gboolean has_id,
              BridgeBatch *batch,
              JsonNode *response)
{
  if (has_id && batch != NULL)
    json_array_add_element (batch->responses, g_steal_pointer (&response));
  else if (has_id)
    bridge_write_message (server, response);
  g_clear_pointer (&response, json_node_unref);
  if (batch != NULL)
    bridge_batch_release (server, batch);
}

void
bridge_reply_result (BridgeServer *server,
                     JsonNode *id,
                     gboolean has_id,
                     BridgeBatch *batch,
                     JsonNode *result)
{
  bridge_reply (server, has_id, batch, bridge_make_result (id, result));
}

void
bridge_reply_error (BridgeServer *server,
                    JsonNode *id,
                    gboolean has_id,
                    BridgeBatch *batch,
                    int code,
                    const char *message)
{
  bridge_reply (server, has_id, batch, bridge_make_error (id, code, message, NULL));
}


void
bridge_reply_error_printf (BridgeServer *server,
                           JsonNode *id,
                           gboolean has_id,
                           BridgeBatch *batch,
                           int code,
                           const char *format,
                           ...)
{
  va_list ap;
  g_autofree char *message = NULL;

  va_start (ap, format);
  message = g_strdup_vprintf (format, ap);
  va_end (ap);
  bridge_reply_error (server, id, has_id, batch, code, message);
}

/* ---- request envelopes --------------------------------------------------- */

static gboolean
id_is_valid (JsonNode *id)
{
  GType type;

  if (JSON_NODE_HOLDS_NULL (id))
    return TRUE;
  if (!JSON_NODE_HOLDS_VALUE (id))
    return FALSE;
  type = json_node_get_value_type (id);
  return type == G_TYPE_STRING || type == G_TYPE_INT64 || type == G_TYPE_DOUBLE;
}

/* Validates the JSON-RPC 2.0 request envelope.  On failure *code and
 * *message describe the error, which must be answered even for a request
 * without id (with id null), as JSON-RPC 2.0 requires. */
gboolean
bridge_parse_envelope (JsonObject *object,
                       BridgeRequest *request,
                       int *code,
                       char **message)
{
  JsonNode *id = json_object_get_member (object, "id");
  JsonNode *params = json_object_get_member (object, "params");
  const char *version = bridge_member_string (object, "jsonrpc");

  memset (request, 0, sizeof *request);
  if (id != NULL && id_is_valid (id))
    {
      request->id = id;
      request->has_id = TRUE;
    }
  else if (id != NULL)
    {
      *code = RPC_INVALID_REQUEST;
      *message = g_strdup ("invalid request: \"id\" must be a string, a number or null");
      return FALSE;
    }

  if (version == NULL || !g_str_equal (version, "2.0"))
    {
      *code = RPC_INVALID_REQUEST;
      *message = g_strdup ("invalid request: \"jsonrpc\" must be \"2.0\"");
      return FALSE;
    }
  request->method = bridge_member_string (object, "method");
  if (request->method == NULL)
    {
      *code = RPC_INVALID_REQUEST;
      *message = g_strdup ("invalid request: \"method\" must be a string");
      return FALSE;
    }
  if (params != NULL && JSON_NODE_HOLDS_OBJECT (params))
    request->params = json_node_get_object (params);
  else if (params != NULL && !JSON_NODE_HOLDS_NULL (params))
    {
      *code = RPC_INVALID_PARAMS;
      *message = g_strdup_printf ("invalid params: %s params must be an object", request->method);
      return FALSE;
    }
  return TRUE;
}

static gboolean
is_known_method (const char *method)
{
  static const char *const methods[] = {
    "scriptling.handshake", "function.call", "object.new", "object.call_method",
    "object.destroy", "plugin.shutdown", "environment.open", "environment.close",
  };

  for (gsize i = 0; i < G_N_ELEMENTS (methods); i++)
    if (g_str_equal (method, methods[i]))
      return TRUE;
  return FALSE;
}

/* ---- reader thread -------------------------------------------------------- */

static void
reader_reply_error (BridgeServer *server,
                    JsonNode *id,
                    int code,
                    const char *message)
{
  g_autoptr(JsonNode) response = bridge_make_error (id, code, message, NULL);

  bridge_write_message (server, response);
}

/* Handles one complete line on the reader thread. */
static void
reader_handle_line (BridgeServer *server,
                    const char *line,
                    gsize length)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonNode) node = NULL;
  JsonObject *object;

  /* Tolerate CRLF line ends and blank lines; never produce them. */
  if (length > 0 && line[length - 1] == '\r')
    length--;
  {
    gsize i = 0;
    while (i < length && g_ascii_isspace (line[i]))
      i++;
    if (i == length)
      return;
  }

  if (server->debug)
    g_printerr ("scriptling-plugin-bridge: <- %.*s\n", (int) MIN (length, 4096), line);

  node = bridge_json_parse (line, length, &error);
  if (node == NULL)
    {
      g_autofree char *message = g_strdup_printf ("parse error: %s", error->message);
      reader_reply_error (server, NULL, RPC_PARSE_ERROR, message);
      return;
    }

  if (JSON_NODE_HOLDS_ARRAY (node))
    {
      bridge_push_event (server, EVENT_MESSAGE, g_steal_pointer (&node), 0, NULL);
      return;
    }
  if (!JSON_NODE_HOLDS_OBJECT (node))
    {
      reader_reply_error (server, NULL, RPC_INVALID_REQUEST,
                          "invalid request: a message must be a JSON object or a batch array");
      return;
    }

  object = json_node_get_object (node);
  if (!json_object_has_member (object, "method") &&
      (json_object_has_member (object, "result") || json_object_has_member (object, "error")))
    {
      JsonNode *id = json_object_get_member (object, "id");

      if (id != NULL && JSON_NODE_HOLDS_VALUE (id) && json_node_get_value_type (id) == G_TYPE_INT64)
        bridge_push_event (server, EVENT_RESPONSE, g_steal_pointer (&node), json_node_get_int (id), NULL);
      else
        {
          g_autofree char *text = bridge_json_to_string (node, NULL);
          /* Most likely the host could not parse something we wrote. */
          g_printerr ("scriptling-plugin-bridge: ignoring a response that matches no request: %s\n",
                      text != NULL ? text : "?");
        }
      return;
    }

  {
    BridgeRequest request;
    int code = 0;
    g_autofree char *message = NULL;

    if (!bridge_parse_envelope (object, &request, &code, &message))
      {
        reader_reply_error (server, request.id, code, message);
        return;
      }

    if (g_str_equal (request.method, "object.destroy"))
      {
        const char *object_id = bridge_member_string (request.params, "object_id");

        if (object_id == NULL)
          {
            if (request.has_id)
              reader_reply_error (server, request.id, RPC_INVALID_PARAMS,
                                  "invalid params: object.destroy needs a string \"object_id\"");
            return;
          }
        /* Answered at once so that a destroy (often sent by a garbage
         * collector finaliser with a short timeout) never waits behind a
         * long call; the destructor runs in order on the script thread. */
        if (request.has_id)
          {
            g_autoptr(JsonNode) response = bridge_make_result (request.id, NULL);
            bridge_write_message (server, response);
          }
        bridge_push_event (server, EVENT_DESTROY, NULL, 0, object_id);
        return;
      }
    if (g_str_equal (request.method, "environment.open") ||
        g_str_equal (request.method, "environment.close"))
      {
        if (request.has_id)
          {
            g_autoptr(JsonNode) response = bridge_make_result (request.id, NULL);
            bridge_write_message (server, response);
          }
        return;
      }
    if (!is_known_method (request.method))
      {
        if (request.has_id)
          {
            g_autofree char *text = g_strdup_printf ("unknown method %s", request.method);
            reader_reply_error (server, request.id, RPC_METHOD_NOT_FOUND, text);
          }
        return;
      }
  }

  bridge_push_event (server, EVENT_MESSAGE, g_steal_pointer (&node), 0, NULL);
}

gpointer
bridge_reader_thread (gpointer data)
{
  BridgeServer *server = data;
  GByteArray *buffer = g_byte_array_new ();
  gboolean discarding = FALSE;
  guint8 chunk[65536];

  for (;;)
    {
      ssize_t n = read (server->in_fd, chunk, sizeof chunk);
      gsize start = 0;

      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        {
          struct pollfd pfd = { server->in_fd, POLLIN, 0 };
          (void) poll (&pfd, 1, -1);
          continue;
        }
      if (n < 0)
        g_printerr ("scriptling-plugin-bridge: cannot read from the host: %s\n", g_strerror (errno));
      if (n <= 0)
        break;

      for (gsize i = 0; i < (gsize) n; i++)
        {
          if (chunk[i] != '\n')
            continue;
          if (discarding)
            {
              discarding = FALSE;
              reader_reply_error (server, NULL, RPC_PARSE_ERROR,
                                  "parse error: message longer than the limit of 64 MiB");
            }
          else
            {
              g_byte_array_append (buffer, chunk + start, (guint) (i - start));
              reader_handle_line (server, (const char *) buffer->data, buffer->len);
            }
          g_byte_array_set_size (buffer, 0);
          start = i + 1;
        }
      if (!discarding && start < (gsize) n)
        {
          g_byte_array_append (buffer, chunk + start, (guint) (n - start));
          if (buffer->len > BRIDGE_MAX_LINE)
            {
              discarding = TRUE;
              g_byte_array_set_size (buffer, 0);
            }
        }
    }

  /* A last line without a newline is still a message. */
  if (!discarding && buffer->len > 0)
    reader_handle_line (server, (const char *) buffer->data, buffer->len);
  g_byte_array_unref (buffer);

  bridge_push_event (server, EVENT_EOF, NULL, 0, NULL);
  return NULL;
}
