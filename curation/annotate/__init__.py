"""Annotate: videos in, the clip table out (scan, model stages, commits), on Ray."""
