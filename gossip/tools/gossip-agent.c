/* gossip-agent.c — command line agent for libgossip, in the manner of
 * `serf`: `gossip-agent agent` runs one cluster node and prints membership
 * events; the other subcommands talk to a running agent over its control
 * socket (see gossip-agent-control.c for the protocol and gossip-agent(1)
 * for the user documentation).
 *
 * SPDX-License-Identifier: MIT
 */
#include "config.h"

#include <locale.h>
#include <stdio.h>
#include <string.h>

#include "gossip-agent-private.h"

typedef struct {
  const char *name;
  const char *summary;
  int (*run) (int argc, char **argv);
} Command;

static const Command commands[] = {
  { "agent",       N_("Run a cluster node (the default when the first argument is an option)"),
    agent_command_agent },
  { "members",     N_("List the members known to a running agent"), agent_command_members },
  { "monitor",     N_("Stream the events of a running agent"), agent_command_monitor },
  { "send",        N_("Send a user message through a running agent"), agent_command_send },
  { "request",     N_("Send a request through a running agent and print the reply"),
    agent_command_request },
  { "leave",       N_("Make a running agent leave the cluster gracefully and exit"),
    agent_command_leave },
  { "set-meta",    N_("Set a metadata key of a running agent's node"), agent_command_set_meta },
  { "delete-meta", N_("Delete a metadata key of a running agent's node"),
    agent_command_delete_meta },
  { "leader",      N_("Show the leader elected by a running agent's election"),
    agent_command_leader },
  { "stats",       N_("Show a running agent's counters (refused frames, bounds reached)"),
    agent_command_stats },
  { "forget",      N_("Remove a member gone for good from a running agent's election"),
    agent_command_forget },
};

static void
print_help (FILE *out)
{
  gsize width = 0;

  fprintf (out, "%s\n  gossip-agent %s\n  gossip-agent [%s]\n\n%s\n\n%s\n",
           _("Usage:"), _("COMMAND [OPTION…] [ARGUMENT…]"), _("AGENT OPTION…"),
           _("Runs and controls a node of a gossip cluster (libgossip)."),
           _("Commands:"));
  for (gsize i = 0; i < G_N_ELEMENTS (commands); i++)
    width = MAX (width, strlen (commands[i].name));
  for (gsize i = 0; i < G_N_ELEMENTS (commands); i++)
    fprintf (out, "  %-*s  %s\n", (int) width, commands[i].name, _(commands[i].summary));
  fprintf (out, "  %-*s  %s\n", (int) width, "help", _("Show the help of a command"));
  fprintf (out, "\n%s\n  -h, --help       %s\n  -V, --version    %s\n\n%s\n",
           _("Options:"), _("Show this help and exit"), _("Show the version and exit"),
           _("Run 'gossip-agent COMMAND --help' for the options of a command; see gossip-agent(1)."));
}

static const Command *
find_command (const char *name)
{
  for (gsize i = 0; i < G_N_ELEMENTS (commands); i++)
    if (strcmp (commands[i].name, name) == 0)
      return &commands[i];
  return NULL;
}

static int
run_command (const Command *command,
             int            argc,
             char         **argv)
{
  g_autofree char *prgname = g_strdup_printf ("gossip-agent %s", command->name);

  /* GOptionContext shows the program name in its usage line. */
  g_set_prgname (prgname);
  return command->run (argc, argv);
}

int
main (int argc, char **argv)
{
  const Command *command;
  const char *first;

  setlocale (LC_ALL, "");
  bindtextdomain (GETTEXT_PACKAGE, LOCALEDIR);
  bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");
  textdomain (GETTEXT_PACKAGE);

  if (argc < 2)
    {
      g_printerr ("%s\n", _("gossip-agent: no command given (see 'gossip-agent --help')"));
      return AGENT_EXIT_USAGE;
    }

  first = argv[1];
  if (strcmp (first, "--help") == 0 || strcmp (first, "-h") == 0 || strcmp (first, "-?") == 0)
    {
      print_help (stdout);
      return AGENT_EXIT_OK;
    }
  if (strcmp (first, "--version") == 0 || strcmp (first, "-V") == 0)
    {
      agent_print_version ();
      return AGENT_EXIT_OK;
    }
  if (strcmp (first, "help") == 0)
    {
      char *help_argv[3];

      if (argc < 3)
        {
          print_help (stdout);
          return AGENT_EXIT_OK;
        }
      command = find_command (argv[2]);
      if (command == NULL)
        return agent_usage_error (NULL, _("unknown command \"%s\""), argv[2]);
      help_argv[0] = argv[2];
      help_argv[1] = (char *) "--help";
      help_argv[2] = NULL;
      return run_command (command, 2, help_argv);
    }

  /* Like `serf agent`, options alone run the agent. */
  if (first[0] == '-')
    {
      argv[0] = (char *) "agent";
      return run_command (find_command ("agent"), argc, argv);
    }

  command = find_command (first);
  if (command == NULL)
    return agent_usage_error (NULL, _("unknown command \"%s\""), first);
  return run_command (command, argc - 1, argv + 1);
}
