"""Run the Django example: python -m examples.django_app [runserver 127.0.0.1:8003]."""

import os
import sys

import django
from django.core.management import execute_from_command_line

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "examples.django_app.settings")
django.setup()

from examples.django_app.demo import setup  # noqa: E402

setup()
execute_from_command_line([sys.argv[0], *(sys.argv[1:] or ["runserver", "127.0.0.1:8003", "--noreload"])])
