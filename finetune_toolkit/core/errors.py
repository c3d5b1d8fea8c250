"""The one exception type for problems a user can cause and fix."""


class UserError(Exception):
    """Bad input: a missing file, an unknown column, a model that cannot be found, ...

    The message is a single sentence that names the problem and the fix. Scripts print it as one
    line on stderr and exit with status 2 (see `finetune_toolkit.core.command_line.run_script`).
    """


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during work that can be resumed; the message says where from and how."""
