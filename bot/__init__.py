"""The membership bot process: one poller per project bot."""
