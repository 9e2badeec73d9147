/* bridge-value.h — ScriptlingValue and its transport encoding.
 *
 * Copyright the scriptling-gossip authors.
 * SPDX-License-Identifier: MIT
 */

#pragma once

#include <json-glib/json-glib.h>

#include "scriptling-plugin.h"

G_BEGIN_DECLS

/**
 * BRIDGE_VALUE_ERROR:
 *
 * Error domain for #BridgeValueError.
 */
#define BRIDGE_VALUE_ERROR (bridge_value_error_quark ())
GQuark bridge_value_error_quark (void);

/**
 * BridgeValueError:
 * @BRIDGE_VALUE_ERROR_INVALID: a transport value from the host is malformed
 *   (the request's params are invalid)
 * @BRIDGE_VALUE_ERROR_UNSUPPORTED: a plugin value cannot be sent to the
 *   host (callback, non-finite float, nesting too deep)
 *
 * Failures of the transport codec.
 */
typedef enum {
  BRIDGE_VALUE_ERROR_INVALID,
  BRIDGE_VALUE_ERROR_UNSUPPORTED,
} BridgeValueError;

/**
 * BRIDGE_VALUE_MAX_DEPTH:
 *
 * Deepest list/dict nesting the encoder writes.  Values decoded from the
 * wire are bounded by the JSON parser's own limit.
 */
#define BRIDGE_VALUE_MAX_DEPTH 128

/**
 * BridgeCallbackScope:
 *
 * Shared validity flag of the callbacks that arrived with one call.  The
 * server invalidates it when the call completes, after which the callback
 * values it owns refuse to be called.  Reference-counted, thread-safe.
 */
typedef struct _BridgeCallbackScope BridgeCallbackScope;

BridgeCallbackScope *bridge_callback_scope_new (gpointer owner);
BridgeCallbackScope *bridge_callback_scope_ref (BridgeCallbackScope *scope);
void bridge_callback_scope_unref (BridgeCallbackScope *scope);
void bridge_callback_scope_invalidate (BridgeCallbackScope *scope);
gboolean bridge_callback_scope_is_valid (BridgeCallbackScope *scope);
gpointer bridge_callback_scope_get_owner (BridgeCallbackScope *scope);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (BridgeCallbackScope, bridge_callback_scope_unref)

/**
 * BridgeDecodeContext:
 * @library: the module name; object references must name it (with or
 *   without the `plugin.` prefix the host may add)
 * @scope: (nullable): owner of callback values; %NULL rejects callbacks
 *
 * What bridge_value_from_transport() needs to know about the request.
 */
typedef struct {
  const char *library;
  BridgeCallbackScope *scope;
} BridgeDecodeContext;

void bridge_value_fill_api (ScriptlingHostApi *api);

ScriptlingValue *bridge_value_new_null (void);
ScriptlingValue *bridge_value_new_bool (bool value);
ScriptlingValue *bridge_value_new_int (int64_t value);
ScriptlingValue *bridge_value_new_float (double value);
ScriptlingValue *bridge_value_new_string (const char *utf8);
ScriptlingValue *bridge_value_new_list (void);
ScriptlingValue *bridge_value_new_dict (void);
ScriptlingValue *bridge_value_new_object (const char *class_name,
                                          const char *id);
ScriptlingValue *bridge_value_new_callback (const char *id,
                                            BridgeCallbackScope *scope);
ScriptlingValue *bridge_value_ref (const ScriptlingValue *value);
void bridge_value_unref (ScriptlingValue *value);
ScriptlingValueType bridge_value_get_type (const ScriptlingValue *value);
gboolean bridge_value_list_append (ScriptlingValue *list,
                                   ScriptlingValue *item);
gboolean bridge_value_dict_set (ScriptlingValue *dict,
                                const char *key,
                                ScriptlingValue *value);
gsize bridge_value_dict_get_size (const ScriptlingValue *dict);
gboolean bridge_value_dict_get_entry (const ScriptlingValue *dict,
                                      gsize index,
                                      const char **key,
                                      const ScriptlingValue **value);
const char *bridge_value_object_get_id (const ScriptlingValue *value);
const char *bridge_value_object_get_class_name (const ScriptlingValue *value);
const char *bridge_value_callback_get_id (const ScriptlingValue *value);
BridgeCallbackScope *bridge_value_callback_get_scope (const ScriptlingValue *value);
void bridge_value_freeze (ScriptlingValue *value);

ScriptlingValue *bridge_value_from_transport (JsonNode *node,
                                              const BridgeDecodeContext *context,
                                              const char *path,
                                              GError **error);
JsonNode *bridge_value_to_transport (const ScriptlingValue *value,
                                     const char *library,
                                     GError **error);
gboolean bridge_value_is_sendable (const ScriptlingValue *value,
                                   GError **error);
gboolean bridge_library_name_matches (const char *registered,
                                      const char *given);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (ScriptlingValue, bridge_value_unref)

G_END_DECLS
