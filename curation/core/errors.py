"""The user-facing error every layer raises for a problem the user can fix (config, input, storage, a held
output): the CLI prints its message as one line, without a traceback unless ``--verbose``."""


class ConfigError(ValueError):
    """A configuration or input problem; the message names the offending key, file or URI."""
