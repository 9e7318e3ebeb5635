"""Partner banks: their registry, the signed partner API, ISO 20022 messages and payments between banks."""
