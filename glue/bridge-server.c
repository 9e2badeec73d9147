/* bridge-server.c — serves one plugin to Scriptling over stdio JSON-RPC.
 *
 * Copyright the scriptling-gossip authors.
 * SPDX-License-Identifier: MIT
 *
 * Threads
 * -------
 * * The *reader* thread reads stdin line by line, parses each line, answers
 *   what needs no plugin code (malformed messages, unknown methods,
 *   object.destroy, environment.*) and queues everything else as an event.
 * * The *script* thread (the main thread, which also ran the plugin's init
 *   function) takes events off the queue one at a time and runs all plugin
 *   code.  When plugin code waits for a callback.call reply it does not
 *   block the thread: it runs a nested event loop on the same queue, so new
 *   requests, other replies, destroys and wake-ups keep being handled (the
 *   plugin is re-entered, as the ABI documents).  Nesting is bounded.
 * * Any thread may write a message; a mutex keeps one message per line.
 *
 * Calls
 * -----
 * Each function.call / object.new / object.call_method becomes a
 * ScriptlingCall.  Callback values received with it share a
 * BridgeCallbackScope that is invalidated when the call's reply is sent,
 * so a plugin can never use a callback id after its call has returned.  A
 * plugin may defer a call and complete it later on the script thread; the
 * call (and its callbacks) then stay in flight.
 */

#include "config.h"

#include <string.h>

#include "bridge-json.h"
#include "bridge-server-private.h"

/* One bridge serves one plugin per process; the few ABI entries that get no
 * host handle (object_get_instance, callback_call) find it here. */
static BridgeServer *the_server;

static void call_finish (ScriptlingCall *call);

/* ---- small helpers ------------------------------------------------------- */

static gboolean
on_script_thread (BridgeServer *server)
{
  return g_thread_self () == server->script_thread;
}

static void
misuse (const char *format,
        ...) G_GNUC_PRINTF (1, 2);

/* A plugin used the ABI wrongly; say so on stderr and carry on. */
static void
misuse (const char *format,
        ...)
{
  va_list ap;
  g_autofree char *message = NULL;

  va_start (ap, format);
  message = g_strdup_vprintf (format, ap);
  va_end (ap);
  g_printerr ("scriptling-plugin-bridge: plugin API misuse: %s\n", message);
}

/* ---- objects -------------------------------------------------------------- */

static void
object_finalize (BridgeServer *server,
                 BridgeObject *object)
{
  ScriptlingClass *klass = object->klass;

  if (klass->dtor != NULL)
    {
      server->depth++;
      klass->dtor (object->instance, klass->user_data);
      server->depth--;
    }
  g_free (object->id);
  g_free (object);
}

static void
object_destroy (BridgeServer *server,
                const char *id)
{
  BridgeObject *object = g_hash_table_lookup (server->objects, id);

  /* Unknown ids are fine: destroy is idempotent. */
  if (object == NULL)
    return;
  g_hash_table_steal (server->objects, id);
  object->destroyed = TRUE;
  if (object->busy == 0)
    object_finalize (server, object);
}

static void
object_release_busy (BridgeServer *server,
                     BridgeObject *object)
{
  g_assert (object->busy > 0);
  if (--object->busy == 0 && object->destroyed)
    object_finalize (server, object);
}

static gint
compare_objects_newest_first (gconstpointer a,
                              gconstpointer b)
{
  const BridgeObject *oa = *(BridgeObject *const *) a;
  const BridgeObject *ob = *(BridgeObject *const *) b;

  return oa->serial < ob->serial ? 1 : oa->serial > ob->serial ? -1 : 0;
}

/* Newest first, so that objects made from others (a group made by a
 * cluster) go before the objects they may depend on. */
static void
destroy_all_objects (BridgeServer *server)
{
  g_autoptr(GPtrArray) all = g_ptr_array_new ();
  GHashTableIter iter;
  gpointer value;

  g_hash_table_iter_init (&iter, server->objects);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    g_ptr_array_add (all, value);

  g_ptr_array_sort (all, compare_objects_newest_first);
  for (guint i = 0; i < all->len; i++)
    {
      BridgeObject *object = g_ptr_array_index (all, i);
      object_destroy (server, object->id);
    }
}

static void *
api_object_get_instance (const ScriptlingValue *value,
                         const ScriptlingClass *klass)
{
  BridgeServer *server = the_server;
  const char *id = bridge_value_object_get_id (value);
  BridgeObject *object;

  if (server == NULL || id == NULL)
    return NULL;
  if (!on_script_thread (server))
    {
      misuse ("object_get_instance called outside the script thread");
      return NULL;
    }
  object = g_hash_table_lookup (server->objects, id);
  if (object == NULL)
    return NULL;
  if (!g_str_equal (object->klass->name, bridge_value_object_get_class_name (value)))
    return NULL;
  if (klass != NULL && object->klass != klass)
    return NULL;
  return object->instance;
}

/* ---- calls ---------------------------------------------------------------- */

static ScriptlingCall *
call_new (BridgeServer *server,
          BridgeCallKind kind,
          const char *name,
          const BridgeRequest *request,
          BridgeBatch *batch)
{
  ScriptlingCall *call = g_new0 (ScriptlingCall, 1);

  call->server = server;
  call->kind = kind;
  call->name = g_strdup (name);
  call->id = request->has_id ? json_node_copy (request->id) : NULL;
  call->batch = batch;
  call->scope = bridge_callback_scope_new (call);
  return call;
}

static void
call_free (ScriptlingCall *call)
{
  bridge_callback_scope_invalidate (call->scope);
  bridge_callback_scope_unref (call->scope);
  bridge_value_unref (call->result);
  g_clear_pointer (&call->id, json_node_unref);
  g_free (call->error_message);
  g_free (call->name);
  g_free (call);
}

static const char *
error_kind_name (ScriptlingErrorKind kind)
{
  switch (kind)
    {
    case SCRIPTLING_ERROR_TYPE: return "TypeError";
    case SCRIPTLING_ERROR_VALUE: return "ValueError";
    case SCRIPTLING_ERROR_RUNTIME:
    default: return "RuntimeError";
    }
}

static void
call_set_error (ScriptlingCall *call,
                ScriptlingErrorKind kind,
                const char *message)
{
  if (call->failed)
    return;
  call->failed = TRUE;
  call->error_kind = kind;
  call->error_message = g_strdup (message != NULL && message[0] != '\0' ? message : "unknown error");
}

/* Sends the call's bridge_reply, invalidates its callbacks and frees it. */
static void
call_finish (ScriptlingCall *call)
{
  BridgeServer *server = call->server;
  gboolean has_id = call->id != NULL;

  g_ptr_array_remove_fast (server->deferred, call);
  /* Callbacks die with the call, before anyone can see the reply. */
  bridge_callback_scope_invalidate (call->scope);

  /* A deferred call may be completed (by a nested request) while one of
   * its own callbacks is still running in the host.  Its reply must not
   * overtake that callback: api_callback_call() sends it afterwards. */
  if (call->callbacks_in_flight > 0)
    {
      call->reply_held = TRUE;
      return;
    }

  if (!call->failed)
    {
      g_autoptr(GError) error = NULL;
      JsonNode *result;

      bridge_value_freeze (call->result);
      result = bridge_value_to_transport (call->result,
                                          bridge_registry_get_library_name (server->registry),
                                          &error);
      if (result != NULL)
        {
          bridge_reply_result (server, call->id, has_id, call->batch, result);
          call_free (call);
          return;
        }
      call->failed = TRUE;
      call->error_kind = SCRIPTLING_ERROR_RUNTIME;
      call->error_message = g_strdup_printf ("%s returned a value that cannot be sent to Scriptling: %s",
                                             call->name, error->message);
    }

  /* bridge_make_error() puts the kind into the message for Scriptling. */
  bridge_reply (server, has_id, call->batch,
                bridge_make_error (call->id, RPC_APPLICATION_ERROR, call->error_message,
                                   error_kind_name (call->error_kind)));
  call_free (call);
}

/* Called when the plugin function of @call has returned @ret. */
static void
call_frame_done (ScriptlingCall *call,
                 ScriptlingValue *ret)
{
  call->running = FALSE;
  if (call->failed)
    {
      bridge_value_unref (ret);
      call_finish (call);
      return;
    }
  if (call->deferred)
    {
      bridge_value_unref (ret);
      if (call->completed)
        call_finish (call);
      else
        g_ptr_array_add (call->server->deferred, call);
      return;
    }
  call->result = ret;
  call->completed = TRUE;
  call_finish (call);
}

static gboolean
check_call_entry (BridgeServer *server,
                  ScriptlingCall *call)
{
  if (server->depth >= BRIDGE_MAX_NESTING)
    {
      g_autofree char *message =
        g_strdup_printf ("too many nested calls into the plugin (the limit is %d)", BRIDGE_MAX_NESTING);
      call_set_error (call, SCRIPTLING_ERROR_RUNTIME, message);
      call_finish (call);
      return FALSE;
    }
  return TRUE;
}

static const char *
api_call_get_name (ScriptlingCall *call)
{
  return call != NULL ? call->name : NULL;
}

static void
api_call_raise (ScriptlingCall *call,
                ScriptlingErrorKind kind,
                const char *message)
{
  if (call == NULL)
    return;
  if (!on_script_thread (call->server))
    {
      misuse ("call_raise called outside the script thread");
      return;
    }
  if (call->running)
    {
      if (call->completed)
        misuse ("call_raise on %s after call_return; ignored", call->name);
      else
        call_set_error (call, kind, message);
      return;
    }
  if (call->deferred && !call->completed)
    {
      call_set_error (call, kind, message);
      call->completed = TRUE;
      call_finish (call);
      return;
    }
  misuse ("call_raise on %s, which is no longer in flight", call->name);
}

static bool
api_call_defer (ScriptlingCall *call)
{
  if (call == NULL || !on_script_thread (call->server))
    return false;
  if (!call->running || call->failed ||
      (call->kind != CALL_FUNCTION && call->kind != CALL_METHOD))
    return false;
  call->deferred = TRUE;
  return true;
}

static void
api_call_return (ScriptlingCall *call,
                 ScriptlingValue *result)
{
  if (call == NULL)
    {
      bridge_value_unref (result);
      return;
    }
  if (!on_script_thread (call->server))
    {
      misuse ("call_return called outside the script thread");
      bridge_value_unref (result);
      return;
    }
  if (!call->deferred || call->completed || call->failed)
    {
      misuse ("call_return on %s, which is not a pending deferred call; ignored", call->name);
      bridge_value_unref (result);
      return;
    }
  call->result = result;
  call->completed = TRUE;
  if (!call->running)
    call_finish (call);
}

/* ---- callbacks ------------------------------------------------------------ */

static void dispatch_one (BridgeServer *server);

static ScriptlingValue *
callback_fail (char **error_message,
               const char *format,
               ...) G_GNUC_PRINTF (2, 3);

static ScriptlingValue *
callback_fail (char **error_message,
               const char *format,
               ...)
{
  va_list ap;

  va_start (ap, format);
  if (error_message != NULL)
    *error_message = g_strdup_vprintf (format, ap);
  va_end (ap);
  return NULL;
}

static ScriptlingValue *
api_callback_call (const ScriptlingValue *callback,
                   size_t n_args,
                   const ScriptlingValue *const *args,
                   const ScriptlingValue *kwargs,
                   char **error_message)
{
  BridgeCallbackScope *scope = bridge_value_callback_get_scope (callback);
  const char *callback_id = bridge_value_callback_get_id (callback);
  BridgeServer *server = the_server;
  const char *library;
  ScriptlingCall *owner;
  g_autoptr(JsonObject) params = NULL;
  g_autoptr(JsonObject) request = NULL;
  g_autoptr(JsonNode) request_node = NULL;
  g_autoptr(GError) error = NULL;
  BridgeOutbound slot = { FALSE, NULL };
  gint64 id;

  if (error_message != NULL)
    *error_message = NULL;
  if (server == NULL)
    return callback_fail (error_message, "no host");
  if (scope == NULL)
    return callback_fail (error_message, "the value is a %s, not a callback",
                          server->api.value_type_name (bridge_value_get_type (callback)));
  if (!on_script_thread (server))
    {
      misuse ("callback_call called outside the script thread");
      return callback_fail (error_message, "callbacks can only be called on the script thread");
    }
  owner = bridge_callback_scope_get_owner (scope);
  if (owner == NULL)
    return callback_fail (error_message,
                          "callback %s can no longer be called: the call that received it has returned",
                          callback_id);
  if (server->eof || g_atomic_int_get (&server->output_broken))
    return callback_fail (error_message, "callback %s cannot be called: the host has closed the connection",
                          callback_id);

  library = bridge_registry_get_library_name (server->registry);
  params = json_object_new ();
  json_object_set_string_member (params, "id", callback_id);
  if (n_args > 0)
    {
      g_autoptr(JsonArray) array = json_array_new ();

      for (size_t i = 0; i < n_args; i++)
        {
          JsonNode *arg = bridge_value_to_transport (args[i], library, &error);
          if (arg == NULL)
            return callback_fail (error_message, "argument %zu of callback %s: %s",
                                  i, callback_id, error->message);
          json_array_add_element (array, arg);
        }
      json_object_set_array_member (params, "args", g_steal_pointer (&array));
    }
  if (kwargs != NULL && bridge_value_get_type (kwargs) == SCRIPTLING_VALUE_DICT &&
      bridge_value_dict_get_size (kwargs) > 0)
    {
      g_autoptr(JsonObject) object = json_object_new ();

      for (gsize i = 0; i < bridge_value_dict_get_size (kwargs); i++)
        {
          const char *key;
          const ScriptlingValue *value;
          JsonNode *encoded;

          bridge_value_dict_get_entry (kwargs, i, &key, &value);
          encoded = bridge_value_to_transport (value, library, &error);
          if (encoded == NULL)
            return callback_fail (error_message, "keyword argument '%s' of callback %s: %s",
                                  key, callback_id, error->message);
          json_object_set_member (object, key, encoded);
        }
      json_object_set_object_member (params, "kwargs", g_steal_pointer (&object));
    }
  else if (kwargs != NULL && bridge_value_get_type (kwargs) != SCRIPTLING_VALUE_DICT)
    return callback_fail (error_message, "keyword arguments of callback %s must be a dict", callback_id);

  id = g_atomic_int_add (&server->next_outbound_id, 1);
  request = json_object_new ();
  json_object_set_string_member (request, "jsonrpc", "2.0");
  json_object_set_int_member (request, "id", id);
  json_object_set_string_member (request, "method", "callback.call");
  json_object_set_object_member (request, "params", g_steal_pointer (&params));
  request_node = bridge_json_node_take_object (g_steal_pointer (&request));

  g_hash_table_insert (server->outbound, g_memdup2 (&id, sizeof id), &slot);
  if (!bridge_write_message (server, request_node))
    {
      g_hash_table_remove (server->outbound, &id);
      return callback_fail (error_message, "callback %s cannot be called: the host has closed the connection",
                            callback_id);
    }

  /* Serve everything else until our reply arrives. */
  owner->callbacks_in_flight++;
  server->waits++;
  while (!slot.done && !server->eof)
    dispatch_one (server);
  server->waits--;
  g_hash_table_remove (server->outbound, &id);
  if (--owner->callbacks_in_flight == 0 && owner->reply_held)
    {
      owner->reply_held = FALSE;
      call_finish (owner);
    }

  if (!slot.done)
    return callback_fail (error_message, "callback %s failed: the host closed the connection", callback_id);

  {
    g_autoptr(JsonNode) response = slot.response;
    JsonObject *object = json_node_get_object (response);
    JsonNode *error_node = json_object_get_member (object, "error");
    JsonNode *result_node = json_object_get_member (object, "result");
    BridgeDecodeContext context = { library, NULL };
    ScriptlingValue *result;

    if (error_node != NULL && !JSON_NODE_HOLDS_NULL (error_node))
      {
        const char *message = JSON_NODE_HOLDS_OBJECT (error_node)
                              ? bridge_member_string (json_node_get_object (error_node), "message") : NULL;
        return callback_fail (error_message, "%s", message != NULL ? message : "callback failed");
      }
    /* A bare or missing null result is tolerated, like the host does. */
    if (result_node == NULL || JSON_NODE_HOLDS_NULL (result_node))
      return bridge_value_new_null ();
    result = bridge_value_from_transport (result_node, &context, "result", &error);
    if (result == NULL)
      return callback_fail (error_message, "callback %s returned an invalid value: %s",
                            callback_id, error->message);
    return result;
  }
}

static void
route_response (BridgeServer *server,
                gint64 id,
                JsonNode *node)
{
  BridgeOutbound *slot = g_hash_table_lookup (server->outbound, &id);
  JsonObject *object = json_node_get_object (node);

  if (slot != NULL)
    {
      slot->response = json_node_ref (node);
      slot->done = TRUE;
      return;
    }
  /* host.log replies land here; only their errors are worth a word. */
  if (json_object_has_member (object, "error"))
    {
      g_autofree char *text = bridge_json_to_string (node, NULL);
      g_printerr ("scriptling-plugin-bridge: the host returned an error for request %" G_GINT64_FORMAT ": %s\n",
                  id, text != NULL ? text : "?");
    }
}

/* ---- request handlers ----------------------------------------------------- */

/* Decodes "args" and "kwargs" of a call request. */
static gboolean
decode_arguments (BridgeServer *server,
                  ScriptlingCall *call,
                  JsonObject *params,
                  GPtrArray **args_out,
                  ScriptlingValue **kwargs_out,
                  GError **error)
{
  BridgeDecodeContext context = { bridge_registry_get_library_name (server->registry), call->scope };
  JsonNode *args_node = params != NULL ? json_object_get_member (params, "args") : NULL;
  JsonNode *kwargs_node = params != NULL ? json_object_get_member (params, "kwargs") : NULL;
  g_autoptr(GPtrArray) args = g_ptr_array_new_with_free_func ((GDestroyNotify) bridge_value_unref);
  g_autoptr(ScriptlingValue) kwargs = bridge_value_new_dict ();

  if (args_node != NULL && JSON_NODE_HOLDS_ARRAY (args_node))
    {
      JsonArray *array = json_node_get_array (args_node);

      for (guint i = 0; i < json_array_get_length (array); i++)
        {
          g_autofree char *path = g_strdup_printf ("args[%u]", i);
          ScriptlingValue *value = bridge_value_from_transport (json_array_get_element (array, i),
                                                                &context, path, error);
          if (value == NULL)
            return FALSE;
          g_ptr_array_add (args, value);
        }
    }
  else if (args_node != NULL && !JSON_NODE_HOLDS_NULL (args_node))
    {
      g_set_error_literal (error, BRIDGE_VALUE_ERROR, BRIDGE_VALUE_ERROR_INVALID,
                           "\"args\" must be an array");
      return FALSE;
    }

  if (kwargs_node != NULL && JSON_NODE_HOLDS_OBJECT (kwargs_node))
    {
      JsonObjectIter iter;
      const char *key;
      JsonNode *member;

      json_object_iter_init_ordered (&iter, json_node_get_object (kwargs_node));
      while (json_object_iter_next_ordered (&iter, &key, &member))
        {
          g_autofree char *path = g_strdup_printf ("kwargs[\"%s\"]", key);
          ScriptlingValue *value = bridge_value_from_transport (member, &context, path, error);
          if (value == NULL)
            return FALSE;
          bridge_value_dict_set (kwargs, key, value);
        }
    }
  else if (kwargs_node != NULL && !JSON_NODE_HOLDS_NULL (kwargs_node))
    {
      g_set_error_literal (error, BRIDGE_VALUE_ERROR, BRIDGE_VALUE_ERROR_INVALID,
                           "\"kwargs\" must be an object");
      return FALSE;
    }

  bridge_value_freeze (kwargs);
  *args_out = g_steal_pointer (&args);
  *kwargs_out = g_steal_pointer (&kwargs);
  return TRUE;
}

/* Common refusals before plugin code may run. */
static gboolean
check_serving (BridgeServer *server,
               const BridgeRequest *request,
               BridgeBatch *batch)
{
  if (server->load_error != NULL)
    {
      bridge_reply_error (server, request->id, request->has_id, batch, RPC_APPLICATION_ERROR,
                          server->load_error);
      return FALSE;
    }
  if (g_atomic_int_get (&server->shut_down))
    {
      bridge_reply_error (server, request->id, request->has_id, batch, RPC_APPLICATION_ERROR,
                          "the plugin has been shut down");
      return FALSE;
    }
  return TRUE;
}

static void
handle_handshake (BridgeServer *server,
                  const BridgeRequest *request,
                  BridgeBatch *batch)
{
  const char *protocol = bridge_member_string (request->params, "protocol");
  JsonNode *transports = request->params != NULL
                         ? json_object_get_member (request->params, "transports") : NULL;

  if (server->load_error != NULL)
    {
      bridge_reply_error (server, request->id, request->has_id, batch, RPC_APPLICATION_ERROR,
                          server->load_error);
      return;
    }
  if (request->params != NULL && json_object_has_member (request->params, "protocol") &&
      (protocol == NULL || !g_str_equal (protocol, "1.0")))
    {
      bridge_reply_error_printf (server, request->id, request->has_id, batch, RPC_APPLICATION_ERROR,
                                 "unsupported protocol \"%s\" (this plugin speaks protocol 1.0)",
                                 protocol != NULL ? protocol : "?");
      return;
    }
  if (transports != NULL && !JSON_NODE_HOLDS_NULL (transports))
    {
      gboolean json = FALSE;

      if (JSON_NODE_HOLDS_ARRAY (transports))
        {
          JsonArray *array = json_node_get_array (transports);
          for (guint i = 0; i < json_array_get_length (array); i++)
            {
              JsonNode *t = json_array_get_element (array, i);
              if (JSON_NODE_HOLDS_VALUE (t) && json_node_get_value_type (t) == G_TYPE_STRING &&
                  g_str_equal (json_node_get_string (t), "json"))
                json = TRUE;
            }
        }
      if (!json)
        {
          bridge_reply_error (server, request->id, request->has_id, batch, RPC_APPLICATION_ERROR,
                              "the host offers no \"json\" transport, the only one this plugin speaks");
          return;
        }
    }

  bridge_reply_result (server, request->id, request->has_id, batch, json_node_copy (server->handshake));
  /* From now on the host reads plugin logs. */
  g_atomic_int_set (&server->handshake_done, 1);
}

static void
handle_function_call (BridgeServer *server,
                      const BridgeRequest *request,
                      BridgeBatch *batch)
{
  const char *name = bridge_member_string (request->params, "name");
  ScriptlingFunction *fn;
  ScriptlingCall *call;
  g_autoptr(GPtrArray) args = NULL;
  g_autoptr(ScriptlingValue) kwargs = NULL;
  g_autoptr(GError) error = NULL;
  ScriptlingValue *ret;

  if (!check_serving (server, request, batch))
    return;
  if (name == NULL)
    {
      bridge_reply_error (server, request->id, request->has_id, batch, RPC_INVALID_PARAMS,
                          "invalid params: function.call needs a string \"name\"");
      return;
    }
  fn = bridge_registry_lookup_function (server->registry, name);
  if (fn == NULL)
    {
      bridge_reply_error_printf (server, request->id, request->has_id, batch, RPC_APPLICATION_ERROR,
                                 "unknown function '%s' in library '%s'", name,
                                 bridge_registry_get_library_name (server->registry));
      return;
    }
  if (fn->func == NULL)
    {
      bridge_reply_error_printf (server, request->id, request->has_id, batch, RPC_APPLICATION_ERROR,
                                 "function '%s' is only defined by its wrapper source", name);
      return;
    }

  call = call_new (server, CALL_FUNCTION, name, request, batch);
  if (!decode_arguments (server, call, request->params, &args, &kwargs, &error))
    {
      bridge_reply_error_printf (server, request->id, request->has_id, batch, RPC_INVALID_PARAMS,
                                 "invalid params for %s: %s", name, error->message);
      call->batch = NULL;
      call_free (call);
      return;
    }
  if (!check_call_entry (server, call))
    return;

  server->depth++;
  call->running = TRUE;
  ret = fn->func (call, args->len, (const ScriptlingValue *const *) args->pdata, kwargs, fn->user_data);
  server->depth--;
  call_frame_done (call, ret);
}

static void
handle_object_new (BridgeServer *server,
                   const BridgeRequest *request,
                   BridgeBatch *batch)
{
  const char *class_name = bridge_member_string (request->params, "class");
  const char *library = bridge_registry_get_library_name (server->registry);
  ScriptlingClass *klass;
  ScriptlingCall *call;
  g_autoptr(GPtrArray) args = NULL;
  g_autoptr(ScriptlingValue) kwargs = NULL;
  g_autoptr(GError) error = NULL;
  void *instance;

  if (!check_serving (server, request, batch))
    return;
  if (class_name == NULL)
    {
      bridge_reply_error (server, request->id, request->has_id, batch, RPC_INVALID_PARAMS,
                          "invalid params: object.new needs a string \"class\"");
      return;
    }
  klass = bridge_registry_lookup_class (server->registry, class_name);
  if (klass == NULL)
    {
      bridge_reply_error_printf (server, request->id, request->has_id, batch, RPC_APPLICATION_ERROR,
                                 "unknown class '%s' in library '%s'", class_name, library);
      return;
    }
  if (klass->ctor == NULL)
    {
      g_autofree char *message = g_strdup_printf ("cannot create '%s' instances", class_name);
      bridge_reply (server, request->has_id, batch,
                    bridge_make_error (request->id, RPC_APPLICATION_ERROR, message, "TypeError"));
      return;
    }

  call = call_new (server, CALL_CONSTRUCTOR, class_name, request, batch);
  if (!decode_arguments (server, call, request->params, &args, &kwargs, &error))
    {
      bridge_reply_error_printf (server, request->id, request->has_id, batch, RPC_INVALID_PARAMS,
                                 "invalid params for %s(): %s", class_name, error->message);
      call->batch = NULL;
      call_free (call);
      return;
    }
  if (!check_call_entry (server, call))
    return;

  server->depth++;
  call->running = TRUE;
  instance = klass->ctor (call, args->len, (const ScriptlingValue *const *) args->pdata, kwargs,
                          klass->user_data);
  call->running = FALSE;
  server->depth--;

  if (call->failed || instance == NULL)
    {
      /* An instance returned together with an error would leak. */
      if (instance != NULL && klass->dtor != NULL)
        klass->dtor (instance, klass->user_data);
      if (!call->failed)
        call_set_error (call, SCRIPTLING_ERROR_RUNTIME, "the constructor failed");
      call_finish (call);
      return;
    }

  {
    BridgeObject *object = g_new0 (BridgeObject, 1);
    JsonObject *ref = json_object_new ();

    object->serial = ++server->next_object_serial;
    object->id = g_strdup_printf ("%" G_GUINT64_FORMAT, object->serial);
    object->klass = klass;
    object->instance = instance;
    g_hash_table_insert (server->objects, object->id, object);

    json_object_set_string_member (ref, "library", library);
    json_object_set_string_member (ref, "class", klass->name);
    json_object_set_string_member (ref, "id", object->id);
    bridge_callback_scope_invalidate (call->scope);
    bridge_reply_result (server, call->id, call->id != NULL, batch, bridge_json_node_take_object (ref));
    call_free (call);
  }
}

static void
handle_call_method (BridgeServer *server,
                    const BridgeRequest *request,
                    BridgeBatch *batch)
{
  const char *object_id = bridge_member_string (request->params, "object_id");
  const char *method = bridge_member_string (request->params, "method");
  BridgeObject *object;
  BridgeMember *member;
  ScriptlingCall *call;
  BridgeCallKind kind = CALL_METHOD;
  g_autoptr(GPtrArray) args = NULL;
  g_autoptr(ScriptlingValue) kwargs = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *name = NULL;
  ScriptlingValue *ret = NULL;

  if (!check_serving (server, request, batch))
    return;
  if (object_id == NULL || method == NULL)
    {
      bridge_reply_error (server, request->id, request->has_id, batch, RPC_INVALID_PARAMS,
                          "invalid params: object.call_method needs string \"object_id\" and \"method\"");
      return;
    }
  object = g_hash_table_lookup (server->objects, object_id);
  if (object == NULL)
    {
      bridge_reply_error_printf (server, request->id, request->has_id, batch, RPC_APPLICATION_ERROR,
                                 "unknown object id '%s' (it was destroyed or never existed)", object_id);
      return;
    }
  member = bridge_class_lookup_member (object->klass, method);
  if (member == NULL)
    {
      bridge_reply_error_printf (server, request->id, request->has_id, batch, RPC_APPLICATION_ERROR,
                                 "'%s' object has no attribute '%s'", object->klass->name, method);
      return;
    }

  name = g_strdup_printf ("%s.%s", object->klass->name, method);
  call = call_new (server, CALL_METHOD, name, request, batch);
  if (!decode_arguments (server, call, request->params, &args, &kwargs, &error))
    {
      bridge_reply_error_printf (server, request->id, request->has_id, batch, RPC_INVALID_PARAMS,
                                 "invalid params for %s: %s", name, error->message);
      call->batch = NULL;
      call_free (call);
      return;
    }

  if (member->is_property)
    {
      /* The host reads a property with no arguments and writes it with
       * exactly one positional argument. */
      if (args->len == 0 && bridge_value_dict_get_size (kwargs) == 0)
        kind = CALL_GETTER;
      else if (args->len == 1 && bridge_value_dict_get_size (kwargs) == 0)
        kind = CALL_SETTER;
      else
        {
          call_set_error (call, SCRIPTLING_ERROR_TYPE,
                          "a property takes no argument to read it or one to write it");
          call_finish (call);
          return;
        }
      if (kind == CALL_SETTER && member->setter == NULL)
        {
          g_autofree char *message =
            g_strdup_printf ("can't set attribute '%s': property is read-only", method);
          call_set_error (call, SCRIPTLING_ERROR_RUNTIME, message);
          call_finish (call);
          return;
        }
    }
  call->kind = kind;
  if (!check_call_entry (server, call))
    return;

  object->busy++;
  server->depth++;
  call->running = TRUE;
  switch (kind)
    {
    case CALL_GETTER:
      ret = member->getter (call, object->instance, member->user_data);
      break;
    case CALL_SETTER:
      if (!member->setter (call, object->instance, g_ptr_array_index (args, 0), member->user_data) &&
          !call->failed)
        call_set_error (call, SCRIPTLING_ERROR_RUNTIME, "setting the property failed");
      break;
    case CALL_METHOD:
    case CALL_FUNCTION:
    case CALL_CONSTRUCTOR:
    default:
      ret = member->method (call, object->instance, args->len,
                            (const ScriptlingValue *const *) args->pdata, kwargs, member->user_data);
      break;
    }
  server->depth--;
  call_frame_done (call, ret);
  object_release_busy (server, object);
}

static void do_shutdown (BridgeServer *server);

static void
handle_shutdown (BridgeServer *server,
                 const BridgeRequest *request,
                 BridgeBatch *batch)
{
  g_atomic_int_set (&server->shut_down, 1);
  /* With plugin calls still on the stack (a shutdown that arrived while a
   * callback was awaited) the clean-up waits until they have unwound. */
  if (server->waits == 0 && server->load_error == NULL)
    do_shutdown (server);
  bridge_reply_result (server, request->id, request->has_id, batch, NULL);
}

static void
process_request (BridgeServer *server,
                 JsonObject *object,
                 BridgeBatch *batch)
{
  BridgeRequest request;
  int code = 0;
  g_autofree char *message = NULL;

  if (!bridge_parse_envelope (object, &request, &code, &message))
    {
      bridge_reply (server, TRUE, batch, bridge_make_error (request.id, code, message, NULL));
      return;
    }

  if (g_str_equal (request.method, "scriptling.handshake"))
    handle_handshake (server, &request, batch);
  else if (g_str_equal (request.method, "function.call"))
    handle_function_call (server, &request, batch);
  else if (g_str_equal (request.method, "object.new"))
    handle_object_new (server, &request, batch);
  else if (g_str_equal (request.method, "object.call_method"))
    handle_call_method (server, &request, batch);
  else if (g_str_equal (request.method, "object.destroy"))
    {
      const char *object_id = bridge_member_string (request.params, "object_id");

      if (object_id == NULL)
        bridge_reply_error (server, request.id, request.has_id, batch, RPC_INVALID_PARAMS,
                            "invalid params: object.destroy needs a string \"object_id\"");
      else
        {
          if (server->load_error == NULL)
            object_destroy (server, object_id);
          bridge_reply_result (server, request.id, request.has_id, batch, NULL);
        }
    }
  else if (g_str_equal (request.method, "plugin.shutdown"))
    handle_shutdown (server, &request, batch);
  else if (g_str_equal (request.method, "environment.open") ||
           g_str_equal (request.method, "environment.close"))
    bridge_reply_result (server, request.id, request.has_id, batch, NULL);
  else
    bridge_reply_error_printf (server, request.id, request.has_id, batch, RPC_METHOD_NOT_FOUND,
                               "unknown method %s", request.method);
}

static void
process_batch (BridgeServer *server,
               JsonArray *array)
{
  guint n = json_array_get_length (array);
  BridgeBatch *batch;

  if (n == 0)
    {
      g_autoptr(JsonNode) response = bridge_make_error (NULL, RPC_INVALID_REQUEST,
                                                        "invalid request: empty batch", NULL);
      bridge_write_message (server, response);
      return;
    }

  batch = bridge_batch_new ();
  for (guint i = 0; i < n; i++)
    {
      JsonNode *element = json_array_get_element (array, i);

      if (JSON_NODE_HOLDS_OBJECT (element))
        {
          JsonObject *object = json_node_get_object (element);
          JsonNode *id = json_object_get_member (object, "id");

          /* Replies to our own requests may come batched too. */
          if (!json_object_has_member (object, "method") &&
              (json_object_has_member (object, "result") || json_object_has_member (object, "error")))
            {
              if (id != NULL && JSON_NODE_HOLDS_VALUE (id) && json_node_get_value_type (id) == G_TYPE_INT64)
                route_response (server, json_node_get_int (id), element);
              continue;
            }
          batch->pending++;
          process_request (server, object, batch);
        }
      else
        {
          batch->pending++;
          bridge_reply (server, TRUE, batch,
                        bridge_make_error (NULL, RPC_INVALID_REQUEST,
                             "invalid request: a batch element must be an object", NULL));
        }
    }
  bridge_batch_release (server, batch);
}

/* ---- pump, shutdown, event loop ------------------------------------------- */

static void
run_pump (BridgeServer *server)
{
  if (server->pump_func == NULL || g_atomic_int_get (&server->shut_down) || server->load_error != NULL)
    return;
  /* Never re-entered: a wake-up during the pump runs it once more after. */
  if (server->in_pump)
    {
      server->pump_again = TRUE;
      return;
    }
  server->in_pump = TRUE;
  do
    {
      server->pump_again = FALSE;
      server->depth++;
      server->pump_func (server->pump_data);
      server->depth--;
    }
  while (server->pump_again && !g_atomic_int_get (&server->shut_down));
  server->in_pump = FALSE;
}

static void
do_shutdown (BridgeServer *server)
{
  if (server->shutdown_done)
    return;
  server->shutdown_done = TRUE;
  g_atomic_int_set (&server->shut_down, 1);
  if (server->load_error != NULL)
    return;

  destroy_all_objects (server);
  if (server->shutdown_func != NULL)
    {
      server->depth++;
      server->shutdown_func (server->shutdown_data);
      server->depth--;
    }
  /* Whatever the plugin left pending can never complete now. */
  while (server->deferred->len > 0)
    {
      ScriptlingCall *call = g_ptr_array_index (server->deferred, 0);

      call_set_error (call, SCRIPTLING_ERROR_RUNTIME, "the plugin shut down before the call completed");
      call->completed = TRUE;
      call_finish (call);
    }
}

static void
dispatch_one (BridgeServer *server)
{
  BridgeEvent *event = g_async_queue_pop (server->events);

  tsan_acquire (server->events);

  switch (event->type)
    {
    case EVENT_MESSAGE:
      if (JSON_NODE_HOLDS_ARRAY (event->node))
        process_batch (server, json_node_get_array (event->node));
      else
        process_request (server, json_node_get_object (event->node), NULL);
      break;
    case EVENT_RESPONSE:
      route_response (server, event->id, event->node);
      break;
    case EVENT_DESTROY:
      if (server->load_error == NULL)
        object_destroy (server, event->object_id);
      break;
    case EVENT_WAKEUP:
      g_atomic_int_set (&server->wakeup_pending, 0);
      run_pump (server);
      break;
    case EVENT_EOF:
      server->eof = TRUE;
      break;
    default:
      g_assert_not_reached ();
    }
  bridge_event_free (event);
}

/**
 * bridge_server_run:
 * @server: a server (loaded, or with a load error set)
 *
 * Serves the host until stdin reaches EOF, then destroys the remaining
 * objects and runs the plugin's shutdown hook (unless plugin.shutdown did
 * so already).  Must run on the thread that created @server.
 *
 * Returns: the process exit status: 0, or 1 if the plugin failed to load
 */
int
bridge_server_run (BridgeServer *server)
{
  g_return_val_if_fail (on_script_thread (server), 1);

  server->reader = g_thread_new ("bridge-reader", bridge_reader_thread, server);
  while (!server->eof)
    {
      dispatch_one (server);
      if (g_atomic_int_get (&server->shut_down) && !server->shutdown_done)
        do_shutdown (server);
    }
  do_shutdown (server);
  g_thread_join (g_steal_pointer (&server->reader));
  return server->load_error != NULL ? 1 : 0;
}

/* ---- host services --------------------------------------------------------- */

static void
api_wakeup (ScriptlingHost *host)
{
  if (host == NULL || g_atomic_int_get (&host->shut_down))
    return;
  if (g_atomic_int_compare_and_exchange (&host->wakeup_pending, 0, 1))
    bridge_push_event (host, EVENT_WAKEUP, NULL, 0, NULL);
}

static const char *
log_level_name (ScriptlingLogLevel level)
{
  switch (level)
    {
    case SCRIPTLING_LOG_TRACE: return "trace";
    case SCRIPTLING_LOG_DEBUG: return "debug";
    case SCRIPTLING_LOG_WARNING: return "warn";
    case SCRIPTLING_LOG_ERROR: return "error";
    case SCRIPTLING_LOG_INFO:
    default: return "info";
    }
}

static void
api_log (ScriptlingHost *host,
         ScriptlingLogLevel level,
         const char *message,
         const ScriptlingValue *fields)
{
  g_autofree char *text = g_utf8_make_valid (message != NULL ? message : "", -1);
  g_autoptr(JsonObject) params = NULL;
  g_autoptr(JsonObject) request = NULL;
  g_autoptr(JsonNode) node = NULL;

  if (host == NULL)
    return;
  if (g_atomic_int_get (&host->handshake_done))
    {
      params = json_object_new ();
      json_object_set_string_member (params, "level", log_level_name (level));
      json_object_set_string_member (params, "message", text);
      if (bridge_value_get_type (fields) == SCRIPTLING_VALUE_LIST)
        {
          g_autoptr(JsonNode) encoded = bridge_value_to_transport (fields, NULL, NULL);
          JsonNode *items = encoded != NULL
                            ? json_object_get_member (json_node_get_object (encoded), "items") : NULL;
          if (items != NULL)
            json_object_set_member (params, "args", json_node_copy (items));
        }
      request = json_object_new ();
      json_object_set_string_member (request, "jsonrpc", "2.0");
      /* A request rather than a notification, as the official SDKs send
       * it; the reply is not waited for. */
      json_object_set_int_member (request, "id", g_atomic_int_add (&host->next_outbound_id, 1));
      json_object_set_string_member (request, "method", "host.log");
      json_object_set_object_member (request, "params", g_steal_pointer (&params));
      node = bridge_json_node_take_object (g_steal_pointer (&request));
      if (bridge_write_message (host, node))
        return;
    }
  /* Before the handshake (the host reads nothing else yet) or without a
   * host: stderr, which Scriptling passes through. */
  g_printerr ("scriptling-plugin-bridge: [%s] %s\n", log_level_name (level), text);
}

static void
api_free (void *data)
{
  g_free (data);
}

static ScriptlingModule *
api_register_module (ScriptlingHost *host,
                     const char *name,
                     const char *description)
{
  if (host == NULL || host->registry == NULL)
    {
      misuse ("register_module called without a valid host");
      return NULL;
    }
  return bridge_registry_register_module (host->registry, name, description);
}

static gboolean
in_init (ScriptlingHost *host,
         const char *what)
{
  if (host == NULL || host->registry == NULL || host->handshake != NULL)
    {
      misuse ("%s is only possible during the plugin's init function", what);
      return FALSE;
    }
  return TRUE;
}

static void
api_set_pump_func (ScriptlingHost *host,
                   ScriptlingHookFunc func,
                   void *user_data)
{
  if (!in_init (host, "set_pump_func"))
    return;
  host->pump_func = func;
  host->pump_data = user_data;
}

static void
api_set_shutdown_func (ScriptlingHost *host,
                       ScriptlingHookFunc func,
                       void *user_data)
{
  if (!in_init (host, "set_shutdown_func"))
    return;
  host->shutdown_func = func;
  host->shutdown_data = user_data;
}
/* ---- construction and loading ---------------------------------------------- */

/**
 * bridge_server_new:
 * @in_fd: file descriptor the host's messages are read from
 * @out_fd: file descriptor messages to the host are written to
 *
 * Creates the host.  The calling thread becomes the script thread.  Only
 * one server may exist at a time.
 *
 * Returns: (transfer full): the server
 */
BridgeServer *
bridge_server_new (int in_fd,
                   int out_fd)
{
  BridgeServer *server = g_new0 (BridgeServer, 1);

  g_return_val_if_fail (the_server == NULL, NULL);

  server->api.struct_size = sizeof (ScriptlingHostApi);
  server->api.abi_version = SCRIPTLING_PLUGIN_ABI_VERSION;
  server->api.host_name = "scriptling-plugin-bridge";
  server->api.host_version = PACKAGE_VERSION;
  bridge_value_fill_api (&server->api);
  bridge_registry_fill_api (&server->api);
  server->api.register_module = api_register_module;
  server->api.set_pump_func = api_set_pump_func;
  server->api.set_shutdown_func = api_set_shutdown_func;
  server->api.object_get_instance = api_object_get_instance;
  server->api.call_get_name = api_call_get_name;
  server->api.call_raise = api_call_raise;
  server->api.call_defer = api_call_defer;
  server->api.call_return = api_call_return;
  server->api.callback_call = api_callback_call;
  server->api.wakeup = api_wakeup;
  server->api.log = api_log;
  server->api.free = api_free;

  server->script_thread = g_thread_self ();
  server->debug = g_strcmp0 (g_getenv ("SCRIPTLING_BRIDGE_DEBUG"), "1") == 0;
  server->in_fd = in_fd;
  server->out_fd = out_fd;
  server->events = g_async_queue_new_full (bridge_event_free);
  g_mutex_init (&server->write_lock);
  server->next_outbound_id = BRIDGE_FIRST_OUTBOUND_ID;
  server->outbound = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free, NULL);
  server->objects = g_hash_table_new (g_str_hash, g_str_equal);
  server->deferred = g_ptr_array_new ();

  the_server = server;
  return server;
}

/**
 * bridge_server_free:
 * @server: (nullable): the server
 *
 * Frees the server and the plugin's registrations (running its free
 * functions).  Runs the shutdown sequence first if bridge_server_run() did
 * not.  Must run on the script thread.
 */
void
bridge_server_free (BridgeServer *server)
{
  if (server == NULL)
    return;
  if (server->registry != NULL && !server->shutdown_done)
    do_shutdown (server);
  bridge_registry_free (server->registry);
  g_clear_pointer (&server->module, g_module_close);
  g_clear_pointer (&server->handshake, json_node_unref);
  g_hash_table_unref (server->objects);
  g_hash_table_unref (server->outbound);
  g_ptr_array_unref (server->deferred);
  g_async_queue_unref (server->events);
  g_mutex_clear (&server->write_lock);
  g_free (server->load_error);
  g_free (server);
  the_server = NULL;
}
