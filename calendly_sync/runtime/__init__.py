"""Where and when work runs: the drain, the embedded worker thread, and the locks that keep one drainer."""
