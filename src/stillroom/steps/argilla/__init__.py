"""Steps that send rows to an Argilla 2.x server for human review (mirrors
`distilabel.steps.argilla`)."""
