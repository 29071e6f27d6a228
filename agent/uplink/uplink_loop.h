/*
 * mynaguard-uplink's life: frames from the agent on the socket, one request at a time, in
 * order, each answered by exactly one ANSWER frame with the request's id (uplink_proto.h).
 */
#ifndef MG_UPLINK_LOOP_H
#define MG_UPLINK_LOOP_H

/*
 * Serves the agent on sock (a stream socket) with the uplink's directory dirfd until the agent
 * closes its end. The process exit status: 0 at EOF (or when the agent is gone while an answer
 * is written), 1 when the agent broke the protocol (a frame that does not decode, an ANSWER
 * frame) or the socket failed; the reason is logged. curl_global_init() must have run.
 */
int mg_uplink_loop(int sock, int dirfd);

#endif
