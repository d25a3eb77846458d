"""Several nodes: membership, leases, failover."""
