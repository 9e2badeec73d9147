/* bridge-main.c — scriptling-plugin-bridge: serve a plugin .so to Scriptling.
 *
 * Copyright the scriptling-gossip authors.
 * SPDX-License-Identifier: MIT
 *
 * Usage:
 *   scriptling-plugin-bridge PATH/TO/PLUGIN.so
 *   scriptling-plugin-bridge NAME          (looks up NAME.so)
 *   NAME                                   (a link to the bridge named after
 *                                           the plugin, as Scriptling starts
 *                                           it: without arguments)
 */

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <glib.h>

#include "bridge-server.h"

/* The protocol owns stdin and stdout.  They are moved to private
 * descriptors before any plugin code is loaded, stdin is replaced by
 * /dev/null and stdout by stderr: whatever a plugin or a library prints
 * lands on stderr instead of corrupting the message stream. */
static gboolean
take_protocol_fds (int *in_fd,
                   int *out_fd,
                   GError **error)
{
  int devnull;

  *in_fd = fcntl (STDIN_FILENO, F_DUPFD_CLOEXEC, 3);
  *out_fd = fcntl (STDOUT_FILENO, F_DUPFD_CLOEXEC, 3);
  if (*in_fd < 0 || *out_fd < 0)
    {
      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (errno),
                   "cannot take over stdin/stdout: %s", g_strerror (errno));
      return FALSE;
    }

  fflush (stdout);
  devnull = open ("/dev/null", O_RDWR | O_CLOEXEC);
  if (devnull >= 0)
    {
      (void) dup2 (devnull, STDIN_FILENO);
      if (dup2 (STDERR_FILENO, STDOUT_FILENO) < 0)
        (void) dup2 (devnull, STDOUT_FILENO);
      close (devnull);
    }
  /* Line buffering keeps stray plugin output in step with our stderr. */
  setvbuf (stdout, NULL, _IOLBF, 0);
  return TRUE;
}

int
main (int argc,
      char **argv)
{
  gboolean show_version = FALSE;
  gboolean describe = FALSE;
  const GOptionEntry entries[] = {
    { "describe", 0, 0, G_OPTION_ARG_NONE, &describe,
      "Load the plugin, print its handshake (module schema) as JSON and exit", NULL },
    { "version", 0, 0, G_OPTION_ARG_NONE, &show_version, "Print the version and exit", NULL },
    G_OPTION_ENTRY_NULL
  };
  g_autoptr(GOptionContext) context = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(BridgeServer) server = NULL;
  g_autofree char *path = NULL;
  const char *argv0 = argc > 0 ? argv[0] : "scriptling-plugin-bridge";
  int in_fd, out_fd;
  int status;

  context = g_option_context_new ("[PLUGIN.so | NAME]");
  g_option_context_set_summary (context,
    "Serve a Scriptling plugin shared object to the Scriptling interpreter\n"
    "over newline-delimited JSON-RPC 2.0 on stdin/stdout.");
  g_option_context_set_description (context,
    "A NAME is looked up as NAME.so in $SCRIPTLING_PLUGIN_MODULE_PATH (colon-separated)\n"
    "and then in " BRIDGE_PLUGIN_MODULE_DIR ".  Started without arguments through a\n"
    "link or launcher named NAME, the bridge serves NAME.so (Scriptling starts the\n"
    "executables in its plugin directory without arguments).\n"
    "SCRIPTLING_BRIDGE_DEBUG=1 traces all messages on stderr.");
  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      g_printerr ("scriptling-plugin-bridge: %s\n", error->message);
      return 2;
    }
  if (show_version)
    {
      g_print ("scriptling-plugin-bridge %s (plugin ABI %u)\n", PACKAGE_VERSION,
               SCRIPTLING_PLUGIN_ABI_VERSION);
      return 0;
    }
  if (argc > 2)
    g_printerr ("scriptling-plugin-bridge: ignoring extra arguments after %s\n", argv[1]);

  /* Nobody may be listening any more when we write; report EPIPE instead
   * of dying from the signal. */
  signal (SIGPIPE, SIG_IGN);

  if (!take_protocol_fds (&in_fd, &out_fd, &error))
    {
      g_printerr ("scriptling-plugin-bridge: %s\n", error->message);
      return 1;
    }

  server = bridge_server_new (in_fd, out_fd);
  path = bridge_resolve_plugin_path (argv0, argc > 1 ? argv[1] : NULL, &error);
  if (path == NULL || !bridge_server_load_plugin (server, path, &error))
    {
      /* Keep speaking the protocol: Scriptling then shows this reason in
       * its "plugin failed to load" warning. */
      g_printerr ("scriptling-plugin-bridge: %s\n", error->message);
      bridge_server_set_load_error (server, error->message);
    }

  if (describe)
    {
      g_autofree char *text = bridge_server_describe (server);

      if (text == NULL)
        return 1;
      if (write (out_fd, text, strlen (text)) < 0 || write (out_fd, "\n", 1) < 0)
        return 1;
      return 0;
    }

  status = bridge_server_run (server);
  g_clear_pointer (&server, bridge_server_free);
  close (in_fd);
  close (out_fd);
  return status;
}
