"""The local side: every static file as it will be stored (walk, headers, gzip, hashes)."""
