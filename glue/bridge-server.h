/* bridge-server.h — serves one plugin to Scriptling over stdio JSON-RPC.
 *
 * Copyright the scriptling-gossip authors.
 * SPDX-License-Identifier: MIT
 */

#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

#include "scriptling-plugin.h"

G_BEGIN_DECLS

/**
 * BRIDGE_ERROR:
 *
 * Error domain for #BridgeError.
 */
#define BRIDGE_ERROR (bridge_error_quark ())
GQuark bridge_error_quark (void);

/**
 * BridgeError:
 * @BRIDGE_ERROR_NOT_FOUND: the plugin file could not be found
 * @BRIDGE_ERROR_LOAD: the file could not be opened as a shared object
 * @BRIDGE_ERROR_NOT_A_PLUGIN: the object exports no valid descriptor
 * @BRIDGE_ERROR_ABI_MISMATCH: the plugin was built for another ABI version
 * @BRIDGE_ERROR_INIT: the plugin's init function failed or registered
 *   nothing usable
 *
 * Why a plugin could not be loaded.
 */
typedef enum {
  BRIDGE_ERROR_NOT_FOUND,
  BRIDGE_ERROR_LOAD,
  BRIDGE_ERROR_NOT_A_PLUGIN,
  BRIDGE_ERROR_ABI_MISMATCH,
  BRIDGE_ERROR_INIT,
} BridgeError;

/**
 * BridgeServer:
 *
 * The host instance; the plugin sees it as an opaque #ScriptlingHost.
 */
typedef struct ScriptlingHost BridgeServer;

BridgeServer *bridge_server_new (int in_fd,
                                 int out_fd);
gboolean bridge_server_load_plugin (BridgeServer *server,
                                    const char *path,
                                    GError **error);
void bridge_server_set_load_error (BridgeServer *server,
                                   const char *message);
char *bridge_server_describe (BridgeServer *server);
int bridge_server_run (BridgeServer *server);
void bridge_server_free (BridgeServer *server);

char *bridge_resolve_plugin_path (const char *argv0,
                                  const char *argument,
                                  GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (BridgeServer, bridge_server_free)

G_END_DECLS
