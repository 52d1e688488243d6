"""The signal functions and numbers, without the `signal` module's enums.

`import signal` imports enum, functools and collections: about 3.5 ms at
every interpreter start, paid twice per container (the boot and stage 3) and
by every `ignity status` probe. Its C half, `_signal`, has every function we
use, with plain ints for numbers and handlers; mypy checks against `signal`.
"""

TYPE_CHECKING = False
if TYPE_CHECKING:
    from signal import *  # noqa: F403
else:
    from _signal import *  # noqa: F403
