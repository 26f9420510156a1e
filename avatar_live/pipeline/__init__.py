"""Threaded stages and the channels between them."""
