"""The call core: registrar and location service, and later calls, routing and features."""
