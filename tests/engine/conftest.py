"""Every test here runs on both store backends (tests/backends.py)."""

from tests.backends import db_path as db_path
from tests.backends import team_store_env as team_store_env
