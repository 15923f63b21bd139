#!/usr/bin/env python
"""Django's command-line utility for Provenant."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")
    from django.core.management import execute_from_command_line

    from webapp.startup import restore_recursion_limit

    restore_recursion_limit()
    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
