"""sans-IO media: RTP packets, G.711, DTMF, tones."""

from ringfort.rtp.packet import RtpHeaderExtension, RtpPacket

__all__ = ["RtpHeaderExtension", "RtpPacket"]
