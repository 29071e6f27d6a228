/*
 * The service manager notification protocol (sd_notify(3)): one datagram with "READY=1",
 * "RELOADING=1", "STOPPING=1" to the socket named by $NOTIFY_SOCKET. Implemented here rather
 * than linking libsystemd, which with its dependencies costs the daemon about 1 MiB of RSS
 * for one datagram (docs/PERFORMANCE.md).
 */
#ifndef MG_NOTIFY_H
#define MG_NOTIFY_H

/* Sends state; 1 when sent, 0 when there is no $NOTIFY_SOCKET, or a negative errno. */
int mg_notify(const char *state);

#endif
