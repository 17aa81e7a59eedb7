"""Security: station passwords (profile 1/2), certificates and TLS (profiles 2/3)."""
