"""Identity: Keystone v3 tokens as JWTs, projects, users, roles; offline verifying middleware."""
