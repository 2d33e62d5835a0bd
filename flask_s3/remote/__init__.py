"""The remote side: what the bucket holds, and its settings (policy, CORS, encryption, CDN)."""
