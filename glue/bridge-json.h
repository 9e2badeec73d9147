/* bridge-json.h — strict JSON text <-> JsonNode for the stdio bridge.
 *
 * Copyright the scriptling-gossip authors.
 * SPDX-License-Identifier: MIT
 */

#pragma once

#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/**
 * BRIDGE_JSON_ERROR:
 *
 * Error domain for #BridgeJsonError.
 */
#define BRIDGE_JSON_ERROR (bridge_json_error_quark ())
GQuark bridge_json_error_quark (void);

/**
 * BridgeJsonError:
 * @BRIDGE_JSON_ERROR_SYNTAX: the text is not one RFC 8259 JSON value
 * @BRIDGE_JSON_ERROR_DEPTH: arrays/objects are nested deeper than allowed
 * @BRIDGE_JSON_ERROR_RANGE: a number is not representable as a double
 * @BRIDGE_JSON_ERROR_UNSUPPORTED: valid JSON that the bridge cannot carry
 *   (a NUL character in a string) or cannot write (a non-finite double)
 *
 * Failures of bridge_json_parse() and bridge_json_write().
 */
typedef enum {
  BRIDGE_JSON_ERROR_SYNTAX,
  BRIDGE_JSON_ERROR_DEPTH,
  BRIDGE_JSON_ERROR_RANGE,
  BRIDGE_JSON_ERROR_UNSUPPORTED,
} BridgeJsonError;

/**
 * BRIDGE_JSON_MAX_DEPTH:
 *
 * Deepest array/object nesting accepted from the wire.  The parser recurses
 * once per level, so the limit bounds stack use.
 */
#define BRIDGE_JSON_MAX_DEPTH 200

/**
 * BRIDGE_JSON_DOUBLE_BUF_SIZE:
 *
 * Size of the buffer bridge_json_format_double() needs.
 */
#define BRIDGE_JSON_DOUBLE_BUF_SIZE 40

JsonNode *bridge_json_parse (const char *data,
                             gsize length,
                             GError **error);

gboolean bridge_json_write (GString *out,
                            JsonNode *node,
                            GError **error);

char *bridge_json_to_string (JsonNode *node,
                             GError **error);

JsonNode *bridge_json_node_take_object (JsonObject *object);
JsonNode *bridge_json_node_take_array (JsonArray *array);

gboolean bridge_json_format_double (double value,
                                    char buf[BRIDGE_JSON_DOUBLE_BUF_SIZE]);

G_END_DECLS
