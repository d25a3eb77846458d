"""sans-IO media: RTP packets, G.711, DTMF, tones."""
