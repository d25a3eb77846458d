"""The HTTP interface: FastAPI app factory, routes and schemas."""
