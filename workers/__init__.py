"""Celery workers: task entry points and the engines behind them (no fastapi here)."""
