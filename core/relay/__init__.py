"""Relay: one conversation per order, relayed messages, message-pair links, leak masking."""
