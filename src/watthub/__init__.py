"""WattHub: an OCPP 1.6J Charging Station Management System."""

__version__ = "0.1.0"
