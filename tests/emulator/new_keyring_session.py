"""Run a command in a fresh kernel session keyring (like `keyctl session - CMD`).

A sandboxed shell may inherit a session keyring it cannot write to; a login session gets
its own from pam_keyinit. This gives the test the same footing as a login session.
"""

import ctypes
import os
import sys

KEYCTL_JOIN_SESSION_KEYRING = 1
SYS_KEYCTL = 250  # x86_64

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
if libc.syscall(SYS_KEYCTL, KEYCTL_JOIN_SESSION_KEYRING, None) < 0:
    sys.exit(f"keyctl(JOIN_SESSION_KEYRING) failed: errno {ctypes.get_errno()}")
os.execvp(sys.argv[1], sys.argv[1:])
