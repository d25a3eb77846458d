"""The only socket code: SIP over UDP and TCP, and later the RTP port pool."""
