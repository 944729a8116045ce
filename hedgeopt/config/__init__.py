"""A study's config: composing it with Hydra, overlay files, validation into ``StudySettings``,
the search space, samplers and pruners, did-you-mean for refused overrides, and the
preflight checks made before anything is written."""
