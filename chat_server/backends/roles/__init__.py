"""The store by role: one small protocol per kind of state, each implemented once per
backend (`backends/embedded/<role>.py`, `backends/redis/<role>.py`) and checked by the same
contract tests (`tests/contract/`). A new kind of state is a new role here, not more
methods on an existing one."""
