# scriptling/net/gossip.py: lets "import scriptling.net.gossip" reach the
# gossip plugin in Scriptling v0.20.x.
#
# SPDX-License-Identifier: MIT
#
# The Scriptling CLI has a built-in Go library of the same name, registered
# before any plugin, and v0.20.x registers every plugin under "plugin." +
# its name: the plugin (library name "scriptling.net.gossip") is
# "plugin.scriptling.net.gossip" there.  A file on --libpath is read only for
# a name no registered library has, so run
#
#   scriptling --plugin-dir DIR --disable-lib scriptling.net.gossip \
#              --libpath DIR_OF_THIS_TREE script.py
#
# v0.23 and later keep dotted plugin names as they are: with the built-in
# library disabled the plugin itself is "scriptling.net.gossip" and this
# file is never read (README.md, "The Scriptling plugin").
#
# A script library exports the names it defines, not the ones it imports, so
# each public name of the module is bound here.
import plugin.scriptling.net.gossip as _plugin

MSG_USER = _plugin.MSG_USER
create = _plugin.create
run_events = _plugin.run_events
Cluster = _plugin.Cluster
NodeGroup = _plugin.NodeGroup
LeaderElection = _plugin.LeaderElection
