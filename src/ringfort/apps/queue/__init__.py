"""Inbound call queues: callers wait, agents are rung by a strategy (being built)."""
