/* bridge-loader.c — finding, opening and initialising a plugin.
 *
 * Copyright the scriptling-gossip authors.
 * SPDX-License-Identifier: MIT
 */

#include "config.h"

#include <string.h>

#include "bridge-json.h"
#include "bridge-server-private.h"

G_DEFINE_QUARK (bridge-error-quark, bridge_error)

/* ---- loading ---------------------------------------------------------------- */

/**
 * bridge_server_set_load_error:
 * @server: the server
 * @message: why the plugin could not be loaded
 *
 * Puts the server in "failed" mode: it still speaks the protocol, but
 * answers the handshake and every call with @message, so that Scriptling's
 * "plugin failed to load" warning carries the reason.
 */
void
bridge_server_set_load_error (BridgeServer *server,
                              const char *message)
{
  g_free (server->load_error);
  server->load_error = g_strdup (message);
}

/**
 * bridge_server_load_plugin:
 * @server: the server
 * @path: the plugin's shared object
 * @error: return location for a #BridgeError
 *
 * Opens @path, checks its descriptor and ABI version, and runs its init
 * function on the calling (script) thread.
 *
 * Returns: %TRUE if the plugin is ready to be served
 */
gboolean
bridge_server_load_plugin (BridgeServer *server,
                           const char *path,
                           GError **error)
{
  const ScriptlingPluginDescriptor *descriptor;
  gpointer symbol = NULL;
  GError *local_error = NULL;
  gboolean ok;

  g_return_val_if_fail (server->module == NULL, FALSE);

  server->module = g_module_open (path, G_MODULE_BIND_LOCAL);
  if (server->module == NULL)
    {
      g_set_error (error, BRIDGE_ERROR, BRIDGE_ERROR_LOAD,
                   "cannot load plugin %s: %s", path, g_module_error ());
      return FALSE;
    }
  if (!g_module_symbol (server->module, SCRIPTLING_PLUGIN_DESCRIPTOR_SYMBOL, &symbol) || symbol == NULL)
    {
      g_set_error (error, BRIDGE_ERROR, BRIDGE_ERROR_NOT_A_PLUGIN,
                   "%s is not a Scriptling plugin: it does not export the symbol %s "
                   "(define it with SCRIPTLING_PLUGIN_DEFINE)",
                   path, SCRIPTLING_PLUGIN_DESCRIPTOR_SYMBOL);
      return FALSE;
    }

  descriptor = symbol;
  /* abi_version is the first member in every ABI version, so reading it
   * is safe before anything else is known about the layout. */
  if (descriptor->abi_version != SCRIPTLING_PLUGIN_ABI_VERSION)
    {
      g_set_error (error, BRIDGE_ERROR, BRIDGE_ERROR_ABI_MISMATCH,
                   "plugin %s was built for Scriptling plugin ABI version %u, but "
                   "scriptling-plugin-bridge %s supports only ABI version %u; rebuild the "
                   "plugin against a matching scriptling-plugin.h or install a matching bridge",
                   path, descriptor->abi_version, PACKAGE_VERSION, SCRIPTLING_PLUGIN_ABI_VERSION);
      return FALSE;
    }
  if (descriptor->struct_size < G_STRUCT_OFFSET (ScriptlingPluginDescriptor, init) + sizeof (descriptor->init) ||
      descriptor->init == NULL || descriptor->name == NULL || descriptor->name[0] == '\0')
    {
      g_set_error (error, BRIDGE_ERROR, BRIDGE_ERROR_NOT_A_PLUGIN,
                   "plugin %s has an invalid descriptor (it needs a name and an init function)", path);
      return FALSE;
    }

  /* Plugins may leave threads behind; unmapping their code is never safe. */
  g_module_make_resident (server->module);

  server->registry = bridge_registry_new (descriptor->name, descriptor->version, descriptor->description);
  bridge_registry_set_open (server->registry, TRUE);
  ok = descriptor->init (&server->api, server);
  bridge_registry_set_open (server->registry, FALSE);

  if (!ok)
    {
      g_set_error (error, BRIDGE_ERROR, BRIDGE_ERROR_INIT,
                   "plugin '%s' (%s) failed to initialise", descriptor->name, path);
      return FALSE;
    }
  if (bridge_registry_get_module (server->registry) == NULL)
    {
      g_set_error (error, BRIDGE_ERROR, BRIDGE_ERROR_INIT,
                   "plugin '%s' (%s) registered no module", descriptor->name, path);
      return FALSE;
    }

  server->handshake = bridge_registry_build_handshake (server->registry, &local_error);
  if (server->handshake == NULL)
    {
      g_set_error (error, BRIDGE_ERROR, BRIDGE_ERROR_INIT,
                   "plugin '%s' (%s): cannot describe its module: %s",
                   descriptor->name, path, local_error->message);
      g_error_free (local_error);
      return FALSE;
    }
  return TRUE;
}

/**
 * bridge_server_describe:
 * @server: a loaded server
 *
 * Returns: (transfer full) (nullable): the handshake result as one line of
 *   JSON, or %NULL if no plugin is loaded
 */
char *
bridge_server_describe (BridgeServer *server)
{
  if (server->handshake == NULL)
    return NULL;
  return bridge_json_to_string (server->handshake, NULL);
}

/* ---- finding the plugin ------------------------------------------------- */

/**
 * bridge_resolve_plugin_path:
 * @argv0: the program name as invoked
 * @argument: (nullable): the first command-line argument
 * @error: return location for a #BridgeError
 *
 * Finds the plugin to serve.  An @argument containing a slash is a path.
 * Otherwise the plugin has a *name*: @argument, or, when the bridge was
 * started through a symlink or copy with another name (Scriptling starts
 * plugins without arguments), the base name of @argv0.  `NAME.so` is then
 * looked up in each directory of `$SCRIPTLING_PLUGIN_MODULE_PATH`
 * (colon-separated) and finally in the compiled-in module directory.
 *
 * Returns: (transfer full): the path, or %NULL with @error set
 */
char *
bridge_resolve_plugin_path (const char *argv0,
                            const char *argument,
                            GError **error)
{
  g_autofree char *name = NULL;
  g_autofree char *file = NULL;
  g_autoptr(GPtrArray) dirs = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GString) searched = g_string_new (NULL);
  const char *env;

  if (argument != NULL && strchr (argument, '/') != NULL)
    return g_strdup (argument);

  if (argument != NULL)
    name = g_strdup (argument);
  else
    {
      g_autofree char *base = g_path_get_basename (argv0 != NULL ? argv0 : "");

      if (g_str_equal (base, "scriptling-plugin-bridge") || g_str_has_prefix (base, "lt-") ||
          base[0] == '\0' || g_str_equal (base, "."))
        {
          g_set_error_literal (error, BRIDGE_ERROR, BRIDGE_ERROR_NOT_FOUND,
                               "no plugin given: pass the plugin's .so path or name, or start the "
                               "bridge through a link named after the plugin");
          return NULL;
        }
      name = g_steal_pointer (&base);
    }

  file = g_str_has_suffix (name, ".so") ? g_strdup (name) : g_strconcat (name, ".so", NULL);

  env = g_getenv ("SCRIPTLING_PLUGIN_MODULE_PATH");
  if (env != NULL)
    {
      g_auto(GStrv) parts = g_strsplit (env, G_SEARCHPATH_SEPARATOR_S, -1);
      for (guint i = 0; parts[i] != NULL; i++)
        if (parts[i][0] != '\0')
          g_ptr_array_add (dirs, g_strdup (parts[i]));
    }
  g_ptr_array_add (dirs, g_strdup (BRIDGE_PLUGIN_MODULE_DIR));

  for (guint i = 0; i < dirs->len; i++)
    {
      g_autofree char *candidate = g_build_filename (g_ptr_array_index (dirs, i), file, NULL);

      if (g_file_test (candidate, G_FILE_TEST_IS_REGULAR))
        return g_steal_pointer (&candidate);
      g_string_append_printf (searched, "%s%s", i > 0 ? ", " : "", (char *) g_ptr_array_index (dirs, i));
    }

  g_set_error (error, BRIDGE_ERROR, BRIDGE_ERROR_NOT_FOUND,
               "plugin '%s' not found: no %s in %s (set SCRIPTLING_PLUGIN_MODULE_PATH to add directories)",
               name, file, searched->str);
  return NULL;
}
