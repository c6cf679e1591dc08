"""Field encryption (AES-256-GCM) and the keys it uses: README "Encryption at rest"."""
