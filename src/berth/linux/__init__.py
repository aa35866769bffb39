"""The only code in berth that calls libc, through ctypes's C half (see libc.py)."""
