"""The broker: one process per rank that routes messages between clients, services and modules."""
