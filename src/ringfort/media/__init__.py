"""Media sessions on transport and rtp, behind the MediaEngine interface."""
