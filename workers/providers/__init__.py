"""Engines that call hosted providers (OpenAI, Replicate) from the cpu queue."""
