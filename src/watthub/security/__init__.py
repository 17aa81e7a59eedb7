"""Security building blocks for OCPP 1.6 (Security Whitepaper edition 3).

Pure functions and small value types only: no database, no network servers. The CSMS wires
these into its WebSocket endpoint, its OCPP handlers and its admin API.

Modules:
    keys              key generation, PEM (de)serialisation, key-size policy
    pki               built-in CA, server/station certificates, CertificateHashData, CA directory
    tls               ssl.SSLContext builders for security profiles 2 and 3, client-cert checks
    passwords         AuthorizationKey generation, salted password hashes, Basic auth parsing
    firmware_signing  firmware-signing certificate, SignedUpdateFirmware signatures
"""
