# Fixtures and hooks live in wacfixtures.py so a nested pytest run (the
# harness self-test) can load them as a plugin too.
from wacfixtures import *  # noqa: F401,F403
