"""Runnable jobs: the ``curate`` command and one module per job."""
