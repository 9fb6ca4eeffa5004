"""The one exception type users catch."""


class FiltersError(ValueError):
    """Bad input to tb_filters: the message says what was received and what is valid.

    The CLI prints the message on one line and exits with status 2.
    """
