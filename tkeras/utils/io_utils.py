"""User messages: stdout while interactive logging is on, else the `logging` module (Keras)."""

import logging
import sys

from tkeras.core import config

logger = logging.getLogger("tkeras")


def print_msg(message, line_break=True):
    message = str(message)
    if config.is_interactive_logging_enabled():
        sys.stdout.write(f"{message}\n" if line_break else message)
        sys.stdout.flush()
    else:
        logger.info(message)
