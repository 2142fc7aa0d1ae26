"""The ``newswatch`` commands, one module per group. Each module's ``register(sub)`` adds
its sub-commands to the parser; a command is a function ``(args) -> exit code``."""
