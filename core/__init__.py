"""The shared kernel: contracts, settings, records, blobs and queues used by api and workers."""
