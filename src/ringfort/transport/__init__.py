"""The only socket code: SIP over UDP and TCP, and the RTP port pool and sockets."""
