"""Cloud Functions source root: every entry point, so one source package serves all functions."""

import os

from functions import warm_up
from functions.api import api
from functions.completion import completion
from functions.dispatcher import dispatcher
from functions.git_fetcher import git_fetcher
from functions.ingest import ingest

__all__ = ["api", "completion", "dispatcher", "git_fetcher", "ingest"]

warm_up.start(os.environ.get("FUNCTION_TARGET"))
