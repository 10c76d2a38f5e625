"""What the phases agree on about the clip table, and nothing else: its columns and what they mean
(:mod:`~curation.contract.schema`: the scan's columns, the row kinds, the units, and the naming and tagging of a
model stage's columns), what its rows say about footage that never became a clip
(:mod:`~curation.contract.footage`), and how an annotate output is read (:mod:`~curation.contract.output`; the
names on disk are :mod:`curation.core.layout`'s). ``annotate`` writes the table by it; ``curate`` and ``train``
read the table by it and never import ``annotate``. A model stage declares its own columns
(:mod:`curation.annotate.enrich`); they are tagged with the stage in the table's Arrow schema, so a reader learns
them from the table itself."""
