/* gossip-socket-transport.c — placeholder, being written. */
#include "config.h"
