/* gossip-buffer.c — placeholder, being written. */
#include "config.h"
