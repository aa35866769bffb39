"""The only code in berth that calls libc through ctypes."""
