"""sans-IO SIP: grammar, URIs, headers, messages, TCP framing, digest auth, transactions."""
