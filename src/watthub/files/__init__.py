"""WattHub's own file hosting for the Firmware Management profile: firmware images served to
stations, diagnostics files received from them (HTTP and FTP)."""
