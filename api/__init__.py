"""The HTTP gateway: validates, stores inputs, admits and enqueues tasks, serves records."""
