"""The launcher's room: starts Redis (plain or behind Sentinel) and the platform's processes."""
