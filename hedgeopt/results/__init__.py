"""What a study says at its end: the assessment (how sure), the export of the best config, the
console summary, and the framework's figures."""
