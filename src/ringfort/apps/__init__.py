"""Applications that own call legs: IVR, queues, voicemail, dialler, surveys, fax."""
