"""The ringfort command."""
