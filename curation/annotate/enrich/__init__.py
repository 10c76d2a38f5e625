"""The model stages that enrich each clip (caption, OCR, aesthetic on CLIP): one file per stage, declared in
:mod:`curation.annotate.enrich.registry`."""
